/*
 * utf8.c - strict UTF-8 validation, decoding and encoding.
 *
 * Strict means RFC 3629: the shortest form only (no overlongs such as
 * C0 80), no UTF-16 surrogates (U+D800..U+DFFF, ED A0..ED BF as lead
 * pairs), nothing above U+10FFFF (F4 90 and up, F5..FF).  The allowed
 * second byte depends on the lead byte; the table below is the one in
 * RFC 3629 section 4 (and Unicode table 3-7), written as code.
 */
#include "util/util.h"

/* Sequence length announced by lead byte `b`, or 0 if `b` cannot lead. */
static size_t
lead_len(unsigned char b)
{
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		return 2;
	if (b >= 0xe0 && b <= 0xef)
		return 3;
	if (b >= 0xf0 && b <= 0xf4)
		return 4;
	return 0;		/* continuation byte, C0, C1 or F5..FF */
}

/* Is `b` a valid second byte after lead byte `lead` (lead_len >= 2)? */
static bool
second_ok(unsigned char lead, unsigned char b)
{
	switch (lead) {
	case 0xe0:
		return b >= 0xa0 && b <= 0xbf;	/* no overlong 3-byte form */
	case 0xed:
		return b >= 0x80 && b <= 0x9f;	/* no surrogates */
	case 0xf0:
		return b >= 0x90 && b <= 0xbf;	/* no overlong 4-byte form */
	case 0xf4:
		return b >= 0x80 && b <= 0x8f;	/* nothing above U+10FFFF */
	default:
		return b >= 0x80 && b <= 0xbf;
	}
}

/*
 * Do the `n` bytes at `u` (n >= 1, u[0] a lead byte) form a valid,
 * possibly incomplete, beginning of a sequence?
 */
static bool
prefix_ok(const unsigned char *u, size_t n)
{
	size_t i;

	if (n >= 2 && !second_ok(u[0], u[1]))
		return false;
	for (i = 2; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return false;
	}
	return true;
}

size_t
cl_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t need;

	*cp = 0xfffd;
	if (n == 0)
		return 0;
	if ((need = lead_len(u[0])) == 0 || need > n ||
	    !prefix_ok(u, need))
		return 0;
	switch (need) {
	case 1:
		*cp = u[0];
		break;
	case 2:
		*cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
		break;
	case 3:
		*cp = (uint32_t)(u[0] & 0x0f) << 12 |
		    (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
		break;
	default:
		*cp = (uint32_t)(u[0] & 0x07) << 18 |
		    (uint32_t)(u[1] & 0x3f) << 12 |
		    (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
		break;
	}
	return need;
}

bool
cl_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = cl_utf8_decode(s + i, n - i, &cp)) == 0)
			return false;
		i += k;
	}
	return true;
}

size_t
cl_utf8_complete_prefix(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k, need;

	/* Walk back over at most three continuation bytes to a lead. */
	for (k = n; k > 0 && n - k < 3; k--) {
		if ((u[k - 1] & 0xc0) != 0x80)
			break;
	}
	if (k == 0 || (u[k - 1] & 0xc0) == 0x80)
		return n;	/* no lead byte close enough: nothing pending */
	k--;
	need = lead_len(u[k]);
	if (need == 0 || n - k >= need)
		return n;	/* invalid lead, or the sequence is whole */
	if (!prefix_ok(u + k, n - k))
		return n;	/* can never complete: counts as complete */
	return k;
}

size_t
cl_utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	if (cp > 0x10ffff)
		return 0;
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}
