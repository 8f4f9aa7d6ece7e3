/*
 * kern_avx2.c - the AVX2 + FMA + F16C kernel table ("avx2").
 *
 * Built alone with -mavx2 -mfma -mf16c (engine/local.mk) so that wide
 * instructions never leak into generic code; kern_select.c picks it only
 * after CPUID and XGETBV say the CPU and the OS support all three.
 *
 * What changed against kern_ref.c: activations are quantized as
 * llama.cpp's CPU backend does (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for
 * Q4_1/Q5_1, Q8_K for the K-quants; quant_act_quantize()) and the dot
 * products are integer, as quant_vec_dot_*() specify.  Q4_0, Q8_0, Q4_K
 * and Q6_K (what LFM2 GGUFs mostly hold) and the float types have vector
 * bodies; the other types call the scalar integer reference.
 *
 * Tolerance: against quant_vec_dot() (same quantized operands) only the
 * float summation order differs, about 1e-6 of sum |w x|; against
 * kern_ref the activation rounding adds about half a Q8 step per element
 * (tests/check_kern.c).
 */
#include "config.h"

#include <immintrin.h>
#include <string.h>

#include "engine/kern.h"
#include "engine/quant.h"
#include "util/util.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static inline float
hsum_ps(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
	    _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/*
 * Signed int8 x int8 products of 32 lanes, summed in groups of 4 into 8
 * int32.  maddubs needs an unsigned operand: |x| and y * sign(x).  No
 * saturation as long as y is never -128 (activations are in -127..127).
 */
static inline __m256i
dot_i8(__m256i x, __m256i y)
{
	const __m256i ax = _mm256_sign_epi8(x, x);
	const __m256i sy = _mm256_sign_epi8(y, x);

	return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy),
	    _mm256_set1_epi16(1));
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles first, then high. */
static inline __m256i
unpack_nibbles(const uint8_t *p)
{
	const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
	const __m128i m = _mm_set1_epi8(0x0f);

	return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m),
	    _mm_and_si128(b, m));
}

/* ------------------------------------------------------------------ */
/* Dot products                                                        */
/* ------------------------------------------------------------------ */

static float
dot_f32_avx2(const float *a, const float *b, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	float sum;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
		    _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
		    _mm256_loadu_ps(b + i + 8), s1);
	}
	sum = hsum_ps(_mm256_add_ps(s0, s1));
	for (; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

/* F16 or BF16 weights against float activations. */
static float
dot_half_avx2(uint32_t wtype, const uint16_t *w, const float *x, size_t n)
{
	__m256 s = _mm256_setzero_ps();
	float sum;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		const __m128i h = _mm_loadu_si128((const __m128i *)
		    (const void *)(w + i));
		__m256 v;

		if (wtype == GGML_TYPE_F16)
			v = _mm256_cvtph_ps(h);
		else
			v = _mm256_castsi256_ps(_mm256_slli_epi32(
			    _mm256_cvtepu16_epi32(h), 16));
		s = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + i), s);
	}
	sum = hsum_ps(s);
	for (; i < n; i++)
		sum += (wtype == GGML_TYPE_F16 ? quant_f16_to_f32(w[i]) :
		    quant_bf16_to_f32(w[i])) * x[i];
	return sum;
}

static float
dot_q8_0_avx2(const struct block_q8_0 *x, const struct block_q8_0 *y,
    size_t nb)
{
	__m256 acc = _mm256_setzero_ps();
	size_t i;

	for (i = 0; i < nb; i++) {
		const float d = quant_f16_to_f32(x[i].d) *
		    quant_f16_to_f32(y[i].d);
		const __m256i qx = _mm256_loadu_si256((const __m256i *)
		    (const void *)x[i].qs);
		const __m256i qy = _mm256_loadu_si256((const __m256i *)
		    (const void *)y[i].qs);

		acc = _mm256_fmadd_ps(_mm256_set1_ps(d),
		    _mm256_cvtepi32_ps(dot_i8(qx, qy)), acc);
	}
	return hsum_ps(acc);
}

static float
dot_q4_0_avx2(const struct block_q4_0 *x, const struct block_q8_0 *y,
    size_t nb)
{
	__m256 acc = _mm256_setzero_ps();
	size_t i;

	for (i = 0; i < nb; i++) {
		const float d = quant_f16_to_f32(x[i].d) *
		    quant_f16_to_f32(y[i].d);
		const __m256i qx = _mm256_sub_epi8(unpack_nibbles(x[i].qs),
		    _mm256_set1_epi8(8));
		const __m256i qy = _mm256_loadu_si256((const __m256i *)
		    (const void *)y[i].qs);

		acc = _mm256_fmadd_ps(_mm256_set1_ps(d),
		    _mm256_cvtepi32_ps(dot_i8(qx, qy)), acc);
	}
	return hsum_ps(acc);
}

/*
 * Q4_K: per super-block d_w d_a sum_j sc_j (q_w . q_a over sub-block j)
 * - dmin_w d_a sum_j m_j (bsums[2j] + bsums[2j+1]).  Chunk c holds
 * sub-block 2c in its low nibbles and 2c+1 in its high nibbles.
 */
static float
dot_q4_k_avx2(const struct block_q4_k *x, const struct block_q8_k *y,
    size_t nb)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m256 acc = _mm256_setzero_ps();
	float summ = 0.0f;
	uint8_t sc[8], mn[8];
	size_t i;
	int c, j;

	for (i = 0; i < nb; i++) {
		__m256i sumi = _mm256_setzero_si256();
		int32_t sm = 0;

		for (j = 0; j < 8; j++) {
			quant_k4_scale_min(j, x[i].scales, &sc[j], &mn[j]);
			sm += mn[j] * (y[i].bsums[2 * j] +
			    y[i].bsums[2 * j + 1]);
		}
		for (c = 0; c < 4; c++) {
			const __m256i q = _mm256_loadu_si256((const __m256i *)
			    (const void *)(x[i].qs + 32 * c));
			const __m256i lo = _mm256_and_si256(q, m4);
			const __m256i hi = _mm256_and_si256(
			    _mm256_srli_epi16(q, 4), m4);
			const __m256i ylo = _mm256_loadu_si256((const __m256i *)
			    (const void *)(y[i].qs + 64 * c));
			const __m256i yhi = _mm256_loadu_si256((const __m256i *)
			    (const void *)(y[i].qs + 64 * c + 32));
			/* u4 x s8 pairs fit int16: 2 * 15 * 127. */
			const __m256i plo = _mm256_madd_epi16(
			    _mm256_maddubs_epi16(lo, ylo),
			    _mm256_set1_epi16(sc[2 * c]));
			const __m256i phi = _mm256_madd_epi16(
			    _mm256_maddubs_epi16(hi, yhi),
			    _mm256_set1_epi16(sc[2 * c + 1]));

			sumi = _mm256_add_epi32(sumi,
			    _mm256_add_epi32(plo, phi));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(
		    quant_f16_to_f32(x[i].d) * y[i].d),
		    _mm256_cvtepi32_ps(sumi), acc);
		summ += quant_f16_to_f32(x[i].dmin) * y[i].d * (float)sm;
	}
	return hsum_ps(acc) - summ;
}

/*
 * Q6_K: d_w d_a sum_g scale_g sum (q - 32) q_a, computed as
 * sum_g scale_g (q . q_a) - 32 sum_g scale_g bsums[g] with q in 0..63
 * (unsigned, as maddubs wants).  Quarter k of half h holds elements
 * 128h + 32k + l, groups 8h + 2k and 8h + 2k + 1 (spec 2.5).
 */
static float
dot_q6_k_avx2(const struct block_q6_k *x, const struct block_q8_k *y,
    size_t nb)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const __m256i m2 = _mm256_set1_epi8(0x03);
	__m256 acc = _mm256_setzero_ps();
	float corr = 0.0f;
	size_t i;
	int h, k, g;

	for (i = 0; i < nb; i++) {
		__m256i sumi = _mm256_setzero_si256();
		int32_t sb = 0;

		for (g = 0; g < 16; g++)
			sb += x[i].scales[g] * y[i].bsums[g];
		for (h = 0; h < 2; h++) {
			const uint8_t *ql = x[i].ql + 64 * h;
			const __m256i qh = _mm256_loadu_si256((const __m256i *)
			    (const void *)(x[i].qh + 32 * h));
			const __m256i l0 = _mm256_loadu_si256((const __m256i *)
			    (const void *)ql);
			const __m256i l1 = _mm256_loadu_si256((const __m256i *)
			    (const void *)(ql + 32));
			__m256i q[4];

			q[0] = _mm256_and_si256(l0, m4);
			q[1] = _mm256_and_si256(l1, m4);
			q[2] = _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4);
			q[3] = _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4);
			for (k = 0; k < 4; k++) {
				const __m256i hb = _mm256_and_si256(
				    _mm256_srli_epi16(qh, 2 * k), m2);
				const __m256i qk = _mm256_or_si256(q[k],
				    _mm256_slli_epi16(hb, 4));
				const __m256i yk = _mm256_loadu_si256(
				    (const __m256i *)(const void *)
				    (y[i].qs + 128 * h + 32 * k));
				const int g0 = 8 * h + 2 * k;
				/* Lanes 0..7 are group g0, 8..15 g0 + 1. */
				const __m256i s = _mm256_set_m128i(
				    _mm_set1_epi16(x[i].scales[g0 + 1]),
				    _mm_set1_epi16(x[i].scales[g0]));

				/* u6 x s8 pairs fit int16: 2 * 63 * 127. */
				sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(
				    _mm256_maddubs_epi16(qk, yk), s));
			}
		}
		const float d = quant_f16_to_f32(x[i].d) * y[i].d;

		acc = _mm256_fmadd_ps(_mm256_set1_ps(d),
		    _mm256_cvtepi32_ps(sumi), acc);
		corr += d * (float)(32 * sb);
	}
	return hsum_ps(acc) - corr;
}

/* One weight row of wtype against one prepared activation row. */
static float
vec_dot_avx2(uint32_t wtype, const void *w, const void *act, size_t n)
{
	switch (wtype) {
	case GGML_TYPE_F32:
		return dot_f32_avx2(w, act, n);
	case GGML_TYPE_F16:
	case GGML_TYPE_BF16:
		return dot_half_avx2(wtype, w, act, n);
	case GGML_TYPE_Q4_0:
		return dot_q4_0_avx2(w, act, n / QUANT_QK);
	case GGML_TYPE_Q8_0:
		return dot_q8_0_avx2(w, act, n / QUANT_QK);
	case GGML_TYPE_Q4_K:
		return dot_q4_k_avx2(w, act, n / QUANT_QK_K);
	case GGML_TYPE_Q6_K:
		return dot_q6_k_avx2(w, act, n / QUANT_QK_K);
	default:
		/* Q4_1, Q5_0, Q5_1, Q5_K: the scalar integer reference. */
		return quant_vec_dot(wtype, w, act, n);
	}
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

/* Rows padded to 32 bytes so every row starts aligned like the first. */
static size_t
act_row_bytes_avx2(uint32_t wtype, size_t n)
{
	size_t b = 0;

	if (quant_row_bytes(quant_vec_dot_type(wtype), n, &b) != CL_OK)
		CL_BUG("kern: activation row of a bad length");
	return (b + 31) & ~(size_t)31;
}

static void
act_prepare_avx2(uint32_t wtype, const float *x, void *act, size_t n)
{
	quant_act_quantize(wtype, x, act, n);
}

static void
matmul_avx2(uint32_t wtype, const void *w, size_t w_stride, size_t n,
    const void *act, size_t n_tok, float *y, size_t ldy, size_t r0,
    size_t r1)
{
	const size_t ab = act_row_bytes_avx2(wtype, n);
	const struct ggml_type_info *ti = ggml_type_info(wtype);
	size_t r, t;

	if (ti == NULL || !quant_type_is_computable(wtype))
		CL_BUG("kern: matmul on a type that is not computable");
	if (n % ti->blck_elems != 0)
		CL_BUG("kern: row length not a multiple of the block size");
	for (r = r0; r < r1; r++) {
		const char *row = (const char *)w + r * w_stride;

		for (t = 0; t < n_tok; t++)
			y[t * ldy + r] = vec_dot_avx2(wtype, row,
			    (const char *)act + t * ab, n);
	}
}

static const struct kern_ops kern_avx2 = {
	.name = "avx2",
	.act_row_bytes = act_row_bytes_avx2,
	.act_prepare = act_prepare_avx2,
	.matmul = matmul_avx2,
	.dot_f32 = dot_f32_avx2,
};

const struct kern_ops *
kern_ops_avx2(void)
{
	return &kern_avx2;
}
