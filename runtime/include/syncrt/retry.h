/* retry.h - what to do after an attempt: classification of a call's result, exponential
 * backoff with full jitter, Retry-After, per-endpoint adaptive concurrency, adaptive request
 * pacing and a circuit breaker.  Pure logic over injected clocks and a seeded random source,
 * so every decision is reproducible in tests; the http module and the workers apply the
 * decisions.
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

/* Client-side pacing for one endpoint (adaptive request rate, AIMD on the rate): requests
 * start no closer together than 1/rate seconds, shared by every worker of the target, so the
 * sync runs just under the server's rate limit instead of draining it and stopping for a
 * Retry-After.
 *   start:     unlimited (rate 0), or max_rate when one is configured;
 *   on a 429:  rate = decrease x what F&O actually admitted over the last window_ms (answers
 *              other than 429, counted when they arrive, per second of that window; the
 *              window starts no earlier than the current burst of traffic), and never more
 *              than decrease x the rate that drew the 429.  At most once per
 *              decrease_interval_ms (one window of 429s decreases once); a 429 that comes less
 *              than min_span_ms into the traffic measures nothing and leaves the rate alone
 *              (the Retry-After still blocks).  The estimate of the server's limit becomes
 *              the smaller of the measured rate and estimate_factor x the rate that drew the
 *              429 (unknown when the rate was unlimited);
 *   otherwise: each success while the pacer is the bottleneck adds increase/rate
 *              (increase requests/s per second of traffic) below the estimate,
 *              probe_increase/rate above it (estimate unknown: increase);
 *   always:    min_rate <= rate <= max_rate (when max_rate > 0).
 * The pacer only spaces starts; the limiter's Retry-After block and concurrency slots and the
 * breaker are checked as before (syncrt_endpoint). */
#define SYNCRT_PACER_BINS 20

typedef struct {
    double rate;                  /* requests per second; 0 = unlimited */
    double max_rate;              /* configured ceiling; 0 = adaptive only */
    double min_rate;              /* floor after a decrease: 0.5 */
    double decrease;              /* factor on a 429: 0.9 */
    double increase;              /* requests/s per second below the estimate: 1.0 */
    double probe_increase;        /* requests/s per second above it: 0.1 */
    double estimate_factor;       /* estimate <= rate that drew the 429 x this: 0.95 */
    double estimate;              /* the server's limit as last seen; 0 = unknown */
    double next_at;               /* earliest start of the next request (ms) */
    int64_t window_ms;            /* measurement window: 5000 */
    int64_t min_span_ms;          /* traffic needed before a 429 measures: window_ms / 5 */
    int64_t decrease_interval_ms; /* 1000 */
    int64_t last_decrease;
    int64_t active_since;         /* start of the current burst of traffic */
    int64_t last_start;           /* the last start the pacer allowed */
    int saturated;                /* 1 while requests queue behind the pacer */
    int64_t bin_epoch[SYNCRT_PACER_BINS];   /* admitted answers per window_ms/BINS slice */
    int bin_count[SYNCRT_PACER_BINS];
    long throttled, decreases;    /* counters: 429s seen, decreases applied */
} syncrt_pacer;

/* max_rate: requests per second, 0 = adaptive only; window_ms and decrease_interval_ms
 * 0: 5000 and 1000. */
void syncrt_pacer_init(syncrt_pacer *p, double max_rate, int64_t window_ms,
                       int64_t decrease_interval_ms);
/* SYNCRT_OK: start now (the start is reserved); SYNCRT_EEMPTY with *wait_ms > 0 until the
 * next start is allowed. */
syncrt_status syncrt_pacer_acquire(syncrt_pacer *p, int64_t *wait_ms, int64_t now_ms);
/* After the attempt: answered is 1 when an HTTP response arrived, c the attempt's class,
 * throttled 1 for a 429 (or 503 with Retry-After).  An answer that is no throttle counts as
 * admitted (measurement); only a success (SYNCRT_CLASS_OK) grows the rate. */
void syncrt_pacer_release(syncrt_pacer *p, int answered, syncrt_retry_class c, int throttled,
                          int64_t now_ms);
/* Answers admitted per second over the window ending at now_ms (the measurement a 429
 * uses); 0 when the traffic is younger than min_span_ms. */
double syncrt_pacer_measured(const syncrt_pacer *p, int64_t now_ms);

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
 * limiter, pacer and breaker together, the gate every request to it goes through.
 *   acquire: the limiter first (a slot, not blocked by Retry-After), then the pacer (the
 *            start is due), then the breaker; when the pacer or the breaker refuses, what was
 *            taken is given back (so a refused half-open probe leaks neither a slot nor a
 *            start).
 *   release: classifies the attempt, parses its Retry-After, feeds all three: a 429 blocks
 *            until its Retry-After, halves the concurrency and lowers the rate once per
 *            decrease interval; it is no breaker failure. */
typedef struct {
    syncrt_limiter limiter;
    syncrt_pacer pacer;
    syncrt_breaker breaker;
} syncrt_endpoint;

typedef struct {
    int initial, min_limit, max_limit;      /* concurrency; 0s: 8, 1, 64 */
    int64_t decrease_interval_ms;           /* 0: 1000 (concurrency and rate) */
    int breaker_threshold;                  /* 0: 5 */
    int64_t breaker_open_ms, breaker_max_open_ms;   /* 0s: 5 s, 5 min */
} syncrt_endpoint_config;

/* The pacer starts adaptive only (no ceiling), with a 5 s window; syncrt_endpoint_pace sets
 * its ceiling (requests/s, 0: adaptive only) and window (0: 5000 ms) afresh. */
void syncrt_endpoint_init(syncrt_endpoint *e, const syncrt_endpoint_config *c);
void syncrt_endpoint_pace(syncrt_endpoint *e, double max_rate, int64_t window_ms);
/* SYNCRT_OK: send now.  SYNCRT_EEMPTY: not now (*wait_ms > 0 while a Retry-After runs or
 * until the pacer's next start, 0 when waiting for a release).  SYNCRT_ECIRCUIT: the breaker
 * is open for *wait_ms. */
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
