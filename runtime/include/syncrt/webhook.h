/* webhook.h - the webhook receiver: an HTTP endpoint (libmicrohttpd) that takes signed event
 * POSTs, verifies them and writes them to the durable inbox BEFORE answering 2xx.
 *
 * A request is accepted only when all of these hold, else nothing is enqueued:
 *   - POST to the configured path (404 / 405 otherwise);
 *   - the body is at most max_body bytes (413);
 *   - the timestamp header is within tolerance of our clock (401: a replay of an old request);
 *   - the signature header is "sha256=<hex>" of HMAC-SHA256(secret, timestamp "." body),
 *     compared in constant time (401: forged or unsigned);
 *   - the body is a JSON object and an event id is present (header or EventID) (400).
 * Then the event is enqueued in the route's flow with the event id as dedup key, and 200 is
 * answered only after that commit returned: a crash before it loses nothing because the
 * sender, never having seen a 2xx, delivers again; a redelivery after it is a no-op (same
 * dedup key) answered 200 as well.  A failed commit answers 503 (the sender retries).
 * Events the route ignores (NULL flow) are answered 200 without being stored.
 *
 * Defaults follow the sandbox's Clarity webhooks (sandbox/webhook.h, a DESIGN GUESS there):
 * X-Clarity-Signature, X-Clarity-Timestamp (unix seconds), X-Clarity-Event-ID,
 * X-Clarity-Event. */
#ifndef SYNCRT_WEBHOOK_H
#define SYNCRT_WEBHOOK_H

#include "syncrt/store.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The flow an event type goes to, or NULL to acknowledge and ignore it. */
typedef const char *(*syncrt_webhook_route_fn)(void *ctx, const char *event_type);

typedef struct {
    const char *method, *path;
    unsigned status;
    const char *event_id, *event_type;
    int inserted;           /* 1 new record, 0 duplicate or not stored */
    const char *reason;     /* why it was refused, or "accepted" */
} syncrt_webhook_event;

typedef void (*syncrt_webhook_log_fn)(void *ctx, const syncrt_webhook_event *e);

typedef struct {
    unsigned port;                    /* 0: the kernel picks (see syncrt_webhook_port) */
    const char *bind_address;         /* NULL: 127.0.0.1 */
    const char *path;                 /* NULL: "/webhook" */
    const char *secret;               /* required */
    const char *signature_header;     /* NULL: "X-Clarity-Signature" */
    const char *timestamp_header;     /* NULL: "X-Clarity-Timestamp" */
    const char *event_id_header;      /* NULL: "X-Clarity-Event-ID" */
    const char *event_type_header;    /* NULL: "X-Clarity-Event" */
    int64_t tolerance_ms;             /* 0: 5 minutes either way */
    size_t max_body;                  /* 0: 1 MiB */
    syncrt_store *store;              /* required: the inbox; a handle of its own (the
                                         receiver's thread uses it, see store.h) */
    syncrt_webhook_route_fn route;    /* required */
    void *route_ctx;
    syncrt_webhook_log_fn log;        /* optional: one call per request */
    void *log_ctx;
    syncrt_clock_fn clock;            /* NULL: real time */
    void *clock_ctx;
    /* for tests: called after verification, right before the inbox commit */
    void (*before_commit)(void *ctx);
    void *before_commit_ctx;
} syncrt_webhook_options;

typedef struct syncrt_webhook syncrt_webhook;

syncrt_status syncrt_webhook_start(syncrt_webhook **out, const syncrt_webhook_options *opts,
                                   syncrt_error *err);
/* The port actually bound. */
unsigned syncrt_webhook_port(const syncrt_webhook *w);
/* Stops accepting, finishes nothing in flight (a request cut off was never answered 2xx). */
void syncrt_webhook_stop(syncrt_webhook *w);

/* The signature header value for body at timestamp (seconds): "sha256=<64 hex>" into out
 * (at least 72 bytes).  For senders and tests. */
syncrt_status syncrt_webhook_sign(char *out, size_t size, const char *secret, const char *timestamp,
                                  const char *body, size_t len);

#ifdef __cplusplus
}
#endif
#endif
