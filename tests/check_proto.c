/*
 * check_proto.c - tests of engine/proto: the broker <-> engine frames.
 *
 * Expected bytes are built here by hand from the layout documented in
 * proto.h (a small independent builder, fb_*), never by the encoder
 * under test.
 */
#include "engine/proto.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------- */
/* An independent frame builder                                      */
/* ---------------------------------------------------------------- */

static void
fb_bytes(struct cl_buf *b, const void *p, size_t n)
{
	ck_assert_int_eq(cl_buf_append(b, p, n), CL_OK);
}

static void
fb_u8(struct cl_buf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;

	fb_bytes(b, &c, 1);
}

static void
fb_u32(struct cl_buf *b, uint32_t v)
{
	unsigned char c[4] = { v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff,
	    v >> 24 & 0xff };

	fb_bytes(b, c, 4);
}

static void
fb_u64(struct cl_buf *b, uint64_t v)
{
	fb_u32(b, (uint32_t)v);
	fb_u32(b, (uint32_t)(v >> 32));
}

static void
fb_f32(struct cl_buf *b, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	fb_u32(b, u);
}

static void
fb_str(struct cl_buf *b, const char *s, size_t n)
{
	fb_u32(b, (uint32_t)n);
	fb_bytes(b, s, n);
}

#define S(lit)	{ (char *)(lit), sizeof(lit) - 1 }

/* ---------------------------------------------------------------- */
/* Sample messages, one or more per frame type                       */
/* ---------------------------------------------------------------- */

static struct proto_tensor_type sample_types[] = {
	{ 0, 50, 123456 },		/* F32 */
	{ 12, 120, 98765432 },		/* Q4_K */
	{ 14, 20, 4567890 },		/* Q6_K */
};
static struct proto_layer sample_layers[] = {
	{ S("seccomp"), S("enforced, kill-process") },
	{ S("landlock"), S("ABI 4, no rules") },
	{ S("userns"), S("") },
};
static struct proto_chat_msg sample_chat[] = {
	{ PROTO_ROLE_SYSTEM, S("Be brief.") },
	{ PROTO_ROLE_USER, S("Qu'est-ce que c'est? \xe2\x82\xac \xf0\x9f\x98\x80") },
	{ PROTO_ROLE_ASSISTANT, S("") },
};
static int32_t sample_tokens[] = { 1, 306, 653, 0, 2147483647 };
static struct proto_str sample_stops[] = { S("<|im_end|>"), S("\n\n") };
static struct proto_bench_rep sample_reps[] = {
	{ 1000, 2000 }, { 1100, 2100 }, { UINT64_MAX, 0 },
};

#define N_SAMPLES 15

/* Fill `m` with sample `i` (borrowing static data; do not release). */
static void
sample(int i, struct proto_msg *m)
{
	memset(m, 0, sizeof(*m));
	switch (i) {
	case 0:
		m->type = PROTO_HELLO;
		m->u.hello = (struct proto_hello){
			.version = PROTO_VERSION, .arch = S("lfm2moe"),
			.n_params = 8300000000ULL,
			.n_params_active = 1500000000ULL, .n_ctx = 32768,
			.n_vocab = 65536, .n_layer = 24,
			.types = sample_types, .n_types = 3,
			.load_us = 1234567,
			.sandbox_mode = PROTO_SANDBOX_PARTIAL,
			.layers = sample_layers, .n_layers = 3,
		};
		break;
	case 1:
		m->type = PROTO_HELLO;	/* minimal: no rows */
		m->u.hello = (struct proto_hello){
			.version = PROTO_VERSION, .arch = S("lfm2"),
			.n_params = 1, .n_params_active = 1, .n_ctx = 1,
			.n_vocab = 1, .n_layer = 1,
			.sandbox_mode = PROTO_SANDBOX_OFF,
		};
		break;
	case 2:
		m->type = PROTO_PROGRESS;
		m->u.progress = (struct proto_progress){ 4096, 10974080 };
		break;
	case 3:
		m->type = PROTO_GENERATE;
		m->u.generate = (struct proto_generate){
			.kind = PROTO_PROMPT_CHAT, .messages = sample_chat,
			.n_messages = 3, .temperature = 0.7f, .top_k = 40,
			.top_p = 0.95f, .min_p = 0.05f,
			.repeat_penalty = 1.1f, .repeat_last_n = 64,
			.seed = 0x0123456789abcdefULL, .max_tokens = 512,
			.stops = sample_stops, .n_stops = 2,
		};
		break;
	case 4:
		m->type = PROTO_GENERATE;
		m->u.generate = (struct proto_generate){
			.kind = PROTO_PROMPT_TOKENS, .tokens = sample_tokens,
			.n_tokens = 5, .temperature = 0.0f, .top_k = 0,
			.top_p = 1.0f, .min_p = 0.0f, .repeat_penalty = 1.0f,
			.repeat_last_n = 0, .seed = 0, .max_tokens = 1,
		};
		break;
	case 5:
		m->type = PROTO_TOKEN;
		m->u.token = (struct proto_token){ 306, S("\xf0\x9f") };
		break;
	case 6:
		m->type = PROTO_TOKEN;
		m->u.token = (struct proto_token){ 0, S("") };
		break;
	case 7:
		m->type = PROTO_CANCEL;
		break;
	case 8:
		m->type = PROTO_DONE;
		m->u.done = (struct proto_done){ PROTO_DONE_STOP, 25, 100,
		    123456, 7890123 };
		break;
	case 9:
		m->type = PROTO_ERROR;
		m->u.error = (struct proto_error){ CL_ELIMIT,
		    S("prompt of 40000 tokens exceeds the context of 32768") };
		break;
	case 10:
		m->type = PROTO_TOKENIZE;
		m->u.tokenize = (struct proto_tokenize){
		    S("The quick brown fox jumps over the lazy dog.") };
		break;
	case 11:
		m->type = PROTO_TOKEN_COUNT;
		m->u.token_count.n_tokens = 11;
		break;
	case 12:
		m->type = PROTO_BENCH;
		m->u.bench = (struct proto_bench){ 512, 128, 5 };
		break;
	case 13:
		m->type = PROTO_BENCH_RESULT;
		m->u.bench_result = (struct proto_bench_result){ 512, 128,
		    1ULL << 33, sample_reps, 3 };
		break;
	case 14:
		m->type = PROTO_SHUTDOWN;
		break;
	default:
		ck_abort_msg("no sample %d", i);
	}
}

static bool
str_eq(const struct proto_str *a, const struct proto_str *b)
{
	if (a->len != b->len)
		return false;
	return a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0;
}

/* A decoded string is NUL-terminated. */
static void
assert_nul(const struct proto_str *s)
{
	ck_assert_ptr_nonnull(s->ptr);
	ck_assert_int_eq(s->ptr[s->len], '\0');
}

/* Deep comparison of two messages of the same type. */
static bool
msg_eq(const struct proto_msg *a, const struct proto_msg *b)
{
	size_t i;

	if (a->type != b->type)
		return false;
	switch (a->type) {
	case PROTO_HELLO: {
		const struct proto_hello *x = &a->u.hello, *y = &b->u.hello;

		if (x->version != y->version || !str_eq(&x->arch, &y->arch) ||
		    x->n_params != y->n_params ||
		    x->n_params_active != y->n_params_active ||
		    x->n_ctx != y->n_ctx || x->n_vocab != y->n_vocab ||
		    x->n_layer != y->n_layer || x->n_types != y->n_types ||
		    x->load_us != y->load_us ||
		    x->sandbox_mode != y->sandbox_mode ||
		    x->n_layers != y->n_layers)
			return false;
		for (i = 0; i < x->n_types; i++)
			if (memcmp(&x->types[i], &y->types[i],
			    sizeof(x->types[i])) != 0)
				return false;
		for (i = 0; i < x->n_layers; i++)
			if (!str_eq(&x->layers[i].name, &y->layers[i].name) ||
			    !str_eq(&x->layers[i].status,
			    &y->layers[i].status))
				return false;
		return true;
	}
	case PROTO_PROGRESS:
		return a->u.progress.done == b->u.progress.done &&
		    a->u.progress.total == b->u.progress.total;
	case PROTO_GENERATE: {
		const struct proto_generate *x = &a->u.generate;
		const struct proto_generate *y = &b->u.generate;

		if (x->kind != y->kind || x->n_messages != y->n_messages ||
		    x->n_tokens != y->n_tokens ||
		    memcmp(&x->temperature, &y->temperature, 4) != 0 ||
		    x->top_k != y->top_k ||
		    memcmp(&x->top_p, &y->top_p, 4) != 0 ||
		    memcmp(&x->min_p, &y->min_p, 4) != 0 ||
		    memcmp(&x->repeat_penalty, &y->repeat_penalty, 4) != 0 ||
		    x->repeat_last_n != y->repeat_last_n ||
		    x->seed != y->seed || x->max_tokens != y->max_tokens ||
		    x->n_stops != y->n_stops)
			return false;
		for (i = 0; i < x->n_messages; i++)
			if (x->messages[i].role != y->messages[i].role ||
			    !str_eq(&x->messages[i].text,
			    &y->messages[i].text))
				return false;
		for (i = 0; i < x->n_tokens; i++)
			if (x->tokens[i] != y->tokens[i])
				return false;
		for (i = 0; i < x->n_stops; i++)
			if (!str_eq(&x->stops[i], &y->stops[i]))
				return false;
		return true;
	}
	case PROTO_TOKEN:
		return a->u.token.id == b->u.token.id &&
		    str_eq(&a->u.token.bytes, &b->u.token.bytes);
	case PROTO_CANCEL:
	case PROTO_SHUTDOWN:
		return true;
	case PROTO_DONE:
		return memcmp(&a->u.done, &b->u.done, sizeof(a->u.done)) == 0;
	case PROTO_ERROR:
		return a->u.error.code == b->u.error.code &&
		    str_eq(&a->u.error.message, &b->u.error.message);
	case PROTO_TOKENIZE:
		return str_eq(&a->u.tokenize.text, &b->u.tokenize.text);
	case PROTO_TOKEN_COUNT:
		return a->u.token_count.n_tokens == b->u.token_count.n_tokens;
	case PROTO_BENCH:
		return memcmp(&a->u.bench, &b->u.bench,
		    sizeof(a->u.bench)) == 0;
	case PROTO_BENCH_RESULT:
		if (a->u.bench_result.n_prompt != b->u.bench_result.n_prompt ||
		    a->u.bench_result.n_gen != b->u.bench_result.n_gen ||
		    a->u.bench_result.peak_rss != b->u.bench_result.peak_rss ||
		    a->u.bench_result.n_reps != b->u.bench_result.n_reps)
			return false;
		for (i = 0; i < a->u.bench_result.n_reps; i++)
			if (memcmp(&a->u.bench_result.reps[i],
			    &b->u.bench_result.reps[i],
			    sizeof(struct proto_bench_rep)) != 0)
				return false;
		return true;
	default:
		return false;
	}
}

static bool
is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != 0)
			return false;
	return true;
}

/* Decode `frame[0..len)` expecting failure with `code`, `needle` in msg. */
static void
expect_bad(const void *frame, size_t len, int code, const char *needle)
{
	struct cl_err err = CL_ERR_INIT;
	struct proto_msg m;
	int r;

	memset(&m, 0xa5, sizeof(m));
	r = proto_decode(frame, len, &m, &err);
	ck_assert_msg(r == code, "want %d got %d (%s)", code, r, err.msg);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.msg, needle) != NULL,
	    "want '%s' in '%s'", needle, err.msg);
	ck_assert(is_zero(&m, sizeof(m)));
}

static void
make_pair(int sv[2])
{
	struct cl_err err = CL_ERR_INIT;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
	    0, sv), 0);
	ck_assert_int_eq(proto_socket_tune(sv[0], &err), CL_OK);
	ck_assert_int_eq(proto_socket_tune(sv[1], &err), CL_OK);
}

/* ---------------------------------------------------------------- */
/* Round trips and layout                                            */
/* ---------------------------------------------------------------- */

START_TEST(test_roundtrip_socket)
{
	static const enum proto_dir dir[N_SAMPLES] = {
		PROTO_DIR_TO_BROKER, PROTO_DIR_TO_BROKER, PROTO_DIR_TO_BROKER,
		PROTO_DIR_TO_ENGINE, PROTO_DIR_TO_ENGINE, PROTO_DIR_TO_BROKER,
		PROTO_DIR_TO_BROKER, PROTO_DIR_TO_ENGINE, PROTO_DIR_TO_BROKER,
		PROTO_DIR_TO_BROKER, PROTO_DIR_TO_ENGINE, PROTO_DIR_TO_BROKER,
		PROTO_DIR_TO_ENGINE, PROTO_DIR_TO_BROKER, PROTO_DIR_TO_ENGINE,
	};
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf frame = CL_BUF_INIT;
	struct proto_msg in, out;
	char *buf;
	size_t cap = PROTO_MAX_FRAME + 1, len;
	int sv[2], i;
	bool seen[PROTO_TYPE_MAX + 1] = { false };

	buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	make_pair(sv);
	for (i = 0; i < N_SAMPLES; i++) {
		sample(i, &in);
		seen[in.type] = true;
		ck_assert_int_eq(proto_type_direction(in.type), dir[i]);
		ck_assert_msg(proto_encode(&frame, &in, &err) == CL_OK,
		    "sample %d: %s", i, err.msg);
		/* The engine writes and reads with write/read ... */
		if (dir[i] == PROTO_DIR_TO_BROKER) {
			ck_assert_int_eq(proto_write(sv[1], &frame, &err),
			    CL_OK);
			ck_assert_int_eq(proto_recv(sv[0], buf, cap, &len, -1,
			    &err), CL_OK);
		} else {	/* ... the broker with send/recv. */
			ck_assert_int_eq(proto_send(sv[0], &frame, &err),
			    CL_OK);
			ck_assert_int_eq(proto_read(sv[1], buf, cap, &len,
			    1000, &err), CL_OK);
		}
		ck_assert_uint_eq(len, frame.len);
		ck_assert(memcmp(buf, frame.data, len) == 0);
		ck_assert_msg(proto_decode(buf, len, &out, &err) == CL_OK,
		    "sample %d: %s", i, err.msg);
		ck_assert_msg(msg_eq(&in, &out), "sample %d differs", i);
		switch (out.type) {
		case PROTO_HELLO:
			assert_nul(&out.u.hello.arch);
			break;
		case PROTO_TOKENIZE:
			assert_nul(&out.u.tokenize.text);
			break;
		case PROTO_ERROR:
			assert_nul(&out.u.error.message);
			break;
		default:
			break;
		}
		proto_msg_release(&out);
		ck_assert(is_zero(&out, sizeof(out)));
		proto_msg_release(&out);	/* twice is harmless */
	}
	for (i = 1; i <= PROTO_TYPE_MAX; i++)
		ck_assert_msg(seen[i], "type %d has no sample", i);
	close(sv[0]);
	close(sv[1]);
	cl_buf_release(&frame);
	free(buf);
}
END_TEST

/* The encoder's bytes equal the hand-built layout of proto.h. */
START_TEST(test_layout)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf want = CL_BUF_INIT, got = CL_BUF_INIT;
	struct proto_msg m;
	size_t i;

	sample(0, &m);			/* HELLO */
	fb_u8(&want, 1);
	fb_u32(&want, PROTO_VERSION);
	fb_str(&want, "lfm2moe", 7);
	fb_u64(&want, 8300000000ULL);
	fb_u64(&want, 1500000000ULL);
	fb_u32(&want, 32768);
	fb_u32(&want, 65536);
	fb_u32(&want, 24);
	fb_u32(&want, 3);
	for (i = 0; i < 3; i++) {
		fb_u32(&want, sample_types[i].type);
		fb_u32(&want, sample_types[i].n_tensors);
		fb_u64(&want, sample_types[i].n_bytes);
	}
	fb_u64(&want, 1234567);
	fb_u8(&want, 2);
	fb_u32(&want, 3);
	for (i = 0; i < 3; i++) {
		fb_str(&want, sample_layers[i].name.ptr,
		    sample_layers[i].name.len);
		fb_str(&want, sample_layers[i].status.ptr,
		    sample_layers[i].status.len);
	}
	ck_assert_int_eq(proto_encode(&got, &m, &err), CL_OK);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(memcmp(got.data, want.data, want.len) == 0);

	cl_buf_reset(&want);
	sample(3, &m);			/* GENERATE, chat */
	fb_u8(&want, 3);
	fb_u8(&want, 0);
	fb_u32(&want, 3);
	for (i = 0; i < 3; i++) {
		fb_u8(&want, i);
		fb_str(&want, sample_chat[i].text.ptr,
		    sample_chat[i].text.len);
	}
	fb_f32(&want, 0.7f);
	fb_u32(&want, 40);
	fb_f32(&want, 0.95f);
	fb_f32(&want, 0.05f);
	fb_f32(&want, 1.1f);
	fb_u32(&want, 64);
	fb_u64(&want, 0x0123456789abcdefULL);
	fb_u32(&want, 512);
	fb_u32(&want, 2);
	fb_str(&want, "<|im_end|>", 10);
	fb_str(&want, "\n\n", 2);
	ck_assert_int_eq(proto_encode(&got, &m, &err), CL_OK);
	ck_assert_uint_eq(got.len, want.len);
	ck_assert(memcmp(got.data, want.data, want.len) == 0);

	/* Literal bytes: little-endian everywhere. */
	sample(8, &m);			/* DONE */
	m.u.done.n_gen = 0x01020304;
	m.u.done.gen_us = 0x1122334455667788ULL;
	ck_assert_int_eq(proto_encode(&got, &m, &err), CL_OK);
	ck_assert_uint_eq(got.len, 26);
	ck_assert(memcmp(got.data, "\x06\x02" "\x19\0\0\0" "\x04\x03\x02\x01"
	    "\x40\xe2\x01\0\0\0\0\0" "\x88\x77\x66\x55\x44\x33\x22\x11",
	    26) == 0);
	sample(5, &m);			/* TOKEN 306, F0 9F */
	ck_assert_int_eq(proto_encode(&got, &m, &err), CL_OK);
	ck_assert_uint_eq(got.len, 11);
	ck_assert(memcmp(got.data, "\x04\x32\x01\0\0\x02\0\0\0\xf0\x9f",
	    11) == 0);
	ck_assert_int_eq(proto_encode_cancel(&got, &err), CL_OK);
	ck_assert(got.len == 1 && got.data[0] == 5);
	ck_assert_int_eq(proto_encode_shutdown(&got, &err), CL_OK);
	ck_assert(got.len == 1 && got.data[0] == 12);
	cl_buf_release(&want);
	cl_buf_release(&got);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(proto_type_name(PROTO_HELLO), "HELLO");
	ck_assert_str_eq(proto_type_name(PROTO_BENCH_RESULT), "BENCH_RESULT");
	ck_assert_str_eq(proto_type_name(0), "unknown");
	ck_assert_str_eq(proto_type_name(13), "unknown");
	ck_assert_str_eq(proto_type_name(~0u), "unknown");
	ck_assert_int_eq(proto_type_direction(0), PROTO_DIR_INVALID);
	ck_assert_int_eq(proto_type_direction(13), PROTO_DIR_INVALID);
	ck_assert_int_eq(proto_type_direction(255), PROTO_DIR_INVALID);
	ck_assert_int_eq(proto_type_direction(PROTO_CANCEL),
	    PROTO_DIR_TO_ENGINE);
	ck_assert_int_eq(proto_type_direction(PROTO_TOKEN),
	    PROTO_DIR_TO_BROKER);
}
END_TEST

/* A frame of exactly PROTO_MAX_FRAME bytes crosses a tuned socket. */
START_TEST(test_max_frame)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf frame = CL_BUF_INIT;
	struct proto_tokenize t;
	struct proto_msg out;
	char *text, *buf;
	size_t len, n = PROTO_MAX_FRAME - 5;	/* type + u32 length */
	int sv[2];

	text = malloc(n + 1);
	buf = malloc(PROTO_MAX_FRAME + 1);
	ck_assert(text != NULL && buf != NULL);
	memset(text, 'a', n + 1);
	t.text.ptr = text;
	t.text.len = n;
	ck_assert_int_eq(proto_encode_tokenize(&frame, &t, &err), CL_OK);
	ck_assert_uint_eq(frame.len, PROTO_MAX_FRAME);
	make_pair(sv);
	ck_assert_int_eq(proto_send(sv[0], &frame, &err), CL_OK);
	ck_assert_int_eq(proto_read(sv[1], buf, PROTO_MAX_FRAME + 1, &len,
	    -1, &err), CL_OK);
	ck_assert_int_eq(proto_decode(buf, len, &out, &err), CL_OK);
	ck_assert_uint_eq(out.u.tokenize.text.len, n);
	proto_msg_release(&out);
	/* One byte more does not encode, and leaves `frame` empty. */
	t.text.len = n + 1;
	ck_assert_int_eq(proto_encode_tokenize(&frame, &t, &err), CL_ELIMIT);
	ck_assert_uint_eq(frame.len, 0);
	close(sv[0]);
	close(sv[1]);
	cl_buf_release(&frame);
	free(text);
	free(buf);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Decoder validation                                                */
/* ---------------------------------------------------------------- */

START_TEST(test_truncation_and_trailing)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf frame = CL_BUF_INIT;
	struct proto_msg m;
	size_t cut;
	int i;

	for (i = 0; i < N_SAMPLES; i++) {
		sample(i, &m);
		ck_assert_int_eq(proto_encode(&frame, &m, &err), CL_OK);
		/* Every proper prefix fails, leaving *out empty. */
		expect_bad(frame.data, 0, CL_EFORMAT, "empty frame");
		for (cut = 1; cut < frame.len; cut++)
			expect_bad(frame.data, cut, CL_EFORMAT,
			    proto_type_name(m.type));
		/* So does one extra byte, whatever its value. */
		fb_u8(&frame, 0);
		expect_bad(frame.data, frame.len, CL_EFORMAT,
		    "1 trailing bytes");
		frame.data[frame.len - 1] = (char)0xff;
		expect_bad(frame.data, frame.len, CL_EFORMAT, "trailing");
	}
	cl_buf_release(&frame);
}
END_TEST

START_TEST(test_unknown_and_oversized)
{
	unsigned char f[4] = { 0, 0, 0, 0 };
	char *big;

	expect_bad(f, 1, CL_EFORMAT, "unknown frame type 0");
	f[0] = 13;
	expect_bad(f, 1, CL_EFORMAT, "unknown frame type 13");
	f[0] = 255;
	expect_bad(f, 4, CL_EFORMAT, "unknown frame type 255");
	big = calloc(1, PROTO_MAX_FRAME + 1);
	ck_assert_ptr_nonnull(big);
	big[0] = PROTO_TOKENIZE;
	expect_bad(big, PROTO_MAX_FRAME + 1, CL_EFORMAT, "exceeds");
	free(big);
}
END_TEST

/* The raw fields of a GENERATE frame with a token prompt. */
struct gen_raw {
	unsigned	 kind;
	uint32_t	 n_tokens;	/* count written */
	uint32_t	 token;		/* the one token written */
	uint32_t	 temperature, top_k, top_p, min_p, repeat_penalty;
	uint32_t	 repeat_last_n;
	uint64_t	 seed;
	uint32_t	 max_tokens;
	uint32_t	 n_stops;	/* count written */
	uint32_t	 stop_len;	/* length written */
	const char	*stop;		/* 3 bytes written */
};

static const struct gen_raw gen_ok = {
	1, 1, 5, 0x3f800000 /* 1.0 */, 40, 0x3f666666 /* 0.9 */, 0,
	0x3f800000, 64, 42, 100, 1, 3, "END",
};

static void
build_gen(struct cl_buf *b, const struct gen_raw *g)
{
	cl_buf_reset(b);
	fb_u8(b, PROTO_GENERATE);
	fb_u8(b, g->kind);
	fb_u32(b, g->n_tokens);
	fb_u32(b, g->token);
	fb_u32(b, g->temperature);
	fb_u32(b, g->top_k);
	fb_u32(b, g->top_p);
	fb_u32(b, g->min_p);
	fb_u32(b, g->repeat_penalty);
	fb_u32(b, g->repeat_last_n);
	fb_u64(b, g->seed);
	fb_u32(b, g->max_tokens);
	fb_u32(b, g->n_stops);
	fb_u32(b, g->stop_len);
	fb_bytes(b, g->stop, 3);
}

#define F_NAN	0x7fc00000u
#define F_INF	0x7f800000u
#define F_NINF	0xff800000u
#define F_NEG1	0xbf800000u
#define F_1_5	0x3fc00000u
#define F_10_5	0x41280000u
#define F_ZERO	0x00000000u
#define F_NEG0	0x80000000u

START_TEST(test_generate_fields)
{
	static const struct {
		const char	*field;	/* expected in the message */
		size_t		 off;	/* byte offset in struct gen_raw */
		size_t		 size;	/* 4 or 8 (or 1 for kind: unsigned) */
		uint64_t	 val;
	} cases[] = {
		{ "kind", offsetof(struct gen_raw, kind), 4, 2 },
		{ "kind", offsetof(struct gen_raw, kind), 4, 255 },
		{ "tokens: count 4294967295 exceeds", offsetof(struct gen_raw,
		    n_tokens), 4, 0xffffffff },
		{ "count 65537 exceeds", offsetof(struct gen_raw, n_tokens),
		    4, 65537 },
		{ "tokens: count 0 below 1", offsetof(struct gen_raw,
		    n_tokens), 4, 0 },
		{ "tokens: truncated", offsetof(struct gen_raw, n_tokens), 4,
		    100 },
		{ "negative token id", offsetof(struct gen_raw, token), 4,
		    0xffffffff },
		{ "negative token id", offsetof(struct gen_raw, token), 4,
		    0x80000000 },
		{ "temperature", offsetof(struct gen_raw, temperature), 4,
		    F_NAN },
		{ "temperature", offsetof(struct gen_raw, temperature), 4,
		    F_INF },
		{ "temperature", offsetof(struct gen_raw, temperature), 4,
		    F_NEG1 },
		{ "temperature", offsetof(struct gen_raw, temperature), 4,
		    F_10_5 },
		{ "top_k", offsetof(struct gen_raw, top_k), 4,
		    (1u << 20) + 1 },
		{ "top_p", offsetof(struct gen_raw, top_p), 4, F_1_5 },
		{ "top_p", offsetof(struct gen_raw, top_p), 4, F_NAN },
		{ "top_p", offsetof(struct gen_raw, top_p), 4, F_NEG1 },
		{ "min_p", offsetof(struct gen_raw, min_p), 4, F_1_5 },
		{ "min_p", offsetof(struct gen_raw, min_p), 4, F_NINF },
		{ "repeat_penalty", offsetof(struct gen_raw,
		    repeat_penalty), 4, F_ZERO },
		{ "repeat_penalty", offsetof(struct gen_raw,
		    repeat_penalty), 4, F_NEG0 },
		{ "repeat_penalty", offsetof(struct gen_raw,
		    repeat_penalty), 4, F_10_5 },
		{ "repeat_penalty", offsetof(struct gen_raw,
		    repeat_penalty), 4, F_NAN },
		{ "repeat_last_n", offsetof(struct gen_raw, repeat_last_n), 4,
		    0xffffffff },
		{ "max_tokens", offsetof(struct gen_raw, max_tokens), 4, 0 },
		{ "max_tokens", offsetof(struct gen_raw, max_tokens), 4,
		    (1u << 20) + 1 },
		{ "count 17 exceeds 16", offsetof(struct gen_raw, n_stops), 4,
		    17 },
		{ "stops: truncated", offsetof(struct gen_raw, n_stops), 4,
		    2 },
		{ "7 trailing bytes", offsetof(struct gen_raw, n_stops), 4,
		    0 },
		{ "stops[0]: empty", offsetof(struct gen_raw, stop_len), 4,
		    0 },
		{ "stops: truncated", offsetof(struct gen_raw, stop_len), 4,
		    4 },
		{ "stops: truncated", offsetof(struct gen_raw, stop_len), 4,
		    0xffffffff },
	};
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct proto_msg m;
	struct gen_raw g;
	uint32_t v32;
	size_t i;

	/* The unmodified frame is valid, and decodes as built. */
	build_gen(&b, &gen_ok);
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	ck_assert_int_eq(m.u.generate.kind, PROTO_PROMPT_TOKENS);
	ck_assert(m.u.generate.n_tokens == 1 && m.u.generate.tokens[0] == 5);
	ck_assert(m.u.generate.temperature == 1.0f);
	ck_assert(m.u.generate.top_p == 0.9f);
	ck_assert(m.u.generate.seed == 42 && m.u.generate.max_tokens == 100);
	ck_assert_str_eq(m.u.generate.stops[0].ptr, "END");
	proto_msg_release(&m);

	for (i = 0; i < CL_ARRAY_LEN(cases); i++) {
		g = gen_ok;
		if (cases[i].size == 8) {
			memcpy((char *)&g + cases[i].off, &cases[i].val, 8);
		} else {
			v32 = (uint32_t)cases[i].val;
			memcpy((char *)&g + cases[i].off, &v32, 4);
		}
		build_gen(&b, &g);
		expect_bad(b.data, b.len, CL_EFORMAT, cases[i].field);
	}
	/* Stop strings are text: no invalid UTF-8, no NUL. */
	g = gen_ok;
	g.stop = "E\xffN";
	build_gen(&b, &g);
	expect_bad(b.data, b.len, CL_EFORMAT, "stops[0]: not valid UTF-8");
	g.stop = "E\0N";
	build_gen(&b, &g);
	expect_bad(b.data, b.len, CL_EFORMAT, "stops[0]: contains a NUL");
	g.stop = "\xed\xa0\x80";		/* a surrogate */
	build_gen(&b, &g);
	expect_bad(b.data, b.len, CL_EFORMAT, "not valid UTF-8");
	/* Edge values that are allowed. */
	g = gen_ok;
	g.temperature = F_ZERO;
	g.top_p = F_ZERO;
	g.min_p = 0x3f800000;
	g.repeat_penalty = 0x41200000;		/* 10.0 */
	g.token = 0x7fffffff;
	g.max_tokens = 1u << 20;
	build_gen(&b, &g);
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	proto_msg_release(&m);
	cl_buf_release(&b);
}
END_TEST

/* A GENERATE chat frame with `n` messages, role `role`, text `t`. */
static void
build_chat(struct cl_buf *b, uint32_t n_written, size_t n_real,
    unsigned role, const char *t, size_t tlen)
{
	size_t i;

	cl_buf_reset(b);
	fb_u8(b, PROTO_GENERATE);
	fb_u8(b, 0);
	fb_u32(b, n_written);
	for (i = 0; i < n_real; i++) {
		fb_u8(b, role);
		fb_str(b, t, tlen);
	}
	fb_u32(b, 0x3f800000);
	fb_u32(b, 0);
	fb_u32(b, 0x3f800000);
	fb_u32(b, 0);
	fb_u32(b, 0x3f800000);
	fb_u32(b, 0);
	fb_u64(b, 0);
	fb_u32(b, 10);
	fb_u32(b, 0);
}

START_TEST(test_chat_fields)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct proto_msg m;

	build_chat(&b, 256, 256, 2, "hi", 2);
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	ck_assert_uint_eq(m.u.generate.n_messages, 256);
	ck_assert_str_eq(m.u.generate.messages[255].text.ptr, "hi");
	proto_msg_release(&m);
	build_chat(&b, 257, 257, 1, "hi", 2);
	expect_bad(b.data, b.len, CL_EFORMAT, "count 257 exceeds 256");
	build_chat(&b, 0, 0, 1, "hi", 2);
	expect_bad(b.data, b.len, CL_EFORMAT, "messages: count 0 below 1");
	build_chat(&b, 200, 1, 1, "hi", 2);
	expect_bad(b.data, b.len, CL_EFORMAT, "truncated");
	build_chat(&b, 1, 1, 3, "hi", 2);
	expect_bad(b.data, b.len, CL_EFORMAT, "messages.role[0]: out of range");
	build_chat(&b, 1, 1, 1, "h\xc0\xafi", 4);
	expect_bad(b.data, b.len, CL_EFORMAT,
	    "messages.text[0]: not valid UTF-8");
	build_chat(&b, 1, 1, 1, "h\0i", 3);
	expect_bad(b.data, b.len, CL_EFORMAT, "messages.text[0]: contains");
	build_chat(&b, 1, 1, 1, "\xf0\x9f\x98", 3);	/* truncated char */
	expect_bad(b.data, b.len, CL_EFORMAT, "not valid UTF-8");
	cl_buf_release(&b);
}
END_TEST

/* HELLO with one tensor row and one layer row, fields as given. */
struct hello_raw {
	uint32_t	 version;
	const char	*arch;
	size_t		 arch_len;
	uint64_t	 n_params, n_params_active;
	uint32_t	 n_ctx, n_vocab, n_layer;
	uint32_t	 n_types;
	uint32_t	 type, n_tensors;
	unsigned	 mode;
	uint32_t	 n_layers;
	const char	*name, *status;
	size_t		 name_len;
};

static const struct hello_raw hello_ok = {
	PROTO_VERSION, "lfm2", 4, 100, 50, 4096, 1024, 6, 1, 0, 10, 1, 1,
	"seccomp", "on", 7,
};

static void
build_hello(struct cl_buf *b, const struct hello_raw *h)
{
	cl_buf_reset(b);
	fb_u8(b, PROTO_HELLO);
	fb_u32(b, h->version);
	fb_str(b, h->arch, h->arch_len);
	fb_u64(b, h->n_params);
	fb_u64(b, h->n_params_active);
	fb_u32(b, h->n_ctx);
	fb_u32(b, h->n_vocab);
	fb_u32(b, h->n_layer);
	fb_u32(b, h->n_types);
	fb_u32(b, h->type);
	fb_u32(b, h->n_tensors);
	fb_u64(b, 999);
	fb_u64(b, 5);			/* load_us */
	fb_u8(b, h->mode);
	fb_u32(b, h->n_layers);
	fb_str(b, h->name, h->name_len);
	fb_str(b, h->status, strlen(h->status));
}

START_TEST(test_hello_fields)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct proto_msg m;
	struct hello_raw h;
	char longname[PROTO_MAX_NAME_LEN + 1];

	build_hello(&b, &hello_ok);
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	ck_assert_str_eq(m.u.hello.arch.ptr, "lfm2");
	ck_assert_str_eq(m.u.hello.layers[0].name.ptr, "seccomp");
	ck_assert_uint_eq(m.u.hello.types[0].n_bytes, 999);
	proto_msg_release(&m);

	h = hello_ok;
	h.version = PROTO_VERSION + 1;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EUNSUPPORTED, "protocol version");
	/* The version is checked before the rest, whatever follows. */
	expect_bad(b.data, 5, CL_EUNSUPPORTED, "protocol version");
	h = hello_ok;
	h.arch_len = 0;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "arch: empty");
	h = hello_ok;
	h.arch = "lf\xffm";
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "arch: not valid UTF-8");
	h = hello_ok;
	h.n_params_active = 101;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "n_params_active");
	h = hello_ok;
	h.n_ctx = 0;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "n_ctx");
	h = hello_ok;
	h.n_vocab = 0x80000000u;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "n_vocab");
	h = hello_ok;
	h.n_layer = 0;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "n_layer");
	h = hello_ok;
	h.type = 4;			/* a hole in ggml's numbering */
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "types.type[0]: unknown");
	h.type = 40;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "types.type[0]: unknown");
	h = hello_ok;
	h.n_tensors = 0;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "types.n_tensors[0]");
	h = hello_ok;
	h.n_types = 65;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "count 65 exceeds 64");
	h = hello_ok;
	h.mode = 3;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "sandbox_mode");
	h = hello_ok;
	h.n_layers = 33;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "count 33 exceeds 32");
	h = hello_ok;
	h.name_len = 0;
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "layers.name[0]: empty");
	memset(longname, 'x', sizeof(longname));
	h.name = longname;
	h.name_len = sizeof(longname);
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "layers.name[0]: too long");
	h = hello_ok;
	h.status = "\x80";
	build_hello(&b, &h);
	expect_bad(b.data, b.len, CL_EFORMAT, "layers.status[0]");
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_small_frames)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct proto_msg m;
	char piece[PROTO_MAX_TOKEN_BYTES + 1];

	/* TOKEN: bytes need not be UTF-8, but are bounded. */
	fb_u8(&b, PROTO_TOKEN);
	fb_u32(&b, 7);
	fb_str(&b, "\xff\0\xe2", 3);
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	ck_assert_uint_eq(m.u.token.bytes.len, 3);
	ck_assert(memcmp(m.u.token.bytes.ptr, "\xff\0\xe2", 3) == 0);
	proto_msg_release(&m);
	memset(piece, 'x', sizeof(piece));
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_TOKEN);
	fb_u32(&b, 7);
	fb_str(&b, piece, PROTO_MAX_TOKEN_BYTES);
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	proto_msg_release(&m);
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_TOKEN);
	fb_u32(&b, 7);
	fb_str(&b, piece, PROTO_MAX_TOKEN_BYTES + 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "bytes: too long");
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_TOKEN);
	fb_u32(&b, 0xfffffffe);
	fb_str(&b, "a", 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "TOKEN frame: id: negative");
	/* ERROR codes are negative i32s: CL_EAUTH is FF..F1 on the wire. */
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_ERROR);
	fb_u32(&b, 0xfffffff1u);
	fb_str(&b, "no", 2);
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	ck_assert_int_eq(m.u.error.code, CL_EAUTH);
	proto_msg_release(&m);

	/* DONE: reason in range. */
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_DONE);
	fb_u8(&b, 4);
	fb_u32(&b, 1);
	fb_u32(&b, 1);
	fb_u64(&b, 1);
	fb_u64(&b, 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "DONE frame: reason");
	b.data[1] = PROTO_DONE_CANCEL;
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	ck_assert_int_eq(m.u.done.reason, PROTO_DONE_CANCEL);
	proto_msg_release(&m);

	/* ERROR: a CL_E* code and a short UTF-8 message. */
#define ERRFRAME(code, s, n) do {					\
	cl_buf_reset(&b);						\
	fb_u8(&b, PROTO_ERROR);						\
	fb_u32(&b, (uint32_t)(int32_t)(code));				\
	fb_str(&b, s, n);						\
} while (0)
	ERRFRAME(0, "x", 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "ERROR frame: code");
	ERRFRAME(5, "x", 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "code");
	ERRFRAME(CL_EAUTH - 1, "x", 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "code");
	ERRFRAME(CL_EAUTH, "x\xc3", 2);
	expect_bad(b.data, b.len, CL_EFORMAT, "message: not valid UTF-8");
	{
		char msg[PROTO_MAX_ERROR_LEN + 1];

		memset(msg, 'm', sizeof(msg));
		ERRFRAME(CL_EINTERNAL, msg, PROTO_MAX_ERROR_LEN);
		ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err),
		    CL_OK);
		ck_assert_uint_eq(strlen(m.u.error.message.ptr),
		    PROTO_MAX_ERROR_LEN);
		proto_msg_release(&m);
		ERRFRAME(CL_EINTERNAL, msg, PROTO_MAX_ERROR_LEN + 1);
		expect_bad(b.data, b.len, CL_EFORMAT, "message: too long");
	}

	/* PROGRESS: done <= total. */
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_PROGRESS);
	fb_u64(&b, 11);
	fb_u64(&b, 10);
	expect_bad(b.data, b.len, CL_EFORMAT, "PROGRESS frame: done");

	/* TOKENIZE: text. */
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_TOKENIZE);
	fb_str(&b, "a\xe0\x80\x80", 4);		/* overlong */
	expect_bad(b.data, b.len, CL_EFORMAT, "TOKENIZE frame: text");
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_TOKENIZE);
	fb_u32(&b, 0x7fffffff);			/* length beyond the frame */
	fb_str(&b, "abc", 3);
	expect_bad(b.data, b.len, CL_EFORMAT, "text: truncated");

	/* BENCH and BENCH_RESULT bounds. */
#define BENCHFRAME(p, g, r) do {					\
	cl_buf_reset(&b);						\
	fb_u8(&b, PROTO_BENCH);						\
	fb_u32(&b, p);							\
	fb_u32(&b, g);							\
	fb_u32(&b, r);							\
} while (0)
	BENCHFRAME(0, 0, 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "BENCH frame: n_gen");
	BENCHFRAME(65537, 1, 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "n_prompt");
	BENCHFRAME(1, 65537, 1);
	expect_bad(b.data, b.len, CL_EFORMAT, "n_gen");
	BENCHFRAME(1, 1, 0);
	expect_bad(b.data, b.len, CL_EFORMAT, "n_reps");
	BENCHFRAME(1, 1, 101);
	expect_bad(b.data, b.len, CL_EFORMAT, "n_reps");
	BENCHFRAME(0, 65536, 100);
	ck_assert_int_eq(proto_decode(b.data, b.len, &m, &err), CL_OK);
	proto_msg_release(&m);
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_BENCH_RESULT);
	fb_u32(&b, 1);
	fb_u32(&b, 1);
	fb_u64(&b, 1 << 20);
	fb_u32(&b, 0);
	expect_bad(b.data, b.len, CL_EFORMAT, "reps: count 0 below 1");
	b.len -= 4;
	fb_u32(&b, 101);
	expect_bad(b.data, b.len, CL_EFORMAT, "count 101 exceeds 100");
	b.len -= 4;
	fb_u32(&b, 2);
	fb_u64(&b, 1);
	fb_u64(&b, 2);
	expect_bad(b.data, b.len, CL_EFORMAT, "truncated");

	/* Frames without fields have no trailing bytes either. */
	cl_buf_reset(&b);
	fb_u8(&b, PROTO_CANCEL);
	fb_u8(&b, 0);
	expect_bad(b.data, b.len, CL_EFORMAT, "CANCEL frame: 1 trailing");
	cl_buf_release(&b);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Encoder validation                                                */
/* ---------------------------------------------------------------- */

/* Encode `m`: must fail with `code`, `needle` in msg, `out` empty. */
static void
expect_enc_bad(const struct proto_msg *m, int code, const char *needle)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf out = CL_BUF_INIT;

	ck_assert_int_eq(cl_buf_puts(&out, "junk"), CL_OK);
	ck_assert_int_eq(proto_encode(&out, m, &err), code);
	ck_assert_msg(strstr(err.msg, needle) != NULL, "want '%s' in '%s'",
	    needle, err.msg);
	ck_assert_uint_eq(out.len, 0);
	cl_buf_release(&out);
}

START_TEST(test_encode_validation)
{
	struct proto_msg m;
	struct proto_chat_msg chat[1];
	struct proto_str stops[PROTO_MAX_STOPS + 1];
	int32_t tok[1] = { -1 };
	size_t i;

	sample(4, &m);
	m.u.generate.temperature = NAN;
	expect_enc_bad(&m, CL_EINVAL, "GENERATE frame: temperature");
	sample(4, &m);
	m.u.generate.top_p = INFINITY;
	expect_enc_bad(&m, CL_EINVAL, "top_p");
	sample(4, &m);
	m.u.generate.tokens = tok;
	m.u.generate.n_tokens = 1;
	expect_enc_bad(&m, CL_EINVAL, "tokens[0]: negative");
	sample(4, &m);
	m.u.generate.n_messages = 1;
	expect_enc_bad(&m, CL_EINVAL, "messages: given with a token prompt");
	sample(4, &m);
	m.u.generate.kind = (enum proto_prompt_kind)7;
	expect_enc_bad(&m, CL_EINVAL, "kind");
	sample(3, &m);
	chat[0].role = (enum proto_role)3;
	chat[0].text = (struct proto_str)S("hi");
	m.u.generate.messages = chat;
	m.u.generate.n_messages = 1;
	expect_enc_bad(&m, CL_EINVAL, "messages.role[0]");
	chat[0].role = PROTO_ROLE_USER;
	chat[0].text = (struct proto_str)S("\xc1\x81");
	expect_enc_bad(&m, CL_EINVAL, "messages.text[0]: not valid UTF-8");
	sample(3, &m);
	m.u.generate.n_messages = PROTO_MAX_MESSAGES + 1;
	expect_enc_bad(&m, CL_EINVAL, "messages: count out of range");
	sample(3, &m);
	for (i = 0; i < CL_ARRAY_LEN(stops); i++)
		stops[i] = (struct proto_str)S("x");
	m.u.generate.stops = stops;
	m.u.generate.n_stops = PROTO_MAX_STOPS + 1;
	expect_enc_bad(&m, CL_EINVAL, "stops: too many");
	m.u.generate.n_stops = 1;
	stops[0].len = 0;
	expect_enc_bad(&m, CL_EINVAL, "stops[0]: empty");
	stops[0].len = PROTO_MAX_STOP_LEN + 1;
	stops[0].ptr = NULL;
	expect_enc_bad(&m, CL_EINVAL, "stops[0]: NULL");
	sample(0, &m);
	m.u.hello.n_params_active = m.u.hello.n_params + 1;
	expect_enc_bad(&m, CL_EINVAL, "HELLO frame: n_params_active");
	sample(0, &m);
	m.u.hello.version = PROTO_VERSION + 1;
	expect_enc_bad(&m, CL_EINVAL, "HELLO frame: version");
	sample(0, &m);
	m.u.hello.arch.len = 0;
	expect_enc_bad(&m, CL_EINVAL, "arch: empty");
	sample(5, &m);
	m.u.token.id = -5;
	expect_enc_bad(&m, CL_EINVAL, "TOKEN frame: id");
	sample(5, &m);
	m.u.token.bytes.len = PROTO_MAX_TOKEN_BYTES + 1;
	expect_enc_bad(&m, CL_EINVAL, "bytes: too long");
	sample(8, &m);
	m.u.done.reason = (enum proto_done_reason)9;
	expect_enc_bad(&m, CL_EINVAL, "reason");
	sample(9, &m);
	m.u.error.code = CL_OK;
	expect_enc_bad(&m, CL_EINVAL, "ERROR frame: code");
	sample(2, &m);
	m.u.progress.done = m.u.progress.total + 1;
	expect_enc_bad(&m, CL_EINVAL, "done");
	sample(12, &m);
	m.u.bench.n_reps = 0;
	expect_enc_bad(&m, CL_EINVAL, "n_reps");
	sample(13, &m);
	m.u.bench_result.n_reps = 0;
	expect_enc_bad(&m, CL_EINVAL, "reps");
	memset(&m, 0, sizeof(m));
	expect_enc_bad(&m, CL_EINVAL, "cannot encode frame type 0");
	m.type = (enum proto_type)99;
	expect_enc_bad(&m, CL_EINVAL, "cannot encode frame type 99");
}
END_TEST

/* ---------------------------------------------------------------- */
/* Randomized mutation (sshbuf fuzz style)                           */
/* ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t
rng(void)
{
	/* xorshift64*: fixed seed, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

START_TEST(test_mutation_fuzz)
{
	static const uint32_t interesting[] = {
		0, 1, 2, 3, 16, 17, 64, 65, 255, 256, 257, 0x7fffffff,
		0x80000000, 0xffffffff, 0x7fc00000, 0x7f800000, 65536,
	};
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf frame = CL_BUF_INIT, again = CL_BUF_INIT;
	struct proto_msg m, out, out2;
	unsigned char *f;
	size_t len, pos, cap = 4096;
	uint32_t v;
	int i, iter, k, nmut, ok = 0, bad = 0;

	rng_state = 0x9e3779b97f4a7c15ULL;
	f = malloc(cap);
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < N_SAMPLES; i++) {
		sample(i, &m);
		ck_assert_int_eq(proto_encode(&frame, &m, &err), CL_OK);
		ck_assert_uint_le(frame.len, cap - 64);
		for (iter = 0; iter < 2000; iter++) {
			memcpy(f, frame.data, frame.len);
			len = frame.len;
			nmut = 1 + (int)(rng() % 4);
			for (k = 0; k < nmut; k++) {
				pos = len == 0 ? 0 : rng() % len;
				switch (rng() % 6) {
				case 0:		/* flip a bit */
					if (len > 0)
						f[pos] ^= 1u << (rng() % 8);
					break;
				case 1:		/* random byte */
					if (len > 0)
						f[pos] = (unsigned char)rng();
					break;
				case 2:		/* truncate */
					len = pos;
					break;
				case 3:		/* append junk */
					if (len + 8 <= cap) {
						v = rng();
						memcpy(f + len, &v, 4);
						len += 1 + rng() % 4;
					}
					break;
				case 4:		/* interesting u32 */
					if (pos + 4 <= len) {
						v = interesting[rng() %
						    CL_ARRAY_LEN(interesting)];
						memcpy(f + pos, &v, 4);
					}
					break;
				default:	/* swap type byte */
					if (len > 0)
						f[0] = (unsigned char)(rng() %
						    16);
					break;
				}
			}
			memset(&out, 0x5a, sizeof(out));
			if (proto_decode(f, len, &out, &err) != CL_OK) {
				ck_assert_msg(is_zero(&out, sizeof(out)),
				    "sample %d iter %d: out not empty", i,
				    iter);
				ck_assert(err.code != CL_OK);
				bad++;
				continue;
			}
			/*
			 * What decodes is valid: it re-encodes to the same
			 * bytes, and decodes again to an equal message.
			 */
			ck_assert_msg(proto_encode(&again, &out, &err) ==
			    CL_OK, "sample %d iter %d: %s", i, iter,
			    err.msg);
			ck_assert_uint_eq(again.len, len);
			ck_assert(memcmp(again.data, f, len) == 0);
			ck_assert_int_eq(proto_decode(again.data, again.len,
			    &out2, &err), CL_OK);
			ck_assert(msg_eq(&out, &out2));
			proto_msg_release(&out2);
			proto_msg_release(&out);
			ok++;
		}
	}
	/* Both outcomes were exercised. */
	ck_assert_int_gt(ok, 100);
	ck_assert_int_gt(bad, 1000);
	cl_buf_release(&frame);
	cl_buf_release(&again);
	free(f);
}
END_TEST

/* Fail each allocation of a decode in turn: no leak, out empty. */
START_TEST(test_decode_alloc_fail)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf frame = CL_BUF_INIT;
	struct proto_msg m, out;
	int i, r;
	long n;

	for (i = 0; i < N_SAMPLES; i++) {
		sample(i, &m);
		ck_assert_int_eq(proto_encode(&frame, &m, &err), CL_OK);
		for (n = 0; n < 1000; n++) {
			cl_alloc_fail_after(n);
			r = proto_decode(frame.data, frame.len, &out, &err);
			cl_alloc_fail_after(-1);
			if (r == CL_OK)
				break;
			ck_assert_int_eq(r, CL_ENOMEM);
			ck_assert(is_zero(&out, sizeof(out)));
		}
		ck_assert_int_eq(r, CL_OK);
		ck_assert(msg_eq(&m, &out));
		proto_msg_release(&out);
		/* The encoder's failure also leaves its output empty. */
		cl_buf_release(&frame);
		cl_alloc_fail_after(0);
		r = proto_encode(&frame, &m, &err);
		cl_alloc_fail_after(-1);
		ck_assert_int_eq(r, CL_ENOMEM);
		ck_assert_uint_eq(frame.len, 0);
	}
	cl_buf_release(&frame);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Socket I/O                                                        */
/* ---------------------------------------------------------------- */

START_TEST(test_eof)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf frame = CL_BUF_INIT;
	char buf[PROTO_MAX_FRAME + 1];
	size_t len = 99;
	int sv[2];

	/* A frame queued before the close is still delivered. */
	make_pair(sv);
	ck_assert_int_eq(proto_encode_cancel(&frame, &err), CL_OK);
	ck_assert_int_eq(proto_send(sv[0], &frame, &err), CL_OK);
	close(sv[0]);
	ck_assert_int_eq(proto_read(sv[1], buf, sizeof(buf), &len, 100, &err),
	    CL_OK);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(proto_read(sv[1], buf, sizeof(buf), &len, 100, &err),
	    CL_EIO);
	ck_assert_str_eq(err.msg, "connection closed by peer");
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(proto_recv(sv[1], buf, sizeof(buf), &len, -1, &err),
	    CL_EIO);
	ck_assert_str_eq(err.msg, "connection closed by peer");
	/* The broker's send to a dead engine: an error, not SIGPIPE. */
	ck_assert_int_eq(proto_send(sv[1], &frame, &err), CL_EIO);
	ck_assert_str_eq(err.msg, "connection closed by peer");
	close(sv[1]);
	cl_buf_release(&frame);
}
END_TEST

/*
 * The engine's write(2) to a dead broker: on an AF_UNIX SEQPACKET socket
 * Linux reports EPIPE without raising SIGPIPE (unix_dgram_sendmsg sends
 * no signal), so even with the default action the call returns.
 */
START_TEST(test_write_closed)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf frame = CL_BUF_INIT;
	int sv[2];

	signal(SIGPIPE, SIG_DFL);
	make_pair(sv);
	close(sv[0]);
	ck_assert_int_eq(proto_encode_cancel(&frame, &err), CL_OK);
	ck_assert_int_eq(proto_write(sv[1], &frame, &err), CL_EIO);
	ck_assert_str_eq(err.msg, "connection closed by peer");
	close(sv[1]);
	cl_buf_release(&frame);
}
END_TEST

START_TEST(test_timeout_and_limits)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf frame = CL_BUF_INIT;
	char *big, *buf, small[8];
	size_t len = 99, cap = PROTO_MAX_FRAME + 1;
	double t0;
	int sv[2];

	big = calloc(1, PROTO_MAX_FRAME + 2);
	buf = malloc(cap);
	ck_assert(big != NULL && buf != NULL);
	make_pair(sv);
	/* Nothing there: CL_OK and no frame, after about the timeout. */
	t0 = cl_now();
	ck_assert_int_eq(proto_recv(sv[0], buf, cap, &len, 50, &err), CL_OK);
	ck_assert_uint_eq(len, 0);
	ck_assert(cl_now() - t0 >= 0.04);
	ck_assert_int_eq(proto_read(sv[0], buf, cap, &len, 0, &err), CL_OK);
	ck_assert_uint_eq(len, 0);
	/* An oversized datagram is reported, and the next frame is fine. */
	big[0] = PROTO_TOKENIZE;
	ck_assert_int_eq(send(sv[1], big, PROTO_MAX_FRAME + 1, 0),
	    (ssize_t)PROTO_MAX_FRAME + 1);
	ck_assert_int_eq(proto_recv(sv[0], buf, cap, &len, -1, &err),
	    CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "oversized frame (262145"));
	ck_assert_int_eq(send(sv[1], big, PROTO_MAX_FRAME + 2, 0),
	    (ssize_t)PROTO_MAX_FRAME + 2);
	ck_assert_int_eq(proto_read(sv[0], buf, cap, &len, -1, &err),
	    CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "oversized frame (at least"));
	ck_assert_int_eq(proto_encode_shutdown(&frame, &err), CL_OK);
	ck_assert_int_eq(proto_write(sv[1], &frame, &err), CL_OK);
	ck_assert_int_eq(proto_recv(sv[0], buf, cap, &len, -1, &err), CL_OK);
	ck_assert(len == 1 && buf[0] == PROTO_SHUTDOWN);
	/* A frame larger than the caller's buffer is caught by recv. */
	ck_assert_int_eq(send(sv[1], big, 20, 0), 20);
	ck_assert_int_eq(proto_recv(sv[0], small, sizeof(small), &len, -1,
	    &err), CL_EFORMAT);
	/* Bad arguments. */
	ck_assert_int_eq(proto_read(sv[0], small, sizeof(small), &len, 0,
	    &err), CL_EINVAL);
	cl_buf_reset(&frame);
	ck_assert_int_eq(proto_send(sv[0], &frame, &err), CL_EINVAL);
	ck_assert_int_eq(cl_buf_append(&frame, big, PROTO_MAX_FRAME + 1),
	    CL_OK);
	ck_assert_int_eq(proto_send(sv[0], &frame, &err), CL_EINVAL);
	ck_assert_int_eq(proto_write(sv[0], &frame, &err), CL_EINVAL);
	/* A bad descriptor is an I/O error. */
	ck_assert_int_eq(proto_recv(-1, buf, cap, &len, -1, &err), CL_EIO);
	close(sv[0]);
	close(sv[1]);
	cl_buf_release(&frame);
	free(big);
	free(buf);
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("roundtrip");
	tcase_add_test(tc, test_roundtrip_socket);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_max_frame);
	suite_add_tcase(s, tc);
	tc = tcase_create("validation");
	tcase_add_test(tc, test_truncation_and_trailing);
	tcase_add_test(tc, test_unknown_and_oversized);
	tcase_add_test(tc, test_generate_fields);
	tcase_add_test(tc, test_chat_fields);
	tcase_add_test(tc, test_hello_fields);
	tcase_add_test(tc, test_small_frames);
	tcase_add_test(tc, test_encode_validation);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_add_test(tc, test_mutation_fuzz);
	tcase_add_test(tc, test_decode_alloc_fail);
	suite_add_tcase(s, tc);
	tc = tcase_create("socket");
	tcase_add_test(tc, test_eof);
	tcase_add_test(tc, test_write_closed);
	tcase_add_test(tc, test_timeout_and_limits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
