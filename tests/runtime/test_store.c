/* test_store.c - the state store on real SQLite files in a temporary directory: migrations,
 * idempotent enqueue, leases and their expiry, outcomes with their audit rows, dead letters,
 * checkpoints, idempotency and hash maps, two competing worker processes, and a crash test
 * (children killed with SIGKILL at random instants, then the store is reopened and checked). */
#include "syncrt/store.h"
#include "testhelp.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

typedef struct { int64_t now; } fake_clock;
static int64_t fake_now(void *ctx) { return ((fake_clock *)ctx)->now; }

static void path_in_tmp(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void remove_db(const char *path)
{
    char p[512];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path); unlink(p);
    snprintf(p, sizeof p, "%s-shm", path); unlink(p);
}

/* One SQL query on the file, from outside the runtime; returns the first column as int. */
static long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static int sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static syncrt_enqueue_item item(const char *key, const char *payload)
{
    syncrt_enqueue_item it = { key, NULL, payload, strlen(payload) };
    return it;
}

static void test_open_and_migrate(void)
{
    char path[512];
    syncrt_store *s = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_status st;

    path_in_tmp(path, sizeof path, "migrate.db");
    st = syncrt_store_open(&s, path, NULL, &err);
    CHECK_INT(st, SYNCRT_OK, "open creates a new store (%s)", err.message);
    CHECK_INT(syncrt_store_schema_version(s), SYNCRT_STORE_SCHEMA_VERSION, "schema at current version");
    syncrt_store_close(s);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM schema_version"), SYNCRT_STORE_SCHEMA_VERSION,
              "one schema_version row per migration");
    CHECK_INT(sql_int(path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1, "journal is WAL");
    st = syncrt_store_open(&s, path, NULL, &err);
    CHECK_INT(st, SYNCRT_OK, "reopen");
    syncrt_store_close(s);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM schema_version"), SYNCRT_STORE_SCHEMA_VERSION,
              "reopen applies no migration twice");
    CHECK_INT(sql_exec(path, "INSERT INTO schema_version VALUES (99, 0)"), SQLITE_OK, "pretend a newer runtime wrote it");
    s = (syncrt_store *)1;
    st = syncrt_store_open(&s, path, NULL, &err);
    CHECK_INT(st, SYNCRT_ESCHEMA, "a newer schema is refused");
    CHECK(s == NULL, "no handle on failure");
    CHECK(strstr(err.message, "99") != NULL, "message names the version: %s", err.message);
    st = syncrt_store_open(&s, "/nonexistent-dir/x.db", NULL, &err);
    CHECK_INT(st, SYNCRT_ESTORE, "unopenable path is a store error");
    remove_db(path);
}

static void test_inbox_lifecycle(void)
{
    char path[512], *text = NULL;
    fake_clock clk = { 1000000 };
    syncrt_store_options opts = { fake_now, &clk, 0 };
    syncrt_store *s = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_inbox_record *recs = NULL;
    syncrt_dead_letter *dl = NULL;
    syncrt_store_counts c;
    size_t n = 0;
    int inserted = -1, unchanged = -1;
    int64_t id;
    syncrt_enqueue_item it = item("order-1", "{\"ID\":1}");
    syncrt_delivery d = { 0 };

    path_in_tmp(path, sizeof path, "inbox.db");
    if (syncrt_store_open(&s, path, &opts, &err) != SYNCRT_OK) {
        CHECK(0, "open inbox.db: %s", err.message);
        return;
    }
    CHECK_INT(syncrt_store_enqueue(s, &inserted, "o2c", &it, &err), SYNCRT_OK, "enqueue");
    CHECK_INT(inserted, 1, "first enqueue inserts");
    CHECK_INT(syncrt_store_enqueue(s, &inserted, "o2c", &it, &err), SYNCRT_OK, "enqueue the same key again");
    CHECK_INT(inserted, 0, "duplicate enqueue is a no-op");
    CHECK_INT(syncrt_store_enqueue(s, &inserted, "other", &it, &err), SYNCRT_OK, "same key in another flow");
    CHECK_INT(inserted, 1, "dedup keys are per flow");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM inbox"), 2, "two rows on disk, visible to another connection");

    CHECK_INT(syncrt_store_claim(s, &recs, &n, "o2c", "w1", 30000, 10, &err), SYNCRT_OK, "claim");
    CHECK_INT(n, 1, "one record due in o2c");
    if (n != 1) goto out;
    id = recs[0].id;
    CHECK_STR((char *)recs[0].payload, "{\"ID\":1}", "payload round-trips");
    CHECK_INT(recs[0].payload_len, 8, "payload length");
    CHECK_STR(recs[0].source_key, "order-1", "source key defaults to the dedup key");
    CHECK_INT(recs[0].attempts, 1, "a claim counts an attempt");
    CHECK_INT(recs[0].lease_until, clk.now + 30000, "lease expiry");
    syncrt_store_records_free(recs, n);
    recs = NULL;
    CHECK_INT(syncrt_store_claim(s, &recs, &n, "o2c", "w2", 30000, 10, &err), SYNCRT_EEMPTY,
              "a leased record is not claimable by another worker");
    CHECK_INT(n, 0, "count 0 when empty");

    clk.now += 30000;   /* w1 "crashed": its lease runs out */
    CHECK_INT(syncrt_store_claim(s, &recs, &n, "o2c", "w2", 30000, 10, &err), SYNCRT_OK,
              "an expired lease is claimable again");
    CHECK_INT(n == 1 ? recs[0].attempts : -1, 2, "second attempt counted");
    syncrt_store_records_free(recs, n);
    recs = NULL;
    d.target_key = "WEB-1";
    d.mapping_version = "v7";
    d.hash_scope = "d365:SalesOrderHeadersV2";
    d.hash = "abc123";
    CHECK_INT(syncrt_store_complete(s, id, "w1", &d, &err), SYNCRT_ELEASE,
              "the late worker's complete is refused (%s)", err.message);
    CHECK_INT(syncrt_store_fail(s, id, "w1", "boom", clk.now, &err), SYNCRT_ELEASE, "and so is its fail");
    CHECK_INT(syncrt_store_renew(s, id, "w2", 60000, &err), SYNCRT_OK, "the holder renews its lease");
    CHECK_INT(syncrt_store_renew(s, id, "w1", 60000, &err), SYNCRT_ELEASE, "a non-holder cannot renew");
    CHECK_INT(syncrt_store_complete(s, id, "w2", &d, &err), SYNCRT_OK, "the holder completes");
    CHECK_INT(syncrt_store_complete(s, id, "w2", &d, &err), SYNCRT_ELEASE, "completing twice is refused");
    CHECK_INT(syncrt_store_complete(s, 424242, "w2", &d, &err), SYNCRT_ENOTFOUND, "unknown id");
    CHECK_INT(syncrt_store_target_key(s, &text, "o2c", "order-1", &err), SYNCRT_OK, "idempotency lookup");
    CHECK_STR(text, "WEB-1", "source key maps to the target key");
    free(text);
    text = NULL;
    CHECK_INT(syncrt_store_target_key(s, &text, "o2c", "order-2", &err), SYNCRT_OK, "lookup of unknown key");
    CHECK(text == NULL, "unknown source key has no target");
    CHECK_INT(syncrt_store_hash_unchanged(s, &unchanged, "d365:SalesOrderHeadersV2", "WEB-1", "abc123", &err),
              SYNCRT_OK, "hash lookup");
    CHECK_INT(unchanged, 1, "same mapped form is unchanged (skip / echo)");
    syncrt_store_hash_unchanged(s, &unchanged, "d365:SalesOrderHeadersV2", "WEB-1", "def456", &err);
    CHECK_INT(unchanged, 0, "a different hash is a change");
    syncrt_store_hash_unchanged(s, &unchanged, "clarity:SalesOrder", "WEB-1", "abc123", &err);
    CHECK_INT(unchanged, 0, "hashes are per scope");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM audit WHERE inbox_id = 1 AND outcome = 'delivered'"
                            " AND target_key = 'WEB-1' AND mapping_version = 'v7' AND flow = 'o2c'"
                            " AND source_key = 'order-1'"), 1, "one delivered audit row with every field");
    CHECK_INT(syncrt_store_enqueue(s, &inserted, "o2c", &it, &err), SYNCRT_OK, "re-enqueue after delivery");
    CHECK_INT(inserted, 0, "a delivered dedup key is still known");

    /* retry: fail with a retry time, invisible until then, errors kept */
    it = item("order-2", "{\"ID\":2}");
    syncrt_store_enqueue(s, NULL, "o2c", &it, &err);
    syncrt_store_claim(s, &recs, &n, "o2c", "w1", 30000, 10, &err);
    CHECK_INT(n, 1, "claim order-2");
    if (n != 1) goto out;
    id = recs[0].id;
    syncrt_store_records_free(recs, n);
    recs = NULL;
    CHECK_INT(syncrt_store_fail(s, id, "w1", "HTTP 503", clk.now + 5000, &err), SYNCRT_OK, "fail for retry");
    CHECK_INT(syncrt_store_claim(s, &recs, &n, "o2c", "w1", 30000, 10, &err), SYNCRT_EEMPTY,
              "not due before retry_at");
    clk.now += 5000;
    CHECK_INT(syncrt_store_claim(s, &recs, &n, "o2c", "w1", 30000, 10, &err), SYNCRT_OK, "due at retry_at");
    if (n != 1) goto out;
    CHECK_INT(recs[0].attempts, 2, "attempts 2");
    CHECK_STR(recs[0].first_error, "HTTP 503", "first error kept");
    syncrt_store_records_free(recs, n);
    recs = NULL;
    clk.now += 10;
    CHECK_INT(syncrt_store_fail(s, id, "w1", "HTTP 429", clk.now, &err), SYNCRT_OK, "fail again");
    syncrt_store_claim(s, &recs, &n, "o2c", "w1", 30000, 10, &err);
    if (n != 1) goto out;
    CHECK_STR(recs[0].first_error, "HTTP 503", "first error unchanged");
    CHECK_STR(recs[0].last_error, "HTTP 429", "last error updated");
    syncrt_store_records_free(recs, n);
    recs = NULL;
    CHECK_INT(syncrt_store_release(s, id, "w1", clk.now, &err), SYNCRT_OK, "release (shutdown)");
    syncrt_store_claim(s, &recs, &n, "o2c", "w1", 30000, 10, &err);
    CHECK_INT(n == 1 ? recs[0].attempts : -1, 3, "a release does not burn the attempt");
    syncrt_store_records_free(recs, n);
    recs = NULL;

    /* dead letter, list, show, replay, drop */
    CHECK_INT(syncrt_store_dead_letter(s, id, "w1", "retries exhausted", "HTTP 500", &err), SYNCRT_OK,
              "dead-letter");
    CHECK_INT(syncrt_store_dlq_list(s, &dl, &n, NULL, 0, &err), SYNCRT_OK, "dlq list");
    CHECK_INT(n, 1, "one dead letter");
    if (n == 1) {
        CHECK_INT(dl[0].id, id, "dead letter id is the inbox id");
        CHECK_STR(dl[0].reason, "retries exhausted", "reason");
        CHECK_STR(dl[0].first_error, "HTTP 503", "dead letter first error");
        CHECK_STR(dl[0].last_error, "HTTP 500", "dead letter last error");
        CHECK_INT(dl[0].attempts, 3, "dead letter attempts");
        CHECK_STR((char *)dl[0].payload, "{\"ID\":2}", "dead letter payload");
        CHECK_STR(dl[0].flow, "o2c", "dead letter flow");
        CHECK_INT(dl[0].dead_at, clk.now, "dead_at");
    }
    syncrt_store_dead_letters_free(dl, n);
    dl = NULL;
    syncrt_store_dlq_list(s, &dl, &n, "other", 0, &err);
    CHECK_INT(n, 0, "dlq list filters by flow");
    syncrt_store_dead_letters_free(dl, n);
    dl = NULL;
    CHECK_INT(syncrt_store_dlq_show(s, &dl, id, &err), SYNCRT_OK, "dlq show");
    CHECK_STR(dl ? dl->dedup_key : NULL, "order-2", "show gives the record");
    syncrt_store_dead_letters_free(dl, 1);
    dl = NULL;
    CHECK_INT(syncrt_store_dlq_show(s, &dl, 999, &err), SYNCRT_ENOTFOUND, "show unknown");
    CHECK_INT(syncrt_store_check(s, &err), SYNCRT_OK, "invariants hold (%s)", err.message);
    CHECK_INT(syncrt_store_dlq_replay(s, id, &err), SYNCRT_OK, "replay");
    syncrt_store_claim(s, &recs, &n, "o2c", "w1", 30000, 10, &err);
    CHECK_INT(n == 1 ? recs[0].attempts : -1, 1, "a replayed record starts with fresh attempts");
    syncrt_store_records_free(recs, n);
    recs = NULL;
    syncrt_store_dead_letter(s, id, "w1", "validation: Sku missing", NULL, &err);
    CHECK_INT(syncrt_store_dlq_drop(s, id, &err), SYNCRT_OK, "drop");
    CHECK_INT(syncrt_store_dlq_drop(s, id, &err), SYNCRT_ENOTFOUND, "drop twice");
    CHECK_INT(syncrt_store_dlq_replay(s, id, &err), SYNCRT_ENOTFOUND, "replay a dropped record");
    syncrt_store_enqueue(s, &inserted, "o2c", &it, &err);
    CHECK_INT(inserted, 0, "a dropped record's dedup key is still known");
    CHECK_INT(syncrt_store_counts_get(s, &c, "o2c", &err), SYNCRT_OK, "counts");
    CHECK(c.done == 1 && c.pending == 0 && c.leased == 0 && c.dead == 0 && c.dead_letters == 0,
          "counts: done %lld pending %lld leased %lld dead %lld dlq %lld", (long long)c.done,
          (long long)c.pending, (long long)c.leased, (long long)c.dead, (long long)c.dead_letters);
    CHECK_INT(sql_int(path, "SELECT group_concat(outcome, ',') = 'retry,retry,dead,replayed,dead,dropped'"
                            " FROM (SELECT outcome FROM audit WHERE source_key = 'order-2' ORDER BY id)"), 1,
              "the audit log tells order-2's story");
    CHECK_INT(syncrt_store_check(s, &err), SYNCRT_OK, "invariants hold (%s)", err.message);

    /* purge forgets old done records */
    {
        int64_t deleted = -1;
        CHECK_INT(syncrt_store_purge(s, &deleted, clk.now + 1, &err), SYNCRT_OK, "purge");
        CHECK_INT(deleted, 2, "purged the done and the dropped record");
        syncrt_store_enqueue(s, &inserted, "o2c", &it, &err);
        CHECK_INT(inserted, 1, "after purge the key is new again");
    }

    /* a skip keeps its why in the audit row (a map's where: "filtered: COND") */
    {
        syncrt_enqueue_item f = item("order-9", "{\"ID\":9}");
        syncrt_delivery sk = { 0 };
        syncrt_store_enqueue(s, NULL, "filt", &f, &err);
        CHECK_INT(syncrt_store_claim(s, &recs, &n, "filt", "w1", 30000, 10, &err), SYNCRT_OK, "claim filt");
        if (n != 1) goto out;
        sk.skipped = 1;
        sk.detail = "filtered: any(o.SalesOrderPayments.Slave.Authorized)";
        CHECK_INT(syncrt_store_complete(s, recs[0].id, "w1", &sk, &err), SYNCRT_OK, "complete as skipped");
        CHECK_INT(sql_int(path, "SELECT count(*) FROM audit WHERE flow = 'filt' AND outcome = 'skipped'"
                                " AND detail = 'filtered: any(o.SalesOrderPayments.Slave.Authorized)'"
                                " AND target_key IS NULL"), 1, "the skipped audit row says why, no target key");
        CHECK_INT(syncrt_store_check(s, &err), SYNCRT_OK, "invariants hold after a skip (%s)", err.message);
    }
out:
    syncrt_store_records_free(recs, n);
    syncrt_store_close(s);
    /* the checker can fail: break an invariant from outside */
    sql_exec(path, "UPDATE inbox SET state = 'dead' WHERE dedup_key = 'order-1' AND flow = 'other'");
    if (syncrt_store_open(&s, path, &opts, &err) == SYNCRT_OK) {
        CHECK_INT(syncrt_store_check(s, &err), SYNCRT_ESTORE, "the checker finds a dead record without dead letter");
        CHECK(strstr(err.message, "dead letter") != NULL, "and says so: %s", err.message);
        syncrt_store_close(s);
    }
    remove_db(path);
}

static void test_checkpoint_batch(void)
{
    char path[512], *cp = NULL;
    syncrt_store *s = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    size_t inserted = 99;
    syncrt_enqueue_item items[3];

    path_in_tmp(path, sizeof path, "checkpoint.db");
    if (syncrt_store_open(&s, path, NULL, &err) != SYNCRT_OK) {
        CHECK(0, "open: %s", err.message);
        return;
    }
    CHECK_INT(syncrt_store_checkpoint_get(s, &cp, "poll", &err), SYNCRT_OK, "get missing checkpoint");
    CHECK(cp == NULL, "no checkpoint yet");
    items[0] = item("a", "1");
    items[1] = item("b", "2");
    items[2] = item("a", "1");
    CHECK_INT(syncrt_store_enqueue_batch(s, &inserted, "poll", items, 3, "2026-01-01T00:00:00Z", &err),
              SYNCRT_OK, "batch with checkpoint");
    CHECK_INT(inserted, 2, "duplicates inside the batch count once");
    syncrt_store_checkpoint_get(s, &cp, "poll", &err);
    CHECK_STR(cp, "2026-01-01T00:00:00Z", "checkpoint advanced with the batch");
    free(cp);
    cp = NULL;
    items[0] = item("c", "3");
    items[1].dedup_key = NULL;
    CHECK_INT(syncrt_store_enqueue_batch(s, &inserted, "poll", items, 2, "2026-02-01T00:00:00Z", &err),
              SYNCRT_EINVAL, "a bad item fails the batch");
    syncrt_store_checkpoint_get(s, &cp, "poll", &err);
    CHECK_STR(cp, "2026-01-01T00:00:00Z", "checkpoint did not move");
    free(cp);
    cp = NULL;
    CHECK_INT(sql_int(path, "SELECT count(*) FROM inbox WHERE dedup_key = 'c'"), 0,
              "and no record of the failed batch landed");
    CHECK_INT(syncrt_store_checkpoint_set(s, "poll", "x", &err), SYNCRT_OK, "set checkpoint");
    syncrt_store_checkpoint_get(s, &cp, "poll", &err);
    CHECK_STR(cp, "x", "checkpoint overwritten");
    free(cp);
    syncrt_store_close(s);
    remove_db(path);
}

/* A delivery that causes a record in another flow (then_flow): enqueued in the transaction
 * that completes the first, deduplicated like an enqueue, and not at all when the complete
 * fails (lease lost). */
static void test_complete_then(void)
{
    char path[512];
    fake_clock clk = { 5000000 };
    syncrt_store_options opts = { fake_now, &clk, 0 };
    syncrt_store *s = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_inbox_record *recs = NULL;
    size_t n = 0;
    syncrt_enqueue_item a = item("order-7", "{\"ID\":7}"), b = item("order-8", "{\"ID\":8}");
    syncrt_enqueue_item then = item("poll:Set:usmf,WEB-7:abc", "{\"SalesOrderNumber\":\"WEB-7\"}");
    syncrt_delivery d = { 0 };

    path_in_tmp(path, sizeof path, "then.db");
    if (syncrt_store_open(&s, path, &opts, &err) != SYNCRT_OK) {
        CHECK(0, "open then.db: %s", err.message);
        return;
    }
    then.source_key = "Set:usmf,WEB-7";
    syncrt_store_enqueue(s, NULL, "first", &a, &err);
    syncrt_store_enqueue(s, NULL, "first", &b, &err);
    CHECK_INT(syncrt_store_claim(s, &recs, &n, "first", "w1", 30000, 10, &err), SYNCRT_OK, "claim two");
    CHECK_INT(n, 2, "two records leased");
    if (n != 2)
        goto out;
    d.target_key = "WEB-7";
    d.then_flow = "second";
    d.then_item = &then;
    CHECK_INT(syncrt_store_complete(s, recs[0].id, "w1", &d, &err), SYNCRT_OK, "complete with a follow-on");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM inbox WHERE flow = 'second' AND state = 'pending' AND"
                            " dedup_key = 'poll:Set:usmf,WEB-7:abc' AND source_key = 'Set:usmf,WEB-7'"),
              1, "the follow-on record is pending in the other flow's inbox, with its keys");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM inbox WHERE flow = 'first' AND state = 'done'"), 1,
              "and the first record is done");
    size_t ins = 9;
    CHECK_INT(syncrt_store_enqueue_batch(s, &ins, "second", &then, 1, NULL, &err), SYNCRT_OK,
              "the same row polled later");
    CHECK_INT(ins, 0, "finds its dedup key taken: nothing new");
    clk.now += 60000;                             /* w1's lease on the second record expired */
    syncrt_store_records_free(recs, n);
    recs = NULL;
    CHECK_INT(syncrt_store_claim(s, &recs, &n, "first", "w2", 30000, 10, &err), SYNCRT_OK, "w2 takes it over");
    if (n != 1)
        goto out;
    syncrt_enqueue_item then8 = item("poll:Set:usmf,WEB-8:def", "{}");
    d.target_key = "WEB-8";
    d.then_item = &then8;
    CHECK_INT(syncrt_store_complete(s, recs[0].id, "w1", &d, &err), SYNCRT_ELEASE,
              "w1's late complete is refused");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM inbox WHERE dedup_key = 'poll:Set:usmf,WEB-8:def'"), 0,
              "and its follow-on was not enqueued (one transaction)");
out:
    syncrt_store_records_free(recs, n);
    syncrt_store_close(s);
    remove_db(path);
}

/* Two worker processes drain 300 records concurrently; each record must be completed by
 * exactly one of them. */
static void test_competing_workers(void)
{
    char path[512];
    syncrt_store *s = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    enum { N = 300 };
    pid_t pids[2];
    int i, status, ok_children = 0;

    path_in_tmp(path, sizeof path, "workers.db");
    if (syncrt_store_open(&s, path, NULL, &err) != SYNCRT_OK) {
        CHECK(0, "open: %s", err.message);
        return;
    }
    for (i = 0; i < N; i++) {
        char key[32];
        syncrt_enqueue_item it;
        snprintf(key, sizeof key, "k%d", i);
        it = item(key, key);
        syncrt_store_enqueue(s, NULL, "f", &it, &err);
    }
    syncrt_store_close(s);
    fflush(stdout);
    for (i = 0; i < 2; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char worker[16];
            syncrt_store *cs = NULL;
            int bad = 0;
            snprintf(worker, sizeof worker, "w%d", i);
            if (syncrt_store_open(&cs, path, NULL, &err) != SYNCRT_OK) {
                printf("# worker %s: open: %s\n", worker, err.message);
                fflush(stdout);
                _exit(2);
            }
            for (;;) {
                syncrt_inbox_record *recs = NULL;
                size_t n = 0, j;
                syncrt_status st = syncrt_store_claim(cs, &recs, &n, "f", worker, 600000, 3, &err);
                if (st == SYNCRT_EEMPTY)
                    break;
                if (st != SYNCRT_OK) {
                    printf("# worker %s: claim: %s\n", worker, err.message);
                    bad = 1;
                    break;
                }
                for (j = 0; j < n; j++) {
                    syncrt_delivery d = { 0 };
                    d.target_key = recs[j].dedup_key;
                    if (syncrt_store_complete(cs, recs[j].id, worker, &d, &err) != SYNCRT_OK) {
                        printf("# worker %s: complete: %s\n", worker, err.message);
                        bad = 1;
                    }
                }
                syncrt_store_records_free(recs, n);
            }
            syncrt_store_close(cs);
            fflush(stdout);
            _exit(bad ? 1 : 0);
        }
    }
    for (i = 0; i < 2; i++)
        if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
            WEXITSTATUS(status) == 0)
            ok_children++;
    CHECK_INT(ok_children, 2, "both workers ran without error");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM inbox WHERE state = 'done'"), N, "all records done");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM audit WHERE outcome = 'delivered'"), N,
              "exactly one delivery per record");
    CHECK_INT(sql_int(path, "SELECT max(attempts) FROM inbox"), 1, "no record claimed twice");
    remove_db(path);
}

/* The crash test.  A child runs random operations (enqueue, claim, complete, fail,
 * dead-letter, replay) and reports on a pipe each operation whose call returned OK; the parent
 * kills it with SIGKILL after a random delay.  After each kill: the store opens, its invariants
 * hold, every acknowledged enqueue is there, every acknowledged completion is done, and no
 * record was ever delivered twice. */
static void crash_child(const char *path, int fd, unsigned seed)
{
    syncrt_store *s = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    char worker[32], line[96];
    int k = 0;

    snprintf(worker, sizeof worker, "crash-%u", seed);
    srand(seed);
    if (syncrt_store_open(&s, path, NULL, &err) != SYNCRT_OK)
        _exit(2);
    for (;;) {
        int op = rand() % 10;
        if (op == 0) {
            /* a poll page: 5 rows and the checkpoint naming the last, in one transaction */
            char keys[5][48], cp[48];
            syncrt_enqueue_item its[5];
            int j;
            for (j = 0; j < 5; j++) {
                snprintf(keys[j], sizeof keys[j], "s%u-%d", seed, k++);
                its[j] = item(keys[j], "{\"polled\":true}");
            }
            snprintf(cp, sizeof cp, "%s", keys[4]);
            if (syncrt_store_enqueue_batch(s, NULL, "crash", its, 5, cp, &err) == SYNCRT_OK) {
                for (j = 0; j < 5; j++) {
                    int len = snprintf(line, sizeof line, "E %s\n", keys[j]);
                    if (write(fd, line, (size_t)len) != len)
                        _exit(3);
                }
            }
        } else if (op < 5) {
            char key[48];
            syncrt_enqueue_item it;
            snprintf(key, sizeof key, "s%u-%d", seed, k++);
            it = item(key, "{\"payload\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
            if (syncrt_store_enqueue(s, NULL, "crash", &it, &err) == SYNCRT_OK) {
                int len = snprintf(line, sizeof line, "E %s\n", key);
                if (write(fd, line, (size_t)len) != len)
                    _exit(3);
            }
        } else {
            syncrt_inbox_record *recs = NULL;
            size_t n = 0, j;
            if (syncrt_store_claim(s, &recs, &n, "crash", worker, 600000, 4, &err) != SYNCRT_OK)
                continue;
            for (j = 0; j < n; j++) {
                int r = rand() % 10;
                if (r < 6) {
                    syncrt_delivery d = { 0 };
                    d.target_key = recs[j].dedup_key;
                    d.hash_scope = "crash";
                    d.hash = "h";
                    if (syncrt_store_complete(s, recs[j].id, worker, &d, &err) == SYNCRT_OK) {
                        int len = snprintf(line, sizeof line, "C %lld\n", (long long)recs[j].id);
                        if (write(fd, line, (size_t)len) != len)
                            _exit(3);
                    }
                } else if (r < 8) {
                    syncrt_store_fail(s, recs[j].id, worker, "transient", 0, &err);
                } else {
                    syncrt_store_dead_letter(s, recs[j].id, worker, "crash test", "e", &err);
                    syncrt_store_dlq_replay(s, recs[j].id, &err);
                }
            }
            syncrt_store_records_free(recs, n);
        }
    }
}

static int key_in_store(sqlite3 *db, const char *key)
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM inbox WHERE flow = 'crash' AND dedup_key = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
        found = sqlite3_step(q) == SQLITE_ROW;
    }
    sqlite3_finalize(q);
    return found;
}

static int id_done(sqlite3 *db, long long id)
{
    sqlite3_stmt *q = NULL;
    int done = 0;
    if (sqlite3_prepare_v2(db, "SELECT state = 'done' FROM inbox WHERE id = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, id);
        done = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    return done;
}

static void test_crash(void)
{
    char path[512];
    int rounds = getenv("SYNCRT_CRASH_ROUNDS") ? atoi(getenv("SYNCRT_CRASH_ROUNDS")) : 20;
    int round, bad_open = 0, bad_check = 0, lost_enq = 0, lost_done = 0, acked_enq = 0, acked_done = 0;
    int killed_mid = 0, checkpoints = 0, bad_checkpoint = 0;
    unsigned seed = (unsigned)time(NULL);
    syncrt_error err = { SYNCRT_OK, "" };

    if (getenv("SYNCRT_CRASH_SEED"))
        seed = (unsigned)strtoul(getenv("SYNCRT_CRASH_SEED"), NULL, 10);
    printf("# crash test: %d rounds, seed %u (SYNCRT_CRASH_SEED to replay)\n", rounds, seed);
    srand(seed);
    path_in_tmp(path, sizeof path, "crash.db");
    for (round = 0; round < rounds; round++) {
        int fds[2], status;
        pid_t pid;
        char buf[65536];
        size_t used = 0;
        ssize_t got;
        unsigned child_seed = seed + (unsigned)round * 7919u;
        useconds_t delay = 2000 + (useconds_t)(rand() % 60000);
        syncrt_store *s = NULL;
        sqlite3 *db = NULL;
        char *line, *save = NULL;

        if (pipe(fds) != 0)
            break;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            crash_child(path, fds[1], child_seed);
            _exit(0);
        }
        close(fds[1]);
        /* wait for the child's first acknowledgement (slow under valgrind), then a random
         * delay */
        while (used < sizeof buf - 1 && (got = read(fds[0], buf + used, 1)) > 0)
            if (buf[used++] == '\n')
                break;
        usleep(delay);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            killed_mid++;
        while (used < sizeof buf - 1 && (got = read(fds[0], buf + used, sizeof buf - 1 - used)) > 0)
            used += (size_t)got;
        close(fds[0]);
        buf[used] = '\0';

        if (syncrt_store_open(&s, path, NULL, &err) != SYNCRT_OK) {
            bad_open++;
            printf("# round %d: reopen failed: %s\n", round, err.message);
            continue;
        }
        if (syncrt_store_check(s, &err) != SYNCRT_OK) {
            bad_check++;
            printf("# round %d: %s\n", round, err.message);
        }
        syncrt_store_close(s);
        if (sqlite3_open(path, &db) != SQLITE_OK)
            continue;
        {   /* a checkpoint is never ahead of the rows it covers */
            sqlite3_stmt *q = NULL;
            if (sqlite3_prepare_v2(db, "SELECT value FROM checkpoint WHERE flow = 'crash'", -1, &q, NULL) == SQLITE_OK &&
                sqlite3_step(q) == SQLITE_ROW) {
                checkpoints++;
                if (!key_in_store(db, (const char *)sqlite3_column_text(q, 0))) {
                    bad_checkpoint++;
                    printf("# round %d: checkpoint %s without its rows\n", round, sqlite3_column_text(q, 0));
                }
            }
            sqlite3_finalize(q);
        }
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (line[0] == 'E') {
                acked_enq++;
                if (!key_in_store(db, line + 2)) {
                    lost_enq++;
                    printf("# round %d: acknowledged enqueue %s lost\n", round, line + 2);
                }
            } else if (line[0] == 'C') {
                acked_done++;
                if (!id_done(db, atoll(line + 2))) {
                    lost_done++;
                    printf("# round %d: acknowledged completion %s lost\n", round, line + 2);
                }
            }
        }
        sqlite3_close(db);
    }
    printf("# %d acknowledged enqueues, %d acknowledged completions, %d children killed mid-run\n",
           acked_enq, acked_done, killed_mid);
    CHECK_INT(killed_mid, rounds, "every child was killed by SIGKILL while running");
    CHECK(acked_enq > 0 && acked_done > 0, "the children got work done before dying");
    CHECK_INT(bad_open, 0, "the store reopens after every kill");
    CHECK_INT(bad_check, 0, "invariants hold after every kill");
    CHECK_INT(lost_enq, 0, "no acknowledged enqueue lost");
    CHECK_INT(lost_done, 0, "no acknowledged completion lost");
    CHECK(checkpoints > 0, "poll pages with checkpoints were written (%d rounds had one)", checkpoints);
    CHECK_INT(bad_checkpoint, 0, "no checkpoint ahead of its rows after any kill");

    /* Drain what the dead workers left leased (their leases expire), then check that each
     * record was delivered exactly once. */
    {
        fake_clock clk = { syncrt_clock_real(NULL) + 3600 * 1000 };
        syncrt_store_options opts = { fake_now, &clk, 0 };
        syncrt_store *s = NULL;
        int drain_ok = 1;
        if (syncrt_store_open(&s, path, &opts, &err) == SYNCRT_OK) {
            /* a child killed between dead_letter and replay left a dead letter: replay it */
            syncrt_dead_letter *dl = NULL;
            size_t ndl = 0, j;
            if (syncrt_store_dlq_list(s, &dl, &ndl, "crash", 0, &err) != SYNCRT_OK)
                drain_ok = 0;
            for (j = 0; j < ndl; j++)
                if (syncrt_store_dlq_replay(s, dl[j].id, &err) != SYNCRT_OK)
                    drain_ok = 0;
            syncrt_store_dead_letters_free(dl, ndl);
            for (;;) {
                syncrt_inbox_record *recs = NULL;
                size_t n = 0, k;
                syncrt_status st = syncrt_store_claim(s, &recs, &n, "crash", "drainer", 1000, 100, &err);
                if (st != SYNCRT_OK) {
                    drain_ok = st == SYNCRT_EEMPTY;
                    break;
                }
                for (k = 0; k < n; k++) {
                    syncrt_delivery d = { 0 };
                    d.target_key = recs[k].dedup_key;
                    if (syncrt_store_complete(s, recs[k].id, "drainer", &d, &err) != SYNCRT_OK)
                        drain_ok = 0;
                }
                syncrt_store_records_free(recs, n);
            }
            syncrt_store_close(s);
        } else {
            drain_ok = 0;
        }
        CHECK(drain_ok, "records left by killed workers come back after the lease and drain");
        CHECK_INT(sql_int(path, "SELECT count(*) FROM inbox WHERE state <> 'done'"), 0, "everything done");
        CHECK_INT(sql_int(path, "SELECT count(*) FROM (SELECT inbox_id FROM audit WHERE outcome = 'delivered'"
                                " GROUP BY inbox_id HAVING count(*) > 1)"), 0, "no record delivered twice");
        CHECK_INT(sql_int(path, "SELECT count(*) FROM inbox i WHERE NOT EXISTS (SELECT 1 FROM audit a"
                                " WHERE a.inbox_id = i.id AND a.outcome = 'delivered')"), 0,
                  "every record delivered once");
    }
    remove_db(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/syncrt-store-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        printf("not ok 1 - mkdtemp %s\n", tmpdir);
        return 1;
    }
    test_open_and_migrate();
    test_inbox_lifecycle();
    test_checkpoint_batch();
    test_complete_then();
    test_competing_workers();
    test_crash();
    rmdir(tmpdir);
    return test_done();
}
