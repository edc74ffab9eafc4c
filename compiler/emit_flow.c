/* emit_flow.c - the flow descriptors of mapc's C emitter (emit.h): per runnable flow a
 * `const syncrt_flow_desc <Flow>_flow` (runtime/include/syncrt/flow.h) in the flow's .c with
 * its extern declaration in the .h, and the registry mapc_flows.h / mapc_flows.c listing every
 * flow (mapc_flows[], mapc_nflows) and every map (mapc_maps[], mapc_nmaps, for `sync preview`).
 *
 * Every field comes from the checked `flow` block and the schemas it names:
 *   - source / target system: the format of the schema the poll set (else the first write's
 *     map source) and the first write's set belong to (OData: F&O, OpenAPI: Clarity);
 *   - routes: an F&O set is its own route; a Clarity set's route is the OpenAPI document's
 *     parameterless GET path whose last segment is the set ("/Ordering/SalesOrders" ->
 *     "Ordering/SalesOrders"), and the entity route of a Clarity write is that path's module
 *     and the set's type ("Products/Product"), checked against the document's
 *     "/Products/Product/<Action>" path.  A set without such a path keeps its name as route;
 *   - key fields: F&O targets the entity key of the target type; Clarity targets the map's
 *     `upsert by FIELD`, else the `idempotent by` field, else "ID";
 *   - write kind: the first write's map mode;
 *   - retry: `retry N backoff A..B` gives N attempts, A first ceiling, B cap (backoff omitted:
 *     1s..5m); no `retry`: one attempt;
 *   - map version: the .map base name, FNV-1a 64 of its bytes and the mapc version.
 * Errors: -1 with the message in err (out of memory only; a missing schema just leaves the
 * fields it would give NULL). */
#include "emit.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "syncrt/flow.h"
#include "syncrt/syncrt.h"

#define EF_MAX_DOCS 8

/* OpenAPI documents parsed for their paths, once per file per run. */
typedef struct ef_docs {
    const char *path[EF_MAX_DOCS];
    json_t *paths[EF_MAX_DOCS];
    size_t n;
} ef_docs;

static const char *ef_base(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* s escaped for a C string literal, without the quotes */
static void ef_chars(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(o, "\\%c", *s);
        else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            fprintf(o, "\\%03o", (unsigned char)*s);
        else
            fputc(*s, o);
    }
}

static void ef_str(FILE *o, const char *s)
{
    if (!s) {
        fputs("NULL", o);
        return;
    }
    fputc('"', o);
    ef_chars(o, s);
    fputc('"', o);
}

bool emit_flow_runnable(const ast_decl *fl)
{
    for (size_t i = 0; i < fl->fitems.n; i++) {
        const ast_fitem *w = fl->fitems.items[i];
        if (w->kind == FI_WRITE && w->map_decl && w->map_decl->src_type)
            return true;
    }
    return false;
}

static const ast_fitem *ef_item(const ast_decl *fl, ast_fitem_kind k)
{
    for (size_t i = 0; i < fl->fitems.n; i++) {
        const ast_fitem *it = fl->fitems.items[i];
        if (it->kind == k && (k != FI_WRITE || it->map_decl))
            return it;
    }
    return NULL;
}

static const schema *ef_schema(const mapc_program *p, int file_id, const char *alias)
{
    const ast_decl *d = alias ? mapc_program_find_decl(p, file_id, AD_SCHEMA, alias) : NULL;
    return d && d->schema_slot ? d->schema_slot->s : NULL;
}

static const char *ef_system(const schema *s)
{
    if (!s)
        return "SYNCRT_SYS_NONE";
    return schema_get_format(s) == SCHEMA_OPENAPI ? "SYNCRT_SYS_CLARITY" : "SYNCRT_SYS_D365";
}

/* The "paths" object of an OpenAPI schema (NULL when unreadable). */
static json_t *ef_paths(ef_docs *D, const schema *s)
{
    const char *path = schema_get_path(s);
    if (!path)
        return NULL;
    for (size_t i = 0; i < D->n; i++)
        if (!strcmp(D->path[i], path))
            return D->paths[i];
    json_t *root = json_load_file(path, 0, NULL);
    json_t *paths = root ? json_incref(json_object_get(root, "paths")) : NULL;
    json_decref(root);
    if (D->n < EF_MAX_DOCS) {
        D->path[D->n] = path;
        D->paths[D->n++] = paths;
    }
    return paths;
}

/* Clarity route of a set ("Ordering/SalesOrders") into buf; false when no path serves it. */
static bool ef_list_route(json_t *paths, const char *set, char *buf, size_t size)
{
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) {
        if (strchr(path, '{') || !json_is_object(json_object_get(item, "get")))
            continue;
        const char *last = strrchr(path, '/');
        if (last && !strcmp(last + 1, set)) {
            snprintf(buf, size, "%s", path[0] == '/' ? path + 1 : path);
            return true;
        }
    }
    return false;
}

const char *emit_list_route(const schema *s, const char *set, char *buf, size_t size)
{
    snprintf(buf, size, "%s", set);
    if (!s || schema_get_format(s) != SCHEMA_OPENAPI || !schema_get_path(s))
        return buf;
    json_t *root = json_load_file(schema_get_path(s), 0, NULL);
    char list[256];
    if (root && ef_list_route(json_object_get(root, "paths"), set, list, sizeof list))
        snprintf(buf, size, "%s", list);
    json_decref(root);
    return buf;
}

/* The route a flow polls or writes: an F&O set is its own route; a Clarity set's list path
 * (poll) or entity route "Module/Type" (write).  NULL when s is NULL. */
static const char *ef_route(ef_docs *D, const schema *s, const char *set, bool entity,
                            const char *action, char *buf, size_t size)
{
    if (!s)
        return NULL;
    snprintf(buf, size, "%s", set);
    if (schema_get_format(s) != SCHEMA_OPENAPI)
        return buf;
    json_t *paths = ef_paths(D, s);
    char list[256];
    if (!paths || !ef_list_route(paths, set, list, sizeof list))
        return buf;
    if (!entity) {
        snprintf(buf, size, "%s", list);
        return buf;
    }
    const char *type = schema_type_for_set(s, set);
    char *slash = strchr(list, '/');
    if (!type || !slash)
        return buf;
    *slash = 0;
    char want[600];
    snprintf(want, sizeof want, "/%s/%s/%s", list, type, action);
    if (json_object_get(paths, want) && snprintf(buf, size, "%s/%s", list, type) >= (int)size)
        snprintf(buf, size, "%s", set);   /* too long for a route: keep the set name */
    return buf;
}

static uint64_t ef_fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void ef_keys(FILE *o, const char *member, const char *const *keys, size_t n)
{
    fprintf(o, "    .%s = { ", member);
    for (size_t i = 0; i < n && i < 3; i++) {
        ef_str(o, keys[i]);
        fputs(", ", o);
    }
    fputs("NULL },\n", o);
}

/* `dedup by P, A + B`: .dedup_fields = { "P", "A+B", NULL } (source order, at most
 * SYNCRT_FLOW_MAX_KEYS - 1 probes: the checker enforces it). */
static void ef_probes(FILE *o, const ast_fitem *dd)
{
    fputs("    .dedup_fields = { ", o);
    for (size_t i = 0; i < dd->probes.n && i < SYNCRT_FLOW_MAX_KEYS - 1; i++) {
        const ast_path *pr = dd->probes.items[i];
        fputc('"', o);
        for (size_t k = 0; k < pr->n; k++) {
            if (k)
                fputc('+', o);
            ef_chars(o, pr->names[k]);
        }
        fputs("\", ", o);
    }
    fputs("NULL },\n", o);
}

/* What an update of an existing target record may send (flow.h update_fields), for a flow
 * whose first write is an update or upsert: the top-level fields the map assigns, in source
 * order (a nested path by its first name, once), minus its `on create` items, minus the
 * target key (F&O: the entity key; Clarity: the key_fields entry and ID) and, for F&O, minus
 * the fields whose metadata says AllowEdit=false. */
static void ef_update_fields(FILE *o, const ast_decl *fl, const ast_decl *m, const schema *ts,
                             const char *set, const ast_fitem *idem)
{
    bool clarity = ts && schema_get_format(ts) == SCHEMA_OPENAPI;
    const schema_type *tt = ts && !clarity ? schema_find_type(ts, set) : NULL;
    const char *ckey = m->mode_key ? m->mode_key : idem ? idem->name : "ID";
    fprintf(o, "/* flow %s: the fields an update of an existing record sends: the map's\n"
               "   fields minus its `on create` items, the key%s */\n",
            fl->name, clarity ? "" : " and the AllowEdit=false fields");
    fprintf(o, "static const char *const %s_update_fields[] = {\n", fl->name);
    for (size_t i = 0; i < m->items.n; i++) {
        const ast_item *it = m->items.items[i];
        if (it->kind != AI_ASSIGN || it->on_create || !it->props || !it->props[0])
            continue;
        const char *name = it->path->names[0];
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            const ast_item *e = m->items.items[k];
            seen = e->kind == AI_ASSIGN && !e->on_create && !strcmp(e->path->names[0], name);
        }
        const schema_prop *p = it->props[0];
        bool key = clarity ? !strcmp(name, ckey) || !strcmp(name, "ID") : p->key;
        for (size_t k = 0; tt && k < tt->nkeys && !key; k++)
            key = !strcmp(tt->keys[k], name);
        if (seen || key || (!clarity && !p->allow_edit))
            continue;
        fputs("    ", o);
        ef_str(o, name);
        fputs(",\n", o);
    }
    fputs("    NULL\n};\n\n", o);
}

static void ef_desc(const mapc_program *p, ef_docs *D, FILE *o, const ast_decl *fl)
{
    const ast_fitem *hook = ef_item(fl, FI_WEBHOOK), *poll = ef_item(fl, FI_POLL);
    const ast_fitem *w = ef_item(fl, FI_WRITE), *idem = ef_item(fl, FI_IDEMPOTENT);
    const ast_fitem *retry = ef_item(fl, FI_RETRY);
    const ast_fitem *cron = NULL, *every = NULL;
    for (size_t i = 0; i < fl->fitems.n; i++) {
        const ast_fitem *it = fl->fitems.items[i];
        if (it->kind == FI_SCHEDULE && it->text && !cron)
            cron = it;
        else if (it->kind == FI_SCHEDULE && !it->text && !every)
            every = it;
    }
    const ast_decl *m = w->map_decl;
    const schema *ss = poll ? ef_schema(p, fl->file_id, poll->set->schema)
                            : m->src_schema && m->src_schema->schema_slot ? m->src_schema->schema_slot->s : NULL;
    const schema *ts = ef_schema(p, fl->file_id, w->set->schema);
    char buf[256];

    const diag_source *src = diag_get_source(p->diag, fl->file_id);
    const char *file = src ? ef_base(src->path) : "";
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx",
             (unsigned long long)(src ? ef_fnv1a(src->text, src->len) : 0));

    if (m->mode != MODE_CREATE)
        ef_update_fields(o, fl, m, ts, w->set->name, idem);
    fprintf(o, "/* flow %s: the facts the engine runs it by (syncrt/flow.h) */\n", fl->name);
    fprintf(o, "const syncrt_flow_desc %s_flow = {\n    .name = ", fl->name);
    ef_str(o, fl->name);
    snprintf(buf, sizeof buf, "%s@%s (mapc %s)", file, hash, MAPC_VERSION);
    fputs(",\n    .map_version = ", o);
    ef_str(o, buf);
    fputs(",\n    .map_file = ", o);
    ef_str(o, file);
    fputs(",\n    .map_hash = ", o);
    ef_str(o, hash);
    fprintf(o, ",\n    .source = %s,\n    .webhook_event = ", ef_system(ss));
    ef_str(o, hook ? hook->text : NULL);
    fputs(",\n    .poll_route = ", o);
    ef_str(o, poll ? ef_route(D, ss, poll->set->name, false, NULL, buf, sizeof buf) : NULL);
    fputs(",\n    .poll_since = ", o);
    ef_str(o, poll ? poll->name : NULL);
    fprintf(o, ",\n    .poll_every_ms = %lld,\n    .schedule = ", poll ? poll->every_ms : 0LL);
    ef_str(o, cron ? cron->text : NULL);
    fprintf(o, ",\n    .schedule_every_ms = %lld,\n    .source_id_field = ", every ? every->every_ms : 0LL);
    bool clarity_src = ss && schema_get_format(ss) == SCHEMA_OPENAPI;
    ef_str(o, clarity_src && m->src_type && schema_type_find_prop(m->src_type, "ID") ? "ID" : NULL);
    fputs(",\n", o);
    const schema_type *pt = poll && ss && !clarity_src ? schema_find_type(ss, poll->set->name) : NULL;
    ef_keys(o, "source_key_fields", pt ? pt->keys : NULL, pt ? pt->nkeys : 0);
    fprintf(o, "    .run = %s_run,\n", fl->name);
    bool clarity_dst = ts && schema_get_format(ts) == SCHEMA_OPENAPI;
    const char *kind = m->mode == MODE_UPSERT ? "UPSERT" : m->mode == MODE_UPDATE ? "UPDATE" : "CREATE";
    const char *action = m->mode == MODE_UPSERT ? "Upsert" : m->mode == MODE_UPDATE ? "Update" : "Create";
    fprintf(o, "    .target = %s,\n    .write = SYNCRT_WRITE_%s,\n    .target_set = ", ef_system(ts), kind);
    ef_str(o, w->set->name);
    fputs(",\n    .target_route = ", o);
    ef_str(o, w->bulk ? w->bulk_route
                      : ef_route(D, ts, w->set->name, true, action, buf, sizeof buf));
    fputs(",\n    .child_set = ", o);
    const ast_child *ch = w->children.n ? w->children.items[0] : NULL;
    ef_str(o, ch ? ch->set->name : NULL);
    fprintf(o, ",\n    .one_changeset = %d,\n", w->changeset ? 1 : 0);
    if (clarity_dst) {
        const char *k = m->mode_key ? m->mode_key : idem ? idem->name : "ID";
        ef_keys(o, "key_fields", &k, 1);
    } else {
        const schema_type *tt = ts ? schema_find_type(ts, w->set->name) : NULL;
        ef_keys(o, "key_fields", tt ? tt->keys : NULL, tt ? tt->nkeys : 0);
    }
    fputs("    .idempotency_field = ", o);
    ef_str(o, idem ? idem->name : NULL);
    if (retry)
        fprintf(o, ",\n    .retry = { %d, %lld, %lld },\n", retry->retries > 0 ? retry->retries : 1,
                retry->backoff_max ? retry->backoff_min_ms : 1000LL,
                retry->backoff_max ? retry->backoff_max_ms : 300000LL);
    else
        fputs(",\n    .retry = { 1, 1000, 300000 },\n", o);
    /* `dedup by`, and what an update may send (flow.h ABI 3) */
    const ast_fitem *dd = ef_item(fl, FI_DEDUP);
    if (dd)
        ef_probes(o, dd);
    if (m->mode != MODE_CREATE)
        fprintf(o, "    .update_fields = %s_update_fields,\n", fl->name);
    /* `group by F, ...` on the poll: the engine joins rows equal on them ({"value":[...]}) */
    if (poll && poll->group_by)
        ef_keys(o, "group_by", (const char *const *)poll->group_by->names, poll->group_by->n);
    /* `write OP as bulk MEMBER by MAP`: many records in one request */
    if (w->bulk) {
        fputs("    .bulk_member = ", o);
        ef_str(o, w->member);
        fputs(",\n    .bulk_method = ", o);
        ef_str(o, w->bulk_method);
        fputs(",\n", o);
    }
    fputs("};\n\n", o);
}

void emit_flow_decls(FILE *h, const ast_file *f)
{
    bool any = false;
    for (size_t d = 0; d < f->decls.n; d++) {
        const ast_decl *fl = f->decls.items[d];
        if (fl->kind != AD_FLOW || !emit_flow_runnable(fl))
            continue;
        if (!any)
            fputs("#include \"syncrt/flow.h\"\n\n", h);
        any = true;
        fprintf(h, "/* flow %s: triggers, target, keys, retry (syncrt/flow.h) */\n"
                   "extern const syncrt_flow_desc %s_flow;\n\n", fl->name, fl->name);
    }
}

void emit_flow_descs(const mapc_program *p, FILE *c, const ast_file *f)
{
    ef_docs D;
    memset(&D, 0, sizeof D);
    for (size_t d = 0; d < f->decls.n; d++) {
        const ast_decl *fl = f->decls.items[d];
        if (fl->kind == AD_FLOW && emit_flow_runnable(fl))
            ef_desc(p, &D, c, fl);
    }
    for (size_t i = 0; i < D.n; i++)
        json_decref(D.paths[i]);
}

void emit_flow_registry(const mapc_program *p, char *const *bases, FILE *h, FILE *c)
{
    fprintf(h, "/* %s.h - every flow and map of this mapc gen run, for the sync binary.\n"
               " *   generated by mapc %s; DO NOT EDIT (regenerate with mapc gen).\n */\n"
               "#ifndef MAPC_GEN_MAPC_FLOWS_H\n#define MAPC_GEN_MAPC_FLOWS_H\n\n"
               "#include <stddef.h>\n\n#include \"syncrt/flow.h\"\n\n"
               "#if SYNCRT_ABI != %d\n#error \"generated for libsyncrt ABI %d: regenerate with mapc gen\"\n#endif\n\n"
               "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
               "/* The flows, NULL-terminated; mapc_nflows of them. */\n"
               "extern const syncrt_flow_desc *const mapc_flows[];\n"
               "extern const size_t mapc_nflows;\n"
               "/* The maps and flows by name (for previews), {NULL} terminated; mapc_nmaps of them. */\n"
               "extern const syncrt_flow_map mapc_maps[];\n"
               "extern const size_t mapc_nmaps;\n\n"
               "#ifdef __cplusplus\n}\n#endif\n\n#endif /* MAPC_GEN_MAPC_FLOWS_H */\n",
            EMIT_FLOWS_BASE, MAPC_VERSION, SYNCRT_ABI, SYNCRT_ABI);

    fprintf(c, "/* %s.c - the registry of flows and maps.\n"
               " *   generated by mapc %s; DO NOT EDIT (regenerate with mapc gen).\n */\n"
               "#include \"%s.h\"\n\n", EMIT_FLOWS_BASE, MAPC_VERSION, EMIT_FLOWS_BASE);
    for (size_t i = 0; i < p->files.n; i++)
        fprintf(c, "#include \"%s.h\"\n", bases[i]);
    size_t nf = 0, nm = 0;
    fputs("\nconst syncrt_flow_desc *const mapc_flows[] = {\n", c);
    for (size_t i = 0; i < p->files.n; i++) {
        const ast_file *f = p->files.items[i];
        for (size_t d = 0; d < f->decls.n; d++) {
            const ast_decl *fl = f->decls.items[d];
            if (fl->kind == AD_FLOW && emit_flow_runnable(fl)) {
                fprintf(c, "    &%s_flow,\n", fl->name);
                nf++;
            }
        }
    }
    fprintf(c, "    NULL\n};\nconst size_t mapc_nflows = %zu;\n\n", nf);
    fputs("const syncrt_flow_map mapc_maps[] = {\n", c);
    for (size_t i = 0; i < p->files.n; i++) {
        const ast_file *f = p->files.items[i];
        const diag_source *src = diag_get_source(p->diag, f->file_id);
        const char *file = src ? ef_base(src->path) : "";
        for (size_t d = 0; d < f->decls.n; d++) {
            const ast_decl *x = f->decls.items[d];
            bool map = x->kind == AD_MAP && x->src_type && x->dst_type;
            if (!map && !(x->kind == AD_FLOW && emit_flow_runnable(x)))
                continue;
            fputs("    { ", c);
            ef_str(c, x->name);
            fputs(", ", c);
            ef_str(c, file);
            fprintf(c, ", %s_run },\n", x->name);
            nm++;
        }
    }
    fprintf(c, "    { NULL, NULL, NULL }\n};\nconst size_t mapc_nmaps = %zu;\n", nm);
}
