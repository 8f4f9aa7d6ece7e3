/*
 * store.h - cloister's encrypted SQLite store.
 *
 * Owns: the store directory (store.db and its key file store.key), the
 * SQLite VFS shim that encrypts every page of the database, its rollback
 * journal and its WAL with XChaCha20-Poly1305, the key file (Argon2id,
 * wrapped data key, admin key pairs), passphrase change, data-key
 * rotation and the store check.
 *
 * Invariants:
 *  - Every page SQLite writes reaches the disk encrypted under the data
 *    key with a fresh random nonce; the associated data binds it to this
 *    store (a random file id), its page number and its domain: database
 *    pages and WAL images share one (a WAL frame is the next version of
 *    a database page, and checkpoints move it into the database sealed
 *    as it is), journal images have their own.  A page that fails
 *    authentication is never handed to SQLite: the statement fails and
 *    store_* functions report CL_ECRYPTO naming the file and the page.
 *  - After a crash (SIGKILL, at any write) the store opens and holds
 *    exactly its committed transactions.  A WAL frame a crash cut short
 *    or left uncommitted is ignored, as SQLite ignores it; a frame that
 *    fails authentication inside the committed log is tampering and
 *    fails the open (see store/wal.c).
 *  - Temporary files, statement journals and sorter spills stay in memory
 *    (temp_store=MEMORY; the VFS refuses to open them on disk).
 *    Memory-mapped I/O is off.
 *  - The data key and the admin secret keys live in sodium_malloc memory
 *    and are wiped on store_close().
 *
 * Modes (chosen at store_create(), recorded in the key file):
 *  - STORE_MODE_PERSONAL: the passphrase is needed to open the store at
 *    all.  A stolen disk or backup reveals nothing but file sizes.
 *  - STORE_MODE_SHARED: the store opens without a passphrase (the data
 *    key is kept in the key file, so a stolen disk reveals the store's
 *    structure and metadata); the admin passphrase unlocks the admin
 *    secret keys.  What non-admins cannot do is read sealed bodies
 *    (store_seal_to_admin) or forge admin signatures (store_admin_sign).
 *
 * Layering: store depends on util, SQLite and libsodium only.  audit/ and
 * policy/ use it; it never calls them.
 *
 * Rules for other modules running SQL on the store (store_db()):
 *  - Use store_exec()/store_prepare()/store_step(), or the raw handle with
 *    store_sqlite_err() to turn a SQLite failure into a cl_err (it names
 *    the tampered page when there is one).
 *  - Never ATTACH, never change temp_store, mmap_size, journal_mode,
 *    page_size, locking_mode or writable_schema, never VACUUM INTO: an
 *    authorizer on the handle refuses them.
 *  - Name your tables with your module prefix (audit_*, policy_*); the
 *    store owns store_*.
 *  - Not thread-safe: one store object per thread.
 */
#ifndef CLOISTER_STORE_H
#define CLOISTER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "util/util.h"

struct store;

enum store_mode {
	STORE_MODE_PERSONAL = 1,	/* passphrase opens the store */
	STORE_MODE_SHARED = 2		/* opens without; admin unlocks */
};

enum store_journal {
	STORE_JOURNAL_WAL = 0,		/* WAL, synchronous=NORMAL (default) */
	STORE_JOURNAL_ROLLBACK = 1	/* rollback journal, synchronous=FULL */
};

/* Sizes of the admin keys and of what they produce. */
#define STORE_SIGN_PUBLICKEYBYTES	32	/* Ed25519 public key */
#define STORE_SIGN_BYTES		64	/* Ed25519 detached signature */
#define STORE_BOX_PUBLICKEYBYTES	32	/* X25519 public key */
#define STORE_SEAL_OVERHEAD		48	/* crypto_box_SEALBYTES */

/*
 * Options for store_create() and store_open().  Start from
 * STORE_OPTIONS_INIT.  kdf_opslimit/kdf_memlimit of 0 mean the defaults
 * (STORE_KDF_OPSLIMIT/STORE_KDF_MEMLIMIT, under a second on a laptop);
 * they are recorded in the key file and only used when a passphrase is
 * (re)wrapped.  Tests may set them to crypto_pwhash_OPSLIMIT_MIN and
 * crypto_pwhash_MEMLIMIT_MIN (the documented test-only knob); a key file
 * made that way is weak.
 */
struct store_options {
	enum store_mode		mode;		/* store_create() only */
	enum store_journal	journal;	/* how this session journals */
	uint64_t		kdf_opslimit;	/* Argon2id passes, 0 = default */
	uint64_t		kdf_memlimit;	/* Argon2id bytes, 0 = default */
};
#define STORE_OPTIONS_INIT { STORE_MODE_PERSONAL, STORE_JOURNAL_WAL, 0, 0 }

#define STORE_KDF_OPSLIMIT	3ULL			/* Argon2id passes */
#define STORE_KDF_MEMLIMIT	(128ULL << 20)		/* 128 MiB */

/*
 * The default store directory: $XDG_DATA_HOME/cloister, else
 * $HOME/.local/share/cloister.  *out is the path; caller frees with
 * cl_free().  Fails with CL_ENOTFOUND when neither variable is set.
 */
int	store_dir_default(char **out, struct cl_err *err) CL_WUR;

/*
 * Create a new store in `dir` (created with mode 0700 if missing):
 * store.key and store.db.  In personal mode `pass[0..pass_len)` protects
 * everything; in shared mode it is the admin passphrase.  Refuses with
 * CL_EEXIST if either file exists.  On success *out is an open,
 * unlocked store (caller frees with store_close()); on failure *out is
 * NULL and nothing is left behind.  `pass` is borrowed and not kept.
 */
int	store_create(const char *dir, const char *pass, size_t pass_len,
	    const struct store_options *opt, struct store **out,
	    struct cl_err *err) CL_WUR;

/*
 * Open the store in `dir`.  `pass` may be NULL only in shared mode (the
 * store then opens locked: SQL works, admin operations refuse with
 * CL_EAUTH until store_unlock()).  A pending or interrupted rotation is
 * finished or undone first.  The store epoch is incremented.
 * Errors, each with its own code:
 *   CL_ENOTFOUND  key file (or database) missing;
 *   CL_EFORMAT    not a cloister store (bad magic or size);
 *   CL_EUNSUPPORTED key file version too new;
 *   CL_EAUTH      wrong passphrase (or a passphrase is needed);
 *   CL_ECRYPTO    key file or database damaged or tampered with; the
 *                 message names the file and, for the database, the page.
 * On success *out is the store; caller frees with store_close().
 */
int	store_open(const char *dir, const char *pass, size_t pass_len,
	    const struct store_options *opt, struct store **out,
	    struct cl_err *err) CL_WUR;

/*
 * What the key file of the store in `dir` says in clear: its mode and the
 * admin Ed25519 public key, read without opening the database (nothing
 * is written, the epoch does not move) and without a passphrase.  The
 * key file's checksum is checked; the public key itself is only bound to
 * the admin secret key by store_open() with a passphrase or by
 * store_unlock(), so use it as store_open() without a passphrase would
 * (the broker checks the policy seal with it).  CL_ENOTFOUND when there
 * is no store; other errors as store_open().
 */
int	store_peek(const char *dir, enum store_mode *mode,
	    uint8_t sign_pk[STORE_SIGN_PUBLICKEYBYTES], struct cl_err *err)
	    CL_WUR;

/* Close the store and wipe its keys.  store_close(NULL) is a no-op. */
void	store_close(struct store *s);

/*
 * Unlock the admin keys of an open store with the (admin) passphrase.
 * CL_EAUTH on a wrong passphrase; CL_ECRYPTO if the key file's public
 * keys or data key do not match the secret ones (tampering).
 */
int	store_unlock(struct store *s, const char *pass, size_t pass_len,
	    struct cl_err *err) CL_WUR;
/* Wipe the admin secret keys again (the store stays open). */
void	store_lock(struct store *s);
bool	store_is_unlocked(const struct store *s);
enum store_mode store_get_mode(const struct store *s);

/*
 * The SQLite handle.  Borrowed; valid until store_close(s).  Follow the
 * rules at the top of this file.
 */
sqlite3	*store_db(struct store *s);

/*
 * Turn SQLite result `rc` on the store's handle into a cl_err and return
 * the matching CL_E* code (CL_OK for SQLITE_OK/ROW/DONE).  A page that
 * failed authentication becomes CL_ECRYPTO naming the file and page; a
 * full disk or I/O error CL_EIO; SQLITE_CORRUPT CL_ECRYPTO ("damaged").
 * `what` (may be NULL) prefixes the message.
 */
int	store_sqlite_err(struct store *s, int rc, const char *what,
	    struct cl_err *err);

/* Run one or more SQL statements that return no rows we want. */
int	store_exec(struct store *s, const char *sql, struct cl_err *err)
	    CL_WUR;
/*
 * Prepare one statement.  *out is the statement (caller finalizes it
 * with sqlite3_finalize()) or NULL on failure.
 */
int	store_prepare(struct store *s, const char *sql, sqlite3_stmt **out,
	    struct cl_err *err) CL_WUR;
/*
 * Step `st`.  Returns 1 for a row, 0 when done, or a negative CL_E* code
 * with `err` filled.
 */
int	store_step(struct store *s, sqlite3_stmt *st, struct cl_err *err)
	    CL_WUR;

/*
 * The store epoch: a counter kept inside the encrypted database,
 * incremented by every store_open() and by store_epoch_bump().  It never
 * goes down except when someone puts back an older copy of the database
 * (which per-page authentication cannot detect); audit checkpoints record
 * it so `audit verify` can say "this database is older than checkpoint N".
 */
uint64_t store_epoch(const struct store *s);
/* Increment the epoch in its own transaction; *out (may be NULL) gets it. */
int	store_epoch_bump(struct store *s, uint64_t *out, struct cl_err *err)
	    CL_WUR;

/*
 * The admin public keys (both modes).  Borrowed; valid until
 * store_close(s).  Ed25519 for signatures, X25519 for sealing.
 */
const uint8_t *store_admin_sign_public_key(const struct store *s);
const uint8_t *store_admin_box_public_key(const struct store *s);

/*
 * Sign msg[0..len) with the admin Ed25519 key into sig (64 bytes).
 * Needs the store unlocked (CL_EAUTH otherwise).
 */
int	store_admin_sign(struct store *s, const void *msg, size_t len,
	    uint8_t sig[STORE_SIGN_BYTES], struct cl_err *err) CL_WUR;
/* Verify an admin signature with the store's public key. */
bool	store_admin_verify(const struct store *s, const void *msg,
	    size_t len, const uint8_t sig[STORE_SIGN_BYTES]);

/*
 * Seal pt[0..len) to the admin (anonymous sealed box: only the admin
 * secret key opens it).  Works locked.  *out (caller frees with
 * cl_free()) holds len + STORE_SEAL_OVERHEAD bytes.
 */
int	store_seal_to_admin(const struct store *s, const void *pt,
	    size_t len, uint8_t **out, size_t *out_len, struct cl_err *err)
	    CL_WUR;
/*
 * Open a sealed box.  Needs the store unlocked (CL_EAUTH otherwise);
 * CL_ECRYPTO when `ct` was not sealed to this admin or was altered.
 * *out is sodium_malloc memory holding the plaintext, NUL-terminated
 * after *out_len bytes; caller frees with store_secret_free().
 */
int	store_admin_unseal(struct store *s, const void *ct, size_t len,
	    uint8_t **out, size_t *out_len, struct cl_err *err) CL_WUR;
/* Wipe and free memory from store_admin_unseal(); NULL is a no-op. */
void	store_secret_free(void *p);

/*
 * Change the passphrase of the store in `dir`: the data key and admin
 * seed are re-wrapped under a key derived from `new_pass` with a fresh
 * salt, and the key file replaced atomically (write, fsync, rename,
 * fsync directory).  The database is not touched.  CL_EAUTH when
 * `old_pass` is wrong.
 */
int	store_passwd(const char *dir, const char *old_pass,
	    size_t old_len, const char *new_pass, size_t new_len,
	    struct cl_err *err) CL_WUR;

/*
 * Re-encrypt the whole database of the store in `dir` under a new random
 * data key (and a new file id).  Needs the (admin) passphrase.  The store
 * must not be open anywhere (CL_EEXIST "store is in use" if a WAL or a
 * hot journal remains).  Crash-safe: the new database and key file are
 * written beside the old ones and fsynced, then a small rotation record
 * (store.rotate) marks the commit point, then both are renamed into
 * place.  store_open() finishes a rotation whose record exists and
 * discards one whose record does not, so an interrupted rotation leaves
 * the store under the old key or the new one, never neither.
 */
int	store_rotate(const char *dir, const char *pass, size_t pass_len,
	    struct cl_err *err) CL_WUR;

/*
 * Check the store in `dir` without trusting SQLite first: authenticate
 * every page of store.db, of a rollback journal and of the committed
 * part of the WAL, then open it and run PRAGMA integrity_check.
 * `pass` may be NULL in shared mode.  Returns CL_OK, or CL_ECRYPTO with
 * the first bad file and page in `err`, or CL_EFORMAT with the first
 * integrity_check complaint.  `n_pages` (may be NULL) gets the number of
 * pages authenticated.
 */
int	store_check(const char *dir, const char *pass, size_t pass_len,
	    uint64_t *n_pages, struct cl_err *err) CL_WUR;

#endif /* CLOISTER_STORE_H */
