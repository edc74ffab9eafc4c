/* test_c360.c - the engine's customer-360 path (Clarity -> F&O update / upsert of one record,
 * docs/flows.md section 3) driven by hand-written flow descriptors (dedup_fields,
 * update_fields) against build/sandbox's two emulators (SYNCRT_TEST_D365 and
 * SYNCRT_TEST_CLARITY, started by suite.sh): a dedup hit by e-mail up to case and blanks is
 * updated with the update fields only and written back to the account's CustomKey; two hits
 * are dead-lettered as ambiguous with nothing written; no hit creates the whole record; the
 * same mapped record again costs no call; an update of a missing customer is retried, then
 * dead-lettered with the reason. */
#include "syncrt/auth.h"
#include "syncrt/engine.h"
#include "syncrt/http.h"
#include "testhelp.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *d365, *clarity;
static syncrt_http *http;
static syncrt_auth *fo, *cl;
static char tag[32];

/* The test map: a Clarity account -> {"CustomersV3": {...}} (what a generated map emits). */
static syncrt_status account_run(syncrt_mctx *ctx, const char *json, size_t len, syncrt_mbuf *out)
{
    (void)ctx;
    json_t *a = json_loadb(json, len, 0, NULL), *c;
    if (!a)
        return SYNCRT_EPARSE;
    c = json_object_get(json_object_get(json_array_get(json_object_get(a, "AccountContacts"), 0), "Slave"),
                        "Email1");
    char acct[64], mail[200];
    const char *ck = json_string_value(json_object_get(a, "CustomKey"));
    snprintf(acct, sizeof acct, "%s", ck ? ck : "");
    if (!ck)
        snprintf(acct, sizeof acct, "WEB-C%lld", (long long)json_integer_value(json_object_get(a, "ID")));
    size_t n = 0;
    for (const char *p = json_string_value(c) ? json_string_value(c) : ""; *p && n + 1 < sizeof mail; p++)
        if (*p != ' ')
            mail[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    mail[n] = '\0';
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "dataAreaId", "usmf", "CustomerAccount", acct,
                            "CustomerGroupId", "30", "SalesCurrencyCode", "USD",
                            "OrganizationName", json_string_value(json_object_get(a, "Name")) ? json_string_value(json_object_get(a, "Name")) : "",
                            "PrimaryContactEmail", mail, "AddressZipCode", "99001");
    char *t = json_dumps(rec, JSON_COMPACT);
    /* a decimal as the generated code writes it: its own text, every digit kept */
    syncrt_mbuf_put(out, "{\"CustomersV3\":", 15);
    syncrt_mbuf_put(out, t, strlen(t) - 1);
    syncrt_mbuf_put(out, ",\"CreditLimit\":100.50}}", 23);
    free(t);
    json_decref(rec);
    json_decref(a);
    return SYNCRT_OK;
}

static const char *const upd_fields[] = { "PrimaryContactEmail", "AddressZipCode", NULL };

static syncrt_flow_desc flow_upsert = {
    .name = "C360Upsert", .map_version = "test", .map_file = "test", .map_hash = "0",
    .source = SYNCRT_SYS_CLARITY, .poll_route = "Accounts/Accounts", .poll_since = "ModifiedSince",
    .poll_every_ms = 60000, .source_id_field = "ID", .run = account_run,
    .target = SYNCRT_SYS_D365, .write = SYNCRT_WRITE_UPSERT, .target_set = "CustomersV3",
    .target_route = "CustomersV3", .key_fields = { "dataAreaId", "CustomerAccount", NULL },
    .idempotency_field = "CustomerAccount", .retry = { 3, 20, 50 },
    .dedup_fields = { "PrimaryContactEmail", "OrganizationName+AddressZipCode", NULL },
    .update_fields = upd_fields,
};

static syncrt_flow_desc flow_update;

static long call(syncrt_auth *a, const char *base, const char *method, const char *path, const char *body,
                 json_t **out)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    const char *hdrs[] = { "Content-Type: application/json", "Accept: application/json", NULL };
    syncrt_http_request req = { method, url, hdrs, body, body ? strlen(body) : 0, NULL, NULL, NULL, 0, 0 };
    syncrt_http_response r;
    syncrt_error err = { SYNCRT_OK, "" };
    long status = -1;
    if (syncrt_auth_do(a, &r, &req, &err) == SYNCRT_OK)
        status = r.status;
    else
        printf("# %s %s: %s\n", method, path, err.message);
    if (out)
        *out = r.body ? json_loads(r.body, 0, NULL) : NULL;
    syncrt_http_response_clear(&r);
    return status;
}

static void fo_customer(const char *acct, const char *mail, const char *name)
{
    char body[512];
    snprintf(body, sizeof body, "{\"dataAreaId\":\"usmf\",\"CustomerAccount\":\"%s\",\"OrganizationName\":\"%s\","
             "\"PrimaryContactEmail\":\"%s\",\"CustomerGroupId\":\"20\",\"SalesCurrencyCode\":\"USD\","
             "\"CreditLimit\":5000}", acct, name, mail);
    CHECK_INT(call(fo, d365, "POST", "/data/CustomersV3", body, NULL), 201, "F&O customer %s created", acct);
}

static json_t *fo_get(const char *acct)
{
    char path[256];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='%s')", acct);
    if (call(fo, d365, "GET", path, NULL, &j) != 200) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static long long account(const char *name, const char *mail, const char *key)
{
    json_t *b = json_pack("{s:s,s:[{s:{s:s}}]}", "Name", name, "AccountContacts", "Slave", "Email1", mail), *j = NULL;
    if (key)
        json_object_set_new(b, "CustomKey", json_string(key));
    char *t = json_dumps(b, JSON_COMPACT);
    long st = call(cl, clarity, "POST", "/Accounts/Account/Create", t, &j);
    long long id = json_integer_value(json_object_get(j, "Result"));
    CHECK(st == 200 && id > 0, "Clarity account '%s' created (ID %lld)", name, id);
    free(t);
    json_decref(b);
    json_decref(j);
    return id;
}

static const char *custom_key(long long id, char *buf, size_t n)
{
    char path[128];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/Accounts/Account/ID/%lld", id);
    call(cl, clarity, "GET", path, NULL, &j);
    const char *k = json_string_value(json_object_get(j, "CustomKey"));
    snprintf(buf, n, "%s", k ? k : "");
    json_decref(j);
    return buf;
}

typedef struct { int n; char last[1024]; } logbuf;

static void on_log(void *ctx, syncrt_log_level l, const char *event, const char *fields)
{
    logbuf *lb = ctx;
    (void)l;
    if (!strcmp(event, "dead_lettered") || !strcmp(event, "delivered") || !strcmp(event, "skipped")) {
        lb->n++;
        snprintf(lb->last, sizeof lb->last, "%s %s", event, fields);
    }
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

/* "reason|attempts" of the dead letter of the flow's record from Clarity ID id. */
static void dead_reason(syncrt_engine_worker *w, const char *flow, long long id, char *buf, size_t n)
{
    syncrt_dead_letter *dl = NULL;
    size_t count = 0;
    char src[96];
    snprintf(src, sizeof src, "%s:%lld", flow, id);
    buf[0] = '\0';
    syncrt_store_dlq_list(syncrt_engine_worker_store(w), &dl, &count, flow, 0, NULL);
    for (size_t i = 0; i < count; i++)
        if (dl[i].source_key && !strcmp(dl[i].source_key, src))
            snprintf(buf, n, "%s|%d", dl[i].reason, dl[i].attempts);
    syncrt_store_dead_letters_free(dl, count);
}

static void run(void)
{
    char dir[] = "/tmp/test_c360.XXXXXX", cfgtext[4096], since[32], buf[512];
    if (!mkdtemp(dir)) {
        CHECK(0, "temporary directory");
        return;
    }
    time_t now = time(NULL) - 2;
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(cfgtext, sizeof cfgtext,
             "{\"store\":\"%s/c360.db\",\"d365\":{\"url\":\"%s\",\"token_url\":\"%s/sandbox/oauth2/v2.0/token\","
             "\"client_id\":\"sync-client\",\"client_secret\":\"env:C360_D365_SECRET\",\"scope\":\"%s/.default\"},"
             "\"clarity\":{\"root\":\"%s\",\"auth\":\"session\",\"username\":\"admin\",\"password\":\"env:C360_CL_PW\"},"
             "\"webhook\":{\"enabled\":false},"
             "\"flows\":{\"C360Upsert\":{\"enabled\":true,\"poll\":true,\"poll_initial\":\"%s\"},"
             "\"C360Update\":{\"enabled\":true,\"poll\":true,\"poll_initial\":\"%s\"}}}",
             dir, d365, d365, d365, clarity, since, since);
    setenv("C360_D365_SECRET", "sync-secret", 1);
    setenv("C360_CL_PW", "admin", 1);
    syncrt_config *cfg = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    if (syncrt_config_parse(&cfg, cfgtext, "test", NULL, &err) != SYNCRT_OK) {
        CHECK(0, "config parses: %s", err.message);
        return;
    }
    flow_update = flow_upsert;
    flow_update.name = "C360Update";
    flow_update.write = SYNCRT_WRITE_UPDATE;
    flow_update.dedup_fields[0] = NULL;
    const syncrt_flow_desc *flows[] = { &flow_upsert, &flow_update };
    logbuf lb = { 0, "" };
    syncrt_engine_options eo = { 0 };
    eo.config = cfg;
    eo.flows = flows;
    eo.nflows = 2;
    eo.log = on_log;
    eo.log_ctx = &lb;
    eo.seed = 7;
    syncrt_engine *e = NULL;
    syncrt_engine_worker *w = NULL;
    CHECK(syncrt_engine_runs(&flow_upsert) && syncrt_engine_runs(&flow_update),
          "the engine runs Clarity -> F&O upserts and updates of one record");
    if (syncrt_engine_new(&e, &eo, &err) != SYNCRT_OK || syncrt_engine_worker_new(&w, e, "t", &err) != SYNCRT_OK) {
        CHECK(0, "engine starts: %s", err.message);
        syncrt_engine_free(e);
        syncrt_config_free(cfg);
        return;
    }
    char acct1[40], acct2[40], acct3[40], mail1[80], mail2[80], name[80];
    snprintf(acct1, sizeof acct1, "T%s-1", tag);
    snprintf(acct2, sizeof acct2, "T%s-2", tag);
    snprintf(acct3, sizeof acct3, "T%s-3", tag);
    snprintf(mail1, sizeof mail1, "Dup.%s@Example.COM  ", tag);
    snprintf(mail2, sizeof mail2, "twin.%s@example.com", tag);

    /* dedup hit by e-mail, up to case and blanks */
    fo_customer(acct1, mail1, "Original Name Ltd");
    snprintf(name, sizeof name, "Storefront %s", tag);
    char m1[80];
    snprintf(m1, sizeof m1, " dup.%s@example.com", tag);
    long long id1 = account(name, m1, NULL);
    syncrt_engine_counters c0, c1;
    syncrt_engine_counters_get(e, &c0);
    pass(w, &flow_upsert);
    json_t *got = fo_get(acct1);
    char want_mail[80];
    snprintf(want_mail, sizeof want_mail, "dup.%s@example.com", tag);
    CHECK(got && !strcmp(json_string_value(json_object_get(got, "PrimaryContactEmail")), want_mail) &&
              !strcmp(json_string_value(json_object_get(got, "AddressZipCode")), "99001") &&
              !strcmp(json_string_value(json_object_get(got, "OrganizationName")), "Original Name Ltd") &&
              json_number_value(json_object_get(got, "CreditLimit")) == 5000,
          "dedup by e-mail: %s gets the update fields (e-mail normalised, zip), its name and credit limit kept", acct1);
    json_decref(got);
    snprintf(buf, sizeof buf, "WEB-C%lld", id1);
    got = fo_get(buf);
    CHECK(got == NULL, "no customer %s created", buf);
    json_decref(got);
    CHECK_STR(custom_key(id1, buf, sizeof buf), acct1, "the Clarity account's CustomKey is the F&O customer");
    syncrt_engine_counters_get(e, &c1);
    CHECK_INT(c1.delivered - c0.delivered, 1, "one record delivered: %s", lb.last);

    /* ambiguous */
    fo_customer(acct2, mail2, "Twin A");
    fo_customer(acct3, mail2, "Twin B");
    long long id2 = account("Twin Account", mail2, NULL);
    syncrt_engine_counters_get(e, &c0);
    pass(w, &flow_upsert);
    syncrt_engine_counters_get(e, &c1);
    char want[400];
    snprintf(want, sizeof want, "ambiguous: PrimaryContactEmail '%s' matches 2 F&O CustomersV3 records: %s, %s|1",
             mail2, acct2, acct3);
    dead_reason(w, "C360Upsert", id2, buf, sizeof buf);
    CHECK_STR(buf, want, "two hits: dead-lettered at once with the probe, value and customers");
    CHECK_INT(c1.batches - c0.batches, 0, "nothing written for the ambiguous account");
    CHECK_STR(custom_key(id2, buf, sizeof buf), "", "its CustomKey untouched");

    /* no hit: created whole; the same mapped record again: no call */
    char m3[80];
    snprintf(m3, sizeof m3, "fresh.%s@example.com", tag);
    snprintf(name, sizeof name, "Fresh %s", tag);
    long long id3 = account(name, m3, NULL);
    pass(w, &flow_upsert);
    snprintf(buf, sizeof buf, "WEB-C%lld", id3);
    got = fo_get(buf);
    CHECK(got && !strcmp(json_string_value(json_object_get(got, "OrganizationName")), name) &&
              json_number_value(json_object_get(got, "CreditLimit")) == 100.5,
          "no hit: %s created with every mapped field (name, credit limit 100.50)", buf);
    json_decref(got);
    char ck[64];
    CHECK_STR(custom_key(id3, ck, sizeof ck), buf, "and the account's CustomKey is %s", buf);
    syncrt_engine_counters_get(e, &c0);
    pass(w, &flow_upsert);          /* the CustomKey write-back re-polls the account */
    syncrt_engine_counters_get(e, &c1);
    CHECK(c1.probes == c0.probes && c1.batches == c0.batches,
          "the account polled again with the same mapped record: no F&O call (%llu probes, %llu writes)",
          (unsigned long long)(c1.probes - c0.probes), (unsigned long long)(c1.batches - c0.batches));

    /* update of a missing customer */
    snprintf(buf, sizeof buf, "GHOST%s", tag);
    long long id4 = account("Ghost", "ghost@example.com", buf);
    pass(w, &flow_update);
    snprintf(want, sizeof want, "retries exhausted: F&O has no CustomersV3 (dataAreaId='usmf',CustomerAccount='GHOST%s') "
             "to update|3", tag);
    dead_reason(w, "C360Update", id4, buf, sizeof buf);
    CHECK_STR(buf, want, "update of a missing customer: retried, dead-lettered after 3 attempts with the reason");

    syncrt_engine_worker_free(w);
    syncrt_engine_free(e);
    syncrt_config_free(cfg);
    snprintf(buf, sizeof buf, "%s/c360.db", dir);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s/c360.db-wal", dir);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s/c360.db-shm", dir);
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
    snprintf(tag, sizeof tag, "%ld", (long)getpid() % 100000);
    syncrt_http_options ho = { 0 };
    syncrt_error err = { SYNCRT_OK, "" };
    char tok[512], scope[512], login[512];
    snprintf(tok, sizeof tok, "%s/sandbox/oauth2/v2.0/token", d365);
    snprintf(scope, sizeof scope, "%s/.default", d365);
    snprintf(login, sizeof login, "%s/auth/identity", clarity);
    syncrt_auth_config fc = { 0 }, cc = { 0 };
    fc.kind = SYNCRT_AUTH_OAUTH2;
    fc.token_url = tok;
    fc.client_id = "sync-client";
    fc.client_secret = "sync-secret";
    fc.scope = scope;
    cc.kind = SYNCRT_AUTH_SESSION;
    cc.login_url = login;
    cc.username = "admin";
    cc.password = "admin";
    if (syncrt_http_new(&http, &ho, &err) != SYNCRT_OK || syncrt_auth_new(&fo, http, &fc, &err) != SYNCRT_OK ||
        syncrt_auth_new(&cl, http, &cc, &err) != SYNCRT_OK) {
        CHECK(0, "clients: %s", err.message);
        return test_done();
    }
    run();
    syncrt_auth_free(fo);
    syncrt_auth_free(cl);
    syncrt_http_free(http);
    return test_done();
}
