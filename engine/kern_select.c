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
 * The tables pair the shared activation layout of kern_act.c with each
 * variant's matmul.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef CL_CPU_X86_64
#include <cpuid.h>
#endif

#include "engine/kern.h"
#include "engine/kern_simd.h"

#ifdef CL_CPU_X86_64
static const struct kern_ops kern_avx2 = {
	.name = "avx2",
	.act_row_bytes = kern_simd_act_row_bytes,
	.act_prepare = kern_simd_act_prepare,
	.matmul = kern_avx2_matmul,
	.dot_f32 = kern_avx2_dot_f32,
};

static const struct kern_ops kern_avx512 = {
	.name = "avx512",
	.act_row_bytes = kern_simd_act_row_bytes,
	.act_prepare = kern_avx512_act_prepare,
	.matmul = kern_avx512_matmul,
	.dot_f32 = kern_avx512_dot_f32,
};
#endif /* CL_CPU_X86_64 */

static pthread_once_t	 probe_once = PTHREAD_ONCE_INIT;
static const struct kern_ops *auto_ops;	/* set once by probe() */
static bool		 have_avx2, have_avx512;	/* set once by probe() */

#ifdef CL_CPU_X86_64
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
#endif /* CL_CPU_X86_64 */

static void
probe(void)
{
	auto_ops = kern_ops_ref();
#ifdef CL_CPU_X86_64
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
#ifdef CL_CPU_X86_64
	case KERN_FORCE_AVX2:
		return have_avx2 ? &kern_avx2 : NULL;
	case KERN_FORCE_AVX512:
		return have_avx512 ? &kern_avx512 : NULL;
#endif
	default:
		return NULL;
	}
}
