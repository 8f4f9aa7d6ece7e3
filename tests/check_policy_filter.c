/*
 * check_policy_filter.c - tests of the streaming output filter and the
 * prompt checks: blocked terms, patterns and PII split at every byte
 * boundary (also inside UTF-8 sequences), mixed case, repeats, overlapping
 * patterns, limits and verdicts.  The central assertion: the concatenation
 * of everything released never contains anything blocked, whatever the
 * split, and is never a broken UTF-8 sequence at any moment.
 */
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

/* An independent UTF-8 validity check (RFC 3629 table 3-7). */
static bool
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
		} else if (s[i] >= 0xC2 && s[i] <= 0xDF) {
			if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
				return false;
			i += 2;
		} else if (s[i] >= 0xE0 && s[i] <= 0xEF) {
			if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 ||
			    (s[i + 2] & 0xC0) != 0x80 ||
			    (s[i] == 0xE0 && s[i + 1] < 0xA0) ||
			    (s[i] == 0xED && s[i + 1] > 0x9F))
				return false;
			i += 3;
		} else if (s[i] >= 0xF0 && s[i] <= 0xF4) {
			if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 ||
			    (s[i + 2] & 0xC0) != 0x80 ||
			    (s[i + 3] & 0xC0) != 0x80 ||
			    (s[i] == 0xF0 && s[i + 1] < 0x90) ||
			    (s[i] == 0xF4 && s[i + 1] > 0x8F))
				return false;
			i += 4;
		} else
			return false;
	}
	return true;
}

/* Case-insensitive (ASCII) substring search over bytes. */
static bool
contains_ci(const char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle), i, j;

	for (i = 0; i + m <= n; i++) {
		for (j = 0; j < m; j++)
			if (tolower((unsigned char)hay[i + j]) !=
			    tolower((unsigned char)needle[j]))
				break;
		if (j == m)
			return true;
	}
	return false;
}

static struct policy *
parse(const char *text)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;

	if (policy_parse("test", text, strlen(text), &p, &err) != CL_OK)
		ck_abort_msg("policy does not parse: %s", err.msg);
	return p;
}

/*
 * Run `text` through a filter for `pr`, fed in pieces whose ends are the
 * sorted offsets cuts[0..n_cuts).  Checks UTF-8 validity of what has been
 * released after every call.  Returns the released text (caller frees)
 * and the verdict kind.
 */
static char *
run(const struct policy_profile *pr, const char *text, const size_t *cuts,
    size_t n_cuts, struct policy_verdict *v)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy_filter *f = NULL;
	struct cl_buf out = CL_BUF_INIT;
	size_t len = strlen(text), at = 0, i, end;
	int r;
	char *s;

	ck_assert_int_eq(policy_filter_new(pr, POLICY_UNLIMITED, &f, &err),
	    CL_OK);
	for (i = 0; i <= n_cuts; i++) {
		end = i < n_cuts ? cuts[i] : len;
		if (end < at)
			continue;
		r = policy_filter_feed(f, text + at, end - at, &out, &err);
		ck_assert(r == CL_OK || r == CL_EPOLICY);
		ck_assert(utf8_ok((const unsigned char *)out.data, out.len));
		at = end;
		if (r == CL_EPOLICY)
			break;
	}
	ck_assert_int_eq(policy_filter_finish(f, &out, &err), CL_OK);
	ck_assert(utf8_ok((const unsigned char *)out.data, out.len));
	*v = *policy_filter_verdict(f);
	policy_filter_free(f);
	if (out.data == NULL)
		return cl_strdup("");
	s = cl_buf_steal(&out, NULL);
	return s;
}

/*
 * Every split of `text` into two and three pieces, and into single bytes:
 * the released text must equal `want` (for redact and stop, the result
 * does not depend on the split) and never contain any of `forbidden`.
 */
static void
all_splits(const struct policy_profile *pr, const char *text,
    const char *want, const char *const *forbidden, size_t n_forbidden,
    bool exact)
{
	struct policy_verdict v;
	size_t len = strlen(text), a, b, k, *cuts;
	char *got;

	cuts = cl_calloc(len + 1, sizeof(*cuts));
	ck_assert_ptr_nonnull(cuts);
	for (a = 0; a <= len; a++) {
		for (b = a; b <= len; b++) {
			cuts[0] = a;
			cuts[1] = b;
			got = run(pr, text, cuts, 2, &v);
			for (k = 0; k < n_forbidden; k++)
				ck_assert_msg(!contains_ci(got, strlen(got),
				    forbidden[k]), "split %zu/%zu released "
				    "'%s'", a, b, forbidden[k]);
			if (exact)
				ck_assert_msg(strcmp(got, want) == 0,
				    "split %zu/%zu: got '%s' want '%s'", a, b,
				    got, want);
			else
				ck_assert_msg(strncmp(got, want, strlen(got))
				    == 0, "split %zu/%zu: '%s' is not a "
				    "prefix of '%s'", a, b, got, want);
			cl_free(got);
		}
	}
	for (a = 0; a < len; a++)
		cuts[a] = a + 1;
	got = run(pr, text, cuts, len, &v);
	for (k = 0; k < n_forbidden; k++)
		ck_assert(!contains_ci(got, strlen(got), forbidden[k]));
	if (exact)
		ck_assert_str_eq(got, want);
	cl_free(got);
	cl_free(cuts);
}

START_TEST(test_term_redact_splits)
{
	struct policy *p = parse("[default]\nblock_terms = darn, "
	    "\"bad word\", \xC3\xBCnic\xC3\xB6" "de\non_block = redact\n");
	const struct policy_profile *pr = policy_profile(p, "default");
	static const char *const forb[] = { "darn", "bad word", "bad  word" };

	all_splits(pr, "Oh DaRn, a BAD  Word: darn darn!",
	    "Oh [REDACTED], a [REDACTED]: [REDACTED] [REDACTED]!", forb, 3,
	    true);
	/* Whole words: "darned" stays, "darn." does not. */
	all_splits(pr, "darned darn.", "darned [REDACTED].", forb, 0, true);
	/* Non-ASCII term, folded, split inside the two-byte sequences. */
	all_splits(pr, "x \xC3\x9CNIC\xC3\x96" "DE y",
	    "x [REDACTED] y", forb, 0, true);
	/* A zero-width space inside the term does not hide it. */
	all_splits(pr, "da\xE2\x80\x8Brn!", "[REDACTED]!", forb, 0, true);
	policy_free(p);
}
END_TEST

START_TEST(test_term_stop_and_refuse)
{
	struct policy *p = parse("[default]\nblock_terms = darn\n"
	    "on_block = stop\n[profile r]\non_block = refuse\n"
	    "[profile parts]\nblock_whole_words = no\non_block = redact\n");
	const struct policy_profile *st = policy_profile(p, "default");
	const struct policy_profile *rf = policy_profile(p, "r");
	const struct policy_profile *pa = policy_profile(p, "parts");
	static const char *const forb[] = { "darn", "dar" };
	struct policy_verdict v;
	char *got;

	/* stop: the clean text before it, whatever the split. */
	all_splits(st, "all fine until dArN and more", "all fine until ",
	    forb, 1, true);
	got = run(st, "all fine until darn and more", NULL, 0, &v);
	ck_assert_int_eq(v.kind, POLICY_VERDICT_BLOCK_TERM);
	ck_assert_int_eq(v.action, POLICY_ACTION_STOP);
	ck_assert_int_eq(v.rule, 0);
	ck_assert(v.stopped);
	ck_assert_str_eq(policy_verdict_notice(&v), "[cloister: the answer "
	    "was stopped here because it touched something this profile's "
	    "policy leaves out]");
	cl_free(got);
	/* refuse: at most a prefix of the clean text; in one piece, none. */
	all_splits(rf, "all fine until darn and more", "all fine until ",
	    forb, 1, false);
	got = run(rf, "all fine until darn and more", NULL, 0, &v);
	ck_assert_str_eq(got, "");
	ck_assert_int_eq(v.action, POLICY_ACTION_REFUSE);
	cl_free(got);
	/* Substrings when whole words are off; a partial "dar" at the end
	 * of the answer is released only once the answer has ended. */
	all_splits(pa, "undarnable dar", "un[REDACTED]able dar", forb, 0,
	    true);
	policy_free(p);
}
END_TEST

START_TEST(test_patterns_overlapping)
{
	struct policy *p = parse("[default]\nblock_patterns = \"ab+c\", "
	    "\"b+cd\", \"[0-9]{3}-[0-9]{4}\"\non_block = redact\n"
	    "pattern_window = 16\n");
	const struct policy_profile *pr = policy_profile(p, "default");
	static const char *const forb[] = { "abc", "bcd", "555-0199" };
	struct policy_verdict v;
	regex_t re[3];
	size_t i, k, cuts[64], len;
	char *got;
	const char *text = "xabbbcdx ABBCD call 555-0199 now bcd abc";

	all_splits(pr, text, "x[REDACTED]dx [REDACTED]D call [REDACTED] now "
	    "[REDACTED] [REDACTED]", forb, 3, true);
	/* And no pattern matches anything released, for random splits. */
	ck_assert_int_eq(regcomp(&re[0], "ab+c", REG_EXTENDED | REG_ICASE), 0);
	ck_assert_int_eq(regcomp(&re[1], "b+cd", REG_EXTENDED | REG_ICASE), 0);
	ck_assert_int_eq(regcomp(&re[2], "[0-9]{3}-[0-9]{4}", REG_EXTENDED),
	    0);
	len = strlen(text);
	srand(99);
	for (i = 0; i < 300; i++) {
		cuts[0] = (size_t)rand() % 4;
		for (k = 1; k < 16; k++)
			cuts[k] = cuts[k - 1] + (size_t)rand() % 5;
		for (k = 0; k < 16; k++)
			if (cuts[k] > len)
				cuts[k] = len;
		got = run(pr, text, cuts, 16, &v);
		for (k = 0; k < 3; k++)
			ck_assert(regexec(&re[k], got, 0, NULL, 0) != 0);
		ck_assert_int_eq(v.kind, POLICY_VERDICT_REDACTED);
		ck_assert_uint_eq(v.n_terms_redacted, 5);
		cl_free(got);
	}
	for (k = 0; k < 3; k++)
		regfree(&re[k]);
	policy_free(p);
}
END_TEST

/* Patterns hold back at most pattern_window - 1 bytes. */
START_TEST(test_pattern_window_bound)
{
	struct policy *p = parse("[default]\nblock_patterns = \"zz+q\"\n"
	    "pattern_window = 16\n");
	const struct policy_profile *pr = policy_profile(p, "default");
	struct cl_err err = CL_ERR_INIT;
	struct policy_filter *f = NULL;
	struct cl_buf out = CL_BUF_INIT;
	const char *t = "0123456789abcdefghijklmnopqrstuvwxyz";
	size_t i;

	ck_assert_int_eq(policy_filter_new(pr, POLICY_UNLIMITED, &f, &err),
	    CL_OK);
	for (i = 0; i < strlen(t); i++) {
		ck_assert_int_eq(policy_filter_feed(f, t + i, 1, &out, &err),
		    CL_OK);
		ck_assert_uint_eq(out.len, i + 1 < 15 ? 0 : i + 1 - 15);
	}
	ck_assert_int_eq(policy_filter_finish(f, &out, &err), CL_OK);
	ck_assert_str_eq(out.data, t);
	cl_buf_release(&out);
	policy_filter_free(f);
	policy_free(p);
}
END_TEST

START_TEST(test_pii_splits)
{
	struct policy *p = parse("[default]\nredact = all\n");
	const struct policy_profile *pr = policy_profile(p, "default");
	static const char *const forb[] = {
		"john.smith", "4111", "1111", "0958", "555-0143",
		"3704", "192.0.2", "1985"
	};

	all_splits(pr, "Mail john.smith@example.com or call +44 20 7946 "
	    "0958.", "Mail [EMAIL] or call [PHONE].", forb, 4, true);
	all_splits(pr, "Card 4111 1111 1111 1111, ok", "Card [CARD], ok",
	    forb, 5, true);
	all_splits(pr, "IBAN DE89 3704 0044 0532 0130 00; host 192.0.2.7",
	    "IBAN [IBAN]; host [IP]", forb, 8, true);
	all_splits(pr, "born 12 March 1985 \xC3\xA9t\xC3\xA9",
	    "born [DATE] \xC3\xA9t\xC3\xA9", forb, 8, true);
	policy_free(p);
}
END_TEST

/* Text with nothing to hold back is released at once. */
START_TEST(test_no_holdback_without_rules)
{
	struct policy *p = parse("[default]\n");
	struct cl_err err = CL_ERR_INIT;
	struct policy_filter *f = NULL;
	struct cl_buf out = CL_BUF_INIT;

	ck_assert_int_eq(policy_filter_new(policy_profile(p, "default"),
	    POLICY_UNLIMITED, &f, &err), CL_OK);
	ck_assert_int_eq(policy_filter_feed(f, "hello \xC3", 7, &out, &err),
	    CL_OK);
	ck_assert_str_eq(out.data, "hello ");	/* not the partial é */
	ck_assert_int_eq(policy_filter_feed(f, "\xA9!", 2, &out, &err), CL_OK);
	ck_assert_str_eq(out.data, "hello \xC3\xA9!");
	/* A truncated sequence at the very end is dropped. */
	ck_assert_int_eq(policy_filter_feed(f, "\xE2\x82", 2, &out, &err),
	    CL_OK);
	ck_assert_int_eq(policy_filter_finish(f, &out, &err), CL_OK);
	ck_assert_str_eq(out.data, "hello \xC3\xA9!");
	ck_assert_int_eq(policy_filter_verdict(f)->kind, POLICY_VERDICT_NONE);
	ck_assert_ptr_null(policy_verdict_notice(policy_filter_verdict(f)));
	cl_buf_release(&out);
	policy_filter_free(f);
	policy_free(p);
}
END_TEST

START_TEST(test_limits)
{
	struct policy *p = parse("[default]\nmax_output_chars = 10\n"
	    "[profile t]\nmax_output_tokens = 3\n"
	    "[profile q]\nmax_output_tokens = 10\nblock_terms = darn\n");
	struct cl_err err = CL_ERR_INIT;
	struct policy_filter *f = NULL;
	struct cl_buf out = CL_BUF_INIT;
	struct policy_verdict v;
	char *got;

	got = run(policy_profile(p, "default"), "h\xC3\xA9llo world, and more",
	    NULL, 0, &v);
	ck_assert_str_eq(got, "h\xC3\xA9llo worl");	/* 10 code points */
	ck_assert_int_eq(v.kind, POLICY_VERDICT_OUTPUT_CHARS);
	ck_assert_str_eq(policy_verdict_notice(&v), "[cloister: the answer "
	    "was stopped because it reached this profile's length limit]");
	cl_free(got);

	ck_assert_int_eq(policy_filter_new(policy_profile(p, "t"),
	    POLICY_UNLIMITED, &f, &err), CL_OK);
	ck_assert_int_eq(policy_filter_feed(f, "a", 1, &out, &err), CL_OK);
	ck_assert_int_eq(policy_filter_feed(f, "b", 1, &out, &err), CL_OK);
	ck_assert_int_eq(policy_filter_feed(f, "c", 1, &out, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(policy_filter_feed(f, "d", 1, &out, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(policy_filter_finish(f, &out, &err), CL_OK);
	ck_assert_str_eq(out.data, "abc");
	ck_assert_uint_eq(policy_filter_n_tokens(f), 3);
	ck_assert_uint_eq(policy_filter_n_chars(f), 3);
	ck_assert_int_eq(policy_filter_verdict(f)->kind,
	    POLICY_VERDICT_OUTPUT_TOKENS);
	policy_filter_free(f);
	cl_buf_reset(&out);

	/* The quota budget is tighter than max_output_tokens; the cut
	 * drops a held-back "da" rather than releasing half a term. */
	ck_assert_int_eq(policy_filter_new(policy_profile(p, "q"), 2, &f,
	    &err), CL_OK);
	ck_assert_int_eq(policy_filter_feed(f, "ok ", 3, &out, &err), CL_OK);
	ck_assert_int_eq(policy_filter_feed(f, "da", 2, &out, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(policy_filter_finish(f, &out, &err), CL_OK);
	ck_assert_str_eq(out.data, "ok ");
	ck_assert_int_eq(policy_filter_verdict(f)->kind, POLICY_VERDICT_QUOTA);
	policy_filter_free(f);
	cl_buf_release(&out);
	policy_free(p);
}
END_TEST

/* With an output hook everything is held until finish. */
START_TEST(test_hold_all_for_hook)
{
	struct policy *p = parse("[default]\noutput_hook = /bin/true\n"
	    "redact = email\n");
	struct cl_err err = CL_ERR_INIT;
	struct policy_filter *f = NULL;
	struct cl_buf out = CL_BUF_INIT;

	ck_assert_int_eq(policy_filter_new(policy_profile(p, "default"),
	    POLICY_UNLIMITED, &f, &err), CL_OK);
	ck_assert_int_eq(policy_filter_feed(f, "hi a@example.com ", 17, &out,
	    &err), CL_OK);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(policy_filter_finish(f, &out, &err), CL_OK);
	ck_assert_str_eq(out.data, "hi [EMAIL] ");
	cl_buf_release(&out);
	policy_filter_free(f);
	policy_free(p);
}
END_TEST

START_TEST(test_prompt_checks)
{
	struct policy *p = parse("[default]\nmax_prompt_chars = 20\n"
	    "max_prompt_tokens = 5\nblock_terms = darn\nredact = email\n"
	    "[profile r]\non_block = redact\n");
	const struct policy_profile *d = policy_profile(p, "default");
	struct cl_err err = CL_ERR_INIT;
	struct cl_buf out = CL_BUF_INIT;
	struct policy_verdict v;

	ck_assert_int_eq(policy_check_prompt(d, "mail a@example.com", 18, 4,
	    &out, &v, &err), CL_OK);
	ck_assert_str_eq(out.data, "mail [EMAIL]");
	ck_assert_int_eq(v.kind, POLICY_VERDICT_REDACTED);
	ck_assert(v.prompt);
	cl_buf_reset(&out);
	/* 21 code points, 25 bytes. */
	ck_assert_int_eq(policy_check_prompt(d, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3"
	    "\xA9" "abcdefghijklmnopq", 25, POLICY_UNLIMITED, &out, &v, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(v.kind, POLICY_VERDICT_PROMPT_CHARS);
	ck_assert_str_eq(err.msg, "the prompt has 21 characters, profile "
	    "'default' allows 20");
	ck_assert_int_eq(policy_check_prompt(d, "short", 5, 6, &out, &v, &err),
	    CL_EPOLICY);
	ck_assert_int_eq(v.kind, POLICY_VERDICT_PROMPT_TOKENS);
	ck_assert_int_eq(policy_check_prompt(d, "oh darn", 7, 2, &out, &v,
	    &err), CL_EPOLICY);
	ck_assert_int_eq(v.kind, POLICY_VERDICT_BLOCK_TERM);
	ck_assert_str_eq(err.msg, "the prompt matches block term 0 of "
	    "profile 'default'");	/* never the text itself */
	ck_assert_ptr_nonnull(strstr(policy_verdict_notice(&v), "question"));
	cl_buf_reset(&out);
	ck_assert_int_eq(policy_check_prompt(policy_profile(p, "r"), "oh darn",
	    7, 2, &out, &v, &err), CL_OK);
	ck_assert_str_eq(out.data, "oh [REDACTED]");
	cl_buf_release(&out);
	policy_free(p);
}
END_TEST

/* Allocation failures inside the filter are reported, not crashes. */
START_TEST(test_filter_alloc_failures)
{
	struct policy *p = parse("[default]\nblock_terms = darn\n"
	    "redact = all\non_block = redact\n");
	struct cl_err err = CL_ERR_INIT;
	struct policy_filter *f;
	struct cl_buf out = CL_BUF_INIT;
	long n;
	int r;

	for (n = 0; n < 40; n++) {
		f = NULL;
		cl_alloc_fail_after(n);
		r = policy_filter_new(policy_profile(p, "default"),
		    POLICY_UNLIMITED, &f, &err);
		if (r == CL_OK) {
			r = policy_filter_feed(f, "a darn a@example.com b", 22,
			    &out, &err);
			if (r == CL_OK)
				r = policy_filter_finish(f, &out, &err);
		}
		cl_alloc_fail_after(-1);
		ck_assert(r == CL_OK || r == CL_ENOMEM);
		policy_filter_free(f);
		cl_buf_release(&out);
	}
	policy_free(p);
}
END_TEST

static Suite *
policy_filter_suite(void)
{
	Suite *s = suite_create("policy_filter");
	TCase *tc;

	tc = tcase_create("splits");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_term_redact_splits);
	tcase_add_test(tc, test_term_stop_and_refuse);
	tcase_add_test(tc, test_patterns_overlapping);
	tcase_add_test(tc, test_pattern_window_bound);
	tcase_add_test(tc, test_pii_splits);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_test(tc, test_no_holdback_without_rules);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_hold_all_for_hook);
	tcase_add_test(tc, test_prompt_checks);
	tcase_add_test(tc, test_filter_alloc_failures);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_filter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
