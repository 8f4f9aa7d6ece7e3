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
