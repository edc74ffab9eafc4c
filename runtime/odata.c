/* odata.c - OData literals, key paths and query URLs, F&O error parsing, streamed nextLink
 * paging and $batch building/parsing (the contract is in syncrt/odata.h).
 *
 * Paging stays in constant memory with the streaming scanner of jscan.h over the response
 * as it arrives: each element of the top-level "value" array is cut out as text and handed
 * over (as text, for the decimal-exact map decoder, or parsed by jansson), so at most one
 * row exists at a time whatever the page size; "@odata.nextLink" is picked up wherever it
 * appears in the object. */
#include "syncrt/odata.h"

#include "buf.h"
#include "jscan.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- literals ---- */

static int is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (isdigit((unsigned char)*s))
            s++;
    else
        return 0;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

static int digits(const char *s, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int two(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int valid_date(const char *s)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d;
    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
        return 0;
    y = atoi(s);
    m = two(s + 5);
    d = two(s + 8);
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

/* YYYY-MM-DDThh:mm:ss[.f{1,7}](Z|+hh:mm|-hh:mm) */
static int valid_datetime(const char *s)
{
    const char *p;
    if (!valid_date(s) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
        s[16] != ':' || !digits(s + 17, 2))
        return 0;
    if (two(s + 11) > 23 || two(s + 14) > 59 || two(s + 17) > 59)
        return 0;
    p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p); p++)
            n++;
        if (n < 1 || n > 7)
            return 0;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) && p[6] == '\0')
        return two(p + 1) <= 14 && two(p + 4) <= 59;
    return 0;
}

static int valid_guid(const char *s)
{
    static const int groups[] = { 8, 4, 4, 4, 12 };
    int g, i;
    for (g = 0; g < 5; g++) {
        for (i = 0; i < groups[g]; i++, s++)
            if (!isxdigit((unsigned char)*s))
                return 0;
        if (g < 4 && *s++ != '-')
            return 0;
    }
    return *s == '\0';
}

static int valid_identifier(const char *s, int dotted)
{
    int start = 1;
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (dotted && *s == '.' && !start) {
            start = 1;
            continue;
        }
        if (!(isalpha((unsigned char)*s) || *s == '_' || (!start && isdigit((unsigned char)*s))))
            return 0;
        start = 0;
    }
    return !start;
}

static void quote_into(syncrt_buf *b, const char *v)
{
    syncrt_buf_add(b, "'", 1);
    for (; *v; v++) {
        if (*v == '\'')
            syncrt_buf_add(b, "''", 2);
        else
            syncrt_buf_add(b, v, 1);
    }
    syncrt_buf_add(b, "'", 1);
}

syncrt_status syncrt_odata_literal(char **out, syncrt_odata_kind kind, const char *value,
                                   const char *enum_type, syncrt_error *err)
{
    syncrt_buf b = { 0 };
    *out = NULL;
    if (!value)
        return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: no value");
    switch (kind) {
    case SYNCRT_ODATA_STRING:
        quote_into(&b, value);
        break;
    case SYNCRT_ODATA_NUMBER:
        if (!is_json_number(value))
            return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: '%.40s' is not a number", value);
        syncrt_buf_adds(&b, value);
        break;
    case SYNCRT_ODATA_ENUM:
        if (!enum_type || !valid_identifier(enum_type, 1))
            return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: enum needs a qualified type name");
        if (!valid_identifier(value, 0))
            return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: '%.40s' is not an enum member name",
                                    value);
        syncrt_buf_printf(&b, "%s'%s'", enum_type, value);
        break;
    case SYNCRT_ODATA_DATETIME:
        if (!valid_datetime(value))
            return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: '%.40s' is not an ISO 8601 date-time"
                                    " with offset", value);
        syncrt_buf_adds(&b, value);
        break;
    case SYNCRT_ODATA_DATE:
        if (strlen(value) != 10 || !valid_date(value))
            return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: '%.40s' is not a YYYY-MM-DD date",
                                    value);
        syncrt_buf_printf(&b, "%sT12:00:00Z", value);
        break;
    case SYNCRT_ODATA_GUID:
        if (!valid_guid(value))
            return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: '%.40s' is not a GUID", value);
        syncrt_buf_adds(&b, value);
        break;
    case SYNCRT_ODATA_BOOL:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: '%.40s' is not true/false", value);
        syncrt_buf_adds(&b, value);
        break;
    default:
        return syncrt_error_set(err, SYNCRT_EINVAL, "odata literal: unknown kind");
    }
    *out = syncrt_buf_take(&b);
    return *out ? SYNCRT_OK : syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
}

/* Percent-encodes for a path segment; the literal's own quotes stay readable. */
static void pct_segment(syncrt_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '\'') {
            syncrt_buf_add(b, s, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            syncrt_buf_add(b, e, 3);
        }
    }
}

syncrt_status syncrt_odata_key_path(char **out, const char *entity_set, const syncrt_odata_key *keys,
                                    size_t n, syncrt_error *err)
{
    syncrt_buf b = { 0 };
    syncrt_status st = SYNCRT_OK;
    size_t i;

    *out = NULL;
    if (!entity_set || !valid_identifier(entity_set, 0) || n == 0 || !keys)
        return syncrt_error_set(err, SYNCRT_EINVAL, "key path: need an entity set name and keys");
    syncrt_buf_adds(&b, entity_set);
    syncrt_buf_add(&b, "(", 1);
    for (i = 0; i < n && st == SYNCRT_OK; i++) {
        char *lit = NULL;
        if (keys[i].name && !valid_identifier(keys[i].name, 0)) {
            st = syncrt_error_set(err, SYNCRT_EINVAL, "key path: bad key name '%.40s'", keys[i].name);
            break;
        }
        if (!keys[i].name && n > 1) {
            st = syncrt_error_set(err, SYNCRT_EINVAL, "key path: a compound key names every field");
            break;
        }
        st = syncrt_odata_literal(&lit, keys[i].kind, keys[i].value, keys[i].enum_type, err);
        if (st != SYNCRT_OK)
            break;
        if (i)
            syncrt_buf_add(&b, ",", 1);
        if (keys[i].name) {
            syncrt_buf_adds(&b, keys[i].name);
            syncrt_buf_add(&b, "=", 1);
        }
        pct_segment(&b, lit);
        free(lit);
    }
    syncrt_buf_add(&b, ")", 1);
    if (st != SYNCRT_OK) {
        syncrt_buf_free(&b);
        return st;
    }
    *out = syncrt_buf_take(&b);
    return *out ? SYNCRT_OK : syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
}

static void add_option(syncrt_buf *b, int *first, const char *name, const char *value)
{
    char *enc = syncrt_url_encode(value);
    if (!enc) {
        b->oom = 1;
        return;
    }
    syncrt_buf_add(b, *first ? "?" : "&", 1);
    syncrt_buf_adds(b, name);
    syncrt_buf_add(b, "=", 1);
    syncrt_buf_adds(b, enc);
    free(enc);
    *first = 0;
}

syncrt_status syncrt_odata_url(char **out, const char *service_root, const char *path,
                               const syncrt_odata_query *q, syncrt_error *err)
{
    syncrt_buf b = { 0 };
    int first = 1;
    size_t rl;
    char num[32];

    *out = NULL;
    if (!service_root || !path)
        return syncrt_error_set(err, SYNCRT_EINVAL, "odata url: no service root or path");
    rl = strlen(service_root);
    syncrt_buf_add(&b, service_root, rl && service_root[rl - 1] == '/' ? rl - 1 : rl);
    syncrt_buf_add(&b, "/", 1);
    syncrt_buf_adds(&b, path[0] == '/' ? path + 1 : path);
    if (q) {
        if (q->filter)
            add_option(&b, &first, "$filter", q->filter);
        if (q->select)
            add_option(&b, &first, "$select", q->select);
        if (q->orderby)
            add_option(&b, &first, "$orderby", q->orderby);
        if (q->expand)
            add_option(&b, &first, "$expand", q->expand);
        if (q->top > 0) {
            snprintf(num, sizeof num, "%ld", q->top);
            add_option(&b, &first, "$top", num);
        }
        if (q->skip > 0) {
            snprintf(num, sizeof num, "%ld", q->skip);
            add_option(&b, &first, "$skip", num);
        }
        if (q->count)
            add_option(&b, &first, "$count", "true");
        if (q->cross_company)
            add_option(&b, &first, "cross-company", "true");
    }
    *out = syncrt_buf_take(&b);
    return *out ? SYNCRT_OK : syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
}

/* ---- errors ---- */

static void copy_text(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

syncrt_status syncrt_odata_error_parse(syncrt_odata_error_info *out, const char *body, size_t len)
{
    json_t *doc, *e, *inner;
    memset(out, 0, sizeof *out);
    if (!body)
        return SYNCRT_EPARSE;
    doc = json_loadb(body, len, 0, NULL);
    e = json_object_get(doc, "error");
    if (!json_is_object(e)) {
        size_t n = len < sizeof out->message - 1 ? len : sizeof out->message - 1;
        memcpy(out->message, body, n);
        out->message[n] = '\0';
        json_decref(doc);
        return SYNCRT_EPARSE;
    }
    copy_text(out->code, sizeof out->code, json_string_value(json_object_get(e, "code")));
    copy_text(out->message, sizeof out->message, json_string_value(json_object_get(e, "message")));
    inner = json_object_get(e, "innererror");
    if (json_is_object(inner)) {
        const char *m = json_string_value(json_object_get(inner, "message"));
        json_t *ie = json_object_get(inner, "internalexception");
        if ((!m || !*m) && json_is_object(ie))
            m = json_string_value(json_object_get(ie, "message"));
        copy_text(out->inner, sizeof out->inner, m);
        copy_text(out->type, sizeof out->type, json_string_value(json_object_get(inner, "type")));
    }
    json_decref(doc);
    return SYNCRT_OK;
}

const char *syncrt_odata_error_text(const syncrt_odata_error_info *e)
{
    if (e->inner[0])
        return e->inner;
    if (e->message[0])
        return e->message;
    return e->code;
}

/* ---- streamed paging ---- */

/* What the scanner's callbacks work on during one stream. */
typedef struct {
    syncrt_odata_row_fn row;            /* parsed rows, or */
    syncrt_odata_row_text_fn row_text;  /* rows as text */
    void *ctx;
    char bad_text[200];
    int bad_row;
    syncrt_buf next;                    /* the raw @odata.nextLink token */
} page_ctx;

static int page_row(void *ctx, const char *text, size_t len)
{
    page_ctx *pc = ctx;
    json_t *row;
    json_error_t je;
    int stop;
    if (pc->row_text)
        return pc->row_text(pc->ctx, text, len);
    row = json_loadb(text, len, 0, &je);
    if (!row) {
        pc->bad_row = 1;
        snprintf(pc->bad_text, sizeof pc->bad_text, "a row is not JSON: %.160s", je.text);
        return 1;
    }
    stop = pc->row(pc->ctx, row);
    json_decref(row);
    return stop;
}

static void page_scalar(void *ctx, const char *key, const char *text, size_t len)
{
    page_ctx *pc = ctx;
    if (strcmp(key, "@odata.nextLink") == 0) {
        syncrt_buf_reset(&pc->next);
        syncrt_buf_add(&pc->next, text, len);
    }
}

typedef struct {
    int finished;
    syncrt_status transport;
    long status;
    int sent;
    char *retry_after;
    char error[256];
} page_result;

typedef struct {
    jscan *scan;
    page_result *pr;
} page_io;

static void page_done(void *ctx, syncrt_http_response *r)
{
    page_result *pr = ((page_io *)ctx)->pr;
    const char *ra = syncrt_http_response_header(r, "Retry-After");
    pr->finished = 1;
    pr->transport = r->transport;
    pr->status = r->status;
    pr->sent = r->request_sent;
    pr->retry_after = ra ? strdup(ra) : NULL;
    snprintf(pr->error, sizeof pr->error, "%s", r->error);
}

static int page_data(void *ctx, const char *data, size_t len)
{
    return jscan_feed(((page_io *)ctx)->scan, data, len);
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

void syncrt_odata_page_stats_clear(syncrt_odata_page_stats *stats)
{
    free(stats->resume_url);
    memset(stats, 0, sizeof *stats);
}

/* One GET of one page into the scanner. */
static syncrt_status fetch_page(page_result *pr, const syncrt_odata_pager *p, jscan *sc,
                                const char *url, const char *auth_line, syncrt_error *err)
{
    const char *hdrs[24];
    char prefer[64];
    size_t n = 0;
    const char *const *h;
    page_io io;
    syncrt_http_request req;
    syncrt_status st;
    int running = 1;

    hdrs[n++] = "Accept: application/json";
    if (p->max_page_size > 0) {
        snprintf(prefer, sizeof prefer, "Prefer: odata.maxpagesize=%ld", p->max_page_size);
        hdrs[n++] = prefer;
    }
    for (h = p->headers; h && *h && n < 22; h++)
        hdrs[n++] = *h;
    if (auth_line)
        hdrs[n++] = auth_line;
    hdrs[n] = NULL;
    memset(pr, 0, sizeof *pr);
    io.scan = sc;
    io.pr = pr;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.url = url;
    req.headers = hdrs;
    req.on_data = page_data;
    req.done = page_done;
    req.ctx = &io;
    st = syncrt_http_submit(p->http, &req, err);
    while (st == SYNCRT_OK && !pr->finished && running)
        st = syncrt_http_run(p->http, &running, 1000, err);
    if (st == SYNCRT_OK && !pr->finished)
        st = syncrt_error_set(err, SYNCRT_EHTTP, "page request vanished");
    return st;
}

static syncrt_status odata_stream(syncrt_odata_page_stats *stats, const syncrt_odata_pager *p,
                                  const char *url, page_ctx *pc, syncrt_error *err)
{
    jscan sc;
    syncrt_retry_policy pol;
    syncrt_rng rng;
    syncrt_sleep_fn sleep_fn = p && p->sleep ? p->sleep : real_sleep;
    char *cur = NULL;
    syncrt_status st = SYNCRT_OK;
    page_result pr;

    memset(stats, 0, sizeof *stats);
    memset(&pr, 0, sizeof pr);
    if (!p || !p->http || !url)
        return syncrt_error_set(err, SYNCRT_EINVAL, "odata stream: need http, url and a row callback");
    pol = p->policy;
    if (pol.max_attempts <= 0) {
        pol.max_attempts = 5;
        pol.base_ms = 1000;
        pol.cap_ms = 60000;
    }
    syncrt_rng_seed(&rng, p->jitter_seed);
    jscan_init(&sc, "value", page_row, page_scalar, pc, p->max_row_bytes);
    cur = strdup(url);
    if (!cur)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");

    while (cur) {
        int attempt = 0, refreshed = 0;
        size_t page_rows = 0;       /* rows of this page delivered so far, over all tries */
        char *next = NULL;
        for (;;) {
            const char *line = NULL;
            syncrt_attempt at;
            syncrt_retry_class cls;
            syncrt_retry_decision d;
            int64_t ra = -1;

            attempt++;
            jscan_reset(&sc);
            syncrt_buf_reset(&pc->next);
            sc.skip = page_rows;      /* a page cut short is fetched again: skip what was given */
            if (p->auth) {
                st = syncrt_auth_header(p->auth, &line, err);
                if (st != SYNCRT_OK)
                    goto fail;
            }
            free(pr.retry_after);
            st = fetch_page(&pr, p, &sc, cur, line, err);
            if (st != SYNCRT_OK)
                goto fail;
            page_rows += sc.delivered;
            stats->rows += sc.delivered;
            stats->last_status = pr.status;
            if (pc->bad_row) {
                st = syncrt_error_set(err, SYNCRT_EPARSE, "page %zu: %s", stats->pages + 1, pc->bad_text);
                goto fail;
            }
            if (sc.stop) {
                stats->stopped = 1;
                free(cur);
                cur = NULL;
                goto done;
            }
            if (pr.transport == SYNCRT_OK && pr.status == 200 && !sc.bad && sc.finished) {
                if (pc->next.len) {
                    json_t *s = json_loadb(pc->next.p, pc->next.len, JSON_DECODE_ANY, NULL);
                    if (json_is_string(s))
                        next = strdup(json_string_value(s));
                    json_decref(s);
                    if (!next) {
                        st = syncrt_error_set(err, SYNCRT_EPARSE, "bad @odata.nextLink");
                        goto fail;
                    }
                }
                break;
            }
            if (pr.transport == SYNCRT_OK && pr.status == 200) {
                st = syncrt_error_set(err, SYNCRT_EPARSE, "page %zu: %s", stats->pages + 1,
                                      sc.bad ? sc.bad_text : "truncated JSON");
                if (!sc.bad && attempt < pol.max_attempts) {   /* cut short: fetch again */
                    stats->retries++;
                    sleep_fn(p->sleep_ctx, syncrt_retry_backoff(&pol, &rng, attempt));
                    continue;
                }
                goto fail;
            }
            if (pr.status == 401 && p->auth && !refreshed) {
                refreshed = 1;
                st = syncrt_auth_unauthorized(p->auth, line, err);
                if (st != SYNCRT_OK)
                    goto fail;
                continue;
            }
            at.transport = pr.transport;
            at.request_sent = pr.sent;
            at.idempotent = 1;
            at.http_status = pr.status;
            at.body = sc.raw.p;
            cls = syncrt_retry_classify(&at);
            if (pr.retry_after && syncrt_retry_after_parse(&ra, pr.retry_after, syncrt_clock_real(NULL)) != SYNCRT_OK)
                ra = -1;
            syncrt_retry_decide(&d, &pol, &rng, cls, attempt, ra);
            if (d.action == SYNCRT_ACTION_RETRY) {
                stats->retries++;
                sleep_fn(p->sleep_ctx, d.delay_ms);
                continue;
            }
            if (pr.transport != SYNCRT_OK) {
                st = syncrt_error_set(err, pr.transport, "GET %s: %s", cur, pr.error);
            } else {
                syncrt_odata_error_parse(&stats->error, sc.raw.p, sc.raw.len);
                st = syncrt_error_set(err, cls == SYNCRT_CLASS_AUTH ? SYNCRT_EAUTH : SYNCRT_EHTTP,
                                      "GET %s: HTTP %ld: %s", cur, pr.status,
                                      syncrt_odata_error_text(&stats->error));
            }
            goto fail;
        }
        stats->pages++;
        free(cur);
        cur = next;
    }
done:
    free(pr.retry_after);
    jscan_free(&sc);
    return SYNCRT_OK;
fail:
    stats->resume_url = cur;
    free(pr.retry_after);
    jscan_free(&sc);
    return st;
}

syncrt_status syncrt_odata_stream(syncrt_odata_page_stats *stats, const syncrt_odata_pager *p,
                                  const char *url, syncrt_odata_row_fn row, void *ctx,
                                  syncrt_error *err)
{
    page_ctx pc;
    syncrt_status st;
    if (!row) {
        memset(stats, 0, sizeof *stats);
        return syncrt_error_set(err, SYNCRT_EINVAL, "odata stream: no row callback");
    }
    memset(&pc, 0, sizeof pc);
    pc.row = row;
    pc.ctx = ctx;
    st = odata_stream(stats, p, url, &pc, err);
    syncrt_buf_free(&pc.next);
    return st;
}

syncrt_status syncrt_odata_stream_text(syncrt_odata_page_stats *stats, const syncrt_odata_pager *p,
                                       const char *url, syncrt_odata_row_text_fn row, void *ctx,
                                       syncrt_error *err)
{
    page_ctx pc;
    syncrt_status st;
    if (!row) {
        memset(stats, 0, sizeof *stats);
        return syncrt_error_set(err, SYNCRT_EINVAL, "odata stream: no row callback");
    }
    memset(&pc, 0, sizeof pc);
    pc.row_text = row;
    pc.ctx = ctx;
    st = odata_stream(stats, p, url, &pc, err);
    syncrt_buf_free(&pc.next);
    return st;
}

/* ---- $batch ---- */

typedef struct {
    int64_t tag;
    int content_id;
    int changeset;
    char *method, *path, *body, *if_match;
} batch_op;

struct syncrt_batch {
    char *root;
    batch_op *ops;
    size_t n, cap;
    int changesets;          /* number begun */
    int open;                /* a changeset is open */
    char boundary[64];
};

static unsigned long boundary_counter;

syncrt_status syncrt_batch_new(syncrt_batch **out, const char *service_root, syncrt_error *err)
{
    syncrt_batch *b;
    size_t rl;
    *out = NULL;
    if (!service_root)
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: no service root");
    b = calloc(1, sizeof *b);
    if (!b || !(b->root = strdup(service_root))) {
        free(b);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    rl = strlen(b->root);
    if (rl && b->root[rl - 1] == '/')
        b->root[rl - 1] = '\0';
    snprintf(b->boundary, sizeof b->boundary, "batch_%lx_%lx", (unsigned long)syncrt_clock_real(NULL),
             ++boundary_counter);
    *out = b;
    return SYNCRT_OK;
}

void syncrt_batch_free(syncrt_batch *b)
{
    size_t i;
    if (!b)
        return;
    for (i = 0; i < b->n; i++) {
        free(b->ops[i].method);
        free(b->ops[i].path);
        free(b->ops[i].body);
        free(b->ops[i].if_match);
    }
    free(b->ops);
    free(b->root);
    free(b);
}

syncrt_status syncrt_batch_changeset_begin(syncrt_batch *b, syncrt_error *err)
{
    if (b->open)
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: changesets do not nest");
    b->open = 1;
    b->changesets++;
    return SYNCRT_OK;
}

syncrt_status syncrt_batch_changeset_end(syncrt_batch *b, syncrt_error *err)
{
    size_t i, count = 0;
    if (!b->open)
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: no changeset is open");
    b->open = 0;
    for (i = 0; i < b->n; i++)
        if (b->ops[i].changeset == b->changesets - 1)
            count++;
    if (count == 0) {
        b->changesets--;            /* an empty changeset is simply not sent */
    }
    return SYNCRT_OK;
}

size_t syncrt_batch_count(const syncrt_batch *b)
{
    return b->n;
}

static int valid_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0 ||
           strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

syncrt_status syncrt_batch_add(syncrt_batch *b, int *content_id, int64_t tag, const char *method,
                               const char *path, const char *json_body, const char *if_match,
                               syncrt_error *err)
{
    batch_op *op;
    if (!method || !valid_method(method) || !path || !*path)
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: need a method (GET POST PATCH PUT DELETE)"
                                " and a path");
    if (b->open && strcmp(method, "GET") == 0)
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: a changeset holds writes only");
    if (strpbrk(path, " \r\n") || (if_match && strpbrk(if_match, "\r\n")))
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: path or If-Match with blanks or line breaks");
    if (path[0] == '$' && !b->open)
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: $<id> references only inside a changeset");
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        batch_op *bigger = realloc(b->ops, cap * sizeof *bigger);
        if (!bigger)
            return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
        b->ops = bigger;
        b->cap = cap;
    }
    op = &b->ops[b->n];
    memset(op, 0, sizeof *op);
    op->tag = tag;
    op->content_id = (int)b->n + 1;
    op->changeset = b->open ? b->changesets - 1 : -1;
    op->method = strdup(method);
    op->path = strdup(path[0] == '/' ? path + 1 : path);
    op->body = json_body ? strdup(json_body) : NULL;
    op->if_match = if_match ? strdup(if_match) : NULL;
    if (!op->method || !op->path || (json_body && !op->body) || (if_match && !op->if_match)) {
        free(op->method);
        free(op->path);
        free(op->body);
        free(op->if_match);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    b->n++;
    if (content_id)
        *content_id = op->content_id;
    return SYNCRT_OK;
}

static void batch_op_text(syncrt_buf *o, const syncrt_batch *b, const batch_op *op)
{
    syncrt_buf_adds(o, "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    syncrt_buf_printf(o, "Content-ID: %d\r\n\r\n", op->content_id);
    if (op->path[0] == '$')
        syncrt_buf_printf(o, "%s %s HTTP/1.1\r\n", op->method, op->path);
    else
        syncrt_buf_printf(o, "%s %s/%s HTTP/1.1\r\n", op->method, b->root, op->path);
    syncrt_buf_adds(o, "Accept: application/json\r\n");
    if (op->if_match)
        syncrt_buf_printf(o, "If-Match: %s\r\n", op->if_match);
    if (op->body) {
        syncrt_buf_adds(o, "Content-Type: application/json; charset=utf-8\r\n\r\n");
        syncrt_buf_adds(o, op->body);
        syncrt_buf_adds(o, "\r\n");
    } else {
        syncrt_buf_adds(o, "\r\n");
    }
}

syncrt_status syncrt_batch_body(char **body, size_t *len, char **content_type,
                                const syncrt_batch *b, syncrt_error *err)
{
    syncrt_buf o = { 0 }, ct = { 0 };
    size_t i = 0, j;

    *body = *content_type = NULL;
    *len = 0;
    if (b->open)
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: a changeset is still open");
    if (b->n == 0)
        return syncrt_error_set(err, SYNCRT_EINVAL, "batch: no operation");
    for (j = 0; j < b->n; j++)
        if (b->ops[j].body && strstr(b->ops[j].body, b->boundary))
            return syncrt_error_set(err, SYNCRT_EINVAL, "batch: a body contains the boundary");
    while (i < b->n) {
        const batch_op *op = &b->ops[i];
        syncrt_buf_printf(&o, "--%s\r\n", b->boundary);
        if (op->changeset < 0) {
            batch_op_text(&o, b, op);
            i++;
            continue;
        }
        syncrt_buf_printf(&o, "Content-Type: multipart/mixed; boundary=changeset_%s_%d\r\n\r\n",
                          b->boundary + 6, op->changeset);
        for (j = i; j < b->n && b->ops[j].changeset == op->changeset; j++) {
            syncrt_buf_printf(&o, "--changeset_%s_%d\r\n", b->boundary + 6, op->changeset);
            batch_op_text(&o, b, &b->ops[j]);
        }
        syncrt_buf_printf(&o, "--changeset_%s_%d--\r\n", b->boundary + 6, op->changeset);
        i = j;
    }
    syncrt_buf_printf(&o, "--%s--\r\n", b->boundary);
    syncrt_buf_printf(&ct, "multipart/mixed; boundary=%s", b->boundary);
    *len = o.len;
    *body = syncrt_buf_take(&o);
    *content_type = syncrt_buf_take(&ct);
    if (!*body || !*content_type) {
        free(*body);
        free(*content_type);
        *body = *content_type = NULL;
        *len = 0;
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    return SYNCRT_OK;
}

/* -- parsing the answer -- */

typedef struct {
    const char *p;
    size_t n;
} span;

/* The boundary parameter of a multipart Content-Type, into buf. */
static int boundary_of(char *buf, size_t size, const char *ct, size_t ctlen)
{
    size_t i, n = 0;
    const char *end = ct + ctlen;
    for (; ct + 9 <= end; ct++)
        if (strncasecmp(ct, "boundary=", 9) == 0)
            break;
    if (ct + 9 > end)
        return 0;
    ct += 9;
    if (ct < end && *ct == '"') {
        for (ct++, i = 0; ct + i < end && ct[i] != '"' && n + 1 < size; i++)
            buf[n++] = ct[i];
    } else {
        for (i = 0; ct + i < end && ct[i] != ';' && ct[i] != ' ' && ct[i] != '\r' && ct[i] != '\n' &&
                    n + 1 < size; i++)
            buf[n++] = ct[i];
    }
    buf[n] = '\0';
    return n > 0;
}

/* The parts between "--boundary" lines (CRLF or LF), without the line break that precedes
 * each delimiter.  Returns the number of parts, -1 when there is no closing delimiter. */
static int split_multipart(span **out, const char *body, size_t len, const char *boundary)
{
    char delim[140];
    size_t dl, pos = 0;
    const char *start = NULL;
    span *parts = NULL;
    int n = 0, cap = 0, closed = 0;

    *out = NULL;
    dl = (size_t)snprintf(delim, sizeof delim, "--%s", boundary);
    while (pos + dl <= len) {
        const char *line = body + pos;
        const char *eol = memchr(line, '\n', len - pos);
        size_t line_len = eol ? (size_t)(eol - line) + 1 : len - pos;
        if (memcmp(line, delim, dl) == 0) {
            int final = pos + dl + 2 <= len && line[dl] == '-' && line[dl + 1] == '-';
            if (start) {
                size_t plen = (size_t)(line - start);
                if (plen && start[plen - 1] == '\n')
                    plen--;
                if (plen && start[plen - 1] == '\r')
                    plen--;
                if (n == cap) {
                    span *bigger;
                    cap = cap ? cap * 2 : 8;
                    bigger = realloc(parts, (size_t)cap * sizeof *bigger);
                    if (!bigger) {
                        free(parts);
                        return -2;
                    }
                    parts = bigger;
                }
                parts[n].p = start;
                parts[n].n = plen;
                n++;
            }
            if (final) {
                closed = 1;
                break;
            }
            start = line + line_len;
        }
        pos += line_len;
    }
    if (!closed) {
        free(parts);
        return -1;
    }
    *out = parts;
    return n;
}

/* Splits a part into its header block and content at the first blank line. */
static void split_headers(span *headers, span *content, span part)
{
    size_t i;
    for (i = 0; i < part.n; i++) {
        if (part.p[i] == '\n' && (i == 0 || (i + 1 < part.n && (part.p[i + 1] == '\n' ||
                                  (part.p[i + 1] == '\r' && i + 2 < part.n && part.p[i + 2] == '\n'))))) {
            size_t skip;
            if (i == 0) {               /* no headers at all */
                headers->p = part.p;
                headers->n = 0;
                content->p = part.p + 1;
                content->n = part.n - 1;
                return;
            }
            skip = part.p[i + 1] == '\n' ? 2 : 3;
            headers->p = part.p;
            headers->n = i + 1;
            content->p = part.p + i + skip;
            content->n = part.n - i - skip;
            return;
        }
    }
    headers->p = part.p;
    headers->n = part.n;
    content->p = part.p + part.n;
    content->n = 0;
}

/* The value of header name in a header block (malloc'd), or NULL. */
static char *header_value(span h, const char *name)
{
    size_t nl = strlen(name), pos = 0;
    while (pos < h.n) {
        const char *line = h.p + pos;
        const char *eol = memchr(line, '\n', h.n - pos);
        size_t ll = eol ? (size_t)(eol - line) : h.n - pos;
        if (ll > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t vl = ll - nl - 1;
            while (vl && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            return strndup(v, vl);
        }
        pos += ll + 1;
    }
    return NULL;
}

/* An application/http part: "HTTP/1.1 201 Created", headers, blank line, body. */
static int parse_http_part(syncrt_batch_result *r, span content)
{
    span head, body;
    long status = 0;
    const char *sp;
    char *cid;

    if (content.n < 12 || strncmp(content.p, "HTTP/", 5) != 0)
        return 0;
    sp = memchr(content.p, ' ', content.n);
    if (!sp)
        return 0;
    status = strtol(sp + 1, NULL, 10);
    if (status < 100 || status > 599)
        return 0;
    {   /* skip the status line, then the headers */
        const char *eol = memchr(content.p, '\n', content.n);
        span rest;
        if (!eol)
            return 0;
        rest.p = eol + 1;
        rest.n = content.n - (size_t)(rest.p - content.p);
        if (rest.n && (rest.p[0] == '\n' || (rest.p[0] == '\r' && rest.n > 1 && rest.p[1] == '\n'))) {
            head.p = rest.p;
            head.n = 0;
            body.p = rest.p + (rest.p[0] == '\n' ? 1 : 2);
            body.n = rest.n - (size_t)(body.p - rest.p);
        } else {
            split_headers(&head, &body, rest);
        }
    }
    r->status = status;
    free(r->body);
    free(r->etag);
    free(r->location);
    r->body = strndup(body.p, body.n);
    r->etag = header_value(head, "ETag");
    r->location = header_value(head, "Location");
    cid = header_value(head, "Content-ID");     /* some servers repeat it inside */
    free(cid);
    return r->body != NULL;
}

void syncrt_batch_results_free(syncrt_batch_result *r, size_t n)
{
    size_t i;
    for (i = 0; r && i < n; i++) {
        free(r[i].body);
        free(r[i].etag);
        free(r[i].location);
    }
    free(r);
}

syncrt_status syncrt_batch_parse(syncrt_batch_result **out, size_t *count, const syncrt_batch *b,
                                 const char *content_type, const char *body, size_t len,
                                 syncrt_error *err)
{
    syncrt_batch_result *res = NULL;
    span *parts = NULL;
    char boundary[128];
    int np, part;
    size_t i, item;
    syncrt_status st = SYNCRT_OK;

    *out = NULL;
    *count = 0;
    if (!content_type || !boundary_of(boundary, sizeof boundary, content_type, strlen(content_type)))
        return syncrt_error_set(err, SYNCRT_EPARSE, "batch answer: Content-Type without a boundary");
    res = calloc(b->n ? b->n : 1, sizeof *res);
    if (!res)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    for (i = 0; i < b->n; i++) {
        res[i].tag = b->ops[i].tag;
        res[i].content_id = b->ops[i].content_id;
        res[i].changeset = b->ops[i].changeset;
    }
    np = split_multipart(&parts, body ? body : "", body ? len : 0, boundary);
    if (np < 0) {
        st = np == -2 ? syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory")
                      : syncrt_error_set(err, SYNCRT_EPARSE, "batch answer: no closing boundary");
        goto out;
    }
    /* top-level parts answer the request's items in order */
    for (part = 0, item = 0; part < np && item < b->n; part++) {
        span head, content;
        char *ct;
        size_t first = item, last = item + 1;
        if (b->ops[item].changeset >= 0)
            while (last < b->n && b->ops[last].changeset == b->ops[item].changeset)
                last++;
        split_headers(&head, &content, parts[part]);
        ct = header_value(head, "Content-Type");
        if (ct && strncasecmp(ct, "multipart/mixed", 15) == 0) {
            char inner_b[128];
            span *sub = NULL;
            int ns, k;
            if (!boundary_of(inner_b, sizeof inner_b, ct, strlen(ct)) ||
                (ns = split_multipart(&sub, content.p, content.n, inner_b)) < 0) {
                free(ct);
                st = syncrt_error_set(err, SYNCRT_EPARSE, "batch answer: bad changeset part %d", part + 1);
                goto out;
            }
            for (k = 0; k < ns; k++) {
                span sh, sc;
                char *cid;
                size_t target = first + (size_t)k;     /* by position unless Content-ID says */
                split_headers(&sh, &sc, sub[k]);
                cid = header_value(sh, "Content-ID");
                if (cid) {
                    long id = strtol(cid, NULL, 10);
                    size_t m;
                    for (m = first; m < last; m++)
                        if (b->ops[m].content_id == id)
                            target = m;
                    free(cid);
                }
                if (target < last && !parse_http_part(&res[target], sc)) {
                    free(sub);
                    free(ct);
                    st = syncrt_error_set(err, SYNCRT_EPARSE, "batch answer: bad response in changeset "
                                          "part %d", part + 1);
                    goto out;
                }
            }
            free(sub);
        } else {
            syncrt_batch_result one;
            memset(&one, 0, sizeof one);
            if (!parse_http_part(&one, content)) {
                free(ct);
                free(one.body);
                free(one.etag);
                free(one.location);
                st = syncrt_error_set(err, SYNCRT_EPARSE, "batch answer: part %d is not an HTTP response",
                                      part + 1);
                goto out;
            }
            /* a single answer for a changeset: it failed as a whole */
            for (i = first; i < last; i++) {
                res[i].status = one.status;
                res[i].body = strdup(one.body);
                res[i].etag = one.etag && i == first ? strdup(one.etag) : NULL;
                res[i].location = NULL;
                res[i].changeset_failed = b->ops[first].changeset >= 0;
            }
            free(one.body);
            free(one.etag);
            free(one.location);
        }
        free(ct);
        item = last;
    }
    for (i = 0; i < b->n; i++)
        if (!res[i].body && !(res[i].body = calloc(1, 1))) {
            st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
            goto out;
        }
out:
    free(parts);
    if (st != SYNCRT_OK) {
        syncrt_batch_results_free(res, b->n);
        return st;
    }
    *out = res;
    *count = b->n;
    return SYNCRT_OK;
}
