/* cli.h - the mapc subcommands.  main.c only dispatches; each subcommand lives in its own
 * compiler/cmd_<name>.c, parses its own options, prints its own --help and returns the exit
 * status (0 ok, 1 errors found, 2 usage or I/O error). */
#ifndef MAPC_CLI_H
#define MAPC_CLI_H

#define MAPC_VERSION "0.1.0"

int mapc_cmd_check(int argc, char **argv);
int mapc_cmd_describe(int argc, char **argv);
int mapc_cmd_gen(int argc, char **argv);
int mapc_cmd_preview(int argc, char **argv);

#endif
