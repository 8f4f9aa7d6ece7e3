# util/: small shared helpers (errors, buffers, UTF-8, JSON, allocation).
noinst_LIBRARIES += libutil.a
libutil_a_SOURCES = util/util.h util/err.c util/alloc.c util/buf.c util/sort.c \
	util/utf8.c util/json.c

check_PROGRAMS += tests/check_util
TESTS += tests/check_util
tests_check_util_SOURCES = tests/check_util.c
tests_check_util_CFLAGS = $(TEST_CFLAGS)
tests_check_util_LDADD = libutil.a $(TEST_LIBS)
