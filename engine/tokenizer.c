/*
 * tokenizer.c - the LFM2 byte-level BPE tokenizer (see tokenizer.h).
 *
 * Divisions:
 *   1. The GPT-2 byte map (UTF-8 decoding is util's, strict)
 *   2. Hash tables: token text -> id, (left id, right id) -> merge
 *   3. Building and validating a vocabulary
 *   4. The pre-tokenizer (the `lfm2` / Llama-3 split, by hand)
 *   5. BPE over one pre-token
 *   6. Encoding: special-token partition, BOS, chat template
 *   7. Decoding: token bytes and the streaming decoder
 *
 * BPE runs on token ids, not strings: every merge is validated at load
 * time to produce a token, so a pair of adjacent ids (a, b) maps to one
 * (rank, result id).  A piece starts as its byte tokens; a binary heap
 * ordered by (rank, position of the left symbol) gives the lowest-rank,
 * leftmost pair; symbols form a doubly linked list, and stale heap
 * entries are recognised by the ids they recorded.  That is the
 * algorithm of llama.cpp's llm_tokenizer_bpe_session, O(n log n) per
 * piece.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "engine/unicode.h"
#include "util/util.h"

/* ------------------------------------------------------------------ */
/* 1. The GPT-2 byte map                                              */
/* ------------------------------------------------------------------ */

static bool
byte_is_printable(unsigned b)
{
	return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
	    b >= 0xAE;
}

uint32_t
tokenizer_byte_to_cp(uint8_t b)
{
	if (byte_is_printable(b))
		return b;
	if (b <= 0x20)
		return 0x100 + b;		/* 33 bytes: U+0100..U+0120 */
	if (b >= 0x7F && b <= 0xA0)
		return 0x100 + 33 + (b - 0x7F);	/* 34 bytes: U+0121..U+0142 */
	return 0x143;				/* 0xAD */
}

int
tokenizer_cp_to_byte(uint32_t cp)
{
	uint32_t k;

	if (cp < 0x100)
		return byte_is_printable(cp) ? (int)cp : -1;
	if (cp > 0x143)
		return -1;
	k = cp - 0x100;
	if (k < 33)
		return (int)k;
	if (k < 67)
		return (int)(0x7F + (k - 33));
	return 0xAD;
}

/* Append the byte-mapped form of byte `b` to p; returns bytes written. */
static size_t
byte_map_put(uint8_t b, char *p)
{
	uint32_t cp = tokenizer_byte_to_cp(b);

	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	}
	p[0] = (char)(0xC0 | (cp >> 6));
	p[1] = (char)(0x80 | (cp & 0x3F));
	return 2;
}

/*
 * Invert the byte map over s[0..n) into out (at most n bytes).  Returns
 * the byte count, or -1 (as SIZE_MAX) when s is not byte-mapped text.
 */
static size_t
byte_unmap(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0, l;
	uint32_t cp;
	int b;

	while (i < n) {
		if ((l = cl_utf8_decode(s + i, n - i, &cp)) == 0)
			return SIZE_MAX;
		if ((b = tokenizer_cp_to_byte(cp)) < 0)
			return SIZE_MAX;
		out[o++] = (char)b;
		i += l;
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* 2. Hash tables                                                      */
/* ------------------------------------------------------------------ */

/*
 * XXX: unkeyed hashes.  A hostile vocabulary could be built to collide
 * and make loading slow (quadratic in the collision chain); the model
 * file is chosen by the admin, and a keyed hash would need randomness
 * the jailed engine may not have.
 */
static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 32;
	return h;
}

static uint64_t
hash_u64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

struct tok_entry {
	const char	*text;		/* stored text, into the arena */
	const char	*bytes;		/* decoded (NORMAL, BYTE) or text */
	uint32_t	 text_len;	/* bytes of text */
	uint32_t	 bytes_len;	/* bytes of bytes */
	int32_t		 type;		/* TOK_TYPE_* */
};

struct merge_slot {
	uint64_t	key;		/* left id << 32 | right id */
	int32_t		rank;		/* -1: empty slot */
	int32_t		result;		/* id of left+right */
};

struct tokenizer {
	size_t			 n_tokens;
	struct tok_entry	*tok;		/* n_tokens */
	char			*arena;		/* texts and decoded bytes */
	int32_t			*text_ht;	/* ids, -1 empty */
	size_t			 text_mask;
	struct merge_slot	*merge_ht;	/* mask+1 slots */
	size_t			 merge_mask;
	int32_t			 byte_id[256];	/* token of each single byte */
	int32_t			*specials;	/* longest first, then id */
	size_t			 n_specials;
	int32_t			 bos, eos;	/* -1 if absent */
	int32_t			 startoftext, im_start, im_end, endoftext;
	bool			 add_bos;
};

static int32_t
text_lookup(const struct tokenizer *t, const char *s, size_t n)
{
	size_t i;
	int32_t id;

	i = hash_bytes(s, n) & t->text_mask;
	while ((id = t->text_ht[i]) >= 0) {
		if (t->tok[id].text_len == n &&
		    (n == 0 || memcmp(t->tok[id].text, s, n) == 0))
			return id;
		i = (i + 1) & t->text_mask;
	}
	return -1;
}

/* Insert `id`; returns the id already holding the same text, or -1. */
static int32_t
text_insert(struct tokenizer *t, int32_t id)
{
	const struct tok_entry *e = &t->tok[id];
	size_t i;
	int32_t o;

	i = hash_bytes(e->text, e->text_len) & t->text_mask;
	while ((o = t->text_ht[i]) >= 0) {
		if (t->tok[o].text_len == e->text_len &&
		    (e->text_len == 0 ||
		    memcmp(t->tok[o].text, e->text, e->text_len) == 0))
			return o;
		i = (i + 1) & t->text_mask;
	}
	t->text_ht[i] = id;
	return -1;
}

static const struct merge_slot *
merge_lookup(const struct tokenizer *t, int32_t a, int32_t b)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	const struct merge_slot *s;
	size_t i;

	if (t->merge_ht == NULL)
		return NULL;
	i = hash_u64(key) & t->merge_mask;
	for (;;) {
		s = &t->merge_ht[i];
		if (s->rank < 0)
			return NULL;
		if (s->key == key)
			return s;
		i = (i + 1) & t->merge_mask;
	}
}

/* Insert unless the pair is already there (the first rank wins). */
static void
merge_insert(struct tokenizer *t, int32_t a, int32_t b, int32_t rank,
    int32_t result)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	struct merge_slot *s;
	size_t i;

	i = hash_u64(key) & t->merge_mask;
	for (;;) {
		s = &t->merge_ht[i];
		if (s->rank < 0) {
			s->key = key;
			s->rank = rank;
			s->result = result;
			return;
		}
		if (s->key == key)
			return;
		i = (i + 1) & t->merge_mask;
	}
}

/* The smallest power of two >= 2n (n > 0, n <= TOK_MAX_*). */
static size_t
table_size(size_t n)
{
	size_t s = 16;

	while (s < 2 * n)
		s *= 2;
	return s;
}

/* ------------------------------------------------------------------ */
/* 3. Building and validating a vocabulary                             */
/* ------------------------------------------------------------------ */

static bool
type_is_text(int32_t type)
{
	return type == TOK_TYPE_NORMAL || type == TOK_TYPE_BYTE;
}

static int
cmp_special(const void *a, const void *b, void *arg)
{
	const struct tokenizer *t = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	if (t->tok[x].text_len != t->tok[y].text_len)
		return t->tok[x].text_len > t->tok[y].text_len ? -1 : 1;
	return x < y ? -1 : x > y;
}

void
tokenizer_free(struct tokenizer *t)
{
	if (t == NULL)
		return;
	cl_free(t->tok);
	cl_free(t->arena);
	cl_free(t->text_ht);
	cl_free(t->merge_ht);
	cl_free(t->specials);
	cl_free(t);
}

static int
check_src(const struct tok_vocab_src *src, struct cl_err *err)
{
	if (src == NULL)
		return cl_errf(err, CL_EINVAL, "no vocabulary given");
	if (src->n_tokens == 0)
		return cl_errf(err, CL_EFORMAT, "vocabulary has no tokens");
	if (src->n_tokens > TOK_MAX_TOKENS)
		return cl_errf(err, CL_ELIMIT,
		    "vocabulary has %zu tokens, more than the limit %u",
		    src->n_tokens, TOK_MAX_TOKENS);
	if (src->n_merges > TOK_MAX_MERGES)
		return cl_errf(err, CL_ELIMIT,
		    "vocabulary has %zu merges, more than the limit %u",
		    src->n_merges, TOK_MAX_MERGES);
	if (src->tokens == NULL || src->token_lens == NULL ||
	    (src->n_merges > 0 &&
	    (src->merges == NULL || src->merge_lens == NULL)))
		return cl_errf(err, CL_EINVAL, "vocabulary arrays missing");
	if (src->bos_id < -1 || (src->bos_id >= 0 &&
	    (size_t)src->bos_id >= src->n_tokens))
		return cl_errf(err, CL_EFORMAT,
		    "BOS id %d outside the vocabulary of %zu tokens",
		    (int)src->bos_id, src->n_tokens);
	if (src->eos_id < -1 || (src->eos_id >= 0 &&
	    (size_t)src->eos_id >= src->n_tokens))
		return cl_errf(err, CL_EFORMAT,
		    "EOS id %d outside the vocabulary of %zu tokens",
		    (int)src->eos_id, src->n_tokens);
	return CL_OK;
}

/* Copy and decode the tokens into t->tok and t->arena. */
static int
load_tokens(struct tokenizer *t, const struct tok_vocab_src *src,
    struct cl_err *err)
{
	size_t i, total = 0, len, n;
	int32_t type;
	char *p;

	for (i = 0; i < src->n_tokens; i++) {
		type = src->token_types != NULL ? src->token_types[i] :
		    TOK_TYPE_NORMAL;
		len = src->token_lens[i];
		if (type < TOK_TYPE_NORMAL || type > TOK_TYPE_BYTE)
			return cl_errf(err, CL_EFORMAT,
			    "token %zu has unknown type %d", i, (int)type);
		if (len > TOK_MAX_TOKEN_LEN)
			return cl_errf(err, CL_EFORMAT,
			    "token %zu is %zu bytes long, more than %u", i,
			    len, TOK_MAX_TOKEN_LEN);
		if (len > 0 && src->tokens[i] == NULL)
			return cl_errf(err, CL_EINVAL, "token %zu missing", i);
		if (type_is_text(type) && len == 0)
			return cl_errf(err, CL_EFORMAT, "token %zu is empty",
			    i);
		/* Text, and the decoded bytes (never longer) if mapped. */
		if (!cl_add_size(total, type_is_text(type) ? 2 * len : len,
		    &total))
			return cl_errf(err, CL_ELIMIT, "vocabulary too large");
	}
	if ((t->tok = cl_calloc(src->n_tokens, sizeof(*t->tok))) == NULL ||
	    (t->arena = cl_malloc(total + 1)) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory for %zu tokens",
		    src->n_tokens);
	p = t->arena;
	for (i = 0; i < src->n_tokens; i++) {
		type = src->token_types != NULL ? src->token_types[i] :
		    TOK_TYPE_NORMAL;
		len = src->token_lens[i];
		if (len > 0)
			memcpy(p, src->tokens[i], len);
		t->tok[i].text = p;
		t->tok[i].text_len = (uint32_t)len;
		t->tok[i].type = type;
		p += len;
		if (type_is_text(type)) {
			if ((n = byte_unmap(t->tok[i].text, len, p)) ==
			    SIZE_MAX)
				return cl_errf(err, CL_EFORMAT,
				    "token %zu is not byte-level-mapped text",
				    i);
			t->tok[i].bytes = p;
			t->tok[i].bytes_len = (uint32_t)n;
			p += n;
		} else {
			t->tok[i].bytes = t->tok[i].text;
			t->tok[i].bytes_len = (uint32_t)len;
		}
	}
	return CL_OK;
}

static int
index_tokens(struct tokenizer *t, struct cl_err *err)
{
	size_t i, n_spec = 0;
	int32_t o;
	char m[2];
	unsigned b;

	t->text_mask = table_size(t->n_tokens) - 1;
	if ((t->text_ht = cl_malloc((t->text_mask + 1) *
	    sizeof(*t->text_ht))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	memset(t->text_ht, 0xff, (t->text_mask + 1) * sizeof(*t->text_ht));
	for (i = 0; i < t->n_tokens; i++) {
		if ((o = text_insert(t, (int32_t)i)) >= 0)
			return cl_errf(err, CL_EFORMAT,
			    "tokens %d and %zu have the same text", (int)o, i);
		if ((t->tok[i].type == TOK_TYPE_CONTROL ||
		    t->tok[i].type == TOK_TYPE_USER_DEFINED) &&
		    t->tok[i].text_len > 0)
			n_spec++;
	}
	for (b = 0; b < 256; b++) {
		o = text_lookup(t, m, byte_map_put((uint8_t)b, m));
		if (o < 0 || !type_is_text(t->tok[o].type))
			return cl_errf(err, CL_EFORMAT,
			    "vocabulary has no token for byte 0x%02x", b);
		t->byte_id[b] = o;
	}
	if (n_spec > 0 &&
	    (t->specials = cl_calloc(n_spec, sizeof(*t->specials))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	for (i = 0; i < t->n_tokens; i++) {
		if ((t->tok[i].type == TOK_TYPE_CONTROL ||
		    t->tok[i].type == TOK_TYPE_USER_DEFINED) &&
		    t->tok[i].text_len > 0)
			t->specials[t->n_specials++] = (int32_t)i;
	}
	if (t->n_specials > 0)
		cl_sort(t->specials, t->n_specials, sizeof(*t->specials),
		    cmp_special, t);
	t->startoftext = tokenizer_find_token(t, "<|startoftext|>");
	t->im_start = tokenizer_find_token(t, "<|im_start|>");
	t->im_end = tokenizer_find_token(t, "<|im_end|>");
	t->endoftext = tokenizer_find_token(t, "<|endoftext|>");
	return CL_OK;
}

/*
 * Parse and index the merges.  Each is "LEFT RIGHT" with exactly one
 * space (byte-mapped text never holds a raw space), and LEFT, RIGHT and
 * LEFTRIGHT must all be tokens.  A merge whose parts or result are not
 * NORMAL/BYTE tokens is valid but left out of the table: BPE symbols are
 * only ever text tokens, and user text must never merge into a special.
 */
static int
load_merges(struct tokenizer *t, const struct tok_vocab_src *src,
    struct cl_err *err)
{
	char buf[2 * TOK_MAX_TOKEN_LEN];
	const char *m, *sp;
	size_t i, len, l_len;
	int32_t a, b, c;

	if (src->n_merges == 0)
		return CL_OK;
	t->merge_mask = table_size(src->n_merges) - 1;
	if ((t->merge_ht = cl_malloc((t->merge_mask + 1) *
	    sizeof(*t->merge_ht))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory for %zu merges",
		    src->n_merges);
	for (i = 0; i <= t->merge_mask; i++)
		t->merge_ht[i].rank = -1;
	for (i = 0; i < src->n_merges; i++) {
		m = src->merges[i];
		len = src->merge_lens[i];
		if (len > 0 && m == NULL)
			return cl_errf(err, CL_EINVAL, "merge %zu missing", i);
		if (len < 3 || len > sizeof(buf) ||
		    (sp = memchr(m, ' ', len)) == NULL ||
		    memchr(sp + 1, ' ', len - (size_t)(sp - m) - 1) != NULL ||
		    sp == m || sp == m + len - 1)
			return cl_errf(err, CL_EFORMAT,
			    "merge %zu is not two tokens joined by one space",
			    i);
		l_len = (size_t)(sp - m);
		a = text_lookup(t, m, l_len);
		b = text_lookup(t, sp + 1, len - l_len - 1);
		memcpy(buf, m, l_len);
		memcpy(buf + l_len, sp + 1, len - l_len - 1);
		c = text_lookup(t, buf, len - 1);
		if (a < 0 || b < 0 || c < 0)
			return cl_errf(err, CL_EFORMAT,
			    "merge %zu: its %s is not a token", i,
			    a < 0 ? "left part" : b < 0 ? "right part" :
			    "result");
		if (type_is_text(t->tok[a].type) &&
		    type_is_text(t->tok[b].type) &&
		    type_is_text(t->tok[c].type))
			merge_insert(t, a, b, (int32_t)i, c);
	}
	return CL_OK;
}

int
tokenizer_new(const struct tok_vocab_src *src, struct tokenizer **out,
    struct cl_err *err)
{
	struct tokenizer *t = NULL;
	int r;

	*out = NULL;
	if ((r = check_src(src, err)) != CL_OK)
		return r;
	if ((t = cl_calloc(1, sizeof(*t))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	t->n_tokens = src->n_tokens;
	t->bos = src->bos_id;
	t->eos = src->eos_id;
	t->add_bos = src->add_bos;
	if ((r = load_tokens(t, src, err)) != CL_OK ||
	    (r = index_tokens(t, err)) != CL_OK ||
	    (r = load_merges(t, src, err)) != CL_OK)
		goto out;
	*out = t;
	t = NULL;
	r = CL_OK;
out:
	tokenizer_free(t);
	return r;
}

/* ------------------------------------------------------------------ */
/* 4. The pre-tokenizer                                                */
/* ------------------------------------------------------------------ */

#define CLS_SYMBOL	0x8u	/* none of \p{L} \p{N} \s; also invalid bytes */

unsigned
unicode_class(uint32_t cp)
{
	static const struct {
		const struct unicode_range	*r;
		const size_t			*n;
		unsigned			 bit;
	} tabs[] = {
		{ unicode_letter_ranges, &unicode_n_letter_ranges,
		    UNICODE_LETTER },
		{ unicode_number_ranges, &unicode_n_number_ranges,
		    UNICODE_NUMBER },
		{ unicode_space_ranges, &unicode_n_space_ranges,
		    UNICODE_SPACE },
	};
	size_t k, lo, hi, mid;

	if (cp < 0x80) {
		if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
			return UNICODE_LETTER;
		if (cp >= '0' && cp <= '9')
			return UNICODE_NUMBER;
		if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
			return UNICODE_SPACE;
		return 0;
	}
	for (k = 0; k < CL_ARRAY_LEN(tabs); k++) {
		lo = 0;
		hi = *tabs[k].n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (cp < tabs[k].r[mid].lo)
				hi = mid;
			else if (cp > tabs[k].r[mid].hi)
				lo = mid + 1;
			else
				return tabs[k].bit;
		}
	}
	return 0;
}

/* One unit of input: a well-formed code point or one invalid byte. */
struct unit {
	uint32_t	cp;	/* code point; UINT32_MAX for an invalid byte */
	size_t		len;	/* bytes */
	unsigned	cls;	/* UNICODE_* bit or CLS_SYMBOL */
};

static void
unit_at(const unsigned char *s, size_t n, size_t pos, struct unit *u)
{
	unsigned c;

	if ((u->len = cl_utf8_decode((const char *)s + pos, n - pos,
	    &u->cp)) == 0) {
		u->len = 1;
		u->cp = UINT32_MAX;
		u->cls = CLS_SYMBOL;
		return;
	}
	c = unicode_class(u->cp);
	u->cls = c != 0 ? c : CLS_SYMBOL;
}

/* The class of the unit at `pos`, or 0 at the end of the text. */
static unsigned
cls_at(const unsigned char *s, size_t n, size_t pos)
{
	struct unit u;

	if (pos >= n)
		return 0;
	unit_at(s, n, pos, &u);
	return u.cls;
}

static int
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/*
 * The end of the pre-token starting at `pos` (< n): the alternatives of
 *   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])
 *   |[^\r\n\p{L}\p{N}]?\p{L}+ |\p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n]*
 *   |\s*[\r\n]+ |\s+(?!\S) |\s+
 * tried in order, each resolved as a backtracking engine would.
 */
static size_t
match_at(const unsigned char *s, size_t n, size_t pos)
{
	struct unit u, v;
	size_t p, prev, last_nl, count;
	int c1, c2;

	unit_at(s, n, pos, &u);

	/* '[sS] '[tT] '[mM] '[dD] '[rR][eE] '[vV][eE] '[lL][lL] */
	if (u.cp == '\'' && pos + 1 < n) {
		c1 = ascii_lower(s[pos + 1]);
		if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
			return pos + 2;
		if (pos + 2 < n) {
			c2 = ascii_lower(s[pos + 2]);
			if ((c1 == 'r' && c2 == 'e') ||
			    (c1 == 'v' && c2 == 'e') ||
			    (c1 == 'l' && c2 == 'l'))
				return pos + 3;
		}
	}

	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	p = SIZE_MAX;
	if (u.cls == UNICODE_LETTER)
		p = pos + u.len;
	else if (u.cp != '\r' && u.cp != '\n' && u.cls != UNICODE_NUMBER &&
	    cls_at(s, n, pos + u.len) == UNICODE_LETTER)
		p = pos + u.len;
	if (p != SIZE_MAX) {
		while (p < n) {
			unit_at(s, n, p, &v);
			if (v.cls != UNICODE_LETTER)
				break;
			p += v.len;
		}
		return p;
	}

	/* \p{N}{1,3} */
	if (u.cls == UNICODE_NUMBER) {
		p = pos + u.len;
		for (count = 1; count < 3 && p < n; count++) {
			unit_at(s, n, p, &v);
			if (v.cls != UNICODE_NUMBER)
				break;
			p += v.len;
		}
		return p;
	}

	/* ' '?[^\s\p{L}\p{N}]+[\r\n]* */
	p = pos;
	if (u.cp == ' ' && cls_at(s, n, pos + 1) == CLS_SYMBOL)
		p = pos + 1;
	if (cls_at(s, n, p) == CLS_SYMBOL) {
		while (p < n) {
			unit_at(s, n, p, &v);
			if (v.cls != CLS_SYMBOL)
				break;
			p += v.len;
		}
		while (p < n && (s[p] == '\r' || s[p] == '\n'))
			p++;
		return p;
	}

	/* \s*[\r\n]+ then \s+(?!\S) then \s+ */
	p = pos;
	prev = pos;
	last_nl = 0;
	count = 0;
	while (p < n) {
		unit_at(s, n, p, &v);
		if (v.cls != UNICODE_SPACE)
			break;
		if (v.cp == '\r' || v.cp == '\n')
			last_nl = p + 1;
		prev = p;
		p += v.len;
		count++;
	}
	if (last_nl > 0)
		return last_nl;
	if (count > 1 && p < n)
		return prev;
	if (count > 0)
		return p;
	return pos + u.len;	/* not reached: every unit has a class */
}

int
tokenizer_pretokenize(const char *text, size_t len,
    int (*fn)(void *arg, size_t off, size_t n), void *arg)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t pos = 0, end;
	int r;

	while (pos < len) {
		end = match_at(s, len, pos);
		if ((r = fn(arg, pos, end - pos)) != 0)
			return r;
		pos = end;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* 5. BPE over one pre-token                                           */
/* ------------------------------------------------------------------ */

struct sym {
	int32_t	id;		/* token id; -1 once merged away */
	int32_t	prev;		/* index of the previous live symbol or -1 */
	int32_t	next;		/* index of the next live symbol or -1 */
};

struct cand {
	int32_t	rank;		/* merge rank */
	int32_t	left;		/* index of the left symbol */
	int32_t	lid, rid;	/* ids seen when queued (staleness check) */
	int32_t	result;		/* id of the merged token */
};

/* Per-call scratch, reused across pieces. */
struct enc {
	const struct tokenizer	*t;
	const char		*text;	/* the fragment being encoded */
	int32_t			*ids;	/* output */
	size_t			 n_ids, cap_ids;
	char			*map;	/* byte-mapped piece */
	size_t			 cap_map;
	struct sym		*sym;
	size_t			 cap_sym;
	struct cand		*heap;
	size_t			 n_heap, cap_heap;
};

static void
enc_release(struct enc *e)
{
	cl_free(e->ids);
	cl_free(e->map);
	cl_free(e->sym);
	cl_free(e->heap);
}

/* Make room for `want` elements of `size` in *p (capacity *cap). */
static int
grow(void **p, size_t *cap, size_t want, size_t size)
{
	size_t c = *cap < 16 ? 16 : *cap, bytes;
	void *q;

	if (want <= *cap)
		return CL_OK;
	while (c < want) {
		if (!cl_mul_size(c, 2, &c))
			return CL_ENOMEM;
	}
	if (!cl_mul_size(c, size, &bytes) ||
	    (q = cl_realloc(*p, bytes)) == NULL)
		return CL_ENOMEM;
	*p = q;
	*cap = c;
	return CL_OK;
}

static int
emit(struct enc *e, int32_t id)
{
	int r;

	if (e->n_ids == e->cap_ids && (r = grow((void **)&e->ids,
	    &e->cap_ids, e->n_ids + 1, sizeof(*e->ids))) != CL_OK)
		return r;
	e->ids[e->n_ids++] = id;
	return CL_OK;
}

static bool
cand_less(const struct cand *a, const struct cand *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

/* Capacity is reserved by the caller. */
static void
heap_push(struct enc *e, const struct cand *c)
{
	size_t i = e->n_heap++, up;

	while (i > 0) {
		up = (i - 1) / 2;
		if (!cand_less(c, &e->heap[up]))
			break;
		e->heap[i] = e->heap[up];
		i = up;
	}
	e->heap[i] = *c;
}

static void
heap_pop(struct enc *e, struct cand *top)
{
	struct cand last;
	size_t i = 0, k;

	*top = e->heap[0];
	last = e->heap[--e->n_heap];
	for (;;) {
		k = 2 * i + 1;
		if (k >= e->n_heap)
			break;
		if (k + 1 < e->n_heap &&
		    cand_less(&e->heap[k + 1], &e->heap[k]))
			k++;
		if (!cand_less(&e->heap[k], &last))
			break;
		e->heap[i] = e->heap[k];
		i = k;
	}
	if (e->n_heap > 0)
		e->heap[i] = last;
}

static void
queue_pair(struct enc *e, int32_t left, int32_t right)
{
	const struct merge_slot *m;
	struct cand c;

	m = merge_lookup(e->t, e->sym[left].id, e->sym[right].id);
	if (m == NULL)
		return;
	c.rank = m->rank;
	c.left = left;
	c.lid = e->sym[left].id;
	c.rid = e->sym[right].id;
	c.result = m->result;
	heap_push(e, &c);
}

/* Encode the pre-token text[off..off+n) (n > 0) onto e->ids. */
static int
encode_piece(void *arg, size_t off, size_t n)
{
	struct enc *e = arg;
	const struct tokenizer *t = e->t;
	const unsigned char *s = (const unsigned char *)e->text + off;
	struct cand c;
	size_t i, m = 0;
	int32_t id, l, rgt;
	int r;

	if (n == 1)
		return emit(e, t->byte_id[s[0]]);

	/* ignore_merges: a whole piece that is a text token is one id. */
	if (n <= TOK_MAX_TOKEN_LEN) {
		if ((r = grow((void **)&e->map, &e->cap_map, 2 * n, 1)) !=
		    CL_OK)
			return r;
		for (i = 0; i < n; i++)
			m += byte_map_put(s[i], e->map + m);
		id = text_lookup(t, e->map, m);
		if (id >= 0 && type_is_text(t->tok[id].type))
			return emit(e, id);
	}

	/*
	 * n <= INT32_MAX: tokenizer_encode() limits the text length.  The
	 * heap never holds more than 2n entries: n - 1 pairs at first, at
	 * most two pushed per merge, and each merge pops one.
	 */
	if ((r = grow((void **)&e->sym, &e->cap_sym, n, sizeof(*e->sym))) !=
	    CL_OK || (r = grow((void **)&e->heap, &e->cap_heap, 2 * n,
	    sizeof(*e->heap))) != CL_OK)
		return r;
	for (i = 0; i < n; i++) {
		e->sym[i].id = t->byte_id[s[i]];
		e->sym[i].prev = (int32_t)i - 1;
		e->sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
	}
	e->n_heap = 0;
	for (i = 0; i + 1 < n; i++)
		queue_pair(e, (int32_t)i, (int32_t)i + 1);
	while (e->n_heap > 0) {
		heap_pop(e, &c);
		l = c.left;
		if (e->sym[l].id != c.lid)
			continue;
		rgt = e->sym[l].next;
		if (rgt < 0 || e->sym[rgt].id != c.rid)
			continue;
		e->sym[l].id = c.result;
		e->sym[l].next = e->sym[rgt].next;
		if (e->sym[rgt].next >= 0)
			e->sym[e->sym[rgt].next].prev = l;
		e->sym[rgt].id = -1;
		if (e->sym[l].prev >= 0)
			queue_pair(e, e->sym[l].prev, l);
		if (e->sym[l].next >= 0)
			queue_pair(e, l, e->sym[l].next);
	}
	for (l = 0; l >= 0; l = e->sym[l].next) {
		if ((r = emit(e, e->sym[l].id)) != CL_OK)
			return r;
	}
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 6. Encoding                                                         */
/* ------------------------------------------------------------------ */

/* Encode text[0..len) as plain text (no specials) onto e->ids. */
static int
encode_plain(struct enc *e, const char *text, size_t len)
{
	e->text = text;
	return tokenizer_pretokenize(text, len, encode_piece, e);
}

/*
 * Split text on special token texts (tokenizer.h) and encode.  claim[i]
 * is the id of the special starting at byte i, -2 inside one, -1 free.
 */
static int
encode_special(struct enc *e, const char *text, size_t len)
{
	const struct tokenizer *t = e->t;
	const struct tok_entry *sp;
	int32_t *claim = NULL;
	const char *m;
	size_t k, i, j, pos;
	int r;

	if (len == 0)
		return CL_OK;
	if ((claim = cl_malloc(len * sizeof(*claim))) == NULL)
		return CL_ENOMEM;
	memset(claim, 0xff, len * sizeof(*claim));
	for (k = 0; k < t->n_specials; k++) {
		sp = &t->tok[t->specials[k]];
		pos = 0;
		while (pos + sp->text_len <= len &&
		    (m = memmem(text + pos, len - pos, sp->text,
		    sp->text_len)) != NULL) {
			i = (size_t)(m - text);
			for (j = i; j < i + sp->text_len; j++) {
				if (claim[j] != -1)
					break;
			}
			if (j < i + sp->text_len) {
				pos = i + 1;
				continue;
			}
			claim[i] = t->specials[k];
			for (j = i + 1; j < i + sp->text_len; j++)
				claim[j] = -2;
			pos = i + sp->text_len;
		}
	}
	for (i = 0; i < len; i = j) {
		if (claim[i] >= 0) {
			if ((r = emit(e, claim[i])) != CL_OK)
				goto out;
			j = i + t->tok[claim[i]].text_len;
			continue;
		}
		for (j = i; j < len && claim[j] == -1; j++)
			;
		if ((r = encode_plain(e, text + i, j - i)) != CL_OK)
			goto out;
	}
	r = CL_OK;
out:
	cl_free(claim);
	return r;
}

/* Hand e->ids to the caller. */
static void
enc_finish(struct enc *e, int32_t **ids, size_t *n)
{
	if (e->n_ids == 0) {
		cl_free(e->ids);
		e->ids = NULL;
	}
	*ids = e->ids;
	*n = e->n_ids;
	e->ids = NULL;
	e->n_ids = 0;
}

int
tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
    bool parse_special, bool add_bos, int32_t **ids, size_t *n,
    struct cl_err *err)
{
	struct enc e;
	int r;

	*ids = NULL;
	*n = 0;
	memset(&e, 0, sizeof(e));
	e.t = t;
	if (len > 0 && text == NULL)
		return cl_errf(err, CL_EINVAL, "no text to encode");
	if (len > INT32_MAX)
		return cl_errf(err, CL_ELIMIT,
		    "text of %zu bytes is too long to encode", len);
	if (add_bos && t->bos < 0)
		return cl_errf(err, CL_EINVAL,
		    "the vocabulary has no BOS token");
	if (add_bos && (r = emit(&e, t->bos)) != CL_OK)
		goto out;
	if (parse_special)
		r = encode_special(&e, text, len);
	else
		r = encode_plain(&e, text, len);
	if (r != CL_OK)
		goto out;
	/* Exactly one leading BOS when the text began with its own. */
	if (add_bos && e.n_ids >= 2 && e.ids[1] == t->bos)
		memmove(e.ids, e.ids + 1, --e.n_ids * sizeof(*e.ids));
	enc_finish(&e, ids, n);
	r = CL_OK;
out:
	if (r == CL_ENOMEM)
		cl_errf(err, r, "out of memory encoding %zu bytes", len);
	enc_release(&e);
	return r;
}

static bool
role_is_valid(const char *role)
{
	return strcmp(role, "system") == 0 || strcmp(role, "user") == 0 ||
	    strcmp(role, "assistant") == 0 || strcmp(role, "tool") == 0;
}

int
tokenizer_chat_encode(const struct tokenizer *t,
    const struct tok_chat_msg *msgs, size_t n, bool add_generation_prompt,
    int32_t **ids, size_t *n_ids, struct cl_err *err)
{
	struct enc e;
	struct cl_buf frag = CL_BUF_INIT;
	size_t i;
	int r;

	*ids = NULL;
	*n_ids = 0;
	memset(&e, 0, sizeof(e));
	e.t = t;
	if (t->startoftext < 0 || t->im_start < 0 || t->im_end < 0)
		return cl_errf(err, CL_EUNSUPPORTED,
		    "the vocabulary lacks the chat template's special tokens");
	if (n > 0 && msgs == NULL)
		return cl_errf(err, CL_EINVAL, "no messages");
	for (i = 0; i < n; i++) {
		if (msgs[i].role == NULL || !role_is_valid(msgs[i].role))
			return cl_errf(err, CL_EINVAL,
			    "message %zu has an unknown role", i);
		if (msgs[i].text == NULL && msgs[i].text_len > 0)
			return cl_errf(err, CL_EINVAL,
			    "message %zu has no text", i);
		if (msgs[i].text_len > INT32_MAX)
			return cl_errf(err, CL_ELIMIT,
			    "message %zu is too long to encode", i);
	}
	if ((r = emit(&e, t->startoftext)) != CL_OK)
		goto out;
	for (i = 0; i < n; i++) {
		/* role "\n" content is one fragment of the rendered text. */
		cl_buf_reset(&frag);
		if ((r = emit(&e, t->im_start)) != CL_OK ||
		    (r = cl_buf_puts(&frag, msgs[i].role)) != CL_OK ||
		    (r = cl_buf_append(&frag, "\n", 1)) != CL_OK ||
		    (r = cl_buf_append(&frag, msgs[i].text,
		    msgs[i].text_len)) != CL_OK ||
		    (r = encode_plain(&e, frag.data, frag.len)) != CL_OK ||
		    (r = emit(&e, t->im_end)) != CL_OK ||
		    (r = encode_plain(&e, "\n", 1)) != CL_OK)
			goto out;
	}
	if (add_generation_prompt &&
	    ((r = emit(&e, t->im_start)) != CL_OK ||
	    (r = encode_plain(&e, "assistant\n", 10)) != CL_OK))
		goto out;
	enc_finish(&e, ids, n_ids);
	r = CL_OK;
out:
	if (r != CL_OK)
		cl_errf(err, r, "out of memory encoding a chat of %zu messages",
		    n);
	cl_buf_release(&frag);
	enc_release(&e);
	return r;
}

/* ------------------------------------------------------------------ */
/* 7. Decoding                                                         */
/* ------------------------------------------------------------------ */

int
tokenizer_token_bytes(const struct tokenizer *t, int32_t id, bool special,
    const char **p, size_t *len)
{
	const struct tok_entry *e;

	if (id < 0 || (size_t)id >= t->n_tokens)
		return CL_EINVAL;
	e = &t->tok[id];
	*p = e->bytes;
	switch (e->type) {
	case TOK_TYPE_NORMAL:
	case TOK_TYPE_BYTE:
	case TOK_TYPE_USER_DEFINED:
		*len = e->bytes_len;
		break;
	case TOK_TYPE_CONTROL:
	case TOK_TYPE_UNKNOWN:
		*len = special ? e->bytes_len : 0;
		break;
	default:
		*len = 0;
		break;
	}
	return CL_OK;
}

int32_t
tokenizer_find_token_n(const struct tokenizer *t, const char *text,
    size_t len)
{
	if (text == NULL && len > 0)
		return -1;
	return text_lookup(t, text, len);
}

int32_t
tokenizer_find_token(const struct tokenizer *t, const char *text)
{
	return tokenizer_find_token_n(t, text, strlen(text));
}

int
tokenizer_token_type(const struct tokenizer *t, int32_t id)
{
	if (id < 0 || (size_t)id >= t->n_tokens)
		return 0;
	return t->tok[id].type;
}

bool
tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
	return id >= 0 &&
	    (id == t->eos || id == t->im_end || id == t->endoftext);
}

size_t
tokenizer_n_vocab(const struct tokenizer *t)
{
	return t->n_tokens;
}

int32_t
tokenizer_bos(const struct tokenizer *t)
{
	return t->bos;
}

int32_t
tokenizer_eos(const struct tokenizer *t)
{
	return t->eos;
}

bool
tokenizer_add_bos(const struct tokenizer *t)
{
	return t->add_bos;
}

void
tok_decoder_init(struct tok_decoder *d, bool special)
{
	memset(d, 0, sizeof(*d));
	d->special = special;
}

int
tok_decoder_feed(struct tok_decoder *d, const struct tokenizer *t,
    int32_t id, struct cl_buf *out, struct cl_err *err)
{
	const char *p;
	size_t len, total, keep;
	char *dst;

	if (tokenizer_token_bytes(t, id, d->special, &p, &len) != CL_OK)
		return cl_errf(err, CL_EINVAL,
		    "token id %d outside the vocabulary", (int)id);
	if (len == 0)
		return CL_OK;
	total = d->n_pending + len;	/* len <= TOK_MAX_TOKEN_LEN */
	if (cl_buf_reserve(out, total) != CL_OK)
		return cl_errf(err, CL_ENOMEM, "out of memory decoding");
	dst = out->data + out->len;
	memcpy(dst, d->pending, d->n_pending);
	memcpy(dst + d->n_pending, p, len);
	keep = total - cl_utf8_complete_prefix(dst, total);
	memcpy(d->pending, dst + total - keep, keep);
	d->n_pending = keep;
	out->len += total - keep;
	out->data[out->len] = '\0';
	return CL_OK;
}

int
tok_decoder_flush(struct tok_decoder *d, struct cl_buf *out,
    struct cl_err *err)
{
	if (d->n_pending > 0 &&
	    cl_buf_append(out, d->pending, d->n_pending) != CL_OK)
		return cl_errf(err, CL_ENOMEM, "out of memory decoding");
	d->n_pending = 0;
	return CL_OK;
}
