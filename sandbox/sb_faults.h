/* sb_faults.h - fault injection and throttling shared by the sandbox's emulators.
 *
 * One sb_faults per emulator holds the current fault configuration (thread-safe; changed at
 * run time through the emulator's /_sandbox/faults endpoint or loaded from the --config file)
 * and decides, per request, what goes wrong.  The configuration is a JSON object; every member
 * is optional and a PUT changes only the members it names:
 *
 *   {
 *     "rate_limit":        0,     requests per second allowed (token bucket); 0 = unlimited
 *     "rate_burst":        10,    bucket size (requests that may arrive at once)
 *     "retry_after":       1,     seconds put in Retry-After on a 429 (grows by one for each
 *                                 429 in a row, up to 4x, like F&O's growing interval)
 *     "latency_ms":        0,     fixed delay added to every request
 *     "jitter_ms":         0,     plus a uniform random delay in [0, jitter_ms]
 *     "error_500_share":   0.0,   share of requests answered 500 (0..1)
 *     "error_503_share":   0.0,   share of requests answered 503 (0..1)
 *     "drop_share":        0.0,   share of writes whose connection is dropped AFTER the
 *                                 server committed the write (no response at all)
 *     "drop_next":         0,     drop the next N writes that way (counts down)
 *     "hang_share":        0.0,   share of requests that hang before being answered
 *     "hang_next":         0,     hang the next N requests (counts down)
 *     "hang_ms":           30000, how long a hung request sleeps (bounded at 600000)
 *     "seed":              1      random seed (deterministic fault pattern)
 *   }
 *
 * Errors go to the error buffer; nothing is printed. */
#ifndef SB_FAULTS_H
#define SB_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sb_faults sb_faults;

/* What to do with one request, decided before it is handled. */
typedef struct sb_fault_decision {
    long delay_ms;            /* sleep this long first (latency + jitter, or a hang) */
    unsigned status;          /* 0: handle normally; 429, 500 or 503: answer that instead */
    int retry_after;          /* seconds for Retry-After when status is 429 (or 503) */
    bool drop_after_commit;   /* a write: commit it, then drop the connection unanswered */
    bool hang;                /* the delay is a hang */
} sb_fault_decision;

/* New fault set with everything off.  Returns NULL on OOM. */
sb_faults *sb_faults_new(void);
void sb_faults_free(sb_faults *f);

/* Apply the members of `cfg` (see the top of this file).  Returns 0, or -1 with err filled when
 * a member has the wrong type or range (then nothing is changed). */
int sb_faults_update(sb_faults *f, const json_t *cfg, char *err, size_t errlen);
/* Everything off again. */
void sb_faults_clear(sb_faults *f);
/* Current configuration (new reference) plus counters: "injected" {429, 500, 503, drops,
 * hangs}. */
json_t *sb_faults_to_json(sb_faults *f);

/* Decide the fate of one request; is_write says whether it changes data (POST/PATCH/PUT/
 * DELETE, $batch).  Thread-safe. */
void sb_faults_decide(sb_faults *f, bool is_write, sb_fault_decision *out);

#ifdef __cplusplus
}
#endif
#endif
