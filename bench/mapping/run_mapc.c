/* bench/mapping/run_mapc.c - the benchmark's mapc side: read NDJSON Clarity orders (FILE or
 * stdin), run the generated flow BenchOrders (decode, map header and lines, validate, encode)
 * on each line, write one F&O {"SalesOrderHeadersV2":..., "SalesOrderLines":[...]} per line.
 * Records that do not map are counted and reported on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orders.h"

static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 20, n = 0, got;
    char *b = malloc(cap);
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
    }
    *len = n;
    return b;
}

int main(int argc, char **argv)
{
    FILE *in = argc > 1 ? fopen(argv[1], "rb") : stdin;
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    size_t len;
    char *data = slurp(in, &len);
    if (in != stdin)
        fclose(in);
    if (!data)
        return 2;
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    syncrt_mctx c;
    syncrt_mctx_init(&c);
    syncrt_mbuf out;
    syncrt_mbuf_init(&out);
    size_t records = 0, bad = 0;
    for (char *p = data, *end = data + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        if (stop > p) {
            syncrt_mctx_reset(&c);
            out.n = 0;
            records++;
            if (BenchOrders_run(&c, p, (size_t)(stop - p), &out) == SYNCRT_OK) {
                out.p[out.n] = '\n';
                fwrite(out.p, 1, out.n + 1, stdout);
            } else {
                bad++;
                if (bad <= 3 && syncrt_mctx_error_count(&c))
                    fprintf(stderr, "record %zu: %s\n", records, syncrt_mctx_error_text(&c, 0));
            }
        }
        p = stop + 1;
    }
    fflush(stdout);
    fprintf(stderr, "run_mapc: %zu records, %zu not mapped\n", records, bad);
    syncrt_mbuf_free(&out);
    syncrt_mctx_free(&c);
    free(data);
    return bad ? 1 : 0;
}
