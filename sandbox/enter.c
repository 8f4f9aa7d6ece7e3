/*
 * enter.c - sandbox_enter(): jailing the calling process, layer by layer.
 *
 * Divisions: names; the test hook; the single-thread check; one function
 * per layer in the order they are applied (descriptors, rlimits,
 * dumpable, namespaces, no_new_privs; Landlock and seccomp live in their
 * own files); sandbox_enter() itself, which decides per layer whether
 * the mode tolerates its absence; the report helpers.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#define MAX_KEEP_FDS	64

static const char *const layer_names[SANDBOX_N_LAYERS] = {
	[SANDBOX_LAYER_FDS] = "descriptors",
	[SANDBOX_LAYER_RLIMITS] = "rlimits",
	[SANDBOX_LAYER_DUMPABLE] = "dumpable",
	[SANDBOX_LAYER_USERNS] = "user-ns",
	[SANDBOX_LAYER_NETNS] = "net-ns",
	[SANDBOX_LAYER_IPCNS] = "ipc-ns",
	[SANDBOX_LAYER_NO_NEW_PRIVS] = "no-new-privs",
	[SANDBOX_LAYER_LANDLOCK] = "landlock",
	[SANDBOX_LAYER_SECCOMP] = "seccomp",
};

const char *
sandbox_layer_name(enum sandbox_layer layer)
{
	if ((unsigned)layer >= SANDBOX_N_LAYERS)
		return "unknown";
	return layer_names[layer];
}

const char *
sandbox_status_name(enum sandbox_status status)
{
	switch (status) {
	case SANDBOX_STATUS_NOT_TRIED:	return "not-tried";
	case SANDBOX_STATUS_SKIPPED:	return "skipped";
	case SANDBOX_STATUS_APPLIED:	return "applied";
	case SANDBOX_STATUS_MISSING:	return "missing";
	case SANDBOX_STATUS_FAILED:	return "failed";
	}
	return "unknown";
}

const char *
sandbox_mode_name(enum sandbox_mode mode)
{
	switch (mode) {
	case SANDBOX_MODE_OFF:		return "off";
	case SANDBOX_MODE_DEGRADED:	return "degraded";
	case SANDBOX_MODE_FULL:		return "full";
	}
	return "unknown";
}

const char *
sandbox_profile_name(enum sandbox_profile profile)
{
	switch (profile) {
	case SANDBOX_PROFILE_ENGINE:	return "engine";
	case SANDBOX_PROFILE_HOOK:	return "hook";
	}
	return "unknown";
}

/* Test hook: layers that pretend to be unavailable. */
static unsigned test_unavailable;

void
sandbox_test_set_unavailable(unsigned mask)
{
	test_unavailable = mask;
}

bool
sandbox_test_is_unavailable(enum sandbox_layer layer)
{
	return (test_unavailable & SANDBOX_LAYER_BIT(layer)) != 0;
}

int
sandbox_thread_count(void)
{
	char buf[4096], *p;
	ssize_t n;
	size_t len = 0;
	long v;
	int fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (len < sizeof(buf) - 1 &&
	    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if ((p = strstr(buf, "\nThreads:")) == NULL)
		return -1;
	v = strtol(p + strlen("\nThreads:"), NULL, 10);
	if (v <= 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

/* Insertion sort: async-signal-safe, and n is at most MAX_KEEP_FDS. */
static void
sort_ints(int *v, size_t n)
{
	size_t i, j;
	int x;

	for (i = 1; i < n; i++) {
		x = v[i];
		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* close(2) every descriptor from `lo` to `hi` inclusive. */
static int
close_span(unsigned lo, unsigned hi)
{
	struct rlimit rl;
	unsigned fd, top;

	if (lo > hi)
		return 0;
#ifdef SYS_close_range
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return errno;
#endif
	/* Kernels before 5.9: walk up to the descriptor limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return errno;
	top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ?
	    (1u << 20) : (unsigned)rl.rlim_cur;
	if (hi >= top)
		hi = top - 1;
	for (fd = lo; fd <= hi && fd >= lo; fd++)
		(void)close((int)fd);
	return 0;
}

int
sandbox_close_fds_except(const int *keep, size_t n_keep)
{
	int sorted[MAX_KEEP_FDS];
	unsigned next = 0;
	size_t i;
	int e;

	if (n_keep > MAX_KEEP_FDS)
		return EINVAL;
	if (n_keep > 0)
		memcpy(sorted, keep, n_keep * sizeof(*keep));
	sort_ints(sorted, n_keep);
	for (i = 0; i < n_keep; i++) {
		if (sorted[i] < 0)
			return EBADF;
		if ((unsigned)sorted[i] < next)
			continue;	/* duplicate */
		if (sorted[i] > 0 && (e = close_span(next,
		    (unsigned)sorted[i] - 1)) != 0)
			return e;
		next = (unsigned)sorted[i] + 1;
	}
	return close_span(next, ~0U);
}

/* (1) Close every descriptor but the kept ones. */
static int
layer_fds(const struct sandbox_opts *opts, struct sandbox_layer_report *lr)
{
	size_t i;
	int e, used;

	for (i = 0; i < opts->n_keep_fds; i++) {
		if (fcntl(opts->keep_fds[i], F_GETFD) == -1) {
			lr->status = SANDBOX_STATUS_FAILED;
			snprintf(lr->detail, sizeof(lr->detail),
			    "kept descriptor %d is not open",
			    opts->keep_fds[i]);
			return -1;
		}
	}
	if ((e = sandbox_close_fds_except(opts->keep_fds,
	    opts->n_keep_fds)) != 0) {
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail), "close_range: %s",
		    strerror(e));
		return -1;
	}
	lr->status = SANDBOX_STATUS_APPLIED;
	used = snprintf(lr->detail, sizeof(lr->detail), "kept %zu:",
	    opts->n_keep_fds);
	for (i = 0; i < opts->n_keep_fds && used > 0 &&
	    (size_t)used < sizeof(lr->detail); i++)
		used += snprintf(lr->detail + used, sizeof(lr->detail) -
		    (size_t)used, " %d", opts->keep_fds[i]);
	return 0;
}

/* Lower both limits of `res` to `v` (never raise the hard limit). */
static int
limit(int res, rlim_t v)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) != 0)
		return -1;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = v;
	return setrlimit(res, &rl);
}

/*
 * (2) Resource limits.  No core files, no file growth, few descriptors,
 * and a bounded address space when the caller knows the model size.
 * RLIMIT_NPROC is deliberately left alone: it counts every thread of
 * every process of the user, so a small value would break the engine's
 * thread pool whenever the user runs other programs, and seccomp already
 * forbids new processes.
 */
static int
layer_rlimits(const struct sandbox_opts *opts,
    struct sandbox_layer_report *lr)
{
	rlim_t nofile = 1;
	size_t i;
	int e;
	const char *what = "core";

	for (i = 0; i < opts->n_keep_fds; i++)
		if ((rlim_t)opts->keep_fds[i] + 1 > nofile)
			nofile = (rlim_t)opts->keep_fds[i] + 1;
	/* A hook's dynamic loader and interpreter open files. */
	if (opts->profile == SANDBOX_PROFILE_HOOK && nofile < 64)
		nofile = 64;
	if (limit(RLIMIT_CORE, 0) != 0)
		goto fail;
	what = "fsize";
	if (limit(RLIMIT_FSIZE, 0) != 0)
		goto fail;
	what = "nofile";
	if (limit(RLIMIT_NOFILE, nofile) != 0)
		goto fail;
	what = "as";
	if (opts->max_address_space != 0 &&
	    limit(RLIMIT_AS, (rlim_t)opts->max_address_space) != 0)
		goto fail;
	lr->status = SANDBOX_STATUS_APPLIED;
	if (opts->max_address_space != 0)
		snprintf(lr->detail, sizeof(lr->detail),
		    "core 0, fsize 0, nofile %llu, as %llu MiB",
		    (unsigned long long)nofile,
		    (unsigned long long)(opts->max_address_space >> 20));
	else
		snprintf(lr->detail, sizeof(lr->detail),
		    "core 0, fsize 0, nofile %llu, as unbounded",
		    (unsigned long long)nofile);
	return 0;
fail:
	e = errno;
	lr->status = SANDBOX_STATUS_FAILED;
	snprintf(lr->detail, sizeof(lr->detail), "setrlimit %s: %s", what,
	    strerror(e));
	return -1;
}

/* (3) Not dumpable: no core, no same-user ptrace or /proc/<pid>/mem. */
static int
layer_dumpable(const struct sandbox_opts *opts,
    struct sandbox_layer_report *lr)
{
	int e;

	if (opts->profile == SANDBOX_PROFILE_HOOK) {
		lr->status = SANDBOX_STATUS_SKIPPED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "execve resets it; the hook holds no secrets");
		return 0;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		e = errno;
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail), "prctl: %s",
		    strerror(e));
		return -1;
	}
	lr->status = SANDBOX_STATUS_APPLIED;
	snprintf(lr->detail, sizeof(lr->detail), "not dumpable");
	return 0;
}

/* (4) One new namespace.  "Not permitted here" is missing, not failed. */
static int
layer_ns(int flag, const char *flag_name, struct sandbox_layer_report *lr)
{
	int e;

	if (unshare(flag) != 0) {
		e = errno;
		lr->status = (e == EPERM || e == EINVAL || e == ENOSPC ||
		    e == ENOSYS || e == EUSERS || e == EACCES) ?
		    SANDBOX_STATUS_MISSING : SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail), "unshare(%s): %s",
		    flag_name, strerror(e));
		return -1;
	}
	lr->status = SANDBOX_STATUS_APPLIED;
	snprintf(lr->detail, sizeof(lr->detail), "unshare(%s)", flag_name);
	return 0;
}

/* (5) no_new_privs: execve can never grant privileges again. */
static int
layer_nnp(struct sandbox_layer_report *lr)
{
	int e;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		e = errno;
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail), "prctl: %s",
		    strerror(e));
		return -1;
	}
	lr->status = SANDBOX_STATUS_APPLIED;
	snprintf(lr->detail, sizeof(lr->detail), "set");
	return 0;
}

/* Apply one layer; 0 when applied or skipped, -1 otherwise. */
static int
apply_layer(enum sandbox_layer layer, const struct sandbox_opts *opts,
    struct sandbox_report *rep)
{
	struct sandbox_layer_report *lr = &rep->layers[layer];
	struct cl_err ignored = CL_ERR_INIT;

	if (sandbox_test_is_unavailable(layer)) {
		lr->status = SANDBOX_STATUS_MISSING;
		snprintf(lr->detail, sizeof(lr->detail),
		    "unavailable (test hook)");
		return -1;
	}
	switch (layer) {
	case SANDBOX_LAYER_FDS:
		return layer_fds(opts, lr);
	case SANDBOX_LAYER_RLIMITS:
		return layer_rlimits(opts, lr);
	case SANDBOX_LAYER_DUMPABLE:
		return layer_dumpable(opts, lr);
	case SANDBOX_LAYER_USERNS:
		return layer_ns(CLONE_NEWUSER, "CLONE_NEWUSER", lr);
	case SANDBOX_LAYER_NETNS:
		return layer_ns(CLONE_NEWNET, "CLONE_NEWNET", lr);
	case SANDBOX_LAYER_IPCNS:
		return layer_ns(CLONE_NEWIPC, "CLONE_NEWIPC", lr);
	case SANDBOX_LAYER_NO_NEW_PRIVS:
		return layer_nnp(lr);
	case SANDBOX_LAYER_LANDLOCK:
		return sandbox_landlock_apply(opts->profile, opts->read_paths,
		    lr, &rep->landlock_abi, &ignored) == CL_OK ? 0 : -1;
	case SANDBOX_LAYER_SECCOMP:
		return sandbox_seccomp_apply(opts->profile, lr,
		    &rep->n_syscalls, &ignored) == CL_OK ? 0 : -1;
	case SANDBOX_N_LAYERS:
		break;
	}
	CL_BUG("unknown sandbox layer");
}

int
sandbox_enter(const struct sandbox_opts *opts, struct sandbox_report *report,
    struct cl_err *err)
{
	struct sandbox_report rep;
	struct sandbox_layer_report *lr;
	unsigned l;
	size_t i;
	int n_threads, r = CL_EINTERNAL;

	memset(&rep, 0, sizeof(rep));
	if (opts == NULL || (opts->mode != SANDBOX_MODE_OFF &&
	    opts->mode != SANDBOX_MODE_DEGRADED &&
	    opts->mode != SANDBOX_MODE_FULL) ||
	    (opts->profile != SANDBOX_PROFILE_ENGINE &&
	    opts->profile != SANDBOX_PROFILE_HOOK) ||
	    opts->n_keep_fds > MAX_KEEP_FDS ||
	    (opts->n_keep_fds > 0 && opts->keep_fds == NULL)) {
		r = cl_errf(err, CL_EINVAL, "sandbox: bad options");
		goto out;
	}
	for (i = 0; i < opts->n_keep_fds; i++) {
		if (opts->keep_fds[i] < 0) {
			r = cl_errf(err, CL_EINVAL,
			    "sandbox: bad kept descriptor %d",
			    opts->keep_fds[i]);
			goto out;
		}
	}
	rep.mode = opts->mode;
	rep.profile = opts->profile;
	if (opts->mode == SANDBOX_MODE_OFF) {
		for (l = 0; l < SANDBOX_N_LAYERS; l++)
			snprintf(rep.layers[l].detail,
			    sizeof(rep.layers[l].detail),
			    "SANDBOX OFF: not applied");
		r = CL_OK;
		goto out;
	}
	/*
	 * Seccomp and Landlock bind the calling thread and the threads it
	 * creates later; a thread that already exists would stay free.
	 */
	if ((n_threads = sandbox_thread_count()) != 1) {
		if (n_threads < 0)
			r = cl_errf(err, CL_ESANDBOX, "sandbox: cannot tell "
			    "whether the process is single-threaded "
			    "(/proc/self/status unreadable)");
		else
			r = cl_errf(err, CL_ESANDBOX, "sandbox: process has "
			    "%d threads; it must enter the sandbox before "
			    "starting any", n_threads);
		goto out;
	}
	for (l = 0; l < SANDBOX_N_LAYERS; l++) {
		lr = &rep.layers[l];
		if (apply_layer((enum sandbox_layer)l, opts, &rep) == 0)
			continue;
		if (lr->status == SANDBOX_STATUS_MISSING &&
		    opts->mode == SANDBOX_MODE_DEGRADED &&
		    (opts->allow_missing & SANDBOX_LAYER_BIT(l)) != 0)
			continue;	/* tolerated, and reported */
		if (lr->status != SANDBOX_STATUS_MISSING)
			lr->status = SANDBOX_STATUS_FAILED;
		r = cl_errf(err, CL_ESANDBOX, "sandbox layer %s %s: %s",
		    sandbox_layer_name((enum sandbox_layer)l),
		    lr->status == SANDBOX_STATUS_MISSING ? "unavailable" :
		    "failed", lr->detail);
		goto out;
	}
	r = CL_OK;
out:
	if (report != NULL)
		*report = rep;
	return r;
}

bool
sandbox_report_is_whole(const struct sandbox_report *report)
{
	unsigned l;

	if (report->mode == SANDBOX_MODE_OFF)
		return false;
	for (l = 0; l < SANDBOX_N_LAYERS; l++)
		if (report->layers[l].status != SANDBOX_STATUS_APPLIED &&
		    report->layers[l].status != SANDBOX_STATUS_SKIPPED)
			return false;
	return true;
}

int
sandbox_report_format(const struct sandbox_report *report, struct cl_buf *out)
{
	unsigned l;
	int r;

	if ((r = cl_buf_printf(out, "sandbox: mode %s, profile %s%s\n",
	    sandbox_mode_name(report->mode),
	    sandbox_profile_name(report->profile),
	    report->mode == SANDBOX_MODE_OFF ? " -- NOT JAILED" :
	    sandbox_report_is_whole(report) ? ", whole" : ", DEGRADED")) !=
	    CL_OK)
		return r;
	for (l = 0; l < SANDBOX_N_LAYERS; l++) {
		const struct sandbox_layer_report *lr = &report->layers[l];

		if ((r = cl_buf_printf(out, "  %-13s %-9s %.*s\n",
		    sandbox_layer_name((enum sandbox_layer)l),
		    sandbox_status_name(lr->status),
		    (int)strnlen(lr->detail, sizeof(lr->detail)),
		    lr->detail)) != CL_OK)
			return r;
	}
	return CL_OK;
}
