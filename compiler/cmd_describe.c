/* cmd_describe.c - `mapc describe SCHEMA [NAME]`: list a schema's entity types, complex types
 * and entity sets, or describe one type (by type or entity-set name) property by property, or
 * one enum.  The output is line-oriented, one item per line, first word the kind of line, so
 * it greps and diffs well (format in usage() below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "schema.h"

static void describe_usage(FILE *out)
{
    fprintf(out,
        "usage: mapc describe [--odata | --openapi] [--enums] SCHEMA [NAME]\n"
        "\n"
        "Without NAME, list what SCHEMA declares, one item per line:\n"
        "  entity TYPE            an entity type (CSDL EntityType; OpenAPI: a schema served by\n"
        "                         a list route, see below)\n"
        "  complex TYPE           a complex type (CSDL ComplexType; other OpenAPI schemas)\n"
        "  set SET -> TYPE        an entity set and its type\n"
        "  enum ENUM N            with --enums: an enum type and its member count\n"
        "\n"
        "With NAME (a type name, an entity-set name, or an enum name), describe it:\n"
        "  entity|complex TYPE [set=SET] [key=K1,K2] properties=N [read-only]\n"
        "  prop NAME TYPE nullable|not-null [key] [required] [computed] [no-edit]\n"
        "       [no-edit-on-create] [ax-date] [max-length=N] [precision=N]\n"
        "       [scale=N|variable] [members=A,B,...]\n"
        "  nav NAME TARGET one|many\n"
        "  (an enum:) enum NAME QUALIFIED [flags] members=N, then: member NAME VALUE\n"
        "TYPE is string, boolean, int32, int64, decimal, double, date, datetime, time, guid,\n"
        "binary, any, enum:NAME, object:NAME (object:NAME? when the type is not in the\n"
        "document), or array:TYPE.  A name is looked up as a type first, then as a set.\n"
        "\n"
        "OpenAPI entity sets are derived from the paths: a GET route without path parameters\n"
        "whose 200 response is an array of X, or an object whose Results/value/items property\n"
        "is an array of X, makes the last path segment a set of X (GET /Ordering/SalesOrders\n"
        "-> set SalesOrders -> SalesOrder).\n"
        "\n"
        "The format is guessed from the file name (.xml/.edmx: OData CSDL, .json: OpenAPI)\n"
        "or its first byte; --odata / --openapi force it.\n"
        "\n"
        "Examples:\n"
        "  mapc describe specs/d365/metadata.xml | grep '^set '\n"
        "  mapc describe specs/d365/metadata.xml SalesOrderHeadersV2 | grep -w required\n"
        "  mapc describe specs/clarity/openapi.json SalesOrder\n"
        "\n"
        "Exit status: 0 ok, 1 unknown NAME (with a suggestion), 2 usage, I/O or schema error\n"
        "(printed as FILE:LINE:COL: error: MESSAGE).\n");
}

/* Levenshtein distance, case-insensitive, capped at cap+1. */
static size_t describe_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 200 || lb > 200)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    size_t row[201];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        size_t best = row[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            int ca = a[i - 1], cb = b[j - 1];
            if (ca >= 'A' && ca <= 'Z')
                ca += 32;
            if (cb >= 'A' && cb <= 'Z')
                cb += 32;
            size_t v = diag + (ca != cb);
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            if (up + 1 < v)
                v = up + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best > cap)
            return cap + 1;
    }
    return row[lb];
}

static void describe_consider(const char *want, const char *cand, const char **best,
                              size_t *bestd)
{
    if (!cand)
        return;
    size_t cap = *bestd ? *bestd - 1 : 0;
    if (!strcasecmp(want, cand)) {
        if (*bestd > 0) {
            *best = cand;
            *bestd = 0;
        }
        return;
    }
    size_t d = describe_distance(want, cand, cap);
    if (d <= cap && d < *bestd) {
        *best = cand;
        *bestd = d;
    }
}

static const char *describe_suggest(const schema *s, const char *name)
{
    size_t len = strlen(name);
    size_t limit = len < 6 ? 2 : len / 3 + 1;
    const char *best = NULL;
    size_t bestd = limit + 1;
    for (size_t i = 0; i < schema_type_count(s); i++)
        describe_consider(name, schema_type_name(s, i), &best, &bestd);
    for (size_t i = 0; i < schema_set_count(s); i++)
        describe_consider(name, schema_set_name(s, i), &best, &bestd);
    for (size_t i = 0; i < schema_enum_count(s); i++)
        describe_consider(name, schema_enum_at(s, i)->name, &best, &bestd);
    return best;
}

static void describe_typeref(const schema_typeref *t, int depth)
{
    switch (t->kind) {
    case SK_ENUM:
        printf("enum:%s", t->enumt ? t->enumt->name : "?");
        break;
    case SK_OBJECT: {
        const char *n = t->object ? t->object->name : t->name;
        const char *slash = n ? strrchr(n, '/') : NULL;
        const char *dot = n ? strrchr(n, '.') : NULL;
        if (!t->object && slash)
            n = slash + 1;
        else if (!t->object && dot)
            n = dot + 1;
        printf("object:%s%s", n ? n : "?", t->object ? "" : "?");
        break;
    }
    case SK_ARRAY:
        printf("array:");
        if (t->elem && depth < 8)
            describe_typeref(t->elem, depth + 1);
        else
            printf("any");
        break;
    default:
        printf("%s", schema_kind_name(t->kind));
    }
}

static void describe_type(const schema *s, const schema_type *t)
{
    printf("%s %s", t->is_entity ? "entity" : "complex", t->name);
    const char *set = schema_set_for_type(s, t->name);
    if (set)
        printf(" set=%s", set);
    if (t->nkeys) {
        printf(" key=");
        for (size_t k = 0; k < t->nkeys; k++)
            printf("%s%s", k ? "," : "", t->keys[k]);
    }
    printf(" properties=%zu%s\n", t->nprops, t->read_only ? " read-only" : "");
    for (size_t i = 0; i < t->nprops; i++) {
        const schema_prop *p = &t->props[i];
        printf("prop %s ", p->name);
        describe_typeref(&p->type, 0);
        printf(" %s", p->nullable ? "nullable" : "not-null");
        if (p->key)
            printf(" key");
        if (p->required)
            printf(" required");
        if (p->computed)
            printf(" computed");
        if (!p->allow_edit)
            printf(" no-edit");
        if (!p->allow_edit_on_create)
            printf(" no-edit-on-create");
        if (p->is_date)
            printf(" ax-date");
        if (p->max_length >= 0)
            printf(" max-length=%d", p->max_length);
        if (p->precision >= 0)
            printf(" precision=%d", p->precision);
        if (p->scale >= 0)
            printf(" scale=%d", p->scale);
        else if (p->scale == SCHEMA_SCALE_VARIABLE)
            printf(" scale=variable");
        const schema_typeref *tr = &p->type;
        if (tr->kind == SK_ARRAY && tr->elem)
            tr = tr->elem;
        if (tr->kind == SK_ENUM && tr->enumt) {
            printf(" members=");
            for (size_t m = 0; m < tr->enumt->nmembers; m++)
                printf("%s%s", m ? "," : "", tr->enumt->members[m].name);
        }
        printf("\n");
    }
    for (size_t i = 0; i < t->nnav; i++)
        printf("nav %s %s %s\n", t->nav[i].name, t->nav[i].target,
               t->nav[i].collection ? "many" : "one");
}

static void describe_enum(const schema_enum *e)
{
    printf("enum %s %s%s members=%zu\n", e->name, e->qualified, e->is_flags ? " flags" : "",
           e->nmembers);
    for (size_t i = 0; i < e->nmembers; i++)
        printf("member %s %lld\n", e->members[i].name, e->members[i].value);
}

int mapc_cmd_describe(int argc, char **argv)
{
    int fmt = -1;
    bool enums = false;
    const char *args[2] = {NULL, NULL};
    int nargs = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && a[0] == '-' && a[1]) {
            if (!strcmp(a, "--")) {
                opts_done = true;
            } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                describe_usage(stdout);
                return 0;
            } else if (!strcmp(a, "--odata")) {
                fmt = SCHEMA_ODATA;
            } else if (!strcmp(a, "--openapi")) {
                fmt = SCHEMA_OPENAPI;
            } else if (!strcmp(a, "--enums")) {
                enums = true;
            } else {
                fprintf(stderr, "mapc describe: unknown option '%s'\n\n", a);
                describe_usage(stderr);
                return 2;
            }
            continue;
        }
        if (nargs == 2) {
            fprintf(stderr, "mapc describe: too many arguments\n\n");
            describe_usage(stderr);
            return 2;
        }
        args[nargs++] = a;
    }
    if (nargs == 0) {
        fprintf(stderr, "mapc describe: missing SCHEMA\n\n");
        describe_usage(stderr);
        return 2;
    }
    const char *path = args[0], *name = args[1];
    if (fmt < 0)
        fmt = schema_guess_format(path);
    if (fmt < 0) {
        fprintf(stderr,
                "mapc describe: %s: cannot tell the schema format (use --odata or --openapi)\n",
                path);
        return 2;
    }
    schema *s = NULL;
    schema_error err;
    const char *want[1] = {name};
    if (schema_load(&s, path, (schema_format)fmt, want, name ? 1 : 0, &err) < 0) {
        fprintf(stderr, "%s:%d:%d: error: %s\n", err.file[0] ? err.file : path, err.line,
                err.column, err.text);
        return 2;
    }
    int rc = 0;
    if (!name) {
        for (size_t i = 0; i < schema_type_count(s); i++)
            printf("%s %s\n", schema_type_is_entity(s, i) ? "entity" : "complex",
                   schema_type_name(s, i));
        for (size_t i = 0; i < schema_set_count(s); i++)
            printf("set %s -> %s\n", schema_set_name(s, i), schema_set_type(s, i));
        if (enums)
            for (size_t i = 0; i < schema_enum_count(s); i++)
                printf("enum %s %zu\n", schema_enum_at(s, i)->name,
                       schema_enum_at(s, i)->nmembers);
    } else {
        const schema_type *t = schema_find_type(s, name);
        const schema_enum *e = t ? NULL : schema_find_enum(s, name);
        if (t) {
            describe_type(s, t);
        } else if (e) {
            describe_enum(e);
        } else {
            const char *sugg = describe_suggest(s, name);
            fprintf(stderr, "mapc describe: %s: no type, entity set or enum named '%s'", path,
                    name);
            if (sugg)
                fprintf(stderr, "; did you mean '%s'?", sugg);
            fprintf(stderr, "\n");
            rc = 1;
        }
    }
    if (fflush(stdout) != 0 && rc == 0)
        rc = 2;
    schema_free(s);
    return rc;
}
