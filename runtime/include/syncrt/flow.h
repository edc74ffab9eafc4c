/* flow.h - the facts about one business flow that the engine needs to run it: where its
 * records come from (webhook event type, polled Clarity route), the generated function that
 * turns one source record into the target's JSON ({"<Set>":{...},"<ChildSet>":[...]}, see
 * docs/codegen.md), where that JSON goes (an F&O entity set with its children in one $batch
 * changeset), which target fields form the key to probe by, and the retry policy.
 *
 * mapc knows every one of these facts from the `flow` block of a .map file; until the emitter
 * writes descriptors, the sync binary fills them from a hand-checked table
 * (runtime/sync/flows.c). */
#ifndef SYNCRT_FLOW_H
#define SYNCRT_FLOW_H

#include "syncrt/map.h"
#include "syncrt/retry.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A generated <Map>_run or <Flow>_run function. */
typedef syncrt_status (*syncrt_flow_run_fn)(syncrt_mctx *ctx, const char *json, size_t len,
                                            syncrt_mbuf *out);

/* One map compiled into the binary (for `sync preview`). */
typedef struct {
    const char *name;
    const char *file;              /* the .map file it comes from */
    syncrt_flow_run_fn run;
} syncrt_flow_map;

#define SYNCRT_FLOW_MAX_KEYS 4

typedef struct {
    const char *name;               /* "OrderToCash" */
    const char *map_version;        /* recorded in the audit log with each outcome */
    /* triggers */
    const char *webhook_event;      /* "SalesOrder.Created", or NULL */
    const char *poll_route;         /* Clarity search route, "Ordering/SalesOrders", or NULL */
    int64_t poll_every_ms;          /* the .map file's `every` */
    const char *schedule;           /* `trigger schedule "m h dom mon dow"` (scheduler.h): a
                                       pass (poll, then work what is due) at each fire time,
                                       instead of every poll_every_ms; NULL: none */
    const char *source_id_field;    /* the source record's id member ("ID") */
    /* mapping */
    syncrt_flow_run_fn run;         /* <Flow>_run */
    /* target: F&O creates */
    const char *target_set;         /* "SalesOrderHeadersV2": the member of run's output too */
    const char *child_set;          /* "SalesOrderLines", or NULL */
    int one_changeset;              /* 1: the record and its children in one changeset */
    const char *key_fields[SYNCRT_FLOW_MAX_KEYS];   /* the target key, probed after an
                                                       unknown outcome; NULL-terminated */
    const char *idempotency_field;  /* the deterministic key field ("SalesOrderNumber") */
    syncrt_retry_policy retry;      /* `retry N backoff A..B` */
} syncrt_flow_desc;

#ifdef __cplusplus
}
#endif
#endif
