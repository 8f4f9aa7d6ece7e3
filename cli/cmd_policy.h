/*
 * cmd_policy.h - `cloister policy check|show|seal|set-pin`
 * (cli/cmd_policy.c), following cli.h's contract.
 *
 * Sealing needs the administrator's signing key, which lives in the
 * store.  The policy code reaches it only through `cmd_policy_admin`,
 * which the store glue at the end of cmd_policy.c fills.
 */
#ifndef CLOISTER_CMD_POLICY_H
#define CLOISTER_CMD_POLICY_H

#include <stdint.h>

#include "policy/policy.h"

/*
 * What `policy seal` and `policy check` need from the store; the store
 * glue in cmd_policy.c fills it.
 */
struct cmd_policy_admin {
	/*
	 * Open the store and unlock the admin key (asking for the admin
	 * passphrase, from descriptor `pass_fd` when >= 0, else the
	 * terminal); *ctx is passed to the other members.  Returns a CL_E*
	 * code with `err` filled.
	 */
	int		 (*open)(void **ctx, int pass_fd, struct cl_err *err);
	/* Open the store read-only for the public key (no passphrase). */
	int		 (*open_public)(void **ctx, struct cl_err *err);
	/* The admin Ed25519 public key; borrowed from ctx. */
	const uint8_t	*(*public_key)(void *ctx);
	policy_sign_fn	   sign;		/* ctx as sign_ctx */
	void		 (*close)(void *ctx);
};
extern const struct cmd_policy_admin *cmd_policy_admin;

int	cmd_policy(int argc, char **argv);

/*
 * Where the policy lives: $XDG_CONFIG_HOME/cloister/policy (or, with
 * XDG_CONFIG_HOME unset, ~/.config/cloister/policy) when it exists, else
 * SYSCONFDIR/cloister/policy when that exists, else the first (where a
 * new one would go).  Caller frees *out with cl_free().
 */
int	cmd_policy_path(char **out, struct cl_err *err);

#endif /* CLOISTER_CMD_POLICY_H */
