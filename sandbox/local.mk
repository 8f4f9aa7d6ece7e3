# sandbox/: jailing (sandbox_enter), spawning, attestation.  Links
# libseccomp; nothing else but libutil.
noinst_LIBRARIES += libsandbox.a
libsandbox_a_SOURCES = sandbox/sandbox.h sandbox/sandbox_impl.h \
	sandbox/enter.c sandbox/landlock.c sandbox/seccomp.c \
	sandbox/spawn.c sandbox/attest.c
libsandbox_a_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)

check_PROGRAMS += tests/check_sandbox
TESTS += tests/check_sandbox
tests_check_sandbox_SOURCES = tests/check_sandbox.c
tests_check_sandbox_CFLAGS = $(TEST_CFLAGS) $(SECCOMP_CFLAGS)
tests_check_sandbox_LDADD = libsandbox.a libutil.a $(SECCOMP_LIBS) \
	$(TEST_LIBS) $(PTHREAD_LIBS)
