/*
 * kern_select.c - choose the kernel table once per process.
 *
 * KERN_AUTO probes the CPU under pthread_once (as sodium_init() picks its
 * implementations) and remembers the best variant; forced choices serve
 * tests and `cloister doctor`.  Only the scalar reference exists so far.
 *
 * Where SIMD variants plug in (later): probe() checks CPUID leaf 7 for
 * AVX2/FMA (and AVX-512F/BW/VL) AND XGETBV(0) for the OS-enabled YMM/ZMM
 * state (bits 1-2, and 5-7 for AVX-512) -- CPUID alone says nothing about
 * the OS saving the registers (ggml's cpu-feats FIXME).  On AArch64 NEON
 * is baseline; getauxval(AT_HWCAP) covers optional extensions.
 */
#include "config.h"

#include <pthread.h>

#include "engine/kern.h"

static pthread_once_t	 auto_once = PTHREAD_ONCE_INIT;
static const struct kern_ops *auto_ops;	/* set once by probe() */

static void
probe(void)
{
	/* No SIMD variant yet: the reference is the best there is. */
	auto_ops = kern_ops_ref();
}

const struct kern_ops *
kern_ops_select(unsigned force)
{
	switch (force) {
	case KERN_AUTO:
		if (pthread_once(&auto_once, probe) != 0)
			return kern_ops_ref();
		return auto_ops;
	case KERN_FORCE_REF:
		return kern_ops_ref();
	default:
		return NULL;
	}
}
