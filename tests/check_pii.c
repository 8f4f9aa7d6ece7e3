/*
 * check_pii.c - tests of the PII detectors through policy_redact_text():
 * valid samples are replaced by their typed placeholder, invalid ones
 * (failing Luhn, mod-97, SSN structure, octet range, the calendar) are left
 * exactly as they were.
 *
 * Reference samples: the payment networks' published test numbers
 * (4111 1111 1111 1111, 5555 5555 5555 4444, 3782 822463 10005,
 * 6011 1111 1111 1117), the IBAN examples of the ISO 13616 / SWIFT
 * registry (DE89 3704 0044 0532 0130 00, GB82 WEST 1234 5698 7654 32,
 * FR14 2004 1010 0505 0001 3M02 606, NL91 ABNA 0417 1643 00), RFC 5737
 * and RFC 3849 documentation addresses.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

static const struct {
	const char	*in;
	const char	*out;	/* NULL: unchanged */
} samples[] = {
	/* email */
	{ "write to john.smith@example.com today",
	  "write to [EMAIL] today" },
	{ "(a_b+tag@mail.example.co.uk).", "([EMAIL])." },
	{ "mail x@example.org.", "mail [EMAIL]." },
	{ "john@localhost is local", NULL },
	{ "a@b.c is too short", NULL },
	{ "user@-bad.com", NULL },
	{ "@example.com alone", NULL },
	{ "x..y@example.com", "x..[EMAIL]" },
	/* phone */
	{ "call +44 20 7946 0958 now", "call [PHONE] now" },
	{ "call +1 (202) 555-0143.", "call [PHONE]." },
	{ "call (202) 555-0143 or 202-555-0143 or 202.555.0143",
	  "call [PHONE] or [PHONE] or [PHONE]" },
	{ "1-800-555-0199 is free", "[PHONE] is free" },
	{ "123-456-7890 has area 123", NULL },
	{ "+12 34 is short", NULL },
	{ "202-555-0143-99 is longer", NULL },
	/* card */
	{ "card 4111 1111 1111 1111 ok", "card [CARD] ok" },
	{ "card 4111-1111-1111-1111.", "card [CARD]." },
	{ "5555555555554444", "[CARD]" },
	{ "amex 3782 822463 10005", "amex [CARD]" },
	{ "disc 6011 1111 1111 1117", "disc [CARD]" },
	{ "card 4111 1111 1111 1112 fails Luhn", NULL },
	{ "id 41111111111111111111111 too long", NULL },
	{ "pi 3.1415926535897932", NULL },
	/* SSN */
	{ "ssn 123-45-6789.", "ssn [SSN]." },
	{ "ssn 123 45 6789", "ssn [SSN]" },
	{ "000-12-3456", NULL },
	{ "666-12-3456", NULL },
	{ "912-34-5678", NULL },
	{ "123-00-4567", NULL },
	{ "123-45-0000", NULL },
	{ "123-45 6789 mixed", NULL },
	/* IBAN */
	{ "iban DE89 3704 0044 0532 0130 00 ok", "iban [IBAN] ok" },
	{ "DE89370400440532013000", "[IBAN]" },
	{ "GB82 WEST 1234 5698 7654 32", "[IBAN]" },
	{ "FR14 2004 1010 0505 0001 3M02 606", "[IBAN]" },
	{ "nl91abna0417164300", "[IBAN]" },
	{ "DE88 3704 0044 0532 0130 00 fails", NULL },
	{ "GB82 WEST 1234 5698 7654 33", NULL },
	{ "DE89 3704 0044 0532 0130 0 short", NULL },
	{ "DE8937 0400 4405 3201 3000", NULL },
	/* IP */
	{ "host 192.0.2.1 up", "host [IP] up" },
	{ "host 255.255.255.255.", "host [IP]." },
	{ "v6 2001:db8::1 and fe80::1", "v6 [IP] and [IP]" },
	{ "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[IP]" },
	{ "::ffff:192.0.2.128", "[IP]" },
	{ "999.1.1.1 bad", NULL },
	{ "1.2.3 short and 1.2.3.4.5 long", NULL },
	{ "01.02.03.04 zeros", NULL },
	{ "at 10:30 or 10:30:15", NULL },
	{ "1:2:3:4:5:6:7 needs eight", NULL },
	{ "1::2::3 two gaps", NULL },
	/* date */
	{ "born 1985-03-12.", "born [DATE]." },
	{ "born 12/03/1985 or 03/12/1985", "born [DATE] or [DATE]" },
	{ "born 31/12/1999", "born [DATE]" },
	{ "born 29.02.2024", "born [DATE]" },
	{ "born 12 March 1985", "born [DATE]" },
	{ "born 1 Sept 1999 and 3 sep 2001", "born [DATE] and [DATE]" },
	{ "born March 12, 1985", "born [DATE]" },
	{ "2023-02-30 is no date", NULL },
	{ "2023-02-29 neither", NULL },
	{ "13/13/2000 neither", NULL },
	{ "31 April 2001 neither", NULL },
	{ "12 Marchy 1985 neither", NULL },
	{ "1985-3-12 neither", NULL },
	/* plain text */
	{ "The quick brown fox jumps over the lazy dog.", NULL },
	{ "Version 3.14, chapter 12, page 200.", NULL },
	{ "\xC3\xA9t\xC3\xA9 caf\xC3\xA9 na\xC3\xAFve", NULL },
};

START_TEST(test_samples)
{
	struct cl_buf b = CL_BUF_INIT;
	const char *in = samples[_i].in;
	const char *want = samples[_i].out != NULL ? samples[_i].out : in;
	unsigned n = 99;

	ck_assert_int_eq(policy_redact_text(POLICY_PII_ALL, in, strlen(in),
	    &b, &n), CL_OK);
	ck_assert_msg(b.data != NULL && strcmp(b.data, want) == 0,
	    "sample %d: got '%s', want '%s'", _i, b.data ? b.data : "(null)",
	    want);
	if (samples[_i].out == NULL)
		ck_assert_uint_eq(n, 0);
	else
		ck_assert_uint_gt(n, 0);
	cl_buf_release(&b);
}
END_TEST

/* Only the kinds asked for are redacted. */
START_TEST(test_kinds)
{
	struct cl_buf b = CL_BUF_INIT;
	const char *in = "a@example.com 192.0.2.1 123-45-6789";
	unsigned n;

	ck_assert_int_eq(policy_redact_text(POLICY_PII_IP, in, strlen(in),
	    &b, &n), CL_OK);
	ck_assert_str_eq(b.data, "a@example.com [IP] 123-45-6789");
	ck_assert_uint_eq(n, 1);
	cl_buf_reset(&b);
	ck_assert_int_eq(policy_redact_text(POLICY_PII_EMAIL | POLICY_PII_SSN,
	    in, strlen(in), &b, &n), CL_OK);
	ck_assert_str_eq(b.data, "[EMAIL] 192.0.2.1 [SSN]");
	cl_buf_reset(&b);
	ck_assert_int_eq(policy_redact_text(0, in, strlen(in), &b, &n), CL_OK);
	ck_assert_str_eq(b.data, in);
	ck_assert_uint_eq(n, 0);
	cl_buf_release(&b);
	ck_assert_str_eq(policy_pii_placeholder(POLICY_PII_CARD), "[CARD]");
	ck_assert_str_eq(policy_pii_name(POLICY_PII_IBAN), "iban");
}
END_TEST

/* Random bytes never crash a detector and never grow without bound. */
START_TEST(test_random_bytes)
{
	static const char alpha[] = "0123456789 -./:@+()abcDEF,\n";
	struct cl_buf b = CL_BUF_INIT;
	char in[256];
	unsigned seed = 7, n;
	int i, k;

	for (i = 0; i < 2000; i++) {
		for (k = 0; k < (int)sizeof(in); k++)
			in[k] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
		cl_buf_reset(&b);
		ck_assert_int_eq(policy_redact_text(POLICY_PII_ALL, in,
		    sizeof(in), &b, &n), CL_OK);
		ck_assert_uint_le(b.len, sizeof(in) * 3);
	}
	cl_buf_release(&b);
}
END_TEST

static Suite *
pii_suite(void)
{
	Suite *s = suite_create("pii");
	TCase *tc;

	tc = tcase_create("detectors");
	tcase_add_loop_test(tc, test_samples, 0, (int)CL_ARRAY_LEN(samples));
	tcase_add_test(tc, test_kinds);
	tcase_add_test(tc, test_random_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pii_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
