/* test_deliver.c - delivery passes end to end against build/sandbox's D365 emulator: orders
 * in the inbox become one $batch changeset each (header + line), through the endpoint gate,
 * with the sandbox injecting 503s, throttling and dropped connections after commits; then the
 * same with the delivering process killed with SIGKILL at random instants and restarted.
 * Every order must land exactly once with its line, and the inbox must end with every record
 * done. */
#include "syncrt/deliver.h"
#include "testhelp.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ORDERS 40

static const char *d365;
static char root[256], tokurl[256], scope[256], prefix[64], dir[256];

typedef struct { syncrt_http *http; syncrt_auth *auth; } env;

static char *u(const char *path)
{
    static char buf[4][1024];
    static int i;
    char *s = buf[i++ % 4];
    snprintf(s, 1024, "%s%s", d365, path);
    return s;
}

static syncrt_status map_order(void *ctx, syncrt_batch *b, const syncrt_inbox_record *rec, char *key, size_t ksize,
                               char *errbuf, size_t esize)
{
    json_t *in = json_loadb((const char *)rec->payload, rec->payload_len, 0, NULL);
    long id = (long)json_integer_value(json_object_get(in, "ID"));
    char hdr[512], line[512];
    (void)ctx;
    json_decref(in);
    if (id <= 0) {
        snprintf(errbuf, esize, "$.ID: required");
        return SYNCRT_EINVAL;
    }
    snprintf(key, ksize, "%s-%ld", prefix, id);
    snprintf(hdr, sizeof hdr, "{\"dataAreaId\":\"usmf\",\"SalesOrderNumber\":\"%s\",\"OrderingCustomerAccountNumber\":"
             "\"US-001\",\"InvoiceCustomerAccountNumber\":\"US-001\",\"CurrencyCode\":\"USD\",\"LanguageId\":\"en-us\"}",
             key);
    snprintf(line, sizeof line, "{\"dataAreaId\":\"usmf\",\"SalesOrderNumber\":\"%s\",\"ItemNumber\":\"A0001\","
             "\"OrderedSalesQuantity\":2,\"SalesPrice\":10.5}", key);
    syncrt_batch_add(b, NULL, rec->id, "POST", "SalesOrderHeadersV2", hdr, NULL, NULL);
    syncrt_batch_add(b, NULL, rec->id, "POST", "SalesOrderLines", line, NULL, NULL);
    return SYNCRT_OK;
}

static long get_count(env *e, const char *path)
{
    syncrt_http_response r;
    syncrt_http_request req;
    long n = -1;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.url = u(path);
    if (syncrt_auth_do(e->auth, &r, &req, NULL) == SYNCRT_OK && r.status == 200 && r.body)
        n = atol(r.body);
    syncrt_http_response_clear(&r);
    return n;
}

static int probe_order(void *ctx, const char *key)
{
    env *e = ctx;
    char path[300];
    syncrt_http_response r;
    syncrt_http_request req;
    int found = -1;
    snprintf(path, sizeof path, "/data/SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='%s')", key);
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.url = u(path);
    if (syncrt_auth_do(e->auth, &r, &req, NULL) == SYNCRT_OK)
        found = r.status == 200 ? 1 : r.status == 404 ? 0 : -1;
    syncrt_http_response_clear(&r);
    return found;
}

static int setup_env(env *e)
{
    syncrt_auth_config ac;
    memset(e, 0, sizeof *e);
    if (syncrt_http_new(&e->http, NULL, NULL) != SYNCRT_OK)
        return 0;
    memset(&ac, 0, sizeof ac);
    ac.kind = SYNCRT_AUTH_OAUTH2;
    ac.token_url = tokurl;
    ac.client_id = "sync-client";
    ac.client_secret = "sync-secret";
    ac.scope = scope;
    return syncrt_auth_new(&e->auth, e->http, &ac, NULL) == SYNCRT_OK;
}

static void free_env(env *e)
{
    syncrt_auth_free(e->auth);
    syncrt_http_free(e->http);
}

static void faults(env *e, const char *json)
{
    syncrt_http_response r;
    const char *hdrs[] = { "Content-Type: application/json", NULL };
    syncrt_http_request req;
    memset(&req, 0, sizeof req);
    req.method = json ? "PUT" : "DELETE";
    req.url = u("/_sandbox/faults");
    req.headers = hdrs;
    req.body = json;
    req.body_len = json ? strlen(json) : 0;
    syncrt_http_do(e->http, &r, &req, NULL);
    syncrt_http_response_clear(&r);
}

/* Runs passes until the flow is drained or the deadline; returns 1 when drained. */
static int drain(syncrt_deliver_stats *st, const char *db, const char *worker, size_t batch, int64_t deadline_ms)
{
    env e;
    syncrt_store *s = NULL;
    syncrt_endpoint gate;
    syncrt_rng rng;
    syncrt_deliverer d;
    int drained = 0;
    if (!setup_env(&e) || syncrt_store_open(&s, db, NULL, NULL) != SYNCRT_OK)
        return 0;
    syncrt_endpoint_init(&gate, NULL);
    syncrt_rng_seed(&rng, (uint64_t)getpid());
    memset(&d, 0, sizeof d);
    d.flow = "o2c";
    d.store = s;
    d.worker = worker;
    d.lease_ms = 1500;
    d.batch_records = batch;
    d.http = e.http;
    d.auth = e.auth;
    d.gate = &gate;
    d.service_root = root;
    d.policy.max_attempts = 30;
    d.policy.base_ms = 50;
    d.policy.cap_ms = 400;
    d.rng = &rng;
    d.map = map_order;
    d.probe = probe_order;
    d.ctx = &e;
    d.mapping_version = "test-1";
    while (syncrt_clock_real(NULL) < deadline_ms) {
        syncrt_store_counts c;
        syncrt_status rc = syncrt_deliver_pass(st, &d, NULL);
        syncrt_store_counts_get(s, &c, "o2c", NULL);
        if (c.pending == 0 && c.leased == 0) {
            drained = 1;
            break;
        }
        if (rc == SYNCRT_EEMPTY)
            usleep(50000);
    }
    syncrt_store_close(s);
    free_env(&e);
    return drained;
}

static void enqueue_orders(const char *db, int first, int n)
{
    syncrt_store *s = NULL;
    int i;
    if (syncrt_store_open(&s, db, NULL, NULL) != SYNCRT_OK)
        return;
    for (i = first; i < first + n; i++) {
        char key[32], body[64];
        syncrt_enqueue_item it;
        snprintf(key, sizeof key, "order-%d", i);
        snprintf(body, sizeof body, "{\"ID\":%d,\"Sku\":\"A0001\"}", i);
        it.dedup_key = key;
        it.source_key = key;
        it.payload = body;
        it.payload_len = strlen(body);
        syncrt_store_enqueue(s, NULL, "o2c", &it, NULL);
    }
    syncrt_store_close(s);
}

/* Every order of [first, first+n) exactly once, with exactly one line. */
static void verify(env *e, int first, int n, const char *what)
{
    int i, missing = 0, doubled = 0, bad_lines = 0;
    for (i = first; i < first + n; i++) {
        char path[300];
        long c, l;
        snprintf(path, sizeof path, "/data/SalesOrderHeadersV2/$count?$filter=SalesOrderNumber%%20eq%%20%%27%s-%d%%27",
                 prefix, i);
        c = get_count(e, path);
        snprintf(path, sizeof path, "/data/SalesOrderLines/$count?$filter=SalesOrderNumber%%20eq%%20%%27%s-%d%%27",
                 prefix, i);
        l = get_count(e, path);
        if (c == 0)
            missing++;
        else if (c > 1)
            doubled++;
        if (l != 1)
            bad_lines++;
    }
    CHECK_INT(missing, 0, "%s: no order missing", what);
    CHECK_INT(doubled, 0, "%s: no order twice", what);
    CHECK_INT(bad_lines, 0, "%s: every order with exactly its one line", what);
}

static long long done_count(const char *db)
{
    syncrt_store *s = NULL;
    syncrt_store_counts c;
    memset(&c, 0, sizeof c);
    if (syncrt_store_open(&s, db, NULL, NULL) == SYNCRT_OK) {
        syncrt_store_counts_get(s, &c, "o2c", NULL);
        if (syncrt_store_check(s, NULL) != SYNCRT_OK)
            c.done = -1;
        syncrt_store_close(s);
    }
    return c.done;
}

int main(void)
{
    char db[512], db2[512];
    syncrt_deliver_stats st;
    env e;
    int round, kills = 0;

    d365 = getenv("SYNCRT_TEST_D365");
    if (!d365) {
        CHECK(0, "SYNCRT_TEST_D365 is set: suite.sh started build/sandbox");
        return test_done();
    }
    snprintf(root, sizeof root, "%s/data", d365);
    snprintf(tokurl, sizeof tokurl, "%s/sandbox/oauth2/v2.0/token", d365);
    snprintf(scope, sizeof scope, "%s/.default", d365);
    snprintf(prefix, sizeof prefix, "E2E%ld", (long)getpid());
    snprintf(dir, sizeof dir, "%s/syncrt-deliver-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir) || !setup_env(&e)) {
        CHECK(0, "setup");
        return test_done();
    }
    snprintf(db, sizeof db, "%s/faults.db", dir);
    snprintf(db2, sizeof db2, "%s/kills.db", dir);

    /* 1. faults: 503s, throttling, connections dropped after the commit */
    enqueue_orders(db, 1, ORDERS);
    faults(&e, "{\"drop_next\":2,\"error_503_share\":0.1,\"drop_share\":0.2,\"rate_limit\":20,\"rate_burst\":4,\"retry_after\":1,"
               "\"seed\":7}");
    memset(&st, 0, sizeof st);
    CHECK(drain(&st, db, "w-faults", 8, syncrt_clock_real(NULL) + 120000), "the inbox drains under faults");
    faults(&e, NULL);
    printf("# faults: claimed %zu, delivered %zu, retried %zu, paused %zu, dead %zu, probed %zu (found %zu)\n",
           st.claimed, st.delivered, st.retried, st.paused, st.dead, st.probed, st.found_by_probe);
    CHECK_INT(done_count(db), ORDERS, "every record done, store invariants hold");
    CHECK(st.found_by_probe > 0, "dropped connections were resolved by probing, not resending (%zu)", st.found_by_probe);
    verify(&e, 1, ORDERS, "under faults");

    /* 2. kill -9 of the delivering process at random instants, then restart */
    enqueue_orders(db2, 1001, ORDERS);
    faults(&e, "{\"drop_share\":0.1,\"latency_ms\":120,\"seed\":11}");
    srand((unsigned)getpid());
    for (round = 0; round < 6; round++) {
        pid_t pid;
        int status;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            syncrt_deliver_stats cs;
            char name[32];
            memset(&cs, 0, sizeof cs);
            snprintf(name, sizeof name, "w-kill-%d", round);
            drain(&cs, db2, name, 3, syncrt_clock_real(NULL) + 60000);
            _exit(0);
        }
        usleep((useconds_t)(150000 + rand() % 600000));
        if (kill(pid, SIGKILL) == 0)
            kills++;
        waitpid(pid, &status, 0);
    }
    memset(&st, 0, sizeof st);
    CHECK(drain(&st, db2, "w-final", 8, syncrt_clock_real(NULL) + 120000), "a last worker drains what the killed ones left");
    faults(&e, NULL);
    printf("# kills: %d processes killed; the last worker claimed %zu, delivered %zu, found by probe %zu\n", kills,
           st.claimed, st.delivered, st.found_by_probe);
    CHECK(kills >= 4, "the workers were killed mid-run (%d)", kills);
    CHECK(st.claimed > 0, "and left records behind that came back after their leases (%zu)", st.claimed);
    CHECK_INT(done_count(db2), ORDERS, "every record done after the kills, store invariants hold");
    verify(&e, 1001, ORDERS, "after kill -9");

    free_env(&e);
    {
        const char *names[] = { "faults.db", "kills.db" };
        int i;
        for (i = 0; i < 2; i++) {
            char p[600];
            snprintf(p, sizeof p, "%s/%s", dir, names[i]);
            unlink(p);
            snprintf(p, sizeof p, "%s/%s-wal", dir, names[i]);
            unlink(p);
            snprintf(p, sizeof p, "%s/%s-shm", dir, names[i]);
            unlink(p);
        }
        rmdir(dir);
    }
    return test_done();
}
