/*
 * broker.c - the policy and the audit log around ask and chat (see
 * broker.h).
 *
 * Divisions:
 *   1. options, small helpers
 *   2. the usage store (daily quotas in the encrypted store)
 *   3. opening: profile, policy, store, seal gate, PIN, access, model
 *   4. the hooks of a turn
 *   5. the audit session
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/audit.h"
#include "cli/broker.h"
#include "cli/sha256.h"
#include "cli/cli.h"
#include "cli/cmd_policy.h"
#include "cli/cmd_store.h"
#include "policy/policy.h"
#include "store/store.h"


struct cli_broker {
	const char		*cmd;
	struct cli_engine_args	*a;
	char			*profile;	/* the name in use */
	struct policy		*pol;		/* never NULL once open */
	const struct policy_profile *pr;	/* borrowed from pol */
	bool			 have_policy;	/* a file was read */
	char			 policy_hash[65]; /* hex, or "" */
	char			 model_hash[65]; /* hex, or "" */
	int			 model_fd;
	char			*store_dir;
	struct store		*store;		/* NULL: not opened */
	struct audit		*audit;		/* NULL: nothing logged */
	bool			 in_session;
	time_t			 test_now;	/* 0: the real clock */
	struct policy_clock	 clock;
	struct policy_usage	 usage;
	bool			 usage_mem;	/* usage is in memory */
	struct engine_client	*c;
	/* The turn in progress. */
	struct policy_filter	*f;
	bool			 finished;	/* the filter was flushed */
	bool			 hook_blocked;	/* by the output hook */
	char			 hook_why[160];
	struct cl_buf		 held;		/* what the filter released */
	char			*system;
	size_t			 system_len;
};

/* ------------------------------------------------------------------ */
/* 1. options, small helpers                                           */

void
cli_broker_args_init(struct cli_broker_args *ba, const char *cmd)
{
	memset(ba, 0, sizeof(*ba));
	ba->cmd = cmd;
	ba->pin_fd = -1;
	ba->pass_fd = -1;
}

int
cli_broker_option(struct cli_broker_args *ba, int ch, const char *arg)
{
	switch (ch) {
	case CLI_OPT_PROFILE:
		if (!audit_profile_is_valid(arg)) {
			fprintf(stderr, "cloister %s: bad profile name '%s'\n",
			    ba->cmd, arg);
			return -1;
		}
		ba->profile = arg;
		return 1;
	case CLI_OPT_PIN_FD:
		return cli_parse_fd(ba->cmd, arg, &ba->pin_fd) == 0 ? 1 : -1;
	case CLI_OPT_PASS_FD:
		return cli_parse_fd(ba->cmd, arg, &ba->pass_fd) == 0 ? 1 : -1;
	case CLI_OPT_ADMIN:
		ba->admin = true;
		return 1;
	default:
		return 0;
	}
}

/* Exit status for a CL_E* code, as the store and audit commands map it. */
static int
exit_for(int code)
{
	switch (code) {
	case CL_EFORMAT:
		return CLI_EXIT_TAMPER;
	default:
		return cli_exit_status(code);
	}
}

static int
fail(const struct cli_broker *b, int code, const struct cl_err *err)
{
	fprintf(stderr, "cloister %s: %s\n", b->cmd, err->msg[0] != '\0' ?
	    err->msg : cl_strerror(code));
	return exit_for(code);
}

static time_t
test_clock(void *ctx)
{
	return ((const struct cli_broker *)ctx)->test_now;
}

static void
hex(char *out, const uint8_t h[32])
{
	sodium_bin2hex(out, 65, h, 32);
}

/* The verdict as the JSON an audit policy_action event records. */
static int
verdict_json(const struct policy_verdict *v, const char *name,
    const char *why, struct cl_buf *out)
{
	struct cl_json_writer w;
	unsigned k;

	cl_buf_reset(out);
	cl_json_init(&w, out);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "verdict");
	cl_json_str(&w, name != NULL ? name : policy_verdict_name(v->kind));
	cl_json_key(&w, "stage");
	cl_json_str(&w, v->prompt ? "prompt" : "output");
	if (v->kind == POLICY_VERDICT_BLOCK_TERM ||
	    v->kind == POLICY_VERDICT_BLOCK_PATTERN) {
		cl_json_key(&w, "action");
		cl_json_str(&w, policy_action_name(v->action));
		cl_json_key(&w, "rule");
		cl_json_int(&w, v->rule);
	}
	cl_json_key(&w, "stopped");
	cl_json_bool(&w, v->stopped);
	cl_json_key(&w, "n_redacted");
	cl_json_uint(&w, v->n_redacted);
	cl_json_key(&w, "pii");
	cl_json_arr_begin(&w);
	for (k = 1; k <= POLICY_PII_ALL; k <<= 1)
		if (v->redacted_pii & k)
			cl_json_str(&w, policy_pii_name(k));
	cl_json_arr_end(&w);
	if (why != NULL && *why != '\0') {
		cl_json_key(&w, "why");
		cl_json_str(&w, why);
	}
	cl_json_obj_end(&w);
	return w.err;
}

/*
 * What the policy did: the notice for the user on stderr, and a
 * policy_action event when the session is logged.
 */
static int
report_as(struct cli_broker *b, const struct policy_verdict *v,
    const char *name, const char *why, struct cl_err *err)
{
	struct cl_buf j = CL_BUF_INIT;
	const char *notice;
	int r = CL_OK;

	if (v->kind == POLICY_VERDICT_NONE && name == NULL)
		return CL_OK;
	if ((notice = policy_verdict_notice(v)) != NULL)
		fprintf(stderr, "%s\n", notice);
	if (b->audit != NULL && b->in_session) {
		if (verdict_json(v, name, why, &j) != CL_OK)
			r = cl_errf(err, CL_ENOMEM, "out of memory");
		else
			r = audit_policy_action(b->audit, j.data, err);
	}
	cl_buf_release(&j);
	return r;
}

static int
report(struct cli_broker *b, const struct policy_verdict *v, const char *why,
    struct cl_err *err)
{
	return report_as(b, v, NULL, why, err);
}

/* Text for the audit log, redacted as the policy says. */
static int
audit_text(struct cli_broker *b, const char *p, size_t n, struct cl_buf *o,
    struct cl_err *err)
{
	cl_buf_reset(o);
	if (b->pr->redact == 0) {
		if (cl_buf_append(o, p, n) != CL_OK)
			return cl_errf(err, CL_ENOMEM, "out of memory");
		return CL_OK;
	}
	if (policy_redact_text(b->pr->redact, p, n, o, NULL) != CL_OK)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 2. the usage store                                                  */

/*
 * Daily token use per (profile, local date), in the encrypted store's
 * policy_usage table (store.h: tables carry their module's prefix).
 */
static int
usage_get(void *ctx, const char *profile, const char *day, uint64_t *tokens,
    struct cl_err *err)
{
	struct store *s = ctx;
	sqlite3_stmt *st = NULL;
	int r;

	*tokens = 0;
	if ((r = store_prepare(s, "SELECT tokens FROM policy_usage "
	    "WHERE profile = ?1 AND day = ?2", &st, err)) != CL_OK)
		return r;
	sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
	if ((r = store_step(s, st, err)) == 1) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);

		*tokens = v > 0 ? (uint64_t)v : 0;
		r = CL_OK;
	}
	sqlite3_finalize(st);
	return r;
}

static int
usage_add(void *ctx, const char *profile, const char *day, uint64_t tokens,
    struct cl_err *err)
{
	struct store *s = ctx;
	sqlite3_stmt *st = NULL;
	int r;

	if (tokens > (uint64_t)INT32_MAX)
		tokens = INT32_MAX;	/* one answer never uses more */
	if ((r = store_prepare(s, "INSERT INTO policy_usage "
	    "(profile, day, tokens) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (profile, day) DO UPDATE SET "
	    "tokens = min(tokens + excluded.tokens, 9000000000000000000)",
	    &st, err)) != CL_OK)
		return r;
	sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)tokens);
	r = store_step(s, st, err);
	sqlite3_finalize(st);
	return r < 0 ? r : CL_OK;
}

static const struct policy_usage_ops usage_store_ops = {
	usage_get, usage_add
};

/* ------------------------------------------------------------------ */
/* 3. opening                                                          */

/* Read and parse the policy; no file at all is no limits. */
static int
load_policy(struct cli_broker *b, char **text, size_t *len)
{
	struct cl_err err = CL_ERR_INIT;
	uint8_t h[32];
	char *path = NULL;
	int fd = -1, r;

	*text = NULL;
	*len = 0;
	if ((r = cmd_policy_path(&path, &err)) != CL_OK) {
		r = fail(b, r, &err);
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 && errno != ENOENT) {
		fprintf(stderr, "cloister %s: cannot open the policy '%s': "
		    "%s\n", b->cmd, path, strerror(errno));
		r = CLI_EXIT_FAIL;
		goto out;
	}
	if (fd != -1) {
		if ((r = cl_read_all(fd, POLICY_FILE_MAX, text, len, &err)) !=
		    CL_OK) {
			cl_err_prefix(&err, "policy '%s'", path);
			r = fail(b, r, &err);
			goto out;
		}
		b->have_policy = true;
		crypto_hash_sha256(h, (const uint8_t *)(*text != NULL ? *text :
		    ""), *len);
		hex(b->policy_hash, h);
	}
	/* Never half-applied: the whole file parses, or nothing runs. */
	if ((r = policy_parse(path, *text != NULL ? *text : "", *len, &b->pol,
	    &err)) != CL_OK) {
		fprintf(stderr, "cloister %s: %s\n", b->cmd, err.msg);
		fprintf(stderr, "cloister %s: the policy does not parse, so "
		    "nothing runs until it is fixed ('cloister policy check' "
		    "shows the problem)\n", b->cmd);
		r = CLI_EXIT_FAIL;
		goto out;
	}
	r = CLI_EXIT_OK;
out:
	if (fd != -1)
		close(fd);
	cl_free(path);
	return r;
}

/* The profile: --profile, else "profile = NAME" in the config, else default. */
static int
choose_profile(struct cli_broker *b, const struct cli_broker_args *ba)
{
	char *conf = NULL;

	if (ba->profile != NULL)
		b->profile = cl_strdup(ba->profile);
	else if ((conf = cli_config_value("profile")) != NULL) {
		if (!audit_profile_is_valid(conf)) {
			fprintf(stderr, "cloister %s: bad profile name in the "
			    "configuration file\n", b->cmd);
			cl_free(conf);
			return CLI_EXIT_FAIL;
		}
		b->profile = conf;
	} else
		b->profile = cl_strdup("default");
	if (b->profile == NULL) {
		fprintf(stderr, "cloister %s: out of memory\n", b->cmd);
		return CLI_EXIT_FAIL;
	}
	if ((b->pr = policy_profile(b->pol, b->profile)) != NULL)
		return CLI_EXIT_OK;
	if (!b->have_policy) {
		/* No policy file: every profile runs without limits. */
		b->pr = policy_profile(b->pol, "default");
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "cloister %s: the policy has no profile '%s'\n",
	    b->cmd, b->profile);
	return CLI_EXIT_USAGE;
}

/*
 * Open the store when this session needs it (see broker.h: opening it
 * moves its epoch, so a session that logs nothing and counts nothing
 * never does).  Personal mode: the passphrase, which also makes this an
 * administrator's session.  Shared mode: opens without one; --admin
 * unlocks the admin keys with the admin passphrase.
 */
static int
open_store(struct cli_broker *b, const struct cli_broker_args *ba,
    enum store_mode mode)
{
	struct store_options opt = STORE_OPTIONS_INIT;
	struct cl_err err = CL_ERR_INIT;
	struct cli_pass ps = { NULL, 0 };
	uint64_t n_signed;
	int r;

	if (mode == STORE_MODE_PERSONAL) {
		if (cli_pass_get(b->cmd, ba->pass_fd, "Passphrase: ", &ps) != 0)
			return CLI_EXIT_FAIL;
		r = store_open(b->store_dir, ps.p, ps.len, &opt, &b->store,
		    &err);
	} else {
		r = store_open(b->store_dir, NULL, 0, &opt, &b->store, &err);
		if (r == CL_OK && ba->admin) {
			if (cli_pass_get(b->cmd, ba->pass_fd,
			    "Admin passphrase: ", &ps) != 0) {
				cli_pass_free(&ps);
				return CLI_EXIT_FAIL;
			}
			r = store_unlock(b->store, ps.p, ps.len, &err);
		}
	}
	cli_pass_free(&ps);
	if (r != CL_OK)
		return fail(b, r, &err);
	/* The administrator is here: sign what sessions left pending. */
	if (store_is_unlocked(b->store) &&
	    audit_sign_pending(b->store, &n_signed, &err) != CL_OK)
		fprintf(stderr, "cloister %s: warning: %s ('cloister audit "
		    "verify' says more)\n", b->cmd, err.msg);
	return CLI_EXIT_OK;
}

/* Ask for and check the profile's PIN. */
static int
check_pin(struct cli_broker *b, const struct cli_broker_args *ba)
{
	struct cl_err err = CL_ERR_INIT;
	char *pin = NULL;
	size_t len = 0;
	int fd = ba->pin_fd, r;
	char prompt[96];

	if (b->pr->pin == NULL)
		return CLI_EXIT_OK;
	if (fd < 0) {
		if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) ==
		    -1) {
			fprintf(stderr, "cloister %s: profile '%s' needs its "
			    "PIN and there is no terminal to ask for it; use "
			    "--pin-fd\n", b->cmd, b->profile);
			return CLI_EXIT_AUTH;
		}
		snprintf(prompt, sizeof(prompt), "PIN for profile '%s': ",
		    b->profile);
		if (write(fd, prompt, strlen(prompt)) < 0) {
			/* The prompt is a courtesy; the read decides. */
		}
	}
	r = policy_pin_read(fd, &pin, &len, &err);
	if (ba->pin_fd < 0) {
		if (write(fd, "\n", 1) < 0) {
			/* as above */
		}
		close(fd);
	}
	if (r == CL_OK)
		r = policy_pin_check(b->pr, pin, len, &err);
	policy_pin_free(pin, len);
	if (r != CL_OK) {
		fprintf(stderr, "cloister %s: %s\n", b->cmd, r == CL_EAUTH ?
		    "wrong PIN" : err.msg);
		return r == CL_EAUTH ? CLI_EXIT_AUTH : exit_for(r);
	}
	return CLI_EXIT_OK;
}

/*
 * A session refused before the engine started: the notice, and when the
 * profile is logged a short session with the verdict.
 */
static int
refuse_early(struct cli_broker *b, const struct policy_verdict *v,
    const char *name, const char *detail)
{
	struct cl_err err = CL_ERR_INIT;

	if (b->audit != NULL && audit_level(b->audit) != AUDIT_LEVEL_OFF &&
	    audit_session_start(b->audit, NULL, b->model_hash[0] ?
	    b->model_hash : NULL, b->have_policy ? b->policy_hash : NULL,
	    &err) == CL_OK)
		b->in_session = true;
	if (report_as(b, v, name, detail, &err) != CL_OK)
		fprintf(stderr, "cloister %s: audit: %s\n", b->cmd, err.msg);
	if (detail != NULL)
		fprintf(stderr, "cloister %s: %s\n", b->cmd, detail);
	if (b->in_session) {
		if (audit_session_end(b->audit, "refused", &err) != CL_OK)
			fprintf(stderr, "cloister %s: audit: %s\n", b->cmd,
			    err.msg);
		b->in_session = false;
	}
	return CLI_EXIT_POLICY;
}

/* Open the model, hash it when needed, and check it is allowed. */
static int
check_model(struct cli_broker *b, const char *path)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy_verdict v;
	struct stat sb;
	uint8_t h[32];
	char detail[PATH_MAX + 160];
	int r;

	if ((b->model_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) ==
	    -1) {
		fprintf(stderr, "cloister %s: cannot open model '%s': %s\n",
		    b->cmd, path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (fstat(b->model_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fprintf(stderr, "cloister %s: model '%s' is not a regular "
		    "file\n", b->cmd, path);
		return CLI_EXIT_FAIL;
	}
	b->a->model_fd = b->model_fd;
	/*
	 * The hash is what the policy's `models` and the audit log name the
	 * model by.  It costs one read of the file (libsodium's SHA-256
	 * does about 200 MB/s on one core: half a minute for a 5 GB model),
	 * so it is only computed when one of them needs it, and never
	 * cached: a cache the user can write would let anyone claim any
	 * hash.  The descriptor hashed is the
	 * one the engine gets, so the file cannot be swapped in between.
	 */
	if (b->pr->n_models == 0 && b->audit == NULL)
		return CLI_EXIT_OK;
	if ((r = cli_sha256_fd(b->model_fd, h, &err)) != CL_OK)
		return fail(b, r, &err);
	hex(b->model_hash, h);
	if (policy_model_is_allowed(b->pr, h))
		return CLI_EXIT_OK;
	memset(&v, 0, sizeof(v));
	v.kind = POLICY_VERDICT_NONE;
	snprintf(detail, sizeof(detail), "profile '%s' may not use the model "
	    "'%s' (SHA-256 %s): the policy lists the models it may use",
	    b->profile, path, b->model_hash);
	fprintf(stderr, "[cloister: this profile may not use this model]\n");
	v.rule = -1;
	v.stopped = true;
	return refuse_early(b, &v, "model", detail);
}

/* Bring the sampling settings within the profile's caps. */
static void
clamp_sampling(struct cli_broker *b)
{
	struct engine_client_gen *g = &b->a->gen;
	struct policy_sampling s;

	s.temperature = g->temperature;
	s.top_k = g->top_k > 0 ? (uint32_t)g->top_k : 0;
	s.top_p = g->top_p;
	s.min_p = g->min_p;
	s.repeat_penalty = g->repeat_penalty;
	if (!policy_sampling_clamp(b->pr, &s))
		return;
	g->temperature = (float)s.temperature;
	g->top_k = s.top_k > (uint32_t)PROTO_MAX_TOP_K ?
	    (int32_t)PROTO_MAX_TOP_K : (int32_t)s.top_k;
	g->top_p = (float)s.top_p;
	g->min_p = (float)s.min_p;
	g->repeat_penalty = (float)s.repeat_penalty;
	fprintf(stderr, "cloister %s: note: the sampling settings were "
	    "brought within profile '%s''s limits (temperature %.2f, top-k "
	    "%d, top-p %.2f, min-p %.2f, repeat penalty %.2f)\n", b->cmd,
	    b->profile, (double)g->temperature, (int)g->top_k,
	    (double)g->top_p, (double)g->min_p, (double)g->repeat_penalty);
}

int
cli_broker_open(const struct cli_broker_args *ba, struct cli_engine_args *a,
    const char *model_path, struct cli_broker **out)
{
	struct cl_err err = CL_ERR_INIT;
	struct cli_broker *b;
	struct policy_verdict v;
	enum policy_seal_state seal = POLICY_SEAL_NONE;
	enum store_mode mode = STORE_MODE_PERSONAL;
	uint8_t pk[STORE_SIGN_PUBLICKEYBYTES];
	static const uint8_t no_key[STORE_SIGN_PUBLICKEYBYTES];
	uint64_t left;
	bool have_store, need_store, is_admin;
	char *text = NULL, *end;
	const char *s;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((b = cl_calloc(1, sizeof(*b))) == NULL) {
		fprintf(stderr, "cloister %s: out of memory\n", ba->cmd);
		return CLI_EXIT_FAIL;
	}
	b->cmd = ba->cmd;
	b->a = a;
	b->model_fd = -1;
	b->clock = policy_clock_system;
	/* Test suite only (cloister(1), ENVIRONMENT): a fixed clock. */
	if ((s = getenv("CLOISTER_TEST_NOW")) != NULL && *s != '\0') {
		long long t;

		errno = 0;
		t = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0' || end == s || t <= 0) {
			fprintf(stderr, "cloister %s: bad CLOISTER_TEST_NOW\n",
			    b->cmd);
			r = CLI_EXIT_USAGE;
			goto out;
		}
		b->test_now = (time_t)t;
		b->clock.now = test_clock;
		b->clock.ctx = b;
	}

	/* 1. The policy and the profile. */
	if ((r = load_policy(b, &text, &len)) != CLI_EXIT_OK ||
	    (r = choose_profile(b, ba)) != CLI_EXIT_OK)
		goto out;

	/* 2. The store: does one exist, and does this session need it? */
	if ((r = store_dir_default(&b->store_dir, &err)) != CL_OK) {
		r = fail(b, r, &err);
		goto out;
	}
	r = store_peek(b->store_dir, &mode, pk, &err);
	if (r != CL_OK && r != CL_ENOTFOUND) {
		r = fail(b, r, &err);
		goto out;
	}
	have_store = r == CL_OK;
	need_store = ba->admin || b->pr->audit != POLICY_AUDIT_OFF ||
	    b->pr->daily_token_quota != POLICY_UNLIMITED;
	if (need_store && !have_store) {
		if (ba->admin)
			fprintf(stderr, "cloister %s: --admin needs the store, "
			    "and there is none yet: run 'cloister init'\n",
			    b->cmd);
		else if (b->pr->daily_token_quota != POLICY_UNLIMITED)
			fprintf(stderr, "cloister %s: profile '%s' has a daily "
			    "token quota, which is counted in the encrypted "
			    "store, and there is no store yet: the "
			    "administrator runs 'cloister init'\n", b->cmd,
			    b->profile);
		else
			fprintf(stderr, "cloister %s: the policy asks for an "
			    "audit log of profile '%s', and there is no store "
			    "to keep it in yet: the administrator runs "
			    "'cloister init' and 'cloister audit enable'\n",
			    b->cmd, b->profile);
		r = ba->admin ? CLI_EXIT_FAIL : CLI_EXIT_POLICY;
		goto out;
	}
	if (need_store && (r = open_store(b, ba, mode)) != CLI_EXIT_OK)
		goto out;
	is_admin = b->store != NULL && store_is_unlocked(b->store);

	/* 3. The seal gate (policy_seal_gate() has the rules). */
	if (b->have_policy) {
		if (have_store)
			seal = policy_seal_verify(text, len, pk);
		else if (policy_seal_verify(text, len, no_key) !=
		    POLICY_SEAL_NONE && !is_admin) {
			fprintf(stderr, "cloister %s: the policy is sealed, "
			    "but there is no store holding the administrator's "
			    "key to check the seal with (was it removed?); "
			    "restore the store, or the administrator removes "
			    "the seal line\n", b->cmd);
			r = CLI_EXIT_POLICY;
			goto out;
		}
	} else if (have_store && mode == STORE_MODE_SHARED && !is_admin) {
		fprintf(stderr, "cloister %s: this installation has an "
		    "administrator (a shared store) but no policy file: the "
		    "administrator writes one (see cloister-policy(5)) and "
		    "runs 'cloister policy seal'\n", b->cmd);
		r = CLI_EXIT_POLICY;
		goto out;
	}
	if ((r = policy_seal_gate(seal, is_admin, have_store &&
	    mode == STORE_MODE_SHARED, &err)) != CL_OK) {
		memset(&v, 0, sizeof(v));
		v.kind = POLICY_VERDICT_SEAL;
		if (seal == POLICY_SEAL_MODIFIED)
			fprintf(stderr, "%s\n", policy_verdict_notice(&v));
		r = fail(b, r, &err);
		goto out;
	}
	if (is_admin && b->have_policy && seal != POLICY_SEAL_OK &&
	    mode == STORE_MODE_SHARED)
		fprintf(stderr, "cloister %s: note: the policy is %s; as the "
		    "administrator you may run it, other profiles may not\n",
		    b->cmd, seal == POLICY_SEAL_NONE ? "not sealed" :
		    "not sealed as it is now");

	/* 4. The PIN. */
	if ((r = check_pin(b, ba)) != CLI_EXIT_OK)
		goto out;

	/* 5. The audit log, when the policy asks for one. */
	if (b->pr->audit != POLICY_AUDIT_OFF) {
		if ((r = audit_open(b->store, b->profile, &b->audit, &err)) !=
		    CL_OK) {
			cl_err_prefix(&err, "the audit log");
			r = fail(b, r, &err);
			goto out;
		}
		if ((int)audit_level(b->audit) < (int)b->pr->audit) {
			fprintf(stderr, "cloister %s: the policy asks for an "
			    "audit log at level %s for profile '%s', but the "
			    "log is set to %s for it: the administrator runs "
			    "'cloister audit enable --level %s --profile %s'\n",
			    b->cmd, policy_audit_name(b->pr->audit),
			    b->profile, audit_level_name(audit_level(b->audit)),
			    policy_audit_name(b->pr->audit), b->profile);
			r = CLI_EXIT_POLICY;
			goto out;
		}
	}

	/* 6. Hours and quota now (and again before every question). */
	if (b->store != NULL) {
		if ((r = store_exec(b->store, "CREATE TABLE IF NOT EXISTS "
		    "policy_usage (profile TEXT NOT NULL, day TEXT NOT NULL, "
		    "tokens INTEGER NOT NULL, PRIMARY KEY (profile, day))",
		    &err)) != CL_OK) {
			r = fail(b, r, &err);
			goto out;
		}
		b->usage.ops = &usage_store_ops;
		b->usage.ctx = b->store;
	} else {
		/* No quota (else the store is open): never consulted. */
		if ((r = policy_usage_mem_new(&b->usage, &err)) != CL_OK) {
			r = fail(b, r, &err);
			goto out;
		}
		b->usage_mem = true;
	}
	r = policy_access_check(b->pr, &b->clock, &b->usage, &left, &v, &err);
	if (r == CL_EPOLICY) {
		r = refuse_early(b, &v, NULL, NULL);
		goto out;
	} else if (r != CL_OK) {
		r = fail(b, r, &err);
		goto out;
	}

	/* 7. The model, and the sampling caps. */
	if ((r = check_model(b, model_path)) != CLI_EXIT_OK)
		goto out;
	clamp_sampling(b);
	if (b->pr->max_output_tokens < a->gen.max_tokens)
		a->gen.max_tokens = (uint32_t)b->pr->max_output_tokens;
	if (a->gen.max_tokens == 0)
		a->gen.max_tokens = 1;	/* the filter stops at once */
	*out = b;
	b = NULL;
	r = CLI_EXIT_OK;
out:
	if (text != NULL) {
		sodium_memzero(text, len);
		cl_free(text);
	}
	cli_broker_free(b);
	return r;
}

void
cli_broker_free(struct cli_broker *b)
{
	if (b == NULL)
		return;
	policy_filter_free(b->f);
	cl_buf_release(&b->held);
	audit_close(b->audit);
	if (b->usage_mem)
		policy_usage_mem_free(&b->usage);
	store_close(b->store);
	if (b->model_fd != -1)
		close(b->model_fd);
	if (b->a != NULL && b->a->model_fd == b->model_fd)
		b->a->model_fd = -1;
	policy_free(b->pol);
	cl_free(b->system);
	cl_free(b->store_dir);
	cl_free(b->profile);
	cl_free(b);
}

int
cli_broker_system(struct cli_broker *b, const char *user, const char **out,
    size_t *out_len)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf o = CL_BUF_INIT, checked = CL_BUF_INIT;
	struct policy_verdict v;
	const char *ps = b->pr->system_prompt;
	int r;

	*out = NULL;
	*out_len = 0;
	if (user != NULL) {
		/* The user's part is checked like a question. */
		r = policy_check_prompt(b->pr, user, strlen(user),
		    POLICY_UNLIMITED, &checked, &v, &err);
		if (r == CL_EPOLICY) {
			(void)report(b, &v, NULL, &err);
			fprintf(stderr, "cloister %s: the --system text: %s\n",
			    b->cmd, err.msg);
			r = CLI_EXIT_POLICY;
			goto out;
		}
		if (r != CL_OK) {
			r = fail(b, r, &err);
			goto out;
		}
		if (v.kind != POLICY_VERDICT_NONE)
			(void)report(b, &v, NULL, &err);
	}
	if ((ps != NULL && cl_buf_puts(&o, ps) != CL_OK) ||
	    (ps != NULL && user != NULL && cl_buf_puts(&o, "\n\n") != CL_OK) ||
	    (user != NULL && cl_buf_append(&o, checked.data != NULL ?
	    checked.data : "", checked.len) != CL_OK)) {
		fprintf(stderr, "cloister %s: out of memory\n", b->cmd);
		r = CLI_EXIT_FAIL;
		goto out;
	}
	if (o.len > 0) {
		b->system_len = o.len;
		b->system = cl_buf_steal(&o, NULL);
		*out = b->system;
		*out_len = b->system_len;
	}
	r = CLI_EXIT_OK;
out:
	cl_buf_release(&o);
	cl_buf_release(&checked);
	return r;
}

/* ------------------------------------------------------------------ */
/* 4. the hooks of a turn                                              */

/* A refusal of the question: notice, log, CL_EPOLICY. */
static int
refuse_prompt(struct cli_broker *b, struct policy_verdict *v,
    const char *why, struct cl_err *err)
{
	struct cl_err e2 = CL_ERR_INIT;
	int r;

	v->prompt = true;
	v->stopped = true;
	if ((r = report(b, v, why, &e2)) != CL_OK)
		return cl_errf(err, r, "audit: %s", e2.msg);
	if (why != NULL && *why != '\0')
		return cl_errf(err, CL_EPOLICY, "%s", why);
	err->msg[0] = '\0';
	err->code = CL_EPOLICY;
	return CL_EPOLICY;
}

static int
hook_prompt_check(void *arg, const struct engine_client_msg *msgs,
    size_t n_msgs, struct engine_client_gen *g, struct cl_buf *text,
    bool *changed, struct cl_err *err)
{
	struct cli_broker *b = arg;
	const struct engine_client_msg *q = &msgs[n_msgs - 1];
	struct policy_hook_result hr;
	struct policy_verdict v;
	struct cl_buf ab = CL_BUF_INIT;
	uint64_t left, est = 0, budget;
	uint32_t nt;
	size_t i;
	int r;

	memset(&hr, 0, sizeof(hr));
	*changed = false;
	policy_filter_free(b->f);
	b->f = NULL;
	b->finished = false;
	b->hook_blocked = false;
	b->hook_why[0] = '\0';
	cl_buf_reset(&b->held);

	/* The question as asked, for the log (redacted as the policy says). */
	if (b->audit != NULL && b->in_session &&
	    ((r = audit_text(b, q->text, q->text_len, &ab, err)) != CL_OK ||
	    (r = audit_prompt(b->audit, ab.data != NULL ? ab.data : "",
	    ab.len, err)) != CL_OK))
		goto out;

	/* Hours and today's quota, again: a chat can outlast a window. */
	r = policy_access_check(b->pr, &b->clock, &b->usage, &left, &v, err);
	if (r == CL_EPOLICY) {
		r = refuse_prompt(b, &v, NULL, err);
		goto out;
	}
	if (r != CL_OK)
		goto out;

	/* Length, terms, patterns, personal data. */
	nt = 0;
	if (b->pr->max_prompt_tokens != POLICY_UNLIMITED &&
	    (r = engine_client_tokenize(b->c, q->text, q->text_len, &nt,
	    err)) != CL_OK)
		goto out;
	r = policy_check_prompt(b->pr, q->text, q->text_len,
	    b->pr->max_prompt_tokens != POLICY_UNLIMITED ? nt :
	    POLICY_UNLIMITED, text, &v, err);
	if (r == CL_EPOLICY) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		r = refuse_prompt(b, &v, why, err);
		goto out;
	}
	if (r != CL_OK)
		goto out;
	if (v.kind != POLICY_VERDICT_NONE) {
		*changed = true;
		if ((r = report(b, &v, NULL, err)) != CL_OK)
			goto out;
	}

	/* The administrator's own check. */
	if (b->pr->prompt_hook != NULL) {
		const char *t = *changed ? text->data : q->text;
		size_t tl = *changed ? text->len : q->text_len;

		r = policy_hook_run(b->pr, POLICY_HOOK_PROMPT, t != NULL ? t :
		    "", tl, &hr, err);
		if (hr.action == POLICY_HOOK_BLOCK) {
			memset(&v, 0, sizeof(v));
			v.kind = POLICY_VERDICT_HOOK;
			v.rule = -1;
			r = refuse_prompt(b, &v, hr.why, err);
			goto out;
		}
		if (r != CL_OK)
			goto out;
		if (hr.action == POLICY_HOOK_REPLACE) {
			cl_buf_reset(text);
			if (cl_buf_append(text, hr.text != NULL ? hr.text : "",
			    hr.text_len) != CL_OK) {
				r = cl_errf(err, CL_ENOMEM, "out of memory");
				goto out;
			}
			*changed = true;
		}
	}

	/*
	 * What is left of today's quota after this prompt caps the answer.
	 * The prompt is counted as the tokenizer counts its messages; the
	 * engine's own count (with the chat template) is what is charged.
	 */
	budget = POLICY_UNLIMITED;
	if (left != POLICY_UNLIMITED) {
		for (i = 0; i < n_msgs; i++) {
			const char *t = msgs[i].text;
			size_t tl = msgs[i].text_len;

			if (i == n_msgs - 1 && *changed) {
				t = text->data != NULL ? text->data : "";
				tl = text->len;
			}
			if ((r = engine_client_tokenize(b->c, t, tl, &nt,
			    err)) != CL_OK)
				goto out;
			est += nt;
		}
		if (est >= left) {
			memset(&v, 0, sizeof(v));
			v.kind = POLICY_VERDICT_QUOTA;
			v.rule = -1;
			r = refuse_prompt(b, &v, NULL, err);
			goto out;
		}
		budget = left - est;
		if (budget < g->max_tokens)
			g->max_tokens = (uint32_t)budget;
	}
	if (b->pr->max_output_tokens < g->max_tokens)
		g->max_tokens = (uint32_t)b->pr->max_output_tokens;
	if (g->max_tokens == 0)
		g->max_tokens = 1;
	r = policy_filter_new(b->pr, budget, &b->f, err);
out:
	policy_hook_result_release(&hr);
	cl_buf_release(&ab);
	return r;
}

/*
 * End of the answer's filtering: what the filter releases, through the
 * output hook when the profile has one (which sees the whole answer).
 */
static int
finish_filter(struct cli_broker *b, struct cl_buf *out, struct cl_err *err)
{
	struct policy_hook_result hr;
	int r;

	if (b->finished)
		return CL_OK;
	b->finished = true;
	cl_buf_reset(&b->held);
	if ((r = policy_filter_finish(b->f, &b->held, err)) != CL_OK)
		return r;
	if (b->pr->output_hook == NULL || b->held.len == 0) {
		if (cl_buf_append(out, b->held.data != NULL ? b->held.data : "",
		    b->held.len) != CL_OK)
			return cl_errf(err, CL_ENOMEM, "out of memory");
		return CL_OK;
	}
	memset(&hr, 0, sizeof(hr));
	r = policy_hook_run(b->pr, POLICY_HOOK_OUTPUT, b->held.data,
	    b->held.len, &hr, err);
	if (hr.action == POLICY_HOOK_BLOCK) {
		b->hook_blocked = true;
		snprintf(b->hook_why, sizeof(b->hook_why), "%s", hr.why);
		r = CL_OK;
	} else if (r == CL_OK) {
		const char *t = hr.action == POLICY_HOOK_REPLACE ? hr.text :
		    b->held.data;
		size_t tl = hr.action == POLICY_HOOK_REPLACE ? hr.text_len :
		    b->held.len;

		if (cl_buf_append(out, t != NULL ? t : "", tl) != CL_OK)
			r = cl_errf(err, CL_ENOMEM, "out of memory");
	}
	policy_hook_result_release(&hr);
	return r;
}

static int
hook_output_filter(void *arg, const char *p, size_t n, bool final,
    struct cl_buf *out, bool *stop, struct cl_err *err)
{
	struct cli_broker *b = arg;
	int r;

	*stop = false;
	if (b->f == NULL)
		return cl_errf(err, CL_EINTERNAL, "no filter for this answer");
	if (final)
		return finish_filter(b, out, err);
	if (b->finished) {
		*stop = true;
		return CL_OK;
	}
	r = policy_filter_feed(b->f, p, n, out, err);
	if (r == CL_EPOLICY) {
		/* Stop now: CANCEL goes out, the notice comes at the end. */
		*stop = true;
		return finish_filter(b, out, err);
	}
	return r;
}

static int
hook_answer(void *arg, const char *text, size_t len,
    const struct engine_client_done *done, struct cl_err *err)
{
	struct cli_broker *b = arg;
	struct policy_verdict v;
	struct audit_tokens tok;
	struct cl_buf ab = CL_BUF_INIT;
	bool stopped = false;
	int r;

	/* Charge what the engine used, whatever became of the answer. */
	if ((r = policy_quota_charge(b->pr, &b->clock, &b->usage,
	    (uint64_t)done->n_prompt + done->n_gen, err)) != CL_OK)
		goto out;
	if (b->f != NULL) {
		v = *policy_filter_verdict(b->f);
		v.prompt = false;
		stopped = v.stopped;
		if ((r = report(b, &v, NULL, err)) != CL_OK)
			goto out;
	}
	if (b->hook_blocked) {
		memset(&v, 0, sizeof(v));
		v.kind = POLICY_VERDICT_HOOK;
		v.rule = -1;
		v.stopped = true;
		stopped = true;
		if ((r = report(b, &v, b->hook_why, err)) != CL_OK)
			goto out;
		fprintf(stderr, "cloister %s: the output check: %s\n", b->cmd,
		    b->hook_why);
	}
	if (b->audit != NULL && b->in_session) {
		tok.n_prompt = done->n_prompt;
		tok.n_output = done->n_gen;
		if ((r = audit_text(b, text, len, &ab, err)) != CL_OK ||
		    (r = audit_answer(b->audit, ab.data != NULL ? ab.data : "",
		    ab.len, &tok, err)) != CL_OK)
			goto out;
	}
	if (stopped) {
		err->msg[0] = '\0';
		err->code = CL_EPOLICY;
		r = CL_EPOLICY;
	}
out:
	if (b->audit != NULL && ab.data != NULL)
		sodium_memzero(ab.data, ab.len);
	cl_buf_release(&ab);
	policy_filter_free(b->f);
	b->f = NULL;
	return r;
}

/* ------------------------------------------------------------------ */
/* 5. the audit session                                                */

static int
hook_session_start(void *arg, const struct engine_client_info *in,
    struct cl_err *err)
{
	struct cli_broker *b = arg;
	struct cl_buf j = CL_BUF_INIT;
	struct cl_json_writer w;
	int r;

	if (b->audit == NULL || b->in_session)
		return CL_OK;
	cl_json_init(&w, &j);
	cl_json_obj_begin(&w);
	cli_jail_json(&w, in, NULL);
	cl_json_key(&w, "engine_pid");
	cl_json_int(&w, in->pid);
	cl_json_obj_end(&w);
	if (w.err != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = audit_session_start(b->audit, j.data, b->model_hash[0] ?
	    b->model_hash : NULL, b->have_policy ? b->policy_hash : NULL,
	    err)) != CL_OK)
		goto out;
	b->in_session = true;
	/* A jail that is not whole gets its own event, easy to list. */
	if (in->verdict != SANDBOX_VERDICT_WHOLE)
		r = audit_jail_report(b->audit, j.data, err);
out:
	if (r != CL_OK)
		cl_err_prefix(err, "the audit log");
	cl_buf_release(&j);
	return r;
}

static void
hook_session_end(void *arg, int status)
{
	struct cli_broker *b = arg;
	struct cl_err err = CL_ERR_INIT;
	char reason[32];

	if (b->audit == NULL || !b->in_session)
		return;
	snprintf(reason, sizeof(reason), "exit %d", status);
	if (audit_session_end(b->audit, reason, &err) != CL_OK)
		fprintf(stderr, "cloister %s: the audit log: %s\n", b->cmd,
		    err.msg);
	b->in_session = false;
}

void
cli_broker_hooks(struct cli_broker *b, struct engine_client *c,
    struct cli_hooks *h)
{
	memset(h, 0, sizeof(*h));
	b->c = c;
	h->arg = b;
	h->prompt_check = hook_prompt_check;
	h->output_filter = hook_output_filter;
	h->answer = hook_answer;
	h->session_start = hook_session_start;
	h->session_end = hook_session_end;
}
