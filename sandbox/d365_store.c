/* d365_store.c - the D365 emulator's storage and entity model: one SQLite table of rows (entity
 * set, company, canonical key, version, JSON body), number sequences, keys and key URLs, etags,
 * F&O default values and type validation of written values against the schema. */
#include "d365_int.h"
#include "sb_http.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const SCHEMA_SQL =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS rows(id INTEGER PRIMARY KEY, eset TEXT NOT NULL,"
    " area TEXT NOT NULL, k TEXT NOT NULL, ver INTEGER NOT NULL, body TEXT NOT NULL,"
    " UNIQUE(eset, k));"
    "CREATE INDEX IF NOT EXISTS rows_set ON rows(eset, area);"
    "CREATE INDEX IF NOT EXISTS rows_son ON rows(eset, json_extract(body, '$.SalesOrderNumber')"
    " COLLATE NOCASE);"
    "CREATE INDEX IF NOT EXISTS rows_item ON rows(eset, json_extract(body, '$.ItemNumber')"
    " COLLATE NOCASE);"
    "CREATE INDEX IF NOT EXISTS rows_jbn ON rows(eset, json_extract(body, '$.JournalBatchNumber')"
    " COLLATE NOCASE);"
    "CREATE INDEX IF NOT EXISTS rows_inv ON rows(eset, json_extract(body, '$.InvoiceNumber')"
    " COLLATE NOCASE);"
    "CREATE INDEX IF NOT EXISTS rows_ret ON rows(eset, json_extract(body, '$.ReturnOrderNumber')"
    " COLLATE NOCASE);"
    "CREATE TABLE IF NOT EXISTS numseq(name TEXT PRIMARY KEY, next INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS reservations(area TEXT, lot TEXT, item TEXT, site TEXT,"
    " wh TEXT, qty REAL, PRIMARY KEY(area, lot, item, site, wh));";

/* ---- $orderby in SQL ----
 *
 * A collection read with $orderby (no $filter) used to parse the whole set and qsort it with
 * d365_query.c's cmp_items for every page.  SQLite now sorts the row ids (ORDER BY, kept until
 * the next write: d365_store_scan_ordered) and only the page's rows are parsed.  The order is
 * exactly cmp_items' because each $orderby term sorts by a BLOB (compared with memcmp, then
 * length) built here from the property's value v, or from its default when the stored row omits
 * it, as cmp_items takes it:
 *
 *   absent-with-null-default or JSON null    00                 cmp_items: null before non-null
 *   number                                   01 01 <8 bytes>    the double (json_number_value:
 *                                                               integers converted, -0 == 0) in
 *                                                               an order-preserving encoding
 *   string                                   01 02 <bytes>      the bytes with ASCII A-Z folded:
 *                                                               memcmp then shorter-first is
 *                                                               strcasecmp in the C locale (the
 *                                                               sandbox never calls setlocale),
 *                                                               trailing blanks counting as they
 *                                                               do in cmp_items (not fo_collate)
 *   anything else (true/false, objects)      01                 cmp_items compares them equal
 *
 * DESC reverses a term like cmp_items' -c, and ties fall to the row id (insertion order), which
 * is cmp_items' idx.  The value reaches the function as `body -> path`, SQLite's copy of the raw
 * JSON token, and is decoded by jansson, the parser the scan uses, so a real is the same double
 * bit for bit (SQLite's own text-to-real conversion is not used).  ORDER BY json_extract(...)
 * COLLATE NOCASE would give the same order for present strings, but not for absent values
 * (which sort as their default), JSON null vs absent, booleans (which cmp_items leaves
 * unordered) or reals, hence the function.  The one case where orders could differ is a
 * property whose stored values mix numbers and strings: cmp_items is then not a consistent order
 * (qsort's result is unspecified); d365_coerce's typing of every write keeps that from
 * happening. */
static void sort_key_put(unsigned char **p, size_t *n, size_t *cap, const void *src, size_t len)
{
    if (!*p)
        return;
    if (*n + len > *cap) {
        size_t c = (*cap ? *cap : 32) * 2 + len;
        unsigned char *q = realloc(*p, c);
        if (!q) {
            free(*p);
            *p = NULL;
            return;
        }
        *p = q;
        *cap = c;
    }
    memcpy(*p + *n, src, len);
    *n += len;
}

/* The sort key of v (NULL: absent and no default) into a malloc'd buffer; NULL on OOM. */
static unsigned char *sort_key_of(const json_t *v, size_t *len)
{
    size_t cap = 32, n = 0;
    unsigned char *p = malloc(cap);
    if (!v || json_is_null(v)) {
        sort_key_put(&p, &n, &cap, "\x00", 1);
    } else if (json_is_number(v)) {
        double d = json_number_value(v);
        if (d == 0)
            d = 0; /* -0 compares equal to 0 */
        unsigned long long bits;
        memcpy(&bits, &d, sizeof bits);
        bits = bits >> 63 ? ~bits : bits | 1ULL << 63;
        unsigned char b[10] = { 1, 1 };
        for (int i = 0; i < 8; i++)
            b[2 + i] = (unsigned char)(bits >> (56 - 8 * i));
        sort_key_put(&p, &n, &cap, b, sizeof b);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t sl = strlen(s); /* strcasecmp stops at a NUL too */
        sort_key_put(&p, &n, &cap, "\x01\x02", 2);
        if (p && n + sl > cap) {
            unsigned char *q = realloc(p, n + sl);
            if (!q) {
                free(p);
                p = NULL;
            } else {
                p = q;
                cap = n + sl;
            }
        }
        for (size_t i = 0; p && i < sl; i++) {
            unsigned char c = (unsigned char)s[i];
            p[n++] = c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
        }
    } else {
        sort_key_put(&p, &n, &cap, "\x01", 1);
    }
    *len = n;
    return p;
}

/* d365_sort_key(raw JSON token or NULL when absent, key of the default) */
static void sort_key_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_value(ctx, argv[1]);
        return;
    }
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    json_t *v = text ? json_loadb(text, (size_t)sqlite3_value_bytes(argv[0]),
                                  JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                     : NULL;
    size_t n = 0;
    unsigned char *k = v ? sort_key_of(v, &n) : NULL;
    json_decref(v);
    if (!k) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_blob(ctx, k, (int)n, free);
}

int d365_store_open(d365_server *srv, char *err, size_t errlen)
{
    if (sqlite3_open_v2(srv->db_path, &srv->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", srv->db_path,
                 srv->db ? sqlite3_errmsg(srv->db) : "out of memory");
        return -1;
    }
    char *msg = NULL;
    if (sqlite3_exec(srv->db, SCHEMA_SQL, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot initialise %s: %s", srv->db_path, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    sqlite3_busy_timeout(srv->db, 5000);
    if (sqlite3_create_function_v2(srv->db, "d365_sort_key", 2,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                   sort_key_fn, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot initialise %s: %s", srv->db_path, sqlite3_errmsg(srv->db));
        return -1;
    }
    return 0;
}

sqlite3_stmt *d365_stmt(d365_server *srv, const char *sql)
{
    for (size_t i = 0; i < srv->nstmts; i++)
        if (strcmp(srv->stmts[i].sql, sql) == 0)
            return srv->stmts[i].st;
    sqlite3_stmt *st = NULL;
    bool cache = srv->nstmts < sizeof srv->stmts / sizeof srv->stmts[0];
    if (sqlite3_prepare_v3(srv->db, sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) !=
        SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    char *copy = cache ? strdup(sql) : NULL;
    if (copy) {
        srv->stmts[srv->nstmts].sql = copy;
        srv->stmts[srv->nstmts].st = st;
        srv->nstmts++;
    }
    return st;
}

void d365_stmt_done(d365_server *srv, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < srv->nstmts; i++) {
        if (srv->stmts[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st); /* the cache was full */
}

static void order_cache_free(d365_server *srv);

void d365_store_close(d365_server *srv)
{
    order_cache_free(srv);
    for (size_t i = 0; i < srv->nstmts; i++) {
        sqlite3_finalize(srv->stmts[i].st);
        free(srv->stmts[i].sql);
    }
    srv->nstmts = 0;
    if (srv->db)
        sqlite3_close(srv->db);
    srv->db = NULL;
}

int d365_store_begin(d365_server *srv)
{
    return sqlite3_exec(srv->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int d365_store_commit(d365_server *srv)
{
    return sqlite3_exec(srv->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void d365_store_rollback(d365_server *srv)
{
    sqlite3_exec(srv->db, "ROLLBACK", NULL, NULL, NULL);
}

char *d365_key_of(const schema_type *t, const json_t *ent)
{
    if (!t->nkeys)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < t->nkeys; i++) {
        json_t *v = json_object_get(ent, t->keys[i]);
        if (!v || json_is_null(v)) {
            json_decref(a);
            return NULL;
        }
        if (json_is_string(v)) {
            /* keys compare case-insensitively in F&O (SQL collation) */
            const char *s = json_string_value(v);
            char *low = strdup(s);
            for (char *p = low; p && *p; p++)
                *p = (char)tolower((unsigned char)*p);
            json_array_append_new(a, json_string(low ? low : s));
            free(low);
        } else if (json_is_number(v)) {
            json_array_append_new(a, json_real(json_number_value(v)));
        } else {
            json_array_append(a, v);
        }
    }
    char *s = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(a);
    return s;
}

/* ---- values ---- */

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

int d365_parse_datetime(const char *s, long long *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    const char *p = s + 10;
    long long off = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        int n2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n2) != 2 || n2 != 5)
            return -1;
        p += 1 + n2;
        if (*p == ':') {
            if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
                return -1;
            sec = (p[1] - '0') * 10 + (p[2] - '0');
            p += 3;
            if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p))
                    return -1;
                while (isdigit((unsigned char)*p))
                    p++;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || strlen(p) != 6)
                return -1;
            off = (oh * 60 + om) * 60LL * (*p == '+' ? 1 : -1);
            p += 6;
        } else {
            return -1;
        }
    } else {
        h = 12; /* a date alone: F&O dates sit at 12:00:00Z */
    }
    if (*p)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1)
        return -1;
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (d > mdays[mo - 1])
        return -1;
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL + h * 3600 + mi * 60 + sec - off;
    return 0;
}

void d365_format_datetime(char *out, size_t len, long long t)
{
    long long days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    long long secs = t - days * 86400;
    /* civil_from_days */
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, len, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", y, m, d, secs / 3600,
             (secs / 60) % 60, secs % 60);
}

const char *d365_qualified(const schema_type *t)
{
    return t->qualified ? t->qualified : t->name;
}

json_t *d365_prop_default(const schema_prop *p)
{
    switch (p->type.kind) {
    case SK_STRING:
        return json_string("");
    case SK_BOOLEAN:
        return json_false();
    case SK_INT32:
    case SK_INT64:
        return json_integer(0);
    case SK_DECIMAL:
    case SK_DOUBLE:
        return json_integer(0);
    case SK_DATE:
        return json_string(D365_EMPTY_DATE);
    case SK_DATETIME:
        /* a real environment answers 1900-01-01T12:00:00Z for Date fields and
         * 1900-01-01T00:00:00Z for UtcDateTime ones (recorded CustomersV3 create) */
        return json_string(p->is_date ? D365_EMPTY_DATE : D365_EMPTY_DATETIME);
    case SK_TIME:
        return json_integer(0);
    case SK_GUID:
        return json_string("00000000-0000-0000-0000-000000000000");
    case SK_ENUM: {
        /* the member whose value is 0 (F&O enum fields default to 0); none -> null, as a
         * real environment answers for Timezone */
        const schema_enum *e = p->type.enumt;
        for (size_t i = 0; e && i < e->nmembers; i++)
            if (e->members[i].value == 0)
                return json_string(e->members[i].name);
        return json_null();
    }
    case SK_BINARY:
    case SK_OBJECT:
    case SK_ARRAY:
    case SK_ANY:
        return json_null();
    }
    return json_null();
}

json_t *d365_entity_defaults(const schema_type *t)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < t->nprops; i++)
        json_object_set_new(o, t->props[i].name, d365_prop_default(&t->props[i]));
    return o;
}

static const char *edm_name(const schema_prop *p)
{
    return p->type.name ? p->type.name : schema_kind_name(p->type.kind);
}

static void literal_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v)) {
        snprintf(buf, len, "%s", json_string_value(v));
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, len, "%s", s ? s : "?");
        free(s);
    }
}

json_t *d365_coerce(const schema_prop *p, const json_t *v, char *msg, size_t msglen)
{
    char lit[200];
    literal_text(v, lit, sizeof lit);
    if (json_is_null(v)) {
        if (p->type.kind == SK_STRING)
            return json_string("");
        if (p->type.kind == SK_ENUM && p->nullable)
            return json_null();
        if (!p->nullable || p->type.kind != SK_BINARY) {
            snprintf(msg, msglen,
                     "A null value was found for the property named '%s', which has the expected "
                     "type '%s[Nullable=False]'. The expected type '%s[Nullable=False]' does not "
                     "allow null values.", p->name, edm_name(p), edm_name(p));
            return NULL;
        }
        return json_null();
    }
    switch (p->type.kind) {
    case SK_STRING:
        if (json_is_string(v))
            return json_copy((json_t *)v);
        snprintf(msg, msglen, "Cannot convert a primitive value to the expected type 'Edm.String'. "
                 "See the inner exception for more details. (property '%s', value %s)", p->name, lit);
        return NULL;
    case SK_BOOLEAN:
        if (json_is_boolean(v))
            return json_copy((json_t *)v);
        break;
    case SK_INT32:
    case SK_INT64:
        if (json_is_integer(v)) {
            json_int_t i = json_integer_value(v);
            if (p->type.kind == SK_INT32 && (i > 2147483647LL || i < -2147483648LL))
                break;
            return json_copy((json_t *)v);
        }
        if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v))
            return json_integer((json_int_t)json_real_value(v));
        break;
    case SK_DECIMAL:
    case SK_DOUBLE:
        if (json_is_number(v))
            return json_copy((json_t *)v);
        if (json_is_string(v)) {
            /* IEEE754Compatible clients send decimals as strings */
            const char *s = json_string_value(v);
            char *end;
            errno = 0;
            double d = strtod(s, &end);
            if (*s && !*end && errno == 0 && isfinite(d))
                return json_real(d);
        }
        break;
    case SK_DATE:
    case SK_DATETIME:
        if (json_is_string(v)) {
            long long t;
            if (d365_parse_datetime(json_string_value(v), &t) == 0) {
                char out[40];
                if (p->type.kind == SK_DATE || p->is_date)
                    t = (t >= 0 ? t / 86400 : (t - 86399) / 86400) * 86400 + 12 * 3600;
                d365_format_datetime(out, sizeof out, t);
                return json_string(out);
            }
        }
        break;
    case SK_GUID:
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            bool ok = strlen(s) == 36;
            for (int i = 0; ok && i < 36; i++)
                ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-'
                                                               : isxdigit((unsigned char)s[i]);
            if (ok)
                return json_copy((json_t *)v);
        }
        break;
    case SK_ENUM:
        if (json_is_string(v) && p->type.enumt) {
            const char *s = json_string_value(v);
            const schema_enum *e = p->type.enumt;
            for (size_t i = 0; i < e->nmembers; i++)
                if (strcmp(e->members[i].name, s) == 0)
                    return json_string(e->members[i].name);
            /* the numeric value is accepted too */
            char *end;
            long long n = strtoll(s, &end, 10);
            if (*s && !*end)
                for (size_t i = 0; i < e->nmembers; i++)
                    if (e->members[i].value == n)
                        return json_string(e->members[i].name);
        }
        break;
    case SK_BINARY:
        if (json_is_string(v))
            return json_copy((json_t *)v);
        break;
    case SK_TIME:
    case SK_OBJECT:
    case SK_ARRAY:
    case SK_ANY:
        return json_copy((json_t *)v);
    }
    snprintf(msg, msglen, "Cannot convert the literal '%s' to the expected type '%s'.", lit,
             edm_name(p));
    return NULL;
}

/* ---- key URLs ---- */

json_t *d365_key_parse(const schema_type *t, const char *text, char *msg, size_t msglen)
{
    json_t *out = json_object();
    const char *p = text;
    size_t idx = 0;
    if (!t->nkeys) {
        snprintf(msg, msglen, "The entity type '%s' has no key: it cannot be addressed by key.",
                 d365_qualified(t));
        goto bad;
    }
    while (*p) {
        char name[128] = "";
        const char *eq = NULL;
        /* name= is optional for single-key types */
        const char *q = p;
        while (*q && (isalnum((unsigned char)*q) || *q == '_'))
            q++;
        if (*q == '=' && q > p && (size_t)(q - p) < sizeof name) {
            memcpy(name, p, (size_t)(q - p));
            name[q - p] = '\0';
            eq = q;
            p = eq + 1;
        } else if (t->nkeys == 1 && idx == 0) {
            snprintf(name, sizeof name, "%s", t->keys[0]);
        } else {
            snprintf(msg, msglen, "The key in the request URI is not valid for resource '%s'. "
                     "Ensure that the names and number of key properties match the declared "
                     "or alternate key properties for the resource '%s'.", d365_qualified(t),
                     d365_qualified(t));
            goto bad;
        }
        const schema_prop *prop = schema_type_find_prop(t, name);
        bool iskey = false;
        for (size_t i = 0; i < t->nkeys; i++)
            if (strcmp(t->keys[i], name) == 0)
                iskey = true;
        if (!prop || !iskey || json_object_get(out, name)) {
            snprintf(msg, msglen, "The key in the request URI is not valid for resource '%s'. "
                     "Ensure that the names and number of key properties match the declared "
                     "or alternate key properties for the resource '%s'.", d365_qualified(t),
                     d365_qualified(t));
            goto bad;
        }
        json_t *val = NULL;
        if (*p == '\'') {
            /* quoted string, '' is a quote */
            size_t cap = strlen(p) + 1, n = 0;
            char *buf = malloc(cap);
            if (!buf)
                goto bad;
            p++;
            for (;;) {
                if (!*p) {
                    free(buf);
                    snprintf(msg, msglen, "Unterminated string literal in the key of the request URI.");
                    goto bad;
                }
                if (*p == '\'') {
                    if (p[1] == '\'') {
                        buf[n++] = '\'';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                buf[n++] = *p++;
            }
            buf[n] = '\0';
            json_t *s = json_string(buf);
            free(buf);
            if (!s) {
                snprintf(msg, msglen, "The key value is not valid UTF-8.");
                goto bad;
            }
            val = d365_coerce(prop, s, msg, msglen);
            json_decref(s);
        } else {
            const char *e = p;
            while (*e && *e != ',')
                e++;
            char raw[128];
            size_t n = (size_t)(e - p);
            if (n == 0 || n >= sizeof raw) {
                snprintf(msg, msglen, "Bad key value for '%s' in the request URI.", name);
                goto bad;
            }
            memcpy(raw, p, n);
            raw[n] = '\0';
            p = e;
            json_t *lit;
            if (prop->type.kind == SK_DATETIME || prop->type.kind == SK_DATE ||
                prop->type.kind == SK_GUID) {
                lit = json_string(raw);
            } else {
                lit = json_loads(raw, JSON_DECODE_ANY, NULL);
                if (!lit || !json_is_number(lit)) {
                    json_decref(lit);
                    snprintf(msg, msglen, "Bad Request - Error in query syntax: the key value "
                             "%s for '%s' is not a valid %s literal.", raw, name, edm_name(prop));
                    goto bad;
                }
            }
            val = d365_coerce(prop, lit, msg, msglen);
            json_decref(lit);
        }
        if (!val)
            goto bad;
        json_object_set_new(out, name, val);
        idx++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p) {
            snprintf(msg, msglen, "Bad Request - Error in query syntax.");
            goto bad;
        }
    }
    if (json_object_size(out) != t->nkeys) {
        snprintf(msg, msglen, "The key in the request URI is not valid for resource '%s'. Ensure "
                 "that the names and number of key properties match the declared or alternate "
                 "key properties for the resource '%s'.", d365_qualified(t), d365_qualified(t));
        goto bad;
    }
    return out;
bad:
    json_decref(out);
    return NULL;
}

char *d365_key_url(const schema_type *t, const json_t *ent)
{
    size_t cap = 256, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
#define PUT(str) do { const char *s_ = (str); size_t l_ = strlen(s_); \
        while (n + l_ + 1 > cap) { cap *= 2; char *o_ = realloc(out, cap); \
            if (!o_) { free(out); return NULL; } out = o_; } \
        memcpy(out + n, s_, l_); n += l_; out[n] = '\0'; } while (0)
    PUT("/data/");
    PUT(t->entity_set ? t->entity_set : t->name);
    PUT("(");
    for (size_t i = 0; i < t->nkeys; i++) {
        if (i)
            PUT(",");
        PUT(t->keys[i]);
        PUT("=");
        json_t *v = json_object_get(ent, t->keys[i]);
        const schema_prop *p = schema_type_find_prop(t, t->keys[i]);
        if (json_is_string(v) && p && p->type.kind != SK_DATETIME && p->type.kind != SK_DATE &&
            p->type.kind != SK_GUID) {
            const char *s = json_string_value(v);
            size_t l = strlen(s);
            char *dq = malloc(2 * l + 3), *w = dq;
            if (!dq) {
                free(out);
                return NULL;
            }
            *w++ = '\'';
            for (const char *c = s; *c; c++) {
                *w++ = *c;
                if (*c == '\'')
                    *w++ = '\'';
            }
            *w++ = '\'';
            *w = '\0';
            char *enc = sb_url_encode(dq);
            free(dq);
            if (!enc) {
                free(out);
                return NULL;
            }
            /* keep the quotes readable: %27 -> ' */
            char *r = enc, *wr = enc;
            while (*r) {
                if (r[0] == '%' && r[1] == '2' && r[2] == '7') {
                    *wr++ = '\'';
                    r += 3;
                } else {
                    *wr++ = *r++;
                }
            }
            *wr = '\0';
            PUT(enc);
            free(enc);
        } else if (json_is_string(v)) {
            PUT(json_string_value(v));
        } else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            PUT(s ? s : "null");
            free(s);
        }
    }
    PUT(")");
#undef PUT
    return out;
}

/* ---- rows ---- */

int d365_store_get(d365_server *srv, const char *set, const char *key, json_t **ent,
                   long long *ver)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if ((st = d365_stmt(srv, "SELECT body, ver FROM rows WHERE eset=?1 AND k=?2")) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, set, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *ent = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (ver)
            *ver = sqlite3_column_int64(st, 1);
        rc = *ent ? 1 : -1;
    } else if (s == SQLITE_DONE) {
        rc = 0;
    }
    d365_stmt_done(srv, st);
    return rc;
}

bool d365_is_default(const schema_prop *p, const json_t *v)
{
    if (!v)
        return true;
    json_t *d = d365_prop_default(p);
    bool same = json_equal(d, (json_t *)v) ||
                (json_is_number(d) && json_is_number(v) &&
                 json_number_value(d) == json_number_value(v));
    json_decref(d);
    return same;
}

/* The stored form of an entity: key values and every value that differs from its default
 * (F&O entities carry 150-300 properties, mostly defaults: parsing them dominated reads). */
static char *stored_text(d365_server *srv, const char *set, const json_t *ent)
{
    const char *tn = schema_type_for_set(srv->sch, set);
    const schema_type *t = tn ? schema_find_type(srv->sch, tn) : NULL;
    if (!t)
        return json_dumps(ent, JSON_COMPACT);
    json_t *sparse = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ent, k, v) {
        const schema_prop *p = schema_type_find_prop(t, k);
        if (!p || p->key || !d365_is_default(p, v))
            json_object_set(sparse, k, v);
    }
    char *text = json_dumps(sparse, JSON_COMPACT);
    json_decref(sparse);
    return text;
}

int d365_store_insert(d365_server *srv, const char *set, const char *area, const char *key,
                      const json_t *ent)
{
    char *body = stored_text(srv, set, ent);
    if (!body)
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if ((st = d365_stmt(srv, "INSERT INTO rows(eset, area, k, ver, body) "
                             "VALUES(?1,?2,?3,1,?4)")) != NULL) {
        sqlite3_bind_text(st, 1, set, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, area ? area : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        rc = s == SQLITE_DONE ? 0 : (sqlite3_extended_errcode(srv->db) == SQLITE_CONSTRAINT_UNIQUE ? 1 : -1);
    }
    d365_stmt_done(srv, st);
    free(body);
    return rc;
}

int d365_store_update(d365_server *srv, const char *set, const char *key, const json_t *ent,
                      long long *ver)
{
    char *body = stored_text(srv, set, ent);
    if (!body)
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if ((st = d365_stmt(srv, "UPDATE rows SET body=?3, ver=ver+1 WHERE eset=?1 AND k=?2 "
                             "RETURNING ver")) != NULL) {
        sqlite3_bind_text(st, 1, set, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            if (ver)
                *ver = sqlite3_column_int64(st, 0);
            rc = 0;
        }
    }
    d365_stmt_done(srv, st);
    free(body);
    return rc;
}

int d365_store_delete(d365_server *srv, const char *set, const char *key)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if ((st = d365_stmt(srv, "DELETE FROM rows WHERE eset=?1 AND k=?2")) != NULL) {
        sqlite3_bind_text(st, 1, set, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(srv->db) ? 0 : 1) : -1;
    }
    d365_stmt_done(srv, st);
    return rc;
}

static json_t *scan(d365_server *srv, const char *sql, const char *set, const char *area,
                    const char *field, const char *value)
{
    sqlite3_stmt *st = NULL;
    if ((st = d365_stmt(srv, sql)) == NULL)
        return NULL;
    sqlite3_bind_text(st, 1, set, -1, SQLITE_STATIC);
    if (area)
        sqlite3_bind_text(st, 2, area, -1, SQLITE_STATIC);
    if (field) {
        char path[200];
        snprintf(path, sizeof path, "$.\"%s\"", field);
        sqlite3_bind_text(st, 3, path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, value, -1, SQLITE_STATIC);
    }
    json_t *out = json_array();
    int s;
    while (out && (s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *e = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (e)
            json_array_append_new(out, json_pack("[o,I]", e, (json_int_t)sqlite3_column_int64(st, 1)));
    }
    d365_stmt_done(srv, st);
    return out;
}

json_t *d365_store_scan(d365_server *srv, const char *set, const char *area)
{
    return scan(srv, area ? "SELECT body, ver FROM rows WHERE eset=?1 AND area=?2 ORDER BY id"
                          : "SELECT body, ver FROM rows WHERE eset=?1 ORDER BY id",
                set, area, NULL, NULL);
}

json_t *d365_store_scan_range(d365_server *srv, const char *set, const char *area,
                              long long offset, long long limit)
{
    sqlite3_stmt *st = d365_stmt(srv, area ? "SELECT body, ver FROM rows WHERE eset=?1 AND "
                                             "area=?2 ORDER BY id LIMIT ?3 OFFSET ?4"
                                           : "SELECT body, ver FROM rows WHERE eset=?1 "
                                             "ORDER BY id LIMIT ?3 OFFSET ?4");
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, set, -1, SQLITE_STATIC);
    if (area)
        sqlite3_bind_text(st, 2, area, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    json_t *out = json_array();
    while (out && sqlite3_step(st) == SQLITE_ROW) {
        json_t *e = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (e)
            json_array_append_new(out, json_pack("[o,I]", e, (json_int_t)sqlite3_column_int64(st, 1)));
    }
    d365_stmt_done(srv, st);
    return out;
}

/* The sorted row ids of the last few ordered reads, per (set, company, $orderby terms): paging
 * through a sorted set costs one sort, not one per page (each page fetches its rows by id).  An
 * entry is good while the connection's sqlite3_total_changes64 is what it was when the entry was
 * built: every write to the store (insert, update, delete, rolled back or not) goes through this
 * one connection and moves it, so a stale order is never served. */
#define ORDER_CACHE_SLOTS 4
typedef struct order_slot {
    char *sig;
    sqlite3_int64 *ids;
    size_t n;
    sqlite3_int64 changes;
    unsigned long long used;
} order_slot;

struct d365_order_cache {
    order_slot slot[ORDER_CACHE_SLOTS];
    unsigned long long tick;
};

static void order_slot_clear(order_slot *e)
{
    free(e->sig);
    free(e->ids);
    memset(e, 0, sizeof *e);
}

static void order_cache_free(d365_server *srv)
{
    if (!srv->orders)
        return;
    for (size_t i = 0; i < ORDER_CACHE_SLOTS; i++)
        order_slot_clear(&srv->orders->slot[i]);
    free(srv->orders);
    srv->orders = NULL;
}

/* "set\x1farea\x1ffield\x1fA|D..." malloc'd */
static char *order_sig(const char *set, const char *area, const d365_order *keys, size_t nkeys)
{
    size_t cap = strlen(set) + (area ? strlen(area) : 0) + 8;
    for (size_t i = 0; i < nkeys; i++)
        cap += strlen(keys[i].field) + 4;
    char *sig = malloc(cap);
    if (!sig)
        return NULL;
    size_t n = (size_t)snprintf(sig, cap, "%s\x1f%s%s", set, area ? "=" : "*", area ? area : "");
    for (size_t i = 0; i < nkeys; i++)
        n += (size_t)snprintf(sig + n, cap - n, "\x1f%s\x1f%c", keys[i].field,
                              keys[i].desc ? 'D' : 'A');
    return sig;
}

/* Prepare the ordered select (ids only, or body and ver from ?3/?4 with LIMIT/OFFSET) and bind
 * it; NULL on error. */
static sqlite3_stmt *ordered_stmt(d365_server *srv, const char *set, const char *area,
                                  const d365_order *keys, size_t nkeys, bool ids_only)
{
    size_t cap = 200 + nkeys * 64, n = 0;
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    n += (size_t)snprintf(sql + n, cap - n, "SELECT %s FROM rows WHERE eset=?1 AND %s ORDER BY ",
                          ids_only ? "id" : "body, ver", area ? "area=?2" : "?2 IS NULL");
    for (size_t i = 0; i < nkeys; i++)
        n += (size_t)snprintf(sql + n, cap - n, "d365_sort_key(body -> ?%zu, ?%zu)%s, ", 5 + 2 * i,
                              6 + 2 * i, keys[i].desc ? " DESC" : "");
    snprintf(sql + n, cap - n, ids_only ? "id" : "id LIMIT ?3 OFFSET ?4");
    sqlite3_stmt *st = d365_stmt(srv, sql);
    free(sql);
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, set, -1, SQLITE_STATIC);
    if (area)
        sqlite3_bind_text(st, 2, area, -1, SQLITE_STATIC);
    for (size_t i = 0; i < nkeys; i++) {
        char path[200];
        snprintf(path, sizeof path, "$.\"%s\"", keys[i].field);
        size_t kl = 0;
        unsigned char *k = sort_key_of(keys[i].defv, &kl);
        if (!k) {
            d365_stmt_done(srv, st);
            return NULL;
        }
        sqlite3_bind_text(st, (int)(5 + 2 * i), path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, (int)(6 + 2 * i), k, (int)kl, free);
    }
    return st;
}

/* The cached sorted ids of the query (building them if needed), NULL on error. */
static order_slot *order_ids(d365_server *srv, const char *set, const char *area,
                             const d365_order *keys, size_t nkeys)
{
    if (!srv->orders && !(srv->orders = calloc(1, sizeof *srv->orders)))
        return NULL;
    struct d365_order_cache *c = srv->orders;
    char *sig = order_sig(set, area, keys, nkeys);
    if (!sig)
        return NULL;
    sqlite3_int64 now = sqlite3_total_changes64(srv->db);
    order_slot *e = NULL, *lru = &c->slot[0];
    for (size_t i = 0; i < ORDER_CACHE_SLOTS; i++) {
        order_slot *x = &c->slot[i];
        if (x->sig && x->changes != now)
            order_slot_clear(x); /* the store changed since: every entry is stale */
        if (x->sig && strcmp(x->sig, sig) == 0)
            e = x;
        if (x->used < lru->used)
            lru = x;
    }
    if (e) {
        free(sig);
        e->used = ++c->tick;
        return e;
    }
    e = lru;
    order_slot_clear(e);
    sqlite3_stmt *st = ordered_stmt(srv, set, area, keys, nkeys, true);
    size_t cap = 0;
    int s = SQLITE_ERROR;
    while (st && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (e->n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            sqlite3_int64 *q = realloc(e->ids, nc * sizeof *q);
            if (!q) {
                s = SQLITE_NOMEM;
                break;
            }
            e->ids = q;
            cap = nc;
        }
        e->ids[e->n++] = sqlite3_column_int64(st, 0);
    }
    d365_stmt_done(srv, st);
    if (s != SQLITE_DONE) {
        free(sig);
        order_slot_clear(e);
        return NULL;
    }
    e->sig = sig;
    e->changes = now;
    e->used = ++c->tick;
    return e;
}

json_t *d365_store_scan_ordered(d365_server *srv, const char *set, const char *area,
                                const d365_order *keys, size_t nkeys, long long offset,
                                long long limit)
{
    json_t *out = json_array();
    order_slot *e = out ? order_ids(srv, set, area, keys, nkeys) : NULL;
    sqlite3_stmt *st = NULL;
    if (e) { /* the page's rows by id, from the cached order */
        st = d365_stmt(srv, "SELECT body, ver FROM rows WHERE id=?1");
        for (long long i = offset; st && i >= 0 && (size_t)i < e->n && i - offset < limit; i++) {
            sqlite3_bind_int64(st, 1, e->ids[i]);
            if (sqlite3_step(st) == SQLITE_ROW) {
                json_t *ent = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
                if (ent)
                    json_array_append_new(out, json_pack("[o,I]", ent,
                                                         (json_int_t)sqlite3_column_int64(st, 1)));
            }
            sqlite3_reset(st);
        }
        if (!st) {
            json_decref(out);
            out = NULL;
        }
        d365_stmt_done(srv, st);
        return out;
    }
    /* no memory for the cache: let SQLite cut the page (a top-N sort per page) */
    st = out ? ordered_stmt(srv, set, area, keys, nkeys, false) : NULL;
    if (!st) {
        json_decref(out);
        return NULL;
    }
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    int s = SQLITE_DONE;
    while (out && (s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *ent = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (ent)
            json_array_append_new(out, json_pack("[o,I]", ent,
                                                 (json_int_t)sqlite3_column_int64(st, 1)));
    }
    if (out && s != SQLITE_DONE) {
        json_decref(out);
        out = NULL;
    }
    d365_stmt_done(srv, st);
    return out;
}

long long d365_store_count(d365_server *srv, const char *set, const char *area)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if ((st = d365_stmt(srv, area ? "SELECT count(*) FROM rows WHERE eset=?1 AND area=?2"
                                  : "SELECT count(*) FROM rows WHERE eset=?1")) != NULL) {
        sqlite3_bind_text(st, 1, set, -1, SQLITE_STATIC);
        if (area)
            sqlite3_bind_text(st, 2, area, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    d365_stmt_done(srv, st);
    return n;
}

bool d365_store_indexed(const char *field)
{
    static const char *const idx[] = { "SalesOrderNumber", "ItemNumber", "JournalBatchNumber",
                                       "InvoiceNumber", "ReturnOrderNumber", NULL };
    for (size_t i = 0; idx[i]; i++)
        if (strcmp(idx[i], field) == 0)
            return true;
    return false;
}

json_t *d365_store_find(d365_server *srv, const char *set, const char *area, const char *field,
                        const char *value)
{
    if (d365_store_indexed(field)) {
        /* the expression must match the index's text for SQLite to use it */
        char sql[400];
        snprintf(sql, sizeof sql, "SELECT body, ver FROM rows WHERE eset=?1 AND "
                 "json_extract(body, '$.%s') = ?4 COLLATE NOCASE AND (?2 IS NULL OR area=?2) "
                 "AND ?3 IS NOT NULL ORDER BY id", field);
        return scan(srv, sql, set, area, field, value);
    }
    return scan(srv, area ? "SELECT body, ver FROM rows WHERE eset=?1 AND area=?2 AND "
                            "json_extract(body, ?3) = ?4 COLLATE NOCASE ORDER BY id"
                          : "SELECT body, ver FROM rows WHERE eset=?1 AND ?2 IS NULL AND "
                            "json_extract(body, ?3) = ?4 COLLATE NOCASE ORDER BY id",
                set, area, field, value);
}

long long d365_store_next(d365_server *srv, const char *name)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if ((st = d365_stmt(srv, "INSERT INTO numseq(name, next) VALUES(?1, 2) ON CONFLICT(name) DO "
                           "UPDATE SET next = next + 1 RETURNING next - 1")) != NULL) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    d365_stmt_done(srv, st);
    return n;
}

void d365_etag(char *out, size_t outlen, const char *key, long long ver)
{
    /* F&O etags are W/"<base64 of 'version,recid;...'>" */
    unsigned long long h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    char raw[96];
    int n = snprintf(raw, sizeof raw, "'%lld,%llu;0,0'", ver, h % 10000000000ull);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char enc[160];
    size_t w = 0;
    for (int i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)raw[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)raw[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)raw[i + 2];
        enc[w++] = b64[(v >> 18) & 63];
        enc[w++] = b64[(v >> 12) & 63];
        enc[w++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        enc[w++] = i + 2 < n ? b64[v & 63] : '=';
    }
    enc[w] = '\0';
    snprintf(out, outlen, "W/\"%s\"", enc);
}

/* ---- helpers ---- */

bool d365_has_prop(const schema_type *t, const char *name)
{
    return schema_type_find_prop(t, name) != NULL;
}

void d365_set_if(const schema_type *t, json_t *ent, const char *name, json_t *v)
{
    if (v && d365_has_prop(t, name))
        json_object_set_new(ent, name, v);
    else
        json_decref(v);
}

double d365_num(const json_t *ent, const char *name)
{
    json_t *v = json_object_get(ent, name);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

const char *d365_str(const json_t *ent, const char *name)
{
    json_t *v = json_object_get(ent, name);
    return json_is_string(v) ? json_string_value(v) : "";
}

double d365_round2(double v)
{
    return round(v * 100.0) / 100.0;
}
