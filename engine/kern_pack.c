/*
 * kern_pack.c - the load-time relayout of weight rows into the panels
 * the AVX-512 kernels read (layouts: kern_simd.h, "Packed weights").
 *
 * Plain C with the generic flags: it runs once per weight at load, moves
 * bytes and never changes one, so a packed matrix holds exactly the
 * numbers of the stored one (the tests multiply both and compare).
 */
#include "config.h"

#include <string.h>

#include "engine/kern_simd.h"
#include "engine/quant.h"
#include "util/util.h"

unsigned
kern_simd_pack_rows(uint32_t wtype)
{
	switch (wtype) {
	case GGML_TYPE_Q4_0:
	case GGML_TYPE_Q8_0:
		return KERN_PANEL;
	default:
		return 0;
	}
}

/* One panel of 16 rows of nb blocks (bsz bytes: 2 of d, then qb of qs). */
static void
pack_panel(const uint8_t *src, size_t stride, size_t nb, size_t bsz,
    size_t qb, uint8_t *dst)
{
	size_t k, i, c;

	for (k = 0; k < nb; k++) {
		uint8_t *q = dst + kern_pb_qs_off(qb, k, nb);
		uint8_t *d = dst + kern_pb_d_off(qb, k, nb);

		for (i = 0; i < KERN_PANEL; i++) {
			const uint8_t *b = src + i * stride + k * bsz;

			memcpy(d + 2 * i, b, 2);
			for (c = 0; c < qb / 4; c++)
				memcpy(q + 64 * c + 4 * i, b + 2 + 4 * c, 4);
		}
	}
}

void
kern_simd_pack(uint32_t wtype, const void *src, size_t src_stride,
    size_t n, size_t rows, void *dst)
{
	const size_t nb = n / QUANT_QK;
	size_t bsz, qb, rb, p;

	if (kern_simd_pack_rows(wtype) == 0 || n == 0 || n % QUANT_QK != 0 ||
	    rows % KERN_PANEL != 0 || ((uintptr_t)dst & 63) != 0)
		CL_BUG("kern: bad pack arguments");
	qb = wtype == GGML_TYPE_Q4_0 ? 16 : 32;
	bsz = 2 + qb;
	rb = nb * bsz;
	for (p = 0; p < rows / KERN_PANEL; p++)
		pack_panel((const uint8_t *)src + p * KERN_PANEL * src_stride,
		    src_stride, nb, bsz, qb,
		    (uint8_t *)dst + p * KERN_PANEL * rb);
}

void
kern_simd_row_f32(uint32_t wtype, const void *w, size_t w_stride, size_t n,
    size_t r, float *out)
{
	const uint32_t base = wtype & ~KERN_PACKED;
	const uint8_t *pw;
	uint8_t blk[2 + 32];
	size_t nb, qb, k, c, i;

	if ((wtype & KERN_PACKED) == 0) {
		quant_dequantize_row(wtype, (const uint8_t *)w + r * w_stride,
		    out, n);
		return;
	}
	if (kern_simd_pack_rows(base) == 0 || n % QUANT_QK != 0)
		CL_BUG("kern: row of a packed type with no layout");
	/* Gather each block of row r back into its stored form. */
	nb = n / QUANT_QK;
	qb = base == GGML_TYPE_Q4_0 ? 16 : 32;
	pw = (const uint8_t *)w + (r / KERN_PANEL) * KERN_PANEL * w_stride;
	i = r % KERN_PANEL;
	for (k = 0; k < nb; k++) {
		memcpy(blk, pw + kern_pb_d_off(qb, k, nb) + 2 * i, 2);
		for (c = 0; c < qb / 4; c++)
			memcpy(blk + 2 + 4 * c, pw + kern_pb_qs_off(qb, k, nb) +
			    64 * c + 4 * i, 4);
		quant_dequantize_row(base, blk, out + k * QUANT_QK, QUANT_QK);
	}
}
