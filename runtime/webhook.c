/* webhook.c - the webhook receiver of syncrt/webhook.h on libmicrohttpd: body collection with
 * a size limit, timestamp window, HMAC-SHA256 verification with a constant-time compare, and
 * the inbox commit before the 2xx.  One internal polling thread serves the requests, so
 * commits are serialised (the store's connection is shared). */
#include "syncrt/webhook.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

struct syncrt_webhook {
    struct MHD_Daemon *daemon;
    syncrt_webhook_options o;
    char *path, *secret, *bind;
    unsigned port;
};

typedef struct {
    syncrt_buf body;
    int too_big;
} request;

static int64_t now_ms(const syncrt_webhook *w)
{
    return w->o.clock ? w->o.clock(w->o.clock_ctx) : syncrt_clock_real(NULL);
}

syncrt_status syncrt_webhook_sign(char *out, size_t size, const char *secret, const char *timestamp,
                                  const char *body, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    syncrt_buf msg = { 0 };

    if (!secret || !timestamp || size < 72)
        return SYNCRT_EINVAL;
    syncrt_buf_adds(&msg, timestamp);
    syncrt_buf_add(&msg, ".", 1);
    syncrt_buf_add(&msg, body ? body : "", body ? len : 0);
    if (msg.oom || !HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.p, msg.len,
                         md, &mdlen)) {
        syncrt_buf_free(&msg);
        return SYNCRT_ENOMEM;
    }
    syncrt_buf_free(&msg);
    memcpy(out, "sha256=", 7);
    for (i = 0; i < mdlen; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[7 + 2 * i + 1] = hex[md[i] & 15];
    }
    out[7 + 2 * mdlen] = '\0';
    return SYNCRT_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Verifies "sha256=<hex>" against the body in constant time (over the digest bytes). */
static int signature_ok(const syncrt_webhook *w, const char *header, const char *timestamp,
                        const char *body, size_t len)
{
    char expect[80];
    unsigned char a[32], b[32];
    size_t i;
    if (!header || !timestamp || strncmp(header, "sha256=", 7) != 0 || strlen(header + 7) != 64)
        return 0;
    if (syncrt_webhook_sign(expect, sizeof expect, w->secret, timestamp, body, len) != SYNCRT_OK)
        return 0;
    for (i = 0; i < 32; i++) {
        int h1 = hexval(header[7 + 2 * i]), h2 = hexval(header[7 + 2 * i + 1]);
        if (h1 < 0 || h2 < 0)
            return 0;
        a[i] = (unsigned char)(h1 << 4 | h2);
        b[i] = (unsigned char)(hexval(expect[7 + 2 * i]) << 4 | hexval(expect[7 + 2 * i + 1]));
    }
    return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *text)
{
    char body[256];
    struct MHD_Response *r;
    enum MHD_Result ret;
    int n = snprintf(body, sizeof body, "{\"status\":%u,\"message\":\"%s\"}", status, text);
    r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void log_event(const syncrt_webhook *w, const char *method, const char *url, unsigned status,
                      const char *id, const char *type, int inserted, const char *reason)
{
    syncrt_webhook_event e;
    if (!w->o.log)
        return;
    e.method = method;
    e.path = url;
    e.status = status;
    e.event_id = id;
    e.event_type = type;
    e.inserted = inserted;
    e.reason = reason;
    w->o.log(w->o.log_ctx, &e);
}

static enum MHD_Result refuse(const syncrt_webhook *w, struct MHD_Connection *c, const char *method,
                              const char *url, unsigned status, const char *reason)
{
    log_event(w, method, url, status, NULL, NULL, 0, reason);
    return answer(c, status, reason);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    syncrt_webhook *w = cls;
    request *rq = *con_cls;
    const char *ts, *sig, *id, *type, *flow;
    json_t *doc = NULL;
    char *end = NULL, idbuf[160], keybuf[160];
    long long t;
    int64_t now;
    int inserted = 0;
    syncrt_enqueue_item item;
    syncrt_status st;
    enum MHD_Result ret;
    (void)version;

    if (!rq) {
        const char *cl;
        if (strcmp(url, w->path) != 0)
            return refuse(w, c, method, url, MHD_HTTP_NOT_FOUND, "no such path");
        if (strcmp(method, "POST") != 0)
            return refuse(w, c, method, url, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only");
        cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > w->o.max_body)
            return refuse(w, c, method, url, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big && rq->body.len + *upload_size <= w->o.max_body)
            syncrt_buf_add(&rq->body, upload, *upload_size);
        else
            rq->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_big || rq->body.oom)
        return refuse(w, c, method, url, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");

    ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, w->o.timestamp_header);
    sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, w->o.signature_header);
    if (!ts || !sig)
        return refuse(w, c, method, url, MHD_HTTP_UNAUTHORIZED, "unsigned request");
    t = strtoll(ts, &end, 10);
    now = now_ms(w);
    if (!*ts || *end || t <= 0 || t > INT64_MAX / 1000 ||
        (t * 1000 > now ? t * 1000 - now : now - t * 1000) > w->o.tolerance_ms)
        return refuse(w, c, method, url, MHD_HTTP_UNAUTHORIZED, "timestamp outside the window");
    if (!signature_ok(w, sig, ts, rq->body.p, rq->body.len))
        return refuse(w, c, method, url, MHD_HTTP_UNAUTHORIZED, "bad signature");

    doc = rq->body.len ? json_loadb(rq->body.p, rq->body.len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return refuse(w, c, method, url, MHD_HTTP_BAD_REQUEST, "body is not a JSON object");
    }
    id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, w->o.event_id_header);
    if (!id || !*id)
        id = json_string_value(json_object_get(doc, "EventID"));
    type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, w->o.event_type_header);
    if (!type || !*type)
        type = json_string_value(json_object_get(doc, "EventType"));
    if (!id || !*id || !type || !*type) {
        json_decref(doc);
        return refuse(w, c, method, url, MHD_HTTP_BAD_REQUEST, "no event id or type");
    }
    snprintf(idbuf, sizeof idbuf, "%s", id);
    {   /* source key: the entity's ID when it has one, else the event id */
        json_t *eid = json_object_get(json_object_get(doc, "Entity"), "ID");
        if (json_is_integer(eid))
            snprintf(keybuf, sizeof keybuf, "%.100s:%lld", type, (long long)json_integer_value(eid));
        else
            snprintf(keybuf, sizeof keybuf, "%s", idbuf);
    }
    flow = w->o.route(w->o.route_ctx, type);
    if (!flow) {
        log_event(w, method, url, MHD_HTTP_OK, idbuf, type, 0, "ignored event type");
        ret = answer(c, MHD_HTTP_OK, "ignored");
        json_decref(doc);
        return ret;
    }
    if (w->o.before_commit)
        w->o.before_commit(w->o.before_commit_ctx);
    item.dedup_key = idbuf;
    item.source_key = keybuf;
    item.payload = rq->body.p;
    item.payload_len = rq->body.len;
    st = syncrt_store_enqueue(w->o.store, &inserted, flow, &item, NULL);
    if (st != SYNCRT_OK) {
        log_event(w, method, url, MHD_HTTP_SERVICE_UNAVAILABLE, idbuf, type, 0, "inbox commit failed");
        ret = answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, "inbox commit failed");
    } else {
        log_event(w, method, url, MHD_HTTP_OK, idbuf, type, inserted, inserted ? "accepted" : "duplicate");
        ret = answer(c, MHD_HTTP_OK, inserted ? "accepted" : "duplicate");
    }
    json_decref(doc);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    request *rq = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (rq) {
        syncrt_buf_free(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

void syncrt_webhook_stop(syncrt_webhook *w)
{
    if (!w)
        return;
    if (w->daemon)
        MHD_stop_daemon(w->daemon);
    free(w->path);
    if (w->secret)
        memset(w->secret, 0, strlen(w->secret));
    free(w->secret);
    free(w->bind);
    free(w);
}

unsigned syncrt_webhook_port(const syncrt_webhook *w)
{
    return w->port;
}

syncrt_status syncrt_webhook_start(syncrt_webhook **out, const syncrt_webhook_options *opts,
                                   syncrt_error *err)
{
    syncrt_webhook *w;
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    if (!opts || !opts->secret || !*opts->secret || !opts->store || !opts->route)
        return syncrt_error_set(err, SYNCRT_EINVAL, "webhook: need a secret, a store and a route");
    w = calloc(1, sizeof *w);
    if (!w)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    w->o = *opts;
    w->path = strdup(opts->path ? opts->path : "/webhook");
    w->secret = strdup(opts->secret);
    w->bind = strdup(opts->bind_address ? opts->bind_address : "127.0.0.1");
    if (!w->path || !w->secret || !w->bind) {
        syncrt_webhook_stop(w);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    if (!w->o.signature_header)
        w->o.signature_header = "X-Clarity-Signature";
    if (!w->o.timestamp_header)
        w->o.timestamp_header = "X-Clarity-Timestamp";
    if (!w->o.event_id_header)
        w->o.event_id_header = "X-Clarity-Event-ID";
    if (!w->o.event_type_header)
        w->o.event_type_header = "X-Clarity-Event";
    if (w->o.tolerance_ms <= 0)
        w->o.tolerance_ms = 5 * 60 * 1000;
    if (w->o.max_body == 0)
        w->o.max_body = (size_t)1 << 20;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, w->bind, &addr.sin_addr) != 1) {
        syncrt_webhook_stop(w);
        return syncrt_error_set(err, SYNCRT_EINVAL, "webhook: bad bind address");
    }
    w->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)opts->port, NULL, NULL,
                                 handle, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (!w->daemon) {
        syncrt_webhook_stop(w);
        return syncrt_error_set(err, SYNCRT_EIO, "webhook: cannot listen on %s:%u",
                                opts->bind_address ? opts->bind_address : "127.0.0.1", opts->port);
    }
    info = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_BIND_PORT);
    w->port = info ? info->port : opts->port;
    *out = w;
    return SYNCRT_OK;
}
