# audit/: the opt-in, tamper-evident audit log on the store.
noinst_LIBRARIES += libaudit.a
libaudit_a_SOURCES = audit/audit.h audit/audit_impl.h audit/chain.c \
	audit/log.c audit/verify.c
libaudit_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(SODIUM_CFLAGS)

check_PROGRAMS += tests/check_audit
TESTS += tests/check_audit
tests_check_audit_SOURCES = tests/check_audit.c
tests_check_audit_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS) $(SODIUM_CFLAGS)
tests_check_audit_LDADD = libaudit.a libstore.a libutil.a $(SQLITE_LIBS) \
	$(SODIUM_LIBS) $(TEST_LIBS)

dist_check_SCRIPTS += tests/audit-cli.sh
TESTS += tests/audit-cli.sh
