/*
 * kern_act.c - activation preparation for the SIMD kernel variants: the
 * layouts kern_simd.h defines, filled from quant.c's reference
 * quantizers so the integers and scales are exactly llama.cpp's.
 *
 * Plain C with the generic compiler flags: it runs once per activation
 * row, which is small beside the weight matrix it is multiplied with.
 */
#include "config.h"

#include <string.h>

#include "engine/kern_simd.h"
#include "engine/quant.h"
#include "util/util.h"

static void
check_shape(uint32_t wtype, size_t n)
{
	const struct ggml_type_info *ti = ggml_type_info(wtype & ~KERN_PACKED);

	if ((wtype & KERN_PACKED) != 0 && kern_simd_pack_rows(wtype &
	    ~KERN_PACKED) == 0)
		CL_BUG("kern: activation for a packed type with no layout");
	if (ti == NULL || !quant_type_is_computable(wtype & ~KERN_PACKED))
		CL_BUG("kern: activation for a type that is not computable");
	if (n % ti->blck_elems != 0)
		CL_BUG("kern: row length not a multiple of the block size");
}

size_t
kern_simd_act_row_bytes(uint32_t wtype, size_t n)
{
	check_shape(wtype, n);
	return kern_simd_act_bytes(wtype, n);
}

/* Sum of the 32 quants of one block. */
static int
sum32(const int8_t *q)
{
	int j, s = 0;

	for (j = 0; j < QUANT_QK; j++)
		s += q[j];
	return s;
}

/* Q4_0 Q4_1 Q5_0 Q5_1: quantize 4 blocks at a time, then spread them. */
static void
prepare_g4(uint32_t wtype, const float *x, struct kern_act_g4 *g, size_t n)
{
	const int off = wtype == GGML_TYPE_Q4_0 ? 8 :
	    wtype == GGML_TYPE_Q5_0 ? 16 : 0;
	const int q81 = wtype == GGML_TYPE_Q4_1 || wtype == GGML_TYPE_Q5_1;
	struct block_q8_0 b0[4];
	struct block_q8_1 b1[4];
	size_t nb = n / QUANT_QK, i, k, nv;
	int j;

	for (i = 0; i < nb; i += 4, g++, x += 4 * QUANT_QK) {
		nv = nb - i < 4 ? nb - i : 4;
		memset(g, 0, sizeof(*g));
		if (q81)
			quant_quantize_row_q8_1(x, b1, nv * QUANT_QK);
		else
			quant_quantize_row_q8_0_act(x, b0, nv * QUANT_QK);
		for (k = 0; k < nv; k++) {
			const int8_t *q = q81 ? b1[k].qs : b0[k].qs;
			const float d = quant_f16_to_f32(q81 ? b1[k].d :
			    b0[k].d);

			memcpy(g->qs + 16 * k, q, 16);
			memcpy(g->qs + 64 + 16 * k, q + 16, 16);
			for (j = 0; j < 4; j++)
				g->d[4 * k + j] = d;
			g->c[4 * k] = -off * sum32(q);
			if (q81)
				g->s[4 * k] = quant_f16_to_f32(b1[k].s);
		}
	}
}

static void
prepare_q8(const float *x, struct kern_act_q8 *g, size_t n)
{
	struct block_q8_0 b[4];
	size_t nb = n / QUANT_QK, i, k, nv;
	int j;

	for (i = 0; i < nb; i += 4, g++, x += 4 * QUANT_QK) {
		nv = nb - i < 4 ? nb - i : 4;
		memset(g, 0, sizeof(*g));
		quant_quantize_row_q8_0_act(x, b, nv * QUANT_QK);
		for (k = 0; k < nv; k++) {
			const float d = quant_f16_to_f32(b[k].d);

			memcpy(g->qs + 32 * k, b[k].qs, 32);
			for (j = 0; j < 8; j++)
				g->d[8 * k + j] = d;
			g->c[8 * k] = -128 * sum32(b[k].qs);
		}
	}
}

static void
prepare_k(uint32_t wtype, const float *x, struct kern_act_k *g, size_t n)
{
	static const int order[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };
	struct block_q8_k b;
	size_t nb = n / QUANT_QK_K, i;
	int j;

	for (i = 0; i < nb; i++, g++, x += QUANT_QK_K) {
		quant_quantize_row_q8_k(x, &b, QUANT_QK_K);
		memset(g, 0, sizeof(*g));
		g->d = b.d;
		if (wtype == GGML_TYPE_Q6_K) {
			memcpy(g->qs, b.qs, sizeof(g->qs));
			memcpy(g->bs, b.bsums, sizeof(g->bs));
			continue;
		}
		for (j = 0; j < 8; j++) {
			memcpy(g->qs + 32 * j, b.qs + 32 * order[j], 32);
			g->bs[j] = (int16_t)(b.bsums[2 * j] + b.bsums[2 * j + 1]);
		}
	}
}

/* Packed Q4_0 / Q8_0: struct kern_act_pb per block (kern_simd.h). */
static void
prepare_pb(uint32_t wtype, const float *x, struct kern_act_pb *a, size_t n,
    size_t len)
{
	const int off = wtype == (GGML_TYPE_Q4_0 | KERN_PACKED) ? 8 : 128;
	struct block_q8_0 b[4];
	size_t nb = n / QUANT_QK, i, k, nv;

	memset(a, 0, len);
	for (i = 0; i < nb; i += 4, x += 4 * QUANT_QK) {
		nv = nb - i < 4 ? nb - i : 4;
		quant_quantize_row_q8_0_act(x, b, nv * QUANT_QK);
		for (k = 0; k < nv; k++, a++) {
			memcpy(a->qs, b[k].qs, 32);
			a->d = quant_f16_to_f32(b[k].d);
			a->c = -off * sum32(b[k].qs);
		}
	}
}

/* Packed Q4_K / Q5_K / Q6_K: struct kern_act_pk per super-block. */
static void
prepare_pk(const float *x, struct kern_act_pk *a, size_t n)
{
	struct block_q8_k b;
	size_t nb = n / QUANT_QK_K, i;
	int j;

	for (i = 0; i < nb; i++, a++, x += QUANT_QK_K) {
		quant_quantize_row_q8_k(x, &b, QUANT_QK_K);
		memset(a, 0, sizeof(*a));
		memcpy(a->qs, b.qs, sizeof(a->qs));
		a->d = b.d;
		for (j = 0; j < 16; j++)
			a->c[j] = -32 * b.bsums[j];
		for (j = 0; j < 8; j++)
			a->bs[j] = (int16_t)(b.bsums[2 * j] +
			    b.bsums[2 * j + 1]);
	}
}

void
kern_simd_act_prepare(uint32_t wtype, const float *x, void *act, size_t n)
{
	size_t len = kern_simd_act_row_bytes(wtype, n);

	switch (wtype) {
	case GGML_TYPE_Q4_0 | KERN_PACKED:
	case GGML_TYPE_Q8_0 | KERN_PACKED:
		prepare_pb(wtype, x, act, n, len);
		break;
	case GGML_TYPE_Q4_K | KERN_PACKED:
	case GGML_TYPE_Q5_K | KERN_PACKED:
	case GGML_TYPE_Q6_K | KERN_PACKED:
		prepare_pk(x, act, n);
		break;
	case GGML_TYPE_Q4_0:
	case GGML_TYPE_Q4_1:
	case GGML_TYPE_Q5_0:
	case GGML_TYPE_Q5_1:
		prepare_g4(wtype, x, act, n);
		break;
	case GGML_TYPE_Q8_0:
		prepare_q8(x, act, n);
		break;
	case GGML_TYPE_Q4_K:
	case GGML_TYPE_Q5_K:
	case GGML_TYPE_Q6_K:
		prepare_k(wtype, x, act, n);
		break;
	default:
		memcpy(act, x, n * sizeof(float));
		memset((char *)act + n * sizeof(float), 0,
		    len - n * sizeof(float));
		break;
	}
}
