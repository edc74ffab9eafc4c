/* http.c - HTTP client over libcurl's multi interface, with redacted request logging (the
 * contract is in syncrt/http.h).
 *
 * One CURLM per client holds the connection pool, so consecutive requests to one host reuse
 * a connection.  Each request is an easy handle wrapped in a `transfer` that owns copies of
 * everything it sends; the debug callback tells when the request headers went out (the
 * difference between "transient" and "unknown outcome" for a write) and captures them for
 * the log. */
#include "syncrt/http.h"

#include "buf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REDACTED "[REDACTED]"

typedef struct transfer {
    syncrt_http *h;
    CURL *easy;
    struct curl_slist *headers;
    char *method, *url, *body;
    size_t body_len;
    syncrt_http_data_fn on_data;
    syncrt_http_done_fn done;
    void *ctx;
    syncrt_http_response resp;
    size_t body_cap;
    int too_big, aborted;
    char *sent_headers;          /* captured only when logging */
    size_t sent_len;
    int64_t start_ms;
    char errbuf[CURL_ERROR_SIZE];
    struct transfer *prev, *next;
} transfer;

struct syncrt_http {
    CURLM *multi;
    syncrt_http_options opts;
    char *ca_file, *user_agent;
    transfer *live;              /* every transfer in flight */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Clients may be created from several worker threads: initialise libcurl exactly once. */
static syncrt_status http_global_init(syncrt_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return syncrt_error_set(err, SYNCRT_EHTTP, "curl_global_init failed");
    return SYNCRT_OK;
}

syncrt_status syncrt_http_new(syncrt_http **out, const syncrt_http_options *opts,
                              syncrt_error *err)
{
    syncrt_http *h = NULL;
    syncrt_status st;
    char ua[32];

    *out = NULL;
    st = http_global_init(err);
    if (st != SYNCRT_OK)
        return st;
    h = calloc(1, sizeof *h);
    if (!h)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    if (opts)
        h->opts = *opts;
    if (h->opts.connect_timeout_ms <= 0)
        h->opts.connect_timeout_ms = 10000;
    if (h->opts.total_timeout_ms <= 0)
        h->opts.total_timeout_ms = 60000;
    if (h->opts.max_host_connections <= 0)
        h->opts.max_host_connections = 8;
    if (h->opts.max_body_bytes == 0)
        h->opts.max_body_bytes = (size_t)256 << 20;
    snprintf(ua, sizeof ua, "syncrt/%d", SYNCRT_ABI);
    h->user_agent = strdup(h->opts.user_agent ? h->opts.user_agent : ua);
    h->ca_file = h->opts.ca_file ? strdup(h->opts.ca_file) : NULL;
    h->multi = curl_multi_init();
    if (!h->user_agent || (h->opts.ca_file && !h->ca_file) || !h->multi) {
        syncrt_http_free(h);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    h->opts.ca_file = h->ca_file;
    h->opts.user_agent = h->user_agent;
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->opts.max_host_connections);
    *out = h;
    return SYNCRT_OK;
}

void syncrt_http_response_clear(syncrt_http_response *r)
{
    size_t i;
    if (!r)
        return;
    free(r->body);
    for (i = 0; i < r->header_count; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    memset(r, 0, sizeof *r);
}

static void transfer_free(transfer *t)
{
    if (!t)
        return;
    if (t->easy) {
        if (t->h)
            curl_multi_remove_handle(t->h->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    free(t->method);
    free(t->url);
    free(t->body);
    free(t->sent_headers);
    syncrt_http_response_clear(&t->resp);
    free(t);
}

static void live_unlink(syncrt_http *h, transfer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else if (h->live == t)
        h->live = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

void syncrt_http_free(syncrt_http *h)
{
    if (!h)
        return;
    while (h->live) {
        transfer *t = h->live;
        live_unlink(h, t);
        transfer_free(t);
    }
    if (h->multi)
        curl_multi_cleanup(h->multi);
    free(h->ca_file);
    free(h->user_agent);
    free(h);
}

const char *syncrt_http_response_header(const syncrt_http_response *r, const char *name)
{
    size_t i;
    for (i = 0; r && i < r->header_count; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    transfer *t = userp;
    size_t len = size * n, nlen, vstart, vend;
    const char *colon;
    syncrt_http_header *bigger;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue or a 1xx): forget the previous headers */
        size_t i;
        for (i = 0; i < t->resp.header_count; i++) {
            free(t->resp.headers[i].name);
            free(t->resp.headers[i].value);
        }
        t->resp.header_count = 0;
        return len;
    }
    colon = memchr(data, ':', len);
    if (!colon)
        return len;                        /* the blank line, or an obsolete folded line */
    nlen = (size_t)(colon - data);
    vstart = nlen + 1;
    while (vstart < len && (data[vstart] == ' ' || data[vstart] == '\t'))
        vstart++;
    vend = len;
    while (vend > vstart && (data[vend - 1] == '\r' || data[vend - 1] == '\n' ||
                             data[vend - 1] == ' ' || data[vend - 1] == '\t'))
        vend--;
    bigger = realloc(t->resp.headers, (t->resp.header_count + 1) * sizeof *bigger);
    if (!bigger)
        return 0;
    t->resp.headers = bigger;
    bigger[t->resp.header_count].name = strndup(data, nlen);
    bigger[t->resp.header_count].value = strndup(data + vstart, vend - vstart);
    if (!bigger[t->resp.header_count].name || !bigger[t->resp.header_count].value) {
        free(bigger[t->resp.header_count].name);
        free(bigger[t->resp.header_count].value);
        return 0;
    }
    t->resp.header_count++;
    return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
    transfer *t = userp;
    size_t len = size * n;

    if (t->on_data) {
        if (t->on_data(t->ctx, data, len) != 0) {
            t->aborted = 1;
            return 0;
        }
        t->resp.body_len += len;
        return len;
    }
    if (t->resp.body_len + len > t->h->opts.max_body_bytes) {
        t->too_big = 1;
        return 0;
    }
    if (t->resp.body_len + len + 1 > t->body_cap) {
        size_t cap = t->body_cap ? t->body_cap : 4096;
        char *bigger;
        while (cap < t->resp.body_len + len + 1)
            cap *= 2;
        bigger = realloc(t->resp.body, cap);
        if (!bigger)
            return 0;
        t->resp.body = bigger;
        t->body_cap = cap;
    }
    memcpy(t->resp.body + t->resp.body_len, data, len);
    t->resp.body_len += len;
    t->resp.body[t->resp.body_len] = '\0';
    return len;
}

static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *userp)
{
    transfer *t = userp;
    (void)easy;
    if (type != CURLINFO_HEADER_OUT)
        return 0;
    t->resp.request_sent = 1;
    if (t->h->opts.log) {
        char *bigger = realloc(t->sent_headers, t->sent_len + size + 1);
        if (bigger) {
            memcpy(bigger + t->sent_len, data, size);
            t->sent_len += size;
            bigger[t->sent_len] = '\0';
            t->sent_headers = bigger;
        }
    }
    return 0;
}

static syncrt_status map_curl_code(CURLcode rc, const transfer *t)
{
    switch (rc) {
    case CURLE_OK:
        return SYNCRT_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return SYNCRT_ECONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return SYNCRT_ETIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return SYNCRT_ETLS;
    case CURLE_WRITE_ERROR:
        if (t->too_big)
            return SYNCRT_ERANGE;
        return SYNCRT_EHTTP;
    case CURLE_OUT_OF_MEMORY:
        return SYNCRT_ENOMEM;
    default:
        return SYNCRT_EHTTP;
    }
}

static int64_t now_ms(void)
{
    return syncrt_clock_real(NULL);
}

syncrt_status syncrt_http_submit(syncrt_http *h, const syncrt_http_request *req,
                                 syncrt_error *err)
{
    transfer *t = NULL;
    CURL *e;
    syncrt_status st = SYNCRT_OK;
    const char *const *hp;

    if (!req || !req->url || !req->method || !req->done)
        return syncrt_error_set(err, SYNCRT_EINVAL, "http: request needs method, url and done");
    t = calloc(1, sizeof *t);
    if (!t)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    t->h = h;
    t->on_data = req->on_data;
    t->done = req->done;
    t->ctx = req->ctx;
    t->method = strdup(req->method);
    t->url = strdup(req->url);
    t->easy = e = curl_easy_init();
    if (!t->method || !t->url || !e)
        goto nomem;
    if (req->body_len) {
        t->body = malloc(req->body_len);
        if (!t->body)
            goto nomem;
        memcpy(t->body, req->body, req->body_len);
        t->body_len = req->body_len;
    }
    for (hp = req->headers; hp && *hp; hp++) {
        struct curl_slist *l = curl_slist_append(t->headers, *hp);
        if (!l)
            goto nomem;
        t->headers = l;
    }
    {   /* no "Expect: 100-continue" round trip on larger bodies */
        struct curl_slist *l = curl_slist_append(t->headers, "Expect:");
        if (!l)
            goto nomem;
        t->headers = l;
    }
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     req->total_timeout_ms > 0 ? req->total_timeout_ms : h->opts.total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, t);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);   /* only feeds on_debug; nothing is printed */
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    if (!req->resend_safe && (strcmp(t->method, "POST") == 0 || strcmp(t->method, "PATCH") == 0))
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);     /* see "silent resends" in http.h */
    if (strcmp(t->method, "GET") == 0 && !t->body_len) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(t->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(t->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method);
        if (t->body_len || strcmp(t->method, "POST") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body ? t->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
        }
    }
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        st = syncrt_error_set(err, SYNCRT_EHTTP, "curl_multi_add_handle failed");
        t->h = NULL;           /* not in the multi: nothing to remove */
        goto fail;
    }
    t->start_ms = now_ms();
    t->next = h->live;
    if (h->live)
        h->live->prev = t;
    h->live = t;
    return SYNCRT_OK;
nomem:
    st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    t->h = NULL;
fail:
    transfer_free(t);
    return st;
}

static void transfer_log(syncrt_http *h, transfer *t)
{
    syncrt_http_log_entry e;
    char *url = syncrt_http_redact_url(t->url, h->opts.sensitive_fields);
    char *hdrs = syncrt_http_redact_headers(t->sent_headers ? t->sent_headers : "",
                                            h->opts.sensitive_headers);
    char *body = t->body_len ? syncrt_http_redact_body(t->body, t->body_len,
                                                       h->opts.sensitive_fields) : NULL;
    memset(&e, 0, sizeof e);
    e.method = t->method;
    e.url = url ? url : "[unavailable]";
    e.request_headers = hdrs ? hdrs : "";
    e.request_body = t->body_len ? (body ? body : "[unavailable]") : NULL;
    e.status = t->resp.status;
    e.transport = t->resp.transport;
    e.error = t->resp.error;
    e.elapsed_ms = t->resp.elapsed_ms;
    e.response_bytes = t->resp.body_len;
    h->opts.log(h->opts.log_ctx, &e);
    free(url);
    free(hdrs);
    free(body);
}

static void transfer_finish(syncrt_http *h, transfer *t, CURLcode rc)
{
    long status = 0, connects = 0;

    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
    t->resp.transport = map_curl_code(rc, t);
    t->resp.status = status;
    t->resp.new_connection = connects > 0;
    t->resp.elapsed_ms = now_ms() - t->start_ms;
    if (rc != CURLE_OK) {
        if (t->too_big)
            snprintf(t->resp.error, sizeof t->resp.error, "response body over %zu bytes",
                     h->opts.max_body_bytes);
        else if (t->aborted)
            snprintf(t->resp.error, sizeof t->resp.error, "aborted by the body consumer");
        else
            snprintf(t->resp.error, sizeof t->resp.error, "%s",
                     t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
    }
    if (!t->resp.body && !t->on_data && rc == CURLE_OK) {
        t->resp.body = calloc(1, 1);     /* an empty body is "", not NULL */
    }
    if (h->opts.log)
        transfer_log(h, t);
    t->done(t->ctx, &t->resp);
}

syncrt_status syncrt_http_run(syncrt_http *h, int *running, int timeout_ms, syncrt_error *err)
{
    int still = 0, left = 0;
    CURLMsg *msg;
    CURLMcode mc;

    mc = curl_multi_perform(h->multi, &still);
    if (mc == CURLM_OK && still > 0 && timeout_ms > 0) {
        mc = curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
        if (mc == CURLM_OK)
            mc = curl_multi_perform(h->multi, &still);
    }
    if (mc != CURLM_OK) {
        if (running)
            *running = still;
        return syncrt_error_set(err, SYNCRT_EHTTP, "curl multi: %s", curl_multi_strerror(mc));
    }
    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        transfer *t = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (!t)
            continue;
        live_unlink(h, t);
        transfer_finish(h, t, msg->data.result);
        transfer_free(t);
    }
    if (running) {
        transfer *t;
        int n = 0;
        for (t = h->live; t; t = t->next)
            n++;
        *running = n;
    }
    return SYNCRT_OK;
}

typedef struct {
    syncrt_http_response *out;
    int finished;
} do_state;

static void do_done(void *ctx, syncrt_http_response *resp)
{
    do_state *s = ctx;
    *s->out = *resp;                 /* take everything */
    memset(resp, 0, sizeof *resp);
    s->finished = 1;
}

syncrt_status syncrt_http_do(syncrt_http *h, syncrt_http_response *resp,
                             const syncrt_http_request *req, syncrt_error *err)
{
    syncrt_http_request r;
    do_state s = { resp, 0 };
    syncrt_status st;

    memset(resp, 0, sizeof *resp);
    if (!req)
        return syncrt_error_set(err, SYNCRT_EINVAL, "http: no request");
    r = *req;
    r.done = do_done;
    r.ctx = &s;
    if (req->on_data) {
        /* keep the caller's streaming consumer: it gets its own ctx */
        return syncrt_error_set(err, SYNCRT_EINVAL, "http_do: use submit for streamed bodies");
    }
    st = syncrt_http_submit(h, &r, err);
    while (st == SYNCRT_OK && !s.finished)
        st = syncrt_http_run(h, NULL, 1000, err);
    if (st != SYNCRT_OK)
        return st;
    if (resp->transport != SYNCRT_OK)
        return syncrt_error_set(err, resp->transport, "%s %s: %s", req->method, req->url,
                                resp->error);
    return SYNCRT_OK;
}

/* ---- redaction ---- */

static const char *const builtin_headers[] = {
    "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-ss-id", "X-ss-pid",
    "X-ss-opt", "X-Api-Key", "Api-Key", "ApiKey", "Ocp-Apim-Subscription-Key", NULL,
};

static const char *const builtin_fields[] = {
    "password", "client_secret", "secret", "access_token", "refresh_token", "id_token",
    "token", "api_key", "apikey", "client_assertion", "assertion", NULL,
};

static int name_in(const char *name, size_t len, const char *const *list)
{
    for (; list && *list; list++)
        if (strlen(*list) == len && strncasecmp(name, *list, len) == 0)
            return 1;
    return 0;
}

static int sensitive_header(const char *name, size_t len, const char *const *extra)
{
    return name_in(name, len, builtin_headers) || name_in(name, len, extra);
}

static int sensitive_field(const char *name, size_t len, const char *const *extra)
{
    return name_in(name, len, builtin_fields) || name_in(name, len, extra);
}

char *syncrt_http_redact_headers(const char *headers, const char *const *extra)
{
    syncrt_buf b = { 0 };
    const char *line = headers;

    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line + 1) : strlen(line);
        const char *colon = memchr(line, ':', len);
        const char *sp = memchr(line, ' ', len);
        if (line == headers && sp && (!colon || sp < colon)) {
            /* the request line: METHOD target HTTP/x; the target's query may hold secrets */
            const char *sp2 = memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line));
            size_t tlen = sp2 ? (size_t)(sp2 - sp - 1) : len - (size_t)(sp + 1 - line);
            char *target = strndup(sp + 1, tlen), *red = target ? syncrt_http_redact_url(target, extra) : NULL;
            syncrt_buf_add(&b, line, (size_t)(sp + 1 - line));
            if (red)
                syncrt_buf_add(&b, red, strlen(red));
            else
                b.oom = 1;
            syncrt_buf_add(&b, sp + 1 + tlen, len - (size_t)(sp + 1 + tlen - line));
            free(target);
            free(red);
        } else if (colon && sensitive_header(line, (size_t)(colon - line), extra)) {
            const char *v = colon + 1, *end = line + len;
            syncrt_buf_add(&b, line, (size_t)(v - line));
            while (v < end && *v == ' ')
                v++;
            syncrt_buf_add(&b, " ", 1);
            if (strncasecmp(line, "Authorization", 13) == 0 ||
                strncasecmp(line, "Proxy-Authorization", 19) == 0) {
                const char *blank = v;  /* keep the scheme: "Bearer [REDACTED]" */
                while (blank < end && *blank != ' ' && *blank != '\r' && *blank != '\n')
                    blank++;
                if (blank < end && *blank == ' ') {
                    syncrt_buf_add(&b, v, (size_t)(blank - v));
                    syncrt_buf_add(&b, " ", 1);
                }
            }
            syncrt_buf_add(&b, REDACTED, strlen(REDACTED));
            if (len >= 2 && line[len - 2] == '\r')
                syncrt_buf_add(&b, "\r\n", 2);
            else if (eol)
                syncrt_buf_add(&b, "\n", 1);
        } else {
            syncrt_buf_add(&b, line, len);
        }
        line += len;
    }
    return syncrt_buf_take(&b);
}

static void redact_json(json_t *v, const char *const *extra)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        void *tmp;
        json_object_foreach_safe(v, tmp, key, child) {
            if (sensitive_field(key, strlen(key), extra) && !json_is_object(child) &&
                !json_is_array(child))
                json_object_set_new(v, key, json_string(REDACTED));
            else
                redact_json(child, extra);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
            redact_json(child, extra);
    }
}

/* k=v&k=v: values of sensitive keys replaced. */
static char *redact_form(const char *s, size_t len, const char *const *extra)
{
    syncrt_buf b = { 0 };
    size_t i = 0;
    while (i < len) {
        size_t j = i, eq;
        while (j < len && s[j] != '&')
            j++;
        for (eq = i; eq < j && s[eq] != '='; eq++)
            ;
        if (eq < j && sensitive_field(s + i, eq - i, extra)) {
            syncrt_buf_add(&b, s + i, eq - i + 1);
            syncrt_buf_add(&b, REDACTED, strlen(REDACTED));
        } else {
            syncrt_buf_add(&b, s + i, j - i);
        }
        if (j < len)
            syncrt_buf_add(&b, "&", 1);
        i = j + 1;
    }
    return syncrt_buf_take(&b);
}

static int looks_like_form(const char *s, size_t len)
{
    size_t i;
    if (!memchr(s, '=', len))
        return 0;
    for (i = 0; i < len; i++)
        if (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '{' || s[i] == '<')
            return 0;
    return 1;
}

/* A multipart body ($batch): each line that is a JSON document or a header line is redacted
 * on its own (our batch parts carry their JSON on one line); other lines are kept. */
static char *redact_multipart(const char *body, size_t len, const char *const *extra)
{
    syncrt_buf b = { 0 };
    size_t pos = 0;
    while (pos < len) {
        const char *line = body + pos;
        const char *eol = memchr(line, '\n', len - pos);
        size_t n = eol ? (size_t)(eol - line) : len - pos, content = n;
        char *red = NULL;
        if (content && line[content - 1] == '\r')
            content--;
        if (content && line[0] == '{') {
            json_t *doc = json_loadb(line, content, 0, NULL);
            if (doc) {
                char *out;
                redact_json(doc, extra);
                out = json_dumps(doc, JSON_COMPACT);
                json_decref(doc);
                red = out ? strdup(out) : NULL;
                free(out);
                if (!red)
                    b.oom = 1;
            }
        } else if (content && memchr(line, ':', content)) {
            char *one = strndup(line, content);
            red = one ? syncrt_http_redact_headers(one, extra) : NULL;
            free(one);
            if (!red)
                b.oom = 1;
        }
        if (red) {
            syncrt_buf_adds(&b, red);
            syncrt_buf_add(&b, line + content, n - content);
            free(red);
        } else {
            syncrt_buf_add(&b, line, n);
        }
        if (eol)
            syncrt_buf_add(&b, "\n", 1);
        pos += n + (eol ? 1 : 0);
    }
    return syncrt_buf_take(&b);
}

char *syncrt_http_redact_body(const char *body, size_t len, const char *const *extra)
{
    json_t *doc;
    syncrt_buf b = { 0 };

    if (!body)
        return NULL;
    if (len > 2 && body[0] == '-' && body[1] == '-')
        return redact_multipart(body, len, extra);
    doc = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (doc) {
        char *out;
        redact_json(doc, extra);
        out = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(doc);
        if (out) {
            /* json_dumps memory belongs to jansson's allocator (malloc by default) */
            char *copy = strdup(out);
            free(out);
            return copy;
        }
        return NULL;
    }
    if (looks_like_form(body, len))
        return redact_form(body, len, extra);
    syncrt_buf_add(&b, body, len);
    return syncrt_buf_take(&b);
}

char *syncrt_http_redact_url(const char *url, const char *const *extra)
{
    const char *q;
    syncrt_buf b = { 0 };
    char *query;

    if (!url)
        return NULL;
    q = strchr(url, '?');
    if (!q)
        return strdup(url);
    syncrt_buf_add(&b, url, (size_t)(q - url) + 1);
    query = redact_form(q + 1, strlen(q + 1), extra);
    if (!query) {
        free(b.p);
        return NULL;
    }
    syncrt_buf_add(&b, query, strlen(query));
    free(query);
    return syncrt_buf_take(&b);
}
