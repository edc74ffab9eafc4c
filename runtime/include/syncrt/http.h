/* http.h - the runtime's HTTP client over libcurl's multi interface: many requests in flight
 * on one thread, a shared connection pool (keep-alive), connect and total timeouts, TLS
 * verification always on (an optional CA file replaces the system store, it never turns
 * checking off), proxies from the environment (libcurl's http_proxy/https_proxy/no_proxy),
 * and a log callback that sees every finished request with credentials redacted.
 *
 * Typical use: submit any number of requests, each with a completion callback, then call
 * syncrt_http_run() until it reports nothing in flight; or syncrt_http_do() for one
 * blocking call.  Callbacks run inside syncrt_http_run(), on the caller's thread. */
#ifndef SYNCRT_HTTP_H
#define SYNCRT_HTTP_H

#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct syncrt_http syncrt_http;

typedef struct {
    char *name;
    char *value;
} syncrt_http_header;

/* The outcome of one request; owned by the library during the completion callback.  A
 * callback that wants to keep the body takes it: copies the pointer and sets body to NULL. */
typedef struct {
    syncrt_status transport;     /* SYNCRT_OK when a complete HTTP response arrived */
    long status;                 /* HTTP status (0 without a response) */
    int request_sent;            /* 1 once the request headers went out on the wire */
    int new_connection;          /* 1 when this request opened a connection (no reuse) */
    char *body;                  /* NUL-terminated; NULL when streamed to on_data */
    size_t body_len;
    syncrt_http_header *headers; /* response headers of the final response */
    size_t header_count;
    int64_t elapsed_ms;
    char error[256];             /* transport error text, empty when none */
} syncrt_http_response;

/* Returns the value of the first response header called name (case-insensitive), or NULL. */
const char *syncrt_http_response_header(const syncrt_http_response *r, const char *name);

typedef void (*syncrt_http_done_fn)(void *ctx, syncrt_http_response *resp);
/* Streams the body: return 0 to continue, non-zero to abort the transfer (SYNCRT_EHTTP). */
typedef int (*syncrt_http_data_fn)(void *ctx, const char *data, size_t len);

typedef struct {
    const char *method;              /* "GET", "POST", "PATCH", ... */
    const char *url;
    const char *const *headers;      /* NULL-terminated "Name: value" lines, may be NULL */
    const void *body;                /* copied at submit */
    size_t body_len;
    syncrt_http_data_fn on_data;     /* NULL: the body is collected into resp->body */
    syncrt_http_done_fn done;        /* required for submit, unused by syncrt_http_do */
    void *ctx;                       /* for on_data and done */
    long total_timeout_ms;           /* 0: the client's default */
    int resend_safe;                 /* 1: this POST/PATCH may be sent twice (an upsert by key);
                                        see "silent resends" below */
} syncrt_http_request;

/* Silent resends: when a request on a reused keep-alive connection gets no byte back,
 * libcurl resends it on a fresh connection by itself (the server may have closed an idle
 * connection).  For a POST or PATCH that the server did receive and commit before the
 * connection dropped, that is a duplicate write nobody asked for.  So POST and PATCH
 * requests always go on a fresh connection (libcurl only resends on reused ones) unless
 * resend_safe is set; GET, HEAD, PUT and DELETE reuse connections. */

/* One finished request as the log callback sees it: every text is already redacted. */
typedef struct {
    const char *method;
    const char *url;                 /* sensitive query parameters redacted */
    const char *request_headers;     /* "Name: value\n" lines, credentials redacted */
    const char *request_body;        /* sensitive fields redacted; NULL when empty */
    long status;
    syncrt_status transport;
    const char *error;
    int64_t elapsed_ms;
    size_t response_bytes;
} syncrt_http_log_entry;

typedef void (*syncrt_http_log_fn)(void *ctx, const syncrt_http_log_entry *e);

typedef struct {
    long connect_timeout_ms;             /* 0: 10 s */
    long total_timeout_ms;               /* 0: 60 s */
    const char *ca_file;                 /* PEM bundle to trust instead of the system's */
    long max_host_connections;           /* 0: 8 */
    size_t max_body_bytes;               /* collected bodies larger fail with ERANGE; 0: 256 MiB */
    const char *user_agent;              /* NULL: "syncrt/<ABI>" */
    syncrt_http_log_fn log;
    void *log_ctx;
    const char *const *sensitive_headers;  /* NULL-terminated, added to the built-in list */
    const char *const *sensitive_fields;   /* NULL-terminated, added to the built-in list */
} syncrt_http_options;

syncrt_status syncrt_http_new(syncrt_http **out, const syncrt_http_options *opts,
                              syncrt_error *err);
/* Aborts what is still in flight (their callbacks are not called) and frees the client. */
void syncrt_http_free(syncrt_http *h);

/* Queues a request; its done callback runs from a later syncrt_http_run. */
syncrt_status syncrt_http_submit(syncrt_http *h, const syncrt_http_request *req,
                                 syncrt_error *err);

/* Drives transfers for at most timeout_ms (waiting on sockets), runs the callbacks of the
 * finished ones; *running (when not NULL) gets the number still in flight. */
syncrt_status syncrt_http_run(syncrt_http *h, int *running, int timeout_ms, syncrt_error *err);

/* One blocking request (other queued requests progress meanwhile).  *resp is filled; release
 * it with syncrt_http_response_clear.  The return value is SYNCRT_OK when an HTTP response
 * arrived (whatever its status), else resp->transport. */
syncrt_status syncrt_http_do(syncrt_http *h, syncrt_http_response *resp,
                             const syncrt_http_request *req, syncrt_error *err);
void syncrt_http_response_clear(syncrt_http_response *resp);

/* Redaction helpers (used for the log; public so callers can redact their own texts).
 * Each returns a malloc'd copy or NULL on allocation failure.
 *   headers: "Name: value" lines; values of sensitive headers become "[REDACTED]"
 *   (Authorization keeps its scheme: "Bearer [REDACTED]").
 *   body: JSON (any depth) or application/x-www-form-urlencoded; values of sensitive
 *   fields become "[REDACTED]"; other text is returned unchanged.
 *   url: the query string is redacted like a form body. */
char *syncrt_http_redact_headers(const char *headers, const char *const *extra);
char *syncrt_http_redact_body(const char *body, size_t len, const char *const *extra);
char *syncrt_http_redact_url(const char *url, const char *const *extra);

#ifdef __cplusplus
}
#endif
#endif
