/*
 * cloister.c - main() of the `cloister` broker: dispatch to subcommands.
 *
 * The broker is the trusted side: it holds keys, the policy and the audit
 * log, and talks to the jailed engine over a socket.  Before anything
 * else it makes itself undumpable and disables core files, so a crash
 * cannot write secrets to disk.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "cli/cmd_audit.h"
#include "cli/cmd_engine.h"
#include "cli/cmd_store.h"
#include "cli/cmd_policy.h"

static int cmd_help(int argc, char **argv);

const struct cli_command cli_commands[] = {
	{ "help", cmd_help, "show the commands" },
	{ "ask", cmd_ask, "ask the jailed model one question" },
	{ "bench", cmd_bench, "measure the jailed engine's speed" },
	{ "chat", cmd_chat, "talk with the jailed model" },
	{ "doctor", cmd_doctor, "check the jail and the model" },
	{ "init", cmd_init, "create the encrypted store" },
	{ "passwd", cmd_passwd, "change the store passphrase" },
	{ "store", cmd_store, "check the store or rotate its data key" },
	{ "policy", cmd_policy, "check, show or seal the policy; set a PIN" },
	{ "audit", cmd_audit, "the opt-in, tamper-evident audit log" },
	{ NULL, NULL, NULL }
};

static void
usage(FILE *f)
{
	const struct cli_command *c;

	fprintf(f, "usage: cloister command [options] [arguments]\n\n"
	    "commands:\n");
	for (c = cli_commands; c->name != NULL; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nRun 'cloister command --help' for a command's options; "
	    "see cloister(1).\n");
}

static int
cmd_help(int argc, char **argv)
{
	usage(stdout);
	return CLI_EXIT_OK;
}

int
main(int argc, char **argv)
{
	const struct cli_command *c;
	struct rlimit no_core = { 0, 0 };

	/* Secrets must never reach a core file or another process. */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(argc - 1, argv + 1);
	if (strcmp(argv[1], "--version") == 0) {
		printf("cloister %s\n", PACKAGE_VERSION);
		return CLI_EXIT_OK;
	}
	for (c = cli_commands; c->name != NULL; c++) {
		if (strcmp(c->name, argv[1]) == 0)
			return c->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "cloister: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
