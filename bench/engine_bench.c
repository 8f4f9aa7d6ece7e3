/*
 * engine_bench.c - in-process engine benchmark in the manner of llama-bench:
 * prefill of P tokens in one call (pp) and G single-token decode steps from
 * an empty cache (tg), each repeated R times after one warm-up; prints the
 * median tokens/s of each, the load time and the process's peak RSS.
 *
 * This runs the engine without the jail; `cloister bench` measures the
 * jailed engine the way users run it.
 *
 * usage: engine_bench MODEL [-p 128] [-n 64] [-t 2] [-r 5] [--kernels ref|auto]
 */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/engine.h"

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	struct engine_load_opts lo = { 2, ENGINE_KERNELS_AUTO, NULL, NULL, 0 };
	struct cl_err err = CL_ERR_INIT;
	struct engine_model *m = NULL;
	struct engine_ctx *c = NULL;
	const struct engine_model_info *in;
	struct rusage ru;
	double t0, load_s, pp[64], tg[64];
	int32_t *toks, t;
	float *lg;
	int ch, fd, p = 128, g = 64, reps = 5, i, k;

	while ((ch = getopt(argc, argv, "p:n:t:r:k:")) != -1) {
		switch (ch) {
		case 'p': p = atoi(optarg); break;
		case 'n': g = atoi(optarg); break;
		case 't': lo.n_threads = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		case 'k':
			lo.kernels = strcmp(optarg, "ref") == 0 ?
			    ENGINE_KERNELS_REF : ENGINE_KERNELS_AUTO;
			break;
		default:
			fprintf(stderr, "usage: engine_bench MODEL [-p N] "
			    "[-n N] [-t N] [-r N] [-k ref|auto]\n");
			return 2;
		}
	}
	if (optind != argc - 1 || p < 1 || g < 1 || reps < 1 || reps > 64) {
		fprintf(stderr, "engine_bench: bad arguments\n");
		return 2;
	}
	if ((fd = open(argv[optind], O_RDONLY)) < 0) {
		perror(argv[optind]);
		return 1;
	}
	t0 = cl_now();
	if (engine_model_load(fd, &lo, &m, &err) != CL_OK) {
		fprintf(stderr, "engine_bench: %s\n", err.msg);
		return 1;
	}
	close(fd);
	load_s = cl_now() - t0;
	in = engine_model_get_info(m);
	if (engine_ctx_new(m, (uint32_t)(p + g + 8), &c, &err) != CL_OK) {
		fprintf(stderr, "engine_bench: %s\n", err.msg);
		return 1;
	}
	toks = calloc((size_t)p, sizeof(*toks));
	lg = calloc(in->n_vocab, sizeof(float));
	srand(1);
	for (i = 0; i < p; i++)
		toks[i] = 1 + rand() % (int)(in->n_vocab - 1);
	for (k = -1; k < reps; k++) {		/* k = -1: warm-up */
		double a, b;

		engine_ctx_reset(c);
		a = cl_now();
		if (engine_ctx_eval(c, toks, (size_t)p, lg, false, &err) !=
		    CL_OK)
			goto fail;
		b = cl_now();
		if (k >= 0)
			pp[k] = p / (b - a);
		engine_ctx_reset(c);
		t = 1;
		a = cl_now();
		for (i = 0; i < g; i++) {
			if (engine_ctx_eval(c, &t, 1, lg, false, &err) != CL_OK)
				goto fail;
			t = 1 + (t * 7919) % (int32_t)(in->n_vocab - 1);
		}
		b = cl_now();
		if (k >= 0)
			tg[k] = g / (b - a);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("model: %s %s, %.2f GB, %s, kernels %s, %d threads\n",
	    in->arch, in->name, in->file_size / 1e9, in->types, in->kernels,
	    in->n_threads);
	printf("load_s %.3f  pp%d %.2f tok/s  tg%d %.2f tok/s  "
	    "peak_rss %.2f GiB\n", load_s, p, median(pp, reps), g,
	    median(tg, reps), ru.ru_maxrss / 1048576.0);
	engine_ctx_free(c);
	engine_model_free(m);
	free(toks);
	free(lg);
	return 0;
fail:
	fprintf(stderr, "engine_bench: %s\n", err.msg);
	return 1;
}
