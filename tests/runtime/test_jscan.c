/* test_jscan.c - the streaming page scanner (runtime/jscan.h, internal to libsyncrt) fed the
 * same pages cut at every possible byte boundary and in random chunks: strings with escaped
 * quotes and backslashes, brackets inside strings, nested arrays, \u escapes, whitespace,
 * members before and after the array.  Every cut must give the same rows, the same scalars,
 * and malformed pages must be reported, not half-delivered silently. */
#include "../../runtime/jscan.h"
#include "syncrt/retry.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char rows[16][256];
    int nrows;
    char scalars[1024];
    int stop_after;
} got;

static int on_row(void *ctx, const char *text, size_t len)
{
    got *g = ctx;
    if (g->nrows < 16)
        snprintf(g->rows[g->nrows], sizeof g->rows[0], "%.*s", (int)len, text);
    g->nrows++;
    return g->stop_after && g->nrows >= g->stop_after;
}

static void on_scalar(void *ctx, const char *key, const char *text, size_t len)
{
    got *g = ctx;
    size_t used = strlen(g->scalars);
    snprintf(g->scalars + used, sizeof g->scalars - used, "%s=%.*s;", key, (int)len, text);
}

static const char *page =
    "{\"@odata.context\":\"http://x/$metadata#Rows\",\"@odata.count\": 3 ,\n"
    "  \"value\" : [ {\"ID\":1,\"Name\":\"a \\\"quoted\\\" ] } , name\",\"N\":[1,[2,{\"x\":\"]\"}]]},\n"
    "    {\"ID\":2,\"Back\":\"\\\\\",\"U\":\"\\u00e9\\u2603\",\"D\":-12.50e-1} ,{\"ID\":3,\"E\":{}, \"F\":[]}\n"
    "  ],\"@odata.nextLink\":\"http://x/Rows?$skip=3&a=\\\"b\\\"\",\"flag\":true,\"nothing\":null}";

static const char *want_rows[3] = {
    "{\"ID\":1,\"Name\":\"a \\\"quoted\\\" ] } , name\",\"N\":[1,[2,{\"x\":\"]\"}]]}",
    "{\"ID\":2,\"Back\":\"\\\\\",\"U\":\"\\u00e9\\u2603\",\"D\":-12.50e-1}",
    "{\"ID\":3,\"E\":{}, \"F\":[]}",
};

static const char *want_scalars =
    "@odata.context=\"http://x/$metadata#Rows\";@odata.count=3;"
    "@odata.nextLink=\"http://x/Rows?$skip=3&a=\\\"b\\\"\";flag=true;nothing=null;";

static int scan_in_pieces(got *g, const char *text, const size_t *cuts, size_t ncuts, jscan *s)
{
    size_t i, from = 0, len = strlen(text);
    memset(g, 0, sizeof *g);
    jscan_init(s, "value", on_row, on_scalar, g, 0);
    jscan_reset(s);
    for (i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        if (to > from && jscan_feed(s, text + from, to - from))
            break;
        from = to;
    }
    return s->finished && !s->bad;
}

static int same(const got *g)
{
    int i;
    if (g->nrows != 3 || strcmp(g->scalars, want_scalars) != 0)
        return 0;
    for (i = 0; i < 3; i++)
        if (strcmp(g->rows[i], want_rows[i]) != 0)
            return 0;
    return 1;
}

int main(void)
{
    got g;
    jscan s;
    size_t len = strlen(page), cut, bad_two = 0, bad_every = 0;
    syncrt_rng rng;
    int k, bad_random = 0;

    k = scan_in_pieces(&g, page, NULL, 0, &s);   /* CHECK evaluates its condition twice */
    CHECK(k, "whole page scans");
    CHECK_INT(g.nrows, 3, "three rows");
    if (g.nrows == 3) {
        CHECK_STR(g.rows[0], want_rows[0], "row 1 text exact (brackets and quotes inside strings)");
        CHECK_STR(g.rows[1], want_rows[1], "row 2 text exact (escaped backslash, \\u, exponent)");
        CHECK_STR(g.rows[2], want_rows[2], "row 3 text exact (empty object and array)");
    }
    CHECK_STR(g.scalars, want_scalars, "top-level scalars before and after the array, raw");
    jscan_free(&s);

    for (cut = 1; cut < len; cut++) {
        if (!scan_in_pieces(&g, page, &cut, 1, &s) || !same(&g))
            bad_two++;
        jscan_free(&s);
    }
    CHECK_INT(bad_two, 0, "the page cut in two at each of its %zu boundaries scans the same", len - 1);
    {
        size_t *every = malloc(len * sizeof *every), i;
        for (i = 0; i + 1 < len; i++)
            every[i] = i + 1;
        if (!scan_in_pieces(&g, page, every, len - 1, &s) || !same(&g))
            bad_every++;
        jscan_free(&s);
        free(every);
    }
    CHECK_INT(bad_every, 0, "one byte at a time scans the same");
    syncrt_rng_seed(&rng, 7);
    for (k = 0; k < 500; k++) {
        size_t cuts[12], n = 0, pos = 0;
        while (n < 12) {
            pos += 1 + (size_t)syncrt_rng_upto(&rng, 40);
            if (pos >= len)
                break;
            cuts[n++] = pos;
        }
        if (!scan_in_pieces(&g, page, cuts, n, &s) || !same(&g))
            bad_random++;
        jscan_free(&s);
    }
    CHECK_INT(bad_random, 0, "500 random chunkings scan the same");

    memset(&g, 0, sizeof g);
    g.stop_after = 2;
    jscan_init(&s, "value", on_row, on_scalar, &g, 0);
    k = jscan_feed(&s, page, len);
    CHECK(k && s.stop, "the row callback stops the scan");
    CHECK_INT(g.nrows, 2, "after two rows");
    jscan_free(&s);

    memset(&g, 0, sizeof g);
    jscan_init(&s, "value", on_row, on_scalar, &g, 0);
    s.skip = 2;
    jscan_feed(&s, page, len);
    CHECK(g.nrows == 1 && s.seen == 3 && s.delivered == 1 && strcmp(g.rows[0], want_rows[2]) == 0,
          "skip passes over rows already delivered by an earlier try");
    jscan_free(&s);

    memset(&g, 0, sizeof g);
    jscan_init(&s, "value", on_row, on_scalar, &g, 20);
    jscan_feed(&s, page, len);
    CHECK(s.bad && g.nrows == 0, "a row over max_row is an error (%s)", s.bad_text);
    jscan_free(&s);

    memset(&g, 0, sizeof g);
    jscan_init(&s, "value", on_row, on_scalar, &g, 0);
    jscan_feed(&s, "[1,2]", 5);
    CHECK(s.bad, "an array page is refused (%s)", s.bad_text);
    jscan_free(&s);
    memset(&g, 0, sizeof g);
    jscan_init(&s, "value", on_row, on_scalar, &g, 0);
    jscan_feed(&s, "{\"value\":[{\"a\":1}]}}", 20);
    CHECK(s.bad, "unbalanced closing refused (%s)", s.bad_text);
    jscan_free(&s);
    memset(&g, 0, sizeof g);
    jscan_init(&s, "value", on_row, on_scalar, &g, 0);
    jscan_feed(&s, "{\"value\":[{\"a\":1},{\"a\"", 22);
    CHECK(!s.finished && g.nrows == 1, "a truncated page is not finished (the caller refetches)");
    jscan_free(&s);
    return test_done();
}
