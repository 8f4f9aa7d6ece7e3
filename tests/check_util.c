/*
 * check_util.c - tests of util/: errors, checked arithmetic, buffers.
 */
#include "util/util.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_errf)
{
	struct cl_err err = CL_ERR_INIT;

	ck_assert_int_eq(cl_errf(&err, CL_EIO, "cannot read '%s'", "x"),
	    CL_EIO);
	ck_assert_int_eq(err.code, CL_EIO);
	ck_assert_str_eq(err.msg, "cannot read 'x'");
	ck_assert_int_eq(cl_err_prefix(&err, "loading %d", 3), CL_EIO);
	ck_assert_str_eq(err.msg, "loading 3: cannot read 'x'");
	ck_assert_int_eq(cl_errf(NULL, CL_EINVAL, "ignored"), CL_EINVAL);
	ck_assert_str_eq(cl_strerror(CL_ECRYPTO), "authentication failed");
	ck_assert_str_eq(cl_strerror(12345), "unknown error");
}
END_TEST

START_TEST(test_checked_math)
{
	size_t s = 7;
	uint64_t u = 9;

	ck_assert(cl_add_size(1, 2, &s) && s == 3);
	ck_assert(!cl_add_size(SIZE_MAX, 1, &s) && s == 3);
	ck_assert(cl_mul_size(1u << 20, 1u << 10, &s) && s == 1u << 30);
	ck_assert(!cl_mul_size(SIZE_MAX / 2 + 1, 2, &s) && s == 1u << 30);
	ck_assert(!cl_mul_u64(UINT64_MAX, 3, &u) && u == 9);
	ck_assert(!cl_add_u64(UINT64_MAX, 1, &u) && u == 9);
	ck_assert(cl_add_u64(UINT64_MAX - 1, 1, &u) && u == UINT64_MAX);
}
END_TEST

START_TEST(test_buf)
{
	struct cl_buf b = CL_BUF_INIT;
	char *p;
	size_t n;
	int i;

	ck_assert_int_eq(cl_buf_puts(&b, "abc"), CL_OK);
	ck_assert_int_eq(cl_buf_printf(&b, "-%d-", 42), CL_OK);
	ck_assert_str_eq(b.data, "abc-42-");
	ck_assert_uint_eq(b.len, 7);
	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(cl_buf_append(&b, "x", 1), CL_OK);
	ck_assert_uint_eq(b.len, 10007);
	ck_assert_uint_eq(strlen(b.data), 10007);
	cl_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(cl_buf_puts(&b, "z"), CL_OK);
	p = cl_buf_steal(&b, &n);
	ck_assert_str_eq(p, "z");
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_null(b.data);
	cl_free(p);
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_alloc_fail)
{
	struct cl_buf b = CL_BUF_INIT;
	void *p;

	cl_alloc_fail_after(1);
	p = cl_malloc(10);
	ck_assert_ptr_nonnull(p);
	cl_free(p);
	ck_assert_ptr_null(cl_malloc(10));
	/* A failed append leaves the buffer unchanged. */
	ck_assert_int_eq(cl_buf_puts(&b, "abc"), CL_ENOMEM);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	cl_alloc_fail_after(-1);
	ck_assert_int_eq(cl_buf_puts(&b, "abc"), CL_OK);
	cl_buf_release(&b);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc;

	tc = tcase_create("errors");
	tcase_add_test(tc, test_errf);
	tcase_add_test(tc, test_checked_math);
	suite_add_tcase(s, tc);
	tc = tcase_create("buffers");
	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_alloc_fail);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
