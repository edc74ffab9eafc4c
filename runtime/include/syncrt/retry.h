/* retry.h - what to do after an attempt: classification of a call's result, exponential
 * backoff with full jitter, Retry-After, per-endpoint adaptive concurrency and a circuit
 * breaker.  Pure logic over injected clocks and a seeded random source, so every decision is
 * reproducible in tests; the http module and the workers apply the decisions.
 *
 * The model is curl's retry logic (tool_operate.c): timeouts, 408, 429 and 5xx are
 * transient; a Retry-After header is honoured exactly.  On top of it the runtime needs the
 * classes of DESIGN.md's reliability model: auth failures pause the flow instead of burning
 * retries, validation and business failures go to the dead-letter queue, and a write that
 * may have been applied (connection lost after the request went out) is an "unknown
 * outcome": probe by key before sending it again. */
#ifndef SYNCRT_RETRY_H
#define SYNCRT_RETRY_H

#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SYNCRT_CLASS_OK = 0,          /* 2xx: delivered */
    SYNCRT_CLASS_TRANSIENT,       /* connect error, timeout before sending, 408, 429, 5xx */
    SYNCRT_CLASS_AUTH,            /* 401, 403, TLS trust failure: pause the flow, alert */
    SYNCRT_CLASS_VALIDATION,      /* 400/422 whose body reads as a validation error */
    SYNCRT_CLASS_BUSINESS,        /* other 4xx (404, 409, 412, ...), unexpected 1xx/3xx */
    SYNCRT_CLASS_UNKNOWN_OUTCOME  /* a non-idempotent write may have been applied */
} syncrt_retry_class;

const char *syncrt_retry_class_name(syncrt_retry_class c);

/* What happened to one attempt. */
typedef struct {
    syncrt_status transport;  /* SYNCRT_OK when an HTTP response arrived, else ECONNECT,
                                 ETIMEOUT, ETLS, EHTTP (connection dropped) */
    int request_sent;         /* 1 when the request had (started to) go out on the wire */
    int idempotent;           /* 1 for GET/HEAD/PUT/DELETE, or a write the target dedups */
    long http_status;         /* when transport is SYNCRT_OK */
    const char *body;         /* the response body (may be NULL), for 400 triage */
} syncrt_attempt;

syncrt_retry_class syncrt_retry_classify(const syncrt_attempt *a);

/* 1 when text reads as a validation failure (F&O innererror, CEF ResponseStatus). */
int syncrt_retry_is_validation_text(const char *text);

/* A small seeded random source (splitmix64) for jitter; same seed, same sequence. */
typedef struct { uint64_t state; } syncrt_rng;
void syncrt_rng_seed(syncrt_rng *rng, uint64_t seed);
uint64_t syncrt_rng_next(syncrt_rng *rng);
/* Uniform in [0, bound] (inclusive); bound >= 0. */
int64_t syncrt_rng_upto(syncrt_rng *rng, int64_t bound);

typedef struct {
    int max_attempts;         /* attempts in all, the first included; >= 1 */
    int64_t base_ms;          /* first backoff ceiling */
    int64_t cap_ms;           /* largest backoff ceiling */
} syncrt_retry_policy;

/* The backoff ceiling before attempt number `attempt` + 1, after `attempt` failures (>= 1):
 * min(cap, base * 2^(attempt-1)), without overflow. */
int64_t syncrt_retry_ceiling(const syncrt_retry_policy *p, int attempt);

/* Full jitter: uniform in [0, ceiling]. */
int64_t syncrt_retry_backoff(const syncrt_retry_policy *p, syncrt_rng *rng, int attempt);

typedef enum {
    SYNCRT_ACTION_DONE = 0,       /* record delivered */
    SYNCRT_ACTION_RETRY,          /* fail the record with retry_at = now + delay_ms */
    SYNCRT_ACTION_PROBE,          /* look the record up by key first, then decide */
    SYNCRT_ACTION_PAUSE,          /* release the record (no attempt burned), pause the flow */
    SYNCRT_ACTION_DEAD_LETTER     /* move the record to the dead-letter queue */
} syncrt_retry_action;

const char *syncrt_retry_action_name(syncrt_retry_action a);

typedef struct {
    syncrt_retry_action action;
    int64_t delay_ms;             /* for RETRY (and PAUSE: how long before trying again) */
    const char *reason;           /* a constant text for the log and the dead letter */
} syncrt_retry_decision;

/* Decides after `attempts` attempts (this one included) ended in class c.  retry_after_ms is
 * the server's Retry-After as a delay, or -1 when absent: when present it is the delay,
 * exactly (never less, never jittered).  Transient failures retry until max_attempts, then
 * dead-letter ("retries exhausted").  PAUSE delays are the policy's cap. */
void syncrt_retry_decide(syncrt_retry_decision *out, const syncrt_retry_policy *p,
                         syncrt_rng *rng, syncrt_retry_class c, int attempts,
                         int64_t retry_after_ms);

/* Parses a Retry-After value: delta-seconds ("120") or an HTTP-date (IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete RFC 850 and asctime forms).  *delay_ms is
 * the delay from now_ms (0 for a date in the past).  SYNCRT_EPARSE for anything else. */
syncrt_status syncrt_retry_after_parse(int64_t *delay_ms, const char *value, int64_t now_ms);

/* Parses an HTTP-date to milliseconds since the epoch. */
syncrt_status syncrt_http_date_parse(int64_t *out_ms, const char *value);

/* Adaptive concurrency for one endpoint (AIMD): the limit halves on a 429 (at most once per
 * decrease_interval_ms, so a burst of 429s from one window halves once), and grows by one
 * after `limit` successes in a row (about +1 per round trip of a full window).  A Retry-After
 * blocks the whole endpoint until it has passed: F&O throttles per user, not per request. */
typedef struct {
    double limit;
    int min_limit, max_limit;
    int in_flight;
    int64_t blocked_until;
    int64_t last_decrease;
    int64_t decrease_interval_ms;
} syncrt_limiter;

void syncrt_limiter_init(syncrt_limiter *l, int initial, int min_limit, int max_limit,
                         int64_t decrease_interval_ms);
/* The current whole limit. */
int syncrt_limiter_limit(const syncrt_limiter *l);
/* Takes a slot: SYNCRT_OK, or SYNCRT_EEMPTY with *wait_ms > 0 while blocked by Retry-After,
 * or SYNCRT_EEMPTY with *wait_ms 0 when every slot is busy (wait for a release). */
syncrt_status syncrt_limiter_acquire(syncrt_limiter *l, int64_t *wait_ms, int64_t now_ms);
/* Gives the slot back with the attempt's class; throttled is 1 for a 429 (or 503 with
 * Retry-After), retry_after_ms its delay or -1. */
void syncrt_limiter_release(syncrt_limiter *l, syncrt_retry_class c, int throttled,
                            int64_t retry_after_ms, int64_t now_ms);

/* Circuit breaker for one endpoint: `threshold` transient failures in a row open it for
 * open_ms (doubling on each failed half-open probe, up to max_open_ms); once that has passed,
 * one probe call is let through (half-open); its success closes the breaker.  429s are not
 * failures here (the limiter handles them). */
typedef enum { SYNCRT_BREAKER_CLOSED, SYNCRT_BREAKER_OPEN, SYNCRT_BREAKER_HALF_OPEN } syncrt_breaker_state;

typedef struct {
    syncrt_breaker_state state;
    int threshold, failures;
    int64_t open_ms, max_open_ms, current_open_ms;
    int64_t opened_at;
    int probe_in_flight;
} syncrt_breaker;

void syncrt_breaker_init(syncrt_breaker *b, int threshold, int64_t open_ms, int64_t max_open_ms);
/* SYNCRT_OK: go ahead (when half-open, this caller is the probe); SYNCRT_ECIRCUIT with
 * *wait_ms until the next probe is allowed. */
syncrt_status syncrt_breaker_allow(syncrt_breaker *b, int64_t *wait_ms, int64_t now_ms);
void syncrt_breaker_record(syncrt_breaker *b, syncrt_retry_class c, int throttled, int64_t now_ms);

/* One remote endpoint (a host, or a host and user for F&O's per-user throttling): its
 * limiter and breaker together, the gate every request to it goes through.
 *   acquire: the limiter first (a slot, not blocked by Retry-After), then the breaker; when
 *            the breaker refuses, the slot is given back (so a refused half-open probe does
 *            not leak a slot).
 *   release: classifies the attempt, parses its Retry-After, feeds both. */
typedef struct {
    syncrt_limiter limiter;
    syncrt_breaker breaker;
} syncrt_endpoint;

typedef struct {
    int initial, min_limit, max_limit;      /* concurrency; 0s: 8, 1, 64 */
    int64_t decrease_interval_ms;           /* 0: 1000 */
    int breaker_threshold;                  /* 0: 5 */
    int64_t breaker_open_ms, breaker_max_open_ms;   /* 0s: 5 s, 5 min */
} syncrt_endpoint_config;

void syncrt_endpoint_init(syncrt_endpoint *e, const syncrt_endpoint_config *c);
/* SYNCRT_OK: send now.  SYNCRT_EEMPTY: no slot (*wait_ms > 0 while a Retry-After runs, 0 when
 * waiting for a release).  SYNCRT_ECIRCUIT: the breaker is open for *wait_ms. */
syncrt_status syncrt_endpoint_acquire(syncrt_endpoint *e, int64_t *wait_ms, int64_t now_ms);
/* After the attempt: its class; *retry_after_ms gets the server's Retry-After (-1 none).
 * retry_after_header is the raw header value or NULL. */
syncrt_retry_class syncrt_endpoint_release(syncrt_endpoint *e, int64_t *retry_after_ms,
                                           const syncrt_attempt *a, const char *retry_after_header,
                                           int64_t now_ms);

#ifdef __cplusplus
}
#endif
#endif
