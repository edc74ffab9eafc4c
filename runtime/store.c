/* store.c - the durable state store on SQLite: inbox with leases, dead letters, checkpoints,
 * idempotency map, delivered hashes and audit log (the contract is in syncrt/store.h).
 *
 * Durability: WAL journal with synchronous=FULL, so a COMMIT that returned has reached the
 * disk.  Every state change is one BEGIN IMMEDIATE ... COMMIT; IMMEDIATE takes the write lock
 * up front so two processes never deadlock upgrading a read transaction.  Schema changes are
 * an append-only list of migrations, each applied in its own transaction together with its
 * row in schema_version. */
#include "syncrt/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct syncrt_store {
    sqlite3 *db;
    syncrt_clock_fn clock;
    void *clock_ctx;
    int schema_version;
};

/* Append only: entry i takes the schema from version i to i + 1. */
static const char *const store_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE inbox ("
    "  id INTEGER PRIMARY KEY,"
    "  flow TEXT NOT NULL,"
    "  dedup_key TEXT NOT NULL,"
    "  source_key TEXT NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  received_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','leased','done','dead','dropped')),"
    "  lease_owner TEXT,"
    "  lease_until INTEGER,"
    "  first_error TEXT,"
    "  first_failed_at INTEGER,"
    "  last_error TEXT,"
    "  UNIQUE (flow, dedup_key));"
    "CREATE INDEX inbox_due ON inbox (state, next_attempt_at);"
    "CREATE TABLE dead_letter ("
    "  id INTEGER PRIMARY KEY REFERENCES inbox (id),"
    "  reason TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  first_error TEXT,"
    "  last_error TEXT,"
    "  first_failed_at INTEGER,"
    "  dead_at INTEGER NOT NULL);"
    "CREATE TABLE checkpoint ("
    "  flow TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE idempotency ("
    "  flow TEXT NOT NULL,"
    "  source_key TEXT NOT NULL,"
    "  target_key TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (flow, source_key));"
    "CREATE TABLE delivered_hash ("
    "  scope TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (scope, key));"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  inbox_id INTEGER,"
    "  flow TEXT NOT NULL,"
    "  source_key TEXT,"
    "  target_key TEXT,"
    "  mapping_version TEXT,"
    "  outcome TEXT NOT NULL,"
    "  detail TEXT,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX audit_inbox ON audit (inbox_id);",
};
#define STORE_MIGRATIONS ((int)(sizeof store_migrations / sizeof store_migrations[0]))

_Static_assert(sizeof store_migrations / sizeof store_migrations[0] == SYNCRT_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int64_t store_now(const syncrt_store *s)
{
    return s->clock(s->clock_ctx);
}

static syncrt_status store_db_error(const syncrt_store *s, syncrt_error *err, const char *what)
{
    return syncrt_error_set(err, SYNCRT_ESTORE, "%s: %s", what, sqlite3_errmsg(s->db));
}

static syncrt_status store_exec(syncrt_store *s, const char *sql, syncrt_error *err)
{
    char *msg = NULL;
    syncrt_status st = SYNCRT_OK;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK)
        st = syncrt_error_set(err, SYNCRT_ESTORE, "%.60s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return st;
}

static syncrt_status store_begin(syncrt_store *s, syncrt_error *err)
{
    return store_exec(s, "BEGIN IMMEDIATE", err);
}

static syncrt_status store_commit(syncrt_store *s, syncrt_error *err)
{
    return store_exec(s, "COMMIT", err);
}

static void store_rollback(syncrt_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Ends a transaction: commit when st is OK, roll back otherwise. */
static syncrt_status store_finish(syncrt_store *s, syncrt_status st, syncrt_error *err)
{
    if (st == SYNCRT_OK)
        st = store_commit(s, err);
    if (st != SYNCRT_OK)
        store_rollback(s);
    return st;
}

static syncrt_status store_prepare(syncrt_store *s, sqlite3_stmt **out, const char *sql,
                                   syncrt_error *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK) {
        *out = NULL;
        return store_db_error(s, err, "prepare");
    }
    return SYNCRT_OK;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no rows; *changes (when not NULL) gets the rows changed. */
static syncrt_status store_step_done(syncrt_store *s, sqlite3_stmt *st, int *changes,
                                     syncrt_error *err)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_db_error(s, err, "step");
    if (changes)
        *changes = sqlite3_changes(s->db);
    return SYNCRT_OK;
}

static char *col_strdup(sqlite3_stmt *st, int i, syncrt_status *status)
{
    const unsigned char *t;
    char *copy;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NULL;
    t = sqlite3_column_text(st, i);
    copy = strdup(t ? (const char *)t : "");
    if (!copy)
        *status = SYNCRT_ENOMEM;
    return copy;
}

static unsigned char *col_blobdup(sqlite3_stmt *st, int i, size_t *len, syncrt_status *status)
{
    const void *b = sqlite3_column_blob(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    unsigned char *copy = malloc(n + 1);
    if (!copy) {
        *status = SYNCRT_ENOMEM;
        *len = 0;
        return NULL;
    }
    if (n)
        memcpy(copy, b, n);
    copy[n] = '\0';
    *len = n;
    return copy;
}

static syncrt_status store_migrate(syncrt_store *s, syncrt_error *err)
{
    syncrt_status st;
    sqlite3_stmt *q = NULL;
    int version = 0;

    st = store_exec(s, "CREATE TABLE IF NOT EXISTS schema_version ("
                       " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)", err);
    if (st != SYNCRT_OK)
        goto out;
    for (;;) {
        st = store_begin(s, err);
        if (st != SYNCRT_OK)
            goto out;
        st = store_prepare(s, &q, "SELECT coalesce(max(version), 0) FROM schema_version", err);
        if (st != SYNCRT_OK)
            goto fail;
        if (sqlite3_step(q) != SQLITE_ROW) {
            st = store_db_error(s, err, "reading schema_version");
            goto fail;
        }
        version = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
        q = NULL;
        if (version > STORE_MIGRATIONS) {
            st = syncrt_error_set(err, SYNCRT_ESCHEMA,
                                  "store schema version %d, this runtime knows up to %d",
                                  version, STORE_MIGRATIONS);
            goto fail;
        }
        if (version == STORE_MIGRATIONS) {
            st = store_commit(s, err);
            goto out;
        }
        st = store_exec(s, store_migrations[version], err);
        if (st != SYNCRT_OK)
            goto fail;
        st = store_prepare(s, &q, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                           err);
        if (st != SYNCRT_OK)
            goto fail;
        sqlite3_bind_int(q, 1, version + 1);
        sqlite3_bind_int64(q, 2, store_now(s));
        st = store_step_done(s, q, NULL, err);
        sqlite3_finalize(q);
        q = NULL;
        if (st != SYNCRT_OK)
            goto fail;
        st = store_commit(s, err);
        if (st != SYNCRT_OK)
            goto fail;
    }
fail:
    sqlite3_finalize(q);
    store_rollback(s);
out:
    if (st == SYNCRT_OK)
        s->schema_version = version;
    return st;
}

syncrt_status syncrt_store_open(syncrt_store **out, const char *path,
                                const syncrt_store_options *opts, syncrt_error *err)
{
    syncrt_store *s = NULL;
    syncrt_status st = SYNCRT_OK;
    int busy = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;

    *out = NULL;
    if (!path)
        return syncrt_error_set(err, SYNCRT_EINVAL, "store path is NULL");
    s = calloc(1, sizeof *s);
    if (!s)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    s->clock = opts && opts->clock ? opts->clock : syncrt_clock_real;
    s->clock_ctx = opts ? opts->clock_ctx : NULL;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        st = syncrt_error_set(err, SYNCRT_ESTORE, "open %s: %s", path,
                              s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, busy);
    sqlite3_extended_result_codes(s->db, 1);
    st = store_exec(s, "PRAGMA journal_mode=WAL", err);
    if (st == SYNCRT_OK)
        st = store_exec(s, "PRAGMA synchronous=FULL", err);
    if (st == SYNCRT_OK)
        st = store_exec(s, "PRAGMA foreign_keys=ON", err);
    if (st == SYNCRT_OK)
        st = store_migrate(s, err);
    if (st != SYNCRT_OK)
        goto fail;
    *out = s;
    return SYNCRT_OK;
fail:
    syncrt_store_close(s);
    return st;
}

void syncrt_store_close(syncrt_store *s)
{
    if (!s)
        return;
    sqlite3_close_v2(s->db);
    free(s);
}

int syncrt_store_schema_version(const syncrt_store *s)
{
    return s->schema_version;
}

static syncrt_status store_audit(syncrt_store *s, int64_t inbox_id, const char *flow,
                                 const char *source_key, const char *target_key,
                                 const char *mapping_version, const char *outcome,
                                 const char *detail, syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st = store_prepare(s, &q,
        "INSERT INTO audit (inbox_id, flow, source_key, target_key, mapping_version, outcome,"
        " detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", err);
    if (st != SYNCRT_OK)
        return st;
    sqlite3_bind_int64(q, 1, inbox_id);
    bind_text(q, 2, flow);
    bind_text(q, 3, source_key);
    bind_text(q, 4, target_key);
    bind_text(q, 5, mapping_version);
    bind_text(q, 6, outcome);
    bind_text(q, 7, detail);
    sqlite3_bind_int64(q, 8, store_now(s));
    st = store_step_done(s, q, NULL, err);
    sqlite3_finalize(q);
    return st;
}

static syncrt_status store_insert_items(syncrt_store *s, size_t *inserted, const char *flow,
                                        const syncrt_enqueue_item *items, size_t n,
                                        syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st;
    int64_t now = store_now(s);
    size_t i;

    *inserted = 0;
    st = store_prepare(s, &q,
        "INSERT INTO inbox (flow, dedup_key, source_key, payload, received_at, next_attempt_at,"
        " state) VALUES (?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (flow, dedup_key) DO NOTHING",
        err);
    if (st != SYNCRT_OK)
        return st;
    for (i = 0; i < n && st == SYNCRT_OK; i++) {
        const syncrt_enqueue_item *it = &items[i];
        int changes = 0;
        if (!it->dedup_key || (!it->payload && it->payload_len)) {
            st = syncrt_error_set(err, SYNCRT_EINVAL, "enqueue item %zu: no dedup key or payload", i);
            break;
        }
        sqlite3_reset(q);
        bind_text(q, 1, flow);
        bind_text(q, 2, it->dedup_key);
        bind_text(q, 3, it->source_key ? it->source_key : it->dedup_key);
        sqlite3_bind_blob64(q, 4, it->payload ? it->payload : "", it->payload_len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 5, now);
        sqlite3_bind_int64(q, 6, now);
        st = store_step_done(s, q, &changes, err);
        *inserted += (size_t)changes;
    }
    sqlite3_finalize(q);
    return st;
}

static syncrt_status store_checkpoint_write(syncrt_store *s, const char *flow, const char *value,
                                            syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st = store_prepare(s, &q,
        "INSERT INTO checkpoint (flow, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (flow) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        err);
    if (st != SYNCRT_OK)
        return st;
    bind_text(q, 1, flow);
    bind_text(q, 2, value);
    sqlite3_bind_int64(q, 3, store_now(s));
    st = store_step_done(s, q, NULL, err);
    sqlite3_finalize(q);
    return st;
}

syncrt_status syncrt_store_enqueue_batch(syncrt_store *s, size_t *inserted, const char *flow,
                                         const syncrt_enqueue_item *items, size_t n,
                                         const char *checkpoint, syncrt_error *err)
{
    syncrt_status st;
    size_t count = 0;

    if (!flow || (n && !items))
        return syncrt_error_set(err, SYNCRT_EINVAL, "enqueue: no flow or items");
    st = store_begin(s, err);
    if (st != SYNCRT_OK)
        return st;
    st = store_insert_items(s, &count, flow, items, n, err);
    if (st == SYNCRT_OK && checkpoint)
        st = store_checkpoint_write(s, flow, checkpoint, err);
    st = store_finish(s, st, err);
    if (inserted)
        *inserted = st == SYNCRT_OK ? count : 0;
    return st;
}

syncrt_status syncrt_store_enqueue(syncrt_store *s, int *inserted, const char *flow,
                                   const syncrt_enqueue_item *item, syncrt_error *err)
{
    size_t n = 0;
    syncrt_status st = syncrt_store_enqueue_batch(s, &n, flow, item, 1, NULL, err);
    if (inserted)
        *inserted = (int)n;
    return st;
}

static void record_clear(syncrt_inbox_record *r)
{
    free(r->flow);
    free(r->dedup_key);
    free(r->source_key);
    free(r->payload);
    free(r->first_error);
    free(r->last_error);
}

void syncrt_store_records_free(syncrt_inbox_record *recs, size_t count)
{
    size_t i;
    for (i = 0; recs && i < count; i++)
        record_clear(&recs[i]);
    free(recs);
}

#define INBOX_COLUMNS "id, flow, dedup_key, source_key, payload, received_at, attempts," \
                      " next_attempt_at, lease_until, first_error, last_error"

static syncrt_status record_read(sqlite3_stmt *q, syncrt_inbox_record *r)
{
    syncrt_status st = SYNCRT_OK;
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    r->flow = col_strdup(q, 1, &st);
    r->dedup_key = col_strdup(q, 2, &st);
    r->source_key = col_strdup(q, 3, &st);
    r->payload = col_blobdup(q, 4, &r->payload_len, &st);
    r->received_at = sqlite3_column_int64(q, 5);
    r->attempts = sqlite3_column_int(q, 6);
    r->next_attempt_at = sqlite3_column_int64(q, 7);
    r->lease_until = sqlite3_column_int64(q, 8);
    r->first_error = col_strdup(q, 9, &st);
    r->last_error = col_strdup(q, 10, &st);
    return st;
}

syncrt_status syncrt_store_claim(syncrt_store *s, syncrt_inbox_record **out, size_t *count,
                                 const char *flow, const char *worker, int64_t lease_ms,
                                 size_t max, syncrt_error *err)
{
    sqlite3_stmt *sel = NULL, *upd = NULL;
    syncrt_inbox_record *recs = NULL;
    syncrt_status st;
    size_t n = 0, ids = 0;
    int64_t now = store_now(s);
    int rc;

    *out = NULL;
    *count = 0;
    if (!worker || lease_ms <= 0 || max == 0)
        return syncrt_error_set(err, SYNCRT_EINVAL, "claim: need a worker, a lease and max > 0");
    recs = calloc(max, sizeof *recs);
    if (!recs)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    st = store_begin(s, err);
    if (st != SYNCRT_OK)
        goto out;
    st = store_prepare(s, &sel,
        "SELECT id FROM inbox WHERE (?1 IS NULL OR flow = ?1) AND"
        " ((state = 'pending' AND next_attempt_at <= ?2) OR"
        "  (state = 'leased' AND lease_until <= ?2))"
        " ORDER BY next_attempt_at, id LIMIT ?3", err);
    if (st != SYNCRT_OK)
        goto done;
    st = store_prepare(s, &upd,
        "UPDATE inbox SET state = 'leased', lease_owner = ?2, lease_until = ?3,"
        " attempts = attempts + 1 WHERE id = ?1 RETURNING " INBOX_COLUMNS, err);
    if (st != SYNCRT_OK)
        goto done;
    bind_text(sel, 1, flow);
    sqlite3_bind_int64(sel, 2, now);
    sqlite3_bind_int64(sel, 3, (sqlite3_int64)max);
    /* Collect the ids first: updating rows under a running SELECT on the same index is
     * allowed by SQLite but may revisit them. The ids go in recs[].id for now. */
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW && ids < max)
        recs[ids++].id = sqlite3_column_int64(sel, 0);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        st = store_db_error(s, err, "claim select");
        goto done;
    }
    for (n = 0; n < ids && st == SYNCRT_OK; ) {
        int64_t id = recs[n].id;
        sqlite3_reset(upd);
        sqlite3_bind_int64(upd, 1, id);
        bind_text(upd, 2, worker);
        sqlite3_bind_int64(upd, 3, now + lease_ms);
        if (sqlite3_step(upd) != SQLITE_ROW) {
            st = store_db_error(s, err, "claim");
            break;
        }
        st = record_read(upd, &recs[n]);
        n++;
        if (st == SYNCRT_OK && sqlite3_step(upd) != SQLITE_DONE)
            st = store_db_error(s, err, "claim");
    }
    if (st == SYNCRT_ENOMEM)
        syncrt_error_set(err, st, "out of memory");
done:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    st = store_finish(s, st, err);
out:
    if (st != SYNCRT_OK) {
        syncrt_store_records_free(recs, n);
        return st;
    }
    if (n == 0) {
        free(recs);
        return syncrt_error_set(err, SYNCRT_EEMPTY, "no record due");
    }
    *out = recs;
    *count = n;
    return SYNCRT_OK;
}

/* Inside a transaction: checks that worker holds the lease on id; returns the record's flow
 * and source key (malloc'd) for the audit row. */
static syncrt_status store_check_lease(syncrt_store *s, char **flow, char **source_key,
                                       int64_t id, const char *worker, syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st = store_prepare(s, &q,
        "SELECT flow, source_key, state, lease_owner FROM inbox WHERE id = ?", err);
    int rc;

    *flow = *source_key = NULL;
    if (st != SYNCRT_OK)
        return st;
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        st = syncrt_error_set(err, SYNCRT_ENOTFOUND, "no inbox record %lld", (long long)id);
    } else if (rc != SQLITE_ROW) {
        st = store_db_error(s, err, "lease check");
    } else {
        const char *state = (const char *)sqlite3_column_text(q, 2);
        const char *owner = (const char *)sqlite3_column_text(q, 3);
        if (!state || strcmp(state, "leased") != 0 || !owner || !worker || strcmp(owner, worker) != 0) {
            st = syncrt_error_set(err, SYNCRT_ELEASE, "record %lld is %s by %s, not leased by %s",
                                  (long long)id, state ? state : "?", owner ? owner : "nobody",
                                  worker ? worker : "(null)");
        } else {
            *flow = col_strdup(q, 0, &st);
            *source_key = col_strdup(q, 1, &st);
            if (st != SYNCRT_OK)
                syncrt_error_set(err, st, "out of memory");
        }
    }
    sqlite3_finalize(q);
    if (st != SYNCRT_OK) {
        free(*flow);
        free(*source_key);
        *flow = *source_key = NULL;
    }
    return st;
}

static syncrt_status store_hash_write(syncrt_store *s, const char *scope, const char *key,
                                      const char *hash, syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st = store_prepare(s, &q,
        "INSERT INTO delivered_hash (scope, key, hash, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (scope, key) DO UPDATE SET hash = excluded.hash,"
        " updated_at = excluded.updated_at", err);
    if (st != SYNCRT_OK)
        return st;
    bind_text(q, 1, scope);
    bind_text(q, 2, key);
    bind_text(q, 3, hash);
    sqlite3_bind_int64(q, 4, store_now(s));
    st = store_step_done(s, q, NULL, err);
    sqlite3_finalize(q);
    return st;
}

syncrt_status syncrt_store_complete(syncrt_store *s, int64_t id, const char *worker,
                                    const syncrt_delivery *d, syncrt_error *err)
{
    static const syncrt_delivery none = { 0 };
    sqlite3_stmt *q = NULL;
    char *flow = NULL, *source_key = NULL;
    syncrt_status st;

    if (!d)
        d = &none;
    st = store_begin(s, err);
    if (st != SYNCRT_OK)
        return st;
    st = store_check_lease(s, &flow, &source_key, id, worker, err);
    if (st != SYNCRT_OK)
        goto done;
    st = store_prepare(s, &q, "UPDATE inbox SET state = 'done', lease_owner = NULL,"
                              " lease_until = NULL WHERE id = ?", err);
    if (st != SYNCRT_OK)
        goto done;
    sqlite3_bind_int64(q, 1, id);
    st = store_step_done(s, q, NULL, err);
    sqlite3_finalize(q);
    q = NULL;
    if (st != SYNCRT_OK)
        goto done;
    if (d->target_key) {
        st = store_prepare(s, &q,
            "INSERT INTO idempotency (flow, source_key, target_key, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (flow, source_key) DO UPDATE SET target_key = excluded.target_key,"
            " updated_at = excluded.updated_at", err);
        if (st != SYNCRT_OK)
            goto done;
        bind_text(q, 1, flow);
        bind_text(q, 2, source_key);
        bind_text(q, 3, d->target_key);
        sqlite3_bind_int64(q, 4, store_now(s));
        st = store_step_done(s, q, NULL, err);
        sqlite3_finalize(q);
        q = NULL;
        if (st != SYNCRT_OK)
            goto done;
    }
    if (d->hash_scope && d->hash) {
        const char *key = d->hash_key ? d->hash_key : d->target_key;
        if (!key) {
            st = syncrt_error_set(err, SYNCRT_EINVAL, "complete: a hash needs a hash_key or target_key");
            goto done;
        }
        st = store_hash_write(s, d->hash_scope, key, d->hash, err);
        if (st != SYNCRT_OK)
            goto done;
    }
    st = store_audit(s, id, flow, source_key, d->target_key, d->mapping_version,
                     d->skipped ? "skipped" : "delivered", d->detail, err);
    if (st == SYNCRT_OK && d->then_flow && d->then_item) {
        size_t added = 0;
        st = store_insert_items(s, &added, d->then_flow, d->then_item, 1, err);
    }
done:
    sqlite3_finalize(q);
    free(flow);
    free(source_key);
    return store_finish(s, st, err);
}

syncrt_status syncrt_store_renew(syncrt_store *s, int64_t id, const char *worker,
                                 int64_t lease_ms, syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st;
    int changes = 0;

    st = store_prepare(s, &q, "UPDATE inbox SET lease_until = ? WHERE id = ? AND"
                              " state = 'leased' AND lease_owner = ?", err);
    if (st != SYNCRT_OK)
        return st;
    sqlite3_bind_int64(q, 1, store_now(s) + lease_ms);
    sqlite3_bind_int64(q, 2, id);
    bind_text(q, 3, worker);
    st = store_step_done(s, q, &changes, err);
    sqlite3_finalize(q);
    if (st == SYNCRT_OK && changes == 0)
        st = syncrt_error_set(err, SYNCRT_ELEASE, "record %lld is not leased by %s",
                              (long long)id, worker ? worker : "(null)");
    return st;
}

/* fail and release share this: back to pending, due at retry_at. */
static syncrt_status store_unlease(syncrt_store *s, int64_t id, const char *worker,
                                   const char *error_text, int64_t retry_at, int count_attempt,
                                   syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    char *flow = NULL, *source_key = NULL;
    syncrt_status st = store_begin(s, err);

    if (st != SYNCRT_OK)
        return st;
    st = store_check_lease(s, &flow, &source_key, id, worker, err);
    if (st != SYNCRT_OK)
        goto done;
    st = store_prepare(s, &q,
        "UPDATE inbox SET state = 'pending', lease_owner = NULL, lease_until = NULL,"
        " next_attempt_at = ?2,"
        " attempts = attempts - ?3,"
        " first_error = CASE WHEN ?4 IS NOT NULL AND first_error IS NULL THEN ?4 ELSE first_error END,"
        " first_failed_at = CASE WHEN ?4 IS NOT NULL AND first_failed_at IS NULL THEN ?5"
        "   ELSE first_failed_at END,"
        " last_error = coalesce(?4, last_error)"
        " WHERE id = ?1", err);
    if (st != SYNCRT_OK)
        goto done;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, retry_at);
    sqlite3_bind_int(q, 3, count_attempt ? 0 : 1);
    bind_text(q, 4, error_text);
    sqlite3_bind_int64(q, 5, store_now(s));
    st = store_step_done(s, q, NULL, err);
    if (st == SYNCRT_OK && count_attempt)
        st = store_audit(s, id, flow, source_key, NULL, NULL, "retry", error_text, err);
done:
    sqlite3_finalize(q);
    free(flow);
    free(source_key);
    return store_finish(s, st, err);
}

syncrt_status syncrt_store_fail(syncrt_store *s, int64_t id, const char *worker,
                                const char *error_text, int64_t retry_at, syncrt_error *err)
{
    if (!error_text)
        return syncrt_error_set(err, SYNCRT_EINVAL, "fail: no error text");
    return store_unlease(s, id, worker, error_text, retry_at, 1, err);
}

syncrt_status syncrt_store_release(syncrt_store *s, int64_t id, const char *worker,
                                   int64_t retry_at, syncrt_error *err)
{
    return store_unlease(s, id, worker, NULL, retry_at, 0, err);
}

syncrt_status syncrt_store_dead_letter(syncrt_store *s, int64_t id, const char *worker,
                                       const char *reason, const char *error_text,
                                       syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    char *flow = NULL, *source_key = NULL;
    syncrt_status st;
    int64_t now = store_now(s);

    if (!reason)
        return syncrt_error_set(err, SYNCRT_EINVAL, "dead letter: no reason");
    st = store_begin(s, err);
    if (st != SYNCRT_OK)
        return st;
    st = store_check_lease(s, &flow, &source_key, id, worker, err);
    if (st != SYNCRT_OK)
        goto done;
    st = store_prepare(s, &q,
        "UPDATE inbox SET state = 'dead', lease_owner = NULL, lease_until = NULL,"
        " first_error = coalesce(first_error, ?2),"
        " first_failed_at = CASE WHEN first_failed_at IS NULL AND ?2 IS NOT NULL THEN ?3"
        "   ELSE first_failed_at END,"
        " last_error = coalesce(?2, last_error) WHERE id = ?1", err);
    if (st != SYNCRT_OK)
        goto done;
    sqlite3_bind_int64(q, 1, id);
    bind_text(q, 2, error_text);
    sqlite3_bind_int64(q, 3, now);
    st = store_step_done(s, q, NULL, err);
    sqlite3_finalize(q);
    q = NULL;
    if (st != SYNCRT_OK)
        goto done;
    st = store_prepare(s, &q,
        "INSERT OR REPLACE INTO dead_letter (id, reason, attempts, first_error, last_error,"
        " first_failed_at, dead_at) SELECT id, ?2, attempts, first_error, last_error,"
        " first_failed_at, ?3 FROM inbox WHERE id = ?1", err);
    if (st != SYNCRT_OK)
        goto done;
    sqlite3_bind_int64(q, 1, id);
    bind_text(q, 2, reason);
    sqlite3_bind_int64(q, 3, now);
    st = store_step_done(s, q, NULL, err);
    if (st == SYNCRT_OK)
        st = store_audit(s, id, flow, source_key, NULL, NULL, "dead", reason, err);
done:
    sqlite3_finalize(q);
    free(flow);
    free(source_key);
    return store_finish(s, st, err);
}

void syncrt_store_dead_letters_free(syncrt_dead_letter *dl, size_t count)
{
    size_t i;
    for (i = 0; dl && i < count; i++) {
        free(dl[i].flow);
        free(dl[i].dedup_key);
        free(dl[i].source_key);
        free(dl[i].payload);
        free(dl[i].reason);
        free(dl[i].first_error);
        free(dl[i].last_error);
    }
    free(dl);
}

#define DLQ_SELECT "SELECT d.id, i.flow, i.dedup_key, i.source_key, i.payload, d.reason," \
    " d.attempts, d.first_error, d.last_error, i.received_at, d.first_failed_at, d.dead_at" \
    " FROM dead_letter d JOIN inbox i ON i.id = d.id"

static syncrt_status dead_letter_read(sqlite3_stmt *q, syncrt_dead_letter *d)
{
    syncrt_status st = SYNCRT_OK;
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(q, 0);
    d->flow = col_strdup(q, 1, &st);
    d->dedup_key = col_strdup(q, 2, &st);
    d->source_key = col_strdup(q, 3, &st);
    d->payload = col_blobdup(q, 4, &d->payload_len, &st);
    d->reason = col_strdup(q, 5, &st);
    d->attempts = sqlite3_column_int(q, 6);
    d->first_error = col_strdup(q, 7, &st);
    d->last_error = col_strdup(q, 8, &st);
    d->received_at = sqlite3_column_int64(q, 9);
    d->first_failed_at = sqlite3_column_int64(q, 10);
    d->dead_at = sqlite3_column_int64(q, 11);
    return st;
}

/* Dead letters of flow (NULL: all), oldest first or (newest) newest first, at most max. */
static syncrt_status store_dlq_select(syncrt_store *s, syncrt_dead_letter **out, size_t *count,
                                      const char *flow, size_t max, int newest, syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_dead_letter *arr = NULL;
    size_t n = 0, cap = 0;
    syncrt_status st;
    int rc;

    *out = NULL;
    *count = 0;
    st = store_prepare(s, &q, newest ? DLQ_SELECT " WHERE (?1 IS NULL OR i.flow = ?1)"
                                           " ORDER BY d.dead_at DESC, d.id DESC LIMIT ?2"
                                         : DLQ_SELECT " WHERE (?1 IS NULL OR i.flow = ?1)"
                                           " ORDER BY d.dead_at, d.id LIMIT ?2", err);
    if (st != SYNCRT_OK)
        return st;
    bind_text(q, 1, flow);
    sqlite3_bind_int64(q, 2, max ? (sqlite3_int64)max : -1);
    while (st == SYNCRT_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            syncrt_dead_letter *bigger = realloc(arr, ncap * sizeof *arr);
            if (!bigger) {
                st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
                break;
            }
            arr = bigger;
            cap = ncap;
        }
        st = dead_letter_read(q, &arr[n]);
        n++;
        if (st != SYNCRT_OK)
            syncrt_error_set(err, st, "out of memory");
    }
    if (st == SYNCRT_OK && rc != SQLITE_DONE)
        st = store_db_error(s, err, "dlq list");
    sqlite3_finalize(q);
    if (st != SYNCRT_OK) {
        syncrt_store_dead_letters_free(arr, n);
        return st;
    }
    *out = arr;
    *count = n;
    return SYNCRT_OK;
}

syncrt_status syncrt_store_dlq_list(syncrt_store *s, syncrt_dead_letter **out, size_t *count,
                                    const char *flow, size_t max, syncrt_error *err)
{
    return store_dlq_select(s, out, count, flow, max, 0, err);
}

syncrt_status syncrt_store_dlq_latest(syncrt_store *s, syncrt_dead_letter **out, size_t *count,
                                      const char *flow, size_t max, syncrt_error *err)
{
    return store_dlq_select(s, out, count, flow, max, 1, err);
}

syncrt_status syncrt_store_dlq_show(syncrt_store *s, syncrt_dead_letter **out, int64_t id,
                                    syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_dead_letter *d = NULL;
    syncrt_status st;
    int rc;

    *out = NULL;
    st = store_prepare(s, &q, DLQ_SELECT " WHERE d.id = ?", err);
    if (st != SYNCRT_OK)
        return st;
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        st = syncrt_error_set(err, SYNCRT_ENOTFOUND, "no dead letter %lld", (long long)id);
    } else if (rc != SQLITE_ROW) {
        st = store_db_error(s, err, "dlq show");
    } else if (!(d = calloc(1, sizeof *d))) {
        st = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    } else if ((st = dead_letter_read(q, d)) != SYNCRT_OK) {
        syncrt_error_set(err, st, "out of memory");
    }
    sqlite3_finalize(q);
    if (st != SYNCRT_OK) {
        syncrt_store_dead_letters_free(d, d ? 1 : 0);
        return st;
    }
    *out = d;
    return SYNCRT_OK;
}

/* Replay or drop: removes the dead letter and moves the inbox row to new_state. */
static syncrt_status store_dlq_resolve(syncrt_store *s, int64_t id, int replay, syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st;
    int changes = 0;
    int64_t now = store_now(s);

    st = store_begin(s, err);
    if (st != SYNCRT_OK)
        return st;
    st = store_prepare(s, &q, "DELETE FROM dead_letter WHERE id = ?", err);
    if (st != SYNCRT_OK)
        goto done;
    sqlite3_bind_int64(q, 1, id);
    st = store_step_done(s, q, &changes, err);
    sqlite3_finalize(q);
    q = NULL;
    if (st == SYNCRT_OK && changes == 0)
        st = syncrt_error_set(err, SYNCRT_ENOTFOUND, "no dead letter %lld", (long long)id);
    if (st != SYNCRT_OK)
        goto done;
    st = store_prepare(s, &q, replay
        ? "UPDATE inbox SET state = 'pending', attempts = 0, next_attempt_at = ?2 WHERE id = ?1"
          " RETURNING flow, source_key"
        : "UPDATE inbox SET state = 'dropped' WHERE id = ?1 AND ?2 = ?2 RETURNING flow, source_key",
        err);
    if (st != SYNCRT_OK)
        goto done;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, now);
    if (sqlite3_step(q) != SQLITE_ROW) {
        st = store_db_error(s, err, "dlq resolve");
        goto done;
    } else {
        char *flow, *source_key;
        flow = col_strdup(q, 0, &st);
        source_key = col_strdup(q, 1, &st);
        if (st == SYNCRT_OK && sqlite3_step(q) != SQLITE_DONE)
            st = store_db_error(s, err, "dlq resolve");
        else if (st != SYNCRT_OK)
            syncrt_error_set(err, st, "out of memory");
        if (st == SYNCRT_OK)
            st = store_audit(s, id, flow, source_key, NULL, NULL, replay ? "replayed" : "dropped",
                             NULL, err);
        free(flow);
        free(source_key);
    }
done:
    sqlite3_finalize(q);
    return store_finish(s, st, err);
}

syncrt_status syncrt_store_dlq_replay(syncrt_store *s, int64_t id, syncrt_error *err)
{
    return store_dlq_resolve(s, id, 1, err);
}

syncrt_status syncrt_store_dlq_drop(syncrt_store *s, int64_t id, syncrt_error *err)
{
    return store_dlq_resolve(s, id, 0, err);
}

/* Reads one optional text value from a query with text parameters p1, p2. */
static syncrt_status store_get_text(syncrt_store *s, char **out, const char *sql, const char *p1,
                                    const char *p2, syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st;
    int rc;

    *out = NULL;
    st = store_prepare(s, &q, sql, err);
    if (st != SYNCRT_OK)
        return st;
    bind_text(q, 1, p1);
    if (p2)
        bind_text(q, 2, p2);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *out = col_strdup(q, 0, &st);
        if (st != SYNCRT_OK)
            syncrt_error_set(err, st, "out of memory");
    } else if (rc != SQLITE_DONE) {
        st = store_db_error(s, err, "read");
    }
    sqlite3_finalize(q);
    return st;
}

syncrt_status syncrt_store_checkpoint_get(syncrt_store *s, char **out, const char *flow,
                                          syncrt_error *err)
{
    return store_get_text(s, out, "SELECT value FROM checkpoint WHERE flow = ?", flow, NULL, err);
}

syncrt_status syncrt_store_checkpoint_set(syncrt_store *s, const char *flow, const char *value,
                                          syncrt_error *err)
{
    syncrt_status st;
    if (!flow || !value)
        return syncrt_error_set(err, SYNCRT_EINVAL, "checkpoint: no flow or value");
    st = store_begin(s, err);
    if (st != SYNCRT_OK)
        return st;
    st = store_checkpoint_write(s, flow, value, err);
    return store_finish(s, st, err);
}

syncrt_status syncrt_store_target_key(syncrt_store *s, char **out, const char *flow,
                                      const char *source_key, syncrt_error *err)
{
    if (!flow || !source_key) {
        *out = NULL;
        return syncrt_error_set(err, SYNCRT_EINVAL, "target key: no flow or source key");
    }
    return store_get_text(s, out, "SELECT target_key FROM idempotency WHERE flow = ? AND"
                                  " source_key = ?", flow, source_key, err);
}

syncrt_status syncrt_store_hash_get(syncrt_store *s, char **out, const char *scope,
                                    const char *key, syncrt_error *err)
{
    if (!scope || !key) {
        *out = NULL;
        return syncrt_error_set(err, SYNCRT_EINVAL, "hash: no scope or key");
    }
    return store_get_text(s, out, "SELECT hash FROM delivered_hash WHERE scope = ? AND key = ?",
                          scope, key, err);
}

syncrt_status syncrt_store_hash_unchanged(syncrt_store *s, int *unchanged, const char *scope,
                                          const char *key, const char *hash, syncrt_error *err)
{
    char *old = NULL;
    syncrt_status st = syncrt_store_hash_get(s, &old, scope, key, err);
    *unchanged = st == SYNCRT_OK && old && hash && strcmp(old, hash) == 0;
    free(old);
    return st;
}

syncrt_status syncrt_store_hash_set(syncrt_store *s, const char *scope, const char *key,
                                    const char *hash, syncrt_error *err)
{
    syncrt_status st;
    if (!scope || !key || !hash)
        return syncrt_error_set(err, SYNCRT_EINVAL, "hash: no scope, key or hash");
    st = store_begin(s, err);
    if (st != SYNCRT_OK)
        return st;
    st = store_hash_write(s, scope, key, hash, err);
    return store_finish(s, st, err);
}

syncrt_status syncrt_store_counts_get(syncrt_store *s, syncrt_store_counts *out, const char *flow,
                                      syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st;
    int rc;

    memset(out, 0, sizeof *out);
    st = store_prepare(s, &q,
        "SELECT state, count(*) FROM inbox WHERE ?1 IS NULL OR flow = ?1 GROUP BY state"
        " UNION ALL SELECT 'dlq', count(*) FROM dead_letter d JOIN inbox i ON i.id = d.id"
        " WHERE ?1 IS NULL OR i.flow = ?1", err);
    if (st != SYNCRT_OK)
        return st;
    bind_text(q, 1, flow);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(q, 0);
        int64_t n = sqlite3_column_int64(q, 1);
        if (!state)
            continue;
        if (strcmp(state, "pending") == 0)
            out->pending = n;
        else if (strcmp(state, "leased") == 0)
            out->leased = n;
        else if (strcmp(state, "done") == 0)
            out->done = n;
        else if (strcmp(state, "dead") == 0)
            out->dead = n;
        else if (strcmp(state, "dlq") == 0)
            out->dead_letters = n;
    }
    if (rc != SQLITE_DONE)
        st = store_db_error(s, err, "counts");
    sqlite3_finalize(q);
    return st;
}

syncrt_status syncrt_store_queue_get(syncrt_store *s, syncrt_store_queue *out, const char *flow,
                                     syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st;

    memset(out, 0, sizeof *out);
    /* state first: the inbox_due index (state, ...) keeps the done rows out of it */
    st = store_prepare(s, &q,
        "SELECT (SELECT count(*) FROM inbox WHERE state = 'pending' AND flow = ?1),"
        " (SELECT count(*) FROM inbox WHERE state = 'leased' AND flow = ?1),"
        " (SELECT count(*) FROM dead_letter d JOIN inbox i ON i.id = d.id WHERE i.flow = ?1),"
        " (SELECT coalesce(min(received_at), 0) FROM inbox WHERE state = 'pending' AND flow = ?1)",
        err);
    if (st != SYNCRT_OK)
        return st;
    bind_text(q, 1, flow);
    if (sqlite3_step(q) == SQLITE_ROW) {
        out->pending = sqlite3_column_int64(q, 0);
        out->leased = sqlite3_column_int64(q, 1);
        out->dead_letters = sqlite3_column_int64(q, 2);
        out->oldest_pending_at = sqlite3_column_int64(q, 3);
    } else {
        st = store_db_error(s, err, "queue");
    }
    sqlite3_finalize(q);
    return st;
}

syncrt_status syncrt_store_outcomes_since(syncrt_store *s, syncrt_store_outcomes *out,
                                          const char *flow, int64_t since, syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st;
    int rc;

    memset(out, 0, sizeof *out);
    st = store_prepare(s, &q, "SELECT outcome, count(*) FROM audit WHERE flow = ? AND at >= ?"
                              " GROUP BY outcome", err);
    if (st != SYNCRT_OK)
        return st;
    bind_text(q, 1, flow);
    sqlite3_bind_int64(q, 2, since);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *o = (const char *)sqlite3_column_text(q, 0);
        int64_t n = sqlite3_column_int64(q, 1);
        if (!o)
            continue;
        if (strcmp(o, "delivered") == 0)
            out->delivered = n;
        else if (strcmp(o, "skipped") == 0)
            out->skipped = n;
        else if (strcmp(o, "retry") == 0)
            out->retried = n;
        else if (strcmp(o, "dead") == 0)
            out->dead = n;
    }
    if (rc != SQLITE_DONE)
        st = store_db_error(s, err, "outcomes");
    sqlite3_finalize(q);
    return st;
}

syncrt_status syncrt_store_purge(syncrt_store *s, int64_t *deleted, int64_t before,
                                 syncrt_error *err)
{
    sqlite3_stmt *q = NULL;
    syncrt_status st;
    int changes = 0;

    if (deleted)
        *deleted = 0;
    st = store_begin(s, err);
    if (st != SYNCRT_OK)
        return st;
    st = store_prepare(s, &q, "DELETE FROM inbox WHERE state IN ('done', 'dropped') AND"
                              " received_at < ?", err);
    if (st != SYNCRT_OK)
        goto done;
    sqlite3_bind_int64(q, 1, before);
    st = store_step_done(s, q, &changes, err);
    sqlite3_finalize(q);
    q = NULL;
    if (st != SYNCRT_OK)
        goto done;
    st = store_prepare(s, &q, "DELETE FROM audit WHERE at < ?", err);
    if (st != SYNCRT_OK)
        goto done;
    sqlite3_bind_int64(q, 1, before);
    st = store_step_done(s, q, NULL, err);
done:
    sqlite3_finalize(q);
    st = store_finish(s, st, err);
    if (st == SYNCRT_OK && deleted)
        *deleted = changes;
    return st;
}

syncrt_status syncrt_store_check(syncrt_store *s, syncrt_error *err)
{
    static const struct { const char *what, *sql; } checks[] = {
        { "done record without a delivered/skipped audit row",
          "SELECT id FROM inbox i WHERE state = 'done' AND NOT EXISTS (SELECT 1 FROM audit a"
          " WHERE a.inbox_id = i.id AND a.outcome IN ('delivered', 'skipped')) LIMIT 1" },
        { "dead record without a dead letter",
          "SELECT id FROM inbox i WHERE state = 'dead' AND NOT EXISTS (SELECT 1 FROM dead_letter d"
          " WHERE d.id = i.id) LIMIT 1" },
        { "dead letter whose record is not dead",
          "SELECT d.id FROM dead_letter d LEFT JOIN inbox i ON i.id = d.id"
          " WHERE i.state IS NOT 'dead' LIMIT 1" },
        { "dead record without a dead audit row",
          "SELECT id FROM inbox i WHERE state = 'dead' AND NOT EXISTS (SELECT 1 FROM audit a"
          " WHERE a.inbox_id = i.id AND a.outcome = 'dead') LIMIT 1" },
        { "leased record without owner or expiry",
          "SELECT id FROM inbox WHERE state = 'leased' AND (lease_owner IS NULL OR"
          " lease_until IS NULL) LIMIT 1" },
        { "unleased record with a lease",
          "SELECT id FROM inbox WHERE state <> 'leased' AND lease_owner IS NOT NULL LIMIT 1" },
        { "negative attempts",
          "SELECT id FROM inbox WHERE attempts < 0 LIMIT 1" },
    };
    sqlite3_stmt *q = NULL;
    syncrt_status st;
    size_t i;
    int rc;

    st = store_prepare(s, &q, "PRAGMA integrity_check", err);
    if (st != SYNCRT_OK)
        return st;
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0)
        st = syncrt_error_set(err, SYNCRT_ESTORE, "integrity_check: %s",
                              rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0)
                                               : sqlite3_errmsg(s->db));
    sqlite3_finalize(q);
    for (i = 0; st == SYNCRT_OK && i < sizeof checks / sizeof checks[0]; i++) {
        st = store_prepare(s, &q, checks[i].sql, err);
        if (st != SYNCRT_OK)
            break;
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW)
            st = syncrt_error_set(err, SYNCRT_ESTORE, "%s (record %lld)", checks[i].what,
                                  (long long)sqlite3_column_int64(q, 0));
        else if (rc != SQLITE_DONE)
            st = store_db_error(s, err, checks[i].what);
        sqlite3_finalize(q);
        q = NULL;
    }
    return st;
}
