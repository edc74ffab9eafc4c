/* test_worker.c - settling claimed records on a real store with an injected clock: delivered,
 * 429 with Retry-After (due exactly then), 503 with backoff, retries exhausted, validation and
 * business failures, local validation errors, auth pauses that burn no attempt, and the
 * unknown-outcome protocol (probe, then found -> delivered, not found -> resent now), fed
 * from $batch results as well. */
#include "syncrt/worker.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { int64_t now; } fake_clock;
static int64_t fake_now(void *ctx) { return ((fake_clock *)ctx)->now; }

static fake_clock clk = { 5000000 };
static syncrt_store *store;
static char dir[256], path[512];

static syncrt_inbox_record *claim_one(const char *key)
{
    static syncrt_inbox_record *recs;
    size_t n = 0, i;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_store_records_free(recs, 1);
    recs = NULL;
    if (!key)
        return NULL;
    if (syncrt_store_claim(store, &recs, &n, "f", "w", 60000, 100, &err) != SYNCRT_OK)
        return NULL;
    {
        syncrt_inbox_record *one = NULL;
        for (i = 0; i < n; i++) {
            if (!one && strcmp(recs[i].dedup_key, key) == 0) {
                one = malloc(sizeof *one);
                *one = recs[i];
                memset(&recs[i], 0, sizeof recs[i]);
            } else {
                syncrt_store_release(store, recs[i].id, "w", clk.now, &err);   /* not ours to test */
            }
        }
        syncrt_store_records_free(recs, n);
        recs = one;     /* freed at the next call; the claim cycle of one record at a time */
        return one;
    }
}

static void add(const char *key)
{
    syncrt_enqueue_item it = { key, NULL, "{}", 2 };
    syncrt_store_enqueue(store, NULL, "f", &it, NULL);
}

static syncrt_outcome http_outcome(long status, const char *body, int64_t ra)
{
    syncrt_outcome o;
    memset(&o, 0, sizeof o);
    o.attempt.transport = SYNCRT_OK;
    o.attempt.request_sent = 1;
    o.attempt.http_status = status;
    o.attempt.body = body;
    o.retry_after_ms = ra;
    o.error_text = body;
    return o;
}

static char *dlq_field(int64_t id, int reason)
{
    static char buf[600];
    syncrt_dead_letter *d = NULL;
    buf[0] = '\0';
    if (syncrt_store_dlq_show(store, &d, id, NULL) == SYNCRT_OK) {
        snprintf(buf, sizeof buf, "%s", reason ? d->reason : (d->last_error ? d->last_error : ""));
        syncrt_store_dead_letters_free(d, 1);
    }
    return buf;
}

int main(void)
{
    syncrt_store_options so = { fake_now, &clk, 0 };
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_rng rng;
    syncrt_settler s;
    syncrt_settled sd;
    syncrt_inbox_record *r;
    syncrt_outcome o;
    char *t = NULL;
    int64_t id;
    int i;

    snprintf(dir, sizeof dir, "%s/syncrt-worker-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/w.db", dir);
    if (syncrt_store_open(&store, path, &so, &err) != SYNCRT_OK) {
        CHECK(0, "store: %s", err.message);
        return test_done();
    }
    syncrt_rng_seed(&rng, 99);
    memset(&s, 0, sizeof s);
    s.store = store;
    s.worker = "w";
    s.policy.max_attempts = 3;
    s.policy.base_ms = 1000;
    s.policy.cap_ms = 10000;
    s.rng = &rng;
    s.clock = fake_now;
    s.clock_ctx = &clk;

    add("ok");
    r = claim_one("ok");
    o = http_outcome(201, NULL, -1);
    o.delivery.target_key = "WEB-1";
    o.delivery.mapping_version = "v1";
    CHECK_INT(syncrt_settle(&sd, &s, r, &o, &err), SYNCRT_OK, "settle a 201");
    CHECK_INT(sd.action, SYNCRT_ACTION_DONE, "delivered");
    syncrt_store_target_key(store, &t, "f", "ok", &err);
    CHECK_STR(t, "WEB-1", "its target key is in the idempotency map");
    free(t);

    add("throttled");
    r = claim_one("throttled");
    o = http_outcome(429, NULL, 5000);
    syncrt_settle(&sd, &s, r, &o, &err);
    CHECK_INT(sd.action, SYNCRT_ACTION_RETRY, "a 429 retries");
    clk.now += 4999;
    CHECK(claim_one("throttled") == NULL, "not due 1 ms before its Retry-After");
    clk.now += 1;
    r = claim_one("throttled");
    CHECK(r != NULL, "due exactly at its Retry-After");
    if (!r)
        goto out;
    CHECK_INT(r->attempts, 1, "the throttled attempt was not burned (a long throttle never exhausts retries)");
    o = http_outcome(503, "{\"error\":{\"message\":\"busy\"}}", -1);
    for (i = 1; i < 3 && r; i++) {
        syncrt_settle(&sd, &s, r, &o, &err);
        CHECK(sd.action == SYNCRT_ACTION_RETRY && sd.attempt_burned, "a 503 retries (attempt %d of 3)", i);
        r = NULL;
        for (int k = 0; k < 3 && !(r = claim_one("throttled")); k++)
            clk.now += 1000;                          /* within the backoff ceiling */
    }
    CHECK(r != NULL && r->attempts == 3, "claimed again within the backoff ceiling (attempt 3)");
    if (!r)
        goto out;
    id = r->id;
    syncrt_settle(&sd, &s, r, &o, &err);
    CHECK_INT(sd.action, SYNCRT_ACTION_DEAD_LETTER, "the third transient failure dead-letters");
    CHECK_STR(dlq_field(id, 1), "retries exhausted (transient)", "reason: retries exhausted (transient)");
    CHECK(strstr(dlq_field(id, 0), "HTTP 503") != NULL, "last error kept: %s", dlq_field(id, 0));

    add("invalid400");
    r = claim_one("invalid400");
    id = r ? r->id : 0;
    o = http_outcome(400, "{\"error\":{\"innererror\":{\"message\":\"Field 'Customer account' must be filled in.\"}}}", -1);
    syncrt_settle(&sd, &s, r, &o, &err);
    CHECK_INT(sd.action, SYNCRT_ACTION_DEAD_LETTER, "a 400 with validation text dead-letters at once");
    CHECK_STR(dlq_field(id, 1), "validation error", "reason: validation error");

    add("business");
    r = claim_one("business");
    id = r ? r->id : 0;
    o = http_outcome(409, "conflict", -1);
    syncrt_settle(&sd, &s, r, &o, &err);
    CHECK_STR(dlq_field(id, 1), "business rule violation", "a 409 is a business rule violation");

    add("local");
    r = claim_one("local");
    id = r ? r->id : 0;
    memset(&o, 0, sizeof o);
    o.invalid = 1;
    o.error_text = "$.SalesItems[0].Sku: required";
    syncrt_settle(&sd, &s, r, &o, &err);
    CHECK_INT(sd.action, SYNCRT_ACTION_DEAD_LETTER, "a record the validator refused is dead-lettered unsent");
    CHECK_STR(dlq_field(id, 0), "$.SalesItems[0].Sku: required", "with the validator's text");

    add("auth");
    r = claim_one("auth");
    CHECK(r && r->attempts == 1, "first claim of auth");
    o = http_outcome(401, NULL, -1);
    syncrt_settle(&sd, &s, r, &o, &err);
    CHECK_INT(sd.action, SYNCRT_ACTION_PAUSE, "a 401 pauses");
    clk.now += 10000;                                 /* the pause lasts the policy cap */
    r = claim_one("auth");
    CHECK(r && r->attempts == 1, "the paused record burned no attempt");
    o = http_outcome(200, NULL, -1);
    syncrt_settle(&sd, &s, r, &o, &err);

    /* unknown outcome, found */
    add("unknown1");
    r = claim_one("unknown1");
    id = r ? r->id : 0;
    memset(&o, 0, sizeof o);
    o.attempt.transport = SYNCRT_ETIMEOUT;
    o.attempt.request_sent = 1;
    o.retry_after_ms = -1;
    CHECK_INT(syncrt_settle(&sd, &s, r, &o, &err), SYNCRT_OK, "settle a timeout after a write went out");
    CHECK_INT(sd.action, SYNCRT_ACTION_PROBE, "asks for a probe");
    CHECK_INT(syncrt_store_renew(store, id, "w", 60000, &err), SYNCRT_OK, "and leaves the record leased to us");
    syncrt_outcome_probe(&o, 1, "WEB-77");
    syncrt_settle(&sd, &s, r, &o, &err);
    CHECK_INT(sd.action, SYNCRT_ACTION_DONE, "found by key: delivered, not resent");
    syncrt_store_target_key(store, &t, "f", "unknown1", &err);
    CHECK_STR(t, "WEB-77", "with the probed key");
    free(t);

    /* unknown outcome from a $batch answer, not found */
    add("unknown2");
    r = claim_one("unknown2");
    {
        syncrt_batch_result br;
        char buf[256];
        memset(&br, 0, sizeof br);
        br.status = 0;
        br.body = "";
        syncrt_outcome_from_batch(&o, &br, buf, sizeof buf);
        syncrt_settle(&sd, &s, r, &o, &err);
        CHECK_INT(sd.action, SYNCRT_ACTION_PROBE, "an operation the $batch answer left out needs a probe");
        syncrt_outcome_probe(&o, 0, NULL);
        syncrt_settle(&sd, &s, r, &o, &err);
        CHECK_INT(sd.action, SYNCRT_ACTION_RETRY, "not found: resend");
        r = claim_one("unknown2");
        CHECK(r != NULL, "due at once");
        br.status = 400;
        br.body = "{\"error\":{\"code\":\"\",\"message\":\"An error has occurred.\",\"innererror\":{\"message\":"
                  "\"Write failed for table row of type 'SalesLine'. Infolog: Item number 'X' does not exist.\"}}}";
        syncrt_outcome_from_batch(&o, &br, buf, sizeof buf);
        id = r ? r->id : 0;
        syncrt_settle(&sd, &s, r, &o, &err);
        CHECK_INT(sd.action, SYNCRT_ACTION_DEAD_LETTER, "a failed $batch operation dead-letters");
        CHECK(strstr(dlq_field(id, 0), "Item number 'X' does not exist") != NULL,
              "with F&O's innererror text: %s", dlq_field(id, 0));
    }
    CHECK_INT(syncrt_store_check(store, &err), SYNCRT_OK, "store invariants hold (%s)", err.message);
out:
    claim_one(NULL);
    syncrt_store_close(store);
    {
        char p[600];
        unlink(path);
        snprintf(p, sizeof p, "%s-wal", path);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", path);
        unlink(p);
        rmdir(dir);
    }
    return test_done();
}
