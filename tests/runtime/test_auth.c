/* test_auth.c - credentials over real sockets against tests/runtime/httpd.py's token endpoint
 * and Clarity login (sandbox credentials: sync-client/sync-secret, admin/admin): OAuth2 v1 and
 * v2 forms, the token cache and refresh ahead of expiry on an injected clock, one refresh
 * after a 401, revoked credentials giving SYNCRT_EAUTH without a retry loop, session login and
 * re-login, Basic, API key, secret loading and its permission check, and no secret in the log. */
#include "syncrt/auth.h"
#include "testhelp.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *base;
static char tmpdir[256];

typedef struct { int64_t now; } fake_clock;
static int64_t fake_now(void *ctx) { return ((fake_clock *)ctx)->now; }

static char *url(const char *path)
{
    static char buf[8][512];
    static int i;
    char *u = buf[i++ % 8];
    snprintf(u, 512, "%s%s", base, path);
    return u;
}

/* POST a control route of the test server. */
static void ctl(syncrt_http *h, const char *path)
{
    syncrt_http_response r;
    syncrt_http_request req = { "POST", url(path), NULL, NULL, 0, NULL, NULL, NULL, 0, 0 };
    syncrt_http_do(h, &r, &req, NULL);
    syncrt_http_response_clear(&r);
}

static long server_count(syncrt_http *h, const char *what)
{
    syncrt_http_response r;
    syncrt_http_request req = { "GET", url("/_ctl/counts"), NULL, NULL, 0, NULL, NULL, NULL, 0, 0 };
    json_t *doc;
    long n = -1;
    if (syncrt_http_do(h, &r, &req, NULL) == SYNCRT_OK && (doc = json_loads(r.body, 0, NULL))) {
        n = (long)json_integer_value(json_object_get(doc, what));
        json_decref(doc);
    }
    syncrt_http_response_clear(&r);
    return n;
}

static long get_status(syncrt_auth *a, const char *path, syncrt_status *st)
{
    syncrt_http_response r;
    syncrt_http_request req = { "GET", url(path), NULL, NULL, 0, NULL, NULL, NULL, 0, 0 };
    syncrt_error err = { SYNCRT_OK, "" };
    long status;
    *st = syncrt_auth_do(a, &r, &req, &err);
    status = r.status;
    syncrt_http_response_clear(&r);
    return status;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    chmod(path, mode);
}

static void test_secrets(void)
{
    char path[512], link[512], ref[600], *s = NULL;
    syncrt_error err = { SYNCRT_OK, "" };

    setenv("SYNCRT_TEST_SECRET", "from-env", 1);
    CHECK_INT(syncrt_auth_secret_load(&s, "env:SYNCRT_TEST_SECRET", &err), SYNCRT_OK, "env secret");
    CHECK_STR(s, "from-env", "env value");
    free(s);
    CHECK_INT(syncrt_auth_secret_load(&s, "env:SYNCRT_TEST_NO_SUCH_VAR", &err), SYNCRT_EAUTH, "unset env var");
    CHECK_INT(syncrt_auth_secret_load(&s, "sync-secret", &err), SYNCRT_EINVAL, "a literal secret is refused");

    snprintf(path, sizeof path, "%s/secret", tmpdir);
    snprintf(ref, sizeof ref, "file:%s", path);
    write_file(path, "sync-secret\n", 0600);
    CHECK_INT(syncrt_auth_secret_load(&s, ref, &err), SYNCRT_OK, "0600 secret file (%s)", err.message);
    CHECK_STR(s, "sync-secret", "trailing newline dropped");
    free(s);
    s = NULL;
    chmod(path, 0644);
    CHECK_INT(syncrt_auth_secret_load(&s, ref, &err), SYNCRT_EPERM, "0644 refused");
    CHECK(strstr(err.message, "644") != NULL, "message gives the mode: %s", err.message);
    CHECK(s == NULL, "no secret handed out");
    chmod(path, 0640);
    CHECK_INT(syncrt_auth_secret_load(&s, ref, &err), SYNCRT_EPERM, "0640 (group-readable) refused");
    chmod(path, 0602);
    CHECK_INT(syncrt_auth_secret_load(&s, ref, &err), SYNCRT_EPERM, "0602 (others-writable) refused");
    chmod(path, 0400);
    CHECK_INT(syncrt_auth_secret_load(&s, ref, &err), SYNCRT_OK, "0400 accepted");
    free(s);
    s = NULL;
    snprintf(link, sizeof link, "%s/link", tmpdir);
    if (symlink(path, link) == 0) {
        snprintf(ref, sizeof ref, "file:%s", link);
        CHECK_INT(syncrt_auth_secret_load(&s, ref, &err), SYNCRT_EIO, "a symlink is not followed");
        unlink(link);
    }
    snprintf(ref, sizeof ref, "file:%s/none", tmpdir);
    CHECK_INT(syncrt_auth_secret_load(&s, ref, &err), SYNCRT_EIO, "missing file");
    chmod(path, 0600);
    write_file(path, "\n", 0600);
    snprintf(ref, sizeof ref, "file:%s", path);
    CHECK_INT(syncrt_auth_secret_load(&s, ref, &err), SYNCRT_EAUTH, "empty secret refused");
    unlink(path);
}

static void test_url_encode(void)
{
    char *e = syncrt_url_encode("a b&c=d/\xC3\xA9~.-_");
    CHECK_STR(e, "a%20b%26c%3Dd%2F%C3%A9~.-_", "URL encoding keeps only unreserved characters");
    free(e);
}

static void test_config_errors(syncrt_http *h)
{
    syncrt_auth *a = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_auth_config c;
    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_OAUTH2;
    c.token_url = "x";
    c.client_id = "id";
    c.client_secret = "s";
    CHECK_INT(syncrt_auth_new(&a, h, &c, &err), SYNCRT_EINVAL, "OAuth2 needs resource or scope");
    c.resource = "r";
    c.scope = "s/.default";
    CHECK_INT(syncrt_auth_new(&a, h, &c, &err), SYNCRT_EINVAL, "not both");
    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_SESSION;
    c.login_url = "x";
    c.username = "admin";
    CHECK_INT(syncrt_auth_new(&a, h, &c, &err), SYNCRT_EINVAL, "session needs a password (%s)", err.message);
}

static void test_oauth2_v2(syncrt_http *h)
{
    fake_clock clk = { 1000000000 };
    syncrt_auth_config c;
    syncrt_auth *a = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_status st;
    const char *line = NULL;
    char first[128] = "";
    long before;

    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_OAUTH2;
    c.token_url = url("/sandbox/oauth2/v2.0/token");
    c.client_id = "sync-client";
    c.client_secret = "sync-secret";
    c.scope = "http://127.0.0.1/.default";
    c.clock = fake_now;
    c.clock_ctx = &clk;
    ctl(h, "/_ctl/token_life?s=3599");
    if (syncrt_auth_new(&a, h, &c, &err) != SYNCRT_OK) {
        CHECK(0, "auth_new: %s", err.message);
        return;
    }
    before = server_count(h, "token_requests");
    CHECK_INT(syncrt_auth_header(a, &line, &err), SYNCRT_OK, "v2 token (%s)", err.message);
    CHECK(line && strncmp(line, "Authorization: Bearer tok-", 26) == 0, "bearer header: %s", line ? line : "");
    snprintf(first, sizeof first, "%s", line ? line : "");
    CHECK_INT(get_status(a, "/d365/protected", &st), 200, "the token opens the protected route");
    CHECK_INT(get_status(a, "/d365/protected", &st), 200, "twice");
    CHECK_INT(syncrt_auth_fetch_count(a), 1, "the token is cached");
    CHECK_INT(server_count(h, "token_requests") - before, 1, "one token request reached the server");

    clk.now += (3599 - 301) * 1000LL;
    syncrt_auth_header(a, &line, &err);
    CHECK_INT(syncrt_auth_fetch_count(a), 1, "no refresh 5 min + 1 s before expiry");
    clk.now += 1000;
    syncrt_auth_header(a, &line, &err);
    CHECK_INT(syncrt_auth_fetch_count(a), 2, "refresh 5 min ahead of expiry");
    CHECK(line && strcmp(line, first) != 0, "a new token");

    /* short-lived tokens: refresh a quarter of the life ahead */
    ctl(h, "/_ctl/token_life?s=60");
    clk.now += 3600 * 1000LL;
    syncrt_auth_header(a, &line, &err);
    CHECK_INT(syncrt_auth_fetch_count(a), 3, "expired token refetched");
    clk.now += 44 * 1000;
    syncrt_auth_header(a, &line, &err);
    CHECK_INT(syncrt_auth_fetch_count(a), 3, "60 s token: kept at 44 s");
    clk.now += 1000;
    syncrt_auth_header(a, &line, &err);
    CHECK_INT(syncrt_auth_fetch_count(a), 4, "60 s token: refreshed at 45 s (a quarter ahead)");
    ctl(h, "/_ctl/token_life?s=3599");

    /* revoked token: one refresh after the 401, transparent */
    ctl(h, "/_ctl/revoke");
    CHECK_INT(get_status(a, "/d365/protected", &st), 200, "a revoked token is replaced after one 401");
    CHECK_INT(st, SYNCRT_OK, "status OK");
    CHECK_INT(syncrt_auth_fetch_count(a), 5, "exactly one refetch");

    /* revoked credentials: EAUTH, no loop */
    ctl(h, "/_ctl/secret?s=rotated");
    ctl(h, "/_ctl/revoke");
    before = server_count(h, "token_requests");
    {
        syncrt_http_response r;
        syncrt_http_request req = { "GET", url("/d365/protected"), NULL, NULL, 0, NULL, NULL, NULL, 0, 0 };
        st = syncrt_auth_do(a, &r, &req, &err);
        CHECK_INT(st, SYNCRT_EAUTH, "revoked client credentials: EAUTH");
        CHECK(strstr(err.message, "AADSTS7000215") != NULL, "with Entra's reason: %s", err.message);
        CHECK_INT(r.status, 401, "the request's 401 is kept");
        syncrt_http_response_clear(&r);
    }
    CHECK_INT(server_count(h, "token_requests") - before, 1, "one token attempt, no retry loop");
    CHECK_INT(syncrt_auth_header(a, &line, &err), SYNCRT_EAUTH, "still refused while the secret is wrong");
    ctl(h, "/_ctl/secret?s=sync-secret");
    CHECK_INT(get_status(a, "/d365/protected", &st), 200, "resumes when the credentials are fixed");
    syncrt_auth_free(a);
}

static void test_oauth2_v1(syncrt_http *h)
{
    fake_clock clk = { 5000000 };
    syncrt_auth_config c;
    syncrt_auth *a = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_status st;
    const char *line = NULL;

    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_OAUTH2;
    c.token_url = url("/sandbox/oauth2/token");
    c.client_id = "sync-client";
    c.client_secret = "sync-secret";
    c.resource = "http://127.0.0.1";
    c.refresh_ahead_ms = 60000;
    c.clock = fake_now;
    c.clock_ctx = &clk;
    if (syncrt_auth_new(&a, h, &c, &err) != SYNCRT_OK)
        return;
    CHECK_INT(get_status(a, "/d365/protected", &st), 200, "v1 resource= token works");
    clk.now += (3599 - 61) * 1000LL;
    syncrt_auth_header(a, &line, &err);
    CHECK_INT(syncrt_auth_fetch_count(a), 1, "v1 expires_in given as a string is understood");
    clk.now += 1000;
    syncrt_auth_header(a, &line, &err);
    CHECK_INT(syncrt_auth_fetch_count(a), 2, "and refreshed 60 s ahead as configured");
    syncrt_auth_free(a);

    c.client_secret = "wrong";
    syncrt_auth_new(&a, h, &c, &err);
    CHECK_INT(syncrt_auth_header(a, &line, &err), SYNCRT_EAUTH, "a wrong secret is EAUTH");
    syncrt_auth_free(a);
    c.client_secret = "sync-secret";
    c.token_url = url("/nowhere/token-endpoint-missing");
    syncrt_auth_new(&a, h, &c, &err);
    CHECK_INT(syncrt_auth_header(a, &line, &err), SYNCRT_EHTTP, "a 404 from the token URL is not EAUTH (%s)",
              err.message);
    syncrt_auth_free(a);
}

static void test_clarity_kinds(syncrt_http *h)
{
    syncrt_auth_config c;
    syncrt_auth *a = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_status st;
    const char *line = NULL;
    long logins;

    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_SESSION;
    c.login_url = url("/auth/identity");
    c.username = "admin";
    c.password = "admin";
    if (syncrt_auth_new(&a, h, &c, &err) != SYNCRT_OK)
        return;
    logins = server_count(h, "logins");
    CHECK_INT(syncrt_auth_header(a, &line, &err), SYNCRT_OK, "session login (%s)", err.message);
    CHECK(line && strncmp(line, "X-ss-id: sess-", 14) == 0, "X-ss-id header: %s", line ? line : "");
    CHECK_INT(get_status(a, "/clarity/protected", &st), 200, "the session opens Clarity");
    ctl(h, "/_ctl/revoke");
    CHECK_INT(get_status(a, "/clarity/protected", &st), 200, "expired session: re-login after the 401");
    CHECK_INT(server_count(h, "logins") - logins, 2, "two logins in all");
    syncrt_auth_free(a);

    c.password = "nope";
    syncrt_auth_new(&a, h, &c, &err);
    CHECK_INT(syncrt_auth_header(a, &line, &err), SYNCRT_EAUTH, "wrong password is EAUTH");
    CHECK(strstr(err.message, "Invalid UserName or Password") != NULL, "ServiceStack's message: %s", err.message);
    syncrt_auth_free(a);

    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_BASIC;
    c.username = "admin";
    c.password = "admin";
    syncrt_auth_new(&a, h, &c, &err);
    syncrt_auth_header(a, &line, &err);
    CHECK_STR(line, "Authorization: Basic YWRtaW46YWRtaW4=", "Basic header");
    CHECK_INT(get_status(a, "/clarity/protected", &st), 200, "Basic opens Clarity");
    syncrt_auth_free(a);
    c.password = "bad";
    syncrt_auth_new(&a, h, &c, &err);
    CHECK_INT(get_status(a, "/clarity/protected", &st), 401, "bad Basic: the 401 stands");
    CHECK_INT(st, SYNCRT_OK, "as a response (the caller classifies it as auth)");
    CHECK_INT(syncrt_auth_unauthorized(a, line, &err), SYNCRT_EAUTH, "Basic has nothing to refresh");
    syncrt_auth_free(a);

    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_API_KEY;
    c.api_key_header = "X-Clarity-Api-Key";
    c.api_key = "test-key";
    syncrt_auth_new(&a, h, &c, &err);
    CHECK_INT(get_status(a, "/clarity/protected", &st), 200, "API key opens Clarity");
    syncrt_auth_free(a);
}

typedef struct { char text[16384]; } log_state;

static void log_cb(void *ctx, const syncrt_http_log_entry *e)
{
    log_state *s = ctx;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof s->text - used, "%s %s\n%s\n%s\n", e->method, e->url,
             e->request_headers, e->request_body ? e->request_body : "");
}

static void test_no_secret_in_log(void)
{
    syncrt_http_options o = { 0 };
    syncrt_http *h = NULL;
    syncrt_auth *a = NULL;
    syncrt_auth_config c;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_status st;
    static log_state ls;

    o.log = log_cb;
    o.log_ctx = &ls;
    if (syncrt_http_new(&h, &o, &err) != SYNCRT_OK)
        return;
    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_OAUTH2;
    c.token_url = url("/sandbox/oauth2/v2.0/token");
    c.client_id = "sync-client";
    c.client_secret = "sync-secret";
    c.scope = "http://127.0.0.1/.default";
    syncrt_auth_new(&a, h, &c, &err);
    get_status(a, "/d365/protected", &st);
    syncrt_auth_free(a);
    memset(&c, 0, sizeof c);
    c.kind = SYNCRT_AUTH_SESSION;
    c.login_url = url("/auth/identity");
    c.username = "admin";
    c.password = "admin-password-xyz";
    syncrt_auth_new(&a, h, &c, &err);
    get_status(a, "/clarity/protected", &st);
    syncrt_auth_free(a);
    CHECK(strstr(ls.text, "client_secret=[REDACTED]") != NULL, "the token request is logged, secret redacted");
    CHECK(strstr(ls.text, "sync-secret") == NULL, "the client secret never reaches the log");
    CHECK(strstr(ls.text, "Bearer [REDACTED]") != NULL, "the bearer token is redacted");
    CHECK(strstr(ls.text, "tok-") == NULL, "no token text in the log");
    CHECK(strstr(ls.text, "admin-password-xyz") == NULL, "the password never reaches the log");
    syncrt_http_free(h);
}

int main(void)
{
    syncrt_http *h = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    const char *t = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    snprintf(tmpdir, sizeof tmpdir, "%s/syncrt-auth-XXXXXX", t);
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return test_done();
    }
    test_secrets();
    test_url_encode();
    rmdir(tmpdir);
    base = getenv("SYNCRT_TEST_HTTP");
    if (!base) {
        CHECK(0, "SYNCRT_TEST_HTTP is set (run through suite.sh)");
        return test_done();
    }
    if (syncrt_http_new(&h, NULL, &err) != SYNCRT_OK) {
        CHECK(0, "http_new: %s", err.message);
        return test_done();
    }
    test_config_errors(h);
    test_oauth2_v2(h);
    test_oauth2_v1(h);
    test_clarity_kinds(h);
    syncrt_http_free(h);
    test_no_secret_in_log();
    return test_done();
}
