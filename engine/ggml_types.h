/*
 * ggml_types.h - the ggml tensor type ids and their block geometry.
 *
 * Shared by the GGUF reader (to size tensors of any known type) and the
 * quant module (which computes with the supported subset).  Ids and
 * block sizes are from ggml's docs/gguf.md and ggml-common.h
 * (lfm2-spec.md section 1.3 and 2).  Internal to engine/.
 */
#ifndef CLOISTER_GGML_TYPES_H
#define CLOISTER_GGML_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ggml_type {
	GGML_TYPE_F32 = 0,
	GGML_TYPE_F16 = 1,
	GGML_TYPE_Q4_0 = 2,
	GGML_TYPE_Q4_1 = 3,
	GGML_TYPE_Q5_0 = 6,
	GGML_TYPE_Q5_1 = 7,
	GGML_TYPE_Q8_0 = 8,
	GGML_TYPE_Q8_1 = 9,
	GGML_TYPE_Q2_K = 10,
	GGML_TYPE_Q3_K = 11,
	GGML_TYPE_Q4_K = 12,
	GGML_TYPE_Q5_K = 13,
	GGML_TYPE_Q6_K = 14,
	GGML_TYPE_Q8_K = 15,
	GGML_TYPE_IQ2_XXS = 16,
	GGML_TYPE_IQ2_XS = 17,
	GGML_TYPE_IQ3_XXS = 18,
	GGML_TYPE_IQ1_S = 19,
	GGML_TYPE_IQ4_NL = 20,
	GGML_TYPE_IQ3_S = 21,
	GGML_TYPE_IQ2_S = 22,
	GGML_TYPE_IQ4_XS = 23,
	GGML_TYPE_I8 = 24,
	GGML_TYPE_I16 = 25,
	GGML_TYPE_I32 = 26,
	GGML_TYPE_I64 = 27,
	GGML_TYPE_F64 = 28,
	GGML_TYPE_IQ1_M = 29,
	GGML_TYPE_BF16 = 30,
	GGML_TYPE_TQ1_0 = 34,
	GGML_TYPE_TQ2_0 = 35,
	GGML_TYPE_MXFP4 = 39,
	GGML_TYPE_COUNT = 40
};

struct ggml_type_info {
	const char	*name;		/* "Q4_K"; NULL for unused ids */
	uint32_t	 blck_elems;	/* elements per block */
	uint32_t	 blck_bytes;	/* bytes per block */
	bool		 computable;	/* cloister can dequantize and compute */
};

/*
 * The geometry of type `type`, or NULL for an id ggml does not define
 * (4, 5, 31-33, 36-38 and anything >= GGML_TYPE_COUNT).
 */
static inline const struct ggml_type_info *
ggml_type_info(uint32_t type)
{
	static const struct ggml_type_info t[GGML_TYPE_COUNT] = {
		[GGML_TYPE_F32]	    = { "F32", 1, 4, true },
		[GGML_TYPE_F16]	    = { "F16", 1, 2, true },
		[GGML_TYPE_Q4_0]    = { "Q4_0", 32, 18, true },
		[GGML_TYPE_Q4_1]    = { "Q4_1", 32, 20, true },
		[GGML_TYPE_Q5_0]    = { "Q5_0", 32, 22, true },
		[GGML_TYPE_Q5_1]    = { "Q5_1", 32, 24, true },
		[GGML_TYPE_Q8_0]    = { "Q8_0", 32, 34, true },
		[GGML_TYPE_Q8_1]    = { "Q8_1", 32, 36, false },
		[GGML_TYPE_Q2_K]    = { "Q2_K", 256, 84, false },
		[GGML_TYPE_Q3_K]    = { "Q3_K", 256, 110, false },
		[GGML_TYPE_Q4_K]    = { "Q4_K", 256, 144, true },
		[GGML_TYPE_Q5_K]    = { "Q5_K", 256, 176, true },
		[GGML_TYPE_Q6_K]    = { "Q6_K", 256, 210, true },
		[GGML_TYPE_Q8_K]    = { "Q8_K", 256, 292, false },
		[GGML_TYPE_IQ2_XXS] = { "IQ2_XXS", 256, 66, false },
		[GGML_TYPE_IQ2_XS]  = { "IQ2_XS", 256, 74, false },
		[GGML_TYPE_IQ3_XXS] = { "IQ3_XXS", 256, 98, false },
		[GGML_TYPE_IQ1_S]   = { "IQ1_S", 256, 50, false },
		[GGML_TYPE_IQ4_NL]  = { "IQ4_NL", 32, 18, false },
		[GGML_TYPE_IQ3_S]   = { "IQ3_S", 256, 110, false },
		[GGML_TYPE_IQ2_S]   = { "IQ2_S", 256, 82, false },
		[GGML_TYPE_IQ4_XS]  = { "IQ4_XS", 256, 136, false },
		[GGML_TYPE_I8]	    = { "I8", 1, 1, false },
		[GGML_TYPE_I16]	    = { "I16", 1, 2, false },
		[GGML_TYPE_I32]	    = { "I32", 1, 4, false },
		[GGML_TYPE_I64]	    = { "I64", 1, 8, false },
		[GGML_TYPE_F64]	    = { "F64", 1, 8, false },
		[GGML_TYPE_IQ1_M]   = { "IQ1_M", 256, 56, false },
		[GGML_TYPE_BF16]    = { "BF16", 1, 2, true },
		[GGML_TYPE_TQ1_0]   = { "TQ1_0", 256, 54, false },
		[GGML_TYPE_TQ2_0]   = { "TQ2_0", 256, 66, false },
		[GGML_TYPE_MXFP4]   = { "MXFP4", 32, 17, false },
	};

	if (type >= GGML_TYPE_COUNT || t[type].name == NULL)
		return NULL;
	return &t[type];
}

#endif /* CLOISTER_GGML_TYPES_H */
