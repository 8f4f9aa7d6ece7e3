/*
 * cmd_audit.h - `cloister audit ...` (cli/cmd_audit.c), following cli.h's
 * contract.
 */
#ifndef CLOISTER_CMD_AUDIT_H
#define CLOISTER_CMD_AUDIT_H

int	cmd_audit(int argc, char **argv);

#endif /* CLOISTER_CMD_AUDIT_H */
