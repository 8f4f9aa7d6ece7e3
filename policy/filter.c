/*
 * filter.c - streaming enforcement of a profile on model output, prompt
 * checks, verdicts and notices.
 *
 * Divisions: the filter object; the scan (deciding position by position
 * what may be released); feed / finish; prompt checks; notices.
 *
 * The filter keeps the bytes it has not released in `pend`, preceded by
 * the last code point it did release (context for word and item
 * boundaries).  The scan walks code point by code point from the first
 * undecided byte and asks every rule whether something starts there:
 * block terms and PII detectors answer no / yes / "need more bytes";
 * patterns are answered from the leftmost regexec() match, and a position
 * fewer than pattern_window bytes from the end is undecided.  The scan
 * stops at the first undecided position; everything before it has been
 * judged and is released (or replaced, or the stream ends).  So what is
 * held back is exactly the tail that might still become a match.
 */
#include "config.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy_impl.h"

#define REDACTED	"[REDACTED]"
#define REPLACEMENT	"\xEF\xBF\xBD"	/* U+FFFD for an invalid byte */

struct policy_filter {
	const struct policy_profile *pr;	/* borrowed */
	bool		 prompt;	/* prompt mode: blocks refuse */
	bool		 hold_all;	/* output hook: release at finish */
	bool		 done;		/* stopped or finished */
	bool		 started;	/* something was consumed (regex BOL) */
	struct cl_buf	 pend;		/* [0, ctx) context, then undecided */
	size_t		 ctx;
	struct cl_buf	 held;		/* hold_all: judged text */
	struct cl_buf	 stage;		/* judged in this call, not released */
	uint64_t	 limit_tokens;	/* min(max_output_tokens, budget) */
	enum policy_verdict_kind limit_kind;
	uint64_t	 n_tokens;
	uint64_t	 n_chars;	/* code points released */
	struct policy_verdict v;
	size_t		*pm_so;		/* per pattern: next match start */
	size_t		*pm_eo;		/* and end; SIZE_MAX: none */
};

int
policy_filter_new(const struct policy_profile *pr, uint64_t token_budget,
    struct policy_filter **out, struct cl_err *err)
{
	struct policy_filter *f;

	*out = NULL;
	if ((f = cl_calloc(1, sizeof(*f))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	f->pr = pr;
	f->hold_all = pr->output_hook != NULL;
	f->v.rule = -1;
	f->limit_tokens = pr->max_output_tokens;
	f->limit_kind = POLICY_VERDICT_OUTPUT_TOKENS;
	if (token_budget < f->limit_tokens) {
		f->limit_tokens = token_budget;
		f->limit_kind = POLICY_VERDICT_QUOTA;
	}
	if (pr->n_block_patterns > 0) {
		f->pm_so = cl_calloc(pr->n_block_patterns, sizeof(size_t));
		f->pm_eo = cl_calloc(pr->n_block_patterns, sizeof(size_t));
		if (f->pm_so == NULL || f->pm_eo == NULL) {
			policy_filter_free(f);
			return cl_errf(err, CL_ENOMEM, "out of memory");
		}
	}
	*out = f;
	return CL_OK;
}

void
policy_filter_free(struct policy_filter *f)
{
	if (f == NULL)
		return;
	cl_buf_release(&f->pend);
	cl_buf_release(&f->held);
	cl_buf_release(&f->stage);
	cl_free(f->pm_so);
	cl_free(f->pm_eo);
	cl_free(f);
}

const struct policy_verdict *
policy_filter_verdict(const struct policy_filter *f)
{
	return &f->v;
}

uint64_t
policy_filter_n_tokens(const struct policy_filter *f)
{
	return f->n_tokens;
}

uint64_t
policy_filter_n_chars(const struct policy_filter *f)
{
	return f->n_chars;
}

/* ------------------------------------------------------------- the scan */

/* Leftmost match of pattern k in pend[from, n), or SIZE_MAX. */
static void
pattern_next(struct policy_filter *f, size_t k, size_t from, bool final)
{
	const char *s = f->pend.data;
	regmatch_t m[1];
	size_t n = f->pend.len;
	int flags = REG_STARTEND;

	f->pm_so[k] = f->pm_eo[k] = SIZE_MAX;
	while (from < n) {
		m[0].rm_so = (regoff_t)from;
		m[0].rm_eo = (regoff_t)n;
		if (from > 0 || f->started)
			flags |= REG_NOTBOL;
		if (!final)
			flags |= REG_NOTEOL;
		if (regexec(&f->pr->compiled->re[k], s, 1, m, flags) != 0)
			return;
		if (m[0].rm_eo > m[0].rm_so) {
			f->pm_so[k] = (size_t)m[0].rm_so;
			f->pm_eo[k] = (size_t)m[0].rm_eo;
			return;
		}
		/* An empty match blocks nothing; look further on. */
		from = (size_t)m[0].rm_so + 1;
	}
}

/* Extend end `e` of a match to the end of the code point it is inside. */
static size_t
cp_end(const char *s, size_t n, size_t e)
{
	while (e < n && ((unsigned char)s[e] & 0xC0) == 0x80)
		e++;
	return e;
}

/*
 * Judged text goes to `stage` first and is released (to `out`, or to
 * `held` when an output hook must see the whole answer) at the end of the
 * call, so a refusal drops everything the caller has not yet been given.
 */
static int
sink(struct policy_filter *f, const char *p, size_t n)
{
	return cl_buf_append(&f->stage, p, n);
}

static int
commit(struct policy_filter *f, struct cl_buf *out)
{
	int r = CL_OK;

	if (f->stage.len > 0)
		r = cl_buf_append(f->hold_all ? &f->held : out,
		    f->stage.data, f->stage.len);
	cl_buf_reset(&f->stage);
	return r;
}

/* Stop the stream with verdict `kind`; drop what is undecided. */
static void
stop(struct policy_filter *f, enum policy_verdict_kind kind)
{
	if (!f->v.stopped) {
		f->v.kind = kind;
		f->v.stopped = true;
	}
	f->done = true;
	cl_buf_reset(&f->pend);
	f->ctx = 0;
}

/*
 * Release one judged unit (a code point or a placeholder of `nchars`
 * code points) unless it would pass max_output_chars.
 */
static int
release(struct policy_filter *f, struct cl_buf *out, const char *p,
    size_t n, uint64_t nchars)
{
	int r;

	if (!f->prompt && (f->n_chars + nchars > f->pr->max_output_chars ||
	    f->n_chars + nchars < f->n_chars)) {
		stop(f, POLICY_VERDICT_OUTPUT_CHARS);
		return CL_OK;
	}
	(void)out;
	if ((r = sink(f, p, n)) != CL_OK)
		return r;
	f->n_chars += nchars;
	return CL_OK;
}

static int
scan(struct policy_filter *f, bool final, struct cl_buf *out)
{
	const struct policy_profile *pr = f->pr;
	const char *s = f->pend.data;
	size_t n = f->pend.len, i = f->ctx, k, tl, ql, pl, len, keep;
	size_t ti = 0, pk = 0;
	unsigned kind = 0;
	uint32_t cp;
	int l, rt, rq, rp, r;
	bool block_term, block_pat;
	const char *ph;

	if (s == NULL)
		return CL_OK;
	for (k = 0; k < pr->n_block_patterns; k++)
		pattern_next(f, k, i, final);
	while (i < n && !f->done) {
		l = u8_decode((const unsigned char *)s + i, n - i, &cp);
		if (l < 0) {
			if (!final)
				break;
			i = n;		/* an incomplete last sequence */
			break;
		}
		tl = ql = pl = 0;
		rt = rq = rp = MATCH_NO;
		if (pr->n_block_terms > 0)
			rt = term_match_at(pr, s, n, i, final, &ti, &tl);
		if (pr->redact != 0)
			rq = pii_match_at(pr->redact, s, n, i, final, &kind,
			    &ql);
		for (k = 0; k < pr->n_block_patterns; k++) {
			if (f->pm_so[k] < i)
				pattern_next(f, k, i, final);
			if (f->pm_so[k] != i)
				continue;
			if (!final && n - i < pr->pattern_window) {
				rp = MATCH_MORE;
				break;
			}
			len = cp_end(s, n, f->pm_eo[k]) - i;
			if (rp == MATCH_NO || len > pl) {
				rp = MATCH_YES;
				pl = len;
				pk = k;
			}
		}
		if (pr->n_block_patterns > 0 && !final &&
		    n - i < pr->pattern_window)
			rp = MATCH_MORE;
		if (rt == MATCH_MORE || rq == MATCH_MORE || rp == MATCH_MORE)
			break;

		block_term = rt == MATCH_YES;
		block_pat = rp == MATCH_YES;
		if ((block_term || block_pat) && (f->prompt ||
		    pr->on_block != POLICY_ACTION_REDACT) &&
		    !(f->prompt && pr->on_block == POLICY_ACTION_REDACT)) {
			f->v.rule = block_term ? (int)ti : (int)pk;
			f->v.action = f->prompt ? POLICY_ACTION_REFUSE :
			    pr->on_block;
			if (f->v.action == POLICY_ACTION_REFUSE) {
				cl_buf_reset(&f->held);
				cl_buf_reset(&f->stage);
			}
			stop(f, block_term ? POLICY_VERDICT_BLOCK_TERM :
			    POLICY_VERDICT_BLOCK_PATTERN);
			return commit(f, out);
		}
		if (block_term || block_pat || rq == MATCH_YES) {
			/* Redact the longest; blocks win ties. */
			len = block_term ? tl : 0;
			ph = REDACTED;
			if (block_pat && pl > len)
				len = pl;
			if (rq == MATCH_YES && ql > len) {
				len = ql;
				ph = policy_pii_placeholder(kind);
				f->v.redacted_pii |= kind;
			} else
				f->v.n_terms_redacted++;
			f->v.n_redacted++;
			if (f->v.kind == POLICY_VERDICT_NONE)
				f->v.kind = POLICY_VERDICT_REDACTED;
			if ((r = release(f, out, ph, strlen(ph),
			    strlen(ph))) != CL_OK)
				return r;
			i += len;
			f->started = true;
			continue;
		}
		if (l == 0) {
			r = release(f, out, REPLACEMENT, 3, 1);
			l = 1;
		} else
			r = release(f, out, s + i, (size_t)l, 1);
		if (r != CL_OK)
			return r;
		i += (size_t)l;
		f->started = true;
	}
	if ((r = commit(f, out)) != CL_OK)
		return r;
	if (f->done)
		return CL_OK;
	/* Keep the last judged code point as context, drop the rest. */
	keep = i;
	while (keep > 0 && i - keep < 4) {
		keep--;
		if (((unsigned char)s[keep] & 0xC0) != 0x80)
			break;
	}
	memmove(f->pend.data, s + keep, n - keep);
	f->pend.len = n - keep;
	f->pend.data[f->pend.len] = '\0';
	f->ctx = i - keep;
	return CL_OK;
}

/* ------------------------------------------------------- feed / finish */

int
policy_filter_feed(struct policy_filter *f, const char *p, size_t n,
    struct cl_buf *out, struct cl_err *err)
{
	int r;

	if (f->done)
		return CL_EPOLICY;
	if (f->n_tokens >= f->limit_tokens) {
		stop(f, f->limit_kind);
		return CL_EPOLICY;
	}
	if ((r = cl_buf_append(&f->pend, p, n)) != CL_OK)
		return cl_errf(err, r, "out of memory");
	f->n_tokens++;
	if ((r = scan(f, false, out)) != CL_OK)
		return cl_errf(err, r, "out of memory");
	if (f->done)
		return CL_EPOLICY;
	if (f->n_tokens >= f->limit_tokens) {
		/*
		 * The answer is cut here: what is still undecided could be
		 * the start of a blocked term, so it is dropped, not judged
		 * as if the answer had ended.
		 */
		stop(f, f->limit_kind);
		return CL_EPOLICY;
	}
	return CL_OK;
}

int
policy_filter_finish(struct policy_filter *f, struct cl_buf *out,
    struct cl_err *err)
{
	int r;

	if (!f->done && (r = scan(f, true, out)) != CL_OK)
		return cl_errf(err, r, "out of memory");
	f->done = true;
	cl_buf_reset(&f->pend);
	f->ctx = 0;
	if (f->hold_all && f->held.len > 0) {
		if ((r = cl_buf_append(out, f->held.data, f->held.len)) !=
		    CL_OK)
			return cl_errf(err, r, "out of memory");
		cl_buf_reset(&f->held);
	}
	return CL_OK;
}

/* --------------------------------------------------------------- prompt */

int
policy_check_prompt(const struct policy_profile *pr, const char *p,
    size_t n, uint64_t n_tokens, struct cl_buf *out,
    struct policy_verdict *v, struct cl_err *err)
{
	struct policy_filter *f = NULL;
	uint64_t chars = 0;
	size_t i = 0;
	uint32_t cp;
	int l, r;

	memset(v, 0, sizeof(*v));
	v->rule = -1;
	v->prompt = true;
	while (i < n) {
		l = u8_decode((const unsigned char *)p + i, n - i, &cp);
		i += l > 0 ? (size_t)l : 1;
		chars++;
	}
	if (chars > pr->max_prompt_chars) {
		v->kind = POLICY_VERDICT_PROMPT_CHARS;
		v->stopped = true;
		return cl_errf(err, CL_EPOLICY, "the prompt has %llu "
		    "characters, profile '%s' allows %llu",
		    (unsigned long long)chars, pr->name,
		    (unsigned long long)pr->max_prompt_chars);
	}
	if (n_tokens != POLICY_UNLIMITED && n_tokens > pr->max_prompt_tokens) {
		v->kind = POLICY_VERDICT_PROMPT_TOKENS;
		v->stopped = true;
		return cl_errf(err, CL_EPOLICY, "the prompt has %llu tokens, "
		    "profile '%s' allows %llu", (unsigned long long)n_tokens,
		    pr->name, (unsigned long long)pr->max_prompt_tokens);
	}
	if ((r = policy_filter_new(pr, POLICY_UNLIMITED, &f, err)) != CL_OK)
		return r;
	f->prompt = true;
	f->hold_all = false;
	f->limit_tokens = POLICY_UNLIMITED;
	if ((r = cl_buf_append(&f->pend, p, n)) != CL_OK ||
	    (r = scan(f, true, out)) != CL_OK) {
		r = cl_errf(err, r, "out of memory");
		goto out;
	}
	*v = f->v;
	v->prompt = true;
	if (v->stopped) {
		r = cl_errf(err, CL_EPOLICY, "the prompt matches block %s %d "
		    "of profile '%s'", v->kind == POLICY_VERDICT_BLOCK_TERM ?
		    "term" : "pattern", v->rule, pr->name);
		goto out;
	}
	r = CL_OK;
out:
	policy_filter_free(f);
	return r;
}

/* -------------------------------------------------------------- notices */

const char *
policy_verdict_notice(const struct policy_verdict *v)
{
	switch (v->kind) {
	case POLICY_VERDICT_NONE:
		return NULL;
	case POLICY_VERDICT_REDACTED:
		return v->prompt ? "[cloister: some details in the question "
		    "were replaced by placeholders, as this profile's policy "
		    "asks]" : "[cloister: some details in the answer were "
		    "replaced by placeholders, as this profile's policy asks]";
	case POLICY_VERDICT_BLOCK_TERM:
	case POLICY_VERDICT_BLOCK_PATTERN:
		if (v->prompt)
			return "[cloister: this question touches something "
			    "this profile's policy leaves out, so it was not "
			    "sent]";
		if (v->action == POLICY_ACTION_STOP)
			return "[cloister: the answer was stopped here because "
			    "it touched something this profile's policy leaves "
			    "out]";
		return "[cloister: this answer is not available under this "
		    "profile's policy]";
	case POLICY_VERDICT_OUTPUT_TOKENS:
	case POLICY_VERDICT_OUTPUT_CHARS:
		return "[cloister: the answer was stopped because it reached "
		    "this profile's length limit]";
	case POLICY_VERDICT_QUOTA:
		return "[cloister: this profile has used today's allowance; "
		    "it renews tomorrow]";
	case POLICY_VERDICT_HOURS:
		return "[cloister: this profile is not available at this time "
		    "of day]";
	case POLICY_VERDICT_PROMPT_CHARS:
	case POLICY_VERDICT_PROMPT_TOKENS:
		return "[cloister: the question is longer than this profile "
		    "allows; please shorten it]";
	case POLICY_VERDICT_HOOK:
		return v->prompt ? "[cloister: the administrator's check did "
		    "not let this question through]" : "[cloister: the "
		    "administrator's check did not let this answer through]";
	case POLICY_VERDICT_SEAL:
		return "[cloister: the policy was changed after it was sealed; "
		    "the administrator needs to run 'cloister policy seal']";
	}
	return NULL;
}

const char *
policy_verdict_name(enum policy_verdict_kind k)
{
	static const char *const names[] = {
		"none", "redacted", "block_term", "block_pattern",
		"output_tokens", "output_chars", "quota", "hours",
		"prompt_chars", "prompt_tokens", "hook", "seal"
	};

	if ((size_t)k < CL_ARRAY_LEN(names))
		return names[k];
	return "unknown";
}
