/*
 * kern_pack.c - the load-time relayout of weight rows into the panels
 * the AVX-512 kernels read (layouts: kern_simd.h, "Packed weights").
 *
 * Plain C with the generic flags: it runs once per weight at load and
 * moves bits without changing any (whole bytes, except the 6-bit Q4_K /
 * Q5_K scales and mins, which are re-cut into other bit positions), so
 * a packed matrix holds exactly the numbers of the stored one (the tests
 * multiply both and compare).
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
	case GGML_TYPE_Q4_K:
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
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
		uint8_t *q = dst + kern_pb_qs_off(qb, k);
		uint8_t *d = dst + kern_pb_d_off(qb, k, nb);

		for (i = 0; i < KERN_PANEL; i++) {
			const uint8_t *b = src + i * stride + k * bsz;

			memcpy(d + 2 * i, b, 2);
			for (c = 0; c < qb / 4; c++)
				memcpy(q + 64 * c + 4 * i, b + 2 + 4 * c, 4);
		}
	}
}

/* Bytes [off, off + 4 nc) of the 16 rows' blocks as nc chunks at dst. */
static void
pack_chunks(const uint8_t *src, size_t stride, size_t off, size_t nc,
    uint8_t *dst)
{
	size_t i, c;

	for (i = 0; i < KERN_PANEL; i++)
		for (c = 0; c < nc; c++)
			memcpy(dst + 64 * c + 4 * i, src + i * stride + off +
			    4 * c, 4);
}

/*
 * Super-block k of a panel of Q4_K (144-byte blocks) or Q5_K (176): the
 * layout of kern_simd.h; the 6-bit scales and mins are re-cut, not
 * rounded (quant_k4_scale_min() reads them as the dequantizer does).
 */
static void
pack_k4(uint32_t wtype, const uint8_t *src, size_t stride, size_t k,
    uint8_t *dst)
{
	const size_t bsz = wtype == GGML_TYPE_Q4_K ? 144 : 176;
	const size_t qoff = wtype == GGML_TYPE_Q4_K ? 16 : 48;
	const uint8_t *blk0 = src + k * bsz;
	size_t i;
	int b;

	for (i = 0; i < KERN_PANEL; i++) {
		const uint8_t *blk = blk0 + i * stride;
		uint8_t sc[8], m[8];

		memcpy(dst + 2 * i, blk, 2);
		memcpy(dst + 32 + 2 * i, blk + 2, 2);
		for (b = 0; b < 8; b++)
			quant_k4_scale_min(b, blk + 4, &sc[b], &m[b]);
		for (b = 0; b < 4; b++) {
			dst[64 + 4 * i + b] = (uint8_t)((sc[b] & 15) |
			    (sc[b + 4] & 15) << 4);
			dst[128 + 4 * i + b] = (uint8_t)((m[b] & 15) |
			    (m[b + 4] & 15) << 4);
			dst[192 + 4 * i + b] = (uint8_t)((sc[b] >> 4) |
			    (sc[b + 4] >> 4) << 2 | (m[b] >> 4) << 4 |
			    (m[b + 4] >> 4) << 6);
		}
	}
	pack_chunks(blk0, stride, qoff, 32, dst + 256);
	if (wtype == GGML_TYPE_Q5_K)
		pack_chunks(blk0, stride, 16, 8, dst + 2304);
}

/* Super-block k of a Q6_K panel (210-byte blocks: ql, qh, scales, d). */
static void
pack_q6k(const uint8_t *src, size_t stride, size_t k, size_t nb,
    size_t sh, uint8_t *dst)
{
	const uint8_t *blk0 = src + k * 210;
	uint8_t *q = dst + kern_p6_q_off(k, nb, sh);
	uint8_t *s = dst + kern_p6_s_off(k, nb, sh);
	uint8_t *d = dst + kern_p6_d_off(k, nb, sh);
	size_t i, h, c, g;

	for (h = 0; h < 2; h++) {
		for (c = 0; c < 8; c++) {
			uint8_t *o = q + 192 * (8 * h + c);

			pack_chunks(blk0, stride, 64 * h + 4 * c, 1, o);
			pack_chunks(blk0, stride, 64 * h + 32 + 4 * c, 1,
			    o + 64);
			pack_chunks(blk0, stride, 128 + 32 * h + 4 * c, 1,
			    o + 128);
		}
	}
	for (i = 0; i < KERN_PANEL; i++) {
		const uint8_t *blk = blk0 + i * stride;

		for (g = 0; g < 16; g++)
			s[16 * g + i] = blk[192 + g];
		memcpy(d + 2 * i, blk + 208, 2);
	}
}

void
kern_simd_pack(uint32_t wtype, const void *src, size_t src_stride,
    size_t n, size_t rows, void *dst)
{
	const int kq = wtype == GGML_TYPE_Q4_K || wtype == GGML_TYPE_Q5_K ||
	    wtype == GGML_TYPE_Q6_K;
	const size_t bk = kq ? QUANT_QK_K : QUANT_QK;
	const size_t nb = n / bk;
	size_t bsz, qb, rb, p, k;

	/*
	 * Q6_K, Q4_0 and Q8_0 with nb odd: panels (3360, 288 and 544 bytes
	 * per block and row group) alternate between aligned and 32 bytes
	 * off, so a call for rows from an odd panel on gets dst 32 off.
	 */
	const uintptr_t am = (wtype == GGML_TYPE_Q6_K ||
	    wtype == GGML_TYPE_Q4_0 || wtype == GGML_TYPE_Q8_0) && nb % 2 == 1 ?
	    31 : 63;

	if (kern_simd_pack_rows(wtype) == 0 || n == 0 || n % bk != 0 ||
	    rows % KERN_PANEL != 0 || ((uintptr_t)dst & am) != 0)
		CL_BUG("kern: bad pack arguments");
	if (kq) {
		bsz = ggml_type_info(wtype)->blck_bytes;
		rb = nb * bsz;
		for (p = 0; p < rows / KERN_PANEL; p++) {
			const uint8_t *ps = (const uint8_t *)src +
			    p * KERN_PANEL * src_stride;
			uint8_t *pd = (uint8_t *)dst + p * KERN_PANEL * rb;

			for (k = 0; k < nb; k++) {
				if (wtype == GGML_TYPE_Q6_K)
					pack_q6k(ps, src_stride, k, nb,
					    kern_p6_shift(pd), pd);
				else
					pack_k4(wtype, ps, src_stride, k,
					    pd + k * 16 * bsz);
			}
		}
		return;
	}
	qb = wtype == GGML_TYPE_Q4_0 ? 16 : 32;
	bsz = 2 + qb;
	rb = nb * bsz;
	for (p = 0; p < rows / KERN_PANEL; p++)
		pack_panel((const uint8_t *)src + p * KERN_PANEL * src_stride,
		    src_stride, nb, bsz, qb,
		    (uint8_t *)dst + p * KERN_PANEL * rb);
}

int
kern_simd_row_f32_packed(uint32_t wtype)
{
	return wtype == GGML_TYPE_Q4_0 || wtype == GGML_TYPE_Q8_0;
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
	if (!kern_simd_row_f32_packed(base) || n % QUANT_QK != 0)
		CL_BUG("kern: row lookup in a packed type it cannot read");
	/* Gather each block of row r back into its stored form. */
	nb = n / QUANT_QK;
	qb = base == GGML_TYPE_Q4_0 ? 16 : 32;
	pw = (const uint8_t *)w + (r / KERN_PANEL) * KERN_PANEL * w_stride;
	i = r % KERN_PANEL;
	for (k = 0; k < nb; k++) {
		memcpy(blk, pw + kern_pb_d_off(qb, k, nb) + 2 * i, 2);
		for (c = 0; c < qb / 4; c++)
			memcpy(blk + 2 + 4 * c, pw + kern_pb_qs_off(qb, k) +
			    64 * c + 4 * i, 4);
		quant_dequantize_row(base, blk, out + k * QUANT_QK, QUANT_QK);
	}
}
