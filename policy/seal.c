/*
 * seal.c - sealing the policy with the admin's Ed25519 key, and PINs.
 *
 * Divisions: the seal line; seal; verify; the gate; PINs.
 *
 * The seal is the last line of the file:
 *
 *	# cloister-seal: ed25519 KEYID SIGNATURE
 *
 * KEYID: 16 hex digits, the first 8 bytes of BLAKE2b(public key).
 * SIGNATURE: base64 (RFC 4648, with padding) of the Ed25519 signature of
 * the 88-byte message "cloister-policy-seal-v1\0" || BLAKE2b-512(B), where
 * B is every byte of the file before the seal line.  The context string
 * keeps a policy seal from ever being confused with another signature the
 * admin key makes (audit checkpoints, exports).  The seal sits in the file
 * itself so that copying the file copies the seal, and it is a comment to
 * the parser.  Anything after the seal line counts as a modification.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "policy/policy_impl.h"

#define SEAL_PREFIX	"# cloister-seal: ed25519 "
#define SEAL_CONTEXT	"cloister-policy-seal-v1"	/* + its NUL */
#define SIG_B64_LEN	88	/* base64 of 64 bytes, padded */

/* ------------------------------------------------------- the seal line */

/*
 * Find the seal line: the last line starting with SEAL_PREFIX.  Sets
 * *at to its offset and *end past its newline; false when there is none.
 */
static bool
find_seal(const char *t, size_t n, size_t *at, size_t *end)
{
	size_t pl = strlen(SEAL_PREFIX), i, e;
	bool found = false;

	for (i = 0; i + pl <= n; i++) {
		if ((i == 0 || t[i - 1] == '\n') &&
		    memcmp(t + i, SEAL_PREFIX, pl) == 0) {
			*at = i;
			found = true;
		}
	}
	if (!found)
		return false;
	for (e = *at; e < n && t[e] != '\n'; e++)
		;
	*end = e < n ? e + 1 : e;
	return true;
}

static void
key_id(const uint8_t pk[32], char hex[17])
{
	uint8_t h[8];

	crypto_generichash(h, sizeof(h), pk, 32, NULL, 0);
	sodium_bin2hex(hex, 17, h, sizeof(h));
}

static void
seal_message(const char *t, size_t n, uint8_t msg[24 + 64])
{
	memcpy(msg, SEAL_CONTEXT, 24);		/* includes the NUL */
	crypto_generichash(msg + 24, 64, (const unsigned char *)t, n, NULL, 0);
}

/* ----------------------------------------------------------------- seal */

int
policy_seal(const char *text, size_t len, policy_sign_fn sign,
    void *sign_ctx, const uint8_t pk[32], char **out, size_t *out_len,
    struct cl_err *err)
{
	struct cl_buf b = CL_BUF_INIT;
	struct policy *pol = NULL;
	uint8_t msg[24 + 64], sig[64];
	char kid[17], b64[SIG_B64_LEN + 1];
	size_t at, end;
	int r;

	*out = NULL;
	*out_len = 0;
	if (sodium_init() < 0)
		return cl_errf(err, CL_ECRYPTO, "libsodium failed to start");
	if ((r = policy_parse("policy", text, len, &pol, err)) != CL_OK) {
		cl_err_prefix(err, "not sealing a policy that does not parse");
		goto out;
	}
	if (find_seal(text, len, &at, &end)) {
		if ((r = cl_buf_append(&b, text, at)) != CL_OK ||
		    (r = cl_buf_append(&b, text + end, len - end)) != CL_OK)
			goto nomem;
	} else if ((r = cl_buf_append(&b, text, len)) != CL_OK)
		goto nomem;
	if (b.len > 0 && b.data[b.len - 1] != '\n' &&
	    (r = cl_buf_append(&b, "\n", 1)) != CL_OK)
		goto nomem;
	seal_message(b.data != NULL ? b.data : "", b.len, msg);
	if ((r = sign(sign_ctx, msg, sizeof(msg), sig, err)) != CL_OK) {
		cl_err_prefix(err, "sealing the policy");
		goto out;
	}
	key_id(pk, kid);
	sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig),
	    sodium_base64_VARIANT_ORIGINAL);
	if ((r = cl_buf_printf(&b, "%s%s %s\n", SEAL_PREFIX, kid, b64)) !=
	    CL_OK)
		goto nomem;
	/* Sealed bytes must verify with the key we were given. */
	if (policy_seal_verify(b.data, b.len, pk) != POLICY_SEAL_OK) {
		r = cl_errf(err, CL_ECRYPTO, "the seal does not verify with "
		    "the admin public key (wrong key pair?)");
		goto out;
	}
	*out = cl_buf_steal(&b, out_len);
	r = CL_OK;
	goto out;
nomem:
	r = cl_errf(err, CL_ENOMEM, "out of memory");
out:
	policy_free(pol);
	cl_buf_release(&b);
	return r;
}

/* --------------------------------------------------------------- verify */

enum policy_seal_state
policy_seal_verify(const char *text, size_t len, const uint8_t pk[32])
{
	uint8_t msg[24 + 64], sig[64];
	char kid[17];
	const char *p;
	size_t at, end, pl = strlen(SEAL_PREFIX), sl, bin_len;

	if (sodium_init() < 0)
		return POLICY_SEAL_MODIFIED;
	if (!find_seal(text, len, &at, &end))
		return POLICY_SEAL_NONE;
	if (end != len)
		return POLICY_SEAL_MODIFIED;	/* lines after the seal */
	p = text + at + pl;
	sl = end - at - pl;
	if (sl > 0 && p[sl - 1] == '\n')
		sl--;
	if (sl != 16 + 1 + SIG_B64_LEN || p[16] != ' ')
		return POLICY_SEAL_MODIFIED;
	key_id(pk, kid);
	if (memcmp(p, kid, 16) != 0)
		return POLICY_SEAL_OTHER_KEY;
	if (sodium_base642bin(sig, sizeof(sig), p + 17, SIG_B64_LEN, NULL,
	    &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != sizeof(sig))
		return POLICY_SEAL_MODIFIED;
	seal_message(text, at, msg);
	if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0)
		return POLICY_SEAL_MODIFIED;
	return POLICY_SEAL_OK;
}

int
policy_seal_gate(enum policy_seal_state st, bool is_admin,
    bool require_seal, struct cl_err *err)
{
	if (is_admin || st == POLICY_SEAL_OK)
		return CL_OK;
	switch (st) {
	case POLICY_SEAL_NONE:
		if (!require_seal)
			return CL_OK;
		return cl_errf(err, CL_EPOLICY, "the policy is not sealed; the "
		    "administrator runs 'cloister policy seal' to seal it");
	case POLICY_SEAL_OTHER_KEY:
		return cl_errf(err, CL_EPOLICY, "the policy was sealed with a "
		    "key that is not this installation's admin key; the "
		    "administrator runs 'cloister policy seal' to seal it");
	default:
		return cl_errf(err, CL_EPOLICY, "the policy was modified since "
		    "it was sealed; the administrator runs 'cloister policy "
		    "seal' to check and re-seal it");
	}
}

/* ----------------------------------------------------------------- PINs */

int
policy_pin_hash(const char *pin, size_t len, char out[POLICY_PIN_STR_MAX],
    struct cl_err *err)
{
	_Static_assert(crypto_pwhash_STRBYTES <= POLICY_PIN_STR_MAX,
	    "pin hash fits");

	if (sodium_init() < 0)
		return cl_errf(err, CL_ECRYPTO, "libsodium failed to start");
	if (len == 0 || len > POLICY_PIN_MAX)
		return cl_errf(err, CL_EINVAL, "a PIN must be 1 to %d bytes",
		    POLICY_PIN_MAX);
	if (crypto_pwhash_str(out, pin, len,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return cl_errf(err, CL_ENOMEM, "out of memory hashing the PIN");
	return CL_OK;
}

int
policy_pin_check(const struct policy_profile *pr, const char *pin,
    size_t len, struct cl_err *err)
{
	if (pr->pin == NULL)
		return CL_OK;
	if (sodium_init() < 0)
		return cl_errf(err, CL_ECRYPTO, "libsodium failed to start");
	if (len > POLICY_PIN_MAX ||
	    crypto_pwhash_str_verify(pr->pin, pin, len) != 0)
		return cl_errf(err, CL_EAUTH, "wrong PIN for profile '%s'",
		    pr->name);
	return CL_OK;
}

int
policy_pin_read(int fd, char **out, size_t *len, struct cl_err *err)
{
	struct termios old, quiet;
	bool tty = false;
	char *buf = NULL, c;
	size_t n = 0;
	ssize_t k;
	int r;

	*out = NULL;
	*len = 0;
	if (sodium_init() < 0)
		return cl_errf(err, CL_ECRYPTO, "libsodium failed to start");
	if ((buf = sodium_malloc(POLICY_PIN_MAX + 1)) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	if (isatty(fd) && tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0)
			tty = true;
	}
	for (;;) {
		k = read(fd, &c, 1);
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1) {
			r = cl_errf(err, CL_EIO, "cannot read the PIN: %s",
			    strerror(errno));
			goto out;
		}
		if (k == 0 || c == '\n')
			break;
		if (n == POLICY_PIN_MAX) {
			r = cl_errf(err, CL_EINVAL, "the PIN is longer than %d "
			    "bytes", POLICY_PIN_MAX);
			goto out;
		}
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0) {
		r = cl_errf(err, CL_EAUTH, "no PIN given");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	r = CL_OK;
out:
	if (tty)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (buf != NULL) {
		sodium_memzero(buf, POLICY_PIN_MAX + 1);
		sodium_free(buf);
	}
	return r;
}

void
policy_pin_free(char *pin, size_t len)
{
	if (pin == NULL)
		return;
	sodium_memzero(pin, len);
	sodium_free(pin);
}
