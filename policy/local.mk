# policy/: the administrator's policy (parser, streaming filter, PII
# detectors, time windows and quotas, hooks, sealing, PINs).
noinst_LIBRARIES += libpolicy.a
libpolicy_a_SOURCES = policy/policy.h policy/policy_impl.h \
	policy/parse.c policy/match.c policy/pii.c policy/filter.c \
	policy/hours.c policy/seal.c policy/hook.c
libpolicy_a_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
# hooks are started through libsandbox.a: link it (and $(SECCOMP_LIBS))
# after libpolicy.a.

POLICY_TEST_LIBS = libpolicy.a libsandbox.a libutil.a $(SODIUM_LIBS) \
	$(SECCOMP_LIBS) $(TEST_LIBS)

check_PROGRAMS += tests/check_policy_parse
TESTS += tests/check_policy_parse
tests_check_policy_parse_SOURCES = tests/check_policy_parse.c
tests_check_policy_parse_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_policy_parse_LDADD = $(POLICY_TEST_LIBS)

check_PROGRAMS += tests/check_pii
TESTS += tests/check_pii
tests_check_pii_SOURCES = tests/check_pii.c
tests_check_pii_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_pii_LDADD = $(POLICY_TEST_LIBS)

check_PROGRAMS += tests/check_policy_filter
TESTS += tests/check_policy_filter
tests_check_policy_filter_SOURCES = tests/check_policy_filter.c
tests_check_policy_filter_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_policy_filter_LDADD = $(POLICY_TEST_LIBS)

check_PROGRAMS += tests/check_policy
TESTS += tests/check_policy
tests_check_policy_SOURCES = tests/check_policy.c
tests_check_policy_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_policy_LDADD = $(POLICY_TEST_LIBS)
EXTRA_DIST += tests/fuzz_policy.c
