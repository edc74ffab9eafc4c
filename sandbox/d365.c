/* d365.c - the D365 F&O emulator's HTTP server (see d365.h): options, start/stop, routing,
 * the Entra ID token endpoint and bearer-token checks, fault injection around the data routes,
 * request statistics and the /_sandbox control routes. */
#include "d365_int.h"
#include "sb_http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

void d365_options_init(d365_options *o)
{
    memset(o, 0, sizeof *o);
    o->port = D365_DEFAULT_PORT;
    o->metadata = "specs/d365/metadata.xml";
    o->page_size = 10000;
    o->seed = 1;
    o->tenant = "sandbox";
    o->client_id = "sync-client";
    o->client_secret = "sync-secret";
    o->token_lifetime = 3599;
    o->max_body = 4u << 20;
    o->max_batch_ops = 100;
    o->credit_check = true;
    o->orderby = true;
}

static int parse_unsigned(const char *v, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!v || !*v || *v == '-')
        return -1;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno || n > max)
        return -1;
    *out = n;
    return 0;
}

static bool below(unsigned long long n, unsigned long long lo)
{
    return n < lo;
}

int d365_options_set(d365_options *o, const char *name, const char *value, char *err,
                     size_t errlen)
{
    unsigned long long n;
#define NUMOPT(opt, max, field, lo) \
    if (strcmp(name, opt) == 0) { \
        if (parse_unsigned(value, max, &n) < 0 || below(n, lo)) { \
            snprintf(err, errlen, "%s: '%s' is not a number in %llu..%llu", name, \
                     value ? value : "", (unsigned long long)(lo), (unsigned long long)(max)); \
            return -1; } \
        field = n; return 0; }
    NUMOPT("--d365-port", 65535, o->port, 0)
    NUMOPT("--page-size", 1000000, o->page_size, 1)
    NUMOPT("--seed", ULLONG_MAX, o->seed, 0)
    NUMOPT("--token-lifetime", 86400 * 7, o->token_lifetime, 1)
    NUMOPT("--d365-max-body", 1ull << 30, o->max_body, 1024)
    NUMOPT("--max-batch-ops", 100000, o->max_batch_ops, 1)
    NUMOPT("--extra-skus", 1000000, o->extra_skus, 0)
#undef NUMOPT
    if (strcmp(name, "--metadata") == 0) { o->metadata = value; return 0; }
    if (strcmp(name, "--data") == 0) { o->data_dir = value; return 0; }
    if (strcmp(name, "--config") == 0) { o->config = value; return 0; }
    if (strcmp(name, "--tenant") == 0) { o->tenant = value; return 0; }
    if (strcmp(name, "--client-id") == 0) { o->client_id = value; return 0; }
    if (strcmp(name, "--client-secret") == 0) { o->client_secret = value; return 0; }
    if (strcmp(name, "--d365-audience") == 0) { o->audience = value; return 0; }
    if (strcmp(name, "--credit-check") == 0) {
        if (strcmp(value, "on") == 0) o->credit_check = true;
        else if (strcmp(value, "off") == 0) o->credit_check = false;
        else { snprintf(err, errlen, "--credit-check: on or off"); return -1; }
        return 0;
    }
    if (strcmp(name, "--orderby") == 0) {
        if (strcmp(value, "on") == 0) o->orderby = true;
        else if (strcmp(value, "off") == 0) o->orderby = false;
        else { snprintf(err, errlen, "--orderby: on or off"); return -1; }
        return 0;
    }
    return 1;
}

const char *d365_options_help(void)
{
    return
        "D365 F&O emulator:\n"
        "  --d365-port N          port on 127.0.0.1 (default 7365; 0 = any free port)\n"
        "  --metadata FILE        the $metadata served and obeyed (default specs/d365/metadata.xml)\n"
        "  --page-size K          server page size; longer results get @odata.nextLink (10000)\n"

        "  --config FILE          JSON: {\"faults\":{...}, \"token_lifetime\":3599,\n"
        "                         \"max_body\":4194304, \"max_batch_ops\":100, \"credit_check\":true}\n"
        "  --tenant T             Entra tenant in the token URL (sandbox)\n"
        "  --client-id ID         accepted client id (sync-client)\n"
        "  --client-secret S      accepted client secret (sync-secret)\n"
        "  --d365-audience URL    token audience (default http://127.0.0.1:PORT)\n"
        "  --token-lifetime SEC   access token lifetime (3599)\n"
        "  --d365-max-body BYTES  larger request bodies get 413 (4194304)\n"
        "  --max-batch-ops N      operations allowed in one $batch (100)\n"
        "  --credit-check on|off  refuse sales orders over the customer's credit limit (on)\n"
        "  --extra-skus N         N more released products X000001.. in usmf with one on-hand\n"
        "                         row each in warehouse 11 (0; for the inventory benchmark)\n"
        "  --orderby on|off       sort collections by $orderby (on); off: check it, then\n"
        "                         ignore it (insertion order), like a server that does not sort\n"
        "  Faults (JSON, GET/PUT/DELETE http://127.0.0.1:7365/_sandbox/faults):\n"
        "    rate_limit rate_burst retry_after latency_ms jitter_ms error_500_share\n"
        "    error_503_share drop_share drop_next hang_share hang_next hang_ms seed\n"
        "  Control: /_sandbox/health, /_sandbox/stats (GET, DELETE), /_sandbox/revoke,\n"
        "    /_sandbox/expire, /_sandbox/ship|invoice|return|cancel?order=SO&company=usmf\n"
        "    (POST; cancel: the order and its lines Canceled, reservations released; 409 for\n"
        "    an order already delivered, invoiced or canceled)\n";
}

/* ------------------------------------------------------------------ tokens */

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t w = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[w++] = t[(v >> 18) & 63];
        out[w++] = t[(v >> 12) & 63];
        if (i + 1 < n) out[w++] = t[(v >> 6) & 63];
        if (i + 2 < n) out[w++] = t[v & 63];
    }
    out[w] = '\0';
}

static char *issue_token(d365_server *srv, const char *aud, time_t now, time_t exp)
{
    unsigned char rnd[32];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        for (size_t i = 0; i < sizeof rnd; i++) {
            srv->rand_state = srv->rand_state * 6364136223846793005ull + 1442695040888963407ull;
            rnd[i] = (unsigned char)(srv->rand_state >> 56);
        }
    char jti[64];
    b64url(rnd, 16, jti);
    json_t *payload = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s}", "aud", aud, "iss",
                                "https://sts.windows.net/sandbox/", "iat", (json_int_t)now, "nbf",
                                (json_int_t)now, "exp", (json_int_t)exp, "appid",
                                srv->opt.client_id, "tid", srv->opt.tenant, "jti", jti);
    char *pl = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (!pl)
        return NULL;
    static const char hdr[] = "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"sandbox\"}";
    size_t pln = strlen(pl);
    char *tok = malloc(4 * (sizeof hdr + pln + 64) / 3 + 16);
    if (!tok) {
        free(pl);
        return NULL;
    }
    b64url((const unsigned char *)hdr, sizeof hdr - 1, tok);
    size_t w = strlen(tok);
    tok[w++] = '.';
    b64url((const unsigned char *)pl, pln, tok + w);
    w += strlen(tok + w);
    tok[w++] = '.';
    b64url(rnd, sizeof rnd, tok + w);
    free(pl);
    return tok;
}

static bool audience_ok(d365_server *srv, const char *aud)
{
    size_t n = strlen(aud);
    while (n && aud[n - 1] == '/')
        n--;
    char local[80];
    snprintf(local, sizeof local, "http://localhost:%u", srv->port);
    if (srv->opt.audience) {
        size_t m = strlen(srv->opt.audience);
        while (m && srv->opt.audience[m - 1] == '/')
            m--;
        return n == m && strncasecmp(aud, srv->opt.audience, n) == 0;
    }
    return (n == strlen(srv->base_url) && strncasecmp(aud, srv->base_url, n) == 0) ||
           (n == strlen(local) && strncasecmp(aud, local, n) == 0);
}

static json_t *entra_error(const char *error, int code, const char *desc)
{
    char full[600];
    snprintf(full, sizeof full, "AADSTS%d: %s", code, desc);
    return json_pack("{s:s,s:s,s:[i],s:s,s:s,s:s}", "error", error, "error_description", full,
                     "error_codes", code, "timestamp", "2026-07-30 08:58:55Z", "trace_id",
                     "00000000-0000-0000-0000-000000000000", "correlation_id",
                     "00000000-0000-0000-0000-000000000000");
}

static unsigned token_endpoint(d365_server *srv, const char *tenant, bool v2,
                               const sb_request *rq, const char *ctype, json_t **out)
{
    char mt[128];
    sb_media_type(ctype, mt, sizeof mt);
    if (strcmp(tenant, srv->opt.tenant) != 0) {
        char d[300];
        snprintf(d, sizeof d, "Tenant '%s' not found. Check to make sure you have the correct "
                 "tenant ID and are signing into the correct cloud.", tenant);
        *out = entra_error("invalid_request", 90002, d);
        return 400;
    }
    if (strcmp(mt, "application/x-www-form-urlencoded") != 0) {
        *out = entra_error("invalid_request", 900144, "The request body must contain the "
                           "following parameter: 'grant_type'.");
        return 400;
    }
    json_t *form = sb_form_decode(rq->body, rq->len);
    if (!form) {
        *out = entra_error("invalid_request", 900144, "out of memory");
        return 500;
    }
    const char *gt = json_string_value(json_object_get(form, "grant_type"));
    const char *cid = json_string_value(json_object_get(form, "client_id"));
    const char *sec = json_string_value(json_object_get(form, "client_secret"));
    const char *scope = json_string_value(json_object_get(form, "scope"));
    const char *resource = json_string_value(json_object_get(form, "resource"));
    unsigned status = 200;
    char aud[512];
    if (!gt) {
        *out = entra_error("invalid_request", 900144, "The request body must contain the "
                           "following parameter: 'grant_type'.");
        status = 400;
    } else if (strcmp(gt, "client_credentials") != 0) {
        *out = entra_error("unsupported_grant_type", 70003, "The app requested an unsupported "
                           "grant type.");
        status = 400;
    } else if (!cid || !*cid) {
        *out = entra_error("invalid_request", 900144, "The request body must contain the "
                           "following parameter: 'client_id'.");
        status = 400;
    } else if (strcmp(cid, srv->opt.client_id) != 0) {
        char d[400];
        snprintf(d, sizeof d, "Application with identifier '%s' was not found in the directory "
                 "'%s'.", cid, tenant);
        *out = entra_error("unauthorized_client", 700016, d);
        status = 400;
    } else if (!sec || strcmp(sec, srv->opt.client_secret) != 0) {
        *out = entra_error("invalid_client", 7000215, "Invalid client secret provided. Ensure "
                           "the secret being sent in the request is the client secret value, "
                           "not the client secret ID.");
        status = 401;
    } else if (v2 && (!scope || !*scope)) {
        *out = entra_error("invalid_request", 900144, "The request body must contain the "
                           "following parameter: 'scope'.");
        status = 400;
    } else if (!v2 && (!resource || !*resource)) {
        *out = entra_error("invalid_request", 900144, "The request body must contain the "
                           "following parameter: 'resource'.");
        status = 400;
    } else {
        const char *res = v2 ? scope : resource;
        size_t n = strlen(res);
        if (v2) {
            if (n < 9 || strcmp(res + n - 9, "/.default") != 0) {
                *out = entra_error("invalid_scope", 1002012, "The provided value for scope is "
                                   "not valid. Client credential flows must have a scope value "
                                   "with /.default suffixed to the resource identifier.");
                status = 400;
                goto done;
            }
            n -= 9;
        }
        if (n >= sizeof aud || (strncmp(res, "http://", 7) != 0 && strncmp(res, "https://", 8) != 0)) {
            char d[700];
            snprintf(d, sizeof d, "The resource principal named %.*s was not found in the tenant "
                     "named %s.", (int)(n < 400 ? n : 400), res, tenant);
            *out = entra_error("invalid_resource", 500011, d);
            status = 400;
            goto done;
        }
        memcpy(aud, res, n);
        aud[n] = '\0';
        time_t now = time(NULL), exp = now + srv->opt.token_lifetime;
        char *tok = issue_token(srv, aud, now, exp);
        if (!tok) {
            *out = entra_error("temporarily_unavailable", 90033, "out of memory");
            status = 500;
            goto done;
        }
        pthread_mutex_lock(&srv->tok_mu);
        /* forget tokens that expired more than an hour ago */
        size_t w = 0;
        for (size_t i = 0; i < srv->ntokens; i++) {
            if (srv->tokens[i].expires + 3600 < now) {
                free(srv->tokens[i].token);
                free(srv->tokens[i].audience);
            } else {
                srv->tokens[w++] = srv->tokens[i];
            }
        }
        srv->ntokens = w;
        if (srv->ntokens == srv->captokens) {
            size_t nc = srv->captokens ? srv->captokens * 2 : 16;
            d365_token *nt = realloc(srv->tokens, nc * sizeof *nt);
            if (nt) {
                srv->tokens = nt;
                srv->captokens = nc;
            }
        }
        char *audc = strdup(aud);
        if (srv->ntokens < srv->captokens && audc) {
            srv->tokens[srv->ntokens++] = (d365_token){ strdup(tok), audc, exp, false };
        } else {
            free(audc);
        }
        pthread_mutex_unlock(&srv->tok_mu);
        char life[24], eon[24], nbf[24];
        snprintf(life, sizeof life, "%u", srv->opt.token_lifetime);
        snprintf(eon, sizeof eon, "%lld", (long long)exp);
        snprintf(nbf, sizeof nbf, "%lld", (long long)now);
        if (v2)
            *out = json_pack("{s:s,s:I,s:I,s:s}", "token_type", "Bearer", "expires_in",
                             (json_int_t)srv->opt.token_lifetime, "ext_expires_in",
                             (json_int_t)srv->opt.token_lifetime, "access_token", tok);
        else
            *out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "token_type", "Bearer",
                             "expires_in", life, "ext_expires_in", life, "expires_on", eon,
                             "not_before", nbf, "resource", aud, "access_token", tok);
        free(tok);
    }
done:
    json_decref(form);
    return status;
}

/* 0: authorised; else the 401 reason in why */
static int check_bearer(d365_server *srv, struct MHD_Connection *c, char *why, size_t n)
{
    const char *h = sb_header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        snprintf(why, n, "The request is missing a bearer access token in the Authorization header.");
        return -1;
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    int rc = -1;
    pthread_mutex_lock(&srv->tok_mu);
    snprintf(why, n, "The access token is not valid.");
    for (size_t i = 0; i < srv->ntokens; i++) {
        d365_token *t = &srv->tokens[i];
        if (strcmp(t->token, tok) != 0)
            continue;
        if (t->revoked)
            snprintf(why, n, "The access token has been revoked.");
        else if (t->expires <= time(NULL))
            snprintf(why, n, "The access token has expired.");
        else if (!audience_ok(srv, t->audience))
            snprintf(why, n, "The access token audience '%s' is not valid for this environment.",
                     t->audience);
        else
            rc = 0;
        break;
    }
    pthread_mutex_unlock(&srv->tok_mu);
    return rc;
}

/* ------------------------------------------------------------------ replies */

static const char *const ODATA_CT = "application/json; odata.metadata=minimal; odata.streaming=true";

static enum MHD_Result reply_resp(struct MHD_Connection *c, d365_resp *r, const char *ctype,
                                  int retry_after)
{
    const char *hdrs[12];
    size_t h = 0;
    char ra[16];
    hdrs[h++] = "OData-Version";
    hdrs[h++] = "4.0";
    if (r->etag[0]) {
        hdrs[h++] = "ETag";
        hdrs[h++] = r->etag;
    }
    if (r->location[0]) {
        hdrs[h++] = "Location";
        hdrs[h++] = r->location;
    }
    if (retry_after > 0) {
        snprintf(ra, sizeof ra, "%d", retry_after);
        hdrs[h++] = "Retry-After";
        hdrs[h++] = ra;
    }
    hdrs[h] = NULL;
    enum MHD_Result ret;
    if (r->text) {
        char *text = r->text;
        r->text = NULL;
        ret = sb_reply_take(c, r->status, ctype ? ctype : r->text_is_json ? ODATA_CT : "text/plain",
                            text, strlen(text), hdrs);
    } else if (r->json) {
        ret = sb_reply_json(c, r->status, r->json, ctype ? ctype : ODATA_CT, hdrs);
        r->json = NULL;
    } else {
        ret = sb_reply(c, r->status, NULL, "", 0, hdrs);
    }
    return ret;
}

static void collect_args(struct MHD_Connection *c, d365_op *op);

typedef struct arg_ctx {
    d365_op *op;
    size_t cap;
} arg_ctx;

static enum MHD_Result arg_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    arg_ctx *a = cls;
    if (a->op->nargs == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 8;
        d365_arg *na = realloc(a->op->args, nc * sizeof *na);
        if (!na)
            return MHD_NO;
        a->op->args = na;
        a->cap = nc;
    }
    char *k = strdup(key), *v = strdup(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        return MHD_NO;
    }
    a->op->args[a->op->nargs++] = (d365_arg){ k, v };
    return MHD_YES;
}

static void collect_args(struct MHD_Connection *c, d365_op *op)
{
    arg_ctx a = { op, 0 };
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_iter, &a);
}

static void free_args(d365_op *op)
{
    for (size_t i = 0; i < op->nargs; i++) {
        free(op->args[i].name);
        free(op->args[i].value);
    }
    free(op->args);
    op->args = NULL;
    op->nargs = 0;
}

static void sleep_interruptible(d365_server *srv, long ms)
{
    while (ms > 0 && !__atomic_load_n(&srv->stopping, __ATOMIC_RELAXED)) {
        long slice = ms < 100 ? ms : 100;
        sb_sleep_ms(slice);
        ms -= slice;
    }
}

/* ------------------------------------------------------------------ control routes */

static enum MHD_Result control(d365_server *srv, struct MHD_Connection *c, const char *url,
                               const char *method, sb_request *rq)
{
    const char *what = url + strlen("/_sandbox/");
    d365_resp r = { 0 };
    if (strcmp(what, "health") == 0) {
        json_t *j = json_pack("{s:s,s:s,s:i,s:i,s:s}", "status", "ok", "service", "d365",
                              "port", (int)srv->port, "entity_sets",
                              (int)schema_set_count(srv->sch), "metadata", srv->metadata_path);
        return sb_reply_json(c, 200, j, NULL, NULL);
    }
    if (strcmp(what, "stats") == 0) {
        if (strcmp(method, "DELETE") == 0) {
            sb_stats_reset(srv->stats);
            return sb_reply(c, 204, NULL, "", 0, NULL);
        }
        return sb_reply_json(c, 200, sb_stats_to_json(srv->stats), NULL, NULL);
    }
    if (strcmp(what, "faults") == 0) {
        if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) {
            json_error_t je;
            json_t *cfg = json_loadb(rq->body, rq->len, 0, &je);
            char err[256];
            if (!cfg) {
                json_t *e = json_pack("{s:s}", "error", je.text);
                return sb_reply_json(c, 400, e, NULL, NULL);
            }
            int rc = sb_faults_update(srv->faults, cfg, err, sizeof err);
            json_decref(cfg);
            if (rc < 0)
                return sb_reply_json(c, 400, json_pack("{s:s}", "error", err), NULL, NULL);
        } else if (strcmp(method, "DELETE") == 0) {
            sb_faults_clear(srv->faults);
        }
        return sb_reply_json(c, 200, sb_faults_to_json(srv->faults), NULL, NULL);
    }
    if (strcmp(method, "POST") != 0)
        return sb_reply_json(c, strcmp(what, "revoke") && strcmp(what, "expire") &&
                             strcmp(what, "ship") && strcmp(what, "invoice") &&
                             strcmp(what, "return") && strcmp(what, "cancel") ? 404 : 405,
                             json_pack("{s:s}", "error", "unknown control route or method"),
                             NULL, NULL);
    if (strcmp(what, "revoke") == 0 || strcmp(what, "expire") == 0) {
        const char *only = sb_arg(c, "token");
        int n = 0;
        pthread_mutex_lock(&srv->tok_mu);
        for (size_t i = 0; i < srv->ntokens; i++) {
            if (only && strcmp(only, srv->tokens[i].token) != 0)
                continue;
            if (what[0] == 'r')
                srv->tokens[i].revoked = true;
            else
                srv->tokens[i].expires = time(NULL) - 1;
            n++;
        }
        pthread_mutex_unlock(&srv->tok_mu);
        return sb_reply_json(c, 200, json_pack("{s:i}", what[0] == 'r' ? "revoked" : "expired", n),
                             NULL, NULL);
    }
    if (strcmp(what, "ship") == 0 || strcmp(what, "invoice") == 0 || strcmp(what, "return") == 0 ||
        strcmp(what, "cancel") == 0) {
        const char *order = sb_arg(c, "order");
        const char *company = sb_arg(c, "company");
        if (!order || !*order)
            return sb_reply_json(c, 400, json_pack("{s:s}", "error", "order=... is required"),
                                 NULL, NULL);
        pthread_mutex_lock(&srv->mu);
        if (d365_store_begin(srv) < 0) {
            pthread_mutex_unlock(&srv->mu);
            return sb_reply_json(c, 500, json_pack("{s:s}", "error", "store busy"), NULL, NULL);
        }
        d365_rules_control(srv, what, company && *company ? company : "usmf", order, &r);
        if (r.status < 400) {
            if (d365_store_commit(srv) < 0) {
                d365_store_rollback(srv);
                d365_error(&r, 500, D365_T_WRITE, "commit failed");
            }
        } else {
            d365_store_rollback(srv);
        }
        pthread_mutex_unlock(&srv->mu);
        enum MHD_Result ret = reply_resp(c, &r, "application/json; charset=utf-8", 0);
        d365_resp_clear(&r);
        return ret;
    }
    return sb_reply_json(c, 404, json_pack("{s:s}", "error", "unknown control route"), NULL, NULL);
}

/* The stats route of a /data URL before it is parsed: "/data/Set", "/data/Set(key)",
 * "/data/Set/$count", "/data/$batch", "/data/$metadata" (same form as d365_data_exec's). */
static const char *route_of(const char *url, char *buf, size_t len)
{
    const char *p = url + 6;
    if (strncmp(url, "/data/", 6) != 0 || *p == '$' || !*p) {
        snprintf(buf, len, "%s", url);
        return buf;
    }
    size_t n = strcspn(p, "(/");
    if (n > 120)
        n = 120;
    if (p[n] == '(')
        snprintf(buf, len, "/data/%.*s(key)", (int)n, p);
    else if (strcmp(p + n, "/$count") == 0)
        snprintf(buf, len, "/data/%.*s/$count", (int)n, p);
    else
        snprintf(buf, len, "/data/%.*s", (int)n, p);
    return buf;
}

/* ------------------------------------------------------------------ the access handler */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)version;
    d365_server *srv = cls;
    sb_request *rq;
    if (sb_request_begin(con_cls, upload_data, upload_data_size, srv->opt.max_body, &rq) ==
        SB_BODY_MORE)
        return MHD_YES;

    if (strncmp(url, "/_sandbox/", 10) == 0)
        return control(srv, c, url, method, rq);

    d365_resp r = { 0 };
    enum MHD_Result ret;
    char route[300];
    snprintf(route, sizeof route, "%s", url);

    /* token endpoint: /{tenant}/oauth2/v2.0/token or /{tenant}/oauth2/token */
    const char *oa = strstr(url, "/oauth2/");
    if (url[0] == '/' && oa && oa > url + 1 && !memchr(url + 1, '/', (size_t)(oa - url - 1))) {
        bool v2 = strcmp(oa, "/oauth2/v2.0/token") == 0;
        bool v1 = strcmp(oa, "/oauth2/token") == 0;
        if (v1 || v2) {
            char tenant[128];
            size_t tl = (size_t)(oa - url - 1);
            snprintf(tenant, sizeof tenant, "%.*s", (int)(tl < 127 ? tl : 127), url + 1);
            json_t *out = NULL;
            unsigned st;
            if (strcmp(method, "POST") != 0) {
                out = entra_error("invalid_request", 900561, "The endpoint only accepts POST "
                                  "requests.");
                st = 405;
            } else if (rq->too_large) {
                out = entra_error("invalid_request", 90004, "The request body is too large.");
                st = 413;
            } else {
                st = token_endpoint(srv, tenant, v2, rq, sb_header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
                                    &out);
            }
            snprintf(route, sizeof route, "/{tenant}/oauth2/%stoken", v2 ? "v2.0/" : "");
            sb_stats_count(srv->stats, route, method, st);
            static const char *const nocache[] = { "Cache-Control", "no-store, no-cache", NULL };
            return sb_reply_json(c, st, out, "application/json; charset=utf-8", nocache);
        }
    }

    if (strncmp(url, "/data/", 6) != 0 && strcmp(url, "/data") != 0) {
        d365_error(&r, 404, D365_T_ODATA, "No HTTP resource was found that matches the request "
                   "URI '%s%s'.", srv->base_url, url);
        sb_stats_count(srv->stats, "(unknown)", method, 404);
        ret = reply_resp(c, &r, NULL, 0);
        d365_resp_clear(&r);
        return ret;
    }

    char why[300];
    if (check_bearer(srv, c, why, sizeof why) < 0) {
        d365_error(&r, 401, D365_T_AUTH, "Authentication failed: %s", why);
        char wa[600];
        snprintf(wa, sizeof wa, "Bearer authorization_uri=\"%s/%s/oauth2/authorize\", "
                 "error=\"invalid_token\", error_description=\"%s\"", srv->base_url,
                 srv->opt.tenant, why);
        const char *hdrs[] = { "WWW-Authenticate", wa, NULL };
        sb_stats_count(srv->stats, route_of(url, route, sizeof route), method, 401);
        ret = sb_reply_json(c, 401, r.json, ODATA_CT, hdrs);
        r.json = NULL;
        return ret;
    }

    bool write = d365_is_write(method);
    sb_fault_decision fd;
    sb_faults_decide(srv->faults, write, &fd);
    if (fd.delay_ms > 0)
        sleep_interruptible(srv, fd.delay_ms);
    if (fd.status) {
        int ra = fd.retry_after;
        if (fd.status == 429)
            d365_error(&r, 429, D365_T_ODATA, "Rate limit exceeded: too many requests. Retry "
                       "after %d seconds.", ra);
        else
            d365_error(&r, fd.status, D365_T_ODATA, fd.status == 500
                       ? "An unexpected error occurred while processing the request (injected)."
                       : "The service is temporarily unavailable (injected).");
        sb_stats_count(srv->stats, route_of(url, route, sizeof route), method, fd.status);
        ret = reply_resp(c, &r, NULL, ra);
        d365_resp_clear(&r);
        return ret;
    }

    if (rq->too_large) {
        d365_error(&r, 413, D365_T_ODATA, "The request body is larger than the %zu bytes allowed.",
                   srv->opt.max_body);
        sb_stats_count(srv->stats, route_of(url, route, sizeof route), method, 413);
        ret = reply_resp(c, &r, NULL, 0);
        d365_resp_clear(&r);
        return ret;
    }

    if (strcmp(url, "/data/$metadata") == 0) {
        sb_stats_count(srv->stats, "/data/$metadata", method, 200);
        return sb_reply_file(c, 200, srv->metadata_path, "application/xml");
    }
    if (strcmp(url, "/data") == 0 || strcmp(url, "/data/") == 0) {
        json_t *sets = json_array();
        for (size_t i = 0; i < schema_set_count(srv->sch); i++)
            json_array_append_new(sets, json_pack("{s:s,s:s,s:s}", "name",
                                                  schema_set_name(srv->sch, i), "kind",
                                                  "EntitySet", "url",
                                                  schema_set_name(srv->sch, i)));
        char ctx[128];
        snprintf(ctx, sizeof ctx, "%s/data/$metadata", srv->base_url);
        sb_stats_count(srv->stats, "/data/", method, 200);
        return sb_reply_json(c, 200, json_pack("{s:s,s:o}", "@odata.context", ctx, "value", sets),
                             ODATA_CT, NULL);
    }

    char *batch_ct = NULL;
    if (strcmp(url, "/data/$batch") == 0) {
        snprintf(r.route, sizeof r.route, "/data/$batch");
        if (strcmp(method, "POST") != 0)
            d365_error(&r, 405, D365_T_ODATA, "$batch only accepts POST.");
        else
            d365_batch_exec(srv, sb_header(c, MHD_HTTP_HEADER_CONTENT_TYPE), rq->body, rq->len, &r,
                            &batch_ct);
    } else {
        d365_op op = { 0 };
        op.method = method;
        op.path = strdup(url + 6);
        if (!op.path) {
            d365_error(&r, 500, D365_T_ODATA, "out of memory");
        } else {
            collect_args(c, &op);
            op.if_match = sb_header(c, MHD_HTTP_HEADER_IF_MATCH);
            op.content_type = sb_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
            op.prefer = sb_header(c, "Prefer");
            op.body = rq->body;
            op.len = rq->len;
            pthread_mutex_lock(&srv->mu);
            if (write && d365_store_begin(srv) < 0) {
                d365_error(&r, 503, D365_T_ODATA, "The store is busy.");
            } else {
                d365_data_exec(srv, &op, &r);
                if (write) {
                    if (r.status < 400) {
                        if (d365_store_commit(srv) < 0) {
                            d365_store_rollback(srv);
                            d365_resp_clear(&r);
                            d365_error(&r, 500, D365_T_WRITE, "commit failed: %s",
                                       sqlite3_errmsg(srv->db));
                        }
                    } else {
                        d365_store_rollback(srv);
                    }
                }
            }
            pthread_mutex_unlock(&srv->mu);
            free(op.path);
            free_args(&op);
        }
    }
    if (fd.drop_after_commit) {
        /* the write is committed; the client never hears about it */
        sb_stats_count(srv->stats, r.route[0] ? r.route : "/data/?", method, 0);
        d365_resp_clear(&r);
        free(batch_ct);
        return MHD_NO;
    }
    sb_stats_count(srv->stats, r.route[0] ? r.route : "/data/?", method, r.status);
    ret = reply_resp(c, &r, batch_ct, 0);
    free(batch_ct);
    d365_resp_clear(&r);
    return ret;
}

/* ------------------------------------------------------------------ start / stop */

static int load_config(d365_server *srv, char *err, size_t errlen)
{
    if (!srv->opt.config)
        return 0;
    json_error_t je;
    json_t *cfg = json_load_file(srv->opt.config, 0, &je);
    if (!cfg) {
        snprintf(err, errlen, "%s:%d:%d: %s", srv->opt.config, je.line, je.column, je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(cfg)) {
        snprintf(err, errlen, "%s: the config must be a JSON object", srv->opt.config);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v) {
        if (strcmp(k, "faults") == 0) {
            char e2[256];
            if (sb_faults_update(srv->faults, v, e2, sizeof e2) < 0) {
                snprintf(err, errlen, "%s: faults: %s", srv->opt.config, e2);
                goto out;
            }
        } else if (strcmp(k, "credit_check") == 0 && json_is_boolean(v)) {
            srv->opt.credit_check = json_is_true(v);
        } else if ((strcmp(k, "token_lifetime") == 0 || strcmp(k, "max_body") == 0 ||
                    strcmp(k, "max_batch_ops") == 0) && json_is_integer(v) &&
                   json_integer_value(v) > 0) {
            json_int_t n = json_integer_value(v);
            if (k[0] == 't') srv->opt.token_lifetime = (unsigned)n;
            else if (k[4] == 'b' && k[5] == 'o') srv->opt.max_body = (size_t)n;
            else srv->opt.max_batch_ops = (unsigned)n;
        } else {
            snprintf(err, errlen, "%s: unknown or invalid setting '%s'", srv->opt.config, k);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(cfg);
    return rc;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int d365_server_start(d365_server **out, const d365_options *opt, char *err, size_t errlen)
{
    *out = NULL;
    d365_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->opt = *opt;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->tok_mu, NULL);
    srv->rand_state = opt->seed ^ 0x5DEECE66Dull;
    srv->faults = sb_faults_new();
    srv->stats = sb_stats_new();
    srv->cat = malloc(sizeof *srv->cat);
    if (!srv->faults || !srv->stats || !srv->cat) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (load_config(srv, err, errlen) < 0)
        goto fail;
    if (seed_catalog_build(srv->cat, opt->seed) < 0) {
        snprintf(err, errlen, "cannot build the seed catalog");
        goto fail;
    }
    struct stat sst;
    if (!opt->metadata || stat(opt->metadata, &sst) != 0) {
        snprintf(err, errlen, "metadata file '%s' not found (use --metadata FILE; the default is "
                 "specs/d365/metadata.xml relative to the working directory)",
                 opt->metadata ? opt->metadata : "");
        goto fail;
    }
    srv->metadata_path = strdup(opt->metadata);
    schema_error se;
    memset(&se, 0, sizeof se);
    if (!srv->metadata_path ||
        schema_load(&srv->sch, opt->metadata, SCHEMA_ODATA, NULL, 0, &se) != 0) {
        snprintf(err, errlen, "%s:%d:%d: %s", se.file[0] ? se.file : opt->metadata, se.line,
                 se.column, se.text[0] ? se.text : "cannot load the metadata");
        goto fail;
    }
    if (opt->data_dir) {
        if (mkdir(opt->data_dir, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", opt->data_dir, strerror(errno));
            goto fail;
        }
        size_t n = strlen(opt->data_dir) + 16;
        srv->db_path = malloc(n);
        if (srv->db_path)
            snprintf(srv->db_path, n, "%s/d365.db", opt->data_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        size_t n = strlen(tmp ? tmp : "/tmp") + 32;
        srv->tmpdir = malloc(n);
        if (srv->tmpdir) {
            snprintf(srv->tmpdir, n, "%s/sandbox-d365-XXXXXX", tmp ? tmp : "/tmp");
            if (!mkdtemp(srv->tmpdir)) {
                snprintf(err, errlen, "cannot create a temporary directory: %s", strerror(errno));
                free(srv->tmpdir);
                srv->tmpdir = NULL;
                goto fail;
            }
            srv->db_path = malloc(n + 16);
            if (srv->db_path)
                snprintf(srv->db_path, n + 16, "%s/d365.db", srv->tmpdir);
        }
    }
    if (!srv->db_path) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (d365_store_open(srv, err, errlen) < 0)
        goto fail;

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)opt->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                (uint16_t)opt->port, NULL, NULL, handler, srv,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_NOTIFY_COMPLETED, sb_request_completed, NULL,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                                MHD_OPTION_END);
    if (!srv->mhd) {
        snprintf(err, errlen, "cannot listen on 127.0.0.1:%u (port in use?)", opt->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di && di->port ? di->port : opt->port;
    snprintf(srv->base_url, sizeof srv->base_url, "http://127.0.0.1:%u", srv->port);

    pthread_mutex_lock(&srv->mu);
    int rc = d365_seed(srv, err, errlen);
    pthread_mutex_unlock(&srv->mu);
    if (rc < 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    d365_server_stop(srv);
    return -1;
}

unsigned d365_server_port(const d365_server *s)
{
    return s ? s->port : 0;
}

void d365_server_stop(d365_server *srv)
{
    if (!srv)
        return;
    __atomic_store_n(&srv->stopping, 1, __ATOMIC_RELAXED);
    if (srv->mhd)
        MHD_stop_daemon(srv->mhd);
    d365_store_close(srv);
    if (srv->tmpdir) {
        remove_tree(srv->tmpdir);
        free(srv->tmpdir);
    }
    free(srv->db_path);
    schema_free(srv->sch);
    free(srv->metadata_path);
    for (size_t i = 0; i < srv->ntokens; i++) {
        free(srv->tokens[i].token);
        free(srv->tokens[i].audience);
    }
    free(srv->tokens);
    sb_faults_free(srv->faults);
    sb_stats_free(srv->stats);
    free(srv->cat);
    for (size_t i = 0; i < srv->ndefaults; i++) {
        for (size_t k = 0; srv->defaults[i].texts[k]; k++)
            free(srv->defaults[i].texts[k]);
        free(srv->defaults[i].texts);
    }
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->tok_mu);
    free(srv);
}
