/*
 * fuzz_policy.c - libFuzzer entry point for the policy parser and, on
 * policies that parse, the streaming filter and PII redaction.
 *
 * Not built by default.  Build and run with clang from the top of a
 * configured tree (after `make libpolicy.a libutil.a`):
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *	    tests/fuzz_policy.c policy/[a-z]*.c sandbox/[a-z]*.c \
 *	    util/[a-z]*.c -lsodium -lseccomp -lm \
 *	    -o fuzz_policy
 *	mkdir -p corpus && ./fuzz_policy -max_len=4096 corpus
 *
 * The input is split at its first NUL byte: before it, the policy text;
 * after it, a model answer fed to the filter in tokens whose lengths come
 * from the answer's own bytes.  Properties checked (abort on violation):
 * a failed parse leaves *out NULL and a positioned message; the filter
 * never releases an invalid UTF-8 sequence.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;
	struct policy_filter *f = NULL;
	struct cl_buf out = CL_BUF_INIT;
	const char *text = (const char *)data, *ans;
	const uint8_t *nul;
	size_t tlen, alen, i, k;
	int r;

	nul = memchr(data, 0, size);
	tlen = nul != NULL ? (size_t)(nul - data) : size;
	ans = nul != NULL ? text + tlen + 1 : "";
	alen = nul != NULL ? size - tlen - 1 : 0;

	r = policy_parse("fuzz", text, tlen, &p, &err);
	if (r != CL_OK) {
		if (p != NULL || strncmp(err.msg, "fuzz:", 5) != 0)
			abort();
		return 0;
	}
	for (k = 0; k < policy_n_profiles(p); k++) {
		if (policy_filter_new(policy_profile_at(p, k), POLICY_UNLIMITED,
		    &f, &err) != CL_OK)
			break;
		for (i = 0; i < alen;) {
			size_t n = 1 + (unsigned char)ans[i] % 7;

			if (n > alen - i)
				n = alen - i;
			if (policy_filter_feed(f, ans + i, n, &out, &err) !=
			    CL_OK)
				break;
			if (!cl_utf8_valid(out.data, out.len))
				abort();
			i += n;
		}
		if (policy_filter_finish(f, &out, &err) != CL_OK ||
		    !cl_utf8_valid(out.data, out.len))
			abort();
		policy_filter_free(f);
		f = NULL;
		cl_buf_reset(&out);
	}
	if (policy_redact_text(POLICY_PII_ALL, ans, alen, &out, NULL) != CL_OK)
		abort();
	cl_buf_release(&out);
	policy_free(p);
	return 0;
}
