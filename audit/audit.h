/*
 * audit.h - cloister's opt-in, tamper-evident audit log.
 *
 * Owns: the audit_* tables of the store (store/store.h): the signed level
 * configuration, the event log, its forward-secure MAC chain, signed
 * checkpoints, verification, signed JSON-lines export and its
 * verification with the admin public key alone, and purge/retention of
 * event bodies.
 *
 * Model (see cloister-audit(1) for the threat model in plain words):
 *  - Logging is off unless the admin turned it on for a profile.  With
 *    level AUDIT_LEVEL_OFF the session functions below return at once and
 *    never touch the store: not even that a session happened is written.
 *  - Every event has a sequence number (1, 2, ...), a time, a kind, a
 *    profile and a body.  The body is a small JSON object, sealed to the
 *    admin's X25519 key (store_seal_to_admin) in both store modes: in
 *    shared mode a non-admin profile can append but not read it; in
 *    personal mode the seal adds nothing against the passphrase holder
 *    but keeps one format, one code path and one export for both modes.
 *    Kind, time and profile stay in clear inside the encrypted store.
 *  - The chain covers BLAKE2b-256 of the sealed body (never of the
 *    plaintext, which may be guessable), so a purge can delete bodies and
 *    the chain still verifies.
 *  - Forward-secure MAC chain (Schneier-Kelsey, journald FSS): event i is
 *    authenticated by keyed BLAKE2b-256 under k_i over its fields, its
 *    body hash and the MAC of event i-1; then k_{i+1} = H(k_i) and k_i is
 *    erased.  Only the current key is stored; k_1 is stored sealed to the
 *    admin, and a signed configuration commits to it, so only the admin
 *    can recompute every MAC, and whoever steals the current key cannot
 *    forge, reorder or re-seal earlier events, nor truncate the tail
 *    (the stored current key must be k_1 evolved once per event).
 *  - A public hash chain over the events (head_i = H(head_{i-1} ||
 *    event_hash_i)) is what checkpoints sign: count, head, store epoch and
 *    time, with the admin Ed25519 key.  At session end a checkpoint is
 *    signed if the store is unlocked, else recorded as pending and signed
 *    by audit_sign_pending() at the next admin unlock.  An exported
 *    checkpoint kept elsewhere detects truncation and rollback of the
 *    whole store to an older copy, which nothing inside the store can.
 *
 * Layering: audit depends on store and util only.  The broker (cli/)
 * calls the session functions; `cloister audit` calls the admin ones.
 * Not thread-safe: use one struct audit per thread, on that thread's
 * store.  Several processes may append to one store at once: every
 * append is one IMMEDIATE transaction that rereads the chain state.
 *
 * Privacy: error messages never contain event bodies, prompt or answer
 * text, or key bytes; only sequence numbers, kinds, profiles and counts.
 */
#ifndef CLOISTER_AUDIT_H
#define CLOISTER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/util.h"

enum audit_level {
	AUDIT_LEVEL_OFF = 0,		/* nothing is written at all */
	AUDIT_LEVEL_METADATA = 1,	/* times, hashes, counts, verdicts */
	AUDIT_LEVEL_FULL = 2		/* also prompt and answer text */
};

enum audit_kind {
	AUDIT_KIND_SESSION_START = 1,
	AUDIT_KIND_SESSION_END = 2,
	AUDIT_KIND_PROMPT = 3,
	AUDIT_KIND_ANSWER = 4,
	AUDIT_KIND_POLICY_ACTION = 5,
	AUDIT_KIND_JAIL_REPORT = 6,
	AUDIT_KIND_ADMIN_ACTION = 7,
	AUDIT_KIND_PURGE = 8,
	AUDIT_KIND_CHECKPOINT = 9
};
#define AUDIT_KIND_MAX		9

#define AUDIT_HASH_BYTES	32	/* BLAKE2b-256: body hash, MAC, head */
#define AUDIT_PROFILE_MAX	64	/* bytes in a profile name */
#define AUDIT_TEXT_MAX		(16U << 20)	/* bytes of one body */

/* "off", "metadata", "full"; never NULL ("?" for a bad value). */
const char *audit_level_name(enum audit_level level);
/* Parse a level name.  CL_EINVAL when unknown. */
int	audit_level_parse(const char *s, enum audit_level *out,
	    struct cl_err *err) CL_WUR;
/* "session_start", ..., "checkpoint"; never NULL. */
const char *audit_kind_name(enum audit_kind kind);
int	audit_kind_parse(const char *s, enum audit_kind *out,
	    struct cl_err *err) CL_WUR;
/*
 * True when `name` is a valid profile name: 1..AUDIT_PROFILE_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.' or '-'.
 */
bool	audit_profile_is_valid(const char *name);

/* ---- the session API (the broker, during `cloister ask|chat`) ------------ */

struct audit;

/* Token counts reported with an answer. */
struct audit_tokens {
	uint64_t	n_prompt;	/* tokens in the prompt */
	uint64_t	n_output;	/* tokens generated */
};

/*
 * Prepare to log the sessions of `profile` on store `s` (borrowed; must
 * outlive the returned object).  Reads the signed level configuration:
 * this only reads, it never writes, whatever the level.  Fails with
 * CL_ECRYPTO when the configuration exists but its signature does not
 * verify, or the chain state exists without a configuration (someone
 * tampered with it: the broker should refuse to run rather than log
 * nothing).  On success *out is the object (caller frees with
 * audit_close()); on failure *out is NULL.
 */
int	audit_open(struct store *s, const char *profile, struct audit **out,
	    struct cl_err *err) CL_WUR;
/* Free `a`; audit_close(NULL) is a no-op.  Does not close the store. */
void	audit_close(struct audit *a);
/* The level of a's profile, as read by audit_open(). */
enum audit_level audit_level(const struct audit *a);

/*
 * Each of these appends one event when the level is not off, and returns
 * CL_OK at once without touching the store when it is off.  Text and JSON
 * arguments are borrowed; NULL JSON means none.  attestation_json,
 * verdict_json and report_json are recorded as given (as JSON strings),
 * at both metadata and full level.  Prompt and answer text is recorded
 * only at full level; metadata level records its length in bytes.
 *
 * audit_session_start() first applies the retention setting (purges
 * bodies older than it, recording a purge event).  audit_session_end()
 * appends a session_end event, then a checkpoint event, and records a
 * checkpoint over it: signed when the store is unlocked, else pending.
 * Session functions outside start..end are CL_EINVAL.
 */
int	audit_session_start(struct audit *a, const char *attestation_json,
	    const char *model_hash, const char *policy_hash,
	    struct cl_err *err) CL_WUR;
int	audit_prompt(struct audit *a, const char *text, size_t len,
	    struct cl_err *err) CL_WUR;
int	audit_answer(struct audit *a, const char *text, size_t len,
	    const struct audit_tokens *tok, struct cl_err *err) CL_WUR;
int	audit_policy_action(struct audit *a, const char *verdict_json,
	    struct cl_err *err) CL_WUR;
int	audit_jail_report(struct audit *a, const char *report_json,
	    struct cl_err *err) CL_WUR;
int	audit_session_end(struct audit *a, const char *reason,
	    struct cl_err *err) CL_WUR;

/* ---- configuration (admin: the store must be unlocked) ------------------- */

/*
 * Set the level of `profile`, or with profile NULL the default level of
 * the profiles that have none of their own.  The first call creates
 * the chain: a random k_1 sealed to the admin and committed to in the
 * signed configuration.  The change is logged as an admin_action event.
 * CL_EAUTH when the store is locked.
 */
int	audit_set_level(struct store *s, const char *profile,
	    enum audit_level level, struct cl_err *err) CL_WUR;
/*
 * Keep bodies `days` days (0: forever); older bodies are purged at each
 * session start.  Logged as an admin_action event.  CL_EAUTH if locked.
 */
int	audit_set_retention(struct store *s, uint32_t days,
	    struct cl_err *err) CL_WUR;

/* One profile's level in struct audit_status. */
struct audit_profile_level {
	char		 name[AUDIT_PROFILE_MAX + 1];
	enum audit_level level;
};

/*
 * What `cloister audit status` shows.  Readable without the admin (the
 * configuration is signed, not sealed).  Release with
 * audit_status_release().
 */
struct audit_status {
	bool		 configured;	/* the chain and config exist */
	enum audit_level default_level;	/* for profiles not listed */
	uint32_t	 retention_days;/* 0: keep forever */
	uint64_t	 n_events;	/* events in the log */
	uint64_t	 n_purged;	/* of which bodies were purged */
	uint64_t	 n_signed;	/* signed checkpoints */
	uint64_t	 n_pending;	/* checkpoints awaiting the admin */
	size_t		 n_profiles;
	struct audit_profile_level *profiles;	/* n_profiles, owned */
};
int	audit_status_get(struct store *s, struct audit_status *st,
	    struct cl_err *err) CL_WUR;
void	audit_status_release(struct audit_status *st);

/* ---- reading (admin) ----------------------------------------------------- */

/* One event as read back.  Borrowed from its iterator. */
struct audit_event {
	uint64_t	 seq;		/* 1, 2, ... */
	int64_t		 time;		/* seconds since the Epoch, UTC */
	enum audit_kind	 kind;
	const char	*profile;	/* NUL-terminated */
	bool		 purged;	/* body deleted by purge */
	const uint8_t	*body;		/* unsealed JSON, NUL-terminated,
					   or NULL (purged or not asked) */
	size_t		 body_len;	/* bytes of body */
	size_t		 sealed_len;	/* bytes of the stored (sealed) body */
	uint8_t		 body_hash[AUDIT_HASH_BYTES];
	uint8_t		 mac[AUDIT_HASH_BYTES];
	uint8_t		 head[AUDIT_HASH_BYTES];	/* head after it */
};

/* Which events an iterator returns; zero fields mean "any". */
struct audit_filter {
	uint64_t	 seq;		/* only this one */
	int64_t		 since;		/* time >= since */
	const char	*profile;	/* borrowed */
	enum audit_kind	 kind;		/* 0: any */
};

struct audit_iter;

/*
 * Iterate over the events matching `f` (may be NULL) in sequence order.
 * With `bodies`, each body is unsealed, which needs the store unlocked
 * (CL_EAUTH otherwise).  The iterator keeps a statement open on `s`;
 * do not write to the store through `s` until it is freed.  Caller
 * frees with audit_iter_free().
 */
int	audit_iter_new(struct store *s, const struct audit_filter *f,
	    bool bodies, struct audit_iter **out, struct cl_err *err) CL_WUR;
/*
 * The next event: returns 1 and sets *ev (borrowed; valid until the next
 * call on `it`), 0 at the end, or a negative CL_E* code.
 */
int	audit_iter_next(struct audit_iter *it, const struct audit_event **ev,
	    struct cl_err *err) CL_WUR;
/* Free `it` and wipe the last body; NULL is a no-op. */
void	audit_iter_free(struct audit_iter *it);

/* ---- checkpoints and verification (admin) -------------------------------- */

/* A checkpoint as signed: the state of the log after event `count`. */
struct audit_checkpoint {
	uint64_t	count;			/* events covered */
	uint8_t		head[AUDIT_HASH_BYTES];	/* chain head after them */
	uint64_t	epoch;			/* store epoch when made */
	int64_t		time;			/* seconds since the Epoch */
	uint8_t		public_key[STORE_SIGN_PUBLICKEYBYTES];
	uint8_t		sig[STORE_SIGN_BYTES];
};

/*
 * Append a checkpoint event and sign a checkpoint over the log, now.
 * Needs the store unlocked.  *cp (may be NULL) gets it.
 */
int	audit_checkpoint(struct store *s, struct audit_checkpoint *cp,
	    struct cl_err *err) CL_WUR;
/*
 * Sign the pending checkpoints (recorded while the admin was absent),
 * after checking the chain up to the newest of them: the admin never
 * signs a history that does not verify (then CL_ECRYPTO and nothing is
 * signed).  *n_signed (may be NULL) gets how many were signed.  Needs the
 * store unlocked.
 */
int	audit_sign_pending(struct store *s, uint64_t *n_signed,
	    struct cl_err *err) CL_WUR;

/*
 * The checkpoint file (`audit checkpoint --export FILE`): one signed JSON
 * line, the same as an export's last line.  audit_checkpoint_format()
 * appends it to `out` (needs the store unlocked: the line is signed).
 * audit_checkpoint_parse() checks the line's signature with the key it
 * names and fills *cp; the caller must still compare cp->public_key with
 * the key it trusts.  CL_EFORMAT for a malformed line, CL_ECRYPTO for a
 * bad signature.
 */
int	audit_checkpoint_format(struct store *s,
	    const struct audit_checkpoint *cp, struct cl_buf *out,
	    struct cl_err *err) CL_WUR;
int	audit_checkpoint_parse(const char *text, size_t len,
	    struct audit_checkpoint *cp, struct cl_err *err) CL_WUR;

/* What audit_verify() found. */
struct audit_verify_report {
	uint64_t	n_events;	/* events checked */
	uint64_t	n_purged;	/* of which without a body */
	uint64_t	n_signed;	/* signed checkpoints checked */
	uint64_t	n_pending;	/* pending checkpoints checked */
	uint64_t	first_bad;	/* first bad event, 0 when none */
};

/*
 * Verify the whole log: the configuration's signature and its commitment
 * to k_1, every event's sequence, body hash and MAC under its own key,
 * the stored chain heads, the stored current key (so the tail was not
 * cut), and every checkpoint; then, with `exported` (may be NULL; its
 * signature already checked by audit_checkpoint_parse()), that the log
 * still contains exactly the history that checkpoint signed and the store
 * epoch did not go back.  Needs the store unlocked.  Returns CL_OK when
 * intact; CL_ECRYPTO with the first bad event and why in `err` (and in
 * rep->first_bad) when not; other codes for failures to check at all.
 */
int	audit_verify(struct store *s, const struct audit_checkpoint *exported,
	    struct audit_verify_report *rep, struct cl_err *err) CL_WUR;

/* ---- export, purge ------------------------------------------------------- */

/*
 * Write the events with time >= since (0: all) to `fd` as JSON lines,
 * each signed with the admin key, then a signed checkpoint line that
 * names the first event and covers the last.  Verifies the log first
 * (CL_ECRYPTO: nothing is written).  Needs the store unlocked.
 * *n_events (may be NULL) gets the number of event lines.
 */
int	audit_export(struct store *s, int64_t since, int fd,
	    uint64_t *n_events, struct cl_err *err) CL_WUR;
/*
 * Verify an export text[0..len) with the admin public key `pk` alone:
 * every line's signature, contiguous sequence numbers, the hash chain
 * from the first event's previous head to the checkpoint's head, and the
 * checkpoint's first event and count.  CL_OK, or CL_ECRYPTO/CL_EFORMAT
 * naming the first bad line.  *n_events (may be NULL) gets the count.
 */
int	audit_export_verify(const char *text, size_t len,
	    const uint8_t pk[STORE_SIGN_PUBLICKEYBYTES], uint64_t *n_events,
	    struct cl_err *err) CL_WUR;

/*
 * Delete the bodies of events with time < before, record a purge event,
 * and make sure the deleted bytes are overwritten in the database file
 * (secure_delete, then a WAL checkpoint that truncates the WAL).  Needs
 * the store unlocked.  *n_purged (may be NULL) gets the number of bodies
 * deleted.  CL_EIO when the bodies are deleted but another process
 * holding the store open kept the WAL from being emptied (their old
 * pages leave it when that process closes the store).
 */
int	audit_purge(struct store *s, int64_t before, uint64_t *n_purged,
	    struct cl_err *err) CL_WUR;

#endif /* CLOISTER_AUDIT_H */
