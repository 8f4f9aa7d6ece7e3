/*
 * cmd_engine.h - the subcommands that talk to the jailed engine: ask,
 * chat, doctor and bench (cli/ only; see cli.h for the convention).
 */
#ifndef CLOISTER_CLI_CMD_ENGINE_H
#define CLOISTER_CLI_CMD_ENGINE_H

int	cmd_ask(int argc, char **argv);
int	cmd_chat(int argc, char **argv);
int	cmd_doctor(int argc, char **argv);
int	cmd_bench(int argc, char **argv);

#endif /* CLOISTER_CLI_CMD_ENGINE_H */
