/* test_metrics.c - the metrics and status server over real sockets and a real SQLite store
 * seeded with records in every state: /metrics is parsed line by line as the Prometheus text
 * format 0.0.4 (HELP and TYPE before a family's samples, families not interleaved, counters
 * named *_total, label values escaped, every value a number) and its values checked against
 * the seed; /status.json, /status (HTML escaped, refresh, no script), /healthz 200 then 503
 * when a flow is paused or the store breaks; 404, 405, HEAD; the engine's counters and HTTP
 * families when an engine is given; bind errors; the "metrics" configuration section. */
#include "syncrt/config.h"
#include "syncrt/engine.h"
#include "syncrt/metrics.h"
#include "syncrt/store.h"
#include "testhelp.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 ((int64_t)1780000000000LL)   /* the seed's clock, ms */

static int64_t fake_now = T0;

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

/* ------------------------------------------------------------------ HTTP */

typedef struct {
    char *p;
    size_t n;
} sbuf;

static size_t on_data(char *d, size_t s, size_t n, void *ctx)
{
    sbuf *b = ctx;
    char *q = realloc(b->p, b->n + s * n + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, d, s * n);
    b->n += s * n;
    q[b->n] = '\0';
    b->p = q;
    return s * n;
}

static size_t on_header(char *d, size_t s, size_t n, void *ctx)
{
    return on_data(d, s, n, ctx);
}

typedef struct {
    long status;
    char *body;         /* "" when none */
    char *headers;
} reply;

static void reply_free(reply *r)
{
    free(r->body);
    free(r->headers);
}

static reply fetch(unsigned port, const char *method, const char *path)
{
    reply r = { -1, NULL, NULL };
    sbuf b = { NULL, 0 }, h = { NULL, 0 };
    char url[256];
    CURL *c = curl_easy_init();
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (!strcmp(method, "POST"))
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    else if (strcmp(method, "GET"))
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    r.body = b.p ? b.p : strdup("");
    r.headers = h.p ? h.p : strdup("");
    return r;
}

/* ------------------------------------------------------------------ exposition parser */

#define MAXFAM 64
#define MAXSAMP 512

typedef struct {
    char name[96];
    int help, type;     /* seen */
    char kind[16];
    int closed;         /* another family came after its samples */
} family;

typedef struct {
    char series[400];   /* name{labels} as written */
    double value;
} sample;

typedef struct {
    family fam[MAXFAM];
    size_t nfam;
    sample s[MAXSAMP];
    size_t ns;
    char error[300];    /* the first problem, "" when the text is well-formed */
    int lines;
} expo;

static int name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static family *fam_get(expo *e, const char *name, size_t len)
{
    for (size_t i = 0; i < e->nfam; i++)
        if (strlen(e->fam[i].name) == len && !strncmp(e->fam[i].name, name, len))
            return &e->fam[i];
    if (e->nfam == MAXFAM || len >= sizeof e->fam[0].name)
        return NULL;
    family *f = &e->fam[e->nfam++];
    memset(f, 0, sizeof *f);
    memcpy(f->name, name, len);
    return f;
}

static void expo_err(expo *e, int line, const char *what, const char *text)
{
    if (!e->error[0])
        snprintf(e->error, sizeof e->error, "line %d: %s: %.200s", line, what, text);
}

/* Parses the whole text; e->error tells the first problem. */
static void expo_parse(expo *e, const char *text)
{
    memset(e, 0, sizeof *e);
    family *cur = NULL;     /* the family whose samples came last */
    const char *p = text;
    int ln = 0;
    if (!*text || text[strlen(text) - 1] != '\n')
        expo_err(e, 0, "the text does not end with a line feed", "");
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[1024];
        ln++;
        if (len >= sizeof line) {
            expo_err(e, ln, "line too long", p);
            break;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (end ? 1 : 0);
        e->lines++;
        if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
            const char *n = line + 7, *q = n;
            while (name_char(*q, q == n))
                q++;
            if (q == n || *q != ' ') {
                expo_err(e, ln, "bad metric name in comment", line);
                continue;
            }
            family *f = fam_get(e, n, (size_t)(q - n));
            if (!f) {
                expo_err(e, ln, "too many families", line);
                continue;
            }
            if (f->closed || (cur == f)) {
                expo_err(e, ln, "HELP/TYPE after the family's samples", line);
                continue;
            }
            if (line[2] == 'H') {
                if (f->help || f->type)
                    expo_err(e, ln, "second HELP, or HELP after TYPE", line);
                f->help = 1;
                if (!q[1])
                    expo_err(e, ln, "empty HELP", line);
                for (const char *h = q + 1; *h; h++)   /* only \\ and \n escapes */
                    if (*h == '\\' && h[1] != '\\' && h[1] != 'n')
                        expo_err(e, ln, "bad escape in HELP", line);
            } else {
                if (f->type)
                    expo_err(e, ln, "second TYPE", line);
                f->type = 1;
                snprintf(f->kind, sizeof f->kind, "%s", q + 1);
                if (strcmp(f->kind, "counter") && strcmp(f->kind, "gauge"))
                    expo_err(e, ln, "TYPE is neither counter nor gauge", line);
                if (!strcmp(f->kind, "counter") &&
                    (strlen(f->name) < 7 || strcmp(f->name + strlen(f->name) - 6, "_total")))
                    expo_err(e, ln, "a counter's name does not end in _total", line);
            }
            continue;
        }
        if (line[0] == '#' || !line[0]) {
            expo_err(e, ln, "unexpected comment or empty line", line);
            continue;
        }
        /* a sample: name[{l="v",...}] value */
        const char *q = line;
        while (name_char(*q, q == line))
            q++;
        if (q == line) {
            expo_err(e, ln, "bad metric name", line);
            continue;
        }
        family *f = fam_get(e, line, (size_t)(q - line));
        if (!f || !f->help || !f->type) {
            expo_err(e, ln, "sample before its HELP and TYPE", line);
            continue;
        }
        if (f->closed) {
            expo_err(e, ln, "family interleaved with another", line);
            continue;
        }
        if (cur && cur != f)
            cur->closed = 1;
        cur = f;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                const char *ls = q;
                while (name_char(*q, q == ls))
                    q++;
                if (q == ls || *q != '=' || q[1] != '"') {
                    expo_err(e, ln, "bad label", line);
                    break;
                }
                q += 2;
                while (*q && *q != '"') {
                    if (*q == '\\') {
                        if (q[1] != '\\' && q[1] != '"' && q[1] != 'n') {
                            expo_err(e, ln, "bad escape in a label value", line);
                            break;
                        }
                        q++;
                    } else if (*q == '\n') {
                        expo_err(e, ln, "raw line feed in a label value", line);
                    }
                    q++;
                }
                if (*q != '"') {
                    expo_err(e, ln, "unterminated label value", line);
                    break;
                }
                q++;
                if (*q == ',')
                    q++;
                else if (*q != '}') {
                    expo_err(e, ln, "labels not separated by commas", line);
                    break;
                }
            }
            if (*q != '}')
                continue;
            q++;
        }
        if (*q != ' ') {
            expo_err(e, ln, "no space before the value", line);
            continue;
        }
        char *vend = NULL;
        double v = strtod(q + 1, &vend);
        if (vend == q + 1 || *vend) {
            expo_err(e, ln, "value is not a number (or a timestamp follows)", line);
            continue;
        }
        if (e->ns < MAXSAMP) {
            size_t sl = (size_t)(q - line);
            if (sl >= sizeof e->s[0].series)
                sl = sizeof e->s[0].series - 1;
            memcpy(e->s[e->ns].series, line, sl);
            e->s[e->ns].series[sl] = '\0';
            e->s[e->ns].value = v;
            for (size_t k = 0; k < e->ns; k++)
                if (!strcmp(e->s[k].series, e->s[e->ns].series))
                    expo_err(e, ln, "duplicate series", line);
            e->ns++;
        }
    }
    for (size_t i = 0; i < e->nfam; i++)
        if (!e->fam[i].type)
            expo_err(e, 0, "family without TYPE", e->fam[i].name);
}

/* The value of series (name{labels} exactly as written), or -12345 when absent. */
static double val(const expo *e, const char *series)
{
    for (size_t i = 0; i < e->ns; i++)
        if (!strcmp(e->s[i].series, series))
            return e->s[i].value;
    return -12345;
}

static const family *fam(const expo *e, const char *name)
{
    for (size_t i = 0; i < e->nfam; i++)
        if (!strcmp(e->fam[i].name, name))
            return &e->fam[i];
    return NULL;
}

/* ------------------------------------------------------------------ the seed */

#define ODD "Odd\"Na\\me"

static syncrt_status no_run(syncrt_mctx *ctx, const char *json, size_t len, syncrt_mbuf *out)
{
    (void)ctx; (void)json; (void)len; (void)out;
    return SYNCRT_EINVAL;
}

static syncrt_flow_desc f_order, f_beta, f_odd, f_off;
static const syncrt_flow_desc *flows[4];

static void flows_init(void)
{
    /* runnable by the engine as descriptors (a Clarity -> F&O create); never run here */
    f_order.name = "OrderToCash";
    f_order.map_version = "order_to_cash.map@0123456789abcdef (mapc 0.1.0)";
    f_order.source = SYNCRT_SYS_CLARITY;
    f_order.poll_route = "Ordering/SalesOrders";
    f_order.source_id_field = "ID";
    f_order.run = no_run;
    f_order.target = SYNCRT_SYS_D365;
    f_order.write = SYNCRT_WRITE_CREATE;
    f_order.target_set = "SalesOrderHeadersV2";
    f_order.target_route = "SalesOrderHeadersV2";
    f_order.key_fields[0] = "SalesOrderNumber";
    f_order.idempotency_field = "SalesOrderNumber";
    f_beta = f_order;
    f_beta.name = "Beta";
    f_beta.poll_route = NULL;
    f_beta.webhook_event = "Beta.Created";
    f_odd = f_order;
    f_odd.name = ODD;
    f_off = f_order;
    f_off.name = "Off";
    flows[0] = &f_order;
    flows[1] = &f_beta;
    flows[2] = &f_odd;
    flows[3] = &f_off;
}

static void enqueue(syncrt_store *s, const char *flow, const char *key)
{
    syncrt_enqueue_item it = { key, NULL, "{}", 2 };
    syncrt_store_enqueue(s, NULL, flow, &it, NULL);
}

/* OrderToCash: r1 delivered, r2 skipped, r3 failed (pending, retry due in a minute), r4
 * dead-lettered, r5 leased, r6 pending; Odd: one pending record; Beta and Off: nothing. */
static int seed(const char *path)
{
    syncrt_store_options so = { fake_clock, NULL, 0 };
    syncrt_store *s = NULL;
    syncrt_inbox_record *recs = NULL;
    size_t n = 0;
    int ok = 1;
    fake_now = T0;
    if (syncrt_store_open(&s, path, &so, NULL) != SYNCRT_OK)
        return 0;
    for (int i = 1; i <= 4; i++) {
        char k[16];
        snprintf(k, sizeof k, "r%d", i);
        enqueue(s, "OrderToCash", k);
    }
    ok &= syncrt_store_claim(s, &recs, &n, "OrderToCash", "w1", 60000, 4, NULL) == SYNCRT_OK && n == 4;
    if (ok) {
        syncrt_delivery d = { 0 };
        d.target_key = "WEB-1";
        ok &= syncrt_store_complete(s, recs[0].id, "w1", &d, NULL) == SYNCRT_OK;
        d.target_key = NULL;
        d.skipped = 1;
        ok &= syncrt_store_complete(s, recs[1].id, "w1", &d, NULL) == SYNCRT_OK;
        ok &= syncrt_store_fail(s, recs[2].id, "w1", "HTTP 503", T0 + 60000, NULL) == SYNCRT_OK;
        ok &= syncrt_store_dead_letter(s, recs[3].id, "w1", "F&O said \"no\" <b>&</b>", "HTTP 400",
                                       NULL) == SYNCRT_OK;
    }
    syncrt_store_records_free(recs, n);
    fake_now = T0 + 1000;
    enqueue(s, "OrderToCash", "r5");
    fake_now = T0 + 2000;
    enqueue(s, "OrderToCash", "r6");
    enqueue(s, ODD, "o1");
    recs = NULL;
    ok &= syncrt_store_claim(s, &recs, &n, "OrderToCash", "w1", 60000, 1, NULL) == SYNCRT_OK && n == 1 &&
          !strcmp(recs[0].dedup_key, "r5");
    syncrt_store_records_free(recs, n);
    syncrt_store_close(s);
    return ok;
}

static const char *jstr(const json_t *j)
{
    const char *s = json_string_value(j);
    return s ? s : "";
}

static int has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* ------------------------------------------------------------------ tests */

static const char config_text[] =
    "{\"store\": \"%s\", \"d365\": {\"url\": \"http://127.0.0.1:9\"},"
    " \"clarity\": {\"root\": \"http://127.0.0.1:9/API\", \"auth\": \"none\"},"
    " \"metrics\": {\"port\": 0},"
    " \"flows\": {\"OrderToCash\": {\"enabled\": true}, \"Beta\": {\"enabled\": true},"
    " \"Off\": {\"enabled\": false}}}";

static syncrt_metrics *start(const char *store, syncrt_config *cfg, syncrt_engine *e)
{
    syncrt_metrics_options mo = { 0 };
    syncrt_metrics *m = NULL;
    syncrt_error err;
    mo.store_path = store;
    mo.config = cfg;
    mo.flows = flows;
    mo.nflows = 4;
    mo.engine = e;
    mo.started_at = T0 - 5000;
    mo.clock = fake_clock;
    syncrt_status st = syncrt_metrics_start(&m, &mo, &err);
    CHECK(st == SYNCRT_OK && m && syncrt_metrics_port(m) > 0, "server starts on a kernel-chosen port (%s)",
          st == SYNCRT_OK ? "ok" : err.message);
    return m;
}

static void store_only_tests(const char *store, syncrt_config *cfg)
{
    fake_now = T0 + 10000;
    syncrt_metrics *m = start(store, cfg, NULL);
    if (!m)
        return;
    unsigned port = syncrt_metrics_port(m);
    expo e;

    reply r = fetch(port, "GET", "/metrics");
    CHECK_INT(r.status, 200, "GET /metrics answers 200");
    CHECK(has(r.headers, "Content-Type: text/plain; version=0.0.4; charset=utf-8"),
          "/metrics has the 0.0.4 content type");
    expo_parse(&e, r.body);
    CHECK(!e.error[0], "/metrics is well-formed exposition text (%d lines, %zu samples)%s%s", e.lines,
          e.ns, e.error[0] ? ": " : "", e.error);
    CHECK(e.ns >= 15, "it has samples (%zu)", e.ns);
    CHECK(val(&e, "syncrt_inbox_records{flow=\"OrderToCash\",state=\"pending\"}") == 2,
          "pending = 2 (the failed record waiting for its retry, r6)");
    CHECK(val(&e, "syncrt_inbox_records{flow=\"OrderToCash\",state=\"leased\"}") == 1, "leased = 1 (r5)");
    CHECK(val(&e, "syncrt_dlq_records{flow=\"OrderToCash\"}") == 1, "dead letters = 1 (r4)");
    CHECK(val(&e, "syncrt_oldest_pending_age_seconds{flow=\"OrderToCash\"}") == 10.0,
          "oldest pending age = 10 s (r3 received at T0, now T0 + 10 s): %g",
          val(&e, "syncrt_oldest_pending_age_seconds{flow=\"OrderToCash\"}"));
    CHECK(val(&e, "syncrt_oldest_pending_age_seconds{flow=\"Beta\"}") == 0, "no pending record: age 0");
    CHECK(val(&e, "syncrt_flow_paused{flow=\"Beta\"}") == 0 && val(&e, "syncrt_flow_paused{flow=\"OrderToCash\"}") == 0,
          "nothing paused");
    CHECK(val(&e, "syncrt_inbox_records{flow=\"Odd\\\"Na\\\\me\",state=\"pending\"}") == 1,
          "a flow name with a quote and a backslash is escaped in its label");
    CHECK(val(&e, "syncrt_flow_enabled{flow=\"Odd\\\"Na\\\\me\"}") == 0 &&
          val(&e, "syncrt_flow_enabled{flow=\"OrderToCash\"}") == 1,
          "disabled flow with a pending record shown as disabled, enabled one as enabled");
    CHECK(!has(r.body, "flow=\"Off\""), "a disabled flow with nothing waiting is not shown");
    CHECK(val(&e, "syncrt_store_up") == 1, "store_up 1");
    CHECK(val(&e, "syncrt_process_start_time_seconds") == (double)(T0 - 5000) / 1000.0,
          "process start time in seconds");
    {
        char bi[128];
        snprintf(bi, sizeof bi, "syncrt_build_info{version=\"%s\",abi=\"%d\"}", SYNCRT_VERSION, SYNCRT_ABI);
        CHECK(val(&e, bi) == 1, "build info with version and ABI");
    }
    CHECK(fam(&e, "syncrt_build_info") && !strcmp(fam(&e, "syncrt_build_info")->kind, "gauge"),
          "build info is a gauge");
    CHECK(val(&e, "syncrt_flow_info{flow=\"OrderToCash\",map_version=\"order_to_cash.map@0123456789abcdef (mapc 0.1.0)\"}") == 1,
          "flow info carries the map version");
    CHECK(!fam(&e, "syncrt_records_delivered_total"), "no engine: no engine counters");
    reply_free(&r);

    r = fetch(port, "GET", "/status.json");
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK(r.status == 200 && has(r.headers, "application/json") && j, "GET /status.json: 200 JSON");
    json_t *fl = json_object_get(j, "flows"), *o2c = NULL, *beta = NULL;
    for (size_t i = 0; i < json_array_size(fl); i++) {
        const char *nm = json_string_value(json_object_get(json_array_get(fl, i), "flow"));
        if (nm && !strcmp(nm, "OrderToCash"))
            o2c = json_array_get(fl, i);
        if (nm && !strcmp(nm, "Beta"))
            beta = json_array_get(fl, i);
    }
    CHECK_INT(json_array_size(fl), 3, "three flows shown (OrderToCash, Beta, the odd one)");
    json_t *lh = json_object_get(o2c, "last_hour");
    CHECK(json_integer_value(json_object_get(lh, "delivered")) == 1 &&
          json_integer_value(json_object_get(lh, "skipped")) == 1 &&
          json_integer_value(json_object_get(lh, "retried")) == 1 &&
          json_integer_value(json_object_get(lh, "dead")) == 1,
          "last hour from the audit: 1 delivered, 1 skipped, 1 retried, 1 dead");
    CHECK(json_integer_value(json_object_get(o2c, "inbox_pending")) == 2 &&
          json_integer_value(json_object_get(o2c, "inbox_leased")) == 1 &&
          json_integer_value(json_object_get(o2c, "dead_letters")) == 1 &&
          json_real_value(json_object_get(o2c, "oldest_pending_age_s")) == 10.0,
          "inbox, dead letters and oldest age as in /metrics");
    json_t *dl = json_object_get(o2c, "dlq_latest");
    CHECK(json_array_size(dl) == 1 &&
          !strcmp(jstr(json_object_get(json_array_get(dl, 0), "reason")),
                  "F&O said \"no\" <b>&</b>") &&
          !strcmp(jstr(json_object_get(json_array_get(dl, 0), "source_key")), "r4"),
          "the dead letter's reason and key");
    CHECK(json_is_true(json_object_get(j, "healthy")) && json_is_false(json_object_get(beta, "paused")) &&
          json_is_null(json_object_get(o2c, "since_start")), "healthy, Beta not paused, no engine counts");
    json_decref(j);
    reply_free(&r);

    r = fetch(port, "GET", "/status");
    CHECK(r.status == 200 && has(r.headers, "text/html"), "GET /status: 200 HTML");
    CHECK(has(r.body, "<meta http-equiv=\"refresh\" content=\"5\">"), "the page refreshes every 5 s");
    CHECK(has(r.body, "F&amp;O said &quot;no&quot; &lt;b&gt;&amp;&lt;/b&gt;") && !has(r.body, "<b>&</b>"),
          "the dead-letter reason is HTML-escaped");
    CHECK(has(r.body, "Odd&quot;Na\\me") && !has(r.body, "<script") && !has(r.body, "src=") &&
          !has(r.body, "href="), "flow name escaped; no script, no external asset");
    reply_free(&r);

    r = fetch(port, "GET", "/healthz");
    CHECK(r.status == 200 && !strcmp(r.body, "ok\n"), "GET /healthz: 200 ok");
    reply_free(&r);

    /* Beta paused as the engine records it */
    {
        syncrt_store *s = NULL;
        syncrt_store_open(&s, store, NULL, NULL);
        syncrt_store_checkpoint_set(s, "Beta#paused",
                                    "2026-11-27T18:00:00.000Z F&O refused the credentials (HTTP 401)", NULL);
        syncrt_store_close(s);
    }
    r = fetch(port, "GET", "/healthz");
    CHECK(r.status == 503 && has(r.body, "flow Beta paused since 2026-11-27T18:00:00.000Z: F&O refused "
                                         "the credentials (HTTP 401)"),
          "paused flow: /healthz 503 with the flow and why (HTTP %ld)", r.status);
    reply_free(&r);
    r = fetch(port, "GET", "/metrics");
    expo_parse(&e, r.body);
    CHECK(!e.error[0] && val(&e, "syncrt_flow_paused{flow=\"Beta\"}") == 1, "/metrics: Beta paused 1");
    reply_free(&r);
    r = fetch(port, "GET", "/status.json");
    j = json_loads(r.body, 0, NULL);
    fl = json_object_get(j, "flows");
    beta = NULL;
    for (size_t i = 0; i < json_array_size(fl); i++)
        if (!strcmp(jstr(json_object_get(json_array_get(fl, i), "flow")), "Beta"))
            beta = json_array_get(fl, i);
    CHECK(json_is_false(json_object_get(j, "healthy")) && json_is_true(json_object_get(beta, "paused")) &&
          !strcmp(jstr(json_object_get(beta, "paused_reason")),
                  "F&O refused the credentials (HTTP 401)"), "/status.json: Beta paused with its reason");
    json_decref(j);
    reply_free(&r);
    r = fetch(port, "GET", "/status");
    CHECK(has(r.body, "PAUSED since 2026-11-27T18:00:00.000Z: F&amp;O refused the credentials"),
          "/status shows the pause and why");
    reply_free(&r);
    {
        syncrt_store *s = NULL;
        syncrt_store_open(&s, store, NULL, NULL);
        syncrt_store_checkpoint_set(s, "Beta#paused", "", NULL);   /* resumed */
        syncrt_store_close(s);
    }
    r = fetch(port, "GET", "/healthz");
    CHECK_INT(r.status, 200, "resumed: /healthz 200 again");
    reply_free(&r);

    r = fetch(port, "GET", "/nope");
    CHECK_INT(r.status, 404, "unknown path: 404");
    reply_free(&r);
    r = fetch(port, "GET", "/");
    CHECK_INT(r.status, 404, "/: 404");
    reply_free(&r);
    r = fetch(port, "GET", "/metrics/");
    CHECK_INT(r.status, 404, "/metrics/: 404");
    reply_free(&r);
    r = fetch(port, "POST", "/metrics");
    CHECK(r.status == 405 && has(r.headers, "Allow: GET, HEAD"), "POST: 405 with Allow");
    reply_free(&r);
    r = fetch(port, "DELETE", "/status");
    CHECK_INT(r.status, 405, "DELETE: 405");
    reply_free(&r);
    r = fetch(port, "HEAD", "/metrics");
    CHECK(r.status == 200 && !*r.body && has(r.headers, "version=0.0.4"), "HEAD /metrics: 200, headers, no body");
    reply_free(&r);

    /* a second server on the same port */
    {
        syncrt_metrics_options mo = { 0 };
        syncrt_metrics *m2 = NULL;
        syncrt_error err;
        mo.store_path = store;
        mo.config = cfg;
        mo.port = port;
        syncrt_status st = syncrt_metrics_start(&m2, &mo, &err);
        CHECK(st == SYNCRT_EIO && !m2 && has(err.message, "cannot listen"),
              "a port in use: SYNCRT_EIO (%s)", err.message);
        syncrt_metrics_stop(m2);
        m2 = NULL;
        mo.port = 0;
        mo.bind_address = "localhost";
        st = syncrt_metrics_start(&m2, &mo, &err);
        CHECK(st == SYNCRT_EINVAL && !m2, "a bind that is not an IPv4 address: EINVAL");
        syncrt_metrics_stop(m2);
    }

    /* a broken store: 503 at /healthz, store_up 0 at /metrics */
    {
        sqlite3 *db = NULL;
        sqlite3_open(store, &db);
        sqlite3_exec(db, "ALTER TABLE inbox RENAME TO inbox_moved", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    r = fetch(port, "GET", "/healthz");
    CHECK(r.status == 503 && has(r.body, "store unreadable"), "store broken: /healthz 503 (HTTP %ld)", r.status);
    reply_free(&r);
    r = fetch(port, "GET", "/metrics");
    expo_parse(&e, r.body);
    CHECK(r.status == 200 && !e.error[0] && val(&e, "syncrt_store_up") == 0 &&
          !fam(&e, "syncrt_inbox_records"), "store broken: /metrics still well-formed, store_up 0, no store figures");
    reply_free(&r);
    r = fetch(port, "GET", "/status");
    CHECK(r.status == 200 && has(r.body, "store unreadable"), "store broken: /status says so");
    reply_free(&r);
    {
        sqlite3 *db = NULL;
        sqlite3_open(store, &db);
        sqlite3_exec(db, "ALTER TABLE inbox_moved RENAME TO inbox", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    syncrt_metrics_stop(m);
}

static void engine_tests(const char *store, syncrt_config *cfg)
{
    syncrt_engine_options eo = { 0 };
    syncrt_engine *eng = NULL;
    syncrt_error err;
    eo.config = cfg;
    eo.flows = flows;
    eo.nflows = 4;
    syncrt_status st = syncrt_engine_new(&eng, &eo, &err);
    CHECK(st == SYNCRT_OK, "engine over the test flows (%s)", st == SYNCRT_OK ? "ok" : err.message);
    if (st != SYNCRT_OK)
        return;
    syncrt_metrics *m = start(store, cfg, eng);
    if (m) {
        reply r = fetch(syncrt_metrics_port(m), "GET", "/metrics");
        expo e;
        expo_parse(&e, r.body);
        CHECK(!e.error[0], "with an engine: well-formed%s%s", e.error[0] ? ": " : "", e.error);
        CHECK(val(&e, "syncrt_records_delivered_total{flow=\"OrderToCash\"}") == 0 &&
              val(&e, "syncrt_records_dead_lettered_total{flow=\"Beta\"}") == 0 &&
              val(&e, "syncrt_records_enqueued_total{flow=\"Odd\\\"Na\\\\me\"}") == 0,
              "per-flow counters from the engine (nothing run yet: 0)");
        CHECK(val(&e, "syncrt_polls_total{flow=\"OrderToCash\"}") == 0 &&
              val(&e, "syncrt_polls_total{flow=\"Beta\"}") == -12345 &&
              val(&e, "syncrt_last_poll_success_timestamp_seconds{flow=\"OrderToCash\"}") == 0,
              "poll series only for a flow that polls (Beta takes webhooks only)");
        CHECK(val(&e, "syncrt_http_requests_total{peer=\"d365\",class=\"2xx\"}") == 0 &&
              val(&e, "syncrt_http_requests_total{peer=\"clarity\",class=\"error\"}") == 0 &&
              val(&e, "syncrt_http_throttled_total{peer=\"d365\"}") == 0 &&
              val(&e, "syncrt_d365_batch_requests_total") == 0 && val(&e, "syncrt_d365_probes_total") == 0,
              "engine-wide HTTP, 429, $batch and probe counters");
        CHECK(fam(&e, "syncrt_records_delivered_total") &&
              !strcmp(fam(&e, "syncrt_records_delivered_total")->kind, "counter") &&
              fam(&e, "syncrt_inbox_records") && !strcmp(fam(&e, "syncrt_inbox_records")->kind, "gauge"),
              "counters typed counter, depths gauge");
        reply_free(&r);
        r = fetch(syncrt_metrics_port(m), "GET", "/status.json");
        json_t *j = json_loads(r.body, 0, NULL);
        json_t *o2c = json_array_get(json_object_get(j, "flows"), 0);
        CHECK(json_is_true(json_object_get(j, "engine")) &&
              json_integer_value(json_object_get(json_object_get(o2c, "since_start"), "delivered")) == 0 &&
              json_is_null(json_object_get(o2c, "last_poll")), "/status.json since_start from the engine");
        json_decref(j);
        reply_free(&r);

        /* a real poll that fails: Clarity at 127.0.0.1:9 refuses the connection */
        syncrt_engine_worker *w = NULL;
        size_t got = 0;
        st = syncrt_engine_worker_new(&w, eng, "t", &err);
        syncrt_status pst = st == SYNCRT_OK ? syncrt_engine_poll(w, &f_order, &got, &err) : st;
        syncrt_engine_worker_free(w);
        CHECK(st == SYNCRT_OK && pst != SYNCRT_OK, "a poll against a closed port fails (%s)", err.message);
        r = fetch(syncrt_metrics_port(m), "GET", "/metrics");
        expo_parse(&e, r.body);
        CHECK(!e.error[0] && val(&e, "syncrt_polls_total{flow=\"OrderToCash\"}") == 1 &&
              val(&e, "syncrt_poll_errors_total{flow=\"OrderToCash\"}") == 1 &&
              val(&e, "syncrt_last_poll_success_timestamp_seconds{flow=\"OrderToCash\"}") == 0,
              "the failed poll is counted: polls 1, errors 1, no success time");
        CHECK(val(&e, "syncrt_http_requests_total{peer=\"clarity\",class=\"error\"}") >= 1 &&
              val(&e, "syncrt_http_requests_total{peer=\"clarity\",class=\"2xx\"}") == 0 &&
              val(&e, "syncrt_http_requests_total{peer=\"d365\",class=\"error\"}") == 0,
              "its request is counted for Clarity as a transport error (%g)",
              val(&e, "syncrt_http_requests_total{peer=\"clarity\",class=\"error\"}"));
        reply_free(&r);
        r = fetch(syncrt_metrics_port(m), "GET", "/status");
        CHECK(has(r.body, "Needs attention") && has(r.body, "The last poll of OrderToCash failed") &&
              has(r.body, "(failed)"), "/status: the failed poll in the headline and the row");
        reply_free(&r);
        r = fetch(syncrt_metrics_port(m), "GET", "/healthz");
        CHECK_INT(r.status, 200, "a failing poll alone does not fail /healthz");
        reply_free(&r);
        syncrt_metrics_stop(m);
    }
    syncrt_engine_free(eng);
}

static void config_tests(void)
{
    static const struct { const char *metrics, *field; } bad[] = {
        { "{\"port\": 70000}", "metrics.port" },
        { "{\"port\": -1}", "metrics.port" },
        { "{\"port\": \"9464\"}", "metrics.port" },
        { "{\"bind\": \"localhost\"}", "metrics.bind" },
        { "{\"bind\": 1}", "metrics.bind" },
        { "{\"enabled\": \"yes\"}", "metrics.enabled" },
        { "[]", "metrics" },
    };
    char text[512];
    syncrt_config *c = NULL;
    syncrt_error err;
    snprintf(text, sizeof text, "{\"d365\": {\"url\": \"http://x\"}}");
    syncrt_status st = syncrt_config_parse(&c, text, "t", NULL, &err);
    CHECK(st == SYNCRT_OK && c->metrics_enabled == 1 &&
          !strcmp(c->metrics_bind, "127.0.0.1") && c->metrics_port == 9464,
          "config: metrics on at 127.0.0.1:9464 by default");
    syncrt_config_free(c);
    snprintf(text, sizeof text, "{\"d365\": {\"url\": \"http://x\"}, \"metrics\": {\"enabled\": false,"
             " \"bind\": \"0.0.0.0\", \"port\": 0}}");
    c = NULL;
    st = syncrt_config_parse(&c, text, "t", NULL, &err);
    CHECK(st == SYNCRT_OK && c->metrics_enabled == 0 &&
          !strcmp(c->metrics_bind, "0.0.0.0") && c->metrics_port == 0, "config: metrics settings read");
    syncrt_config_free(c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "{\"d365\": {\"url\": \"http://x\"}, \"metrics\": %s}", bad[i].metrics);
        c = NULL;
        st = syncrt_config_parse(&c, text, "t", NULL, &err);
        char want[64];
        snprintf(want, sizeof want, "t: %s:", bad[i].field);
        CHECK(st == SYNCRT_EINVAL && !c && has(err.message, want), "config: metrics %s refused naming %s (%s)",
              bad[i].metrics, bad[i].field, st == SYNCRT_OK ? "accepted" : err.message);
        syncrt_config_free(c);
    }
}

int main(void)
{
    char dir[] = "/tmp/test_metrics.XXXXXX", store[128], text[1024];
    syncrt_config *cfg = NULL;
    syncrt_error err;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    flows_init();
    if (!mkdtemp(dir)) {
        CHECK(0, "temporary directory");
        return test_done();
    }
    snprintf(store, sizeof store, "%s/sync.db", dir);
    int seeded = seed(store);
    CHECK(seeded, "store seeded with records in every state");
    snprintf(text, sizeof text, config_text, store);
    syncrt_status st = syncrt_config_parse(&cfg, text, "test", NULL, &err);
    CHECK(st == SYNCRT_OK, "test configuration (%s)", st == SYNCRT_OK ? "ok" : err.message);
    if (st == SYNCRT_OK) {
        store_only_tests(store, cfg);
        engine_tests(store, cfg);
    }
    syncrt_config_free(cfg);
    config_tests();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        CHECK(0, "cleanup of %s", dir);
    curl_global_cleanup();
    return test_done();
}
