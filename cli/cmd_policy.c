/*
 * cmd_policy.c - `cloister policy check|show|seal|set-pin`.
 *
 * Divisions: finding and reading the file; check and show; seal; set-pin
 * (with an atomic rewrite of the file); the dispatcher.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/cmd_policy.h"
#include "cli/cmd_store.h"
#include "store/store.h"

static const struct cmd_policy_admin store_admin;
const struct cmd_policy_admin *cmd_policy_admin = &store_admin;

static void
usage(FILE *f)
{
	fprintf(f, "usage: cloister policy check [-f file]\n"
	    "       cloister policy show [-r] [-f file] [-p profile]\n"
	    "       cloister policy seal [-f file] [--passphrase-fd fd]\n"
	    "       cloister policy set-pin [-f file] [-i fd] -p profile\n");
}

static int
fail(const char *sub, const struct cl_err *err)
{
	fprintf(stderr, "cloister policy %s: %s\n", sub, err->msg);
	switch (err->code) {
	case CL_EAUTH:
		return CLI_EXIT_AUTH;
	case CL_EPOLICY:
		return CLI_EXIT_POLICY;
	default:
		return CLI_EXIT_FAIL;
	}
}

/* ------------------------------------------------------ finding the file */

int
cmd_policy_path(char **out, struct cl_err *err)
{
	struct cl_buf user = CL_BUF_INIT, sys = CL_BUF_INIT;
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct stat sb;
	bool have_user = true;
	int r;

	*out = NULL;
	if (x != NULL && x[0] == '/')
		r = cl_buf_printf(&user, "%s/cloister/policy", x);
	else if (home != NULL && home[0] == '/')
		r = cl_buf_printf(&user, "%s/.config/cloister/policy", home);
	else {
		have_user = false;
		r = CL_OK;
	}
	if (r != CL_OK || cl_buf_printf(&sys, "%s/cloister/policy",
	    CL_SYSCONFDIR) != CL_OK) {
		cl_buf_release(&user);
		cl_buf_release(&sys);
		return cl_errf(err, CL_ENOMEM, "out of memory");
	}
	/* The user's file, else the system's, else where the user's goes. */
	if (have_user && stat(user.data, &sb) == 0)
		*out = cl_buf_steal(&user, NULL);
	else if (stat(sys.data, &sb) == 0 || !have_user)
		*out = cl_buf_steal(&sys, NULL);
	else
		*out = cl_buf_steal(&user, NULL);
	cl_buf_release(&user);
	cl_buf_release(&sys);
	return CL_OK;
}

static int
read_file(const char *path, char **text, size_t *len, struct cl_err *err)
{
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return cl_errf(err, errno == ENOENT ? CL_ENOTFOUND : CL_EIO,
		    "cannot open policy '%s': %s", path, strerror(errno));
	r = cl_read_all(fd, POLICY_FILE_MAX, text, len, err);
	close(fd);
	return r;
}

/* Replace `path` with text[0..len): temporary file, fsync, rename. */
static int
write_file(const char *path, const char *text, size_t len,
    struct cl_err *err)
{
	struct cl_buf tmp = CL_BUF_INIT;
	struct stat sb;
	mode_t mode = 0644;
	int fd = -1, r;

	if (stat(path, &sb) == 0)
		mode = sb.st_mode & 07777;
	if (cl_buf_printf(&tmp, "%s.tmp", path) != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd == -1) {
		r = cl_errf(err, CL_EIO, "cannot write '%s': %s", tmp.data,
		    strerror(errno));
		goto out;
	}
	if ((r = cl_write_all(fd, text, len, err)) != CL_OK)
		goto out;
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		r = cl_errf(err, CL_EIO, "cannot write '%s': %s", tmp.data,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.data, path) == -1) {
		r = cl_errf(err, CL_EIO, "cannot replace '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	r = CL_OK;
out:
	if (fd != -1) {
		close(fd);
		unlink(tmp.data);
	}
	cl_buf_release(&tmp);
	return r;
}

/* ------------------------------------------------------- check and show */

static const char *
seal_state_text(enum policy_seal_state st)
{
	switch (st) {
	case POLICY_SEAL_OK:
		return "sealed by the administrator";
	case POLICY_SEAL_NONE:
		return "not sealed";
	case POLICY_SEAL_MODIFIED:
		return "MODIFIED since it was sealed";
	case POLICY_SEAL_OTHER_KEY:
		return "sealed with another key";
	}
	return "?";
}

static int
check_or_show(const char *sub, const char *path, const char *profile,
    bool reveal, bool all)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;
	struct cl_buf o = CL_BUF_INIT;
	const struct policy_profile *pr;
	char *text = NULL;
	size_t len = 0, i;
	void *ctx = NULL;
	int r, ex = CLI_EXIT_FAIL;

	if ((r = read_file(path, &text, &len, &err)) != CL_OK ||
	    (r = policy_parse(path, text, len, &p, &err)) != CL_OK) {
		ex = fail(sub, &err);
		goto out;
	}
	if (all) {
		for (i = 0; i < policy_n_profiles(p); i++)
			if ((r = policy_profile_describe(policy_profile_at(p,
			    i), reveal, &o)) != CL_OK)
				goto nomem;
	} else {
		if ((pr = policy_profile(p, profile)) == NULL) {
			fprintf(stderr, "cloister policy %s: no profile '%s' "
			    "in '%s'\n", sub, profile, path);
			goto out;
		}
		if ((r = policy_profile_describe(pr, reveal, &o)) != CL_OK)
			goto nomem;
	}
	printf("policy %s: %zu profile%s", path, policy_n_profiles(p),
	    policy_n_profiles(p) == 1 ? "" : "s");
	if (cmd_policy_admin != NULL &&
	    cmd_policy_admin->open_public(&ctx, &err) == CL_OK) {
		printf(", %s", seal_state_text(policy_seal_verify(text, len,
		    cmd_policy_admin->public_key(ctx))));
		cmd_policy_admin->close(ctx);
	}
	printf("\n%s", o.data != NULL ? o.data : "");
	ex = CLI_EXIT_OK;
	goto out;
nomem:
	fprintf(stderr, "cloister policy %s: out of memory\n", sub);
out:
	cl_buf_release(&o);
	policy_free(p);
	cl_free(text);
	return ex;
}

/* ------------------------------------------------------------------ seal */

static int
seal(const char *path, int pass_fd)
{
	struct cl_err err = CL_ERR_INIT;
	char *text = NULL, *sealed = NULL;
	size_t len = 0, slen = 0;
	void *ctx = NULL;
	int ex;

	if (cmd_policy_admin == NULL) {
		fprintf(stderr, "cloister policy seal: this build cannot reach "
		    "the store's admin key yet\n");
		return CLI_EXIT_FAIL;
	}
	if (read_file(path, &text, &len, &err) != CL_OK ||
	    cmd_policy_admin->open(&ctx, pass_fd, &err) != CL_OK) {
		ex = fail("seal", &err);
		goto out;
	}
	if (policy_seal(text, len, cmd_policy_admin->sign, ctx,
	    cmd_policy_admin->public_key(ctx), &sealed, &slen, &err) !=
	    CL_OK || write_file(path, sealed, slen, &err) != CL_OK) {
		ex = fail("seal", &err);
		goto out;
	}
	printf("sealed '%s'\n", path);
	ex = CLI_EXIT_OK;
out:
	if (ctx != NULL)
		cmd_policy_admin->close(ctx);
	cl_free(text);
	cl_free(sealed);
	return ex;
}

/* --------------------------------------------------------------- set-pin */

/*
 * Put "pin = HASH" into the section of `profile` in text[0..len): replace
 * its pin line, or add one after the section header (adding the section
 * at the end when there is none).  The result is parsed before use.
 */
static int
set_pin_text(const char *text, size_t len, const char *profile,
    const char *hash, struct cl_buf *o, struct cl_err *err)
{
	struct cl_buf hdr = CL_BUF_INIT;
	size_t i = 0, ls, le, ins = SIZE_MAX, rep_s = 0, rep_e = 0;
	bool in = false, rep = false;
	const char *p;
	int r;

	if (strcmp(profile, "default") == 0)
		r = cl_buf_puts(&hdr, "[default]");
	else
		r = cl_buf_printf(&hdr, "[profile %s]", profile);
	if (r != CL_OK)
		goto nomem;
	while (i < len) {
		ls = i;
		while (i < len && text[i] != '\n')
			i++;
		le = i;
		if (i < len)
			i++;
		p = text + ls;
		while (p < text + le && (*p == ' ' || *p == '\t'))
			p++;
		if (*p == '[' && p < text + le) {
			if (in)
				break;
			/*
			 * XXX: only the canonical spelling of the header is
			 * found; "[ profile  kid ]" gets a second section,
			 * which the parse below then refuses.
			 */
			if ((size_t)(text + le - p) >= hdr.len &&
			    memcmp(p, hdr.data, hdr.len) == 0) {
				in = true;
				ins = i;
			}
			continue;
		}
		if (in && (size_t)(text + le - p) >= 3 &&
		    strncmp(p, "pin", 3) == 0 && (p[3] == ' ' ||
		    p[3] == '\t' || p[3] == '=')) {
			rep = true;
			rep_s = ls;
			rep_e = i;
		}
	}
	if (rep) {
		if (cl_buf_append(o, text, rep_s) != CL_OK ||
		    cl_buf_printf(o, "pin = %s\n", hash) != CL_OK ||
		    cl_buf_append(o, text + rep_e, len - rep_e) != CL_OK)
			goto nomem;
	} else if (ins != SIZE_MAX) {
		if (cl_buf_append(o, text, ins) != CL_OK ||
		    (ins > 0 && text[ins - 1] != '\n' &&
		    cl_buf_puts(o, "\n") != CL_OK) ||
		    cl_buf_printf(o, "pin = %s\n", hash) != CL_OK ||
		    cl_buf_append(o, text + ins, len - ins) != CL_OK)
			goto nomem;
	} else {
		if (cl_buf_append(o, text, len) != CL_OK ||
		    (len > 0 && text[len - 1] != '\n' &&
		    cl_buf_puts(o, "\n") != CL_OK) ||
		    cl_buf_printf(o, "%s\npin = %s\n", hdr.data, hash) != CL_OK)
			goto nomem;
	}
	cl_buf_release(&hdr);
	return CL_OK;
nomem:
	cl_buf_release(&hdr);
	return cl_errf(err, CL_ENOMEM, "out of memory");
}

static int
set_pin(const char *path, const char *profile, int fd)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf o = CL_BUF_INIT;
	struct policy *p = NULL;
	char *text = NULL, *pin = NULL, *again = NULL;
	static const uint8_t no_key[32];
	char hash[POLICY_PIN_STR_MAX];
	size_t len = 0, pl = 0, al = 0;
	bool tty = isatty(fd);
	int ex = CLI_EXIT_FAIL;

	if (read_file(path, &text, &len, &err) != CL_OK ||
	    policy_parse(path, text, len, &p, &err) != CL_OK) {
		ex = fail("set-pin", &err);
		goto out;
	}
	if (policy_profile(p, profile) == NULL) {
		fprintf(stderr, "cloister policy set-pin: no profile '%s' in "
		    "'%s'\n", profile, path);
		goto out;
	}
	if (tty)
		fprintf(stderr, "New PIN for profile '%s': ", profile);
	if (policy_pin_read(fd, &pin, &pl, &err) != CL_OK) {
		ex = fail("set-pin", &err);
		goto out;
	}
	if (tty) {
		fprintf(stderr, "\nAgain: ");
		if (policy_pin_read(fd, &again, &al, &err) != CL_OK) {
			ex = fail("set-pin", &err);
			goto out;
		}
		fprintf(stderr, "\n");
		if (al != pl || memcmp(pin, again, pl) != 0) {
			fprintf(stderr, "cloister policy set-pin: the PINs do "
			    "not match\n");
			ex = CLI_EXIT_AUTH;
			goto out;
		}
	}
	if (policy_pin_hash(pin, pl, hash, &err) != CL_OK ||
	    set_pin_text(text, len, profile, hash, &o, &err) != CL_OK) {
		ex = fail("set-pin", &err);
		goto out;
	}
	policy_free(p);
	p = NULL;
	if (policy_parse(path, o.data, o.len, &p, &err) != CL_OK ||
	    write_file(path, o.data, o.len, &err) != CL_OK) {
		ex = fail("set-pin", &err);
		goto out;
	}
	printf("PIN set for profile '%s'", profile);
	/* Any key will do to tell whether the file carried a seal. */
	if (policy_seal_verify(text, len, no_key) != POLICY_SEAL_NONE)
		printf("; the policy must be sealed again: run 'cloister "
		    "policy seal'");
	printf("\n");
	ex = CLI_EXIT_OK;
out:
	policy_pin_free(pin, pl);
	policy_pin_free(again, al);
	cl_buf_release(&o);
	policy_free(p);
	cl_free(text);
	return ex;
}

/* ------------------------------------------------------------ dispatcher */

int
cmd_policy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "profile", required_argument, NULL, 'p' },
		{ "pin-fd", required_argument, NULL, 'i' },
		{ "passphrase-fd", required_argument, NULL, 'P' },
		{ "reveal", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cl_err err = CL_ERR_INIT;
	const char *sub, *file = NULL, *profile = NULL;
	char *path = NULL, *end;
	bool reveal = false;
	int c, fd = 0, pass_fd = -1, ex;
	long v;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	sub = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "f:p:i:rh", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'P':
			if (cli_parse_fd("policy", optarg, &pass_fd) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'f':
			file = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'i':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 0 || v > 1024) {
				fprintf(stderr, "cloister policy: bad "
				    "descriptor '%s'\n", optarg);
				return CLI_EXIT_USAGE;
			}
			fd = (int)v;
			break;
		case 'r':
			reveal = true;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (file == NULL) {
		if (cmd_policy_path(&path, &err) != CL_OK)
			return fail(sub, &err);
		file = path;
	}
	if (strcmp(sub, "check") == 0 && profile == NULL)
		ex = check_or_show(sub, file, NULL, reveal, true);
	else if (strcmp(sub, "show") == 0)
		ex = check_or_show(sub, file, profile != NULL ? profile :
		    "default", reveal, profile == NULL);
	else if (strcmp(sub, "seal") == 0 && profile == NULL)
		ex = seal(file, pass_fd);
	else if (strcmp(sub, "set-pin") == 0 && profile != NULL)
		ex = set_pin(file, profile, fd);
	else {
		usage(stderr);
		ex = CLI_EXIT_USAGE;
	}
	cl_free(path);
	return ex;
}

/* ------------------------------------------------------------ store glue */

struct admin_ctx {
	struct store	*s;		/* NULL: public key only */
	uint8_t		 pk[STORE_SIGN_PUBLICKEYBYTES];
};

static int
admin_open(void **ctx, int pass_fd, struct cl_err *err)
{
	struct store_options opt = STORE_OPTIONS_INIT;
	struct cli_pass ps = { NULL, 0 };
	struct admin_ctx *a = NULL;
	enum store_mode mode;
	char *dir = NULL;
	int r;

	*ctx = NULL;
	if ((r = store_dir_default(&dir, err)) != CL_OK)
		goto out;
	if ((a = cl_calloc(1, sizeof(*a))) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = store_peek(dir, &mode, a->pk, err)) != CL_OK) {
		if (r == CL_ENOTFOUND)
			cl_err_prefix(err, "sealing needs the store's admin "
			    "key ('cloister init' makes one)");
		goto out;
	}
	if (cli_pass_get("policy", pass_fd, mode == STORE_MODE_SHARED ?
	    "Admin passphrase: " : "Passphrase: ", &ps) != 0) {
		r = cl_errf(err, CL_EAUTH, "no passphrase");
		goto out;
	}
	if (mode == STORE_MODE_SHARED) {
		if ((r = store_open(dir, NULL, 0, &opt, &a->s, err)) == CL_OK)
			r = store_unlock(a->s, ps.p, ps.len, err);
	} else
		r = store_open(dir, ps.p, ps.len, &opt, &a->s, err);
	if (r != CL_OK)
		goto out;
	/* The key that signs is the one the unlock vouched for. */
	memcpy(a->pk, store_admin_sign_public_key(a->s), sizeof(a->pk));
	*ctx = a;
	a = NULL;
out:
	if (a != NULL)
		store_close(a->s);
	cl_free(a);
	cli_pass_free(&ps);
	cl_free(dir);
	return r;
}

static int
admin_open_public(void **ctx, struct cl_err *err)
{
	struct admin_ctx *a = NULL;
	enum store_mode mode;
	char *dir = NULL;
	int r;

	*ctx = NULL;
	if ((r = store_dir_default(&dir, err)) != CL_OK)
		goto out;
	if ((a = cl_calloc(1, sizeof(*a))) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	/* The key file alone: the database is not opened, nothing moves. */
	if ((r = store_peek(dir, &mode, a->pk, err)) != CL_OK)
		goto out;
	*ctx = a;
	a = NULL;
out:
	cl_free(a);
	cl_free(dir);
	return r;
}

static const uint8_t *
admin_public_key(void *ctx)
{
	return ((struct admin_ctx *)ctx)->pk;
}

static int
admin_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64],
    struct cl_err *err)
{
	struct admin_ctx *a = ctx;

	if (a->s == NULL)
		return cl_errf(err, CL_EAUTH, "the store is not unlocked");
	return store_admin_sign(a->s, msg, len, sig, err);
}

static void
admin_close(void *ctx)
{
	struct admin_ctx *a = ctx;

	if (a == NULL)
		return;
	store_close(a->s);
	cl_free(a);
}

static const struct cmd_policy_admin store_admin = {
	admin_open, admin_open_public, admin_public_key, admin_sign,
	admin_close
};
