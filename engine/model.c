/*
 * model.c - loading an LFM2 / LFM2-MoE model from GGUF and validating it.
 *
 * Divisions:
 *   1. metadata helpers   - typed reads of `{arch}.*` keys
 *   2. hyper-parameters   - lfm2-spec.md section 3, with its robustness rules
 *   3. tensors            - binding and exact shape checks (section 4)
 *   4. tokenizer glue     - tokenizer.ggml.* arrays -> struct tokenizer
 *   5. public entry points
 *
 * Everything in the file is untrusted.  Nothing runs until every tensor the
 * forward pass touches has been found with the exact shape the
 * hyper-parameters imply and a type the kernels compute; the forward pass
 * then needs no further checks.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "engine/ggml_types.h"
#include "engine/quant.h"

/* Sanity caps on hyper-parameters: far above any LFM2 model. */
#define MAX_EMBD	65536u
#define MAX_VOCAB	(1u << 22)
#define MAX_FF		(1u << 20)
#define MAX_HEADS	1024u
#define MAX_L_CACHE	64u
#define DEFAULT_CTX	32768u

/* ------------------------------------------------------------------ */
/* 1. metadata helpers                                                 */

static const char *
arch_name(const struct engine_model *m)
{
	return m->hp.arch == LFM2_ARCH_MOE ? "lfm2moe" : "lfm2";
}

static int
key_u32(const struct engine_model *m, const char *suffix, bool required,
    uint32_t dflt, uint32_t *out, struct cl_err *err)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", arch_name(m), suffix);
	if (!gguf_has_key(m->gguf, key)) {
		if (required)
			return cl_errf(err, CL_EFORMAT,
			    "model: missing metadata key '%s'", key);
		*out = dflt;
		return CL_OK;
	}
	return gguf_get_u32(m->gguf, key, out, err);
}

static int
key_f32(const struct engine_model *m, const char *suffix, bool required,
    float dflt, float *out, struct cl_err *err)
{
	char key[128];
	int r;

	snprintf(key, sizeof(key), "%s.%s", arch_name(m), suffix);
	if (!gguf_has_key(m->gguf, key)) {
		if (required)
			return cl_errf(err, CL_EFORMAT,
			    "model: missing metadata key '%s'", key);
		*out = dflt;
		return CL_OK;
	}
	if ((r = gguf_get_f32(m->gguf, key, out, err)) != CL_OK)
		return r;
	if (!isfinite(*out))
		return cl_errf(err, CL_EFORMAT,
		    "model: metadata key '%s' is not a finite number", key);
	return CL_OK;
}

/*
 * A per-layer value stored either as a scalar or as an array with one
 * integer per layer (head_count_kv is such an array in LFM2 files).
 */
static int
key_per_layer(const struct engine_model *m, const char *suffix, uint32_t layer,
    uint32_t *out, struct cl_err *err)
{
	char key[128];
	uint32_t et;
	uint64_t n;
	int64_t v;
	int r;

	snprintf(key, sizeof(key), "%s.%s", arch_name(m), suffix);
	if (!gguf_has_key(m->gguf, key))
		return cl_errf(err, CL_EFORMAT,
		    "model: missing metadata key '%s'", key);
	if (gguf_get_arr(m->gguf, key, &et, &n, NULL) != CL_OK)
		return gguf_get_u32(m->gguf, key, out, err);
	if (n != m->hp.n_layer)
		return cl_errf(err, CL_EFORMAT,
		    "model: '%s' has %llu entries for %u layers", key,
		    (unsigned long long)n, m->hp.n_layer);
	if ((r = gguf_arr_int(m->gguf, key, layer, &v, err)) != CL_OK)
		return r;
	if (v < 0 || v > (int64_t)UINT32_MAX)
		return cl_errf(err, CL_EFORMAT,
		    "model: '%s'[%u] = %lld out of range", key, layer,
		    (long long)v);
	*out = (uint32_t)v;
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 2. hyper-parameters                                                 */

static int
load_hparams(struct engine_model *m, struct cl_err *err)
{
	struct lfm2_hparams *hp = &m->hp;
	const char *s;
	size_t len;
	uint32_t u, l;
	bool b;
	int r;

	if ((r = gguf_get_str(m->gguf, "general.architecture", &s, &len,
	    err)) != CL_OK)
		return cl_err_prefix(err, "model");
	if (len == 4 && memcmp(s, "lfm2", 4) == 0)
		hp->arch = LFM2_ARCH_DENSE;
	else if (len == 7 && memcmp(s, "lfm2moe", 7) == 0)
		hp->arch = LFM2_ARCH_MOE;
	else
		return cl_errf(err, CL_EUNSUPPORTED,
		    "model: architecture '%.*s' is not supported (cloister "
		    "runs 'lfm2' and 'lfm2moe')", (int)(len > 32 ? 32 : len), s);

	if ((r = key_u32(m, "block_count", true, 0, &hp->n_layer, err)) ||
	    (r = key_u32(m, "embedding_length", true, 0, &hp->n_embd, err)) ||
	    (r = key_u32(m, "context_length", false, 0, &hp->n_ctx_train,
	    err)) ||
	    (r = key_u32(m, "shortconv.l_cache", false, 3, &hp->l_cache,
	    err)) ||
	    (r = key_per_layer(m, "attention.head_count", 0, &hp->n_head,
	    err)) ||
	    (r = key_f32(m, "attention.layer_norm_rms_epsilon", false, 1e-5f,
	    &hp->rms_eps, err)) ||
	    (r = key_f32(m, "rope.freq_base", false, 1e6f, &hp->rope_base,
	    err)))
		return r;
	if (hp->n_layer == 0 || hp->n_layer > LFM2_MAX_LAYERS)
		return cl_errf(err, CL_EFORMAT,
		    "model: block_count %u out of range 1..%u", hp->n_layer,
		    LFM2_MAX_LAYERS);
	if (hp->n_embd == 0 || hp->n_embd > MAX_EMBD)
		return cl_errf(err, CL_EFORMAT,
		    "model: embedding_length %u out of range", hp->n_embd);
	if (hp->n_head == 0 || hp->n_head > MAX_HEADS ||
	    hp->n_embd % hp->n_head != 0)
		return cl_errf(err, CL_EFORMAT,
		    "model: head_count %u does not divide embedding_length %u",
		    hp->n_head, hp->n_embd);
	hp->head_dim = hp->n_embd / hp->n_head;
	if (hp->head_dim % 2 != 0)
		return cl_errf(err, CL_EFORMAT,
		    "model: head dimension %u is odd", hp->head_dim);
	if (hp->l_cache < 1 || hp->l_cache > MAX_L_CACHE)
		return cl_errf(err, CL_EFORMAT,
		    "model: shortconv.l_cache %u out of range 1..%u",
		    hp->l_cache, MAX_L_CACHE);
	if (!(hp->rms_eps > 0 && hp->rms_eps < 1))
		return cl_errf(err, CL_EFORMAT,
		    "model: rms epsilon out of range");
	if (!(hp->rope_base > 1))
		return cl_errf(err, CL_EFORMAT,
		    "model: rope.freq_base must be greater than 1");
	/* Every head count must agree when given per layer. */
	for (l = 1; l < hp->n_layer; l++) {
		if ((r = key_per_layer(m, "attention.head_count", l, &u,
		    err)) != CL_OK)
			return r;
		if (u != hp->n_head)
			return cl_errf(err, CL_EUNSUPPORTED,
			    "model: layer %u has %u heads, layer 0 has %u", l,
			    u, hp->n_head);
	}

	/* Variants cloister does not run: refuse rather than guess. */
	{
		char key[128];

		snprintf(key, sizeof(key), "%s.attention.causal",
		    arch_name(m));
		if (gguf_has_key(m->gguf, key)) {
			if ((r = gguf_get_bool(m->gguf, key, &b, err)) != CL_OK)
				return r;
			if (!b)
				return cl_errf(err, CL_EUNSUPPORTED,
				    "model: non-causal (encoder) LFM2 models "
				    "are not supported");
		}
		if ((r = key_u32(m, "attention.sliding_window", false, 0, &u,
		    err)) != CL_OK)
			return r;
		if (u != 0)
			return cl_errf(err, CL_EUNSUPPORTED,
			    "model: sliding-window attention is not supported");
		if ((r = key_u32(m, "rope.dimension_count", false,
		    hp->head_dim, &u, err)) != CL_OK)
			return r;
		if (u != hp->head_dim)
			return cl_errf(err, CL_EUNSUPPORTED,
			    "model: partial rotary embedding (%u of %u) is not "
			    "supported", u, hp->head_dim);
	}

	if (hp->arch == LFM2_ARCH_MOE) {
		if ((r = key_u32(m, "expert_count", true, 0, &hp->n_expert,
		    err)) ||
		    (r = key_u32(m, "expert_used_count", true, 0,
		    &hp->n_expert_used, err)) ||
		    (r = key_u32(m, "leading_dense_block_count", false, 0,
		    &hp->n_dense_lead, err)) ||
		    (r = key_u32(m, "expert_gating_func", false,
		    LFM2_GATING_SIGMOID, &u, err)) ||
		    (r = key_f32(m, "expert_weights_scale", false, 1.0f,
		    &hp->expert_weights_scale, err)))
			return r;
		if (hp->n_expert < 1 || hp->n_expert > LFM2_MAX_EXPERTS)
			return cl_errf(err, CL_EFORMAT,
			    "model: expert_count %u out of range 1..%u",
			    hp->n_expert, LFM2_MAX_EXPERTS);
		if (hp->n_expert_used < 1 ||
		    hp->n_expert_used > hp->n_expert)
			return cl_errf(err, CL_EFORMAT,
			    "model: expert_used_count %u out of range 1..%u",
			    hp->n_expert_used, hp->n_expert);
		if (hp->n_dense_lead > hp->n_layer)
			return cl_errf(err, CL_EFORMAT,
			    "model: leading_dense_block_count %u exceeds "
			    "block_count %u", hp->n_dense_lead, hp->n_layer);
		if (u != LFM2_GATING_SIGMOID && u != LFM2_GATING_SOFTMAX)
			return cl_errf(err, CL_EUNSUPPORTED,
			    "model: expert_gating_func %u is not supported", u);
		hp->gating = (enum lfm2_gating)u;
		/* 0 and 1 both mean "no scaling" (lfm2-spec.md section 3). */
		if (hp->expert_weights_scale == 0)
			hp->expert_weights_scale = 1.0f;
	}
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 3. tensors                                                          */

/*
 * Find tensor `name` and check that its shape is exactly {e0, e1, e2}
 * (0 marks an absent dimension) and that the kernels can compute with its
 * type.  `*found` (may be NULL when required) tells whether it exists.
 */
static int
bind(struct engine_model *m, const char *name, uint64_t e0, uint64_t e1,
    uint64_t e2, struct lfm2_weight *w, bool *found, struct cl_err *err)
{
	const struct gguf_tensor *t;
	const struct ggml_type_info *ti;
	uint64_t want[4] = { e0, e1 ? e1 : 1, e2 ? e2 : 1, 1 };
	int i;

	if (found != NULL)
		*found = false;
	if ((t = gguf_find_tensor(m->gguf, name)) == NULL) {
		if (found != NULL)
			return CL_OK;
		return cl_errf(err, CL_EFORMAT, "model: missing tensor '%s'",
		    name);
	}
	for (i = 0; i < 4; i++) {
		if (t->ne[i] != want[i])
			return cl_errf(err, CL_EFORMAT,
			    "model: tensor '%s' has shape {%llu, %llu, %llu, "
			    "%llu}, expected {%llu, %llu, %llu, %llu}", name,
			    (unsigned long long)t->ne[0],
			    (unsigned long long)t->ne[1],
			    (unsigned long long)t->ne[2],
			    (unsigned long long)t->ne[3],
			    (unsigned long long)want[0],
			    (unsigned long long)want[1],
			    (unsigned long long)want[2],
			    (unsigned long long)want[3]);
	}
	if ((ti = ggml_type_info(t->type)) == NULL || !ti->computable)
		return cl_errf(err, CL_EUNSUPPORTED,
		    "model: tensor '%s' has type %s, which cloister does not "
		    "support", name, ti != NULL ? ti->name : "unknown");
	w->type = t->type;
	memcpy(w->ne, t->ne, sizeof(w->ne));
	w->data = t->data;
	/* The reader has checked that the whole tensor lies in the file. */
	w->row_bytes = (size_t)(t->ne[0] / ti->blck_elems) * ti->blck_bytes;
	w->slab_bytes = w->row_bytes * (size_t)t->ne[1];
	if (found != NULL)
		*found = true;
	return CL_OK;
}

/* Bind a small 1-D or 2-D tensor and copy it out as f32 (norms, conv). */
static int
bind_f32(struct engine_model *m, const char *name, uint64_t e0, uint64_t e1,
    float **out, struct cl_err *err)
{
	struct lfm2_weight w;
	uint64_t rows = e1 ? e1 : 1, i;
	float *f;
	int r;

	*out = NULL;
	if ((r = bind(m, name, e0, e1, 0, &w, NULL, err)) != CL_OK)
		return r;
	if ((f = cl_calloc((size_t)(e0 * rows), sizeof(*f))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	for (i = 0; i < rows; i++)
		quant_dequantize_row(w.type, w.data + i * w.row_bytes,
		    f + i * e0, (size_t)e0);
	for (i = 0; i < e0 * rows; i++) {
		if (!isfinite(f[i])) {
			cl_free(f);
			return cl_errf(err, CL_EFORMAT,
			    "model: tensor '%s' holds a value that is not "
			    "finite", name);
		}
	}
	*out = f;
	return CL_OK;
}

static int
load_layer(struct engine_model *m, uint32_t il, struct cl_err *err)
{
	struct lfm2_hparams *hp = &m->hp;
	struct lfm2_layer *L = &m->layers[il];
	uint64_t d = hp->n_embd, dh = hp->head_dim, kv;
	char n[96];
	bool have;
	int r;

#define NAME(suffix) (snprintf(n, sizeof(n), "blk.%u." suffix, il), n)
	if ((r = key_per_layer(m, "attention.head_count_kv", il,
	    &L->n_head_kv, err)) != CL_OK)
		return r;
	L->is_attn = L->n_head_kv > 0;
	L->is_moe = hp->arch == LFM2_ARCH_MOE && il >= hp->n_dense_lead;

	if ((r = bind_f32(m, NAME("attn_norm.weight"), d, 0, &L->attn_norm,
	    err)) != CL_OK ||
	    (r = bind_f32(m, NAME("ffn_norm.weight"), d, 0, &L->ffn_norm,
	    err)) != CL_OK)
		return r;

	if (L->is_attn) {
		if (hp->n_head % L->n_head_kv != 0)
			return cl_errf(err, CL_EFORMAT,
			    "model: layer %u: head_count_kv %u does not divide "
			    "head_count %u", il, L->n_head_kv, hp->n_head);
		kv = (uint64_t)L->n_head_kv * dh;
		if (kv > hp->max_kv_dim)
			hp->max_kv_dim = (uint32_t)kv;
		if ((r = bind(m, NAME("attn_q.weight"), d, d, 0, &L->wq, NULL,
		    err)) ||
		    (r = bind(m, NAME("attn_k.weight"), d, kv, 0, &L->wk, NULL,
		    err)) ||
		    (r = bind(m, NAME("attn_v.weight"), d, kv, 0, &L->wv, NULL,
		    err)) ||
		    (r = bind_f32(m, NAME("attn_q_norm.weight"), dh, 0,
		    &L->q_norm, err)) ||
		    (r = bind_f32(m, NAME("attn_k_norm.weight"), dh, 0,
		    &L->k_norm, err)) ||
		    (r = bind(m, NAME("attn_output.weight"), d, d, 0, &L->wo,
		    NULL, err)))
			return r;
	} else {
		if ((r = bind(m, NAME("shortconv.in_proj.weight"), d, 3 * d, 0,
		    &L->in_proj, NULL, err)) ||
		    (r = bind_f32(m, NAME("shortconv.conv.weight"),
		    hp->l_cache, d, &L->conv, err)) ||
		    (r = bind(m, NAME("shortconv.out_proj.weight"), d, d, 0,
		    &L->out_proj, NULL, err)))
			return r;
	}

	if (!L->is_moe) {
		const struct gguf_tensor *t;

		/* n_ff comes from the tensor, not the metadata (pitfall 3). */
		if ((t = gguf_find_tensor(m->gguf,
		    NAME("ffn_gate.weight"))) == NULL)
			return cl_errf(err, CL_EFORMAT,
			    "model: missing tensor '%s'", n);
		if (t->ne[1] == 0 || t->ne[1] > MAX_FF)
			return cl_errf(err, CL_EFORMAT,
			    "model: tensor '%s' has an FFN width out of range",
			    n);
		L->n_ff = (uint32_t)t->ne[1];
		if (L->n_ff > hp->max_ff)
			hp->max_ff = L->n_ff;
		if ((r = bind(m, NAME("ffn_gate.weight"), d, L->n_ff, 0,
		    &L->ffn_gate, NULL, err)) ||
		    (r = bind(m, NAME("ffn_up.weight"), d, L->n_ff, 0,
		    &L->ffn_up, NULL, err)) ||
		    (r = bind(m, NAME("ffn_down.weight"), L->n_ff, d, 0,
		    &L->ffn_down, NULL, err)))
			return r;
	} else {
		uint64_t e = hp->n_expert, f = hp->n_ff_exp;

		if ((r = bind(m, NAME("ffn_gate_inp.weight"), d, e, 0,
		    &L->router, NULL, err)) ||
		    (r = bind(m, NAME("ffn_gate_exps.weight"), d, f, e,
		    &L->gate_exps, NULL, err)) ||
		    (r = bind(m, NAME("ffn_up_exps.weight"), d, f, e,
		    &L->up_exps, NULL, err)) ||
		    (r = bind(m, NAME("ffn_down_exps.weight"), f, d, e,
		    &L->down_exps, NULL, err)))
			return r;
		/* The selection bias is optional (zero when absent). */
		if (gguf_find_tensor(m->gguf, NAME("exp_probs_b.bias")) !=
		    NULL) {
			if ((r = bind_f32(m, n, e, 0, &L->exp_bias, err)) !=
			    CL_OK)
				return r;
		} else if ((L->exp_bias = cl_calloc(e, sizeof(float))) ==
		    NULL)
			return cl_errf(err, CL_ENOMEM, "out of memory");
	}
	(void)have;
#undef NAME
	return CL_OK;
}

static int
load_tensors(struct engine_model *m, struct cl_err *err)
{
	struct lfm2_hparams *hp = &m->hp;
	const struct gguf_tensor *t;
	uint32_t il;
	bool have;
	int r;

	if ((t = gguf_find_tensor(m->gguf, "token_embd.weight")) == NULL)
		return cl_errf(err, CL_EFORMAT,
		    "model: missing tensor 'token_embd.weight'");
	if (t->ne[1] == 0 || t->ne[1] > MAX_VOCAB)
		return cl_errf(err, CL_EFORMAT,
		    "model: vocabulary size %llu out of range",
		    (unsigned long long)t->ne[1]);
	hp->n_vocab = (uint32_t)t->ne[1];
	if ((r = bind(m, "token_embd.weight", hp->n_embd, hp->n_vocab, 0,
	    &m->tok_embd, NULL, err)) != CL_OK)
		return r;
	if ((r = bind(m, "output.weight", hp->n_embd, hp->n_vocab, 0,
	    &m->output, &have, err)) != CL_OK)
		return r;
	if (!have)
		m->output = m->tok_embd;	/* tied (pitfall 7) */
	/* The final norm has two names in the wild (pitfall 1). */
	if (gguf_find_tensor(m->gguf, "token_embd_norm.weight") != NULL)
		r = bind_f32(m, "token_embd_norm.weight", hp->n_embd, 0,
		    &m->output_norm, err);
	else
		r = bind_f32(m, "output_norm.weight", hp->n_embd, 0,
		    &m->output_norm, err);
	if (r != CL_OK)
		return r;

	if (hp->arch == LFM2_ARCH_MOE) {
		/* n_ff_exp from the first MoE layer's tensor. */
		char n[96];

		if (hp->n_dense_lead < hp->n_layer) {
			snprintf(n, sizeof(n), "blk.%u.ffn_gate_exps.weight",
			    hp->n_dense_lead);
			if ((t = gguf_find_tensor(m->gguf, n)) == NULL)
				return cl_errf(err, CL_EFORMAT,
				    "model: missing tensor '%s'", n);
			if (t->ne[1] == 0 || t->ne[1] > MAX_FF)
				return cl_errf(err, CL_EFORMAT,
				    "model: tensor '%s' has an expert width "
				    "out of range", n);
			hp->n_ff_exp = (uint32_t)t->ne[1];
		}
	}
	if ((m->layers = cl_calloc(hp->n_layer, sizeof(*m->layers))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	for (il = 0; il < hp->n_layer; il++) {
		if ((r = load_layer(m, il, err)) != CL_OK)
			return r;
	}
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 4. tokenizer glue                                                   */

static int
load_tokenizer(struct engine_model *m, struct cl_err *err)
{
	struct tok_vocab_src src;
	const char **tokens = NULL, **merges = NULL;
	size_t *token_lens = NULL, *merge_lens = NULL;
	int32_t *types = NULL;
	const char *s;
	size_t len;
	uint64_t n_tok = 0, n_merge = 0, n_type = 0, i;
	uint32_t et, u;
	int64_t v;
	bool b;
	int r;

	memset(&src, 0, sizeof(src));
	if ((r = gguf_get_str(m->gguf, "tokenizer.ggml.model", &s, &len,
	    err)) != CL_OK)
		goto out;
	if (len != 4 || memcmp(s, "gpt2", 4) != 0) {
		r = cl_errf(err, CL_EUNSUPPORTED,
		    "model: tokenizer '%.*s' is not supported (LFM2 uses "
		    "byte-level BPE, 'gpt2')", (int)(len > 32 ? 32 : len), s);
		goto out;
	}
	if (gguf_has_key(m->gguf, "tokenizer.ggml.pre")) {
		if ((r = gguf_get_str(m->gguf, "tokenizer.ggml.pre", &s, &len,
		    err)) != CL_OK)
			goto out;
		if (!(len == 4 && memcmp(s, "lfm2", 4) == 0) &&
		    !(len == 9 && memcmp(s, "llama-bpe", 9) == 0)) {
			r = cl_errf(err, CL_EUNSUPPORTED,
			    "model: pre-tokenizer '%.*s' is not supported "
			    "(cloister implements 'lfm2')",
			    (int)(len > 32 ? 32 : len), s);
			goto out;
		}
	}
	if ((r = gguf_get_arr(m->gguf, "tokenizer.ggml.tokens", &et, &n_tok,
	    err)) != CL_OK)
		goto out;
	if (et != GGUF_VTYPE_STRING || n_tok != m->hp.n_vocab) {
		r = cl_errf(err, CL_EFORMAT,
		    "model: tokenizer.ggml.tokens must be %u strings, one per "
		    "row of token_embd", m->hp.n_vocab);
		goto out;
	}
	if (gguf_has_key(m->gguf, "tokenizer.ggml.merges")) {
		if ((r = gguf_get_arr(m->gguf, "tokenizer.ggml.merges", &et,
		    &n_merge, err)) != CL_OK)
			goto out;
		if (et != GGUF_VTYPE_STRING) {
			r = cl_errf(err, CL_EFORMAT,
			    "model: tokenizer.ggml.merges must be strings");
			goto out;
		}
	}
	if (gguf_has_key(m->gguf, "tokenizer.ggml.token_type")) {
		if ((r = gguf_get_arr(m->gguf, "tokenizer.ggml.token_type",
		    &et, &n_type, err)) != CL_OK)
			goto out;
		if (n_type != n_tok) {
			r = cl_errf(err, CL_EFORMAT,
			    "model: tokenizer.ggml.token_type has %llu entries "
			    "for %llu tokens", (unsigned long long)n_type,
			    (unsigned long long)n_tok);
			goto out;
		}
	}
	if ((tokens = cl_calloc(n_tok, sizeof(*tokens))) == NULL ||
	    (token_lens = cl_calloc(n_tok, sizeof(*token_lens))) == NULL ||
	    (merges = cl_calloc(n_merge ? n_merge : 1, sizeof(*merges))) ==
	    NULL ||
	    (merge_lens = cl_calloc(n_merge ? n_merge : 1,
	    sizeof(*merge_lens))) == NULL ||
	    (n_type > 0 && (types = cl_calloc(n_type, sizeof(*types))) ==
	    NULL)) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n_tok; i++) {
		if ((r = gguf_arr_str(m->gguf, "tokenizer.ggml.tokens", i,
		    &tokens[i], &token_lens[i], err)) != CL_OK)
			goto out;
	}
	for (i = 0; i < n_merge; i++) {
		if ((r = gguf_arr_str(m->gguf, "tokenizer.ggml.merges", i,
		    &merges[i], &merge_lens[i], err)) != CL_OK)
			goto out;
	}
	for (i = 0; i < n_type; i++) {
		if ((r = gguf_arr_int(m->gguf, "tokenizer.ggml.token_type", i,
		    &v, err)) != CL_OK)
			goto out;
		types[i] = (v < 0 || v > 6) ? 0 : (int32_t)v;
	}
	src.n_tokens = n_tok;
	src.tokens = tokens;
	src.token_lens = token_lens;
	src.token_types = types;
	src.n_merges = n_merge;
	src.merges = merges;
	src.merge_lens = merge_lens;
	src.bos_id = -1;
	src.eos_id = -1;
	src.add_bos = true;
	if (gguf_has_key(m->gguf, "tokenizer.ggml.bos_token_id")) {
		if ((r = gguf_get_u32(m->gguf, "tokenizer.ggml.bos_token_id",
		    &u, err)) != CL_OK)
			goto out;
		src.bos_id = u < n_tok ? (int32_t)u : -1;
	}
	if (gguf_has_key(m->gguf, "tokenizer.ggml.eos_token_id")) {
		if ((r = gguf_get_u32(m->gguf, "tokenizer.ggml.eos_token_id",
		    &u, err)) != CL_OK)
			goto out;
		src.eos_id = u < n_tok ? (int32_t)u : -1;
	}
	if (gguf_has_key(m->gguf, "tokenizer.ggml.add_bos_token")) {
		if ((r = gguf_get_bool(m->gguf, "tokenizer.ggml.add_bos_token",
		    &b, err)) != CL_OK)
			goto out;
		src.add_bos = b;
	}
	if ((r = tokenizer_new(&src, &m->tok, err)) != CL_OK)
		cl_err_prefix(err, "model: tokenizer");
out:
	cl_free(tokens);
	cl_free(token_lens);
	cl_free(merges);
	cl_free(merge_lens);
	cl_free(types);
	return r;
}

/* ------------------------------------------------------------------ */
/* 5. packing: the load-time relayout for the kernels                  */

/*
 * Where the kernel variant reads a weight type in its own layout
 * (kern_ops.pack_rows, kern_simd.h "Packed weights"), each such matrix
 * is rewritten once, here, into anonymous memory and its pages of the
 * file mapping are given back (gguf_release_range), so the relaid copy
 * replaces the mapped one rather than sitting beside it: the resident
 * set stays at about the file size and the address space (the jail's
 * RLIMIT_AS) never holds both copies of more than one layer.  One region
 * per layer (and one for the output matrix), aligned to 2 MiB so the
 * kernel can back it with transparent huge pages; at most one partly
 * used huge page per region is the cost.  The token embedding, a lookup
 * table and, when tied, the output matrix, is read a row at a time
 * through kern_ops.row_f32: it is packed only where row_f32 can read
 * the packed form (row_f32_packed), else left mapped for both uses.
 */
#define PACK_ALIGN	((size_t)2 << 20)

struct pack_job {
	const struct kern_ops	*k;
	const struct lfm2_weight *w;
	uint8_t			*dst;
	size_t			 rows;
};

static void
pack_job_run(void *arg, int ith, int nth)
{
	const struct pack_job *j = arg;
	const size_t P = j->k->pack_rows(j->w->type);
	size_t lo, hi;

	pool_split(j->rows / P, ith, nth, &lo, &hi);
	if (lo < hi)
		j->k->pack(j->w->type, j->w->data + lo * P * j->w->row_bytes,
		    j->w->row_bytes, (size_t)j->w->ne[0], (hi - lo) * P,
		    j->dst + lo * P * j->w->row_bytes);
}

/* Bytes of w once packed, or 0 when this kernel variant does not. */
static size_t
pack_size(const struct engine_model *m, const struct lfm2_weight *w)
{
	unsigned P;

	if (w->data == NULL || m->kern->pack_rows == NULL ||
	    (w->type & KERN_PACKED) != 0 ||
	    (P = m->kern->pack_rows(w->type)) == 0 || w->ne[1] % P != 0)
		return 0;
	return (w->slab_bytes * (size_t)w->ne[2] + 63) & ~(size_t)63;
}

/* An anonymous region of len bytes aligned to PACK_ALIGN. */
static void *
pack_region(size_t len)
{
	uint8_t *p, *a;
	size_t full;

	len = (len + PACK_ALIGN - 1) & ~(PACK_ALIGN - 1);
	full = len + PACK_ALIGN;
	p = mmap(NULL, full, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + PACK_ALIGN - 1) & ~(PACK_ALIGN - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + full)
		munmap(a + len, (size_t)(p + full - (a + len)));
#ifdef MADV_HUGEPAGE
	(void)madvise(a, len, MADV_HUGEPAGE);	/* a hint; may be refused */
#endif
	return a;
}

/* Pack the weights ws[0..n) into one new region. */
static int
pack_group(struct engine_model *m, struct lfm2_weight *const *ws, size_t n,
    struct cl_err *err)
{
	size_t i, total = 0, off = 0, sz;
	struct pack_job j;
	uint8_t *mem;
	void **pm;
	size_t *pl;

	for (i = 0; i < n; i++)
		total += pack_size(m, ws[i]);
	if (total == 0)
		return CL_OK;
	pm = cl_realloc(m->pack_mem, (m->n_pack_mem + 1) * sizeof(*pm));
	if (pm != NULL)
		m->pack_mem = pm;
	pl = cl_realloc(m->pack_len, (m->n_pack_mem + 1) * sizeof(*pl));
	if (pl != NULL)
		m->pack_len = pl;
	if (pm == NULL || pl == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	if ((mem = pack_region(total)) == NULL)
		return cl_errf(err, CL_ENOMEM, "model: cannot allocate %zu "
		    "bytes to lay out the weights: %s", total,
		    strerror(errno));
	m->pack_mem[m->n_pack_mem] = mem;
	m->pack_len[m->n_pack_mem] = (total + PACK_ALIGN - 1) &
	    ~(PACK_ALIGN - 1);
	m->n_pack_mem++;
	for (i = 0; i < n; i++) {
		if ((sz = pack_size(m, ws[i])) == 0)
			continue;
		j.k = m->kern;
		j.w = ws[i];
		j.dst = mem + off;
		j.rows = (size_t)ws[i]->ne[1] * (size_t)ws[i]->ne[2];
		pool_run(m->pool, pack_job_run, &j);
		gguf_release_range(m->gguf, ws[i]->data,
		    ws[i]->slab_bytes * (size_t)ws[i]->ne[2]);
		ws[i]->data = mem + off;
		ws[i]->type |= KERN_PACKED;
		off += sz;
	}
	return CL_OK;
}

/*
 * Pack every packable weight, layer by layer, reporting progress from
 * p0 to 1 through opts->progress (the relayout is most of a large
 * model's load time).
 */
static int
pack_weights(struct engine_model *m, const struct engine_load_opts *opts,
    double p0, struct cl_err *err)
{
	struct lfm2_weight *ws[16];
	uint32_t il;
	bool tied;
	int r;

	for (il = 0; il < m->hp.n_layer; il++) {
		struct lfm2_layer *L = &m->layers[il];
		size_t n = 0;

		ws[n++] = &L->in_proj;
		ws[n++] = &L->out_proj;
		ws[n++] = &L->wq;
		ws[n++] = &L->wk;
		ws[n++] = &L->wv;
		ws[n++] = &L->wo;
		ws[n++] = &L->ffn_gate;
		ws[n++] = &L->ffn_up;
		ws[n++] = &L->ffn_down;
		ws[n++] = &L->router;
		ws[n++] = &L->gate_exps;
		ws[n++] = &L->up_exps;
		ws[n++] = &L->down_exps;
		if ((r = pack_group(m, ws, n, err)) != CL_OK)
			return r;
		if (opts->progress != NULL && il + 1 < m->hp.n_layer)
			opts->progress(opts->progress_arg, p0 + (1.0 - p0) *
			    (double)(il + 1) / (double)(m->hp.n_layer + 1));
	}
	/* The embedding is read a row at a time (kern_ops.row_f32). */
	tied = m->output.data == m->tok_embd.data;
	if (m->kern->row_f32_packed != NULL &&
	    m->kern->row_f32_packed(m->tok_embd.type)) {
		ws[0] = &m->tok_embd;
		if ((r = pack_group(m, ws, 1, err)) != CL_OK)
			return r;
		if (tied)
			m->output = m->tok_embd;
	}
	if (tied)
		return CL_OK;
	ws[0] = &m->output;
	return pack_group(m, ws, 1, err);
}

/* ------------------------------------------------------------------ */
/* 6. public entry points                                              */

static int
default_threads(void)
{
	cpu_set_t set;
	int n;

	/* sched_getaffinity needs no file access (works in the jail). */
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	n = CPU_COUNT(&set);
	if (n < 1)
		n = 1;
	return n > 64 ? 64 : n;
}

static void
fill_info(struct engine_model *m)
{
	struct engine_model_info *in = &m->info;
	struct lfm2_hparams *hp = &m->hp;
	uint32_t counts[GGML_TYPE_COUNT] = { 0 };
	uint64_t expert_params = 0, n;
	const struct gguf_tensor *t;
	const char *s;
	size_t i, len, pos = 0;
	uint32_t ty;

	memset(in, 0, sizeof(*in));
	snprintf(in->arch, sizeof(in->arch), "%s", arch_name(m));
	if (gguf_get_str(m->gguf, "general.name", &s, &len, NULL) == CL_OK &&
	    cl_utf8_valid(s, len))
		snprintf(in->name, sizeof(in->name), "%.*s",
		    (int)(len < sizeof(in->name) ? len : sizeof(in->name) - 1),
		    s);
	in->n_layer = hp->n_layer;
	for (i = 0; i < hp->n_layer; i++) {
		if (m->layers[i].is_attn) {
			in->n_attn_layers++;
			in->n_head_kv = m->layers[i].n_head_kv;
		}
	}
	in->n_embd = hp->n_embd;
	in->n_head = hp->n_head;
	in->n_vocab = hp->n_vocab;
	in->n_ctx_train = hp->n_ctx_train;
	in->n_ctx_default = hp->n_ctx_train == 0 ||
	    hp->n_ctx_train > DEFAULT_CTX ? DEFAULT_CTX : hp->n_ctx_train;
	in->n_expert = hp->n_expert;
	in->n_expert_used = hp->n_expert_used;
	for (i = 0; i < gguf_n_tensors(m->gguf); i++) {
		t = gguf_tensor_at(m->gguf, i);
		n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
		in->n_params += n;
		if (strstr(t->name, "_exps.") != NULL)
			expert_params += n;
		if (t->type < GGML_TYPE_COUNT)
			counts[t->type]++;
	}
	in->n_params_active = in->n_params;
	if (hp->n_expert > 0)
		in->n_params_active -= expert_params / hp->n_expert *
		    (hp->n_expert - hp->n_expert_used);
	in->file_size = gguf_size(m->gguf);
	for (ty = 0; ty < GGML_TYPE_COUNT; ty++) {
		if (counts[ty] == 0 || pos >= sizeof(in->types) - 1)
			continue;
		pos += (size_t)snprintf(in->types + pos,
		    sizeof(in->types) - pos, "%s%s:%u", pos ? " " : "",
		    ggml_type_info(ty)->name, counts[ty]);
	}
	snprintf(in->kernels, sizeof(in->kernels), "%s", m->kern->name);
	in->n_threads = pool_size(m->pool);
}

int
engine_model_load(int fd, const struct engine_load_opts *opts,
    struct engine_model **out, struct cl_err *err)
{
	struct engine_load_opts dflt = { 0, ENGINE_KERNELS_AUTO, NULL, NULL, 0 };
	struct engine_model *m = NULL;
	uint32_t i;
	int r, n_threads;

	*out = NULL;
	if (opts == NULL)
		opts = &dflt;
	if ((m = cl_calloc(1, sizeof(*m))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	if (opts->progress != NULL)
		opts->progress(opts->progress_arg, 0.0);
	if ((r = (opts->file_size > 0 ? gguf_open_fd_sized(fd,
	    opts->file_size, &m->gguf, err) : gguf_open_fd(fd, &m->gguf,
	    err))) != CL_OK)
		goto out;
	if ((r = load_hparams(m, err)) != CL_OK ||
	    (r = load_tensors(m, err)) != CL_OK)
		goto out;
	if (opts->progress != NULL)
		opts->progress(opts->progress_arg, 0.1);
	if ((r = load_tokenizer(m, err)) != CL_OK)
		goto out;

	if ((m->rope_inv_freq = cl_calloc(m->hp.head_dim / 2,
	    sizeof(double))) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < m->hp.head_dim / 2; i++)
		m->rope_inv_freq[i] = pow((double)m->hp.rope_base,
		    -2.0 * (double)i / (double)m->hp.head_dim);

	m->kern = kern_ops_select(opts->kernels == ENGINE_KERNELS_REF ?
	    KERN_FORCE_REF : KERN_AUTO);
	n_threads = opts->n_threads > 0 ? opts->n_threads : default_threads();
	if ((r = pool_new(n_threads, &m->pool, err)) != CL_OK)
		goto out;
	/* After fill_info: it reads the stored types of the tensors. */
	fill_info(m);
	if (opts->progress != NULL)
		opts->progress(opts->progress_arg, 0.2);
	if ((r = pack_weights(m, opts, 0.2, err)) != CL_OK)
		goto out;
	if (opts->progress != NULL)
		opts->progress(opts->progress_arg, 1.0);
	*out = m;
	m = NULL;
	r = CL_OK;
out:
	engine_model_free(m);
	return r;
}

void
engine_model_free(struct engine_model *m)
{
	uint32_t i;

	if (m == NULL)
		return;
	pool_free(m->pool);
	tokenizer_free(m->tok);
	if (m->layers != NULL) {
		for (i = 0; i < m->hp.n_layer; i++) {
			struct lfm2_layer *L = &m->layers[i];

			cl_free(L->attn_norm);
			cl_free(L->ffn_norm);
			cl_free(L->conv);
			cl_free(L->q_norm);
			cl_free(L->k_norm);
			cl_free(L->exp_bias);
		}
	}
	for (i = 0; i < m->n_pack_mem; i++)
		munmap(m->pack_mem[i], m->pack_len[i]);
	cl_free(m->pack_mem);
	cl_free(m->pack_len);
	cl_free(m->layers);
	cl_free(m->output_norm);
	cl_free(m->rope_inv_freq);
	gguf_close(m->gguf);
	cl_free(m);
}

const struct engine_model_info *
engine_model_get_info(const struct engine_model *m)
{
	return &m->info;
}

int
engine_tokenize(const struct engine_model *m, const char *text, size_t len,
    bool add_bos, int32_t **ids, size_t *n_ids, struct cl_err *err)
{
	return tokenizer_encode(m->tok, text, len, false, add_bos, ids, n_ids,
	    err);
}

int
engine_tokenize_special(const struct engine_model *m, const char *text,
    size_t len, bool add_bos, int32_t **ids, size_t *n_ids,
    struct cl_err *err)
{
	return tokenizer_encode(m->tok, text, len, true, add_bos, ids, n_ids,
	    err);
}

int
engine_chat_tokenize(const struct engine_model *m,
    const struct engine_chat_msg *msgs, size_t n_msgs,
    bool add_generation_prompt, int32_t **ids, size_t *n_ids,
    struct cl_err *err)
{
	struct tok_chat_msg *tm;
	size_t i;
	int r;

	*ids = NULL;
	if ((tm = cl_calloc(n_msgs ? n_msgs : 1, sizeof(*tm))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	for (i = 0; i < n_msgs; i++) {
		tm[i].role = msgs[i].role;
		tm[i].text = msgs[i].text;
		tm[i].text_len = msgs[i].text_len;
	}
	r = tokenizer_chat_encode(m->tok, tm, n_msgs, add_generation_prompt,
	    ids, n_ids, err);
	cl_free(tm);
	return r;
}

bool
engine_token_bytes(const struct engine_model *m, int32_t id, const char **p,
    size_t *len)
{
	return tokenizer_token_bytes(m->tok, id, false, p, len) == CL_OK;
}

bool
engine_token_is_eog(const struct engine_model *m, int32_t id)
{
	return tokenizer_is_eog(m->tok, id);
}
