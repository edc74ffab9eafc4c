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
    mapc_program *p;
    int status = mapc_cli_load(&p, &d, argv + first, argc - first, max_errors);
    mapc_cli_unload(p, &d);
    return status;
}
