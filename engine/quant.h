/*
 * quant.h - ggml tensor element types: block layouts, float conversions,
 * dequantization, quantization and the integer dot products.
 *
 * Owns the byte-exact meaning of every tensor type cloister computes with
 * (lfm2-spec.md section 2; ggml's ggml-common.h and ggml-quants.c):
 * F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K as
 * weight (storage) types, and Q8_0, Q8_1 and Q8_K as the quantized forms
 * of activation vectors that llama.cpp's integer dot products read.
 *
 * Everything here is plain scalar C, written to be checked against the
 * format definitions, and is the reference the SIMD kernels
 * (engine/kern_*.c) are tested against.  Internal to engine/.
 *
 * Conventions:
 * - A row of n elements of a block type is n / blck_elems blocks back to
 *   back.  Every function taking a row requires n to be a multiple of the
 *   type's block size (ggml_type_info(type)->blck_elems); callers check
 *   tensor shapes when the model is loaded, so a violation is a bug and
 *   aborts (CL_BUG), as does an unsupported type.
 * - Block data is little endian (GGUF is); cloister builds only for
 *   little-endian hosts.  A block pointer must be aligned for its struct
 *   (2 bytes for the storage types, 4 for Q8_K); the GGUF reader only
 *   accepts data alignments that are multiples of 8.
 * - All functions are thread-safe: they touch only their arguments.
 */
#ifndef CLOISTER_QUANT_H
#define CLOISTER_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/ggml_types.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF and block decoders assume a little-endian host"
#endif

#define QUANT_QK	32	/* elements per legacy (Q4_0 ... Q8_1) block */
#define QUANT_QK_K	256	/* elements per K-quant super-block */

/*
 * Block layouts, field for field as ggml stores them.  "f16" fields hold
 * IEEE binary16 bit patterns.  The static asserts pin the on-disk sizes.
 */

/* Q4_0: y = (q - 8) * d, q in 0..15. */
struct block_q4_0 {
	uint16_t	d;			/* f16 scale */
	uint8_t		qs[QUANT_QK / 2];	/* lo: elts 0..15, hi: 16..31 */
};
_Static_assert(sizeof(struct block_q4_0) == 18, "wrong q4_0 block size");

/* Q4_1: y = q * d + m, q in 0..15. */
struct block_q4_1 {
	uint16_t	d;			/* f16 scale */
	uint16_t	m;			/* f16 minimum */
	uint8_t		qs[QUANT_QK / 2];	/* nibbles as in Q4_0 */
};
_Static_assert(sizeof(struct block_q4_1) == 20, "wrong q4_1 block size");

/* Q5_0: y = (q - 16) * d, q in 0..31, fifth bits in qh. */
struct block_q5_0 {
	uint16_t	d;			/* f16 scale */
	uint8_t		qh[4];			/* LE u32: bit e, 5th bit */
	uint8_t		qs[QUANT_QK / 2];	/* low 4 bits, as Q4_0 */
};
_Static_assert(sizeof(struct block_q5_0) == 22, "wrong q5_0 block size");

/* Q5_1: y = q * d + m, q in 0..31. */
struct block_q5_1 {
	uint16_t	d;			/* f16 scale */
	uint16_t	m;			/* f16 minimum */
	uint8_t		qh[4];			/* LE u32: bit e, 5th bit */
	uint8_t		qs[QUANT_QK / 2];	/* low 4 bits, as Q4_0 */
};
_Static_assert(sizeof(struct block_q5_1) == 24, "wrong q5_1 block size");

/* Q8_0: y = q * d; also the activation form for Q4_0, Q5_0, Q8_0. */
struct block_q8_0 {
	uint16_t	d;			/* f16 scale */
	int8_t		qs[QUANT_QK];		/* signed quants */
};
_Static_assert(sizeof(struct block_q8_0) == 34, "wrong q8_0 block size");

/* Q8_1: activation form for Q4_1 and Q5_1 (never stored in models). */
struct block_q8_1 {
	uint16_t	d;			/* f16 scale */
	uint16_t	s;			/* f16(d * sum(qs)), f32 d */
	int8_t		qs[QUANT_QK];		/* signed quants */
};
_Static_assert(sizeof(struct block_q8_1) == 36, "wrong q8_1 block size");

/*
 * Q4_K: 8 sub-blocks of 32; y = d * sc_j * q - dmin * m_j, q in 0..15,
 * with 6-bit sc_j and m_j packed in scales[] (lfm2-spec.md 2.3).
 */
struct block_q4_k {
	uint16_t	d;			/* f16 super-scale of sc_j */
	uint16_t	dmin;			/* f16 super-scale of m_j */
	uint8_t		scales[12];		/* 8 x (6-bit sc, 6-bit m) */
	uint8_t		qs[QUANT_QK_K / 2];	/* 4 chunks of 32 */
};
_Static_assert(sizeof(struct block_q4_k) == 144, "wrong q4_k block size");

/* Q5_K: as Q4_K with a fifth bit per element in qh (spec 2.4). */
struct block_q5_k {
	uint16_t	d;			/* f16 super-scale of sc_j */
	uint16_t	dmin;			/* f16 super-scale of m_j */
	uint8_t		scales[12];		/* packed as in Q4_K */
	uint8_t		qh[QUANT_QK_K / 8];	/* bits 2c, 2c+1 */
	uint8_t		qs[QUANT_QK_K / 2];	/* low 4 bits */
};
_Static_assert(sizeof(struct block_q5_k) == 176, "wrong q5_k block size");

/*
 * Q6_K: 16 groups of 16; y = d * scales[e / 16] * (q - 32), q in 0..63.
 * Note d comes LAST.
 */
struct block_q6_k {
	uint8_t		ql[QUANT_QK_K / 2];	/* low 4 bits */
	uint8_t		qh[QUANT_QK_K / 4];	/* high 2 bits */
	int8_t		scales[QUANT_QK_K / 16];/* group scales */
	uint16_t	d;			/* f16 super-scale */
};
_Static_assert(sizeof(struct block_q6_k) == 210, "wrong q6_k block size");

/* Q8_K: activation form for Q4_K, Q5_K, Q6_K (never stored in models). */
struct block_q8_k {
	float		d;			/* f32 (not f16) scale */
	int8_t		qs[QUANT_QK_K];		/* signed quants */
	int16_t		bsums[QUANT_QK_K / 16];	/* sums of 16 qs */
};
_Static_assert(sizeof(struct block_q8_k) == 292, "wrong q8_k block size");

/*
 * The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block
 * from its 12 scale bytes (spec 2.3): bytes 0..3 hold sc0..3 and the top
 * bits of sc4..7, bytes 4..7 m0..3 and the top bits of m4..7, bytes
 * 8..11 the low nibbles of sc4..7 (low) and m4..7 (high).
 */
static inline void
quant_k4_scale_min(int j, const uint8_t s[12], uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = s[j] & 63;
		*m = s[j + 4] & 63;
	} else {
		*sc = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
		*m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
	}
}

/*
 * Scalar float conversions.  f16 is IEEE binary16 (subnormals, infinities
 * and NaN included); bf16 is the top half of an f32.  Float-to-half
 * conversions round to nearest, ties to even; overflow gives infinity;
 * NaN stays NaN (quiet, sign kept).
 */
float		quant_f16_to_f32(uint16_t h);
uint16_t	quant_f32_to_f16(float f);
float		quant_bf16_to_f32(uint16_t h);
uint16_t	quant_f32_to_bf16(float f);

/*
 * True when cloister can dequantize and multiply weights of `type`: F32,
 * F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K.  (Q8_1 and
 * Q8_K are activation forms only and answer false.)
 */
bool	quant_type_is_computable(uint32_t type);

/*
 * Bytes taken by a row of `n` elements of `type` (any type ggml defines,
 * computable or not).  Stores the size in *out and returns CL_OK, or
 * returns CL_EINVAL for an unknown type or an `n` that is not a multiple
 * of the block size, or CL_ELIMIT when the size does not fit in size_t;
 * *out is unchanged on failure.  Safe on untrusted `type` and `n`.
 */
int	quant_row_bytes(uint32_t type, uint64_t n, size_t *out);

/*
 * Decode n elements of a computable `type` from `src` into dst[0..n).
 * Bit-exact with ggml's to_float for every type.
 */
void	quant_dequantize_row(uint32_t type, const void *src, float *dst,
	    size_t n);

/*
 * Encode src[0..n) as a row of a computable `type` into `dst`
 * (quant_row_bytes() bytes).  Used to write synthetic models.
 * Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 follow ggml's reference quantizers
 * (scale from the largest magnitude, round to nearest); the K-quants use
 * a fast, non-iterative min/max fit (error at most about half a step of
 * each sub-block's grid plus the 6-bit scale rounding).  F16 and BF16
 * round to nearest even.  Non-finite inputs give unspecified (but
 * memory-safe) blocks.
 */
void	quant_quantize_row(uint32_t type, const float *src, void *dst,
	    size_t n);

/*
 * Activation quantizers, as ggml's CPU backend rounds an activation row
 * before an integer dot product (lfm2-spec.md 2.6, tests/data/
 * REFVECTORS.md).  n is a multiple of 32 (Q8_0, Q8_1) or 256 (Q8_K).
 *
 * Q8_0: per 32 values amax = max|x|, d = amax / 127 (stored as f16),
 *   q = round-half-even(x * (127 / amax)), all zero when amax = 0.
 * Q8_1: as Q8_0, plus s = f16(d * sum(q)) using the f32 d.
 * Q8_K: per 256 values xm = the value of largest |x| (first on ties),
 *   iscale = -127 / xm, q = min(127, round-half-even(iscale * x)),
 *   d = 1 / iscale (f32), bsums[i] = sum of q[16i .. 16i+15].
 */
void	quant_quantize_row_q8_0_act(const float *x, struct block_q8_0 *y,
	    size_t n);
void	quant_quantize_row_q8_1(const float *x, struct block_q8_1 *y,
	    size_t n);
void	quant_quantize_row_q8_k(const float *x, struct block_q8_k *y,
	    size_t n);

/*
 * The activation type llama.cpp pairs with weights of `wtype` for its
 * integer dot product (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K
 * for the K-quants), or GGML_TYPE_F32 for the float weight types and for
 * types that are not computable.
 */
uint32_t quant_vec_dot_type(uint32_t wtype);

/*
 * Integer dot products of one weight row (n elements of the first type)
 * with one activation row (n elements of the second), as llama.cpp
 * computes them: integer sums inside each block, then one float
 * multiply-add per block (per sub-block scale for the K-quants).  These
 * are the scalar references for SIMD kernels that quantize activations.
 * They differ from a float dot of dequantized weights only by the
 * activation rounding.
 */
float	quant_vec_dot_q4_0_q8_0(const void *w, const void *a, size_t n);
float	quant_vec_dot_q4_1_q8_1(const void *w, const void *a, size_t n);
float	quant_vec_dot_q5_0_q8_0(const void *w, const void *a, size_t n);
float	quant_vec_dot_q5_1_q8_1(const void *w, const void *a, size_t n);
float	quant_vec_dot_q8_0_q8_0(const void *w, const void *a, size_t n);
float	quant_vec_dot_q4_k_q8_k(const void *w, const void *a, size_t n);
float	quant_vec_dot_q5_k_q8_k(const void *w, const void *a, size_t n);
float	quant_vec_dot_q6_k_q8_k(const void *w, const void *a, size_t n);

/*
 * Dispatch on `wtype`: quantize x[0..n) into `act` in the form
 * quant_vec_dot_type(wtype) names (quant_row_bytes of that type; n floats
 * for the float weight types), and dot a weight row with such an
 * activation row.
 */
void	quant_act_quantize(uint32_t wtype, const float *x, void *act,
	    size_t n);
float	quant_vec_dot(uint32_t wtype, const void *w, const void *act,
	    size_t n);

#endif /* CLOISTER_QUANT_H */
