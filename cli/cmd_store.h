/*
 * cmd_store.h - the store subcommands (cli/cmd_store.c): `init`,
 * `passwd` and `store check|rotate`.  Each follows cli.h's contract.
 */
#ifndef CLOISTER_CMD_STORE_H
#define CLOISTER_CMD_STORE_H

#include <stddef.h>

int	cmd_init(int argc, char **argv);
int	cmd_passwd(int argc, char **argv);
int	cmd_store(int argc, char **argv);

/*
 * Passphrase input shared with other subcommands: from descriptor `fd`
 * when >= 0, else from the terminal with echo off.  cli_pass_get()
 * returns 0, or prints why and returns -1; ps->p is sodium_malloc memory
 * that cli_pass_free() wipes.  cli_parse_fd() parses --passphrase-fd's
 * argument, printing why on failure.
 */
struct cli_pass {
	char	*p;		/* NUL-terminated, sodium_malloc */
	size_t	 len;		/* bytes, without the NUL */
};
int	cli_pass_get(const char *cmd, int fd, const char *prompt,
	    struct cli_pass *ps);
void	cli_pass_free(struct cli_pass *ps);
int	cli_parse_fd(const char *cmd, const char *s, int *fd);

#endif /* CLOISTER_CMD_STORE_H */
