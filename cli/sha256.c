/*
 * sha256.c - SHA-256 (FIPS 180-4) with a SHA-NI compression function
 * where the processor has one.  See sha256.h.
 *
 * Where CPUID reports the x86 SHA extensions, the compression function
 * runs on them (sha256rnds2 does two rounds, sha256msg1/msg2 the message
 * schedule; compiled with a target attribute so the rest of the program
 * needs no special flags), with the padding and length encoding of FIPS
 * 180-4 5.1.1 here.  Otherwise libsodium's crypto_hash_sha256 does all
 * of it.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(HAVE_CPUID_H)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1
#endif

#include <sodium.h>

#include "cli/sha256.h"

#define HASH_CHUNK	(1u << 20)	/* bytes read at a time from a file */

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b,
	0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
	0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7,
	0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152,
	0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
	0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
	0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
	0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#ifdef HAVE_SHA_NI
/*
 * FIPS 180-4 6.2.2 on SHA-NI.  The state lives as ABEF and CDGH; each group of 4
 * rounds adds K to 4 schedule words and runs sha256rnds2 twice; words
 * 16..63 come from sha256msg1 (the sigma0 terms), the w[i-7] term and
 * sha256msg2 (the sigma1 terms).
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void
compress_ni(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bll,
	    0x0405060700010203ll);
	__m128i s0, s1, t, abef, cdgh, w[16], m;
	int i;

	t = _mm_shuffle_epi32(_mm_loadu_si128((const void *)h), 0xb1);
	s1 = _mm_shuffle_epi32(_mm_loadu_si128((const void *)(h + 4)), 0x1b);
	s0 = _mm_alignr_epi8(t, s1, 8);			/* ABEF */
	s1 = _mm_blend_epi16(s1, t, 0xf0);		/* CDGH */
	for (; nblocks > 0; nblocks--, p += 64) {
		abef = s0;
		cdgh = s1;
		for (i = 0; i < 16; i++) {
			if (i < 4)
				w[i] = _mm_shuffle_epi8(_mm_loadu_si128(
				    (const void *)(p + 16 * i)), bswap);
			else
				w[i] = _mm_sha256msg2_epu32(_mm_add_epi32(
				    _mm_sha256msg1_epu32(w[i - 4], w[i - 3]),
				    _mm_alignr_epi8(w[i - 1], w[i - 2], 4)),
				    w[i - 1]);
			m = _mm_add_epi32(w[i], _mm_loadu_si128(
			    (const void *)(K + 4 * i)));
			s1 = _mm_sha256rnds2_epu32(s1, s0, m);
			s0 = _mm_sha256rnds2_epu32(s0, s1,
			    _mm_shuffle_epi32(m, 0x0e));
		}
		s0 = _mm_add_epi32(s0, abef);
		s1 = _mm_add_epi32(s1, cdgh);
	}
	t = _mm_shuffle_epi32(s0, 0x1b);		/* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xb1);		/* DCHG */
	_mm_storeu_si128((void *)h, _mm_blend_epi16(t, s1, 0xf0));
	_mm_storeu_si128((void *)(h + 4), _mm_alignr_epi8(s1, t, 8));
}

int
cli_sha256_has_ni(void)
{
	unsigned a, b, c, d, c1;

	if (!__get_cpuid(1, &a, &b, &c1, &d) || __get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	/* SHA (leaf 7 ebx 29), SSE4.1 (leaf 1 ecx 19), SSSE3 (ecx 9). */
	return (b & 1u << 29) != 0 && (c1 & 1u << 19) != 0 &&
	    (c1 & 1u << 9) != 0;
}
#else
int
cli_sha256_has_ni(void)
{
	return 0;
}
#endif

static void
compress(struct cli_sha256 *s, const uint8_t *p, size_t nblocks)
{
#ifdef HAVE_SHA_NI
	compress_ni(s->h, p, nblocks);
#else
	(void)s, (void)p, (void)nblocks;
	CL_BUG("sha256: SHA-NI path without SHA-NI");
#endif
}

void
cli_sha256_init(struct cli_sha256 *s, int impl)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memset(s, 0, sizeof(*s));
	s->ni = impl != CLI_SHA256_PORTABLE && cli_sha256_has_ni();
	if (s->ni)
		memcpy(s->h, iv, sizeof(iv));
	else
		crypto_hash_sha256_init(&s->st);
}

void
cli_sha256_update(struct cli_sha256 *s, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t k;

	if (!s->ni) {
		crypto_hash_sha256_update(&s->st, p, n);
		return;
	}
	s->n_bytes += n;
	if (s->n_buf > 0) {
		k = 64 - s->n_buf < n ? 64 - s->n_buf : n;
		memcpy(s->buf + s->n_buf, p, k);
		s->n_buf += k;
		p += k;
		n -= k;
		if (s->n_buf < 64)
			return;
		compress(s, s->buf, 1);
		s->n_buf = 0;
	}
	if (n >= 64) {
		compress(s, p, n / 64);
		p += n / 64 * 64;
		n %= 64;
	}
	memcpy(s->buf, p, n);
	s->n_buf = n;
}

void
cli_sha256_final(struct cli_sha256 *s, uint8_t out[32])
{
	const uint64_t bits = s->n_bytes * 8;
	int i;

	if (!s->ni) {
		crypto_hash_sha256_final(&s->st, out);
		sodium_memzero(s, sizeof(*s));
		return;
	}
	/* 0x80, zeros to 56 mod 64, the length in bits big-endian. */
	s->buf[s->n_buf++] = 0x80;
	if (s->n_buf > 56) {
		memset(s->buf + s->n_buf, 0, 64 - s->n_buf);
		compress(s, s->buf, 1);
		s->n_buf = 0;
	}
	memset(s->buf + s->n_buf, 0, 56 - s->n_buf);
	for (i = 0; i < 8; i++)
		s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	compress(s, s->buf, 1);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
	memset(s, 0, sizeof(*s));
}

int
cli_sha256_fd(int fd, uint8_t out[32], struct cl_err *err)
{
	struct cli_sha256 s;
	uint8_t *buf;
	off_t off = 0;
	ssize_t n;

	if ((buf = cl_malloc(HASH_CHUNK)) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	cli_sha256_init(&s, CLI_SHA256_AUTO);
	for (;;) {
		n = pread(fd, buf, HASH_CHUNK, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			cl_free(buf);
			return cl_errf(err, CL_EIO, "cannot read the model: %s",
			    strerror(errno));
		}
		if (n == 0)
			break;
		cli_sha256_update(&s, buf, (size_t)n);
		off += n;
	}
	cli_sha256_final(&s, out);
	cl_free(buf);
	return CL_OK;
}
