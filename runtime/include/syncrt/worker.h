/* worker.h - settling a claimed record: turning what happened to its delivery into the store
 * transition the reliability model asks for (DESIGN.md).  The engine (engine.h) settles every
 * record it works through this one function:
 *   delivered            -> complete (idempotency map, delivered hash, audit "delivered"); a
 *                           delivery marked skipped completes without a call
 *   transient            -> fail, due again after the backoff
 *   throttled            -> (a transient failure with a Retry-After) release, due exactly
 *                           when the Retry-After ends, without burning an attempt: the server
 *                           asked us to wait, so a long throttle never exhausts the retries
 *   retries exhausted,
 *   validation, business -> dead letter with the reason and the server's text
 *   auth                 -> release without burning the attempt (the caller pauses the flow)
 *   unknown outcome      -> nothing yet: the caller probes the target by key, then settles
 *                           again with syncrt_outcome_probe()'s answer
 * One call per record; every transition is one store transaction with its audit row. */
#ifndef SYNCRT_WORKER_H
#define SYNCRT_WORKER_H

#include "syncrt/odata.h"
#include "syncrt/retry.h"
#include "syncrt/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    syncrt_store *store;
    const char *worker;              /* the lease owner name used at claim */
    syncrt_retry_policy policy;      /* max_attempts counts claims (syncrt_store_claim) */
    syncrt_rng *rng;                 /* jitter */
    syncrt_clock_fn clock;           /* NULL: real time */
    void *clock_ctx;
    int64_t pause_ms;                /* how long an auth failure releases for; 0: policy cap */
} syncrt_settler;

typedef struct {
    syncrt_attempt attempt;          /* transport, request_sent, idempotent, status, body */
    int64_t retry_after_ms;          /* -1: none */
    int invalid;                     /* 1: refused before sending (mapping/validation errors) */
    const char *error_text;          /* the detail to keep (innererror, ResponseStatus, ...) */
    const char *reason;              /* a dead letter's reason; NULL: the retry module's */
    syncrt_delivery delivery;        /* for a success: target key, mapping version, hash */
} syncrt_outcome;

/* What syncrt_settle did. */
typedef struct {
    syncrt_retry_action action;      /* DONE, RETRY, DEAD_LETTER, PAUSE, or PROBE (nothing) */
    int64_t delay_ms;                /* RETRY / PAUSE: due again this much later */
    int attempt_burned;              /* RETRY: 0 when released for a Retry-After */
    char reason[160];                /* DEAD_LETTER: the reason stored; else the decision's */
    char text[600];                  /* the error text stored ("HTTP 503: busy", ...) */
} syncrt_settled;

/* Settles rec (leased by s->worker) after outcome o; *out says what was done.  For
 * SYNCRT_ACTION_PROBE nothing is written: probe, then settle again. */
syncrt_status syncrt_settle(syncrt_settled *out, const syncrt_settler *s,
                            const syncrt_inbox_record *rec, const syncrt_outcome *o, syncrt_error *err);

/* The outcome of one $batch operation (status 0, i.e. no answer for it, is an unknown
 * outcome).  error_text points into r (innererror.message copied into buf). */
void syncrt_outcome_from_batch(syncrt_outcome *o, const syncrt_batch_result *r, char *buf, size_t size);

/* After an unknown outcome the target was looked up by key: found means the write landed
 * (settle as delivered with target_key), not found means resending is safe (settle as a
 * transient failure due now). */
void syncrt_outcome_probe(syncrt_outcome *o, int found, const char *target_key);

#ifdef __cplusplus
}
#endif
#endif
