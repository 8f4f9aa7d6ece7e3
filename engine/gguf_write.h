/*
 * gguf_write.h - a streaming GGUF v3 writer.
 *
 * Owns: laying out and emitting a GGUF file (lfm2-spec.md section 1):
 * header, metadata, tensor infos with aligned offsets, padding and
 * tensor data.  Used by cloister-mkmodel and by tests; the jailed engine
 * never links it (it lives in libggufwrite.a, not libengine.a).
 *
 * Use: gguf_writer_new(); add every metadata key and every tensor INFO
 * (the writer computes byte sizes and aligned offsets); then either
 *   - gguf_writer_write_header() followed by gguf_writer_write_tensor()
 *     for each tensor in order, streaming to a file descriptor so a
 *     multi-gigabyte model never has to sit in memory, then
 *     gguf_writer_finish(); or
 *   - gguf_writer_build() to produce a small file in a struct cl_buf.
 * Once the header is written (or built) the layout is frozen: adding
 * keys or tensors, or changing the alignment, is CL_EINVAL.
 *
 * What the adders validate: keys and tensor names are unique, non-empty,
 * valid UTF-8 and within the reader's limits; strings within
 * GGUF_MAX_STR_LEN; tensor shapes and types as the reader checks them.
 * So a file built only with the checked adders opens with gguf_open_*().
 * gguf_writer_add_raw() is the exception (unvalidated value bytes, for
 * tests that need malformed files).
 *
 * Failures leave the writer unchanged.  Not thread-safe; use one writer
 * per thread.
 */
#ifndef CLOISTER_GGUF_WRITE_H
#define CLOISTER_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "util/util.h"

struct gguf_writer;

/*
 * Create an empty writer (alignment 32, no keys, no tensors).  Returns
 * CL_OK with *out set (caller frees with gguf_writer_free()) or
 * CL_ENOMEM with *out NULL.
 */
int	gguf_writer_new(struct gguf_writer **out, struct cl_err *err) CL_WUR;

/* Free `w`.  NULL is a no-op.  Does not close any fd. */
void	gguf_writer_free(struct gguf_writer *w);

/*
 * Use alignment `a` (a nonzero multiple of 8 up to GGUF_MAX_ALIGNMENT)
 * instead of 32, and record it as the UINT32 key general.alignment.
 * Adding general.alignment with gguf_writer_add_u32() is the same call.
 * Returns CL_OK, CL_EINVAL (bad value, frozen, or set twice).
 */
int	gguf_writer_set_alignment(struct gguf_writer *w, uint32_t a,
	    struct cl_err *err) CL_WUR;

/*
 * Metadata adders: append key `key` (NUL-terminated, copied) with a
 * value of the named type.  Each returns CL_OK, CL_EINVAL (invalid or
 * duplicate key, string too long, writer frozen) or CL_ENOMEM.
 * Strings are given as pointer and byte length (any bytes for values;
 * copied); gguf_writer_add_arr_str() takes `n` strings with their
 * lengths in `lens`, or NUL-terminated strings if `lens` is NULL.
 */
int	gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v,
	    struct cl_err *err) CL_WUR;
int	gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v,
	    struct cl_err *err) CL_WUR;
int	gguf_writer_add_u16(struct gguf_writer *w, const char *key,
	    uint16_t v, struct cl_err *err) CL_WUR;
int	gguf_writer_add_i16(struct gguf_writer *w, const char *key,
	    int16_t v, struct cl_err *err) CL_WUR;
int	gguf_writer_add_u32(struct gguf_writer *w, const char *key,
	    uint32_t v, struct cl_err *err) CL_WUR;
int	gguf_writer_add_i32(struct gguf_writer *w, const char *key,
	    int32_t v, struct cl_err *err) CL_WUR;
int	gguf_writer_add_u64(struct gguf_writer *w, const char *key,
	    uint64_t v, struct cl_err *err) CL_WUR;
int	gguf_writer_add_i64(struct gguf_writer *w, const char *key,
	    int64_t v, struct cl_err *err) CL_WUR;
int	gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v,
	    struct cl_err *err) CL_WUR;
int	gguf_writer_add_f64(struct gguf_writer *w, const char *key,
	    double v, struct cl_err *err) CL_WUR;
int	gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v,
	    struct cl_err *err) CL_WUR;
int	gguf_writer_add_str(struct gguf_writer *w, const char *key,
	    const char *s, size_t len, struct cl_err *err) CL_WUR;
int	gguf_writer_add_arr_i32(struct gguf_writer *w, const char *key,
	    const int32_t *v, size_t n, struct cl_err *err) CL_WUR;
int	gguf_writer_add_arr_u32(struct gguf_writer *w, const char *key,
	    const uint32_t *v, size_t n, struct cl_err *err) CL_WUR;
int	gguf_writer_add_arr_f32(struct gguf_writer *w, const char *key,
	    const float *v, size_t n, struct cl_err *err) CL_WUR;
int	gguf_writer_add_arr_str(struct gguf_writer *w, const char *key,
	    const char *const *s, const size_t *lens, size_t n,
	    struct cl_err *err) CL_WUR;

/*
 * Append key `key` with value type tag `vtype` (any u32, unchecked)
 * followed by the `len` bytes at `value`, copied verbatim: they must
 * already be the little-endian encoding.  The key is still checked.  For
 * tests and tools that need values the typed adders cannot express
 * (nested arrays, or deliberately malformed files).
 */
int	gguf_writer_add_raw(struct gguf_writer *w, const char *key,
	    uint32_t vtype, const void *value, size_t len, struct cl_err *err)
	    CL_WUR;

/*
 * Append a tensor info: `name` (copied), ggml type id `type`, `n_dims`
 * (1..4) dimensions ne[0..n_dims).  The writer computes the byte size
 * and places the data at the next aligned offset.  Returns CL_OK and,
 * if `index` is not NULL, the tensor's index in *index; CL_EINVAL for a
 * bad name, duplicate, unknown type, bad shape (zero dim, ne[0] not a
 * multiple of the block size, size overflow) or frozen writer; CL_ENOMEM.
 */
int	gguf_writer_add_tensor(struct gguf_writer *w, const char *name,
	    uint32_t type, uint32_t n_dims, const uint64_t *ne, size_t *index,
	    struct cl_err *err) CL_WUR;

/* Number of tensors added, and tensor i's byte size (0 if i is out of
 * range). */
size_t	gguf_writer_n_tensors(const struct gguf_writer *w);
size_t	gguf_writer_tensor_nbytes(const struct gguf_writer *w, size_t i);

/*
 * Freeze the layout and write the header, metadata, tensor infos and the
 * padding up to the data start to `fd` (borrowed; positioned where the
 * file starts, normally a fresh file).  Returns CL_OK, CL_EINVAL (header
 * already written), CL_EIO (write failed) or CL_ENOMEM.
 */
int	gguf_writer_write_header(struct gguf_writer *w, int fd,
	    struct cl_err *err) CL_WUR;

/*
 * Write tensor `index`'s data: `nbytes` bytes at `data` (borrowed), then
 * zero padding to the alignment.  Tensors must be written in index order
 * after the header; `nbytes` must equal the tensor's computed size.
 * Returns CL_OK, CL_EINVAL (out of order, wrong size, no header yet) or
 * CL_EIO.
 */
int	gguf_writer_write_tensor(struct gguf_writer *w, int fd, size_t index,
	    const void *data, size_t nbytes, struct cl_err *err) CL_WUR;

/*
 * Check that every tensor was written.  Returns CL_OK or CL_EINVAL
 * naming the first missing tensor.  Does not close or sync `fd`.
 */
int	gguf_writer_finish(struct gguf_writer *w, struct cl_err *err) CL_WUR;

/*
 * Convenience for small files: freeze the layout and append the whole
 * file to `out` (caller-owned buffer), taking tensor i's bytes from
 * data[i] (borrowed; each gguf_writer_tensor_nbytes(w, i) long; data may
 * be NULL when there are no tensors).  Returns CL_OK, CL_EINVAL (already
 * frozen) or CL_ENOMEM; on failure `out` is left as it was.
 */
int	gguf_writer_build(struct gguf_writer *w, const void *const *data,
	    struct cl_buf *out, struct cl_err *err) CL_WUR;

#endif /* CLOISTER_GGUF_WRITE_H */
