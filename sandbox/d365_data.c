/* d365_data.c - one OData operation on the D365 emulator's /data routes: resolve the entity set
 * and key from the path, then read (d365_query.c), create, update (PATCH/PUT with If-Match) or
 * delete, with the schema's type validation, number sequences and business rules
 * (d365_rules.c).  Shared by the plain HTTP routes and $batch parts; the caller holds srv->mu
 * and owns the transaction.  Errors are answered in F&O's shape (d365_error). */
#include "d365_int.h"
#include "sb_http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void d365_resp_clear(d365_resp *r)
{
    json_decref(r->json);
    free(r->text);
    r->json = NULL;
    r->text = NULL;
    r->text_is_json = false;
    r->etag[0] = '\0';
    r->location[0] = '\0';
    r->status = 0;
}

void d365_error(d365_resp *r, unsigned status, const char *type, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(r->json);
    free(r->text);
    r->text = NULL;
    r->text_is_json = false;
    r->status = status;
    r->json = json_pack("{s:{s:s,s:s,s:{s:s,s:s,s:s}}}", "error", "code", "", "message",
                        "An error has occurred.", "innererror", "message", msg, "type", type,
                        "stacktrace", "");
    if (!r->json) /* message not valid UTF-8: keep the shape */
        r->json = json_pack("{s:{s:s,s:s,s:{s:s,s:s,s:s}}}", "error", "code", "", "message",
                            "An error has occurred.", "innererror", "message",
                            "The request could not be processed.", "type", type, "stacktrace", "");
}

const char *d365_op_arg(const d365_op *op, const char *name)
{
    for (size_t i = 0; i < op->nargs; i++)
        if (strcmp(op->args[i].name, name) == 0)
            return op->args[i].value;
    return NULL;
}

bool d365_is_write(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0 ||
           strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0 ||
           strcmp(method, "MERGE") == 0;
}

static bool is_json_ct(const char *ct)
{
    char mt[128];
    sb_media_type(ct, mt, sizeof mt);
    return strcmp(mt, "application/json") == 0;
}

static const char *const COMPANIES[] = { "usmf", "usrt", NULL };

static json_t *parse_body(const d365_op *op, const schema_type *t, d365_resp *r)
{
    if (!op->content_type || !is_json_ct(op->content_type)) {
        d365_error(r, 415, D365_T_ODATA, "The content type '%s' is not supported: send "
                   "application/json.", op->content_type ? op->content_type : "(none)");
        return NULL;
    }
    json_error_t je;
    json_t *body = json_loadb(op->body ? op->body : "", op->len, 0, &je);
    if (!body) {
        d365_error(r, 400, D365_T_ODATA, "Invalid JSON. %s at line %d, column %d.", je.text,
                   je.line, je.column);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        d365_error(r, 400, D365_T_ODATA, "An entity of type '%s' was expected: the request "
                   "body must be a JSON object.", d365_qualified(t));
        return NULL;
    }
    return body;
}

/* Copy the body's members onto ent, checking names and types.  update: key values may only
 * repeat the current ones and AllowEdit=false fields may not change; create: AllowEditOnCreate=
 * false fields may not be set (keys excepted: manual numbers are accepted). */
static int apply_body(const schema_type *t, json_t *ent, const json_t *body, bool update,
                      bool create, d365_resp *r)
{
    const char *k;
    json_t *v;
    char msg[1024];
    json_object_foreach((json_t *)body, k, v) {
        if (strncmp(k, "@odata.", 7) == 0 || strncmp(k, "odata.", 6) == 0 || strchr(k, '@'))
            continue;
        const schema_prop *p = schema_type_find_prop(t, k);
        if (!p) {
            if (schema_type_find_nav(t, k))
                d365_error(r, 400, D365_T_ODATA, "Deep insert through the navigation property "
                           "'%s' is not supported by this entity.", k);
            else
                d365_error(r, 400, D365_T_ODATA, "The property '%s' does not exist on type '%s'. "
                           "Make sure to only use property names that are defined by the type.",
                           k, d365_qualified(t));
            return -1;
        }
        json_t *cv = d365_coerce(p, v, msg, sizeof msg);
        if (!cv) {
            d365_error(r, 400, D365_T_ODATA, "%s", msg);
            return -1;
        }
        if (strcmp(k, "dataAreaId") == 0 && json_is_string(cv)) {
            char low[64];
            snprintf(low, sizeof low, "%s", json_string_value(cv));
            for (char *c = low; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            json_decref(cv);
            cv = json_string(low);
        }
        if (create && !p->allow_edit_on_create && !p->key && !d365_is_default(p, cv)) {
            d365_error(r, 400, D365_T_WRITE, "Write failed for table row of type '%sEntity'. "
                       "Infolog: Error: The field '%s' cannot be set when the record is "
                       "created.", t->name, k);
            json_decref(cv);
            return -1;
        }
        if (update) {
            json_t *cur = json_object_get(ent, k);
            bool same = (!cur && d365_is_default(p, cv)) || json_equal(cur, cv) ||
                        (json_is_string(cur) && json_is_string(cv) &&
                         strcasecmp(json_string_value(cur), json_string_value(cv)) == 0);
            if (!same && (p->key || !p->allow_edit)) {
                d365_error(r, 400, D365_T_WRITE, "Write failed for table row of type '%sEntity'. "
                           "Infolog: Error: The field '%s' cannot be changed on an existing "
                           "record.", t->name, k);
                json_decref(cv);
                return -1;
            }
        }
        json_object_set_new(ent, k, cv);
    }
    return 0;
}

static int check_company(const schema_type *t, json_t *ent, d365_resp *r)
{
    if (!d365_has_prop(t, "dataAreaId"))
        return 0;
    const char *a = d365_str(ent, "dataAreaId");
    if (!*a) {
        json_object_set_new(ent, "dataAreaId", json_string("usmf"));
        return 0;
    }
    for (size_t i = 0; COMPANIES[i]; i++)
        if (strcmp(COMPANIES[i], a) == 0)
            return 0;
    d365_error(r, 400, D365_T_WRITE, "Write failed for table row of type '%sEntity'. Infolog: "
               "Error: Company '%s' does not exist.", t->name, a);
    return -1;
}

static int check_filled(const schema_type *t, const json_t *ent, d365_resp *r)
{
    for (size_t i = 0; i < t->nprops; i++) {
        const schema_prop *p = &t->props[i];
        if (!p->key && !p->required)
            continue;
        json_t *v = json_object_get(ent, p->name);
        if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v))) {
            d365_error(r, 400, D365_T_WRITE, "Write failed for table row of type '%sEntity'. "
                       "Infolog: Error: Field '%s' must be filled in.", t->name, p->name);
            return -1;
        }
    }
    return 0;
}

static void put_location(d365_server *srv, const schema_type *t, const json_t *ent, d365_resp *r)
{
    char *u = d365_key_url(t, ent);
    if (u)
        snprintf(r->location, sizeof r->location, "%s%s", srv->base_url, u);
    free(u);
}

static void do_create(d365_server *srv, const d365_op *op, const schema_type *t, const char *set,
                      d365_resp *r)
{
    json_t *body = NULL, *ent = NULL;
    char *key = NULL;
    if (t->read_only) {
        d365_error(r, 400, D365_T_WRITE, "The entity '%s' is read-only.", set);
        goto out;
    }
    if (!t->nkeys) {
        d365_error(r, 400, D365_T_WRITE, "The entity type '%s' has no key: it cannot be written.",
                   d365_qualified(t));
        goto out;
    }
    if (!(body = parse_body(op, t, r)))
        goto out;
    ent = d365_entity_defaults(t);
    if (apply_body(t, ent, body, false, true, r) < 0 || check_company(t, ent, r) < 0)
        goto out;
    /* number sequences for generated keys */
    for (size_t i = 0; i < t->nkeys; i++) {
        const char *kf = t->keys[i];
        json_t *kv = json_object_get(ent, kf);
        if (json_is_string(kv) && !*json_string_value(kv)) {
            char *num = d365_next_number(srv, kf, d365_str(ent, "dataAreaId"));
            if (num) {
                /* skip numbers a client already used manually */
                json_object_set_new(ent, kf, json_string(num));
                free(num);
                char *probe_key = d365_key_of(t, ent);
                json_t *dummy = NULL;
                int tries = 0;
                while (probe_key && tries++ < 1000 &&
                       d365_store_get(srv, set, probe_key, &dummy, NULL) == 1) {
                    json_decref(dummy);
                    dummy = NULL;
                    free(probe_key);
                    num = d365_next_number(srv, kf, d365_str(ent, "dataAreaId"));
                    json_object_set_new(ent, kf, json_string(num ? num : ""));
                    free(num);
                    probe_key = d365_key_of(t, ent);
                }
                free(probe_key);
            }
        }
    }
    if (check_filled(t, ent, r) < 0)
        goto out;
    if (d365_rules_before(srv, set, t, "POST", ent, NULL, r) < 0)
        goto out;
    key = d365_key_of(t, ent);
    if (!key) {
        d365_error(r, 400, D365_T_WRITE, "Write failed for table row of type '%sEntity'. "
                   "Infolog: Error: the key fields must be filled in.", t->name);
        goto out;
    }
    int rc = d365_store_insert(srv, set, d365_str(ent, "dataAreaId"), key, ent);
    if (rc == 1) {
        char *u = d365_key_url(t, ent);
        d365_error(r, 400, D365_T_WRITE, "Write failed for table row of type '%sEntity'. Infolog: "
                   "Error: Cannot create a record in %s (%s). %s. The record already exists..",
                   t->name, set, t->name, u ? u + 6 : key);
        free(u);
        goto out;
    }
    if (rc < 0) {
        d365_error(r, 500, D365_T_WRITE, "store error: %s", sqlite3_errmsg(srv->db));
        goto out;
    }
    if (d365_rules_after(srv, set, t, "POST", ent, NULL, r) < 0)
        goto out;
    /* re-read: the rules may have changed the stored row (totals, status) */
    json_t *stored = NULL;
    long long ver = 1;
    if (d365_store_get(srv, set, key, &stored, &ver) == 1) {
        json_decref(ent);
        ent = stored;
    }
    put_location(srv, t, ent, r);
    const char *prefer = op->prefer;
    if (prefer && strstr(prefer, "return=minimal")) {
        d365_etag(r->etag, sizeof r->etag, key, ver);
        r->status = 204;
        goto out;
    }
    d365_op plain = *op;
    plain.nargs = 0;
    d365_query_entity(srv, &plain, t, set, ent, ver, r);
    if (r->status == 200)
        r->status = 201;
out:
    free(key);
    json_decref(body);
    json_decref(ent);
}

static void do_update(d365_server *srv, const d365_op *op, const schema_type *t, const char *set,
                      const char *key, json_t *cur, long long ver, bool replace, d365_resp *r)
{
    json_t *body = NULL, *ent = NULL, *old = json_deep_copy(cur);
    if (t->read_only) {
        d365_error(r, 400, D365_T_WRITE, "The entity '%s' is read-only.", set);
        goto out;
    }
    if (!(body = parse_body(op, t, r)))
        goto out;
    if (replace) {
        ent = d365_entity_defaults(t);
        for (size_t i = 0; i < t->nkeys; i++)
            json_object_set(ent, t->keys[i], json_object_get(cur, t->keys[i]));
        /* non-editable fields keep their values on PUT */
        for (size_t i = 0; i < t->nprops; i++)
            if (!t->props[i].allow_edit && json_object_get(cur, t->props[i].name))
                json_object_set(ent, t->props[i].name, json_object_get(cur, t->props[i].name));
    } else {
        ent = json_deep_copy(cur);
    }
    /* validate against the stored values so unchanged keys pass */
    json_t *probe = json_deep_copy(cur);
    int rc = apply_body(t, probe, body, true, false, r);
    json_decref(probe);
    if (rc < 0 || apply_body(t, ent, body, false, false, r) < 0)
        goto out;
    if (check_filled(t, ent, r) < 0)
        goto out;
    if (d365_rules_before(srv, set, t, replace ? "PUT" : "PATCH", ent, old, r) < 0)
        goto out;
    long long nver = ver;
    if (d365_store_update(srv, set, key, ent, &nver) < 0) {
        d365_error(r, 500, D365_T_WRITE, "store error: %s", sqlite3_errmsg(srv->db));
        goto out;
    }
    if (d365_rules_after(srv, set, t, replace ? "PUT" : "PATCH", ent, old, r) < 0)
        goto out;
    json_t *stored = NULL;
    if (d365_store_get(srv, set, key, &stored, &nver) == 1) {
        json_decref(ent);
        ent = stored;
    }
    d365_etag(r->etag, sizeof r->etag, key, nver);
    if (op->prefer && strstr(op->prefer, "return=representation")) {
        d365_op plain = *op;
        plain.nargs = 0;
        d365_query_entity(srv, &plain, t, set, ent, nver, r);
    } else {
        r->status = 204;
    }
out:
    json_decref(body);
    json_decref(ent);
    json_decref(old);
}

void d365_data_exec(d365_server *srv, const d365_op *op, d365_resp *r)
{
    char setname[200];
    const char *path = op->path;
    size_t n = strcspn(path, "(/");
    json_t *keyobj = NULL, *cur = NULL;
    char *key = NULL;
    bool count = false;
    if (n == 0 || n >= sizeof setname) {
        d365_error(r, 404, D365_T_ODATA, "No HTTP resource was found that matches the request URI "
                   "'%s/data/%s'.", srv->base_url, path);
        snprintf(r->route, sizeof r->route, "/data/?");
        return;
    }
    memcpy(setname, path, n);
    setname[n] = '\0';
    const char *tname = schema_type_for_set(srv->sch, setname);
    const schema_type *t = tname ? schema_find_type(srv->sch, tname) : NULL;
    if (!t) {
        d365_error(r, 404, D365_T_ODATA, "Resource not found for the segment '%s'.", setname);
        snprintf(r->route, sizeof r->route, "/data/?");
        return;
    }
    const char *rest = path + n;
    char keytext[2048] = "";
    if (*rest == '(') {
        /* find the matching ')' outside quotes */
        const char *q = rest + 1;
        bool inq = false;
        while (*q && (inq || *q != ')')) {
            if (*q == '\'') {
                if (inq && q[1] == '\'')
                    q++;
                else
                    inq = !inq;
            }
            q++;
        }
        if (*q != ')' || (size_t)(q - rest - 1) >= sizeof keytext) {
            d365_error(r, 400, D365_T_ODATA, "Bad Request - Error in query syntax.");
            snprintf(r->route, sizeof r->route, "/data/%s(key)", setname);
            return;
        }
        memcpy(keytext, rest + 1, (size_t)(q - rest - 1));
        keytext[q - rest - 1] = '\0';
        rest = q + 1;
        snprintf(r->route, sizeof r->route, "/data/%s(key)", setname);
    } else {
        snprintf(r->route, sizeof r->route, "/data/%s", setname);
    }
    const char *nav = NULL;
    if (strcmp(rest, "/$count") == 0 && !keytext[0]) {
        count = true;
        snprintf(r->route, sizeof r->route, "/data/%s/$count", setname);
    } else if (keytext[0] && rest[0] == '/' && rest[1] && !strchr(rest + 1, '/')) {
        nav = rest + 1; /* Set(key)/Navigation */
        snprintf(r->route, sizeof r->route, "/data/%s(key)/%.40s", setname, nav);
    } else if (*rest) {
        d365_error(r, 404, D365_T_ODATA, "Resource not found for the segment '%s'.", rest);
        return;
    }
    const char *m = op->method;
    bool haskey = keytext[0] != '\0';
    if (nav && strcmp(m, "GET") != 0) {
        d365_error(r, 405, D365_T_ODATA, "Only GET is supported on a navigation property; write "
                   "to the entity set of '%s' instead.", nav);
        return;
    }
    if (!haskey) {
        if (strcmp(m, "GET") == 0) {
            d365_query_collection(srv, op, t, setname, count, r);
        } else if (strcmp(m, "POST") == 0 && !count) {
            do_create(srv, op, t, setname, r);
        } else {
            d365_error(r, 405, D365_T_ODATA, "The HTTP method '%s' is not allowed on the entity "
                       "set '%s'.", m, setname);
        }
        return;
    }
    if (strcmp(m, "POST") == 0) {
        d365_error(r, 405, D365_T_ODATA, "The HTTP method 'POST' is not allowed on an entity: "
                   "POST to the entity set '%s'.", setname);
        return;
    }
    char msg[1024];
    keyobj = d365_key_parse(t, keytext, msg, sizeof msg);
    if (!keyobj) {
        d365_error(r, 400, D365_T_ODATA, "%s", msg);
        goto out;
    }
    key = d365_key_of(t, keyobj);
    long long ver = 0;
    int got = key ? d365_store_get(srv, setname, key, &cur, &ver) : 0;
    if (got < 0) {
        d365_error(r, 500, D365_T_ODATA, "store error: %s", sqlite3_errmsg(srv->db));
        goto out;
    }
    if (got == 0) {
        d365_error(r, 404, D365_T_ODATA, "Resource not found for the segment '%s'.", setname);
        goto out;
    }
    if (op->if_match && strcmp(op->if_match, "*") != 0 && d365_is_write(m)) {
        char etag[128];
        d365_etag(etag, sizeof etag, key, ver);
        if (strcmp(etag, op->if_match) != 0) {
            d365_error(r, 412, D365_T_ODATA, "The etag value in the request header does not "
                       "match with the current etag value of the object.");
            goto out;
        }
    }
    if (nav) {
        d365_query_nav(srv, op, t, cur, nav, r);
    } else if (strcmp(m, "GET") == 0) {
        d365_query_entity(srv, op, t, setname, cur, ver, r);
    } else if (strcmp(m, "PATCH") == 0 || strcmp(m, "MERGE") == 0) {
        do_update(srv, op, t, setname, key, cur, ver, false, r);
    } else if (strcmp(m, "PUT") == 0) {
        do_update(srv, op, t, setname, key, cur, ver, true, r);
    } else if (strcmp(m, "DELETE") == 0) {
        if (t->read_only) {
            d365_error(r, 400, D365_T_WRITE, "The entity '%s' is read-only.", setname);
            goto out;
        }
        if (d365_rules_before(srv, setname, t, "DELETE", cur, cur, r) < 0)
            goto out;
        if (d365_store_delete(srv, setname, key) != 0) {
            d365_error(r, 500, D365_T_ODATA, "store error: %s", sqlite3_errmsg(srv->db));
            goto out;
        }
        if (d365_rules_after(srv, setname, t, "DELETE", NULL, cur, r) < 0)
            goto out;
        r->status = 204;
    } else {
        d365_error(r, 405, D365_T_ODATA, "The HTTP method '%s' is not allowed on an entity.", m);
    }
out:
    json_decref(keyobj);
    json_decref(cur);
    free(key);
}
