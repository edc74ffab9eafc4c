/* engine.h - runs flows: intake into the durable inbox, then workers that claim records,
 * map them with the generated code and deliver them to F&O, recording each outcome as
 * DESIGN.md's reliability model says (docs/operator.md tells what an operator sees):
 *
 *   intake     a webhook event (syncrt_webhook, routed by the flow's event type) or a
 *              ModifiedSince poll of Clarity with an overlap; both write the inbox with a
 *              dedup key before acknowledging / advancing the checkpoint.
 *   delivered  the record's target key in the idempotency map, its mapped form's hash in the
 *              hash map and an audit row; a record whose mapped form is unchanged since its
 *              last delivery costs no call ("skipped").
 *   retry      transient failures (network, 408, 429 honouring Retry-After exactly, 5xx):
 *              exponential backoff with full jitter and a cap; a Retry-After blocks every
 *              worker's next request to F&O until it has passed.
 *   unknown    a write whose answer was lost: the target is probed by key (GET Set(keys))
 *              at once, before anything is sent again; so is every record claimed before (a
 *              crash between send and commit), and a create refused by F&O.
 *   dead       validation errors (the exact path), F&O business rules (F&O's message, not
 *              retried), retries exhausted: with the full reason, replayable.
 *   paused     an authentication failure releases the records (no attempt burned), pauses
 *              the flow for auth_pause_ms with an alert, and retries with the secret read
 *              again, so fixing the secret resumes the flow without a restart.
 *
 * Many records travel in one $batch (one changeset each, header and children together).
 * F&O -> Clarity flows (a source of SYNCRT_SYS_D365, an upsert by CustomKey): each poll is a
 * full scan of the entity set, streamed page by page (@odata.nextLink, no cross-company),
 * every row enqueued under "poll:<set>:<key values>:<content hash>" (an unchanged row is
 * absorbed by the inbox, a changed one is a new record); each record is mapped, skipped when
 * its mapped form was delivered before, else sent as one Clarity Upsert (idempotent: an
 * answer lost after sending is resent, no probe), settled like any other.
 * Every outcome is written through syncrt_settle (worker.h), the one settling function.
 *
 * Threads: one syncrt_engine is shared; each thread that polls or works has its own
 * syncrt_engine_worker (its own store connection, HTTP client and credentials).  The library
 * never prints: events go to the log callback as an event name and "key=value" fields. */
#ifndef SYNCRT_ENGINE_H
#define SYNCRT_ENGINE_H

#include "syncrt/config.h"
#include "syncrt/flow.h"
#include "syncrt/store.h"
#include "syncrt/syncrt.h"
#include "syncrt/webhook.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SYNCRT_LOG_DEBUG = 0,
    SYNCRT_LOG_INFO,
    SYNCRT_LOG_WARN,
    SYNCRT_LOG_ERROR,
    SYNCRT_LOG_ALERT        /* needs a person: a paused flow */
} syncrt_log_level;

const char *syncrt_log_level_name(syncrt_log_level l);

/* fields: "key=value key=\"value with spaces\" ..." (values quoted when needed, no secrets). */
typedef void (*syncrt_engine_log_fn)(void *ctx, syncrt_log_level level, const char *event,
                                     const char *fields);

typedef struct {
    const syncrt_config *config;                /* borrowed, must outlive the engine */
    const syncrt_flow_desc *const *flows;       /* every flow built in */
    size_t nflows;
    syncrt_engine_log_fn log;
    void *log_ctx;
    const volatile int *stop;                   /* non-zero: finish quickly (may be NULL) */
    uint64_t seed;                              /* jitter; 0: from the clock */
} syncrt_engine_options;

typedef struct syncrt_engine syncrt_engine;
typedef struct syncrt_engine_worker syncrt_engine_worker;

/* Shared counters since the engine started. */
typedef struct {
    uint64_t delivered, skipped, retried, dead, probes, batches, paused, enqueued;
} syncrt_engine_counters;

syncrt_status syncrt_engine_new(syncrt_engine **out, const syncrt_engine_options *o,
                                syncrt_error *err);
void syncrt_engine_free(syncrt_engine *e);
void syncrt_engine_counters_get(syncrt_engine *e, syncrt_engine_counters *out);

/* One flow since the engine started (metrics.h): n holds its share of delivered, skipped,
 * retried, dead and enqueued (probes, batches and paused are engine-wide only, 0 here), and
 * its polls: when the last one finished and the last one that succeeded (ms, 0: none yet). */
typedef struct {
    syncrt_engine_counters n;
    uint64_t polls, poll_errors;
    int64_t last_poll_at, last_poll_ok_at;
} syncrt_engine_flow_stats;
/* All zero for a flow that is not built in. */
void syncrt_engine_flow_stats_get(syncrt_engine *e, const syncrt_flow_desc *f,
                                  syncrt_engine_flow_stats *out);

/* Every outbound request the workers made since the engine started, by peer (told by the
 * URL: F&O's token endpoint, F&O's /data, Clarity's root, anything else) and status class
 * (index status / 100: 1..5; 0: no answer, a transport failure), the 429s among them, and
 * the F&O $batch requests. */
enum { SYNCRT_PEER_D365 = 0, SYNCRT_PEER_CLARITY, SYNCRT_PEER_TOKEN, SYNCRT_PEER_OTHER,
       SYNCRT_PEER_COUNT };
typedef struct {
    uint64_t requests[SYNCRT_PEER_COUNT][6];
    uint64_t throttled[SYNCRT_PEER_COUNT];
    uint64_t batches;
} syncrt_engine_http_stats;
void syncrt_engine_http_stats_get(syncrt_engine *e, syncrt_engine_http_stats *out);

/* 1 when this engine can run the flow: Clarity -> F&O creates (a webhook event and/or a
 * ModifiedSince poll of a Clarity route; the record and its children POSTed to an entity set,
 * in one changeset when the flow says so), Clarity -> F&O updates and upserts of one record
 * without children (customer 360: read by key, PATCH of the update_fields that differ, an
 * upsert's missing record looked up by its dedup_fields before it is created; docs/runtime.md),
 * and F&O -> Clarity upserts by CustomKey without children (a polled entity set with a key).  syncrt_engine_new refuses a configuration that
 * enables any other flow. */
int syncrt_engine_runs(const syncrt_flow_desc *f);
/* The built-in flow called name when the configuration enables it, else NULL. */
const syncrt_flow_desc *syncrt_engine_flow(const syncrt_engine *e, const char *name);
/* The built-in flow called name, enabled or not. */
const syncrt_flow_desc *syncrt_engine_flow_builtin(const syncrt_engine *e, const char *name);
size_t syncrt_engine_flow_count(const syncrt_engine *e);
const syncrt_flow_desc *syncrt_engine_flow_at(const syncrt_engine *e, size_t i);  /* enabled */
/* The flow's effective poll interval (config or .map), 0 when it does not poll on an
 * interval (no poll source, polling off, or a cron schedule instead). */
int64_t syncrt_engine_poll_every(const syncrt_engine *e, const syncrt_flow_desc *f);
/* The flow's cron schedule (the config's "schedule" over the .map's `trigger schedule`), or
 * NULL: at each fire time `sync run` makes one pass of the flow (poll once, work what is due). */
const char *syncrt_engine_schedule(const syncrt_engine *e, const syncrt_flow_desc *f);

syncrt_status syncrt_engine_worker_new(syncrt_engine_worker **out, syncrt_engine *e,
                                       const char *name, syncrt_error *err);
void syncrt_engine_worker_free(syncrt_engine_worker *w);
/* The worker's store connection (for status queries on the same handle). */
syncrt_store *syncrt_engine_worker_store(syncrt_engine_worker *w);

/* One poll of the flow's source into the inbox: a ModifiedSince window of a Clarity route,
 * or a full scan of an F&O entity set; the checkpoint advances (to the poll's start) only
 * after every row is in the inbox. */
syncrt_status syncrt_engine_poll(syncrt_engine_worker *w, const syncrt_flow_desc *f,
                                 size_t *enqueued, syncrt_error *err);

/* Claims up to the flow's batch of due records and resolves every one of them (delivered,
 * skipped, retry later, dead-lettered, or released when pausing/stopping).  *handled gets the
 * number claimed.  SYNCRT_EEMPTY when nothing was due or the flow is paused (*wait_ms: how
 * long until it may resume, 0 when not paused). */
syncrt_status syncrt_engine_step(syncrt_engine_worker *w, const syncrt_flow_desc *f,
                                 size_t *handled, int64_t *wait_ms, syncrt_error *err);

/* Starts the webhook receiver of the configuration, routing each flow's event type to it;
 * it writes the inbox through its own store connection (*store_out, close it after
 * syncrt_webhook_stop). */
syncrt_status syncrt_engine_webhook_start(syncrt_engine *e, syncrt_webhook **out,
                                          syncrt_store **store_out, syncrt_error *err);

#ifdef __cplusplus
}
#endif
#endif
