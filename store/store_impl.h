/*
 * store_impl.h - internals of store/ (not for other modules).
 *
 * Divisions: page format and page crypto (page.c), the VFS shim (vfs.c),
 * the key file (keyfile.c), files and directories (fsutil in keyfile.c).
 */
#ifndef CLOISTER_STORE_IMPL_H
#define CLOISTER_STORE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>
#include <sqlite3.h>

#include "util/util.h"

/*
 * Page format.  Every page of every file kind is
 *
 *	[0, usable)		ciphertext of SQLite's usable bytes
 *	[usable, usable+24)	random XChaCha20 nonce, fresh on every write
 *	[usable+24, page)	Poly1305 tag
 *
 * with usable = page - STORE_RESERVE, and associated data
 *	file_id (16) || page number (u32 little-endian) || kind (u8).
 * SQLite is told (header byte 20) to keep STORE_RESERVE bytes at the end
 * of each page for us; the shim hands those bytes to SQLite as zeros.
 */
#define STORE_PAGE_SIZE		4096
#define STORE_NONCE_BYTES	24
#define STORE_TAG_BYTES		16
#define STORE_RESERVE		(STORE_NONCE_BYTES + STORE_TAG_BYTES)
#define STORE_USABLE		(STORE_PAGE_SIZE - STORE_RESERVE)
#define STORE_FILE_ID_BYTES	16
#define STORE_KEY_BYTES		32
#define STORE_WAL_HDR		32	/* WAL file header */
#define STORE_WAL_FRAME_HDR	24	/* WAL frame header */
#define STORE_WAL_FRAME		(STORE_WAL_FRAME_HDR + STORE_PAGE_SIZE)

enum store_kind {
	STORE_KIND_DB = 0,		/* the main database file */
	STORE_KIND_JOURNAL = 1,		/* page images in the rollback journal */
	STORE_KIND_WAL = 2		/* page images in WAL frames */
};

/* Encrypt one page in[0..STORE_PAGE_SIZE) into out (may equal in). */
void	store_page_seal(const uint8_t *key, const uint8_t *file_id,
	    uint32_t pgno, enum store_kind kind, const uint8_t *in,
	    uint8_t *out);
/*
 * Authenticate and decrypt one page into out (may equal in); the reserved
 * tail of `out` is zeroed.  Returns 0, or -1 (out zeroed) when the page
 * fails authentication.
 */
int	store_page_open(const uint8_t *key, const uint8_t *file_id,
	    uint32_t pgno, enum store_kind kind, const uint8_t *in,
	    uint8_t *out) CL_WUR;
bool	store_is_zero(const uint8_t *p, size_t n);
/* The page-encryption key derived from the data key. */
void	store_page_key(uint8_t out[STORE_KEY_BYTES],
	    const uint8_t data_key[STORE_KEY_BYTES]);

/*
 * The VFS shim.  Each open store registers its own instance (unique
 * name, not the default) carrying its page key and file id, over an
 * inner VFS (the default unix VFS, or the one given to
 * store_vfs_set_inner() by tests to inject faults).
 */
struct store_vfs;

int	store_vfs_new(const uint8_t page_key[STORE_KEY_BYTES],
	    const uint8_t file_id[STORE_FILE_ID_BYTES], struct store_vfs **out,
	    struct cl_err *err) CL_WUR;
void	store_vfs_free(struct store_vfs *v);
const char *store_vfs_name(const struct store_vfs *v);

/* What the last authentication failure was, if any (then cleared). */
struct store_fault {
	enum store_kind	kind;		/* which file */
	uint32_t	pgno;		/* page number (from offset or header) */
	uint64_t	offset;		/* byte offset of the page image */
};
bool	store_vfs_take_fault(struct store_vfs *v, struct store_fault *f);
const char *store_kind_name(enum store_kind kind);

/*
 * Testing hook: the VFS new shims sit on (NULL: the default VFS).  Tests
 * wrap the unix VFS's method tables to inject EIO and short reads.
 */
void	store_vfs_set_inner(sqlite3_vfs *inner);

/*
 * Key file (store.key), version 1, 320 bytes, integers little-endian:
 *
 *	  0   8  magic "CLSTKEY\n"
 *	  8   4  version (1)
 *	 12   4  mode (1 personal, 2 shared)
 *	 16   4  page size (4096)
 *	 20   4  flags (0)
 *	 24  16  file id (associated data of every page)
 *	 40   8  Argon2id opslimit
 *	 48   8  Argon2id memlimit
 *	 56  16  salt
 *	 72  32  admin Ed25519 public key
 *	104  32  admin X25519 public key
 *	136  32  shared mode: the data key in clear; personal: zeros
 *	168  16  check value: BLAKE2b-128 keyed with the KEK over
 *	         "cloister-kek-check" (tells a wrong passphrase from damage)
 *	184  24  nonce
 *	208  80  XChaCha20-Poly1305 under the KEK of data key || admin seed,
 *	         associated data: bytes [0, 184)
 *	288  32  BLAKE2b-256 of bytes [0, 288) (detects damage, not forgery)
 */
#define STORE_KEYFILE_SIZE	320
#define STORE_KEYFILE_VERSION	1
#define STORE_KEYFILE_MAGIC	"CLSTKEY\n"

struct store_keyfile {
	uint32_t	version;
	uint32_t	mode;		/* enum store_mode */
	uint32_t	page_size;	/* bytes */
	uint8_t		file_id[STORE_FILE_ID_BYTES];
	uint64_t	opslimit;	/* Argon2id passes */
	uint64_t	memlimit;	/* Argon2id bytes */
	uint8_t		salt[16];
	uint8_t		sign_pk[32];	/* Ed25519 */
	uint8_t		box_pk[32];	/* X25519 */
	uint8_t		shared_key[32];	/* shared mode data key */
	uint8_t		check[16];
	uint8_t		nonce[24];
	uint8_t		sealed[80];
	uint8_t		raw[STORE_KEYFILE_SIZE];	/* as read */
};

/* Unwrapped secrets; always in sodium_malloc memory. */
struct store_secrets {
	uint8_t		data_key[STORE_KEY_BYTES];
	uint8_t		seed[32];	/* admin seed: both admin key pairs */
	uint8_t		kek[32];	/* key-encryption key (scratch) */
};

/* The admin key pairs derived from the seed. */
struct store_admin_keys {
	uint8_t		sign_pk[32];
	uint8_t		sign_sk[64];
	uint8_t		box_pk[32];
	uint8_t		box_sk[32];
};

int	store_keyfile_read(const char *path, struct store_keyfile *kf,
	    struct cl_err *err) CL_WUR;
/* Derive sec->kek from `pass` with kf's salt and limits. */
int	store_keyfile_kek(const struct store_keyfile *kf, const char *pass,
	    size_t pass_len, struct store_secrets *sec, struct cl_err *err)
	    CL_WUR;
/*
 * Unwrap data key and seed with sec->kek; check the public keys (and in
 * shared mode the clear data key) against them.
 */
int	store_keyfile_unwrap(const struct store_keyfile *kf,
	    struct store_secrets *sec, struct cl_err *err) CL_WUR;
/*
 * Fill kf (and kf->raw) from its fields and sec (data key, seed, kek);
 * mode, file_id, limits and salt must be set by the caller.
 */
void	store_keyfile_build(struct store_keyfile *kf,
	    const struct store_secrets *sec);
void	store_admin_derive(const uint8_t seed[32],
	    struct store_admin_keys *ak);
/* Write bytes to dir/name atomically (tmp, fsync, rename, fsync dir). */
int	store_write_atomic(const char *dir, const char *name,
	    const void *p, size_t n, struct cl_err *err) CL_WUR;
int	store_fsync_dir(const char *dir, struct cl_err *err) CL_WUR;
char	*store_path(const char *dir, const char *name);

/* Testing hook: raise SIGKILL at rotation step `n` (0: never). */
extern int store_test_rotate_kill_at;

#endif /* CLOISTER_STORE_IMPL_H */
