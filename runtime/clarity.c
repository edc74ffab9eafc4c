/* clarity.c - Clarity eCommerce searches, upserts, digests, action and error answers, and
 * ModifiedSince windows (the contract is in syncrt/clarity.h). */
#include "syncrt/clarity.h"

#include "buf.h"
#include "jscan.h"
#include "syncrt/isotime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void copy_text(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static void error_from(syncrt_clarity_error *out, const json_t *rs)
{
    const char *msg = json_string_value(json_object_get(rs, "Message"));
    json_t *errors = json_object_get(rs, "Errors"), *e;
    size_t i, used = 0;

    copy_text(out->code, sizeof out->code, json_string_value(json_object_get(rs, "ErrorCode")));
    if (msg && strncmp(msg, "Log ID: ", 8) == 0) {
        const char *dot = strchr(msg + 8, '.');
        size_t n = dot ? (size_t)(dot - msg - 8) : strlen(msg + 8);
        if (n >= sizeof out->log_id)
            n = sizeof out->log_id - 1;
        memcpy(out->log_id, msg + 8, n);
        out->log_id[n] = '\0';
        msg = dot ? dot + 1 : "";
        while (*msg == ' ')
            msg++;
    }
    copy_text(out->message, sizeof out->message, msg);
    json_array_foreach(errors, i, e) {
        const char *f = json_string_value(json_object_get(e, "FieldName"));
        const char *m = json_string_value(json_object_get(e, "Message"));
        int w = snprintf(out->fields + used, sizeof out->fields - used, "%s%s: %s", used ? "; " : "",
                         f ? f : "?", m ? m : "");
        if (w < 0 || (size_t)w >= sizeof out->fields - used)
            break;
        used += (size_t)w;
    }
}

syncrt_status syncrt_clarity_error_parse(syncrt_clarity_error *out, const char *body, size_t len)
{
    json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *rs = json_object_get(doc, "ResponseStatus");
    syncrt_status st = SYNCRT_EPARSE;
    memset(out, 0, sizeof *out);
    if (json_is_object(rs) && (json_is_string(json_object_get(rs, "ErrorCode")) ||
                               json_is_string(json_object_get(rs, "Message")))) {
        error_from(out, rs);
        st = out->code[0] || out->message[0] ? SYNCRT_OK : SYNCRT_EPARSE;
    }
    json_decref(doc);
    return st;
}

syncrt_status syncrt_clarity_action_parse(syncrt_clarity_action *out, long status, const char *body,
                                          size_t len)
{
    json_t *doc, *ok, *msgs, *m, *result, *rs;
    size_t i, used = 0;

    memset(out, 0, sizeof *out);
    out->status = status;
    doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return SYNCRT_EPARSE;
    }
    ok = json_object_get(doc, "ActionSucceeded");
    rs = json_object_get(doc, "ResponseStatus");
    if (!json_is_boolean(ok) && !json_is_object(rs)) {
        json_decref(doc);
        return SYNCRT_EPARSE;
    }
    out->succeeded = json_is_true(ok) && status >= 200 && status < 300;
    msgs = json_object_get(doc, "Messages");
    json_array_foreach(msgs, i, m) {
        const char *t = json_string_value(m);
        int w;
        if (!t)
            continue;
        w = snprintf(out->messages + used, sizeof out->messages - used, "%s%s", used ? "; " : "", t);
        if (w < 0 || (size_t)w >= sizeof out->messages - used)
            break;
        used += (size_t)w;
    }
    result = json_object_get(doc, "Result");
    if (json_is_integer(result))
        out->id = (long long)json_integer_value(result);
    if (json_is_object(rs))
        error_from(&out->error, rs);
    json_decref(doc);
    return SYNCRT_OK;
}

static void real_sleep(void *ctx, int64_t ms)
{
    struct timespec ts;
    (void)ctx;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static char *join_url(const syncrt_clarity *c, const char *route)
{
    syncrt_buf b = { 0 };
    size_t rl = strlen(c->root);
    syncrt_buf_add(&b, c->root, rl && c->root[rl - 1] == '/' ? rl - 1 : rl);
    syncrt_buf_add(&b, "/", 1);
    syncrt_buf_adds(&b, route[0] == '/' ? route + 1 : route);
    return syncrt_buf_take(&b);
}

/* A GET with retries of transient failures; *resp holds the final answer. */
static syncrt_status get_with_retry(syncrt_http_response *resp, size_t *retries, const syncrt_clarity *c,
                                    syncrt_rng *rng, const char *url, syncrt_error *err)
{
    static const char *const hdrs[] = { "Accept: application/json", NULL };
    syncrt_retry_policy pol = c->policy;
    syncrt_sleep_fn sleep_fn = c->sleep ? c->sleep : real_sleep;
    syncrt_http_request req;
    int attempt;

    if (pol.max_attempts <= 0) {
        pol.max_attempts = 5;
        pol.base_ms = 1000;
        pol.cap_ms = 60000;
    }
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.url = url;
    req.headers = hdrs;
    for (attempt = 1;; attempt++) {
        syncrt_attempt at;
        syncrt_retry_decision d;
        const char *ra;
        int64_t ra_ms = -1;
        syncrt_status st = syncrt_auth_do(c->auth, resp, &req, err);
        if (st == SYNCRT_EAUTH || st == SYNCRT_ENOMEM || st == SYNCRT_EINVAL)
            return st;
        at.transport = st == SYNCRT_OK ? SYNCRT_OK : resp->transport;
        at.request_sent = resp->request_sent;
        at.idempotent = 1;
        at.http_status = resp->status;
        at.body = resp->body;
        ra = syncrt_http_response_header(resp, "Retry-After");
        if (ra && syncrt_retry_after_parse(&ra_ms, ra, syncrt_clock_real(NULL)) != SYNCRT_OK)
            ra_ms = -1;
        syncrt_retry_decide(&d, &pol, rng, syncrt_retry_classify(&at), attempt, ra_ms);
        if (d.action != SYNCRT_ACTION_RETRY)
            return st;
        syncrt_http_response_clear(resp);
        (*retries)++;
        sleep_fn(c->sleep_ctx, d.delay_ms);
    }
}

typedef struct {
    syncrt_clarity_row_fn row;
    syncrt_clarity_row_text_fn row_text;
    void *ctx;
    long total_count, total_pages;
    int bad_row;
} search_ctx;

static int search_row(void *ctx, const char *text, size_t len)
{
    search_ctx *sc = ctx;
    json_t *row;
    int stop;
    if (sc->row_text)
        return sc->row_text(sc->ctx, text, len);
    row = json_loadb(text, len, 0, NULL);
    if (!row) {
        sc->bad_row = 1;
        return 1;
    }
    stop = sc->row(sc->ctx, row);
    json_decref(row);
    return stop;
}

static void search_scalar(void *ctx, const char *key, const char *text, size_t len)
{
    search_ctx *sc = ctx;
    char num[32];
    if (len >= sizeof num)
        return;
    memcpy(num, text, len);
    num[len] = '\0';
    if (strcmp(key, "TotalCount") == 0)
        sc->total_count = strtol(num, NULL, 10);
    else if (strcmp(key, "TotalPages") == 0)
        sc->total_pages = strtol(num, NULL, 10);
}

static syncrt_status clarity_search(syncrt_clarity_search_stats *stats, const syncrt_clarity *c,
                                    const char *route, const syncrt_clarity_search_opts *o,
                                    search_ctx *sx, syncrt_error *err)
{
    static const syncrt_clarity_search_opts defaults = { 0, NULL, NULL, 0 };
    syncrt_status st = SYNCRT_OK;
    syncrt_rng rng;
    long page = 1, size;
    char *base = NULL;
    jscan scan;

    memset(stats, 0, sizeof *stats);
    if (!c || !c->http || !c->auth || !c->root || !route)
        return syncrt_error_set(err, SYNCRT_EINVAL, "clarity search: need http, auth, root, route, row");
    if (!o)
        o = &defaults;
    size = o->page_size > 0 ? o->page_size : 100;
    syncrt_rng_seed(&rng, c->jitter_seed);
    base = join_url(c, route);
    if (!base)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    jscan_init(&scan, "Results", search_row, search_scalar, sx, 0);

    for (;;) {
        syncrt_buf url = { 0 };
        syncrt_http_response r;
        const char *const *p;
        char *since = NULL;

        syncrt_buf_printf(&url, "%s%sPaging.Size=%ld&Paging.StartIndex=%ld", base,
                          strchr(base, '?') ? "&" : "?", size, page);
        if (o->modified_since) {
            since = syncrt_url_encode(o->modified_since);
            syncrt_buf_printf(&url, "&ModifiedSince=%s", since ? since : "");
            if (!since)
                url.oom = 1;
            free(since);
        }
        for (p = o->params; p && *p; p++) {
            const char *eq = strchr(*p, '=');
            char *v = syncrt_url_encode(eq ? eq + 1 : "");
            if (!v || !eq) {
                free(v);
                syncrt_buf_free(&url);
                st = syncrt_error_set(err, v ? SYNCRT_EINVAL : SYNCRT_ENOMEM,
                                      "clarity search: parameter '%s' is not Name=value", *p);
                goto out;
            }
            syncrt_buf_add(&url, "&", 1);
            syncrt_buf_add(&url, *p, (size_t)(eq - *p) + 1);
            syncrt_buf_adds(&url, v);
            free(v);
        }
        if (o->no_cache)
            syncrt_buf_adds(&url, "&noCache=true");
        if (url.oom) {
            syncrt_buf_free(&url);
            st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
            goto out;
        }
        st = get_with_retry(&r, &stats->retries, c, &rng, url.p, err);
        stats->last_status = r.status;
        if (st == SYNCRT_OK && r.status != 200) {
            syncrt_clarity_error_parse(&stats->error, r.body, r.body_len);
            st = syncrt_error_set(err, r.status == 401 || r.status == 403 ? SYNCRT_EAUTH : SYNCRT_EHTTP,
                                  "GET %s: HTTP %ld: %s", url.p, r.status,
                                  stats->error.message[0] ? stats->error.message : "no ResponseStatus");
        }
        if (st == SYNCRT_OK) {
            /* one page, scanned row by row: rows reach the caller as the server's text */
            jscan_reset(&scan);
            sx->total_count = sx->total_pages = 0;
            jscan_feed(&scan, r.body ? r.body : "", r.body_len);
            if (sx->bad_row)
                st = syncrt_error_set(err, SYNCRT_EPARSE, "GET %s: a row is not JSON", url.p);
            else if (scan.bad || (!scan.finished && !scan.stop))
                st = syncrt_error_set(err, SYNCRT_EPARSE, "GET %s: %s", url.p,
                                      scan.bad ? scan.bad_text : "truncated JSON");
        }
        syncrt_buf_free(&url);
        syncrt_http_response_clear(&r);
        if (st != SYNCRT_OK) {
            stats->resume_page = page;
            goto out;
        }
        stats->rows += scan.delivered;
        stats->total_count = sx->total_count;
        stats->total_pages = sx->total_pages;
        stats->pages++;
        if (scan.stop) {
            stats->stopped = 1;
            break;
        }
        /* TotalPages decides when present: a server may cap the page size below the one
         * asked for, and then a short page is not the last one. */
        if (scan.seen == 0 ||
            (stats->total_pages > 0 ? page >= stats->total_pages : (long)scan.seen < size))
            break;
        page++;
    }
out:
    jscan_free(&scan);
    free(base);
    return st;
}

syncrt_status syncrt_clarity_search(syncrt_clarity_search_stats *stats, const syncrt_clarity *c,
                                    const char *route, const syncrt_clarity_search_opts *o,
                                    syncrt_clarity_row_fn row, void *ctx, syncrt_error *err)
{
    search_ctx sx;
    if (!row) {
        memset(stats, 0, sizeof *stats);
        return syncrt_error_set(err, SYNCRT_EINVAL, "clarity search: no row callback");
    }
    memset(&sx, 0, sizeof sx);
    sx.row = row;
    sx.ctx = ctx;
    return clarity_search(stats, c, route, o, &sx, err);
}

syncrt_status syncrt_clarity_search_text(syncrt_clarity_search_stats *stats, const syncrt_clarity *c,
                                         const char *route, const syncrt_clarity_search_opts *o,
                                         syncrt_clarity_row_text_fn row, void *ctx, syncrt_error *err)
{
    search_ctx sx;
    if (!row) {
        memset(stats, 0, sizeof *stats);
        return syncrt_error_set(err, SYNCRT_EINVAL, "clarity search: no row callback");
    }
    memset(&sx, 0, sizeof sx);
    sx.row_text = row;
    sx.ctx = ctx;
    return clarity_search(stats, c, route, o, &sx, err);
}

syncrt_status syncrt_clarity_upsert(syncrt_clarity_action *out, const syncrt_clarity *c,
                                    const char *entity_route, const json_t *record, syncrt_error *err)
{
    static const char *const hdrs[] = { "Content-Type: application/json", "Accept: application/json", NULL };
    const char *key = json_string_value(json_object_get(record, "CustomKey"));
    syncrt_http_response r;
    syncrt_http_request req;
    char *body = NULL, *url = NULL, *route = NULL;
    syncrt_status st;
    size_t n;

    memset(out, 0, sizeof *out);
    memset(&r, 0, sizeof r);
    if (!c || !c->auth || !c->root || !entity_route)
        return syncrt_error_set(err, SYNCRT_EINVAL, "clarity upsert: need auth, root and route");
    if (!key || !*key)
        return syncrt_error_set(err, SYNCRT_EINVAL, "clarity upsert: the record has no CustomKey (an "
                                "upsert without it would create a duplicate on every resend)");
    n = strlen(entity_route) + 8;
    route = malloc(n);
    body = json_dumps(record, JSON_COMPACT);
    if (!route || !body) {
        st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(route, n, "%s/Upsert", entity_route);
    url = join_url(c, route);
    if (!url) {
        st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
        goto out;
    }
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = url;
    req.headers = hdrs;
    req.body = body;
    req.body_len = strlen(body);
    req.resend_safe = 1;
    st = syncrt_auth_do(c->auth, &r, &req, err);
    if (st != SYNCRT_OK)
        goto out;
    if (syncrt_clarity_action_parse(out, r.status, r.body, r.body_len) != SYNCRT_OK) {
        out->status = r.status;
        out->succeeded = 0;
        snprintf(out->messages, sizeof out->messages, "HTTP %ld: %.200s", r.status, r.body ? r.body : "");
    }
out:
    syncrt_http_response_clear(&r);
    free(route);
    free(url);
    free(body);
    return st;
}

syncrt_status syncrt_clarity_digest(size_t *count, const syncrt_clarity *c, const char *route,
                                    syncrt_clarity_digest_fn fn, void *ctx, syncrt_error *err)
{
    syncrt_http_response r;
    syncrt_rng rng;
    char *url;
    json_t *doc = NULL, *e;
    size_t i, retries = 0;
    syncrt_status st;

    *count = 0;
    if (!c || !c->auth || !c->root || !route || !fn)
        return syncrt_error_set(err, SYNCRT_EINVAL, "clarity digest: need auth, root, route, callback");
    url = join_url(c, route);
    if (!url)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    syncrt_rng_seed(&rng, c->jitter_seed);
    st = get_with_retry(&r, &retries, c, &rng, url, err);
    if (st == SYNCRT_OK && r.status != 200)
        st = syncrt_error_set(err, r.status == 401 || r.status == 403 ? SYNCRT_EAUTH : SYNCRT_EHTTP,
                              "GET %s: HTTP %ld", url, r.status);
    if (st == SYNCRT_OK) {
        doc = json_loadb(r.body, r.body_len, 0, NULL);
        if (!json_is_array(doc))
            st = syncrt_error_set(err, SYNCRT_EPARSE, "GET %s: a digest is a JSON array", url);
    }
    if (st == SYNCRT_OK) {
        json_array_foreach(doc, i, e) {
            json_t *id = json_object_get(e, "ID");
            (*count)++;
            if (fn(ctx, json_is_integer(id) ? (long long)json_integer_value(id) : 0,
                   json_string_value(json_object_get(e, "Key")), json_object_get(e, "Hash")) != 0)
                break;
        }
    }
    json_decref(doc);
    syncrt_http_response_clear(&r);
    free(url);
    return st;
}

syncrt_status syncrt_clarity_window_start(char *out, const char *checkpoint, int64_t overlap_ms,
                                          const char *initial, syncrt_error *err)
{
    int64_t ms;
    if (!checkpoint) {
        if (!initial || syncrt_iso_parse(&ms, initial) != SYNCRT_OK)
            return syncrt_error_set(err, SYNCRT_EINVAL, "clarity window: no checkpoint and no valid initial time");
        syncrt_iso_format(out, ms);
        return SYNCRT_OK;
    }
    if (syncrt_iso_parse(&ms, checkpoint) != SYNCRT_OK)
        return syncrt_error_set(err, SYNCRT_EPARSE, "clarity window: checkpoint '%.40s' is not ISO 8601",
                                checkpoint);
    syncrt_iso_format(out, ms - (overlap_ms > 0 ? overlap_ms : 0));
    return SYNCRT_OK;
}
