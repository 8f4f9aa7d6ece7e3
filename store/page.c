/*
 * page.c - the page format: XChaCha20-Poly1305 over each page, with the
 * store's file id, the page number and the file kind as associated data.
 * See store_impl.h for the layout.
 */
#include "config.h"

#include <string.h>

#include "store/store_impl.h"

#define AD_BYTES (STORE_FILE_ID_BYTES + 4 + 1)

static void
page_ad(uint8_t ad[AD_BYTES], const uint8_t *file_id, uint32_t pgno,
    enum store_kind kind)
{
	memcpy(ad, file_id, STORE_FILE_ID_BYTES);
	ad[16] = pgno & 0xff;
	ad[17] = (pgno >> 8) & 0xff;
	ad[18] = (pgno >> 16) & 0xff;
	ad[19] = (pgno >> 24) & 0xff;
	ad[20] = (uint8_t)kind;
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
