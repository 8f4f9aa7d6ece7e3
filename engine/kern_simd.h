/*
 * kern_simd.h - what the SIMD kernel variants (kern_avx2.c, kern_avx512.c)
 * share: the activation layouts their matmuls read, the scalar code that
 * fills them, and the variant tables kern_select.c chooses from.
 * Internal to engine/; nothing outside the kernel files includes it.
 *
 * Activations are quantized exactly as llama.cpp's vec_dot_type (the
 * reference quantizers of quant.c do the rounding, so the integers and
 * scales are bit-identical to quant_quantize_row_q8_*), then laid out so
 * that a weight block loaded and unpacked with a few wide instructions
 * lines up with its activation bytes without any shuffle in the inner
 * loop, and with the per-block constants (scales, offset corrections,
 * sums) precomputed.  A prepared row is a sequence of fixed-size groups;
 * every group is 64-byte aligned when the row starts 64-byte aligned
 * (kern.h asks for that), and act_row_bytes is a multiple of 64.
 *
 * Legacy block types (32 elements, "g4" = a group of 4 blocks, 128
 * elements; the last group of a row may hold fewer blocks, the missing
 * ones zero in every field):
 *
 *   Q4_0, Q4_1, Q5_0, Q5_1 -> struct kern_act_g4:
 *     qs[16k + j]      = q of element j      of block k (j < 16)
 *     qs[64 + 16k + j] = q of element 16 + j of block k
 *   so the low nibbles of the 4 weight blocks' qs, loaded side by side,
 *   meet qs[0..64) and the high nibbles qs[64..128).  Per 32-bit lane
 *   (4 lanes per block): d[4k..4k+3] = the block's d (the f16 value as
 *   float); c[4k] = -off * sum(q) for weights stored with an offset
 *   (Q4_0: off 8, Q5_0: 16; the unsigned x signed integer dot then needs
 *   no per-element subtraction), other lanes 0; s[4k] = the Q8_1 s (Q4_1,
 *   Q5_1), other lanes 0.
 *
 *   Q8_0 -> struct kern_act_q8: qs in element order; 8 lanes per block:
 *     d[8k..8k+7] = d of block k; c[8k] = -128 * sum(q), other lanes 0
 *     (the AVX-512 kernel biases the signed weights by +128 to use the
 *     unsigned x signed VNNI product).
 *
 * K-quants (256 elements per super-block) -> struct kern_act_k:
 *   Q4_K, Q5_K: the eight 32-element sub-blocks stored in the order
 *     0, 2, 1, 3, 4, 6, 5, 7 (low nibbles of a 64-byte weight load are
 *     sub-blocks 2c and 2c+2, the high nibbles 2c+1 and 2c+3);
 *     bs[j] = sum of the q of sub-block j (j < 8), bs[8..15] = 0.
 *   Q6_K: element order; bs[g] = the Q8_K bsums (per 16 elements).
 *   d = the Q8_K d.
 *
 * F32, F16, BF16 weights: the activation row is the n floats, padded
 * with zeros to a multiple of 64 bytes.
 *
 * Packed weights (kern_ops.pack, wtype | KERN_PACKED; AVX-512 only).
 * Q4_0 and Q8_0 rows are regrouped in panels of KERN_PANEL = 16 rows so
 * that one 64-byte load holds 4 quant bytes of each of the 16 rows: one
 * vpdpbusd against 4 activation bytes broadcast to every lane then
 * advances all 16 row sums at once, the 16 block scales are one vcvtph2ps
 * away, and no horizontal sum is left for the end (decode reads each
 * weight byte once with ~3x fewer instructions than the row layout).
 * Within a panel, block k of the 16 rows is
 *   qs: QB / 4 chunks of 64 bytes (QB = 16 quant bytes for Q4_0, 32 for
 *       Q8_0); chunk c holds bytes 4c..4c+3 of row i's qs at 4i;
 *   d:  the 16 rows' f16 d, 32 bytes;
 * and blocks go in pairs, [qs k][qs k+1][d k][d k+1], so that every
 * load is 64-byte aligned; an odd last block is [qs][d].  A panel takes
 * exactly the bytes of its 16 rows: 16 * row_bytes.
 * The activation row for packed Q4_0 / Q8_0 is struct kern_act_pb per
 * 32-element block: qs in element order, d, and c = -off * sum(q) with
 * off = 8 (Q4_0 nibbles are q + 8) or 128 (Q8_0 weights biased by +128
 * so the unsigned x signed product applies), padded to 64 bytes.
 *
 * Q4_K, Q5_K and Q6_K (256-element super-blocks) use the same 16-row
 * panels and the same rule: every 64-byte "chunk" of quants holds 4
 * consecutive stored bytes of each of the 16 rows, row i at bytes
 * 4i..4i+3, so the bit fields of the stored format survive intact and a
 * few ands and shifts leave 4 quant bytes per lane.
 *
 *   Q4_K, super-block k of the panel at 2304 k (Q5_K: 2816 k):
 *     0     d of the 16 rows (f16), 32 bytes; 32: dmin, 32 bytes;
 *     64    SL: lane i byte b (b < 4): low nibble = sc_b & 15 of row i,
 *           high nibble = sc_{b+4} & 15;
 *     128   ML: the same for the mins m_b, m_{b+4};
 *     192   SH: lane i byte b: bits 0-1 = sc_b >> 4, 2-3 = sc_{b+4} >> 4,
 *           4-5 = m_b >> 4, 6-7 = m_{b+4} >> 4
 *           (the 12 scale bytes re-cut: still 6 bits per value, so the
 *           panel takes exactly the stored bytes, yet two ands, a shift
 *           and an or give sc_0..3 (or sc_4..7, m_0..3, m_4..7) of all
 *           16 rows as bytes of one register);
 *     256   qs: 32 chunks, chunk c = qs bytes 4c..4c+3: low nibbles are
 *           elements 4(c % 8).. of sub-block 2(c / 8), high nibbles the
 *           same elements of sub-block 2(c / 8) + 1;
 *     2304  (Q5_K only) qh: 8 chunks, chunk c = qh bytes 4c..4c+3: bit
 *           s is the fifth bit of element 4c.. of sub-block s.
 *   Every part is 64-byte aligned: 2304 and 2816 are multiples of 64.
 *
 *   Q6_K, per super-block: Q (3072 bytes): for half h < 2 and c < 8 the
 *     chunks ql bytes 64h + 4c.., ql bytes 64h + 32 + 4c.., qh bytes
 *     32h + 4c.. (192 bytes at 192 (8h + c)): the low / high nibbles of
 *     the first are elements 128h + 4c.. / 128h + 64 + 4c.., of the
 *     second 128h + 32 + 4c.. / 128h + 96 + 4c.., whose top two bits
 *     are bits 0-1 / 4-5 and 2-3 / 6-7 of the third;
 *     S (256 bytes): byte 16g + i = scales[g] of row i (one vpmovsxbd
 *     per group of 16 elements);  D (32 bytes): the 16 rows' f16 d.
 *   Super-blocks go in pairs, [D k][D k+1][S k][Q k][S k+1][Q k+1]
 *   (6720 bytes, 105 x 64: every part 64-byte aligned, and read in
 *   address order, so decode's prefetch stream covers them all); an odd
 *   last one is [S][Q][D].  With nb odd, every other panel starts 32
 *   bytes past a 64-byte boundary (panel p at p * 3360 nb); such a panel
 *   puts the D of its odd last super-block first, which realigns
 *   everything after it (kern_p6_*_off()).  So a packed Q6_K matrix
 *   must stay at the address it was packed to (or move by a multiple
 *   of 64), and kern_ops.pack accepts a dst 32 bytes off alignment for
 *   it, as a split at an odd panel of an aligned region gives.
 *
 * The activation row for packed K-quants is struct kern_act_pk per
 * super-block: the Q8_K qs in element order, d, bs[j] = sum of the q of
 * the 32-element sub-block j (Q4_K, Q5_K mins term), and
 * c[g] = -32 * bsums[g] (Q6_K: the accumulator of group g starts there,
 * so the unsigned 6-bit q need no per-element -32).
 */
#ifndef CLOISTER_KERN_SIMD_H
#define CLOISTER_KERN_SIMD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ggml_types.h"
#include "engine/kern.h"

struct kern_act_g4 {
	int8_t		qs[128];
	float		d[16];
	int32_t		c[16];
	float		s[16];
};
_Static_assert(sizeof(struct kern_act_g4) == 320, "kern_act_g4 size");

struct kern_act_q8 {
	int8_t		qs[128];
	float		d[32];
	int32_t		c[32];
};
_Static_assert(sizeof(struct kern_act_q8) == 384, "kern_act_q8 size");

struct kern_act_k {
	int8_t		qs[256];
	int16_t		bs[16];
	float		d;
	uint8_t		pad[28];
};
_Static_assert(sizeof(struct kern_act_k) == 320, "kern_act_k size");

#define KERN_PANEL	16

struct kern_act_pb {
	int8_t		qs[32];
	float		d;
	int32_t		c;
};
_Static_assert(sizeof(struct kern_act_pb) == 40, "kern_act_pb size");

struct kern_act_pk {
	int8_t		qs[256];
	int32_t		c[16];
	int16_t		bs[8];
	float		d;
	uint8_t		pad[44];
};
_Static_assert(sizeof(struct kern_act_pk) == 384, "kern_act_pk size");

/* Bytes of one super-block of a packed K-quant panel (Q6_K: average). */
#define KERN_PK_Q4K	2304
#define KERN_PK_Q5K	2816
#define KERN_PK_Q6K	3360

/*
 * Bytes of one prepared activation row of n elements for weights of
 * computable type wtype (n a multiple of its block size; callers check).
 * Inline so the kernel libraries need nothing from libengine.
 */
static inline size_t
kern_simd_act_bytes(uint32_t wtype, size_t n)
{
	switch (wtype) {
	case GGML_TYPE_Q4_0 | KERN_PACKED:
	case GGML_TYPE_Q8_0 | KERN_PACKED:
		return (n / 32 * sizeof(struct kern_act_pb) + 63) &
		    ~(size_t)63;
	case GGML_TYPE_Q4_K | KERN_PACKED:
	case GGML_TYPE_Q5_K | KERN_PACKED:
	case GGML_TYPE_Q6_K | KERN_PACKED:
		return n / 256 * sizeof(struct kern_act_pk);
	case GGML_TYPE_Q4_0:
	case GGML_TYPE_Q4_1:
	case GGML_TYPE_Q5_0:
	case GGML_TYPE_Q5_1:
		return (n + 127) / 128 * sizeof(struct kern_act_g4);
	case GGML_TYPE_Q8_0:
		return (n + 127) / 128 * sizeof(struct kern_act_q8);
	case GGML_TYPE_Q4_K:
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
		return n / 256 * sizeof(struct kern_act_k);
	default:
		return (n * sizeof(float) + 63) & ~(size_t)63;
	}
}

/*
 * act_row_bytes and act_prepare of the SIMD variants (kern_act.c, in
 * libengine): the layouts above.  Same contracts as in struct kern_ops;
 * plain C, built with the generic flags.
 */
size_t	kern_simd_act_row_bytes(uint32_t wtype, size_t n);
void	kern_simd_act_prepare(uint32_t wtype, const float *x, void *act,
	    size_t n);

/*
 * The packed layouts above (kern_pack.c, plain C): pack_rows and pack of
 * the AVX-512 table; the activation for packed types comes from
 * kern_simd_act_prepare as for the others.
 */
unsigned kern_simd_pack_rows(uint32_t wtype);
void	kern_simd_pack(uint32_t wtype, const void *src, size_t src_stride,
	    size_t n, size_t rows, void *dst);
/*
 * kern_ops.row_f32 of every table: stored rows, or packed Q4_0 / Q8_0
 * (kern_simd_row_f32_packed; the K-quant panels are only multiplied).
 */
void	kern_simd_row_f32(uint32_t wtype, const void *w, size_t w_stride,
	    size_t n, size_t r, float *out);
int	kern_simd_row_f32_packed(uint32_t wtype);

/* Offsets in a panel of the packed qs and d of block k (of nb = n / 32). */
static inline size_t
kern_pb_qs_off(size_t qb, size_t k)
{
	return (k / 2) * 2 * (16 * qb + 32) + (k % 2) * 16 * qb;
}

static inline size_t
kern_pb_d_off(size_t qb, size_t k, size_t nb)
{
	const size_t pair = (k / 2) * 2 * (16 * qb + 32);

	if (k % 2 == 0 && k + 1 == nb)
		return pair + 16 * qb;		/* odd last block */
	return pair + 2 * 16 * qb + (k % 2) * 32;
}

/*
 * Offsets in a packed Q6_K panel of the Q, S and D parts of super-block
 * k of nb; sh = kern_p6_shift(panel address): 32 when the panel starts
 * 32 bytes past a 64-byte boundary (nb odd, every other panel), else 0.
 * The address, not the panel's index, decides, so that pack and matmul
 * agree however the rows were split between calls.
 */
static inline size_t
kern_p6_shift(const void *panel)
{
	return (size_t)((uintptr_t)panel & 32);
}

static inline size_t
kern_p6_s_off(size_t k, size_t nb, size_t sh)
{
	const size_t pair = sh + (k / 2) * 2 * KERN_PK_Q6K;

	if (k % 2 == 0 && k + 1 == nb)		/* odd last super-block */
		return pair;
	return pair + 64 + (k % 2) * (256 + 3072);
}

static inline size_t
kern_p6_q_off(size_t k, size_t nb, size_t sh)
{
	return kern_p6_s_off(k, nb, sh) + 256;
}

static inline size_t
kern_p6_d_off(size_t k, size_t nb, size_t sh)
{
	const size_t pair = sh + (k / 2) * 2 * KERN_PK_Q6K;

	if (k % 2 == 0 && k + 1 == nb)
		return sh != 0 ? 0 : pair + 256 + 3072;
	return pair + (k % 2) * 32;
}

/*
 * matmul and dot_f32 of each variant, defined only in builds for their
 * architecture, each in its own library built with its own flags
 * (libkern_avx2.a: AVX2 + FMA + F16C; libkern_avx512.a: AVX-512
 * F/BW/DQ/VL + VNNI + F16C).  Contracts as in struct kern_ops, with the
 * activations prepared by kern_simd_act_prepare().  Calling one on a CPU
 * without those extensions is undefined (SIGILL): only kern_select.c
 * calls them, through the tables it hands out after checking CPUID and
 * XGETBV.  They depend on nothing in libengine.
 */
void	kern_avx2_matmul(uint32_t wtype, const void *w, size_t w_stride,
	    size_t n, const void *act, size_t n_tok, float *y, size_t ldy,
	    size_t r0, size_t r1);
float	kern_avx2_dot_f32(const float *a, const float *b, size_t n);
void	kern_avx512_matmul(uint32_t wtype, const void *w, size_t w_stride,
	    size_t n, const void *act, size_t n_tok, float *y, size_t ldy,
	    size_t r0, size_t r1);
float	kern_avx512_dot_f32(const float *a, const float *b, size_t n);
/*
 * kern_simd_act_prepare() vectorized: byte-identical output for finite
 * x.  Of the packed types, only Q4_K, Q5_K and Q6_K | KERN_PACKED.
 */
void	kern_avx512_act_prepare(uint32_t wtype, const float *x, void *act,
	    size_t n);

#endif /* CLOISTER_KERN_SIMD_H */
