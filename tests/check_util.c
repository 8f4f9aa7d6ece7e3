/*
 * check_util.c - tests of util/: errors, checked arithmetic, buffers,
 * UTF-8, the JSON writer and the JSON reader.
 */
#include "util/util.h"

#include <check.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---------------------------------------------------------------- */
/* UTF-8                                                             */
/* ---------------------------------------------------------------- */

/* Byte strings and whether RFC 3629 calls them well-formed. */
static const struct {
	const char	*s;
	size_t		 n;
	bool		 valid;
} utf8_cases[] = {
	{ "", 0, true },
	{ "abc", 3, true },
	{ "a\0b", 3, true },			/* NUL is a code point */
	{ "\xc2\x80", 2, true },		/* U+0080 */
	{ "\xdf\xbf", 2, true },		/* U+07FF */
	{ "\xe0\xa0\x80", 3, true },		/* U+0800 */
	{ "\xed\x9f\xbf", 3, true },		/* U+D7FF */
	{ "\xee\x80\x80", 3, true },		/* U+E000 */
	{ "\xef\xbf\xbf", 3, true },		/* U+FFFF */
	{ "\xf0\x90\x80\x80", 4, true },	/* U+10000 */
	{ "\xf4\x8f\xbf\xbf", 4, true },	/* U+10FFFF */
	/* Overlong forms. */
	{ "\xc0\x80", 2, false },
	{ "\xc1\xbf", 2, false },
	{ "\xe0\x80\x80", 3, false },
	{ "\xe0\x9f\xbf", 3, false },
	{ "\xf0\x80\x80\x80", 4, false },
	{ "\xf0\x8f\xbf\xbf", 4, false },
	/* UTF-16 surrogates. */
	{ "\xed\xa0\x80", 3, false },		/* U+D800 */
	{ "\xed\xbf\xbf", 3, false },		/* U+DFFF */
	{ "\xed\xa0\xbd\xed\xb8\x80", 6, false },/* CESU-8 pair */
	/* Above U+10FFFF. */
	{ "\xf4\x90\x80\x80", 4, false },	/* U+110000 */
	{ "\xf5\x80\x80\x80", 4, false },
	{ "\xf7\xbf\xbf\xbf", 4, false },
	{ "\xf8\x88\x80\x80\x80", 5, false },	/* old 5-byte form */
	{ "\xfe", 1, false },
	{ "\xff", 1, false },
	/* Truncated and broken sequences. */
	{ "\xc2", 1, false },
	{ "\xe0\xa0", 2, false },
	{ "\xf0\x90\x80", 3, false },
	{ "a\xf0\x90\x80", 4, false },
	{ "\x80", 1, false },			/* lone continuation */
	{ "\xc2\x41", 2, false },
	{ "\xe2\x82\x41", 3, false },
	{ "\xf0\x90\x80\x41", 4, false },
};

START_TEST(test_utf8_valid)
{
	size_t i;

	for (i = 0; i < CL_ARRAY_LEN(utf8_cases); i++)
		ck_assert_msg(cl_utf8_valid(utf8_cases[i].s,
		    utf8_cases[i].n) == utf8_cases[i].valid,
		    "utf8 case %zu", i);
}
END_TEST

START_TEST(test_utf8_decode)
{
	uint32_t cp;

	ck_assert_uint_eq(cl_utf8_decode("A", 1, &cp), 1);
	ck_assert_uint_eq(cp, 0x41);
	ck_assert_uint_eq(cl_utf8_decode("\xc3\xa9x", 3, &cp), 2);
	ck_assert_uint_eq(cp, 0xe9);
	ck_assert_uint_eq(cl_utf8_decode("\xe2\x82\xac", 3, &cp), 3);
	ck_assert_uint_eq(cp, 0x20ac);
	ck_assert_uint_eq(cl_utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
	ck_assert_uint_eq(cp, 0x1f600);
	ck_assert_uint_eq(cl_utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp), 4);
	ck_assert_uint_eq(cp, 0x10ffff);
	/* Invalid or truncated: 0 and U+FFFD. */
	cp = 0;
	ck_assert_uint_eq(cl_utf8_decode("\xf0\x9f\x98", 3, &cp), 0);
	ck_assert_uint_eq(cp, 0xfffd);
	cp = 0;
	ck_assert_uint_eq(cl_utf8_decode("\xf0\x9f\x98\x80", 3, &cp), 0);
	ck_assert_uint_eq(cp, 0xfffd);
	ck_assert_uint_eq(cl_utf8_decode("\xed\xa0\x80", 3, &cp), 0);
	ck_assert_uint_eq(cl_utf8_decode("\xc0\xaf", 2, &cp), 0);
	ck_assert_uint_eq(cl_utf8_decode("\xf4\x90\x80\x80", 4, &cp), 0);
	ck_assert_uint_eq(cl_utf8_decode("", 0, &cp), 0);
}
END_TEST

START_TEST(test_utf8_encode)
{
	static const struct {
		uint32_t	 cp;
		const char	*s;
		size_t		 n;
	} enc[] = {
		{ 0x0, "\0", 1 },
		{ 0x7f, "\x7f", 1 },
		{ 0x80, "\xc2\x80", 2 },
		{ 0x7ff, "\xdf\xbf", 2 },
		{ 0x800, "\xe0\xa0\x80", 3 },
		{ 0xd7ff, "\xed\x9f\xbf", 3 },
		{ 0xe000, "\xee\x80\x80", 3 },
		{ 0xfffd, "\xef\xbf\xbd", 3 },
		{ 0x10000, "\xf0\x90\x80\x80", 4 },
		{ 0x1f600, "\xf0\x9f\x98\x80", 4 },
		{ 0x10ffff, "\xf4\x8f\xbf\xbf", 4 },
		{ 0xd800, "", 0 },
		{ 0xdfff, "", 0 },
		{ 0x110000, "", 0 },
		{ 0xffffffff, "", 0 },
	};
	char b[4];
	size_t i, n, bad;
	uint32_t cp, back;

	for (i = 0; i < CL_ARRAY_LEN(enc); i++) {
		n = cl_utf8_encode(enc[i].cp, b);
		ck_assert_msg(n == enc[i].n, "encode U+%X", enc[i].cp);
		ck_assert(memcmp(b, enc[i].s, n) == 0);
	}
	/*
	 * Every scalar value round-trips; every surrogate is refused.  (One
	 * ck_assert at the end: each ck_assert call costs a pipe write.)
	 */
	for (cp = 0, bad = 0; cp <= 0x10ffff; cp++) {
		n = cl_utf8_encode(cp, b);
		if (cp >= 0xd800 && cp <= 0xdfff) {
			bad += n != 0;
			continue;
		}
		if (n == 0 || !cl_utf8_valid(b, n) ||
		    cl_utf8_decode(b, n, &back) != n || back != cp ||
		    cl_utf8_complete_prefix(b, n) != n ||
		    (n > 1 && cl_utf8_complete_prefix(b, n - 1) != 0))
			bad++;
	}
	ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(test_utf8_complete_prefix)
{
	static const char *chars[] = {
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xf4\x8f\xbf\xbf",
	};
	char s[16];
	size_t i, k, clen;

	/* "ab" then every split of each multi-byte character. */
	for (i = 0; i < CL_ARRAY_LEN(chars); i++) {
		clen = strlen(chars[i]);
		memcpy(s, "ab", 2);
		memcpy(s + 2, chars[i], clen);
		for (k = 0; k <= clen; k++) {
			ck_assert_uint_eq(cl_utf8_complete_prefix(s, 2 + k),
			    k == 0 || k == clen ? 2 + k : 2);
			ck_assert_uint_eq(cl_utf8_complete_prefix(s + 2, k),
			    k == clen ? k : 0);
		}
	}
	ck_assert_uint_eq(cl_utf8_complete_prefix("", 0), 0);
	ck_assert_uint_eq(cl_utf8_complete_prefix("abc", 3), 3);
	/* Tails that can never complete count as complete. */
	ck_assert_uint_eq(cl_utf8_complete_prefix("ab\xff", 3), 3);
	ck_assert_uint_eq(cl_utf8_complete_prefix("ab\x80", 3), 3);
	ck_assert_uint_eq(cl_utf8_complete_prefix("ab\x80\x80\x80\x80", 6),
	    6);
	ck_assert_uint_eq(cl_utf8_complete_prefix("ab\xe0\x80", 4), 4);
	ck_assert_uint_eq(cl_utf8_complete_prefix("ab\xed\xa0", 4), 4);
	ck_assert_uint_eq(cl_utf8_complete_prefix("ab\xf4\x90", 4), 4);
	ck_assert_uint_eq(cl_utf8_complete_prefix("ab\xf0\x9f\x41", 5), 5);
	ck_assert_uint_eq(cl_utf8_complete_prefix("ab\xc0", 3), 3);
}
END_TEST

/* ---------------------------------------------------------------- */
/* JSON writer                                                       */
/* ---------------------------------------------------------------- */

START_TEST(test_json_write_structure)
{
	struct cl_buf b = CL_BUF_INIT;
	struct cl_json_writer w;

	cl_json_init(&w, &b);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "a");
	cl_json_int(&w, 1);
	cl_json_key(&w, "b");
	cl_json_arr_begin(&w);
	cl_json_bool(&w, true);
	cl_json_bool(&w, false);
	cl_json_null(&w);
	cl_json_arr_begin(&w);
	cl_json_arr_end(&w);
	cl_json_obj_begin(&w);
	cl_json_obj_end(&w);
	cl_json_arr_end(&w);
	cl_json_key(&w, "c");
	cl_json_obj_begin(&w);
	cl_json_key(&w, "d");
	cl_json_str(&w, "x");
	cl_json_obj_end(&w);
	cl_json_key(&w, "e");
	cl_json_int(&w, INT64_MIN);
	cl_json_key(&w, "f");
	cl_json_uint(&w, UINT64_MAX);
	cl_json_obj_end(&w);
	ck_assert_int_eq(w.err, CL_OK);
	ck_assert_str_eq(b.data, "{\"a\":1,\"b\":[true,false,null,[],{}],"
	    "\"c\":{\"d\":\"x\"},\"e\":-9223372036854775808,"
	    "\"f\":18446744073709551615}");
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_json_write_strings)
{
	struct cl_buf b = CL_BUF_INIT;
	struct cl_json_writer w;

	cl_json_init(&w, &b);
	cl_json_arr_begin(&w);
	cl_json_str(&w, "q\"b\\s/\n\r\t\b\f\x01\x1f\x7f");
	cl_json_strn(&w, "a\0b", 3);
	cl_json_str(&w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	/* Invalid UTF-8: each bad byte becomes one U+FFFD. */
	cl_json_str(&w, "a\xff" "b\xc0\x80" "c\xed\xa0\x80" "d\xf0\x9f\x98");
	cl_json_str(&w, "");
	cl_json_arr_end(&w);
	ck_assert_int_eq(w.err, CL_OK);
	ck_assert_str_eq(b.data, "["
	    "\"q\\\"b\\\\s/\\n\\r\\t\\u0008\\u000c\\u0001\\u001f\\u007f\","
	    "\"a\\u0000b\","
	    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
	    "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
	    "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
	    "\"\"]");
	ck_assert(cl_utf8_valid(b.data, b.len));
	cl_buf_release(&b);
}
END_TEST

/* Write one number with `fn` and compare the text. */
#define CHECK_NUM(fn, v, want) do {					\
	cl_buf_reset(&b);						\
	cl_json_init(&w, &b);						\
	fn(&w, v);							\
	ck_assert_int_eq(w.err, CL_OK);					\
	ck_assert_str_eq(b.data, want);					\
} while (0)

START_TEST(test_json_write_numbers)
{
	struct cl_buf b = CL_BUF_INIT;
	struct cl_json_writer w;

	CHECK_NUM(cl_json_float, 0.1f, "0.100000001");
	CHECK_NUM(cl_json_float, 1.5f, "1.5");
	CHECK_NUM(cl_json_float, -3.0f, "-3");
	CHECK_NUM(cl_json_float, 16777216.0f, "16777216");
	CHECK_NUM(cl_json_float, 3.40282347e38f, "3.40282347e+38");
	CHECK_NUM(cl_json_float, 1e-45f, "1.40129846e-45");
	CHECK_NUM(cl_json_double, 0.1, "0.10000000000000001");
	CHECK_NUM(cl_json_double, 1e300, "1.0000000000000001e+300");
	CHECK_NUM(cl_json_double, -0.0, "-0");
	CHECK_NUM(cl_json_double, 2.5, "2.5");
	CHECK_NUM(cl_json_double, NAN, "null");
	CHECK_NUM(cl_json_double, INFINITY, "null");
	CHECK_NUM(cl_json_float, -INFINITY, "null");
	CHECK_NUM(cl_json_int, 0, "0");
	CHECK_NUM(cl_json_int, INT64_MAX, "9223372036854775807");
	CHECK_NUM(cl_json_uint, 0, "0");
	/* A locale with a decimal comma must not leak into JSON. */
	if (setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL ||
	    setlocale(LC_NUMERIC, "fr_FR.UTF-8") != NULL) {
		CHECK_NUM(cl_json_double, 2.5, "2.5");
		CHECK_NUM(cl_json_float, 0.1f, "0.100000001");
		setlocale(LC_NUMERIC, "C");
	}
	cl_buf_release(&b);
}
END_TEST

START_TEST(test_json_write_errors)
{
	struct cl_buf b = CL_BUF_INIT;
	struct cl_json_writer w;
	int i;

	/* A key outside an object. */
	cl_json_init(&w, &b);
	cl_json_key(&w, "k");
	ck_assert_int_eq(w.err, CL_EINVAL);
	/* Closing what was never opened; later calls stay no-ops. */
	cl_buf_reset(&b);
	cl_json_init(&w, &b);
	cl_json_arr_end(&w);
	ck_assert_int_eq(w.err, CL_EINVAL);
	cl_json_int(&w, 1);
	ck_assert_int_eq(w.err, CL_EINVAL);
	ck_assert_uint_eq(b.len, 0);
	/* A key with no value. */
	cl_json_init(&w, &b);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "k");
	cl_json_obj_end(&w);
	ck_assert_int_eq(w.err, CL_EINVAL);
	/* Deeper than the writer tracks. */
	cl_buf_reset(&b);
	cl_json_init(&w, &b);
	for (i = 0; i < 31; i++)
		cl_json_arr_begin(&w);
	ck_assert_int_eq(w.err, CL_OK);
	cl_json_arr_begin(&w);
	ck_assert_int_eq(w.err, CL_ELIMIT);
	/* Out of memory is sticky and leaves nothing half-written. */
	cl_buf_release(&b);
	cl_json_init(&w, &b);
	cl_alloc_fail_after(0);
	cl_json_obj_begin(&w);
	cl_alloc_fail_after(-1);
	ck_assert_int_eq(w.err, CL_ENOMEM);
	cl_json_key(&w, "k");
	cl_json_str(&w, "v");
	cl_json_obj_end(&w);
	ck_assert_int_eq(w.err, CL_ENOMEM);
	ck_assert_uint_eq(b.len, 0);
	cl_buf_release(&b);
}
END_TEST

/* ---------------------------------------------------------------- */
/* JSON reader                                                       */
/* ---------------------------------------------------------------- */

/* Parse from an exact-size heap copy, so ASan sees any over-read. */
static int
parse_exact(const char *text, size_t len, struct cl_json **out,
    struct cl_err *err)
{
	char *copy;
	int r;

	copy = malloc(len == 0 ? 1 : len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, text, len);
	r = cl_json_parse(copy, len, out, err);
	free(copy);
	return r;
}

/* Read a file under the source tree's tests/data. */
static char *
load_data(const char *name, size_t *len)
{
	struct cl_err err = CL_ERR_INIT;
	const char *top = getenv("CL_TOP_SRCDIR");
	char path[4096], *text;
	int fd;

	snprintf(path, sizeof(path), "%s/tests/data/%s",
	    top != NULL ? top : ".", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "cannot open '%s'", path);
	ck_assert_int_eq(cl_read_all(fd, 64u << 20, &text, len, &err),
	    CL_OK);
	close(fd);
	return text;
}

START_TEST(test_json_read_values)
{
	static const char doc[] =
	    " {\"n\": null, \"t\": true, \"f\": false,\r\n"
	    "\t\"nums\": [0, -0, 1, -1.5, 1e3, 1.5E-2, 2e+2, 0.1, "
	    "123456789012345678901234567890, 1e-400],\n"
	    "\"s\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC"
	    "\\ud83d\\ude00\xc3\xa9\",\n"
	    "\"\": {\"deep\": [[[]]]}, \"e\": {}} ";
	struct cl_err err = CL_ERR_INIT;
	struct cl_json *j;
	const struct cl_json *v, *nums;

	ck_assert_int_eq(parse_exact(doc, strlen(doc), &j, &err), CL_OK);
	ck_assert_int_eq(j->type, CL_JSON_OBJ);
	ck_assert_uint_eq(j->n, 7);
	ck_assert_str_eq(j->keys[0], "n");
	ck_assert_int_eq(cl_json_get(j, "n")->type, CL_JSON_NULL);
	v = cl_json_get(j, "t");
	ck_assert(v->type == CL_JSON_BOOL && v->b);
	v = cl_json_get(j, "f");
	ck_assert(v->type == CL_JSON_BOOL && !v->b);
	ck_assert_ptr_null(cl_json_get(j, "missing"));
	ck_assert_ptr_null(cl_json_get(cl_json_get(j, "t"), "x"));
	ck_assert_ptr_null(cl_json_at(j, 0));
	nums = cl_json_get(j, "nums");
	ck_assert_int_eq(nums->type, CL_JSON_ARR);
	ck_assert_uint_eq(nums->n, 10);
	ck_assert_ptr_null(cl_json_at(nums, 10));
	ck_assert(cl_json_at(nums, 0)->num == 0.0);
	ck_assert(signbit(cl_json_at(nums, 1)->num));
	ck_assert(cl_json_at(nums, 2)->num == 1.0);
	ck_assert(cl_json_at(nums, 3)->num == -1.5);
	ck_assert(cl_json_at(nums, 4)->num == 1000.0);
	ck_assert(cl_json_at(nums, 5)->num == 0.015);
	ck_assert(cl_json_at(nums, 6)->num == 200.0);
	ck_assert(cl_json_at(nums, 7)->num == 0.1);
	ck_assert(cl_json_at(nums, 8)->num == 1.2345678901234568e29);
	ck_assert(cl_json_at(nums, 9)->num == 0.0);	/* underflow */
	v = cl_json_get(j, "s");
	ck_assert_int_eq(v->type, CL_JSON_STR);
	ck_assert_str_eq(v->str, "\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac"
	    "\xf0\x9f\x98\x80\xc3\xa9");
	ck_assert_uint_eq(v->str_len, strlen(v->str));
	v = cl_json_get(cl_json_get(j, ""), "deep");
	ck_assert_int_eq(v->type, CL_JSON_ARR);
	v = cl_json_at(cl_json_at(v, 0), 0);
	ck_assert(v->type == CL_JSON_ARR && v->n == 0);
	v = cl_json_get(j, "e");
	ck_assert(v->type == CL_JSON_OBJ && v->n == 0);
	cl_json_free(j);
	cl_json_free(NULL);

	/* Scalars at the top level. */
	ck_assert_int_eq(parse_exact("\"x\"", 3, &j, &err), CL_OK);
	ck_assert_str_eq(j->str, "x");
	cl_json_free(j);
	ck_assert_int_eq(parse_exact("-7", 2, &j, &err), CL_OK);
	ck_assert(j->type == CL_JSON_NUM && j->num == -7.0);
	cl_json_free(j);
}
END_TEST

START_TEST(test_json_read_roundtrip)
{
	static const double dv[] = {
		0.1, -2.5e-300, 1.7976931348623157e308, 4.9e-324,
		3.141592653589793, -0.0, 1e21, 123456789.0,
	};
	static const float fv[] = { 0.1f, 1e-45f, 3.40282347e38f, -7.25f };
	static const char *sv[] = {
		"plain", "q\"b\\s/\n\r\t\x01\x1f\x7f",
		"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "",
	};
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf b = CL_BUF_INIT;
	struct cl_json_writer w;
	struct cl_json *j;
	const struct cl_json *a;
	size_t i;

	cl_json_init(&w, &b);
	cl_json_obj_begin(&w);
	cl_json_key(&w, "d");
	cl_json_arr_begin(&w);
	for (i = 0; i < CL_ARRAY_LEN(dv); i++)
		cl_json_double(&w, dv[i]);
	cl_json_arr_end(&w);
	cl_json_key(&w, "f");
	cl_json_arr_begin(&w);
	for (i = 0; i < CL_ARRAY_LEN(fv); i++)
		cl_json_float(&w, fv[i]);
	cl_json_arr_end(&w);
	cl_json_key(&w, "s");
	cl_json_arr_begin(&w);
	for (i = 0; i < CL_ARRAY_LEN(sv); i++)
		cl_json_str(&w, sv[i]);
	cl_json_arr_end(&w);
	cl_json_key(&w, "i");
	cl_json_int(&w, -9007199254740992LL);
	cl_json_obj_end(&w);
	ck_assert_int_eq(w.err, CL_OK);

	ck_assert_int_eq(parse_exact(b.data, b.len, &j, &err), CL_OK);
	a = cl_json_get(j, "d");
	ck_assert_uint_eq(a->n, CL_ARRAY_LEN(dv));
	for (i = 0; i < CL_ARRAY_LEN(dv); i++) {
		ck_assert_msg(cl_json_at(a, i)->num == dv[i], "double %zu", i);
		ck_assert(signbit(cl_json_at(a, i)->num) == signbit(dv[i]));
	}
	a = cl_json_get(j, "f");
	for (i = 0; i < CL_ARRAY_LEN(fv); i++)
		ck_assert_msg((float)cl_json_at(a, i)->num == fv[i],
		    "float %zu", i);
	a = cl_json_get(j, "s");
	for (i = 0; i < CL_ARRAY_LEN(sv); i++)
		ck_assert_str_eq(cl_json_at(a, i)->str, sv[i]);
	ck_assert(cl_json_get(j, "i")->num == -9007199254740992.0);
	cl_json_free(j);
	cl_buf_release(&b);
}
END_TEST

/* Malformed inputs: each must fail with `code` at byte `at`. */
static const struct {
	const char	*text;
	size_t		 len;		/* 0: strlen(text) */
	size_t		 at;
	int		 code;
} bad_json[] = {
	{ "", 0, 0, CL_EFORMAT },			/* empty */
	{ "   ", 0, 3, CL_EFORMAT },			/* only space */
	{ "\"abc", 0, 0, CL_EFORMAT },			/* unterminated */
	{ "\"a\\", 0, 0, CL_EFORMAT },			/* ends in \ */
	{ "\"a\\qb\"", 0, 2, CL_EFORMAT },		/* bad escape */
	{ "\"\\x41\"", 0, 1, CL_EFORMAT },		/* \x escape */
	{ "\"\\u12G4\"", 0, 5, CL_EFORMAT },		/* bad hex */
	{ "\"\\u123\"", 0, 2, CL_EFORMAT },		/* short \u */
	{ "\"\\ud800\"", 0, 1, CL_EFORMAT },		/* lone high */
	{ "\"\\udc00\"", 0, 1, CL_EFORMAT },		/* lone low */
	{ "\"\\ud800\\u0041\"", 0, 7, CL_EFORMAT },	/* high + non-low */
	{ "\"\\ud800\\ud800\"", 0, 7, CL_EFORMAT },	/* high + high */
	{ "\"\\u0000\"", 0, 1, CL_EFORMAT },		/* NUL escape */
	{ "\"a\x01" "b\"", 0, 2, CL_EFORMAT },		/* control char */
	{ "\"a\nb\"", 0, 2, CL_EFORMAT },		/* raw newline */
	{ "\"a\xff" "b\"", 0, 2, CL_EFORMAT },		/* invalid UTF-8 */
	{ "\"\xc0\x80\"", 0, 1, CL_EFORMAT },		/* overlong */
	{ "\"\xed\xa0\x80\"", 0, 1, CL_EFORMAT },	/* raw surrogate */
	{ "\"\xf0\x9f\x98\"", 0, 1, CL_EFORMAT },	/* truncated char */
	{ "01", 0, 1, CL_EFORMAT },			/* leading zero */
	{ "-01", 0, 2, CL_EFORMAT },
	{ "-", 0, 1, CL_EFORMAT },			/* lone minus */
	{ "[-]", 0, 2, CL_EFORMAT },
	{ "-a", 0, 1, CL_EFORMAT },
	{ "1.", 0, 2, CL_EFORMAT },			/* no fraction */
	{ "1.e5", 0, 2, CL_EFORMAT },
	{ "1e", 0, 2, CL_EFORMAT },			/* no exponent */
	{ "1e+", 0, 3, CL_EFORMAT },
	{ ".5", 0, 0, CL_EFORMAT },			/* no int part */
	{ "+1", 0, 0, CL_EFORMAT },			/* plus sign */
	{ "0x10", 0, 1, CL_EFORMAT },			/* hex number */
	{ "1e400", 0, 0, CL_EFORMAT },			/* overflow */
	{ "NaN", 0, 0, CL_EFORMAT },
	{ "Infinity", 0, 0, CL_EFORMAT },
	{ "tru", 0, 0, CL_EFORMAT },			/* short literal */
	{ "True", 0, 0, CL_EFORMAT },
	{ "nul", 0, 0, CL_EFORMAT },
	{ "'a'", 0, 0, CL_EFORMAT },			/* single quotes */
	{ "[1,]", 0, 3, CL_EFORMAT },			/* trailing comma */
	{ "{\"a\":1,}", 0, 7, CL_EFORMAT },
	{ "[,1]", 0, 1, CL_EFORMAT },			/* leading comma */
	{ "[1 2]", 0, 3, CL_EFORMAT },			/* missing comma */
	{ "{\"a\":1 \"b\":2}", 0, 7, CL_EFORMAT },
	{ "[1", 0, 2, CL_EFORMAT },			/* unterminated */
	{ "[", 0, 1, CL_EFORMAT },
	{ "{\"a\":1", 0, 6, CL_EFORMAT },
	{ "{", 0, 1, CL_EFORMAT },
	{ "[1}", 0, 2, CL_EFORMAT },			/* mismatched */
	{ "{a:1}", 0, 1, CL_EFORMAT },			/* unquoted key */
	{ "{1:1}", 0, 1, CL_EFORMAT },			/* number key */
	{ "{\"a\" 1}", 0, 5, CL_EFORMAT },		/* missing colon */
	{ "{\"a\":}", 0, 5, CL_EFORMAT },		/* missing value */
	{ "{\"a\":1,\"a\":2}", 0, 0, CL_EFORMAT },	/* duplicate key */
	{ "[{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,"
	  "\"h\":8,\"i\":9,\"j\":10,\"d\":11}]", 0, 1, CL_EFORMAT },
	{ "1 2", 0, 2, CL_EFORMAT },			/* trailing data */
	{ "{}}", 0, 2, CL_EFORMAT },
	{ "[1]\0", 4, 3, CL_EFORMAT },			/* trailing NUL */
	{ "\xef\xbb\xbf{}", 0, 0, CL_EFORMAT },		/* BOM */
	{ "\x00", 1, 0, CL_EFORMAT },
	{ "[1]\x0b", 0, 3, CL_EFORMAT },		/* not JSON space */
	{ "/* c */ 1", 0, 0, CL_EFORMAT },		/* comment */
};

START_TEST(test_json_read_malformed)
{
	struct cl_err err;
	struct cl_json *j;
	char want[64];
	size_t i, len;
	int r;

	ck_assert_uint_ge(CL_ARRAY_LEN(bad_json), 25);
	for (i = 0; i < CL_ARRAY_LEN(bad_json); i++) {
		memset(&err, 0, sizeof(err));
		j = (struct cl_json *)&err;	/* must be reset to NULL */
		len = bad_json[i].len != 0 ? bad_json[i].len :
		    strlen(bad_json[i].text);
		r = parse_exact(bad_json[i].text, len, &j, &err);
		ck_assert_msg(r == bad_json[i].code, "case %zu: code %d (%s)",
		    i, r, err.msg);
		ck_assert_int_eq(err.code, r);
		ck_assert_ptr_null(j);
		snprintf(want, sizeof(want), "at byte %zu:", bad_json[i].at);
		ck_assert_msg(strstr(err.msg, want) != NULL,
		    "case %zu: want '%s', got '%s'", i, want, err.msg);
	}
}
END_TEST

START_TEST(test_json_read_depth)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_json *j;
	char doc[400];
	int i;

	/* 64 levels are allowed ... */
	for (i = 0; i < 64; i++) {
		doc[i] = '[';
		doc[64 + i] = ']';
	}
	ck_assert_int_eq(parse_exact(doc, 128, &j, &err), CL_OK);
	cl_json_free(j);
	/* ... 65 are not, in arrays or objects. */
	for (i = 0; i < 65; i++) {
		doc[i] = '[';
		doc[65 + i] = ']';
	}
	ck_assert_int_eq(parse_exact(doc, 130, &j, &err), CL_ELIMIT);
	ck_assert_ptr_null(j);
	ck_assert_ptr_nonnull(strstr(err.msg, "at byte 64:"));
	memset(doc, 0, sizeof(doc));
	for (i = 0; i < 64; i++)
		memcpy(doc + 5 * i, "{\"a\":", 5);
	memcpy(doc + 5 * 64, "{}", 2);
	ck_assert_int_eq(parse_exact(doc, 5 * 64 + 2, &j, &err), CL_ELIMIT);
	ck_assert_ptr_nonnull(strstr(err.msg, "at byte 320:"));
	/* Deep hostile input fails fast and without recursion trouble. */
	{
		size_t n = 1u << 20;
		char *big = malloc(n);

		ck_assert_ptr_nonnull(big);
		memset(big, '[', n);
		ck_assert_int_eq(parse_exact(big, n, &j, &err), CL_ELIMIT);
		free(big);
	}
}
END_TEST

START_TEST(test_json_read_manifest)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_json *j;
	const struct cl_json *seq, *tok;
	char *text;
	size_t len;

	text = load_data("synth-tiny-s1.manifest.json", &len);
	ck_assert_int_eq(parse_exact(text, len, &j, &err), CL_OK);
	cl_free(text);
	ck_assert_str_eq(cl_json_get(j, "config")->str,
	    "synth-tiny-s1.config.json");
	ck_assert_uint_eq(cl_json_get(j, "files")->n, 15);
	ck_assert_str_eq(cl_json_at(cl_json_get(j, "files"), 0)->str,
	    "synth-tiny-s1-f32.gguf");
	seq = cl_json_at(cl_json_get(j, "sequences"), 1);
	ck_assert_str_eq(cl_json_get(seq, "name")->str, "plain");
	ck_assert_str_eq(cl_json_get(seq, "text")->str,
	    "The quick brown fox jumps over the lazy dog.");
	tok = cl_json_get(seq, "tokens");
	ck_assert_uint_eq(tok->n, 11);
	ck_assert(cl_json_at(tok, 0)->num == 1);
	ck_assert(cl_json_at(tok, 1)->num == 306);
	ck_assert(cl_json_at(tok, 10)->num == 60);
	seq = cl_json_at(cl_json_get(j, "sequences"), 0);
	ck_assert_str_eq(cl_json_get(seq, "name")->str, "chat");
	ck_assert_uint_eq(cl_json_get(seq, "text")->str_len, 95);
	seq = cl_json_at(cl_json_get(j, "sequences"), 2);
	ck_assert_int_eq(cl_json_get(seq, "text")->type, CL_JSON_NULL);
	cl_json_free(j);
}
END_TEST

START_TEST(test_json_read_big)
{
	struct cl_err err = CL_ERR_INIT;
	struct cl_json *j;
	const struct cl_json *cfg, *logits;
	char *text;
	size_t len;

	text = load_data("synth-tiny-s1-f32.json", &len);
	ck_assert_uint_gt(len, 800000);
	ck_assert_int_eq(parse_exact(text, len, &j, &err), CL_OK);
	cl_free(text);
	cfg = cl_json_get(j, "config");
	ck_assert(cl_json_get(cfg, "n_embd")->num == 256);
	ck_assert(cl_json_get(cfg, "rms_eps")->num == 1e-05);
	ck_assert(cl_json_get(cfg, "rope_base")->num == 1000000.0);
	ck_assert_int_eq(cl_json_get(cfg, "untied_output")->type,
	    CL_JSON_BOOL);
	logits = cl_json_get(cl_json_get(cl_json_at(cl_json_get(j,
	    "sequences"), 1), "exact"), "logits");
	ck_assert_uint_eq(logits->n, 11);
	ck_assert_uint_eq(cl_json_at(logits, 0)->n, 1024);
	ck_assert(cl_json_at(cl_json_at(logits, 0), 0)->num == -1.676313);
	ck_assert(cl_json_at(cl_json_at(logits, 0), 1)->num == 3.506655);
	cl_json_free(j);
}
END_TEST

/*
 * Fail every allocation in turn (the 0th, 1st, ...) until the parse
 * succeeds: each failure must be CL_ENOMEM with *out NULL; ASan's leak
 * checker proves the partial trees were freed.
 */
START_TEST(test_json_read_alloc_fail)
{
	static const char doc[] =
	    "{\"a\":[1,2,3,4,5,6,7,8,9,[[\"x\\u00e9\"]],{}],"
	    "\"long\":1.00000000000000000000000000000000000000000000000000"
	    "000000000000000001,"
	    "\"b\":{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,"
	    "\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9},\"s\":\"\\ud83d\\ude00\"}";
	struct cl_err err;
	struct cl_json *j;
	long n;
	int r;

	for (n = 0; n < 10000; n++) {
		memset(&err, 0, sizeof(err));
		cl_alloc_fail_after(n);
		r = cl_json_parse(doc, sizeof(doc) - 1, &j, &err);
		cl_alloc_fail_after(-1);
		if (r == CL_OK)
			break;
		ck_assert_msg(r == CL_ENOMEM, "n=%ld: %d %s", n, r, err.msg);
		ck_assert_ptr_null(j);
	}
	ck_assert_int_eq(r, CL_OK);
	ck_assert_int_gt(n, 10);
	ck_assert(cl_json_get(j, "long")->num == 1.0);
	ck_assert_uint_eq(cl_json_get(j, "b")->n, 10);
	cl_json_free(j);
}
END_TEST

static int
cmp_int_r(const void *a, const void *b, void *arg)
{
	int x = *(const int *)a, y = *(const int *)b;

	(*(int *)arg)++;
	return x < y ? -1 : x > y;
}

/* cl_sort sorts; the result is checked against counting, not qsort. */
START_TEST(test_sort)
{
	static int v[5000];
	int counts[100] = { 0 }, calls = 0, i, k, n;
	unsigned s = 7;

	for (n = 0; n < 5000; n = n ? n * 3 : 1) {
		memset(counts, 0, sizeof(counts));
		for (i = 0; i < n; i++) {
			s = s * 1103515245u + 12345u;
			v[i] = (int)((s >> 16) % 100);
			counts[v[i]]++;
		}
		cl_sort(v, (size_t)n, sizeof(v[0]), cmp_int_r, &calls);
		for (i = 1; i < n; i++)
			ck_assert_int_le(v[i - 1], v[i]);
		for (i = 0, k = 0; k < 100; k++) {
			while (counts[k]-- > 0)
				ck_assert_int_eq(v[i++], k);
		}
	}
	ck_assert_int_gt(calls, 0);
	cl_sort(v, 0, sizeof(v[0]), cmp_int_r, &calls);	/* no-op */
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
	tcase_add_test(tc, test_sort);
	tcase_add_test(tc, test_alloc_fail);
	suite_add_tcase(s, tc);
	tc = tcase_create("utf8");
	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_utf8_decode);
	tcase_add_test(tc, test_utf8_encode);
	tcase_add_test(tc, test_utf8_complete_prefix);
	suite_add_tcase(s, tc);
	tc = tcase_create("json_write");
	tcase_add_test(tc, test_json_write_structure);
	tcase_add_test(tc, test_json_write_strings);
	tcase_add_test(tc, test_json_write_numbers);
	tcase_add_test(tc, test_json_write_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("json_read");
	tcase_add_test(tc, test_json_read_values);
	tcase_add_test(tc, test_json_read_roundtrip);
	tcase_add_test(tc, test_json_read_malformed);
	tcase_add_test(tc, test_json_read_depth);
	tcase_add_test(tc, test_json_read_manifest);
	tcase_add_test(tc, test_json_read_big);
	tcase_add_test(tc, test_json_read_alloc_fail);
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
