/*
 * landlock.c - the Landlock layer: ABI detection and the two rulesets.
 *
 * The system headers may be older than the running kernel (Debian 12
 * ships the 6.1 UAPI, Landlock ABI 2), so the rights and the ruleset
 * structure are spelled out here from the kernel's UAPI, by ABI:
 *
 *	ABI 1 (5.13)	filesystem rights, bits 0-12
 *	ABI 2 (5.19)	LANDLOCK_ACCESS_FS_REFER, bit 13
 *	ABI 3 (6.2)	LANDLOCK_ACCESS_FS_TRUNCATE, bit 14
 *	ABI 4 (6.7)	handled_access_net: BIND_TCP, CONNECT_TCP
 *	ABI 5 (6.10)	LANDLOCK_ACCESS_FS_IOCTL_DEV, bit 15
 *	ABI 6 (6.12)	scoped: ABSTRACT_UNIX_SOCKET, SIGNAL
 *	ABI 7 (6.15)	logging flags for landlock_restrict_self (no new right)
 *	ABI 8		LANDLOCK_RESTRICT_SELF_TSYNC (no new right)
 *
 * A kernel newer than ABI 8 gets the ABI 8 rights and the report says
 * so: we never pass a bit we have not checked against the UAPI, because
 * an unknown bit makes the kernel refuse the whole ruleset.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset	444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule		445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self	446
#endif

#define LL_CREATE_RULESET_VERSION	(1U << 0)
#define LL_RULE_PATH_BENEATH		1

#define LL_FS_EXECUTE		(1ULL << 0)
#define LL_FS_WRITE_FILE	(1ULL << 1)
#define LL_FS_READ_FILE		(1ULL << 2)
#define LL_FS_READ_DIR		(1ULL << 3)
#define LL_FS_ABI1		((1ULL << 13) - 1)	/* bits 0..12 */
#define LL_FS_REFER		(1ULL << 13)		/* ABI 2 */
#define LL_FS_TRUNCATE		(1ULL << 14)		/* ABI 3 */
#define LL_FS_IOCTL_DEV		(1ULL << 15)		/* ABI 5 */
/* The rights that apply to a file (the rest are about directories). */
#define LL_FS_FILE_RIGHTS	(LL_FS_EXECUTE | LL_FS_WRITE_FILE | \
	LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_NET_BIND_TCP		(1ULL << 0)		/* ABI 4 */
#define LL_NET_CONNECT_TCP	(1ULL << 1)		/* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX	(1ULL << 0)		/* ABI 6 */
#define LL_SCOPE_SIGNAL		(1ULL << 1)		/* ABI 6 */
#define LL_ABI_KNOWN		8

/* struct landlock_ruleset_attr as of ABI 6; older kernels get a prefix. */
struct ll_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;	/* ABI 4 */
	uint64_t	scoped;			/* ABI 6 */
};

struct ll_path_beneath_attr {
	uint64_t	allowed_access;
	int32_t		parent_fd;
} __attribute__((packed));

int
sandbox_landlock_abi(int *errno_out)
{
	long v;

	*errno_out = 0;
	if (sandbox_test_is_unavailable(SANDBOX_LAYER_LANDLOCK)) {
		*errno_out = EOPNOTSUPP;
		return 0;
	}
	v = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LL_CREATE_RULESET_VERSION);
	if (v < 0) {
		*errno_out = errno;
		return 0;
	}
	return (int)v;
}

/* The ruleset attribute for `abi` and the size to pass with it. */
static size_t
ruleset_for_abi(int abi, struct ll_ruleset_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->handled_access_fs = LL_FS_ABI1;
	if (abi >= 2)
		a->handled_access_fs |= LL_FS_REFER;
	if (abi >= 3)
		a->handled_access_fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		a->handled_access_fs |= LL_FS_IOCTL_DEV;
	if (abi >= 4)
		a->handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	if (abi >= 6)
		a->scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	if (abi >= 6)
		return sizeof(*a);
	if (abi >= 4)
		return offsetof(struct ll_ruleset_attr, scoped);
	return offsetof(struct ll_ruleset_attr, handled_access_net);
}

/* Allow `access` beneath `path` (a directory tree or a single file). */
static int
add_path_rule(int ruleset_fd, const char *path, uint64_t access,
    struct sandbox_layer_report *lr, struct cl_err *err)
{
	struct ll_path_beneath_attr pb;
	struct stat st;
	int fd, e, r = CL_EINTERNAL;

	if ((fd = open(path, O_PATH | O_CLOEXEC)) == -1) {
		e = errno;
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "cannot open '%.40s': %s", path, strerror(e));
		return cl_errf(err, CL_ESANDBOX, "landlock: %s", lr->detail);
	}
	if (fstat(fd, &st) == -1) {
		e = errno;
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "cannot stat '%.40s': %s", path, strerror(e));
		r = cl_errf(err, CL_ESANDBOX, "landlock: %s", lr->detail);
		goto out;
	}
	/* Directory-only rights on a file make the kernel refuse the rule. */
	if (!S_ISDIR(st.st_mode))
		access &= LL_FS_FILE_RIGHTS;
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = access;
	pb.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ruleset_fd, LL_RULE_PATH_BENEATH,
	    &pb, 0) != 0) {
		e = errno;
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "cannot allow '%.40s': %s", path, strerror(e));
		r = cl_errf(err, CL_ESANDBOX, "landlock: %s", lr->detail);
		goto out;
	}
	r = CL_OK;
out:
	close(fd);
	return r;
}

int
sandbox_landlock_apply(enum sandbox_profile profile,
    const char *const *read_paths, struct sandbox_layer_report *lr,
    int *abi_out, struct cl_err *err)
{
	static const char *const root[] = { "/", NULL };
	struct ll_ruleset_attr attr;
	const char *what;
	size_t attr_len, i;
	uint64_t read_access, null_access;
	int abi, used_abi, e, fd = -1, r = CL_EINTERNAL;

	*abi_out = 0;
	if ((abi = sandbox_landlock_abi(&e)) <= 0) {
		lr->status = SANDBOX_STATUS_MISSING;
		snprintf(lr->detail, sizeof(lr->detail), "%s",
		    sandbox_test_is_unavailable(SANDBOX_LAYER_LANDLOCK) ?
		    "unavailable (test hook)" : e == EOPNOTSUPP ?
		    "disabled in this kernel" : e == ENOSYS ?
		    "not built into this kernel" : strerror(e));
		return cl_errf(err, CL_ESANDBOX, "landlock: %s", lr->detail);
	}
	*abi_out = abi;
	used_abi = abi > LL_ABI_KNOWN ? LL_ABI_KNOWN : abi;
	attr_len = ruleset_for_abi(used_abi, &attr);
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_len, 0);
	if (fd < 0) {
		e = errno;
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "ABI %d: cannot create the ruleset: %s", abi, strerror(e));
		r = cl_errf(err, CL_ESANDBOX, "landlock: %s", lr->detail);
		goto out;
	}
	if (profile == SANDBOX_PROFILE_HOOK) {
		/* Read and execute what the admin allows; write only /dev/null. */
		read_access = LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR;
		null_access = LL_FS_READ_FILE | LL_FS_WRITE_FILE;
		if (used_abi >= 3)
			null_access |= LL_FS_TRUNCATE;	/* "> /dev/null" */
		if (read_paths == NULL)
			read_paths = root;
		for (i = 0; read_paths[i] != NULL; i++)
			if ((r = add_path_rule(fd, read_paths[i], read_access,
			    lr, err)) != CL_OK)
				goto out;
		if ((r = add_path_rule(fd, "/dev/null", null_access, lr,
		    err)) != CL_OK)
			goto out;
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) != 0) {
		e = errno;
		lr->status = SANDBOX_STATUS_FAILED;
		snprintf(lr->detail, sizeof(lr->detail),
		    "ABI %d: cannot enforce the ruleset: %s", abi, strerror(e));
		r = cl_errf(err, CL_ESANDBOX, "landlock: %s", lr->detail);
		goto out;
	}
	what = used_abi >= 6 ? "fs+net+scopes" : used_abi >= 4 ? "fs+net" :
	    "fs";
	lr->status = SANDBOX_STATUS_APPLIED;
	if (abi > LL_ABI_KNOWN)
		snprintf(lr->detail, sizeof(lr->detail),
		    "landlock ABI %d (rights of ABI %d handled): %s%s", abi,
		    LL_ABI_KNOWN, what, profile == SANDBOX_PROFILE_HOOK ?
		    ", read-only" : ", no access");
	else
		snprintf(lr->detail, sizeof(lr->detail),
		    "landlock ABI %d: %s%s", abi, what,
		    profile == SANDBOX_PROFILE_HOOK ? ", read-only" :
		    ", no access");
	r = CL_OK;
out:
	if (fd >= 0)
		close(fd);
	return r;
}
