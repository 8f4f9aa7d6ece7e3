# store/: the encrypted SQLite store (VFS shim, key file, rekey).
noinst_LIBRARIES += libstore.a
libstore_a_SOURCES = store/store.h store/store_impl.h store/page.c \
	store/vfs.c store/keyfile.c store/store.c
libstore_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(SODIUM_CFLAGS)

check_PROGRAMS += tests/check_store
TESTS += tests/check_store
tests_check_store_SOURCES = tests/check_store.c
tests_check_store_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS) $(SODIUM_CFLAGS)
tests_check_store_LDADD = libstore.a libutil.a $(SQLITE_LIBS) \
	$(SODIUM_LIBS) $(TEST_LIBS)

dist_check_SCRIPTS += tests/store-cli.sh
TESTS += tests/store-cli.sh
