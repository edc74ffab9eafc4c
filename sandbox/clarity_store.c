/*
 * clarity_store.c - SQLite document store of the Clarity emulator (see clarity_store.h).
 */
#include "clarity_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct clarity_store {
    sqlite3 *db;
    pthread_mutex_t lock;
};

static const char schema_sql[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS docs("
    " entity TEXT NOT NULL, id INTEGER NOT NULL, custom_key TEXT, active INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, doc TEXT NOT NULL,"
    " PRIMARY KEY(entity, id));"
    /* lookups by CustomKey filter on active and order by id: with only (entity, custom_key)
     * SQLite preferred the primary key for the ORDER BY and scanned every row of the entity,
     * which made a full catalogue push quadratic; this index answers them directly */
    "DROP INDEX IF EXISTS docs_key;"
    "CREATE INDEX IF NOT EXISTS docs_key_active ON docs(entity, custom_key, active, id);"
    "CREATE INDEX IF NOT EXISTS docs_updated ON docs(entity, updated_ms);";

int cs_open(clarity_store **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    clarity_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->lock, NULL);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        cs_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : "schema");
        sqlite3_free(msg);
        cs_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void cs_close(clarity_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

sqlite3 *cs_db(clarity_store *s) { return s->db; }
const char *cs_errmsg(clarity_store *s) { return sqlite3_errmsg(s->db); }
void cs_lock(clarity_store *s) { pthread_mutex_lock(&s->lock); }
void cs_unlock(clarity_store *s) { pthread_mutex_unlock(&s->lock); }

static int exec(clarity_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}
int cs_begin(clarity_store *s) { return exec(s, "BEGIN IMMEDIATE"); }
int cs_commit(clarity_store *s) { return exec(s, "COMMIT"); }
void cs_rollback(clarity_store *s) { (void)exec(s, "ROLLBACK"); }

static int64_t scalar(clarity_store *s, const char *sql, const char *entity)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, entity, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t cs_next_id(clarity_store *s, const char *entity)
{
    int64_t v = scalar(s, "SELECT COALESCE(MAX(id),0)+1 FROM docs WHERE entity=?", entity);
    return v < 1 ? 1 : v;
}

int64_t cs_count(clarity_store *s, const char *entity)
{
    return scalar(s, "SELECT COUNT(*) FROM docs WHERE entity=?", entity);
}

static json_t *parse_doc(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    return text ? json_loads(text, 0, NULL) : NULL;
}

json_t *cs_get(clarity_store *s, const char *entity, int64_t id)
{
    sqlite3_stmt *st = NULL;
    json_t *doc = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT doc FROM docs WHERE entity=? AND id=?", -1, &st,
                           NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        doc = parse_doc(st, 0);
    sqlite3_finalize(st);
    return doc;
}

int64_t cs_find_key(clarity_store *s, const char *entity, const char *key, int active_only)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    const char *sql = active_only
        ? "SELECT id FROM docs WHERE entity=? AND custom_key=? AND active=1 ORDER BY id LIMIT 1"
        : "SELECT id FROM docs WHERE entity=? AND custom_key=? ORDER BY active DESC, id LIMIT 1";
    if (!key || sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

int cs_put(clarity_store *s, const char *entity, const json_t *doc)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text)
        return -1;
    const char *key = json_string_value(json_object_get(doc, "CustomKey"));
    json_t *active = json_object_get(doc, "Active");
    int64_t created = cs_parse_iso(json_string_value(json_object_get(doc, "CreatedDate")));
    int64_t updated = cs_parse_iso(json_string_value(json_object_get(doc, "UpdatedDate")));
    if (created < 0)
        created = 0;
    if (updated < created)
        updated = created;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO docs(entity,id,custom_key,active,created_ms,"
                           "updated_ms,doc) VALUES(?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_text(st, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, json_integer_value(json_object_get(doc, "ID")));
    if (key && *key)
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int(st, 4, active ? json_is_true(active) : 1);
    sqlite3_bind_int64(st, 5, created);
    sqlite3_bind_int64(st, 6, updated);
    sqlite3_bind_text(st, 7, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
done:
    sqlite3_finalize(st);
    free(text);
    return rc;
}

int cs_delete(clarity_store *s, const char *entity, int64_t id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM docs WHERE entity=? AND id=?", -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, entity, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(s->db) > 0) : -1;
    sqlite3_finalize(st);
    return rc;
}

/* A growable SQL text. */
typedef struct sqlbuf {
    char *p;
    size_t len, cap;
    int oom;
} sqlbuf;

static void sb_add(sqlbuf *b, const char *t)
{
    size_t n = strlen(t);
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, t, n + 1);
    b->len += n;
}

static void add_in_list(sqlbuf *b, size_t n)
{
    sb_add(b, " IN (");
    for (size_t i = 0; i < n; i++)
        sb_add(b, i ? ",?" : "?");
    sb_add(b, ")");
}

static void build_where(sqlbuf *b, const cs_filter *f)
{
    sb_add(b, " WHERE entity=?");
    if (!f)
        return;
    if (f->modified_since_ms > 0)
        sb_add(b, " AND updated_ms>=?");
    if (f->min_created_ms > 0)
        sb_add(b, " AND created_ms>=?");
    if (f->max_created_ms > 0)
        sb_add(b, " AND created_ms<=?");
    if (f->ids) {
        sb_add(b, " AND id");
        add_in_list(b, json_array_size(f->ids));
    }
    if (f->keys) {
        sb_add(b, " AND custom_key");
        add_in_list(b, json_array_size(f->keys));
    }
    if (f->active >= 0)
        sb_add(b, " AND active=?");
    for (int i = 0; i < f->nconds; i++) {
        sb_add(b, " AND json_extract(doc,?)");
        add_in_list(b, json_array_size(f->conds[i].values));
    }
}

static void bind_value(sqlite3_stmt *st, int *k, const json_t *v)
{
    if (json_is_integer(v))
        sqlite3_bind_int64(st, (*k)++, json_integer_value(v));
    else if (json_is_string(v))
        sqlite3_bind_text(st, (*k)++, json_string_value(v), -1, SQLITE_TRANSIENT);
    else if (json_is_true(v) || json_is_false(v))
        sqlite3_bind_int(st, (*k)++, json_is_true(v));
    else
        sqlite3_bind_null(st, (*k)++);
}

static int bind_where(sqlite3_stmt *st, const char *entity, const cs_filter *f)
{
    int k = 1;
    size_t i;
    json_t *v;
    sqlite3_bind_text(st, k++, entity, -1, SQLITE_STATIC);
    if (!f)
        return k;
    if (f->modified_since_ms > 0)
        sqlite3_bind_int64(st, k++, f->modified_since_ms);
    if (f->min_created_ms > 0)
        sqlite3_bind_int64(st, k++, f->min_created_ms);
    if (f->max_created_ms > 0)
        sqlite3_bind_int64(st, k++, f->max_created_ms);
    if (f->ids)
        json_array_foreach(f->ids, i, v) bind_value(st, &k, v);
    if (f->keys)
        json_array_foreach(f->keys, i, v) bind_value(st, &k, v);
    if (f->active >= 0)
        sqlite3_bind_int(st, k++, f->active);
    for (int c = 0; c < f->nconds; c++) {
        sqlite3_bind_text(st, k++, f->conds[c].path, -1, SQLITE_STATIC);
        json_array_foreach(f->conds[c].values, i, v) bind_value(st, &k, v);
    }
    return k;
}

int cs_search(clarity_store *s, const char *entity, const cs_filter *f, int64_t size,
              int64_t offset, json_t **results, int64_t *total)
{
    sqlbuf b = {0};
    sqlite3_stmt *st = NULL;
    int rc = -1;
    *results = NULL;
    *total = 0;
    sb_add(&b, "SELECT COUNT(*) FROM docs");
    build_where(&b, f);
    if (b.oom || sqlite3_prepare_v2(s->db, b.p, -1, &st, NULL) != SQLITE_OK)
        goto done;
    bind_where(st, entity, f);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto done;
    *total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;

    b.len = 0;
    sb_add(&b, "SELECT doc FROM docs");
    build_where(&b, f);
    /* a CustomKeys search (a bulk write's lookups: 50 keys) is answered by docs_key_active
     * and its few rows sorted; with a plain ORDER BY id SQLite walked the primary key in id
     * order, testing every row of the entity until the page was full (16 ms a search for
     * keys late in 100000 products, 0.1 ms this way) */
    sb_add(&b, f && f->keys ? " ORDER BY +id LIMIT ? OFFSET ?" : " ORDER BY id LIMIT ? OFFSET ?");
    if (b.oom || sqlite3_prepare_v2(s->db, b.p, -1, &st, NULL) != SQLITE_OK)
        goto done;
    int k = bind_where(st, entity, f);
    sqlite3_bind_int64(st, k++, size > 0 ? size : -1);
    sqlite3_bind_int64(st, k++, offset > 0 ? offset : 0);
    *results = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *doc = parse_doc(st, 0);
        if (doc)
            json_array_append_new(*results, doc);
    }
    if (step != SQLITE_DONE) {
        json_decref(*results);
        *results = NULL;
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    free(b.p);
    return rc;
}

int cs_digest(clarity_store *s, const char *entity, json_t **out)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, custom_key, json_extract(doc,'$.Hash') FROM docs WHERE "
                           "entity=? AND active=1 AND custom_key IS NOT NULL ORDER BY id", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, entity, -1, SQLITE_STATIC);
    json_t *arr = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_pack("{s:I,s:s}", "ID", (json_int_t)sqlite3_column_int64(st, 0), "Key",
                              (const char *)sqlite3_column_text(st, 1));
        switch (sqlite3_column_type(st, 2)) {
        case SQLITE_INTEGER:
            json_object_set_new(o, "Hash", json_integer(sqlite3_column_int64(st, 2)));
            break;
        case SQLITE_FLOAT:
            json_object_set_new(o, "Hash", json_real(sqlite3_column_double(st, 2)));
            break;
        case SQLITE_TEXT:
            json_object_set_new(o, "Hash", json_string((const char *)sqlite3_column_text(st, 2)));
            break;
        default:
            break;
        }
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int64_t cs_parse_iso(const char *s)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, offset_min = 0;
    if (!s)
        return -1;
    const char *p = s;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                return -1;
            if (*p == '.') {
                p++;
                int scale = 100, nd = 0;
                while (*p >= '0' && *p <= '9') {
                    if (nd++ < 3) {
                        ms += (*p - '0') * scale;
                        scale /= 10;
                    }
                    p++;
                }
                if (!nd)
                    return -1;
            }
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (digits(&p, 2, &om))
                return -1;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm);
    return (t - (int64_t)offset_min * 60) * 1000 + ms;
}

const char *cs_format_iso(char *buf, size_t len, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

int64_t cs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
