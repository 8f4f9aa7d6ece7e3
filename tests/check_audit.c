/*
 * check_audit.c - tests of audit/: levels (off writes nothing), sealed
 * bodies in shared mode, every tampering the store key allows, rollback
 * and truncation against an exported checkpoint, export verified with the
 * public key alone (and every byte of it), purge, retention, pending
 * checkpoints, allocation failures.
 *
 * The attacker in the tamper tests holds what a non-admin holds in shared
 * mode: the store opens without a passphrase, so any row can be changed
 * with SQL, bodies can be sealed to the admin's public key, and the
 * current chain key can be read.  What they lack is the admin passphrase.
 * Expected verdicts (which event is the first bad one) follow from the
 * chain's definition in audit_impl.h, not from running the code.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/audit.h"
#include "audit/audit_impl.h"
#include "store/store.h"
#include "store/store_impl.h"

#define PASS		"correct horse battery staple"
#define PASS_LEN	(sizeof(PASS) - 1)
#define PROMPT		"PROMPT-MARKER: volcanoes? \"quoted\"\n\ttab é"
#define ANSWER		"ANSWER-MARKER: magma rises \\ through the crust. ✓"

static char tmpdir[256];

/* ---- helpers ------------------------------------------------------------- */

static void
setup(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_audit.XXXXXX",
	    base != NULL ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	audit_test_now = 0;
}

static void
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static char *
path_in(const char *dir, const char *name)
{
	static char p[8][600];
	static int i;

	i = (i + 1) % 8;
	if ((size_t)snprintf(p[i], sizeof(p[i]), "%.300s/%.200s", dir, name) >=
	    sizeof(p[i]))
		ck_abort_msg("path too long");
	return p[i];
}

static struct store_options
fast_opts(enum store_mode mode)
{
	struct store_options o = STORE_OPTIONS_INIT;

	o.mode = mode;
	o.kdf_opslimit = crypto_pwhash_OPSLIMIT_MIN;
	o.kdf_memlimit = crypto_pwhash_MEMLIMIT_MIN;
	return o;
}

static struct store *
make_store(enum store_mode mode)
{
	struct store_options o = fast_opts(mode);
	struct cl_err err = CL_ERR_INIT;
	struct store *s = NULL;

	ck_assert_msg(store_create(tmpdir, PASS, PASS_LEN, &o, &s, &err) ==
	    CL_OK, "%s", err.msg);
	return s;
}

/* Open as the admin (unlocked) or, in shared mode, as anyone (locked). */
static struct store *
reopen(bool admin)
{
	struct store_options o = fast_opts(STORE_MODE_SHARED);
	struct cl_err err = CL_ERR_INIT;
	struct store *s = NULL;

	ck_assert_msg(store_open(tmpdir, admin ? PASS : NULL, admin ?
	    PASS_LEN : 0, &o, &s, &err) == CL_OK, "%s", err.msg);
	return s;
}

static void
ok(int r, const struct cl_err *err)
{
	ck_assert_msg(r == CL_OK, "code %d: %s", r, err->msg);
}

/* One session of `profile` through the broker's API. */
static void
session(struct store *s, const char *profile, const char *prompt,
    const char *answer)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_tokens tok = { 12, 34 };
	struct audit *a = NULL;

	ok(audit_open(s, profile, &a, &err), &err);
	ok(audit_session_start(a, "{\"seccomp\":2,\"no_new_privs\":1}",
	    "blake2b:model", "blake2b:policy", &err), &err);
	ok(audit_jail_report(a, "{\"landlock\":4}", &err), &err);
	ok(audit_prompt(a, prompt, strlen(prompt), &err), &err);
	ok(audit_policy_action(a, "{\"verdict\":\"allow\"}", &err), &err);
	ok(audit_answer(a, answer, strlen(answer), &tok, &err), &err);
	ok(audit_session_end(a, "done", &err), &err);
	audit_close(a);
}
/* Events one session() appends at a level other than off. */
#define SESSION_EVENTS	7

static void
verify_ok(struct store *s, const struct audit_checkpoint *cp)
{
	struct audit_verify_report rep;
	struct cl_err err = CL_ERR_INIT;

	ck_assert_msg(audit_verify(s, cp, &rep, &err) == CL_OK, "%s",
	    err.msg);
	ck_assert_uint_eq(rep.first_bad, 0);
}

/* Verify as the admin; expect tampering found first at `seq`. */
static void
verify_bad(const struct audit_checkpoint *cp, uint64_t seq, const char *why)
{
	struct audit_verify_report rep;
	struct cl_err err = CL_ERR_INIT;
	struct store *s = reopen(true);

	ck_assert_int_eq(audit_verify(s, cp, &rep, &err), CL_ECRYPTO);
	ck_assert_msg(rep.first_bad == seq, "first bad %llu, want %llu: %s",
	    (unsigned long long)rep.first_bad, (unsigned long long)seq,
	    err.msg);
	ck_assert_msg(strstr(err.msg, why) != NULL, "'%s' lacks '%s'",
	    err.msg, why);
	store_close(s);
}

/* A shared store with `n` full-level sessions of "kid"; closed. */
static uint64_t
build_log(int n, bool pending)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s = make_store(STORE_MODE_SHARED);
	int i;

	ok(audit_set_level(s, "kid", AUDIT_LEVEL_FULL, &err), &err);
	store_close(s);
	s = reopen(!pending);
	for (i = 0; i < n; i++)
		session(s, "kid", PROMPT, ANSWER);
	store_close(s);
	return 1 + (uint64_t)n * SESSION_EVENTS;
}

static void
sql(struct store *s, const char *q)
{
	struct cl_err err = CL_ERR_INIT;

	ck_assert_msg(store_exec(s, q, &err) == CL_OK, "%s: %s", q, err.msg);
}

static int64_t
sql_int(struct store *s, const char *q)
{
	struct cl_err err = CL_ERR_INIT;
	sqlite3_stmt *st = NULL;
	int64_t v;

	ck_assert_int_eq(store_prepare(s, q, &st, &err), CL_OK);
	ck_assert_int_eq(store_step(s, st, &err), 1);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct cl_err err = CL_ERR_INIT;
	char *p = NULL;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY)) == -1) {
		ck_assert_int_eq(errno, ENOENT);
		return NULL;
	}
	ck_assert_int_eq(cl_read_all(fd, 1 << 30, &p, len, &err), CL_OK);
	close(fd);
	return (uint8_t *)p;
}

static void
spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static void
copy_file(const char *from, const char *to)
{
	size_t n;
	uint8_t *p = slurp(from, &n);

	if (p == NULL) {
		unlink(to);
		return;
	}
	spit(to, p, n);
	cl_free(p);
}

/*
 * Decrypt every page image of store.db and of the WAL's frames with the
 * data key (from the key file and passphrase) and say whether `needle`
 * occurs in any of them.
 */
static bool
pages_contain(const void *needle, size_t n)
{
	struct store_keyfile kf;
	struct store_secrets *sec;
	struct cl_err err = CL_ERR_INIT;
	uint8_t pk[32], *db, page[STORE_PAGE_SIZE];
	size_t len, off;
	bool found = false;

	ok(store_keyfile_read(path_in(tmpdir, "store.key"), &kf, &err), &err);
	sec = sodium_malloc(sizeof(*sec));
	ok(store_keyfile_kek(&kf, PASS, PASS_LEN, sec, &err), &err);
	ok(store_keyfile_unwrap(&kf, sec, &err), &err);
	store_page_key(pk, sec->data_key);
	sodium_free(sec);
	db = slurp(path_in(tmpdir, "store.db"), &len);
	ck_assert_ptr_nonnull(db);
	for (off = 0; off + STORE_PAGE_SIZE <= len; off += STORE_PAGE_SIZE) {
		ck_assert_int_eq(store_page_open(pk, kf.file_id,
		    (uint32_t)(off / STORE_PAGE_SIZE + 1), STORE_KIND_DB,
		    db + off, page), 0);
		if (memmem(page, sizeof(page), needle, n) != NULL)
			found = true;
	}
	cl_free(db);
	db = slurp(path_in(tmpdir, "store.db-wal"), &len);
	for (off = STORE_WAL_HDR; db != NULL && off + STORE_WAL_FRAME <= len;
	    off += STORE_WAL_FRAME) {
		uint32_t pgno = (uint32_t)db[off] << 24 |
		    (uint32_t)db[off + 1] << 16 | (uint32_t)db[off + 2] << 8 |
		    db[off + 3];

		if (store_page_open(pk, kf.file_id, pgno, STORE_KIND_WAL,
		    db + off + STORE_WAL_FRAME_HDR, page) == 0 &&
		    memmem(page, sizeof(page), needle, n) != NULL)
			found = true;
	}
	cl_free(db);
	return found;
}

/* ---- levels -------------------------------------------------------------- */

START_TEST(test_off_writes_nothing)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	uint8_t *db0, *db1, *wal0, *wal1;
	size_t n_db0, n_db1, n_wal0, n_wal1;
	struct audit *a = NULL;
	int round;

	/*
	 * Round 0: audit never enabled.  Round 1: enabled for another
	 * profile, so the tables exist and "kid" is off by default.
	 */
	s = make_store(STORE_MODE_SHARED);
	for (round = 0; round < 2; round++) {
		if (round == 1) {
			ok(audit_set_level(s, "parent", AUDIT_LEVEL_FULL,
			    &err), &err);
			store_close(s);
			s = reopen(false);
		}
		ok(audit_flush_wal(s, NULL, &err), &err);
		db0 = slurp(path_in(tmpdir, "store.db"), &n_db0);
		wal0 = slurp(path_in(tmpdir, "store.db-wal"), &n_wal0);

		ok(audit_open(s, "kid", &a, &err), &err);
		ck_assert_int_eq(audit_level(a), AUDIT_LEVEL_OFF);
		audit_close(a);
		session(s, "kid", PROMPT, ANSWER);

		db1 = slurp(path_in(tmpdir, "store.db"), &n_db1);
		wal1 = slurp(path_in(tmpdir, "store.db-wal"), &n_wal1);
		ck_assert_uint_eq(n_db0, n_db1);
		ck_assert(memcmp(db0, db1, n_db0) == 0);
		ck_assert_uint_eq(n_wal0, n_wal1);
		ck_assert(n_wal0 == 0 || memcmp(wal0, wal1, n_wal0) == 0);
		cl_free(db0);
		cl_free(db1);
		cl_free(wal0);
		cl_free(wal1);
	}
	/* And the other profile is logged. */
	session(s, "parent", PROMPT, ANSWER);
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event"),
	    1 + SESSION_EVENTS);
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event "
	    "WHERE profile = 'kid'"), 0);
	store_close(s);
}
END_TEST

START_TEST(test_levels_admin_only)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_status st;
	struct audit *a = NULL;
	struct store *s = make_store(STORE_MODE_SHARED);
	enum audit_level l;

	ok(audit_set_level(s, NULL, AUDIT_LEVEL_METADATA, &err), &err);
	ok(audit_set_level(s, "kid", AUDIT_LEVEL_FULL, &err), &err);
	ok(audit_set_level(s, "guest", AUDIT_LEVEL_OFF, &err), &err);
	store_close(s);

	s = reopen(false);
	ck_assert_int_eq(audit_set_level(s, "kid", AUDIT_LEVEL_OFF, &err),
	    CL_EAUTH);
	ck_assert_int_eq(audit_set_retention(s, 1, &err), CL_EAUTH);
	ok(audit_open(s, "kid", &a, &err), &err);
	ck_assert_int_eq(audit_level(a), AUDIT_LEVEL_FULL);
	audit_close(a);
	ok(audit_open(s, "guest", &a, &err), &err);
	ck_assert_int_eq(audit_level(a), AUDIT_LEVEL_OFF);
	audit_close(a);
	ok(audit_open(s, "someone", &a, &err), &err);
	ck_assert_int_eq(audit_level(a), AUDIT_LEVEL_METADATA);
	audit_close(a);
	ck_assert_int_eq(audit_open(s, "../x", &a, &err), CL_EINVAL);
	ck_assert_ptr_null(a);

	ok(audit_status_get(s, &st, &err), &err);
	ck_assert(st.configured);
	ck_assert_int_eq(st.default_level, AUDIT_LEVEL_METADATA);
	ck_assert_uint_eq(st.n_profiles, 2);
	ck_assert_uint_eq(st.n_events, 3);	/* three admin actions */
	audit_status_release(&st);
	/* Each change is an admin_action event. */
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event WHERE "
	    "kind = 7"), 3);
	store_close(s);

	/* A forged configuration (signature no longer matches) is refused. */
	s = reopen(false);
	sql(s, "UPDATE audit_meta SET value = CAST(replace(CAST(value AS "
	    "TEXT), 'kid', 'kie') AS BLOB) WHERE name = 'config'");
	ck_assert_int_eq(audit_open(s, "kid", &a, &err), CL_ECRYPTO);
	/* So is a deleted one while the log exists. */
	sql(s, "DELETE FROM audit_meta WHERE name = 'config'");
	ck_assert_int_eq(audit_open(s, "kid", &a, &err), CL_ECRYPTO);
	ck_assert_ptr_null(a);
	store_close(s);

	ck_assert_int_eq(audit_level_parse("full", &l, &err), CL_OK);
	ck_assert_int_eq(l, AUDIT_LEVEL_FULL);
	ck_assert_int_eq(audit_level_parse("verbose", &l, &err), CL_EINVAL);
}
END_TEST

/* ---- shared mode: non-admins write, only the admin reads ----------------- */

START_TEST(test_full_shared_nonadmin)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_filter f = { 0, 0, NULL, 0 };
	struct audit_iter *it = NULL;
	const struct audit_event *ev;
	struct audit_status st;
	struct cl_json *j = NULL;
	const struct cl_json *v;
	struct store *s;
	sqlite3_stmt *q = NULL;
	uint8_t *pt = NULL;
	size_t pt_len;
	uint64_t n_signed;
	int n_prompt = 0, n_answer = 0, r;

	build_log(1, true);			/* the kid's session, locked */
	s = reopen(false);
	/* In the store, but sealed: no plaintext in any body. */
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event WHERE "
	    "profile = 'kid'"), SESSION_EVENTS);
	ok(store_prepare(s, "SELECT body FROM audit_event", &q, &err), &err);
	while (store_step(s, q, &err) == 1) {
		ck_assert_ptr_null(memmem(sqlite3_column_blob(q, 0),
		    (size_t)sqlite3_column_bytes(q, 0), "MARKER", 6));
		ck_assert_int_eq(store_admin_unseal(s,
		    sqlite3_column_blob(q, 0),
		    (size_t)sqlite3_column_bytes(q, 0), &pt, &pt_len, &err),
		    CL_EAUTH);
		ck_assert_ptr_null(pt);
	}
	sqlite3_finalize(q);
	ck_assert_int_eq(audit_iter_new(s, &f, true, &it, &err), CL_EAUTH);
	ck_assert_int_eq(audit_verify(s, NULL, NULL, &err), CL_EAUTH);
	ok(audit_status_get(s, &st, &err), &err);
	ck_assert_uint_eq(st.n_pending, 1);
	ck_assert_uint_eq(st.n_signed, 0);
	audit_status_release(&st);

	/* The admin reads them back exactly. */
	ok(store_unlock(s, PASS, PASS_LEN, &err), &err);
	f.profile = "kid";
	ok(audit_iter_new(s, &f, true, &it, &err), &err);
	while ((r = audit_iter_next(it, &ev, &err)) == 1) {
		ck_assert_str_eq(ev->profile, "kid");
		ck_assert_ptr_nonnull(ev->body);
		ok(cl_json_parse((const char *)ev->body, ev->body_len, &j,
		    &err), &err);
		if (ev->kind == AUDIT_KIND_PROMPT) {
			v = cl_json_get(j, "text");
			ck_assert_ptr_nonnull(v);
			ck_assert_str_eq(v->str, PROMPT);
			n_prompt++;
		} else if (ev->kind == AUDIT_KIND_ANSWER) {
			v = cl_json_get(j, "text");
			ck_assert_ptr_nonnull(v);
			ck_assert_str_eq(v->str, ANSWER);
			ck_assert(cl_json_get(j, "output_tokens")->num == 34);
			ck_assert(cl_json_get(j, "prompt_tokens")->num == 12);
			n_answer++;
		}
		cl_json_free(j);
		j = NULL;
	}
	ck_assert_int_eq(r, 0);
	audit_iter_free(it);
	ck_assert_int_eq(n_prompt, 1);
	ck_assert_int_eq(n_answer, 1);

	/* The pending checkpoint is signed at the admin's unlock. */
	ok(audit_sign_pending(s, &n_signed, &err), &err);
	ck_assert_uint_eq(n_signed, 1);
	ok(audit_status_get(s, &st, &err), &err);
	ck_assert_uint_eq(st.n_pending, 0);
	ck_assert_uint_eq(st.n_signed, 1);
	audit_status_release(&st);
	verify_ok(s, NULL);
	store_close(s);
}
END_TEST

START_TEST(test_metadata_has_no_text)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_iter *it = NULL;
	const struct audit_event *ev;
	struct store *s = make_store(STORE_MODE_PERSONAL);
	struct store_options o = fast_opts(STORE_MODE_PERSONAL);

	ok(audit_set_level(s, NULL, AUDIT_LEVEL_METADATA, &err), &err);
	session(s, "me", PROMPT, ANSWER);
	ok(audit_iter_new(s, NULL, true, &it, &err), &err);
	while (audit_iter_next(it, &ev, &err) == 1) {
		ck_assert_ptr_nonnull(ev->body);
		ck_assert_ptr_null(strstr((const char *)ev->body, "MARKER"));
	}
	audit_iter_free(it);
	verify_ok(s, NULL);
	store_close(s);
	s = NULL;
	/* Personal mode: the passphrase opens the store and the log. */
	ok(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err), &err);
	verify_ok(s, NULL);
	store_close(s);
}
END_TEST

/* ---- tampering ----------------------------------------------------------- */

START_TEST(test_tamper_body)
{
	struct store *s;

	build_log(2, false);
	s = reopen(false);
	sql(s, "UPDATE audit_event SET body = zeroblob(length(body)) "
	    "WHERE seq = 5");
	store_close(s);
	verify_bad(NULL, 5, "body does not match its hash");
}
END_TEST

START_TEST(test_tamper_fields)
{
	static const char *const edits[] = {
		"UPDATE audit_event SET time = time + 1 WHERE seq = 6",
		"UPDATE audit_event SET kind = 5 WHERE seq = 6",
		"UPDATE audit_event SET profile = 'parent' WHERE seq = 6",
		"UPDATE audit_event SET body = NULL WHERE seq = 6",	/* ok */
		"UPDATE audit_event SET mac = zeroblob(32) WHERE seq = 6",
		"UPDATE audit_event SET head = zeroblob(32) WHERE seq = 6",
		"UPDATE audit_event SET sealed_len = sealed_len - 1 "
		"WHERE seq = 6",
	};
	struct cl_err err = CL_ERR_INIT;
	struct audit_verify_report rep;
	struct store *s;
	size_t i;

	build_log(2, false);
	s = reopen(true);
	for (i = 0; i < CL_ARRAY_LEN(edits); i++) {
		sql(s, "SAVEPOINT t");
		sql(s, edits[i]);
		if (i == 3) {
			/* A purged body verifies: only its hash counts. */
			ck_assert_int_eq(audit_verify(s, NULL, &rep, &err),
			    CL_OK);
		} else {
			ck_assert_int_eq(audit_verify(s, NULL, &rep, &err),
			    CL_ECRYPTO);
			ck_assert_msg(rep.first_bad == 6, "%s: %s", edits[i],
			    err.msg);
		}
		sql(s, "ROLLBACK TO t; RELEASE t");
	}
	verify_ok(s, NULL);
	store_close(s);
}
END_TEST

START_TEST(test_tamper_every_byte)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_verify_report rep;
	struct store *s;
	sqlite3_stmt *q = NULL, *u = NULL;
	uint8_t buf[4096];
	int col, n, i;
	static const char *const cols[] = { "body", "body_hash", "mac",
	    "head", "profile" };
	char sel[128], upd[128];

	/* Flip every byte of every blob of event 3: always caught at 3. */
	build_log(1, false);
	s = reopen(true);
	for (col = 0; col < (int)CL_ARRAY_LEN(cols); col++) {
		snprintf(sel, sizeof(sel), "SELECT %s FROM audit_event WHERE "
		    "seq = 3", cols[col]);
		snprintf(upd, sizeof(upd), "UPDATE audit_event SET %s = ? "
		    "WHERE seq = 3", cols[col]);
		ok(store_prepare(s, sel, &q, &err), &err);
		ck_assert_int_eq(store_step(s, q, &err), 1);
		n = sqlite3_column_bytes(q, 0);
		ck_assert_int_le(n, (int)sizeof(buf));
		memcpy(buf, sqlite3_column_blob(q, 0), (size_t)n);
		sqlite3_finalize(q);
		ok(store_prepare(s, upd, &u, &err), &err);
		for (i = 0; i < n; i++) {
			buf[i] ^= 0x01;
			sql(s, "SAVEPOINT t");
			sqlite3_reset(u);
			if (col == 4)
				sqlite3_bind_text(u, 1, (char *)buf, n,
				    SQLITE_STATIC);
			else
				sqlite3_bind_blob(u, 1, buf, n, SQLITE_STATIC);
			ck_assert_int_eq(store_step(s, u, &err), 0);
			ck_assert_int_eq(audit_verify(s, NULL, &rep, &err),
			    CL_ECRYPTO);
			ck_assert_msg(rep.first_bad == 3, "%s byte %d: %s",
			    cols[col], i, err.msg);
			sql(s, "ROLLBACK TO t; RELEASE t");
			buf[i] ^= 0x01;
		}
		sqlite3_finalize(u);
	}
	verify_ok(s, NULL);
	store_close(s);
}
END_TEST

START_TEST(test_tamper_delete_middle)
{
	struct store *s;

	build_log(2, false);
	s = reopen(false);
	sql(s, "DELETE FROM audit_event WHERE seq = 7");
	store_close(s);
	verify_bad(NULL, 7, "missing (deleted)");
}
END_TEST

START_TEST(test_tamper_renumber)
{
	struct store *s;

	/* Delete 7 and close the gap: 8 now sits at 7 with 8's MAC. */
	build_log(2, false);
	s = reopen(false);
	sql(s, "DELETE FROM audit_event WHERE seq = 7;"
	    "UPDATE audit_event SET seq = seq - 1 WHERE seq > 7;"
	    "UPDATE audit_meta SET value = value - 1 WHERE name = 'count'");
	store_close(s);
	verify_bad(NULL, 7, "MAC does not verify");
}
END_TEST

START_TEST(test_tamper_reorder)
{
	struct store *s;

	build_log(2, false);
	s = reopen(false);
	/* Swap the contents of events 4 and 5 (each keeps its number). */
	sql(s, "CREATE TEMP TABLE x AS SELECT * FROM audit_event "
	    "WHERE seq IN (4, 5);"
	    "UPDATE audit_event SET (time, kind, profile, body, sealed_len, "
	    "body_hash, mac, head) = (SELECT time, kind, profile, body, "
	    "sealed_len, body_hash, mac, head FROM x WHERE x.seq = "
	    "9 - audit_event.seq) WHERE seq IN (4, 5)");
	store_close(s);
	verify_bad(NULL, 4, "MAC does not verify");
}
END_TEST

START_TEST(test_tamper_tail)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_checkpoint cp;
	struct cl_buf line = CL_BUF_INIT;
	struct store *s;
	uint64_t n;

	n = build_log(3, false);
	s = reopen(true);
	ok(audit_checkpoint(s, &cp, &err), &err);
	ok(audit_checkpoint_format(s, &cp, &line, &err), &err);
	n++;
	store_close(s);
	memset(&cp, 0, sizeof(cp));
	ok(audit_checkpoint_parse(line.data, line.len, &cp, &err), &err);
	ck_assert_uint_eq(cp.count, n);

	/* Cut the last 3 events and fix the count: the key gives it away. */
	s = reopen(false);
	sql(s, "DELETE FROM audit_event WHERE seq > (SELECT max(seq) - 3 "
	    "FROM audit_event); DELETE FROM audit_checkpoint WHERE seq > "
	    "(SELECT max(seq) FROM audit_event);"
	    "UPDATE audit_meta SET value = value - 3 WHERE name = 'count'");
	store_close(s);
	verify_bad(NULL, n - 2, "current chain key does not follow");
	verify_bad(&cp, n - 2, "current chain key does not follow");
	cl_buf_release(&line);
}
END_TEST

/*
 * The CVE-2023-31439 attack: rewrite an old event and seal it again with
 * the current key, fixing up every later event and the state, as a
 * thief with the store and the current key can.
 */
START_TEST(test_tamper_reseal_current_key)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_fields f;
	struct store *s;
	sqlite3_stmt *q = NULL, *u = NULL;
	uint8_t key[32], prev_mac[32], prev_head[32], mac[32], eh[32];
	uint8_t *sealed = NULL;
	size_t sealed_len;
	char profile[AUDIT_PROFILE_MAX + 1];
	uint64_t n, seq;
	const char fake[] = "{\"session\":2,\"bytes\":5,\"text\":\"hello\"}";

	n = build_log(2, false);
	s = reopen(false);
	ok(audit_meta_blob(s, "key", key, sizeof(key), &err), &err);
	ok(store_seal_to_admin(s, fake, strlen(fake), &sealed, &sealed_len,
	    &err), &err);
	ok(store_prepare(s, "SELECT mac, head FROM audit_event WHERE seq = 3",
	    &q, &err), &err);
	ck_assert_int_eq(store_step(s, q, &err), 1);
	memcpy(prev_mac, sqlite3_column_blob(q, 0), 32);
	memcpy(prev_head, sqlite3_column_blob(q, 1), 32);
	sqlite3_finalize(q);
	ok(store_prepare(s, "UPDATE audit_event SET body = ?, sealed_len = ?, "
	    "body_hash = ? WHERE seq = 4", &u, &err), &err);
	sqlite3_bind_blob(u, 1, sealed, (int)sealed_len, SQLITE_STATIC);
	sqlite3_bind_int64(u, 2, (int64_t)sealed_len);
	audit_body_hash(f.body_hash, sealed, sealed_len);
	sqlite3_bind_blob(u, 3, f.body_hash, 32, SQLITE_STATIC);
	ck_assert_int_eq(store_step(s, u, &err), 0);
	sqlite3_finalize(u);
	/* Re-MAC 4..n with the current key, evolving it as cloister does. */
	for (seq = 4; seq <= n; seq++) {
		ok(store_prepare(s, "SELECT time, kind, profile, sealed_len, "
		    "body_hash FROM audit_event WHERE seq = ?", &q, &err),
		    &err);
		sqlite3_bind_int64(q, 1, (int64_t)seq);
		ck_assert_int_eq(store_step(s, q, &err), 1);
		f.seq = seq;
		f.time = sqlite3_column_int64(q, 0);
		f.kind = (enum audit_kind)sqlite3_column_int(q, 1);
		snprintf(profile, sizeof(profile), "%s",
		    sqlite3_column_text(q, 2));
		f.profile = profile;
		f.sealed_len = (uint64_t)sqlite3_column_int64(q, 3);
		memcpy(f.body_hash, sqlite3_column_blob(q, 4), 32);
		sqlite3_finalize(q);
		audit_mac(mac, key, &f, prev_mac);
		audit_event_hash(eh, &f, mac);
		audit_head_next(prev_head, prev_head, eh);
		ok(store_prepare(s, "UPDATE audit_event SET mac = ?, head = ? "
		    "WHERE seq = ?", &u, &err), &err);
		sqlite3_bind_blob(u, 1, mac, 32, SQLITE_STATIC);
		sqlite3_bind_blob(u, 2, prev_head, 32, SQLITE_STATIC);
		sqlite3_bind_int64(u, 3, (int64_t)seq);
		ck_assert_int_eq(store_step(s, u, &err), 0);
		sqlite3_finalize(u);
		memcpy(prev_mac, mac, 32);
		audit_key_evolve(key);
	}
	ok(store_prepare(s, "UPDATE audit_meta SET value = ? WHERE name = "
	    "'key'", &u, &err), &err);
	sqlite3_bind_blob(u, 1, key, 32, SQLITE_STATIC);
	ck_assert_int_eq(store_step(s, u, &err), 0);
	sqlite3_finalize(u);
	/* The checkpoint rows would betray it too; drop them. */
	sql(s, "DELETE FROM audit_checkpoint");
	store_close(s);
	cl_free(sealed);
	verify_bad(NULL, 4, "MAC does not verify under this event's own key");
}
END_TEST

START_TEST(test_tamper_replace_chain)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	sqlite3_stmt *u = NULL;
	uint8_t k[32], *sealed = NULL;
	size_t sealed_len;

	/* A new k_1 of the thief's own, sealed to the admin. */
	build_log(1, false);
	s = reopen(false);
	randombytes_buf(k, sizeof(k));
	ok(store_seal_to_admin(s, k, sizeof(k), &sealed, &sealed_len, &err),
	    &err);
	ok(store_prepare(s, "UPDATE audit_meta SET value = ? WHERE name = "
	    "'k1'", &u, &err), &err);
	sqlite3_bind_blob(u, 1, sealed, (int)sealed_len, SQLITE_STATIC);
	ck_assert_int_eq(store_step(s, u, &err), 0);
	sqlite3_finalize(u);
	store_close(s);
	cl_free(sealed);
	verify_bad(NULL, 1, "signed configuration commits to");
}
END_TEST

START_TEST(test_tamper_config_replay)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit *a = NULL;
	struct store *s = make_store(STORE_MODE_SHARED);

	ok(audit_set_level(s, "kid", AUDIT_LEVEL_OFF, &err), &err);
	sql(s, "CREATE TABLE old AS SELECT * FROM audit_meta WHERE name IN "
	    "('config', 'config_sig')");
	ok(audit_set_level(s, "kid", AUDIT_LEVEL_FULL, &err), &err);
	session(s, "kid", PROMPT, ANSWER);
	store_close(s);

	/* The kid puts the old (validly signed) "off" configuration back. */
	s = reopen(false);
	sql(s, "UPDATE audit_meta SET value = (SELECT value FROM old WHERE "
	    "old.name = audit_meta.name) WHERE name IN ('config', "
	    "'config_sig')");
	ok(audit_open(s, "kid", &a, &err), &err);
	ck_assert_int_eq(audit_level(a), AUDIT_LEVEL_OFF);
	audit_close(a);
	store_close(s);
	verify_bad(NULL, 2, "older one was put back");
}
END_TEST

START_TEST(test_rollback_whole_store)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_checkpoint cp;
	struct cl_buf line = CL_BUF_INIT;
	char bak[600];
	struct store *s;
	uint64_t n;
	int round;

	for (round = 0; round < 2; round++) {
		if (round == 1) {
			teardown();
			setup();
		}
		n = build_log(1, false);
		snprintf(bak, sizeof(bak), "%s/bak", tmpdir);
		ck_assert_int_eq(mkdir(bak, 0700), 0);
		copy_file(path_in(tmpdir, "store.db"),
		    path_in(bak, "store.db"));
		copy_file(path_in(tmpdir, "store.key"),
		    path_in(bak, "store.key"));

		/* Continue; export a checkpoint; then put the copy back. */
		s = reopen(true);
		session(s, "kid", PROMPT, ANSWER);
		ok(audit_checkpoint(s, &cp, &err), &err);
		cl_buf_reset(&line);
		ok(audit_checkpoint_format(s, &cp, &line, &err), &err);
		store_close(s);
		copy_file(path_in(bak, "store.db"),
		    path_in(tmpdir, "store.db"));
		copy_file(path_in(bak, "store.key"),
		    path_in(tmpdir, "store.key"));
		unlink(path_in(tmpdir, "store.db-wal"));
		unlink(path_in(tmpdir, "store.db-shm"));
		ok(audit_checkpoint_parse(line.data, line.len, &cp, &err),
		    &err);

		s = reopen(true);
		if (round == 1) {
			/* Hide it: append more than was cut. */
			session(s, "kid", "other", "other");
			session(s, "kid", "other", "other");
		}
		/* Without the exported checkpoint the copy looks whole. */
		verify_ok(s, NULL);
		store_close(s);
		if (round == 0)
			verify_bad(&cp, n + 1, "rolled back");
		else
			verify_bad(&cp, cp.count, "differ from the exported");
	}
	cl_buf_release(&line);
}
END_TEST

START_TEST(test_checkpoint_file)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_checkpoint cp, cp2;
	struct cl_buf line = CL_BUF_INIT;
	struct store *s;
	size_t i;

	build_log(1, false);
	s = reopen(true);
	ok(audit_checkpoint(s, &cp, &err), &err);
	ok(audit_checkpoint_format(s, &cp, &line, &err), &err);
	ok(audit_checkpoint_parse(line.data, line.len, &cp2, &err), &err);
	ck_assert_uint_eq(cp2.count, cp.count);
	ck_assert_uint_eq(cp2.epoch, cp.epoch);
	ck_assert_mem_eq(cp2.head, cp.head, 32);
	verify_ok(s, &cp2);
	/* Any changed byte (but the final newline) is refused. */
	for (i = 0; i + 1 < line.len; i++) {
		line.data[i] ^= 0x01;
		ck_assert_int_ne(audit_checkpoint_parse(line.data, line.len,
		    &cp2, &err), CL_OK);
		line.data[i] ^= 0x01;
	}
	/* Another admin's checkpoint does not vouch for this store. */
	store_close(s);
	teardown();
	setup();
	build_log(1, false);
	s = reopen(true);
	ck_assert_int_eq(audit_verify(s, &cp, NULL, &err), CL_ECRYPTO);
	store_close(s);
	cl_buf_release(&line);
}
END_TEST

/* ---- intact logs --------------------------------------------------------- */

START_TEST(test_untampered_many)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit_checkpoint cp;
	struct store *s = make_store(STORE_MODE_SHARED);
	uint64_t n_purged;
	int i;

	ok(audit_set_level(s, NULL, AUDIT_LEVEL_FULL, &err), &err);
	ok(audit_set_level(s, "guest", AUDIT_LEVEL_METADATA, &err), &err);
	store_close(s);
	for (i = 0; i < 12; i++) {
		/* Alternate: the admin present or not, several profiles. */
		s = reopen(i % 3 == 0);
		session(s, i % 2 ? "kid" : "guest", PROMPT, ANSWER);
		if (i % 4 == 3) {
			store_close(s);
			s = reopen(true);
			verify_ok(s, NULL);
			ok(audit_sign_pending(s, NULL, &err), &err);
		}
		store_close(s);
	}
	s = reopen(true);
	verify_ok(s, NULL);
	ok(audit_checkpoint(s, &cp, &err), &err);
	verify_ok(s, &cp);
	ok(audit_purge(s, audit_now() + 10, &n_purged, &err), &err);
	ck_assert_uint_eq(n_purged, 2 + 12 * SESSION_EVENTS + 1);
	verify_ok(s, &cp);
	session(s, "kid", PROMPT, ANSWER);
	verify_ok(s, &cp);
	store_close(s);
}
END_TEST

START_TEST(test_alloc_failures)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit *a = NULL;
	struct store *s;
	long k;
	int r, failures = 0;

	build_log(1, false);
	s = reopen(true);
	ok(audit_open(s, "kid", &a, &err), &err);
	ok(audit_session_start(a, NULL, NULL, NULL, &err), &err);
	/* Fail the k-th allocation: either it works or it fails cleanly. */
	for (k = 0; k < 40; k++) {
		cl_alloc_fail_after(k);
		r = audit_prompt(a, PROMPT, strlen(PROMPT), &err);
		cl_alloc_fail_after(-1);
		ck_assert_msg(r == CL_OK || r == CL_ENOMEM, "%d: %s", r,
		    err.msg);
		if (r != CL_OK)
			failures++;
		verify_ok(s, NULL);
	}
	ck_assert_int_gt(failures, 0);
	ok(audit_session_end(a, NULL, &err), &err);
	audit_close(a);
	verify_ok(s, NULL);
	store_close(s);
}
END_TEST

/* ---- export -------------------------------------------------------------- */

static char *
export_to_buf(struct store *s, int64_t since, size_t *len, uint64_t *n)
{
	struct cl_err err = CL_ERR_INIT;
	char *path = path_in(tmpdir, "export.jsonl");
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ok(audit_export(s, since, fd, n, &err), &err);
	close(fd);
	return (char *)slurp(path, len);
}

START_TEST(test_export)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	uint8_t pk[32], other[32], sk[64];
	uint64_t n, n2;
	char *text, *l2, *l3, *cut;
	size_t len, i, a, b, c;
	int64_t t0;

	build_log(1, false);
	s = reopen(true);
	memcpy(pk, store_admin_sign_public_key(s), 32);
	text = export_to_buf(s, 0, &len, &n);
	ck_assert_uint_eq(n, 1 + SESSION_EVENTS);
	ck_assert_ptr_nonnull(strstr(text, "PROMPT-MARKER"));
	ck_assert_int_eq(audit_export_verify(text, len, pk, &n2, &err), CL_OK);
	ck_assert_uint_eq(n2, n);

	/* Only the public key is needed, and only the right one works. */
	crypto_sign_keypair(other, sk);
	ck_assert_int_eq(audit_export_verify(text, len, other, NULL, &err),
	    CL_ECRYPTO);

	/* Changing any byte fails: flip the low bit, then the case bit. */
	for (i = 0; i < len; i++) {
		text[i] ^= 0x01;
		ck_assert_msg(audit_export_verify(text, len, pk, NULL, &err) !=
		    CL_OK, "byte %zu ^ 1 accepted", i);
		text[i] ^= 0x21;
		ck_assert_msg(audit_export_verify(text, len, pk, NULL, &err) !=
		    CL_OK, "byte %zu ^ 0x20 accepted", i);
		text[i] ^= 0x20;
	}
	ck_assert_int_eq(audit_export_verify(text, len, pk, NULL, &err),
	    CL_OK);
	/* Dropping any line, or the tail, fails. */
	for (a = 0, b = 0; a < len; a = b) {
		b = (size_t)((char *)memchr(text + a, '\n', len - a) -
		    text) + 1;
		cut = cl_malloc(len);
		memcpy(cut, text, a);
		memcpy(cut + a, text + b, len - b);
		ck_assert_int_ne(audit_export_verify(cut, len - (b - a), pk,
		    NULL, &err), CL_OK);
		ck_assert_int_ne(audit_export_verify(text, a, pk, NULL, &err),
		    CL_OK);
		cl_free(cut);
	}
	/* Swapping lines 2 and 3 fails. */
	l2 = (char *)memchr(text, '\n', len) + 1;
	l3 = (char *)memchr(l2, '\n', len - (size_t)(l2 - text)) + 1;
	c = (size_t)((char *)memchr(l3, '\n', len - (size_t)(l3 - text)) -
	    l3) + 1;
	cut = cl_malloc(len);
	memcpy(cut, text, len);
	memcpy(cut + (l2 - text), l3, c);
	memcpy(cut + (l2 - text) + c, l2, (size_t)(l3 - l2));
	ck_assert_int_eq(audit_export_verify(cut, len, pk, NULL, &err),
	    CL_ECRYPTO);
	cl_free(cut);
	cl_free(text);

	/* --since: a tail of the log verifies on its own. */
	t0 = audit_now();
	session(s, "kid", PROMPT, ANSWER);
	text = export_to_buf(s, t0, &len, &n);
	ck_assert_uint_ge(n, SESSION_EVENTS);
	ck_assert_int_eq(audit_export_verify(text, len, pk, &n2, &err), CL_OK);
	ck_assert_uint_eq(n2, n);
	cl_free(text);
	text = export_to_buf(s, audit_now() + 1000, &len, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(audit_export_verify(text, len, pk, &n2, &err), CL_OK);
	cl_free(text);

	/* A tampered log is not exported. */
	sql(s, "UPDATE audit_event SET time = time + 1 WHERE seq = 2");
	ck_assert_int_eq(audit_export(s, 0, -1, NULL, &err), CL_ECRYPTO);
	store_close(s);
}
END_TEST

/* ---- purge and retention ------------------------------------------------- */

START_TEST(test_purge)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	sqlite3_stmt *q = NULL;
	uint8_t probe[4][48];
	uint64_t n_purged;
	int i = 0;
	char big[6000];

	/* A long prompt too, so its body spills into overflow pages. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "BIG", 3);
	build_log(1, false);
	s = reopen(true);
	session(s, "kid", big, ANSWER);
	ok(audit_flush_wal(s, NULL, &err), &err);
	ok(store_prepare(s, "SELECT body FROM audit_event WHERE kind IN "
	    "(3, 4) ORDER BY seq", &q, &err), &err);
	while (store_step(s, q, &err) == 1 && i < 4) {
		/* A window from the middle of each sealed body. */
		ck_assert_int_gt(sqlite3_column_bytes(q, 0), 100);
		memcpy(probe[i++], (const uint8_t *)sqlite3_column_blob(q, 0) +
		    50, 48);
	}
	sqlite3_finalize(q);
	ck_assert_int_eq(i, 4);
	for (i = 0; i < 4; i++)
		ck_assert(pages_contain(probe[i], 48));	/* the probe works */

	ok(audit_purge(s, audit_now() + 1, &n_purged, &err), &err);
	ck_assert_uint_eq(n_purged, 1 + 2 * SESSION_EVENTS);
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event WHERE "
	    "body IS NOT NULL"), 1);		/* the purge event itself */
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event WHERE "
	    "kind = 8"), 1);
	for (i = 0; i < 4; i++)
		ck_assert_msg(!pages_contain(probe[i], 48), "body %d remains",
		    i);
	verify_ok(s, NULL);
	store_close(s);
	for (i = 0; i < 4; i++)
		ck_assert(!pages_contain(probe[i], 48));
	s = reopen(true);
	verify_ok(s, NULL);
	store_close(s);
}
END_TEST

START_TEST(test_retention)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s = make_store(STORE_MODE_SHARED);
	int64_t now = (int64_t)time(NULL);

	ok(audit_set_level(s, "kid", AUDIT_LEVEL_FULL, &err), &err);
	ok(audit_set_retention(s, 2, &err), &err);
	store_close(s);
	s = reopen(false);
	audit_test_now = now - 3 * 86400;	/* an old session */
	session(s, "kid", PROMPT, ANSWER);
	audit_test_now = now - 1 * 86400;	/* a recent one */
	session(s, "kid", PROMPT, ANSWER);
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event WHERE "
	    "kind = 8"), 0);
	audit_test_now = now;
	session(s, "kid", PROMPT, ANSWER);	/* start applies retention */
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event WHERE "
	    "body IS NULL"), SESSION_EVENTS);
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event WHERE "
	    "kind = 8 AND profile = 'kid'"), 1);
	ck_assert_int_eq(sql_int(s, "SELECT min(seq) FROM audit_event WHERE "
	    "body IS NOT NULL AND profile = 'kid' AND kind <> 8"),
	    3 + SESSION_EVENTS);
	store_close(s);
	s = reopen(true);
	verify_ok(s, NULL);
	store_close(s);
}
END_TEST

START_TEST(test_session_misuse)
{
	struct cl_err err = CL_ERR_INIT;
	struct audit *a = NULL;
	struct store *s;

	build_log(0, false);
	s = reopen(false);
	ok(audit_open(s, "kid", &a, &err), &err);
	ck_assert_int_eq(audit_prompt(a, "x", 1, &err), CL_EINVAL);
	ck_assert_int_eq(audit_session_end(a, NULL, &err), CL_EINVAL);
	ok(audit_session_start(a, NULL, NULL, NULL, &err), &err);
	ck_assert_int_eq(audit_session_start(a, NULL, NULL, NULL, &err),
	    CL_EINVAL);
	/* Invalid UTF-8 is kept exactly (as base64), not mangled. */
	ok(audit_prompt(a, "\xff\xfe", 2, &err), &err);
	ok(audit_session_end(a, NULL, &err), &err);
	audit_close(a);
	store_close(s);
	s = reopen(true);
	verify_ok(s, NULL);
	ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM audit_event"), 5);
	store_close(s);
}
END_TEST

static Suite *
audit_suite(void)
{
	Suite *su = suite_create("audit");
	TCase *tc;

	tc = tcase_create("levels");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_off_writes_nothing);
	tcase_add_test(tc, test_levels_admin_only);
	tcase_add_test(tc, test_full_shared_nonadmin);
	tcase_add_test(tc, test_metadata_has_no_text);
	tcase_add_test(tc, test_session_misuse);
	suite_add_tcase(su, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tamper_body);
	tcase_add_test(tc, test_tamper_fields);
	tcase_add_test(tc, test_tamper_every_byte);
	tcase_add_test(tc, test_tamper_delete_middle);
	tcase_add_test(tc, test_tamper_renumber);
	tcase_add_test(tc, test_tamper_reorder);
	tcase_add_test(tc, test_tamper_tail);
	tcase_add_test(tc, test_tamper_reseal_current_key);
	tcase_add_test(tc, test_tamper_replace_chain);
	tcase_add_test(tc, test_tamper_config_replay);
	tcase_add_test(tc, test_rollback_whole_store);
	tcase_add_test(tc, test_checkpoint_file);
	suite_add_tcase(su, tc);

	tc = tcase_create("intact");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_untampered_many);
	tcase_add_test(tc, test_alloc_failures);
	tcase_add_test(tc, test_export);
	tcase_add_test(tc, test_purge);
	tcase_add_test(tc, test_retention);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 99;
	sr = srunner_create(audit_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
