# engine/: rules for this module (see Makefile.am).

# The engine library.  One source per line so that parallel branches
# can append with `libengine_a_SOURCES +=` and merge cleanly.
noinst_LIBRARIES += libengine.a
libengine_a_SOURCES = engine/ggml_types.h
libengine_a_SOURCES += engine/gguf.h
libengine_a_SOURCES += engine/gguf.c

# The GGUF writer (cloister-mkmodel and tests).  Separate so that the
# jailed cloister-engine binary never links it.
noinst_LIBRARIES += libggufwrite.a
libggufwrite_a_SOURCES = engine/gguf_write.h
libggufwrite_a_SOURCES += engine/gguf_write.c
libengine_a_SOURCES += engine/quant.h
libengine_a_SOURCES += engine/quant.c
libengine_a_SOURCES += engine/kern.h
libengine_a_SOURCES += engine/kern_ref.c
libengine_a_SOURCES += engine/kern_select.c
libengine_a_SOURCES += engine/kern_simd.h
libengine_a_SOURCES += engine/kern_act.c

# SIMD kernels: one library per instruction set, each compiled with its
# own flags so wide instructions never leak into generic code; only
# kern_select.c calls them, after checking CPUID and XGETBV.  They need
# nothing from libengine, so link them after it:
#	foo_LDADD = $(ENGINE_LIBS) libutil.a
ENGINE_KERN_LIBS =
if CPU_X86_64
noinst_LIBRARIES += libkern_avx2.a libkern_avx512.a
libkern_avx2_a_SOURCES = engine/kern_avx2.c
libkern_avx2_a_CFLAGS = $(AM_CFLAGS) -mavx2 -mfma -mf16c
libkern_avx512_a_SOURCES = engine/kern_avx512.c
libkern_avx512_a_CFLAGS = $(AM_CFLAGS) -mavx2 -mfma -mf16c -mavx512f \
	-mavx512bw -mavx512dq -mavx512vl -mavx512vnni
ENGINE_KERN_LIBS += libkern_avx512.a libkern_avx2.a
endif
ENGINE_LIBS = libengine.a $(ENGINE_KERN_LIBS)
