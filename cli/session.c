/*
 * session.c - shared machinery of ask, chat, doctor and bench (see
 * session.h).
 *
 * Divisions:
 *   1. options and the model
 *   2. starting the engine
 *   3. output
 *   4. hooks, Ctrl-C and one turn
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/session.h"

/* ------------------------------------------------------------------ */
/* 1. options and the model                                            */

void
cli_engine_args_init(struct cli_engine_args *a, const char *cmd)
{
	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	a->model_fd = -1;
	a->sandbox = SANDBOX_MODE_FULL;
	/*
	 * The model cards' recommended settings, as engine_sampling_defaults()
	 * (lfm2-spec.md section 8); repeated here because the broker does
	 * not link the engine library.
	 */
	a->gen.temperature = 0.3f;
	a->gen.top_k = 0;
	a->gen.top_p = 1.0f;
	a->gen.min_p = 0.15f;
	a->gen.repeat_penalty = 1.05f;
	a->gen.repeat_last_n = 64;
	a->gen.max_tokens = PROTO_MAX_GEN_TOKENS;	/* until the context */
}

static int
bad_value(const struct cli_engine_args *a, const char *opt, const char *arg)
{
	fprintf(stderr, "cloister %s: bad value '%s' for %s\n", a->cmd, arg,
	    opt);
	return -1;
}

static bool
parse_float(const char *s, float lo, float hi, float *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) ||
	    v < lo || v > hi)
		return false;
	*out = (float)v;
	return true;
}

static bool
parse_ulong(const char *s, unsigned long long hi, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > hi)
		return false;
	*out = v;
	return true;
}

int
cli_engine_option(struct cli_engine_args *a, int ch, const char *arg)
{
	struct cl_err err = CL_ERR_INIT;
	unsigned long long u;

	switch (ch) {
	case CLI_OPT_MODEL:
		a->model = arg;
		return 1;
	case CLI_OPT_SANDBOX:
		a->allow_missing = 0;
		if (strcmp(arg, "full") == 0)
			a->sandbox = SANDBOX_MODE_FULL;
		else if (strcmp(arg, "off") == 0)
			a->sandbox = SANDBOX_MODE_OFF;
		else if (strcmp(arg, "degraded") == 0) {
			/* Any layer may be missing; each is reported. */
			a->sandbox = SANDBOX_MODE_DEGRADED;
			a->allow_missing = (1u << SANDBOX_N_LAYERS) - 1;
		} else if (strncmp(arg, "degraded=", 9) == 0) {
			a->sandbox = SANDBOX_MODE_DEGRADED;
			if (engine_client_parse_layers(arg + 9,
			    &a->allow_missing, &err) != CL_OK) {
				fprintf(stderr, "cloister %s: %s\n", a->cmd,
				    err.msg);
				return -1;
			}
		} else
			return bad_value(a, "--sandbox", arg);
		return 1;
	case 't':
		if (!parse_ulong(arg, 256, &u) || u < 1)
			return bad_value(a, "--threads", arg);
		a->n_threads = (int)u;
		return 1;
	case 'c':
		if (!parse_ulong(arg, 1u << 24, &u))
			return bad_value(a, "--ctx-size", arg);
		a->n_ctx = (uint32_t)u;
		return 1;
	case CLI_OPT_KERNELS:
		if (strcmp(arg, "ref") == 0)
			a->ref_kernels = true;
		else if (strcmp(arg, "auto") == 0)
			a->ref_kernels = false;
		else
			return bad_value(a, "--kernels", arg);
		return 1;
	case CLI_OPT_TEMP:
		if (!parse_float(arg, 0, PROTO_MAX_TEMPERATURE,
		    &a->gen.temperature))
			return bad_value(a, "--temp", arg);
		return 1;
	case CLI_OPT_TOP_K:
		if (!parse_ulong(arg, PROTO_MAX_TOP_K, &u))
			return bad_value(a, "--top-k", arg);
		a->gen.top_k = (int32_t)u;
		return 1;
	case CLI_OPT_TOP_P:
		if (!parse_float(arg, 0, 1, &a->gen.top_p))
			return bad_value(a, "--top-p", arg);
		return 1;
	case CLI_OPT_MIN_P:
		if (!parse_float(arg, 0, 1, &a->gen.min_p))
			return bad_value(a, "--min-p", arg);
		return 1;
	case CLI_OPT_REPEAT_PENALTY:
		if (!parse_float(arg, 0, PROTO_MAX_REPEAT_PENALTY,
		    &a->gen.repeat_penalty) || a->gen.repeat_penalty <= 0)
			return bad_value(a, "--repeat-penalty", arg);
		return 1;
	case CLI_OPT_REPEAT_LAST_N:
		if (!parse_ulong(arg, PROTO_MAX_REPEAT_LAST_N, &u))
			return bad_value(a, "--repeat-last-n", arg);
		a->gen.repeat_last_n = (int32_t)u;
		return 1;
	case CLI_OPT_SEED:
		if (!parse_ulong(arg, UINT64_MAX, &u))
			return bad_value(a, "--seed", arg);
		a->gen.seed = u;
		a->seed_set = true;
		return 1;
	case 'n':
		if (!parse_ulong(arg, PROTO_MAX_GEN_TOKENS, &u) || u < 1)
			return bad_value(a, "--n-predict", arg);
		a->gen.max_tokens = (uint32_t)u;
		return 1;
	default:
		return 0;
	}
}

char *
cli_config_value(const char *key)
{
	size_t klen = strlen(key);
	char path[PATH_MAX], line[PATH_MAX + 64];
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *res = NULL, *p, *e;
	FILE *f;

	if (xdg != NULL && *xdg == '/')
		snprintf(path, sizeof(path), "%s/cloister/config", xdg);
	else if (home != NULL && *home == '/')
		snprintf(path, sizeof(path), "%s/.config/cloister/config",
		    home);
	else
		return NULL;
	if ((f = fopen(path, "re")) == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		p = line + strspn(line, " \t");
		if (strncmp(p, key, klen) != 0)
			continue;
		p += klen;
		p += strspn(p, " \t");
		if (*p != '=')
			continue;
		p++;
		p += strspn(p, " \t");
		e = p + strlen(p);
		while (e > p && (e[-1] == '\n' || e[-1] == '\r' ||
		    e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > p) {
			cl_free(res);
			res = cl_strndup(p, (size_t)(e - p));
		}
	}
	fclose(f);
	return res;
}

char *
cli_model_path(const struct cli_engine_args *a)
{
	const char *env = getenv("CLOISTER_MODEL");
	char *p;

	if (a->model != NULL)
		return cl_strdup(a->model);
	if (env != NULL && *env != '\0')
		return cl_strdup(env);
	if ((p = cli_config_value("model")) != NULL)
		return p;
	fprintf(stderr,
	    "cloister %s: no model configured.\n"
	    "Give one with --model PATH, CLOISTER_MODEL=PATH, or a line\n"
	    "'model = PATH' in $XDG_CONFIG_HOME/cloister/config.\n"
	    "cloister runs Liquid AI's LFM2 and LFM2-MoE models as GGUF "
	    "files, for example\n"
	    "LFM2-8B-A1B from https://huggingface.co/LiquidAI/"
	    "LFM2-8B-A1B-GGUF\n"
	    "(Q4_0 or Q4_K_M are good choices on a laptop).\n"
	    "To try cloister without downloading anything, make a small "
	    "synthetic model:\n"
	    "  cloister-mkmodel --preset tiny -o tiny.gguf\n"
	    "  cloister-mkmodel --preset scripted --text 'Hello!' "
	    "-o hello.gguf\n", a->cmd);
	return NULL;
}

int
cli_exit_status(int code)
{
	switch (code) {
	case CL_OK:
		return CLI_EXIT_OK;
	case CL_EPOLICY:
		return CLI_EXIT_POLICY;
	case CL_EENGINE:
		return CLI_EXIT_ENGINE;
	case CL_ESANDBOX:
		return CLI_EXIT_SANDBOX;
	case CL_EAUTH:
		return CLI_EXIT_AUTH;
	case CL_ECRYPTO:
		return CLI_EXIT_TAMPER;
	default:
		return CLI_EXIT_FAIL;
	}
}

/* ------------------------------------------------------------------ */
/* 2. starting the engine                                              */

struct progress_state {
	const char	*cmd;
	bool		 shown;
	int		 last;
};
static struct progress_state progress_st;

static void
show_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress_state *ps = arg;
	int pct = total > 0 ? (int)(done * 100 / total) : 0;

	if (pct == ps->last)
		return;
	ps->last = pct;
	ps->shown = true;
	fprintf(stderr, "\rcloister %s: loading the model in the jail: "
	    "%3d%%", ps->cmd, pct);
	fflush(stderr);
}

static void
show_engine_line(void *arg, const char *line)
{
	fprintf(stderr, "cloister %s: engine: %s\n", (const char *)arg, line);
}

void
cli_warn_sandbox_off(const char *cmd)
{
	fprintf(stderr,
	    "cloister %s: WARNING: --sandbox=off: the engine runs WITHOUT "
	    "its jail.\n"
	    "cloister %s: WARNING: a hostile model file could read your "
	    "files and use the network.\n"
	    "cloister %s: WARNING: use this for benchmarks only.\n",
	    cmd, cmd, cmd);
}

int
cli_engine_spawn(const struct cli_engine_args *a, const char *model,
    bool quiet, struct engine_client **out)
{
	struct engine_client_opts o;
	struct cl_err err = CL_ERR_INIT;
	const char *s;
	int r;

	*out = NULL;
	memset(&o, 0, sizeof(o));
	o.model_path = model;
	if (a->model_fd >= 0) {
		o.have_model_fd = true;
		o.model_fd = a->model_fd;
	}
	o.sandbox = a->sandbox;
	o.allow_missing = a->allow_missing;
	o.n_threads = a->n_threads;
	o.n_ctx = a->n_ctx;
	o.ref_kernels = a->ref_kernels;
	progress_st.cmd = a->cmd;
	progress_st.last = -1;
	progress_st.shown = false;
	if (a->progress != NULL) {
		o.progress = a->progress;
		o.progress_arg = a->progress_arg;
	} else if (!quiet && isatty(STDERR_FILENO)) {
		o.progress = show_progress;
		o.progress_arg = &progress_st;
	}
	o.stderr_line = show_engine_line;
	o.stderr_arg = (void *)a->cmd;
	/* For the test suite: simulate a kernel without some layers. */
	if ((s = getenv("CLOISTER_TEST_SANDBOX_UNAVAILABLE")) != NULL &&
	    *s != '\0' &&
	    engine_client_parse_layers(s, &o.test_unavailable, &err) !=
	    CL_OK) {
		fprintf(stderr, "cloister %s: CLOISTER_TEST_SANDBOX_UNAVAILABLE: "
		    "%s\n", a->cmd, err.msg);
		return CLI_EXIT_USAGE;
	}
	if (a->sandbox == SANDBOX_MODE_OFF)
		cli_warn_sandbox_off(a->cmd);
	if ((r = engine_client_spawn(&o, out, &err)) != CL_OK) {
		fprintf(stderr, "cloister %s: %s\n", a->cmd, err.msg);
		return cli_exit_status(r);
	}
	return CLI_EXIT_OK;
}

int
cli_engine_wait(const struct cli_engine_args *a, struct engine_client *c,
    bool quiet)
{
	struct cl_err err = CL_ERR_INIT;
	bool ready = false;
	int r = CL_OK;

	while (!ready &&
	    (r = engine_client_poll_ready(c, -1, &ready, &err)) == CL_OK)
		;
	if (progress_st.shown) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
		progress_st.shown = false;
	}
	if (r != CL_OK) {
		fprintf(stderr, "cloister %s: %s\n", a->cmd, err.msg);
		return cli_exit_status(r);
	}
	cli_warn_degraded(a->cmd, engine_client_get_info(c));
	return CLI_EXIT_OK;
}

void
cli_warn_degraded(const char *cmd, const struct engine_client_info *in)
{
	int l;

	if (in == NULL || in->mode == SANDBOX_MODE_OFF ||
	    in->verdict == SANDBOX_VERDICT_WHOLE)
		return;
	fprintf(stderr, "cloister %s: warning: the jail is %s\n", cmd,
	    sandbox_verdict_name(in->verdict));
	for (l = 0; l < SANDBOX_N_LAYERS; l++) {
		const struct sandbox_layer_report *lr = &in->report.layers[l];

		if (lr->status == SANDBOX_STATUS_APPLIED ||
		    lr->status == SANDBOX_STATUS_SKIPPED)
			continue;
		fprintf(stderr, "cloister %s: warning: layer %s %s%s%s\n", cmd,
		    sandbox_layer_name((enum sandbox_layer)l),
		    sandbox_status_name(lr->status), lr->detail[0] ? ": " : "",
		    lr->detail);
	}
}

/* ------------------------------------------------------------------ */
/* 3. output                                                           */

void
cli_out_init(struct cli_out *o, FILE *f)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->tty = isatty(fileno(f));
}

/* Write complete text s[0..n): invalid UTF-8 and, on a tty, controls. */
static int
out_emit(struct cli_out *o, const char *s, size_t n)
{
	static const char repl[] = "\xef\xbf\xbd";	/* U+FFFD */
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		k = cl_utf8_decode(s + i, n - i, &cp);
		if (k == 0) {
			k = 1;
			cp = 0xfffd;
		}
		if (cp == 0xfffd && k == 1) {
			if (fwrite(repl, 1, 3, o->f) != 3 ||
			    cl_buf_append(&o->text, repl, 3) != CL_OK)
				return CL_EIO;
		} else if (o->tty && ((cp < 0x20 && cp != '\n' &&
		    cp != '\t') || (cp >= 0x7f && cp < 0xa0))) {
			if (fwrite(repl, 1, 3, o->f) != 3 ||
			    cl_buf_append(&o->text, s + i, k) != CL_OK)
				return CL_EIO;
		} else if (fwrite(s + i, 1, k, o->f) != k ||
		    cl_buf_append(&o->text, s + i, k) != CL_OK)
			return CL_EIO;
		i += k;
	}
	return CL_OK;
}

int
cli_out_write(struct cli_out *o, const char *p, size_t n)
{
	size_t ok;
	int r;

	if (n == 0)
		return CL_OK;
	if (cl_buf_append(&o->hold, p, n) != CL_OK)
		return CL_ENOMEM;
	ok = cl_utf8_complete_prefix(o->hold.data, o->hold.len);
	if ((r = out_emit(o, o->hold.data, ok)) != CL_OK)
		return r;
	memmove(o->hold.data, o->hold.data + ok, o->hold.len - ok);
	o->hold.len -= ok;
	if (fflush(o->f) != 0)
		return CL_EIO;
	return CL_OK;
}

int
cli_out_finish(struct cli_out *o)
{
	int r = CL_OK;

	if (o->hold.len > 0)
		r = out_emit(o, o->hold.data, o->hold.len);
	cl_buf_reset(&o->hold);
	if (fflush(o->f) != 0)
		r = CL_EIO;
	return r;
}

void
cli_out_release(struct cli_out *o)
{
	cl_buf_release(&o->hold);
	cl_buf_release(&o->text);
}

/* ------------------------------------------------------------------ */
/* 4. hooks, Ctrl-C and one turn                                       */

void
cli_jail_json(struct cl_json_writer *w, const struct engine_client_info *in,
    const char *refused)
{
	const struct sandbox_attestation *at = &in->att;
	int l;

	cl_json_key(w, "jail");
	cl_json_obj_begin(w);
	cl_json_key(w, "mode");
	cl_json_str(w, sandbox_mode_name(in->mode));
	cl_json_key(w, "verdict");
	cl_json_str(w, sandbox_verdict_name(in->verdict));
	cl_json_key(w, "seccomp");
	cl_json_int(w, at->seccomp_mode_min);
	cl_json_key(w, "seccomp_filters");
	cl_json_int(w, at->seccomp_filters_min);
	cl_json_key(w, "baseline_filters");
	cl_json_int(w, at->baseline_filters);
	cl_json_key(w, "seccomp_rules");
	cl_json_int(w, in->report.n_syscalls);
	cl_json_key(w, "threads");
	cl_json_int(w, at->n_threads);
	cl_json_key(w, "no_new_privs");
	cl_json_bool(w, at->no_new_privs);
	cl_json_key(w, "landlock_abi");
	cl_json_int(w, in->report.landlock_abi);
	cl_json_key(w, "net_namespace");
	cl_json_bool(w, at->net_ns == SANDBOX_NS_NEW);
	cl_json_key(w, "user_namespace");
	cl_json_bool(w, at->user_ns == SANDBOX_NS_NEW);
	cl_json_key(w, "ipc_namespace");
	cl_json_bool(w, at->ipc_ns == SANDBOX_NS_NEW);
	cl_json_key(w, "full_refused");
	if (refused != NULL)
		cl_json_str(w, refused);
	else
		cl_json_null(w);
	cl_json_key(w, "layers");
	cl_json_arr_begin(w);
	for (l = 0; l < SANDBOX_N_LAYERS; l++) {
		cl_json_obj_begin(w);
		cl_json_key(w, "name");
		cl_json_str(w, sandbox_layer_name((enum sandbox_layer)l));
		cl_json_key(w, "status");
		cl_json_str(w, sandbox_status_name(
		    in->report.layers[l].status));
		cl_json_key(w, "detail");
		cl_json_str(w, in->report.layers[l].detail);
		cl_json_obj_end(w);
	}
	cl_json_arr_end(w);
	cl_json_obj_end(w);
}

volatile sig_atomic_t cli_interrupted;

static void
on_sigint(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

void
cli_catch_sigint(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a blocked read returns */
	sigaction(SIGINT, &sa, NULL);
}

struct turn {
	const struct cli_engine_args	*a;
	const struct cli_hooks		*h;
	struct engine_client		*c;
	struct cli_out			*out;
	struct cl_buf			 filtered;
	int				 err_code;	/* first failure */
	struct cl_err			 err;
	long				 kill_after;	/* test knob, -1 off */
	long				 n_tokens;
};

/* Through the output filter (if any) to the output. */
static bool
turn_emit(struct turn *t, const char *p, size_t n, bool final)
{
	bool stop = false;
	int r;

	if (t->h->output_filter == NULL) {
		if (cli_out_write(t->out, p, n) != CL_OK) {
			t->err_code = cl_errf(&t->err, CL_EIO, "cannot write "
			    "the answer: %s", strerror(errno));
			return true;
		}
		return false;
	}
	cl_buf_reset(&t->filtered);
	if ((r = t->h->output_filter(t->h->arg, p, n, final, &t->filtered,
	    &stop, &t->err)) != CL_OK) {
		t->err_code = r;
		return true;
	}
	if (t->filtered.len > 0 && cli_out_write(t->out, t->filtered.data,
	    t->filtered.len) != CL_OK) {
		t->err_code = cl_errf(&t->err, CL_EIO, "cannot write the "
		    "answer: %s", strerror(errno));
		return true;
	}
	return stop;
}

static bool
turn_token(void *arg, int32_t id, const char *p, size_t n)
{
	struct turn *t = arg;

	(void)id;
	t->n_tokens++;
	/* For the test suite: the engine dies in the middle of an answer. */
	if (t->kill_after >= 0 && t->n_tokens > t->kill_after &&
	    engine_client_pid(t->c) > 0) {
		kill(engine_client_pid(t->c), SIGKILL);
		t->kill_after = -1;
	}
	if (t->err_code != CL_OK)
		return true;
	return turn_emit(t, p, n, false);
}

static bool
turn_cancel(void *arg)
{
	(void)arg;
	return cli_interrupted != 0;
}

int
cli_turn(const struct cli_engine_args *a, const struct cli_hooks *h,
    struct engine_client *c, const struct engine_client_msg *msgs,
    size_t n_msgs, struct cli_out *out, struct engine_client_done *done,
    struct cl_buf *sent)
{
	struct engine_client_msg m2[PROTO_MAX_MESSAGES];
	struct engine_client_gen g = a->gen;
	struct engine_client_gen_cb cb;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf text = CL_BUF_INIT;
	struct turn t;
	bool changed = false, generated = false;
	const char *s;
	int r;

	memset(&t, 0, sizeof(t));
	t.a = a;
	t.h = h;
	t.c = c;
	t.out = out;
	t.kill_after = -1;
	if ((s = getenv("CLOISTER_TEST_KILL_ENGINE_AFTER")) != NULL &&
	    *s != '\0')
		t.kill_after = atol(s);
	cl_buf_reset(&out->text);
	memset(done, 0, sizeof(*done));
	if (n_msgs == 0 || n_msgs > PROTO_MAX_MESSAGES) {
		r = cl_errf(&err, CL_EINVAL, "bad number of messages");
		goto out;
	}

	if (h->prompt_check != NULL &&
	    (r = h->prompt_check(h->arg, msgs, n_msgs, &g, &text, &changed,
	    &err)) != CL_OK)
		goto out;
	if (changed) {
		/* The policy changed the question: send its version. */
		memcpy(m2, msgs, n_msgs * sizeof(m2[0]));
		m2[n_msgs - 1].text = text.data != NULL ? text.data : "";
		m2[n_msgs - 1].text_len = text.len;
		msgs = m2;
	}
	if (sent != NULL) {
		cl_buf_reset(sent);
		if (cl_buf_append(sent, msgs[n_msgs - 1].text,
		    msgs[n_msgs - 1].text_len) != CL_OK) {
			r = cl_errf(&err, CL_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!a->seed_set)
		g.seed = ((uint64_t)getpid() << 32) ^ (uint64_t)(cl_now() * 1e6);
	g.msgs = msgs;
	g.n_msgs = n_msgs;
	cb.token = turn_token;
	cb.cancel = turn_cancel;
	cb.arg = &t;
	cli_interrupted = 0;
	r = engine_client_generate(c, &g, &cb, done, &err);
	generated = r == CL_OK;
	/* Flush the filter only after a whole answer: never judge half. */
	if (r == CL_OK && t.err_code == CL_OK)
		(void)turn_emit(&t, "", 0, true);
	if (cli_out_finish(out) != CL_OK && r == CL_OK && t.err_code == CL_OK)
		t.err_code = cl_errf(&t.err, CL_EIO, "cannot write the answer");
	if (r == CL_OK && t.err_code != CL_OK) {
		r = t.err_code;
		err = t.err;
	}
	if (generated && h->answer != NULL && (r == CL_OK || r == CL_EIO)) {
		struct cl_err e2 = CL_ERR_INIT;
		size_t shown = out->text.len;
		int r2;

		/*
		 * On a terminal, a notice goes on a line of its own; the
		 * newline joins out->text so that no second one follows
		 * (if that append fails, one does: harmless).
		 */
		if (out->tty && shown > 0 &&
		    out->text.data[shown - 1] != '\n' &&
		    fputc('\n', out->f) != EOF)
			r2 = cl_buf_append(&out->text, "\n", 1);
		fflush(out->f);
		r2 = h->answer(h->arg, out->text.data != NULL ?
		    out->text.data : "", shown, done, &e2);
		if (r == CL_OK && r2 != CL_OK) {
			r = r2;
			err = e2;
		}
	}
out:
	cl_buf_release(&t.filtered);
	cl_buf_release(&text);
	if (r != CL_OK) {
		if (out->text.len > 0 && out->text.data[out->text.len - 1] !=
		    '\n')
			fputc('\n', out->f);
		fflush(out->f);
		if (err.msg[0] != '\0')
			fprintf(stderr, "cloister %s: %s\n", a->cmd, err.msg);
	}
	return r;
}
