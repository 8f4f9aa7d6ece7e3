/*
 * cmd_bench.c - `cloister bench`: prefill and decode speed of the jailed
 * engine, in the manner of llama-bench (median over repetitions after a
 * warm-up), with the load time and the engine's peak RSS.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_engine.h"
#include "cli/session.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: cloister bench [--json] [-n n] [-p n] [-r n] "
	    "[-t n] [--kernels auto|ref]\n"
	    "                      [--model path] "
	    "[--sandbox full|degraded[=layers]|off]\n");
}

enum { OPT_JSON = CLI_OPT_FIRST_FREE };

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorted in place); n >= 1. */
static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool
parse_count(const char *s, unsigned long lo, unsigned long hi,
    uint32_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

int
cmd_bench(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_ENGINE_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "n-prompt", required_argument, NULL, 'p' },
		{ "n-gen", required_argument, NULL, 'n' },
		{ "repetitions", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_engine_args a;
	struct engine_client *c = NULL;
	const struct engine_client_info *in;
	struct proto_msg res;
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct cl_json_writer w;
	double *pp = NULL, *tg = NULL, pp_med = 0, tg_med = 0;
	uint32_t n_prompt = 128, n_gen = 64, n_reps = 5, i;
	bool json = false;
	char *model = NULL;
	int ch, r, rc = CLI_EXIT_FAIL;

	memset(&res, 0, sizeof(res));
	cli_engine_args_init(&a, "bench");
	a.n_threads = 2;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:hn:p:r:t:", longopts,
	    NULL)) != -1) {
		if (ch != 'n' && (r = cli_engine_option(&a, ch, optarg)) != 0) {
			if (r < 0) {
				usage(stderr);
				return CLI_EXIT_USAGE;
			}
			continue;
		}
		switch (ch) {
		case 'p':
		case 'n':
			if (!parse_count(optarg, 0, PROTO_MAX_BENCH_TOKENS,
			    ch == 'p' ? &n_prompt : &n_gen)) {
				fprintf(stderr, "cloister bench: bad token "
				    "count '%s'\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'r':
			if (!parse_count(optarg, 1, PROTO_MAX_BENCH_REPS,
			    &n_reps)) {
				fprintf(stderr, "cloister bench: bad "
				    "repetition count '%s'\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || n_prompt + n_gen == 0) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if ((model = cli_model_path(&a)) == NULL)
		return CLI_EXIT_FAIL;
	if (a.n_ctx == 0)
		a.n_ctx = (n_prompt > n_gen ? n_prompt : n_gen) + 1;
	if ((rc = cli_engine_spawn(&a, model, json, &c)) != CLI_EXIT_OK ||
	    (rc = cli_engine_wait(&a, c, json)) != CLI_EXIT_OK)
		goto out;
	in = engine_client_get_info(c);
	if ((r = engine_client_bench(c, n_prompt, n_gen, n_reps, &res,
	    &err)) != CL_OK) {
		fprintf(stderr, "cloister bench: %s\n", err.msg);
		rc = cli_exit_status(r);
		goto out;
	}
	if ((pp = cl_calloc(n_reps, sizeof(*pp))) == NULL ||
	    (tg = cl_calloc(n_reps, sizeof(*tg))) == NULL) {
		fprintf(stderr, "cloister bench: out of memory\n");
		goto out;
	}
	for (i = 0; i < n_reps; i++) {
		const struct proto_bench_rep *rp = &res.u.bench_result.reps[i];

		pp[i] = rp->prompt_us > 0 ? n_prompt * 1e6 /
		    (double)rp->prompt_us : 0;
		tg[i] = rp->gen_us > 0 ? n_gen * 1e6 / (double)rp->gen_us : 0;
	}
	pp_med = median(pp, n_reps);
	tg_med = median(tg, n_reps);
	if (json) {
		cl_json_init(&w, &b);
		cl_json_obj_begin(&w);
		cl_json_key(&w, "model");
		cl_json_str(&w, model);
		cl_json_key(&w, "sandbox");
		cl_json_str(&w, sandbox_mode_name(a.sandbox));
		cl_json_key(&w, "verdict");
		cl_json_str(&w, sandbox_verdict_name(in->verdict));
		cl_json_key(&w, "threads");
		cl_json_int(&w, a.n_threads);
		cl_json_key(&w, "n_prompt");
		cl_json_uint(&w, n_prompt);
		cl_json_key(&w, "n_gen");
		cl_json_uint(&w, n_gen);
		cl_json_key(&w, "repetitions");
		cl_json_uint(&w, n_reps);
		cl_json_key(&w, "prefill_tps");
		cl_json_double(&w, pp_med);
		cl_json_key(&w, "decode_tps");
		cl_json_double(&w, tg_med);
		cl_json_key(&w, "load_s");
		cl_json_double(&w, in->load_s);
		cl_json_key(&w, "peak_rss_bytes");
		cl_json_uint(&w, res.u.bench_result.peak_rss);
		cl_json_obj_end(&w);
		if (w.err != CL_OK) {
			fprintf(stderr, "cloister bench: cannot write JSON\n");
			goto out;
		}
		printf("%s\n", b.data);
	} else {
		printf("model      %s\n", model);
		printf("jail       %s (%s), %d threads\n",
		    sandbox_mode_name(a.sandbox),
		    sandbox_verdict_name(in->verdict), a.n_threads);
		printf("load       %.3f s\n", in->load_s);
		printf("prefill    %u tokens: %10.2f tok/s (median of %u)\n",
		    n_prompt, pp_med, n_reps);
		printf("decode     %u tokens: %10.2f tok/s (median of %u)\n",
		    n_gen, tg_med, n_reps);
		printf("peak RSS   %.1f MiB (engine)\n",
		    (double)res.u.bench_result.peak_rss / (1024.0 * 1024.0));
	}
	rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	proto_msg_release(&res);
	engine_client_free(c);
	cl_buf_release(&b);
	cl_free(pp);
	cl_free(tg);
	cl_free(model);
	return rc;
}
