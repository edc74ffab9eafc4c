/* test_retry.c - the retry module, deterministically: classification table, seeded full
 * jitter within its ceilings, decisions per class, Retry-After in both forms, the AIMD
 * limiter and the circuit breaker on an injected clock. */
#include "syncrt/retry.h"
#include "testhelp.h"

#include <stdlib.h>

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
    now += 10000;
    for (i = 0; i < 3; i++) {
        CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now), SYNCRT_OK, "request %d before the breaker opens", i + 1);
        a = resp(500);
        syncrt_endpoint_release(&e, &ra, &a, NULL, now);
    }
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now + 1), SYNCRT_ECIRCUIT, "3 failures opened the breaker");
    CHECK_INT(e.limiter.in_flight, 0, "the refused acquire gave its limiter slot back");
    CHECK_INT(syncrt_endpoint_acquire(&e, &wait, now + 10000), SYNCRT_OK, "the half-open probe goes");
    CHECK(syncrt_endpoint_acquire(&e, &wait, now + 10000) != SYNCRT_OK, "one probe only");
    CHECK_INT(e.limiter.in_flight, 1, "only the probe holds a slot");
    a = resp(201);
    syncrt_endpoint_release(&e, &ra, &a, NULL, now + 10050);
    CHECK_INT(e.breaker.state, SYNCRT_BREAKER_CLOSED, "its success closes the breaker");
    CHECK_INT(e.limiter.in_flight, 0, "and frees its slot");
}

int main(void)
{
    test_classify();
    test_backoff();
    test_decide();
    test_retry_after();
    test_limiter();
    test_breaker();
    test_endpoint();
    return test_done();
}
