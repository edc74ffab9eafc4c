/* test_sandbox.c - the runtime against build/sandbox's D365 F&O emulator over real sockets
 * (suite.sh starts it with 7-row pages and exports SYNCRT_TEST_D365): OAuth2 v1 and v2 at
 * /sandbox/oauth2/..., a revoked and an expired token replaced after one 401, a wrong secret
 * refused with Entra's reason, nextLink paging compared with $count, a $batch whose good
 * changeset lands whole while the bad one lands not at all with every part mapped back to its
 * record, an unknown outcome (connection dropped after the commit) resolved by probing the
 * key instead of resending, and paging through 429 throttling with Retry-After honoured. */
#include "syncrt/auth.h"
#include "syncrt/odata.h"
#include "syncrt/retry.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *d365;
static char root[256], scope[256], v2url[256], v1url[256];

static char *u(const char *path)
{
    static char buf[8][1024];
    static int i;
    char *s = buf[i++ % 8];
    snprintf(s, 1024, "%s%s", d365, path);
    return s;
}

static long plain(syncrt_http *h, const char *method, const char *path, const char *body, char **out)
{
    syncrt_http_response r;
    const char *hdrs[] = { "Content-Type: application/json", NULL };
    syncrt_http_request req = { method, u(path), hdrs, body, body ? strlen(body) : 0, NULL, NULL, NULL, 0, 0 };
    long status = -1;
    if (syncrt_http_do(h, &r, &req, NULL) == SYNCRT_OK)
        status = r.status;
    if (out) {
        *out = r.body;
        r.body = NULL;
    }
    syncrt_http_response_clear(&r);
    return status;
}

static syncrt_auth *oauth(syncrt_http *h, int v1, const char *secret)
{
    syncrt_auth_config c;
    syncrt_auth *a = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_OAUTH2;
    c.token_url = v1 ? v1url : v2url;
    c.client_id = "sync-client";
    c.client_secret = secret;
    if (v1)
        c.resource = d365;
    else
        c.scope = scope;
    if (syncrt_auth_new(&a, h, &c, &err) != SYNCRT_OK)
        printf("# auth_new: %s\n", err.message);
    return a;
}

static long authed(syncrt_auth *a, const char *method, const char *path, const char *body, char **out,
                   syncrt_status *st)
{
    syncrt_http_response r;
    syncrt_error err = { SYNCRT_OK, "" };
    const char *hdrs[] = { "Content-Type: application/json", "Accept: application/json", NULL };
    syncrt_http_request req = { method, u(path), hdrs, body, body ? strlen(body) : 0, NULL, NULL, NULL, 0, 0 };
    long status;
    *st = syncrt_auth_do(a, &r, &req, &err);
    status = r.status;
    if (*st != SYNCRT_OK)
        printf("# %s %s: %s\n", method, path, err.message);
    if (out) {
        *out = r.body;
        r.body = NULL;
    }
    syncrt_http_response_clear(&r);
    return status;
}

static void test_auth(syncrt_http *h)
{
    syncrt_auth *a = oauth(h, 0, "sync-secret"), *b;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_status st;
    const char *line;

    if (!a)
        return;
    CHECK_INT(authed(a, "GET", "/data/CustomersV3?$top=1", NULL, NULL, &st), 200, "v2 token opens /data");
    CHECK_INT(plain(h, "POST", "/_sandbox/revoke", NULL, NULL), 200, "revoke every token");
    CHECK_INT(authed(a, "GET", "/data/CustomersV3?$top=1", NULL, NULL, &st), 200,
              "a revoked token is replaced after one 401");
    CHECK_INT(syncrt_auth_fetch_count(a), 2, "one refetch");
    plain(h, "POST", "/_sandbox/expire", NULL, NULL);
    CHECK_INT(authed(a, "GET", "/data/CustomersV3?$top=1", NULL, NULL, &st), 200,
              "a token expiring mid-run is refreshed transparently");
    CHECK_INT(syncrt_auth_fetch_count(a), 3, "one refetch again");
    syncrt_auth_free(a);

    b = oauth(h, 1, "sync-secret");
    if (b) {
        CHECK_INT(authed(b, "GET", "/data/CustomersV3?$top=1", NULL, NULL, &st), 200,
                  "v1 resource= token opens /data");
        syncrt_auth_free(b);
    }
    b = oauth(h, 0, "not-the-secret");
    if (b) {
        CHECK_INT(syncrt_auth_header(b, &line, &err), SYNCRT_EAUTH, "a wrong secret is EAUTH");
        CHECK(strstr(err.message, "AADSTS") != NULL, "with Entra's reason: %s", err.message);
        syncrt_auth_free(b);
    }
}

typedef struct { long rows; int etags; } count_state;

static int count_row(void *ctx, json_t *row)
{
    count_state *s = ctx;
    s->rows++;
    if (json_is_string(json_object_get(row, "@odata.etag")))
        s->etags++;
    return 0;
}

static void test_paging(syncrt_http *h, syncrt_auth *a)
{
    syncrt_odata_pager p;
    syncrt_odata_page_stats stats;
    syncrt_error err = { SYNCRT_OK, "" };
    count_state cs = { 0, 0 };
    char *url = NULL, *count_text = NULL;
    syncrt_odata_query q;
    syncrt_status st;
    long expected;

    memset(&q, 0, sizeof q);
    q.select = "dataAreaId,CustomerAccount";
    syncrt_odata_url(&url, root, "CustomersV3", &q, &err);
    memset(&p, 0, sizeof p);
    p.http = h;
    p.auth = a;
    st = syncrt_odata_stream(&stats, &p, url, count_row, &cs, &err);
    CHECK_INT(st, SYNCRT_OK, "stream CustomersV3 (%s)", err.message);
    authed(a, "GET", "/data/CustomersV3/$count", NULL, &count_text, &st);
    expected = count_text ? atol(count_text) : -1;
    CHECK(expected > 7, "more customers than one page (%ld)", expected);
    CHECK_INT(cs.rows, expected, "every customer once across the nextLink pages");
    CHECK_INT(stats.pages, (expected + 6) / 7, "pages of 7");
    CHECK_INT(cs.etags, cs.rows, "each row kept its @odata.etag");
    syncrt_odata_page_stats_clear(&stats);
    free(count_text);
    free(url);
}

static void order_json(char *buf, size_t n, const char *order)
{
    snprintf(buf, n, "{\"dataAreaId\":\"usmf\",\"SalesOrderNumber\":\"%s\",\"OrderingCustomerAccountNumber\":"
             "\"US-001\",\"InvoiceCustomerAccountNumber\":\"US-001\",\"CurrencyCode\":\"USD\","
             "\"LanguageId\":\"en-us\"}", order);
}

static void line_json(char *buf, size_t n, const char *order, const char *item)
{
    snprintf(buf, n, "{\"dataAreaId\":\"usmf\",\"SalesOrderNumber\":\"%s\",\"ItemNumber\":\"%s\","
             "\"OrderedSalesQuantity\":2,\"SalesPrice\":10.5}", order, item);
}

/* The key path of an order, relative to the service root (for $batch) or, with data set,
 * from the host ("/data/...", for direct requests). */
static char *order_path(const char *order, int data)
{
    static char buf[2][300];
    char *path = NULL;
    syncrt_odata_key k[2] = { { "dataAreaId", "usmf", SYNCRT_ODATA_STRING, NULL },
                              { "SalesOrderNumber", order, SYNCRT_ODATA_STRING, NULL } };
    syncrt_odata_key_path(&path, "SalesOrderHeadersV2", k, 2, NULL);
    snprintf(buf[data], sizeof buf[data], "%s%s", data ? "/data/" : "", path ? path : "");
    free(path);
    return buf[data];
}

static void test_batch(syncrt_http *h, syncrt_auth *a)
{
    syncrt_batch *b = NULL;
    syncrt_batch_result *res = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    char good[64], bad[64], j[512], path[256], *body = NULL, *ct = NULL, ctline[300];
    size_t len = 0, n = 0;
    syncrt_http_response r;
    syncrt_status st;
    const char *line = NULL;
    const char *hdrs[4];
    syncrt_http_request req;
    char *lines_body = NULL;

    snprintf(good, sizeof good, "WEB-T%ld-1", (long)getpid());
    snprintf(bad, sizeof bad, "WEB-T%ld-2", (long)getpid());
    syncrt_batch_new(&b, root, &err);
    syncrt_batch_changeset_begin(b, &err);
    order_json(j, sizeof j, good);
    syncrt_batch_add(b, NULL, 101, "POST", "SalesOrderHeadersV2", j, NULL, &err);
    line_json(j, sizeof j, good, "A0001");
    syncrt_batch_add(b, NULL, 102, "POST", "SalesOrderLines", j, NULL, &err);
    syncrt_batch_changeset_end(b, &err);
    syncrt_batch_changeset_begin(b, &err);
    order_json(j, sizeof j, bad);
    syncrt_batch_add(b, NULL, 201, "POST", "SalesOrderHeadersV2", j, NULL, &err);
    line_json(j, sizeof j, bad, "NO-SUCH-ITEM");
    syncrt_batch_add(b, NULL, 202, "POST", "SalesOrderLines", j, NULL, &err);
    syncrt_batch_changeset_end(b, &err);
    snprintf(path, sizeof path, "%s", order_path(good, 0));
    syncrt_batch_add(b, NULL, 301, "GET", path, NULL, NULL, &err);
    CHECK_INT(syncrt_batch_body(&body, &len, &ct, b, &err), SYNCRT_OK, "batch body");

    snprintf(ctline, sizeof ctline, "Content-Type: %s", ct);
    if (syncrt_auth_header(a, &line, &err) != SYNCRT_OK) {
        CHECK(0, "token: %s", err.message);
        goto out;
    }
    hdrs[0] = ctline;
    hdrs[1] = "Accept: multipart/mixed";
    hdrs[2] = line;
    hdrs[3] = NULL;
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = u("/data/$batch");
    req.headers = hdrs;
    req.body = body;
    req.body_len = len;
    st = syncrt_http_do(h, &r, &req, &err);
    CHECK_INT(st, SYNCRT_OK, "POST /data/$batch (%s)", err.message);
    CHECK_INT(r.status, 200, "the outer answer is 200 although a changeset failed");
    st = syncrt_batch_parse(&res, &n, b, syncrt_http_response_header(&r, "Content-Type"), r.body, r.body_len, &err);
    CHECK_INT(st, SYNCRT_OK, "answer parses (%s)", err.message);
    if (st == SYNCRT_OK && n == 5) {
        syncrt_odata_error_info e;
        CHECK(res[0].tag == 101 && res[0].status == 201, "header of the good order: 201 (%ld)", res[0].status);
        CHECK(res[1].tag == 102 && res[1].status == 201, "its line: 201 (%ld)", res[1].status);
        CHECK(res[2].tag == 201 && res[2].status >= 400 && res[2].changeset_failed,
              "header of the bad order fails with its changeset (%ld)", res[2].status);
        CHECK(res[3].tag == 202 && res[3].status == res[2].status, "and its line too");
        syncrt_odata_error_parse(&e, res[3].body, strlen(res[3].body));
        CHECK(strstr(syncrt_odata_error_text(&e), "NO-SUCH-ITEM") != NULL || strstr(res[3].body, "NO-SUCH-ITEM"),
              "the reason names the unknown item: %s", syncrt_odata_error_text(&e));
        CHECK(res[4].tag == 301 && res[4].status == 200 && strstr(res[4].body, good) != NULL,
              "the GET after the changeset sees the good order");
    } else {
        CHECK(0, "5 results (got %zu)", n);
    }
    syncrt_http_response_clear(&r);
    CHECK_INT(authed(a, "GET", order_path(bad, 1), NULL, NULL, &st), 404, "the bad order did not land at all");
    {
        char q[300];
        snprintf(q, sizeof q, "/data/SalesOrderLines?$filter=SalesOrderNumber%%20eq%%20%%27%s%%27", good);
        authed(a, "GET", q, NULL, &lines_body, &st);
        CHECK(lines_body && strstr(lines_body, "A0001") != NULL, "the good order landed with its line");
        free(lines_body);
    }
out:
    syncrt_batch_results_free(res, n);
    free(body);
    free(ct);
    syncrt_batch_free(b);
}

/* The sandbox commits a create then drops the connection: the runtime sees an unknown
 * outcome and probes the deterministic key instead of sending the create again. */
static void test_unknown_outcome(syncrt_http *h, syncrt_auth *a)
{
    char order[64], j[512], *count = NULL, q[300];
    syncrt_http_response r;
    syncrt_error err = { SYNCRT_OK, "" };
    const char *line = NULL;
    const char *hdrs[4] = { "Content-Type: application/json", "Accept: application/json", NULL, NULL };
    syncrt_http_request req;
    syncrt_attempt at;
    syncrt_status st;
    long probe;

    snprintf(order, sizeof order, "WEB-U%ld", (long)getpid());
    order_json(j, sizeof j, order);
    CHECK_INT(plain(h, "PUT", "/_sandbox/faults", "{\"drop_next\":1}", NULL), 200, "arm: drop the next write");
    syncrt_auth_header(a, &line, &err);
    hdrs[2] = line;
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = u("/data/SalesOrderHeadersV2");
    req.headers = hdrs;
    req.body = j;
    req.body_len = strlen(j);
    st = syncrt_http_do(h, &r, &req, &err);
    CHECK(st != SYNCRT_OK && r.request_sent, "the create got no answer after it was sent (%s)", err.message);
    if (st == SYNCRT_OK)
        printf("# got HTTP %ld: %.300s\n", r.status, r.body ? r.body : "");
    at.transport = r.transport;
    at.request_sent = r.request_sent;
    at.idempotent = 0;
    at.http_status = r.status;
    at.body = r.body;
    CHECK_INT(syncrt_retry_classify(&at), SYNCRT_CLASS_UNKNOWN_OUTCOME, "classified as unknown outcome");
    syncrt_http_response_clear(&r);
    probe = authed(a, "GET", order_path(order, 1), NULL, NULL, &st);
    CHECK_INT(probe, 200, "the probe by key finds the committed order: nothing is resent");
    snprintf(q, sizeof q, "/data/SalesOrderHeadersV2/$count?$filter=SalesOrderNumber%%20eq%%20%%27%s%%27", order);
    authed(a, "GET", q, NULL, &count, &st);
    CHECK_STR(count, "1", "exactly one order with that number");
    free(count);
    plain(h, "DELETE", "/_sandbox/faults", NULL, NULL);
}

typedef struct { int count; int64_t total; int64_t delays[64]; } real_sleeps;

static void recording_sleep(void *ctx, int64_t ms)
{
    real_sleeps *s = ctx;
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    if (s->count < 64)
        s->delays[s->count] = ms;
    s->count++;
    s->total += ms;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void test_throttled_paging(syncrt_http *h, syncrt_auth *a)
{
    json_int_t injected_before = 0;
    syncrt_odata_pager p;
    syncrt_odata_page_stats stats;
    syncrt_error err = { SYNCRT_OK, "" };
    count_state cs = { 0, 0 };
    real_sleeps rs;
    char *url = NULL, *faults = NULL;
    syncrt_odata_query q;
    syncrt_status st;
    int i, whole_seconds = 1;
    json_t *doc;

    memset(&rs, 0, sizeof rs);
    memset(&q, 0, sizeof q);
    q.select = "dataAreaId,ItemNumber";
    q.top = 35;
    syncrt_odata_url(&url, root, "ReleasedProductsV2", &q, &err);
    memset(&p, 0, sizeof p);
    p.http = h;
    p.auth = a;
    p.sleep = recording_sleep;
    p.sleep_ctx = &rs;
    p.policy.max_attempts = 10;
    p.policy.base_ms = 100;
    p.policy.cap_ms = 2000;
    {   /* the sandbox's 429 counter is cumulative: remember where it stood */
        char *before = NULL;
        json_t *bd;
        plain(h, "GET", "/_sandbox/faults", NULL, &before);
        bd = before ? json_loads(before, 0, NULL) : NULL;
        injected_before = json_integer_value(json_object_get(json_object_get(bd, "injected"), "429"));
        json_decref(bd);
        free(before);
    }
    plain(h, "PUT", "/_sandbox/faults", "{\"rate_limit\":2,\"rate_burst\":1,\"retry_after\":1}", NULL);
    st = syncrt_odata_stream(&stats, &p, url, count_row, &cs, &err);
    plain(h, "GET", "/_sandbox/faults", NULL, &faults);
    plain(h, "DELETE", "/_sandbox/faults", NULL, NULL);
    CHECK_INT(st, SYNCRT_OK, "paging under a 2 requests/s limit completes (%s)", err.message);
    CHECK_INT(cs.rows, 35, "every row, once");
    CHECK(stats.retries > 0 && rs.count == (int)stats.retries, "throttled pages were retried (%zu)", stats.retries);
    for (i = 0; i < rs.count && i < 64; i++)
        if (rs.delays[i] <= 0 || rs.delays[i] % 1000 != 0)
            whole_seconds = 0;
    CHECK(whole_seconds, "every wait was a server Retry-After in whole seconds, not a guess");
    doc = faults ? json_loads(faults, 0, NULL) : NULL;
    {
        json_int_t n429 = json_integer_value(json_object_get(json_object_get(doc, "injected"), "429")) - injected_before;
        CHECK_INT(n429, stats.retries, "every 429 the sandbox sent was waited out once (%lld)", (long long)n429);
    }
    json_decref(doc);
    free(faults);
    syncrt_odata_page_stats_clear(&stats);
    free(url);
}

/* ---- a 429 storm through the endpoint gate ---- */

#define STORM 40

typedef struct {
    int finished;
    long status;
    syncrt_status transport;
    int sent;
    char retry_after[32];
} storm_slot;

static void storm_done(void *ctx, syncrt_http_response *r)
{
    storm_slot *s = ctx;
    const char *ra = syncrt_http_response_header(r, "Retry-After");
    s->finished = 1;
    s->status = r->status;
    s->transport = r->transport;
    s->sent = r->request_sent;
    snprintf(s->retry_after, sizeof s->retry_after, "%s", ra ? ra : "");
}

static void test_429_storm(syncrt_http *h, syncrt_auth *a)
{
    static storm_slot slots[STORM];
    /* events in order: a send is a violation only if it came AFTER a 429 was seen (seq) and
     * before that 429's Retry-After ran out (time) */
    static int64_t sends[STORM * 20], send_seq[STORM * 20], win_seq[STORM * 20], win_to[STORM * 20];
    int64_t seq = 0;
    int nsends = 0, nwin = 0, state[STORM], done = 0, throttled = 0, violations = 0, i, running;
    int lowest_limit = 8;
    syncrt_endpoint ep;
    syncrt_endpoint_config cfg = { 8, 1, 16, 1000, 5, 5000, 60000 };
    syncrt_error err = { SYNCRT_OK, "" };
    const char *line = NULL;
    const char *hdrs[3];
    int64_t start = syncrt_clock_real(NULL);

    syncrt_endpoint_init(&ep, &cfg);
    memset(state, 0, sizeof state);             /* 0 waiting, 1 in flight, 2 done */
    plain(h, "PUT", "/_sandbox/faults", "{\"rate_limit\":10,\"rate_burst\":3,\"retry_after\":1}", NULL);
    if (syncrt_auth_header(a, &line, &err) != SYNCRT_OK) {
        CHECK(0, "token: %s", err.message);
        return;
    }
    hdrs[0] = "Accept: application/json";
    hdrs[1] = line;
    hdrs[2] = NULL;
    while (done < STORM && syncrt_clock_real(NULL) - start < 90000) {
        int64_t now = syncrt_clock_real(NULL), wait = 0;
        for (i = 0; i < STORM; i++) {
            syncrt_http_request req;
            if (state[i] != 0)
                continue;
            if (syncrt_endpoint_acquire(&ep, &wait, now) != SYNCRT_OK)
                break;
            memset(&slots[i], 0, sizeof slots[i]);
            memset(&req, 0, sizeof req);
            req.method = "GET";
            req.url = u("/data/CustomersV3?$top=1&$select=CustomerAccount");
            req.headers = hdrs;
            req.done = storm_done;
            req.ctx = &slots[i];
            if (syncrt_http_submit(h, &req, &err) != SYNCRT_OK)
                break;
            if (nsends < STORM * 20) {
                send_seq[nsends] = ++seq;
                sends[nsends++] = now;
            }
            state[i] = 1;
        }
        syncrt_http_run(h, &running, 10, &err);
        now = syncrt_clock_real(NULL);
        for (i = 0; i < STORM; i++) {
            syncrt_attempt at;
            int64_t ra = -1;
            if (state[i] != 1 || !slots[i].finished)
                continue;
            at.transport = slots[i].transport;
            at.request_sent = slots[i].sent;
            at.idempotent = 1;
            at.http_status = slots[i].status;
            at.body = NULL;
            syncrt_endpoint_release(&ep, &ra, &at, slots[i].retry_after[0] ? slots[i].retry_after : NULL, now);
            if (syncrt_limiter_limit(&ep.limiter) < lowest_limit)
                lowest_limit = syncrt_limiter_limit(&ep.limiter);
            if (slots[i].status == 200) {
                state[i] = 2;
                done++;
            } else {
                if (slots[i].status == 429) {
                    throttled++;
                    if (ra >= 0 && nwin < STORM * 20) {
                        win_seq[nwin] = ++seq;
                        win_to[nwin++] = now + ra;
                    }
                }
                state[i] = 0;                   /* retry it when the gate opens */
            }
        }
    }
    plain(h, "DELETE", "/_sandbox/faults", NULL, NULL);
    for (i = 0; i < nsends; i++) {
        int k;
        for (k = 0; k < nwin; k++)
            if (send_seq[i] > win_seq[k] && sends[i] < win_to[k]) {
                if (violations++ < 3)
                    printf("# send at +%lld ms before a Retry-After ran out at +%lld ms\n",
                           (long long)(sends[i] - start), (long long)(win_to[k] - start));
            }
    }
    printf("# storm: %d requests, %d sends, %d throttled, concurrency limit down to %d, %d at the end; "
           "pace %.1f requests/s\n", STORM, nsends, throttled, lowest_limit, syncrt_limiter_limit(&ep.limiter),
           ep.pacer.rate);
    CHECK_INT(done, STORM, "every request of the storm succeeded in the end");
    CHECK(throttled > 0, "the sandbox throttled (%d 429s)", throttled);
    CHECK_INT(violations, 0, "no request was sent while a Retry-After was running");
    CHECK(lowest_limit < 8, "the concurrency limit came down from 8 (%d)", lowest_limit);
    CHECK(ep.pacer.decreases > 0 && ep.pacer.rate > 0, "the pacer went from unlimited to a measured pace "
          "(%ld decreases, %.1f requests/s at the end)", ep.pacer.decreases, ep.pacer.rate);
}

int main(void)
{
    syncrt_http *h = NULL;
    syncrt_auth *a;
    syncrt_error err = { SYNCRT_OK, "" };

    d365 = getenv("SYNCRT_TEST_D365");
    if (!d365) {
        CHECK(0, "SYNCRT_TEST_D365 is set: suite.sh started build/sandbox");
        return test_done();
    }
    snprintf(root, sizeof root, "%s/data", d365);
    snprintf(scope, sizeof scope, "%s/.default", d365);
    snprintf(v2url, sizeof v2url, "%s/sandbox/oauth2/v2.0/token", d365);
    snprintf(v1url, sizeof v1url, "%s/sandbox/oauth2/token", d365);
    if (syncrt_http_new(&h, NULL, &err) != SYNCRT_OK) {
        CHECK(0, "http_new: %s", err.message);
        return test_done();
    }
    test_auth(h);
    a = oauth(h, 0, "sync-secret");
    if (a) {
        test_paging(h, a);
        test_batch(h, a);
        test_unknown_outcome(h, a);
        test_throttled_paging(h, a);
        test_429_storm(h, a);
        syncrt_auth_free(a);
    }
    syncrt_http_free(h);
    return test_done();
}
