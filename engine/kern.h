/*
 * kern.h - the compute-kernel table: every matrix product of the forward
 * pass goes through one of these.
 *
 * A variant ("ref", "avx2", "avx512", later "neon") is a constant table
 * of function pointers.  kern_ref.c is the specification: plain scalar C,
 * weights dequantized in small chunks, activations kept in float.  SIMD
 * variants implement the same contracts and are tested against ref.
 *
 * Numerics: "avx2" and "avx512" quantize activations as llama.cpp's CPU
 * backend does
 * (Q8_0 / Q8_1 / Q8_K, quant.h) and so agrees with ref only to within
 * that rounding (about 1e-3 relative per product).  Whole-model results
 * then track llama.cpp ("llamacpp" in the refvector JSON), while ref
 * tracks the float64 "exact" pass; in the random synthetic models a
 * rounding flip can change MoE routing, so compare each variant with its
 * own reference (force KERN_FORCE_REF for "exact").
 *
 * Usage, for y (n_tok, d) = x (n_tok, n) @ W (d, n)^T:
 *
 *	const struct kern_ops *k = kern_ops_select(KERN_AUTO);
 *	size_t ab = k->act_row_bytes(wtype, n);
 *	for (t = 0; t < n_tok; t++)
 *		k->act_prepare(wtype, x + t * n, act + t * ab, n);
 *	k->matmul(wtype, w, w_stride, n, act, n_tok, y, d, 0, d);
 *
 * with `act` a buffer of n_tok * ab bytes aligned to 64 bytes; worker
 * threads call matmul on disjoint row ranges of the same prepared `act`.
 *
 * Every op requires wtype to be computable (quant_type_is_computable())
 * and n a multiple of its block size; the model loader checks shapes, so
 * a violation is a bug and aborts.  Tables are immutable and shared.
 */
#ifndef CLOISTER_KERN_H
#define CLOISTER_KERN_H

#include <stddef.h>
#include <stdint.h>

struct kern_ops {
	const char *name;	/* "ref", "avx2", "avx512", "neon" */

	/*
	 * Bytes needed to hold one activation row of n elements in the
	 * form this variant's matmul reads for weights of type wtype
	 * (ref: n floats).  Always a multiple of 4.
	 */
	size_t	(*act_row_bytes)(uint32_t wtype, size_t n);

	/*
	 * Convert x (n floats) into that form in act (act_row_bytes bytes,
	 * 4-byte aligned).
	 */
	void	(*act_prepare)(uint32_t wtype, const float *x, void *act,
		    size_t n);

	/*
	 * y[t*ldy + r] = dot(W row r, activation row t) for r in [r0, r1),
	 * t in [0, n_tok).  W: rows of n elements of type wtype, row r at
	 * (const char *)w + r*w_stride.  act: n_tok rows of act_row_bytes
	 * each, back to back.  Writes only those y entries.  Safe to call
	 * concurrently on disjoint [r0, r1) ranges.
	 */
	void	(*matmul)(uint32_t wtype, const void *w, size_t w_stride,
		    size_t n, const void *act, size_t n_tok, float *y,
		    size_t ldy, size_t r0, size_t r1);

	/* Dot product of two float vectors of n elements. */
	float	(*dot_f32)(const float *a, const float *b, size_t n);

	/*
	 * Load-time relayout.  pack_rows(wtype) is the panel height P of
	 * the packed layout this variant reads for weights of wtype, or 0
	 * when it reads wtype as stored (then pack must not be called).
	 * pack() rewrites rows [0, rows) of n elements (rows a multiple of
	 * P, n a multiple of the block size), read at src with stride
	 * src_stride, into dst: rows * row_bytes bytes (the stored size of
	 * the same rows: the layout only moves bits), dst 64-byte aligned,
	 * not overlapping src.  Panels are independent, so disjoint row
	 * ranges may be packed separately (and concurrently), each to its
	 * place in the whole matrix's dst (which may then be 32 bytes off
	 * alignment: Q6_K rows of an odd number of super-blocks, Q4_0 and
	 * Q8_0 rows of an odd number of blocks; the packed matrix must then
	 * not move).
	 * Afterwards pass wtype | KERN_PACKED to act_row_bytes, act_prepare
	 * and matmul, with w the packed rows and w_stride = row_bytes; the
	 * matmul row range [r0, r1) must then be multiples of P.
	 * pack_rows and pack may be NULL: nothing is packed.
	 */
	unsigned (*pack_rows)(uint32_t wtype);
	void	(*pack)(uint32_t wtype, const void *src, size_t src_stride,
		    size_t n, size_t rows, void *dst);

	/*
	 * Row r of W as n floats into out (a table lookup: the token
	 * embedding), for wtype as stored (w_stride apart) or packed
	 * (wtype | KERN_PACKED, w the packed rows, for the types
	 * row_f32_packed accepts): the same numbers.
	 */
	void	(*row_f32)(uint32_t wtype, const void *w, size_t w_stride,
		    size_t n, size_t r, float *out);
	/*
	 * Whether row_f32 reads wtype packed (NULL: never).  A weight read
	 * by row lookups (the token embedding) is packed only then.
	 */
	int	(*row_f32_packed)(uint32_t wtype);
};

/* Flag or-ed into a weight type to say "packed by kern_ops.pack". */
#define KERN_PACKED	0x10000u

/* `force` argument of kern_ops_select(). */
enum {
	KERN_AUTO = 0,		/* best variant for this CPU and OS */
	KERN_FORCE_REF = 1,	/* the scalar reference (tests, doctor) */
	KERN_FORCE_AVX2 = 2,	/* AVX2 + FMA + F16C, if supported */
	KERN_FORCE_AVX512 = 3	/* AVX-512 F/BW/DQ/VL + VNNI, if supported */
	/* later: KERN_FORCE_NEON */
};

/*
 * The kernel table for `force`.  The first call probes the CPU once
 * (under pthread_once; thread-safe).  KERN_AUTO returns the fastest
 * variant the CPU and OS support: avx512, else avx2, else ref (see
 * kern_select.c); KERN_FORCE_AVX2 / KERN_FORCE_AVX512 return that variant
 * where CPU and OS support it.
 * Returns NULL when a forced variant is not available on this machine or
 * `force` is unknown.  The table is static: never freed.
 */
const struct kern_ops *kern_ops_select(unsigned force);

/* The scalar reference table; never NULL. */
const struct kern_ops *kern_ops_ref(void);

#endif /* CLOISTER_KERN_H */
