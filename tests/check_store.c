/*
 * check_store.c - tests of store/: the encrypting VFS, key file, modes,
 * tamper detection, crash safety (SIGKILL), passphrase change, rotation,
 * fault injection and the SQL rules.
 *
 * Known plaintexts are grepped for in the raw files; tamper tests flip
 * bytes in the raw files; crash tests kill a writer with SIGKILL at
 * random moments.  Stores made here use the minimum Argon2id parameters
 * (the test-only knob in struct store_options) except where the default
 * cost itself is under test.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_impl.h"

#define PASS		"correct horse battery staple"
#define PASS_LEN	(sizeof(PASS) - 1)
#define MARKER		"PLAINTEXT-MARKER-7f3a"
#define TABLE		"secret_table_name"

static char tmpdir[256];

/* ---- helpers ------------------------------------------------------------ */

static void
setup(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_store.XXXXXX",
	    base != NULL ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static struct store_options
fast_opts(enum store_mode mode, enum store_journal journal)
{
	struct store_options o = STORE_OPTIONS_INIT;

	o.mode = mode;
	o.journal = journal;
	o.kdf_opslimit = crypto_pwhash_OPSLIMIT_MIN;
	o.kdf_memlimit = crypto_pwhash_MEMLIMIT_MIN;
	return o;
}

static char *
path_in(const char *name)
{
	static char p[8][400];
	static int i;

	i = (i + 1) % 8;
	snprintf(p[i], sizeof(p[i]), "%s/%s", tmpdir, name);
	return p[i];
}

static struct store *
make_store(enum store_mode mode, enum store_journal journal)
{
	struct store_options o = fast_opts(mode, journal);
	struct cl_err err = CL_ERR_INIT;
	struct store *s;

	if (store_create(tmpdir, PASS, PASS_LEN, &o, &s, &err) != CL_OK)
		ck_abort_msg("store_create: %s", err.msg);
	return s;
}

static struct store *
open_store(enum store_journal journal)
{
	struct store_options o = fast_opts(STORE_MODE_PERSONAL, journal);
	struct cl_err err = CL_ERR_INIT;
	struct store *s;

	if (store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err) != CL_OK)
		ck_abort_msg("store_open: %s", err.msg);
	return s;
}

static void
exec_ok(struct store *s, const char *sql)
{
	struct cl_err err = CL_ERR_INIT;

	if (store_exec(s, sql, &err) != CL_OK)
		ck_abort_msg("exec '%s': %s", sql, err.msg);
}

/* Fill table TABLE with `n` rows carrying MARKER. */
static void
fill(struct store *s, int n)
{
	char sql[256];
	int i;

	exec_ok(s, "CREATE TABLE IF NOT EXISTS " TABLE
	    "(i INTEGER PRIMARY KEY, v TEXT)");
	exec_ok(s, "BEGIN");
	for (i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO " TABLE "(v) VALUES("
		    "'" MARKER "' || printf('%%0900d', %d))", i);
		exec_ok(s, sql);
	}
	exec_ok(s, "COMMIT");
}

static int64_t
query_int(struct store *s, const char *sql, struct cl_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	int r;

	if (store_prepare(s, sql, &st, err) != CL_OK)
		return INT64_MIN;
	r = store_step(s, st, err);
	if (r == 1)
		v = sqlite3_column_int64(st, 0);
	else if (r < 0)
		v = INT64_MIN;
	sqlite3_finalize(st);
	return v;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	uint8_t *p = NULL;
	struct stat st;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	ck_assert_int_eq(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static void
spit(const char *path, const uint8_t *p, size_t len)
{
	int fd;

	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
	close(fd);
}

/* Does any file of the store contain a known plaintext? */
static const char *
find_plaintext(void)
{
	static const char *const files[] = { "store.db", "store.db-wal",
	    "store.db-journal", "store.db-shm", "store.key" };
	static const char *const needles[] = { MARKER, TABLE,
	    "SQLite format 3", "store_meta", "INTEGER PRIMARY KEY" };
	static char what[200];
	size_t i, j, len;
	uint8_t *p;

	for (i = 0; i < CL_ARRAY_LEN(files); i++) {
		if ((p = slurp(path_in(files[i]), &len)) == NULL)
			continue;
		for (j = 0; j < CL_ARRAY_LEN(needles); j++) {
			if (memmem(p, len, needles[j], strlen(needles[j])) !=
			    NULL) {
				snprintf(what, sizeof(what), "'%s' in %s",
				    needles[j], files[i]);
				free(p);
				return what;
			}
		}
		free(p);
	}
	return NULL;
}

static bool
file_exists(const char *name)
{
	return access(path_in(name), F_OK) == 0;
}

/* ---- open, errors --------------------------------------------------- */

START_TEST(test_roundtrip)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	uint64_t e1, e2;
	int n;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	fill(s, 50);
	e1 = store_epoch(s);
	ck_assert_uint_ge(e1, 1);
	store_close(s);
	ck_assert(!file_exists("store.db-wal"));

	s = open_store(STORE_JOURNAL_WAL);
	ck_assert_uint_gt(store_epoch(s), e1);
	ck_assert_int_eq(store_epoch_bump(s, &e2, &err), CL_OK);
	ck_assert_uint_eq(e2, store_epoch(s));
	n = (int)query_int(s, "SELECT count(*) FROM " TABLE
	    " WHERE v LIKE '" MARKER "%'", &err);
	ck_assert_int_eq(n, 50);
	/* The page layout SQLite uses is ours. */
	n = -1;
	ck_assert_int_eq(sqlite3_file_control(store_db(s), "main",
	    SQLITE_FCNTL_RESERVE_BYTES, &n), SQLITE_OK);
	ck_assert_int_eq(n, STORE_RESERVE);
	ck_assert_int_eq(query_int(s, "PRAGMA page_size", &err), 4096);
	ck_assert_int_eq(query_int(s, "PRAGMA mmap_size", &err), 0);
	ck_assert_int_eq(query_int(s, "PRAGMA temp_store", &err), 2);
	store_close(s);
	ck_assert_ptr_null(find_plaintext());
}
END_TEST

/* Page 1 decrypts to a real SQLite header with our reserve in byte 20. */
START_TEST(test_page1_header)
{
	struct store_keyfile kf;
	struct cl_err err = CL_ERR_INIT;
	struct store_secrets *sec;
	uint8_t pk[32], *db;
	size_t len;
	struct store *s;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	store_close(s);
	ck_assert_int_eq(store_keyfile_read(path_in("store.key"), &kf, &err),
	    CL_OK);
	sec = sodium_malloc(sizeof(*sec));
	ck_assert_int_eq(store_keyfile_kek(&kf, PASS, PASS_LEN, sec, &err),
	    CL_OK);
	ck_assert_int_eq(store_keyfile_unwrap(&kf, sec, &err), CL_OK);
	store_page_key(pk, sec->data_key);
	sodium_free(sec);
	db = slurp(path_in("store.db"), &len);
	ck_assert_uint_ge(len, 4096);
	ck_assert_uint_eq(len % 4096, 0);
	ck_assert(memcmp(db, "SQLite format 3", 15) != 0);
	ck_assert_int_eq(store_page_open(pk, kf.file_id, 1, STORE_KIND_DB, db,
	    db), 0);
	/* Values from the SQLite file format (sqlite.org/fileformat2). */
	ck_assert_mem_eq(db, "SQLite format 3\0", 16);
	ck_assert_uint_eq(db[16] << 8 | db[17], 4096);
	ck_assert_uint_eq(db[18], 2);		/* WAL */
	ck_assert_uint_eq(db[20], STORE_RESERVE);
	/* Wrong page number, kind or file id: refused. */
	free(db);
	db = slurp(path_in("store.db"), &len);
	ck_assert_int_ne(store_page_open(pk, kf.file_id, 2, STORE_KIND_DB, db,
	    db), 0);
	free(db);
	db = slurp(path_in("store.db"), &len);
	ck_assert_int_ne(store_page_open(pk, kf.file_id, 1, STORE_KIND_WAL, db,
	    db), 0);
	free(db);
}
END_TEST

START_TEST(test_errors)
{
	struct store_options o = fast_opts(STORE_MODE_PERSONAL,
	    STORE_JOURNAL_WAL);
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	uint8_t *kb;
	size_t len;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	store_close(s);

	/* Refuses to overwrite. */
	s = (struct store *)1;
	ck_assert_int_eq(store_create(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_EEXIST);
	ck_assert_ptr_null(s);
	ck_assert(file_exists("store.db") && file_exists("store.key"));

	/* Wrong passphrase, clearly, and no store handed out. */
	s = (struct store *)1;
	ck_assert_int_eq(store_open(tmpdir, "wrong", 5, &o, &s, &err),
	    CL_EAUTH);
	ck_assert_ptr_null(s);
	ck_assert_str_eq(err.msg, "wrong passphrase");
	ck_assert_int_eq(store_open(tmpdir, NULL, 0, &o, &s, &err), CL_EAUTH);
	ck_assert_ptr_null(s);

	/* Version too new. */
	kb = slurp(path_in("store.key"), &len);
	kb[8] = 2;
	spit(path_in("store.key"), kb, len);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "newer"));

	/* Not a cloister store. */
	spit(path_in("store.key"), (const uint8_t *)"hello, world\n", 13);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_EFORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a cloister store"));

	/* Damaged. */
	kb[8] = 1;
	kb[100] ^= 0x40;
	spit(path_in("store.key"), kb, len);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "tampered"));
	kb[100] ^= 0x40;
	spit(path_in("store.key"), kb, len);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_OK);
	store_close(s);

	/* Missing key file; missing database. */
	ck_assert_int_eq(rename(path_in("store.key"), path_in("k")), 0);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "key file missing"));
	ck_assert_int_eq(rename(path_in("k"), path_in("store.key")), 0);
	ck_assert_int_eq(rename(path_in("store.db"), path_in("d")), 0);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "database missing"));
	free(kb);
}
END_TEST

/* ---- no plaintext on disk, ever ----------------------------------------- */

/*
 * A child holds a transaction open with the cache forced to spill, so
 * the journal or WAL and the database file hold fresh page images; the
 * parent greps the raw files meanwhile, then after the child dies.
 */
static void
plaintext_run(enum store_journal journal)
{
	int ready[2], go[2];
	char c = 0;
	struct store *s;
	const char *hit;
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, journal);
	fill(s, 200);
	store_close(s);
	ck_assert_ptr_null(find_plaintext());
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		s = open_store(journal);
		exec_ok(s, "PRAGMA cache_size=5");
		fill(s, 100);		/* committed: WAL frames / journal */
		exec_ok(s, "BEGIN");
		exec_ok(s, "UPDATE " TABLE " SET v = v || '" MARKER "'");
		exec_ok(s, "CREATE TABLE another_" TABLE "(x)");
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		exec_ok(s, "COMMIT");
		store_close(s);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	if (journal == STORE_JOURNAL_ROLLBACK)
		ck_assert(file_exists("store.db-journal"));
	else
		ck_assert(file_exists("store.db-wal"));
	hit = find_plaintext();
	ck_assert_msg(hit == NULL, "plaintext on disk mid-transaction: %s",
	    hit);
	ck_assert_int_eq(write(go[1], &c, 1), 1);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	hit = find_plaintext();
	ck_assert_msg(hit == NULL, "plaintext on disk after commit: %s", hit);
	/* And after a crash mid-transaction (hot journal / WAL left). */
	pid = fork();
	if (pid == 0) {
		s = open_store(journal);
		exec_ok(s, "PRAGMA cache_size=5");
		exec_ok(s, "BEGIN");
		exec_ok(s, "UPDATE " TABLE " SET v = '" MARKER "' || v");
		raise(SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	hit = find_plaintext();
	ck_assert_msg(hit == NULL, "plaintext on disk after a crash: %s", hit);
	s = open_store(journal);
	store_close(s);
	ck_assert_ptr_null(find_plaintext());
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

START_TEST(test_plaintext_wal)
{
	plaintext_run(STORE_JOURNAL_WAL);
}
END_TEST

START_TEST(test_plaintext_rollback)
{
	plaintext_run(STORE_JOURNAL_ROLLBACK);
}
END_TEST

/* ---- tampering ---------------------------------------------------------- */

/* Open and read everything; return the first error code. */
static int
read_all(struct cl_err *err)
{
	struct store_options o = fast_opts(STORE_MODE_PERSONAL,
	    STORE_JOURNAL_WAL);
	struct store *s = NULL;
	int r;

	if ((r = store_open(tmpdir, PASS, PASS_LEN, &o, &s, err)) != CL_OK)
		return r;
	if (query_int(s, "SELECT sum(length(v)) FROM " TABLE, err) ==
	    INT64_MIN) {
		store_close(s);
		return err->code;
	}
	r = query_int(s, "PRAGMA integrity_check", err) == INT64_MIN ?
	    err->code : CL_OK;
	store_close(s);
	return r;
}

START_TEST(test_tamper_db)
{
	static const size_t in_page[] = { 0, 1, 16, 20, 99, 100, 2000, 4055,
	    4056, 4070, 4080, 4095 };
	struct cl_err err = CL_ERR_INIT;
	uint8_t *orig, *p;
	size_t len, pg, i, pos;
	char want[64];
	struct store *s;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	fill(s, 30);
	store_close(s);
	orig = slurp(path_in("store.db"), &len);
	ck_assert_uint_ge(len / 4096, 8);
	p = malloc(len);
	for (pg = 0; pg < len / 4096; pg++) {
		for (i = 0; i < CL_ARRAY_LEN(in_page); i++) {
			pos = pg * 4096 + in_page[i];
			memcpy(p, orig, len);
			p[pos] ^= 0x01 << (i % 8);
			spit(path_in("store.db"), p, len);
			ck_assert_msg(read_all(&err) == CL_ECRYPTO,
			    "flip at %zu: '%s'", pos, err.msg);
			snprintf(want, sizeof(want), "page %zu of the database",
			    pg + 1);
			ck_assert_msg(strstr(err.msg, want) != NULL &&
			    strstr(err.msg, "tampered") != NULL,
			    "flip at %zu: '%s'", pos, err.msg);
			/* store check names the same page. */
			ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN,
			    NULL, &err), CL_ECRYPTO);
			ck_assert_msg(strstr(err.msg, want) != NULL,
			    "check, flip at %zu: '%s'", pos, err.msg);
		}
	}
	/* Swap two pages. */
	memcpy(p, orig, len);
	memcpy(p + 2 * 4096, orig + 3 * 4096, 4096);
	memcpy(p + 3 * 4096, orig + 2 * 4096, 4096);
	spit(path_in("store.db"), p, len);
	ck_assert_int_eq(read_all(&err), CL_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "tampered"));
	/* A zeroed page is not "never written". */
	memcpy(p, orig, len);
	memset(p + 4 * 4096, 0, 4096);
	spit(path_in("store.db"), p, len);
	ck_assert_int_eq(read_all(&err), CL_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "page 5 "));
	/* Untouched: all fine. */
	spit(path_in("store.db"), orig, len);
	ck_assert_int_eq(read_all(&err), CL_OK);
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL, &err),
	    CL_OK);
	free(orig);
	free(p);
}
END_TEST

/* A page copied from another store (same page number) is refused. */
START_TEST(test_tamper_transplant)
{
	struct cl_err err = CL_ERR_INIT;
	uint8_t *a, *b;
	size_t alen, blen;
	struct store *s;
	char other[300];

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	fill(s, 30);
	store_close(s);
	a = slurp(path_in("store.db"), &alen);
	/* Make a second store with the same passphrase and content. */
	snprintf(other, sizeof(other), "%s/other", tmpdir);
	ck_assert_int_eq(rename(path_in("store.db"), path_in("a.db")), 0);
	ck_assert_int_eq(rename(path_in("store.key"), path_in("a.key")), 0);
	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	fill(s, 30);
	store_close(s);
	b = slurp(path_in("store.db"), &blen);
	ck_assert_int_eq(rename(path_in("a.db"), path_in("store.db")), 0);
	ck_assert_int_eq(rename(path_in("a.key"), path_in("store.key")), 0);
	ck_assert_int_eq(read_all(&err), CL_OK);
	memcpy(a + 3 * 4096, b + 3 * 4096, 4096);
	spit(path_in("store.db"), a, alen);
	ck_assert_int_eq(read_all(&err), CL_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "page 4 of the database"));
	free(a);
	free(b);
}
END_TEST

START_TEST(test_tamper_keyfile)
{
	struct store_options o = fast_opts(STORE_MODE_PERSONAL,
	    STORE_JOURNAL_WAL);
	struct cl_err err = CL_ERR_INIT;
	uint8_t *orig, *p;
	struct store *s;
	size_t len, pos;
	int r;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	store_close(s);
	orig = slurp(path_in("store.key"), &len);
	ck_assert_uint_eq(len, STORE_KEYFILE_SIZE);
	p = malloc(len);
	for (pos = 0; pos < len; pos++) {
		memcpy(p, orig, len);
		p[pos] ^= 0x10;
		spit(path_in("store.key"), p, len);
		s = (struct store *)1;
		r = store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err);
		ck_assert_ptr_null(s);
		if (pos < 8)
			ck_assert_int_eq(r, CL_EFORMAT);
		else if (pos >= 8 && pos < 12 && r == CL_EUNSUPPORTED)
			ck_assert_ptr_nonnull(strstr(err.msg, "newer"));
		else
			ck_assert_msg(r == CL_ECRYPTO && strstr(err.msg,
			    "tampered") != NULL, "key byte %zu: %d '%s'", pos,
			    r, err.msg);
	}
	/* Even with a recomputed checksum, forged fields are caught. */
	memcpy(p, orig, len);
	p[80] ^= 1;				/* admin signing key */
	crypto_generichash(p + 288, 32, p, 288, NULL, 0);
	spit(path_in("store.key"), p, len);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "tampered"));
	/* Truncated. */
	spit(path_in("store.key"), orig, len - 1);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_ECRYPTO);
	free(orig);
	free(p);
}
END_TEST

/* A WAL frame altered inside the committed log: check finds it. */
START_TEST(test_tamper_wal)
{
	struct cl_err err = CL_ERR_INIT;
	uint64_t n_pages;
	struct store *s;
	struct stat st;
	uint8_t *w;
	size_t len;
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	store_close(s);
	pid = fork();
	if (pid == 0) {
		s = open_store(STORE_JOURNAL_WAL);
		exec_ok(s, "PRAGMA wal_autocheckpoint=0");
		fill(s, 20);
		raise(SIGKILL);		/* leaves the WAL behind */
	}
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	w = slurp(path_in("store.db-wal"), &len);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_ge(len, STORE_WAL_HDR + 3 * STORE_WAL_FRAME);
	ck_assert_int_eq(stat(path_in("store.db"), &st), 0);
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, &n_pages, &err),
	    CL_OK);
	/*
	 * Every frame counted: each decrypts to exactly the bytes whose
	 * SQLite checksum the frame header holds (the reserve comes back as
	 * the zeros SQLite wrote), so SQLite's recovery keeps them all.
	 */
	ck_assert_uint_eq(n_pages, (uint64_t)st.st_size / 4096 +
	    (len - STORE_WAL_HDR) / STORE_WAL_FRAME);
	/* (the check checkpointed the WAL away; put the log back, altered) */
	ck_assert_int_eq(close(open(path_in("store.db-wal"),
	    O_CREAT | O_WRONLY, 0600)), 0);
	w[STORE_WAL_HDR + STORE_WAL_FRAME + STORE_WAL_FRAME_HDR + 77] ^= 4;
	spit(path_in("store.db-wal"), w, len);
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL, &err),
	    CL_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "WAL frame 2 "));
	free(w);
}
END_TEST

/* ---- crash safety: SIGKILL at random moments ---------------------------- */

#define KEEP 50

/*
 * The writer: transaction i adds row i to kill_log, a ~1 KB row to
 * kill_blob and deletes blobs older than KEEP, then reports i.
 */
static void
writer(enum store_journal journal, int fd)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	char sql[512];
	int64_t i;

	s = open_store(journal);
	exec_ok(s, "PRAGMA wal_autocheckpoint=16; PRAGMA cache_size=20");
	i = query_int(s, "SELECT coalesce(max(i), 0) FROM kill_log", &err);
	for (;;) {
		i++;
		snprintf(sql, sizeof(sql), "BEGIN;"
		    "INSERT INTO kill_log VALUES(%lld);"
		    "INSERT INTO kill_blob VALUES(%lld, randomblob(%d));"
		    "DELETE FROM kill_blob WHERE i <= %lld;"
		    "COMMIT", (long long)i, (long long)i,
		    200 + (int)(i * 7919 % 1800), (long long)i - KEEP);
		exec_ok(s, sql);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(1);
	}
}

static void
kill_runs(enum store_journal journal, int runs)
{
	struct cl_err err = CL_ERR_INIT;
	int64_t last = 0, v, n, mx, nb, mn;
	struct store *s;
	int fds[2], run, status;
	uint64_t seed = (uint64_t)time(NULL);
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, journal);
	exec_ok(s, "CREATE TABLE kill_log(i INTEGER PRIMARY KEY);"
	    "CREATE TABLE kill_blob(i INTEGER PRIMARY KEY, b BLOB)");
	store_close(s);
	for (run = 0; run < runs; run++) {
		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ne(pid, -1);
		if (pid == 0) {
			close(fds[0]);
			writer(journal, fds[1]);
		}
		close(fds[1]);
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		usleep((useconds_t)((seed >> 33) % 40000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status));
		while (read(fds[0], &v, sizeof(v)) == sizeof(v)) {
			ck_assert_int_eq(v, last + 1);
			last = v;
		}
		close(fds[0]);

		if (store_check(tmpdir, PASS, PASS_LEN, NULL, &err) != CL_OK)
			ck_abort_msg("run %d: store check: %s", run, err.msg);
		s = open_store(journal);
		n = query_int(s, "SELECT count(*) FROM kill_log", &err);
		mx = query_int(s, "SELECT coalesce(max(i), 0) FROM kill_log",
		    &err);
		nb = query_int(s, "SELECT count(*) FROM kill_blob", &err);
		mn = query_int(s, "SELECT coalesce(min(i), 0) FROM kill_blob",
		    &err);
		ck_assert_msg(mx == last || mx == last + 1,
		    "run %d: store holds %lld, writer reported %lld", run,
		    (long long)mx, (long long)last);
		ck_assert_int_eq(n, mx);	/* no gaps: exactly 1..mx */
		ck_assert_int_eq(nb, mx < KEEP ? mx : KEEP);
		ck_assert_int_eq(mn, mx == 0 ? 0 : (mx <= KEEP ? 1 :
		    mx - KEEP + 1));
		last = mx;
		store_close(s);
	}
	if (getenv("CHECK_STORE_VERBOSE") != NULL)
		fprintf(stderr, "%s: %d kills, %lld commits survived\n",
		    journal == STORE_JOURNAL_WAL ? "wal" : "rollback", runs,
		    (long long)last);
	ck_assert_int_gt(last, runs / 4);	/* the writer did write */
}

START_TEST(test_kill_wal)
{
	kill_runs(STORE_JOURNAL_WAL, 100);
}
END_TEST

START_TEST(test_kill_rollback)
{
	kill_runs(STORE_JOURNAL_ROLLBACK, 100);
}
END_TEST

/* ---- passphrase change and rotation ------------------------------------- */

START_TEST(test_passwd)
{
	struct store_options o = STORE_OPTIONS_INIT;	/* default KDF cost */
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	uint8_t *db0, *db1;
	size_t l0, l1;

	ck_assert_int_eq(store_create(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_OK);
	fill(s, 2000);				/* ~2.5 MB */
	store_close(s);
	ck_assert_int_eq(store_passwd(tmpdir, "nope", 4, "new", 3, &err),
	    CL_EAUTH);
	/*
	 * A passphrase change re-wraps the data key and must not touch the
	 * database: that is what makes it take constant time whatever the
	 * store's size (bench/store_bench measures it: 0.45 s for 100 MB,
	 * the KDF's cost).  Wall-clock limits do not belong in tests.
	 */
	db0 = slurp(path_in("store.db"), &l0);
	ck_assert_ptr_nonnull(db0);
	ck_assert_int_eq(store_passwd(tmpdir, PASS, PASS_LEN, "new pass", 8,
	    &err), CL_OK);
	db1 = slurp(path_in("store.db"), &l1);
	ck_assert_ptr_nonnull(db1);
	ck_assert_uint_eq(l0, l1);
	ck_assert_int_eq(memcmp(db0, db1, l0), 0);
	free(db0);
	free(db1);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, &o, &s, &err),
	    CL_EAUTH);
	ck_assert_int_eq(store_open(tmpdir, "new pass", 8, &o, &s, &err),
	    CL_OK);
	ck_assert_int_eq(query_int(s, "SELECT count(*) FROM " TABLE, &err),
	    2000);
	store_close(s);
	ck_assert(!file_exists("store.key.tmp"));
}
END_TEST

START_TEST(test_rotate)
{
	struct cl_err err = CL_ERR_INIT;
	uint8_t *k0, *k1, *d0, *d1;
	size_t l0, l1, dl0, dl1;
	struct store *s;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	fill(s, 100);
	store_close(s);
	k0 = slurp(path_in("store.key"), &l0);
	d0 = slurp(path_in("store.db"), &dl0);
	ck_assert_int_eq(store_rotate(tmpdir, "bad", 3, &err), CL_EAUTH);
	ck_assert_int_eq(store_rotate(tmpdir, PASS, PASS_LEN, &err), CL_OK);
	k1 = slurp(path_in("store.key"), &l1);
	d1 = slurp(path_in("store.db"), &dl1);
	ck_assert(memcmp(k0 + 24, k1 + 24, 16) != 0);	/* new file id */
	ck_assert_uint_eq(dl0, dl1);
	ck_assert(memcmp(d0, d1, 4096) != 0);
	s = open_store(STORE_JOURNAL_WAL);
	ck_assert_int_eq(query_int(s, "SELECT count(*) FROM " TABLE, &err),
	    100);
	store_close(s);
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL, &err),
	    CL_OK);
	ck_assert(!file_exists("store.rotate") && !file_exists("store.db.new"));
	free(k0);
	free(k1);
	free(d0);
	free(d1);
}
END_TEST

/* Kill the rotation at each step: the store opens under old or new. */
START_TEST(test_rotate_killed)
{
	struct cl_err err = CL_ERR_INIT;
	uint8_t *k0, *k1;
	size_t l0, l1;
	struct store *s;
	int step, status;
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	fill(s, 300);
	store_close(s);
	for (step = 1; step <= 7; step++) {
		k0 = slurp(path_in("store.key"), &l0);
		pid = fork();
		if (pid == 0) {
			store_test_rotate_kill_at = step;
			if (store_rotate(tmpdir, PASS, PASS_LEN, &err) != CL_OK)
				_exit(3);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL, "step %d not reached", step);
		s = open_store(STORE_JOURNAL_WAL);
		ck_assert_int_eq(query_int(s, "SELECT count(*) FROM " TABLE,
		    &err), 300);
		store_close(s);
		ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL,
		    &err), CL_OK);
		k1 = slurp(path_in("store.key"), &l1);
		/* Before the rotation record: old key; from it on: new. */
		if (step < 4)
			ck_assert_mem_eq(k0 + 24, k1 + 24, 16);
		else
			ck_assert(memcmp(k0 + 24, k1 + 24, 16) != 0);
		ck_assert(!file_exists("store.rotate"));
		ck_assert(!file_exists("store.db.new"));
		ck_assert(!file_exists("store.key.new"));
		free(k0);
		free(k1);
	}
}
END_TEST

/* ---- modes and admin keys ------------------------------------------------ */

START_TEST(test_admin_personal)
{
	struct cl_err err = CL_ERR_INIT;
	uint8_t sig[STORE_SIGN_BYTES], *ct, *pt;
	size_t ctl, ptl;
	struct store *s;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	ck_assert(store_is_unlocked(s));
	ck_assert_int_eq(store_admin_sign(s, "msg", 3, sig, &err), CL_OK);
	ck_assert(store_admin_verify(s, "msg", 3, sig));
	ck_assert(!store_admin_verify(s, "msh", 3, sig));
	ck_assert_int_eq(crypto_sign_verify_detached(sig,
	    (const uint8_t *)"msg", 3, store_admin_sign_public_key(s)), 0);
	ck_assert_int_eq(store_seal_to_admin(s, "hello", 5, &ct, &ctl, &err),
	    CL_OK);
	ck_assert_uint_eq(ctl, 5 + STORE_SEAL_OVERHEAD);
	ck_assert_int_eq(store_admin_unseal(s, ct, ctl, &pt, &ptl, &err),
	    CL_OK);
	ck_assert_uint_eq(ptl, 5);
	ck_assert_str_eq((char *)pt, "hello");
	store_secret_free(pt);
	ct[10] ^= 1;
	ck_assert_int_eq(store_admin_unseal(s, ct, ctl, &pt, &ptl, &err),
	    CL_ECRYPTO);
	ck_assert_ptr_null(pt);
	store_lock(s);
	ck_assert_int_eq(store_admin_sign(s, "msg", 3, sig, &err), CL_EAUTH);
	cl_free(ct);
	store_close(s);
}
END_TEST

START_TEST(test_shared_mode)
{
	struct store_options o = fast_opts(STORE_MODE_SHARED,
	    STORE_JOURNAL_WAL);
	struct cl_err err = CL_ERR_INIT;
	uint8_t sig[STORE_SIGN_BYTES], pk[32], *ct, *pt, *kb;
	size_t ctl, ptl, len;
	struct store *s;

	s = make_store(STORE_MODE_SHARED, STORE_JOURNAL_WAL);
	memcpy(pk, store_admin_sign_public_key(s), 32);
	fill(s, 10);
	store_close(s);
	/* A non-admin session: opens, writes, seals, cannot read or sign. */
	ck_assert_int_eq(store_open(tmpdir, NULL, 0, &o, &s, &err), CL_OK);
	ck_assert_int_eq(store_get_mode(s), STORE_MODE_SHARED);
	ck_assert(!store_is_unlocked(s));
	ck_assert_mem_eq(store_admin_sign_public_key(s), pk, 32);
	fill(s, 10);
	ck_assert_int_eq(store_seal_to_admin(s, "secret", 6, &ct, &ctl, &err),
	    CL_OK);
	ck_assert_int_eq(store_admin_unseal(s, ct, ctl, &pt, &ptl, &err),
	    CL_EAUTH);
	ck_assert_int_eq(store_admin_sign(s, "x", 1, sig, &err), CL_EAUTH);
	ck_assert_int_eq(store_unlock(s, "wrong", 5, &err), CL_EAUTH);
	ck_assert_int_eq(store_unlock(s, PASS, PASS_LEN, &err), CL_OK);
	ck_assert_int_eq(store_admin_unseal(s, ct, ctl, &pt, &ptl, &err),
	    CL_OK);
	ck_assert_str_eq((char *)pt, "secret");
	store_secret_free(pt);
	cl_free(ct);
	store_close(s);
	ck_assert_int_eq(store_check(tmpdir, NULL, 0, NULL, &err), CL_OK);
	/* Substituted admin key (checksum recomputed): found at unlock. */
	kb = slurp(path_in("store.key"), &len);
	randombytes_buf(kb + 104, 32);
	crypto_generichash(kb + 288, 32, kb, 288, NULL, 0);
	spit(path_in("store.key"), kb, len);
	ck_assert_int_eq(store_open(tmpdir, NULL, 0, &o, &s, &err), CL_OK);
	ck_assert_int_eq(store_unlock(s, PASS, PASS_LEN, &err), CL_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "tampered"));
	store_close(s);
	free(kb);
}
END_TEST

/* Two sessions at once (a second process): each sees the other's commits. */
START_TEST(test_two_sessions)
{
	struct cl_err err = CL_ERR_INIT;
	int to_child[2], to_parent[2], i, status;
	struct store *s;
	char c = 0;
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	exec_ok(s, "CREATE TABLE two(who TEXT, i INTEGER)");
	ck_assert_int_eq(pipe(to_child), 0);
	ck_assert_int_eq(pipe(to_parent), 0);
	pid = fork();
	if (pid == 0) {
		struct store *t = open_store(STORE_JOURNAL_WAL);

		for (i = 0; i < 20; i++) {
			if (read(to_child[0], &c, 1) != 1)
				_exit(1);
			exec_ok(t, "INSERT INTO two VALUES('child', 1)");
			if (query_int(t, "SELECT count(*) FROM two", &err) !=
			    2 * i + 2)
				_exit(2);
			if (write(to_parent[1], &c, 1) != 1)
				_exit(1);
		}
		store_close(t);
		_exit(0);
	}
	for (i = 0; i < 20; i++) {
		exec_ok(s, "INSERT INTO two VALUES('parent', randomblob(3000))");
		ck_assert_int_eq(write(to_child[1], &c, 1), 1);
		ck_assert_int_eq(read(to_parent[0], &c, 1), 1);
		ck_assert_int_eq(query_int(s, "SELECT count(*) FROM two "
		    "WHERE who='child'", &err), i + 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_close(s);
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL, &err),
	    CL_OK);
}
END_TEST

/* ---- rules on the handle --------------------------------------------------- */

START_TEST(test_rules)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	ck_assert_int_eq(store_exec(s, "ATTACH 'x.db' AS x", &err), CL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "rules"));
	ck_assert_int_eq(store_exec(s, "PRAGMA temp_store=FILE", &err),
	    CL_EINVAL);
	ck_assert_int_eq(store_exec(s, "PRAGMA mmap_size=1000000", &err),
	    CL_EINVAL);
	ck_assert_int_eq(store_exec(s, "PRAGMA journal_mode=OFF", &err),
	    CL_EINVAL);
	ck_assert_int_eq(store_exec(s, "PRAGMA writable_schema=1", &err),
	    CL_EINVAL);
	ck_assert_int_eq(store_exec(s, "SELEC 1", &err), CL_EINVAL);
	/* Big sorts and temp tables stay in memory and work. */
	fill(s, 500);
	exec_ok(s, "CREATE TEMP TABLE t2 AS SELECT * FROM " TABLE);
	ck_assert_int_eq(query_int(s, "SELECT count(*) FROM (SELECT v FROM "
	    TABLE " ORDER BY substr(v, 30) DESC)", &err), 500);
	exec_ok(s, "CREATE INDEX ix ON " TABLE "(v)");
	exec_ok(s, "BEGIN; SAVEPOINT a; UPDATE " TABLE " SET v = v || 'x';"
	    "ROLLBACK TO a; COMMIT");
	store_close(s);
	ck_assert_ptr_null(find_plaintext());
}
END_TEST

/* ---- fault injection through the inner method table ------------------- */

static sqlite3_vfs faulty;
static sqlite3_io_methods faulty_methods;
static int fault_eio_read;	/* reads left before EIO; -1 never */
static int fault_short_read;	/* reads left before a short read */
static int fault_eio_write;	/* writes left before EIO */

struct ffile {
	sqlite3_file	 base;
	sqlite3_file	*real;
	const sqlite3_io_methods *m;	/* the unix file's own methods */
};

static int
countdown(int *n)
{
	if (*n < 0)
		return 0;
	if ((*n)-- == 0)
		return 1;
	return 0;
}

static int
f_read(sqlite3_file *pf, void *p, int amt, sqlite3_int64 off)
{
	struct ffile *f = (struct ffile *)pf;
	int rc;

	if (countdown(&fault_eio_read))
		return SQLITE_IOERR_READ;
	rc = f->m->xRead(f->real, p, amt, off);
	if (rc == SQLITE_OK && countdown(&fault_short_read)) {
		/* Half the bytes arrive; the contract: zero the rest. */
		memset((char *)p + amt / 2, 0, (size_t)(amt - amt / 2));
		return SQLITE_IOERR_SHORT_READ;
	}
	return rc;
}

static int
f_write(sqlite3_file *pf, const void *p, int amt, sqlite3_int64 off)
{
	struct ffile *f = (struct ffile *)pf;

	if (countdown(&fault_eio_write))
		return SQLITE_IOERR_WRITE;
	return f->m->xWrite(f->real, p, amt, off);
}

#define FWD(name, params, args) \
static int f_##name params \
{ return ((struct ffile *)p)->m->x##name args; }
FWD(Truncate, (sqlite3_file *p, sqlite3_int64 s),
    (((struct ffile *)p)->real, s))
FWD(Sync, (sqlite3_file *p, int fl), (((struct ffile *)p)->real, fl))
FWD(FileSize, (sqlite3_file *p, sqlite3_int64 *s),
    (((struct ffile *)p)->real, s))
FWD(Lock, (sqlite3_file *p, int l), (((struct ffile *)p)->real, l))
FWD(Unlock, (sqlite3_file *p, int l), (((struct ffile *)p)->real, l))
FWD(CheckReservedLock, (sqlite3_file *p, int *o),
    (((struct ffile *)p)->real, o))
FWD(FileControl, (sqlite3_file *p, int op, void *a),
    (((struct ffile *)p)->real, op, a))
FWD(SectorSize, (sqlite3_file *p), (((struct ffile *)p)->real))
FWD(DeviceCharacteristics, (sqlite3_file *p), (((struct ffile *)p)->real))
FWD(ShmMap, (sqlite3_file *p, int a, int b, int c, void volatile **d),
    (((struct ffile *)p)->real, a, b, c, d))
FWD(ShmLock, (sqlite3_file *p, int a, int b, int c),
    (((struct ffile *)p)->real, a, b, c))
FWD(ShmUnmap, (sqlite3_file *p, int a), (((struct ffile *)p)->real, a))
FWD(Fetch, (sqlite3_file *p, sqlite3_int64 a, int b, void **c),
    (((struct ffile *)p)->real, a, b, c))
FWD(Unfetch, (sqlite3_file *p, sqlite3_int64 a, void *b),
    (((struct ffile *)p)->real, a, b))

static void
f_ShmBarrier(sqlite3_file *p)
{
	((struct ffile *)p)->m->xShmBarrier(((struct ffile *)p)->real);
}

static int
f_Close(sqlite3_file *p)
{
	return ((struct ffile *)p)->m->xClose(((struct ffile *)p)->real);
}

static int
f_open(sqlite3_vfs *v, const char *name, sqlite3_file *pf, int flags,
    int *out)
{
	sqlite3_vfs *u = sqlite3_vfs_find("unix");
	struct ffile *f = (struct ffile *)pf;
	int rc;

	f->real = (sqlite3_file *)(f + 1);
	rc = u->xOpen(u, name, f->real, flags, out);
	if (rc != SQLITE_OK) {
		f->base.pMethods = NULL;
		return rc;
	}
	f->m = f->real->pMethods;
	f->base.pMethods = &faulty_methods;
	return SQLITE_OK;
}

static void
faulty_install(void)
{
	sqlite3_vfs *u = sqlite3_vfs_find("unix");
	sqlite3_io_methods m = {
		3, f_Close, f_read, f_write, f_Truncate, f_Sync, f_FileSize,
		f_Lock, f_Unlock, f_CheckReservedLock, f_FileControl,
		f_SectorSize, f_DeviceCharacteristics, f_ShmMap, f_ShmLock,
		f_ShmBarrier, f_ShmUnmap, f_Fetch, f_Unfetch
	};

	faulty = *u;
	faulty.zName = "faulty";
	faulty.pNext = NULL;
	faulty.szOsFile = (int)sizeof(struct ffile) + u->szOsFile;
	faulty.xOpen = f_open;
	faulty_methods = m;
	fault_eio_read = fault_short_read = fault_eio_write = -1;
	store_vfs_set_inner(&faulty);
}

/* The shim's own read path: short reads come back zero-filled. */
START_TEST(test_short_read_zero_fill)
{
	uint8_t key[32], id[16], page[4096], out[4096];
	struct cl_err err = CL_ERR_INIT;
	struct store_vfs *v;
	sqlite3_vfs *pv;
	sqlite3_file *f;
	int flags = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_READWRITE, outfl;

	faulty_install();
	randombytes_buf(key, sizeof(key));
	randombytes_buf(id, sizeof(id));
	ck_assert_int_eq(store_vfs_new(key, id, &v, &err), CL_OK);
	pv = sqlite3_vfs_find(store_vfs_name(v));
	ck_assert_ptr_nonnull(pv);
	f = calloc(1, (size_t)pv->szOsFile);
	ck_assert_int_eq(pv->xOpen(pv, path_in("raw.db"), f, flags, &outfl),
	    SQLITE_OK);
	memset(page, 'q', sizeof(page));
	memset(page + STORE_USABLE, 0, STORE_RESERVE);
	ck_assert_int_eq(f->pMethods->xWrite(f, page, 4096, 0), SQLITE_OK);
	ck_assert_int_eq(f->pMethods->xWrite(f, page, 4096, 4096), SQLITE_OK);
	memset(out, 0xaa, sizeof(out));
	ck_assert_int_eq(f->pMethods->xRead(f, out, 4096, 4096), SQLITE_OK);
	ck_assert_mem_eq(out, page, 4096);

	/* Short read from below: the whole image is gone, zeros, SHORT. */
	fault_short_read = 0;
	memset(out, 0xaa, sizeof(out));
	ck_assert_int_eq(f->pMethods->xRead(f, out, 4096, 4096),
	    SQLITE_IOERR_SHORT_READ);
	ck_assert(store_is_zero(out, sizeof(out)));
	/* A partial read (the 100-byte header) too. */
	fault_short_read = 0;
	memset(out, 0xaa, sizeof(out));
	ck_assert_int_eq(f->pMethods->xRead(f, out, 100, 0),
	    SQLITE_IOERR_SHORT_READ);
	ck_assert(store_is_zero(out, 100));
	ck_assert_uint_eq(out[100], 0xaa);
	/* Past the end of the file. */
	memset(out, 0xaa, sizeof(out));
	ck_assert_int_eq(f->pMethods->xRead(f, out, 4096, 5 * 4096),
	    SQLITE_IOERR_SHORT_READ);
	ck_assert(store_is_zero(out, sizeof(out)));
	/* EIO propagates as is. */
	fault_eio_read = 0;
	ck_assert_int_eq(f->pMethods->xRead(f, out, 4096, 0),
	    SQLITE_IOERR_READ);
	fault_eio_write = 0;
	ck_assert_int_eq(f->pMethods->xWrite(f, page, 4096, 0),
	    SQLITE_IOERR_WRITE);
	/* A hole is never left: writing page 5 fills pages 3 and 4. */
	ck_assert_int_eq(f->pMethods->xWrite(f, page, 4096, 4 * 4096),
	    SQLITE_OK);
	ck_assert_int_eq(f->pMethods->xRead(f, out, 4096, 2 * 4096),
	    SQLITE_OK);
	ck_assert(store_is_zero(out, sizeof(out)));
	/* Partial writes of a page are refused, not half-encrypted. */
	ck_assert_int_eq(f->pMethods->xWrite(f, page, 100, 0),
	    SQLITE_IOERR_WRITE);
	/* Temporary files are refused. */
	ck_assert_int_eq(f->pMethods->xClose(f), SQLITE_OK);
	ck_assert_int_eq(pv->xOpen(pv, path_in("t"), f,
	    SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_READWRITE, &outfl), SQLITE_CANTOPEN);
	ck_assert_int_eq(pv->xOpen(pv, NULL, f, SQLITE_OPEN_TRANSIENT_DB |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE, &outfl),
	    SQLITE_CANTOPEN);
	ck_assert_int_eq(pv->xOpen(pv, path_in("t"), f,
	    SQLITE_OPEN_SUBJOURNAL | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_READWRITE, &outfl), SQLITE_CANTOPEN);
	free(f);
	store_vfs_free(v);
	store_vfs_set_inner(NULL);
}
END_TEST

/* Through the store: injected errors become clear errors, no crash. */
START_TEST(test_eio_store)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	int i, failures = 0;

	faulty_install();
	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	fill(s, 100);
	store_close(s);
	for (i = 0; i < 40; i++) {
		fault_eio_read = i;
		if (read_all(&err) != CL_OK) {
			failures++;
			ck_assert_msg(err.code == CL_EIO, "read %d: %d '%s'",
			    i, err.code, err.msg);
		}
		fault_eio_read = -1;
	}
	ck_assert_int_gt(failures, 10);
	for (i = 0; i < 40; i += 3) {
		fault_short_read = i;
		(void)read_all(&err);		/* any result, no crash */
		fault_short_read = -1;
	}
	for (i = 0; i < 30; i++) {
		s = open_store(STORE_JOURNAL_WAL);
		fault_eio_write = i;
		if (store_exec(s, "INSERT INTO " TABLE "(v) VALUES("
		    "randomblob(5000))", &err) != CL_OK)
			ck_assert_int_eq(err.code, CL_EIO);
		fault_eio_write = -1;
		store_close(s);
	}
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL, &err),
	    CL_OK);
	store_vfs_set_inner(NULL);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *su = suite_create("store");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_page1_header);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_rules);
	tcase_add_test(tc, test_two_sessions);
	suite_add_tcase(su, tc);

	tc = tcase_create("plaintext");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plaintext_wal);
	tcase_add_test(tc, test_plaintext_rollback);
	suite_add_tcase(su, tc);

	tc = tcase_create("tamper");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tamper_db);
	tcase_add_test(tc, test_tamper_transplant);
	tcase_add_test(tc, test_tamper_keyfile);
	tcase_add_test(tc, test_tamper_wal);
	suite_add_tcase(su, tc);

	tc = tcase_create("crash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kill_wal);
	tcase_add_test(tc, test_kill_rollback);
	suite_add_tcase(su, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_passwd);
	tcase_add_test(tc, test_rotate);
	tcase_add_test(tc, test_rotate_killed);
	tcase_add_test(tc, test_admin_personal);
	tcase_add_test(tc, test_shared_mode);
	suite_add_tcase(su, tc);

	tc = tcase_create("faults");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_short_read_zero_fill);
	tcase_add_test(tc, test_eio_store);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
