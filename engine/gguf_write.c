/*
 * gguf_write.c - streaming GGUF v3 writer (see gguf_write.h).
 *
 * Metadata is encoded into a buffer as it is added (it is small: even a
 * 128k-token vocabulary is a few MiB); tensor infos are kept as a table
 * and encoded when the layout is frozen.  Tensor data is never held: it
 * goes straight from the caller to the fd.
 */
#include "engine/gguf_write.h"

#include <inttypes.h>
#include <string.h>

#include "engine/ggml_types.h"

struct wtensor {
	char		*name;		/* owned */
	uint32_t	 type;
	uint32_t	 n_dims;
	uint64_t	 ne[GGUF_MAX_DIMS];
	size_t		 nbytes;
	uint64_t	 offset;	/* relative to data start; at freeze */
};

struct gguf_writer {
	struct cl_buf	 kvs;		/* encoded metadata */
	char		**keys;		/* n_kv owned copies, for duplicates */
	size_t		 n_kv;
	size_t		 keys_cap;
	struct wtensor	*tensors;
	size_t		 n_tensors;
	size_t		 tensors_cap;
	uint32_t	 alignment;
	bool		 alignment_set;
	bool		 frozen;	/* header written or built */
	size_t		 next;		/* next tensor to write */
};

/* Where bytes go: an fd or a buffer. */
struct sink {
	int		 fd;
	struct cl_buf	*buf;
};

static int
sink_put(struct sink *s, const void *p, size_t n, struct cl_err *err)
{
	if (s->buf != NULL) {
		if (cl_buf_append(s->buf, p, n) != CL_OK)
			return cl_errf(err, CL_ENOMEM,
			    "gguf writer: out of memory");
		return CL_OK;
	}
	if (cl_write_all(s->fd, p, n, err) != CL_OK)
		return cl_err_prefix(err, "gguf writer");
	return CL_OK;
}

/* Write zero bytes so that `pos` becomes a multiple of `align`. */
static int
sink_pad(struct sink *s, uint64_t pos, uint32_t align, struct cl_err *err)
{
	static const uint8_t zero[GGUF_MAX_ALIGNMENT];
	size_t pad = (size_t)((align - pos % align) % align);

	return pad == 0 ? CL_OK : sink_put(s, zero, pad, err);
}

int
gguf_writer_new(struct gguf_writer **out, struct cl_err *err)
{
	struct gguf_writer *w;

	*out = NULL;
	if ((w = cl_calloc(1, sizeof(*w))) == NULL)
		return cl_errf(err, CL_ENOMEM, "gguf writer: out of memory");
	cl_buf_init(&w->kvs);
	w->alignment = GGUF_DEFAULT_ALIGNMENT;
	*out = w;
	return CL_OK;
}

void
gguf_writer_free(struct gguf_writer *w)
{
	if (w == NULL)
		return;
	cl_buf_release(&w->kvs);
	for (size_t i = 0; i < w->n_kv; i++)
		cl_free(w->keys[i]);
	cl_free(w->keys);
	for (size_t i = 0; i < w->n_tensors; i++)
		cl_free(w->tensors[i].name);
	cl_free(w->tensors);
	cl_free(w);
}

static void
put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int
buf_le(struct cl_buf *b, uint64_t v, size_t n)
{
	uint8_t tmp[8];

	put_le(tmp, v, n);
	return cl_buf_append(b, tmp, n);
}

static int
buf_str(struct cl_buf *b, const void *s, size_t len)
{
	int r;

	if ((r = buf_le(b, len, 8)) != CL_OK)
		return r;
	return cl_buf_append(b, s, len);
}

/*
 * Check `key` and start a KV: on CL_OK, `*mark` is the buffer length to
 * roll back to if encoding the value fails.
 */
static int
kv_begin(struct gguf_writer *w, const char *key, uint32_t vtype,
    size_t *mark, struct cl_err *err)
{
	size_t len;

	if (w->frozen)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: cannot add key after the header");
	if (key == NULL || (len = strlen(key)) == 0 ||
	    len > GGUF_MAX_KEY_LEN || !gguf_name_is_valid(key, len))
		return cl_errf(err, CL_EINVAL, "gguf writer: invalid key");
	for (size_t i = 0; i < w->n_kv; i++)
		if (strcmp(w->keys[i], key) == 0)
			return cl_errf(err, CL_EINVAL,
			    "gguf writer: duplicate key '%.100s'", key);
	*mark = w->kvs.len;
	if (buf_str(&w->kvs, key, len) != CL_OK ||
	    buf_le(&w->kvs, vtype, 4) != CL_OK) {
		w->kvs.len = *mark;
		return cl_errf(err, CL_ENOMEM, "gguf writer: out of memory");
	}
	return CL_OK;
}

/* Finish a KV begun at `mark`: r is the value encoding's result. */
static int
kv_end(struct gguf_writer *w, const char *key, size_t mark, int r,
    struct cl_err *err)
{
	char *copy = NULL;

	if (r == CL_OK && w->n_kv == w->keys_cap) {
		size_t ncap = w->keys_cap == 0 ? 16 : w->keys_cap * 2;
		char **k = cl_realloc(w->keys, ncap * sizeof(*k));

		if (k == NULL)
			r = CL_ENOMEM;
		else {
			w->keys = k;
			w->keys_cap = ncap;
		}
	}
	if (r == CL_OK && (copy = cl_strdup(key)) == NULL)
		r = CL_ENOMEM;
	if (r != CL_OK) {
		w->kvs.len = mark;
		if (r == CL_ENOMEM)
			return cl_errf(err, r, "gguf writer: out of memory");
		return r;	/* message already set */
	}
	w->keys[w->n_kv++] = copy;
	return CL_OK;
}

static int
add_scalar(struct gguf_writer *w, const char *key, uint32_t vtype,
    uint64_t bits, size_t n, struct cl_err *err)
{
	size_t mark;
	int r;

	if ((r = kv_begin(w, key, vtype, &mark, err)) != CL_OK)
		return r;
	return kv_end(w, key, mark, buf_le(&w->kvs, bits, n), err);
}

int
gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v,
    struct cl_err *err)
{
	return add_scalar(w, key, GGUF_VTYPE_UINT8, v, 1, err);
}

int
gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v,
    struct cl_err *err)
{
	return add_scalar(w, key, GGUF_VTYPE_INT8, (uint8_t)v, 1, err);
}

int
gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v,
    struct cl_err *err)
{
	return add_scalar(w, key, GGUF_VTYPE_UINT16, v, 2, err);
}

int
gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v,
    struct cl_err *err)
{
	return add_scalar(w, key, GGUF_VTYPE_INT16, (uint16_t)v, 2, err);
}

int
gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v,
    struct cl_err *err)
{
	if (key != NULL && strcmp(key, "general.alignment") == 0)
		return gguf_writer_set_alignment(w, v, err);
	return add_scalar(w, key, GGUF_VTYPE_UINT32, v, 4, err);
}

int
gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v,
    struct cl_err *err)
{
	return add_scalar(w, key, GGUF_VTYPE_INT32, (uint32_t)v, 4, err);
}

int
gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v,
    struct cl_err *err)
{
	return add_scalar(w, key, GGUF_VTYPE_UINT64, v, 8, err);
}

int
gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v,
    struct cl_err *err)
{
	return add_scalar(w, key, GGUF_VTYPE_INT64, (uint64_t)v, 8, err);
}

int
gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v,
    struct cl_err *err)
{
	uint32_t bits;

	memcpy(&bits, &v, sizeof(bits));
	return add_scalar(w, key, GGUF_VTYPE_FLOAT32, bits, 4, err);
}

int
gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v,
    struct cl_err *err)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	return add_scalar(w, key, GGUF_VTYPE_FLOAT64, bits, 8, err);
}

int
gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v,
    struct cl_err *err)
{
	return add_scalar(w, key, GGUF_VTYPE_BOOL, v ? 1 : 0, 1, err);
}

int
gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *s,
    size_t len, struct cl_err *err)
{
	size_t mark;
	int r;

	if (len > GGUF_MAX_STR_LEN)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: key '%.100s': string of %zu bytes is too "
		    "long", key == NULL ? "(null)" : key, len);
	if ((r = kv_begin(w, key, GGUF_VTYPE_STRING, &mark, err)) != CL_OK)
		return r;
	return kv_end(w, key, mark, buf_str(&w->kvs, s, len), err);
}

/* Encode an array of n fixed-size elements of `size` bytes each. */
static int
add_arr(struct gguf_writer *w, const char *key, uint32_t et, const void *v,
    size_t n, size_t size, struct cl_err *err)
{
	const uint8_t *p = v;
	size_t mark;
	int r;

	if ((r = kv_begin(w, key, GGUF_VTYPE_ARRAY, &mark, err)) != CL_OK)
		return r;
	r = buf_le(&w->kvs, et, 4);
	if (r == CL_OK)
		r = buf_le(&w->kvs, n, 8);
	for (size_t i = 0; r == CL_OK && i < n; i++) {
		uint64_t e = 0;

		/* Host order in, little-endian out. */
		if (size == 4) {
			uint32_t x;

			memcpy(&x, p + i * 4, 4);
			e = x;
		}
		r = buf_le(&w->kvs, e, size);
	}
	return kv_end(w, key, mark, r, err);
}

int
gguf_writer_add_arr_i32(struct gguf_writer *w, const char *key,
    const int32_t *v, size_t n, struct cl_err *err)
{
	return add_arr(w, key, GGUF_VTYPE_INT32, v, n, 4, err);
}

int
gguf_writer_add_arr_u32(struct gguf_writer *w, const char *key,
    const uint32_t *v, size_t n, struct cl_err *err)
{
	return add_arr(w, key, GGUF_VTYPE_UINT32, v, n, 4, err);
}

int
gguf_writer_add_arr_f32(struct gguf_writer *w, const char *key,
    const float *v, size_t n, struct cl_err *err)
{
	return add_arr(w, key, GGUF_VTYPE_FLOAT32, v, n, 4, err);
}

int
gguf_writer_add_arr_str(struct gguf_writer *w, const char *key,
    const char *const *s, const size_t *lens, size_t n, struct cl_err *err)
{
	size_t mark;
	int r;

	for (size_t i = 0; i < n; i++) {
		size_t len = lens != NULL ? lens[i] : strlen(s[i]);

		if (len > GGUF_MAX_STR_LEN)
			return cl_errf(err, CL_EINVAL,
			    "gguf writer: key '%.100s': string %zu of %zu "
			    "bytes is too long", key == NULL ? "(null)" : key,
			    i, len);
	}
	if ((r = kv_begin(w, key, GGUF_VTYPE_ARRAY, &mark, err)) != CL_OK)
		return r;
	r = buf_le(&w->kvs, GGUF_VTYPE_STRING, 4);
	if (r == CL_OK)
		r = buf_le(&w->kvs, n, 8);
	for (size_t i = 0; r == CL_OK && i < n; i++)
		r = buf_str(&w->kvs, s[i], lens != NULL ? lens[i] :
		    strlen(s[i]));
	return kv_end(w, key, mark, r, err);
}

int
gguf_writer_add_raw(struct gguf_writer *w, const char *key, uint32_t vtype,
    const void *value, size_t len, struct cl_err *err)
{
	size_t mark;
	int r;

	if ((r = kv_begin(w, key, vtype, &mark, err)) != CL_OK)
		return r;
	return kv_end(w, key, mark, cl_buf_append(&w->kvs, value, len), err);
}

int
gguf_writer_set_alignment(struct gguf_writer *w, uint32_t a,
    struct cl_err *err)
{
	int r;

	if (a == 0 || a % 8 != 0 || a > GGUF_MAX_ALIGNMENT)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: alignment %" PRIu32 " is not a nonzero "
		    "multiple of 8 up to %u", a, GGUF_MAX_ALIGNMENT);
	if (w->alignment_set)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: alignment already set");
	if ((r = add_scalar(w, "general.alignment", GGUF_VTYPE_UINT32, a, 4,
	    err)) != CL_OK)
		return r;
	w->alignment = a;
	w->alignment_set = true;
	return CL_OK;
}

int
gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
    uint32_t type, uint32_t n_dims, const uint64_t *ne, size_t *index,
    struct cl_err *err)
{
	const struct ggml_type_info *ti;
	struct wtensor t;
	uint64_t nb;
	size_t len;

	if (w->frozen)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: cannot add tensor after the header");
	if (name == NULL || (len = strlen(name)) == 0 ||
	    len > GGUF_MAX_NAME_LEN || !gguf_name_is_valid(name, len))
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: invalid tensor name");
	for (size_t i = 0; i < w->n_tensors; i++)
		if (strcmp(w->tensors[i].name, name) == 0)
			return cl_errf(err, CL_EINVAL,
			    "gguf writer: duplicate tensor '%.100s'", name);
	if ((ti = ggml_type_info(type)) == NULL)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: tensor '%.100s': unknown ggml type %" PRIu32,
		    name, type);
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: tensor '%.100s': n_dims %" PRIu32
		    " not in 1..4", name, n_dims);
	memset(&t, 0, sizeof(t));
	t.type = type;
	t.n_dims = n_dims;
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		t.ne[d] = d < n_dims ? ne[d] : 1;
		if (t.ne[d] == 0)
			return cl_errf(err, CL_EINVAL,
			    "gguf writer: tensor '%.100s': ne[%" PRIu32 "] is 0",
			    name, d);
	}
	if (t.ne[0] % ti->blck_elems != 0)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: tensor '%.100s': ne[0] = %" PRIu64 " is not "
		    "a multiple of the %s block size %" PRIu32, name, t.ne[0],
		    ti->name, ti->blck_elems);
	nb = t.ne[0] / ti->blck_elems;
	if (!cl_mul_u64(nb, ti->blck_bytes, &nb) ||
	    !cl_mul_u64(nb, t.ne[1], &nb) || !cl_mul_u64(nb, t.ne[2], &nb) ||
	    !cl_mul_u64(nb, t.ne[3], &nb) || nb > SIZE_MAX / 2)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: tensor '%.100s': size overflows", name);
	t.nbytes = (size_t)nb;

	if (w->n_tensors == w->tensors_cap) {
		size_t ncap = w->tensors_cap == 0 ? 16 : w->tensors_cap * 2;
		struct wtensor *p = cl_realloc(w->tensors,
		    ncap * sizeof(*p));

		if (p == NULL)
			return cl_errf(err, CL_ENOMEM,
			    "gguf writer: out of memory");
		w->tensors = p;
		w->tensors_cap = ncap;
	}
	if ((t.name = cl_strdup(name)) == NULL)
		return cl_errf(err, CL_ENOMEM, "gguf writer: out of memory");
	if (index != NULL)
		*index = w->n_tensors;
	w->tensors[w->n_tensors++] = t;
	return CL_OK;
}

size_t
gguf_writer_n_tensors(const struct gguf_writer *w)
{
	return w->n_tensors;
}

size_t
gguf_writer_tensor_nbytes(const struct gguf_writer *w, size_t i)
{
	return i < w->n_tensors ? w->tensors[i].nbytes : 0;
}

/*
 * Freeze: assign aligned offsets and encode header + metadata + infos
 * into `hdr` (a fresh buffer the caller releases).
 */
static int
encode_header(struct gguf_writer *w, struct cl_buf *hdr, struct cl_err *err)
{
	uint64_t off = 0;
	int r = CL_OK;

	if (w->frozen)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: header already written");
	for (size_t i = 0; i < w->n_tensors; i++) {
		uint64_t a = w->alignment;

		w->tensors[i].offset = off;
		if (!cl_add_u64(off, w->tensors[i].nbytes, &off) ||
		    !cl_add_u64(off, (a - off % a) % a, &off))
			return cl_errf(err, CL_EINVAL,
			    "gguf writer: total size overflows");
	}
	r = buf_le(hdr, GGUF_MAGIC, 4);
	if (r == CL_OK)
		r = buf_le(hdr, GGUF_VERSION, 4);
	if (r == CL_OK)
		r = buf_le(hdr, w->n_tensors, 8);
	if (r == CL_OK)
		r = buf_le(hdr, w->n_kv, 8);
	if (r == CL_OK && w->kvs.len > 0)
		r = cl_buf_append(hdr, w->kvs.data, w->kvs.len);
	for (size_t i = 0; r == CL_OK && i < w->n_tensors; i++) {
		const struct wtensor *t = &w->tensors[i];

		r = buf_str(hdr, t->name, strlen(t->name));
		if (r == CL_OK)
			r = buf_le(hdr, t->n_dims, 4);
		for (uint32_t d = 0; r == CL_OK && d < t->n_dims; d++)
			r = buf_le(hdr, t->ne[d], 8);
		if (r == CL_OK)
			r = buf_le(hdr, t->type, 4);
		if (r == CL_OK)
			r = buf_le(hdr, t->offset, 8);
	}
	if (r != CL_OK)
		return cl_errf(err, CL_ENOMEM, "gguf writer: out of memory");
	return CL_OK;
}

/* Emit the header and its padding; freeze on success. */
static int
emit_header(struct gguf_writer *w, struct sink *s, struct cl_err *err)
{
	struct cl_buf hdr = CL_BUF_INIT;
	int r;

	if ((r = encode_header(w, &hdr, err)) != CL_OK)
		goto out;
	if ((r = sink_put(s, hdr.data, hdr.len, err)) != CL_OK ||
	    (r = sink_pad(s, hdr.len, w->alignment, err)) != CL_OK)
		goto out;
	w->frozen = true;
	w->next = 0;
	r = CL_OK;
out:
	cl_buf_release(&hdr);
	return r;
}

static int
emit_tensor(struct gguf_writer *w, struct sink *s, size_t index,
    const void *data, size_t nbytes, struct cl_err *err)
{
	const struct wtensor *t;
	int r;

	if (!w->frozen)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: tensor data before the header");
	if (index != w->next || index >= w->n_tensors)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: tensor #%zu written out of order "
		    "(expected #%zu of %zu)", index, w->next, w->n_tensors);
	t = &w->tensors[index];
	if (nbytes != t->nbytes)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: tensor '%.100s': %zu bytes given, %zu "
		    "expected", t->name, nbytes, t->nbytes);
	if ((r = sink_put(s, data, nbytes, err)) != CL_OK ||
	    (r = sink_pad(s, t->nbytes, w->alignment, err)) != CL_OK)
		return r;
	w->next++;
	return CL_OK;
}

int
gguf_writer_write_header(struct gguf_writer *w, int fd, struct cl_err *err)
{
	struct sink s = { fd, NULL };

	return emit_header(w, &s, err);
}

int
gguf_writer_write_tensor(struct gguf_writer *w, int fd, size_t index,
    const void *data, size_t nbytes, struct cl_err *err)
{
	struct sink s = { fd, NULL };

	return emit_tensor(w, &s, index, data, nbytes, err);
}

int
gguf_writer_finish(struct gguf_writer *w, struct cl_err *err)
{
	if (!w->frozen)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: header not written");
	if (w->next < w->n_tensors)
		return cl_errf(err, CL_EINVAL,
		    "gguf writer: tensor '%.100s' (#%zu) not written",
		    w->tensors[w->next].name, w->next);
	return CL_OK;
}

int
gguf_writer_build(struct gguf_writer *w, const void *const *data,
    struct cl_buf *out, struct cl_err *err)
{
	struct sink s = { -1, out };
	size_t mark = out->len;
	bool froze = false;
	int r;

	if ((r = emit_header(w, &s, err)) != CL_OK)
		goto fail;
	froze = true;
	for (size_t i = 0; i < w->n_tensors; i++)
		if ((r = emit_tensor(w, &s, i, data[i], w->tensors[i].nbytes,
		    err)) != CL_OK)
			goto fail;
	return CL_OK;
fail:
	/* Leave `out` as it was and the writer unfrozen if we froze it. */
	out->len = mark;
	if (out->data != NULL)
		out->data[mark] = '\0';
	if (froze)
		w->frozen = false;
	return r;
}
