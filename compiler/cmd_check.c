/* cmd_check.c - `mapc check FILE.map...`: parse and type-check .map files against their
 * schemas.  Diagnostics go to stderr in gcc's format (FILE:LINE:COL: error: MESSAGE, the
 * source line and a caret), then a closing count ("mapc: 2 errors").  Exit status: 0 clean,
 * 1 errors in the input, 2 usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "frontend.h"

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: mapc check [OPTIONS] FILE.map...\n"
            "\n"
            "Parse and type-check mapping files against the schemas they declare\n"
            "(`schema NAME = odata|openapi \"path\"`, paths relative to the .map file).\n"
            "All files form one program: maps and flows are shared, schemas and tables\n"
            "belong to the file that declares them.  Nothing is written on success.\n"
            "\n"
            "options:\n"
            "  --max-errors N   stop after N errors (default 20, 0 = no limit)\n"
            "  -h, --help       show this help\n"
            "\n"
            "Diagnostics go to stderr as FILE:LINE:COL: error: MESSAGE, followed by the\n"
            "source line and a caret under the offending text, then a count.\n"
            "Exit status: 0 no errors, 1 errors in the input, 2 usage or I/O error.\n"
            "\n"
            "The language is described in specs/language.md.\n");
}

static void print_sink(void *user, const diag_message *m)
{
    (void)user;
    char *text = diag_format(m);
    if (text) {
        fputs(text, stderr);
        free(text);
    }
}

int mapc_cmd_check(int argc, char **argv)
{
    int max_errors = 20;
    int first = 1;
    for (; first < argc; first++) {
        const char *a = argv[first];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            check_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--")) {
            first++;
            break;
        }
        if (!strcmp(a, "--max-errors") || !strncmp(a, "--max-errors=", 13)) {
            const char *v = a[12] == '=' ? a + 13 : (first + 1 < argc ? argv[++first] : NULL);
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : -1;
            if (!v || !*v || *end || n < 0 || n > 100000) {
                fprintf(stderr, "mapc check: --max-errors needs a number 0..100000\n");
                return 2;
            }
            max_errors = (int)n;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mapc check: unknown option '%s'\n\n", a);
            check_usage(stderr);
            return 2;
        }
        break;
    }
    if (first >= argc) {
        fprintf(stderr, "mapc check: no input files\n\n");
        check_usage(stderr);
        return 2;
    }

    diag_ctx d;
    diag_init(&d, print_sink, NULL, max_errors);
    mapc_program *p = mapc_program_new(&d);
    if (!p) {
        fprintf(stderr, "mapc: out of memory\n");
        diag_cleanup(&d);
        return 2;
    }
    bool io_error = false, syntax_error = false;
    for (int i = first; i < argc && !diag_stopped(&d); i++) {
        int rc = mapc_program_add_file(p, argv[i]);
        io_error |= rc == -2;
        syntax_error |= rc == -1;
    }
    /* Type-check only what parsed cleanly: error recovery drops parts of declarations, and
     * checking the rest would report fields "not set" that the user did write. */
    if (!io_error && !syntax_error && !diag_stopped(&d))
        mapc_program_check(p);
    int status = io_error ? 2 : d.nerrors > 0 || diag_stopped(&d) ? 1 : 0;
    if (d.nerrors > 0 || d.nwarnings > 0) {
        char buf[64];
        fprintf(stderr, "mapc: %s\n", diag_summary(&d, buf, sizeof buf));
    }
    mapc_program_free(p);
    diag_cleanup(&d);
    return status;
}
