/*
 * clarity_store.h - the Clarity emulator's SQLite store: one JSON document per record in the
 * table docs(entity, id, custom_key, active, created_ms, updated_ms, doc), indexed on
 * (entity, custom_key) and (entity, updated_ms), in WAL mode.
 *
 * The store is NOT thread-safe by itself: the server serialises every call with its own lock
 * (cs_lock / cs_unlock), which the webhook sender shares for its outbox table.
 *
 * Status convention: 0 / a value on success, -1 on an SQLite error (message via cs_errmsg).
 */
#ifndef SANDBOX_CLARITY_STORE_H
#define SANDBOX_CLARITY_STORE_H

#include <stdint.h>
#include <stddef.h>
#include <sqlite3.h>
#include <jansson.h>

typedef struct clarity_store clarity_store;

/* One extra condition: json_extract(doc, path) IN (values...).  values is a JSON array of
 * strings and/or integers. */
typedef struct cs_cond {
    const char *path;      /* "$.StatusKey" */
    const json_t *values;
} cs_cond;

#define CS_MAX_CONDS 8

typedef struct cs_filter {
    int64_t modified_since_ms; /* > 0: UpdatedDate or CreatedDate >= this */
    int64_t min_created_ms;    /* > 0: CreatedDate >= this (MinDate) */
    int64_t max_created_ms;    /* > 0: CreatedDate <= this (MaxDate) */
    const json_t *ids;         /* array of integers, or NULL */
    const json_t *keys;        /* array of strings (CustomKey), or NULL */
    int active;                /* -1 any, 0 inactive only, 1 active only */
    cs_cond conds[CS_MAX_CONDS];
    int nconds;
} cs_filter;

int cs_open(clarity_store **out, const char *path, char *err, size_t errlen);
void cs_close(clarity_store *s);
sqlite3 *cs_db(clarity_store *s);
const char *cs_errmsg(clarity_store *s);
void cs_lock(clarity_store *s);
void cs_unlock(clarity_store *s);

int cs_begin(clarity_store *s);
int cs_commit(clarity_store *s);
void cs_rollback(clarity_store *s);

/* Highest ID of an entity plus one. */
int64_t cs_next_id(clarity_store *s, const char *entity);
/* Number of records of an entity (any state). */
int64_t cs_count(clarity_store *s, const char *entity);
/* The record (new reference) or NULL when absent. */
json_t *cs_get(clarity_store *s, const char *entity, int64_t id);
/* ID of the record with this CustomKey (active ones only when active_only), 0 when none. */
int64_t cs_find_key(clarity_store *s, const char *entity, const char *key, int active_only);
/* Insert or replace the record doc["ID"]; CustomKey, Active, CreatedDate, UpdatedDate are read
 * from doc (dates as ISO-8601 text). */
int cs_put(clarity_store *s, const char *entity, const json_t *doc);
/* 1 deleted, 0 absent, -1 error. */
int cs_delete(clarity_store *s, const char *entity, int64_t id);
/* Matching records ordered by ID; size 0 = all.  *results is a new array, *total the count
 * of every match. */
int cs_search(clarity_store *s, const char *entity, const cs_filter *f, int64_t size,
              int64_t offset, json_t **results, int64_t *total);
/* Active records with a CustomKey: [{ID, Key, Hash}] (Hash omitted when absent). */
int cs_digest(clarity_store *s, const char *entity, json_t **out);

/* ISO-8601 helpers: parse "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH:MM|-HH:MM]" to epoch ms (-1 when
 * malformed); format epoch ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (buf >= 32). */
int64_t cs_parse_iso(const char *s);
const char *cs_format_iso(char *buf, size_t len, int64_t ms);
int64_t cs_now_ms(void);

#endif
