/* test_bulk.c - the engine's bulk write path (`write OP as bulk MEMBER by MAP`, docs/flows.md
 * section 2) and its ref resolution, driven by a hand-written flow descriptor against
 * build/sandbox (SYNCRT_TEST_D365 and SYNCRT_TEST_CLARITY, started by suite.sh): F&O on-hand
 * rows grouped by item go to PUT Providers/Inventory/BulkUpdateInventoryForProducts with the
 * product's ID looked up by CustomKey, one search per 50 keys; a record Clarity refuses the
 * whole body for (a quantity "lots") is isolated by halving and dead-lettered alone; an item
 * the answer names ("Item i: Product 999999 was not found") is dead-lettered, the others of
 * that request delivered; a key Clarity has no product for is retried, then dead-lettered
 * with "no clarity Products with CustomKey 'X'"; an unchanged second pass costs no call. */
#include "syncrt/auth.h"
#include "syncrt/engine.h"
#include "syncrt/http.h"
#include "testhelp.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *d365, *clarity;
static syncrt_http *http;
static syncrt_auth *cl;

/* The test map: an item's on-hand rows {"value":[...]} -> {"Bulk":{CalculatedInventory}}
 * with the ProductID as the ref placeholder generated code writes; three items go wrong on
 * purpose (see the file comment). */
static syncrt_status stock_run(syncrt_mctx *ctx, const char *json, size_t len, syncrt_mbuf *out)
{
    (void)ctx;
    json_t *g = json_loadb(json, len, 0, NULL);
    json_t *rows = json_object_get(g, "value");
    const char *item = json_string_value(json_object_get(json_array_get(rows, 0), "ItemNumber"));
    if (!item) {
        json_decref(g);
        return SYNCRT_EPARSE;
    }
    double on = 0;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) on += json_number_value(json_object_get(r, "OnHandQuantity"));
    char key[64];
    snprintf(key, sizeof key, "%s%s", !strcmp(item, "A0005") ? "NOPE-" : "", item);
    json_t *rec = json_pack("{s:{s:{s:s,s:s,s:s,s:s}},s:f}", "ProductID", "$ref", "route",
                            "Products/Products", "by", "CustomKey", "value", key, "get", "ID",
                            "QuantityOnHand", on);
    if (!strcmp(item, "A0003"))
        json_object_set_new(rec, "QuantityPresent", json_string("lots"));
    if (!strcmp(item, "A0009"))
        json_object_set_new(rec, "ProductID", json_integer(999999));
    char *t = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    syncrt_mbuf_put(out, "{\"Bulk\":", 8);
    syncrt_mbuf_put(out, t, strlen(t));
    syncrt_mbuf_put(out, "}", 1);
    free(t);
    json_decref(rec);
    json_decref(g);
    return SYNCRT_OK;
}

static syncrt_flow_desc flow_bulk = {
    .name = "BulkStock", .map_version = "test", .map_file = "test", .map_hash = "0",
    .source = SYNCRT_SYS_D365, .poll_route = "WarehousesOnHandV2", .poll_every_ms = 60000,
    .source_key_fields = { "dataAreaId", "ItemNumber", "ProductColorId", NULL },
    .run = stock_run, .target = SYNCRT_SYS_CLARITY, .write = SYNCRT_WRITE_CREATE,
    .target_set = "Bulk", .target_route = "Providers/Inventory/BulkUpdateInventoryForProducts",
    .key_fields = { "ProductID", NULL }, .idempotency_field = "ProductID", .retry = { 3, 20, 50 },
    .group_by = { "ItemNumber", NULL },
    .bulk_member = "InventoryToPush", .bulk_method = "PUT",
};

static json_t *clarity_get(const char *path)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", clarity, path);
    const char *hdrs[] = { "Accept: application/json", NULL };
    syncrt_http_request req = { "GET", url, hdrs, NULL, 0, NULL, NULL, NULL, 0, 0 };
    syncrt_http_response r;
    syncrt_error err = { SYNCRT_OK, "" };
    json_t *j = NULL;
    if (syncrt_auth_do(cl, &r, &req, &err) == SYNCRT_OK && r.status == 200 && r.body)
        j = json_loads(r.body, 0, NULL);
    syncrt_http_response_clear(&r);
    return j;
}

/* Quantity at location 11 (the item-level figures' location) of the product with key. */
static double quantity_11(const char *key)
{
    char path[128];
    snprintf(path, sizeof path, "/Products/Product/Key/%s", key);
    json_t *p = clarity_get(path), *r;
    size_t i;
    double q = -1;
    json_array_foreach(json_object_get(p, "ProductInventoryLocationSections"), i, r)
        if (json_string_value(json_object_get(r, "SlaveKey")) &&
            !strcmp(json_string_value(json_object_get(r, "SlaveKey")), "11"))
            q = json_number_value(json_object_get(r, "Quantity"));
    json_decref(p);
    return q;
}

/* Polls the flow, then steps until nothing is due (retries included, up to ~5 s). */
static void pass(syncrt_engine_worker *w, const syncrt_flow_desc *f)
{
    size_t n = 0, handled;
    int64_t wait;
    syncrt_error err = { SYNCRT_OK, "" };
    if (syncrt_engine_poll(w, f, &n, &err) != SYNCRT_OK)
        printf("# poll: %s\n", err.message);
    for (int i = 0; i < 100; i++) {
        syncrt_status st = syncrt_engine_step(w, f, &handled, &wait, &err);
        syncrt_store_counts c;
        syncrt_store_counts_get(syncrt_engine_worker_store(w), &c, f->name, NULL);
        if (st == SYNCRT_EEMPTY && c.pending == 0 && c.leased == 0)
            break;
        usleep(50000);
    }
}

/* "reason|attempts|last error" of the dead letter of item's group. */
static void dead_of(syncrt_engine_worker *w, const char *item, char *buf, size_t n)
{
    syncrt_dead_letter *dl = NULL;
    size_t count = 0;
    char src[96];
    snprintf(src, sizeof src, "WarehousesOnHandV2:%s", item);
    buf[0] = '\0';
    syncrt_store_dlq_list(syncrt_engine_worker_store(w), &dl, &count, flow_bulk.name, 0, NULL);
    for (size_t i = 0; i < count; i++)
        if (dl[i].source_key && !strcmp(dl[i].source_key, src))
            snprintf(buf, n, "%s|%d|%s", dl[i].reason, dl[i].attempts,
                     dl[i].last_error ? dl[i].last_error : "");
    syncrt_store_dead_letters_free(dl, count);
}

static void run(void)
{
    char dir[] = "/tmp/test_bulk.XXXXXX", cfgtext[4096], buf[1024];
    if (!mkdtemp(dir)) {
        CHECK(0, "temporary directory");
        return;
    }
    snprintf(cfgtext, sizeof cfgtext,
             "{\"store\":\"%s/bulk.db\",\"d365\":{\"url\":\"%s\",\"token_url\":\"%s/sandbox/oauth2/v2.0/token\","
             "\"client_id\":\"sync-client\",\"client_secret\":\"env:BULK_D365_SECRET\",\"scope\":\"%s/.default\"},"
             "\"clarity\":{\"root\":\"%s\",\"auth\":\"session\",\"username\":\"admin\",\"password\":\"env:BULK_CL_PW\"},"
             "\"webhook\":{\"enabled\":false},"
             "\"flows\":{\"BulkStock\":{\"enabled\":true,\"poll\":true,\"batch_records\":200}}}",
             dir, d365, d365, d365, clarity);
    setenv("BULK_D365_SECRET", "sync-secret", 1);
    setenv("BULK_CL_PW", "admin", 1);
    syncrt_config *cfg = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    if (syncrt_config_parse(&cfg, cfgtext, "test", NULL, &err) != SYNCRT_OK) {
        CHECK(0, "config parses: %s", err.message);
        return;
    }
    const syncrt_flow_desc *flows[] = { &flow_bulk };
    syncrt_engine_options eo = { 0 };
    eo.config = cfg;
    eo.flows = flows;
    eo.nflows = 1;
    eo.seed = 7;
    syncrt_engine *e = NULL;
    syncrt_engine_worker *w = NULL;
    CHECK(syncrt_engine_runs(&flow_bulk), "the engine runs F&O -> Clarity bulk writes");
    if (syncrt_engine_new(&e, &eo, &err) != SYNCRT_OK || syncrt_engine_worker_new(&w, e, "t", &err) != SYNCRT_OK) {
        CHECK(0, "engine starts: %s", err.message);
        syncrt_engine_free(e);
        syncrt_config_free(cfg);
        return;
    }
    syncrt_engine_counters c0, c1;
    syncrt_engine_counters_get(e, &c0);
    pass(w, &flow_bulk);
    syncrt_engine_counters_get(e, &c1);
    syncrt_store_counts sc;
    syncrt_store_counts_get(syncrt_engine_worker_store(w), &sc, flow_bulk.name, NULL);
    uint64_t groups = c1.enqueued - c0.enqueued;
    CHECK(groups >= 20 && c1.delivered - c0.delivered == groups - 3 && sc.dead == 3,
          "%llu items: all but the 3 bad ones delivered in bulk (%llu delivered, %lld dead)",
          (unsigned long long)groups, (unsigned long long)(c1.delivered - c0.delivered),
          (long long)sc.dead);
    /* every good item's figures: A0001's on-hand rows summed, at location 11 */
    json_t *rows = NULL;
    {
        char url[512];
        snprintf(url, sizeof url, "%s/data/WarehousesOnHandV2?$filter=ItemNumber%%20eq%%20'A0001'", d365);
        syncrt_auth_config fc = { 0 };
        char tok[512], scope[512];
        snprintf(tok, sizeof tok, "%s/sandbox/oauth2/v2.0/token", d365);
        snprintf(scope, sizeof scope, "%s/.default", d365);
        fc.kind = SYNCRT_AUTH_OAUTH2;
        fc.token_url = tok;
        fc.client_id = "sync-client";
        fc.client_secret = "sync-secret";
        fc.scope = scope;
        syncrt_auth *fo = NULL;
        if (syncrt_auth_new(&fo, http, &fc, &err) == SYNCRT_OK) {
            const char *hdrs[] = { "Accept: application/json", NULL };
            syncrt_http_request req = { "GET", url, hdrs, NULL, 0, NULL, NULL, NULL, 0, 0 };
            syncrt_http_response r;
            if (syncrt_auth_do(fo, &r, &req, &err) == SYNCRT_OK && r.body)
                rows = json_loads(r.body, 0, NULL);
            syncrt_http_response_clear(&r);
            syncrt_auth_free(fo);
        }
    }
    double sum = 0;
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(rows, "value"), i, row)
        sum += json_number_value(json_object_get(row, "OnHandQuantity"));
    json_decref(rows);
    CHECK(sum > 0 && quantity_11("A0001") == sum, "A0001: Clarity holds the sum of its %zu "
          "warehouse rows, %g (ProductID found by CustomKey)", i, sum);

    /* the record whose body Clarity refuses whole: isolated by halving, dead-lettered alone */
    dead_of(w, "A0003", buf, sizeof buf);
    CHECK_STR(buf, "validation: refused by Clarity (not retried)|1|HTTP 400: PUT "
                   "Providers/Inventory/BulkUpdateInventoryForProducts: "
                   "InventoryToPush[0].QuantityPresent: 'lots' is not a valid Decimal",
              "a body refused whole (A0003's quantity \"lots\"): halved until A0003 is alone, "
              "then dead-lettered");
    /* the item the answer names */
    dead_of(w, "A0009", buf, sizeof buf);
    CHECK_STR(buf, "validation: refused by Clarity (not retried)|1|PUT "
                   "Providers/Inventory/BulkUpdateInventoryForProducts: Product 999999 was not found",
              "an item the answer's Messages name (A0009): dead-lettered with the message");
    /* no product for the key: retried, then dead-lettered with the lookup's message */
    dead_of(w, "A0005", buf, sizeof buf);
    CHECK_STR(buf, "retries exhausted: no clarity Products with CustomKey 'NOPE-A0005'|3|"
                   "not found: no clarity Products with CustomKey 'NOPE-A0005'",
              "a key Clarity has no product for: retried 3 times, then dead-lettered");
    /* unchanged: no call */
    syncrt_engine_counters_get(e, &c0);
    pass(w, &flow_bulk);
    syncrt_engine_counters_get(e, &c1);
    CHECK_INT((long)(c1.batches - c0.batches), 0, "an unchanged second pass: no Clarity call");

    syncrt_engine_worker_free(w);
    syncrt_engine_free(e);
    syncrt_config_free(cfg);
    snprintf(buf, sizeof buf, "%s/bulk.db", dir);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s/bulk.db-wal", dir);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s/bulk.db-shm", dir);
    unlink(buf);
    rmdir(dir);
}

int main(void)
{
    d365 = getenv("SYNCRT_TEST_D365");
    clarity = getenv("SYNCRT_TEST_CLARITY");
    if (!d365 || !clarity) {
        CHECK(0, "SYNCRT_TEST_D365 and SYNCRT_TEST_CLARITY are set: suite.sh started build/sandbox");
        return test_done();
    }
    syncrt_http_options ho = { 0 };
    syncrt_error err = { SYNCRT_OK, "" };
    char login[512];
    snprintf(login, sizeof login, "%s/auth/identity", clarity);
    syncrt_auth_config cc = { 0 };
    cc.kind = SYNCRT_AUTH_SESSION;
    cc.login_url = login;
    cc.username = "admin";
    cc.password = "admin";
    if (syncrt_http_new(&http, &ho, &err) != SYNCRT_OK || syncrt_auth_new(&cl, http, &cc, &err) != SYNCRT_OK) {
        CHECK(0, "clients: %s", err.message);
        return test_done();
    }
    run();
    syncrt_auth_free(cl);
    syncrt_http_free(http);
    return test_done();
}
