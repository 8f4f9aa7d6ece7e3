/*
 * hook.c - external policy hooks: start, feed, time out, judge.
 *
 * Divisions: the child's set-up; talking to the hook under a deadline;
 * reading the answer; policy_hook_run().
 *
 * A hook is a program the administrator names in the policy.  It gets one
 * JSON object on stdin and must answer one JSON object on stdout within
 * hook_timeout.  The broker treats it like any untrusted peer: the answer
 * is bounded (64 KiB) and parsed strictly, and anything but a well-formed
 * allow / block / replace is a block.  The hook is started by
 * sandbox_spawn_hook() with SANDBOX_PROFILE_HOOK: an environment of
 * PATH=/usr/bin:/bin only, its own session and process group (so a
 * timeout kills the hook and everything it started), no descriptors but
 * its stdin, stdout and /dev/null as stderr, a read-only filesystem
 * (Landlock), no network (seccomp kills socket() and friends; new network
 * namespace where the kernel allows), no new privileges.  Namespaces may
 * be missing (they are often restricted); any other layer missing means
 * the hook is not run (fail closed) and that is reported.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy/policy_impl.h"
#include "sandbox/sandbox.h"

#define HOOK_ANSWER_MAX	(64 * 1024)

/* --------------------------------------------- talking under a deadline */

static int
ms_left(double deadline)
{
	double left = (deadline - cl_now()) * 1000.0;

	if (left <= 0)
		return 0;
	return left > 60000 ? 60000 : (int)left + 1;
}

/*
 * Write `in` to the hook's stdin and read its stdout until EOF, the answer
 * limit or the deadline.  Returns 1 on EOF, 0 on timeout, -1 when the
 * answer is too long, or a CL_E* code.
 */
static int
exchange(int in_fd, int out_fd, const struct cl_buf *in, struct cl_buf *ans,
    double deadline)
{
	struct pollfd pfd[2];
	size_t sent = 0;
	ssize_t k;
	char buf[4096];
	int n, r;

	for (;;) {
		n = 0;
		if (in_fd != -1) {
			pfd[n].fd = in_fd;
			pfd[n].events = POLLOUT;
			n++;
		}
		pfd[n].fd = out_fd;
		pfd[n].events = POLLIN;
		n++;
		r = poll(pfd, (nfds_t)n, ms_left(deadline));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return CL_EIO;
		if (r == 0)
			return 0;
		if (in_fd != -1 && pfd[0].revents != 0) {
			k = send(in_fd, in->data + sent, in->len - sent,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k > 0)
				sent += (size_t)k;
			if (k == -1 && errno != EAGAIN && errno != EINTR)
				sent = in->len;	/* hook closed stdin */
			if (sent == in->len) {
				shutdown(in_fd, SHUT_WR);
				in_fd = -1;
			}
		}
		if (pfd[n - 1].revents != 0) {
			k = read(out_fd, buf, sizeof(buf));
			if (k == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k <= 0)
				return 1;
			if (ans->len + (size_t)k > HOOK_ANSWER_MAX)
				return -1;
			if (cl_buf_append(ans, buf, (size_t)k) != CL_OK)
				return CL_ENOMEM;
		}
		if (ms_left(deadline) == 0)
			return 0;
	}
}

/* Wait for `pid` until the deadline; kill its group when it is late. */
static int
reap(pid_t pid, double deadline, int *status, bool *late)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	pid_t w;

	for (;;) {
		w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			break;
		if (w == -1 && errno != EINTR)
			return CL_EIO;
		if (ms_left(deadline) == 0) {
			*late = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) == -1 && errno == EINTR)
				;
			break;
		}
		nanosleep(&ts, NULL);
	}
	/* Anything the hook left behind in its group goes too. */
	kill(-pid, SIGKILL);
	return CL_OK;
}

/* ------------------------------------------------------ reading the answer */

static void
set_block(struct policy_hook_result *res, bool failed, const char *fmt, ...)
    CL_PRINTF(3, 4);

static void
set_block(struct policy_hook_result *res, bool failed, const char *fmt, ...)
{
	va_list ap;

	res->action = POLICY_HOOK_BLOCK;
	res->failed = failed;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
}

/* Copy a hook's reason, printable ASCII and whole UTF-8 only. */
static void
copy_reason(char *dst, size_t size, const char *s, size_t n)
{
	size_t i, o = 0;

	if (n > size - 1)
		n = u8_complete(s, size - 1);
	for (i = 0; i < n && o + 1 < size; i++)
		dst[o++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ?
		    ' ' : s[i];
	dst[o] = '\0';
}

static void
judge(const struct cl_buf *ans, struct policy_hook_result *res)
{
	struct cl_err jerr = CL_ERR_INIT;
	struct cl_json *j = NULL;
	const struct cl_json *a, *t;

	if (ans->len == 0) {
		set_block(res, true, "hook gave no answer");
		return;
	}
	if (cl_json_parse(ans->data, ans->len, &j, &jerr) != CL_OK) {
		set_block(res, true, "hook answered something that is not "
		    "JSON");
		return;
	}
	a = cl_json_get(j, "action");
	if (a == NULL || a->type != CL_JSON_STR) {
		set_block(res, true, "hook answer has no \"action\"");
		goto out;
	}
	if (strcmp(a->str, "allow") == 0) {
		res->action = POLICY_HOOK_ALLOW;
	} else if (strcmp(a->str, "block") == 0) {
		t = cl_json_get(j, "reason");
		if (t != NULL && t->type != CL_JSON_STR) {
			set_block(res, true, "hook answer has a bad \"reason\"");
			goto out;
		}
		res->action = POLICY_HOOK_BLOCK;
		if (t != NULL)
			copy_reason(res->why, sizeof(res->why), t->str,
			    t->str_len);
		else
			snprintf(res->why, sizeof(res->why), "blocked by hook");
	} else if (strcmp(a->str, "replace") == 0) {
		t = cl_json_get(j, "text");
		if (t == NULL || t->type != CL_JSON_STR ||
		    !cl_utf8_valid(t->str, t->str_len)) {
			set_block(res, true, "hook answer \"replace\" has no "
			    "valid \"text\"");
			goto out;
		}
		if ((res->text = cl_strndup(t->str, t->str_len)) == NULL) {
			set_block(res, true, "out of memory");
			goto out;
		}
		res->text_len = t->str_len;
		res->action = POLICY_HOOK_REPLACE;
	} else
		set_block(res, true, "hook answered an unknown action");
out:
	cl_json_free(j);
}

/* -------------------------------------------------------- the entry point */

int
policy_hook_run(const struct policy_profile *pr, enum policy_hook_stage stage,
    const char *text, size_t len, struct policy_hook_result *res,
    struct cl_err *err)
{
	const char *path = stage == POLICY_HOOK_PROMPT ? pr->prompt_hook :
	    pr->output_hook;
	struct cl_buf in = CL_BUF_INIT, ans = CL_BUF_INIT;
	struct cl_json_writer w;
	struct cl_err serr = CL_ERR_INIT;
	struct sandbox_opts opts;
	char *argv[2];
	int sp[2] = { -1, -1 }, op[2] = { -1, -1 };
	int status = 0, r, x;
	double deadline;
	bool late = false;
	pid_t pid = -1;

	memset(res, 0, sizeof(*res));
	res->action = POLICY_HOOK_ALLOW;
	if (path == NULL)
		return CL_OK;

	cl_json_init(&w, &in);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "stage");
	cl_json_str(&w, stage == POLICY_HOOK_PROMPT ? "prompt" : "output");
	cl_json_key(&w, "profile");
	cl_json_str(&w, pr->name);
	cl_json_key(&w, "text");
	cl_json_strn(&w, text, len);
	cl_json_obj_end(&w);
	if (w.err != CL_OK || cl_buf_append(&in, "\n", 1) != CL_OK) {
		set_block(res, true, "out of memory");
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1 ||
	    pipe2(op, O_CLOEXEC) == -1) {
		x = errno;
		set_block(res, true, "hook could not be started");
		r = cl_errf(err, CL_EIO, "cannot start hook '%s': %s", path,
		    strerror(x));
		goto out;
	}
	deadline = cl_now() + pr->hook_timeout_ms / 1000.0;
	memset(&opts, 0, sizeof(opts));
	opts.mode = SANDBOX_MODE_DEGRADED;
	opts.profile = SANDBOX_PROFILE_HOOK;
	opts.allow_missing = SANDBOX_LAYERS_NAMESPACES;
	argv[0] = (char *)path;
	argv[1] = NULL;
	if ((x = sandbox_spawn_hook(path, argv, sp[1], op[1], -1, &opts,
	    NULL, &pid, &serr)) != CL_OK) {
		pid = -1;
		/* Not an error of the caller's: the hook blocks. */
		set_block(res, true, "%s", serr.msg);
		r = CL_OK;
		goto out;
	}
	close(sp[1]);
	close(op[1]);
	sp[1] = op[1] = -1;

	x = exchange(sp[0], op[0], &in, &ans, deadline);
	if (x < 0 && x != -1) {
		set_block(res, true, "out of memory");
		r = cl_errf(err, x, "talking to hook '%s' failed", path);
		reap(pid, cl_now(), &status, &late);
		pid = -1;
		goto out;
	}
	if (x == 0 || x == -1) {
		/* Late, or too talkative: stop it now. */
		reap(pid, cl_now(), &status, &late);
		pid = -1;
		if (x == 0)
			set_block(res, true, "hook timed out after %u ms",
			    pr->hook_timeout_ms);
		else
			set_block(res, true, "hook answer longer than %d bytes",
			    HOOK_ANSWER_MAX);
		r = CL_OK;
		goto out;
	}
	if ((r = reap(pid, deadline, &status, &late)) != CL_OK) {
		set_block(res, true, "hook could not be waited for");
		pid = -1;
		r = cl_errf(err, r, "waiting for hook '%s' failed", path);
		goto out;
	}
	pid = -1;
	if (late)
		set_block(res, true, "hook timed out after %u ms",
		    pr->hook_timeout_ms);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		set_block(res, true, "hook killed by the sandbox (SIGSYS): it "
		    "attempted a forbidden system call");
	else if (WIFSIGNALED(status))
		set_block(res, true, "hook killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		set_block(res, true, "hook exited with status %d",
		    WEXITSTATUS(status));
	else
		judge(&ans, res);
	r = CL_OK;
out:
	if (pid > 0)
		reap(pid, cl_now(), &status, &late);
	for (x = 0; x < 2; x++) {
		if (sp[x] != -1)
			close(sp[x]);
		if (op[x] != -1)
			close(op[x]);
	}
	if (in.data != NULL)
		explicit_bzero(in.data, in.len);	/* it held the text */
	cl_buf_release(&in);
	cl_buf_release(&ans);
	return r;
}

void
policy_hook_result_release(struct policy_hook_result *res)
{
	if (res == NULL)
		return;
	cl_free(res->text);
	res->text = NULL;
	res->text_len = 0;
}
