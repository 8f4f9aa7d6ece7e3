/*
 * vocab_synth.h - a synthetic LFM2-style byte-level BPE vocabulary for
 * cloister-mkmodel and the tests.  Internal to engine/; built as its own
 * library (libvocabsynth.a) so the shipped engine never links it.
 *
 * Owns: building the token texts (byte-level mapped, lfm2-spec.md 7.3),
 * token types and merges of a vocabulary of exactly n_vocab tokens:
 *
 *   ids 0..13      the LFM2 specials of spec 7.2, in order, CONTROL
 *   ids 14..269    the 256 byte tokens, in byte order, NORMAL
 *   then           the required pieces (vocab_synth_build_ex), NORMAL
 *   then           merge results: first learned by byte-level BPE training
 *                  on the corpus (pairs seen at least twice, counted within
 *                  pre-tokens of the `lfm2` split, so merges never cross a
 *                  pre-token boundary; ties to the smaller id pair), then,
 *                  when the corpus has no such pair left, synthetic merges
 *                  of an existing token and a lowercase letter, until
 *                  n_vocab is reached
 *   64394..64399   when n_vocab == 65536: <|cot_start|> ... <|file_end|>,
 *                  CONTROL, as in the real LFM2 vocabulary
 *
 * Invariants of the result: token texts are unique; every merge is
 * "LEFT RIGHT" and LEFT, RIGHT and LEFTRIGHT are all tokens; the result
 * builds a tokenizer (tokenizer_new()) without error.  BOS is 1, EOS 7
 * (<|im_end|>), pad 0.  The output is a pure function of the arguments.
 *
 * Layering: depends on util/ and engine/tokenizer.h (its pre-tokenizer).
 */
#ifndef CLOISTER_VOCAB_SYNTH_H
#define CLOISTER_VOCAB_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"
#include "util/util.h"

#define VOCAB_SYNTH_MIN		270u		/* 14 specials + 256 bytes */
#define VOCAB_SYNTH_MAX		(1u << 20)	/* tokens */
#define VOCAB_SYNTH_MAX_CORPUS	(64u << 10)	/* bytes of training text */
#define VOCAB_SYNTH_MAX_MERGED	64u		/* bytes of a learned token */

/* A built vocabulary.  Read-only for callers; free with vocab_synth_free(). */
struct vocab_synth {
	size_t	  n_tokens;	/* == n_vocab */
	char	**tokens;	/* mapped text, NUL-terminated, owned */
	size_t	 *token_lens;	/* bytes of each token's text */
	int32_t	 *token_types;	/* TOK_TYPE_* */
	size_t	  n_merges;
	char	**merges;	/* "LEFT RIGHT", NUL-terminated; rank = index */
	size_t	 *merge_lens;	/* bytes of each merge */
	int32_t	  bos_id;	/* 1 */
	int32_t	  eos_id;	/* 7 */
	int32_t	  pad_id;	/* 0 */
};

/*
 * Build a vocabulary of n_vocab tokens (VOCAB_SYNTH_MIN ..
 * VOCAB_SYNTH_MAX), training on corpus[0..corpus_len) (any bytes), or on
 * a built-in English text of a few KB when `corpus` is NULL.  Returns
 * CL_OK and stores the result in *out (caller frees with
 * vocab_synth_free()), or CL_EINVAL (n_vocab out of range), CL_ELIMIT
 * (corpus longer than VOCAB_SYNTH_MAX_CORPUS) or CL_ENOMEM, with *out
 * set to NULL.
 */
int	vocab_synth_build(size_t n_vocab, const char *corpus,
	    size_t corpus_len, struct vocab_synth **out, struct cl_err *err)
	    CL_WUR;

/*
 * As vocab_synth_build(), and first add each of the `n_required` pieces
 * required[i][0..required_lens[i]) (raw bytes, not mapped) as a token of
 * its own, so that encoding exactly that piece gives one id (through
 * ignore_merges; see tokenizer.h).  Each piece must be non-empty and a
 * single pre-token of the `lfm2` split (" hello" is, "hello world" is
 * not), else CL_EINVAL naming its index.  Pieces that are single bytes
 * or repeat an earlier piece add nothing.  More pieces than there is
 * room for is CL_ELIMIT.
 */
int	vocab_synth_build_ex(size_t n_vocab, const char *corpus,
	    size_t corpus_len, const char *const *required,
	    const size_t *required_lens, size_t n_required,
	    struct vocab_synth **out, struct cl_err *err) CL_WUR;

/* Release `v`.  NULL is a no-op. */
void	vocab_synth_free(struct vocab_synth *v);

/*
 * Describe `v` as a tokenizer source (add_bos true).  `src` borrows from
 * `v`: it is valid until vocab_synth_free(v).
 */
void	vocab_synth_src(const struct vocab_synth *v,
	    struct tok_vocab_src *src);

/* The built-in corpus (NUL-terminated static text). */
extern const char vocab_synth_corpus[];

#endif /* CLOISTER_VOCAB_SYNTH_H */
