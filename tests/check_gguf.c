/*
 * check_gguf.c - tests of the GGUF reader and writer (engine/gguf*.c).
 *
 * Round trips (writer -> reader, every value type, streaming and
 * in-memory, custom alignment); at least one malformed file per
 * validation rule of lfm2-spec.md 1.4, made by byte surgery on a valid
 * file, each checked for its code, *out == NULL and the specific words
 * of its message; truncation at every length and random mutations
 * (never crash, run under ASan/UBSan too); allocation failure at every
 * step; and the reference models in tests/data/, whose expected values
 * come from tests/data/synth-tiny-s1.config.json and .manifest.json.
 */
#include "engine/gguf.h"
#include "engine/gguf_write.h"
#include "engine/ggml_types.h"
#include "util/util.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Tensor data for the base file: recognisable bytes. */
static uint8_t data_tok[64];	/* F32 {8, 2} */
static uint8_t data_q[36];	/* Q4_0 {32, 2}: 2 blocks of 18 */
static uint8_t data_norm[8];	/* F16 {4} */

static void
fill_data(void)
{
	for (size_t i = 0; i < sizeof(data_tok); i++)
		data_tok[i] = (uint8_t)(i * 3 + 1);
	for (size_t i = 0; i < sizeof(data_q); i++)
		data_q[i] = (uint8_t)(0xA0 + i);
	for (size_t i = 0; i < sizeof(data_norm); i++)
		data_norm[i] = (uint8_t)(0x50 + i);
}

static const int32_t heads[6] = { 0, 0, 1, 0, 1, 0 };
static const char *const tokens[4] = { "<a>", "b", "\xff\xfe", "" };
/*
 * Long enough that truncating inside key #2 leaves more than 14 bytes
 * per announced key, so the truncation is found by the key parser and
 * not already by the key-count bound.
 */
static const char base_name[] = "a small valid file that check_gguf "
    "corrupts byte by byte to test every validation rule";

/*
 * The base valid file.  Keys: general.architecture, general.name,
 * test.u32, test.flag,
 * test.eps, test.heads, tokenizer.ggml.tokens.  Tensors: tok.weight
 * (F32 {8,2}), blk.0.q (Q4_0 {32,2}), out.norm (F16 {4}).
 */
static void
build_base(struct cl_buf *out)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	const void *data[3] = { data_tok, data_q, data_norm };
	uint64_t ne_tok[2] = { 8, 2 }, ne_q[2] = { 32, 2 }, ne_norm[1] = { 4 };

	fill_data();
	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_str(w, "general.architecture",
	    "lfm2moe", 7, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_str(w, "general.name", base_name,
	    strlen(base_name), &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_u32(w, "test.u32", 7, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_bool(w, "test.flag", true, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_f32(w, "test.eps", 1e-5f, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_arr_i32(w, "test.heads", heads, 6,
	    &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens",
	    tokens, NULL, 4, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "tok.weight",
	    GGML_TYPE_F32, 2, ne_tok, NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "blk.0.q", GGML_TYPE_Q4_0,
	    2, ne_q, NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "out.norm", GGML_TYPE_F16,
	    1, ne_norm, NULL, &err), CL_OK);
	cl_buf_init(out);
	ck_assert_int_eq(gguf_writer_build(w, data, out, &err), CL_OK);
	gguf_writer_free(w);
}

/* Offset of the first occurrence of `s` in the file; fails if absent. */
static size_t
pos_of(const struct cl_buf *b, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i + n <= b->len; i++)
		if (memcmp(b->data + i, s, n) == 0)
			return i;
	ck_abort_msg("'%s' not in file", s);
	return 0;
}

static void
put32(struct cl_buf *b, size_t off, uint32_t v)
{
	ck_assert_uint_le(off + 4, b->len);
	for (int i = 0; i < 4; i++)
		b->data[off + i] = (char)(v >> (8 * i));
}

static void
put64(struct cl_buf *b, size_t off, uint64_t v)
{
	ck_assert_uint_le(off + 8, b->len);
	for (int i = 0; i < 8; i++)
		b->data[off + i] = (char)(v >> (8 * i));
}

static uint64_t
get64(const struct cl_buf *b, size_t off)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | (uint8_t)b->data[off + i];
	return v;
}

/* Fields of a tensor info, found by the tensor's name. */
static size_t
tinfo_ndims(const struct cl_buf *b, const char *name)
{
	return pos_of(b, name) + strlen(name);
}

static size_t
tinfo_ne(const struct cl_buf *b, const char *name, int d)
{
	return tinfo_ndims(b, name) + 4 + 8 * (size_t)d;
}

/* Type and offset fields of a tensor with n_dims dimensions. */
static size_t
tinfo_type(const struct cl_buf *b, const char *name, int n_dims)
{
	return tinfo_ne(b, name, n_dims);
}

static size_t
tinfo_offset(const struct cl_buf *b, const char *name, int n_dims)
{
	return tinfo_type(b, name, n_dims) + 4;
}

/* A KV's type tag and value, found by its key. */
static size_t
kv_type(const struct cl_buf *b, const char *key)
{
	return pos_of(b, key) + strlen(key);
}

static size_t
kv_value(const struct cl_buf *b, const char *key)
{
	return kv_type(b, key) + 4;
}

/*
 * Open p[0..len) and expect failure with `code`, *out set to NULL and a
 * message containing each of the NULL-terminated words.
 */
static void
expect_fail_(const char *file, int line, const void *p, size_t len,
    int code, ...)
{
	struct cl_err err = CL_ERR_INIT;
	struct gguf *g = (struct gguf *)&err;	/* must be reset to NULL */
	const char *word;
	va_list ap;
	int r;

	r = gguf_open_mem(p, len, &g, &err);
	ck_assert_msg(r == code, "%s:%d: code %d (%s), expected %d", file,
	    line, r, err.msg, code);
	ck_assert_msg(g == NULL, "%s:%d: *out not NULL", file, line);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strncmp(err.msg, "gguf: ", 6) == 0,
	    "%s:%d: message '%s'", file, line, err.msg);
	va_start(ap, code);
	while ((word = va_arg(ap, const char *)) != NULL)
		ck_assert_msg(strstr(err.msg, word) != NULL,
		    "%s:%d: message '%s' lacks '%s'", file, line, err.msg,
		    word);
	va_end(ap);
}
#define expect_fail(b, len, code, ...) \
	expect_fail_(__FILE__, __LINE__, (b)->data, (len), (code), \
	    __VA_ARGS__, (const char *)NULL)

static struct gguf *
open_ok(const struct cl_buf *b)
{
	struct cl_err err = CL_ERR_INIT;
	struct gguf *g = NULL;

	ck_assert_msg(gguf_open_mem(b->data, b->len, &g, &err) == CL_OK,
	    "open: %s", err.msg);
	ck_assert_ptr_nonnull(g);
	return g;
}

/* ------------------------------------------------------------------ */
/* Round trips                                                         */
/* ------------------------------------------------------------------ */

/*
 * gguf_release_range gives back the whole pages of a tensor: they leave
 * the mapping, the rest stays readable, and gguf_close() unmaps only what
 * is left, never a mapping that has since taken the hole (here one put
 * there on purpose); a second release of the same range does nothing.
 */
START_TEST(test_release_range)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE), nf = 16 * pg / 4;
	struct cl_err err = CL_ERR_INIT;
	struct gguf_writer *w;
	struct cl_buf b;
	struct gguf *g;
	const struct gguf_tensor *t, *t2;
	uint64_t ne[1] = { nf }, ne2[1] = { 4 };
	float *big = cl_calloc(nf, sizeof(float));
	float small[4] = { 1, 2, 3, 4 };
	const void *data[2] = { big, small };
	char path[] = "/tmp/check_gguf_rel.XXXXXX";
	uintptr_t lo, hi;
	unsigned char *hole;
	int fd;

	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_str(w, "general.architecture",
	    "lfm2", 4, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "big", GGML_TYPE_F32, 1,
	    ne, NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "small", GGML_TYPE_F32, 1,
	    ne2, NULL, &err), CL_OK);
	cl_buf_init(&b);
	ck_assert_int_eq(gguf_writer_build(w, data, &b, &err), CL_OK);
	gguf_writer_free(w);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(cl_write_all(fd, b.data, b.len, &err), CL_OK);
	ck_assert_int_eq(gguf_open_fd(fd, &g, &err), CL_OK);
	close(fd);
	t = gguf_find_tensor(g, "big");
	t2 = gguf_find_tensor(g, "small");
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(t2);

	gguf_release_range(g, t->data, nf * sizeof(float));
	lo = ((uintptr_t)t->data + pg - 1) & ~(uintptr_t)(pg - 1);
	hi = ((uintptr_t)t->data + nf * sizeof(float)) & ~(uintptr_t)(pg - 1);
	ck_assert_uint_ge(hi - lo, 14 * pg);
	/* The hole is free address space: a fixed mapping may take it. */
	hole = mmap((void *)lo, hi - lo, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ck_assert_ptr_eq(hole, (void *)lo);
	memset(hole, 0x5c, hi - lo);
	gguf_release_range(g, t->data, nf * sizeof(float));
	ck_assert_uint_eq(hole[0], 0x5c);
	/* The neighbours stay mapped and intact. */
	ck_assert(memcmp(t2->data, small, sizeof(small)) == 0);
	/* Out of range and borrowed buffers: no effect, no crash. */
	gguf_release_range(g, small, sizeof(small));
	gguf_close(g);
	ck_assert_uint_eq(hole[0], 0x5c);
	ck_assert_uint_eq(hole[hi - lo - 1], 0x5c);
	munmap(hole, hi - lo);

	ck_assert_int_eq(gguf_open_mem(b.data, b.len, &g, &err), CL_OK);
	t = gguf_find_tensor(g, "big");
	gguf_release_range(g, t->data, nf * sizeof(float));
	ck_assert(((const float *)t->data)[nf / 2] == 0.0f);
	gguf_close(g);
	cl_buf_release(&b);
	cl_free(big);
}
END_TEST

START_TEST(test_base_roundtrip)
{
	struct cl_buf b;
	struct cl_err err = CL_ERR_INIT;
	struct gguf *g;
	const struct gguf_tensor *t;
	const char *s;
	size_t len;
	uint32_t u, et;
	uint64_t n;
	int64_t v;
	float f;
	bool flag;

	build_base(&b);
	g = open_ok(&b);
	ck_assert_uint_eq(gguf_version(g), 3);
	ck_assert_uint_eq(gguf_size(g), b.len);
	ck_assert_ptr_eq(gguf_base(g), b.data);
	ck_assert_uint_eq(gguf_alignment(g), 32);
	ck_assert_uint_eq(gguf_data_offset(g) % 32, 0);

	/* Iteration gives the keys in order with their types. */
	ck_assert_uint_eq(gguf_n_kv(g), 7);
	ck_assert_str_eq(gguf_kv_key(g, 0), "general.architecture");
	ck_assert_uint_eq(gguf_kv_type(g, 0), GGUF_VTYPE_STRING);
	ck_assert_str_eq(gguf_kv_key(g, 5), "test.heads");
	ck_assert_uint_eq(gguf_kv_type(g, 5), GGUF_VTYPE_ARRAY);
	ck_assert_str_eq(gguf_kv_key(g, 6), "tokenizer.ggml.tokens");
	ck_assert_ptr_null(gguf_kv_key(g, 7));
	ck_assert_uint_eq(gguf_kv_type(g, 7), GGUF_VTYPE_COUNT);

	ck_assert(gguf_has_key(g, "test.u32"));
	ck_assert(!gguf_has_key(g, "test.u3"));
	ck_assert_int_eq(gguf_get_str(g, "general.architecture", &s, &len,
	    &err), CL_OK);
	ck_assert_uint_eq(len, 7);
	ck_assert(memcmp(s, "lfm2moe", 7) == 0);
	ck_assert_int_eq(gguf_get_u32(g, "test.u32", &u, &err), CL_OK);
	ck_assert_uint_eq(u, 7);
	ck_assert_int_eq(gguf_get_bool(g, "test.flag", &flag, &err), CL_OK);
	ck_assert(flag);
	ck_assert_int_eq(gguf_get_f32(g, "test.eps", &f, &err), CL_OK);
	ck_assert(f == 1e-5f);

	ck_assert_int_eq(gguf_get_arr(g, "test.heads", &et, &n, &err), CL_OK);
	ck_assert_uint_eq(et, GGUF_VTYPE_INT32);
	ck_assert_uint_eq(n, 6);
	for (uint64_t i = 0; i < 6; i++) {
		ck_assert_int_eq(gguf_arr_int(g, "test.heads", i, &v, &err),
		    CL_OK);
		ck_assert_int_eq(v, heads[i]);
	}
	ck_assert_int_eq(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n,
	    &err), CL_OK);
	ck_assert_uint_eq(et, GGUF_VTYPE_STRING);
	ck_assert_uint_eq(n, 4);
	/* Any order: the offsets are random access. */
	for (int k = 3; k >= 0; k--) {
		ck_assert_int_eq(gguf_arr_str(g, "tokenizer.ggml.tokens",
		    (uint64_t)k, &s, &len, &err), CL_OK);
		ck_assert_uint_eq(len, strlen(tokens[k]));
		ck_assert(memcmp(s, tokens[k], len) == 0);
	}

	ck_assert_uint_eq(gguf_n_tensors(g), 3);
	t = gguf_tensor_at(g, 1);
	ck_assert_str_eq(t->name, "blk.0.q");
	ck_assert_uint_eq(t->type, GGML_TYPE_Q4_0);
	ck_assert_uint_eq(t->n_dims, 2);
	ck_assert_uint_eq(t->ne[0], 32);
	ck_assert_uint_eq(t->ne[1], 2);
	ck_assert_uint_eq(t->ne[2], 1);
	ck_assert_uint_eq(t->ne[3], 1);
	ck_assert_uint_eq(t->nbytes, 36);
	ck_assert_uint_eq(t->offset % 32, 0);
	ck_assert_ptr_eq(t->data, b.data + gguf_data_offset(g) + t->offset);
	ck_assert(memcmp(t->data, data_q, 36) == 0);
	ck_assert_ptr_eq(gguf_find_tensor(g, "blk.0.q"), t);
	t = gguf_find_tensor(g, "tok.weight");
	ck_assert_ptr_eq(t, gguf_tensor_at(g, 0));
	ck_assert_uint_eq(t->offset, 0);
	ck_assert_uint_eq(t->nbytes, 64);
	ck_assert(memcmp(t->data, data_tok, 64) == 0);
	t = gguf_find_tensor(g, "out.norm");
	ck_assert_uint_eq(t->n_dims, 1);
	ck_assert_uint_eq(t->ne[0], 4);
	ck_assert_uint_eq(t->ne[1], 1);
	ck_assert_uint_eq(t->nbytes, 8);
	ck_assert(memcmp(t->data, data_norm, 8) == 0);
	ck_assert_ptr_null(gguf_find_tensor(g, "out.nor"));
	ck_assert_ptr_null(gguf_find_tensor(g, ""));
	ck_assert_ptr_null(gguf_tensor_at(g, 3));

	gguf_close(g);
	gguf_close(NULL);
	cl_buf_release(&b);
}
END_TEST

/* Every scalar type, and the accessor coercions of lfm2-spec.md 1.2. */
START_TEST(test_types_and_coercions)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct gguf *g;
	const uint32_t u32s[3] = { 1, 0xFFFFFFFFu, 3 };
	const float f32s[2] = { 0.5f, -2.25f };
	const char *s;
	size_t len;
	uint32_t u;
	uint64_t u64;
	int64_t i64;
	float f;
	bool flag;

	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_u8(w, "k.u8", 200, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_i8(w, "k.i8", -5, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_u16(w, "k.u16", 65535, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_i16(w, "k.i16", -300, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_i32(w, "k.i32", 123456, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_u64(w, "k.u64", UINT64_MAX, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_u64(w, "k.u64small", 42, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_i64(w, "k.i64", INT64_MIN, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_f64(w, "k.f64", 0.125, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_f64(w, "k.f64big", 1e300, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_bool(w, "k.false", false, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_str(w, "k.empty", "", 0, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_arr_u32(w, "k.au32", u32s, 3, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_arr_f32(w, "k.af32", f32s, 2, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_arr_i32(w, "k.aempty", NULL, 0,
	    &err), CL_OK);
	ck_assert_int_eq(gguf_writer_build(w, NULL, &b, &err), CL_OK);
	gguf_writer_free(w);
	g = open_ok(&b);

	ck_assert_uint_eq(gguf_n_tensors(g), 0);
	ck_assert_int_eq(gguf_get_u32(g, "k.u8", &u, &err), CL_OK);
	ck_assert_uint_eq(u, 200);
	ck_assert_int_eq(gguf_get_u32(g, "k.u16", &u, &err), CL_OK);
	ck_assert_uint_eq(u, 65535);
	ck_assert_int_eq(gguf_get_u32(g, "k.i32", &u, &err), CL_OK);
	ck_assert_uint_eq(u, 123456);
	ck_assert_int_eq(gguf_get_u32(g, "k.u64small", &u, &err), CL_OK);
	ck_assert_uint_eq(u, 42);
	ck_assert_int_eq(gguf_get_i64(g, "k.i8", &i64, &err), CL_OK);
	ck_assert_int_eq(i64, -5);
	ck_assert_int_eq(gguf_get_i64(g, "k.i16", &i64, &err), CL_OK);
	ck_assert_int_eq(i64, -300);
	ck_assert_int_eq(gguf_get_i64(g, "k.i64", &i64, &err), CL_OK);
	ck_assert(i64 == INT64_MIN);
	ck_assert_int_eq(gguf_get_u64(g, "k.u64", &u64, &err), CL_OK);
	ck_assert(u64 == UINT64_MAX);

	/* Values that do not fit leave *out alone. */
	u = 99;
	ck_assert_int_eq(gguf_get_u32(g, "k.i8", &u, &err), CL_EFORMAT);
	ck_assert_uint_eq(u, 99);
	ck_assert_ptr_nonnull(strstr(err.msg, "'k.i8'"));
	ck_assert_ptr_nonnull(strstr(err.msg, "-5"));
	ck_assert_int_eq(gguf_get_u32(g, "k.u64", &u, &err), CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not fit UINT32"));
	ck_assert_int_eq(gguf_get_i64(g, "k.u64", &i64, &err), CL_EFORMAT);
	ck_assert_int_eq(gguf_get_u64(g, "k.i64", &u64, &err), CL_EFORMAT);

	ck_assert_int_eq(gguf_get_f32(g, "k.f64", &f, &err), CL_OK);
	ck_assert(f == 0.125f);
	ck_assert_int_eq(gguf_get_f32(g, "k.f64big", &f, &err), CL_EFORMAT);
	ck_assert_int_eq(gguf_get_bool(g, "k.false", &flag, &err), CL_OK);
	ck_assert(!flag);
	ck_assert_int_eq(gguf_get_str(g, "k.empty", &s, &len, &err), CL_OK);
	ck_assert_uint_eq(len, 0);

	/* Wrong types name the key, the expected and the actual type. */
	ck_assert_int_eq(gguf_get_f32(g, "k.empty", &f, &err), CL_EFORMAT);
	ck_assert_str_eq(err.msg,
	    "gguf: key 'k.empty': expected FLOAT32, found STRING");
	ck_assert_int_eq(gguf_get_u32(g, "k.f64", &u, &err), CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "found FLOAT64"));
	ck_assert_int_eq(gguf_get_str(g, "k.u8", &s, &len, &err), CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "expected STRING, found UINT8"));
	ck_assert_int_eq(gguf_get_bool(g, "k.u8", &flag, &err), CL_EFORMAT);
	ck_assert_int_eq(gguf_get_arr(g, "k.u8", &u, &u64, &err), CL_EFORMAT);
	ck_assert_int_eq(gguf_get_u32(g, "k.au32", &u, &err), CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "found ARRAY"));

	/* Missing keys. */
	ck_assert_int_eq(gguf_get_u32(g, "nope", &u, &err), CL_ENOTFOUND);
	ck_assert_str_eq(err.msg, "gguf: key 'nope' not found");
	ck_assert_int_eq(gguf_arr_int(g, "nope", 0, &i64, &err),
	    CL_ENOTFOUND);

	/* Arrays. */
	ck_assert_int_eq(gguf_arr_int(g, "k.au32", 1, &i64, &err), CL_OK);
	ck_assert_int_eq(i64, 0xFFFFFFFFll);
	ck_assert_int_eq(gguf_arr_f32(g, "k.af32", 1, &f, &err), CL_OK);
	ck_assert(f == -2.25f);
	ck_assert_int_eq(gguf_arr_int(g, "k.au32", 3, &i64, &err), CL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "index 3 out of range"));
	ck_assert_int_eq(gguf_arr_f32(g, "k.au32", 0, &f, &err), CL_EFORMAT);
	ck_assert_int_eq(gguf_arr_int(g, "k.af32", 0, &i64, &err),
	    CL_EFORMAT);
	ck_assert_int_eq(gguf_arr_str(g, "k.au32", 0, &s, &len, &err),
	    CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "array of UINT32"));
	ck_assert_int_eq(gguf_get_arr(g, "k.aempty", &u, &u64, &err), CL_OK);
	ck_assert_uint_eq(u64, 0);
	ck_assert_int_eq(gguf_arr_int(g, "k.aempty", 0, &i64, &err),
	    CL_EINVAL);

	gguf_close(g);
	cl_buf_release(&b);
}
END_TEST

/* Nested arrays (depth 2 is fine), FLOAT64 and UINT64 array elements. */
START_TEST(test_nested_and_raw)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT, v = CL_BUF_INIT;
	struct gguf *g;
	uint8_t enc[64];
	uint32_t et;
	uint64_t n;
	int64_t i64;
	float f;
	double d = 3.5;

	/* ARRAY of 2 ARRAYs of UINT8: [[1, 2], []] */
	memset(enc, 0, sizeof(enc));
	enc[0] = GGUF_VTYPE_ARRAY;		/* element type */
	enc[4] = 2;				/* count */
	enc[12] = GGUF_VTYPE_UINT8;		/* inner 0 */
	enc[16] = 2;
	enc[24] = 1;
	enc[25] = 2;
	enc[26] = GGUF_VTYPE_UINT8;		/* inner 1 */
	enc[30] = 0;				/* count 0 */
	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_raw(w, "k.nested", GGUF_VTYPE_ARRAY,
	    enc, 38, &err), CL_OK);
	/* ARRAY of FLOAT64 [3.5] and of UINT64 [2^63] */
	memset(enc, 0, sizeof(enc));
	enc[0] = GGUF_VTYPE_FLOAT64;
	enc[4] = 1;
	memcpy(enc + 12, &d, 8);
	ck_assert_int_eq(gguf_writer_add_raw(w, "k.af64", GGUF_VTYPE_ARRAY,
	    enc, 20, &err), CL_OK);
	memset(enc, 0, sizeof(enc));
	enc[0] = GGUF_VTYPE_UINT64;
	enc[4] = 1;
	enc[19] = 0x80;
	ck_assert_int_eq(gguf_writer_add_raw(w, "k.au64", GGUF_VTYPE_ARRAY,
	    enc, 20, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_build(w, NULL, &b, &err), CL_OK);
	gguf_writer_free(w);

	g = open_ok(&b);
	ck_assert_int_eq(gguf_get_arr(g, "k.nested", &et, &n, &err), CL_OK);
	ck_assert_uint_eq(et, GGUF_VTYPE_ARRAY);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(gguf_arr_int(g, "k.nested", 0, &i64, &err),
	    CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "array of ARRAY"));
	ck_assert_int_eq(gguf_arr_f32(g, "k.af64", 0, &f, &err), CL_OK);
	ck_assert(f == 3.5f);
	ck_assert_int_eq(gguf_arr_int(g, "k.au64", 0, &i64, &err),
	    CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not fit INT64"));
	gguf_close(g);
	cl_buf_release(&b);

	/* Nesting 5 deep: ARRAY of ARRAY of ... of UINT8, all count 1. */
	for (int depth = 0; depth < 4; depth++) {
		uint8_t hdr[12] = { GGUF_VTYPE_ARRAY, 0, 0, 0, 1 };

		ck_assert_int_eq(cl_buf_append(&v, hdr, 12), CL_OK);
	}
	{
		uint8_t last[13] = { GGUF_VTYPE_UINT8, 0, 0, 0, 1 };

		last[12] = 9;
		ck_assert_int_eq(cl_buf_append(&v, last, 13), CL_OK);
	}
	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_raw(w, "k.deep", GGUF_VTYPE_ARRAY,
	    v.data, v.len, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_build(w, NULL, &b, &err), CL_OK);
	gguf_writer_free(w);
	expect_fail(&b, b.len, CL_EFORMAT, "'k.deep'", "nested deeper than 4");
	cl_buf_release(&b);

	/* Depth 4 exactly is accepted: drop one level. */
	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_raw(w, "k.deep", GGUF_VTYPE_ARRAY,
	    v.data + 12, v.len - 12, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_build(w, NULL, &b, &err), CL_OK);
	gguf_writer_free(w);
	g = open_ok(&b);
	gguf_close(g);
	cl_buf_release(&b);
	cl_buf_release(&v);
}
END_TEST

START_TEST(test_custom_alignment)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct gguf *g;
	uint8_t d1[4] = { 1, 2, 3, 4 }, d2[4] = { 5, 6, 7, 8 };
	const void *data[2] = { d1, d2 };
	uint64_t ne[1] = { 1 };
	uint32_t a;

	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_set_alignment(w, 12, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_set_alignment(w, 0, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_u32(w, "general.alignment", 256,
	    &err), CL_OK);
	ck_assert_int_eq(gguf_writer_set_alignment(w, 64, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, ne,
	    NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "y", GGML_TYPE_F32, 1, ne,
	    NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_build(w, data, &b, &err), CL_OK);
	gguf_writer_free(w);

	g = open_ok(&b);
	ck_assert_uint_eq(gguf_alignment(g), 256);
	ck_assert_int_eq(gguf_get_u32(g, "general.alignment", &a, &err),
	    CL_OK);
	ck_assert_uint_eq(a, 256);
	ck_assert_uint_eq(gguf_data_offset(g), 256);
	ck_assert_uint_eq(gguf_tensor_at(g, 1)->offset, 256);
	ck_assert(memcmp(gguf_find_tensor(g, "y")->data, d2, 4) == 0);
	ck_assert_uint_eq(b.len, 256 + 512);
	gguf_close(g);
	cl_buf_release(&b);
}
END_TEST

/* Streaming to a file and reading back through gguf_open_fd(). */
START_TEST(test_stream_and_fd)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf base;
	struct gguf *g = NULL, *bad;
	char path[] = "/tmp/check_gguf.XXXXXX";
	char path2[] = "/tmp/check_gguf.XXXXXX";
	uint64_t ne_tok[2] = { 8, 2 }, ne_q[2] = { 32, 2 }, ne_norm[1] = { 4 };
	char *back;
	size_t back_len;
	int fd, fd2;

	build_base(&base);
	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_str(w, "general.architecture",
	    "lfm2moe", 7, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_str(w, "general.name", base_name,
	    strlen(base_name), &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_u32(w, "test.u32", 7, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_bool(w, "test.flag", true, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_f32(w, "test.eps", 1e-5f, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_add_arr_i32(w, "test.heads", heads, 6,
	    &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens",
	    tokens, NULL, 4, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "tok.weight",
	    GGML_TYPE_F32, 2, ne_tok, NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "blk.0.q", GGML_TYPE_Q4_0,
	    2, ne_q, NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "out.norm", GGML_TYPE_F16,
	    1, ne_norm, NULL, &err), CL_OK);
	ck_assert_uint_eq(gguf_writer_n_tensors(w), 3);
	ck_assert_uint_eq(gguf_writer_tensor_nbytes(w, 1), 36);
	ck_assert_uint_eq(gguf_writer_tensor_nbytes(w, 3), 0);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(gguf_writer_write_tensor(w, fd, 0, data_tok, 64,
	    &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_finish(w, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_write_header(w, fd, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_write_header(w, fd, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_u32(w, "late", 1, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "late", GGML_TYPE_F32, 1,
	    ne_norm, NULL, &err), CL_EINVAL);
	/* Out of order, wrong size. */
	ck_assert_int_eq(gguf_writer_write_tensor(w, fd, 1, data_q, 36, &err),
	    CL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "out of order"));
	ck_assert_int_eq(gguf_writer_write_tensor(w, fd, 0, data_tok, 63,
	    &err), CL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "'tok.weight'"));
	ck_assert_int_eq(gguf_writer_write_tensor(w, fd, 0, data_tok, 64,
	    &err), CL_OK);
	ck_assert_int_eq(gguf_writer_finish(w, &err), CL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "'blk.0.q'"));
	ck_assert_int_eq(gguf_writer_write_tensor(w, fd, 1, data_q, 36, &err),
	    CL_OK);
	ck_assert_int_eq(gguf_writer_write_tensor(w, fd, 2, data_norm, 8,
	    &err), CL_OK);
	ck_assert_int_eq(gguf_writer_write_tensor(w, fd, 3, data_norm, 8,
	    &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_finish(w, &err), CL_OK);
	gguf_writer_free(w);

	/* The streamed file is byte-identical to the in-memory build. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(cl_read_all(fd, 1 << 20, &back, &back_len, &err),
	    CL_OK);
	ck_assert_uint_eq(back_len, base.len);
	ck_assert(memcmp(back, base.data, base.len) == 0);
	cl_free(back);

	/* Map it, close the fd, and still read everything. */
	ck_assert_int_eq(gguf_open_fd(fd, &g, &err), CL_OK);
	close(fd);
	ck_assert_uint_eq(gguf_size(g), base.len);
	ck_assert(memcmp(gguf_find_tensor(g, "blk.0.q")->data, data_q, 36) ==
	    0);
	gguf_close(g);

	/* fd errors: a directory, an empty file, a write-only file. */
	bad = (struct gguf *)&err;
	fd2 = open("/", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd2, 0);
	ck_assert_int_eq(gguf_open_fd(fd2, &bad, &err), CL_EIO);
	ck_assert_ptr_null(bad);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
	close(fd2);
	fd = mkstemp(path2);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(gguf_open_fd(fd, &bad, &err), CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
	ck_assert_int_eq(write(fd, base.data, base.len), (ssize_t)base.len);
	close(fd);
	fd = open(path2, O_WRONLY);
	unlink(path2);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(gguf_open_fd(fd, &bad, &err), CL_EIO);
	ck_assert_ptr_null(bad);
	close(fd);
	ck_assert_int_eq(gguf_open_fd(-1, &bad, &err), CL_EIO);
	cl_buf_release(&base);
}
END_TEST

START_TEST(test_writer_rejects)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	uint64_t ne[4] = { 32, 1, 1, 1 }, ne0[2] = { 32, 0 },
	    big[4] = { 1u << 31, 1u << 31, 1u << 31, 1u << 31 };
	char longname[GGUF_MAX_NAME_LEN + 2];

	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_u32(w, "a", 1, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_u32(w, "a", 2, &err), CL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate key 'a'"));
	ck_assert_int_eq(gguf_writer_add_u32(w, "", 2, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_u32(w, "\xc0\x80", 2, &err),
	    CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_str(w, "s", "x",
	    (size_t)GGUF_MAX_STR_LEN + 1, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t", 99, 1, ne, NULL,
	    &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q4_0, 0, ne,
	    NULL, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q4_0, 5, ne,
	    NULL, &err), CL_EINVAL);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q4_0, 2, ne0,
	    NULL, &err), CL_EINVAL);
	ne[0] = 16;
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_Q4_0, 1, ne,
	    NULL, &err), CL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "block size 32"));
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 4, big,
	    NULL, &err), CL_EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(gguf_writer_add_tensor(w, longname, GGML_TYPE_F32, 1,
	    ne, NULL, &err), CL_EINVAL);
	longname[GGUF_MAX_NAME_LEN] = '\0';
	ck_assert_int_eq(gguf_writer_add_tensor(w, longname, GGML_TYPE_F32, 1,
	    ne, NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, longname, GGML_TYPE_F32, 1,
	    ne, NULL, &err), CL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate tensor"));
	/* The rejected adds left nothing behind: the file has 1 key. */
	{
		float z[16] = { 0 };
		const void *data[1] = { z };
		struct gguf *g;

		ck_assert_int_eq(gguf_writer_build(w, data, &b, &err), CL_OK);
		g = open_ok(&b);
		ck_assert_uint_eq(gguf_n_kv(g), 1);
		ck_assert_uint_eq(gguf_n_tensors(g), 1);
		ck_assert_uint_eq(gguf_tensor_at(g, 0)->nbytes, 64);
		gguf_close(g);
	}
	ck_assert_int_eq(gguf_writer_build(w, NULL, &b, &err), CL_EINVAL);
	gguf_writer_free(w);
	gguf_writer_free(NULL);
	cl_buf_release(&b);
}
END_TEST

/* A known type cloister cannot compute with is still readable. */
START_TEST(test_noncomputable_type)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct gguf *g;
	uint8_t d[2 * 84];
	const void *data[1] = { d };
	uint64_t ne[2] = { 256, 2 };
	const struct gguf_tensor *t;

	memset(d, 0x11, sizeof(d));
	ck_assert(!ggml_type_info(GGML_TYPE_Q2_K)->computable);
	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "q2k", GGML_TYPE_Q2_K, 2,
	    ne, NULL, &err), CL_OK);
	ck_assert_uint_eq(gguf_writer_tensor_nbytes(w, 0), 168);
	ck_assert_int_eq(gguf_writer_build(w, data, &b, &err), CL_OK);
	gguf_writer_free(w);
	g = open_ok(&b);
	t = gguf_find_tensor(g, "q2k");
	ck_assert_uint_eq(t->type, GGML_TYPE_Q2_K);
	ck_assert_uint_eq(t->nbytes, 168);	/* 2 rows x 1 block x 84 */
	gguf_close(g);
	cl_buf_release(&b);
}
END_TEST

/* The writer under allocation failure: ENOMEM, no crash, no leak. */
START_TEST(test_writer_alloc_failures)
{
	uint64_t ne[2] = { 8, 2 };
	long n;

	fill_data();
	for (n = 0; n < 1000; n++) {
		struct cl_err err = CL_ERR_INIT;
		struct cl_buf b = CL_BUF_INIT;
		struct gguf_writer *w = NULL;
		const void *data[1] = { data_tok };
		int r;

		cl_alloc_fail_after(n);
		r = gguf_writer_new(&w, &err);
		if (r == CL_OK)
			r = gguf_writer_add_str(w, "a.s", "xyz", 3, &err);
		if (r == CL_OK)
			r = gguf_writer_add_arr_str(w, "a.t", tokens, NULL, 4,
			    &err);
		if (r == CL_OK)
			r = gguf_writer_add_arr_i32(w, "a.h", heads, 6, &err);
		if (r == CL_OK)
			r = gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 2, ne,
			    NULL, &err);
		if (r == CL_OK)
			r = gguf_writer_build(w, data, &b, &err);
		cl_alloc_fail_after(-1);
		if (r == CL_OK) {
			struct gguf *g = open_ok(&b);

			ck_assert_uint_eq(gguf_n_kv(g), 3);
			gguf_close(g);
		} else
			ck_assert_int_eq(r, CL_ENOMEM);
		gguf_writer_free(w);
		cl_buf_release(&b);
		if (r == CL_OK)
			break;
	}
	ck_assert_int_gt(n, 3);
	ck_assert_int_lt(n, 1000);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Malformed files                                                     */
/* ------------------------------------------------------------------ */

START_TEST(test_bad_header)
{
	struct cl_buf b;

	build_base(&b);
	expect_fail(&b, 0, CL_EFORMAT, "empty");
	expect_fail(&b, 3, CL_EFORMAT, "too short for the magic");
	expect_fail(&b, 6, CL_EFORMAT, "version truncated");
	expect_fail(&b, 12, CL_EFORMAT, "tensor count truncated");
	expect_fail(&b, 20, CL_EFORMAT, "metadata key count truncated");
	expect_fail(&b, 24, CL_EFORMAT,
	    "metadata key count 7 exceeds file size 24");

	put32(&b, 4, 1);
	expect_fail(&b, b.len, CL_EUNSUPPORTED, "version 1");
	put32(&b, 4, 4);
	expect_fail(&b, b.len, CL_EUNSUPPORTED, "version 4");
	put32(&b, 4, 0xFFFFFFFFu);
	expect_fail(&b, b.len, CL_EUNSUPPORTED, "version 4294967295");
	put32(&b, 4, 3);

	b.data[0] = 'X';
	expect_fail(&b, b.len, CL_EFORMAT, "bad magic", "not a GGUF file");
	b.data[0] = 'G';

	put64(&b, 16, UINT64_MAX);
	expect_fail(&b, b.len, CL_EFORMAT,
	    "metadata key count 18446744073709551615 exceeds file size");
	put64(&b, 16, 7);
	put64(&b, 8, UINT64_MAX);
	expect_fail(&b, b.len, CL_EFORMAT,
	    "tensor count 18446744073709551615 exceeds file size");
	/* Plausible but too many: runs off the end of the file. */
	put64(&b, 8, 4);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor #3");
	put64(&b, 8, 3);
	put64(&b, 16, 8);
	/* Key #7 is read from the first tensor info; then tensor #0 is
	   read from the middle of it. */
	expect_fail(&b, b.len, CL_EFORMAT, "tensor #0");

	/* Version 2 is structurally identical and accepted. */
	put64(&b, 16, 7);
	put32(&b, 4, 2);
	gguf_close(open_ok(&b));
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_truncated_sections)
{
	struct cl_buf b;
	struct gguf *g;
	size_t p, infos_end, data_off;

	build_base(&b);
	g = open_ok(&b);
	data_off = (size_t)gguf_data_offset(g);
	gguf_close(g);

	/* Inside a key (test.u32 is key #2). */
	p = pos_of(&b, "test.u32");
	expect_fail(&b, p + 3, CL_EFORMAT, "metadata key #2",
	    "key length 8", "exceeds file size");
	/* Inside the value type. */
	expect_fail(&b, kv_type(&b, "test.u32") + 2, CL_EFORMAT,
	    "'test.u32'", "value type truncated");
	/* Inside a value. */
	expect_fail(&b, kv_value(&b, "test.u32") + 2, CL_EFORMAT,
	    "'test.u32'", "value truncated");
	/* Inside an array's header, and inside its elements. */
	p = kv_value(&b, "tokenizer.ggml.tokens");
	expect_fail(&b, p + 2, CL_EFORMAT, "'tokenizer.ggml.tokens'",
	    "array element type truncated");
	expect_fail(&b, p + 8, CL_EFORMAT, "'tokenizer.ggml.tokens'",
	    "array count truncated");
	expect_fail(&b, pos_of(&b, "<a>") + 1, CL_EFORMAT,
	    "'tokenizer.ggml.tokens'", "array count 4 of STRING");
	/* Past the count bound (4 x 8 bytes), inside element 3's length. */
	expect_fail(&b, pos_of(&b, "\xff\xfe") + 2 + 5, CL_EFORMAT,
	    "'tokenizer.ggml.tokens'", "string element 3 truncated");
	p = kv_value(&b, "test.heads");
	expect_fail(&b, p + 12 + 10, CL_EFORMAT, "'test.heads'",
	    "array count 6 of INT32", "exceeds file size");
	/* Inside tensor infos. */
	expect_fail(&b, pos_of(&b, "blk.0.q") + 2, CL_EFORMAT, "tensor #1",
	    "tensor name length 7");
	expect_fail(&b, tinfo_ndims(&b, "blk.0.q") + 1, CL_EFORMAT,
	    "tensor 'blk.0.q' (#1)", "n_dims truncated");
	expect_fail(&b, tinfo_ne(&b, "blk.0.q", 1) + 5, CL_EFORMAT,
	    "tensor 'blk.0.q' (#1)", "dimension truncated");
	expect_fail(&b, tinfo_type(&b, "blk.0.q", 2) + 1, CL_EFORMAT,
	    "tensor 'blk.0.q' (#1)", "type truncated");
	expect_fail(&b, tinfo_offset(&b, "blk.0.q", 2) + 7, CL_EFORMAT,
	    "tensor 'blk.0.q' (#1)", "offset truncated");
	/* In the padding before the data. */
	infos_end = tinfo_offset(&b, "out.norm", 1) + 8;
	ck_assert_uint_lt(infos_end, data_off);	/* the base file pads */
	expect_fail(&b, infos_end + 1, CL_EFORMAT, "padding",
	    "beyond file size");
	/* In the tensor data: the last tensor loses its tail. */
	p = data_off + 128 + 4;	/* out.norm is at offset 128 (64, 36 -> 64) */
	ck_assert_uint_eq(get64(&b, tinfo_offset(&b, "out.norm", 1)), 128);
	expect_fail(&b, p, CL_EFORMAT, "tensor 'out.norm' (#2)",
	    "data ends at byte", "beyond file size");
	/* Data of the first tensor cut: tensor #0 is named. */
	expect_fail(&b, data_off + 10, CL_EFORMAT, "tensor 'tok.weight' (#0)");
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_huge_lengths)
{
	struct cl_buf b;
	size_t p;

	build_base(&b);
	/* Key length near 2^64. */
	p = pos_of(&b, "test.u32") - 8;
	put64(&b, p, UINT64_MAX);
	expect_fail(&b, b.len, CL_EFORMAT, "metadata key #2",
	    "key length 18446744073709551615 exceeds the limit of 65535");
	put64(&b, p, 8);

	/* String value longer than the file, and longer than the cap. */
	p = kv_value(&b, "general.architecture");
	put64(&b, p, 1000000);
	expect_fail(&b, b.len, CL_EFORMAT, "'general.architecture'",
	    "string value length 1000000", "exceeds file size");
	put64(&b, p, UINT64_MAX - 3);
	expect_fail(&b, b.len, CL_EFORMAT, "'general.architecture'",
	    "exceeds the limit of 16777216");
	put64(&b, p, 7);

	/* Array counts near 2^64, for strings and for INT32. */
	p = kv_value(&b, "tokenizer.ggml.tokens") + 4;
	put64(&b, p, UINT64_MAX);
	expect_fail(&b, b.len, CL_EFORMAT,
	    "metadata key #6 ('tokenizer.ggml.tokens'): array count "
	    "18446744073709551615 of STRING");
	put64(&b, p, 4);
	p = kv_value(&b, "test.heads") + 4;
	put64(&b, p, UINT64_MAX / 4 + 1);	/* n * 4 wraps to 0 */
	expect_fail(&b, b.len, CL_EFORMAT, "'test.heads'",
	    "array count 4611686018427387904 of INT32", "exceeds file size");
	put64(&b, p, 6);

	/* A string element's length near 2^64. */
	put64(&b, pos_of(&b, "<a>") - 8, UINT64_MAX);
	expect_fail(&b, b.len, CL_EFORMAT, "'tokenizer.ggml.tokens'",
	    "string element 0 length 18446744073709551615");
	put64(&b, pos_of(&b, "<a>") - 8, 3);

	/* Tensor name length over the 256-byte cap. */
	p = pos_of(&b, "blk.0.q") - 8;
	put64(&b, p, 300);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor #1",
	    "tensor name length 300 exceeds the limit of 256");
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_bad_tensor_infos)
{
	struct cl_buf b;
	size_t p;

	build_base(&b);
	p = tinfo_ndims(&b, "blk.0.q");
	put32(&b, p, 0);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'blk.0.q' (#1)",
	    "n_dims 0 is not in 1..4");
	put32(&b, p, 5);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'blk.0.q' (#1)",
	    "n_dims 5 is not in 1..4");
	put32(&b, p, 2);

	put64(&b, tinfo_ne(&b, "blk.0.q", 1), 0);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'blk.0.q' (#1)",
	    "ne[1] is 0");
	put64(&b, tinfo_ne(&b, "blk.0.q", 1), 2);

	put64(&b, tinfo_ne(&b, "blk.0.q", 0), 16);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'blk.0.q' (#1)",
	    "ne[0] = 16 is not a multiple of the Q4_0 block size 32");
	put64(&b, tinfo_ne(&b, "blk.0.q", 0), 32);

	/* Element count overflow: 32 * 2^62. */
	put64(&b, tinfo_ne(&b, "blk.0.q", 1), 1ull << 62);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'blk.0.q' (#1)",
	    "element count overflows");
	put64(&b, tinfo_ne(&b, "blk.0.q", 1), 2);
	/* Byte size overflow without element overflow: F32 2^62 x 1. */
	put64(&b, tinfo_ne(&b, "tok.weight", 0), 1ull << 62);
	put64(&b, tinfo_ne(&b, "tok.weight", 1), 1);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'tok.weight' (#0)",
	    "byte size overflows");
	put64(&b, tinfo_ne(&b, "tok.weight", 0), 8);
	put64(&b, tinfo_ne(&b, "tok.weight", 1), 2);
	/* Fits in 64 bits but not in the file. */
	put64(&b, tinfo_ne(&b, "tok.weight", 1), 1ull << 40);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'tok.weight' (#0)",
	    "beyond file size");
	put64(&b, tinfo_ne(&b, "tok.weight", 1), 2);

	p = tinfo_type(&b, "blk.0.q", 2);
	put32(&b, p, 4);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'blk.0.q' (#1)",
	    "unknown ggml type id 4");
	put32(&b, p, 0xFFFFFFFFu);
	expect_fail(&b, b.len, CL_EFORMAT, "unknown ggml type id 4294967295");
	put32(&b, p, GGML_TYPE_Q4_0);

	/* Misaligned, overlapping, past EOF, overflowing offsets. */
	p = tinfo_offset(&b, "blk.0.q", 2);
	ck_assert_uint_eq(get64(&b, p), 64);
	put64(&b, p, 68);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'blk.0.q' (#1)",
	    "offset 68 is not a multiple of the alignment 32");
	put64(&b, p, 32);	/* tok.weight is [0, 64) */
	expect_fail(&b, b.len, CL_EFORMAT, "overlaps", "'blk.0.q'",
	    "'tok.weight'");
	put64(&b, p, 64);
	put64(&b, tinfo_offset(&b, "out.norm", 1), 64);
	expect_fail(&b, b.len, CL_EFORMAT, "overlaps", "'blk.0.q'",
	    "'out.norm'");
	put64(&b, tinfo_offset(&b, "out.norm", 1), 1u << 20);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'out.norm' (#2)",
	    "beyond file size");
	put64(&b, tinfo_offset(&b, "out.norm", 1), UINT64_MAX - 31);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor 'out.norm' (#2)",
	    "overflows");
	put64(&b, tinfo_offset(&b, "out.norm", 1), 128);

	/* Invalid UTF-8 and NUL in a tensor name. */
	p = pos_of(&b, "blk.0.q");
	b.data[p + 3] = (char)0xC0;
	expect_fail(&b, b.len, CL_EFORMAT, "tensor #1", "not valid UTF-8");
	b.data[p + 3] = '\0';
	expect_fail(&b, b.len, CL_EFORMAT, "tensor #1", "contains NUL");
	b.data[p + 3] = '.';
	/* Empty name: length 0 (then the name bytes misparse; the length
	   check comes first). */
	put64(&b, p - 8, 0);
	expect_fail(&b, b.len, CL_EFORMAT, "tensor #1", "empty tensor name");
	put64(&b, p - 8, 7);
	gguf_close(open_ok(&b));
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_bad_metadata)
{
	struct cl_buf b;
	size_t p;

	build_base(&b);
	p = kv_type(&b, "test.u32");
	put32(&b, p, 13);
	expect_fail(&b, b.len, CL_EFORMAT,
	    "metadata key #2 ('test.u32'): unknown value type 13");
	put32(&b, p, GGUF_VTYPE_UINT32);

	p = kv_value(&b, "test.heads");
	put32(&b, p, 99);
	expect_fail(&b, b.len, CL_EFORMAT, "'test.heads'",
	    "unknown array element type 99");
	put32(&b, p, GGUF_VTYPE_INT32);

	p = kv_value(&b, "test.flag");
	b.data[p] = 2;
	expect_fail(&b, b.len, CL_EFORMAT, "'test.flag'",
	    "bool value 2", "not 0 or 1");
	b.data[p] = 1;

	/* Invalid UTF-8 (overlong, surrogate, stray continuation) and NUL
	   in a key. */
	p = pos_of(&b, "test.u32");
	memcpy(b.data + p, "\xc1\xbf", 2);
	expect_fail(&b, b.len, CL_EFORMAT, "metadata key #2",
	    "not valid UTF-8");
	memcpy(b.data + p, "\xed\xa0\x80", 3);
	expect_fail(&b, b.len, CL_EFORMAT, "metadata key #2",
	    "not valid UTF-8");
	memcpy(b.data + p, "\x80", 1);
	expect_fail(&b, b.len, CL_EFORMAT, "not valid UTF-8");
	memcpy(b.data + p, "te\0t", 4);
	expect_fail(&b, b.len, CL_EFORMAT, "contains NUL");
	/* Valid multi-byte UTF-8 is fine. */
	memcpy(b.data + p, "t\xc3\xa9t", 4);
	gguf_close(open_ok(&b));
	memcpy(b.data + p, "test", 4);

	put64(&b, p - 8, 0);
	expect_fail(&b, b.len, CL_EFORMAT, "metadata key #2", "empty key");
	put64(&b, p - 8, 8);
	gguf_close(open_ok(&b));
	cl_buf_release(&b);
}
END_TEST

/* A file with two keys and two tensors whose names differ in one byte. */
static void
build_pairs(struct cl_buf *out)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	uint8_t d[8] = { 0 };
	const void *data[2] = { d, d };
	uint64_t ne[1] = { 2 };

	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_u32(w, "dup.aaa", 1, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_u32(w, "dup.aab", 2, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t.xx", GGML_TYPE_F32, 1,
	    ne, NULL, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t.xy", GGML_TYPE_F32, 1,
	    ne, NULL, &err), CL_OK);
	cl_buf_init(out);
	ck_assert_int_eq(gguf_writer_build(w, data, out, &err), CL_OK);
	gguf_writer_free(w);
}

START_TEST(test_duplicates)
{
	struct cl_buf b;

	build_pairs(&b);
	gguf_close(open_ok(&b));
	b.data[pos_of(&b, "dup.aab") + 6] = 'a';
	expect_fail(&b, b.len, CL_EFORMAT,
	    "metadata key #1 ('dup.aaa'): duplicate key");
	b.data[pos_of(&b, "dup.aaa") + 6] = 'b';
	b.data[pos_of(&b, "t.xy") + 3] = 'x';
	expect_fail(&b, b.len, CL_EFORMAT,
	    "tensor 't.xx' (#1): duplicate tensor name");
	cl_buf_release(&b);
}
END_TEST

/* general.alignment with a raw value of type `vtype`. */
static void
build_alignment(struct cl_buf *out, uint32_t vtype, const void *v,
    size_t len)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	uint8_t d[4] = { 0 };
	const void *data[1] = { d };
	uint64_t ne[1] = { 1 };

	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_raw(w, "general.alignment", vtype, v,
	    len, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, ne,
	    NULL, &err), CL_OK);
	cl_buf_init(out);
	ck_assert_int_eq(gguf_writer_build(w, data, out, &err), CL_OK);
	gguf_writer_free(w);
}

START_TEST(test_bad_alignment)
{
	struct cl_buf b;
	uint8_t v[8] = { 0 };

	build_alignment(&b, GGUF_VTYPE_UINT32, v, 4);
	expect_fail(&b, b.len, CL_EFORMAT, "'general.alignment'",
	    "0 is not a nonzero multiple of 8");
	cl_buf_release(&b);
	v[0] = 12;
	build_alignment(&b, GGUF_VTYPE_UINT32, v, 4);
	expect_fail(&b, b.len, CL_EFORMAT, "'general.alignment'",
	    "12 is not a nonzero multiple of 8");
	cl_buf_release(&b);
	v[0] = 0;
	v[3] = 1;	/* 2^24: a multiple of 8 but absurd */
	build_alignment(&b, GGUF_VTYPE_UINT32, v, 4);
	expect_fail(&b, b.len, CL_EFORMAT, "'general.alignment'",
	    "16777216 is not");
	cl_buf_release(&b);
	memset(v, 0, sizeof(v));
	v[0] = 32;
	build_alignment(&b, GGUF_VTYPE_UINT64, v, 8);
	expect_fail(&b, b.len, CL_EFORMAT, "'general.alignment'",
	    "type UINT64, expected UINT32");
	cl_buf_release(&b);
	/* 32 as a UINT32 is what the writer assumed: fine. */
	build_alignment(&b, GGUF_VTYPE_UINT32, v, 4);
	gguf_close(open_ok(&b));
	cl_buf_release(&b);
	/* 8 is valid but the writer laid the data out for 32: still
	   consistent (32-aligned offsets are 8-aligned). */
	v[0] = 8;
	build_alignment(&b, GGUF_VTYPE_UINT32, v, 4);
	gguf_close(open_ok(&b));
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_bool_array)
{
	struct gguf_writer *w;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	uint8_t enc[15] = { GGUF_VTYPE_BOOL, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
	    1, 0, 2 };

	ck_assert_int_eq(gguf_writer_new(&w, &err), CL_OK);
	ck_assert_int_eq(gguf_writer_add_raw(w, "k.bools", GGUF_VTYPE_ARRAY,
	    enc, sizeof(enc), &err), CL_OK);
	ck_assert_int_eq(gguf_writer_build(w, NULL, &b, &err), CL_OK);
	gguf_writer_free(w);
	expect_fail(&b, b.len, CL_EFORMAT, "'k.bools'",
	    "bool element 2", "not 0 or 1");
	/* key, type tag, element type, count, elements 0 and 1 */
	b.data[kv_value(&b, "k.bools") + 12 + 2] = 1;
	gguf_close(open_ok(&b));
	cl_buf_release(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Randomized robustness                                               */
/* ------------------------------------------------------------------ */

/* Read everything a successful open exposes, so ASan sees any bad
   pointer. */
static unsigned
touch_all(const struct gguf *g)
{
	struct cl_err err = CL_ERR_INIT;
	unsigned sum = 0;

	for (size_t i = 0; i < gguf_n_kv(g); i++) {
		const char *key = gguf_kv_key(g, i), *s;
		uint32_t et, u;
		uint64_t n;
		int64_t v;
		size_t len;
		float f;
		bool flag;

		sum += (unsigned)strlen(key);
		if (gguf_get_str(g, key, &s, &len, &err) == CL_OK)
			for (size_t k = 0; k < len; k++)
				sum += (uint8_t)s[k];
		if (gguf_get_u32(g, key, &u, &err) == CL_OK)
			sum += u;
		if (gguf_get_f32(g, key, &f, &err) == CL_OK)
			sum += (unsigned)(f != f);
		if (gguf_get_bool(g, key, &flag, &err) == CL_OK)
			sum += flag;
		if (gguf_get_arr(g, key, &et, &n, &err) != CL_OK)
			continue;
		for (uint64_t k = 0; k < n; k++) {
			if (gguf_arr_int(g, key, k, &v, &err) == CL_OK)
				sum += (unsigned)v;
			if (gguf_arr_f32(g, key, k, &f, &err) == CL_OK)
				sum += (unsigned)(f != f);
			if (gguf_arr_str(g, key, k, &s, &len, &err) == CL_OK)
				for (size_t j = 0; j < len; j++)
					sum += (uint8_t)s[j];
		}
	}
	for (size_t i = 0; i < gguf_n_tensors(g); i++) {
		const struct gguf_tensor *t = gguf_tensor_at(g, i);
		const uint8_t *d = t->data;

		ck_assert_ptr_eq(gguf_find_tensor(g, t->name), t);
		ck_assert_ptr_nonnull(ggml_type_info(t->type));
		ck_assert((const char *)d >= (const char *)gguf_base(g));
		ck_assert((const char *)d + t->nbytes <=
		    (const char *)gguf_base(g) + gguf_size(g));
		for (size_t k = 0; k < t->nbytes; k++)
			sum += d[k];
	}
	return sum;
}

/* Open a private heap copy so ASan catches reads past the end. */
static int
try_open(const void *p, size_t len)
{
	struct cl_err err = CL_ERR_INIT;
	struct gguf *g = (struct gguf *)&err;
	void *copy = cl_malloc(len);
	int r;

	ck_assert_ptr_nonnull(copy);
	if (len > 0)
		memcpy(copy, p, len);
	r = gguf_open_mem(copy, len, &g, &err);
	if (r == CL_OK) {
		ck_assert_ptr_nonnull(g);
		(void)touch_all(g);
		gguf_close(g);
	} else {
		ck_assert_ptr_null(g);
		ck_assert(r < 0);
		ck_assert(err.code == r);
		ck_assert(err.msg[0] != '\0');
	}
	cl_free(copy);
	return r;
}

START_TEST(test_every_truncation)
{
	struct cl_buf b;
	struct gguf *g;
	size_t data_end;

	build_base(&b);
	g = open_ok(&b);
	/* End of the last tensor's data; after it only padding follows. */
	data_end = (size_t)gguf_data_offset(g) + 128 + 8;
	gguf_close(g);
	for (size_t len = 0; len < b.len; len++) {
		int r = try_open(b.data, len);

		if (len < data_end)
			ck_assert_msg(r == CL_EFORMAT,
			    "truncation to %zu gave %d", len, r);
		else
			ck_assert_int_eq(r, CL_OK);
	}
	ck_assert_int_eq(try_open(b.data, b.len), CL_OK);
	cl_buf_release(&b);
}
END_TEST

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t
rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

START_TEST(test_random_mutations)
{
	static const uint8_t interesting[] = { 0x00, 0x01, 0x02, 0x07, 0x08,
	    0x09, 0x0c, 0x0d, 0x1f, 0x20, 0x7f, 0x80, 0xc0, 0xfe, 0xff };
	struct cl_buf b;
	char *m;
	int ok = 0, bad = 0;

	build_base(&b);
	m = cl_malloc(b.len);
	ck_assert_ptr_nonnull(m);
	for (int iter = 0; iter < 4000; iter++) {
		int n_mut = iter < 3000 ? 1 : 2 + (int)(rng() % 8);

		memcpy(m, b.data, b.len);
		for (int k = 0; k < n_mut; k++) {
			size_t at = (size_t)(rng() % b.len);

			if (rng() % 2)
				m[at] = (char)interesting[rng() %
				    sizeof(interesting)];
			else
				m[at] = (char)rng();
		}
		if (try_open(m, b.len) == CL_OK)
			ok++;
		else
			bad++;
	}
	/* Both outcomes happen: mutated data bytes still open, mutated
	   header bytes mostly do not. */
	ck_assert_int_gt(ok, 100);
	ck_assert_int_gt(bad, 100);
	cl_free(m);
	cl_buf_release(&b);
}
END_TEST

/* Fail every allocation in turn: never crash, never leak, ENOMEM only. */
START_TEST(test_alloc_failures)
{
	struct cl_buf b;
	int r;
	long n;

	build_base(&b);
	for (n = 0; n < 1000; n++) {
		struct cl_err err = CL_ERR_INIT;
		struct gguf *g = (struct gguf *)&err;

		cl_alloc_fail_after(n);
		r = gguf_open_mem(b.data, b.len, &g, &err);
		cl_alloc_fail_after(-1);
		if (r == CL_OK) {
			ck_assert_uint_eq(gguf_n_tensors(g), 3);
			gguf_close(g);
			break;
		}
		ck_assert_int_eq(r, CL_ENOMEM);
		ck_assert_ptr_null(g);
	}
	ck_assert_int_gt(n, 5);
	ck_assert_int_lt(n, 1000);
	cl_buf_release(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Reference models (values from tests/data/synth-tiny-s1.config.json) */
/* ------------------------------------------------------------------ */

/*
 * The F32 model is unpacked into the build tree, but make's VPATH
 * search skips that when the source tree already holds a copy, so a
 * file wanted from the build tree is looked for in the source tree too.
 */
static struct gguf *
open_ref(const char *name, bool in_build)
{
	struct cl_err err = CL_ERR_INIT;
	struct gguf *g = NULL;
	const char *top = getenv(in_build ? "CL_TOP_BUILDDIR" :
	    "CL_TOP_SRCDIR");
	char path[4096];
	int fd;

	if (in_build) {
		if (top != NULL)
			snprintf(path, sizeof(path), "%s/tests/data/%s", top,
			    name);
		else
			snprintf(path, sizeof(path), "tests/data/%s", name);
		if (access(path, R_OK) != 0)
			return open_ref(name, false);
	}

	if (in_build)
		;
	else if (top != NULL)
		snprintf(path, sizeof(path), "%s/tests/data/%s", top, name);
	else	/* run by hand from the build dir: find the source tree */
		snprintf(path, sizeof(path), "%.*stests/data/%s",
		    (int)(strlen(__FILE__) - strlen("tests/check_gguf.c")),
		    __FILE__, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "cannot open %s", path);
	ck_assert_msg(gguf_open_fd(fd, &g, &err) == CL_OK, "%s: %s", path,
	    err.msg);
	close(fd);
	return g;
}

static void
check_ref(const char *name, bool in_build, uint32_t embd_type)
{
	struct cl_err err = CL_ERR_INIT;
	struct gguf *g = open_ref(name, in_build);
	const struct gguf_tensor *t;
	const char *s;
	size_t len;
	uint32_t u, et;
	uint64_t n;
	int64_t v;
	float f;
	bool flag;
	static const int64_t hkv[6] = { 0, 0, 1, 0, 1, 0 };

	ck_assert_uint_eq(gguf_version(g), 3);
	ck_assert_int_eq(gguf_get_str(g, "general.architecture", &s, &len,
	    &err), CL_OK);
	ck_assert_uint_eq(len, 7);
	ck_assert(memcmp(s, "lfm2moe", 7) == 0);
	ck_assert_int_eq(gguf_get_u32(g, "lfm2moe.block_count", &u, &err),
	    CL_OK);
	ck_assert_uint_eq(u, 6);
	ck_assert_int_eq(gguf_get_u32(g, "lfm2moe.embedding_length", &u,
	    &err), CL_OK);
	ck_assert_uint_eq(u, 256);
	ck_assert_int_eq(gguf_get_u32(g, "lfm2moe.vocab_size", &u, &err),
	    CL_OK);
	ck_assert_uint_eq(u, 1024);
	ck_assert_int_eq(gguf_get_u32(g, "lfm2moe.expert_count", &u, &err),
	    CL_OK);
	ck_assert_uint_eq(u, 8);
	ck_assert_int_eq(gguf_get_u32(g, "lfm2moe.context_length", &u, &err),
	    CL_OK);
	ck_assert_uint_eq(u, 4096);
	ck_assert_int_eq(gguf_get_f32(g, "lfm2moe.rope.freq_base", &f, &err),
	    CL_OK);
	ck_assert(f == 1000000.0f);
	ck_assert_int_eq(gguf_get_f32(g,
	    "lfm2moe.attention.layer_norm_rms_epsilon", &f, &err), CL_OK);
	ck_assert(f == 1e-5f);
	ck_assert_int_eq(gguf_get_arr(g, "lfm2moe.attention.head_count_kv",
	    &et, &n, &err), CL_OK);
	ck_assert_uint_eq(n, 6);
	for (uint64_t i = 0; i < 6; i++) {
		ck_assert_int_eq(gguf_arr_int(g,
		    "lfm2moe.attention.head_count_kv", i, &v, &err), CL_OK);
		ck_assert_int_eq(v, hkv[i]);
	}
	ck_assert_int_eq(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n,
	    &err), CL_OK);
	ck_assert_uint_eq(et, GGUF_VTYPE_STRING);
	ck_assert_uint_eq(n, 1024);
	/* Token ids 1 and 7 are BOS and <|im_end|> (manifest "chat"
	   sequence starts 1, 6 = <|im_start|>). */
	ck_assert_int_eq(gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &len,
	    &err), CL_OK);
	ck_assert_uint_eq(len, strlen("<|startoftext|>"));
	ck_assert(memcmp(s, "<|startoftext|>", len) == 0);
	ck_assert_int_eq(gguf_arr_str(g, "tokenizer.ggml.tokens", 6, &s, &len,
	    &err), CL_OK);
	ck_assert(len == 12 && memcmp(s, "<|im_start|>", 12) == 0);
	ck_assert_int_eq(gguf_arr_str(g, "tokenizer.ggml.tokens", 1023, &s,
	    &len, &err), CL_OK);
	ck_assert_int_eq(gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u,
	    &err), CL_OK);
	ck_assert_uint_eq(u, 1);
	ck_assert_int_eq(gguf_get_bool(g, "tokenizer.ggml.add_bos_token",
	    &flag, &err), CL_OK);
	ck_assert(flag);

	t = gguf_find_tensor(g, "token_embd.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->n_dims, 2);
	ck_assert_uint_eq(t->ne[0], 256);
	ck_assert_uint_eq(t->ne[1], 1024);
	if (embd_type != UINT32_MAX)
		ck_assert_uint_eq(t->type, embd_type);
	t = gguf_find_tensor(g, "blk.5.ffn_down_exps.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->n_dims, 3);
	ck_assert_uint_eq(t->ne[0], 32);	/* n_ff_exp */
	ck_assert_uint_eq(t->ne[1], 256);	/* n_embd */
	ck_assert_uint_eq(t->ne[2], 8);		/* n_expert */
	/* Short-conv layer 0 has no attention; attention layer 2 does. */
	ck_assert_ptr_null(gguf_find_tensor(g, "blk.0.attn_q.weight"));
	ck_assert_ptr_nonnull(gguf_find_tensor(g, "blk.2.attn_q.weight"));
	(void)touch_all(g);
	gguf_close(g);
}

START_TEST(test_reference_models)
{
	check_ref("synth-tiny-s1-f32.gguf", true, GGML_TYPE_F32);
	check_ref("synth-tiny-s1-q4_0.gguf", false, GGML_TYPE_Q4_0);
	check_ref("synth-tiny-s1-q8_0.gguf", false, GGML_TYPE_Q8_0);
	check_ref("synth-tiny-s1-q4_k_m.gguf", false, UINT32_MAX);
	check_ref("synth-tiny-s1-q5_k_m.gguf", false, UINT32_MAX);
	check_ref("synth-tiny-s1-q6_k.gguf", false, UINT32_MAX);
}
END_TEST

/* Every single-byte truncation of a real model's header region fails
   cleanly (the tokenizer arrays make this the richest header we have). */
START_TEST(test_reference_truncations)
{
	struct gguf *g = open_ref("synth-tiny-s1-q4_0.gguf", false);
	const uint8_t *base = gguf_base(g);
	size_t hdr = (size_t)gguf_data_offset(g);

	for (size_t len = 0; len < hdr; len += 1 + len / 512)
		ck_assert_int_ne(try_open(base, len), CL_OK);
	gguf_close(g);
}
END_TEST

static Suite *
gguf_suite(void)
{
	Suite *s = suite_create("gguf");
	TCase *tc;

	tc = tcase_create("Roundtrip");
	tcase_add_test(tc, test_base_roundtrip);
	tcase_add_test(tc, test_types_and_coercions);
	tcase_add_test(tc, test_nested_and_raw);
	tcase_add_test(tc, test_custom_alignment);
	tcase_add_test(tc, test_stream_and_fd);
	tcase_add_test(tc, test_writer_rejects);
	tcase_add_test(tc, test_noncomputable_type);
	suite_add_tcase(s, tc);

	tc = tcase_create("Malformed");
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_truncated_sections);
	tcase_add_test(tc, test_huge_lengths);
	tcase_add_test(tc, test_bad_tensor_infos);
	tcase_add_test(tc, test_bad_metadata);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_bad_alignment);
	tcase_add_test(tc, test_bool_array);
	suite_add_tcase(s, tc);

	tc = tcase_create("Robustness");
	tcase_add_test(tc, test_every_truncation);
	tcase_add_test(tc, test_random_mutations);
	tcase_add_test(tc, test_alloc_failures);
	tcase_add_test(tc, test_writer_alloc_failures);
	tcase_add_test(tc, test_release_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("Reference");
	tcase_add_test(tc, test_reference_models);
	tcase_add_test(tc, test_reference_truncations);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(gguf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
