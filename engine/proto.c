/*
 * proto.c - encoding, decoding and transport of broker <-> engine frames.
 *
 * Divisions:
 *   1. Frame type names and directions.
 *   2. Primitive writers (sticky error) and readers (bounds-checked).
 *   3. Validation, one function per frame type, shared by encoder and
 *      decoder so both sides enforce the same rules.
 *   4. Encoders.
 *   5. Decoder and release.
 *   6. Socket I/O.
 *
 * The layout of each frame is documented at its struct in proto.h; the
 * encoder and decoder of a frame must read like that comment, field by
 * field.
 */
#include "config.h"

#include "engine/proto.h"
#include "engine/ggml_types.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* 1. Frame type names and directions                                  */
/* ------------------------------------------------------------------ */

static const struct {
	const char	*name;
	enum proto_dir	 dir;
} types[PROTO_TYPE_MAX + 1] = {
	[PROTO_HELLO] =		{ "HELLO", PROTO_DIR_TO_BROKER },
	[PROTO_PROGRESS] =	{ "PROGRESS", PROTO_DIR_TO_BROKER },
	[PROTO_GENERATE] =	{ "GENERATE", PROTO_DIR_TO_ENGINE },
	[PROTO_TOKEN] =		{ "TOKEN", PROTO_DIR_TO_BROKER },
	[PROTO_CANCEL] =	{ "CANCEL", PROTO_DIR_TO_ENGINE },
	[PROTO_DONE] =		{ "DONE", PROTO_DIR_TO_BROKER },
	[PROTO_ERROR] =		{ "ERROR", PROTO_DIR_TO_BROKER },
	[PROTO_TOKENIZE] =	{ "TOKENIZE", PROTO_DIR_TO_ENGINE },
	[PROTO_TOKEN_COUNT] =	{ "TOKEN_COUNT", PROTO_DIR_TO_BROKER },
	[PROTO_BENCH] =		{ "BENCH", PROTO_DIR_TO_ENGINE },
	[PROTO_BENCH_RESULT] =	{ "BENCH_RESULT", PROTO_DIR_TO_BROKER },
	[PROTO_SHUTDOWN] =	{ "SHUTDOWN", PROTO_DIR_TO_ENGINE },
};

const char *
proto_type_name(unsigned type)
{
	if (type > PROTO_TYPE_MAX || types[type].name == NULL)
		return "unknown";
	return types[type].name;
}

enum proto_dir
proto_type_direction(unsigned type)
{
	if (type > PROTO_TYPE_MAX)
		return PROTO_DIR_INVALID;
	return types[type].dir;
}

/* ------------------------------------------------------------------ */
/* 2. Primitive writers and readers                                    */
/* ------------------------------------------------------------------ */

/* A frame being written; the first error sticks. */
struct wr {
	struct cl_buf	*b;
	int		 err;	/* CL_OK, CL_ENOMEM or CL_ELIMIT */
};

static void
wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->err != CL_OK)
		return;
	if (n > PROTO_MAX_FRAME || w->b->len > PROTO_MAX_FRAME - n) {
		w->err = CL_ELIMIT;
		return;
	}
	w->err = cl_buf_append(w->b, p, n);
}

static void
wr_u8(struct wr *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

static void
wr_u32(struct wr *w, uint32_t v)
{
	unsigned char b[4];
	int i;

	for (i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	wr_bytes(w, b, sizeof(b));
}

static void
wr_u64(struct wr *w, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	wr_bytes(w, b, sizeof(b));
}

static void
wr_i32(struct wr *w, int32_t v)
{
	wr_u32(w, (uint32_t)v);
}

static void
wr_f32(struct wr *w, float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	wr_u32(w, u);
}

/* A length-prefixed string or array count: must fit a u32. */
static void
wr_len(struct wr *w, size_t n)
{
	if (n > PROTO_MAX_FRAME) {
		if (w->err == CL_OK)
			w->err = CL_ELIMIT;
		return;
	}
	wr_u32(w, (uint32_t)n);
}

static void
wr_str(struct wr *w, const struct proto_str *s)
{
	wr_len(w, s->len);
	if (s->len > 0)
		wr_bytes(w, s->ptr, s->len);
}

/* A frame being read.  Every read is bounds-checked against `len`. */
struct rd {
	const unsigned char	*p;	/* the frame, borrowed */
	size_t			 len;	/* its length */
	size_t			 pos;	/* next byte */
	const char		*frame;	/* type name, for messages */
	struct cl_err		*err;
};

static int
rd_truncated(struct rd *r, const char *field)
{
	return cl_errf(r->err, CL_EFORMAT, "bad %s frame: %s: truncated "
	    "at byte %zu of %zu", r->frame, field, r->pos, r->len);
}

static int
rd_bytes(struct rd *r, const char *field, void *p, size_t n)
{
	if (r->len - r->pos < n)
		return rd_truncated(r, field);
	memcpy(p, r->p + r->pos, n);
	r->pos += n;
	return CL_OK;
}

static int
rd_u8(struct rd *r, const char *field, uint8_t *v)
{
	return rd_bytes(r, field, v, 1);
}

static int
rd_u32(struct rd *r, const char *field, uint32_t *v)
{
	unsigned char b[4];
	int i, rc;

	if ((rc = rd_bytes(r, field, b, sizeof(b))) != CL_OK)
		return rc;
	*v = 0;
	for (i = 3; i >= 0; i--)
		*v = *v << 8 | b[i];
	return CL_OK;
}

static int
rd_u64(struct rd *r, const char *field, uint64_t *v)
{
	unsigned char b[8];
	int i, rc;

	if ((rc = rd_bytes(r, field, b, sizeof(b))) != CL_OK)
		return rc;
	*v = 0;
	for (i = 7; i >= 0; i--)
		*v = *v << 8 | b[i];
	return CL_OK;
}

static int
rd_i32(struct rd *r, const char *field, int32_t *v)
{
	uint32_t u;
	int rc;

	if ((rc = rd_u32(r, field, &u)) != CL_OK)
		return rc;
	/* Two's complement without implementation-defined conversion. */
	*v = u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
	return CL_OK;
}

static int
rd_f32(struct rd *r, const char *field, float *v)
{
	uint32_t u;
	int rc;

	if ((rc = rd_u32(r, field, &u)) != CL_OK)
		return rc;
	memcpy(v, &u, sizeof(*v));
	return CL_OK;
}

/* Read a string into a fresh NUL-terminated copy that `s` then owns. */
static int
rd_str(struct rd *r, const char *field, struct proto_str *s)
{
	uint32_t n;
	int rc;

	if ((rc = rd_u32(r, field, &n)) != CL_OK)
		return rc;
	if (r->len - r->pos < n)
		return rd_truncated(r, field);
	if ((s->ptr = cl_malloc((size_t)n + 1)) == NULL)
		return cl_errf(r->err, CL_ENOMEM, "out of memory decoding %s "
		    "frame", r->frame);
	memcpy(s->ptr, r->p + r->pos, n);
	s->ptr[n] = '\0';
	s->len = n;
	r->pos += n;
	return CL_OK;
}

/*
 * Read an array count in min..max, and check that the frame can hold
 * that many elements of at least `elem_min` bytes before the caller
 * allocates for them (no amplification from a tiny frame).  The range
 * is checked here, before any later field is read, so that the error
 * names the count and not whatever the misaligned bytes after it hold.
 */
static int
rd_count(struct rd *r, const char *field, size_t min, size_t max,
    size_t elem_min, size_t *n)
{
	uint32_t c;
	int rc;

	*n = 0;
	if ((rc = rd_u32(r, field, &c)) != CL_OK)
		return rc;
	if (c < min)
		return cl_errf(r->err, CL_EFORMAT, "bad %s frame: %s: count "
		    "%u below %zu", r->frame, field, (unsigned)c, min);
	if (c > max)
		return cl_errf(r->err, CL_EFORMAT, "bad %s frame: %s: count "
		    "%u exceeds %zu", r->frame, field, (unsigned)c, max);
	if ((r->len - r->pos) / elem_min < c)
		return rd_truncated(r, field);
	*n = c;
	return CL_OK;
}

/* Allocate `n` zeroed elements of `size` for an array being decoded. */
static int
rd_alloc(struct rd *r, size_t n, size_t size, void **out)
{
	*out = NULL;
	if (n == 0)
		return CL_OK;
	if ((*out = cl_calloc(n, size)) == NULL)
		return cl_errf(r->err, CL_ENOMEM, "out of memory decoding %s "
		    "frame", r->frame);
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 3. Validation                                                       */
/* ------------------------------------------------------------------ */

/*
 * Report field `field` (element `idx` of it when idx >= 0) of frame type
 * `t` as invalid with `code` (CL_EFORMAT decoding, CL_EINVAL encoding).
 */
static int
bad(struct cl_err *err, int code, enum proto_type t, const char *field,
    long idx, const char *what)
{
	if (idx >= 0)
		return cl_errf(err, code, "bad %s frame: %s[%ld]: %s",
		    proto_type_name(t), field, idx, what);
	return cl_errf(err, code, "bad %s frame: %s: %s", proto_type_name(t),
	    field, what);
}

/*
 * Check a string's length bounds; a text field must also be valid UTF-8
 * without NUL bytes.
 */
static int
check_str(struct cl_err *err, int code, enum proto_type t, const char *field,
    long idx, const struct proto_str *s, size_t min, size_t max, bool text)
{
	if (s->len > 0 && s->ptr == NULL)
		return bad(err, code, t, field, idx, "NULL with a length");
	if (s->len < min)
		return bad(err, code, t, field, idx, min == 1 ? "empty" :
		    "too short");
	if (s->len > max)
		return bad(err, code, t, field, idx, "too long");
	if (!text || s->len == 0)
		return CL_OK;
	if (memchr(s->ptr, '\0', s->len) != NULL)
		return bad(err, code, t, field, idx, "contains a NUL byte");
	if (!cl_utf8_valid(s->ptr, s->len))
		return bad(err, code, t, field, idx, "not valid UTF-8");
	return CL_OK;
}

/* Is `v` finite and within [lo, hi]? */
static bool
float_in(float v, float lo, float hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

static int
check_hello(const struct proto_hello *m, int code, struct cl_err *err)
{
	const enum proto_type t = PROTO_HELLO;
	size_t i;
	int r;

	if (m->version != PROTO_VERSION && code == CL_EINVAL)
		return bad(err, code, t, "version", -1, "not PROTO_VERSION");
	if (m->version != PROTO_VERSION)
		return cl_errf(err, CL_EUNSUPPORTED, "engine speaks protocol "
		    "version %u, expected %u", (unsigned)m->version,
		    (unsigned)PROTO_VERSION);
	if ((r = check_str(err, code, t, "arch", -1, &m->arch, 1,
	    PROTO_MAX_ARCH_LEN, true)) != CL_OK)
		return r;
	if (m->n_params_active > m->n_params)
		return bad(err, code, t, "n_params_active", -1,
		    "exceeds n_params");
	if (m->n_ctx == 0)
		return bad(err, code, t, "n_ctx", -1, "zero");
	if (m->n_vocab == 0 || m->n_vocab > INT32_MAX)
		return bad(err, code, t, "n_vocab", -1, "out of range");
	if (m->n_layer == 0)
		return bad(err, code, t, "n_layer", -1, "zero");
	if (m->n_types > PROTO_MAX_TENSOR_TYPES)
		return bad(err, code, t, "types", -1, "too many");
	if (m->n_types > 0 && m->types == NULL)
		return bad(err, code, t, "types", -1, "NULL with a count");
	for (i = 0; i < m->n_types; i++) {
		if (ggml_type_info(m->types[i].type) == NULL)
			return bad(err, code, t, "types.type", (long)i,
			    "unknown ggml type");
		if (m->types[i].n_tensors == 0)
			return bad(err, code, t, "types.n_tensors", (long)i,
			    "zero");
	}
	if ((unsigned)m->sandbox_mode > PROTO_SANDBOX_MODE_MAX)
		return bad(err, code, t, "sandbox_mode", -1, "out of range");
	if (m->n_layers > PROTO_MAX_LAYERS)
		return bad(err, code, t, "layers", -1, "too many");
	if (m->n_layers > 0 && m->layers == NULL)
		return bad(err, code, t, "layers", -1, "NULL with a count");
	for (i = 0; i < m->n_layers; i++) {
		if ((r = check_str(err, code, t, "layers.name", (long)i,
		    &m->layers[i].name, 1, PROTO_MAX_NAME_LEN, true)) !=
		    CL_OK ||
		    (r = check_str(err, code, t, "layers.status", (long)i,
		    &m->layers[i].status, 0, PROTO_MAX_STATUS_LEN, true)) !=
		    CL_OK)
			return r;
	}
	return CL_OK;
}

static int
check_progress(const struct proto_progress *m, int code, struct cl_err *err)
{
	if (m->done > m->total)
		return bad(err, code, PROTO_PROGRESS, "done", -1,
		    "exceeds total");
	return CL_OK;
}

static int
check_generate(const struct proto_generate *m, int code, struct cl_err *err)
{
	const enum proto_type t = PROTO_GENERATE;
	size_t i;
	int r;

	switch (m->kind) {
	case PROTO_PROMPT_CHAT:
		if (m->n_messages == 0 || m->n_messages > PROTO_MAX_MESSAGES)
			return bad(err, code, t, "messages", -1,
			    "count out of range");
		if (m->messages == NULL)
			return bad(err, code, t, "messages", -1, "NULL");
		if (m->n_tokens != 0)
			return bad(err, code, t, "tokens", -1,
			    "given with a chat prompt");
		for (i = 0; i < m->n_messages; i++) {
			if ((unsigned)m->messages[i].role > PROTO_ROLE_MAX)
				return bad(err, code, t, "messages.role",
				    (long)i, "out of range");
			if ((r = check_str(err, code, t, "messages.text",
			    (long)i, &m->messages[i].text, 0, PROTO_MAX_FRAME,
			    true)) != CL_OK)
				return r;
		}
		break;
	case PROTO_PROMPT_TOKENS:
		if (m->n_tokens == 0 || m->n_tokens > PROTO_MAX_PROMPT_TOKENS)
			return bad(err, code, t, "tokens", -1,
			    "count out of range");
		if (m->tokens == NULL)
			return bad(err, code, t, "tokens", -1, "NULL");
		if (m->n_messages != 0)
			return bad(err, code, t, "messages", -1,
			    "given with a token prompt");
		for (i = 0; i < m->n_tokens; i++) {
			if (m->tokens[i] < 0)
				return bad(err, code, t, "tokens", (long)i,
				    "negative token id");
		}
		break;
	default:
		return bad(err, code, t, "kind", -1, "out of range");
	}
	if (!float_in(m->temperature, 0.0f, PROTO_MAX_TEMPERATURE))
		return bad(err, code, t, "temperature", -1,
		    "not a finite number in 0..10");
	if (m->top_k > PROTO_MAX_TOP_K)
		return bad(err, code, t, "top_k", -1, "out of range");
	if (!float_in(m->top_p, 0.0f, 1.0f))
		return bad(err, code, t, "top_p", -1,
		    "not a finite number in 0..1");
	if (!float_in(m->min_p, 0.0f, 1.0f))
		return bad(err, code, t, "min_p", -1,
		    "not a finite number in 0..1");
	if (!float_in(m->repeat_penalty, 0.0f, PROTO_MAX_REPEAT_PENALTY) ||
	    m->repeat_penalty == 0.0f)
		return bad(err, code, t, "repeat_penalty", -1,
		    "not a finite number in (0, 10]");
	if (m->repeat_last_n > PROTO_MAX_REPEAT_LAST_N)
		return bad(err, code, t, "repeat_last_n", -1, "out of range");
	if (m->max_tokens == 0 || m->max_tokens > PROTO_MAX_GEN_TOKENS)
		return bad(err, code, t, "max_tokens", -1, "out of range");
	if (m->n_stops > PROTO_MAX_STOPS)
		return bad(err, code, t, "stops", -1, "too many");
	if (m->n_stops > 0 && m->stops == NULL)
		return bad(err, code, t, "stops", -1, "NULL with a count");
	for (i = 0; i < m->n_stops; i++) {
		if ((r = check_str(err, code, t, "stops", (long)i,
		    &m->stops[i], 1, PROTO_MAX_STOP_LEN, true)) != CL_OK)
			return r;
	}
	return CL_OK;
}

static int
check_token(const struct proto_token *m, int code, struct cl_err *err)
{
	if (m->id < 0)
		return bad(err, code, PROTO_TOKEN, "id", -1,
		    "negative token id");
	/* Not text: a piece may be part of a code point. */
	return check_str(err, code, PROTO_TOKEN, "bytes", -1, &m->bytes, 0,
	    PROTO_MAX_TOKEN_BYTES, false);
}

static int
check_done(const struct proto_done *m, int code, struct cl_err *err)
{
	if ((unsigned)m->reason > PROTO_DONE_REASON_MAX)
		return bad(err, code, PROTO_DONE, "reason", -1,
		    "out of range");
	return CL_OK;
}

static int
check_error(const struct proto_error *m, int code, struct cl_err *err)
{
	if (m->code < CL_EAUTH || m->code > CL_EINTERNAL)
		return bad(err, code, PROTO_ERROR, "code", -1,
		    "not a CL_E* error code");
	return check_str(err, code, PROTO_ERROR, "message", -1, &m->message,
	    0, PROTO_MAX_ERROR_LEN, true);
}

static int
check_tokenize(const struct proto_tokenize *m, int code, struct cl_err *err)
{
	return check_str(err, code, PROTO_TOKENIZE, "text", -1, &m->text, 0,
	    PROTO_MAX_FRAME, true);
}

static int
check_bench(const struct proto_bench *m, int code, struct cl_err *err)
{
	const enum proto_type t = PROTO_BENCH;

	if (m->n_prompt > PROTO_MAX_BENCH_TOKENS)
		return bad(err, code, t, "n_prompt", -1, "out of range");
	if (m->n_gen > PROTO_MAX_BENCH_TOKENS)
		return bad(err, code, t, "n_gen", -1, "out of range");
	if (m->n_prompt == 0 && m->n_gen == 0)
		return bad(err, code, t, "n_gen", -1,
		    "zero, and so is n_prompt");
	if (m->n_reps == 0 || m->n_reps > PROTO_MAX_BENCH_REPS)
		return bad(err, code, t, "n_reps", -1, "out of range");
	return CL_OK;
}

static int
check_bench_result(const struct proto_bench_result *m, int code,
    struct cl_err *err)
{
	const enum proto_type t = PROTO_BENCH_RESULT;

	if (m->n_prompt > PROTO_MAX_BENCH_TOKENS)
		return bad(err, code, t, "n_prompt", -1, "out of range");
	if (m->n_gen > PROTO_MAX_BENCH_TOKENS)
		return bad(err, code, t, "n_gen", -1, "out of range");
	if (m->n_reps == 0 || m->n_reps > PROTO_MAX_BENCH_REPS)
		return bad(err, code, t, "reps", -1, "count out of range");
	if (m->reps == NULL)
		return bad(err, code, t, "reps", -1, "NULL");
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 4. Encoders                                                         */
/* ------------------------------------------------------------------ */

/* Start frame `t` in `out`, replacing what it held. */
static void
wr_begin(struct wr *w, struct cl_buf *out, enum proto_type t)
{
	cl_buf_reset(out);
	w->b = out;
	w->err = CL_OK;
	wr_u8(w, (uint8_t)t);
}

/* Finish a frame: report a sticky error, leaving `out` empty. */
static int
wr_end(struct wr *w, enum proto_type t, struct cl_err *err)
{
	if (w->err == CL_OK)
		return CL_OK;
	cl_buf_reset(w->b);
	if (w->err == CL_ELIMIT)
		return cl_errf(err, CL_ELIMIT, "%s frame larger than %u bytes",
		    proto_type_name(t), (unsigned)PROTO_MAX_FRAME);
	return cl_errf(err, w->err, "out of memory encoding %s frame",
	    proto_type_name(t));
}

/* Validation failed: leave `out` empty, as documented. */
static int
enc_fail(struct cl_buf *out, int r)
{
	cl_buf_reset(out);
	return r;
}

int
proto_encode_hello(struct cl_buf *out, const struct proto_hello *m,
    struct cl_err *err)
{
	struct wr w;
	size_t i;
	int r;

	if ((r = check_hello(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_HELLO);
	wr_u32(&w, m->version);
	wr_str(&w, &m->arch);
	wr_u64(&w, m->n_params);
	wr_u64(&w, m->n_params_active);
	wr_u32(&w, m->n_ctx);
	wr_u32(&w, m->n_vocab);
	wr_u32(&w, m->n_layer);
	wr_len(&w, m->n_types);
	for (i = 0; i < m->n_types; i++) {
		wr_u32(&w, m->types[i].type);
		wr_u32(&w, m->types[i].n_tensors);
		wr_u64(&w, m->types[i].n_bytes);
	}
	wr_u64(&w, m->load_us);
	wr_u8(&w, (uint8_t)m->sandbox_mode);
	wr_len(&w, m->n_layers);
	for (i = 0; i < m->n_layers; i++) {
		wr_str(&w, &m->layers[i].name);
		wr_str(&w, &m->layers[i].status);
	}
	return wr_end(&w, PROTO_HELLO, err);
}

int
proto_encode_progress(struct cl_buf *out, const struct proto_progress *m,
    struct cl_err *err)
{
	struct wr w;
	int r;

	if ((r = check_progress(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_PROGRESS);
	wr_u64(&w, m->done);
	wr_u64(&w, m->total);
	return wr_end(&w, PROTO_PROGRESS, err);
}

int
proto_encode_generate(struct cl_buf *out, const struct proto_generate *m,
    struct cl_err *err)
{
	struct wr w;
	size_t i;
	int r;

	if ((r = check_generate(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_GENERATE);
	wr_u8(&w, (uint8_t)m->kind);
	if (m->kind == PROTO_PROMPT_CHAT) {
		wr_len(&w, m->n_messages);
		for (i = 0; i < m->n_messages; i++) {
			wr_u8(&w, (uint8_t)m->messages[i].role);
			wr_str(&w, &m->messages[i].text);
		}
	} else {
		wr_len(&w, m->n_tokens);
		for (i = 0; i < m->n_tokens; i++)
			wr_i32(&w, m->tokens[i]);
	}
	wr_f32(&w, m->temperature);
	wr_u32(&w, m->top_k);
	wr_f32(&w, m->top_p);
	wr_f32(&w, m->min_p);
	wr_f32(&w, m->repeat_penalty);
	wr_u32(&w, m->repeat_last_n);
	wr_u64(&w, m->seed);
	wr_u32(&w, m->max_tokens);
	wr_len(&w, m->n_stops);
	for (i = 0; i < m->n_stops; i++)
		wr_str(&w, &m->stops[i]);
	return wr_end(&w, PROTO_GENERATE, err);
}

int
proto_encode_token(struct cl_buf *out, const struct proto_token *m,
    struct cl_err *err)
{
	struct wr w;
	int r;

	if ((r = check_token(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_TOKEN);
	wr_i32(&w, m->id);
	wr_str(&w, &m->bytes);
	return wr_end(&w, PROTO_TOKEN, err);
}

int
proto_encode_cancel(struct cl_buf *out, struct cl_err *err)
{
	struct wr w;

	wr_begin(&w, out, PROTO_CANCEL);
	return wr_end(&w, PROTO_CANCEL, err);
}

int
proto_encode_done(struct cl_buf *out, const struct proto_done *m,
    struct cl_err *err)
{
	struct wr w;
	int r;

	if ((r = check_done(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_DONE);
	wr_u8(&w, (uint8_t)m->reason);
	wr_u32(&w, m->n_prompt);
	wr_u32(&w, m->n_gen);
	wr_u64(&w, m->prompt_us);
	wr_u64(&w, m->gen_us);
	return wr_end(&w, PROTO_DONE, err);
}

int
proto_encode_error(struct cl_buf *out, const struct proto_error *m,
    struct cl_err *err)
{
	struct wr w;
	int r;

	if ((r = check_error(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_ERROR);
	wr_i32(&w, m->code);
	wr_str(&w, &m->message);
	return wr_end(&w, PROTO_ERROR, err);
}

int
proto_encode_tokenize(struct cl_buf *out, const struct proto_tokenize *m,
    struct cl_err *err)
{
	struct wr w;
	int r;

	if ((r = check_tokenize(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_TOKENIZE);
	wr_str(&w, &m->text);
	return wr_end(&w, PROTO_TOKENIZE, err);
}

int
proto_encode_token_count(struct cl_buf *out,
    const struct proto_token_count *m, struct cl_err *err)
{
	struct wr w;

	wr_begin(&w, out, PROTO_TOKEN_COUNT);
	wr_u32(&w, m->n_tokens);
	return wr_end(&w, PROTO_TOKEN_COUNT, err);
}

int
proto_encode_bench(struct cl_buf *out, const struct proto_bench *m,
    struct cl_err *err)
{
	struct wr w;
	int r;

	if ((r = check_bench(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_BENCH);
	wr_u32(&w, m->n_prompt);
	wr_u32(&w, m->n_gen);
	wr_u32(&w, m->n_reps);
	return wr_end(&w, PROTO_BENCH, err);
}

int
proto_encode_bench_result(struct cl_buf *out,
    const struct proto_bench_result *m, struct cl_err *err)
{
	struct wr w;
	size_t i;
	int r;

	if ((r = check_bench_result(m, CL_EINVAL, err)) != CL_OK)
		return enc_fail(out, r);
	wr_begin(&w, out, PROTO_BENCH_RESULT);
	wr_u32(&w, m->n_prompt);
	wr_u32(&w, m->n_gen);
	wr_u64(&w, m->peak_rss);
	wr_len(&w, m->n_reps);
	for (i = 0; i < m->n_reps; i++) {
		wr_u64(&w, m->reps[i].prompt_us);
		wr_u64(&w, m->reps[i].gen_us);
	}
	return wr_end(&w, PROTO_BENCH_RESULT, err);
}

int
proto_encode_shutdown(struct cl_buf *out, struct cl_err *err)
{
	struct wr w;

	wr_begin(&w, out, PROTO_SHUTDOWN);
	return wr_end(&w, PROTO_SHUTDOWN, err);
}

int
proto_encode(struct cl_buf *out, const struct proto_msg *m,
    struct cl_err *err)
{
	switch (m->type) {
	case PROTO_HELLO:
		return proto_encode_hello(out, &m->u.hello, err);
	case PROTO_PROGRESS:
		return proto_encode_progress(out, &m->u.progress, err);
	case PROTO_GENERATE:
		return proto_encode_generate(out, &m->u.generate, err);
	case PROTO_TOKEN:
		return proto_encode_token(out, &m->u.token, err);
	case PROTO_CANCEL:
		return proto_encode_cancel(out, err);
	case PROTO_DONE:
		return proto_encode_done(out, &m->u.done, err);
	case PROTO_ERROR:
		return proto_encode_error(out, &m->u.error, err);
	case PROTO_TOKENIZE:
		return proto_encode_tokenize(out, &m->u.tokenize, err);
	case PROTO_TOKEN_COUNT:
		return proto_encode_token_count(out, &m->u.token_count, err);
	case PROTO_BENCH:
		return proto_encode_bench(out, &m->u.bench, err);
	case PROTO_BENCH_RESULT:
		return proto_encode_bench_result(out, &m->u.bench_result, err);
	case PROTO_SHUTDOWN:
		return proto_encode_shutdown(out, err);
	default:
		cl_buf_reset(out);
		return cl_errf(err, CL_EINVAL, "cannot encode frame type %u",
		    (unsigned)m->type);
	}
}

/* ------------------------------------------------------------------ */
/* 5. Decoder and release                                              */
/* ------------------------------------------------------------------ */

/*
 * Each dec_* reads the fields of its frame into `m`, which starts all
 * zero.  Arrays are allocated zeroed and their count set at once, so
 * proto_msg_release() can free a half-decoded message.  Validation of
 * values happens afterwards, in the check_* shared with the encoder;
 * only what must be known before allocating is checked here.
 */

static int
dec_hello(struct rd *r, struct proto_hello *m, struct cl_err *err)
{
	size_t i, n;
	uint8_t u8;
	int rc;

	if ((rc = rd_u32(r, "version", &m->version)) != CL_OK)
		return rc;
	if (m->version != PROTO_VERSION)	/* the rest may differ */
		return check_hello(m, CL_EFORMAT, err);
	if ((rc = rd_str(r, "arch", &m->arch)) != CL_OK ||
	    (rc = rd_u64(r, "n_params", &m->n_params)) != CL_OK ||
	    (rc = rd_u64(r, "n_params_active", &m->n_params_active)) !=
	    CL_OK ||
	    (rc = rd_u32(r, "n_ctx", &m->n_ctx)) != CL_OK ||
	    (rc = rd_u32(r, "n_vocab", &m->n_vocab)) != CL_OK ||
	    (rc = rd_u32(r, "n_layer", &m->n_layer)) != CL_OK ||
	    (rc = rd_count(r, "types", 0, PROTO_MAX_TENSOR_TYPES, 16, &n)) !=
	    CL_OK ||
	    (rc = rd_alloc(r, n, sizeof(*m->types), (void **)&m->types)) !=
	    CL_OK)
		return rc;
	m->n_types = n;
	for (i = 0; i < n; i++) {
		if ((rc = rd_u32(r, "types.type", &m->types[i].type)) !=
		    CL_OK ||
		    (rc = rd_u32(r, "types.n_tensors",
		    &m->types[i].n_tensors)) != CL_OK ||
		    (rc = rd_u64(r, "types.n_bytes",
		    &m->types[i].n_bytes)) != CL_OK)
			return rc;
	}
	if ((rc = rd_u64(r, "load_us", &m->load_us)) != CL_OK ||
	    (rc = rd_u8(r, "sandbox_mode", &u8)) != CL_OK)
		return rc;
	m->sandbox_mode = (enum proto_sandbox_mode)u8;
	if ((rc = rd_count(r, "layers", 0, PROTO_MAX_LAYERS, 8, &n)) != CL_OK ||
	    (rc = rd_alloc(r, n, sizeof(*m->layers), (void **)&m->layers)) !=
	    CL_OK)
		return rc;
	m->n_layers = n;
	for (i = 0; i < n; i++) {
		if ((rc = rd_str(r, "layers.name", &m->layers[i].name)) !=
		    CL_OK ||
		    (rc = rd_str(r, "layers.status", &m->layers[i].status)) !=
		    CL_OK)
			return rc;
	}
	return CL_OK;
}

static int
dec_generate(struct rd *r, struct proto_generate *m)
{
	size_t i, n;
	uint8_t u8;
	int rc;

	if ((rc = rd_u8(r, "kind", &u8)) != CL_OK)
		return rc;
	m->kind = (enum proto_prompt_kind)u8;
	if (m->kind == PROTO_PROMPT_CHAT) {
		if ((rc = rd_count(r, "messages", 1, PROTO_MAX_MESSAGES, 5,
		    &n)) != CL_OK ||
		    (rc = rd_alloc(r, n, sizeof(*m->messages),
		    (void **)&m->messages)) != CL_OK)
			return rc;
		m->n_messages = n;
		for (i = 0; i < n; i++) {
			if ((rc = rd_u8(r, "messages.role", &u8)) != CL_OK)
				return rc;
			m->messages[i].role = (enum proto_role)u8;
			if ((rc = rd_str(r, "messages.text",
			    &m->messages[i].text)) != CL_OK)
				return rc;
		}
	} else if (m->kind == PROTO_PROMPT_TOKENS) {
		if ((rc = rd_count(r, "tokens", 1, PROTO_MAX_PROMPT_TOKENS, 4,
		    &n)) != CL_OK ||
		    (rc = rd_alloc(r, n, sizeof(*m->tokens),
		    (void **)&m->tokens)) != CL_OK)
			return rc;
		m->n_tokens = n;
		for (i = 0; i < n; i++) {
			if ((rc = rd_i32(r, "tokens", &m->tokens[i])) != CL_OK)
				return rc;
		}
	} else {
		return cl_errf(r->err, CL_EFORMAT, "bad GENERATE frame: kind: "
		    "out of range");
	}
	if ((rc = rd_f32(r, "temperature", &m->temperature)) != CL_OK ||
	    (rc = rd_u32(r, "top_k", &m->top_k)) != CL_OK ||
	    (rc = rd_f32(r, "top_p", &m->top_p)) != CL_OK ||
	    (rc = rd_f32(r, "min_p", &m->min_p)) != CL_OK ||
	    (rc = rd_f32(r, "repeat_penalty", &m->repeat_penalty)) != CL_OK ||
	    (rc = rd_u32(r, "repeat_last_n", &m->repeat_last_n)) != CL_OK ||
	    (rc = rd_u64(r, "seed", &m->seed)) != CL_OK ||
	    (rc = rd_u32(r, "max_tokens", &m->max_tokens)) != CL_OK ||
	    (rc = rd_count(r, "stops", 0, PROTO_MAX_STOPS, 4, &n)) != CL_OK ||
	    (rc = rd_alloc(r, n, sizeof(*m->stops), (void **)&m->stops)) !=
	    CL_OK)
		return rc;
	m->n_stops = n;
	for (i = 0; i < n; i++) {
		if ((rc = rd_str(r, "stops", &m->stops[i])) != CL_OK)
			return rc;
	}
	return CL_OK;
}

static int
dec_bench_result(struct rd *r, struct proto_bench_result *m)
{
	size_t i, n;
	int rc;

	if ((rc = rd_u32(r, "n_prompt", &m->n_prompt)) != CL_OK ||
	    (rc = rd_u32(r, "n_gen", &m->n_gen)) != CL_OK ||
	    (rc = rd_u64(r, "peak_rss", &m->peak_rss)) != CL_OK ||
	    (rc = rd_count(r, "reps", 1, PROTO_MAX_BENCH_REPS, 16, &n)) !=
	    CL_OK ||
	    (rc = rd_alloc(r, n, sizeof(*m->reps), (void **)&m->reps)) !=
	    CL_OK)
		return rc;
	m->n_reps = n;
	for (i = 0; i < n; i++) {
		if ((rc = rd_u64(r, "reps.prompt_us",
		    &m->reps[i].prompt_us)) != CL_OK ||
		    (rc = rd_u64(r, "reps.gen_us", &m->reps[i].gen_us)) !=
		    CL_OK)
			return rc;
	}
	return CL_OK;
}

/* Read the fields of frame `out->type` and validate them. */
static int
dec_fields(struct rd *r, struct proto_msg *out, struct cl_err *err)
{
	const int code = CL_EFORMAT;
	struct proto_msg *m = out;
	uint8_t u8;
	int rc;

	switch (m->type) {
	case PROTO_HELLO:
		if ((rc = dec_hello(r, &m->u.hello, err)) != CL_OK)
			return rc;
		return check_hello(&m->u.hello, code, err);
	case PROTO_PROGRESS:
		if ((rc = rd_u64(r, "done", &m->u.progress.done)) != CL_OK ||
		    (rc = rd_u64(r, "total", &m->u.progress.total)) != CL_OK)
			return rc;
		return check_progress(&m->u.progress, code, err);
	case PROTO_GENERATE:
		if ((rc = dec_generate(r, &m->u.generate)) != CL_OK)
			return rc;
		return check_generate(&m->u.generate, code, err);
	case PROTO_TOKEN:
		if ((rc = rd_i32(r, "id", &m->u.token.id)) != CL_OK ||
		    (rc = rd_str(r, "bytes", &m->u.token.bytes)) != CL_OK)
			return rc;
		return check_token(&m->u.token, code, err);
	case PROTO_CANCEL:
	case PROTO_SHUTDOWN:
		return CL_OK;
	case PROTO_DONE:
		if ((rc = rd_u8(r, "reason", &u8)) != CL_OK)
			return rc;
		m->u.done.reason = (enum proto_done_reason)u8;
		if ((rc = rd_u32(r, "n_prompt", &m->u.done.n_prompt)) !=
		    CL_OK ||
		    (rc = rd_u32(r, "n_gen", &m->u.done.n_gen)) != CL_OK ||
		    (rc = rd_u64(r, "prompt_us", &m->u.done.prompt_us)) !=
		    CL_OK ||
		    (rc = rd_u64(r, "gen_us", &m->u.done.gen_us)) != CL_OK)
			return rc;
		return check_done(&m->u.done, code, err);
	case PROTO_ERROR:
		if ((rc = rd_i32(r, "code", &m->u.error.code)) != CL_OK ||
		    (rc = rd_str(r, "message", &m->u.error.message)) != CL_OK)
			return rc;
		return check_error(&m->u.error, code, err);
	case PROTO_TOKENIZE:
		if ((rc = rd_str(r, "text", &m->u.tokenize.text)) != CL_OK)
			return rc;
		return check_tokenize(&m->u.tokenize, code, err);
	case PROTO_TOKEN_COUNT:
		return rd_u32(r, "n_tokens", &m->u.token_count.n_tokens);
	case PROTO_BENCH:
		if ((rc = rd_u32(r, "n_prompt", &m->u.bench.n_prompt)) !=
		    CL_OK ||
		    (rc = rd_u32(r, "n_gen", &m->u.bench.n_gen)) != CL_OK ||
		    (rc = rd_u32(r, "n_reps", &m->u.bench.n_reps)) != CL_OK)
			return rc;
		return check_bench(&m->u.bench, code, err);
	case PROTO_BENCH_RESULT:
		if ((rc = dec_bench_result(r, &m->u.bench_result)) != CL_OK)
			return rc;
		return check_bench_result(&m->u.bench_result, code, err);
	default:
		CL_BUG("dec_fields: frame type not checked by proto_decode");
	}
}

int
proto_decode(const void *frame, size_t len, struct proto_msg *out,
    struct cl_err *err)
{
	struct rd r;
	unsigned type;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return cl_errf(err, CL_EFORMAT, "empty frame");
	if (len > PROTO_MAX_FRAME)
		return cl_errf(err, CL_EFORMAT, "frame of %zu bytes exceeds "
		    "the maximum of %u", len, (unsigned)PROTO_MAX_FRAME);
	type = ((const unsigned char *)frame)[0];
	if (proto_type_direction(type) == PROTO_DIR_INVALID)
		return cl_errf(err, CL_EFORMAT, "unknown frame type %u", type);
	memset(&r, 0, sizeof(r));
	r.p = frame;
	r.len = len;
	r.pos = 1;
	r.frame = proto_type_name(type);
	r.err = err;
	out->type = (enum proto_type)type;
	if ((rc = dec_fields(&r, out, err)) != CL_OK)
		goto out;
	if (r.pos != len) {
		rc = cl_errf(err, CL_EFORMAT, "bad %s frame: %zu trailing "
		    "bytes", r.frame, len - r.pos);
		goto out;
	}
	rc = CL_OK;
out:
	if (rc != CL_OK)
		proto_msg_release(out);
	return rc;
}

static void
str_free(struct proto_str *s)
{
	cl_free(s->ptr);
	s->ptr = NULL;
	s->len = 0;
}

void
proto_msg_release(struct proto_msg *m)
{
	size_t i;

	switch (m->type) {
	case PROTO_HELLO:
		str_free(&m->u.hello.arch);
		cl_free(m->u.hello.types);
		for (i = 0; i < m->u.hello.n_layers; i++) {
			str_free(&m->u.hello.layers[i].name);
			str_free(&m->u.hello.layers[i].status);
		}
		cl_free(m->u.hello.layers);
		break;
	case PROTO_GENERATE:
		for (i = 0; i < m->u.generate.n_messages; i++)
			str_free(&m->u.generate.messages[i].text);
		cl_free(m->u.generate.messages);
		cl_free(m->u.generate.tokens);
		for (i = 0; i < m->u.generate.n_stops; i++)
			str_free(&m->u.generate.stops[i]);
		cl_free(m->u.generate.stops);
		break;
	case PROTO_TOKEN:
		str_free(&m->u.token.bytes);
		break;
	case PROTO_ERROR:
		str_free(&m->u.error.message);
		break;
	case PROTO_TOKENIZE:
		str_free(&m->u.tokenize.text);
		break;
	case PROTO_BENCH_RESULT:
		cl_free(m->u.bench_result.reps);
		break;
	default:
		break;		/* nothing owned */
	}
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* 6. Socket I/O                                                       */
/* ------------------------------------------------------------------ */

int
proto_socket_tune(int fd, struct cl_err *err)
{
	int want = (int)PROTO_MAX_FRAME + 64 * 1024, got = 0;
	socklen_t len = sizeof(got);

	/* The kernel doubles the value for bookkeeping, within wmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) != 0)
		return cl_errf(err, CL_EIO, "cannot set socket send buffer: "
		    "%s", strerror(errno));
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len) != 0)
		return cl_errf(err, CL_EIO, "cannot read socket send buffer: "
		    "%s", strerror(errno));
	/* A unix datagram may use the send buffer less 32 bytes. */
	if (got < (int)PROTO_MAX_FRAME + 32)
		return cl_errf(err, CL_ELIMIT, "socket send buffer of %d bytes "
		    "is too small for %u-byte frames (raise "
		    "net.core.wmem_max)", got, (unsigned)PROTO_MAX_FRAME);
	return CL_OK;
}

/* Check that `frame` is one sendable frame. */
static int
check_frame(const struct cl_buf *frame, struct cl_err *err)
{
	if (frame->len == 0 || frame->data == NULL)
		return cl_errf(err, CL_EINVAL, "refusing to send an empty "
		    "frame");
	if (frame->len > PROTO_MAX_FRAME)
		return cl_errf(err, CL_EINVAL, "refusing to send a frame of "
		    "%zu bytes", frame->len);
	return CL_OK;
}

/* Map a failed send/write/recv/read to an error. */
static int
io_error(int e, const char *call, struct cl_err *err)
{
	if (e == EPIPE || e == ECONNRESET)
		return cl_errf(err, CL_EIO, "connection closed by peer");
	return cl_errf(err, CL_EIO, "%s on engine socket failed: %s", call,
	    strerror(e));
}

/* Send with send(2) (use_send) or write(2). */
static int
send_frame(int fd, const struct cl_buf *frame, bool use_send,
    struct cl_err *err)
{
	ssize_t n;
	int r;

	if ((r = check_frame(frame, err)) != CL_OK)
		return r;
	do {
		if (use_send)
			n = send(fd, frame->data, frame->len, MSG_NOSIGNAL);
		else
			n = write(fd, frame->data, frame->len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return io_error(errno, use_send ? "send" : "write", err);
	if ((size_t)n != frame->len)	/* SEQPACKET: all or nothing */
		return cl_errf(err, CL_EIO, "short %s on engine socket",
		    use_send ? "send" : "write");
	return CL_OK;
}

int
proto_send(int fd, const struct cl_buf *frame, struct cl_err *err)
{
	return send_frame(fd, frame, true, err);
}

int
proto_write(int fd, const struct cl_buf *frame, struct cl_err *err)
{
	return send_frame(fd, frame, false, err);
}

/*
 * Wait until `fd` is readable or `timeout_ms` pass (forever if < 0).
 * *ready says which.  Hang-up and errors count as readable so that the
 * following read reports them.
 */
static int
wait_readable(int fd, int timeout_ms, bool *ready, struct cl_err *err)
{
	struct pollfd pfd;
	double deadline = 0;
	int n, left = timeout_ms;

	*ready = true;
	if (timeout_ms < 0)
		return CL_OK;
	deadline = cl_now() + timeout_ms / 1000.0;
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if ((n = poll(&pfd, 1, left)) > 0)
			return CL_OK;
		if (n == 0)
			break;
		if (errno != EINTR)
			return cl_errf(err, CL_EIO, "poll on engine socket "
			    "failed: %s", strerror(errno));
		left = (int)((deadline - cl_now()) * 1000.0);
		if (left < 0)
			left = 0;
	}
	*ready = false;
	return CL_OK;
}

/* Receive with recv(2) + MSG_TRUNC (use_recv) or read(2). */
static int
recv_frame(int fd, void *buf, size_t cap, size_t *len, int timeout_ms,
    bool use_recv, struct cl_err *err)
{
	const char *call = use_recv ? "recv" : "read";
	bool ready;
	ssize_t n;
	int r;

	*len = 0;
	for (;;) {
		if ((r = wait_readable(fd, timeout_ms, &ready, err)) != CL_OK)
			return r;
		if (!ready)
			return CL_OK;		/* timed out: no frame */
		if (use_recv)
			n = recv(fd, buf, cap, MSG_TRUNC);
		else
			n = read(fd, buf, cap);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
		    timeout_ms >= 0)
			return CL_OK;		/* spurious wake-up */
		return io_error(errno, call, err);
	}
	if (n == 0)
		return cl_errf(err, CL_EIO, "connection closed by peer");
	/* read(2) truncates silently; cap > PROTO_MAX_FRAME catches it. */
	if ((size_t)n > cap || (size_t)n > PROTO_MAX_FRAME)
		return cl_errf(err, CL_EFORMAT, "oversized frame (%s%zu bytes, "
		    "maximum %u)", use_recv ? "" : "at least ", (size_t)n,
		    (unsigned)PROTO_MAX_FRAME);
	*len = (size_t)n;
	return CL_OK;
}

int
proto_recv(int fd, void *buf, size_t cap, size_t *len, int timeout_ms,
    struct cl_err *err)
{
	*len = 0;
	if (cap == 0)
		return cl_errf(err, CL_EINVAL, "proto_recv: no buffer");
	return recv_frame(fd, buf, cap, len, timeout_ms, true, err);
}

int
proto_read(int fd, void *buf, size_t cap, size_t *len, int timeout_ms,
    struct cl_err *err)
{
	*len = 0;
	if (cap <= PROTO_MAX_FRAME)
		return cl_errf(err, CL_EINVAL, "proto_read: buffer of %zu "
		    "bytes must exceed %u", cap, (unsigned)PROTO_MAX_FRAME);
	return recv_frame(fd, buf, cap, len, timeout_ms, false, err);
}
