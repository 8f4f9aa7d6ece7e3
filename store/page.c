/*
 * page.c - the page format: XChaCha20-Poly1305 over each page, with the
 * store's file id, the page number and the page's domain (database or
 * journal) as associated data.  See store_impl.h for the layout.
 */
#include "config.h"

#include <string.h>

#include "store/store_impl.h"

#define AD_BYTES (STORE_FILE_ID_BYTES + 4 + 1)

/*
 * The domain byte of the associated data.  A WAL frame holds the next
 * version of a database page, and the checkpoint moves it into the
 * database file as it is (store_page_verify(), no re-encryption), so
 * database pages and WAL images share a domain.  Journal images are old
 * versions kept for rollback and have their own: one cannot stand in for
 * a database page.
 */
static uint8_t
page_domain(enum store_kind kind)
{
	return kind == STORE_KIND_JOURNAL ? 1 : 0;
}

static void
page_ad(uint8_t ad[AD_BYTES], const uint8_t *file_id, uint32_t pgno,
    enum store_kind kind)
{
	memcpy(ad, file_id, STORE_FILE_ID_BYTES);
	ad[16] = pgno & 0xff;
	ad[17] = (pgno >> 8) & 0xff;
	ad[18] = (pgno >> 16) & 0xff;
	ad[19] = (pgno >> 24) & 0xff;
	ad[20] = page_domain(kind);
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void
store_page_seal(const uint8_t *key, const uint8_t *file_id, uint32_t pgno,
    enum store_kind kind, const uint8_t *in, uint8_t *out)
{
	uint8_t ad[AD_BYTES];
	uint8_t *nonce = out + STORE_USABLE;
	uint8_t *tag = nonce + STORE_NONCE_BYTES;

	page_ad(ad, file_id, pgno, kind);
	/* Random nonce on every write: 192 bits make collisions moot. */
	randombytes_buf(nonce, STORE_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out, tag, NULL,
	    in, STORE_USABLE, ad, sizeof(ad), NULL, nonce, key);
}

int
store_page_open(const uint8_t *key, const uint8_t *file_id, uint32_t pgno,
    enum store_kind kind, const uint8_t *in, uint8_t *out)
{
	uint8_t ad[AD_BYTES];
	uint8_t nonce[STORE_NONCE_BYTES], tag[STORE_TAG_BYTES];

	page_ad(ad, file_id, pgno, kind);
	/* Copy nonce and tag out first: `out` may alias `in`. */
	memcpy(nonce, in + STORE_USABLE, sizeof(nonce));
	memcpy(tag, in + STORE_USABLE + STORE_NONCE_BYTES, sizeof(tag));
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL,
	    in, STORE_USABLE, tag, ad, sizeof(ad), nonce, key) != 0) {
		memset(out, 0, STORE_PAGE_SIZE);
		return -1;
	}
	/* SQLite must see the reserve exactly as it wrote it: zeros. */
	memset(out + STORE_USABLE, 0, STORE_RESERVE);
	return 0;
}

/*
 * The tag check of crypto_aead_xchacha20poly1305_ietf_decrypt_detached()
 * without the decryption, from libsodium's documented primitives: the
 * XChaCha20 subkey is HChaCha20(key, nonce[0..16)); the ChaCha20-IETF
 * nonce is four zero bytes and nonce[16..24); the Poly1305 key is the
 * first 32 bytes of keystream block 0; the tag covers
 *	ad || pad16 || ciphertext || pad16 || le64(|ad|) || le64(|ct|)
 * (RFC 8439 section 2.8; draft-irtf-cfrg-xchacha section 2.3).  About a
 * third of the cost of decrypting a page.
 */
int
store_page_verify(const uint8_t *key, const uint8_t *file_id, uint32_t pgno,
    enum store_kind kind, const uint8_t *in)
{
	static const uint8_t pad[16];
	crypto_onetimeauth_poly1305_state st;
	uint8_t ad[AD_BYTES], subkey[crypto_core_hchacha20_OUTPUTBYTES];
	uint8_t npub[crypto_stream_chacha20_ietf_NONCEBYTES], block0[64];
	uint8_t lens[16], mac[STORE_TAG_BYTES];
	const uint8_t *nonce = in + STORE_USABLE;
	const uint8_t *tag = nonce + STORE_NONCE_BYTES;
	int r;

	page_ad(ad, file_id, pgno, kind);
	crypto_core_hchacha20(subkey, nonce, key, NULL);
	memset(npub, 0, 4);
	memcpy(npub + 4, nonce + crypto_core_hchacha20_INPUTBYTES, 8);
	crypto_stream_chacha20_ietf(block0, sizeof(block0), npub, subkey);
	crypto_onetimeauth_poly1305_init(&st, block0);
	crypto_onetimeauth_poly1305_update(&st, ad, sizeof(ad));
	crypto_onetimeauth_poly1305_update(&st, pad, (16 - sizeof(ad) % 16) %
	    16);
	crypto_onetimeauth_poly1305_update(&st, in, STORE_USABLE);
	crypto_onetimeauth_poly1305_update(&st, pad, (16 - STORE_USABLE % 16) %
	    16);
	put_le64(lens, sizeof(ad));
	put_le64(lens + 8, STORE_USABLE);
	crypto_onetimeauth_poly1305_update(&st, lens, sizeof(lens));
	crypto_onetimeauth_poly1305_final(&st, mac);
	r = crypto_verify_16(mac, tag);
	sodium_memzero(subkey, sizeof(subkey));
	sodium_memzero(block0, sizeof(block0));
	sodium_memzero(&st, sizeof(st));
	return r == 0 ? 0 : -1;
}

bool
store_is_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

void
store_page_key(uint8_t out[STORE_KEY_BYTES],
    const uint8_t data_key[STORE_KEY_BYTES])
{
	crypto_kdf_derive_from_key(out, STORE_KEY_BYTES, 1, "clpages1",
	    data_key);
}
