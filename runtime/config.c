/* config.c - the sync configuration file: JSON, profiles merged over the top level, secrets
 * by reference (see config.h and docs/operator.md). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "syncrt/auth.h"
#include "syncrt/config.h"
#include "syncrt/scheduler.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Merges src over dst: objects member by member, everything else replaced. */
static int merge(json_t *dst, json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(v)) {
            if (merge(d, v) < 0)
                return -1;
        } else if (json_object_set(dst, k, v) < 0) {
            return -1;
        }
    }
    return 0;
}

typedef struct {
    syncrt_error *err;
    syncrt_status st;
    const char *name;
} rd;

static int bad(rd *r, const char *path, const char *what)
{
    if (r->st == SYNCRT_OK)
        r->st = syncrt_error_set(r->err, SYNCRT_EINVAL, "%s: %s: %s", r->name, path, what);
    return -1;
}

static json_t *member(json_t *o, const char *key)
{
    return json_is_object(o) ? json_object_get(o, key) : NULL;
}

static void get_str(rd *r, char **out, json_t *o, const char *key, const char *path,
                    const char *def)
{
    json_t *v = member(o, key);
    if (!v || json_is_null(v)) {
        *out = dup_or_null(def);
        return;
    }
    if (!json_is_string(v)) {
        bad(r, path, "expected a string");
        return;
    }
    *out = strdup(json_string_value(v));
}

static void get_int(rd *r, long long *out, json_t *o, const char *key, const char *path,
                    long long def, long long min)
{
    json_t *v = member(o, key);
    *out = def;
    if (!v || json_is_null(v))
        return;
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        char msg[64];
        snprintf(msg, sizeof msg, "expected an integer >= %lld", min);
        bad(r, path, msg);
        return;
    }
    *out = json_integer_value(v);
}

static void get_bool(rd *r, int *out, json_t *o, const char *key, const char *path, int def)
{
    json_t *v = member(o, key);
    *out = def;
    if (!v || json_is_null(v))
        return;
    if (!json_is_boolean(v)) {
        bad(r, path, "expected true or false");
        return;
    }
    *out = json_is_true(v);
}

static void check_ref(rd *r, const char *ref, const char *path)
{
    if (ref && strncmp(ref, "env:", 4) != 0 && strncmp(ref, "file:", 5) != 0)
        bad(r, path, "a secret is given by reference: \"env:NAME\" or \"file:PATH\"");
}

static void read_flow(rd *r, syncrt_config_flow *f, const char *name, json_t *o)
{
    char p[160];
    long long v;
    f->name = strdup(name);
    if (!json_is_object(o)) {
        snprintf(p, sizeof p, "flows.%s", name);
        bad(r, p, "expected an object");
        return;
    }
#define P(k) (snprintf(p, sizeof p, "flows.%s.%s", name, k), p)
    get_bool(r, &f->enabled, o, "enabled", P("enabled"), 1);
    get_bool(r, &f->webhook, o, "webhook", P("webhook"), 1);
    get_bool(r, &f->poll, o, "poll", P("poll"), 1);
    get_int(r, &v, o, "poll_every_s", P("poll_every_s"), 0, 0);
    f->poll_every_ms = v * 1000;
    get_int(r, &v, o, "overlap_s", P("overlap_s"), 300, 0);
    f->overlap_ms = v * 1000;
    get_str(r, &f->poll_initial, o, "poll_initial", P("poll_initial"), NULL);
    get_str(r, &f->schedule, o, "schedule", P("schedule"), NULL);
    if (f->schedule) {
        syncrt_cron cron;
        syncrt_error ce;
        if (syncrt_cron_parse(&cron, f->schedule, &ce) != SYNCRT_OK)
            bad(r, P("schedule"), ce.message);
    }
    get_int(r, &v, o, "batch_records", P("batch_records"), 50, 1);
    f->batch_records = (int)v;
    json_t *rt = member(o, "retry");
    if (rt) {
        f->has_retry = 1;
        get_int(r, &v, rt, "max_attempts", P("retry.max_attempts"), 8, 1);
        f->retry.max_attempts = (int)v;
        get_int(r, &v, rt, "base_ms", P("retry.base_ms"), 1000, 1);
        f->retry.base_ms = v;
        get_int(r, &v, rt, "cap_ms", P("retry.cap_ms"), 300000, 1);
        f->retry.cap_ms = v;
    }
#undef P
}

static void read_all(rd *r, syncrt_config *c, json_t *root)
{
    long long v;
    json_t *d = member(root, "d365"), *cl = member(root, "clarity"), *h = member(root, "http");
    json_t *w = member(root, "webhook"), *wk = member(root, "workers"), *fl = member(root, "flows");
    get_str(r, &c->store, root, "store", "store", "sync.db");
    get_str(r, &c->log_level, root, "log_level", "log_level", "info");
    if (!d)
        bad(r, "d365", "missing (the F&O endpoint)");
    get_str(r, &c->d365_url, d, "url", "d365.url", NULL);
    get_str(r, &c->d365_token_url, d, "token_url", "d365.token_url", NULL);
    get_str(r, &c->d365_client_id, d, "client_id", "d365.client_id", NULL);
    get_str(r, &c->d365_secret, d, "client_secret", "d365.client_secret", NULL);
    get_str(r, &c->d365_scope, d, "scope", "d365.scope", NULL);
    get_str(r, &c->d365_resource, d, "resource", "d365.resource", NULL);
    get_int(r, &v, d, "max_batch_ops", "d365.max_batch_ops", 100, 2);
    c->d365_max_batch_ops = (int)v;
    get_int(r, &v, d, "concurrency", "d365.concurrency", 8, 1);
    c->d365_concurrency = (int)v;
    get_int(r, &v, d, "max_requests_per_s", "d365.max_requests_per_s", 0, 0);
    if (v > 1000000)
        bad(r, "d365.max_requests_per_s", "expected an integer <= 1000000 (0: adaptive only)");
    c->d365_max_rate = v > 1000000 ? 0 : (int)v;
    if (d && !c->d365_url)
        bad(r, "d365.url", "missing");
    if (d && c->d365_token_url && (!c->d365_client_id || !c->d365_secret))
        bad(r, "d365", "token_url needs client_id and client_secret");
    check_ref(r, c->d365_secret, "d365.client_secret");

    get_str(r, &c->clarity_root, cl, "root", "clarity.root", NULL);
    get_str(r, &c->clarity_auth, cl, "auth", "clarity.auth", "session");
    get_str(r, &c->clarity_user, cl, "username", "clarity.username", NULL);
    get_str(r, &c->clarity_password, cl, "password", "clarity.password", NULL);
    get_str(r, &c->clarity_api_key, cl, "api_key", "clarity.api_key", NULL);
    get_int(r, &v, cl, "page_size", "clarity.page_size", 100, 1);
    c->clarity_page_size = (long)v;
    check_ref(r, c->clarity_password, "clarity.password");
    check_ref(r, c->clarity_api_key, "clarity.api_key");
    if (c->clarity_auth && strcmp(c->clarity_auth, "session") && strcmp(c->clarity_auth, "basic") &&
        strcmp(c->clarity_auth, "api_key") && strcmp(c->clarity_auth, "none"))
        bad(r, "clarity.auth", "expected \"session\", \"basic\", \"api_key\" or \"none\"");

    get_str(r, &c->ca_file, h, "ca_file", "http.ca_file", NULL);
    get_int(r, &v, h, "connect_timeout_ms", "http.connect_timeout_ms", 10000, 1);
    c->connect_timeout_ms = (long)v;
    get_int(r, &v, h, "total_timeout_ms", "http.total_timeout_ms", 60000, 1);
    c->total_timeout_ms = (long)v;

    get_bool(r, &c->webhook_enabled, w, "enabled", "webhook.enabled", w != NULL);
    get_str(r, &c->webhook_bind, w, "bind", "webhook.bind", "127.0.0.1");
    get_int(r, &v, w, "port", "webhook.port", 8088, 0);
    c->webhook_port = (unsigned)v;
    get_str(r, &c->webhook_path, w, "path", "webhook.path", "/webhook");
    get_str(r, &c->webhook_secret, w, "secret", "webhook.secret", NULL);
    get_int(r, &v, w, "max_body", "webhook.max_body", 1048576, 1);
    c->webhook_max_body = (size_t)v;
    check_ref(r, c->webhook_secret, "webhook.secret");
    if (c->webhook_enabled && !c->webhook_secret)
        bad(r, "webhook.secret", "missing (webhooks are only taken signed)");

    json_t *mt = member(root, "metrics");
    if (mt && !json_is_object(mt))
        bad(r, "metrics", "expected an object");
    get_bool(r, &c->metrics_enabled, mt, "enabled", "metrics.enabled", 1);
    get_str(r, &c->metrics_bind, mt, "bind", "metrics.bind", "127.0.0.1");
    get_int(r, &v, mt, "port", "metrics.port", 9464, 0);
    if (v > 65535)
        bad(r, "metrics.port", "expected an integer <= 65535 (0: any free port)");
    c->metrics_port = v > 65535 ? 0 : (unsigned)v;
    struct in_addr ia;
    if (c->metrics_bind && inet_pton(AF_INET, c->metrics_bind, &ia) != 1)
        bad(r, "metrics.bind", "expected an IPv4 address (\"127.0.0.1\", \"0.0.0.0\")");

    get_int(r, &v, wk, "count", "workers.count", 2, 1);
    c->workers = (int)v;
    get_int(r, &v, wk, "lease_s", "workers.lease_s", 120, 1);
    c->lease_ms = v * 1000;
    get_int(r, &v, wk, "auth_pause_s", "workers.auth_pause_s", 30, 1);
    c->auth_pause_ms = v * 1000;

    if (fl && !json_is_object(fl)) {
        bad(r, "flows", "expected an object");
        return;
    }
    size_t n = fl ? json_object_size(fl) : 0;
    c->flows = calloc(n ? n : 1, sizeof *c->flows);
    if (!c->flows) {
        r->st = syncrt_error_set(r->err, SYNCRT_ENOMEM, "out of memory");
        return;
    }
    const char *k;
    json_t *fv;
    json_object_foreach(fl, k, fv)
        read_flow(r, &c->flows[c->nflows++], k, fv);
}

syncrt_status syncrt_config_parse(syncrt_config **out, const char *text, const char *name,
                                  const char *profile, syncrt_error *err)
{
    json_error_t je;
    rd r = { err, SYNCRT_OK, name ? name : "config" };
    *out = NULL;
    json_t *root = json_loads(text, 0, &je);
    if (!root)
        return syncrt_error_set(err, SYNCRT_EINVAL, "%s:%d:%d: %s", r.name, je.line, je.column,
                                je.text);
    syncrt_config *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(root);
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    }
    if (!json_is_object(root)) {
        bad(&r, "(top)", "expected an object");
        goto done;
    }
    if (!profile)
        profile = json_string_value(json_object_get(root, "profile"));
    if (profile && *profile) {
        json_t *pr = json_object_get(json_object_get(root, "profiles"), profile);
        if (!json_is_object(pr)) {
            bad(&r, "profiles", "no such profile");
            if (r.st == SYNCRT_EINVAL && err)
                snprintf(err->message, sizeof err->message, "%s: profiles.%s: no such profile",
                         r.name, profile);
            goto done;
        }
        json_incref(pr);
        if (merge(root, pr) < 0) {
            json_decref(pr);
            r.st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
            goto done;
        }
        json_decref(pr);
        c->profile = strdup(profile);
    }
    read_all(&r, c, root);
done:
    json_decref(root);
    if (r.st != SYNCRT_OK) {
        syncrt_config_free(c);
        return r.st;
    }
    *out = c;
    return SYNCRT_OK;
}

syncrt_status syncrt_config_load(syncrt_config **out, const char *path, const char *profile,
                                 syncrt_error *err)
{
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (!f)
        return syncrt_error_set(err, SYNCRT_EIO, "%s: cannot open", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
            }
            text = t;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        free(text);
        return syncrt_error_set(err, SYNCRT_EIO, "%s: read error", path);
    }
    text[len] = '\0';
    syncrt_status st = syncrt_config_parse(out, text, path, profile, err);
    free(text);
    return st;
}

void syncrt_config_free(syncrt_config *c)
{
    if (!c)
        return;
    char **strs[] = { &c->profile, &c->store, &c->d365_url, &c->d365_token_url,
                      &c->d365_client_id, &c->d365_secret, &c->d365_scope, &c->d365_resource,
                      &c->clarity_root, &c->clarity_auth, &c->clarity_user, &c->clarity_password,
                      &c->clarity_api_key, &c->ca_file, &c->webhook_bind, &c->webhook_path,
                      &c->webhook_secret, &c->log_level, &c->metrics_bind };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    for (size_t i = 0; i < c->nflows; i++) {
        free(c->flows[i].name);
        free(c->flows[i].poll_initial);
        free(c->flows[i].schedule);
    }
    free(c->flows);
    free(c);
}

const syncrt_config_flow *syncrt_config_flow_get(const syncrt_config *c, const char *name)
{
    for (size_t i = 0; i < c->nflows; i++)
        if (strcmp(c->flows[i].name, name) == 0)
            return &c->flows[i];
    return NULL;
}

syncrt_status syncrt_config_secret(char **out, const char *ref, syncrt_error *err)
{
    *out = NULL;
    if (!ref || (strncmp(ref, "env:", 4) != 0 && strncmp(ref, "file:", 5) != 0))
        return syncrt_error_set(err, SYNCRT_EINVAL,
                                "a secret is given by reference: \"env:NAME\" or \"file:PATH\"");
    return syncrt_auth_secret_load(out, ref, err);
}
