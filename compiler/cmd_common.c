/* cmd_common.c - what the mapc subcommands share: diagnostics printed on stderr, and reading
 * plus type-checking a set of .map files with the closing count ("mapc: 2 errors"). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

void mapc_cli_print_sink(void *user, const diag_message *m)
{
    (void)user;
    char *text = diag_format(m);
    if (text) {
        fputs(text, stderr);
        free(text);
    }
}

int mapc_cli_load(mapc_program **out, diag_ctx *d, char *const *files, int nfiles, int max_errors)
{
    *out = NULL;
    diag_init(d, mapc_cli_print_sink, NULL, max_errors);
    mapc_program *p = mapc_program_new(d);
    if (!p) {
        fprintf(stderr, "mapc: out of memory\n");
        return 2;
    }
    bool io_error = false, syntax_error = false;
    for (int i = 0; i < nfiles && !diag_stopped(d); i++) {
        int rc = mapc_program_add_file(p, files[i]);
        io_error |= rc == -2;
        syntax_error |= rc == -1;
    }
    /* Type-check only what parsed cleanly: error recovery drops parts of declarations, and
     * checking the rest would report fields "not set" that the user did write. */
    if (!io_error && !syntax_error && !diag_stopped(d))
        mapc_program_check(p);
    if (d->nerrors > 0 || d->nwarnings > 0) {
        char buf[64];
        fprintf(stderr, "mapc: %s\n", diag_summary(d, buf, sizeof buf));
    }
    *out = p;
    return io_error ? 2 : d->nerrors > 0 || diag_stopped(d) ? 1 : 0;
}

void mapc_cli_unload(mapc_program *p, diag_ctx *d)
{
    mapc_program_free(p);
    diag_cleanup(d);
}
