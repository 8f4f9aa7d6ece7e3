/*
 * store.c - the store object: create, open, close, unlock; checked SQL
 * helpers; the epoch; admin signing and sealing; passphrase change,
 * data-key rotation and the store check.
 *
 * Divisions:
 *   1. paths, rotation recovery
 *   2. the SQLite side: open a connection through the shim, rules
 *   3. create / open / close / unlock
 *   4. SQL helpers and the epoch
 *   5. admin keys: sign, verify, seal, unseal
 *   6. passwd and rotate
 *   7. check
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_impl.h"

#define DB_NAME		"store.db"
#define KEY_NAME	"store.key"
#define DB_NEW		"store.db.new"
#define KEY_NEW		"store.key.new"
#define ROTATE_NAME	"store.rotate"
#define ROTATE_MAGIC	"cloister rotate 1\n"

int store_test_rotate_kill_at;

struct store {
	char			*dir;		/* store directory */
	char			*db_path;	/* dir/store.db */
	struct store_keyfile	 kf;		/* the key file as read */
	struct store_vfs	*vfs;		/* this store's shim */
	sqlite3			*db;		/* the connection */
	struct store_admin_keys	*admin;		/* noaccess when idle; NULL locked */
	uint64_t		 epoch;		/* last value seen */
};

/* ---- 1. paths, rotation recovery -------------------------------------- */

/*
 * dir/name in a caller's buffer: cleanup paths must work when memory is
 * short, so these helpers do not allocate.  False if it does not fit.
 */
static bool
path_in(char buf[PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

	return n > 0 && n < PATH_MAX;
}

static bool
exists_in(const char *dir, const char *name)
{
	char p[PATH_MAX];

	return path_in(p, dir, name) && access(p, F_OK) == 0;
}

static int
rename_in(const char *dir, const char *from, const char *to,
    struct cl_err *err)
{
	char *a = store_path(dir, from), *b = store_path(dir, to);
	int r = CL_OK;

	if (a == NULL || b == NULL)
		r = cl_errf(err, CL_ENOMEM, "out of memory");
	else if (rename(a, b) == -1)
		r = cl_errf(err, CL_EIO, "cannot rename '%s' to '%s': %s", a, b,
		    strerror(errno));
	cl_free(a);
	cl_free(b);
	return r;
}

static void
unlink_in(const char *dir, const char *name)
{
	char p[PATH_MAX];

	if (path_in(p, dir, name))
		(void)unlink(p);
}

static void
kill_point(int step)
{
	if (store_test_rotate_kill_at == step)
		raise(SIGKILL);
}

/*
 * Finish or undo an interrupted rotation.  The rotation record is the
 * commit point: with it, the new files win; without it, they are
 * leftovers of a rotation that never committed.
 */
static int
recover_rotation(const char *dir, struct cl_err *err)
{
	int r;

	if (!exists_in(dir, ROTATE_NAME)) {
		unlink_in(dir, DB_NEW);
		unlink_in(dir, KEY_NEW);
		unlink_in(dir, KEY_NEW ".tmp");
		return CL_OK;
	}
	if (exists_in(dir, DB_NEW) &&
	    (r = rename_in(dir, DB_NEW, DB_NAME, err)) != CL_OK)
		return r;
	if (exists_in(dir, KEY_NEW) &&
	    (r = rename_in(dir, KEY_NEW, KEY_NAME, err)) != CL_OK)
		return r;
	if ((r = store_fsync_dir(dir, err)) != CL_OK)
		return r;
	unlink_in(dir, ROTATE_NAME);
	return store_fsync_dir(dir, err);
}

/* ---- 2. the SQLite side ------------------------------------------------ */

/* Pragmas other modules may not set (or, for some, even run). */
static const struct {
	const char	*name;
	bool		 always;	/* denied even without an argument */
} denied_pragmas[] = {
	{ "temp_store", false },
	{ "temp_store_directory", true },
	{ "data_store_directory", true },
	{ "mmap_size", false },
	{ "journal_mode", false },
	{ "page_size", false },
	{ "locking_mode", false },
	{ "synchronous", false },
	{ "writable_schema", true },
	{ "schema_version", false },
};

static int
authorizer(void *arg, int action, const char *a1, const char *a2,
    const char *dbname, const char *trigger)
{
	size_t i;

	switch (action) {
	case SQLITE_ATTACH:
	case SQLITE_DETACH:
		return SQLITE_DENY;
	case SQLITE_PRAGMA:
		if (a1 == NULL)
			return SQLITE_DENY;
		for (i = 0; i < CL_ARRAY_LEN(denied_pragmas); i++) {
			if (strcasecmp(a1, denied_pragmas[i].name) == 0 &&
			    (denied_pragmas[i].always || a2 != NULL))
				return SQLITE_DENY;
		}
		return SQLITE_OK;
	default:
		return SQLITE_OK;
	}
}

/*
 * Open s->db through a fresh shim keyed with `data_key`.  With `create`,
 * the file is new: fix page size and reserve, make the meta table.
 */
static int
open_db(struct store *s, const uint8_t *data_key,
    const struct store_options *opt, bool create, bool bump,
    struct cl_err *err)
{
	uint8_t *page_key = NULL;
	char sql[256];
	int rc, n, r;

	if ((page_key = sodium_malloc(STORE_KEY_BYTES)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	store_page_key(page_key, data_key);
	if ((r = store_vfs_new(page_key, s->kf.file_id, &s->vfs, err)) != CL_OK)
		goto out;
	if (create) {
		/* 0600 from birth; SQLite gives its journals the same mode. */
		int fd = open(s->db_path, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd == -1) {
			r = cl_errf(err, CL_EIO, "cannot create '%s': %s",
			    s->db_path, strerror(errno));
			goto out;
		}
		close(fd);
	}
	if (!create && access(s->db_path, F_OK) != 0) {
		r = cl_errf(err, CL_ENOTFOUND, "database missing: '%s'",
		    s->db_path);
		goto out;
	}
	rc = sqlite3_open_v2(s->db_path, &s->db, SQLITE_OPEN_READWRITE |
	    (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOFOLLOW,
	    store_vfs_name(s->vfs));
	if (rc != SQLITE_OK) {
		r = store_sqlite_err(s, rc, "opening the database", err);
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	sqlite3_busy_timeout(s->db, 5000);
	if (create) {
		if ((r = store_exec(s, "PRAGMA page_size=4096", err)) != CL_OK)
			goto out;
		n = STORE_RESERVE;
		rc = sqlite3_file_control(s->db, "main",
		    SQLITE_FCNTL_RESERVE_BYTES, &n);
		if (rc != SQLITE_OK) {
			r = store_sqlite_err(s, rc, "reserving page bytes", err);
			goto out;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA temp_store=MEMORY;"
	    "PRAGMA mmap_size=0;PRAGMA cell_size_check=ON;"
	    "PRAGMA journal_mode=%s;PRAGMA synchronous=%s",
	    opt->journal == STORE_JOURNAL_ROLLBACK ? "DELETE" : "WAL",
	    opt->journal == STORE_JOURNAL_ROLLBACK ? "FULL" : "NORMAL");
	if ((r = store_exec(s, sql, err)) != CL_OK)
		goto out;
	if (create && (r = store_exec(s, "CREATE TABLE store_meta("
	    "name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	    "INSERT INTO store_meta VALUES('format',1),('epoch',0)", err)) !=
	    CL_OK)
		goto out;
	/* The page layout must be ours, or every page would be misread. */
	n = -1;
	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_RESERVE_BYTES,
	    &n) != SQLITE_OK || n != STORE_RESERVE) {
		r = cl_errf(err, CL_ECRYPTO, "store damaged: '%s' does not "
		    "reserve %d bytes per page", s->db_path, STORE_RESERVE);
		goto out;
	}
	sqlite3_set_authorizer(s->db, authorizer, NULL);
	if (bump)
		r = store_epoch_bump(s, NULL, err);
	else
		r = CL_OK;
out:
	sodium_free(page_key);
	return r;
}

/* ---- 3. create / open / close / unlock --------------------------------- */

static int
mkdir_p(const char *dir, struct cl_err *err)
{
	char *p = NULL, *q;
	int r = CL_OK;

	if ((p = cl_strdup(dir)) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	for (q = p + 1; ; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char c = *q;
		*q = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST) {
			r = cl_errf(err, CL_EIO, "cannot create '%s': %s", p,
			    strerror(errno));
			break;
		}
		*q = c;
		if (c == '\0')
			break;
	}
	cl_free(p);
	return r;
}

static int
store_new(const char *dir, struct store **out, struct cl_err *err)
{
	struct store *s;

	*out = NULL;
	if ((s = cl_calloc(1, sizeof(*s))) == NULL ||
	    (s->dir = cl_strdup(dir)) == NULL ||
	    (s->db_path = store_path(dir, DB_NAME)) == NULL) {
		store_close(s);
		return cl_errf(err, CL_ENOMEM, "out of memory");
	}
	*out = s;
	return CL_OK;
}

static int
secrets_new(struct store_secrets **out, struct cl_err *err)
{
	if ((*out = sodium_malloc(sizeof(**out))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory for keys");
	sodium_memzero(*out, sizeof(**out));
	return CL_OK;
}

/* Keep the admin keys derived from sec->seed, inaccessible while idle. */
static int
keep_admin(struct store *s, const struct store_secrets *sec,
    struct cl_err *err)
{
	store_lock(s);
	if ((s->admin = sodium_malloc(sizeof(*s->admin))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory for keys");
	store_admin_derive(sec->seed, s->admin);
	sodium_mprotect_noaccess(s->admin);
	return CL_OK;
}

static const struct store_options default_options = STORE_OPTIONS_INIT;

int
store_create(const char *dir, const char *pass, size_t pass_len,
    const struct store_options *opt, struct store **out, struct cl_err *err)
{
	static const char *const names[] = { DB_NAME, KEY_NAME,
	    DB_NAME "-wal", DB_NAME "-journal", ROTATE_NAME };
	struct store_secrets *sec = NULL;
	struct store *s = NULL;
	bool made = false;
	size_t i;
	int r;

	*out = NULL;
	if (opt == NULL)
		opt = &default_options;
	if (pass == NULL || pass_len == 0) {
		r = cl_errf(err, CL_EINVAL, "a passphrase is needed");
		goto out;
	}
	if (opt->mode != STORE_MODE_PERSONAL && opt->mode != STORE_MODE_SHARED) {
		r = cl_errf(err, CL_EINVAL, "unknown store mode %d", opt->mode);
		goto out;
	}
	if ((r = sodium_init()) < 0) {
		r = cl_errf(err, CL_EINTERNAL, "libsodium failed to initialise");
		goto out;
	}
	if ((r = mkdir_p(dir, err)) != CL_OK)
		goto out;
	for (i = 0; i < CL_ARRAY_LEN(names); i++) {
		if (exists_in(dir, names[i])) {
			r = cl_errf(err, CL_EEXIST, "a store already exists in "
			    "'%s' (found '%s'); refusing to overwrite it", dir,
			    names[i]);
			goto out;
		}
	}
	if ((r = store_new(dir, &s, err)) != CL_OK ||
	    (r = secrets_new(&sec, err)) != CL_OK)
		goto out;
	s->kf.mode = opt->mode;
	s->kf.opslimit = opt->kdf_opslimit != 0 ? opt->kdf_opslimit :
	    STORE_KDF_OPSLIMIT;
	s->kf.memlimit = opt->kdf_memlimit != 0 ? opt->kdf_memlimit :
	    STORE_KDF_MEMLIMIT;
	if (s->kf.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
	    s->kf.memlimit < crypto_pwhash_MEMLIMIT_MIN ||
	    s->kf.memlimit > (4ULL << 30) || s->kf.opslimit > 64) {
		r = cl_errf(err, CL_EINVAL, "KDF parameters out of range");
		goto out;
	}
	randombytes_buf(s->kf.file_id, sizeof(s->kf.file_id));
	randombytes_buf(s->kf.salt, sizeof(s->kf.salt));
	randombytes_buf(sec->data_key, sizeof(sec->data_key));
	randombytes_buf(sec->seed, sizeof(sec->seed));
	if ((r = store_keyfile_kek(&s->kf, pass, pass_len, sec, err)) != CL_OK)
		goto out;
	store_keyfile_build(&s->kf, sec);
	made = true;
	if ((r = store_write_atomic(dir, KEY_NAME, s->kf.raw,
	    STORE_KEYFILE_SIZE, err)) != CL_OK)
		goto out;
	if ((r = open_db(s, sec->data_key, opt, true, true, err)) != CL_OK)
		goto out;
	if ((r = keep_admin(s, sec, err)) != CL_OK)
		goto out;
	if ((r = store_fsync_dir(dir, err)) != CL_OK)
		goto out;
	*out = s;
	s = NULL;
	r = CL_OK;
out:
	sodium_free(sec);
	store_close(s);
	if (r != CL_OK && made) {
		/* Leave nothing behind. */
		for (i = 0; i < CL_ARRAY_LEN(names); i++)
			unlink_in(dir, names[i]);
		unlink_in(dir, DB_NAME "-shm");
	}
	return r;
}

int
store_open(const char *dir, const char *pass, size_t pass_len,
    const struct store_options *opt, struct store **out, struct cl_err *err)
{
	struct store_secrets *sec = NULL;
	struct store *s = NULL;
	char *key_path = NULL;
	int r;

	*out = NULL;
	if (opt == NULL)
		opt = &default_options;
	if (sodium_init() < 0) {
		r = cl_errf(err, CL_EINTERNAL, "libsodium failed to initialise");
		goto out;
	}
	if ((r = store_new(dir, &s, err)) != CL_OK ||
	    (r = secrets_new(&sec, err)) != CL_OK)
		goto out;
	if ((r = recover_rotation(dir, err)) != CL_OK)
		goto out;
	if ((key_path = store_path(dir, KEY_NAME)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = store_keyfile_read(key_path, &s->kf, err)) != CL_OK)
		goto out;
	if (pass != NULL) {
		if ((r = store_keyfile_kek(&s->kf, pass, pass_len, sec, err)) !=
		    CL_OK ||
		    (r = store_keyfile_unwrap(&s->kf, sec, err)) != CL_OK ||
		    (r = keep_admin(s, sec, err)) != CL_OK)
			goto out;
	} else if (s->kf.mode == STORE_MODE_SHARED) {
		memcpy(sec->data_key, s->kf.shared_key, STORE_KEY_BYTES);
	} else {
		r = cl_errf(err, CL_EAUTH, "this store needs its passphrase");
		goto out;
	}
	if ((r = open_db(s, sec->data_key, opt, false, true, err)) != CL_OK)
		goto out;
	*out = s;
	s = NULL;
	r = CL_OK;
out:
	sodium_free(sec);
	cl_free(key_path);
	store_close(s);
	return r;
}

int
store_peek(const char *dir, enum store_mode *mode,
    uint8_t sign_pk[STORE_SIGN_PUBLICKEYBYTES], struct cl_err *err)
{
	struct store_keyfile *kf = NULL;
	char *key_path = NULL;
	int r;

	if (sodium_init() < 0)
		return cl_errf(err, CL_EINTERNAL, "libsodium failed to "
		    "initialise");
	if ((key_path = store_path(dir, KEY_NAME)) == NULL ||
	    (kf = cl_calloc(1, sizeof(*kf))) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = store_keyfile_read(key_path, kf, err)) != CL_OK)
		goto out;
	*mode = (enum store_mode)kf->mode;
	memcpy(sign_pk, kf->sign_pk, STORE_SIGN_PUBLICKEYBYTES);
out:
	if (kf != NULL) {
		/* A shared store's data key is in there. */
		sodium_memzero(kf, sizeof(*kf));
		cl_free(kf);
	}
	cl_free(key_path);
	return r;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->db != NULL)
		sqlite3_close_v2(s->db);
	store_vfs_free(s->vfs);
	store_lock(s);
	cl_free(s->dir);
	cl_free(s->db_path);
	sodium_memzero(s, sizeof(*s));
	cl_free(s);
}

int
store_unlock(struct store *s, const char *pass, size_t pass_len,
    struct cl_err *err)
{
	struct store_secrets *sec = NULL;
	int r;

	if ((r = secrets_new(&sec, err)) != CL_OK)
		return r;
	if ((r = store_keyfile_kek(&s->kf, pass, pass_len, sec, err)) ==
	    CL_OK && (r = store_keyfile_unwrap(&s->kf, sec, err)) == CL_OK)
		r = keep_admin(s, sec, err);
	sodium_free(sec);
	return r;
}

void
store_lock(struct store *s)
{
	if (s->admin != NULL) {
		sodium_mprotect_readwrite(s->admin);
		sodium_free(s->admin);	/* wipes */
		s->admin = NULL;
	}
}

bool
store_is_unlocked(const struct store *s)
{
	return s->admin != NULL;
}

enum store_mode
store_get_mode(const struct store *s)
{
	return (enum store_mode)s->kf.mode;
}

sqlite3 *
store_db(struct store *s)
{
	return s->db;
}

/* ---- 4. SQL helpers and the epoch -------------------------------------- */

int
store_sqlite_err(struct store *s, int rc, const char *what,
    struct cl_err *err)
{
	struct store_fault f;
	const char *msg;
	bool fault;
	int code, ext;

	if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
		return CL_OK;
	ext = (rc & ~0xff) != 0 || s->db == NULL ? rc :
	    sqlite3_extended_errcode(s->db);
	fault = s->vfs != NULL && store_vfs_take_fault(s->vfs, &f);
	if (what == NULL)
		what = "store";
	if (ext == SQLITE_IOERR_DATA && fault) {
		return cl_errf(err, CL_ECRYPTO, "%s: store tampered with or "
		    "damaged: page %u of the %s (offset %llu) failed "
		    "authentication", what, f.pgno, store_kind_name(f.kind),
		    (unsigned long long)f.offset);
	}
	msg = s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return cl_errf(err, CL_ECRYPTO, "%s: store damaged: %s", what,
		    msg);
	case SQLITE_NOMEM:
		code = CL_ENOMEM;
		break;
	case SQLITE_AUTH:
		return cl_errf(err, CL_EINVAL, "%s: refused by the store's "
		    "rules (see store.h)", what);
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
		code = CL_EIO;
		break;
	case SQLITE_ERROR:
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_TOOBIG:
		code = CL_EINVAL;
		break;
	default:
		code = CL_EINTERNAL;
		break;
	}
	return cl_errf(err, code, "%s: %s", what, msg);
}

int
store_exec(struct store *s, const char *sql, struct cl_err *err)
{
	int rc;

	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return store_sqlite_err(s, rc, NULL, err);
}

int
store_prepare(struct store *s, const char *sql, sqlite3_stmt **out,
    struct cl_err *err)
{
	int rc;

	*out = NULL;
	rc = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(*out);
		*out = NULL;
	}
	return store_sqlite_err(s, rc, NULL, err);
}

int
store_step(struct store *s, sqlite3_stmt *st, struct cl_err *err)
{
	int rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_sqlite_err(s, rc, NULL, err);
}

uint64_t
store_epoch(const struct store *s)
{
	return s->epoch;
}

int
store_epoch_bump(struct store *s, uint64_t *out, struct cl_err *err)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = store_prepare(s, "UPDATE store_meta SET value=value+1 "
	    "WHERE name='epoch' RETURNING value", &st, err)) != CL_OK)
		goto out;
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	if (r == 0) {
		r = cl_errf(err, CL_ECRYPTO, "store damaged: no epoch");
		goto out;
	}
	s->epoch = (uint64_t)sqlite3_column_int64(st, 0);
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	if (out != NULL)
		*out = s->epoch;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	return r;
}

/* ---- 5. admin keys ----------------------------------------------------- */

const uint8_t *
store_admin_sign_public_key(const struct store *s)
{
	return s->kf.sign_pk;
}

const uint8_t *
store_admin_box_public_key(const struct store *s)
{
	return s->kf.box_pk;
}

int
store_admin_sign(struct store *s, const void *msg, size_t len,
    uint8_t sig[STORE_SIGN_BYTES], struct cl_err *err)
{
	if (s->admin == NULL)
		return cl_errf(err, CL_EAUTH, "signing needs the admin "
		    "passphrase");
	sodium_mprotect_readonly(s->admin);
	crypto_sign_detached(sig, NULL, msg, len, s->admin->sign_sk);
	sodium_mprotect_noaccess(s->admin);
	return CL_OK;
}

bool
store_admin_verify(const struct store *s, const void *msg, size_t len,
    const uint8_t sig[STORE_SIGN_BYTES])
{
	return crypto_sign_verify_detached(sig, msg, len, s->kf.sign_pk) == 0;
}

int
store_seal_to_admin(const struct store *s, const void *pt, size_t len,
    uint8_t **out, size_t *out_len, struct cl_err *err)
{
	size_t n;

	*out = NULL;
	*out_len = 0;
	if (!cl_add_size(len, crypto_box_SEALBYTES, &n))
		return cl_errf(err, CL_ELIMIT, "message too long to seal");
	if ((*out = cl_malloc(n)) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	crypto_box_seal(*out, pt, len, s->kf.box_pk);
	*out_len = n;
	return CL_OK;
}

int
store_admin_unseal(struct store *s, const void *ct, size_t len,
    uint8_t **out, size_t *out_len, struct cl_err *err)
{
	uint8_t *pt;
	int r;

	*out = NULL;
	*out_len = 0;
	if (s->admin == NULL)
		return cl_errf(err, CL_EAUTH, "reading sealed data needs the "
		    "admin passphrase");
	if (len < crypto_box_SEALBYTES)
		return cl_errf(err, CL_ECRYPTO, "sealed data too short (%zu "
		    "bytes)", len);
	if ((pt = sodium_malloc(len - crypto_box_SEALBYTES + 1)) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	sodium_mprotect_readonly(s->admin);
	r = crypto_box_seal_open(pt, ct, len, s->admin->box_pk,
	    s->admin->box_sk);
	sodium_mprotect_noaccess(s->admin);
	if (r != 0) {
		sodium_free(pt);
		return cl_errf(err, CL_ECRYPTO, "sealed data does not "
		    "authenticate (altered, or sealed to another admin)");
	}
	pt[len - crypto_box_SEALBYTES] = '\0';
	*out = pt;
	*out_len = len - crypto_box_SEALBYTES;
	return CL_OK;
}

void
store_secret_free(void *p)
{
	if (p != NULL)
		sodium_free(p);
}

int
store_dir_default(char **out, struct cl_err *err)
{
	const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	struct cl_buf b = CL_BUF_INIT;
	int r;

	*out = NULL;
	if (x != NULL && x[0] == '/')
		r = cl_buf_printf(&b, "%s/cloister", x);
	else if (home != NULL && home[0] == '/')
		r = cl_buf_printf(&b, "%s/.local/share/cloister", home);
	else
		return cl_errf(err, CL_ENOTFOUND, "neither XDG_DATA_HOME nor "
		    "HOME is set to an absolute path");
	if (r != CL_OK) {
		cl_buf_release(&b);
		return cl_errf(err, CL_ENOMEM, "out of memory");
	}
	*out = cl_buf_steal(&b, NULL);
	return CL_OK;
}

/* ---- 6. passwd and rotate ---------------------------------------------- */

/* Read the key file of `dir` and unwrap it with `pass` into *sec. */
static int
unwrap_dir(const char *dir, const char *pass, size_t pass_len,
    struct store_keyfile *kf, struct store_secrets **sec,
    struct cl_err *err)
{
	char *key_path = NULL;
	int r;

	*sec = NULL;
	if (sodium_init() < 0)
		return cl_errf(err, CL_EINTERNAL, "libsodium failed");
	if ((r = recover_rotation(dir, err)) != CL_OK)
		return r;
	if ((key_path = store_path(dir, KEY_NAME)) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	r = store_keyfile_read(key_path, kf, err);
	cl_free(key_path);
	if (r != CL_OK || (r = secrets_new(sec, err)) != CL_OK)
		return r;
	if (pass == NULL) {
		if (kf->mode != STORE_MODE_SHARED)
			return cl_errf(err, CL_EAUTH, "this store needs its "
			    "passphrase");
		memcpy((*sec)->data_key, kf->shared_key, STORE_KEY_BYTES);
		return CL_OK;
	}
	if ((r = store_keyfile_kek(kf, pass, pass_len, *sec, err)) != CL_OK)
		return r;
	return store_keyfile_unwrap(kf, *sec, err);
}

int
store_passwd(const char *dir, const char *old_pass, size_t old_len,
    const char *new_pass, size_t new_len, struct cl_err *err)
{
	struct store_secrets *sec = NULL;
	struct store_keyfile kf;
	int r;

	if (old_pass == NULL || new_pass == NULL || new_len == 0) {
		r = cl_errf(err, CL_EINVAL, "a passphrase is needed");
		goto out;
	}
	if ((r = unwrap_dir(dir, old_pass, old_len, &kf, &sec, err)) != CL_OK)
		goto out;
	randombytes_buf(kf.salt, sizeof(kf.salt));
	if ((r = store_keyfile_kek(&kf, new_pass, new_len, sec, err)) != CL_OK)
		goto out;
	store_keyfile_build(&kf, sec);
	r = store_write_atomic(dir, KEY_NAME, kf.raw, STORE_KEYFILE_SIZE, err);
out:
	sodium_free(sec);
	sodium_memzero(&kf, sizeof(kf));
	return r;
}

/* Re-encrypt dir/store.db page by page into dir/store.db.new. */
static int
reencrypt(const char *dir, const uint8_t *old_key, const uint8_t *old_id,
    const uint8_t *new_key, const uint8_t *new_id, struct cl_err *err)
{
	char *src_path = NULL, *dst_path = NULL;
	uint8_t *page = NULL;
	struct stat st;
	off_t off;
	int src = -1, dst = -1, r;

	if ((src_path = store_path(dir, DB_NAME)) == NULL ||
	    (dst_path = store_path(dir, DB_NEW)) == NULL ||
	    (page = cl_malloc(STORE_PAGE_SIZE)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if ((src = open(src_path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(src, &st) == -1) {
		r = cl_errf(err, CL_EIO, "cannot read '%s': %s", src_path,
		    strerror(errno));
		goto out;
	}
	if (st.st_size % STORE_PAGE_SIZE != 0) {
		r = cl_errf(err, CL_ECRYPTO, "store damaged: '%s' ends in a "
		    "partial page", src_path);
		goto out;
	}
	if ((dst = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		r = cl_errf(err, CL_EIO, "cannot create '%s': %s", dst_path,
		    strerror(errno));
		goto out;
	}
	for (off = 0; off < st.st_size; off += STORE_PAGE_SIZE) {
		uint32_t pgno = (uint32_t)(off / STORE_PAGE_SIZE) + 1;

		if (pread(src, page, STORE_PAGE_SIZE, off) != STORE_PAGE_SIZE) {
			r = cl_errf(err, CL_EIO, "cannot read '%s'", src_path);
			goto out;
		}
		if (store_page_open(old_key, old_id, pgno, STORE_KIND_DB, page,
		    page) != 0) {
			r = cl_errf(err, CL_ECRYPTO, "store tampered with or "
			    "damaged: page %u of the database failed "
			    "authentication", pgno);
			goto out;
		}
		store_page_seal(new_key, new_id, pgno, STORE_KIND_DB, page,
		    page);
		if (pwrite(dst, page, STORE_PAGE_SIZE, off) != STORE_PAGE_SIZE) {
			r = cl_errf(err, CL_EIO, "cannot write '%s': %s",
			    dst_path, strerror(errno));
			goto out;
		}
		if (off == st.st_size / 2 / STORE_PAGE_SIZE * STORE_PAGE_SIZE)
			kill_point(1);
	}
	if (fsync(dst) == -1) {
		r = cl_errf(err, CL_EIO, "cannot sync '%s': %s", dst_path,
		    strerror(errno));
		goto out;
	}
	r = CL_OK;
out:
	if (src != -1)
		close(src);
	if (dst != -1)
		close(dst);
	if (page != NULL) {
		sodium_memzero(page, STORE_PAGE_SIZE);
		cl_free(page);
	}
	cl_free(src_path);
	cl_free(dst_path);
	return r;
}

int
store_rotate(const char *dir, const char *pass, size_t pass_len,
    struct cl_err *err)
{
	struct store_secrets *sec = NULL, *nsec = NULL;
	uint8_t *old_pk = NULL, *new_pk = NULL;
	struct store_keyfile kf, nkf;
	struct store *s = NULL;
	int r;

	if (pass == NULL) {
		r = cl_errf(err, CL_EAUTH, "rotation needs the passphrase");
		goto out;
	}
	/* Open and close once: recovers a crash, checkpoints the WAL. */
	if ((r = store_open(dir, pass, pass_len, NULL, &s, err)) != CL_OK)
		goto out;
	store_close(s);
	s = NULL;
	if (exists_in(dir, DB_NAME "-wal") || exists_in(dir, DB_NAME
	    "-journal")) {
		r = cl_errf(err, CL_EEXIST, "store is in use (a WAL or journal "
		    "remains); close other cloister sessions first");
		goto out;
	}
	if ((r = unwrap_dir(dir, pass, pass_len, &kf, &sec, err)) != CL_OK ||
	    (r = secrets_new(&nsec, err)) != CL_OK)
		goto out;
	/* Same passphrase, KEK and seed; new data key and file id. */
	nkf = kf;
	memcpy(nsec, sec, sizeof(*nsec));
	randombytes_buf(nsec->data_key, sizeof(nsec->data_key));
	randombytes_buf(nkf.file_id, sizeof(nkf.file_id));
	store_keyfile_build(&nkf, nsec);
	if ((old_pk = sodium_malloc(STORE_KEY_BYTES)) == NULL ||
	    (new_pk = sodium_malloc(STORE_KEY_BYTES)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	store_page_key(old_pk, sec->data_key);
	store_page_key(new_pk, nsec->data_key);
	if ((r = reencrypt(dir, old_pk, kf.file_id, new_pk, nkf.file_id,
	    err)) != CL_OK)
		goto out;
	kill_point(2);
	if ((r = store_write_atomic(dir, KEY_NEW, nkf.raw, STORE_KEYFILE_SIZE,
	    err)) != CL_OK)
		goto out;
	kill_point(3);
	/* The commit point. */
	if ((r = store_write_atomic(dir, ROTATE_NAME, ROTATE_MAGIC,
	    sizeof(ROTATE_MAGIC) - 1, err)) != CL_OK)
		goto out;
	kill_point(4);
	if ((r = rename_in(dir, DB_NEW, DB_NAME, err)) != CL_OK)
		goto out;
	kill_point(5);
	if ((r = rename_in(dir, KEY_NEW, KEY_NAME, err)) != CL_OK)
		goto out;
	kill_point(6);
	if ((r = store_fsync_dir(dir, err)) != CL_OK)
		goto out;
	unlink_in(dir, ROTATE_NAME);
	r = store_fsync_dir(dir, err);
	kill_point(7);
out:
	if (r != CL_OK && !exists_in(dir, ROTATE_NAME)) {
		unlink_in(dir, DB_NEW);
		unlink_in(dir, KEY_NEW);
	}
	sodium_free(sec);
	sodium_free(nsec);
	sodium_free(old_pk);
	sodium_free(new_pk);
	sodium_memzero(&kf, sizeof(kf));
	sodium_memzero(&nkf, sizeof(nkf));
	return r;
}

/* ---- 7. check ---------------------------------------------------------- */

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

struct checker {
	const uint8_t	*key;		/* page key */
	const uint8_t	*file_id;
	uint8_t		*page;		/* one frame of scratch */
	uint64_t	 n_pages;	/* authenticated so far */
};

static int
check_db(struct checker *c, const char *path, struct cl_err *err)
{
	struct stat st;
	off_t off;
	int fd, r = CL_OK;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return cl_errf(err, errno == ENOENT ? CL_ENOTFOUND : CL_EIO,
		    "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		r = cl_errf(err, CL_EIO, "cannot stat '%s'", path);
		goto out;
	}
	for (off = 0; off < st.st_size; off += STORE_PAGE_SIZE) {
		uint32_t pgno = (uint32_t)(off / STORE_PAGE_SIZE) + 1;

		if (pread(fd, c->page, STORE_PAGE_SIZE, off) != STORE_PAGE_SIZE) {
			r = cl_errf(err, CL_ECRYPTO, "store damaged: page %u of "
			    "the database is cut short", pgno);
			goto out;
		}
		if (store_page_open(c->key, c->file_id, pgno, STORE_KIND_DB,
		    c->page, c->page) != 0) {
			r = cl_errf(err, CL_ECRYPTO, "store tampered with or "
			    "damaged: page %u of the database failed "
			    "authentication", pgno);
			goto out;
		}
		c->n_pages++;
	}
out:
	close(fd);
	return r;
}

/* The records a hot journal would play back, header by header. */
static int
check_journal(struct checker *c, const char *path, struct cl_err *err)
{
	static const uint8_t magic[8] = {
	    0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7 };
	uint8_t hdr[28], b[4];
	uint32_t n_rec, sector, pgsz, k, pgno;
	uint64_t h = 0, recs, roff, rec_size = STORE_PAGE_SIZE + 8;
	struct stat st;
	int fd, r = CL_OK;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? CL_OK : cl_errf(err, CL_EIO,
		    "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		r = cl_errf(err, CL_EIO, "cannot stat '%s'", path);
		goto out;
	}
	while (h + sizeof(hdr) <= (uint64_t)st.st_size) {
		if (pread(fd, hdr, sizeof(hdr), (off_t)h) != sizeof(hdr) ||
		    memcmp(hdr, magic, 8) != 0)
			break;
		n_rec = be32(hdr + 8);
		sector = be32(hdr + 20);
		pgsz = be32(hdr + 24);
		if (pgsz != STORE_PAGE_SIZE || sector < 32 || sector > 65536 ||
		    (sector & (sector - 1)) != 0) {
			r = cl_errf(err, CL_ECRYPTO, "store damaged: journal "
			    "header at offset %llu is malformed",
			    (unsigned long long)h);
			goto out;
		}
		recs = h + sector;
		if (n_rec == 0xffffffffu)
			n_rec = recs < (uint64_t)st.st_size ? (uint32_t)(
			    ((uint64_t)st.st_size - recs) / rec_size) : 0;
		/*
		 * nRec 0: a segment not yet synced, whose records a hot
		 * journal does not play back; SQLite then reads the next
		 * header, and so do we.
		 */
		for (k = 0; k < n_rec; k++) {
			roff = recs + (uint64_t)k * rec_size;
			if (roff + rec_size > (uint64_t)st.st_size)
				break;
			if (pread(fd, b, 4, (off_t)roff) != 4 ||
			    pread(fd, c->page, STORE_PAGE_SIZE,
			    (off_t)roff + 4) != STORE_PAGE_SIZE) {
				r = cl_errf(err, CL_EIO, "cannot read '%s'",
				    path);
				goto out;
			}
			pgno = be32(b);
			if (store_page_open(c->key, c->file_id, pgno,
			    STORE_KIND_JOURNAL, c->page, c->page) != 0) {
				r = cl_errf(err, CL_ECRYPTO, "store tampered "
				    "with or damaged: journal record %u (page "
				    "%u) failed authentication", k, pgno);
				goto out;
			}
			c->n_pages++;
		}
		h = (recs + (uint64_t)n_rec * rec_size + sector - 1) /
		    sector * sector;
	}
out:
	close(fd);
	return r;
}

static int
pread_fn(void *ctx, void *p, size_t n, uint64_t off)
{
	ssize_t k;

	k = pread(*(int *)ctx, p, n, (off_t)off);
	return k == (ssize_t)n ? 0 : k < 0 ? -1 : 1;
}

/*
 * The WAL, read as SQLite's recovery reads it (see wal.c): frames whose
 * salts match the header's, whose images authenticate and whose
 * checksums chain.  The first frame that does not ends the log.  If it
 * failed authentication and the log would have gone on from it to a
 * commit, it was altered inside the committed log: tampering.  Otherwise
 * it is what a crash leaves (a torn or uncommitted tail, frames of an
 * older generation) and SQLite ignores it, as does the check.
 */
static int
check_wal(struct checker *c, const char *path, struct cl_err *err)
{
	uint8_t hdr[STORE_WAL_HDR], *fh = c->page;
	struct store_wal_hdr h;
	uint32_t sum[2];
	uint64_t i, off;
	int fd, k, r = CL_OK;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? CL_OK : cl_errf(err, CL_EIO,
		    "cannot open '%s': %s", path, strerror(errno));
	if ((k = pread_fn(&fd, hdr, sizeof(hdr), 0)) != 0) {
		if (k < 0)
			r = cl_errf(err, CL_EIO, "cannot read '%s': %s", path,
			    strerror(errno));
		goto out;			/* empty: nothing committed */
	}
	if (!store_wal_hdr_parse(hdr, &h))
		goto out;			/* SQLite ignores it too */
	sum[0] = h.cksum[0];
	sum[1] = h.cksum[1];
	for (i = 0; ; i++) {
		off = STORE_WAL_HDR + i * (uint64_t)STORE_WAL_FRAME;
		if ((k = pread_fn(&fd, fh, STORE_WAL_FRAME, off)) != 0) {
			if (k < 0)
				r = cl_errf(err, CL_EIO, "cannot read '%s': %s",
				    path, strerror(errno));
			break;			/* end of the file */
		}
		if (memcmp(fh + 8, h.salt, sizeof(h.salt)) != 0)
			break;			/* an older generation */
		if (store_page_open(c->key, c->file_id, be32(fh),
		    STORE_KIND_WAL, fh + STORE_WAL_FRAME_HDR,
		    fh + STORE_WAL_FRAME_HDR) != 0) {
			k = store_wal_commit_follows(&h, c->key, c->file_id, i,
			    fh, pread_fn, &fd, c->page);
			if (k < 0)
				r = cl_errf(err, CL_EIO, "cannot read '%s': %s",
				    path, strerror(errno));
			else if (k > 0)
				r = cl_errf(err, CL_ECRYPTO, "store tampered "
				    "with or damaged: WAL frame %llu failed "
				    "authentication inside the committed log",
				    (unsigned long long)i + 1);
			break;
		}
		if (!store_wal_frame_chains(&h, fh, fh + STORE_WAL_FRAME_HDR,
		    sum))
			break;			/* where SQLite ends the log */
		c->n_pages++;
	}
out:
	close(fd);
	return r;
}

int
store_check(const char *dir, const char *pass, size_t pass_len,
    uint64_t *n_pages, struct cl_err *err)
{
	struct store_secrets *sec = NULL;
	struct checker c = { NULL, NULL, NULL, 0 };
	struct store_options opt = STORE_OPTIONS_INIT;
	struct store_keyfile kf;
	sqlite3_stmt *st = NULL;
	struct store *s = NULL;
	uint8_t *pk = NULL;
	char *path = NULL;
	const char *res;
	int r;

	if (n_pages != NULL)
		*n_pages = 0;
	if ((r = unwrap_dir(dir, pass, pass_len, &kf, &sec, err)) != CL_OK)
		goto out;
	if ((pk = sodium_malloc(STORE_KEY_BYTES)) == NULL ||
	    (c.page = cl_malloc(STORE_WAL_FRAME)) == NULL ||
	    (path = cl_malloc(strlen(dir) + 32)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	store_page_key(pk, sec->data_key);
	c.key = pk;
	c.file_id = kf.file_id;
	sprintf(path, "%s/%s", dir, DB_NAME);
	if ((r = check_db(&c, path, err)) != CL_OK)
		goto out;
	sprintf(path, "%s/%s-journal", dir, DB_NAME);
	if ((r = check_journal(&c, path, err)) != CL_OK)
		goto out;
	sprintf(path, "%s/%s-wal", dir, DB_NAME);
	if ((r = check_wal(&c, path, err)) != CL_OK)
		goto out;

	/* Now SQLite's own view: open (recovering) and integrity_check. */
	if ((r = store_new(dir, &s, err)) != CL_OK)
		goto out;
	s->kf = kf;
	if ((r = open_db(s, sec->data_key, &opt, false, false, err)) != CL_OK)
		goto out;
	if ((r = store_prepare(s, "PRAGMA integrity_check", &st, err)) !=
	    CL_OK)
		goto out;
	if ((r = store_step(s, st, err)) < 0)
		goto out;
	res = r == 1 ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (res == NULL || strcmp(res, "ok") != 0) {
		r = cl_errf(err, CL_EFORMAT, "integrity check failed: %s",
		    res != NULL ? res : "no answer");
		goto out;
	}
	if (n_pages != NULL)
		*n_pages = c.n_pages;
	r = CL_OK;
out:
	sqlite3_finalize(st);
	store_close(s);
	sodium_free(sec);
	sodium_free(pk);
	cl_free(c.page);
	cl_free(path);
	sodium_memzero(&kf, sizeof(kf));
	return r;
}
