/* store.h - the durable state of a sync process (SQLite, WAL, synchronous=FULL).
 *
 * What lives here (see docs/runtime.md for the reliability argument):
 *   inbox          every inbound record, written before it is acknowledged; unique per
 *                  (flow, dedup key), so a redelivered webhook or re-polled row is a no-op.
 *                  States: pending -> leased -> done | pending (retry) | dead.
 *   dead letters   records that will not be retried automatically, with reason, attempts,
 *                  first and last error; list/show/replay/drop.
 *   checkpoints    one opaque text value per flow (e.g. a ModifiedSince watermark).
 *   idempotency    (flow, source key) -> target key of what was delivered.
 *   hashes         (scope, key) -> hash of the last mapped form written there: skip-unchanged
 *                  and echo suppression in bidirectional flows.
 *   audit          one row per outcome: flow, source key, target key, mapping version,
 *                  outcome, detail, time.
 *
 * Every function that changes state commits before it returns SYNCRT_OK, so a returned OK is
 * durable.  Each outcome (complete, fail, dead-letter) is one transaction together with its
 * audit row.  Leases expire: a crashed worker's records become claimable again at
 * lease_until, and its late complete/fail then gets SYNCRT_ELEASE.
 *
 * Times are milliseconds since the Unix epoch, read from the clock given at open.
 *
 * Threads: a handle is one SQLite connection and its transactions; use it from one thread at
 * a time.  Open one handle per worker thread (and one for the webhook receiver): handles in
 * any number of threads and processes share one file safely (WAL, IMMEDIATE transactions,
 * busy timeout). */
#ifndef SYNCRT_STORE_H
#define SYNCRT_STORE_H

#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The schema version this runtime writes (stored in the store's schema_version table). */
#define SYNCRT_STORE_SCHEMA_VERSION 1

typedef struct syncrt_store syncrt_store;

typedef struct {
    syncrt_clock_fn clock;      /* NULL: syncrt_clock_real */
    void *clock_ctx;
    int busy_timeout_ms;        /* wait on another process's write lock; 0: 5000 */
} syncrt_store_options;

typedef struct {
    int64_t id;
    char *flow;
    char *dedup_key;
    char *source_key;
    unsigned char *payload;     /* NUL-terminated for convenience; payload_len excludes it */
    size_t payload_len;
    int64_t received_at;
    int attempts;               /* claims so far, this one included */
    int64_t next_attempt_at;
    int64_t lease_until;
    char *first_error;          /* NULL when none */
    char *last_error;
} syncrt_inbox_record;

typedef struct {
    int64_t id;                 /* the inbox id of the record */
    char *flow;
    char *dedup_key;
    char *source_key;
    unsigned char *payload;
    size_t payload_len;
    char *reason;
    int attempts;
    char *first_error;
    char *last_error;
    int64_t received_at;
    int64_t first_failed_at;
    int64_t dead_at;
} syncrt_dead_letter;

typedef struct {
    const char *dedup_key;      /* required */
    const char *source_key;     /* NULL: the dedup key */
    const void *payload;
    size_t payload_len;
} syncrt_enqueue_item;

typedef struct {
    int64_t pending, leased, done, dead, dead_letters;
} syncrt_store_counts;

/* Opens (creating when missing) the store at path and migrates it to the current schema.
 * SYNCRT_ESCHEMA when the file was written by a newer runtime. */
syncrt_status syncrt_store_open(syncrt_store **out, const char *path,
                                const syncrt_store_options *opts, syncrt_error *err);
void syncrt_store_close(syncrt_store *store);

/* The schema version found in the file (after migration). */
int syncrt_store_schema_version(const syncrt_store *store);

/* Durably adds one record.  *inserted (when not NULL) is 1 when new, 0 when (flow, dedup_key)
 * was already there (in any state): that is success, not an error. */
syncrt_status syncrt_store_enqueue(syncrt_store *store, int *inserted, const char *flow,
                                   const syncrt_enqueue_item *item, syncrt_error *err);

/* Adds n records and (when checkpoint is not NULL) sets the flow's checkpoint, all in one
 * transaction: a poll checkpoint never gets ahead of the rows it covers.  *inserted (when not
 * NULL) receives the number of new records. */
syncrt_status syncrt_store_enqueue_batch(syncrt_store *store, size_t *inserted, const char *flow,
                                         const syncrt_enqueue_item *items, size_t n,
                                         const char *checkpoint, syncrt_error *err);

/* Leases up to max records of flow (NULL: any flow) that are due: pending with
 * next_attempt_at <= now, or leased with an expired lease.  Each claim counts one attempt.
 * *out is an array of *count records (free with syncrt_store_records_free); SYNCRT_EEMPTY
 * with *count 0 when nothing is due. */
syncrt_status syncrt_store_claim(syncrt_store *store, syncrt_inbox_record **out, size_t *count,
                                 const char *flow, const char *worker, int64_t lease_ms,
                                 size_t max, syncrt_error *err);
void syncrt_store_records_free(syncrt_inbox_record *recs, size_t count);

/* Extends a lease the worker still holds (SYNCRT_ELEASE otherwise). */
syncrt_status syncrt_store_renew(syncrt_store *store, int64_t id, const char *worker,
                                 int64_t lease_ms, syncrt_error *err);

typedef struct {
    const char *target_key;         /* may be NULL (skipped records) */
    const char *mapping_version;    /* may be NULL */
    const char *hash_scope;         /* with hash: recorded in the hash map; may be NULL */
    const char *hash_key;           /* NULL: target_key */
    const char *hash;
    int skipped;                    /* 1: delivered nothing (unchanged, filtered by a where) */
    const char *detail;             /* kept in the audit row's detail: why it was skipped
                                       ("filtered: COND"); may be NULL */
    const char *then_flow;          /* with then_item: a record for this flow's inbox that the
                                       delivery causes (a write after a write), enqueued in the
                                       same transaction; NULL: none */
    const syncrt_enqueue_item *then_item;
} syncrt_delivery;

/* Marks a leased record done; records the idempotency map entry (when target_key is set),
 * the delivered hash (when hash_scope and hash are set), an audit row ("delivered" or
 * "skipped") and the follow-on record (then_flow, then_item: inserted like an enqueue, a no-op
 * when its dedup key is already in that flow's inbox), in one transaction. */
syncrt_status syncrt_store_complete(syncrt_store *store, int64_t id, const char *worker,
                                    const syncrt_delivery *d, syncrt_error *err);

/* Puts a leased record back for a retry at retry_at with the error text; audit "retry". */
syncrt_status syncrt_store_fail(syncrt_store *store, int64_t id, const char *worker,
                                const char *error_text, int64_t retry_at, syncrt_error *err);

/* Gives a leased record back without counting the attempt (shutdown, auth pause), due at
 * retry_at; no audit row. */
syncrt_status syncrt_store_release(syncrt_store *store, int64_t id, const char *worker,
                                   int64_t retry_at, syncrt_error *err);

/* Moves a leased record to the dead-letter queue with reason and the last error; audit
 * "dead". */
syncrt_status syncrt_store_dead_letter(syncrt_store *store, int64_t id, const char *worker,
                                       const char *reason, const char *error_text,
                                       syncrt_error *err);

/* Dead letters of flow (NULL: all), oldest first, at most max (0: all). */
syncrt_status syncrt_store_dlq_list(syncrt_store *store, syncrt_dead_letter **out, size_t *count,
                                    const char *flow, size_t max, syncrt_error *err);
syncrt_status syncrt_store_dlq_show(syncrt_store *store, syncrt_dead_letter **out, int64_t id,
                                    syncrt_error *err);
void syncrt_store_dead_letters_free(syncrt_dead_letter *dl, size_t count);
/* Replay: the record becomes pending again with zero attempts, due now; audit "replayed". */
syncrt_status syncrt_store_dlq_replay(syncrt_store *store, int64_t id, syncrt_error *err);
/* Drop: the dead letter is deleted; the inbox row stays as a tombstone so the dedup key is
 * still known; audit "dropped". */
syncrt_status syncrt_store_dlq_drop(syncrt_store *store, int64_t id, syncrt_error *err);

/* Checkpoints: *out is a malloc'd copy, or NULL (with SYNCRT_OK) when the flow has none. */
syncrt_status syncrt_store_checkpoint_get(syncrt_store *store, char **out, const char *flow,
                                          syncrt_error *err);
syncrt_status syncrt_store_checkpoint_set(syncrt_store *store, const char *flow,
                                          const char *value, syncrt_error *err);

/* Idempotency map: *out is a malloc'd target key, or NULL when never delivered. */
syncrt_status syncrt_store_target_key(syncrt_store *store, char **out, const char *flow,
                                      const char *source_key, syncrt_error *err);

/* Delivered hashes: *out is the malloc'd hash last written to (scope, key), or NULL.
 * *unchanged is 1 when that hash equals hash. */
syncrt_status syncrt_store_hash_get(syncrt_store *store, char **out, const char *scope,
                                    const char *key, syncrt_error *err);
syncrt_status syncrt_store_hash_unchanged(syncrt_store *store, int *unchanged, const char *scope,
                                          const char *key, const char *hash, syncrt_error *err);
syncrt_status syncrt_store_hash_set(syncrt_store *store, const char *scope, const char *key,
                                    const char *hash, syncrt_error *err);

/* Record counts by state, for `sync status`. */
syncrt_status syncrt_store_counts_get(syncrt_store *store, syncrt_store_counts *out,
                                      const char *flow, syncrt_error *err);

/* What the metrics and status page read of one flow's queue (syncrt/metrics.h): records
 * pending and leased, dead letters, and the received_at of the oldest pending record (0 when
 * none).  Read-only; touches the pending, leased and dead rows only (not the done ones). */
typedef struct {
    int64_t pending, leased, dead_letters, oldest_pending_at;
} syncrt_store_queue;
syncrt_status syncrt_store_queue_get(syncrt_store *store, syncrt_store_queue *out,
                                     const char *flow, syncrt_error *err);

/* The audit outcomes of flow recorded at or after since (ms): delivered, skipped, retry,
 * dead.  Read-only; scans the audit rows. */
typedef struct {
    int64_t delivered, skipped, retried, dead;
} syncrt_store_outcomes;
syncrt_status syncrt_store_outcomes_since(syncrt_store *store, syncrt_store_outcomes *out,
                                          const char *flow, int64_t since, syncrt_error *err);

/* The newest dead letters of flow (NULL: all), newest first, at most max (0: all). */
syncrt_status syncrt_store_dlq_latest(syncrt_store *store, syncrt_dead_letter **out,
                                      size_t *count, const char *flow, size_t max,
                                      syncrt_error *err);

/* Deletes done records received before `before` (their dedup keys are forgotten) and audit
 * rows older than it; *deleted receives the number of inbox rows removed. */
syncrt_status syncrt_store_purge(syncrt_store *store, int64_t *deleted, int64_t before,
                                 syncrt_error *err);

/* Runs PRAGMA integrity_check and the store's own invariants (every done record has its
 * audit row, every dead record has its dead letter and the reverse, no leased record without
 * an owner).  SYNCRT_ESTORE with the first violation in err. */
syncrt_status syncrt_store_check(syncrt_store *store, syncrt_error *err);

#ifdef __cplusplus
}
#endif
#endif
