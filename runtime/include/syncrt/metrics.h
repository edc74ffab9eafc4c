/* metrics.h - the metrics and status server of a sync process: a small HTTP server
 * (libmicrohttpd, one internal thread) that answers
 *
 *   GET /metrics      Prometheus text exposition format 0.0.4: per flow (label flow) the
 *                     records enqueued, delivered, skipped unchanged, retried and
 *                     dead-lettered since the engine started, polls and their failures, the
 *                     inbox (pending, leased), dead letters, the oldest pending record's age,
 *                     the last successful poll, paused 0/1; engine-wide the outbound HTTP
 *                     requests by peer and status class, 429s, F&O $batch requests, probes;
 *                     the process start time and build info.  docs/operator.md lists them.
 *   GET /status       a plain HTML page (no script, no external asset, refreshes every 5 s):
 *                     one row per flow (enabled, paused and why, last poll, inbox, delivered
 *                     and dead in the last hour and since start, oldest pending age) and each
 *                     flow's 10 newest dead-letter reasons.
 *   GET /status.json  the same data for scripts.
 *   GET /healthz      200 "ok" when the store answers and no enabled flow is paused by an
 *                     authentication failure, else 503 with the reason.
 *
 * Anything else is 404; a method other than GET or HEAD is 405.  The server reads the store
 * through a connection of its own (WAL readers never wait for the workers' writes) with
 * short read statements, and the engine's counters under its mutex: it never holds up a
 * worker.  "Paused" is what the engine writes in the store (checkpoint "<flow>#paused",
 * "<ISO time> <reason>", as `sync status` shows it).  "Since start" counts come from the
 * engine (they restart with it); "last hour" counts from the audit rows.
 *
 * The library never prints: the caller logs where the server listens (syncrt_metrics_port). */
#ifndef SYNCRT_METRICS_H
#define SYNCRT_METRICS_H

#include "syncrt/config.h"
#include "syncrt/engine.h"
#include "syncrt/flow.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    unsigned port;                        /* 0: the kernel picks (see syncrt_metrics_port) */
    const char *bind_address;             /* IPv4; NULL: 127.0.0.1 */
    const char *store_path;               /* required: the store the engine writes */
    const syncrt_config *config;          /* required, borrowed: which flows are enabled */
    const syncrt_flow_desc *const *flows; /* the flows built in (shown when enabled, or when
                                             they have records pending or dead) */
    size_t nflows;
    syncrt_engine *engine;                /* borrowed, may be NULL: then no counters, only
                                             what the store tells */
    int64_t started_at;                   /* the process start (ms); 0: now */
    syncrt_clock_fn clock;                /* NULL: real time */
    void *clock_ctx;
} syncrt_metrics_options;

typedef struct syncrt_metrics syncrt_metrics;

/* Opens the server's store connection and starts listening.  SYNCRT_EINVAL for missing
 * options or a bad bind address, SYNCRT_EIO when the address cannot be bound. */
syncrt_status syncrt_metrics_start(syncrt_metrics **out, const syncrt_metrics_options *opts,
                                   syncrt_error *err);
/* The port actually bound. */
unsigned syncrt_metrics_port(const syncrt_metrics *m);
/* Stops the server (before the engine it reads is freed) and closes its store connection. */
void syncrt_metrics_stop(syncrt_metrics *m);

#ifdef __cplusplus
}
#endif
#endif
