/*
 * broker.h - the policy and the audit log around `cloister ask` and
 * `cloister chat` (cli/ only): choosing the profile, loading and gating
 * the policy, the PIN, time windows and quotas, the model check, and the
 * struct cli_hooks that cli_turn() calls on every turn.
 *
 * Order of a session:
 *	cli_broker_open()	before the engine starts: profile, policy
 *				(parse, seal gate), PIN, hours and quota,
 *				the store and the audit log when needed,
 *				the model file (opened here, hashed when
 *				the policy or the audit log needs it),
 *				sampling caps;
 *	cli_broker_system()	the system message to send;
 *	cli_broker_hooks()	then cli_turn() per question;
 *	the session_end hook, cli_broker_free().
 *
 * The store is opened only when the profile's audit level is not off,
 * the profile has a daily quota, or the user asked to run as the
 * administrator: opening it increments its epoch, so a session that
 * needs none of those never touches it.
 *
 * Errors and notices go to stderr as "cloister CMD: ..." and never
 * contain prompt text, model output, PINs or passphrases.
 */
#ifndef CLOISTER_CLI_BROKER_H
#define CLOISTER_CLI_BROKER_H

#include <stdbool.h>

#include "cli/session.h"

/* What ask and chat take on the command line for the broker. */
struct cli_broker_args {
	const char	*cmd;		/* "ask", for messages */
	const char	*profile;	/* --profile, or NULL */
	int		 pin_fd;	/* --pin-fd, or -1: the terminal */
	int		 pass_fd;	/* --passphrase-fd, or -1 */
	bool		 admin;		/* --admin */
};

/* getopt_long codes and options shared by ask and chat. */
enum {
	CLI_OPT_PROFILE = CLI_OPT_FIRST_FREE,
	CLI_OPT_PIN_FD,
	CLI_OPT_PASS_FD,
	CLI_OPT_ADMIN,
	CLI_OPT_BROKER_FREE		/* commands number theirs from here */
};
#define CLI_BROKER_LONGOPTS \
	{ "profile", required_argument, NULL, CLI_OPT_PROFILE }, \
	{ "pin-fd", required_argument, NULL, CLI_OPT_PIN_FD }, \
	{ "passphrase-fd", required_argument, NULL, CLI_OPT_PASS_FD }, \
	{ "admin", no_argument, NULL, CLI_OPT_ADMIN }

void	cli_broker_args_init(struct cli_broker_args *ba, const char *cmd);
/*
 * Handle option `ch` if it is one of CLI_BROKER_LONGOPTS: 1 when handled,
 * 0 when not, -1 after printing a usage error.
 */
int	cli_broker_option(struct cli_broker_args *ba, int ch,
	    const char *arg);

struct cli_broker;

/*
 * Everything that happens before the engine starts (see the file
 * comment).  `a` is borrowed for the broker's life; its sampling settings
 * are brought within the profile's caps here, and a->model_fd is set to
 * the model descriptor the broker opened (and maybe hashed), which the
 * engine then gets instead of opening the path again.  On success returns
 * CLI_EXIT_OK and *out is the broker (free with cli_broker_free()); else
 * prints why and returns the exit status (CLI_EXIT_POLICY refused,
 * CLI_EXIT_AUTH wrong PIN or passphrase, ...).
 */
int	cli_broker_open(const struct cli_broker_args *ba,
	    struct cli_engine_args *a, const char *model_path,
	    struct cli_broker **out);
void	cli_broker_free(struct cli_broker *b);

/*
 * The system message: the profile's system_prompt, then the user's
 * --system text (`user`, may be NULL), which is checked like a question.
 * *out is NULL when there is none, else owned by the broker (valid until
 * cli_broker_free()).  Returns an exit status, after printing why.
 */
int	cli_broker_system(struct cli_broker *b, const char *user,
	    const char **out, size_t *out_len);

/* The hooks of this session; `c` is the engine (for TOKENIZE). */
void	cli_broker_hooks(struct cli_broker *b, struct engine_client *c,
	    struct cli_hooks *h);

#endif /* CLOISTER_CLI_BROKER_H */
