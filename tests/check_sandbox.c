/*
 * check_sandbox.c - tests for sandbox/: every forbidden action dies, every
 * allowed one works, Landlock holds alone, missing layers fail closed,
 * spawning and attestation see what they should.
 *
 * Divisions: helpers (a jailed grandchild per case: sandbox_enter closes
 * Check's own descriptors, so jailed code reports through its exit
 * status); forbidden system calls; allowed operations; Landlock alone;
 * fail-closed and reports; spawn, wait and attestation (the test binary
 * re-executes itself as the jailed engine or hook, see main()); hooks;
 * the man page mirror.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "sandbox/sandbox_impl.h"
#include "util/util.h"

extern char **environ;

/* Mode the kernel allows for "as jailed as possible" (set in main). */
static enum sandbox_mode g_mode = SANDBOX_MODE_FULL;
static unsigned g_allow = 0;
static char g_self[4096];	/* this test binary, for re-execution */
static char g_mode_arg[16], g_allow_arg[16];	/* g_mode, g_allow for it */

#define JAIL_FAILED	90	/* exit code: sandbox_enter refused */

/* Inside a jailed child: report a failed expectation and leave. */
#define JCHECK(cond) do {						\
	if (!(cond)) {							\
		char jb_[160];						\
		int jn_ = snprintf(jb_, sizeof(jb_),			\
		    "jailed check failed at line %d: %s\n", __LINE__,	\
		    #cond);						\
		if (write(2, jb_, (size_t)jn_) < 0)			\
			_exit(99);					\
		_exit(100 + (__LINE__ % 100));				\
	}								\
} while (0)

static void
jail(const int *keep, size_t n_keep)
{
	struct sandbox_opts o;
	struct cl_err err = CL_ERR_INIT;
	int fds[16];
	size_t n = 0, i;

	fds[n++] = 2;
	for (i = 0; i < n_keep && n < CL_ARRAY_LEN(fds); i++)
		fds[n++] = keep[i];
	memset(&o, 0, sizeof(o));
	o.mode = g_mode;
	o.profile = SANDBOX_PROFILE_ENGINE;
	o.keep_fds = fds;
	o.n_keep_fds = n;
	o.allow_missing = g_allow;
	if (sandbox_enter(&o, NULL, &err) != CL_OK) {
		dprintf(2, "sandbox_enter: %s\n", err.msg);
		_exit(JAIL_FAILED);
	}
}

/* Run fn(arg) in a jailed grandchild; return its wait status. */
static int
run_jailed(void (*fn)(void *), void *arg, const int *keep, size_t n_keep)
{
	pid_t pid;
	int st;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		jail(keep, n_keep);
		fn(arg);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static const char *
describe(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "status %#x", st);
	return buf;
}

static void
expect_signal(void (*fn)(void *), void *arg, int sig)
{
	char d[64];
	int st = run_jailed(fn, arg, NULL, 0);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sig,
	    "expected death by signal %d, got %s", sig,
	    describe(st, d, sizeof(d)));
}

#define expect_sigsys(fn, arg) expect_signal((fn), (arg), SIGSYS)

static void
expect_ok_keep(void (*fn)(void *), void *arg, const int *keep, size_t n)
{
	char d[64];
	int st = run_jailed(fn, arg, keep, n);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "expected clean exit, got %s", describe(st, d, sizeof(d)));
}

/* ---- forbidden system calls: each must kill with SIGSYS ---- */

static void do_socket_inet(void *a) { (void)a; syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }
static void do_socket_inet6(void *a) { (void)a; syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0); }
static void do_socket_unix(void *a) { (void)a; syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); }
static void do_socket_netlink(void *a) { (void)a; syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0); }
static void do_socket_packet(void *a) { (void)a; syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0); }
static void do_socketpair(void *a) { int sv[2]; (void)a; syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv); }
static void do_connect(void *a) { (void)a; syscall(SYS_connect, 2, NULL, 0); }
static void do_bind(void *a) { (void)a; syscall(SYS_bind, 2, NULL, 0); }
static void do_listen(void *a) { (void)a; syscall(SYS_listen, 2, 1); }
#ifdef SYS_open
static void do_open_existing(void *a) { (void)a; syscall(SYS_open, "/etc/passwd", O_RDONLY); }
static void do_open_new(void *a) { (void)a; syscall(SYS_open, "/tmp/cloister-sandbox-new", O_WRONLY | O_CREAT, 0600); }
#endif
#ifdef SYS_creat
static void do_creat(void *a) { (void)a; syscall(SYS_creat, "/tmp/cloister-sandbox-creat", 0600); }
#endif
static void do_openat_existing(void *a) { (void)a; syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY); }
static void do_openat_new(void *a) { (void)a; syscall(SYS_openat, AT_FDCWD, "/tmp/cloister-sandbox-new", O_WRONLY | O_CREAT, 0600); }
static void do_openat2(void *a) { char how[24] = { 0 }; (void)a; syscall(SYS_openat2, AT_FDCWD, "/etc/passwd", how, sizeof(how)); }
static void do_execve(void *a) { char *argv[] = { "/bin/true", NULL }; (void)a; syscall(SYS_execve, "/bin/true", argv, environ); }
static void do_execveat(void *a) { char *argv[] = { "/bin/true", NULL }; (void)a; syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, environ, 0); }
#ifdef SYS_fork
static void do_fork(void *a) { (void)a; if (syscall(SYS_fork) == 0) _exit(0); }
#endif
#ifdef SYS_vfork
static void do_vfork(void *a) { (void)a; syscall(SYS_vfork); }
#endif
static void do_clone_process(void *a) { (void)a; if (syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) == 0) _exit(0); }
static void do_clone_thread_newuser(void *a) { (void)a; syscall(SYS_clone, CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_NEWUSER, 0, 0, 0, 0); }
static void do_ptrace(void *a) { (void)a; syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0); }
static void do_process_vm_readv(void *a)
{
	char buf[8];
	struct iovec l = { buf, sizeof(buf) }, r = { buf, sizeof(buf) };

	(void)a;
	syscall(SYS_process_vm_readv, getppid(), &l, 1, &r, 1, 0);
}
static void do_kill_parent(void *a) { (void)a; syscall(SYS_kill, getppid(), 0); }
static void do_kill_self(void *a) { (void)a; syscall(SYS_kill, getpid(), 0); }
static void do_tgkill_parent(void *a) { (void)a; syscall(SYS_tgkill, getppid(), getppid(), 0); }
static void do_tkill(void *a) { (void)a; syscall(SYS_tkill, getppid(), 0); }
static void do_mmap_exec(void *a) { (void)a; syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }
static void do_mmap_rwx(void *a) { (void)a; syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }
static void do_mprotect_exec(void *a)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)a;
	JCHECK(p != MAP_FAILED);
	syscall(SYS_mprotect, p, 4096, PROT_READ | PROT_EXEC);
}
static void do_pkey_mprotect(void *a) { (void)a; syscall(SYS_pkey_mprotect, NULL, 0, PROT_READ | PROT_EXEC, -1); }
static void do_ioctl(void *a) { char buf[64]; (void)a; syscall(SYS_ioctl, 2, 0x5401 /* TCGETS */, buf); }
static void do_mount(void *a) { (void)a; syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL); }
static void do_unshare(void *a) { (void)a; syscall(SYS_unshare, CLONE_NEWNET); }
static void do_setns(void *a) { (void)a; syscall(SYS_setns, 0, 0); }
static void do_setuid(void *a) { (void)a; syscall(SYS_setuid, 0); }
static void do_chdir(void *a) { (void)a; syscall(SYS_chdir, "/"); }
static void do_chroot(void *a) { (void)a; syscall(SYS_chroot, "/"); }
static void do_memfd(void *a) { (void)a; syscall(SYS_memfd_create, "x", 0); }
static void do_io_uring(void *a) { char p[120] = { 0 }; (void)a; syscall(SYS_io_uring_setup, 1, p); }
static void do_bpf(void *a) { (void)a; syscall(SYS_bpf, 0, NULL, 0); }
static void do_perf(void *a) { (void)a; syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0); }
static void do_userfaultfd(void *a) { (void)a; syscall(SYS_userfaultfd, 0); }
static void do_prctl(void *a) { (void)a; syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0); }
static void do_fstat_by_nr(void *a) { struct stat st; (void)a; syscall(SYS_fstat, 2, &st); }
static void do_keyctl(void *a) { (void)a; syscall(SYS_keyctl, 0, 0, 0, 0, 0); }

#if defined(__x86_64__)
/* The i386 ABI through int $0x80: eax = 20 is i386 getpid. */
static void
do_int80(void *a)
{
	long ret = 20;

	(void)a;
	__asm__ volatile ("int $0x80" : "+a"(ret) : : "memory");
}

/* The x32 ABI: the number with __X32_SYSCALL_BIT, 39 is getpid. */
static void do_x32(void *a) { (void)a; syscall(39 | 0x40000000); }
#endif

#define FORBIDDEN(name, fn)						\
START_TEST(name)							\
{									\
	expect_sigsys(fn, NULL);					\
}									\
END_TEST

FORBIDDEN(test_socket_inet, do_socket_inet)
FORBIDDEN(test_socket_inet6, do_socket_inet6)
FORBIDDEN(test_socket_unix, do_socket_unix)
FORBIDDEN(test_socket_netlink, do_socket_netlink)
FORBIDDEN(test_socket_packet, do_socket_packet)
FORBIDDEN(test_socketpair, do_socketpair)
FORBIDDEN(test_connect, do_connect)
FORBIDDEN(test_bind, do_bind)
FORBIDDEN(test_listen, do_listen)
#ifdef SYS_open
FORBIDDEN(test_open_existing, do_open_existing)
FORBIDDEN(test_open_new, do_open_new)
#endif
#ifdef SYS_creat
FORBIDDEN(test_creat, do_creat)
#endif
FORBIDDEN(test_openat_existing, do_openat_existing)
FORBIDDEN(test_openat_new, do_openat_new)
FORBIDDEN(test_openat2, do_openat2)
FORBIDDEN(test_execve, do_execve)
FORBIDDEN(test_execveat, do_execveat)
#ifdef SYS_fork
FORBIDDEN(test_fork, do_fork)
#endif
#ifdef SYS_vfork
FORBIDDEN(test_vfork, do_vfork)
#endif
FORBIDDEN(test_clone_process, do_clone_process)
FORBIDDEN(test_clone_thread_newuser, do_clone_thread_newuser)
FORBIDDEN(test_ptrace, do_ptrace)
FORBIDDEN(test_process_vm_readv, do_process_vm_readv)
FORBIDDEN(test_kill_parent, do_kill_parent)
FORBIDDEN(test_kill_self, do_kill_self)
FORBIDDEN(test_tgkill_parent, do_tgkill_parent)
FORBIDDEN(test_tkill, do_tkill)
FORBIDDEN(test_mmap_exec, do_mmap_exec)
FORBIDDEN(test_mmap_rwx, do_mmap_rwx)
FORBIDDEN(test_mprotect_exec, do_mprotect_exec)
FORBIDDEN(test_pkey_mprotect, do_pkey_mprotect)
FORBIDDEN(test_ioctl, do_ioctl)
FORBIDDEN(test_mount, do_mount)
FORBIDDEN(test_unshare, do_unshare)
FORBIDDEN(test_setns, do_setns)
FORBIDDEN(test_setuid, do_setuid)
FORBIDDEN(test_chdir, do_chdir)
FORBIDDEN(test_chroot, do_chroot)
FORBIDDEN(test_memfd_create, do_memfd)
FORBIDDEN(test_io_uring_setup, do_io_uring)
FORBIDDEN(test_bpf, do_bpf)
FORBIDDEN(test_perf_event_open, do_perf)
FORBIDDEN(test_userfaultfd, do_userfaultfd)
FORBIDDEN(test_prctl, do_prctl)
FORBIDDEN(test_fstat_by_number, do_fstat_by_nr)
FORBIDDEN(test_keyctl, do_keyctl)

#if defined(__x86_64__)
/* int $0x80 only exists with IA32 emulation; without it there is no ABI to kill. */
static bool
have_ia32(void)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		do_int80(NULL);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

START_TEST(test_int80_i386)
{
	if (!have_ia32()) {
		fprintf(stderr, "note: no IA32 emulation; int $0x80 not tested\n");
		return;
	}
	expect_sigsys(do_int80, NULL);
}
END_TEST

FORBIDDEN(test_x32, do_x32)
#endif

/* ---- calls that fail softly instead of killing ---- */

static void
do_clone3_enosys(void *a)
{
	char args[88] = { 0 };

	(void)a;
	errno = 0;
	JCHECK(syscall(SYS_clone3, args, sizeof(args)) == -1);
	JCHECK(errno == ENOSYS);
}


START_TEST(test_clone3_enosys)
{
	expect_ok_keep(do_clone3_enosys, NULL, NULL, 0);
}
END_TEST


/* ---- what the engine needs must work in the jail ---- */

struct rendezvous {
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
	int		arrived;
	int		go;
	long		sum;
};

static void *
worker(void *p)
{
	struct rendezvous *rv = p;
	long i, s = 0;
	char *buf;

	for (i = 0; i < 100000; i++)
		s += i;
	buf = malloc(1 << 20);		/* a thread arena */
	if (buf == NULL)
		return NULL;
	memset(buf, 7, 1 << 20);
	s += buf[12345];
	free(buf);
	pthread_mutex_lock(&rv->mu);
	rv->arrived++;
	rv->sum += s;
	pthread_cond_broadcast(&rv->cv);
	while (!rv->go)
		pthread_cond_wait(&rv->cv, &rv->mu);
	pthread_mutex_unlock(&rv->mu);
	return p;
}

static void
do_threads(void *a)
{
	struct rendezvous rv = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0, 0, 0 };
	pthread_t t[4];
	void *ret;
	int i;

	(void)a;
	for (i = 0; i < 4; i++)
		JCHECK(pthread_create(&t[i], NULL, worker, &rv) == 0);
	pthread_mutex_lock(&rv.mu);
	while (rv.arrived < 4)
		pthread_cond_wait(&rv.cv, &rv.mu);
	rv.go = 1;			/* release them all at once */
	pthread_cond_broadcast(&rv.cv);
	pthread_mutex_unlock(&rv.mu);
	for (i = 0; i < 4; i++) {
		JCHECK(pthread_join(t[i], &ret) == 0);
		JCHECK(ret == &rv);
	}
	/* sum of 0..99999 plus 7, per thread */
	JCHECK(rv.sum == 4 * (4999950000L + 7));
}

START_TEST(test_threads_in_jail)
{
	expect_ok_keep(do_threads, NULL, NULL, 0);
}
END_TEST

static void
do_malloc(void *a)
{
	size_t big = 256u << 20, i;
	char *p, *q, *small[1000];

	(void)a;
	for (i = 0; i < CL_ARRAY_LEN(small); i++) {
		small[i] = malloc(16 + i);
		JCHECK(small[i] != NULL);
		memset(small[i], (int)i, 16 + i);
	}
	for (i = 0; i < CL_ARRAY_LEN(small); i++)
		free(small[i]);
	p = malloc(big);			/* mmap'd chunk */
	JCHECK(p != NULL);
	for (i = 0; i < big; i += 4096)
		p[i] = (char)i;
	q = realloc(p, 2 * big);		/* mremap */
	JCHECK(q != NULL);
	JCHECK(q[4096 * 3] == (char)(4096 * 3));
	free(q);
}

START_TEST(test_malloc_in_jail)
{
	expect_ok_keep(do_malloc, NULL, NULL, 0);
}
END_TEST

static const char model_bytes[] = "GGUF\x03\0\0\0 a pretend model header";

static void
do_mmap_file(void *a)
{
	int fd = *(int *)a;
	char hdr[8];
	char *p;

	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	JCHECK(p != MAP_FAILED);
	JCHECK(memcmp(p, model_bytes, sizeof(model_bytes)) == 0);
	JCHECK(munmap(p, 4096) == 0);
	JCHECK(pread(fd, hdr, 4, 0) == 4 && memcmp(hdr, "GGUF", 4) == 0);
	JCHECK(madvise(NULL, 0, MADV_NORMAL) == 0);
}

static int
temp_file(const void *content, size_t len)
{
	char path[] = "/tmp/cloister-sandbox-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	return fd;
}

static void
do_newfstatat(void *a)
{
	struct stat st;
	int fd = *(int *)a;

	/* fstat(3) of a passed descriptor works (the model loader needs it). */
	JCHECK(fstat(fd, &st) == 0 && st.st_size == sizeof(model_bytes));
	/* stat(2) by path fails softly, also with other flags. */
	JCHECK(stat("/etc/passwd", &st) == -1 && errno == EACCES);
	JCHECK(fstatat(AT_FDCWD, "/etc/passwd", &st, AT_SYMLINK_NOFOLLOW) ==
	    -1 && errno == EACCES);
	JCHECK(fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ==
	    -1 && errno == EACCES);
}

START_TEST(test_fstat_in_jail)
{
	int fd = temp_file(model_bytes, sizeof(model_bytes));

	expect_ok_keep(do_newfstatat, &fd, &fd, 1);
	close(fd);
}
END_TEST

START_TEST(test_mmap_model_in_jail)
{
	int fd = temp_file(model_bytes, sizeof(model_bytes));

	expect_ok_keep(do_mmap_file, &fd, &fd, 1);
	close(fd);
}
END_TEST

static void
do_socketpair_io(void *a)
{
	int *sv = a;
	char buf[32];
	struct iovec iov[2] = { { "fra", 3 }, { "me", 2 } };
	struct msghdr mh;

	JCHECK(write(sv[0], "hello", 5) == 5);
	JCHECK(read(sv[1], buf, sizeof(buf)) == 5);
	JCHECK(memcmp(buf, "hello", 5) == 0);
	JCHECK(send(sv[1], "back", 4, 0) == 4);
	JCHECK(recv(sv[0], buf, sizeof(buf), 0) == 4);
	JCHECK(memcmp(buf, "back", 4) == 0);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	JCHECK(sendmsg(sv[0], &mh, 0) == 5);
	iov[0].iov_base = buf;
	iov[0].iov_len = sizeof(buf);
	mh.msg_iovlen = 1;
	JCHECK(recvmsg(sv[1], &mh, 0) == 5);
	JCHECK(memcmp(buf, "frame", 5) == 0);
	{
		struct pollfd pf = { sv[0], POLLOUT, 0 };

		JCHECK(poll(&pf, 1, 1000) == 1 && (pf.revents & POLLOUT));
	}
	JCHECK(close(sv[0]) == 0);
}

START_TEST(test_socketpair_io_in_jail)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	expect_ok_keep(do_socketpair_io, sv, sv, 2);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void
do_misc(void *a)
{
	struct timespec t0, t1, d = { 0, 1000000 };
	struct rusage ru;
	cpu_set_t cpus;
	unsigned char r1[32], r2[32];

	(void)a;
	JCHECK(getrandom(r1, sizeof(r1), 0) == sizeof(r1));
	JCHECK(getrandom(r2, sizeof(r2), 0) == sizeof(r2));
	JCHECK(memcmp(r1, r2, sizeof(r1)) != 0);
	JCHECK(clock_gettime(CLOCK_MONOTONIC, &t0) == 0);
	JCHECK(nanosleep(&d, NULL) == 0);
	JCHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0);
	JCHECK(t1.tv_sec > t0.tv_sec || t1.tv_nsec - t0.tv_nsec >= 1000000);
	JCHECK(getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0);
	CPU_ZERO(&cpus);
	JCHECK(sched_getaffinity(0, sizeof(cpus), &cpus) == 0);
	JCHECK(CPU_COUNT(&cpus) >= 1);
	JCHECK(sched_yield() == 0);
	JCHECK(getpid() > 0 && gettid() > 0);
	fprintf(stderr, "%s", "");	/* unbuffered stderr needs no probe */
}

START_TEST(test_misc_in_jail)
{
	expect_ok_keep(do_misc, NULL, NULL, 0);
}
END_TEST

static void do_abort(void *a) { (void)a; abort(); }

START_TEST(test_abort_is_sigabrt)
{
	/* tgkill to ourselves is allowed, so abort(3) still means SIGABRT. */
	expect_signal(do_abort, NULL, SIGABRT);
}
END_TEST

static void
do_fsize_efbig(void *a)
{
	int fd = *(int *)a;

	signal(SIGXFSZ, SIG_IGN);
	errno = 0;
	JCHECK(write(fd, "x", 1) == -1 && errno == EFBIG);
}

static void
do_fsize_default(void *a)
{
	if (write(*(int *)a, "x", 1) == 1)
		_exit(3);
}

START_TEST(test_rlimit_fsize)
{
	char path[] = "/tmp/cloister-fsize-XXXXXX";
	struct stat st;
	char d[64];
	int fd = mkstemp(path), sto;

	ck_assert_int_ge(fd, 0);
	unlink(path);
	expect_ok_keep(do_fsize_efbig, &fd, &fd, 1);
	sto = run_jailed(do_fsize_default, &fd, &fd, 1);
	ck_assert_msg(WIFSIGNALED(sto) && WTERMSIG(sto) == SIGXFSZ,
	    "expected SIGXFSZ, got %s", describe(sto, d, sizeof(d)));
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	close(fd);
}
END_TEST

START_TEST(test_rlimits_and_dumpable)
{
	struct sandbox_opts o;
	struct sandbox_report rep;
	struct cl_err err = CL_ERR_INIT;
	struct rlimit rl;
	int p[2], keep[2], st;
	pid_t pid;
	char buf[512];
	ssize_t n;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		/* No seccomp, so the results can be read in the jail. */
		sandbox_test_set_unavailable(SANDBOX_LAYER_BIT(
		    SANDBOX_LAYER_SECCOMP));
		keep[0] = 2;
		keep[1] = p[1];
		memset(&o, 0, sizeof(o));
		o.mode = SANDBOX_MODE_DEGRADED;
		o.allow_missing = SANDBOX_LAYER_BIT(SANDBOX_LAYER_SECCOMP) |
		    g_allow;
		o.keep_fds = keep;
		o.n_keep_fds = 2;
		o.max_address_space = 1ull << 40;
		if (sandbox_enter(&o, &rep, &err) != CL_OK)
			_exit(JAIL_FAILED);
		n = 0;
		getrlimit(RLIMIT_CORE, &rl);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "core %llu ",
		    (unsigned long long)rl.rlim_max);
		getrlimit(RLIMIT_FSIZE, &rl);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "fsize %llu ",
		    (unsigned long long)rl.rlim_max);
		getrlimit(RLIMIT_NOFILE, &rl);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "nofile %llu ",
		    (unsigned long long)rl.rlim_cur);
		getrlimit(RLIMIT_AS, &rl);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "as %llu ",
		    (unsigned long long)rl.rlim_cur);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
		    "dumpable %d nnp %d fd0 %d",
		    prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
		    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
		    fcntl(0, F_GETFD) == -1 && errno == EBADF ? -1 : 0);
		if (write(p[1], buf, (size_t)n) != n)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* nofile: highest kept descriptor + 1; fd 0 closed. */
	{
		char want[256];

		snprintf(want, sizeof(want), "core 0 fsize 0 nofile %d as %llu "
		    "dumpable 0 nnp 1 fd0 -1", p[1] + 1,
		    (unsigned long long)(1ull << 40));
		ck_assert_str_eq(buf, want);
	}
	close(p[0]);
}
END_TEST

/* ---- Landlock alone, with seccomp off ---- */

/* Landlock ABI from the kernel version, per the UAPI history. */
static int
abi_for_release(void)
{
	struct utsname u;
	int maj = 0, min = 0;

	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &maj, &min) != 2)
		return 0;
	if (maj > 6 || (maj == 6 && min >= 15))
		return 7;
	if (maj == 6 && min >= 12)
		return 6;
	if (maj == 6 && min >= 10)
		return 5;
	if (maj == 6 && min >= 7)
		return 4;
	if (maj == 6 && min >= 2)
		return 3;
	if ((maj == 5 && min >= 19) || maj == 6)
		return 2;
	if (maj == 5 && min >= 13)
		return 1;
	return 0;
}

START_TEST(test_landlock_abi)
{
	int e, abi = sandbox_landlock_abi(&e);

	if (abi == 0) {
		fprintf(stderr, "note: no Landlock (%s)\n", strerror(e));
		return;
	}
	ck_assert_int_ge(abi, abi_for_release());
}
END_TEST

/* Fork, set no_new_privs, apply Landlock only, run fn; exit status back. */
static int
run_landlock_only(enum sandbox_profile prof, const char *const *paths,
    void (*fn)(void *), void *arg)
{
	struct sandbox_layer_report lr;
	struct cl_err err = CL_ERR_INIT;
	pid_t pid;
	int st, abi;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			_exit(JAIL_FAILED);
		if (sandbox_landlock_apply(prof, paths, &lr, &abi, &err) !=
		    CL_OK) {
			dprintf(2, "%s\n", err.msg);
			_exit(JAIL_FAILED);
		}
		fn(arg);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static void
do_landlock_engine(void *a)
{
	int fd = *(int *)a, s;
	char c;
	struct sockaddr_in sin;

	errno = 0;
	JCHECK(open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES);
	JCHECK(open("/tmp", O_RDONLY | O_DIRECTORY) == -1 && errno == EACCES);
	JCHECK(open("/tmp/cloister-ll-new", O_WRONLY | O_CREAT, 0600) == -1 &&
	    errno == EACCES);
	JCHECK(mkdir("/tmp/cloister-ll-dir", 0700) == -1 && errno == EACCES);
	/* A descriptor opened before the jail still reads. */
	JCHECK(pread(fd, &c, 1, 0) == 1 && c == 'G');
	if (sandbox_landlock_abi(&s) >= 4) {
		/* TCP bind is handled with no rule: denied. */
		s = socket(AF_INET, SOCK_STREAM, 0);
		JCHECK(s >= 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		JCHECK(bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
		    errno == EACCES);
	}
	if (sandbox_landlock_abi(&s) >= 6) {
		/* Signal scoping: the parent is outside our domain. */
		JCHECK(kill(getppid(), 0) == -1 && errno == EPERM);
	}
}

START_TEST(test_landlock_alone_engine)
{
	int e, st, fd = temp_file(model_bytes, sizeof(model_bytes));
	char d[64];

	if (sandbox_landlock_abi(&e) == 0) {
		fprintf(stderr, "note: no Landlock; not tested\n");
		return;
	}
	st = run_landlock_only(SANDBOX_PROFILE_ENGINE, NULL,
	    do_landlock_engine, &fd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "got %s",
	    describe(st, d, sizeof(d)));
	close(fd);
}
END_TEST

static void
do_landlock_hook(void *a)
{
	const char *dir = a;
	char path[256], c;
	int fd;

	snprintf(path, sizeof(path), "%s/readable", dir);
	fd = open(path, O_RDONLY);
	JCHECK(fd >= 0);
	JCHECK(read(fd, &c, 1) == 1 && c == 'r');
	close(fd);
	JCHECK(open(path, O_WRONLY) == -1 && errno == EACCES);
	snprintf(path, sizeof(path), "%s/new", dir);
	JCHECK(open(path, O_WRONLY | O_CREAT, 0600) == -1 && errno == EACCES);
	JCHECK(open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES);
	fd = open("/dev/null", O_WRONLY | O_TRUNC);
	JCHECK(fd >= 0);
	JCHECK(write(fd, "x", 1) == 1);
}

START_TEST(test_landlock_alone_hook)
{
	char dir[] = "/tmp/cloister-hookdir-XXXXXX", path[256], d[64];
	const char *paths[2];
	int e, st, fd;

	if (sandbox_landlock_abi(&e) == 0)
		return;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/readable", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "r", 1), 1);
	close(fd);
	paths[0] = dir;
	paths[1] = NULL;
	st = run_landlock_only(SANDBOX_PROFILE_HOOK, paths, do_landlock_hook,
	    dir);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "got %s",
	    describe(st, d, sizeof(d)));
	unlink(path);
	rmdir(dir);
}
END_TEST

/* ---- fail closed, reports ---- */

struct enter_result {
	int			rc;
	struct cl_err		err;
	struct sandbox_report	rep;
	int			seccomp_after;	/* "Seccomp:" after the call */
};

static void *
sleeper(void *a)
{
	(void)a;
	for (;;)
		pause();
	return NULL;
}

/* sandbox_enter() in a grandchild with layers made unavailable. */
static void
enter_in_child(unsigned unavailable, enum sandbox_mode mode, unsigned allow,
    bool extra_thread, struct enter_result *out)
{
	struct sandbox_opts o;
	struct enter_result res;
	pthread_t t;
	int p[2], keep[2], st;
	pid_t pid;
	char status[4096];

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		memset(&res, 0, sizeof(res));
		sandbox_test_set_unavailable(unavailable);
		if (extra_thread && pthread_create(&t, NULL, sleeper, NULL))
			_exit(2);
		keep[0] = 2;
		keep[1] = p[1];
		memset(&o, 0, sizeof(o));
		o.mode = mode;
		o.allow_missing = allow;
		o.keep_fds = keep;
		o.n_keep_fds = 2;
		res.rc = sandbox_enter(&o, &res.rep, &res.err);
		res.seccomp_after = -1;
		if (res.rep.layers[SANDBOX_LAYER_SECCOMP].status !=
		    SANDBOX_STATUS_APPLIED &&
		    res.rep.layers[SANDBOX_LAYER_LANDLOCK].status !=
		    SANDBOX_STATUS_APPLIED) {
			int fd = open("/proc/self/status", O_RDONLY);
			ssize_t n = fd < 0 ? -1 :
			    read(fd, status, sizeof(status) - 1);
			char *s;

			if (n > 0) {
				status[n] = '\0';
				if ((s = strstr(status, "\nSeccomp:")) != NULL)
					res.seccomp_after = atoi(s + 9);
			}
		}
		if (write(p[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(3);
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], out, sizeof(*out)), (ssize_t)sizeof(*out));
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(test_full_refuses_missing_layer)
{
	static const enum sandbox_layer layers[] = {
		SANDBOX_LAYER_LANDLOCK, SANDBOX_LAYER_SECCOMP,
		SANDBOX_LAYER_NETNS, SANDBOX_LAYER_NO_NEW_PRIVS,
	};
	struct enter_result res;
	char want[64];
	size_t i;

	for (i = 0; i < CL_ARRAY_LEN(layers); i++) {
		enter_in_child(SANDBOX_LAYER_BIT(layers[i]), SANDBOX_MODE_FULL,
		    0, false, &res);
		ck_assert_int_eq(res.rc, CL_ESANDBOX);
		snprintf(want, sizeof(want), "sandbox layer %s unavailable",
		    sandbox_layer_name(layers[i]));
		ck_assert_msg(strstr(res.err.msg, want) != NULL,
		    "message '%s' lacks '%s'", res.err.msg, want);
		ck_assert_int_eq(res.rep.layers[layers[i]].status,
		    SANDBOX_STATUS_MISSING);
		/* Nothing after the failed layer was attempted. */
		if (layers[i] + 1 < SANDBOX_N_LAYERS)
			ck_assert_int_eq(res.rep.layers[layers[i] + 1].status,
			    SANDBOX_STATUS_NOT_TRIED);
		ck_assert(!sandbox_report_is_whole(&res.rep));
	}
}
END_TEST

START_TEST(test_degraded_reports_missing_layer)
{
	struct enter_result res;
	unsigned ll = SANDBOX_LAYER_BIT(SANDBOX_LAYER_LANDLOCK);

	enter_in_child(ll, SANDBOX_MODE_DEGRADED, ll | g_allow, false, &res);
	ck_assert_msg(res.rc == CL_OK, "%s", res.err.msg);
	ck_assert_int_eq(res.rep.layers[SANDBOX_LAYER_LANDLOCK].status,
	    SANDBOX_STATUS_MISSING);
	ck_assert_str_eq(res.rep.layers[SANDBOX_LAYER_LANDLOCK].detail,
	    "unavailable (test hook)");
	ck_assert_int_eq(res.rep.layers[SANDBOX_LAYER_SECCOMP].status,
	    SANDBOX_STATUS_APPLIED);
	ck_assert(!sandbox_report_is_whole(&res.rep));

	/* Degraded, but this layer not allowed to be missing: refused. */
	enter_in_child(ll, SANDBOX_MODE_DEGRADED, g_allow, false, &res);
	ck_assert_int_eq(res.rc, CL_ESANDBOX);
	ck_assert_ptr_nonnull(strstr(res.err.msg, "landlock"));
}
END_TEST

START_TEST(test_refuses_when_threaded)
{
	struct enter_result res;
	unsigned l;

	enter_in_child(0, SANDBOX_MODE_FULL, 0, true, &res);
	ck_assert_int_eq(res.rc, CL_ESANDBOX);
	ck_assert_msg(strstr(res.err.msg, "process has 2 threads") != NULL,
	    "%s", res.err.msg);
	for (l = 0; l < SANDBOX_N_LAYERS; l++)
		ck_assert_int_eq(res.rep.layers[l].status,
		    SANDBOX_STATUS_NOT_TRIED);
	ck_assert_int_eq(res.seccomp_after, 0);
}
END_TEST

START_TEST(test_mode_off)
{
	struct enter_result res;
	struct cl_buf b = CL_BUF_INIT;
	unsigned l;

	enter_in_child(0, SANDBOX_MODE_OFF, 0, false, &res);
	ck_assert_int_eq(res.rc, CL_OK);
	ck_assert_int_eq(res.seccomp_after, 0);
	for (l = 0; l < SANDBOX_N_LAYERS; l++)
		ck_assert_int_eq(res.rep.layers[l].status,
		    SANDBOX_STATUS_NOT_TRIED);
	ck_assert(!sandbox_report_is_whole(&res.rep));
	ck_assert_int_eq(sandbox_report_format(&res.rep, &b), CL_OK);
	ck_assert_ptr_nonnull(strstr(b.data, "NOT JAILED"));
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_report_format)
{
	struct enter_result res;
	struct cl_buf b = CL_BUF_INIT;
	char want[160];
	unsigned l;

	enter_in_child(0, g_mode, g_allow, false, &res);
	ck_assert_msg(res.rc == CL_OK, "%s", res.err.msg);
	ck_assert_int_eq(sandbox_report_format(&res.rep, &b), CL_OK);
	for (l = 0; l < SANDBOX_N_LAYERS; l++) {
		snprintf(want, sizeof(want), "  %-13s %-9s %s\n",
		    sandbox_layer_name(l),
		    sandbox_status_name(res.rep.layers[l].status),
		    res.rep.layers[l].detail);
		ck_assert_msg(strstr(b.data, want) != NULL, "no line '%s' in\n%s",
		    want, b.data);
	}
	if (res.rep.landlock_abi > 0) {
		snprintf(want, sizeof(want), "landlock ABI %d: ",
		    res.rep.landlock_abi);
		ck_assert_ptr_nonnull(strstr(
		    res.rep.layers[SANDBOX_LAYER_LANDLOCK].detail, want));
	}
	ck_assert_int_gt(res.rep.n_syscalls, 20);
	cl_buf_release(&b);
}
END_TEST

/* A report from the engine is hostile input: garbage must stay harmless. */
START_TEST(test_hostile_report)
{
	struct sandbox_report rep;
	struct sandbox_attestation a;
	struct cl_buf b = CL_BUF_INIT;
	unsigned l;

	memset(&rep, 'A', sizeof(rep));		/* no NUL anywhere */
	for (l = 0; l < SANDBOX_N_LAYERS; l++)
		rep.layers[l].status = (enum sandbox_status)99;
	ck_assert(!sandbox_report_is_whole(&rep));
	ck_assert_int_eq(sandbox_report_format(&rep, &b), CL_OK);
	ck_assert_ptr_nonnull(strstr(b.data, "unknown"));
	ck_assert_uint_lt(b.len, 2048);
	memset(&a, 0, sizeof(a));
	a.seccomp_mode_min = 2;
	a.seccomp_filters_min = a.seccomp_filters_max = 1;
	a.no_new_privs = true;
	a.user_ns = a.net_ns = a.ipc_ns = SANDBOX_NS_NEW;
	ck_assert_int_eq(sandbox_verdict(&a, &rep), SANDBOX_VERDICT_DEGRADED);
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_bad_options)
{
	struct sandbox_opts o;
	struct cl_err err = CL_ERR_INIT;
	int bad = -1;

	memset(&o, 0, sizeof(o));
	o.mode = 7;
	ck_assert_int_eq(sandbox_enter(&o, NULL, &err), CL_EINVAL);
	o.mode = SANDBOX_MODE_FULL;
	o.keep_fds = &bad;
	o.n_keep_fds = 1;
	ck_assert_int_eq(sandbox_enter(&o, NULL, &err), CL_EINVAL);
	ck_assert_int_eq(sandbox_enter(NULL, NULL, &err), CL_EINVAL);
}
END_TEST

/* ---- spawn, wait, attestation ---- */

/* True when our network namespace has nothing but a loopback interface. */
static bool
net_is_lo_only(void)
{
	char buf[4096];
	int fd = open("/proc/self/net/dev", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	const char *p;
	int ifaces = 0;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	for (p = buf; (p = strchr(p, ':')) != NULL; p++)
		ifaces++;
	return ifaces <= 1;
}

struct hello {
	struct sandbox_report	rep;
	int			rc;
	int			env_empty;
	int			stdio_null;
	int			fd4_closed;
	char			msg[256];
};

static int
is_dev_null(int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 &&
	    S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

/* A jailed thread that waits forever on a futex (pause(2) would kill). */
static void *
parked(void *a)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

	pthread_mutex_lock(&mu);
	for (;;)
		pthread_cond_wait(&cv, &mu);
	return a;
}

/* Re-executed as a jailed engine: fd 3 is the IPC socket. */
static int
engine_helper(const char *what)
{
	struct sandbox_opts o;
	struct hello h;
	struct cl_err err = CL_ERR_INIT;
	pthread_t t[3];
	int keep[2] = { 2, 3 }, i;
	char c;

	memset(&h, 0, sizeof(h));
	h.env_empty = environ == NULL || environ[0] == NULL;
	h.stdio_null = is_dev_null(0) && is_dev_null(1);
	h.fd4_closed = fcntl(4, F_GETFD) == -1 && errno == EBADF;
	memset(&o, 0, sizeof(o));
	o.mode = g_mode;
	o.allow_missing = g_allow;
	o.keep_fds = keep;
	o.n_keep_fds = 2;
	h.rc = sandbox_enter(&o, &h.rep, &err);
	memcpy(h.msg, err.msg, sizeof(h.msg));
	if (h.rc != CL_OK) {
		(void)!write(3, &h, sizeof(h));
		_exit(JAIL_FAILED);
	}
	if (strcmp(what, "forbidden") == 0)
		syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	for (i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, parked, NULL) != 0)
			_exit(4);
	if (write(3, &h, sizeof(h)) != (ssize_t)sizeof(h))
		_exit(5);
	while (read(3, &c, 1) > 0)
		;
	_exit(0);
}

/* Re-executed as a hook: print the file argv[2], then try the network. */
static int
hook_helper(const char *file)
{
	char buf[256];
	ssize_t n;
	int fd;

	if ((fd = open(file, O_RDONLY)) < 0)
		return 10;
	n = read(fd, buf, sizeof(buf));
	if (n <= 0 || write(1, buf, (size_t)n) != n)
		return 11;
	close(fd);
	if (open("/tmp/cloister-hook-new", O_WRONLY | O_CREAT, 0600) >= 0)
		return 12;	/* Landlock (if any) must refuse writes */
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	return 13;		/* not reached: seccomp kills */
}

START_TEST(test_spawn_and_attest)
{
	char *argv[] = { g_self, "--engine-helper", "idle",
	    g_mode_arg, g_allow_arg, NULL };
	struct sandbox_attestation a;
	struct sandbox_exit ex;
	struct cl_err err = CL_ERR_INIT;
	struct hello h;
	int sv[2], ours;
	pid_t pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_msg(sandbox_spawn(g_self, argv, &sv[1], 1, &pid, &err) ==
	    CL_OK, "%s", err.msg);
	close(sv[1]);
	ck_assert_int_eq(read(sv[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	ck_assert_msg(h.rc == CL_OK, "engine could not jail itself: %s",
	    h.msg);
	ck_assert(h.env_empty);
	ck_assert(h.stdio_null);
	ck_assert(h.fd4_closed);

	/* After HELLO: the jail as seen from outside. */
	ck_assert_int_eq(sandbox_attest(pid, &a, &err), CL_OK);
	ck_assert_int_eq(a.n_threads, 4);
	ck_assert_int_eq(a.seccomp_mode_min, 2);
	ck_assert(a.no_new_privs);
	if (a.baseline_filters >= 0) {
		ck_assert_int_eq(a.seccomp_filters_min, a.baseline_filters + 1);
		ck_assert_int_eq(a.seccomp_filters_max, a.seccomp_filters_min);
	}
	if (h.rep.layers[SANDBOX_LAYER_NETNS].status == SANDBOX_STATUS_APPLIED)
		ck_assert_int_eq(a.net_ns, SANDBOX_NS_NEW);
	if (h.rep.layers[SANDBOX_LAYER_USERNS].status == SANDBOX_STATUS_APPLIED)
		ck_assert_int_eq(a.user_ns, SANDBOX_NS_NEW);
	if (h.rep.layers[SANDBOX_LAYER_IPCNS].status == SANDBOX_STATUS_APPLIED)
		ck_assert_int_ne(a.ipc_ns, SANDBOX_NS_SAME);
	if (sandbox_report_is_whole(&h.rep)) {
		ck_assert_int_eq(sandbox_verdict(&a, &h.rep),
		    SANDBOX_VERDICT_WHOLE);
		ck_assert_msg(sandbox_attestation_check(&a, SANDBOX_MODE_FULL,
		    &h.rep, &err) == CL_OK, "%s", err.msg);
	} else {
		ck_assert_int_eq(sandbox_verdict(&a, &h.rep),
		    SANDBOX_VERDICT_DEGRADED);
	}
	/* Without the engine's claim Landlock is unproven. */
	ck_assert_int_eq(sandbox_verdict(&a, NULL), SANDBOX_VERDICT_DEGRADED);
	ck_assert_int_eq(sandbox_attestation_check(&a, SANDBOX_MODE_DEGRADED,
	    &h.rep, &err), CL_OK);

	/* A running child, then a clean exit once the socket closes. */
	ck_assert_int_eq(sandbox_wait(pid, "engine", false, &ex, &err), CL_OK);
	ck_assert_int_eq(ex.state, SANDBOX_EXIT_RUNNING);
	close(sv[0]);
	ck_assert_int_eq(sandbox_wait(pid, "engine", true, &ex, &err), CL_OK);
	ck_assert_int_eq(ex.state, SANDBOX_EXIT_EXITED);
	ck_assert_int_eq(ex.code, 0);
	ours = sandbox_attest(pid, &a, &err);
	ck_assert_int_eq(ours, CL_ENOTFOUND);
}
END_TEST

/*
 * The usual broker is not root: the undumpable engine's ns links are
 * hidden from it, and the fallbacks (uid_map, net/dev) must still prove
 * the new user and network namespaces.  Check runs each test in its own
 * process, so this one may drop to nobody.
 */
START_TEST(test_attest_unprivileged)
{
	char *argv[] = { g_self, "--engine-helper", "idle",
	    g_mode_arg, g_allow_arg, NULL };
	struct sandbox_attestation a;
	struct sandbox_exit ex;
	struct cl_err err = CL_ERR_INIT;
	struct hello h;
	char link[64];
	int sv[2];
	pid_t pid;

	if (getuid() == 0 && (setgroups(0, NULL) != 0 ||
	    setresgid(65534, 65534, 65534) != 0 ||
	    setresuid(65534, 65534, 65534) != 0)) {
		fprintf(stderr, "note: cannot drop to nobody; not tested\n");
		return;
	}
	if (access(g_self, X_OK) != 0) {
		fprintf(stderr, "note: nobody cannot run %s\n", g_self);
		return;
	}
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_msg(sandbox_spawn(g_self, argv, &sv[1], 1, &pid, &err) ==
	    CL_OK, "%s", err.msg);
	close(sv[1]);
	ck_assert_int_eq(read(sv[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	if (h.rc != CL_OK) {
		/* No user namespaces for nobody here: nothing to prove. */
		fprintf(stderr, "note: unprivileged jail refused: %s\n", h.msg);
		close(sv[0]);
		(void)sandbox_wait(pid, "engine", true, &ex, &err);
		return;
	}
	snprintf(link, sizeof(link), "/proc/%ld/ns/net", (long)pid);
	ck_assert_int_eq(readlink(link, (char[64]){ 0 }, 64), -1);
	ck_assert_int_eq(sandbox_attest(pid, &a, &err), CL_OK);
	ck_assert_int_eq(a.seccomp_mode_min, 2);
	ck_assert(a.no_new_privs);
	if (h.rep.layers[SANDBOX_LAYER_USERNS].status == SANDBOX_STATUS_APPLIED)
		ck_assert_int_eq(a.user_ns, SANDBOX_NS_NEW);
	if (h.rep.layers[SANDBOX_LAYER_NETNS].status ==
	    SANDBOX_STATUS_APPLIED && !net_is_lo_only())
		ck_assert_int_eq(a.net_ns, SANDBOX_NS_NEW);
	/* The IPC namespace cannot be seen; the claim stands in for it. */
	ck_assert_int_eq(a.ipc_ns, SANDBOX_NS_UNKNOWN);
	if (sandbox_report_is_whole(&h.rep))
		ck_assert_msg(sandbox_attestation_check(&a, SANDBOX_MODE_FULL,
		    &h.rep, &err) == CL_OK, "%s", err.msg);
	close(sv[0]);
	ck_assert_int_eq(sandbox_wait(pid, "engine", true, &ex, &err), CL_OK);
}
END_TEST

START_TEST(test_attest_unjailed_child)
{
	struct sandbox_attestation a;
	struct sandbox_report claim;
	struct cl_err err = CL_ERR_INIT;
	pid_t pid;
	int st;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		for (;;)
			pause();
	}
	ck_assert_int_eq(sandbox_attest(pid, &a, &err), CL_OK);
	ck_assert_int_eq(a.n_threads, 1);
	ck_assert_int_eq(a.seccomp_mode_min, 0);
	ck_assert_int_eq(a.net_ns, SANDBOX_NS_SAME);
	ck_assert_int_eq(a.user_ns, SANDBOX_NS_SAME);
	ck_assert_int_eq(sandbox_verdict(&a, NULL), SANDBOX_VERDICT_NONE);
	ck_assert_int_eq(sandbox_attestation_check(&a, SANDBOX_MODE_OFF, NULL,
	    &err), CL_OK);
	ck_assert_int_eq(sandbox_attestation_check(&a, SANDBOX_MODE_DEGRADED,
	    NULL, &err), CL_ESANDBOX);
	ck_assert_ptr_nonnull(strstr(err.msg, "seccomp filter not in force"));

	/* A lying engine: claims a network namespace it does not have. */
	memset(&claim, 0, sizeof(claim));
	claim.mode = SANDBOX_MODE_DEGRADED;
	claim.layers[SANDBOX_LAYER_NETNS].status = SANDBOX_STATUS_APPLIED;
	ck_assert_int_eq(sandbox_attestation_check(&a, SANDBOX_MODE_DEGRADED,
	    &claim, &err), CL_ESANDBOX);
	ck_assert_ptr_nonnull(strstr(err.msg, "claims its own net namespace"));

	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(sandbox_attest(pid, &a, &err), CL_ENOTFOUND);
}
END_TEST

START_TEST(test_spawn_exec_failure)
{
	char *argv[] = { "engine", NULL };
	struct cl_err err = CL_ERR_INIT;
	pid_t pid;

	ck_assert_int_eq(sandbox_spawn("/nonexistent/cloister-engine", argv,
	    NULL, 0, &pid, &err), CL_EENGINE);
	ck_assert_str_eq(err.msg, "cannot start engine "
	    "'/nonexistent/cloister-engine': No such file or directory");
	ck_assert_int_eq(pid, -1);
	ck_assert_int_eq(sandbox_spawn("/etc/passwd", argv, NULL, 0, &pid,
	    &err), CL_EENGINE);
	ck_assert_str_eq(err.msg, "cannot start engine '/etc/passwd': "
	    "Permission denied");
	/* The failed children were reaped. */
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}
END_TEST

START_TEST(test_wait_decodes)
{
	char *argv[] = { g_self, "--engine-helper", "forbidden",
	    g_mode_arg, g_allow_arg, NULL };
	struct sandbox_exit ex;
	struct cl_err err = CL_ERR_INIT;
	int sv[2];
	pid_t pid;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(3);
	ck_assert_int_eq(sandbox_wait(pid, "engine", true, &ex, &err),
	    CL_EENGINE);
	ck_assert_str_eq(err.msg, "engine exited with status 3");
	ck_assert_int_eq(ex.state, SANDBOX_EXIT_EXITED);

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		for (;;)
			pause();
	kill(pid, SIGKILL);
	ck_assert_int_eq(sandbox_wait(pid, "engine", true, &ex, &err),
	    CL_EENGINE);
	ck_assert_str_eq(err.msg, "engine killed by signal 9 (Killed)");
	ck_assert(!ex.seccomp_kill);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(sandbox_spawn(g_self, argv, &sv[1], 1, &pid, &err),
	    CL_OK);
	close(sv[1]);
	ck_assert_int_eq(sandbox_wait(pid, "engine", true, &ex, &err),
	    CL_EENGINE);
	ck_assert_str_eq(err.msg, "engine killed by the sandbox (SIGSYS): it "
	    "attempted a forbidden system call");
	ck_assert(ex.seccomp_kill);
	ck_assert_int_eq(ex.signal, SIGSYS);
	close(sv[0]);
}
END_TEST

/* ---- hooks ---- */

static void
hook_opts(struct sandbox_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = g_mode;
	o->allow_missing = g_allow;
	o->profile = SANDBOX_PROFILE_HOOK;
}

static void
read_pipe(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

START_TEST(test_hook_reads_but_no_socket)
{
	char path[] = "/tmp/cloister-hookdata-XXXXXX", out[256];
	char *argv[] = { g_self, "--hook-helper", path, NULL };
	struct sandbox_opts o;
	struct sandbox_report rep;
	struct sandbox_exit ex;
	struct cl_err err = CL_ERR_INIT;
	int fd = mkstemp(path), p[2];
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "policy-data", 11), 11);
	close(fd);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	hook_opts(&o);
	ck_assert_msg(sandbox_spawn_hook(g_self, argv, -1, p[1], 2, &o, &rep,
	    &pid, &err) == CL_OK, "%s", err.msg);
	close(p[1]);
	read_pipe(p[0], out, sizeof(out));
	close(p[0]);
	ck_assert_str_eq(out, "policy-data");
	ck_assert_int_eq(sandbox_wait(pid, "hook", true, &ex, &err),
	    CL_EENGINE);
	ck_assert_msg(ex.seccomp_kill, "%s", err.msg);
	ck_assert_int_eq(rep.profile, SANDBOX_PROFILE_HOOK);
	ck_assert_int_eq(rep.layers[SANDBOX_LAYER_SECCOMP].status,
	    SANDBOX_STATUS_APPLIED);
	ck_assert_int_eq(rep.layers[SANDBOX_LAYER_DUMPABLE].status,
	    SANDBOX_STATUS_SKIPPED);
	if (rep.landlock_abi > 0)
		ck_assert_int_eq(rep.layers[SANDBOX_LAYER_LANDLOCK].status,
		    SANDBOX_STATUS_APPLIED);
	ck_assert_int_eq(access("/tmp/cloister-hook-new", F_OK), -1);
	unlink(path);
}
END_TEST

START_TEST(test_hook_shell_read_only)
{
	char dir[] = "/tmp/cloister-hooksh-XXXXXX", script[1024], out[512];
	char victim[64], data[64];
	char *argv[] = { "sh", "-c", script, NULL };
	struct sandbox_opts o;
	struct sandbox_exit ex;
	struct cl_err err = CL_ERR_INIT;
	const char *paths[] = { "/usr", "/bin", "/lib", "/lib64", "/etc",
	    NULL, NULL };
	int fd, p[2];
	pid_t pid;

	if (access("/bin/sh", X_OK) != 0)
		return;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	fd = open(data, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "hello-hook\n", 11), 11);
	close(fd);
	paths[5] = dir;
	snprintf(script, sizeof(script), "read line < %s; echo \"$line\"; "
	    "echo ok > /dev/null && echo null-ok; "
	    "(echo x > %s) 2>/dev/null || echo write-refused", data, victim);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	hook_opts(&o);
	o.read_paths = paths;
	ck_assert_msg(sandbox_spawn_hook("/bin/sh", argv, -1, p[1], -1, &o,
	    NULL, &pid, &err) == CL_OK, "%s", err.msg);
	close(p[1]);
	read_pipe(p[0], out, sizeof(out));
	close(p[0]);
	ck_assert_msg(sandbox_wait(pid, "hook", true, &ex, &err) == CL_OK,
	    "%s", err.msg);
	if (sandbox_landlock_abi(&fd) > 0) {
		ck_assert_str_eq(out, "hello-hook\nnull-ok\nwrite-refused\n");
		ck_assert_int_eq(access(victim, F_OK), -1);
	}
	unlink(victim);
	unlink(data);
	rmdir(dir);
}
END_TEST

START_TEST(test_hook_jail_failure_reported)
{
	char *argv[] = { "true", NULL };
	struct sandbox_opts o;
	struct sandbox_report rep;
	struct cl_err err = CL_ERR_INIT;
	pid_t pid;

	hook_opts(&o);
	o.mode = SANDBOX_MODE_FULL;
	sandbox_test_set_unavailable(SANDBOX_LAYER_BIT(SANDBOX_LAYER_LANDLOCK));
	ck_assert_int_eq(sandbox_spawn_hook("/bin/true", argv, -1, -1, -1, &o,
	    &rep, &pid, &err), CL_ESANDBOX);
	sandbox_test_set_unavailable(0);
	ck_assert_msg(strstr(err.msg, "cannot start hook '/bin/true': sandbox "
	    "layer landlock unavailable") != NULL, "%s", err.msg);
	ck_assert_int_eq(rep.layers[SANDBOX_LAYER_LANDLOCK].status,
	    SANDBOX_STATUS_MISSING);
	o.profile = SANDBOX_PROFILE_ENGINE;
	ck_assert_int_eq(sandbox_spawn_hook("/bin/true", argv, -1, -1, -1, &o,
	    &rep, &pid, &err), CL_EINVAL);
}
END_TEST

/* ---- the man page mirrors the tables ---- */

static void
check_man_section(const char *man, enum sandbox_profile prof,
    const char *tag)
{
	char begin[64], end[64], name[64], why[256];
	const struct sc_rule *rules;
	const char *p, *stop, *nl;
	size_t n, i = 0, len;

	snprintf(begin, sizeof(begin), ".\\\" BEGIN %s\n", tag);
	snprintf(end, sizeof(end), ".\\\" END %s\n", tag);
	p = strstr(man, begin);
	ck_assert_msg(p != NULL, "man page lacks '%s'", begin);
	stop = strstr(p, end);
	ck_assert_msg(stop != NULL, "man page lacks '%s'", end);
	rules = sandbox_seccomp_table(prof, &n);
	while ((p = strstr(p, "\n.It Li ")) != NULL && p < stop) {
		p += strlen("\n.It Li ");
		ck_assert(sscanf(p, "%63s", name) == 1);
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		p = nl + 1;
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		len = (size_t)(nl - p);
		ck_assert_uint_lt(len, sizeof(why));
		memcpy(why, p, len);
		why[len] = '\0';
		ck_assert_msg(i < n, "man page lists more %s rows than the code",
		    tag);
		ck_assert_msg(strcmp(name, rules[i].name) == 0,
		    "%s row %zu: man page has %s, code has %s", tag, i, name,
		    rules[i].name);
		ck_assert_msg(strcmp(why, rules[i].why) == 0,
		    "%s row %s: man page reason '%s', code '%s'", tag, name,
		    why, rules[i].why);
		i++;
	}
	ck_assert_msg(i == n, "%s: man page has %zu rows, code %zu", tag, i,
	    n);
}

START_TEST(test_man_page_mirrors_tables)
{
	const char *top = getenv("CL_TOP_SRCDIR");
	char path[4096], *man = NULL;
	size_t len;
	int fd;
	struct cl_err err = CL_ERR_INIT;

	snprintf(path, sizeof(path), "%s/man/cloister-sandbox.7",
	    top != NULL ? top : ".");
	fd = open(path, O_RDONLY);
	ck_assert_msg(fd >= 0, "cannot open %s", path);
	ck_assert_int_eq(cl_read_all(fd, 1 << 20, &man, &len, &err), CL_OK);
	close(fd);
	check_man_section(man, SANDBOX_PROFILE_ENGINE, "engine-allowlist");
	check_man_section(man, SANDBOX_PROFILE_HOOK, "hook-denylist");
	cl_free(man);
}
END_TEST

/* ---- the suite ---- */

static Suite *
sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc;

	tc = tcase_create("forbidden");
	tcase_add_test(tc, test_socket_inet);
	tcase_add_test(tc, test_socket_inet6);
	tcase_add_test(tc, test_socket_unix);
	tcase_add_test(tc, test_socket_netlink);
	tcase_add_test(tc, test_socket_packet);
	tcase_add_test(tc, test_socketpair);
	tcase_add_test(tc, test_connect);
	tcase_add_test(tc, test_bind);
	tcase_add_test(tc, test_listen);
#ifdef SYS_open
	tcase_add_test(tc, test_open_existing);
	tcase_add_test(tc, test_open_new);
#endif
#ifdef SYS_creat
	tcase_add_test(tc, test_creat);
#endif
	tcase_add_test(tc, test_openat_existing);
	tcase_add_test(tc, test_openat_new);
	tcase_add_test(tc, test_openat2);
	tcase_add_test(tc, test_execve);
	tcase_add_test(tc, test_execveat);
#ifdef SYS_fork
	tcase_add_test(tc, test_fork);
#endif
#ifdef SYS_vfork
	tcase_add_test(tc, test_vfork);
#endif
	tcase_add_test(tc, test_clone_process);
	tcase_add_test(tc, test_clone_thread_newuser);
	tcase_add_test(tc, test_ptrace);
	tcase_add_test(tc, test_process_vm_readv);
	tcase_add_test(tc, test_kill_parent);
	tcase_add_test(tc, test_kill_self);
	tcase_add_test(tc, test_tgkill_parent);
	tcase_add_test(tc, test_tkill);
	tcase_add_test(tc, test_mmap_exec);
	tcase_add_test(tc, test_mmap_rwx);
	tcase_add_test(tc, test_mprotect_exec);
	tcase_add_test(tc, test_pkey_mprotect);
	tcase_add_test(tc, test_ioctl);
	tcase_add_test(tc, test_mount);
	tcase_add_test(tc, test_unshare);
	tcase_add_test(tc, test_setns);
	tcase_add_test(tc, test_setuid);
	tcase_add_test(tc, test_chdir);
	tcase_add_test(tc, test_chroot);
	tcase_add_test(tc, test_memfd_create);
	tcase_add_test(tc, test_io_uring_setup);
	tcase_add_test(tc, test_bpf);
	tcase_add_test(tc, test_perf_event_open);
	tcase_add_test(tc, test_userfaultfd);
	tcase_add_test(tc, test_prctl);
	tcase_add_test(tc, test_fstat_by_number);
	tcase_add_test(tc, test_keyctl);
#if defined(__x86_64__)
	tcase_add_test(tc, test_int80_i386);
	tcase_add_test(tc, test_x32);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("allowed");
	tcase_add_test(tc, test_clone3_enosys);
	tcase_add_test(tc, test_fstat_in_jail);
	tcase_add_test(tc, test_threads_in_jail);
	tcase_add_test(tc, test_malloc_in_jail);
	tcase_add_test(tc, test_mmap_model_in_jail);
	tcase_add_test(tc, test_socketpair_io_in_jail);
	tcase_add_test(tc, test_misc_in_jail);
	tcase_add_test(tc, test_abort_is_sigabrt);
	tcase_add_test(tc, test_rlimit_fsize);
	tcase_add_test(tc, test_rlimits_and_dumpable);
	suite_add_tcase(s, tc);

	tc = tcase_create("landlock");
	tcase_add_test(tc, test_landlock_abi);
	tcase_add_test(tc, test_landlock_alone_engine);
	tcase_add_test(tc, test_landlock_alone_hook);
	suite_add_tcase(s, tc);

	tc = tcase_create("modes");
	tcase_add_test(tc, test_full_refuses_missing_layer);
	tcase_add_test(tc, test_degraded_reports_missing_layer);
	tcase_add_test(tc, test_refuses_when_threaded);
	tcase_add_test(tc, test_mode_off);
	tcase_add_test(tc, test_report_format);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_hostile_report);
	suite_add_tcase(s, tc);

	tc = tcase_create("spawn");
	tcase_add_test(tc, test_spawn_and_attest);
	tcase_add_test(tc, test_attest_unprivileged);
	tcase_add_test(tc, test_attest_unjailed_child);
	tcase_add_test(tc, test_spawn_exec_failure);
	tcase_add_test(tc, test_wait_decodes);
	tcase_add_test(tc, test_hook_reads_but_no_socket);
	tcase_add_test(tc, test_hook_shell_read_only);
	tcase_add_test(tc, test_hook_jail_failure_reported);
	suite_add_tcase(s, tc);

	tc = tcase_create("man");
	tcase_add_test(tc, test_man_page_mirrors_tables);
	suite_add_tcase(s, tc);
	return s;
}

/* Does sandbox_enter() succeed in `mode` on this kernel? */
static bool
probe_mode(enum sandbox_mode mode, unsigned allow)
{
	struct sandbox_opts o;
	int keep = 2, st;
	pid_t pid = fork();

	if (pid == -1)
		return false;
	if (pid == 0) {
		memset(&o, 0, sizeof(o));
		o.mode = mode;
		o.allow_missing = allow;
		o.keep_fds = &keep;
		o.n_keep_fds = 1;
		_exit(sandbox_enter(&o, NULL, NULL) == CL_OK ? 0 : 1);
	}
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0;
}

int
main(int argc, char **argv)
{
	SRunner *sr;
	ssize_t n;
	int failed;

	if (argc >= 3 && strcmp(argv[1], "--engine-helper") == 0) {
		/* The mode comes from the parent's probe, passed in argv. */
		if (argc >= 5) {
			g_mode = (enum sandbox_mode)atoi(argv[3]);
			g_allow = (unsigned)strtoul(argv[4], NULL, 10);
		}
		return engine_helper(argv[2]);
	}
	if (argc >= 3 && strcmp(argv[1], "--hook-helper") == 0)
		return hook_helper(argv[2]);

	n = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);
	if (n <= 0)
		return 99;
	g_self[n] = '\0';
	if (!probe_mode(SANDBOX_MODE_FULL, 0)) {
		g_mode = SANDBOX_MODE_DEGRADED;
		g_allow = SANDBOX_LAYERS_NAMESPACES |
		    SANDBOX_LAYER_BIT(SANDBOX_LAYER_LANDLOCK);
		if (!probe_mode(g_mode, g_allow)) {
			fprintf(stderr, "check_sandbox: this kernel cannot "
			    "apply seccomp; skipping\n");
			return 77;
		}
		fprintf(stderr, "check_sandbox: the full jail is not "
		    "available; testing degraded mode\n");
	}
	snprintf(g_mode_arg, sizeof(g_mode_arg), "%d", (int)g_mode);
	snprintf(g_allow_arg, sizeof(g_allow_arg), "%u", g_allow);
	sr = srunner_create(sandbox_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
