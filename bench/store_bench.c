/*
 * store_bench.c - the store workload on plain SQLite, on cloister's
 * encrypted store and (built separately, with -DBENCH_SQLCIPHER) on
 * SQLCipher: insert N rows of ~1 KB in transactions of 100, then read
 * them all back.  Same settings everywhere: page size 4096, WAL,
 * synchronous=NORMAL, temp_store=MEMORY, no mmap, default cache.
 *
 * One backend per process, so the peak memory is the backend's own:
 *	store_bench [-n rows] dir plain|cloister
 *	store_bench_sqlcipher [-n rows] dir sqlcipher
 * prints one line of key=value pairs; bench/store-bench.sh runs all
 * three and prints the ratios.  SQLCipher and SQLite cannot be linked
 * into one program (same symbols), hence two binaries.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_SQLCIPHER
#include <sqlcipher/sqlite3.h>
#else
#include <sqlite3.h>
#include <sodium.h>
#include "store/store.h"
#endif

#define ROW_BYTES	1000
#define TX_ROWS		100

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) used by this process so far. */
static double
cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "store_bench: %s: %s\n", what,
	    db != NULL ? sqlite3_errmsg(db) : "failed");
	exit(1);
}

static void
exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(db, sql);
}

/* Forget the peak so far (Linux: clear_refs 5 resets VmHWM). */
static void
peak_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f != NULL) {
		fputs("5", f);
		fclose(f);
	}
}

static long
peak_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void
workload(sqlite3 *db, const char *name, long rows)
{
	unsigned char body[ROW_BYTES + 64];
	sqlite3_stmt *ins, *sel;
	double t0, t1, t2, c0, c1, c2;
	long i, n = 0;
	size_t k, total = 0;

	exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB)");
	for (k = 0; k < sizeof(body); k++)
		body[k] = (unsigned char)(k * 131 + 7);
	if (sqlite3_prepare_v2(db, "INSERT INTO t(id, body) VALUES(?, ?)", -1,
	    &ins, NULL) != SQLITE_OK)
		die(db, "prepare insert");
	peak_reset();
	c0 = cpu();
	t0 = now();
	for (i = 0; i < rows; i++) {
		if (i % TX_ROWS == 0)
			exec(db, "BEGIN");
		body[i % 64] ^= (unsigned char)i;	/* rows differ */
		sqlite3_bind_int64(ins, 1, i + 1);
		sqlite3_bind_blob(ins, 2, body + i % 64, ROW_BYTES,
		    SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die(db, "insert");
		sqlite3_reset(ins);
		if (i % TX_ROWS == TX_ROWS - 1 || i == rows - 1)
			exec(db, "COMMIT");
	}
	t1 = now();
	c1 = cpu();
	if (sqlite3_prepare_v2(db, "SELECT id, body FROM t", -1, &sel,
	    NULL) != SQLITE_OK)
		die(db, "prepare select");
	while (sqlite3_step(sel) == SQLITE_ROW) {
		total += (size_t)sqlite3_column_bytes(sel, 1);
		n++;
	}
	t2 = now();
	c2 = cpu();
	if (n != rows || total != (size_t)rows * ROW_BYTES)
		die(NULL, "read back a different table");
	sqlite3_finalize(ins);
	sqlite3_finalize(sel);
	printf("backend=%s rows=%ld insert_rows_per_s=%.0f "
	    "read_rows_per_s=%.0f insert_s=%.3f read_s=%.3f "
	    "insert_cpu_s=%.3f read_cpu_s=%.3f peak_kb=%ld\n",
	    name, rows, rows / (t1 - t0), rows / (t2 - t1), t1 - t0, t2 - t1,
	    c1 - c0, c2 - c1, peak_kb());
}

#ifndef BENCH_SQLCIPHER
/*
 * The floor under any per-page AEAD read: libsodium's
 * XChaCha20-Poly1305 opening one 4096-byte page (4056 bytes of data,
 * 40 reserved for nonce and tag, 16 bytes of associated data, as the
 * store's VFS does), best of 5 runs of 20000.
 */
static void
aead_floor(void)
{
	unsigned char key[32], nonce[24], ad[16], tag[16];
	static unsigned char msg[4096], ct[4096];
	const size_t len = 4096 - 40;
	unsigned long long tl;
	double best = 1e30, t;
	int i, rep;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(ad, sizeof(ad));
	randombytes_buf(msg, sizeof(msg));
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ct, tag, &tl, msg,
	    len, ad, sizeof(ad), NULL, nonce, key);
	for (rep = 0; rep < 5; rep++) {
		t = now();
		for (i = 0; i < 20000; i++)
			if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
			    msg, NULL, ct, len, tag, ad, sizeof(ad), nonce,
			    key) != 0) {
				fprintf(stderr, "store_bench: AEAD failed\n");
				exit(1);
			}
		t = (now() - t) / 20000;
		if (t < best)
			best = t;
	}
	printf("backend=aead decrypt_us_per_page=%.3f\n", best * 1e6);
}
#endif

static const char settings[] = "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;PRAGMA temp_store=MEMORY;"
    "PRAGMA mmap_size=0";

int
main(int argc, char **argv)
{
	char path[4096];
	sqlite3 *db = NULL;
	long rows = 100000;
	int c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n' && (rows = atol(optarg)) > 0)
			continue;
		fprintf(stderr, "usage: store_bench [-n rows] dir backend\n");
		return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: store_bench [-n rows] dir backend\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s.db", argv[optind],
	    argv[optind + 1]);
#ifdef BENCH_SQLCIPHER
	if (strcmp(argv[optind + 1], "sqlcipher") != 0)
		return 2;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(db, "open");
	/* A raw key: no KDF, as cloister's data key needs none either. */
	exec(db, "PRAGMA key=\"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D"
	    "1B628663F411A8086D99'\"");
	exec(db, "PRAGMA cipher_page_size=4096");
	exec(db, settings);
	workload(db, "sqlcipher", rows);
#else
	if (strcmp(argv[optind + 1], "plain") == 0) {
		if (sqlite3_open(path, &db) != SQLITE_OK)
			die(db, "open");
		exec(db, "PRAGMA page_size=4096");
		exec(db, settings);
		workload(db, "plain", rows);
	} else if (strcmp(argv[optind + 1], "aead") == 0) {
		if (sodium_init() < 0)
			return 1;
		aead_floor();
		return 0;
	} else if (strcmp(argv[optind + 1], "cloister") == 0) {
		struct store_options opt = STORE_OPTIONS_INIT;
		struct cl_err err = CL_ERR_INIT;
		struct store *s;
		char dir[4096];
		double t;

		snprintf(dir, sizeof(dir), "%s/cloister", argv[optind]);
		/* Default (real) KDF cost: the passwd timing below uses it. */
		if (store_create(dir, "bench pass", 10, &opt, &s, &err) !=
		    CL_OK) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			return 1;
		}
		db = store_db(s);
		workload(db, "cloister", rows);
		store_close(s);
		db = NULL;
		t = now();
		if (store_passwd(dir, "bench pass", 10, "new bench pass", 14,
		    &err) != CL_OK) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			return 1;
		}
		printf("backend=cloister-passwd passwd_s=%.3f\n", now() - t);
	} else {
		return 2;
	}
#endif
	sqlite3_close(db);
	return 0;
}
