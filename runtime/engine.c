/* engine.c - flow execution: intake (poll, webhook routing), workers that map and deliver
 * records to F&O in $batch changesets, and the outcome of every record per DESIGN.md's
 * reliability model (see engine.h for the rules, docs/operator.md for what they look like). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "syncrt/auth.h"
#include "syncrt/clarity.h"
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
                                    "(it runs Clarity -> F&O creates and F&O -> Clarity upserts "
                                    "by CustomKey)",
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

#define COUNT(e, field, k) do { pthread_mutex_lock(&(e)->mu); (e)->n.field += (k); \
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

int syncrt_engine_runs(const syncrt_flow_desc *f)
{
    if (!f || !f->run || !f->target_set || !f->idempotency_field)
        return 0;
    if (f->source == SYNCRT_SYS_CLARITY && f->target == SYNCRT_SYS_D365)
        return f->write == SYNCRT_WRITE_CREATE && f->source_id_field != NULL;
    if (f->group_by[0] && f->source != SYNCRT_SYS_D365)
        return 0;   /* rows are grouped only by the F&O poll */
    return f->source == SYNCRT_SYS_D365 && f->target == SYNCRT_SYS_CLARITY &&
           f->poll_route && f->target_route &&
           f->source_key_fields[0] && f->key_fields[0] && !f->child_set &&
           ((f->write == SYNCRT_WRITE_UPSERT && !strcmp(f->key_fields[0], "CustomKey")) ||
            state_flow(f));
}

static int flow_enabled(const syncrt_engine *e, const syncrt_flow_desc *f)
{
    const syncrt_config_flow *cf = syncrt_config_flow_get(e->cfg, f->name);
    return cf && cf->enabled && syncrt_engine_runs(f);
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

/* Waits for the F&O gate (Retry-After, concurrency, circuit breaker).  -1 when stopping. */
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
    pthread_mutex_unlock(&e->mu);
    if (*retry_after >= 0) {
        char f[256] = "";
        kvf(f, sizeof f, "status", "%ld", r->status);
        kvf(f, sizeof f, "retry_after_ms", "%lld", (long long)*retry_after);
        kvf(f, sizeof f, "at_ms", "%lld", (long long)t);
        kvf(f, sizeof f, "until_ms", "%lld", (long long)(t + *retry_after));
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

static void resumed(syncrt_engine_worker *w, const syncrt_flow_desc *f)
{
    syncrt_engine *e = w->e;
    int fi = flow_index(e, f);
    pthread_mutex_lock(&e->mu);
    int was = fi >= 0 && e->paused[fi];
    if (was)
        e->paused[fi] = 0;
    pthread_mutex_unlock(&e->mu);
    if (!was)
        return;
    char fl[128] = "", ck[160];
    kv(fl, sizeof fl, "flow", f->name);
    elog(e, SYNCRT_LOG_INFO, "flow_resumed", fl);
    snprintf(ck, sizeof ck, "%s#paused", f->name);
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
    p->grp = p->gcmp = NULL;
    p->rh = NULL;
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

/* A row of a `group by` poll: joined to the group before it when its group values equal
 * that group's, else that group is flushed and this row starts the next one. */
static int poll_group_row(poll_ctx *p, const char *text, size_t len)
{
    json_t *row = json_loadb(text, len, 0, NULL);
    char *cmp = NULL, show[200] = "";
    size_t cn = 0, sn = 0;
    int fail = !row;
    for (int k = 0; !fail && k < SYNCRT_FLOW_MAX_KEYS && p->f->group_by[k]; k++) {
        json_t *v = json_object_get(row, p->f->group_by[k]);
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
        if (row) {
            p->st = SYNCRT_ENOMEM;
            return 1;
        }
        return 0;   /* not a JSON object: nothing to group it by */
    }
    p->fo_rows++;
    if (p->grp_rows && p->gcmp && strcmp(p->gcmp, cmp) == 0) {
        free(cmp);
        if (grp_add_row(p, text, len) < 0) {
            p->st = SYNCRT_ENOMEM;
            return 1;
        }
        return 0;
    }
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
    json_t *row = json_loadb(text, len, 0, NULL);
    char keys[200] = "", hash[65];
    size_t kn = 0;
    for (int k = 0; k < SYNCRT_FLOW_MAX_KEYS && p->f->source_key_fields[k]; k++) {
        json_t *v = json_object_get(row, p->f->source_key_fields[k]);
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
    json_decref(row);
    sha256_hex(hash, text, len);
    char dk[512], sk[300];
    snprintf(dk, sizeof dk, "poll:%s:%s:%s", p->f->poll_route, keys, hash);
    snprintf(sk, sizeof sk, "%s:%s", p->f->poll_route, keys);
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
    if (f->group_by[0]) {
        kv(fl, sizeof fl, "orderby", orderby);
        kvf(fl, sizeof fl, "rows", "%zu", p->fo_rows);
        kvf(fl, sizeof fl, "groups", "%zu", p->groups);
    } else {
        kvf(fl, sizeof fl, "rows", "%zu", p->rows);
    }
    kvf(fl, sizeof fl, "new", "%zu", p->inserted);
    if (st != SYNCRT_OK) {
        kv(fl, sizeof fl, "error", err && err->message[0] ? err->message : syncrt_strerror(st));
        if (st == SYNCRT_EAUTH) {
            syncrt_auth_free(w->d365);
            w->d365 = NULL;
        }
        elog(e, SYNCRT_LOG_ERROR, "poll_failed", fl);
    } else {
        kv(fl, sizeof fl, "checkpoint", start);
        elog(e, SYNCRT_LOG_INFO, "poll", fl);
    }
    *enqueued = p->inserted;
    COUNT(e, enqueued, p->inserted);
    free(p);
    return st;
}

syncrt_status syncrt_engine_poll(syncrt_engine_worker *w, const syncrt_flow_desc *f,
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
    kvf(fl, sizeof fl, "new", "%zu", p->inserted);
    if (st != SYNCRT_OK) {
        kv(fl, sizeof fl, "error", err && err->message[0] ? err->message : syncrt_strerror(st));
        if (st == SYNCRT_EAUTH) {
            syncrt_auth_free(w->clarity);
            w->clarity = NULL;
        }
        elog(e, SYNCRT_LOG_ERROR, "poll_failed", fl);
    } else {
        kv(fl, sizeof fl, "checkpoint", start);
        elog(e, SYNCRT_LOG_INFO, "poll", fl);
    }
    *enqueued = p->inserted;
    COUNT(e, enqueued, p->inserted);
    free(p);
    return st;
}

/* ------------------------------------------------------------------ one record */

typedef enum { IT_READY, IT_DONE } item_state;

typedef struct {
    syncrt_inbox_record *rec;
    item_state state;
    char *out;                  /* the mapped JSON */
    size_t out_len;
    const char *hdr; size_t hdr_len;
    const char *lines; size_t lines_len;
    char *keyv[SYNCRT_FLOW_MAX_KEYS];
    char *target_key;           /* the idempotency field's value */
    char hash[65];
    int content_id;             /* of the header in the batch */
    size_t first_op, nops;
} item;

static void item_clear(item *it)
{
    free(it->out);
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

static void done_delivered(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it,
                           const char *how)
{
    syncrt_settler s = settler_of(w, f);
    syncrt_outcome o = success_outcome(f, it, 0);
    syncrt_settled sd;
    syncrt_error e2;
    syncrt_status st = syncrt_settle(&sd, &s, it->rec, &o, &e2);
    it->state = IT_DONE;
    if (st != SYNCRT_OK) {
        outcome_log(w, SYNCRT_LOG_WARN, "complete_failed", f, it, "error", e2.message, NULL, NULL);
        return;
    }
    COUNT(w->e, delivered, 1);
    outcome_log(w, SYNCRT_LOG_INFO, "delivered", f, it, "how", how, NULL, NULL);
}

static void done_skipped(syncrt_engine_worker *w, const syncrt_flow_desc *f, item *it, const char *why)
{
    syncrt_settler s = settler_of(w, f);
    syncrt_outcome o = success_outcome(f, it, 1);
    syncrt_settled sd;
    syncrt_status st = syncrt_settle(&sd, &s, it->rec, &o, NULL);
    it->state = IT_DONE;
    if (st == SYNCRT_OK) {
        COUNT(w->e, skipped, 1);
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
        COUNT(w->e, retried, 1);
        outcome_log(w, sd.attempt_burned ? SYNCRT_LOG_WARN : SYNCRT_LOG_INFO, "retry", f, it, "in_ms", in,
                    sd.attempt_burned ? "error" : "why", sd.text);
    } else if (sd.action == SYNCRT_ACTION_DEAD_LETTER) {
        if (it->hash[0] && strncmp(sd.reason, "retries exhausted", 17) != 0) {
            char scope[160], val[96];
            dead_scope(scope, sizeof scope, f);
            snprintf(val, sizeof val, "%s %lld", it->hash, (long long)it->rec->id);
            syncrt_store_hash_set(w->store, scope, rec_label(it), val, NULL);
        }
        COUNT(w->e, dead, 1);
        outcome_log(w, SYNCRT_LOG_ERROR, "dead_lettered", f, it, "reason", sd.reason, "detail", sd.text);
    } else if (sd.action == SYNCRT_ACTION_DONE) {
        COUNT(w->e, delivered, 1);
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
    q.select = f->idempotency_field;
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

/* Sends items[0..n) (all IT_READY) in one $batch, one changeset each, and resolves them. */
static void send_batch(syncrt_engine_worker *w, const syncrt_flow_desc *f, item **its, size_t n,
                       int *auth_failed)
{
    syncrt_engine *e = w->e;
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
    json_t *rec = json_loadb(it->hdr, it->hdr_len, JSON_DECODE_ANY, NULL);
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
        char why[300];
        snprintf(why, sizeof why, "Clarity refused the credentials (%s)",
                 st == SYNCRT_OK ? "HTTP 401/403" : err.message);
        syncrt_auth_free(w->clarity);
        w->clarity = NULL;
        pause_flow(w, f, why);
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
        char why[300];
        snprintf(why, sizeof why, "Clarity refused the credentials (%s)",
                 st == SYNCRT_OK ? "HTTP 401/403" : err->message);
        syncrt_auth_free(w->clarity);
        w->clarity = NULL;
        pause_flow(w, f, why);
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
    /* Clarity targets: one idempotent Upsert per record */
    for (size_t i = 0; i < nrec && !auth_failed && f->target == SYNCRT_SYS_CLARITY; i++) {
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
    for (size_t i = 0; i < nrec && !auth_failed && f->target == SYNCRT_SYS_D365; i++) {
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
    /* the rest in $batch requests of at most max_batch_ops operations */
    size_t i = 0;
    while (i < nrec && !auth_failed && f->target == SYNCRT_SYS_D365) {
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
            size_t need = 1 + lines;
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
    if (ev->inserted)
        COUNT(e, enqueued, 1);
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
