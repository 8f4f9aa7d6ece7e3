/*
 * cmd_store.h - the store subcommands (cli/cmd_store.c): `init`,
 * `passwd` and `store check|rotate`.  Each follows cli.h's contract.
 */
#ifndef CLOISTER_CMD_STORE_H
#define CLOISTER_CMD_STORE_H

int	cmd_init(int argc, char **argv);
int	cmd_passwd(int argc, char **argv);
int	cmd_store(int argc, char **argv);

#endif /* CLOISTER_CMD_STORE_H */
