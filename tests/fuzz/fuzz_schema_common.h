/* fuzz_schema_common.h - what the two schema fuzz targets share: load the bytes as a
 * schema (everything materialised), walk every structure the model exposes, then load again
 * wanting a few of the names found (the CSDL pre-scan and extra passes, the OpenAPI closure),
 * and check the error record on failure. */
#ifndef MAPC_FUZZ_SCHEMA_COMMON_H
#define MAPC_FUZZ_SCHEMA_COMMON_H
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "schema.h"

static size_t fuzz_sink;

static void fuzz_walk_ref(const schema_typeref *t, int depth)
{
    for (; t && depth < 64; t = t->elem, depth++) {
        fuzz_sink += (size_t)t->kind + (t->name ? strlen(t->name) : 0);
        if (t->enumt)
            for (size_t m = 0; m < t->enumt->nmembers; m++)
                fuzz_sink += strlen(t->enumt->members[m].name);
        if (t->object)
            fuzz_sink += t->object->nprops + strlen(t->object->name);
        if (t->kind != SK_ARRAY)
            break;
    }
}

static void fuzz_walk(const schema *s)
{
    for (size_t i = 0; i < schema_type_count(s); i++) {
        const char *name = schema_type_name(s, i);
        const schema_type *t = schema_find_type(s, name);
        fuzz_sink += schema_type_is_entity(s, i) + schema_knows_name(s, name);
        if (!t)
            continue;
        fuzz_sink += strlen(t->qualified) + (t->entity_set ? strlen(t->entity_set) : 0);
        for (size_t p = 0; p < t->nprops; p++) {
            fuzz_sink += strlen(t->props[p].name) + (size_t)t->props[p].max_length;
            fuzz_walk_ref(&t->props[p].type, 0);
            fuzz_sink += schema_type_find_prop(t, t->props[p].name) != NULL;
        }
        for (size_t k = 0; k < t->nkeys; k++)
            fuzz_sink += strlen(t->keys[k]);
        for (size_t n = 0; n < t->nnav; n++)
            fuzz_sink += strlen(t->nav[n].target) + (schema_type_find_nav(t, t->nav[n].name) != NULL);
    }
    for (size_t i = 0; i < schema_set_count(s); i++) {
        fuzz_sink += strlen(schema_set_name(s, i)) + strlen(schema_set_type(s, i));
        fuzz_sink += schema_type_for_set(s, schema_set_name(s, i)) != NULL;
        fuzz_sink += schema_set_for_type(s, schema_set_type(s, i)) != NULL;
    }
    for (size_t i = 0; i < schema_enum_count(s); i++) {
        const schema_enum *e = schema_enum_at(s, i);
        fuzz_sink += strlen(e->qualified) + (schema_find_enum(s, e->name) != NULL);
        if (e->nmembers)
            fuzz_sink += schema_enum_has_member(e, e->members[0].name);
    }
}

static void fuzz_check_error(const schema_error *err)
{
    /* the record must be terminated strings and sane positions */
    if (strnlen(err->text, sizeof err->text) == sizeof err->text ||
        strnlen(err->file, sizeof err->file) == sizeof err->file || err->line < 0 ||
        err->column < 0 || !err->text[0])
        abort();
}

static int fuzz_schema(const uint8_t *data, size_t size, schema_format fmt, const char *name)
{
    schema *s = NULL;
    schema_error err;
    if (schema_load_mem(&s, (const char *)data, size, name, fmt, NULL, 0, &err) < 0) {
        fuzz_check_error(&err);
        return 0;
    }
    fuzz_walk(s);
    /* again, wanting the first and last type and set names */
    const char *want[4];
    size_t nwant = 0;
    size_t nt = schema_type_count(s), ns = schema_set_count(s);
    char *copies[4] = {0};
    if (nt) {
        copies[nwant] = strdup(schema_type_name(s, 0));
        want[nwant] = copies[nwant];
        nwant++;
        copies[nwant] = strdup(schema_type_name(s, nt - 1));
        want[nwant] = copies[nwant];
        nwant++;
    }
    if (ns) {
        copies[nwant] = strdup(schema_set_name(s, 0));
        want[nwant] = copies[nwant];
        nwant++;
        copies[nwant] = strdup(schema_set_name(s, ns - 1));
        want[nwant] = copies[nwant];
        nwant++;
    }
    schema_free(s);
    for (size_t i = 0; i < nwant; i++)
        if (!want[i])
            goto out;
    s = NULL;
    if (schema_load_mem(&s, (const char *)data, size, name, fmt, want, nwant, &err) == 0) {
        fuzz_walk(s);
        for (size_t i = 0; i < nwant; i++)
            if (!schema_knows_name(s, want[i]))
                abort(); /* the index does not depend on want */
        schema_free(s);
    } else {
        fuzz_check_error(&err);
    }
out:
    for (size_t i = 0; i < 4; i++)
        free(copies[i]);
    return 0;
}
#endif
