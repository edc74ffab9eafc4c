/* cli.h - the mapc subcommands.  main.c only dispatches; each subcommand lives in its own
 * compiler/cmd_<name>.c, parses its own options, prints its own --help and returns the exit
 * status (0 ok, 1 errors found, 2 usage or I/O error). */
#ifndef MAPC_CLI_H
#define MAPC_CLI_H

#include "diag.h"
#include "frontend.h"
#include "syncrt/syncrt.h"

#define MAPC_VERSION SYNCRT_VERSION

int mapc_cmd_check(int argc, char **argv);
int mapc_cmd_describe(int argc, char **argv);
int mapc_cmd_gen(int argc, char **argv);
int mapc_cmd_preview(int argc, char **argv);

/* Shared by the subcommands (cmd_common.c): print diagnostics on stderr; read and type-check
 * FILES (type-checking only when every file parsed), print the closing count, and return
 * 0 clean, 1 errors, 2 I/O or memory error.  *out is then the program (NULL only on a
 * memory error); release it and the diag context with mapc_cli_unload. */
void mapc_cli_print_sink(void *user, const diag_message *m);
int mapc_cli_load(mapc_program **out, diag_ctx *d, char *const *files, int nfiles, int max_errors);
void mapc_cli_unload(mapc_program *p, diag_ctx *d);

#endif
