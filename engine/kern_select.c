/*
 * kern_select.c - choose the kernel table once per process.
 *
 * KERN_AUTO probes the CPU under pthread_once (as sodium_init() picks its
 * implementations) and remembers the best variant; forced choices serve
 * tests and `cloister doctor`, and come back NULL when this machine
 * cannot run them.
 *
 * x86-64: AVX2 needs CPUID to report AVX2, FMA, F16C and OSXSAVE AND
 * XGETBV(0) to show the OS saves the XMM and YMM state (bits 1 and 2);
 * CPUID alone says nothing about the OS (ggml's cpu-feats FIXME).
 * Later: AVX-512 adds leaf 7 F/BW/VL and XCR0 bits 5-7; on AArch64 NEON
 * is baseline and getauxval(AT_HWCAP) covers optional extensions.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#if defined(CL_CPU_X86_64) && defined(HAVE_CPUID_H)
#include <cpuid.h>
#define HAVE_AVX2_KERNELS 1
#endif

#include "engine/kern.h"

static pthread_once_t	 probe_once = PTHREAD_ONCE_INIT;
static const struct kern_ops *auto_ops;	/* best variant, set by probe() */
static bool		 have_avx2;	/* AVX2 table usable here */

#ifdef HAVE_AVX2_KERNELS
static bool
cpu_has_avx2(void)
{
	const unsigned need1 = bit_FMA | bit_OSXSAVE | bit_AVX | bit_F16C;
	unsigned a, b, c, d;
	uint32_t xcr0_lo, xcr0_hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || (c & need1) != need1)
		return false;
	/* XGETBV is only legal once OSXSAVE is known to be set. */
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	(void)xcr0_hi;
	if ((xcr0_lo & 0x6) != 0x6)
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return (b & bit_AVX2) != 0;
}
#endif /* HAVE_AVX2_KERNELS */

/*
 * AUTO takes the fastest variant the CPU and OS support.  SIMD variants
 * round activations as ggml does, so tests/check_engine.c compares them
 * with the llama.cpp reference logits rather than with ref's float path.
 */
static void
probe(void)
{
	auto_ops = kern_ops_ref();
#ifdef HAVE_AVX2_KERNELS
	have_avx2 = cpu_has_avx2();
	if (have_avx2)
		auto_ops = kern_ops_avx2();
#endif
}

const struct kern_ops *
kern_ops_select(unsigned force)
{
	if (pthread_once(&probe_once, probe) != 0)
		return force == KERN_AUTO || force == KERN_FORCE_REF ?
		    kern_ops_ref() : NULL;
	switch (force) {
	case KERN_AUTO:
		return auto_ops;
	case KERN_FORCE_REF:
		return kern_ops_ref();
#ifdef HAVE_AVX2_KERNELS
	case KERN_FORCE_AVX2:
		return have_avx2 ? kern_ops_avx2() : NULL;
#endif
	default:
		return NULL;
	}
}
