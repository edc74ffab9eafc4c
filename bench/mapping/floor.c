/* bench/mapping/floor.c - the benchmark's floor: jansson parse + compact dump of each NDJSON
 * line (no mapping at all), written out like the mappers' output. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    FILE *in = argc > 1 ? fopen(argv[1], "rb") : stdin;
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    size_t cap = 1 << 20, len = 0, got;
    char *data = malloc(cap);
    while (data && (got = fread(data + len, 1, cap - len, in)) > 0) {
        len += got;
        if (len == cap) {
            char *nb = realloc(data, cap * 2);
            if (!nb)
                break;
            data = nb;
            cap *= 2;
        }
    }
    if (in != stdin)
        fclose(in);
    if (!data)
        return 2;
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    size_t records = 0, bad = 0;
    for (char *p = data, *end = data + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        if (stop > p) {
            json_error_t err;
            json_t *v = json_loadb(p, (size_t)(stop - p), 0, &err);
            records++;
            char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
            if (s) {
                fputs(s, stdout);
                fputc('\n', stdout);
                free(s);
            } else {
                bad++;
            }
            json_decref(v);
        }
        p = stop + 1;
    }
    fflush(stdout);
    fprintf(stderr, "floor: %zu records, %zu bad\n", records, bad);
    free(data);
    return bad ? 1 : 0;
}
