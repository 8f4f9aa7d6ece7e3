/*
 * check_sha256.c - cli/sha256.c: the FIPS 180-4 example digests, every
 * length 0..300 and large random messages fed in random pieces, each
 * compared with libsodium's crypto_hash_sha256, on both paths (SHA-NI
 * where the processor has it, and the libsodium one), and a file hashed
 * through cli_sha256_fd.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/sha256.h"
#include "util/util.h"

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static void
digest(int impl, const uint8_t *p, size_t n, size_t piece, uint8_t out[32])
{
	struct cli_sha256 s;
	size_t off = 0, k;

	cli_sha256_init(&s, impl);
	while (off < n) {
		k = piece == 0 ? 1 + rnd() % 200 : piece;
		if (k > n - off)
			k = n - off;
		cli_sha256_update(&s, p + off, k);
		off += k;
	}
	cli_sha256_final(&s, out);
}

static int
n_impls(int *impls)
{
	int n = 0;

	impls[n++] = CLI_SHA256_PORTABLE;
	if (cli_sha256_has_ni())
		impls[n++] = CLI_SHA256_NI;
	else
		fprintf(stderr, "check_sha256: no SHA-NI here; only the "
		    "libsodium path is exercised\n");
	return n;
}

/* FIPS 180-4 examples (NIST CSRC): "abc", the empty string, 448 bits. */
START_TEST(test_vectors)
{
	static const struct {
		const char *msg, *hex;
	} v[] = {
		{ "abc", "ba7816bf8f01cfea414140de5dae2223"
		    "b00361a396177a9cb410ff61f20015ad" },
		{ "", "e3b0c44298fc1c149afbf4c8996fb924"
		    "27ae41e4649b934ca495991b7852b855" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		    "248d6a61d20638b8e5c026930c3e6039"
		    "a33ce45964ff2167f6ecedd419db06c1" },
	};
	int impls[2], ni = n_impls(impls), i, j;
	uint8_t out[32];
	char hex[65];

	for (j = 0; j < ni; j++)
		for (i = 0; i < 3; i++) {
			digest(impls[j], (const uint8_t *)v[i].msg,
			    strlen(v[i].msg), 0, out);
			sodium_bin2hex(hex, sizeof(hex), out, 32);
			ck_assert_str_eq(hex, v[i].hex);
		}
}
END_TEST

/* Every length 0..300 whole and piecewise; 1 MiB + 37 in random pieces. */
START_TEST(test_against_libsodium)
{
	const size_t big = (1u << 20) + 37;
	uint8_t *m = cl_malloc(big), want[32], got[32];
	int impls[2], ni = n_impls(impls), j;
	size_t n, i;

	ck_assert_ptr_nonnull(m);
	for (i = 0; i < big; i++)
		m[i] = (uint8_t)rnd();
	for (j = 0; j < ni; j++) {
		for (n = 0; n <= 300; n++) {
			crypto_hash_sha256(want, m, n);
			digest(impls[j], m, n, n + 1, got);
			ck_assert_msg(memcmp(want, got, 32) == 0,
			    "impl %d length %zu", impls[j], n);
			digest(impls[j], m, n, 0, got);
			ck_assert_msg(memcmp(want, got, 32) == 0,
			    "impl %d length %zu in pieces", impls[j], n);
		}
		crypto_hash_sha256(want, m, big);
		digest(impls[j], m, big, 0, got);
		ck_assert(memcmp(want, got, 32) == 0);
		digest(impls[j], m, big, 64, got);
		ck_assert(memcmp(want, got, 32) == 0);
		digest(impls[j], m, big, big, got);
		ck_assert(memcmp(want, got, 32) == 0);
	}
	cl_free(m);
}
END_TEST

/* A file of 3 MiB + 5 bytes (more than one read) through the fd. */
START_TEST(test_fd)
{
	const size_t n = (3u << 20) + 5;
	uint8_t *m = cl_malloc(n), want[32], got[32];
	struct cl_err err = CL_ERR_INIT;
	char path[] = "/tmp/check_sha256.XXXXXX";
	size_t i;
	int fd;

	ck_assert_ptr_nonnull(m);
	for (i = 0; i < n; i++)
		m[i] = (uint8_t)rnd();
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(cl_write_all(fd, m, n, &err), CL_OK);
	crypto_hash_sha256(want, m, n);
	ck_assert_int_eq(cli_sha256_fd(fd, got, &err), CL_OK);
	ck_assert(memcmp(want, got, 32) == 0);
	/* The offset is not moved: the write position is still the end. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)n);
	close(fd);
	ck_assert_int_eq(cli_sha256_fd(fd, got, &err), CL_EIO);
	cl_free(m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("sha256");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_against_libsodium);
	tcase_add_test(tc, test_fd);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
