# cli/: the `cloister` broker command.  Each subcommand is one cmd_*.c
# file; add it to cloister_SOURCES and to the table in cli/cloister.c.
bin_PROGRAMS += cloister
cloister_SOURCES = cli/cli.h cli/cloister.c
cloister_CFLAGS = $(AM_CFLAGS)
cloister_LDADD = libutil.a -lm

# store commands (init, passwd, store check|rotate)
cloister_SOURCES += cli/cmd_store.h cli/cmd_store.c
cloister_CFLAGS += $(SQLITE_CFLAGS) $(SODIUM_CFLAGS)
cloister_LDADD += libstore.a libutil.a $(SQLITE_LIBS) $(SODIUM_LIBS)

# policy commands (policy check|show|seal|set-pin)
cloister_SOURCES += cli/cmd_policy.h cli/cmd_policy.c
cloister_LDADD += libpolicy.a libsandbox.a libutil.a $(SODIUM_LIBS) \
	$(SECCOMP_LIBS)
# audit command (cloister audit ...)
cloister_SOURCES += cli/cmd_audit.h cli/cmd_audit.c
cloister_LDADD += libaudit.a libstore.a libutil.a $(SQLITE_LIBS) $(SODIUM_LIBS)
# ask, chat, doctor, bench: the commands that talk to the jailed engine
# through libengine_client.a (never the model code).
cloister_SOURCES += cli/cmd_engine.h cli/session.h cli/session.c \
	cli/broker.h cli/broker.c cli/sha256.h cli/sha256.c cli/cmd_ask.c cli/cmd_bench.c cli/cmd_chat.c cli/cmd_doctor.c
cloister_CFLAGS += $(SECCOMP_CFLAGS) $(EDIT_CFLAGS)
cloister_LDADD += libengine_client.a libsandbox.a libutil.a $(SECCOMP_LIBS) \
	$(EDIT_LIBS) -lm

# SHA-256 of model files (SHA-NI where present), against libsodium.
check_PROGRAMS += tests/check_sha256
TESTS += tests/check_sha256
tests_check_sha256_SOURCES = tests/check_sha256.c cli/sha256.c cli/sha256.h
tests_check_sha256_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_sha256_LDADD = libutil.a $(SODIUM_LIBS) $(TEST_LIBS)
