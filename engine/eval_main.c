/*
 * eval_main.c - cloister-eval: run the engine directly on a model file and
 * print logits, greedy continuations or tokenizations as JSON lines.
 *
 * A stable tool for conformance tests, benchmarks and people checking a
 * model; it runs the engine in-process, without the jail (it is not how
 * users run models: that is `cloister ask`).  Output, one JSON object per
 * line:
 *
 *   --tokens 1,2,3      {"pos":P,"top":[[id,logit],...]} per position,
 *                       the K highest logits, highest first (ties: lower
 *                       id first)
 *   --generate N        then {"generated":[ids]}: greedy, at most N
 *                       tokens; an end-of-generation token ends it and is
 *                       included as the last id
 *   --text "..."        {"tokens":[ids]}: the text tokenized as the engine
 *                       tokenizes user text (never parsing special tokens),
 *                       BOS first when the model adds one
 *
 * Errors: one line on stderr, exit status 1 (bad file) or 2 (bad usage).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"

#define MAX_TOKENS	(1u << 20)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: cloister-eval model.gguf --tokens ID,ID,... [--top K] "
	    "[--generate N]\n"
	    "                     [--threads N] [--kernels ref|auto]\n"
	    "       cloister-eval model.gguf --text TEXT [--parse-special]\n");
}

static int
fail_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "cloister-eval: %s%s%s%s\n", msg,
	    arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	return 2;
}

/* Parse "1,2,3" into ids; every id must be a non-negative integer. */
static int
parse_ids(const char *s, int32_t **out, size_t *n_out)
{
	int32_t *ids = NULL;
	size_t n = 0, cap = 0;
	const char *p = s;
	char *end;
	long v;

	*out = NULL;
	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			goto bad;
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno != 0 || v > INT32_MAX || end == p)
			goto bad;
		if (n == cap) {
			int32_t *nids;

			cap = cap ? cap * 2 : 64;
			if (cap > MAX_TOKENS ||
			    (nids = cl_realloc(ids, cap * sizeof(*ids))) ==
			    NULL)
				goto bad;
			ids = nids;
		}
		ids[n++] = (int32_t)v;
		p = end;
		if (*p == ',') {
			p++;
			if (*p == '\0')
				goto bad;
		} else if (*p != '\0')
			goto bad;
	}
	*out = ids;
	*n_out = n;
	return 0;
bad:
	cl_free(ids);
	return -1;
}

static void
print_top(size_t pos, const float *logits, uint32_t n_vocab, size_t k)
{
	size_t *idx, i, j, n = 0;

	if (k > n_vocab)
		k = n_vocab;
	if ((idx = cl_calloc(k ? k : 1, sizeof(*idx))) == NULL) {
		fprintf(stderr, "cloister-eval: out of memory\n");
		exit(1);
	}
	/* Keep the k best in a sorted list (k is small next to V). */
	for (i = 0; i < n_vocab; i++) {
		if (n == k && !(logits[i] > logits[idx[k - 1]]))
			continue;
		j = n < k ? n++ : k - 1;
		while (j > 0 && logits[i] > logits[idx[j - 1]]) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	printf("{\"pos\":%zu,\"top\":[", pos);
	for (i = 0; i < n; i++)
		printf("%s[%zu,%.9g]", i ? "," : "", idx[i],
		    (double)logits[idx[i]]);
	printf("]}\n");
	cl_free(idx);
}

static size_t
argmax(const float *x, uint32_t n)
{
	size_t i, b = 0;

	for (i = 1; i < n; i++) {
		if (x[i] > x[b])
			b = i;
	}
	return b;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tokens", required_argument, NULL, 'T' },
		{ "text", required_argument, NULL, 'x' },
		{ "top", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 't' },
		{ "generate", required_argument, NULL, 'g' },
		{ "kernels", required_argument, NULL, 'K' },
		{ "parse-special", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct engine_load_opts lo = { 0, ENGINE_KERNELS_AUTO, NULL, NULL, 0 };
	struct cl_err err = CL_ERR_INIT;
	struct engine_model *m = NULL;
	struct engine_ctx *c = NULL;
	const struct engine_model_info *info;
	const char *tokens_arg = NULL, *text = NULL, *path;
	int32_t *ids = NULL, *gen = NULL;
	float *logits = NULL;
	size_t n_ids = 0, top = 20, i, n_gen = 0, n_ctx;
	long n_generate = 0, v;
	bool parse_special = false;
	char *end;
	int ch, fd, rc = 1;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'T':
			tokens_arg = optarg;
			break;
		case 'x':
			text = optarg;
			break;
		case 'k':
		case 't':
		case 'g':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    v < 0 || v > (1L << 20))
				return fail_usage("bad number", optarg);
			if (ch == 'k')
				top = (size_t)v;
			else if (ch == 't') {
				if (v < 1 || v > 256)
					return fail_usage(
					    "threads must be 1..256", optarg);
				lo.n_threads = (int)v;
			} else
				n_generate = v;
			break;
		case 'K':
			if (strcmp(optarg, "ref") == 0)
				lo.kernels = ENGINE_KERNELS_REF;
			else if (strcmp(optarg, "auto") == 0)
				lo.kernels = ENGINE_KERNELS_AUTO;
			else
				return fail_usage(
				    "--kernels takes 'ref' or 'auto', not",
				    optarg);
			break;
		case 'S':
			parse_special = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	path = argv[optind];
	if ((tokens_arg == NULL) == (text == NULL))
		return fail_usage("give exactly one of --tokens and --text",
		    NULL);
	if (tokens_arg != NULL && parse_ids(tokens_arg, &ids, &n_ids) != 0)
		return fail_usage("--tokens takes comma-separated token ids, "
		    "not", tokens_arg);

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "cloister-eval: cannot open '%s': %s\n", path,
		    strerror(errno));
		goto out;
	}
	if (engine_model_load(fd, &lo, &m, &err) != CL_OK) {
		close(fd);
		fprintf(stderr, "cloister-eval: %s: %s\n", path, err.msg);
		goto out;
	}
	close(fd);
	info = engine_model_get_info(m);

	if (text != NULL) {
		if ((parse_special ? engine_tokenize_special(m, text,
		    strlen(text), true, &ids, &n_ids, &err) :
		    engine_tokenize(m, text, strlen(text), true, &ids, &n_ids,
		    &err)) != CL_OK) {
			fprintf(stderr, "cloister-eval: %s\n", err.msg);
			goto out;
		}
		printf("{\"tokens\":[");
		for (i = 0; i < n_ids; i++)
			printf("%s%d", i ? "," : "", ids[i]);
		printf("]}\n");
		rc = 0;
		goto out;
	}

	n_ctx = n_ids + (size_t)n_generate;
	if (n_ctx > info->n_ctx_default && n_ctx > info->n_ctx_train) {
		fprintf(stderr, "cloister-eval: %zu tokens exceed the model's "
		    "context of %u\n", n_ctx, info->n_ctx_train);
		goto out;
	}
	if (engine_ctx_new(m, (uint32_t)(n_ctx < 16 ? 16 : n_ctx), &c,
	    &err) != CL_OK) {
		fprintf(stderr, "cloister-eval: %s\n", err.msg);
		goto out;
	}
	if ((logits = cl_calloc(n_ids * (size_t)info->n_vocab,
	    sizeof(float))) == NULL ||
	    (gen = cl_calloc((size_t)n_generate + 1, sizeof(*gen))) == NULL) {
		fprintf(stderr, "cloister-eval: out of memory\n");
		goto out;
	}
	if (engine_ctx_eval(c, ids, n_ids, logits, true, &err) != CL_OK) {
		fprintf(stderr, "cloister-eval: %s\n", err.msg);
		goto out;
	}
	for (i = 0; i < n_ids; i++)
		print_top(i, logits + i * info->n_vocab, info->n_vocab, top);
	if (n_generate > 0) {
		float *last = logits + (n_ids - 1) * info->n_vocab;

		while (n_gen < (size_t)n_generate) {
			int32_t t = (int32_t)argmax(last, info->n_vocab);

			gen[n_gen++] = t;
			if (engine_token_is_eog(m, t) ||
			    n_gen == (size_t)n_generate)
				break;
			if (engine_ctx_eval(c, &t, 1, last, false, &err) !=
			    CL_OK) {
				fprintf(stderr, "cloister-eval: %s\n", err.msg);
				goto out;
			}
		}
		printf("{\"generated\":[");
		for (i = 0; i < n_gen; i++)
			printf("%s%d", i ? "," : "", gen[i]);
		printf("]}\n");
	}
	rc = 0;
out:
	if (fflush(stdout) != 0)
		rc = 1;
	cl_free(ids);
	cl_free(gen);
	cl_free(logits);
	engine_ctx_free(c);
	engine_model_free(m);
	return rc;
}
