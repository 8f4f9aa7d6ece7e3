/*
 * engine_impl.h - internals of the LFM2 engine shared by model.c (loading
 * and validation) and lfm2.c (the forward pass).  Internal to engine/.
 *
 * Shapes use ggml's ne order (lfm2-spec.md conventions): a weight with
 * ne = {n_in, n_out} is n_out rows of n_in elements, applied as y = W x.
 */
#ifndef CLOISTER_ENGINE_IMPL_H
#define CLOISTER_ENGINE_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/kern.h"
#include "engine/pool.h"
#include "engine/tokenizer.h"

#define LFM2_MAX_LAYERS		256
#define LFM2_MAX_EXPERTS	512
#define LFM2_MAX_BATCH		256	/* tokens per forward chunk */

enum lfm2_arch {
	LFM2_ARCH_DENSE,		/* "lfm2" */
	LFM2_ARCH_MOE			/* "lfm2moe" */
};

enum lfm2_gating {
	LFM2_GATING_SOFTMAX = 1,
	LFM2_GATING_SIGMOID = 2
};

/* A weight matrix (or stack of matrices) inside the mapped file. */
struct lfm2_weight {
	uint32_t	 type;		/* enum ggml_type */
	uint64_t	 ne[4];		/* ne[0] = row length */
	const uint8_t	*data;		/* first row, in the mapping */
	size_t		 row_bytes;	/* stride between rows */
	size_t		 slab_bytes;	/* stride between ne[2] slabs */
};

/* Per-layer tensors; which are set depends on the layer kind. */
struct lfm2_layer {
	bool			is_attn;	/* attention (else short conv) */
	bool			is_moe;		/* MoE FFN (else dense) */
	uint32_t		n_head_kv;	/* attention layers only */
	uint32_t		n_ff;		/* dense FFN width */
	float			*attn_norm;	/* (d) owned f32 copy */
	float			*ffn_norm;	/* (d) owned f32 copy */
	/* short conv */
	struct lfm2_weight	in_proj;	/* {d, 3d}: rows B | C | x */
	float			*conv;		/* (d, L) owned: row c = taps */
	struct lfm2_weight	out_proj;	/* {d, d} */
	/* attention */
	struct lfm2_weight	wq;		/* {d, H*Dh} */
	struct lfm2_weight	wk;		/* {d, Hkv*Dh} */
	struct lfm2_weight	wv;		/* {d, Hkv*Dh} */
	float			*q_norm;	/* (Dh) owned */
	float			*k_norm;	/* (Dh) owned */
	struct lfm2_weight	wo;		/* {H*Dh, d} */
	/* dense FFN */
	struct lfm2_weight	ffn_gate;	/* {d, n_ff} */
	struct lfm2_weight	ffn_up;		/* {d, n_ff} */
	struct lfm2_weight	ffn_down;	/* {n_ff, d} */
	/* MoE FFN */
	struct lfm2_weight	router;		/* {d, E} */
	float			*exp_bias;	/* (E) owned, zeros if absent */
	struct lfm2_weight	gate_exps;	/* {d, n_ff_exp, E} */
	struct lfm2_weight	up_exps;	/* {d, n_ff_exp, E} */
	struct lfm2_weight	down_exps;	/* {n_ff_exp, d, E} */
};

struct lfm2_hparams {
	enum lfm2_arch		arch;
	uint32_t		n_layer;
	uint32_t		n_embd;		/* d */
	uint32_t		n_head;		/* H */
	uint32_t		head_dim;	/* Dh = d / H */
	uint32_t		n_vocab;	/* V */
	uint32_t		n_ctx_train;
	uint32_t		l_cache;	/* conv kernel length L */
	uint32_t		n_expert;	/* E, 0 for dense */
	uint32_t		n_expert_used;	/* K */
	uint32_t		n_ff_exp;
	uint32_t		n_dense_lead;
	enum lfm2_gating	gating;
	float			expert_weights_scale;	/* 1 = none */
	float			rms_eps;
	float			rope_base;
	uint32_t		max_ff;		/* widest dense FFN */
	uint32_t		max_kv_dim;	/* widest Hkv * Dh */
};

struct engine_model {
	struct gguf		*gguf;		/* owns the mapping */
	struct lfm2_hparams	 hp;
	struct lfm2_layer	*layers;	/* hp.n_layer */
	struct lfm2_weight	 tok_embd;	/* {d, V} */
	struct lfm2_weight	 output;	/* {d, V}: tok_embd when tied */
	float			*output_norm;	/* (d) owned: the final norm */
	double			*rope_inv_freq;	/* (Dh/2) base^(-2i/Dh) */
	struct tokenizer	*tok;
	const struct kern_ops	*kern;
	struct pool		*pool;
	/* Anonymous regions holding relaid weights (model.c, "packing"). */
	void			**pack_mem;
	size_t			*pack_len;
	size_t			 n_pack_mem;
	struct engine_model_info info;
};

/*
 * Per-thread scratch.  Decode (one token) prepares each matrix input in
 * every thread privately rather than once and then waiting at a barrier;
 * every thread also routes the chunk's tokens itself (the same result in
 * each), so no thread waits for a serial routing step.
 */
struct lfm2_tscratch {
	float			*xn;		/* (d) normed input, decode */
	void			*act_in[3];	/* one row each, decode */
	void			*act_mid;	/* one row, decode */
	void			*act_h;		/* (K) rows, decode */
	int32_t			*sel;		/* (B, K) chosen experts */
	float			*sel_w;		/* (B, K) their weights */
	int32_t			*slot_tok;	/* (B*K) token of each slot */
	float			*slot_w;	/* (B*K) its expert weight */
	int32_t			*ex_id;		/* (E) used experts, by id */
	uint32_t		*ex_base;	/* (E) first slot of each */
	uint32_t		*ex_n;		/* (E) slots (tokens) of each */
	uint32_t		 n_active;	/* experts in use this chunk */
	uint32_t		 n_slot;
};

/*
 * Scratch and caches of one sequence.  B = LFM2_MAX_BATCH; "act" buffers
 * hold rows prepared by kern->act_prepare, each row act_stride(n) bytes
 * (64-byte aligned, enough for any weight type) apart.
 */
struct engine_ctx {
	struct engine_model	*m;
	uint32_t		 n_ctx;
	uint32_t		 pos;		/* next position */
	float			**k_cache;	/* per layer: (n_ctx, kv_dim) or NULL */
	float			**v_cache;
	float			**conv_state;	/* per layer: (d, L-1) or NULL */
	float			*x;		/* (B, d) residual stream */
	float			*xn;		/* (B, d) normed input */
	float			*big;		/* (B, max(3d, q+k+v, 2*ff)) */
	float			*mix;		/* (B, max(d, H*Dh)) */
	float			*out;		/* (B, d) block output */
	float			*att_scores;	/* (n_threads, n_ctx) */
	double			*rope_cs;	/* (n_threads, Dh): cos | sin */
	void			*arena;		/* owns the act buffers */
	void			*act_in[3];	/* (B) rows of xn, per type */
	void			*act_mid;	/* (B) rows of mix or hidden */
	/* MoE scratch; "slots" are (expert, token) pairs, by expert */
	float			*router;	/* (B, E) */
	struct lfm2_tscratch	*ts;		/* (n_threads) */
	atomic_size_t		*work;		/* work counters (lfm2.c) */
	void			*act_gate;	/* (B*K) gathered rows of xn */
	void			*act_up;	/* same for the up type */
	void			*act_h;		/* (B*K) rows of the hidden */
	float			*hg;		/* (B*K, n_ff_exp) hidden */
	float			*hu;		/* (B*K, n_ff_exp) up */
	float			*ys;		/* (B*K, d) expert outputs */
};

/* Loading helpers (model.c) used by lfm2.c. */
/* Size of the activation scratch needed for rows of n inputs. */
size_t	lfm2_act_bytes(const struct engine_model *m, uint32_t wtype, size_t n);

/* The forward pass (lfm2.c). */
int	lfm2_forward(struct engine_ctx *c, const int32_t *tokens, size_t n,
	    float *logits, bool all_logits, struct cl_err *err);

#endif /* CLOISTER_ENGINE_IMPL_H */
