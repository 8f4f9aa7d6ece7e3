/*
 * check_kern_simd.c - tests of the SIMD compute-kernel variants (engine/kern_*.c):
 * every SIMD variant this CPU can run against the scalar specification
 * kern_ref (float activations) and against quant.c's integer dot
 * products quant_vec_dot_* (the same quantized activations), for every
 * computable weight type, on random blocks (raw random bytes with finite
 * random scales, so every bit pattern of the quants and the packed
 * scales occurs, negative scales included) and edge blocks (all zero,
 * every quant at its extreme), odd row ranges and output strides; plus
 * known answers worked out by hand from the block formats.
 *
 * A variant the CPU lacks is reported on stderr and skipped.
 *
 * Tolerances (see the comments at the kernels):
 * - against quant_vec_dot: 1e-5 x M, where M = sum_i |w|_i (|x_i| +
 *   amax_i / 127), |w|_i the element's weight with every term of its
 *   block formula made positive, amax_i the largest |x| of its
 *   activation block: the two compute the same integers and differ only
 *   in float summation order;
 * - against kern_ref: that plus the activation rounding,
 *   0.6 x amax_i / 127 x |w|_i summed (half a quantization step plus the
 *   f16 rounding of the Q8_0 scale);
 * - float weight types: 1e-5 x sum |w_i x_i|.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kern.h"
#include "engine/kern_simd.h"
#include "engine/quant.h"
#include "util/util.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint32_t
rnd32(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* Uniform in [-1, 1). */
static float
urand(void)
{
	return (float)rnd32() * 0x1p-31f - 1.0f;
}

static const struct {
	const char	*name;
	unsigned	 force;
} variants[] = {
	{ "avx2", KERN_FORCE_AVX2 },
	{ "avx512", KERN_FORCE_AVX512 },
};
#define N_VARIANTS	(sizeof(variants) / sizeof(variants[0]))

static const uint32_t types[] = {
	GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
	GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
	GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16,
};
#define N_TYPES		(sizeof(types) / sizeof(types[0]))

/* The variant, or NULL with a message when this CPU cannot run it. */
static const struct kern_ops *
variant(size_t v)
{
	const struct kern_ops *k = kern_ops_select(variants[v].force);

	if (k == NULL)
		fprintf(stderr, "check_kern_simd: variant %s not supported by "
		    "this CPU: skipped\n", variants[v].name);
	else
		ck_assert_str_eq(k->name, variants[v].name);
	return k;
}

static bool
is_float_type(uint32_t t)
{
	return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 ||
	    t == GGML_TYPE_BF16;
}

static size_t
row_bytes(uint32_t type, size_t n)
{
	size_t b = 0;

	ck_assert_int_eq(quant_row_bytes(type, n, &b), CL_OK);
	return b;
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* A random normal finite f16 of magnitude 2^-9 .. 2^1, either sign. */
static uint16_t
rand_f16_scale(void)
{
	const float m = ldexpf(1.0f + 0.5f * (urand() + 1.0f),
	    (int)(rnd32() % 11) - 10);

	return quant_f32_to_f16(rnd32() & 1 ? -m : m);
}

/* Offsets of the f16 scale fields in a block, -1 terminated. */
static const int *
scale_fields(uint32_t t)
{
	static const int q0[] = { 0, -1 }, q1[] = { 0, 2, -1 };
	static const int q6[] = { 208, -1 }, none[] = { -1 };

	switch (t) {
	case GGML_TYPE_Q4_0:
	case GGML_TYPE_Q5_0:
	case GGML_TYPE_Q8_0:
		return q0;
	case GGML_TYPE_Q4_1:
	case GGML_TYPE_Q5_1:
	case GGML_TYPE_Q4_K:
	case GGML_TYPE_Q5_K:
		return q1;
	case GGML_TYPE_Q6_K:
		return q6;
	default:
		return none;
	}
}

/*
 * One weight row: mode 0 random, 1 all zero bytes, 2 every quant at
 * its extreme (all bits set; Q8_0 alternating -128 / 127) with large
 * scales of both signs.
 */
static void
gen_row(uint32_t t, uint8_t *row, size_t n, int mode)
{
	const struct ggml_type_info *ti = ggml_type_info(t);
	const size_t rb = row_bytes(t, n), nb = n / ti->blck_elems;
	size_t b, i;
	const int *f;

	if (mode == 1) {
		memset(row, 0, rb);
		return;
	}
	if (is_float_type(t)) {
		for (i = 0; i < n; i++) {
			const float v = mode == 2 ? (i % 2 ? -60000.0f :
			    60000.0f) : urand() * 4.0f;

			if (t == GGML_TYPE_F32)
				memcpy(row + 4 * i, &v, 4);
			else if (t == GGML_TYPE_F16)
				put16(row + 2 * i, quant_f32_to_f16(v));
			else
				put16(row + 2 * i, quant_f32_to_bf16(v));
		}
		return;
	}
	for (i = 0; i < rb; i++)
		row[i] = mode == 2 ? 0xff : (uint8_t)rnd32();
	for (b = 0; b < nb; b++) {
		uint8_t *blk = row + b * ti->blck_bytes;

		if (mode == 2 && t == GGML_TYPE_Q8_0)
			for (i = 0; i < 32; i++)
				blk[2 + i] = i % 2 ? 0x80 : 0x7f;
		for (f = scale_fields(t); *f >= 0; f++)
			put16(blk + *f, mode == 2 ? quant_f32_to_f16(
			    b % 2 ? -2.0f : 2.0f) : rand_f16_scale());
	}
}

/*
 * |w|_i of a row: each element with every term of its block formula
 * made positive (d, m of Q4_1/Q5_1 positive; d positive and dmin
 * negative for Q4_K/Q5_K, which turns d sc q - dmin m into a sum of
 * non-negative terms; the others are a single product).
 */
static void
abs_weights(uint32_t t, const uint8_t *row, size_t n, float *out)
{
	const struct ggml_type_info *ti = ggml_type_info(t);
	const size_t rb = row_bytes(t, n), nb = n / ti->blck_elems;
	uint8_t *copy = cl_malloc(rb);
	size_t b, i;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, row, rb);
	if (!is_float_type(t)) {
		for (b = 0; b < nb; b++) {
			uint8_t *blk = copy + b * ti->blck_bytes;
			const int *f = scale_fields(t);

			for (; *f >= 0; f++)
				put16(blk + *f, get16(blk + *f) & 0x7fff);
			if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K)
				put16(blk + 2, get16(blk + 2) | 0x8000);
		}
	}
	quant_dequantize_row(t, copy, out, n);
	for (i = 0; i < n; i++)
		out[i] = fabsf(out[i]);
	cl_free(copy);
}

/*
 * Activations: token 0 random, token 1 with a zero block and an outlier,
 * token 2 every value at +-1000, further tokens random with a scale that
 * varies per block.
 */
static void
gen_act(float *x, size_t n, size_t tok)
{
	size_t i;

	for (i = 0; i < n; i++) {
		float v = urand();

		if (tok == 1 && (i / 32) % 3 == 1)
			v = 0.0f;
		else if (tok == 1 && i == n / 2)
			v = 50.0f;
		else if (tok == 2)
			v = i % 3 ? 1000.0f : -1000.0f;
		else if (tok > 2)
			v *= ldexpf(1.0f, (int)((i / 32) % 7) - 3);
		x[i] = v;
	}
}

/* Largest |x| over the activation block (32 or 256) holding each i. */
static void
act_amax(uint32_t t, const float *x, size_t n, float *out)
{
	const size_t blk = t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K ||
	    t == GGML_TYPE_Q6_K ? 256 : 32;
	size_t i, j;

	for (i = 0; i < n; i += blk) {
		float m = 0.0f;

		for (j = i; j < i + blk && j < n; j++)
			m = fmaxf(m, fabsf(x[j]));
		for (j = i; j < i + blk && j < n; j++)
			out[j] = m;
	}
}

/* A 64-byte aligned view into an over-allocated buffer. */
static void *
align64(void *p)
{
	return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

/* ------------------------------------------------------------------ */
/* The comparison                                                      */
/* ------------------------------------------------------------------ */

#define SENTINEL	-12345.5f

/*
 * Multiply a rows x n matrix of `type` by n_tok activation rows with
 * variant k over [r0, r1) into y with stride ldy, and compare with
 * kern_ref and quant_vec_dot; check nothing outside the range changed.
 */
static void
check_case_pk(const struct kern_ops *k, uint32_t type, size_t n, size_t rows,
    size_t n_tok, size_t r0, size_t r1, size_t ldy, size_t pad, bool pk)
{
	const struct kern_ops *ref = kern_ops_ref();
	const size_t rb = row_bytes(type, n), stride = rb + pad;
	const uint32_t ktype = pk ? type | KERN_PACKED : type;
	const size_t ab = k->act_row_bytes(ktype, n);
	const uint32_t at = quant_vec_dot_type(type);
	const size_t qb = at == GGML_TYPE_F32 ? n * sizeof(float) :
	    row_bytes(at, n);
	uint8_t *w = cl_malloc(rows * stride);
	float *x = cl_malloc(n_tok * n * sizeof(float));
	void *act_buf = cl_malloc(n_tok * ab + 64);
	uint8_t *qa = cl_malloc(n_tok * qb);
	float *yv = cl_malloc((n_tok + 1) * ldy * sizeof(float));
	float *yr = cl_malloc(n_tok * ldy * sizeof(float));
	float *wabs = cl_malloc(n * sizeof(float));
	float *amax = cl_malloc(n * sizeof(float));
	uint8_t *act;
	size_t r, t, i;

	ck_assert(w && x && act_buf && qa && yv && yr && wabs && amax);
	ck_assert_uint_eq(ab % 64, 0);
	act = align64(act_buf);
	for (r = 0; r < rows; r++)
		gen_row(type, w + r * stride, n, r % 5 == 1 ? 1 :
		    r % 7 == 3 ? 2 : 0);
	for (t = 0; t < n_tok; t++) {
		gen_act(x + t * n, n, t);
		k->act_prepare(ktype, x + t * n, act + t * ab, n);
	}
	for (i = 0; i < (n_tok + 1) * ldy; i++)
		yv[i] = SENTINEL;
	if (pk) {
		/* The packed copy alone is read: poison the original. */
		void *pbuf = cl_malloc(rows * rb + 64);
		uint8_t *pw = align64(pbuf);

		ck_assert(pbuf != NULL && pad == 0);
		/*
		 * In two calls split at panel 1, as the loader's threads do
		 * (dst then 32 bytes off alignment for odd block counts).
		 */
		if (rows >= 32) {
			k->pack(type, w, stride, n, 16, pw);
			k->pack(type, w + 16 * stride, stride, n, rows - 16,
			    pw + 16 * rb);
		} else
			k->pack(type, w, stride, n, rows, pw);
		k->matmul(ktype, pw, rb, n, act, n_tok, yv, ldy, r0, r1);
		cl_free(pbuf);
	} else
		k->matmul(type, w, stride, n, act, n_tok, yv, ldy, r0, r1);
	ref->matmul(type, w, stride, n, x, n_tok, yr, ldy, r0, r1);

	for (t = 0; t < n_tok; t++)
		quant_act_quantize(type, x + t * n, qa + t * qb, n);
	for (r = r0; r < r1; r++) {
		const uint8_t *row = w + r * stride;

		abs_weights(type, row, n, wabs);
		for (t = 0; t < n_tok; t++) {
			const float *xt = x + t * n;
			const float vi = quant_vec_dot(type, row, qa + t * qb,
			    n);
			const float v = yv[t * ldy + r];
			double mag = 0.0, rnd = 0.0, tol_i, tol_r;

			act_amax(type, xt, n, amax);
			for (i = 0; i < n; i++) {
				if (is_float_type(type)) {
					mag += (double)wabs[i] * fabsf(xt[i]);
					continue;
				}
				mag += (double)wabs[i] * (fabsf(xt[i]) +
				    amax[i] / 127.0);
				rnd += 0.6 * (double)wabs[i] * amax[i] / 127.0;
			}
			tol_i = 1e-5 * mag + 1e-30;
			tol_r = tol_i + rnd;
			if (!(fabs((double)v - vi) <= tol_i) ||
			    !(fabs((double)v - yr[t * ldy + r]) <= tol_r))
				ck_abort_msg("%s %s n=%zu rows=%zu n_tok=%zu "
				    "[%zu,%zu) row %zu tok %zu: got %.9g, "
				    "int ref %.9g (tol %.3g), ref %.9g "
				    "(tol %.3g)", k->name,
				    ggml_type_info(type)->name, n, rows,
				    n_tok, r0, r1, r, t, v, vi, tol_i,
				    yr[t * ldy + r], tol_r);
		}
	}
	/* Nothing written outside rows [r0, r1) and tokens [0, n_tok). */
	for (t = 0; t <= n_tok; t++)
		for (r = 0; r < ldy; r++)
			if (t == n_tok || r < r0 || r >= r1)
				ck_assert_msg(yv[t * ldy + r] == SENTINEL,
				    "%s %s: wrote y[%zu][%zu] outside the "
				    "range", k->name,
				    ggml_type_info(type)->name, t, r);
	cl_free(w);
	cl_free(x);
	cl_free(act_buf);
	cl_free(qa);
	cl_free(yv);
	cl_free(yr);
	cl_free(wabs);
	cl_free(amax);
}

static void
check_case(const struct kern_ops *k, uint32_t type, size_t n, size_t rows,
    size_t n_tok, size_t r0, size_t r1, size_t ldy, size_t pad)
{
	check_case_pk(k, type, n, rows, n_tok, r0, r1, ldy, pad, false);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/*
 * Every variant x the type of this loop iteration: n in {32, 256, 512,
 * 4096} (K-quants: multiples of 256; float types also 1, 31, 33, 255;
 * legacy types also 96 and 160 for partial activation groups), rows
 * {1, 3, 31, 33, 64}, n_tok {1, 2, 5, 64}; the largest shapes only with
 * a subset so the test stays quick under sanitizers.
 */
START_TEST(test_matmul)
{
	static const size_t ns[] = { 1, 31, 32, 33, 96, 160, 255, 256, 512,
	    4096 };
	static const size_t rows_l[] = { 1, 3, 31, 33, 64 };
	static const size_t toks[] = { 1, 2, 5, 64 };
	const uint32_t type = types[_i];
	const struct ggml_type_info *ti = ggml_type_info(type);
	size_t v, a, b, c, ran = 0;

	for (v = 0; v < N_VARIANTS; v++) {
		const struct kern_ops *k = variant(v);

		if (k == NULL)
			continue;
		rng_state = 0x9e3779b97f4a7c15ull + _i;
		for (a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
			const size_t n = ns[a];

			if (n % ti->blck_elems != 0)
				continue;
			if (!is_float_type(type) && ti->blck_elems == 32 &&
			    (n == 255 || n == 1))
				continue;
			for (b = 0; b < sizeof(rows_l) / sizeof(rows_l[0]);
			    b++) {
				for (c = 0; c < sizeof(toks) / sizeof(toks[0]);
				    c++) {
					const size_t rows = rows_l[b];
					const size_t nt = toks[c];

					if (n * rows * nt > 512 * 64 * 64)
						continue;
					/* Whole range, then an odd inner one
					 * with ldy > rows and padded rows. */
					check_case(k, type, n, rows, nt, 0,
					    rows, rows, 0);
					if (rows >= 3)
						check_case(k, type, n, rows, nt,
						    1, rows - 1, rows + 3, 4);
					ran++;
				}
			}
		}
	}
	if (ran == 0)
		fprintf(stderr, "check_kern_simd: no SIMD variant on this CPU; "
		    "matmul (%s) not exercised\n", ti->name);
}
END_TEST

/*
 * Every variant that packs the type of this loop iteration: the packed
 * rows multiplied by the packed kernel agree with the scalar reference
 * and the integer reference dots exactly as the row kernels must (the
 * same check_case), for odd and even block counts (n = 32 .. 2048, and
 * 1792 as in the model; K-quants 1, 2, 3, 7, 8 super-blocks, so Q6_K's
 * odd panels start 32 bytes off and take their realigned layout), panels
 * of rows [0, rows) and an inner range, and token counts that exercise
 * every tile width (1, 2, 3, 5, 8, 9, 17).  The avx512 table must pack
 * Q4_0, Q8_0, Q4_K, Q5_K and Q6_K.
 */
START_TEST(test_matmul_packed)
{
	static const size_t ns[] = { 32, 64, 96, 256, 288, 512, 768, 1792,
	    2048 };
	static const size_t rows_l[] = { 16, 48 };
	static const size_t toks[] = { 1, 2, 3, 5, 8, 9, 17 };
	const uint32_t type = types[_i];
	size_t v, a, b, c, ran = 0;

	for (v = 0; v < N_VARIANTS; v++) {
		const struct kern_ops *k = variant(v);
		unsigned p;

		if (k == NULL || k->pack_rows == NULL ||
		    (p = k->pack_rows(type)) == 0)
			continue;
		ck_assert_uint_eq(p, 16);
		rng_state = 0x51ed270b27a1f3ull + _i;
		for (a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
			const size_t n = ns[a];

			if (n % ggml_type_info(type)->blck_elems != 0)
				continue;
			for (b = 0; b < sizeof(rows_l) / sizeof(rows_l[0]);
			    b++) {
				for (c = 0; c < sizeof(toks) / sizeof(toks[0]);
				    c++) {
					const size_t rows = rows_l[b];
					const size_t nt = toks[c];

					if (n >= 1792 && nt > 3)
						continue;
					check_case_pk(k, type, n, rows, nt, 0,
					    rows, rows, 0, true);
					if (rows > 16)
						check_case_pk(k, type, n, rows,
						    nt, 16, rows, rows + 5, 0,
						    true);
					ran++;
				}
			}
		}
	}
	if ((type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q8_0 ||
	    type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K ||
	    type == GGML_TYPE_Q6_K) &&
	    kern_ops_select(KERN_FORCE_AVX512) != NULL)
		ck_assert_uint_gt(ran, 0);
}
END_TEST

/*
 * row_f32 (the embedding lookup) on packed rows gives exactly the
 * dequantized stored row, for every row of a few panels, for every type
 * it claims to read packed (Q4_0 and Q8_0 at least, on AVX-512).
 */
START_TEST(test_row_f32_packed)
{
	static const size_t ns[] = { 32, 96, 2048 };
	const uint32_t type = types[_i];
	size_t v, a, r;

	for (v = 0; v < N_VARIANTS; v++) {
		const struct kern_ops *k = variant(v);

		if (k == NULL || k->row_f32_packed == NULL ||
		    !k->row_f32_packed(type))
			continue;
		ck_assert_uint_gt(k->pack_rows(type), 0);
		rng_state = 77 + _i;
		for (a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
			const size_t n = ns[a], rows = 48;
			size_t rb;
			uint8_t *w;
			void *pbuf;
			float *want, *got;

			if (n % ggml_type_info(type)->blck_elems != 0)
				continue;
			rb = row_bytes(type, n);
			w = cl_malloc(rows * rb);
			pbuf = cl_malloc(rows * rb + 64);
			want = cl_malloc(n * sizeof(float));
			got = cl_malloc(n * sizeof(float));
			ck_assert(w && pbuf && want && got);
			for (r = 0; r < rows; r++)
				gen_row(type, w + r * rb, n, (int)(r % 3));
			k->pack(type, w, rb, n, rows, align64(pbuf));
			for (r = 0; r < rows; r++) {
				quant_dequantize_row(type, w + r * rb, want,
				    n);
				k->row_f32(type | KERN_PACKED, align64(pbuf),
				    rb, n, r, got);
				ck_assert_msg(memcmp(want, got, n *
				    sizeof(float)) == 0, "%s %s row %zu of "
				    "n=%zu differs once packed", k->name,
				    ggml_type_info(type)->name, r, n);
				k->row_f32(type, w, rb, n, r, got);
				ck_assert(memcmp(want, got, n *
				    sizeof(float)) == 0);
			}
			cl_free(w);
			cl_free(pbuf);
			cl_free(want);
			cl_free(got);
		}
	}
	if ((type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q8_0) &&
	    kern_ops_select(KERN_FORCE_AVX512) != NULL)
		ck_assert(kern_ops_select(KERN_FORCE_AVX512)->row_f32_packed(
		    type));
}
END_TEST

/*
 * Row i of super-block kk of panel p (of nb super-blocks; pp its first
 * byte) holds the stored block blk where kern_simd.h says.  The offsets
 * are written out here from that text, not taken from the helpers.
 */
static void
check_pack_block(uint32_t t, const uint8_t *blk, const uint8_t *pp,
    size_t p, size_t kk, size_t nb, size_t i)
{
	size_t c, g, base;
	uint8_t sc[8], m[8];
	int b;

	if (t == GGML_TYPE_Q6_K) {
		/* sh: panel p starts at p * 3360 * nb. */
		const size_t sh = p * 3360 * nb % 64;
		const size_t pair = sh + kk / 2 * 6720;
		const int last = kk % 2 == 0 && kk + 1 == nb;
		const size_t so = last ? pair : pair + 64 + kk % 2 * 3328;
		const size_t dof = last ? (sh ? 0 : pair + 3328) :
		    pair + kk % 2 * 32;

		ck_assert(memcmp(pp + dof + 2 * i, blk + 208, 2) == 0);
		for (g = 0; g < 16; g++)
			ck_assert_uint_eq(pp[so + 16 * g + i], blk[192 + g]);
		for (c = 0; c < 16; c++) {
			const uint8_t *o = pp + so + 256 + 192 * c + 4 * i;
			const size_t h = c / 8, cc = c % 8;

			ck_assert(memcmp(o, blk + 64 * h + 4 * cc, 4) == 0);
			ck_assert(memcmp(o + 64, blk + 64 * h + 32 + 4 * cc,
			    4) == 0);
			ck_assert(memcmp(o + 128, blk + 128 + 32 * h + 4 * cc,
			    4) == 0);
		}
		return;
	}
	base = kk * (t == GGML_TYPE_Q4_K ? 2304 : 2816);
	ck_assert(memcmp(pp + base + 2 * i, blk, 2) == 0);
	ck_assert(memcmp(pp + base + 32 + 2 * i, blk + 2, 2) == 0);
	for (b = 0; b < 8; b++)
		quant_k4_scale_min(b, blk + 4, &sc[b], &m[b]);
	for (b = 0; b < 4; b++) {
		const uint8_t sl = pp[base + 64 + 4 * i + b];
		const uint8_t ml = pp[base + 128 + 4 * i + b];
		const uint8_t hb = pp[base + 192 + 4 * i + b];

		ck_assert_uint_eq((sl & 15) | (hb & 3) << 4, sc[b]);
		ck_assert_uint_eq((sl >> 4) | (hb >> 2 & 3) << 4, sc[b + 4]);
		ck_assert_uint_eq((ml & 15) | (hb >> 4 & 3) << 4, m[b]);
		ck_assert_uint_eq((ml >> 4) | (hb >> 6) << 4, m[b + 4]);
	}
	for (c = 0; c < 32; c++)
		ck_assert(memcmp(pp + base + 256 + 64 * c + 4 * i, blk +
		    (t == GGML_TYPE_Q4_K ? 16 : 48) + 4 * c, 4) == 0);
	if (t == GGML_TYPE_Q5_K)
		for (c = 0; c < 8; c++)
			ck_assert(memcmp(pp + base + 2304 + 64 * c + 4 * i,
			    blk + 16 + 4 * c, 4) == 0);
}

/*
 * The packed K-quant layouts byte for byte as kern_simd.h documents
 * them, on random rows (every bit of the scales and quants has to land
 * where the text says): 3 panels of 3 super-blocks, so the middle Q6_K
 * panel starts 32 bytes off and takes its realigned form.  Packing the
 * rows in two calls split at panel 1 (as the model loader's threads do;
 * dst then 32 bytes off for Q6_K) gives the same bytes.
 */
START_TEST(test_pack_layout_k)
{
	static const uint32_t kt[] = { GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
	    GGML_TYPE_Q6_K };
	const struct kern_ops *k = kern_ops_select(KERN_FORCE_AVX512);
	const size_t n = 768, nb = 3, rows = 48;
	size_t a, rb, p, kk, i;
	uint8_t *w, *buf, *pw, *buf2, *pw2;

	if (k == NULL) {
		fprintf(stderr, "check_kern_simd: no avx512: packed layout "
		    "not checked\n");
		return;
	}
	rng_state = 0xfeedull;
	for (a = 0; a < sizeof(kt) / sizeof(kt[0]); a++) {
		const uint32_t t = kt[a];

		rb = row_bytes(t, n);
		w = cl_malloc(rows * rb);
		buf = cl_malloc(rows * rb + 64);
		buf2 = cl_malloc(rows * rb + 64);
		ck_assert(w != NULL && buf != NULL && buf2 != NULL);
		pw = align64(buf);
		pw2 = align64(buf2);
		for (i = 0; i < rows; i++)
			gen_row(t, w + i * rb, n, 0);
		ck_assert_uint_eq(k->pack_rows(t), 16);
		k->pack(t, w, rb, n, rows, pw);
		k->pack(t, w, rb, n, 16, pw2);
		k->pack(t, w + 16 * rb, rb, n, rows - 16, pw2 + 16 * rb);
		ck_assert(memcmp(pw, pw2, rows * rb) == 0);
		if (t == GGML_TYPE_Q6_K)
			ck_assert_uint_eq((uintptr_t)(pw2 + 16 * rb) % 64, 32);
		for (p = 0; p < rows / 16; p++)
			for (kk = 0; kk < nb; kk++)
				for (i = 0; i < 16; i++)
					check_pack_block(t, w + (16 * p + i) *
					    rb + kk * ggml_type_info(t)->
					    blck_bytes, pw + p * 16 * rb, p,
					    kk, nb, i);
		cl_free(w);
		cl_free(buf);
		cl_free(buf2);
	}
}
END_TEST

/* Decode-shaped matrices of the real model: 2048 x 1792, one token. */
START_TEST(test_matmul_model_shape)
{
	static const uint32_t mt[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
	    GGML_TYPE_Q6_K, GGML_TYPE_Q8_0, GGML_TYPE_F16 };
	size_t v, i;

	for (v = 0; v < N_VARIANTS; v++) {
		const struct kern_ops *k = variant(v);

		if (k == NULL)
			continue;
		rng_state = 42;
		for (i = 0; i < sizeof(mt) / sizeof(mt[0]); i++) {
			check_case(k, mt[i], 2048, 40, 1, 3, 37, 40, 0);
			check_case(k, mt[i], 1792, 9, 3, 0, 9, 9, 0);
		}
	}
}
END_TEST

/*
 * Known answers from the block formats, activations exactly
 * representable (127 quantizes to q = 127 with scale 1 in every form).
 */
static float
one_row(const struct kern_ops *k, uint32_t type, const void *w, size_t n,
    const float *x)
{
	void *buf = cl_malloc(k->act_row_bytes(type, n) + 64);
	float y = SENTINEL;

	ck_assert_ptr_nonnull(buf);
	k->act_prepare(type, x, align64(buf), n);
	k->matmul(type, w, row_bytes(type, n), n, align64(buf), 1, &y, 1,
	    0, 1);
	cl_free(buf);
	return y;
}

START_TEST(test_known_answers)
{
	uint8_t q40[18], q80[34], q4k[144], q6k[210];
	float x[256];
	size_t v, i;

	for (i = 0; i < 256; i++)
		x[i] = 127.0f;
	/* Q4_0: d = 1, every nibble 9: weights 1, dot 32 x 127. */
	put16(q40, 0x3c00);
	memset(q40 + 2, 0x99, 16);
	/* Q8_0: d = 0.5, q = -128: weights -64, dot -64 x 127 x 32. */
	put16(q80, 0x3800);
	memset(q80 + 2, 0x80, 32);
	/*
	 * Q4_K: d = 1, dmin = 0.5, every sc_j = m_j = 1, low nibbles 1 and
	 * high 2: weights 0.5 (even sub-blocks) and 1.5 (odd), dot
	 * 127 x (128 x 0.5 + 128 x 1.5) = 32512.
	 */
	memset(q4k, 0, sizeof(q4k));
	put16(q4k, 0x3c00);
	put16(q4k + 2, 0x3800);
	memset(q4k + 4, 0x01, 8);
	memset(q4k + 12, 0x11, 4);
	memset(q4k + 16, 0x21, 128);
	/*
	 * Q6_K: d = 1, scales[g] = g - 8, every q = 33 (ql nibbles 1, qh
	 * fields 2): weights g - 8, dot 127 x 16 x sum(g - 8) = -16256.
	 */
	memset(q6k, 0x11, 128);
	memset(q6k + 128, 0xaa, 64);
	for (i = 0; i < 16; i++)
		q6k[192 + i] = (uint8_t)(int8_t)((int)i - 8);
	put16(q6k + 208, 0x3c00);

	for (v = 0; v < N_VARIANTS; v++) {
		const struct kern_ops *k = variant(v);

		if (k == NULL)
			continue;
		ck_assert_float_eq(one_row(k, GGML_TYPE_Q4_0, q40, 32, x),
		    4064.0f);
		ck_assert_float_eq(one_row(k, GGML_TYPE_Q8_0, q80, 32, x),
		    -260096.0f);
		ck_assert_float_eq(one_row(k, GGML_TYPE_Q4_K, q4k, 256, x),
		    32512.0f);
		ck_assert_float_eq(one_row(k, GGML_TYPE_Q6_K, q6k, 256, x),
		    -16256.0f);
	}
}
END_TEST

/*
 * Each variant's act_prepare writes exactly the bytes of the portable
 * kern_simd_act_prepare(), which takes its integers and scales from
 * quant.c's reference quantizers: on random rows, zero blocks, ties of
 * +a and -a for the largest magnitude (the sign of the first decides
 * Q8_K's scale), values on rounding boundaries and tiny values; for the
 * packed form too, where the variant packs the type.
 */
START_TEST(test_act_prepare)
{
	static const size_t ns[] = { 1, 33, 32, 96, 160, 256, 512, 4096 };
	const uint32_t type = types[_i];
	const struct ggml_type_info *ti = ggml_type_info(type);
	const size_t mb = kern_simd_act_bytes(type, 4096) >
	    kern_simd_act_bytes(type | KERN_PACKED, 4096) ?
	    kern_simd_act_bytes(type, 4096) :
	    kern_simd_act_bytes(type | KERN_PACKED, 4096);
	float *x = cl_malloc(4096 * sizeof(float));
	uint8_t *want = cl_malloc(mb + 64);
	uint8_t *got = cl_malloc(mb + 64);
	size_t v, a, i, len;
	uint32_t at;
	int mode, pk;

	ck_assert(x && want && got);
	rng_state = 1234 + _i;
	for (v = 0; v < N_VARIANTS * 2; v++) {
		const struct kern_ops *k = variant(v / 2);

		/* Odd v: the packed form, where the variant packs type. */
		pk = (int)(v % 2);
		if (k == NULL || (pk && (k->pack_rows == NULL ||
		    k->pack_rows(type) == 0)))
			continue;
		at = pk ? type | KERN_PACKED : type;
		for (a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
			if (ns[a] % ti->blck_elems != 0)
				continue;
			for (mode = 0; mode < 5; mode++) {
				for (i = 0; i < ns[a]; i++) {
					x[i] = urand();
					if (mode == 1 && i / 32 % 2 == 0)
						x[i] = 0.0f;
					if (mode == 2)
						x[i] = i % 5 == 3 ? 2.0f :
						    i % 5 == 1 ? -2.0f : x[i];
					if (mode == 3)	/* k + 1/2 steps */
						x[i] = ((float)(rnd32() % 255) -
						    127.0f + 0.5f) / 127.0f;
					if (mode == 4)
						x[i] *= 1e-30f;
				}
				len = k->act_row_bytes(at, ns[a]);
				memset(want, 0xa5, len);
				memset(got, 0x5a, len);
				kern_simd_act_prepare(at, x, want, ns[a]);
				k->act_prepare(at, x, got, ns[a]);
				ck_assert_msg(memcmp(want, got, len) == 0,
				    "%s %s%s act_prepare n=%zu mode %d "
				    "differs", k->name, ti->name, pk ?
				    " packed" : "", ns[a], mode);
			}
		}
	}
	cl_free(x);
	cl_free(want);
	cl_free(got);
}
END_TEST

START_TEST(test_dot_f32)
{
	static const size_t ns[] = { 0, 1, 31, 32, 33, 255, 4096 };
	float *a = cl_malloc(4097 * sizeof(float));
	float *b = cl_malloc(4097 * sizeof(float));
	size_t v, i, j;

	ck_assert(a && b);
	rng_state = 7;
	for (v = 0; v < N_VARIANTS; v++) {
		const struct kern_ops *k = variant(v);

		if (k == NULL)
			continue;
		for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			double exact = 0.0, mag = 0.0;
			float got;

			for (j = 0; j < ns[i] + 1; j++) {
				a[j] = urand();
				b[j] = urand() * 100.0f;
			}
			for (j = 0; j < ns[i]; j++) {
				exact += (double)a[j] * b[j];
				mag += fabs((double)a[j] * b[j]);
			}
			/* a[n] is not part of the product. */
			got = k->dot_f32(a, b, ns[i]);
			ck_assert_msg(fabs(got - exact) <= 1e-5 * mag + 1e-30,
			    "%s dot_f32 n=%zu: %.9g vs %.9g", k->name, ns[i],
			    got, exact);
		}
	}
	cl_free(a);
	cl_free(b);
}
END_TEST

/* KERN_AUTO picks the best variant the machine runs. */
START_TEST(test_select)
{
	const struct kern_ops *a = kern_ops_select(KERN_AUTO);
	const struct kern_ops *v2 = kern_ops_select(KERN_FORCE_AVX2);
	const struct kern_ops *v5 = kern_ops_select(KERN_FORCE_AVX512);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, kern_ops_select(KERN_AUTO));
	ck_assert_ptr_eq(kern_ops_select(KERN_FORCE_REF), kern_ops_ref());
	ck_assert_ptr_null(kern_ops_select(1000));
	if (v5 != NULL)
		ck_assert_ptr_eq(a, v5);
	else if (v2 != NULL)
		ck_assert_ptr_eq(a, v2);
	else
		ck_assert_ptr_eq(a, kern_ops_ref());
	/* AVX-512 implies AVX2 in our checks. */
	if (v5 != NULL)
		ck_assert_ptr_nonnull(v2);
	fprintf(stderr, "check_kern_simd: KERN_AUTO is %s\n", a->name);
}
END_TEST

static Suite *
kern_suite(void)
{
	Suite *s = suite_create("kern_simd");
	TCase *tc;

	tc = tcase_create("select");
	tcase_add_test(tc, test_select);
	suite_add_tcase(s, tc);

	tc = tcase_create("matmul");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_matmul, 0, (int)N_TYPES);
	tcase_add_test(tc, test_matmul_model_shape);
	tcase_add_loop_test(tc, test_matmul_packed, 0, (int)N_TYPES);
	tcase_add_loop_test(tc, test_row_f32_packed, 0, (int)N_TYPES);
	tcase_add_test(tc, test_pack_layout_k);
	tcase_add_test(tc, test_known_answers);
	suite_add_tcase(s, tc);

	tc = tcase_create("act_prepare");
	tcase_add_loop_test(tc, test_act_prepare, 0, (int)N_TYPES);
	suite_add_tcase(s, tc);

	tc = tcase_create("dot");
	tcase_add_test(tc, test_dot_f32);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(kern_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
