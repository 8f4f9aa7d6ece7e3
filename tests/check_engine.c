/*
 * check_engine.c - conformance of the LFM2-MoE forward pass, tokenizer and
 * sampler against the independent reference vectors (tests/data, copied
 * from shared/refvectors: logits from a float64 NumPy implementation
 * written from the specification, `exact`, and from llama.cpp).
 *
 * How positions are compared (tests/data/REFVECTORS.md, "How to compare"):
 *  - F32: every position, top-1 equal and max |dlogit| <= 1e-3 * max|ref|.
 *  - Quantized weights with the reference kernels (weights dequantized,
 *    activations in float): against `exact`, at positions whose routing
 *    margin is not fragile (>= 1e-3).  A fragile position is skipped; if
 *    our logits there do differ (the routing did flip), the flip feeds the
 *    later positions through the caches, so comparison stops at it.  At
 *    least half of all positions must be compared, so the rule cannot
 *    quietly skip everything.
 *  - Fast kernels (--kernels auto) round activations to Q8_0 / Q8_K
 *    before integer dot products, exactly as ggml's CPU backend does.  On
 *    these random models that rounding flips MoE routing choices that the
 *    float reference makes (measured: fast and ref top-1 differ at 2-15
 *    positions per sequence, where ref's top1-top2 gap is up to 1.8).  So,
 *    as REFVECTORS.md advises for such engines, the fast path is compared
 *    with llama.cpp: its top-1 must equal llama.cpp's at >= 97% of each
 *    type's positions (measured: 100%, and 83 of 84 for Q4_K_M, where
 *    llama.cpp itself sums repacked Q4_K in another order).  With F32
 *    weights the fast path keeps activations in float and is held to the
 *    exact reference like ref.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/gguf.h"
#include "util/util.h"

#define FRAGILE_MARGIN	1e-3
#define SMALL_GAP	1e-2
#define TOL		1e-3

static const char *
srcdir(void)
{
	const char *s = getenv("CL_TOP_SRCDIR");

	return s != NULL ? s : ".";
}

static const char *
builddir(void)
{
	const char *s = getenv("CL_TOP_BUILDDIR");

	return s != NULL ? s : ".";
}

/* Path of a reference model: the F32 one is unpacked into the build tree. */
static void
model_path(char *buf, size_t len, const char *type)
{
	snprintf(buf, len, "%s/tests/data/synth-tiny-s1-%s.gguf",
	    strcmp(type, "f32") == 0 ? builddir() : srcdir(), type);
}

static struct cl_json *
load_json(const char *type)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_json *j = NULL;
	char path[4096], *text;
	size_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/tests/data/synth-tiny-s1-%s.json",
	    srcdir(), type);
	fd = open(path, O_RDONLY);
	ck_assert_msg(fd >= 0, "cannot open %s", path);
	ck_assert_int_eq(cl_read_all(fd, 64u << 20, &text, &len, &err), CL_OK);
	close(fd);
	ck_assert_msg(cl_json_parse(text, len, &j, &err) == CL_OK, "%s: %s",
	    path, err.msg);
	cl_free(text);
	return j;
}

static struct engine_model *
load_model(const char *type, enum engine_kernels k, int threads)
{
	struct engine_load_opts lo = { threads, k, NULL, NULL, 0 };
	struct cl_err err = CL_ERR_INIT;
	struct engine_model *m = NULL;
	char path[4096];
	int fd;

	model_path(path, sizeof(path), type);
	fd = open(path, O_RDONLY);
	ck_assert_msg(fd >= 0, "cannot open %s", path);
	ck_assert_msg(engine_model_load(fd, &lo, &m, &err) == CL_OK, "%s: %s",
	    path, err.msg);
	close(fd);
	return m;
}

static int32_t *
json_ids(const struct cl_json *a, size_t *n)
{
	int32_t *ids;
	size_t i;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->type, CL_JSON_ARR);
	ids = cl_calloc(a->n ? a->n : 1, sizeof(*ids));
	ck_assert_ptr_nonnull(ids);
	for (i = 0; i < a->n; i++)
		ids[i] = (int32_t)a->items[i].num;
	*n = a->n;
	return ids;
}

static float *
eval_all(struct engine_model *m, const int32_t *ids, size_t n)
{
	struct cl_err err = CL_ERR_INIT;
	struct engine_ctx *c = NULL;
	uint32_t V = engine_model_get_info(m)->n_vocab;
	float *lg = cl_calloc(n * V, sizeof(float));

	ck_assert_ptr_nonnull(lg);
	ck_assert_int_eq(engine_ctx_new(m, 256, &c, &err), CL_OK);
	ck_assert_msg(engine_ctx_eval(c, ids, n, lg, true, &err) == CL_OK,
	    "%s", err.msg);
	engine_ctx_free(c);
	return lg;
}

static size_t
argmax(const float *x, size_t n)
{
	size_t i, b = 0;

	for (i = 1; i < n; i++) {
		if (x[i] > x[b])
			b = i;
	}
	return b;
}

/* max |a - ref| over a row, and max |ref| */
static double
row_diff(const float *a, const struct cl_json *ref, size_t V, double *scale)
{
	double md = 0, ms = 0, r;
	size_t i;

	ck_assert_uint_eq(ref->n, V);
	for (i = 0; i < V; i++) {
		r = ref->items[i].num;
		if (fabs(r) > ms)
			ms = fabs(r);
		if (fabs(a[i] - r) > md)
			md = fabs(a[i] - r);
	}
	*scale = ms;
	return md;
}

/* ------------------------------------------------------------------ */

START_TEST(test_f32_exact)
{
	struct engine_model *m = load_model("f32", ENGINE_KERNELS_REF, 2);
	struct cl_json *j = load_json("f32");
	const struct cl_json *seqs = cl_json_get(j, "sequences");
	uint32_t V = engine_model_get_info(m)->n_vocab;
	size_t s, p, n;

	ck_assert_ptr_nonnull(seqs);
	ck_assert_uint_eq(seqs->n, 3);
	for (s = 0; s < seqs->n; s++) {
		const struct cl_json *seq = &seqs->items[s];
		const struct cl_json *ex = cl_json_get(seq, "exact");
		const struct cl_json *lg = cl_json_get(ex, "logits");
		const struct cl_json *am = cl_json_get(ex, "argmax");
		int32_t *ids = json_ids(cl_json_get(seq, "tokens"), &n);
		float *out = eval_all(m, ids, n);
		double worst = 0, scale, dd;

		ck_assert_uint_eq(lg->n, n);
		for (p = 0; p < n; p++) {
			dd = row_diff(out + p * V, &lg->items[p], V, &scale);
			ck_assert_msg(dd <= TOL * scale,
			    "%s pos %zu: max |dlogit| %g > %g",
			    cl_json_get(seq, "name")->str, p, dd, TOL * scale);
			ck_assert_int_eq(argmax(out + p * V, V),
			    (size_t)am->items[p].num);
			if (dd > worst)
				worst = dd;
		}
		fprintf(stderr, "f32 %s: %zu positions, max |dlogit| %.3g\n",
		    cl_json_get(seq, "name")->str, n, worst);
		cl_free(ids);
		cl_free(out);
	}
	cl_json_free(j);
	engine_model_free(m);
}
END_TEST

/* Greedy continuation of 16 tokens, one decode step at a time. */
START_TEST(test_f32_greedy)
{
	struct engine_model *m = load_model("f32", ENGINE_KERNELS_REF, 2);
	struct cl_json *j = load_json("f32");
	const struct cl_json *seqs = cl_json_get(j, "sequences");
	struct cl_err err = CL_ERR_INIT;
	uint32_t V = engine_model_get_info(m)->n_vocab;
	size_t s, i, n, n_ref;

	for (s = 0; s < seqs->n; s++) {
		const struct cl_json *seq = &seqs->items[s];
		int32_t *ids = json_ids(cl_json_get(seq, "tokens"), &n);
		int32_t *ref = json_ids(cl_json_get(cl_json_get(seq, "exact"),
		    "greedy"), &n_ref);
		struct engine_ctx *c = NULL;
		float *lg = cl_calloc(V, sizeof(float));
		int32_t t;

		ck_assert_int_eq(engine_ctx_new(m, 128, &c, &err), CL_OK);
		ck_assert_int_eq(engine_ctx_eval(c, ids, n, lg, false, &err),
		    CL_OK);
		for (i = 0; i < n_ref; i++) {
			t = (int32_t)argmax(lg, V);
			ck_assert_msg(t == ref[i], "%s: greedy token %zu is %d, "
			    "reference %d", cl_json_get(seq, "name")->str, i, t,
			    ref[i]);
			ck_assert_int_eq(engine_ctx_eval(c, &t, 1, lg, false,
			    &err), CL_OK);
		}
		engine_ctx_free(c);
		cl_free(lg);
		cl_free(ids);
		cl_free(ref);
	}
	cl_json_free(j);
	engine_model_free(m);
}
END_TEST

/*
 * Compare a quantized model run with `kernels` against `exact`; returns
 * the number of positions compared and checks coverage.
 */
static void
check_quant(const char *type)
{
	struct engine_model *m = load_model(type, ENGINE_KERNELS_REF, 2);
	struct engine_model *fast = load_model(type, ENGINE_KERNELS_AUTO, 2);
	bool fast_is_ref = strcmp(engine_model_get_info(fast)->kernels,
	    "ref") == 0;
	struct cl_json *j = load_json(type);
	const struct cl_json *seqs = cl_json_get(j, "sequences");
	uint32_t V = engine_model_get_info(m)->n_vocab;
	size_t s, p, n, compared = 0, total = 0, fast_agree = 0;

	for (s = 0; s < seqs->n; s++) {
		const struct cl_json *seq = &seqs->items[s];
		const struct cl_json *ex = cl_json_get(seq, "exact");
		const struct cl_json *lg = cl_json_get(ex, "logits");
		const struct cl_json *mg = cl_json_get(ex, "routing_margin_min");
		const struct cl_json *gap = cl_json_get(ex, "top1_top2_gap");
		const struct cl_json *am = cl_json_get(ex, "argmax");
		const struct cl_json *lam = cl_json_get(cl_json_get(seq,
		    "llamacpp"), "argmax");
		int32_t *ids = json_ids(cl_json_get(seq, "tokens"), &n);
		float *out = eval_all(m, ids, n);
		float *fo = eval_all(fast, ids, n);
		double scale, dd, worst = 0;
		size_t here = 0, agree_here = 0;
		bool flipped = false;

		for (p = 0; p < n; p++) {
			total++;
			/* Fast path: top-1 against llama.cpp's. */
			if (argmax(fo + p * V, V) == (size_t)lam->items[p].num) {
				fast_agree++;
				agree_here++;
			}
			if (flipped)
				continue;
			dd = row_diff(out + p * V, &lg->items[p], V, &scale);
			if (mg->items[p].num < FRAGILE_MARGIN) {
				if (dd > TOL * scale)
					flipped = true;	/* routing flipped */
				continue;
			}
			ck_assert_msg(dd <= TOL * scale,
			    "%s %s pos %zu: max |dlogit| %g > %g", type,
			    cl_json_get(seq, "name")->str, p, dd, TOL * scale);
			if (gap->items[p].num >= SMALL_GAP)
				ck_assert_int_eq(argmax(out + p * V, V),
				    (size_t)am->items[p].num);
			if (dd > worst)
				worst = dd;
			compared++;
			here++;
		}
		fprintf(stderr, "%s %s: ref compared at %zu of %zu positions, "
		    "max |dlogit| %.3g; fast (%s) top-1 = llama.cpp's at %zu\n",
		    type, cl_json_get(seq, "name")->str, here, n, worst,
		    engine_model_get_info(fast)->kernels, agree_here);
		cl_free(ids);
		cl_free(out);
		cl_free(fo);
	}
	ck_assert_msg(compared * 2 >= total, "%s: only %zu of %zu positions "
	    "could be compared", type, compared, total);
	if (!fast_is_ref)
		ck_assert_msg(fast_agree * 100 >= total * 97,
		    "%s: fast kernels' top-1 equals llama.cpp's at only %zu of "
		    "%zu positions", type, fast_agree, total);
	cl_json_free(j);
	engine_model_free(fast);
	engine_model_free(m);
}

/* F32 weights: the fast path keeps activations in float; exact applies. */
START_TEST(test_f32_fast)
{
	struct engine_model *m = load_model("f32", ENGINE_KERNELS_AUTO, 2);
	struct cl_json *j = load_json("f32");
	const struct cl_json *seqs = cl_json_get(j, "sequences");
	uint32_t V = engine_model_get_info(m)->n_vocab;
	size_t s, p, n;

	for (s = 0; s < seqs->n; s++) {
		const struct cl_json *seq = &seqs->items[s];
		const struct cl_json *ex = cl_json_get(seq, "exact");
		int32_t *ids = json_ids(cl_json_get(seq, "tokens"), &n);
		float *out = eval_all(m, ids, n);
		double scale, dd;

		for (p = 0; p < n; p++) {
			dd = row_diff(out + p * V,
			    &cl_json_get(ex, "logits")->items[p], V, &scale);
			ck_assert_msg(dd <= TOL * scale, "fast f32 %s pos %zu: "
			    "max |dlogit| %g", cl_json_get(seq, "name")->str, p,
			    dd);
			ck_assert_int_eq(argmax(out + p * V, V), (size_t)
			    cl_json_get(ex, "argmax")->items[p].num);
		}
		cl_free(ids);
		cl_free(out);
	}
	cl_json_free(j);
	engine_model_free(m);
}
END_TEST

START_TEST(test_q8_0)
{
	check_quant("q8_0");
}
END_TEST

START_TEST(test_q4_0)
{
	check_quant("q4_0");
}
END_TEST

START_TEST(test_q4_k_m)
{
	check_quant("q4_k_m");
}
END_TEST

START_TEST(test_q5_k_m)
{
	check_quant("q5_k_m");
}
END_TEST

START_TEST(test_q6_k)
{
	check_quant("q6_k");
}
END_TEST

/*
 * Token-at-a-time evaluation must give the batch's logits (KV cache and
 * conv state carried correctly), and the thread count must not change
 * any result bit (work is split by output rows).
 */
START_TEST(test_batch_vs_seq_and_threads)
{
	struct engine_model *m1 = load_model("f32", ENGINE_KERNELS_REF, 1);
	struct engine_model *m3 = load_model("f32", ENGINE_KERNELS_REF, 3);
	struct cl_json *j = load_json("f32");
	const struct cl_json *seq = cl_json_at(cl_json_get(j, "sequences"), 2);
	struct cl_err err = CL_ERR_INIT;
	struct engine_ctx *c = NULL;
	uint32_t V = engine_model_get_info(m1)->n_vocab;
	size_t n, p, i;
	int32_t *ids = json_ids(cl_json_get(seq, "tokens"), &n);
	float *batch = eval_all(m1, ids, n), *b3 = eval_all(m3, ids, n);
	float *one = cl_calloc(V, sizeof(float));

	ck_assert_int_eq(memcmp(batch, b3, n * V * sizeof(float)), 0);
	ck_assert_int_eq(engine_ctx_new(m1, 64, &c, &err), CL_OK);
	for (p = 0; p < n; p++) {
		ck_assert_int_eq(engine_ctx_eval(c, ids + p, 1, one, false,
		    &err), CL_OK);
		for (i = 0; i < V; i++)
			ck_assert_msg(fabsf(one[i] - batch[p * V + i]) < 1e-4f,
			    "pos %zu id %zu: %g vs %g", p, i, one[i],
			    batch[p * V + i]);
	}
	ck_assert_uint_eq(engine_ctx_pos(c), n);
	/* Reset starts a new sequence: same first logits again. */
	engine_ctx_reset(c);
	ck_assert_int_eq(engine_ctx_eval(c, ids, 1, one, false, &err), CL_OK);
	for (i = 0; i < V; i++)
		ck_assert(fabsf(one[i] - batch[i]) < 1e-4f);
	engine_ctx_free(c);
	cl_free(one);
	cl_free(batch);
	cl_free(b3);
	cl_free(ids);
	cl_json_free(j);
	engine_model_free(m3);
	engine_model_free(m1);
}
END_TEST

/*
 * Loading reports progress from 0 to 1, never backwards, with a step for
 * every layer but the last while weights are relaid (most of a large
 * model's load), with the fast kernels and with the reference alike.
 */
struct prog {
	int	n;
	double	first, last;
	bool	monotonic;
};

static void
on_prog(void *arg, double f)
{
	struct prog *p = arg;

	if (p->n == 0)
		p->first = f;
	else if (f < p->last)
		p->monotonic = false;
	p->last = f;
	p->n++;
}

START_TEST(test_load_progress)
{
	static const enum engine_kernels ks[] = { ENGINE_KERNELS_AUTO,
	    ENGINE_KERNELS_REF };
	struct cl_err err = CL_ERR_INIT;
	struct engine_model *m;
	char path[4096];
	size_t i;
	int fd;

	model_path(path, sizeof(path), "q4_0");
	for (i = 0; i < 2; i++) {
		struct prog p = { 0, -1, -1, true };
		struct engine_load_opts lo = { 1, ks[i], on_prog, &p, 0 };

		fd = open(path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(engine_model_load(fd, &lo, &m, &err), CL_OK);
		close(fd);
		ck_assert(p.monotonic);
		ck_assert(p.first == 0.0);
		ck_assert(p.last == 1.0);
		/* 0, bound, tokenizer ready, one per layer but the last, 1 */
		ck_assert_int_eq(p.n,
		    3 + (int)engine_model_get_info(m)->n_layer);
		engine_model_free(m);
	}
}
END_TEST

START_TEST(test_ctx_errors)
{
	struct engine_model *m = load_model("q4_0", ENGINE_KERNELS_REF, 1);
	struct cl_err err = CL_ERR_INIT;
	struct engine_ctx *c = NULL;
	int32_t ids[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, bad[2] = { 1, 1024 };
	float lg[1024];

	ck_assert_int_eq(engine_ctx_new(m, 6, &c, &err), CL_OK);
	ck_assert_int_eq(engine_ctx_eval(c, ids, 8, lg, false, &err),
	    CL_ELIMIT);
	ck_assert(strstr(err.msg, "context full") != NULL);
	ck_assert_uint_eq(engine_ctx_pos(c), 0);
	ck_assert_int_eq(engine_ctx_eval(c, bad, 2, lg, false, &err),
	    CL_EINVAL);
	ck_assert(strstr(err.msg, "1024") != NULL);
	ck_assert_uint_eq(engine_ctx_pos(c), 0);
	ck_assert_int_eq(engine_ctx_eval(c, ids, 6, lg, false, &err), CL_OK);
	ck_assert_int_eq(engine_ctx_eval(c, ids, 1, lg, false, &err),
	    CL_ELIMIT);
	ck_assert_uint_eq(engine_ctx_pos(c), 6);
	engine_ctx_free(c);
	engine_model_free(m);
}
END_TEST

START_TEST(test_tokenize)
{
	struct engine_model *m = load_model("q4_0", ENGINE_KERNELS_REF, 1);
	struct cl_json *j = load_json("q4_0");
	const struct cl_json *seqs = cl_json_get(j, "sequences");
	struct cl_err err = CL_ERR_INIT;
	struct engine_chat_msg msg = { "user",
	    "What is the capital of France?", 30 };
	int32_t *ids = NULL, *ref;
	size_t n, n_ref, i, s;

	for (s = 0; s < seqs->n; s++) {
		const struct cl_json *seq = &seqs->items[s];
		const struct cl_json *text = cl_json_get(seq, "text");

		if (text == NULL || text->type != CL_JSON_STR)
			continue;
		ref = json_ids(cl_json_get(seq, "tokens"), &n_ref);
		if (strcmp(cl_json_get(seq, "name")->str, "chat") == 0) {
			/* Made with parse-special: the template's tokens. */
			ck_assert_int_eq(engine_tokenize_special(m, text->str,
			    text->str_len, false, &ids, &n, &err), CL_OK);
			ck_assert_uint_eq(n, n_ref);
			for (i = 0; i < n; i++)
				ck_assert_int_eq(ids[i], ref[i]);
			cl_free(ids);
			ck_assert_int_eq(engine_chat_tokenize(m, &msg, 1, true,
			    &ids, &n, &err), CL_OK);
		} else {
			ck_assert_int_eq(engine_tokenize(m, text->str,
			    text->str_len, true, &ids, &n, &err), CL_OK);
		}
		ck_assert_uint_eq(n, n_ref);
		for (i = 0; i < n; i++)
			ck_assert_int_eq(ids[i], ref[i]);
		cl_free(ids);
		cl_free(ref);
	}
	cl_json_free(j);
	engine_model_free(m);
}
END_TEST

/* Sampler: greedy at temperature 0, seeds reproduce, filters hold. */
START_TEST(test_sampler)
{
	struct engine_sampling sp;
	struct engine_sampler *s = NULL;
	struct cl_err err = CL_ERR_INIT;
	float lg[8], base[8] = { 1, 5, 2, 4.9f, -1, 0, 3, 4.5f };
	int32_t hist[2] = { 1, 1 }, a[64], b[64];
	int i, k, counts[8] = { 0 };

	engine_sampling_defaults(&sp);
	ck_assert(fabsf(sp.temperature - 0.3f) < 1e-6f);
	ck_assert(fabsf(sp.min_p - 0.15f) < 1e-6f);
	ck_assert(fabsf(sp.repeat_penalty - 1.05f) < 1e-6f);

	sp.temperature = 0;
	sp.repeat_penalty = 1;
	ck_assert_int_eq(engine_sampler_new(&sp, 8, &s, &err), CL_OK);
	memcpy(lg, base, sizeof(lg));
	ck_assert_int_eq(engine_sampler_sample(s, lg, NULL, 0), 1);
	engine_sampler_free(s);

	/* Penalty 2 on token 1: 5 -> 2.5, so 3 (4.9) wins greedily. */
	sp.repeat_penalty = 2;
	ck_assert_int_eq(engine_sampler_new(&sp, 8, &s, &err), CL_OK);
	memcpy(lg, base, sizeof(lg));
	ck_assert_int_eq(engine_sampler_sample(s, lg, hist, 2), 3);
	ck_assert(fabsf(lg[1] - 2.5f) < 1e-6f);	/* penalised once */
	engine_sampler_free(s);

	/* Same seed, same draws; top-k 2 only ever yields 1 or 3. */
	sp.temperature = 1;
	sp.repeat_penalty = 1;
	sp.top_k = 2;
	sp.min_p = 0;
	sp.seed = 42;
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(engine_sampler_new(&sp, 8, &s, &err), CL_OK);
		for (i = 0; i < 64; i++) {
			memcpy(lg, base, sizeof(lg));
			(k ? b : a)[i] = engine_sampler_sample(s, lg, NULL, 0);
		}
		engine_sampler_free(s);
	}
	for (i = 0; i < 64; i++) {
		ck_assert_int_eq(a[i], b[i]);
		ck_assert(a[i] == 1 || a[i] == 3);
		counts[a[i]]++;
	}
	/* exp(5)/(exp(5)+exp(4.9)) = 0.525: both appear in 64 draws. */
	ck_assert_int_gt(counts[1], 10);
	ck_assert_int_gt(counts[3], 10);

	/* min-p 0.5: p_i >= 0.5 p_max keeps logits >= 5 + ln 0.5 = 4.307. */
	sp.top_k = 0;
	sp.min_p = 0.5f;
	ck_assert_int_eq(engine_sampler_new(&sp, 8, &s, &err), CL_OK);
	for (i = 0; i < 200; i++) {
		int32_t t;

		memcpy(lg, base, sizeof(lg));
		t = engine_sampler_sample(s, lg, NULL, 0);
		ck_assert(t == 1 || t == 3 || t == 7);
	}
	engine_sampler_free(s);

	/* top-p 0.5: p(1) = 148.4/404.3 = 0.37 < 0.5 and p(1) + p(3) =
	 * 0.70 >= 0.5, so only tokens 1 and 3 survive. */
	sp.min_p = 0;
	sp.top_p = 0.5f;
	ck_assert_int_eq(engine_sampler_new(&sp, 8, &s, &err), CL_OK);
	for (i = 0; i < 200; i++) {
		int32_t t;

		memcpy(lg, base, sizeof(lg));
		t = engine_sampler_sample(s, lg, NULL, 0);
		ck_assert(t == 1 || t == 3);
	}
	engine_sampler_free(s);

	sp.temperature = -1;
	ck_assert_int_eq(engine_sampler_new(&sp, 8, &s, &err), CL_EINVAL);
	ck_assert_ptr_null(s);
	sp.temperature = NAN;
	ck_assert_int_eq(engine_sampling_check(&sp, &err), CL_EINVAL);
}
END_TEST


/* ------------------------------------------------------------------ */
/* Hostile models: valid GGUF containers whose contents are wrong.    */

static char *
read_model(const char *type, size_t *len)
{
	struct cl_err err = CL_ERR_INIT;
	char path[4096], *buf;
	int fd;

	model_path(path, sizeof(path), type);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(cl_read_all(fd, 64u << 20, &buf, len, &err), CL_OK);
	close(fd);
	return buf;
}

/* Offset just past the first occurrence of `needle` (a key or name). */
static size_t
find_after(const char *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++) {
		if (memcmp(buf + i, needle, n) == 0)
			return i + n;
	}
	ck_abort_msg("'%s' not in the model", needle);
	return 0;
}

static void
put_u32(char *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* little-endian host, as GGUF */
}

/* Load a mutated image through a memfd; expect failure mentioning `want`. */
static void
expect_load_error(const char *buf, size_t len, int code, const char *want)
{
	struct cl_err err = CL_ERR_INIT;
	struct engine_model *m = NULL;
	char path[] = "/tmp/cl-hostile-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(cl_write_all(fd, buf, len, &err), CL_OK);
	ck_assert_int_eq(engine_model_load(fd, NULL, &m, &err), code);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(err.msg, want) != NULL,
	    "error '%s' does not mention '%s'", err.msg, want);
	close(fd);
}

START_TEST(test_hostile_models)
{
	size_t len, off;
	char *orig = read_model("q4_0", &len), *b = cl_malloc(len);
	int32_t one = 1;

	ck_assert_ptr_nonnull(b);
#define FRESH() memcpy(b, orig, len)
	/* An architecture cloister does not run. */
	FRESH();
	off = find_after(b, len, "general.architecture");
	off = find_after(b, len, "lfm2moe") - 7;
	memcpy(b + off, "lfm3moe", 7);
	expect_load_error(b, len, CL_EUNSUPPORTED, "lfm3moe");

	/* More layers than the file has tensors for. */
	FRESH();
	off = find_after(b, len, "lfm2moe.block_count");
	put_u32(b + off + 4, 7);
	expect_load_error(b, len, CL_EFORMAT, "head_count_kv");

	/* Fewer layers: the per-layer array no longer matches. */
	FRESH();
	off = find_after(b, len, "lfm2moe.block_count");
	put_u32(b + off + 4, 0);
	expect_load_error(b, len, CL_EFORMAT, "block_count");

	/* A head count that does not divide the embedding. */
	FRESH();
	off = find_after(b, len, "lfm2moe.attention.head_count");
	put_u32(b + off + 4, 3);
	expect_load_error(b, len, CL_EFORMAT, "head_count");

	/* Layer 0 claims attention: its attention tensors are missing. */
	FRESH();
	off = find_after(b, len, "lfm2moe.attention.head_count_kv");
	/* u32 ARRAY tag, u32 element type, u64 count, then INT32s. */
	memcpy(b + off + 16, &one, 4);
	expect_load_error(b, len, CL_EFORMAT, "blk.0.attn_q.weight");

	/* More experts used than exist. */
	FRESH();
	off = find_after(b, len, "lfm2moe.expert_used_count");
	put_u32(b + off + 4, 9);
	expect_load_error(b, len, CL_EFORMAT, "expert_used_count");

	/* No experts at all. */
	FRESH();
	off = find_after(b, len, "lfm2moe.expert_count");
	put_u32(b + off + 4, 0);
	expect_load_error(b, len, CL_EFORMAT, "expert_count");

	/* A tokenizer that is not byte-level BPE. */
	FRESH();
	off = find_after(b, len, "tokenizer.ggml.model");
	memcpy(b + find_after(b + off, len - off, "gpt2") + off - 4, "gptX",
	    4);
	expect_load_error(b, len, CL_EUNSUPPORTED, "gptX");

	/* A required tensor renamed away. */
	FRESH();
	off = find_after(b, len, "blk.3.ffn_up_exps.weight");
	b[off - 1] = 'X';
	expect_load_error(b, len, CL_EFORMAT, "blk.3.ffn_up_exps.weight");

	/* A norm weight that is not finite. */
	FRESH();
	{
		struct cl_err err = CL_ERR_INIT;
		const struct gguf_tensor *t;
		struct gguf *g = NULL;
		float nan_v = NAN;

		ck_assert_int_eq(gguf_open_mem(b, len, &g, &err), CL_OK);
		t = gguf_find_tensor(g, "blk.0.attn_norm.weight");
		ck_assert_ptr_nonnull(t);
		off = (size_t)((const char *)t->data -
		    (const char *)gguf_base(g));
		gguf_close(g);
		memcpy(b + off + 8, &nan_v, 4);
		expect_load_error(b, len, CL_EFORMAT, "not finite");
	}
	cl_free(b);
	cl_free(orig);
#undef FRESH
}
END_TEST

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc;

	tc = tcase_create("conformance");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_f32_exact);
	tcase_add_test(tc, test_f32_greedy);
	tcase_add_test(tc, test_f32_fast);
	tcase_add_test(tc, test_q8_0);
	tcase_add_test(tc, test_q4_0);
	tcase_add_test(tc, test_q4_k_m);
	tcase_add_test(tc, test_q5_k_m);
	tcase_add_test(tc, test_q6_k);
	tcase_add_test(tc, test_batch_vs_seq_and_threads);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile_model");
	tcase_add_test(tc, test_hostile_models);
	suite_add_tcase(s, tc);
	tc = tcase_create("context");
	tcase_add_test(tc, test_ctx_errors);
	tcase_add_test(tc, test_load_progress);
	suite_add_tcase(s, tc);
	tc = tcase_create("tokenizer");
	tcase_add_test(tc, test_tokenize);
	suite_add_tcase(s, tc);
	tc = tcase_create("sampler");
	tcase_add_test(tc, test_sampler);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
