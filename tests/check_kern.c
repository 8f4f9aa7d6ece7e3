/*
 * check_kern.c - tests of the kernel table (engine/kern_*.c): selection,
 * and the reference matmul against a naive dequantize-whole-row-then-dot
 * in double at several sizes, token counts, partial row ranges and
 * strides, including concurrent calls on disjoint ranges.
 *
 * Every variant this machine can run (kern_ops_select) is checked the
 * same way; variants that quantize activations get the extra tolerance
 * of that rounding, and are also checked against the scalar integer
 * reference (quant_vec_dot) on the same quantized operands.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kern.h"
#include "engine/quant.h"
#include "util/util.h"

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static float
frand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (float)((double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) *
	    0x1p-52 - 1.0);
}

static const uint32_t all_types[] = {
	GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q4_0,
	GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
	GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
};

#define SENTINEL	-12345.5f

/* A weight matrix of `rows` rows of n elements of `type`, and x. */
struct problem {
	uint32_t	 type;
	size_t		 n;		/* row length */
	size_t		 rows;
	size_t		 n_tok;
	size_t		 stride;	/* bytes between weight rows */
	uint8_t		*w;		/* rows * stride bytes */
	float		*x;		/* (n_tok, n) activations */
	double		*want;		/* (n_tok, rows) naive results */
	double		*mag;		/* (n_tok, rows) sum of |w x| */
	double		*arnd;		/* (n_tok, rows) Q8 rounding bound */
};

/*
 * How far an integer dot product may move from the float one because the
 * activations x are rounded to quant_vec_dot_type(type): per block of 32
 * (Q8_0, Q8_1) or 256 (Q8_K) half a step amax/127 per element, plus the
 * f16 rounding of the block scale, plus for Q8_1 the f16 rounding of
 * s = d * sum(q), which multiplies the weight minimum.
 */
static double
act_round_bound(uint32_t type, const float *wd, const float *x, size_t n)
{
	uint32_t at = quant_vec_dot_type(type);
	size_t blk = at == GGML_TYPE_Q8_K ? 256 : 32, i, k;
	double bound = 0;

	if (at == GGML_TYPE_F32)
		return 0;
	for (i = 0; i < n; i += blk) {
		double amax = 0, wmax = 0, wsum = 0;

		for (k = i; k < i + blk; k++) {
			amax = fmax(amax, fabs(x[k]));
			wmax = fmax(wmax, fabs(wd[k]));
			wsum += fabs(wd[k]);
		}
		bound += wsum * amax * (1.0 / 254 + 0x1p-10);
		if (at == GGML_TYPE_Q8_1)
			bound += wmax * 32 * amax * 0x1p-10;
	}
	return bound;
}

static void
problem_init(struct problem *p, uint32_t type, size_t n, size_t rows,
    size_t n_tok)
{
	float *wf = cl_malloc(n * sizeof(*wf)), *wd = cl_malloc(n * 4);
	size_t rb = 0, r, t, i;

	ck_assert(wf != NULL && wd != NULL);
	ck_assert_int_eq(quant_row_bytes(type, n, &rb), CL_OK);
	p->type = type;
	p->n = n;
	p->rows = rows;
	p->n_tok = n_tok;
	/* Padding between rows: the stride, not the row size, is used. */
	p->stride = (rb + 16 + 3) & ~(size_t)3;
	p->w = cl_calloc(rows, p->stride);
	p->x = cl_malloc(n_tok * n * sizeof(float));
	p->want = cl_malloc(n_tok * rows * sizeof(double));
	p->mag = cl_malloc(n_tok * rows * sizeof(double));
	p->arnd = cl_malloc(n_tok * rows * sizeof(double));
	ck_assert(p->w && p->x && p->want && p->mag && p->arnd);
	for (i = 0; i < n_tok * n; i++)
		p->x[i] = frand();
	for (r = 0; r < rows; r++) {
		for (i = 0; i < n; i++)
			wf[i] = frand() * 0.1f;
		quant_quantize_row(type, wf, p->w + r * p->stride, n);
		/* The naive reference: the whole row, then a double dot. */
		quant_dequantize_row(type, p->w + r * p->stride, wd, n);
		for (t = 0; t < n_tok; t++) {
			double s = 0, m = 0;

			for (i = 0; i < n; i++) {
				s += (double)wd[i] * p->x[t * n + i];
				m += fabs((double)wd[i] * p->x[t * n + i]);
			}
			p->want[t * rows + r] = s;
			p->mag[t * rows + r] = m;
			p->arnd[t * rows + r] = act_round_bound(type,
			    wd, p->x + t * n, n);
		}
	}
	cl_free(wf);
	cl_free(wd);
}

static void
problem_release(struct problem *p)
{
	cl_free(p->w);
	cl_free(p->x);
	cl_free(p->want);
	cl_free(p->mag);
	cl_free(p->arnd);
}

/*
 * Run k on rows [r0, r1) into y with leading dimension ldy and check
 * every entry: computed ones against the naive double result (float
 * accumulation over n terms: n * 2^-23 of the magnitude), all others
 * untouched.
 */
static void
check_matmul(const struct kern_ops *k, const struct problem *p, size_t ldy,
    size_t r0, size_t r1)
{
	size_t ab = k->act_row_bytes(p->type, p->n), t, r;
	bool quantizes = ab != p->n * sizeof(float);
	void *act = aligned_alloc(64, (p->n_tok * ab + 63) & ~(size_t)63);
	float *y = cl_malloc(p->n_tok * ldy * sizeof(*y));

	ck_assert(act != NULL && y != NULL);
	ck_assert_uint_eq(ab % 4, 0);
	for (t = 0; t < p->n_tok; t++)
		k->act_prepare(p->type, p->x + t * p->n, (char *)act + t * ab,
		    p->n);
	for (t = 0; t < p->n_tok * ldy; t++)
		y[t] = SENTINEL;
	k->matmul(p->type, p->w, p->stride, p->n, act, p->n_tok, y, ldy, r0,
	    r1);
	for (t = 0; t < p->n_tok; t++) {
		for (r = 0; r < ldy; r++) {
			float got = y[t * ldy + r];

			if (r < r0 || r >= r1) {
				ck_assert_msg(got == SENTINEL,
				    "%s: y[%zu][%zu] written outside "
				    "[%zu, %zu)", k->name, t, r, r0, r1);
				continue;
			}
			double want = p->want[t * p->rows + r];
			double tol = p->mag[t * p->rows + r] * p->n *
			    0x1p-23 + 1e-30;

			if (quantizes)
				tol += p->arnd[t * p->rows + r];

			ck_assert_msg(fabs(got - want) <= tol,
			    "%s %s n %zu: y[%zu][%zu] %.9g want %.9g",
			    k->name, ggml_type_info(p->type)->name, p->n, t,
			    r, (double)got, want);
		}
	}
	free(act);
	cl_free(y);
}

/* The variants this machine runs: ref first. */
static size_t
variants(const struct kern_ops *out[4])
{
	static const unsigned force[] = { KERN_FORCE_REF, KERN_FORCE_AVX2 };
	size_t i, n = 0;

	for (i = 0; i < CL_ARRAY_LEN(force); i++)
		if ((out[n] = kern_ops_select(force[i])) != NULL)
			n++;
	return n;
}

/* Whole, partial and empty row ranges, ldy larger than rows. */
static void
check_ranges(const struct kern_ops *k, const struct problem *p)
{
	check_matmul(k, p, p->rows, 0, p->rows);
	check_matmul(k, p, p->rows + 5, 0, p->rows);
	if (p->rows > 1) {
		check_matmul(k, p, p->rows + 2, 1, p->rows / 2);
		check_matmul(k, p, p->rows, p->rows / 2, p->rows);
	}
	check_matmul(k, p, p->rows, 0, 0);
}

START_TEST(test_select)
{
	const struct kern_ops *a = kern_ops_select(KERN_AUTO);
	const struct kern_ops *r = kern_ops_select(KERN_FORCE_REF);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(a->name);
	ck_assert_ptr_nonnull(a->matmul);
	ck_assert_ptr_eq(a, kern_ops_select(KERN_AUTO));	/* stable */
	ck_assert_ptr_eq(r, kern_ops_ref());
	ck_assert_str_eq(r->name, "ref");
	ck_assert_ptr_null(kern_ops_select(999));
#ifdef CL_CPU_X86_64
	/* AUTO is the best variant the CPU runs: AVX-512, else AVX2. */
	{
		const struct kern_ops *x = kern_ops_select(KERN_FORCE_AVX2);
		const struct kern_ops *z = kern_ops_select(KERN_FORCE_AVX512);

		if (z != NULL) {
			ck_assert_str_eq(z->name, "avx512");
			ck_assert_ptr_nonnull(x);
			ck_assert_ptr_eq(a, z);
		} else if (x != NULL) {
			ck_assert_ptr_eq(a, x);
		} else {
			ck_assert_ptr_eq(a, r);
			fprintf(stderr, "kern: no AVX2 here, avx2 not tested\n");
		}
		if (x != NULL)
			ck_assert_str_eq(x->name, "avx2");
	}
#else
	ck_assert_ptr_null(kern_ops_select(KERN_FORCE_AVX2));
	ck_assert_ptr_null(kern_ops_select(KERN_FORCE_AVX512));
#endif
}
END_TEST

/* Activations are plain floats in ref. */
START_TEST(test_ref_act)
{
	const struct kern_ops *k = kern_ops_ref();
	float x[64], a[64];
	size_t i;

	for (i = 0; i < 64; i++)
		x[i] = frand();
	ck_assert_uint_eq(k->act_row_bytes(GGML_TYPE_Q4_K, 256), 1024);
	ck_assert_uint_eq(k->act_row_bytes(GGML_TYPE_Q8_0, 64), 256);
	k->act_prepare(GGML_TYPE_Q8_0, x, a, 64);
	ck_assert(memcmp(a, x, sizeof(x)) == 0);
}
END_TEST

START_TEST(test_ref_dot_f32)
{
	const struct kern_ops *k = kern_ops_ref();
	float a[33], b[33];
	size_t i;

	for (i = 0; i < 33; i++) {
		a[i] = (float)i;
		b[i] = i % 2 ? -0.5f : 2.0f;
	}
	/* Even i: 2i over 0..32 = 544; odd i: -i/2 over 1..31 = -128. */
	ck_assert(k->dot_f32(a, b, 33) == 416.0f);
	ck_assert(k->dot_f32(a, b, 0) == 0.0f);
	ck_assert(k->dot_f32(a, b, 1) == 0.0f);
}
END_TEST

/*
 * Per type: n in {32, 256, 4096} (K-quants: 256, 4096), rows {1, 31,
 * 33}, n_tok {1, 3}.
 */
START_TEST(test_matmul)
{
	static const size_t ns[] = { 32, 256, 4096 };
	static const size_t rows[] = { 1, 31, 33 };
	const struct kern_ops *ks[4];
	size_t nk = variants(ks), v;
	uint32_t type = all_types[_i];
	size_t a, b, t;

	for (a = 0; a < CL_ARRAY_LEN(ns); a++) {
		if (ns[a] % ggml_type_info(type)->blck_elems != 0)
			continue;
		for (b = 0; b < CL_ARRAY_LEN(rows); b++) {
			for (t = 1; t <= 3; t += 2) {
				struct problem p;

				/* Keep the largest case quick. */
				if (ns[a] == 4096 && rows[b] != 33 && t == 3)
					continue;
				problem_init(&p, type, ns[a], rows[b], t);
				for (v = 0; v < nk; v++)
					check_ranges(ks[v], &p);
				problem_release(&p);
			}
		}
	}
}
END_TEST

/*
 * Variants that quantize activations against the scalar integer
 * reference on the very same operands: only summation order may differ.
 */
START_TEST(test_matmul_int_ref)
{
	const struct kern_ops *ks[4];
	size_t nk = variants(ks), v, ab, t, r;
	uint32_t type = all_types[_i];
	struct problem p;
	float *y;
	void *act;

	void *qa = cl_malloc(4096 * sizeof(float) + 64);

	problem_init(&p, type, 4096, 7, 2);
	y = cl_malloc(2 * 7 * sizeof(*y));
	ck_assert_ptr_nonnull(y);
	ck_assert_ptr_nonnull(qa);
	for (v = 1; v < nk; v++) {
		ab = ks[v]->act_row_bytes(type, p.n);
		act = aligned_alloc(64, (2 * ab + 63) & ~(size_t)63);
		ck_assert_ptr_nonnull(act);
		for (t = 0; t < 2; t++)
			ks[v]->act_prepare(type, p.x + t * p.n,
			    (char *)act + t * ab, p.n);
		ks[v]->matmul(type, p.w, p.stride, p.n, act, 2, y, 7, 0, 7);
		for (t = 0; t < 2; t++) {
			for (r = 0; r < 7; r++) {
				float want;

				/* The variants' own layouts differ (kern_simd.h):
				 * quantize as quant.h does for the reference. */
				quant_act_quantize(type, p.x + t * p.n, qa, p.n);
				want = quant_vec_dot(type, p.w + r * p.stride, qa,
				    p.n);

				ck_assert_msg(fabs(y[t * 7 + r] - want) <=
				    1e-5 * p.mag[t * 7 + r] + 1e-30,
				    "%s %s: row %zu tok %zu: %.9g, int ref "
				    "%.9g", ks[v]->name,
				    ggml_type_info(type)->name, r, t,
				    (double)y[t * 7 + r], (double)want);
			}
		}
		free(act);
	}
	cl_free(qa);
	cl_free(y);
	problem_release(&p);
}
END_TEST

struct job {
	const struct kern_ops	*k;
	const struct problem	*p;
	const void		*act;
	float			*y;
	size_t			 r0, r1;
};

static void *
run_job(void *arg)
{
	struct job *j = arg;

	j->k->matmul(j->p->type, j->p->w, j->p->stride, j->p->n, j->act,
	    j->p->n_tok, j->y, j->p->rows, j->r0, j->r1);
	return NULL;
}

/* Two threads on disjoint halves give the same y as one call. */
START_TEST(test_ref_matmul_threads)
{
	const struct kern_ops *k = kern_ops_select(KERN_AUTO);
	struct problem p;
	struct job j[2];
	pthread_t th[2];
	float *y1, *y2;
	void *act;
	size_t ab, t;
	int i;

	problem_init(&p, GGML_TYPE_Q4_K, 512, 64, 2);
	ab = k->act_row_bytes(p.type, p.n);
	act = aligned_alloc(64, (2 * ab + 63) & ~(size_t)63);
	y1 = cl_malloc(2 * 64 * sizeof(float));
	y2 = cl_malloc(2 * 64 * sizeof(float));
	ck_assert(act && y1 && y2);
	for (t = 0; t < 2; t++)
		k->act_prepare(p.type, p.x + t * p.n, (char *)act + t * ab,
		    p.n);
	k->matmul(p.type, p.w, p.stride, p.n, act, 2, y1, 64, 0, 64);
	for (i = 0; i < 2; i++) {
		j[i] = (struct job){ k, &p, act, y2, (size_t)i * 29,
		    i == 0 ? 29 : 64 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, run_job, &j[i]),
		    0);
	}
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	ck_assert(memcmp(y1, y2, 2 * 64 * sizeof(float)) == 0);
	free(act);
	cl_free(y1);
	cl_free(y2);
	problem_release(&p);
}
END_TEST

/* A type that cannot be computed is a caller bug: abort. */
START_TEST(test_ref_matmul_bad_type)
{
	const struct kern_ops *k = kern_ops_ref();
	uint8_t w[84] = { 0 };
	float x[256] = { 0 }, y[1];

	k->matmul(GGML_TYPE_Q2_K, w, sizeof(w), 256, x, 1, y, 1, 0, 1);
}
END_TEST

static Suite *
kern_suite(void)
{
	Suite *s = suite_create("kern");
	TCase *tc;

	tc = tcase_create("select");
	tcase_add_test(tc, test_select);
	suite_add_tcase(s, tc);

	tc = tcase_create("matmul");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ref_act);
	tcase_add_test(tc, test_ref_dot_f32);
	tcase_add_loop_test(tc, test_matmul, 0,
	    (int)CL_ARRAY_LEN(all_types));
	tcase_add_loop_test(tc, test_matmul_int_ref, 0,
	    (int)CL_ARRAY_LEN(all_types));
	tcase_add_test(tc, test_ref_matmul_threads);
	tcase_add_test_raise_signal(tc, test_ref_matmul_bad_type, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(kern_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
