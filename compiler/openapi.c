/* openapi.c - the OpenAPI 2.0 / 3.x (JSON) loader, on jansson.
 *
 * Types are the named schemas (2.0 "definitions", 3.x "components.schemas"); named schemas
 * that are string enums are also indexed as enums.  Properties are materialised for the
 * wanted types and, transitively, for every named type they reference ($ref, allOf, array
 * items); reference cycles are followed once (the type object exists before its properties
 * are read, so A -> B -> A links back instead of looping).
 *
 *   - allOf: the properties and required[] of every member are merged, later ones winning.
 *   - nullable: a property is nullable unless listed in required[]; nullable: true (3.0),
 *     x-nullable: true (2.0) or a type list holding "null" (3.1) make it nullable anyway.
 *   - kinds: integer int32 -> int32, integer (int64 or no format) -> int64; number float /
 *     double -> double, other numbers -> decimal; string formats date-time, date, time,
 *     uuid/guid, byte/binary; a string with enum -> enum; object with properties -> object
 *     (inline objects become unnamed types "Owner.Prop"); object without properties -> any.
 *   - readOnly: true -> computed (server generated).
 *   - keys: "x-keys" (array of names) or "x-key" (one name) on a schema, when present.
 *   - oneOf / anyOf / not and schemas without type or properties -> any; a named schema that
 *     is a primitive or an array ("Money": number) is not a type, its users get its kind.
 *
 * Entity sets are derived from the paths: a GET on a path without parameters ("{...}")
 * whose 200/201/default response is an array of a named type X, or an object (named or
 * inline) with an array property Results / results / value / items / Items / data of X,
 * gives a set named after the path's last segment, of type X.  CEF's
 * "GET /Ordering/SalesOrders" -> {Results: [SalesOrder], TotalCount, ...} gives
 * "SalesOrders -> SalesOrder" (and CEF's digest routes "GET /M/XsDigest" -> [DigestItem]
 * give "XsDigest -> DigestItem").  When any GET carries "x-entity-set": NAME (and
 * optionally "x-entity-type": TYPE), only the marked routes are sets, named by the marker.
 * Broken $refs met while deriving sets only mean "no set"
 * (they are reported when a wanted type uses them).  The first path wins a set name.  A
 * type served by a set is an entity; when the document yields no set at all, every object
 * schema counts as one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "schema_internal.h"

#define OA_MAX_DEPTH 64
/* Schemas reached through non-named pointers and allOf fan-out are expanded each time they
 * are used; this bounds the total work on hostile documents. */
#define OA_MAX_WORK 2000000L

typedef struct oa_ctx {
    schema *s;
    json_t *root;
    json_t *defs;            /* the named schemas object */
    const char *defs_prefix; /* "#/definitions/" or "#/components/schemas/" */
    const char *data;
    size_t len;
    schema_error *err;
    bool failed;
    bool quiet;              /* deriving sets: a broken $ref there only means "no set" */
    long work;
    /* inline object schemas already turned into (unnamed) types, by JSON node: each is
     * materialised once, and pointer refs back into it link instead of recursing */
    const json_t **memo_keys;
    schema_type **memo_vals;
    size_t memo_cap, memo_n;
    sch_vec queue;           /* named types allocated but whose properties are not read yet */
} oa_ctx;

static size_t oa_memo_slot(const oa_ctx *c, const json_t *k)
{
    size_t h = ((size_t)(uintptr_t)k >> 4) * 0x9E3779B97F4A7C15ULL;
    size_t j = h & (c->memo_cap - 1);
    while (c->memo_keys[j] && c->memo_keys[j] != k)
        j = (j + 1) & (c->memo_cap - 1);
    return j;
}

static schema_type *oa_memo_get(const oa_ctx *c, const json_t *k)
{
    if (!c->memo_cap)
        return NULL;
    size_t j = oa_memo_slot(c, k);
    return c->memo_keys[j] ? c->memo_vals[j] : NULL;
}

static int oa_memo_put(oa_ctx *c, const json_t *k, schema_type *t)
{
    if ((c->memo_n + 1) * 2 > c->memo_cap) {
        size_t ncap = c->memo_cap ? c->memo_cap * 2 : 64;
        const json_t **ok = c->memo_keys;
        schema_type **ov = c->memo_vals;
        size_t ocap = c->memo_cap;
        c->memo_keys = calloc(ncap, sizeof *c->memo_keys);
        c->memo_vals = calloc(ncap, sizeof *c->memo_vals);
        if (!c->memo_keys || !c->memo_vals) {
            free(c->memo_keys);
            free(c->memo_vals);
            c->memo_keys = ok;
            c->memo_vals = ov;
            c->s->oom = true;
            return -1;
        }
        c->memo_cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (ok[i]) {
                size_t j = oa_memo_slot(c, ok[i]);
                c->memo_keys[j] = ok[i];
                c->memo_vals[j] = ov[i];
            }
        free(ok);
        free(ov);
    }
    size_t j = oa_memo_slot(c, k);
    if (!c->memo_keys[j])
        c->memo_n++;
    c->memo_keys[j] = k;
    c->memo_vals[j] = t;
    return 0;
}

/* Line and column of the first occurrence of needle in the document (0, 0 if not found). */
static void oa_locate(const oa_ctx *c, const char *needle, int *line, int *col)
{
    *line = *col = 0;
    size_t nl = strlen(needle);
    if (!nl || nl > c->len)
        return;
    const char *hit = NULL;
    for (const char *p = c->data; p + nl <= c->data + c->len; p++) {
        p = memchr(p, needle[0], (size_t)(c->data + c->len - p));
        if (!p || p + nl > c->data + c->len)
            break;
        if (!memcmp(p, needle, nl)) {
            hit = p;
            break;
        }
    }
    if (!hit)
        return;
    int l = 1, cl = 1;
    for (const char *p = c->data; p < hit; p++) {
        if (*p == '\n') {
            l++;
            cl = 1;
        } else {
            cl++;
        }
    }
    *line = l;
    *col = cl;
}

static void oa_fail(oa_ctx *c, const char *locate, const char *fmt, const char *arg)
{
    if (c->failed || c->quiet)
        return;
    c->failed = true;
    int line = 0, col = 0;
    if (locate) {
        char q[600];
        snprintf(q, sizeof q, "\"%s\"", locate);
        oa_locate(c, q, &line, &col);
    }
    char text[512];
    snprintf(text, sizeof text, fmt, arg ? arg : "");
    sch_set_error(c->err, c->s->path, line, col, "%s", text);
}

/* Resolve a local JSON pointer ("#/a/b~1c"); NULL when it does not resolve. */
static json_t *oa_pointer(oa_ctx *c, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    const char *p = ref + 1;
    json_t *cur = c->root;
    char seg[512];
    while (*p == '/' && cur) {
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~' && *p == '0') {
                ch = '~';
                p++;
            } else if (ch == '~' && *p == '1') {
                ch = '/';
                p++;
            }
            if (n + 1 >= sizeof seg)
                return NULL;
            seg[n++] = ch;
        }
        seg[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            cur = (*seg && !*end) ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
    }
    return *p ? NULL : cur;
}

/* The named type a $ref designates ("#/definitions/X" -> X), or NULL. */
static const char *oa_ref_name(const oa_ctx *c, const char *ref)
{
    size_t pl = strlen(c->defs_prefix);
    if (strncmp(ref, c->defs_prefix, pl) || !ref[pl] || strchr(ref + pl, '/') ||
        strchr(ref + pl, '~'))
        return NULL;
    return ref + pl;
}

/* Follow $ref chains to a schema object; sets *named to the last named type passed through.
 * NULL with the error set when a reference is broken. */
static json_t *oa_deref(oa_ctx *c, json_t *sch, const char **named, const char **refstr)
{
    if (named)
        *named = NULL;
    if (refstr)
        *refstr = NULL;
    for (int hops = 0; json_is_object(sch); hops++) {
        json_t *r = json_object_get(sch, "$ref");
        if (!r)
            return sch;
        const char *ref = json_string_value(r);
        if (!ref) {
            oa_fail(c, "$ref", "$ref is not a string", NULL);
            return NULL;
        }
        if (hops > 32) {
            oa_fail(c, ref, "circular $ref '%s'", ref);
            return NULL;
        }
        if (ref[0] != '#') {
            oa_fail(c, ref, "external $ref '%s' is not supported (only local #/... refs)", ref);
            return NULL;
        }
        json_t *t = oa_pointer(c, ref);
        if (!t) {
            oa_fail(c, ref, "unresolved $ref '%s'", ref);
            return NULL;
        }
        if (named && oa_ref_name(c, ref))
            *named = oa_ref_name(c, ref);
        if (refstr && !*refstr)
            *refstr = ref;
        sch = t;
    }
    if (!json_is_object(sch) && !json_is_boolean(sch)) {
        oa_fail(c, NULL, "a schema is not a JSON object", NULL);
        return NULL;
    }
    return json_is_object(sch) ? sch : NULL;
}

/* The primary "type" of a schema (3.1 allows ["string", "null"]); *has_null when listed. */
static const char *oa_type(json_t *sch, bool *has_null)
{
    *has_null = false;
    json_t *t = json_object_get(sch, "type");
    if (json_is_string(t))
        return json_string_value(t);
    const char *first = NULL;
    if (json_is_array(t)) {
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v) {
            const char *s = json_string_value(v);
            if (!s)
                continue;
            if (!strcmp(s, "null"))
                *has_null = true;
            else if (!first)
                first = s;
        }
    }
    return first;
}

static bool oa_is_objectish(json_t *sch)
{
    bool n;
    const char *t = oa_type(sch, &n);
    if (t)
        return !strcmp(t, "object") && !json_object_get(sch, "enum");
    return json_object_get(sch, "properties") || json_object_get(sch, "allOf");
}

static bool oa_is_enum(json_t *sch)
{
    bool n;
    const char *t = oa_type(sch, &n);
    return json_is_array(json_object_get(sch, "enum")) && (!t || !strcmp(t, "string"));
}

static schema_enum *oa_make_enum(oa_ctx *c, json_t *sch, const char *name)
{
    schema *s = c->s;
    json_t *vals = json_object_get(sch, "enum");
    size_t n = json_array_size(vals);
    schema_enum *e = sch_alloc(s, sizeof *e);
    schema_enum_member *m = n ? sch_alloc(s, n * sizeof *m) : NULL;
    if (!e || (n && !m))
        return NULL;
    e->name = e->qualified = sch_strdup(s, name);
    if (!e->name)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(vals, i);
        char buf[64];
        const char *txt = NULL;
        if (json_is_string(v))
            txt = json_string_value(v);
        else if (json_is_integer(v)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            txt = buf;
        } else if (json_is_real(v)) {
            snprintf(buf, sizeof buf, "%g", json_real_value(v));
            txt = buf;
        } else if (json_is_boolean(v)) {
            txt = json_is_true(v) ? "true" : "false";
        }
        if (!txt)
            continue; /* null in an enum: nullability, not a member */
        m[k].name = sch_strdup(s, txt);
        if (!m[k].name)
            return NULL;
        m[k].value = (long long)i;
        k++;
    }
    e->nmembers = k;
    e->members = m;
    return e;
}

static schema_type *oa_materialise(oa_ctx *c, size_t idx, int depth);
static schema_type *oa_object(oa_ctx *c, json_t *sch, const char *name, const char *qualified,
                              bool is_entity, schema_type *t, int depth);

/* Fill *tr for the schema sch (a property or items schema) of owner.prop. */
static int oa_typeref(oa_ctx *c, schema_typeref *tr, json_t *sch, const char *owner,
                      const char *prop, bool *nullable_out, int depth)
{
    schema *s = c->s;
    if (depth > OA_MAX_DEPTH) {
        oa_fail(c, prop, "schema of '%s' nested too deeply", prop);
        return -1;
    }
    if (++c->work > OA_MAX_WORK) {
        oa_fail(c, NULL, "schema too complex (expands beyond %s schema nodes)", "2000000");
        return -1;
    }
    const char *named, *refstr;
    json_t *d = oa_deref(c, sch, &named, &refstr);
    if (c->failed)
        return -1;
    tr->kind = SK_ANY;
    tr->name = "any";
    if (!d)
        return 0; /* boolean schema (true/false): anything */
    bool has_null = false;
    const char *type = oa_type(d, &has_null);
    if (nullable_out) {
        if (has_null || json_is_true(json_object_get(d, "nullable")) ||
            json_is_true(json_object_get(d, "x-nullable")) ||
            json_is_true(json_object_get(sch, "nullable")) ||
            json_is_true(json_object_get(sch, "x-nullable")))
            *nullable_out = true;
    }
    if (named) {
        /* a named schema: object types link to their materialised type, enums to the enum */
        size_t ti = sch_find_tentry(s, named);
        tr->name = sch_strdup(s, refstr);
        if (!tr->name)
            return -1;
        if (oa_is_enum(d)) {
            tr->kind = SK_ENUM;
            tr->enumt = schema_find_enum(s, named);
            if (tr->enumt)
                return 0;
        } else if (ti != (size_t)-1 && oa_is_objectish(d)) {
            tr->kind = SK_OBJECT;
            tr->object = oa_materialise(c, ti, depth + 1);
            return c->failed || s->oom ? -1 : 0;
        }
    }
    if (!named) {
        /* the JSON tree dies with the load: keep a copy */
        tr->name = sch_strdup(s, type ? type : (json_object_get(d, "properties") ? "object"
                                                                                 : "any"));
        if (!tr->name)
            return -1;
    }
    if (oa_is_enum(d)) {
        char ename[600];
        snprintf(ename, sizeof ename, "%s.%s", owner, prop);
        tr->kind = SK_ENUM;
        tr->enumt = oa_make_enum(c, d, named ? named : ename);
        return tr->enumt ? 0 : -1;
    }
    const char *fmt = json_string_value(json_object_get(d, "format"));
    if (!type) {
        if (json_object_get(d, "properties") || json_object_get(d, "allOf"))
            type = "object";
        else if (json_object_get(d, "items"))
            type = "array";
        else
            return 0;
    }
    if (!strcmp(type, "string")) {
        tr->kind = SK_STRING;
        if (fmt) {
            if (!strcmp(fmt, "date-time"))
                tr->kind = SK_DATETIME;
            else if (!strcmp(fmt, "date"))
                tr->kind = SK_DATE;
            else if (!strcmp(fmt, "time") || !strcmp(fmt, "duration"))
                tr->kind = SK_TIME;
            else if (!strcmp(fmt, "uuid") || !strcmp(fmt, "guid"))
                tr->kind = SK_GUID;
            else if (!strcmp(fmt, "byte") || !strcmp(fmt, "binary"))
                tr->kind = SK_BINARY;
            else if (!strcmp(fmt, "decimal"))
                tr->kind = SK_DECIMAL;
        }
    } else if (!strcmp(type, "integer")) {
        tr->kind = fmt && !strcmp(fmt, "int32") ? SK_INT32 : SK_INT64;
    } else if (!strcmp(type, "number")) {
        tr->kind = fmt && (!strcmp(fmt, "float") || !strcmp(fmt, "double")) ? SK_DOUBLE
                                                                              : SK_DECIMAL;
    } else if (!strcmp(type, "boolean")) {
        tr->kind = SK_BOOLEAN;
    } else if (!strcmp(type, "array")) {
        tr->kind = SK_ARRAY;
        schema_typeref *el = sch_alloc(s, sizeof *el);
        if (!el)
            return -1;
        tr->elem = el;
        json_t *items = json_object_get(d, "items");
        if (items) {
            char iname[600];
            snprintf(iname, sizeof iname, "%s.%s", owner, prop);
            if (oa_typeref(c, el, items, iname, "item", NULL, depth + 1) < 0)
                return -1;
        } else {
            el->kind = SK_ANY;
            el->name = "any";
        }
    } else if (!strcmp(type, "object")) {
        if (!json_object_get(d, "properties") && !json_object_get(d, "allOf"))
            return 0; /* a free-form object (maybe additionalProperties): any */
        char oname[600];
        snprintf(oname, sizeof oname, "%s.%s", owner, prop);
        tr->kind = SK_OBJECT;
        tr->object = oa_memo_get(c, d);
        if (!tr->object) {
            schema_type *t = sch_alloc(s, sizeof *t);
            if (!t || !(t->name = t->qualified = sch_strdup(s, oname)) ||
                oa_memo_put(c, d, t) < 0)
                return -1;
            tr->object = oa_object(c, d, oname, NULL, false, t, depth + 1);
        }
        if (!tr->object)
            return -1;
    }
    return 0;
}

/* Collect properties (name -> schema) and required names of sch, merging allOf. */
typedef struct oa_pending {
    const char *name;
    json_t *sch;
} oa_pending;

static int oa_collect(oa_ctx *c, json_t *sch, sch_vec *props, sch_map *seen, sch_vec *req,
                      sch_vec *merged, int depth)
{
    if (depth > 32)
        return 0; /* an allOf chain this deep is a cycle: each member was merged already */
    if (++c->work > OA_MAX_WORK) {
        oa_fail(c, NULL, "schema too complex (expands beyond %s schema nodes)", "2000000");
        return -1;
    }
    json_t *d = oa_deref(c, sch, NULL, NULL);
    if (c->failed)
        return -1;
    if (!d)
        return 0;
    /* merging a schema twice changes nothing: skip repeats (allOf cycles and diamonds) */
    json_t *const *done = merged->data;
    for (size_t i = 0; i < merged->n; i++)
        if (done[i] == d)
            return 0;
    json_t **slot = sch_vec_push(merged);
    if (!slot) {
        c->s->oom = true;
        return -1;
    }
    *slot = d;
    json_t *all = json_object_get(d, "allOf");
    if (json_is_array(all)) {
        size_t i;
        json_t *m;
        json_array_foreach(all, i, m) {
            if (oa_collect(c, m, props, seen, req, merged, depth + 1) < 0)
                return -1;
        }
    }
    json_t *p = json_object_get(d, "properties");
    if (json_is_object(p)) {
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v) {
            oa_pending *pp = NULL;
            size_t at;
            if (sch_map_get(seen, k, &at)) {
                pp = &((oa_pending *)props->data)[at];
            } else {
                if (sch_map_put(seen, k, props->n) < 0 || !(pp = sch_vec_push(props))) {
                    c->s->oom = true;
                    return -1;
                }
            }
            pp->name = k;
            pp->sch = v;
        }
    } else if (p) {
        oa_fail(c, "properties", "'properties' is not an object", NULL);
        return -1;
    }
    json_t *r = json_object_get(d, "required");
    if (json_is_array(r)) {
        size_t i;
        json_t *v;
        json_array_foreach(r, i, v) {
            if (!json_is_string(v))
                continue;
            const char **rs = sch_vec_push(req);
            if (!rs) {
                c->s->oom = true;
                return -1;
            }
            *rs = json_string_value(v);
        }
    }
    return 0;
}

static schema_type *oa_object(oa_ctx *c, json_t *sch, const char *name, const char *qualified,
                              bool is_entity, schema_type *t, int depth)
{
    schema *s = c->s;
    if (depth > OA_MAX_DEPTH) {
        oa_fail(c, name, "schema '%s' nested too deeply", name);
        return NULL;
    }
    if (!t) {
        t = sch_alloc(s, sizeof *t);
        if (!t)
            return NULL;
        t->name = sch_strdup(s, name);
        t->qualified = qualified ? sch_strdup(s, qualified) : t->name;
        if (!t->name || !t->qualified)
            return NULL;
    }
    t->is_entity = is_entity;
    sch_vec pend = {.elem = sizeof(oa_pending)};
    sch_vec req = {.elem = sizeof(const char *)};
    sch_vec keys = {.elem = sizeof(const char *)};
    sch_map seen = {0};
    sch_vec merged = {.elem = sizeof(json_t *)};
    schema_prop *props = NULL;
    schema_type *ret = NULL;
    int crc = oa_collect(c, sch, &pend, &seen, &req, &merged, 0);
    sch_map_free(&seen);
    sch_vec_free(&merged);
    if (crc < 0)
        goto out;
    props = pend.n ? sch_alloc(s, pend.n * sizeof *props) : NULL;
    if (pend.n && !props)
        goto out;
    /* keys from x-keys / x-key */
    json_t *d = oa_deref(c, sch, NULL, NULL);
    json_t *xk = d ? json_object_get(d, "x-keys") : NULL;
    if (d && !xk)
        xk = json_object_get(d, "x-key");
    if (json_is_string(xk)) {
        const char **k = sch_vec_push(&keys);
        if (!k || !(*k = sch_strdup(s, json_string_value(xk))))
            goto oom;
    } else if (json_is_array(xk)) {
        size_t i;
        json_t *v;
        json_array_foreach(xk, i, v) {
            if (!json_is_string(v))
                continue;
            const char **k = sch_vec_push(&keys);
            if (!k || !(*k = sch_strdup(s, json_string_value(v))))
                goto oom;
        }
    }
    const oa_pending *pp = pend.data;
    const char *const *rq = req.data;
    for (size_t i = 0; i < pend.n; i++) {
        schema_prop *p = &props[i];
        p->name = sch_strdup(s, pp[i].name);
        if (!p->name)
            goto oom;
        p->max_length = p->precision = p->scale = SCHEMA_UNSTATED;
        p->allow_edit = p->allow_edit_on_create = true;
        for (size_t k = 0; k < req.n; k++)
            if (!strcmp(rq[k], pp[i].name))
                p->required = true;
        bool nullable = !p->required;
        if (oa_typeref(c, &p->type, pp[i].sch, name, pp[i].name, &nullable, depth) < 0)
            goto out;
        p->nullable = nullable;
        json_t *pd = oa_deref(c, pp[i].sch, NULL, NULL);
        if (pd) {
            json_t *ml = json_object_get(pd, "maxLength");
            if (!ml)
                ml = json_object_get(pp[i].sch, "maxLength");
            if (json_is_integer(ml) && json_integer_value(ml) >= 0 &&
                json_integer_value(ml) <= 0x7fffffff)
                p->max_length = (int)json_integer_value(ml);
            if (json_is_true(json_object_get(pd, "readOnly")) ||
                json_is_true(json_object_get(pp[i].sch, "readOnly")))
                p->computed = true;
        }
        for (size_t k = 0; k < keys.n; k++)
            if (!strcmp(((const char **)keys.data)[k], p->name))
                p->key = true;
    }
    t->nprops = pend.n;
    t->props = props;
    t->nkeys = keys.n;
    t->keys = sch_vec_to_arena(s, &keys);
    if (keys.n && !t->keys)
        goto oom;
    ret = t;
    goto out;
oom:
    s->oom = true;
out:
    sch_vec_free(&pend);
    sch_vec_free(&req);
    sch_vec_free(&keys);
    return ret;
}

/* The type object of a named schema.  Its properties are read later from the queue (no
 * recursion along chains of named types; cycles link to the same object). */
static schema_type *oa_materialise(oa_ctx *c, size_t idx, int depth)
{
    (void)depth;
    schema *s = c->s;
    sch_tentry *te = &s->types[idx];
    if (te->t)
        return te->t;
    schema_type *t = sch_alloc(s, sizeof *t);
    size_t *q = sch_vec_push(&c->queue);
    if (!t || !q) {
        s->oom = true;
        return NULL;
    }
    *q = idx;
    t->name = te->name;
    t->qualified = te->qualified;
    t->is_entity = te->is_entity;
    te->t = t;
    return t;
}

static int oa_drain(oa_ctx *c)
{
    schema *s = c->s;
    while (c->queue.n && !c->failed && !s->oom) {
        size_t idx = ((size_t *)c->queue.data)[--c->queue.n];
        sch_tentry *te = &s->types[idx];
        json_t *sch = json_object_get(c->defs, te->name);
        if (!oa_object(c, sch, te->name, te->qualified, te->is_entity, te->t, 0))
            return -1;
    }
    return c->failed || s->oom ? -1 : 0;
}

/* ---- entity sets from paths ----------------------------------------------------------- */

static json_t *oa_response_schema(oa_ctx *c, json_t *op)
{
    json_t *resps = json_object_get(op, "responses");
    static const char *const codes[] = {"200", "201", "default"};
    for (size_t i = 0; i < 3; i++) {
        json_t *r = json_object_get(resps, codes[i]);
        if (!json_is_object(r))
            continue;
        json_t *rr = oa_deref(c, r, NULL, NULL);
        if (!rr)
            return NULL;
        json_t *sch = json_object_get(rr, "schema"); /* 2.0 */
        if (sch)
            return sch;
        json_t *content = json_object_get(rr, "content"); /* 3.x */
        json_t *mt = json_object_get(content, "application/json");
        if (!mt && json_is_object(content)) {
            const char *k;
            json_t *v;
            json_object_foreach(content, k, v) {
                if (json_object_get(v, "schema")) {
                    mt = v;
                    break;
                }
            }
        }
        if (mt)
            return json_object_get(mt, "schema");
    }
    return NULL;
}

/* The named element type of an array schema, or NULL. */
static const char *oa_array_of(oa_ctx *c, json_t *sch)
{
    json_t *d = oa_deref(c, sch, NULL, NULL);
    if (!d)
        return NULL;
    bool n;
    const char *t = oa_type(d, &n);
    json_t *items = json_object_get(d, "items");
    if (!items || (t && strcmp(t, "array")))
        return NULL;
    const char *named;
    json_t *el = oa_deref(c, items, &named, NULL);
    return el && named && sch_find_tentry(c->s, named) != (size_t)-1 ? named : NULL;
}

/* Does any GET operation carry an explicit "x-entity-set" marker? */
static bool oa_has_set_markers(json_t *paths)
{
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) {
        if (json_is_string(json_object_get(json_object_get(item, "get"), "x-entity-set")))
            return true;
    }
    return false;
}

static int oa_sets(oa_ctx *c)
{
    json_t *paths = json_object_get(c->root, "paths");
    if (!json_is_object(paths))
        return 0;
    /* A document that marks its list routes ("x-entity-set": NAME, optionally
     * "x-entity-type": TYPE) says exactly which routes are sets: only those count, so
     * helper routes returning arrays (CEF's XsDigest) do not become sets. */
    bool marked = oa_has_set_markers(paths);
    c->quiet = true;
    int rc = 0;
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) {
        json_t *get = json_object_get(item, "get");
        if (!json_is_object(get) || strchr(path, '{'))
            continue;
        const char *last = strrchr(path, '/');
        last = last ? last + 1 : path;
        if (marked) {
            json_t *mark = json_object_get(get, "x-entity-set");
            if (!json_is_string(mark))
                continue;
            last = json_string_value(mark);
            json_t *mtype = json_object_get(get, "x-entity-type");
            if (json_is_string(mtype) &&
                sch_find_tentry(c->s, json_string_value(mtype)) != (size_t)-1) {
                if (sch_add_set(c->s, last, json_string_value(mtype)) < 0) {
                    rc = -1;
                    break;
                }
                continue;
            }
        }
        if (!*last)
            continue;
        json_t *sch = oa_response_schema(c, get);
        if (!sch)
            continue;
        const char *type = oa_array_of(c, sch);
        if (!type && !c->failed) {
            json_t *d = oa_deref(c, sch, NULL, NULL);
            json_t *props = d ? json_object_get(d, "properties") : NULL;
            static const char *const wrap[] = {"Results", "results", "value", "items",
                                               "Items", "data"};
            for (size_t i = 0; i < 6 && !type && json_is_object(props); i++) {
                json_t *w = json_object_get(props, wrap[i]);
                if (w)
                    type = oa_array_of(c, w);
            }
        }
        if (type && sch_add_set(c->s, last, type) < 0) {
            rc = -1;
            break;
        }
    }
    c->quiet = false;
    return rc;
}

/* ---- entry ---------------------------------------------------------------------------- */

int openapi_load(schema *s, const char *data, size_t len, schema_error *err)
{
    oa_ctx c = {.s = s, .data = data, .len = len, .err = err,
                .queue = {.elem = sizeof(size_t)}};
    json_error_t jerr;
    int rc = -1;
    c.root = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (!c.root) {
        sch_set_error(err, s->path, jerr.line > 0 ? jerr.line : 0,
                      jerr.column > 0 ? jerr.column : 0, "%s", jerr.text);
        return -1;
    }
    if (!json_is_object(c.root)) {
        sch_set_error(err, s->path, 1, 1, "an OpenAPI document is a JSON object");
        goto out;
    }
    json_t *sw = json_object_get(c.root, "swagger");
    json_t *oa = json_object_get(c.root, "openapi");
    if (sw) {
        if (!json_is_string(sw) || strcmp(json_string_value(sw), "2.0")) {
            oa_fail(&c, "swagger", "unsupported Swagger version '%s' (mapc reads 2.0 and 3.x)",
                    json_is_string(sw) ? json_string_value(sw) : "?");
            goto out;
        }
        c.defs = json_object_get(c.root, "definitions");
        c.defs_prefix = "#/definitions/";
    } else if (oa) {
        const char *v = json_string_value(oa);
        if (!v || strncmp(v, "3.", 2)) {
            oa_fail(&c, "openapi", "unsupported OpenAPI version '%s' (mapc reads 2.0 and 3.x)",
                    v ? v : "?");
            goto out;
        }
        c.defs = json_object_get(json_object_get(c.root, "components"), "schemas");
        c.defs_prefix = "#/components/schemas/";
    } else {
        sch_set_error(err, s->path, 1, 1,
                      "not an OpenAPI document: no \"swagger\" or \"openapi\" field");
        goto out;
    }
    if (c.defs && !json_is_object(c.defs)) {
        oa_fail(&c, sw ? "definitions" : "schemas", "%s is not an object",
                sw ? "definitions" : "components.schemas");
        goto out;
    }
    /* index: every named schema is a type; string enums are enums too */
    const char *k;
    json_t *v;
    json_object_foreach(c.defs, k, v) {
        if (!json_is_object(v)) {
            oa_fail(&c, k, "schema '%s' is not an object", k);
            goto out;
        }
        if (oa_is_enum(v)) {
            schema_enum *e = oa_make_enum(&c, v, k);
            if (!e || sch_add_enum(s, e) < 0)
                goto out;
            if (!json_object_get(v, "properties"))
                continue;
        }
        /* object schemas (and aliases of other schemas) are types; a named primitive or
         * array ("Money": number) is only used through the properties that refer to it */
        bool n;
        const char *ty = oa_type(v, &n);
        if (!json_object_get(v, "$ref") && !oa_is_objectish(v) && ty)
            continue;
        if (sch_add_type(s, k, NULL, false, 0) == (size_t)-1)
            goto out;
    }
    if (oa_sets(&c) < 0)
        goto out;
    for (size_t i = 0; i < s->nsets; i++) {
        size_t ti = sch_find_tentry(s, s->sets[i].type);
        if (ti != (size_t)-1)
            s->types[ti].is_entity = true;
    }
    if (!s->nsets)
        for (size_t i = 0; i < s->ntypes; i++)
            s->types[i].is_entity = oa_is_objectish(json_object_get(c.defs, s->types[i].name));
    for (size_t i = 0; i < s->ntypes && !c.failed; i++) {
        const char *name = s->types[i].name;
        const char *set = schema_set_for_type(s, name);
        bool wanted = sch_wanted(s, name) || (set && sch_wanted(s, set));
        if (!wanted)
            for (size_t j = 0; j < s->nsets && !wanted; j++)
                wanted = !strcmp(s->sets[j].type, name) && sch_wanted(s, s->sets[j].name);
        if (wanted && (!oa_materialise(&c, i, 0) || oa_drain(&c) < 0))
            goto out;
    }
    if (c.failed || s->oom)
        goto out;
    rc = 0;
out:
    if (rc < 0 && s->oom && !c.failed)
        sch_set_error(err, s->path, 0, 0, "out of memory");
    free(c.memo_keys);
    free(c.memo_vals);
    sch_vec_free(&c.queue);
    json_decref(c.root);
    return rc;
}
