/*
 * pii.c - deterministic PII detectors with validation, and redaction.
 *
 * Divisions: helpers; one matcher per kind (email, phone, card, SSN, IBAN,
 * IP, date); the dispatcher; policy_redact_text().
 *
 * Each matcher answers "does an item start at s[pos]?" with MATCH_NO,
 * MATCH_YES (and its length) or MATCH_MORE when the bytes so far could
 * still become an item, which is what lets the streaming filter hold back
 * no more than a match could still need.  Every matcher requires a
 * boundary on both sides (no letter or digit glued to the item) and
 * validates what it found: Luhn for cards, mod-97 for IBANs, the SSA
 * structure rules for SSNs, octet ranges for IPv4, group counts for IPv6
 * and the calendar for dates.  Checksums keep the false positive rate on
 * long numbers low (ANCHORS.md D4).  Each kind has a maximum length, so
 * MATCH_MORE is bounded.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "policy/policy_impl.h"

/* ---------------------------------------------------------------- helpers */

/* The byte at s[i], or -1 past the end. */
#define BYTE(i)	((i) < n ? (int)(unsigned char)s[(i)] : -1)

static bool
is_alnum(int c)
{
	return c >= 0 && c < 0x80 && isalnum(c);
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_hex(int c)
{
	return c >= 0 && c < 0x80 && isxdigit(c);
}

/* A letter or digit glued on: any non-ASCII byte counts as a letter. */
static bool
glued(int c)
{
	return c >= 0x80 || is_alnum(c);
}

#define MORE_OR_NO	(final ? MATCH_NO : MATCH_MORE)

/* ---------------------------------------------------------------- email */

static bool
email_local(int c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
	    c == '-';
}

static int
m_email(const char *s, size_t n, size_t pos, bool final, size_t *len)
{
	size_t i = pos, at, end, lab, dots = 0, e;
	int c;

	if (pos > 0 && (email_local(BYTE(pos - 1)) && BYTE(pos - 1) != '.'))
		return MATCH_NO;
	if (!is_alnum(BYTE(pos)))
		return MATCH_NO;
	while (i < n && email_local(BYTE(i)) && i - pos <= 64)
		i++;
	if (i - pos > 64)
		return MATCH_NO;
	if (i >= n)
		return MORE_OR_NO;
	if (BYTE(i) != '@' || BYTE(i - 1) == '.')
		return MATCH_NO;
	for (e = pos; e + 1 < i; e++)
		if (s[e] == '.' && s[e + 1] == '.')
			return MATCH_NO;
	at = i++;
	while (i < n && (is_alnum(BYTE(i)) || BYTE(i) == '-' ||
	    BYTE(i) == '.') && i - at <= 254)
		i++;
	if (i - at > 254)
		return MATCH_NO;
	if (i >= n && !final)
		return MATCH_MORE;
	if (glued(BYTE(i)) || BYTE(i) == '_' || BYTE(i) == '@')
		return MATCH_NO;
	/* Trailing dots and hyphens end the sentence, not the address. */
	end = i;
	while (end > at + 1 && (s[end - 1] == '.' || s[end - 1] == '-'))
		end--;
	/* Labels: 1..63 of [A-Za-z0-9-], no edge '-', >= 2, alpha TLD. */
	lab = at + 1;
	for (i = at + 1; i <= end; i++) {
		c = i < end ? (unsigned char)s[i] : '.';
		if (c != '.')
			continue;
		if (i == lab || i - lab > 63 || s[lab] == '-' ||
		    s[i - 1] == '-')
			return MATCH_NO;
		if (i < end)
			dots++;
		else {
			if (i - lab < 2)
				return MATCH_NO;
			for (e = lab; e < i; e++)
				if (!isalpha((unsigned char)s[e]))
					return MATCH_NO;
		}
		lab = i + 1;
	}
	if (dots == 0)
		return MATCH_NO;
	*len = end - pos;
	return MATCH_YES;
}

/* ---------------------------------------------------------------- phone */

static bool
phone_sep(int c)
{
	return c == ' ' || c == '-' || c == '.';
}

/*
 * International: '+', 1-3 digit country code, then digit groups separated
 * by one ' ', '-' or '.' (a group may be in parentheses); 8 to 15 digits
 * in all (E.164).
 */
static int
m_phone_intl(const char *s, size_t n, size_t pos, bool final, size_t *len)
{
	size_t i = pos + 1, digits = 0, last = 0;
	int c;
	bool paren = false;

	if (BYTE(pos) != '+')
		return MATCH_NO;
	if (pos > 0 && (glued(BYTE(pos - 1)) || BYTE(pos - 1) == '+'))
		return MATCH_NO;
	for (;;) {
		c = BYTE(i);
		if (c < 0) {
			if (!final)
				return digits < 15 ? MATCH_MORE : MATCH_NO;
			break;
		}
		if (is_digit(c)) {
			if (++digits > 15)
				return MATCH_NO;
			last = ++i;
			continue;
		}
		if (c == '(' && !paren && digits > 0 &&
		    (phone_sep(BYTE(i - 1)) || is_digit(BYTE(i - 1)))) {
			paren = true;
			i++;
			continue;
		}
		if (c == ')' && paren && is_digit(BYTE(i - 1))) {
			paren = false;
			i++;
			last = i;
			continue;
		}
		if (phone_sep(c) && digits > 0 && (is_digit(BYTE(i - 1)) ||
		    BYTE(i - 1) == ')')) {
			c = BYTE(i + 1);
			if (c < 0 && !final)
				return digits < 15 ? MATCH_MORE : MATCH_NO;
			if (is_digit(c) || c == '(') {
				i++;
				continue;
			}
		}
		break;
	}
	if (paren || digits < 8 || last == 0)
		return MATCH_NO;
	if (glued(BYTE(last)))
		return MATCH_NO;
	*len = last - pos;
	return MATCH_YES;
}

/*
 * A North American "NXX sep" group at s[i..i+4): three digits, the first
 * 2-9, then one separator.  MATCH_YES, MATCH_NO or (not final) MATCH_MORE.
 */
static int
nxx_sep(const char *s, size_t n, size_t i, bool final)
{
	int k, c;

	for (k = 0; k < 3; k++) {
		c = BYTE(i + (size_t)k);
		if (c < 0)
			return MORE_OR_NO;
		if (!is_digit(c) || (k == 0 && c < '2'))
			return MATCH_NO;
	}
	c = BYTE(i + 3);
	if (c < 0)
		return MORE_OR_NO;
	return phone_sep(c) ? MATCH_YES : MATCH_NO;
}

/*
 * North American: [1 sep] (NXX) or NXX sep, NXX sep XXXX, where N is 2-9
 * and sep is one ' ', '-' or '.' (a space or nothing after "(NXX)").
 */
static int
m_phone_na(const char *s, size_t n, size_t pos, bool final, size_t *len)
{
	size_t i = pos;
	int k, c;

	if (pos > 0 && (glued(BYTE(pos - 1)) || BYTE(pos - 1) == '+' ||
	    BYTE(pos - 1) == '-' || BYTE(pos - 1) == '.' ||
	    BYTE(pos - 1) == '('))
		return MATCH_NO;
	if (BYTE(i) == '1') {
		c = BYTE(i + 1);
		if (c < 0)
			return MORE_OR_NO;
		if (phone_sep(c))
			i += 2;
	}
	if (BYTE(i) == '(') {
		for (k = 1; k <= 3; k++) {
			c = BYTE(i + (size_t)k);
			if (c < 0)
				return MORE_OR_NO;
			if (!is_digit(c) || (k == 1 && c < '2'))
				return MATCH_NO;
		}
		c = BYTE(i + 4);
		if (c < 0)
			return MORE_OR_NO;
		if (c != ')')
			return MATCH_NO;
		i += 5;
		c = BYTE(i);
		if (c < 0)
			return MORE_OR_NO;
		if (c == ' ')
			i++;
	} else {
		if ((c = nxx_sep(s, n, i, final)) != MATCH_YES)
			return c;
		i += 4;
	}
	if ((c = nxx_sep(s, n, i, final)) != MATCH_YES)
		return c;
	i += 4;
	for (k = 0; k < 4; k++) {
		c = BYTE(i + (size_t)k);
		if (c < 0)
			return MORE_OR_NO;
		if (!is_digit(c))
			return MATCH_NO;
	}
	i += 4;
	c = BYTE(i);
	if (c < 0 && !final)
		return MATCH_MORE;
	if (glued(c))
		return MATCH_NO;
	/* "555-123-4567-89" is some other number. */
	if (c == '-' || c == '.') {
		c = BYTE(i + 1);
		if (c < 0 && !final)
			return MATCH_MORE;
		if (is_digit(c))
			return MATCH_NO;
	}
	*len = i - pos;
	return MATCH_YES;
}

/* ----------------------------------------------------------------- card */

static bool
luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0, x;
	size_t i;

	for (i = 0; i < n; i++) {
		x = (unsigned)(d[n - 1 - i] - '0');
		if (i & 1) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	return sum % 10 == 0;
}

/*
 * 13 to 19 digits starting with 2-6 (the major networks' ranges), groups
 * separated by one ' ' or '-', passing Luhn.  The whole digit run is the
 * number: a longer run is not a card.
 */
static int
m_card(const char *s, size_t n, size_t pos, bool final, size_t *len)
{
	char d[20];
	size_t i = pos, nd = 0, last;
	int c;

	if (pos > 0 && (glued(BYTE(pos - 1)) || BYTE(pos - 1) == '-' ||
	    BYTE(pos - 1) == '.' || BYTE(pos - 1) == '+'))
		return MATCH_NO;
	c = BYTE(pos);
	if (c < '2' || c > '6')
		return MATCH_NO;
	for (;;) {
		c = BYTE(i);
		if (c < 0) {
			if (!final)
				return MATCH_MORE;
			break;
		}
		if (is_digit(c)) {
			if (nd == 19)
				return MATCH_NO;
			d[nd++] = (char)c;
			i++;
			continue;
		}
		if ((c == ' ' || c == '-') && nd < 19) {
			c = BYTE(i + 1);
			if (c < 0 && !final)
				return MATCH_MORE;
			if (is_digit(c)) {
				i++;
				continue;
			}
		}
		break;
	}
	last = i;
	c = BYTE(last);
	if (glued(c))
		return MATCH_NO;
	if (c == '.' || c == ',') {
		/* "4111....1" or a decimal: not a card number. */
		c = BYTE(last + 1);
		if (c < 0 && !final)
			return MATCH_MORE;
		if (is_digit(c))
			return MATCH_NO;
	}
	if (nd < 13 || !luhn_ok(d, nd))
		return MATCH_NO;
	*len = last - pos;
	return MATCH_YES;
}

/* ------------------------------------------------------------------ SSN */

/*
 * AAA-GG-SSSS (or with spaces, the same separator twice): area not 000,
 * 666 or 900-999, group not 00, serial not 0000.
 */
static int
m_ssn(const char *s, size_t n, size_t pos, bool final, size_t *len)
{
	static const int shape[11] = {
		'd', 'd', 'd', 's', 'd', 'd', 's', 'd', 'd', 'd', 'd'
	};
	char sep = 0;
	int c, k, area, group, serial;

	if (pos > 0 && (glued(BYTE(pos - 1)) || BYTE(pos - 1) == '-' ||
	    BYTE(pos - 1) == '+'))
		return MATCH_NO;
	for (k = 0; k < 11; k++) {
		c = BYTE(pos + (size_t)k);
		if (c < 0)
			return MORE_OR_NO;
		if (shape[k] == 'd' && !is_digit(c))
			return MATCH_NO;
		if (shape[k] == 's') {
			if (c != '-' && c != ' ')
				return MATCH_NO;
			if (sep != 0 && c != sep)
				return MATCH_NO;
			sep = (char)c;
		}
	}
	c = BYTE(pos + 11);
	if (c < 0 && !final)
		return MATCH_MORE;
	if (glued(c))
		return MATCH_NO;
	if (c == '-') {
		c = BYTE(pos + 12);
		if (c < 0 && !final)
			return MATCH_MORE;
		if (is_digit(c))
			return MATCH_NO;
	}
	area = (s[pos] - '0') * 100 + (s[pos + 1] - '0') * 10 +
	    (s[pos + 2] - '0');
	group = (s[pos + 4] - '0') * 10 + (s[pos + 5] - '0');
	serial = (s[pos + 7] - '0') * 1000 + (s[pos + 8] - '0') * 100 +
	    (s[pos + 9] - '0') * 10 + (s[pos + 10] - '0');
	if (area == 0 || area == 666 || area >= 900 || group == 0 ||
	    serial == 0)
		return MATCH_NO;
	*len = 11;
	return MATCH_YES;
}

/* ----------------------------------------------------------------- IBAN */

/* IBAN lengths by country (SWIFT IBAN registry). */
static const struct {
	char	cc[3];
	uint8_t	len;
} iban_len[] = {
	{ "AD", 24 }, { "AE", 23 }, { "AL", 28 }, { "AT", 20 }, { "AZ", 28 },
	{ "BA", 20 }, { "BE", 16 }, { "BG", 22 }, { "BH", 22 }, { "BR", 29 },
	{ "BY", 28 }, { "CH", 21 }, { "CR", 22 }, { "CY", 28 }, { "CZ", 24 },
	{ "DE", 22 }, { "DK", 18 }, { "DO", 28 }, { "EE", 20 }, { "EG", 29 },
	{ "ES", 24 }, { "FI", 18 }, { "FO", 18 }, { "FR", 27 }, { "GB", 22 },
	{ "GE", 22 }, { "GI", 23 }, { "GL", 18 }, { "GR", 27 }, { "GT", 28 },
	{ "HR", 21 }, { "HU", 28 }, { "IE", 22 }, { "IL", 23 }, { "IQ", 23 },
	{ "IS", 26 }, { "IT", 27 }, { "JO", 30 }, { "KW", 30 }, { "KZ", 20 },
	{ "LB", 28 }, { "LC", 32 }, { "LI", 21 }, { "LT", 20 }, { "LU", 20 },
	{ "LV", 21 }, { "MC", 27 }, { "MD", 24 }, { "ME", 22 }, { "MK", 19 },
	{ "MR", 27 }, { "MT", 31 }, { "MU", 30 }, { "NL", 18 }, { "NO", 15 },
	{ "PK", 24 }, { "PL", 28 }, { "PS", 29 }, { "PT", 25 }, { "QA", 29 },
	{ "RO", 24 }, { "RS", 22 }, { "SA", 24 }, { "SC", 31 }, { "SE", 24 },
	{ "SI", 19 }, { "SK", 24 }, { "SM", 27 }, { "ST", 25 }, { "SV", 28 },
	{ "TL", 23 }, { "TN", 24 }, { "TR", 26 }, { "UA", 29 }, { "VA", 22 },
	{ "VG", 24 }, { "XK", 20 },
};

static int
iban_country_len(int a, int b)
{
	size_t i;

	for (i = 0; i < CL_ARRAY_LEN(iban_len); i++)
		if (iban_len[i].cc[0] == a && iban_len[i].cc[1] == b)
			return iban_len[i].len;
	return 0;
}

/* ISO 13616 check: move the first four to the end, letters to 10..35. */
static bool
iban_mod97(const char *c, size_t n)
{
	unsigned r = 0, v;
	size_t i;
	int ch;

	for (i = 0; i < n; i++) {
		ch = c[(i + 4) % n];
		if (is_digit(ch))
			r = (r * 10 + (unsigned)(ch - '0')) % 97;
		else {
			v = (unsigned)(toupper(ch) - 'A' + 10);
			r = (r * 100 + v) % 97;
		}
	}
	return r == 1;
}

/*
 * Country code, check digits, BBAN, written either without spaces or in
 * groups of four separated by one space; the length must match the
 * country's; letters of either case.
 */
static int
m_iban(const char *s, size_t n, size_t pos, bool final, size_t *len)
{
	char c[34];
	size_t i = pos, nc = 0;
	int want, ch;
	bool spaced = false;

	if (pos > 0 && glued(BYTE(pos - 1)))
		return MATCH_NO;
	for (nc = 0; nc < 4; nc++) {
		ch = BYTE(pos + nc);
		if (ch < 0)
			return MORE_OR_NO;
		if (nc < 2 ? !(ch < 0x80 && isalpha(ch)) : !is_digit(ch))
			return MATCH_NO;
		c[nc] = (char)toupper(ch);
	}
	if ((want = iban_country_len(c[0], c[1])) == 0)
		return MATCH_NO;
	i = pos + 4;
	while ((int)nc < want) {
		ch = BYTE(i);
		if (ch < 0)
			return MORE_OR_NO;
		if (ch == ' ') {
			/* Only between groups of four. */
			if (nc % 4 != 0 || (nc > 4 && !spaced) ||
			    BYTE(i - 1) == ' ')
				return MATCH_NO;
			if (nc == 4)
				spaced = true;
			i++;
			continue;
		}
		if (spaced && nc % 4 == 0 && BYTE(i - 1) != ' ')
			return MATCH_NO;
		if (!is_alnum(ch))
			return MATCH_NO;
		c[nc++] = (char)toupper(ch);
		i++;
	}
	ch = BYTE(i);
	if (ch < 0 && !final)
		return MATCH_MORE;
	if (glued(ch))
		return MATCH_NO;
	if (!iban_mod97(c, nc))
		return MATCH_NO;
	*len = i - pos;
	return MATCH_YES;
}

/* ------------------------------------------------------------------- IP */

/* IPv4 in s[a..b): four decimal octets <= 255, no leading zeros. */
static bool
ipv4_ok(const char *s, size_t a, size_t b)
{
	unsigned parts = 0, v = 0, nd = 0;
	size_t i;

	for (i = a; i <= b; i++) {
		if (i == b || s[i] == '.') {
			if (nd == 0 || v > 255 || (nd > 1 && s[i - nd] == '0'))
				return false;
			parts++;
			v = 0;
			nd = 0;
			continue;
		}
		if (!is_digit((unsigned char)s[i]) || ++nd > 3)
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return parts == 4;
}

/*
 * IPv6 in s[a..b): groups of 1-4 hex digits, at most one "::", eight
 * groups (or fewer with "::", then at least two), an optional dotted IPv4
 * tail counting as two groups.
 */
static bool
ipv6_ok(const char *s, size_t a, size_t b)
{
	size_t i = a, g = 0, nh;
	bool dbl = false;
	size_t lastcolon;

	if (b - a >= 2 && s[a] == ':' && s[a + 1] == ':') {
		dbl = true;
		i = a + 2;
		if (i == b)
			return false;
	} else if (s[a] == ':')
		return false;
	while (i < b) {
		nh = 0;
		while (i + nh < b && is_hex((unsigned char)s[i + nh]))
			nh++;
		if (i + nh < b && s[i + nh] == '.') {
			/* IPv4 tail must be last. */
			if (!ipv4_ok(s, i, b))
				return false;
			g += 2;
			i = b;
			break;
		}
		if (nh == 0 || nh > 4)
			return false;
		g++;
		i += nh;
		if (i == b)
			break;
		if (s[i] != ':')
			return false;
		lastcolon = i;
		if (i + 1 < b && s[i + 1] == ':') {
			if (dbl)
				return false;
			dbl = true;
			i += 2;
			if (i == b)
				break;
		} else {
			i++;
			if (i == b)
				return false;
		}
		(void)lastcolon;
	}
	if (dbl)
		return g >= 2 && g <= 7;
	return g == 8;
}

static bool
ip_char(int c)
{
	return is_hex(c) || c == ':' || c == '.';
}

static int
m_ip(const char *s, size_t n, size_t pos, bool final, size_t *len)
{
	size_t i = pos, end;
	int c;

	if (pos > 0 && (glued(BYTE(pos - 1)) || BYTE(pos - 1) == ':' ||
	    BYTE(pos - 1) == '.'))
		return MATCH_NO;
	c = BYTE(pos);
	if (!is_hex(c) && c != ':')
		return MATCH_NO;
	while (i < n && ip_char(BYTE(i)) && i - pos <= 46)
		i++;
	if (i - pos > 46)
		return MATCH_NO;
	if (i >= n && !final)
		return MATCH_MORE;
	if (glued(BYTE(i)))
		return MATCH_NO;
	/* A trailing '.' or ':' ends the sentence. */
	end = i;
	if (end > pos + 1 && (s[end - 1] == '.' || (s[end - 1] == ':' &&
	    s[end - 2] != ':')))
		end--;
	if (ipv4_ok(s, pos, end) || ipv6_ok(s, pos, end)) {
		*len = end - pos;
		return MATCH_YES;
	}
	return MATCH_NO;
}

/* ----------------------------------------------------------------- date */

static bool
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool
date_ok(int y, int m, int d)
{
	static const int mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap(y));
}

static const char *const months[12] = {
	"january", "february", "march", "april", "may", "june", "july",
	"august", "september", "october", "november", "december"
};

/*
 * A month name (full, three letters, or "sept") at s[i]; returns 1..12
 * and its length, 0 when none, -1 when more bytes are needed.
 */
static int
month_at(const char *s, size_t n, size_t i, bool final, size_t *mlen)
{
	size_t k, l;
	int m, best = 0;
	bool more = false;

	for (m = 0; m < 12; m++) {
		l = strlen(months[m]);
		for (k = 0; k < l && i + k < n; k++)
			if (tolower((unsigned char)s[i + k]) != months[m][k])
				break;
		if (k < l && i + k >= n && !final) {
			more = true;	/* a prefix of this month so far */
			continue;
		}
		/* The full name, the first three letters, or "sept". */
		if (k != l && k != 3 && !(m == 8 && k == 4))
			continue;
		if (i + k >= n && !final) {
			more = true;
			continue;
		}
		if (is_alnum(BYTE(i + k)))
			continue;
		if (best == 0 || k > *mlen) {
			best = m + 1;
			*mlen = k;
		}
	}
	return more ? -1 : best;
}

/* Up to `max` digits at s[i]; returns the count (-1: ran off the end). */
static int
digits_at(const char *s, size_t n, size_t i, int max, int *val)
{
	int k = 0;

	*val = 0;
	while (k < max && i + (size_t)k < n && is_digit(BYTE(i + (size_t)k))) {
		*val = *val * 10 + (s[i + (size_t)k] - '0');
		k++;
	}
	if (i + (size_t)k >= n && k < max)
		return -1;
	if (k == max && is_digit(BYTE(i + (size_t)k)))
		return 0;	/* too many digits */
	return k;
}

/* After a date: not glued to a letter or digit (or "-5"). */
static int
date_end(const char *s, size_t n, size_t i, bool final)
{
	int c = BYTE(i);

	if (c < 0)
		return final ? MATCH_YES : MATCH_MORE;
	if (glued(c))
		return MATCH_NO;
	if (c == '-' || c == '/' || c == '.') {
		c = BYTE(i + 1);
		if (c < 0)
			return final ? MATCH_YES : MATCH_MORE;
		if (is_digit(c))
			return MATCH_NO;
	}
	return MATCH_YES;
}

static int
m_date(const char *s, size_t n, size_t pos, bool final, size_t *len)
{
	int a, b, y, k, m, r;
	size_t i, ml = 0;
	int sep;

	if (pos > 0 && (glued(BYTE(pos - 1)) || BYTE(pos - 1) == '-' ||
	    BYTE(pos - 1) == '/' || BYTE(pos - 1) == '.'))
		return MATCH_NO;
	if (is_digit(BYTE(pos))) {
		k = digits_at(s, n, pos, 4, &a);
		if (k < 0)
			return MORE_OR_NO;
		i = pos + (size_t)k;
		if (k == 4) {
			/* YYYY-MM-DD */
			if (BYTE(i) < 0)
				return MORE_OR_NO;
			if (BYTE(i) != '-')
				return MATCH_NO;
			if ((k = digits_at(s, n, i + 1, 2, &b)) < 0)
				return MORE_OR_NO;
			if (k != 2)
				return MATCH_NO;
			i += 3;
			if (BYTE(i) < 0)
				return MORE_OR_NO;
			if (BYTE(i) != '-')
				return MATCH_NO;
			if ((k = digits_at(s, n, i + 1, 2, &m)) < 0)
				return MORE_OR_NO;
			if (k != 2 || !date_ok(a, b, m))
				return MATCH_NO;
			i += 3;
		} else if (k == 1 || k == 2) {
			sep = BYTE(i);
			if (sep < 0)
				return MORE_OR_NO;
			if (sep == '/' || sep == '.' || sep == '-') {
				/* DD/MM/YYYY or MM/DD/YYYY */
				if ((k = digits_at(s, n, i + 1, 2, &b)) < 0)
					return MORE_OR_NO;
				if (k < 1)
					return MATCH_NO;
				i += 1 + (size_t)k;
				if (BYTE(i) < 0)
					return MORE_OR_NO;
				if (BYTE(i) != sep)
					return MATCH_NO;
				if ((k = digits_at(s, n, i + 1, 4, &y)) < 0)
					return MORE_OR_NO;
				if (k != 4)
					return MATCH_NO;
				if (!date_ok(y, b, a) && !date_ok(y, a, b))
					return MATCH_NO;
				i += 5;
			} else if (sep == ' ') {
				/* 12 March 1985 */
				m = month_at(s, n, i + 1, final, &ml);
				if (m < 0)
					return MATCH_MORE;
				if (m == 0)
					return MATCH_NO;
				i += 1 + ml;
				if (BYTE(i) == '.')
					i++;
				if (BYTE(i) < 0)
					return MORE_OR_NO;
				if (BYTE(i) != ' ')
					return MATCH_NO;
				if ((k = digits_at(s, n, i + 1, 4, &y)) < 0)
					return MORE_OR_NO;
				if (k != 4 || !date_ok(y, m, a))
					return MATCH_NO;
				i += 5;
			} else
				return MATCH_NO;
		} else
			return MATCH_NO;
	} else if (BYTE(pos) >= 0 && BYTE(pos) < 0x80 && isalpha(BYTE(pos))) {
		/* March 12, 1985 */
		m = month_at(s, n, pos, final, &ml);
		if (m < 0)
			return MATCH_MORE;
		if (m == 0)
			return MATCH_NO;
		i = pos + ml;
		if (BYTE(i) == '.')
			i++;
		if (BYTE(i) < 0)
			return MORE_OR_NO;
		if (BYTE(i) != ' ')
			return MATCH_NO;
		if ((k = digits_at(s, n, i + 1, 2, &a)) < 0)
			return MORE_OR_NO;
		if (k < 1)
			return MATCH_NO;
		i += 1 + (size_t)k;
		if (BYTE(i) == ',')
			i++;
		if (BYTE(i) < 0)
			return MORE_OR_NO;
		if (BYTE(i) != ' ')
			return MATCH_NO;
		if ((k = digits_at(s, n, i + 1, 4, &y)) < 0)
			return MORE_OR_NO;
		if (k != 4 || !date_ok(y, m, a))
			return MATCH_NO;
		i += 5;
	} else
		return MATCH_NO;
	if ((r = date_end(s, n, i, final)) != MATCH_YES)
		return r;
	*len = i - pos;
	return MATCH_YES;
}

/* ----------------------------------------------------------- dispatcher */

static const struct {
	unsigned	 kind;
	int		(*fn)(const char *, size_t, size_t, bool, size_t *);
} matchers[] = {
	{ POLICY_PII_EMAIL, m_email },
	{ POLICY_PII_CARD, m_card },
	{ POLICY_PII_IBAN, m_iban },
	{ POLICY_PII_SSN, m_ssn },
	{ POLICY_PII_PHONE, m_phone_intl },
	{ POLICY_PII_PHONE, m_phone_na },
	{ POLICY_PII_IP, m_ip },
	{ POLICY_PII_DATE, m_date },
};

int
pii_match_at(unsigned kinds, const char *s, size_t n, size_t pos,
    bool final, unsigned *kind, size_t *mlen)
{
	size_t i, len, best = 0;
	int r, res = MATCH_NO;

	if (pos >= n)
		return final ? MATCH_NO : MATCH_MORE;
	for (i = 0; i < CL_ARRAY_LEN(matchers); i++) {
		if (!(kinds & matchers[i].kind))
			continue;
		len = 0;
		r = matchers[i].fn(s, n, pos, final, &len);
		if (r == MATCH_MORE)
			res = MATCH_MORE;
		else if (r == MATCH_YES && res != MATCH_MORE && len > best) {
			res = MATCH_YES;
			best = len;
			*kind = matchers[i].kind;
		}
	}
	if (res == MATCH_YES)
		*mlen = best;
	return res;
}

int
policy_redact_text(unsigned kinds, const char *in, size_t n,
    struct cl_buf *out, unsigned *n_found)
{
	size_t i = 0, start = 0, len;
	unsigned kind, found = 0;
	int r;

	while (i < n) {
		len = 0;
		if (pii_match_at(kinds, in, n, i, true, &kind, &len) ==
		    MATCH_YES && len > 0) {
			if ((r = cl_buf_append(out, in + start, i - start)) !=
			    CL_OK ||
			    (r = cl_buf_puts(out,
			    policy_pii_placeholder(kind))) != CL_OK)
				return r;
			found++;
			i += len;
			start = i;
			continue;
		}
		i++;
	}
	if (n_found != NULL)
		*n_found = found;
	return cl_buf_append(out, in + start, n - start);
}
