/*
 * log.c - the audit log on the store: schema, configuration, appends,
 * the session API the broker calls, levels and retention, status,
 * reading, purge.
 *
 * Divisions: 1. SQL helpers and the schema, 2. the signed configuration,
 * 3. appending (the chain step), 4. bodies, 5. the session API,
 * 6. configuration changes, 7. status and reading, 8. purge.
 *
 * Erasing old chain keys: the current key is one fixed-size row updated
 * in place with secure_delete on, so the database page never keeps an
 * older key; in WAL mode older pages stay in the WAL until it is
 * checkpointed, so every commit that replaced the key is followed by a
 * TRUNCATE checkpoint (audit_flush_wal).  Old copies the filesystem or
 * the disk keeps in freed blocks are out of reach here; they are
 * encrypted under the store's data key (see cloister-audit(1)).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit/audit_impl.h"

#define ADMIN_PROFILE	"(admin)"	/* not a valid profile name */

int64_t audit_test_now;

int64_t
audit_now(void)
{
	if (audit_test_now != 0)
		return audit_test_now;
	return (int64_t)time(NULL);
}

/* ---- 1. SQL helpers and the schema --------------------------------------- */

int
audit_begin(struct store *s, struct cl_err *err)
{
	/* secure_delete: freed cells and pages are zeroed, not left behind. */
	return store_exec(s, "PRAGMA secure_delete=ON;BEGIN IMMEDIATE", err);
}

int
audit_commit(struct store *s, struct cl_err *err)
{
	return store_exec(s, "COMMIT", err);
}

void
audit_rollback(struct store *s)
{
	int ignored;

	if (!sqlite3_get_autocommit(store_db(s))) {
		ignored = store_exec(s, "ROLLBACK", NULL);
		(void)ignored;		/* nothing more to do if it fails */
	}
}

int
audit_schema_exists(struct store *s, bool *exists, struct cl_err *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	*exists = false;
	if ((r = store_prepare(s, "SELECT count(*) FROM sqlite_master WHERE "
	    "type='table' AND name='audit_meta'", &st, err)) != CL_OK)
		goto out;
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	*exists = r == 1 && sqlite3_column_int(st, 0) > 0;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	return r;
}

static int
create_schema(struct store *s, struct cl_err *err)
{
	return store_exec(s,
	    "CREATE TABLE audit_meta(name TEXT PRIMARY KEY, "
	    "value BLOB NOT NULL);"
	    "CREATE TABLE audit_event(seq INTEGER PRIMARY KEY, "
	    "time INTEGER NOT NULL, kind INTEGER NOT NULL, "
	    "profile TEXT NOT NULL, body BLOB, sealed_len INTEGER NOT NULL, "
	    "body_hash BLOB NOT NULL, mac BLOB NOT NULL, "
	    "head BLOB NOT NULL);"
	    "CREATE TABLE audit_checkpoint(seq INTEGER PRIMARY KEY, "
	    "head BLOB NOT NULL, epoch INTEGER NOT NULL, "
	    "time INTEGER NOT NULL, sig BLOB)", err);
}

int
audit_meta_int(struct store *s, const char *name, int64_t *out,
    struct cl_err *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = store_prepare(s, "SELECT value FROM audit_meta WHERE name=?",
	    &st, err)) != CL_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	if (r == 0 || sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
	    sqlite3_column_int64(st, 0) < 0) {
		r = cl_errf(err, CL_ECRYPTO, "audit state '%s' is missing or "
		    "damaged", name);
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
	r = CL_OK;
out:
	sqlite3_finalize(st);
	return r;
}

int
audit_meta_blob(struct store *s, const char *name, uint8_t *out, size_t len,
    struct cl_err *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = store_prepare(s, "SELECT value FROM audit_meta WHERE name=?",
	    &st, err)) != CL_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	if (r == 0 || sqlite3_column_type(st, 0) != SQLITE_BLOB ||
	    (size_t)sqlite3_column_bytes(st, 0) != len) {
		r = cl_errf(err, CL_ECRYPTO, "audit state '%s' is missing or "
		    "damaged", name);
		goto out;
	}
	memcpy(out, sqlite3_column_blob(st, 0), len);
	r = CL_OK;
out:
	sqlite3_finalize(st);
	return r;
}

int
audit_meta_blob_dup(struct store *s, const char *name, uint8_t **out,
    size_t *len, struct cl_err *err)
{
	sqlite3_stmt *st = NULL;
	size_t n;
	int r;

	*out = NULL;
	*len = 0;
	if ((r = store_prepare(s, "SELECT value FROM audit_meta WHERE name=?",
	    &st, err)) != CL_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	if (r == 1) {
		if (sqlite3_column_type(st, 0) != SQLITE_BLOB) {
			r = cl_errf(err, CL_ECRYPTO, "audit state '%s' is "
			    "damaged", name);
			goto out;
		}
		n = (size_t)sqlite3_column_bytes(st, 0);
		if ((*out = cl_malloc(n + 1)) == NULL) {
			r = cl_errf(err, CL_ENOMEM, "out of memory");
			goto out;
		}
		if (n > 0)
			memcpy(*out, sqlite3_column_blob(st, 0), n);
		*len = n;
	}
	r = CL_OK;
out:
	sqlite3_finalize(st);
	return r;
}

/* Insert or update a meta value in place (an upsert keeps the cell). */
static int
meta_set(struct store *s, const char *name, const void *p, size_t n,
    int64_t v, struct cl_err *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = store_prepare(s, "INSERT INTO audit_meta VALUES(?1,?2) "
	    "ON CONFLICT(name) DO UPDATE SET value=excluded.value", &st,
	    err)) != CL_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (p != NULL)
		sqlite3_bind_blob(st, 2, p, (int)n, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, v);
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	return r;
}

int
audit_flush_wal(struct store *s, bool *complete, struct cl_err *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (complete != NULL)
		*complete = false;
	if ((r = store_prepare(s, "PRAGMA wal_checkpoint(TRUNCATE)", &st,
	    err)) != CL_OK)
		goto out;
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	/* One row: busy, WAL frames, frames checkpointed (-1 if not WAL). */
	if (complete != NULL)
		*complete = r == 0 || sqlite3_column_int(st, 0) == 0;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	return r;
}

/* ---- 2. the signed configuration ----------------------------------------- */

static const char config_domain[] = "cloister-audit-config-v1";

/* domain || blob, the message the configuration signature covers. */
static int
config_msg(const uint8_t *blob, size_t n, struct cl_buf *msg,
    struct cl_err *err)
{
	cl_buf_reset(msg);
	if (cl_buf_append(msg, config_domain, sizeof(config_domain)) !=
	    CL_OK || cl_buf_append(msg, blob, n) != CL_OK)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	return CL_OK;
}

int
audit_config_load(struct store *s, struct audit_config *c, bool *found,
    struct cl_err *err)
{
	struct cl_buf msg = CL_BUF_INIT;
	uint8_t *blob = NULL, *sig = NULL;
	size_t blob_len, sig_len;
	bool exists;
	int r;

	memset(c, 0, sizeof(*c));
	*found = false;
	if ((r = audit_schema_exists(s, &exists, err)) != CL_OK || !exists)
		goto out;
	if ((r = audit_meta_blob_dup(s, "config", &blob, &blob_len,
	    err)) != CL_OK ||
	    (r = audit_meta_blob_dup(s, "config_sig", &sig, &sig_len,
	    err)) != CL_OK)
		goto out;
	if (blob == NULL || sig == NULL || sig_len != STORE_SIGN_BYTES) {
		r = cl_errf(err, CL_ECRYPTO, "audit log present but its "
		    "signed configuration is missing (tampered with)");
		goto out;
	}
	if ((r = config_msg(blob, blob_len, &msg, err)) != CL_OK)
		goto out;
	if (!store_admin_verify(s, msg.data, msg.len, sig)) {
		r = cl_errf(err, CL_ECRYPTO, "audit configuration signature "
		    "does not verify (tampered with)");
		goto out;
	}
	if ((r = audit_config_decode(blob, blob_len, c, err)) != CL_OK) {
		r = cl_errf(err, CL_ECRYPTO, "audit configuration is "
		    "malformed although signed");
		goto out;
	}
	*found = true;
	r = CL_OK;
out:
	cl_buf_release(&msg);
	cl_free(blob);
	cl_free(sig);
	return r;
}

/* Sign and store `c` (inside a transaction; the store is unlocked). */
static int
config_store(struct store *s, const struct audit_config *c,
    struct cl_err *err)
{
	struct cl_buf blob = CL_BUF_INIT, msg = CL_BUF_INIT;
	uint8_t sig[STORE_SIGN_BYTES];
	int r;

	if ((r = audit_config_encode(c, &blob, err)) != CL_OK ||
	    (r = config_msg((const uint8_t *)blob.data, blob.len, &msg,
	    err)) != CL_OK ||
	    (r = store_admin_sign(s, msg.data, msg.len, sig, err)) != CL_OK)
		goto out;
	if ((r = meta_set(s, "config", blob.data, blob.len, 0, err)) !=
	    CL_OK ||
	    (r = meta_set(s, "config_sig", sig, sizeof(sig), 0, err)) != CL_OK)
		goto out;
	r = CL_OK;
out:
	cl_buf_release(&blob);
	cl_buf_release(&msg);
	return r;
}

/* ---- 3. appending (the chain step) --------------------------------------- */

int
audit_append_locked(struct store *s, enum audit_kind kind,
    const char *profile, const void *pt, size_t pt_len, uint64_t *seq_out,
    uint8_t *head_out, int64_t *time_out, struct cl_err *err)
{
	uint8_t prev_mac[AUDIT_HASH_BYTES], prev_head[AUDIT_HASH_BYTES];
	uint8_t mac[AUDIT_HASH_BYTES], ehash[AUDIT_HASH_BYTES];
	uint8_t head[AUDIT_HASH_BYTES];
	struct audit_fields f;
	sqlite3_stmt *st = NULL;
	uint8_t *sealed = NULL, *key = NULL;
	size_t sealed_len = 0;
	int64_t count;
	int r;

	if ((key = sodium_malloc(AUDIT_KEY_BYTES)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = store_seal_to_admin(s, pt, pt_len, &sealed, &sealed_len,
	    err)) != CL_OK)
		goto out;
	if ((r = audit_meta_int(s, "count", &count, err)) != CL_OK ||
	    (r = audit_meta_blob(s, "key", key, AUDIT_KEY_BYTES, err)) !=
	    CL_OK)
		goto out;
	memset(prev_mac, 0, sizeof(prev_mac));
	memset(prev_head, 0, sizeof(prev_head));
	if (count > 0) {
		if ((r = store_prepare(s, "SELECT mac, head FROM audit_event "
		    "WHERE seq=?", &st, err)) != CL_OK)
			goto out;
		sqlite3_bind_int64(st, 1, count);
		if ((r = store_step(s, st, err)) < 0)
			goto out;
		if (r == 0 || sqlite3_column_bytes(st, 0) != AUDIT_HASH_BYTES ||
		    sqlite3_column_bytes(st, 1) != AUDIT_HASH_BYTES) {
			r = cl_errf(err, CL_ECRYPTO, "audit log damaged: last "
			    "event %lld missing or malformed; run 'cloister "
			    "audit verify'", (long long)count);
			goto out;
		}
		memcpy(prev_mac, sqlite3_column_blob(st, 0), AUDIT_HASH_BYTES);
		memcpy(prev_head, sqlite3_column_blob(st, 1), AUDIT_HASH_BYTES);
		sqlite3_finalize(st);
		st = NULL;
	}
	f.seq = (uint64_t)count + 1;
	f.time = audit_now();
	f.kind = kind;
	f.profile = profile;
	f.sealed_len = sealed_len;
	audit_body_hash(f.body_hash, sealed, sealed_len);
	audit_mac(mac, key, &f, prev_mac);
	audit_event_hash(ehash, &f, mac);
	audit_head_next(head, prev_head, ehash);

	if ((r = store_prepare(s, "INSERT INTO audit_event VALUES"
	    "(?,?,?,?,?,?,?,?,?)", &st, err)) != CL_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (int64_t)f.seq);
	sqlite3_bind_int64(st, 2, f.time);
	sqlite3_bind_int(st, 3, (int)kind);
	sqlite3_bind_text(st, 4, profile, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, sealed, (int)sealed_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (int64_t)sealed_len);
	sqlite3_bind_blob(st, 7, f.body_hash, AUDIT_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, mac, AUDIT_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, head, AUDIT_HASH_BYTES, SQLITE_STATIC);
	if ((r = store_step(s, st, err)) < 0)
		goto out;

	/* The chain step: k_{i+1} = H(k_i); k_i exists nowhere after this. */
	audit_key_evolve(key);
	if ((r = meta_set(s, "key", key, AUDIT_KEY_BYTES, 0, err)) != CL_OK ||
	    (r = meta_set(s, "count", NULL, 0, (int64_t)f.seq, err)) != CL_OK)
		goto out;
	if (seq_out != NULL)
		*seq_out = f.seq;
	if (head_out != NULL)
		memcpy(head_out, head, AUDIT_HASH_BYTES);
	if (time_out != NULL)
		*time_out = f.time;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	sodium_free(key);			/* wipes */
	cl_free(sealed);
	return r;
}

int
audit_checkpoint_locked(struct store *s, const char *profile,
    struct audit_checkpoint *cp, struct cl_err *err)
{
	struct cl_buf body = CL_BUF_INIT;
	struct cl_json_writer w;
	uint8_t msg[AUDIT_CHECKPOINT_MSG_BYTES];
	sqlite3_stmt *st = NULL;
	bool sign = store_is_unlocked(s);
	int r;

	memset(cp, 0, sizeof(*cp));
	cp->epoch = store_epoch(s);
	cl_json_init(&w, &body);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "epoch");
	cl_json_uint(&w, cp->epoch);
	cl_json_obj_end(&w);
	if (w.err != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = audit_append_locked(s, AUDIT_KIND_CHECKPOINT, profile,
	    body.data, body.len, &cp->count, cp->head, &cp->time, err)) !=
	    CL_OK)
		goto out;
	memcpy(cp->public_key, store_admin_sign_public_key(s),
	    STORE_SIGN_PUBLICKEYBYTES);
	if (sign) {
		audit_checkpoint_msg(msg, cp);
		if ((r = store_admin_sign(s, msg, sizeof(msg), cp->sig, err)) !=
		    CL_OK)
			goto out;
	}
	if ((r = store_prepare(s, "INSERT INTO audit_checkpoint "
	    "VALUES(?,?,?,?,?)", &st, err)) != CL_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (int64_t)cp->count);
	sqlite3_bind_blob(st, 2, cp->head, AUDIT_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)cp->epoch);
	sqlite3_bind_int64(st, 4, cp->time);
	if (sign)
		sqlite3_bind_blob(st, 5, cp->sig, STORE_SIGN_BYTES,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	cl_buf_release(&body);
	return r;
}

/* ---- 4. bodies ----------------------------------------------------------- */

/* "key": text, as a JSON string if valid UTF-8, else "key_b64". */
static void
json_text(struct cl_json_writer *w, const char *key, const char *text,
    size_t len)
{
	char k[32];
	char *b64;
	size_t b64_len;

	if (cl_utf8_valid(text, len)) {
		cl_json_key(w, key);
		cl_json_strn(w, text, len);
		return;
	}
	snprintf(k, sizeof(k), "%s_b64", key);
	b64_len = sodium_base64_ENCODED_LEN(len,
	    sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = cl_malloc(b64_len)) == NULL) {
		w->err = CL_ENOMEM;
		return;
	}
	sodium_bin2base64(b64, b64_len, (const unsigned char *)text, len,
	    sodium_base64_VARIANT_ORIGINAL);
	cl_json_key(w, k);
	cl_json_str(w, b64);
	sodium_memzero(b64, b64_len);
	cl_free(b64);
}

static void
json_opt_str(struct cl_json_writer *w, const char *key, const char *v)
{
	if (v == NULL) {
		cl_json_key(w, key);
		cl_json_null(w);
	} else {
		json_text(w, key, v, strlen(v));
	}
}

/* ---- 5. the session API -------------------------------------------------- */

struct audit {
	struct store	*s;			/* borrowed */
	char		 profile[AUDIT_PROFILE_MAX + 1];
	enum audit_level level;			/* as configured at open */
	uint32_t	 retention_days;	/* 0: forever */
	bool		 in_session;		/* between start and end */
	uint64_t	 session;		/* seq of session_start */
};

int
audit_open(struct store *s, const char *profile, struct audit **out,
    struct cl_err *err)
{
	struct audit_config c;
	struct audit *a = NULL;
	bool found;
	int r;

	*out = NULL;
	if (!audit_profile_is_valid(profile))
		return cl_errf(err, CL_EINVAL, "bad profile name");
	if ((r = audit_config_load(s, &c, &found, err)) != CL_OK)
		return r;
	if ((a = cl_calloc(1, sizeof(*a))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	a->s = s;
	snprintf(a->profile, sizeof(a->profile), "%s", profile);
	a->level = found ? audit_config_level(&c, profile) : AUDIT_LEVEL_OFF;
	a->retention_days = c.retention_days;
	*out = a;
	return CL_OK;
}

void
audit_close(struct audit *a)
{
	cl_free(a);
}

enum audit_level
audit_level(const struct audit *a)
{
	return a->level;
}

static int purge_locked(struct store *s, int64_t before, const char *who,
    bool always_record, uint64_t *n_purged, struct cl_err *err);

/*
 * Append one event built by the caller in `w`, in its own transaction,
 * then flush the WAL so the previous key is gone from it.
 */
static int
append_one(struct audit *a, enum audit_kind kind, struct cl_json_writer *w,
    uint64_t *seq_out, struct cl_err *err)
{
	int r;

	if (w->err != CL_OK)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	if ((r = audit_begin(a->s, err)) != CL_OK)
		return r;
	if ((r = audit_append_locked(a->s, kind, a->profile, w->out->data,
	    w->out->len, seq_out, NULL, NULL, err)) != CL_OK ||
	    (r = audit_commit(a->s, err)) != CL_OK) {
		audit_rollback(a->s);
		return r;
	}
	return audit_flush_wal(a->s, NULL, err);
}

static int
need_session(const struct audit *a, bool want, struct cl_err *err)
{
	if (a->in_session != want)
		return cl_errf(err, CL_EINVAL, want ? "no audit session "
		    "started" : "audit session already started");
	return CL_OK;
}

int
audit_session_start(struct audit *a, const char *attestation_json,
    const char *model_hash, const char *policy_hash, struct cl_err *err)
{
	struct cl_buf body = CL_BUF_INIT;
	struct cl_json_writer w;
	uint64_t seq;
	int r;

	if (a->level == AUDIT_LEVEL_OFF)
		return CL_OK;
	if ((r = need_session(a, false, err)) != CL_OK)
		return r;
	if (a->retention_days > 0) {
		int64_t before = audit_now() - (int64_t)a->retention_days *
		    86400;

		if ((r = audit_begin(a->s, err)) != CL_OK)
			goto out;
		if ((r = purge_locked(a->s, before, a->profile, false, NULL,
		    err)) != CL_OK || (r = audit_commit(a->s, err)) != CL_OK) {
			audit_rollback(a->s);
			goto out;
		}
	}
	cl_json_init(&w, &body);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "level");
	cl_json_str(&w, audit_level_name(a->level));
	json_opt_str(&w, "model_hash", model_hash);
	json_opt_str(&w, "policy_hash", policy_hash);
	json_opt_str(&w, "attestation", attestation_json);
	cl_json_obj_end(&w);
	if ((r = append_one(a, AUDIT_KIND_SESSION_START, &w, &seq, err)) !=
	    CL_OK)
		goto out;
	a->in_session = true;
	a->session = seq;
	r = CL_OK;
out:
	cl_buf_release(&body);
	return r;
}

/* Start a body {"session":N, ... for the events inside a session. */
static void
body_begin(const struct audit *a, struct cl_json_writer *w, struct cl_buf *b)
{
	cl_json_init(w, b);
	cl_json_obj_begin(w);
	cl_json_key(w, "session");
	cl_json_uint(w, a->session);
}

/* Wipe and free a body that may hold prompt or answer text. */
static void
body_release(struct cl_buf *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->cap);
	cl_buf_release(b);
}

int
audit_prompt(struct audit *a, const char *text, size_t len,
    struct cl_err *err)
{
	struct cl_buf body = CL_BUF_INIT;
	struct cl_json_writer w;
	int r;

	if (a->level == AUDIT_LEVEL_OFF)
		return CL_OK;
	if ((r = need_session(a, true, err)) != CL_OK)
		return r;
	if (len > AUDIT_TEXT_MAX)
		return cl_errf(err, CL_ELIMIT, "prompt of %zu bytes too long "
		    "to audit", len);
	body_begin(a, &w, &body);
	cl_json_key(&w, "bytes");
	cl_json_uint(&w, len);
	if (a->level == AUDIT_LEVEL_FULL)
		json_text(&w, "text", text, len);
	cl_json_obj_end(&w);
	r = append_one(a, AUDIT_KIND_PROMPT, &w, NULL, err);
	body_release(&body);
	return r;
}

int
audit_answer(struct audit *a, const char *text, size_t len,
    const struct audit_tokens *tok, struct cl_err *err)
{
	struct cl_buf body = CL_BUF_INIT;
	struct cl_json_writer w;
	int r;

	if (a->level == AUDIT_LEVEL_OFF)
		return CL_OK;
	if ((r = need_session(a, true, err)) != CL_OK)
		return r;
	if (len > AUDIT_TEXT_MAX)
		return cl_errf(err, CL_ELIMIT, "answer of %zu bytes too long "
		    "to audit", len);
	body_begin(a, &w, &body);
	cl_json_key(&w, "bytes");
	cl_json_uint(&w, len);
	if (tok != NULL) {
		cl_json_key(&w, "prompt_tokens");
		cl_json_uint(&w, tok->n_prompt);
		cl_json_key(&w, "output_tokens");
		cl_json_uint(&w, tok->n_output);
	}
	if (a->level == AUDIT_LEVEL_FULL)
		json_text(&w, "text", text, len);
	cl_json_obj_end(&w);
	r = append_one(a, AUDIT_KIND_ANSWER, &w, NULL, err);
	body_release(&body);
	return r;
}

static int
json_event(struct audit *a, enum audit_kind kind, const char *key,
    const char *json, struct cl_err *err)
{
	struct cl_buf body = CL_BUF_INIT;
	struct cl_json_writer w;
	int r;

	if (a->level == AUDIT_LEVEL_OFF)
		return CL_OK;
	if ((r = need_session(a, true, err)) != CL_OK)
		return r;
	if (json != NULL && strlen(json) > AUDIT_TEXT_MAX)
		return cl_errf(err, CL_ELIMIT, "%s too long to audit", key);
	body_begin(a, &w, &body);
	json_opt_str(&w, key, json);
	cl_json_obj_end(&w);
	r = append_one(a, kind, &w, NULL, err);
	body_release(&body);
	return r;
}

int
audit_policy_action(struct audit *a, const char *verdict_json,
    struct cl_err *err)
{
	return json_event(a, AUDIT_KIND_POLICY_ACTION, "verdict",
	    verdict_json, err);
}

int
audit_jail_report(struct audit *a, const char *report_json,
    struct cl_err *err)
{
	return json_event(a, AUDIT_KIND_JAIL_REPORT, "report", report_json,
	    err);
}

int
audit_session_end(struct audit *a, const char *reason, struct cl_err *err)
{
	struct cl_buf body = CL_BUF_INIT;
	struct cl_json_writer w;
	struct audit_checkpoint cp;
	int r;

	if (a->level == AUDIT_LEVEL_OFF)
		return CL_OK;
	if ((r = need_session(a, true, err)) != CL_OK)
		return r;
	body_begin(a, &w, &body);
	json_opt_str(&w, "reason", reason);
	cl_json_obj_end(&w);
	if (w.err != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = audit_begin(a->s, err)) != CL_OK)
		goto out;
	if ((r = audit_append_locked(a->s, AUDIT_KIND_SESSION_END, a->profile,
	    body.data, body.len, NULL, NULL, NULL, err)) != CL_OK ||
	    (r = audit_checkpoint_locked(a->s, a->profile, &cp, err)) !=
	    CL_OK || (r = audit_commit(a->s, err)) != CL_OK) {
		audit_rollback(a->s);
		goto out;
	}
	a->in_session = false;
	r = audit_flush_wal(a->s, NULL, err);
out:
	cl_buf_release(&body);
	return r;
}

/* ---- 6. configuration changes -------------------------------------------- */

/*
 * Create the chain: schema, a random k_1 sealed to the admin, the current
 * key k_1, count 0, and an empty configuration committing to k_1.
 */
static int
create_chain(struct store *s, struct audit_config *c, struct cl_err *err)
{
	uint8_t *k1 = NULL, *sealed = NULL;
	size_t sealed_len;
	int r;

	if ((k1 = sodium_malloc(AUDIT_KEY_BYTES)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	randombytes_buf(k1, AUDIT_KEY_BYTES);
	if ((r = create_schema(s, err)) != CL_OK ||
	    (r = store_seal_to_admin(s, k1, AUDIT_KEY_BYTES, &sealed,
	    &sealed_len, err)) != CL_OK ||
	    (r = meta_set(s, "k1", sealed, sealed_len, 0, err)) != CL_OK ||
	    (r = meta_set(s, "key", k1, AUDIT_KEY_BYTES, 0, err)) != CL_OK ||
	    (r = meta_set(s, "count", NULL, 0, 0, err)) != CL_OK)
		goto out;
	memset(c, 0, sizeof(*c));
	c->default_level = AUDIT_LEVEL_OFF;
	audit_genesis(c->genesis, k1);
	r = CL_OK;
out:
	sodium_free(k1);
	cl_free(sealed);
	return r;
}

/*
 * Change the configuration: level (>= 0) for `profile` (NULL: the
 * default), or
 * retention (>= 0).  One transaction: the signed configuration and the
 * admin_action event that records it.
 */
static int
change_config(struct store *s, const char *profile, int level,
    int64_t retention, struct cl_err *err)
{
	struct cl_buf body = CL_BUF_INIT;
	struct cl_json_writer w;
	struct audit_config *c = NULL;
	int64_t count;
	size_t i;
	bool found;
	int r;

	if (!store_is_unlocked(s))
		return cl_errf(err, CL_EAUTH, "changing the audit settings "
		    "needs the admin passphrase");
	if (profile != NULL && !audit_profile_is_valid(profile))
		return cl_errf(err, CL_EINVAL, "bad profile name");
	if ((c = cl_malloc(sizeof(*c))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	if ((r = audit_begin(s, err)) != CL_OK)
		goto out;
	if ((r = audit_config_load(s, c, &found, err)) != CL_OK)
		goto out;
	if (!found && (r = create_chain(s, c, err)) != CL_OK)
		goto out;
	cl_json_init(&w, &body);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "action");
	if (level >= 0) {
		cl_json_str(&w, "set_level");
		cl_json_key(&w, "profile");
		if (profile == NULL)
			cl_json_null(&w);
		else
			cl_json_str(&w, profile);
		cl_json_key(&w, "level");
		cl_json_str(&w, audit_level_name((enum audit_level)level));
		if (profile == NULL) {
			c->default_level = (enum audit_level)level;
		} else {
			for (i = 0; i < c->n_profiles; i++) {
				if (strcmp(c->profiles[i].name, profile) == 0)
					break;
			}
			if (i == AUDIT_CONFIG_MAX_PROFILES) {
				r = cl_errf(err, CL_ELIMIT, "too many "
				    "profiles with their own audit level");
				goto out;
			}
			if (i == c->n_profiles) {
				snprintf(c->profiles[i].name,
				    sizeof(c->profiles[i].name), "%s", profile);
				c->n_profiles++;
			}
			c->profiles[i].level = (enum audit_level)level;
		}
	} else {
		cl_json_str(&w, "set_retention");
		cl_json_key(&w, "days");
		cl_json_int(&w, retention);
		c->retention_days = (uint32_t)retention;
	}
	if ((r = audit_meta_int(s, "count", &count, err)) != CL_OK)
		goto out;
	c->serial++;
	c->set_seq = (uint64_t)count + 1;
	cl_json_key(&w, "serial");
	cl_json_uint(&w, c->serial);
	cl_json_obj_end(&w);
	if (w.err != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = config_store(s, c, err)) != CL_OK ||
	    (r = audit_append_locked(s, AUDIT_KIND_ADMIN_ACTION, ADMIN_PROFILE,
	    body.data, body.len, NULL, NULL, NULL, err)) != CL_OK ||
	    (r = audit_commit(s, err)) != CL_OK)
		goto out;
	r = audit_flush_wal(s, NULL, err);
out:
	if (r != CL_OK)
		audit_rollback(s);
	cl_buf_release(&body);
	cl_free(c);
	return r;
}

int
audit_set_level(struct store *s, const char *profile, enum audit_level level,
    struct cl_err *err)
{
	if ((unsigned)level > AUDIT_LEVEL_FULL)
		return cl_errf(err, CL_EINVAL, "bad audit level");
	return change_config(s, profile, (int)level, -1, err);
}

int
audit_set_retention(struct store *s, uint32_t days, struct cl_err *err)
{
	if (days > 365U * 1000)
		return cl_errf(err, CL_EINVAL, "retention of %u days is too "
		    "long", days);
	return change_config(s, NULL, -1, (int64_t)days, err);
}

/* ---- 7. status and reading ----------------------------------------------- */

int
audit_status_get(struct store *s, struct audit_status *st,
    struct cl_err *err)
{
	struct audit_config c;
	sqlite3_stmt *q = NULL;
	bool found;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = audit_config_load(s, &c, &found, err)) != CL_OK || !found)
		goto out;
	st->configured = true;
	st->default_level = c.default_level;
	st->retention_days = c.retention_days;
	if (c.n_profiles > 0) {
		if ((st->profiles = cl_calloc(c.n_profiles,
		    sizeof(*st->profiles))) == NULL) {
			r = cl_errf(err, CL_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(st->profiles, c.profiles, c.n_profiles *
		    sizeof(*st->profiles));
		st->n_profiles = c.n_profiles;
	}
	if ((r = store_prepare(s, "SELECT count(*), "
	    "coalesce(sum(body IS NULL),0) FROM audit_event", &q, err)) !=
	    CL_OK || (r = store_step(s, q, err)) < 0)
		goto out;
	st->n_events = (uint64_t)sqlite3_column_int64(q, 0);
	st->n_purged = (uint64_t)sqlite3_column_int64(q, 1);
	sqlite3_finalize(q);
	q = NULL;
	if ((r = store_prepare(s, "SELECT coalesce(sum(sig IS NOT NULL),0), "
	    "coalesce(sum(sig IS NULL),0) FROM audit_checkpoint", &q, err)) !=
	    CL_OK || (r = store_step(s, q, err)) < 0)
		goto out;
	st->n_signed = (uint64_t)sqlite3_column_int64(q, 0);
	st->n_pending = (uint64_t)sqlite3_column_int64(q, 1);
	r = CL_OK;
out:
	sqlite3_finalize(q);
	if (r != CL_OK)
		audit_status_release(st);
	return r;
}

void
audit_status_release(struct audit_status *st)
{
	cl_free(st->profiles);
	memset(st, 0, sizeof(*st));
}

struct audit_iter {
	struct store	*s;		/* borrowed */
	sqlite3_stmt	*st;		/* the query */
	bool		 bodies;	/* unseal bodies */
	char		*profile;	/* filter, owned */
	uint8_t		*body;		/* last unsealed body, sodium memory */
	struct audit_event ev;		/* last event */
};

int
audit_iter_new(struct store *s, const struct audit_filter *f, bool bodies,
    struct audit_iter **out, struct cl_err *err)
{
	struct audit_iter *it = NULL;
	bool exists;
	int r;

	*out = NULL;
	if (bodies && !store_is_unlocked(s))
		return cl_errf(err, CL_EAUTH, "reading the audit log needs "
		    "the admin passphrase");
	if ((it = cl_calloc(1, sizeof(*it))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	it->s = s;
	it->bodies = bodies;
	if ((r = audit_schema_exists(s, &exists, err)) != CL_OK)
		goto out;
	if (!exists) {			/* no log: an empty iteration */
		*out = it;
		it = NULL;
		goto out;
	}
	if (f != NULL && f->profile != NULL &&
	    (it->profile = cl_strdup(f->profile)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = store_prepare(s, "SELECT seq, time, kind, profile, body, "
	    "sealed_len, body_hash, mac, head FROM audit_event WHERE "
	    "(?1 = 0 OR seq = ?1) AND time >= ?2 AND "
	    "(?3 IS NULL OR profile = ?3) AND (?4 = 0 OR kind = ?4) "
	    "ORDER BY seq", &it->st, err)) != CL_OK)
		goto out;
	sqlite3_bind_int64(it->st, 1, f != NULL ? (int64_t)f->seq : 0);
	sqlite3_bind_int64(it->st, 2, f != NULL && f->since != 0 ? f->since :
	    INT64_MIN);
	if (it->profile != NULL)
		sqlite3_bind_text(it->st, 3, it->profile, -1, SQLITE_STATIC);
	sqlite3_bind_int(it->st, 4, f != NULL ? (int)f->kind : 0);
	*out = it;
	it = NULL;
	r = CL_OK;
out:
	audit_iter_free(it);
	return r;
}

/* Copy a 32-byte column, or fail as damaged. */
static int
col_hash(struct store *s, sqlite3_stmt *st, int col, uint64_t seq,
    uint8_t *out, struct cl_err *err)
{
	(void)s;
	if (sqlite3_column_type(st, col) != SQLITE_BLOB ||
	    sqlite3_column_bytes(st, col) != AUDIT_HASH_BYTES)
		return cl_errf(err, CL_ECRYPTO, "audit event %llu is "
		    "malformed", (unsigned long long)seq);
	memcpy(out, sqlite3_column_blob(st, col), AUDIT_HASH_BYTES);
	return CL_OK;
}

int
audit_iter_next(struct audit_iter *it, const struct audit_event **ev,
    struct cl_err *err)
{
	struct audit_event *e = &it->ev;
	size_t n;
	int r;

	*ev = NULL;
	store_secret_free(it->body);
	it->body = NULL;
	memset(e, 0, sizeof(*e));
	if (it->st == NULL)
		return 0;
	if ((r = store_step(it->s, it->st, err)) <= 0)
		return r;
	e->seq = (uint64_t)sqlite3_column_int64(it->st, 0);
	e->time = sqlite3_column_int64(it->st, 1);
	e->kind = (enum audit_kind)sqlite3_column_int(it->st, 2);
	e->profile = (const char *)sqlite3_column_text(it->st, 3);
	if (e->profile == NULL)
		e->profile = "";
	e->purged = sqlite3_column_type(it->st, 4) == SQLITE_NULL;
	e->sealed_len = (size_t)sqlite3_column_int64(it->st, 5);
	if ((r = col_hash(it->s, it->st, 6, e->seq, e->body_hash, err)) !=
	    CL_OK || (r = col_hash(it->s, it->st, 7, e->seq, e->mac, err)) !=
	    CL_OK || (r = col_hash(it->s, it->st, 8, e->seq, e->head, err)) !=
	    CL_OK)
		return r;
	if (it->bodies && !e->purged) {
		n = (size_t)sqlite3_column_bytes(it->st, 4);
		if ((r = store_admin_unseal(it->s,
		    sqlite3_column_blob(it->st, 4), n, &it->body, &e->body_len,
		    err)) != CL_OK)
			return cl_err_prefix(err, "audit event %llu",
			    (unsigned long long)e->seq);
		e->body = it->body;
	}
	*ev = e;
	return 1;
}

void
audit_iter_free(struct audit_iter *it)
{
	if (it == NULL)
		return;
	sqlite3_finalize(it->st);
	store_secret_free(it->body);
	cl_free(it->profile);
	cl_free(it);
}

/* ---- 8. purge ------------------------------------------------------------ */

/*
 * Inside a transaction: delete the bodies older than `before` and record
 * a purge event by `who` (always when `always_record`, else only when a
 * body was deleted).
 */
static int
purge_locked(struct store *s, int64_t before, const char *who,
    bool always_record, uint64_t *n_purged, struct cl_err *err)
{
	struct cl_buf body = CL_BUF_INIT;
	struct cl_json_writer w;
	sqlite3_stmt *st = NULL;
	uint64_t n;
	int r;

	if ((r = store_prepare(s, "UPDATE audit_event SET body = NULL "
	    "WHERE time < ? AND body IS NOT NULL", &st, err)) != CL_OK)
		goto out;
	sqlite3_bind_int64(st, 1, before);
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	n = (uint64_t)sqlite3_changes(store_db(s));
	if (n_purged != NULL)
		*n_purged = n;
	if (n == 0 && !always_record) {
		r = CL_OK;
		goto out;
	}
	cl_json_init(&w, &body);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "before");
	cl_json_int(&w, before);
	cl_json_key(&w, "bodies");
	cl_json_uint(&w, n);
	cl_json_obj_end(&w);
	if (w.err != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	r = audit_append_locked(s, AUDIT_KIND_PURGE, who, body.data, body.len,
	    NULL, NULL, NULL, err);
out:
	sqlite3_finalize(st);
	cl_buf_release(&body);
	return r;
}

int
audit_purge(struct store *s, int64_t before, uint64_t *n_purged,
    struct cl_err *err)
{
	struct audit_config c;
	bool found, complete;
	int r;

	if (n_purged != NULL)
		*n_purged = 0;
	if (!store_is_unlocked(s))
		return cl_errf(err, CL_EAUTH, "purging the audit log needs "
		    "the admin passphrase");
	if ((r = audit_config_load(s, &c, &found, err)) != CL_OK)
		return r;
	if (!found)
		return cl_errf(err, CL_ENOTFOUND, "there is no audit log");
	if ((r = audit_begin(s, err)) != CL_OK)
		return r;
	if ((r = purge_locked(s, before, ADMIN_PROFILE, true, n_purged,
	    err)) != CL_OK || (r = audit_commit(s, err)) != CL_OK) {
		audit_rollback(s);
		return r;
	}
	/* The freed pages were zeroed; now push them out of the WAL. */
	if ((r = audit_flush_wal(s, &complete, err)) != CL_OK)
		return r;
	if (!complete)
		return cl_errf(err, CL_EIO, "bodies purged, but another "
		    "process holds the store open: their old pages leave the "
		    "WAL only when it closes");
	return CL_OK;
}
