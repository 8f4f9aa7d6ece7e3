/*
 * check_policy.c - tests of policy/: time windows and quotas with an
 * injected clock, the usage stores (including surviving a reopen),
 * sealing, PINs and hooks.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "policy/policy.h"

static struct policy *
parse(const char *text)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;

	if (policy_parse("test", text, strlen(text), &p, &err) != CL_OK)
		ck_abort_msg("policy does not parse: %s", err.msg);
	return p;
}

/* All times are UTC in these tests: the clock is local time. */
static void
utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

static time_t
fake_now(void *ctx)
{
	return *(time_t *)ctx;
}

/* 2024-01-01 was a Monday; day d (0 = Monday) at hh:mm UTC. */
static time_t
at(int d, int hh, int mm)
{
	return (time_t)1704067200 + d * 86400 + hh * 3600 + mm * 60;
}

/* ------------------------------------------------------------- windows */

START_TEST(test_hours)
{
	struct policy *p;
	const struct policy_profile *pr;

	utc();
	p = parse("[default]\nallowed_hours = mon-fri 15:00-18:00, "
	    "sat-sun 10:00-12:00, fri 22:00-01:30, sun-mon 23:00-24:00\n");
	pr = policy_profile(p, "default");
	ck_assert(policy_hours_allow(pr, at(0, 15, 0)));	/* Mon */
	ck_assert(policy_hours_allow(pr, at(0, 17, 59)));
	ck_assert(!policy_hours_allow(pr, at(0, 18, 0)));	/* end excl. */
	ck_assert(!policy_hours_allow(pr, at(0, 14, 59)));
	ck_assert(policy_hours_allow(pr, at(4, 16, 0)));	/* Fri */
	ck_assert(!policy_hours_allow(pr, at(5, 16, 0)));	/* Sat */
	ck_assert(policy_hours_allow(pr, at(5, 11, 0)));
	ck_assert(policy_hours_allow(pr, at(6, 10, 0)));	/* Sun */
	/* Friday 22:00 into Saturday 01:30. */
	ck_assert(policy_hours_allow(pr, at(4, 23, 59)));
	ck_assert(policy_hours_allow(pr, at(5, 0, 0)));
	ck_assert(policy_hours_allow(pr, at(5, 1, 29)));
	ck_assert(!policy_hours_allow(pr, at(5, 1, 30)));
	/* ... but not Thursday into Friday. */
	ck_assert(!policy_hours_allow(pr, at(3, 23, 0)));
	ck_assert(!policy_hours_allow(pr, at(4, 0, 30)));
	/* 23:00-24:00 on Sun and Mon, not past midnight. */
	ck_assert(policy_hours_allow(pr, at(6, 23, 30)));
	ck_assert(policy_hours_allow(pr, at(0, 23, 59)));
	ck_assert(!policy_hours_allow(pr, at(1, 0, 0)));
	ck_assert(!policy_hours_allow(pr, at(1, 23, 30)));	/* Tue */
	policy_free(p);

	/* A week-wrapping day range and no restriction. */
	p = parse("[default]\nallowed_hours = fri-mon 08:00-09:00\n"
	    "[profile any]\nallowed_hours = always\n");
	pr = policy_profile(p, "default");
	ck_assert(policy_hours_allow(pr, at(0, 8, 30)));	/* Mon */
	ck_assert(!policy_hours_allow(pr, at(1, 8, 30)));	/* Tue */
	ck_assert(policy_hours_allow(pr, at(6, 8, 30)));	/* Sun */
	ck_assert(policy_hours_allow(policy_profile(p, "any"), at(1, 3, 0)));
	policy_free(p);
}
END_TEST

START_TEST(test_access_and_quota)
{
	struct policy *p;
	const struct policy_profile *pr;
	struct cl_err err = CL_ERR_INIT;
	struct policy_usage u;
	struct policy_verdict v;
	time_t now = at(0, 16, 0);
	struct policy_clock clock = { fake_now, &now };
	uint64_t left;
	char day[11];

	utc();
	p = parse("[default]\nallowed_hours = daily 07:00-21:00\n"
	    "daily_token_quota = 100\n");
	pr = policy_profile(p, "default");
	ck_assert_int_eq(policy_usage_mem_new(&u, &err), CL_OK);
	ck_assert_int_eq(policy_access_check(pr, &clock, &u, &left, &v, &err),
	    CL_OK);
	ck_assert_uint_eq(left, 100);
	ck_assert_int_eq(policy_quota_charge(pr, &clock, &u, 60, &err), CL_OK);
	ck_assert_int_eq(policy_access_check(pr, &clock, &u, &left, &v, &err),
	    CL_OK);
	ck_assert_uint_eq(left, 40);
	ck_assert_int_eq(policy_quota_charge(pr, &clock, &u, 45, &err), CL_OK);
	ck_assert_int_eq(policy_access_check(pr, &clock, &u, &left, &v, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(v.kind, POLICY_VERDICT_QUOTA);
	ck_assert_str_eq(err.msg, "profile 'default' has used its 100 tokens "
	    "for 2024-01-01");
	/* One second before midnight: still today.  At midnight: renewed. */
	now = at(0, 23, 59) + 59;
	policy_day_key(now, day);
	ck_assert_str_eq(day, "2024-01-01");
	ck_assert_int_eq(policy_access_check(pr, &clock, &u, &left, &v, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(v.kind, POLICY_VERDICT_HOURS);	/* and late */
	now = at(1, 0, 0);
	policy_day_key(now, day);
	ck_assert_str_eq(day, "2024-01-02");
	ck_assert_int_eq(policy_access_check(pr, &clock, &u, &left, &v, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(v.kind, POLICY_VERDICT_HOURS);
	ck_assert_str_eq(err.msg,
	    "profile 'default' may be used only daily 07:00-21:00");
	now = at(1, 7, 0);
	ck_assert_int_eq(policy_access_check(pr, &clock, &u, &left, &v, &err),
	    CL_OK);
	ck_assert_uint_eq(left, 100);
	policy_usage_mem_free(&u);
	policy_free(p);
}
END_TEST

START_TEST(test_quota_survives_reopen)
{
	struct policy *p;
	const struct policy_profile *pr;
	struct cl_err err = CL_ERR_INIT;
	struct policy_usage u;
	struct policy_verdict v;
	time_t now = at(2, 12, 0);
	struct policy_clock clock = { fake_now, &now };
	char dir[] = "/tmp/check_policy.XXXXXX", path[PATH_MAX];
	uint64_t left;
	int fd;

	utc();
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/usage", dir);
	p = parse("[default]\ndaily_token_quota = 1000\n[profile kid]\n"
	    "daily_token_quota = 50\n");
	pr = policy_profile(p, "kid");
	ck_assert_int_eq(policy_usage_file_open(path, &u, &err), CL_OK);
	ck_assert_int_eq(policy_quota_charge(pr, &clock, &u, 30, &err), CL_OK);
	ck_assert_int_eq(policy_quota_charge(policy_profile(p, "default"),
	    &clock, &u, 7, &err), CL_OK);
	policy_usage_file_close(&u);

	/* A new process: the usage is still there. */
	ck_assert_int_eq(policy_usage_file_open(path, &u, &err), CL_OK);
	ck_assert_int_eq(policy_access_check(pr, &clock, &u, &left, &v, &err),
	    CL_OK);
	ck_assert_uint_eq(left, 20);
	ck_assert_int_eq(policy_quota_charge(pr, &clock, &u, 20, &err), CL_OK);
	policy_usage_file_close(&u);
	ck_assert_int_eq(policy_usage_file_open(path, &u, &err), CL_OK);
	ck_assert_int_eq(policy_access_check(pr, &clock, &u, &left, &v, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(policy_access_check(policy_profile(p, "default"),
	    &clock, &u, &left, &v, &err), CL_OK);
	ck_assert_uint_eq(left, 993);
	policy_usage_file_close(&u);

	/* A damaged usage file is an error, not "zero usage". */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "kid 2024-01-03 lots\n", 20), 20);
	close(fd);
	ck_assert_int_eq(policy_usage_file_open(path, &u, &err), CL_EFORMAT);
	unlink(path);
	rmdir(dir);
	policy_free(p);
}
END_TEST

/* ---------------------------------------------------------------- seal */

static uint8_t test_pk[32], test_sk[64];

static int
test_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64],
    struct cl_err *err)
{
	(void)err;
	crypto_sign_detached(sig, NULL, msg, len, ctx);
	return CL_OK;
}

START_TEST(test_seal)
{
	static const char pol[] = "[default]\nmax_output_tokens = 100\n"
	    "[profile kid]\nblock_terms = darn\n";
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;
	uint8_t other_pk[32], other_sk[64];
	char *sealed = NULL, *resealed = NULL, *edited;
	size_t n, n2;

	ck_assert_int_ge(sodium_init(), 0);
	crypto_sign_keypair(test_pk, test_sk);
	crypto_sign_keypair(other_pk, other_sk);
	ck_assert_int_eq(policy_seal_verify(pol, strlen(pol), test_pk),
	    POLICY_SEAL_NONE);
	ck_assert_int_eq(policy_seal(pol, strlen(pol), test_sign, test_sk,
	    test_pk, &sealed, &n, &err), CL_OK);
	ck_assert_uint_eq(n, strlen(pol) + 25 + 16 + 1 + 88 + 1);
	ck_assert(memcmp(sealed, pol, strlen(pol)) == 0);
	ck_assert_int_eq(policy_seal_verify(sealed, n, test_pk),
	    POLICY_SEAL_OK);
	ck_assert_int_eq(policy_seal_verify(sealed, n, other_pk),
	    POLICY_SEAL_OTHER_KEY);
	/* The seal is a comment to the parser. */
	ck_assert_int_eq(policy_parse("p", sealed, n, &p, &err), CL_OK);
	policy_free(p);

	/* One byte changed: 100 -> 900. */
	edited = cl_malloc(n);
	memcpy(edited, sealed, n);
	*strstr(edited, "100") = '9';
	ck_assert_int_eq(policy_seal_verify(edited, n, test_pk),
	    POLICY_SEAL_MODIFIED);
	ck_assert_int_eq(policy_seal_gate(POLICY_SEAL_MODIFIED, false, true,
	    &err), CL_EPOLICY);
	ck_assert_str_eq(err.msg, "the policy was modified since it was "
	    "sealed; the administrator runs 'cloister policy seal' to check "
	    "and re-seal it");
	ck_assert_int_eq(policy_seal_gate(POLICY_SEAL_MODIFIED, true, true,
	    &err), CL_OK);
	/* A flipped signature bit and a line added after the seal. */
	memcpy(edited, sealed, n);
	edited[n - 10] = edited[n - 10] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(policy_seal_verify(edited, n, test_pk),
	    POLICY_SEAL_MODIFIED);
	ck_assert_int_eq(policy_seal_verify(sealed, n - 1, test_pk),
	    POLICY_SEAL_OK);	/* a missing final newline is fine */
	/* Removing the seal is "not sealed", refused in shared mode. */
	ck_assert_int_eq(policy_seal_verify(sealed, strlen(pol), test_pk),
	    POLICY_SEAL_NONE);
	ck_assert_int_eq(policy_seal_gate(POLICY_SEAL_NONE, false, true, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(policy_seal_gate(POLICY_SEAL_NONE, false, false,
	    &err), CL_OK);

	/* Re-sealing the edited file restores it (replacing the seal). */
	memcpy(edited, sealed, n);
	*strstr(edited, "100") = '9';
	ck_assert_int_eq(policy_seal(edited, n, test_sign, test_sk, test_pk,
	    &resealed, &n2, &err), CL_OK);
	ck_assert_uint_eq(n2, n);
	ck_assert_int_eq(policy_seal_verify(resealed, n2, test_pk),
	    POLICY_SEAL_OK);
	ck_assert_ptr_nonnull(strstr(resealed, "= 900"));
	/* A key pair that does not match is caught before writing. */
	cl_free(resealed);
	ck_assert_int_eq(policy_seal(pol, strlen(pol), test_sign, other_sk,
	    test_pk, &resealed, &n2, &err), CL_ECRYPTO);
	ck_assert_ptr_null(resealed);
	/* A policy that does not parse is not sealed. */
	ck_assert_int_eq(policy_seal("[default]\nbogus = 1\n", 20, test_sign,
	    test_sk, test_pk, &resealed, &n2, &err), CL_EFORMAT);
	ck_assert_str_eq(err.msg, "not sealing a policy that does not parse: "
	    "policy:2:1: unknown key 'bogus'");
	cl_free(edited);
	cl_free(sealed);
}
END_TEST

/* ----------------------------------------------------------------- PIN */

START_TEST(test_pin)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct policy *p;
	char hash[POLICY_PIN_STR_MAX], *pin = NULL;
	size_t len = 0;
	int fds[2];

	ck_assert_int_eq(policy_pin_hash("4711", 4, hash, &err), CL_OK);
	ck_assert_int_eq(strncmp(hash, "$argon2id$v=19$m=", 17), 0);
	ck_assert_int_eq(cl_buf_printf(&b, "[default]\n[profile parent]\n"
	    "pin = %s\n", hash), CL_OK);
	p = parse(b.data);
	ck_assert_int_eq(policy_pin_check(policy_profile(p, "parent"), "4711",
	    4, &err), CL_OK);
	ck_assert_int_eq(policy_pin_check(policy_profile(p, "parent"), "4712",
	    4, &err), CL_EAUTH);
	ck_assert_str_eq(err.msg, "wrong PIN for profile 'parent'");
	ck_assert_int_eq(policy_pin_check(policy_profile(p, "parent"), "", 0,
	    &err), CL_EAUTH);
	ck_assert_int_eq(policy_pin_check(policy_profile(p, "default"), "x",
	    1, &err), CL_OK);	/* no PIN set */
	ck_assert_int_eq(policy_pin_hash("", 0, hash, &err), CL_EINVAL);

	/* Reading a PIN from a descriptor. */
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], "4711\r\nrest", 10), 10);
	close(fds[1]);
	ck_assert_int_eq(policy_pin_read(fds[0], &pin, &len, &err), CL_OK);
	ck_assert_uint_eq(len, 4);
	ck_assert_int_eq(memcmp(pin, "4711", 4), 0);
	ck_assert_int_eq(policy_pin_check(policy_profile(p, "parent"), pin,
	    len, &err), CL_OK);
	policy_pin_free(pin, len);
	close(fds[0]);
	ck_assert_int_eq(pipe(fds), 0);
	close(fds[1]);
	ck_assert_int_eq(policy_pin_read(fds[0], &pin, &len, &err), CL_EAUTH);
	close(fds[0]);
	cl_buf_release(&b);
	policy_free(p);
}
END_TEST

/* --------------------------------------------------------------- hooks */

static char hook_dir[64];

static void
hooks_setup(void)
{
	snprintf(hook_dir, sizeof(hook_dir), "/tmp/check_hooks.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(hook_dir));
}

static void
hooks_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hook_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write an executable script and a policy that runs it as both hooks. */
static struct policy *
hook_policy(const char *name, const char *body, const char *timeout)
{
	struct cl_buf b = CL_BUF_INIT;
	struct policy *p;
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", hook_dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0755), 0);
	ck_assert_int_eq(cl_buf_printf(&b, "[default]\nprompt_hook = %s\n"
	    "output_hook = %s\nhook_timeout = %s\n", path, path, timeout),
	    CL_OK);
	p = parse(b.data);
	cl_buf_release(&b);
	return p;
}

static void
run_hook(const char *body, const char *timeout,
    enum policy_hook_stage stage, struct policy_hook_result *res)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = hook_policy("hook", body, timeout);

	ck_assert_int_eq(policy_hook_run(policy_profile(p, "default"), stage,
	    "some \"text\"\n", 12, res, &err), CL_OK);
	policy_free(p);
}

START_TEST(test_hook_actions)
{
	struct policy_hook_result res;
	struct cl_err err = CL_ERR_INIT;
	struct policy *p;

	run_hook("cat >/dev/null; echo '{\"action\":\"allow\"}'", "5",
	    POLICY_HOOK_OUTPUT, &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_ALLOW);
	ck_assert(!res.failed);
	policy_hook_result_release(&res);

	run_hook("cat >/dev/null; echo '{\"action\":\"block\",\"reason\":"
	    "\"not for kids\"}'", "5", POLICY_HOOK_OUTPUT, &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_BLOCK);
	ck_assert(!res.failed);
	ck_assert_str_eq(res.why, "not for kids");
	policy_hook_result_release(&res);

	run_hook("cat >/dev/null; printf '%s' '{\"action\":\"replace\","
	    "\"text\":\"safe \\u00e9\"}'", "5", POLICY_HOOK_PROMPT, &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_REPLACE);
	ck_assert_str_eq(res.text, "safe \xC3\xA9");
	ck_assert_uint_eq(res.text_len, 7);
	policy_hook_result_release(&res);

	/* The hook sees exactly the JSON it is promised, and no env. */
	run_hook("in=$(cat); want='{\"stage\":\"output\",\"profile\":"
	    "\"default\",\"text\":\"some \\\"text\\\"\\n\"}'; "
	    "if [ \"$in\" = \"$want\" ] && [ -z \"$HOME\" ] && "
	    "[ \"$PATH\" = /usr/bin:/bin ]; then "
	    "echo '{\"action\":\"allow\"}'; else "
	    "echo '{\"action\":\"block\"}'; fi", "5", POLICY_HOOK_OUTPUT,
	    &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_ALLOW);
	policy_hook_result_release(&res);

	/* No hook configured: allow. */
	p = parse("[default]\n");
	ck_assert_int_eq(policy_hook_run(policy_profile(p, "default"),
	    POLICY_HOOK_OUTPUT, "x", 1, &res, &err), CL_OK);
	ck_assert_int_eq(res.action, POLICY_HOOK_ALLOW);
	policy_free(p);
}
END_TEST

START_TEST(test_hook_failures)
{
	struct policy_hook_result res;
	double t0;

	t0 = cl_now();
	run_hook("exec sleep 100", "0.3", POLICY_HOOK_OUTPUT, &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_BLOCK);
	ck_assert(res.failed);
	ck_assert_str_eq(res.why, "hook timed out after 300 ms");
	ck_assert(cl_now() - t0 < 3.0);

	/* Answers, then lingers with a child: killed, still timed out. */
	t0 = cl_now();
	run_hook("cat >/dev/null; echo '{\"action\":\"allow\"}'; sleep 100",
	    "0.3", POLICY_HOOK_OUTPUT, &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_BLOCK);
	ck_assert(res.failed);
	ck_assert(cl_now() - t0 < 3.0);

	run_hook("kill -SEGV $$", "5", POLICY_HOOK_OUTPUT, &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_BLOCK);
	ck_assert(res.failed);
	ck_assert_str_eq(res.why, "hook killed by signal 11 (Segmentation "
	    "fault)");

	run_hook("echo hello", "5", POLICY_HOOK_OUTPUT, &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_BLOCK);
	ck_assert_str_eq(res.why, "hook answered something that is not JSON");

	run_hook("echo '{\"action\":\"maybe\"}'", "5", POLICY_HOOK_OUTPUT,
	    &res);
	ck_assert_str_eq(res.why, "hook answered an unknown action");

	run_hook("echo '{\"action\":\"replace\"}'", "5", POLICY_HOOK_OUTPUT,
	    &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_BLOCK);

	run_hook("echo '[\"allow\"]'", "5", POLICY_HOOK_OUTPUT, &res);
	ck_assert_str_eq(res.why, "hook answer has no \"action\"");

	run_hook("exit 0", "5", POLICY_HOOK_OUTPUT, &res);
	ck_assert_str_eq(res.why, "hook gave no answer");

	run_hook("echo '{\"action\":\"allow\"}'; exit 3", "5",
	    POLICY_HOOK_OUTPUT, &res);
	ck_assert_str_eq(res.why, "hook exited with status 3");

	run_hook("head -c 200000 /dev/zero | tr '\\0' x", "5",
	    POLICY_HOOK_OUTPUT, &res);
	ck_assert_str_eq(res.why, "hook answer longer than 65536 bytes");
}
END_TEST

/* Can this kernel give an unprivileged process its own netns? */
static bool
netns_possible(void)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == 0)
		_exit(unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : 1);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * No network: a hook that opens a socket is killed by the sandbox and
 * counts as block; where the kernel allows it, the hook also sits in a
 * network namespace of its own.
 */
START_TEST(test_hook_no_network)
{
	struct policy_hook_result res;
	char ns[64], body[512];
	ssize_t k;

	run_hook("cat >/dev/null; exec /usr/bin/bash -c "
	    "'exec 3<>/dev/tcp/127.0.0.1/9'; echo '{\"action\":\"allow\"}'",
	    "5", POLICY_HOOK_OUTPUT, &res);
	ck_assert_int_eq(res.action, POLICY_HOOK_BLOCK);
	ck_assert(res.failed);
	ck_assert_str_eq(res.why, "hook killed by the sandbox (SIGSYS): it "
	    "attempted a forbidden system call");

	k = readlink("/proc/self/ns/net", ns, sizeof(ns) - 1);
	ck_assert_int_gt(k, 0);
	ns[k] = '\0';
	snprintf(body, sizeof(body), "cat >/dev/null; "
	    "if [ \"$(readlink /proc/self/ns/net)\" != '%s' ]; then "
	    "echo '{\"action\":\"allow\"}'; else "
	    "echo '{\"action\":\"block\",\"reason\":\"shares the network\"}'; "
	    "fi", ns);
	run_hook(body, "5", POLICY_HOOK_OUTPUT, &res);
	if (netns_possible())
		ck_assert_msg(res.action == POLICY_HOOK_ALLOW, "%s", res.why);
	else
		ck_assert_str_eq(res.why, "shares the network");
}
END_TEST

/* A hook may read files but not write them (Landlock). */
START_TEST(test_hook_read_only)
{
	struct policy_hook_result res;
	char body[512];

	snprintf(body, sizeof(body), "cat >/dev/null; head -c 1 /etc/passwd "
	    ">/dev/null || exit 5; if echo x > '%s/written' 2>/dev/null; then "
	    "echo '{\"action\":\"block\",\"reason\":\"wrote\"}'; else "
	    "echo '{\"action\":\"allow\"}'; fi", hook_dir);
	run_hook(body, "5", POLICY_HOOK_OUTPUT, &res);
	ck_assert_msg(res.action == POLICY_HOOK_ALLOW, "%s", res.why);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc;

	tc = tcase_create("hours");
	tcase_add_test(tc, test_hours);
	tcase_add_test(tc, test_access_and_quota);
	tcase_add_test(tc, test_quota_survives_reopen);
	suite_add_tcase(s, tc);
	tc = tcase_create("seal");
	tcase_add_test(tc, test_seal);
	tcase_add_test(tc, test_pin);
	suite_add_tcase(s, tc);
	tc = tcase_create("hooks");
	tcase_add_checked_fixture(tc, hooks_setup, hooks_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hook_actions);
	tcase_add_test(tc, test_hook_failures);
	tcase_add_test(tc, test_hook_no_network);
	tcase_add_test(tc, test_hook_read_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
