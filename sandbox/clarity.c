/*
 * clarity.c - the Clarity eCommerce emulator's HTTP side (clarity.h): options, server start and
 * stop, ServiceStack auth (session, Basic, API key), permissions, route dispatch onto the record
 * operations of clarity_entity.c, ServiceStack-shaped errors for bad input, and the /_sandbox
 * control routes (health, stats, faults, webhooks, traffic, sessions).
 */
#include "clarity_int.h"
#include "sb_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SEGS 24

/* ---------------------------------------------------------------- options */

void clarity_options_init(clarity_options *o)
{
    memset(o, 0, sizeof *o);
    o->port = CLARITY_DEFAULT_PORT;
    o->bind_address = "127.0.0.1";
    o->page_size = 0;
    o->seed = SEED_DEFAULT;
    o->data_dir = NULL;
    o->admin_user = "admin";
    o->admin_password = "admin";
    o->readonly_user = "reader";
    o->readonly_password = "reader";
    o->api_key = "sandbox-api-key";
    o->session_ttl_s = 1200;
    o->max_body = 1024 * 1024;
    o->webhook_url = NULL;
    o->webhook_secret = "sandbox-webhook-secret";
    o->webhook_backoff_ms = 500;
    o->webhook_backoff_max_ms = 30000;
    o->webhook_max_attempts = 0;
    o->webhook_timeout_ms = 5000;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    if (!v || !*v || *v == '-')
        return -1;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x > max)
        return -1;
    *out = x;
    return 0;
}

int clarity_options_set(clarity_options *o, const char *name, const char *value,
                        char *err, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
        int kind; /* 0 string, 1 unsigned, 2 u64, 3 size_t */
        uint64_t max;
    } opts[] = {
        {"--clarity-port", offsetof(clarity_options, port), 1, 65535},
        {"--clarity-page-size", offsetof(clarity_options, page_size), 1, 1000000},
        {"--seed", offsetof(clarity_options, seed), 2, UINT64_MAX},
        {"--data", offsetof(clarity_options, data_dir), 0, 0},
        {"--webhook-url", offsetof(clarity_options, webhook_url), 0, 0},
        {"--webhook-secret", offsetof(clarity_options, webhook_secret), 0, 0},
        {"--webhook-backoff-ms", offsetof(clarity_options, webhook_backoff_ms), 1, 3600000},
        {"--webhook-backoff-max-ms", offsetof(clarity_options, webhook_backoff_max_ms), 1,
         86400000},
        {"--webhook-max-attempts", offsetof(clarity_options, webhook_max_attempts), 1, 1000000},
        {"--clarity-api-key", offsetof(clarity_options, api_key), 0, 0},
        {"--clarity-session-ttl", offsetof(clarity_options, session_ttl_s), 1, 86400 * 30},
        {"--clarity-max-body", offsetof(clarity_options, max_body), 3, 1024u * 1024 * 1024},
    };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
        if (strcmp(name, opts[i].name))
            continue;
        char *field = (char *)o + opts[i].off;
        uint64_t v = 0;
        if (opts[i].kind == 0) {
            if (!value) {
                snprintf(err, errlen, "%s needs a value", name);
                return -1;
            }
            memcpy(field, &value, sizeof value);
            return 0;
        }
        if (parse_u64(value, opts[i].max, &v)) {
            snprintf(err, errlen, "%s: '%s' is not a number in 0..%llu", name,
                     value ? value : "", (unsigned long long)opts[i].max);
            return -1;
        }
        if (opts[i].kind == 1) {
            unsigned u = (unsigned)v;
            memcpy(field, &u, sizeof u);
        } else if (opts[i].kind == 2) {
            uint64_t u = v;
            memcpy(field, &u, sizeof u);
        } else {
            size_t u = (size_t)v;
            memcpy(field, &u, sizeof u);
        }
        return 0;
    }
    return 1;
}

const char *clarity_options_help(void)
{
    return "  --clarity-port N          Clarity eCommerce emulator port (7366)\n"
           "  --clarity-page-size K     cap searches without Paging at K rows (0: none, like CEF)\n"
           "  --seed S                  catalog seed (1)\n"
           "  --data DIR                keep DIR/clarity.db (default: temporary)\n"
           "  --webhook-url URL         POST signed order events to URL\n"
           "  --webhook-secret S        HMAC-SHA256 secret (sandbox-webhook-secret)\n"
           "  --webhook-backoff-ms N    first redelivery delay (500), doubling\n"
           "  --webhook-backoff-max-ms N  redelivery delay cap (30000)\n"
           "  --webhook-max-attempts N  give up after N attempts (0: never)\n"
           "  --clarity-api-key K       API key for the X-Clarity-Api-Key header (sandbox-api-key)\n"
           "  --clarity-session-ttl N   session idle lifetime in seconds (1200)\n"
           "  --clarity-max-body N      largest request body in bytes (1048576)\n";
}

/* ---------------------------------------------------------------- per request */

typedef struct req {
    clarity_server *s;
    struct MHD_Connection *c;
    const char *method;
    char route[256];
    const char *hdrs[16];
    int nh;
    char cookies[3][160];
    int drop;       /* fault injection: drop the connection instead of answering */
    int count;      /* count the request in the stats */
} req;

static void add_header(req *r, const char *name, const char *value)
{
    if (r->nh + 2 < (int)(sizeof r->hdrs / sizeof *r->hdrs)) {
        r->hdrs[r->nh++] = name;
        r->hdrs[r->nh++] = value;
        r->hdrs[r->nh] = NULL;
    }
}

static enum MHD_Result reply(req *r, unsigned status, json_t *doc, int omit)
{
    if (doc && omit)
        cl_omit_empty(doc);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))
                     : NULL;
    json_decref(doc);
    if (r->count)
        sb_stats_count(r->s->stats, r->route, r->method, status);
    enum MHD_Result ret;
    if (r->drop)
        ret = MHD_NO;
    else
        ret = sb_reply(r->c, status, "application/json; charset=utf-8", text ? text : "",
                       text ? strlen(text) : 0, r->nh ? r->hdrs : NULL);
    free(text);
    return ret;
}

static enum MHD_Result fail(req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return reply(r, status, cl_error(code, msg, NULL, 0), 0);
}

/* No route matched: counted under one stats route so random URLs cannot grow the table. */
static enum MHD_Result no_route(req *r, const char *url)
{
    char u[300];
    snprintf(u, sizeof u, "%s", url); /* url may be r->route itself */
    snprintf(r->route, sizeof r->route, "%s/{unmatched}", CLARITY_API_ROOT);
    return fail(r, 404, "NotFound", "Handler for Request not found: %s", u);
}

/* Query arguments into an object keyed by lowercased name; repeated names join with ",". */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    json_t *o = cls;
    char lk[128];
    size_t n = 0;
    (void)kind;
    for (; key[n] && n + 1 < sizeof lk; n++)
        lk[n] = (char)tolower((unsigned char)key[n]);
    lk[n] = '\0';
    json_t *old = json_object_get(o, lk);
    if (old && json_is_string(old) && value) {
        size_t len = json_string_length(old) + strlen(value) + 2;
        char *j = malloc(len);
        if (j) {
            snprintf(j, len, "%s,%s", json_string_value(old), value);
            json_object_set_new(o, lk, json_string(j));
            free(j);
        }
    } else {
        json_object_set_new(o, lk, value ? json_string(value) : json_string(""));
    }
    return MHD_YES;
}

static json_t *query_args(req *r, const json_t *body)
{
    json_t *o = json_object();
    MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, collect_arg, o);
    if (json_is_object(body)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)body, k, v) {
            char lk[128];
            size_t n = 0;
            for (; k[n] && n + 1 < sizeof lk; n++)
                lk[n] = (char)tolower((unsigned char)k[n]);
            lk[n] = '\0';
            json_object_set(o, lk, v);
        }
    }
    return o;
}

/* ---------------------------------------------------------------- sessions and auth */

static void random_id(clarity_server *s, char *out, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i + 1 < len; i++)
        out[i] = alphabet[seed_rng_next(&s->sess_rng) % (sizeof alphabet - 1)];
    out[len - 1] = '\0';
}

static int check_user(clarity_server *s, const char *user, const char *pass)
{
    if (!user || !pass)
        return CL_ROLE_NONE;
    if (s->opt.admin_user && !strcasecmp(user, s->opt.admin_user) &&
        !strcmp(pass, s->opt.admin_password ? s->opt.admin_password : ""))
        return CL_ROLE_ADMIN;
    if (s->opt.readonly_user && !strcasecmp(user, s->opt.readonly_user) &&
        !strcmp(pass, s->opt.readonly_password ? s->opt.readonly_password : ""))
        return CL_ROLE_READ;
    return CL_ROLE_NONE;
}

static cl_session *new_session(clarity_server *s, const char *user, int role)
{
    int64_t now = cs_now_ms();
    cl_session *slot = &s->sessions[0];
    for (int i = 0; i < CL_MAX_SESSIONS; i++) {
        cl_session *x = &s->sessions[i];
        if (!x->id[0] || now - x->last_ms > (int64_t)s->opt.session_ttl_s * 1000) {
            slot = x;
            break;
        }
        if (x->last_ms < slot->last_ms)
            slot = x;
    }
    random_id(s, slot->id, sizeof slot->id - 3);
    random_id(s, slot->pid, sizeof slot->pid - 3);
    snprintf(slot->user, sizeof slot->user, "%s", user);
    slot->role = role;
    slot->last_ms = now;
    return slot;
}

/* Role of a session id (touching it), or NONE when unknown or expired. */
static int session_role(clarity_server *s, const char *id, char *user, size_t ulen)
{
    int role = CL_ROLE_NONE;
    int64_t now = cs_now_ms();
    if (!id || !*id)
        return role;
    pthread_mutex_lock(&s->sess_mu);
    for (int i = 0; i < CL_MAX_SESSIONS; i++) {
        cl_session *x = &s->sessions[i];
        if (x->id[0] && !strcmp(x->id, id)) {
            if (now - x->last_ms <= (int64_t)s->opt.session_ttl_s * 1000 && x->last_ms) {
                x->last_ms = now;
                role = x->role;
                if (user)
                    snprintf(user, ulen, "%s", x->user);
            } else {
                x->id[0] = '\0';
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->sess_mu);
    return role;
}

static const char *session_id_of(req *r)
{
    const char *id = sb_header(r->c, "X-ss-id");
    if (!id || !*id)
        id = MHD_lookup_connection_value(r->c, MHD_COOKIE_KIND, "ss-id");
    return id;
}

/* Who is calling: a role, or NONE with a reason. */
static int authenticate(req *r, char *user, size_t ulen, const char **why)
{
    clarity_server *s = r->s;
    *why = "Not Authenticated";
    const char *key = sb_header(r->c, CLARITY_API_KEY_HEADER);
    if (key) {
        if (s->opt.api_key && *s->opt.api_key && !strcmp(key, s->opt.api_key)) {
            snprintf(user, ulen, "%s", s->opt.admin_user ? s->opt.admin_user : "admin");
            return CL_ROLE_ADMIN;
        }
        *why = "Invalid API Key";
        return CL_ROLE_NONE;
    }
    const char *auth = sb_header(r->c, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && !strncasecmp(auth, "Basic ", 6)) {
        const char *b64 = auth + 6;
        while (*b64 == ' ')
            b64++;
        size_t n = strlen(b64);
        unsigned char dec[512];
        if (n == 0 || n > 600 || n % 4) {
            *why = "Invalid BasicAuth credentials";
            return CL_ROLE_NONE;
        }
        int len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
        if (len < 0) {
            *why = "Invalid BasicAuth credentials";
            return CL_ROLE_NONE;
        }
        while (len > 0 && b64[n - 1] == '=' && n--)
            len--; /* EVP_DecodeBlock counts padding as zero bytes */
        dec[len] = '\0';
        char *colon = strchr((char *)dec, ':');
        if (!colon) {
            *why = "Invalid BasicAuth credentials";
            return CL_ROLE_NONE;
        }
        *colon = '\0';
        int role = check_user(s, (char *)dec, colon + 1);
        if (role)
            snprintf(user, ulen, "%.63s", (char *)dec);
        else
            *why = "Invalid UserName or Password";
        return role;
    }
    const char *sid = session_id_of(r);
    if (sid && *sid) {
        int role = session_role(s, sid, user, ulen);
        if (!role)
            *why = "Session expired or unknown: authenticate again";
        return role;
    }
    return CL_ROLE_NONE;
}

static enum MHD_Result unauthorized(req *r, const char *why)
{
    add_header(r, "WWW-Authenticate", "Basic realm=\"/auth/basic\"");
    return fail(r, 401, "Unauthorized", "%s", why);
}

static const char *member_ci(const json_t *o, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) if (!strcasecmp(k, name) && json_is_string(v))
        return json_string_value(v);
    return NULL;
}

static enum MHD_Result auth_route(req *r, const char *const *seg, int nseg, const json_t *body)
{
    clarity_server *s = r->s;
    const char *what = nseg > 1 ? seg[1] : "";
    if (nseg == 1 && !strcmp(r->method, "GET")) {
        char user[64] = "";
        const char *why;
        int role = authenticate(r, user, sizeof user, &why);
        if (!role)
            return unauthorized(r, why);
        const char *sid = session_id_of(r);
        json_t *o = json_pack("{s:s,s:s}", "UserName", user, "DisplayName", user);
        if (sid)
            json_object_set_new(o, "SessionId", json_string(sid));
        return reply(r, 200, o, 1);
    }
    if (nseg == 2 && !strcasecmp(what, "logout")) {
        const char *sid = session_id_of(r);
        pthread_mutex_lock(&s->sess_mu);
        for (int i = 0; sid && i < CL_MAX_SESSIONS; i++)
            if (!strcmp(s->sessions[i].id, sid))
                s->sessions[i].id[0] = '\0';
        pthread_mutex_unlock(&s->sess_mu);
        return reply(r, 200, json_object(), 1);
    }
    if (nseg == 2 && (!strcasecmp(what, "identity") || !strcasecmp(what, "credentials"))) {
        if (strcmp(r->method, "POST") && strcmp(r->method, "GET"))
            return fail(r, 405, "MethodNotAllowed", "Use POST %s/auth/%s", CLARITY_API_ROOT, what);
        json_t *args = query_args(r, body);
        const char *user = member_ci(args, "UserName"), *pass = member_ci(args, "Password");
        int role = check_user(s, user, pass);
        if (!role) {
            json_decref(args);
            return unauthorized(r, "Invalid UserName or Password");
        }
        const char *opt = member_ci(args, "RememberMe");
        int perm = opt && !strcasecmp(opt, "true");
        pthread_mutex_lock(&s->sess_mu);
        cl_session *x = new_session(s, user, role);
        char sid[24], pid[24], uname[64];
        snprintf(sid, sizeof sid, "%s", x->id);
        snprintf(pid, sizeof pid, "%s", x->pid);
        snprintf(uname, sizeof uname, "%s", x->user);
        pthread_mutex_unlock(&s->sess_mu);
        json_decref(args);
        snprintf(r->cookies[0], sizeof r->cookies[0], "ss-id=%s; path=/; samesite=lax; httponly",
                 sid);
        snprintf(r->cookies[1], sizeof r->cookies[1],
                 "ss-pid=%s; expires=Fri, 01 Jan 2100 00:00:00 GMT; path=/; samesite=lax; "
                 "httponly", pid);
        snprintf(r->cookies[2], sizeof r->cookies[2], "ss-opt=%s; path=/; samesite=lax; httponly",
                 perm ? "perm" : "temp");
        for (int i = 0; i < 3; i++)
            add_header(r, MHD_HTTP_HEADER_SET_COOKIE, r->cookies[i]);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "UserId", role == CL_ROLE_ADMIN ? "1" : "2",
                              "SessionId", sid, "UserName", uname, "DisplayName", uname);
        return reply(r, 200, o, 1);
    }
    return no_route(r, what);
}

/* ---------------------------------------------------------------- API routes */

static int64_t parse_id(const char *t)
{
    char *end;
    if (!t || !*t)
        return -1;
    long long v = strtoll(t, &end, 10);
    return *end || v < 0 ? -1 : v;
}

static void join_rest(const char *const *seg, int from, int nseg, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = from; i < nseg; i++)
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", i > from ? "/" : "",
                              seg[i]);
}

static int is_write(const char *method)
{
    return strcmp(method, "GET") && strcmp(method, "HEAD");
}

static enum MHD_Result forbidden(req *r, const centity *e, const char *op)
{
    return fail(r, 403, "Forbidden", "Invalid Permission: %s.%s.%s", e ? e->module : "Providers",
                e ? e->name : "Inventory", op);
}

/* Records and action replies omit empty values; error bodies keep ServiceStack's shape. */
static enum MHD_Result done(req *r, unsigned status, json_t *doc)
{
    return reply(r, status, doc, status < 400);
}

static enum MHD_Result method_not_allowed(req *r, const char *allowed)
{
    add_header(r, "Allow", allowed);
    return fail(r, 405, "MethodNotAllowed", "%s is not allowed here; use %s", r->method, allowed);
}

static enum MHD_Result entity_route(req *r, const centity *e, const char *const *seg, int nseg,
                                    const json_t *body, int role)
{
    clarity_server *s = r->s;
    json_t *out = NULL;
    unsigned st;
    const char *m = r->method;
    char key[1024];
    size_t pl = strlen(e->plural);

    if (nseg == 2 && !strcasecmp(seg[1], e->plural)) {
        if (strcmp(m, "GET"))
            return method_not_allowed(r, "GET");
        json_t *args = query_args(r, NULL);
        st = cl_search(s, e, args, &out);
        json_decref(args);
        return done(r, st, out);
    }
    if (nseg == 2 && !strncasecmp(seg[1], e->plural, pl) && !strcasecmp(seg[1] + pl, "Digest")) {
        if (strcmp(m, "GET"))
            return method_not_allowed(r, "GET");
        st = cl_digest(s, e, &out);
        return done(r, st, out);
    }
    if (nseg == 2 && !strncasecmp(seg[1], e->plural, pl) &&
        !strcasecmp(seg[1] + pl, "ForConnect")) {
        if (strcmp(m, "GET") && strcmp(m, "POST"))
            return method_not_allowed(r, "GET, POST");
        json_t *args = query_args(r, body);
        st = cl_search(s, e, args, &out);
        json_decref(args);
        return done(r, st, out);
    }
    if (nseg < 3 || strcasecmp(seg[1], e->name))
        return no_route(r, r->route);
    const char *op = seg[2];

    /* reads */
    if ((!strcasecmp(op, "ID") || (!strcasecmp(op, "Full") && nseg == 5 &&
                                   !strcasecmp(seg[3], "ID"))) && nseg >= 4) {
        int64_t id = parse_id(seg[nseg - 1]);
        if (strcmp(m, "GET"))
            return method_not_allowed(r, "GET");
        if (id < 0)
            return fail(r, 400, "SerializationException", "'%s' is not a valid Int32",
                        seg[nseg - 1]);
        st = cl_get(s, e, id, NULL, &out);
        return done(r, st, out);
    }
    if (!strcasecmp(op, "Key") && nseg >= 4) {
        if (strcmp(m, "GET"))
            return method_not_allowed(r, "GET");
        join_rest(seg, 3, nseg, key, sizeof key);
        st = cl_get(s, e, 0, key, &out);
        return done(r, st, out);
    }
    if (!strcasecmp(op, "Exists") && nseg >= 5) {
        if (strcmp(m, "GET"))
            return method_not_allowed(r, "GET");
        if (!strcasecmp(seg[3], "ID")) {
            int64_t id = parse_id(seg[4]);
            if (id < 0 || nseg != 5)
                return fail(r, 400, "SerializationException", "'%s' is not a valid Int32",
                            seg[4]);
            st = cl_exists(s, e, id, NULL, &out);
            return reply(r, st, out, 0);
        }
        if (!strcasecmp(seg[3], "Key")) {
            join_rest(seg, 4, nseg, key, sizeof key);
            st = cl_exists(s, e, 0, key, &out);
            return reply(r, st, out, 0);
        }
    }
    /* writes */
    static const struct {
        const char *op, *method;
        int mode;
    } writes[] = {{"Create", "POST", CL_CREATE}, {"Upsert", "POST", CL_UPSERT},
                  {"Update", "PUT", CL_UPDATE}};
    for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
        if (strcasecmp(op, writes[i].op) || nseg != 3)
            continue;
        if (strcmp(m, writes[i].method))
            return method_not_allowed(r, writes[i].method);
        if (role != CL_ROLE_ADMIN)
            return forbidden(r, e, writes[i].op);
        if (!body)
            return fail(r, 400, "SerializationException", "A request body is required");
        st = cl_write(s, e, body, writes[i].mode, &out);
        return done(r, st, out);
    }
    static const struct {
        const char *op, *method;
        int active;
    } states[] = {{"Deactivate", "PATCH", 0}, {"Reactivate", "PATCH", 1},
                  {"Delete", "DELETE", -1}};
    for (size_t i = 0; i < sizeof states / sizeof *states; i++) {
        if (strcasecmp(op, states[i].op) || nseg < 5)
            continue;
        if (strcmp(m, states[i].method))
            return method_not_allowed(r, states[i].method);
        if (role != CL_ROLE_ADMIN)
            return forbidden(r, e, states[i].op);
        if (!strcasecmp(seg[3], "ID") && nseg == 5) {
            int64_t id = parse_id(seg[4]);
            if (id < 0)
                return fail(r, 400, "SerializationException", "'%s' is not a valid Int32",
                            seg[4]);
            st = cl_set_active(s, e, id, NULL, states[i].active, &out);
            return done(r, st, out);
        }
        if (!strcasecmp(seg[3], "Key")) {
            join_rest(seg, 4, nseg, key, sizeof key);
            st = cl_set_active(s, e, 0, key, states[i].active, &out);
            return done(r, st, out);
        }
    }
    if (e->flags & CE_ORDER) {
        if (!strcasecmp(op, "AddPayment") && nseg == 3) {
            if (strcmp(m, "PATCH"))
                return method_not_allowed(r, "PATCH");
            if (role != CL_ROLE_ADMIN)
                return forbidden(r, e, "AddPayment");
            if (!body)
                return fail(r, 400, "SerializationException", "A request body is required");
            st = cl_add_payment(s, body, &out);
            return done(r, st, out);
        }
        if (cl_is_order_action(op) && nseg == 4) {
            if (strcmp(m, "PATCH"))
                return method_not_allowed(r, "PATCH");
            if (role != CL_ROLE_ADMIN)
                return forbidden(r, e, op);
            int64_t id = parse_id(seg[3]);
            if (id < 0)
                return fail(r, 400, "SerializationException", "'%s' is not a valid Int32",
                            seg[3]);
            st = cl_order_action(s, op, id, body, &out);
            return done(r, st, out);
        }
    }
    return no_route(r, r->route);
}

static enum MHD_Result inventory_route(req *r, const char *const *seg, int nseg,
                                       const json_t *body, int role)
{
    json_t *out = NULL;
    unsigned st;
    const char *m = r->method;
    if (nseg == 3 && !strcasecmp(seg[2], "BulkUpdateInventoryForProducts")) {
        if (strcmp(m, "PUT"))
            return method_not_allowed(r, "PUT");
        if (role != CL_ROLE_ADMIN)
            return forbidden(r, NULL, "BulkUpdateInventoryForProducts");
        if (!body)
            return fail(r, 400, "SerializationException", "A request body is required");
        st = cl_inventory_update(r->s, body, 1, &out);
        return done(r, st, out);
    }
    if (nseg == 3 && !strcasecmp(seg[2], "UpdateInventoryForProduct")) {
        if (strcmp(m, "PATCH"))
            return method_not_allowed(r, "PATCH");
        if (role != CL_ROLE_ADMIN)
            return forbidden(r, NULL, "UpdateInventoryForProduct");
        if (!body)
            return fail(r, 400, "SerializationException", "A request body is required");
        st = cl_inventory_update(r->s, body, 0, &out);
        return done(r, st, out);
    }
    if (nseg == 4 && !strcasecmp(seg[2], "CalculateInventory")) {
        if (strcmp(m, "GET"))
            return method_not_allowed(r, "GET");
        int64_t id = parse_id(seg[3]);
        if (id < 0)
            return fail(r, 400, "SerializationException", "'%s' is not a valid Int32", seg[3]);
        st = cl_inventory_calculate(r->s, id, &out);
        return done(r, st, out);
    }
    return no_route(r, r->route);
}

/* ---------------------------------------------------------------- /_sandbox */

static enum MHD_Result sandbox_route(req *r, const char *what, const json_t *body,
                                     int body_bad)
{
    clarity_server *s = r->s;
    const char *m = r->method;
    char err[256] = "";
    if (body_bad)
        return fail(r, 400, "SerializationException", "the body is not valid JSON");
    if (!strcmp(what, "health"))
        return reply(r, 200, json_pack("{s:s,s:s,s:I}", "status", "ok", "service",
                                       "clarity", "seed", (json_int_t)s->opt.seed), 0);
    if (!strcmp(what, "stats")) {
        if (!strcmp(m, "DELETE")) {
            sb_stats_reset(s->stats);
            return reply(r, 200, json_object(), 0);
        }
        return reply(r, 200, sb_stats_to_json(s->stats), 0);
    }
    if (!strcmp(what, "faults")) {
        if (!strcmp(m, "DELETE"))
            sb_faults_clear(s->faults);
        else if (!strcmp(m, "PUT") || !strcmp(m, "POST") || !strcmp(m, "PATCH")) {
            if (!json_is_object(body))
                return fail(r, 400, "ArgumentException", "expected a JSON object");
            if (sb_faults_update(s->faults, body, err, sizeof err))
                return fail(r, 400, "ArgumentException", "%s", err);
        }
        return reply(r, 200, sb_faults_to_json(s->faults), 0);
    }
    if (!strcmp(what, "webhooks")) {
        if (!strcmp(m, "PUT") || !strcmp(m, "POST")) {
            if (!json_is_object(body) || webhook_configure(s->wh, body, err, sizeof err))
                return fail(r, 400, "ArgumentException", "%s",
                            err[0] ? err : "expected {\"url\": ..., \"secret\": ...}");
        }
        const char *lim = sb_arg(r->c, "limit");
        return reply(r, 200, webhook_status(s->wh, lim ? atoi(lim) : 50), 0);
    }
    if (!strcmp(what, "traffic")) {
        if (!strcmp(m, "POST")) {
            int rc = traffic_start(s->tr, body, err, sizeof err);
            if (rc < 0)
                return fail(r, 400, "ArgumentException", "%s", err);
            if (rc > 0)
                return fail(r, 409, "Conflict", "a traffic run is already active");
            json_t *st = traffic_status(s->tr);
            return reply(r, json_is_true(json_object_get(body, "wait")) ? 200 : 202, st, 0);
        }
        if (!strcmp(m, "DELETE"))
            traffic_stop(s->tr);
        return reply(r, 200, traffic_status(s->tr), 0);
    }
    if (!strcmp(what, "sessions/expire") && !strcmp(m, "POST")) {
        pthread_mutex_lock(&s->sess_mu);
        int n = 0;
        for (int i = 0; i < CL_MAX_SESSIONS; i++)
            if (s->sessions[i].id[0]) {
                s->sessions[i].last_ms = 1; /* long ago: the next use finds it expired */
                n++;
            }
        pthread_mutex_unlock(&s->sess_mu);
        return reply(r, 200, json_pack("{s:i}", "expired", n), 0);
    }
    return fail(r, 404, "NotFound", "unknown sandbox control route /_sandbox/%s", what);
}

/* ---------------------------------------------------------------- dispatch */

static void normalise_route(char *out, size_t len, const char *const *seg, int nseg)
{
    size_t n = (size_t)snprintf(out, len, "%s", CLARITY_API_ROOT);
    for (int i = 0; i < nseg && n < len; i++) {
        const char *t = seg[i];
        int numeric = *t != '\0';
        for (const char *q = t; *q; q++)
            if (!isdigit((unsigned char)*q))
                numeric = 0;
        if (numeric)
            t = "{ID}";
        n += (size_t)snprintf(out + n, len - n, "/%s", t);
        if (!strcasecmp(seg[i], "Key") && i + 1 < nseg && n < len) {
            snprintf(out + n, len - n, "/{Key}");
            return;
        }
    }
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    clarity_server *s = cls;
    sb_request *rq;
    (void)version;
    if (sb_request_begin(con_cls, upload_data, upload_data_size, s->opt.max_body, &rq) ==
        SB_BODY_MORE)
        return MHD_YES;
    req r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.c = c;
    r.method = method;
    snprintf(r.route, sizeof r.route, "%s", url);

    /* body: JSON (or a form for auth) */
    json_t *body = NULL;
    int body_bad = 0;
    char media[96];
    sb_media_type(sb_header(c, MHD_HTTP_HEADER_CONTENT_TYPE), media, sizeof media);
    if (!rq->too_large && rq->len > 0) {
        if (!strcmp(media, "application/x-www-form-urlencoded")) {
            body = sb_form_decode(rq->body, rq->len);
        } else if (!media[0] || !strcmp(media, "application/json") ||
                   !strcmp(media, "text/json")) {
            json_error_t jerr;
            body = json_loadb(rq->body, rq->len, JSON_DECODE_ANY, &jerr);
            if (!body)
                body_bad = 1;
        } else {
            body_bad = 2;
        }
    }
    enum MHD_Result ret;

    if (!strncmp(url, "/_sandbox/", 10)) {
        /* control bodies are JSON whatever the Content-Type says (curl -d sends a form type) */
        if (rq->len > 0 && !rq->too_large && body_bad != 1) {
            json_decref(body);
            body = json_loadb(rq->body, rq->len, JSON_DECODE_ANY, NULL);
            body_bad = body ? 0 : 1;
        }
        ret = sandbox_route(&r, url + 10, body, body_bad != 0 || rq->too_large);
        goto out;
    }
    size_t rl = strlen(CLARITY_API_ROOT);
    r.count = 1;
    if (strncasecmp(url, CLARITY_API_ROOT, rl) || (url[rl] && url[rl] != '/')) {
        ret = no_route(&r, url);
        goto out;
    }
    /* split the rest into segments */
    char path[2048];
    snprintf(path, sizeof path, "%s", url + rl);
    const char *seg[MAX_SEGS];
    int nseg = 0;
    char *save_ptr = NULL;
    for (char *t = strtok_r(path, "/", &save_ptr); t && nseg < MAX_SEGS;
         t = strtok_r(NULL, "/", &save_ptr))
        seg[nseg++] = t;
    normalise_route(r.route, sizeof r.route, seg, nseg);

    /* faults first, like a struggling host would */
    sb_fault_decision fd;
    sb_faults_decide(s->faults, is_write(method), &fd);
    if (fd.delay_ms > 0)
        for (long left = fd.delay_ms; left > 0 && !__atomic_load_n(&s->stopping,
                                                                        __ATOMIC_ACQUIRE);
             left -= 100)
            sb_sleep_ms(left < 100 ? left : 100); /* a hang ends when the server stops */
    if (fd.status) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", fd.retry_after > 0 ? fd.retry_after : 1);
        if (fd.status == 429 || fd.status == 503)
            add_header(&r, "Retry-After", ra);
        ret = fail(&r, fd.status, fd.status == 429 ? "TooManyRequests" : "ServiceUnavailable",
                   fd.status == 429 ? "Too many requests" : "The service is unavailable");
        goto out;
    }
    r.drop = fd.drop_after_commit;

    if (rq->too_large) {
        ret = fail(&r, 413, "RequestEntityTooLarge",
                   "The request body is larger than the limit of %zu bytes", s->opt.max_body);
        goto out;
    }
    if (body_bad == 2) {
        ret = fail(&r, 415, "NotSupportedException",
                   "Unsupported Media Type '%s': send application/json", media);
        goto out;
    }
    if (body_bad == 1) {
        ret = fail(&r, 400, "SerializationException",
                   "Could not deserialize 'application/json' request: the body is not valid "
                   "JSON");
        goto out;
    }
    if (nseg == 0) {
        ret = reply(&r, 200, json_pack("{s:s,s:s}", "Name", "Clarity eCommerce API-Admin (sandbox)",
                                       "Version", "2021.4"), 0);
        goto out;
    }
    if (!strcasecmp(seg[0], "auth")) {
        ret = auth_route(&r, seg, nseg, body);
        goto out;
    }
    char user[64] = "";
    const char *why;
    int role = authenticate(&r, user, sizeof user, &why);
    if (!role) {
        ret = unauthorized(&r, why);
        goto out;
    }
    if (nseg >= 2 && !strcasecmp(seg[0], "Providers") && !strcasecmp(seg[1], "Inventory")) {
        ret = inventory_route(&r, seg, nseg, body, role);
        goto out;
    }
    for (size_t i = 0; i < clarity_n_entities; i++) {
        const centity *e = &clarity_entities[i];
        size_t pl = strlen(e->plural);
        if (nseg < 2 || strcasecmp(seg[0], e->module))
            continue;
        if (!strcasecmp(seg[1], e->name) || !strncasecmp(seg[1], e->plural, pl)) {
            if (!strcasecmp(seg[1], e->name) || !strcasecmp(seg[1], e->plural) ||
                !strcasecmp(seg[1] + pl, "Digest") || !strcasecmp(seg[1] + pl, "ForConnect")) {
                ret = entity_route(&r, e, seg, nseg, body, role);
                goto out;
            }
        }
    }
    ret = no_route(&r, url);
out:
    json_decref(body);
    return ret;
}

/* ---------------------------------------------------------------- start / stop */

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[1024];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static const char *keep(clarity_server *s, int slot, const char *v)
{
    if (!v)
        return NULL;
    s->strings[slot] = strdup(v);
    return s->strings[slot];
}

static uint64_t entropy(void)
{
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&v, sizeof v, 1, f) != 1)
            v = 0;
        fclose(f);
    }
    return v ^ (uint64_t)cs_now_ms() ^ ((uint64_t)getpid() << 32);
}

int clarity_server_start(clarity_server **out, const clarity_options *opt, char *err,
                         size_t errlen)
{
    *out = NULL;
    clarity_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->opt = *opt;
    s->opt.bind_address = keep(s, 0, opt->bind_address ? opt->bind_address : "127.0.0.1");
    s->opt.data_dir = keep(s, 1, opt->data_dir);
    s->opt.admin_user = keep(s, 2, opt->admin_user);
    s->opt.admin_password = keep(s, 3, opt->admin_password);
    s->opt.readonly_user = keep(s, 4, opt->readonly_user);
    s->opt.readonly_password = keep(s, 5, opt->readonly_password);
    s->opt.api_key = keep(s, 6, opt->api_key);
    s->opt.webhook_url = keep(s, 7, opt->webhook_url);
    s->opt.webhook_secret = keep(s, 8, opt->webhook_secret);
    if (!s->opt.session_ttl_s)
        s->opt.session_ttl_s = 1200;
    if (!s->opt.max_body)
        s->opt.max_body = 1024 * 1024;
    pthread_mutex_init(&s->sess_mu, NULL);
    seed_rng_init(&s->sess_rng, entropy());

    if (s->opt.data_dir) {
        if (mkdir(s->opt.data_dir, 0755) && errno != EEXIST) {
            snprintf(err, errlen, "%s: %s", s->opt.data_dir, strerror(errno));
            goto fail;
        }
        snprintf(s->data_dir, sizeof s->data_dir, "%s", s->opt.data_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(s->data_dir, sizeof s->data_dir, "%s/clarity-sandbox-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(s->data_dir)) {
            snprintf(err, errlen, "mkdtemp %s: %s", s->data_dir, strerror(errno));
            s->data_dir[0] = '\0';
            goto fail;
        }
        s->temp_dir = 1;
    }
    char dbpath[600];
    snprintf(dbpath, sizeof dbpath, "%s/clarity.db", s->data_dir);
    if (cs_open(&s->store, dbpath, err, errlen))
        goto fail;
    s->cat = malloc(sizeof *s->cat);
    s->stats = sb_stats_new();
    s->faults = sb_faults_new();
    if (!s->cat || !s->stats || !s->faults) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    seed_catalog_build(s->cat, s->opt.seed);
    if (cl_seed_store(s, err, errlen))
        goto fail;
    webhook_config wc = {s->opt.webhook_url, s->opt.webhook_secret, s->opt.webhook_backoff_ms,
                         s->opt.webhook_backoff_max_ms, s->opt.webhook_max_attempts,
                         s->opt.webhook_timeout_ms};
    if (webhook_start(&s->wh, s->store, &wc, err, errlen))
        goto fail;
    if (traffic_new(&s->tr, s->cat, s->opt.seed ? s->opt.seed : SEED_DEFAULT, cl_traffic_submit,
                    s)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->opt.port);
    if (inet_pton(AF_INET, s->opt.bind_address, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "bad bind address '%s'", s->opt.bind_address);
        goto fail;
    }
    s->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
        (uint16_t)s->opt.port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, sb_request_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)1000, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%u (port in use?)", s->opt.bind_address,
                 s->opt.port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon,
                                                           MHD_DAEMON_INFO_BIND_PORT);
    s->port = info && info->port ? info->port : s->opt.port;
    *out = s;
    return 0;
fail:
    clarity_server_stop(s);
    return -1;
}

unsigned clarity_server_port(const clarity_server *s)
{
    return s ? s->port : 0;
}

void clarity_server_stop(clarity_server *s)
{
    if (!s)
        return;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    if (s->tr)
        traffic_stop(s->tr); /* a "wait" run inside a request ends at its next order */
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    traffic_free(s->tr);
    webhook_stop(s->wh);
    cs_close(s->store);
    if (s->temp_dir && s->data_dir[0])
        remove_tree(s->data_dir);
    sb_stats_free(s->stats);
    sb_faults_free(s->faults);
    free(s->cat);
    pthread_mutex_destroy(&s->sess_mu);
    for (size_t i = 0; i < sizeof s->strings / sizeof *s->strings; i++)
        free(s->strings[i]);
    free(s);
}
