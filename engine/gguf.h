/*
 * gguf.h - a validating, read-only GGUF (v3, and structurally identical
 * v2) reader.  Internal to engine/.
 *
 * Owns: parsing a GGUF container (lfm2-spec.md section 1) that is mapped
 * read-only or borrowed from memory, validating every count, length,
 * offset and shape against the file size before use, and indexing the
 * metadata keys and tensor names for lookup.
 *
 * Invariants after a successful open: every metadata value and every
 * tensor's data range lies inside the file; tensor data ranges are aligned
 * and pairwise disjoint; keys and tensor names are unique, non-empty,
 * valid UTF-8 without NUL bytes; every tensor's type is a ggml type id
 * that ggml defines (it may still be one cloister cannot compute with,
 * such as Q2_K: the model loader rejects those).
 *
 * Threads: a struct gguf is never modified after gguf_open_*() returns,
 * so any number of threads may call the accessors concurrently.  Only
 * gguf_close() must not race with other calls.
 *
 * Layering: depends on util/ and engine/ggml_types.h only.  Errors never
 * quote metadata values (they may be prompt-like text such as a chat
 * template); they name keys, tensor names, indices, offsets and sizes.
 */
#ifndef CLOISTER_GGUF_H
#define CLOISTER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define GGUF_MAGIC		0x46554747u	/* "GGUF" as a LE u32 */
#define GGUF_VERSION		3u
#define GGUF_DEFAULT_ALIGNMENT	32u
#define GGUF_MAX_ALIGNMENT	(1u << 16)	/* sanity cap on general.alignment */
#define GGUF_MAX_DIMS		4
#define GGUF_MAX_KEY_LEN	65535u		/* bytes */
#define GGUF_MAX_NAME_LEN	256u		/* tensor name, bytes */
#define GGUF_MAX_STR_LEN	(16u << 20)	/* any string value, bytes */
#define GGUF_MAX_ARRAY_DEPTH	4		/* arrays of arrays of ... */

/* Metadata value types (the u32 tag before each value). */
enum gguf_vtype {
	GGUF_VTYPE_UINT8 = 0,
	GGUF_VTYPE_INT8 = 1,
	GGUF_VTYPE_UINT16 = 2,
	GGUF_VTYPE_INT16 = 3,
	GGUF_VTYPE_UINT32 = 4,
	GGUF_VTYPE_INT32 = 5,
	GGUF_VTYPE_FLOAT32 = 6,
	GGUF_VTYPE_BOOL = 7,
	GGUF_VTYPE_STRING = 8,
	GGUF_VTYPE_ARRAY = 9,
	GGUF_VTYPE_UINT64 = 10,
	GGUF_VTYPE_INT64 = 11,
	GGUF_VTYPE_FLOAT64 = 12,
	GGUF_VTYPE_COUNT = 13
};

/*
 * The name of value type `t` ("UINT32", "STRING", ...), or "unknown" for
 * a tag outside 0..12.  Never NULL; static storage.
 */
const char *gguf_vtype_name(uint32_t t);

/*
 * True when s[0..n) may be a key or tensor name: well-formed UTF-8 (no
 * overlongs, surrogates or code points above U+10FFFF) without NUL bytes
 * (names are looked up as C strings).  Length limits are not checked.
 */
bool gguf_name_is_valid(const char *s, size_t n);

/* An open GGUF file.  Opaque. */
struct gguf;

/* One tensor, as described by its tensor info.  Owned by the gguf. */
struct gguf_tensor {
	const char	*name;		/* NUL-terminated copy */
	uint32_t	 type;		/* enum ggml_type id */
	uint32_t	 n_dims;	/* 1..4 */
	uint64_t	 ne[GGUF_MAX_DIMS];/* elements per dim; missing dims = 1 */
	uint64_t	 offset;	/* relative to gguf_data_offset() */
	size_t		 nbytes;	/* bytes of data */
	const void	*data;		/* into the mapping; nbytes long */
};

/*
 * Map the already open file descriptor `fd` read-only (MAP_PRIVATE,
 * PROT_READ; the file is never written) and parse it.  The mapping does
 * not need `fd` afterwards: the caller may close it at once.  No path is
 * ever opened, so this works inside the engine's jail on a passed fd.
 * Sharp edge: as with any mapping, if another process truncates the file
 * while it is mapped, touching the lost pages raises SIGBUS; model files
 * are admin-owned and replaced by rename, never rewritten in place.
 *
 * Returns CL_OK and stores a new handle in *out (caller frees with
 * gguf_close()), or returns CL_EIO (fstat/mmap failed, not a regular
 * file), CL_EFORMAT (malformed or hostile file; `err` says what and
 * where), CL_EUNSUPPORTED (a GGUF version other than 2 or 3) or
 * CL_ENOMEM, with *out set to NULL.
 */
int gguf_open_fd(int fd, struct gguf **out, struct cl_err *err) CL_WUR;

/*
 * As gguf_open_fd(), but the caller gives the file's size (measured with
 * fstat before a jail that forbids it; cloister-engine) and has checked
 * that `fd` is a regular file.  No call here but mmap.
 */
int gguf_open_fd_sized(int fd, uint64_t size, struct gguf **out,
    struct cl_err *err) CL_WUR;

/*
 * As gguf_open_fd(), but parse the `len` bytes at `p`, which are borrowed:
 * they must stay valid and unchanged until gguf_close().  For tests and
 * for tools that already hold the file in memory.
 */
int gguf_open_mem(const void *p, size_t len, struct gguf **out,
    struct cl_err *err) CL_WUR;

/* Release `g` and unmap its file (if mapped).  NULL is a no-op. */
void gguf_close(struct gguf *g);

/*
 * Give back the mapped pages lying wholly inside [p, p + len), a range of
 * the file the caller has copied elsewhere (the engine's relayout of a
 * weight): they leave the address space and the resident set, and those
 * bytes must not be read again through `g` (the pages at the edges,
 * shared with neighbouring data, stay).  A no-op for gguf_open_mem() or
 * a range outside the file.
 */
void gguf_release_range(struct gguf *g, const void *p, size_t len);

/* The whole file: its size, first byte (borrowed; valid until
 * gguf_close()), GGUF version (2 or 3). */
size_t		 gguf_size(const struct gguf *g);
const void	*gguf_base(const struct gguf *g);
uint32_t	 gguf_version(const struct gguf *g);

/* The alignment in force (general.alignment or 32). */
uint32_t	 gguf_alignment(const struct gguf *g);

/* The absolute file offset at which tensor data starts (aligned). */
uint64_t	 gguf_data_offset(const struct gguf *g);

/*
 * Metadata.
 *
 * Keys are looked up by NUL-terminated C string in a hash index built at
 * open time (O(1) expected).  The scalar getters convert as real files
 * require (lfm2-spec.md 1.2): an integer getter accepts any integer tag
 * (UINT8..INT64) whose value fits the requested type; gguf_get_f32()
 * accepts FLOAT32 and FLOAT64 (rounded to float).  Each returns CL_OK
 * and fills *out, or CL_ENOTFOUND (no such key; message names it) or
 * CL_EFORMAT (wrong type or value out of range; message names the key,
 * the expected and the actual type) and leaves *out unchanged.
 */
bool	gguf_has_key(const struct gguf *g, const char *key);
int	gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out,
	    struct cl_err *err) CL_WUR;
int	gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out,
	    struct cl_err *err) CL_WUR;
int	gguf_get_i64(const struct gguf *g, const char *key, int64_t *out,
	    struct cl_err *err) CL_WUR;
int	gguf_get_f32(const struct gguf *g, const char *key, float *out,
	    struct cl_err *err) CL_WUR;
/* BOOL only. */
int	gguf_get_bool(const struct gguf *g, const char *key, bool *out,
	    struct cl_err *err) CL_WUR;
/*
 * STRING only.  *p is borrowed, points into the file and is valid until
 * gguf_close(); it is NOT NUL-terminated and is not guaranteed to be
 * valid UTF-8: use *len.
 */
int	gguf_get_str(const struct gguf *g, const char *key, const char **p,
	    size_t *len, struct cl_err *err) CL_WUR;

/*
 * Arrays.  gguf_get_arr() gives the element type (a GGUF_VTYPE_*) and the
 * element count of ARRAY `key`.  The element getters take the index `i`
 * and run in O(1) (string element offsets are recorded at open time):
 * gguf_arr_int() accepts any integer element type and widens to int64_t
 * (a UINT64 element above INT64_MAX is CL_EFORMAT), gguf_arr_f32() takes
 * FLOAT32 or FLOAT64 elements, gguf_arr_str() STRING elements (*p
 * borrowed into the file, valid until gguf_close(), not NUL-terminated,
 * any bytes: tokens need not be UTF-8).  Arrays of arrays are validated
 * at open but their elements cannot be read through these getters
 * (CL_EFORMAT, "ARRAY" element type).  An index >= the count is
 * CL_EINVAL.  Other failures as for the scalar getters.
 */
int	gguf_get_arr(const struct gguf *g, const char *key,
	    uint32_t *elem_type, uint64_t *n, struct cl_err *err) CL_WUR;
int	gguf_arr_int(const struct gguf *g, const char *key, uint64_t i,
	    int64_t *out, struct cl_err *err) CL_WUR;
int	gguf_arr_f32(const struct gguf *g, const char *key, uint64_t i,
	    float *out, struct cl_err *err) CL_WUR;
int	gguf_arr_str(const struct gguf *g, const char *key, uint64_t i,
	    const char **p, size_t *len, struct cl_err *err) CL_WUR;

/*
 * Iteration over the metadata in file order, for tools.  gguf_n_kv() is
 * the number of keys; for i < gguf_n_kv(), gguf_kv_key() is key i's name
 * (NUL-terminated; borrowed, valid until gguf_close()) and gguf_kv_type()
 * its value type.  Out-of-range `i` gives NULL and GGUF_VTYPE_COUNT.
 * Read the values with the getters above, by name.
 */
size_t		 gguf_n_kv(const struct gguf *g);
const char	*gguf_kv_key(const struct gguf *g, size_t i);
uint32_t	 gguf_kv_type(const struct gguf *g, size_t i);

/*
 * Tensors, in file order.  gguf_tensor_at() returns NULL for i >=
 * gguf_n_tensors(); gguf_find_tensor() looks a name up in a hash index
 * and returns NULL if there is no such tensor.  Returned pointers are
 * borrowed and valid until gguf_close().
 */
size_t			 gguf_n_tensors(const struct gguf *g);
const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, size_t i);
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g,
			    const char *name);

#endif /* CLOISTER_GGUF_H */
