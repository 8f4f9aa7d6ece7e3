/*
 * mkmodel_main.c - cloister-mkmodel: write synthetic LFM2 / LFM2-MoE GGUF
 * models for tests and benchmarks (no model weights can be downloaded, so
 * the project makes its own).
 *
 * Divisions:
 *   1. presets and shapes   - tiny, 350m, 1.2b, 8b-a1b, scripted
 *   2. tensor types          - per-type recipes (Q4_K_M as llama.cpp mixes it)
 *   3. random weights        - seeded, deterministic whatever the thread count
 *   4. the scripted model    - weights that make greedy decoding emit a text
 *   5. writing the file      - metadata, vocabulary, tensors streamed out
 *
 * Weights follow the reference vectors' recipe (tests/data/REFVECTORS.md):
 * matrices N(0, 1/fan_in), token_embd N(0, (2/sqrt(d))^2), norms
 * 1 + 0.1 N(0,1), router N(0, 1/d), expert bias N(0, 0.1^2), conv kernel
 * N(0, 1/3).  A model is a pure function of (preset, type, seed, text).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ggml_types.h"
#include "engine/gguf.h"
#include "engine/gguf_write.h"
#include "engine/quant.h"
#include "engine/tokenizer.h"
#include "engine/vocab_synth.h"
#include "util/util.h"

#define MAX_LAYERS	64
#define MAX_TENSORS	(16 * MAX_LAYERS + 8)
#define ID_IM_END	7

/* ------------------------------------------------------------------ */
/* 1. presets and shapes                                               */

struct shape {
	const char	*preset;
	bool		 moe;
	uint32_t	 n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab;
	uint32_t	 n_ctx, l_cache;
	uint32_t	 n_expert, n_expert_used, n_ff_exp, n_dense_lead;
	int		 attn[MAX_LAYERS];	/* attention layer indices */
	int		 n_attn;
};

static const struct shape presets[] = {
	/* Test-sized MoE: the reference vectors' structure, a few MB. */
	{ "tiny", true, 6, 256, 4, 1, 512, 512, 4096, 3, 8, 2, 64, 2,
	    { 2, 4 }, 2 },
	/* Dense LFM2-350M shapes. */
	{ "350m", false, 16, 1024, 16, 8, 4608, 65536, 128000, 3, 0, 0, 0, 0,
	    { 2, 5, 8, 10, 12, 14 }, 6 },
	/* Dense LFM2-1.2B shapes (lfm2-spec.md section 6). */
	{ "1.2b", false, 16, 2048, 32, 8, 8192, 65536, 128000, 3, 0, 0, 0, 0,
	    { 2, 5, 8, 10, 12, 14 }, 6 },
	/* LFM2-8B-A1B: 24 layers, 32 experts top-4, 2 dense leading layers. */
	{ "8b-a1b", true, 24, 2048, 32, 8, 7168, 65536, 128000, 3, 32, 4,
	    1792, 2, { 2, 6, 10, 14, 18, 21 }, 6 },
};

/* ------------------------------------------------------------------ */
/* 2. tensor types                                                     */

enum init_kind {
	INIT_NORMAL,		/* N(0, std^2) */
	INIT_NORM,		/* 1 + 0.1 N(0, 1) */
	INIT_ONES,
	INIT_ZERO,
	INIT_SCRIPT_EMBD,	/* scripted: one-hot chain embeddings */
	INIT_SCRIPT_OUT		/* scripted: successor map */
};

struct tensor_plan {
	char		 name[96];
	uint32_t	 type;
	uint32_t	 n_dims;
	uint64_t	 ne[4];
	enum init_kind	 init;
	float		 std;
	uint64_t	 index;		/* for the RNG stream */
};

struct type_name {
	const char	*name;
	uint32_t	 base;		/* type of ordinary matrices */
	int		 mix;		/* 0 plain, 4 Q4_K_M, 5 Q5_K_M */
};

static const struct type_name type_names[] = {
	{ "f32", GGML_TYPE_F32, 0 }, { "f16", GGML_TYPE_F16, 0 },
	{ "bf16", GGML_TYPE_BF16, 0 }, { "q8_0", GGML_TYPE_Q8_0, 0 },
	{ "q4_0", GGML_TYPE_Q4_0, 0 }, { "q4_1", GGML_TYPE_Q4_1, 0 },
	{ "q5_0", GGML_TYPE_Q5_0, 0 }, { "q5_1", GGML_TYPE_Q5_1, 0 },
	{ "q4_k", GGML_TYPE_Q4_K, 0 }, { "q5_k", GGML_TYPE_Q5_K, 0 },
	{ "q6_k", GGML_TYPE_Q6_K, 0 },
	{ "q4_k_m", GGML_TYPE_Q4_K, 4 }, { "q5_k_m", GGML_TYPE_Q5_K, 5 },
};

/* llama.cpp's use_more_bits(i, n) (lfm2-spec.md section 2.7). */
static bool
use_more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/*
 * K-quant rows must be multiples of 256; like llama.cpp, fall back to a
 * 32-block type otherwise, and to F16 when even 32 does not divide.
 */
static uint32_t
fit_type(uint32_t type, uint64_t ne0)
{
	const struct ggml_type_info *ti = ggml_type_info(type);

	if (ne0 % ti->blck_elems == 0)
		return type;
	switch (type) {
	case GGML_TYPE_Q4_K:
		type = GGML_TYPE_Q5_0;
		break;
	case GGML_TYPE_Q5_K:
		type = GGML_TYPE_Q5_1;
		break;
	case GGML_TYPE_Q6_K:
		type = GGML_TYPE_Q8_0;
		break;
	default:
		return GGML_TYPE_F16;
	}
	return ne0 % 32 == 0 ? type : GGML_TYPE_F16;
}

/* ------------------------------------------------------------------ */
/* 3. random weights                                                   */

struct rng {
	uint64_t	s[4];
};

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream, uint64_t chunk)
{
	uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL) ^
	    (chunk * 0x9e3779b97f4a7c15ULL);
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix(&x);
}

static uint64_t
rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = s[0] + s[3], t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return res;
}

/*
 * Approximately N(0, 1): the sum of four 16-bit uniforms, centred and
 * scaled to unit variance (Irwin-Hall).  One generator step per value, so
 * gigabytes of weights take seconds, not minutes.
 */
static float
rng_normal(struct rng *r)
{
	uint64_t v = rng_next(r);
	double s = (double)(v & 0xffff) + (double)((v >> 16) & 0xffff) +
	    (double)((v >> 32) & 0xffff) + (double)(v >> 48);

	/* Each term has mean 32767.5 and variance (65536^2 - 1) / 12. */
	return (float)((s - 4 * 32767.5) / (2 * 18918.6));
}

/* ------------------------------------------------------------------ */
/* 4. the scripted model                                               */

/* The successor map of a scripted model. */
struct script {
	uint32_t	 n_chain;	/* tokens in the chain, start included */
	int32_t		*chain;		/* chain[0] = start token */
};

/* ------------------------------------------------------------------ */
/* 5. writing the file                                                 */

struct mk {
	struct shape		 sh;
	uint32_t		 base_type;
	int			 mix;
	uint64_t		 seed;
	int			 n_threads;
	struct vocab_synth	*vocab;
	struct script		 script;	/* scripted model only */
	bool			 scripted;
	struct tensor_plan	 plan[MAX_TENSORS];
	size_t			 n_plan;
};

static bool
is_attn(const struct shape *sh, uint32_t il)
{
	int i;

	for (i = 0; i < sh->n_attn; i++) {
		if ((uint32_t)sh->attn[i] == il)
			return true;
	}
	return false;
}

static int
attn_ordinal(const struct shape *sh, uint32_t il)
{
	int i;

	for (i = 0; i < sh->n_attn; i++) {
		if ((uint32_t)sh->attn[i] == il)
			return i;
	}
	return -1;
}

static void
add_plan(struct mk *mk, const char *name, uint32_t type, uint32_t n_dims,
    uint64_t e0, uint64_t e1, uint64_t e2, enum init_kind init, float std)
{
	struct tensor_plan *p;

	if (mk->n_plan >= MAX_TENSORS)
		CL_BUG("too many tensors");
	p = &mk->plan[mk->n_plan];
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->n_dims = n_dims;
	p->ne[0] = e0;
	p->ne[1] = n_dims > 1 ? e1 : 1;
	p->ne[2] = n_dims > 2 ? e2 : 1;
	p->ne[3] = 1;
	p->type = type == GGML_TYPE_F32 ? type : fit_type(type, e0);
	p->init = init;
	p->std = std;
	p->index = mk->n_plan;
	mk->n_plan++;
}

/* The tensor list, in llama.cpp's order, with each tensor's type. */
static void
make_plan(struct mk *mk)
{
	const struct shape *sh = &mk->sh;
	uint64_t d = sh->n_embd, V = sh->n_vocab, dh = d / sh->n_head;
	uint64_t kv, e = sh->n_expert, f = sh->n_ff_exp;
	uint32_t il, t = mk->base_type, embd_t, down_t, v_t;
	char n[96];
	bool z = mk->scripted;

	/* token_embd: Q6_K in K-quant mixes (tied output, llama.cpp). */
	embd_t = mk->mix ? GGML_TYPE_Q6_K : t;
	if (z) {
		add_plan(mk, "token_embd.weight", embd_t, 2, d, V, 0,
		    INIT_SCRIPT_EMBD, 0);
		add_plan(mk, "output.weight", embd_t, 2, d, V, 0,
		    INIT_SCRIPT_OUT, 0);
		add_plan(mk, "token_embd_norm.weight", GGML_TYPE_F32, 1, d, 0,
		    0, INIT_ONES, 0);
	} else {
		add_plan(mk, "token_embd.weight", embd_t, 2, d, V, 0,
		    INIT_NORMAL, 2.0f / sqrtf((float)d));
		add_plan(mk, "token_embd_norm.weight", GGML_TYPE_F32, 1, d, 0,
		    0, INIT_NORM, 0);
	}
	for (il = 0; il < sh->n_layer; il++) {
#define N(s) (snprintf(n, sizeof(n), "blk.%u." s, il), n)
		bool moe = sh->moe && il >= sh->n_dense_lead;
		float sd = 1.0f / sqrtf((float)d);

		down_t = t;
		if (mk->mix && use_more_bits((int)il, (int)sh->n_layer))
			down_t = GGML_TYPE_Q6_K;
		add_plan(mk, N("attn_norm.weight"), GGML_TYPE_F32, 1, d, 0, 0,
		    INIT_NORM, 0);
		if (is_attn(sh, il)) {
			kv = (uint64_t)sh->n_head_kv * dh;
			v_t = t;
			if (mk->mix && use_more_bits(attn_ordinal(sh, il),
			    sh->n_attn))
				v_t = GGML_TYPE_Q6_K;
			add_plan(mk, N("attn_q.weight"), t, 2, d, d, 0,
			    INIT_NORMAL, sd);
			add_plan(mk, N("attn_k.weight"), t, 2, d, kv, 0,
			    INIT_NORMAL, sd);
			add_plan(mk, N("attn_v.weight"), v_t, 2, d, kv, 0,
			    INIT_NORMAL, sd);
			add_plan(mk, N("attn_q_norm.weight"), GGML_TYPE_F32, 1,
			    dh, 0, 0, INIT_NORM, 0);
			add_plan(mk, N("attn_k_norm.weight"), GGML_TYPE_F32, 1,
			    dh, 0, 0, INIT_NORM, 0);
			add_plan(mk, N("attn_output.weight"), t, 2, d, d, 0,
			    z ? INIT_ZERO : INIT_NORMAL, sd);
		} else {
			add_plan(mk, N("shortconv.in_proj.weight"), t, 2, d,
			    3 * d, 0, INIT_NORMAL, sd);
			add_plan(mk, N("shortconv.conv.weight"), GGML_TYPE_F32,
			    2, sh->l_cache, d, 0, INIT_NORMAL,
			    1.0f / sqrtf(3.0f));
			add_plan(mk, N("shortconv.out_proj.weight"), t, 2, d, d,
			    0, z ? INIT_ZERO : INIT_NORMAL, sd);
		}
		add_plan(mk, N("ffn_norm.weight"), GGML_TYPE_F32, 1, d, 0, 0,
		    INIT_NORM, 0);
		if (!moe) {
			add_plan(mk, N("ffn_gate.weight"), t, 2, d, sh->n_ff,
			    0, INIT_NORMAL, sd);
			add_plan(mk, N("ffn_up.weight"), t, 2, d, sh->n_ff, 0,
			    INIT_NORMAL, sd);
			add_plan(mk, N("ffn_down.weight"), down_t, 2, sh->n_ff,
			    d, 0, z ? INIT_ZERO : INIT_NORMAL,
			    1.0f / sqrtf((float)sh->n_ff));
		} else {
			add_plan(mk, N("ffn_gate_inp.weight"), GGML_TYPE_F32,
			    2, d, e, 0, INIT_NORMAL, sd);
			add_plan(mk, N("exp_probs_b.bias"), GGML_TYPE_F32, 1,
			    e, 0, 0, INIT_NORMAL, 0.1f);
			add_plan(mk, N("ffn_gate_exps.weight"), t, 3, d, f, e,
			    INIT_NORMAL, sd);
			add_plan(mk, N("ffn_up_exps.weight"), t, 3, d, f, e,
			    INIT_NORMAL, sd);
			add_plan(mk, N("ffn_down_exps.weight"), down_t, 3, f,
			    d, e, z ? INIT_ZERO : INIT_NORMAL,
			    1.0f / sqrtf((float)f));
		}
#undef N
	}
}

/* Fill row `row` (ne0 floats) of tensor `p`. */
static void
fill_row(const struct mk *mk, const struct tensor_plan *p, uint64_t row,
    float *x, struct rng *r)
{
	uint64_t n = p->ne[0], i;
	uint32_t k;

	switch (p->init) {
	case INIT_NORMAL:
		for (i = 0; i < n; i++)
			x[i] = p->std * rng_normal(r);
		break;
	case INIT_NORM:
		for (i = 0; i < n; i++)
			x[i] = 1.0f + 0.1f * rng_normal(r);
		break;
	case INIT_ONES:
		for (i = 0; i < n; i++)
			x[i] = 1.0f;
		break;
	case INIT_ZERO:
		memset(x, 0, n * sizeof(float));
		break;
	case INIT_SCRIPT_EMBD:
		/*
		 * Chain token k is sqrt(d) times basis vector k, so its
		 * RMS-normalised embedding is that same vector and chain
		 * embeddings are exactly orthogonal.  Other tokens get small
		 * random embeddings.
		 */
		for (k = 0; k < mk->script.n_chain; k++) {
			if ((uint64_t)mk->script.chain[k] == row)
				break;
		}
		if (k < mk->script.n_chain) {
			memset(x, 0, n * sizeof(float));
			x[k] = sqrtf((float)n);
		} else {
			for (i = 0; i < n; i++)
				x[i] = 0.125f * rng_normal(r);
		}
		break;
	case INIT_SCRIPT_OUT:
		/*
		 * Row v is the normalised embedding of v's predecessor in
		 * the chain: logit(next(t)) = d for a chain token t, every
		 * other logit is 0, so greedy decoding follows the chain.
		 */
		memset(x, 0, n * sizeof(float));
		for (k = 0; k < mk->script.n_chain; k++) {
			int32_t succ = k + 1 < mk->script.n_chain ?
			    mk->script.chain[k + 1] : ID_IM_END;

			if ((uint64_t)succ == row) {
				x[k] = sqrtf((float)n);
				break;
			}
		}
		break;
	}
}

struct gen_job {
	const struct mk		*mk;
	const struct tensor_plan *p;
	uint8_t			*out;		/* whole tensor */
	size_t			 row_bytes;
	uint64_t		 rows;
	int			 ok;
};

#define ROWS_PER_CHUNK	64

static void *
gen_worker(void *v)
{
	struct gen_job *j = ((struct gen_job **)v)[0];
	int ith = (int)(intptr_t)((void **)v)[1];
	int nth = j->mk->n_threads;
	uint64_t n_chunks = (j->rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
	uint64_t ch, row, end;
	struct rng r;
	float *x;

	if ((x = cl_malloc(j->p->ne[0] * sizeof(float))) == NULL) {
		j->ok = 0;
		return NULL;
	}
	/* Chunks, not threads, own RNG streams: output is thread-count
	 * independent. */
	for (ch = (uint64_t)ith; ch < n_chunks; ch += (uint64_t)nth) {
		rng_seed(&r, j->mk->seed, j->p->index, ch);
		end = (ch + 1) * ROWS_PER_CHUNK;
		if (end > j->rows)
			end = j->rows;
		for (row = ch * ROWS_PER_CHUNK; row < end; row++) {
			fill_row(j->mk, j->p, row, x, &r);
			quant_quantize_row(j->p->type, x,
			    j->out + row * j->row_bytes, (size_t)j->p->ne[0]);
		}
	}
	cl_free(x);
	return NULL;
}

static int
gen_tensor(const struct mk *mk, const struct tensor_plan *p, uint8_t *out,
    size_t row_bytes)
{
	struct gen_job j = { mk, p, out, row_bytes, p->ne[1] * p->ne[2], 1 };
	void *args[64][2];
	pthread_t th[64];
	int i, n = mk->n_threads;

	for (i = 0; i < n; i++) {
		args[i][0] = &j;
		args[i][1] = (void *)(intptr_t)i;
	}
	for (i = 1; i < n; i++) {
		if (pthread_create(&th[i], NULL, gen_worker, args[i]) != 0)
			return CL_EIO;
	}
	gen_worker(args[0]);
	for (i = 1; i < n; i++)
		pthread_join(th[i], NULL);
	return j.ok ? CL_OK : CL_ENOMEM;
}

/* -------------------------- the scripted model ---------------------- */

/* The text a byte has inside token strings (GPT-2 byte-to-unicode). */
static size_t
byte_map(uint8_t b, char out[4])
{
	return cl_utf8_encode(tokenizer_byte_to_cp(b), out);
}

static char *
map_bytes(const char *s, size_t n, size_t *len_out)
{
	struct cl_buf b = CL_BUF_INIT;
	char tmp[4];
	size_t i;

	for (i = 0; i < n; i++) {
		if (cl_buf_append(&b, tmp, byte_map((uint8_t)s[i], tmp)) !=
		    CL_OK) {
			cl_buf_release(&b);
			return NULL;
		}
	}
	if (b.data == NULL && cl_buf_append(&b, "", 0) != CL_OK)
		return NULL;
	return cl_buf_steal(&b, len_out);
}

/*
 * The vocabulary as written to the file: token strings (byte-mapped),
 * types, merges.  Owned arrays; built from vocab_synth and, for scripted
 * models, extended with the text's chunk tokens.
 */
struct mk_vocab {
	size_t	  n_tokens, cap;
	char	**tokens;
	size_t	 *token_lens;
	int32_t	 *types;
	size_t	  n_merges;
	char	**merges;
	size_t	 *merge_lens;
};

static void
mk_vocab_free(struct mk_vocab *v)
{
	size_t i;

	for (i = 0; i < v->n_tokens; i++)
		cl_free(v->tokens[i]);
	for (i = 0; i < v->n_merges; i++)
		cl_free(v->merges[i]);
	cl_free(v->tokens);
	cl_free(v->token_lens);
	cl_free(v->types);
	cl_free(v->merges);
	cl_free(v->merge_lens);
	memset(v, 0, sizeof(*v));
}

static int
mk_vocab_push(struct mk_vocab *v, const char *s, size_t len, int32_t type)
{
	if (v->n_tokens == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		char **t;
		size_t *l;
		int32_t *ty;

		if ((t = cl_realloc(v->tokens, cap * sizeof(*t))) == NULL)
			return CL_ENOMEM;
		v->tokens = t;
		if ((l = cl_realloc(v->token_lens, cap * sizeof(*l))) == NULL)
			return CL_ENOMEM;
		v->token_lens = l;
		if ((ty = cl_realloc(v->types, cap * sizeof(*ty))) == NULL)
			return CL_ENOMEM;
		v->types = ty;
		v->cap = cap;
	}
	if ((v->tokens[v->n_tokens] = cl_strndup(s, len)) == NULL)
		return CL_ENOMEM;
	v->token_lens[v->n_tokens] = len;
	v->types[v->n_tokens] = type;
	v->n_tokens++;
	return CL_OK;
}

static int
find_token(const struct mk_vocab *v, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < v->n_tokens; i++) {
		if (v->token_lens[i] == len && memcmp(v->tokens[i], s, len) == 0)
			return (int)i;
	}
	return -1;
}

static int
build_vocab(struct mk *mk, struct mk_vocab *v, const char *corpus,
    size_t corpus_len, uint32_t n_vocab, struct cl_err *err)
{
	struct vocab_synth *vs = NULL;
	size_t i;
	int r;

	memset(v, 0, sizeof(*v));
	if ((r = vocab_synth_build(n_vocab, corpus, corpus_len, &vs, err)) !=
	    CL_OK)
		return r;
	for (i = 0; i < vs->n_tokens; i++) {
		if ((r = mk_vocab_push(v, vs->tokens[i], vs->token_lens[i],
		    vs->token_types[i])) != CL_OK)
			goto nomem;
	}
	if ((v->merges = cl_calloc(vs->n_merges ? vs->n_merges : 1,
	    sizeof(char *))) == NULL ||
	    (v->merge_lens = cl_calloc(vs->n_merges ? vs->n_merges : 1,
	    sizeof(size_t))) == NULL)
		goto nomem;
	for (i = 0; i < vs->n_merges; i++) {
		if ((v->merges[i] = cl_strndup(vs->merges[i],
		    vs->merge_lens[i])) == NULL)
			goto nomem;
		v->merge_lens[i] = vs->merge_lens[i];
		v->n_merges++;
	}
	vocab_synth_free(vs);
	return CL_OK;
nomem:
	vocab_synth_free(vs);
	mk_vocab_free(v);
	return cl_errf(err, CL_ENOMEM, "out of memory");
}

/*
 * The last token of the generation prompt "<|im_start|>assistant\n": the
 * token a chat prompt always ends with, where the scripted chain starts.
 */
static int
prompt_end_token(const struct mk_vocab *v, int32_t *out, struct cl_err *err)
{
	struct tok_vocab_src src;
	struct tokenizer *t = NULL;
	int32_t *ids = NULL;
	size_t n = 0;
	int r;

	memset(&src, 0, sizeof(src));
	src.n_tokens = v->n_tokens;
	src.tokens = (const char *const *)v->tokens;
	src.token_lens = v->token_lens;
	src.token_types = v->types;
	src.n_merges = v->n_merges;
	src.merges = (const char *const *)v->merges;
	src.merge_lens = v->merge_lens;
	src.bos_id = 1;
	src.eos_id = ID_IM_END;
	src.add_bos = true;
	if ((r = tokenizer_new(&src, &t, err)) != CL_OK)
		return r;
	r = tokenizer_encode(t, "assistant\n", 10, false, false, &ids, &n,
	    err);
	if (r == CL_OK && n == 0)
		r = cl_errf(err, CL_EINTERNAL, "empty generation prompt");
	if (r == CL_OK)
		*out = ids[n - 1];
	cl_free(ids);
	tokenizer_free(t);
	return r;
}

/*
 * Cut `text` into chunks that become a chain of distinct tokens: at each
 * point take the longest chunk (at most 8 bytes, longer only if needed)
 * not used before, not the chain's start token and not the text of a
 * control token.  Chunks new to the vocabulary are appended as normal
 * tokens.  The emitted tokens need not be the text's canonical
 * tokenization: only their bytes must be the text.
 */
static int
make_script(struct mk *mk, struct mk_vocab *v, const char *text, size_t len,
    struct cl_err *err)
{
	int32_t start, *chain = NULL;
	size_t i = 0, k, n_chain = 0, mlen, tries;
	char *mapped = NULL;
	uint8_t *used = NULL;
	int r, id;

	if ((r = prompt_end_token(v, &start, err)) != CL_OK)
		return r;
	if ((chain = cl_calloc(len + 2, sizeof(*chain))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	chain[n_chain++] = start;
	while (i < len) {
		size_t best = 0;

		for (tries = 0; tries < 2 && best == 0; tries++) {
			size_t lo = tries == 0 ? 1 : 9;
			size_t hi = tries == 0 ? 8 : len - i;

			if (hi > len - i)
				hi = len - i;
			for (k = hi; k >= lo && best == 0; k--) {
				cl_free(mapped);
				if ((mapped = map_bytes(text + i, k, &mlen)) ==
				    NULL) {
					r = cl_errf(err, CL_ENOMEM,
					    "out of memory");
					goto out;
				}
				id = find_token(v, mapped, mlen);
				if (id >= 0 && v->types[id] != 1 &&
				    v->types[id] != 6)
					continue;	/* a control token */
				if (id >= 0) {
					size_t c;
					bool dup = false;

					for (c = 0; c < n_chain; c++)
						dup |= chain[c] == id;
					if (dup)
						continue;
				} else {
					if ((r = mk_vocab_push(v, mapped, mlen,
					    1)) != CL_OK) {
						r = cl_errf(err, r,
						    "out of memory");
						goto out;
					}
					id = (int)v->n_tokens - 1;
				}
				chain[n_chain++] = id;
				best = k;
			}
		}
		if (best == 0) {
			r = cl_errf(err, CL_EINVAL,
			    "text at byte %zu repeats itself too much to be "
			    "scripted with distinct tokens", i);
			goto out;
		}
		i += best;
	}
	mk->script.chain = chain;
	mk->script.n_chain = (uint32_t)n_chain;
	chain = NULL;
	r = CL_OK;
out:
	(void)used;
	cl_free(mapped);
	cl_free(chain);
	return r;
}

/* ------------------------------------------------------------------ */
/* 5. writing the file (continued)                                     */

/* llama.cpp's general.file_type value for the recipe (informational). */
static uint32_t
file_type(const struct mk *mk)
{
	if (mk->mix == 4)
		return 15;
	if (mk->mix == 5)
		return 17;
	switch (mk->base_type) {
	case GGML_TYPE_F32:	return 0;
	case GGML_TYPE_F16:	return 1;
	case GGML_TYPE_Q4_0:	return 2;
	case GGML_TYPE_Q4_1:	return 3;
	case GGML_TYPE_Q8_0:	return 7;
	case GGML_TYPE_Q5_0:	return 8;
	case GGML_TYPE_Q5_1:	return 9;
	case GGML_TYPE_Q4_K:	return 14;
	case GGML_TYPE_Q5_K:	return 16;
	case GGML_TYPE_Q6_K:	return 18;
	case GGML_TYPE_BF16:	return 32;
	}
	return 0;
}

/* A close copy of LFM2's chat template, for tools that read it. */
static const char chat_template[] =
    "{{- bos_token -}}{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' -}}{%- endfor -%}{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

static int
write_model(struct mk *mk, const struct mk_vocab *v, int fd,
    const char *name, struct cl_err *err)
{
	const struct shape *sh = &mk->sh;
	struct gguf_writer *w = NULL;
	const char *a = sh->moe ? "lfm2moe" : "lfm2";
	int32_t *kv = NULL;
	uint8_t *buf = NULL;
	size_t i, cap = 0, nbytes, row_bytes;
	char key[128];
	uint32_t il;
	int r;

#define K(s) (snprintf(key, sizeof(key), "%s.%s", a, s), key)
	if ((r = gguf_writer_new(&w, err)) != CL_OK)
		return r;
	if ((kv = cl_calloc(sh->n_layer, sizeof(*kv))) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	for (il = 0; il < sh->n_layer; il++)
		kv[il] = is_attn(sh, il) ? (int32_t)sh->n_head_kv : 0;
	if ((r = gguf_writer_add_str(w, "general.architecture", a,
	    strlen(a), err)) ||
	    (r = gguf_writer_add_str(w, "general.name", name,
	    strlen(name), err)) ||
	    (r = gguf_writer_add_u32(w, "general.file_type", file_type(mk),
	    err)) ||
	    (r = gguf_writer_add_u32(w, "general.quantization_version", 2,
	    err)) ||
	    (r = gguf_writer_add_u32(w, K("block_count"), sh->n_layer, err)) ||
	    (r = gguf_writer_add_u32(w, K("context_length"), sh->n_ctx,
	    err)) ||
	    (r = gguf_writer_add_u32(w, K("embedding_length"), sh->n_embd,
	    err)) ||
	    (r = gguf_writer_add_u32(w, K("feed_forward_length"), sh->n_ff,
	    err)) ||
	    (r = gguf_writer_add_u32(w, K("attention.head_count"),
	    sh->n_head, err)) ||
	    (r = gguf_writer_add_arr_i32(w, K("attention.head_count_kv"), kv,
	    sh->n_layer, err)) ||
	    (r = gguf_writer_add_f32(w, K("attention.layer_norm_rms_epsilon"),
	    1e-5f, err)) ||
	    (r = gguf_writer_add_f32(w, K("rope.freq_base"), 1e6f, err)) ||
	    (r = gguf_writer_add_u32(w, K("shortconv.l_cache"), sh->l_cache,
	    err)) ||
	    (r = gguf_writer_add_u32(w, K("vocab_size"), sh->n_vocab, err)))
		goto out;
	if (sh->moe &&
	    ((r = gguf_writer_add_u32(w, K("expert_count"), sh->n_expert,
	    err)) ||
	    (r = gguf_writer_add_u32(w, K("expert_used_count"),
	    sh->n_expert_used, err)) ||
	    (r = gguf_writer_add_u32(w, K("expert_feed_forward_length"),
	    sh->n_ff_exp, err)) ||
	    (r = gguf_writer_add_u32(w, K("leading_dense_block_count"),
	    sh->n_dense_lead, err)) ||
	    (r = gguf_writer_add_u32(w, K("expert_gating_func"), 2, err))))
		goto out;
#undef K
	if ((r = gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4,
	    err)) ||
	    (r = gguf_writer_add_str(w, "tokenizer.ggml.pre", "lfm2", 4,
	    err)) ||
	    (r = gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens",
	    (const char *const *)v->tokens, v->token_lens, v->n_tokens,
	    err)) ||
	    (r = gguf_writer_add_arr_i32(w, "tokenizer.ggml.token_type",
	    v->types, v->n_tokens, err)) ||
	    (r = gguf_writer_add_arr_str(w, "tokenizer.ggml.merges",
	    (const char *const *)v->merges, v->merge_lens, v->n_merges,
	    err)) ||
	    (r = gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1,
	    err)) ||
	    (r = gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id",
	    ID_IM_END, err)) ||
	    (r = gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0,
	    err)) ||
	    (r = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true,
	    err)) ||
	    (r = gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false,
	    err)) ||
	    (r = gguf_writer_add_str(w, "tokenizer.chat_template",
	    chat_template, sizeof(chat_template) - 1, err)))
		goto out;

	for (i = 0; i < mk->n_plan; i++) {
		const struct tensor_plan *p = &mk->plan[i];

		if ((r = gguf_writer_add_tensor(w, p->name, p->type,
		    p->n_dims, p->ne, NULL, err)) != CL_OK)
			goto out;
	}
	if ((r = gguf_writer_write_header(w, fd, err)) != CL_OK)
		goto out;
	for (i = 0; i < mk->n_plan; i++) {
		const struct tensor_plan *p = &mk->plan[i];

		if ((r = quant_row_bytes(p->type, p->ne[0], &row_bytes)) !=
		    CL_OK) {
			r = cl_errf(err, r, "bad row for '%s'", p->name);
			goto out;
		}
		nbytes = row_bytes * (size_t)(p->ne[1] * p->ne[2]);
		if (nbytes > cap) {
			cl_free(buf);
			if ((buf = cl_malloc(nbytes)) == NULL) {
				r = cl_errf(err, CL_ENOMEM, "out of memory");
				goto out;
			}
			cap = nbytes;
		}
		if ((r = gen_tensor(mk, p, buf, row_bytes)) != CL_OK) {
			r = cl_errf(err, r, "cannot generate '%s'", p->name);
			goto out;
		}
		if ((r = gguf_writer_write_tensor(w, fd, i, buf, nbytes,
		    err)) != CL_OK)
			goto out;
	}
	r = gguf_writer_finish(w, err);
out:
	cl_free(buf);
	cl_free(kv);
	gguf_writer_free(w);
	return r;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: cloister-mkmodel --preset tiny|350m|1.2b|8b-a1b "
	    "[--type T] [--seed N] [--threads N] -o FILE\n"
	    "       cloister-mkmodel --preset scripted (--text TEXT | "
	    "--text-file FILE) [--arch lfm2|lfm2moe]\n"
	    "                        [--type T] -o FILE\n"
	    "types: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k "
	    "q4_k_m q5_k_m\n");
}

static int
die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "cloister-mkmodel: %s%s%s%s\n", msg, arg ? " '" : "",
	    arg ? arg : "", arg ? "'" : "");
	return 2;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "preset", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 'T' },
		{ "seed", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "text", required_argument, NULL, 'x' },
		{ "text-file", required_argument, NULL, 'X' },
		{ "arch", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cl_err err = CL_ERR_INIT;
	struct mk *mk = NULL;
	struct mk_vocab v;
	const struct shape *sh = NULL;
	const struct type_name *tn = NULL;
	const char *preset = NULL, *type = "q8_0", *out = NULL, *arch = NULL;
	const char *text_file = NULL, *text = NULL;
	char *tbuf = NULL, *tmp = NULL, name[160], *end;
	size_t text_len = 0, i;
	unsigned long long seed = 1;
	long th = 2;
	int ch, fd = -1, rc = 1, tfd;
	bool type_given = false, scripted, moe = false;

	memset(&v, 0, sizeof(v));
	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			preset = optarg;
			break;
		case 'T':
			type = optarg;
			type_given = true;
			break;
		case 's':
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg)
				return die_usage("bad seed", optarg);
			break;
		case 't':
			errno = 0;
			th = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || th < 1 || th > 64)
				return die_usage("threads must be 1..64",
				    optarg);
			break;
		case 'x':
			text = optarg;
			text_len = strlen(optarg);
			break;
		case 'X':
			text_file = optarg;
			break;
		case 'a':
			arch = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || preset == NULL || out == NULL) {
		usage(stderr);
		return 2;
	}

	/* Check every argument before allocating anything. */
	for (i = 0; i < CL_ARRAY_LEN(type_names); i++) {
		if (strcmp(type, type_names[i].name) == 0)
			tn = &type_names[i];
	}
	if (tn == NULL)
		return die_usage("unknown type", type);
	scripted = strcmp(preset, "scripted") == 0;
	if (!scripted) {
		for (i = 0; i < CL_ARRAY_LEN(presets); i++) {
			if (strcmp(preset, presets[i].preset) == 0)
				sh = &presets[i];
		}
		if (sh == NULL)
			return die_usage("unknown preset", preset);
		if (text != NULL || text_file != NULL || arch != NULL)
			return die_usage("--text, --text-file and --arch go "
			    "with the scripted preset", NULL);
	} else {
		if ((text == NULL) == (text_file == NULL))
			return die_usage("the scripted preset needs --text or "
			    "--text-file", NULL);
		if (arch != NULL && strcmp(arch, "lfm2moe") == 0)
			moe = true;
		else if (arch != NULL && strcmp(arch, "lfm2") != 0)
			return die_usage("--arch takes lfm2 or lfm2moe, not",
			    arch);
	}

	if (text_file != NULL) {
		if ((tfd = open(text_file, O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "cloister-mkmodel: cannot open '%s': "
			    "%s\n", text_file, strerror(errno));
			return 1;
		}
		if (cl_read_all(tfd, 1u << 20, &tbuf, &text_len, &err) !=
		    CL_OK) {
			close(tfd);
			fprintf(stderr, "cloister-mkmodel: %s: %s\n",
			    text_file, err.msg);
			return 1;
		}
		close(tfd);
		text = tbuf;
	}
	if (scripted && (text_len == 0 || text_len > 4096)) {
		rc = die_usage("a scripted text must have 1 to 4096 bytes",
		    NULL);
		goto out;
	}
	if ((mk = cl_calloc(1, sizeof(*mk))) == NULL) {
		fprintf(stderr, "cloister-mkmodel: out of memory\n");
		goto out;
	}
	mk->seed = seed;
	mk->n_threads = (int)th;
	mk->base_type = tn->base;
	mk->mix = tn->mix;

	if (scripted) {
		mk->scripted = true;
		/* Small, real model: 4 layers (conv, attn, conv, attn). */
		mk->sh = (struct shape){ "scripted", false, 4, 256, 4, 1, 256,
		    0, 4096, 3, 0, 0, 0, 0, { 1, 3 }, 2 };
		if (moe) {
			mk->sh.moe = true;
			mk->sh.n_expert = 4;
			mk->sh.n_expert_used = 2;
			mk->sh.n_ff_exp = 64;
			mk->sh.n_dense_lead = 1;
		}
		if (!type_given)
			mk->base_type = GGML_TYPE_F32;
		if (build_vocab(mk, &v, text, text_len, 512, &err) != CL_OK ||
		    make_script(mk, &v, text, text_len, &err) != CL_OK) {
			fprintf(stderr, "cloister-mkmodel: %s\n", err.msg);
			goto out;
		}
		/* Chain embeddings are basis vectors: d > chain length. */
		while (mk->sh.n_embd < mk->script.n_chain + 1)
			mk->sh.n_embd += 256;
		mk->sh.n_head = mk->sh.n_embd / 64;
		mk->sh.n_vocab = (uint32_t)v.n_tokens;
	} else {
		mk->sh = *sh;
		if (build_vocab(mk, &v, vocab_synth_corpus,
		    strlen(vocab_synth_corpus), mk->sh.n_vocab, &err) !=
		    CL_OK) {
			fprintf(stderr, "cloister-mkmodel: %s\n", err.msg);
			goto out;
		}
	}
	make_plan(mk);
	snprintf(name, sizeof(name), "cloister synthetic %s %s seed %llu",
	    preset, type, seed);

	/* Write to a temporary name, then rename: never a half file. */
	if (asprintf(&tmp, "%s.tmp.%ld", out, (long)getpid()) < 0) {
		tmp = NULL;
		fprintf(stderr, "cloister-mkmodel: out of memory\n");
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0) {
		fprintf(stderr, "cloister-mkmodel: cannot create '%s': %s\n",
		    tmp, strerror(errno));
		goto out;
	}
	if (write_model(mk, &v, fd, name, &err) != CL_OK) {
		fprintf(stderr, "cloister-mkmodel: %s\n", err.msg);
		goto out;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		fprintf(stderr, "cloister-mkmodel: cannot write '%s': %s\n",
		    tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, out) != 0) {
		fprintf(stderr, "cloister-mkmodel: cannot rename to '%s': %s\n",
		    out, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	cl_free(tbuf);
	mk_vocab_free(&v);
	if (mk != NULL)
		cl_free(mk->script.chain);
	cl_free(mk);
	return rc;
}
