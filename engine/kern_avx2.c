/*
 * kern_avx2.c - matmul and dot_f32 for x86-64 with AVX2, FMA and F16C
 * (Haswell, Zen 1 and later).  Built alone, with those flags, into
 * libkern_avx2.a; called only through the table kern_select.c hands out
 * after checking CPUID and XGETBV.
 *
 * Divisions: helpers; one tile function per weight type; the row/token
 * driver; the exported entry points.
 *
 * Method (what changed from kern_ref.c): activations arrive quantized as
 * llama.cpp's vec_dot_type in the layouts of kern_simd.h (shared with
 * kern_avx512.c); the integer products use vpmaddubsw (unsigned weights
 * x signed activations; 4-, 5- and 6-bit weights stay unsigned and their
 * offset is a precomputed correction, Q8_0 uses the sign trick since
 * biased 8-bit products would saturate int16), then vpmaddwd with ones or
 * with the K-quant sub-block scales; block results are scaled in float.
 * A tile is RT weight rows x TT tokens, each weight block decoded once
 * per tile.
 *
 * Tolerances are those of kern_avx512.c: against quant_vec_dot_*, float
 * summation order only (1e-5 of the sum of |block results|); against
 * kern_ref, the activation rounding; float weights, summation order.
 */
#include "config.h"

#include <immintrin.h>
#include <string.h>

#include "engine/kern_simd.h"
#include "engine/quant.h"
#include "util/util.h"

#define AI	static inline __attribute__((always_inline))

#define MAXR	2
#define MAXT	4

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

/* [f16(p) x4, f16(p + bsz) x4]; the second 0 unless two. */
AI __m256
f16x2_lanes(const uint8_t *p, size_t bsz, int two)
{
	const float a = f16_at(p), b = two ? f16_at(p + bsz) : 0.0f;

	return _mm256_set_m128(_mm_set1_ps(b), _mm_set1_ps(a));
}

/* The 16 bytes at p and (if two) p + bsz side by side. */
AI __m256i
ld2x16(const uint8_t *p, size_t bsz, int two)
{
	const __m128i a = _mm_loadu_si128((const void *)p);
	const __m128i b = two ? _mm_loadu_si128((const void *)(p + bsz)) :
	    _mm_setzero_si128();

	return _mm256_set_m128i(b, a);
}

/* Byte i of the result is 0xff when bit i of x is set. */
AI __m256i
bytes_from_bits(uint32_t x)
{
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL,
	    0x0202020202020202LL, 0x0101010101010101LL, 0);
	const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
	__m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);

	return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* Q4_K / Q5_K 6-bit scales: bytes 0..7 = sc_0..7, 8..15 = m_0..7. */
AI void
k4_scales(const uint8_t *s, uint8_t out[16])
{
	const uint32_t u0 = ld_u32(s), u1 = ld_u32(s + 4), u2 = ld_u32(s + 8);
	const uint32_t v[4] = {
		u0 & 0x3f3f3f3f,
		(u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4),
		u1 & 0x3f3f3f3f,
		((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4)
	};

	memcpy(out, v, 16);
}

AI __m256i
pair_scales(int a, int b)
{
	return _mm256_set_m128i(_mm_set1_epi16((short)b),
	    _mm_set1_epi16((short)a));
}

/* The 8 f32 sums of an accumulator. */
AI float
hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
	    _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AI const void *
act_at(const uint8_t *act, size_t ab, size_t t, size_t off)
{
	return act + t * ab + off;
}

#define TARGS	const uint8_t *w, size_t ws, size_t n, const uint8_t *act, \
		size_t ab, float *y, size_t ldy, size_t r, size_t t
#define TPASS	w, ws, n, act, ab, y, ldy, r, t

AI void
store_tile(__m256 acc[MAXR][MAXT], float *y, size_t ldy, size_t r,
    size_t t, int RT, int TT)
{
	int i, j;

	for (i = 0; i < RT; i++)
		for (j = 0; j < TT; j++)
			y[(t + j) * ldy + r + i] = hsum(acc[i][j]);
}

#define ZERO_TILE(acc, RT, TT) do {					\
	int i_, j_;							\
	for (i_ = 0; i_ < (RT); i_++)					\
		for (j_ = 0; j_ < (TT); j_++)				\
			(acc)[i_][j_] = _mm256_setzero_ps();		\
} while (0)

/* ------------------------------------------------------------------ */
/* Legacy 32-element blocks, two blocks (half an act group) at a time */

/*
 * Q4_0 Q4_1 Q5_0 Q5_1, blocks 4g + 2h and 4g + 2h + 1 (nv of them, 1 or
 * 2): the low nibbles meet act qs[32h..), the high ones qs[64 + 32h..).
 */
AI void
half_q4q5(uint32_t wt, TARGS, size_t g, int h, int nv,
    __m256 acc[MAXR][MAXT], int RT, int TT)
{
	const size_t bsz = wt == GGML_TYPE_Q4_0 ? 18 : wt == GGML_TYPE_Q4_1 ?
	    20 : wt == GGML_TYPE_Q5_0 ? 22 : 24;
	const size_t qoff = wt == GGML_TYPE_Q4_0 ? 2 : wt == GGML_TYPE_Q4_1 ?
	    4 : wt == GGML_TYPE_Q5_0 ? 6 : 8;
	const int has_m = wt == GGML_TYPE_Q4_1 || wt == GGML_TYPE_Q5_1;
	const int has_h = wt == GGML_TYPE_Q5_0 || wt == GGML_TYPE_Q5_1;
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const __m256i b4 = _mm256_set1_epi8(0x10);
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i lo[MAXR], hi[MAXR];
	__m256 dw[MAXR], mw[MAXR];
	int i, j;

	for (i = 0; i < RT; i++) {
		const uint8_t *b = w + (r + i) * ws + (4 * g + 2 * h) * bsz;
		const __m256i z = ld2x16(b + qoff, bsz, nv > 1);

		lo[i] = _mm256_and_si256(z, m4);
		hi[i] = _mm256_and_si256(_mm256_srli_epi16(z, 4), m4);
		if (has_h) {
			const uint32_t q0 = ld_u32(b + qoff - 4);
			const uint32_t q1 = nv > 1 ?
			    ld_u32(b + bsz + qoff - 4) : 0;

			lo[i] = _mm256_or_si256(lo[i], _mm256_and_si256(
			    bytes_from_bits((q0 & 0xffff) | q1 << 16), b4));
			hi[i] = _mm256_or_si256(hi[i], _mm256_and_si256(
			    bytes_from_bits(q0 >> 16 | (q1 & 0xffff0000)),
			    b4));
		}
		dw[i] = f16x2_lanes(b, bsz, nv > 1);
		if (has_m)
			mw[i] = f16x2_lanes(b + 2, bsz, nv > 1);
	}
	for (j = 0; j < TT; j++) {
		const struct kern_act_g4 *a = act_at(act, ab, t + j,
		    g * sizeof(struct kern_act_g4));
		const __m256i qa0 = _mm256_loadu_si256(
		    (const void *)(a->qs + 32 * h));
		const __m256i qa1 = _mm256_loadu_si256(
		    (const void *)(a->qs + 64 + 32 * h));
		const __m256 da = _mm256_loadu_ps(a->d + 8 * h);

		for (i = 0; i < RT; i++) {
			__m256i s = _mm256_madd_epi16(_mm256_add_epi16(
			    _mm256_maddubs_epi16(lo[i], qa0),
			    _mm256_maddubs_epi16(hi[i], qa1)), ones);

			if (!has_m)
				s = _mm256_add_epi32(s, _mm256_loadu_si256(
				    (const void *)(a->c + 8 * h)));
			acc[i][j] = _mm256_fmadd_ps(_mm256_mul_ps(
			    _mm256_cvtepi32_ps(s), da), dw[i], acc[i][j]);
			if (has_m)
				acc[i][j] = _mm256_fmadd_ps(mw[i],
				    _mm256_loadu_ps(a->s + 8 * h), acc[i][j]);
		}
	}
}

AI void
tile_q4q5(uint32_t wt, TARGS, int RT, int TT)
{
	const size_t nb = n / QUANT_QK;
	__m256 acc[MAXR][MAXT];
	size_t k;

	ZERO_TILE(acc, RT, TT);
	for (k = 0; k + 2 <= nb; k += 2)
		half_q4q5(wt, TPASS, k / 4, (int)(k / 2 % 2), 2, acc, RT, TT);
	if (k < nb)
		half_q4q5(wt, TPASS, k / 4, (int)(k / 2 % 2), 1, acc, RT, TT);
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

/* Q8_0 (34-byte blocks), one block at a time, with the sign trick. */
AI void
tile_q8_0(TARGS, int RT, int TT)
{
	const size_t nb = n / QUANT_QK;
	const __m256i ones = _mm256_set1_epi16(1);
	__m256 acc[MAXR][MAXT];
	size_t k;
	int i, j;

	ZERO_TILE(acc, RT, TT);
	for (k = 0; k < nb; k++) {
		__m256i wq[MAXR], wa[MAXR];
		__m256 dw[MAXR];

		for (i = 0; i < RT; i++) {
			const uint8_t *b = w + (r + i) * ws + k * 34;

			wq[i] = _mm256_loadu_si256((const void *)(b + 2));
			wa[i] = _mm256_sign_epi8(wq[i], wq[i]);
			dw[i] = _mm256_set1_ps(f16_at(b));
		}
		for (j = 0; j < TT; j++) {
			const struct kern_act_q8 *a = act_at(act, ab, t + j,
			    k / 4 * sizeof(struct kern_act_q8));
			const __m256i qa = _mm256_loadu_si256(
			    (const void *)(a->qs + 32 * (k % 4)));
			const __m256 da = _mm256_loadu_ps(a->d + 8 * (k % 4));

			for (i = 0; i < RT; i++) {
				const __m256i s = _mm256_madd_epi16(
				    _mm256_maddubs_epi16(wa[i],
				    _mm256_sign_epi8(qa, wq[i])), ones);

				acc[i][j] = _mm256_fmadd_ps(_mm256_mul_ps(
				    _mm256_cvtepi32_ps(s), da), dw[i],
				    acc[i][j]);
			}
		}
	}
	store_tile(acc, y, ldy, r, t, RT, TT);
}

/* ------------------------------------------------------------------ */
/* K-quants: 32-byte chunks; integer sums per super-block */

/*
 * Q4_K (144-byte blocks) and Q5_K (176): chunk c's low nibbles are
 * sub-block 2c, its high nibbles 2c + 1; their act bytes sit at
 * 128 (c / 2) + 32 (c % 2) and 64 further (kern_simd.h order).
 */
AI void
tile_q4q5_k(uint32_t wt, TARGS, int RT, int TT)
{
	const size_t bsz = wt == GGML_TYPE_Q4_K ? 144 : 176;
	const size_t qoff = wt == GGML_TYPE_Q4_K ? 16 : 48;
	const size_t nb = n / QUANT_QK_K;
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const __m256i b4 = _mm256_set1_epi8(0x10);
	__m256 acc[MAXR][MAXT];
	__m128 accm[MAXR][MAXT];
	size_t sb;
	int i, j, c;

	ZERO_TILE(acc, RT, TT);
	for (i = 0; i < RT; i++)
		for (j = 0; j < TT; j++)
			accm[i][j] = _mm_setzero_ps();
	for (sb = 0; sb < nb; sb++) {
		__m256i is[MAXR][MAXT];
		uint8_t sc[MAXR][16];

		for (i = 0; i < RT; i++) {
			k4_scales(w + (r + i) * ws + sb * bsz + 4, sc[i]);
			for (j = 0; j < TT; j++)
				is[i][j] = _mm256_setzero_si256();
		}
		for (c = 0; c < 4; c++) {
			const size_t ao = 128 * (c / 2) + 32 * (c % 2);
			__m256i lo[MAXR], hi[MAXR], sl[MAXR], sh[MAXR];

			for (i = 0; i < RT; i++) {
				const uint8_t *b = w + (r + i) * ws + sb * bsz;
				const __m256i z = _mm256_loadu_si256(
				    (const void *)(b + qoff + 32 * c));

				lo[i] = _mm256_and_si256(z, m4);
				hi[i] = _mm256_and_si256(
				    _mm256_srli_epi16(z, 4), m4);
				if (wt == GGML_TYPE_Q5_K) {
					const __m256i qh = _mm256_srli_epi16(
					    _mm256_loadu_si256(
					    (const void *)(b + 16)), 2 * c);

					lo[i] = _mm256_or_si256(lo[i],
					    _mm256_and_si256(
					    _mm256_slli_epi16(qh, 4), b4));
					hi[i] = _mm256_or_si256(hi[i],
					    _mm256_and_si256(
					    _mm256_slli_epi16(qh, 3), b4));
				}
				sl[i] = _mm256_set1_epi16(sc[i][2 * c]);
				sh[i] = _mm256_set1_epi16(sc[i][2 * c + 1]);
			}
			for (j = 0; j < TT; j++) {
				const struct kern_act_k *a = act_at(act, ab,
				    t + j, sb * sizeof(struct kern_act_k));
				const __m256i q0 = _mm256_loadu_si256(
				    (const void *)(a->qs + ao));
				const __m256i q1 = _mm256_loadu_si256(
				    (const void *)(a->qs + ao + 64));

				for (i = 0; i < RT; i++)
					is[i][j] = _mm256_add_epi32(is[i][j],
					    _mm256_add_epi32(_mm256_madd_epi16(
					    _mm256_maddubs_epi16(lo[i], q0),
					    sl[i]), _mm256_madd_epi16(
					    _mm256_maddubs_epi16(hi[i], q1),
					    sh[i])));
			}
		}
		for (i = 0; i < RT; i++) {
			const uint8_t *b = w + (r + i) * ws + sb * bsz;
			const float d = f16_at(b), dmin = f16_at(b + 2);
			const __m128i mn = _mm_cvtepu8_epi16(
			    _mm_loadl_epi64((const void *)(sc[i] + 8)));

			for (j = 0; j < TT; j++) {
				const struct kern_act_k *a = act_at(act, ab,
				    t + j, sb * sizeof(struct kern_act_k));
				const __m128 m = _mm_cvtepi32_ps(
				    _mm_madd_epi16(mn, _mm_loadu_si128(
				    (const void *)a->bs)));

				acc[i][j] = _mm256_fmadd_ps(
				    _mm256_cvtepi32_ps(is[i][j]),
				    _mm256_set1_ps(d * a->d), acc[i][j]);
				accm[i][j] = _mm_fmadd_ps(m,
				    _mm_set1_ps(-dmin * a->d), accm[i][j]);
			}
		}
	}
	/* The mins apart, summed last, as llama.cpp does (kern_avx512.c). */
	for (i = 0; i < RT; i++)
		for (j = 0; j < TT; j++) {
			__m128 v = accm[i][j];

			v = _mm_add_ps(v, _mm_movehl_ps(v, v));
			v = _mm_add_ss(v, _mm_movehdup_ps(v));
			y[(t + j) * ldy + r + i] = hsum(acc[i][j]) +
			    _mm_cvtss_f32(v);
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
 * Q6_K (210-byte blocks): unsigned 6-bit q, 32 elements (two scale
 * groups) per step; the -32 offset is -32 * sum_g scale_g * bsums_g.
 */
AI void
tile_q6_k(TARGS, int RT, int TT)
{
	const size_t nb = n / QUANT_QK_K;
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	const __m256i m30 = _mm256_set1_epi8(0x30);
	__m256 acc[MAXR][MAXT];
	size_t sb;
	int i, j, k;

	ZERO_TILE(acc, RT, TT);
	for (sb = 0; sb < nb; sb++) {
		__m256i is[MAXR][MAXT];

		for (i = 0; i < RT; i++) {
			const uint8_t *b = w + (r + i) * ws + sb * 210;
			const __m256i sw = _mm256_cvtepi8_epi16(
			    _mm_loadu_si128((const void *)(b + 192)));

			for (j = 0; j < TT; j++) {
				const struct kern_act_k *a = act_at(act, ab,
				    t + j, sb * sizeof(struct kern_act_k));

				is[i][j] = _mm256_slli_epi32(_mm256_madd_epi16(
				    sw, _mm256_loadu_si256(
				    (const void *)a->bs)), 5);
				is[i][j] = _mm256_sub_epi32(
				    _mm256_setzero_si256(), is[i][j]);
			}
		}
		/* k: 32-element step; half k / 4, quarter k % 4. */
		for (k = 0; k < 8; k++) {
			const int h = k / 4, qq = k % 4;
			__m256i q[MAXR], sc[MAXR];

			for (i = 0; i < RT; i++) {
				const uint8_t *b = w + (r + i) * ws + sb * 210;
				const __m256i l = _mm256_loadu_si256(
				    (const void *)(b + 64 * h + 32 * (qq % 2)));
				const __m256i hb = _mm256_loadu_si256(
				    (const void *)(b + 128 + 32 * h));
				const __m256i nib = qq < 2 ?
				    _mm256_and_si256(l, m4) : _mm256_and_si256(
				    _mm256_srli_epi16(l, 4), m4);
				/* bits 2qq, 2qq + 1 of qh to bits 4, 5 */
				const __m256i hi = qq < 2 ?
				    _mm256_slli_epi16(hb, 4 - 2 * qq) :
				    _mm256_srli_epi16(hb, 2 * qq - 4);
				const int8_t *s8 = (const int8_t *)(b + 192);

				q[i] = _mm256_or_si256(nib,
				    _mm256_and_si256(hi, m30));
				sc[i] = pair_scales(s8[2 * k], s8[2 * k + 1]);
			}
			for (j = 0; j < TT; j++) {
				const struct kern_act_k *a = act_at(act, ab,
				    t + j, sb * sizeof(struct kern_act_k));
				const __m256i qa = _mm256_loadu_si256(
				    (const void *)(a->qs + 32 * k));

				for (i = 0; i < RT; i++)
					is[i][j] = _mm256_add_epi32(is[i][j],
					    _mm256_madd_epi16(
					    _mm256_maddubs_epi16(q[i], qa),
					    sc[i]));
			}
		}
		for (i = 0; i < RT; i++) {
			const float d = f16_at(w + (r + i) * ws + sb * 210 +
			    208);

			for (j = 0; j < TT; j++) {
				const struct kern_act_k *a = act_at(act, ab,
				    t + j, sb * sizeof(struct kern_act_k));

				acc[i][j] = _mm256_fmadd_ps(
				    _mm256_cvtepi32_ps(is[i][j]),
				    _mm256_set1_ps(d * a->d), acc[i][j]);
			}
		}
	}
	store_tile(acc, y, ldy, r, t, RT, TT);
}

/* ------------------------------------------------------------------ */
/* Float weights: F32, F16 (F16C), BF16 (shift into the high half) */

AI __m256
ld_w8(uint32_t wt, const uint8_t *p)
{
	if (wt == GGML_TYPE_F32)
		return _mm256_loadu_ps((const float *)(const void *)p);
	const __m128i h = _mm_loadu_si128((const void *)p);
	if (wt == GGML_TYPE_F16)
		return _mm256_cvtph_ps(h);
	return _mm256_castsi256_ps(_mm256_slli_epi32(
	    _mm256_cvtepu16_epi32(h), 16));
}

AI void
chunk_f(uint32_t wt, TARGS, size_t e, __m256 acc[MAXR][MAXT], int RT,
    int TT)
{
	const size_t es = wt == GGML_TYPE_F32 ? 4 : 2;
	__m256 wv[MAXR];
	int i, j;

	for (i = 0; i < RT; i++) {
		const uint8_t *p = w + (r + i) * ws + e * es;

		if (e + 8 <= n) {
			wv[i] = ld_w8(wt, p);
		} else {
			/* Tail: copy what is left into a zeroed buffer. */
			uint8_t buf[32] = { 0 };

			memcpy(buf, p, (n - e) * es);
			wv[i] = ld_w8(wt, buf);
		}
	}
	for (j = 0; j < TT; j++) {
		/* The act row is zero-padded to 64 bytes. */
		const __m256 xv = _mm256_loadu_ps(act_at(act, ab, t + j,
		    e * sizeof(float)));

		for (i = 0; i < RT; i++)
			acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
	}
}

AI void
tile_float(uint32_t wt, TARGS, int RT, int TT)
{
	__m256 acc[MAXR][MAXT];
	size_t e;

	ZERO_TILE(acc, RT, TT);
	for (e = 0; e < n; e += 8)
		chunk_f(wt, TPASS, e, acc, RT, TT);
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
/* Driver: as in kern_avx512.c, with smaller tiles for 16 registers */

#define TOKENS(TILE, RT) do {						\
	size_t t = 0;							\
	for (; t + 4 <= n_tok; t += 4)					\
		TILE(TPASS, RT, 4);					\
	if (n_tok - t >= 2) {						\
		TILE(TPASS, RT, 2);					\
		t += 2;							\
	}								\
	if (n_tok - t >= 1)						\
		TILE(TPASS, RT, 1);					\
} while (0)

#define DRIVE(TILE) do {						\
	size_t r = r0;							\
	if (n_tok == 1) {						\
		const size_t t = 0;					\
		for (; r < r1; r++)					\
			TILE(TPASS, 1, 1);				\
		break;							\
	}								\
	for (; r < r1; r++)						\
		TOKENS(TILE, 1);					\
} while (0)

#define MATMUL(NAME, TILE)						\
static void								\
NAME(const uint8_t *w, size_t ws, size_t n, const uint8_t *act,		\
    size_t ab, size_t n_tok, float *y, size_t ldy, size_t r0, size_t r1) \
{									\
	DRIVE(TILE);						\
}

MATMUL(mm_q4_0, tile_q4_0)
MATMUL(mm_q4_1, tile_q4_1)
MATMUL(mm_q5_0, tile_q5_0)
MATMUL(mm_q5_1, tile_q5_1)
MATMUL(mm_q8_0, tile_q8_0)
MATMUL(mm_q4_k, tile_q4_k)
MATMUL(mm_q5_k, tile_q5_k)
MATMUL(mm_q6_k, tile_q6_k)
MATMUL(mm_f32, tile_f32)
MATMUL(mm_f16, tile_f16)
MATMUL(mm_bf16, tile_bf16)

/* ------------------------------------------------------------------ */
/* Entry points */

void
kern_avx2_matmul(uint32_t wtype, const void *w, size_t w_stride,
    size_t n, const void *act, size_t n_tok, float *y, size_t ldy,
    size_t r0, size_t r1)
{
	const struct ggml_type_info *ti = ggml_type_info(wtype);
	const size_t ab = kern_simd_act_bytes(wtype, n);

	if (ti == NULL || n % ti->blck_elems != 0)
		CL_BUG("kern: bad matmul shape");
	if (r0 >= r1 || n_tok == 0 || n == 0)
		return;
	switch (wtype) {
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

/* Two accumulators, scalar tail.  Tolerance: summation order only. */
float
kern_avx2_dot_f32(const float *a, const float *b, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	float tail = 0.0f;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
		    _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
		    _mm256_loadu_ps(b + i + 8), s1);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
		    _mm256_loadu_ps(b + i), s0);
	for (; i < n; i++)
		tail += a[i] * b[i];
	return hsum(_mm256_add_ps(s0, s1)) + tail;
}
