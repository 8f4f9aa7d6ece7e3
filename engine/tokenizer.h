/*
 * tokenizer.h - the LFM2 byte-level BPE tokenizer (lfm2-spec.md section 7).
 * Internal to engine/.
 *
 * Owns: a vocabulary built from plain arrays (the GGUF glue lives in the
 * model loader, so this file does not depend on the GGUF reader), text
 * to token ids (special-token partition, the `lfm2` = Llama-3 pre-token
 * split, GPT-2 byte map, BPE with merge ranks and ignore_merges), the
 * ChatML-like chat template, and token ids back to bytes with a
 * streaming decoder that never splits a UTF-8 sequence.
 *
 * Decisions (and where they differ from llama.cpp):
 *
 * - Text given with parse_special == false is never searched for special
 *   token texts, not even USER_DEFINED ones (llama.cpp always matches
 *   those).  User-supplied text can therefore never produce a control
 *   id: a user typing "<|im_end|>" gets the plain-text tokens.  The
 *   ignore_merges shortcut (a whole pre-token that is itself a token)
 *   likewise only yields NORMAL or BYTE tokens.
 * - Invalid UTF-8 in the input is kept, not replaced: each byte that does
 *   not start a well-formed sequence is a unit of its own, classed as a
 *   symbol (as llama.cpp classes the U+FFFD it substitutes), and is
 *   byte-mapped as that raw byte.  So encode -> decode is the identity
 *   on every byte string.  Unassigned code points are symbols too (the
 *   regex [^\s\p{L}\p{N}] matches them; llama.cpp splits them off alone).
 * - The vocabulary is validated strictly, as HF tokenizers does: it must
 *   hold all 256 byte tokens, no two tokens may share a text, every merge
 *   must be "LEFT RIGHT" with both parts and their concatenation tokens
 *   (a merge that breaks this is an error, not skipped: it cannot come
 *   from a well-formed tokenizer.json), NORMAL and BYTE tokens must be
 *   valid byte-mapped text.  Where a pair is listed twice the first
 *   (lowest) rank wins.  A valid merge whose parts or result are not
 *   NORMAL/BYTE tokens (say, a merge that spells a CONTROL token's text)
 *   is accepted but never applied, so plain text cannot merge into a
 *   special id; HF and llama.cpp would apply it.
 * - Special-token partition (parse_special == true) follows llama.cpp:
 *   CONTROL and USER_DEFINED tokens, longest text first, each claiming
 *   its non-overlapping occurrences left to right in what earlier, longer
 *   tokens left unclaimed.  Empty special texts are never matched.
 *
 * Layering: depends on util/ and engine/unicode.h only.
 *
 * Threads: a struct tokenizer is immutable after tokenizer_new(); any
 * number of threads may encode and decode with it at once.  A struct
 * tok_decoder belongs to one thread.
 *
 * Privacy: error messages give ids, indices and lengths, never token or
 * input text.
 */
#ifndef CLOISTER_TOKENIZER_H
#define CLOISTER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* Token types as stored in tokenizer.ggml.token_type. */
#define TOK_TYPE_NORMAL		1
#define TOK_TYPE_UNKNOWN	2
#define TOK_TYPE_CONTROL	3
#define TOK_TYPE_USER_DEFINED	4
#define TOK_TYPE_UNUSED		5
#define TOK_TYPE_BYTE		6

/* Limits on hostile vocabularies. */
#define TOK_MAX_TOKENS		(1u << 22)	/* tokens in a vocabulary */
#define TOK_MAX_MERGES		(1u << 22)	/* merges */
#define TOK_MAX_TOKEN_LEN	4096u		/* bytes of one token's text */

/* A vocabulary to build a tokenizer from; all of it is borrowed. */
struct tok_vocab_src {
	size_t			 n_tokens;	/* entries in tokens[] */
	const char *const	*tokens;	/* mapped text, no NUL needed */
	const size_t		*token_lens;	/* bytes of each tokens[i] */
	const int32_t		*token_types;	/* TOK_TYPE_*; NULL: NORMAL */
	size_t			 n_merges;	/* entries in merges[] */
	const char *const	*merges;	/* "LEFT RIGHT"; rank = index */
	const size_t		*merge_lens;	/* bytes of each merges[i] */
	int32_t			 bos_id;	/* -1 if absent */
	int32_t			 eos_id;	/* -1 if absent */
	bool			 add_bos;	/* add_bos_token key */
};

/* A tokenizer.  Opaque. */
struct tokenizer;

/*
 * Build a tokenizer from `src`, copying everything it needs (the source
 * arrays may be freed afterwards).  Returns CL_OK and stores the new
 * tokenizer in *out (caller frees with tokenizer_free()), or CL_EFORMAT
 * (hostile or malformed vocabulary: the message names the token or merge
 * index and what is wrong), CL_ELIMIT (sizes above the TOK_MAX_* limits),
 * CL_EINVAL (NULL arrays with non-zero counts) or CL_ENOMEM, with *out
 * set to NULL.
 */
int tokenizer_new(const struct tok_vocab_src *src, struct tokenizer **out,
    struct cl_err *err) CL_WUR;

/* Release `t`.  NULL is a no-op. */
void tokenizer_free(struct tokenizer *t);

/*
 * Encode text[0..len) (any bytes; see the header comment for invalid
 * UTF-8).  With parse_special, occurrences of CONTROL and USER_DEFINED
 * token texts become those ids (template text and tests only, never user
 * text).  With add_bos, the result starts with the BOS id; if it already
 * does (parse_special text beginning with the BOS text) no second BOS is
 * added, so the sequence starts with exactly one.  Returns CL_OK and
 * stores a new array in *ids (caller frees with cl_free(); NULL when *n
 * is 0) and its length in *n, or CL_EINVAL (add_bos without a BOS id),
 * CL_ELIMIT (text longer than INT32_MAX bytes) or CL_ENOMEM, with *ids
 * NULL and *n 0.  Speed: O(n log n) in the length of each pre-token;
 * about 1 ms for 64 KB of English prose with a 65536-token vocabulary
 * (measured on an unoptimised build).
 */
int tokenizer_encode(const struct tokenizer *t, const char *text,
    size_t len, bool parse_special, bool add_bos, int32_t **ids, size_t *n,
    struct cl_err *err) CL_WUR;

/* One chat message.  `role` is a C string; text[0..text_len) any bytes. */
struct tok_chat_msg {
	const char	*role;		/* system, user, assistant, tool */
	const char	*text;		/* content, never parsed for specials */
	size_t		 text_len;	/* bytes of text */
};

/*
 * Render and encode a chat (lfm2-spec.md 7.8): the id of <|startoftext|>
 * once, then per message <|im_start|> role "\n" content <|im_end|> "\n",
 * then <|im_start|> "assistant\n" if add_generation_prompt.  Special
 * tokens are emitted as ids; role, content and newlines are encoded as
 * plain text (role "\n" content as one fragment, exactly as the rendered
 * template string is split by parse_special encoding).  Returns CL_OK
 * and stores a new array in *ids (caller frees with cl_free()) and its
 * length in *n_ids, or CL_EINVAL (unknown role, NULL role or text with a
 * non-zero length), CL_EUNSUPPORTED (the vocabulary lacks one of the
 * three special tokens) or CL_ENOMEM/CL_ELIMIT, with *ids NULL.
 */
int tokenizer_chat_encode(const struct tokenizer *t,
    const struct tok_chat_msg *msgs, size_t n, bool add_generation_prompt,
    int32_t **ids, size_t *n_ids, struct cl_err *err) CL_WUR;

/*
 * The bytes token `id` stands for.  NORMAL and BYTE tokens give their
 * text with the byte map inverted; USER_DEFINED tokens their literal
 * text; CONTROL and UNKNOWN tokens their literal text when `special` is
 * true and nothing otherwise; UNUSED tokens nothing.  *p is borrowed,
 * valid until tokenizer_free(), not NUL-terminated (non-NULL even when
 * *len is 0).  Returns CL_OK, or CL_EINVAL for an id out of range (then
 * *p and *len are unchanged).
 */
int tokenizer_token_bytes(const struct tokenizer *t, int32_t id,
    bool special, const char **p, size_t *len) CL_WUR;

/*
 * The id of the token whose stored text is exactly text[0..len) (the
 * byte-mapped form for NORMAL tokens, the literal form for specials), or
 * -1.  tokenizer_find_token() takes a C string.
 */
int32_t tokenizer_find_token_n(const struct tokenizer *t, const char *text,
    size_t len);
int32_t tokenizer_find_token(const struct tokenizer *t, const char *text);

/* The TOK_TYPE_* of `id`, or 0 if out of range. */
int tokenizer_token_type(const struct tokenizer *t, int32_t id);

/*
 * True when `id` ends generation: the EOS id, <|im_end|> or
 * <|endoftext|> (whichever exist).
 */
bool tokenizer_is_eog(const struct tokenizer *t, int32_t id);

/* Vocabulary size, BOS and EOS ids (-1 if absent), add_bos_token. */
size_t	tokenizer_n_vocab(const struct tokenizer *t);
int32_t	tokenizer_bos(const struct tokenizer *t);
int32_t	tokenizer_eos(const struct tokenizer *t);
bool	tokenizer_add_bos(const struct tokenizer *t);

/*
 * Streaming decoder: feeds token ids, appends bytes to a cl_buf, and
 * holds back an incomplete UTF-8 sequence at the end until a later token
 * completes it, so every append ends on a code point boundary (invalid
 * bytes are passed through as they are, they cannot be completed).
 * Embed it; tok_decoder_init() it; no release needed.
 */
struct tok_decoder {
	char	pending[4];	/* held-back incomplete tail */
	size_t	n_pending;	/* 0..3 bytes in pending */
	bool	special;	/* render CONTROL tokens' text */
};

void	tok_decoder_init(struct tok_decoder *d, bool special);
/*
 * Append the complete part of (held bytes + bytes of `id`) to `out`.
 * Returns CL_OK, CL_EINVAL (id out of range; nothing changes) or
 * CL_ENOMEM (`out` and the held bytes are unchanged).
 */
int	tok_decoder_feed(struct tok_decoder *d, const struct tokenizer *t,
	    int32_t id, struct cl_buf *out, struct cl_err *err) CL_WUR;
/*
 * End of stream: append the held-back bytes (an incomplete sequence,
 * passed as they are) to `out` and reset.  Returns CL_OK or CL_ENOMEM.
 */
int	tok_decoder_flush(struct tok_decoder *d, struct cl_buf *out,
	    struct cl_err *err) CL_WUR;

/*
 * GPT-2 byte map (lfm2-spec.md 7.3): the code point byte `b` is stored
 * as, and the inverse (-1 for a code point that is no byte's image).
 */
uint32_t tokenizer_byte_to_cp(uint8_t b);
int	 tokenizer_cp_to_byte(uint32_t cp);

/*
 * Split text[0..len) into pre-tokens with the `lfm2` (Llama-3) pattern of
 * lfm2-spec.md 7.4.  Calls fn(arg, offset, length) for each piece in
 * order; the pieces tile the input exactly.  Stops and returns the
 * callback's first non-zero result, else 0.  Exposed for tests and for
 * the synthetic vocabulary trainer.
 */
int	tokenizer_pretokenize(const char *text, size_t len,
	    int (*fn)(void *arg, size_t off, size_t n), void *arg);

#endif /* CLOISTER_TOKENIZER_H */
