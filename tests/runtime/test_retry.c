/* test_retry.c - the retry module, deterministically: classification table, seeded full
 * jitter within its ceilings, decisions per class, Retry-After in both forms, the AIMD
 * limiter, the adaptive pacer and the circuit breaker on an injected clock, and the whole
 * gate against a simulated token-bucket server (simulated time, no sleeps). */
#include "syncrt/config.h"
#include "syncrt/retry.h"
#include "testhelp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_NEAR(got, want, eps, ...) do { \
    double th_gd = (got), th_wd = (want); \
    CHECK(fabs(th_gd - th_wd) <= (eps), __VA_ARGS__); \
    if (fabs(th_gd - th_wd) > (eps)) printf("#   got:  %.6f\n#   want: %.6f\n", th_gd, th_wd); \
} while (0)

static syncrt_retry_class cls(syncrt_status transport, int sent, int idem, long status, const char *body)
{
    syncrt_attempt a = { transport, sent, idem, status, body };
    return syncrt_retry_classify(&a);
}

static void test_classify(void)
{
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 201, NULL), SYNCRT_CLASS_OK, "201 is delivered");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 204, NULL), SYNCRT_CLASS_OK, "204 is delivered");
    CHECK_INT(cls(SYNCRT_ECONNECT, 0, 0, 0, NULL), SYNCRT_CLASS_TRANSIENT, "connect error is transient");
    CHECK_INT(cls(SYNCRT_ECONNECT, 1, 0, 0, NULL), SYNCRT_CLASS_TRANSIENT,
              "connect error is transient even for a write (nothing went out)");
    CHECK_INT(cls(SYNCRT_ETIMEOUT, 0, 0, 0, NULL), SYNCRT_CLASS_TRANSIENT, "timeout before sending");
    CHECK_INT(cls(SYNCRT_ETIMEOUT, 1, 1, 0, NULL), SYNCRT_CLASS_TRANSIENT, "timeout on an idempotent call");
    CHECK_INT(cls(SYNCRT_ETIMEOUT, 1, 0, 0, NULL), SYNCRT_CLASS_UNKNOWN_OUTCOME,
              "timeout after a non-idempotent write went out: unknown outcome");
    CHECK_INT(cls(SYNCRT_EHTTP, 1, 0, 0, NULL), SYNCRT_CLASS_UNKNOWN_OUTCOME, "dropped connection after a write");
    CHECK_INT(cls(SYNCRT_ETLS, 0, 1, 0, NULL), SYNCRT_CLASS_AUTH, "TLS verification failure pauses");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 408, NULL), SYNCRT_CLASS_TRANSIENT, "408");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 429, NULL), SYNCRT_CLASS_TRANSIENT, "429");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 500, NULL), SYNCRT_CLASS_TRANSIENT, "500");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 503, NULL), SYNCRT_CLASS_TRANSIENT, "503");
    CHECK_INT(cls(SYNCRT_OK, 1, 1, 504, NULL), SYNCRT_CLASS_TRANSIENT, "504 on a GET");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 504, NULL), SYNCRT_CLASS_UNKNOWN_OUTCOME, "504 on a POST: unknown outcome");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 401, NULL), SYNCRT_CLASS_AUTH, "401");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 403, NULL), SYNCRT_CLASS_AUTH, "403");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 400,
                  "{\"error\":{\"code\":\"\",\"message\":\"An error has occurred.\",\"innererror\":"
                  "{\"message\":\"Write failed for table row of type 'SalesTable'. Infolog: Field "
                  "'Customer account' must be filled in.\"}}}"), SYNCRT_CLASS_VALIDATION,
              "400 with an F&O 'must be filled in' is validation");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 400,
                  "{\"ResponseStatus\":{\"ErrorCode\":\"ArgumentException\",\"Message\":\"x\","
                  "\"Errors\":[{\"FieldName\":\"Sku\",\"Message\":\"Sku is required\"}]}}"),
              SYNCRT_CLASS_VALIDATION, "400 with CEF field errors is validation");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 400, "{\"error\":{\"message\":\"The record already exists.\"}}"),
              SYNCRT_CLASS_BUSINESS, "400 without validation text is business");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 400, NULL), SYNCRT_CLASS_BUSINESS, "400 without a body is business");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 404, "invalid"), SYNCRT_CLASS_BUSINESS, "404 is business");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 409, NULL), SYNCRT_CLASS_BUSINESS, "409 is business");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 412, NULL), SYNCRT_CLASS_BUSINESS, "412 (stale If-Match) is business");
    CHECK_INT(cls(SYNCRT_OK, 1, 0, 302, NULL), SYNCRT_CLASS_BUSINESS, "an unexpected redirect is business");
    CHECK_STR(syncrt_retry_class_name(SYNCRT_CLASS_UNKNOWN_OUTCOME), "unknown outcome", "class names");
}

static void test_backoff(void)
{
    syncrt_retry_policy p = { 8, 1000, 300000 };
    syncrt_rng a, b;
    int i, k, in_range = 1, same = 1, hit_low = 0, hit_high = 0;
    double sum = 0;

    CHECK_INT(syncrt_retry_ceiling(&p, 1), 1000, "ceiling after 1 failure = base");
    CHECK_INT(syncrt_retry_ceiling(&p, 2), 2000, "ceiling doubles");
    CHECK_INT(syncrt_retry_ceiling(&p, 5), 16000, "ceiling after 5 = 16 s");
    CHECK_INT(syncrt_retry_ceiling(&p, 9), 256000, "ceiling after 9 = 256 s");
    CHECK_INT(syncrt_retry_ceiling(&p, 10), 300000, "ceiling capped at 5 min");
    CHECK_INT(syncrt_retry_ceiling(&p, 1000000), 300000, "huge attempt numbers do not overflow");
    syncrt_rng_seed(&a, 42);
    syncrt_rng_seed(&b, 42);
    for (i = 0; i < 1000; i++)
        if (syncrt_rng_next(&a) != syncrt_rng_next(&b))
            same = 0;
    CHECK(same, "same seed, same jitter sequence");
    syncrt_rng_seed(&b, 43);
    CHECK(syncrt_rng_next(&a) != syncrt_rng_next(&b), "another seed, another sequence");
    for (k = 1; k <= 12; k++) {
        int64_t ceil = syncrt_retry_ceiling(&p, k);
        for (i = 0; i < 2000; i++) {
            int64_t d = syncrt_retry_backoff(&p, &a, k);
            if (d < 0 || d > ceil)
                in_range = 0;
            if (k == 1) {
                sum += (double)d;
                if (d < 100) hit_low = 1;
                if (d > 900) hit_high = 1;
            }
        }
    }
    CHECK(in_range, "full jitter stays within [0, ceiling] for every attempt");
    CHECK(hit_low && hit_high, "full jitter spans the whole range");
    CHECK(sum / 2000 > 450 && sum / 2000 < 550, "mean of full jitter is about half the ceiling (%.0f)", sum / 2000);
    CHECK_INT(syncrt_rng_upto(&a, 0), 0, "upto 0 is 0");
}

static void test_decide(void)
{
    syncrt_retry_policy p = { 3, 1000, 60000 };
    syncrt_retry_decision d;
    syncrt_rng r;
    syncrt_rng_seed(&r, 7);

    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_TRANSIENT, 1, -1);
    CHECK(d.action == SYNCRT_ACTION_RETRY && d.delay_ms >= 0 && d.delay_ms <= 1000, "transient: backoff retry");
    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_TRANSIENT, 2, 120000);
    CHECK(d.action == SYNCRT_ACTION_RETRY && d.delay_ms == 120000,
          "Retry-After is honoured exactly, even above the cap (%lld)", (long long)d.delay_ms);
    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_TRANSIENT, 2, 0);
    CHECK(d.action == SYNCRT_ACTION_RETRY && d.delay_ms == 0, "Retry-After: 0 means now");
    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_TRANSIENT, 3, -1);
    CHECK_INT(d.action, SYNCRT_ACTION_DEAD_LETTER, "max attempts reached: dead letter");
    CHECK_STR(d.reason, "retries exhausted", "reason says so");
    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_AUTH, 3, -1);
    CHECK_INT(d.action, SYNCRT_ACTION_PAUSE, "auth pauses, even at max attempts");
    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_VALIDATION, 1, -1);
    CHECK_INT(d.action, SYNCRT_ACTION_DEAD_LETTER, "validation dead-letters at once");
    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_BUSINESS, 1, -1);
    CHECK_INT(d.action, SYNCRT_ACTION_DEAD_LETTER, "business dead-letters at once");
    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_UNKNOWN_OUTCOME, 1, -1);
    CHECK_INT(d.action, SYNCRT_ACTION_PROBE, "unknown outcome probes");
    syncrt_retry_decide(&d, &p, &r, SYNCRT_CLASS_OK, 1, -1);
    CHECK_INT(d.action, SYNCRT_ACTION_DONE, "ok is done");
}

static void test_retry_after(void)
{
    int64_t d = -1, t = 0;
    /* 2026-11-27T15:59:00Z */
    int64_t now = INT64_C(1795795140) * 1000;

    CHECK_INT(syncrt_retry_after_parse(&d, "120", now), SYNCRT_OK, "delta-seconds");
    CHECK_INT(d, 120000, "120 s");
    CHECK_INT(syncrt_retry_after_parse(&d, " 0 ", now), SYNCRT_OK, "0 with blanks");
    CHECK_INT(d, 0, "0 s");
    CHECK_INT(syncrt_http_date_parse(&t, "Sun, 06 Nov 1994 08:49:37 GMT"), SYNCRT_OK, "IMF-fixdate");
    CHECK_INT(t, INT64_C(784111777000), "IMF-fixdate value");
    CHECK_INT(syncrt_http_date_parse(&t, "Sunday, 06-Nov-94 08:49:37 GMT"), SYNCRT_OK, "RFC 850 date");
    CHECK_INT(t, INT64_C(784111777000), "RFC 850 value");
    CHECK_INT(syncrt_http_date_parse(&t, "Sun Nov  6 08:49:37 1994"), SYNCRT_OK, "asctime date");
    CHECK_INT(t, INT64_C(784111777000), "asctime value");
    CHECK_INT(syncrt_retry_after_parse(&d, "Fri, 27 Nov 2026 16:00:00 GMT", now), SYNCRT_OK, "date form");
    CHECK_INT(d, 60000, "a date 60 s ahead is a 60 s delay");
    CHECK_INT(syncrt_retry_after_parse(&d, "Fri, 27 Nov 2026 15:00:00 GMT", now), SYNCRT_OK, "past date");
    CHECK_INT(d, 0, "a date in the past means now");
    CHECK_INT(syncrt_retry_after_parse(&d, "-5", now), SYNCRT_EPARSE, "negative refused");
    CHECK_INT(syncrt_retry_after_parse(&d, "1.5", now), SYNCRT_EPARSE, "fraction refused");
    CHECK_INT(syncrt_retry_after_parse(&d, "soon", now), SYNCRT_EPARSE, "words refused");
    CHECK_INT(syncrt_retry_after_parse(&d, "", now), SYNCRT_EPARSE, "empty refused");
    CHECK_INT(syncrt_retry_after_parse(&d, "99999999999999999999", now), SYNCRT_EPARSE, "overflow refused");
    CHECK_INT(syncrt_retry_after_parse(&d, "Fri, 27 Nov 2026 16:00:00 CET", now), SYNCRT_EPARSE,
              "only GMT dates");
    CHECK_INT(syncrt_retry_after_parse(&d, "Fri, 27 Foo 2026 16:00:00 GMT", now), SYNCRT_EPARSE, "bad month");
    CHECK_INT(syncrt_retry_after_parse(&d, "Fri, 27 Nov 2026 16:00:00 GMT junk", now), SYNCRT_EPARSE,
              "trailing junk refused");
}

static void test_limiter(void)
{
    syncrt_limiter l;
    int64_t wait = -1, now = 1000;
    int i, got = 0;

    syncrt_limiter_init(&l, 8, 1, 32, 1000);
    for (i = 0; i < 20; i++)
        if (syncrt_limiter_acquire(&l, &wait, now) == SYNCRT_OK)
            got++;
    CHECK_INT(got, 8, "8 slots at limit 8");
    CHECK_INT(wait, 0, "a full limiter asks to wait for a release, not for time");
    syncrt_limiter_release(&l, SYNCRT_CLASS_TRANSIENT, 1, 2000, now);
    CHECK_INT(syncrt_limiter_limit(&l), 4, "a 429 halves the limit");
    for (i = 0; i < 3; i++)
        syncrt_limiter_release(&l, SYNCRT_CLASS_TRANSIENT, 1, 2000, now + 10);
    CHECK_INT(syncrt_limiter_limit(&l), 4, "429s of the same window halve once");
    CHECK_INT(syncrt_limiter_acquire(&l, &wait, now + 500), SYNCRT_EEMPTY, "blocked during Retry-After");
    CHECK_INT(wait, 1510, "wait until the latest Retry-After has passed");
    for (i = 0; i < 4; i++) /* the 4 still in flight come back fine */
        syncrt_limiter_release(&l, SYNCRT_CLASS_OK, 0, -1, now + 1500);
    CHECK_INT(l.in_flight, 0, "all slots back");
    CHECK_INT(syncrt_limiter_acquire(&l, &wait, now + 2009), SYNCRT_EEMPTY, "still blocked 1 ms before");
    CHECK_INT(syncrt_limiter_acquire(&l, &wait, now + 2010), SYNCRT_OK, "free exactly at Retry-After");
    syncrt_limiter_release(&l, SYNCRT_CLASS_OK, 0, -1, now + 2010);
    CHECK_INT(syncrt_limiter_limit(&l), 5, "a window of successes adds one");
    now += 5000;
    syncrt_limiter_release(&l, SYNCRT_CLASS_TRANSIENT, 1, -1, now);
    now += 5000;
    syncrt_limiter_release(&l, SYNCRT_CLASS_TRANSIENT, 1, -1, now);
    now += 5000;
    syncrt_limiter_release(&l, SYNCRT_CLASS_TRANSIENT, 1, -1, now);
    now += 5000;
    syncrt_limiter_release(&l, SYNCRT_CLASS_TRANSIENT, 1, -1, now);
    CHECK_INT(syncrt_limiter_limit(&l), 1, "never below the minimum");
    CHECK_INT(l.in_flight, 0, "releases never drive in-flight negative");
    for (i = 0; i < 100000; i++)
        syncrt_limiter_release(&l, SYNCRT_CLASS_OK, 0, -1, now);
    CHECK_INT(syncrt_limiter_limit(&l), 32, "never above the maximum");
    syncrt_limiter_release(&l, SYNCRT_CLASS_BUSINESS, 0, -1, now);
    CHECK_INT(syncrt_limiter_limit(&l), 32, "a 4xx does not move the limit");
}

static void test_pacer(void)
{
    syncrt_pacer p;
    int64_t wait = -1, t0 = 1000000, t;
    double r;
    int i, got = 0;

    syncrt_pacer_init(&p, 0, 0, 0);
    CHECK_NEAR(p.rate, 0, 0, "starts unlimited");
    for (i = 0; i < 100; i++)
        if (syncrt_pacer_acquire(&p, &wait, t0) == SYNCRT_OK)
            got++;
    CHECK_INT(got, 100, "unlimited: every start goes at once");
    CHECK_INT(wait, 0, "and nothing waits");

    /* 20 admitted answers per second for 2 s, then a 429 */
    syncrt_pacer_init(&p, 0, 0, 0);
    for (i = 0; i < 40; i++) {
        syncrt_pacer_acquire(&p, &wait, t0 + i * 50);
        syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + i * 50 + 40);
    }
    CHECK_NEAR(syncrt_pacer_measured(&p, t0 + 2000), 20.0, 1e-9, "measured: 40 answers in 2 s = 20/s");
    CHECK_NEAR(syncrt_pacer_measured(&p, t0 + 999), 0, 0, "less than min_span_ms of traffic measures nothing");
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_TRANSIENT, 1, t0 + 2000);
    CHECK_NEAR(p.rate, 18.0, 1e-9, "a 429 sets the rate to 0.9 x the measured 20/s");
    CHECK_NEAR(p.estimate, 0, 0, "no estimate of the limit after an unlimited start");
    CHECK_INT(p.decreases, 1, "one decrease");
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_TRANSIENT, 1, t0 + 2300);
    CHECK_NEAR(p.rate, 18.0, 1e-9, "a 429 of the same decrease interval does not decrease again");
    CHECK_INT(p.throttled, 2, "but is counted");

    /* spacing: 1000/18 = 55.6 ms */
    t = t0 + 3000;
    CHECK_INT(syncrt_pacer_acquire(&p, &wait, t), SYNCRT_OK, "the first start goes");
    CHECK_INT(syncrt_pacer_acquire(&p, &wait, t), SYNCRT_EEMPTY, "the second waits");
    CHECK_INT(wait, 56, "for 1000/18 ms, rounded up");
    CHECK_INT(syncrt_pacer_acquire(&p, &wait, t + 55), SYNCRT_EEMPTY, "not 1 ms early");
    CHECK_INT(wait, 1, "1 ms left");
    CHECK_INT(syncrt_pacer_acquire(&p, &wait, t + 56), SYNCRT_OK, "due: goes");

    /* additive increase while the pacer is the bottleneck */
    r = p.rate;
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t + 100);
    CHECK_NEAR(p.rate, r + 1.0 / r, 1e-9, "an admitted answer under saturation adds increase/rate");
    r = p.rate;
    t = (int64_t)p.next_at + 1000;      /* a start long after it was due: not saturated */
    CHECK_INT(syncrt_pacer_acquire(&p, &wait, t), SYNCRT_OK, "a late start goes");
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t + 50);
    CHECK_NEAR(p.rate, r, 0, "without queueing behind the pacer the rate does not grow");
    syncrt_pacer_release(&p, 0, SYNCRT_CLASS_TRANSIENT, 0, t + 60);
    CHECK_NEAR(p.rate, r, 0, "a transport failure neither grows nor lowers it");
    p.saturated = 1;
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_TRANSIENT, 0, t + 70);
    CHECK_NEAR(p.rate, r, 0, "a 5xx answer does not grow it either");

    /* a 429 while paced: never more than 0.9 x the rate that drew it; estimate */
    syncrt_pacer_init(&p, 0, 0, 0);
    p.rate = 10;
    for (i = 0; i < 100; i++)                 /* 50/s measured (say, before a reconfiguration) */
        syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + i * 20);
    p.active_since = t0;
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_TRANSIENT, 1, t0 + 2000);
    CHECK_NEAR(p.rate, 9.0, 1e-9, "measured 50/s, paced at 10/s: 0.9 x 10");
    CHECK_NEAR(p.estimate, 9.5, 1e-9, "the estimate is 0.95 x the rate that drew the 429");
    p.saturated = 1;
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + 2100);
    CHECK_NEAR(p.rate, 9.0 + 1.0 / 9.0, 1e-9, "below the estimate: +1/s per second");
    p.rate = 9.5;
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + 2200);
    CHECK_NEAR(p.rate, 9.5 + 0.1 / 9.5, 1e-9, "at or above it: +0.1/s per second (probing)");

    /* the window: older answers drop out */
    syncrt_pacer_init(&p, 0, 5000, 0);
    for (i = 0; i < 200; i++)                 /* 20/s for 10 s */
        syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + i * 50);
    for (i = 0; i < 25; i++)                  /* then 5/s for 5 s */
        syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + 10000 + i * 200);
    p.active_since = t0;
    CHECK_NEAR(syncrt_pacer_measured(&p, t0 + 15000), 5.0, 1e-9, "only the last 5 s count: 5/s");

    /* a 429 too early in the traffic measures nothing; the next one does */
    syncrt_pacer_init(&p, 0, 0, 0);
    for (i = 0; i < 10; i++) {
        syncrt_pacer_acquire(&p, &wait, t0 + i * 10);
        syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + i * 10 + 5);
    }
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_TRANSIENT, 1, t0 + 300);
    CHECK_NEAR(p.rate, 0, 0, "a 429 300 ms into the traffic leaves the rate unlimited");
    CHECK_INT(p.decreases, 0, "no decrease");
    syncrt_pacer_acquire(&p, &wait, t0 + 1300);
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + 1400);
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_TRANSIENT, 1, t0 + 1500);
    CHECK_NEAR(p.rate, 0.9 * 11 / 1.5, 1e-9, "the next one, 1.5 s in, measures 11 answers / 1.5 s");

    /* bounds */
    syncrt_pacer_init(&p, 0, 0, 0);
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0);
    p.active_since = t0 - 4000;
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_TRANSIENT, 1, t0 + 1000);
    CHECK_NEAR(p.rate, 0.5, 0, "never below min_rate (measured 0.2/s)");
    syncrt_pacer_init(&p, 12, 0, 0);
    CHECK_NEAR(p.rate, 12, 0, "a configured maximum is the starting rate");
    p.saturated = 1;
    for (i = 0; i < 10000; i++)
        syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + i);
    CHECK_NEAR(p.rate, 12, 0, "and is never passed");
    syncrt_pacer_init(&p, 12, 0, 0);
    for (i = 0; i < 200; i++)
        syncrt_pacer_release(&p, 1, SYNCRT_CLASS_OK, 0, t0 + i * 10);
    p.active_since = t0;
    syncrt_pacer_release(&p, 1, SYNCRT_CLASS_TRANSIENT, 1, t0 + 2000);
    CHECK_NEAR(p.rate, 0.9 * 12, 1e-9, "a 429 under the maximum: 0.9 x min(measured 100/s, 12/s)");
}

static void test_breaker(void)
{
    syncrt_breaker b;
    int64_t wait = -1, now = 0;
    int i;

    syncrt_breaker_init(&b, 3, 10000, 40000);
    for (i = 0; i < 2; i++)
        syncrt_breaker_record(&b, SYNCRT_CLASS_TRANSIENT, 0, now);
    syncrt_breaker_record(&b, SYNCRT_CLASS_OK, 0, now);
    syncrt_breaker_record(&b, SYNCRT_CLASS_TRANSIENT, 0, now);
    syncrt_breaker_record(&b, SYNCRT_CLASS_TRANSIENT, 0, now);
    CHECK_INT(b.state, SYNCRT_BREAKER_CLOSED, "failures must be consecutive");
    syncrt_breaker_record(&b, SYNCRT_CLASS_TRANSIENT, 1, now);
    CHECK_INT(b.state, SYNCRT_BREAKER_CLOSED, "a 429 is not a breaker failure");
    syncrt_breaker_record(&b, SYNCRT_CLASS_TRANSIENT, 0, now);
    CHECK_INT(b.state, SYNCRT_BREAKER_OPEN, "3 in a row open it");
    CHECK_INT(syncrt_breaker_allow(&b, &wait, now + 4000), SYNCRT_ECIRCUIT, "open refuses calls");
    CHECK_INT(wait, 6000, "and says how long");
    CHECK_INT(syncrt_breaker_allow(&b, &wait, now + 10000), SYNCRT_OK, "after open_ms one probe goes");
    CHECK_INT(b.state, SYNCRT_BREAKER_HALF_OPEN, "half-open");
    CHECK_INT(syncrt_breaker_allow(&b, &wait, now + 10001), SYNCRT_ECIRCUIT, "only one probe at a time");
    syncrt_breaker_record(&b, SYNCRT_CLASS_TRANSIENT, 0, now + 11000);
    CHECK_INT(b.state, SYNCRT_BREAKER_OPEN, "a failed probe reopens");
    CHECK_INT(syncrt_breaker_allow(&b, &wait, now + 11000 + 19999), SYNCRT_ECIRCUIT, "for twice as long");
    CHECK_INT(syncrt_breaker_allow(&b, &wait, now + 31000), SYNCRT_OK, "probe after 20 s");
    syncrt_breaker_record(&b, SYNCRT_CLASS_TRANSIENT, 0, now + 31000);
    syncrt_breaker_allow(&b, &wait, now + 71000);
    syncrt_breaker_record(&b, SYNCRT_CLASS_TRANSIENT, 0, now + 71000);
    CHECK_INT(b.current_open_ms, 40000, "open time capped at max_open_ms");
    CHECK_INT(syncrt_breaker_allow(&b, &wait, now + 111000), SYNCRT_OK, "probe");
    syncrt_breaker_record(&b, SYNCRT_CLASS_BUSINESS, 0, now + 111000);
    CHECK_INT(b.state, SYNCRT_BREAKER_CLOSED, "any real answer from the server closes it");
    CHECK_INT(syncrt_breaker_allow(&b, &wait, now + 111001), SYNCRT_OK, "closed lets calls through");
    CHECK_INT(b.current_open_ms, 10000, "open time back to the start");
}

static syncrt_attempt resp(long status)
{
    syncrt_attempt a = { SYNCRT_OK, 1, 1, status, NULL };
    return a;
}

static void test_endpoint(void)
{
    syncrt_endpoint e;
    syncrt_endpoint_config c = { 2, 1, 4, 1000, 3, 10000, 40000 };
    syncrt_attempt a;
    int64_t wait = -1, ra = 0, now = 1000000;
    int i;

    syncrt_endpoint_init(&e, &c);
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now), SYNCRT_OK, "slot 1");
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now), SYNCRT_OK, "slot 2");
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now), SYNCRT_EEMPTY, "limit 2 reached");
    a = resp(429);
    CHECK_INT(syncrt_endpoint_release(&e, &ra, &a, "2", now), SYNCRT_CLASS_TRANSIENT, "a 429 is transient");
    CHECK_INT(ra, 2000, "its Retry-After is reported");
    CHECK_INT(syncrt_limiter_limit(&e.limiter), 1, "and halved the limit");
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now + 1999), SYNCRT_EEMPTY, "nothing goes out before Retry-After");
    CHECK_INT(wait, 1, "1 ms left");
    a = resp(200);
    syncrt_endpoint_release(&e, &ra, &a, NULL, now + 100);
    CHECK_INT(ra, -1, "no Retry-After on a 200");
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now + 2000), SYNCRT_OK, "free at Retry-After");
    a = resp(503);
    syncrt_endpoint_release(&e, &ra, &a, "1", now + 2000);
    CHECK_INT(e.breaker.failures, 0, "a 503 with Retry-After is throttling, not a breaker failure");
    CHECK_NEAR(e.pacer.rate, 0.5, 0, "and lowered the pace: 1 answer in 2 s x 0.9, floored at 0.5/s");
    now += 10000;
    for (i = 0; i < 3; i++) {
        CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now + i * 2000), SYNCRT_OK,
                  "request %d before the breaker opens (one per 2 s at 0.5/s)", i + 1);
        a = resp(500);
        syncrt_endpoint_release(&e, &ra, &a, NULL, now + i * 2000);
        if (i == 0) {
            CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now + 1), SYNCRT_EEMPTY, "the pacer holds the next start");
            CHECK_INT(wait, 1999, "for 1999 ms");
            CHECK_INT(e.limiter.in_flight, 0, "and gave the slot it took back");
        }
    }
    now += 4000;
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now + 2000), SYNCRT_ECIRCUIT, "3 failures opened the breaker");
    CHECK_INT(e.limiter.in_flight, 0, "the refused acquire gave its limiter slot back");
    CHECK_NEAR(e.pacer.next_at, (double)now + 2000, 1e-6, "and used up no start of the pacer");
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now + 10000), SYNCRT_OK, "the half-open probe goes");
    CHECK(syncrt_endpoint_acquire(&e, &wait, now + 12000) != SYNCRT_OK, "one probe only");
    CHECK_INT(e.limiter.in_flight, 1, "only the probe holds a slot");
    a = resp(201);
    syncrt_endpoint_release(&e, &ra, &a, NULL, now + 10050);
    CHECK_INT(e.breaker.state, SYNCRT_BREAKER_CLOSED, "its success closes the breaker");
    CHECK_INT(e.limiter.in_flight, 0, "and frees its slot");
    syncrt_endpoint_pace(&e, 7, 0);
    CHECK_NEAR(e.pacer.rate, 7, 0, "a configured ceiling is the pace from then on");
}

/* The gate in closed loop, in simulated time: a token-bucket server like the sandbox's
 * (sandbox/sb_faults.c: rate L/s, burst B, 429 at once with Retry-After 1 s, growing by 1 s per
 * 429 in a row up to 4 s) and K workers that each send one request at a time through one
 * endpoint (150 ms to answer plus 0-20 ms of jitter, 30 ms of work between requests, 5 ms
 * polls while no slot is free, waits of at most 100 ms: gate_acquire in runtime/engine.c).
 * pace 0 holds the pacer at unlimited (the gate before pacing). */
typedef struct {
    long starts, admitted, admitted_late, throttled, violations;
    double late_rate;           /* admitted per second over the second half */
} gate_sim;

static void run_gate_sim(gate_sim *out, int pace, double limit, double burst, int workers,
                         int64_t duration_ms)
{
    syncrt_endpoint e;
    syncrt_endpoint_config c = { 4, 1, 8, 1000, 5, 5000, 300000 };
    syncrt_rng rng;
    int64_t t0 = 1700000000000LL, ready[16], answer_at[16], blocked_until = 0;
    double tokens = burst, last_fill = (double)t0;
    int in_row = 0, i;

    memset(out, 0, sizeof *out);
    syncrt_endpoint_init(&e, &c);
    syncrt_rng_seed(&rng, 7);
    for (i = 0; i < workers; i++) {
        ready[i] = t0;
        answer_at[i] = -1;
    }
    for (;;) {
        int64_t t = INT64_MAX, wait = 0;
        int w = -1, answering = 0;
        for (i = 0; i < workers; i++) {
            int64_t at = answer_at[i] >= 0 ? answer_at[i] : ready[i];
            if (at < t) {
                t = at;
                w = i;
                answering = answer_at[i] >= 0;
            }
        }
        if (t >= t0 + duration_ms)
            break;
        if (answering) {                  /* the admitted request is answered */
            syncrt_attempt a = { SYNCRT_OK, 1, 1, 200, NULL };
            int64_t ra = -1;
            syncrt_endpoint_release(&e, &ra, &a, NULL, t);
            answer_at[w] = -1;
            ready[w] = t + 30;
            continue;
        }
        if (!pace)
            e.pacer.rate = 0;
        if (syncrt_endpoint_acquire(&e, &wait, t) != SYNCRT_OK) {
            ready[w] = t + (wait > 0 ? (wait < 100 ? wait : 100) : 5);
            continue;
        }
        out->starts++;
        if (t < blocked_until)
            out->violations++;            /* sent inside a Retry-After the gate had been told */
        tokens += ((double)t - last_fill) * limit / 1000.0;
        if (tokens > burst)
            tokens = burst;
        last_fill = (double)t;
        if (tokens < 1) {                 /* 429, answered at once */
            syncrt_attempt a = { SYNCRT_OK, 1, 0, 429, NULL };
            char hdr[16];
            int64_t ra = -1;
            snprintf(hdr, sizeof hdr, "%d", 1 + (in_row < 3 ? in_row : 3));
            in_row++;
            out->throttled++;
            syncrt_endpoint_release(&e, &ra, &a, hdr, t);
            if (t + ra > blocked_until)
                blocked_until = t + ra;
            ready[w] = t + 1;
            continue;
        }
        tokens -= 1;
        in_row = 0;
        out->admitted++;
        if (t >= t0 + duration_ms / 2)
            out->admitted_late++;
        answer_at[w] = t + 150 + syncrt_rng_upto(&rng, 20);
    }
    out->late_rate = (double)out->admitted_late * 2000.0 / (double)duration_ms;
}

static void test_gate_sim(void)
{
    gate_sim before, after, slow, many;

    run_gate_sim(&before, 0, 15, 5, 4, 120000);
    run_gate_sim(&after, 1, 15, 5, 4, 120000);
    printf("# 15/s, burst 5, 4 workers, 120 s: before %ld admitted, %ld 429s, %.2f/s in the "
           "second minute; paced %ld admitted, %ld 429s, %.2f/s\n", before.admitted,
           before.throttled, before.late_rate, after.admitted, after.throttled, after.late_rate);
    CHECK_INT(before.violations, 0, "unpaced: nothing sent inside a Retry-After");
    CHECK_INT(after.violations, 0, "paced: nothing sent inside a Retry-After");
    CHECK(after.late_rate >= 0.9 * 15, "paced: at least 90%% of 15/s once settled (%.2f/s)", after.late_rate);
    CHECK(after.late_rate <= 15 + 5.0 / 60, "and never more than the server admits (%.2f/s)", after.late_rate);
    CHECK(after.admitted > before.admitted, "more requests admitted than without pacing (%ld > %ld)",
          after.admitted, before.admitted);
    CHECK(after.throttled * 4 <= before.throttled, "at most a quarter of the 429s (%ld vs %ld)",
          after.throttled, before.throttled);

    run_gate_sim(&slow, 1, 3, 2, 4, 120000);
    printf("# 3/s, burst 2: %ld admitted, %ld 429s, %.2f/s in the second minute\n", slow.admitted,
           slow.throttled, slow.late_rate);
    CHECK_INT(slow.violations, 0, "3/s: nothing sent inside a Retry-After");
    CHECK(slow.late_rate >= 0.85 * 3, "3/s: at least 85%% of it once settled (%.2f/s)", slow.late_rate);

    run_gate_sim(&many, 1, 40, 10, 8, 120000);
    printf("# 40/s, burst 10, 8 workers: %ld admitted, %ld 429s, %.2f/s in the second minute\n",
           many.admitted, many.throttled, many.late_rate);
    CHECK_INT(many.violations, 0, "40/s: nothing sent inside a Retry-After");
    CHECK(many.late_rate >= 0.85 * 40, "40/s: at least 85%% of it once settled (%.2f/s)", many.late_rate);
}

/* d365.max_requests_per_s: the pacer's ceiling from the configuration file. */
static void test_config_rate(void)
{
    static const struct { const char *d365; int ok, want; const char *msg; } cases[] = {
        { "{\"url\": \"http://x\"}", 1, 0, NULL },
        { "{\"url\": \"http://x\", \"max_requests_per_s\": 12}", 1, 12, NULL },
        { "{\"url\": \"http://x\", \"max_requests_per_s\": 0}", 1, 0, NULL },
        { "{\"url\": \"http://x\", \"max_requests_per_s\": -1}", 0, 0,
          "t: d365.max_requests_per_s: expected an integer >= 0" },
        { "{\"url\": \"http://x\", \"max_requests_per_s\": \"15\"}", 0, 0,
          "t: d365.max_requests_per_s: expected an integer >= 0" },
        { "{\"url\": \"http://x\", \"max_requests_per_s\": 2000000}", 0, 0,
          "t: d365.max_requests_per_s: expected an integer <= 1000000" },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        syncrt_config *c = NULL;
        syncrt_error err = { SYNCRT_OK, "" };
        syncrt_status st;
        snprintf(text, sizeof text, "{\"d365\": %s}", cases[i].d365);
        st = syncrt_config_parse(&c, text, "t", NULL, &err);
        if (cases[i].ok)
            CHECK(st == SYNCRT_OK && c && c->d365_max_rate == cases[i].want,
                  "config %s: max rate %d (%s)", cases[i].d365, cases[i].want,
                  st == SYNCRT_OK ? "read" : err.message);
        else
            CHECK(st != SYNCRT_OK && !c && strstr(err.message, cases[i].msg) != NULL,
                  "config %s refused: %s", cases[i].d365, err.message);
        syncrt_config_free(c);
    }
}

int main(void)
{
    test_classify();
    test_backoff();
    test_decide();
    test_retry_after();
    test_limiter();
    test_pacer();
    test_breaker();
    test_endpoint();
    test_gate_sim();
    test_config_rate();
    return test_done();
}
