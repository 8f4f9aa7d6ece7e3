/*
 * hours.c - allowed hours, daily token quotas and the usage stores.
 *
 * Divisions: the clock; time windows; the access check and charging; the
 * in-memory usage store; the file-backed usage store.
 *
 * All times are local (localtime_r of the injected clock), because a
 * parent writes "15:00-18:00" meaning the family's wall clock.  A quota
 * day is the local calendar date.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy_impl.h"

static time_t
system_now(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

const struct policy_clock policy_clock_system = { system_now, NULL };

/* ---------------------------------------------------------- time windows */

bool
policy_hours_allow(const struct policy_profile *pr, time_t t)
{
	struct tm tm;
	unsigned now, yday_bit, today_bit;
	size_t i;
	const struct policy_hours *h;

	if (pr->n_hours == 0)
		return true;
	if (localtime_r(&t, &tm) == NULL)
		return false;		/* fail closed */
	now = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
	today_bit = 1u << tm.tm_wday;
	yday_bit = 1u << ((tm.tm_wday + 6) % 7);
	for (i = 0; i < pr->n_hours; i++) {
		h = &pr->hours[i];
		if (h->start_min < h->end_min) {
			if ((h->days & today_bit) && now >= h->start_min &&
			    now < h->end_min)
				return true;
			continue;
		}
		/* Crosses midnight: evening of a listed day, or the
		 * morning after one. */
		if ((h->days & today_bit) && now >= h->start_min)
			return true;
		if ((h->days & yday_bit) && now < h->end_min)
			return true;
	}
	return false;
}

void
policy_day_key(time_t t, char day[11])
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL) {
		snprintf(day, 11, "0000-00-00");
		return;
	}
	snprintf(day, 11, "%04u-%02u-%02u",
	    (unsigned)(tm.tm_year + 1900) % 10000u,
	    (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

/* ------------------------------------------------------ access and quota */

int
policy_access_check(const struct policy_profile *pr,
    const struct policy_clock *clock, const struct policy_usage *u,
    uint64_t *tokens_left, struct policy_verdict *v, struct cl_err *err)
{
	time_t now = clock->now(clock->ctx);
	uint64_t used = 0;
	char day[11];
	int r;

	memset(v, 0, sizeof(*v));
	v->rule = -1;
	*tokens_left = POLICY_UNLIMITED;
	if (!policy_hours_allow(pr, now)) {
		v->kind = POLICY_VERDICT_HOURS;
		v->stopped = true;
		return cl_errf(err, CL_EPOLICY, "profile '%s' may be used "
		    "only %s", pr->name, pr->hours_text != NULL ?
		    pr->hours_text : "at other times");
	}
	if (pr->daily_token_quota == POLICY_UNLIMITED)
		return CL_OK;
	if (u == NULL || u->ops == NULL)
		return cl_errf(err, CL_EINTERNAL, "profile '%s' has a quota "
		    "but no usage store was given", pr->name);
	policy_day_key(now, day);
	if ((r = u->ops->get(u->ctx, pr->name, day, &used, err)) != CL_OK)
		return r;
	if (used >= pr->daily_token_quota) {
		v->kind = POLICY_VERDICT_QUOTA;
		v->stopped = true;
		return cl_errf(err, CL_EPOLICY, "profile '%s' has used its "
		    "%" PRIu64 " tokens for %s", pr->name,
		    pr->daily_token_quota, day);
	}
	*tokens_left = pr->daily_token_quota - used;
	return CL_OK;
}

int
policy_quota_charge(const struct policy_profile *pr,
    const struct policy_clock *clock, const struct policy_usage *u,
    uint64_t tokens, struct cl_err *err)
{
	char day[11];

	if (pr->daily_token_quota == POLICY_UNLIMITED || tokens == 0)
		return CL_OK;
	if (u == NULL || u->ops == NULL)
		return cl_errf(err, CL_EINTERNAL, "profile '%s' has a quota "
		    "but no usage store was given", pr->name);
	policy_day_key(clock->now(clock->ctx), day);
	return u->ops->add(u->ctx, pr->name, day, tokens, err);
}

/* ------------------------------------------------- in-memory usage store */

struct usage_entry {
	char		profile[POLICY_NAME_MAX + 1];
	char		day[11];
	uint64_t	tokens;
};

struct usage_mem {
	struct usage_entry	*e;
	size_t			 n, cap;
	char			*path;	/* file-backed: where it lives */
};

static struct usage_entry *
mem_find(struct usage_mem *m, const char *profile, const char *day)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->e[i].profile, profile) == 0 &&
		    strcmp(m->e[i].day, day) == 0)
			return &m->e[i];
	return NULL;
}

static int
mem_get(void *ctx, const char *profile, const char *day, uint64_t *tokens,
    struct cl_err *err)
{
	struct usage_entry *e = mem_find(ctx, profile, day);

	(void)err;
	*tokens = e != NULL ? e->tokens : 0;
	return CL_OK;
}

static int
mem_add_entry(struct usage_mem *m, const char *profile, const char *day,
    uint64_t tokens, struct cl_err *err)
{
	struct usage_entry *e, *ne;

	if (strlen(profile) > POLICY_NAME_MAX || strlen(day) != 10)
		return cl_errf(err, CL_EINVAL, "bad usage key");
	if ((e = mem_find(m, profile, day)) == NULL) {
		if (m->n == m->cap) {
			ne = cl_realloc(m->e, (m->cap ? m->cap * 2 : 8) *
			    sizeof(*m->e));
			if (ne == NULL)
				return cl_errf(err, CL_ENOMEM, "out of memory");
			m->e = ne;
			m->cap = m->cap ? m->cap * 2 : 8;
		}
		e = &m->e[m->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->profile, sizeof(e->profile), "%s", profile);
		snprintf(e->day, sizeof(e->day), "%s", day);
	}
	if (!cl_add_u64(e->tokens, tokens, &e->tokens))
		e->tokens = UINT64_MAX;
	return CL_OK;
}

static int
mem_add(void *ctx, const char *profile, const char *day, uint64_t tokens,
    struct cl_err *err)
{
	return mem_add_entry(ctx, profile, day, tokens, err);
}

static const struct policy_usage_ops mem_ops = { mem_get, mem_add };

int
policy_usage_mem_new(struct policy_usage *out, struct cl_err *err)
{
	struct usage_mem *m;

	out->ops = NULL;
	out->ctx = NULL;
	if ((m = cl_calloc(1, sizeof(*m))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	out->ops = &mem_ops;
	out->ctx = m;
	return CL_OK;
}

static void
mem_free(struct usage_mem *m)
{
	if (m == NULL)
		return;
	cl_free(m->e);
	cl_free(m->path);
	cl_free(m);
}

void
policy_usage_mem_free(struct policy_usage *u)
{
	if (u == NULL)
		return;
	mem_free(u->ctx);
	u->ctx = NULL;
	u->ops = NULL;
}

/* ------------------------------------------------ file-backed usage store */

static int
file_save(struct usage_mem *m, struct cl_err *err)
{
	struct cl_buf b = CL_BUF_INIT, tmp = CL_BUF_INIT;
	size_t i;
	int fd = -1, r;

	for (i = 0; i < m->n; i++)
		if ((r = cl_buf_printf(&b, "%s %s %" PRIu64 "\n",
		    m->e[i].profile, m->e[i].day, m->e[i].tokens)) != CL_OK)
			goto nomem;
	if ((r = cl_buf_printf(&tmp, "%s.tmp", m->path)) != CL_OK)
		goto nomem;
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		r = cl_errf(err, CL_EIO, "cannot write usage file '%s': %s",
		    tmp.data, strerror(errno));
		goto out;
	}
	if ((r = cl_write_all(fd, b.data != NULL ? b.data : "", b.len,
	    err)) != CL_OK)
		goto out;
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		r = cl_errf(err, CL_EIO, "cannot write usage file '%s': %s",
		    tmp.data, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.data, m->path) == -1) {
		r = cl_errf(err, CL_EIO, "cannot replace usage file '%s': %s",
		    m->path, strerror(errno));
		goto out;
	}
	r = CL_OK;
	goto out;
nomem:
	r = cl_errf(err, CL_ENOMEM, "out of memory");
out:
	if (fd != -1)
		close(fd);
	cl_buf_release(&b);
	cl_buf_release(&tmp);
	return r;
}

static int
file_add(void *ctx, const char *profile, const char *day, uint64_t tokens,
    struct cl_err *err)
{
	struct usage_mem *m = ctx;
	struct usage_entry *e;
	uint64_t before;
	int r;

	e = mem_find(m, profile, day);
	before = e != NULL ? e->tokens : 0;
	if ((r = mem_add_entry(m, profile, day, tokens, err)) != CL_OK)
		return r;
	if ((r = file_save(m, err)) != CL_OK) {
		/* Leave memory as the file is. */
		mem_find(m, profile, day)->tokens = before;
		return r;
	}
	return CL_OK;
}

static const struct policy_usage_ops file_ops = { mem_get, file_add };

int
policy_usage_file_open(const char *path, struct policy_usage *out,
    struct cl_err *err)
{
	struct usage_mem *m = NULL;
	char *text = NULL, *line, *save = NULL;
	char prof[64], day[16];
	unsigned long long tok;
	size_t len = 0;
	unsigned lineno = 0;
	int fd = -1, r, nread;

	out->ops = NULL;
	out->ctx = NULL;
	if ((m = cl_calloc(1, sizeof(*m))) == NULL ||
	    (m->path = cl_strdup(path)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT) {
			r = cl_errf(err, CL_EIO, "cannot open usage file "
			    "'%s': %s", path, strerror(errno));
			goto out;
		}
	} else {
		if ((r = cl_read_all(fd, 1 << 20, &text, &len, err)) != CL_OK)
			goto out;
		for (line = strtok_r(text, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			lineno++;
			nread = 0;
			if (sscanf(line, "%32s %10s %llu%n", prof, day, &tok,
			    &nread) != 3 || line[nread] != '\0' ||
			    strlen(day) != 10) {
				r = cl_errf(err, CL_EFORMAT, "%s:%u: malformed "
				    "usage line", path, lineno);
				goto out;
			}
			if ((r = mem_add_entry(m, prof, day, tok, err)) !=
			    CL_OK)
				goto out;
		}
	}
	out->ops = &file_ops;
	out->ctx = m;
	m = NULL;
	r = CL_OK;
out:
	if (fd != -1)
		close(fd);
	cl_free(text);
	mem_free(m);
	return r;
}

void
policy_usage_file_close(struct policy_usage *u)
{
	policy_usage_mem_free(u);
}
