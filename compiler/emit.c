/* emit.c - mapc's C emitter (see emit.h).  Three passes over the checked AST:
 *   1. collect: which schema types the maps and flows touch, and which of their fields
 *      (source fields read, target fields written, fields named in merge()); types used by
 *      more than one .map file are "shared";
 *   2. types: per type a struct (only used fields, each with a presence byte) and a static
 *      const descriptor table (syncrt_mtype) - protobuf-c's model: the generic runtime does
 *      the work, the generated code stays proportional to what is mapped;
 *   3. code: per map a mapper function (assignments and checks as calls on syncrt_mv values,
 *      one temporary per expression node, short-circuits as if statements), the map's
 *      descriptor and thin typed wrappers; per flow a function running the whole write
 *      (header and child rows).
 * Plain fprintf templates into memory streams; deterministic output. */
#include "emit.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "check.h"
#include "cli.h"
#include "syncrt/syncrt.h"

#define SHARED_BASE "mapc_types"
#define MAX_FILES 64

typedef struct etype {
    const schema_type *st;
    int flavor;                 /* 0 odata, 1 openapi */
    char cname[200];            /* C struct name: alias_Type */
    unsigned char *used;        /* per prop */
    unsigned char *read;        /* per prop: read by a map (decoding then requires it) */
    int *index;                 /* per prop: field index in the descriptor, -1 unused */
    char **mname;               /* per prop: C member name (used ones) */
    size_t nused;
    unsigned long long files;   /* bit per file index */
    int home;                   /* file index, or -1: shared */
} etype;

typedef struct emitter {
    const mapc_program *p;
    etype **types;
    size_t ntypes, captypes;
    size_t nfiles;
    char **bases;               /* per file: C base name */
    bool oom;
    char *err;
    size_t errsize;
} emitter;

/* ------------------------------------------------------------------ helpers */

void emit_base_name(const char *path, char *buf, size_t size)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 4 && !strcmp(b + n - 4, ".map"))
        n -= 4;
    size_t o = 0;
    if (n && isdigit((unsigned char)b[0]) && o < size - 1)
        buf[o++] = 'm';
    for (size_t i = 0; i < n && o < size - 1; i++)
        buf[o++] = isalnum((unsigned char)b[i]) ? b[i] : '_';
    if (o == 0 && size > 1)
        buf[o++] = 'm';
    buf[o] = 0;
}

static const char *base_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static bool is_c_keyword(const char *s)
{
    static const char *const kw[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
        "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
        "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
        "typedef", "union", "unsigned", "void", "volatile", "while", "bool", "true", "false",
        "asm", "typeof"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (!strcmp(kw[i], s))
            return true;
    return false;
}

static void c_ident(const char *s, char *buf, size_t size)
{
    size_t o = 0;
    if (isdigit((unsigned char)s[0]) || s[0] == '_' || s[0] == 0)
        buf[o++] = 'f';
    for (; *s && o < size - 2; s++)
        buf[o++] = isalnum((unsigned char)*s) ? *s : '_';
    buf[o] = 0;
    if (is_c_keyword(buf) && o < size - 2) {
        buf[o++] = '_';
        buf[o] = 0;
    }
}

/* A C string literal: printable ASCII as is, the rest as octal escapes; '?' escaped so no
 * trigraph can form. */
static void c_string(FILE *o, const char *s, size_t n)
{
    fputc('"', o);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\' || ch == '?')
            fprintf(o, "\\%c", ch);
        else if (ch >= 32 && ch < 127)
            fputc(ch, o);
        else
            fprintf(o, "\\%03o", ch);
    }
    fputc('"', o);
}

static void c_str0(FILE *o, const char *s) { c_string(o, s, strlen(s)); }

static void fail(emitter *E, const char *fmt, ...)
{
    if (E->err && E->err[0] == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(E->err, E->errsize, fmt, ap);
        va_end(ap);
    }
    E->oom = true;
}

static const char *file_path(const emitter *E, size_t fi)
{
    const ast_file *f = E->p->files.items[fi];
    const diag_source *s = diag_get_source(E->p->diag, f->file_id);
    return s ? s->path : "input.map";
}

/* ------------------------------------------------------------------ pass 1: collect */

static etype *reach(emitter *E, const schema_type *st, int flavor, const char *alias, size_t fi)
{
    if (!st)
        return NULL;
    for (size_t i = 0; i < E->ntypes; i++)
        if (E->types[i]->st == st) {
            E->types[i]->files |= 1ull << fi;
            return E->types[i];
        }
    if (E->ntypes == E->captypes) {
        size_t cap = E->captypes ? E->captypes * 2 : 16;
        etype **nt = realloc(E->types, cap * sizeof *nt);
        if (!nt) {
            fail(E, "out of memory");
            return NULL;
        }
        E->types = nt;
        E->captypes = cap;
    }
    etype *t = calloc(1, sizeof *t);
    if (!t) {
        fail(E, "out of memory");
        return NULL;
    }
    t->st = st;
    t->flavor = flavor;
    char a[80], n[120];
    c_ident(alias ? alias : "s", a, sizeof a);
    c_ident(st->name, n, sizeof n);
    snprintf(t->cname, sizeof t->cname, "%s_%s", a, n);
    /* two types of different schemas may sanitise to one name */
    for (size_t i = 0; i < E->ntypes; i++)
        if (!strcmp(E->types[i]->cname, t->cname)) {
            size_t l = strlen(t->cname);
            snprintf(t->cname + l, sizeof t->cname - l, "_%zu", E->ntypes);
        }
    t->used = calloc(st->nprops ? st->nprops : 1, 1);
    t->read = calloc(st->nprops ? st->nprops : 1, 1);
    t->index = calloc(st->nprops ? st->nprops : 1, sizeof *t->index);
    t->mname = calloc(st->nprops ? st->nprops : 1, sizeof *t->mname);
    if (!t->used || !t->read || !t->index || !t->mname) {
        free(t->used); free(t->read); free(t->index); free(t->mname); free(t);
        fail(E, "out of memory");
        return NULL;
    }
    t->files = 1ull << fi;
    E->types[E->ntypes++] = t;
    return t;
}

static etype *find_etype(const emitter *E, const schema_type *st)
{
    for (size_t i = 0; i < E->ntypes; i++)
        if (E->types[i]->st == st)
            return E->types[i];
    return NULL;
}

static const schema_type *nested_type(const schema_prop *p)
{
    if (p->type.kind == SK_OBJECT)
        return p->type.object;
    if (p->type.kind == SK_ARRAY && p->type.elem && p->type.elem->kind == SK_OBJECT)
        return p->type.elem->object;
    return NULL;
}

static void use_prop(emitter *E, const schema_type *st, const schema_prop *p, size_t fi, bool read)
{
    etype *t = find_etype(E, st);
    if (!t || !p)
        return;
    size_t k = (size_t)(p - st->props);
    if (k >= st->nprops)
        return;
    t->used[k] = 1;
    t->read[k] |= read;
    const schema_type *n = nested_type(p);
    if (n) {
        char alias[80];
        /* keep the parent's schema prefix */
        const char *us = strchr(t->cname, '_');
        size_t l = us ? (size_t)(us - t->cname) : 0;
        snprintf(alias, sizeof alias, "%.*s", (int)l, t->cname);
        reach(E, n, t->flavor, alias, fi);
    }
}

static const schema_type *elem_object(const mapc_type *t)
{
    if (t->kind == MT_LIST && t->elem && t->elem->kind == SK_OBJECT)
        return t->elem->object;
    return NULL;
}

static void walk_expr(emitter *E, const ast_expr *e, size_t fi)
{
    if (!e)
        return;
    walk_expr(E, e->a, fi);
    walk_expr(E, e->b, fi);
    walk_expr(E, e->c, fi);
    if (e->kind == AE_MATCH) {
        for (size_t i = 0; i < e->args.n; i++) {
            const ast_case *cs = e->args.items[i];
            walk_expr(E, cs->value, fi);
        }
    } else {
        for (size_t i = 0; i < e->args.n; i++)
            walk_expr(E, e->args.items[i], fi);
    }
    if (e->kind == AE_FIELD && e->ref == REF_PROP && e->a->type.kind == MT_OBJECT)
        use_prop(E, e->a->type.object, e->prop, fi, true);
    else if (e->kind == AE_FIELD && e->ref == REF_PROJECT)
        use_prop(E, elem_object(&e->a->type), e->prop, fi, true);
    else if (e->kind == AE_CALL && e->builtin && !strcmp(e->builtin->name, "merge") && e->args.n) {
        const ast_expr *l = e->args.items[0];
        for (size_t i = 1; i < e->args.n; i++) {
            const ast_expr *a = e->args.items[i];
            if (a->prop)
                use_prop(E, elem_object(&l->type), a->prop, fi, true);
        }
    }
}

static int flavor_of(const ast_decl *schema_decl)
{
    return schema_decl && schema_decl->format == SCHEMA_OPENAPI ? 1 : 0;
}

/* What a map decodes: its source type, or for `from group of T` the synthetic
 * {"value":[T, ...]} type the checker made (ast.h). */
static const schema_type *in_type(const ast_decl *m)
{
    return m->group && m->group_type.props ? &m->group_type : m->src_type;
}

/* Reach a map's input type (and, for a group map, its rows' type with the list member). */
static void reach_input(emitter *E, const ast_decl *m, size_t fi)
{
    reach(E, m->src_type, flavor_of(m->src_schema), m->src->schema, fi);
    if (in_type(m) != m->src_type) {
        reach(E, in_type(m), flavor_of(m->src_schema), m->src->schema, fi);
        use_prop(E, in_type(m), &m->group_value, fi, true);
    }
}

static void collect(emitter *E)
{
    for (size_t fi = 0; fi < E->nfiles; fi++) {
        const ast_file *f = E->p->files.items[fi];
        for (size_t d = 0; d < f->decls.n; d++) {
            const ast_decl *m = f->decls.items[d];
            if (m->kind != AD_MAP || !m->src_type || !m->dst_type)
                continue;
            reach_input(E, m, fi);
            reach(E, m->dst_type, flavor_of(m->dst_schema), m->dst->schema, fi);
            for (size_t i = 0; i < m->wheres.n; i++)
                walk_expr(E, ((const ast_item *)m->wheres.items[i])->value, fi);
            for (size_t i = 0; i < m->items.n; i++) {
                const ast_item *it = m->items.items[i];
                walk_expr(E, it->value, fi);
                if (it->kind == AI_ASSIGN && it->props) {
                    const schema_type *st = m->dst_type;
                    for (size_t k = 0; k < it->path->n && st; k++) {
                        use_prop(E, st, it->props[k], fi, false);
                        st = it->props[k] ? it->props[k]->type.object : NULL;
                    }
                }
            }
        }
        for (size_t d = 0; d < f->decls.n; d++) {
            const ast_decl *fl = f->decls.items[d];
            if (fl->kind != AD_FLOW)
                continue;
            for (size_t i = 0; i < fl->fitems.n; i++) {
                const ast_fitem *w = fl->fitems.items[i];
                if (w->kind != FI_WRITE || !w->map_decl)
                    continue;
                const ast_decl *m = w->map_decl;
                reach_input(E, m, fi);
                reach(E, m->dst_type, flavor_of(m->dst_schema), m->dst->schema, fi);
                for (size_t k = 0; k < w->children.n; k++) {
                    const ast_child *ch = w->children.items[k];
                    walk_expr(E, ch->from, fi);
                    if (ch->map_decl) {
                        reach_input(E, ch->map_decl, fi);
                        reach(E, ch->map_decl->dst_type, flavor_of(ch->map_decl->dst_schema),
                              ch->map_decl->dst->schema, fi);
                    }
                }
            }
        }
    }
    /* field indexes and member names, homes */
    for (size_t i = 0; i < E->ntypes; i++) {
        etype *t = E->types[i];
        int n = 0;
        for (size_t k = 0; k < t->st->nprops; k++) {
            t->index[k] = -1;
            if (!t->used[k])
                continue;
            t->index[k] = n++;
            char id[220];
            c_ident(t->st->props[k].name, id + 2, 200);
            if (!strncmp(id + 2, "has_", 4) || !strcmp(id + 2, "mapc_unused_")) {
                id[0] = 'f';
                id[1] = '_';
            } else {
                memmove(id, id + 2, strlen(id + 2) + 1);
            }
            /* distinct after sanitising */
            for (size_t j = 0; j < k; j++)
                if (t->mname[j] && !strcmp(t->mname[j], id)) {
                    size_t l = strlen(id);
                    snprintf(id + l, sizeof id - l, "_%zu", k);
                    break;
                }
            t->mname[k] = strdup(id);
            if (!t->mname[k])
                fail(E, "out of memory");
        }
        t->nused = (size_t)n;
        int home = -1, count = 0;
        for (size_t fi = 0; fi < E->nfiles; fi++)
            if (t->files & (1ull << fi)) {
                home = (int)fi;
                count++;
            }
        t->home = count == 1 ? home : -1;
    }
    /* a shared type's descriptor (in mapc_types.c) names the descriptors of the object types
     * its used fields hold: those must be shared too, whoever else uses them */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < E->ntypes; i++) {
            const etype *t = E->types[i];
            if (t->home >= 0)
                continue;
            for (size_t k = 0; k < t->st->nprops; k++) {
                const schema_type *n = t->used[k] ? nested_type(&t->st->props[k]) : NULL;
                etype *nt = n ? find_etype(E, n) : NULL;
                if (nt && nt->home >= 0) {
                    nt->home = -1;
                    changed = true;
                }
            }
        }
    }
}

static int cmp_etype(const void *a, const void *b)
{
    return strcmp((*(etype *const *)a)->cname, (*(etype *const *)b)->cname);
}

/* ------------------------------------------------------------------ pass 2: types */

static int mk_of(schema_kind k)
{
    switch (k) {
    case SK_STRING: case SK_TIME: case SK_GUID: case SK_BINARY: return 0;
    case SK_INT32: case SK_INT64: return 1;
    case SK_DECIMAL: case SK_DOUBLE: return 2;
    case SK_BOOLEAN: return 3;
    case SK_DATE: return 4;
    case SK_DATETIME: return 5;
    case SK_ENUM: return 6;
    case SK_OBJECT: return 7;
    case SK_ARRAY: return 8;
    case SK_ANY: return 9;
    }
    return 9;
}

static const char *const mk_names[] = {
    "SYNCRT_MK_STRING", "SYNCRT_MK_INT", "SYNCRT_MK_DECIMAL", "SYNCRT_MK_BOOL", "SYNCRT_MK_DATE",
    "SYNCRT_MK_DATETIME", "SYNCRT_MK_ENUM", "SYNCRT_MK_OBJECT", "SYNCRT_MK_LIST", "SYNCRT_MK_ANY"};

/* An object without a materialised type is kept as raw JSON. */
static int field_kind(const schema_prop *p)
{
    int k = mk_of(p->type.kind);
    if (k == 7 && !p->type.object)
        return 9;
    if (k == 6 && !p->type.enumt)
        return 0;
    if (k == 8 && !p->type.elem)
        return 9;
    return k;
}

static int elem_kind(const schema_prop *p)
{
    if (p->type.kind != SK_ARRAY || !p->type.elem)
        return 0;
    int k = mk_of(p->type.elem->kind);
    if (k == 7 && !p->type.elem->object)
        return 9;
    if (k == 8)
        return 9;
    if (k == 6 && !p->type.elem->enumt)
        return 0;
    return k;
}

static const char *c_type_of(const emitter *E, const schema_prop *p, char *buf, size_t size)
{
    switch (field_kind(p)) {
    case 1: return "int64_t";
    case 2: return "syncrt_decimal";
    case 3: return "unsigned char";
    case 4: return "syncrt_date";
    case 5: return "syncrt_datetime";
    case 7: {
        const etype *n = find_etype(E, p->type.object);
        snprintf(buf, size, "struct %s *", n ? n->cname : "mapc_unknown");
        return buf;
    }
    case 8: return "syncrt_list";
    default: return "syncrt_str";
    }
}

static void emit_struct(const emitter *E, FILE *o, const etype *t)
{
    fprintf(o, "/* %s.%s: %zu of %zu fields */\nstruct %s {\n", t->cname, t->st->name, t->nused,
            t->st->nprops, t->cname);
    for (size_t k = 0; k < t->st->nprops; k++) {
        if (!t->used[k])
            continue;
        const schema_prop *p = &t->st->props[k];
        char buf[256];
        const char *ct = c_type_of(E, p, buf, sizeof buf);
        const etype *lt = field_kind(p) == 8 && elem_kind(p) == 7 ? find_etype(E, p->type.elem->object) : NULL;
        fprintf(o, "    %s%s%s;", ct, ct[strlen(ct) - 1] == '*' ? "" : " ", t->mname[k]);
        if (lt)
            fprintf(o, "  /* of struct %s */", lt->cname);
        fprintf(o, "\n    unsigned char has_%s;\n", t->mname[k]);
    }
    if (t->nused == 0)
        fprintf(o, "    unsigned char mapc_unused_;\n");
    fprintf(o, "};\n\n");
}

static void emit_descriptor(const emitter *E, FILE *o, const etype *t)
{
    /* enum member arrays */
    for (size_t k = 0; k < t->st->nprops; k++) {
        if (!t->used[k])
            continue;
        const schema_prop *p = &t->st->props[k];
        const schema_enum *en = p->type.kind == SK_ENUM ? p->type.enumt
                              : (p->type.kind == SK_ARRAY && p->type.elem && p->type.elem->kind == SK_ENUM) ? p->type.elem->enumt : NULL;
        if (!en || en->nmembers == 0)
            continue;
        fprintf(o, "static const char *const %s_%s_members[] = {", t->cname, t->mname[k]);
        for (size_t m = 0; m < en->nmembers; m++) {
            fprintf(o, "%s", m ? ", " : "");
            if (m % 6 == 0)
                fprintf(o, "\n    ");
            c_str0(o, en->members[m].name);
        }
        fprintf(o, "};\n");
    }
    if (t->nused) {
        fprintf(o, "static const syncrt_mfield %s_fields[] = {\n", t->cname);
        for (size_t k = 0; k < t->st->nprops; k++) {
            if (!t->used[k])
                continue;
            const schema_prop *p = &t->st->props[k];
            int fk = field_kind(p), ek = elem_kind(p);
            char flags[160] = "";
            if (!mapc_prop_optional(p) && t->read[k])
                strcat(flags, "SYNCRT_MF_REQUIRED|");
            if (p->nullable)
                strcat(flags, "SYNCRT_MF_NULLABLE|");
            if (p->is_date && t->flavor == 0)
                strcat(flags, "SYNCRT_MF_AXDATE|");
            if (p->type.kind == SK_INT32)
                strcat(flags, "SYNCRT_MF_INT32|");
            if (flags[0])
                flags[strlen(flags) - 1] = 0;
            else
                strcpy(flags, "0");
            const schema_type *nt = (fk == 7 || (fk == 8 && ek == 7)) ? nested_type(p) : NULL;
            const etype *n = nt ? find_etype(E, nt) : NULL;
            const schema_enum *en = p->type.kind == SK_ENUM ? p->type.enumt
                                  : (p->type.kind == SK_ARRAY && p->type.elem && p->type.elem->kind == SK_ENUM) ? p->type.elem->enumt : NULL;
            fprintf(o, "    {");
            c_str0(o, p->name);
            fprintf(o, ", %s, %s, %s,\n     offsetof(struct %s, %s), offsetof(struct %s, has_%s),\n     ",
                    mk_names[fk], mk_names[ek], flags, t->cname, t->mname[k], t->cname, t->mname[k]);
            if (n)
                fprintf(o, "&%s_mtype, ", n->cname);
            else
                fprintf(o, "NULL, ");
            if (en && en->nmembers) {
                c_str0(o, en->name);
                fprintf(o, ", %s_%s_members, %zu, ", t->cname, t->mname[k], en->nmembers);
            } else {
                fprintf(o, "NULL, NULL, 0, ");
            }
            fprintf(o, "%d, %d, %d},\n", p->max_length, p->precision, p->scale);
        }
        fprintf(o, "};\n");
    }
    fprintf(o, "const syncrt_mtype %s_mtype = {", t->cname);
    c_str0(o, t->st->name);
    if (t->nused)
        fprintf(o, ", sizeof(struct %s), %zu, %s_fields, %s};\n\n", t->cname, t->nused, t->cname,
                t->flavor ? "SYNCRT_MFLAVOR_OPENAPI" : "SYNCRT_MFLAVOR_ODATA");
    else
        fprintf(o, ", sizeof(struct %s), 0, NULL, %s};\n\n", t->cname,
                t->flavor ? "SYNCRT_MFLAVOR_OPENAPI" : "SYNCRT_MFLAVOR_ODATA");
}

/* ------------------------------------------------------------------ pass 3: code */

typedef struct fn {
    emitter *E;
    FILE *o;
    int tmp;
    int depth;
    const char *mapname;
    const char *field;          /* the target field being assigned, for messages */
    const ast_decl **tables;    /* referenced tables of this file */
    size_t ntables, captables;
} fn;

static void ind(fn *F)
{
    for (int i = 0; i < F->depth + 1; i++)
        fputs("    ", F->o);
}

static int newtmp(fn *F)
{
    return ++F->tmp;
}

static void note_table(fn *F, const ast_decl *t)
{
    for (size_t i = 0; i < F->ntables; i++)
        if (F->tables[i] == t)
            return;
    if (F->ntables == F->captables) {
        size_t cap = F->captables ? F->captables * 2 : 8;
        const ast_decl **nt = realloc(F->tables, cap * sizeof *nt);
        if (!nt) {
            fail(F->E, "out of memory");
            return;
        }
        F->tables = nt;
        F->captables = cap;
    }
    F->tables[F->ntables++] = t;
}

static void table_cname(const ast_decl *t, char *buf, size_t size)
{
    char id[120];
    c_ident(t->name, id, sizeof id);
    snprintf(buf, size, "table_%s", id);
}

/* "$.ShippingContact.Address.CountryCode" for a path from the record; false otherwise. */
static bool path_text(const ast_expr *e, char *buf, size_t size)
{
    if (e->kind == AE_NAME && e->ref == REF_VAR) {
        /* a group map's record is {"value":[row, ...]} and its variable the list */
        snprintf(buf, size, e->type.kind == MT_LIST ? "$.value" : "$");
        return true;
    }
    if (e->kind == AE_FIELD && (e->ref == REF_PROP || e->ref == REF_PROJECT)) {
        if (!path_text(e->a, buf, size))
            return false;
        size_t l = strlen(buf);
        snprintf(buf + l, size - l, "%s%s", e->ref == REF_PROJECT ? "[*]." : ".", e->text);
        return true;
    }
    if (e->kind == AE_INDEX && e->ref == REF_INDEX && e->b->kind == AE_INT) {
        if (!path_text(e->a, buf, size))
            return false;
        size_t l = strlen(buf);
        snprintf(buf + l, size - l, "[%s]", e->b->text);
        return true;
    }
    return false;
}

static void what_text(fn *F, const ast_expr *e, char *buf, size_t size)
{
    if (!e || !path_text(e, buf, size))
        snprintf(buf, size, "%s.%s", F->mapname, F->field ? F->field : "check");
}

static int emit_expr(fn *F, const ast_expr *e);

static int emit_literal(fn *F, const ast_expr *e)
{
    int t = newtmp(F);
    ind(F);
    fprintf(F->o, "syncrt_mv t%d = ", t);
    switch (e->kind) {
    case AE_STRING:
        fputs("syncrt_mv_str(", F->o);
        c_str0(F->o, e->text);
        fprintf(F->o, ", %zu);\n", strlen(e->text));
        break;
    case AE_INT: {
        const char *s = e->text;
        bool neg = s[0] == '-';
        if (neg && !strcmp(s + 1, "9223372036854775808"))
            fputs("syncrt_mv_int(-INT64_C(9223372036854775807) - 1);\n", F->o);
        else
            fprintf(F->o, "syncrt_mv_int(INT64_C(%s));\n", s);
        break;
    }
    case AE_DECIMAL:
        fputs("syncrt_mv_dec_text(ctx, ", F->o);
        c_str0(F->o, e->text);
        fputs(");\n", F->o);
        break;
    case AE_BOOL:
        fprintf(F->o, "syncrt_mv_bool(%d);\n", e->bval ? 1 : 0);
        break;
    case AE_DATE:
        fprintf(F->o, "%s(ctx, ", e->type.kind == MT_DATE ? "syncrt_mv_date_text" : "syncrt_mv_datetime_text");
        c_str0(F->o, e->text);
        fputs(");\n", F->o);
        break;
    default:
        fputs("syncrt_mv_null();\n", F->o);
        break;
    }
    return t;
}

static int field_index(const emitter *E, const schema_type *st, const schema_prop *p)
{
    const etype *t = st ? find_etype(E, st) : NULL;
    if (!t || !p)
        return -1;
    size_t k = (size_t)(p - st->props);
    return k < st->nprops ? t->index[k] : -1;
}

static const char *op_name(ast_op op)
{
    switch (op) {
    case OP_NEG: return "SYNCRT_OP_NEG";
    case OP_NOT: return "SYNCRT_OP_NOT";
    case OP_ADD: return "SYNCRT_OP_ADD";
    case OP_SUB: return "SYNCRT_OP_SUB";
    case OP_MUL: return "SYNCRT_OP_MUL";
    case OP_DIV: return "SYNCRT_OP_DIV";
    case OP_CONCAT: return "SYNCRT_OP_CONCAT";
    case OP_EQ: return "SYNCRT_OP_EQ";
    case OP_NE: return "SYNCRT_OP_NE";
    case OP_LT: return "SYNCRT_OP_LT";
    case OP_LE: return "SYNCRT_OP_LE";
    case OP_GT: return "SYNCRT_OP_GT";
    case OP_GE: return "SYNCRT_OP_GE";
    default: return "SYNCRT_OP_EQ";
    }
}

static const ast_decl *arg_table(fn *F, const ast_expr *a)
{
    if (a->table)
        return a->table;
    (void)F;
    return NULL;
}

static int emit_call(fn *F, const ast_expr *e)
{
    const char *name = e->builtin ? e->builtin->name : e->text;
    size_t n = e->args.n;
    const ast_expr *const *args = (const ast_expr *const *)e->args.items;
    int a[8] = {0};
    char what[300];
    /* value arguments first (field and table arguments are not values) */
    bool is_merge = !strcmp(name, "merge"), is_convert = !strcmp(name, "convert");
    bool pattern_fn = !strcmp(name, "date") || !strcmp(name, "datetime") || !strcmp(name, "format");
    bool places_fn = !strcmp(name, "round") || !strcmp(name, "trunc");
    int *va = NULL;
    if (!strcmp(name, "concat")) {
        va = calloc(n ? n : 1, sizeof *va);
        if (!va) {
            fail(F->E, "out of memory");
            return 0;
        }
        for (size_t i = 0; i < n; i++)
            va[i] = emit_expr(F, args[i]);
        int arr = newtmp(F);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d[%zu] = {", arr, n);
        for (size_t i = 0; i < n; i++)
            fprintf(F->o, "%st%d", i ? ", " : "", va[i]);
        fprintf(F->o, "};\n");
        free(va);
        int t = newtmp(F);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d = syncrt_fn_concat(ctx, %zu, t%d);\n", t, n, arr);
        return t;
    }
    for (size_t i = 0; i < n && i < 8; i++) {
        if ((is_merge && i > 0) || (is_convert && i == 3) || (pattern_fn && i == 1) ||
            (places_fn && i == 1))
            continue;
        a[i] = emit_expr(F, args[i]);
    }
    int t = newtmp(F);
    ind(F);
    fprintf(F->o, "syncrt_mv t%d = ", t);
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "trim") ||
        !strcmp(name, "text") || !strcmp(name, "iso2") || !strcmp(name, "iso3") ||
        !strcmp(name, "country") || !strcmp(name, "count") || !strcmp(name, "yesno") ||
        !strcmp(name, "any") || !strcmp(name, "all")) {
        fprintf(F->o, "syncrt_fn_%s(ctx, t%d);\n", name, a[0]);
    } else if (!strcmp(name, "substr")) {
        if (n == 3)
            fprintf(F->o, "syncrt_fn_substr(ctx, t%d, t%d, t%d);\n", a[0], a[1], a[2]);
        else
            fprintf(F->o, "syncrt_fn_substr(ctx, t%d, t%d, syncrt_mv_absent());\n", a[0], a[1]);
    } else if (!strcmp(name, "replace")) {
        fprintf(F->o, "syncrt_fn_replace(ctx, t%d, t%d, t%d);\n", a[0], a[1], a[2]);
    } else if (!strcmp(name, "join") || !strcmp(name, "region") || !strcmp(name, "postal")) {
        fprintf(F->o, "syncrt_fn_%s(ctx, t%d, t%d);\n", name, a[0], a[1]);
    } else if (!strcmp(name, "number")) {
        what_text(F, args[0], what, sizeof what);
        fprintf(F->o, "syncrt_fn_number(ctx, t%d, ", a[0]);
        c_str0(F->o, what);
        fputs(");\n", F->o);
    } else if (places_fn) {
        int places = n > 1 ? atoi(args[1]->text) : -1;
        fprintf(F->o, "syncrt_fn_round(ctx, t%d, %d, %d);\n", a[0], places, name[0] == 't');
    } else if (!strcmp(name, "date") || !strcmp(name, "datetime")) {
        what_text(F, args[0], what, sizeof what);
        fprintf(F->o, "syncrt_fn_%s(ctx, t%d, ", name, a[0]);
        if (n > 1)
            c_str0(F->o, args[1]->text);
        else
            fputs("NULL", F->o);
        fputs(", ", F->o);
        c_str0(F->o, what);
        fputs(");\n", F->o);
    } else if (!strcmp(name, "format")) {
        fprintf(F->o, "syncrt_fn_format(ctx, t%d, ", a[0]);
        c_str0(F->o, args[1]->text);
        fputs(");\n", F->o);
    } else if (!strcmp(name, "now")) {
        fputs("syncrt_fn_now(ctx);\n", F->o);
    } else if (is_convert) {
        const ast_decl *tb = arg_table(F, args[3]);
        char tn[140] = "table_missing";
        if (tb) {
            note_table(F, tb);
            table_cname(tb, tn, sizeof tn);
        } else {
            fail(F->E, "convert(): the rates table of map %s is not resolved", F->mapname);
        }
        fprintf(F->o, "syncrt_fn_convert(ctx, t%d, t%d, t%d, &%s);\n", a[0], a[1], a[2], tn);
    } else if (!strcmp(name, "sum")) {
        fprintf(F->o, "syncrt_fn_sum(ctx, t%d, %d);\n", a[0], e->type.kind == MT_DECIMAL);
    } else if (is_merge) {
        const schema_type *el = elem_object(&args[0]->type);
        int k = n > 1 ? field_index(F->E, el, args[1]->prop) : -1;
        int q = n > 2 ? field_index(F->E, el, args[2]->prop) : -1;
        int s = n > 3 ? field_index(F->E, el, args[3]->prop) : -1;
        if (k < 0 || q < 0 || (n > 3 && s < 0))
            fail(F->E, "merge(): unresolved field in map %s", F->mapname);
        if (s < 0)
            fprintf(F->o, "syncrt_fn_merge(ctx, t%d, %d, %d, (size_t)-1);\n", a[0], k, q);
        else
            fprintf(F->o, "syncrt_fn_merge(ctx, t%d, %d, %d, %d);\n", a[0], k, q, s);
    } else if (!strcmp(name, "enum")) {
        fprintf(F->o, "t%d;   /* enum(): the member is checked by the validator */\n", a[0]);
    } else if (!strcmp(name, "required")) {
        what_text(F, args[0], what, sizeof what);
        fprintf(F->o, "syncrt_fn_required(ctx, t%d, ", a[0]);
        c_str0(F->o, what);
        fputs(");\n", F->o);
    } else {
        fail(F->E, "builtin %s has no run-time implementation", name);
        fputs("syncrt_mv_absent();\n", F->o);
    }
    return t;
}

static int emit_expr(fn *F, const ast_expr *e)
{
    int t, a, b;
    switch (e->kind) {
    case AE_STRING: case AE_INT: case AE_DECIMAL: case AE_BOOL: case AE_NULL: case AE_DATE:
        return emit_literal(F, e);
    case AE_NAME:
        t = newtmp(F);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d = %s;\n", t, e->ref == REF_VAR ? "v_" : "syncrt_mv_absent()");
        return t;
    case AE_FIELD: {
        a = emit_expr(F, e->a);
        t = newtmp(F);
        int idx = -1;
        if (e->ref == REF_PROP && e->a->type.kind == MT_OBJECT)
            idx = field_index(F->E, e->a->type.object, e->prop);
        else if (e->ref == REF_PROJECT)
            idx = field_index(F->E, elem_object(&e->a->type), e->prop);
        ind(F);
        if (idx < 0)
            fprintf(F->o, "syncrt_mv t%d = syncrt_mv_absent();   /* untyped value */\n", t);
        else
            fprintf(F->o, "syncrt_mv t%d = syncrt_mv_%s(ctx, t%d, %d);   /* .%s */\n", t,
                    e->ref == REF_PROJECT ? "project" : "get", a, idx, e->text);
        return t;
    }
    case AE_INDEX:
        if (e->ref == REF_LOOKUP && e->table) {
            b = emit_expr(F, e->b);
            note_table(F, e->table);
            char tn[140];
            table_cname(e->table, tn, sizeof tn);
            t = newtmp(F);
            ind(F);
            fprintf(F->o, "syncrt_mv t%d = syncrt_mv_lookup(ctx, &%s, t%d);\n", t, tn, b);
            return t;
        }
        a = emit_expr(F, e->a);
        b = emit_expr(F, e->b);
        t = newtmp(F);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d = syncrt_mv_index(ctx, t%d, t%d);\n", t, a, b);
        return t;
    case AE_CALL:
        return emit_call(F, e);
    case AE_REF: {
        char route[300];
        a = emit_expr(F, e->a);
        emit_list_route(e->ref_schema, e->refset->name, route, sizeof route);
        t = newtmp(F);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d = syncrt_fn_ref(ctx, t%d, ", t, a);
        c_str0(F->o, route);
        fputs(", ", F->o);
        c_str0(F->o, e->by_prop ? e->by_prop->name : e->by);
        fputs(", ", F->o);
        c_str0(F->o, e->prop ? e->prop->name : e->text);
        fputs(");\n", F->o);
        return t;
    }
    case AE_UNARY:
        a = emit_expr(F, e->a);
        t = newtmp(F);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d = syncrt_mv_unop(ctx, %s, t%d);\n", t, op_name(e->op), a);
        return t;
    case AE_BINARY:
        if (e->op == OP_AND || e->op == OP_OR || e->op == OP_COALESCE) {
            t = newtmp(F);
            a = emit_expr(F, e->a);
            ind(F);
            if (e->op == OP_COALESCE) {
                fprintf(F->o, "syncrt_mv t%d = t%d;\n", t, a);
                ind(F);
                fprintf(F->o, "if (!syncrt_mv_present(t%d)) {\n", t);
            } else {
                fprintf(F->o, "syncrt_mv t%d = syncrt_mv_bool(%s);\n", t, e->op == OP_AND ? "0" : "1");
                ind(F);
                fprintf(F->o, "if (%ssyncrt_mv_true(t%d)) {\n", e->op == OP_AND ? "" : "!", a);
            }
            F->depth++;
            b = emit_expr(F, e->b);
            ind(F);
            if (e->op == OP_COALESCE)
                fprintf(F->o, "t%d = t%d;\n", t, b);
            else
                fprintf(F->o, "t%d = syncrt_mv_bool(syncrt_mv_true(t%d));\n", t, b);
            F->depth--;
            ind(F);
            fputs("}\n", F->o);
            return t;
        }
        a = emit_expr(F, e->a);
        b = emit_expr(F, e->b);
        t = newtmp(F);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d = syncrt_mv_binop(ctx, %s, t%d, t%d);\n", t, op_name(e->op), a, b);
        return t;
    case AE_IF:
        t = newtmp(F);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d;\n", t);
        a = emit_expr(F, e->a);
        ind(F);
        fprintf(F->o, "if (syncrt_mv_true(t%d)) {\n", a);
        F->depth++;
        b = emit_expr(F, e->b);
        ind(F);
        fprintf(F->o, "t%d = t%d;\n", t, b);
        F->depth--;
        ind(F);
        fputs("} else {\n", F->o);
        F->depth++;
        b = emit_expr(F, e->c);
        ind(F);
        fprintf(F->o, "t%d = t%d;\n", t, b);
        F->depth--;
        ind(F);
        fputs("}\n", F->o);
        return t;
    case AE_MATCH: {
        t = newtmp(F);
        a = emit_expr(F, e->a);
        ind(F);
        fprintf(F->o, "syncrt_mv t%d = syncrt_mv_absent();\n", t);
        size_t opened = 0;
        for (size_t i = 0; i < e->args.n; i++) {
            const ast_case *cs = e->args.items[i];
            /* labels are literals: evaluate them inside the test chain */
            int *lt = calloc(cs->labels.n ? cs->labels.n : 1, sizeof *lt);
            if (!lt) {
                fail(F->E, "out of memory");
                return t;
            }
            for (size_t k = 0; k < cs->labels.n; k++)
                lt[k] = emit_expr(F, cs->labels.items[k]);
            ind(F);
            fputs("if (", F->o);
            for (size_t k = 0; k < cs->labels.n; k++)
                fprintf(F->o, "%ssyncrt_mv_equal(t%d, t%d)", k ? " || " : "", a, lt[k]);
            if (cs->labels.n == 0)
                fputs("0", F->o);
            fputs(") {\n", F->o);
            free(lt);
            F->depth++;
            b = emit_expr(F, cs->value);
            ind(F);
            fprintf(F->o, "t%d = t%d;\n", t, b);
            F->depth--;
            ind(F);
            fputs("} else {\n", F->o);
            F->depth++;
            opened++;
        }
        if (e->c) {
            b = emit_expr(F, e->c);
            ind(F);
            fprintf(F->o, "t%d = t%d;\n", t, b);
        }
        while (opened--) {
            F->depth--;
            ind(F);
            fputs("}\n", F->o);
        }
        return t;
    }
    }
    return 0;
}

/* The record variable v_ of a mapper or flow function over src_: the source object, or for a
 * group map the list in its `value` member. */
static void emit_var(emitter *E, FILE *o, const ast_decl *m, const etype *s)
{
    if (in_type(m) == m->src_type)
        fprintf(o, "    syncrt_mv v_ = syncrt_mv_obj(src_, &%s_mtype);\n", s->cname);
    else
        fprintf(o, "    syncrt_mv v_ = syncrt_mv_get(ctx, syncrt_mv_obj(src_, &%s_mtype), %d);   /* .value */\n",
                s->cname, field_index(E, in_type(m), &m->group_value));
}

static void emit_mapper(emitter *E, fn *F, const ast_decl *m)
{
    const etype *s = find_etype(E, in_type(m)), *d = find_etype(E, m->dst_type);
    FILE *o = F->o;
    F->mapname = m->name;
    F->tmp = 0;
    F->depth = 0;
    fprintf(o, "/* map %s from %s.%s to %s.%s (%s) */\n", m->name, m->src->schema, m->src->name,
            m->dst->schema, m->dst->name, ast_mode_name(m->mode));
    fprintf(o, "static void %s_map_(syncrt_mctx *ctx, const void *src_, void *dst_)\n{\n", m->name);
    emit_var(E, o, m, s);
    fprintf(o, "    (void)v_;\n    (void)dst_;\n");
    /* the filters first: a record a where leaves out is not mapped (syncrt_fn_where sets
     * ctx->filtered, syncrt_mapply returns SYNCRT_EFILTERED) */
    for (size_t i = 0; i < m->wheres.n; i++) {
        const ast_item *it = m->wheres.items[i];
        F->field = NULL;
        fputs("    {   /* where: ", o);
        for (const char *p = it->message; *p; p++)          /* no comment end inside */
            if (p[0] == '*' && p[1] == '/')
                fputs("* ", o);
            else
                fputc(*p, o);
        fputs(" */\n", o);
        F->depth = 1;
        int c = emit_expr(F, it->value);
        fprintf(o, "        if (!syncrt_fn_where(ctx, t%d, ", c);
        c_str0(o, m->name);
        fputs(", ", o);
        c_str0(o, it->message);
        fputs("))\n            return;\n    }\n", o);
        F->depth = 0;
    }
    for (size_t i = 0; i < m->items.n; i++) {
        const ast_item *it = m->items.items[i];
        if (it->kind == AI_GENERATED)
            continue;
        if (it->kind == AI_CHECK) {
            F->field = NULL;
            fprintf(o, "    {   /* check: %s */\n", it->message);
            F->depth = 1;
            int c = emit_expr(F, it->value);
            fprintf(o, "        syncrt_fn_check(ctx, t%d, ", c);
            c_str0(o, m->name);
            fputs(", ", o);
            c_str0(o, it->message);
            fputs(");\n    }\n", o);
            F->depth = 0;
            continue;
        }
        char fieldpath[300] = "";
        for (size_t k = 0; k < it->path->n; k++) {
            size_t l = strlen(fieldpath);
            snprintf(fieldpath + l, sizeof fieldpath - l, "%s%s", k ? "." : "", it->path->names[k]);
        }
        F->field = fieldpath;
        fprintf(o, "    {   /* %s */\n", fieldpath);
        F->depth = 1;
        int v = emit_expr(F, it->value);
        fprintf(o, "        static const size_t path[%zu] = {", it->path->n);
        const schema_type *st = m->dst_type;
        for (size_t k = 0; k < it->path->n; k++) {
            int idx = field_index(E, st, it->props ? it->props[k] : NULL);
            if (idx < 0)
                fail(E, "map %s: target field %s is not resolved", m->name, fieldpath);
            fprintf(o, "%s%d", k ? ", " : "", idx);
            st = it->props && it->props[k] ? it->props[k]->type.object : NULL;
        }
        fprintf(o, "};\n        syncrt_mv_put(ctx, &%s_mtype, dst_, path, %zu, t%d);\n    }\n",
                d->cname, it->path->n, v);
        F->depth = 0;
    }
    fprintf(o, "}\n\n");
    fprintf(o, "const syncrt_mmap %s_mmap = {", m->name);
    c_str0(o, m->name);
    fprintf(o, ", &%s_mtype, &%s_mtype, %s_map_};\n\n", s->cname, d->cname, m->name);
    /* typed wrappers */
    fprintf(o,
            "syncrt_status %s_decode(syncrt_mctx *ctx, const char *json, size_t len, struct %s **out)\n"
            "{\n    void *p = NULL;\n    syncrt_status st = syncrt_mdecode(ctx, &%s_mtype, json, len, &p);\n"
            "    *out = p;\n    return st;\n}\n\n",
            m->name, s->cname, s->cname);
    fprintf(o,
            "syncrt_status %s_map(syncrt_mctx *ctx, const struct %s *src, struct %s **out)\n"
            "{\n    void *p = NULL;\n    syncrt_status st = syncrt_mapply(ctx, &%s_mmap, src, &p);\n"
            "    *out = p;\n    return st;\n}\n\n",
            m->name, s->cname, d->cname, m->name);
    fprintf(o,
            "syncrt_status %s_validate(syncrt_mctx *ctx, const struct %s *dst)\n"
            "{\n    return syncrt_mvalidate(ctx, &%s_mtype, dst, \"%s\");\n}\n\n",
            m->name, d->cname, d->cname, m->name);
    fprintf(o,
            "syncrt_status %s_encode(syncrt_mbuf *out, const struct %s *dst)\n"
            "{\n    return syncrt_mencode(out, &%s_mtype, dst);\n}\n\n",
            m->name, d->cname, d->cname);
    fprintf(o,
            "syncrt_status %s_run(syncrt_mctx *ctx, const char *json, size_t len, syncrt_mbuf *out)\n"
            "{\n    return syncrt_mrun(ctx, &%s_mmap, json, len, out);\n}\n\n",
            m->name, m->name);
}

static void emit_map_protos(emitter *E, FILE *o, const ast_decl *m)
{
    const etype *s = find_etype(E, in_type(m)), *d = find_etype(E, m->dst_type);
    fprintf(o, "/* map %s: %s.%s -> %s.%s */\n", m->name, m->src->schema, m->src->name,
            m->dst->schema, m->dst->name);
    fprintf(o, "extern const syncrt_mmap %s_mmap;\n", m->name);
    fprintf(o, "syncrt_status %s_decode(syncrt_mctx *ctx, const char *json, size_t len, struct %s **out);\n",
            m->name, s->cname);
    fprintf(o, "syncrt_status %s_map(syncrt_mctx *ctx, const struct %s *src, struct %s **out);\n",
            m->name, s->cname, d->cname);
    fprintf(o, "syncrt_status %s_validate(syncrt_mctx *ctx, const struct %s *dst);\n", m->name, d->cname);
    fprintf(o, "syncrt_status %s_encode(syncrt_mbuf *out, const struct %s *dst);\n", m->name, d->cname);
    fprintf(o, "syncrt_status %s_run(syncrt_mctx *ctx, const char *json, size_t len, syncrt_mbuf *out);\n\n",
            m->name);
}

/* A flow: decode the record of its first write's map, then every write with its children. */
static void emit_flow(emitter *E, fn *F, const ast_decl *fl)
{
    FILE *o = F->o;
    const ast_decl *first = NULL;
    for (size_t i = 0; i < fl->fitems.n; i++) {
        const ast_fitem *w = fl->fitems.items[i];
        if (w->kind == FI_WRITE && w->map_decl) {
            first = w->map_decl;
            break;
        }
    }
    if (!first)
        return;
    const etype *s = find_etype(E, in_type(first));
    F->mapname = fl->name;
    F->field = "from";
    F->tmp = 0;
    F->depth = 0;
    fprintf(o, "/* flow %s: one source record through every write, child rows included */\n", fl->name);
    fprintf(o, "syncrt_status %s_run(syncrt_mctx *ctx, const char *json, size_t len, syncrt_mbuf *out)\n{\n", fl->name);
    fprintf(o, "    void *src_ = NULL, *dst_ = NULL;\n    int bad = 0;\n    char prefix[64];\n"
               "    size_t start_ = out->n;\n");
    fprintf(o, "    syncrt_status st = syncrt_mdecode(ctx, &%s_mtype, json, len, &src_);\n", s->cname);
    fprintf(o, "    if (st != SYNCRT_OK)\n        return st;\n");
    emit_var(E, o, first, s);
    fprintf(o, "    (void)v_;\n    (void)prefix;\n");
    fprintf(o, "    syncrt_mbuf_put(out, \"{\", 1);\n");
    int wn = 0;
    for (size_t i = 0; i < fl->fitems.n; i++) {
        const ast_fitem *w = fl->fitems.items[i];
        if (w->kind != FI_WRITE || !w->map_decl)
            continue;
        const ast_decl *m = w->map_decl;
        if (m->src_type != first->src_type || m->group != first->group)
            continue;   /* a write of another record type: not from this record (two group
                           maps of one row type decode the same {"value":[...]} shape) */   /* a write of another record type: not from this record */
        const etype *d = find_etype(E, m->dst_type);
        fprintf(o, "    /* write %s.%s by %s */\n", w->set->schema, w->set->name, m->name);
        fprintf(o, "    st = syncrt_mapply(ctx, &%s_mmap, src_, &dst_);\n", m->name);
        fprintf(o, "    if (st == SYNCRT_ENOMEM)\n        return st;\n");
        fprintf(o, "    if (st == SYNCRT_EFILTERED) {   /* a where left the record out */\n"
                   "        out->n = start_;\n        return st;\n    }\n");
        fprintf(o, "    bad |= st != SYNCRT_OK;\n");
        fprintf(o, "    syncrt_mbuf_put(out, \"%s", wn ? "," : "");
        fprintf(o, "\\\"%s\\\":\", %zu);\n", w->set->name, strlen(w->set->name) + 3 + (wn ? 1 : 0));
        fprintf(o, "    if (st == SYNCRT_OK)\n        syncrt_mencode(out, &%s_mtype, dst_);\n", d->cname);
        fprintf(o, "    else\n        syncrt_mbuf_put(out, \"null\", 4);\n");
        wn++;
        for (size_t k = 0; k < w->children.n; k++) {
            const ast_child *ch = w->children.items[k];
            const ast_decl *cm = ch->map_decl;
            if (!cm)
                continue;
            const etype *cs = find_etype(E, in_type(cm)), *cd = find_etype(E, cm->dst_type);
            fprintf(o, "    {   /* with %s.%s by %s */\n", ch->set->schema, ch->set->name, cm->name);
            F->depth = 1;
            int l = emit_expr(F, ch->from);
            fprintf(o, "        size_t n = t%d.kind == SYNCRT_MV_LIST && t%d.u.l.t == &%s_mtype ? t%d.u.l.n : 0;\n",
                    l, l, cs->cname, l);
            fprintf(o, "        syncrt_mbuf_put(out, \",\\\"%s\\\":[\", %zu);\n", ch->set->name,
                    strlen(ch->set->name) + 5);
            fprintf(o, "        size_t kept = 0;\n");
            fprintf(o, "        for (size_t i = 0; i < n; i++) {\n");
            fprintf(o, "            void *row = NULL;\n");
            fprintf(o, "            snprintf(prefix, sizeof prefix, \"%s[%%zu]\", i);\n", ch->set->name);
            fprintf(o, "            ctx->prefix = prefix;\n");
            fprintf(o, "            st = syncrt_mapply(ctx, &%s_mmap, (const char *)t%d.u.l.items + i * %s_mtype.size, &row);\n",
                    cm->name, l, cs->cname);
            fprintf(o, "            ctx->prefix = NULL;\n");
            fprintf(o, "            if (st == SYNCRT_ENOMEM)\n                return st;\n");
            fprintf(o, "            if (st == SYNCRT_EFILTERED) {   /* %s's where: left out */\n"
                       "                ctx->filtered = NULL;\n                continue;\n"
                       "            }\n", cm->name);
            fprintf(o, "            bad |= st != SYNCRT_OK;\n");
            fprintf(o, "            if (kept++)\n                syncrt_mbuf_put(out, \",\", 1);\n");
            fprintf(o, "            if (st == SYNCRT_OK)\n                syncrt_mencode(out, &%s_mtype, row);\n", cd->cname);
            fprintf(o, "            else\n                syncrt_mbuf_put(out, \"null\", 4);\n");
            fprintf(o, "        }\n        syncrt_mbuf_put(out, \"]\", 1);\n    }\n");
            F->depth = 0;
        }
    }
    fprintf(o, "    syncrt_mbuf_put(out, \"}\", 1);\n");
    fprintf(o, "    if (out->oom || ctx->oom)\n        return SYNCRT_ENOMEM;\n");
    fprintf(o, "    return bad ? SYNCRT_EINVAL : SYNCRT_OK;\n}\n\n");
}

/* ------------------------------------------------------------------ tables */

static int cmp_entry(const void *a, const void *b)
{
    const ast_entry *x = *(const ast_entry *const *)a, *y = *(const ast_entry *const *)b;
    return strcmp(x->key, y->key);
}

static void emit_table(emitter *E, FILE *o, const ast_decl *t)
{
    char tn[140];
    table_cname(t, tn, sizeof tn);
    size_t n = t->entries.n;
    const ast_entry **es = malloc((n ? n : 1) * sizeof *es);
    if (!es) {
        fail(E, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        es[i] = t->entries.items[i];
    qsort(es, n, sizeof *es, cmp_entry);
    const char *kind = "SYNCRT_MV_STRING";
    switch (t->value_kind) {
    case MT_INT: kind = "SYNCRT_MV_INT"; break;
    case MT_DECIMAL: kind = "SYNCRT_MV_DECIMAL"; break;
    case MT_BOOL: kind = "SYNCRT_MV_BOOL"; break;
    case MT_DATE: kind = "SYNCRT_MV_DATE"; break;
    case MT_DATETIME: kind = "SYNCRT_MV_DATETIME"; break;
    default: break;
    }
    fprintf(o, "/* table %s%s%s (%zu entries) */\n", t->name, t->csv ? " from " : "",
            t->csv ? base_of(t->path) : "", n);
    if (n) {
        fprintf(o, "static const syncrt_mtable_entry %s_entries[] = {\n", tn);
        for (size_t i = 0; i < n; i++) {
            fputs("    {", o);
            c_str0(o, es[i]->key);
            fputs(", ", o);
            const ast_expr *v = es[i]->value;
            if (v->kind == AE_BOOL)
                c_str0(o, v->bval ? "true" : "false");
            else
                c_str0(o, v->text ? v->text : "");
            fputs("},\n", o);
        }
        fputs("};\n", o);
    }
    fprintf(o, "static const syncrt_mtable %s = {", tn);
    c_str0(o, t->name);
    if (n)
        fprintf(o, ", %s, %zu, %s_entries};\n\n", kind, n, tn);
    else
        fprintf(o, ", %s, 0, NULL};\n\n", kind);
    free(es);
}

/* ------------------------------------------------------------------ files */

typedef struct mstream {
    char *buf;
    size_t len;
    FILE *f;
} mstream;

static bool ms_open(emitter *E, mstream *m)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    if (!m->f)
        fail(E, "out of memory");
    return m->f != NULL;
}

static void ms_close(mstream *m)
{
    if (m->f)
        fclose(m->f);
    m->f = NULL;
}

static bool add_file(emitter *E, emit_output *out, const char *name, mstream *m)
{
    ms_close(m);
    emit_file *nf = realloc(out->files, (out->n + 1) * sizeof *nf);
    if (!nf || !m->buf) {
        free(m->buf);
        fail(E, "out of memory");
        if (nf)
            out->files = nf;
        return false;
    }
    out->files = nf;
    nf[out->n].name = strdup(name);
    nf[out->n].text = m->buf;
    nf[out->n].len = m->len;
    if (!nf[out->n].name) {
        free(m->buf);
        fail(E, "out of memory");
        return false;
    }
    out->n++;
    return true;
}

static void upper_ident(const char *s, char *buf, size_t size)
{
    size_t o = 0;
    for (; *s && o < size - 1; s++)
        buf[o++] = (char)toupper((unsigned char)*s);
    buf[o] = 0;
}

/* Inputs of file fi (or of the whole program when fi < 0): .map, schema and CSV base names. */
static void banner_inputs(emitter *E, FILE *o, long fi)
{
    fputs(" *   inputs:", o);
    for (size_t i = 0; i < E->nfiles; i++) {
        if (fi >= 0 && (size_t)fi != i)
            continue;
        const ast_file *f = E->p->files.items[i];
        fprintf(o, " %s", base_of(file_path(E, i)));
        for (size_t d = 0; d < f->decls.n; d++) {
            const ast_decl *x = f->decls.items[d];
            if ((x->kind == AD_SCHEMA || (x->kind == AD_TABLE && x->csv)) && x->path)
                fprintf(o, " %s", base_of(x->path));
        }
    }
    fputs("\n", o);
}

static void header_open(FILE *o, const char *name, const char *guard)
{
    fprintf(o, "#ifndef %s\n#define %s\n\n#include <stddef.h>\n#include <stdint.h>\n\n"
               "#include \"syncrt/map.h\"\n", guard, guard);
    (void)name;
}

static void abi_check(FILE *o)
{
    fprintf(o, "\n#if SYNCRT_ABI != %d\n#error \"generated for libsyncrt ABI %d: regenerate with mapc gen\"\n#endif\n\n"
               "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", SYNCRT_ABI, SYNCRT_ABI);
}

static void header_close(FILE *o, const char *guard)
{
    fprintf(o, "#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n", guard);
}

static void emit_types_decls(emitter *E, FILE *o, int home)
{
    bool any = false;
    for (size_t i = 0; i < E->ntypes; i++)
        if (E->types[i]->home == home) {
            fprintf(o, "struct %s;\n", E->types[i]->cname);
            any = true;
        }
    if (any)
        fputs("\n", o);
    for (size_t i = 0; i < E->ntypes; i++)
        if (E->types[i]->home == home)
            fprintf(o, "extern const syncrt_mtype %s_mtype;\n", E->types[i]->cname);
    if (any)
        fputs("\n", o);
    for (size_t i = 0; i < E->ntypes; i++)
        if (E->types[i]->home == home)
            emit_struct(E, o, E->types[i]);
}

static bool uses_shared(const emitter *E)
{
    for (size_t i = 0; i < E->ntypes; i++)
        if (E->types[i]->home < 0)
            return true;
    return false;
}

static void emit_shared(emitter *E, emit_output *out)
{
    if (!uses_shared(E))
        return;
    mstream h, c;
    if (!ms_open(E, &h) || !ms_open(E, &c))
        return;
    const char *guard = "MAPC_GEN_MAPC_TYPES_H";
    fprintf(h.f, "/* %s.h - types shared by the maps of several .map files.\n"
                 " *   generated by mapc %s; DO NOT EDIT (regenerate with mapc gen).\n",
            SHARED_BASE, MAPC_VERSION);
    banner_inputs(E, h.f, -1);
    fputs(" */\n", h.f);
    header_open(h.f, SHARED_BASE, guard);
    abi_check(h.f);
    emit_types_decls(E, h.f, -1);
    header_close(h.f, guard);

    fprintf(c.f, "/* %s.c - descriptors of the shared types.\n"
                 " *   generated by mapc %s; DO NOT EDIT (regenerate with mapc gen).\n",
            SHARED_BASE, MAPC_VERSION);
    banner_inputs(E, c.f, -1);
    fprintf(c.f, " */\n#include \"%s.h\"\n\n", SHARED_BASE);
    for (size_t i = 0; i < E->ntypes; i++)
        if (E->types[i]->home < 0)
            emit_descriptor(E, c.f, E->types[i]);
    add_file(E, out, SHARED_BASE ".h", &h);
    add_file(E, out, SHARED_BASE ".c", &c);
}

static void emit_file_pair(emitter *E, emit_output *out, size_t fi)
{
    const ast_file *f = E->p->files.items[fi];
    const char *base = E->bases[fi];
    char guard[200], ub[160];
    upper_ident(base, ub, sizeof ub);
    snprintf(guard, sizeof guard, "MAPC_GEN_%s_H", ub);
    mstream h, c, body;
    if (!ms_open(E, &h) || !ms_open(E, &c) || !ms_open(E, &body))
        return;

    /* header */
    fprintf(h.f, "/* %s.h - mappers generated from %s.\n"
                 " *   generated by mapc %s; DO NOT EDIT (regenerate with mapc gen).\n",
            base, base_of(file_path(E, fi)), MAPC_VERSION);
    banner_inputs(E, h.f, (long)fi);
    fputs(" */\n", h.f);
    header_open(h.f, base, guard);
    if (uses_shared(E))
        fprintf(h.f, "#include \"%s.h\"\n", SHARED_BASE);
    /* headers of other files whose maps this file's flows use */
    for (size_t j = 0; j < E->nfiles; j++) {
        if (j == fi)
            continue;
        bool need = false;
        for (size_t d = 0; d < f->decls.n && !need; d++) {
            const ast_decl *fl = f->decls.items[d];
            if (fl->kind != AD_FLOW)
                continue;
            for (size_t i = 0; i < fl->fitems.n && !need; i++) {
                const ast_fitem *w = fl->fitems.items[i];
                if (w->kind != FI_WRITE)
                    continue;
                if (w->map_decl && w->map_decl->file_id == ((const ast_file *)E->p->files.items[j])->file_id)
                    need = true;
                for (size_t k = 0; k < w->children.n; k++) {
                    const ast_child *ch = w->children.items[k];
                    if (ch->map_decl && ch->map_decl->file_id == ((const ast_file *)E->p->files.items[j])->file_id)
                        need = true;
                }
            }
        }
        if (need)
            fprintf(h.f, "#include \"%s.h\"\n", E->bases[j]);
    }
    abi_check(h.f);
    emit_types_decls(E, h.f, (int)fi);
    for (size_t d = 0; d < f->decls.n; d++) {
        const ast_decl *m = f->decls.items[d];
        if (m->kind == AD_MAP && m->src_type && m->dst_type)
            emit_map_protos(E, h.f, m);
    }
    for (size_t d = 0; d < f->decls.n; d++) {
        const ast_decl *fl = f->decls.items[d];
        if (fl->kind == AD_FLOW && emit_flow_runnable(fl))
            fprintf(h.f, "/* flow %s: decode, map every write (children included), encode as\n"
                         " * {\"Set\":{...},\"ChildSet\":[...]} */\n"
                         "syncrt_status %s_run(syncrt_mctx *ctx, const char *json, size_t len, syncrt_mbuf *out);\n\n",
                    fl->name, fl->name);
    }
    emit_flow_decls(h.f, f);
    header_close(h.f, guard);

    /* body: mappers and flows (tables they reference are collected on the way) */
    fn F;
    memset(&F, 0, sizeof F);
    F.E = E;
    F.o = body.f;
    for (size_t d = 0; d < f->decls.n; d++) {
        const ast_decl *m = f->decls.items[d];
        if (m->kind == AD_MAP && m->src_type && m->dst_type)
            emit_mapper(E, &F, m);
    }
    for (size_t d = 0; d < f->decls.n; d++) {
        const ast_decl *fl = f->decls.items[d];
        if (fl->kind == AD_FLOW && emit_flow_runnable(fl))
            emit_flow(E, &F, fl);
    }
    ms_close(&body);

    fprintf(c.f, "/* %s.c - mappers generated from %s.\n"
                 " *   generated by mapc %s; DO NOT EDIT (regenerate with mapc gen).\n",
            base, base_of(file_path(E, fi)), MAPC_VERSION);
    banner_inputs(E, c.f, (long)fi);
    fprintf(c.f, " */\n#include \"%s.h\"\n\n#include <stdio.h>\n\n", base);
    for (size_t i = 0; i < E->ntypes; i++)
        if (E->types[i]->home == (int)fi)
            emit_descriptor(E, c.f, E->types[i]);
    /* tables in declaration order */
    for (size_t d = 0; d < f->decls.n; d++) {
        const ast_decl *t = f->decls.items[d];
        for (size_t k = 0; k < F.ntables; k++)
            if (F.tables[k] == t)
                emit_table(E, c.f, t);
    }
    if (body.buf)
        fwrite(body.buf, 1, body.len, c.f);
    free(body.buf);
    emit_flow_descs(E->p, c.f, f);
    free(F.tables);
    fprintf(c.f, "/* keeps the translation unit non-empty for a file without maps */\n"
                 "typedef int %s_generated_by_mapc;\n", base);
    char name[200];
    snprintf(name, sizeof name, "%s.h", base);
    add_file(E, out, name, &h);
    snprintf(name, sizeof name, "%s.c", base);
    add_file(E, out, name, &c);
}

int emit_program(const mapc_program *p, emit_output *out, char *err, size_t errsize)
{
    emitter E;
    memset(&E, 0, sizeof E);
    E.p = p;
    E.err = err;
    E.errsize = errsize;
    if (err && errsize)
        err[0] = 0;
    out->files = NULL;
    out->n = 0;
    E.nfiles = p->files.n;
    if (E.nfiles > MAX_FILES) {
        fail(&E, "at most %d .map files per mapc gen", MAX_FILES);
        return -1;
    }
    E.bases = calloc(E.nfiles ? E.nfiles : 1, sizeof *E.bases);
    if (!E.bases) {
        fail(&E, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < E.nfiles; i++) {
        char b[160];
        emit_base_name(file_path(&E, i), b, sizeof b);
        if (!strcmp(b, SHARED_BASE) || !strcmp(b, EMIT_FLOWS_BASE))
            snprintf(b, sizeof b, "%s_map", strcmp(b, SHARED_BASE) ? EMIT_FLOWS_BASE : SHARED_BASE);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(E.bases[j], b))
                fail(&E, "two input files are both named %s.map: output files would collide", b);
        E.bases[i] = strdup(b);
        if (!E.bases[i])
            fail(&E, "out of memory");
    }
    if (!E.oom)
        collect(&E);
    if (!E.oom && E.ntypes)
        qsort(E.types, E.ntypes, sizeof *E.types, cmp_etype);
    if (!E.oom)
        emit_shared(&E, out);
    for (size_t i = 0; i < E.nfiles && !E.oom; i++)
        emit_file_pair(&E, out, i);
    mstream rh = { 0 }, rc = { 0 };
    if (!E.oom && ms_open(&E, &rh) && ms_open(&E, &rc)) {
        emit_flow_registry(p, E.bases, rh.f, rc.f);
        if (add_file(&E, out, EMIT_FLOWS_BASE ".h", &rh))
            add_file(&E, out, EMIT_FLOWS_BASE ".c", &rc);
    }
    if (rh.f) {   /* ms_open of rc failed */
        ms_close(&rh);
        free(rh.buf);
    }
    if (rc.f) {   /* add_file of rh failed */
        ms_close(&rc);
        free(rc.buf);
    }
    for (size_t i = 0; i < E.ntypes; i++) {
        etype *t = E.types[i];
        for (size_t k = 0; k < t->st->nprops; k++)
            free(t->mname[k]);
        free(t->mname);
        free(t->used);
        free(t->read);
        free(t->index);
        free(t);
    }
    free(E.types);
    for (size_t i = 0; i < E.nfiles; i++)
        free(E.bases[i]);
    free(E.bases);
    if (E.oom) {
        emit_output_free(out);
        return -1;
    }
    return 0;
}

void emit_output_free(emit_output *out)
{
    for (size_t i = 0; i < out->n; i++) {
        free(out->files[i].name);
        free(out->files[i].text);
    }
    free(out->files);
    out->files = NULL;
    out->n = 0;
}

/* ------------------------------------------------------------------ writing */

int emit_write_dir(const emit_output *out, const char *dir, char *err, size_t errsize)
{
    for (size_t i = 0; i < out->n; i++) {
        const emit_file *f = &out->files[i];
        size_t pl = strlen(dir) + strlen(f->name) + 2;
        char *path = malloc(pl);
        if (!path) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        snprintf(path, pl, "%s/%s", dir, f->name);
        /* leave an identical file alone so make does not rebuild what did not change */
        FILE *in = fopen(path, "rb");
        if (in) {
            bool same = true;
            size_t k = 0;
            int ch;
            while ((ch = fgetc(in)) != EOF) {
                if (k >= f->len || (unsigned char)f->text[k] != ch) {
                    same = false;
                    break;
                }
                k++;
            }
            same = same && k == f->len;
            fclose(in);
            if (same) {
                free(path);
                continue;
            }
        }
        FILE *o = fopen(path, "wb");
        if (!o || fwrite(f->text, 1, f->len, o) != f->len || fclose(o) != 0) {
            snprintf(err, errsize, "cannot write %s", path);
            if (o)
                fclose(o);
            free(path);
            return -1;
        }
        free(path);
    }
    return 0;
}
