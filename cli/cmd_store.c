/*
 * cmd_store.c - `cloister init`, `cloister passwd` and `cloister store
 * rotate|check`: the commands that create and look after the encrypted
 * store (store/store.h).
 *
 * Passphrases come from the terminal with echo off, or from a file
 * descriptor given with --passphrase-fd (one passphrase per line, for
 * scripts); never from argv or the environment.  They live in
 * sodium_malloc memory and are wiped after use.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/cmd_store.h"
#include "store/store.h"

#define PASS_MAX	1024	/* bytes, including the terminator */

struct pass {
	char	*p;		/* sodium_malloc, PASS_MAX bytes */
	size_t	 len;		/* bytes used */
};

static void
pass_free(struct pass *ps)
{
	if (ps->p != NULL)
		sodium_free(ps->p);	/* wipes */
	ps->p = NULL;
	ps->len = 0;
}

/*
 * Signals that must not leave the terminal with echo off: they end or
 * stop the process.  While the passphrase is read they are caught, the
 * terminal restored, and then they are raised again with the caller's
 * disposition (as readpassphrase(3) does).
 */
static const int tty_signals[] = {
	SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM,
	SIGTSTP, SIGTTIN, SIGTTOU
};
#define N_TTY_SIGNALS	(sizeof(tty_signals) / sizeof(tty_signals[0]))

static volatile sig_atomic_t caught_signal;

static void
catch_signal(int sig)
{
	caught_signal = sig;
}

/*
 * Read one line from `fd` into ps, byte by byte (so lines stay for later).
 * With `wait_mask`, the tty signals are blocked on entry and only
 * delivered while waiting in ppoll() with that mask: no signal can slip
 * in between a check and a blocking read.  Returns 0, -1 (error), -2
 * (too long), -3 (end of input, nothing read) or -4 (a signal came).
 */
static int
read_line(int fd, struct pass *ps, const sigset_t *wait_mask)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t n;
	char c;

	ps->len = 0;
	for (;;) {
		if (wait_mask != NULL) {
			if (caught_signal != 0)
				return -4;
			if (ppoll(&pfd, 1, NULL, wait_mask) == -1) {
				if (errno == EINTR)
					continue;
				return -1;
			}
		}
		n = read(fd, &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0 || c == '\n')
			break;
		if (ps->len + 1 >= PASS_MAX)
			return -2;
		ps->p[ps->len++] = c;
	}
	if (ps->len > 0 && ps->p[ps->len - 1] == '\r')
		ps->len--;
	ps->p[ps->len] = '\0';
	return n == 0 && ps->len == 0 ? -3 : 0;
}

/*
 * Ask for a passphrase on the terminal with echo off; see read_line() for
 * the return values, and -5 when the terminal cannot be used (said).
 * Whatever happens, the terminal is left as it was found: a signal that
 * ends the process ends it after the terminal is restored, and one that
 * stops it (^Z) stops it with echo on and asks again when it continues.
 */
static int
read_tty(const char *cmd, const char *prompt, struct pass *ps)
{
	struct sigaction sa, saved[N_TTY_SIGNALS];
	struct termios old, quiet;
	sigset_t block, orig;
	size_t i;
	int tty, r, sig;

	if ((tty = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1) {
		fprintf(stderr, "cloister %s: no terminal to ask for the "
		    "passphrase; use --passphrase-fd\n", cmd);
		return -5;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = catch_signal;
	sigemptyset(&sa.sa_mask);	/* no SA_RESTART: ppoll returns */
	sigemptyset(&block);
	for (i = 0; i < N_TTY_SIGNALS; i++)
		sigaddset(&block, tty_signals[i]);
again:
	caught_signal = 0;
	sigprocmask(SIG_BLOCK, &block, &orig);
	for (i = 0; i < N_TTY_SIGNALS; i++)
		(void)sigaction(tty_signals[i], &sa, &saved[i]);
	if (write(tty, prompt, strlen(prompt)) < 0 ||
	    tcgetattr(tty, &old) == -1) {
		fprintf(stderr, "cloister %s: cannot use the terminal: %s\n",
		    cmd, strerror(errno));
		r = -5;
	} else {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		(void)tcsetattr(tty, TCSAFLUSH, &quiet);
		r = read_line(tty, ps, &orig);
		(void)tcsetattr(tty, TCSAFLUSH, &old);
		(void)write(tty, "\n", 1);
	}
	for (i = 0; i < N_TTY_SIGNALS; i++)
		(void)sigaction(tty_signals[i], &saved[i], NULL);
	sig = caught_signal;
	sigprocmask(SIG_SETMASK, &orig, NULL);
	if (r == -4 && sig != 0) {
		/* Now with the caller's disposition: usually the end. */
		(void)kill(getpid(), sig);
		if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
			sodium_memzero(ps->p, PASS_MAX);
			goto again;		/* continued: ask again */
		}
		fprintf(stderr, "cloister %s: interrupted\n", cmd);
		r = -5;
	}
	close(tty);
	return r;
}

/*
 * Get a passphrase: from `fd` when >= 0, else from the terminal with echo
 * off after printing `prompt`.  Returns 0, or prints why and returns -1.
 */
static int
get_pass(const char *cmd, int fd, const char *prompt, struct pass *ps)
{
	int r;

	if ((ps->p = sodium_malloc(PASS_MAX)) == NULL) {
		fprintf(stderr, "cloister %s: out of memory\n", cmd);
		return -1;
	}
	r = fd >= 0 ? read_line(fd, ps, NULL) : read_tty(cmd, prompt, ps);
	if (r == -5) {
		pass_free(ps);
		return -1;			/* already said why */
	}
	if (r == -2) {
		fprintf(stderr, "cloister %s: passphrase longer than %d bytes\n",
		    cmd, PASS_MAX - 1);
	} else if (r == -3 || (r == 0 && ps->len == 0)) {
		fprintf(stderr, "cloister %s: empty passphrase\n", cmd);
		r = -1;
	} else if (r != 0) {
		fprintf(stderr, "cloister %s: cannot read the passphrase: %s\n",
		    cmd, strerror(errno));
	}
	if (r != 0) {
		pass_free(ps);
		return -1;
	}
	return 0;
}

/* A new passphrase: asked twice on a terminal, once from a descriptor. */
static int
get_new_pass(const char *cmd, int fd, const char *prompt, struct pass *ps)
{
	struct pass again = { NULL, 0 };
	int r = 0;

	if (get_pass(cmd, fd, prompt, ps) != 0)
		return -1;
	if (fd >= 0)
		return 0;
	if (get_pass(cmd, fd, "Repeat it: ", &again) != 0) {
		pass_free(ps);
		return -1;
	}
	if (again.len != ps->len || sodium_memcmp(again.p, ps->p,
	    ps->len) != 0) {
		fprintf(stderr, "cloister %s: the passphrases differ\n", cmd);
		pass_free(ps);
		r = -1;
	}
	pass_free(&again);
	return r;
}

static int
exit_for(int code)
{
	switch (code) {
	case CL_OK:
		return CLI_EXIT_OK;
	case CL_EAUTH:
		return CLI_EXIT_AUTH;
	case CL_ECRYPTO:
		return CLI_EXIT_TAMPER;
	default:
		return CLI_EXIT_FAIL;
	}
}

static int
parse_fd(const char *cmd, const char *s, int *fd)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < 0 || v > INT_MAX) {
		fprintf(stderr, "cloister %s: bad descriptor '%s'\n", cmd, s);
		return -1;
	}
	*fd = (int)v;
	return 0;
}

/* Common options: --passphrase-fd N (and, for init, the mode). */
static int
parse_opts(const char *cmd, int argc, char **argv, int *fd,
    enum store_mode *mode, int first)
{
	int i;

	*fd = -1;
	for (i = first; i < argc; i++) {
		if (strcmp(argv[i], "--passphrase-fd") == 0 && i + 1 < argc) {
			if (parse_fd(cmd, argv[++i], fd) != 0)
				return -1;
		} else if (strncmp(argv[i], "--passphrase-fd=", 16) == 0) {
			if (parse_fd(cmd, argv[i] + 16, fd) != 0)
				return -1;
		} else if (mode != NULL && strcmp(argv[i], "--personal") == 0) {
			*mode = STORE_MODE_PERSONAL;
		} else if (mode != NULL && strcmp(argv[i], "--shared") == 0) {
			*mode = STORE_MODE_SHARED;
		} else {
			return -1;
		}
	}
	return 0;
}

static int
store_dir(const char *cmd, char **dir)
{
	struct cl_err err = CL_ERR_INIT;

	if (store_dir_default(dir, &err) != CL_OK) {
		fprintf(stderr, "cloister %s: %s\n", cmd, err.msg);
		return -1;
	}
	return 0;
}

/* $XDG_CONFIG_HOME/cloister, else ~/.config/cloister, mode 0700. */
static int
make_config_dir(const char *cmd)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char path[PATH_MAX], *q;
	int n;

	if (x != NULL && x[0] == '/')
		n = snprintf(path, sizeof(path), "%s/cloister", x);
	else if (home != NULL && home[0] == '/')
		n = snprintf(path, sizeof(path), "%s/.config/cloister", home);
	else
		return 0;			/* nowhere to put it: skip */
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	for (q = path + 1; ; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char c = *q;
		*q = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			fprintf(stderr, "cloister %s: cannot create '%s': %s\n",
			    cmd, path, strerror(errno));
			return -1;
		}
		if ((*q = c) == '\0')
			break;
	}
	return 0;
}

static void
print_hex(FILE *f, const uint8_t *p, size_t n)
{
	char hex[2 * 64 + 1];

	sodium_bin2hex(hex, sizeof(hex), p, n);
	fputs(hex, f);
}

int
cmd_init(int argc, char **argv)
{
	struct store_options opt = STORE_OPTIONS_INIT;
	struct cl_err err = CL_ERR_INIT;
	struct pass ps = { NULL, 0 };
	struct store *s = NULL;
	char *dir = NULL;
	int fd, r;

	if (parse_opts("init", argc, argv, &fd, &opt.mode, 1) != 0) {
		fprintf(stderr, "usage: cloister init [--personal | --shared] "
		    "[--passphrase-fd fd]\n");
		return CLI_EXIT_USAGE;
	}
	if (sodium_init() < 0)
		return CLI_EXIT_FAIL;
	/* Test-only knob: the cheapest Argon2id, for test suites. */
	if (getenv("CLOISTER_TEST_WEAK_KDF") != NULL) {
		fprintf(stderr, "cloister init: CLOISTER_TEST_WEAK_KDF is set: "
		    "the key file will be weak (tests only)\n");
		opt.kdf_opslimit = crypto_pwhash_OPSLIMIT_MIN;
		opt.kdf_memlimit = crypto_pwhash_MEMLIMIT_MIN;
	}
	if (store_dir("init", &dir) != 0 || make_config_dir("init") != 0) {
		r = CLI_EXIT_FAIL;
		goto out;
	}
	if (get_new_pass("init", fd, opt.mode == STORE_MODE_SHARED ?
	    "New admin passphrase: " : "New passphrase: ", &ps) != 0) {
		r = CLI_EXIT_FAIL;
		goto out;
	}
	if ((r = store_create(dir, ps.p, ps.len, &opt, &s, &err)) != CL_OK) {
		fprintf(stderr, "cloister init: %s\n", err.msg);
		r = r == CL_EEXIST ? CLI_EXIT_FAIL : exit_for(r);
		goto out;
	}
	printf("created a %s store in %s\n", opt.mode == STORE_MODE_SHARED ?
	    "shared" : "personal", dir);
	printf("admin signing key: ");
	print_hex(stdout, store_admin_sign_public_key(s),
	    STORE_SIGN_PUBLICKEYBYTES);
	printf("\n");
	r = CLI_EXIT_OK;
out:
	store_close(s);
	pass_free(&ps);
	cl_free(dir);
	return r;
}

int
cmd_passwd(int argc, char **argv)
{
	struct cl_err err = CL_ERR_INIT;
	struct pass old = { NULL, 0 }, new = { NULL, 0 };
	char *dir = NULL;
	int fd, r;

	if (parse_opts("passwd", argc, argv, &fd, NULL, 1) != 0) {
		fprintf(stderr, "usage: cloister passwd [--passphrase-fd fd]\n");
		return CLI_EXIT_USAGE;
	}
	if (sodium_init() < 0)
		return CLI_EXIT_FAIL;
	if (store_dir("passwd", &dir) != 0 ||
	    get_pass("passwd", fd, "Current passphrase: ", &old) != 0 ||
	    get_new_pass("passwd", fd, "New passphrase: ", &new) != 0) {
		r = CLI_EXIT_FAIL;
		goto out;
	}
	if ((r = store_passwd(dir, old.p, old.len, new.p, new.len, &err)) !=
	    CL_OK) {
		fprintf(stderr, "cloister passwd: %s\n", err.msg);
		r = exit_for(r);
		goto out;
	}
	printf("passphrase changed\n");
	r = CLI_EXIT_OK;
out:
	pass_free(&old);
	pass_free(&new);
	cl_free(dir);
	return r;
}

static int
store_usage(void)
{
	fprintf(stderr, "usage: cloister store check [--passphrase-fd fd]\n"
	    "       cloister store rotate [--passphrase-fd fd]\n");
	return CLI_EXIT_USAGE;
}

int
cmd_store(int argc, char **argv)
{
	struct cl_err err = CL_ERR_INIT;
	struct pass ps = { NULL, 0 };
	uint64_t n_pages = 0;
	char *dir = NULL;
	bool check;
	int fd, r;

	if (argc < 2)
		return store_usage();
	if (strcmp(argv[1], "check") == 0)
		check = true;
	else if (strcmp(argv[1], "rotate") == 0)
		check = false;
	else
		return store_usage();
	if (parse_opts("store", argc, argv, &fd, NULL, 2) != 0)
		return store_usage();
	if (sodium_init() < 0)
		return CLI_EXIT_FAIL;
	if (store_dir("store", &dir) != 0) {
		r = CLI_EXIT_FAIL;
		goto out;
	}
	if (check) {
		/* A shared store checks without the passphrase. */
		r = fd >= 0 ? CL_EAUTH : store_check(dir, NULL, 0, &n_pages,
		    &err);
		if (r == CL_EAUTH) {
			if (get_pass("store", fd, "Passphrase: ", &ps) != 0) {
				r = CLI_EXIT_FAIL;
				goto out;
			}
			r = store_check(dir, ps.p, ps.len, &n_pages, &err);
		}
		if (r != CL_OK) {
			fprintf(stderr, "cloister store check: %s\n", err.msg);
			r = exit_for(r);
			goto out;
		}
		printf("store ok: %llu pages authenticated, integrity check "
		    "passed\n", (unsigned long long)n_pages);
	} else {
		if (get_pass("store", fd, "Passphrase: ", &ps) != 0) {
			r = CLI_EXIT_FAIL;
			goto out;
		}
		if ((r = store_rotate(dir, ps.p, ps.len, &err)) != CL_OK) {
			fprintf(stderr, "cloister store rotate: %s\n", err.msg);
			r = exit_for(r);
			goto out;
		}
		printf("data key rotated; the database was re-encrypted\n");
	}
	r = CLI_EXIT_OK;
out:
	pass_free(&ps);
	cl_free(dir);
	return r;
}

/* Passphrase input for the other subcommands (cmd_store.h). */
int
cli_pass_get(const char *cmd, int fd, const char *prompt, struct cli_pass *out)
{
	struct pass ps = { NULL, 0 };

	out->p = NULL;
	out->len = 0;
	if (get_pass(cmd, fd, prompt, &ps) != 0)
		return -1;
	out->p = ps.p;
	out->len = ps.len;
	return 0;
}

void
cli_pass_free(struct cli_pass *ps)
{
	struct pass p = { ps->p, ps->len };

	pass_free(&p);
	ps->p = NULL;
	ps->len = 0;
}

int
cli_parse_fd(const char *cmd, const char *s, int *fd)
{
	return parse_fd(cmd, s, fd);
}
