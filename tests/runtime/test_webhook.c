/* test_webhook.c - the webhook receiver over real sockets: a signed event is enqueued and
 * answered 200, a redelivery is a no-op 200, forged / unsigned / replayed / oversized /
 * malformed requests are refused with nothing enqueued, and the 2xx comes only after the
 * commit: a receiver process killed between receipt and commit never answered 2xx and left
 * nothing, one killed after answering kept the record.  Against build/sandbox (when suite.sh
 * started it) the Clarity emulator's own signed events land in the inbox. */
#include "syncrt/auth.h"
#include "syncrt/clarity.h"
#include "syncrt/http.h"
#include "syncrt/webhook.h"
#include "testhelp.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET "test-webhook-secret"

static char tmpdir[256];

static const char *route(void *ctx, const char *type)
{
    (void)ctx;
    if (strncmp(type, "SalesOrder.", 11) == 0)
        return "orders";
    if (strncmp(type, "Account.", 8) == 0)
        return "accounts";
    return NULL;
}

static long long count_rows(const char *path, const char *where)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    char sql[512];
    long long n = -1;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM inbox WHERE %s", where);
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* POSTs body to the receiver; secret NULL sends no signature; age_s shifts the timestamp. */
static long post(syncrt_http *h, unsigned port, const char *path, const char *body, const char *secret,
                 long age_s, const char *event_id, const char *type)
{
    char url[128], ts[32], sig[96], h_ts[64], h_sig[128], h_id[128], h_type[128];
    const char *hdrs[6];
    int n = 0;
    syncrt_http_response r;
    syncrt_http_request req;
    long status = -1;

    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    snprintf(ts, sizeof ts, "%ld", (long)time(NULL) - age_s);
    hdrs[n++] = "Content-Type: application/json";
    if (secret) {
        syncrt_webhook_sign(sig, sizeof sig, secret, ts, body, strlen(body));
        snprintf(h_ts, sizeof h_ts, "X-Clarity-Timestamp: %s", ts);
        snprintf(h_sig, sizeof h_sig, "X-Clarity-Signature: %s", sig);
        hdrs[n++] = h_ts;
        hdrs[n++] = h_sig;
    }
    snprintf(h_id, sizeof h_id, "X-Clarity-Event-ID: %s", event_id);
    snprintf(h_type, sizeof h_type, "X-Clarity-Event: %s", type);
    hdrs[n++] = h_id;
    hdrs[n++] = h_type;
    hdrs[n] = NULL;
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = url;
    req.headers = hdrs;
    req.body = body;
    req.body_len = strlen(body);
    if (syncrt_http_do(h, &r, &req, NULL) == SYNCRT_OK)
        status = r.status;
    syncrt_http_response_clear(&r);
    return status;
}

static void test_receiver(syncrt_http *h)
{
    char path[512], big[4096];
    syncrt_store *s = NULL;
    syncrt_webhook *w = NULL;
    syncrt_webhook_options o;
    syncrt_error err = { SYNCRT_OK, "" };
    const char *body = "{\"EventType\":\"SalesOrder.Created\",\"EventID\":\"evt_1\",\"OccurredAt\":"
                       "\"2026-11-27T16:00:00Z\",\"Entity\":{\"ID\":42,\"Totals\":{\"Total\":389.45}}}";
    unsigned port;
    char sig[96];

    snprintf(path, sizeof path, "%s/webhook.db", tmpdir);
    if (syncrt_store_open(&s, path, NULL, &err) != SYNCRT_OK) {
        CHECK(0, "store: %s", err.message);
        return;
    }
    memset(&o, 0, sizeof o);
    o.secret = SECRET;
    o.store = s;
    o.route = route;
    o.max_body = 1024;
    o.path = "/hooks/clarity";
    CHECK_INT(syncrt_webhook_start(&w, &o, &err), SYNCRT_OK, "receiver starts on a kernel-chosen port (%s)",
              err.message);
    if (!w) {
        syncrt_store_close(s);
        return;
    }
    port = syncrt_webhook_port(w);
    CHECK(port > 0, "bound to port %u", port);

    CHECK_INT(post(h, port, "/hooks/clarity", body, SECRET, 0, "evt_1", "SalesOrder.Created"), 200,
              "a signed event is accepted");
    CHECK_INT(count_rows(path, "flow = 'orders' AND dedup_key = 'evt_1' AND source_key = 'SalesOrder.Created:42'"),
              1, "and is in the inbox, keyed by event id, source key from the entity");
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;
        int same = 0;
        if (sqlite3_open(path, &db) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT payload FROM inbox WHERE dedup_key = 'evt_1'", -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            same = (size_t)sqlite3_column_bytes(q, 0) == strlen(body) &&
                   memcmp(sqlite3_column_blob(q, 0), body, strlen(body)) == 0;
        sqlite3_finalize(q);
        sqlite3_close(db);
        CHECK(same, "the payload is the body byte for byte (389.45 stays text)");
    }
    CHECK_INT(post(h, port, "/hooks/clarity", body, SECRET, 2, "evt_1", "SalesOrder.Created"), 200,
              "a redelivery (new timestamp and signature) is acknowledged");
    CHECK_INT(count_rows(path, "1"), 1, "but not stored twice");

    CHECK_INT(post(h, port, "/hooks/clarity", body, "not-the-secret", 0, "evt_2", "SalesOrder.Created"), 401,
              "a forged signature is refused");
    CHECK_INT(post(h, port, "/hooks/clarity", body, NULL, 0, "evt_3", "SalesOrder.Created"), 401,
              "an unsigned request is refused");
    CHECK_INT(post(h, port, "/hooks/clarity", body, SECRET, 600, "evt_4", "SalesOrder.Created"), 401,
              "a replay from 10 minutes ago is refused (timestamp window)");
    CHECK_INT(post(h, port, "/hooks/clarity", body, SECRET, -600, "evt_5", "SalesOrder.Created"), 401,
              "a timestamp 10 minutes ahead is refused too");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "{\"a\":\"", 6);
    big[sizeof big - 3] = '"';
    big[sizeof big - 2] = '}';
    CHECK_INT(post(h, port, "/hooks/clarity", big, SECRET, 0, "evt_6", "SalesOrder.Created"), 413,
              "an oversized body is refused");
    CHECK_INT(post(h, port, "/hooks/clarity", "not json", SECRET, 0, "evt_7", "SalesOrder.Created"), 400,
              "a signed body that is not JSON is refused");
    CHECK_INT(post(h, port, "/elsewhere", body, SECRET, 0, "evt_8", "SalesOrder.Created"), 404, "wrong path");
    CHECK_INT(post(h, port, "/hooks/clarity", "{\"EventType\":\"Product.Updated\",\"EventID\":\"evt_9\"}", SECRET, 0,
                   "evt_9", "Product.Updated"), 200, "an event no flow wants is acknowledged");
    CHECK_INT(count_rows(path, "1"), 1, "nothing refused or ignored was enqueued");
    {
        syncrt_http_response r;
        char url[128];
        syncrt_http_request req;
        snprintf(url, sizeof url, "http://127.0.0.1:%u/hooks/clarity", port);
        memset(&req, 0, sizeof req);
        req.method = "GET";
        req.url = url;
        syncrt_http_do(h, &r, &req, NULL);
        CHECK_INT(r.status, 405, "GET is not allowed");
        syncrt_http_response_clear(&r);
    }
    CHECK_INT(syncrt_webhook_sign(sig, sizeof sig, "key", "1", "body", 4), SYNCRT_OK, "sign");
    CHECK(strncmp(sig, "sha256=", 7) == 0 && strlen(sig) == 71, "sha256=<64 hex>");
    syncrt_webhook_stop(w);
    syncrt_store_close(s);
    unlink(path);
}

/* ---- kill between receipt and commit ---- */

static int hook_fd = -1;

static void stall_before_commit(void *ctx)
{
    (void)ctx;
    if (write(hook_fd, "C", 1) != 1)
        _exit(4);
    sleep(30);                      /* the parent kills us here */
}

/* Child: a receiver on the store; writes its port to fd, optionally stalls before commit. */
static void receiver_child(const char *path, int fd, int stall)
{
    syncrt_store *s = NULL;
    syncrt_webhook *w = NULL;
    syncrt_webhook_options o;
    char line[32];
    int n;
    if (syncrt_store_open(&s, path, NULL, NULL) != SYNCRT_OK)
        _exit(2);
    memset(&o, 0, sizeof o);
    o.secret = SECRET;
    o.store = s;
    o.route = route;
    hook_fd = fd;
    if (stall)
        o.before_commit = stall_before_commit;
    if (syncrt_webhook_start(&w, &o, NULL) != SYNCRT_OK)
        _exit(3);
    n = snprintf(line, sizeof line, "%u\n", syncrt_webhook_port(w));
    if (write(fd, line, (size_t)n) != n)
        _exit(4);
    for (;;)
        pause();
}

typedef struct { int finished; long status; syncrt_status transport; } async_result;

static void async_done(void *ctx, syncrt_http_response *r)
{
    async_result *a = ctx;
    a->finished = 1;
    a->status = r->status;
    a->transport = r->transport;
}

static void test_kill_before_commit(syncrt_http *h)
{
    char path[512], buf[64], url[128], ts[32], sig[96], h_ts[64], h_sig[128];
    const char *body = "{\"EventType\":\"SalesOrder.Created\",\"EventID\":\"evt_k\",\"Entity\":{\"ID\":7}}";
    const char *hdrs[5];
    int fds[2], stall;
    syncrt_error err = { SYNCRT_OK, "" };

    snprintf(path, sizeof path, "%s/kill.db", tmpdir);
    {   /* create the store first so both children find the schema */
        syncrt_store *s = NULL;
        if (syncrt_store_open(&s, path, NULL, &err) != SYNCRT_OK)
            return;
        syncrt_store_close(s);
    }
    for (stall = 1; stall >= 0; stall--) {
        pid_t pid;
        ssize_t got = 0;
        unsigned port = 0;
        async_result ar = { 0, 0, SYNCRT_OK };
        syncrt_http_request req;
        int running = 1, status;
        if (pipe(fds) != 0)
            return;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            receiver_child(path, fds[1], stall);
        }
        close(fds[1]);
        while (got < (ssize_t)sizeof buf - 1 && read(fds[0], buf + got, 1) == 1 && buf[got] != '\n')
            got++;
        buf[got] = '\0';
        port = (unsigned)atoi(buf);
        snprintf(url, sizeof url, "http://127.0.0.1:%u/webhook", port);
        snprintf(ts, sizeof ts, "%ld", (long)time(NULL));
        syncrt_webhook_sign(sig, sizeof sig, SECRET, ts, body, strlen(body));
        snprintf(h_ts, sizeof h_ts, "X-Clarity-Timestamp: %s", ts);
        snprintf(h_sig, sizeof h_sig, "X-Clarity-Signature: %s", sig);
        hdrs[0] = "Content-Type: application/json";
        hdrs[1] = h_ts;
        hdrs[2] = h_sig;
        hdrs[3] = NULL;
        memset(&req, 0, sizeof req);
        req.method = "POST";
        req.url = url;
        req.headers = hdrs;
        req.body = body;
        req.body_len = strlen(body);
        req.done = async_done;
        req.ctx = &ar;
        syncrt_http_submit(h, &req, &err);
        if (stall) {
            char c = 0;
            /* wait until the receiver has verified the request and is about to commit */
            while (!ar.finished) {
                fd_set rd;
                struct timeval tv = { 0, 10000 };
                FD_ZERO(&rd);
                FD_SET(fds[0], &rd);
                syncrt_http_run(h, &running, 10, &err);
                if (select(fds[0] + 1, &rd, NULL, NULL, &tv) > 0 && read(fds[0], &c, 1) == 1)
                    break;
            }
            CHECK(c == 'C' && !ar.finished, "the receiver verified the event and is about to commit");
            kill(pid, SIGKILL);
        }
        while (!ar.finished)
            syncrt_http_run(h, &running, 100, &err);
        if (!stall)
            kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        close(fds[0]);
        if (stall) {
            CHECK(ar.transport != SYNCRT_OK && ar.status == 0, "killed before the commit: the sender got no 2xx");
            CHECK_INT(count_rows(path, "dedup_key = 'evt_k'"), 0, "and nothing is in the inbox (it will redeliver)");
        } else {
            CHECK_INT(ar.status, 200, "a receiver that answered 200 ...");
            CHECK_INT(count_rows(path, "dedup_key = 'evt_k'"), 1, "... had committed: the record survives its kill");
        }
    }
    unlink(path);
}

/* ---- the sandbox's own webhooks ---- */

static void test_sandbox_events(syncrt_http *h, const char *clarity_root)
{
    char path[512], host[256], ctl[512], login[512], key[64], put[256];
    syncrt_store *s = NULL;
    syncrt_webhook *w = NULL;
    syncrt_webhook_options o;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_auth *auth = NULL;
    syncrt_auth_config ac;
    syncrt_clarity c;
    syncrt_clarity_action act;
    syncrt_http_response r;
    syncrt_http_request req;
    const char *hdrs[] = { "Content-Type: application/json", NULL };
    const char *cut;
    json_t *rec;
    int i;
    long long n = 0;

    cut = strstr(clarity_root, "/DesktopModules");
    snprintf(host, sizeof host, "%.*s", cut ? (int)(cut - clarity_root) : (int)strlen(clarity_root), clarity_root);
    snprintf(path, sizeof path, "%s/sandbox-hooks.db", tmpdir);
    if (syncrt_store_open(&s, path, NULL, &err) != SYNCRT_OK)
        return;
    memset(&o, 0, sizeof o);
    o.secret = SECRET;
    o.store = s;
    o.route = route;
    if (syncrt_webhook_start(&w, &o, &err) != SYNCRT_OK) {
        CHECK(0, "receiver: %s", err.message);
        syncrt_store_close(s);
        return;
    }
    snprintf(ctl, sizeof ctl, "%s/_sandbox/webhooks", host);
    snprintf(put, sizeof put, "{\"url\":\"http://127.0.0.1:%u/webhook\",\"secret\":\"%s\"}", syncrt_webhook_port(w),
             SECRET);
    memset(&req, 0, sizeof req);
    req.method = "PUT";
    req.url = ctl;
    req.headers = hdrs;
    req.body = put;
    req.body_len = strlen(put);
    syncrt_http_do(h, &r, &req, NULL);
    CHECK_INT(r.status, 200, "the sandbox's Clarity webhooks point at our receiver");
    syncrt_http_response_clear(&r);

    snprintf(login, sizeof login, "%s/auth/identity", clarity_root);
    memset(&ac, 0, sizeof ac);
    ac.kind = SYNCRT_AUTH_SESSION;
    ac.login_url = login;
    ac.username = "admin";
    ac.password = "admin";
    syncrt_auth_new(&auth, h, &ac, &err);
    memset(&c, 0, sizeof c);
    c.http = h;
    c.auth = auth;
    c.root = clarity_root;
    snprintf(key, sizeof key, "WH-%ld", (long)getpid());
    rec = json_pack("{s:s,s:s}", "CustomKey", key, "Name", "Webhook Test");
    syncrt_clarity_upsert(&act, &c, "Accounts/Account", rec, &err);
    json_decref(rec);
    CHECK(act.succeeded, "an account is created in the sandbox (%s)", act.messages);
    for (i = 0; i < 100; i++) {         /* the sandbox delivers from its outbox thread */
        char where[200];
        snprintf(where, sizeof where, "flow = 'accounts' AND source_key = 'Account.Created:%lld'", act.id);
        n = count_rows(path, where);
        if (n > 0)
            break;
        usleep(100000);
    }
    CHECK_INT(n, 1, "its signed Account.Created event reached the inbox through our receiver");
    req.body = "{\"url\":\"\"}";
    req.body_len = strlen(req.body);
    syncrt_http_do(h, &r, &req, NULL);
    syncrt_http_response_clear(&r);
    syncrt_auth_free(auth);
    syncrt_webhook_stop(w);
    syncrt_store_close(s);
    unlink(path);
}

int main(void)
{
    syncrt_http *h = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    const char *t = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *clarity = getenv("SYNCRT_TEST_CLARITY");

    snprintf(tmpdir, sizeof tmpdir, "%s/syncrt-webhook-XXXXXX", t);
    if (!mkdtemp(tmpdir) || syncrt_http_new(&h, NULL, &err) != SYNCRT_OK) {
        CHECK(0, "setup");
        return test_done();
    }
    test_receiver(h);
    test_kill_before_commit(h);
    if (clarity)
        test_sandbox_events(h, clarity);
    else
        CHECK(0, "SYNCRT_TEST_CLARITY is set: suite.sh started build/sandbox");
    syncrt_http_free(h);
    {
        char p[600];
        const char *names[] = { "webhook.db", "kill.db", "sandbox-hooks.db" };
        size_t i;
        for (i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s/%s-wal", tmpdir, names[i]);
            unlink(p);
            snprintf(p, sizeof p, "%s/%s-shm", tmpdir, names[i]);
            unlink(p);
        }
    }
    rmdir(tmpdir);
    return test_done();
}
