/*
 * check_quant.c - tests of engine/quant.c: float conversions, the block
 * decoders on hand-built blocks and bit for bit against ggml's own decoder
 * (the .dequant.json files in tests/data), the quantizers (round-trip
 * bounds, and byte parity with ggml's on the refvector GGUFs), the
 * activation quantizers and the integer dot products.
 *
 * Expected values come from the format definitions (lfm2-spec.md 2) and
 * are worked out here by hand, never by calling the code under test.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/quant.h"
#include "util/util.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint32_t
bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

/* Deterministic xorshift64* in [0, 1). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double
urand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) *
	    0x1p-53;
}

/* Roughly N(0, 1): sum of 4 uniforms, centred and scaled. */
static float
nrand(void)
{
	return (float)((urand() + urand() + urand() + urand() - 2.0) *
	    1.7320508);
}

static size_t
row_bytes(uint32_t type, size_t n)
{
	size_t b = 0;

	ck_assert_int_eq(quant_row_bytes(type, n, &b), CL_OK);
	return b;
}

/* Dequantize a freshly allocated copy of a row; caller frees. */
static float *
dequant(uint32_t type, const void *src, size_t n)
{
	float *y = cl_malloc(n * sizeof(*y));

	ck_assert_ptr_nonnull(y);
	quant_dequantize_row(type, src, y, n);
	return y;
}

static const uint32_t storage_types[] = {
	GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q4_0,
	GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
	GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
};

/* ------------------------------------------------------------------ */
/* Float conversions                                                   */
/* ------------------------------------------------------------------ */

START_TEST(test_f16_decode)
{
	ck_assert_uint_eq(bits(quant_f16_to_f32(0x0000)), 0x00000000);
	ck_assert_uint_eq(bits(quant_f16_to_f32(0x8000)), 0x80000000);
	ck_assert(quant_f16_to_f32(0x3c00) == 1.0f);
	ck_assert(quant_f16_to_f32(0xc000) == -2.0f);
	ck_assert(quant_f16_to_f32(0x3555) == 0x1.554p-2f);
	ck_assert(quant_f16_to_f32(0x7bff) == 65504.0f);
	/* Subnormals: mantissa * 2^-24. */
	ck_assert(quant_f16_to_f32(0x0001) == 0x1p-24f);
	ck_assert(quant_f16_to_f32(0x8001) == -0x1p-24f);
	ck_assert(quant_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
	ck_assert(quant_f16_to_f32(0x0400) == 0x1p-14f);
	/* Infinities and NaN. */
	ck_assert(isinf(quant_f16_to_f32(0x7c00)) &&
	    quant_f16_to_f32(0x7c00) > 0);
	ck_assert(isinf(quant_f16_to_f32(0xfc00)) &&
	    quant_f16_to_f32(0xfc00) < 0);
	ck_assert(isnan(quant_f16_to_f32(0x7e00)));
	ck_assert(isnan(quant_f16_to_f32(0x7c01)));
	ck_assert(isnan(quant_f16_to_f32(0xfc01)));
}
END_TEST

START_TEST(test_f16_encode)
{
	const uint32_t low_nan = 0xff800001u;
	uint32_t h;
	float f;

	ck_assert_uint_eq(quant_f32_to_f16(1.0f), 0x3c00);
	ck_assert_uint_eq(quant_f32_to_f16(-0.0f), 0x8000);
	ck_assert_uint_eq(quant_f32_to_f16(65504.0f), 0x7bff);
	ck_assert_uint_eq(quant_f32_to_f16(65519.99f), 0x7bff);
	ck_assert_uint_eq(quant_f32_to_f16(65520.0f), 0x7c00);
	ck_assert_uint_eq(quant_f32_to_f16(-1e9f), 0xfc00);
	ck_assert_uint_eq(quant_f32_to_f16(INFINITY), 0x7c00);
	h = quant_f32_to_f16(NAN);
	ck_assert((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
	/* A NaN whose payload sits only in low bits must stay NaN. */
	memcpy(&f, &low_nan, sizeof(f));
	h = quant_f32_to_f16(f);
	ck_assert((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
	/* Ties to even in the normal range: ulp(1) = 2^-10. */
	ck_assert_uint_eq(quant_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
	ck_assert_uint_eq(quant_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
	ck_assert_uint_eq(quant_f32_to_f16(1.0f + 0x1.2p-11f), 0x3c01);
	/* Subnormal results and the underflow ties. */
	ck_assert_uint_eq(quant_f32_to_f16(0x1p-24f), 0x0001);
	ck_assert_uint_eq(quant_f32_to_f16(0x1p-25f), 0x0000);
	ck_assert_uint_eq(quant_f32_to_f16(0x1.000002p-25f), 0x0001);
	ck_assert_uint_eq(quant_f32_to_f16(3 * 0x1p-25f), 0x0002);
	ck_assert_uint_eq(quant_f32_to_f16(5 * 0x1p-25f), 0x0002);
	ck_assert_uint_eq(quant_f32_to_f16(-1e-9f), 0x8000);
	/* The largest subnormal plus half an ulp rounds up to 2^-14. */
	ck_assert_uint_eq(quant_f32_to_f16(1023.5f * 0x1p-24f), 0x0400);
	ck_assert_uint_eq(quant_f32_to_f16(0x1p-14f), 0x0400);
}
END_TEST

/* Every non-NaN half survives f16 -> f32 -> f16 unchanged. */
START_TEST(test_f16_roundtrip_all)
{
	uint32_t h;

	for (h = 0; h < 0x10000; h++) {
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0)
			continue;
		ck_assert_uint_eq(quant_f32_to_f16(quant_f16_to_f32(
		    (uint16_t)h)), h);
	}
}
END_TEST

START_TEST(test_bf16)
{
	float nan_low;
	uint32_t u = 0x7f800001u;	/* NaN with only the lowest bit */

	ck_assert(quant_bf16_to_f32(0x3f80) == 1.0f);
	ck_assert(quant_bf16_to_f32(0xc040) == -3.0f);
	ck_assert(isinf(quant_bf16_to_f32(0xff80)));
	ck_assert_uint_eq(quant_f32_to_bf16(1.0f), 0x3f80);
	ck_assert_uint_eq(quant_f32_to_bf16(-3.0f), 0xc040);
	/* ulp(1) = 2^-7: ties go to even. */
	ck_assert_uint_eq(quant_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
	ck_assert_uint_eq(quant_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
	ck_assert_uint_eq(quant_f32_to_bf16(1.0f + 0x1.1p-8f), 0x3f81);
	/* Truncation would turn this NaN into infinity. */
	memcpy(&nan_low, &u, sizeof(nan_low));
	ck_assert(isnan(quant_bf16_to_f32(quant_f32_to_bf16(nan_low))));
	ck_assert_uint_eq(quant_f32_to_bf16(INFINITY), 0x7f80);
	ck_assert_uint_eq(quant_f32_to_bf16(3.4e38f), 0x7f80);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Type queries                                                        */
/* ------------------------------------------------------------------ */

START_TEST(test_types)
{
	size_t out = 7;
	size_t i;

	for (i = 0; i < CL_ARRAY_LEN(storage_types); i++)
		ck_assert(quant_type_is_computable(storage_types[i]));
	ck_assert(!quant_type_is_computable(GGML_TYPE_Q8_K));
	ck_assert(!quant_type_is_computable(GGML_TYPE_Q8_1));
	ck_assert(!quant_type_is_computable(GGML_TYPE_Q2_K));
	ck_assert(!quant_type_is_computable(4));
	ck_assert(!quant_type_is_computable(1000));

	ck_assert_uint_eq(row_bytes(GGML_TYPE_Q4_K, 4096), 16 * 144);
	ck_assert_uint_eq(row_bytes(GGML_TYPE_Q4_0, 32), 18);
	ck_assert_uint_eq(row_bytes(GGML_TYPE_Q6_K, 256), 210);
	ck_assert_uint_eq(row_bytes(GGML_TYPE_BF16, 3), 6);
	ck_assert_uint_eq(row_bytes(GGML_TYPE_Q2_K, 512), 168);
	ck_assert_uint_eq(row_bytes(GGML_TYPE_Q8_K, 256), 292);
	ck_assert_int_eq(quant_row_bytes(GGML_TYPE_Q4_K, 255, &out),
	    CL_EINVAL);
	ck_assert_int_eq(quant_row_bytes(4, 32, &out), CL_EINVAL);
	ck_assert_int_eq(quant_row_bytes(GGML_TYPE_COUNT, 32, &out),
	    CL_EINVAL);
	ck_assert_int_eq(quant_row_bytes(GGML_TYPE_Q8_K,
	    UINT64_MAX - 255, &out), CL_ELIMIT);
	ck_assert_int_eq(quant_row_bytes(GGML_TYPE_F32, UINT64_MAX / 2,
	    &out), CL_ELIMIT);
	ck_assert_uint_eq(out, 7);	/* unchanged by the failures */

	ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_Q4_0), GGML_TYPE_Q8_0);
	ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_Q5_1), GGML_TYPE_Q8_1);
	ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_Q6_K), GGML_TYPE_Q8_K);
	ck_assert_uint_eq(quant_vec_dot_type(GGML_TYPE_BF16), GGML_TYPE_F32);
}
END_TEST

/* A type cloister cannot compute with is a caller bug: abort. */
START_TEST(test_dequant_bad_type_aborts)
{
	uint8_t blk[84] = { 0 };
	float y[256];

	quant_dequantize_row(GGML_TYPE_Q2_K, blk, y, 256);
}
END_TEST

START_TEST(test_dequant_bad_len_aborts)
{
	struct block_q4_0 b = { 0 };
	float y[32];

	quant_dequantize_row(GGML_TYPE_Q4_0, &b, y, 31);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hand-built blocks                                                   */
/* ------------------------------------------------------------------ */

START_TEST(test_q4_0_block)
{
	struct block_q4_0 b[2];
	float y[64];
	int j;

	b[0].d = 0x3800;			/* 0.5 */
	b[1].d = 0xbc00;			/* -1 */
	for (j = 0; j < 16; j++) {
		b[0].qs[j] = (uint8_t)(j | (15 - j) << 4);
		b[1].qs[j] = 0x80;		/* lo 0 -> -8, hi 8 -> 0 */
	}
	quant_dequantize_row(GGML_TYPE_Q4_0, b, y, 64);
	for (j = 0; j < 16; j++) {
		ck_assert(y[j] == (j - 8) * 0.5f);
		ck_assert(y[j + 16] == (7 - j) * 0.5f);
		ck_assert(y[32 + j] == 8.0f);
		ck_assert_uint_eq(bits(y[48 + j]), bits(-0.0f));
	}
}
END_TEST

START_TEST(test_q4_1_block)
{
	struct block_q4_1 b[2];
	float y[64];
	int j;

	/* All-zero quants with a non-zero minimum: every value is m. */
	b[0].d = 0x3c00;			/* 1 */
	b[0].m = 0xc100;			/* -2.5 */
	memset(b[0].qs, 0, sizeof(b[0].qs));
	b[1].d = 0x3400;			/* 0.25 */
	b[1].m = 0x3c00;			/* 1 */
	for (j = 0; j < 16; j++)
		b[1].qs[j] = (uint8_t)(15 << 4 | j);
	quant_dequantize_row(GGML_TYPE_Q4_1, b, y, 64);
	for (j = 0; j < 32; j++)
		ck_assert(y[j] == -2.5f);
	for (j = 0; j < 16; j++) {
		ck_assert(y[32 + j] == j * 0.25f + 1.0f);
		ck_assert(y[48 + j] == 15 * 0.25f + 1.0f);
	}
}
END_TEST

START_TEST(test_q5_0_block)
{
	struct block_q5_0 b;
	float y[32];
	int j;

	/* Fifth bit of element 3 is bit 3, of element 21 bit 21 (5 + 16). */
	b.d = 0x3c00;
	b.qh[0] = 1 << 3;
	b.qh[1] = 0;
	b.qh[2] = 1 << 5;
	b.qh[3] = 0;
	memset(b.qs, 0, sizeof(b.qs));
	b.qs[3] = 0x27;				/* elt 3: lo 7, elt 19: hi 2 */
	quant_dequantize_row(GGML_TYPE_Q5_0, &b, y, 32);
	for (j = 0; j < 32; j++) {
		float want = -16.0f;

		if (j == 3)
			want = (7 | 16) - 16;
		else if (j == 19)
			want = 2 - 16;
		else if (j == 21)
			want = 0.0f;
		ck_assert_msg(y[j] == want, "element %d: %g, want %g", j,
		    (double)y[j], (double)want);
	}
}
END_TEST

START_TEST(test_q5_1_block)
{
	struct block_q5_1 b;
	float y[32];
	int j;

	b.d = 0x3800;				/* 0.5 */
	b.m = 0x3c00;				/* 1 */
	/* Fifth bits: every element except 0 and 31. */
	b.qh[0] = 0xfe;
	b.qh[1] = 0xff;
	b.qh[2] = 0xff;
	b.qh[3] = 0x7f;
	for (j = 0; j < 16; j++)
		b.qs[j] = (uint8_t)(j | j << 4);
	quant_dequantize_row(GGML_TYPE_Q5_1, &b, y, 32);
	for (j = 0; j < 32; j++) {
		int q = (j % 16) + (j == 0 || j == 31 ? 0 : 16);

		ck_assert(y[j] == q * 0.5f + 1.0f);
	}
}
END_TEST

START_TEST(test_q8_0_block)
{
	struct block_q8_0 b;
	float y[32];
	int j;

	b.d = 0x3400;				/* 0.25 */
	for (j = 0; j < 32; j++)
		b.qs[j] = (int8_t)(j - 16);
	b.qs[0] = -128;
	b.qs[31] = 127;
	quant_dequantize_row(GGML_TYPE_Q8_0, &b, y, 32);
	ck_assert(y[0] == -32.0f);
	ck_assert(y[31] == 31.75f);
	for (j = 1; j < 31; j++)
		ck_assert(y[j] == (j - 16) * 0.25f);
}
END_TEST

/*
 * The Q4_K / Q5_K scale bytes for sc[8], mn[8], written out from the
 * spec's description: bytes 0..3 = sc0..3 | top 2 bits of sc4..7 << 6,
 * bytes 4..7 = m0..3 | top 2 bits of m4..7 << 6, bytes 8..11 = low
 * nibble of sc4..7 | low nibble of m4..7 << 4.
 */
static const uint8_t k_sc[8] = { 1, 2, 3, 4, 45, 50, 63, 33 };
static const uint8_t k_mn[8] = { 0, 5, 10, 63, 17, 32, 48, 1 };
static const uint8_t k_scales[12] = {
	1 | (45 >> 4) << 6, 2 | (50 >> 4) << 6,
	3 | (63 >> 4) << 6, 4 | (33 >> 4) << 6,
	0 | (17 >> 4) << 6, 5 | (32 >> 4) << 6,
	10 | (48 >> 4) << 6, 63 | (1 >> 4) << 6,
	(45 & 15) | (17 & 15) << 4, (50 & 15) | (32 & 15) << 4,
	(63 & 15) | (48 & 15) << 4, (33 & 15) | (1 & 15) << 4,
};

START_TEST(test_q4_k_block)
{
	struct block_q4_k b;
	float y[256];
	int e, c, l;

	b.d = 0x3c00;				/* 1 */
	b.dmin = 0x3800;			/* 0.5 */
	memcpy(b.scales, k_scales, 12);
	for (c = 0; c < 4; c++)
		for (l = 0; l < 32; l++)
			b.qs[32 * c + l] = (uint8_t)((l & 15) |
			    (15 - (l & 15)) << 4);
	quant_dequantize_row(GGML_TYPE_Q4_K, &b, y, 256);
	for (e = 0; e < 256; e++) {
		/* Low nibbles in the first 32 of each 64, high after. */
		int j = e / 32, l2 = e % 32;
		int q = (e % 64) < 32 ? (l2 & 15) : 15 - (l2 & 15);
		float want = 1.0f * k_sc[j] * q - 0.5f * k_mn[j];

		ck_assert_msg(y[e] == want, "element %d: %g, want %g", e,
		    (double)y[e], (double)want);
	}
}
END_TEST

START_TEST(test_q5_k_block)
{
	struct block_q5_k b;
	float y[256];
	int e;

	/* All scales 1, mins 0, quants 0: only fifth bits show. */
	b.d = 0x3c00;
	b.dmin = 0x3c00;
	memset(b.scales, 0, 12);
	b.scales[0] = b.scales[1] = b.scales[2] = b.scales[3] = 1;
	b.scales[8] = b.scales[9] = b.scales[10] = b.scales[11] = 1;
	memset(b.qs, 0, sizeof(b.qs));
	memset(b.qh, 0, sizeof(b.qh));
	b.qh[5] = 0x04;		/* bit 2: chunk 1, low half, l 5 -> e 69 */
	b.qh[7] = 0x80;		/* bit 7: chunk 3, high half, l 7 -> e 231 */
	b.qh[0] = 0x01;		/* bit 0: chunk 0, low half, l 0 -> e 0 */
	b.qs[32 * 3 + 7] = 0x30;	/* e 231: low 4 bits 3 */
	quant_dequantize_row(GGML_TYPE_Q5_K, &b, y, 256);
	for (e = 0; e < 256; e++) {
		float want = 0.0f;

		if (e == 69 || e == 0)
			want = 16.0f;
		else if (e == 231)
			want = 19.0f;
		ck_assert_msg(y[e] == want, "element %d: %g, want %g", e,
		    (double)y[e], (double)want);
	}
}
END_TEST

START_TEST(test_q6_k_block)
{
	struct block_q6_k b;
	float y[256];
	int e;

	memset(&b, 0, sizeof(b));
	for (e = 0; e < 16; e++)
		b.scales[e] = (int8_t)(e - 8);	/* negative scales too */
	/* d is the LAST field: bytes 208..209. */
	((uint8_t *)&b)[208] = 0x00;
	((uint8_t *)&b)[209] = 0x38;		/* 0.5 */
	/* Element 195 = half 1, quarter 2, l 3: ql'[3] >> 4, qh'[3] >> 4. */
	b.ql[64 + 3] = 0xa0;
	b.qh[32 + 3] = 2 << 4;
	/* Element 39 = half 0, quarter 1, l 7: ql[39] & 15, qh[7] >> 2. */
	b.ql[39] = 0x05;
	b.qh[7] = 3 << 2;
	quant_dequantize_row(GGML_TYPE_Q6_K, &b, y, 256);
	for (e = 0; e < 256; e++) {
		int sc = e / 16 - 8, q = -32;

		if (e == 195)
			q = (0xa | 2 << 4) - 32;	/* 10 */
		else if (e == 39)
			q = (5 | 3 << 4) - 32;		/* 21 */
		ck_assert_msg(y[e] == 0.5f * sc * q, "element %d: %g", e,
		    (double)y[e]);
	}
	ck_assert(y[195] == 20.0f);
	ck_assert(y[39] == -63.0f);
	ck_assert(y[0] == 128.0f);		/* 0.5 * -8 * -32 */
}
END_TEST

START_TEST(test_float_rows)
{
	const uint16_t h[4] = { 0x0001, 0x8400, 0x7c00, 0x7e00 };
	const uint16_t bf[3] = { 0x3f80, 0xbf00, 0x0001 };
	const float f[2] = { 1.5f, -0.0f };
	float y[4];

	quant_dequantize_row(GGML_TYPE_F16, h, y, 4);
	ck_assert(y[0] == 0x1p-24f);
	ck_assert(y[1] == -0x1p-14f);
	ck_assert(isinf(y[2]));
	ck_assert(isnan(y[3]));
	quant_dequantize_row(GGML_TYPE_BF16, bf, y, 3);
	ck_assert(y[0] == 1.0f && y[1] == -0.5f);
	ck_assert_uint_eq(bits(y[2]), 0x00010000);
	quant_dequantize_row(GGML_TYPE_F32, f, y, 2);
	ck_assert(y[0] == 1.5f);
	ck_assert_uint_eq(bits(y[1]), 0x80000000);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bit-exact against ggml's decoder (tests/data, .dequant.json)       */
/* ------------------------------------------------------------------ */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a hex string of exactly 2 * n digits into out[0..n). */
static void
unhex(const struct cl_json *s, uint8_t *out, size_t n)
{
	size_t i;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->type, CL_JSON_STR);
	ck_assert_uint_eq(s->str_len, 2 * n);
	for (i = 0; i < n; i++) {
		int hi = hexval(s->str[2 * i]), lo = hexval(s->str[2 * i + 1]);

		ck_assert(hi >= 0 && lo >= 0);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
}

static struct cl_json *
load_json(const char *name)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_json *j = NULL;
	const char *top = getenv("CL_TOP_SRCDIR");
	char path[4096], *text = NULL;
	size_t len = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/tests/data/%s", top ? top : ".",
	    name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "cannot open '%s'", path);
	ck_assert_int_eq(cl_read_all(fd, 1 << 24, &text, &len, &err), CL_OK);
	close(fd);
	ck_assert_msg(cl_json_parse(text, len, &j, &err) == CL_OK, "%s: %s",
	    name, err.msg);
	cl_free(text);
	return j;
}

/* Decoded tensors per type id, over the three files. */
static unsigned ggml_seen[GGML_TYPE_COUNT];

static void
check_dequant_file(const char *name)
{
	struct cl_json *j = load_json(name);
	const struct cl_json *ts = cl_json_get(j, "tensors");
	size_t i, r, e;

	ck_assert_ptr_nonnull(ts);
	ck_assert_int_eq(ts->type, CL_JSON_ARR);
	ck_assert_uint_gt(ts->n, 0);
	for (i = 0; i < ts->n; i++) {
		const struct cl_json *t = cl_json_at(ts, i);
		const struct cl_json *raw = cl_json_get(t, "rows_raw_hex");
		const struct cl_json *f32 = cl_json_get(t, "rows_f32_hex");
		uint32_t type = (uint32_t)cl_json_get(t, "ggml_type_id")->num;
		size_t n = (size_t)cl_json_at(cl_json_get(t, "ne"), 0)->num;
		size_t rb = (size_t)cl_json_get(t, "row_bytes")->num;
		uint8_t *blk, *want;
		float *y;

		ck_assert(quant_type_is_computable(type));
		ck_assert_uint_eq(row_bytes(type, n), rb);
		ck_assert_uint_eq(raw->n, f32->n);
		blk = cl_malloc(rb);
		want = cl_malloc(4 * n);
		y = cl_malloc(4 * n);
		ck_assert(blk != NULL && want != NULL && y != NULL);
		for (r = 0; r < raw->n; r++) {
			unhex(cl_json_at(raw, r), blk, rb);
			unhex(cl_json_at(f32, r), want, 4 * n);
			quant_dequantize_row(type, blk, y, n);
			for (e = 0; e < n; e++) {
				/* Hex is most significant digit first. */
				uint32_t w = (uint32_t)want[4 * e] << 24 |
				    (uint32_t)want[4 * e + 1] << 16 |
				    (uint32_t)want[4 * e + 2] << 8 |
				    want[4 * e + 3];

				ck_assert_msg(bits(y[e]) == w,
				    "%s: tensor %zu row %zu element %zu: "
				    "%08x, ggml %08x", name, i, r, e,
				    bits(y[e]), w);
			}
		}
		ggml_seen[type]++;
		cl_free(blk);
		cl_free(want);
		cl_free(y);
	}
	cl_json_free(j);
}

START_TEST(test_ggml_bit_exact)
{
	check_dequant_file("synth-tiny-s1-q4_k_m.dequant.json");
	check_dequant_file("synth-tiny-s1-q5_k_m.dequant.json");
	check_dequant_file("synth-tiny-s1-q6_k.dequant.json");
	/* Every type the files hold was seen (README: all six). */
	ck_assert_uint_gt(ggml_seen[GGML_TYPE_Q4_K], 0);
	ck_assert_uint_gt(ggml_seen[GGML_TYPE_Q5_K], 0);
	ck_assert_uint_gt(ggml_seen[GGML_TYPE_Q6_K], 0);
	ck_assert_uint_gt(ggml_seen[GGML_TYPE_Q5_0], 0);
	ck_assert_uint_gt(ggml_seen[GGML_TYPE_Q5_1], 0);
	ck_assert_uint_gt(ggml_seen[GGML_TYPE_Q8_0], 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Quantize -> dequantize round trips                                  */
/* ------------------------------------------------------------------ */

#define F16_EPS	0x1p-11		/* relative rounding of an f16 scale */

/*
 * The largest |x - y| the format allows for block `b` of x[0..blk),
 * worked out from the values alone (see each case).  A small absolute
 * slack covers float rounding inside the quantizer.
 */
static double
error_bound(uint32_t type, const float *x, size_t blk)
{
	double amax = 0, min = x[0], max = x[0], bound = 0;
	size_t i;

	for (i = 0; i < blk; i++) {
		amax = fmax(amax, fabs(x[i]));
		min = fmin(min, x[i]);
		max = fmax(max, x[i]);
	}
	switch (type) {
	case GGML_TYPE_F32:
		return 0;
	case GGML_TYPE_F16:
		/* Half an ulp: relative, or 2^-25 among the subnormals. */
		return amax * F16_EPS + 0x1p-25;
	case GGML_TYPE_BF16:
		return amax * 0x1p-8;
	case GGML_TYPE_Q8_0:
		/* Step amax/127, half a step, plus the f16 scale error. */
		bound = amax / 254 + amax * F16_EPS;
		break;
	case GGML_TYPE_Q4_0:
	case GGML_TYPE_Q5_0:
		/*
		 * Step amax/8 (amax/16): the extreme lands on -8 (-16), the
		 * opposite extreme would need +8 (+16) and is clamped one
		 * step short, so one full step, plus the f16 scale error.
		 */
		bound = amax / (type == GGML_TYPE_Q4_0 ? 8 : 16) +
		    amax * F16_EPS;
		break;
	case GGML_TYPE_Q4_1:
	case GGML_TYPE_Q5_1:
		/* Half a step of (max - min)/15 (/31), f16 d and m errors. */
		bound = (max - min) / (type == GGML_TYPE_Q4_1 ? 30 : 62) +
		    (fabs(min) + (max - min)) * F16_EPS;
		break;
	default:
		CL_BUG("no bound");
	}
	return bound * 1.0001 + 1e-7;
}

/*
 * K-quant bound per sub-block: Q4_K/Q5_K have 8 sub-blocks of 32 on a
 * grid of nmax steps over [min(0, lo), hi], with 6-bit scales and mins
 * relative to f16 super-scales: the step is at most (R + mstep) / nmax
 * + dstep, where R = hi - min(0, lo), mstep = max(-lo)/63 and dstep =
 * max step / 63 (scale rounding), and the error is half a step.
 */
static double
k4_bound(const float *x, int nmax, int j)
{
	double lo[8], hi[8], mstep = 0, smax = 0;
	int s, l;

	for (s = 0; s < 8; s++) {
		lo[s] = 0;
		hi[s] = x[32 * s];
		for (l = 0; l < 32; l++) {
			lo[s] = fmin(lo[s], x[32 * s + l]);
			hi[s] = fmax(hi[s], x[32 * s + l]);
		}
		mstep = fmax(mstep, -lo[s] / 63);
	}
	mstep *= 1 + 2 * F16_EPS;
	for (s = 0; s < 8; s++)
		smax = fmax(smax, (hi[s] - lo[s] + mstep) / nmax);
	return 0.5 * ((hi[j] - lo[j] + mstep) / nmax +
	    smax / 63 * (1 + 2 * F16_EPS)) * 1.0001 + 1e-7;
}

/*
 * Q6_K per group of 16: step amax_g/32 rounded up by at most one unit of
 * d = max step / 127; one full step for the clamped +32 side.
 */
static double
q6k_bound(const float *x, int g)
{
	double amax = 0, dmax = 0;
	int k, l;

	for (k = 0; k < 16; k++) {
		double a = 0;

		for (l = 0; l < 16; l++)
			a = fmax(a, fabs(x[16 * k + l]));
		dmax = fmax(dmax, a / 32);
		if (k == g)
			amax = a;
	}
	return (amax / 32 + dmax / 127 * (1 + 2 * F16_EPS)) * 1.0001 + 1e-7;
}

/* Quantize x[0..n) to `type`, decode, and hold every error to its bound. */
static void
check_roundtrip(uint32_t type, const float *x, size_t n)
{
	const struct ggml_type_info *ti = ggml_type_info(type);
	size_t blk = ti->blck_elems == 1 ? 1 : ti->blck_elems, i, b;
	void *q = cl_malloc(row_bytes(type, n) + 1);
	float *y = cl_malloc(n * sizeof(*y));
	double bound = 0;

	ck_assert(q != NULL && y != NULL);
	quant_quantize_row(type, x, q, n);
	quant_dequantize_row(type, q, y, n);
	for (b = 0; b < n; b += blk) {
		for (i = b; i < b + blk; i++) {
			if (type == GGML_TYPE_Q4_K)
				bound = k4_bound(x + b, 15, (int)(i - b) / 32);
			else if (type == GGML_TYPE_Q5_K)
				bound = k4_bound(x + b, 31, (int)(i - b) / 32);
			else if (type == GGML_TYPE_Q6_K)
				bound = q6k_bound(x + b, (int)(i - b) / 16);
			else
				bound = error_bound(type, x + b, blk);
			ck_assert_msg(fabs((double)y[i] - x[i]) <= bound,
			    "%s n %zu element %zu: x %.9g y %.9g bound %.3g",
			    ti->name, n, i, (double)x[i], (double)y[i],
			    bound);
		}
	}
	cl_free(q);
	cl_free(y);
}

START_TEST(test_roundtrip_random)
{
	static const size_t sizes[] = { 256, 4096 };
	float *x = cl_malloc(4096 * sizeof(*x));
	size_t t, s, i;

	ck_assert_ptr_nonnull(x);
	for (t = 0; t < CL_ARRAY_LEN(storage_types); t++) {
		for (s = 0; s < CL_ARRAY_LEN(sizes); s++) {
			for (i = 0; i < sizes[s]; i++)
				x[i] = nrand() * 0.05f;
			check_roundtrip(storage_types[t], x, sizes[s]);
		}
	}
	cl_free(x);
}
END_TEST

START_TEST(test_roundtrip_edges)
{
	float x[512], *y;
	size_t t, i;
	int c;

	for (t = 0; t < CL_ARRAY_LEN(storage_types); t++) {
		uint32_t type = storage_types[t];
		size_t blk = ggml_type_info(type)->blck_elems;
		size_t n = blk == 1 ? 32 : blk;	/* exactly one block */

		for (c = 0; c < 6; c++) {
			for (i = 0; i < 512; i++)
				x[i] = nrand() * 0.01f;
			switch (c) {
			case 0:		/* all zeros decode to zeros */
				memset(x, 0, sizeof(x));
				break;
			case 1:		/* one huge value */
				x[n / 3] = 1000.0f;
				break;
			case 2:		/* the extreme is negative */
				x[n - 1] = -7.0f;
				break;
			case 3:		/* all positive: the min is not 0 */
				for (i = 0; i < 512; i++)
					x[i] = 1.0f + fabsf(x[i]);
				break;
			case 4:		/* all negative */
				for (i = 0; i < 512; i++)
					x[i] = -2.0f - fabsf(x[i]);
				break;
			case 5:		/* a constant */
				for (i = 0; i < 512; i++)
					x[i] = 0.375f;
				break;
			}
			check_roundtrip(type, x, n);
			check_roundtrip(type, x, 512 - 512 % n);
			if (c == 0) {
				uint8_t q[512 * 4];

				quant_quantize_row(type, x, q, n);
				y = dequant(type, q, n);
				for (i = 0; i < n; i++)
					ck_assert(y[i] == 0.0f);
				cl_free(y);
			}
		}
	}
}
END_TEST

/*
 * Q4_0, Q5_0, Q8_0 are ggml's reference quantizers: check the exact
 * codes on a block where the formulas can be worked out by hand.
 */
START_TEST(test_reference_quantizers)
{
	struct block_q4_0 b4;
	struct block_q8_0 b8;
	struct block_q4_1 b41;
	float x[32];
	int j;

	/* max = -8 -> d = 1, q = trunc(x + 8.5) capped at 15. */
	for (j = 0; j < 32; j++)
		x[j] = (float)(j % 16) - 8.0f;
	x[31] = 8.0f;				/* +8 would be 16: capped */
	x[30] = -8.0f;
	quant_quantize_row(GGML_TYPE_Q4_0, x, &b4, 32);
	ck_assert_uint_eq(b4.d, 0x3c00);
	ck_assert_uint_eq(b4.qs[0], 0 | 0 << 4);
	ck_assert_uint_eq(b4.qs[5], 5 | 5 << 4);
	ck_assert_uint_eq(b4.qs[14], 14 | 0 << 4);
	ck_assert_uint_eq(b4.qs[15], 15 | 15 << 4);

	/* amax 127 -> d = 1; roundf: halves go away from zero. */
	for (j = 0; j < 32; j++)
		x[j] = 0.0f;
	x[0] = 127.0f;
	x[1] = 2.5f;
	x[2] = -2.5f;
	x[3] = 3.49f;
	quant_quantize_row(GGML_TYPE_Q8_0, x, &b8, 32);
	ck_assert_uint_eq(b8.d, 0x3c00);
	ck_assert_int_eq(b8.qs[0], 127);
	ck_assert_int_eq(b8.qs[1], 3);
	ck_assert_int_eq(b8.qs[2], -3);
	ck_assert_int_eq(b8.qs[3], 3);

	/* min -1, max 14: d = 1, m = -1, q = x + 1. */
	for (j = 0; j < 32; j++)
		x[j] = (float)(j % 16) - 1.0f;
	quant_quantize_row(GGML_TYPE_Q4_1, x, &b41, 32);
	ck_assert_uint_eq(b41.d, 0x3c00);
	ck_assert_uint_eq(b41.m, 0xbc00);
	for (j = 0; j < 16; j++)
		ck_assert_uint_eq(b41.qs[j], j | j << 4);
}
END_TEST

/*
 * Against ggml's quantizer: the refvector GGUFs were quantized by
 * llama.cpp from synth-tiny-s1-f32.gguf.  Q4_0, Q5_0, Q5_1 and Q8_0 use
 * ggml's reference quantizers, which ours follow, so the bytes must be
 * identical.  ggml's K-quant quantizers search per block; our one-pass
 * fit must stay within 25% of their RMS error on every tensor.
 */
static struct gguf *
open_gguf(const char *dir_env, const char *name)
{
	struct cl_err err = CL_ERR_INIT;
	struct gguf *g = NULL;
	const char *top = getenv(dir_env);
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/tests/data/%s", top ? top : ".",
	    name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "cannot open '%s'", path);
	ck_assert_msg(gguf_open_fd(fd, &g, &err) == CL_OK, "%s: %s", name,
	    err.msg);
	close(fd);
	return g;
}

static void
check_quantizer_file(const struct gguf *f32, const char *name,
    unsigned *n_exact, unsigned *n_k)
{
	struct gguf *q = open_gguf("CL_TOP_SRCDIR", name);
	size_t i, k;

	for (i = 0; i < gguf_n_tensors(q); i++) {
		const struct gguf_tensor *tq = gguf_tensor_at(q, i);
		const struct gguf_tensor *tf = gguf_find_tensor(f32, tq->name);
		const float *x;
		uint8_t *buf;
		float *ours, *theirs;
		double eo = 0, et = 0;
		size_t n;

		ck_assert_ptr_nonnull(tf);
		n = tf->nbytes / sizeof(float);
		x = tf->data;
		ck_assert_uint_eq(tf->type, GGML_TYPE_F32);
		if (tq->type == GGML_TYPE_F32)
			continue;
		ck_assert_uint_eq(row_bytes(tq->type, n), tq->nbytes);
		buf = cl_malloc(tq->nbytes);
		ck_assert_ptr_nonnull(buf);
		quant_quantize_row(tq->type, x, buf, n);
		if (tq->type < GGML_TYPE_Q2_K) {
			ck_assert_msg(memcmp(buf, tq->data, tq->nbytes) == 0,
			    "%s: %s (%s) differs from ggml's quantizer",
			    name, tq->name, ggml_type_info(tq->type)->name);
			(*n_exact)++;
			cl_free(buf);
			continue;
		}
		ours = dequant(tq->type, buf, n);
		theirs = dequant(tq->type, tq->data, n);
		for (k = 0; k < n; k++) {
			double a = (double)ours[k] - x[k];
			double b = (double)theirs[k] - x[k];

			eo += a * a;
			et += b * b;
		}
		ck_assert_msg(sqrt(eo) <= 1.25 * sqrt(et),
		    "%s: %s (%s): RMS error %g vs ggml %g", name, tq->name,
		    ggml_type_info(tq->type)->name, sqrt(eo / n),
		    sqrt(et / n));
		(*n_k)++;
		cl_free(buf);
		cl_free(ours);
		cl_free(theirs);
	}
	gguf_close(q);
}

START_TEST(test_ggml_quantizers)
{
	struct gguf *f32 = open_gguf("CL_TOP_BUILDDIR",
	    "synth-tiny-s1-f32.gguf");
	unsigned n_exact = 0, n_k = 0;

	check_quantizer_file(f32, "synth-tiny-s1-q8_0.gguf", &n_exact, &n_k);
	check_quantizer_file(f32, "synth-tiny-s1-q4_0.gguf", &n_exact, &n_k);
	check_quantizer_file(f32, "synth-tiny-s1-q4_k_m.gguf", &n_exact,
	    &n_k);
	check_quantizer_file(f32, "synth-tiny-s1-q5_k_m.gguf", &n_exact,
	    &n_k);
	check_quantizer_file(f32, "synth-tiny-s1-q6_k.gguf", &n_exact, &n_k);
	/* README: 35 + 35 Q8_0/Q4_0, and 10 + 10 + 10 legacy in the mixes. */
	ck_assert_uint_eq(n_exact, 100);
	ck_assert_uint_eq(n_k, 75);
	gguf_close(f32);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Activation quantizers                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_q8_0_act)
{
	struct block_q8_0 b[2];
	struct block_q8_1 b1;
	float x[64];
	int j;

	memset(x, 0, sizeof(x));
	x[0] = -127.0f;			/* amax 127: id = 1 */
	x[1] = 2.5f;			/* half to even: 2 */
	x[2] = 3.5f;			/* 4 */
	x[3] = -2.5f;			/* -2 */
	x[4] = 0.4f;
	quant_quantize_row_q8_0_act(x, b, 64);
	ck_assert_uint_eq(b[0].d, 0x3c00);
	ck_assert_int_eq(b[0].qs[0], -127);
	ck_assert_int_eq(b[0].qs[1], 2);
	ck_assert_int_eq(b[0].qs[2], 4);
	ck_assert_int_eq(b[0].qs[3], -2);
	ck_assert_int_eq(b[0].qs[4], 0);
	/* The second block is all zeros: d = 0, q = 0. */
	ck_assert_uint_eq(b[1].d, 0);
	for (j = 0; j < 32; j++)
		ck_assert_int_eq(b[1].qs[j], 0);

	/* Q8_1: s = f16(d * sum q) = 1 * (-127 + 2 + 4 - 2) = -123. */
	quant_quantize_row_q8_1(x, &b1, 32);
	ck_assert_uint_eq(b1.d, 0x3c00);
	ck_assert(quant_f16_to_f32(b1.s) == -123.0f);
	ck_assert_int_eq(b1.qs[2], 4);

	/* amax 254: d = 2 and id = 0.5; 3 * 0.5 = 1.5 -> 2, 5 -> 2.5 -> 2. */
	memset(x, 0, sizeof(x));
	x[7] = 254.0f;
	x[8] = 3.0f;
	x[9] = 5.0f;
	quant_quantize_row_q8_0_act(x, b, 32);
	ck_assert_uint_eq(b[0].d, 0x4000);
	ck_assert_int_eq(b[0].qs[7], 127);
	ck_assert_int_eq(b[0].qs[8], 2);
	ck_assert_int_eq(b[0].qs[9], 2);
}
END_TEST

START_TEST(test_q8_k_act)
{
	struct block_q8_k b[2];
	float x[512];
	int j;

	memset(x, 0, sizeof(x));
	/* xm = -2 (the first of -2 and 2): iscale = 63.5, d = 1/63.5. */
	x[0] = -2.0f;
	x[1] = 1.0f;			/* 63.5 -> 64 (even) */
	x[2] = 0.5f;			/* 31.75 -> 32 */
	x[3] = 2.0f;			/* 127 */
	x[17] = -1.0f;			/* -63.5 -> -64 */
	x[18] = 3.0f / 127.0f;		/* about 1.5 */
	/* Second block: positive xm flips the sign of d. */
	x[256] = 3.0f;
	x[257] = -1.5f;			/* 63.5 -> 64 */
	x[300] = 1.0f;
	quant_quantize_row_q8_k(x, b, 512);
	ck_assert(b[0].d == 1 / (-127.0f / -2.0f));
	ck_assert_int_eq(b[0].qs[0], -127);
	ck_assert_int_eq(b[0].qs[1], 64);
	ck_assert_int_eq(b[0].qs[2], 32);
	ck_assert_int_eq(b[0].qs[3], 127);
	ck_assert_int_eq(b[0].qs[17], -64);
	ck_assert_int_eq(b[0].qs[18], (int)nearbyintf(63.5f * x[18]));
	ck_assert_int_eq(b[0].bsums[0], -127 + 64 + 32 + 127);
	ck_assert_int_eq(b[0].bsums[1], -64 + b[0].qs[18]);
	for (j = 2; j < 16; j++)
		ck_assert_int_eq(b[0].bsums[j], 0);
	ck_assert(b[1].d == 1 / (-127.0f / 3.0f));
	ck_assert(b[1].d < 0);
	ck_assert_int_eq(b[1].qs[0], -127);
	ck_assert_int_eq(b[1].qs[1], 64);
	ck_assert_int_eq(b[1].qs[44], (int)nearbyintf(-127.0f / 3.0f));
	ck_assert_int_eq(b[1].bsums[0], -127 + 64);
	ck_assert_int_eq(b[1].bsums[2], b[1].qs[44]);

	/* All zeros: d = 0 and every quant 0. */
	memset(x, 0, sizeof(x));
	quant_quantize_row_q8_k(x, b, 256);
	ck_assert(b[0].d == 0.0f);
	for (j = 0; j < 256; j++)
		ck_assert_int_eq(b[0].qs[j], 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Integer dot products                                                */
/* ------------------------------------------------------------------ */

/* Dequantize an activation row of type atype (Q8_0, Q8_1, Q8_K). */
static void
dequant_act(uint32_t atype, const void *a, float *y, size_t n)
{
	const struct block_q8_0 *b0 = a;
	const struct block_q8_1 *b1 = a;
	const struct block_q8_k *bk = a;
	size_t i;

	for (i = 0; i < n; i++) {
		if (atype == GGML_TYPE_Q8_0)
			y[i] = b0[i / 32].qs[i % 32] *
			    quant_f16_to_f32(b0[i / 32].d);
		else if (atype == GGML_TYPE_Q8_1)
			y[i] = b1[i / 32].qs[i % 32] *
			    quant_f16_to_f32(b1[i / 32].d);
		else
			y[i] = bk[i / 256].qs[i % 256] * bk[i / 256].d;
	}
}

START_TEST(test_vec_dot)
{
	static const uint32_t wt[] = {
		GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
		GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K,
		GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
	};
	const size_t n = 4096;
	float *x = cl_malloc(n * sizeof(*x)), *w = cl_malloc(n * sizeof(*w));
	float *wd = cl_malloc(n * sizeof(*wd)), *ad = cl_malloc(n * 4);
	void *wq = cl_malloc(n * 2), *aq = cl_malloc(n * 2);
	size_t t, i;
	int rep;

	ck_assert(x && w && wd && ad && wq && aq);
	for (rep = 0; rep < 4; rep++) {
		for (i = 0; i < n; i++) {
			w[i] = nrand() * 0.03f;
			x[i] = nrand() * (rep == 3 ? 40.0f : 1.0f);
		}
		for (t = 0; t < CL_ARRAY_LEN(wt); t++) {
			uint32_t atype = quant_vec_dot_type(wt[t]);
			size_t blk = atype == GGML_TYPE_Q8_K ? 256 : 32;
			double exact_q = 0, exact_x = 0, mag = 0, sround = 0;
			double arnd = 0;
			float got;

			quant_quantize_row(wt[t], w, wq, n);
			quant_dequantize_row(wt[t], wq, wd, n);
			quant_act_quantize(wt[t], x, aq, n);
			dequant_act(atype, aq, ad, n);
			for (i = 0; i < n; i++) {
				exact_q += (double)wd[i] * ad[i];
				exact_x += (double)wd[i] * x[i];
				mag += fabs((double)wd[i] * ad[i]);
			}
			/*
			 * Q8_1 carries s = f16(d * sum q): its rounding
			 * times the weight minimum, per block.
			 */
			if (atype == GGML_TYPE_Q8_1) {
				const struct block_q8_1 *b1 = aq;

				for (i = 0; i < n / 32; i++) {
					double s = 0, mn = 1e30, amax = 0;
					size_t k;

					for (k = 0; k < 32; k++) {
						s += b1[i].qs[k];
						mn = fmin(mn, wd[32 * i + k]);
					}
					for (k = 0; k < 32; k++)
						amax = fmax(amax,
						    fabs(x[32 * i + k]));
					sround += (fabs(mn) + 0.1) *
					    (fabs(s) + 32) * amax / 127 *
					    2 * F16_EPS;
				}
			}
			/* Activation rounding: half a step per element. */
			for (i = 0; i < n; i += blk) {
				double amax = 0;
				size_t k;

				for (k = i; k < i + blk; k++)
					amax = fmax(amax, fabs(x[k]));
				for (k = i; k < i + blk; k++)
					arnd += fabs(wd[k]) * (amax / 254 *
					    (1 + 4 * F16_EPS) + amax *
					    F16_EPS);
			}
			got = quant_vec_dot(wt[t], wq, aq, n);
			/* Same quantized values: only float rounding. */
			ck_assert_msg(fabs(got - exact_q) <= 1e-5 * mag +
			    sround + 1e-6, "%s: %.9g vs %.9g (mag %g)",
			    ggml_type_info(wt[t])->name, (double)got,
			    exact_q, mag);
			/* Against unrounded activations. */
			ck_assert_msg(fabs(got - exact_x) <= 1e-5 * mag +
			    sround + arnd + 1e-6, "%s: %.9g vs x %.9g",
			    ggml_type_info(wt[t])->name, (double)got,
			    exact_x);
		}
	}
	cl_free(x);
	cl_free(w);
	cl_free(wd);
	cl_free(ad);
	cl_free(wq);
	cl_free(aq);
}
END_TEST

/* The named functions are the ones quant_vec_dot() dispatches to. */
START_TEST(test_vec_dot_named)
{
	float w[256], x[256], aq[256];
	uint16_t wq[256];
	size_t i;

	for (i = 0; i < 256; i++) {
		w[i] = nrand();
		x[i] = nrand();
	}
	quant_quantize_row(GGML_TYPE_Q6_K, w, wq, 256);
	quant_quantize_row_q8_k(x, (struct block_q8_k *)(void *)aq, 256);
	ck_assert(quant_vec_dot_q6_k_q8_k(wq, aq, 256) ==
	    quant_vec_dot(GGML_TYPE_Q6_K, wq, aq, 256));
	quant_quantize_row(GGML_TYPE_Q5_1, w, wq, 256);
	quant_quantize_row_q8_1(x, (struct block_q8_1 *)(void *)aq, 256);
	ck_assert(quant_vec_dot_q5_1_q8_1(wq, aq, 256) ==
	    quant_vec_dot(GGML_TYPE_Q5_1, wq, aq, 256));
	/* Float weights: activations are the floats themselves. */
	quant_quantize_row(GGML_TYPE_BF16, w, wq, 256);
	quant_act_quantize(GGML_TYPE_BF16, x, aq, 256);
	ck_assert(memcmp(aq, x, sizeof(x)) == 0);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *
quant_suite(void)
{
	Suite *s = suite_create("quant");
	TCase *tc;

	tc = tcase_create("floats");
	tcase_add_test(tc, test_f16_decode);
	tcase_add_test(tc, test_f16_encode);
	tcase_add_test(tc, test_f16_roundtrip_all);
	tcase_add_test(tc, test_bf16);
	suite_add_tcase(s, tc);

	tc = tcase_create("types");
	tcase_add_test(tc, test_types);
	tcase_add_test_raise_signal(tc, test_dequant_bad_type_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, test_dequant_bad_len_aborts, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("blocks");
	tcase_add_test(tc, test_q4_0_block);
	tcase_add_test(tc, test_q4_1_block);
	tcase_add_test(tc, test_q5_0_block);
	tcase_add_test(tc, test_q5_1_block);
	tcase_add_test(tc, test_q8_0_block);
	tcase_add_test(tc, test_q4_k_block);
	tcase_add_test(tc, test_q5_k_block);
	tcase_add_test(tc, test_q6_k_block);
	tcase_add_test(tc, test_float_rows);
	suite_add_tcase(s, tc);

	tc = tcase_create("ggml");
	tcase_add_test(tc, test_ggml_bit_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("quantize");
	tcase_add_test(tc, test_roundtrip_random);
	tcase_add_test(tc, test_roundtrip_edges);
	tcase_add_test(tc, test_reference_quantizers);
	tcase_add_test(tc, test_ggml_quantizers);
	suite_add_tcase(s, tc);

	tc = tcase_create("activations");
	tcase_add_test(tc, test_q8_0_act);
	tcase_add_test(tc, test_q8_k_act);
	tcase_add_test(tc, test_vec_dot);
	tcase_add_test(tc, test_vec_dot_named);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(quant_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
