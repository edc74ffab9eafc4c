/* schema_internal.h - what the two schema loaders (csdl.c, openapi.c) share with schema.c:
 * the arena, the name indexes, the builders that turn loader output into the public
 * schema_type / schema_enum structures, and the error helper.  Not part of the public API. */
#ifndef MAPC_SCHEMA_INTERNAL_H
#define MAPC_SCHEMA_INTERNAL_H

#include <stdarg.h>
#include "schema.h"

/* A string -> index hash map (open addressing); keys are owned by the schema arena. */
typedef struct sch_map {
    const char **keys;
    size_t *vals;
    size_t cap, n;
} sch_map;

typedef struct sch_block sch_block;

/* One type name of the document, materialised (t != NULL) or only indexed. */
typedef struct sch_tentry {
    const char *name;
    const char *qualified;
    bool is_entity;
    int line;
    schema_type *t;
    const char *base;      /* CSDL BaseType (qualified as written), NULL when none */
    int state;             /* loader scratch (inheritance flattening) */
} sch_tentry;

typedef struct sch_set {
    const char *name;
    const char *type;      /* unqualified type name */
} sch_set;

struct schema {
    schema_format fmt;
    char *path;
    sch_block *arena;
    bool oom;              /* an allocation failed somewhere: the load fails */

    sch_tentry *types;
    size_t ntypes, captypes;
    sch_map type_idx;      /* unqualified name -> first entry; qualified -> entry */

    sch_set *sets;
    size_t nsets, capsets;
    sch_map set_idx;       /* set name -> set */
    sch_map type_set_idx;  /* type name -> first set serving it */

    schema_enum **enums;
    size_t nenums, capenums;
    sch_map enum_idx;      /* unqualified and qualified name -> enum */

    /* want: NULL = everything; otherwise the names (types or sets) to materialise */
    bool want_all;
    sch_map want_idx;
};

/* Arena: zeroed, aligned memory freed with the schema.  NULL (and s->oom) on failure. */
void *sch_alloc(schema *s, size_t n);
char *sch_strdup(schema *s, const char *str);
char *sch_strndup(schema *s, const char *str, size_t n);

/* Hash maps.  sch_map_put keeps the first value stored under a key (returns 1 if it was new,
 * 0 if the key existed, -1 on allocation failure). */
int sch_map_put(sch_map *m, const char *key, size_t val);
bool sch_map_get(const sch_map *m, const char *key, size_t *val);
void sch_map_free(sch_map *m);

/* A new schema with an empty index; NULL on allocation failure. */
schema *sch_new(schema_format fmt, const char *path);

/* Index a type name (entity or complex/object).  Returns its entry index, or (size_t)-1 on
 * allocation failure.  A second declaration of the same qualified name returns the first. */
size_t sch_add_type(schema *s, const char *name, const char *qualified, bool is_entity,
                    int line);
size_t sch_find_tentry(const schema *s, const char *name); /* (size_t)-1 when unknown */
int sch_add_set(schema *s, const char *name, const char *type);
int sch_add_enum(schema *s, schema_enum *e);
/* Is this type (by unqualified name) wanted?  Sets named in want count for their type. */
bool sch_wanted(const schema *s, const char *type_name);
int sch_want(schema *s, const char *name);

/* A growable array used by the loaders while collecting (malloc'd, freed by the caller). */
typedef struct sch_vec {
    void *data;
    size_t n, cap, elem;
} sch_vec;
void *sch_vec_push(sch_vec *v);   /* zeroed new element, NULL on failure */
void sch_vec_free(sch_vec *v);
/* Copy a vector into the arena (NULL when empty). */
void *sch_vec_to_arena(schema *s, const sch_vec *v);

/* Mapping of primitive type names. */
bool sch_edm_kind(const char *edm_name, schema_kind *out);

void sch_set_error(schema_error *err, const char *file, int line, int column,
                   const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* The loaders.  Each fills s (indexes, materialised types) or returns -1 with *err set. */
int csdl_load(schema *s, const char *path, const char *data, size_t len, schema_error *err);
int openapi_load(schema *s, const char *data, size_t len, schema_error *err);

#endif
