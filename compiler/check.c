/* check.c - mapc's type checker: duplicate declarations, schema loading (once per file, with
 * the want list of the types and sets the program uses), CSV and inline lookup tables, map
 * and flow resolution, expression typing and the write rules of DESIGN.md's "Type rules".
 * Every finding is a diagnostic with a location; the checker carries on after each one so a
 * run reports them all (up to the diag context's cap).  The rules are documented in
 * specs/language.md, "Type rules". */
#include "check.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "builtins.h"
#include "frontend.h"
#include "suggest.h"
#include "syncrt/flow.h"

typedef struct checker {
    mapc_program *p;
    diag_ctx *d;
    const ast_expr *ref_ok;      /* the assignment value being checked: where a ref may stand */
    bool in_ref;                 /* resolving the set of a ref (for the wording of errors) */
} checker;

/* What an expression may refer to. */
typedef struct scope {
    int file_id;
    const char *var;             /* the map's record variable, NULL when none */
    mapc_type var_type;
} scope;

static const mapc_type T_ERR = {MT_ERROR, false, NULL, NULL, NULL};

static mapc_type mk(mapc_tkind k, bool optional)
{
    mapc_type t = {k, optional, NULL, NULL, NULL};
    return t;
}

/* ------------------------------------------------------------------ types */

bool mapc_prop_optional(const schema_prop *p) { return p->nullable && !p->required && !p->key; }

mapc_type mapc_type_of_ref(const schema_typeref *r, bool optional)
{
    mapc_type t = mk(MT_ANY, optional);
    switch (r->kind) {
    case SK_STRING: t.kind = MT_STRING; break;
    case SK_BOOLEAN: t.kind = MT_BOOL; break;
    case SK_INT32:
    case SK_INT64: t.kind = MT_INT; break;
    case SK_DECIMAL:
    case SK_DOUBLE: t.kind = MT_DECIMAL; break;
    case SK_DATE: t.kind = MT_DATE; break;
    case SK_DATETIME: t.kind = MT_DATETIME; break;
    case SK_TIME: t.kind = MT_TIME; break;
    case SK_GUID: t.kind = MT_GUID; break;
    case SK_BINARY: t.kind = MT_BINARY; break;
    case SK_ENUM:
        t.kind = r->enumt ? MT_ENUM : MT_STRING;
        t.enumt = r->enumt;
        break;
    case SK_OBJECT:
        t.kind = MT_OBJECT;
        t.object = r->object;
        break;
    case SK_ARRAY:
        t.kind = r->elem ? MT_LIST : MT_ANY;
        t.elem = r->elem;
        break;
    case SK_ANY: t.kind = MT_ANY; break;
    }
    return t;
}

static const char *ref_name(const schema_typeref *r)
{
    if (r->kind == SK_OBJECT && r->object)
        return r->object->name;
    if (r->kind == SK_ENUM && r->enumt)
        return r->enumt->name;
    return schema_kind_name(r->kind);
}

const char *mapc_type_str(mapc_type t, char *buf, size_t size)
{
    switch (t.kind) {
    case MT_ENUM:
        snprintf(buf, size, "enum %s", t.enumt ? t.enumt->name : "?");
        break;
    case MT_ANYENUM:
        snprintf(buf, size, "enum(...) value");
        break;
    case MT_NOYES:
        snprintf(buf, size, "yesno(...) value");
        break;
    case MT_OBJECT:
        snprintf(buf, size, "object %s", t.object ? t.object->name : "");
        break;
    case MT_LIST:
        snprintf(buf, size, "list of %s", t.elem ? ref_name(t.elem) : "?");
        break;
    default:
        snprintf(buf, size, "%s", mapc_tkind_name(t.kind));
        break;
    }
    return buf;
}

static bool is_number(mapc_tkind k) { return k == MT_INT || k == MT_DECIMAL; }
static bool is_scalar(mapc_tkind k)
{
    return k != MT_OBJECT && k != MT_LIST && k != MT_NULL;
}
static bool quiet(mapc_type t) { return t.kind == MT_ERROR || t.kind == MT_ANY; }

static bool enum_is_noyes(const schema_enum *e)
{
    return e && schema_enum_has_member(e, "No") && schema_enum_has_member(e, "Yes");
}

/* ------------------------------------------------------------------ lookups */

static const ast_decl *file_decl(checker *c, int file_id, ast_decl_kind kind, const char *name)
{
    return mapc_program_find_decl(c->p, file_id, kind, name);
}

static void offer_decls(checker *c, mapc_suggest *s, int file_id, ast_decl_kind kind)
{
    for (size_t i = 0; i < c->p->files.n; i++) {
        const ast_file *f = c->p->files.items[i];
        if (file_id >= 0 && f->file_id != file_id)
            continue;
        for (size_t k = 0; k < f->decls.n; k++) {
            const ast_decl *d = f->decls.items[k];
            if (d->kind == kind)
                suggest_offer(s, d->name);
        }
    }
}

/* " did you mean 'X'?" or "" into buf. */
static const char *dym(const mapc_suggest *s, char *buf, size_t size)
{
    const char *r = suggest_result(s);
    if (r)
        snprintf(buf, size, "; did you mean '%s'?", r);
    else
        buf[0] = 0;
    return buf;
}

static const schema_prop *find_prop(const schema_type *t, const char *name)
{
    return t ? schema_type_find_prop(t, name) : NULL;
}

static void unknown_field(checker *c, mapc_loc loc, const schema_type *t, const char *name,
                          const char *schema_name)
{
    mapc_suggest s;
    char buf[300];
    suggest_init(&s, name);
    for (size_t i = 0; i < t->nprops; i++)
        suggest_offer(&s, t->props[i].name);
    if (schema_name)
        diag_error(c->d, loc, "unknown field '%s' in %s.%s%s", name, schema_name, t->name,
                   dym(&s, buf, sizeof buf));
    else
        diag_error(c->d, loc, "unknown field '%s' in %s%s", name, t->name,
                   dym(&s, buf, sizeof buf));
}

/* ------------------------------------------------------------------ duplicates */

static const char *decl_kind_name(ast_decl_kind k)
{
    switch (k) {
    case AD_SCHEMA: return "schema";
    case AD_TABLE: return "table";
    case AD_MAP: return "map";
    case AD_FLOW: return "flow";
    }
    return "declaration";
}

static void check_duplicates(checker *c)
{
    for (size_t i = 0; i < c->p->files.n; i++) {
        const ast_file *f = c->p->files.items[i];
        for (size_t k = 0; k < f->decls.n; k++) {
            const ast_decl *d = f->decls.items[k];
            /* schemas and tables are file-scoped; maps and flows are global */
            bool global = d->kind == AD_MAP || d->kind == AD_FLOW;
            const ast_decl *first = NULL;
            for (size_t i2 = 0; i2 <= i && !first; i2++) {
                const ast_file *f2 = c->p->files.items[i2];
                if (!global && f2 != f)
                    continue;
                size_t lim = i2 == i ? k : f2->decls.n;
                for (size_t k2 = 0; k2 < lim; k2++) {
                    const ast_decl *e = f2->decls.items[k2];
                    if (e->kind == d->kind && !strcmp(e->name, d->name)) {
                        first = e;
                        break;
                    }
                }
            }
            if (first) {
                diag_error(c->d, d->name_loc, "duplicate %s '%s'", decl_kind_name(d->kind),
                           d->name);
                diag_note(c->d, first->name_loc, "'%s' was first defined here", d->name);
            }
        }
    }
}

/* ------------------------------------------------------------------ paths and files */

/* dir of the file that declared loc + rel (absolute rel stays as is).  malloc'd. */
static char *resolve_rel(checker *c, int file_id, const char *rel)
{
    const diag_source *src = diag_get_source(c->d, file_id);
    const char *base = src ? src->path : "";
    const char *slash = strrchr(base, '/');
    size_t dl = rel[0] == '/' || !slash ? 0 : (size_t)(slash - base) + 1;
    char *out = malloc(dl + strlen(rel) + 1);
    if (!out)
        return NULL;
    memcpy(out, base, dl);
    strcpy(out + dl, rel);
    return out;
}

/* ------------------------------------------------------------------ schemas */

static bool slot_want(mapc_schema_slot *s, const char *name)
{
    for (size_t i = 0; i < s->nwant; i++)
        if (!strcmp(s->want[i], name))
            return true;
    if (s->nwant == s->capwant) {
        size_t cap = s->capwant ? 2 * s->capwant : 16;
        char **n = realloc(s->want, cap * sizeof *n);
        if (!n)
            return false;
        s->want = n;
        s->capwant = cap;
    }
    char *dup = strdup(name);
    if (!dup)
        return false;
    s->want[s->nwant++] = dup;
    return true;
}

static mapc_schema_slot *slot_for(checker *c, const char *path, schema_format fmt)
{
    for (size_t i = 0; i < c->p->nslots; i++)
        if (c->p->slots[i]->format == fmt && !strcmp(c->p->slots[i]->path, path))
            return c->p->slots[i];
    if (c->p->nslots == c->p->capslots) {
        size_t cap = c->p->capslots ? 2 * c->p->capslots : 4;
        mapc_schema_slot **n = realloc(c->p->slots, cap * sizeof *n);
        if (!n)
            return NULL;
        c->p->slots = n;
        c->p->capslots = cap;
    }
    mapc_schema_slot *s = calloc(1, sizeof *s);
    char *p = strdup(path);
    if (!s || !p) {
        free(s);
        free(p);
        return NULL;
    }
    s->path = p;
    s->format = fmt;
    c->p->slots[c->p->nslots++] = s;
    return s;
}

static mapc_schema_slot *schema_slot_of(const ast_decl *d)
{
    return (mapc_schema_slot *)d->schema_slot;
}

/* The schema declaration a qualified name refers to (reported when unknown). */
static const ast_decl *resolve_schema_name(checker *c, int file_id, const ast_qname *q,
                                           bool report)
{
    const ast_decl *s = file_decl(c, file_id, AD_SCHEMA, q->schema);
    if (!s && report) {
        mapc_suggest sg;
        char buf[300];
        suggest_init(&sg, q->schema);
        offer_decls(c, &sg, file_id, AD_SCHEMA);
        if (suggest_result(&sg)) {
            diag_error(c->d, q->schema_loc, "unknown schema '%s'%s", q->schema,
                       dym(&sg, buf, sizeof buf));
        } else {
            /* list what the file declares */
            size_t n = 0;
            buf[0] = 0;
            for (size_t i = 0; i < c->p->files.n; i++) {
                const ast_file *f = c->p->files.items[i];
                for (size_t k = 0; f->file_id == file_id && k < f->decls.n; k++) {
                    const ast_decl *d = f->decls.items[k];
                    size_t len = strlen(buf);
                    if (d->kind == AD_SCHEMA && len + strlen(d->name) + 3 < sizeof buf)
                        snprintf(buf + len, sizeof buf - len, "%s%s", n++ ? ", " : "", d->name);
                }
            }
            if (n)
                diag_error(c->d, q->schema_loc, "unknown schema '%s' (this file declares %s)",
                           q->schema, buf);
            else
                diag_error(c->d, q->schema_loc, "unknown schema '%s': declare it with "
                           "'schema %s = odata|openapi \"path\"'", q->schema, q->schema);
        }
    }
    return s;
}

static void want_qname(checker *c, int file_id, const ast_qname *q)
{
    if (!q)
        return;
    const ast_decl *sd = resolve_schema_name(c, file_id, q, false);
    if (sd && sd->schema_slot && !slot_want(schema_slot_of(sd), q->name))
        diag_error(c->d, q->loc, "out of memory");
}

/* A bulk write's operation: the OpenAPI path (no templates) whose last segment is fi->set->name
 * and that takes a JSON request body by $ref under PUT, POST or PATCH; fills fi->bulk_method,
 * bulk_route and bulk_request.  Every such operation name is offered for did-you-mean (the
 * document's strings: valid until root is released, so the best one is copied to sugg).
 * Returns -1 when the document cannot be read, else how many paths have the name (more than
 * one: sugg gets the first two, the name is ambiguous). */
static int find_operation(const char *doc_path, ast_fitem *fi, char *sugg, size_t sugg_size)
{
    json_t *root = doc_path ? json_load_file(doc_path, 0, NULL) : NULL;
    json_t *paths = json_object_get(root, "paths");
    if (!json_is_object(paths)) {
        json_decref(root);
        return -1;
    }
    static const char *const methods[] = {"put", "post", "patch"};
    mapc_suggest sg;
    suggest_init(&sg, fi->set->name);
    int found = 0;
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) {
        const char *last = strrchr(path, '/');
        if (strchr(path, '{') || !last)
            continue;
        for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
            json_t *body = json_object_get(json_object_get(item, methods[m]), "requestBody");
            json_t *sch = json_object_get(json_object_get(json_object_get(
                                              json_object_get(body, "content"), "application/json"),
                                          "schema"), "$ref");
            const char *ref = json_string_value(sch);
            const char *tn = ref ? strrchr(ref, '/') : NULL;
            if (!tn)
                continue;
            suggest_offer(&sg, last + 1);
            if (strcmp(last + 1, fi->set->name))
                continue;
            if (found++) {      /* a second path of that name: say both */
                if (found == 2 && sugg && sugg_size)
                    snprintf(sugg, sugg_size, "/%s, %s", fi->bulk_route, path);
                continue;
            }
            char up[8];
            size_t k = 0;
            for (; methods[m][k] && k + 1 < sizeof up; k++)
                up[k] = (char)toupper((unsigned char)methods[m][k]);
            up[k] = 0;
            free(fi->bulk_method);
            free(fi->bulk_route);
            free(fi->bulk_request);
            fi->bulk_method = strdup(up);
            fi->bulk_route = strdup(path[0] == '/' ? path + 1 : path);
            fi->bulk_request = strdup(tn + 1);
        }
    }
    if (sugg && sugg_size && found < 2)
        snprintf(sugg, sugg_size, "%s", suggest_result(&sg) ? suggest_result(&sg) : "");
    json_decref(root);
    return found;
}

/* The entity sets the refs of an expression name. */
static void want_refs(checker *c, int file_id, const ast_expr *e)
{
    if (!e)
        return;
    if (e->kind == AE_REF)
        want_qname(c, file_id, e->refset);
    want_refs(c, file_id, e->a);
    want_refs(c, file_id, e->b);
    want_refs(c, file_id, e->c);
    for (size_t i = 0; i < e->args.n; i++)
        want_refs(c, file_id, e->kind == AE_MATCH ? ((const ast_case *)e->args.items[i])->value
                                                  : (const ast_expr *)e->args.items[i]);
}

static void load_schemas(checker *c)
{
    /* one slot per (resolved path, format) */
    for (size_t i = 0; i < c->p->files.n; i++) {
        ast_file *f = c->p->files.items[i];
        for (size_t k = 0; k < f->decls.n; k++) {
            ast_decl *d = f->decls.items[k];
            if (d->kind != AD_SCHEMA)
                continue;
            char *path = resolve_rel(c, f->file_id, d->path);
            mapc_schema_slot *s = path ? slot_for(c, path, d->format) : NULL;
            free(path);
            if (!s) {
                diag_error(c->d, d->path_loc, "out of memory");
                continue;
            }
            d->schema_slot = (const struct mapc_schema_slot *)s;
        }
    }
    /* want lists: every type and set the maps and flows name */
    for (size_t i = 0; i < c->p->files.n; i++) {
        ast_file *f = c->p->files.items[i];
        for (size_t k = 0; k < f->decls.n; k++) {
            ast_decl *d = f->decls.items[k];
            if (d->kind == AD_MAP) {
                want_qname(c, f->file_id, d->src);
                want_qname(c, f->file_id, d->dst);
                for (size_t j = 0; j < d->items.n; j++)
                    want_refs(c, f->file_id, ((const ast_item *)d->items.items[j])->value);
            } else if (d->kind == AD_FLOW) {
                for (size_t j = 0; j < d->fitems.n; j++) {
                    ast_fitem *fi = d->fitems.items[j];
                    if (fi->kind == FI_WRITE && fi->bulk) {
                        /* the operation's request type, with the element type it holds */
                        const ast_decl *sd = resolve_schema_name(c, f->file_id, fi->set, false);
                        mapc_schema_slot *slot = sd && sd->schema_slot ? schema_slot_of(sd) : NULL;
                        if (slot && sd->format == SCHEMA_OPENAPI && !fi->bulk_request &&
                            find_operation(slot->path, fi, NULL, 0) >= 1 &&
                            (!fi->bulk_method || !fi->bulk_route || !fi->bulk_request ||
                             !slot_want(slot, fi->bulk_request)))
                            diag_error(c->d, fi->loc, "out of memory");
                        continue;
                    }
                    want_qname(c, f->file_id, fi->set);
                    for (size_t m = 0; m < fi->children.n; m++)
                        want_qname(c, f->file_id, ((ast_child *)fi->children.items[m])->set);
                }
            }
        }
    }
    if (c->p->offline && !c->p->loader)
        return;
    for (size_t i = 0; i < c->p->nslots; i++) {
        mapc_schema_slot *s = c->p->slots[i];
        schema_error err;
        memset(&err, 0, sizeof err);
        int rc = c->p->loader
                     ? c->p->loader(c->p->loader_data, &s->s, s->path, s->format,
                                    (const char *const *)s->want, s->nwant, &err)
                     : schema_load(&s->s, s->path, s->format, (const char *const *)s->want,
                                   s->nwant, &err);
        if (rc != 0) {
            s->s = NULL;
            s->failed = true;
            /* report at every declaration of this slot */
            for (size_t fi = 0; fi < c->p->files.n; fi++) {
                ast_file *f = c->p->files.items[fi];
                for (size_t k = 0; k < f->decls.n; k++) {
                    ast_decl *d = f->decls.items[k];
                    if (d->kind != AD_SCHEMA || d->schema_slot != (const void *)s)
                        continue;
                    if (err.line > 0)
                        diag_error(c->d, d->path_loc, "cannot load %s schema: %s:%d: %s",
                                   d->format == SCHEMA_ODATA ? "odata" : "openapi",
                                   err.file[0] ? err.file : s->path, err.line, err.text);
                    else
                        diag_error(c->d, d->path_loc, "cannot load %s schema: %s",
                                   d->format == SCHEMA_ODATA ? "odata" : "openapi", err.text);
                }
            }
        }
    }
}

/* Resolve SCHEMA.Type (want_set false) or SCHEMA.Set (want_set true).  Returns the
 * materialised type, or NULL (reported unless the schema could not be loaded). */
static const schema_type *resolve_qname(checker *c, int file_id, const ast_qname *q,
                                        bool want_set, const ast_decl **schema_decl)
{
    const ast_decl *sd = resolve_schema_name(c, file_id, q, true);
    if (schema_decl)
        *schema_decl = sd;
    if (!sd)
        return NULL;
    mapc_schema_slot *slot = schema_slot_of(sd);
    if (!slot || !slot->s)
        return NULL;
    const schema *s = slot->s;
    char buf[300];
    if (want_set) {
        const char *tn = schema_type_for_set(s, q->name);
        if (tn) {
            const schema_type *t = schema_find_type(s, tn);
            if (!t)
                diag_error(c->d, q->name_loc, "entity set '%s' serves type '%s', which %s does "
                           "not define", q->name, tn, q->schema);
            return t;
        }
        const char *set = schema_set_for_type(s, q->name);
        if (set) {
            diag_error(c->d, q->name_loc, "'%s' is an entity type; %s entity sets: did you mean "
                       "'%s'?", q->name, c->in_ref ? "a ref looks records up in"
                                                   : "flows read and write", set);
            return NULL;
        }
        mapc_suggest sg;
        suggest_init(&sg, q->name);
        for (size_t i = 0; i < schema_set_count(s); i++)
            suggest_offer(&sg, schema_set_name(s, i));
        diag_error(c->d, q->name_loc, "unknown entity set '%s' in schema %s%s", q->name,
                   q->schema, dym(&sg, buf, sizeof buf));
        return NULL;
    }
    const schema_type *t = schema_find_type(s, q->name);
    if (t && !strcmp(t->name, q->name))
        return t;
    const char *tn = schema_type_for_set(s, q->name);
    if (tn) {
        diag_error(c->d, q->name_loc, "'%s' is an entity set; maps name entity types: did you "
                   "mean '%s'?", q->name, tn);
        return NULL;
    }
    mapc_suggest sg;
    suggest_init(&sg, q->name);
    for (size_t i = 0; i < schema_type_count(s); i++)
        suggest_offer(&sg, schema_type_name(s, i));
    diag_error(c->d, q->name_loc, "unknown entity type '%s' in schema %s%s", q->name, q->schema,
               dym(&sg, buf, sizeof buf));
    return NULL;
}

/* ------------------------------------------------------------------ tables */

static mapc_tkind literal_kind(const ast_expr *e)
{
    switch (e->kind) {
    case AE_STRING: return MT_STRING;
    case AE_INT: return MT_INT;
    case AE_DECIMAL: return MT_DECIMAL;
    case AE_BOOL: return MT_BOOL;
    case AE_DATE: return strchr(e->text, 'T') ? MT_DATETIME : MT_DATE;
    case AE_NULL: return MT_NULL;
    default: return MT_ERROR;
    }
}

static void check_inline_table(checker *c, ast_decl *t)
{
    mapc_tkind kind = MT_ERROR;
    const ast_entry *first_of_kind = NULL;
    if (t->entries.n == 0)
        diag_error(c->d, t->name_loc, "table '%s' is empty", t->name);
    for (size_t i = 0; i < t->entries.n; i++) {
        ast_entry *e = t->entries.items[i];
        for (size_t j = 0; j < i; j++) {
            ast_entry *f = t->entries.items[j];
            if (!strcmp(f->key, e->key)) {
                diag_error(c->d, e->key_loc, "duplicate key \"%s\" in table '%s'", e->key,
                           t->name);
                diag_note(c->d, f->key_loc, "first given here");
                break;
            }
        }
        mapc_tkind k = literal_kind(e->value);
        e->value->type = mk(k, false);
        if (k == MT_NULL) {
            diag_error(c->d, e->value->loc, "table values cannot be null (a missing key "
                       "already gives an absent value)");
            continue;
        }
        if (kind == MT_ERROR) {
            kind = k;
            first_of_kind = e;
        } else if (kind != k) {
            if (is_number(kind) && is_number(k)) {
                kind = MT_DECIMAL;
            } else {
                diag_error(c->d, e->value->loc, "table '%s' mixes value types: %s here, %s "
                           "before", t->name, mapc_tkind_name(k), mapc_tkind_name(kind));
                diag_note(c->d, first_of_kind->value->loc, "first %s value", mapc_tkind_name(kind));
            }
        }
    }
    t->value_kind = kind;
}

/* Split one CSV record starting at *pp (RFC 4180 quoting); fields are malloc'd. */
typedef struct csv_row {
    char **f;
    size_t n, cap;
} csv_row;

static void csv_row_free(csv_row *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i]);
    free(r->f);
    r->f = NULL;
    r->n = r->cap = 0;
}

static bool csv_push(csv_row *r, const char *s, size_t n)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        char **nf = realloc(r->f, cap * sizeof *nf);
        if (!nf)
            return false;
        r->f = nf;
        r->cap = cap;
    }
    char *v = malloc(n + 1);
    if (!v)
        return false;
    memcpy(v, s, n);
    v[n] = 0;
    r->f[r->n++] = v;
    return true;
}

/* Returns 1 with a row, 0 at end of input, -1 on bad quoting, -2 out of memory. */
static int csv_next(const char **pp, const char *end, csv_row *r, int *line)
{
    const char *p = *pp;
    if (p >= end)
        return 0;
    char *buf = malloc((size_t)(end - p) + 1);
    if (!buf)
        return -2;
    int rc = 1;
    for (;;) {
        size_t n = 0;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) {
                    rc = -1;
                    break;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        buf[n++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n')
                    (*line)++;
                buf[n++] = *p++;
            }
            if (rc < 0)
                break;
            if (p < end && *p != ',' && *p != '\n' && *p != '\r') {
                rc = -1;
                break;
            }
        } else {
            while (p < end && *p != ',' && *p != '\n' && *p != '\r')
                buf[n++] = *p++;
        }
        if (!csv_push(r, buf, n)) {
            rc = -2;
            break;
        }
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
        break;
    }
    free(buf);
    *pp = p;
    return rc;
}

static bool text_is_int(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static bool text_is_decimal(const char *s)
{
    if (*s == '-')
        s++;
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || !dot[1])
        return false;
    for (const char *q = s; *q; q++)
        if (q != dot && !isdigit((unsigned char)*q))
            return false;
    return true;
}

static void check_csv_table(checker *c, ast_decl *t)
{
    if (c->p->offline) {
        t->value_kind = MT_ANY;
        return;
    }
    char *path = resolve_rel(c, t->file_id, t->path);
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        diag_error(c->d, t->path_loc, "cannot read CSV file '%s': %s", path ? path : t->path,
                   path ? strerror(errno) : "out of memory");
        free(path);
        t->value_kind = MT_ERROR;
        return;
    }
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            size_t ncap = cap ? 2 * cap : 8192;
            char *n = realloc(data, ncap);
            if (!n)
                break;
            data = n;
            cap = ncap;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (!got)
            break;
    }
    fclose(f);
    if (!data) {
        diag_error(c->d, t->path_loc, "out of memory reading '%s'", path);
        free(path);
        t->value_kind = MT_ERROR;
        return;
    }
    const char *p = data, *end = data + len;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    csv_row hdr = {0};
    int line = 1;
    int rc = csv_next(&p, end, &hdr, &line);
    long kcol = -1, vcol = -1;
    if (rc == 1) {
        for (size_t i = 0; i < hdr.n; i++) {
            if (!strcmp(hdr.f[i], t->key_col) && kcol < 0)
                kcol = (long)i;
            if (!strcmp(hdr.f[i], t->value_col) && vcol < 0)
                vcol = (long)i;
        }
    } else {
        diag_error(c->d, t->path_loc, "%s: no header line", path);
    }
    char buf[300];
    if (rc == 1 && kcol < 0) {
        mapc_suggest sg;
        suggest_init(&sg, t->key_col);
        for (size_t i = 0; i < hdr.n; i++)
            suggest_offer(&sg, hdr.f[i]);
        diag_error(c->d, t->key_loc, "no column '%s' in %s%s", t->key_col, path,
                   dym(&sg, buf, sizeof buf));
    }
    if (rc == 1 && vcol < 0) {
        mapc_suggest sg;
        suggest_init(&sg, t->value_col);
        for (size_t i = 0; i < hdr.n; i++)
            suggest_offer(&sg, hdr.f[i]);
        diag_error(c->d, t->value_loc, "no column '%s' in %s%s", t->value_col, path,
                   dym(&sg, buf, sizeof buf));
    }
    bool all_int = true, all_num = true, all_bool = true;
    if (rc == 1 && kcol >= 0 && vcol >= 0) {
        for (;;) {
            csv_row r = {0};
            int rline = ++line;
            int k = csv_next(&p, end, &r, &line);
            if (k == 0) {
                csv_row_free(&r);
                break;
            }
            if (k < 0) {
                diag_error(c->d, t->path_loc, k == -1 ? "%s:%d: bad quoting" : "%s:%d: out of memory",
                           path, rline);
                csv_row_free(&r);
                break;
            }
            if (r.n == 1 && r.f[0][0] == 0) {        /* blank line */
                csv_row_free(&r);
                continue;
            }
            if (r.n != hdr.n) {
                diag_error(c->d, t->path_loc, "%s:%d: %zu fields, the header has %zu", path,
                           rline, r.n, hdr.n);
                csv_row_free(&r);
                continue;
            }
            const char *key = r.f[kcol], *val = r.f[vcol];
            bool dup = false;
            for (size_t i = 0; i < t->entries.n; i++) {
                ast_entry *e = t->entries.items[i];
                if (!strcmp(e->key, key)) {
                    diag_error(c->d, t->path_loc, "%s:%d: duplicate key \"%s\" (first on line %d)",
                               path, rline, key, e->csv_line);
                    dup = true;
                    break;
                }
            }
            if (!dup) {
                if (!text_is_int(val))
                    all_int = false;
                if (!text_is_int(val) && !text_is_decimal(val))
                    all_num = false;
                if (strcmp(val, "true") && strcmp(val, "false"))
                    all_bool = false;
                char *kd = strdup(key), *vd = strdup(val);
                ast_expr *v = vd ? ast_new_literal(AE_STRING, vd, t->path_loc) : NULL;
                ast_entry *e = kd && v ? ast_new_entry(kd, t->path_loc, v) : NULL;
                if (!e) {
                    if (!v)
                        free(kd);
                    else if (!kd)
                        ast_free_expr(v);
                    csv_row_free(&r);
                    diag_error(c->d, t->path_loc, "out of memory");
                    break;
                }
                e->csv_line = rline;
                if (!ast_vec_push(&t->entries, e)) {
                    csv_row_free(&r);
                    diag_error(c->d, t->path_loc, "out of memory");
                    break;
                }
            }
            csv_row_free(&r);
        }
        if (t->entries.n == 0)
            diag_error(c->d, t->path_loc, "%s has no rows", path);
    }
    csv_row_free(&hdr);
    mapc_tkind kind = t->entries.n == 0 ? MT_ERROR
                      : all_int ? MT_INT
                      : all_num ? MT_DECIMAL
                      : all_bool ? MT_BOOL
                      : MT_STRING;
    for (size_t i = 0; i < t->entries.n; i++) {
        ast_entry *e = t->entries.items[i];
        e->value->kind = kind == MT_INT ? AE_INT
                         : kind == MT_DECIMAL ? (text_is_int(e->value->text) ? AE_INT : AE_DECIMAL)
                         : kind == MT_BOOL ? AE_BOOL
                         : AE_STRING;
        if (kind == MT_BOOL)
            e->value->bval = !strcmp(e->value->text, "true");
        e->value->type = mk(kind, false);
    }
    t->value_kind = kind;
    free(data);
    free(path);
}

/* ------------------------------------------------------------------ literals */

static bool valid_date_text(const char *s)
{
    int y, m, d;
    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    const char *t = strchr(s, 'T');
    if (t) {
        int hh = 0, mm = 0, ss = 0;
        int n = sscanf(t + 1, "%2d:%2d:%2d", &hh, &mm, &ss);
        if (n < 2 || hh > 23 || mm > 59 || ss > 60)
            return false;
    }
    return true;
}

static bool int_fits(const char *text)
{
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    (void)v;
    return errno == 0 && *end == 0;
}

/* ------------------------------------------------------------------ expressions */

static mapc_type check_expr(checker *c, const scope *sc, ast_expr *e);
static mapc_type check_ref(checker *c, const scope *sc, ast_expr *e);

static mapc_type unify(checker *c, mapc_loc loc, const char *what, mapc_type a, mapc_type b)
{
    if (a.kind == MT_ERROR || b.kind == MT_ERROR)
        return T_ERR;
    if (a.kind == MT_NULL) {
        b.optional = true;
        return b;
    }
    if (b.kind == MT_NULL) {
        a.optional = true;
        return a;
    }
    mapc_type r = a;
    r.optional = a.optional || b.optional;
    if (a.kind == MT_ANY || b.kind == MT_ANY) {
        r = a.kind == MT_ANY ? b : a;
        r.optional = a.optional || b.optional;
        return r;
    }
    if (a.kind == b.kind) {
        if (a.kind == MT_ENUM && a.enumt != b.enumt)
            goto mismatch;
        return r;
    }
    if (is_number(a.kind) && is_number(b.kind)) {
        r.kind = MT_DECIMAL;
        return r;
    }
    /* a string literal beside an enum value: checked against the target later */
    if ((a.kind == MT_STRING && (b.kind == MT_ENUM || b.kind == MT_ANYENUM || b.kind == MT_NOYES)) ||
        (b.kind == MT_STRING && (a.kind == MT_ENUM || a.kind == MT_ANYENUM || a.kind == MT_NOYES))) {
        r = a.kind == MT_STRING ? b : a;
        r.optional = a.optional || b.optional;
        return r;
    }
    if ((a.kind == MT_ANYENUM && b.kind == MT_NOYES) || (a.kind == MT_NOYES && b.kind == MT_ANYENUM)) {
        r.kind = MT_ANYENUM;
        return r;
    }
    if ((a.kind == MT_DATE && b.kind == MT_DATETIME) || (a.kind == MT_DATETIME && b.kind == MT_DATE)) {
        r.kind = MT_DATETIME;
        return r;
    }
mismatch:;
    char ba[100], bb[100];
    diag_error(c->d, loc, "%s have different types: %s and %s", what,
               mapc_type_str(a, ba, sizeof ba), mapc_type_str(b, bb, sizeof bb));
    return T_ERR;
}

static const ast_decl *lookup_table(checker *c, const scope *sc, const char *name)
{
    return file_decl(c, sc->file_id, AD_TABLE, name);
}

static mapc_type check_name(checker *c, const scope *sc, ast_expr *e)
{
    if (sc->var && !strcmp(e->text, sc->var)) {
        e->ref = REF_VAR;
        return sc->var_type;
    }
    const ast_decl *t = lookup_table(c, sc, e->text);
    if (t) {
        e->ref = REF_TABLE;
        e->table = t;
        diag_error(c->d, e->loc, "table '%s' needs a key: %s[key]", e->text, e->text);
        return T_ERR;
    }
    mapc_suggest sg;
    char buf[300];
    suggest_init(&sg, e->text);
    if (sc->var)
        suggest_offer(&sg, sc->var);
    offer_decls(c, &sg, sc->file_id, AD_TABLE);
    if (sc->var && !suggest_result(&sg))
        diag_error(c->d, e->loc, "unknown name '%s' (the record is '%s')", e->text, sc->var);
    else
        diag_error(c->d, e->loc, "unknown name '%s'%s", e->text, dym(&sg, buf, sizeof buf));
    return T_ERR;
}

static mapc_type check_field(checker *c, const scope *sc, ast_expr *e)
{
    mapc_type base = check_expr(c, sc, e->a);
    if (base.kind == MT_ERROR || base.kind == MT_ANY)
        return base;
    char buf[120];
    if (base.kind == MT_OBJECT) {
        if (!base.object)
            return mk(MT_ANY, base.optional);
        const schema_prop *p = find_prop(base.object, e->text);
        if (!p) {
            unknown_field(c, e->name_loc, base.object, e->text, NULL);
            return T_ERR;
        }
        e->ref = REF_PROP;
        e->prop = p;
        return mapc_type_of_ref(&p->type, base.optional || mapc_prop_optional(p));
    }
    if (base.kind == MT_LIST) {
        const schema_typeref *el = base.elem;
        if (!el || el->kind != SK_OBJECT || !el->object) {
            diag_error(c->d, e->name_loc, "'%s': the elements of a %s have no fields", e->text,
                       mapc_type_str(base, buf, sizeof buf));
            return T_ERR;
        }
        const schema_prop *p = find_prop(el->object, e->text);
        if (!p) {
            unknown_field(c, e->name_loc, el->object, e->text, NULL);
            return T_ERR;
        }
        if (p->type.kind == SK_ARRAY) {
            diag_error(c->d, e->name_loc, "'%s' is a list in each %s: a list of lists cannot be "
                       "projected (index it first)", e->text, el->object->name);
            return T_ERR;
        }
        e->ref = REF_PROJECT;
        e->prop = p;
        mapc_type t = mk(MT_LIST, base.optional);
        t.elem = &p->type;
        return t;
    }
    diag_error(c->d, e->name_loc, "'%s': a %s has no fields", e->text,
               mapc_type_str(base, buf, sizeof buf));
    return T_ERR;
}

static mapc_type check_index(checker *c, const scope *sc, ast_expr *e)
{
    char buf[120];
    if (e->a->kind == AE_NAME && !(sc->var && !strcmp(e->a->text, sc->var))) {
        const ast_decl *t = lookup_table(c, sc, e->a->text);
        if (!t) {
            mapc_suggest sg;
            suggest_init(&sg, e->a->text);
            offer_decls(c, &sg, sc->file_id, AD_TABLE);
            if (sc->var)
                suggest_offer(&sg, sc->var);
            char b2[300];
            diag_error(c->d, e->a->loc, "unknown table '%s'%s", e->a->text,
                       dym(&sg, b2, sizeof b2));
            check_expr(c, sc, e->b);
            return T_ERR;
        }
        e->a->ref = REF_TABLE;
        e->a->table = t;
        e->a->type = T_ERR;
        e->ref = REF_LOOKUP;
        e->table = t;
        mapc_type k = check_expr(c, sc, e->b);
        if (k.kind != MT_ERROR && k.kind != MT_ANY && k.kind != MT_STRING && k.kind != MT_ENUM) {
            diag_error(c->d, e->b->loc, "table keys are strings, this is %s: convert it with "
                       "text(x)", mapc_type_str(k, buf, sizeof buf));
        } else if (e->b->kind == AE_STRING && t->entries.n > 0) {
            bool found = false;
            mapc_suggest sg;
            suggest_init(&sg, e->b->text);
            for (size_t i = 0; i < t->entries.n && !found; i++) {
                ast_entry *en = t->entries.items[i];
                found = !strcmp(en->key, e->b->text);
                suggest_offer(&sg, en->key);
            }
            if (!found) {
                char b2[300];
                diag_error(c->d, e->b->loc, "key \"%s\" is not in table '%s'%s", e->b->text,
                           t->name, dym(&sg, b2, sizeof b2));
            }
        }
        if (t->value_kind == MT_ERROR)
            return T_ERR;
        return mk(t->value_kind, true);
    }
    mapc_type base = check_expr(c, sc, e->a);
    mapc_type idx = check_expr(c, sc, e->b);
    if (base.kind == MT_ERROR)
        return T_ERR;
    if (idx.kind != MT_ERROR && idx.kind != MT_INT && idx.kind != MT_ANY)
        diag_error(c->d, e->b->loc, "a list index is an int, this is %s",
                   mapc_type_str(idx, buf, sizeof buf));
    else if (e->b->kind == AE_INT && e->b->text[0] == '-')
        diag_error(c->d, e->b->loc, "a list index cannot be negative");
    if (base.kind == MT_ANY)
        return base;
    if (base.kind != MT_LIST) {
        diag_error(c->d, e->loc, "only lists and tables can be indexed, this is %s",
                   mapc_type_str(base, buf, sizeof buf));
        return T_ERR;
    }
    e->ref = REF_INDEX;
    return mapc_type_of_ref(base.elem, true);
}

/* ---- builtin calls ---- */

static mapc_param param_at(const mapc_builtin *b, size_t i)
{
    size_t np = b->max_args < 0 ? (size_t)b->min_args : (size_t)b->max_args;
    if (np == 0)
        return P_ANY;
    return b->params[i < np ? i : np - 1];
}

static const char *param_want(mapc_param p)
{
    switch (p) {
    case P_STRING: return "a string";
    case P_INT: return "an int";
    case P_NUMBER: return "a number (int or decimal)";
    case P_NUMTEXT: return "a string or number";
    case P_BOOL: return "a bool";
    case P_TEMPORAL: return "a date or datetime";
    case P_DATESRC: return "a string, date or datetime";
    case P_SCALAR: return "a scalar value";
    case P_ANY: return "a value";
    case P_LIST: return "a list";
    case P_LIST_NUMBER: return "a list of numbers";
    case P_LIST_TEXT: return "a list of strings";
    case P_LIST_BOOL: return "a list of bools";
    case P_PATTERN: return "a date pattern (string literal)";
    case P_PLACES: return "an integer literal 0..18";
    case P_TABLE: return "a table name";
    case P_FIELD: return "a field name";
    }
    return "a value";
}

static bool param_accepts(mapc_param p, mapc_type t)
{
    if (t.kind == MT_ERROR || t.kind == MT_ANY)
        return true;
    const schema_typeref *el = t.elem;
    switch (p) {
    case P_STRING: return t.kind == MT_STRING;
    case P_INT: return t.kind == MT_INT;
    case P_NUMBER: return is_number(t.kind);
    case P_NUMTEXT: return is_number(t.kind) || t.kind == MT_STRING;
    case P_BOOL: return t.kind == MT_BOOL;
    case P_TEMPORAL: return t.kind == MT_DATE || t.kind == MT_DATETIME;
    case P_DATESRC: return t.kind == MT_DATE || t.kind == MT_DATETIME || t.kind == MT_STRING;
    case P_SCALAR: return is_scalar(t.kind) && t.kind != MT_ANYENUM && t.kind != MT_NOYES;
    case P_ANY: return true;
    case P_LIST: return t.kind == MT_LIST;
    case P_LIST_NUMBER:
        return t.kind == MT_LIST && el &&
               (el->kind == SK_INT32 || el->kind == SK_INT64 || el->kind == SK_DECIMAL ||
                el->kind == SK_DOUBLE || el->kind == SK_ANY);
    case P_LIST_TEXT:
        return t.kind == MT_LIST && el && (el->kind == SK_STRING || el->kind == SK_ANY);
    case P_LIST_BOOL:
        return t.kind == MT_LIST && el && (el->kind == SK_BOOLEAN || el->kind == SK_ANY);
    case P_PATTERN:
    case P_PLACES:
    case P_TABLE:
    case P_FIELD: return true;   /* checked on the syntax */
    }
    return false;
}

/* Hint for a common wrong argument. */
static const char *arg_hint(mapc_param p, mapc_type t)
{
    if (p == P_STRING && (is_number(t.kind) || t.kind == MT_DATE || t.kind == MT_DATETIME ||
                          t.kind == MT_BOOL || t.kind == MT_GUID))
        return ": convert it with text(x)";
    if ((p == P_NUMBER || p == P_INT) && t.kind == MT_STRING)
        return ": convert it with number(s)";
    if (p == P_INT && t.kind == MT_DECIMAL)
        return ": use round(x) or trunc(x)";
    if (p == P_TEMPORAL && t.kind == MT_STRING)
        return ": parse it with date(s) or datetime(s)";
    if (p == P_LIST_TEXT && t.kind == MT_LIST)
        return ": project a string field, e.g. list.Field";
    if (p == P_LIST_BOOL && t.kind == MT_LIST && t.elem && t.elem->kind == SK_OBJECT)
        return ": project a bool field, e.g. list.Field";
    return "";
}

static mapc_type check_call(checker *c, const scope *sc, ast_expr *e)
{
    char buf[300], b2[120];
    const mapc_builtin *b = mapc_builtin_find(e->text);
    if (!b) {
        for (size_t i = 0; i < e->args.n; i++)
            check_expr(c, sc, e->args.items[i]);
        if (lookup_table(c, sc, e->text)) {
            diag_error(c->d, e->name_loc, "'%s' is a table: look a key up with %s[key]", e->text,
                       e->text);
            return T_ERR;
        }
        mapc_suggest sg;
        suggest_init(&sg, e->text);
        for (size_t i = 0; i < mapc_builtin_count(); i++)
            suggest_offer(&sg, mapc_builtin_at(i)->name);
        diag_error(c->d, e->name_loc, "unknown function '%s'%s", e->text,
                   dym(&sg, buf, sizeof buf));
        return T_ERR;
    }
    e->ref = REF_BUILTIN;
    e->builtin = b;
    size_t n = e->args.n;
    if ((int)n < b->min_args || (b->max_args >= 0 && (int)n > b->max_args)) {
        char want[40];
        if (b->max_args < 0)
            snprintf(want, sizeof want, "at least %d", b->min_args);
        else if (b->min_args == b->max_args)
            snprintf(want, sizeof want, "%d", b->min_args);
        else
            snprintf(want, sizeof want, "%d to %d", b->min_args, b->max_args);
        diag_error(c->d, e->loc, "%s() takes %s argument%s, got %zu (%s)", b->name, want,
                   (b->max_args == 1 && b->min_args == 1) ? "" : "s", n, b->signature);
        for (size_t i = 0; i < n; i++)
            check_expr(c, sc, e->args.items[i]);
        return T_ERR;
    }
    bool any_opt = false, bad = false;
    mapc_type t0 = T_ERR;
    for (size_t i = 0; i < n; i++) {
        ast_expr *a = e->args.items[i];
        mapc_param p = param_at(b, i);
        if (p == P_PATTERN) {
            if (a->kind != AE_STRING) {
                check_expr(c, sc, a);
                diag_error(c->d, a->loc, "the pattern of %s() must be a string literal", b->name);
                bad = true;
            } else {
                a->type = mk(MT_STRING, false);
                const char *why = mapc_pattern_error(a->text, buf, sizeof buf);
                if (why) {
                    diag_error(c->d, a->loc, "%s", why);
                    bad = true;
                }
            }
            continue;
        }
        if (p == P_PLACES) {
            if (a->kind != AE_INT || strlen(a->text) > 2 || atoi(a->text) > 18) {
                check_expr(c, sc, a);
                diag_error(c->d, a->loc, "decimal places must be an integer literal 0..18");
                bad = true;
            } else {
                a->type = mk(MT_INT, false);
            }
            continue;
        }
        if (p == P_TABLE) {
            const ast_decl *t = a->kind == AE_NAME ? lookup_table(c, sc, a->text) : NULL;
            if (!t) {
                if (a->kind == AE_NAME) {
                    mapc_suggest sg;
                    suggest_init(&sg, a->text);
                    offer_decls(c, &sg, sc->file_id, AD_TABLE);
                    diag_error(c->d, a->loc, "unknown table '%s'%s", a->text,
                               dym(&sg, buf, sizeof buf));
                } else {
                    check_expr(c, sc, a);
                    diag_error(c->d, a->loc, "argument %zu of %s() must be a table name", i + 1,
                               b->name);
                }
                bad = true;
            } else {
                a->ref = REF_TABLE;
                a->table = t;
                a->type = T_ERR;
                if (t->value_kind != MT_ERROR && t->value_kind != MT_ANY &&
                    !is_number(t->value_kind)) {
                    diag_error(c->d, a->loc, "%s() needs a table of numbers; '%s' holds %ss",
                               b->name, t->name, mapc_tkind_name(t->value_kind));
                    bad = true;
                }
            }
            continue;
        }
        if (p == P_FIELD) {
            const schema_typeref *el = t0.kind == MT_LIST ? t0.elem : NULL;
            if (a->kind != AE_NAME) {
                check_expr(c, sc, a);
                diag_error(c->d, a->loc, "argument %zu of %s() must be a field name of the list's "
                           "elements", i + 1, b->name);
                bad = true;
            } else if (el && el->kind == SK_OBJECT && el->object) {
                const schema_prop *pr = find_prop(el->object, a->text);
                if (!pr) {
                    unknown_field(c, a->loc, el->object, a->text, NULL);
                    bad = true;
                } else {
                    a->ref = REF_FIELDARG;
                    a->prop = pr;
                    a->type = mapc_type_of_ref(&pr->type, mapc_prop_optional(pr));
                    if (i == 2 && !is_number(a->type.kind)) {
                        diag_error(c->d, a->loc, "%s() sums '%s', which is %s, not a number",
                                   b->name, a->text, mapc_type_str(a->type, b2, sizeof b2));
                        bad = true;
                    }
                }
            } else if (t0.kind == MT_LIST) {
                diag_error(c->d, a->loc, "%s() needs a list of objects to name fields of",
                           b->name);
                bad = true;
            }
            continue;
        }
        mapc_type t = check_expr(c, sc, a);
        if (i == 0)
            t0 = t;
        if (t.kind == MT_ERROR) {
            bad = true;
            continue;
        }
        if (!param_accepts(p, t)) {
            diag_error(c->d, a->loc, "argument %zu of %s() must be %s, not %s%s", i + 1, b->name,
                       param_want(p), mapc_type_str(t, b2, sizeof b2), arg_hint(p, t));
            bad = true;
            continue;
        }
        if (t.optional && p != P_LIST && p != P_LIST_NUMBER && p != P_LIST_TEXT &&
            p != P_LIST_BOOL)
            any_opt = true;
    }
    if (bad)
        return T_ERR;
    bool opt = b->never_absent ? false : (any_opt || b->may_fail);
    mapc_type r = mk(MT_ERROR, opt);
    switch (b->result) {
    case R_STRING: r.kind = MT_STRING; break;
    case R_INT: r.kind = MT_INT; break;
    case R_DECIMAL: r.kind = MT_DECIMAL; break;
    case R_BOOL: r.kind = MT_BOOL; break;
    case R_DATE: r.kind = MT_DATE; break;
    case R_DATETIME: r.kind = MT_DATETIME; break;
    case R_NOYES: r.kind = MT_NOYES; break;
    case R_ANYENUM: r.kind = MT_ANYENUM; break;
    case R_ARG0:
        r = t0;
        r.optional = false;
        break;
    case R_ROUND: r.kind = n >= 2 ? MT_DECIMAL : MT_INT; break;
    case R_SUM: {
        const schema_typeref *el = t0.elem;
        r.kind = el && (el->kind == SK_INT32 || el->kind == SK_INT64) ? MT_INT : MT_DECIMAL;
        break;
    }
    case R_LIST0:
        r = t0;
        r.optional = false;
        break;
    }
    return r;
}

static mapc_type check_binary(checker *c, const scope *sc, ast_expr *e)
{
    mapc_type a = check_expr(c, sc, e->a);
    mapc_type b = check_expr(c, sc, e->b);
    char ba[120], bb[120];
    if (e->op == OP_COALESCE) {
        mapc_type r = unify(c, e->loc, "the two sides of '\?\?'", a, b);
        if (r.kind != MT_ERROR)
            r.optional = b.optional || b.kind == MT_NULL;
        return r;
    }
    if (a.kind == MT_ERROR || b.kind == MT_ERROR)
        return e->op >= OP_EQ ? mk(MT_BOOL, false) : T_ERR;
    bool opt = a.optional || b.optional;
    switch (e->op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
        if (quiet(a) || quiet(b))
            return mk(quiet(a) && quiet(b) ? MT_ANY : is_number(a.kind) ? a.kind : b.kind, opt);
        if (is_number(a.kind) && is_number(b.kind))
            return mk(a.kind == MT_INT && b.kind == MT_INT && e->op != OP_DIV ? MT_INT
                                                                               : MT_DECIMAL, opt);
        if (e->op == OP_ADD && (a.kind == MT_STRING || b.kind == MT_STRING)) {
            diag_error(c->d, e->loc, "'+' adds numbers; concatenate strings with '++'");
            return T_ERR;
        }
        diag_error(c->d, e->loc, "'%s' needs numbers, not %s and %s", ast_op_text(e->op),
                   mapc_type_str(a, ba, sizeof ba), mapc_type_str(b, bb, sizeof bb));
        return T_ERR;
    case OP_CONCAT: {
        bool ok = true;
        if (!quiet(a) && a.kind != MT_STRING && a.kind != MT_NULL) {
            diag_error(c->d, e->a->loc, "'++' joins strings, this is %s: convert it with text(x)",
                       mapc_type_str(a, ba, sizeof ba));
            ok = false;
        }
        if (!quiet(b) && b.kind != MT_STRING && b.kind != MT_NULL) {
            diag_error(c->d, e->b->loc, "'++' joins strings, this is %s: convert it with text(x)",
                       mapc_type_str(b, bb, sizeof bb));
            ok = false;
        }
        /* an absent operand counts as "" (as jq's null): the result is always present */
        return ok ? mk(MT_STRING, false) : T_ERR;
    }
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE: {
        if (quiet(a) || quiet(b))
            return mk(MT_BOOL, false);
        bool ord = e->op >= OP_LT;
        bool ok = (is_number(a.kind) && is_number(b.kind)) ||
                  ((a.kind == MT_DATE || a.kind == MT_DATETIME) &&
                   (b.kind == MT_DATE || b.kind == MT_DATETIME)) ||
                  (a.kind == b.kind && a.kind == MT_STRING) ||
                  (!ord && a.kind == b.kind && a.kind != MT_LIST && a.kind != MT_OBJECT &&
                   (a.kind != MT_ENUM || a.enumt == b.enumt)) ||
                  (!ord && (a.kind == MT_NULL || b.kind == MT_NULL));
        /* enum value against a string literal (either side): the literal must be a member */
        if (!ok && !ord && ((a.kind == MT_ENUM && e->b->kind == AE_STRING) ||
                            (b.kind == MT_ENUM && e->a->kind == AE_STRING))) {
            const schema_enum *en = a.kind == MT_ENUM ? a.enumt : b.enumt;
            const ast_expr *lit = a.kind == MT_ENUM ? e->b : e->a;
            ok = true;
            if (en && !schema_enum_has_member(en, lit->text)) {
                mapc_suggest sg;
                char buf[300];
                suggest_init(&sg, lit->text);
                for (size_t i = 0; i < en->nmembers; i++)
                    suggest_offer(&sg, en->members[i].name);
                diag_error(c->d, lit->loc, "\"%s\" is not a member of enum %s%s", lit->text,
                           en->name, dym(&sg, buf, sizeof buf));
            }
        }
        if (!ok)
            diag_error(c->d, e->loc, "cannot compare %s with %s", mapc_type_str(a, ba, sizeof ba),
                       mapc_type_str(b, bb, sizeof bb));
        return mk(MT_BOOL, false);
    }
    case OP_AND:
    case OP_OR:
        if (!quiet(a) && a.kind != MT_BOOL)
            diag_error(c->d, e->a->loc, "'%s' needs bools, this is %s", ast_op_text(e->op),
                       mapc_type_str(a, ba, sizeof ba));
        if (!quiet(b) && b.kind != MT_BOOL)
            diag_error(c->d, e->b->loc, "'%s' needs bools, this is %s", ast_op_text(e->op),
                       mapc_type_str(b, bb, sizeof bb));
        return mk(MT_BOOL, false);
    default:
        break;
    }
    return T_ERR;
}

static mapc_type check_match(checker *c, const scope *sc, ast_expr *e)
{
    mapc_type s = check_expr(c, sc, e->a);
    char bs[120], bl[120];
    mapc_type r = mk(MT_ERROR, false);
    bool have = false;
    if (s.kind == MT_OBJECT || s.kind == MT_LIST) {
        diag_error(c->d, e->a->loc, "match needs a scalar value, this is %s",
                   mapc_type_str(s, bs, sizeof bs));
        s = T_ERR;
    }
    for (size_t i = 0; i < e->args.n; i++) {
        ast_case *k = e->args.items[i];
        for (size_t j = 0; j < k->labels.n; j++) {
            ast_expr *l = k->labels.items[j];
            mapc_type lt = check_expr(c, sc, l);
            if (l->kind == AE_NULL) {
                diag_error(c->d, l->loc, "'case null' never matches: use '\?\?' for absent values");
                continue;
            }
            /* duplicate labels */
            for (size_t i2 = 0; i2 <= i; i2++) {
                ast_case *k2 = e->args.items[i2];
                size_t lim = i2 == i ? j : k2->labels.n;
                for (size_t j2 = 0; j2 < lim; j2++) {
                    ast_expr *l2 = k2->labels.items[j2];
                    if (l2->kind == l->kind && l2->text && l->text && !strcmp(l2->text, l->text) &&
                        l->kind != AE_BOOL) {
                        diag_error(c->d, l->loc, "duplicate case");
                        diag_note(c->d, l2->loc, "first here");
                        goto next_label;
                    }
                }
            }
            if (quiet(s))
                continue;
            if (s.kind == MT_ENUM && l->kind == AE_STRING) {
                if (s.enumt && !schema_enum_has_member(s.enumt, l->text)) {
                    mapc_suggest sg;
                    char buf[300];
                    suggest_init(&sg, l->text);
                    for (size_t m = 0; m < s.enumt->nmembers; m++)
                        suggest_offer(&sg, s.enumt->members[m].name);
                    diag_error(c->d, l->loc, "\"%s\" is not a member of enum %s%s", l->text,
                               s.enumt->name, dym(&sg, buf, sizeof buf));
                }
                continue;
            }
            if (!(lt.kind == s.kind || (is_number(lt.kind) && is_number(s.kind)) ||
                  (s.kind == MT_DATETIME && lt.kind == MT_DATE)))
                diag_error(c->d, l->loc, "case %s does not fit the matched %s",
                           mapc_type_str(lt, bl, sizeof bl), mapc_type_str(s, bs, sizeof bs));
        next_label:;
        }
        mapc_type v = check_expr(c, sc, k->value);
        r = have ? unify(c, k->value->loc, "the branches of match", r, v) : v;
        have = true;
    }
    if (e->c) {
        mapc_type v = check_expr(c, sc, e->c);
        r = have ? unify(c, e->c->loc, "the branches of match", r, v) : v;
    } else if (r.kind != MT_ERROR) {
        r.optional = true;      /* no case matched: absent */
    }
    return r;
}

/* ref SCHEMA.Set by Field (KEY) .Get: the Get field of the Clarity record whose Field is KEY,
 * looked up by the engine before the record is sent (the map writes a placeholder; see
 * docs/codegen.md).  Typed as Get; the whole value of an assignment. */
static mapc_type check_ref(checker *c, const scope *sc, ast_expr *e)
{
    char buf[120], bk[120];
    const ast_expr *allowed = c->ref_ok;
    c->ref_ok = NULL;
    mapc_type kt = check_expr(c, sc, e->a);
    if (allowed != e)
        diag_error(c->d, e->loc, "a ref must be the whole value of a field assignment (the "
                   "engine puts the looked-up value there before sending)");
    const ast_decl *sd = NULL;
    c->in_ref = true;
    const schema_type *t = resolve_qname(c, sc->file_id, e->refset, true, &sd);
    c->in_ref = false;
    if (!t)
        return T_ERR;
    if (sd && sd->format != SCHEMA_OPENAPI) {
        diag_error(c->d, e->refset->loc, "ref looks records up in Clarity (OpenAPI) entity sets; "
                   "%s is an OData schema", e->refset->schema);
        return T_ERR;
    }
    e->ref_type = t;
    mapc_schema_slot *slot = sd ? schema_slot_of(sd) : NULL;
    e->ref_schema = slot ? slot->s : NULL;
    const schema_prop *by = find_prop(t, e->by);
    const schema_prop *get = find_prop(t, e->text);
    if (!by)
        unknown_field(c, e->by_loc, t, e->by, e->refset->schema);
    else if (strcmp(by->name, "CustomKey"))
        diag_error(c->d, e->by_loc, "ref looks records up by CustomKey (Clarity searches many "
                   "CustomKeys in one call); '%s' is not supported", by->name);
    if (!get)
        unknown_field(c, e->name_loc, t, e->text, e->refset->schema);
    if (!by || !get)
        return T_ERR;
    e->by_prop = by;
    e->prop = get;
    mapc_type bt = mapc_type_of_ref(&by->type, false);
    if (!quiet(kt) && kt.kind != MT_NULL && kt.kind != bt.kind)
        diag_error(c->d, e->a->loc, "the key of this ref is %s, but %s.%s is %s",
                   mapc_type_str(kt, buf, sizeof buf), t->name, by->name,
                   mapc_type_str(bt, bk, sizeof bk));
    mapc_type gt = mapc_type_of_ref(&get->type, false);
    if (gt.kind != MT_INT && gt.kind != MT_STRING) {
        diag_error(c->d, e->name_loc, "a ref gets an integer or string field (an ID or a key); "
                   "%s.%s is %s", t->name, get->name, mapc_type_str(gt, buf, sizeof buf));
        return T_ERR;
    }
    return gt;
}

static mapc_type check_expr_inner(checker *c, const scope *sc, ast_expr *e)
{
    char buf[120];
    switch (e->kind) {
    case AE_STRING: return mk(MT_STRING, false);
    case AE_INT:
        if (!int_fits(e->text)) {
            diag_error(c->d, e->loc, "integer %s does not fit in 64 bits", e->text);
            return T_ERR;
        }
        return mk(MT_INT, false);
    case AE_DECIMAL: return mk(MT_DECIMAL, false);
    case AE_BOOL: return mk(MT_BOOL, false);
    case AE_NULL: return mk(MT_NULL, true);
    case AE_DATE:
        if (!valid_date_text(e->text)) {
            diag_error(c->d, e->loc, "invalid date @%s", e->text);
            return T_ERR;
        }
        return mk(strchr(e->text, 'T') ? MT_DATETIME : MT_DATE, false);
    case AE_NAME: return check_name(c, sc, e);
    case AE_FIELD: return check_field(c, sc, e);
    case AE_INDEX: return check_index(c, sc, e);
    case AE_CALL: return check_call(c, sc, e);
    case AE_UNARY: {
        mapc_type a = check_expr(c, sc, e->a);
        if (quiet(a))
            return e->op == OP_NOT ? mk(MT_BOOL, false) : a;
        if (e->op == OP_NEG) {
            if (!is_number(a.kind)) {
                diag_error(c->d, e->loc, "'-' needs a number, not %s",
                           mapc_type_str(a, buf, sizeof buf));
                return T_ERR;
            }
            return a;
        }
        if (a.kind != MT_BOOL)
            diag_error(c->d, e->a->loc, "'not' needs a bool, this is %s",
                       mapc_type_str(a, buf, sizeof buf));
        return mk(MT_BOOL, false);
    }
    case AE_BINARY: return check_binary(c, sc, e);
    case AE_IF: {
        mapc_type cnd = check_expr(c, sc, e->a);
        if (!quiet(cnd) && cnd.kind != MT_BOOL)
            diag_error(c->d, e->a->loc, "the condition of 'if' must be a bool, this is %s",
                       mapc_type_str(cnd, buf, sizeof buf));
        mapc_type t = check_expr(c, sc, e->b);
        mapc_type f = check_expr(c, sc, e->c);
        return unify(c, e->loc, "the branches of if", t, f);
    }
    case AE_MATCH: return check_match(c, sc, e);
    case AE_REF: return check_ref(c, sc, e);
    }
    return T_ERR;
}

static mapc_type check_expr(checker *c, const scope *sc, ast_expr *e)
{
    if (!e)
        return T_ERR;
    e->type = check_expr_inner(c, sc, e);
    return e->type;
}

/* ------------------------------------------------------------------ assignment */

/* Every leaf of an expression that feeds an enum target, checked against the enum. */
static void check_enum_value(checker *c, ast_expr *e, const schema_enum *en, const char *field,
                             mapc_loc use)
{
    char buf[300], bt[120];
    mapc_suggest sg;
    /* Look at the leaves only where strings and enum values meet; anything else (a bool, a
     * number) is reported once for the whole expression below. */
    bool mixed = e->type.kind == MT_STRING || e->type.kind == MT_ENUM ||
                 e->type.kind == MT_ANYENUM || e->type.kind == MT_NOYES;
    switch (mixed ? e->kind : AE_NAME) {
    case AE_STRING:
        if (!schema_enum_has_member(en, e->text)) {
            suggest_init(&sg, e->text);
            for (size_t i = 0; i < en->nmembers; i++)
                suggest_offer(&sg, en->members[i].name);
            diag_error(c->d, e->loc, "\"%s\" is not a member of enum %s (field '%s')%s", e->text,
                       en->name, field, dym(&sg, buf, sizeof buf));
        }
        return;
    case AE_NULL:
        return;
    case AE_IF:
        check_enum_value(c, e->b, en, field, use);
        check_enum_value(c, e->c, en, field, use);
        return;
    case AE_MATCH:
        for (size_t i = 0; i < e->args.n; i++)
            check_enum_value(c, ((ast_case *)e->args.items[i])->value, en, field, use);
        if (e->c)
            check_enum_value(c, e->c, en, field, use);
        return;
    case AE_BINARY:
        if (e->op == OP_COALESCE) {
            check_enum_value(c, e->a, en, field, use);
            check_enum_value(c, e->b, en, field, use);
            return;
        }
        break;
    case AE_INDEX:
        if (e->ref == REF_LOOKUP && e->table && e->table->value_kind == MT_STRING) {
            const ast_decl *t = e->table;
            bool noted = false;
            for (size_t i = 0; i < t->entries.n; i++) {
                ast_entry *en2 = t->entries.items[i];
                if (schema_enum_has_member(en, en2->value->text))
                    continue;
                suggest_init(&sg, en2->value->text);
                for (size_t m = 0; m < en->nmembers; m++)
                    suggest_offer(&sg, en->members[m].name);
                if (en2->csv_line)
                    diag_error(c->d, en2->value->loc, "%s:%d: \"%s\" is not a member of enum %s%s",
                               t->path, en2->csv_line, en2->value->text, en->name,
                               dym(&sg, buf, sizeof buf));
                else
                    diag_error(c->d, en2->value->loc, "table '%s' maps \"%s\" to \"%s\", which is "
                               "not a member of enum %s%s", t->name, en2->key, en2->value->text,
                               en->name, dym(&sg, buf, sizeof buf));
                if (!noted) {
                    diag_note(c->d, use, "the table feeds enum field '%s' here", field);
                    noted = true;
                }
            }
            return;
        }
        break;
    default:
        break;
    }
    mapc_type t = e->type;
    switch (t.kind) {
    case MT_ERROR:
    case MT_ANY:
    case MT_ANYENUM:
    case MT_NULL:
        return;
    case MT_ENUM:
        if (t.enumt && t.enumt != en && strcmp(t.enumt->name, en->name))
            diag_error(c->d, e->loc, "enum %s value assigned to field '%s' of enum %s: convert "
                       "with enum(text(x))", t.enumt->name, field, en->name);
        return;
    case MT_NOYES:
        if (!enum_is_noyes(en))
            diag_error(c->d, e->loc, "yesno(...) gives No/Yes, but field '%s' is enum %s", field,
                       en->name);
        return;
    case MT_BOOL:
        if (enum_is_noyes(en))
            diag_error(c->d, e->loc, "field '%s' is enum %s: turn a bool into it with yesno(b)",
                       field, en->name);
        else
            diag_error(c->d, e->loc, "cannot assign bool to field '%s' of enum %s", field,
                       en->name);
        return;
    case MT_STRING:
        diag_error(c->d, e->loc, "field '%s' is enum %s: a computed string needs enum(s) "
                   "(checked at run time)", field, en->name);
        return;
    default:
        diag_error(c->d, e->loc, "cannot assign %s to field '%s' of enum %s",
                   mapc_type_str(t, bt, sizeof bt), field, en->name);
        return;
    }
}

/* Can a value of type v go into a property of type p?  Reports and returns false if not. */
static bool check_assignable(checker *c, ast_expr *e, const schema_prop *p, mapc_loc use)
{
    mapc_type v = e->type;
    mapc_type t = mapc_type_of_ref(&p->type, false);
    char bv[120], bt[120];
    if (v.kind == MT_ERROR || v.kind == MT_ANY || t.kind == MT_ANY || v.kind == MT_NULL)
        return true;
    if (t.kind == MT_ENUM) {
        int before = c->d->nerrors;
        check_enum_value(c, e, t.enumt, p->name, use);
        return c->d->nerrors == before;
    }
    const char *hint = NULL;
    switch (t.kind) {
    case MT_STRING:
        if (v.kind == MT_STRING || v.kind == MT_ENUM)
            return true;
        if (is_scalar(v.kind) && v.kind != MT_ANYENUM && v.kind != MT_NOYES)
            hint = "convert it with text(x)";
        break;
    case MT_INT:
        if (v.kind == MT_INT)
            return true;
        if (v.kind == MT_DECIMAL)
            hint = "decimal -> int can lose data: use round(x) or trunc(x)";
        else if (v.kind == MT_STRING)
            hint = "string -> int needs number(s), then round(x) or trunc(x)";
        break;
    case MT_DECIMAL:
        if (is_number(v.kind))
            return true;
        if (v.kind == MT_STRING)
            hint = "string -> decimal can fail: use number(s)";
        break;
    case MT_BOOL:
        if (v.kind == MT_BOOL)
            return true;
        break;
    case MT_DATE:
        if (v.kind == MT_DATE)
            return true;
        if (v.kind == MT_DATETIME)
            hint = p->is_date ? "the field is a date (AXType Date): take the date with date(x)"
                              : "take the date with date(x)";
        else if (v.kind == MT_STRING)
            hint = "parse it with date(s) or date(s, pattern)";
        break;
    case MT_DATETIME:
        if (v.kind == MT_DATETIME || v.kind == MT_DATE)
            return true;
        if (v.kind == MT_STRING)
            hint = "parse it with datetime(s) or datetime(s, pattern)";
        break;
    case MT_GUID:
        if (v.kind == MT_GUID)
            return true;
        break;
    case MT_OBJECT:
        if (v.kind == MT_OBJECT && (!v.object || !t.object || !strcmp(v.object->name, t.object->name)))
            return true;
        break;
    case MT_LIST:
        if (v.kind == MT_LIST)
            return true;
        break;
    default:
        if (v.kind == t.kind)
            return true;
        break;
    }
    if (hint)
        diag_error(c->d, e->loc, "cannot assign %s to %s field '%s': %s",
                   mapc_type_str(v, bv, sizeof bv), mapc_type_str(t, bt, sizeof bt), p->name, hint);
    else
        diag_error(c->d, e->loc, "cannot assign %s to %s field '%s'",
                   mapc_type_str(v, bv, sizeof bv), mapc_type_str(t, bt, sizeof bt), p->name);
    return false;
}

/* ------------------------------------------------------------------ maps */

static bool map_is_odata_target(const ast_decl *m)
{
    return m->dst_schema && m->dst_schema->format == SCHEMA_ODATA;
}

/* where COND: a bool over the source, like a check's condition; for every record, so not
 * inside `on create`. */
static void check_where(checker *c, const scope *sc, const ast_item *w)
{
    char buf[120];
    mapc_type t = check_expr(c, sc, w->value);
    if (!quiet(t) && t.kind != MT_BOOL)
        diag_error(c->d, w->value->loc, "a where condition must be a bool, this is %s",
                   mapc_type_str(t, buf, sizeof buf));
    if (w->on_create)
        diag_error(c->d, w->loc, "a where filters every record, created or updated: move it "
                   "out of 'on create'");
}

/* Why a top-level target field must be present on every write of this map, or NULL. */
static const char *must_have(const ast_decl *m, const schema_prop *p)
{
    if (p->computed)
        return NULL;
    if (p->key && map_is_odata_target(m))
        return "key";
    if (p->required && m->mode != MODE_UPDATE)
        return map_is_odata_target(m) ? "IsRequired" : "required";
    return NULL;
}

static const ast_item *find_item(const ast_decl *m, size_t upto, const ast_path *path,
                                 bool generated)
{
    for (size_t i = 0; i < upto; i++) {
        const ast_item *it = m->items.items[i];
        if (it->kind == AI_CHECK || !it->path)
            continue;
        if (generated && it->kind != AI_GENERATED)
            continue;
        if (it->path->n != path->n)
            continue;
        size_t k;
        for (k = 0; k < path->n; k++)
            if (strcmp(it->path->names[k], path->names[k]))
                break;
        if (k == path->n)
            return it;
    }
    return NULL;
}

/* Resolve the target path of an assignment; NULL when a step is unknown (reported). */
static const schema_prop *resolve_target(checker *c, const ast_decl *m, ast_item *it)
{
    const schema_type *t = m->dst_type;
    const schema_prop *p = NULL;
    it->props = calloc(it->path->n, sizeof *it->props);
    if (!it->props) {
        diag_error(c->d, it->loc, "out of memory");
        return NULL;
    }
    for (size_t k = 0; k < it->path->n; k++) {
        if (!t)
            return NULL;
        p = find_prop(t, it->path->names[k]);
        if (!p) {
            unknown_field(c, it->path->locs[k], t, it->path->names[k],
                          k == 0 ? m->dst->schema : NULL);
            return NULL;
        }
        it->props[k] = p;
        if (k + 1 < it->path->n) {
            if (p->type.kind != SK_OBJECT) {
                diag_error(c->d, it->path->locs[k], "'%s' is %s, it has no fields", p->name,
                           schema_kind_name(p->type.kind));
                return NULL;
            }
            t = p->type.object;
        }
    }
    return p;
}

static void check_write_permission(checker *c, const ast_decl *m, const ast_item *it,
                                   const schema_prop *p, bool top)
{
    mapc_loc loc = it->path->loc;
    if (p->computed) {
        diag_error(c->d, loc, "'%s' is computed by the server and cannot be written", p->name);
        return;
    }
    if (!top)
        return;
    /* An upsert follows the create rules: its AllowEdit=false fields are sent only when it
     * creates the record. */
    if ((m->mode == MODE_CREATE || m->mode == MODE_UPSERT) && !p->allow_edit_on_create)
        diag_error(c->d, loc, "'%s' cannot be set on create (AllowEditOnCreate=false)%s", p->name,
                   m->mode == MODE_UPSERT ? "; an upsert may create" : "");
    else if (m->mode == MODE_UPDATE && !p->allow_edit && !p->key)
        diag_error(c->d, loc, "'%s' cannot be changed by an update (AllowEdit=false)", p->name);
}

/* `from group of S.Type`: the record a group map decodes is {"value":[row, ...]}, a synthetic
 * type "<Type>_group" with one required member `value` (a list of the rows' type), kept in the
 * map's declaration; the map's variable is that list.  False when out of memory. */
static bool make_group_type(ast_decl *m)
{
    size_t n = strlen(m->src_type->name);
    free(m->group_name);
    m->group_name = malloc(n + sizeof "_group");
    if (!m->group_name)
        return false;
    memcpy(m->group_name, m->src_type->name, n);
    memcpy(m->group_name + n, "_group", sizeof "_group");
    memset(&m->group_elem, 0, sizeof m->group_elem);
    m->group_elem.kind = SK_OBJECT;
    m->group_elem.name = m->src_type->name;
    m->group_elem.object = m->src_type;
    memset(&m->group_value, 0, sizeof m->group_value);
    m->group_value.name = "value";
    m->group_value.type.kind = SK_ARRAY;
    m->group_value.type.name = m->src_type->name;
    m->group_value.type.elem = &m->group_elem;
    m->group_value.required = true;
    m->group_value.allow_edit = m->group_value.allow_edit_on_create = true;
    m->group_value.max_length = m->group_value.precision = m->group_value.scale = SCHEMA_UNSTATED;
    memset(&m->group_type, 0, sizeof m->group_type);
    m->group_type.name = m->group_name;
    m->group_type.qualified = m->group_name;
    m->group_type.nprops = 1;
    m->group_type.props = &m->group_value;
    return true;
}

/* The type of a map's record variable: the source object, or for a group map the list of
 * its rows; T_ERR when the source did not resolve. */
static mapc_type map_var_type(const ast_decl *m)
{
    if (!m || !m->src_type)
        return T_ERR;
    if (m->group && m->group_type.props) {
        mapc_type t = mk(MT_LIST, false);
        t.elem = &m->group_elem;
        return t;
    }
    mapc_type t = mk(MT_OBJECT, false);
    t.object = m->src_type;
    return t;
}

static void check_map(checker *c, ast_decl *m)
{
    const ast_decl *ss = NULL, *ds = NULL;
    m->src_type = resolve_qname(c, m->file_id, m->src, false, &ss);
    m->dst_type = resolve_qname(c, m->file_id, m->dst, false, &ds);
    m->src_schema = ss;
    m->dst_schema = ds;
    bool src_ok = m->src_type != NULL;
    bool dst_ok = m->dst_type != NULL;
    char buf[300];

    if (ds && dst_ok) {
        const schema_type *t = m->dst_type;
        if (t->read_only)
            diag_error(c->d, m->dst->loc, "%s.%s is read-only (IsReadOnly): it cannot be a write "
                       "target", m->dst->schema, t->name);
        if (m->mode != MODE_CREATE && t->is_entity && t->nkeys == 0 && ds->format == SCHEMA_ODATA &&
            !m->mode_key)
            diag_error(c->d, m->mode_loc, "%s.%s has no key: an %s cannot address a record "
                       "(keyless entities can only be created)", m->dst->schema, t->name,
                       ast_mode_name(m->mode));
    }
    if (m->mode_key) {
        if (m->mode != MODE_UPSERT)
            diag_error(c->d, m->mode_key_loc, "'by FIELD' names the key of an upsert; this map "
                       "is an %s", ast_mode_name(m->mode));
        else if (dst_ok) {
            const schema_prop *kp = find_prop(m->dst_type, m->mode_key);
            if (!kp)
                unknown_field(c, m->mode_key_loc, m->dst_type, m->mode_key, m->dst->schema);
        }
    }
    /* `on create` groups: only an upsert both creates and updates */
    for (size_t i = 0; i < m->create_groups.n && m->mode != MODE_UPSERT; i++) {
        const ast_item *g = m->create_groups.items[i];
        diag_error(c->d, g->loc, "'on create' is for upsert maps: %s",
                   m->mode == MODE_CREATE ? "every item of a create map is sent on create"
                                          : "an update map never creates");
    }

    if (m->group && src_ok && !make_group_type(m)) {
        diag_error(c->d, m->group_loc, "out of memory");
        src_ok = false;
    }
    scope sc = {m->file_id, m->var, map_var_type(m)};
    if (!src_ok)
        sc.var_type = T_ERR;

    /* the where items (kept apart, m->wheres) are checked in source order with the others */
    size_t nw = 0;
    for (size_t i = 0; i <= m->items.n; i++) {
        ast_item *it = i < m->items.n ? m->items.items[i] : NULL;
        for (; nw < m->wheres.n; nw++) {
            const ast_item *w = m->wheres.items[nw];
            if (it && w->loc.start > it->loc.start)
                break;
            check_where(c, &sc, w);
        }
        if (!it)
            break;
        if (it->kind == AI_CHECK) {
            mapc_type t = check_expr(c, &sc, it->value);
            if (!quiet(t) && t.kind != MT_BOOL)
                diag_error(c->d, it->value->loc, "a check condition must be a bool, this is %s",
                           mapc_type_str(t, buf, sizeof buf));
            if (!it->message[0])
                diag_error(c->d, it->message_loc, "a check needs a message");
            if (it->on_create)
                diag_error(c->d, it->loc, "a check applies to every record, created or updated: "
                           "move it out of 'on create'");
            continue;
        }
        /* an object is sent whole: its fields are all inside `on create` or all outside */
        for (size_t k = 0; k < i; k++) {
            const ast_item *o = m->items.items[k];
            if (o->kind != AI_CHECK && o->on_create != it->on_create &&
                (o->path->n > 1 || it->path->n > 1) &&
                !strcmp(o->path->names[0], it->path->names[0])) {
                diag_error(c->d, it->path->loc, "'%s' is set both inside and outside 'on create': "
                           "an update sends the object whole", it->path->names[0]);
                diag_note(c->d, o->path->loc, "also set here");
                break;
            }
        }
        /* duplicates */
        const ast_item *prev = find_item(m, i, it->path, false);
        if (prev) {
            if (it->kind == AI_GENERATED && prev->kind == AI_GENERATED)
                diag_error(c->d, it->path->loc, "'%s' is already declared generated",
                           it->path->names[0]);
            else if (it->kind == AI_GENERATED || prev->kind == AI_GENERATED)
                diag_error(c->d, it->path->loc, "'%s' is both assigned and declared generated",
                           it->path->names[0]);
            else
                diag_error(c->d, it->path->loc, "field '%s' is assigned twice",
                           it->path->names[it->path->n - 1]);
            diag_note(c->d, prev->loc, "first here");
        }
        const schema_prop *p = dst_ok ? resolve_target(c, m, it) : NULL;
        if (it->kind == AI_GENERATED) {
            if (p && it->path->n > 1)
                diag_error(c->d, it->path->loc, "'generated' names a top-level field");
            else if (m->mode == MODE_UPDATE)
                diag_error(c->d, it->loc, "'generated' marks a field the server fills on create; "
                           "an update map cannot use it");
            continue;
        }
        c->ref_ok = it->value;
        mapc_type v = check_expr(c, &sc, it->value);
        c->ref_ok = NULL;
        if (!p || prev)
            continue;
        check_write_permission(c, m, it, p, it->path->n == 1);
        if (!check_assignable(c, it->value, p, it->value->loc))
            continue;
        const char *why = it->path->n == 1 ? must_have(m, p) : NULL;
        if (why && (v.optional || v.kind == MT_NULL)) {
            if (v.kind == MT_NULL)
                diag_error(c->d, it->value->loc, "'%s' cannot be null: it is a %s field of %s.%s",
                           p->name, !strcmp(why, "key") ? "key" : "required", m->dst->schema,
                           m->dst_type->name);
            else
                diag_error(c->d, it->value->loc, "'%s' must be set (%s) but this value may be "
                           "absent: wrap it in required(...) or add '\?\? default'", p->name,
                           !strcmp(why, "key") ? "a key field" : why);
        }
    }

    /* completeness: every must-have field assigned or generated (not worth saying for a
     * target that cannot be written at all) */
    if (dst_ok && m->dst_type->is_entity && !m->dst_type->read_only &&
        !(m->mode != MODE_CREATE && m->dst_type->nkeys == 0)) {
        const schema_type *t = m->dst_type;
        for (size_t k = 0; k < t->nprops; k++) {
            const schema_prop *p = &t->props[k];
            const char *why = must_have(m, p);
            if (!why)
                continue;
            bool set = false;
            for (size_t i = 0; i < m->items.n && !set; i++) {
                const ast_item *it = m->items.items[i];
                set = it->kind != AI_CHECK && it->path && it->path->n == 1 &&
                      !strcmp(it->path->names[0], p->name) &&
                      (it->kind == AI_ASSIGN || m->mode != MODE_UPDATE);
            }
            if (set)
                continue;
            if (!strcmp(why, "key") && m->mode == MODE_UPDATE)
                diag_error(c->d, m->name_loc, "update map '%s' does not set key field '%s' of "
                           "%s.%s, which addresses the record", m->name, p->name, m->dst->schema,
                           t->name);
            else if (!strcmp(why, "key") && m->mode == MODE_UPSERT && m->mode_key)
                continue;   /* upsert by another field: the key comes from the match */
            else if (!strcmp(why, "key"))
                diag_error(c->d, m->name_loc, "map '%s' does not set key field '%s' of %s.%s: "
                           "assign it, or declare it 'generated %s' if the server numbers it",
                           m->name, p->name, m->dst->schema, t->name, p->name);
            else
                diag_error(c->d, m->name_loc, "map '%s' does not set '%s', which %s.%s requires "
                           "on create (%s)", m->name, p->name, m->dst->schema, t->name, why);
        }
    }
}

/* ------------------------------------------------------------------ flows */

static bool parse_duration(const char *s, long long *ms)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return false;
    long long mul = !strcmp(end, "ms") ? 1
                    : !strcmp(end, "s") ? 1000
                    : !strcmp(end, "m") ? 60000
                    : !strcmp(end, "h") ? 3600000
                    : !strcmp(end, "d") ? 86400000
                    : 0;
    if (!mul || v > LLONG_MAX / mul)
        return false;
    *ms = v * mul;
    return true;
}

static long long check_duration(checker *c, const char *text, mapc_loc loc, const char *what)
{
    long long ms = 0;
    if (!parse_duration(text, &ms)) {
        diag_error(c->d, loc, "%s %s is out of range", what, text);
        return -1;
    }
    if (ms <= 0)
        diag_error(c->d, loc, "%s must be longer than 0", what);
    return ms;
}

static const ast_decl *resolve_map_ref(checker *c, const char *name, mapc_loc loc)
{
    const ast_decl *m = mapc_program_find_map(c->p, name);
    if (!m) {
        mapc_suggest sg;
        char buf[300];
        suggest_init(&sg, name);
        offer_decls(c, &sg, -1, AD_MAP);
        diag_error(c->d, loc, "unknown map '%s'%s", name, dym(&sg, buf, sizeof buf));
    }
    return m;
}

static bool same_type(const schema_type *a, const schema_type *b)
{
    return a == b || (a && b && !strcmp(a->name, b->name));
}

static bool cron_ok(const char *s)
{
    int fields = 0;
    bool in = false;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t') {
            in = false;
            continue;
        }
        if (!strchr("0123456789*/,-", *s))
            return false;
        if (!in)
            fields++;
        in = true;
    }
    return fields == 5;
}

/* syncrt_flow_desc.group_by holds SYNCRT_FLOW_MAX_KEYS (4) names, NULL-terminated */
#define GROUP_BY_MAX 3

/* `trigger poll S.Set every D group by F, ...`: an F&O set read in full (no `since`), by
 * fields of its type that hold one value per row. */
static void check_group_by(checker *c, const ast_fitem *fi, const schema_type *t,
                           const ast_decl *sd)
{
    const ast_path *g = fi->group_by;
    if (sd && sd->format != SCHEMA_ODATA) {
        diag_error(c->d, g->loc, "'group by' needs an F&O (odata) poll: the engine joins rows "
                   "of a full read ordered by the fields; %s is an OpenAPI schema, whose "
                   "searches it pages by modification date", fi->set->schema);
        return;
    }
    if (fi->name)
        diag_error(c->d, fi->name_loc, "'group by' needs every row of a group in each pass; "
                   "'since %s' reads only changed rows: remove it (unchanged groups cost no "
                   "call)", fi->name);
    for (size_t i = 0; t && i < g->n; i++) {
        const schema_prop *p = find_prop(t, g->names[i]);
        if (!p) {
            unknown_field(c, g->locs[i], t, g->names[i], fi->set->schema);
            continue;
        }
        if (p->type.kind == SK_ARRAY || p->type.kind == SK_OBJECT || p->type.kind == SK_ANY)
            diag_error(c->d, g->locs[i], "'group by' needs a field with one value per row; "
                       "'%s' is %s", p->name, schema_kind_name(p->type.kind));
        for (size_t k = 0; k < i; k++)
            if (!strcmp(g->names[k], g->names[i])) {
                diag_error(c->d, g->locs[i], "'%s' is named twice in 'group by'", g->names[i]);
                diag_note(c->d, g->locs[k], "first here");
                break;
            }
    }
    if (g->n > GROUP_BY_MAX)
        diag_error(c->d, g->loc, "'group by' takes at most %d fields", GROUP_BY_MAX);
}

/* A dedup probe as written ("A + B"), into buf. */
static const char *probe_text(const ast_path *pr, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t k = 0; k < pr->n && len < size; k++) {
        int w = snprintf(buf + len, size - len, "%s%s", k ? " + " : "", pr->names[k]);
        len += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

/* Two probes of the same fields, in any order. */
static bool same_probe(const ast_path *a, const ast_path *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        size_t k = 0;
        while (k < b->n && strcmp(a->names[i], b->names[k]))
            k++;
        if (k == b->n)
            return false;
    }
    return true;
}

/* dedup by P, A + B: the engine queries an F&O target by each probe before it creates a
 * record, so the first write creates (create or upsert) into OData, and every field is a
 * top-level field its map assigns (the value probed by); at most SYNCRT_FLOW_MAX_KEYS - 1
 * probes (the descriptor's NULL-terminated array). */
static void check_dedup(checker *c, const ast_fitem *dd, const ast_fitem *w)
{
    const ast_decl *m = w ? w->map_decl : NULL;
    char buf[300];
    if (m && m->dst_schema && m->dst_schema->format != SCHEMA_ODATA)
        diag_error(c->d, dd->loc, "'dedup by' probes an F&O (OData) target before a record is "
                   "created; %s is an OpenAPI schema", m->dst->schema);
    else if (m && m->mode == MODE_UPDATE)
        diag_error(c->d, dd->loc, "'dedup by' probes the target before a record is created; "
                   "map '%s' is an update map, it never creates", m->name);
    if (dd->probes.n > SYNCRT_FLOW_MAX_KEYS - 1) {
        const ast_path *extra = dd->probes.items[SYNCRT_FLOW_MAX_KEYS - 1];
        diag_error(c->d, extra->loc, "at most %d dedup probes", SYNCRT_FLOW_MAX_KEYS - 1);
    }
    for (size_t i = 0; i < dd->probes.n; i++) {
        const ast_path *pr = dd->probes.items[i];
        bool dup = false;
        for (size_t k = 0; k < pr->n && !dup; k++)
            for (size_t j = 0; j < k && !dup; j++)
                if (!strcmp(pr->names[j], pr->names[k])) {
                    diag_error(c->d, pr->locs[k], "'%s' is twice in this probe", pr->names[k]);
                    diag_note(c->d, pr->locs[j], "first here");
                    dup = true;
                }
        for (size_t j = 0; j < i && !dup; j++) {
            const ast_path *prev = dd->probes.items[j];
            if (same_probe(prev, pr)) {
                diag_error(c->d, pr->loc, "probe '%s' is given twice",
                           probe_text(pr, buf, sizeof buf));
                diag_note(c->d, prev->loc, "first here");
                dup = true;
            }
        }
        if (!m || !m->dst_type)
            continue;
        for (size_t k = 0; k < pr->n; k++) {
            const schema_prop *p = find_prop(m->dst_type, pr->names[k]);
            if (!p) {
                unknown_field(c, pr->locs[k], m->dst_type, pr->names[k], m->dst->schema);
                continue;
            }
            const ast_item *how = NULL;
            for (size_t x = 0; x < m->items.n && !how; x++) {
                const ast_item *it = m->items.items[x];
                if (it->kind != AI_CHECK && it->path->n == 1 && !strcmp(it->path->names[0], p->name))
                    how = it;
            }
            if (p->type.kind == SK_OBJECT || p->type.kind == SK_ARRAY)
                diag_error(c->d, pr->locs[k], "dedup by '%s': a probe compares values, '%s' is %s",
                           p->name, p->name, schema_kind_name(p->type.kind));
            else if (!how)
                diag_error(c->d, pr->locs[k], "dedup by '%s': map '%s' does not assign it, so "
                           "there is no value to probe by", p->name, m->name);
            else if (how->kind == AI_GENERATED) {
                diag_error(c->d, pr->locs[k], "dedup by '%s': map '%s' lets the server generate "
                           "it, so there is no value to probe by", p->name, m->name);
                diag_note(c->d, how->loc, "declared generated here");
            }
        }
    }
}

/* The first ref in an expression, or NULL. */
static const ast_expr *first_ref(const ast_expr *e)
{
    if (!e)
        return NULL;
    if (e->kind == AE_REF)
        return e;
    const ast_expr *r = first_ref(e->a);
    if (!r)
        r = first_ref(e->b);
    if (!r)
        r = first_ref(e->c);
    for (size_t i = 0; !r && i < e->args.n; i++)
        r = first_ref(e->kind == AE_MATCH ? ((const ast_case *)e->args.items[i])->value
                                          : (const ast_expr *)e->args.items[i]);
    return r;
}

/* A map written into an F&O set must not use ref: the engine resolves refs for writes into
 * Clarity only. */
static void no_ref_into_odata(checker *c, const ast_decl *m, const ast_qname *set)
{
    for (size_t i = 0; m && i < m->items.n; i++) {
        const ast_expr *r = first_ref(((const ast_item *)m->items.items[i])->value);
        if (r) {
            diag_error(c->d, r->loc, "map '%s' is written into %s.%s, an OData set; the engine "
                       "resolves refs only in records written into Clarity", m->name,
                       set->schema, set->name);
            return;
        }
    }
}

/* write OPERATION as bulk MEMBER by MAP: an OpenAPI operation whose request body's MEMBER is a
 * list of the map's target type. */
static void check_bulk_write(checker *c, const ast_decl *f, ast_fitem *fi)
{
    char sugg[200], buf[300];
    const ast_decl *sd = resolve_schema_name(c, f->file_id, fi->set, true);
    const ast_decl *m = resolve_map_ref(c, fi->name, fi->name_loc);
    fi->map_decl = m;
    if (!sd)
        return;
    if (sd->format != SCHEMA_OPENAPI) {
        diag_error(c->d, fi->set->loc, "'as bulk' writes through an OpenAPI operation; %s is an "
                   "OData schema", fi->set->schema);
        return;
    }
    mapc_schema_slot *slot = schema_slot_of(sd);
    if (!slot || !slot->s)
        return;
    int rc = find_operation(slot->path, fi, sugg, sizeof sugg);
    if (rc > 1) {
        diag_error(c->d, fi->set->name_loc, "operation name '%s' is ambiguous in schema %s: %d "
                   "paths end with it (%s%s); a bulk write names a path by its unique last "
                   "segment", fi->set->name, fi->set->schema, rc, sugg, rc > 2 ? ", ..." : "");
        return;
    }
    if (rc <= 0) {
        if (rc < 0)
            diag_error(c->d, fi->set->name_loc, "cannot read the operations of schema %s",
                       fi->set->schema);
        else if (sugg[0])
            diag_error(c->d, fi->set->name_loc, "unknown operation '%s' in schema %s (a path "
                       "taking a JSON body); did you mean '%s'?", fi->set->name, fi->set->schema,
                       sugg);
        else
            diag_error(c->d, fi->set->name_loc, "unknown operation '%s' in schema %s (a path "
                       "taking a JSON body)", fi->set->name, fi->set->schema);
        return;
    }
    const schema_type *rt = schema_find_type(slot->s, fi->bulk_request);
    if (!rt) {
        diag_error(c->d, fi->set->name_loc, "operation '%s' takes %s, which %s does not define",
                   fi->set->name, fi->bulk_request, fi->set->schema);
        return;
    }
    const schema_prop *mp = find_prop(rt, fi->member);
    if (!mp) {
        unknown_field(c, fi->member_loc, rt, fi->member, fi->set->schema);
        return;
    }
    const schema_typeref *el = mp->type.kind == SK_ARRAY ? mp->type.elem : NULL;
    if (!el || el->kind != SK_OBJECT || !el->object) {
        diag_error(c->d, fi->member_loc, "'as bulk' needs a list of records; %s.%s is %s",
                   rt->name, mp->name, mapc_type_str(mapc_type_of_ref(&mp->type, false), buf,
                                                     sizeof buf));
        return;
    }
    fi->bulk_elem = el->object;
    if (m && m->dst_type && !same_type(m->dst_type, el->object))
        diag_error(c->d, fi->name_loc, "map '%s' writes %s.%s, but %s of %s.%s is a list of %s",
                   m->name, m->dst->schema, m->dst_type->name, mp->name, fi->set->schema,
                   fi->set->name, el->object->name);
    if (m && m->mode != MODE_CREATE)
        diag_error(c->d, fi->name_loc, "map '%s' is an %s map; the records of a bulk write are "
                   "elements of one request body: drop '%s'", m->name, ast_mode_name(m->mode),
                   ast_mode_name(m->mode));
}

static void check_flow(checker *c, ast_decl *f)
{
    const ast_fitem *group_poll = NULL;
    const ast_fitem *first_retry = NULL, *first_idem = NULL;
    const ast_fitem *first_dedup = NULL;
    const ast_fitem *first_write = NULL;
    const schema_type *trigger_type = NULL;
    const ast_fitem *trigger_item = NULL;
    int ntriggers = 0, nwrites = 0;
    char buf[300];

    for (size_t i = 0; i < f->fitems.n; i++) {
        ast_fitem *fi = f->fitems.items[i];
        switch (fi->kind) {
        case FI_WEBHOOK: {
            ntriggers++;
            const char *dot = strchr(fi->text, '.');
            if (!dot || dot == fi->text || !dot[1] || strchr(dot + 1, '.'))
                diag_error(c->d, fi->text_loc, "webhook events are named Entity.Event, e.g. "
                           "\"SalesOrder.Created\"");
            break;
        }
        case FI_POLL: {
            ntriggers++;
            const ast_decl *sd = NULL;
            const schema_type *t = resolve_qname(c, f->file_id, fi->set, true, &sd);
            fi->every_ms = check_duration(c, fi->every, fi->every_loc, "the poll interval");
            if (t && !trigger_type) {
                trigger_type = t;
                trigger_item = fi;
            }
            if (t && fi->name && sd && sd->format == SCHEMA_ODATA) {
                const schema_prop *p = find_prop(t, fi->name);
                if (!p)
                    unknown_field(c, fi->name_loc, t, fi->name, fi->set->schema);
                else if (p->type.kind != SK_DATETIME && p->type.kind != SK_DATE)
                    diag_error(c->d, fi->name_loc, "'since' needs a date or datetime field; "
                               "'%s' is %s", p->name, schema_kind_name(p->type.kind));
            }
            if (fi->group_by)
                check_group_by(c, fi, t, sd);
            if (fi->group_by && !group_poll)
                group_poll = fi;
            break;
        }
        case FI_SCHEDULE:
            ntriggers++;
            if (fi->every)
                fi->every_ms = check_duration(c, fi->every, fi->every_loc, "the schedule interval");
            else if (!cron_ok(fi->text))
                diag_error(c->d, fi->text_loc, "a schedule is 'every DURATION' or a five-field "
                           "cron expression (minute hour day month weekday)");
            break;
        case FI_WRITE: {
            nwrites++;
            if (!first_write)
                first_write = fi;
            if (fi->bulk) {
                check_bulk_write(c, f, fi);
                break;
            }
            const ast_decl *sd = NULL;
            const schema_type *st = resolve_qname(c, f->file_id, fi->set, true, &sd);
            const ast_decl *m = resolve_map_ref(c, fi->name, fi->name_loc);
            fi->map_decl = m;
            if (m && st && m->dst_type && !same_type(m->dst_type, st))
                diag_error(c->d, fi->name_loc, "map '%s' writes %s.%s, but %s.%s holds %s",
                           m->name, m->dst->schema, m->dst_type->name, fi->set->schema,
                           fi->set->name, st->name);
            if (sd && sd->format == SCHEMA_ODATA)
                no_ref_into_odata(c, m, fi->set);
            if (fi->changeset && sd && sd->format != SCHEMA_ODATA)
                diag_error(c->d, fi->loc, "'as one changeset' needs an OData $batch target; "
                           "%s is an OpenAPI schema", fi->set->schema);
            if (fi->changeset && fi->children.n == 0)
                diag_error(c->d, fi->loc, "'as one changeset' groups a record with its child "
                           "rows: add 'with SET from LIST by MAP'");
            for (size_t k = 0; k < fi->children.n; k++) {
                ast_child *ch = fi->children.items[k];
                const schema_type *ct = resolve_qname(c, f->file_id, ch->set, true, NULL);
                const ast_decl *cm = resolve_map_ref(c, ch->map, ch->map_loc);
                ch->map_decl = cm;
                if (sd && sd->format == SCHEMA_ODATA)
                    no_ref_into_odata(c, cm, ch->set);
                scope sc = {f->file_id, m ? m->var : NULL, map_var_type(m)};
                if (cm && cm->group)
                    diag_error(c->d, ch->map_loc, "map '%s' reads groups of rows ('from group "
                               "of'); a child map reads one element of the list", cm->name);
                mapc_type lt = check_expr(c, &sc, ch->from);
                if (cm && ct && cm->dst_type && !same_type(cm->dst_type, ct))
                    diag_error(c->d, ch->map_loc, "map '%s' writes %s.%s, but %s.%s holds %s",
                               cm->name, cm->dst->schema, cm->dst_type->name, ch->set->schema,
                               ch->set->name, ct->name);
                if (lt.kind != MT_ERROR && lt.kind != MT_ANY) {
                    if (lt.kind != MT_LIST)
                        diag_error(c->d, ch->from->loc, "'from' needs a list of child records, "
                                   "this is %s", mapc_type_str(lt, buf, sizeof buf));
                    else if (cm && cm->src_type && lt.elem &&
                             !(lt.elem->kind == SK_OBJECT && lt.elem->object &&
                               same_type(lt.elem->object, cm->src_type)))
                        diag_error(c->d, ch->from->loc, "map '%s' reads %s.%s, but this list "
                                   "holds %s", cm->name, cm->src->schema, cm->src_type->name,
                                   ref_name(lt.elem));
                }
            }
            break;
        }
        case FI_IDEMPOTENT:
            if (first_idem) {
                diag_error(c->d, fi->loc, "flow '%s' has two 'idempotent by' clauses", f->name);
                diag_note(c->d, first_idem->loc, "first here");
            } else {
                first_idem = fi;
            }
            break;
        case FI_DEDUP:
            if (first_dedup) {
                diag_error(c->d, fi->loc, "flow '%s' has two 'dedup by' clauses", f->name);
                diag_note(c->d, first_dedup->loc, "first here");
            } else {
                first_dedup = fi;
            }
            break;
        case FI_RETRY:
            if (first_retry) {
                diag_error(c->d, fi->loc, "flow '%s' has two 'retry' clauses", f->name);
                diag_note(c->d, first_retry->loc, "first here");
                break;
            }
            first_retry = fi;
            fi->retries = (int)strtol(fi->count, NULL, 10);
            if (strlen(fi->count) > 4 || fi->retries > 1000)
                diag_error(c->d, fi->count_loc, "at most 1000 retries");
            if (fi->backoff_min) {
                fi->backoff_min_ms = check_duration(c, fi->backoff_min, fi->backoff_loc, "backoff");
                fi->backoff_max_ms = check_duration(c, fi->backoff_max, fi->backoff_loc, "backoff");
                if (fi->backoff_min_ms > 0 && fi->backoff_max_ms > 0 &&
                    fi->backoff_min_ms > fi->backoff_max_ms)
                    diag_error(c->d, fi->backoff_loc, "backoff %s..%s: the first delay is longer "
                               "than the cap", fi->backoff_min, fi->backoff_max);
            }
            break;
        }
    }
    if (ntriggers == 0)
        diag_error(c->d, f->name_loc, "flow '%s' has no trigger (webhook, poll or schedule)",
                   f->name);
    if (nwrites == 0)
        diag_error(c->d, f->name_loc, "flow '%s' writes nothing: add 'write SET by MAP'", f->name);

    /* every write reads what the triggers deliver */
    for (size_t i = 0; i < f->fitems.n; i++) {
        ast_fitem *fi = f->fitems.items[i];
        if (fi->kind == FI_WEBHOOK && first_write && first_write->map_decl &&
            first_write->map_decl->src_type) {
            const char *dot = strchr(fi->text, '.');
            const char *want = first_write->map_decl->src_type->name;
            if (dot && (strlen(want) != (size_t)(dot - fi->text) ||
                        strncmp(want, fi->text, (size_t)(dot - fi->text))))
                diag_error(c->d, fi->text_loc, "webhook \"%s\" carries %.*s records, but map '%s' "
                           "reads %s", fi->text, (int)(dot - fi->text), fi->text,
                           first_write->map_decl->name, want);
        }
        if (fi->kind == FI_WRITE && fi->map_decl && fi->map_decl->src_type && trigger_type &&
            !same_type(fi->map_decl->src_type, trigger_type))
            diag_error(c->d, fi->name_loc, "map '%s' reads %s%s, but the flow polls %s.%s (%s)",
                       fi->map_decl->name, fi->map_decl->group ? "groups of " : "",
                       fi->map_decl->src_type->name,
                       trigger_item->set->schema, trigger_item->set->name, trigger_type->name);
    }
    /* group by <-> from group of: a grouped poll delivers {"value":[rows]}, nothing else does */
    for (size_t i = 0; i < f->fitems.n; i++) {
        const ast_fitem *fi = f->fitems.items[i];
        const ast_decl *m = fi->kind == FI_WRITE ? fi->map_decl : NULL;
        if (!m || !m->src_type)
            continue;
        if (group_poll && !m->group)
            diag_error(c->d, fi->name_loc, "flow '%s' polls %s.%s with 'group by', so each "
                       "record is a group of rows: map '%s' must read them, 'map %s from group "
                       "of %s.%s as ...'", f->name, group_poll->set->schema, group_poll->set->name,
                       m->name, m->name, m->src->schema, m->src->name);
        else if (!group_poll && m->group)
            diag_error(c->d, fi->name_loc, "map '%s' reads groups of rows ('from group of'), "
                       "but flow '%s' delivers single records: add 'group by FIELD' to its "
                       "F&O poll", m->name, f->name);
        if (m->group && group_poll)
            for (size_t k = 0; k < f->fitems.n; k++) {
                const ast_fitem *h = f->fitems.items[k];
                if (h->kind == FI_WEBHOOK)
                    diag_error(c->d, h->loc, "a webhook delivers single records; map '%s' "
                               "reads groups of rows ('from group of')", m->name);
            }
    }
    if (first_dedup)
        check_dedup(c, first_dedup, first_write);
    /* idempotent by: a field the first write's map assigns (a deterministic key) */
    if (first_idem && first_write && first_write->map_decl && first_write->map_decl->dst_type) {
        const ast_decl *m = first_write->map_decl;
        const schema_prop *p = find_prop(m->dst_type, first_idem->name);
        if (!p) {
            unknown_field(c, first_idem->name_loc, m->dst_type, first_idem->name, m->dst->schema);
        } else {
            const ast_item *how = NULL;
            for (size_t i = 0; i < m->items.n && !how; i++) {
                const ast_item *it = m->items.items[i];
                if (it->kind != AI_CHECK && it->path->n == 1 && !strcmp(it->path->names[0], p->name))
                    how = it;
            }
            if (!how)
                diag_error(c->d, first_idem->name_loc, "idempotent by '%s': map '%s' does not "
                           "assign it, so the key is not known before the write", p->name, m->name);
            else if (how->kind == AI_GENERATED) {
                diag_error(c->d, first_idem->name_loc, "idempotent by '%s': map '%s' lets the "
                           "server generate it, so the key is not known before the write",
                           p->name, m->name);
                diag_note(c->d, how->loc, "declared generated here");
            }
        }
    }
}

/* ------------------------------------------------------------------ driver */

int mapc_program_check(mapc_program *p)
{
    checker c = {p, p->diag, NULL, false};
    int before = p->diag->nerrors;
    p->checked = true;
    check_duplicates(&c);
    load_schemas(&c);
    for (size_t i = 0; i < p->files.n && !diag_stopped(c.d); i++) {
        ast_file *f = p->files.items[i];
        for (size_t k = 0; k < f->decls.n; k++) {
            ast_decl *d = f->decls.items[k];
            if (d->kind == AD_TABLE) {
                if (d->csv)
                    check_csv_table(&c, d);
                else
                    check_inline_table(&c, d);
            }
        }
    }
    for (size_t i = 0; i < p->files.n && !diag_stopped(c.d); i++) {
        ast_file *f = p->files.items[i];
        for (size_t k = 0; k < f->decls.n && !diag_stopped(c.d); k++) {
            ast_decl *d = f->decls.items[k];
            if (d->kind == AD_MAP)
                check_map(&c, d);
        }
    }
    for (size_t i = 0; i < p->files.n && !diag_stopped(c.d); i++) {
        ast_file *f = p->files.items[i];
        for (size_t k = 0; k < f->decls.n && !diag_stopped(c.d); k++) {
            ast_decl *d = f->decls.items[k];
            if (d->kind == AD_FLOW)
                check_flow(&c, d);
        }
    }
    return p->diag->nerrors > before || diag_stopped(c.d) ? -1 : 0;
}
