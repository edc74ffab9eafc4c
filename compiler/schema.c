/* schema.c - the neutral schema model: the arena that owns a loaded schema, the name indexes
 * (types, entity sets, enums), format guessing, the load entry points that dispatch to the
 * CSDL and OpenAPI loaders, and the read accessors of schema.h.
 *
 * Name resolution rules (documented for `mapc describe` and the checker): a name is looked up
 * as a type name first, then as an entity set name, because F&O has sets and types whose
 * names are swapped (set "X" of type "Xs" beside set "Xs" of type "X"). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_internal.h"

/* ---- arena ---------------------------------------------------------------------------- */

struct sch_block {
    sch_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define SCH_BLOCK_SIZE ((size_t)64 * 1024)

void *sch_alloc(schema *s, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    sch_block *b = s->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > SCH_BLOCK_SIZE / 4 ? n : SCH_BLOCK_SIZE;
        sch_block *nb = malloc(sizeof *nb + cap);
        if (!nb) {
            s->oom = true;
            return NULL;
        }
        nb->used = 0;
        nb->cap = cap;
        if (b && cap != SCH_BLOCK_SIZE) {
            /* a big one-off allocation goes behind the current block, which stays in use */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            s->arena = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *sch_strndup(schema *s, const char *str, size_t n)
{
    char *p = sch_alloc(s, n + 1);
    if (!p)
        return NULL;
    memcpy(p, str, n);
    p[n] = '\0';
    return p;
}

char *sch_strdup(schema *s, const char *str)
{
    return str ? sch_strndup(s, str, strlen(str)) : NULL;
}

/* ---- hash map ------------------------------------------------------------------------- */

static uint64_t sch_hash(const char *k)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static int sch_map_grow(sch_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    const char **nk = calloc(ncap, sizeof *nk);
    size_t *nv = calloc(ncap, sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = sch_hash(m->keys[i]) & (ncap - 1);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return 0;
}

int sch_map_put(sch_map *m, const char *key, size_t val)
{
    if ((m->n + 1) * 4 >= m->cap * 3 && sch_map_grow(m) < 0)
        return -1;
    size_t j = sch_hash(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (!strcmp(m->keys[j], key))
            return 0;
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->vals[j] = val;
    m->n++;
    return 1;
}

bool sch_map_get(const sch_map *m, const char *key, size_t *val)
{
    if (!m->cap || !key)
        return false;
    size_t j = sch_hash(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (!strcmp(m->keys[j], key)) {
            if (val)
                *val = m->vals[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

void sch_map_free(sch_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- growable vectors ----------------------------------------------------------------- */

void *sch_vec_push(sch_vec *v)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 16;
        void *nd = realloc(v->data, ncap * v->elem);
        if (!nd)
            return NULL;
        v->data = nd;
        v->cap = ncap;
    }
    void *p = (char *)v->data + v->n * v->elem;
    memset(p, 0, v->elem);
    v->n++;
    return p;
}

void sch_vec_free(sch_vec *v)
{
    free(v->data);
    v->data = NULL;
    v->n = v->cap = 0;
}

void *sch_vec_to_arena(schema *s, const sch_vec *v)
{
    if (!v->n)
        return NULL;
    void *p = sch_alloc(s, v->n * v->elem);
    if (p)
        memcpy(p, v->data, v->n * v->elem);
    return p;
}

/* ---- index ---------------------------------------------------------------------------- */

schema *sch_new(schema_format fmt, const char *path)
{
    schema *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fmt = fmt;
    s->want_all = true;
    s->path = strdup(path ? path : "");
    if (!s->path) {
        free(s);
        return NULL;
    }
    return s;
}

size_t sch_find_tentry(const schema *s, const char *name)
{
    size_t i;
    return sch_map_get(&s->type_idx, name, &i) ? i : (size_t)-1;
}

size_t sch_add_type(schema *s, const char *name, const char *qualified, bool is_entity,
                    int line)
{
    size_t i;
    if (qualified && sch_map_get(&s->type_idx, qualified, &i))
        return i;
    if (!qualified && sch_map_get(&s->type_idx, name, &i))
        return i;
    if (s->ntypes == s->captypes) {
        size_t ncap = s->captypes ? s->captypes * 2 : 64;
        sch_tentry *nt = realloc(s->types, ncap * sizeof *nt);
        if (!nt) {
            s->oom = true;
            return (size_t)-1;
        }
        s->types = nt;
        s->captypes = ncap;
    }
    sch_tentry *e = &s->types[s->ntypes];
    memset(e, 0, sizeof *e);
    e->name = sch_strdup(s, name);
    e->qualified = qualified ? sch_strdup(s, qualified) : e->name;
    e->is_entity = is_entity;
    e->line = line;
    if (!e->name || !e->qualified)
        return (size_t)-1;
    i = s->ntypes++;
    if (sch_map_put(&s->type_idx, e->name, i) < 0 ||
        sch_map_put(&s->type_idx, e->qualified, i) < 0) {
        s->oom = true;
        return (size_t)-1;
    }
    return i;
}

int sch_add_set(schema *s, const char *name, const char *type)
{
    if (sch_map_get(&s->set_idx, name, NULL))
        return 0; /* a duplicate set name: the first declaration wins */
    if (s->nsets == s->capsets) {
        size_t ncap = s->capsets ? s->capsets * 2 : 64;
        sch_set *ns = realloc(s->sets, ncap * sizeof *ns);
        if (!ns) {
            s->oom = true;
            return -1;
        }
        s->sets = ns;
        s->capsets = ncap;
    }
    sch_set *st = &s->sets[s->nsets];
    st->name = sch_strdup(s, name);
    st->type = sch_strdup(s, type);
    if (!st->name || !st->type)
        return -1;
    size_t i = s->nsets++;
    if (sch_map_put(&s->set_idx, st->name, i) < 0 ||
        sch_map_put(&s->type_set_idx, st->type, i) < 0) {
        s->oom = true;
        return -1;
    }
    return 0;
}

int sch_add_enum(schema *s, schema_enum *e)
{
    if (sch_map_get(&s->enum_idx, e->qualified, NULL))
        return 0; /* duplicate declaration: the first wins */
    if (s->nenums == s->capenums) {
        size_t ncap = s->capenums ? s->capenums * 2 : 64;
        schema_enum **ne = realloc(s->enums, ncap * sizeof *ne);
        if (!ne) {
            s->oom = true;
            return -1;
        }
        s->enums = ne;
        s->capenums = ncap;
    }
    size_t i = s->nenums++;
    s->enums[i] = e;
    if (sch_map_put(&s->enum_idx, e->qualified, i) < 0 ||
        sch_map_put(&s->enum_idx, e->name, i) < 0) {
        s->oom = true;
        return -1;
    }
    return 0;
}

int sch_want(schema *s, const char *name)
{
    if (sch_map_get(&s->want_idx, name, NULL))
        return 0;
    const char *k = sch_strdup(s, name);
    if (!k || sch_map_put(&s->want_idx, k, 0) < 0) {
        s->oom = true;
        return -1;
    }
    return 0;
}

bool sch_wanted(const schema *s, const char *type_name)
{
    return s->want_all || sch_map_get(&s->want_idx, type_name, NULL);
}

void sch_set_error(schema_error *err, const char *file, int line, int column,
                   const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    err->column = column;
}

bool sch_edm_kind(const char *n, schema_kind *out)
{
    static const struct {
        const char *name;
        schema_kind kind;
    } edm[] = {
        {"Edm.String", SK_STRING},          {"Edm.Boolean", SK_BOOLEAN},
        {"Edm.Int16", SK_INT32},            {"Edm.Int32", SK_INT32},
        {"Edm.Byte", SK_INT32},             {"Edm.SByte", SK_INT32},
        {"Edm.Int64", SK_INT64},            {"Edm.Decimal", SK_DECIMAL},
        {"Edm.Double", SK_DOUBLE},          {"Edm.Single", SK_DOUBLE},
        {"Edm.Date", SK_DATE},              {"Edm.DateTimeOffset", SK_DATETIME},
        {"Edm.DateTime", SK_DATETIME},      {"Edm.TimeOfDay", SK_TIME},
        {"Edm.Duration", SK_TIME},          {"Edm.Time", SK_TIME},
        {"Edm.Guid", SK_GUID},              {"Edm.Binary", SK_BINARY},
        {"Edm.Stream", SK_BINARY},
    };
    for (size_t i = 0; i < sizeof edm / sizeof edm[0]; i++)
        if (!strcmp(n, edm[i].name)) {
            *out = edm[i].kind;
            return true;
        }
    if (!strncmp(n, "Edm.", 4)) {
        *out = SK_ANY; /* Geography, Untyped, PrimitiveType, ... */
        return true;
    }
    return false;
}

/* ---- loading -------------------------------------------------------------------------- */

int schema_guess_format(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && (!strcmp(dot, ".xml") || !strcmp(dot, ".edmx") || !strcmp(dot, ".csdl")))
        return SCHEMA_ODATA;
    if (dot && !strcmp(dot, ".json"))
        return SCHEMA_OPENAPI;
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return -1;
    int c, r = -1;
    int n = 0;
    while ((c = getc(f)) != EOF && n++ < 4096) {
        if (c == 0xEF || c == 0xBB || c == 0xBF || c == ' ' || c == '\t' || c == '\r' ||
            c == '\n')
            continue; /* BOM bytes and blanks */
        r = c == '<' ? SCHEMA_ODATA : (c == '{' ? SCHEMA_OPENAPI : -1);
        break;
    }
    fclose(f);
    return r;
}

static int sch_read_file(const char *path, char **out, size_t *len, schema_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sch_set_error(err, path, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    int rc = -1;
    if (!buf) {
        sch_set_error(err, path, 0, 0, "out of memory");
        goto out;
    }
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                sch_set_error(err, path, 0, 0, "out of memory");
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        sch_set_error(err, path, 0, 0, "read error: %s", strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int sch_load(schema **out, const char *path, const char *data, size_t len,
                    const char *name, schema_format fmt, const char *const *want,
                    size_t nwant, schema_error *err)
{
    *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    if (fmt != SCHEMA_ODATA && fmt != SCHEMA_OPENAPI) {
        sch_set_error(err, name, 0, 0, "unknown schema format %d", (int)fmt);
        return -1;
    }
    schema *s = sch_new(fmt, name);
    if (!s) {
        sch_set_error(err, name, 0, 0, "out of memory");
        return -1;
    }
    if (want) {
        s->want_all = false;
        for (size_t i = 0; i < nwant; i++) {
            if (!want[i] || sch_want(s, want[i]) < 0)
                continue;
            /* "Microsoft.Dynamics.DataEntities.CustomerV3" wants CustomerV3 */
            const char *dot = strrchr(want[i], '.');
            if (dot && dot[1])
                sch_want(s, dot + 1);
        }
    }
    int rc = -1;
    char *buf = NULL;
    if (!s->oom) {
        if (fmt == SCHEMA_ODATA) {
            rc = csdl_load(s, path, data, len, err);
        } else if (path) {
            if (sch_read_file(path, &buf, &len, err) == 0)
                rc = openapi_load(s, buf, len, err);
        } else {
            rc = openapi_load(s, data, len, err);
        }
    }
    free(buf);
    if (rc == 0 && s->oom) {
        sch_set_error(err, name, 0, 0, "out of memory");
        rc = -1;
    }
    if (rc < 0) {
        schema_free(s);
        return -1;
    }
    for (size_t i = 0; i < s->ntypes; i++)
        if (s->types[i].t)
            s->types[i].t->entity_set = schema_set_for_type(s, s->types[i].name);
    *out = s;
    return 0;
}

int schema_load(schema **out, const char *path, schema_format fmt, const char *const *want,
                size_t nwant, schema_error *err)
{
    return sch_load(out, path, NULL, 0, path, fmt, want, nwant, err);
}

int schema_load_mem(schema **out, const char *data, size_t len, const char *name,
                    schema_format fmt, const char *const *want, size_t nwant,
                    schema_error *err)
{
    return sch_load(out, NULL, data ? data : "", data ? len : 0, name ? name : "<memory>", fmt,
                    want, nwant, err);
}

void schema_free(schema *s)
{
    if (!s)
        return;
    sch_block *b = s->arena;
    while (b) {
        sch_block *next = b->next;
        free(b);
        b = next;
    }
    free(s->types);
    free(s->sets);
    free(s->enums);
    sch_map_free(&s->type_idx);
    sch_map_free(&s->set_idx);
    sch_map_free(&s->type_set_idx);
    sch_map_free(&s->enum_idx);
    sch_map_free(&s->want_idx);
    free(s->path);
    free(s);
}

/* ---- accessors ------------------------------------------------------------------------ */

schema_format schema_get_format(const schema *s) { return s->fmt; }
const char *schema_get_path(const schema *s) { return s->path; }
size_t schema_type_count(const schema *s) { return s->ntypes; }

const char *schema_type_name(const schema *s, size_t i)
{
    return i < s->ntypes ? s->types[i].name : NULL;
}

bool schema_type_is_entity(const schema *s, size_t i)
{
    return i < s->ntypes && s->types[i].is_entity;
}

size_t schema_set_count(const schema *s) { return s->nsets; }

const char *schema_set_name(const schema *s, size_t i)
{
    return i < s->nsets ? s->sets[i].name : NULL;
}

const char *schema_set_type(const schema *s, size_t i)
{
    return i < s->nsets ? s->sets[i].type : NULL;
}

const schema_type *schema_find_type(const schema *s, const char *name)
{
    size_t i;
    if (!name)
        return NULL;
    if (sch_map_get(&s->type_idx, name, &i))
        return s->types[i].t;
    if (sch_map_get(&s->set_idx, name, &i) &&
        sch_map_get(&s->type_idx, s->sets[i].type, &i))
        return s->types[i].t;
    return NULL;
}

bool schema_knows_name(const schema *s, const char *name)
{
    return name && (sch_map_get(&s->type_idx, name, NULL) ||
                    sch_map_get(&s->set_idx, name, NULL));
}

const char *schema_set_for_type(const schema *s, const char *type_name)
{
    size_t i;
    return sch_map_get(&s->type_set_idx, type_name, &i) ? s->sets[i].name : NULL;
}

const char *schema_type_for_set(const schema *s, const char *set_name)
{
    size_t i;
    return sch_map_get(&s->set_idx, set_name, &i) ? s->sets[i].type : NULL;
}

size_t schema_enum_count(const schema *s) { return s->nenums; }

const schema_enum *schema_enum_at(const schema *s, size_t i)
{
    return i < s->nenums ? s->enums[i] : NULL;
}

const schema_enum *schema_find_enum(const schema *s, const char *name)
{
    size_t i;
    return sch_map_get(&s->enum_idx, name, &i) ? s->enums[i] : NULL;
}

const schema_prop *schema_type_find_prop(const schema_type *t, const char *name)
{
    if (!t || !name)
        return NULL;
    for (size_t i = 0; i < t->nprops; i++)
        if (!strcmp(t->props[i].name, name))
            return &t->props[i];
    return NULL;
}

const schema_nav *schema_type_find_nav(const schema_type *t, const char *name)
{
    if (!t || !name)
        return NULL;
    for (size_t i = 0; i < t->nnav; i++)
        if (!strcmp(t->nav[i].name, name))
            return &t->nav[i];
    return NULL;
}

bool schema_enum_has_member(const schema_enum *e, const char *member)
{
    if (!e || !member)
        return false;
    for (size_t i = 0; i < e->nmembers; i++)
        if (!strcmp(e->members[i].name, member))
            return true;
    return false;
}

const char *schema_kind_name(schema_kind k)
{
    switch (k) {
    case SK_STRING: return "string";
    case SK_BOOLEAN: return "boolean";
    case SK_INT32: return "int32";
    case SK_INT64: return "int64";
    case SK_DECIMAL: return "decimal";
    case SK_DOUBLE: return "double";
    case SK_DATE: return "date";
    case SK_DATETIME: return "datetime";
    case SK_TIME: return "time";
    case SK_GUID: return "guid";
    case SK_BINARY: return "binary";
    case SK_ENUM: return "enum";
    case SK_OBJECT: return "object";
    case SK_ARRAY: return "array";
    case SK_ANY: return "any";
    }
    return "?";
}
