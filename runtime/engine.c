/* engine.c - flow execution: intake (poll, webhook routing), workers that map and deliver
 * records to F&O in $batch changesets, and the outcome of every record per DESIGN.md's
 * reliability model (see engine.h for the rules, docs/operator.md for what they look like). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "syncrt/auth.h"
#include "syncrt/clarity.h"
#include "syncrt/decimal.h"
#include "syncrt/engine.h"
#include "syncrt/http.h"
#include "syncrt/isotime.h"
#include "syncrt/odata.h"
#include "syncrt/worker.h"

#define ENGINE_MAX_FLOWS 16

struct syncrt_engine {
    syncrt_engine_options o;
    const syncrt_config *cfg;
    char *service_root;             /* d365 url + "/data" */
    pthread_mutex_t mu;             /* gate, pause state, counters */
    syncrt_endpoint gate;           /* every request to F&O passes it */
    int64_t paused_until[ENGINE_MAX_FLOWS];
    int paused[ENGINE_MAX_FLOWS];
    syncrt_engine_counters n;
    syncrt_engine_flow_stats fs[ENGINE_MAX_FLOWS];  /* per flow (syncrt_engine_flow_stats_get) */
    syncrt_engine_http_stats http;                  /* every worker's requests (http_log) */
    int contact_seen[ENGINE_MAX_FLOWS];             /* F&O took our credentials for the flow */
    uint64_t seed;
};

struct syncrt_engine_worker {
    syncrt_engine *e;
    char name[64];
    syncrt_store *store;
    syncrt_http *http;
    syncrt_auth *d365;
    syncrt_auth *clarity;
    syncrt_rng rng;
    syncrt_mctx mctx;
    int contacted;              /* F&O accepted our credentials during this step */
    json_t *refs;               /* ref lookups answered (resolve_refs): "route\x1f by\x1f get
                                   \x1f value" -> the got value; NULL until the first */
};

const char *syncrt_log_level_name(syncrt_log_level l)
{
    switch (l) {
    case SYNCRT_LOG_DEBUG: return "debug";
    case SYNCRT_LOG_INFO: return "info";
    case SYNCRT_LOG_WARN: return "warn";
    case SYNCRT_LOG_ERROR: return "error";
    case SYNCRT_LOG_ALERT: return "alert";
    }
    return "?";
}

/* ------------------------------------------------------------------ logging */

/* Appends key=value to buf, quoting the value when it holds spaces, quotes or '='. */
static void kv(char *buf, size_t size, const char *key, const char *val)
{
    size_t n = strlen(buf);
    if (n + 4 >= size)
        return;
    if (!val)
        val = "";
    int quote = *val == '\0' || strpbrk(val, " \t\"=\n\r") != NULL;
    n += (size_t)snprintf(buf + n, size - n, "%s%s=%s", n ? " " : "", key, quote ? "\"" : "");
    for (const char *p = val; *p && n + 3 < size; p++) {
        if (*p == '"' || *p == '\\') {
            buf[n++] = '\\';
            buf[n++] = *p;
        } else if (*p == '\n' || *p == '\r') {
            buf[n++] = ' ';
        } else {
            buf[n++] = *p;
        }
    }
    if (quote && n + 1 < size)
        buf[n++] = '"';
    buf[n] = '\0';
}

static void kvf(char *buf, size_t size, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void kvf(char *buf, size_t size, const char *key, const char *fmt, ...)
{
    char v[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    kv(buf, size, key, v);
}

static void elog(syncrt_engine *e, syncrt_log_level l, const char *event, const char *fields)
{
    if (e->o.log)
        e->o.log(e->o.log_ctx, l, event, fields);
}

static int stopping(const syncrt_engine *e)
{
    return e->o.stop && *e->o.stop;
}

static int64_t now_ms(void)
{
    return syncrt_clock_real(NULL);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------ JSON spans */

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The end of the JSON value starting at p, or NULL when it is malformed. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = skip_value(p, end);
                if (!p)
                    return NULL;
                p--;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
           *p != '\r' && *p != '\t')
        p++;
    return p;
}

/* The text of member key of the object text [json, json+len); 0 when found. */
static int member_span(const char *json, size_t len, const char *key, const char **vp, size_t *vn)
{
    const char *end = json + len, *p = ws(json, end);
    size_t klen = strlen(key);
    if (p >= end || *p != '{')
        return -1;
    p = ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *ks = p + 1, *ke = skip_value(p, end);
        if (!ke)
            return -1;
        int match = (size_t)(ke - 1 - ks) == klen && memcmp(ks, key, klen) == 0;
        p = ws(ke, end);
        if (p >= end || *p != ':')
            return -1;
        p = ws(p + 1, end);
        const char *ve = skip_value(p, end);
        if (!ve)
            return -1;
        if (match) {
            *vp = p;
            *vn = (size_t)(ve - p);
            return 0;
        }
        p = ws(ve, end);
        if (p < end && *p == ',')
            p = ws(p + 1, end);
    }
    return -1;
}

/* ------------------------------------------------------------------ the engine */

syncrt_status syncrt_engine_new(syncrt_engine **out, const syncrt_engine_options *o,
                                syncrt_error *err)
{
    *out = NULL;
    if (!o || !o->config || o->nflows > ENGINE_MAX_FLOWS)
        return syncrt_error_set(err, SYNCRT_EINVAL, "engine: no configuration or too many flows");
    for (size_t i = 0; i < o->nflows; i++) {
        const syncrt_config_flow *cf = syncrt_config_flow_get(o->config, o->flows[i]->name);
        if (cf && cf->enabled && !syncrt_engine_runs(o->flows[i]))
            return syncrt_error_set(err, SYNCRT_EINVAL,
                                    "flow %s is enabled, but this engine does not run it yet "
                                    "(it runs Clarity -> F&O creates, updates and upserts, and "
                                    "F&O -> Clarity upserts by CustomKey)",
                                    o->flows[i]->name);
    }
    syncrt_engine *e = calloc(1, sizeof *e);
    if (!e)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    e->o = *o;
    e->cfg = o->config;
    size_t n = strlen(e->cfg->d365_url) + 8;
    e->service_root = malloc(n);
    if (!e->service_root) {
        free(e);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    snprintf(e->service_root, n, "%s%s", e->cfg->d365_url,
             e->cfg->d365_url[0] && e->cfg->d365_url[strlen(e->cfg->d365_url) - 1] == '/' ? "data" : "/data");
    pthread_mutex_init(&e->mu, NULL);
    syncrt_endpoint_config ec = { 0 };
    ec.initial = e->cfg->d365_concurrency < 4 ? e->cfg->d365_concurrency : 4;
    ec.min_limit = 1;
    ec.max_limit = e->cfg->d365_concurrency;
    syncrt_endpoint_init(&e->gate, &ec);
    syncrt_endpoint_pace(&e->gate, e->cfg->d365_max_rate, 0);
    e->seed = o->seed ? o->seed : (uint64_t)now_ms();
    *out = e;
    return SYNCRT_OK;
}

void syncrt_engine_free(syncrt_engine *e)
{
    if (!e)
        return;
    pthread_mutex_destroy(&e->mu);
    free(e->service_root);
    free(e);
}

void syncrt_engine_counters_get(syncrt_engine *e, syncrt_engine_counters *out)
{
    pthread_mutex_lock(&e->mu);
    *out = e->n;
    pthread_mutex_unlock(&e->mu);
}

static int flow_index(const syncrt_engine *e, const syncrt_flow_desc *f);

void syncrt_engine_flow_stats_get(syncrt_engine *e, const syncrt_flow_desc *f,
                                  syncrt_engine_flow_stats *out)
{
    int fi = flow_index(e, f);
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->mu);
    if (fi >= 0)
        *out = e->fs[fi];
    pthread_mutex_unlock(&e->mu);
}

void syncrt_engine_http_stats_get(syncrt_engine *e, syncrt_engine_http_stats *out)
{
    pthread_mutex_lock(&e->mu);
    *out = e->http;
    pthread_mutex_unlock(&e->mu);
}

#define COUNT(e, field, k) do { pthread_mutex_lock(&(e)->mu); (e)->n.field += (k); \
                                pthread_mutex_unlock(&(e)->mu); } while (0)
/* The same, counted for the flow fl as well (syncrt_engine_flow_stats). */
#define FCOUNT(e, fl, field, k) do { int fi_ = flow_index((e), (fl)); \
                                     pthread_mutex_lock(&(e)->mu); (e)->n.field += (k); \
                                     if (fi_ >= 0) (e)->fs[fi_].n.field += (k); \
                                     pthread_mutex_unlock(&(e)->mu); } while (0)

static int flow_index(const syncrt_engine *e, const syncrt_flow_desc *f)
{
    for (size_t i = 0; i < e->o.nflows; i++)
        if (e->o.flows[i] == f)
            return (int)i;
    return -1;
}

/* A Clarity order state update: an `update` of Ordering/SalesOrder keyed by ID (the mapped
 * record's StatusKey names the state, reached by the PATCH state actions). */
static int state_flow(const syncrt_flow_desc *f)
{
    return f->target == SYNCRT_SYS_CLARITY && f->write == SYNCRT_WRITE_UPDATE &&
           f->target_route && !strcmp(f->target_route, "Ordering/SalesOrder") && f->key_fields[0] &&
           !strcmp(f->key_fields[0], "ID") && !f->key_fields[1];
}

/* Customer 360, Clarity -> F&O: an update or upsert of one F&O record without children,
 * worked record by record (send_c360). */
static int c360_flow(const syncrt_flow_desc *f)
{
    return f->source == SYNCRT_SYS_CLARITY && f->target == SYNCRT_SYS_D365 &&
           (f->write == SYNCRT_WRITE_UPDATE || f->write == SYNCRT_WRITE_UPSERT) && !f->child_set &&
           f->key_fields[0] && f->source_id_field && f->poll_route;
}

/* `write OP as bulk MEMBER by MAP` into Clarity: many records in one request (send_bulk). */
static int bulk_flow(const syncrt_flow_desc *f)
{
    return f->target == SYNCRT_SYS_CLARITY && f->bulk_member && f->bulk_method && f->target_route;
}

int syncrt_engine_runs(const syncrt_flow_desc *f)
{
    if (!f || !f->run || !f->target_set || !f->idempotency_field)
        return 0;
    if (f->source == SYNCRT_SYS_CLARITY && f->target == SYNCRT_SYS_D365)
        return (f->write == SYNCRT_WRITE_CREATE && f->source_id_field != NULL) || c360_flow(f);
    if (f->group_by[0] && f->source != SYNCRT_SYS_D365)
        return 0;   /* rows are grouped only by the F&O poll */
    return f->source == SYNCRT_SYS_D365 && f->target == SYNCRT_SYS_CLARITY &&
           f->poll_route && f->target_route &&
           f->source_key_fields[0] && f->key_fields[0] && !f->child_set &&
           ((f->write == SYNCRT_WRITE_UPSERT && !strcmp(f->key_fields[0], "CustomKey")) ||
            state_flow(f) || bulk_flow(f));
}

static int flow_enabled(const syncrt_engine *e, const syncrt_flow_desc *f)
{
    const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
    return cf && cf->enabled && syncrt_engine_runs(f);
}

/* The flow a record created in F&O by f is handed to at once (docs/flows.md, gap 2): an
 * enabled flow whose F&O poll reads the set f creates into, row by row (OrderToCash creates
 * SalesOrderHeadersV2, which OrderStateToClarity polls), so the new row does not wait for that
 * poll.  NULL: none. */
static const syncrt_flow_desc *handoff_flow(const syncrt_engine *e, const syncrt_flow_desc *f)
{
    if (f->source != SYNCRT_SYS_CLARITY || f->target != SYNCRT_SYS_D365 ||
        f->write != SYNCRT_WRITE_CREATE || !f->target_set)
        return NULL;
    for (size_t i = 0; i < e->o.nflows; i++) {
        const syncrt_flow_desc *g = e->o.flows[i];
        if (g != f && g->source == SYNCRT_SYS_D365 && g->poll_route && !g->group_by[0] &&
            !strcmp(g->poll_route, f->target_set) && flow_enabled(e, g))
            return g;
    }
    return NULL;
}

const syncrt_flow_desc *syncrt_engine_flow_builtin(const syncrt_engine *e, const char *name)
{
    for (size_t i = 0; i < e->o.nflows; i++)
        if (strcmp(e->o.flows[i]->name, name) == 0)
            return e->o.flows[i];
    return NULL;
}

const syncrt_flow_desc *syncrt_engine_flow(const syncrt_engine *e, const char *name)
{
    const syncrt_flow_desc *f = syncrt_engine_flow_builtin(e, name);
    return f && flow_enabled(e, f) ? f : NULL;
}

size_t syncrt_engine_flow_count(const syncrt_engine *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->o.nflows; i++)
        n += flow_enabled(e, e->o.flows[i]) != 0;
    return n;
}

const syncrt_flow_desc *syncrt_engine_flow_at(const syncrt_engine *e, size_t k)
{
    for (size_t i = 0; i < e->o.nflows; i++)
        if (flow_enabled(e, e->o.flows[i]) && k-- == 0)
            return e->o.flows[i];
    return NULL;
}

const char *syncrt_engine_schedule(const syncrt_engine *e, const syncrt_flow_desc *f)
{
    const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
    if (cf && cf->schedule)
        return cf->schedule;
    return f->schedule;
}

int64_t syncrt_engine_poll_every(const syncrt_engine *e, const syncrt_flow_desc *f)
{
    const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
    /* A cron schedule set in the config replaces the interval poll; the .map's own `trigger
     * schedule` is one more trigger beside its `trigger poll ... every`, and both fire. */
    if (!f->poll_route || !cf || !cf->poll || cf->schedule)
        return 0;
    return cf->poll_every_ms > 0 ? cf->poll_every_ms : f->poll_every_ms;
}

static const syncrt_retry_policy *flow_policy(const syncrt_engine *e, const syncrt_flow_desc *f)
{
    const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
    return cf && cf->has_retry ? &cf->retry : &f->retry;
}

/* ------------------------------------------------------------------ workers */

/* Counts a finished request by peer (the URL's prefix: the token endpoint before the F&O URL
 * it may sit under) and status class (syncrt_engine_http_stats). */
static void http_count(syncrt_engine *e, const syncrt_http_log_entry *en)
{
    const syncrt_config *c = e->cfg;
    const char *u = en->url ? en->url : "";
    int peer = SYNCRT_PEER_OTHER;
    if (c->d365_token_url && !strncmp(u, c->d365_token_url, strlen(c->d365_token_url)))
        peer = SYNCRT_PEER_TOKEN;
    else if (c->clarity_root && !strncmp(u, c->clarity_root, strlen(c->clarity_root)))
        peer = SYNCRT_PEER_CLARITY;
    else if (!strncmp(u, e->service_root, strlen(e->service_root)))
        peer = SYNCRT_PEER_D365;
    int cls = en->transport == SYNCRT_OK && en->status >= 100 && en->status < 600 ? (int)(en->status / 100) : 0;
    size_t ul = strlen(u);
    pthread_mutex_lock(&e->mu);
    e->http.requests[peer][cls]++;
    if (en->transport == SYNCRT_OK && en->status == 429)
        e->http.throttled[peer]++;
    if (peer == SYNCRT_PEER_D365 && ul >= 7 && !strcmp(u + ul - 7, "/$batch"))
        e->http.batches++;
    pthread_mutex_unlock(&e->mu);
}

static void http_log(void *ctx, const syncrt_http_log_entry *en)
{
    syncrt_engine_worker *w = ctx;
    char f[1024] = "";
    kv(f, sizeof f, "worker", w->name);
    kv(f, sizeof f, "method", en->method);
    kv(f, sizeof f, "url", en->url);
    kvf(f, sizeof f, "status", "%ld", en->status);
    kvf(f, sizeof f, "elapsed_ms", "%lld", (long long)en->elapsed_ms);
    kvf(f, sizeof f, "start_ms", "%lld", (long long)(now_ms() - en->elapsed_ms));
    if (en->transport != SYNCRT_OK)
        kv(f, sizeof f, "error", en->error && *en->error ? en->error : syncrt_strerror(en->transport));
    elog(w->e, SYNCRT_LOG_DEBUG, "http", f);
    http_count(w->e, en);
}

syncrt_status syncrt_engine_worker_new(syncrt_engine_worker **out, syncrt_engine *e,
                                       const char *name, syncrt_error *err)
{
    *out = NULL;
    syncrt_engine_worker *w = calloc(1, sizeof *w);
    if (!w)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    w->e = e;
    snprintf(w->name, sizeof w->name, "%s", name ? name : "w");
    syncrt_status st = syncrt_store_open(&w->store, e->cfg->store, NULL, err);
    if (st != SYNCRT_OK) {
        free(w);
        return st;
    }
    syncrt_http_options ho = { 0 };
    ho.connect_timeout_ms = e->cfg->connect_timeout_ms;
    ho.total_timeout_ms = e->cfg->total_timeout_ms;
    ho.ca_file = e->cfg->ca_file;
    ho.log = http_log;
    ho.log_ctx = w;
    st = syncrt_http_new(&w->http, &ho, err);
    if (st != SYNCRT_OK) {
        syncrt_store_close(w->store);
        free(w);
        return st;
    }
    uint64_t s = e->seed;
    for (const char *p = w->name; *p; p++)
        s = s * 31 + (unsigned char)*p;
    syncrt_rng_seed(&w->rng, s);
    syncrt_mctx_init(&w->mctx);
    *out = w;
    return SYNCRT_OK;
}

void syncrt_engine_worker_free(syncrt_engine_worker *w)
{
    if (!w)
        return;
    syncrt_auth_free(w->d365);
    syncrt_auth_free(w->clarity);
    syncrt_http_free(w->http);
    syncrt_store_close(w->store);
    syncrt_mctx_free(&w->mctx);
    json_decref(w->refs);
    free(w);
}

syncrt_store *syncrt_engine_worker_store(syncrt_engine_worker *w)
{
    return w->store;
}

/* Credentials for F&O, the secret read now (so a fixed secret file is picked up). */
static syncrt_status d365_auth(syncrt_engine_worker *w, syncrt_error *err)
{
    const syncrt_config *c = w->e->cfg;
    if (w->d365)
        return SYNCRT_OK;
    syncrt_auth_config ac = { 0 };
    char *secret = NULL;
    if (c->d365_token_url) {
        syncrt_status st = syncrt_config_secret(&secret, c->d365_secret, err);
        if (st != SYNCRT_OK)
            return st == SYNCRT_EINVAL ? st : SYNCRT_EAUTH;
        ac.kind = SYNCRT_AUTH_OAUTH2;
        ac.token_url = c->d365_token_url;
        ac.client_id = c->d365_client_id;
        ac.client_secret = secret;
        ac.scope = c->d365_scope;
        ac.resource = c->d365_resource;
    }
    syncrt_status st = syncrt_auth_new(&w->d365, w->http, &ac, err);
    if (secret) {
        memset(secret, 0, strlen(secret));
        free(secret);
    }
    return st;
}

static syncrt_status clarity_auth(syncrt_engine_worker *w, syncrt_error *err)
{
    const syncrt_config *c = w->e->cfg;
    if (w->clarity)
        return SYNCRT_OK;
    syncrt_auth_config ac = { 0 };
    char *secret = NULL, login[1024];
    syncrt_status st = SYNCRT_OK;
    if (!strcmp(c->clarity_auth, "session") || !strcmp(c->clarity_auth, "basic")) {
        st = syncrt_config_secret(&secret, c->clarity_password, err);
        if (st != SYNCRT_OK)
            return st;
        ac.kind = c->clarity_auth[0] == 's' ? SYNCRT_AUTH_SESSION : SYNCRT_AUTH_BASIC;
        snprintf(login, sizeof login, "%s/auth/identity", c->clarity_root);
        ac.login_url = login;
        ac.username = c->clarity_user;
        ac.password = secret;
    } else if (!strcmp(c->clarity_auth, "api_key")) {
        st = syncrt_config_secret(&secret, c->clarity_api_key, err);
        if (st != SYNCRT_OK)
            return st;
        ac.kind = SYNCRT_AUTH_API_KEY;
        ac.api_key_header = "X-Clarity-Api-Key";
        ac.api_key = secret;
    }
    st = syncrt_auth_new(&w->clarity, w->http, &ac, err);
    if (secret) {
        memset(secret, 0, strlen(secret));
        free(secret);
    }
    return st;
}

/* Waits for the F&O gate (Retry-After, concurrency, the pacer's next start, circuit breaker):
 * every worker's F&O requests share one pacer, so together they run just under the rate F&O
 * admits.  -1 when stopping. */
static int gate_acquire(syncrt_engine *e)
{
    for (;;) {
        int64_t wait = 0, t;
        pthread_mutex_lock(&e->mu);
        t = now_ms();
        syncrt_status st = syncrt_endpoint_acquire(&e->gate, &wait, t);
        pthread_mutex_unlock(&e->mu);
        if (st == SYNCRT_OK) {
            char f[64] = "";
            kvf(f, sizeof f, "at_ms", "%lld", (long long)t);
            elog(e, SYNCRT_LOG_DEBUG, "gate", f);
            return 0;
        }
        if (stopping(e))
            return -1;
        sleep_ms(wait > 0 ? (wait < 100 ? wait : 100) : 5);
    }
}

/* Gives the gate back; returns the class and the server's Retry-After (-1: none). */
static syncrt_retry_class gate_release(syncrt_engine *e, int64_t *retry_after,
                                       const syncrt_http_response *r, int idempotent)
{
    syncrt_attempt a = { r->transport, r->request_sent, idempotent, r->status, r->body };
    const char *ra = syncrt_http_response_header(r, "Retry-After");
    pthread_mutex_lock(&e->mu);
    int64_t t = now_ms();
    syncrt_retry_class c = syncrt_endpoint_release(&e->gate, retry_after, &a, ra, t);
    double rate = e->gate.pacer.rate;
    pthread_mutex_unlock(&e->mu);
    if (*retry_after >= 0) {
        char f[320] = "";
        kvf(f, sizeof f, "status", "%ld", r->status);
        kvf(f, sizeof f, "retry_after_ms", "%lld", (long long)*retry_after);
        kvf(f, sizeof f, "at_ms", "%lld", (long long)t);
        kvf(f, sizeof f, "until_ms", "%lld", (long long)(t + *retry_after));
        kvf(f, sizeof f, "rate_per_s", "%.1f", rate);
        elog(e, SYNCRT_LOG_INFO, "throttled", f);
    }
    return c;
}

/* ------------------------------------------------------------------ pause */

static int64_t paused_wait(syncrt_engine *e, int fi)
{
    int64_t wait = 0;
    pthread_mutex_lock(&e->mu);
    if (fi >= 0 && e->paused_until[fi] > now_ms())
        wait = e->paused_until[fi] - now_ms();
    pthread_mutex_unlock(&e->mu);
    return wait;
}

static void pause_flow(syncrt_engine_worker *w, const syncrt_flow_desc *f, const char *why)
{
    syncrt_engine *e = w->e;
    int fi = flow_index(e, f);
    int64_t until = now_ms() + e->cfg->auth_pause_ms;
    pthread_mutex_lock(&e->mu);
    int first = fi >= 0 && !e->paused[fi];
    if (fi >= 0) {
        e->paused[fi] = 1;
        if (e->paused_until[fi] < until)
            e->paused_until[fi] = until;
    }
    e->n.paused++;
    pthread_mutex_unlock(&e->mu);
    char f2[768] = "", ck[160], iso[SYNCRT_ISO_LENGTH];
    kv(f2, sizeof f2, "flow", f->name);
    kv(f2, sizeof f2, "reason", why);
    kvf(f2, sizeof f2, "retry_in_s", "%lld", (long long)(e->cfg->auth_pause_ms / 1000));
    kv(f2, sizeof f2, "action", first ? "fix the credentials; the flow resumes by itself"
                                      : "still failing");
    elog(e, SYNCRT_LOG_ALERT, "flow_paused", f2);
    syncrt_auth_free(w->d365);
    w->d365 = NULL;
    snprintf(ck, sizeof ck, "%s#paused", f->name);
    syncrt_iso_format(iso, now_ms());
    char val[600];
    snprintf(val, sizeof val, "%s %s", iso, why);
    syncrt_store_checkpoint_set(w->store, ck, val, NULL);
}

/* Clarity refused the worker's credentials (st: the call's status, or SYNCRT_OK with a 401/403
 * answer; what: the error's text otherwise): the session is dropped and the flow paused; the
 * caller releases its records until the pause ends. */
static void clarity_refused(syncrt_engine_worker *w, const syncrt_flow_desc *f, syncrt_status st,
                            const char *what)
{
    char why[300];
    snprintf(why, sizeof why, "Clarity refused the credentials (%s)",
             st == SYNCRT_OK ? "HTTP 401/403" : what);
    syncrt_auth_free(w->clarity);
    w->clarity = NULL;
    pause_flow(w, f, why);
}

static void resumed(syncrt_engine_worker *w, const syncrt_flow_desc *f)
{
    syncrt_engine *e = w->e;
    int fi = flow_index(e, f);
    pthread_mutex_lock(&e->mu);
    int was = fi >= 0 && e->paused[fi];
    int first = fi >= 0 && !e->contact_seen[fi];    /* a pause an earlier run left in the store */
    if (was)
        e->paused[fi] = 0;
    if (fi >= 0)
        e->contact_seen[fi] = 1;
    pthread_mutex_unlock(&e->mu);
    if (!was && !first)
        return;
    char fl[128] = "", ck[160];
    kv(fl, sizeof fl, "flow", f->name);
    snprintf(ck, sizeof ck, "%s#paused", f->name);
    if (!was) {     /* first contact: clear only a pause that is there */
        char *old = NULL;
        syncrt_store_checkpoint_get(w->store, &old, ck, NULL);
        int stale = old && *old;
        free(old);
        if (!stale)
            return;
    }
    elog(e, SYNCRT_LOG_INFO, "flow_resumed", fl);
    syncrt_store_checkpoint_set(w->store, ck, "", NULL);
}

/* ------------------------------------------------------------------ poll */

typedef struct {
    syncrt_engine_worker *w;
    const syncrt_flow_desc *f;
    syncrt_enqueue_item items[100];
    char *bufs[100][3];
    size_t n, inserted, rows;
    syncrt_status st;
    syncrt_error *err;
    /* group by (F&O): the group being joined, {"value":[row,row,...  (the rows are ordered by
     * the group fields, so a group is consecutive rows; only one is held at a time) */
    char *grp;
    size_t grp_len, grp_cap;
    char *gcmp;                 /* its group values, JSON-encoded: what the next row must equal */
    char gshow[200];            /* the same for keys and logs: A0001 (strings cut at 60) */
    char (*rh)[65];             /* the SHA-256 of each of its rows (grp_rows of them) */
    size_t rh_cap;
    size_t grp_rows, groups, fo_rows;
    json_t *gvals;              /* its group values (array), to check the order of the next */
    size_t unordered;           /* groups whose values sort before the group's before them */
    char unordered_at[420];     /* the first: "<before> > <after>" */
} poll_ctx;

static void poll_clear(poll_ctx *p)
{
    for (size_t i = 0; i < p->n; i++)
        for (int k = 0; k < 3; k++)
            free(p->bufs[i][k]);
    p->n = 0;
}

/* The group being joined is dropped (its memory with it). */
static void poll_group_clear(poll_ctx *p)
{
    free(p->grp);
    free(p->gcmp);
    free(p->rh);
    json_decref(p->gvals);
    p->grp = p->gcmp = NULL;
    p->rh = NULL;
    p->gvals = NULL;
    p->grp_len = p->grp_cap = p->grp_rows = p->rh_cap = 0;
}

static int poll_flush(poll_ctx *p, const char *checkpoint)
{
    size_t ins = 0;
    syncrt_status st = syncrt_store_enqueue_batch(p->w->store, &ins, p->f->name, p->items, p->n,
                                                  checkpoint, p->err);
    poll_clear(p);
    if (st != SYNCRT_OK) {
        p->st = st;
        return -1;
    }
    p->inserted += ins;
    return 0;
}

/* Buffer one polled row (its dedup key, source key and text) for the next inbox batch;
 * a full buffer is flushed.  Returns what a paging callback returns: nonzero stops. */
static int poll_buffer(poll_ctx *p, const char *dk, const char *sk, const char *text, size_t len)
{
    size_t i = p->n;
    p->bufs[i][0] = strdup(dk);
    p->bufs[i][1] = strdup(sk);
    p->bufs[i][2] = malloc(len + 1);
    if (!p->bufs[i][0] || !p->bufs[i][1] || !p->bufs[i][2]) {
        p->n++;
        p->st = SYNCRT_ENOMEM;
        return 1;
    }
    memcpy(p->bufs[i][2], text, len);
    p->bufs[i][2][len] = '\0';
    p->items[i].dedup_key = p->bufs[i][0];
    p->items[i].source_key = p->bufs[i][1];
    p->items[i].payload = p->bufs[i][2];
    p->items[i].payload_len = len;
    p->n++;
    p->rows++;
    if (p->n == sizeof p->items / sizeof p->items[0])
        return poll_flush(p, NULL) < 0;
    return 0;
}

static int poll_row(void *ctx, const char *text, size_t len)
{
    poll_ctx *p = ctx;
    json_t *row = json_loadb(text, len, 0, NULL);
    json_t *id = json_object_get(row, p->f->source_id_field);
    const char *upd = json_string_value(json_object_get(row, "UpdatedDate"));
    if (!upd)
        upd = json_string_value(json_object_get(row, "CreatedDate"));
    if (!json_is_integer(id)) {
        json_decref(row);
        return 0;   /* not a record of this flow: nothing to key it by */
    }
    char dk[256], sk[128];
    snprintf(dk, sizeof dk, "poll:%lld:%.100s", (long long)json_integer_value(id), upd ? upd : "");
    snprintf(sk, sizeof sk, "%s:%lld", p->f->webhook_event ? p->f->webhook_event : p->f->name,
             (long long)json_integer_value(id));
    json_decref(row);
    return poll_buffer(p, dk, sk, text, len);
}

static void sha256_hex(char out[65], const char *data, size_t len);

/* Integral numbers as integers, in place (one renderer writes 5, another 5.0). */
static void canon_numbers(json_t *v)
{
    const char *k;
    json_t *m;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, k, m) {
            double x = json_is_real(m) ? json_real_value(m) : 0.5;
            if (x > -1e15 && x < 1e15 && (double)(json_int_t)x == x)
                json_object_set_new(v, k, json_integer((json_int_t)x));
            else
                canon_numbers(m);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            double x = json_is_real(m) ? json_real_value(m) : 0.5;
            if (x > -1e15 && x < 1e15 && (double)(json_int_t)x == x)
                json_array_set_new(v, i, json_integer((json_int_t)x));
            else
                canon_numbers(m);
        }
    }
}

/* The content hash of an F&O row: its members without the @odata.* annotations (a row read
 * in a collection, read by key or answered to a POST differs in @odata.etag and
 * @odata.context only), sorted, numbers canonical; the text itself when it is not an object. */
static void fo_row_hash(char out[65], const json_t *row, const char *text, size_t len)
{
    json_t *c = json_is_object(row) ? json_deep_copy(row) : NULL;
    char *canon = NULL;
    if (c) {
        const char *k;
        json_t *m;
        void *tmp;
        json_object_foreach_safe(c, tmp, k, m) {
            if (!strncmp(k, "@odata.", 7))
                json_object_del(c, k);
        }
        canon_numbers(c);
        canon = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        json_decref(c);
    }
    if (canon)
        sha256_hex(out, canon, strlen(canon));
    else
        sha256_hex(out, text, len);
    free(canon);
}

/* The inbox keys of an F&O row of flow g: dedup key "poll:<set>:<key values>:<content hash>",
 * source key "<set>:<key values>".  Used by poll_row_fo and for a row handed over by another
 * flow (handoff_flow), so that g's next poll of the same row finds its dedup key taken. */
static void fo_row_keys(const syncrt_flow_desc *g, const char *text, size_t len, char *dk,
                        size_t dkn, char *sk, size_t skn)
{
    json_t *row = json_loadb(text, len, 0, NULL);
    char keys[200] = "", hash[65];
    size_t kn = 0;
    for (int k = 0; k < SYNCRT_FLOW_MAX_KEYS && g->source_key_fields[k]; k++) {
        json_t *v = json_object_get(row, g->source_key_fields[k]);
        char b[64];
        if (json_is_string(v))
            snprintf(b, sizeof b, "%.60s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(b, sizeof b, "%lld", (long long)json_integer_value(v));
        else
            b[0] = '\0';
        kn += (size_t)snprintf(keys + kn, kn < sizeof keys ? sizeof keys - kn : 0, "%s%s",
                               k ? "," : "", b);
        if (kn >= sizeof keys)
            kn = sizeof keys - 1;
    }
    fo_row_hash(hash, row, text, len);
    json_decref(row);
    snprintf(dk, dkn, "poll:%s:%s:%s", g->poll_route, keys, hash);
    snprintf(sk, skn, "%s:%s", g->poll_route, keys);
}

static int grp_put(poll_ctx *p, const char *s, size_t n)
{
    if (p->grp_len + n + 1 > p->grp_cap) {
        size_t cap = p->grp_cap ? p->grp_cap : 4096;
        while (cap < p->grp_len + n + 1)
            cap *= 2;
        char *g = realloc(p->grp, cap);
        if (!g)
            return -1;
        p->grp = g;
        p->grp_cap = cap;
    }
    memcpy(p->grp + p->grp_len, s, n);
    p->grp_len += n;
    p->grp[p->grp_len] = '\0';
    return 0;
}

/* One more row into the group: its text after a ',' (but the first) and its hash. */
static int grp_add_row(poll_ctx *p, const char *text, size_t len)
{
    if (p->grp_rows == p->rh_cap) {
        size_t cap = p->rh_cap ? p->rh_cap * 2 : 16;
        char (*rh)[65] = realloc(p->rh, cap * sizeof *rh);
        if (!rh)
            return -1;
        p->rh = rh;
        p->rh_cap = cap;
    }
    if ((p->grp_rows && grp_put(p, ",", 1) < 0) || grp_put(p, text, len) < 0)
        return -1;
    sha256_hex(p->rh[p->grp_rows++], text, len);
    return 0;
}

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, 64);
}

/* The joined group becomes one inbox item {"value":[row, ...]}: dedup key "poll:<set>:<group
 * values>:<content hash>" (a group with any row changed, added or gone is a new record; an
 * unchanged one is absorbed), source key "<set>:<group values>".  The content hash is over
 * the sorted hashes of the rows, so rows tied in the order (keys the $orderby could not name)
 * that come back in another order do not make an unchanged group new.  Nonzero: stop. */
static int poll_group_flush(poll_ctx *p)
{
    if (!p->grp_rows)
        return 0;
    if (grp_put(p, "]}", 2) < 0) {
        p->st = SYNCRT_ENOMEM;
        return 1;
    }
    char hash[65], dk[512], sk[300];
    qsort(p->rh, p->grp_rows, sizeof *p->rh, cmp_hash);
    for (size_t i = 0; i < p->grp_rows; i++)
        p->rh[i][64] = i + 1 < p->grp_rows ? ',' : '\0';
    sha256_hex(hash, p->rh[0], p->grp_rows * sizeof *p->rh - 1);
    snprintf(dk, sizeof dk, "poll:%s:%s:%s", p->f->poll_route, p->gshow, hash);
    snprintf(sk, sizeof sk, "%s:%s", p->f->poll_route, p->gshow);
    size_t n = p->grp_len;
    p->groups++;
    p->grp_len = 0;
    p->grp_rows = 0;
    return poll_buffer(p, dk, sk, p->grp, n);   /* copied: the buffer is reused */
}

/* Do the group values b sort before a, as F&O's $orderby sorts (strings without regard to
 * case, numbers by value)?  Values of other kinds are not judged. */
static int group_before(const json_t *a, const json_t *b)
{
    for (size_t i = 0; i < json_array_size(a) && i < json_array_size(b); i++) {
        const json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
        int c = 0;
        if (json_is_string(x) && json_is_string(y))
            c = strcasecmp(json_string_value(x), json_string_value(y));
        else if (json_is_number(x) && json_is_number(y))
            c = (json_number_value(x) > json_number_value(y)) -
                (json_number_value(x) < json_number_value(y));
        else
            return 0;
        if (c)
            return c > 0;
    }
    return 0;
}

/* A row of a `group by` poll: joined to the group before it when its group values equal
 * that group's, else that group is flushed and this row starts the next one.  A group whose
 * values sort before the previous group's is counted (p->unordered): F&O did not order the
 * set by the group fields, so a group may have been split. */
static int poll_group_row(poll_ctx *p, const char *text, size_t len)
{
    json_t *row = json_loadb(text, len, 0, NULL);
    json_t *vals = json_array();
    char *cmp = NULL, show[200] = "";
    size_t cn = 0, sn = 0;
    int fail = !row || !vals;
    for (int k = 0; !fail && k < SYNCRT_FLOW_MAX_KEYS && p->f->group_by[k]; k++) {
        json_t *v = json_object_get(row, p->f->group_by[k]);
        if (json_array_append(vals, v ? v : json_null()) < 0) {
            fail = 1;
            break;
        }
        char *j = json_dumps(v ? v : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
        char *c2 = j ? realloc(cmp, cn + strlen(j) + 2) : NULL;
        if (!c2) {
            free(j);
            fail = 1;
            break;
        }
        cmp = c2;
        cn += (size_t)sprintf(cmp + cn, "%s%s", k ? "," : "", j);
        sn += (size_t)snprintf(show + sn, sn < sizeof show ? sizeof show - sn : 0, "%s%.60s",
                               k ? "," : "", json_is_string(v) ? json_string_value(v) : j);
        if (sn >= sizeof show)
            sn = sizeof show - 1;
        free(j);
    }
    json_decref(row);
    if (fail) {
        free(cmp);
        json_decref(vals);
        if (row) {
            p->st = SYNCRT_ENOMEM;
            return 1;
        }
        return 0;   /* not a JSON object: nothing to group it by */
    }
    p->fo_rows++;
    if (p->grp_rows && p->gcmp && strcmp(p->gcmp, cmp) == 0) {
        free(cmp);
        json_decref(vals);
        if (grp_add_row(p, text, len) < 0) {
            p->st = SYNCRT_ENOMEM;
            return 1;
        }
        return 0;
    }
    if (p->gvals && group_before(p->gvals, vals) && p->unordered++ == 0)
        snprintf(p->unordered_at, sizeof p->unordered_at, "%s > %s", p->gshow, show);
    json_decref(p->gvals);
    p->gvals = vals;
    if (poll_group_flush(p)) {
        free(cmp);
        return 1;
    }
    free(p->gcmp);
    p->gcmp = cmp;
    snprintf(p->gshow, sizeof p->gshow, "%s", show);
    if (grp_put(p, "{\"value\":[", 10) < 0 || grp_add_row(p, text, len) < 0) {
        p->st = SYNCRT_ENOMEM;
        return 1;
    }
    return 0;
}

/* An F&O row: keyed by set + key values + content hash, so a changed row is a new record and
 * an unchanged one is absorbed by the inbox's dedup key.  Rows of a `group by` flow are joined
 * instead (poll_group_row). */
static int poll_row_fo(void *ctx, const char *text, size_t len)
{
    poll_ctx *p = ctx;
    if (p->f->group_by[0])
        return poll_group_row(p, text, len);
    char dk[512], sk[300];
    fo_row_keys(p->f, text, len, dk, sizeof dk, sk, sizeof sk);
    return poll_buffer(p, dk, sk, text, len);
}

/* $orderby of a `group by` poll: the group fields, then the set's key fields not among them
 * (a stable order, so a group's rows are consecutive and always in the same order). */
static void group_orderby(const syncrt_flow_desc *f, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        const char *const *names = pass ? f->source_key_fields : f->group_by;
        for (int k = 0; k < SYNCRT_FLOW_MAX_KEYS && names[k]; k++) {
            int dup = 0;
            for (int g = 0; pass && g < SYNCRT_FLOW_MAX_KEYS && f->group_by[g]; g++)
                dup |= !strcmp(f->group_by[g], names[k]);
            if (dup)
                continue;
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? "," : "",
                                  names[k]);
            if (n >= size)
                n = size - 1;
        }
    }
}

/* The end of a poll, F&O or Clarity: the log line (fl: what the poll adds to it) with the rows
 * it enqueued, the session dropped when the source refused it (*session), the counters. */
static syncrt_status poll_done(syncrt_engine_worker *w, poll_ctx *p, syncrt_status st,
                               const syncrt_error *err, char *fl, size_t fln, const char *start,
                               syncrt_auth **session, size_t *enqueued)
{
    syncrt_engine *e = w->e;
    kvf(fl, fln, "new", "%zu", p->inserted);
    if (st != SYNCRT_OK) {
        kv(fl, fln, "error", err && err->message[0] ? err->message : syncrt_strerror(st));
        if (st == SYNCRT_EAUTH) {
            syncrt_auth_free(*session);
            *session = NULL;
        }
        elog(e, SYNCRT_LOG_ERROR, "poll_failed", fl);
    } else {
        kv(fl, fln, "checkpoint", start);
        elog(e, SYNCRT_LOG_INFO, "poll", fl);
    }
    *enqueued = p->inserted;
    FCOUNT(e, p->f, enqueued, p->inserted);
    free(p);
    return st;
}

/* A full scan of an F&O entity set (no modified field: skip-unchanged makes it cheap), paged
 * by @odata.nextLink as a stream, cross-company off; the checkpoint records the scan's start.
 * With `group by` the set is read ordered by the group fields and consecutive rows with equal
 * group values become one record {"value":[row, ...]} (a group running over a page boundary
 * stays one); memory is one page and the largest group. */
static syncrt_status poll_fo(syncrt_engine_worker *w, const syncrt_flow_desc *f, size_t *enqueued,
                             syncrt_error *err)
{
    syncrt_engine *e = w->e;
    syncrt_status st = d365_auth(w, err);
    if (st != SYNCRT_OK)
        return st;
    char start[SYNCRT_ISO_LENGTH], *url = NULL, orderby[512];
    syncrt_iso_format(start, now_ms());
    syncrt_odata_query q = { 0 };
    if (f->group_by[0]) {
        group_orderby(f, orderby, sizeof orderby);
        q.orderby = orderby;
    }
    st = syncrt_odata_url(&url, e->service_root, f->poll_route, &q, err);
    if (st != SYNCRT_OK)
        return st;
    const char *hdrs[] = { "Accept: application/json", "OData-Version: 4.0", NULL };
    syncrt_odata_pager pg = { 0 };
    pg.http = w->http;
    pg.auth = w->d365;
    pg.headers = hdrs;
    pg.jitter_seed = syncrt_rng_next(&w->rng);
    syncrt_odata_page_stats ps;
    memset(&ps, 0, sizeof ps);
    poll_ctx *p = calloc(1, sizeof *p);
    if (!p) {
        free(url);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    p->w = w;
    p->f = f;
    p->err = err;
    st = syncrt_odata_stream_text(&ps, &pg, url, poll_row_fo, p, err);
    free(url);
    syncrt_odata_page_stats_clear(&ps);
    if (st == SYNCRT_OK && p->st != SYNCRT_OK)
        st = p->st;
    if (st == SYNCRT_OK)
        poll_group_flush(p);        /* the last group (the stream has ended: it is whole) */
    if (st == SYNCRT_OK && p->st != SYNCRT_OK)
        st = p->st;
    if (st == SYNCRT_OK)
        poll_flush(p, start);
    if (st == SYNCRT_OK && p->st != SYNCRT_OK)
        st = p->st;
    poll_clear(p);
    poll_group_clear(p);
    char fl[512] = "";
    kv(fl, sizeof fl, "flow", f->name);
    kv(fl, sizeof fl, "set", f->poll_route);
    if (f->group_by[0] && p->unordered) {
        char wl[700] = "";
        kv(wl, sizeof wl, "flow", f->name);
        kv(wl, sizeof wl, "set", f->poll_route);
        kv(wl, sizeof wl, "orderby", orderby);
        kvf(wl, sizeof wl, "count", "%zu", p->unordered);
        kv(wl, sizeof wl, "first", p->unordered_at);
        kv(wl, sizeof wl, "why", "rows not in $orderby order: a group may be split, the later part wins");
        elog(e, SYNCRT_LOG_WARN, "poll_unordered", wl);
    }
    if (f->group_by[0]) {
        kv(fl, sizeof fl, "orderby", orderby);
        kvf(fl, sizeof fl, "rows", "%zu", p->fo_rows);
        kvf(fl, sizeof fl, "groups", "%zu", p->groups);
    } else {
        kvf(fl, sizeof fl, "rows", "%zu", p->rows);
    }
    return poll_done(w, p, st, err, fl, sizeof fl, start, &w->d365, enqueued);
}

static syncrt_status engine_poll(syncrt_engine_worker *w, const syncrt_flow_desc *f,
                                 size_t *enqueued, syncrt_error *err);

/* A poll, with its time and outcome in the flow's stats. */
syncrt_status syncrt_engine_poll(syncrt_engine_worker *w, const syncrt_flow_desc *f,
                                 size_t *enqueued, syncrt_error *err)
{
    syncrt_engine *e = w->e;
    const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
    syncrt_status st = engine_poll(w, f, enqueued, err);
    int fi = flow_index(e, f);
    if (fi >= 0 && f->poll_route && cf && cf->poll) {
        int64_t t = now_ms();
        pthread_mutex_lock(&e->mu);
        e->fs[fi].last_poll_at = t;
        e->fs[fi].polls++;
        if (st == SYNCRT_OK)
            e->fs[fi].last_poll_ok_at = t;
        else
            e->fs[fi].poll_errors++;
        pthread_mutex_unlock(&e->mu);
    }
    return st;
}

static syncrt_status engine_poll(syncrt_engine_worker *w, const syncrt_flow_desc *f,
                                 size_t *enqueued, syncrt_error *err)
{
    syncrt_engine *e = w->e;
    const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
    *enqueued = 0;
    if (!f->poll_route || !cf || !cf->poll)
        return SYNCRT_OK;
    if (f->source == SYNCRT_SYS_D365)
        return poll_fo(w, f, enqueued, err);
    if (!e->cfg->clarity_root)
        return syncrt_error_set(err, SYNCRT_EINVAL, "clarity.root is not configured");
    syncrt_status st = clarity_auth(w, err);
    if (st != SYNCRT_OK)
        return st;
    char *ck = NULL, since[SYNCRT_ISO_LENGTH], start[SYNCRT_ISO_LENGTH], initial[SYNCRT_ISO_LENGTH];
    int64_t t0 = now_ms();
    syncrt_iso_format(start, t0);
    syncrt_iso_format(initial, t0 - cf->overlap_ms);
    st = syncrt_store_checkpoint_get(w->store, &ck, f->name, err);
    if (st != SYNCRT_OK)
        return st;
    st = syncrt_clarity_window_start(since, ck, cf->overlap_ms,
                                     cf->poll_initial ? cf->poll_initial : initial, err);
    free(ck);
    if (st != SYNCRT_OK)
        return st;
    syncrt_clarity c = { 0 };
    c.http = w->http;
    c.auth = w->clarity;
    c.root = e->cfg->clarity_root;
    c.jitter_seed = syncrt_rng_next(&w->rng);
    syncrt_clarity_search_opts so = { 0 };
    so.page_size = e->cfg->clarity_page_size;
    so.modified_since = since;
    so.no_cache = 1;
    syncrt_clarity_search_stats ss;
    memset(&ss, 0, sizeof ss);
    poll_ctx *p = calloc(1, sizeof *p);
    if (!p)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    p->w = w;
    p->f = f;
    p->err = err;
    st = syncrt_clarity_search_text(&ss, &c, f->poll_route, &so, poll_row, p, err);
    if (st == SYNCRT_OK && p->st != SYNCRT_OK)
        st = p->st;
    if (st == SYNCRT_OK)
        poll_flush(p, start);       /* the rest, and the checkpoint, in one transaction */
    if (st == SYNCRT_OK && p->st != SYNCRT_OK)
        st = p->st;
    poll_clear(p);
    char fl[512] = "";
    kv(fl, sizeof fl, "flow", f->name);
    kv(fl, sizeof fl, "since", since);
    kvf(fl, sizeof fl, "rows", "%zu", p->rows);
    return poll_done(w, p, st, err, fl, sizeof fl, start, &w->clarity, enqueued);
}

/* ------------------------------------------------------------------ one record */

typedef enum { IT_READY, IT_DONE } item_state;

typedef struct {
    syncrt_inbox_record *rec;
    item_state state;
    char *out;                  /* the mapped JSON */
    size_t out_len;
    char *send;                 /* the target record with its ref placeholders resolved
                                   (resolve_refs), sent instead of hdr; NULL: hdr as it is */
    const char *hdr; size_t hdr_len;
    const char *lines; size_t lines_len;
    char *keyv[SYNCRT_FLOW_MAX_KEYS];
    char *target_key;           /* the idempotency field's value */
    char hash[65];
    int content_id;             /* of the header in the batch */
    size_t first_op, nops;
    size_t get_op;              /* with has_get: the GET of the created record after its
                                   changeset, in the same $batch (handoff_flow) */
    int has_get;
    char *row;                  /* the created F&O record as read back, for handoff_flow */
    size_t row_len;
} item;

static void item_clear(item *it)
{
    free(it->row);
    free(it->out);
    free(it->send);
    for (int k = 0; k < SYNCRT_FLOW_MAX_KEYS; k++)
        free(it->keyv[k]);
    free(it->target_key);
}

static void sha256_hex(char out[65], const char *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

static const char *rec_label(const item *it)
{
    return it->rec->source_key ? it->rec->source_key : it->rec->dedup_key;
}

static void outcome_log(syncrt_engine_worker *w, syncrt_log_level l, const char *event,
                        const syncrt_flow_desc *f, const item *it, const char *k1,
                        const char *v1, const char *k2, const char *v2)
{
    char fl[1536] = "";
    kv(fl, sizeof fl, "flow", f->name);
    kvf(fl, sizeof fl, "id", "%lld", (long long)it->rec->id);
    kv(fl, sizeof fl, "source", rec_label(it));
    if (it->target_key)
        kv(fl, sizeof fl, "target", it->target_key);
    kvf(fl, sizeof fl, "attempt", "%d", it->rec->attempts);
    if (k1)
        kv(fl, sizeof fl, k1, v1);
    if (k2)
        kv(fl, sizeof fl, k2, v2);
    elog(w->e, l, event, fl);
}

/* Every state change of a worked record goes through syncrt_settle (worker.h): the one place
 * where an attempt's result becomes a store transition.  These wrap it with the engine's
 * counters, log events and the dead-letter memory. */
static syncrt_settler settler_of(syncrt_engine_worker *w, const syncrt_flow_desc *f)
{
    syncrt_settler s;
    memset(&s, 0, sizeof s);
    s.store = w->store;
    s.worker = w->name;
    s.policy = *flow_policy(w->e, f);
    s.rng = &w->rng;
    s.pause_ms = w->e->cfg->auth_pause_ms;
    return s;
}

/* An outcome that completes the record: delivered (status 201) or skipped (200). */
static syncrt_outcome success_outcome(const syncrt_flow_desc *f, item *it, int skipped)
{
    syncrt_outcome o;
    memset(&o, 0, sizeof o);
    o.attempt.transport = SYNCRT_OK;
    o.attempt.request_sent = !skipped;
    o.attempt.http_status = skipped ? 200 : 201;
    o.retry_after_ms = -1;
    o.delivery.target_key = it->target_key;
    o.delivery.mapping_version = f->map_version;
    o.delivery.skipped = skipped;
    if (!skipped) {
        o.delivery.hash_scope = f->name;
        o.delivery.hash_key = it->target_key;
        o.delivery.hash = it->hash;
    }
    return o;
}

/* A delivered record; one created in F&O whose row was read back (it->row) is handed to
 * handoff_flow's inbox under the dedup key that flow's poll gives the row, in the same store
 * transaction: a crash loses neither, and the poll does not send it again. */
static void done_delivered(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it,
                           const char *how)
{
    syncrt_settler s = settler_of(w, f);
    syncrt_outcome o = success_outcome(f, it, 0);
    const syncrt_flow_desc *h = it->row ? handoff_flow(w->e, f) : NULL;
    char dk[512], sk[300];
    syncrt_enqueue_item then;
    if (h) {
        fo_row_keys(h, it->row, it->row_len, dk, sizeof dk, sk, sizeof sk);
        memset(&then, 0, sizeof then);
        then.dedup_key = dk;
        then.source_key = sk;
        then.payload = it->row;
        then.payload_len = it->row_len;
        o.delivery.then_flow = h->name;
        o.delivery.then_item = &then;
    }
    syncrt_settled sd;
    syncrt_error e2;
    syncrt_status st = syncrt_settle(&sd, &s, it->rec, &o, &e2);
    it->state = IT_DONE;
    if (st != SYNCRT_OK) {
        outcome_log(w, SYNCRT_LOG_WARN, "complete_failed", f, it, "error", e2.message, NULL, NULL);
        return;
    }
    FCOUNT(w->e, f, delivered, 1);
    outcome_log(w, SYNCRT_LOG_INFO, "delivered", f, it, "how", how, h ? "then" : NULL,
                h ? h->name : NULL);
}

static void done_skipped(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, const char *why)
{
    syncrt_settler s = settler_of(w, f);
    syncrt_outcome o = success_outcome(f, it, 1);
    o.delivery.detail = why;                 /* the audit row says why */
    syncrt_settled sd;
    syncrt_status st = syncrt_settle(&sd, &s, it->rec, &o, NULL);
    it->state = IT_DONE;
    if (st == SYNCRT_OK) {
        FCOUNT(w->e, f, skipped, 1);
        outcome_log(w, SYNCRT_LOG_INFO, "skipped", f, it, "why", why, NULL, NULL);
    }
}

/* The hash scope that remembers what was dead-lettered, so the same record arriving again
 * (a poll after the webhook, a redelivery with a new event id) is not worked again. */
static void dead_scope(char *buf, size_t size, const syncrt_flow_desc *f)
{
    snprintf(buf, size, "%s#dead", f->name);
}

static void done_release(syncrt_engine_worker *w, item *it, int64_t at)
{
    syncrt_store_release(w->store, it->rec->id, w->name, at, NULL);
    it->state = IT_DONE;
}

static int probe(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, int *auth_failed);

/* Settles the record after outcome o (a failure, or a refusal with o->reason): retry later,
 * released for a Retry-After, dead-lettered, or, for an unknown outcome, probed by key at
 * once and then delivered (found) or due again now (not found). */
static void done_failed(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it,
                        const syncrt_outcome *o, int *auth_failed)
{
    syncrt_settler s = settler_of(w, f);
    syncrt_settled sd;
    syncrt_outcome again;
    int no_auth_flag = 0;
    if (!auth_failed)
        auth_failed = &no_auth_flag;
    if (syncrt_settle(&sd, &s, it->rec, o, NULL) != SYNCRT_OK) {
        it->state = IT_DONE;                         /* the lease was lost: not ours now */
        return;
    }
    if (sd.action == SYNCRT_ACTION_PROBE) {
        int pr = probe(w, f, it, auth_failed);
        if (pr == 1) {
            done_delivered(w, f, it, "already present (found by key after an unknown outcome)");
            return;
        }
        if (pr != 0)
            return;                                  /* settled by the probe */
        again = *o;
        syncrt_outcome_probe(&again, 0, NULL);
        if (syncrt_settle(&sd, &s, it->rec, &again, NULL) != SYNCRT_OK) {
            it->state = IT_DONE;
            return;
        }
    }
    it->state = IT_DONE;
    if (sd.action == SYNCRT_ACTION_RETRY) {
        char in[32];
        snprintf(in, sizeof in, "%lld", (long long)sd.delay_ms);
        FCOUNT(w->e, f, retried, 1);
        outcome_log(w, sd.attempt_burned ? SYNCRT_LOG_WARN : SYNCRT_LOG_INFO, "retry", f, it, "in_ms", in,
                    sd.attempt_burned ? "error" : "why", sd.text);
    } else if (sd.action == SYNCRT_ACTION_DEAD_LETTER) {
        if (it->hash[0] && strncmp(sd.reason, "retries exhausted", 17) != 0) {
            char scope[160], val[96];
            dead_scope(scope, sizeof scope, f);
            snprintf(val, sizeof val, "%s %lld", it->hash, (long long)it->rec->id);
            syncrt_store_hash_set(w->store, scope, rec_label(it), val, NULL);
        }
        FCOUNT(w->e, f, dead, 1);
        outcome_log(w, SYNCRT_LOG_ERROR, "dead_lettered", f, it, "reason", sd.reason, "detail", sd.text);
    } else if (sd.action == SYNCRT_ACTION_DONE) {
        FCOUNT(w->e, f, delivered, 1);
        outcome_log(w, SYNCRT_LOG_INFO, "delivered", f, it, "how", "answered 2xx", NULL, NULL);
    }
}

/* Dead-letters a record refused before sending (mapping, validation, internal). */
static void done_dead(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it,
                      const char *reason, const char *detail)
{
    syncrt_outcome o;
    memset(&o, 0, sizeof o);
    o.invalid = 1;
    o.retry_after_ms = -1;
    o.reason = reason;
    o.error_text = detail;
    done_failed(w, f, it, &o, NULL);
}

/* 1 (and the item settled as skipped) when the same source record with the same hash was
 * dead-lettered before as another inbox record; a replayed dead letter is the same inbox
 * record, so it is worked again. */
static int dead_before(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it)
{
    char scope[160], *val = NULL;
    dead_scope(scope, sizeof scope, f);
    if (syncrt_store_hash_get(w->store, &val, scope, rec_label(it), NULL) != SYNCRT_OK || !val)
        return 0;
    int same = strncmp(val, it->hash, 64) == 0 && val[64] == ' ' &&
               strtoll(val + 65, NULL, 10) != it->rec->id;
    if (same) {
        char why[128];
        snprintf(why, sizeof why, "identical to dead letter %s", val + 65);
        done_skipped(w, f, it, why);
    }
    free(val);
    return same;
}

/* Decode, map, validate; split the output; hash; skip-unchanged. */
static void prepare(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it)
{
    const char *json = (const char *)it->rec->payload;
    size_t len = it->rec->payload_len;
    const char *ent;
    size_t ent_len;
    if (member_span(json, len, "EventType", &ent, &ent_len) == 0 &&
        member_span(json, len, "Entity", &ent, &ent_len) == 0) {
        json = ent;
        len = ent_len;
    }
    syncrt_mctx_reset(&w->mctx);
    syncrt_mbuf out;
    syncrt_mbuf_init(&out);
    syncrt_status st = f->run(&w->mctx, json, len, &out);
    if (st == SYNCRT_EFILTERED) {           /* a map's where: nothing to write, no error */
        char why[600];
        snprintf(why, sizeof why, "filtered: %s", w->mctx.filtered ? w->mctx.filtered : "where");
        syncrt_mbuf_free(&out);
        done_skipped(w, f, it, why);
        return;
    }
    if (st == SYNCRT_ENOMEM) {
        syncrt_mbuf_free(&out);
        outcome_log(w, SYNCRT_LOG_ERROR, "out_of_memory", f, it, NULL, NULL, NULL, NULL);
        done_release(w, it, now_ms() + 1000);
        return;
    }
    if (st != SYNCRT_OK) {
        char detail[4096] = "";
        size_t n = 0, ne = syncrt_mctx_error_count(&w->mctx);
        for (size_t i = 0; i < ne && n + 8 < sizeof detail; i++)
            n += (size_t)snprintf(detail + n, sizeof detail - n, "%s%s", i ? "; " : "",
                                  syncrt_mctx_error_text(&w->mctx, i));
        if (ne == 0)
            snprintf(detail, sizeof detail, "%s", syncrt_strerror(st));
        syncrt_mbuf_free(&out);
        sha256_hex(it->hash, detail, strlen(detail));
        if (dead_before(w, f, it))
            return;
        done_dead(w, f, it, st == SYNCRT_EPARSE ? "validation: the record does not decode"
                                                : "validation: the mapped record is invalid",
                  detail);
        return;
    }
    it->out = out.p;
    it->out_len = out.n;
    if (member_span(it->out, it->out_len, f->target_set, &it->hdr, &it->hdr_len) != 0 ||
        *it->hdr != '{') {
        done_dead(w, f, it, "internal: mapped output has no target record", f->target_set);
        return;
    }
    if (f->child_set && (member_span(it->out, it->out_len, f->child_set, &it->lines,
                                     &it->lines_len) != 0 || *it->lines != '[')) {
        it->lines = NULL;
        it->lines_len = 0;
    }
    json_t *h = json_loadb(it->hdr, it->hdr_len, 0, NULL);
    for (int k = 0; k < SYNCRT_FLOW_MAX_KEYS && f->key_fields[k]; k++) {
        json_t *v = json_object_get(h, f->key_fields[k]);
        if (json_is_string(v))
            it->keyv[k] = strdup(json_string_value(v));
        else if (json_is_integer(v)) {
            char b[32];
            snprintf(b, sizeof b, "%lld", (long long)json_integer_value(v));
            it->keyv[k] = strdup(b);
        }
    }
    json_t *tkv = json_object_get(h, f->idempotency_field);
    json_t *tref = json_object_get(tkv, "$ref");
    if (json_is_object(tref))   /* a ref: keyed by what it looks up ("A0001") */
        tkv = json_object_get(tref, "value");
    if (json_is_integer(tkv)) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)json_integer_value(tkv));
        it->target_key = strdup(b);
    } else {
        const char *tk = json_string_value(tkv);
        it->target_key = tk ? strdup(tk) : NULL;
    }
    json_decref(h);
    if (!it->target_key) {
        done_dead(w, f, it, "validation: no target key", f->idempotency_field);
        return;
    }
    sha256_hex(it->hash, it->out, it->out_len);
    if (dead_before(w, f, it))
        return;
    int unchanged = 0;
    if (syncrt_store_hash_unchanged(w->store, &unchanged, f->name, it->target_key, it->hash,
                                    NULL) == SYNCRT_OK && unchanged)
        done_skipped(w, f, it, "unchanged since delivered");
}

/* GET Set(keys): 1 exists, 0 absent, -1 failed (the item has been resolved then: retry or
 * pause), -2 stopping. */
static int probe(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, int *auth_failed)
{
    syncrt_engine *e = w->e;
    syncrt_odata_key keys[SYNCRT_FLOW_MAX_KEYS];
    size_t nk = 0;
    for (; nk < SYNCRT_FLOW_MAX_KEYS && f->key_fields[nk]; nk++) {
        keys[nk].name = f->key_fields[nk];
        keys[nk].value = it->keyv[nk] ? it->keyv[nk] : "";
        keys[nk].kind = SYNCRT_ODATA_STRING;
        keys[nk].enum_type = NULL;
    }
    char *path = NULL, *url = NULL;
    syncrt_error err;
    syncrt_odata_query q = { 0 };
    int whole = handoff_flow(e, f) != NULL;          /* the row is handed on: read all of it */
    q.select = whole ? NULL : f->idempotency_field;
    if (syncrt_odata_key_path(&path, f->target_set, keys, nk, &err) != SYNCRT_OK ||
        syncrt_odata_url(&url, e->service_root, path, &q, &err) != SYNCRT_OK) {
        free(path);
        done_dead(w, f, it, "internal: cannot build the key URL", err.message);
        return -1;
    }
    free(path);
    if (gate_acquire(e) < 0) {
        free(url);
        done_release(w, it, now_ms());
        return -2;
    }
    const char *hdrs[] = { "Accept: application/json", "OData-Version: 4.0", NULL };
    syncrt_http_request rq = { 0 };
    rq.method = "GET";
    rq.url = url;
    rq.headers = hdrs;
    syncrt_http_response r;
    memset(&r, 0, sizeof r);
    syncrt_status st;
    int64_t ra = -1;
    syncrt_retry_class c;
    /* a throttled probe is asked again once its Retry-After has passed (the gate waits) */
    for (int tries = 0;; tries++) {
        COUNT(e, probes, 1);
        st = d365_auth(w, &err);
        if (st == SYNCRT_OK)
            st = syncrt_auth_do(w->d365, &r, &rq, &err);
        c = gate_release(e, &ra, &r, 1);
        if (!(st == SYNCRT_OK && r.status == 429 && ra >= 0 && tries < 10))
            break;
        syncrt_http_response_clear(&r);
        memset(&r, 0, sizeof r);
        if (gate_acquire(e) < 0) {
            free(url);
            done_release(w, it, now_ms());
            return -2;
        }
    }
    free(url);
    int ret;
    if (st == SYNCRT_OK && r.status != 401 && r.status != 403)
        w->contacted = 1;
    if (st == SYNCRT_EAUTH || st == SYNCRT_EPERM || st == SYNCRT_EINVAL ||
        (st == SYNCRT_OK && (r.status == 401 || r.status == 403))) {
        *auth_failed = 1;
        done_release(w, it, now_ms() + e->cfg->auth_pause_ms);
        ret = -1;
    } else if (st == SYNCRT_OK && r.status == 200) {
        ret = 1;
        if (whole && r.body && r.body_len) {
            free(it->row);
            it->row = strndup(r.body, r.body_len);
            it->row_len = it->row ? strlen(it->row) : 0;
        }
    } else if (st == SYNCRT_OK && r.status == 404) {
        ret = 0;
    } else {
        char d[512];
        syncrt_outcome o;
        memset(&o, 0, sizeof o);
        o.attempt.transport = st != SYNCRT_OK ? (r.transport != SYNCRT_OK ? r.transport : st) : SYNCRT_OK;
        o.attempt.request_sent = r.request_sent;
        o.attempt.idempotent = 1;
        o.attempt.http_status = r.status;
        o.attempt.body = r.body;
        o.retry_after_ms = ra;
        if (st != SYNCRT_OK) {
            snprintf(d, sizeof d, "probe %s: %s", f->target_set, r.error[0] ? r.error : err.message);
        } else if (c == SYNCRT_CLASS_OK) {              /* a 2xx that is not 200: try again */
            snprintf(d, sizeof d, "probe %s: unexpected HTTP %ld", f->target_set, r.status);
            o.attempt.transport = SYNCRT_EHTTP;
        } else {
            snprintf(d, sizeof d, "probe %s", f->target_set);
        }
        o.error_text = d;
        done_failed(w, f, it, &o, auth_failed);
        ret = -1;
    }
    syncrt_http_response_clear(&r);
    return ret;
}

/* ------------------------------------------------------------------ $batch */

/* The key path of the record an item creates: Set(key='value',...). */
static syncrt_status item_key_path(char **path, const syncrt_flow_desc *f, const item *it,
                                   syncrt_error *err)
{
    syncrt_odata_key keys[SYNCRT_FLOW_MAX_KEYS];
    size_t nk = 0;
    for (; nk < SYNCRT_FLOW_MAX_KEYS && f->key_fields[nk]; nk++) {
        keys[nk].name = f->key_fields[nk];
        keys[nk].value = it->keyv[nk] ? it->keyv[nk] : "";
        keys[nk].kind = SYNCRT_ODATA_STRING;
        keys[nk].enum_type = NULL;
    }
    return syncrt_odata_key_path(path, f->target_set, keys, nk, err);
}

/* Sends items[0..n) (all IT_READY) in one $batch, one changeset each, and resolves them.
 * With a handoff_flow, each changeset is followed by a GET of the record it creates (outside
 * the changeset, so it reads the record as committed, lines included): no extra request. */
static void send_batch(syncrt_engine_worker *w, const syncrt_flow_desc *f, item **its, size_t n,
                       int *auth_failed)
{
    syncrt_engine *e = w->e;
    const syncrt_flow_desc *h = handoff_flow(e, f);
    syncrt_batch *b = NULL;
    syncrt_error err;
    char *body = NULL, *ctype = NULL;
    size_t blen = 0;
    syncrt_batch_result *res = NULL;
    size_t nres = 0;
    syncrt_status st = syncrt_batch_new(&b, e->service_root, &err);
    for (size_t i = 0; i < n && st == SYNCRT_OK; i++) {
        item *it = its[i];
        it->first_op = syncrt_batch_count(b);
        if (f->one_changeset)
            st = syncrt_batch_changeset_begin(b, &err);
        char *hdr = strndup(it->hdr, it->hdr_len);
        if (!hdr)
            st = SYNCRT_ENOMEM;
        if (st == SYNCRT_OK)
            st = syncrt_batch_add(b, &it->content_id, (int64_t)i, "POST", f->target_set, hdr,
                                  NULL, &err);
        free(hdr);
        if (it->lines && st == SYNCRT_OK) {
            const char *end = it->lines + it->lines_len, *p = ws(it->lines + 1, end);
            while (p < end && *p == '{' && st == SYNCRT_OK) {
                const char *q = skip_value(p, end);
                if (!q)
                    break;
                char *line = strndup(p, (size_t)(q - p));
                st = line ? syncrt_batch_add(b, NULL, (int64_t)i, "POST", f->child_set, line,
                                             NULL, &err)
                          : SYNCRT_ENOMEM;
                free(line);
                p = ws(q, end);
                if (p < end && *p == ',')
                    p = ws(p + 1, end);
            }
        }
        if (f->one_changeset && st == SYNCRT_OK)
            st = syncrt_batch_changeset_end(b, &err);
        it->nops = syncrt_batch_count(b) - it->first_op;
        it->has_get = 0;
        if (h && st == SYNCRT_OK) {
            char *path = NULL;
            st = item_key_path(&path, f, it, &err);
            it->get_op = syncrt_batch_count(b);
            if (st == SYNCRT_OK)
                st = syncrt_batch_add(b, NULL, (int64_t)i, "GET", path, NULL, NULL, &err);
            it->has_get = st == SYNCRT_OK;
            free(path);
        }
    }
    if (st == SYNCRT_OK)
        st = syncrt_batch_body(&body, &blen, &ctype, b, &err);
    if (st != SYNCRT_OK) {
        for (size_t i = 0; i < n; i++)
            done_release(w, its[i], now_ms() + 1000);
        char fl[512] = "";
        kv(fl, sizeof fl, "error", err.message);
        elog(e, SYNCRT_LOG_ERROR, "batch_build_failed", fl);
        syncrt_batch_free(b);
        return;
    }
    char url[1200], cth[300];
    snprintf(url, sizeof url, "%s/$batch", e->service_root);
    snprintf(cth, sizeof cth, "Content-Type: %s", ctype);
    const char *hdrs[] = { cth, "Accept: application/json", "OData-Version: 4.0", NULL };
    syncrt_http_request rq = { 0 };
    rq.method = "POST";
    rq.url = url;
    rq.headers = hdrs;
    rq.body = body;
    rq.body_len = blen;
    syncrt_http_response r;
    memset(&r, 0, sizeof r);
    if (gate_acquire(e) < 0) {
        for (size_t i = 0; i < n; i++)
            done_release(w, its[i], now_ms());
        goto out;
    }
    COUNT(e, batches, 1);
    st = d365_auth(w, &err);
    if (st == SYNCRT_OK)
        st = syncrt_auth_do(w->d365, &r, &rq, &err);
    int64_t ra = -1;
    syncrt_retry_class c = gate_release(e, &ra, &r, 0);
    if (st == SYNCRT_OK && r.status != 401 && r.status != 403)
        w->contacted = 1;
    if (st == SYNCRT_EAUTH || st == SYNCRT_EPERM || st == SYNCRT_EINVAL ||
        (st == SYNCRT_OK && (r.status == 401 || r.status == 403))) {
        *auth_failed = 1;
        char why[400];
        if (st == SYNCRT_OK)
            snprintf(why, sizeof why, "F&O answered HTTP %ld to the token holder", r.status);
        else
            snprintf(why, sizeof why, "%s", err.message[0] ? err.message : syncrt_strerror(st));
        pause_flow(w, f, why);
        for (size_t i = 0; i < n; i++)
            done_release(w, its[i], now_ms() + e->cfg->auth_pause_ms);
        goto out;
    }
    int auth_before = *auth_failed;
    if (st != SYNCRT_OK || r.status != 200) {
        /* the batch as a whole: throttled, refused, lost, or failed before sending */
        char d[600];
        syncrt_outcome o;
        memset(&o, 0, sizeof o);
        o.attempt.transport = st != SYNCRT_OK ? (r.transport != SYNCRT_OK ? r.transport : st) : SYNCRT_OK;
        o.attempt.request_sent = r.request_sent;
        o.attempt.http_status = r.status;
        o.attempt.body = r.body;
        o.retry_after_ms = ra;
        if (st != SYNCRT_OK) {
            snprintf(d, sizeof d, "$batch: %s%s", r.request_sent ? "answer lost after sending: " : "",
                     r.error[0] ? r.error : err.message[0] ? err.message : syncrt_strerror(st));
        } else {
            syncrt_odata_error_info ei;
            syncrt_odata_error_parse(&ei, r.body ? r.body : "", r.body_len);
            snprintf(d, sizeof d, "$batch: %s", syncrt_odata_error_text(&ei));
        }
        o.error_text = d;
        (void)c;
        for (size_t i = 0; i < n; i++)
            done_failed(w, f, its[i], &o, auth_failed);
    } else if (syncrt_batch_parse(&res, &nres, b, syncrt_http_response_header(&r, "Content-Type"),
                                  r.body, r.body_len, &err) != SYNCRT_OK) {
        char d[400];
        syncrt_outcome o;
        memset(&o, 0, sizeof o);
        o.attempt.transport = SYNCRT_EHTTP;         /* sent, answer unreadable: unknown outcome */
        o.attempt.request_sent = 1;
        o.retry_after_ms = -1;
        snprintf(d, sizeof d, "$batch answer unreadable: %s", err.message);
        o.error_text = d;
        for (size_t i = 0; i < n; i++)
            done_failed(w, f, its[i], &o, auth_failed);
    } else {
        for (size_t i = 0; i < n; i++) {
            item *it = its[i];
            const syncrt_batch_result *bad = NULL;
            syncrt_batch_result none;
            const syncrt_batch_result *unanswered = NULL;
            for (size_t k = it->first_op; k < it->first_op + it->nops && k < nres; k++) {
                if (res[k].status == 0)
                    unanswered = &res[k];
                else if ((res[k].status < 200 || res[k].status >= 300) && !bad)
                    bad = &res[k];           /* a refusal: the changeset was rolled back */
            }
            if (!bad)
                bad = unanswered;
            if (!bad && it->first_op >= nres) {
                memset(&none, 0, sizeof none);       /* no result at all: unknown outcome */
                bad = &none;
            }
            if (!bad) {
                /* the row read back after the changeset, else the POST's answer */
                const syncrt_batch_result *got = it->has_get && it->get_op < nres &&
                    res[it->get_op].status == 200 ? &res[it->get_op] : NULL;
                if (!got && h && it->first_op < nres && res[it->first_op].status == 201)
                    got = &res[it->first_op];
                if (got && got->body && *got->body) {
                    it->row = strdup(got->body);
                    it->row_len = it->row ? strlen(it->row) : 0;
                }
                done_delivered(w, f, it, "created");
                continue;
            }
            char d[1200];
            syncrt_outcome o;
            syncrt_outcome_from_batch(&o, bad, d, sizeof d);
            syncrt_retry_class pc = bad->status ? syncrt_retry_classify(&o.attempt) : SYNCRT_CLASS_UNKNOWN_OUTCOME;
            if (pc == SYNCRT_CLASS_VALIDATION || pc == SYNCRT_CLASS_BUSINESS) {
                /* a create refused: it may be ours, already there (a concurrent or earlier
                 * delivery of the same source record); the deterministic key tells. */
                int pr = probe(w, f, it, auth_failed);
                if (pr == 1)
                    done_delivered(w, f, it, "already present (create refused, found by key)");
                if (pr != 0)
                    continue;
                o.reason = pc == SYNCRT_CLASS_VALIDATION ? "validation: refused by F&O (not retried)"
                                                         : "business rule: refused by F&O (not retried)";
            }
            done_failed(w, f, it, &o, auth_failed);
        }
    }
    if (*auth_failed && !auth_before)
        pause_flow(w, f, "credentials refused while probing");
out:
    syncrt_batch_results_free(res, nres);
    syncrt_http_response_clear(&r);
    free(body);
    free(ctype);
    syncrt_batch_free(b);
}

/* One record upserted into Clarity by CustomKey (idempotent: an answer lost after sending is
 * resent, never probed); the outcome settles it like any other. */
static void send_upsert(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, int *auth_failed)
{
    syncrt_engine *e = w->e;
    syncrt_error err;
    memset(&err, 0, sizeof err);
    syncrt_status st = clarity_auth(w, &err);
    if (st != SYNCRT_OK) {
        *auth_failed = 1;
        pause_flow(w, f, err.message[0] ? err.message : syncrt_strerror(st));
        done_release(w, it, now_ms() + e->cfg->auth_pause_ms);
        return;
    }
    json_t *rec = it->send ? json_loads(it->send, JSON_DECODE_ANY, NULL)
                           : json_loadb(it->hdr, it->hdr_len, JSON_DECODE_ANY, NULL);
    if (!rec) {
        done_dead(w, f, it, "internal: mapped record does not parse", f->target_set);
        return;
    }
    syncrt_clarity c = { 0 };
    c.http = w->http;
    c.auth = w->clarity;
    c.root = e->cfg->clarity_root;
    c.jitter_seed = syncrt_rng_next(&w->rng);
    syncrt_clarity_action act;
    memset(&act, 0, sizeof act);
    COUNT(e, batches, 1);
    st = syncrt_clarity_upsert(&act, &c, f->target_route, rec, &err);
    json_decref(rec);
    if (st == SYNCRT_OK && act.succeeded) {
        w->contacted = 1;
        done_delivered(w, f, it, "upserted");
        return;
    }
    if (st == SYNCRT_EAUTH || (st == SYNCRT_OK && (act.status == 401 || act.status == 403))) {
        *auth_failed = 1;
        clarity_refused(w, f, st, err.message);
        done_release(w, it, now_ms() + e->cfg->auth_pause_ms);
        return;
    }
    char d[900];
    syncrt_outcome o;
    memset(&o, 0, sizeof o);
    o.attempt.idempotent = 1;
    o.attempt.request_sent = 1;
    o.retry_after_ms = -1;
    if (st != SYNCRT_OK) {
        o.attempt.transport = st == SYNCRT_EPARSE ? SYNCRT_EHTTP : st;
        snprintf(d, sizeof d, "Upsert %s: %s", f->target_route, err.message[0] ? err.message : syncrt_strerror(st));
    } else {
        w->contacted = 1;
        o.attempt.transport = SYNCRT_OK;
        o.attempt.http_status = act.status >= 200 && act.status < 300 ? 400 : act.status;
        snprintf(d, sizeof d, "Upsert %s: HTTP %ld: %s", f->target_route, act.status,
                 act.messages[0] ? act.messages : act.error.message[0] ? act.error.message : "not succeeded");
        if (o.attempt.http_status == 400 || o.attempt.http_status == 422)
            o.reason = "validation: refused by Clarity (not retried)";
    }
    o.error_text = d;
    done_failed(w, f, it, &o, auth_failed);
}

/* ------------------------------------------------------------------ refs and bulk writes */

/* A mapped Clarity record may hold ref placeholders (docs/codegen.md):
 * {"$ref":{"route":"Products/Products","by":"CustomKey","value":"A0001","get":"ID"}} stands
 * for the ID of the active Products record whose CustomKey is A0001.  resolve_refs looks the
 * values of a whole batch up together, one search per REF_CHUNK keys of a route
 * (GET route?CustomKeys=a,b,...&Active=true, paged), keeps the answers in the worker's memory
 * for the run (w->refs: a product's ID does not change while it lives, and a process start
 * asks again, so an ID that did change - a product deleted and created again - is not kept
 * past a restart; a refusal of a bulk item forgets them all), and writes each record with its
 * placeholders replaced into it->send.  A key Clarity has no active record for fails the
 * record as a transient failure, "no clarity Products with CustomKey 'X'": the product may be
 * created soon (ProductsToClarity), so it is retried by the flow's policy and dead-lettered
 * with that text when the retries are spent; the other records go on. */

#define REF_CHUNK 50            /* keys per search: one page of at most this many rows */
#define REF_CACHE_MAX 100000    /* answers kept; beyond, the cache starts again empty */

/* The placeholder's {route, by, value, get} object, or NULL when v is not a placeholder. */
static json_t *ref_of(json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) != 1)
        return NULL;
    json_t *r = json_object_get(v, "$ref");
    if (!json_is_object(r) || !json_is_string(json_object_get(r, "route")) ||
        !json_is_string(json_object_get(r, "by")) || !json_is_string(json_object_get(r, "value")) ||
        !json_is_string(json_object_get(r, "get")))
        return NULL;
    return r;
}

#define REF_S(r, k) json_string_value(json_object_get((r), (k)))

/* "route\x1f by\x1f get" (group) or with "\x1f value" (one answer), malloc'ed. */
static char *ref_key(const json_t *r, int with_value)
{
    const char *v = with_value ? REF_S(r, "value") : "";
    size_t n = strlen(REF_S(r, "route")) + strlen(REF_S(r, "by")) + strlen(REF_S(r, "get")) +
               strlen(v) + 8;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s\x1f%s\x1f%s%s%s", REF_S(r, "route"), REF_S(r, "by"), REF_S(r, "get"),
                 with_value ? "\x1f" : "", v);
    return k;
}

/* The text holds a "$ref" member name (a quick test before parsing). */
static int has_ref(const char *s, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++)
        if (s[i] == '"' && !memcmp(s + i, "\"$ref\"", 6))
            return 1;
    return 0;
}

typedef struct {
    syncrt_engine_worker *w;
    json_t *want;               /* collect: group key -> {"ref": a placeholder,
                                   "values": {value: true, ...}} */
    int resolve;                /* 0: collect what the cache lacks; 1: replace from the cache */
    size_t missing;
    char why[400];              /* the first unresolved placeholder, said */
} ref_pass;

static void ref_visit(ref_pass *p, json_t *r, json_t *parent, const char *key, size_t idx)
{
    char *vk = ref_key(r, 1);
    json_t *got = vk && p->w->refs ? json_object_get(p->w->refs, vk) : NULL;
    free(vk);
    if (!p->resolve) {
        if (got)
            return;
        char *gk = ref_key(r, 0);
        if (!gk)
            return;
        json_t *g = json_object_get(p->want, gk);
        if (!g) {
            g = json_pack("{s:O,s:{}}", "ref", r, "values");
            json_object_set_new(p->want, gk, g);
        }
        if (g)
            json_object_set_new(json_object_get(g, "values"), REF_S(r, "value"), json_true());
        free(gk);
        return;
    }
    if (!got) {
        if (!p->missing++) {
            const char *route = REF_S(r, "route"), *slash = strrchr(route, '/');
            const char *v = REF_S(r, "value");
            if (strcmp(REF_S(r, "by"), "CustomKey"))
                snprintf(p->why, sizeof p->why, "a ref by %s cannot be looked up (only CustomKey)",
                         REF_S(r, "by"));
            else if (strchr(v, ','))
                snprintf(p->why, sizeof p->why, "CustomKey '%s' holds a ',' and cannot be "
                         "searched (CustomKeys=)", v);
            else
                snprintf(p->why, sizeof p->why, "no clarity %s with CustomKey '%s'",
                         slash ? slash + 1 : route, v);
        }
        return;
    }
    if (key)
        json_object_set(parent, key, got);
    else
        json_array_set(parent, idx, got);
}

static void ref_each(ref_pass *p, json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, m) {
            json_t *r = ref_of(m);
            if (r)
                ref_visit(p, r, v, k, 0);
            else
                ref_each(p, m);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *m = json_array_get(v, i);
            json_t *r = ref_of(m);
            if (r)
                ref_visit(p, r, v, NULL, i);
            else
                ref_each(p, m);
        }
    }
}

typedef struct {
    syncrt_engine_worker *w;
    const json_t *ref;          /* route, by, get of the search */
} ref_rows;

static int ref_row(void *ctx, json_t *row)
{
    ref_rows *rr = ctx;
    const char *ck = json_string_value(json_object_get(row, "CustomKey"));
    json_t *got = json_object_get(row, REF_S(rr->ref, "get"));
    if (!ck || !got || json_is_null(got))
        return 0;
    json_t *k = json_pack("{s:s,s:s,s:s,s:s}", "route", REF_S(rr->ref, "route"), "by", "CustomKey",
                          "value", ck, "get", REF_S(rr->ref, "get"));
    char *vk = k ? ref_key(k, 1) : NULL;
    if (vk)
        json_object_set(rr->w->refs, vk, got);
    free(vk);
    json_decref(k);
    return 0;
}

/* Resolves the ref placeholders of the ready items (see above); an item whose placeholders
 * cannot all be resolved is settled here (retry, or a pause when Clarity refused the
 * credentials: *auth_failed). */
static void resolve_refs(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *its, size_t n,
                         int *auth_failed)
{
    syncrt_engine *e = w->e;
    json_t **docs = calloc(n ? n : 1, sizeof *docs);
    ref_pass p;
    memset(&p, 0, sizeof p);
    p.w = w;
    p.want = json_object();
    if (!docs || !p.want) {             /* no memory: the records with refs wait */
        for (size_t i = 0; i < n; i++)
            if (its[i].state == IT_READY && has_ref(its[i].hdr, its[i].hdr_len))
                done_release(w, &its[i], now_ms() + 1000);
        free(docs);
        json_decref(p.want);
        return;
    }
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (its[i].state != IT_READY || !has_ref(its[i].hdr, its[i].hdr_len))
            continue;
        docs[i] = json_loadb(its[i].hdr, its[i].hdr_len, 0, NULL);
        if (!docs[i]) {
            done_dead(w, f, &its[i], "internal: mapped record does not parse", f->target_set);
            continue;
        }
        ref_each(&p, docs[i]);
        any = 1;
    }
    if (!any)
        goto out;
    if (!w->refs || json_object_size(w->refs) > REF_CACHE_MAX) {
        json_decref(w->refs);
        w->refs = json_object();
    }
    /* the searches: one per REF_CHUNK keys of a group */
    char failed[600] = "";
    syncrt_status failed_st = SYNCRT_OK;
    int lookup_auth = 0;
    const char *gk;
    json_t *g;
    json_object_foreach(p.want, gk, g) {
        json_t *ref = json_object_get(g, "ref");
        if (strcmp(REF_S(ref, "by"), "CustomKey"))
            continue;   /* said per record in the resolve pass */
        const char *v;
        size_t cap = 256, len = 0, cnt = 0;
        char *param = malloc(cap);
        if (!param)
            break;
        len = (size_t)snprintf(param, cap, "CustomKeys=");
        json_t *values = json_object_get(g, "values");
        void *iter = json_object_iter(values);
        for (;;) {
            v = iter ? json_object_iter_key(iter) : NULL;
            if (v)
                iter = json_object_iter_next(values, iter);
            if (v && strchr(v, ','))        /* cannot be searched: said per record */
                continue;
            if (v) {
                size_t vl = strlen(v);
                if (len + vl + 2 > cap) {
                    while (len + vl + 2 > cap)
                        cap *= 2;
                    char *np = realloc(param, cap);
                    if (!np)
                        break;
                    param = np;
                }
                len += (size_t)snprintf(param + len, cap - len, "%s%s", cnt ? "," : "", v);
                cnt++;
            }
            if (cnt && (!v || cnt == REF_CHUNK)) {
                syncrt_error err;
                memset(&err, 0, sizeof err);
                syncrt_status st = clarity_auth(w, &err);
                syncrt_clarity_search_stats ss;
                memset(&ss, 0, sizeof ss);
                if (st == SYNCRT_OK) {
                    syncrt_clarity c = { 0 };
                    c.http = w->http;
                    c.auth = w->clarity;
                    c.root = e->cfg->clarity_root;
                    c.jitter_seed = syncrt_rng_next(&w->rng);
                    const char *params[] = { param, "Active=true", NULL };
                    syncrt_clarity_search_opts o = { 0 };
                    o.page_size = REF_CHUNK;
                    o.params = params;
                    o.no_cache = 1;   /* a product created a moment ago must be found */
                    ref_rows rr = { w, ref };
                    st = syncrt_clarity_search(&ss, &c, REF_S(ref, "route"), &o, ref_row, &rr,
                                               &err);
                    COUNT(e, batches, (int64_t)(ss.pages ? ss.pages : 1));
                }
                if (st != SYNCRT_OK) {
                    if (st == SYNCRT_EAUTH || ss.last_status == 401 || ss.last_status == 403)
                        lookup_auth = 1;
                    if (!failed[0])
                        failed_st = st == SYNCRT_EPARSE ? SYNCRT_EHTTP : st;
                    if (!failed[0])
                        snprintf(failed, sizeof failed, "looking up %s by CustomKey: %s",
                                 REF_S(ref, "route"),
                                 err.message[0] ? err.message : syncrt_strerror(st));
                }
                len = (size_t)snprintf(param, cap, "CustomKeys=");
                cnt = 0;
            }
            if (!v || failed[0])
                break;
        }
        free(param);
        if (failed[0])
            break;
    }
    if (lookup_auth) {
        *auth_failed = 1;
        clarity_refused(w, f, SYNCRT_EAUTH, "looking records up for refs");
    }
    /* each record: replaced, or settled */
    p.resolve = 1;
    for (size_t i = 0; i < n; i++) {
        if (!docs[i] || its[i].state != IT_READY)
            continue;
        item *it = &its[i];
        if (lookup_auth) {
            done_release(w, it, now_ms() + e->cfg->auth_pause_ms);
            continue;
        }
        p.missing = 0;
        p.why[0] = 0;
        ref_each(&p, docs[i]);
        if (failed[0]) {                     /* the search failed: try again later */
            syncrt_outcome o;
            memset(&o, 0, sizeof o);
            o.attempt.transport = failed_st;
            o.attempt.idempotent = 1;
            o.retry_after_ms = -1;
            o.error_text = failed;
            done_failed(w, f, it, &o, auth_failed);
            continue;
        }
        if (p.missing) {                     /* not (yet) in Clarity: retried, then dead */
            char reason[480];
            snprintf(reason, sizeof reason, "retries exhausted: %s", p.why);
            syncrt_outcome o;
            memset(&o, 0, sizeof o);
            o.attempt.transport = SYNCRT_ENOTFOUND;
            o.attempt.idempotent = 1;
            o.retry_after_ms = -1;
            o.reason = reason;
            o.error_text = p.why;
            done_failed(w, f, it, &o, auth_failed);
            continue;
        }
        it->send = json_dumps(docs[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!it->send)
            done_release(w, it, now_ms() + 1000);
    }
out:
    for (size_t i = 0; i < n; i++)
        json_decref(docs[i]);
    free(docs);
    json_decref(p.want);
}

/* "Item 3: message" of a bulk answer's Messages[]: the index, or -1. */
static long bulk_item_index(const char *m, const char **text)
{
    if (strncmp(m, "Item ", 5) != 0)
        return -1;
    char *end;
    long i = strtol(m + 5, &end, 10);
    if (end == m + 5 || *end != ':' || i < 0)
        return -1;
    *text = end[1] == ' ' ? end + 2 : end + 1;
    return i;
}

/* The records of its[0..n) in one request: {"<bulk_member>":[record, ...]} by bulk_method to
 * target_route.  A 2xx delivers every record its Messages[] do not name ("Item i: why": that
 * record is refused, dead-lettered with the message, and the ref answers are forgotten in case
 * a cached ID went stale); a 4xx for the whole body is split in halves and each sent again, so
 * the one bad record is isolated and dead-lettered and the others go through; 401/403 pause
 * the flow; transport failures, 408, 429 and 5xx are retried for every record. */
static void send_bulk(syncrt_engine_worker *w, const syncrt_flow_desc *f, item **its, size_t n,
                      int *auth_failed)
{
    syncrt_engine *e = w->e;
    if (!n || *auth_failed)
        return;
    syncrt_error err;
    memset(&err, 0, sizeof err);
    syncrt_status st = clarity_auth(w, &err);
    if (st != SYNCRT_OK) {
        *auth_failed = 1;
        pause_flow(w, f, err.message[0] ? err.message : syncrt_strerror(st));
        for (size_t i = 0; i < n; i++)
            done_release(w, its[i], now_ms() + e->cfg->auth_pause_ms);
        return;
    }
    syncrt_mbuf b;
    syncrt_mbuf_init(&b);
    syncrt_mbuf_put(&b, "{\"", 2);
    syncrt_mbuf_put(&b, f->bulk_member, strlen(f->bulk_member));
    syncrt_mbuf_put(&b, "\":[", 3);
    for (size_t i = 0; i < n; i++) {
        if (i)
            syncrt_mbuf_put(&b, ",", 1);
        if (its[i]->send)
            syncrt_mbuf_put(&b, its[i]->send, strlen(its[i]->send));
        else
            syncrt_mbuf_put(&b, its[i]->hdr, its[i]->hdr_len);
    }
    syncrt_mbuf_put(&b, "]}", 2);
    if (b.oom) {
        syncrt_mbuf_free(&b);
        for (size_t i = 0; i < n; i++)
            done_release(w, its[i], now_ms() + 1000);
        return;
    }
    static const char *const hdrs[] = { "Content-Type: application/json", "Accept: application/json", NULL };
    const char *root = e->cfg->clarity_root;
    size_t rl = strlen(root);
    char url[1024];
    snprintf(url, sizeof url, "%.*s/%s", (int)(rl && root[rl - 1] == '/' ? rl - 1 : rl), root,
             f->target_route);
    int put = !strcmp(f->bulk_method, "PUT");
    syncrt_http_request req;
    memset(&req, 0, sizeof req);
    req.method = f->bulk_method;
    req.url = url;
    req.headers = hdrs;
    req.body = b.p;
    req.body_len = b.n;
    req.resend_safe = put;               /* a PUT sets the figures: sending twice is safe */
    syncrt_http_response r;
    memset(&r, 0, sizeof r);
    COUNT(e, batches, 1);
    st = syncrt_auth_do(w->clarity, &r, &req, &err);
    syncrt_mbuf_free(&b);
    long status = st == SYNCRT_OK ? r.status : 0;
    if (st == SYNCRT_EAUTH || status == 401 || status == 403) {
        *auth_failed = 1;
        clarity_refused(w, f, st, err.message);
        for (size_t i = 0; i < n; i++)
            done_release(w, its[i], now_ms() + e->cfg->auth_pause_ms);
        syncrt_http_response_clear(&r);
        return;
    }
    if (st == SYNCRT_OK)
        w->contacted = 1;
    if (st == SYNCRT_OK && status >= 200 && status < 300) {
        json_t *doc = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
        json_t *msgs = json_object_get(doc, "Messages");
        int ok = json_is_true(json_object_get(doc, "ActionSucceeded"));
        char **bad = calloc(n, sizeof *bad);
        size_t named = 0, i;
        json_t *m;
        json_array_foreach(msgs, i, m) {
            const char *text = NULL;
            long k = json_is_string(m) ? bulk_item_index(json_string_value(m), &text) : -1;
            if (bad && k >= 0 && (size_t)k < n && !bad[k]) {
                bad[k] = strdup(text);
                named++;
            }
        }
        char d[900];
        if (!ok && !named) {                 /* refused, no record named: all of them */
            snprintf(d, sizeof d, "%s %s: HTTP %ld: not succeeded%s%s", f->bulk_method,
                     f->target_route, status, json_array_size(msgs) ? ": " : "",
                     json_array_size(msgs) ? json_string_value(json_array_get(msgs, 0)) : "");
            for (size_t k = 0; k < n; k++) {
                syncrt_outcome o;          /* answered 2xx, refused: not retried */
                memset(&o, 0, sizeof o);
                o.invalid = 1;
                o.retry_after_ms = -1;
                o.reason = "validation: refused by Clarity (not retried)";
                o.error_text = d;
                done_failed(w, f, its[k], &o, auth_failed);
            }
        } else {
            if (named) {                     /* a cached ID may have gone stale */
                json_decref(w->refs);
                w->refs = NULL;
            }
            char how[80];
            snprintf(how, sizeof how, "bulk: %zu of %zu records in one request", n - named, n);
            for (size_t k = 0; k < n; k++) {
                if (bad && bad[k]) {
                    syncrt_outcome o;      /* answered 2xx, this item refused */
                    memset(&o, 0, sizeof o);
                    o.invalid = 1;
                    o.retry_after_ms = -1;
                    o.reason = "validation: refused by Clarity (not retried)";
                    snprintf(d, sizeof d, "%s %s: %s", f->bulk_method, f->target_route, bad[k]);
                    o.error_text = d;
                    done_failed(w, f, its[k], &o, auth_failed);
                } else {
                    done_delivered(w, f, its[k], how);
                }
            }
        }
        for (size_t k = 0; bad && k < n; k++)
            free(bad[k]);
        free(bad);
        json_decref(doc);
        syncrt_http_response_clear(&r);
        return;
    }
    if (st == SYNCRT_OK && status >= 400 && status < 500 && status != 408 && status != 429 &&
        n > 1) {
        syncrt_http_response_clear(&r);
        size_t h = n / 2;                    /* isolate the record the body was refused for */
        send_bulk(w, f, its, h, auth_failed);
        send_bulk(w, f, its + h, n - h, auth_failed);
        return;
    }
    char d[900];
    syncrt_clarity_error ce;
    memset(&ce, 0, sizeof ce);
    if (st == SYNCRT_OK)
        syncrt_clarity_error_parse(&ce, r.body, r.body_len);
    if (st != SYNCRT_OK)
        snprintf(d, sizeof d, "%s %s: %s", f->bulk_method, f->target_route,
                 err.message[0] ? err.message : syncrt_strerror(st));
    else                                     /* the settler says "HTTP <status>: " first */
        snprintf(d, sizeof d, "%s %s: %s", f->bulk_method, f->target_route,
                 ce.message[0] ? ce.message : "refused");
    const char *ra = st == SYNCRT_OK ? syncrt_http_response_header(&r, "Retry-After") : NULL;
    for (size_t k = 0; k < n; k++) {
        syncrt_outcome o;
        memset(&o, 0, sizeof o);
        o.attempt.transport = st == SYNCRT_OK ? SYNCRT_OK : st == SYNCRT_EPARSE ? SYNCRT_EHTTP : st;
        o.attempt.request_sent = st == SYNCRT_OK ? 1 : r.request_sent;
        o.attempt.idempotent = put;
        o.attempt.http_status = status;
        o.retry_after_ms = ra && *ra >= '0' && *ra <= '9' ? strtoll(ra, NULL, 10) * 1000 : -1;
        if (status == 400 || status == 422)
            o.reason = "validation: refused by Clarity (not retried)";
        o.error_text = d;
        done_failed(w, f, its[k], &o, auth_failed);
    }
    syncrt_http_response_clear(&r);
}

/* ------------------------------------------------------------------ customer 360 */

/* Customer 360, Clarity -> F&O (CustomersToD365, UserContactsToD365; docs/flows.md section 3):
 * one record at a time, GET Set(keys) first; an existing target gets a PATCH of only the
 * update_fields whose mapped value differs from F&O's (If-Match of the probe's ETag), and
 * nothing at all when none differs (the echo of a change F&O made itself); a missing one is
 * an error for an update, and for an upsert is looked for by the flow's dedup probes before
 * it is created.  A dedup hit is remembered ("<flow>#link" in the hash map) and written back
 * to the Clarity record's CustomKey, as is the key of a created record, so the next pass and
 * the storefront's orders go straight to it. */

#define C360_MAX_FIELDS 64

/* A member of a JSON object text: its value (strings decoded, other values as their text),
 * str 1 for a JSON string; s NULL when absent or null. */
typedef struct {
    char *s;
    int str;
} c360_val;

static c360_val c360_get(const char *json, size_t len, const char *name)
{
    c360_val v = { NULL, 0 };
    const char *p;
    size_t n;
    if (!json || member_span(json, len, name, &p, &n) != 0 || (n == 4 && !memcmp(p, "null", 4)))
        return v;
    if (*p == '"') {
        json_t *s = json_loadb(p, n, JSON_DECODE_ANY, NULL);
        if (json_is_string(s)) {
            v.s = strdup(json_string_value(s));
            v.str = 1;
        }
        json_decref(s);
        return v;
    }
    v.s = strndup(p, n);
    return v;
}

/* An enum member as OData may spell it in a literal (Namespace.Type'Member'): the member. */
static const char *enum_member(const char *s, size_t *n)
{
    size_t l = strlen(s);
    const char *q = l > 2 && s[l - 1] == '\'' ? strchr(s, '\'') : NULL;
    if (q && q < s + l - 1) {
        *n = (size_t)(s + l - 1 - (q + 1));
        return q + 1;
    }
    *n = l;
    return s;
}

/* 1 when the mapped value m differs from F&O's value o: numbers by value (runtime/decimal:
 * 5000 == 5000.00), enum members by name, other strings exactly.  A mapped value that is
 * absent or empty is never sent, so it never differs. */
static int c360_differs(const c360_val *m, const c360_val *o)
{
    if (!m->s || !*m->s)
        return 0;
    const char *os = o->s ? o->s : "";
    if (!m->str || (o->s && !o->str)) {
        syncrt_decimal a, b;
        if (syncrt_decimal_parse(&a, m->s, strlen(m->s)) == SYNCRT_OK &&
            syncrt_decimal_parse(&b, os, strlen(os)) == SYNCRT_OK)
            return syncrt_decimal_cmp(&a, &b) != 0;
    }
    size_t an, bn;
    const char *a = enum_member(m->s, &an), *b = enum_member(os, &bn);
    return an != bn || memcmp(a, b, an) != 0;
}

/* Equal under F&O's SQL collation (what its $filter eq means): case-insensitive, trailing
 * blanks ignored. */
static int collation_equal(const char *a, const char *b)
{
    size_t an = strlen(a), bn = strlen(b);
    while (an && a[an - 1] == ' ')
        an--;
    while (bn && b[bn - 1] == ' ')
        bn--;
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != (y >= 'A' && y <= 'Z' ? y + 32 : y))
            return 0;
    }
    return 1;
}

static int is_key_field(const syncrt_flow_desc *f, const char *name)
{
    for (int k = 0; k < SYNCRT_FLOW_MAX_KEYS && f->key_fields[k]; k++)
        if (!strcmp(f->key_fields[k], name))
            return 1;
    return 0;
}

/* The fields an update may send: the descriptor's update_fields, or (a descriptor without
 * them) every mapped field but the key.  *hold keeps the names alive (json_decref it). */
static size_t c360_fields(const syncrt_flow_desc *f, const item *it, const char **out, json_t **hold)
{
    size_t n = 0;
    *hold = NULL;
    if (f->update_fields) {
        for (size_t i = 0; f->update_fields[i] && n < C360_MAX_FIELDS; i++)
            if (!is_key_field(f, f->update_fields[i]))
                out[n++] = f->update_fields[i];
        return n;
    }
    *hold = json_loadb(it->hdr, it->hdr_len, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(*hold, k, v) {
        if (n < C360_MAX_FIELDS && !is_key_field(f, k))
            out[n++] = k;
    }
    return n;
}

/* "CustomersV3 (dataAreaId='usmf',CustomerAccount='US-001')", for reasons and logs. */
static void c360_label(char *buf, size_t size, const syncrt_flow_desc *f, const item *it, const char *acct)
{
    size_t n = (size_t)snprintf(buf, size, "%s (", f->target_set);
    for (int k = 0; k < SYNCRT_FLOW_MAX_KEYS && f->key_fields[k] && n < size; k++) {
        const char *v = !strcmp(f->key_fields[k], f->idempotency_field) ? acct
                        : it->keyv[k] ? it->keyv[k] : "";
        n += (size_t)snprintf(buf + n, size - n, "%s%s='%s'", k ? "," : "", f->key_fields[k], v);
    }
    if (n < size)
        snprintf(buf + n, size - n, ")");
}

/* Set(keys) with the idempotency field's value replaced by acct, as a URL selecting the keys
 * and fields (and no $select when select is 0). */
static syncrt_status c360_key_url(char **url, syncrt_engine *e, const syncrt_flow_desc *f, const item *it,
                                  const char *acct, const char *const *fields, size_t nf, int select,
                                  syncrt_error *err)
{
    syncrt_odata_key keys[SYNCRT_FLOW_MAX_KEYS];
    size_t nk = 0, sl = 1;
    for (; nk < SYNCRT_FLOW_MAX_KEYS && f->key_fields[nk]; nk++) {
        keys[nk].name = f->key_fields[nk];
        keys[nk].value = !strcmp(f->key_fields[nk], f->idempotency_field) ? acct
                         : it->keyv[nk] ? it->keyv[nk] : "";
        keys[nk].kind = SYNCRT_ODATA_STRING;
        keys[nk].enum_type = NULL;
        sl += strlen(f->key_fields[nk]) + 1;
    }
    for (size_t i = 0; i < nf; i++)
        sl += strlen(fields[i]) + 1;
    char *path = NULL, *sel = malloc(sl);
    if (!sel)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    size_t p = 0;
    for (size_t k = 0; k < nk; k++)
        p += (size_t)snprintf(sel + p, sl - p, "%s%s", p ? "," : "", f->key_fields[k]);
    for (size_t i = 0; i < nf; i++)
        p += (size_t)snprintf(sel + p, sl - p, ",%s", fields[i]);
    syncrt_odata_query q = { 0 };
    q.select = select ? sel : NULL;
    syncrt_status st = syncrt_odata_key_path(&path, f->target_set, keys, nk, err);
    if (st == SYNCRT_OK)
        st = syncrt_odata_url(url, e->service_root, path, &q, err);
    free(path);
    free(sel);
    return st;
}

/* One request to F&O through the gate with the worker's credentials (a 429 with Retry-After
 * is asked again once it has passed, the gate waiting, like the probe).  0 with *st and *r
 * filled (clear r), -2 when stopping before sending. */
static int fo_call(syncrt_engine_worker *w, syncrt_http_response *r, syncrt_status *st, int64_t *ra,
                   const char *method, const char *url, const char *body, const char *if_match,
                   int idempotent, syncrt_error *err)
{
    syncrt_engine *e = w->e;
    char im[320];
    const char *hdrs[5];
    int nh = 0;
    hdrs[nh++] = "Accept: application/json";
    hdrs[nh++] = "OData-Version: 4.0";
    if (body)
        hdrs[nh++] = "Content-Type: application/json";
    if (if_match) {
        snprintf(im, sizeof im, "If-Match: %s", if_match);
        hdrs[nh++] = im;
    }
    hdrs[nh] = NULL;
    syncrt_http_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = method;
    rq.url = url;
    rq.headers = hdrs;
    rq.body = body;
    rq.body_len = body ? strlen(body) : 0;
    rq.resend_safe = 0;         /* a write whose answer is lost is read again, never resent blind */
    memset(r, 0, sizeof *r);
    *ra = -1;
    for (int tries = 0;; tries++) {
        if (gate_acquire(e) < 0)
            return -2;
        if (!strcmp(method, "GET"))
            COUNT(e, probes, 1);
        else
            COUNT(e, batches, 1);
        *st = d365_auth(w, err);
        if (*st == SYNCRT_OK)
            *st = syncrt_auth_do(w->d365, r, &rq, err);
        gate_release(e, ra, r, idempotent);
        if (*st == SYNCRT_OK && r->status != 401 && r->status != 403)
            w->contacted = 1;
        if (!(*st == SYNCRT_OK && r->status == 429 && *ra >= 0 && tries < 10))
            return 0;
        syncrt_http_response_clear(r);
        memset(r, 0, sizeof *r);
    }
}

/* Settles the record after an F&O request that did not succeed: credentials (pause the flow:
 * *auth_failed 2), else the outcome through done_failed (a refusal of a write is dead-lettered
 * with F&O's message; transient failures and, for an idempotent request, a lost answer are
 * retried; a create whose answer was lost is probed by key first). */
static void c360_failed(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, syncrt_status st,
                        const syncrt_http_response *r, int64_t ra, int idempotent, const char *what,
                        const syncrt_error *err, int *auth_failed)
{
    syncrt_engine *e = w->e;
    if (st == SYNCRT_EAUTH || st == SYNCRT_EPERM || st == SYNCRT_EINVAL ||
        (st == SYNCRT_OK && (r->status == 401 || r->status == 403))) {
        char why[400];
        if (st == SYNCRT_OK)
            snprintf(why, sizeof why, "F&O answered HTTP %ld to the token holder", r->status);
        else
            snprintf(why, sizeof why, "%s", err->message[0] ? err->message : syncrt_strerror(st));
        *auth_failed = 2;
        pause_flow(w, f, why);
        done_release(w, it, now_ms() + e->cfg->auth_pause_ms);
        return;
    }
    char d[900];
    syncrt_outcome o;
    memset(&o, 0, sizeof o);
    o.attempt.transport = st != SYNCRT_OK ? (r->transport != SYNCRT_OK ? r->transport : st) : SYNCRT_OK;
    o.attempt.request_sent = r->request_sent;
    o.attempt.idempotent = idempotent;
    o.attempt.http_status = r->status;
    o.attempt.body = r->body;
    o.retry_after_ms = ra;
    if (st != SYNCRT_OK) {
        snprintf(d, sizeof d, "%s: %s%s", what, r->request_sent ? "answer lost after sending: " : "",
                 r->error[0] ? r->error : err->message[0] ? err->message : syncrt_strerror(st));
    } else if (r->status >= 200 && r->status < 300) {
        snprintf(d, sizeof d, "%s: unexpected HTTP %ld", what, r->status);
        o.attempt.transport = SYNCRT_EHTTP;
    } else {
        syncrt_odata_error_info ei;
        syncrt_odata_error_parse(&ei, r->body ? r->body : "", r->body_len);
        snprintf(d, sizeof d, "%s: %s", what, syncrt_odata_error_text(&ei));
        syncrt_retry_class c = syncrt_retry_classify(&o.attempt);
        if (c == SYNCRT_CLASS_VALIDATION)
            o.reason = "validation: refused by F&O (not retried)";
        else if (c == SYNCRT_CLASS_BUSINESS)
            o.reason = "business rule: refused by F&O (not retried)";
    }
    o.error_text = d;
    done_failed(w, f, it, &o, auth_failed);
}

/* Settles the record as a transient failure (retried after the backoff, dead-lettered with
 * reason once the flow's attempts are used up) with nothing sent. */
static void c360_retry(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, syncrt_status why,
                       const char *reason, const char *detail)
{
    syncrt_outcome o;
    memset(&o, 0, sizeof o);
    o.attempt.transport = why;
    o.attempt.idempotent = 1;
    o.retry_after_ms = -1;
    o.reason = reason;
    o.error_text = detail;
    done_failed(w, f, it, &o, NULL);
}

/* Completes the record: written (a create or a PATCH) or nothing to write (skipped: F&O has
 * the values already).  Either way the mapped form's hash is kept, so the same mapped record
 * costs no call next time, and the idempotency map names the F&O record (acct). */
static void c360_done(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, const char *acct,
                      int skipped, const char *how, const char *fields)
{
    syncrt_settler s = settler_of(w, f);
    syncrt_outcome o = success_outcome(f, it, skipped);
    syncrt_settled sd;
    syncrt_error e2;
    o.delivery.target_key = acct;
    o.delivery.hash_scope = f->name;
    o.delivery.hash_key = it->target_key;
    o.delivery.hash = it->hash;
    syncrt_status st = syncrt_settle(&sd, &s, it->rec, &o, &e2);
    it->state = IT_DONE;
    if (st != SYNCRT_OK) {
        outcome_log(w, SYNCRT_LOG_WARN, "complete_failed", f, it, "error", e2.message, NULL, NULL);
        return;
    }
    if (skipped)
        FCOUNT(w->e, f, skipped, 1);
    else
        FCOUNT(w->e, f, delivered, 1);
    char h[400];
    snprintf(h, sizeof h, "%s%s%s", how, strcmp(acct, it->target_key) ? ": customer " : "",
             strcmp(acct, it->target_key) ? acct : "");
    outcome_log(w, SYNCRT_LOG_INFO, skipped ? "skipped" : "delivered", f, it, skipped ? "why" : "how", h,
                fields ? "fields" : NULL, fields);
}

/* The source record as received (a webhook envelope's Entity, or the polled row). */
static void source_json(const item *it, const char **json, size_t *len)
{
    const char *ent;
    size_t n;
    *json = (const char *)it->rec->payload;
    *len = it->rec->payload_len;
    if (member_span(*json, *len, "EventType", &ent, &n) == 0 &&
        member_span(*json, *len, "Entity", &ent, &n) == 0) {
        *json = ent;
        *len = n;
    }
}

/* Writes acct to the Clarity record's CustomKey when it has another one (an upsert flow:
 * PUT {module}/{Entity}/Update {ID, CustomKey}; the entity route is the polled search route
 * in the singular, "Accounts/Accounts" -> "Accounts/Account").  0: done or nothing to do;
 * -1: the record has been settled (retry, dead letter, or paused). */
static int c360_link_back(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, const char *acct,
                          int *auth_failed)
{
    syncrt_engine *e = w->e;
    if (f->write != SYNCRT_WRITE_UPSERT || !f->poll_route || !f->source_id_field || !e->cfg->clarity_root)
        return 0;
    const char *json, *idp;
    size_t len, idn;
    source_json(it, &json, &len);
    c360_val ck = c360_get(json, len, "CustomKey");
    int same = ck.s && !strcmp(ck.s, acct);
    free(ck.s);
    if (same || member_span(json, len, f->source_id_field, &idp, &idn) != 0 || idn == 0 || idn > 20)
        return 0;
    char route[200], url[1200], idtxt[24], what[300];
    snprintf(route, sizeof route, "%s", f->poll_route);
    size_t rl = strlen(route);
    if (rl > 3 && !strcmp(route + rl - 3, "ies"))
        snprintf(route + rl - 3, sizeof route - (rl - 3), "y");
    else if (rl > 1 && route[rl - 1] == 's')
        route[rl - 1] = '\0';
    const char *root = e->cfg->clarity_root;
    size_t ol = strlen(root);
    snprintf(url, sizeof url, "%.*s/%s/Update", (int)(ol && root[ol - 1] == '/' ? ol - 1 : ol), root, route);
    snprintf(idtxt, sizeof idtxt, "%.*s", (int)idn, idp);
    snprintf(what, sizeof what, "PUT %s/Update (%s %s, CustomKey '%s')", route, f->source_id_field, idtxt, acct);
    json_t *body = json_object();
    json_object_set_new(body, f->source_id_field, json_integer(strtoll(idtxt, NULL, 10)));
    json_object_set_new(body, "CustomKey", json_string(acct));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    syncrt_error err;
    memset(&err, 0, sizeof err);
    syncrt_status st = text ? clarity_auth(w, &err) : SYNCRT_ENOMEM;
    syncrt_http_response r;
    memset(&r, 0, sizeof r);
    if (st == SYNCRT_OK) {
        static const char *const hdrs[] = { "Content-Type: application/json", "Accept: application/json", NULL };
        syncrt_http_request rq;
        memset(&rq, 0, sizeof rq);
        rq.method = "PUT";
        rq.url = url;
        rq.headers = hdrs;
        rq.body = text;
        rq.body_len = strlen(text);
        rq.resend_safe = 1;              /* setting a value twice is setting it once */
        COUNT(e, batches, 1);
        st = syncrt_auth_do(w->clarity, &r, &rq, &err);
    }
    free(text);
    syncrt_clarity_action act;
    memset(&act, 0, sizeof act);
    if (st == SYNCRT_OK && syncrt_clarity_action_parse(&act, r.status, r.body, r.body_len) == SYNCRT_OK &&
        act.succeeded) {
        w->contacted = 1;
        syncrt_http_response_clear(&r);
        outcome_log(w, SYNCRT_LOG_INFO, "linked", f, it, "customer", acct, "clarity", what);
        return 0;
    }
    if (st == SYNCRT_ENOMEM) {
        done_release(w, it, now_ms() + 1000);
        return -1;
    }
    if (st == SYNCRT_EAUTH || (st == SYNCRT_OK && (r.status == 401 || r.status == 403))) {
        *auth_failed = 2;
        clarity_refused(w, f, st, err.message);
        done_release(w, it, now_ms() + e->cfg->auth_pause_ms);
        syncrt_http_response_clear(&r);
        return -1;
    }
    char d[900];
    syncrt_outcome o;
    memset(&o, 0, sizeof o);
    o.attempt.idempotent = 1;
    o.attempt.request_sent = 1;
    o.retry_after_ms = -1;
    if (st != SYNCRT_OK) {
        o.attempt.transport = st == SYNCRT_EPARSE ? SYNCRT_EHTTP : st;
        snprintf(d, sizeof d, "%s: %s", what, err.message[0] ? err.message : syncrt_strerror(st));
    } else {
        w->contacted = 1;
        syncrt_clarity_error ce;
        memset(&ce, 0, sizeof ce);
        int parsed = syncrt_clarity_error_parse(&ce, r.body, r.body_len) == SYNCRT_OK;
        o.attempt.transport = SYNCRT_OK;
        o.attempt.http_status = r.status >= 200 && r.status < 300 ? 400 : r.status;
        const char *ra = syncrt_http_response_header(&r, "Retry-After");
        if (ra && syncrt_retry_after_parse(&o.retry_after_ms, ra, now_ms()) != SYNCRT_OK)
            o.retry_after_ms = -1;
        snprintf(d, sizeof d, "%s: HTTP %ld: %.600s", what, r.status,
                 act.messages[0] ? act.messages : parsed ? ce.message : r.body ? r.body : "");
        if (o.attempt.http_status == 400 || o.attempt.http_status == 422 || o.attempt.http_status == 404)
            o.reason = "business rule: Clarity refused the CustomKey write-back (not retried)";
    }
    syncrt_http_response_clear(&r);
    o.error_text = d;
    done_failed(w, f, it, &o, auth_failed);
    return -1;
}

/* The dedup probes of an upsert whose key is not in F&O, in the descriptor's order: GET
 * Set?$filter=<company> and F eq 'v' [and G eq 'w'] (a probe with an absent or empty mapped
 * value is skipped; hits are checked again under F&O's collation, since '*' is a wildcard in
 * an F&O eq).  1 and *hit (malloc'd) for exactly one match; 0 for none; -1 settled (two or
 * more: dead-lettered as ambiguous; or the request failed). */
static int c360_dedup(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, char **hit,
                      int *auth_failed)
{
    syncrt_engine *e = w->e;
    *hit = NULL;
    const char *area = NULL;
    for (int k = 0; k < SYNCRT_FLOW_MAX_KEYS && f->key_fields[k]; k++)
        if (!strcmp(f->key_fields[k], "dataAreaId"))
            area = it->keyv[k];
    for (int p = 0; p < SYNCRT_FLOW_MAX_KEYS && f->dedup_fields[p]; p++) {
        char names[4][128], filter[2048], label[600], sel[600], values[512] = "";
        c360_val vals[4];
        int nn = 0, ok = 1;
        syncrt_error err;
        memset(&err, 0, sizeof err);
        for (const char *s = f->dedup_fields[p]; *s && nn < 4;) {
            const char *plus = strchr(s, '+');
            size_t l = plus ? (size_t)(plus - s) : strlen(s);
            snprintf(names[nn++], sizeof names[0], "%.*s", (int)(l < 127 ? l : 127), s);
            s += l + (plus != NULL);
        }
        size_t fl = 0, vl = 0;
        fl += (size_t)snprintf(filter, sizeof filter, "%s", area ? "dataAreaId eq " : "");
        if (area) {
            char *lit = NULL;
            if (syncrt_odata_literal(&lit, SYNCRT_ODATA_STRING, area, NULL, &err) != SYNCRT_OK)
                ok = 0;
            fl += (size_t)snprintf(filter + fl, sizeof filter - fl, "%s", lit ? lit : "");
            free(lit);
        }
        snprintf(sel, sizeof sel, "%s", f->idempotency_field);
        for (int i = 0; i < nn; i++) {
            vals[i] = c360_get(it->hdr, it->hdr_len, names[i]);
            char *lit = NULL;
            if (!vals[i].s || !*vals[i].s ||
                syncrt_odata_literal(&lit, vals[i].str ? SYNCRT_ODATA_STRING : SYNCRT_ODATA_NUMBER, vals[i].s,
                                     NULL, &err) != SYNCRT_OK) {
                ok = 0;
            } else {
                fl += (size_t)snprintf(filter + fl, fl < sizeof filter ? sizeof filter - fl : 0, "%s%s eq %s",
                                       fl ? " and " : "", names[i], lit);
                vl += (size_t)snprintf(values + vl, vl < sizeof values ? sizeof values - vl : 0, "%s%s",
                                       i ? "+" : "", vals[i].s);
                size_t sn = strlen(sel);
                snprintf(sel + sn, sizeof sel - sn, ",%s", names[i]);
            }
            free(lit);
        }
        if (!ok || fl >= sizeof filter) {
            for (int i = 0; i < nn; i++)
                free(vals[i].s);
            continue;
        }
        snprintf(label, sizeof label, "%s '%s'", f->dedup_fields[p], values);
        char *url = NULL;
        syncrt_odata_query q = { 0 };
        q.filter = filter;
        q.select = sel;
        q.top = 50;
        syncrt_status st = syncrt_odata_url(&url, e->service_root, f->target_set, &q, &err);
        syncrt_http_response r;
        int64_t ra = -1;
        int rc = 0;
        if (st != SYNCRT_OK) {
            done_dead(w, f, it, "internal: cannot build the dedup query", err.message);
            rc = -1;
        } else if (fo_call(w, &r, &st, &ra, "GET", url, NULL, NULL, 1, &err) < 0) {
            done_release(w, it, now_ms());
            rc = -1;
        } else if (st != SYNCRT_OK || r.status != 200) {
            char what[700];
            snprintf(what, sizeof what, "dedup probe %s by %s", f->target_set, label);
            c360_failed(w, f, it, st, &r, ra, 1, what, &err, auth_failed);
            syncrt_http_response_clear(&r);
            rc = -1;
        } else {
            json_t *doc = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
            json_t *rows = json_object_get(doc, "value"), *row;
            size_t i, nhit = 0;
            char list[400] = "";
            size_t ll = 0;
            json_array_foreach(rows, i, row) {
                int match = 1;
                for (int k = 0; k < nn && match; k++) {
                    json_t *v = json_object_get(row, names[k]);
                    if (vals[k].str)
                        match = json_is_string(v) && collation_equal(json_string_value(v), vals[k].s);
                }
                const char *a = json_string_value(json_object_get(row, f->idempotency_field));
                if (!match || !a)
                    continue;
                if (nhit++ == 0)
                    *hit = strdup(a);
                ll += (size_t)snprintf(list + ll, ll < sizeof list ? sizeof list - ll : 0, "%s%s",
                                       nhit > 1 ? ", " : "", a);
            }
            size_t nrows = json_array_size(rows);
            json_decref(doc);
            syncrt_http_response_clear(&r);
            if (nhit == 1) {
                rc = *hit ? 1 : -1;
                if (!*hit)
                    done_release(w, it, now_ms() + 1000);
                outcome_log(w, SYNCRT_LOG_INFO, "dedup_hit", f, it, "probe", label, "customer", *hit ? *hit : "");
            } else if (nhit > 1) {
                char reason[1100], d[1500];
                snprintf(reason, sizeof reason, "ambiguous: %s matches %s%zu F&O %s records: %s", label,
                         nrows >= 50 ? "at least " : "", nhit, f->target_set, list);
                snprintf(d, sizeof d, "ambiguous: %s matches %zu records of F&O %s: %s; none is updated and "
                         "none created: merge the duplicates in F&O (or set the Clarity record's CustomKey "
                         "to the right one), then replay", label, nhit, f->target_set, list);
                free(*hit);
                *hit = NULL;
                done_dead(w, f, it, reason, d);
                rc = -1;
            }
        }
        free(url);
        for (int k = 0; k < nn; k++)
            free(vals[k].s);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One record of a customer-360 flow (see above).  Every end settles it exactly once. */
static void send_c360(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, int *auth_failed)
{
    syncrt_engine *e = w->e;
    const char *fields[C360_MAX_FIELDS];
    json_t *hold = NULL;
    size_t nf = c360_fields(f, it, fields, &hold);
    char scope[160], label[400], what[600], *acct = strdup(it->target_key), *link = NULL, *url = NULL;
    int linked = 0, deduped = 0, conflicts = 0;
    syncrt_error err;
    memset(&err, 0, sizeof err);
    if (!acct) {
        done_release(w, it, now_ms() + 1000);
        goto out;
    }
    snprintf(scope, sizeof scope, "%s#link", f->name);
    if (f->write == SYNCRT_WRITE_UPSERT &&
        syncrt_store_hash_get(w->store, &link, scope, rec_label(it), NULL) == SYNCRT_OK && link && *link &&
        strcmp(link, acct) != 0) {
        free(acct);
        acct = link;
        link = NULL;
        linked = 1;
    }
    free(link);
    for (;;) {
        syncrt_http_response r;
        syncrt_status st;
        int64_t ra = -1;
        free(url);
        url = NULL;
        c360_label(label, sizeof label, f, it, acct);
        if (c360_key_url(&url, e, f, it, acct, fields, nf, 1, &err) != SYNCRT_OK) {
            done_dead(w, f, it, "internal: cannot build the key URL", err.message);
            goto out;
        }
        if (fo_call(w, &r, &st, &ra, "GET", url, NULL, NULL, 1, &err) < 0) {
            done_release(w, it, now_ms());
            goto out;
        }
        snprintf(what, sizeof what, "GET %s", label);
        if (st == SYNCRT_OK && r.status == 404) {
            syncrt_http_response_clear(&r);
            if (linked) {                /* the linked record is gone: look again */
                syncrt_store_hash_set(w->store, scope, rec_label(it), "", NULL);
                free(acct);
                acct = strdup(it->target_key);
                linked = 0;
                if (!acct) {
                    done_release(w, it, now_ms() + 1000);
                    goto out;
                }
                continue;
            }
            if (f->write == SYNCRT_WRITE_UPDATE) {
                char reason[500], d[500];
                snprintf(reason, sizeof reason, "retries exhausted: F&O has no %s to update", label);
                snprintf(d, sizeof d, "F&O has no %s to update (GET answered 404)", label);
                c360_retry(w, f, it, SYNCRT_ENOTFOUND, reason, d);
                goto out;
            }
            if (!deduped) {
                char *hit = NULL;
                deduped = 1;
                int dr = c360_dedup(w, f, it, &hit, auth_failed);
                if (dr < 0)
                    goto out;
                if (dr == 1) {
                    syncrt_store_hash_set(w->store, scope, rec_label(it), hit, NULL);
                    free(acct);
                    acct = hit;
                    linked = 1;
                    continue;
                }
            }
            /* create: the whole mapped record, after its key is the Clarity record's */
            if (c360_link_back(w, f, it, acct, auth_failed) < 0)
                goto out;
            char *body = strndup(it->hdr, it->hdr_len);
            free(url);
            url = NULL;
            syncrt_odata_query q = { 0 };
            if (!body || syncrt_odata_url(&url, e->service_root, f->target_set, &q, &err) != SYNCRT_OK) {
                free(body);
                done_release(w, it, now_ms() + 1000);
                goto out;
            }
            int fr = fo_call(w, &r, &st, &ra, "POST", url, body, NULL, 0, &err);
            free(body);
            if (fr < 0) {
                done_release(w, it, now_ms());
                goto out;
            }
            if (st == SYNCRT_OK && r.status >= 200 && r.status < 300)
                c360_done(w, f, it, acct, 0, "created", NULL);
            else {
                snprintf(what, sizeof what, "POST %s", label);
                c360_failed(w, f, it, st, &r, ra, 0, what, &err, auth_failed);
            }
            syncrt_http_response_clear(&r);
            goto out;
        }
        if (st != SYNCRT_OK || r.status != 200) {
            c360_failed(w, f, it, st, &r, ra, 1, what, &err, auth_failed);
            syncrt_http_response_clear(&r);
            goto out;
        }
        /* exists: what differs among the fields an update may send */
        char etag[300] = "", names[1024] = "";
        const char *eh = syncrt_http_response_header(&r, "ETag");
        c360_val ev = c360_get(r.body, r.body_len, "@odata.etag");
        snprintf(etag, sizeof etag, "%s", eh ? eh : ev.s ? ev.s : "");
        free(ev.s);
        size_t cap = it->hdr_len + 8 * nf + 16, bl = 1, nn = 0, np = 0;
        char *body = malloc(cap);
        if (!body) {
            syncrt_http_response_clear(&r);
            done_release(w, it, now_ms() + 1000);
            goto out;
        }
        body[0] = '{';
        for (size_t i = 0; i < nf; i++) {
            c360_val m = c360_get(it->hdr, it->hdr_len, fields[i]);
            c360_val o = c360_get(r.body, r.body_len, fields[i]);
            const char *sp;
            size_t sn;
            if (c360_differs(&m, &o) && member_span(it->hdr, it->hdr_len, fields[i], &sp, &sn) == 0) {
                /* the mapped value's own text: a decimal keeps every digit */
                bl += (size_t)snprintf(body + bl, cap - bl, "%s\"%s\":%.*s", np++ ? "," : "", fields[i],
                                       (int)sn, sp);
                nn += (size_t)snprintf(names + nn, nn < sizeof names ? sizeof names - nn : 0, "%s%s",
                                       nn ? "," : "", fields[i]);
            }
            free(m.s);
            free(o.s);
        }
        snprintf(body + bl, cap - bl, "}");
        syncrt_http_response_clear(&r);
        if (c360_link_back(w, f, it, acct, auth_failed) < 0) {
            free(body);
            goto out;
        }
        if (np == 0) {
            free(body);
            c360_done(w, f, it, acct, 1, linked ? "F&O already has these values (found by dedup)"
                                                : "F&O already has these values", NULL);
            goto out;
        }
        free(url);
        url = NULL;
        if (c360_key_url(&url, e, f, it, acct, NULL, 0, 0, &err) != SYNCRT_OK) {
            free(body);
            done_release(w, it, now_ms() + 1000);
            goto out;
        }
        int fr = fo_call(w, &r, &st, &ra, "PATCH", url, body, etag[0] ? etag : NULL, 1, &err);
        free(body);
        if (fr < 0) {
            done_release(w, it, now_ms());
            goto out;
        }
        snprintf(what, sizeof what, "PATCH %s {%s}", label, names);
        if (st == SYNCRT_OK && r.status == 412 && ++conflicts < 3) {
            /* changed in F&O since the probe: read it again and compare afresh */
            syncrt_http_response_clear(&r);
            FCOUNT(e, f, retried, 1);
            outcome_log(w, SYNCRT_LOG_INFO, "retry", f, it, "why", "HTTP 412: the F&O record changed since "
                        "it was read (ETag); probing again", "fields", names);
            continue;
        }
        if (st == SYNCRT_OK && r.status >= 200 && r.status < 300)
            c360_done(w, f, it, acct, 0, linked ? "PATCH (found by dedup)" : "PATCH", names);
        else if (st == SYNCRT_OK && r.status == 412)
            c360_retry(w, f, it, SYNCRT_EHTTP, NULL, "the F&O record changed between read and write 3 times (HTTP 412)");
        else
            c360_failed(w, f, it, st, &r, ra, 1, what, &err, auth_failed);
        syncrt_http_response_clear(&r);
        goto out;
    }
out:
    free(url);
    free(acct);
    json_decref(hold);
}

/* ------------------------------------------------------------------ order states */

/* How far a Clarity order state is along its life: 0 open (Pending, OnHold), 1 accepted
 * (Confirmed, Backordered, Processing), 2 shipped, 3 Completed; 4 Void; -1 unknown. */
static int state_rank(const char *st)
{
    static const struct { const char *name; int rank; } ranks[] = {
        { "Pending", 0 },   { "OnHold", 0 },      { "Confirmed", 1 },      { "Backordered", 1 },
        { "Processing", 1 }, { "Shipped", 2 },    { "DropShipped", 2 },    { "ReadyForPickup", 2 },
        { "Completed", 3 }, { "Void", 4 },
    };
    for (size_t i = 0; st && i < sizeof ranks / sizeof *ranks; i++)
        if (!strcmp(ranks[i].name, st))
            return ranks[i].rank;
    return st ? -1 : 0;
}

/* One call to Clarity's admin API: *r holds the answer (the caller clears it). */
static syncrt_status state_call(syncrt_engine_worker *w, syncrt_http_response *r, const char *method,
                                const char *route, syncrt_error *err)
{
    static const char *const hdrs[] = { "Content-Type: application/json", "Accept: application/json", NULL };
    const char *root = w->e->cfg->clarity_root;
    size_t rl = strlen(root);
    char url[1024];
    snprintf(url, sizeof url, "%.*s/%s", (int)(rl && root[rl - 1] == '/' ? rl - 1 : rl), root, route);
    syncrt_http_request req;
    memset(&req, 0, sizeof req);
    req.method = method;
    req.url = url;
    req.headers = hdrs;
    if (strcmp(method, "GET") != 0) {
        req.body = "{}";
        req.body_len = 2;
    }
    req.resend_safe = 1;                 /* reading, or moving to a state: both idempotent */
    COUNT(w->e, batches, 1);
    return syncrt_auth_do(w->clarity, r, &req, err);
}

/* Settles the record after a state call that did not succeed: credentials (pause), a
 * refusal (dead letter with Clarity's message), or a transient failure (retried). */
static void state_failed(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, syncrt_status st,
                         const syncrt_http_response *r, const char *what, const syncrt_error *err,
                         int *auth_failed)
{
    syncrt_engine *e = w->e;
    long status = st == SYNCRT_OK ? r->status : 0;
    if (st == SYNCRT_EAUTH || status == 401 || status == 403) {
        *auth_failed = 1;
        clarity_refused(w, f, st, err->message);
        done_release(w, it, now_ms() + e->cfg->auth_pause_ms);
        return;
    }
    char d[900];
    syncrt_outcome o;
    memset(&o, 0, sizeof o);
    o.attempt.idempotent = 1;
    o.attempt.request_sent = 1;
    o.retry_after_ms = -1;
    if (st != SYNCRT_OK) {
        o.attempt.transport = st == SYNCRT_EPARSE ? SYNCRT_EHTTP : st;
        snprintf(d, sizeof d, "%s: %s", what, err->message[0] ? err->message : syncrt_strerror(st));
    } else {
        w->contacted = 1;
        syncrt_clarity_error ce;
        memset(&ce, 0, sizeof ce);
        int parsed = syncrt_clarity_error_parse(&ce, r->body, r->body_len) == SYNCRT_OK;
        o.attempt.transport = SYNCRT_OK;
        o.attempt.http_status = r->status >= 200 && r->status < 300 ? 400 : r->status;
        snprintf(d, sizeof d, "%s: HTTP %ld: %.600s", what, r->status,
                 parsed ? ce.message : r->body ? r->body : "");
        if (r->status == 404)
            o.reason = "validation: no such Clarity order (not retried)";
        else if (o.attempt.http_status == 400 || o.attempt.http_status == 422)
            o.reason = "business rule: refused by Clarity (not retried)";
    }
    o.error_text = d;
    done_failed(w, f, it, &o, auth_failed);
}

/* One Clarity order moved to the state the map computed (StatusKey): GET the order, and when
 * it is not there yet, PATCH Ordering/SalesOrder/{Action}/{ID} (Confirm, Ship, Complete after
 * a Ship when the order was not shipped yet, Void).  An order already in that state or past it
 * (Completed is past Shipped is past Confirmed) is a success without a write: the actions are
 * idempotent and a state never goes back. */
static void send_state(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, int *auth_failed)
{
    syncrt_engine *e = w->e;
    syncrt_error err;
    memset(&err, 0, sizeof err);
    syncrt_status st = clarity_auth(w, &err);
    if (st != SYNCRT_OK) {
        *auth_failed = 1;
        pause_flow(w, f, err.message[0] ? err.message : syncrt_strerror(st));
        done_release(w, it, now_ms() + e->cfg->auth_pause_ms);
        return;
    }
    json_t *rec = json_loadb(it->hdr, it->hdr_len, 0, NULL);
    const char *want = json_string_value(json_object_get(rec, "StatusKey"));
    int target = state_rank(want);
    if (!want || target < 1) {
        json_decref(rec);
        done_dead(w, f, it, "validation: no order state the engine can reach", "StatusKey");
        return;
    }
    char wanted[32];
    snprintf(wanted, sizeof wanted, "%s", want);
    json_decref(rec);
    char route[160], what[200];
    snprintf(route, sizeof route, "Ordering/SalesOrder/ID/%s", it->target_key);
    snprintf(what, sizeof what, "GET %s", route);
    syncrt_http_response r;
    memset(&r, 0, sizeof r);
    st = state_call(w, &r, "GET", route, &err);
    if (st != SYNCRT_OK || r.status != 200) {
        state_failed(w, f, it, st, &r, what, &err, auth_failed);
        syncrt_http_response_clear(&r);
        return;
    }
    w->contacted = 1;
    json_t *doc = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
    syncrt_http_response_clear(&r);
    char cur[32] = "";
    const char *cs = json_string_value(json_object_get(doc, "StatusKey"));
    if (cs)
        snprintf(cur, sizeof cur, "%s", cs);
    json_decref(doc);
    int have = state_rank(cur[0] ? cur : NULL);
    if (!strcmp(cur, wanted) || (target < 4 && have >= target && have < 4)) {
        done_delivered(w, f, it, "already in effect");
        return;
    }
    if (have == 4 || (have == 3 && target == 4)) {
        char d[200];
        snprintf(d, sizeof d, "the Clarity order %s is %s: it cannot become %s", it->target_key, cur, wanted);
        done_dead(w, f, it, "business rule: the Clarity order's state is final", d);
        return;
    }
    const char *acts[2];
    int nact = 0;
    if (target == 1)
        acts[nact++] = "Confirm";
    else if (target == 4)
        acts[nact++] = "Void";
    else {
        if (have < 2)
            acts[nact++] = "Ship";
        if (target == 3)
            acts[nact++] = "Complete";
    }
    for (int k = 0; k < nact; k++) {
        snprintf(route, sizeof route, "Ordering/SalesOrder/%s/%s", acts[k], it->target_key);
        snprintf(what, sizeof what, "PATCH %s", route);
        memset(&r, 0, sizeof r);
        st = state_call(w, &r, "PATCH", route, &err);
        syncrt_clarity_action act;
        memset(&act, 0, sizeof act);
        if (st != SYNCRT_OK || syncrt_clarity_action_parse(&act, r.status, r.body, r.body_len) != SYNCRT_OK ||
            !act.succeeded) {
            state_failed(w, f, it, st, &r, what, &err, auth_failed);
            syncrt_http_response_clear(&r);
            return;
        }
        syncrt_http_response_clear(&r);
    }
    done_delivered(w, f, it, nact == 2 ? "Ship, Complete" : acts[0]);
}

/* ------------------------------------------------------------------ a step */

syncrt_status syncrt_engine_step(syncrt_engine_worker *w, const syncrt_flow_desc *f,
                                 size_t *handled, int64_t *wait_ms, syncrt_error *err)
{
    syncrt_engine *e = w->e;
    const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
    int fi = flow_index(e, f);
    *handled = 0;
    *wait_ms = paused_wait(e, fi);
    if (*wait_ms > 0)
        return SYNCRT_EEMPTY;
    syncrt_inbox_record *recs = NULL;
    size_t nrec = 0;
    syncrt_status st = syncrt_store_claim(w->store, &recs, &nrec, f->name, w->name, e->cfg->lease_ms,
                                          (size_t)(cf ? cf->batch_records : 50), err);
    if (st != SYNCRT_OK)
        return st;
    *handled = nrec;
    item *its = calloc(nrec, sizeof *its);
    item **ready = calloc(nrec, sizeof *ready);
    if (!its || !ready) {
        for (size_t i = 0; i < nrec; i++)
            syncrt_store_release(w->store, recs[i].id, w->name, now_ms(), NULL);
        free(its);
        free(ready);
        syncrt_store_records_free(recs, nrec);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    int auth_failed = 0;
    int64_t claimed_at = now_ms();
    w->contacted = 0;
    for (size_t i = 0; i < nrec; i++) {
        its[i].rec = &recs[i];
        prepare(w, f, &its[i]);
    }
    /* one record per target key in a batch: a second one waits (and is then skipped) */
    for (size_t i = 0; i < nrec; i++) {
        if (its[i].state != IT_READY)
            continue;
        for (size_t j = 0; j < i; j++)
            if (its[j].rec && its[j].target_key && its[j].state == IT_READY &&
                strcmp(its[j].target_key, its[i].target_key) == 0) {
                done_release(w, &its[i], now_ms() + 500);
                break;
            }
    }
    /* Clarity targets: ref placeholders resolved for the whole batch first */
    if (f->target == SYNCRT_SYS_CLARITY && !auth_failed && !stopping(e))
        resolve_refs(w, f, its, nrec, &auth_failed);
    /* a bulk write: the ready records in one request */
    if (bulk_flow(f) && !auth_failed && !stopping(e)) {
        size_t nb = 0;
        for (size_t k = 0; k < nrec; k++)
            if (its[k].state == IT_READY)
                ready[nb++] = &its[k];
        send_bulk(w, f, ready, nb, &auth_failed);
    }
    /* Clarity targets: one idempotent Upsert per record */
    for (size_t i = 0; i < nrec && !auth_failed && f->target == SYNCRT_SYS_CLARITY && !bulk_flow(f);
         i++) {
        if (its[i].state != IT_READY)
            continue;
        if (stopping(e))
            break;
        if (state_flow(f))
            send_state(w, f, &its[i], &auth_failed);
        else
            send_upsert(w, f, &its[i], &auth_failed);
    }
    /* every attempt after the first may follow a send whose answer was lost: probe */
    for (size_t i = 0; i < nrec && !auth_failed && f->target == SYNCRT_SYS_D365 && !c360_flow(f); i++) {
        if (its[i].state != IT_READY || its[i].rec->attempts <= 1)
            continue;
        int pr = probe(w, f, &its[i], &auth_failed);
        if (pr == 1)
            done_delivered(w, f, &its[i], "already present (found by key after an earlier attempt)");
        else if (pr == -2)
            break;
    }
    if (auth_failed) {
        pause_flow(w, f, "credentials refused while probing");
    }
    /* customer 360: record by record, probed first (send_c360) */
    for (size_t i = 0; i < nrec && !auth_failed && c360_flow(f); i++) {
        if (its[i].state != IT_READY)
            continue;
        if (stopping(e))
            break;
        send_c360(w, f, &its[i], &auth_failed);
        if (auth_failed == 1)       /* refused while probing after an unknown outcome */
            pause_flow(w, f, "credentials refused while probing");
    }
    /* the rest in $batch requests of at most max_batch_ops operations */
    size_t i = 0;
    while (i < nrec && !auth_failed && f->target == SYNCRT_SYS_D365 && !c360_flow(f)) {
        size_t n = 0, ops = 0;
        while (i < nrec) {
            item *it = &its[i];
            if (it->state != IT_READY) {
                i++;
                continue;
            }
            size_t lines = 0;
            if (it->lines)
                for (size_t k = 0; k < it->lines_len; k++)
                    lines += it->lines[k] == '{';   /* a bound, for sizing only */
            size_t need = 1 + lines + (handoff_flow(e, f) != NULL);   /* + the read back */
            if (n > 0 && ops + need > (size_t)e->cfg->d365_max_batch_ops)
                break;
            ready[n++] = it;
            ops += need;
            i++;
        }
        if (n == 0)
            break;
        if (stopping(e)) {
            for (size_t k = 0; k < n; k++)
                done_release(w, ready[k], now_ms());
            continue;
        }
        if (now_ms() - claimed_at > e->cfg->lease_ms / 2) {
            /* waited long (throttling): renew the leases; a record whose lease was taken
             * over belongs to another worker now */
            size_t m = 0;
            for (size_t k = 0; k < n; k++) {
                if (syncrt_store_renew(w->store, ready[k]->rec->id, w->name, e->cfg->lease_ms,
                                       NULL) == SYNCRT_OK)
                    ready[m++] = ready[k];
                else
                    ready[k]->state = IT_DONE;
            }
            n = m;
            claimed_at = now_ms();
            if (n == 0)
                continue;
        }
        send_batch(w, f, ready, n, &auth_failed);
    }
    int all_ok = !auth_failed;
    for (size_t k = 0; k < nrec; k++) {
        if (its[k].state == IT_READY)
            done_release(w, &its[k], auth_failed ? now_ms() + e->cfg->auth_pause_ms : now_ms());
        item_clear(&its[k]);
    }
    if (all_ok && w->contacted)
        resumed(w, f);
    free(its);
    free(ready);
    syncrt_store_records_free(recs, nrec);
    return nrec ? SYNCRT_OK : SYNCRT_EEMPTY;
}

/* ------------------------------------------------------------------ webhooks */

static const char *route_event(void *ctx, const char *type)
{
    syncrt_engine *e = ctx;
    for (size_t i = 0; i < e->o.nflows; i++) {
        const syncrt_flow_desc *f = e->o.flows[i];
        const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
        if (f->webhook_event && cf && flow_enabled(e, f) && cf->webhook && !strcmp(f->webhook_event, type))
            return f->name;
    }
    return NULL;
}

static void webhook_log(void *ctx, const syncrt_webhook_event *ev)
{
    syncrt_engine *e = ctx;
    char fl[768] = "";
    kvf(fl, sizeof fl, "status", "%u", ev->status);
    kv(fl, sizeof fl, "event_id", ev->event_id ? ev->event_id : "");
    kv(fl, sizeof fl, "type", ev->event_type ? ev->event_type : "");
    kvf(fl, sizeof fl, "new", "%d", ev->inserted);
    kv(fl, sizeof fl, "result", ev->reason);
    if (ev->inserted && ev->event_type) {
        const char *fn = route_event(e, ev->event_type);
        FCOUNT(e, fn ? syncrt_engine_flow_builtin(e, fn) : NULL, enqueued, 1);
    }
    elog(e, ev->status >= 400 ? SYNCRT_LOG_WARN : SYNCRT_LOG_INFO, "webhook", fl);
}

syncrt_status syncrt_engine_webhook_start(syncrt_engine *e, syncrt_webhook **out,
                                          syncrt_store **store_out, syncrt_error *err)
{
    const syncrt_config *c = e->cfg;
    *out = NULL;
    *store_out = NULL;
    char *secret = NULL;
    syncrt_status st = syncrt_config_secret(&secret, c->webhook_secret, err);
    if (st != SYNCRT_OK)
        return st;
    st = syncrt_store_open(store_out, c->store, NULL, err);
    if (st != SYNCRT_OK) {
        free(secret);
        return st;
    }
    syncrt_webhook_options wo = { 0 };
    wo.port = c->webhook_port;
    wo.bind_address = c->webhook_bind;
    wo.path = c->webhook_path;
    wo.secret = secret;
    wo.max_body = c->webhook_max_body;
    wo.store = *store_out;
    wo.route = route_event;
    wo.route_ctx = e;
    wo.log = webhook_log;
    wo.log_ctx = e;
    st = syncrt_webhook_start(out, &wo, err);
    memset(secret, 0, strlen(secret));
    free(secret);
    if (st != SYNCRT_OK) {
        syncrt_store_close(*store_out);
        *store_out = NULL;
    }
    return st;
}
