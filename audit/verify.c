/*
 * verify.c - checkpoints, verification of the log, signed JSON-lines
 * export and its verification with the public key alone.
 *
 * Divisions: 1. checkpoints, 2. verifying the log, 3. signed lines,
 * 4. export, 5. verifying an export.
 *
 * Signed lines: every export line, and the checkpoint file, is one JSON
 * object whose last member is "sig": the admin Ed25519 signature over
 * AUDIT_EXPORT_DOMAIN followed by the line's bytes up to (not including)
 * the `,"sig":"` that introduces it.  So any change to any byte of a line
 * fails its signature, and the reader needs no canonical JSON: it checks
 * the bytes first and parses them afterwards.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <sodium.h>

#include "audit/audit_impl.h"

#define ADMIN_PROFILE	"(admin)"
#define SIG_HEX		(2 * STORE_SIGN_BYTES)
#define SIG_INTRO	",\"sig\":\""
#define EXPORT_MAX	((size_t)1 << 30)	/* bytes of one export */

/* ---- 1. checkpoints ------------------------------------------------------ */

static int
need_log(struct store *s, struct audit_config *c, struct cl_err *err)
{
	bool found;
	int r;

	if (!store_is_unlocked(s))
		return cl_errf(err, CL_EAUTH, "this needs the admin "
		    "passphrase");
	if ((r = audit_config_load(s, c, &found, err)) != CL_OK)
		return r;
	if (!found)
		return cl_errf(err, CL_ENOTFOUND, "there is no audit log "
		    "(enable it with 'cloister audit enable')");
	return CL_OK;
}

int
audit_checkpoint(struct store *s, struct audit_checkpoint *cp,
    struct cl_err *err)
{
	struct audit_checkpoint tmp;
	struct audit_config c;
	int r;

	if ((r = need_log(s, &c, err)) != CL_OK)
		return r;
	if ((r = audit_begin(s, err)) != CL_OK)
		return r;
	if ((r = audit_checkpoint_locked(s, ADMIN_PROFILE, &tmp, err)) !=
	    CL_OK || (r = audit_commit(s, err)) != CL_OK) {
		audit_rollback(s);
		return r;
	}
	if (cp != NULL)
		*cp = tmp;
	return audit_flush_wal(s, NULL, err);
}

int
audit_sign_pending(struct store *s, uint64_t *n_signed, struct cl_err *err)
{
	struct audit_verify_report rep;
	struct audit_checkpoint cp;
	struct audit_config c;
	sqlite3_stmt *sel = NULL, *upd = NULL;
	uint8_t msg[AUDIT_CHECKPOINT_MSG_BYTES];
	uint64_t n = 0;
	int64_t pending = 0;
	int r;

	if (n_signed != NULL)
		*n_signed = 0;
	if ((r = need_log(s, &c, err)) != CL_OK)
		return r == CL_ENOTFOUND ? CL_OK : r;
	if ((r = store_prepare(s, "SELECT count(*) FROM audit_checkpoint "
	    "WHERE sig IS NULL", &sel, err)) != CL_OK ||
	    (r = store_step(s, sel, err)) < 0)
		goto out;
	pending = sqlite3_column_int64(sel, 0);
	sqlite3_finalize(sel);
	sel = NULL;
	if (pending == 0) {
		r = CL_OK;
		goto out;
	}
	/* Never sign a history that does not verify. */
	if ((r = audit_verify(s, NULL, &rep, err)) != CL_OK) {
		cl_err_prefix(err, "not signing pending checkpoints");
		goto out;
	}
	if ((r = audit_begin(s, err)) != CL_OK)
		goto out;
	if ((r = store_prepare(s, "SELECT seq, head, epoch, time FROM "
	    "audit_checkpoint WHERE sig IS NULL ORDER BY seq", &sel, err)) !=
	    CL_OK || (r = store_prepare(s, "UPDATE audit_checkpoint SET "
	    "sig = ? WHERE seq = ?", &upd, err)) != CL_OK)
		goto out;
	while ((r = store_step(s, sel, err)) == 1) {
		memset(&cp, 0, sizeof(cp));
		cp.count = (uint64_t)sqlite3_column_int64(sel, 0);
		if (sqlite3_column_bytes(sel, 1) != AUDIT_HASH_BYTES) {
			r = cl_errf(err, CL_ECRYPTO, "checkpoint at event %llu "
			    "is malformed", (unsigned long long)cp.count);
			goto out;
		}
		memcpy(cp.head, sqlite3_column_blob(sel, 1), AUDIT_HASH_BYTES);
		cp.epoch = (uint64_t)sqlite3_column_int64(sel, 2);
		cp.time = sqlite3_column_int64(sel, 3);
		audit_checkpoint_msg(msg, &cp);
		if ((r = store_admin_sign(s, msg, sizeof(msg), cp.sig, err)) !=
		    CL_OK)
			goto out;
		sqlite3_reset(upd);
		sqlite3_bind_blob(upd, 1, cp.sig, STORE_SIGN_BYTES,
		    SQLITE_STATIC);
		sqlite3_bind_int64(upd, 2, (int64_t)cp.count);
		if ((r = store_step(s, upd, err)) < 0)
			goto out;
		n++;
	}
	if (r < 0)
		goto out;
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sel = upd = NULL;
	if ((r = audit_commit(s, err)) != CL_OK)
		goto out;
	if (n_signed != NULL)
		*n_signed = n;
	r = CL_OK;
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	if (r != CL_OK)
		audit_rollback(s);
	return r;
}

/* ---- 2. verifying the log ------------------------------------------------ */

struct cp_row {
	uint64_t	seq;			/* count covered */
	uint8_t		head[AUDIT_HASH_BYTES];
	uint64_t	epoch;
	int64_t		time;
	bool		is_signed;
	uint8_t		sig[STORE_SIGN_BYTES];
};

static int
load_checkpoints(struct store *s, struct cp_row **out, size_t *n_out,
    struct cl_err *err)
{
	struct cp_row *rows = NULL, *tmp;
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0;
	int r;

	*out = NULL;
	*n_out = 0;
	if ((r = store_prepare(s, "SELECT seq, head, epoch, time, sig FROM "
	    "audit_checkpoint ORDER BY seq", &st, err)) != CL_OK)
		goto out;
	while ((r = store_step(s, st, err)) == 1) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((tmp = cl_realloc(rows, cap * sizeof(*rows))) ==
			    NULL) {
				r = cl_errf(err, CL_ENOMEM, "out of memory");
				goto out;
			}
			rows = tmp;
		}
		memset(&rows[n], 0, sizeof(rows[n]));
		rows[n].seq = (uint64_t)sqlite3_column_int64(st, 0);
		if (sqlite3_column_bytes(st, 1) != AUDIT_HASH_BYTES ||
		    (sqlite3_column_type(st, 4) != SQLITE_NULL &&
		    sqlite3_column_bytes(st, 4) != STORE_SIGN_BYTES)) {
			r = cl_errf(err, CL_ECRYPTO, "checkpoint at event %llu "
			    "is malformed", (unsigned long long)rows[n].seq);
			goto out;
		}
		memcpy(rows[n].head, sqlite3_column_blob(st, 1),
		    AUDIT_HASH_BYTES);
		rows[n].epoch = (uint64_t)sqlite3_column_int64(st, 2);
		rows[n].time = sqlite3_column_int64(st, 3);
		if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
			rows[n].is_signed = true;
			memcpy(rows[n].sig, sqlite3_column_blob(st, 4),
			    STORE_SIGN_BYTES);
		}
		n++;
	}
	if (r < 0)
		goto out;
	*out = rows;
	*n_out = n;
	rows = NULL;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	cl_free(rows);
	return r;
}

/* Record the first bad event and why; returns CL_ECRYPTO. */
static int
bad(struct audit_verify_report *rep, struct cl_err *err, uint64_t seq,
    const char *fmt, ...) CL_PRINTF(4, 5);

static int
bad(struct audit_verify_report *rep, struct cl_err *err, uint64_t seq,
    const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	rep->first_bad = seq;
	return cl_errf(err, CL_ECRYPTO, "event %llu: %s",
	    (unsigned long long)seq, why);
}

int
audit_verify(struct store *s, const struct audit_checkpoint *exported,
    struct audit_verify_report *rep_out, struct cl_err *err)
{
	struct audit_verify_report rep;
	struct audit_config c;
	struct audit_fields f;
	struct cp_row *cps = NULL;
	sqlite3_stmt *st = NULL;
	uint8_t *sealed_k1 = NULL, *k1 = NULL, *key = NULL, *stored_key = NULL;
	uint8_t prev_mac[AUDIT_HASH_BYTES], head[AUDIT_HASH_BYTES];
	uint8_t mac[AUDIT_HASH_BYTES], ehash[AUDIT_HASH_BYTES];
	uint8_t want[AUDIT_HASH_BYTES], g[AUDIT_HASH_BYTES];
	uint8_t msg[AUDIT_CHECKPOINT_MSG_BYTES];
	uint8_t exp_head[AUDIT_HASH_BYTES];
	size_t sealed_len, k1_len, n_cps = 0, ci = 0, i, plen;
	uint64_t expected = 1, n, last_admin = 0;
	int64_t count;
	bool have_exp_head = false;
	const char *profile;
	int r;

	memset(&rep, 0, sizeof(rep));
	if ((r = need_log(s, &c, err)) != CL_OK) {
		if (r == CL_ENOTFOUND && exported != NULL &&
		    exported->count > 0)
			r = bad(&rep, err, 1, "there is no audit log, but the "
			    "exported checkpoint covers %llu events (the log "
			    "was deleted or the store rolled back)",
			    (unsigned long long)exported->count);
		goto out;
	}
	if (exported != NULL && sodium_memcmp(exported->public_key,
	    store_admin_sign_public_key(s), STORE_SIGN_PUBLICKEYBYTES) != 0) {
		r = cl_errf(err, CL_ECRYPTO, "the exported checkpoint was "
		    "signed by another admin key");
		goto out;
	}

	/* k_1: sealed to the admin, and committed to by the configuration. */
	if ((r = audit_meta_blob_dup(s, "k1", &sealed_k1, &sealed_len,
	    err)) != CL_OK)
		goto out;
	if (sealed_k1 == NULL || store_admin_unseal(s, sealed_k1,
	    sealed_len, &k1, &k1_len, NULL) != CL_OK ||
	    k1_len != AUDIT_KEY_BYTES) {
		r = bad(&rep, err, 1, "the sealed first chain key cannot be "
		    "opened (replaced)");
		goto out;
	}
	audit_genesis(g, k1);
	if (sodium_memcmp(g, c.genesis, AUDIT_HASH_BYTES) != 0) {
		r = bad(&rep, err, 1, "the first chain key is not the one the "
		    "signed configuration commits to (log replaced)");
		goto out;
	}
	if ((key = sodium_malloc(AUDIT_KEY_BYTES)) == NULL ||
	    (stored_key = sodium_malloc(AUDIT_KEY_BYTES)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(key, k1, AUDIT_KEY_BYTES);
	if ((r = load_checkpoints(s, &cps, &n_cps, err)) != CL_OK)
		goto out;

	memset(prev_mac, 0, sizeof(prev_mac));
	memset(head, 0, sizeof(head));
	if ((r = store_prepare(s, "SELECT seq, time, kind, profile, body, "
	    "sealed_len, body_hash, mac, head FROM audit_event ORDER BY seq",
	    &st, err)) != CL_OK)
		goto out;
	while ((r = store_step(s, st, err)) == 1) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		int kind = sqlite3_column_int(st, 2);

		if (seq != expected) {
			r = bad(&rep, err, expected, seq > expected ?
			    "missing (deleted)" : "bad sequence number");
			goto out;
		}
		profile = (const char *)sqlite3_column_text(st, 3);
		plen = profile == NULL ? 0 : strlen(profile);
		if (kind < 1 || kind > AUDIT_KIND_MAX || profile == NULL ||
		    plen != (size_t)sqlite3_column_bytes(st, 3) ||
		    (!audit_profile_is_valid(profile) &&
		    strcmp(profile, ADMIN_PROFILE) != 0) ||
		    sqlite3_column_int64(st, 5) < 0 ||
		    sqlite3_column_bytes(st, 6) != AUDIT_HASH_BYTES ||
		    sqlite3_column_bytes(st, 7) != AUDIT_HASH_BYTES ||
		    sqlite3_column_bytes(st, 8) != AUDIT_HASH_BYTES) {
			r = bad(&rep, err, seq, "malformed fields (altered)");
			goto out;
		}
		f.seq = seq;
		f.time = sqlite3_column_int64(st, 1);
		f.kind = (enum audit_kind)kind;
		f.profile = profile;
		f.sealed_len = (uint64_t)sqlite3_column_int64(st, 5);
		memcpy(f.body_hash, sqlite3_column_blob(st, 6),
		    AUDIT_HASH_BYTES);
		if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
			size_t blen = (size_t)sqlite3_column_bytes(st, 4);

			audit_body_hash(want, sqlite3_column_blob(st, 4), blen);
			if (blen != f.sealed_len || sodium_memcmp(want,
			    f.body_hash, AUDIT_HASH_BYTES) != 0) {
				r = bad(&rep, err, seq, "body does not match "
				    "its hash (altered)");
				goto out;
			}
		} else {
			rep.n_purged++;
		}
		audit_mac(mac, key, &f, prev_mac);
		if (sodium_memcmp(mac, sqlite3_column_blob(st, 7),
		    AUDIT_HASH_BYTES) != 0) {
			r = bad(&rep, err, seq, "MAC does not verify under "
			    "this event's own key (altered, reordered, an "
			    "earlier event deleted, or re-sealed with a "
			    "later key)");
			goto out;
		}
		audit_event_hash(ehash, &f, mac);
		audit_head_next(head, head, ehash);
		if (sodium_memcmp(head, sqlite3_column_blob(st, 8),
		    AUDIT_HASH_BYTES) != 0) {
			r = bad(&rep, err, seq, "stored chain head is wrong "
			    "(altered)");
			goto out;
		}
		if (kind == AUDIT_KIND_ADMIN_ACTION)
			last_admin = seq;
		for (; ci < n_cps && cps[ci].seq <= seq; ci++) {
			if (cps[ci].seq != seq ||
			    kind != AUDIT_KIND_CHECKPOINT ||
			    sodium_memcmp(cps[ci].head, head,
			    AUDIT_HASH_BYTES) != 0) {
				r = bad(&rep, err, cps[ci].seq, "the "
				    "checkpoint recorded here does not match "
				    "the log (altered)");
				goto out;
			}
		}
		if (exported != NULL && exported->count == seq) {
			memcpy(exp_head, head, AUDIT_HASH_BYTES);
			have_exp_head = true;
		}
		memcpy(prev_mac, mac, AUDIT_HASH_BYTES);
		audit_key_evolve(key);
		expected++;
		rep.n_events++;
	}
	if (r < 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	n = expected - 1;

	/* The tail: the state must be exactly what appending n events left. */
	if ((r = audit_meta_int(s, "count", &count, err)) != CL_OK)
		goto out;
	if ((uint64_t)count > n) {
		r = bad(&rep, err, n + 1, "missing: the log was truncated "
		    "after event %llu (the state records %lld events)",
		    (unsigned long long)n, (long long)count);
		goto out;
	}
	if ((uint64_t)count < n) {
		r = bad(&rep, err, (uint64_t)count + 1, "not appended by "
		    "cloister (the state records %lld events)",
		    (long long)count);
		goto out;
	}
	if ((r = audit_meta_blob(s, "key", stored_key, AUDIT_KEY_BYTES,
	    err)) != CL_OK)
		goto out;
	if (sodium_memcmp(stored_key, key, AUDIT_KEY_BYTES) != 0) {
		r = bad(&rep, err, n + 1, "the current chain key does not "
		    "follow event %llu: the log was truncated, or the key "
		    "replaced", (unsigned long long)n);
		goto out;
	}
	if (c.set_seq != last_admin) {
		r = bad(&rep, err, c.set_seq > last_admin ? c.set_seq :
		    last_admin, "the level configuration is not the one the "
		    "last admin action set (an older one was put back)");
		goto out;
	}

	/* Stored checkpoints: beyond the end, signatures, epochs. */
	for (i = 0; i < n_cps; i++) {
		struct audit_checkpoint cp;

		if (cps[i].seq > n) {
			r = bad(&rep, err, n + 1, "missing: a checkpoint "
			    "covers %llu events but the log ends at %llu "
			    "(truncated)",
			    (unsigned long long)cps[i].seq,
			    (unsigned long long)n);
			goto out;
		}
		if (cps[i].epoch > store_epoch(s)) {
			r = bad(&rep, err, cps[i].seq, "checkpoint epoch %llu "
			    "is newer than the store's %llu (rolled back)",
			    (unsigned long long)cps[i].epoch,
			    (unsigned long long)store_epoch(s));
			goto out;
		}
		if (!cps[i].is_signed) {
			rep.n_pending++;
			continue;
		}
		memset(&cp, 0, sizeof(cp));
		cp.count = cps[i].seq;
		memcpy(cp.head, cps[i].head, AUDIT_HASH_BYTES);
		cp.epoch = cps[i].epoch;
		cp.time = cps[i].time;
		audit_checkpoint_msg(msg, &cp);
		if (!store_admin_verify(s, msg, sizeof(msg), cps[i].sig)) {
			r = bad(&rep, err, cps[i].seq, "checkpoint signature "
			    "does not verify (altered)");
			goto out;
		}
		rep.n_signed++;
	}

	/* The exported checkpoint: the only defence against rollback. */
	if (exported != NULL) {
		if (exported->count > n) {
			r = bad(&rep, err, n + 1, "missing: the log ends at "
			    "event %llu but the exported checkpoint covers "
			    "%llu events (truncated, or the store was rolled "
			    "back to an older copy)", (unsigned long long)n,
			    (unsigned long long)exported->count);
			goto out;
		}
		if (exported->count > 0 && (!have_exp_head ||
		    sodium_memcmp(exp_head, exported->head,
		    AUDIT_HASH_BYTES) != 0)) {
			r = bad(&rep, err, exported->count, "the events up to "
			    "here differ from the exported checkpoint (the "
			    "store was rolled back or the log rewritten)");
			goto out;
		}
		if (exported->epoch > store_epoch(s)) {
			r = bad(&rep, err, n + 1, "the store epoch %llu is "
			    "older than the exported checkpoint's %llu (the "
			    "store was rolled back to an older copy)",
			    (unsigned long long)store_epoch(s),
			    (unsigned long long)exported->epoch);
			goto out;
		}
	}
	r = CL_OK;
out:
	sqlite3_finalize(st);
	cl_free(sealed_k1);
	cl_free(cps);
	store_secret_free(k1);
	sodium_free(key);
	sodium_free(stored_key);
	sodium_memzero(prev_mac, sizeof(prev_mac));
	if (rep_out != NULL)
		*rep_out = rep;
	return r;
}

/* ---- 3. signed lines ----------------------------------------------------- */

/*
 * `line` holds, from `start`, one complete JSON object ending in '}'.
 * Replace that '}' by ,"sig":"<hex>"} and a newline, signing the bytes
 * before the signature.
 */
static int
line_sign(struct store *s, struct cl_buf *line, size_t start,
    struct cl_err *err)
{
	struct cl_buf msg = CL_BUF_INIT;
	uint8_t sig[STORE_SIGN_BYTES];
	char hex[SIG_HEX + 1];
	int r;

	if (line->len <= start || line->data[line->len - 1] != '}')
		CL_BUG("line_sign: not an object");
	line->len--;
	line->data[line->len] = '\0';
	if (cl_buf_puts(&msg, AUDIT_EXPORT_DOMAIN) != CL_OK ||
	    cl_buf_append(&msg, line->data + start, line->len - start) !=
	    CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = store_admin_sign(s, msg.data, msg.len, sig, err)) != CL_OK)
		goto out;
	audit_hex(hex, sig, sizeof(sig));
	if (cl_buf_puts(line, SIG_INTRO) != CL_OK ||
	    cl_buf_puts(line, hex) != CL_OK ||
	    cl_buf_puts(line, "\"}\n") != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	r = CL_OK;
out:
	if (msg.data != NULL)
		sodium_memzero(msg.data, msg.cap);
	cl_buf_release(&msg);
	return r;
}

static void
json_hex(struct cl_json_writer *w, const char *key, const uint8_t *p,
    size_t n)
{
	char hex[2 * 64 + 1];

	audit_hex(hex, p, n);
	cl_json_key(w, key);
	cl_json_str(w, hex);
}

/* A checkpoint line; `first` (0: none) names an export's first event. */
static int
checkpoint_line(struct store *s, const struct audit_checkpoint *cp,
    uint64_t first, struct cl_buf *out, struct cl_err *err)
{
	struct cl_json_writer w;
	size_t start = out->len;

	cl_json_init(&w, out);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "type");
	cl_json_str(&w, "checkpoint");
	if (first != 0) {
		cl_json_key(&w, "first");
		cl_json_uint(&w, first);
	}
	cl_json_key(&w, "count");
	cl_json_uint(&w, cp->count);
	cl_json_key(&w, "epoch");
	cl_json_uint(&w, cp->epoch);
	cl_json_key(&w, "time");
	cl_json_int(&w, cp->time);
	json_hex(&w, "head", cp->head, AUDIT_HASH_BYTES);
	json_hex(&w, "public_key", cp->public_key, STORE_SIGN_PUBLICKEYBYTES);
	cl_json_obj_end(&w);
	if (w.err != CL_OK)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	return line_sign(s, out, start, err);
}

int
audit_checkpoint_format(struct store *s, const struct audit_checkpoint *cp,
    struct cl_buf *out, struct cl_err *err)
{
	if (!store_is_unlocked(s))
		return cl_errf(err, CL_EAUTH, "this needs the admin "
		    "passphrase");
	return checkpoint_line(s, cp, 0, out, err);
}

static bool
is_lower_hex(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	}
	return true;
}

static int
get_hex(const struct cl_json *o, const char *key, uint8_t *out, size_t n,
    size_t lineno, struct cl_err *err)
{
	const struct cl_json *v = cl_json_get(o, key);
	size_t bin_len;

	if (v == NULL || v->type != CL_JSON_STR || v->str_len != 2 * n ||
	    !is_lower_hex(v->str, v->str_len) ||
	    sodium_hex2bin(out, n, v->str, v->str_len, NULL, &bin_len,
	    NULL) != 0 || bin_len != n)
		return cl_errf(err, CL_EFORMAT, "line %zu: bad or missing "
		    "'%s'", lineno, key);
	return CL_OK;
}

/* A JSON number that is an integer in [lo, 2^53]. */
static int
get_int(const struct cl_json *o, const char *key, double lo, int64_t *out,
    size_t lineno, struct cl_err *err)
{
	const struct cl_json *v = cl_json_get(o, key);

	if (v == NULL || v->type != CL_JSON_NUM || !isfinite(v->num) ||
	    v->num != floor(v->num) || v->num < lo ||
	    v->num > 9007199254740992.0)
		return cl_errf(err, CL_EFORMAT, "line %zu: bad or missing "
		    "'%s'", lineno, key);
	*out = (int64_t)v->num;
	return CL_OK;
}

static const char *
get_str(const struct cl_json *o, const char *key)
{
	const struct cl_json *v = cl_json_get(o, key);

	return v != NULL && v->type == CL_JSON_STR ? v->str : NULL;
}

/*
 * Check that line[0..len) (no newline) is a line signed by `pk` (NULL:
 * the key the line's own "public_key" names, copied to pk_out) and parse
 * it into *out (caller frees with cl_json_free()).
 */
static int
line_open(const char *line, size_t len, const uint8_t *pk, uint8_t *pk_out,
    size_t lineno, struct cl_json **out, struct cl_err *err)
{
	struct cl_buf msg = CL_BUF_INIT;
	struct cl_json *j = NULL;
	uint8_t sig[STORE_SIGN_BYTES], own[STORE_SIGN_PUBLICKEYBYTES];
	const size_t intro = sizeof(SIG_INTRO) - 1;
	size_t sig_at, bin_len;
	int r;

	*out = NULL;
	if (len < intro + SIG_HEX + 2 + 2 || line[0] != '{' ||
	    memcmp(line + len - 2, "\"}", 2) != 0 ||
	    memcmp(line + len - 2 - SIG_HEX - intro, SIG_INTRO, intro) != 0 ||
	    !is_lower_hex(line + len - 2 - SIG_HEX, SIG_HEX)) {
		r = cl_errf(err, CL_EFORMAT, "line %zu: not a signed audit "
		    "line", lineno);
		goto out;
	}
	sig_at = len - 2 - SIG_HEX;
	if (sodium_hex2bin(sig, sizeof(sig), line + sig_at, SIG_HEX, NULL,
	    &bin_len, NULL) != 0 || bin_len != sizeof(sig)) {
		r = cl_errf(err, CL_EFORMAT, "line %zu: bad signature field",
		    lineno);
		goto out;
	}
	if ((r = cl_json_parse(line, len, &j, err)) != CL_OK) {
		r = cl_err_prefix(err, "line %zu", lineno);
		r = CL_EFORMAT;
		goto out;
	}
	if (j->type != CL_JSON_OBJ) {
		r = cl_errf(err, CL_EFORMAT, "line %zu: not an object", lineno);
		goto out;
	}
	if (pk == NULL) {
		if ((r = get_hex(j, "public_key", own, sizeof(own), lineno,
		    err)) != CL_OK)
			goto out;
		pk = own;
		if (pk_out != NULL)
			memcpy(pk_out, own, sizeof(own));
	}
	if (cl_buf_puts(&msg, AUDIT_EXPORT_DOMAIN) != CL_OK ||
	    cl_buf_append(&msg, line, sig_at - intro) != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if (crypto_sign_verify_detached(sig, (const uint8_t *)msg.data,
	    msg.len, pk) != 0) {
		r = cl_errf(err, CL_ECRYPTO, "line %zu: signature does not "
		    "verify (altered, or signed by another key)", lineno);
		goto out;
	}
	*out = j;
	j = NULL;
	r = CL_OK;
out:
	if (msg.data != NULL)
		sodium_memzero(msg.data, msg.cap);
	cl_buf_release(&msg);
	cl_json_free(j);
	return r;
}

/* Fill cp from a parsed checkpoint line (its signature already checked). */
static int
checkpoint_fields(const struct cl_json *j, struct audit_checkpoint *cp,
    size_t lineno, struct cl_err *err)
{
	const char *type = get_str(j, "type");
	int64_t v;
	int r;

	if (type == NULL || strcmp(type, "checkpoint") != 0)
		return cl_errf(err, CL_EFORMAT, "line %zu: not a checkpoint",
		    lineno);
	if ((r = get_int(j, "count", 0, &v, lineno, err)) != CL_OK)
		return r;
	cp->count = (uint64_t)v;
	if ((r = get_int(j, "epoch", 0, &v, lineno, err)) != CL_OK)
		return r;
	cp->epoch = (uint64_t)v;
	if ((r = get_int(j, "time", -9007199254740992.0, &cp->time, lineno,
	    err)) != CL_OK)
		return r;
	if ((r = get_hex(j, "head", cp->head, AUDIT_HASH_BYTES, lineno,
	    err)) != CL_OK ||
	    (r = get_hex(j, "public_key", cp->public_key,
	    STORE_SIGN_PUBLICKEYBYTES, lineno, err)) != CL_OK)
		return r;
	return CL_OK;
}

int
audit_checkpoint_parse(const char *text, size_t len,
    struct audit_checkpoint *cp, struct cl_err *err)
{
	struct cl_json *j = NULL;
	int r;

	memset(cp, 0, sizeof(*cp));
	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (memchr(text, '\n', len) != NULL)
		return cl_errf(err, CL_EFORMAT, "a checkpoint file holds one "
		    "line");
	if ((r = line_open(text, len, NULL, NULL, 1, &j, err)) != CL_OK)
		goto out;
	if ((r = checkpoint_fields(j, cp, 1, err)) != CL_OK)
		goto out;
	/* Keep the line's signature: it is what vouches for the fields. */
	if (sodium_hex2bin(cp->sig, sizeof(cp->sig), text + len - 2 - SIG_HEX,
	    SIG_HEX, NULL, NULL, NULL) != 0) {
		r = cl_errf(err, CL_EFORMAT, "bad signature field");
		goto out;
	}
	r = CL_OK;
out:
	if (r != CL_OK)
		memset(cp, 0, sizeof(*cp));
	cl_json_free(j);
	return r;
}

/* ---- 4. export ----------------------------------------------------------- */

/* Append one event line (signed) to `line`, which is reset first. */
static int
event_line(struct store *s, sqlite3_stmt *st, const uint8_t *prev_head,
    struct cl_buf *line, struct cl_err *err)
{
	struct cl_json_writer w;
	struct cl_json *j = NULL;
	uint8_t *body = NULL;
	size_t body_len = 0;
	uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
	const char *profile = (const char *)sqlite3_column_text(st, 3);
	char *b64 = NULL;
	size_t b64_len;
	int r;

	cl_buf_reset(line);
	if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		if ((r = store_admin_unseal(s, sqlite3_column_blob(st, 4),
		    (size_t)sqlite3_column_bytes(st, 4), &body, &body_len,
		    err)) != CL_OK) {
			r = cl_err_prefix(err, "audit event %llu",
			    (unsigned long long)seq);
			goto out;
		}
	}
	cl_json_init(&w, line);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "type");
	cl_json_str(&w, "event");
	cl_json_key(&w, "seq");
	cl_json_uint(&w, seq);
	cl_json_key(&w, "time");
	cl_json_int(&w, sqlite3_column_int64(st, 1));
	cl_json_key(&w, "kind");
	cl_json_str(&w, audit_kind_name((enum audit_kind)
	    sqlite3_column_int(st, 2)));
	cl_json_key(&w, "profile");
	cl_json_str(&w, profile != NULL ? profile : "");
	cl_json_key(&w, "sealed_len");
	cl_json_int(&w, sqlite3_column_int64(st, 5));
	json_hex(&w, "body_hash", sqlite3_column_blob(st, 6),
	    AUDIT_HASH_BYTES);
	json_hex(&w, "mac", sqlite3_column_blob(st, 7), AUDIT_HASH_BYTES);
	json_hex(&w, "prev_head", prev_head, AUDIT_HASH_BYTES);
	json_hex(&w, "head", sqlite3_column_blob(st, 8), AUDIT_HASH_BYTES);
	if (body == NULL) {
		cl_json_key(&w, "purged");
		cl_json_bool(&w, true);
	} else if (cl_json_parse((const char *)body, body_len, &j, NULL) !=
	    CL_OK) {
		/* Not ours (cannot happen after verify): keep it opaque. */
		b64_len = sodium_base64_ENCODED_LEN(body_len,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = cl_malloc(b64_len)) == NULL) {
			r = cl_errf(err, CL_ENOMEM, "out of memory");
			goto out;
		}
		sodium_bin2base64(b64, b64_len, body, body_len,
		    sodium_base64_VARIANT_ORIGINAL);
		cl_json_key(&w, "body_b64");
		cl_json_str(&w, b64);
	}
	cl_json_obj_end(&w);
	if (w.err != CL_OK) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if (j != NULL) {
		/* Our own JSON: embed it as an object, not a string. */
		line->len--;
		if (cl_buf_puts(line, ",\"body\":") != CL_OK ||
		    cl_buf_append(line, body, body_len) != CL_OK ||
		    cl_buf_puts(line, "}") != CL_OK) {
			r = cl_errf(err, CL_ENOMEM, "out of memory");
			goto out;
		}
	}
	r = line_sign(s, line, 0, err);
out:
	cl_json_free(j);
	if (b64 != NULL) {
		sodium_memzero(b64, b64_len);
		cl_free(b64);
	}
	store_secret_free(body);
	return r;
}

int
audit_export(struct store *s, int64_t since, int fd, uint64_t *n_events,
    struct cl_err *err)
{
	struct audit_verify_report rep;
	struct audit_checkpoint cp;
	struct audit_config c;
	struct cl_buf line = CL_BUF_INIT;
	sqlite3_stmt *st = NULL;
	uint8_t head[AUDIT_HASH_BYTES];
	uint64_t first = 0, n = 0;
	bool in_tx = false;
	int r;

	if (n_events != NULL)
		*n_events = 0;
	if ((r = need_log(s, &c, err)) != CL_OK)
		return r;
	/* One read transaction: what is verified is what is exported. */
	if ((r = store_exec(s, "BEGIN", err)) != CL_OK)
		goto out;
	in_tx = true;
	if ((r = audit_verify(s, NULL, &rep, err)) != CL_OK) {
		cl_err_prefix(err, "not exporting");
		goto out;
	}
	if ((r = store_prepare(s, "SELECT coalesce(min(seq), 0) FROM "
	    "audit_event WHERE time >= ?", &st, err)) != CL_OK)
		goto out;
	sqlite3_bind_int64(st, 1, since);
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	first = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (first == 0)
		first = rep.n_events + 1;
	memset(head, 0, sizeof(head));
	if (first > 1) {
		if ((r = store_prepare(s, "SELECT head FROM audit_event WHERE "
		    "seq = ?", &st, err)) != CL_OK)
			goto out;
		sqlite3_bind_int64(st, 1, (int64_t)first - 1);
		if ((r = store_step(s, st, err)) < 0)
			goto out;
		memcpy(head, sqlite3_column_blob(st, 0), AUDIT_HASH_BYTES);
		sqlite3_finalize(st);
		st = NULL;
	}
	if ((r = store_prepare(s, "SELECT seq, time, kind, profile, body, "
	    "sealed_len, body_hash, mac, head FROM audit_event WHERE "
	    "seq >= ? ORDER BY seq", &st, err)) != CL_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (int64_t)first);
	while ((r = store_step(s, st, err)) == 1) {
		if ((r = event_line(s, st, head, &line, err)) != CL_OK ||
		    (r = cl_write_all(fd, line.data, line.len, err)) != CL_OK)
			goto out;
		memcpy(head, sqlite3_column_blob(st, 8), AUDIT_HASH_BYTES);
		n++;
	}
	if (r < 0)
		goto out;
	memset(&cp, 0, sizeof(cp));
	cp.count = rep.n_events;
	memcpy(cp.head, head, AUDIT_HASH_BYTES);
	cp.epoch = store_epoch(s);
	cp.time = audit_now();
	memcpy(cp.public_key, store_admin_sign_public_key(s),
	    STORE_SIGN_PUBLICKEYBYTES);
	cl_buf_reset(&line);
	if ((r = checkpoint_line(s, &cp, first, &line, err)) != CL_OK ||
	    (r = cl_write_all(fd, line.data, line.len, err)) != CL_OK)
		goto out;
	if (n_events != NULL)
		*n_events = n;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	if (in_tx && store_exec(s, "COMMIT", NULL) != CL_OK)
		audit_rollback(s);	/* read-only: nothing to lose */
	if (line.data != NULL)
		sodium_memzero(line.data, line.cap);
	cl_buf_release(&line);
	return r;
}

/* ---- 5. verifying an export ---------------------------------------------- */

/* Check one event line against the chain so far. */
static int
export_event(const struct cl_json *j, size_t lineno, bool *any,
    uint64_t *first, uint64_t *last_seq, uint8_t *last_head,
    struct cl_err *err)
{
	struct audit_fields f;
	enum audit_kind kind;
	uint8_t mac[AUDIT_HASH_BYTES], prev[AUDIT_HASH_BYTES];
	uint8_t head[AUDIT_HASH_BYTES], ehash[AUDIT_HASH_BYTES];
	const char *kname, *profile;
	int64_t v;
	int r;

	memset(&f, 0, sizeof(f));
	if ((r = get_int(j, "seq", 1, &v, lineno, err)) != CL_OK)
		return r;
	f.seq = (uint64_t)v;
	if ((r = get_int(j, "time", -9007199254740992.0, &f.time, lineno,
	    err)) != CL_OK)
		return r;
	if ((kname = get_str(j, "kind")) == NULL ||
	    audit_kind_parse(kname, &kind, NULL) != CL_OK)
		return cl_errf(err, CL_EFORMAT, "line %zu: bad or missing "
		    "'kind'", lineno);
	f.kind = kind;
	if ((profile = get_str(j, "profile")) == NULL ||
	    (!audit_profile_is_valid(profile) &&
	    strcmp(profile, ADMIN_PROFILE) != 0))
		return cl_errf(err, CL_EFORMAT, "line %zu: bad or missing "
		    "'profile'", lineno);
	f.profile = profile;
	if ((r = get_int(j, "sealed_len", 0, &v, lineno, err)) != CL_OK)
		return r;
	f.sealed_len = (uint64_t)v;
	if ((r = get_hex(j, "body_hash", f.body_hash, AUDIT_HASH_BYTES,
	    lineno, err)) != CL_OK ||
	    (r = get_hex(j, "mac", mac, sizeof(mac), lineno, err)) != CL_OK ||
	    (r = get_hex(j, "prev_head", prev, sizeof(prev), lineno, err)) !=
	    CL_OK ||
	    (r = get_hex(j, "head", head, sizeof(head), lineno, err)) != CL_OK)
		return r;
	if (*any) {
		if (f.seq != *last_seq + 1)
			return cl_errf(err, CL_ECRYPTO, "line %zu: event %llu "
			    "follows event %llu (lines missing or reordered)",
			    lineno, (unsigned long long)f.seq,
			    (unsigned long long)*last_seq);
		if (sodium_memcmp(prev, last_head, AUDIT_HASH_BYTES) != 0)
			return cl_errf(err, CL_ECRYPTO, "line %zu: event %llu "
			    "does not chain to the one before", lineno,
			    (unsigned long long)f.seq);
	} else {
		*first = f.seq;
	}
	audit_event_hash(ehash, &f, mac);
	audit_head_next(ehash, prev, ehash);
	if (sodium_memcmp(ehash, head, AUDIT_HASH_BYTES) != 0)
		return cl_errf(err, CL_ECRYPTO, "line %zu: event %llu does not "
		    "match its chain head", lineno, (unsigned long long)f.seq);
	*any = true;
	*last_seq = f.seq;
	memcpy(last_head, head, AUDIT_HASH_BYTES);
	return CL_OK;
}

int
audit_export_verify(const char *text, size_t len,
    const uint8_t pk[STORE_SIGN_PUBLICKEYBYTES], uint64_t *n_events,
    struct cl_err *err)
{
	struct audit_checkpoint cp;
	struct cl_json *j = NULL;
	uint8_t last_head[AUDIT_HASH_BYTES];
	uint64_t first = 0, last_seq = 0, n = 0;
	const char *type, *nl;
	size_t pos = 0, lineno = 0;
	int64_t cp_first;
	bool any = false, have_cp = false;
	int r;

	if (n_events != NULL)
		*n_events = 0;
	memset(last_head, 0, sizeof(last_head));
	while (pos < len) {
		lineno++;
		if (have_cp) {
			r = cl_errf(err, CL_EFORMAT, "line %zu: data after the "
			    "checkpoint line", lineno);
			goto out;
		}
		if ((nl = memchr(text + pos, '\n', len - pos)) == NULL) {
			r = cl_errf(err, CL_EFORMAT, "line %zu: no final "
			    "newline (truncated)", lineno);
			goto out;
		}
		if ((r = line_open(text + pos, (size_t)(nl - (text + pos)), pk,
		    NULL, lineno, &j, err)) != CL_OK)
			goto out;
		pos = (size_t)(nl - text) + 1;
		if ((type = get_str(j, "type")) != NULL &&
		    strcmp(type, "event") == 0) {
			if ((r = export_event(j, lineno, &any, &first,
			    &last_seq, last_head, err)) != CL_OK)
				goto out;
			n++;
		} else {
			memset(&cp, 0, sizeof(cp));
			if ((r = checkpoint_fields(j, &cp, lineno, err)) !=
			    CL_OK ||
			    (r = get_int(j, "first", 1, &cp_first, lineno,
			    err)) != CL_OK)
				goto out;
			if (sodium_memcmp(cp.public_key, pk,
			    STORE_SIGN_PUBLICKEYBYTES) != 0) {
				r = cl_errf(err, CL_ECRYPTO, "line %zu: the "
				    "checkpoint names another key", lineno);
				goto out;
			}
			if (any ? ((uint64_t)cp_first != first ||
			    cp.count != last_seq || sodium_memcmp(cp.head,
			    last_head, AUDIT_HASH_BYTES) != 0) :
			    (uint64_t)cp_first != cp.count + 1) {
				r = cl_errf(err, CL_ECRYPTO, "line %zu: the "
				    "checkpoint covers events %lld to %llu, "
				    "which are not the lines above (lines "
				    "missing)", lineno, (long long)cp_first,
				    (unsigned long long)cp.count);
				goto out;
			}
			have_cp = true;
		}
		cl_json_free(j);
		j = NULL;
	}
	if (!have_cp) {
		r = cl_errf(err, CL_ECRYPTO, "the export ends without its "
		    "checkpoint line (truncated)");
		goto out;
	}
	if (n_events != NULL)
		*n_events = n;
	r = CL_OK;
out:
	cl_json_free(j);
	return r;
}
