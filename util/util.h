/*
 * util.h - small helpers shared by every cloister module.
 *
 * Owns: the error codes and the error-message carrier (struct cl_err),
 * overflow-checked size arithmetic, a growable byte buffer, UTF-8
 * validation, a JSON writer and a bounded JSON reader, and an allocation
 * hook that tests use to fail the Nth allocation.
 *
 * Layering: util depends on nothing but libc.  Every other module may use
 * it; it never calls back into them.  Library code never prints and never
 * exits: failures are returned as CL_E* codes with a message in a
 * struct cl_err.  Messages never contain prompt text, model output,
 * passphrases or key bytes (the privacy rule); only lengths, counts,
 * codes and names.
 */
#ifndef CLOISTER_UTIL_H
#define CLOISTER_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CL_WUR		__attribute__((warn_unused_result))
#define CL_PRINTF(a, b)	__attribute__((format(printf, a, b)))
#define CL_ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* Error codes.  Coarse on purpose; the detail goes in struct cl_err. */
#define CL_OK		0	/* success */
#define CL_EINTERNAL	-1	/* a bug or an impossible state */
#define CL_ENOMEM	-2	/* out of memory */
#define CL_EINVAL	-3	/* bad argument or bad user input */
#define CL_EIO		-4	/* read, write or other system call failed */
#define CL_EFORMAT	-5	/* malformed file or frame (hostile input) */
#define CL_ECRYPTO	-6	/* authentication failed, wrong key, tampering */
#define CL_ESANDBOX	-7	/* a jail layer could not be applied or verified */
#define CL_EPOLICY	-8	/* refused by the policy */
#define CL_EUNSUPPORTED	-9	/* valid, but not something cloister handles */
#define CL_ENOTFOUND	-10	/* a named thing does not exist */
#define CL_EEXIST	-11	/* refusing to overwrite something that exists */
#define CL_ELIMIT	-12	/* a size, count or time limit was reached */
#define CL_ECANCELED	-13	/* stopped on request */
#define CL_EENGINE	-14	/* the jailed engine failed, died or misbehaved */
#define CL_EAUTH	-15	/* wrong passphrase or PIN, or not the admin */

/*
 * An error: a code and a one-line message (git style: lowercase, no final
 * period, what failed first, subject quoted).  Zero-initialise it or use
 * CL_ERR_INIT.
 */
struct cl_err {
	int	code;		/* CL_E* code, CL_OK when none */
	char	msg[256];	/* NUL-terminated message */
};
#define CL_ERR_INIT { CL_OK, { 0 } }

/*
 * Fill `err` (which may be NULL) with `code` and a printf-style message and
 * return `code`, so callers write `return cl_errf(err, CL_EIO, "...")`.
 */
int cl_errf(struct cl_err *err, int code, const char *fmt, ...)
    CL_PRINTF(3, 4);

/*
 * Prefix the message already in `err` with "what: " and return its code.
 * Used to add context on the way up ("loading model: ...").
 */
int cl_err_prefix(struct cl_err *err, const char *fmt, ...) CL_PRINTF(2, 3);

/* A short description of a CL_E* code; never NULL. */
const char *cl_strerror(int code);

/*
 * A broken invariant is a programming error: print where, then abort.
 * Never use it for bad input.
 */
#define CL_BUG(what) cl_bug(__FILE__, __LINE__, (what))
void cl_bug(const char *file, int line, const char *what)
    __attribute__((noreturn));

/*
 * Overflow-checked arithmetic for sizes taken from untrusted input.
 * Each stores the result in *out and returns true, or returns false and
 * leaves *out unchanged when the result does not fit.
 */
static inline bool CL_WUR
cl_add_size(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_add_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

static inline bool CL_WUR
cl_mul_size(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

static inline bool CL_WUR
cl_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

static inline bool CL_WUR
cl_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

/*
 * Allocation.  All cloister code allocates through these so that tests can
 * make the Nth allocation fail (cl_alloc_fail_after) and so every `out:`
 * path runs.  cl_malloc/cl_calloc/cl_realloc behave like their libc
 * namesakes; cl_free(NULL) is a no-op.
 */
void	*cl_malloc(size_t n);
void	*cl_calloc(size_t n, size_t size);
void	*cl_realloc(void *p, size_t n);
char	*cl_strdup(const char *s);
char	*cl_strndup(const char *s, size_t n);
void	 cl_free(void *p);

/*
 * Testing hook: after `n` more successful allocations, every allocation
 * fails until cl_alloc_fail_after(-1) turns failure injection off.
 * Not thread-safe; tests call it from a single thread.
 */
void	 cl_alloc_fail_after(long n);

/*
 * A growable byte buffer.  Embed it and initialise with CL_BUF_INIT or
 * cl_buf_init(); release with cl_buf_release().  `data` is always
 * NUL-terminated (the terminator is not counted in `len`) once anything
 * has been appended, so text can be used as a C string.
 */
struct cl_buf {
	char	*data;		/* bytes, owned; NULL until first append */
	size_t	 len;		/* bytes used */
	size_t	 cap;		/* bytes allocated */
};
#define CL_BUF_INIT { NULL, 0, 0 }

void	cl_buf_init(struct cl_buf *b);
void	cl_buf_release(struct cl_buf *b);
/* Drop the contents but keep the allocation. */
void	cl_buf_reset(struct cl_buf *b);
/* Make room for `n` more bytes.  Returns CL_OK or CL_ENOMEM. */
int	cl_buf_reserve(struct cl_buf *b, size_t n) CL_WUR;
int	cl_buf_append(struct cl_buf *b, const void *p, size_t n) CL_WUR;
int	cl_buf_puts(struct cl_buf *b, const char *s) CL_WUR;
int	cl_buf_printf(struct cl_buf *b, const char *fmt, ...)
    CL_PRINTF(2, 3) CL_WUR;
/*
 * Take the buffer's bytes; the caller frees them with cl_free().  The
 * buffer is left empty.  Returns NULL if nothing was ever appended.
 */
char	*cl_buf_steal(struct cl_buf *b, size_t *len_out);

/*
 * UTF-8 (RFC 3629, strict).  cl_utf8_valid() is true when `s[0..n)` is
 * well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF);
 * embedded NUL bytes are valid.
 * cl_utf8_complete_prefix() returns the length of the longest prefix of
 * `s[0..n)` that does not end inside a code point (so a stream can hold
 * back an incomplete tail of at most 3 bytes); invalid bytes, and a tail
 * that could never become valid (such as ED A0, a surrogate), count as
 * complete, so the caller never waits forever.
 */
bool	cl_utf8_valid(const char *s, size_t n);
size_t	cl_utf8_complete_prefix(const char *s, size_t n);
/*
 * Decode one code point from s[0..n).  Returns the number of bytes used
 * (1..4) and stores the code point in *cp, or returns 0 for an invalid or
 * truncated sequence (then *cp is U+FFFD and one byte should be skipped).
 */
size_t	cl_utf8_decode(const char *s, size_t n, uint32_t *cp);
/*
 * Encode `cp` into out[0..4); returns the byte count, 0 (out untouched)
 * for a surrogate or a value above U+10FFFF.
 */
size_t	cl_utf8_encode(uint32_t cp, char out[4]);

/*
 * JSON writer: appends compact JSON to a cl_buf (borrowed; the caller
 * owns and releases it).  Strings are escaped: '"' and '\\' with a
 * backslash, \n \r \t as such, other control characters and DEL as
 * \u00XX; each byte of invalid UTF-8 becomes U+FFFD, so the output is
 * always valid UTF-8.  Numbers round-trip: "%.9g" for floats, "%.17g"
 * for doubles, with '.' as the radix whatever LC_NUMERIC says; NaN and
 * infinities are written as null (JSON has neither).  The writer tracks
 * commas itself: call cl_json_key() before each member value inside an
 * object.  Nesting is limited to 31 levels.  Errors are sticky and later
 * calls do nothing: check `err` once at the end.  It is CL_OK,
 * CL_ENOMEM, CL_ELIMIT (too deep) or CL_EINVAL (misuse: a key outside an
 * object or twice in a row, an end without a begin); after an error the
 * buffer holds a truncated document that must not be used.
 */
struct cl_json_writer {
	struct cl_buf	*out;		/* destination, borrowed */
	int		 err;		/* first error, sticky */
	int		 depth;		/* nesting depth */
	bool		 need_comma[32];/* per depth: a value was written */
	bool		 after_key;	/* a key was just written */
};
void	cl_json_init(struct cl_json_writer *w, struct cl_buf *out);
void	cl_json_obj_begin(struct cl_json_writer *w);
void	cl_json_obj_end(struct cl_json_writer *w);
void	cl_json_arr_begin(struct cl_json_writer *w);
void	cl_json_arr_end(struct cl_json_writer *w);
void	cl_json_key(struct cl_json_writer *w, const char *key);
void	cl_json_str(struct cl_json_writer *w, const char *s);
void	cl_json_strn(struct cl_json_writer *w, const char *s, size_t n);
void	cl_json_int(struct cl_json_writer *w, int64_t v);
void	cl_json_uint(struct cl_json_writer *w, uint64_t v);
void	cl_json_float(struct cl_json_writer *w, float v);
void	cl_json_double(struct cl_json_writer *w, double v);
void	cl_json_bool(struct cl_json_writer *w, bool v);
void	cl_json_null(struct cl_json_writer *w);

/*
 * JSON reader: parses one complete JSON text (RFC 8259, strictly) into a
 * tree.  Input is untrusted (hook answers, test vectors) and bounded:
 * nesting depth at most 64.  The input must be valid UTF-8 and need not
 * be NUL-terminated.  Strings are unescaped to UTF-8 and NUL-terminated;
 * a \uXXXX surrogate must be a proper pair, and \u0000 is rejected so
 * that `str` is a safe C string.  Numbers must match the JSON grammar (no
 * leading zeros, '+', hex, NaN, or bare '.') and are kept as double,
 * converted in the C locale; a number too large for a double is rejected,
 * one too small becomes 0.  An object with two members of the same name
 * is rejected (parsers disagree on which one wins, so accepting it would
 * let a file mean different things to different readers).  No comments,
 * no trailing commas, no BOM, nothing after the value but whitespace.
 * Time and memory are linear in the input.
 */
enum cl_json_type {
	CL_JSON_NULL, CL_JSON_BOOL, CL_JSON_NUM, CL_JSON_STR,
	CL_JSON_ARR, CL_JSON_OBJ
};
struct cl_json {
	enum cl_json_type	 type;
	bool			 b;	/* CL_JSON_BOOL */
	double			 num;	/* CL_JSON_NUM */
	char			*str;	/* CL_JSON_STR, NUL-terminated */
	size_t			 str_len;
	size_t			 n;	/* CL_JSON_ARR / CL_JSON_OBJ: count */
	struct cl_json		*items;	/* n children, in order */
	char			**keys;	/* CL_JSON_OBJ: n keys */
};
/*
 * Parse `text[0..len)` (borrowed; not referenced after the call).  On
 * success returns CL_OK and *out holds the tree; caller frees with
 * cl_json_free().  On failure *out is NULL and the code is CL_EFORMAT
 * (malformed), CL_ELIMIT (nested deeper than 64) or CL_ENOMEM; the
 * message reads "invalid JSON at byte N: <what was expected>" and never
 * quotes the input.  Thread-safe (no global state).
 */
int	cl_json_parse(const char *text, size_t len, struct cl_json **out,
	    struct cl_err *err) CL_WUR;
/* Free a tree from cl_json_parse(); NULL is a no-op. */
void	cl_json_free(struct cl_json *j);
/*
 * Member `key` of object `j`, or NULL (also when `j` is NULL or not an
 * object).  Linear in the member count.  Borrowed from the tree.
 */
const struct cl_json *cl_json_get(const struct cl_json *j, const char *key);
/* Element `i` of array `j`, or NULL (also when `j` is not an array). */
const struct cl_json *cl_json_at(const struct cl_json *j, size_t i);

/*
 * Read a whole file descriptor into memory, at most `max` bytes (more is
 * CL_ELIMIT).  Caller frees *out with cl_free(); it is NUL-terminated.
 */
int	cl_read_all(int fd, size_t max, char **out, size_t *len_out,
	    struct cl_err *err) CL_WUR;
/* Write all of p[0..n) to `fd`, retrying on EINTR and short writes. */
int	cl_write_all(int fd, const void *p, size_t n, struct cl_err *err)
	    CL_WUR;

/*
 * Sort n elements of `size` bytes in place by cmp(a, b, arg), like
 * qsort_r(3) but in-place heapsort: O(n log n), no allocation, no system
 * calls.  glibc's qsort asks sysconf(_SC_PHYS_PAGES) (the sysinfo system
 * call) the first time it sorts 1 KiB or more, which the jailed engine's
 * seccomp allowlist does not permit.  Not stable: give cmp a total order.
 */
void	cl_sort(void *base, size_t n, size_t size,
	    int (*cmp)(const void *, const void *, void *), void *arg);

/* Monotonic clock in seconds. */
double	cl_now(void);

#endif /* CLOISTER_UTIL_H */
