/*
 * sha256.h - SHA-256 of whole model files, fast.
 *
 * The broker hashes the model it hands the engine (policy `models`,
 * audit).  libsodium's portable SHA-256 runs at ~350 MB/s here, ten
 * seconds and more for an 8B model on every ask; where the processor has
 * the SHA extensions (x86-64 SHA-NI: Intel since Goldmont / Ice Lake,
 * AMD since Zen) the compression function runs on them instead, several
 * times faster.  Elsewhere libsodium does the work.  The digest is the
 * same either way (FIPS 180-4); tests/check_sha256.c holds both to
 * libsodium and to the standard's test vectors.
 */
#ifndef CLOISTER_CLI_SHA256_H
#define CLOISTER_CLI_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "util/util.h"

struct cli_sha256 {
	int		ni;		/* SHA-NI path, else libsodium's */
	crypto_hash_sha256_state st;	/* libsodium path */
	uint32_t	h[8];		/* SHA-NI path: */
	uint8_t		buf[64];
	size_t		n_buf;		/* bytes waiting in buf */
	uint64_t	n_bytes;	/* total so far */
};

/* Which implementation cli_sha256_init picks: auto, or force one. */
enum {
	CLI_SHA256_AUTO = 0,
	CLI_SHA256_PORTABLE = 1,	/* libsodium's crypto_hash_sha256 */
	CLI_SHA256_NI = 2		/* SHA-NI; only if cli_sha256_has_ni() */
};

/* Whether this processor runs the SHA-NI path. */
int	cli_sha256_has_ni(void);

/* Start a digest with implementation `impl` (see above). */
void	cli_sha256_init(struct cli_sha256 *s, int impl);
void	cli_sha256_update(struct cli_sha256 *s, const void *p, size_t n);
/* The 32-byte digest; `s` must be initialised again before reuse. */
void	cli_sha256_final(struct cli_sha256 *s, uint8_t out[32]);

/*
 * SHA-256 of the whole file open at fd, read with pread (the offset is
 * not moved).  Errors: CL_EIO (read failed), CL_ENOMEM.
 */
int	cli_sha256_fd(int fd, uint8_t out[32], struct cl_err *err) CL_WUR;

#endif /* CLOISTER_CLI_SHA256_H */
