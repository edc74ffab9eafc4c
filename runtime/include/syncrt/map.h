/* map.h - the generic, descriptor-driven runtime behind mapc's generated mappers.
 *
 * mapc emits, per .map file, typed structs (one per schema type a map reads or writes, only the
 * fields it uses, each with a presence byte), static const descriptor tables describing them
 * (syncrt_mtype / syncrt_mfield), the mapper and check code of each map as calls on values
 * (syncrt_mv), and thin typed wrappers over the generic functions below:
 *
 *   syncrt_mdecode()    JSON text -> struct, every problem reported with its exact JSON path
 *                       ("$.SalesItems[3].Quantity: expected number, got string \"abc\"")
 *   syncrt_mvalidate()  schema constraints of a mapped target struct (nullability, enum
 *                       membership, MaxLength, Precision/Scale)
 *   syncrt_mencode()    struct -> the JSON the target system expects (F&O or Clarity style)
 *   syncrt_mrun()       all of it for one record of one map
 *
 * Decimals never go through binary floating point: the decoder reads number text itself
 * (syncrt/decimal.h).  All memory of one record lives in the context's arena; reset the context
 * between records.  Problems are collected in the context (syncrt_mctx_error_*), never printed.
 *
 * The builtins of the .map language (specs/language.md) are the syncrt_fn_* functions. */
#ifndef SYNCRT_MAP_H
#define SYNCRT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "syncrt/decimal.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- stored values ---- */
typedef struct syncrt_str {
    const char *p;     /* UTF-8, not NUL-terminated */
    size_t n;
} syncrt_str;

typedef struct syncrt_list {
    void *items;       /* structs (lists of objects) or syncrt_mv (lists of scalars) */
    size_t n;
} syncrt_list;

typedef int32_t syncrt_date;        /* days since 1970-01-01 */
typedef int64_t syncrt_datetime;    /* milliseconds since 1970-01-01T00:00:00Z */

/* Presence bytes (has_X in generated structs). */
#define SYNCRT_ABSENT 0
#define SYNCRT_PRESENT 1
#define SYNCRT_NULL 2
/* A `ref` placeholder (syncrt_fn_ref): the value slot holds a const char * to the placeholder's
 * JSON text, encoded as it is and resolved by the engine before sending (docs/codegen.md). */
#define SYNCRT_REF 3

/* ---- descriptors ---- */
typedef enum syncrt_mkind {
    SYNCRT_MK_STRING,    /* syncrt_str (also guid, time, binary: kept as text) */
    SYNCRT_MK_INT,       /* int64_t */
    SYNCRT_MK_DECIMAL,   /* syncrt_decimal */
    SYNCRT_MK_BOOL,      /* unsigned char 0/1 */
    SYNCRT_MK_DATE,      /* syncrt_date */
    SYNCRT_MK_DATETIME,  /* syncrt_datetime */
    SYNCRT_MK_ENUM,      /* syncrt_str: the member name */
    SYNCRT_MK_OBJECT,    /* pointer to the struct described by .object */
    SYNCRT_MK_LIST,      /* syncrt_list of .elem_kind (objects: structs of .object) */
    SYNCRT_MK_ANY        /* syncrt_str: the raw JSON text of the value */
} syncrt_mkind;

#define SYNCRT_MF_REQUIRED 1u   /* a source record must carry it (non-null) */
#define SYNCRT_MF_NULLABLE 2u   /* a target may send null */
#define SYNCRT_MF_AXDATE 4u     /* F&O DateTimeOffset holding a date: "YYYY-MM-DDT12:00:00Z" */
#define SYNCRT_MF_INT32 8u      /* 32-bit integer in the schema */

typedef struct syncrt_mtype syncrt_mtype;

typedef struct syncrt_mfield {
    const char *name;               /* JSON member name */
    unsigned char kind;             /* syncrt_mkind */
    unsigned char elem_kind;        /* SYNCRT_MK_LIST: the element kind */
    unsigned short flags;           /* SYNCRT_MF_* */
    size_t offset;                  /* of the value in the struct */
    size_t has_offset;              /* of the presence byte */
    const syncrt_mtype *object;     /* OBJECT, LIST of OBJECT */
    const char *enum_name;          /* ENUM (or LIST of ENUM) */
    const char *const *members;
    size_t nmembers;
    int max_length, precision, scale;   /* -1 when the schema does not state them */
} syncrt_mfield;

#define SYNCRT_MFLAVOR_ODATA 0      /* F&O: enum names, T12:00:00Z dates, 1900-01-01 for null */
#define SYNCRT_MFLAVOR_OPENAPI 1    /* Clarity: empty values omitted */

struct syncrt_mtype {
    const char *name;               /* schema type name */
    size_t size;                    /* sizeof the struct */
    size_t nfields;
    const syncrt_mfield *fields;
    int flavor;                     /* SYNCRT_MFLAVOR_* */
};

/* ---- the per-record context: arena and collected problems ---- */
typedef struct syncrt_merror {
    char *path;                     /* "$.SalesItems[3].Quantity", "OrderHeader.CurrencyCode" */
    char *message;
} syncrt_merror;

typedef struct syncrt_mchunk syncrt_mchunk;

typedef struct syncrt_mctx {
    syncrt_mchunk *chunks;
    syncrt_merror *errors;
    size_t nerrors, caperrors;
    size_t max_errors;              /* further problems are counted, not kept (default 100) */
    size_t dropped;
    int64_t now_ms;                 /* now(): fixed per record; 0 = read the clock */
    bool oom;                       /* an allocation failed: the record is lost */
    const char *prefix;             /* prepended to problem paths: "SalesOrderLines[2]: $.Sku" */
    /* `where`: the text of the condition that left the record out (the map returned
     * SYNCRT_EFILTERED), else NULL; and one note per record or child element a where left out
     * ("SalesOrderLines[1]: OrderLine: filtered: i.Quantity > 0"), kept like the problems */
    const char *filtered;
    syncrt_merror *notes;
    size_t nnotes, capnotes;
} syncrt_mctx;

void syncrt_mctx_init(syncrt_mctx *c);
/* Forget the record: frees the arena (but the first chunk) and the errors. */
void syncrt_mctx_reset(syncrt_mctx *c);
void syncrt_mctx_free(syncrt_mctx *c);
void *syncrt_mctx_alloc(syncrt_mctx *c, size_t n);          /* zeroed; NULL sets oom */
void syncrt_mctx_error(syncrt_mctx *c, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
size_t syncrt_mctx_error_count(const syncrt_mctx *c);
/* "PATH: MESSAGE" (or MESSAGE when the path is empty) of problem i, in the arena. */
const char *syncrt_mctx_error_text(syncrt_mctx *c, size_t i);
/* The notes of the record (what a `where` left out), as the problems. */
size_t syncrt_mctx_note_count(const syncrt_mctx *c);
const char *syncrt_mctx_note_text(syncrt_mctx *c, size_t i);

/* ---- output buffer ---- */
typedef struct syncrt_mbuf {
    char *p;
    size_t n, cap;
    bool oom;
} syncrt_mbuf;

void syncrt_mbuf_init(syncrt_mbuf *b);
void syncrt_mbuf_free(syncrt_mbuf *b);
void syncrt_mbuf_put(syncrt_mbuf *b, const char *s, size_t n);

/* ---- the generic engine ---- */
/* Decode one JSON object into *out (a struct of type t, allocated in the arena).  Returns
 * SYNCRT_OK, or SYNCRT_EPARSE after recording every problem. */
syncrt_status syncrt_mdecode(syncrt_mctx *c, const syncrt_mtype *t, const char *json, size_t len,
                             void **out);
/* Check a mapped target; root names it in paths (the map's name). */
syncrt_status syncrt_mvalidate(syncrt_mctx *c, const syncrt_mtype *t, const void *obj,
                               const char *root);
/* Append the target's JSON object to out. */
syncrt_status syncrt_mencode(syncrt_mbuf *out, const syncrt_mtype *t, const void *obj);

typedef struct syncrt_mmap {
    const char *name;
    const syncrt_mtype *src, *dst;
    void (*map)(syncrt_mctx *c, const void *src, void *dst);   /* assignments and checks */
} syncrt_mmap;

/* Decode, map, validate and encode one record (appended to out).  SYNCRT_EPARSE when
 * decoding failed, SYNCRT_EINVAL when mapping or validation found problems (all recorded in
 * c), SYNCRT_EFILTERED when a `where` of the map is false (nothing mapped or written; the
 * condition's text in c->filtered), SYNCRT_ENOMEM. */
syncrt_status syncrt_mrun(syncrt_mctx *c, const syncrt_mmap *m, const char *json, size_t len,
                          syncrt_mbuf *out);
/* Map one decoded source and validate the result: *dst is allocated in the arena.
 * SYNCRT_EFILTERED (not validated) when a `where` left the record out without a problem. */
syncrt_status syncrt_mapply(syncrt_mctx *c, const syncrt_mmap *m, const void *src, void **dst);

/* ---- values of expressions ---- */
typedef enum syncrt_mvkind {
    SYNCRT_MV_ABSENT = 0,
    SYNCRT_MV_NULL,       /* the literal null: absent, but sent as null when assigned */
    SYNCRT_MV_STRING,     /* also enum members */
    SYNCRT_MV_INT,
    SYNCRT_MV_DECIMAL,
    SYNCRT_MV_BOOL,
    SYNCRT_MV_DATE,
    SYNCRT_MV_DATETIME,
    SYNCRT_MV_OBJECT,
    SYNCRT_MV_LIST,
    SYNCRT_MV_REF         /* a ref placeholder: u.s is its JSON text (syncrt_fn_ref) */
} syncrt_mvkind;

typedef struct syncrt_mv {
    int kind;                       /* syncrt_mvkind */
    union {
        syncrt_str s;
        int64_t i;
        syncrt_decimal d;
        int b;
        syncrt_date date;
        syncrt_datetime dt;
        struct { const void *p; const syncrt_mtype *t; } o;
        /* t != NULL: structs of t; else syncrt_mv elements */
        struct { const void *items; size_t n; const syncrt_mtype *t; } l;
    } u;
} syncrt_mv;

syncrt_mv syncrt_mv_absent(void);
syncrt_mv syncrt_mv_null(void);
syncrt_mv syncrt_mv_str(const char *p, size_t n);
syncrt_mv syncrt_mv_int(int64_t v);
syncrt_mv syncrt_mv_bool(int v);
syncrt_mv syncrt_mv_dec_text(syncrt_mctx *c, const char *text);
syncrt_mv syncrt_mv_date_text(syncrt_mctx *c, const char *text);       /* "2026-07-30" */
syncrt_mv syncrt_mv_datetime_text(syncrt_mctx *c, const char *text);   /* ISO-8601 */
syncrt_mv syncrt_mv_obj(const void *p, const syncrt_mtype *t);
int syncrt_mv_present(syncrt_mv v);       /* not absent, not null */
int syncrt_mv_true(syncrt_mv v);          /* a present true */

syncrt_mv syncrt_mv_get(syncrt_mctx *c, syncrt_mv obj, size_t field);
syncrt_mv syncrt_mv_project(syncrt_mctx *c, syncrt_mv list, size_t field);
syncrt_mv syncrt_mv_index(syncrt_mctx *c, syncrt_mv list, syncrt_mv index);

typedef enum syncrt_mop {
    SYNCRT_OP_NEG, SYNCRT_OP_NOT,
    SYNCRT_OP_ADD, SYNCRT_OP_SUB, SYNCRT_OP_MUL, SYNCRT_OP_DIV, SYNCRT_OP_CONCAT,
    SYNCRT_OP_EQ, SYNCRT_OP_NE, SYNCRT_OP_LT, SYNCRT_OP_LE, SYNCRT_OP_GT, SYNCRT_OP_GE
} syncrt_mop;

syncrt_mv syncrt_mv_unop(syncrt_mctx *c, int op, syncrt_mv a);
syncrt_mv syncrt_mv_binop(syncrt_mctx *c, int op, syncrt_mv a, syncrt_mv b);
int syncrt_mv_equal(syncrt_mv a, syncrt_mv b);   /* match labels */

/* Store v into field path[0].path[1]... of a target struct (nested objects allocated).  An
 * absent value stores nothing; null stores SYNCRT_NULL; int -> decimal and date -> datetime
 * (12:00:00Z) convert. */
void syncrt_mv_put(syncrt_mctx *c, const syncrt_mtype *t, void *obj, const size_t *path,
                   size_t depth, syncrt_mv v);

/* ---- lookup tables ---- */
typedef struct syncrt_mtable_entry {
    const char *key;
    const char *value;      /* literal text: "WH-01", "12.5", "true", "2026-07-30" */
} syncrt_mtable_entry;

typedef struct syncrt_mtable {
    const char *name;
    int value_kind;         /* SYNCRT_MV_STRING/INT/DECIMAL/BOOL/DATE/DATETIME */
    size_t n;
    const syncrt_mtable_entry *entries;   /* sorted by key (bytewise) */
} syncrt_mtable;

syncrt_mv syncrt_mv_lookup(syncrt_mctx *c, const syncrt_mtable *t, syncrt_mv key);

/* ---- builtins (specs/language.md, "Builtins") ---- */
syncrt_mv syncrt_fn_upper(syncrt_mctx *c, syncrt_mv s);
syncrt_mv syncrt_fn_lower(syncrt_mctx *c, syncrt_mv s);
syncrt_mv syncrt_fn_trim(syncrt_mctx *c, syncrt_mv s);
syncrt_mv syncrt_fn_substr(syncrt_mctx *c, syncrt_mv s, syncrt_mv start, syncrt_mv len);
syncrt_mv syncrt_fn_replace(syncrt_mctx *c, syncrt_mv s, syncrt_mv from, syncrt_mv to);
syncrt_mv syncrt_fn_concat(syncrt_mctx *c, size_t n, const syncrt_mv *args);
syncrt_mv syncrt_fn_join(syncrt_mctx *c, syncrt_mv list, syncrt_mv sep);
syncrt_mv syncrt_fn_text(syncrt_mctx *c, syncrt_mv x);
/* what names the argument in the error ("$.CustomKey"). */
syncrt_mv syncrt_fn_number(syncrt_mctx *c, syncrt_mv s, const char *what);
syncrt_mv syncrt_fn_round(syncrt_mctx *c, syncrt_mv x, int places, int trunc);  /* places < 0: to int */
syncrt_mv syncrt_fn_date(syncrt_mctx *c, syncrt_mv x, const char *pattern, const char *what);
syncrt_mv syncrt_fn_datetime(syncrt_mctx *c, syncrt_mv x, const char *pattern, const char *what);
syncrt_mv syncrt_fn_format(syncrt_mctx *c, syncrt_mv d, const char *pattern);
syncrt_mv syncrt_fn_now(syncrt_mctx *c);
syncrt_mv syncrt_fn_convert(syncrt_mctx *c, syncrt_mv amount, syncrt_mv from, syncrt_mv to,
                            const syncrt_mtable *rates);
syncrt_mv syncrt_fn_iso2(syncrt_mctx *c, syncrt_mv country);
syncrt_mv syncrt_fn_iso3(syncrt_mctx *c, syncrt_mv country);
syncrt_mv syncrt_fn_country(syncrt_mctx *c, syncrt_mv country);
syncrt_mv syncrt_fn_region(syncrt_mctx *c, syncrt_mv country, syncrt_mv region);
syncrt_mv syncrt_fn_postal(syncrt_mctx *c, syncrt_mv code, syncrt_mv country);
syncrt_mv syncrt_fn_sum(syncrt_mctx *c, syncrt_mv list, int decimal);
syncrt_mv syncrt_fn_count(syncrt_mctx *c, syncrt_mv list);
/* same == (size_t)-1: no SAME field. */
syncrt_mv syncrt_fn_merge(syncrt_mctx *c, syncrt_mv list, size_t key, size_t qty, size_t same);
syncrt_mv syncrt_fn_yesno(syncrt_mctx *c, syncrt_mv b);
syncrt_mv syncrt_fn_required(syncrt_mctx *c, syncrt_mv x, const char *what);
/* `ref SET by BY (key) .GET`: the placeholder {"$ref":{"route":ROUTE,"by":BY,"value":key,
 * "get":GET}} (a SYNCRT_MV_REF value) the engine replaces with GET of the ROUTE record whose
 * BY is key (docs/codegen.md); absent when the key is absent (a required target field then
 * says so). */
syncrt_mv syncrt_fn_ref(syncrt_mctx *c, syncrt_mv key, const char *route, const char *by,
                        const char *get);
void syncrt_fn_check(syncrt_mctx *c, syncrt_mv cond, const char *map, const char *message);
/* A `where` of map: 1 when cond is a present true; else 0, c->filtered = text and a note
 * "MAP: filtered: TEXT" (with c->prefix): the mapper stops and the record is left out. */
int syncrt_fn_where(syncrt_mctx *c, syncrt_mv cond, const char *map, const char *text);
/* any(list): a present true among the elements (a list of bool); all(list): no element that
 * is not a present true (true for an empty or absent list).  Never absent. */
syncrt_mv syncrt_fn_any(syncrt_mctx *c, syncrt_mv list);
syncrt_mv syncrt_fn_all(syncrt_mctx *c, syncrt_mv list);

/* ---- ISO 3166-1 (iso3166.c) ---- */
typedef struct syncrt_country {
    const char *alpha2, *alpha3, *name;
} syncrt_country;
/* By alpha-2, alpha-3 or English name (case and white space insensitive); NULL if unknown. */
const syncrt_country *syncrt_country_find(const char *s, size_t n);
size_t syncrt_country_count(void);
const syncrt_country *syncrt_country_at(size_t i);
/* ISO 3166-2 subdivision code (without the country prefix) of a code or English name, for
 * the countries the table covers (US, CA, AU, DE, GB nations); NULL if unknown. */
const char *syncrt_region_find(const char *alpha2, const char *s, size_t n);

/* Dates (days since the epoch) and their text. */
syncrt_date syncrt_date_from_ymd(int y, int m, int d);
void syncrt_date_to_ymd(syncrt_date days, int *y, int *m, int *d);
/* ISO-8601: a date, or date 'T' HH:MM[:SS[.fff]] [Z|+hh:mm|-hh:mm] (no zone: UTC).
 * *local_date is the date as written, *date_only tells a bare date.  false: malformed. */
bool syncrt_parse_iso(const char *s, size_t n, syncrt_datetime *out, syncrt_date *local_date,
                      bool *date_only);
/* "2026-07-30" / "2026-07-30T14:05:00Z" (".mmm" when there are milliseconds); buf >= 32. */
size_t syncrt_format_date(syncrt_date d, char *buf);
size_t syncrt_format_datetime(syncrt_datetime t, char *buf);

#ifdef __cplusplus
}
#endif
#endif
