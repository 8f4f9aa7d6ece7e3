/*
 * engine.h - the LFM2 / LFM2-MoE inference engine.
 *
 * Owns: loading a model from an already-open GGUF file descriptor (never a
 * path), validating every hyper-parameter and tensor shape against the
 * architecture before anything runs, the forward pass of the dense `lfm2`
 * and mixture-of-experts `lfm2moe` architectures (lfm2-spec.md section 5),
 * per-sequence caches (attention KV and short-convolution state), the
 * tokenizer and chat template, and the sampler.
 *
 * Layering: engine depends on util only.  It holds no secrets and knows
 * nothing of the store, the audit log or the policy; in cloister it runs
 * inside the jailed `cloister-engine` process.  The model file is hostile
 * input: every failure is a CL_E* code with a message, never a crash.
 *
 * Threads: a model owns a pool of compute threads (started at load time,
 * which in cloister-engine is after the sandbox is entered).  A model may
 * have several contexts, but only one call into the engine runs at a time
 * per model; the engine does not lock.
 */
#ifndef CLOISTER_ENGINE_H
#define CLOISTER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

struct engine_model;
struct engine_ctx;
struct engine_sampler;

/* Which compute kernels to use. */
enum engine_kernels {
	ENGINE_KERNELS_AUTO = 0,	/* fastest the CPU supports */
	ENGINE_KERNELS_REF = 1		/* plain scalar reference: weights
					   dequantized, activations in float */
};

struct engine_load_opts {
	int			 n_threads;	/* compute threads, 0 = default */
	enum engine_kernels	 kernels;
	/*
	 * Called during loading with the fraction done, never decreasing:
	 * 0, then after the tensors are bound, after the tokenizer, once per
	 * layer while weights are relaid for the kernels, and 1.  May be
	 * NULL.
	 */
	void			(*progress)(void *arg, double fraction);
	void			*progress_arg;
	/*
	 * The size of fd's file in bytes, when the caller measured it
	 * (fstat) before entering a jail that forbids fstat; 0 = measure it
	 * here.  The caller has checked that fd is a regular file.
	 */
	uint64_t		 file_size;
};

/* Facts about a loaded model (what HELLO reports and doctor prints). */
struct engine_model_info {
	char		arch[16];		/* "lfm2" or "lfm2moe" */
	char		name[64];		/* general.name, may be empty */
	uint32_t	n_layer;
	uint32_t	n_attn_layers;		/* layers with attention */
	uint32_t	n_embd;			/* d */
	uint32_t	n_head;
	uint32_t	n_head_kv;		/* on attention layers */
	uint32_t	n_vocab;
	uint32_t	n_ctx_train;		/* from the file */
	uint32_t	n_ctx_default;		/* what the engine uses by default */
	uint32_t	n_expert;		/* 0 for dense */
	uint32_t	n_expert_used;
	uint64_t	n_params;		/* all weights */
	uint64_t	n_params_active;	/* weights used per token */
	uint64_t	file_size;		/* bytes */
	char		types[64];		/* e.g. "Q4_0:132 F32:123 Q6_K:1" */
	char		kernels[16];		/* kernel variant in use */
	int		n_threads;
};

/*
 * Load a model from the open GGUF file `fd` (read-only; the descriptor is
 * only used during the call: the file is mapped, and the caller may close
 * `fd` afterwards).  Validates the container, the architecture, every
 * hyper-parameter and the exact shape and type of every tensor, builds the
 * tokenizer, and starts the compute threads.  On success *out holds the
 * model; the caller frees it with engine_model_free().  `opts` may be NULL
 * for defaults.
 */
int	engine_model_load(int fd, const struct engine_load_opts *opts,
	    struct engine_model **out, struct cl_err *err) CL_WUR;
/* Free a model (NULL-safe).  Its contexts must be freed first. */
void	engine_model_free(struct engine_model *m);
/* Borrowed; valid until engine_model_free(). */
const struct engine_model_info *engine_model_get_info(
	    const struct engine_model *m);

/*
 * Tokenize user text: never parses special tokens (a user typing
 * "<|im_end|>" gets plain-text tokens), adds the BOS token when `add_bos`.
 * The caller frees *ids with cl_free().
 */
int	engine_tokenize(const struct engine_model *m, const char *text,
	    size_t len, bool add_bos, int32_t **ids, size_t *n_ids,
	    struct cl_err *err) CL_WUR;
/*
 * Tokenize text in which special-token texts ("<|im_start|>") are turned
 * into their ids.  For trusted template text and tests only.
 */
int	engine_tokenize_special(const struct engine_model *m, const char *text,
	    size_t len, bool add_bos, int32_t **ids, size_t *n_ids,
	    struct cl_err *err) CL_WUR;

/* One chat message; role is "system", "user", "assistant" or "tool". */
struct engine_chat_msg {
	const char	*role;
	const char	*text;
	size_t		 text_len;
};
/*
 * Render messages with the LFM2 chat template (exactly one BOS; message
 * text never parsed for special tokens) and, if `add_generation_prompt`,
 * the assistant turn opener.  Caller frees *ids with cl_free().
 */
int	engine_chat_tokenize(const struct engine_model *m,
	    const struct engine_chat_msg *msgs, size_t n_msgs,
	    bool add_generation_prompt, int32_t **ids, size_t *n_ids,
	    struct cl_err *err) CL_WUR;
/*
 * The raw bytes of token `id` (control tokens give zero bytes).  Borrowed;
 * valid until engine_model_free().  Returns false for an id out of range.
 */
bool	engine_token_bytes(const struct engine_model *m, int32_t id,
	    const char **p, size_t *len);
/* True for end-of-generation tokens (<|im_end|>, <|endoftext|>, eos). */
bool	engine_token_is_eog(const struct engine_model *m, int32_t id);

/*
 * A context: one sequence's caches (KV for attention layers, state for the
 * short-convolution layers) and scratch space, for up to `n_ctx` tokens
 * (0 = the model's default).  Caller frees with engine_ctx_free().
 */
int	engine_ctx_new(struct engine_model *m, uint32_t n_ctx,
	    struct engine_ctx **out, struct cl_err *err) CL_WUR;
void	engine_ctx_free(struct engine_ctx *c);
/* Forget the sequence: the next token is at position 0. */
void	engine_ctx_reset(struct engine_ctx *c);
/* Tokens evaluated so far (the next position). */
uint32_t engine_ctx_pos(const struct engine_ctx *c);
uint32_t engine_ctx_n_ctx(const struct engine_ctx *c);

/*
 * Evaluate tokens[0..n) at the next positions of the sequence (a prompt is
 * processed in batches).  When `logits` is not NULL it receives the
 * logits: n_vocab floats for the last token, or n * n_vocab (row per
 * token) when `all_logits`.  Fails with CL_ELIMIT when the context is
 * full and CL_EINVAL for a token id out of range; on failure the context
 * is unchanged.
 */
int	engine_ctx_eval(struct engine_ctx *c, const int32_t *tokens, size_t n,
	    float *logits, bool all_logits, struct cl_err *err) CL_WUR;

/* Sampling settings; names follow llama.cpp's flags. */
struct engine_sampling {
	float		temperature;	/* <= 0: greedy (argmax) */
	int32_t		top_k;		/* <= 0: off */
	float		top_p;		/* >= 1: off */
	float		min_p;		/* <= 0: off */
	float		repeat_penalty;	/* 1: off (HF semantics) */
	int32_t		repeat_last_n;	/* tokens the penalty looks back */
	uint64_t	seed;
};

/*
 * The model cards' recommended settings for LFM2 (lfm2-spec.md section
 * 8): temperature 0.3, min_p 0.15, repetition penalty 1.05 over the last
 * 64 tokens, top-k and top-p off.
 */
void	engine_sampling_defaults(struct engine_sampling *s);
/* Check ranges; CL_EINVAL with the field named when out of range. */
int	engine_sampling_check(const struct engine_sampling *s,
	    struct cl_err *err) CL_WUR;

/*
 * A sampler with its own seeded random generator.  Order of the chain:
 * repetition penalty, top-k, top-p, min-p, temperature, draw (llama.cpp's
 * default order).  Caller frees with engine_sampler_free().
 */
int	engine_sampler_new(const struct engine_sampling *s, uint32_t n_vocab,
	    struct engine_sampler **out, struct cl_err *err) CL_WUR;
void	engine_sampler_free(struct engine_sampler *s);
/*
 * Choose the next token from `logits` (n_vocab floats, modified in place)
 * given the tokens so far (`history`, n_history entries) for the penalty.
 */
int32_t	engine_sampler_sample(struct engine_sampler *s, float *logits,
	    const int32_t *history, size_t n_history);

#endif /* CLOISTER_ENGINE_H */
