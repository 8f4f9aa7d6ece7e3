/*
 * policy_impl.h - internals shared by the files of policy/ (never included
 * from other modules).
 *
 * Divisions: the parsed policy object; UTF-8 decoding and the
 * length-preserving case fold used by block terms; the position matchers
 * (block terms, PII) the streaming filter drives.
 */
#ifndef CLOISTER_POLICY_IMPL_H
#define CLOISTER_POLICY_IMPL_H

#include <regex.h>

#include "policy/policy.h"

struct policy {
	struct policy_profile	**profiles;	/* [0] is "default" */
	size_t			  n_profiles;
};

/* Compiled forms of a profile's patterns (built by the parser). */
struct policy_compiled {
	regex_t		*re;		/* n_re compiled patterns */
	size_t		 n_re;
};

/* Free every member of a profile and the profile itself; NULL is a no-op. */
void	profile_free(struct policy_profile *pr);

/*
 * UTF-8: decode one code point at s[0..n).  Returns its length (1..4) and
 * sets *cp; returns 0 when the bytes are invalid (then *cp = 0xFFFD) and
 * -1 when they are a valid but truncated prefix of a sequence.
 */
int	u8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Length of the longest prefix of s[0..n) that ends on a code point. */
size_t	u8_complete(const char *s, size_t n);

/*
 * Simple case fold for matching: ASCII, Latin-1, Latin Extended-A pairs,
 * Greek and Cyrillic capitals map to their small letters.  Every mapping
 * keeps the UTF-8 byte length, so positions in folded text are positions
 * in the original.
 */
uint32_t u8_fold(uint32_t cp);

/* Letters and digits of the scripts above (and '_') for whole words. */
bool	u8_is_word(uint32_t cp);

/* Characters skipped inside a match (zero-width space/joiners, SHY). */
bool	u8_is_ignorable(uint32_t cp);

/* Whitespace that a space in a block term matches (ASCII, NBSP). */
bool	u8_is_space(uint32_t cp);

/* Results of a matcher asked "does an item start at pos?". */
enum {
	MATCH_NO,		/* no item starts here, whatever follows */
	MATCH_YES,		/* an item of *mlen bytes starts here */
	MATCH_MORE		/* undecided: needs more bytes */
};

/*
 * Block terms: does term text start at s[pos] (s[0..pos) is context that
 * was already seen)?  `final` means no more bytes will come.  On MATCH_YES
 * sets *idx (term index) and *mlen (bytes, spans whole code points).
 */
int	term_match_at(const struct policy_profile *pr, const char *s,
	    size_t n, size_t pos, bool final, size_t *idx, size_t *mlen);

/*
 * PII: does an item of one of `kinds` start at s[pos]?  Same contract;
 * on MATCH_YES *kind is the POLICY_PII_* bit and *mlen the length.
 * Among kinds that match at pos the longest wins.
 */
int	pii_match_at(unsigned kinds, const char *s, size_t n, size_t pos,
	    bool final, unsigned *kind, size_t *mlen);

/* Fold a term for storage: trim, collapse white space, fold case. */
char	*term_normalize(const char *s, size_t n);

#endif /* CLOISTER_POLICY_IMPL_H */
