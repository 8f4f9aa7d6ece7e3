/*
 * sampler.c - choosing the next token: greedy, or the chain repetition
 * penalty -> top-k -> top-p -> min-p -> temperature -> draw, with a seeded
 * generator (xoshiro256**, seeded through splitmix64) so a seed reproduces
 * a run exactly.
 *
 * Semantics (lfm2-spec.md section 8):
 *  - repetition penalty r (HF/llama.cpp): for each distinct token among the
 *    last repeat_last_n of the history, logit /= r if logit > 0 else *= r;
 *  - top-k keeps the k highest logits; top-p keeps the smallest set of the
 *    highest-probability tokens whose probabilities sum to >= p (at least
 *    one); min-p drops tokens whose probability is below min_p * p_max;
 *  - temperature divides the surviving logits before the softmax draw.
 * Probabilities for top-p and min-p are computed at temperature 1, as in
 * llama.cpp's default chain.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

struct cand {
	float	logit;
	int32_t	id;
};

struct engine_sampler {
	struct engine_sampling	 p;
	uint32_t		 n_vocab;
	uint64_t		 rng[4];	/* xoshiro256** state */
	struct cand		*cands;		/* n_vocab scratch */
	uint8_t			*seen;		/* n_vocab: penalised already */
};

void
engine_sampling_defaults(struct engine_sampling *s)
{
	s->temperature = 0.3f;
	s->top_k = 0;
	s->top_p = 1.0f;
	s->min_p = 0.15f;
	s->repeat_penalty = 1.05f;
	s->repeat_last_n = 64;
	s->seed = 0;
}

int
engine_sampling_check(const struct engine_sampling *s, struct cl_err *err)
{
	if (!isfinite(s->temperature) || s->temperature < 0 ||
	    s->temperature > 10)
		return cl_errf(err, CL_EINVAL,
		    "temperature must be between 0 and 10");
	if (s->top_k < 0)
		return cl_errf(err, CL_EINVAL, "top-k must not be negative");
	if (!isfinite(s->top_p) || s->top_p <= 0 || s->top_p > 1)
		return cl_errf(err, CL_EINVAL,
		    "top-p must be greater than 0 and at most 1");
	if (!isfinite(s->min_p) || s->min_p < 0 || s->min_p >= 1)
		return cl_errf(err, CL_EINVAL,
		    "min-p must be at least 0 and below 1");
	if (!isfinite(s->repeat_penalty) || s->repeat_penalty <= 0 ||
	    s->repeat_penalty > 10)
		return cl_errf(err, CL_EINVAL,
		    "repeat penalty must be greater than 0 and at most 10");
	if (s->repeat_last_n < 0)
		return cl_errf(err, CL_EINVAL,
		    "repeat-last-n must not be negative");
	return CL_OK;
}

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
next_u64(uint64_t s[4])
{
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform double in [0, 1). */
static double
next_unit(uint64_t s[4])
{
	return (double)(next_u64(s) >> 11) * 0x1.0p-53;
}

int
engine_sampler_new(const struct engine_sampling *p, uint32_t n_vocab,
    struct engine_sampler **out, struct cl_err *err)
{
	struct engine_sampler *s;
	uint64_t x;
	int r, i;

	*out = NULL;
	if ((r = engine_sampling_check(p, err)) != CL_OK)
		return r;
	if (n_vocab == 0)
		return cl_errf(err, CL_EINVAL, "empty vocabulary");
	if ((s = cl_calloc(1, sizeof(*s))) == NULL ||
	    (s->cands = cl_calloc(n_vocab, sizeof(*s->cands))) == NULL ||
	    (s->seen = cl_calloc(n_vocab, 1)) == NULL) {
		engine_sampler_free(s);
		return cl_errf(err, CL_ENOMEM, "out of memory");
	}
	s->p = *p;
	s->n_vocab = n_vocab;
	x = p->seed;
	for (i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	*out = s;
	return CL_OK;
}

void
engine_sampler_free(struct engine_sampler *s)
{
	if (s == NULL)
		return;
	cl_free(s->cands);
	cl_free(s->seen);
	cl_free(s);
}

static int32_t
argmax(const float *logits, uint32_t n)
{
	uint32_t i, best = 0;

	for (i = 1; i < n; i++) {
		if (logits[i] > logits[best])
			best = i;
	}
	return (int32_t)best;
}

static int
cand_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->logit > y->logit)
		return -1;
	if (x->logit < y->logit)
		return 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* cand_desc for cl_sort (qsort would call sysinfo inside the jail). */
static int
cand_desc_r(const void *a, const void *b, void *arg)
{
	return cand_desc(a, b);
}

static void
apply_penalty(struct engine_sampler *s, float *logits,
    const int32_t *history, size_t n_history)
{
	size_t i, from;
	int32_t id;

	if (s->p.repeat_penalty == 1.0f || s->p.repeat_last_n == 0 ||
	    history == NULL)
		return;
	from = n_history > (size_t)s->p.repeat_last_n ?
	    n_history - (size_t)s->p.repeat_last_n : 0;
	for (i = from; i < n_history; i++) {
		id = history[i];
		if (id < 0 || (uint32_t)id >= s->n_vocab || s->seen[id])
			continue;
		s->seen[id] = 1;
		if (logits[id] > 0)
			logits[id] /= s->p.repeat_penalty;
		else
			logits[id] *= s->p.repeat_penalty;
	}
	for (i = from; i < n_history; i++) {
		id = history[i];
		if (id >= 0 && (uint32_t)id < s->n_vocab)
			s->seen[id] = 0;
	}
}

/* Sift-down for a min-heap of candidates ordered by cand_desc. */
static void
heap_down(struct cand *h, size_t n, size_t i)
{
	struct cand tmp;
	size_t l, m;

	for (;;) {
		l = 2 * i + 1;
		if (l >= n)
			return;
		m = l;
		if (l + 1 < n && cand_desc(&h[l + 1], &h[l]) > 0)
			m = l + 1;
		if (cand_desc(&h[m], &h[i]) <= 0)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

/*
 * Gather the candidates that can survive top-k and min-p into s->cands,
 * sorted best first, without sorting the whole vocabulary: top-k keeps a
 * heap of the k best; min-p's cut (logit >= max + ln(min_p)) does not
 * depend on the order, so it is applied before sorting.  Both filters
 * keep a prefix of the sorted order, so filtering first is exact.
 */
static size_t
gather(struct engine_sampler *s, const float *logits, float *maxl)
{
	struct cand *c = s->cands;
	size_t n = 0, i, k = (size_t)s->p.top_k;
	float mx = logits[0], cut = -INFINITY;

	for (i = 1; i < s->n_vocab; i++) {
		if (logits[i] > mx)
			mx = logits[i];
	}
	*maxl = mx;
	if (s->p.min_p > 0)
		cut = mx + logf(s->p.min_p);
	if (k > 0 && k < s->n_vocab) {
		for (i = 0; i < s->n_vocab; i++) {
			struct cand x = { logits[i], (int32_t)i };

			if (n < k) {
				c[n++] = x;
				if (n == k) {
					size_t j = k / 2;

					while (j-- > 0)
						heap_down(c, k, j);
				}
			} else if (cand_desc(&x, &c[0]) < 0) {
				c[0] = x;
				heap_down(c, k, 0);
			}
		}
	} else {
		for (i = 0; i < s->n_vocab; i++) {
			if (logits[i] >= cut) {
				c[n].logit = logits[i];
				c[n].id = (int32_t)i;
				n++;
			}
		}
	}
	cl_sort(c, n, sizeof(*c), cand_desc_r, NULL);
	return n;
}

int32_t
engine_sampler_sample(struct engine_sampler *s, float *logits,
    const int32_t *history, size_t n_history)
{
	struct cand *c = s->cands;
	size_t n, i, keep;
	double sum, acc, u, lmin;
	float t = s->p.temperature, mx;

	apply_penalty(s, logits, history, n_history);
	if (t <= 0)
		return argmax(logits, s->n_vocab);

	n = gather(s, logits, &mx);
	/* Probabilities at temperature 1 for top-p: over the top-k set. */
	if (s->p.top_p < 1.0f) {
		sum = 0;
		if (s->p.top_k > 0 && (uint32_t)s->p.top_k < s->n_vocab) {
			for (i = 0; i < n; i++)
				sum += exp((double)c[i].logit - (double)mx);
		} else {
			for (i = 0; i < s->n_vocab; i++)
				sum += exp((double)logits[i] - (double)mx);
		}
		acc = 0;
		for (keep = 0; keep < n; keep++) {
			acc += exp((double)c[keep].logit - (double)mx) / sum;
			if (acc >= s->p.top_p) {
				keep++;
				break;
			}
		}
		n = keep < n ? keep : n;
	}
	if (s->p.min_p > 0) {
		/* p_i >= min_p * p_max  <=>  logit_i - logit_max >= ln(min_p) */
		lmin = log((double)s->p.min_p);
		for (keep = 1; keep < n; keep++) {
			if ((double)c[keep].logit - (double)c[0].logit < lmin)
				break;
		}
		n = keep < n ? keep : n;
	}
	if (n == 0)
		return argmax(logits, s->n_vocab);

	/* Temperature, softmax, draw. */
	sum = 0;
	for (i = 0; i < n; i++)
		sum += exp(((double)c[i].logit - (double)c[0].logit) / t);
	u = next_unit(s->rng) * sum;
	acc = 0;
	for (i = 0; i < n; i++) {
		acc += exp(((double)c[i].logit - (double)c[0].logit) / t);
		if (u < acc)
			return c[i].id;
	}
	return c[n - 1].id;
}
