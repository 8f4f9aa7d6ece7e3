/*
 * cli.h - internal interface of the `cloister` command (cli/ only).
 *
 * Each subcommand lives in its own cli/cmd_*.c file and exposes one
 * function `int cmd_NAME(int argc, char **argv)`, where argv[0] is the
 * subcommand's name.  It returns the process exit status (see
 * cloister(1), EXIT STATUS).  Subcommands print their own errors to
 * stderr as "cloister NAME: message".
 */
#ifndef CLOISTER_CLI_H
#define CLOISTER_CLI_H

/* Exit statuses shared by every subcommand (mirrored in cloister(1)). */
#define CLI_EXIT_OK		0	/* success */
#define CLI_EXIT_FAIL		1	/* the operation failed */
#define CLI_EXIT_USAGE		2	/* bad command line */
#define CLI_EXIT_POLICY		3	/* refused or stopped by the policy */
#define CLI_EXIT_ENGINE		4	/* the jailed engine failed or died */
#define CLI_EXIT_SANDBOX	5	/* the jail is not whole */
#define CLI_EXIT_AUTH		6	/* wrong passphrase, PIN or not admin */
#define CLI_EXIT_TAMPER		7	/* store or audit log tampered with */

struct cli_command {
	const char	*name;			/* "ask" */
	int		(*run)(int argc, char **argv);
	const char	*summary;		/* one line for `cloister help` */
};

/* The command table, terminated by a NULL name (cli/cloister.c). */
extern const struct cli_command cli_commands[];

#endif /* CLOISTER_CLI_H */
