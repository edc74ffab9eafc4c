/* suggest.h - "did you mean 'X'?": the closest candidate name by edit distance.
 *
 * Offer every candidate in a deterministic order; the best one within the threshold (a third
 * of the name's length, at least 1; case differences cost nothing extra beyond one edit per
 * character, a swap of two neighbours is one edit) wins, the first offered on ties. */
#ifndef MAPC_SUGGEST_H
#define MAPC_SUGGEST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mapc_suggest {
    const char *query;
    const char *best;
    size_t best_cost;
} mapc_suggest;

void suggest_init(mapc_suggest *s, const char *query);
void suggest_offer(mapc_suggest *s, const char *candidate);
/* The suggestion, or NULL when nothing was close enough. */
const char *suggest_result(const mapc_suggest *s);

/* That distance (case-only differences rounded up), for tests. */
size_t suggest_distance(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
