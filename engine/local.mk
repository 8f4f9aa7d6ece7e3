# engine/: rules for this module (see Makefile.am).

# The engine library.  One source per line so that parallel branches
# can append with `libengine_a_SOURCES +=` and merge cleanly.
noinst_LIBRARIES += libengine.a
libengine_a_SOURCES = engine/ggml_types.h
libengine_a_SOURCES += engine/gguf.h
libengine_a_SOURCES += engine/gguf.c
libengine_a_SOURCES += engine/proto.h
libengine_a_SOURCES += engine/proto.c

# The GGUF writer (cloister-mkmodel and tests).  Separate so that the
# jailed cloister-engine binary never links it.
noinst_LIBRARIES += libggufwrite.a
libggufwrite_a_SOURCES = engine/gguf_write.h
libggufwrite_a_SOURCES += engine/gguf_write.c

# The wire protocol's tests.
check_PROGRAMS += tests/check_proto
TESTS += tests/check_proto
tests_check_proto_SOURCES = tests/check_proto.c
tests_check_proto_CFLAGS = $(TEST_CFLAGS)
tests_check_proto_LDADD = libengine.a libutil.a $(TEST_LIBS)
