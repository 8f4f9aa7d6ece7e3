/*
 * audit_impl.h - internals of audit/ (not for other modules).
 *
 * Divisions: the chain's cryptography and the signed configuration
 * (chain.c), the log itself: schema, appends, sessions, levels, reading,
 * purge (log.c), checkpoints, verification and export (verify.c).
 *
 * Tables (all in the encrypted store, names with the audit_ prefix):
 *
 *	audit_meta(name TEXT PRIMARY KEY, value BLOB)
 *		'config'	the configuration blob (below)
 *		'config_sig'	admin Ed25519 signature over it
 *		'k1'		k_1 sealed to the admin
 *		'key'		the current chain key k_{count+1}, 32 bytes
 *		'count'		events in the log (INTEGER)
 *	audit_event(seq INTEGER PRIMARY KEY, time, kind, profile, body BLOB
 *		NULL when purged, sealed_len, body_hash, mac, head)
 *	audit_checkpoint(seq INTEGER PRIMARY KEY = count covered, head,
 *		epoch, time, sig BLOB NULL while pending)
 *
 * Canonical encoding of an event (integers little-endian):
 *	u64 seq | i64 time | u32 kind | u32 profile_len | profile |
 *	u64 sealed_len | body_hash[32]
 * and, with D(x) a NUL-terminated domain string:
 *	mac_i   = BLAKE2b-256(key k_i, D("cloister-audit-mac-v1") ||
 *		  enc_i || mac_{i-1})				mac_0 = 0^32
 *	ehash_i = BLAKE2b-256(D("cloister-audit-event-v1") || enc_i || mac_i)
 *	head_i  = BLAKE2b-256(D("cloister-audit-head-v1") || head_{i-1} ||
 *		  ehash_i)					head_0 = 0^32
 *	k_{i+1} = BLAKE2b-256(key k_i, D("cloister-audit-evolve-v1"))
 *	genesis = BLAKE2b-256(key k_1, D("cloister-audit-genesis-v1"))
 * A checkpoint signs D("cloister-audit-checkpoint-v1") || u64 count ||
 * head || u64 epoch || i64 time; the configuration signs
 * D("cloister-audit-config-v1") || blob; an export line signs
 * "cloister-audit-export-v1\n" || the line up to ,"sig":".
 */
#ifndef CLOISTER_AUDIT_IMPL_H
#define CLOISTER_AUDIT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "store/store.h"
#include "util/util.h"

#define AUDIT_KEY_BYTES		32
#define AUDIT_CONFIG_MAGIC	"CLAUDCF1"
#define AUDIT_CONFIG_MAX_PROFILES 256
#define AUDIT_EXPORT_DOMAIN	"cloister-audit-export-v1\n"

/* The level configuration, as signed. */
struct audit_config {
	uint64_t	 serial;	/* bumped by every change */
	uint64_t	 set_seq;	/* the admin_action event that set it */
	uint32_t	 retention_days;/* 0: forever */
	enum audit_level default_level;
	uint8_t		 genesis[AUDIT_HASH_BYTES];	/* commits to k_1 */
	size_t		 n_profiles;
	struct audit_profile_level profiles[AUDIT_CONFIG_MAX_PROFILES];
};

/* The fields of an event the chain covers. */
struct audit_fields {
	uint64_t	 seq;
	int64_t		 time;
	enum audit_kind	 kind;
	const char	*profile;
	uint64_t	 sealed_len;
	uint8_t		 body_hash[AUDIT_HASH_BYTES];
};

/* ---- chain.c ------------------------------------------------------------- */
void	audit_mac(uint8_t out[AUDIT_HASH_BYTES],
	    const uint8_t key[AUDIT_KEY_BYTES], const struct audit_fields *f,
	    const uint8_t prev_mac[AUDIT_HASH_BYTES]);
void	audit_event_hash(uint8_t out[AUDIT_HASH_BYTES],
	    const struct audit_fields *f, const uint8_t mac[AUDIT_HASH_BYTES]);
void	audit_head_next(uint8_t out[AUDIT_HASH_BYTES],
	    const uint8_t prev_head[AUDIT_HASH_BYTES],
	    const uint8_t event_hash[AUDIT_HASH_BYTES]);
/* k <- H(k), in place. */
void	audit_key_evolve(uint8_t key[AUDIT_KEY_BYTES]);
void	audit_genesis(uint8_t out[AUDIT_HASH_BYTES],
	    const uint8_t k1[AUDIT_KEY_BYTES]);
void	audit_body_hash(uint8_t out[AUDIT_HASH_BYTES], const void *p,
	    size_t n);
/* The message a checkpoint signature covers (fixed size). */
#define AUDIT_CHECKPOINT_MSG_BYTES (29 + 8 + AUDIT_HASH_BYTES + 8 + 8)
void	audit_checkpoint_msg(uint8_t out[AUDIT_CHECKPOINT_MSG_BYTES],
	    const struct audit_checkpoint *cp);

/* Encode c into `out` (reset first) as the signed message. */
int	audit_config_encode(const struct audit_config *c, struct cl_buf *out,
	    struct cl_err *err) CL_WUR;
/* Decode an untrusted blob (the signature is checked by the caller). */
int	audit_config_decode(const uint8_t *p, size_t n, struct audit_config *c,
	    struct cl_err *err) CL_WUR;
enum audit_level audit_config_level(const struct audit_config *c,
	    const char *profile);

/* ---- log.c --------------------------------------------------------------- */
/* True when the audit tables exist (a read; never creates them). */
int	audit_schema_exists(struct store *s, bool *exists,
	    struct cl_err *err) CL_WUR;
/*
 * Load and check the configuration: its signature must verify with the
 * store's admin key.  *found false (and c zeroed, level off) when there
 * is no audit state at all.
 */
int	audit_config_load(struct store *s, struct audit_config *c,
	    bool *found, struct cl_err *err) CL_WUR;
/* Run `sql` with transaction statements; helpers for the single exit. */
int	audit_begin(struct store *s, struct cl_err *err) CL_WUR;
int	audit_commit(struct store *s, struct cl_err *err) CL_WUR;
void	audit_rollback(struct store *s);
/* Read meta 'count', 'key' (into sodium memory). */
int	audit_meta_int(struct store *s, const char *name, int64_t *out,
	    struct cl_err *err) CL_WUR;
int	audit_meta_blob(struct store *s, const char *name, uint8_t *out,
	    size_t len, struct cl_err *err) CL_WUR;
/* A variable-size meta blob; *out (cl_free) or NULL when absent. */
int	audit_meta_blob_dup(struct store *s, const char *name, uint8_t **out,
	    size_t *len, struct cl_err *err) CL_WUR;
/*
 * Append one event inside an open IMMEDIATE transaction.  `pt` is the
 * plaintext body, sealed here.  *seq_out (may be NULL) gets its number,
 * head_out (may be NULL) the chain head after it.
 */
int	audit_append_locked(struct store *s, enum audit_kind kind,
	    const char *profile, const void *pt, size_t pt_len,
	    uint64_t *seq_out, uint8_t *head_out, int64_t *time_out,
	    struct cl_err *err) CL_WUR;
/*
 * After a commit that replaced the chain key: push the WAL into the
 * database and truncate it, so earlier keys do not linger in old WAL
 * frames.  Best effort (another reader may hold the WAL): returns CL_OK
 * or CL_EIO only on a real failure.
 */
int	audit_flush_wal(struct store *s, bool *complete, struct cl_err *err)
	    CL_WUR;
/* Checkpoint inside a transaction: append the event, sign or leave pending. */
int	audit_checkpoint_locked(struct store *s, const char *profile,
	    struct audit_checkpoint *cp, struct cl_err *err) CL_WUR;
/* The current time, or audit_test_now when set (tests). */
int64_t	audit_now(void);
extern int64_t audit_test_now;

/* Lowercase hex of p[0..n) into out (2n+1 bytes). */
void	audit_hex(char *out, const uint8_t *p, size_t n);

#endif /* CLOISTER_AUDIT_IMPL_H */
