/* schema.h - the neutral schema model shared by mapc's two loaders (CSDL $metadata via
 * libxml2's streaming reader, OpenAPI 2.0/3.x JSON via jansson), the type checker, the code
 * generator and the sandbox.
 *
 * A loaded schema always indexes every type name, every entity set and every enum type of the
 * document (cheap: names only, plus enum members), but materialises the properties of only the
 * types asked for (`want`), so a 50 MB F&O $metadata costs what the maps use, not what the
 * document holds.  All memory belongs to the schema (one arena) and is freed by schema_free().
 *
 * The library never prints and never exits: failures come back as a status and a
 * schema_error, like jansson's json_error_t. */
#ifndef MAPC_SCHEMA_H
#define MAPC_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum schema_format {
    SCHEMA_ODATA,   /* CSDL 4.0 XML ($metadata) */
    SCHEMA_OPENAPI  /* OpenAPI 2.0 (definitions) or 3.x (components.schemas), JSON */
} schema_format;

typedef enum schema_kind {
    SK_STRING,
    SK_BOOLEAN,
    SK_INT32,       /* Edm.Int16/Int32/Byte/SByte; OpenAPI integer int32 */
    SK_INT64,       /* Edm.Int64; OpenAPI integer int64 or integer without format */
    SK_DECIMAL,     /* Edm.Decimal; OpenAPI number (no format, or "decimal") */
    SK_DOUBLE,      /* Edm.Double/Single; OpenAPI number format float/double */
    SK_DATE,        /* Edm.Date; DateTimeOffset annotated AXType Date; OpenAPI format date */
    SK_DATETIME,    /* Edm.DateTimeOffset; OpenAPI format date-time */
    SK_TIME,        /* Edm.TimeOfDay, Edm.Duration */
    SK_GUID,        /* Edm.Guid; OpenAPI format uuid */
    SK_BINARY,      /* Edm.Binary; OpenAPI format byte/binary */
    SK_ENUM,        /* enum type: members in typeref.enumt */
    SK_OBJECT,      /* complex/object type: typeref.object */
    SK_ARRAY,       /* collection: element in typeref.elem */
    SK_ANY          /* untyped (OpenAPI object without properties, unknown Edm type) */
} schema_kind;

typedef struct schema_error {
    char text[512];    /* what went wrong, one line */
    char file[256];    /* the schema file */
    int line;          /* 1-based, 0 when unknown */
    int column;        /* 1-based, 0 when unknown */
} schema_error;

typedef struct schema_enum_member {
    const char *name;
    long long value;   /* CSDL Value (may repeat: F&O Timezone has two 255s); index for OpenAPI */
} schema_enum_member;

typedef struct schema_enum {
    const char *name;        /* unqualified: "NoYes" */
    const char *qualified;   /* "Microsoft.Dynamics.DataEntities.NoYes"; same as name in OpenAPI */
    size_t nmembers;
    const schema_enum_member *members;
    bool is_flags;
} schema_enum;

typedef struct schema_type schema_type;

typedef struct schema_typeref {
    schema_kind kind;
    const char *name;                  /* as the document writes it: "Edm.String",
                                          "Microsoft.Dynamics.DataEntities.NoYes",
                                          "#/definitions/Address", "string" */
    const schema_enum *enumt;          /* SK_ENUM */
    const schema_type *object;         /* SK_OBJECT; NULL when not materialised/dangling */
    const struct schema_typeref *elem; /* SK_ARRAY */
} schema_typeref;

#define SCHEMA_UNSTATED (-1)           /* max_length / precision / scale not in the schema */
#define SCHEMA_SCALE_VARIABLE (-2)     /* CSDL Scale="variable" */

typedef struct schema_prop {
    const char *name;
    schema_typeref type;
    bool nullable;             /* CSDL Nullable (default true); OpenAPI: not in required[] or
                                  x-nullable/nullable true */
    bool key;                  /* part of the entity key */
    bool required;             /* F&O annotation IsRequired; OpenAPI required[] */
    bool computed;             /* Core.Computed: server generated, never written */
    bool allow_edit;           /* F&O AllowEdit (default true) */
    bool allow_edit_on_create; /* F&O AllowEditOnCreate (default true) */
    bool is_date;              /* F&O AXType Date on a DateTimeOffset (kind is then SK_DATE) */
    int max_length;            /* SCHEMA_UNSTATED when absent */
    int precision;
    int scale;
    int line;                  /* where the property is declared, 0 when unknown */
} schema_prop;

typedef struct schema_nav {
    const char *name;
    const char *target;        /* unqualified target type name (may be dangling) */
    bool collection;
} schema_nav;

struct schema_type {
    const char *name;          /* unqualified: "SalesOrderHeaderV2" */
    const char *qualified;     /* "Microsoft.Dynamics.DataEntities.SalesOrderHeaderV2" */
    const char *entity_set;    /* "SalesOrderHeadersV2", or NULL when no set serves it */
    size_t nprops;
    const schema_prop *props;  /* in document order */
    size_t nkeys;
    const char *const *keys;   /* key property names in key order; nkeys == 0: keyless */
    size_t nnav;
    const schema_nav *nav;
    bool is_entity;            /* EntityType (CSDL) vs ComplexType / plain object */
    bool read_only;            /* F&O IsReadOnly on the entity */
    int line;
};

typedef struct schema schema;  /* opaque */

/* Guess the format from the file name (.xml/.edmx -> ODATA, .json -> OPENAPI), then from the
 * first non-blank byte.  Returns -1 when it cannot tell. */
int schema_guess_format(const char *path);

/* Load a schema file.  want/nwant: the type or entity-set names whose properties must be
 * materialised (with every type they reference); want == NULL materialises everything.
 * Returns 0 and sets *out, or -1 with *err filled (file, line, column, text). */
int schema_load(schema **out, const char *path, schema_format fmt,
                const char *const *want, size_t nwant, schema_error *err);
/* The same from a buffer (for fuzzers and tests); name is what errors call the file. */
int schema_load_mem(schema **out, const char *data, size_t len, const char *name,
                    schema_format fmt, const char *const *want, size_t nwant,
                    schema_error *err);
void schema_free(schema *s);

schema_format schema_get_format(const schema *s);
const char *schema_get_path(const schema *s);

/* Every type name in the document (entity types and complex types), materialised or not. */
size_t schema_type_count(const schema *s);
const char *schema_type_name(const schema *s, size_t i);
bool schema_type_is_entity(const schema *s, size_t i);

/* Entity sets (CSDL EntityContainer; OpenAPI: list routes "GET /M/Xs" returning paged X). */
size_t schema_set_count(const schema *s);
const char *schema_set_name(const schema *s, size_t i);
const char *schema_set_type(const schema *s, size_t i);   /* unqualified type name */

/* Find a materialised type by type name or entity set name (case-sensitive).  NULL when the
 * name is unknown or its type was not materialised; schema_knows_name() tells which. */
const schema_type *schema_find_type(const schema *s, const char *name);
bool schema_knows_name(const schema *s, const char *name);
/* Entity set name for a type name, or the type name for a set name; NULL if none. */
const char *schema_set_for_type(const schema *s, const char *type_name);
const char *schema_type_for_set(const schema *s, const char *set_name);

size_t schema_enum_count(const schema *s);
const schema_enum *schema_enum_at(const schema *s, size_t i);
const schema_enum *schema_find_enum(const schema *s, const char *name); /* qualified or not */

const schema_prop *schema_type_find_prop(const schema_type *t, const char *name);
const schema_nav *schema_type_find_nav(const schema_type *t, const char *name);
bool schema_enum_has_member(const schema_enum *e, const char *member);

const char *schema_kind_name(schema_kind k);   /* "string", "decimal", ... */

#ifdef __cplusplus
}
#endif
#endif
