/*
 * keyfile.c - the key file (store.key): parse, derive the KEK with
 * Argon2id, unwrap, build; and the small file-system helpers the store
 * needs for atomic replacement.  The format is in store_impl.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_impl.h"

#define OFF_MAGIC	0
#define OFF_VERSION	8
#define OFF_MODE	12
#define OFF_PGSZ	16
#define OFF_FLAGS	20
#define OFF_FILE_ID	24
#define OFF_OPS		40
#define OFF_MEM		48
#define OFF_SALT	56
#define OFF_SIGN_PK	72
#define OFF_BOX_PK	104
#define OFF_SHARED	136
#define OFF_CHECK	168
#define OFF_NONCE	184
#define OFF_SEALED	208
#define OFF_SUM		288

_Static_assert(OFF_SUM + 32 == STORE_KEYFILE_SIZE, "key file layout");
_Static_assert(crypto_pwhash_SALTBYTES == 16, "salt size");
_Static_assert(64 + crypto_aead_xchacha20poly1305_ietf_ABYTES == 80,
    "sealed block size");

/* Upper bounds on KDF parameters read from a (possibly hostile) file. */
#define KDF_OPS_MAX	64ULL
#define KDF_MEM_MAX	(4ULL << 30)

static const char check_msg[] = "cloister-kek-check";

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int
store_keyfile_read(const char *path, struct store_keyfile *kf,
    struct cl_err *err)
{
	uint8_t sum[32], *b = kf->raw;
	char *data = NULL;
	size_t len = 0;
	int fd = -1, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			r = cl_errf(err, CL_ENOTFOUND, "key file missing: '%s'",
			    path);
		else
			r = cl_errf(err, CL_EIO, "cannot open key file '%s': %s",
			    path, strerror(errno));
		goto out;
	}
	if ((r = cl_read_all(fd, 4096, &data, &len, err)) != CL_OK) {
		if (r == CL_ELIMIT)
			r = cl_errf(err, CL_EFORMAT, "not a cloister store: "
			    "'%s' is too big to be a key file", path);
		goto out;
	}
	if (len < 12 || memcmp(data, STORE_KEYFILE_MAGIC, 8) != 0) {
		r = cl_errf(err, CL_EFORMAT, "not a cloister store: '%s' is not "
		    "a cloister key file", path);
		goto out;
	}
	if (get32((uint8_t *)data + OFF_VERSION) > STORE_KEYFILE_VERSION) {
		r = cl_errf(err, CL_EUNSUPPORTED, "key file '%s' has version "
		    "%u, newer than this cloister understands (%u)", path,
		    get32((uint8_t *)data + OFF_VERSION), STORE_KEYFILE_VERSION);
		goto out;
	}
	if (len != STORE_KEYFILE_SIZE) {
		r = cl_errf(err, CL_ECRYPTO, "key file '%s' damaged or tampered "
		    "with: %zu bytes instead of %d", path, len,
		    STORE_KEYFILE_SIZE);
		goto out;
	}
	memcpy(b, data, STORE_KEYFILE_SIZE);
	crypto_generichash(sum, sizeof(sum), b, OFF_SUM, NULL, 0);
	if (sodium_memcmp(sum, b + OFF_SUM, sizeof(sum)) != 0) {
		r = cl_errf(err, CL_ECRYPTO, "key file '%s' damaged or tampered "
		    "with (checksum mismatch)", path);
		goto out;
	}
	kf->version = get32(b + OFF_VERSION);
	kf->mode = get32(b + OFF_MODE);
	kf->page_size = get32(b + OFF_PGSZ);
	kf->opslimit = get64(b + OFF_OPS);
	kf->memlimit = get64(b + OFF_MEM);
	if (kf->version != STORE_KEYFILE_VERSION ||
	    (kf->mode != STORE_MODE_PERSONAL && kf->mode != STORE_MODE_SHARED) ||
	    kf->page_size != STORE_PAGE_SIZE || get32(b + OFF_FLAGS) != 0 ||
	    kf->opslimit < crypto_pwhash_OPSLIMIT_MIN ||
	    kf->opslimit > KDF_OPS_MAX ||
	    kf->memlimit < crypto_pwhash_MEMLIMIT_MIN ||
	    kf->memlimit > KDF_MEM_MAX) {
		r = cl_errf(err, CL_ECRYPTO, "key file '%s' damaged or tampered "
		    "with (bad version, mode, page size or KDF parameters)",
		    path);
		goto out;
	}
	memcpy(kf->file_id, b + OFF_FILE_ID, sizeof(kf->file_id));
	memcpy(kf->salt, b + OFF_SALT, sizeof(kf->salt));
	memcpy(kf->sign_pk, b + OFF_SIGN_PK, sizeof(kf->sign_pk));
	memcpy(kf->box_pk, b + OFF_BOX_PK, sizeof(kf->box_pk));
	memcpy(kf->shared_key, b + OFF_SHARED, sizeof(kf->shared_key));
	memcpy(kf->check, b + OFF_CHECK, sizeof(kf->check));
	memcpy(kf->nonce, b + OFF_NONCE, sizeof(kf->nonce));
	memcpy(kf->sealed, b + OFF_SEALED, sizeof(kf->sealed));
	if (kf->mode == STORE_MODE_PERSONAL &&
	    !store_is_zero(kf->shared_key, sizeof(kf->shared_key))) {
		r = cl_errf(err, CL_ECRYPTO, "key file '%s' damaged or tampered "
		    "with (personal mode with a clear key)", path);
		goto out;
	}
	r = CL_OK;
out:
	if (data != NULL) {
		sodium_memzero(data, len);
		cl_free(data);
	}
	if (fd != -1)
		close(fd);
	return r;
}

int
store_keyfile_kek(const struct store_keyfile *kf, const char *pass,
    size_t pass_len, struct store_secrets *sec, struct cl_err *err)
{
	if (crypto_pwhash(sec->kek, sizeof(sec->kek), pass, pass_len,
	    kf->salt, kf->opslimit, (size_t)kf->memlimit,
	    crypto_pwhash_ALG_ARGON2ID13) != 0)
		return cl_errf(err, CL_ENOMEM, "cannot derive the key from the "
		    "passphrase (Argon2id needs %llu MiB)",
		    (unsigned long long)(kf->memlimit >> 20));
	return CL_OK;
}

static void
kek_check(uint8_t out[16], const uint8_t kek[32])
{
	crypto_generichash(out, 16, (const uint8_t *)check_msg,
	    sizeof(check_msg) - 1, kek, 32);
}

int
store_keyfile_unwrap(const struct store_keyfile *kf,
    struct store_secrets *sec, struct cl_err *err)
{
	struct store_admin_keys *ak = NULL;
	uint8_t check[16], *pt = NULL;
	int r;

	kek_check(check, sec->kek);
	if (sodium_memcmp(check, kf->check, sizeof(check)) != 0) {
		r = cl_errf(err, CL_EAUTH, "wrong passphrase");
		goto out;
	}
	if ((pt = sodium_malloc(64)) == NULL ||
	    (ak = sodium_malloc(sizeof(*ak))) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL,
	    kf->sealed, sizeof(kf->sealed), kf->raw, OFF_NONCE, kf->nonce,
	    sec->kek) != 0) {
		r = cl_errf(err, CL_ECRYPTO, "key file tampered with (the "
		    "passphrase is right but the wrapped keys do not "
		    "authenticate)");
		goto out;
	}
	memcpy(sec->data_key, pt, 32);
	memcpy(sec->seed, pt + 32, 32);
	store_admin_derive(sec->seed, ak);
	if (sodium_memcmp(ak->sign_pk, kf->sign_pk, 32) != 0 ||
	    sodium_memcmp(ak->box_pk, kf->box_pk, 32) != 0) {
		r = cl_errf(err, CL_ECRYPTO, "key file tampered with (admin "
		    "public keys replaced)");
		goto out;
	}
	if (kf->mode == STORE_MODE_SHARED &&
	    sodium_memcmp(sec->data_key, kf->shared_key, 32) != 0) {
		r = cl_errf(err, CL_ECRYPTO, "key file tampered with (shared "
		    "data key replaced)");
		goto out;
	}
	r = CL_OK;
out:
	sodium_free(pt);
	sodium_free(ak);
	sodium_memzero(check, sizeof(check));
	return r;
}

void
store_admin_derive(const uint8_t seed[32], struct store_admin_keys *ak)
{
	uint8_t sub[32];

	/* One seed, two independent key pairs (never the same key twice). */
	crypto_kdf_derive_from_key(sub, sizeof(sub), 1, "cladmin1", seed);
	crypto_sign_seed_keypair(ak->sign_pk, ak->sign_sk, sub);
	crypto_kdf_derive_from_key(sub, sizeof(sub), 2, "cladmin1", seed);
	crypto_box_seed_keypair(ak->box_pk, ak->box_sk, sub);
	sodium_memzero(sub, sizeof(sub));
}

void
store_keyfile_build(struct store_keyfile *kf, const struct store_secrets *sec)
{
	struct store_admin_keys ak;
	uint8_t pt[64], *b = kf->raw;

	store_admin_derive(sec->seed, &ak);
	memcpy(kf->sign_pk, ak.sign_pk, 32);
	memcpy(kf->box_pk, ak.box_pk, 32);
	sodium_memzero(&ak, sizeof(ak));
	kf->version = STORE_KEYFILE_VERSION;
	kf->page_size = STORE_PAGE_SIZE;
	if (kf->mode == STORE_MODE_SHARED)
		memcpy(kf->shared_key, sec->data_key, 32);
	else
		memset(kf->shared_key, 0, 32);
	kek_check(kf->check, sec->kek);
	randombytes_buf(kf->nonce, sizeof(kf->nonce));

	memset(b, 0, STORE_KEYFILE_SIZE);
	memcpy(b + OFF_MAGIC, STORE_KEYFILE_MAGIC, 8);
	put32(b + OFF_VERSION, kf->version);
	put32(b + OFF_MODE, kf->mode);
	put32(b + OFF_PGSZ, kf->page_size);
	put32(b + OFF_FLAGS, 0);
	memcpy(b + OFF_FILE_ID, kf->file_id, 16);
	put64(b + OFF_OPS, kf->opslimit);
	put64(b + OFF_MEM, kf->memlimit);
	memcpy(b + OFF_SALT, kf->salt, 16);
	memcpy(b + OFF_SIGN_PK, kf->sign_pk, 32);
	memcpy(b + OFF_BOX_PK, kf->box_pk, 32);
	memcpy(b + OFF_SHARED, kf->shared_key, 32);
	memcpy(b + OFF_CHECK, kf->check, 16);
	memcpy(b + OFF_NONCE, kf->nonce, 24);
	memcpy(pt, sec->data_key, 32);
	memcpy(pt + 32, sec->seed, 32);
	crypto_aead_xchacha20poly1305_ietf_encrypt(b + OFF_SEALED, NULL, pt,
	    sizeof(pt), b, OFF_NONCE, NULL, kf->nonce, sec->kek);
	sodium_memzero(pt, sizeof(pt));
	memcpy(kf->sealed, b + OFF_SEALED, 80);
	crypto_generichash(b + OFF_SUM, 32, b, OFF_SUM, NULL, 0);
}

char *
store_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p;

	if ((p = cl_malloc(n)) != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int
store_fsync_dir(const char *dir, struct cl_err *err)
{
	int fd, r = CL_OK;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return cl_errf(err, CL_EIO, "cannot open directory '%s': %s",
		    dir, strerror(errno));
	if (fsync(fd) == -1)
		r = cl_errf(err, CL_EIO, "cannot sync directory '%s': %s", dir,
		    strerror(errno));
	close(fd);
	return r;
}

int
store_write_atomic(const char *dir, const char *name, const void *p,
    size_t n, struct cl_err *err)
{
	char *path = NULL, *tmp = NULL;
	size_t tlen;
	int fd = -1, r;

	if ((path = store_path(dir, name)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	tlen = strlen(path) + 5;
	if ((tmp = cl_malloc(tlen)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(tmp, tlen, "%s.tmp", path);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		r = cl_errf(err, CL_EIO, "cannot create '%s': %s", tmp,
		    strerror(errno));
		goto out;
	}
	if ((r = cl_write_all(fd, p, n, err)) != CL_OK)
		goto out;
	if (fsync(fd) == -1) {
		r = cl_errf(err, CL_EIO, "cannot sync '%s': %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		r = cl_errf(err, CL_EIO, "cannot write '%s': %s", tmp,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		r = cl_errf(err, CL_EIO, "cannot rename '%s' to '%s': %s", tmp,
		    path, strerror(errno));
		goto out;
	}
	r = store_fsync_dir(dir, err);
out:
	if (fd != -1) {
		close(fd);
		(void)unlink(tmp);
	}
	cl_free(path);
	cl_free(tmp);
	return r;
}
