/* suggest.c - edit-distance suggestions for unknown names (see suggest.h). */
#include "suggest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SUGGEST_MAXLEN 128

/* Costs are in half edits: a letter differing only in case costs 1, any other edit 2. */
static size_t osa_half(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > SUGGEST_MAXLEN || m > SUGGEST_MAXLEN)
        return (size_t)-1;
    size_t d[SUGGEST_MAXLEN + 1][SUGGEST_MAXLEN + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = 2 * i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = 2 * j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            unsigned char x = (unsigned char)a[i - 1], y = (unsigned char)b[j - 1];
            size_t sub = x == y ? 0 : tolower(x) == tolower(y) ? 1 : 2;
            size_t best = d[i - 1][j - 1] + sub;
            if (d[i - 1][j] + 2 < best)
                best = d[i - 1][j] + 2;
            if (d[i][j - 1] + 2 < best)
                best = d[i][j - 1] + 2;
            if (i > 1 && j > 1 && tolower(x) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower(y) && d[i - 2][j - 2] + 2 < best)
                best = d[i - 2][j - 2] + 2;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

size_t suggest_distance(const char *a, const char *b)
{
    size_t h = osa_half(a, b);
    return h == (size_t)-1 ? h : (h + 1) / 2;
}

void suggest_init(mapc_suggest *s, const char *query)
{
    s->query = query;
    s->best = NULL;
    s->best_cost = (size_t)-1;
}

void suggest_offer(mapc_suggest *s, const char *candidate)
{
    if (!candidate || !s->query || !strcmp(candidate, s->query))
        return;
    size_t len = strlen(s->query);
    size_t limit = 2 * (len / 3 > 1 ? len / 3 : 1);   /* in half edits */
    size_t c = osa_half(s->query, candidate);
    if (c <= limit && c < s->best_cost) {
        s->best = candidate;
        s->best_cost = c;
    }
}

const char *suggest_result(const mapc_suggest *s) { return s->best; }
