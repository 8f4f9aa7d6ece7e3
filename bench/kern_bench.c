/*
 * kern_bench.c - throughput of the matmul kernels on model-shaped
 * matrices: GB/s of weights streamed at n_tok = 1 (decode) and GFLOP/s
 * at n_tok = 64 (prefill), for every kernel variant this CPU runs, with
 * 1 and 2 threads splitting the rows.
 *
 *	bench/kern_bench [-q] [-t seconds]
 *
 * Decode cycles through enough distinct copies of each matrix (at least
 * 512 MiB in all) that the weights come from DRAM, as in the real model,
 * not from the caches.  Prefill multiplies one matrix, hot in the caches,
 * by 64 activation rows.  -q skips the slow scalar reference.  Not part
 * of `make check`; see bench/README.md.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/kern.h"
#include "engine/quant.h"
#include "util/util.h"

#define POOL_BYTES	(getenv("KB_POOL") ? (size_t)atol(getenv("KB_POOL")) : (size_t)512 << 20)

struct job {
	const struct kern_ops	*k;
	uint32_t		 type;
	uint8_t			*w;		/* n_mat matrices back to back */
	size_t			 n_mat, mat_bytes, rb, rows, n;
	const void		*act;
	size_t			 n_tok;
	float			*y;
	size_t			 r0, r1;
	size_t			 passes;	/* over all n_mat matrices */
	double			 cpu;		/* out: thread CPU seconds */
};

static double
thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *
run_job(void *arg)
{
	struct job *j = arg;
	const double t0 = thread_cpu();
	size_t p, m;

	for (p = 0; p < j->passes; p++)
		for (m = 0; m < j->n_mat; m++)
			j->k->matmul(j->type, j->w + m * j->mat_bytes, j->rb,
			    j->n, j->act, j->n_tok, j->y, j->rows, j->r0,
			    j->r1);
	j->cpu = thread_cpu() - t0;
	return NULL;
}

/*
 * Seconds for `passes` passes with n_thr threads splitting the rows: the
 * larger of the threads' CPU times, so that time the threads spend
 * descheduled on a shared machine does not count (on an idle machine
 * this equals the wall time), or the wall time with KB_WALL set.
 */
static double
timed(struct job *base, int n_thr, size_t passes)
{
	pthread_t th[2];
	struct job jobs[2];
	double t0, cpu = 0.0;
	int i;

	for (i = 0; i < n_thr; i++) {
		jobs[i] = *base;
		jobs[i].passes = passes;
		jobs[i].r0 = base->rows * (size_t)i / (size_t)n_thr;
		jobs[i].r1 = base->rows * (size_t)(i + 1) / (size_t)n_thr;
	}
	t0 = cl_now();
	for (i = 1; i < n_thr; i++)
		if (pthread_create(&th[i], NULL, run_job, &jobs[i]) != 0) {
			perror("pthread_create");
			exit(1);
		}
	run_job(&jobs[0]);
	for (i = 1; i < n_thr; i++)
		pthread_join(th[i], NULL);
	t0 = cl_now() - t0;
	for (i = 0; i < n_thr; i++)
		if (jobs[i].cpu > cpu)
			cpu = jobs[i].cpu;
	return getenv("KB_WALL") != NULL ? t0 : cpu;
}

/* Best of 3 runs of enough passes to take about `secs` seconds. */
static double
measure(struct job *j, int n_thr, double secs)
{
	double t = timed(j, n_thr, 1), best = 1e30;
	size_t passes = t > 0 ? (size_t)(secs / 3 / t) : 1;
	int rep;

	if (passes < 1)
		passes = 1;
	for (rep = 0; rep < 3; rep++) {
		t = timed(j, n_thr, passes) / (double)passes;
		if (t < best)
			best = t;
	}
	return best;
}

static void *
xmalloc(size_t n)
{
	void *p = cl_malloc(n);

	if (p == NULL) {
		fprintf(stderr, "kern_bench: out of memory\n");
		exit(1);
	}
	return p;
}

static uint64_t rng = 88172645463325252ull;

static float
frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)(rng >> 40) * 0x1p-24f * 2.0f - 1.0f;
}

/*
 * One line of the table.  With `packed`, the matrices are first relaid
 * by the variant's pack() (as the model loader does) and the packed
 * kernel is timed.
 */
static void
bench(const struct kern_ops *k, uint32_t type, size_t rows, size_t n,
    const char *what, double secs, int packed)
{
	const size_t n_tok_pre = 64;
	struct job j;
	size_t rb = 0, m, ab, i;
	float *x, *row;
	void *act_raw, *w_raw = NULL;
	char label[32];
	double t1, t2, tp1, tp2, gb;

	if (quant_row_bytes(type, n, &rb) != CL_OK)
		abort();
	memset(&j, 0, sizeof(j));
	j.k = k;
	j.type = type;
	j.rb = rb;
	j.rows = rows;
	j.n = n;
	j.mat_bytes = rb * rows;
	j.n_mat = (POOL_BYTES + j.mat_bytes - 1) / j.mat_bytes;
	j.w = xmalloc(j.n_mat * j.mat_bytes);
	row = xmalloc(n * sizeof(float));
	for (i = 0; i < rows; i++) {
		for (m = 0; m < n; m++)
			row[m] = frand();
		quant_quantize_row(type, row, j.w + i * rb, n);
	}
	for (m = 1; m < j.n_mat; m++)
		memcpy(j.w + m * j.mat_bytes, j.w, j.mat_bytes);
	if (packed) {
		uint8_t *pw;

		w_raw = xmalloc(j.n_mat * j.mat_bytes + 64);
		pw = (uint8_t *)(((uintptr_t)w_raw + 63) & ~(uintptr_t)63);
		/* Each copy alone, as the loader packs each matrix. */
		for (m = 0; m < j.n_mat; m++)
			k->pack(type, j.w + m * j.mat_bytes, rb, n, rows,
			    pw + m * j.mat_bytes);
		cl_free(j.w);
		j.w = pw;
		type |= KERN_PACKED;
		j.type = type;
	}

	ab = k->act_row_bytes(type, n);
	x = xmalloc(n_tok_pre * n * sizeof(float));
	act_raw = xmalloc(n_tok_pre * ab + 64);
	j.act = (void *)(((uintptr_t)act_raw + 63) & ~(uintptr_t)63);
	for (i = 0; i < n_tok_pre * n; i++)
		x[i] = frand();
	for (i = 0; i < n_tok_pre; i++)
		k->act_prepare(type, x + i * n, (char *)j.act + i * ab, n);
	j.y = xmalloc(n_tok_pre * rows * sizeof(float));

	/* Decode: one token, weights from DRAM. */
	j.n_tok = 1;
	t1 = measure(&j, 1, secs) / (double)j.n_mat;
	t2 = measure(&j, 2, secs) / (double)j.n_mat;
	/* Prefill: 64 tokens, one matrix hot in the caches. */
	j.n_tok = n_tok_pre;
	j.n_mat = 1;
	tp1 = measure(&j, 1, secs);
	tp2 = measure(&j, 2, secs);

	gb = (double)j.mat_bytes / 1e9;
	snprintf(label, sizeof(label), "%s%s",
	    ggml_type_info(type & ~KERN_PACKED)->name, packed ? " pk" : "");
	printf("| %-6s | %-8s | %-14s | %7.1f | %7.1f | %7.1f | %7.1f |\n",
	    k->name, label, what, gb / t1, gb / t2,
	    2.0 * (double)rows * (double)n * n_tok_pre / tp1 / 1e9,
	    2.0 * (double)rows * (double)n * n_tok_pre / tp2 / 1e9);
	fflush(stdout);
	if (packed)
		cl_free(w_raw);
	else
		cl_free(j.w);
	cl_free(row);
	cl_free(x);
	cl_free(act_raw);
	cl_free(j.y);
}

/* Microseconds to prepare one activation row of n for each type. */
static void
bench_act(const struct kern_ops *k, size_t n)
{
	static const uint32_t at[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0,
	    GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
	float *x = xmalloc(n * sizeof(float));
	void *a = xmalloc(k->act_row_bytes(GGML_TYPE_Q8_0, n) * 2 + 64);
	size_t i, r, reps = 2000;
	double t;

	for (i = 0; i < n; i++)
		x[i] = frand();
	printf("act_prepare %s, n = %zu:", k->name, n);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		t = cl_now();
		for (r = 0; r < reps; r++)
			k->act_prepare(at[i], x, a, n);
		t = cl_now() - t;
		printf(" %s %.2f us", ggml_type_info(at[i])->name,
		    t / (double)reps * 1e6);
	}
	printf("\n");
	cl_free(x);
	cl_free(a);
}

int
main(int argc, char **argv)
{
	static const unsigned forces[] = { KERN_FORCE_REF, KERN_FORCE_AVX2,
	    KERN_FORCE_AVX512 };
	static const uint32_t ts[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
	    GGML_TYPE_Q6_K, GGML_TYPE_Q8_0, GGML_TYPE_F16 };
	double secs = 1.0;
	int quick = 0, c;
	size_t f, i;

	while ((c = getopt(argc, argv, "qt:")) != -1) {
		switch (c) {
		case 'q':
			quick = 1;
			break;
		case 't':
			secs = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: kern_bench [-q] [-t secs]\n");
			return 2;
		}
	}
	printf("| kern   | type     | matrix (d x n) | GB/s 1t | GB/s 2t "
	    "| GF/s 1t | GF/s 2t |\n");
	printf("|--------|----------|----------------|---------|---------"
	    "|---------|---------|\n");
	for (f = 0; f < sizeof(forces) / sizeof(forces[0]); f++) {
		const struct kern_ops *k = kern_ops_select(forces[f]);

		if (k == NULL) {
			fprintf(stderr, "kern_bench: variant %u not supported "
			    "here, skipped\n", forces[f]);
			continue;
		}
		if (quick && forces[f] == KERN_FORCE_REF)
			continue;
		for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
			bench(k, ts[i], 1792, 2048, "1792 x 2048", secs, 0);
			if (k->pack_rows != NULL && k->pack_rows(ts[i]) != 0)
				bench(k, ts[i], 1792, 2048, "1792 x 2048",
				    secs, 1);
		}
		if (forces[f] == KERN_FORCE_REF)
			continue;	/* far too slow to be worth it */
		bench(k, GGML_TYPE_Q6_K, 65536, 2048, "65536 x 2048", secs, 0);
		bench(k, GGML_TYPE_Q4_0, 65536, 2048, "65536 x 2048", secs, 0);
		if (k->pack_rows != NULL && k->pack_rows(GGML_TYPE_Q4_0) != 0)
			bench(k, GGML_TYPE_Q4_0, 65536, 2048, "65536 x 2048",
			    secs, 1);
	}
	for (f = 0; f < sizeof(forces) / sizeof(forces[0]); f++) {
		const struct kern_ops *k = kern_ops_select(forces[f]);

		if (k != NULL)
			bench_act(k, 2048);
	}
	return 0;
}
