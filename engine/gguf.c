/*
 * gguf.c - validating, read-only GGUF reader (see gguf.h).
 *
 * Divisions, in order:
 *   1. the parser state and little-endian cursor
 *   2. metadata: keys and values (recursive for arrays, bounded depth)
 *   3. tensor infos, alignment, data layout and overlap check
 *   4. hash indexes for keys and tensor names
 *   5. open / close (memory and fd)
 *   6. accessors
 *
 * The file is hostile input.  Every length or count read from it is
 * compared with the bytes that remain BEFORE anything is allocated or
 * advanced, using overflow-checked arithmetic; tables grow with what has
 * actually been parsed, not with what a header claims, so a lying count
 * costs no memory.  Total work is linear in the file size: every loop
 * iteration consumes at least one byte of input.
 */
#include "engine/gguf.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/ggml_types.h"

/* ------------------------------------------------------------------ */
/* 1. Parser state and cursor                                          */
/* ------------------------------------------------------------------ */

/* One metadata key/value. */
struct gguf_kv {
	char		*key;		/* NUL-terminated copy, owned */
	uint32_t	 type;		/* GGUF_VTYPE_* */
	size_t		 voff;		/* file offset of the value; for an
					   ARRAY, of its first element */
	uint32_t	 arr_type;	/* ARRAY: element type */
	uint64_t	 arr_n;		/* ARRAY: element count */
	size_t		*str_offs;	/* ARRAY of STRING: file offset of
					   each element's length, owned */
};

struct gguf {
	const uint8_t		*base;		/* file bytes, borrowed/mapped */
	size_t			 size;		/* file size */
	bool			 mapped;	/* munmap at close */
	/*
	 * Page ranges already unmapped by gguf_release_range, as [lo, hi)
	 * pairs: close unmaps only the rest, since the address space of a
	 * released range may since hold someone else's mapping.
	 */
	uintptr_t		*rel;
	size_t			 n_rel;
	uint32_t		 version;	/* 2 or 3 */
	uint32_t		 alignment;	/* general.alignment or 32 */
	uint64_t		 data_off;	/* absolute start of tensor data */
	struct gguf_kv		*kv;		/* n_kv entries, file order */
	size_t			 n_kv;
	struct gguf_tensor	*tensors;	/* n_tensors entries, file order */
	size_t			 n_tensors;
	uint32_t		*kv_index;	/* hash slots: index + 1, 0 = empty */
	size_t			 kv_index_len;	/* power of two */
	uint32_t		*t_index;	/* same for tensor names */
	size_t			 t_index_len;
};

/* Bytes of each fixed-size value type; 0 for STRING and ARRAY. */
static const uint8_t vtype_size[GGUF_VTYPE_COUNT] = {
	[GGUF_VTYPE_UINT8] = 1, [GGUF_VTYPE_INT8] = 1,
	[GGUF_VTYPE_UINT16] = 2, [GGUF_VTYPE_INT16] = 2,
	[GGUF_VTYPE_UINT32] = 4, [GGUF_VTYPE_INT32] = 4,
	[GGUF_VTYPE_FLOAT32] = 4, [GGUF_VTYPE_BOOL] = 1,
	[GGUF_VTYPE_STRING] = 0, [GGUF_VTYPE_ARRAY] = 0,
	[GGUF_VTYPE_UINT64] = 8, [GGUF_VTYPE_INT64] = 8,
	[GGUF_VTYPE_FLOAT64] = 8,
};

/* Smallest encoding of one value of each type (string: its length). */
static uint64_t
vtype_min_size(uint32_t t)
{
	if (t == GGUF_VTYPE_STRING)
		return 8;
	if (t == GGUF_VTYPE_ARRAY)
		return 12;	/* u32 element type + u64 count */
	return vtype_size[t];
}

const char *
gguf_vtype_name(uint32_t t)
{
	static const char *const names[GGUF_VTYPE_COUNT] = {
		"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32",
		"FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64",
		"FLOAT64",
	};

	if (t >= GGUF_VTYPE_COUNT)
		return "unknown";
	return names[t];
}

/*
 * The parse cursor.  `where` names the item being parsed for error
 * messages ("metadata key #12 ('tokenizer.ggml.tokens')").
 */
struct cur {
	const uint8_t	*p;
	size_t		 size;
	size_t		 pos;
	struct cl_err	*err;
	char		 where[160];
};

static size_t
remain(const struct cur *c)
{
	return c->size - c->pos;
}

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* A "truncated" error for `what` (n bytes wanted at the cursor). */
static int
truncated(struct cur *c, const char *what, uint64_t n)
{
	return cl_errf(c->err, CL_EFORMAT,
	    "gguf: %s: %s truncated: needs %" PRIu64 " bytes at byte %zu, "
	    "file size %zu", c->where, what, n, c->pos, c->size);
}

static int
get_u32(struct cur *c, const char *what, uint32_t *out)
{
	if (remain(c) < 4)
		return truncated(c, what, 4);
	*out = le32(c->p + c->pos);
	c->pos += 4;
	return CL_OK;
}

static int
get_u64(struct cur *c, const char *what, uint64_t *out)
{
	if (remain(c) < 8)
		return truncated(c, what, 8);
	*out = le64(c->p + c->pos);
	c->pos += 8;
	return CL_OK;
}

/*
 * Well-formed UTF-8 (no overlongs, surrogates or code points above
 * U+10FFFF) and, because names are looked up as C strings, no NUL.
 */
bool
gguf_name_is_valid(const char *str, size_t n)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i];
		size_t k;
		uint32_t cp, min;

		if (b == 0)
			return false;
		if (b < 0x80) {
			i++;
			continue;
		}
		if ((b & 0xE0) == 0xC0) {
			k = 1;
			cp = b & 0x1F;
			min = 0x80;
		} else if ((b & 0xF0) == 0xE0) {
			k = 2;
			cp = b & 0x0F;
			min = 0x800;
		} else if ((b & 0xF8) == 0xF0) {
			k = 3;
			cp = b & 0x07;
			min = 0x10000;
		} else
			return false;
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += k + 1;
	}
	return true;
}

/*
 * Read a string header and check its length against `max` and the file;
 * on success *off is the offset of its bytes and *len their count, and
 * the cursor is past the string.
 */
static int
get_str(struct cur *c, const char *what, uint64_t max, size_t *off,
    size_t *len)
{
	uint64_t n = 0;
	int r;

	if ((r = get_u64(c, what, &n)) != CL_OK)
		return r;
	if (n > max)
		return cl_errf(c->err, CL_EFORMAT,
		    "gguf: %s: %s length %" PRIu64 " exceeds the limit of %"
		    PRIu64 " bytes", c->where, what, n, max);
	if (n > remain(c))
		return cl_errf(c->err, CL_EFORMAT,
		    "gguf: %s: %s length %" PRIu64 " at byte %zu exceeds "
		    "file size %zu", c->where, what, n, c->pos - 8, c->size);
	*off = c->pos;
	*len = (size_t)n;
	c->pos += (size_t)n;
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 2. Metadata                                                         */
/* ------------------------------------------------------------------ */

/*
 * Validate and skip one value of type `t` at the cursor.  `depth` is the
 * array nesting level of the value (0 for a key's own value).  When `kv`
 * is not NULL the value is the key's own and its array facts are
 * recorded there.
 */
static int
parse_value(struct cur *c, uint32_t t, int depth, struct gguf_kv *kv)
{
	uint32_t et = 0;
	uint64_t n = 0, nbytes;
	size_t off, len, start;
	int r;

	if (t >= GGUF_VTYPE_COUNT)
		return cl_errf(c->err, CL_EFORMAT,
		    "gguf: %s: unknown value type %" PRIu32, c->where, t);

	if (t == GGUF_VTYPE_STRING)
		return get_str(c, "string value", GGUF_MAX_STR_LEN, &off,
		    &len);

	if (t == GGUF_VTYPE_BOOL) {
		if (remain(c) < 1)
			return truncated(c, "bool value", 1);
		if (c->p[c->pos] > 1)
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: bool value %u at byte %zu is not 0 or 1",
			    c->where, c->p[c->pos], c->pos);
		c->pos++;
		return CL_OK;
	}

	if (t != GGUF_VTYPE_ARRAY) {
		if (remain(c) < vtype_size[t])
			return truncated(c, "value", vtype_size[t]);
		c->pos += vtype_size[t];
		return CL_OK;
	}

	/* ARRAY */
	if (depth >= GGUF_MAX_ARRAY_DEPTH)
		return cl_errf(c->err, CL_EFORMAT,
		    "gguf: %s: arrays nested deeper than %d", c->where,
		    GGUF_MAX_ARRAY_DEPTH);
	if ((r = get_u32(c, "array element type", &et)) != CL_OK)
		return r;
	if (et >= GGUF_VTYPE_COUNT)
		return cl_errf(c->err, CL_EFORMAT,
		    "gguf: %s: unknown array element type %" PRIu32,
		    c->where, et);
	if ((r = get_u64(c, "array count", &n)) != CL_OK)
		return r;
	if (n > remain(c) / vtype_min_size(et))
		return cl_errf(c->err, CL_EFORMAT,
		    "gguf: %s: array count %" PRIu64 " of %s at byte %zu "
		    "exceeds file size %zu", c->where, n, gguf_vtype_name(et),
		    c->pos - 8, c->size);
	start = c->pos;
	if (kv != NULL) {
		kv->arr_type = et;
		kv->arr_n = n;
		kv->voff = start;
	}

	switch (et) {
	case GGUF_VTYPE_STRING:
		for (uint64_t i = 0; i < n; i++) {
			char what[48];

			snprintf(what, sizeof(what), "string element %" PRIu64,
			    i);
			if ((r = get_str(c, what, GGUF_MAX_STR_LEN, &off,
			    &len)) != CL_OK)
				return r;
		}
		if (kv != NULL && n > 0) {
			/*
			 * Second pass: every element exists, so this
			 * table is smaller than the strings it indexes.
			 */
			size_t end = c->pos;

			kv->str_offs = cl_calloc((size_t)n, sizeof(size_t));
			if (kv->str_offs == NULL)
				return cl_errf(c->err, CL_ENOMEM,
				    "gguf: %s: out of memory indexing %"
				    PRIu64 " strings", c->where, n);
			c->pos = start;
			for (uint64_t i = 0; i < n; i++) {
				kv->str_offs[i] = c->pos;
				c->pos += 8 + (size_t)le64(c->p + c->pos);
			}
			if (c->pos != end)
				CL_BUG("gguf string array second pass");
		}
		return CL_OK;
	case GGUF_VTYPE_ARRAY:
		for (uint64_t i = 0; i < n; i++)
			if ((r = parse_value(c, et, depth + 1, NULL)) != CL_OK)
				return r;
		return CL_OK;
	case GGUF_VTYPE_BOOL:
		for (uint64_t i = 0; i < n; i++)
			if (c->p[c->pos + i] > 1)
				return cl_errf(c->err, CL_EFORMAT,
				    "gguf: %s: bool element %" PRIu64 " at "
				    "byte %zu is %u, not 0 or 1", c->where, i,
				    c->pos + (size_t)i, c->p[c->pos + i]);
		c->pos += (size_t)n;
		return CL_OK;
	default:
		/* n <= remain / size, so this neither overflows nor
		   overruns. */
		nbytes = n * vtype_size[et];
		c->pos += (size_t)nbytes;
		return CL_OK;
	}
}

/* Append one zeroed slot to a growing array; returns it or NULL. */
static void *
grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap, bytes;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap == 0 ? 16 : *cap;
	if (!cl_mul_size(ncap, 2, &ncap) ||
	    !cl_mul_size(ncap, elem, &bytes))
		return NULL;
	if ((p = cl_realloc(arr, bytes)) == NULL)
		return NULL;
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*cap = ncap;
	return p;
}

static const struct gguf_kv *find_kv(const struct gguf *g, const char *key);

static const char *
kv_name(const struct gguf *g, uint32_t i)
{
	return g->kv[i].key;
}

static const char *
tensor_name(const struct gguf *g, uint32_t i)
{
	return g->tensors[i].name;
}

static int
parse_kvs(struct gguf *g, struct cur *c, uint64_t n_kv)
{
	size_t cap = 0;
	int r;

	for (uint64_t i = 0; i < n_kv; i++) {
		struct gguf_kv *kv;
		size_t off, len;
		void *p;

		snprintf(c->where, sizeof(c->where), "metadata key #%" PRIu64,
		    i);
		if ((p = grow(g->kv, &cap, g->n_kv, sizeof(*g->kv))) == NULL)
			return cl_errf(c->err, CL_ENOMEM,
			    "gguf: out of memory for metadata");
		g->kv = p;
		kv = &g->kv[g->n_kv];
		if ((r = get_str(c, "key", GGUF_MAX_KEY_LEN, &off, &len)) !=
		    CL_OK)
			return r;
		if (len == 0)
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: empty key", c->where);
		if (!gguf_name_is_valid((const char *)c->p + off,
		    len))
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: key at byte %zu is not valid UTF-8 "
			    "or contains NUL", c->where, off);
		if ((kv->key = cl_strndup((const char *)c->p + off, len)) ==
		    NULL)
			return cl_errf(c->err, CL_ENOMEM,
			    "gguf: out of memory for metadata");
		g->n_kv++;
		snprintf(c->where, sizeof(c->where),
		    "metadata key #%" PRIu64 " ('%.100s')", i, kv->key);
		if ((r = get_u32(c, "value type", &kv->type)) != CL_OK)
			return r;
		if (kv->type >= GGUF_VTYPE_COUNT)
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: unknown value type %" PRIu32, c->where,
			    kv->type);
		kv->voff = c->pos;
		if ((r = parse_value(c, kv->type, 0, kv)) != CL_OK)
			return r;
	}
	return CL_OK;
}

/* Apply general.alignment if present; it must be a sane UINT32. */
static int
parse_alignment(struct gguf *g, struct cl_err *err)
{
	const struct gguf_kv *kv;
	uint32_t a;

	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	if ((kv = find_kv(g, "general.alignment")) == NULL)
		return CL_OK;
	if (kv->type != GGUF_VTYPE_UINT32)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: metadata key 'general.alignment': type %s, "
		    "expected UINT32", gguf_vtype_name(kv->type));
	a = le32(g->base + kv->voff);
	if (a == 0 || a % 8 != 0 || a > GGUF_MAX_ALIGNMENT)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: metadata key 'general.alignment': %" PRIu32
		    " is not a nonzero multiple of 8 up to %u", a,
		    GGUF_MAX_ALIGNMENT);
	g->alignment = a;
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 3. Tensor infos and data layout                                     */
/* ------------------------------------------------------------------ */

static int
parse_tensor_infos(struct gguf *g, struct cur *c, uint64_t n_tensors)
{
	size_t cap = 0;
	int r;

	for (uint64_t i = 0; i < n_tensors; i++) {
		const struct ggml_type_info *ti;
		struct gguf_tensor *t;
		uint64_t nb, ne;
		size_t off, len;
		char *name;
		void *p;

		snprintf(c->where, sizeof(c->where), "tensor #%" PRIu64, i);
		if ((p = grow(g->tensors, &cap, g->n_tensors,
		    sizeof(*g->tensors))) == NULL)
			return cl_errf(c->err, CL_ENOMEM,
			    "gguf: out of memory for tensor infos");
		g->tensors = p;
		t = &g->tensors[g->n_tensors];
		if ((r = get_str(c, "tensor name", GGUF_MAX_NAME_LEN, &off,
		    &len)) != CL_OK)
			return r;
		if (len == 0)
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: empty tensor name", c->where);
		if (!gguf_name_is_valid((const char *)c->p + off,
		    len))
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: name at byte %zu is not valid UTF-8 "
			    "or contains NUL", c->where, off);
		if ((name = cl_strndup((const char *)c->p + off, len)) ==
		    NULL)
			return cl_errf(c->err, CL_ENOMEM,
			    "gguf: out of memory for tensor infos");
		t->name = name;
		g->n_tensors++;
		snprintf(c->where, sizeof(c->where),
		    "tensor '%.100s' (#%" PRIu64 ")", name, i);

		if ((r = get_u32(c, "n_dims", &t->n_dims)) != CL_OK)
			return r;
		if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: n_dims %" PRIu32 " is not in 1..%d",
			    c->where, t->n_dims, GGUF_MAX_DIMS);
		for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
			t->ne[d] = 1;
		for (uint32_t d = 0; d < t->n_dims; d++) {
			if ((r = get_u64(c, "dimension", &t->ne[d])) != CL_OK)
				return r;
			if (t->ne[d] == 0)
				return cl_errf(c->err, CL_EFORMAT,
				    "gguf: %s: ne[%" PRIu32 "] is 0", c->where,
				    d);
		}
		if ((r = get_u32(c, "type", &t->type)) != CL_OK)
			return r;
		if ((ti = ggml_type_info(t->type)) == NULL)
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: unknown ggml type id %" PRIu32,
			    c->where, t->type);
		if ((r = get_u64(c, "offset", &t->offset)) != CL_OK)
			return r;

		/* Element count must fit as well: kernels compute it. */
		ne = 1;
		for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
			if (!cl_mul_u64(ne, t->ne[d], &ne))
				return cl_errf(c->err, CL_EFORMAT,
				    "gguf: %s: element count overflows "
				    "(ne = %" PRIu64 " x %" PRIu64 " x %" PRIu64
				    " x %" PRIu64 ")", c->where, t->ne[0],
				    t->ne[1], t->ne[2], t->ne[3]);
		if (t->ne[0] % ti->blck_elems != 0)
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: ne[0] = %" PRIu64 " is not a multiple "
			    "of the %s block size %" PRIu32, c->where,
			    t->ne[0], ti->name, ti->blck_elems);
		nb = t->ne[0] / ti->blck_elems;
		if (!cl_mul_u64(nb, ti->blck_bytes, &nb) ||
		    !cl_mul_u64(nb, t->ne[1], &nb) ||
		    !cl_mul_u64(nb, t->ne[2], &nb) ||
		    !cl_mul_u64(nb, t->ne[3], &nb) || nb > SIZE_MAX)
			return cl_errf(c->err, CL_EFORMAT,
			    "gguf: %s: byte size overflows", c->where);
		t->nbytes = (size_t)nb;
	}
	return CL_OK;
}

/* cl_sort helper: tensors by offset. */
static int
cmp_offset(const void *a, const void *b, void *arg)
{
	const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
	const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/*
 * With data_off known: check every tensor's alignment and extent, point
 * `data` into the file, and reject overlapping tensors.
 */
static int
place_tensors(struct gguf *g, struct cl_err *err)
{
	const struct gguf_tensor **by_off = NULL;
	int r;

	for (size_t i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor *t = &g->tensors[i];
		uint64_t start, end;

		if (t->offset % g->alignment != 0)
			return cl_errf(err, CL_EFORMAT,
			    "gguf: tensor '%.100s' (#%zu): offset %" PRIu64
			    " is not a multiple of the alignment %" PRIu32,
			    t->name, i, t->offset, g->alignment);
		if (!cl_add_u64(g->data_off, t->offset, &start) ||
		    !cl_add_u64(start, t->nbytes, &end))
			return cl_errf(err, CL_EFORMAT,
			    "gguf: tensor '%.100s' (#%zu): offset %" PRIu64
			    " overflows", t->name, i, t->offset);
		if (end > g->size)
			return cl_errf(err, CL_EFORMAT,
			    "gguf: tensor '%.100s' (#%zu): data ends at byte %"
			    PRIu64 " beyond file size %zu", t->name, i, end,
			    g->size);
		t->data = g->base + start;
	}

	if (g->n_tensors < 2)
		return CL_OK;
	if ((by_off = cl_calloc(g->n_tensors, sizeof(*by_off))) == NULL)
		return cl_errf(err, CL_ENOMEM, "gguf: out of memory");
	for (size_t i = 0; i < g->n_tensors; i++)
		by_off[i] = &g->tensors[i];
	cl_sort(by_off, g->n_tensors, sizeof(*by_off), cmp_offset, NULL);
	for (size_t i = 1; i < g->n_tensors; i++) {
		const struct gguf_tensor *a = by_off[i - 1], *b = by_off[i];

		/* a->offset + a->nbytes cannot overflow: checked above. */
		if (b->offset < a->offset + a->nbytes) {
			r = cl_errf(err, CL_EFORMAT,
			    "gguf: tensor '%.100s' (offset %" PRIu64 ") "
			    "overlaps tensor '%.100s' (offset %" PRIu64
			    ", %zu bytes)", b->name, b->offset, a->name,
			    a->offset, a->nbytes);
			goto out;
		}
	}
	r = CL_OK;
out:
	cl_free(by_off);
	return r;
}

/* ------------------------------------------------------------------ */
/* 4. Hash indexes                                                     */
/* ------------------------------------------------------------------ */

/* FNV-1a, 64 bit. */
static uint64_t
hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Slots for n names: a power of two at least 2n (load <= 1/2). */
static int
index_alloc(size_t n, uint32_t **slots, size_t *len)
{
	size_t l = 8;

	while (l < n * 2) {
		if (!cl_mul_size(l, 2, &l))
			return CL_ENOMEM;
	}
	if ((*slots = cl_calloc(l, sizeof(**slots))) == NULL)
		return CL_ENOMEM;
	*len = l;
	return CL_OK;
}

/* Insert idx; CL_EEXIST if the name is already there. */
static int
index_add(uint32_t *slots, size_t len, const char *name, uint32_t idx,
    const char *(*name_of)(const struct gguf *, uint32_t),
    const struct gguf *g)
{
	size_t s = (size_t)hash_str(name) & (len - 1);

	while (slots[s] != 0) {
		if (strcmp(name_of(g, slots[s] - 1), name) == 0)
			return CL_EEXIST;
		s = (s + 1) & (len - 1);
	}
	slots[s] = idx + 1;
	return CL_OK;
}

static long
index_find(const uint32_t *slots, size_t len, const char *name,
    const char *(*name_of)(const struct gguf *, uint32_t),
    const struct gguf *g)
{
	size_t s;

	if (slots == NULL || name == NULL)
		return -1;
	s = (size_t)hash_str(name) & (len - 1);
	while (slots[s] != 0) {
		if (strcmp(name_of(g, slots[s] - 1), name) == 0)
			return (long)slots[s] - 1;
		s = (s + 1) & (len - 1);
	}
	return -1;
}

static int
build_indexes(struct gguf *g, struct cl_err *err)
{
	/* Counts are bounded by file size / entry size; uint32 is plenty
	   for the index, but check rather than assume. */
	if (g->n_kv >= UINT32_MAX || g->n_tensors >= UINT32_MAX)
		return cl_errf(err, CL_ELIMIT, "gguf: too many entries");
	if (index_alloc(g->n_kv, &g->kv_index, &g->kv_index_len) != CL_OK ||
	    index_alloc(g->n_tensors, &g->t_index, &g->t_index_len) != CL_OK)
		return cl_errf(err, CL_ENOMEM, "gguf: out of memory for index");
	for (size_t i = 0; i < g->n_kv; i++)
		if (index_add(g->kv_index, g->kv_index_len, g->kv[i].key,
		    (uint32_t)i, kv_name, g) != CL_OK)
			return cl_errf(err, CL_EFORMAT,
			    "gguf: metadata key #%zu ('%.100s'): duplicate key",
			    i, g->kv[i].key);
	for (size_t i = 0; i < g->n_tensors; i++)
		if (index_add(g->t_index, g->t_index_len, g->tensors[i].name,
		    (uint32_t)i, tensor_name, g) != CL_OK)
			return cl_errf(err, CL_EFORMAT,
			    "gguf: tensor '%.100s' (#%zu): duplicate tensor "
			    "name", g->tensors[i].name, i);
	return CL_OK;
}

static const struct gguf_kv *
find_kv(const struct gguf *g, const char *key)
{
	long i = index_find(g->kv_index, g->kv_index_len, key, kv_name, g);

	return i < 0 ? NULL : &g->kv[i];
}

/* ------------------------------------------------------------------ */
/* 5. Open and close                                                   */
/* ------------------------------------------------------------------ */

/* Parse the whole file held by `g` (base and size set). */
static int
parse(struct gguf *g, struct cl_err *err)
{
	struct cur c = { g->base, g->size, 0, err, "header" };
	uint64_t n_tensors = 0, n_kv = 0;
	uint32_t magic;
	int r;

	if (g->size == 0)
		return cl_errf(err, CL_EFORMAT, "gguf: file is empty");
	if (g->size < 4)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: file of %zu bytes is too short for the magic",
		    g->size);
	magic = le32(g->base);
	if (magic != GGUF_MAGIC)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: bad magic 0x%08" PRIx32 " (expected 'GGUF'): "
		    "not a GGUF file", magic);
	c.pos = 4;
	if ((r = get_u32(&c, "version", &g->version)) != CL_OK)
		return r;
	if (g->version == 1)
		return cl_errf(err, CL_EUNSUPPORTED,
		    "gguf: version 1 (32-bit counts) is not supported; "
		    "convert the file to version 3");
	if (g->version != 2 && g->version != 3)
		return cl_errf(err, CL_EUNSUPPORTED,
		    "gguf: version %" PRIu32 " is not supported (2 or 3)",
		    g->version);
	if ((r = get_u64(&c, "tensor count", &n_tensors)) != CL_OK ||
	    (r = get_u64(&c, "metadata key count", &n_kv)) != CL_OK)
		return r;
	/* Smallest KV: 8-byte length, 1-byte key, 4-byte type, 1-byte
	   value.  Smallest tensor info: 8 + 1 + 4 + 8 + 4 + 8. */
	if (n_kv > remain(&c) / 14)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: header: metadata key count %" PRIu64 " exceeds "
		    "file size %zu", n_kv, c.size);
	if (n_tensors > remain(&c) / 33)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: header: tensor count %" PRIu64 " exceeds file "
		    "size %zu", n_tensors, c.size);

	if ((r = parse_kvs(g, &c, n_kv)) != CL_OK)
		return r;
	if ((r = parse_tensor_infos(g, &c, n_tensors)) != CL_OK)
		return r;
	if ((r = build_indexes(g, err)) != CL_OK)
		return r;
	if ((r = parse_alignment(g, err)) != CL_OK)
		return r;

	/* data_off = align_up(end of infos); pos < size, so no overflow */
	g->data_off = c.pos + (g->alignment - c.pos % g->alignment) %
	    g->alignment;
	if (g->data_off > g->size)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: padding after tensor infos truncated: data would "
		    "start at byte %" PRIu64 " beyond file size %zu",
		    g->data_off, g->size);
	return place_tensors(g, err);
}

void
gguf_release_range(struct gguf *g, const void *p, size_t len)
{
	const uintptr_t base = (uintptr_t)g->base, at = (uintptr_t)p;
	const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo, hi, *r;
	size_t i;

	if (!g->mapped || at < base || len > g->size ||
	    at - base > g->size - len || pg == 0 || (pg & (pg - 1)) != 0)
		return;
	lo = (at + pg - 1) & ~(pg - 1);
	hi = (at + len) & ~(pg - 1);
	if (lo >= hi)
		return;
	/* Never twice: the hole may be someone else's mapping by now. */
	for (i = 0; i < g->n_rel; i++)
		if (lo < g->rel[2 * i + 1] && g->rel[2 * i] < hi)
			return;
	/* Without room to remember it, keep it mapped (merely wasteful). */
	if ((r = cl_realloc(g->rel, (g->n_rel + 1) * 2 * sizeof(*r))) == NULL)
		return;
	g->rel = r;
	if (munmap((void *)lo, hi - lo) != 0)
		return;
	r[2 * g->n_rel] = lo;
	r[2 * g->n_rel + 1] = hi;
	g->n_rel++;
}

static int
cmp_range(const void *a, const void *b, void *arg)
{
	const uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	(void)arg;
	return x < y ? -1 : x > y;
}

/* munmap what gguf_release_range() has not: the gaps between releases. */
static void
unmap_rest(struct gguf *g)
{
	const uintptr_t end = (uintptr_t)g->base + g->size;
	uintptr_t cur = (uintptr_t)g->base;
	size_t i;

	cl_sort(g->rel, g->n_rel, 2 * sizeof(*g->rel), cmp_range, NULL);
	for (i = 0; i < g->n_rel; i++) {
		if (g->rel[2 * i] > cur)
			munmap((void *)cur, g->rel[2 * i] - cur);
		if (g->rel[2 * i + 1] > cur)
			cur = g->rel[2 * i + 1];
	}
	if (cur < end)
		munmap((void *)cur, end - cur);
}

void
gguf_close(struct gguf *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n_kv; i++) {
		cl_free(g->kv[i].key);
		cl_free(g->kv[i].str_offs);
	}
	cl_free(g->kv);
	for (size_t i = 0; i < g->n_tensors; i++)
		cl_free((char *)g->tensors[i].name);
	cl_free(g->tensors);
	cl_free(g->kv_index);
	cl_free(g->t_index);
	if (g->mapped)
		unmap_rest(g);
	cl_free(g->rel);
	cl_free(g);
}

/* Wrap bytes (borrowed or mapped) in a gguf and parse them. */
static int
open_bytes(const void *p, size_t len, bool mapped, struct gguf **out,
    struct cl_err *err)
{
	struct gguf *g;
	int r;

	if ((g = cl_calloc(1, sizeof(*g))) == NULL) {
		if (mapped)
			munmap((void *)p, len);
		return cl_errf(err, CL_ENOMEM, "gguf: out of memory");
	}
	g->base = p;
	g->size = len;
	g->mapped = mapped;
	if ((r = parse(g, err)) != CL_OK) {
		gguf_close(g);
		return r;
	}
	*out = g;
	return CL_OK;
}

int
gguf_open_mem(const void *p, size_t len, struct gguf **out,
    struct cl_err *err)
{
	*out = NULL;
	if (p == NULL && len != 0)
		return cl_errf(err, CL_EINVAL, "gguf: NULL buffer");
	return open_bytes(len == 0 ? "" : p, len, false, out, err);
}

int
gguf_open_fd(int fd, struct gguf **out, struct cl_err *err)
{
	struct stat st;

	*out = NULL;
	if (fstat(fd, &st) == -1)
		return cl_errf(err, CL_EIO, "gguf: cannot stat model file: %s",
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cl_errf(err, CL_EIO, "gguf: model is not a regular file");
	if (st.st_size < 0)
		return cl_errf(err, CL_EIO, "gguf: negative file size");
	return gguf_open_fd_sized(fd, (uint64_t)st.st_size, out, err);
}

int
gguf_open_fd_sized(int fd, uint64_t size, struct gguf **out,
    struct cl_err *err)
{
	void *p;

	*out = NULL;
	if (size == 0)
		return cl_errf(err, CL_EFORMAT, "gguf: file is empty");
	if (size > SIZE_MAX)
		return cl_errf(err, CL_ELIMIT,
		    "gguf: file size %ju does not fit in memory",
		    (uintmax_t)size);
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return cl_errf(err, CL_EIO, "gguf: cannot map model file: %s",
		    strerror(errno));
	return open_bytes(p, (size_t)size, true, out, err);
}

/* ------------------------------------------------------------------ */
/* 6. Accessors                                                        */
/* ------------------------------------------------------------------ */

size_t
gguf_size(const struct gguf *g)
{
	return g->size;
}

const void *
gguf_base(const struct gguf *g)
{
	return g->base;
}

uint32_t
gguf_version(const struct gguf *g)
{
	return g->version;
}

uint32_t
gguf_alignment(const struct gguf *g)
{
	return g->alignment;
}

uint64_t
gguf_data_offset(const struct gguf *g)
{
	return g->data_off;
}

bool
gguf_has_key(const struct gguf *g, const char *key)
{
	return find_kv(g, key) != NULL;
}

size_t
gguf_n_kv(const struct gguf *g)
{
	return g->n_kv;
}

const char *
gguf_kv_key(const struct gguf *g, size_t i)
{
	return i < g->n_kv ? g->kv[i].key : NULL;
}

uint32_t
gguf_kv_type(const struct gguf *g, size_t i)
{
	return i < g->n_kv ? g->kv[i].type : GGUF_VTYPE_COUNT;
}

size_t
gguf_n_tensors(const struct gguf *g)
{
	return g->n_tensors;
}

const struct gguf_tensor *
gguf_tensor_at(const struct gguf *g, size_t i)
{
	return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct gguf_tensor *
gguf_find_tensor(const struct gguf *g, const char *name)
{
	long i = index_find(g->t_index, g->t_index_len, name, tensor_name,
	    g);

	return i < 0 ? NULL : &g->tensors[i];
}

/* Look `key` up, with a CL_ENOTFOUND message if absent. */
static const struct gguf_kv *
lookup(const struct gguf *g, const char *key, struct cl_err *err)
{
	const struct gguf_kv *kv = find_kv(g, key);

	if (kv == NULL)
		cl_errf(err, CL_ENOTFOUND, "gguf: key '%.100s' not found",
		    key == NULL ? "(null)" : key);
	return kv;
}

static int
wrong_type(const char *key, const char *expected, uint32_t actual,
    struct cl_err *err)
{
	return cl_errf(err, CL_EFORMAT,
	    "gguf: key '%.100s': expected %s, found %s", key, expected,
	    gguf_vtype_name(actual));
}

static bool
is_int_type(uint32_t t)
{
	return t <= GGUF_VTYPE_INT32 || t == GGUF_VTYPE_UINT64 ||
	    t == GGUF_VTYPE_INT64;
}

/*
 * Read the integer of type t at p: *neg says whether it is negative;
 * *mag is its value (if !*neg) or its two's complement int64 (if *neg).
 */
static void
read_int(const uint8_t *p, uint32_t t, bool *neg, uint64_t *u, int64_t *s)
{
	int64_t v = 0;

	*neg = false;
	switch (t) {
	case GGUF_VTYPE_UINT8:
		*u = p[0];
		return;
	case GGUF_VTYPE_UINT16:
		*u = le16(p);
		return;
	case GGUF_VTYPE_UINT32:
		*u = le32(p);
		return;
	case GGUF_VTYPE_UINT64:
		*u = le64(p);
		return;
	case GGUF_VTYPE_INT8:
		v = (int8_t)p[0];
		break;
	case GGUF_VTYPE_INT16:
		v = (int16_t)le16(p);
		break;
	case GGUF_VTYPE_INT32:
		v = (int32_t)le32(p);
		break;
	case GGUF_VTYPE_INT64:
		v = (int64_t)le64(p);
		break;
	default:
		CL_BUG("read_int on a non-integer type");
	}
	*s = v;
	*neg = v < 0;
	if (!*neg)
		*u = (uint64_t)v;
}

/*
 * The integer value of `key` as an unsigned (max `max`) or signed
 * number.  Shared by the three integer getters.
 */
static int
get_int(const struct gguf *g, const char *key, const char *want,
    bool want_signed, uint64_t max, uint64_t *u_out, int64_t *s_out,
    struct cl_err *err)
{
	const struct gguf_kv *kv;
	uint64_t u = 0;
	int64_t s = 0;
	bool neg;

	if ((kv = lookup(g, key, err)) == NULL)
		return CL_ENOTFOUND;
	if (!is_int_type(kv->type))
		return wrong_type(key, want, kv->type, err);
	read_int(g->base + kv->voff, kv->type, &neg, &u, &s);
	if (neg && !want_signed)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: key '%.100s': value %" PRId64 " does not fit %s",
		    key, s, want);
	if (!neg && u > max)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: key '%.100s': value %" PRIu64 " does not fit %s",
		    key, u, want);
	if (want_signed)
		*s_out = neg ? s : (int64_t)u;
	else
		*u_out = u;
	return CL_OK;
}

int
gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out,
    struct cl_err *err)
{
	uint64_t u;
	int r;

	if ((r = get_int(g, key, "UINT32", false, UINT32_MAX, &u, NULL,
	    err)) == CL_OK)
		*out = (uint32_t)u;
	return r;
}

int
gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out,
    struct cl_err *err)
{
	return get_int(g, key, "UINT64", false, UINT64_MAX, out, NULL, err);
}

int
gguf_get_i64(const struct gguf *g, const char *key, int64_t *out,
    struct cl_err *err)
{
	return get_int(g, key, "INT64", true, INT64_MAX, NULL, out, err);
}

/* A FLOAT32 or FLOAT64 at p as float; false if out of float range. */
static bool
read_float(const uint8_t *p, uint32_t t, float *out)
{
	if (t == GGUF_VTYPE_FLOAT32) {
		uint32_t b = le32(p);

		memcpy(out, &b, sizeof(*out));
		return true;
	} else {
		uint64_t b = le64(p);
		double d;

		memcpy(&d, &b, sizeof(d));
		if (isfinite(d) && fabs(d) > FLT_MAX)
			return false;
		*out = (float)d;
		return true;
	}
}

int
gguf_get_f32(const struct gguf *g, const char *key, float *out,
    struct cl_err *err)
{
	const struct gguf_kv *kv;

	if ((kv = lookup(g, key, err)) == NULL)
		return CL_ENOTFOUND;
	if (kv->type != GGUF_VTYPE_FLOAT32 && kv->type != GGUF_VTYPE_FLOAT64)
		return wrong_type(key, "FLOAT32", kv->type, err);
	if (!read_float(g->base + kv->voff, kv->type, out))
		return cl_errf(err, CL_EFORMAT,
		    "gguf: key '%.100s': FLOAT64 value out of FLOAT32 range",
		    key);
	return CL_OK;
}

int
gguf_get_bool(const struct gguf *g, const char *key, bool *out,
    struct cl_err *err)
{
	const struct gguf_kv *kv;

	if ((kv = lookup(g, key, err)) == NULL)
		return CL_ENOTFOUND;
	if (kv->type != GGUF_VTYPE_BOOL)
		return wrong_type(key, "BOOL", kv->type, err);
	*out = g->base[kv->voff] != 0;
	return CL_OK;
}

int
gguf_get_str(const struct gguf *g, const char *key, const char **p,
    size_t *len, struct cl_err *err)
{
	const struct gguf_kv *kv;

	if ((kv = lookup(g, key, err)) == NULL)
		return CL_ENOTFOUND;
	if (kv->type != GGUF_VTYPE_STRING)
		return wrong_type(key, "STRING", kv->type, err);
	*len = (size_t)le64(g->base + kv->voff);
	*p = (const char *)g->base + kv->voff + 8;
	return CL_OK;
}

int
gguf_get_arr(const struct gguf *g, const char *key, uint32_t *elem_type,
    uint64_t *n, struct cl_err *err)
{
	const struct gguf_kv *kv;

	if ((kv = lookup(g, key, err)) == NULL)
		return CL_ENOTFOUND;
	if (kv->type != GGUF_VTYPE_ARRAY)
		return wrong_type(key, "ARRAY", kv->type, err);
	*elem_type = kv->arr_type;
	*n = kv->arr_n;
	return CL_OK;
}

/* Array `key` with element i in range; NULL with `err` filled if not. */
static const struct gguf_kv *
lookup_elem(const struct gguf *g, const char *key, uint64_t i,
    struct cl_err *err, int *r)
{
	const struct gguf_kv *kv;

	if ((kv = lookup(g, key, err)) == NULL) {
		*r = CL_ENOTFOUND;
		return NULL;
	}
	if (kv->type != GGUF_VTYPE_ARRAY) {
		*r = wrong_type(key, "ARRAY", kv->type, err);
		return NULL;
	}
	if (i >= kv->arr_n) {
		*r = cl_errf(err, CL_EINVAL,
		    "gguf: key '%.100s': index %" PRIu64 " out of range "
		    "(%" PRIu64 " elements)", key, i, kv->arr_n);
		return NULL;
	}
	return kv;
}

int
gguf_arr_int(const struct gguf *g, const char *key, uint64_t i,
    int64_t *out, struct cl_err *err)
{
	const struct gguf_kv *kv;
	uint64_t u = 0;
	int64_t s = 0;
	bool neg;
	int r;

	if ((kv = lookup_elem(g, key, i, err, &r)) == NULL)
		return r;
	if (!is_int_type(kv->arr_type))
		return cl_errf(err, CL_EFORMAT,
		    "gguf: key '%.100s': expected an array of integers, "
		    "found an array of %s", key, gguf_vtype_name(kv->arr_type));
	/* i < arr_n, whose elements were all checked to be in the file. */
	read_int(g->base + kv->voff + (size_t)i * vtype_size[kv->arr_type],
	    kv->arr_type, &neg, &u, &s);
	if (!neg && u > INT64_MAX)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: key '%.100s': element %" PRIu64 " = %" PRIu64
		    " does not fit INT64", key, i, u);
	*out = neg ? s : (int64_t)u;
	return CL_OK;
}

int
gguf_arr_f32(const struct gguf *g, const char *key, uint64_t i,
    float *out, struct cl_err *err)
{
	const struct gguf_kv *kv;
	int r;

	if ((kv = lookup_elem(g, key, i, err, &r)) == NULL)
		return r;
	if (kv->arr_type != GGUF_VTYPE_FLOAT32 &&
	    kv->arr_type != GGUF_VTYPE_FLOAT64)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: key '%.100s': expected an array of FLOAT32, found "
		    "an array of %s", key, gguf_vtype_name(kv->arr_type));
	if (!read_float(g->base + kv->voff +
	    (size_t)i * vtype_size[kv->arr_type], kv->arr_type, out))
		return cl_errf(err, CL_EFORMAT,
		    "gguf: key '%.100s': element %" PRIu64 " out of FLOAT32 "
		    "range", key, i);
	return CL_OK;
}

int
gguf_arr_str(const struct gguf *g, const char *key, uint64_t i,
    const char **p, size_t *len, struct cl_err *err)
{
	const struct gguf_kv *kv;
	size_t off;
	int r;

	if ((kv = lookup_elem(g, key, i, err, &r)) == NULL)
		return r;
	if (kv->arr_type != GGUF_VTYPE_STRING)
		return cl_errf(err, CL_EFORMAT,
		    "gguf: key '%.100s': expected an array of STRING, found "
		    "an array of %s", key, gguf_vtype_name(kv->arr_type));
	off = kv->str_offs[i];
	*len = (size_t)le64(g->base + off);
	*p = (const char *)g->base + off + 8;
	return CL_OK;
}
