/*
 * match.c - UTF-8 decoding, the length-preserving case fold and the block
 * term matcher the streaming filter drives.
 *
 * Divisions: UTF-8; character classes and folding; terms.
 *
 * A block term is stored folded with its white space collapsed to single
 * spaces.  In the text, a space of the term matches one or more white
 * space characters, ignorable characters (zero-width space and joiners,
 * soft hyphen) inside a match are skipped, and with whole-word matching a
 * term that starts (ends) with a word character does not match after
 * (before) another word character.
 */
#include "config.h"

#include <string.h>

#include "policy/policy_impl.h"

/* ---------------------------------------------------------------- UTF-8 */

int
u8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c, min;
	int len, i;

	*cp = 0xFFFD;
	if (n == 0)
		return -1;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		c &= 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		c &= 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else
		return 0;
	for (i = 1; i < len; i++) {
		if ((size_t)i >= n) {
			/* Valid so far?  Check the second byte's range. */
			return -1;
		}
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
		if (i == 1) {
			/* Reject overlongs and surrogates as early as we can. */
			if ((s[0] == 0xE0 && s[1] < 0xA0) ||
			    (s[0] == 0xED && s[1] > 0x9F) ||
			    (s[0] == 0xF0 && s[1] < 0x90) ||
			    (s[0] == 0xF4 && s[1] > 0x8F))
				return 0;
		}
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

size_t
u8_complete(const char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;
	int l;

	while (i < n) {
		l = u8_decode((const unsigned char *)s + i, n - i, &cp);
		if (l < 0)
			break;
		i += l == 0 ? 1 : (size_t)l;
	}
	return i;
}

/* ------------------------------------------------ classes and folding */

uint32_t
u8_fold(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c < 0xC0)
		return c;
	if (c <= 0xDE && c != 0xD7)
		return c + 0x20;
	if (c >= 0x100 && c <= 0x17F) {
		if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) ||
		    (c >= 0x14A && c <= 0x177))
			return c | 1;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
			return (c & 1) ? c + 1 : c;
		if (c == 0x178)
			return 0xFF;
		return c;
	}
	if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
		return c + 0x20;
	if (c >= 0x410 && c <= 0x42F)
		return c + 0x20;
	if (c >= 0x400 && c <= 0x40F)
		return c + 0x50;
	return c;
}

bool
u8_is_word(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_';
	if (c >= 0xC0 && c <= 0x24F)
		return c != 0xD7 && c != 0xF7;
	return (c >= 0x370 && c <= 0x3FF) || (c >= 0x400 && c <= 0x4FF);
}

bool
u8_is_ignorable(uint32_t c)
{
	return c == 0xAD || (c >= 0x200B && c <= 0x200D) || c == 0x2060 ||
	    c == 0xFEFF;
}

bool
u8_is_space(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v' || c == 0xA0;
}

/* ---------------------------------------------------------------- terms */

char *
term_normalize(const char *s, size_t n)
{
	struct cl_buf b = CL_BUF_INIT;
	size_t i = 0;
	uint32_t cp;
	char enc[4];
	bool space = false;
	int l, k;

	while (i < n) {
		l = u8_decode((const unsigned char *)s + i, n - i, &cp);
		if (l <= 0)
			goto fail;
		i += (size_t)l;
		if (u8_is_ignorable(cp))
			continue;
		if (u8_is_space(cp)) {
			space = b.len > 0;
			continue;
		}
		if (space && cl_buf_append(&b, " ", 1) != CL_OK)
			goto fail;
		space = false;
		cp = u8_fold(cp);
		/* Encode (the fold keeps the length). */
		if (cp < 0x80) {
			enc[0] = (char)cp;
			k = 1;
		} else if (cp < 0x800) {
			enc[0] = (char)(0xC0 | cp >> 6);
			enc[1] = (char)(0x80 | (cp & 0x3F));
			k = 2;
		} else if (cp < 0x10000) {
			enc[0] = (char)(0xE0 | cp >> 12);
			enc[1] = (char)(0x80 | (cp >> 6 & 0x3F));
			enc[2] = (char)(0x80 | (cp & 0x3F));
			k = 3;
		} else {
			enc[0] = (char)(0xF0 | cp >> 18);
			enc[1] = (char)(0x80 | (cp >> 12 & 0x3F));
			enc[2] = (char)(0x80 | (cp >> 6 & 0x3F));
			enc[3] = (char)(0x80 | (cp & 0x3F));
			k = 4;
		}
		if (cl_buf_append(&b, enc, (size_t)k) != CL_OK)
			goto fail;
	}
	if (b.data == NULL)
		return cl_strdup("");
	return cl_buf_steal(&b, NULL);
fail:
	cl_buf_release(&b);
	return NULL;
}

/* The code point that ends just before s[pos], or 0 at the start. */
static uint32_t
prev_cp(const char *s, size_t pos)
{
	size_t i = pos;
	uint32_t cp;

	if (pos == 0)
		return 0;
	do {
		i--;
	} while (i > 0 && pos - i < 4 && ((unsigned char)s[i] & 0xC0) == 0x80);
	if (u8_decode((const unsigned char *)s + i, pos - i, &cp) !=
	    (int)(pos - i))
		return 0xFFFD;
	return cp;
}

/* One term at s[pos]; same results as term_match_at(). */
static int
match_one(const char *t, bool whole, const char *s, size_t n, size_t pos,
    bool final, size_t *mlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = pos, j = 0, tl = strlen(t), k;
	uint32_t tc, sc, last = 0;
	int l, tlen;
	bool any;

	tlen = u8_decode((const unsigned char *)t, tl, &tc);
	if (whole && u8_is_word(tc) && u8_is_word(prev_cp(s, pos)))
		return MATCH_NO;
	while (j < tl) {
		if (t[j] == ' ') {
			/* One or more spaces (and ignorables) in the text. */
			any = false;
			for (;;) {
				if (i >= n)
					return final ? MATCH_NO : MATCH_MORE;
				l = u8_decode(u + i, n - i, &sc);
				if (l < 0)
					return final ? MATCH_NO : MATCH_MORE;
				if (l == 0)
					return MATCH_NO;
				if (u8_is_space(sc))
					any = true;
				else if (!u8_is_ignorable(sc))
					break;
				i += (size_t)l;
			}
			if (!any)
				return MATCH_NO;
			j++;
			continue;
		}
		tlen = u8_decode((const unsigned char *)t + j, tl - j, &tc);
		if (tlen <= 0)
			return MATCH_NO;	/* terms are valid; defensive */
		for (;;) {
			if (i >= n)
				return final ? MATCH_NO : MATCH_MORE;
			l = u8_decode(u + i, n - i, &sc);
			if (l < 0)
				return final ? MATCH_NO : MATCH_MORE;
			if (l == 0)
				return MATCH_NO;
			/* Skip ignorables inside (never before) a match. */
			if (j > 0 && u8_is_ignorable(sc)) {
				i += (size_t)l;
				continue;
			}
			break;
		}
		if (u8_fold(sc) != tc)
			return MATCH_NO;
		i += (size_t)l;
		j += (size_t)tlen;
		last = tc;
	}
	if (whole && u8_is_word(last)) {
		/* The next character must not continue the word. */
		k = i;
		for (;;) {
			if (k >= n)
				break;
			l = u8_decode(u + k, n - k, &sc);
			if (l < 0) {
				if (!final)
					return MATCH_MORE;
				break;
			}
			if (l > 0 && u8_is_ignorable(sc)) {
				k += (size_t)l;
				continue;
			}
			if (l > 0 && u8_is_word(sc))
				return MATCH_NO;
			break;
		}
		if (k >= n && !final)
			return MATCH_MORE;
	}
	*mlen = i - pos;
	return MATCH_YES;
}

int
term_match_at(const struct policy_profile *pr, const char *s, size_t n,
    size_t pos, bool final, size_t *idx, size_t *mlen)
{
	size_t i, len = 0, best = 0;
	int r, res = MATCH_NO;
	unsigned char c0, f0;

	if (pos >= n)
		return final ? MATCH_NO : MATCH_MORE;
	c0 = (unsigned char)s[pos];
	f0 = (c0 >= 'A' && c0 <= 'Z') ? (unsigned char)(c0 + 32) : c0;
	for (i = 0; i < pr->n_block_terms; i++) {
		/* Cheap first-byte test; non-ASCII leads fold to themselves
		 * or to another lead byte, so only ASCII is filtered. */
		if (f0 < 0x80 && (unsigned char)pr->block_terms[i][0] != f0)
			continue;
		r = match_one(pr->block_terms[i], pr->block_whole_words, s, n,
		    pos, final, &len);
		if (r == MATCH_MORE)
			res = MATCH_MORE;
		else if (r == MATCH_YES && res != MATCH_MORE &&
		    (res == MATCH_NO || len > best)) {
			res = MATCH_YES;
			best = len;
			*idx = i;
		}
	}
	if (res == MATCH_YES)
		*mlen = best;
	return res;
}
