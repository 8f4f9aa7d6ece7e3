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
