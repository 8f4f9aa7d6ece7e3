/*
 * engine_main.c - cloister-engine: the jailed inference process.
 *
 * Started only by the broker (engine/engine_client.c), with the model as
 * an open descriptor and one end of a SOCK_SEQPACKET socketpair.  Its first
 * act after parsing its arguments is sandbox_enter(): it keeps the model
 * descriptor, the socket and stderr, and jails itself before it reads one
 * byte of the model (a GGUF from the internet is hostile input).  It then
 * loads the model (PROGRESS frames), starts its thread pool (inside
 * engine_model_load(), so the threads inherit the jail), sends HELLO and
 * serves requests until SHUTDOWN or until the broker goes away.
 *
 * The broker is trusted but its frames are still checked: a frame that does
 * not decode, or one the engine must never receive, is answered with ERROR
 * and the engine exits.  A well-formed request that cannot be served (the
 * prompt does not fit the context, sampling settings out of range) is
 * answered with ERROR and the engine carries on.
 *
 * Divisions:
 *   1. arguments              - strict, no environment, no files
 *   2. frames                 - sending, the HELLO sandbox rows
 *   3. GENERATE               - prompt, sampling loop, stop strings, cancel
 *   4. TOKENIZE and BENCH
 *   5. main                   - jail, load, serve
 *
 * Exit statuses (cloister-engine(8)): 0 after SHUTDOWN or when the broker
 * closed the socket; 1 the model could not be loaded; 2 bad arguments;
 * 3 the jail could not be applied as the mode requires; 4 a protocol
 * violation by the broker or a failed write to it.  After the jail every
 * exit is _exit(): under AddressSanitizer LeakSanitizer would ptrace, which
 * the filter forbids.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine_impl.h"
#include "engine/proto.h"
#include "sandbox/sandbox.h"
#include "util/util.h"

#define EXIT_SHUTDOWN	0
#define EXIT_MODEL	1
#define EXIT_USAGE	2
#define EXIT_SANDBOX	3
#define EXIT_PROTOCOL	4

#define PROGNAME	"cloister-engine"

/* Everything the engine holds while serving. */
struct engine_srv {
	int			 ipc_fd;	/* the SEQPACKET socket */
	struct engine_model	*model;
	struct engine_ctx	*ctx;
	const struct engine_model_info *info;	/* borrowed from model */
	uint32_t		 n_ctx;		/* tokens the context holds */
	int32_t			*hist;		/* tokens in ctx, n_ctx slots */
	size_t			 n_hist;
	float			*logits;	/* n_vocab */
	char			*rbuf;		/* PROTO_MAX_FRAME + 1 */
	struct cl_buf		 wbuf;		/* the frame being sent */
	uint64_t		 model_size;	/* bytes, for PROGRESS */
};

/* ------------------------------------------------------------------ */
/* 1. arguments                                                        */

static void
usage(FILE *f)
{
	fprintf(f, "usage: %s --model-fd fd --ipc-fd fd [--stderr-fd fd]\n"
	    "                       [--sandbox full|degraded|off] "
	    "[--allow-missing layers]\n"
	    "                       [--threads n] [--ctx n] "
	    "[--kernels auto|ref]\n"
	    "                       [--test-unavailable layers]\n",
	    PROGNAME);
}

static int
parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/*
 * "netns,userns" -> a SANDBOX_LAYER_BIT mask; "namespaces" names the three
 * namespace layers.  Returns -1 for an unknown name.
 */
static int
parse_layers(const char *s, unsigned *out)
{
	char name[64];
	const char *p = s, *e;
	unsigned mask = 0;
	size_t len;
	int l;

	while (*p != '\0') {
		e = strchr(p, ',');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (len == 0 || len >= sizeof(name))
			return -1;
		memcpy(name, p, len);
		name[len] = '\0';
		if (strcmp(name, "namespaces") == 0)
			mask |= SANDBOX_LAYERS_NAMESPACES;
		else {
			for (l = 0; l < SANDBOX_N_LAYERS; l++) {
				if (strcmp(name, sandbox_layer_name(
				    (enum sandbox_layer)l)) == 0)
					break;
			}
			if (l == SANDBOX_N_LAYERS)
				return -1;
			mask |= SANDBOX_LAYER_BIT(l);
		}
		p += len;
		if (*p == ',' && *++p == '\0')
			return -1;
	}
	*out = mask;
	return 0;
}

/* ------------------------------------------------------------------ */
/* 2. frames                                                           */

/* Send the frame in srv->wbuf; a failure is fatal (the broker is gone). */
static void
send_frame(struct engine_srv *srv, int r, struct cl_err *err)
{
	if (r == CL_OK)
		r = proto_write(srv->ipc_fd, &srv->wbuf, err);
	if (r != CL_OK) {
		fprintf(stderr, PROGNAME ": cannot send a frame: %s\n",
		    err->msg);
		_exit(EXIT_PROTOCOL);
	}
}

/* Send ERROR with `code` and the message in `why`. */
static void
send_error(struct engine_srv *srv, int code, const struct cl_err *why)
{
	struct cl_err err = CL_ERR_INIT;
	struct proto_error pe;
	size_t len = strlen(why->msg);

	if (len > PROTO_MAX_ERROR_LEN)
		len = PROTO_MAX_ERROR_LEN;
	/* Messages come from cloister's own code: UTF-8 by construction. */
	len = cl_utf8_complete_prefix(why->msg, len);
	pe.code = code;
	pe.message.ptr = (char *)why->msg;
	pe.message.len = cl_utf8_valid(why->msg, len) ? len : 0;
	send_frame(srv, proto_encode_error(&srv->wbuf, &pe, &err), &err);
}

static void
send_progress(void *arg, double fraction)
{
	struct engine_srv *srv = arg;
	struct cl_err err = CL_ERR_INIT;
	struct proto_progress pp;

	if (!(fraction >= 0))
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	pp.total = srv->model_size;
	pp.done = (uint64_t)((double)srv->model_size * fraction);
	if (pp.done > pp.total)
		pp.done = pp.total;
	send_frame(srv, proto_encode_progress(&srv->wbuf, &pp, &err), &err);
}

/*
 * The sandbox rows of HELLO: one row per layer, named by
 * sandbox_layer_name(), whose status is sandbox_status_name(), then
 * ": " and the layer's detail when there is one; then the rows
 * "landlock_abi" and "seccomp_rules" with decimal numbers.  The broker
 * rebuilds a struct sandbox_report from them (engine_client.c).
 */
#define N_HELLO_ROWS	(SANDBOX_N_LAYERS + 2)

static void
send_hello(struct engine_srv *srv, const struct sandbox_report *rep,
    double load_s)
{
	struct cl_err err = CL_ERR_INIT;
	struct proto_hello h;
	struct proto_layer rows[N_HELLO_ROWS];
	char status[N_HELLO_ROWS][PROTO_MAX_STATUS_LEN];
	struct proto_tensor_type types[PROTO_MAX_TENSOR_TYPES];
	const struct gguf_tensor *t;
	size_t i, j, n_types = 0;
	int l;

	memset(&h, 0, sizeof(h));
	memset(types, 0, sizeof(types));
	h.version = PROTO_VERSION;
	h.arch.ptr = (char *)srv->info->arch;
	h.arch.len = strlen(srv->info->arch);
	h.n_params = srv->info->n_params;
	h.n_params_active = srv->info->n_params_active;
	h.n_ctx = srv->n_ctx;
	h.n_vocab = srv->info->n_vocab;
	h.n_layer = srv->info->n_layer;
	for (i = 0; i < gguf_n_tensors(srv->model->gguf); i++) {
		t = gguf_tensor_at(srv->model->gguf, i);
		for (j = 0; j < n_types && types[j].type != t->type; j++)
			;
		if (j == n_types) {
			if (n_types == PROTO_MAX_TENSOR_TYPES)
				continue;
			types[n_types++].type = t->type;
		}
		types[j].n_tensors++;
		types[j].n_bytes += t->nbytes;
	}
	h.types = types;
	h.n_types = n_types;
	h.load_us = (uint64_t)(load_s * 1e6);
	if (rep->mode == SANDBOX_MODE_OFF)
		h.sandbox_mode = PROTO_SANDBOX_OFF;
	else if (sandbox_report_is_whole(rep))
		h.sandbox_mode = PROTO_SANDBOX_FULL;
	else
		h.sandbox_mode = PROTO_SANDBOX_PARTIAL;
	for (l = 0; l < SANDBOX_N_LAYERS; l++) {
		const struct sandbox_layer_report *lr = &rep->layers[l];
		const char *d = lr->detail;
		size_t dl = strnlen(d, sizeof(lr->detail));

		snprintf(status[l], sizeof(status[l]), "%s%s%.*s",
		    sandbox_status_name(lr->status), dl ? ": " : "",
		    (int)dl, d);
		rows[l].name.ptr = (char *)sandbox_layer_name(
		    (enum sandbox_layer)l);
		rows[l].name.len = strlen(rows[l].name.ptr);
	}
	snprintf(status[l], sizeof(status[l]), "%d", rep->landlock_abi);
	rows[l].name.ptr = "landlock_abi";
	rows[l].name.len = strlen(rows[l].name.ptr);
	l++;
	snprintf(status[l], sizeof(status[l]), "%d", rep->n_syscalls);
	rows[l].name.ptr = "seccomp_rules";
	rows[l].name.len = strlen(rows[l].name.ptr);
	for (l = 0; l < N_HELLO_ROWS; l++) {
		size_t sl = strlen(status[l]);

		/* A detail cut by snprintf may end inside a code point. */
		sl = cl_utf8_complete_prefix(status[l], sl);
		rows[l].status.ptr = status[l];
		rows[l].status.len = cl_utf8_valid(status[l], sl) ? sl : 0;
	}
	h.layers = rows;
	h.n_layers = N_HELLO_ROWS;
	send_frame(srv, proto_encode_hello(&srv->wbuf, &h, &err), &err);
}

/*
 * Wait at most `timeout_ms` (-1: forever) for a frame from the broker and
 * decode it into *msg.  Returns 1 with a frame, 0 when none arrived in
 * time.  A broker that closed the socket ends the engine (status 0); a
 * frame that does not decode or is not meant for the engine is answered
 * with ERROR and ends it (status 4).
 */
static int
recv_request(struct engine_srv *srv, int timeout_ms, struct proto_msg *msg)
{
	struct cl_err err = CL_ERR_INIT;
	size_t len = 0;
	int r;

	r = proto_read(srv->ipc_fd, srv->rbuf, PROTO_MAX_FRAME + 1, &len,
	    timeout_ms, &err);
	if (r != CL_OK) {
		if (r == CL_EIO)	/* the broker is gone: nothing to say */
			_exit(EXIT_SHUTDOWN);
		goto bad;
	}
	if (len == 0)
		return 0;
	if ((r = proto_decode(srv->rbuf, len, msg, &err)) != CL_OK)
		goto bad;
	if (proto_type_direction(msg->type) != PROTO_DIR_TO_ENGINE) {
		r = cl_errf(&err, CL_EFORMAT, "unexpected %s frame from the "
		    "broker", proto_type_name(msg->type));
		proto_msg_release(msg);
		goto bad;
	}
	return 1;
bad:
	fprintf(stderr, PROGNAME ": bad frame: %s\n", err.msg);
	send_error(srv, r == CL_ENOMEM ? CL_ENOMEM : CL_EFORMAT, &err);
	_exit(EXIT_PROTOCOL);
}

/* ------------------------------------------------------------------ */
/* 3. GENERATE                                                         */

static uint64_t
elapsed_us(double since)
{
	double d = cl_now() - since;

	return d > 0 ? (uint64_t)(d * 1e6) : 0;
}

/*
 * Bring the context to exactly `toks[0..n)`, the logits of the last token
 * in srv->logits.  When the tokens already in the context are a proper
 * prefix of the new ones (a chat that goes on), only the rest is
 * evaluated; otherwise the sequence starts again.  The short-convolution
 * state cannot be rewound, so anything but an extension starts over.
 */
static int
eval_prompt(struct engine_srv *srv, const int32_t *toks, size_t n,
    struct cl_err *err)
{
	size_t keep = 0;
	int r;

	if (srv->n_hist > 0 && srv->n_hist < n &&
	    memcmp(srv->hist, toks, srv->n_hist * sizeof(*toks)) == 0)
		keep = srv->n_hist;
	else {
		engine_ctx_reset(srv->ctx);
		srv->n_hist = 0;
	}
	r = engine_ctx_eval(srv->ctx, toks + keep, n - keep, srv->logits,
	    false, err);
	if (r != CL_OK) {
		/* The context is unchanged on failure; make it empty. */
		engine_ctx_reset(srv->ctx);
		srv->n_hist = 0;
		return r;
	}
	memcpy(srv->hist + keep, toks + keep, (n - keep) * sizeof(*toks));
	srv->n_hist = n;
	return CL_OK;
}

/* Stop-string state: bytes generated but not yet sent. */
struct stopper {
	const struct proto_generate *g;
	struct cl_buf	 pend;		/* unsent bytes */
	size_t		 max_stop;	/* longest stop string */
};

/*
 * Look for a stop string in the pending bytes.  Returns the offset where
 * the first match starts, or SIZE_MAX; *safe receives how many leading
 * bytes cannot be the start of a match still to come.
 */
static size_t
stop_scan(const struct stopper *st, size_t *safe)
{
	const char *p = st->pend.data;
	size_t n = st->pend.len, best = SIZE_MAX, i, k, s, l;

	*safe = n;
	for (s = 0; s < st->g->n_stops; s++) {
		const struct proto_str *ss = &st->g->stops[s];

		if (ss->len == 0)
			continue;
		for (i = 0; i + ss->len <= n && i < best; i++) {
			if (memcmp(p + i, ss->ptr, ss->len) == 0) {
				best = i;
				break;
			}
		}
		/* A suffix of pend that is a proper prefix of the stop. */
		for (l = ss->len - 1; l > 0; l--) {
			if (l > n)
				continue;
			k = n - l;
			if (memcmp(p + k, ss->ptr, l) == 0) {
				if (k < *safe)
					*safe = k;
				break;
			}
		}
	}
	return best;
}

/* Send p[0..n) as TOKEN frames for token `id` (split at the piece limit). */
static void
send_piece(struct engine_srv *srv, int32_t id, const char *p, size_t n)
{
	struct cl_err err = CL_ERR_INIT;
	struct proto_token t;
	size_t k;

	do {
		k = n < PROTO_MAX_TOKEN_BYTES ? n : PROTO_MAX_TOKEN_BYTES;
		t.id = id;
		t.bytes.ptr = (char *)p;
		t.bytes.len = k;
		send_frame(srv, proto_encode_token(&srv->wbuf, &t, &err),
		    &err);
		p += k;
		n -= k;
	} while (n > 0);
}

/* Drop the first n pending bytes. */
static void
pend_consume(struct stopper *st, size_t n)
{
	memmove(st->pend.data, st->pend.data + n, st->pend.len - n);
	st->pend.len -= n;
	st->pend.data[st->pend.len] = '\0';
}

static void
serve_generate(struct engine_srv *srv, const struct proto_generate *g)
{
	static const char *const roles[] = {
		[PROTO_ROLE_SYSTEM] = "system",
		[PROTO_ROLE_USER] = "user",
		[PROTO_ROLE_ASSISTANT] = "assistant"
	};
	struct cl_err err = CL_ERR_INIT;
	struct engine_sampling s;
	struct engine_sampler *smp = NULL;
	struct engine_chat_msg *msgs = NULL;
	struct stopper st;
	struct proto_done done;
	struct proto_msg in;
	int32_t *toks = NULL, id = 0;
	size_t n_toks = 0, i, safe, at;
	double t0;
	int r;

	memset(&st, 0, sizeof(st));
	memset(&done, 0, sizeof(done));
	memset(&in, 0, sizeof(in));
	st.g = g;
	for (i = 0; i < g->n_stops; i++) {
		if (g->stops[i].len > st.max_stop)
			st.max_stop = g->stops[i].len;
	}

	s.temperature = g->temperature;
	s.top_k = (int32_t)g->top_k;
	s.top_p = g->top_p;
	s.min_p = g->min_p;
	s.repeat_penalty = g->repeat_penalty;
	s.repeat_last_n = (int32_t)g->repeat_last_n;
	s.seed = g->seed;
	if ((r = engine_sampling_check(&s, &err)) != CL_OK ||
	    (r = engine_sampler_new(&s, srv->info->n_vocab, &smp, &err)) !=
	    CL_OK)
		goto fail;

	if (g->kind == PROTO_PROMPT_CHAT) {
		if ((msgs = cl_calloc(g->n_messages, sizeof(*msgs))) == NULL) {
			r = cl_errf(&err, CL_ENOMEM, "out of memory");
			goto fail;
		}
		for (i = 0; i < g->n_messages; i++) {
			msgs[i].role = roles[g->messages[i].role];
			msgs[i].text = g->messages[i].text.ptr != NULL ?
			    g->messages[i].text.ptr : "";
			msgs[i].text_len = g->messages[i].text.len;
		}
		if ((r = engine_chat_tokenize(srv->model, msgs, g->n_messages,
		    true, &toks, &n_toks, &err)) != CL_OK)
			goto fail;
	} else {
		if ((toks = cl_calloc(g->n_tokens, sizeof(*toks))) == NULL) {
			r = cl_errf(&err, CL_ENOMEM, "out of memory");
			goto fail;
		}
		memcpy(toks, g->tokens, g->n_tokens * sizeof(*toks));
		n_toks = g->n_tokens;
	}
	/* Room for the prompt and at least one generated token. */
	if (n_toks == 0 || n_toks >= srv->n_ctx) {
		r = cl_errf(&err, CL_ELIMIT, "prompt of %zu tokens does not "
		    "fit the context of %u tokens", n_toks, srv->n_ctx);
		goto fail;
	}
	t0 = cl_now();
	if ((r = eval_prompt(srv, toks, n_toks, &err)) != CL_OK)
		goto fail;
	done.n_prompt = (uint32_t)n_toks;
	done.prompt_us = elapsed_us(t0);

	t0 = cl_now();
	for (;;) {
		id = engine_sampler_sample(smp, srv->logits, srv->hist,
		    srv->n_hist);
		if (engine_token_is_eog(srv->model, id)) {
			done.reason = PROTO_DONE_EOS;
			break;
		}
		done.n_gen++;
		{
			const char *p;
			size_t len;

			if (!engine_token_bytes(srv->model, id, &p, &len)) {
				r = cl_errf(&err, CL_EINTERNAL, "sampled "
				    "token %d out of range", (int)id);
				goto fail;
			}
			if (g->n_stops == 0) {
				if (len > 0)
					send_piece(srv, id, p, len);
			} else {
				if (len > 0 &&
				    cl_buf_append(&st.pend, p, len) != CL_OK) {
					r = cl_errf(&err, CL_ENOMEM,
					    "out of memory");
					goto fail;
				}
				at = stop_scan(&st, &safe);
				if (at != SIZE_MAX) {
					if (at > 0)
						send_piece(srv, id,
						    st.pend.data, at);
					st.pend.len = 0;
					done.reason = PROTO_DONE_STOP;
					break;
				}
				if (safe > 0) {
					send_piece(srv, id, st.pend.data,
					    safe);
					pend_consume(&st, safe);
				}
			}
		}
		if (done.n_gen >= g->max_tokens ||
		    srv->n_hist >= srv->n_ctx) {
			done.reason = PROTO_DONE_LENGTH;
			break;
		}
		/* CANCEL (or anything else) between tokens. */
		if (recv_request(srv, 0, &in) == 1) {
			enum proto_type ty = in.type;

			proto_msg_release(&in);
			if (ty == PROTO_CANCEL) {
				done.reason = PROTO_DONE_CANCEL;
				break;
			}
			if (ty == PROTO_SHUTDOWN)
				_exit(EXIT_SHUTDOWN);
			r = cl_errf(&err, CL_EFORMAT, "unexpected %s frame "
			    "during generation", proto_type_name(ty));
			fprintf(stderr, PROGNAME ": %s\n", err.msg);
			send_error(srv, CL_EFORMAT, &err);
			_exit(EXIT_PROTOCOL);
		}
		if ((r = engine_ctx_eval(srv->ctx, &id, 1, srv->logits, false,
		    &err)) != CL_OK) {
			engine_ctx_reset(srv->ctx);
			srv->n_hist = 0;
			goto fail;
		}
		srv->hist[srv->n_hist++] = id;
	}
	/* Whatever was held back for a stop string that never came. */
	if (st.pend.len > 0)
		send_piece(srv, id, st.pend.data, st.pend.len);
	done.gen_us = elapsed_us(t0);
	send_frame(srv, proto_encode_done(&srv->wbuf, &done, &err), &err);
	goto out;
fail:
	send_error(srv, r, &err);
out:
	engine_sampler_free(smp);
	cl_free(msgs);
	cl_free(toks);
	cl_buf_release(&st.pend);
}

/* ------------------------------------------------------------------ */
/* 4. TOKENIZE and BENCH                                               */

static void
serve_tokenize(struct engine_srv *srv, const struct proto_tokenize *tk)
{
	struct cl_err err = CL_ERR_INIT;
	struct proto_token_count tc;
	int32_t *ids = NULL;
	size_t n = 0;
	int r;

	r = engine_tokenize(srv->model, tk->text.ptr != NULL ? tk->text.ptr :
	    "", tk->text.len, false, &ids, &n, &err);
	cl_free(ids);
	if (r == CL_OK && n > UINT32_MAX)
		r = cl_errf(&err, CL_ELIMIT, "too many tokens");
	if (r != CL_OK) {
		send_error(srv, r, &err);
		return;
	}
	tc.n_tokens = (uint32_t)n;
	send_frame(srv, proto_encode_token_count(&srv->wbuf, &tc, &err), &err);
}

/* A small deterministic generator for benchmark token ids. */
static uint32_t
xorshift32(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/*
 * Prefill n_prompt random tokens in one call, then (from an empty
 * context) decode n_gen tokens one at a time, n_reps times after one
 * warm-up pass, as llama-bench does.
 */
static void
serve_bench(struct engine_srv *srv, const struct proto_bench *b)
{
	struct cl_err err = CL_ERR_INIT;
	struct proto_bench_result res;
	struct proto_bench_rep *reps = NULL;
	struct rusage ru;
	int32_t *toks = NULL;
	uint32_t rnd = 0x9e3779b9u, rep, i, need;
	double t0;
	int r;

	memset(&res, 0, sizeof(res));
	need = b->n_prompt > b->n_gen ? b->n_prompt : b->n_gen;
	if (need >= srv->n_ctx) {
		r = cl_errf(&err, CL_ELIMIT, "benchmark of %u tokens does not "
		    "fit the context of %u tokens", need, srv->n_ctx);
		goto fail;
	}
	if ((toks = cl_calloc(need, sizeof(*toks))) == NULL ||
	    (reps = cl_calloc(b->n_reps, sizeof(*reps))) == NULL) {
		r = cl_errf(&err, CL_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < need; i++)
		toks[i] = (int32_t)(xorshift32(&rnd) % srv->info->n_vocab);
	srv->n_hist = 0;	/* the context no longer holds a chat */
	for (rep = 0; rep <= b->n_reps; rep++) {
		struct proto_bench_rep one = { 0, 0 };

		if (b->n_prompt > 0) {
			engine_ctx_reset(srv->ctx);
			t0 = cl_now();
			if ((r = engine_ctx_eval(srv->ctx, toks, b->n_prompt,
			    srv->logits, false, &err)) != CL_OK)
				goto fail;
			one.prompt_us = elapsed_us(t0);
		}
		engine_ctx_reset(srv->ctx);
		t0 = cl_now();
		/* The warm-up decodes a single token. */
		for (i = 0; i < (rep == 0 ? 1 : b->n_gen) && i < b->n_gen;
		    i++) {
			if ((r = engine_ctx_eval(srv->ctx, &toks[i], 1,
			    srv->logits, false, &err)) != CL_OK)
				goto fail;
		}
		one.gen_us = elapsed_us(t0);
		if (rep > 0)
			reps[rep - 1] = one;
	}
	engine_ctx_reset(srv->ctx);
	if (getrusage(RUSAGE_SELF, &ru) != 0) {
		r = cl_errf(&err, CL_EIO, "getrusage: %s", strerror(errno));
		goto fail;
	}
	res.n_prompt = b->n_prompt;
	res.n_gen = b->n_gen;
	res.peak_rss = (uint64_t)ru.ru_maxrss * 1024;
	res.reps = reps;
	res.n_reps = b->n_reps;
	send_frame(srv, proto_encode_bench_result(&srv->wbuf, &res, &err),
	    &err);
	goto out;
fail:
	engine_ctx_reset(srv->ctx);
	send_error(srv, r, &err);
out:
	cl_free(toks);
	cl_free(reps);
}

/* ------------------------------------------------------------------ */
/* 5. main                                                             */

/*
 * The engine's RLIMIT_AS: the model's mapping plus room for the context's
 * caches (up to 128 KiB per token, far above any LFM2 model's KV), scratch,
 * thread stacks and malloc arenas (4 GiB).  A hostile model or request
 * cannot make the jailed engine reserve more.  Sanitizer builds reserve
 * terabytes of shadow memory, so they run without the bound.
 */
static uint64_t
address_space_bound(uint64_t model_size, uint32_t n_ctx)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)model_size;
	(void)n_ctx;
	return 0;
#else
	uint64_t ctx = n_ctx != 0 ? n_ctx : 32768;

	return model_size + (4ull << 30) + ctx * (128u << 10);
#endif
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "model-fd", required_argument, NULL, 'm' },
		{ "ipc-fd", required_argument, NULL, 'i' },
		{ "stderr-fd", required_argument, NULL, 'e' },
		{ "sandbox", required_argument, NULL, 's' },
		{ "allow-missing", required_argument, NULL, 'a' },
		{ "threads", required_argument, NULL, 't' },
		{ "ctx", required_argument, NULL, 'c' },
		{ "kernels", required_argument, NULL, 'k' },
		{ "test-unavailable", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct engine_srv srv;
	struct sandbox_opts so;
	struct sandbox_report rep;
	struct engine_load_opts lo;
	struct cl_err err = CL_ERR_INIT;
	struct proto_msg msg;
	struct stat sb;
	long model_fd = -1, ipc_fd = -1, err_fd = -1, v;
	unsigned test_unavail = 0;
	uint32_t want_ctx = 0;
	int ch, keep[3];
	double t0;

	memset(&srv, 0, sizeof(srv));
	memset(&so, 0, sizeof(so));
	memset(&rep, 0, sizeof(rep));
	memset(&lo, 0, sizeof(lo));
	memset(&msg, 0, sizeof(msg));
	so.mode = SANDBOX_MODE_FULL;
	so.profile = SANDBOX_PROFILE_ENGINE;
	lo.kernels = ENGINE_KERNELS_AUTO;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
		case 'i':
		case 'e':
			if (parse_long(optarg, 3, INT_MAX, &v) != 0)
				goto bad;
			if (ch == 'm')
				model_fd = v;
			else if (ch == 'i')
				ipc_fd = v;
			else
				err_fd = v;
			break;
		case 's':
			if (strcmp(optarg, "full") == 0)
				so.mode = SANDBOX_MODE_FULL;
			else if (strcmp(optarg, "degraded") == 0)
				so.mode = SANDBOX_MODE_DEGRADED;
			else if (strcmp(optarg, "off") == 0)
				so.mode = SANDBOX_MODE_OFF;
			else
				goto bad;
			break;
		case 'a':
			if (parse_layers(optarg, &so.allow_missing) != 0)
				goto bad;
			break;
		case 'U':
			if (parse_layers(optarg, &test_unavail) != 0)
				goto bad;
			break;
		case 't':
			if (parse_long(optarg, 1, 256, &v) != 0)
				goto bad;
			lo.n_threads = (int)v;
			break;
		case 'c':
			if (parse_long(optarg, 0, 1L << 24, &v) != 0)
				goto bad;
			want_ctx = (uint32_t)v;
			break;
		case 'k':
			if (strcmp(optarg, "auto") == 0)
				lo.kernels = ENGINE_KERNELS_AUTO;
			else if (strcmp(optarg, "ref") == 0)
				lo.kernels = ENGINE_KERNELS_REF;
			else
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || model_fd < 0 || ipc_fd < 0 ||
	    model_fd == ipc_fd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (so.allow_missing != 0 && so.mode != SANDBOX_MODE_DEGRADED) {
		fprintf(stderr, PROGNAME ": --allow-missing needs "
		    "--sandbox degraded\n");
		return EXIT_USAGE;
	}
	/* The broker reads our stderr through a pipe and sanitizes it. */
	if (err_fd >= 0) {
		if (err_fd == model_fd || err_fd == ipc_fd ||
		    dup2((int)err_fd, STDERR_FILENO) == -1) {
			usage(stderr);
			return EXIT_USAGE;
		}
		close((int)err_fd);
	}
	srv.ipc_fd = (int)ipc_fd;
	/* The size only: fstat reads no byte of the file. */
	if (fstat((int)model_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fprintf(stderr, PROGNAME ": descriptor %ld is not an open "
		    "regular file\n", model_fd);
		return EXIT_USAGE;
	}
	srv.model_size = (uint64_t)sb.st_size;
	so.max_address_space = address_space_bound(srv.model_size, want_ctx);

	/* The jail, before anything reads the model. */
	keep[0] = (int)model_fd;
	keep[1] = (int)ipc_fd;
	keep[2] = STDERR_FILENO;
	so.keep_fds = keep;
	so.n_keep_fds = 3;
	sandbox_test_set_unavailable(test_unavail);
	if (sandbox_enter(&so, &rep, &err) != CL_OK) {
		/* The broker reports it; stderr only if it cannot hear us. */
		send_error(&srv, CL_ESANDBOX, &err);
		_exit(EXIT_SANDBOX);
	}

	if ((srv.rbuf = cl_malloc(PROTO_MAX_FRAME + 1)) == NULL) {
		cl_errf(&err, CL_ENOMEM, "out of memory");
		goto fail_model;
	}
	lo.file_size = srv.model_size;	/* fstat is refused in the jail */
	lo.progress = send_progress;
	lo.progress_arg = &srv;
	t0 = cl_now();
	if (engine_model_load((int)model_fd, &lo, &srv.model, &err) != CL_OK)
		goto fail_model;
	close((int)model_fd);
	srv.info = engine_model_get_info(srv.model);
	if (engine_ctx_new(srv.model, want_ctx, &srv.ctx, &err) != CL_OK)
		goto fail_model;
	srv.n_ctx = engine_ctx_n_ctx(srv.ctx);
	if ((srv.hist = cl_calloc(srv.n_ctx, sizeof(*srv.hist))) == NULL ||
	    (srv.logits = cl_calloc(srv.info->n_vocab,
	    sizeof(*srv.logits))) == NULL) {
		cl_errf(&err, CL_ENOMEM, "out of memory");
		goto fail_model;
	}
	send_hello(&srv, &rep, cl_now() - t0);

	for (;;) {
		(void)recv_request(&srv, -1, &msg);
		switch (msg.type) {
		case PROTO_GENERATE:
			serve_generate(&srv, &msg.u.generate);
			break;
		case PROTO_TOKENIZE:
			serve_tokenize(&srv, &msg.u.tokenize);
			break;
		case PROTO_BENCH:
			serve_bench(&srv, &msg.u.bench);
			break;
		case PROTO_SHUTDOWN:
			_exit(EXIT_SHUTDOWN);
		case PROTO_CANCEL:
			/* A CANCEL that crossed DONE on the wire. */
			break;
		default:
			cl_errf(&err, CL_EFORMAT, "unexpected %s frame",
			    proto_type_name(msg.type));
			send_error(&srv, CL_EFORMAT, &err);
			_exit(EXIT_PROTOCOL);
		}
		proto_msg_release(&msg);
	}
	/* NOTREACHED */
fail_model:
	cl_err_prefix(&err, "cannot load the model");
	send_error(&srv, err.code != CL_OK ? err.code : CL_EFORMAT, &err);
	_exit(EXIT_MODEL);
bad:
	fprintf(stderr, PROGNAME ": bad option value '%s'\n", optarg);
	usage(stderr);
	return EXIT_USAGE;
}
