/* deliver.h - one delivery pass of an OData flow: claim records from the inbox, turn each
 * into one $batch changeset (the mapper callback: generated code in a sync binary), send the
 * batch through the endpoint gate with credentials, map every part of the answer back to its
 * record and settle each one (worker.h).  The reliability rules it implements:
 *   - a record claimed before (attempts > 1) may have been sent by a worker that crashed or
 *     timed out: it is probed by its deterministic target key first, and only sent when the
 *     probe does not find it;
 *   - a changeset is all or nothing, so a record is delivered when all its operations
 *     answered 2xx, and takes the first failing operation's outcome otherwise;
 *   - no answer for a record (connection lost after sending, a part missing) is an unknown
 *     outcome: probe, then delivered or resent;
 *   - the $batch POST is never silently resent (http.h) and never sent before a running
 *     Retry-After is over (the gate). */
#ifndef SYNCRT_DELIVER_H
#define SYNCRT_DELIVER_H

#include "syncrt/auth.h"
#include "syncrt/http.h"
#include "syncrt/odata.h"
#include "syncrt/retry.h"
#include "syncrt/store.h"
#include "syncrt/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Adds rec's operations to b inside one changeset (begin/end are done by the caller) and
 * writes the record's deterministic target key into key.  Returns SYNCRT_OK, or
 * SYNCRT_EINVAL with the validation errors in errbuf (the record is dead-lettered unsent). */
typedef syncrt_status (*syncrt_deliver_map_fn)(void *ctx, syncrt_batch *b, const syncrt_inbox_record *rec,
                                               char *key, size_t key_size, char *errbuf, size_t err_size);
/* Looks the target up by key: 1 found, 0 not found, -1 could not tell. */
typedef int (*syncrt_deliver_probe_fn)(void *ctx, const char *key);

typedef struct {
    const char *flow;
    syncrt_store *store;
    const char *worker;
    int64_t lease_ms;                 /* 0: 60 s */
    size_t batch_records;             /* records per $batch; 0: 50 */
    syncrt_http *http;
    syncrt_auth *auth;
    syncrt_endpoint *gate;
    const char *service_root;         /* ".../data" */
    syncrt_retry_policy policy;
    syncrt_rng *rng;
    syncrt_deliver_map_fn map;
    syncrt_deliver_probe_fn probe;
    void *ctx;
    const char *mapping_version;
} syncrt_deliverer;

typedef struct {
    size_t claimed, delivered, retried, dead, paused, probed, found_by_probe;
} syncrt_deliver_stats;

/* One pass; SYNCRT_EEMPTY when nothing was due.  Stats accumulate into *stats. */
syncrt_status syncrt_deliver_pass(syncrt_deliver_stats *stats, const syncrt_deliverer *d, syncrt_error *err);

#ifdef __cplusplus
}
#endif
#endif
