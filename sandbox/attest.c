/*
 * attest.c - verifying a child's jail from outside, through /proc.
 *
 * Divisions: reading small /proc files; the per-thread status fields;
 * namespace comparison (with the fallbacks an unprivileged broker needs);
 * sandbox_attest(); the verdict and the mode check.
 *
 * What /proc shows: Seccomp and Seccomp_filters and NoNewPrivs per
 * thread, and the namespaces.  What it does not show: Landlock, rlimits
 * (readable in /proc/<pid>/limits but not attested here), closed
 * descriptors.  Those rest on the engine's own report in its HELLO.
 *
 * An engine that set PR_SET_DUMPABLE 0 hides its /proc/<pid>/ns links
 * from a broker without CAP_SYS_PTRACE.  The fallbacks prove difference
 * only: the user namespace through /proc/<pid>/uid_map (a new, unmapped
 * namespace has an empty map), the network namespace through the
 * interface list in /proc/<pid>/net/dev.  Equal content proves nothing
 * and stays SANDBOX_NS_UNKNOWN.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#define PROC_FILE_MAX	16384

/*
 * Read a small /proc file into buf (NUL-terminated).  Returns 0 or an
 * errno value.
 */
static int
read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	size_t len = 0;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno;
	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return 0;
}

/* The integer after "\n<key>:" in a status file, or -1 if absent. */
static long
status_field(const char *status, const char *key)
{
	char pat[32];
	const char *p;
	char *end;
	long v;

	snprintf(pat, sizeof(pat), "\n%s:", key);
	if ((p = strstr(status, pat)) == NULL)
		return -1;
	p += strlen(pat);
	errno = 0;
	v = strtol(p, &end, 10);
	if (end == p || errno != 0 || v < 0 || v > INT_MAX)
		return -1;
	return v;
}

/* Interface names of /proc/<x>/net/dev, sorted order as listed. */
static int
net_ifaces(const char *who, char *out, size_t size)
{
	char path[64], buf[PROC_FILE_MAX], *line, *save = NULL, *colon;
	size_t used = 0;
	int e, lineno = 0;

	snprintf(path, sizeof(path), "/proc/%s/net/dev", who);
	if ((e = read_small(path, buf, sizeof(buf))) != 0)
		return e;
	out[0] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (++lineno <= 2 || (colon = strchr(line, ':')) == NULL)
			continue;	/* two header lines */
		*colon = '\0';
		while (*line == ' ')
			line++;
		used += (size_t)snprintf(out + used, size - used, "%s,",
		    line);
		if (used >= size)
			return E2BIG;
	}
	return 0;
}

/* Compare namespace `ns` of `pid` with ours. */
static enum sandbox_ns
compare_ns(pid_t pid, const char *ns)
{
	char path[64], theirs[64], ours[64], a[1024], b[1024], who[24];
	ssize_t n, m;

	snprintf(path, sizeof(path), "/proc/%ld/ns/%s", (long)pid, ns);
	n = readlink(path, theirs, sizeof(theirs) - 1);
	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
	m = readlink(path, ours, sizeof(ours) - 1);
	if (n > 0 && m > 0) {
		theirs[n] = '\0';
		ours[m] = '\0';
		return strcmp(theirs, ours) == 0 ? SANDBOX_NS_SAME :
		    SANDBOX_NS_NEW;
	}
	/* The links are hidden (dumpable 0): prove difference another way. */
	snprintf(who, sizeof(who), "%ld", (long)pid);
	if (strcmp(ns, "user") == 0) {
		snprintf(path, sizeof(path), "/proc/%ld/uid_map", (long)pid);
		if (read_small(path, a, sizeof(a)) != 0 ||
		    read_small("/proc/self/uid_map", b, sizeof(b)) != 0)
			return SANDBOX_NS_UNKNOWN;
		return strcmp(a, b) != 0 ? SANDBOX_NS_NEW : SANDBOX_NS_UNKNOWN;
	}
	if (strcmp(ns, "net") == 0) {
		if (net_ifaces(who, a, sizeof(a)) != 0 ||
		    net_ifaces("self", b, sizeof(b)) != 0)
			return SANDBOX_NS_UNKNOWN;
		return strcmp(a, b) != 0 ? SANDBOX_NS_NEW : SANDBOX_NS_UNKNOWN;
	}
	return SANDBOX_NS_UNKNOWN;
}

static const char *
ns_name(enum sandbox_ns ns)
{
	switch (ns) {
	case SANDBOX_NS_SAME:		return "shared";
	case SANDBOX_NS_NEW:		return "new";
	case SANDBOX_NS_UNKNOWN:	break;
	}
	return "unknown";
}

int
sandbox_attest(pid_t pid, struct sandbox_attestation *out,
    struct cl_err *err)
{
	char path[64], status[PROC_FILE_MAX];
	struct dirent *de;
	DIR *dir = NULL;
	long mode, filters, nnp;
	int e, r = CL_EINTERNAL;

	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->seccomp_mode_min = INT_MAX;
	out->seccomp_filters_min = INT_MAX;
	out->seccomp_filters_max = -1;
	out->no_new_privs = true;
	if (pid <= 0) {
		r = cl_errf(err, CL_EINVAL, "attest: bad pid %ld", (long)pid);
		goto out;
	}
	if (read_small("/proc/self/status", status, sizeof(status)) != 0)
		out->baseline_filters = -1;
	else
		out->baseline_filters = (int)status_field(status,
		    "Seccomp_filters");

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if ((dir = opendir(path)) == NULL) {
		e = errno;
		r = cl_errf(err, e == ENOENT ? CL_ENOTFOUND : CL_EIO,
		    "attest: cannot read %s: %s", path, strerror(e));
		goto out;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%.16s/status",
		    (long)pid, de->d_name);
		if ((e = read_small(path, status, sizeof(status))) != 0) {
			if (e == ENOENT || e == ESRCH)
				continue;	/* the thread just ended */
			r = cl_errf(err, CL_EIO, "attest: cannot read %s: %s",
			    path, strerror(e));
			goto out;
		}
		out->n_threads++;
		/* Absent fields: a kernel without seccomp or NNP reporting. */
		mode = status_field(status, "Seccomp");
		filters = status_field(status, "Seccomp_filters");
		nnp = status_field(status, "NoNewPrivs");
		if (mode < 0)
			mode = 0;
		if (mode < out->seccomp_mode_min)
			out->seccomp_mode_min = (int)mode;
		if (filters < out->seccomp_filters_min)
			out->seccomp_filters_min = (int)filters;
		if (filters > out->seccomp_filters_max)
			out->seccomp_filters_max = (int)filters;
		if (nnp != 1)
			out->no_new_privs = false;
	}
	if (out->n_threads == 0) {
		r = cl_errf(err, CL_ENOTFOUND, "attest: process %ld is gone",
		    (long)pid);
		goto out;
	}
	out->user_ns = compare_ns(pid, "user");
	out->net_ns = compare_ns(pid, "net");
	out->ipc_ns = compare_ns(pid, "ipc");
	snprintf(out->detail, sizeof(out->detail),
	    "seccomp %d on %d thread%s (filters %d..%d, ours %d), "
	    "no_new_privs %d, namespaces user %s net %s ipc %s",
	    out->seccomp_mode_min, out->n_threads,
	    out->n_threads == 1 ? "" : "s", out->seccomp_filters_min,
	    out->seccomp_filters_max, out->baseline_filters,
	    out->no_new_privs ? 1 : 0, ns_name(out->user_ns),
	    ns_name(out->net_ns), ns_name(out->ipc_ns));
	r = CL_OK;
out:
	if (dir != NULL)
		closedir(dir);
	return r;
}

const char *
sandbox_verdict_name(enum sandbox_verdict verdict)
{
	switch (verdict) {
	case SANDBOX_VERDICT_NONE:	return "none";
	case SANDBOX_VERDICT_DEGRADED:	return "degraded";
	case SANDBOX_VERDICT_WHOLE:	return "whole";
	}
	return "unknown";
}

/* Seccomp in filter mode on every thread, with a filter of the child's own. */
static bool
seccomp_seen(const struct sandbox_attestation *a)
{
	if (a->seccomp_mode_min != 2)
		return false;
	/* Seccomp_filters needs Linux 5.9; without it Seccomp: 2 must do. */
	if (a->seccomp_filters_min < 0 || a->baseline_filters < 0)
		return true;
	return a->seccomp_filters_min > a->baseline_filters;
}

/* The claimed status of `layer`, or NOT_TRIED without a claim. */
static enum sandbox_status
claim(const struct sandbox_report *claimed, enum sandbox_layer layer)
{
	if (claimed == NULL)
		return SANDBOX_STATUS_NOT_TRIED;
	return claimed->layers[layer].status;
}

/* A namespace counts if /proc shows it new, or hides it and it is claimed. */
static bool
ns_ok(enum sandbox_ns seen, const struct sandbox_report *claimed,
    enum sandbox_layer layer)
{
	return seen == SANDBOX_NS_NEW || (seen == SANDBOX_NS_UNKNOWN &&
	    claim(claimed, layer) == SANDBOX_STATUS_APPLIED);
}

enum sandbox_verdict
sandbox_verdict(const struct sandbox_attestation *a,
    const struct sandbox_report *claimed)
{
	if (!seccomp_seen(a) || !a->no_new_privs)
		return SANDBOX_VERDICT_NONE;
	if (ns_ok(a->user_ns, claimed, SANDBOX_LAYER_USERNS) &&
	    ns_ok(a->net_ns, claimed, SANDBOX_LAYER_NETNS) &&
	    ns_ok(a->ipc_ns, claimed, SANDBOX_LAYER_IPCNS) &&
	    claim(claimed, SANDBOX_LAYER_LANDLOCK) == SANDBOX_STATUS_APPLIED &&
	    sandbox_report_is_whole(claimed))
		return SANDBOX_VERDICT_WHOLE;
	return SANDBOX_VERDICT_DEGRADED;
}

int
sandbox_attestation_check(const struct sandbox_attestation *a,
    enum sandbox_mode mode, const struct sandbox_report *claimed,
    struct cl_err *err)
{
	static const struct {
		enum sandbox_layer	layer;
		const char		*name;
	} ns_layers[] = {
		{ SANDBOX_LAYER_USERNS, "user" },
		{ SANDBOX_LAYER_NETNS, "net" },
		{ SANDBOX_LAYER_IPCNS, "ipc" },
	};
	const enum sandbox_ns seen[] = { a->user_ns, a->net_ns, a->ipc_ns };
	enum sandbox_verdict v;
	size_t i;

	if (mode == SANDBOX_MODE_OFF)
		return CL_OK;
	/* What the child claims and /proc can show must be there. */
	if ((claimed == NULL ||
	    claim(claimed, SANDBOX_LAYER_SECCOMP) == SANDBOX_STATUS_APPLIED) &&
	    !seccomp_seen(a))
		return cl_errf(err, CL_ESANDBOX, "attestation: seccomp filter "
		    "not in force on every thread of pid %ld (Seccomp %d, "
		    "filters %d, ours %d)", (long)a->pid, a->seccomp_mode_min,
		    a->seccomp_filters_min, a->baseline_filters);
	if ((claimed == NULL || claim(claimed, SANDBOX_LAYER_NO_NEW_PRIVS) ==
	    SANDBOX_STATUS_APPLIED) && !a->no_new_privs)
		return cl_errf(err, CL_ESANDBOX, "attestation: no_new_privs "
		    "not set on every thread of pid %ld", (long)a->pid);
	for (i = 0; i < CL_ARRAY_LEN(ns_layers); i++)
		if (claim(claimed, ns_layers[i].layer) ==
		    SANDBOX_STATUS_APPLIED && seen[i] == SANDBOX_NS_SAME)
			return cl_errf(err, CL_ESANDBOX, "attestation: pid %ld "
			    "claims its own %s namespace but shares ours",
			    (long)a->pid, ns_layers[i].name);
	if (mode == SANDBOX_MODE_FULL &&
	    (v = sandbox_verdict(a, claimed)) != SANDBOX_VERDICT_WHOLE)
		return cl_errf(err, CL_ESANDBOX, "attestation: jail of pid "
		    "%ld is %s, full was required (%s)", (long)a->pid,
		    sandbox_verdict_name(v), a->detail);
	return CL_OK;
}
