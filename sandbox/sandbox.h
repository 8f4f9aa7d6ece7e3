/*
 * sandbox.h - jailing a process, spawning a jailed child, attesting a jail.
 *
 * Owns: the layers that confine cloister-engine (descriptors, rlimits,
 * dumpable, namespaces, Landlock, no_new_privs, a seccomp allowlist), the
 * lighter profile that confines external policy hooks, starting either
 * kind of child with a clean environment and known descriptors, decoding
 * how a child ended, and verifying a child's jail from outside through
 * /proc.
 *
 * Invariants: sandbox_enter() is the first thing a jailed process does
 * after its own start-up, while it is still single-threaded; it applies
 * the layers in the fixed order documented in cloister-sandbox(7) and
 * never weakens silently: every layer ends up in the report as applied,
 * missing or failed, and SANDBOX_MODE_FULL fails closed.  The seccomp
 * allowlist lives in one table in sandbox/seccomp.c and is mirrored,
 * syscall by syscall, in man/cloister-sandbox.7; change both together.
 *
 * Layering: sandbox depends on util and libseccomp only.  The engine
 * calls sandbox_enter(); the broker calls sandbox_spawn(), waits for the
 * engine's HELLO, then calls sandbox_attest(); policy hooks are started
 * with sandbox_spawn_hook().  Linux only.
 */
#ifndef CLOISTER_SANDBOX_H
#define CLOISTER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

/* How hard to try, and what to do when a layer cannot be applied. */
enum sandbox_mode {
	SANDBOX_MODE_OFF,	/* apply nothing; the report says so loudly */
	SANDBOX_MODE_DEGRADED,	/* layers in allow_missing may be missing */
	SANDBOX_MODE_FULL	/* every layer or CL_ESANDBOX (fail closed) */
};

/* Which set of rules to apply. */
enum sandbox_profile {
	/*
	 * The engine: no filesystem at all, no network, no new programs or
	 * processes, no executable memory.  Seccomp is an allowlist.
	 */
	SANDBOX_PROFILE_ENGINE,
	/*
	 * A policy hook, applied in the child just before execve(): the
	 * filesystem is read-only (Landlock), no network (namespace,
	 * Landlock, seccomp), no ptrace, mounts, namespaces, BPF or kernel
	 * keyrings.  Seccomp is a denylist because a hook is an arbitrary
	 * program (a shell script, an interpreter) whose needs cannot be
	 * enumerated; the other layers carry the filesystem rules.
	 */
	SANDBOX_PROFILE_HOOK
};

/* The layers, in the order sandbox_enter() applies them. */
enum sandbox_layer {
	SANDBOX_LAYER_FDS,		/* close all but the kept descriptors */
	SANDBOX_LAYER_RLIMITS,		/* core 0, fsize 0, nofile, as */
	SANDBOX_LAYER_DUMPABLE,		/* PR_SET_DUMPABLE 0 */
	SANDBOX_LAYER_USERNS,		/* unshare(CLONE_NEWUSER) */
	SANDBOX_LAYER_NETNS,		/* unshare(CLONE_NEWNET) */
	SANDBOX_LAYER_IPCNS,		/* unshare(CLONE_NEWIPC) */
	SANDBOX_LAYER_NO_NEW_PRIVS,	/* PR_SET_NO_NEW_PRIVS 1 */
	SANDBOX_LAYER_LANDLOCK,		/* ruleset handling every known right */
	SANDBOX_LAYER_SECCOMP,		/* the filter, default kill-process */
	SANDBOX_N_LAYERS
};
#define SANDBOX_LAYER_BIT(l)	(1u << (l))
/* Layers that commonly are unavailable (Ubuntu restricts user namespaces). */
#define SANDBOX_LAYERS_NAMESPACES \
	(SANDBOX_LAYER_BIT(SANDBOX_LAYER_USERNS) | \
	 SANDBOX_LAYER_BIT(SANDBOX_LAYER_NETNS) | \
	 SANDBOX_LAYER_BIT(SANDBOX_LAYER_IPCNS))

/* What became of one layer. */
enum sandbox_status {
	SANDBOX_STATUS_NOT_TRIED,	/* not reached (mode off, earlier failure) */
	SANDBOX_STATUS_SKIPPED,		/* not part of this profile */
	SANDBOX_STATUS_APPLIED,		/* in force */
	SANDBOX_STATUS_MISSING,		/* the kernel lacks it or refuses it */
	SANDBOX_STATUS_FAILED		/* it exists but applying it failed */
};

/* What to apply.  Zero-initialise, then set what you need. */
struct sandbox_opts {
	enum sandbox_mode	 mode;
	enum sandbox_profile	 profile;
	const int		*keep_fds;	/* n_keep_fds descriptors to keep open */
	size_t			 n_keep_fds;
	unsigned		 allow_missing;	/* SANDBOX_LAYER_BIT mask, DEGRADED only */
	uint64_t		 max_address_space; /* bytes for RLIMIT_AS, 0 = unbounded */
	/*
	 * SANDBOX_PROFILE_HOOK only: NULL-terminated list of paths the hook
	 * may read (files or directory trees); NULL means "/".  /dev/null is
	 * always readable and writable.
	 */
	const char *const	*read_paths;
};

/* One layer's outcome. */
struct sandbox_layer_report {
	enum sandbox_status	status;
	char			detail[96];	/* e.g. "landlock ABI 6: fs+net+scopes" */
};

/*
 * What sandbox_enter() did.  Plain data (no pointers): it may be copied
 * or written to a pipe as is; on the wire, send its fields explicitly.
 * A report received from the engine is untrusted: every function here
 * treats unknown status values as "not applied" and never reads past
 * detail[] (it need not be NUL-terminated).
 */
struct sandbox_report {
	enum sandbox_mode		mode;
	enum sandbox_profile		profile;
	int				landlock_abi;	/* 0 when Landlock is absent */
	int				n_syscalls;	/* rules in the seccomp filter */
	struct sandbox_layer_report	layers[SANDBOX_N_LAYERS];
};

/*
 * Jail the calling process according to `opts`, applying in this order:
 * (1) close every descriptor not in opts->keep_fds; (2) rlimits;
 * (3) PR_SET_DUMPABLE 0; (4) new user, network and IPC namespaces;
 * (5) PR_SET_NO_NEW_PRIVS; (6) Landlock; (7) seccomp.  no_new_privs comes
 * before Landlock (ARCHITECTURE.md lists it after) because
 * landlock_restrict_self(2) demands it of a process without
 * CAP_SYS_ADMIN, which is every process where user namespaces are
 * unavailable.  Fills `report`
 * (which may be NULL) with every layer's status in every case, also on
 * failure.
 *
 * Returns CL_OK when every layer the mode requires is in force.  Returns
 * CL_ESANDBOX, with `err` naming the layer and the kernel's reason, when
 * a required layer is missing or failed (FULL: any layer; DEGRADED: any
 * layer not in opts->allow_missing), and CL_EINVAL for bad options.
 * Refuses with CL_ESANDBOX, before changing anything, when the process
 * has more than one thread: seccomp and Landlock only bind the calling
 * thread and its future children.  On failure the process is left
 * partly jailed (descriptors already closed cannot be reopened); the
 * caller must exit.
 *
 * With SANDBOX_PROFILE_ENGINE, after success the process may only use
 * the syscalls in cloister-sandbox(7): no open, no stat by path, no
 * stdio on a terminal (ioctl kills), and any forbidden call kills the
 * whole process with SIGSYS.  Query everything you need first (CPU
 * count via sched_getaffinity, model size via fstat).  Under
 * AddressSanitizer leave with _exit(): LeakSanitizer's ptrace is
 * forbidden.
 *
 * Not thread-safe by definition (single-threaded callers only).
 */
int	sandbox_enter(const struct sandbox_opts *opts,
	    struct sandbox_report *report, struct cl_err *err) CL_WUR;

/* Short names for messages and reports; never NULL. */
const char *sandbox_layer_name(enum sandbox_layer layer);
const char *sandbox_status_name(enum sandbox_status status);
const char *sandbox_mode_name(enum sandbox_mode mode);
const char *sandbox_profile_name(enum sandbox_profile profile);

/* True when every layer of the report's profile is applied. */
bool	sandbox_report_is_whole(const struct sandbox_report *report);

/*
 * Append a human-readable description of `report` to `out`, one line
 * per layer ("seccomp      applied   allowlist of 52 rules, kill-process").
 * Returns CL_OK or CL_ENOMEM.
 */
int	sandbox_report_format(const struct sandbox_report *report,
	    struct cl_buf *out) CL_WUR;

/*
 * Start `exe_path` with arguments `argv` (NULL-terminated, argv[0]
 * included) in a child process: empty environment, its own session and
 * process group, stdin and stdout on /dev/null, stderr inherited, and
 * pass_fds[i] at descriptor 3 + i; every other descriptor is closed.  The
 * child does not jail itself here: cloister-engine calls sandbox_enter()
 * as its first act.  On success stores the child's pid in *pid_out.
 *
 * Returns CL_OK once the program is running (exec succeeded), CL_EENGINE
 * with "cannot start engine 'path': reason" when exec failed (the child
 * is reaped), CL_EIO when fork or pipe failed, CL_EINVAL for bad
 * arguments.  Nothing is borrowed past the call.  Thread-safe apart from
 * the usual fork caveats; SIGCHLD handling is the caller's.
 */
int	sandbox_spawn(const char *exe_path, char *const argv[],
	    const int *pass_fds, size_t n_pass, pid_t *pid_out,
	    struct cl_err *err) CL_WUR;

/*
 * Start a policy hook: like sandbox_spawn() but stdin_fd, stdout_fd and
 * stderr_fd become descriptors 0, 1 and 2 (-1 means /dev/null), no other
 * descriptor is passed, and the child applies sandbox_enter() with `opts`
 * (profile must be SANDBOX_PROFILE_HOOK) right before execve().  The
 * child's report is copied to `report` (may be NULL).
 *
 * Returns CL_OK once the hook is running; CL_ESANDBOX (with the layer
 * and reason) when the jail could not be applied as the mode requires;
 * CL_EENGINE when exec failed; CL_EIO, CL_EINVAL as sandbox_spawn().
 */
int	sandbox_spawn_hook(const char *exe_path, char *const argv[],
	    int stdin_fd, int stdout_fd, int stderr_fd,
	    const struct sandbox_opts *opts, struct sandbox_report *report,
	    pid_t *pid_out, struct cl_err *err) CL_WUR;

/* How a child ended, as decoded by sandbox_wait(). */
enum sandbox_exit_state {
	SANDBOX_EXIT_RUNNING,	/* not ended yet (non-blocking wait only) */
	SANDBOX_EXIT_EXITED,	/* called exit; see code */
	SANDBOX_EXIT_SIGNALED	/* killed by a signal; see signal */
};
struct sandbox_exit {
	enum sandbox_exit_state	state;
	int			code;		/* exit status, EXITED */
	int			signal;		/* signal number, SIGNALED */
	bool			core_dumped;
	bool			seccomp_kill;	/* SIGSYS: a forbidden system call */
};

/*
 * Reap child `pid` (blocking when `block`, else WNOHANG), retrying on
 * EINTR, and decode its status into *out.  `what` names the child in
 * messages ("engine", "hook 'name'").
 *
 * Returns CL_OK when the child exited with status 0 or is still running
 * (out->state says which); CL_EENGINE when it exited non-zero or was
 * killed, with a message such as "engine exited with status 3", "engine
 * killed by signal 9 (Killed)" or "engine killed by the sandbox (SIGSYS):
 * it attempted a forbidden system call"; CL_EIO when waitpid failed.
 */
int	sandbox_wait(pid_t pid, const char *what, bool block,
	    struct sandbox_exit *out, struct cl_err *err);

/* Namespace comparison between a child and the caller. */
enum sandbox_ns {
	SANDBOX_NS_UNKNOWN,	/* the link could not be read */
	SANDBOX_NS_SAME,	/* the child shares the caller's namespace */
	SANDBOX_NS_NEW		/* the child has its own */
};

/*
 * A jail seen from outside, through /proc/<pid>/task/<tid>/status of
 * every thread and /proc/<pid>/ns/{user,net,ipc}.  Landlock and rlimits
 * leave no trace in /proc: they are the engine's own claim, in its HELLO.
 */
struct sandbox_attestation {
	pid_t		pid;
	int		n_threads;		/* threads examined */
	int		seccomp_mode_min;	/* lowest "Seccomp:" over threads */
	int		seccomp_filters_min;	/* lowest "Seccomp_filters:", -1 if absent */
	int		seccomp_filters_max;	/* highest "Seccomp_filters:" */
	int		baseline_filters;	/* the caller's own count, -1 if absent */
	bool		no_new_privs;		/* "NoNewPrivs: 1" on every thread */
	enum sandbox_ns	user_ns;
	enum sandbox_ns	net_ns;
	enum sandbox_ns	ipc_ns;
	char		detail[160];		/* one line for doctor and audit */
};

/*
 * Read the jail of process `pid` from outside into *out.  Take it only
 * after the child has said it is jailed (the engine's HELLO): before
 * that the child is legitimately unjailed and the reading races its
 * start-up.  Threads are read one by one, so a thread created during the
 * reading may be missed; it inherits its creator's filter anyway.
 *
 * Returns CL_OK, CL_ENOTFOUND when the process is gone, CL_EIO when /proc
 * cannot be read.  Needs the right to read the child's /proc entries
 * (same user; the engine's PR_SET_DUMPABLE 0 makes ns links root-only,
 * in which case they are SANDBOX_NS_UNKNOWN).
 */
int	sandbox_attest(pid_t pid, struct sandbox_attestation *out,
	    struct cl_err *err) CL_WUR;

/* What an attestation proves. */
enum sandbox_verdict {
	SANDBOX_VERDICT_NONE,		/* seccomp or no_new_privs absent somewhere */
	SANDBOX_VERDICT_DEGRADED,	/* seccomp + NNP everywhere, a layer missing */
	SANDBOX_VERDICT_WHOLE		/* everything visible and claimed is there */
};
const char *sandbox_verdict_name(enum sandbox_verdict verdict);

/*
 * Judge attestation `a` against the engine's claimed report `claimed`
 * (may be NULL: then Landlock counts as unproven and the verdict is at
 * most DEGRADED).  Whole: on every thread Seccomp 2, one filter more than
 * the caller's baseline, NoNewPrivs 1; user, net and IPC namespaces new;
 * Landlock claimed applied.
 */
enum sandbox_verdict sandbox_verdict(const struct sandbox_attestation *a,
	    const struct sandbox_report *claimed);

/*
 * Check that attestation `a` satisfies `mode`: FULL requires a WHOLE
 * verdict; DEGRADED requires that every layer the child claims as
 * applied and that /proc can show (seccomp, no_new_privs, namespaces) is
 * really there; OFF requires nothing.  Returns CL_OK or CL_ESANDBOX with
 * a message saying what is missing (a lying or broken engine).
 */
int	sandbox_attestation_check(const struct sandbox_attestation *a,
	    enum sandbox_mode mode, const struct sandbox_report *claimed,
	    struct cl_err *err) CL_WUR;

/*
 * Testing hook: layers in `mask` (SANDBOX_LAYER_BIT) behave as if the
 * kernel did not offer them (status MISSING, "unavailable (test hook)"),
 * so tests can prove that FULL mode fails closed and DEGRADED reports.
 * It can only weaken what sandbox_enter() applies, visibly: the report and
 * the broker's attestation both show the layer missing.  Process-global;
 * call it before sandbox_enter(), single-threaded.
 */
void	sandbox_test_set_unavailable(unsigned mask);

#endif /* CLOISTER_SANDBOX_H */
