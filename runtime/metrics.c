/* metrics.c - the metrics and status server of syncrt/metrics.h on libmicrohttpd.  One
 * internal polling thread answers every request, so the server's store connection is only
 * ever used by that thread.  Each request gathers a fresh view (store reads, engine counters)
 * and renders it as Prometheus text, HTML or JSON. */
#include "syncrt/metrics.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "syncrt/isotime.h"
#include "syncrt/store.h"

#define DLQ_SHOWN 10
#define HOUR_MS (3600 * (int64_t)1000)

struct syncrt_metrics {
    struct MHD_Daemon *daemon;
    syncrt_metrics_options o;
    syncrt_store *store;
    char *bind;
    unsigned port;
};

/* One flow as a request sees it. */
typedef struct {
    const syncrt_flow_desc *f;
    int enabled, polls;             /* polls: the configuration has it poll a source */
    syncrt_store_queue q;
    syncrt_engine_flow_stats fs;    /* zero without an engine */
    char *paused;                   /* "<ISO> <reason>" from the store, or NULL */
    syncrt_store_outcomes hour;     /* status pages only */
    syncrt_dead_letter *dl;         /* status pages only: newest first */
    size_t ndl;
} flow_view;

typedef struct {
    int64_t now;
    int store_ok;
    syncrt_error store_err;
    flow_view *fv;
    size_t n;
    syncrt_engine_counters ec;
    syncrt_engine_http_stats hs;
} view;

static int64_t now_ms(const syncrt_metrics *m)
{
    return m->o.clock ? m->o.clock(m->o.clock_ctx) : syncrt_clock_real(NULL);
}

static void view_free(view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->fv[i].paused);
        syncrt_store_dead_letters_free(v->fv[i].dl, v->fv[i].ndl);
    }
    free(v->fv);
}

/* Reads the store and the engine; detail adds the last hour and the dead letters.  A store
 * that does not answer leaves store_ok 0 (the flows are then the enabled ones, without store
 * figures).  -1 only when out of memory. */
static int view_get(syncrt_metrics *m, view *v, int detail)
{
    memset(v, 0, sizeof *v);
    v->now = now_ms(m);
    v->store_ok = 1;
    syncrt_error_clear(&v->store_err);
    v->fv = calloc(m->o.nflows ? m->o.nflows : 1, sizeof *v->fv);
    if (!v->fv)
        return -1;
    if (m->o.engine) {
        syncrt_engine_counters_get(m->o.engine, &v->ec);
        syncrt_engine_http_stats_get(m->o.engine, &v->hs);
    }
    for (size_t i = 0; i < m->o.nflows; i++) {
        const syncrt_flow_desc *f = m->o.flows[i];
        const syncrt_config_flow *cf = syncrt_config_flow_get(m->o.config, f->name);
        flow_view *w = &v->fv[v->n];
        memset(w, 0, sizeof *w);
        w->f = f;
        w->enabled = cf && cf->enabled;
        w->polls = w->enabled && cf->poll && f->poll_route != NULL;
        if (v->store_ok &&
            syncrt_store_queue_get(m->store, &w->q, f->name, &v->store_err) != SYNCRT_OK)
            v->store_ok = 0;
        if (!w->enabled && (!v->store_ok || w->q.pending + w->q.leased + w->q.dead_letters == 0))
            continue;   /* built in, off, nothing waiting: not shown */
        if (v->store_ok) {
            char ck[200];
            snprintf(ck, sizeof ck, "%s#paused", f->name);
            if (syncrt_store_checkpoint_get(m->store, &w->paused, ck, &v->store_err) != SYNCRT_OK)
                v->store_ok = 0;
            if (w->paused && !*w->paused) {
                free(w->paused);
                w->paused = NULL;
            }
        }
        if (v->store_ok && detail &&
            (syncrt_store_outcomes_since(m->store, &w->hour, f->name, v->now - HOUR_MS,
                                         &v->store_err) != SYNCRT_OK ||
             syncrt_store_dlq_latest(m->store, &w->dl, &w->ndl, f->name, DLQ_SHOWN,
                                     &v->store_err) != SYNCRT_OK))
            v->store_ok = 0;
        if (m->o.engine)
            syncrt_engine_flow_stats_get(m->o.engine, f, &w->fs);
        v->n++;
    }
    return 0;
}

/* The first enabled flow that is paused, or NULL. */
static const flow_view *first_paused(const view *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->fv[i].enabled && v->fv[i].paused)
            return &v->fv[i];
    return NULL;
}

/* Splits a pause value "<ISO> <reason>" (the reason may be missing). */
static void pause_parts(const char *pz, char *since, size_t size, const char **reason)
{
    const char *sp = strchr(pz, ' ');
    size_t n = sp ? (size_t)(sp - pz) : strlen(pz);
    snprintf(since, size, "%.*s", (int)(n < size ? n : size - 1), pz);
    *reason = sp ? sp + 1 : "";
}

static double age_s(const view *v, int64_t at)
{
    return at > 0 && v->now > at ? (double)(v->now - at) / 1000.0 : 0.0;
}

/* ------------------------------------------------------------------ /metrics */

/* A label value: backslash, double quote and line feed escaped. */
static void prom_label(syncrt_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            syncrt_buf_adds(b, "\\\\");
        else if (*s == '"')
            syncrt_buf_adds(b, "\\\"");
        else if (*s == '\n')
            syncrt_buf_adds(b, "\\n");
        else
            syncrt_buf_add(b, s, 1);
    }
}

static void prom_family(syncrt_buf *b, const char *name, const char *type, const char *help)
{
    syncrt_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{flow="<flow>"} value */
static void prom_flow(syncrt_buf *b, const char *name, const char *flow, const char *more,
                      const char *value)
{
    syncrt_buf_printf(b, "%s{flow=\"", name);
    prom_label(b, flow);
    syncrt_buf_printf(b, "\"%s} %s\n", more ? more : "", value);
}

static const char *u64(char *buf, uint64_t n)
{
    snprintf(buf, 24, "%llu", (unsigned long long)n);
    return buf;
}

static const char *secs(char *buf, double s)
{
    snprintf(buf, 32, "%.3f", s);
    return buf;
}

typedef enum { F_ENQ, F_DELIV, F_SKIP, F_RETRY, F_DEAD, F_POLLS, F_POLLERR } flow_counter;

static uint64_t flow_count(const flow_view *w, flow_counter c)
{
    switch (c) {
    case F_ENQ: return w->fs.n.enqueued;
    case F_DELIV: return w->fs.n.delivered;
    case F_SKIP: return w->fs.n.skipped;
    case F_RETRY: return w->fs.n.retried;
    case F_DEAD: return w->fs.n.dead;
    case F_POLLS: return w->fs.polls;
    case F_POLLERR: return w->fs.poll_errors;
    }
    return 0;
}

static char *render_metrics(syncrt_metrics *m, const view *v)
{
    static const struct { const char *name; flow_counter c; const char *help; } counters[] = {
        { "syncrt_records_enqueued_total", F_ENQ,
          "Records written to the flow's inbox (new dedup keys) since the engine started." },
        { "syncrt_records_delivered_total", F_DELIV,
          "Records delivered to the target since the engine started." },
        { "syncrt_records_skipped_total", F_SKIP,
          "Records settled without a write because their mapped form was unchanged." },
        { "syncrt_records_retried_total", F_RETRY,
          "Record attempts scheduled for a retry since the engine started." },
        { "syncrt_records_dead_lettered_total", F_DEAD,
          "Records moved to the dead-letter queue since the engine started." },
        { "syncrt_polls_total", F_POLLS, "Polls of the flow's source since the engine started." },
        { "syncrt_poll_errors_total", F_POLLERR, "Polls that failed since the engine started." },
    };
    static const char *const peers[SYNCRT_PEER_COUNT] = { "d365", "clarity", "token", "other" };
    static const char *const classes[6] = { "error", "1xx", "2xx", "3xx", "4xx", "5xx" };
    syncrt_buf b = { 0 };
    char n1[32], lab[96];
    size_t i;

    prom_family(&b, "syncrt_build_info", "gauge",
                "Build information: runtime version and SYNCRT_ABI, always 1.");
    syncrt_buf_printf(&b, "syncrt_build_info{version=\"%s\",abi=\"%d\"} 1\n", SYNCRT_VERSION,
                      SYNCRT_ABI);
    prom_family(&b, "syncrt_process_start_time_seconds", "gauge",
                "Start time of the process since the Unix epoch in seconds.");
    syncrt_buf_printf(&b, "syncrt_process_start_time_seconds %s\n",
                      secs(n1, (double)m->o.started_at / 1000.0));
    prom_family(&b, "syncrt_store_up", "gauge",
                "1 when the state store answered this scrape, else 0 (no store figures then).");
    syncrt_buf_printf(&b, "syncrt_store_up %d\n", v->store_ok);
    prom_family(&b, "syncrt_flow_info", "gauge",
                "The flows shown, with the .map version each was generated from, always 1.");
    for (i = 0; i < v->n; i++) {
        syncrt_buf_adds(&b, "syncrt_flow_info{flow=\"");
        prom_label(&b, v->fv[i].f->name);
        syncrt_buf_adds(&b, "\",map_version=\"");
        prom_label(&b, v->fv[i].f->map_version ? v->fv[i].f->map_version : "");
        syncrt_buf_adds(&b, "\"} 1\n");
    }
    prom_family(&b, "syncrt_flow_enabled", "gauge", "1 when the configuration enables the flow.");
    for (i = 0; i < v->n; i++)
        prom_flow(&b, "syncrt_flow_enabled", v->fv[i].f->name, NULL, v->fv[i].enabled ? "1" : "0");
    if (v->store_ok) {
        prom_family(&b, "syncrt_flow_paused", "gauge",
                    "1 while the flow is paused by an authentication failure (why: /status).");
        for (i = 0; i < v->n; i++)
            prom_flow(&b, "syncrt_flow_paused", v->fv[i].f->name, NULL, v->fv[i].paused ? "1" : "0");
        prom_family(&b, "syncrt_inbox_records", "gauge",
                    "Records in the flow's inbox by state: pending (due or waiting for a retry), "
                    "leased (being worked).");
        for (i = 0; i < v->n; i++) {
            prom_flow(&b, "syncrt_inbox_records", v->fv[i].f->name, ",state=\"pending\"",
                      u64(n1, (uint64_t)v->fv[i].q.pending));
            prom_flow(&b, "syncrt_inbox_records", v->fv[i].f->name, ",state=\"leased\"",
                      u64(n1, (uint64_t)v->fv[i].q.leased));
        }
        prom_family(&b, "syncrt_dlq_records", "gauge", "Records in the dead-letter queue.");
        for (i = 0; i < v->n; i++)
            prom_flow(&b, "syncrt_dlq_records", v->fv[i].f->name, NULL,
                      u64(n1, (uint64_t)v->fv[i].q.dead_letters));
        prom_family(&b, "syncrt_oldest_pending_age_seconds", "gauge",
                    "Age of the oldest pending record (since it was received), 0 when none.");
        for (i = 0; i < v->n; i++)
            prom_flow(&b, "syncrt_oldest_pending_age_seconds", v->fv[i].f->name, NULL,
                      secs(n1, age_s(v, v->fv[i].q.oldest_pending_at)));
    }
    if (!m->o.engine)
        return syncrt_buf_take(&b);
    for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++) {
        prom_family(&b, counters[c].name, "counter", counters[c].help);
        for (i = 0; i < v->n; i++)
            if (counters[c].c < F_POLLS || v->fv[i].polls)
                prom_flow(&b, counters[c].name, v->fv[i].f->name, NULL,
                          u64(n1, flow_count(&v->fv[i], counters[c].c)));
    }
    prom_family(&b, "syncrt_last_poll_success_timestamp_seconds", "gauge",
                "When the flow's last successful poll finished, since the Unix epoch in seconds "
                "(0: none since the engine started).");
    for (i = 0; i < v->n; i++)
        if (v->fv[i].polls)
            prom_flow(&b, "syncrt_last_poll_success_timestamp_seconds", v->fv[i].f->name, NULL,
                      secs(n1, (double)v->fv[i].fs.last_poll_ok_at / 1000.0));
    prom_family(&b, "syncrt_http_requests_total", "counter",
                "Outbound HTTP requests by peer (d365 /data, clarity, token endpoint, other) and "
                "status class (error: no answer).");
    for (int p = 0; p < SYNCRT_PEER_COUNT; p++)
        for (int c = 0; c < 6; c++) {
            snprintf(lab, sizeof lab, "{peer=\"%s\",class=\"%s\"}", peers[p], classes[c]);
            syncrt_buf_printf(&b, "syncrt_http_requests_total%s %s\n", lab,
                              u64(n1, v->hs.requests[p][c]));
        }
    prom_family(&b, "syncrt_http_throttled_total", "counter",
                "Outbound HTTP requests answered 429 Too Many Requests, by peer.");
    for (int p = 0; p < SYNCRT_PEER_COUNT; p++)
        syncrt_buf_printf(&b, "syncrt_http_throttled_total{peer=\"%s\"} %s\n", peers[p],
                          u64(n1, v->hs.throttled[p]));
    prom_family(&b, "syncrt_d365_batch_requests_total", "counter",
                "OData $batch requests sent to F&O.");
    syncrt_buf_printf(&b, "syncrt_d365_batch_requests_total %s\n", u64(n1, v->hs.batches));
    prom_family(&b, "syncrt_d365_probes_total", "counter",
                "Reads by key of F&O records whose write outcome was unknown or to be checked.");
    syncrt_buf_printf(&b, "syncrt_d365_probes_total %s\n", u64(n1, v->ec.probes));
    prom_family(&b, "syncrt_auth_pauses_total", "counter",
                "Authentication failures that paused a flow since the engine started.");
    syncrt_buf_printf(&b, "syncrt_auth_pauses_total %s\n", u64(n1, v->ec.paused));
    return syncrt_buf_take(&b);
}

/* ------------------------------------------------------------------ /status.json */

static json_t *iso_or_null(int64_t ms)
{
    char t[SYNCRT_ISO_LENGTH];
    if (ms <= 0)
        return json_null();
    syncrt_iso_format(t, ms);
    return json_string(t);
}

/* json_string of any bytes: invalid UTF-8 would make jansson refuse the text. */
static json_t *str(const char *s)
{
    const char *t = s ? s : "";
    json_t *j = json_string(t);
    return j ? j : json_stringn_nocheck(t, strlen(t));
}

static char *health(const view *v, int *ok)
{
    const flow_view *p = first_paused(v);
    char *t = NULL;
    *ok = v->store_ok && !p;
    if (!v->store_ok) {
        size_t n = strlen(v->store_err.message) + 40;
        if ((t = malloc(n)))
            snprintf(t, n, "store unreadable: %s", v->store_err.message);
    } else if (p) {
        char since[SYNCRT_ISO_LENGTH];
        const char *why;
        pause_parts(p->paused, since, sizeof since, &why);
        size_t n = strlen(p->f->name) + strlen(why) + 80;
        if ((t = malloc(n)))
            snprintf(t, n, "flow %s paused since %s: %s", p->f->name, since,
                     *why ? why : "authentication failure");
    } else {
        t = strdup("ok");
    }
    return t;
}

static char *render_json(syncrt_metrics *m, const view *v)
{
    int ok;
    char *h = health(v, &ok);
    json_t *root = json_object(), *flows = json_array();
    if (!h || !root || !flows) {
        free(h);
        json_decref(root);
        json_decref(flows);
        return NULL;
    }
    json_object_set_new(root, "generated_at", iso_or_null(v->now));
    json_object_set_new(root, "started_at", iso_or_null(m->o.started_at));
    json_object_set_new(root, "healthy", json_boolean(ok));
    json_object_set_new(root, "health", str(h));
    json_object_set_new(root, "store", str(m->o.config->store));
    json_object_set_new(root, "store_readable", json_boolean(v->store_ok));
    json_object_set_new(root, "store_error", v->store_ok ? json_null() : str(v->store_err.message));
    json_object_set_new(root, "engine", json_boolean(m->o.engine != NULL));
    for (size_t i = 0; i < v->n; i++) {
        const flow_view *w = &v->fv[i];
        json_t *o = json_object();
        json_object_set_new(o, "flow", str(w->f->name));
        json_object_set_new(o, "enabled", json_boolean(w->enabled));
        json_object_set_new(o, "paused", json_boolean(w->paused != NULL));
        if (w->paused) {
            char since[SYNCRT_ISO_LENGTH];
            const char *why;
            pause_parts(w->paused, since, sizeof since, &why);
            json_object_set_new(o, "paused_since", str(since));
            json_object_set_new(o, "paused_reason", str(why));
        } else {
            json_object_set_new(o, "paused_since", json_null());
            json_object_set_new(o, "paused_reason", json_null());
        }
        json_object_set_new(o, "polls", json_boolean(w->polls));
        json_object_set_new(o, "last_poll", iso_or_null(w->fs.last_poll_at));
        json_object_set_new(o, "last_poll_ok", iso_or_null(w->fs.last_poll_ok_at));
        if (v->store_ok) {
            json_object_set_new(o, "inbox_pending", json_integer(w->q.pending));
            json_object_set_new(o, "inbox_leased", json_integer(w->q.leased));
            json_object_set_new(o, "dead_letters", json_integer(w->q.dead_letters));
            json_object_set_new(o, "oldest_pending_age_s", w->q.oldest_pending_at
                                ? json_real(age_s(v, w->q.oldest_pending_at)) : json_null());
            json_object_set_new(o, "last_hour", json_pack("{sIsIsIsI}",
                                "delivered", (json_int_t)w->hour.delivered,
                                "skipped", (json_int_t)w->hour.skipped,
                                "retried", (json_int_t)w->hour.retried,
                                "dead", (json_int_t)w->hour.dead));
            json_t *dl = json_array();
            for (size_t k = 0; k < w->ndl; k++) {
                json_t *d = json_object();
                json_object_set_new(d, "id", json_integer(w->dl[k].id));
                json_object_set_new(d, "dead_at", iso_or_null(w->dl[k].dead_at));
                json_object_set_new(d, "source_key", str(w->dl[k].source_key ? w->dl[k].source_key
                                                                             : w->dl[k].dedup_key));
                json_object_set_new(d, "attempts", json_integer(w->dl[k].attempts));
                json_object_set_new(d, "reason", str(w->dl[k].reason));
                json_array_append_new(dl, d);
            }
            json_object_set_new(o, "dlq_latest", dl);
        }
        if (m->o.engine)
            json_object_set_new(o, "since_start", json_pack("{sIsIsIsIsI}",
                                "enqueued", (json_int_t)w->fs.n.enqueued,
                                "delivered", (json_int_t)w->fs.n.delivered,
                                "skipped", (json_int_t)w->fs.n.skipped,
                                "retried", (json_int_t)w->fs.n.retried,
                                "dead", (json_int_t)w->fs.n.dead));
        else
            json_object_set_new(o, "since_start", json_null());
        json_array_append_new(flows, o);
    }
    json_object_set_new(root, "flows", flows);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    free(h);
    return text;
}

/* ------------------------------------------------------------------ /status */

static void html(syncrt_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': syncrt_buf_adds(b, "&amp;"); break;
        case '<': syncrt_buf_adds(b, "&lt;"); break;
        case '>': syncrt_buf_adds(b, "&gt;"); break;
        case '"': syncrt_buf_adds(b, "&quot;"); break;
        case '\'': syncrt_buf_adds(b, "&#39;"); break;
        default: syncrt_buf_add(b, s, 1);
        }
    }
}

/* "3m 20s ago"-style text for a duration in seconds. */
static void duration(char *out, size_t size, double s)
{
    long long t = (long long)s;
    if (t < 120)
        snprintf(out, size, "%llds", t);
    else if (t < 7200)
        snprintf(out, size, "%lldm %llds", t / 60, t % 60);
    else if (t < 172800)
        snprintf(out, size, "%lldh %lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(out, size, "%lldd %lldh", t / 86400, t % 86400 / 3600);
}

static char *render_html(syncrt_metrics *m, const view *v)
{
    syncrt_buf b = { 0 };
    char t[SYNCRT_ISO_LENGTH], d[64];
    int ok;
    char *h = health(v, &ok);
    int64_t hour_delivered = 0, hour_dead = 0, pending = 0;
    const flow_view *poll_failed = NULL;    /* the first enabled flow whose last poll failed */
    if (!h)
        return NULL;
    for (size_t i = 0; i < v->n; i++) {
        hour_delivered += v->fv[i].hour.delivered;
        hour_dead += v->fv[i].hour.dead;
        pending += v->fv[i].q.pending;
        if (!poll_failed && v->fv[i].polls && v->fv[i].fs.last_poll_ok_at < v->fv[i].fs.last_poll_at)
            poll_failed = &v->fv[i];
    }
    syncrt_buf_adds(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                        "<meta http-equiv=\"refresh\" content=\"5\">\n<title>sync status</title>\n"
                        "<style>body{font-family:sans-serif;margin:1.5em}"
                        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.3em .6em;"
                        "text-align:left}td.n{text-align:right}.ok{color:#060}.bad{color:#b00;"
                        "font-weight:bold}.off{color:#777}</style>\n"
                        "</head><body>\n");
    /* /healthz's verdict first; a failing poll does not fail /healthz but is said here */
    syncrt_buf_printf(&b, "<h1 class=\"%s\">%s</h1>\n<p>", ok && !poll_failed ? "ok" : "bad",
                      ok && !poll_failed ? "Running" : "Needs attention");
    if (!ok) {
        html(&b, h);
        syncrt_buf_adds(&b, ".");
    } else if (poll_failed) {
        syncrt_buf_adds(&b, "The last poll of ");
        html(&b, poll_failed->f->name);
        syncrt_buf_adds(&b, " failed (the log says why: event=poll_failed).");
    } else {
        syncrt_buf_adds(&b, "Every enabled flow is running.");
    }
    syncrt_buf_printf(&b, " Last hour: %lld delivered, %lld dead-lettered; %lld pending now.</p>\n",
                      (long long)hour_delivered, (long long)hour_dead, (long long)pending);
    syncrt_iso_format(t, v->now);
    syncrt_buf_printf(&b, "<p class=\"off\">At %s; ", t);
    syncrt_iso_format(t, m->o.started_at);
    syncrt_buf_printf(&b, "started %s; store ", t);
    html(&b, m->o.config->store);
    syncrt_buf_printf(&b, "; version %s (ABI %d)%s. This page refreshes every 5 s; "
                          "/status.json has the same, /metrics is for Prometheus.</p>\n",
                      SYNCRT_VERSION, SYNCRT_ABI, m->o.engine ? "" : "; no engine (store only)");
    syncrt_buf_adds(&b, "<table>\n<tr><th>Flow</th><th>Enabled</th><th>State</th><th>Last poll"
                        "</th><th>Pending</th><th>Leased</th><th>Oldest pending</th>"
                        "<th>Delivered 1 h</th><th>Delivered since start</th><th>Dead 1 h</th>"
                        "<th>Dead since start</th><th>Dead letters</th></tr>\n");
    for (size_t i = 0; i < v->n; i++) {
        const flow_view *w = &v->fv[i];
        syncrt_buf_adds(&b, "<tr><td>");
        html(&b, w->f->name);
        syncrt_buf_printf(&b, "</td><td%s>%s</td>", w->enabled ? "" : " class=\"off\"",
                          w->enabled ? "yes" : "no");
        if (w->paused) {
            char since[SYNCRT_ISO_LENGTH];
            const char *why;
            pause_parts(w->paused, since, sizeof since, &why);
            syncrt_buf_adds(&b, "<td class=\"bad\">PAUSED since ");
            html(&b, since);
            syncrt_buf_adds(&b, ": ");
            html(&b, *why ? why : "authentication failure");
            syncrt_buf_adds(&b, "</td>");
        } else {
            syncrt_buf_printf(&b, "<td class=\"%s\">%s</td>", w->enabled ? "ok" : "off",
                              w->enabled ? "running" : "off");
        }
        if (!w->polls) {
            syncrt_buf_adds(&b, "<td class=\"off\">does not poll</td>");
        } else if (w->fs.last_poll_at <= 0) {
            syncrt_buf_adds(&b, "<td class=\"off\">not yet</td>");
        } else {
            duration(d, sizeof d, age_s(v, w->fs.last_poll_at));
            int failed = w->fs.last_poll_ok_at < w->fs.last_poll_at;
            syncrt_buf_printf(&b, "<td%s>%s ago%s</td>", failed ? " class=\"bad\"" : "", d,
                              failed ? " (failed)" : "");
        }
        if (v->store_ok) {
            syncrt_buf_printf(&b, "<td class=\"n\">%lld</td><td class=\"n\">%lld</td>",
                              (long long)w->q.pending, (long long)w->q.leased);
            if (w->q.oldest_pending_at > 0)
                duration(d, sizeof d, age_s(v, w->q.oldest_pending_at));
            syncrt_buf_printf(&b, "<td class=\"n\">%s</td>", w->q.oldest_pending_at > 0 ? d : "-");
        } else {
            syncrt_buf_adds(&b, "<td>?</td><td>?</td><td>?</td>");
        }
        syncrt_buf_printf(&b, "<td class=\"n\">%lld</td>", (long long)w->hour.delivered);
        if (m->o.engine)
            syncrt_buf_printf(&b, "<td class=\"n\">%llu</td>", (unsigned long long)w->fs.n.delivered);
        else
            syncrt_buf_adds(&b, "<td>-</td>");
        syncrt_buf_printf(&b, "<td class=\"n\">%lld</td>", (long long)w->hour.dead);
        if (m->o.engine)
            syncrt_buf_printf(&b, "<td class=\"n\">%llu</td>", (unsigned long long)w->fs.n.dead);
        else
            syncrt_buf_adds(&b, "<td>-</td>");
        syncrt_buf_printf(&b, "<td class=\"n%s\">%lld</td></tr>\n", w->q.dead_letters ? " bad" : "",
                          (long long)w->q.dead_letters);
    }
    syncrt_buf_adds(&b, "</table>\n");
    for (size_t i = 0; i < v->n; i++) {
        const flow_view *w = &v->fv[i];
        if (!w->ndl)
            continue;
        syncrt_buf_adds(&b, "<h2>");
        html(&b, w->f->name);
        syncrt_buf_printf(&b, ": newest dead letters (%zu of %lld; <code>sync dlq list</code> "
                              "shows all)</h2>\n<ul>\n", w->ndl, (long long)w->q.dead_letters);
        for (size_t k = 0; k < w->ndl; k++) {
            syncrt_iso_format(t, w->dl[k].dead_at);
            syncrt_buf_printf(&b, "<li>%lld %s ", (long long)w->dl[k].id, t);
            html(&b, w->dl[k].source_key ? w->dl[k].source_key : w->dl[k].dedup_key);
            syncrt_buf_adds(&b, ": ");
            html(&b, w->dl[k].reason);
            syncrt_buf_adds(&b, "</li>\n");
        }
        syncrt_buf_adds(&b, "</ul>\n");
    }
    syncrt_buf_adds(&b, "</body></html>\n");
    free(h);
    return syncrt_buf_take(&b);
}

/* ------------------------------------------------------------------ HTTP */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 char *body, int allow)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    if (!body)
        return MHD_NO;      /* out of memory: the connection is closed */
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (allow)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    syncrt_metrics *m = cls;
    view v;
    char *body;
    unsigned status = MHD_HTTP_OK;
    const char *ctype;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                         strdup("method not allowed: GET or HEAD\n"), 1);
    int which = !strcmp(url, "/metrics") ? 1 : !strcmp(url, "/status") ? 2
              : !strcmp(url, "/status.json") ? 3 : !strcmp(url, "/healthz") ? 4 : 0;
    if (!which)
        return send_text(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                         strdup("not found: /status, /status.json, /metrics, /healthz\n"), 0);
    if (view_get(m, &v, which == 2 || which == 3) < 0)
        return MHD_NO;
    if (which == 1) {
        body = render_metrics(m, &v);
        ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else if (which == 2) {
        body = render_html(m, &v);
        ctype = "text/html; charset=utf-8";
    } else if (which == 3) {
        body = render_json(m, &v);
        ctype = "application/json";
    } else {
        int ok;
        char *h = health(&v, &ok);
        size_t n = h ? strlen(h) + 2 : 0;
        body = h ? malloc(n) : NULL;
        if (body)
            snprintf(body, n, "%s\n", h);
        free(h);
        status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        ctype = "text/plain; charset=utf-8";
    }
    view_free(&v);
    return send_text(c, status, ctype, body, 0);
}

void syncrt_metrics_stop(syncrt_metrics *m)
{
    if (!m)
        return;
    if (m->daemon)
        MHD_stop_daemon(m->daemon);
    syncrt_store_close(m->store);
    free(m->bind);
    free(m);
}

unsigned syncrt_metrics_port(const syncrt_metrics *m)
{
    return m->port;
}

syncrt_status syncrt_metrics_start(syncrt_metrics **out, const syncrt_metrics_options *opts,
                                   syncrt_error *err)
{
    syncrt_metrics *m;
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    syncrt_status st;

    *out = NULL;
    if (!opts || !opts->store_path || !opts->config || (opts->nflows && !opts->flows) ||
        opts->port > 65535)
        return syncrt_error_set(err, SYNCRT_EINVAL, "metrics: need a store, a configuration "
                                "and a port <= 65535");
    m = calloc(1, sizeof *m);
    if (!m)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    m->o = *opts;
    m->bind = strdup(opts->bind_address ? opts->bind_address : "127.0.0.1");
    if (!m->bind) {
        syncrt_metrics_stop(m);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    if (!m->o.started_at)
        m->o.started_at = now_ms(m);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, m->bind, &addr.sin_addr) != 1) {
        st = syncrt_error_set(err, SYNCRT_EINVAL, "metrics: bad bind address %s", m->bind);
        syncrt_metrics_stop(m);
        return st;
    }
    st = syncrt_store_open(&m->store, opts->store_path, NULL, err);
    if (st != SYNCRT_OK) {
        syncrt_metrics_stop(m);
        return st;
    }
    m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)opts->port, NULL, NULL,
                                 handle, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)32,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
    if (!m->daemon) {
        st = syncrt_error_set(err, SYNCRT_EIO, "metrics: cannot listen on %s:%u", m->bind,
                              opts->port);
        syncrt_metrics_stop(m);
        return st;
    }
    info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : opts->port;
    *out = m;
    return SYNCRT_OK;
}
