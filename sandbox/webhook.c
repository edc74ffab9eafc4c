/*
 * webhook.c - durable outbox and background sender of the Clarity emulator's outbound
 * webhooks (the contract is in webhook.h).
 */
#include "webhook.h"
#include "seed.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct webhook {
    clarity_store *store;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;          /* guards the members below */
    pthread_cond_t cv;
    int stop, kicked;
    char *url, *secret;
    unsigned backoff_ms, backoff_max_ms, max_attempts, timeout_ms;
    seed_rng rng;
};

static const char outbox_sql[] =
    "CREATE TABLE IF NOT EXISTS outbox("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, event_type TEXT NOT NULL,"
    " occurred_at TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL DEFAULT 0,"
    " last_status INTEGER, last_error TEXT, delivered_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_ms);";

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

void webhook_sign(const char *secret, const char *timestamp, const char *body, size_t len,
                  char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t tl = strlen(timestamp);
    unsigned char *msg = malloc(tl + 1 + len);
    if (!msg || outlen < 72) {
        free(msg);
        if (outlen)
            out[0] = '\0';
        return;
    }
    memcpy(msg, timestamp, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, len);
    HMAC(EVP_sha256(), secret ? secret : "", (int)(secret ? strlen(secret) : 0), msg,
         tl + 1 + len, md, &mdlen);
    free(msg);
    size_t n = (size_t)snprintf(out, outlen, "sha256=");
    for (unsigned i = 0; i < mdlen && n + 3 <= outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%02x", md[i]);
}

int webhook_enqueue(webhook *w, const char *event_type, const json_t *entity)
{
    char event_id[40], occurred[32];
    uint64_t a, b;
    pthread_mutex_lock(&w->mu);
    a = seed_rng_next(&w->rng);
    b = seed_rng_next(&w->rng);
    pthread_mutex_unlock(&w->mu);
    snprintf(event_id, sizeof event_id, "evt_%016llx%016llx", (unsigned long long)a,
             (unsigned long long)b);
    cs_format_iso(occurred, sizeof occurred, cs_now_ms());
    json_t *ev = json_pack("{s:s,s:s,s:s,s:O}", "EventType", event_type, "EventID", event_id,
                           "OccurredAt", occurred, "Entity", entity);
    if (!ev)
        return -1;
    char *body = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(ev);
    if (!body)
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(cs_db(w->store),
                           "INSERT INTO outbox(event_id,event_type,occurred_at,body,next_ms) "
                           "VALUES(?,?,?,?,0)", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, event_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, occurred, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    free(body);
    return rc;
}

void webhook_kick(webhook *w)
{
    pthread_mutex_lock(&w->mu);
    w->kicked = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

typedef struct due_event {
    int64_t seq;
    char *event_id, *event_type, *body;
    int attempts;
} due_event;

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* One HTTP attempt; returns the HTTP status (0 on transport error, message in err). */
static long deliver(webhook *w, const char *url, const char *secret, const due_event *e,
                    unsigned timeout_ms, char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return 0;
    }
    char ts[32], sig[80], h[256], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    size_t len = strlen(e->body);
    webhook_sign(secret, ts, e->body, len, sig, sizeof sig);
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    snprintf(h, sizeof h, "X-Clarity-Event: %s", e->event_type);
    hdr = curl_slist_append(hdr, h);
    snprintf(h, sizeof h, "X-Clarity-Event-ID: %s", e->event_id);
    hdr = curl_slist_append(hdr, h);
    snprintf(h, sizeof h, "X-Clarity-Timestamp: %s", ts);
    hdr = curl_slist_append(hdr, h);
    snprintf(h, sizeof h, "X-Clarity-Signature: %s", sig);
    hdr = curl_slist_append(hdr, h);
    snprintf(h, sizeof h, "X-Clarity-Delivery-Attempt: %d", e->attempts + 1);
    hdr = curl_slist_append(hdr, h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, e->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ClarityEcommerce-Sandbox-Webhooks/1");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
            snprintf(err, errlen, "HTTP %ld", status);
    } else {
        snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    (void)w;
    return status;
}

static void record_attempt(webhook *w, const due_event *e, long status, const char *err,
                           unsigned backoff_ms, unsigned backoff_max_ms, unsigned max_attempts)
{
    int64_t now = cs_now_ms();
    int attempts = e->attempts + 1;
    int ok = status >= 200 && status <= 299;
    const char *state = ok ? "delivered"
                           : (max_attempts && (unsigned)attempts >= max_attempts ? "failed"
                                                                                 : "pending");
    uint64_t delay = backoff_ms;
    for (int i = 1; i < attempts && delay < backoff_max_ms; i++)
        delay *= 2;
    if (delay > backoff_max_ms)
        delay = backoff_max_ms;
    pthread_mutex_lock(&w->mu);
    delay += delay ? seed_rng_next(&w->rng) % (delay / 10 + 1) : 0;
    pthread_mutex_unlock(&w->mu);
    cs_lock(w->store);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cs_db(w->store),
                           "UPDATE outbox SET state=?, attempts=?, next_ms=?, last_status=?, "
                           "last_error=?, delivered_ms=? WHERE seq=?", -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, attempts);
        sqlite3_bind_int64(st, 3, now + (int64_t)delay);
        if (status)
            sqlite3_bind_int64(st, 4, status);
        else
            sqlite3_bind_null(st, 4);
        if (ok || !err[0])
            sqlite3_bind_null(st, 5);
        else
            sqlite3_bind_text(st, 5, err, -1, SQLITE_STATIC);
        if (ok)
            sqlite3_bind_int64(st, 6, now);
        else
            sqlite3_bind_null(st, 6);
        sqlite3_bind_int64(st, 7, e->seq);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    cs_unlock(w->store);
}

/* Up to max due events into ev[]; *next_due = the earliest future due time (or 0). */
static int load_due(webhook *w, due_event *ev, int max, int64_t *next_due)
{
    int n = 0;
    int64_t now = cs_now_ms();
    *next_due = 0;
    cs_lock(w->store);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cs_db(w->store),
                           "SELECT seq,event_id,event_type,body,attempts,next_ms FROM outbox "
                           "WHERE state='pending' ORDER BY next_ms, seq LIMIT ?", -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_int(st, 1, max);
        while (n < max && sqlite3_step(st) == SQLITE_ROW) {
            int64_t due = sqlite3_column_int64(st, 5);
            if (due > now) {
                *next_due = due;
                break;
            }
            ev[n].seq = sqlite3_column_int64(st, 0);
            ev[n].event_id = strdup((const char *)sqlite3_column_text(st, 1));
            ev[n].event_type = strdup((const char *)sqlite3_column_text(st, 2));
            ev[n].body = strdup((const char *)sqlite3_column_text(st, 3));
            ev[n].attempts = sqlite3_column_int(st, 4);
            n++;
        }
    }
    sqlite3_finalize(st);
    cs_unlock(w->store);
    return n;
}

/* Keep the outbox bounded: forget all but the last WEBHOOK_KEEP_DONE finished events. */
#define WEBHOOK_KEEP_DONE 10000
static void prune(webhook *w)
{
    cs_lock(w->store);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cs_db(w->store),
                           "DELETE FROM outbox WHERE state<>'pending' AND seq <= (SELECT seq FROM "
                           "outbox WHERE state<>'pending' ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int(st, 1, WEBHOOK_KEEP_DONE);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    cs_unlock(w->store);
}

static void *sender(void *arg)
{
    webhook *w = arg;
    due_event ev[16];
    int64_t last_prune = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int stop = w->stop;
        char *url = dup_or_null(w->url), *secret = dup_or_null(w->secret);
        unsigned bo = w->backoff_ms, bomax = w->backoff_max_ms, maxa = w->max_attempts;
        unsigned tmo = w->timeout_ms;
        w->kicked = 0;
        pthread_mutex_unlock(&w->mu);
        int n = 0;
        int64_t next_due = 0;
        if (!stop && url)
            n = load_due(w, ev, 16, &next_due);
        for (int i = 0; i < n; i++) {
            pthread_mutex_lock(&w->mu);
            stop = w->stop;
            pthread_mutex_unlock(&w->mu);
            if (!stop) {
                char err[CURL_ERROR_SIZE + 32] = "";
                long status = deliver(w, url, secret, &ev[i], tmo, err, sizeof err);
                record_attempt(w, &ev[i], status, err, bo, bomax, maxa);
            }
            free(ev[i].event_id);
            free(ev[i].event_type);
            free(ev[i].body);
        }
        free(url);
        free(secret);
        if (stop)
            break;
        if (n == 0 && cs_now_ms() - last_prune > 5000) {
            prune(w);
            last_prune = cs_now_ms();
        }
        if (n == 16)
            continue; /* more may be due right now */
        pthread_mutex_lock(&w->mu);
        if (!w->stop && !w->kicked) {
            int64_t wait_ms = 1000;
            if (next_due) {
                int64_t d = next_due - cs_now_ms();
                if (d < wait_ms)
                    wait_ms = d < 1 ? 1 : d;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

int webhook_start(webhook **out, clarity_store *store, const webhook_config *cfg, char *err,
                  size_t errlen)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    webhook *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->store = store;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->url = dup_or_null(cfg->url);
    w->secret = dup_or_null(cfg->secret);
    w->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : 500;
    w->backoff_max_ms = cfg->backoff_max_ms >= w->backoff_ms ? cfg->backoff_max_ms
                                                              : w->backoff_ms;
    w->max_attempts = cfg->max_attempts;
    w->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed_rng_init(&w->rng, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                               ((uint64_t)getpid() << 40));
    cs_lock(store);
    char *msg = NULL;
    int rc = sqlite3_exec(cs_db(store), outbox_sql, NULL, NULL, &msg);
    cs_unlock(store);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "outbox: %s", msg ? msg : "error");
        sqlite3_free(msg);
        webhook_stop(w);
        return -1;
    }
    if (pthread_create(&w->thread, NULL, sender, w) != 0) {
        snprintf(err, errlen, "cannot start the webhook thread");
        webhook_stop(w);
        return -1;
    }
    w->started = 1;
    *out = w;
    return 0;
}

void webhook_stop(webhook *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->url);
    free(w->secret);
    free(w);
}

int webhook_configure(webhook *w, const json_t *cfg, char *err, size_t errlen)
{
    json_t *url = json_object_get(cfg, "url"), *secret = json_object_get(cfg, "secret");
    if ((url && !json_is_string(url) && !json_is_null(url)) ||
        (secret && !json_is_string(secret))) {
        snprintf(err, errlen, "url and secret must be strings");
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    if (url) {
        free(w->url);
        w->url = dup_or_null(json_string_value(url));
    }
    if (secret) {
        free(w->secret);
        w->secret = dup_or_null(json_string_value(secret));
    }
    w->kicked = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static void count_state(sqlite3 *db, json_t *o)
{
    sqlite3_stmt *st = NULL;
    json_object_set_new(o, "pending", json_integer(0));
    json_object_set_new(o, "delivered", json_integer(0));
    json_object_set_new(o, "failed", json_integer(0));
    if (sqlite3_prepare_v2(db, "SELECT state, COUNT(*), SUM(attempts) FROM outbox GROUP BY state",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    json_int_t attempts = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
        attempts += sqlite3_column_int64(st, 2);
    }
    json_object_set_new(o, "attempts", json_integer(attempts));
    sqlite3_finalize(st);
}

json_t *webhook_status(webhook *w, int limit)
{
    json_t *o = json_object();
    pthread_mutex_lock(&w->mu);
    json_object_set_new(o, "url", w->url ? json_string(w->url) : json_null());
    json_object_set_new(o, "backoff_ms", json_integer(w->backoff_ms));
    json_object_set_new(o, "backoff_max_ms", json_integer(w->backoff_max_ms));
    json_object_set_new(o, "max_attempts", json_integer(w->max_attempts));
    pthread_mutex_unlock(&w->mu);
    json_t *events = json_array();
    cs_lock(w->store);
    sqlite3 *db = cs_db(w->store);
    count_state(db, o);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq,event_id,event_type,state,attempts,last_status,last_error,"
                           "next_ms,delivered_ms FROM (SELECT * FROM outbox ORDER BY seq DESC "
                           "LIMIT ?) ORDER BY seq", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int(st, 1, limit > 0 ? limit : 50);
        while (sqlite3_step(st) == SQLITE_ROW) {
            char buf[32];
            json_t *e = json_pack("{s:I,s:s,s:s,s:s,s:i}", "Seq",
                                  (json_int_t)sqlite3_column_int64(st, 0), "EventID",
                                  (const char *)sqlite3_column_text(st, 1), "EventType",
                                  (const char *)sqlite3_column_text(st, 2), "State",
                                  (const char *)sqlite3_column_text(st, 3), "Attempts",
                                  sqlite3_column_int(st, 4));
            if (sqlite3_column_type(st, 5) != SQLITE_NULL)
                json_object_set_new(e, "LastStatus", json_integer(sqlite3_column_int(st, 5)));
            if (sqlite3_column_type(st, 6) != SQLITE_NULL)
                json_object_set_new(e, "LastError",
                                    json_string((const char *)sqlite3_column_text(st, 6)));
            if (!strcmp((const char *)sqlite3_column_text(st, 3), "pending") &&
                sqlite3_column_int64(st, 7) > 0)
                json_object_set_new(e, "NextAttemptAt",
                                    json_string(cs_format_iso(buf, sizeof buf,
                                                              sqlite3_column_int64(st, 7))));
            if (sqlite3_column_type(st, 8) != SQLITE_NULL)
                json_object_set_new(e, "DeliveredAt",
                                    json_string(cs_format_iso(buf, sizeof buf,
                                                              sqlite3_column_int64(st, 8))));
            json_array_append_new(events, e);
        }
    }
    sqlite3_finalize(st);
    cs_unlock(w->store);
    json_object_set_new(o, "events", events);
    return o;
}
