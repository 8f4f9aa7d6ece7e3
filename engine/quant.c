/*
 * quant.c - ggml tensor element types: conversions, dequantization,
 * quantization and the scalar integer dot products (see quant.h).
 *
 * Divisions:
 *   1. f16 / bf16 <-> f32
 *   2. type queries and row sizes
 *   3. dequantization, one function per type (lfm2-spec.md 2.1 - 2.5)
 *   4. weight quantizers (for the synthetic model writer)
 *   5. activation quantizers Q8_0, Q8_1, Q8_K (spec 2.6)
 *   6. integer dot products (spec 2.6)
 *
 * The dequantizers evaluate each value with the same operations, in the
 * same order, as ggml's dequantize_row_* so that the results are equal
 * bit for bit (the .dequant.json files in tests/data check this).
 *
 * XXX: bit-exactness of the "q * d + m" forms also needs the compiler not
 * to contract them into fused multiply-adds.  GCC contracts by default
 * only when the target has FMA instructions, which the generic x86-64
 * build does not; an AArch64 build should add -ffp-contract=off to this
 * file's flags if bit parity with x86 ggml matters there.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine/quant.h"
#include "util/util.h"

/* ------------------------------------------------------------------ */
/* 1. f16 / bf16 <-> f32                                               */
/* ------------------------------------------------------------------ */

static inline uint32_t
f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float
bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* The decoder, inlined into the row loops below. */
static inline float
f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t em = h & 0x7fff;		/* exponent and mantissa */
	float f;

	if (em >= 0x0400 && em < 0x7c00)	/* normal: rebias 15 -> 127 */
		return bits_f32(sign | ((em << 13) + (112u << 23)));
	if (em >= 0x7c00)			/* inf, NaN (payload kept) */
		return bits_f32(sign | 0x7f800000u | ((em & 0x3ff) << 13));
	/* Zero or subnormal: mantissa * 2^-24, exact in f32. */
	f = (float)em * 0x1p-24f;
	return sign ? -f : f;
}

float
quant_f16_to_f32(uint16_t h)
{
	return f16_to_f32(h);
}

uint16_t
quant_f32_to_f16(float f)
{
	uint32_t x = f32_bits(f);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t ax = x & 0x7fffffffu;
	uint32_t e, m, q, rem, half, shift;

	if (ax > 0x7f800000u)		/* NaN: quiet, sign and top payload */
		return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
	if (ax >= 0x477ff000u)		/* >= 65520 rounds to infinity */
		return (uint16_t)(sign | 0x7c00);
	e = ax >> 23;
	if (e < 113) {
		/*
		 * Below 2^-14: a subnormal half.  2^-25 and less round to
		 * zero (2^-25 itself is a tie, and zero is even).
		 */
		if (e < 102)
			return (uint16_t)sign;
		m = (ax & 0x7fffffu) | 0x800000u;
		shift = 126 - e;	/* 14 .. 24 */
		q = m >> shift;
		rem = m & ((1u << shift) - 1);
		half = 1u << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
		return (uint16_t)(sign | q);
	}
	q = ((e - 112) << 10) | ((ax >> 13) & 0x3ff);
	rem = ax & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
		q++;			/* may carry into the exponent: right */
	return (uint16_t)(sign | q);
}

float
quant_bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

uint16_t
quant_f32_to_bf16(float f)
{
	uint32_t x = f32_bits(f);

	if ((x & 0x7fffffffu) > 0x7f800000u)	/* NaN: keep it, force quiet */
		return (uint16_t)((x >> 16) | 0x40);
	x += 0x7fffu + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

/* ------------------------------------------------------------------ */
/* 2. Type queries and row sizes                                       */
/* ------------------------------------------------------------------ */

bool
quant_type_is_computable(uint32_t type)
{
	switch (type) {
	case GGML_TYPE_F32:
	case GGML_TYPE_F16:
	case GGML_TYPE_BF16:
	case GGML_TYPE_Q4_0:
	case GGML_TYPE_Q4_1:
	case GGML_TYPE_Q5_0:
	case GGML_TYPE_Q5_1:
	case GGML_TYPE_Q8_0:
	case GGML_TYPE_Q4_K:
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
		return true;
	default:
		return false;
	}
}

int
quant_row_bytes(uint32_t type, uint64_t n, size_t *out)
{
	const struct ggml_type_info *ti;
	uint64_t bytes;

	if ((ti = ggml_type_info(type)) == NULL || n % ti->blck_elems != 0)
		return CL_EINVAL;
	if (!cl_mul_u64(n / ti->blck_elems, ti->blck_bytes, &bytes) ||
	    bytes > SIZE_MAX)
		return CL_ELIMIT;
	*out = (size_t)bytes;
	return CL_OK;
}

/* Abort unless n is a whole number of blocks of a type we handle. */
static size_t
n_blocks(uint32_t type, size_t n)
{
	const struct ggml_type_info *ti;

	if ((ti = ggml_type_info(type)) == NULL)
		CL_BUG("quant: unknown tensor type");
	if (n % ti->blck_elems != 0)
		CL_BUG("quant: row length not a multiple of the block size");
	return n / ti->blck_elems;
}

/* ------------------------------------------------------------------ */
/* 3. Dequantization                                                   */
/* ------------------------------------------------------------------ */

static inline uint32_t
le32_of(const uint8_t b[4])
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

static void
dequant_row_f16(const uint16_t *x, float *y, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		y[i] = f16_to_f32(x[i]);
}

static void
dequant_row_bf16(const uint16_t *x, float *y, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		y[i] = quant_bf16_to_f32(x[i]);
}

static void
dequant_row_q4_0(const struct block_q4_0 *x, float *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, y += QUANT_QK) {
		const float d = f16_to_f32(x[i].d);

		for (j = 0; j < QUANT_QK / 2; j++) {
			const int x0 = (x[i].qs[j] & 0x0f) - 8;
			const int x1 = (x[i].qs[j] >> 4) - 8;

			y[j] = x0 * d;
			y[j + QUANT_QK / 2] = x1 * d;
		}
	}
}

static void
dequant_row_q4_1(const struct block_q4_1 *x, float *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, y += QUANT_QK) {
		const float d = f16_to_f32(x[i].d);
		const float m = f16_to_f32(x[i].m);

		for (j = 0; j < QUANT_QK / 2; j++) {
			const int x0 = x[i].qs[j] & 0x0f;
			const int x1 = x[i].qs[j] >> 4;

			y[j] = x0 * d + m;
			y[j + QUANT_QK / 2] = x1 * d + m;
		}
	}
}

static void
dequant_row_q5_0(const struct block_q5_0 *x, float *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, y += QUANT_QK) {
		const float d = f16_to_f32(x[i].d);
		const uint32_t qh = le32_of(x[i].qh);

		for (j = 0; j < QUANT_QK / 2; j++) {
			const int h0 = ((qh >> j) & 1) << 4;
			const int h1 = ((qh >> (j + 16)) & 1) << 4;
			const int x0 = ((x[i].qs[j] & 0x0f) | h0) - 16;
			const int x1 = ((x[i].qs[j] >> 4) | h1) - 16;

			y[j] = x0 * d;
			y[j + QUANT_QK / 2] = x1 * d;
		}
	}
}

static void
dequant_row_q5_1(const struct block_q5_1 *x, float *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, y += QUANT_QK) {
		const float d = f16_to_f32(x[i].d);
		const float m = f16_to_f32(x[i].m);
		const uint32_t qh = le32_of(x[i].qh);

		for (j = 0; j < QUANT_QK / 2; j++) {
			const int h0 = ((qh >> j) & 1) << 4;
			const int h1 = ((qh >> (j + 16)) & 1) << 4;
			const int x0 = (x[i].qs[j] & 0x0f) | h0;
			const int x1 = (x[i].qs[j] >> 4) | h1;

			y[j] = x0 * d + m;
			y[j + QUANT_QK / 2] = x1 * d + m;
		}
	}
}

static void
dequant_row_q8_0(const struct block_q8_0 *x, float *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, y += QUANT_QK) {
		const float d = f16_to_f32(x[i].d);

		for (j = 0; j < QUANT_QK; j++)
			y[j] = x[i].qs[j] * d;
	}
}

static void
dequant_row_q4_k(const struct block_q4_k *x, float *y, size_t nb)
{
	size_t i;
	int c, l;
	uint8_t sc, m;

	for (i = 0; i < nb; i++) {
		const float d = f16_to_f32(x[i].d);
		const float dmin = f16_to_f32(x[i].dmin);
		const uint8_t *q = x[i].qs;

		/* Chunk c: 32 bytes, low nibbles sub-block 2c, high 2c+1. */
		for (c = 0; c < 4; c++, q += 32) {
			quant_k4_scale_min(2 * c, x[i].scales, &sc, &m);
			const float d1 = d * sc, m1 = dmin * m;
			quant_k4_scale_min(2 * c + 1, x[i].scales, &sc, &m);
			const float d2 = d * sc, m2 = dmin * m;

			for (l = 0; l < 32; l++)
				*y++ = d1 * (q[l] & 0x0f) - m1;
			for (l = 0; l < 32; l++)
				*y++ = d2 * (q[l] >> 4) - m2;
		}
	}
}

static void
dequant_row_q5_k(const struct block_q5_k *x, float *y, size_t nb)
{
	size_t i;
	int c, l;
	uint8_t sc, m;

	for (i = 0; i < nb; i++) {
		const float d = f16_to_f32(x[i].d);
		const float dmin = f16_to_f32(x[i].dmin);
		const uint8_t *q = x[i].qs;
		const uint8_t *qh = x[i].qh;

		/* Chunk c takes its fifth bits from bits 2c, 2c+1 of qh[l]. */
		for (c = 0; c < 4; c++, q += 32) {
			const uint8_t u1 = (uint8_t)(1u << (2 * c));
			const uint8_t u2 = (uint8_t)(2u << (2 * c));

			quant_k4_scale_min(2 * c, x[i].scales, &sc, &m);
			const float d1 = d * sc, m1 = dmin * m;
			quant_k4_scale_min(2 * c + 1, x[i].scales, &sc, &m);
			const float d2 = d * sc, m2 = dmin * m;

			for (l = 0; l < 32; l++)
				*y++ = d1 * ((q[l] & 0x0f) +
				    (qh[l] & u1 ? 16 : 0)) - m1;
			for (l = 0; l < 32; l++)
				*y++ = d2 * ((q[l] >> 4) +
				    (qh[l] & u2 ? 16 : 0)) - m2;
		}
	}
}

/*
 * The 256 signed quants (q - 32, in -32..31) of a Q6_K block, in element
 * order (spec 2.5): in half h, for l = 0..31 the low nibbles of ql'[l]
 * and ql'[l+32] give elements l and 32+l, their high nibbles 64+l and
 * 96+l; the high two bits come from qh'[l] >> 0, 2, 4, 6 respectively.
 */
static void
q6_k_unpack(const struct block_q6_k *b, int8_t q[QUANT_QK_K])
{
	int h, l;

	for (h = 0; h < 2; h++) {
		const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
		int8_t *o = q + 128 * h;

		for (l = 0; l < 32; l++) {
			o[l] = (int8_t)(((ql[l] & 0x0f) |
			    ((qh[l] >> 0) & 3) << 4) - 32);
			o[l + 32] = (int8_t)(((ql[l + 32] & 0x0f) |
			    ((qh[l] >> 2) & 3) << 4) - 32);
			o[l + 64] = (int8_t)(((ql[l] >> 4) |
			    ((qh[l] >> 4) & 3) << 4) - 32);
			o[l + 96] = (int8_t)(((ql[l + 32] >> 4) |
			    ((qh[l] >> 6) & 3) << 4) - 32);
		}
	}
}

static void
dequant_row_q6_k(const struct block_q6_k *x, float *y, size_t nb)
{
	int8_t q[QUANT_QK_K];
	size_t i;
	int e;

	for (i = 0; i < nb; i++, y += QUANT_QK_K) {
		const float d = f16_to_f32(x[i].d);

		q6_k_unpack(&x[i], q);
		for (e = 0; e < QUANT_QK_K; e++)
			y[e] = d * x[i].scales[e / 16] * q[e];
	}
}

void
quant_dequantize_row(uint32_t type, const void *src, float *dst, size_t n)
{
	size_t nb = n_blocks(type, n);

	switch (type) {
	case GGML_TYPE_F32:
		memcpy(dst, src, n * sizeof(float));
		break;
	case GGML_TYPE_F16:
		dequant_row_f16(src, dst, n);
		break;
	case GGML_TYPE_BF16:
		dequant_row_bf16(src, dst, n);
		break;
	case GGML_TYPE_Q4_0:
		dequant_row_q4_0(src, dst, nb);
		break;
	case GGML_TYPE_Q4_1:
		dequant_row_q4_1(src, dst, nb);
		break;
	case GGML_TYPE_Q5_0:
		dequant_row_q5_0(src, dst, nb);
		break;
	case GGML_TYPE_Q5_1:
		dequant_row_q5_1(src, dst, nb);
		break;
	case GGML_TYPE_Q8_0:
		dequant_row_q8_0(src, dst, nb);
		break;
	case GGML_TYPE_Q4_K:
		dequant_row_q4_k(src, dst, nb);
		break;
	case GGML_TYPE_Q5_K:
		dequant_row_q5_k(src, dst, nb);
		break;
	case GGML_TYPE_Q6_K:
		dequant_row_q6_k(src, dst, nb);
		break;
	default:
		CL_BUG("quant: dequantizing a type that is not computable");
	}
}

/* ------------------------------------------------------------------ */
/* 4. Weight quantizers                                                */
/* ------------------------------------------------------------------ */

/*
 * v rounded to the nearest integer, ties to even, clamped to [lo, hi]
 * (NaN gives lo).  Adding 1.5 * 2^23 makes the FPU round to an integer
 * in the low mantissa bits (ggml's nearest_int); exact for the clamped
 * range.  Needs FLT_EVAL_METHOD 0 (SSE, NEON), which the targets have.
 */
static inline int
round_clamp(float v, int lo, int hi)
{
	float t;
	int32_t i;

	if (!(v >= (float)lo))
		v = (float)lo;
	if (v > (float)hi)
		v = (float)hi;
	t = v + 12582912.0f;
	memcpy(&i, &t, sizeof(i));
	return (i & 0x007fffff) - 0x00400000;
}

/* (int)v truncated toward zero, clamped to [0, hi] (NaN gives 0). */
static inline int
trunc_clamp(float v, int hi)
{
	if (!(v >= 0.0f))
		return 0;
	if (v >= (float)hi)
		return hi;
	return (int)v;
}

/* roundf(v) (ties away from zero) clamped to [-127, 127]. */
static inline int
roundf_clamp127(float v)
{
	if (!(v >= -127.0f))
		return v != v ? 0 : -127;
	if (v > 127.0f)
		return 127;
	return (int)roundf(v);
}

/*
 * The smallest finite f16 >= v for v >= 0 (the largest finite f16 when
 * v is larger, or NaN).  Used for super-block scales so that the 6- or
 * 8-bit sub-block scales never need to exceed their range.
 */
static uint16_t
f16_ceil(float v)
{
	uint16_t h = quant_f32_to_f16(v);

	if (h >= 0x7c00)
		return 0x7bff;
	if (f16_to_f32(h) < v)
		h++;
	return h;
}

/* ggml's quantize_row_q4_0_ref: d = max / -8, q = trunc(x/d + 8.5). */
static void
quant_row_q4_0(const float *x, struct block_q4_0 *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, x += QUANT_QK) {
		float amax = 0.0f, max = 0.0f;

		for (j = 0; j < QUANT_QK; j++) {
			if (amax < fabsf(x[j])) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		const float d = max / -8;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;

		y[i].d = quant_f32_to_f16(d);
		for (j = 0; j < QUANT_QK / 2; j++) {
			const int q0 = trunc_clamp(x[j] * id + 8.5f, 15);
			const int q1 = trunc_clamp(x[j + 16] * id + 8.5f, 15);

			y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
		}
	}
}

/* ggml's quantize_row_q4_1_ref: d = (max - min) / 15, m = min. */
static void
quant_row_q4_1(const float *x, struct block_q4_1 *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, x += QUANT_QK) {
		float min = x[0], max = x[0];

		for (j = 1; j < QUANT_QK; j++) {
			if (x[j] < min)
				min = x[j];
			if (x[j] > max)
				max = x[j];
		}
		const float d = (max - min) / 15;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;

		y[i].d = quant_f32_to_f16(d);
		y[i].m = quant_f32_to_f16(min);
		for (j = 0; j < QUANT_QK / 2; j++) {
			const int q0 = trunc_clamp((x[j] - min) * id + 0.5f,
			    15);
			const int q1 = trunc_clamp((x[j + 16] - min) * id +
			    0.5f, 15);

			y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
		}
	}
}

/* ggml's quantize_row_q5_0_ref: d = max / -16, q = trunc(x/d + 16.5). */
static void
quant_row_q5_0(const float *x, struct block_q5_0 *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, x += QUANT_QK) {
		float amax = 0.0f, max = 0.0f;
		uint32_t qh = 0;

		for (j = 0; j < QUANT_QK; j++) {
			if (amax < fabsf(x[j])) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		const float d = max / -16;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;

		y[i].d = quant_f32_to_f16(d);
		for (j = 0; j < QUANT_QK / 2; j++) {
			const int q0 = trunc_clamp(x[j] * id + 16.5f, 31);
			const int q1 = trunc_clamp(x[j + 16] * id + 16.5f, 31);

			y[i].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
			qh |= (uint32_t)(q0 >> 4) << j;
			qh |= (uint32_t)(q1 >> 4) << (j + 16);
		}
		for (j = 0; j < 4; j++)
			y[i].qh[j] = (uint8_t)(qh >> (8 * j));
	}
}

/* ggml's quantize_row_q5_1_ref: d = (max - min) / 31, m = min. */
static void
quant_row_q5_1(const float *x, struct block_q5_1 *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, x += QUANT_QK) {
		float min = x[0], max = x[0];
		uint32_t qh = 0;

		for (j = 1; j < QUANT_QK; j++) {
			if (x[j] < min)
				min = x[j];
			if (x[j] > max)
				max = x[j];
		}
		const float d = (max - min) / 31;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;

		y[i].d = quant_f32_to_f16(d);
		y[i].m = quant_f32_to_f16(min);
		for (j = 0; j < QUANT_QK / 2; j++) {
			const int q0 = trunc_clamp((x[j] - min) * id + 0.5f,
			    31);
			const int q1 = trunc_clamp((x[j + 16] - min) * id +
			    0.5f, 31);

			y[i].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
			qh |= (uint32_t)(q0 >> 4) << j;
			qh |= (uint32_t)(q1 >> 4) << (j + 16);
		}
		for (j = 0; j < 4; j++)
			y[i].qh[j] = (uint8_t)(qh >> (8 * j));
	}
}

/* ggml's quantize_row_q8_0_ref: d = amax / 127, q = roundf(x / d). */
static void
quant_row_q8_0(const float *x, struct block_q8_0 *y, size_t nb)
{
	size_t i;
	int j;

	for (i = 0; i < nb; i++, x += QUANT_QK) {
		float amax = 0.0f;

		for (j = 0; j < QUANT_QK; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float d = amax / 127;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;

		y[i].d = quant_f32_to_f16(d);
		for (j = 0; j < QUANT_QK; j++)
			y[i].qs[j] = (int8_t)roundf_clamp127(x[j] * id);
	}
}

/*
 * Fit one Q4_K / Q5_K super-block (nmax = 15 or 31) without search: per
 * sub-block of 32 take lo = min(0, min x) and hi = max x; choose dmin so
 * that 63 * dmin covers the largest -lo and round each m_j UP so the grid
 * starts at or below lo; then choose d and round each sc_j UP so that
 * nmax steps reach hi.  Every value then lies on its sub-block's grid
 * range and is off by at most half a step (d * sc_j / 2).
 */
static void
fit_k_block(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
    uint8_t sc[8], uint8_t mn[8], uint8_t q[QUANT_QK_K])
{
	float lo[8], hi[8], need[8], maxm = 0.0f, maxs = 0.0f;
	float d, dmin;
	int j, l;

	for (j = 0; j < 8; j++) {
		const float *s = x + 32 * j;

		lo[j] = 0.0f;
		hi[j] = s[0];
		for (l = 0; l < 32; l++) {
			if (s[l] < lo[j])
				lo[j] = s[l];
			if (s[l] > hi[j])
				hi[j] = s[l];
		}
		maxm = fmaxf(maxm, -lo[j]);
	}
	*dmin_out = f16_ceil(maxm / 63);
	dmin = f16_to_f32(*dmin_out);
	for (j = 0; j < 8; j++) {
		mn[j] = (uint8_t)(dmin > 0.0f ?
		    round_clamp(ceilf(-lo[j] / dmin), 0, 63) : 0);
		need[j] = fmaxf(0.0f, (hi[j] + dmin * mn[j]) / nmax);
		maxs = fmaxf(maxs, need[j]);
	}
	*d_out = f16_ceil(maxs / 63);
	d = f16_to_f32(*d_out);
	for (j = 0; j < 8; j++) {
		const float *s = x + 32 * j;

		sc[j] = (uint8_t)(d > 0.0f ?
		    round_clamp(ceilf(need[j] / d), 0, 63) : 0);
		/* The same products the decoder forms. */
		const float step = d * sc[j], off = dmin * mn[j];
		const float inv = step > 0.0f ? 1.0f / step : 0.0f;

		for (l = 0; l < 32; l++)
			q[32 * j + l] = (uint8_t)round_clamp((s[l] + off) *
			    inv, 0, nmax);
	}
}

/* Pack 8 6-bit scales and mins as quant_k4_scale_min() reads them. */
static void
pack_scales_k4(const uint8_t sc[8], const uint8_t mn[8], uint8_t s[12])
{
	int j;

	for (j = 0; j < 4; j++) {
		s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
		s[j + 4] = (uint8_t)((mn[j] & 63) | (mn[j + 4] >> 4) << 6);
		s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
	}
}

static void
quant_row_q4_k(const float *x, struct block_q4_k *y, size_t nb)
{
	uint8_t sc[8], mn[8], q[QUANT_QK_K];
	size_t i;
	int c, l;

	for (i = 0; i < nb; i++, x += QUANT_QK_K) {
		fit_k_block(x, 15, &y[i].d, &y[i].dmin, sc, mn, q);
		pack_scales_k4(sc, mn, y[i].scales);
		for (c = 0; c < 4; c++)
			for (l = 0; l < 32; l++)
				y[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] |
				    q[64 * c + 32 + l] << 4);
	}
}

static void
quant_row_q5_k(const float *x, struct block_q5_k *y, size_t nb)
{
	uint8_t sc[8], mn[8], q[QUANT_QK_K];
	size_t i;
	int c, l;

	for (i = 0; i < nb; i++, x += QUANT_QK_K) {
		fit_k_block(x, 31, &y[i].d, &y[i].dmin, sc, mn, q);
		pack_scales_k4(sc, mn, y[i].scales);
		memset(y[i].qh, 0, sizeof(y[i].qh));
		for (c = 0; c < 4; c++) {
			for (l = 0; l < 32; l++) {
				const int q0 = q[64 * c + l];
				const int q1 = q[64 * c + 32 + l];

				y[i].qs[32 * c + l] = (uint8_t)((q0 & 15) |
				    (q1 & 15) << 4);
				y[i].qh[l] |= (uint8_t)((q0 >> 4) << (2 * c) |
				    (q1 >> 4) << (2 * c + 1));
			}
		}
	}
}

/*
 * Q6_K: per group of 16 the scale s_g = max_g / -32 (max_g the value of
 * largest magnitude, so it lands on -32); d covers max |s_g| in 127
 * steps and each |sc_g| is rounded up, so |d * sc_g| >= |s_g|.  Error at
 * most half a step, or one step for values near -max_g (q = +32 is not
 * representable), as in ggml.
 */
static void
quant_row_q6_k(const float *x, struct block_q6_k *y, size_t nb)
{
	float sg[16], maxs, d;
	size_t i;
	int g, l;

	for (i = 0; i < nb; i++, x += QUANT_QK_K) {
		maxs = 0.0f;
		for (g = 0; g < 16; g++) {
			float amax = 0.0f, max = 0.0f;

			for (l = 0; l < 16; l++) {
				if (amax < fabsf(x[16 * g + l])) {
					amax = fabsf(x[16 * g + l]);
					max = x[16 * g + l];
				}
			}
			sg[g] = max / -32;
			maxs = fmaxf(maxs, fabsf(sg[g]));
		}
		y[i].d = f16_ceil(maxs / 127);
		d = f16_to_f32(y[i].d);
		memset(y[i].ql, 0, sizeof(y[i].ql));
		memset(y[i].qh, 0, sizeof(y[i].qh));
		for (g = 0; g < 16; g++) {
			int sc = d > 0.0f ?
			    round_clamp(ceilf(fabsf(sg[g]) / d), 0, 127) : 0;

			if (sg[g] < 0.0f)
				sc = -sc;
			y[i].scales[g] = (int8_t)sc;
			const float step = d * sc;
			const float inv = step != 0.0f ? 1.0f / step : 0.0f;

			for (l = 0; l < 16; l++) {
				/* Put e where q6_k_unpack() reads it. */
				const int e = 16 * g + l;
				const int q = round_clamp(x[e] * inv, -32,
				    31) + 32;
				const int h = e / 128, r = e % 128;
				const int k = r / 32, m = r % 32;
				const int o = 64 * h + m + 32 * (k & 1);

				y[i].ql[o] |= (uint8_t)((q & 15) <<
				    (k < 2 ? 0 : 4));
				y[i].qh[32 * h + m] |=
				    (uint8_t)((q >> 4) << (2 * k));
			}
		}
	}
}

void
quant_quantize_row(uint32_t type, const float *src, void *dst, size_t n)
{
	size_t nb = n_blocks(type, n), i;

	switch (type) {
	case GGML_TYPE_F32:
		memcpy(dst, src, n * sizeof(float));
		break;
	case GGML_TYPE_F16:
		for (i = 0; i < n; i++)
			((uint16_t *)dst)[i] = quant_f32_to_f16(src[i]);
		break;
	case GGML_TYPE_BF16:
		for (i = 0; i < n; i++)
			((uint16_t *)dst)[i] = quant_f32_to_bf16(src[i]);
		break;
	case GGML_TYPE_Q4_0:
		quant_row_q4_0(src, dst, nb);
		break;
	case GGML_TYPE_Q4_1:
		quant_row_q4_1(src, dst, nb);
		break;
	case GGML_TYPE_Q5_0:
		quant_row_q5_0(src, dst, nb);
		break;
	case GGML_TYPE_Q5_1:
		quant_row_q5_1(src, dst, nb);
		break;
	case GGML_TYPE_Q8_0:
		quant_row_q8_0(src, dst, nb);
		break;
	case GGML_TYPE_Q4_K:
		quant_row_q4_k(src, dst, nb);
		break;
	case GGML_TYPE_Q5_K:
		quant_row_q5_k(src, dst, nb);
		break;
	case GGML_TYPE_Q6_K:
		quant_row_q6_k(src, dst, nb);
		break;
	default:
		CL_BUG("quant: quantizing to a type that is not computable");
	}
}

/* ------------------------------------------------------------------ */
/* 5. Activation quantizers                                            */
/* ------------------------------------------------------------------ */

/*
 * One Q8_0 / Q8_1 block as ggml's x86 CPU backend rounds activations:
 * d = amax / 127, q = round-half-even(x * (127 / amax)).  Returns the
 * f32 d and the sum of the quants.
 */
static float
q8_block(const float *x, int8_t qs[QUANT_QK], int *sum)
{
	float amax = 0.0f;
	int j, s = 0;

	for (j = 0; j < QUANT_QK; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	const float d = amax / 127.0f;
	const float id = amax != 0.0f ? 127.0f / amax : 0.0f;

	for (j = 0; j < QUANT_QK; j++) {
		qs[j] = (int8_t)round_clamp(x[j] * id, -127, 127);
		s += qs[j];
	}
	*sum = s;
	return d;
}

void
quant_quantize_row_q8_0_act(const float *x, struct block_q8_0 *y, size_t n)
{
	size_t nb = n_blocks(GGML_TYPE_Q8_0, n), i;
	int sum;

	for (i = 0; i < nb; i++, x += QUANT_QK)
		y[i].d = quant_f32_to_f16(q8_block(x, y[i].qs, &sum));
}

void
quant_quantize_row_q8_1(const float *x, struct block_q8_1 *y, size_t n)
{
	size_t nb = n_blocks(GGML_TYPE_Q8_1, n), i;
	int sum;

	for (i = 0; i < nb; i++, x += QUANT_QK) {
		const float d = q8_block(x, y[i].qs, &sum);

		y[i].d = quant_f32_to_f16(d);
		y[i].s = quant_f32_to_f16(d * (float)sum);
	}
}

void
quant_quantize_row_q8_k(const float *x, struct block_q8_k *y, size_t n)
{
	size_t nb = n_blocks(GGML_TYPE_Q8_K, n), i;
	int j, g;

	for (i = 0; i < nb; i++, x += QUANT_QK_K) {
		float amax = 0.0f, max = 0.0f;

		for (j = 0; j < QUANT_QK_K; j++) {
			if (fabsf(x[j]) > amax) {	/* first on ties */
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		if (amax == 0.0f) {
			memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		const float iscale = -127.0f / max;

		for (j = 0; j < QUANT_QK_K; j++)
			y[i].qs[j] = (int8_t)round_clamp(iscale * x[j], -128,
			    127);
		for (g = 0; g < QUANT_QK_K / 16; g++) {
			int s = 0;

			for (j = 0; j < 16; j++)
				s += y[i].qs[16 * g + j];
			y[i].bsums[g] = (int16_t)s;
		}
		y[i].d = 1 / iscale;
	}
}

/* ------------------------------------------------------------------ */
/* 6. Integer dot products                                             */
/* ------------------------------------------------------------------ */

uint32_t
quant_vec_dot_type(uint32_t wtype)
{
	switch (wtype) {
	case GGML_TYPE_Q4_0:
	case GGML_TYPE_Q5_0:
	case GGML_TYPE_Q8_0:
		return GGML_TYPE_Q8_0;
	case GGML_TYPE_Q4_1:
	case GGML_TYPE_Q5_1:
		return GGML_TYPE_Q8_1;
	case GGML_TYPE_Q4_K:
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
		return GGML_TYPE_Q8_K;
	default:
		return GGML_TYPE_F32;
	}
}

float
quant_vec_dot_q4_0_q8_0(const void *w, const void *a, size_t n)
{
	const struct block_q4_0 *x = w;
	const struct block_q8_0 *y = a;
	size_t nb = n_blocks(GGML_TYPE_Q4_0, n), i;
	float sumf = 0.0f;
	int j;

	for (i = 0; i < nb; i++) {
		int sumi = 0;

		for (j = 0; j < QUANT_QK / 2; j++) {
			sumi += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
			sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
		}
		sumf += sumi * f16_to_f32(x[i].d) *
		    f16_to_f32(y[i].d);
	}
	return sumf;
}

float
quant_vec_dot_q4_1_q8_1(const void *w, const void *a, size_t n)
{
	const struct block_q4_1 *x = w;
	const struct block_q8_1 *y = a;
	size_t nb = n_blocks(GGML_TYPE_Q4_1, n), i;
	float sumf = 0.0f;
	int j;

	for (i = 0; i < nb; i++) {
		int sumi = 0;

		for (j = 0; j < QUANT_QK / 2; j++) {
			sumi += (x[i].qs[j] & 0x0f) * y[i].qs[j];
			sumi += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
		}
		/* sum (q d + m) qa da = d da sum(q qa) + m (da sum qa). */
		sumf += (f16_to_f32(x[i].d) * f16_to_f32(y[i].d)) *
		    sumi + f16_to_f32(x[i].m) * f16_to_f32(y[i].s);
	}
	return sumf;
}

float
quant_vec_dot_q5_0_q8_0(const void *w, const void *a, size_t n)
{
	const struct block_q5_0 *x = w;
	const struct block_q8_0 *y = a;
	size_t nb = n_blocks(GGML_TYPE_Q5_0, n), i;
	float sumf = 0.0f;
	int j;

	for (i = 0; i < nb; i++) {
		const uint32_t qh = le32_of(x[i].qh);
		int sumi = 0;

		for (j = 0; j < QUANT_QK / 2; j++) {
			const int q0 = ((x[i].qs[j] & 0x0f) |
			    (int)((qh >> j) & 1) << 4) - 16;
			const int q1 = ((x[i].qs[j] >> 4) |
			    (int)((qh >> (j + 16)) & 1) << 4) - 16;

			sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
		}
		sumf += (f16_to_f32(x[i].d) * f16_to_f32(y[i].d)) *
		    sumi;
	}
	return sumf;
}

float
quant_vec_dot_q5_1_q8_1(const void *w, const void *a, size_t n)
{
	const struct block_q5_1 *x = w;
	const struct block_q8_1 *y = a;
	size_t nb = n_blocks(GGML_TYPE_Q5_1, n), i;
	float sumf = 0.0f;
	int j;

	for (i = 0; i < nb; i++) {
		const uint32_t qh = le32_of(x[i].qh);
		int sumi = 0;

		for (j = 0; j < QUANT_QK / 2; j++) {
			const int q0 = (x[i].qs[j] & 0x0f) |
			    (int)((qh >> j) & 1) << 4;
			const int q1 = (x[i].qs[j] >> 4) |
			    (int)((qh >> (j + 16)) & 1) << 4;

			sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
		}
		sumf += (f16_to_f32(x[i].d) * f16_to_f32(y[i].d)) *
		    sumi + f16_to_f32(x[i].m) * f16_to_f32(y[i].s);
	}
	return sumf;
}

float
quant_vec_dot_q8_0_q8_0(const void *w, const void *a, size_t n)
{
	const struct block_q8_0 *x = w;
	const struct block_q8_0 *y = a;
	size_t nb = n_blocks(GGML_TYPE_Q8_0, n), i;
	float sumf = 0.0f;
	int j;

	for (i = 0; i < nb; i++) {
		int sumi = 0;

		for (j = 0; j < QUANT_QK; j++)
			sumi += x[i].qs[j] * y[i].qs[j];
		sumf += sumi * (f16_to_f32(x[i].d) *
		    f16_to_f32(y[i].d));
	}
	return sumf;
}

/*
 * Shared by Q4_K and Q5_K: q[256] holds the unsigned weight quants of
 * one super-block.  Per spec 2.6: d_w d_a sum_j sc_j (sum q_w q_a) -
 * dmin_w d_a sum_j m_j (bsums[2j] + bsums[2j+1]).
 */
static float
dot_k4_block(uint16_t dw, uint16_t dminw, const uint8_t *scales,
    const uint8_t q[QUANT_QK_K], const struct block_q8_k *y)
{
	int32_t sum_sc = 0, sum_m = 0;
	uint8_t sc, m;
	int j, l;

	for (j = 0; j < 8; j++) {
		int32_t s = 0;

		quant_k4_scale_min(j, scales, &sc, &m);
		for (l = 0; l < 32; l++)
			s += q[32 * j + l] * y->qs[32 * j + l];
		sum_sc += sc * s;
		sum_m += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
	}
	return f16_to_f32(dw) * y->d * (float)sum_sc -
	    f16_to_f32(dminw) * y->d * (float)sum_m;
}

float
quant_vec_dot_q4_k_q8_k(const void *w, const void *a, size_t n)
{
	const struct block_q4_k *x = w;
	const struct block_q8_k *y = a;
	size_t nb = n_blocks(GGML_TYPE_Q4_K, n), i;
	uint8_t q[QUANT_QK_K];
	float sumf = 0.0f;
	int c, l;

	for (i = 0; i < nb; i++) {
		for (c = 0; c < 4; c++) {
			for (l = 0; l < 32; l++) {
				q[64 * c + l] = x[i].qs[32 * c + l] & 0x0f;
				q[64 * c + 32 + l] = x[i].qs[32 * c + l] >> 4;
			}
		}
		sumf += dot_k4_block(x[i].d, x[i].dmin, x[i].scales, q, &y[i]);
	}
	return sumf;
}

float
quant_vec_dot_q5_k_q8_k(const void *w, const void *a, size_t n)
{
	const struct block_q5_k *x = w;
	const struct block_q8_k *y = a;
	size_t nb = n_blocks(GGML_TYPE_Q5_K, n), i;
	uint8_t q[QUANT_QK_K];
	float sumf = 0.0f;
	int c, l;

	for (i = 0; i < nb; i++) {
		for (c = 0; c < 4; c++) {
			for (l = 0; l < 32; l++) {
				const uint8_t b = x[i].qs[32 * c + l];
				const uint8_t h = x[i].qh[l];

				q[64 * c + l] = (uint8_t)((b & 0x0f) |
				    ((h >> (2 * c)) & 1) << 4);
				q[64 * c + 32 + l] = (uint8_t)((b >> 4) |
				    ((h >> (2 * c + 1)) & 1) << 4);
			}
		}
		sumf += dot_k4_block(x[i].d, x[i].dmin, x[i].scales, q, &y[i]);
	}
	return sumf;
}

float
quant_vec_dot_q6_k_q8_k(const void *w, const void *a, size_t n)
{
	const struct block_q6_k *x = w;
	const struct block_q8_k *y = a;
	size_t nb = n_blocks(GGML_TYPE_Q6_K, n), i;
	int8_t q[QUANT_QK_K];
	float sumf = 0.0f;
	int g, l;

	for (i = 0; i < nb; i++) {
		int32_t sum = 0;

		q6_k_unpack(&x[i], q);
		for (g = 0; g < 16; g++) {
			int32_t s = 0;

			for (l = 0; l < 16; l++)
				s += q[16 * g + l] * y[i].qs[16 * g + l];
			sum += x[i].scales[g] * s;
		}
		sumf += f16_to_f32(x[i].d) * y[i].d * (float)sum;
	}
	return sumf;
}

void
quant_act_quantize(uint32_t wtype, const float *x, void *act, size_t n)
{
	switch (quant_vec_dot_type(wtype)) {
	case GGML_TYPE_Q8_0:
		quant_quantize_row_q8_0_act(x, act, n);
		break;
	case GGML_TYPE_Q8_1:
		quant_quantize_row_q8_1(x, act, n);
		break;
	case GGML_TYPE_Q8_K:
		quant_quantize_row_q8_k(x, act, n);
		break;
	default:
		memcpy(act, x, n * sizeof(float));
		break;
	}
}

float
quant_vec_dot(uint32_t wtype, const void *w, const void *act, size_t n)
{
	float buf[QUANT_QK_K], sum = 0.0f;
	const float *a = act;
	size_t i, k, len;

	switch (wtype) {
	case GGML_TYPE_Q4_0:
		return quant_vec_dot_q4_0_q8_0(w, act, n);
	case GGML_TYPE_Q4_1:
		return quant_vec_dot_q4_1_q8_1(w, act, n);
	case GGML_TYPE_Q5_0:
		return quant_vec_dot_q5_0_q8_0(w, act, n);
	case GGML_TYPE_Q5_1:
		return quant_vec_dot_q5_1_q8_1(w, act, n);
	case GGML_TYPE_Q8_0:
		return quant_vec_dot_q8_0_q8_0(w, act, n);
	case GGML_TYPE_Q4_K:
		return quant_vec_dot_q4_k_q8_k(w, act, n);
	case GGML_TYPE_Q5_K:
		return quant_vec_dot_q5_k_q8_k(w, act, n);
	case GGML_TYPE_Q6_K:
		return quant_vec_dot_q6_k_q8_k(w, act, n);
	case GGML_TYPE_F32:
	case GGML_TYPE_F16:
	case GGML_TYPE_BF16:
		/* Float weights against float activations, in chunks. */
		for (i = 0; i < n; i += len) {
			len = n - i < QUANT_QK_K ? n - i : QUANT_QK_K;
			quant_dequantize_row(wtype, (const char *)w + i *
			    ggml_type_info(wtype)->blck_bytes, buf, len);
			for (k = 0; k < len; k++)
				sum += buf[k] * a[i + k];
		}
		return sum;
	default:
		CL_BUG("quant: dot product of a type that is not computable");
	}
}
