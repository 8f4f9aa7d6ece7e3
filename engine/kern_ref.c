/*
 * kern_ref.c - the scalar reference kernels: the specification every
 * other kernel variant is tested against.
 *
 * Plain C, no intrinsics, written to be obviously right.  Activations
 * stay in float ("--kernels ref" means weights dequantized, activations
 * never rounded); a weight row is dequantized 256 elements at a time into
 * a stack buffer and dotted with every token's activations, so each
 * weight row is read once per call and no matrix is ever expanded.
 */
#include "config.h"

#include <string.h>

#include "engine/kern.h"
#include "engine/kern_simd.h"
#include "engine/quant.h"
#include "util/util.h"

/* Elements dequantized at a time: a multiple of every block size. */
#define CHUNK	QUANT_QK_K

static size_t
act_row_bytes_ref(uint32_t wtype, size_t n)
{
	(void)wtype;
	return n * sizeof(float);
}

static void
act_prepare_ref(uint32_t wtype, const float *x, void *act, size_t n)
{
	(void)wtype;
	memcpy(act, x, n * sizeof(float));
}

/* sum a[i] * b[i], accumulated in float in index order. */
static float
dot_f32_ref(const float *a, const float *b, size_t n)
{
	float sum = 0.0f;
	size_t i;

	for (i = 0; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

/* y[t*ldy + r] = W[r, :] . x[t, :] for r in [r0, r1), t in [0, n_tok). */
static void
matmul_ref(uint32_t wtype, const void *w, size_t w_stride, size_t n,
    const void *act, size_t n_tok, float *y, size_t ldy, size_t r0,
    size_t r1)
{
	const struct ggml_type_info *ti = ggml_type_info(wtype);
	const float *x = act;
	float buf[CHUNK];
	size_t r, t, i, k, len;

	if (ti == NULL || !quant_type_is_computable(wtype))
		CL_BUG("kern: matmul on a type that is not computable");
	if (n % ti->blck_elems != 0)
		CL_BUG("kern: row length not a multiple of the block size");

	for (r = r0; r < r1; r++) {
		const char *row = (const char *)w + r * w_stride;

		if (wtype == GGML_TYPE_F32) {
			for (t = 0; t < n_tok; t++)
				y[t * ldy + r] = dot_f32_ref(
				    (const float *)(const void *)row,
				    x + t * n, n);
			continue;
		}
		for (t = 0; t < n_tok; t++)
			y[t * ldy + r] = 0.0f;
		for (i = 0; i < n; i += len) {
			len = n - i < CHUNK ? n - i : CHUNK;
			quant_dequantize_row(wtype, row + i /
			    ti->blck_elems * ti->blck_bytes, buf, len);
			for (t = 0; t < n_tok; t++) {
				const float *xt = x + t * n + i;
				float s = 0.0f;

				for (k = 0; k < len; k++)
					s += buf[k] * xt[k];
				y[t * ldy + r] += s;
			}
		}
	}
}

static const struct kern_ops kern_ref = {
	.name = "ref",
	.act_row_bytes = act_row_bytes_ref,
	.act_prepare = act_prepare_ref,
	.matmul = matmul_ref,
	.dot_f32 = dot_f32_ref,
	.row_f32 = kern_simd_row_f32,	/* ref never packs: a plain lookup */
};

const struct kern_ops *
kern_ops_ref(void)
{
	return &kern_ref;
}
