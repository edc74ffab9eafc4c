/* test_http.c - the HTTP client over real sockets against tests/runtime/httpd.py (started by
 * suite.sh, found through SYNCRT_TEST_HTTP/HTTPS/CA): methods, bodies and headers, keep-alive,
 * many requests in flight, connect errors, timeouts, dropped connections, Retry-After,
 * size limits, streaming, TLS verification with and without the CA file, the proxy from the
 * environment, and the redacted log. */
#include "syncrt/http.h"
#include "syncrt/retry.h"
#include "testhelp.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *base, *tls_base, *ca;

static char *url(const char *b, const char *path)
{
    static char buf[8][512];
    static int i;
    char *u = buf[i++ % 8];
    snprintf(u, 512, "%s%s", b, path);
    return u;
}

static json_t *body_json(const syncrt_http_response *r)
{
    return r->body ? json_loads(r->body, 0, NULL) : NULL;
}

static void test_basic(syncrt_http *h)
{
    syncrt_http_response r;
    syncrt_error err = { SYNCRT_OK, "" };
    const char *hdrs[] = { "Content-Type: application/json", "X-Test: one two", NULL };
    syncrt_http_request req = { "POST", url(base, "/echo"), hdrs, "{\"a\":1}", 7, NULL, NULL, NULL, 0, 0 };
    json_t *doc;
    long port1 = -1, port2 = -2;

    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_OK, "POST /echo (%s)", err.message);
    CHECK_INT(r.status, 200, "status 200");
    CHECK(r.request_sent, "request marked as sent");
    CHECK_STR(syncrt_http_response_header(&r, "content-type"), "application/json",
              "response header lookup is case-insensitive");
    doc = body_json(&r);
    CHECK_STR(json_string_value(json_object_get(doc, "method")), "POST", "server saw POST");
    CHECK_STR(json_string_value(json_object_get(doc, "body")), "{\"a\":1}", "server saw the body");
    CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "headers"), "X-Test")), "one two",
              "server saw the custom header");
    CHECK(json_object_get(json_object_get(doc, "headers"), "Expect") == NULL, "no Expect: 100-continue");
    port1 = (long)json_integer_value(json_object_get(doc, "peer_port"));
    json_decref(doc);
    syncrt_http_response_clear(&r);

    req.method = "PUT";
    req.body = "{\"b\":2}";
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_OK, "PUT /echo");
    doc = body_json(&r);
    CHECK_STR(json_string_value(json_object_get(doc, "method")), "PUT", "server saw PUT");
    CHECK_STR(json_string_value(json_object_get(doc, "body")), "{\"b\":2}", "with its body");
    port1 = (long)json_integer_value(json_object_get(doc, "peer_port"));
    json_decref(doc);
    syncrt_http_response_clear(&r);
    req.method = "GET";
    req.body = NULL;
    req.body_len = 0;
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_OK, "GET /echo");
    doc = body_json(&r);
    port2 = (long)json_integer_value(json_object_get(doc, "peer_port"));
    CHECK(port1 == port2, "keep-alive: same client port (%ld, %ld)", port1, port2);
    CHECK_INT(r.new_connection, 0, "keep-alive: no new connection for the second request");
    json_decref(doc);
    syncrt_http_response_clear(&r);

    req.method = "PATCH";
    req.body = "{\"c\":3}";
    req.body_len = 7;
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_OK, "PATCH /echo");
    doc = body_json(&r);
    CHECK_STR(json_string_value(json_object_get(doc, "method")), "PATCH", "server saw PATCH");
    CHECK_INT(r.new_connection, 1, "a PATCH goes on a fresh connection (no silent resend possible)");
    json_decref(doc);
    syncrt_http_response_clear(&r);
    req.method = "POST";
    req.resend_safe = 1;
    syncrt_http_do(h, &r, &req, &err);
    CHECK_INT(r.new_connection, 0, "a POST marked resend_safe reuses the connection");
    syncrt_http_response_clear(&r);
    req.resend_safe = 0;
    (void)port2;

    req.method = "GET";
    req.body = NULL;
    req.body_len = 0;
    req.url = url(base, "/status/429?retry_after=7");
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_OK, "an HTTP error status is still a response");
    CHECK_INT(r.status, 429, "429");
    CHECK_STR(syncrt_http_response_header(&r, "Retry-After"), "7", "Retry-After header available");
    syncrt_http_response_clear(&r);

    req.method = "DELETE";
    req.url = url(base, "/echo");
    syncrt_http_do(h, &r, &req, &err);
    doc = body_json(&r);
    CHECK_STR(json_string_value(json_object_get(doc, "method")), "DELETE", "DELETE without body");
    json_decref(doc);
    syncrt_http_response_clear(&r);

    req.method = "GET";
    req.url = url(base, "/status/204");
    syncrt_http_do(h, &r, &req, &err);
    CHECK(r.status == 204 && r.body && r.body_len == 0, "an empty body is \"\"");
    syncrt_http_response_clear(&r);
}

typedef struct { int done, ok, max_concurrent; } many_state;

static void many_done(void *ctx, syncrt_http_response *r)
{
    many_state *s = ctx;
    json_t *doc = body_json(r);
    int c = (int)json_integer_value(json_object_get(doc, "concurrent"));
    s->done++;
    if (r->transport == SYNCRT_OK && r->status == 200)
        s->ok++;
    if (c > s->max_concurrent)
        s->max_concurrent = c;
    json_decref(doc);
}

static void test_many_in_flight(void)
{
    syncrt_http_options o = { 0 };
    syncrt_http *h = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    many_state s = { 0, 0, 0 };
    syncrt_http_request req = { "GET", url(base, "/slow?ms=400"), NULL, NULL, 0, NULL, many_done, &s, 0, 0 };
    int i, running = 1, submitted = 0, rounds = 0;

    o.max_host_connections = 10;
    if (syncrt_http_new(&h, &o, &err) != SYNCRT_OK) {
        CHECK(0, "http_new: %s", err.message);
        return;
    }
    for (i = 0; i < 10; i++)
        if (syncrt_http_submit(h, &req, &err) == SYNCRT_OK)
            submitted++;
    CHECK_INT(submitted, 10, "10 requests submitted");
    while (running > 0 && rounds++ < 10000)
        if (syncrt_http_run(h, &running, 200, &err) != SYNCRT_OK)
            break;
    CHECK_INT(s.done, 10, "every callback ran");
    CHECK_INT(s.ok, 10, "every request succeeded");
    CHECK(s.max_concurrent > 1, "requests overlapped on the server (max %d at once)", s.max_concurrent);
    syncrt_http_free(h);
}

static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void test_failures(syncrt_http *h)
{
    syncrt_http_response r;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_http_request req = { "POST", NULL, NULL, "{}", 2, NULL, NULL, NULL, 0, 0 };
    char refused[64];
    syncrt_attempt a;

    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/echo", closed_port());
    req.url = refused;
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_ECONNECT, "connection refused is ECONNECT");
    CHECK_INT(r.request_sent, 0, "nothing was sent");
    CHECK(err.message[0] != '\0', "error text: %s", err.message);
    a = (syncrt_attempt){ r.transport, r.request_sent, 0, r.status, r.body };
    CHECK_INT(syncrt_retry_classify(&a), SYNCRT_CLASS_TRANSIENT, "refused POST is transient");
    syncrt_http_response_clear(&r);

    req.url = url(base, "/slow?ms=3000");
    req.total_timeout_ms = 300;
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_ETIMEOUT, "total timeout is ETIMEOUT (%s)", err.message);
    CHECK_INT(r.request_sent, 1, "the request had gone out");
    a = (syncrt_attempt){ r.transport, r.request_sent, 0, r.status, r.body };
    CHECK_INT(syncrt_retry_classify(&a), SYNCRT_CLASS_UNKNOWN_OUTCOME, "timed-out POST is an unknown outcome");
    syncrt_http_response_clear(&r);
    req.total_timeout_ms = 0;

    req.url = url(base, "/drop");
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_EHTTP, "dropped connection is EHTTP (%s)", err.message);
    CHECK_INT(r.request_sent, 1, "after sending");
    a = (syncrt_attempt){ r.transport, r.request_sent, 0, r.status, r.body };
    CHECK_INT(syncrt_retry_classify(&a), SYNCRT_CLASS_UNKNOWN_OUTCOME, "dropped POST is an unknown outcome");
    syncrt_http_response_clear(&r);

    req.method = "GET";
    req.body = NULL;
    req.body_len = 0;
    req.url = url(base, "/echo");
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_OK, "the client recovers after a drop");
    syncrt_http_response_clear(&r);

    /* A POST on a kept-alive connection, dropped unanswered after the server took it:
     * libcurl would resend it by itself on a reused connection; ours must not. */
    {
        char key[64], hits[128];
        json_t *doc;
        snprintf(key, sizeof key, "/drop_once?key=k%ld", (long)getpid());
        syncrt_http_do(h, &r, &req, &err);            /* warm a connection: GET /echo */
        syncrt_http_response_clear(&r);
        req.method = "POST";
        req.body = "{}";
        req.body_len = 2;
        req.url = url(base, key);
        CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_EHTTP, "dropped POST reported, not resent (%s)",
                  err.message);
        syncrt_http_response_clear(&r);
        snprintf(hits, sizeof hits, "/hits?key=k%ld", (long)getpid());
        req.method = "GET";
        req.body = NULL;
        req.body_len = 0;
        req.url = url(base, hits);
        syncrt_http_do(h, &r, &req, &err);
        doc = body_json(&r);
        CHECK_INT(json_integer_value(json_object_get(doc, "hits")), 1, "the server saw the POST exactly once");
        json_decref(doc);
        syncrt_http_response_clear(&r);
    }

    req.url = "http://no-such-host.invalid/x";
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_ECONNECT, "unresolvable host is ECONNECT");
    syncrt_http_response_clear(&r);
}

typedef struct { size_t bytes; int calls, stop_after; } stream_state;

static int stream_data(void *ctx, const char *data, size_t len)
{
    stream_state *s = ctx;
    (void)data;
    s->bytes += len;
    s->calls++;
    return s->stop_after && s->calls >= s->stop_after;
}

typedef struct { syncrt_status transport; int finished; char *body; } stream_done_state;

static void stream_done(void *ctx, syncrt_http_response *r)
{
    stream_done_state *s = ((stream_done_state **)ctx)[1];
    s->transport = r->transport;
    s->body = r->body;
    s->finished = 1;
}

/* on_data and done share ctx; pack both states behind one pointer array */
static int stream_data_packed(void *ctx, const char *data, size_t len)
{
    return stream_data(((void **)ctx)[0], data, len);
}

static void test_limits_and_streaming(void)
{
    syncrt_http_options o = { 0 };
    syncrt_http *h = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_http_response r;
    syncrt_http_request req = { "GET", url(base, "/big?bytes=100000"), NULL, NULL, 0, NULL, NULL, NULL, 0, 0 };
    stream_state ss = { 0, 0, 0 };
    stream_done_state ds = { SYNCRT_OK, 0, NULL };
    void *packed[2] = { &ss, &ds };
    int running = 1;

    o.max_body_bytes = 50000;
    if (syncrt_http_new(&h, &o, &err) != SYNCRT_OK)
        return;
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_ERANGE, "a body over max_body_bytes is refused");
    CHECK(strstr(err.message, "50000") != NULL, "and says why: %s", err.message);
    syncrt_http_response_clear(&r);

    req.url = url(base, "/big?bytes=2000000");
    req.on_data = stream_data_packed;
    req.done = stream_done;
    req.ctx = packed;
    syncrt_http_submit(h, &req, &err);
    while (running > 0)
        if (syncrt_http_run(h, &running, 200, &err) != SYNCRT_OK)
            break;
    CHECK_INT(ds.transport, SYNCRT_OK, "streamed 2 MB past the 50 kB collect limit");
    CHECK_INT(ss.bytes, 2000000, "every byte reached on_data");
    CHECK(ds.body == NULL, "nothing was collected");

    ss = (stream_state){ 0, 0, 1 };
    ds = (stream_done_state){ SYNCRT_OK, 0, NULL };
    syncrt_http_submit(h, &req, &err);
    running = 1;
    while (running > 0)
        if (syncrt_http_run(h, &running, 200, &err) != SYNCRT_OK)
            break;
    CHECK_INT(ds.transport, SYNCRT_EHTTP, "the consumer can abort a stream");
    CHECK_INT(ss.calls, 1, "after its first chunk");
    syncrt_http_free(h);
}

static void test_tls(void)
{
    syncrt_http_options o = { 0 };
    syncrt_http *h = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_http_response r;
    syncrt_http_request req = { "GET", url(tls_base, "/echo"), NULL, NULL, 0, NULL, NULL, NULL, 0, 0 };
    syncrt_attempt a;

    if (syncrt_http_new(&h, &o, &err) != SYNCRT_OK)
        return;
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_ETLS,
              "a self-signed server is refused without its CA (%s)", err.message);
    a = (syncrt_attempt){ r.transport, r.request_sent, 1, r.status, NULL };
    CHECK_INT(syncrt_retry_classify(&a), SYNCRT_CLASS_AUTH, "a TLS trust failure pauses the flow");
    syncrt_http_response_clear(&r);
    syncrt_http_free(h);

    o.ca_file = ca;
    if (syncrt_http_new(&h, &o, &err) != SYNCRT_OK)
        return;
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_OK, "trusted with the CA file (%s)", err.message);
    CHECK_INT(r.status, 200, "HTTPS 200");
    syncrt_http_response_clear(&r);
    req.url = "https://localhost.localdomain.invalid/";
    syncrt_http_response_clear(&r);
    syncrt_http_free(h);
}

static void test_proxy_from_env(syncrt_http *h)
{
    syncrt_http_response r;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_http_request req = { "GET", "http://proxied.invalid/echo", NULL, NULL, 0, NULL, NULL, NULL, 0, 0 };
    json_t *doc;

    setenv("http_proxy", base, 1);
    CHECK_INT(syncrt_http_do(h, &r, &req, &err), SYNCRT_OK, "request through http_proxy (%s)", err.message);
    doc = body_json(&r);
    CHECK_STR(json_string_value(json_object_get(doc, "path")), "http://proxied.invalid/echo",
              "the proxy (our server) got the absolute URL");
    json_decref(doc);
    syncrt_http_response_clear(&r);
    unsetenv("http_proxy");
}

typedef struct { int count; char text[8192]; } log_state;

static void log_cb(void *ctx, const syncrt_http_log_entry *e)
{
    log_state *s = ctx;
    size_t used = strlen(s->text);
    s->count++;
    snprintf(s->text + used, sizeof s->text - used, "%s %s %ld\n%s\n%s\n", e->method, e->url, e->status,
             e->request_headers, e->request_body ? e->request_body : "");
}

static void test_log_redaction(void)
{
    syncrt_http_options o = { 0 };
    syncrt_http *h = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_http_response r;
    log_state ls;
    const char *sensitive_fields[] = { "CardNumber", NULL };
    const char *sensitive_headers[] = { "X-Custom-Secret", NULL };
    const char *hdrs[] = { "Authorization: Bearer eyJhbGciOi.TOPSECRET1", "X-Api-Key: TOPSECRET2",
                           "X-Custom-Secret: TOPSECRET3", "Cookie: ss-id=TOPSECRET4", "X-Fine: visible",
                           NULL };
    const char *body = "{\"UserName\":\"admin\",\"Password\":\"TOPSECRET5\",\"Payment\":"
                       "[{\"CardNumber\":\"TOPSECRET6\",\"Amount\":10.5}]}";
    syncrt_http_request req = { "POST", NULL, hdrs, body, strlen(body), NULL, NULL, NULL, 0, 0 };
    const char *form = "grant_type=client_credentials&client_id=sync-client&client_secret=TOPSECRET7"
                       "&scope=x";

    memset(&ls, 0, sizeof ls);
    o.log = log_cb;
    o.log_ctx = &ls;
    o.sensitive_fields = sensitive_fields;
    o.sensitive_headers = sensitive_headers;
    if (syncrt_http_new(&h, &o, &err) != SYNCRT_OK)
        return;
    req.url = url(base, "/echo?access_token=TOPSECRET8&$top=5");
    syncrt_http_do(h, &r, &req, &err);
    CHECK(r.body && strstr(r.body, "TOPSECRET1") != NULL, "the server did get the real credentials");
    syncrt_http_response_clear(&r);
    req.body = form;
    req.body_len = strlen(form);
    req.headers = NULL;
    syncrt_http_do(h, &r, &req, &err);
    syncrt_http_response_clear(&r);
    CHECK_INT(ls.count, 2, "one log entry per request");
    CHECK(strstr(ls.text, "TOPSECRET") == NULL, "no secret reaches the log");
    CHECK(strstr(ls.text, "Authorization: Bearer [REDACTED]") != NULL, "Authorization keeps its scheme");
    CHECK(strstr(ls.text, "X-Fine: visible") != NULL, "other headers are logged");
    CHECK(strstr(ls.text, "\"UserName\":\"admin\"") != NULL, "other JSON fields are logged");
    CHECK(strstr(ls.text, "\"Amount\":10.5") != NULL, "nested non-sensitive fields kept");
    CHECK(strstr(ls.text, "client_id=sync-client") != NULL, "other form fields are logged");
    CHECK(strstr(ls.text, "$top=5") != NULL, "other query parameters are logged");
    syncrt_http_free(h);
    if (strstr(ls.text, "TOPSECRET"))
        printf("# log was:\n%s", ls.text);
}

static void test_redact_helpers(void)
{
    char *s;
    s = syncrt_http_redact_headers("Authorization: Basic YWRtaW46YWRtaW4=\r\nAccept: */*\r\n", NULL);
    CHECK_STR(s, "Authorization: Basic [REDACTED]\r\nAccept: */*\r\n", "Basic auth redacted, CRLF kept");
    free(s);
    s = syncrt_http_redact_headers("GET /t?client_secret=abc&x=1 HTTP/1.1\r\nHost: h\r\n", NULL);
    CHECK_STR(s, "GET /t?client_secret=[REDACTED]&x=1 HTTP/1.1\r\nHost: h\r\n", "request line query redacted");
    free(s);
    s = syncrt_http_redact_headers("x-ss-id: abc\nX-SS-PID: def", NULL);
    CHECK_STR(s, "x-ss-id: [REDACTED]\nX-SS-PID: [REDACTED]", "session headers redacted, any case");
    free(s);
    {
        const char *j = "{\"a\":{\"b\":[{\"password\":\"p\",\"token\":{\"x\":1}}]}}";
        s = syncrt_http_redact_body(j, strlen(j), NULL);
    }
    CHECK_STR(s, "{\"a\":{\"b\":[{\"password\":\"[REDACTED]\",\"token\":{\"x\":1}}]}}",
              "deep JSON redaction; objects under a sensitive name are walked, not hidden");
    free(s);
    s = syncrt_http_redact_body("not json, not a form", 20, NULL);
    CHECK_STR(s, "not json, not a form", "other text unchanged");
    free(s);
    {
        const char *batch = "--batch_1\r\nContent-Type: application/http\r\n\r\n"
                            "POST https://h/data/X?client_secret=S1 HTTP/1.1\r\nAuthorization: Bearer S2\r\n"
                            "Content-Type: application/json\r\n\r\n{\"Password\":\"S3\",\"A\":1}\r\n--batch_1--\r\n";
        s = syncrt_http_redact_body(batch, strlen(batch), NULL);
        CHECK(s && !strstr(s, "S1") && !strstr(s, "S2") && !strstr(s, "S3"), "a multipart $batch body is redacted part by part");
        CHECK(s && strstr(s, "POST https://h/data/X?client_secret=[REDACTED] HTTP/1.1\r\nAuthorization: Bearer [REDACTED]\r\n")
              && strstr(s, "{\"Password\":\"[REDACTED]\",\"A\":1}\r\n--batch_1--\r\n"),
              "keeping its structure and line ends");
        free(s);
    }
    s = syncrt_http_redact_url("https://h/p?client_secret=s&x=1&password", NULL);
    CHECK_STR(s, "https://h/p?client_secret=[REDACTED]&x=1&password", "URL query redaction");
    free(s);
    s = syncrt_http_redact_url("https://h/data/CustomersV3", NULL);
    CHECK_STR(s, "https://h/data/CustomersV3", "URL without query unchanged");
    free(s);
}

int main(void)
{
    syncrt_http *h = NULL;
    syncrt_error err = { SYNCRT_OK, "" };

    base = getenv("SYNCRT_TEST_HTTP");
    tls_base = getenv("SYNCRT_TEST_HTTPS");
    ca = getenv("SYNCRT_TEST_CA");
    test_redact_helpers();
    if (!base || !tls_base || !ca) {
        CHECK(0, "SYNCRT_TEST_HTTP, SYNCRT_TEST_HTTPS and SYNCRT_TEST_CA are set (run through suite.sh)");
        return test_done();
    }
    CHECK_INT(syncrt_http_new(&h, NULL, &err), SYNCRT_OK, "client with default options");
    if (h) {
        test_basic(h);
        test_failures(h);
        test_proxy_from_env(h);
        syncrt_http_free(h);
    }
    test_many_in_flight();
    test_limits_and_streaming();
    test_tls();
    test_log_redaction();
    return test_done();
}
