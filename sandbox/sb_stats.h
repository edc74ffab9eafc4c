/* sb_stats.h - request counters for the sandbox's emulators: how many requests each route got,
 * per method and per response status, so tests and benchmarks can compute "API calls per
 * order".  Thread-safe.  The route is the caller's normalised form (e.g. "/data/CustomersV3",
 * "/data/CustomersV3(key)", "/data/$batch"), so key values do not explode the table.
 *
 * JSON form (sb_stats_to_json):
 *   {"total": 12, "since": "2026-07-30T08:58:55Z",
 *    "routes": [{"route": "/data/CustomersV3", "method": "GET", "status": 200, "count": 3}, ...]}
 * sorted by route, method, status.  At most 2048 distinct (route, method, status) entries are
 * kept; later new ones are counted under the route "(other)". */
#ifndef SB_STATS_H
#define SB_STATS_H

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sb_stats sb_stats;

sb_stats *sb_stats_new(void);   /* NULL on OOM */
void sb_stats_free(sb_stats *s);
/* Count one request (route and method are copied). */
void sb_stats_count(sb_stats *s, const char *route, const char *method, unsigned status);
/* Forget every count. */
void sb_stats_reset(sb_stats *s);
/* The counts as JSON (new reference; NULL on OOM). */
json_t *sb_stats_to_json(sb_stats *s);

#ifdef __cplusplus
}
#endif
#endif
