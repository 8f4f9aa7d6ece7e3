/*
 * fuzz_gguf.c - libFuzzer harness for the GGUF reader (engine/gguf.c).
 *
 * Not part of `make check`; build it by hand with clang from the top of
 * a configured tree (config.h is not needed):
 *
 *	clang -std=gnu11 -g -O1 -I. \
 *	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *	    tests/fuzz_gguf.c engine/gguf.c util/err.c util/alloc.c \
 *	    util/buf.c -o fuzz_gguf
 *	mkdir -p corpus && cp tests/data/synth-tiny-s1-q4_0.gguf corpus/
 *	./fuzz_gguf -max_len=65536 -timeout=5 corpus
 *
 * (A small real model is a good seed: the fuzzer mutates its header,
 * the tokenizer arrays and the tensor infos.)  Each input is parsed from
 * an exact-size heap copy, so a read one byte past the end is caught by
 * ASan, and everything a successful open exposes is read back.
 */
#include "engine/gguf.h"
#include "engine/ggml_types.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every value and every tensor byte; abort on a broken invariant. */
static unsigned
touch_all(const struct gguf *g)
{
	struct cl_err err = CL_ERR_INIT;
	unsigned sum = 0;

	for (size_t i = 0; i < gguf_n_kv(g); i++) {
		const char *key = gguf_kv_key(g, i), *s;
		uint32_t et, u;
		uint64_t n, u64;
		int64_t v;
		size_t len;
		float f;
		bool b;

		if (!gguf_has_key(g, key))
			abort();
		if (gguf_get_str(g, key, &s, &len, &err) == CL_OK)
			for (size_t k = 0; k < len; k++)
				sum += (uint8_t)s[k];
		if (gguf_get_u32(g, key, &u, &err) == CL_OK)
			sum += u;
		if (gguf_get_u64(g, key, &u64, &err) == CL_OK)
			sum += (unsigned)u64;
		if (gguf_get_i64(g, key, &v, &err) == CL_OK)
			sum += (unsigned)v;
		if (gguf_get_f32(g, key, &f, &err) == CL_OK)
			sum += f > 0;
		if (gguf_get_bool(g, key, &b, &err) == CL_OK)
			sum += b;
		if (gguf_get_arr(g, key, &et, &n, &err) != CL_OK)
			continue;
		for (uint64_t k = 0; k < n; k++) {
			if (gguf_arr_int(g, key, k, &v, &err) == CL_OK)
				sum += (unsigned)v;
			if (gguf_arr_f32(g, key, k, &f, &err) == CL_OK)
				sum += f > 0;
			if (gguf_arr_str(g, key, k, &s, &len, &err) == CL_OK)
				for (size_t j = 0; j < len; j++)
					sum += (uint8_t)s[j];
		}
	}
	for (size_t i = 0; i < gguf_n_tensors(g); i++) {
		const struct gguf_tensor *t = gguf_tensor_at(g, i);
		const uint8_t *d = t->data;

		if (gguf_find_tensor(g, t->name) != t ||
		    ggml_type_info(t->type) == NULL)
			abort();
		for (size_t k = 0; k < t->nbytes; k++)
			sum += d[k];
	}
	return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_err err = CL_ERR_INIT;
	struct gguf *g = NULL;
	uint8_t *copy;
	int r;

	if ((copy = malloc(size == 0 ? 1 : size)) == NULL)
		return 0;
	memcpy(copy, data, size);
	r = gguf_open_mem(copy, size, &g, &err);
	if (r == CL_OK) {
		volatile unsigned sink = touch_all(g);

		(void)sink;
		gguf_close(g);
	} else if (g != NULL || err.code != r || err.msg[0] == '\0')
		abort();
	free(copy);
	return 0;
}
