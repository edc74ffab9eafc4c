/* cmd_preview.c - `sync preview MAP < in.json`: one built-in map on one record, the mapped
 * JSON on stdout, or every validation problem (with its path) on stderr and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync.h"

static const char help[] =
    "usage: sync preview MAP < in.json\n"
    "Runs the built-in map MAP on the JSON record read from stdin: the mapped JSON on stdout\n"
    "(exit 0), or the decode/validation problems, one per line with their path, on stderr\n"
    "(exit 1).  Needs no configuration.  Maps built in:\n";

int sync_cmd_preview(int argc, char **argv)
{
    int j = 1;
    for (int i = 1; i < argc; i++) {   /* the common options are accepted and not needed */
        if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "--profile")) && i + 1 < argc)
            i++;
        else
            argv[j++] = argv[i];
    }
    argc = j;
    if (sync_wants_help(argc, argv) || argc != 2) {
        fputs(help, argc == 2 ? stdout : stderr);
        for (size_t i = 0; i < mapc_nmaps; i++)
            fprintf(argc == 2 ? stdout : stderr, "  %-22s (%s)\n", mapc_maps[i].name,
                    mapc_maps[i].file);
        return argc == 2 ? 0 : 2;
    }
    const syncrt_flow_map *m = NULL;
    for (size_t i = 0; i < mapc_nmaps; i++)
        if (!strcmp(mapc_maps[i].name, argv[1]))
            m = &mapc_maps[i];
    if (!m) {
        fprintf(stderr, "sync preview: no map called '%s' in this binary (sync preview --help "
                        "lists them)\n", argv[1]);
        return 2;
    }
    size_t len = 0, cap = 65536;
    char *in = malloc(cap);
    while (in) {
        size_t got = fread(in + len, 1, cap - len, stdin);
        len += got;
        if (len < cap)
            break;
        char *t = realloc(in, cap *= 2);
        if (!t) {
            free(in);
            in = NULL;
        } else {
            in = t;
        }
    }
    if (!in) {
        fprintf(stderr, "sync preview: out of memory\n");
        return 2;
    }
    syncrt_mctx ctx;
    syncrt_mbuf out;
    syncrt_mctx_init(&ctx);
    syncrt_mbuf_init(&out);
    syncrt_status st = m->run(&ctx, in, len, &out);
    int rc = 0;
    if (st == SYNCRT_OK) {
        fwrite(out.p, 1, out.n, stdout);
        fputc('\n', stdout);
    } else {
        size_t n = syncrt_mctx_error_count(&ctx);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%s: %s\n", m->name, syncrt_mctx_error_text(&ctx, i));
        if (n == 0)
            fprintf(stderr, "%s: %s\n", m->name, syncrt_strerror(st));
        rc = st == SYNCRT_ENOMEM ? 2 : 1;
    }
    syncrt_mbuf_free(&out);
    syncrt_mctx_free(&ctx);
    free(in);
    return rc;
}
