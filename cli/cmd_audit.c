/*
 * cmd_audit.c - `cloister audit ...`: turn the audit log on and off per
 * profile, read it, verify it, export it, purge it (audit/audit.h).
 *
 * Everything that reads events or changes settings needs the admin
 * passphrase (from the terminal, or from --passphrase-fd like the store
 * commands); `status` and `public-key` do not in shared mode, and
 * `verify-export` needs no store at all: it is what a third party runs
 * with the public key.  Every admin unlock also signs the checkpoints
 * that sessions left pending while the admin was away.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "cli/cmd_audit.h"
#include "cli/cmd_policy.h"
#include "cli/cmd_store.h"
#include "policy/policy.h"
#include "store/store.h"

#define SMALL_FILE_MAX	(64 * 1024)	/* checkpoint and key files */
#define EXPORT_FILE_MAX	((size_t)1 << 30)

static const char usage_text[] =
    "usage: cloister audit enable --level level [--profile name] "
    "[--passphrase-fd fd]\n"
    "       cloister audit disable [--profile name] [--passphrase-fd fd]\n"
    "       cloister audit status [--passphrase-fd fd]\n"
    "       cloister audit list [--kind kind] [--profile name] "
    "[--since date]\n"
    "                           [--passphrase-fd fd]\n"
    "       cloister audit show seq [--passphrase-fd fd]\n"
    "       cloister audit verify [--checkpoint file] [--passphrase-fd fd]\n"
    "       cloister audit checkpoint [--export file] [--passphrase-fd fd]\n"
    "       cloister audit export --format jsonl [--since date] "
    "[--passphrase-fd fd]\n"
    "       cloister audit public-key [--passphrase-fd fd]\n"
    "       cloister audit verify-export file --public-key file\n"
    "       cloister audit purge --before date [--passphrase-fd fd]\n"
    "       cloister audit retention days [--passphrase-fd fd]\n";

/* The options any audit subcommand may take; NULL/-1 when absent. */
struct opts {
	int		 fd;		/* --passphrase-fd */
	const char	*level;		/* --level */
	const char	*profile;	/* --profile */
	const char	*kind;		/* --kind */
	const char	*since;		/* --since */
	const char	*before;	/* --before */
	const char	*checkpoint;	/* --checkpoint */
	const char	*export_to;	/* --export */
	const char	*format;	/* --format */
	const char	*public_key;	/* --public-key */
	const char	*arg;		/* the one positional argument */
};

static int
usage(void)
{
	fputs(usage_text, stderr);
	return CLI_EXIT_USAGE;
}

static int
exit_for(int code)
{
	switch (code) {
	case CL_OK:
		return CLI_EXIT_OK;
	case CL_EAUTH:
		return CLI_EXIT_AUTH;
	case CL_ECRYPTO:
	case CL_EFORMAT:
		return CLI_EXIT_TAMPER;
	default:
		return CLI_EXIT_FAIL;
	}
}

static int
fail(const char *sub, int code, const struct cl_err *err)
{
	fprintf(stderr, "cloister audit %s: %s\n", sub,
	    err->msg[0] != '\0' ? err->msg : cl_strerror(code));
	return exit_for(code);
}

/* Parse argv[2..]: options with a value, and at most one positional. */
static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} tab[] = {
		{ "--level", offsetof(struct opts, level) },
		{ "--profile", offsetof(struct opts, profile) },
		{ "--kind", offsetof(struct opts, kind) },
		{ "--since", offsetof(struct opts, since) },
		{ "--before", offsetof(struct opts, before) },
		{ "--checkpoint", offsetof(struct opts, checkpoint) },
		{ "--export", offsetof(struct opts, export_to) },
		{ "--format", offsetof(struct opts, format) },
		{ "--public-key", offsetof(struct opts, public_key) },
	};
	size_t t;
	int i;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--passphrase-fd") == 0 && i + 1 < argc) {
			if (cli_parse_fd("audit", argv[++i], &o->fd) != 0)
				return -1;
			continue;
		}
		for (t = 0; t < CL_ARRAY_LEN(tab); t++) {
			if (strcmp(argv[i], tab[t].name) == 0)
				break;
		}
		if (t < CL_ARRAY_LEN(tab)) {
			if (i + 1 >= argc)
				return -1;
			*(const char **)((char *)o + tab[t].off) = argv[++i];
		} else if (argv[i][0] == '-' || o->arg != NULL) {
			return -1;
		} else {
			o->arg = argv[i];
		}
	}
	return 0;
}

/*
 * A date: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z], in UTC, or @SECONDS.
 */
static int
parse_date(const char *s, int64_t *out)
{
	struct tm tm;
	char *end;
	long long v;
	int n = 0;

	if (s[0] == '@') {
		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (errno != 0 || end == s + 1 || *end != '\0')
			return -1;
		*out = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &n) != 3)
		return -1;
	s += n;
	if (*s == 'T' || *s == ' ') {
		n = 0;
		if (sscanf(s + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min,
		    &tm.tm_sec, &n) != 3)
			return -1;
		s += 1 + n;
		if (*s == 'Z')
			s++;
	}
	if (*s != '\0' || tm.tm_year < 1970 || tm.tm_mon < 1 ||
	    tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static void
format_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "@%lld", (long long)t);
}

static void
print_hex(FILE *f, const uint8_t *p, size_t n)
{
	char hex[2 * 64 + 1];

	sodium_bin2hex(hex, sizeof(hex), p, n);
	fputs(hex, f);
}

/* Read a small or large file whole; prints why on failure. */
static int
read_file(const char *sub, const char *path, size_t max, char **out,
    size_t *len)
{
	struct cl_err err = CL_ERR_INIT;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "cloister audit %s: cannot open '%s': %s\n",
		    sub, path, strerror(errno));
		return -1;
	}
	r = cl_read_all(fd, max, out, len, &err);
	close(fd);
	if (r != CL_OK) {
		fprintf(stderr, "cloister audit %s: '%s': %s\n", sub, path,
		    err.msg);
		return -1;
	}
	return 0;
}

/*
 * Open the store.  With `admin`, unlock it with the passphrase (asked
 * once) and sign pending checkpoints; without, a shared store opens
 * without one and a personal store asks for it anyway.
 */
static int
open_store(const char *sub, int fd, bool admin, struct store **out)
{
	struct store_options opt = STORE_OPTIONS_INIT;
	struct cl_err err = CL_ERR_INIT;
	struct cli_pass ps = { NULL, 0 };
	struct store *s = NULL;
	char *dir = NULL;
	uint64_t n_signed;
	int r;

	*out = NULL;
	if ((r = store_dir_default(&dir, &err)) != CL_OK)
		goto fail;
	r = store_open(dir, NULL, 0, &opt, &s, &err);
	if (r == CL_EAUTH) {			/* personal: always needed */
		if (cli_pass_get("audit", fd, "Passphrase: ", &ps) != 0) {
			r = CLI_EXIT_FAIL;
			goto out;
		}
		r = store_open(dir, ps.p, ps.len, &opt, &s, &err);
	} else if (r == CL_OK && admin) {
		if (cli_pass_get("audit", fd, "Admin passphrase: ", &ps) != 0) {
			r = CLI_EXIT_FAIL;
			goto out;
		}
		r = store_unlock(s, ps.p, ps.len, &err);
	}
	if (r != CL_OK)
		goto fail;
	if (admin && store_is_unlocked(s)) {
		if ((r = audit_sign_pending(s, &n_signed, &err)) != CL_OK) {
			/* Not fatal here: verify reports the details. */
			fprintf(stderr, "cloister audit %s: warning: %s\n", sub,
			    err.msg);
		} else if (n_signed > 0) {
			fprintf(stderr, "cloister audit: signed %llu pending "
			    "checkpoint%s\n", (unsigned long long)n_signed,
			    n_signed == 1 ? "" : "s");
		}
	}
	*out = s;
	s = NULL;
	r = CLI_EXIT_OK;
	goto out;
fail:
	r = fail(sub, r, &err);
out:
	store_close(s);
	cli_pass_free(&ps);
	cl_free(dir);
	return r;
}

/*
 * The log records a session only when the policy asks for an audit level
 * for its profile (broker.c, step 5): say so when an enable would record
 * nothing.  Advice only: the level is set either way.
 */
static void
note_policy(const char *sub, const char *profile)
{
	struct cl_err err = CL_ERR_INIT;
	const struct policy_profile *pr;
	struct policy *pol = NULL;
	char *path = NULL;
	size_t i;

	if (cmd_policy_path(&path, &err) != CL_OK)
		return;
	if (access(path, F_OK) != 0) {
		fprintf(stderr, "cloister audit %s: note: there is no policy "
		    "(%s), and sessions are logged only for profiles whose "
		    "policy says 'audit = metadata' or 'audit = full' "
		    "(cloister-policy(5))\n", sub, path);
		goto out;
	}
	if (policy_load(path, &pol, &err) != CL_OK) {
		fprintf(stderr, "cloister audit %s: note: the policy does not "
		    "parse, so nothing runs until it is fixed: %s\n", sub,
		    err.msg);
		goto out;
	}
	for (i = 0; i < policy_n_profiles(pol); i++) {
		pr = policy_profile_at(pol, i);
		if (profile != NULL && strcmp(pr->name, profile) != 0)
			continue;
		if (pr->audit == POLICY_AUDIT_OFF)
			fprintf(stderr, "cloister audit %s: note: the policy "
			    "says 'audit = off' for profile '%s', so its "
			    "sessions are not logged\n", sub, pr->name);
	}
	if (profile != NULL && policy_profile(pol, profile) == NULL)
		fprintf(stderr, "cloister audit %s: note: the policy has no "
		    "profile '%s', which cannot run a session\n", sub,
		    profile);
out:
	policy_free(pol);
	cl_free(path);
}

static int
do_enable(struct opts *o, bool enable)
{
	struct cl_err err = CL_ERR_INIT;
	enum audit_level level = AUDIT_LEVEL_OFF;
	struct store *s = NULL;
	const char *sub = enable ? "enable" : "disable";
	struct audit_status st;
	size_t i;
	int r;

	if (o->arg != NULL || (enable && o->level == NULL) ||
	    (!enable && o->level != NULL))
		return usage();
	if (enable && audit_level_parse(o->level, &level, &err) != CL_OK) {
		fprintf(stderr, "cloister audit %s: %s\n", sub, err.msg);
		return CLI_EXIT_USAGE;
	}
	if (o->profile != NULL && !audit_profile_is_valid(o->profile)) {
		fprintf(stderr, "cloister audit %s: bad profile name\n", sub);
		return CLI_EXIT_USAGE;
	}
	if ((r = open_store(sub, o->fd, true, &s)) != CLI_EXIT_OK)
		return r;
	if ((r = audit_set_level(s, o->profile, level, &err)) != CL_OK) {
		r = fail(sub, r, &err);
		goto out;
	}
	/* `disable` alone turns every profile off, one logged change each. */
	if (!enable && o->profile == NULL) {
		if ((r = audit_status_get(s, &st, &err)) != CL_OK) {
			r = fail(sub, r, &err);
			goto out;
		}
		for (i = 0; i < st.n_profiles && r == CL_OK; i++) {
			if (st.profiles[i].level != AUDIT_LEVEL_OFF)
				r = audit_set_level(s, st.profiles[i].name,
				    AUDIT_LEVEL_OFF, &err);
		}
		audit_status_release(&st);
		if (r != CL_OK) {
			r = fail(sub, r, &err);
			goto out;
		}
	}
	if (o->profile != NULL)
		printf("audit level %s for profile %s\n",
		    audit_level_name(level), o->profile);
	else if (enable)
		printf("audit level %s for profiles without their own\n",
		    audit_level_name(level));
	else
		printf("audit off for every profile\n");
	if (enable)
		note_policy(sub, o->profile);
	r = CLI_EXIT_OK;
out:
	store_close(s);
	return r;
}

static int
do_status(struct opts *o)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_status st;
	struct store *s = NULL;
	size_t i;
	int r;

	if (o->arg != NULL)
		return usage();
	if ((r = open_store("status", o->fd, false, &s)) != CLI_EXIT_OK)
		return r;
	if ((r = audit_status_get(s, &st, &err)) != CL_OK) {
		r = fail("status", r, &err);
		goto out;
	}
	if (!st.configured) {
		printf("audit: off for every profile (never enabled)\n");
	} else {
		printf("default level: %s\n",
		    audit_level_name(st.default_level));
		for (i = 0; i < st.n_profiles; i++)
			printf("profile %s: %s\n", st.profiles[i].name,
			    audit_level_name(st.profiles[i].level));
		if (st.retention_days > 0)
			printf("retention: %u days\n", st.retention_days);
		else
			printf("retention: bodies kept until purged\n");
		printf("events: %llu (%llu bodies purged)\n",
		    (unsigned long long)st.n_events,
		    (unsigned long long)st.n_purged);
		printf("checkpoints: %llu signed, %llu awaiting the admin\n",
		    (unsigned long long)st.n_signed,
		    (unsigned long long)st.n_pending);
	}
	audit_status_release(&st);
	r = CLI_EXIT_OK;
out:
	store_close(s);
	return r;
}

static int
do_list(struct opts *o, bool show)
{
	struct audit_filter f = { 0, 0, NULL, 0 };
	struct cl_err err = CL_ERR_INIT;
	struct audit_iter *it = NULL;
	const struct audit_event *ev;
	struct store *s = NULL;
	const char *sub = show ? "show" : "list";
	char when[32], *end;
	unsigned long long seq;
	int r, n = 0;

	if (show) {
		if (o->arg == NULL || o->since != NULL || o->kind != NULL ||
		    o->profile != NULL)
			return usage();
		errno = 0;
		seq = strtoull(o->arg, &end, 10);
		if (errno != 0 || *end != '\0' || end == o->arg || seq == 0) {
			fprintf(stderr, "cloister audit show: bad event number "
			    "'%s'\n", o->arg);
			return CLI_EXIT_USAGE;
		}
		f.seq = seq;
	} else {
		if (o->arg != NULL)
			return usage();
		if (o->since != NULL && parse_date(o->since, &f.since) != 0) {
			fprintf(stderr, "cloister audit list: bad date '%s'\n",
			    o->since);
			return CLI_EXIT_USAGE;
		}
		if (o->kind != NULL && audit_kind_parse(o->kind, &f.kind,
		    &err) != CL_OK) {
			fprintf(stderr, "cloister audit list: %s\n", err.msg);
			return CLI_EXIT_USAGE;
		}
		f.profile = o->profile;
	}
	if ((r = open_store(sub, o->fd, true, &s)) != CLI_EXIT_OK)
		return r;
	if ((r = audit_iter_new(s, &f, show, &it, &err)) != CL_OK) {
		r = fail(sub, r, &err);
		goto out;
	}
	while ((r = audit_iter_next(it, &ev, &err)) == 1) {
		format_time(ev->time, when, sizeof(when));
		n++;
		if (!show) {
			printf("%6llu  %s  %-13s  %s%s\n",
			    (unsigned long long)ev->seq, when,
			    audit_kind_name(ev->kind), ev->profile,
			    ev->purged ? "  (purged)" : "");
			continue;
		}
		printf("event: %llu\ntime: %s\nkind: %s\nprofile: %s\n",
		    (unsigned long long)ev->seq, when,
		    audit_kind_name(ev->kind), ev->profile);
		printf("body hash: ");
		print_hex(stdout, ev->body_hash, AUDIT_HASH_BYTES);
		printf("\nmac: ");
		print_hex(stdout, ev->mac, AUDIT_HASH_BYTES);
		printf("\nbody: ");
		if (ev->body != NULL)
			fwrite(ev->body, 1, ev->body_len, stdout);
		else
			printf("(purged)");
		printf("\n");
	}
	if (r < 0) {
		r = fail(sub, r, &err);
		goto out;
	}
	if (show && n == 0) {
		fprintf(stderr, "cloister audit show: no event %llu\n",
		    (unsigned long long)f.seq);
		r = CLI_EXIT_FAIL;
		goto out;
	}
	r = CLI_EXIT_OK;
out:
	audit_iter_free(it);
	store_close(s);
	return r;
}

static int
do_verify(struct opts *o)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_verify_report rep;
	struct audit_checkpoint cp;
	struct store *s = NULL;
	char *text = NULL;
	size_t len;
	int r;

	if (o->arg != NULL)
		return usage();
	if (o->checkpoint != NULL) {
		if (read_file("verify", o->checkpoint, SMALL_FILE_MAX, &text,
		    &len) != 0)
			return CLI_EXIT_FAIL;
		if ((r = audit_checkpoint_parse(text, len, &cp, &err)) !=
		    CL_OK) {
			cl_err_prefix(&err, "checkpoint '%s'", o->checkpoint);
			r = fail("verify", r, &err);
			goto out;
		}
	}
	if ((r = open_store("verify", o->fd, true, &s)) != CLI_EXIT_OK)
		goto out;
	if ((r = audit_verify(s, o->checkpoint != NULL ? &cp : NULL, &rep,
	    &err)) != CL_OK) {
		r = fail("verify", r, &err);
		goto out;
	}
	printf("audit log intact: %llu events (%llu bodies purged), "
	    "%llu signed checkpoints, %llu pending\n",
	    (unsigned long long)rep.n_events,
	    (unsigned long long)rep.n_purged,
	    (unsigned long long)rep.n_signed,
	    (unsigned long long)rep.n_pending);
	if (o->checkpoint != NULL)
		printf("consistent with the exported checkpoint of %llu "
		    "events\n", (unsigned long long)cp.count);
	r = CLI_EXIT_OK;
out:
	store_close(s);
	cl_free(text);
	return r;
}

static int
do_checkpoint(struct opts *o)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_checkpoint cp;
	struct cl_buf line = CL_BUF_INIT;
	struct store *s = NULL;
	int fd = -1, r;

	if (o->arg != NULL)
		return usage();
	if ((r = open_store("checkpoint", o->fd, true, &s)) != CLI_EXIT_OK)
		return r;
	if ((r = audit_checkpoint(s, &cp, &err)) != CL_OK) {
		r = fail("checkpoint", r, &err);
		goto out;
	}
	if (o->export_to != NULL) {
		if ((r = audit_checkpoint_format(s, &cp, &line, &err)) !=
		    CL_OK) {
			r = fail("checkpoint", r, &err);
			goto out;
		}
		if ((fd = open(o->export_to, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0644)) == -1) {
			fprintf(stderr, "cloister audit checkpoint: cannot "
			    "create '%s': %s\n", o->export_to, strerror(errno));
			r = CLI_EXIT_FAIL;
			goto out;
		}
		if ((r = cl_write_all(fd, line.data, line.len, &err)) !=
		    CL_OK || fsync(fd) != 0) {
			fprintf(stderr, "cloister audit checkpoint: cannot "
			    "write '%s'\n", o->export_to);
			r = CLI_EXIT_FAIL;
			goto out;
		}
	}
	printf("checkpoint: %llu events, store epoch %llu, head ",
	    (unsigned long long)cp.count, (unsigned long long)cp.epoch);
	print_hex(stdout, cp.head, AUDIT_HASH_BYTES);
	printf("\n");
	r = CLI_EXIT_OK;
out:
	if (fd != -1)
		close(fd);
	cl_buf_release(&line);
	store_close(s);
	return r;
}

static int
do_export(struct opts *o)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s = NULL;
	int64_t since = 0;
	uint64_t n;
	int r;

	if (o->arg != NULL || o->format == NULL)
		return usage();
	if (strcmp(o->format, "jsonl") != 0) {
		fprintf(stderr, "cloister audit export: unknown format '%s' "
		    "(jsonl)\n", o->format);
		return CLI_EXIT_USAGE;
	}
	if (o->since != NULL && parse_date(o->since, &since) != 0) {
		fprintf(stderr, "cloister audit export: bad date '%s'\n",
		    o->since);
		return CLI_EXIT_USAGE;
	}
	if ((r = open_store("export", o->fd, true, &s)) != CLI_EXIT_OK)
		return r;
	fflush(stdout);
	if ((r = audit_export(s, since, STDOUT_FILENO, &n, &err)) != CL_OK) {
		r = fail("export", r, &err);
		goto out;
	}
	fprintf(stderr, "cloister audit: exported %llu events\n",
	    (unsigned long long)n);
	r = CLI_EXIT_OK;
out:
	store_close(s);
	return r;
}

static int
do_public_key(struct opts *o)
{
	struct store *s = NULL;
	int r;

	if (o->arg != NULL)
		return usage();
	if ((r = open_store("public-key", o->fd, false, &s)) != CLI_EXIT_OK)
		return r;
	print_hex(stdout, store_admin_sign_public_key(s),
	    STORE_SIGN_PUBLICKEYBYTES);
	printf("\n");
	store_close(s);
	return CLI_EXIT_OK;
}

static int
do_verify_export(struct opts *o)
{
	struct cl_err err = CL_ERR_INIT;
	uint8_t pk[STORE_SIGN_PUBLICKEYBYTES];
	char *text = NULL, *key = NULL;
	size_t len, key_len, bin_len;
	const char *hex_end;
	uint64_t n;
	int r;

	if (o->arg == NULL || o->public_key == NULL || o->fd != -1)
		return usage();
	if (read_file("verify-export", o->public_key, SMALL_FILE_MAX, &key,
	    &key_len) != 0) {
		r = CLI_EXIT_FAIL;
		goto out;
	}
	while (key_len > 0 && (key[key_len - 1] == '\n' ||
	    key[key_len - 1] == '\r' || key[key_len - 1] == ' '))
		key[--key_len] = '\0';
	if (key_len != 2 * sizeof(pk) || sodium_hex2bin(pk, sizeof(pk), key,
	    key_len, NULL, &bin_len, &hex_end) != 0 ||
	    bin_len != sizeof(pk)) {
		fprintf(stderr, "cloister audit verify-export: '%s' is not a "
		    "public key (64 hex digits)\n", o->public_key);
		r = CLI_EXIT_FAIL;
		goto out;
	}
	if (read_file("verify-export", o->arg, EXPORT_FILE_MAX, &text,
	    &len) != 0) {
		r = CLI_EXIT_FAIL;
		goto out;
	}
	if ((r = audit_export_verify(text, len, pk, &n, &err)) != CL_OK) {
		r = fail("verify-export", r, &err);
		goto out;
	}
	printf("export verified: %llu events signed by ",
	    (unsigned long long)n);
	print_hex(stdout, pk, sizeof(pk));
	printf("\n");
	r = CLI_EXIT_OK;
out:
	cl_free(key);
	cl_free(text);
	return r;
}

static int
do_purge(struct opts *o)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s = NULL;
	int64_t before;
	uint64_t n;
	int r;

	if (o->arg != NULL || o->before == NULL)
		return usage();
	if (parse_date(o->before, &before) != 0) {
		fprintf(stderr, "cloister audit purge: bad date '%s'\n",
		    o->before);
		return CLI_EXIT_USAGE;
	}
	if ((r = open_store("purge", o->fd, true, &s)) != CLI_EXIT_OK)
		return r;
	if ((r = audit_purge(s, before, &n, &err)) != CL_OK) {
		r = fail("purge", r, &err);
		goto out;
	}
	printf("purged %llu event bodies\n", (unsigned long long)n);
	r = CLI_EXIT_OK;
out:
	store_close(s);
	return r;
}

static int
do_retention(struct opts *o)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s = NULL;
	unsigned long days;
	char *end;
	int r;

	if (o->arg == NULL)
		return usage();
	errno = 0;
	days = strtoul(o->arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == o->arg || o->arg[0] == '-' ||
	    days > UINT32_MAX) {
		fprintf(stderr, "cloister audit retention: bad number of days "
		    "'%s'\n", o->arg);
		return CLI_EXIT_USAGE;
	}
	if ((r = open_store("retention", o->fd, true, &s)) != CLI_EXIT_OK)
		return r;
	if ((r = audit_set_retention(s, (uint32_t)days, &err)) != CL_OK) {
		r = fail("retention", r, &err);
		goto out;
	}
	if (days == 0)
		printf("event bodies are kept until purged\n");
	else
		printf("event bodies older than %lu days are purged at each "
		    "session start\n", days);
	r = CLI_EXIT_OK;
out:
	store_close(s);
	return r;
}

int
cmd_audit(int argc, char **argv)
{
	struct opts o;
	const char *sub;

	if (argc < 2 || parse_opts(argc, argv, &o) != 0)
		return usage();
	if (sodium_init() < 0)
		return CLI_EXIT_FAIL;
	sub = argv[1];
	if (strcmp(sub, "enable") == 0)
		return do_enable(&o, true);
	if (strcmp(sub, "disable") == 0)
		return do_enable(&o, false);
	if (strcmp(sub, "status") == 0)
		return do_status(&o);
	if (strcmp(sub, "list") == 0)
		return do_list(&o, false);
	if (strcmp(sub, "show") == 0)
		return do_list(&o, true);
	if (strcmp(sub, "verify") == 0)
		return do_verify(&o);
	if (strcmp(sub, "checkpoint") == 0)
		return do_checkpoint(&o);
	if (strcmp(sub, "export") == 0)
		return do_export(&o);
	if (strcmp(sub, "public-key") == 0)
		return do_public_key(&o);
	if (strcmp(sub, "verify-export") == 0)
		return do_verify_export(&o);
	if (strcmp(sub, "purge") == 0)
		return do_purge(&o);
	if (strcmp(sub, "retention") == 0)
		return do_retention(&o);
	return usage();
}
