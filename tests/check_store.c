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
	/*
	 * Wrong page number, file id or domain: refused.  A WAL image is
	 * the next version of a database page and shares its binding (the
	 * checkpoint copies it as it is); a journal image does not.
	 */
	free(db);
	db = slurp(path_in("store.db"), &len);
	ck_assert_int_ne(store_page_open(pk, kf.file_id, 2, STORE_KIND_DB, db,
	    db), 0);
	free(db);
	db = slurp(path_in("store.db"), &len);
	ck_assert_int_ne(store_page_open(pk, kf.file_id, 1,
	    STORE_KIND_JOURNAL, db, db), 0);
	free(db);
	db = slurp(path_in("store.db"), &len);
	kf.file_id[3] ^= 1;
	ck_assert_int_ne(store_page_open(pk, kf.file_id, 1, STORE_KIND_DB, db,
	    db), 0);
	kf.file_id[3] ^= 1;
	free(db);
	db = slurp(path_in("store.db"), &len);
	ck_assert_int_eq(store_page_open(pk, kf.file_id, 1, STORE_KIND_WAL, db,
	    db), 0);
	free(db);
}
END_TEST

/*
 * store_page_verify() (the tag alone, no decryption) agrees with
 * store_page_open() on sealed pages and on every kind of damage.
 */
START_TEST(test_page_verify)
{
	uint8_t key[32], id[16], pt[STORE_PAGE_SIZE], ct[STORE_PAGE_SIZE];
	uint8_t out[STORE_PAGE_SIZE];
	int i, pos, v, o;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(id, sizeof(id));
	for (i = 0; i < 200; i++) {
		randombytes_buf(pt, STORE_USABLE);
		memset(pt + STORE_USABLE, 0, STORE_RESERVE);
		store_page_seal(key, id, (uint32_t)i + 1, STORE_KIND_DB, pt,
		    ct);
		ck_assert_int_eq(store_page_verify(key, id, (uint32_t)i + 1,
		    STORE_KIND_WAL, ct), 0);
		ck_assert_int_eq(store_page_open(key, id, (uint32_t)i + 1,
		    STORE_KIND_WAL, ct, out), 0);
		ck_assert_mem_eq(out, pt, STORE_PAGE_SIZE);
		/* One flipped bit anywhere: ciphertext, nonce or tag. */
		pos = (int)randombytes_uniform(STORE_PAGE_SIZE);
		if (i < 3)
			pos = STORE_PAGE_SIZE - 1 - i * 20;
		ct[pos] ^= (uint8_t)(1u << (i % 8));
		v = store_page_verify(key, id, (uint32_t)i + 1, STORE_KIND_DB,
		    ct);
		o = store_page_open(key, id, (uint32_t)i + 1, STORE_KIND_DB,
		    ct, out);
		ck_assert_int_eq(v, -1);
		ck_assert_int_eq(o, -1);
		ct[pos] ^= (uint8_t)(1u << (i % 8));
		/* Wrong page, domain, file id or key. */
		ck_assert_int_eq(store_page_verify(key, id, (uint32_t)i + 2,
		    STORE_KIND_DB, ct), -1);
		ck_assert_int_eq(store_page_verify(key, id, (uint32_t)i + 1,
		    STORE_KIND_JOURNAL, ct), -1);
		id[i % 16] ^= 0x80;
		ck_assert_int_eq(store_page_verify(key, id, (uint32_t)i + 1,
		    STORE_KIND_DB, ct), -1);
		id[i % 16] ^= 0x80;
		key[i % 32] ^= 1;
		ck_assert_int_eq(store_page_verify(key, id, (uint32_t)i + 1,
		    STORE_KIND_DB, ct), -1);
		key[i % 32] ^= 1;
	}
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
	/* Opening says so too: recovery does not quietly end the log. */
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, NULL, &s, &err),
	    CL_ECRYPTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "of the WAL"));
	free(w);
}
END_TEST

/* ---- WAL frames a crash leaves behind, built by hand -------------------- */

static uint32_t
rd_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
wr_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* The page key and file id of the store in tmpdir. */
static void
store_keys(uint8_t pk[32], uint8_t id[16])
{
	struct store_keyfile kf;
	struct cl_err err = CL_ERR_INIT;
	struct store_secrets *sec;

	ck_assert_int_eq(store_keyfile_read(path_in("store.key"), &kf, &err),
	    CL_OK);
	sec = sodium_malloc(sizeof(*sec));
	ck_assert_ptr_nonnull(sec);
	ck_assert_int_eq(store_keyfile_kek(&kf, PASS, PASS_LEN, sec, &err),
	    CL_OK);
	ck_assert_int_eq(store_keyfile_unwrap(&kf, sec, &err), CL_OK);
	store_page_key(pk, sec->data_key);
	memcpy(id, kf.file_id, 16);
	sodium_free(sec);
}

/*
 * A hot journal of several segments (a writer with a 5-page cache killed
 * mid-transaction).  After a header that says nRec 0 SQLite's playback
 * reads the next header right after it (one sector on) and plays back
 * its records, so `store check` must authenticate those too: here the
 * first segment loses its records and says nRec 0, and a record of the
 * second, now right after it, is altered.
 */
START_TEST(test_tamper_journal_segments)
{
	static const uint8_t magic[8] = {
	    0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7 };
	struct cl_err err = CL_ERR_INIT;
	uint32_t sector;
	uint8_t *j;
	size_t len, h2;
	struct store *s;
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_ROLLBACK);
	fill(s, 100);
	store_close(s);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		s = open_store(STORE_JOURNAL_ROLLBACK);
		exec_ok(s, "PRAGMA cache_size=5");
		exec_ok(s, "BEGIN");
		exec_ok(s, "UPDATE " TABLE " SET v = v || 'x'");
		raise(SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	j = slurp(path_in("store.db-journal"), &len);
	ck_assert_ptr_nonnull(j);
	/* Header: magic, nRec, nonce, size, sector size, page size (BE). */
	ck_assert_mem_eq(j, magic, 8);
	sector = rd_be32(j + 20);
	ck_assert_uint_gt(rd_be32(j + 8), 0);
	h2 = ((size_t)sector + rd_be32(j + 8) * (size_t)(STORE_PAGE_SIZE + 8) +
	    sector - 1) / sector * sector;
	ck_assert_uint_lt(h2 + sector + 8 + STORE_PAGE_SIZE, len);
	ck_assert_mem_eq(j + h2, magic, 8);		/* a second segment */
	ck_assert_uint_gt(rd_be32(j + h2 + 8), 0);
	wr_be32(j + 8, 0);
	memmove(j + sector, j + h2, len - h2);
	len -= h2 - sector;
	j[2 * (size_t)sector + 4 + 100] ^= 0x10;  /* first record's image */
	spit(path_in("store.db-journal"), j, len);
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL, &err),
	    CL_ECRYPTO);
	ck_assert_msg(strstr(err.msg, "journal record 0") != NULL, "%s",
	    err.msg);
	free(j);
}
END_TEST

/*
 * Append to the WAL w[0..*len) (room for one more frame) a frame for page
 * `pgno` with database size `commit` (0: not a commit), whose checksum
 * continues the last frame's over the plaintext `page`, as SQLite
 * computes it (format: sqlite.org/fileformat2.html, "Checksum
 * Algorithm").  With `pk` the image is `page` sealed as the shim would;
 * without, it is the torn remains of an image: random bytes.
 */
static void
wal_append(uint8_t *w, size_t *len, uint32_t pgno, uint32_t commit,
    const uint8_t *page, const uint8_t *pk, const uint8_t *id)
{
	uint8_t *fh = w + *len, *prev = fh - STORE_WAL_FRAME;
	bool big = (rd_be32(w) & 1) != 0;
	uint32_t s[2];

	ck_assert_uint_ge(*len, STORE_WAL_HDR + STORE_WAL_FRAME);
	s[0] = rd_be32(prev + 16);
	s[1] = rd_be32(prev + 20);
	wr_be32(fh, pgno);
	wr_be32(fh + 4, commit);
	memcpy(fh + 8, w + 16, 8);		/* the header's salts */
	store_wal_cksum(big, fh, 8, s);
	store_wal_cksum(big, page, STORE_PAGE_SIZE, s);
	wr_be32(fh + 16, s[0]);
	wr_be32(fh + 20, s[1]);
	if (pk != NULL)
		store_page_seal(pk, id, pgno, STORE_KIND_WAL, page,
		    fh + STORE_WAL_FRAME_HDR);
	else
		randombytes_buf(fh + STORE_WAL_FRAME_HDR, STORE_PAGE_SIZE);
	*len += STORE_WAL_FRAME;
}

/*
 * Leave a WAL of 20 committed rows behind (a writer killed after its
 * COMMIT) and return it with room for `extra` more frames.
 */
static uint8_t *
committed_wal(size_t *len, size_t extra)
{
	struct store *s;
	uint8_t *w, *r;
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	store_close(s);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		s = open_store(STORE_JOURNAL_WAL);
		exec_ok(s, "PRAGMA wal_autocheckpoint=0");
		fill(s, 20);
		raise(SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	w = slurp(path_in("store.db-wal"), len);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq((*len - STORE_WAL_HDR) % STORE_WAL_FRAME, 0);
	/* The last frame is the commit of fill(). */
	ck_assert_uint_ne(rd_be32(w + *len - STORE_WAL_FRAME + 4), 0);
	r = realloc(w, *len + extra * STORE_WAL_FRAME);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* The store opens, passes its check and holds exactly the 20 rows. */
static void
assert_committed_rows(const char *what)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;

	if (store_check(tmpdir, PASS, PASS_LEN, NULL, &err) != CL_OK)
		ck_abort_msg("%s: store check: %s", what, err.msg);
	s = open_store(STORE_JOURNAL_WAL);
	ck_assert_int_eq(query_int(s, "SELECT count(*) FROM " TABLE, &err),
	    20);
	store_close(s);
	ck_assert_msg(!file_exists("store.db-wal"), "%s: WAL left behind "
	    "(checkpoint failed)", what);
}

/*
 * A torn commit frame of a page SQLite wrote as zeros (secure_delete
 * zeroes freed pages): its checksum is that of a zero page.  Recovery
 * must end the log before it, not take it with a zero page that every
 * later read then refuses.
 */
START_TEST(test_wal_torn_zero_page)
{
	static const uint8_t zero[STORE_PAGE_SIZE];
	uint8_t *w;
	size_t len;

	w = committed_wal(&len, 1);
	/* Page 2 is the table's root: zeroing it would lose the rows. */
	wal_append(w, &len, 2, rd_be32(w + len - STORE_WAL_FRAME + 4), zero,
	    NULL, NULL);
	spit(path_in("store.db-wal"), w, len);
	assert_committed_rows("torn zero page");
	free(w);
}
END_TEST

/*
 * A torn frame followed by intact frames that chain from it, as SQLite
 * leaves when it rewrites a spilled frame of an uncommitted transaction
 * in place and is killed mid-write: no commit follows, so it is a crash,
 * not tampering.  The same frame followed by a commit is tampering, and
 * both `store check` and opening the store say so.
 */
START_TEST(test_wal_torn_uncommitted)
{
	struct cl_err err = CL_ERR_INIT;
	uint8_t pk[32], id[16], page[STORE_PAGE_SIZE], *w, *last;
	struct store *s;
	uint32_t pgno, dbsize;
	size_t len, base;

	w = committed_wal(&len, 3);
	store_keys(pk, id);
	last = w + len - STORE_WAL_FRAME;
	pgno = rd_be32(last);
	dbsize = rd_be32(last + 4);
	ck_assert_int_eq(store_page_open(pk, id, pgno, STORE_KIND_WAL,
	    last + STORE_WAL_FRAME_HDR, page), 0);
	base = len;
	wal_append(w, &len, pgno, 0, page, NULL, NULL);	/* torn */
	wal_append(w, &len, pgno, 0, page, pk, id);
	wal_append(w, &len, pgno, 0, page, pk, id);
	spit(path_in("store.db-wal"), w, len);
	assert_committed_rows("torn frame, uncommitted frames after it");

	/* Now the frames after the bad one end in a commit. */
	ck_assert_int_eq(close(open(path_in("store.db-wal"),
	    O_CREAT | O_WRONLY, 0600)), 0);
	len = base + STORE_WAL_FRAME;
	wal_append(w, &len, pgno, 0, page, pk, id);
	wal_append(w, &len, pgno, dbsize, page, pk, id);
	spit(path_in("store.db-wal"), w, len);
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL, &err),
	    CL_ECRYPTO);
	ck_assert_msg(strstr(err.msg, "tampered") != NULL, "%s", err.msg);
	ck_assert_int_eq(store_open(tmpdir, PASS, PASS_LEN, NULL, &s, &err),
	    CL_ECRYPTO);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err.msg, "of the WAL") != NULL, "%s", err.msg);
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

/*
 * After a crash: `store check` passes, the store opens, and it holds
 * exactly the transactions the writer saw commit (`last`), or one more
 * (killed after COMMIT but before reporting it).  Returns the new last.
 */
static int64_t
verify_after_crash(enum store_journal journal, int64_t last, int run)
{
	struct cl_err err = CL_ERR_INIT;
	int64_t n, mx, nb, mn;
	struct store *s;

	if (store_check(tmpdir, PASS, PASS_LEN, NULL, &err) != CL_OK)
		ck_abort_msg("run %d: store check: %s", run, err.msg);
	s = open_store(journal);
	n = query_int(s, "SELECT count(*) FROM kill_log", &err);
	mx = query_int(s, "SELECT coalesce(max(i), 0) FROM kill_log", &err);
	nb = query_int(s, "SELECT count(*) FROM kill_blob", &err);
	mn = query_int(s, "SELECT coalesce(min(i), 0) FROM kill_blob", &err);
	ck_assert_msg(mx == last || mx == last + 1,
	    "run %d: store holds %lld, writer reported %lld", run,
	    (long long)mx, (long long)last);
	ck_assert_int_eq(n, mx);	/* no gaps: exactly 1..mx */
	ck_assert_int_eq(nb, mx < KEEP ? mx : KEEP);
	ck_assert_int_eq(mn, mx == 0 ? 0 : (mx <= KEEP ? 1 : mx - KEEP + 1));
	store_close(s);
	return mx;
}

static void
kill_runs(enum store_journal journal, int runs)
{
	int64_t last = 0, v;
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
		/*
		 * Every other run, let the writer commit once first, so a
		 * loaded machine cannot turn the whole test into kills
		 * during store_open().
		 */
		if (run % 2 == 1) {
			ck_assert_int_eq(read(fds[0], &v, sizeof(v)),
			    sizeof(v));
			ck_assert_int_eq(v, last + 1);
			last = v;
		}
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

		last = verify_after_crash(journal, last, run);
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
static int fault_kill_write = -1; /* writes left before SIGKILL */
static bool fault_tear;		/* and that write is cut short first */

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
	if (countdown(&fault_kill_write)) {
		/*
		 * What SIGKILL does to a write(2) into the page cache: the
		 * kernel copies one 4 KiB page at a time and stops at a
		 * fatal signal, so a write straddling a page boundary can
		 * end there.  Every WAL page image straddles one.
		 */
		if (fault_tear && off % 4096 + amt > 4096)
			(void)f->m->xWrite(f->real, p, (int)(4096 - off % 4096),
			    off);
		raise(SIGKILL);
	}
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
	fault_kill_write = -1;
	fault_tear = false;
	store_vfs_set_inner(&faulty);
}

/* ---- crash points: SIGKILL at every write, whole or torn --------------- */

#define CRASH_TX	3	/* transactions per writer */

/*
 * A writer that dies at write `kill_at` (torn at a page boundary if
 * `tear`) or exits 0 if it never gets there.  Each transaction is big
 * enough, with a 10-page cache, to spill mid-transaction (WAL: frames
 * of an uncommitted transaction, some later overwritten in place;
 * rollback: several journal headers), and the WAL checkpoints and
 * restarts every few transactions, over frames of older generations.
 */
static void
crash_writer(enum store_journal journal, int fd, int kill_at, bool tear)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;
	char sql[1024];
	int64_t i;
	int t;

	faulty_install();
	fault_kill_write = kill_at;
	fault_tear = tear;
	s = open_store(journal);
	exec_ok(s, "PRAGMA wal_autocheckpoint=20; PRAGMA cache_size=10");
	i = query_int(s, "SELECT coalesce(max(i), 0) FROM kill_log", &err);
	for (t = 0; t < CRASH_TX; t++) {
		i++;
		snprintf(sql, sizeof(sql), "BEGIN;"
		    "INSERT INTO kill_log VALUES(%lld);"
		    "INSERT INTO kill_blob VALUES(%lld, randomblob(%d));"
		    "DELETE FROM kill_blob WHERE i <= %lld;"
		    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
		    "FROM c WHERE x < 24) INSERT INTO kill_pad(b) "
		    "SELECT randomblob(900) FROM c;"
		    "UPDATE kill_pad SET b = randomblob(900) WHERE rowid > "
		    "(SELECT max(rowid) - 24 FROM kill_pad) AND rowid %% 4 = 0;"
		    "DELETE FROM kill_pad WHERE rowid <= "
		    "(SELECT max(rowid) - 48 FROM kill_pad);"
		    "COMMIT", (long long)i, (long long)i,
		    200 + (int)(i * 7919 % 1800), (long long)i - KEEP);
		exec_ok(s, sql);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(1);
	}
	store_close(s);
	_exit(fault_kill_write < 0 ? 2 : 0);
}

/*
 * Kill the writer at every one of its writes in turn, once before the
 * write and once with the write torn, and check the store each time.
 * Deterministic: the torn WAL frame that once made `store check` cry
 * tampering is among these crash points.
 */
static void
crash_points(enum store_journal journal)
{
	int64_t last = 0, v;
	struct store *s;
	int fds[2], n, status, tear, done = 0, writes = 0;
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, journal);
	exec_ok(s, "CREATE TABLE kill_log(i INTEGER PRIMARY KEY);"
	    "CREATE TABLE kill_blob(i INTEGER PRIMARY KEY, b BLOB);"
	    "CREATE TABLE kill_pad(b BLOB)");
	store_close(s);
	for (n = 0; done < 2; n++) {
		for (tear = 0; tear < 2; tear++) {
			ck_assert_int_eq(pipe(fds), 0);
			pid = fork();
			ck_assert_int_ne(pid, -1);
			if (pid == 0) {
				close(fds[0]);
				crash_writer(journal, fds[1], n, tear);
			}
			close(fds[1]);
			ck_assert_int_eq(waitpid(pid, &status, 0), pid);
			while (read(fds[0], &v, sizeof(v)) == sizeof(v)) {
				ck_assert_int_eq(v, last + 1);
				last = v;
			}
			close(fds[0]);
			if (WIFEXITED(status)) {
				ck_assert_int_eq(WEXITSTATUS(status), 0);
				done++;
			} else {
				ck_assert_msg(WIFSIGNALED(status) &&
				    WTERMSIG(status) == SIGKILL,
				    "writer died otherwise: %d", status);
				writes++;
			}
			last = verify_after_crash(journal, last,
			    n * 2 + tear);
		}
	}
	if (getenv("CHECK_STORE_VERBOSE") != NULL)
		fprintf(stderr, "%s: %d crash points, %lld commits\n",
		    journal == STORE_JOURNAL_WAL ? "wal" : "rollback", writes,
		    (long long)last);
	ck_assert_int_gt(writes, 100);
}

START_TEST(test_crash_points_wal)
{
	crash_points(STORE_JOURNAL_WAL);
}
END_TEST

START_TEST(test_crash_points_rollback)
{
	crash_points(STORE_JOURNAL_ROLLBACK);
}
END_TEST

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

/*
 * The checkpoint window, through the shim's methods: a WAL image read
 * between SQLITE_FCNTL_CKPT_START and _DONE comes back sealed and can be
 * written to its own database page as it is; nothing else can be written
 * in that window, and outside it writes are encrypted as always.
 */
START_TEST(test_ckpt_window)
{
	uint8_t key[32], id[16], page[4096], other[4096], img[4096];
	uint8_t out[4096], fh[24] = { 0, 0, 0, 3 };
	struct cl_err err = CL_ERR_INIT;
	struct store_vfs *v;
	sqlite3_vfs *pv;
	sqlite3_file *db, *wal;
	int fl = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE, outfl;
	sqlite3_int64 fo = STORE_WAL_HDR + STORE_WAL_FRAME;	/* frame 2 */

	randombytes_buf(key, sizeof(key));
	randombytes_buf(id, sizeof(id));
	ck_assert_int_eq(store_vfs_new(key, id, &v, &err), CL_OK);
	pv = sqlite3_vfs_find(store_vfs_name(v));
	db = calloc(1, (size_t)pv->szOsFile);
	wal = calloc(1, (size_t)pv->szOsFile);
	ck_assert_int_eq(pv->xOpen(pv, path_in("w.db"), db,
	    fl | SQLITE_OPEN_MAIN_DB, &outfl), SQLITE_OK);
	ck_assert_int_eq(pv->xOpen(pv, path_in("w.db-wal"), wal,
	    fl | SQLITE_OPEN_WAL, &outfl), SQLITE_OK);
	memset(page, 'p', sizeof(page));
	memset(other, 'o', sizeof(other));
	memset(page + STORE_USABLE, 0, STORE_RESERVE);
	memset(other + STORE_USABLE, 0, STORE_RESERVE);
	ck_assert_int_eq(db->pMethods->xWrite(db, other, 4096, 0), SQLITE_OK);
	/* Frame 2 of the WAL holds page 3, sealed by the shim. */
	ck_assert_int_eq(wal->pMethods->xWrite(wal, fh, 24, fo), SQLITE_OK);
	ck_assert_int_eq(wal->pMethods->xWrite(wal, page, 4096, fo + 24),
	    SQLITE_OK);

	/* Outside the window a WAL image reads back decrypted. */
	ck_assert_int_eq(wal->pMethods->xRead(wal, out, 4096, fo + 24),
	    SQLITE_OK);
	ck_assert_mem_eq(out, page, 4096);

	db->pMethods->xFileControl(db, SQLITE_FCNTL_CKPT_START, NULL);
	ck_assert_int_eq(wal->pMethods->xRead(wal, img, 4096, fo + 24),
	    SQLITE_OK);
	ck_assert(memcmp(img, page, 64) != 0);		/* sealed */
	/* Not its page, not its bytes, not plaintext: refused. */
	ck_assert_int_eq(db->pMethods->xWrite(db, img, 4096, 4096),
	    SQLITE_IOERR_WRITE);
	ck_assert_int_eq(db->pMethods->xWrite(db, page, 4096, 2 * 4096),
	    SQLITE_IOERR_WRITE);
	img[100] ^= 1;
	ck_assert_int_eq(db->pMethods->xWrite(db, img, 4096, 2 * 4096),
	    SQLITE_IOERR_WRITE);
	img[100] ^= 1;
	/* Its page: written as it is (page 2, the gap, is filled). */
	ck_assert_int_eq(db->pMethods->xWrite(db, img, 4096, 2 * 4096),
	    SQLITE_OK);
	/* Once only. */
	ck_assert_int_eq(db->pMethods->xWrite(db, img, 4096, 2 * 4096),
	    SQLITE_IOERR_WRITE);
	db->pMethods->xFileControl(db, SQLITE_FCNTL_CKPT_DONE, NULL);

	ck_assert_int_eq(db->pMethods->xRead(db, out, 4096, 2 * 4096),
	    SQLITE_OK);
	ck_assert_mem_eq(out, page, 4096);
	/* And plain writes are encrypted again. */
	ck_assert_int_eq(db->pMethods->xWrite(db, other, 4096, 2 * 4096),
	    SQLITE_OK);
	ck_assert_int_eq(db->pMethods->xRead(db, out, 4096, 2 * 4096),
	    SQLITE_OK);
	ck_assert_mem_eq(out, other, 4096);

	/* A frame altered on disk fails in the window, naming the WAL. */
	ck_assert_int_eq(wal->pMethods->xClose(wal), SQLITE_OK);
	{
		int fd = open(path_in("w.db-wal"), O_RDWR);
		uint8_t b;

		ck_assert_int_eq(pread(fd, &b, 1, fo + 24 + 999), 1);
		b ^= 0x20;
		ck_assert_int_eq(pwrite(fd, &b, 1, fo + 24 + 999), 1);
		close(fd);
	}
	ck_assert_int_eq(pv->xOpen(pv, path_in("w.db-wal"), wal,
	    fl | SQLITE_OPEN_WAL, &outfl), SQLITE_OK);
	db->pMethods->xFileControl(db, SQLITE_FCNTL_CKPT_START, NULL);
	ck_assert_int_eq(wal->pMethods->xRead(wal, img, 4096, fo + 24),
	    SQLITE_IOERR_DATA);
	ck_assert_int_eq(db->pMethods->xWrite(db, img, 4096, 2 * 4096),
	    SQLITE_IOERR_WRITE);
	db->pMethods->xFileControl(db, SQLITE_FCNTL_CKPT_DONE, NULL);
	{
		struct store_fault f;

		ck_assert(store_vfs_take_fault(v, &f));
		ck_assert_int_eq(f.kind, STORE_KIND_WAL);
		ck_assert_uint_eq(f.pgno, 3);
	}
	ck_assert_int_eq(wal->pMethods->xClose(wal), SQLITE_OK);
	ck_assert_int_eq(db->pMethods->xClose(db), SQLITE_OK);
	free(db);
	free(wal);
	store_vfs_free(v);
}
END_TEST

/*
 * Through the store: the checkpoint leaves in store.db exactly the
 * sealed images the WAL held; a frame altered after the WAL was
 * recovered makes the checkpoint fail as tampering, and the database
 * keeps its old page.
 */
START_TEST(test_ckpt_store)
{
	struct cl_err err = CL_ERR_INIT;
	uint8_t *w, *d, *d2;
	size_t wlen, dlen, d2len, i;
	struct store *s;
	uint32_t pgno;
	int rc, fd;
	pid_t pid;

	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	store_close(s);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		s = open_store(STORE_JOURNAL_WAL);
		exec_ok(s, "PRAGMA wal_autocheckpoint=0");
		fill(s, 30);
		raise(SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	w = slurp(path_in("store.db-wal"), &wlen);
	ck_assert_ptr_nonnull(w);
	s = open_store(STORE_JOURNAL_WAL);
	/* The epoch bump of the open went to the WAL: read it again. */
	free(w);
	w = slurp(path_in("store.db-wal"), &wlen);
	rc = sqlite3_wal_checkpoint_v2(store_db(s), "main",
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	ck_assert_int_eq(store_sqlite_err(s, rc, "checkpoint", &err), CL_OK);
	d = slurp(path_in("store.db"), &dlen);
	/* The last frame of each page is in the database, byte for byte. */
	for (i = STORE_WAL_HDR; i + STORE_WAL_FRAME <= wlen;
	    i += STORE_WAL_FRAME) {
		pgno = rd_be32(w + i);
		size_t j, last = i;

		for (j = i + STORE_WAL_FRAME; j + STORE_WAL_FRAME <= wlen;
		    j += STORE_WAL_FRAME)
			if (rd_be32(w + j) == pgno)
				last = j;
		if (last != i)
			continue;
		ck_assert_uint_le((size_t)pgno * 4096, dlen);
		ck_assert_mem_eq(d + ((size_t)pgno - 1) * 4096,
		    w + i + STORE_WAL_FRAME_HDR, 4096);
	}
	ck_assert_int_eq(query_int(s, "SELECT count(*) FROM " TABLE, &err),
	    30);

	/* Write more, then alter a frame on disk before checkpointing. */
	fill(s, 5);
	free(w);
	w = slurp(path_in("store.db-wal"), &wlen);
	ck_assert_uint_ge(wlen, STORE_WAL_HDR + STORE_WAL_FRAME);
	/* The first frame that is its page's last: the one copied. */
	for (i = STORE_WAL_HDR; ; i += STORE_WAL_FRAME) {
		size_t j;

		ck_assert_uint_le(i + STORE_WAL_FRAME, wlen);
		pgno = rd_be32(w + i);
		for (j = i + STORE_WAL_FRAME; j + STORE_WAL_FRAME <= wlen;
		    j += STORE_WAL_FRAME)
			if (rd_be32(w + j) == pgno)
				break;
		if (j + STORE_WAL_FRAME > wlen)
			break;
	}
	ck_assert_uint_le((size_t)pgno * 4096, dlen);
	fd = open(path_in("store.db-wal"), O_RDWR);
	w[i + STORE_WAL_FRAME_HDR + 10] ^= 0x01;
	ck_assert_int_eq(pwrite(fd, w + i, STORE_WAL_FRAME, (off_t)i),
	    STORE_WAL_FRAME);
	close(fd);
	rc = sqlite3_wal_checkpoint_v2(store_db(s), "main",
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	ck_assert_int_eq(store_sqlite_err(s, rc, "checkpoint", &err),
	    CL_ECRYPTO);
	ck_assert_msg(strstr(err.msg, "of the WAL") != NULL, "%s", err.msg);
	d2 = slurp(path_in("store.db"), &d2len);
	ck_assert_mem_eq(d2 + ((size_t)pgno - 1) * 4096,
	    d + ((size_t)pgno - 1) * 4096, 4096);
	store_close(s);
	free(w);
	free(d);
	free(d2);
}
END_TEST

/* ---- allocation failures: every `out:` path ------------------------- */

/*
 * Run `op` with the n-th cl_malloc() failing, for n = 0, 1, ... until it
 * succeeds.  Every failure must be CL_ENOMEM with a message, and `after`
 * (when given) must find the store as it was.  Returns how many
 * allocations the operation makes.
 */
static int
each_alloc_failure(const char *what, int (*op)(struct cl_err *),
    void (*after)(void))
{
	struct cl_err err = CL_ERR_INIT;
	int n, r;

	for (n = 0; n < 10000; n++) {
		cl_alloc_fail_after(n);
		r = op(&err);
		cl_alloc_fail_after(-1);
		if (r == CL_OK)
			return n;
		ck_assert_msg(r == CL_ENOMEM, "%s, allocation %d failing: "
		    "%d '%s'", what, n, r, err.msg);
		ck_assert_msg(err.msg[0] != '\0', "%s: no message", what);
		if (after != NULL)
			after();
	}
	ck_abort_msg("%s never succeeds", what);
	return -1;
}

static int
op_create(struct cl_err *err)
{
	struct store_options o = fast_opts(STORE_MODE_SHARED,
	    STORE_JOURNAL_WAL);
	struct store *s;
	int r;

	r = store_create(tmpdir, PASS, PASS_LEN, &o, &s, err);
	store_close(s);
	return r;
}

static void
nothing_left(void)
{
	ck_assert(!file_exists("store.db") && !file_exists("store.key") &&
	    !file_exists("store.db-wal"));
}

static int
op_open_sql(struct cl_err *err)
{
	struct store_options o = fast_opts(STORE_MODE_PERSONAL,
	    STORE_JOURNAL_WAL);
	struct store *s;
	int r;

	if ((r = store_open(tmpdir, PASS, PASS_LEN, &o, &s, err)) != CL_OK)
		return r;
	r = store_exec(s, "INSERT INTO " TABLE "(v) VALUES(randomblob(9000))",
	    err);
	store_close(s);
	return r;
}

static int
op_check(struct cl_err *err)
{
	return store_check(tmpdir, PASS, PASS_LEN, NULL, err);
}

static int
op_passwd(struct cl_err *err)
{
	return store_passwd(tmpdir, PASS, PASS_LEN, "other", 5, err);
}

static int
op_rotate(struct cl_err *err)
{
	return store_rotate(tmpdir, PASS, PASS_LEN, err);
}

/* The store opens with PASS, holds its rows and passes its check. */
static void
store_intact(void)
{
	struct cl_err err = CL_ERR_INIT;
	struct store *s;

	s = open_store(STORE_JOURNAL_WAL);
	ck_assert_int_ge(query_int(s, "SELECT count(*) FROM " TABLE, &err),
	    10);
	store_close(s);
	ck_assert_int_eq(store_check(tmpdir, PASS, PASS_LEN, NULL, &err),
	    CL_OK);
}

START_TEST(test_alloc_failures)
{
	struct store *s;
	int n;

	n = each_alloc_failure("store_create", op_create, nothing_left);
	ck_assert_int_gt(n, 3);
	teardown();
	setup();
	s = make_store(STORE_MODE_PERSONAL, STORE_JOURNAL_WAL);
	fill(s, 10);
	store_close(s);
	ck_assert_int_gt(each_alloc_failure("open and insert", op_open_sql,
	    store_intact), 3);
	ck_assert_int_gt(each_alloc_failure("store_check", op_check,
	    store_intact), 3);
	ck_assert_int_gt(each_alloc_failure("store_passwd", op_passwd,
	    store_intact), 0);
	{
		struct cl_err err = CL_ERR_INIT;

		ck_assert_int_eq(store_passwd(tmpdir, "other", 5, PASS,
		    PASS_LEN, &err), CL_OK);
	}
	ck_assert_int_gt(each_alloc_failure("store_rotate", op_rotate,
	    store_intact), 3);
	store_intact();
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
	tcase_add_test(tc, test_page_verify);
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
	tcase_add_test(tc, test_wal_torn_zero_page);
	tcase_add_test(tc, test_wal_torn_uncommitted);
	tcase_add_test(tc, test_tamper_journal_segments);
	suite_add_tcase(su, tc);

	tc = tcase_create("crash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kill_wal);
	tcase_add_test(tc, test_kill_rollback);
	tcase_add_test(tc, test_crash_points_wal);
	tcase_add_test(tc, test_crash_points_rollback);
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
	tcase_add_test(tc, test_ckpt_window);
	tcase_add_test(tc, test_ckpt_store);
	tcase_add_test(tc, test_alloc_failures);
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
