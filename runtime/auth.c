/* auth.c - OAuth2 client credentials with a token cache, Clarity session login, Basic and
 * API-key headers, and secret loading (the contract is in syncrt/auth.h). */
#include "syncrt/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct syncrt_auth {
    syncrt_http *http;
    syncrt_auth_kind kind;
    char *token_url, *client_id, *client_secret, *resource, *scope;
    char *login_url, *username, *password, *api_key_header, *api_key;
    int64_t refresh_ahead_ms;
    syncrt_clock_fn clock;
    void *clock_ctx;
    char *line;             /* the current header line, NULL when none yet */
    int64_t expires_at;     /* OAuth2: when the cached token dies */
    int64_t lifetime_ms;
    unsigned fetches;
};

static char *dup_or_null(const char *s, int *oom)
{
    char *d;
    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

void syncrt_auth_free(syncrt_auth *a)
{
    if (!a)
        return;
    free(a->token_url);
    free(a->client_id);
    if (a->client_secret)
        memset(a->client_secret, 0, strlen(a->client_secret));
    free(a->client_secret);
    free(a->resource);
    free(a->scope);
    free(a->login_url);
    free(a->username);
    if (a->password)
        memset(a->password, 0, strlen(a->password));
    free(a->password);
    free(a->api_key_header);
    if (a->api_key)
        memset(a->api_key, 0, strlen(a->api_key));
    free(a->api_key);
    free(a->line);
    free(a);
}

syncrt_status syncrt_auth_new(syncrt_auth **out, syncrt_http *http, const syncrt_auth_config *cfg,
                              syncrt_error *err)
{
    syncrt_auth *a;
    int oom = 0;
    const char *missing = NULL;

    *out = NULL;
    if (!cfg)
        return syncrt_error_set(err, SYNCRT_EINVAL, "auth: no configuration");
    switch (cfg->kind) {
    case SYNCRT_AUTH_NONE:
        break;
    case SYNCRT_AUTH_OAUTH2:
        if (!cfg->token_url) missing = "token_url";
        else if (!cfg->client_id) missing = "client_id";
        else if (!cfg->client_secret) missing = "client_secret";
        else if (!cfg->resource == !cfg->scope) missing = "exactly one of resource (v1) and scope (v2)";
        break;
    case SYNCRT_AUTH_SESSION:
        if (!cfg->login_url) missing = "login_url";
        /* fall through */
    case SYNCRT_AUTH_BASIC:
        if (!missing && !cfg->username) missing = "username";
        else if (!missing && !cfg->password) missing = "password";
        break;
    case SYNCRT_AUTH_API_KEY:
        if (!cfg->api_key) missing = "api_key";
        break;
    default:
        return syncrt_error_set(err, SYNCRT_EINVAL, "auth: unknown kind %d", (int)cfg->kind);
    }
    if (missing)
        return syncrt_error_set(err, SYNCRT_EINVAL, "auth: missing %s", missing);
    if ((cfg->kind == SYNCRT_AUTH_OAUTH2 || cfg->kind == SYNCRT_AUTH_SESSION) && !http)
        return syncrt_error_set(err, SYNCRT_EINVAL, "auth: this kind needs an http client");
    a = calloc(1, sizeof *a);
    if (!a)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    a->http = http;
    a->kind = cfg->kind;
    a->token_url = dup_or_null(cfg->token_url, &oom);
    a->client_id = dup_or_null(cfg->client_id, &oom);
    a->client_secret = dup_or_null(cfg->client_secret, &oom);
    a->resource = dup_or_null(cfg->resource, &oom);
    a->scope = dup_or_null(cfg->scope, &oom);
    a->login_url = dup_or_null(cfg->login_url, &oom);
    a->username = dup_or_null(cfg->username, &oom);
    a->password = dup_or_null(cfg->password, &oom);
    a->api_key_header = dup_or_null(cfg->api_key_header ? cfg->api_key_header : "X-Api-Key", &oom);
    a->api_key = dup_or_null(cfg->api_key, &oom);
    a->refresh_ahead_ms = cfg->refresh_ahead_ms > 0 ? cfg->refresh_ahead_ms : 5 * 60 * 1000;
    a->clock = cfg->clock ? cfg->clock : syncrt_clock_real;
    a->clock_ctx = cfg->clock_ctx;
    if (oom) {
        syncrt_auth_free(a);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    *out = a;
    return SYNCRT_OK;
}

unsigned syncrt_auth_fetch_count(const syncrt_auth *a)
{
    return a->fetches;
}

char *syncrt_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), i, o = 0;
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

static syncrt_status set_line(syncrt_auth *a, const char *name, const char *prefix,
                              const char *value, syncrt_error *err)
{
    size_t n = strlen(name) + strlen(prefix) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    snprintf(line, n, "%s: %s%s", name, prefix, value);
    free(a->line);
    a->line = line;
    return SYNCRT_OK;
}

/* A short reason from an error body: Entra's error_description (first line), ServiceStack's
 * ResponseStatus.Message, or the raw text. */
static void error_reason(char *buf, size_t n, const char *body)
{
    json_t *doc = body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
    const char *text = NULL;
    size_t len;
    if (json_is_object(doc)) {
        text = json_string_value(json_object_get(doc, "error_description"));
        if (!text)
            text = json_string_value(json_object_get(json_object_get(doc, "ResponseStatus"), "Message"));
        if (!text)
            text = json_string_value(json_object_get(doc, "error"));
    }
    if (!text)
        text = body ? body : "";
    len = strcspn(text, "\r\n");
    if (len >= n)
        len = n - 1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    json_decref(doc);
}

static syncrt_status oauth2_fetch(syncrt_auth *a, syncrt_error *err)
{
    static const char *const hdrs[] = { "Content-Type: application/x-www-form-urlencoded",
                                        "Accept: application/json", NULL };
    char *id = syncrt_url_encode(a->client_id), *secret = syncrt_url_encode(a->client_secret);
    char *aud = syncrt_url_encode(a->scope ? a->scope : a->resource);
    char *body = NULL, reason[160];
    size_t n;
    syncrt_http_response r;
    syncrt_http_request req;
    syncrt_status st;
    json_t *doc = NULL, *exp;
    const char *token, *type;
    int64_t life_s = 0, now;

    memset(&r, 0, sizeof r);
    if (!id || !secret || !aud) {
        st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
        goto out;
    }
    n = strlen(id) + strlen(secret) + strlen(aud) + 96;
    body = malloc(n);
    if (!body) {
        st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(body, n, "grant_type=client_credentials&client_id=%s&client_secret=%s&%s=%s", id,
             secret, a->scope ? "scope" : "resource", aud);
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = a->token_url;
    req.headers = hdrs;
    req.body = body;
    req.body_len = strlen(body);
    a->fetches++;
    now = a->clock(a->clock_ctx);
    st = syncrt_http_do(a->http, &r, &req, err);
    if (st != SYNCRT_OK)
        goto out;
    if (r.status == 400 || r.status == 401 || r.status == 403) {
        error_reason(reason, sizeof reason, r.body);
        st = syncrt_error_set(err, SYNCRT_EAUTH, "token endpoint refused the client (%ld): %s",
                              r.status, reason);
        goto out;
    }
    if (r.status != 200) {
        st = syncrt_error_set(err, SYNCRT_EHTTP, "token endpoint answered %ld", r.status);
        goto out;
    }
    doc = json_loads(r.body, 0, NULL);
    token = json_string_value(json_object_get(doc, "access_token"));
    type = json_string_value(json_object_get(doc, "token_type"));
    exp = json_object_get(doc, "expires_in");
    if (json_is_integer(exp))
        life_s = (int64_t)json_integer_value(exp);
    else if (json_is_string(exp))   /* the v1 endpoint sends numbers as strings */
        life_s = strtoll(json_string_value(exp), NULL, 10);
    if (!token || !*token) {
        st = syncrt_error_set(err, SYNCRT_EPARSE, "token response without access_token");
        goto out;
    }
    if (life_s <= 0)
        life_s = 300;               /* unknown lifetime: assume short, refresh early */
    if (type && strcasecmp(type, "Bearer") != 0) {
        st = syncrt_error_set(err, SYNCRT_EPARSE, "token type %s is not Bearer", type);
        goto out;
    }
    st = set_line(a, "Authorization", "Bearer ", token, err);
    if (st == SYNCRT_OK) {
        a->lifetime_ms = life_s * 1000;
        a->expires_at = now + a->lifetime_ms;   /* from the request time: errs on the early side */
    }
out:
    json_decref(doc);
    syncrt_http_response_clear(&r);
    if (body)
        memset(body, 0, strlen(body));
    if (secret)
        memset(secret, 0, strlen(secret));
    free(id);
    free(secret);
    free(aud);
    free(body);
    return st;
}

/* The value of cookie name in a Set-Cookie header, malloc'd, or NULL. */
static char *cookie_value(const char *set_cookie, const char *name)
{
    size_t n = strlen(name);
    const char *p = set_cookie;
    while (p && *p) {
        while (*p == ' ' || *p == ';' || *p == ',')
            p++;
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return strndup(p + n + 1, strcspn(p + n + 1, ";, "));
        p = strpbrk(p, ";,");
    }
    return NULL;
}

static syncrt_status session_login(syncrt_auth *a, syncrt_error *err)
{
    static const char *const hdrs[] = { "Content-Type: application/json",
                                        "Accept: application/json", NULL };
    json_t *req_doc = json_pack("{s:s,s:s}", "UserName", a->username, "Password", a->password);
    char *body = req_doc ? json_dumps(req_doc, JSON_COMPACT) : NULL, *sid = NULL, reason[160];
    syncrt_http_response r;
    syncrt_http_request req;
    syncrt_status st;
    json_t *doc = NULL;
    const char *s;

    memset(&r, 0, sizeof r);
    if (!body) {
        st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
        goto out;
    }
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = a->login_url;
    req.headers = hdrs;
    req.body = body;
    req.body_len = strlen(body);
    a->fetches++;
    st = syncrt_http_do(a->http, &r, &req, err);
    if (st != SYNCRT_OK)
        goto out;
    if (r.status == 400 || r.status == 401 || r.status == 403) {
        error_reason(reason, sizeof reason, r.body);
        st = syncrt_error_set(err, SYNCRT_EAUTH, "login refused (%ld): %s", r.status, reason);
        goto out;
    }
    if (r.status != 200) {
        st = syncrt_error_set(err, SYNCRT_EHTTP, "login endpoint answered %ld", r.status);
        goto out;
    }
    doc = json_loads(r.body, 0, NULL);
    s = json_string_value(json_object_get(doc, "SessionId"));
    if (s && *s) {
        sid = strdup(s);
    } else {
        size_t i;
        for (i = 0; i < r.header_count && !sid; i++)
            if (strcasecmp(r.headers[i].name, "Set-Cookie") == 0)
                sid = cookie_value(r.headers[i].value, "ss-id");
    }
    if (!sid) {
        st = syncrt_error_set(err, SYNCRT_EPARSE, "login response without SessionId or ss-id cookie");
        goto out;
    }
    st = set_line(a, "X-ss-id", "", sid, err);
out:
    free(sid);
    json_decref(doc);
    json_decref(req_doc);
    syncrt_http_response_clear(&r);
    if (body)
        memset(body, 0, strlen(body));
    free(body);
    return st;
}

static syncrt_status basic_line(syncrt_auth *a, syncrt_error *err)
{
    size_t n = strlen(a->username) + strlen(a->password) + 2;
    char *plain = malloc(n), *b64 = malloc(4 * ((n + 2) / 3) + 1);
    syncrt_status st;
    if (!plain || !b64) {
        st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    } else {
        snprintf(plain, n, "%s:%s", a->username, a->password);
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, (int)strlen(plain));
        st = set_line(a, "Authorization", "Basic ", b64, err);
        memset(plain, 0, n);
    }
    free(plain);
    free(b64);
    return st;
}

syncrt_status syncrt_auth_header(syncrt_auth *a, const char **line, syncrt_error *err)
{
    syncrt_status st = SYNCRT_OK;
    *line = NULL;
    switch (a->kind) {
    case SYNCRT_AUTH_NONE:
        return SYNCRT_OK;
    case SYNCRT_AUTH_OAUTH2: {
        int64_t ahead = a->refresh_ahead_ms;
        if (a->lifetime_ms / 4 < ahead)
            ahead = a->lifetime_ms / 4;
        if (!a->line || a->clock(a->clock_ctx) >= a->expires_at - ahead)
            st = oauth2_fetch(a, err);
        break;
    }
    case SYNCRT_AUTH_SESSION:
        if (!a->line)
            st = session_login(a, err);
        break;
    case SYNCRT_AUTH_BASIC:
        if (!a->line)
            st = basic_line(a, err);
        break;
    case SYNCRT_AUTH_API_KEY:
        if (!a->line)
            st = set_line(a, a->api_key_header, "", a->api_key, err);
        break;
    }
    if (st == SYNCRT_OK)
        *line = a->line;
    return st;
}

syncrt_status syncrt_auth_unauthorized(syncrt_auth *a, const char *sent_line, syncrt_error *err)
{
    const char *line = NULL;
    switch (a->kind) {
    case SYNCRT_AUTH_NONE:
    case SYNCRT_AUTH_BASIC:
    case SYNCRT_AUTH_API_KEY:
        return syncrt_error_set(err, SYNCRT_EAUTH, "credentials refused (nothing to refresh)");
    case SYNCRT_AUTH_OAUTH2:
    case SYNCRT_AUTH_SESSION:
        break;
    }
    /* Only drop the credential that was refused: another request may have renewed it
     * meanwhile, and then the caller just retries with the new one. */
    if (a->line && sent_line && strcmp(a->line, sent_line) == 0) {
        free(a->line);
        a->line = NULL;
    }
    return syncrt_auth_header(a, &line, err);
}

/* Sends req with the header line added to its headers. */
static syncrt_status auth_send(syncrt_auth *a, syncrt_http_response *resp,
                               const syncrt_http_request *req, const char *line, syncrt_error *err)
{
    const char **hdrs;
    size_t n = 0, i;
    syncrt_http_request r = *req;
    syncrt_status st;

    while (req->headers && req->headers[n])
        n++;
    hdrs = calloc(n + 2, sizeof *hdrs);
    if (!hdrs)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    for (i = 0; i < n; i++)
        hdrs[i] = req->headers[i];
    hdrs[n] = line;                  /* NULL for SYNCRT_AUTH_NONE: ends the list early */
    r.headers = hdrs;
    st = syncrt_http_do(a->http, resp, &r, err);
    free(hdrs);
    return st;
}

syncrt_status syncrt_auth_do(syncrt_auth *a, syncrt_http_response *resp,
                             const syncrt_http_request *req, syncrt_error *err)
{
    const char *line = NULL;
    char *sent = NULL;
    syncrt_status st;

    memset(resp, 0, sizeof *resp);
    if (!a->http)
        return syncrt_error_set(err, SYNCRT_EINVAL, "auth: no http client");
    st = syncrt_auth_header(a, &line, err);
    if (st != SYNCRT_OK)
        return st;
    if (line && !(sent = strdup(line)))
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    st = auth_send(a, resp, req, sent, err);
    /* Basic and API keys have nothing to refresh: their 401 stands as it is. */
    if (st == SYNCRT_OK && resp->status == 401 &&
        (a->kind == SYNCRT_AUTH_OAUTH2 || a->kind == SYNCRT_AUTH_SESSION)) {
        st = syncrt_auth_unauthorized(a, sent, err);
        if (st == SYNCRT_OK) {
            syncrt_http_response_clear(resp);
            st = syncrt_auth_header(a, &line, err);
            if (st == SYNCRT_OK)
                st = auth_send(a, resp, req, line, err);
        }
        /* else EAUTH (the token endpoint refused the client: revoked credentials) or a
         * transport status (could not reach it: transient); resp keeps the 401 */
    }
    if (sent)
        memset(sent, 0, strlen(sent));
    free(sent);
    return st;
}

syncrt_status syncrt_auth_secret_load(char **out, const char *ref, syncrt_error *err)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    syncrt_status st = SYNCRT_OK;
    int fd = -1;
    struct stat sb;

    *out = NULL;
    if (!ref)
        return syncrt_error_set(err, SYNCRT_EINVAL, "secret: no reference");
    if (strncmp(ref, "env:", 4) == 0) {
        const char *v = getenv(ref + 4);
        if (!v || !*v)
            return syncrt_error_set(err, SYNCRT_EAUTH, "secret: environment variable %s is not set",
                                    ref + 4);
        *out = strdup(v);
        return *out ? SYNCRT_OK : syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    if (strncmp(ref, "file:", 5) != 0)
        return syncrt_error_set(err, SYNCRT_EINVAL,
                                "secret: reference must be env:NAME or file:PATH (secrets are never "
                                "written in the configuration itself)");
    fd = open(ref + 5, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        st = syncrt_error_set(err, SYNCRT_EIO, "secret file %s: %s", ref + 5, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = syncrt_error_set(err, SYNCRT_EIO, "secret file %s: not a regular file", ref + 5);
        goto out;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        st = syncrt_error_set(err, SYNCRT_EPERM,
                              "secret file %s has mode %03o: readable by group or others "
                              "(chmod 600 it)", ref + 5, (unsigned)(sb.st_mode & 0777));
        goto out;
    }
    for (;;) {
        ssize_t got;
        if (len + 256 > cap) {
            char *bigger;
            if (cap >= 65536) {
                st = syncrt_error_set(err, SYNCRT_ERANGE, "secret file %s is over 64 KiB", ref + 5);
                goto out;
            }
            bigger = realloc(buf, cap ? cap * 2 : 512);
            if (!bigger) {
                st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
                goto out;
            }
            buf = bigger;
            cap = cap ? cap * 2 : 512;
        }
        got = read(fd, buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            st = syncrt_error_set(err, SYNCRT_EIO, "secret file %s: %s", ref + 5, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0) {
        st = syncrt_error_set(err, SYNCRT_EAUTH, "secret file %s is empty", ref + 5);
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
out:
    if (fd >= 0)
        close(fd);
    if (buf) {
        memset(buf, 0, cap);
        free(buf);
    }
    return st;
}
