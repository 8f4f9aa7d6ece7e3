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

# SIMD kernel tables: each file is compiled alone with its own -m flags so
# wide instructions never leak into generic code, and its objects are
# added to libengine.a (kern_select.c only calls them after probing).
if CPU_X86_64
noinst_LIBRARIES += libkern_avx2.a
libkern_avx2_a_SOURCES = engine/kern_avx2.c
libkern_avx2_a_CFLAGS = $(AM_CFLAGS) -mavx2 -mfma -mf16c
libengine_a_LIBADD = $(libkern_avx2_a_OBJECTS)
libengine_a_DEPENDENCIES = $(libkern_avx2_a_OBJECTS)
endif
