/*
 * seccomp.c - the system call tables and the libseccomp code that loads them.
 *
 * Divisions: the engine allowlist (one screen, a reason per row), the
 * hook denylist, and sandbox_seccomp_apply().  Both tables are mirrored
 * row by row in man/cloister-sandbox.7; tests/check_sandbox.c fails when
 * the two drift apart.
 *
 * Common to both filters: the default action for a foreign architecture
 * is kill-process, so i386 calls through `int $0x80` die; libseccomp's
 * native x86-64 filter also sends any number with the x32 bit
 * (0x40000000) to that action.  Kill means SECCOMP_RET_KILL_PROCESS: the
 * whole process dies with SIGSYS, never a lone thread.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <seccomp.h>

#include "sandbox/sandbox_impl.h"

/*
 * The engine's allowlist.  Everything not listed kills the process.
 * Measured with strace on glibc 2.36 (pthread_create, malloc, mmap,
 * condition variables, send/recv); keep it that small.
 */
static const struct sc_rule engine_rules[] = {
	/* I/O, only on descriptors the broker passed (no call here makes one) */
	{ "read",		SC_ALLOW, 0, 0, "IPC socket and model header" },
	{ "write",		SC_ALLOW, 0, 0, "IPC socket and diagnostics on stderr" },
	{ "pread64",		SC_ALLOW, 0, 0, "model header without moving the offset" },
	{ "recvmsg",		SC_ALLOW, 0, 0, "IPC frames" },
	{ "sendmsg",		SC_ALLOW, 0, 0, "IPC frames from several buffers" },
	{ "recvfrom",		SC_ALLOW, 0, 0, "recv(3) on the IPC socket" },
	{ "sendto",		SC_ALLOW, 0, 0, "send(3) on the IPC socket" },
	{ "close",		SC_ALLOW, 0, 0, "dropping a descriptor" },
	{ "poll",		SC_ALLOW, 0, 0, "waiting on the IPC socket" },
	{ "ppoll",		SC_ALLOW, 0, 0, "waiting on the IPC socket (poll(2) on arm64)" },
	{ "newfstatat",		SC_ALLOW_FLAGS_EQ, 3, AT_EMPTY_PATH, "fstat(3) of the model; a path reveals metadata at most" },
	{ "newfstatat",		SC_ERRNO_FLAGS_NE, 3, AT_EMPTY_PATH, "stat(2) by path fails softly (libc probes)" },
	/* memory */
	{ "mmap",		SC_ALLOW_NOEXEC, 2, 0, "model mapping, malloc, thread stacks; never PROT_EXEC" },
	{ "mprotect",		SC_ALLOW_NOEXEC, 2, 0, "thread stack guard pages; never PROT_EXEC" },
	{ "munmap",		SC_ALLOW, 0, 0, "releasing mappings" },
	{ "mremap",		SC_ALLOW, 0, 0, "realloc(3) of large blocks" },
	{ "madvise",		SC_ALLOW, 0, 0, "malloc trimming, freeing dead thread stacks" },
	{ "brk",		SC_ALLOW, 0, 0, "malloc(3) heap" },
	/* threads */
	{ "clone",		SC_ALLOW_THREAD, 0, 0, "pthread_create(3); a new process or namespace kills" },
	{ "clone3",		SC_ERRNO, 0, ENOSYS, "flags are in memory seccomp cannot read; libc falls back to clone" },
	{ "futex",		SC_ALLOW, 0, 0, "mutexes, condition variables, thread join" },
	{ "set_robust_list",	SC_ALLOW, 0, 0, "every new thread registers its robust mutexes" },
	{ "rseq",		SC_ALLOW, 0, 0, "every new thread registers restartable sequences" },
	{ "sched_yield",	SC_ALLOW, 0, 0, "spin-wait back-off in the thread pool" },
	{ "sched_getaffinity",	SC_ALLOW, 0, 0, "how many CPUs the thread pool may use" },
	{ "exit",		SC_ALLOW, 0, 0, "a thread ends" },
	{ "exit_group",		SC_ALLOW, 0, 0, "the process ends" },
	/* signals: only to ourselves */
	{ "rt_sigaction",	SC_ALLOW, 0, 0, "libc's internal thread signal; abort(3) resets SIGABRT" },
	{ "rt_sigprocmask",	SC_ALLOW, 0, 0, "pthread_create(3) and abort(3) block signals" },
	{ "rt_sigreturn",	SC_ALLOW, 0, 0, "returning from a signal handler" },
	{ "restart_syscall",	SC_ALLOW, 0, 0, "the kernel resuming an interrupted sleep" },
	{ "getpid",		SC_ALLOW, 0, 0, "abort(3) and raise(3) name this process" },
	{ "gettid",		SC_ALLOW, 0, 0, "abort(3) and raise(3) name this thread" },
	{ "tgkill",		SC_ALLOW_SELF, 0, 0, "abort(3) and raise(3); any other process kills" },
	/* time, randomness, accounting */
	{ "clock_gettime",	SC_ALLOW, 0, 0, "timings, when the vDSO does not answer" },
	{ "clock_nanosleep",	SC_ALLOW, 0, 0, "sleeping" },
	{ "getrandom",		SC_ALLOW, 0, 0, "sampler seed" },
	{ "getrusage",		SC_ALLOW, 0, 0, "peak memory for the DONE frame" },
};

/*
 * Sanitizer builds only (never shipped): AddressSanitizer's runtime needs
 * these inside the jail.  Not mirrored row by row in the man page, which
 * mentions them in prose; LeakSanitizer (ptrace) stays impossible.
 */
#if defined(__SANITIZE_ADDRESS__)
static const struct sc_rule sanitizer_rules[] = {
	{ "sigaltstack",	SC_ALLOW, 0, 0, "ASan swaps signal stacks as threads start and end" },
};
#endif

/*
 * A policy hook's denylist.  Everything not listed is allowed: the hook
 * may be any program, and its filesystem (read-only) and network (none)
 * are held by Landlock and the namespaces.  These calls kill because no
 * hook needs them and each opens a door those layers do not close.
 */
static const struct sc_rule hook_rules[] = {
	/* network: a third layer under the empty namespace and Landlock */
	{ "socket",		SC_KILL, 0, 0, "no network, no netlink, no raw packets" },
	{ "connect",		SC_KILL, 0, 0, "no network" },
	{ "bind",		SC_KILL, 0, 0, "no network" },
	{ "listen",		SC_KILL, 0, 0, "no network" },
	{ "accept",		SC_KILL, 0, 0, "no network" },
	{ "accept4",		SC_KILL, 0, 0, "no network" },
	/* other processes */
	{ "ptrace",		SC_KILL, 0, 0, "no debugging of other processes" },
	{ "process_vm_readv",	SC_KILL, 0, 0, "no reading other processes' memory" },
	{ "process_vm_writev",	SC_KILL, 0, 0, "no writing other processes' memory" },
	{ "kcmp",		SC_KILL, 0, 0, "no probing other processes' resources" },
	{ "pidfd_getfd",	SC_KILL, 0, 0, "no stealing other processes' descriptors" },
	/* escaping the jail */
	{ "unshare",		SC_KILL, 0, 0, "no new namespaces (capabilities inside them)" },
	{ "setns",		SC_KILL, 0, 0, "no joining other namespaces" },
	{ "mount",		SC_KILL, 0, 0, "no mounts" },
	{ "umount2",		SC_KILL, 0, 0, "no unmounts" },
	{ "pivot_root",		SC_KILL, 0, 0, "no root changes" },
	{ "chroot",		SC_KILL, 0, 0, "no root changes" },
	{ "open_tree",		SC_KILL, 0, 0, "no mount API" },
	{ "move_mount",		SC_KILL, 0, 0, "no mount API" },
	{ "fsopen",		SC_KILL, 0, 0, "no mount API" },
	{ "fsmount",		SC_KILL, 0, 0, "no mount API" },
	{ "fspick",		SC_KILL, 0, 0, "no mount API" },
	{ "fsconfig",		SC_KILL, 0, 0, "no mount API" },
	{ "mount_setattr",	SC_KILL, 0, 0, "no mount API" },
	{ "open_by_handle_at",	SC_KILL, 0, 0, "bypasses path checks" },
	{ "name_to_handle_at",	SC_KILL, 0, 0, "pairs with open_by_handle_at" },
	{ "ioctl",		SC_KILL_ARG_EQ, 1, TIOCSTI, "no typing into a terminal (CVE-2017-5226)" },
	{ "ioctl",		SC_KILL_ARG_EQ, 1, TIOCLINUX, "no console tricks" },
	{ "personality",	SC_KILL, 0, 0, "no READ_IMPLIES_EXEC" },
	/* kernel attack surface no hook needs */
	{ "bpf",		SC_KILL, 0, 0, "no BPF programs" },
	{ "perf_event_open",	SC_KILL, 0, 0, "no performance counters" },
	{ "userfaultfd",	SC_KILL, 0, 0, "no page-fault handling (exploit aid)" },
	{ "io_uring_setup",	SC_KILL, 0, 0, "io_uring bypasses seccomp" },
	{ "io_uring_enter",	SC_KILL, 0, 0, "io_uring bypasses seccomp" },
	{ "io_uring_register",	SC_KILL, 0, 0, "io_uring bypasses seccomp" },
	{ "keyctl",		SC_KILL, 0, 0, "no kernel keyrings" },
	{ "add_key",		SC_KILL, 0, 0, "no kernel keyrings" },
	{ "request_key",	SC_KILL, 0, 0, "no kernel keyrings" },
	{ "memfd_create",	SC_KILL, 0, 0, "no anonymous executables" },
	{ "init_module",	SC_KILL, 0, 0, "no kernel modules" },
	{ "finit_module",	SC_KILL, 0, 0, "no kernel modules" },
	{ "delete_module",	SC_KILL, 0, 0, "no kernel modules" },
	{ "kexec_load",		SC_KILL, 0, 0, "no new kernels" },
	{ "kexec_file_load",	SC_KILL, 0, 0, "no new kernels" },
	{ "iopl",		SC_KILL, 0, 0, "no port I/O" },
	{ "ioperm",		SC_KILL, 0, 0, "no port I/O" },
	{ "syslog",		SC_KILL, 0, 0, "no kernel log" },
	{ "acct",		SC_KILL, 0, 0, "no process accounting" },
	{ "quotactl",		SC_KILL, 0, 0, "no quotas" },
	{ "swapon",		SC_KILL, 0, 0, "no swap" },
	{ "swapoff",		SC_KILL, 0, 0, "no swap" },
	{ "reboot",		SC_KILL, 0, 0, "no reboot" },
	{ "settimeofday",	SC_KILL, 0, 0, "no clock changes" },
	{ "clock_settime",	SC_KILL, 0, 0, "no clock changes" },
	{ "clock_adjtime",	SC_KILL, 0, 0, "no clock changes" },
	{ "adjtimex",		SC_KILL, 0, 0, "no clock changes" },
	{ "fanotify_init",	SC_KILL, 0, 0, "no watching the filesystem" },
};

/* Clone flags a thread never has; any of them kills. */
#define CLONE_NOT_THREAD (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | \
	CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	CLONE_PTRACE | CLONE_VFORK | CLONE_PARENT | CLONE_UNTRACED | \
	CLONE_PIDFD)
#define CLONE_THREAD_NEEDS (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)

const struct sc_rule *
sandbox_seccomp_table(enum sandbox_profile profile, size_t *n_out)
{
	if (profile == SANDBOX_PROFILE_HOOK) {
		*n_out = CL_ARRAY_LEN(hook_rules);
		return hook_rules;
	}
	*n_out = CL_ARRAY_LEN(engine_rules);
	return engine_rules;
}

/* Add one table row to `ctx`.  Returns 0 or a negative errno. */
static int
add_rule(scmp_filter_ctx ctx, const struct sc_rule *rule, int nr)
{
	switch (rule->action) {
	case SC_ALLOW:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	case SC_ALLOW_NOEXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
		    SCMP_CMP(rule->arg, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case SC_ALLOW_THREAD:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
		    SCMP_CMP(rule->arg, SCMP_CMP_MASKED_EQ,
		    CLONE_THREAD_NEEDS | CLONE_NOT_THREAD, CLONE_THREAD_NEEDS));
	case SC_ALLOW_SELF:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
		    SCMP_CMP(rule->arg, SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	case SC_ALLOW_FLAGS_EQ:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
		    SCMP_CMP(rule->arg, SCMP_CMP_MASKED_EQ, 0xffffffffUL,
		    rule->val));
	case SC_ERRNO_FLAGS_NE:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 1,
		    SCMP_CMP(rule->arg, SCMP_CMP_NE, rule->val));
	case SC_ERRNO:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO((uint16_t)rule->val),
		    nr, 0);
	case SC_KILL:
		return seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0);
	case SC_KILL_ARG_EQ:
		/* ioctl's request is an unsigned int: compare the low word. */
		return seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 1,
		    SCMP_CMP(rule->arg, SCMP_CMP_MASKED_EQ, 0xffffffffUL,
		    rule->val));
	}
	return -EINVAL;
}

int
sandbox_seccomp_apply(enum sandbox_profile profile,
    struct sandbox_layer_report *lr, int *n_rules_out, struct cl_err *err)
{
	scmp_filter_ctx ctx = NULL;
	const struct sc_rule *rules;
	size_t i, n;
	int nr, rc, n_added = 0, r = CL_EINTERNAL;
	bool engine = profile == SANDBOX_PROFILE_ENGINE;

	*n_rules_out = 0;
	ctx = seccomp_init(engine ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ALLOW);
	if (ctx == NULL) {
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "libseccomp cannot build a filter");
		r = cl_errf(err, CL_ESANDBOX, "seccomp: %s", lr->detail);
		goto out;
	}
	/*
	 * Kill on a foreign ABI; we set no_new_privs ourselves (its own
	 * layer, reported); TSYNC makes the load fail if another thread
	 * exists instead of leaving it unfiltered.
	 */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) != 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) != 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0) {
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "cannot set filter attributes: %s", strerror(-rc));
		r = cl_errf(err, CL_ESANDBOX, "seccomp: %s", lr->detail);
		goto out;
	}
	rules = sandbox_seccomp_table(profile, &n);
	for (i = 0; i < n; i++) {
		nr = seccomp_syscall_resolve_name(rules[i].name);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue;	/* not a system call on this architecture */
		if ((rc = add_rule(ctx, &rules[i], nr)) != 0) {
			lr->status = SANDBOX_STATUS_FAILED;
			snprintf(lr->detail, sizeof(lr->detail),
			    "cannot add rule for %s: %s", rules[i].name,
			    strerror(-rc));
			r = cl_errf(err, CL_ESANDBOX, "seccomp: %s", lr->detail);
			goto out;
		}
		n_added++;
	}
#if defined(__SANITIZE_ADDRESS__)
	for (i = 0; engine && i < CL_ARRAY_LEN(sanitizer_rules); i++) {
		nr = seccomp_syscall_resolve_name(sanitizer_rules[i].name);
		if (nr < 0 || add_rule(ctx, &sanitizer_rules[i], nr) != 0)
			continue;
		n_added++;
	}
#endif
	if ((rc = seccomp_load(ctx)) != 0) {
		/* EINVAL: the kernel has no filter mode (CONFIG_SECCOMP_FILTER). */
		lr->status = (rc == -EINVAL || rc == -ENOSYS) ?
		    SANDBOX_STATUS_MISSING : SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "cannot load the filter: %s", strerror(-rc));
		r = cl_errf(err, CL_ESANDBOX, "seccomp: %s", lr->detail);
		goto out;
	}
	lr->status = SANDBOX_STATUS_APPLIED;
	snprintf(lr->detail, sizeof(lr->detail), engine ?
	    "allowlist of %d rules, kill-process, foreign ABIs killed" :
	    "denylist of %d rules, kill-process, foreign ABIs killed",
	    n_added);
	*n_rules_out = n_added;
	r = CL_OK;
out:
	if (ctx != NULL)
		seccomp_release(ctx);
	return r;
}
