/*
 * sandbox_impl.h - internals shared by the sandbox/ files and its tests.
 *
 * Not a public interface: only the sandbox/ sources and tests/check_sandbox.c
 * include it.  It exposes each layer on its own so that tests can prove a
 * layer alone (Landlock without seccomp), the seccomp tables so that a
 * test can hold man/cloister-sandbox.7 to them, and a hook that makes
 * named layers "unavailable" so that fail-closed paths run on a kernel
 * that has everything.
 */
#ifndef CLOISTER_SANDBOX_IMPL_H
#define CLOISTER_SANDBOX_IMPL_H

#include "sandbox/sandbox.h"

/* What a seccomp table row does with its system call. */
enum sc_action {
	SC_ALLOW,		/* allowed, any arguments */
	SC_ALLOW_NOEXEC,	/* allowed when arg `arg` has no PROT_EXEC bit */
	SC_ALLOW_THREAD,	/* clone: allowed for a thread, nothing else */
	SC_ALLOW_SELF,		/* allowed when arg `arg` is our own pid */
	SC_ALLOW_FLAGS_EQ,	/* allowed when arg `arg` equals `val` ... */
	SC_ERRNO_FLAGS_NE,	/* ... else fails with EACCES (pairs with it) */
	SC_ERRNO,		/* fails with errno `val` instead of killing */
	SC_KILL,		/* kills the process (denylist profile) */
	SC_KILL_ARG_EQ		/* kills when arg `arg` equals `val` */
};

/* One row of a seccomp table: one-line reason included. */
struct sc_rule {
	const char	*name;		/* system call, libseccomp spelling */
	enum sc_action	 action;
	unsigned	 arg;		/* argument index for conditional rows */
	unsigned long	 val;		/* errno for SC_ERRNO, else the value */
	const char	*why;		/* the reason, mirrored in the man page */
};

/*
 * The table for `profile` and its length.  Engine: an allowlist (anything
 * not listed kills).  Hook: a denylist (anything not listed is allowed;
 * Landlock and namespaces carry the rest).
 */
const struct sc_rule *sandbox_seccomp_table(enum sandbox_profile profile,
	    size_t *n_out);

/*
 * Build and load the filter for `profile` on the calling thread (TSYNC:
 * fails if other threads exist).  Does not set no_new_privs itself.
 * Fills `lr`.  Returns CL_OK, or CL_ESANDBOX with `err` set.
 */
int	sandbox_seccomp_apply(enum sandbox_profile profile,
	    struct sandbox_layer_report *lr, int *n_rules_out,
	    struct cl_err *err);

/*
 * The running kernel's Landlock ABI version: > 0, or 0 when Landlock is
 * absent or disabled (then *errno_out holds the kernel's reason).
 */
int	sandbox_landlock_abi(int *errno_out);

/*
 * Create and enforce the Landlock ruleset for `profile` (engine: every
 * right handled, no rules; hook: read access beneath `read_paths`, NULL
 * meaning "/", plus /dev/null read-write).  Needs no_new_privs or
 * CAP_SYS_ADMIN.  Fills `lr` and *abi_out.  Returns CL_OK, CL_ESANDBOX
 * (layer missing: lr->status MISSING; or failed: FAILED).
 */
int	sandbox_landlock_apply(enum sandbox_profile profile,
	    const char *const *read_paths, struct sandbox_layer_report *lr,
	    int *abi_out, struct cl_err *err);

bool	sandbox_test_is_unavailable(enum sandbox_layer layer);

/*
 * Close every descriptor except keep[0..n_keep) (at most 64).  Returns 0
 * or an errno value.  Async-signal-safe: used between fork and exec.
 */
int	sandbox_close_fds_except(const int *keep, size_t n_keep);

/* Count the calling process's threads; -1 when it cannot be told. */
int	sandbox_thread_count(void);

#endif /* CLOISTER_SANDBOX_IMPL_H */
