/*
 * check_policy_parse.c - tests of the policy file parser: every directive,
 * inheritance, malformed inputs with their exact messages, and a
 * randomized mutation test (a mutated policy parses completely or fails
 * with a positioned message, never crashes or half-applies).
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define HASH_A	"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define PIN_H	"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA"

static const char full_policy[] =
    "# family policy\n"
    "[default]\n"
    "max_output_tokens = 512\n"
    "max_output_chars = 4000   # about a page\n"
    "max_prompt_chars = 2000\n"
    "max_prompt_tokens = 1000\n"
    "temperature_max = 1.2\n"
    "top_k_max = 50\n"
    "top_p_max = 0.95\n"
    "min_p_min = 0.05\n"
    "repeat_penalty_min = 1.0\n"
    "repeat_penalty_max = 1.5\n"
    "allowed_hours = mon-fri 15:00-18:00, sat-sun 10:00-12:00, "
    "fri 22:00-01:30\n"
    "daily_token_quota = 20000\n"
    "block_terms = darn, \"heck, no\", \"say \\\"hi\\\"\", \xC3\x9C" "ber  "
    "W\xC3\x96" "RD,\n"
    "    # a comment inside a continued list\n"
    "    \"a # b\"\n"
    "block_whole_words = no\n"
    "block_patterns = \"[0-9]{3}-[0-9]{4}\", \"secret +project\"\n"
    "pattern_window = 128\n"
    "redact = email, phone, card, ssn, iban, ip, date\n"
    "on_block = stop\n"
    "system_prompt = \"You are kind, brief.\\nNo # comments here.\"\n"
    "models = " HASH_A ", " HASH_A "\n"
    "audit = metadata\n"
    "prompt_hook = /usr/local/bin/check-prompt\n"
    "output_hook = /usr/local/bin/check-output\n"
    "hook_timeout = 2.5\n"
    "pin = " PIN_H "\n"
    "\n"
    "[profile kid]\n"
    "max_output_tokens = 200\n"
    "block_terms = none\n"
    "redact = all\n"
    "allowed_hours = always\n"
    "pin = none\n"
    "on_block = refuse\n"
    "system_prompt = Be brief, and kind\n"
    "models = any\n"
    "max_output_chars = none\n"
    "[ profile  teen ]   # spaces are fine\n"
    "top_k_max = none\n"
    "allowed_hours = daily 22:00-00:00\n";

START_TEST(test_every_directive)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;
	const struct policy_profile *d, *k, *t;
	uint8_t h[32] = { 0xca, 0x97, 0x81, 0x12 };
	struct cl_buf b = CL_BUF_INIT;

	ck_assert_int_eq(policy_parse("policy", full_policy,
	    strlen(full_policy), &p, &err), CL_OK);
	ck_assert_int_eq(policy_n_profiles(p), 3);
	d = policy_profile(p, "default");
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_eq(d, policy_profile_at(p, 0));
	ck_assert_uint_eq(d->max_output_tokens, 512);
	ck_assert_uint_eq(d->max_output_chars, 4000);
	ck_assert_uint_eq(d->max_prompt_chars, 2000);
	ck_assert_uint_eq(d->max_prompt_tokens, 1000);
	ck_assert_double_eq(d->temperature_max, 1.2);
	ck_assert_uint_eq(d->top_k_max, 50);
	ck_assert_double_eq(d->top_p_max, 0.95);
	ck_assert_double_eq(d->min_p_min, 0.05);
	ck_assert_double_eq(d->repeat_penalty_min, 1.0);
	ck_assert_double_eq(d->repeat_penalty_max, 1.5);
	ck_assert_uint_eq(d->n_hours, 3);
	ck_assert_uint_eq(d->hours[0].days, 0x3e);	/* mon..fri */
	ck_assert_uint_eq(d->hours[0].start_min, 900);
	ck_assert_uint_eq(d->hours[0].end_min, 1080);
	ck_assert_uint_eq(d->hours[1].days, 0x41);	/* sat, sun */
	ck_assert_uint_eq(d->hours[2].days, 0x20);	/* fri */
	ck_assert_uint_eq(d->hours[2].start_min, 1320);
	ck_assert_uint_eq(d->hours[2].end_min, 90);
	ck_assert_str_eq(d->hours_text, "mon-fri 15:00-18:00, "
	    "sat-sun 10:00-12:00, fri 22:00-01:30");
	ck_assert_uint_eq(d->daily_token_quota, 20000);
	ck_assert_uint_eq(d->n_block_terms, 5);
	ck_assert_str_eq(d->block_terms[0], "darn");
	ck_assert_str_eq(d->block_terms[1], "heck, no");
	ck_assert_str_eq(d->block_terms[2], "say \"hi\"");
	/* Folded, white space collapsed. */
	ck_assert_str_eq(d->block_terms[3], "\xC3\xBC" "ber w\xC3\xB6rd");
	ck_assert_str_eq(d->block_terms[4], "a # b");
	ck_assert(!d->block_whole_words);
	ck_assert_uint_eq(d->n_block_patterns, 2);
	ck_assert_str_eq(d->block_patterns[1], "secret +project");
	ck_assert_uint_eq(d->pattern_window, 128);
	ck_assert_uint_eq(d->redact, POLICY_PII_ALL);
	ck_assert_int_eq(d->on_block, POLICY_ACTION_STOP);
	ck_assert_str_eq(d->system_prompt,
	    "You are kind, brief.\nNo # comments here.");
	ck_assert_uint_eq(d->n_models, 2);
	ck_assert(policy_model_is_allowed(d, d->models[0]));
	ck_assert_uint_eq(d->models[0][0], 0xca);
	ck_assert_uint_eq(d->models[0][31], 0xbb);
	ck_assert(!policy_model_is_allowed(d, h));
	ck_assert_int_eq(d->audit, POLICY_AUDIT_METADATA);
	ck_assert_str_eq(d->prompt_hook, "/usr/local/bin/check-prompt");
	ck_assert_str_eq(d->output_hook, "/usr/local/bin/check-output");
	ck_assert_uint_eq(d->hook_timeout_ms, 2500);
	ck_assert_str_eq(d->pin, PIN_H);

	/* kid inherits default and overrides. */
	k = policy_profile(p, "kid");
	ck_assert_ptr_nonnull(k);
	ck_assert_uint_eq(k->max_output_tokens, 200);
	ck_assert_uint_eq(k->max_prompt_chars, 2000);
	ck_assert_uint_eq(k->max_output_chars, POLICY_UNLIMITED);
	ck_assert_uint_eq(k->n_block_terms, 0);
	ck_assert_uint_eq(k->n_block_patterns, 2);
	ck_assert_uint_eq(k->redact, POLICY_PII_ALL);
	ck_assert_uint_eq(k->n_hours, 0);
	ck_assert_ptr_null(k->hours_text);
	ck_assert_ptr_null(k->pin);
	ck_assert_int_eq(k->on_block, POLICY_ACTION_REFUSE);
	ck_assert_str_eq(k->system_prompt, "Be brief, and kind");
	ck_assert_uint_eq(k->n_models, 0);
	ck_assert(policy_model_is_allowed(k, h));
	ck_assert_uint_eq(k->daily_token_quota, 20000);

	t = policy_profile(p, "teen");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->top_k_max, UINT32_MAX);
	ck_assert_uint_eq(t->hours[0].start_min, 1320);
	ck_assert_uint_eq(t->hours[0].end_min, 1440);
	ck_assert_ptr_null(policy_profile(p, "nobody"));

	ck_assert_int_eq(policy_profile_describe(k, false, &b), CL_OK);
	ck_assert_ptr_nonnull(strstr(b.data, "max_output_tokens    200"));
	ck_assert_ptr_null(strstr(b.data, "darn"));
	cl_buf_reset(&b);
	ck_assert_int_eq(policy_profile_describe(d, true, &b), CL_OK);
	ck_assert_ptr_nonnull(strstr(b.data, "\"darn\""));
	cl_buf_release(&b);
	policy_free(p);
}
END_TEST

START_TEST(test_empty_and_defaults)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;
	const struct policy_profile *d;

	ck_assert_int_eq(policy_parse("policy", "", 0, &p, &err), CL_OK);
	ck_assert_int_eq(policy_n_profiles(p), 1);
	d = policy_profile(p, "default");
	ck_assert_uint_eq(d->max_output_tokens, POLICY_UNLIMITED);
	ck_assert(isinf(d->temperature_max));
	ck_assert(d->block_whole_words);
	ck_assert_int_eq(d->on_block, POLICY_ACTION_REFUSE);
	ck_assert_int_eq(d->audit, POLICY_AUDIT_OFF);
	ck_assert_uint_eq(d->pattern_window, POLICY_WINDOW_DEFAULT);
	ck_assert_uint_eq(d->hook_timeout_ms, POLICY_HOOK_TIMEOUT_DEFAULT);
	policy_free(p);

	/* A profile without [default]; CRLF line ends. */
	ck_assert_int_eq(policy_parse("policy",
	    "[profile a]\r\nmax_output_tokens = 3\r\n", 36, &p, &err), CL_OK);
	ck_assert_uint_eq(policy_profile(p, "a")->max_output_tokens, 3);
	ck_assert_uint_eq(policy_profile(p, "default")->max_output_tokens,
	    POLICY_UNLIMITED);
	policy_free(p);
}
END_TEST

START_TEST(test_sampling_clamp)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;
	const char *t = "[default]\ntemperature_max = 0.8\ntop_k_max = 40\n"
	    "top_p_max = 0.9\nmin_p_min = 0.05\nrepeat_penalty_min = 1.05\n"
	    "repeat_penalty_max = 1.3\n";
	struct policy_sampling s = { 1.5, 0, 1.0, 0.0, 1.0 };
	struct policy_sampling ok = { 0.5, 20, 0.8, 0.1, 1.1 };

	ck_assert_int_eq(policy_parse("p", t, strlen(t), &p, &err), CL_OK);
	ck_assert(policy_sampling_clamp(policy_profile(p, "default"), &s));
	ck_assert_double_eq(s.temperature, 0.8);
	ck_assert_uint_eq(s.top_k, 40);		/* "no top-k" is capped */
	ck_assert_double_eq(s.top_p, 0.9);
	ck_assert_double_eq(s.min_p, 0.05);
	ck_assert_double_eq(s.repeat_penalty, 1.05);
	ck_assert(!policy_sampling_clamp(policy_profile(p, "default"), &ok));
	ck_assert_double_eq(ok.temperature, 0.5);
	s.repeat_penalty = 2.0;
	ck_assert(policy_sampling_clamp(policy_profile(p, "default"), &s));
	ck_assert_double_eq(s.repeat_penalty, 1.3);
	policy_free(p);
}
END_TEST

/* Malformed inputs and the exact message each must produce. */
static const struct {
	const char	*text;
	const char	*msg;
} bad[] = {
	{ "max_output_tokens = 5\n",
	  "policy:1:1: 'max_output_tokens' outside a section (start with "
	  "[default] or [profile NAME])" },
	{ "[default]\nmax_output_tokens = ten\n",
	  "policy:2:21: expected a number after 'max_output_tokens =', found "
	  "'ten'" },
	{ "[default]\n\n\n\n\n\n\n\n\n\n\nmax_output_tokens = ten\n",
	  "policy:12:21: expected a number after 'max_output_tokens =', found "
	  "'ten'" },
	{ "[default]\nmax_output_tokens = 0\n",
	  "policy:2:21: 'max_output_tokens' must be at least 1 (use 'none' "
	  "for no limit)" },
	{ "[default]\nmax_output_tokens = -1\n",
	  "policy:2:21: expected a number after 'max_output_tokens =', found "
	  "'-1'" },
	{ "[default]\nmax_output_tokens = 99999999999999999999\n",
	  "policy:2:21: expected a number after 'max_output_tokens =', found "
	  "'99999999999999999999'" },
	{ "[default]\nmax_output_tokens =\n",
	  "policy:2:20: expected a value, found end of line" },
	{ "[default]\nmax_output_tokens 5\n",
	  "policy:2:19: expected '=' after 'max_output_tokens', found '5'" },
	{ "[default]\nmax_output_tokenz = 5\n",
	  "policy:2:1: unknown key 'max_output_tokenz'" },
	{ "[default]\nMax_output_tokens = 5\n",
	  "policy:2:1: expected a key or a section header, found "
	  "'Max_output_tokens'" },
	{ "[default]\nmax_output_tokens = 5\nmax_output_tokens = 6\n",
	  "policy:3:1: 'max_output_tokens' is set twice in [default]" },
	{ "[profile kid]\nredact = email\nredact = ip\n",
	  "policy:3:1: 'redact' is set twice in [profile kid]" },
	{ "[default]\nmax_output_chars = 5 6\n",
	  "policy:2:20: expected a number after 'max_output_chars =', found "
	  "'5 6'" },
	{ "[default]\ntemperature_max = hot\n",
	  "policy:2:19: expected a decimal number after 'temperature_max =', "
	  "found 'hot'" },
	{ "[default]\ntemperature_max = 11\n",
	  "policy:2:19: 'temperature_max' must be between 0 and 10, found 11" },
	{ "[default]\ntop_p_max = 1.5\n",
	  "policy:2:13: 'top_p_max' must be between 0 and 1, found 1.5" },
	{ "[default]\ntop_p_max = .5\n",
	  "policy:2:13: expected a decimal number after 'top_p_max =', found "
	  "'.5'" },
	{ "[default]\ntop_k_max = 0\n",
	  "policy:2:13: 'top_k_max' must be at least 1 (use 'none' for no "
	  "limit)" },
	{ "[default]\ntop_k_max = 200000\n",
	  "policy:2:13: 'top_k_max' must be between 1 and 100000, found "
	  "'200000'" },
	{ "[default]\nrepeat_penalty_min = 1.4\nrepeat_penalty_max = 1.2\n",
	  "policy:1: profile 'default': repeat_penalty_min is above "
	  "repeat_penalty_max" },
	{ "[default]\nblock_whole_words = maybe\n",
	  "policy:2:21: expected 'yes' or 'no' after 'block_whole_words =', "
	  "found 'maybe'" },
	{ "[default]\non_block = delete\n",
	  "policy:2:12: expected 'refuse', 'stop' or 'redact' after "
	  "'on_block =', found 'delete'" },
	{ "[default]\naudit = everything\n",
	  "policy:2:9: expected 'off', 'metadata' or 'full' after 'audit =', "
	  "found 'everything'" },
	{ "[default]\nredact = email, passport\n",
	  "policy:2:17: unknown kind 'passport' in 'redact' (expected email, "
	  "phone, card, ssn, iban, ip, date, all or none)" },
	{ "[default]\nredact = all, email\n",
	  "policy:2:15: 'all' must be the only value of 'redact'" },
	{ "[default]\nredact = email,\n",
	  "policy:2:15: expected another item after ',' at the end of the "
	  "file" },
	{ "[default]\nredact = email,, ip\n",
	  "policy:2:16: expected a value, found ','" },
	{ "[default]\nblock_terms = \"open\n",
	  "policy:2:15: unterminated quoted string" },
	{ "[default]\nblock_terms = \"a\\qb\"\n",
	  "policy:2:17: unknown escape in quoted string (use \\\" \\\\ \\n or "
	  "\\t)" },
	{ "[default]\nblock_terms = \"a\" b\n",
	  "policy:2:19: expected ',' or end of line after a value of "
	  "'block_terms', found 'b'" },
	{ "[default]\nblock_terms = ab\"c\"\n",
	  "policy:2:17: a value with '\"' must be quoted as a whole" },
	{ "[default]\nblock_terms = \"\"\n",
	  "policy:2:15: empty block term" },
	{ "[default]\nblock_terms = none, darn\n",
	  "policy:2:21: 'none' must be the only value of 'block_terms'" },
	{ "[default]\nblock_patterns = \"(unclosed\"\n",
	  "policy:2:18: bad regular expression: Unmatched ( or \\(" },
	{ "[default]\nblock_patterns = \"a+++\"\n",
	  "policy:2:18: block pattern too complex: two repetition operators "
	  "in a row" },
	{ "[default]\nblock_patterns = \"(a{50}){60}\", \"b{101}\"\n",
	  "policy:2:33: block pattern too complex: a counted repetition "
	  "above 100" },
	{ "[default]\nblock_patterns = \"((((((((((a))))))))))\"\n",
	  "policy:2:18: block pattern too complex: groups nested more than 8 "
	  "deep" },
	{ "[default]\npattern_window = 8\n",
	  "policy:2:18: 'pattern_window' must be between 16 and 1024, found "
	  "'8'" },
	{ "[default]\nallowed_hours = mon-fri 15:00\n",
	  "policy:2:25: expected a time range like 15:00-18:00 in "
	  "allowed_hours, found '15:00'" },
	{ "[default]\nallowed_hours = funday 10:00-11:00\n",
	  "policy:2:17: expected days ('mon', 'mon-fri' or 'daily') in "
	  "allowed_hours, found 'funday'" },
	{ "[default]\nallowed_hours = mon 10:00-25:00\n",
	  "policy:2:21: expected a time range like 15:00-18:00 in "
	  "allowed_hours, found '10:00-25:00'" },
	{ "[default]\nallowed_hours = 10:60-11:00\n",
	  "policy:2:17: expected a time range like 15:00-18:00 in "
	  "allowed_hours, found '10:60-11:00'" },
	{ "[default]\nallowed_hours = 10:00-10:00\n",
	  "policy:2:17: empty time range '10:00-10:00' in allowed_hours" },
	{ "[default]\nallowed_hours = 24:00-10:00\n",
	  "policy:2:17: expected a time range like 15:00-18:00 in "
	  "allowed_hours, found '24:00-10:00'" },
	{ "[default]\nmodels = abc\n",
	  "policy:2:10: expected a SHA-256 hash (64 hex digits) in 'models', "
	  "found 'abc'" },
	{ "[default]\nprompt_hook = hooks/check\n",
	  "policy:2:15: expected an absolute path after 'prompt_hook =', found "
	  "'hooks/check'" },
	{ "[default]\nhook_timeout = 120\n",
	  "policy:2:16: 'hook_timeout' must be between 0.1 and 60, found 120" },
	{ "[default]\npin = 1234\n",
	  "policy:2:7: expected an Argon2id hash ('$argon2id$v=19$m=...', made "
	  "by 'cloister policy set-pin') after 'pin ='" },
	{ "[default]\nsystem_prompt = \"a\\tb\x01\"\n",
	  "policy:2:17: system_prompt holds a control character or invalid "
	  "UTF-8" },
	{ "[defaults]\n",
	  "policy:1:2: expected 'default' or 'profile NAME' in a section "
	  "header, found 'defaults]'" },
	{ "[default\n",
	  "policy:1:9: expected ']', found end of line" },
	{ "[default] x\n",
	  "policy:1:11: expected end of line after the section header, found "
	  "'x'" },
	{ "[profile Kid]\n",
	  "policy:1:10: expected a profile name (a-z, then a-z 0-9 _ -, at "
	  "most 32), found 'Kid]'" },
	{ "[profile default]\n",
	  "policy:1:10: 'default' is not a profile name; write [default]" },
	{ "[profile kid]\n[profile kid]\n",
	  "policy:2:10: profile 'kid' is defined twice" },
	{ "[profile kid]\n[default]\n",
	  "policy:2:2: [default] must come before every [profile] and appear "
	  "once" },
	{ "[default]\nmax_output_tokens = 5\x00\n",
	  "policy:2:22: unexpected NUL byte" },
	{ "[default]\n# caf\xC3\n",
	  "policy:2:6: invalid UTF-8" },
	{ "[default]\nsystem_prompt = \"over\xC0\xAFlong\"\n",
	  "policy:2:22: invalid UTF-8" },
	{ "= 5\n",
	  "policy:1:1: expected a key or a section header, found '='" },
};

START_TEST(test_malformed)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = (struct policy *)&err;
	const char *t = bad[_i].text;
	size_t n = strlen(t);

	/* The NUL case has its length written out. */
	if (strstr(bad[_i].msg, "NUL") != NULL)
		n = strlen(t) + 2;
	ck_assert_int_eq(policy_parse("policy", t, n, &p, &err), CL_EFORMAT);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(err.msg, bad[_i].msg);
}
END_TEST

START_TEST(test_limits)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;
	struct cl_buf b = CL_BUF_INIT;
	int i;

	/* Too many profiles. */
	for (i = 0; i <= POLICY_PROFILES_MAX; i++)
		ck_assert_int_eq(cl_buf_printf(&b, "[profile p%d]\n", i), CL_OK);
	ck_assert_int_eq(policy_parse("policy", b.data, b.len, &p, &err),
	    CL_EFORMAT);
	ck_assert_str_eq(err.msg, "policy:65:1: more than 64 profiles");
	cl_buf_reset(&b);
	/* Too many patterns. */
	ck_assert_int_eq(cl_buf_puts(&b, "[default]\nblock_patterns = a"),
	    CL_OK);
	for (i = 0; i < POLICY_PATTERNS_MAX; i++)
		ck_assert_int_eq(cl_buf_puts(&b, ",\n a"), CL_OK);
	ck_assert_int_eq(policy_parse("policy", b.data, b.len, &p, &err),
	    CL_EFORMAT);
	ck_assert_str_eq(err.msg,
	    "policy:66:2: more than 64 items in 'block_patterns'");
	cl_buf_reset(&b);
	/* A pattern longer than the bound. */
	ck_assert_int_eq(cl_buf_puts(&b, "[default]\nblock_patterns = "),
	    CL_OK);
	for (i = 0; i <= POLICY_PATTERN_MAX; i++)
		ck_assert_int_eq(cl_buf_puts(&b, "a"), CL_OK);
	ck_assert_int_eq(policy_parse("policy", b.data, b.len, &p, &err),
	    CL_EFORMAT);
	ck_assert_str_eq(err.msg, "policy:2:18: a block pattern must be 1 to "
	    "512 bytes of text");
	cl_buf_reset(&b);
	/* A line longer than the bound. */
	ck_assert_int_eq(cl_buf_puts(&b, "[default]\n#"), CL_OK);
	for (i = 0; i < POLICY_LINE_MAX; i++)
		ck_assert_int_eq(cl_buf_puts(&b, "x"), CL_OK);
	ck_assert_int_eq(policy_parse("policy", b.data, b.len, &p, &err),
	    CL_EFORMAT);
	ck_assert_str_eq(err.msg, "policy:2:8193: line longer than 8192 bytes");
	cl_buf_release(&b);
	ck_assert_ptr_null(p);
	/* A file over the size bound is refused before parsing. */
	ck_assert_int_eq(policy_parse("policy", "", POLICY_FILE_MAX + 1, &p,
	    &err), CL_ELIMIT);
}
END_TEST

/* Every allocation failure is reported, never half a policy. */
START_TEST(test_alloc_failures)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p;
	long n;
	int r;

	for (n = 0;; n++) {
		p = (struct policy *)&err;
		cl_alloc_fail_after(n);
		r = policy_parse("policy", full_policy, strlen(full_policy),
		    &p, &err);
		cl_alloc_fail_after(-1);
		if (r == CL_OK) {
			ck_assert_ptr_nonnull(p);
			policy_free(p);
			break;
		}
		ck_assert_int_eq(r, CL_ENOMEM);
		ck_assert_ptr_null(p);
	}
	ck_assert_int_gt(n, 20);
}
END_TEST

/*
 * Randomized mutations of a valid policy: each either parses into a full
 * policy or fails with "policy:LINE:COL: ..." (or "policy:LINE: ...");
 * never a crash, never a policy with an error.
 */
START_TEST(test_mutations)
{
	static const char alphabet[] = "[]=#,\"\\ \n\tazAZ09:-.\xC3\xA9\x80";
	struct cl_err err;
	struct policy *p;
	char buf[sizeof(full_policy) + 16];
	size_t n, k, pos;
	unsigned seed = 12345, ok = 0, bad_n = 0;
	int i, r, line, col;

	for (i = 0; i < 3000; i++) {
		memcpy(buf, full_policy, sizeof(full_policy));
		n = sizeof(full_policy) - 1;
		for (k = 0; k < 1 + (unsigned)(rand_r(&seed) % 4); k++) {
			pos = (size_t)rand_r(&seed) % n;
			switch (rand_r(&seed) % 3) {
			case 0:		/* replace */
				buf[pos] = alphabet[rand_r(&seed) %
				    (sizeof(alphabet) - 1)];
				break;
			case 1:		/* delete */
				memmove(buf + pos, buf + pos + 1, n - pos - 1);
				n--;
				break;
			default:	/* insert */
				memmove(buf + pos + 1, buf + pos, n - pos);
				buf[pos] = alphabet[rand_r(&seed) %
				    (sizeof(alphabet) - 1)];
				n++;
				break;
			}
		}
		memset(&err, 0, sizeof(err));
		p = (struct policy *)&err;
		r = policy_parse("policy", buf, n, &p, &err);
		if (r == CL_OK) {
			ck_assert_ptr_nonnull(p);
			ck_assert_ptr_nonnull(policy_profile(p, "default"));
			policy_free(p);
			ok++;
			continue;
		}
		ck_assert_int_eq(r, CL_EFORMAT);
		ck_assert_ptr_null(p);
		line = col = 0;
		ck_assert_msg(sscanf(err.msg, "policy:%d:%d:", &line, &col) >= 1,
		    "unpositioned message '%s'", err.msg);
		ck_assert_int_gt(line, 0);
		bad_n++;
	}
	ck_assert_uint_gt(ok, 0);
	ck_assert_uint_gt(bad_n, 0);
}
END_TEST

static Suite *
policy_parse_suite(void)
{
	Suite *s = suite_create("policy_parse");
	TCase *tc;

	tc = tcase_create("directives");
	tcase_add_test(tc, test_every_directive);
	tcase_add_test(tc, test_empty_and_defaults);
	tcase_add_test(tc, test_sampling_clamp);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_malformed, 0, (int)CL_ARRAY_LEN(bad));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_alloc_failures);
	suite_add_tcase(s, tc);
	tc = tcase_create("mutations");
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
