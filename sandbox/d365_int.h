/* d365_int.h - internals shared by the D365 emulator's files (not a public interface):
 *   d365.c        server, routing, auth (tokens), control routes
 *   d365_store.c  SQLite rows, keys, etags, number sequences, entity defaults and validation
 *   d365_query.c  $filter parsing/evaluation, $orderby, collection and entity reads
 *   d365_data.c   one OData operation (GET/POST/PATCH/PUT/DELETE) on /data, shared by the
 *                 plain routes and $batch
 *   d365_batch.c  multipart/mixed $batch
 *   d365_rules.c  seeding, business rules, life after the order (ship, invoice, return)
 * Every function that touches the store must be called with srv->mu held. */
#ifndef SANDBOX_D365_INT_H
#define SANDBOX_D365_INT_H

#include "d365.h"
#include "sb_faults.h"
#include "sb_stats.h"
#include "seed.h"
#include "schema.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <time.h>

#define D365_NS "Microsoft.Dynamics.DataEntities"
#define D365_T_WRITE "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
#define D365_T_ODATA "Microsoft.OData.ODataException"
#define D365_T_AUTH "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataUnauthorizedException"
#define D365_EMPTY_DATE "1900-01-01T12:00:00Z"      /* AXType Date: dates sit at noon */
#define D365_EMPTY_DATETIME "1900-01-01T00:00:00Z"  /* AXType UtcDateTime */

typedef struct d365_token {
    char *token;
    char *audience;
    time_t expires;
    bool revoked;
} d365_token;

struct d365_server {
    d365_options opt;
    char *metadata_path;
    schema *sch;
    struct MHD_Daemon *mhd;
    unsigned port;
    char base_url[64];       /* http://127.0.0.1:PORT */
    char *tmpdir;            /* owned temporary data dir, removed on stop */
    char *db_path;
    sqlite3 *db;
    pthread_mutex_t mu;      /* the store */
    pthread_mutex_t tok_mu;  /* the tokens */
    d365_token *tokens;
    size_t ntokens, captokens;
    sb_faults *faults;
    sb_stats *stats;
    seed_catalog *cat;
    unsigned long long rand_state;
    int stopping;            /* set by stop: hung requests wake up */
    struct {
        char *sql;
        sqlite3_stmt *st;
    } stmts[64];             /* prepared statements, cached for the server's life */
    size_t nstmts;
    struct d365_order_cache *orders; /* d365_store_scan_ordered's sorted row ids */
    struct {
        const schema_type *type;
        char **texts;            /* JSON text of each property's default */
    } defaults[128];
    size_t ndefaults;
};

typedef struct d365_arg {
    char *name;
    char *value;
} d365_arg;

/* One OData operation, from a plain request or from a $batch part. */
typedef struct d365_op {
    const char *method;
    char *path;              /* decoded path after /data/ ("CustomersV3(...)") */
    d365_arg *args;
    size_t nargs;
    const char *if_match;
    const char *content_type;
    const char *body;
    size_t len;
    const char *prefer;
} d365_op;

typedef struct d365_resp {
    unsigned status;
    json_t *json;            /* body, or NULL */
    char *text;              /* plain body (e.g. $count), or NULL */
    bool text_is_json;       /* text is a JSON document (a rendered collection) */
    char etag[128];
    char location[1024];
    char route[256];         /* normalised route for stats */
} d365_resp;

/* --- d365_data.c --- */
void d365_resp_clear(d365_resp *r);
/* The F&O error body: {"error":{"code":"","message":"An error has occurred.","innererror":
 * {"message":msg,"type":type,"stacktrace":""}}} */
void d365_error(d365_resp *r, unsigned status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *d365_op_arg(const d365_op *op, const char *name);
/* Execute one op (srv->mu held; the caller owns the transaction). */
void d365_data_exec(d365_server *srv, const d365_op *op, d365_resp *r);
bool d365_is_write(const char *method);

/* --- d365_batch.c --- */
/* Run a $batch body; fills r->text with the multipart response and sets *ctype_out to a
 * malloc'd content type.  Takes srv->mu itself. */
void d365_batch_exec(d365_server *srv, const char *content_type, const char *body, size_t len,
                     d365_resp *r, char **ctype_out);

/* --- d365_store.c --- */
int d365_store_open(d365_server *srv, char *err, size_t errlen);
void d365_store_close(d365_server *srv);
/* The prepared statement for sql (cached; reset with bindings cleared), NULL on error.  Hand
 * it back with d365_stmt_done, never finalize it. */
sqlite3_stmt *d365_stmt(d365_server *srv, const char *sql);
void d365_stmt_done(d365_server *srv, sqlite3_stmt *st);
int d365_store_begin(d365_server *srv);
int d365_store_commit(d365_server *srv);
void d365_store_rollback(d365_server *srv);
/* Canonical key of an entity (malloc'd): JSON array of the key values in key order.  NULL when
 * the type is keyless or a key value is missing. */
char *d365_key_of(const schema_type *t, const json_t *ent);
/* Parse "(dataAreaId='usmf',SalesOrderNumber='SO-1')" (text between the parentheses) into an
 * object of key values typed by the schema.  Returns NULL with msg filled on error. */
json_t *d365_key_parse(const schema_type *t, const char *text, char *msg, size_t msglen);
/* "/data/Set(k1='v1',k2=2)" URL path (percent-encoded) of an entity, malloc'd. */
char *d365_key_url(const schema_type *t, const json_t *ent);
/* 1 found (ent new ref, ver), 0 not found, -1 error */
int d365_store_get(d365_server *srv, const char *set, const char *key, json_t **ent,
                   long long *ver);
/* 0 ok, 1 duplicate key, -1 error */
int d365_store_insert(d365_server *srv, const char *set, const char *area, const char *key,
                      const json_t *ent);
int d365_store_update(d365_server *srv, const char *set, const char *key, const json_t *ent,
                      long long *ver);
int d365_store_delete(d365_server *srv, const char *set, const char *key);
/* Every row of a set (area NULL: every company), in insertion order: an array of
 * [entity, version] pairs (new ref), or NULL on error. */
json_t *d365_store_scan(d365_server *srv, const char *set, const char *area);
/* The same, `limit` rows from `offset` (insertion order); and the number of rows. */
json_t *d365_store_scan_range(d365_server *srv, const char *set, const char *area,
                              long long offset, long long limit);
long long d365_store_count(d365_server *srv, const char *set, const char *area);
/* One $orderby term: the property, its direction, its default (what an absent value sorts as). */
typedef struct d365_order {
    const char *field;
    bool desc;
    const json_t *defv;
} d365_order;
/* `limit` rows from `offset` of the set ordered by keys, then insertion order, in exactly the
 * order of d365_query.c's cmp_items (SQLite sorts, the sorted ids are kept until the next write
 * to the store, only the page's rows are parsed); NULL on error. */
json_t *d365_store_scan_ordered(d365_server *srv, const char *set, const char *area,
                                const d365_order *keys, size_t nkeys, long long offset,
                                long long limit);
/* Rows of `set` whose `field` equals `value` (string compare on the stored JSON). */
json_t *d365_store_find(d365_server *srv, const char *set, const char *area, const char *field,
                        const char *value);
/* Is `field` indexed (d365_store_find on it does not scan the set)? */
bool d365_store_indexed(const char *field);
/* Next number of a named sequence (1, 2, ...). */
long long d365_store_next(d365_server *srv, const char *name);
void d365_etag(char *out, size_t outlen, const char *key, long long ver);

/* Default value of a property, F&O style (new ref). */
json_t *d365_prop_default(const schema_prop *p);
/* Is v (NULL: absent) the property's default?  Stored entities omit default values: every
 * reader treats an absent property as its default. */
bool d365_is_default(const schema_prop *p, const json_t *v);
/* Whole entity of defaults (new ref). */
json_t *d365_entity_defaults(const schema_type *t);
/* Check and normalise one value for property p; returns the value to store (new ref) or NULL
 * with msg filled. */
json_t *d365_coerce(const schema_prop *p, const json_t *v, char *msg, size_t msglen);
/* Parse an ISO 8601 date/time; returns 0 and seconds since the epoch, -1 when malformed. */
int d365_parse_datetime(const char *s, long long *out);
void d365_format_datetime(char *out, size_t len, long long t);
/* "Microsoft.Dynamics.DataEntities.X" for a type */
const char *d365_qualified(const schema_type *t);

/* --- d365_query.c --- */
typedef struct d365_filter d365_filter;
d365_filter *d365_filter_parse(const schema *sch, const schema_type *t, const char *text,
                               char *msg, size_t msglen);
bool d365_filter_match(const d365_filter *f, const json_t *ent);
/* An equality the filter requires (top-level and-chain: Field eq 'literal' without wildcard)
 * on a field the store indexes: lets a query fetch candidates instead of scanning. */
bool d365_filter_probe(const d365_filter *f, const char **field, const char **value);
void d365_filter_free(d365_filter *f);
/* GET on a collection or one entity (ent_key NULL: collection). */
void d365_query_collection(d365_server *srv, const d365_op *op, const schema_type *t,
                           const char *set, bool count_only, d365_resp *r);
/* Add the annotations and apply $select/$expand to one entity for a single-entity reply. */
void d365_query_entity(d365_server *srv, const d365_op *op, const schema_type *t,
                       const char *set, json_t *ent, long long ver, d365_resp *r);

/* GET Set(key)/Navigation: the related entities (collection) or entity. */
void d365_query_nav(d365_server *srv, const d365_op *op, const schema_type *t, const json_t *ent,
                    const char *nav, d365_resp *r);

/* --- d365_rules.c --- */
int d365_seed(d365_server *srv, char *err, size_t errlen);
/* Business rules before a write (op "POST", "PATCH", "PUT"); may change ent.  Returns 0, or -1
 * with r filled with the error. old is the stored entity for updates (else NULL). */
int d365_rules_before(d365_server *srv, const char *set, const schema_type *t, const char *op,
                      json_t *ent, const json_t *old, d365_resp *r);
/* After a committed-to-be write or delete (ent is the new entity, NULL on delete). */
int d365_rules_after(d365_server *srv, const char *set, const schema_type *t, const char *op,
                     const json_t *ent, const json_t *old, d365_resp *r);
/* /_sandbox/ship|invoice|return (srv->mu held, transaction open). */
void d365_rules_control(d365_server *srv, const char *action, const char *company,
                        const char *order, d365_resp *r);
/* Fill a new entity of `set` from defaults + `fields` and insert it (internal writes). Returns
 * the stored entity (new ref) or NULL. */
json_t *d365_rules_insert(d365_server *srv, const char *set, json_t *fields);
/* Number-sequence value for a key field, e.g. "SO-000001". */
char *d365_next_number(d365_server *srv, const char *field, const char *company);

/* Helpers */
bool d365_has_prop(const schema_type *t, const char *name);
void d365_set_if(const schema_type *t, json_t *ent, const char *name, json_t *v);
double d365_num(const json_t *ent, const char *name);
const char *d365_str(const json_t *ent, const char *name);
double d365_round2(double v);

#endif
