/*
 * chain.c - the cryptography of the audit chain and the encoding of the
 * signed configuration.  Pure functions: no store, no I/O.
 *
 * Divisions: 1. names and profiles, 2. event MAC, hash, head and key
 * evolution, 3. checkpoint message, 4. configuration blob.
 * The formulas are in audit_impl.h.
 */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "audit/audit_impl.h"

/* ---- 1. names and profiles ----------------------------------------------- */

static const char *const level_names[] = { "off", "metadata", "full" };
static const char *const kind_names[] = {
	"?", "session_start", "session_end", "prompt", "answer",
	"policy_action", "jail_report", "admin_action", "purge", "checkpoint"
};

const char *
audit_level_name(enum audit_level level)
{
	if ((unsigned)level >= CL_ARRAY_LEN(level_names))
		return "?";
	return level_names[level];
}

int
audit_level_parse(const char *s, enum audit_level *out, struct cl_err *err)
{
	size_t i;

	for (i = 0; i < CL_ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum audit_level)i;
			return CL_OK;
		}
	}
	return cl_errf(err, CL_EINVAL, "unknown audit level '%s' (off, "
	    "metadata or full)", s);
}

const char *
audit_kind_name(enum audit_kind kind)
{
	if ((unsigned)kind >= CL_ARRAY_LEN(kind_names))
		return "?";
	return kind_names[kind];
}

int
audit_kind_parse(const char *s, enum audit_kind *out, struct cl_err *err)
{
	size_t i;

	for (i = 1; i < CL_ARRAY_LEN(kind_names); i++) {
		if (strcmp(s, kind_names[i]) == 0) {
			*out = (enum audit_kind)i;
			return CL_OK;
		}
	}
	return cl_errf(err, CL_EINVAL, "unknown event kind '%s'", s);
}

bool
audit_profile_is_valid(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || name[0] == '.' ||
	    name[0] == '-')
		return false;
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];

		if (i >= AUDIT_PROFILE_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return false;
	}
	return true;
}

void
audit_hex(char *out, const uint8_t *p, size_t n)
{
	sodium_bin2hex(out, 2 * n + 1, p, n);
}

/* ---- 2. event MAC, hash, head and key evolution -------------------------- */

static void
put_u32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Feed the canonical encoding of `f` (audit_impl.h) into `st`. */
static void
feed_fields(crypto_generichash_state *st, const struct audit_fields *f)
{
	uint8_t b[8 + 8 + 4 + 4];
	uint8_t t[8 + AUDIT_HASH_BYTES];
	size_t plen = strlen(f->profile);

	put_u64(b, f->seq);
	put_u64(b + 8, (uint64_t)f->time);
	put_u32(b + 16, (uint32_t)f->kind);
	put_u32(b + 20, (uint32_t)plen);
	crypto_generichash_update(st, b, sizeof(b));
	crypto_generichash_update(st, (const uint8_t *)f->profile, plen);
	put_u64(t, f->sealed_len);
	memcpy(t + 8, f->body_hash, AUDIT_HASH_BYTES);
	crypto_generichash_update(st, t, sizeof(t));
}

static void
feed_domain(crypto_generichash_state *st, const char *d)
{
	crypto_generichash_update(st, (const uint8_t *)d, strlen(d) + 1);
}

void
audit_mac(uint8_t out[AUDIT_HASH_BYTES], const uint8_t key[AUDIT_KEY_BYTES],
    const struct audit_fields *f, const uint8_t prev_mac[AUDIT_HASH_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, AUDIT_KEY_BYTES, AUDIT_HASH_BYTES);
	feed_domain(&st, "cloister-audit-mac-v1");
	feed_fields(&st, f);
	crypto_generichash_update(&st, prev_mac, AUDIT_HASH_BYTES);
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
	sodium_memzero(&st, sizeof(st));	/* holds the keyed state */
}

void
audit_event_hash(uint8_t out[AUDIT_HASH_BYTES], const struct audit_fields *f,
    const uint8_t mac[AUDIT_HASH_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
	feed_domain(&st, "cloister-audit-event-v1");
	feed_fields(&st, f);
	crypto_generichash_update(&st, mac, AUDIT_HASH_BYTES);
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

void
audit_head_next(uint8_t out[AUDIT_HASH_BYTES],
    const uint8_t prev_head[AUDIT_HASH_BYTES],
    const uint8_t event_hash[AUDIT_HASH_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
	feed_domain(&st, "cloister-audit-head-v1");
	crypto_generichash_update(&st, prev_head, AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, event_hash, AUDIT_HASH_BYTES);
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

void
audit_key_evolve(uint8_t key[AUDIT_KEY_BYTES])
{
	static const char d[] = "cloister-audit-evolve-v1";
	uint8_t next[AUDIT_KEY_BYTES];

	crypto_generichash(next, sizeof(next), (const uint8_t *)d, sizeof(d),
	    key, AUDIT_KEY_BYTES);
	memcpy(key, next, AUDIT_KEY_BYTES);
	sodium_memzero(next, sizeof(next));
}

void
audit_genesis(uint8_t out[AUDIT_HASH_BYTES], const uint8_t k1[AUDIT_KEY_BYTES])
{
	static const char d[] = "cloister-audit-genesis-v1";

	crypto_generichash(out, AUDIT_HASH_BYTES, (const uint8_t *)d,
	    sizeof(d), k1, AUDIT_KEY_BYTES);
}

void
audit_body_hash(uint8_t out[AUDIT_HASH_BYTES], const void *p, size_t n)
{
	crypto_generichash(out, AUDIT_HASH_BYTES, p, n, NULL, 0);
}

/* ---- 3. checkpoint message ----------------------------------------------- */

void
audit_checkpoint_msg(uint8_t out[AUDIT_CHECKPOINT_MSG_BYTES],
    const struct audit_checkpoint *cp)
{
	static const char d[] = "cloister-audit-checkpoint-v1";
	uint8_t *p = out;

	_Static_assert(sizeof(d) == 29, "checkpoint domain size");
	memcpy(p, d, sizeof(d));
	p += sizeof(d);
	put_u64(p, cp->count);
	p += 8;
	memcpy(p, cp->head, AUDIT_HASH_BYTES);
	p += AUDIT_HASH_BYTES;
	put_u64(p, cp->epoch);
	p += 8;
	put_u64(p, (uint64_t)cp->time);
}

/* ---- 4. configuration blob ----------------------------------------------- */

/*
 * Layout: magic[8] | u64 serial | u64 set_seq | u32 retention_days |
 * u8 default_level | genesis[32] | u32 n_profiles | n times
 * (u8 name_len | name | u8 level).
 */
#define CONFIG_FIXED	(8 + 8 + 8 + 4 + 1 + AUDIT_HASH_BYTES + 4)

int
audit_config_encode(const struct audit_config *c, struct cl_buf *out,
    struct cl_err *err)
{
	uint8_t fixed[CONFIG_FIXED], e[2];
	size_t i, nlen;
	int r;

	cl_buf_reset(out);
	memcpy(fixed, AUDIT_CONFIG_MAGIC, 8);
	put_u64(fixed + 8, c->serial);
	put_u64(fixed + 16, c->set_seq);
	put_u32(fixed + 24, c->retention_days);
	fixed[28] = (uint8_t)c->default_level;
	memcpy(fixed + 29, c->genesis, AUDIT_HASH_BYTES);
	put_u32(fixed + 29 + AUDIT_HASH_BYTES, (uint32_t)c->n_profiles);
	if ((r = cl_buf_append(out, fixed, sizeof(fixed))) != CL_OK)
		goto nomem;
	for (i = 0; i < c->n_profiles; i++) {
		nlen = strlen(c->profiles[i].name);
		e[0] = (uint8_t)nlen;
		e[1] = (uint8_t)c->profiles[i].level;
		if ((r = cl_buf_append(out, e, 1)) != CL_OK ||
		    (r = cl_buf_append(out, c->profiles[i].name, nlen)) !=
		    CL_OK || (r = cl_buf_append(out, e + 1, 1)) != CL_OK)
			goto nomem;
	}
	return CL_OK;
nomem:
	return cl_errf(err, CL_ENOMEM, "out of memory");
}

int
audit_config_decode(const uint8_t *p, size_t n, struct audit_config *c,
    struct cl_err *err)
{
	size_t off, i, nlen;
	uint32_t np;

	memset(c, 0, sizeof(*c));
	if (n < CONFIG_FIXED || memcmp(p, AUDIT_CONFIG_MAGIC, 8) != 0)
		return cl_errf(err, CL_EFORMAT, "audit configuration is "
		    "malformed");
	c->serial = get_u64(p + 8);
	c->set_seq = get_u64(p + 16);
	c->retention_days = get_u32(p + 24);
	if (p[28] > AUDIT_LEVEL_FULL)
		return cl_errf(err, CL_EFORMAT, "audit configuration has a "
		    "bad level");
	c->default_level = (enum audit_level)p[28];
	memcpy(c->genesis, p + 29, AUDIT_HASH_BYTES);
	np = get_u32(p + 29 + AUDIT_HASH_BYTES);
	if (np > AUDIT_CONFIG_MAX_PROFILES)
		return cl_errf(err, CL_EFORMAT, "audit configuration lists "
		    "too many profiles");
	off = CONFIG_FIXED;
	for (i = 0; i < np; i++) {
		if (n - off < 1)
			goto short_;
		nlen = p[off++];
		if (nlen == 0 || nlen > AUDIT_PROFILE_MAX || n - off < nlen + 1)
			goto short_;
		memcpy(c->profiles[i].name, p + off, nlen);
		c->profiles[i].name[nlen] = '\0';
		off += nlen;
		if (!audit_profile_is_valid(c->profiles[i].name) ||
		    p[off] > AUDIT_LEVEL_FULL)
			goto short_;
		c->profiles[i].level = (enum audit_level)p[off++];
	}
	if (off != n)
		goto short_;
	c->n_profiles = np;
	return CL_OK;
short_:
	memset(c, 0, sizeof(*c));
	return cl_errf(err, CL_EFORMAT, "audit configuration is malformed");
}

enum audit_level
audit_config_level(const struct audit_config *c, const char *profile)
{
	size_t i;

	for (i = 0; i < c->n_profiles; i++) {
		if (strcmp(c->profiles[i].name, profile) == 0)
			return c->profiles[i].level;
	}
	return c->default_level;
}
