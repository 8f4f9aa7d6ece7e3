/*
 * policy_bench.c - cost of the streaming policy filter per token.
 *
 * Feeds a synthetic 64k-token answer (English-like words, punctuation,
 * some non-ASCII text, now and then an email address, a card number, a
 * phone number, a date or a blocked term; tokens of 1 to 8 bytes, about 4
 * on average, as byte-level BPE produces) through a filter for a typical
 * strict profile: 20 block terms, 3 block patterns, every PII kind,
 * on_block = redact (so the whole stream is judged).  Prints nanoseconds
 * per token and the ratio to a decode time per token (20 ms unless
 * given as the first argument, in milliseconds).  The target:
 * under 1% of decode time.
 *
 * usage: policy_bench [decode_ms]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define N_TOKENS	65536

static const char policy_text[] =
    "[default]\n"
    "block_terms = darn, heck, \"bad word\", gosh, crud, drat, \"shut up\",\n"
    "    stupid, idiot, dumb, jerk, loser, \"go away\", hate, kill,\n"
    "    weapon, gamble, casino, beer, \"secret plan\"\n"
    "block_patterns = \"[0-9]{3}-[0-9]{4}\", \"pass(word)? *[:=]\",\n"
    "    \"https?://[a-z0-9.-]+\"\n"
    "redact = all\n"
    "on_block = redact\n";

static const char *const words[] = {
	"the", "of", "and", "a", "to", "in", "is", "you", "that", "it",
	"he", "was", "for", "on", "are", "as", "with", "his", "they", "I",
	"at", "be", "this", "have", "from", "or", "one", "had", "by", "word",
	"but", "not", "what", "all", "were", "we", "when", "your", "can",
	"said", "there", "use", "an", "each", "which", "she", "do", "how",
	"their", "if", "will", "up", "other", "about", "out", "many", "then",
	"them", "these", "so", "some", "her", "would", "make", "like", "him",
	"into", "time", "has", "look", "two", "more", "write", "go", "see",
	"number", "no", "way", "could", "people", "my", "than", "first",
	"water", "been", "call", "who", "oil", "its", "now", "find", "long",
	"down", "day", "did", "get", "come", "made", "may", "part",
	"caf\xC3\xA9", "na\xC3\xAFve", "\xC3\xBC" "ber", "stra\xC3\x9F" "e",
	"1984", "42", "3.14", "2024",
};

static const char *const rare[] = {
	"john.doe@example.com", "4111 1111 1111 1111", "+44 20 7946 0958",
	"1985-03-12", "darn", "192.0.2.44", "call 555-0199",
	"DE89 3704 0044 0532 0130 00",
};

int
main(int argc, char **argv)
{
	struct cl_err err = CL_ERR_INIT;
	struct policy *p = NULL;
	struct policy_filter *f = NULL;
	struct cl_buf text = CL_BUF_INIT, out = CL_BUF_INIT;
	size_t *cuts, i, at, n_tok = 0, len;
	unsigned seed = 1;
	double decode_ms = 20.0, t0, t1, ns, best = 1e30;
	const char *w;
	int run, r;

	if (argc > 1 && (decode_ms = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: policy_bench [decode_ms]\n");
		return 2;
	}
	if (policy_parse("bench", policy_text, strlen(policy_text), &p,
	    &err) != CL_OK) {
		fprintf(stderr, "policy_bench: %s\n", err.msg);
		return 1;
	}
	/* Text, then token boundaries of 1..8 bytes on code points. */
	while (text.len < N_TOKENS * 4 + 64) {
		w = rand_r(&seed) % 200 == 0 ?
		    rare[rand_r(&seed) % CL_ARRAY_LEN(rare)] :
		    words[rand_r(&seed) % CL_ARRAY_LEN(words)];
		if (cl_buf_puts(&text, w) != CL_OK ||
		    cl_buf_puts(&text, rand_r(&seed) % 12 == 0 ? ". " :
		    rand_r(&seed) % 10 == 0 ? ", " : " ") != CL_OK)
			goto nomem;
	}
	if ((cuts = cl_calloc(N_TOKENS + 1, sizeof(*cuts))) == NULL)
		goto nomem;
	for (at = 0; n_tok < N_TOKENS && at < text.len; n_tok++) {
		len = 1 + (size_t)(rand_r(&seed) % 7);
		at += len;
		while (at < text.len &&
		    ((unsigned char)text.data[at] & 0xC0) == 0x80)
			at++;
		cuts[n_tok] = at < text.len ? at : text.len;
	}

	for (run = 0; run < 5; run++) {
		if (policy_filter_new(policy_profile(p, "default"),
		    POLICY_UNLIMITED, &f, &err) != CL_OK)
			goto fail;
		cl_buf_reset(&out);
		t0 = cl_now();
		for (i = 0, at = 0; i < n_tok; i++) {
			r = policy_filter_feed(f, text.data + at,
			    cuts[i] - at, &out, &err);
			if (r != CL_OK)
				goto fail;
			at = cuts[i];
		}
		if (policy_filter_finish(f, &out, &err) != CL_OK)
			goto fail;
		t1 = cl_now();
		ns = (t1 - t0) * 1e9 / (double)n_tok;
		if (ns < best)
			best = ns;
		if (run == 0)
			printf("policy_bench: %zu tokens, %zu bytes in, %zu out, "
			    "%u items redacted\n", n_tok, at, out.len,
			    policy_filter_verdict(f)->n_redacted);
		policy_filter_free(f);
		f = NULL;
	}
	printf("policy_bench: %.0f ns per token (best of 5); %.4f%% of a "
	    "%.0f ms decode step\n", best, best / (decode_ms * 1e6) * 100.0,
	    decode_ms);
	cl_free(cuts);
	cl_buf_release(&text);
	cl_buf_release(&out);
	policy_free(p);
	return best / (decode_ms * 1e6) < 0.01 ? 0 : 1;
nomem:
	fprintf(stderr, "policy_bench: out of memory\n");
	return 1;
fail:
	fprintf(stderr, "policy_bench: %s\n", err.msg);
	return 1;
}
