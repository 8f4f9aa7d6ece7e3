/*
 * kern_avx512.c - matmul and dot_f32 for x86-64 with AVX-512
 * F/BW/DQ/VL, AVX512-VNNI and F16C (Zen 4, Ice Lake and later).
 * Built alone, with those flags, into libkern_avx512.a; called only
 * through the table kern_select.c hands out after checking CPUID and
 * XGETBV.
 *
 * Divisions: helpers; one tile function per weight type; the row/token
 * driver; the exported entry points.
 *
 * Method (what changed from kern_ref.c): activations arrive quantized as
 * llama.cpp's vec_dot_type in the layouts of kern_simd.h; each weight
 * block is unpacked once into registers and multiplied with VNNI
 * (vpdpbusd: unsigned weights x signed activations, the weight offset
 * folded into a precomputed per-block correction) or, for the K-quants,
 * vpmaddubsw then vpdpwssd with the sub-block scales; block results are
 * scaled in float.  A tile is RT weight rows x TT tokens: every weight
 * block is decoded once per tile and reused for the TT tokens while in
 * registers; decode (one token) streams the rows one after the other.
 * Packed weights (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K in 16-row panels,
 * kern_simd.h) turn that around: lane i of every register is row i of
 * the panel, the activation bytes are broadcast, and each row keeps its
 * own float sum, so there is no horizontal sum at all.
 *
 * Tolerance against quant_vec_dot_* (same integers, same scales): float
 * summation order only, |diff| <= 1e-5 * sum over blocks of
 * |block result| (the tests use this).  Against kern_ref (float
 * activations): the activation rounding, at most 0.6 * d_block of each
 * activation times |w|, summed (see tests/check_kern.c).  F32, F16 and
 * BF16 weights: float summation order only (1e-5 relative to sum |w x|).
 */
#include "config.h"

#include <immintrin.h>
#include <string.h>

#include "engine/kern_simd.h"
#include "engine/quant.h"
#include "util/util.h"

#define AI	static inline __attribute__((always_inline))

#define R4(x)	x, x, x, x
#define R8(x)	R4(x), R4(x)
#define R16(x)	R8(x), R8(x)

/* Maximum tile shape; tiles use the top-left RT x TT corner. */
#define MAXR	4
#define MAXT	8

/* ------------------------------------------------------------------ */
/* Helpers */

AI uint16_t
ld_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

AI uint32_t
ld_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

AI float
f16_at(const uint8_t *p)
{
	return _cvtsh_ss(ld_u16(p));
}

/* The f16 at p + k * bsz for the nv (1..4) blocks k < nv, 0 beyond. */
AI __m128
f16x4(const uint8_t *p, size_t bsz, int nv)
{
	uint64_t v = ld_u16(p);

	if (nv > 1)
		v |= (uint64_t)ld_u16(p + bsz) << 16;
	if (nv > 2)
		v |= (uint64_t)ld_u16(p + 2 * bsz) << 32;
	if (nv > 3)
		v |= (uint64_t)ld_u16(p + 3 * bsz) << 48;
	return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

static const int32_t lanes4_idx[16] __attribute__((aligned(64))) = {
	R4(0), R4(1), R4(2), R4(3)
};
static const int32_t lanes8_idx[2][16] __attribute__((aligned(64))) = {
	{ R8(0), R8(1) }, { R8(2), R8(3) }
};

/* [v0 x4, v1 x4, v2 x4, v3 x4] */
AI __m512
spread4(__m128 v)
{
	return _mm512_permutexvar_ps(_mm512_load_si512(lanes4_idx),
	    _mm512_castps128_ps512(v));
}

/* The 16 bytes at p + k * bsz side by side (k < nv; zero beyond). */
AI __m512i
ld4x16(const uint8_t *p, size_t bsz, int nv)
{
	__m512i z;

	if (nv == 4) {
		z = _mm512_castsi128_si512(_mm_loadu_si128((const void *)p));
		z = _mm512_inserti32x4(z,
		    _mm_loadu_si128((const void *)(p + bsz)), 1);
		z = _mm512_inserti32x4(z,
		    _mm_loadu_si128((const void *)(p + 2 * bsz)), 2);
		return _mm512_inserti32x4(z,
		    _mm_loadu_si128((const void *)(p + 3 * bsz)), 3);
	}
	z = _mm512_setzero_si512();
	z = _mm512_inserti32x4(z, _mm_loadu_si128((const void *)p), 0);
	if (nv > 1)
		z = _mm512_inserti32x4(z,
		    _mm_loadu_si128((const void *)(p + bsz)), 1);
	if (nv > 2)
		z = _mm512_inserti32x4(z,
		    _mm_loadu_si128((const void *)(p + 2 * bsz)), 2);
	return z;
}

/* The 32 bytes at p and, if two, at p + bsz, side by side. */
AI __m512i
ld2x32(const uint8_t *p, size_t bsz, int two)
{
	__m512i z = _mm512_castsi256_si512(
	    _mm256_loadu_si256((const void *)p));

	if (!two)
		return _mm512_zextsi256_si512(_mm512_castsi512_si256(z));
	return _mm512_inserti64x4(z, _mm256_loadu_si256(
	    (const void *)(p + bsz)), 1);
}

/*
 * Fifth bits of 4 Q5 blocks as byte masks in the kern_act_g4 order:
 * *lo gets bits 0..15 of each qh (elements 0..15), *hi bits 16..31.
 */
AI void
q5_masks(const uint8_t *p, size_t bsz, int nv, __mmask64 *lo, __mmask64 *hi)
{
	uint64_t l = 0, h = 0;
	int k;

	for (k = 0; k < 4; k++) {
		if (k < nv) {
			const uint32_t qh = ld_u32(p + k * bsz);

			l |= (uint64_t)(qh & 0xffff) << (16 * k);
			h |= (uint64_t)(qh >> 16) << (16 * k);
		}
	}
	*lo = _cvtu64_mask64(l);
	*hi = _cvtu64_mask64(h);
}

/*
 * Q4_K / Q5_K packed 6-bit scales: bytes 0..7 = sc_0..7, 8..15 = m_0..7
 * (lfm2-spec.md 2.3).
 */
AI __m128i
k4_scales(const uint8_t *s)
{
	uint32_t u0 = ld_u32(s), u1 = ld_u32(s + 4), u2 = ld_u32(s + 8);
	const uint32_t sc4 = (u2 & 0x0f0f0f0f) |
	    (((u0 >> 6) & 0x03030303) << 4);
	const uint32_t m4 = ((u2 >> 4) & 0x0f0f0f0f) |
	    (((u1 >> 6) & 0x03030303) << 4);

	return _mm_set_epi32((int)m4, (int)(u1 & 0x3f3f3f3f), (int)sc4,
	    (int)(u0 & 0x3f3f3f3f));
}

/*
 * vpshufb controls spreading the Q4_K sub-block scales (bytes 0..7 of
 * k4_scales(), broadcast to every 128-bit lane) over the vpmaddubsw
 * results: zero-extended words, sub-block a in the low 256 bits, b in
 * the high (vpermw did the same at twice the cost on Zen 4).
 */
#define W2(a)	a, 0x80
#define SH16(a)	W2(a), W2(a), W2(a), W2(a), W2(a), W2(a), W2(a), W2(a)
#define SHK4(a, b)	{ SH16(a), SH16(a), SH16(b), SH16(b) }
static const uint8_t k4_shuf[4][64] __attribute__((aligned(64))) = {
	SHK4(0, 2), SHK4(1, 3), SHK4(4, 6), SHK4(5, 7)
};
static const uint16_t k6_idx[4][32] __attribute__((aligned(64))) = {
	{ R8(0), R8(1), R8(2), R8(3) }, { R8(4), R8(5), R8(6), R8(7) },
	{ R8(8), R8(9), R8(10), R8(11) }, { R8(12), R8(13), R8(14), R8(15) }
};

AI const void *
act_at(const uint8_t *act, size_t ab, size_t t, size_t off)
{
	return act + t * ab + off;
}

/*
 * Decode streams the weights once, from DRAM: ask for the lines PF_DIST
 * bytes ahead of the block being read, which the hardware prefetcher
 * alone fetches too late (+15-20% per thread; bench/README.md).
 * Prefetches never fault, so running past the matrix is harmless.
 */
#ifndef PF_DIST
#define PF_DIST	2048
#endif

AI void
prefetch_ahead(const uint8_t *p, size_t len, int TT)
{
	size_t o;

	if (TT != 1)
		return;
	for (o = 0; o < len; o += 64)
		_mm_prefetch((const char *)p + PF_DIST + o, _MM_HINT_T0);
}

/* Tile arguments: rows [r, r + RT), tokens [t, t + TT). */
#define TARGS	const uint8_t *w, size_t ws, size_t n, const uint8_t *act, \
		size_t ab, float *y, size_t ldy, size_t r, size_t t
#define TPASS	w, ws, n, act, ab, y, ldy, r, t

AI void
store_tile(__m512 acc[MAXR][MAXT], float *y, size_t ldy, size_t r,
    size_t t, int RT, int TT)
{
	int i, j;

	for (i = 0; i < RT; i++)
		for (j = 0; j < TT; j++)
			y[(t + j) * ldy + r + i] = _mm512_reduce_add_ps(acc[i][j]);
}

#define ZERO_TILE(acc, RT, TT) do {					\
	int i_, j_;							\
	for (i_ = 0; i_ < (RT); i_++)					\
		for (j_ = 0; j_ < (TT); j_++)				\
			(acc)[i_][j_] = _mm512_setzero_ps();		\
} while (0)

/* ------------------------------------------------------------------ */
/* Legacy 32-element blocks, 4 blocks (one activation group) at a time */

/*
 * Q4_0 (18-byte blocks) and Q5_0 (22): offset weights; the act's c
 * lanes hold -off * sum(q_a).  Q4_1 (20) and Q5_1 (24): the m * s term
 * is one more FMA per block against the act's s lanes.
 */
AI void
grp_q4q5(uint32_t wt, TARGS, size_t g, int nv, __m512 acc[MAXR][MAXT],
    int RT, int TT)
{
	const size_t bsz = wt == GGML_TYPE_Q4_0 ? 18 : wt == GGML_TYPE_Q4_1 ?
	    20 : wt == GGML_TYPE_Q5_0 ? 22 : 24;
	const size_t qoff = wt == GGML_TYPE_Q4_0 ? 2 : wt == GGML_TYPE_Q4_1 ?
	    4 : wt == GGML_TYPE_Q5_0 ? 6 : 8;
	const int has_m = wt == GGML_TYPE_Q4_1 || wt == GGML_TYPE_Q5_1;
	const int has_h = wt == GGML_TYPE_Q5_0 || wt == GGML_TYPE_Q5_1;
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	const __m512i b4 = _mm512_set1_epi8(0x10);
	__m512i lo[MAXR], hi[MAXR];
	__m512 dw[MAXR], mw[MAXR];
	int i, j;

#pragma GCC unroll 4
	for (i = 0; i < RT; i++) {
		const uint8_t *b = w + (r + i) * ws + g * 4 * bsz;
		const __m512i z = ld4x16(b + qoff, bsz, nv);

		prefetch_ahead(b, 4 * bsz, TT);

		lo[i] = _mm512_and_si512(z, m4);
		hi[i] = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
		if (has_h) {
			__mmask64 kl, kh;

			q5_masks(b + qoff - 4, bsz, nv, &kl, &kh);
			lo[i] = _mm512_mask_add_epi8(lo[i], kl, lo[i], b4);
			hi[i] = _mm512_mask_add_epi8(hi[i], kh, hi[i], b4);
		}
		dw[i] = spread4(f16x4(b, bsz, nv));
		if (has_m)
			mw[i] = spread4(f16x4(b + 2, bsz, nv));
	}
#pragma GCC unroll 8
	for (j = 0; j < TT; j++) {
		const struct kern_act_g4 *a = act_at(act, ab, t + j,
		    g * sizeof(struct kern_act_g4));
		const __m512i qa0 = _mm512_loadu_si512(a->qs);
		const __m512i qa1 = _mm512_loadu_si512(a->qs + 64);
		const __m512 da = _mm512_loadu_ps(a->d);
		const __m512i c = has_m ? _mm512_setzero_si512() :
		    _mm512_loadu_si512(a->c);

#pragma GCC unroll 4
		for (i = 0; i < RT; i++) {
			__m512i s = _mm512_dpbusd_epi32(c, lo[i], qa0);

			s = _mm512_dpbusd_epi32(s, hi[i], qa1);
			acc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(
			    _mm512_cvtepi32_ps(s), da), dw[i], acc[i][j]);
			if (has_m)
				acc[i][j] = _mm512_fmadd_ps(mw[i],
				    _mm512_loadu_ps(a->s), acc[i][j]);
		}
	}
}

AI void
tile_q4q5(uint32_t wt, TARGS, int RT, int TT)
{
	const size_t nb = n / QUANT_QK, full = nb / 4;
	__m512 acc[MAXR][MAXT];
	size_t g;

	ZERO_TILE(acc, RT, TT);
	for (g = 0; g < full; g++)
		grp_q4q5(wt, TPASS, g, 4, acc, RT, TT);
	if (nb % 4 != 0)
		grp_q4q5(wt, TPASS, full, (int)(nb % 4), acc, RT, TT);
	store_tile(acc, y, ldy, r, t, RT, TT);
}

AI void
tile_q4_0(TARGS, int RT, int TT)
{
	tile_q4q5(GGML_TYPE_Q4_0, TPASS, RT, TT);
}

AI void
tile_q4_1(TARGS, int RT, int TT)
{
	tile_q4q5(GGML_TYPE_Q4_1, TPASS, RT, TT);
}

AI void
tile_q5_0(TARGS, int RT, int TT)
{
	tile_q4q5(GGML_TYPE_Q5_0, TPASS, RT, TT);
}

AI void
tile_q5_1(TARGS, int RT, int TT)
{
	tile_q4q5(GGML_TYPE_Q5_1, TPASS, RT, TT);
}

/*
 * Q8_0 (34-byte blocks): the signed weights biased by +128 (xor 0x80)
 * for vpdpbusd; the act's c lanes hold -128 * sum(q_a).
 */
AI void
grp_q8_0(TARGS, size_t g, int nv, __m512 acc[MAXR][MAXT], int RT, int TT)
{
	const __m512i bias = _mm512_set1_epi8((char)0x80);
	__m512i w0[MAXR], w1[MAXR];
	__m512 d0[MAXR], d1[MAXR];
	int i, j;

#pragma GCC unroll 4
	for (i = 0; i < RT; i++) {
		const uint8_t *b = w + (r + i) * ws + g * 4 * 34;
		const __m512 d = _mm512_castps128_ps512(f16x4(b, 34, nv));

		prefetch_ahead(b, 4 * 34, TT);

		w0[i] = _mm512_xor_si512(ld2x32(b + 2, 34, nv > 1), bias);
		w1[i] = nv > 2 ? _mm512_xor_si512(ld2x32(b + 2 + 68, 34,
		    nv > 3), bias) : _mm512_setzero_si512();
		d0[i] = _mm512_permutexvar_ps(
		    _mm512_load_si512(lanes8_idx[0]), d);
		d1[i] = _mm512_permutexvar_ps(
		    _mm512_load_si512(lanes8_idx[1]), d);
	}
#pragma GCC unroll 8
	for (j = 0; j < TT; j++) {
		const struct kern_act_q8 *a = act_at(act, ab, t + j,
		    g * sizeof(struct kern_act_q8));
		const __m512i qa0 = _mm512_loadu_si512(a->qs);
		const __m512i qa1 = _mm512_loadu_si512(a->qs + 64);
		const __m512i c0 = _mm512_loadu_si512(a->c);
		const __m512i c1 = _mm512_loadu_si512(a->c + 16);
		const __m512 da0 = _mm512_loadu_ps(a->d);
		const __m512 da1 = _mm512_loadu_ps(a->d + 16);

#pragma GCC unroll 4
		for (i = 0; i < RT; i++) {
			const __m512i s0 = _mm512_dpbusd_epi32(c0, w0[i], qa0);
			const __m512i s1 = _mm512_dpbusd_epi32(c1, w1[i], qa1);

			acc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(
			    _mm512_cvtepi32_ps(s0), da0), d0[i], acc[i][j]);
			acc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(
			    _mm512_cvtepi32_ps(s1), da1), d1[i], acc[i][j]);
		}
	}
}

AI void
tile_q8_0(TARGS, int RT, int TT)
{
	const size_t nb = n / QUANT_QK, full = nb / 4;
	__m512 acc[MAXR][MAXT];
	size_t g;

	ZERO_TILE(acc, RT, TT);
	for (g = 0; g < full; g++)
		grp_q8_0(TPASS, g, 4, acc, RT, TT);
	if (nb % 4 != 0)
		grp_q8_0(TPASS, full, (int)(nb % 4), acc, RT, TT);
	store_tile(acc, y, ldy, r, t, RT, TT);
}

/* ------------------------------------------------------------------ */
/* K-quants, one 256-element super-block at a time */

/*
 * Q4_K (144-byte blocks) and Q5_K (176): vpmaddubsw of the 4/5-bit
 * weights with the activations, vpdpwssd with the sub-block scales;
 * the mins term is one vpmaddwd of m_j with the act's sub-block sums.
 */
AI void
tile_q4q5_k(uint32_t wt, TARGS, int RT, int TT)
{
	const size_t bsz = wt == GGML_TYPE_Q4_K ? 144 : 176;
	const size_t qoff = wt == GGML_TYPE_Q4_K ? 16 : 48;
	const size_t nb = n / QUANT_QK_K;
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	const __m512i b4 = _mm512_set1_epi8(0x10);
	__m512 acc[MAXR][MAXT];
	__m128 accm[MAXR][MAXT];
	size_t sb;
	int i, j, k;

	ZERO_TILE(acc, RT, TT);
	for (i = 0; i < RT; i++)
		for (j = 0; j < TT; j++)
			accm[i][j] = _mm_setzero_ps();
	for (sb = 0; sb < nb; sb++) {
		__m512i q[MAXR][4], sc[MAXR][4];
		__m128i mn[MAXR];
		float d[MAXR], dmin[MAXR];

#pragma GCC unroll 4
		for (i = 0; i < RT; i++) {
			const uint8_t *b = w + (r + i) * ws + sb * bsz;
			const __m512i z0 = _mm512_loadu_si512(b + qoff);
			const __m512i z1 = _mm512_loadu_si512(b + qoff + 64);
			const __m128i s8 = k4_scales(b + 4);
			const __m512i sw = _mm512_broadcast_i32x4(s8);

			prefetch_ahead(b, bsz, TT);

			d[i] = f16_at(b);
			dmin[i] = f16_at(b + 2);
			mn[i] = _mm_cvtepu8_epi16(_mm_srli_si128(s8, 8));
			q[i][0] = _mm512_and_si512(z0, m4);
			q[i][1] = _mm512_and_si512(_mm512_srli_epi16(z0, 4), m4);
			q[i][2] = _mm512_and_si512(z1, m4);
			q[i][3] = _mm512_and_si512(_mm512_srli_epi16(z1, 4), m4);
			if (wt == GGML_TYPE_Q5_K) {
				const __m256i h = _mm256_loadu_si256(
				    (const void *)(b + 16));
				const __m512i hh = _mm512_inserti64x4(
				    _mm512_castsi256_si512(h),
				    _mm256_srli_epi16(h, 2), 1);

				q[i][0] = _mm512_or_si512(q[i][0],
				    _mm512_and_si512(_mm512_slli_epi16(hh, 4),
				    b4));
				q[i][1] = _mm512_or_si512(q[i][1],
				    _mm512_and_si512(_mm512_slli_epi16(hh, 3),
				    b4));
				q[i][2] = _mm512_or_si512(q[i][2],
				    _mm512_and_si512(hh, b4));
				q[i][3] = _mm512_or_si512(q[i][3],
				    _mm512_and_si512(_mm512_srli_epi16(hh, 1),
				    b4));
			}
#pragma GCC unroll 4
			for (k = 0; k < 4; k++)
				sc[i][k] = _mm512_shuffle_epi8(sw,
				    _mm512_load_si512(k4_shuf[k]));
		}
#pragma GCC unroll 8
		for (j = 0; j < TT; j++) {
			const struct kern_act_k *a = act_at(act, ab, t + j,
			    sb * sizeof(struct kern_act_k));
			const __m128i bs = _mm_loadu_si128((const void *)a->bs);

#pragma GCC unroll 4
			for (i = 0; i < RT; i++) {
				__m512i s = _mm512_setzero_si512();
				__m128 m;

#pragma GCC unroll 4
				for (k = 0; k < 4; k++)
					s = _mm512_dpwssd_epi32(s,
					    _mm512_maddubs_epi16(q[i][k],
					    _mm512_loadu_si512(a->qs + 64 * k)),
					    sc[i][k]);
				m = _mm_cvtepi32_ps(_mm_madd_epi16(mn[i], bs));
				acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
				    _mm512_set1_ps(d[i] * a->d), acc[i][j]);
				accm[i][j] = _mm_fmadd_ps(m,
				    _mm_set1_ps(-dmin[i] * a->d), accm[i][j]);
			}
		}
	}
	/*
	 * The mins apart, summed last, as llama.cpp and quant_vec_dot do:
	 * folding them into the lanes changed rounding enough to flip MoE
	 * routing choices in the Q4_K_M conformance model.
	 */
	for (i = 0; i < RT; i++)
		for (j = 0; j < TT; j++) {
			__m128 v = accm[i][j];

			v = _mm_add_ps(v, _mm_movehl_ps(v, v));
			v = _mm_add_ss(v, _mm_movehdup_ps(v));
			y[(t + j) * ldy + r + i] = _mm512_reduce_add_ps(
			    acc[i][j]) + _mm_cvtss_f32(v);
		}
}

AI void
tile_q4_k(TARGS, int RT, int TT)
{
	tile_q4q5_k(GGML_TYPE_Q4_K, TPASS, RT, TT);
}

AI void
tile_q5_k(TARGS, int RT, int TT)
{
	tile_q4q5_k(GGML_TYPE_Q5_K, TPASS, RT, TT);
}

/*
 * Q6_K (210-byte blocks): 6-bit q kept unsigned (0..63); the -32 offset
 * is -32 * sum_g scale_g * bsums_g, one more vpdpwssd of the act's bsums
 * with -32 * scales.
 */
AI void
tile_q6_k(TARGS, int RT, int TT)
{
	const size_t nb = n / QUANT_QK_K;
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	const __m512i m30 = _mm512_set1_epi8(0x30);
	__m512 acc[MAXR][MAXT];
	size_t sb;
	int i, j, k, h;

	ZERO_TILE(acc, RT, TT);
	for (sb = 0; sb < nb; sb++) {
		__m512i q[MAXR][4], sc[MAXR][4], corr[MAXR];
		float d[MAXR];

#pragma GCC unroll 4
		for (i = 0; i < RT; i++) {
			const uint8_t *b = w + (r + i) * ws + sb * 210;
			const __m512i sw = _mm512_castsi256_si512(
			    _mm256_cvtepi8_epi16(_mm_loadu_si128(
			    (const void *)(b + 192))));

			prefetch_ahead(b, 210, TT);

			d[i] = f16_at(b + 208);
#pragma GCC unroll 2
			for (h = 0; h < 2; h++) {
				const __m512i l = _mm512_loadu_si512(b + 64 * h);
				const __m256i qh = _mm256_loadu_si256(
				    (const void *)(b + 128 + 32 * h));
				const __m512i hh = _mm512_inserti64x4(
				    _mm512_castsi256_si512(qh),
				    _mm256_srli_epi16(qh, 2), 1);

				q[i][2 * h] = _mm512_or_si512(
				    _mm512_and_si512(l, m4), _mm512_and_si512(
				    _mm512_slli_epi16(hh, 4), m30));
				q[i][2 * h + 1] = _mm512_or_si512(
				    _mm512_and_si512(_mm512_srli_epi16(l, 4),
				    m4), _mm512_and_si512(hh, m30));
			}
#pragma GCC unroll 4
			for (k = 0; k < 4; k++)
				sc[i][k] = _mm512_permutexvar_epi16(
				    _mm512_load_si512(k6_idx[k]), sw);
			corr[i] = _mm512_zextsi256_si512(_mm256_slli_epi16(
			    _mm512_castsi512_si256(sw), 5));
		}
#pragma GCC unroll 8
		for (j = 0; j < TT; j++) {
			const struct kern_act_k *a = act_at(act, ab, t + j,
			    sb * sizeof(struct kern_act_k));
			/* bs[16] then d and padding; times 0 above word 15. */
			const __m512i bs = _mm512_loadu_si512(a->bs);

#pragma GCC unroll 4
			for (i = 0; i < RT; i++) {
				__m512i s = _mm512_setzero_si512();

#pragma GCC unroll 4
				for (k = 0; k < 4; k++)
					s = _mm512_dpwssd_epi32(s,
					    _mm512_maddubs_epi16(q[i][k],
					    _mm512_loadu_si512(a->qs + 64 * k)),
					    sc[i][k]);
				s = _mm512_sub_epi32(s,
				    _mm512_madd_epi16(bs, corr[i]));
				acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
				    _mm512_set1_ps(d[i] * a->d), acc[i][j]);
			}
		}
	}
	store_tile(acc, y, ldy, r, t, RT, TT);
}

/* ------------------------------------------------------------------ */
/* Float weights: F32, F16 (F16C), BF16 (shift into the high half) */

AI __m512
ld_w16(uint32_t wt, const uint8_t *p, __mmask16 k, int masked)
{
	if (wt == GGML_TYPE_F32)
		return masked ? _mm512_maskz_loadu_ps(k, p) :
		    _mm512_loadu_ps(p);
	__m256i h = masked ? _mm256_maskz_loadu_epi16(k, p) :
	    _mm256_loadu_si256((const void *)p);
	if (wt == GGML_TYPE_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(
	    _mm512_cvtepu16_epi32(h), 16));
}

AI void
chunk_f(uint32_t wt, TARGS, size_t e, __mmask16 km, int masked,
    __m512 acc[MAXR][MAXT], int RT, int TT)
{
	const size_t es = wt == GGML_TYPE_F32 ? 4 : 2;
	__m512 wv[MAXR];
	int i, j;

#pragma GCC unroll 4
	for (i = 0; i < RT; i++) {
		wv[i] = ld_w16(wt, w + (r + i) * ws + e * es, km, masked);
		prefetch_ahead(w + (r + i) * ws + e * es, 16 * es, TT);
	}
#pragma GCC unroll 8
	for (j = 0; j < TT; j++) {
		const float *x = act_at(act, ab, t + j, e * sizeof(float));
		/* The act row is zero-padded to 64 bytes: no mask needed. */
		const __m512 xv = _mm512_loadu_ps(x);

#pragma GCC unroll 4
		for (i = 0; i < RT; i++)
			acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
	}
}

AI void
tile_float(uint32_t wt, TARGS, int RT, int TT)
{
	__m512 acc[MAXR][MAXT];
	size_t e;

	ZERO_TILE(acc, RT, TT);
	for (e = 0; e + 16 <= n; e += 16)
		chunk_f(wt, TPASS, e, 0xffff, 0, acc, RT, TT);
	if (e < n)
		chunk_f(wt, TPASS, e, (__mmask16)((1u << (n - e)) - 1), 1,
		    acc, RT, TT);
	store_tile(acc, y, ldy, r, t, RT, TT);
}

AI void
tile_f32(TARGS, int RT, int TT)
{
	tile_float(GGML_TYPE_F32, TPASS, RT, TT);
}

AI void
tile_f16(TARGS, int RT, int TT)
{
	tile_float(GGML_TYPE_F16, TPASS, RT, TT);
}

AI void
tile_bf16(TARGS, int RT, int TT)
{
	tile_float(GGML_TYPE_BF16, TPASS, RT, TT);
}

/* ------------------------------------------------------------------ */
/* Driver */

/*
 * Tokens [0, n_tok) of rows [r, r + RT) in tiles of TTP, then 4, 2, 1.
 * Each tile re-reads its RT weight rows, from L1 after the first.
 */
#define TOKENS(TILE, RT, TTP) do {					\
	size_t t = 0;							\
	if ((TTP) == 8)							\
		for (; t + 8 <= n_tok; t += 8)				\
			TILE(TPASS, RT, 8);				\
	for (; t + 4 <= n_tok; t += 4)					\
		TILE(TPASS, RT, 4);					\
	if (n_tok - t >= 2) {						\
		TILE(TPASS, RT, 2);					\
		t += 2;							\
	}								\
	if (n_tok - t >= 1)						\
		TILE(TPASS, RT, 1);					\
} while (0)

/*
 * Rows [r0, r1): decode (one token) row by row, so the weights are one
 * sequential stream the hardware prefetcher follows (tiles of 4 rows
 * read 4 short interleaved streams and ran 3x slower from DRAM:
 * bench/README.md); prefill RTP rows x TTP tokens, RTP and TTP chosen per
 * type so a tile's weights and accumulators fit in the 32 registers.
 */
#define DRIVE(TILE, RTP, TTP) do {					\
	size_t r = r0;							\
	if (n_tok == 1) {						\
		const size_t t = 0;					\
		for (; r < r1; r++)					\
			TILE(TPASS, 1, 1);				\
		break;							\
	}								\
	for (; r + (RTP) <= r1; r += (RTP))				\
		TOKENS(TILE, RTP, TTP);					\
	for (; r < r1; r++)						\
		TOKENS(TILE, 1, TTP);					\
} while (0)

#define MATMUL(NAME, TILE, RTP, TTP)				\
static void								\
NAME(const uint8_t *w, size_t ws, size_t n, const uint8_t *act,		\
    size_t ab, size_t n_tok, float *y, size_t ldy, size_t r0, size_t r1) \
{									\
	DRIVE(TILE, RTP, TTP);					\
}

MATMUL(mm_q4_0, tile_q4_0, 2, 8)
MATMUL(mm_q4_1, tile_q4_1, 2, 8)
MATMUL(mm_q5_0, tile_q5_0, 2, 8)
MATMUL(mm_q5_1, tile_q5_1, 1, 8)
MATMUL(mm_q8_0, tile_q8_0, 2, 4)
MATMUL(mm_q4_k, tile_q4_k, 1, 8)
MATMUL(mm_q5_k, tile_q5_k, 1, 8)
MATMUL(mm_q6_k, tile_q6_k, 1, 8)
MATMUL(mm_f32, tile_f32, 4, 4)
MATMUL(mm_f16, tile_f16, 4, 4)
MATMUL(mm_bf16, tile_bf16, 4, 4)

/* ------------------------------------------------------------------ */
/* Packed Q4_0 / Q8_0 panels (kern_simd.h "Packed weights") */


AI __m512i
bcast32(const int8_t *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	return _mm512_set1_epi32(v);
}

/*
 * The 16 rows of panel pw (rows [r, r + 16)) times tokens [t, t + TT):
 * every block's quants are loaded and unpacked once, then each token
 * runs 8 vpdpbusd with its activation bytes broadcast; lane i of every
 * register is row r + i throughout.
 */
AI void
pb_tile(uint32_t wt, const uint8_t *pw, size_t nb, const uint8_t *act,
    size_t ab, float *y, size_t ldy, size_t r, size_t t, int TT)
{
	const int q8 = wt == GGML_TYPE_Q8_0;
	const size_t qb = q8 ? 32 : 16, blk = 16 * (2 + qb);
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	const __m512i bias = _mm512_set1_epi8((char)0x80);
	__m512 acc[MAXT];
	size_t k, o;
	int j, c;

	for (j = 0; j < TT; j++)
		acc[j] = _mm512_setzero_ps();
	for (k = 0; k < nb; k++) {
		const uint8_t *q = pw + kern_pb_qs_off(qb, k);
		const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(
		    (const void *)(pw + kern_pb_d_off(qb, k, nb))));
		__m512i v[8];

		if (TT == 1)
			for (o = 0; o < blk; o += 64)
				_mm_prefetch((const char *)pw + k * blk +
				    PF_DIST + o, _MM_HINT_T0);
		if (q8) {
#pragma GCC unroll 8
			for (c = 0; c < 8; c++)
				v[c] = _mm512_xor_si512(_mm512_loadu_si512(
				    (const void *)(q + 64 * c)), bias);
		} else {
#pragma GCC unroll 4
			for (c = 0; c < 4; c++) {
				const __m512i z = _mm512_loadu_si512(
				    (const void *)(q + 64 * c));

				v[c] = _mm512_and_si512(z, m4);
				v[4 + c] = _mm512_and_si512(
				    _mm512_srli_epi16(z, 4), m4);
			}
		}
#pragma GCC unroll 8
		for (j = 0; j < TT; j++) {
			const struct kern_act_pb *a = (const void *)(act +
			    (t + j) * ab + k * sizeof(struct kern_act_pb));
			__m512i s0 = _mm512_set1_epi32(a->c);
			__m512i s1 = _mm512_setzero_si512();

			/*
			 * v[c] meets activation bytes 4c..4c+3 (Q8_0), or
			 * v[c] / v[4 + c] the low / high nibbles: elements
			 * 4c.. and 16 + 4c.. (Q4_0).
			 */
#pragma GCC unroll 4
			for (c = 0; c < 4; c++) {
				const int lo = q8 ? 2 * c : c;
				const int hi = q8 ? 2 * c + 1 : 4 + c;

				s0 = _mm512_dpbusd_epi32(s0, v[lo],
				    bcast32(a->qs + 4 * lo));
				s1 = _mm512_dpbusd_epi32(s1, v[hi],
				    bcast32(a->qs + 4 * hi));
			}
			acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(
			    _mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw,
			    _mm512_set1_ps(a->d)), acc[j]);
		}
	}
	for (j = 0; j < TT; j++)
		_mm512_storeu_ps(y + (t + j) * ldy + r, acc[j]);
}

/* Rows [r0, r1) (multiples of 16) of packed Q4_0 / Q8_0. */
static void
mm_packed(uint32_t wt, const uint8_t *w, size_t ws, size_t n,
    const uint8_t *act, size_t ab, size_t n_tok, float *y, size_t ldy,
    size_t r0, size_t r1)
{
	const size_t nb = n / QUANT_QK;
	size_t r, t;

	/* Loads are unaligned: a panel of an odd block count is not. */
	if (r0 % KERN_PANEL != 0 || r1 % KERN_PANEL != 0)
		CL_BUG("kern: packed rows not on panel boundaries");
	for (r = r0; r < r1; r += KERN_PANEL) {
		const uint8_t *pw = w + r * ws;

		t = 0;
		if (wt == GGML_TYPE_Q4_0) {
			for (; t + 8 <= n_tok; t += 8)
				pb_tile(GGML_TYPE_Q4_0, pw, nb, act, ab, y,
				    ldy, r, t, 8);
		} else {
			for (; t + 8 <= n_tok; t += 8)
				pb_tile(GGML_TYPE_Q8_0, pw, nb, act, ab, y,
				    ldy, r, t, 8);
		}
		for (; t + 4 <= n_tok; t += 4)
			pb_tile(wt, pw, nb, act, ab, y, ldy, r, t, 4);
		for (; t + 2 <= n_tok; t += 2)
			pb_tile(wt, pw, nb, act, ab, y, ldy, r, t, 2);
		if (t < n_tok) {
			if (wt == GGML_TYPE_Q4_0)
				pb_tile(GGML_TYPE_Q4_0, pw, nb, act, ab, y,
				    ldy, r, t, 1);
			else
				pb_tile(GGML_TYPE_Q8_0, pw, nb, act, ab, y,
				    ldy, r, t, 1);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Packed K-quant panels (kern_simd.h "Packed weights") */

/*
 * vpshufb controls: byte b of every 32-bit lane zero-extended to the
 * lane (pk_byte[b]), and bytes 2b, 2b + 1 zero-extended to its two words
 * (pk_word[b]).
 */
#define PKB(b)	b, 0x80, 0x80, 0x80, 4 + b, 0x80, 0x80, 0x80, \
		8 + b, 0x80, 0x80, 0x80, 12 + b, 0x80, 0x80, 0x80
#define PKW(b)	2 * b, 0x80, 2 * b + 1, 0x80, 4 + 2 * b, 0x80, \
		5 + 2 * b, 0x80, 8 + 2 * b, 0x80, 9 + 2 * b, 0x80, \
		12 + 2 * b, 0x80, 13 + 2 * b, 0x80
static const uint8_t pk_byte[4][64] __attribute__((aligned(64))) = {
	{ R4(PKB(0)) }, { R4(PKB(1)) }, { R4(PKB(2)) }, { R4(PKB(3)) }
};
static const uint8_t pk_word[2][64] __attribute__((aligned(64))) = {
	{ R4(PKW(0)) }, { R4(PKW(1)) }
};

/* The layout keeps these 64-byte aligned; loadu costs nothing then. */
AI __m512i
ld64(const uint8_t *p)
{
	return _mm512_loadu_si512((const void *)p);
}

/*
 * Final store of a packed tile: lane i of acc[j] (+ accm[j]) is y of row
 * r + i, token t + j.
 */
AI void
pk_store(const __m512 *acc, const __m512 *accm, float *y, size_t ldy,
    size_t r, size_t t, int TT)
{
	int j;

	for (j = 0; j < TT; j++)
		_mm512_storeu_ps(y + (t + j) * ldy + r, accm == NULL ? acc[j] :
		    _mm512_add_ps(acc[j], accm[j]));
}

/*
 * Decode: part `part` of `parts` of the lines of a super-block of sbb
 * bytes at p, PF_DIST ahead.  Spread over the super-block: a burst of
 * all 36-53 lines at its start left packed Q5_K a third slower from
 * DRAM (17.6 against 27.8 GB/s, one thread).
 */
AI void
pk_prefetch(const uint8_t *p, size_t sbb, int part, int parts)
{
	size_t o = (size_t)part * sbb / (size_t)parts & ~(size_t)63;
	const size_t e = (size_t)(part + 1) * sbb / (size_t)parts;

	for (; o < e; o += 64)
		_mm_prefetch((const char *)p + PF_DIST + o, _MM_HINT_T0);
}

/*
 * Q4_K / Q5_K panel pw (rows [r, r + 16)) x tokens [t, t + TT).  Per
 * super-block: the sub-block scales and mins of the 16 rows decoded once
 * into bytes; per sub-block pair, the 8 chunks unpacked once into 16
 * registers of 4 quants per row; then per token 8 vpdpbusd per
 * sub-block (activation bytes broadcast) into a fresh int32 sum, times
 * the sub-block scale (vpmulld), added to the super-block's integer sum;
 * the mins term is 4 vpdpwssd of (m_j, m_j+1) with the act's (bs_j,
 * bs_j+1).  In float, per row as llama.cpp and quant_vec_dot:
 * acc += (d_a d_w) sumi, accm += (-d_a dmin_w) summ, y = acc + accm.
 */
AI void
pk_tile_k4(uint32_t wt, const uint8_t *pw, size_t nb, const uint8_t *act,
    size_t ab, float *y, size_t ldy, size_t r, size_t t, int TT)
{
	const int q5 = wt == GGML_TYPE_Q5_K;
	const size_t sbb = q5 ? KERN_PK_Q5K : KERN_PK_Q4K;
	const __m512i m0f = _mm512_set1_epi8(0x0f);
	const __m512i m30 = _mm512_set1_epi8(0x30);
	const __m512i b10 = _mm512_set1_epi8(0x10);
	__m512 acc[MAXT], accm[MAXT];
	size_t k;
	int j, c, q, h;

	for (j = 0; j < TT; j++) {
		acc[j] = _mm512_setzero_ps();
		accm[j] = _mm512_setzero_ps();
	}
	for (k = 0; k < nb; k++) {
		const uint8_t *p = pw + k * sbb;
		const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(
		    (const void *)p));
		const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(
		    (const void *)(p + 32)));
		const __m512i sl = ld64(p + 64), ml = ld64(p + 128);
		const __m512i sh = ld64(p + 192);
		/* Bytes b of each lane: sc_b, sc_b+4, m_b, m_b+4. */
		const __m512i s03 = _mm512_or_si512(_mm512_and_si512(sl, m0f),
		    _mm512_and_si512(_mm512_slli_epi32(sh, 4), m30));
		const __m512i s47 = _mm512_or_si512(_mm512_and_si512(
		    _mm512_srli_epi32(sl, 4), m0f), _mm512_and_si512(
		    _mm512_slli_epi32(sh, 2), m30));
		const __m512i m03 = _mm512_or_si512(_mm512_and_si512(ml, m0f),
		    _mm512_and_si512(sh, m30));
		const __m512i m47 = _mm512_or_si512(_mm512_and_si512(
		    _mm512_srli_epi32(ml, 4), m0f), _mm512_and_si512(
		    _mm512_srli_epi32(sh, 2), m30));
		__m512i sumi[MAXT];

		for (j = 0; j < TT; j++)
			sumi[j] = _mm512_setzero_si512();
#pragma GCC unroll 4
		for (c = 0; c < 4; c++) {
			const __m512i sreg = c < 2 ? s03 : s47;
			const __m512i sc0 = _mm512_shuffle_epi8(sreg,
			    _mm512_load_si512(pk_byte[(2 * c) % 4]));
			const __m512i sc1 = _mm512_shuffle_epi8(sreg,
			    _mm512_load_si512(pk_byte[(2 * c + 1) % 4]));
			__m512i v[16];

			if (TT == 1)
				pk_prefetch(p, sbb, c, 4);
#pragma GCC unroll 8
			for (q = 0; q < 8; q++) {
				const __m512i z = ld64(p + 256 + 64 *
				    (8 * c + q));

				v[q] = _mm512_and_si512(z, m0f);
				v[8 + q] = _mm512_and_si512(
				    _mm512_srli_epi16(z, 4), m0f);
				if (q5) {
					const __m512i hb = ld64(p + 2304 +
					    64 * q);

					/* Bits 2c, 2c + 1 to bit 4. */
					v[q] = _mm512_or_si512(v[q],
					    _mm512_and_si512(2 * c <= 4 ?
					    _mm512_slli_epi16(hb, 4 - 2 * c) :
					    _mm512_srli_epi16(hb, 2 * c - 4),
					    b10));
					v[8 + q] = _mm512_or_si512(v[8 + q],
					    _mm512_and_si512(2 * c + 1 <= 4 ?
					    _mm512_slli_epi16(hb, 3 - 2 * c) :
					    _mm512_srli_epi16(hb, 2 * c - 3),
					    b10));
				}
			}
#pragma GCC unroll 8
			for (j = 0; j < TT; j++) {
				const struct kern_act_pk *a = (const void *)(
				    act + (t + j) * ab + k *
				    sizeof(struct kern_act_pk));
				__m512i s0 = _mm512_setzero_si512();
				__m512i s1 = _mm512_setzero_si512();

#pragma GCC unroll 8
				for (q = 0; q < 8; q++) {
					s0 = _mm512_dpbusd_epi32(s0, v[q],
					    bcast32(a->qs + 64 * c + 4 * q));
					s1 = _mm512_dpbusd_epi32(s1, v[8 + q],
					    bcast32(a->qs + 64 * c + 32 +
					    4 * q));
				}
				sumi[j] = _mm512_add_epi32(sumi[j],
				    _mm512_add_epi32(
				    _mm512_mullo_epi32(s0, sc0),
				    _mm512_mullo_epi32(s1, sc1)));
			}
		}
		{
			__m512i mw[4];

#pragma GCC unroll 4
			for (h = 0; h < 4; h++)
				mw[h] = _mm512_shuffle_epi8(h < 2 ? m03 : m47,
				    _mm512_load_si512(pk_word[h % 2]));
#pragma GCC unroll 8
			for (j = 0; j < TT; j++) {
				const struct kern_act_pk *a = (const void *)(
				    act + (t + j) * ab + k *
				    sizeof(struct kern_act_pk));
				const __m512 da = _mm512_set1_ps(a->d);
				__m512i ms = _mm512_setzero_si512();

#pragma GCC unroll 4
				for (h = 0; h < 4; h++) {
					int32_t pr;

					memcpy(&pr, a->bs + 2 * h, 4);
					ms = _mm512_dpwssd_epi32(ms, mw[h],
					    _mm512_set1_epi32(pr));
				}
				acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da),
				    _mm512_cvtepi32_ps(sumi[j]), acc[j]);
				accm[j] = _mm512_fmadd_ps(_mm512_mul_ps(dm,
				    _mm512_sub_ps(_mm512_setzero_ps(), da)),
				    _mm512_cvtepi32_ps(ms), accm[j]);
			}
		}
	}
	pk_store(acc, accm, y, ldy, r, t, TT);
}

/*
 * sumi + scale x (c[g] + the 4 vpdpbusd of group g's 16 quants, v, with
 * its activation bytes).
 */
AI __m512i
q6k_group(__m512i sumi, const __m512i v[4], __m512i sc,
    const struct kern_act_pk *a, int g)
{
	__m512i x = _mm512_set1_epi32(a->c[g]);
	int cc;

#pragma GCC unroll 4
	for (cc = 0; cc < 4; cc++)
		x = _mm512_dpbusd_epi32(x, v[cc], bcast32(a->qs + 16 * g +
		    4 * cc));
	return _mm512_add_epi32(sumi, _mm512_mullo_epi32(x, sc));
}

/*
 * Q6_K panel pw (rows [r, r + 16)) x tokens
 * [t, t + TT).  Per half and 8 columns of chunks, 12 chunk loads give
 * the 6-bit quants (unsigned, 0..63) of 4 groups of 16 elements as 16
 * registers; per token and group 4 vpdpbusd starting from the act's
 * c[g] = -32 bsums[g] (so the sum is over (q - 32) q_a), times the group
 * scale (vpmulld), added to the super-block's integer sum; in float
 * acc += (d_a d_w) sumi, as llama.cpp and quant_vec_dot.
 */
AI void
pk_tile_q6k(const uint8_t *pw, size_t nb, const uint8_t *act, size_t ab,
    float *y, size_t ldy, size_t r, size_t t, int TT)
{
	const size_t sh = kern_p6_shift(pw);
	const __m512i m0f = _mm512_set1_epi8(0x0f);
	const __m512i m30 = _mm512_set1_epi8(0x30);
	__m512 acc[MAXT];
	size_t k;
	int j, h, u, cc, s;

	for (j = 0; j < TT; j++)
		acc[j] = _mm512_setzero_ps();
	for (k = 0; k < nb; k++) {
		const uint8_t *qp = pw + kern_p6_q_off(k, nb, sh);
		const uint8_t *sp = pw + kern_p6_s_off(k, nb, sh);
		__m512i sumi[MAXT];
		__m512 dw;

		for (j = 0; j < TT; j++)
			sumi[j] = _mm512_setzero_si512();
#pragma GCC unroll 2
		for (h = 0; h < 2; h++) {
#pragma GCC unroll 2
			for (u = 0; u < 2; u++) {
				__m512i v[4][4], sc[4];

#pragma GCC unroll 4
				for (cc = 0; cc < 4; cc++) {
					const uint8_t *b = qp + 192 *
					    (8 * h + 4 * u + cc);
					const __m512i za = ld64(b);
					const __m512i zb = ld64(b + 64);
					const __m512i zh = ld64(b + 128);

					if (TT == 1)
						pk_prefetch(pw + k *
						    KERN_PK_Q6K, KERN_PK_Q6K,
						    8 * h + 4 * u + cc, 16);
					v[0][cc] = _mm512_or_si512(
					    _mm512_and_si512(za, m0f),
					    _mm512_and_si512(
					    _mm512_slli_epi16(zh, 4), m30));
					v[1][cc] = _mm512_or_si512(
					    _mm512_and_si512(zb, m0f),
					    _mm512_and_si512(
					    _mm512_slli_epi16(zh, 2), m30));
					v[2][cc] = _mm512_or_si512(
					    _mm512_and_si512(
					    _mm512_srli_epi16(za, 4), m0f),
					    _mm512_and_si512(zh, m30));
					v[3][cc] = _mm512_or_si512(
					    _mm512_and_si512(
					    _mm512_srli_epi16(zb, 4), m0f),
					    _mm512_and_si512(
					    _mm512_srli_epi16(zh, 2), m30));
				}
#pragma GCC unroll 4
				for (s = 0; s < 4; s++)
					sc[s] = _mm512_cvtepi8_epi32(
					    _mm_loadu_si128((const void *)(sp +
					    16 * (8 * h + 2 * s + u))));
#pragma GCC unroll 8
				for (j = 0; j < TT; j++) {
					const struct kern_act_pk *a =
					    (const void *)(act + (t + j) * ab +
					    k * sizeof(struct kern_act_pk));

#pragma GCC unroll 4
					for (s = 0; s < 4; s++)
						sumi[j] = q6k_group(sumi[j],
						    v[s], sc[s], a,
						    8 * h + 2 * s + u);
				}
			}
		}
		/* Read last: an odd last D comes after its Q. */
		dw = _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(pw +
		    kern_p6_d_off(k, nb, sh))));
		for (j = 0; j < TT; j++) {
			const struct kern_act_pk *a = (const void *)(act +
			    (t + j) * ab + k * sizeof(struct kern_act_pk));

			acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw,
			    _mm512_set1_ps(a->d)), _mm512_cvtepi32_ps(sumi[j]),
			    acc[j]);
		}
	}
	pk_store(acc, NULL, y, ldy, r, t, TT);
}

/*
 * One panel of a packed K-quant, token tiles of TTP then 4, 2, 1.  (8 and
 * 4 ran within 3% of each other on Zen 4 at 64 tokens; 8 reads each
 * unpacked weight register for twice as many tokens.)
 */
#define PK_TOKENS(CALL, TTP) do {					\
	size_t t = 0;							\
	if ((TTP) == 8)							\
		for (; t + 8 <= n_tok; t += 8)				\
			CALL(8);					\
	for (; t + 4 <= n_tok; t += 4)					\
		CALL(4);						\
	if (n_tok - t >= 2) {						\
		CALL(2);						\
		t += 2;							\
	}								\
	if (n_tok - t >= 1)						\
		CALL(1);						\
} while (0)

/* Rows [r0, r1) (multiples of 16) of packed Q4_K / Q5_K / Q6_K. */
static void
mm_packed_k(uint32_t wt, const uint8_t *w, size_t ws, size_t n,
    const uint8_t *act, size_t ab, size_t n_tok, float *y, size_t ldy,
    size_t r0, size_t r1)
{
	const size_t nb = n / QUANT_QK_K;
	size_t r;

	if (r0 % KERN_PANEL != 0 || r1 % KERN_PANEL != 0)
		CL_BUG("kern: packed rows not on panel boundaries");
	for (r = r0; r < r1; r += KERN_PANEL) {
		const uint8_t *pw = w + r * ws;

#define PK_Q4(TT)	pk_tile_k4(GGML_TYPE_Q4_K, pw, nb, act, ab, y, ldy, \
			    r, t, TT)
#define PK_Q5(TT)	pk_tile_k4(GGML_TYPE_Q5_K, pw, nb, act, ab, y, ldy, \
			    r, t, TT)
#define PK_Q6(TT)	pk_tile_q6k(pw, nb, act, ab, y, ldy, r, t, TT)
		if (wt == GGML_TYPE_Q4_K)
			PK_TOKENS(PK_Q4, 8);
		else if (wt == GGML_TYPE_Q5_K)
			PK_TOKENS(PK_Q5, 8);
		else
			PK_TOKENS(PK_Q6, 8);
#undef PK_Q4
#undef PK_Q5
#undef PK_Q6
	}
}

/* ------------------------------------------------------------------ */
/* Activation preparation: the kern_simd.h layouts, vectorized */

/*
 * Quantize 32 floats as quant.c's q8_block() does: amax = max |x|,
 * d = amax / 127, q = round-half-even(x * (127 / amax)) clamped to
 * [-127, 127] (vcvtps2dq rounds half to even under the default MXCSR,
 * as the reference's 1.5 * 2^23 trick does).  Bit-identical for finite
 * x; non-finite x give unspecified quants.  Returns d, stores the 32 q
 * as two 16-byte halves and their sum.
 */
AI float
q8_block32(const float *x, __m128i *q0, __m128i *q1, int *sum)
{
	const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
	const float amax = _mm512_reduce_max_ps(_mm512_max_ps(
	    _mm512_abs_ps(v0), _mm512_abs_ps(v1)));
	const float d = amax / 127.0f;
	const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
	const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
	const __m512i i0 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(
	    _mm512_mul_ps(v0, _mm512_set1_ps(id)), lo), hi));
	const __m512i i1 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(
	    _mm512_mul_ps(v1, _mm512_set1_ps(id)), lo), hi));

	*q0 = _mm512_cvtepi32_epi8(i0);
	*q1 = _mm512_cvtepi32_epi8(i1);
	*sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
	return d;
}

static void
act_g4(uint32_t wt, const float *x, struct kern_act_g4 *g, size_t n)
{
	const int off = wt == GGML_TYPE_Q4_0 ? 8 : wt == GGML_TYPE_Q5_0 ?
	    16 : 0;
	const int q81 = wt == GGML_TYPE_Q4_1 || wt == GGML_TYPE_Q5_1;
	const size_t nb = n / QUANT_QK;
	size_t b;

	for (b = 0; b < nb; b++, x += QUANT_QK) {
		struct kern_act_g4 *a = g + b / 4;
		const int k = (int)(b % 4);
		__m128i q0, q1;
		int sum;
		const float d = q8_block32(x, &q0, &q1, &sum);
		const uint16_t d16 = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);

		if (k == 0)
			memset(a, 0, sizeof(*a));
		_mm_storeu_si128((void *)(a->qs + 16 * k), q0);
		_mm_storeu_si128((void *)(a->qs + 64 + 16 * k), q1);
		_mm_storeu_ps(a->d + 4 * k, _mm_set1_ps(_cvtsh_ss(d16)));
		a->c[4 * k] = -off * sum;
		if (q81)
			a->s[4 * k] = _cvtsh_ss(_cvtss_sh(d * (float)sum,
			    _MM_FROUND_TO_NEAREST_INT));
	}
}

static void
act_q8(const float *x, struct kern_act_q8 *g, size_t n)
{
	const size_t nb = n / QUANT_QK;
	size_t b;

	for (b = 0; b < nb; b++, x += QUANT_QK) {
		struct kern_act_q8 *a = g + b / 4;
		const int k = (int)(b % 4);
		__m128i q0, q1;
		int sum;
		const float d = q8_block32(x, &q0, &q1, &sum);
		const uint16_t d16 = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);

		if (k == 0)
			memset(a, 0, sizeof(*a));
		_mm_storeu_si128((void *)(a->qs + 32 * k), q0);
		_mm_storeu_si128((void *)(a->qs + 32 * k + 16), q1);
		_mm256_storeu_ps(a->d + 8 * k, _mm256_set1_ps(_cvtsh_ss(d16)));
		a->c[8 * k] = -128 * sum;
	}
}

/* Packed Q4_0 / Q8_0: struct kern_act_pb per block (kern_simd.h). */
static void
act_pb(uint32_t wt, const float *x, struct kern_act_pb *a, size_t n,
    size_t len)
{
	const int off = wt == (GGML_TYPE_Q4_0 | KERN_PACKED) ? 8 : 128;
	const size_t nb = n / QUANT_QK;
	size_t b;

	for (b = 0; b < nb; b++, a++, x += QUANT_QK) {
		__m128i q0, q1;
		int sum;
		const float d = q8_block32(x, &q0, &q1, &sum);

		_mm_storeu_si128((void *)a->qs, q0);
		_mm_storeu_si128((void *)(a->qs + 16), q1);
		a->d = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
		a->c = -off * sum;
	}
	memset(a, 0, len - nb * sizeof(*a));
}

/*
 * Q8_K as quant_quantize_row_q8_k(): xm = the x of largest |x|, first
 * on ties; iscale = -127 / xm; q = round-half-even(iscale x) clamped to
 * [-128, 127]; d = 1 / iscale; all zero when xm = 0.  Each 16-float
 * vector is one bsums group.
 */
static void
act_k(uint32_t wt, const float *x, void *act, size_t n)
{
	static const int order[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };
	const int pk = (wt & KERN_PACKED) != 0;
	const size_t nb = n / QUANT_QK_K;
	size_t b;
	int c;

	for (b = 0; b < nb; b++, x += QUANT_QK_K) {
		struct kern_act_k *a = (struct kern_act_k *)act + b;
		struct kern_act_pk *ap = (struct kern_act_pk *)act + b;
		__m512 m = _mm512_setzero_ps(), vam;
		int bsum[16], first = -1;
		float amax, iscale;

		if (pk)
			memset(ap, 0, sizeof(*ap));
		else
			memset(a, 0, sizeof(*a));
		for (c = 0; c < 16; c++)
			m = _mm512_max_ps(m, _mm512_abs_ps(
			    _mm512_loadu_ps(x + 16 * c)));
		amax = _mm512_reduce_max_ps(m);
		if (amax == 0.0f)
			continue;
		vam = _mm512_set1_ps(amax);
		for (c = 0; c < 16 && first < 0; c++) {
			const __mmask16 e = _mm512_cmp_ps_mask(_mm512_abs_ps(
			    _mm512_loadu_ps(x + 16 * c)), vam, _CMP_EQ_OQ);

			if (e != 0)
				first = 16 * c + __builtin_ctz(e);
		}
		if (first < 0)
			continue;	/* NaN: unspecified, left zero */
		iscale = -127.0f / x[first];
		if (pk)
			ap->d = 1 / iscale;
		else
			a->d = 1 / iscale;
		for (c = 0; c < 16; c++) {
			const __m512i q = _mm512_cvtps_epi32(_mm512_min_ps(
			    _mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(
			    x + 16 * c), _mm512_set1_ps(iscale)),
			    _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f)));
			/* Q4_K, Q5_K: 32-element sub-blocks in `order`. */
			const int sbk = c / 2, pos = pk || wt ==
			    GGML_TYPE_Q6_K ? 16 * c : 32 * order[sbk] +
			    16 * (c % 2);

			_mm_storeu_si128((void *)((pk ? ap->qs : a->qs) + pos),
			    _mm512_cvtepi32_epi8(q));
			bsum[c] = _mm512_reduce_add_epi32(q);
		}
		if (pk) {
			for (c = 0; c < 16; c++)
				ap->c[c] = -32 * bsum[c];
			for (c = 0; c < 8; c++)
				ap->bs[c] = (int16_t)(bsum[2 * c] +
				    bsum[2 * c + 1]);
			continue;
		}
		for (c = 0; c < 16; c++) {
			if (wt == GGML_TYPE_Q6_K)
				a->bs[c] = (int16_t)bsum[c];
			else if (c < 8)
				a->bs[c] = (int16_t)(bsum[2 * c] +
				    bsum[2 * c + 1]);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Entry points */

void
kern_avx512_matmul(uint32_t wtype, const void *w, size_t w_stride,
    size_t n, const void *act, size_t n_tok, float *y, size_t ldy,
    size_t r0, size_t r1)
{
	const struct ggml_type_info *ti = ggml_type_info(wtype & ~KERN_PACKED);
	const size_t ab = kern_simd_act_bytes(wtype, n);

	if (ti == NULL || n % ti->blck_elems != 0)
		CL_BUG("kern: bad matmul shape");
	if (r0 >= r1 || n_tok == 0 || n == 0)
		return;
	switch (wtype) {
	case GGML_TYPE_Q4_0 | KERN_PACKED:
		mm_packed(GGML_TYPE_Q4_0, w, w_stride, n, act, ab, n_tok, y,
		    ldy, r0, r1);
		break;
	case GGML_TYPE_Q8_0 | KERN_PACKED:
		mm_packed(GGML_TYPE_Q8_0, w, w_stride, n, act, ab, n_tok, y,
		    ldy, r0, r1);
		break;
	case GGML_TYPE_Q4_K | KERN_PACKED:
	case GGML_TYPE_Q5_K | KERN_PACKED:
	case GGML_TYPE_Q6_K | KERN_PACKED:
		mm_packed_k(wtype & ~KERN_PACKED, w, w_stride, n, act, ab,
		    n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_Q4_0:
		mm_q4_0(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_Q4_1:
		mm_q4_1(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_Q5_0:
		mm_q5_0(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_Q5_1:
		mm_q5_1(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_Q8_0:
		mm_q8_0(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_Q4_K:
		mm_q4_k(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_Q5_K:
		mm_q5_k(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_Q6_K:
		mm_q6_k(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_F32:
		mm_f32(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_F16:
		mm_f16(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	case GGML_TYPE_BF16:
		mm_bf16(w, w_stride, n, act, ab, n_tok, y, ldy, r0, r1);
		break;
	default:
		CL_BUG("kern: matmul on a type that is not computable");
	}
}

void
kern_avx512_act_prepare(uint32_t wtype, const float *x, void *act,
    size_t n)
{
	const struct ggml_type_info *ti = ggml_type_info(wtype & ~KERN_PACKED);
	const size_t len = kern_simd_act_bytes(wtype, n);

	if (ti == NULL || !ti->computable || n % ti->blck_elems != 0)
		CL_BUG("kern: bad activation shape");
	switch (wtype) {
	case GGML_TYPE_Q4_0 | KERN_PACKED:
	case GGML_TYPE_Q8_0 | KERN_PACKED:
		act_pb(wtype, x, act, n, len);
		break;
	case GGML_TYPE_Q4_K | KERN_PACKED:
	case GGML_TYPE_Q5_K | KERN_PACKED:
	case GGML_TYPE_Q6_K | KERN_PACKED:
		act_k(wtype, x, act, n);
		break;
	case GGML_TYPE_Q4_0:
	case GGML_TYPE_Q4_1:
	case GGML_TYPE_Q5_0:
	case GGML_TYPE_Q5_1:
		act_g4(wtype, x, act, n);
		break;
	case GGML_TYPE_Q8_0:
		act_q8(x, act, n);
		break;
	case GGML_TYPE_Q4_K:
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
		act_k(wtype, x, act, n);
		break;
	default:
		if ((wtype & KERN_PACKED) != 0)
			CL_BUG("kern: no vectorized activation for this "
			    "packed type");
		memcpy(act, x, n * sizeof(float));
		memset((char *)act + n * sizeof(float), 0,
		    len - n * sizeof(float));
		break;
	}
}

/* Four independent accumulators; the tail under a mask.  Tolerance:
 * summation order only. */
float
kern_avx512_dot_f32(const float *a, const float *b, size_t n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i),
		    _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16),
		    _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32),
		    _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48),
		    _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i),
		    _mm512_loadu_ps(b + i), s0);
	if (i < n) {
		const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i),
		    _mm512_maskz_loadu_ps(k, b + i), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
	    _mm512_add_ps(s2, s3)));
}
