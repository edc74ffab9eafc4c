/* ast.h - the abstract syntax tree of a .map file.
 *
 * Every node carries a location (mapc_loc: file id and byte span, turned into line:col by
 * diag.c).  The parser builds the tree only through the ast_new_* constructors below; the
 * checker (check.c) then fills the "resolved" fields: the schema type of each map's source and
 * target, the schema property behind each assignment and path step, the builtin behind each
 * call, and a mapc_type on every expression node.  Code generation reads the checked tree.
 *
 * Ownership: a node owns its children and strings; ast_free_*() frees a whole subtree.  The
 * resolved pointers point into schemas and other nodes and are never freed through the AST. */
#ifndef MAPC_AST_H
#define MAPC_AST_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growable vector of owned pointers; free_item releases one element. */
typedef struct ast_vec {
    void **items;
    size_t n, cap;
    void (*free_item)(void *);
} ast_vec;

/* ---- types of expressions (filled by the checker) ---- */
typedef enum mapc_tkind {
    MT_ERROR,      /* an error was already reported: stay quiet */
    MT_NULL,       /* the literal null */
    MT_STRING,
    MT_INT,
    MT_DECIMAL,
    MT_BOOL,
    MT_DATE,
    MT_DATETIME,
    MT_TIME,
    MT_GUID,
    MT_BINARY,
    MT_ENUM,       /* a member of enumt */
    MT_ANYENUM,    /* enum(s): checked against the target enum at run time */
    MT_NOYES,      /* yesno(b): fits any enum with members No and Yes */
    MT_OBJECT,     /* object, complex type: object (NULL when not materialised) */
    MT_LIST,       /* list whose element type is elem */
    MT_ANY         /* untyped schema value */
} mapc_tkind;

typedef struct mapc_type {
    mapc_tkind kind;
    bool optional;                 /* may be absent at run time */
    const schema_enum *enumt;      /* MT_ENUM */
    const schema_type *object;     /* MT_OBJECT */
    const schema_typeref *elem;    /* MT_LIST */
} mapc_type;

const char *mapc_tkind_name(mapc_tkind k);

/* ---- expressions ---- */
typedef enum ast_expr_kind {
    AE_STRING,     /* text: the unescaped value */
    AE_INT,        /* text: the digits as written */
    AE_DECIMAL,    /* text: as written ("12.50" stays "12.50") */
    AE_BOOL,       /* bval */
    AE_NULL,
    AE_DATE,       /* text without the '@': "2026-07-30" or "2026-07-30T12:00:00Z" */
    AE_NAME,       /* text: a bare name (the map's variable, a table, a field argument) */
    AE_FIELD,      /* a.text */
    AE_INDEX,      /* a[b]: list index or table lookup */
    AE_CALL,       /* text(args) */
    AE_UNARY,      /* op a */
    AE_BINARY,     /* a op b */
    AE_IF,         /* if a then b else c */
    AE_MATCH,      /* match a { cases } (args holds ast_case*), c = else value or NULL */
    AE_REF         /* ref SCHEMA.Set by Field (a) .Get: refset, text = Get, by = Field */
} ast_expr_kind;

typedef enum ast_op {
    OP_NEG, OP_NOT,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_CONCAT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
    OP_AND, OP_OR, OP_COALESCE
} ast_op;

const char *ast_op_text(ast_op op);

/* What a name, path step, index or call turned out to be. */
typedef enum ast_ref_kind {
    REF_NONE,
    REF_VAR,       /* AE_NAME: the map's source variable (or the row of a flow's child list) */
    REF_TABLE,     /* AE_NAME: a table (only as the base of AE_INDEX) */
    REF_PROP,      /* AE_FIELD: a property of an object (prop) */
    REF_PROJECT,   /* AE_FIELD: a property of each element of a list (prop) */
    REF_INDEX,     /* AE_INDEX: list element */
    REF_LOOKUP,    /* AE_INDEX: table lookup (table) */
    REF_BUILTIN,   /* AE_CALL (builtin) */
    REF_FIELDARG   /* AE_NAME used as a field-name argument of a builtin (prop) */
} ast_ref_kind;

struct mapc_builtin;
struct ast_decl;
struct ast_qname;

typedef struct ast_expr ast_expr;
struct ast_expr {
    ast_expr_kind kind;
    mapc_loc loc;                  /* the whole expression */
    char *text;
    mapc_loc name_loc;             /* AE_FIELD: the field name; AE_CALL: the callee */
    ast_op op;
    bool bval;
    ast_expr *a, *b, *c;
    ast_vec args;                  /* AE_CALL: ast_expr*; AE_MATCH: ast_case* */
    /* resolved: type is set on every node the checker reached; a table name (REF_TABLE)
     * and a field-name argument (REF_FIELDARG: type of that field) are not values */
    mapc_type type;
    ast_ref_kind ref;
    const schema_prop *prop;
    const struct ast_decl *table;
    const struct mapc_builtin *builtin;
    /* AE_REF: the referenced entity set, the field it is looked up by (by, by_loc), and the
     * resolved set type, by-field, got field (prop) and the schema that holds them */
    struct ast_qname *refset;
    char *by;
    mapc_loc by_loc;
    const schema_type *ref_type;
    const schema_prop *by_prop;
    const schema *ref_schema;
};

typedef struct ast_case {
    mapc_loc loc;
    ast_vec labels;                /* literal ast_expr* */
    ast_expr *value;
} ast_case;

/* ---- names ---- */
typedef struct ast_qname {         /* SCHEMA.Name */
    char *schema;
    char *name;
    mapc_loc loc, schema_loc, name_loc;
} ast_qname;

typedef struct ast_path {          /* Field or Field.Sub.Sub on the left of '=' */
    size_t n;
    char **names;
    mapc_loc *locs;
    mapc_loc loc;
} ast_path;

/* ---- map items ---- */
typedef enum ast_item_kind {
    AI_ASSIGN,
    AI_CHECK,
    AI_GENERATED,
    AI_GROUP,          /* the `on create` keywords of an item group (ast_decl.create_groups) */
    AI_WHERE           /* where COND (ast_decl.wheres): value is COND, message its source text */
} ast_item_kind;

typedef struct ast_item {
    ast_item_kind kind;
    mapc_loc loc;
    ast_path *path;                /* AI_ASSIGN, AI_GENERATED */
    ast_expr *value;               /* AI_ASSIGN: the value; AI_CHECK: the condition */
    char *message;                 /* AI_CHECK; AI_WHERE: the condition as written (blanks
                                      collapsed, comments dropped), the filter's reason */
    mapc_loc message_loc;
    /* inside `on create { ... }`: sent only when the record is created; group_loc is the
     * group's `on create` (AI_GROUP: on_create marks a group nested in another, reported) */
    bool on_create;
    mapc_loc group_loc;
    /* resolved: the target property of each path step (path->n entries) */
    const schema_prop **props;
} ast_item;

typedef enum ast_map_mode { MODE_CREATE, MODE_UPDATE, MODE_UPSERT } ast_map_mode;
const char *ast_mode_name(ast_map_mode m);

/* ---- table entries ---- */
typedef struct ast_entry {
    char *key;
    mapc_loc key_loc;
    ast_expr *value;               /* a literal */
    int csv_line;                  /* CSV tables: the line of the file, else 0 */
} ast_entry;

/* ---- flows ---- */
typedef struct ast_child {         /* with SET from EXPR by MAP */
    mapc_loc loc;
    ast_qname *set;
    ast_expr *from;
    char *map;
    mapc_loc map_loc;
    const struct ast_decl *map_decl;   /* resolved */
} ast_child;

typedef enum ast_fitem_kind {
    FI_WEBHOOK,        /* trigger webhook "Entity.Event" (text) */
    FI_POLL,           /* trigger poll SET every D [since NAME] */
    FI_SCHEDULE,       /* trigger schedule every D | trigger schedule "cron" (text) */
    FI_WRITE,          /* write SET by MAP [with ...]* [as one changeset];
                          write OPERATION as bulk MEMBER by MAP (bulk, member) */
    FI_IDEMPOTENT,     /* idempotent by FIELD (name) */
    FI_DEDUP,          /* dedup by P, Q (probes: ast_path*, one per probe, a name per field) */
    FI_RETRY           /* retry N [backoff D..D] */
} ast_fitem_kind;

typedef struct ast_fitem {
    ast_fitem_kind kind;
    mapc_loc loc;
    char *text;                    /* webhook event, cron text */
    mapc_loc text_loc;
    ast_qname *set;                /* poll, write */
    char *every;                   /* duration text: poll, schedule */
    mapc_loc every_loc;
    char *name;                    /* poll: since field; write: map; idempotent: field */
    mapc_loc name_loc;
    ast_vec children;              /* write: ast_child* */
    ast_vec probes;                /* dedup: ast_path* (A + B: names A, B) */
    bool changeset;                /* write ... as one changeset */
    bool bulk;                     /* write OPERATION as bulk MEMBER by MAP: set names the
                                      operation (its path's last segment), member the list
                                      member of its request body the records go into */
    char *member;
    mapc_loc member_loc;
    ast_path *group_by;            /* poll ... group by F, G: the fields (names[], locs[]) whose
                                      equal values make one record of rows; NULL: none */
    char *count;                   /* retry N (digits) */
    mapc_loc count_loc;
    char *backoff_min, *backoff_max;
    mapc_loc backoff_loc;
    /* resolved */
    const struct ast_decl *map_decl;
    char *bulk_method, *bulk_route;    /* bulk: "PUT", "Providers/Inventory/BulkUpdate..." */
    char *bulk_request;                /* bulk: the request body's type name */
    const schema_type *bulk_elem;      /* bulk: the element type of the member list */
    long long every_ms, backoff_min_ms, backoff_max_ms;
    int retries;
} ast_fitem;

/* ---- declarations ---- */
typedef enum ast_decl_kind { AD_SCHEMA, AD_TABLE, AD_MAP, AD_FLOW } ast_decl_kind;

struct mapc_schema_slot;

typedef struct ast_decl {
    ast_decl_kind kind;
    mapc_loc loc;
    char *name;
    mapc_loc name_loc;

    /* AD_SCHEMA */
    schema_format format;
    char *path;                    /* also AD_TABLE csv file */
    mapc_loc path_loc;

    /* AD_TABLE */
    bool csv;
    char *key_col, *value_col;
    mapc_loc key_loc, value_loc;
    ast_vec entries;               /* ast_entry*; for CSV tables filled by the checker */

    /* AD_MAP */
    ast_qname *src, *dst;
    char *var;
    mapc_loc var_loc;
    ast_map_mode mode;
    char *mode_key;                /* upsert by FIELD */
    mapc_loc mode_loc, mode_key_loc;
    ast_vec items;                 /* ast_item* (those of `on create` groups flattened in,
                                      with on_create set) */
    ast_vec create_groups;         /* AI_GROUP ast_item*: each `on create` of the map */
    ast_vec wheres;                /* AI_WHERE ast_item*: the map's filters, in source order
                                      (moved out of items: they set no field) */
    bool group;                    /* `from group of S.Type`: the record is {"value":[row, ...]}
                                      and the variable is that list (list of S.Type) */
    mapc_loc group_loc;

    /* AD_FLOW */
    ast_vec fitems;                /* ast_fitem* */

    /* resolved */
    const struct mapc_schema_slot *schema_slot;   /* AD_SCHEMA */
    const schema_type *src_type, *dst_type;        /* AD_MAP */
    const struct ast_decl *src_schema, *dst_schema;/* AD_MAP */
    mapc_tkind value_kind;                         /* AD_TABLE: MT_STRING/INT/DECIMAL/BOOL */
    /* AD_MAP with group: the synthetic record type "<Type>_group" with one required member
     * `value`, a list of src_type (what is decoded); the variable's type is that list */
    schema_type group_type;
    schema_prop group_value;
    schema_typeref group_elem;
    char *group_name;
    int file_id;
} ast_decl;

typedef struct ast_file {
    int file_id;                   /* diag source id */
    ast_vec decls;                 /* ast_decl* */
} ast_file;

/* ---- vectors ---- */
void ast_vec_init(ast_vec *v, void (*free_item)(void *));
bool ast_vec_push(ast_vec *v, void *item);   /* false when out of memory (item is freed) */
void ast_vec_clear(ast_vec *v);              /* frees the items */
ast_vec *ast_vec_new(void (*free_item)(void *));
void ast_vec_free(ast_vec *v);

/* ---- constructors (used by the parser; NULL only when out of memory) ---- */
ast_expr *ast_new_literal(ast_expr_kind kind, char *text, mapc_loc loc);
/* -DIGITS: a negative AE_INT or AE_DECIMAL literal (digits is the text after the '-'). */
ast_expr *ast_new_negative(ast_expr_kind kind, char *digits, mapc_loc loc);
ast_expr *ast_new_bool(bool value, mapc_loc loc);
ast_expr *ast_new_null(mapc_loc loc);
ast_expr *ast_new_name(char *name, mapc_loc loc);
ast_expr *ast_new_field(ast_expr *base, char *name, mapc_loc name_loc, mapc_loc loc);
ast_expr *ast_new_index(ast_expr *base, ast_expr *index, mapc_loc loc);
ast_expr *ast_new_call(char *name, mapc_loc name_loc, ast_vec *args, mapc_loc loc);
ast_expr *ast_new_unary(ast_op op, ast_expr *a, mapc_loc loc);
ast_expr *ast_new_binary(ast_op op, ast_expr *a, ast_expr *b, mapc_loc loc);
ast_expr *ast_new_if(ast_expr *c, ast_expr *t, ast_expr *e, mapc_loc loc);
ast_expr *ast_new_match(ast_expr *subject, ast_vec *cases, ast_expr *otherwise, mapc_loc loc);
ast_expr *ast_new_ref(struct ast_qname *set, char *by, mapc_loc by_loc, ast_expr *key, char *get,
                      mapc_loc get_loc, mapc_loc loc);
ast_case *ast_new_case(ast_vec *labels, ast_expr *value, mapc_loc loc);

ast_qname *ast_new_qname(char *schema, mapc_loc schema_loc, char *name, mapc_loc name_loc);
ast_path *ast_new_path(char *name, mapc_loc loc);
ast_path *ast_path_append(ast_path *p, char *name, mapc_loc loc);

ast_item *ast_new_assign(ast_path *path, ast_expr *value, mapc_loc loc);
ast_item *ast_new_check(ast_expr *cond, char *message, mapc_loc message_loc, mapc_loc loc);
ast_item *ast_new_generated(ast_path *path, mapc_loc loc);
/* where COND; text is the condition's source text (taken over). */
ast_item *ast_new_where(ast_expr *cond, char *text, mapc_loc loc);
/* Append the items of an `on create { ... }` group (kw_loc: its `on create`) to items: an
 * AI_GROUP item first, then each item marked on_create (items of a nested group keep their
 * own group; a nested AI_GROUP gets on_create).  Frees group; false when out of memory. */
bool ast_items_add_group(ast_vec *items, ast_vec *group, mapc_loc kw_loc);

ast_entry *ast_new_entry(char *key, mapc_loc key_loc, ast_expr *value);

ast_decl *ast_new_schema(char *name, mapc_loc name_loc, schema_format fmt, char *path,
                         mapc_loc path_loc, mapc_loc loc);
ast_decl *ast_new_csv_table(char *name, mapc_loc name_loc, char *path, mapc_loc path_loc,
                            char *key_col, mapc_loc key_loc, char *value_col,
                            mapc_loc value_loc, mapc_loc loc);
ast_decl *ast_new_inline_table(char *name, mapc_loc name_loc, ast_vec *entries, mapc_loc loc);
/* mode_key may be NULL. */
ast_decl *ast_new_map(char *name, mapc_loc name_loc, ast_qname *src, char *var, mapc_loc var_loc,
                      ast_qname *dst, ast_map_mode mode, mapc_loc mode_loc, char *mode_key,
                      mapc_loc mode_key_loc, ast_vec *items, mapc_loc loc);
ast_decl *ast_new_flow(char *name, mapc_loc name_loc, ast_vec *items, mapc_loc loc);

ast_fitem *ast_new_webhook(char *event, mapc_loc event_loc, mapc_loc loc);
ast_fitem *ast_new_poll(ast_qname *set, char *every, mapc_loc every_loc, char *since,
                        mapc_loc since_loc, mapc_loc loc);
ast_fitem *ast_new_schedule(char *every, mapc_loc every_loc, char *cron, mapc_loc cron_loc,
                            mapc_loc loc);
ast_fitem *ast_new_bulk_write(ast_qname *op, char *member, mapc_loc member_loc, char *map,
                              mapc_loc map_loc, mapc_loc loc);
ast_fitem *ast_new_write(ast_qname *set, char *map, mapc_loc map_loc, ast_vec *children,
                         bool changeset, mapc_loc loc);
ast_fitem *ast_new_idempotent(char *field, mapc_loc field_loc, mapc_loc loc);
/* probes: ast_path* (free_item ast_free_path_v), taken over. */
ast_fitem *ast_new_dedup(ast_vec *probes, mapc_loc loc);
ast_fitem *ast_new_retry(char *count, mapc_loc count_loc, char *bmin, char *bmax,
                         mapc_loc backoff_loc, mapc_loc loc);
ast_child *ast_new_child(ast_qname *set, ast_expr *from, char *map, mapc_loc map_loc,
                         mapc_loc loc);

ast_file *ast_new_file(int file_id);
bool ast_file_add(ast_file *f, ast_decl *d);

/* ---- destructors (NULL is fine) ---- */
void ast_free_expr(ast_expr *e);
void ast_free_case(ast_case *c);
void ast_free_qname(ast_qname *q);
void ast_free_path(ast_path *p);
void ast_free_item(ast_item *i);
void ast_free_entry(ast_entry *e);
void ast_free_child(ast_child *c);
void ast_free_fitem(ast_fitem *f);
void ast_free_decl(ast_decl *d);
void ast_free_file(ast_file *f);

/* void* adapters for ast_vec */
void ast_free_expr_v(void *p);
void ast_free_case_v(void *p);
void ast_free_item_v(void *p);
void ast_free_path_v(void *p);
void ast_free_entry_v(void *p);
void ast_free_child_v(void *p);
void ast_free_fitem_v(void *p);
void ast_free_decl_v(void *p);
void ast_free_file_v(void *p);

/* A span covering a..b (same file). */
mapc_loc ast_span(mapc_loc a, mapc_loc b);

#ifdef __cplusplus
}
#endif
#endif
