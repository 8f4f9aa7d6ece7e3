/*
 * kern_select.c - choose the kernel table once per process.
 *
 * KERN_AUTO probes the CPU under pthread_once (as sodium_init() picks its
 * implementations) and remembers the best variant; forced choices serve
 * tests, benchmarks and `cloister doctor`, and give NULL for a variant
 * this machine cannot run.
 *
 * x86-64: CPUID says what the processor implements, XGETBV(0) what the
 * OS saves on a context switch; a variant is usable only when both agree
 * (ggml's cpu-feats FIXME: CPUID alone would let AVX-512 code run where
 * the kernel does not preserve ZMM state).  avx512 needs AVX-512
 * F/BW/DQ/VL and VNNI, plus F16C; avx2 needs AVX2, FMA and F16C.
 * The tables pair the shared activation layouts (kern_simd.h) with each
 * variant's matmul.
 *
 * AUTO takes the fastest variant the CPU and OS support.  SIMD variants
 * round activations as ggml does, so tests/check_engine.c compares them
 * with the llama.cpp reference logits rather than with ref's float path.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#if defined(CL_CPU_X86_64) && defined(HAVE_CPUID_H)
#include <cpuid.h>
#define HAVE_X86_KERNELS 1
#endif

#include "engine/kern.h"
#include "engine/kern_simd.h"

#ifdef HAVE_X86_KERNELS
static const struct kern_ops kern_avx2 = {
	.name = "avx2",
	.act_row_bytes = kern_simd_act_row_bytes,
	.act_prepare = kern_simd_act_prepare,
	.matmul = kern_avx2_matmul,
	.dot_f32 = kern_avx2_dot_f32,
	.row_f32 = kern_simd_row_f32,
};

/*
 * Unpacked Q4_K and Q5_K (matrices whose rows do not fill 16-row panels)
 * go to the AVX2 matmul (same activation layout): the AVX-512 row kernel
 * agrees with quant_vec_dot to float summation order (tests/
 * check_kern_simd.c) but its 16-lane summation flipped MoE routing in
 * 6 of 84 positions of the Q4_K_M conformance model against llama.cpp
 * (check_engine wants >= 97%), AVX2's 8 lanes in 1.  The packed kernels
 * (Q4_K | KERN_PACKED ...) keep one float sum per row, super-block by
 * super-block as llama.cpp, and run on AVX-512.
 */
static void
matmul_avx512(uint32_t wtype, const void *w, size_t w_stride, size_t n,
    const void *act, size_t n_tok, float *y, size_t ldy, size_t r0,
    size_t r1)
{
	if (wtype == GGML_TYPE_Q4_K || wtype == GGML_TYPE_Q5_K)
		kern_avx2_matmul(wtype, w, w_stride, n, act, n_tok, y, ldy,
		    r0, r1);
	else
		kern_avx512_matmul(wtype, w, w_stride, n, act, n_tok, y, ldy,
		    r0, r1);
}

static const struct kern_ops kern_avx512 = {
	.name = "avx512",
	.act_row_bytes = kern_simd_act_row_bytes,
	.act_prepare = kern_avx512_act_prepare,
	.matmul = matmul_avx512,
	.dot_f32 = kern_avx512_dot_f32,
	.pack_rows = kern_simd_pack_rows,
	.pack = kern_simd_pack,
	.row_f32 = kern_simd_row_f32,
	.row_f32_packed = kern_simd_row_f32_packed,
};
#endif /* HAVE_X86_KERNELS */

static pthread_once_t	 probe_once = PTHREAD_ONCE_INIT;
static const struct kern_ops *auto_ops;	/* set once by probe() */
static bool		 have_avx2, have_avx512;	/* set once by probe() */

#ifdef HAVE_X86_KERNELS
static uint64_t
xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static void
probe_x86(void)
{
	unsigned int a, b, c, d, c1;
	uint64_t xcr0;

	if (!__get_cpuid(1, &a, &b, &c1, &d))
		return;
	/* OSXSAVE (27) and AVX (28): XGETBV is usable, YMM exists. */
	if ((c1 & (1u << 27)) == 0 || (c1 & (1u << 28)) == 0)
		return;
	xcr0 = xgetbv0();
	/* XCR0 bits 1-2: the OS saves XMM and YMM state. */
	if ((xcr0 & 0x6) != 0x6)
		return;
	if (__get_cpuid_max(0, NULL) < 7)
		return;
	__cpuid_count(7, 0, a, b, c, d);
	/* AVX2 (leaf 7 ebx 5), FMA (leaf 1 ecx 12), F16C (leaf 1 ecx 29). */
	have_avx2 = (b & (1u << 5)) != 0 && (c1 & (1u << 12)) != 0 &&
	    (c1 & (1u << 29)) != 0;
	/*
	 * AVX-512 F (ebx 16), DQ (17), BW (30), VL (31), VNNI (ecx 11),
	 * and XCR0 bits 5-7: opmask, ZMM0-15 upper halves, ZMM16-31.
	 */
	have_avx512 = have_avx2 && (xcr0 & 0xe0) == 0xe0 &&
	    (b & (1u << 16)) != 0 && (b & (1u << 17)) != 0 &&
	    (b & (1u << 30)) != 0 && (b & (1u << 31)) != 0 &&
	    (c & (1u << 11)) != 0;
}
#endif /* HAVE_X86_KERNELS */

static void
probe(void)
{
	auto_ops = kern_ops_ref();
#ifdef HAVE_X86_KERNELS
	probe_x86();
	if (have_avx2)
		auto_ops = &kern_avx2;
	if (have_avx512)
		auto_ops = &kern_avx512;
#endif
}

const struct kern_ops *
kern_ops_select(unsigned force)
{
	if (force == KERN_FORCE_REF)
		return kern_ops_ref();
	if (pthread_once(&probe_once, probe) != 0)
		return force == KERN_AUTO ? kern_ops_ref() : NULL;
	switch (force) {
	case KERN_AUTO:
		return auto_ops;
#ifdef HAVE_X86_KERNELS
	case KERN_FORCE_AVX2:
		return have_avx2 ? &kern_avx2 : NULL;
	case KERN_FORCE_AVX512:
		return have_avx512 ? &kern_avx512 : NULL;
#endif
	default:
		return NULL;
	}
}
