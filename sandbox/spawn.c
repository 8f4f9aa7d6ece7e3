/*
 * spawn.c - starting the engine or a hook, and decoding how it ended.
 *
 * Divisions: the status pipe protocol; the child side (signals, session,
 * descriptor plumbing, optional jail, execve); the parent side; reaping.
 *
 * The child reports to the parent through a close-on-exec pipe: nothing
 * arrives when execve succeeds (the pipe closes), a record arrives when
 * the jail or execve failed.  A hook's child first sends its sandbox
 * report.  Each record is written with one write(2) of less than
 * PIPE_BUF bytes, so it arrives whole.
 *
 * The broker is single-threaded (one poll loop), which is what makes the
 * hook path safe: between fork and exec it calls sandbox_enter(), which
 * allocates (libseccomp).  A multi-threaded caller must not use
 * sandbox_spawn_hook().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#define MAX_PASS_FDS	32

enum {
	MSG_REPORT = 'R',	/* the hook's jail report; exec follows */
	MSG_JAIL_FAILED = 'J',	/* sandbox_enter() refused: err + report */
	MSG_EXEC_FAILED = 'X'	/* execve failed: errno */
};

struct status_msg {
	char			type;
	int			exec_errno;
	struct cl_err		err;
	struct sandbox_report	report;
};
_Static_assert(sizeof(struct status_msg) <= PIPE_BUF,
    "status records must be written atomically");

struct spawn_req {
	const char		*what;		/* "engine" or "hook" */
	const char		*exe_path;
	char *const		*argv;
	char *const		*envp;
	int			 src[3 + MAX_PASS_FDS]; /* fd for target i, -1: /dev/null */
	size_t			 n_targets;
	const struct sandbox_opts *jail;	/* NULL: no jail before exec */
};

static void
write_msg(int fd, const struct status_msg *m)
{
	ssize_t n;

	do
		n = write(fd, m, sizeof(*m));
	while (n < 0 && errno == EINTR);
}

/*
 * The child, between fork and execve.  Async-signal-safe calls only,
 * except sandbox_enter() for hooks (see the file comment).
 */
static void __attribute__((noreturn))
child(const struct spawn_req *req, int status_fd)
{
	static struct status_msg m;	/* not on the small vfork-like stack */
	struct sandbox_opts jail;
	struct sigaction sa;
	sigset_t none;
	int keep[3 + MAX_PASS_FDS + 1], tmp[3 + MAX_PASS_FDS];
	int high = 3, sig, fd, null_fd = -1;
	size_t i;

	memset(&m, 0, sizeof(m));
	/* A clean signal state: the broker's handlers and mask stay behind. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* Own session: the terminal's ^C goes to the broker, which decides. */
	(void)setsid();

	/* Move every source above all targets, then into place. */
	if ((size_t)high < req->n_targets)
		high = (int)req->n_targets;
	for (i = 0; i < req->n_targets; i++)
		if (req->src[i] >= high)
			high = req->src[i] + 1;
	if (status_fd < high) {
		if ((fd = fcntl(status_fd, F_DUPFD_CLOEXEC, high)) == -1)
			goto fail;
		status_fd = fd;
	}
	high = status_fd + 1;
	for (i = 0; i < req->n_targets; i++) {
		if (req->src[i] < 0) {
			if (null_fd == -1 && (null_fd = open("/dev/null",
			    O_RDWR | O_CLOEXEC)) == -1)
				goto fail;
			if ((tmp[i] = fcntl(null_fd, F_DUPFD_CLOEXEC,
			    high)) == -1)
				goto fail;
		} else if ((tmp[i] = fcntl(req->src[i], F_DUPFD_CLOEXEC,
		    high)) == -1)
			goto fail;
		high = tmp[i] + 1;
	}
	for (i = 0; i < req->n_targets; i++) {
		if (dup2(tmp[i], (int)i) == -1)
			goto fail;
		keep[i] = (int)i;
	}
	keep[req->n_targets] = status_fd;
	if (sandbox_close_fds_except(keep, req->n_targets + 1) != 0)
		goto fail;

	if (req->jail != NULL) {
		jail = *req->jail;
		jail.keep_fds = keep;
		jail.n_keep_fds = req->n_targets + 1;
		if (sandbox_enter(&jail, &m.report, &m.err) != CL_OK) {
			m.type = MSG_JAIL_FAILED;
			write_msg(status_fd, &m);
			_exit(127);
		}
		m.type = MSG_REPORT;
		write_msg(status_fd, &m);
	}
	execve(req->exe_path, req->argv, req->envp);
fail:
	m.type = MSG_EXEC_FAILED;
	m.exec_errno = errno;
	write_msg(status_fd, &m);
	_exit(127);
}

static int
spawn(const struct spawn_req *req, struct sandbox_report *report,
    pid_t *pid_out, struct cl_err *err)
{
	struct status_msg m;
	struct sandbox_exit ex;
	struct cl_err ignored = CL_ERR_INIT;
	ssize_t n;
	pid_t pid;
	int p[2] = { -1, -1 }, e, r = CL_EINTERNAL;
	bool got_report = false;

	if (pipe2(p, O_CLOEXEC) != 0) {
		e = errno;
		return cl_errf(err, CL_EIO, "cannot start %s '%s': pipe: %s",
		    req->what, req->exe_path, strerror(e));
	}
	if ((pid = fork()) == -1) {
		e = errno;
		r = cl_errf(err, CL_EIO, "cannot start %s '%s': fork: %s",
		    req->what, req->exe_path, strerror(e));
		goto out;
	}
	if (pid == 0) {
		close(p[0]);
		child(req, p[1]);
	}
	close(p[1]);
	p[1] = -1;
	for (;;) {
		n = read(p[0], &m, sizeof(m));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;			/* execve succeeded */
		if (n != (ssize_t)sizeof(m)) {
			r = cl_errf(err, CL_EINTERNAL, "cannot start %s '%s': "
			    "short status record", req->what, req->exe_path);
			goto out_reap;
		}
		m.err.msg[sizeof(m.err.msg) - 1] = '\0';
		if (m.type == MSG_REPORT) {
			if (report != NULL)
				*report = m.report;
			got_report = true;
			continue;
		}
		if (m.type == MSG_JAIL_FAILED) {
			if (report != NULL)
				*report = m.report;
			r = cl_errf(err, CL_ESANDBOX, "cannot start %s '%s': %s",
			    req->what, req->exe_path, m.err.msg);
			goto out_reap;
		}
		r = cl_errf(err, CL_EENGINE, "cannot start %s '%s': %s",
		    req->what, req->exe_path, m.type == MSG_EXEC_FAILED ?
		    strerror(m.exec_errno) : "bad status record");
		goto out_reap;
	}
	if (req->jail != NULL && !got_report) {
		r = cl_errf(err, CL_EINTERNAL, "cannot start %s '%s': "
		    "no sandbox report", req->what, req->exe_path);
		goto out_reap;
	}
	*pid_out = pid;
	r = CL_OK;
	goto out;
out_reap:
	(void)sandbox_wait(pid, req->what, true, &ex, &ignored);
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	return r;
}

int
sandbox_spawn(const char *exe_path, char *const argv[], const int *pass_fds,
    size_t n_pass, pid_t *pid_out, struct cl_err *err)
{
	static char *const empty_env[] = { NULL };
	struct spawn_req req;
	size_t i;

	*pid_out = -1;
	if (exe_path == NULL || argv == NULL || argv[0] == NULL ||
	    n_pass > MAX_PASS_FDS || (n_pass > 0 && pass_fds == NULL))
		return cl_errf(err, CL_EINVAL, "cannot start engine: "
		    "bad arguments");
	memset(&req, 0, sizeof(req));
	req.what = "engine";
	req.exe_path = exe_path;
	req.argv = argv;
	req.envp = empty_env;
	req.src[0] = -1;
	req.src[1] = -1;
	req.src[2] = fcntl(STDERR_FILENO, F_GETFD) == -1 ? -1 : STDERR_FILENO;
	for (i = 0; i < n_pass; i++) {
		if (pass_fds[i] < 0 || fcntl(pass_fds[i], F_GETFD) == -1)
			return cl_errf(err, CL_EINVAL, "cannot start engine "
			    "'%s': descriptor %d is not open", exe_path,
			    pass_fds[i]);
		req.src[3 + i] = pass_fds[i];
	}
	req.n_targets = 3 + n_pass;
	return spawn(&req, NULL, pid_out, err);
}

int
sandbox_spawn_hook(const char *exe_path, char *const argv[], int stdin_fd,
    int stdout_fd, int stderr_fd, const struct sandbox_opts *opts,
    struct sandbox_report *report, pid_t *pid_out, struct cl_err *err)
{
	static char *const hook_env[] = { "PATH=/usr/bin:/bin", NULL };
	struct spawn_req req;

	*pid_out = -1;
	if (exe_path == NULL || argv == NULL || argv[0] == NULL ||
	    opts == NULL || opts->profile != SANDBOX_PROFILE_HOOK)
		return cl_errf(err, CL_EINVAL, "cannot start hook: "
		    "bad arguments");
	memset(&req, 0, sizeof(req));
	req.what = "hook";
	req.exe_path = exe_path;
	req.argv = argv;
	req.envp = hook_env;
	req.src[0] = stdin_fd;
	req.src[1] = stdout_fd;
	req.src[2] = stderr_fd;
	req.n_targets = 3;
	req.jail = opts;
	return spawn(&req, report, pid_out, err);
}

int
sandbox_wait(pid_t pid, const char *what, bool block,
    struct sandbox_exit *out, struct cl_err *err)
{
	pid_t got;
	int st, e;

	memset(out, 0, sizeof(*out));
	do
		got = waitpid(pid, &st, block ? 0 : WNOHANG);
	while (got == -1 && errno == EINTR);
	if (got == -1) {
		e = errno;
		return cl_errf(err, CL_EIO, "cannot wait for %s (pid %ld): %s",
		    what, (long)pid, strerror(e));
	}
	if (got == 0) {
		out->state = SANDBOX_EXIT_RUNNING;
		return CL_OK;
	}
	if (WIFEXITED(st)) {
		out->state = SANDBOX_EXIT_EXITED;
		out->code = WEXITSTATUS(st);
		if (out->code == 0)
			return CL_OK;
		return cl_errf(err, CL_EENGINE, "%s exited with status %d",
		    what, out->code);
	}
	if (WIFSIGNALED(st)) {
		out->state = SANDBOX_EXIT_SIGNALED;
		out->signal = WTERMSIG(st);
		out->core_dumped = WCOREDUMP(st);
		if (out->signal == SIGSYS) {
			out->seccomp_kill = true;
			return cl_errf(err, CL_EENGINE, "%s killed by the "
			    "sandbox (SIGSYS): it attempted a forbidden system "
			    "call", what);
		}
		return cl_errf(err, CL_EENGINE, "%s killed by signal %d (%s)",
		    what, out->signal, strsignal(out->signal));
	}
	return cl_errf(err, CL_EINTERNAL, "%s: unexpected wait status %#x",
	    what, st);
}
