/*
 * check_cli_tty.c - the passphrase prompt of `cloister init` on a real
 * terminal (a pseudo-terminal from forkpty()): echo is off while it
 * waits, and a signal that ends the process (^C typed at the terminal,
 * SIGTERM, SIGHUP) leaves the terminal with echo on again, the process
 * ending by that very signal.  Needs $CL_TOP_BUILDDIR/cloister.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static char binary[4096];

static void
setup(void)
{
	const char *base = getenv("TMPDIR"), *top = getenv("CL_TOP_BUILDDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_cli_tty.XXXXXX",
	    base != NULL ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(binary, sizeof(binary), "%s/cloister",
	    top != NULL ? top : ".");
}

static void
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* Read from the master until `want` has appeared (10 s at most). */
static void
wait_for(int master, const char *want)
{
	char buf[4096];
	size_t len = 0;
	struct pollfd pfd = { master, POLLIN, 0 };
	time_t end = time(NULL) + 10;
	ssize_t n;

	buf[0] = '\0';
	while (strstr(buf, want) == NULL) {
		ck_assert_msg(time(NULL) < end, "no '%s' from cloister, got "
		    "'%s'", want, buf);
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = read(master, buf + len, sizeof(buf) - 1 - len);
		ck_assert_msg(n > 0, "terminal closed before '%s' ('%s')",
		    want, buf);
		len += (size_t)n;
		buf[len] = '\0';
		if (len > sizeof(buf) / 2) {	/* keep the tail */
			memmove(buf, buf + len - 64, 65);
			len = 64;
		}
	}
}

static bool
echo_on(int master)
{
	struct termios t;

	ck_assert_int_eq(tcgetattr(master, &t), 0);
	return (t.c_lflag & ECHO) != 0;
}

/*
 * Start `cloister init` on a fresh pseudo-terminal, wait for its prompt,
 * interrupt it with `sig` (typed as ^C when `typed`) and check the
 * terminal and how the process ended.
 */
static void
interrupt_prompt(int sig, bool typed)
{
	char data[300], config[300];
	int master, status;
	pid_t pid;

	snprintf(data, sizeof(data), "%s/data", tmpdir);
	snprintf(config, sizeof(config), "%s/config", tmpdir);
	pid = forkpty(&master, NULL, NULL, NULL);
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		setenv("XDG_DATA_HOME", data, 1);
		setenv("XDG_CONFIG_HOME", config, 1);
		setenv("CLOISTER_TEST_WEAK_KDF", "1", 1);
		execl(binary, "cloister", "init", (char *)NULL);
		_exit(127);
	}
	ck_assert(echo_on(master));		/* a fresh terminal echoes */
	wait_for(master, "New passphrase: ");
	/* The prompt is written before echo goes off: wait for that. */
	for (int i = 0; i < 200 && echo_on(master); i++)
		usleep(10000);
	ck_assert_msg(!echo_on(master), "echo on while asking");
	if (typed)
		ck_assert_int_eq(write(master, "sec\003", 4), 4);	/* ^C */
	else
		ck_assert_int_eq(kill(pid, sig), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == sig,
	    "cloister did not end by signal %d (status %#x)", sig, status);
	ck_assert_msg(echo_on(master), "signal %d left echo off", sig);
	close(master);
	/* Nothing was created with a passphrase nobody finished typing. */
	snprintf(data, sizeof(data), "%s/data/cloister/store.key", tmpdir);
	ck_assert_int_ne(access(data, F_OK), 0);
}

START_TEST(test_ctrl_c)
{
	interrupt_prompt(SIGINT, true);
}
END_TEST

START_TEST(test_sigterm)
{
	interrupt_prompt(SIGTERM, false);
}
END_TEST

START_TEST(test_sighup)
{
	interrupt_prompt(SIGHUP, false);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("cli_tty");
	TCase *tc = tcase_create("prompt");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ctrl_c);
	tcase_add_test(tc, test_sigterm);
	tcase_add_test(tc, test_sighup);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
