/*
 * policy.h - the administrator's policy: parsing, profiles, streaming
 * output enforcement, PII redaction, time windows and quotas, external
 * hooks, sealing and PINs.
 *
 * Owns: the policy file format (cloister-policy(5)), the parsed and
 * resolved profiles, the streaming filter that sits between the jailed
 * engine's TOKEN frames and the user's terminal, the PII detectors, the
 * seal (an Ed25519 signature line at the end of the file) and the PIN
 * hashes.
 *
 * Layering: policy depends on util and libsodium (and, for hooks, on
 * sandbox).  It never touches the store: what it needs from the store (the
 * admin's signing callback and public key, the per-day usage counters) is
 * passed in as parameters and callbacks, and the cli glue wires them up.
 *
 * Invariants:
 *  - A policy that does not parse is never half-applied: policy_parse()
 *    returns a complete struct policy or nothing.
 *  - Model output is untrusted data.  Nothing that matches a block term,
 *    a block pattern (within its window) or an enabled PII detector is
 *    ever released by the filter, not even partially, however the text is
 *    split across feeds.
 *  - Errors, verdicts and notices never contain prompt text, model output,
 *    matched text or PINs; only rule indices, kinds, counts and positions.
 *
 * Thread-safety: objects are not shared between threads; a struct policy
 * is immutable after parsing and may be read from several threads.
 */
#ifndef CLOISTER_POLICY_H
#define CLOISTER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "util/util.h"

/* A limit that is not set. */
#define POLICY_UNLIMITED	UINT64_MAX

/* Bounds the parser enforces (hostile or careless input). */
#define POLICY_FILE_MAX		(1024 * 1024)	/* bytes in a policy file */
#define POLICY_LINE_MAX		8192		/* bytes in one line */
#define POLICY_PROFILES_MAX	64		/* [profile] sections */
#define POLICY_NAME_MAX		32		/* bytes in a profile name */
#define POLICY_TERMS_MAX	1024		/* block_terms per profile */
#define POLICY_TERM_MAX		256		/* bytes in one block term */
#define POLICY_PATTERNS_MAX	64		/* block_patterns per profile */
#define POLICY_PATTERN_MAX	512		/* bytes in one pattern */
#define POLICY_WINDOW_DEFAULT	64		/* pattern_window default */
#define POLICY_WINDOW_MAX	1024		/* pattern_window maximum */
#define POLICY_HOURS_MAX	32		/* allowed_hours ranges */
#define POLICY_MODELS_MAX	64		/* models per profile */
#define POLICY_PROMPT_MAX	16384		/* bytes in system_prompt */
#define POLICY_HOOK_TIMEOUT_DEFAULT 5000	/* ms */
#define POLICY_HOOK_TIMEOUT_MAX	60000		/* ms */

/* What happens when a block term or pattern matches. */
enum policy_action {
	POLICY_ACTION_REFUSE,	/* drop everything not yet released, stop */
	POLICY_ACTION_STOP,	/* release the clean text before it, stop */
	POLICY_ACTION_REDACT	/* replace it with [REDACTED], continue */
};

/* Audit level a profile asks for (audit(1) has the meaning). */
enum policy_audit {
	POLICY_AUDIT_OFF,
	POLICY_AUDIT_METADATA,
	POLICY_AUDIT_FULL
};

/* PII kinds, as a bit mask; each has a typed placeholder. */
#define POLICY_PII_EMAIL	0x01u	/* [EMAIL] */
#define POLICY_PII_PHONE	0x02u	/* [PHONE] */
#define POLICY_PII_CARD		0x04u	/* [CARD]  payment card, Luhn */
#define POLICY_PII_SSN		0x08u	/* [SSN]   US social security */
#define POLICY_PII_IBAN		0x10u	/* [IBAN]  mod-97 */
#define POLICY_PII_IP		0x20u	/* [IP]    IPv4 or IPv6 */
#define POLICY_PII_DATE		0x40u	/* [DATE]  calendar-valid date */
#define POLICY_PII_ALL		0x7fu

/*
 * One allowed time range in local time.  `days` holds the days on which
 * the range starts (bit tm_wday: bit 0 Sunday ... bit 6 Saturday).  When
 * end_min <= start_min the range crosses midnight and ends on the next
 * day at end_min.
 */
struct policy_hours {
	uint8_t		days;		/* tm_wday bit mask, never 0 */
	uint16_t	start_min;	/* minutes after midnight, 0..1439 */
	uint16_t	end_min;	/* minutes after midnight, 1..1440 */
};

/*
 * The resolved settings of one profile: [default] with the profile's own
 * keys applied on top.  Read-only for callers; owned by the struct policy
 * it came from and valid until policy_free().  A member that was never set
 * holds its neutral value (POLICY_UNLIMITED, an empty list, a cap that
 * bounds nothing).
 */
struct policy_profile {
	char			*name;		/* "default" or the profile name */
	uint64_t		 max_output_tokens;
	uint64_t		 max_output_chars;	/* code points */
	uint64_t		 max_prompt_chars;	/* code points */
	uint64_t		 max_prompt_tokens;
	uint64_t		 daily_token_quota;	/* prompt + output */
	double			 temperature_max;	/* INFINITY: no cap */
	uint32_t		 top_k_max;		/* UINT32_MAX: no cap */
	double			 top_p_max;		/* 1.0: no cap */
	double			 min_p_min;		/* 0.0: no floor */
	double			 repeat_penalty_min;	/* 0.0: no floor */
	double			 repeat_penalty_max;	/* INFINITY: no cap */
	struct policy_hours	*hours;		/* n_hours ranges */
	size_t			 n_hours;	/* 0: any time */
	char			*hours_text;	/* canonical form, or NULL */
	char			**block_terms;	/* n_block_terms, case-folded */
	size_t			 n_block_terms;
	bool			 block_whole_words;	/* default true */
	char			**block_patterns;	/* ERE source text */
	size_t			 n_block_patterns;
	uint32_t		 pattern_window;	/* bytes, see filter */
	unsigned		 redact;	/* POLICY_PII_* mask */
	enum policy_action	 on_block;	/* default REFUSE */
	char			*system_prompt;	/* or NULL */
	uint8_t			(*models)[32];	/* allowed SHA-256 hashes */
	size_t			 n_models;	/* 0: any model */
	enum policy_audit	 audit;		/* default OFF */
	char			*prompt_hook;	/* absolute path or NULL */
	char			*output_hook;	/* absolute path or NULL */
	unsigned		 hook_timeout_ms;
	char			*pin;		/* Argon2id string or NULL */
	struct policy_compiled	*compiled;	/* internal: regexes */
};

struct policy;

/*
 * Parse a policy file's bytes.  `name` names the file in error messages
 * ("policy:12:17: expected a number after 'max_output_tokens =', found
 * 'ten'").  On success *out holds the policy (caller frees with
 * policy_free()); on any error *out is NULL, nothing is applied, and `err`
 * holds "name:line:column: message" with code CL_EFORMAT (or CL_ENOMEM,
 * CL_ELIMIT when the file is larger than POLICY_FILE_MAX).  The text of a
 * line is never quoted except the offending word, cut to 24 bytes.
 * A trailing seal line is a comment to the parser.
 */
int	policy_parse(const char *name, const char *text, size_t len,
	    struct policy **out, struct cl_err *err) CL_WUR;

/* Read and parse the file at `path` (see policy_parse()). */
int	policy_load(const char *path, struct policy **out,
	    struct cl_err *err) CL_WUR;

/* Free a policy and everything borrowed from it.  NULL is a no-op. */
void	policy_free(struct policy *p);

/*
 * The profile called `name` ("default" is the [default] section), or
 * NULL when there is none.  Borrowed; valid until policy_free(p).
 */
const struct policy_profile *policy_profile(const struct policy *p,
	    const char *name);

/* Number of profiles including "default", and the i-th (0 = default). */
size_t	policy_n_profiles(const struct policy *p);
const struct policy_profile *policy_profile_at(const struct policy *p,
	    size_t i);

/*
 * Append a human-readable description of what profile `pr` may do
 * (`cloister policy show` and `check`) to `out`.  Block terms and
 * patterns are counted, not printed, unless `reveal` is true (the admin
 * asked to see them).  Returns CL_OK or CL_ENOMEM.
 */
int	policy_profile_describe(const struct policy_profile *pr, bool reveal,
	    struct cl_buf *out) CL_WUR;

/* Keyword spellings used by the file format and by describe. */
const char *policy_action_name(enum policy_action a);
const char *policy_audit_name(enum policy_audit a);
const char *policy_pii_name(unsigned kind);		/* one bit */
const char *policy_pii_placeholder(unsigned kind);	/* "[EMAIL]" */

/* True when the model with SHA-256 `hash` may be used by `pr`. */
bool	policy_model_is_allowed(const struct policy_profile *pr,
	    const uint8_t hash[32]);

/*
 * Sampling settings a user asks for; policy_sampling_clamp() brings them
 * within the profile's caps (temperature <= temperature_max, top_k in
 * 1..top_k_max where 0 means "no top-k", top_p <= top_p_max, min_p >=
 * min_p_min, repeat_penalty within its range).  Returns true when
 * anything was changed, so the cli can say so.
 */
struct policy_sampling {
	double		temperature;
	uint32_t	top_k;		/* 0: disabled */
	double		top_p;
	double		min_p;
	double		repeat_penalty;
};
bool	policy_sampling_clamp(const struct policy_profile *pr,
	    struct policy_sampling *s);

/*
 * Verdicts: what the policy did to a prompt or an answer.  Never holds
 * text; `rule` is an index into block_terms / block_patterns, or a
 * POLICY_PII_* bit, or -1.
 */
enum policy_verdict_kind {
	POLICY_VERDICT_NONE,		/* nothing happened */
	POLICY_VERDICT_REDACTED,	/* items replaced, text went on */
	POLICY_VERDICT_BLOCK_TERM,	/* a block term, refuse or stop */
	POLICY_VERDICT_BLOCK_PATTERN,	/* a block pattern, refuse or stop */
	POLICY_VERDICT_OUTPUT_TOKENS,	/* max_output_tokens reached */
	POLICY_VERDICT_OUTPUT_CHARS,	/* max_output_chars reached */
	POLICY_VERDICT_QUOTA,		/* daily_token_quota reached */
	POLICY_VERDICT_HOURS,		/* outside allowed_hours */
	POLICY_VERDICT_PROMPT_CHARS,	/* prompt longer than allowed */
	POLICY_VERDICT_PROMPT_TOKENS,	/* prompt longer than allowed */
	POLICY_VERDICT_HOOK,		/* a hook blocked or failed */
	POLICY_VERDICT_SEAL		/* sealed policy was modified */
};

struct policy_verdict {
	enum policy_verdict_kind kind;	/* the decisive event */
	enum policy_action	 action;/* for BLOCK_*: what was done */
	int			 rule;	/* see above */
	bool			 stopped;	/* the stream must end */
	bool			 prompt;	/* about the prompt */
	unsigned		 n_redacted;	/* items replaced so far */
	unsigned		 redacted_pii;	/* POLICY_PII_* kinds seen */
	unsigned		 n_terms_redacted;	/* terms+patterns */
};

/*
 * A short, non-judgemental notice for the user, for example "[cloister:
 * the answer was stopped because it reached this profile's length
 * limit]", or NULL for POLICY_VERDICT_NONE.  Static storage.
 */
const char *policy_verdict_notice(const struct policy_verdict *v);

/* A stable lowercase name for audit records ("block_term"). */
const char *policy_verdict_name(enum policy_verdict_kind k);

/*
 * Streaming output filter.  Feed it each TOKEN frame's bytes (one call per
 * token); it appends to `out` only text that can no longer become part of
 * a block term, a pattern match or a PII item, never a partial UTF-8
 * sequence.  What it holds back is bounded:
 *  - block terms: the longest tail that is still a prefix of a term
 *    (plus one character for the whole-word check);
 *  - PII: the tail from the earliest place where a detector could still
 *    complete an item (each kind has a maximum length);
 *  - block patterns: the last pattern_window - 1 bytes; a pattern is
 *    guaranteed to be caught only if its match fits in pattern_window
 *    bytes.
 * When the profile has an output hook, everything is held until
 * policy_filter_finish() so the hook sees the whole answer.
 */
struct policy_filter;

/*
 * Make a filter for profile `pr` (borrowed; must outlive the filter).
 * `token_budget` caps the tokens this answer may use on top of
 * max_output_tokens (what is left of the daily quota after the prompt;
 * POLICY_UNLIMITED for none).  Caller frees with policy_filter_free().
 */
int	policy_filter_new(const struct policy_profile *pr,
	    uint64_t token_budget, struct policy_filter **out,
	    struct cl_err *err) CL_WUR;
void	policy_filter_free(struct policy_filter *f);

/*
 * Feed one token's bytes.  Appends releasable text to `out`.  Returns
 * CL_OK to go on, CL_EPOLICY when the stream must end now (the cli sends
 * CANCEL, calls policy_filter_finish() and shows the notice), or CL_ENOMEM.
 * After CL_EPOLICY further feeds append nothing and return CL_EPOLICY.
 */
int	policy_filter_feed(struct policy_filter *f, const char *p, size_t n,
	    struct cl_buf *out, struct cl_err *err) CL_WUR;

/*
 * End of stream: decide what is held back (with no more input, partial
 * matches can be judged) and append what may be released.  A trailing
 * incomplete UTF-8 sequence is dropped.  Returns CL_OK or CL_ENOMEM.
 */
int	policy_filter_finish(struct policy_filter *f, struct cl_buf *out,
	    struct cl_err *err) CL_WUR;

/* The filter's verdict so far.  Borrowed; valid until the next call. */
const struct policy_verdict *policy_filter_verdict(
	    const struct policy_filter *f);

/* Tokens fed and code points released so far. */
uint64_t policy_filter_n_tokens(const struct policy_filter *f);
uint64_t policy_filter_n_chars(const struct policy_filter *f);

/*
 * Check a prompt before it reaches the engine: length in code points,
 * length in tokens (`n_tokens` from the engine's TOKENIZE, or
 * POLICY_UNLIMITED when not known, which skips that check), block terms
 * and patterns (refused unless on_block is redact, then redacted) and PII
 * (redacted per `redact`).  On CL_OK `out` holds the prompt to send and
 * *v says what was changed; CL_EPOLICY means refused (see *v); CL_ENOMEM.
 */
int	policy_check_prompt(const struct policy_profile *pr, const char *p,
	    size_t n, uint64_t n_tokens, struct cl_buf *out,
	    struct policy_verdict *v, struct cl_err *err) CL_WUR;

/*
 * PII redaction on its own (audit uses it on what it stores).  Appends
 * in[0..n) to `out` with every item of the kinds in `kinds` replaced by
 * its placeholder.  *n_found (may be NULL) gets the number of items.
 * Returns CL_OK or CL_ENOMEM.
 */
int	policy_redact_text(unsigned kinds, const char *in, size_t n,
	    struct cl_buf *out, unsigned *n_found) CL_WUR;

/*
 * Time windows and quotas.  The clock is injectable so tests can move
 * time; local time comes from localtime_r() of what it returns.
 */
struct policy_clock {
	time_t	(*now)(void *ctx);
	void	 *ctx;
};
/* The real clock: time(NULL). */
extern const struct policy_clock policy_clock_system;

/*
 * Per (profile, day) token usage, where day is the local date
 * "YYYY-MM-DD".  The cli backs it with the encrypted store; this module
 * ships an in-memory and a plain-file implementation (for tests and for
 * showing that usage survives a restart).  Both callbacks return CL_OK or
 * a CL_E* code with `err` filled.
 */
struct policy_usage_ops {
	int	(*get)(void *ctx, const char *profile, const char *day,
		    uint64_t *tokens, struct cl_err *err);
	int	(*add)(void *ctx, const char *profile, const char *day,
		    uint64_t tokens, struct cl_err *err);
};
struct policy_usage {
	const struct policy_usage_ops	*ops;
	void				*ctx;
};

/* True when local time `t` falls in one of pr's allowed_hours. */
bool	policy_hours_allow(const struct policy_profile *pr, time_t t);

/* Local date of `t` as "YYYY-MM-DD" into day[11]. */
void	policy_day_key(time_t t, char day[11]);

/*
 * May profile `pr` start a request now?  Checks allowed_hours and the
 * daily quota.  On CL_OK *tokens_left holds what is left of today's quota
 * (POLICY_UNLIMITED when there is none).  CL_EPOLICY: refused, *v says
 * why; other codes: the usage store failed (refuse, fail closed).
 */
int	policy_access_check(const struct policy_profile *pr,
	    const struct policy_clock *clock, const struct policy_usage *u,
	    uint64_t *tokens_left, struct policy_verdict *v,
	    struct cl_err *err) CL_WUR;

/* Charge `tokens` to today's usage of `pr` (no-op without a quota). */
int	policy_quota_charge(const struct policy_profile *pr,
	    const struct policy_clock *clock, const struct policy_usage *u,
	    uint64_t tokens, struct cl_err *err) CL_WUR;

/* In-memory usage store.  Caller frees with policy_usage_mem_free(). */
int	policy_usage_mem_new(struct policy_usage *out,
	    struct cl_err *err) CL_WUR;
void	policy_usage_mem_free(struct policy_usage *u);

/*
 * File-backed usage store: one "profile day tokens" line per entry,
 * rewritten atomically (temporary file + rename) on every add.  Not
 * tamper-proof: the cli uses the encrypted store instead.
 */
int	policy_usage_file_open(const char *path, struct policy_usage *out,
	    struct cl_err *err) CL_WUR;
void	policy_usage_file_close(struct policy_usage *u);

/*
 * Sealing.  The seal is the file's last line:
 *	# cloister-seal: ed25519 KEYID SIGNATURE
 * KEYID is 16 hex digits (BLAKE2b-64 of the public key), SIGNATURE the
 * base64 of an Ed25519 signature over "cloister-policy-seal-v1\0" followed
 * by the BLAKE2b-512 hash of every byte before the seal line.  To the
 * parser the seal is a comment.
 */
enum policy_seal_state {
	POLICY_SEAL_OK,		/* sealed, verifies with the admin key */
	POLICY_SEAL_NONE,	/* no seal line */
	POLICY_SEAL_MODIFIED,	/* sealed, changed since sealing */
	POLICY_SEAL_OTHER_KEY	/* sealed with a key that is not the admin's */
};

/* Signs msg[0..len) with the admin key (store_admin_sign in the cli). */
typedef int (*policy_sign_fn)(void *ctx, const uint8_t *msg, size_t len,
    uint8_t sig[64], struct cl_err *err);

/*
 * Seal policy bytes: parse them (a policy that does not parse is not
 * sealed), drop an existing seal line, and append a new one signed through
 * `sign`.  `pk` is the admin public key (for the key id).  On success
 * *out and *out_len hold the new file bytes (caller frees with cl_free()).
 */
int	policy_seal(const char *text, size_t len, policy_sign_fn sign,
	    void *sign_ctx, const uint8_t pk[32], char **out, size_t *out_len,
	    struct cl_err *err) CL_WUR;

/* Verify the seal of policy bytes against the admin public key `pk`. */
enum policy_seal_state policy_seal_verify(const char *text, size_t len,
	    const uint8_t pk[32]);

/*
 * The gate the cli applies before running a profile: an admin session
 * always passes (it is how the admin repairs the file); otherwise a
 * shared-mode install (`require_seal`, the store has an admin key) needs
 * POLICY_SEAL_OK.  Returns CL_OK or CL_EPOLICY with a message that says
 * what happened and that the administrator runs `cloister policy seal`.
 */
int	policy_seal_gate(enum policy_seal_state st, bool is_admin,
	    bool require_seal, struct cl_err *err) CL_WUR;

/*
 * PINs (Argon2id, crypto_pwhash_str, interactive limits).  The hash
 * string goes in the policy's `pin = ...` line.  policy_pin_hash() fills
 * out[POLICY_PIN_STR_MAX].
 */
#define POLICY_PIN_STR_MAX	128
#define POLICY_PIN_MAX		64	/* bytes in a PIN */
int	policy_pin_hash(const char *pin, size_t len,
	    char out[POLICY_PIN_STR_MAX], struct cl_err *err) CL_WUR;
/* CL_OK when `pin` matches pr's hash (or pr has none), else CL_EAUTH. */
int	policy_pin_check(const struct policy_profile *pr, const char *pin,
	    size_t len, struct cl_err *err) CL_WUR;
/*
 * Read one line (a PIN) from `fd`, without echo when it is a terminal.
 * *out is sodium_malloc memory: caller frees with policy_pin_free().
 * The caller prints the prompt.
 */
int	policy_pin_read(int fd, char **out, size_t *len,
	    struct cl_err *err) CL_WUR;
void	policy_pin_free(char *pin, size_t len);

/*
 * Hooks: run the profile's prompt or output hook on `text`.  The hook
 * gets {"stage":"prompt"|"output","profile":NAME,"text":TEXT} on stdin
 * and answers one JSON object: {"action":"allow"}, {"action":"block",
 * "reason":"..."} or {"action":"replace","text":"..."}.  It runs with a
 * clean environment, its own process group, no network (the sandbox
 * hook profile) and hook_timeout_ms; a hook that crashes, times out or
 * answers anything else counts as block.
 */
enum policy_hook_stage {
	POLICY_HOOK_PROMPT,
	POLICY_HOOK_OUTPUT
};
enum policy_hook_action {
	POLICY_HOOK_ALLOW,
	POLICY_HOOK_BLOCK,
	POLICY_HOOK_REPLACE
};
struct policy_hook_result {
	enum policy_hook_action	 action;
	char			*text;	/* REPLACE: new text, owned */
	size_t			 text_len;
	char			 why[160];	/* for BLOCK: reason or failure */
	bool			 failed;	/* crashed, timed out, nonsense */
};
/*
 * Run the hook for `stage` (CL_OK with ALLOW when the profile has none).
 * A hook failure is not an error: it is a BLOCK with `failed` set and
 * `why` saying what went wrong ("hook timed out after 5000 ms").  Returns
 * CL_OK, or CL_ENOMEM / CL_EIO when the hook could not be started at all
 * (also reported as BLOCK).  Release with policy_hook_result_release().
 */
int	policy_hook_run(const struct policy_profile *pr,
	    enum policy_hook_stage stage, const char *text, size_t len,
	    struct policy_hook_result *res, struct cl_err *err) CL_WUR;
void	policy_hook_result_release(struct policy_hook_result *res);

#endif /* CLOISTER_POLICY_H */
