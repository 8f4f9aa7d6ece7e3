/*
 * parse.c - the policy file parser (cloister-policy(5)).
 *
 * Divisions:
 *  - the lexer: positions, errors, words, quoted strings, list items;
 *  - the key table and one value parser per key type;
 *  - the two passes: pass 1 reads sections and entries and checks every
 *    value on the section's own scratch profile; pass 2 builds each
 *    resolved profile by applying [default]'s entries, then its own;
 *  - profile queries, describe, names.
 *
 * The parse is all or nothing: any error frees everything built so far
 * and *out stays NULL.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "policy/policy_impl.h"

/* ---------------------------------------------------------------- lexer */

struct lex {
	const char	*name;		/* file name for messages */
	const char	*t;		/* the whole text */
	size_t		 len;
	size_t		 pos;		/* current byte */
	unsigned	 line;		/* 1-based line of pos */
	size_t		 line_start;	/* offset of that line */
	struct cl_err	*err;
};

static int lex_err(struct lex *, size_t, const char *, ...)
    CL_PRINTF(3, 4);

/* Report "name:line:col: message" for byte `at` on the current line. */
static int
lex_err(struct lex *lx, size_t at, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cl_errf(lx->err, CL_EFORMAT, "%s:%u:%zu: %s", lx->name,
	    lx->line, at - lx->line_start + 1, msg);
}

static bool
at_eol(const struct lex *lx, size_t p)
{
	return p >= lx->len || lx->t[p] == '\n' ||
	    (lx->t[p] == '\r' && (p + 1 >= lx->len || lx->t[p + 1] == '\n'));
}

static size_t
skip_blank(const struct lex *lx, size_t p)
{
	while (p < lx->len && (lx->t[p] == ' ' || lx->t[p] == '\t'))
		p++;
	return p;
}

/* Move to the start of the next line. */
static void
next_line(struct lex *lx)
{
	while (lx->pos < lx->len && lx->t[lx->pos] != '\n')
		lx->pos++;
	if (lx->pos < lx->len)
		lx->pos++;
	lx->line++;
	lx->line_start = lx->pos;
}

/*
 * Describe what is at `p` for "found ..." (at most 24 bytes of the word,
 * never cutting a code point).
 */
static void
found_at(const struct lex *lx, size_t p, char *buf, size_t size)
{
	size_t e, n;

	if (at_eol(lx, p)) {
		snprintf(buf, size, "end of line");
		return;
	}
	if (lx->t[p] == '#') {
		snprintf(buf, size, "a comment");
		return;
	}
	e = p;
	if (lx->t[e] == ',' || lx->t[e] == '=' || lx->t[e] == '"')
		e++;
	else
		while (e < lx->len && !at_eol(lx, e) && lx->t[e] != ' ' &&
		    lx->t[e] != '\t' && lx->t[e] != ',' && lx->t[e] != '#')
			e++;
	n = e - p;
	if (n > 24)
		n = u8_complete(lx->t + p, 24);
	snprintf(buf, size, "'%.*s%s'", (int)n, lx->t + p, n < e - p ?
	    "..." : "");
}

/*
 * An item of a value: quoted ("...", with \" \\ \n \t escapes) or bare
 * (up to ',', '#' or the end of the line, trimmed).  *out is a fresh
 * NUL-terminated copy (caller frees); *col_at is where it starts.
 * `scalar` reads a bare value through commas (system_prompt).
 */
struct item {
	char	*s;
	size_t	 n;
	size_t	 at;		/* offset of the item's first byte */
	bool	 quoted;
};

static int
read_item(struct lex *lx, bool scalar, struct item *it)
{
	struct cl_buf b = CL_BUF_INIT;
	size_t p, e, q;
	int r = CL_EINTERNAL;
	char c, f[40];

	it->s = NULL;
	it->n = 0;
	p = skip_blank(lx, lx->pos);
	it->at = p;
	it->quoted = false;
	if (p < lx->len && lx->t[p] == '"') {
		it->quoted = true;
		for (q = p + 1;; q++) {
			if (q >= lx->len || lx->t[q] == '\n' ||
			    lx->t[q] == '\r') {
				r = lex_err(lx, p, "unterminated quoted string");
				goto out;
			}
			c = lx->t[q];
			if (c == '"')
				break;
			if (c == '\\') {
				if (q + 1 >= lx->len)
					c = 0;
				else
					c = lx->t[q + 1];
				switch (c) {
				case '"':
				case '\\':
					break;
				case 'n':
					c = '\n';
					break;
				case 't':
					c = '\t';
					break;
				default:
					r = lex_err(lx, q, "unknown escape in "
					    "quoted string (use \\\" \\\\ \\n "
					    "or \\t)");
					goto out;
				}
				q++;
			}
			if (cl_buf_append(&b, &c, 1) != CL_OK) {
				r = cl_errf(lx->err, CL_ENOMEM, "out of memory");
				goto out;
			}
		}
		lx->pos = q + 1;
	} else {
		for (e = p; !at_eol(lx, e) && lx->t[e] != '#' &&
		    (scalar || lx->t[e] != ','); e++) {
			if (lx->t[e] == '"') {
				r = lex_err(lx, e, "a value with '\"' must be "
				    "quoted as a whole");
				goto out;
			}
		}
		lx->pos = e;
		while (e > p && (lx->t[e - 1] == ' ' || lx->t[e - 1] == '\t'))
			e--;
		if (e == p) {
			found_at(lx, p, f, sizeof(f));
			r = lex_err(lx, p, "expected a value, found %s", f);
			goto out;
		}
		if (cl_buf_append(&b, lx->t + p, e - p) != CL_OK) {
			r = cl_errf(lx->err, CL_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (b.data != NULL)
		it->s = cl_buf_steal(&b, &it->n);
	else
		it->s = cl_strdup("");
	if (it->s == NULL) {
		r = cl_errf(lx->err, CL_ENOMEM, "out of memory");
		goto out;
	}
	r = CL_OK;
out:
	cl_buf_release(&b);
	return r;
}

/*
 * After an item: ',' (another item follows, possibly on the next line)
 * or the end of the line (an optional comment).  Sets *more.
 */
static int
after_item(struct lex *lx, const char *key, bool list, bool *more)
{
	size_t p, comma, ls;
	unsigned line;
	char f[40];

	*more = false;
	p = skip_blank(lx, lx->pos);
	if (list && p < lx->len && lx->t[p] == ',') {
		comma = p;
		p = skip_blank(lx, p + 1);
		*more = true;
		if (at_eol(lx, p) || lx->t[p] == '#') {
			/* A trailing comma continues the list. */
			line = lx->line;
			ls = lx->line_start;
			lx->pos = p;
			next_line(lx);
			while (lx->pos < lx->len) {
				p = skip_blank(lx, lx->pos);
				if (!at_eol(lx, p) && lx->t[p] != '#')
					break;
				next_line(lx);
			}
			if (lx->pos >= lx->len) {
				lx->line = line;
				lx->line_start = ls;
				return lex_err(lx, comma, "expected another "
				    "item after ',' at the end of the file");
			}
			return CL_OK;
		}
		lx->pos = p;
		return CL_OK;
	}
	if (at_eol(lx, p) || lx->t[p] == '#') {
		lx->pos = p;
		return CL_OK;
	}
	found_at(lx, p, f, sizeof(f));
	if (list)
		return lex_err(lx, p, "expected ',' or end of line after a "
		    "value of '%s', found %s", key, f);
	return lex_err(lx, p, "expected end of line after the value of "
	    "'%s', found %s", key, f);
}

/* ------------------------------------------------------------ key table */

enum ktype {
	K_COUNT,	/* 1.., or none */
	K_QUOTA,	/* 0.., or none */
	K_REAL,		/* [lo, hi] */
	K_TOPK,		/* 1..lo */
	K_BOOL,
	K_ACTION,
	K_AUDIT,
	K_STRING,	/* system_prompt */
	K_PATH,		/* hooks */
	K_PIN,
	K_TERMS,
	K_PATTERNS,
	K_PII,
	K_MODELS,
	K_HOURS,
	K_WINDOW,
	K_TIMEOUT
};

struct key {
	const char	*name;
	enum ktype	 type;
	size_t		 off;		/* offsetof in struct policy_profile */
	double		 lo, hi;	/* K_REAL range */
};

#define OFF(m)	offsetof(struct policy_profile, m)

static const struct key keys[] = {
	{ "allowed_hours", K_HOURS, 0, 0, 0 },
	{ "audit", K_AUDIT, OFF(audit), 0, 0 },
	{ "block_patterns", K_PATTERNS, 0, 0, 0 },
	{ "block_terms", K_TERMS, 0, 0, 0 },
	{ "block_whole_words", K_BOOL, OFF(block_whole_words), 0, 0 },
	{ "daily_token_quota", K_QUOTA, OFF(daily_token_quota), 0, 0 },
	{ "hook_timeout", K_TIMEOUT, OFF(hook_timeout_ms), 0.1, 60 },
	{ "max_output_chars", K_COUNT, OFF(max_output_chars), 0, 0 },
	{ "max_output_tokens", K_COUNT, OFF(max_output_tokens), 0, 0 },
	{ "max_prompt_chars", K_COUNT, OFF(max_prompt_chars), 0, 0 },
	{ "max_prompt_tokens", K_COUNT, OFF(max_prompt_tokens), 0, 0 },
	{ "min_p_min", K_REAL, OFF(min_p_min), 0, 1 },
	{ "models", K_MODELS, 0, 0, 0 },
	{ "on_block", K_ACTION, OFF(on_block), 0, 0 },
	{ "output_hook", K_PATH, OFF(output_hook), 0, 0 },
	{ "pattern_window", K_WINDOW, OFF(pattern_window), 0, 0 },
	{ "pin", K_PIN, OFF(pin), 0, 0 },
	{ "prompt_hook", K_PATH, OFF(prompt_hook), 0, 0 },
	{ "redact", K_PII, OFF(redact), 0, 0 },
	{ "repeat_penalty_max", K_REAL, OFF(repeat_penalty_max), 1, 10 },
	{ "repeat_penalty_min", K_REAL, OFF(repeat_penalty_min), 0.5, 10 },
	{ "system_prompt", K_STRING, OFF(system_prompt), 0, 0 },
	{ "temperature_max", K_REAL, OFF(temperature_max), 0, 10 },
	{ "top_k_max", K_TOPK, OFF(top_k_max), 100000, 0 },
	{ "top_p_max", K_REAL, OFF(top_p_max), 0, 1 },
};
#define N_KEYS	CL_ARRAY_LEN(keys)
_Static_assert(CL_ARRAY_LEN(keys) <= 32, "key set is a 32-bit mask");

#define FIELD(pr, k, type)	((type *)(void *)((char *)(pr) + (k)->off))

static const char *const day_names[7] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"
};

static const struct {
	const char	*name;
	unsigned	 bit;
	const char	*placeholder;
} pii_kinds[] = {
	{ "email", POLICY_PII_EMAIL, "[EMAIL]" },
	{ "phone", POLICY_PII_PHONE, "[PHONE]" },
	{ "card", POLICY_PII_CARD, "[CARD]" },
	{ "ssn", POLICY_PII_SSN, "[SSN]" },
	{ "iban", POLICY_PII_IBAN, "[IBAN]" },
	{ "ip", POLICY_PII_IP, "[IP]" },
	{ "date", POLICY_PII_DATE, "[DATE]" },
};

/* ------------------------------------------------------- value parsers */

static void
free_strv(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		cl_free(v[i]);
	cl_free(v);
}

static void
compiled_free(struct policy_compiled *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_re; i++)
		regfree(&c->re[i]);
	cl_free(c->re);
	cl_free(c);
}

void
profile_free(struct policy_profile *pr)
{
	if (pr == NULL)
		return;
	cl_free(pr->name);
	cl_free(pr->hours);
	cl_free(pr->hours_text);
	free_strv(pr->block_terms, pr->n_block_terms);
	free_strv(pr->block_patterns, pr->n_block_patterns);
	cl_free(pr->system_prompt);
	cl_free(pr->models);
	cl_free(pr->prompt_hook);
	cl_free(pr->output_hook);
	if (pr->pin != NULL)
		sodium_memzero(pr->pin, strlen(pr->pin));
	cl_free(pr->pin);
	compiled_free(pr->compiled);
	cl_free(pr);
}

static void
profile_defaults(struct policy_profile *pr)
{
	pr->max_output_tokens = POLICY_UNLIMITED;
	pr->max_output_chars = POLICY_UNLIMITED;
	pr->max_prompt_chars = POLICY_UNLIMITED;
	pr->max_prompt_tokens = POLICY_UNLIMITED;
	pr->daily_token_quota = POLICY_UNLIMITED;
	pr->temperature_max = INFINITY;
	pr->top_k_max = UINT32_MAX;
	pr->top_p_max = 1.0;
	pr->min_p_min = 0.0;
	pr->repeat_penalty_min = 0.0;
	pr->repeat_penalty_max = INFINITY;
	pr->block_whole_words = true;
	pr->pattern_window = POLICY_WINDOW_DEFAULT;
	pr->redact = 0;
	pr->on_block = POLICY_ACTION_REFUSE;
	pr->audit = POLICY_AUDIT_OFF;
	pr->hook_timeout_ms = POLICY_HOOK_TIMEOUT_DEFAULT;
}

static int
nomem(struct lex *lx)
{
	return cl_errf(lx->err, CL_ENOMEM, "out of memory");
}

/* A keyword item (bare, case-sensitive); true when it is `w`. */
static bool
is_word(const struct item *it, const char *w)
{
	return !it->quoted && strcmp(it->s, w) == 0;
}

static int
parse_count(struct lex *lx, const struct key *k, const struct item *it,
    uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (is_word(it, "none")) {
		*v = POLICY_UNLIMITED;
		return CL_OK;
	}
	for (i = 0; i < it->n; i++) {
		if (it->quoted || it->s[i] < '0' || it->s[i] > '9' ||
		    !cl_mul_u64(x, 10, &x) ||
		    !cl_add_u64(x, (uint64_t)(it->s[i] - '0'), &x) ||
		    x > 1000000000000000ULL)
			goto bad;
	}
	if (x == 0 && k->type != K_QUOTA)
		return lex_err(lx, it->at, "'%s' must be at least 1 (use "
		    "'none' for no limit)", k->name);
	*v = x;
	return CL_OK;
bad:
	return lex_err(lx, it->at, "expected a number after '%s =', found "
	    "'%.24s'", k->name, it->s);
}

static int
parse_real(struct lex *lx, const struct key *k, const struct item *it,
    double *v)
{
	char *end;
	double x;
	size_t i;

	for (i = 0; i < it->n; i++)
		if (it->quoted || !(isdigit((unsigned char)it->s[i]) ||
		    it->s[i] == '.'))
			goto bad;
	if (it->n == 0 || it->s[0] == '.')
		goto bad;
	errno = 0;
	x = strtod(it->s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(x))
		goto bad;
	if (x < k->lo || x > k->hi)
		return lex_err(lx, it->at, "'%s' must be between %g and %g, "
		    "found %.24s", k->name, k->lo, k->hi, it->s);
	*v = x;
	return CL_OK;
bad:
	return lex_err(lx, it->at, "expected a decimal number after '%s =', "
	    "found '%.24s'", k->name, it->s);
}

static int
parse_bool(struct lex *lx, const struct key *k, const struct item *it,
    bool *v)
{
	if (is_word(it, "yes") || is_word(it, "true") || is_word(it, "on")) {
		*v = true;
		return CL_OK;
	}
	if (is_word(it, "no") || is_word(it, "false") || is_word(it, "off")) {
		*v = false;
		return CL_OK;
	}
	return lex_err(lx, it->at, "expected 'yes' or 'no' after '%s =', "
	    "found '%.24s'", k->name, it->s);
}

/* "HH:MM" at s; 24:00 only when `end`.  Returns minutes or -1. */
static int
parse_hhmm(const char *s, bool end)
{
	int h, m;

	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !end)))
		return -1;
	return h * 60 + m;
}

static int
day_index(const char *s, size_t n)
{
	int i;

	if (n != 3)
		return -1;
	for (i = 0; i < 7; i++)
		if (strncasecmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

/*
 * One allowed_hours item: "[DAYS ]HH:MM-HH:MM", DAYS being "daily", a day
 * ("mon") or a range ("mon-fri", "fri-mon" wraps).
 */
static int
parse_hours_item(struct lex *lx, const struct item *it, struct policy_hours *h)
{
	const char *s = it->s, *sp, *t;
	int a, b, d0, d1, i;

	if (it->quoted)
		goto bad;
	h->days = 0x7f;
	t = s;
	if ((sp = strpbrk(s, " \t")) != NULL) {
		if (sp - s == 5 && strncmp(s, "daily", 5) == 0) {
			h->days = 0x7f;
		} else if (sp - s == 3 && (d0 = day_index(s, 3)) >= 0) {
			h->days = (uint8_t)(1u << d0);
		} else if (sp - s == 7 && s[3] == '-' &&
		    (d0 = day_index(s, 3)) >= 0 &&
		    (d1 = day_index(s + 4, 3)) >= 0) {
			h->days = 0;
			for (i = d0;; i = (i + 1) % 7) {
				h->days |= (uint8_t)(1u << i);
				if (i == d1)
					break;
			}
		} else {
			return lex_err(lx, it->at, "expected days ('mon', "
			    "'mon-fri' or 'daily') in allowed_hours, found "
			    "'%.*s'", (int)((sp - s) > 24 ? 24 : (sp - s)), s);
		}
		t = sp;
		while (*t == ' ' || *t == '\t')
			t++;
	}
	if (strlen(t) != 11 || t[5] != '-' || (a = parse_hhmm(t, false)) < 0 ||
	    (b = parse_hhmm(t + 6, true)) < 0)
		return lex_err(lx, it->at + (size_t)(t - s), "expected a time "
		    "range like 15:00-18:00 in allowed_hours, found '%.24s'",
		    t);
	h->start_min = (uint16_t)a;
	h->end_min = (uint16_t)(b == 0 ? 1440 : b);
	if (h->end_min == h->start_min)
		return lex_err(lx, it->at + (size_t)(t - s), "empty time "
		    "range '%.11s' in allowed_hours", t);
	return CL_OK;
bad:
	return lex_err(lx, it->at, "expected a time range like 'mon-fri "
	    "15:00-18:00' in allowed_hours, found a quoted string");
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Every byte valid UTF-8 and no control characters (tab allowed). */
static bool
text_ok(const char *s, size_t n, bool allow_nl)
{
	size_t i = 0;
	uint32_t cp;
	int l;

	while (i < n) {
		l = u8_decode((const unsigned char *)s + i, n - i, &cp);
		if (l <= 0)
			return false;
		if ((cp < 0x20 && cp != '\t' && !(allow_nl && cp == '\n')) ||
		    cp == 0x7f)
			return false;
		i += (size_t)l;
	}
	return true;
}

static int
valid_pin_hash(const char *s)
{
	size_t n = strlen(s);

	return strncmp(s, "$argon2id$v=19$m=", 17) == 0 &&
	    n < POLICY_PIN_STR_MAX && text_ok(s, n, false) &&
	    strchr(s, ' ') == NULL;
}

/*
 * Canonical text of allowed_hours ("mon-fri 15:00-18:00, daily ...").
 * Each range's days are one run of days (possibly wrapping the week).
 */
static int
hours_canon(const struct policy_hours *h, size_t n, struct cl_buf *o)
{
	size_t i;
	int d, len, r = CL_OK;

	for (i = 0; i < n && r == CL_OK; i++) {
		if (i > 0)
			r = cl_buf_puts(o, ", ");
		if (r == CL_OK && h[i].days == 0x7f)
			r = cl_buf_puts(o, "daily");
		else if (r == CL_OK) {
			for (d = 0; d < 7; d++)
				if ((h[i].days >> d & 1) &&
				    !(h[i].days >> ((d + 6) % 7) & 1))
					break;
			for (len = 0; len < 7 &&
			    (h[i].days >> ((d + len) % 7) & 1); len++)
				;
			r = cl_buf_printf(o, "%s%s%s", day_names[d],
			    len > 1 ? "-" : "",
			    len > 1 ? day_names[(d + len - 1) % 7] : "");
		}
		if (r == CL_OK)
			r = cl_buf_printf(o, " %02d:%02d-%02d:%02d",
			    h[i].start_min / 60, h[i].start_min % 60,
			    h[i].end_min / 60, h[i].end_min % 60);
	}
	return r;
}

/*
 * Bound a pattern's complexity before regcomp(), whose memory use grows
 * very fast with stacked and counted repetitions ("a+++++..." took more
 * than 2 GB in fuzzing).  Rules: no quantifier directly after another
 * (undefined in POSIX anyway), at most 32 quantifiers, groups nested at
 * most 8 deep, counted repetitions {n,m} with m at most 100 and at most
 * 256 in all.  Returns NULL or what is wrong.
 */
static const char *
pattern_too_complex(const char *s)
{
	int depth = 0, n_quant = 0, sum = 0, v, hi;
	bool prev_quant = false;
	const char *p = s;

	while (*p != '\0') {
		if (*p == '\\') {
			if (p[1] == '\0')
				break;
			p += 2;
			prev_quant = false;
			continue;
		}
		if (*p == '[') {
			/* A bracket expression: ']' first is literal. */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p != '\0' && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '.' ||
				    p[1] == '=')) {
					char c = p[1];

					p += 2;
					while (*p != '\0' && !(p[0] == c &&
					    p[1] == ']'))
						p++;
					if (*p != '\0')
						p += 2;
					continue;
				}
				p++;
			}
			if (*p == ']')
				p++;
			prev_quant = false;
			continue;
		}
		if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
			if (prev_quant)
				return "two repetition operators in a row";
			if (++n_quant > 32)
				return "more than 32 repetition operators";
			if (*p == '{') {
				hi = 0;
				v = 0;
				for (p++; *p != '\0' && *p != '}'; p++) {
					if (*p >= '0' && *p <= '9') {
						v = v * 10 + (*p - '0');
						if (v > 1000)
							v = 1000;
					} else
						v = 0;
					if (v > hi)
						hi = v;
				}
				if (hi > 100)
					return "a counted repetition above 100";
				sum += hi;
				if (sum > 256)
					return "counted repetitions above 256 "
					    "in all";
				if (*p == '}')
					p++;
			} else
				p++;
			prev_quant = true;
			continue;
		}
		if (*p == '(' && ++depth > 8)
			return "groups nested more than 8 deep";
		if (*p == ')' && depth > 0)
			depth--;
		prev_quant = false;
		p++;
	}
	return NULL;
}

/*
 * Apply one "key = value" whose value starts at lx->pos to `pr`,
 * replacing what was there.  On return lx->pos is at the end of the
 * value (the comment or the end of its last line).
 */
static int
apply(struct lex *lx, const struct key *k, struct policy_profile *pr)
{
	struct item it = { NULL, 0, 0, false };
	struct policy_hours hours[POLICY_HOURS_MAX];
	struct cl_buf htext = CL_BUF_INIT;
	char **v = NULL, *s;
	uint8_t (*models)[32] = NULL;
	size_t n = 0, cap = 0, i, max;
	unsigned mask;
	uint64_t u;
	double d;
	bool more, bv = false, first = true, kw = false;
	regex_t re;
	int r = CL_EINTERNAL, rc;
	const char *why;
	char rerr[80];

	switch (k->type) {
	case K_TERMS:
	case K_PATTERNS:
	case K_PII:
	case K_MODELS:
	case K_HOURS:
		break;
	default:
		if ((r = read_item(lx, true, &it)) != CL_OK)
			goto out;
		if ((r = after_item(lx, k->name, false, &more)) != CL_OK)
			goto out;
		break;
	}

	switch (k->type) {
	case K_COUNT:
	case K_QUOTA:
		if ((r = parse_count(lx, k, &it, &u)) != CL_OK)
			goto out;
		*FIELD(pr, k, uint64_t) = u;
		break;
	case K_REAL:
		if ((r = parse_real(lx, k, &it, &d)) != CL_OK)
			goto out;
		*FIELD(pr, k, double) = d;
		break;
	case K_TOPK:
	case K_WINDOW:
		if ((r = parse_count(lx, k, &it, &u)) != CL_OK)
			goto out;
		max = k->type == K_TOPK ? 100000 : POLICY_WINDOW_MAX;
		if (u == POLICY_UNLIMITED && k->type == K_TOPK) {
			*FIELD(pr, k, uint32_t) = UINT32_MAX;
			break;
		}
		if (u == POLICY_UNLIMITED || u > max ||
		    (k->type == K_WINDOW && u < 16)) {
			r = lex_err(lx, it.at, "'%s' must be between %u and "
			    "%zu, found '%.24s'", k->name,
			    k->type == K_WINDOW ? 16u : 1u, max, it.s);
			goto out;
		}
		*FIELD(pr, k, uint32_t) = (uint32_t)u;
		break;
	case K_TIMEOUT:
		if ((r = parse_real(lx, k, &it, &d)) != CL_OK)
			goto out;
		*FIELD(pr, k, unsigned) = (unsigned)lround(d * 1000.0);
		break;
	case K_BOOL:
		if ((r = parse_bool(lx, k, &it, &bv)) != CL_OK)
			goto out;
		*FIELD(pr, k, bool) = bv;
		break;
	case K_ACTION:
		if (is_word(&it, "refuse"))
			pr->on_block = POLICY_ACTION_REFUSE;
		else if (is_word(&it, "stop"))
			pr->on_block = POLICY_ACTION_STOP;
		else if (is_word(&it, "redact"))
			pr->on_block = POLICY_ACTION_REDACT;
		else {
			r = lex_err(lx, it.at, "expected 'refuse', 'stop' or "
			    "'redact' after 'on_block =', found '%.24s'",
			    it.s);
			goto out;
		}
		break;
	case K_AUDIT:
		if (is_word(&it, "off"))
			pr->audit = POLICY_AUDIT_OFF;
		else if (is_word(&it, "metadata"))
			pr->audit = POLICY_AUDIT_METADATA;
		else if (is_word(&it, "full"))
			pr->audit = POLICY_AUDIT_FULL;
		else {
			r = lex_err(lx, it.at, "expected 'off', 'metadata' or "
			    "'full' after 'audit =', found '%.24s'", it.s);
			goto out;
		}
		break;
	case K_STRING:
		if (is_word(&it, "none")) {
			cl_free(pr->system_prompt);
			pr->system_prompt = NULL;
			break;
		}
		if (it.n > POLICY_PROMPT_MAX) {
			r = lex_err(lx, it.at, "system_prompt is longer than "
			    "%d bytes", POLICY_PROMPT_MAX);
			goto out;
		}
		if (!text_ok(it.s, it.n, true)) {
			r = lex_err(lx, it.at, "system_prompt holds a control "
			    "character or invalid UTF-8");
			goto out;
		}
		cl_free(pr->system_prompt);
		pr->system_prompt = it.s;
		it.s = NULL;
		break;
	case K_PATH:
		if (is_word(&it, "none")) {
			cl_free(*FIELD(pr, k, char *));
			*FIELD(pr, k, char *) = NULL;
			break;
		}
		if (it.s[0] != '/' || it.n > 4096 ||
		    !text_ok(it.s, it.n, false)) {
			r = lex_err(lx, it.at, "expected an absolute path "
			    "after '%s =', found '%.24s'", k->name, it.s);
			goto out;
		}
		cl_free(*FIELD(pr, k, char *));
		*FIELD(pr, k, char *) = it.s;
		it.s = NULL;
		break;
	case K_PIN:
		if (is_word(&it, "none")) {
			cl_free(pr->pin);
			pr->pin = NULL;
			break;
		}
		if (!valid_pin_hash(it.s)) {
			r = lex_err(lx, it.at, "expected an Argon2id hash "
			    "('$argon2id$v=19$m=...', made by 'cloister policy "
			    "set-pin') after 'pin ='");
			goto out;
		}
		cl_free(pr->pin);
		pr->pin = it.s;
		it.s = NULL;
		break;
	case K_TERMS:
	case K_PATTERNS:
		max = k->type == K_TERMS ? POLICY_TERMS_MAX :
		    POLICY_PATTERNS_MAX;
		for (;;) {
			if ((r = read_item(lx, false, &it)) != CL_OK)
				goto out;
			if (first && is_word(&it, "none")) {
				kw = true;
			} else if (kw) {
				r = lex_err(lx, it.at, "'none' must be the "
				    "only value of '%s'", k->name);
				goto out;
			} else {
				if (n == max) {
					r = lex_err(lx, it.at, "more than %zu "
					    "items in '%s'", max, k->name);
					goto out;
				}
				if (k->type == K_TERMS) {
					if (it.n > POLICY_TERM_MAX ||
					    !text_ok(it.s, it.n, false)) {
						r = lex_err(lx, it.at, "a block "
						    "term must be at most %d "
						    "bytes of text without "
						    "control characters",
						    POLICY_TERM_MAX);
						goto out;
					}
					s = term_normalize(it.s, it.n);
					if (s == NULL) {
						r = nomem(lx);
						goto out;
					}
					if (*s == '\0') {
						cl_free(s);
						r = lex_err(lx, it.at, "empty "
						    "block term");
						goto out;
					}
				} else {
					if (it.n > POLICY_PATTERN_MAX ||
					    it.n == 0 ||
					    !text_ok(it.s, it.n, false)) {
						r = lex_err(lx, it.at, "a block "
						    "pattern must be 1 to %d "
						    "bytes of text",
						    POLICY_PATTERN_MAX);
						goto out;
					}
					if ((why = pattern_too_complex(it.s))
					    != NULL) {
						r = lex_err(lx, it.at, "block "
						    "pattern too complex: %s",
						    why);
						goto out;
					}
					rc = regcomp(&re, it.s, REG_EXTENDED |
					    REG_ICASE);
					if (rc != 0) {
						regerror(rc, &re, rerr,
						    sizeof(rerr));
						r = lex_err(lx, it.at, "bad "
						    "regular expression: %s",
						    rerr);
						goto out;
					}
					regfree(&re);
					s = it.s;
					it.s = NULL;
				}
				if (n == cap) {
					char **nv;

					cap = cap ? cap * 2 : 8;
					nv = cl_realloc(v, cap * sizeof(*v));
					if (nv == NULL) {
						cl_free(s);
						r = nomem(lx);
						goto out;
					}
					v = nv;
				}
				v[n++] = s;
			}
			cl_free(it.s);
			it.s = NULL;
			first = false;
			if ((r = after_item(lx, k->name, true, &more)) != CL_OK)
				goto out;
			if (!more)
				break;
		}
		if (k->type == K_TERMS) {
			free_strv(pr->block_terms, pr->n_block_terms);
			pr->block_terms = v;
			pr->n_block_terms = n;
		} else {
			free_strv(pr->block_patterns, pr->n_block_patterns);
			pr->block_patterns = v;
			pr->n_block_patterns = n;
		}
		v = NULL;
		n = 0;
		break;
	case K_PII:
		mask = 0;
		for (;;) {
			if ((r = read_item(lx, false, &it)) != CL_OK)
				goto out;
			if (first && (is_word(&it, "none") ||
			    is_word(&it, "all"))) {
				kw = true;
				mask = it.s[0] == 'a' ? POLICY_PII_ALL : 0;
			} else if (kw) {
				r = lex_err(lx, it.at, "'%s' must be the only "
				    "value of 'redact'", mask ? "all" : "none");
				goto out;
			} else {
				for (i = 0; i < CL_ARRAY_LEN(pii_kinds); i++)
					if (is_word(&it, pii_kinds[i].name))
						break;
				if (i == CL_ARRAY_LEN(pii_kinds)) {
					r = lex_err(lx, it.at, "unknown kind "
					    "'%.24s' in 'redact' (expected "
					    "email, phone, card, ssn, iban, "
					    "ip, date, all or none)", it.s);
					goto out;
				}
				mask |= pii_kinds[i].bit;
			}
			cl_free(it.s);
			it.s = NULL;
			first = false;
			if ((r = after_item(lx, k->name, true, &more)) != CL_OK)
				goto out;
			if (!more)
				break;
		}
		pr->redact = mask;
		break;
	case K_MODELS:
		for (;;) {
			if ((r = read_item(lx, false, &it)) != CL_OK)
				goto out;
			if (first && is_word(&it, "any")) {
				kw = true;
			} else if (kw) {
				r = lex_err(lx, it.at, "'any' must be the only "
				    "value of 'models'");
				goto out;
			} else {
				if (it.quoted || it.n != 64)
					goto badhash;
				for (i = 0; i < 64; i++)
					if (hexval((unsigned char)it.s[i]) < 0)
						goto badhash;
				if (n == POLICY_MODELS_MAX) {
					r = lex_err(lx, it.at, "more than %d "
					    "items in 'models'",
					    POLICY_MODELS_MAX);
					goto out;
				}
				if (n == cap) {
					uint8_t (*nm)[32];

					cap = cap ? cap * 2 : 4;
					nm = cl_realloc(models,
					    cap * sizeof(*models));
					if (nm == NULL) {
						r = nomem(lx);
						goto out;
					}
					models = nm;
				}
				for (i = 0; i < 32; i++)
					models[n][i] = (uint8_t)(
					    hexval((unsigned char)it.s[2 * i])
					    << 4 | hexval((unsigned char)
					    it.s[2 * i + 1]));
				n++;
			}
			cl_free(it.s);
			it.s = NULL;
			first = false;
			if ((r = after_item(lx, k->name, true, &more)) != CL_OK)
				goto out;
			if (!more)
				break;
		}
		cl_free(pr->models);
		pr->models = models;
		pr->n_models = n;
		models = NULL;
		n = 0;
		break;
	case K_HOURS:
		for (;;) {
			if ((r = read_item(lx, false, &it)) != CL_OK)
				goto out;
			if (first && is_word(&it, "always")) {
				kw = true;
			} else if (kw) {
				r = lex_err(lx, it.at, "'always' must be the "
				    "only value of 'allowed_hours'");
				goto out;
			} else {
				if (n == POLICY_HOURS_MAX) {
					r = lex_err(lx, it.at, "more than %d "
					    "ranges in 'allowed_hours'",
					    POLICY_HOURS_MAX);
					goto out;
				}
				if ((r = parse_hours_item(lx, &it,
				    &hours[n])) != CL_OK)
					goto out;
				n++;
			}
			cl_free(it.s);
			it.s = NULL;
			first = false;
			if ((r = after_item(lx, k->name, true, &more)) != CL_OK)
				goto out;
			if (!more)
				break;
		}
		if (hours_canon(hours, n, &htext) != CL_OK) {
			r = nomem(lx);
			goto out;
		}
		cl_free(pr->hours);
		cl_free(pr->hours_text);
		pr->hours = NULL;
		pr->hours_text = NULL;
		pr->n_hours = 0;
		if (n > 0) {
			pr->hours = cl_calloc(n, sizeof(*pr->hours));
			if (pr->hours == NULL) {
				r = nomem(lx);
				goto out;
			}
			memcpy(pr->hours, hours, n * sizeof(*hours));
			pr->n_hours = n;
			pr->hours_text = cl_buf_steal(&htext, NULL);
		}
		break;
	}
	r = CL_OK;
	goto out;
badhash:
	r = lex_err(lx, it.at, "expected a SHA-256 hash (64 hex digits) in "
	    "'models', found '%.24s'", it.s);
out:
	cl_free(it.s);
	free_strv(v, n);
	cl_free(models);
	cl_buf_release(&htext);
	return r;
}

/* --------------------------------------------------------------- passes */

struct entry {
	const struct key *key;
	size_t		  pos;		/* offset of the value */
	unsigned	  line;
	size_t		  line_start;
};

struct section {
	char		*name;		/* "default" or the profile name */
	unsigned	 line;		/* of the header */
	struct entry	 entries[N_KEYS];
	size_t		 n_entries;
	uint32_t	 seen;		/* bit per key index */
};

static void
sections_free(struct section *s, size_t n)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < n; i++)
		cl_free(s[i].name);
	cl_free(s);
}

static const struct key *
find_key(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (strlen(keys[i].name) == n &&
		    memcmp(keys[i].name, s, n) == 0)
			return &keys[i];
	return NULL;
}

static bool
name_char(int c, bool first)
{
	if (c >= 'a' && c <= 'z')
		return true;
	return !first && ((c >= '0' && c <= '9') || c == '_' || c == '-');
}

/*
 * "[default]" or "[profile NAME]" at lx->pos (a '['), filling
 * secs[n_sec].
 */
static int
parse_header(struct lex *lx, struct section *secs, size_t n_sec)
{
	struct section *sec = &secs[n_sec];
	size_t p, w, e;
	char f[40];
	size_t i;

	p = skip_blank(lx, lx->pos + 1);
	for (w = p; w < lx->len && lx->t[w] >= 'a' && lx->t[w] <= 'z'; w++)
		;
	if (w - p == 7 && memcmp(lx->t + p, "default", 7) == 0) {
		if (n_sec > 0)
			return lex_err(lx, p, "[default] must come before every "
			    "[profile] and appear once");
		sec->name = cl_strdup("default");
		if (sec->name == NULL)
			return nomem(lx);
		e = w;
	} else if (w - p == 7 && memcmp(lx->t + p, "profile", 7) == 0 &&
	    w < lx->len && (lx->t[w] == ' ' || lx->t[w] == '\t')) {
		p = skip_blank(lx, w);
		for (e = p; e < lx->len && name_char(lx->t[e], e == p); e++)
			;
		if (e == p || e - p > POLICY_NAME_MAX) {
			found_at(lx, p, f, sizeof(f));
			return lex_err(lx, p, "expected a profile name (a-z, "
			    "then a-z 0-9 _ -, at most %d), found %s",
			    POLICY_NAME_MAX, f);
		}
		if (e - p == 7 && memcmp(lx->t + p, "default", 7) == 0)
			return lex_err(lx, p, "'default' is not a profile name; "
			    "write [default]");
		for (i = 0; i < n_sec; i++)
			if (strlen(secs[i].name) == e - p &&
			    memcmp(secs[i].name, lx->t + p, e - p) == 0)
				return lex_err(lx, p, "profile '%.*s' is "
				    "defined twice", (int)(e - p), lx->t + p);
		sec->name = cl_strndup(lx->t + p, e - p);
		if (sec->name == NULL)
			return nomem(lx);
	} else {
		found_at(lx, p, f, sizeof(f));
		return lex_err(lx, p, "expected 'default' or 'profile NAME' "
		    "in a section header, found %s", f);
	}
	e = skip_blank(lx, e);
	if (e >= lx->len || lx->t[e] != ']') {
		found_at(lx, e, f, sizeof(f));
		return lex_err(lx, e, "expected ']', found %s", f);
	}
	e = skip_blank(lx, e + 1);
	if (!at_eol(lx, e) && lx->t[e] != '#') {
		found_at(lx, e, f, sizeof(f));
		return lex_err(lx, e, "expected end of line after the section "
		    "header, found %s", f);
	}
	sec->line = lx->line;
	lx->pos = e;
	return CL_OK;
}

/* Check the whole file is UTF-8 without NUL; report the first bad byte. */
static int
check_bytes(struct lex *lx)
{
	size_t i = 0, ls = 0;
	unsigned line = 1;
	uint32_t cp;
	int l;

	while (i < lx->len) {
		if (lx->t[i] == '\n') {
			line++;
			ls = ++i;
			continue;
		}
		l = u8_decode((const unsigned char *)lx->t + i, lx->len - i,
		    &cp);
		if (l <= 0 || cp == 0) {
			lx->line = line;
			lx->line_start = ls;
			return lex_err(lx, i, cp == 0 && l > 0 ?
			    "unexpected NUL byte" : "invalid UTF-8");
		}
		if (i + (size_t)l - ls > POLICY_LINE_MAX) {
			lx->line = line;
			lx->line_start = ls;
			return lex_err(lx, i, "line longer than %d bytes",
			    POLICY_LINE_MAX);
		}
		i += (size_t)l;
	}
	return CL_OK;
}

static int
resolve(struct lex *lx, const struct section *dflt,
    const struct section *sec, struct policy_profile **out)
{
	struct policy_profile *pr;
	const struct section *pass[2] = { dflt, sec };
	size_t i, j;
	int r, rc;

	*out = NULL;
	if ((pr = cl_calloc(1, sizeof(*pr))) == NULL)
		return nomem(lx);
	profile_defaults(pr);
	pr->name = cl_strdup(sec != NULL ? sec->name : "default");
	if (pr->name == NULL) {
		r = nomem(lx);
		goto out;
	}
	for (i = 0; i < 2; i++) {
		if (pass[i] == NULL || (i == 1 && pass[1] == pass[0]))
			continue;
		for (j = 0; j < pass[i]->n_entries; j++) {
			lx->pos = pass[i]->entries[j].pos;
			lx->line = pass[i]->entries[j].line;
			lx->line_start = pass[i]->entries[j].line_start;
			if ((r = apply(lx, pass[i]->entries[j].key, pr)) !=
			    CL_OK)
				goto out;
		}
	}
	if (pr->repeat_penalty_min > pr->repeat_penalty_max) {
		r = cl_errf(lx->err, CL_EFORMAT, "%s:%u: profile '%s': "
		    "repeat_penalty_min is above repeat_penalty_max", lx->name,
		    sec != NULL ? sec->line : (dflt ? dflt->line : 1),
		    pr->name);
		goto out;
	}
	if (pr->n_block_patterns > 0) {
		pr->compiled = cl_calloc(1, sizeof(*pr->compiled));
		if (pr->compiled == NULL ||
		    (pr->compiled->re = cl_calloc(pr->n_block_patterns,
		    sizeof(regex_t))) == NULL) {
			r = nomem(lx);
			goto out;
		}
		for (i = 0; i < pr->n_block_patterns; i++) {
			rc = regcomp(&pr->compiled->re[i], pr->block_patterns[i],
			    REG_EXTENDED | REG_ICASE);
			if (rc != 0) {
				/* Compiled in pass 1 already: only ENOMEM. */
				r = nomem(lx);
				goto out;
			}
			pr->compiled->n_re++;
		}
	}
	*out = pr;
	pr = NULL;
	r = CL_OK;
out:
	profile_free(pr);
	return r;
}

int
policy_parse(const char *name, const char *text, size_t len,
    struct policy **out, struct cl_err *err)
{
	struct lex lx;
	struct section *secs = NULL, *cur = NULL, *dflt = NULL;
	struct policy_profile *scratch = NULL;
	struct policy *pol = NULL;
	size_t n_secs = 0, p, w, i;
	const struct key *k;
	char f[40];
	int r = CL_EINTERNAL;

	*out = NULL;
	memset(&lx, 0, sizeof(lx));
	lx.name = name != NULL ? name : "policy";
	lx.t = text;
	lx.len = len;
	lx.line = 1;
	lx.err = err;
	if (len > POLICY_FILE_MAX)
		return cl_errf(err, CL_ELIMIT, "%s: larger than %d bytes",
		    lx.name, POLICY_FILE_MAX);
	if ((r = check_bytes(&lx)) != CL_OK)
		return r;
	lx.line = 1;
	lx.line_start = 0;
	secs = cl_calloc(POLICY_PROFILES_MAX + 1, sizeof(*secs));
	if (secs == NULL) {
		r = nomem(&lx);
		goto out;
	}

	/* Pass 1: sections and entries, every value checked. */
	while (lx.pos < lx.len) {
		p = skip_blank(&lx, lx.pos);
		if (at_eol(&lx, p) || lx.t[p] == '#') {
			next_line(&lx);
			continue;
		}
		if (lx.t[p] == '[') {
			if (n_secs - (dflt != NULL) == POLICY_PROFILES_MAX) {
				r = lex_err(&lx, p, "more than %d profiles",
				    POLICY_PROFILES_MAX);
				goto out;
			}
			lx.pos = p;
			if ((r = parse_header(&lx, secs, n_secs)) !=
			    CL_OK)
				goto out;
			cur = &secs[n_secs++];
			if (strcmp(cur->name, "default") == 0)
				dflt = cur;
			profile_free(scratch);
			if ((scratch = cl_calloc(1, sizeof(*scratch))) ==
			    NULL) {
				r = nomem(&lx);
				goto out;
			}
			profile_defaults(scratch);
			next_line(&lx);
			continue;
		}
		for (w = p; w < lx.len && ((lx.t[w] >= 'a' &&
		    lx.t[w] <= 'z') || lx.t[w] == '_'); w++)
			;
		if (w == p) {
			found_at(&lx, p, f, sizeof(f));
			r = lex_err(&lx, p, "expected a key or a section "
			    "header, found %s", f);
			goto out;
		}
		if ((k = find_key(lx.t + p, w - p)) == NULL) {
			found_at(&lx, p, f, sizeof(f));
			r = lex_err(&lx, p, "unknown key %s", f);
			goto out;
		}
		if (cur == NULL) {
			r = lex_err(&lx, p, "'%s' outside a section (start with "
			    "[default] or [profile NAME])", k->name);
			goto out;
		}
		if (cur->seen & (1u << (k - keys))) {
			r = lex_err(&lx, p, "'%s' is set twice in [%s%s]",
			    k->name, cur == dflt ? "" : "profile ",
			    cur->name);
			goto out;
		}
		w = skip_blank(&lx, w);
		if (w >= lx.len || lx.t[w] != '=') {
			found_at(&lx, w, f, sizeof(f));
			r = lex_err(&lx, w, "expected '=' after '%s', found %s",
			    k->name, f);
			goto out;
		}
		cur->seen |= 1u << (k - keys);
		cur->entries[cur->n_entries].key = k;
		cur->entries[cur->n_entries].pos = w + 1;
		cur->entries[cur->n_entries].line = lx.line;
		cur->entries[cur->n_entries].line_start = lx.line_start;
		cur->n_entries++;
		lx.pos = w + 1;
		if ((r = apply(&lx, k, scratch)) != CL_OK)
			goto out;
		next_line(&lx);
	}

	/* Pass 2: resolve each profile over [default]. */
	if ((pol = cl_calloc(1, sizeof(*pol))) == NULL ||
	    (pol->profiles = cl_calloc(n_secs + 1,
	    sizeof(*pol->profiles))) == NULL) {
		r = nomem(&lx);
		goto out;
	}
	if ((r = resolve(&lx, dflt, dflt, &pol->profiles[0])) != CL_OK)
		goto out;
	pol->n_profiles = 1;
	for (i = 0; i < n_secs; i++) {
		if (&secs[i] == dflt)
			continue;
		if ((r = resolve(&lx, dflt, &secs[i],
		    &pol->profiles[pol->n_profiles])) != CL_OK)
			goto out;
		pol->n_profiles++;
	}
	*out = pol;
	pol = NULL;
	r = CL_OK;
out:
	profile_free(scratch);
	/* Every slot: a header that failed may have named its section. */
	sections_free(secs, POLICY_PROFILES_MAX + 1);
	policy_free(pol);
	return r;
}

int
policy_load(const char *path, struct policy **out, struct cl_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int fd, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return cl_errf(err, errno == ENOENT ? CL_ENOTFOUND : CL_EIO,
		    "cannot open policy '%s': %s", path, strerror(errno));
	r = cl_read_all(fd, POLICY_FILE_MAX, &text, &len, err);
	close(fd);
	if (r != CL_OK) {
		cl_err_prefix(err, "reading policy '%s'", path);
		return r;
	}
	r = policy_parse(path, text, len, out, err);
	cl_free(text);
	return r;
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_profiles; i++)
		profile_free(p->profiles[i]);
	cl_free(p->profiles);
	cl_free(p);
}

/* -------------------------------------------------------------- queries */

const struct policy_profile *
policy_profile(const struct policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n_profiles; i++)
		if (strcmp(p->profiles[i]->name, name) == 0)
			return p->profiles[i];
	return NULL;
}

size_t
policy_n_profiles(const struct policy *p)
{
	return p->n_profiles;
}

const struct policy_profile *
policy_profile_at(const struct policy *p, size_t i)
{
	return i < p->n_profiles ? p->profiles[i] : NULL;
}

bool
policy_model_is_allowed(const struct policy_profile *pr,
    const uint8_t hash[32])
{
	size_t i;

	if (pr->n_models == 0)
		return true;
	for (i = 0; i < pr->n_models; i++)
		if (memcmp(pr->models[i], hash, 32) == 0)
			return true;
	return false;
}

bool
policy_sampling_clamp(const struct policy_profile *pr,
    struct policy_sampling *s)
{
	bool changed = false;

	if (!(s->temperature <= pr->temperature_max)) {
		s->temperature = pr->temperature_max;
		changed = true;
	}
	if (pr->top_k_max != UINT32_MAX &&
	    (s->top_k == 0 || s->top_k > pr->top_k_max)) {
		s->top_k = pr->top_k_max;
		changed = true;
	}
	if (!(s->top_p <= pr->top_p_max)) {
		s->top_p = pr->top_p_max;
		changed = true;
	}
	if (!(s->min_p >= pr->min_p_min)) {
		s->min_p = pr->min_p_min;
		changed = true;
	}
	if (!(s->repeat_penalty >= pr->repeat_penalty_min)) {
		s->repeat_penalty = pr->repeat_penalty_min;
		changed = true;
	}
	if (!(s->repeat_penalty <= pr->repeat_penalty_max)) {
		s->repeat_penalty = pr->repeat_penalty_max;
		changed = true;
	}
	return changed;
}

const char *
policy_action_name(enum policy_action a)
{
	switch (a) {
	case POLICY_ACTION_REFUSE:
		return "refuse";
	case POLICY_ACTION_STOP:
		return "stop";
	case POLICY_ACTION_REDACT:
		return "redact";
	}
	return "?";
}

const char *
policy_audit_name(enum policy_audit a)
{
	switch (a) {
	case POLICY_AUDIT_OFF:
		return "off";
	case POLICY_AUDIT_METADATA:
		return "metadata";
	case POLICY_AUDIT_FULL:
		return "full";
	}
	return "?";
}

const char *
policy_pii_name(unsigned kind)
{
	size_t i;

	for (i = 0; i < CL_ARRAY_LEN(pii_kinds); i++)
		if (pii_kinds[i].bit == kind)
			return pii_kinds[i].name;
	return "?";
}

const char *
policy_pii_placeholder(unsigned kind)
{
	size_t i;

	for (i = 0; i < CL_ARRAY_LEN(pii_kinds); i++)
		if (pii_kinds[i].bit == kind)
			return pii_kinds[i].placeholder;
	return "[REDACTED]";
}

static int
describe_limit(struct cl_buf *o, const char *what, uint64_t v)
{
	if (v == POLICY_UNLIMITED)
		return cl_buf_printf(o, "  %-20s no limit\n", what);
	return cl_buf_printf(o, "  %-20s %llu\n", what, (unsigned long long)v);
}

int
policy_profile_describe(const struct policy_profile *pr, bool reveal,
    struct cl_buf *o)
{
	size_t i;
	int r = CL_OK;
	unsigned b;

	r |= cl_buf_printf(o, "profile %s\n", pr->name);
	r |= describe_limit(o, "max_output_tokens", pr->max_output_tokens);
	r |= describe_limit(o, "max_output_chars", pr->max_output_chars);
	r |= describe_limit(o, "max_prompt_tokens", pr->max_prompt_tokens);
	r |= describe_limit(o, "max_prompt_chars", pr->max_prompt_chars);
	r |= describe_limit(o, "daily_token_quota", pr->daily_token_quota);
	r |= cl_buf_printf(o, "  %-20s %s\n", "allowed_hours",
	    pr->hours_text != NULL ? pr->hours_text : "always");
	if (isfinite(pr->temperature_max))
		r |= cl_buf_printf(o, "  %-20s %g\n", "temperature_max",
		    pr->temperature_max);
	if (pr->top_k_max != UINT32_MAX)
		r |= cl_buf_printf(o, "  %-20s %u\n", "top_k_max",
		    pr->top_k_max);
	if (pr->top_p_max < 1.0)
		r |= cl_buf_printf(o, "  %-20s %g\n", "top_p_max",
		    pr->top_p_max);
	if (pr->min_p_min > 0.0)
		r |= cl_buf_printf(o, "  %-20s %g\n", "min_p_min",
		    pr->min_p_min);
	if (pr->repeat_penalty_min > 0.0 || isfinite(pr->repeat_penalty_max))
		r |= cl_buf_printf(o, "  %-20s %g..%g\n", "repeat_penalty",
		    pr->repeat_penalty_min, pr->repeat_penalty_max);
	r |= cl_buf_printf(o, "  %-20s %zu%s\n", "block_terms",
	    pr->n_block_terms, pr->n_block_terms == 0 ? "" :
	    pr->block_whole_words ? " (whole words)" : " (anywhere)");
	if (reveal)
		for (i = 0; i < pr->n_block_terms; i++)
			r |= cl_buf_printf(o, "    [%zu] \"%s\"\n", i,
			    pr->block_terms[i]);
	r |= cl_buf_printf(o, "  %-20s %zu (window %u bytes)\n",
	    "block_patterns", pr->n_block_patterns, pr->pattern_window);
	if (reveal)
		for (i = 0; i < pr->n_block_patterns; i++)
			r |= cl_buf_printf(o, "    [%zu] %s\n", i,
			    pr->block_patterns[i]);
	r |= cl_buf_printf(o, "  %-20s %s\n", "on_block",
	    policy_action_name(pr->on_block));
	r |= cl_buf_printf(o, "  %-20s", "redact");
	if (pr->redact == 0)
		r |= cl_buf_puts(o, " none");
	for (b = 1; b <= POLICY_PII_DATE; b <<= 1)
		if (pr->redact & b)
			r |= cl_buf_printf(o, " %s", policy_pii_name(b));
	r |= cl_buf_puts(o, "\n");
	r |= cl_buf_printf(o, "  %-20s %s\n", "system_prompt",
	    pr->system_prompt != NULL ? "set" : "none");
	r |= cl_buf_printf(o, "  %-20s %zu%s\n", "models", pr->n_models,
	    pr->n_models == 0 ? " (any model)" : " allowed");
	r |= cl_buf_printf(o, "  %-20s %s\n", "audit",
	    policy_audit_name(pr->audit));
	r |= cl_buf_printf(o, "  %-20s %s\n", "prompt_hook",
	    pr->prompt_hook != NULL ? pr->prompt_hook : "none");
	r |= cl_buf_printf(o, "  %-20s %s\n", "output_hook",
	    pr->output_hook != NULL ? pr->output_hook : "none");
	if (pr->prompt_hook != NULL || pr->output_hook != NULL)
		r |= cl_buf_printf(o, "  %-20s %u ms\n", "hook_timeout",
		    pr->hook_timeout_ms);
	r |= cl_buf_printf(o, "  %-20s %s\n", "pin",
	    pr->pin != NULL ? "required" : "none");
	return r == CL_OK ? CL_OK : CL_ENOMEM;
}
