/* test_clarity.c - the Clarity client and ISO times: ResponseStatus and action answers
 * (with "Log ID:" prefixes), ModifiedSince windows, ISO 8601 parsing and formatting; then
 * against build/sandbox's Clarity emulator (SYNCRT_TEST_CLARITY, started by suite.sh):
 * session login, 1-based paging that covers TotalCount exactly once, Upsert by CustomKey
 * twice giving one record, a validation failure with its reason and class, the Digest, and
 * ModifiedSince windows around a change. */
#define _GNU_SOURCE 1   /* memmem */
#include "syncrt/clarity.h"
#include "syncrt/isotime.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_iso(void)
{
    int64_t ms = 0;
    char buf[SYNCRT_ISO_LENGTH];

    CHECK_INT(syncrt_iso_parse(&ms, "1970-01-01T00:00:00Z"), SYNCRT_OK, "epoch");
    CHECK_INT(ms, 0, "epoch is 0");
    syncrt_iso_parse(&ms, "2026-11-27T15:59:00Z");
    CHECK_INT(ms, INT64_C(1795795140000), "a 2026 instant");
    syncrt_iso_parse(&ms, "2026-11-27T17:59:00.250+02:00");
    CHECK_INT(ms, INT64_C(1795795140250), "offset and milliseconds");
    syncrt_iso_parse(&ms, "2026-11-27T15:59:00.2509999Z");
    CHECK_INT(ms, INT64_C(1795795140250), "seven fraction digits (F&O) truncate to ms");
    syncrt_iso_parse(&ms, "2024-02-29");
    CHECK_INT(ms, INT64_C(1709164800000), "date only is midnight UTC");
    syncrt_iso_parse(&ms, "1900-01-01T12:00:00Z");
    CHECK_INT(ms, INT64_C(-2208945600000), "F&O's empty date (before the epoch)");
    syncrt_iso_format(buf, ms);
    CHECK_STR(buf, "1900-01-01T12:00:00.000Z", "formats back");
    syncrt_iso_format(buf, INT64_C(1795795140250));
    CHECK_STR(buf, "2026-11-27T15:59:00.250Z", "format with milliseconds");
    syncrt_iso_format(buf, -1);
    CHECK_STR(buf, "1969-12-31T23:59:59.999Z", "one ms before the epoch");
    CHECK_INT(syncrt_iso_parse(&ms, "2023-02-29T00:00:00Z"), SYNCRT_EPARSE, "not a leap year");
    CHECK_INT(syncrt_iso_parse(&ms, "2026-13-01"), SYNCRT_EPARSE, "month 13");
    CHECK_INT(syncrt_iso_parse(&ms, "2026-01-01T24:00:00Z"), SYNCRT_EPARSE, "hour 24");
    CHECK_INT(syncrt_iso_parse(&ms, "2026-01-01T00:00:00Zjunk"), SYNCRT_EPARSE, "trailing junk");
    CHECK_INT(syncrt_iso_parse(&ms, "yesterday"), SYNCRT_EPARSE, "words");
}

static void test_answers(void)
{
    syncrt_clarity_error e;
    syncrt_clarity_action a;
    const char *err_body = "{\"ResponseStatus\":{\"ErrorCode\":\"DatabaseError\",\"Message\":\"Log ID: 8812. "
                           "Saving failed\",\"Errors\":[{\"ErrorCode\":\"NotEmpty\",\"FieldName\":\"Name\","
                           "\"Message\":\"'Name' must not be empty\"},{\"FieldName\":\"Email1\",\"Message\":\"bad\"}]}}";
    const char *ok = "{\"ActionSucceeded\":true,\"Result\":49}";
    const char *fail = "{\"ActionSucceeded\":false,\"Messages\":[\"'Name' must not be empty\",\"second\"],"
                       "\"ResponseStatus\":{\"ErrorCode\":\"ArgumentException\",\"Message\":\"'Name' must not be empty\","
                       "\"Errors\":[]}}";
    char out[SYNCRT_ISO_LENGTH];
    syncrt_error err = { SYNCRT_OK, "" };

    CHECK_INT(syncrt_clarity_error_parse(&e, err_body, strlen(err_body)), SYNCRT_OK, "ResponseStatus parses");
    CHECK_STR(e.code, "DatabaseError", "ErrorCode");
    CHECK_STR(e.log_id, "8812", "Log ID taken out");
    CHECK_STR(e.message, "Saving failed", "message without the Log ID prefix");
    CHECK_STR(e.fields, "Name: 'Name' must not be empty; Email1: bad", "field errors");
    CHECK_INT(syncrt_clarity_error_parse(&e, "{\"ID\":1}", 8), SYNCRT_EPARSE, "a record is not an error");
    CHECK_INT(syncrt_clarity_action_parse(&a, 200, ok, strlen(ok)), SYNCRT_OK, "action answer");
    CHECK(a.succeeded && a.id == 49, "succeeded with Result 49");
    syncrt_clarity_action_parse(&a, 400, fail, strlen(fail));
    CHECK(!a.succeeded && a.status == 400, "failed action");
    CHECK_STR(a.messages, "'Name' must not be empty; second", "Messages joined");
    CHECK_STR(a.error.code, "ArgumentException", "its ResponseStatus");
    syncrt_clarity_action_parse(&a, 500, ok, strlen(ok));
    CHECK(!a.succeeded, "ActionSucceeded true under a 500 is not success");
    CHECK_INT(syncrt_clarity_action_parse(&a, 200, "[1]", 3), SYNCRT_EPARSE, "not an action answer");

    CHECK_INT(syncrt_clarity_window_start(out, "2026-01-01T00:10:00Z", 5 * 60000, NULL, &err), SYNCRT_OK, "window");
    CHECK_STR(out, "2026-01-01T00:05:00.000Z", "checkpoint minus the overlap");
    syncrt_clarity_window_start(out, NULL, 5 * 60000, "2020-01-01T00:00:00Z", &err);
    CHECK_STR(out, "2020-01-01T00:00:00.000Z", "first poll starts at the initial time");
    CHECK_INT(syncrt_clarity_window_start(out, "soon", 0, NULL, &err), SYNCRT_EPARSE, "bad checkpoint");
    CHECK_INT(syncrt_clarity_window_start(out, NULL, 0, NULL, &err), SYNCRT_EINVAL, "no checkpoint, no initial");
}

typedef struct { long rows, dup, max_id, first_id; long ids[4096]; const char *want_key; int found; } acc_state;

static int acc_row(void *ctx, json_t *row)
{
    acc_state *s = ctx;
    long id = (long)json_integer_value(json_object_get(row, "ID"));
    long i;
    const char *key = json_string_value(json_object_get(row, "CustomKey"));
    for (i = 0; i < s->rows && i < 4096; i++)
        if (s->ids[i] == id)
            s->dup++;
    if (s->rows < 4096)
        s->ids[s->rows] = id;
    if (s->rows == 0)
        s->first_id = id;
    s->rows++;
    if (id > s->max_id)
        s->max_id = id;
    if (s->want_key && key && strcmp(key, s->want_key) == 0)
        s->found++;
    return 0;
}

typedef struct { long rows, objects, credit_literal; } text_state;

static int acc_text(void *ctx, const char *text, size_t len)
{
    text_state *s = ctx;
    s->rows++;
    if (len > 2 && text[0] == '{' && text[len - 1] == '}' && memmem(text, len, "\"ID\":", 5))
        s->objects++;
    if (memmem(text, len, "\"Credit\":141700.0,", 18))
        s->credit_literal++;
    return 0;
}

typedef struct { const char *key; long long id; int found; } digest_state;

static int on_digest(void *ctx, long long id, const char *key, const json_t *hash)
{
    digest_state *s = ctx;
    (void)hash;
    if (key && strcmp(key, s->key) == 0) {
        s->found++;
        s->id = id;
    }
    return 0;
}

static void test_against_sandbox(const char *root)
{
    syncrt_http *h = NULL;
    syncrt_auth *auth = NULL;
    syncrt_auth_config ac;
    syncrt_clarity c;
    syncrt_clarity_search_opts o;
    syncrt_clarity_search_stats st;
    syncrt_clarity_action act;
    syncrt_error err = { SYNCRT_OK, "" };
    static acc_state as;
    digest_state ds;
    char login[512], key[64], since[SYNCRT_ISO_LENGTH], later[SYNCRT_ISO_LENGTH];
    json_t *rec;
    long long first_id;
    syncrt_attempt at;

    if (syncrt_http_new(&h, NULL, &err) != SYNCRT_OK)
        return;
    snprintf(login, sizeof login, "%s/auth/identity", root);
    memset(&ac, 0, sizeof ac);
    ac.kind = SYNCRT_AUTH_SESSION;
    ac.login_url = login;
    ac.username = "admin";
    ac.password = "admin";
    if (syncrt_auth_new(&auth, h, &ac, &err) != SYNCRT_OK) {
        CHECK(0, "auth: %s", err.message);
        syncrt_http_free(h);
        return;
    }
    memset(&c, 0, sizeof c);
    c.http = h;
    c.auth = auth;
    c.root = root;

    memset(&o, 0, sizeof o);
    o.page_size = 5;
    memset(&as, 0, sizeof as);
    CHECK_INT(syncrt_clarity_search(&st, &c, "Accounts/Accounts", &o, acc_row, &as, &err), SYNCRT_OK,
              "search Accounts with a session (%s)", err.message);
    CHECK(st.total_count > 5, "more accounts than a page (%ld)", st.total_count);
    CHECK_INT(as.rows, st.total_count, "pages 1..TotalPages cover TotalCount");
    CHECK_INT(as.dup, 0, "no account twice");
    CHECK_INT(st.pages, st.total_pages, "one request per page");
    CHECK_INT(as.first_id, 1, "StartIndex=1 is the first page (1-based page number)");

    {
        text_state ts = { 0, 0, 0 };
        CHECK_INT(syncrt_clarity_search_text(&st, &c, "Accounts/Accounts", &o, acc_text, &ts, &err), SYNCRT_OK,
                  "search as text rows");
        CHECK(ts.rows == st.total_count && ts.objects == ts.rows, "every row handed over as one JSON object");
        CHECK_INT(ts.credit_literal, 1, "numbers keep the server's text (\"Credit\":141700.0)");
    }
    o.page_size = 50;                 /* above the sandbox's cap of 7: TotalPages must rule */
    memset(&as, 0, sizeof as);
    syncrt_clarity_search(&st, &c, "Accounts/Accounts", &o, acc_row, &as, &err);
    CHECK(as.rows == st.total_count && as.dup == 0,
          "a server capping the page size below the request loses nothing (%ld of %ld)", as.rows, st.total_count);

    syncrt_iso_format(since, syncrt_clock_real(NULL) - 60000);
    snprintf(key, sizeof key, "RT-%ld", (long)getpid());
    rec = json_pack("{s:s,s:s}", "CustomKey", key, "Name", "Runtime Test");
    CHECK_INT(syncrt_clarity_upsert(&act, &c, "Accounts/Account", rec, &err), SYNCRT_OK, "upsert (%s)", err.message);
    CHECK(act.succeeded && act.id > 0, "created (ID %lld)", act.id);
    first_id = act.id;
    json_object_set_new(rec, "Name", json_string("Runtime Test renamed"));
    syncrt_clarity_upsert(&act, &c, "Accounts/Account", rec, &err);
    CHECK(act.succeeded && act.id == first_id, "the second upsert by CustomKey updates the same record (%lld)", act.id);
    json_decref(rec);

    memset(&ds, 0, sizeof ds);
    ds.key = key;
    {
        size_t n = 0;
        CHECK_INT(syncrt_clarity_digest(&n, &c, "Accounts/AccountsDigest", on_digest, &ds, &err), SYNCRT_OK,
                  "digest (%s)", err.message);
        CHECK(n > 0 && ds.found == 1 && ds.id == first_id, "the digest lists the record once with its ID");
    }

    memset(&o, 0, sizeof o);
    o.page_size = 5;
    o.modified_since = since;
    o.no_cache = 1;
    memset(&as, 0, sizeof as);
    as.want_key = key;
    CHECK_INT(syncrt_clarity_search(&st, &c, "Accounts/Accounts", &o, acc_row, &as, &err), SYNCRT_OK,
              "ModifiedSince search");
    CHECK_INT(as.found, 1, "the window from before the change holds the record");
    CHECK(as.rows < 40, "and not the untouched seed accounts (%ld rows)", as.rows);
    syncrt_iso_format(later, syncrt_clock_real(NULL) + 3600000);
    o.modified_since = later;
    memset(&as, 0, sizeof as);
    syncrt_clarity_search(&st, &c, "Accounts/Accounts", &o, acc_row, &as, &err);
    CHECK_INT(as.rows, 0, "a window starting in the future is empty");

    rec = json_pack("{s:s}", "CustomKey", "RT-NONAME");
    CHECK_INT(syncrt_clarity_upsert(&act, &c, "Accounts/Account", rec, &err), SYNCRT_OK, "an invalid upsert answers");
    CHECK(!act.succeeded && act.status == 400, "refused with 400 (%ld)", act.status);
    CHECK(strstr(act.messages, "Name") != NULL, "the reason names the field: %s", act.messages);
    at.transport = SYNCRT_OK;
    at.request_sent = 1;
    at.idempotent = 1;
    at.http_status = act.status;
    at.body = act.error.message;
    CHECK_INT(syncrt_retry_classify(&at), SYNCRT_CLASS_VALIDATION, "classified as validation (dead letter)");
    json_decref(rec);
    rec = json_pack("{s:s}", "Name", "no key");
    CHECK_INT(syncrt_clarity_upsert(&act, &c, "Accounts/Account", rec, &err), SYNCRT_EINVAL,
              "an upsert without CustomKey is refused before sending");
    json_decref(rec);

    syncrt_auth_free(auth);
    syncrt_http_free(h);
}

int main(void)
{
    const char *root = getenv("SYNCRT_TEST_CLARITY");
    test_iso();
    test_answers();
    if (!root) {
        CHECK(0, "SYNCRT_TEST_CLARITY is set: suite.sh started build/sandbox");
        return test_done();
    }
    test_against_sandbox(root);
    return test_done();
}
