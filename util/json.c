/*
 * json.c - a compact JSON writer and a bounded, strict JSON reader.
 *
 * Divisions:
 *   1. Writer: cl_json_init() ... cl_json_null(), appending to a cl_buf.
 *   2. Reader: a recursive-descent parser over (text, len) that builds a
 *      tree of struct cl_json, then cl_json_free/get/at.
 *
 * The reader follows RFC 8259 strictly and treats its input as hostile:
 * nesting is bounded (CL_JSON_MAX_DEPTH), the input need not be
 * NUL-terminated and is never read past `len`, strings must be valid
 * UTF-8, escapes are fully checked (a \uXXXX surrogate must be a proper
 * pair), and numbers must match the JSON grammar before strtod_l() sees
 * them in the C locale.  Child arrays grow geometrically, so a document
 * of a few megabytes parses in linear time.
 */
#include "config.h"	/* _GNU_SOURCE, for strtod_l() */

#include "util/util.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_JSON_MAX_DEPTH	64	/* deepest nesting the reader accepts */
#define WRITER_MAX_DEPTH \
	((int)(sizeof(((struct cl_json_writer *)0)->need_comma) / \
	    sizeof(bool)) - 1)

/* ------------------------------------------------------------------ */
/* 1. Writer                                                           */
/* ------------------------------------------------------------------ */

void
cl_json_init(struct cl_json_writer *w, struct cl_buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static void
put(struct cl_json_writer *w, const void *p, size_t n)
{
	if (w->err != CL_OK)
		return;
	w->err = cl_buf_append(w->out, p, n);
}

/* Emit the comma a new value needs, if any. */
static void
before_value(struct cl_json_writer *w)
{
	if (w->after_key)
		w->after_key = false;
	else if (w->depth > 0 && w->need_comma[w->depth])
		put(w, ",", 1);
	if (w->depth > 0)
		w->need_comma[w->depth] = true;
}

static void
open_container(struct cl_json_writer *w, char c)
{
	if (w->err != CL_OK)
		return;
	if (w->depth >= WRITER_MAX_DEPTH) {
		w->err = CL_ELIMIT;
		return;
	}
	before_value(w);
	put(w, &c, 1);
	w->depth++;
	w->need_comma[w->depth] = false;
}

static void
close_container(struct cl_json_writer *w, char c)
{
	if (w->err != CL_OK)
		return;
	if (w->depth == 0 || w->after_key) {
		w->err = CL_EINVAL;	/* unbalanced, or a key without value */
		return;
	}
	w->depth--;
	put(w, &c, 1);
}

void
cl_json_obj_begin(struct cl_json_writer *w)
{
	open_container(w, '{');
}

void
cl_json_obj_end(struct cl_json_writer *w)
{
	close_container(w, '}');
}

void
cl_json_arr_begin(struct cl_json_writer *w)
{
	open_container(w, '[');
}

void
cl_json_arr_end(struct cl_json_writer *w)
{
	close_container(w, ']');
}

/* Append `s[0..n)` as a quoted, escaped JSON string. */
static void
put_string(struct cl_json_writer *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run, k;
	uint32_t cp;
	char esc[6];

	put(w, "\"", 1);
	while (i < n && w->err == CL_OK) {
		/* Copy the longest run of bytes that need no escaping. */
		for (run = i; run < n && u[run] >= 0x20 && u[run] < 0x7f &&
		    u[run] != '"' && u[run] != '\\'; run++)
			;
		if (run > i) {
			put(w, s + i, run - i);
			i = run;
			continue;
		}
		switch (u[i]) {
		case '"':
			put(w, "\\\"", 2);
			break;
		case '\\':
			put(w, "\\\\", 2);
			break;
		case '\n':
			put(w, "\\n", 2);
			break;
		case '\r':
			put(w, "\\r", 2);
			break;
		case '\t':
			put(w, "\\t", 2);
			break;
		default:
			if (u[i] < 0x20 || u[i] == 0x7f) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[u[i] >> 4];
				esc[5] = hex[u[i] & 0xf];
				put(w, esc, 6);
				break;
			}
			if ((k = cl_utf8_decode(s + i, n - i, &cp)) == 0) {
				put(w, "\xef\xbf\xbd", 3);	/* U+FFFD */
				i++;
			} else {
				put(w, s + i, k);
				i += k;
			}
			continue;
		}
		i++;
	}
	put(w, "\"", 1);
}

void
cl_json_key(struct cl_json_writer *w, const char *key)
{
	if (w->err != CL_OK)
		return;
	if (w->depth == 0 || w->after_key) {
		w->err = CL_EINVAL;
		return;
	}
	before_value(w);
	put_string(w, key, strlen(key));
	put(w, ":", 1);
	w->after_key = true;
}

void
cl_json_strn(struct cl_json_writer *w, const char *s, size_t n)
{
	if (w->err != CL_OK)
		return;
	before_value(w);
	put_string(w, s, n);
}

void
cl_json_str(struct cl_json_writer *w, const char *s)
{
	cl_json_strn(w, s, strlen(s));
}

/* Append a preformatted scalar token. */
static void
put_scalar(struct cl_json_writer *w, const char *tok, size_t n)
{
	if (w->err != CL_OK)
		return;
	before_value(w);
	put(w, tok, n);
}

void
cl_json_int(struct cl_json_writer *w, int64_t v)
{
	char b[32];
	int n;

	n = snprintf(b, sizeof(b), "%lld", (long long)v);
	put_scalar(w, b, (size_t)n);
}

void
cl_json_uint(struct cl_json_writer *w, uint64_t v)
{
	char b[32];
	int n;

	n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	put_scalar(w, b, (size_t)n);
}

/*
 * Write `v` with `prec` significant digits.  printf follows LC_NUMERIC,
 * which the program may have set; whatever the locale's radix character
 * is (it can be several bytes), it becomes '.'.  %g never groups digits.
 */
static void
put_real(struct cl_json_writer *w, double v, int prec)
{
	char b[64], o[64];
	size_t i, j;
	bool radix = false;
	int n;

	if (!isfinite(v)) {
		put_scalar(w, "null", 4);	/* JSON has no NaN or inf */
		return;
	}
	n = snprintf(b, sizeof(b), "%.*g", prec, v);
	if (n < 0 || (size_t)n >= sizeof(b)) {
		if (w->err == CL_OK)
			w->err = CL_EINTERNAL;
		return;
	}
	for (i = j = 0; i < (size_t)n; i++) {
		if ((b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
		    b[i] == '+' || b[i] == 'e') {
			o[j++] = b[i];
		} else if (!radix) {
			o[j++] = '.';
			radix = true;
		}
	}
	put_scalar(w, o, j);
}

void
cl_json_float(struct cl_json_writer *w, float v)
{
	put_real(w, (double)v, 9);
}

void
cl_json_double(struct cl_json_writer *w, double v)
{
	put_real(w, v, 17);
}

void
cl_json_bool(struct cl_json_writer *w, bool v)
{
	if (v)
		put_scalar(w, "true", 4);
	else
		put_scalar(w, "false", 5);
}

void
cl_json_null(struct cl_json_writer *w)
{
	put_scalar(w, "null", 4);
}

/* ------------------------------------------------------------------ */
/* 2. Reader                                                           */
/* ------------------------------------------------------------------ */

struct parser {
	const unsigned char	*s;	/* input, borrowed */
	size_t			 len;	/* input length */
	size_t			 pos;	/* next byte to read */
	locale_t		 c_loc;	/* the C locale, for strtod_l */
	struct cl_err		*err;	/* where errors go, may be NULL */
};

static int parse_value(struct parser *, struct cl_json *, int);

/* A syntax error at byte `at`; `what` says what was expected. */
static int
syntax(struct parser *p, size_t at, const char *what)
{
	return cl_errf(p->err, CL_EFORMAT, "invalid JSON at byte %zu: %s",
	    at, what);
}

static int
nomem(struct parser *p)
{
	return cl_errf(p->err, CL_ENOMEM, "out of memory parsing JSON at "
	    "byte %zu", p->pos);
}

static void
skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		switch (p->s[p->pos]) {
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			p->pos++;
			break;
		default:
			return;
		}
	}
}

/* Release what `j` owns, leaving it an empty CL_JSON_NULL. */
static void
json_release(struct cl_json *j)
{
	size_t i;

	if (j->type == CL_JSON_ARR || j->type == CL_JSON_OBJ) {
		for (i = 0; i < j->n; i++) {
			json_release(&j->items[i]);
			if (j->keys != NULL)
				cl_free(j->keys[i]);
		}
	}
	cl_free(j->items);
	cl_free(j->keys);
	cl_free(j->str);
	memset(j, 0, sizeof(*j));
	j->type = CL_JSON_NULL;
}

/* Value of hex digit `c`, or -1. */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Read the 4 hex digits of a \u escape at `at` (the 'u'). */
static int
read_u16(struct parser *p, size_t at, size_t end, uint32_t *v)
{
	size_t i;
	int h;

	*v = 0;
	if (end - at < 5)
		return syntax(p, at, "expected 4 hex digits after \\u");
	for (i = 1; i <= 4; i++) {
		if ((h = hexval(p->s[at + i])) < 0)
			return syntax(p, at + i,
			    "expected 4 hex digits after \\u");
		*v = *v << 4 | (uint32_t)h;
	}
	return CL_OK;
}

/*
 * Parse the string starting at the '"' under p->pos.  On success *out is
 * a NUL-terminated UTF-8 copy (caller frees) of *out_len bytes.
 */
static int
parse_string(struct parser *p, char **out, size_t *out_len)
{
	const unsigned char *s = p->s;
	size_t start = p->pos + 1, end, i, k, o = 0;
	uint32_t cp, lo;
	char *buf = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	/* Pass 1: find the closing quote; raw control bytes are illegal. */
	for (end = start; end < p->len && s[end] != '"'; end++) {
		if (s[end] < 0x20) {
			r = syntax(p, end, "control character in string "
			    "(expected it escaped)");
			goto out;
		}
		if (s[end] == '\\' && ++end == p->len)
			break;
	}
	if (end >= p->len) {
		r = syntax(p, p->pos, "unterminated string");
		goto out;
	}
	/* Pass 2: unescape; the result is never longer than the source. */
	if ((buf = cl_malloc(end - start + 1)) == NULL) {
		r = nomem(p);
		goto out;
	}
	for (i = start; i < end; ) {
		if (s[i] >= 0x20 && s[i] < 0x80 && s[i] != '\\') {
			buf[o++] = (char)s[i++];
			continue;
		}
		if (s[i] != '\\') {
			if ((k = cl_utf8_decode((const char *)s + i, end - i,
			    &cp)) == 0) {
				r = syntax(p, i, "invalid UTF-8 in string");
				goto out;
			}
			memcpy(buf + o, s + i, k);
			o += k;
			i += k;
			continue;
		}
		i++;			/* the backslash; pass 1 saw s[i] */
		switch (s[i]) {
		case '"':
		case '\\':
		case '/':
			buf[o++] = (char)s[i++];
			continue;
		case 'b':
			buf[o++] = '\b';
			i++;
			continue;
		case 'f':
			buf[o++] = '\f';
			i++;
			continue;
		case 'n':
			buf[o++] = '\n';
			i++;
			continue;
		case 'r':
			buf[o++] = '\r';
			i++;
			continue;
		case 't':
			buf[o++] = '\t';
			i++;
			continue;
		case 'u':
			break;
		default:
			r = syntax(p, i - 1, "invalid escape (expected one "
			    "of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
			goto out;
		}
		if ((r = read_u16(p, i, end, &cp)) != CL_OK)
			goto out;
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			r = syntax(p, i - 1, "unpaired low surrogate escape");
			goto out;
		}
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - i < 7 || s[i + 5] != '\\' ||
			    s[i + 6] != 'u') {
				r = syntax(p, i - 1, "high surrogate escape "
				    "not followed by a low surrogate escape");
				goto out;
			}
			if ((r = read_u16(p, i + 6, end, &lo)) != CL_OK)
				goto out;
			if (lo < 0xdc00 || lo > 0xdfff) {
				r = syntax(p, i + 5, "expected a low "
				    "surrogate escape after a high surrogate");
				goto out;
			}
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			i += 6;
		}
		if (cp == 0) {
			r = syntax(p, i - 1, "\\u0000 is not allowed");
			goto out;
		}
		o += cl_utf8_encode(cp, buf + o);
		i += 5;
	}
	buf[o] = '\0';
	p->pos = end + 1;
	*out = buf;
	*out_len = o;
	buf = NULL;
	r = CL_OK;
out:
	cl_free(buf);
	return r;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Parse a number per the RFC 8259 grammar at p->pos. */
static int
parse_number(struct parser *p, struct cl_json *out)
{
	const unsigned char *s = p->s;
	size_t start = p->pos, i = p->pos, n;
	char small[64], *tok = small, *endp;
	double v;
	int r;

	if (i < p->len && s[i] == '-')
		i++;
	if (i == p->len || !is_digit(s[i]))
		return syntax(p, i, "expected a digit");
	if (s[i] == '0') {
		i++;
		if (i < p->len && is_digit(s[i]))
			return syntax(p, i, "leading zeros are not allowed");
	} else {
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	if (i < p->len && s[i] == '.') {
		i++;
		if (i == p->len || !is_digit(s[i]))
			return syntax(p, i, "expected a digit after '.'");
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < p->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == p->len || !is_digit(s[i]))
			return syntax(p, i, "expected a digit in exponent");
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	/* The input need not be NUL-terminated: give strtod a copy. */
	n = i - start;
	if (n >= sizeof(small) && (tok = cl_malloc(n + 1)) == NULL)
		return nomem(p);
	memcpy(tok, s + start, n);
	tok[n] = '\0';
	v = strtod_l(tok, &endp, p->c_loc);
	if (endp != tok + n) {
		r = cl_errf(p->err, CL_EINTERNAL, "number at byte %zu not "
		    "fully converted", start);
		goto out;
	}
	if (!isfinite(v)) {
		r = syntax(p, start, "number out of range");
		goto out;
	}
	out->type = CL_JSON_NUM;
	out->num = v;
	p->pos = i;
	r = CL_OK;
out:
	if (tok != small)
		cl_free(tok);
	return r;
}

static int
parse_literal(struct parser *p, struct cl_json *out)
{
	static const struct {
		const char		*word;
		enum cl_json_type	 type;
		bool			 b;
	} lit[] = {
		{ "true", CL_JSON_BOOL, true },
		{ "false", CL_JSON_BOOL, false },
		{ "null", CL_JSON_NULL, false },
	};
	size_t i, n;

	for (i = 0; i < CL_ARRAY_LEN(lit); i++) {
		n = strlen(lit[i].word);
		if (p->len - p->pos >= n &&
		    memcmp(p->s + p->pos, lit[i].word, n) == 0) {
			out->type = lit[i].type;
			out->b = lit[i].b;
			p->pos += n;
			return CL_OK;
		}
	}
	return syntax(p, p->pos, "expected a value");
}

/* Make room for one more child in items[] (and keys[] if non-NULL). */
static int
grow(struct parser *p, struct cl_json **items, char ***keys, size_t n,
    size_t *cap)
{
	size_t ncap, sz;
	struct cl_json *ni;
	char **nk;

	if (n < *cap)
		return CL_OK;
	ncap = *cap == 0 ? 4 : *cap;
	if ((*cap != 0 && !cl_mul_size(ncap, 2, &ncap)) ||
	    !cl_mul_size(ncap, sizeof(**items), &sz))
		return nomem(p);
	if ((ni = cl_realloc(*items, sz)) == NULL)
		return nomem(p);
	*items = ni;
	if (keys != NULL) {
		if (!cl_mul_size(ncap, sizeof(**keys), &sz))
			return nomem(p);
		if ((nk = cl_realloc(*keys, sz)) == NULL)
			return nomem(p);
		*keys = nk;
	}
	*cap = ncap;
	return CL_OK;
}

static int
parse_array(struct parser *p, struct cl_json *out, int depth)
{
	struct cl_json *items = NULL;
	size_t n = 0, cap = 0, i;
	int r;

	p->pos++;			/* '[' */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		goto done;
	}
	for (;;) {
		if ((r = grow(p, &items, NULL, n, &cap)) != CL_OK)
			goto out;
		memset(&items[n], 0, sizeof(items[n]));
		if ((r = parse_value(p, &items[n], depth)) != CL_OK)
			goto out;
		n++;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			skip_ws(p);
			if (p->pos < p->len && p->s[p->pos] == ']') {
				r = syntax(p, p->pos, "trailing comma "
				    "(expected a value)");
				goto out;
			}
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == ']') {
			p->pos++;
			break;
		}
		r = syntax(p, p->pos, "expected ',' or ']' in array");
		goto out;
	}
done:
	out->type = CL_JSON_ARR;
	out->items = items;
	out->n = n;
	items = NULL;
	n = 0;
	r = CL_OK;
out:
	for (i = 0; i < n; i++)
		json_release(&items[i]);
	cl_free(items);
	return r;
}

static int
cmp_keyp(const void *a, const void *b, void *arg)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Reject an object with two members of the same name (RFC 8259 leaves
 * the meaning open; parsers disagree on which wins, so an attacker could
 * show cloister one value and another tool a different one).  Small
 * objects are compared pairwise; larger ones via a sorted copy, so a
 * hostile object with many keys costs O(n log n).
 */
static int
check_dup_keys(struct parser *p, char **keys, size_t n, size_t obj_at)
{
	char **sorted = NULL;
	size_t i, j;
	bool dup = false;

	if (n <= 8) {
		for (i = 0; i < n && !dup; i++)
			for (j = i + 1; j < n && !dup; j++)
				dup = strcmp(keys[i], keys[j]) == 0;
	} else {
		if ((sorted = cl_calloc(n, sizeof(*sorted))) == NULL)
			return nomem(p);
		memcpy(sorted, keys, n * sizeof(*sorted));
		cl_sort(sorted, n, sizeof(*sorted), cmp_keyp, NULL);
		for (i = 1; i < n && !dup; i++)
			dup = strcmp(sorted[i - 1], sorted[i]) == 0;
		cl_free(sorted);
	}
	if (dup)
		return syntax(p, obj_at, "duplicate key in object");
	return CL_OK;
}

static int
parse_object(struct parser *p, struct cl_json *out, int depth)
{
	struct cl_json *items = NULL;
	char **keys = NULL, *key = NULL;
	size_t obj_at = p->pos, n = 0, cap = 0, i, klen;
	int r;

	p->pos++;			/* '{' */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		goto done;
	}
	for (;;) {
		skip_ws(p);
		if (p->pos == p->len || p->s[p->pos] != '"') {
			r = syntax(p, p->pos, n > 0 && p->pos < p->len &&
			    p->s[p->pos] == '}' ? "trailing comma (expected "
			    "a string key)" : "expected a string key");
			goto out;
		}
		if ((r = parse_string(p, &key, &klen)) != CL_OK)
			goto out;
		skip_ws(p);
		if (p->pos == p->len || p->s[p->pos] != ':') {
			r = syntax(p, p->pos, "expected ':' after key");
			goto out;
		}
		p->pos++;
		if ((r = grow(p, &items, &keys, n, &cap)) != CL_OK)
			goto out;
		memset(&items[n], 0, sizeof(items[n]));
		if ((r = parse_value(p, &items[n], depth)) != CL_OK)
			goto out;
		keys[n++] = key;
		key = NULL;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == '}') {
			p->pos++;
			break;
		}
		r = syntax(p, p->pos, "expected ',' or '}' in object");
		goto out;
	}
	if ((r = check_dup_keys(p, keys, n, obj_at)) != CL_OK)
		goto out;
done:
	out->type = CL_JSON_OBJ;
	out->items = items;
	out->keys = keys;
	out->n = n;
	items = NULL;
	keys = NULL;
	n = 0;
	r = CL_OK;
out:
	for (i = 0; i < n; i++) {
		json_release(&items[i]);
		cl_free(keys[i]);
	}
	cl_free(items);
	cl_free(keys);
	cl_free(key);
	return r;
}

/*
 * Parse one value into *out (which is all zero).  On failure *out is left
 * all zero.  `depth` is the number of containers already open.
 */
static int
parse_value(struct parser *p, struct cl_json *out, int depth)
{
	unsigned char c;
	int r;

	skip_ws(p);
	if (p->pos == p->len)
		return syntax(p, p->pos, "expected a value, found the end "
		    "of the input");
	c = p->s[p->pos];
	switch (c) {
	case '{':
	case '[':
		if (depth >= CL_JSON_MAX_DEPTH)
			return cl_errf(p->err, CL_ELIMIT, "invalid JSON at "
			    "byte %zu: nesting deeper than %d", p->pos,
			    CL_JSON_MAX_DEPTH);
		if (c == '{')
			return parse_object(p, out, depth + 1);
		return parse_array(p, out, depth + 1);
	case '"':
		if ((r = parse_string(p, &out->str, &out->str_len)) == CL_OK)
			out->type = CL_JSON_STR;
		return r;
	case 't':
	case 'f':
	case 'n':
		return parse_literal(p, out);
	default:
		if (c == '-' || is_digit(c))
			return parse_number(p, out);
		return syntax(p, p->pos, "expected a value");
	}
}

int
cl_json_parse(const char *text, size_t len, struct cl_json **out,
    struct cl_err *err)
{
	struct parser p;
	struct cl_json *root = NULL;
	int r;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.s = (const unsigned char *)text;
	p.len = len;
	p.err = err;
	/* glibc returns its static C locale here; others may allocate. */
	if ((p.c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0)) ==
	    (locale_t)0) {
		r = cl_errf(err, CL_ENOMEM, "cannot create the C locale");
		goto out;
	}
	if ((root = cl_calloc(1, sizeof(*root))) == NULL) {
		r = nomem(&p);
		goto out;
	}
	if ((r = parse_value(&p, root, 0)) != CL_OK)
		goto out;
	skip_ws(&p);
	if (p.pos != p.len) {
		r = syntax(&p, p.pos, "unexpected data after the JSON value "
		    "(expected the end of the input)");
		goto out;
	}
	*out = root;
	root = NULL;
	r = CL_OK;
out:
	cl_json_free(root);
	if (p.c_loc != (locale_t)0)
		freelocale(p.c_loc);
	return r;
}

void
cl_json_free(struct cl_json *j)
{
	if (j == NULL)
		return;
	json_release(j);
	cl_free(j);
}

const struct cl_json *
cl_json_get(const struct cl_json *j, const char *key)
{
	size_t i;

	if (j == NULL || j->type != CL_JSON_OBJ)
		return NULL;
	for (i = 0; i < j->n; i++) {
		if (strcmp(j->keys[i], key) == 0)
			return &j->items[i];
	}
	return NULL;
}

const struct cl_json *
cl_json_at(const struct cl_json *j, size_t i)
{
	if (j == NULL || j->type != CL_JSON_ARR || i >= j->n)
		return NULL;
	return &j->items[i];
}
