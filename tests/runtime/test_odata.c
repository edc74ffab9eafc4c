/* test_odata.c - the OData pieces: literals (quote doubling, enums, dates, GUIDs), key paths
 * with percent-encoding, query URLs, F&O error bodies, the $batch builder and the parser on
 * recorded answer shapes (changesets, a failed changeset answered once, Content-ID order, LF
 * line ends, missing parts), and nextLink paging against tests/runtime/httpd.py over real
 * sockets: every row once and in order through tricky strings, retries of 429 (Retry-After
 * honoured), 503, a page cut in the middle, errors with innererror, stopping early, and flat
 * memory over many pages. */
#include "syncrt/odata.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char *base;

static void lit(syncrt_odata_kind k, const char *v, const char *type, syncrt_status want_st,
                const char *want, const char *what)
{
    char *out = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_status st = syncrt_odata_literal(&out, k, v, type, &err);
    CHECK_INT(st, want_st, "literal %s: status", what);
    if (want)
        CHECK_STR(out, want, "literal %s", what);
    free(out);
}

static void test_literals(void)
{
    lit(SYNCRT_ODATA_STRING, "O'Brien", NULL, SYNCRT_OK, "'O''Brien'", "quote doubled");
    lit(SYNCRT_ODATA_STRING, "", NULL, SYNCRT_OK, "''", "empty string");
    lit(SYNCRT_ODATA_STRING, "''", NULL, SYNCRT_OK, "''''''", "two quotes");
    lit(SYNCRT_ODATA_NUMBER, "-12.50", NULL, SYNCRT_OK, "-12.50", "decimal text kept as is");
    lit(SYNCRT_ODATA_NUMBER, "1234567890123456789012345678.99", NULL, SYNCRT_OK,
        "1234567890123456789012345678.99", "30-digit decimal untouched");
    lit(SYNCRT_ODATA_NUMBER, "12a", NULL, SYNCRT_EINVAL, NULL, "not a number");
    lit(SYNCRT_ODATA_NUMBER, "01", NULL, SYNCRT_EINVAL, NULL, "leading zero");
    lit(SYNCRT_ODATA_NUMBER, "1) or (1 eq 1", NULL, SYNCRT_EINVAL, NULL, "injection refused");
    lit(SYNCRT_ODATA_ENUM, "Yes", "Microsoft.Dynamics.DataEntities.NoYes", SYNCRT_OK,
        "Microsoft.Dynamics.DataEntities.NoYes'Yes'", "enum literal");
    lit(SYNCRT_ODATA_ENUM, "Ye's", "Microsoft.Dynamics.DataEntities.NoYes", SYNCRT_EINVAL, NULL,
        "enum member must be a name");
    lit(SYNCRT_ODATA_ENUM, "Yes", NULL, SYNCRT_EINVAL, NULL, "enum needs its type");
    lit(SYNCRT_ODATA_DATETIME, "2026-07-30T12:00:00Z", NULL, SYNCRT_OK, "2026-07-30T12:00:00Z", "date-time");
    lit(SYNCRT_ODATA_DATETIME, "2026-07-30T12:00:00.1234567+02:00", NULL, SYNCRT_OK,
        "2026-07-30T12:00:00.1234567+02:00", "date-time with fraction and offset");
    lit(SYNCRT_ODATA_DATETIME, "2026-07-30 12:00:00", NULL, SYNCRT_EINVAL, NULL, "no T, no offset");
    lit(SYNCRT_ODATA_DATETIME, "2026-02-30T12:00:00Z", NULL, SYNCRT_EINVAL, NULL, "February 30th");
    lit(SYNCRT_ODATA_DATE, "2024-02-29", NULL, SYNCRT_OK, "2024-02-29T12:00:00Z", "date-only is noon UTC");
    lit(SYNCRT_ODATA_DATE, "2026-02-29", NULL, SYNCRT_EINVAL, NULL, "not a leap year");
    lit(SYNCRT_ODATA_GUID, "0f8fad5b-d9cb-469f-a165-70867728950e", NULL, SYNCRT_OK,
        "0f8fad5b-d9cb-469f-a165-70867728950e", "GUID");
    lit(SYNCRT_ODATA_GUID, "0f8fad5b-d9cb-469f-a165-70867728950", NULL, SYNCRT_EINVAL, NULL, "short GUID");
    lit(SYNCRT_ODATA_BOOL, "true", NULL, SYNCRT_OK, "true", "bool");
}

static void test_key_paths(void)
{
    char *out = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_odata_key k[2] = { { "dataAreaId", "usmf", SYNCRT_ODATA_STRING, NULL },
                              { "CustomerAccount", "US-001", SYNCRT_ODATA_STRING, NULL } };
    syncrt_odata_key one = { NULL, "5", SYNCRT_ODATA_NUMBER, NULL };
    syncrt_odata_key line[3] = { { "dataAreaId", "usmf", SYNCRT_ODATA_STRING, NULL },
                                 { "JournalBatchNumber", "00012", SYNCRT_ODATA_STRING, NULL },
                                 { "LineNumber", "1.0000", SYNCRT_ODATA_NUMBER, NULL } };

    CHECK_INT(syncrt_odata_key_path(&out, "CustomersV3", k, 2, &err), SYNCRT_OK, "key path");
    CHECK_STR(out, "CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')", "every key named");
    free(out);
    k[1].value = "O'Neil & Sons/#1 100%?";
    syncrt_odata_key_path(&out, "CustomersV3", k, 2, &err);
    CHECK_STR(out, "CustomersV3(dataAreaId='usmf',CustomerAccount='O''Neil%20%26%20Sons%2F%231%20100%25%3F')",
              "quotes doubled, the rest percent-encoded");
    free(out);
    k[1].value = "Caf\xC3\xA9";
    syncrt_odata_key_path(&out, "CustomersV3", k, 2, &err);
    CHECK_STR(out, "CustomersV3(dataAreaId='usmf',CustomerAccount='Caf%C3%A9')", "UTF-8 percent-encoded");
    free(out);
    syncrt_odata_key_path(&out, "CustomerPaymentJournalLines", line, 3, &err);
    CHECK_STR(out, "CustomerPaymentJournalLines(dataAreaId='usmf',JournalBatchNumber='00012',LineNumber=1.0000)",
              "decimal key unquoted");
    free(out);
    CHECK_INT(syncrt_odata_key_path(&out, "Things", &one, 1, &err), SYNCRT_OK, "single unnamed key");
    CHECK_STR(out, "Things(5)", "single key form");
    free(out);
    k[0].name = NULL;
    CHECK_INT(syncrt_odata_key_path(&out, "CustomersV3", k, 2, &err), SYNCRT_EINVAL, "compound keys are named");
    CHECK_INT(syncrt_odata_key_path(&out, "Customers V3", &one, 1, &err), SYNCRT_EINVAL, "bad entity set name");
}

static void test_urls(void)
{
    char *f = NULL, *lit_s = NULL, *lit_e = NULL, *lit_d = NULL, *u = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_odata_query q;
    char filter[256];

    syncrt_odata_literal(&lit_s, SYNCRT_ODATA_STRING, "O'Brien", NULL, &err);
    syncrt_odata_literal(&lit_e, SYNCRT_ODATA_ENUM, "Yes", "Microsoft.Dynamics.DataEntities.NoYes", &err);
    syncrt_odata_literal(&lit_d, SYNCRT_ODATA_DATETIME, "2026-07-30T12:00:00+02:00", NULL, &err);
    snprintf(filter, sizeof filter, "Name eq %s and IsPosted eq %s and Modified ge %s", lit_s, lit_e, lit_d);
    memset(&q, 0, sizeof q);
    q.filter = filter;
    q.select = "CustomerAccount,Name";
    q.top = 100;
    q.cross_company = 1;
    CHECK_INT(syncrt_odata_url(&u, "https://env.operations.dynamics.com/data/", "CustomersV3", &q, &err),
              SYNCRT_OK, "query URL");
    CHECK_STR(u, "https://env.operations.dynamics.com/data/CustomersV3?$filter=Name%20eq%20%27O%27%27Brien%27"
                 "%20and%20IsPosted%20eq%20Microsoft.Dynamics.DataEntities.NoYes%27Yes%27%20and%20Modified"
                 "%20ge%202026-07-30T12%3A00%3A00%2B02%3A00&$select=CustomerAccount%2CName&$top=100"
                 "&cross-company=true",
              "options encoded (the + of the offset too), one slash after the root");
    free(u);
    free(f);
    free(lit_s);
    free(lit_e);
    free(lit_d);
    CHECK_INT(syncrt_odata_url(&u, "http://h/data", "$metadata", NULL, &err), SYNCRT_OK, "URL without options");
    CHECK_STR(u, "http://h/data/$metadata", "plain path");
    free(u);
}

static void test_errors(void)
{
    syncrt_odata_error_info e;
    const char *fo = "{\"error\":{\"code\":\"\",\"message\":\"An error has occurred.\",\"innererror\":"
                     "{\"message\":\"Write failed for table row of type 'CustCustomerV3Entity'. Infolog: "
                     "Warning: The record already exists..\",\"type\":\"Microsoft.Dynamics.Platform."
                     "Integration.Services.OData.AxODataWriteException\",\"stacktrace\":\"   at X\"}}}";
    const char *plain = "{\"error\":{\"code\":\"NotFound\",\"message\":\"No resource\"}}";

    CHECK_INT(syncrt_odata_error_parse(&e, fo, strlen(fo)), SYNCRT_OK, "F&O error parses");
    CHECK_STR(syncrt_odata_error_text(&e), "Write failed for table row of type 'CustCustomerV3Entity'. "
              "Infolog: Warning: The record already exists..", "innererror.message is the text");
    CHECK_STR(e.message, "An error has occurred.", "outer message kept");
    CHECK(strstr(e.type, "AxODataWriteException") != NULL, "type kept");
    CHECK_INT(syncrt_odata_error_parse(&e, plain, strlen(plain)), SYNCRT_OK, "plain OData error");
    CHECK_STR(syncrt_odata_error_text(&e), "No resource", "message when no innererror");
    CHECK_INT(syncrt_odata_error_parse(&e, "<html>502</html>", 16), SYNCRT_EPARSE, "not an error body");
    CHECK_STR(e.message, "<html>502</html>", "raw text kept");
}

static syncrt_batch *sample_batch(void)
{
    syncrt_batch *b = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    int cid = 0;
    syncrt_batch_new(&b, "https://env.operations.dynamics.com/data/", &err);
    syncrt_batch_changeset_begin(b, &err);
    syncrt_batch_add(b, &cid, 10, "POST", "SalesOrderHeadersV2", "{\"SalesOrderNumber\":\"WEB-1\"}", NULL, &err);
    syncrt_batch_add(b, NULL, 11, "POST", "SalesOrderLines", "{\"SalesOrderNumber\":\"WEB-1\",\"ItemNumber\":\"A\"}",
                     NULL, &err);
    syncrt_batch_changeset_end(b, &err);
    syncrt_batch_changeset_begin(b, &err);
    syncrt_batch_add(b, NULL, 20, "POST", "SalesOrderHeadersV2", "{\"SalesOrderNumber\":\"WEB-2\"}", NULL, &err);
    syncrt_batch_add(b, NULL, 21, "POST", "SalesOrderLines", "{\"SalesOrderNumber\":\"WEB-2\",\"ItemNumber\":\"X\"}",
                     NULL, &err);
    syncrt_batch_changeset_end(b, &err);
    syncrt_batch_add(b, &cid, 30, "GET", "CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')", NULL, NULL, &err);
    CHECK_INT(cid, 5, "Content-IDs count through the batch");
    return b;
}

static void test_batch_build(void)
{
    syncrt_batch *b = sample_batch();
    syncrt_error err = { SYNCRT_OK, "" };
    char *body = NULL, *ct = NULL, bnd[128], line[256];
    size_t len = 0;
    const char *p;
    int parts = 0;

    CHECK_INT(syncrt_batch_count(b), 5, "five operations");
    CHECK_INT(syncrt_batch_add(b, NULL, 1, "GET", "$1", NULL, NULL, &err), SYNCRT_EINVAL,
              "$<id> outside a changeset refused");
    syncrt_batch_changeset_begin(b, &err);
    CHECK_INT(syncrt_batch_add(b, NULL, 1, "GET", "X", NULL, NULL, &err), SYNCRT_EINVAL, "no GET in a changeset");
    CHECK_INT(syncrt_batch_changeset_begin(b, &err), SYNCRT_EINVAL, "changesets do not nest");
    CHECK_INT(syncrt_batch_body(&body, &len, &ct, b, &err), SYNCRT_EINVAL, "open changeset: no body");
    syncrt_batch_changeset_end(b, &err);
    CHECK_INT(syncrt_batch_add(b, NULL, 1, "PATCH", "X Y", "{}", NULL, &err), SYNCRT_EINVAL, "blank in path refused");
    CHECK_INT(syncrt_batch_add(b, NULL, 1, "PATCH", "X", "{}", "W/\"1\"\r\nX: y", &err), SYNCRT_EINVAL,
              "header injection through If-Match refused");
    CHECK_INT(syncrt_batch_body(&body, &len, &ct, b, &err), SYNCRT_OK, "body");
    CHECK(strncmp(ct, "multipart/mixed; boundary=batch_", 32) == 0, "content type: %s", ct);
    snprintf(bnd, sizeof bnd, "--%s\r\n", ct + 26);
    for (p = body; (p = strstr(p, bnd)) != NULL; p++)
        parts++;
    CHECK_INT(parts, 3, "three top-level parts (two changesets, one GET)");
    snprintf(line, sizeof line, "--%s--\r\n", ct + 26);
    CHECK(len >= strlen(line) && strcmp(body + len - strlen(line), line) == 0, "closing delimiter last");
    CHECK(strstr(body, "Content-Type: multipart/mixed; boundary=changeset_") != NULL, "changeset parts");
    CHECK(strstr(body, "Content-ID: 3\r\n\r\nPOST https://env.operations.dynamics.com/data/SalesOrderHeadersV2 HTTP/1.1\r\n")
          != NULL, "absolute request line with its Content-ID");
    CHECK(strstr(body, "GET https://env.operations.dynamics.com/data/CustomersV3(dataAreaId='usmf',"
                       "CustomerAccount='US-001') HTTP/1.1\r\nAccept: application/json\r\n\r\n") != NULL,
          "GET part without body");
    CHECK(strstr(body, "Content-Type: application/json; charset=utf-8\r\n\r\n{\"SalesOrderNumber\":\"WEB-1\"}\r\n")
          != NULL, "JSON body after its headers");
    free(body);
    free(ct);
    syncrt_batch_free(b);

    syncrt_batch_new(&b, "http://h/data", &err);
    syncrt_batch_changeset_begin(b, &err);
    syncrt_batch_add(b, NULL, 1, "PATCH", "CustomersV3(dataAreaId='usmf',CustomerAccount='A')", "{\"Name\":\"n\"}",
                     "W/\"JzEsNTYzNzE0NjA3OTsw\"", &err);
    syncrt_batch_changeset_end(b, &err);
    syncrt_batch_body(&body, &len, &ct, b, &err);
    CHECK(body && strstr(body, "If-Match: W/\"JzEsNTYzNzE0NjA3OTsw\"\r\n") != NULL, "If-Match carried");
    free(body);
    free(ct);
    syncrt_batch_free(b);
}

/* An answer in the shape F&O sends: changeset 1 succeeded (its parts in reverse Content-ID
 * order), changeset 2 failed as a whole (one 400), the GET answered 200. */
static const char *answer_ok =
    "--batchresponse_77\r\n"
    "Content-Type: multipart/mixed; boundary=changesetresponse_aa\r\n"
    "\r\n"
    "--changesetresponse_aa\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 2\r\n"
    "\r\n"
    "HTTP/1.1 201 Created\r\n"
    "Location: https://env/data/SalesOrderLines(dataAreaId='usmf',InventoryLotId='000123')\r\n"
    "Content-Type: application/json; odata.metadata=minimal\r\n"
    "ETag: W/\"line-etag\"\r\n"
    "OData-Version: 4.0\r\n"
    "\r\n"
    "{\"InventoryLotId\":\"000123\"}\r\n"
    "--changesetresponse_aa\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 1\r\n"
    "\r\n"
    "HTTP/1.1 201 Created\r\n"
    "Location: https://env/data/SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='WEB-1')\r\n"
    "ETag: W/\"header-etag\"\r\n"
    "\r\n"
    "{\"SalesOrderNumber\":\"WEB-1\"}\r\n"
    "--changesetresponse_aa--\r\n"
    "--batchresponse_77\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: application/json; odata.metadata=minimal\r\n"
    "\r\n"
    "{\"error\":{\"code\":\"\",\"message\":\"An error has occurred.\",\"innererror\":{\"message\":"
    "\"Write failed for table row of type 'SalesLine'. Infolog: Item number 'X' does not exist.\","
    "\"type\":\"AxODataWriteException\",\"stacktrace\":\"\"}}}\r\n"
    "--batchresponse_77\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "\r\n"
    "{\"CustomerAccount\":\"US-001\"}\r\n"
    "--batchresponse_77--\r\n";

static void test_batch_parse(void)
{
    syncrt_batch *b = sample_batch();
    syncrt_batch_result *r = NULL;
    size_t n = 0, i;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_odata_error_info e;
    char *lf, *q;

    CHECK_INT(syncrt_batch_parse(&r, &n, b, "multipart/mixed; boundary=batchresponse_77", answer_ok,
                                 strlen(answer_ok), &err), SYNCRT_OK, "answer parses (%s)", err.message);
    CHECK_INT(n, 5, "one result per operation");
    if (n == 5) {
        CHECK(r[0].tag == 10 && r[0].status == 201, "header of changeset 1: 201 (by Content-ID)");
        CHECK_STR(r[0].body, "{\"SalesOrderNumber\":\"WEB-1\"}", "its body");
        CHECK_STR(r[0].etag, "W/\"header-etag\"", "its ETag");
        CHECK(r[0].location && strstr(r[0].location, "WEB-1") != NULL, "its Location");
        CHECK(r[1].tag == 11 && r[1].status == 201 && strstr(r[1].body, "000123"), "line of changeset 1");
        CHECK(r[2].tag == 20 && r[2].status == 400 && r[2].changeset_failed, "changeset 2 failed: header gets the 400");
        CHECK(r[3].tag == 21 && r[3].status == 400 && r[3].changeset_failed, "and so does its line");
        syncrt_odata_error_parse(&e, r[3].body, strlen(r[3].body));
        CHECK(strstr(syncrt_odata_error_text(&e), "Item number 'X' does not exist") != NULL,
              "the failure's innererror reaches every record of the changeset");
        CHECK(r[4].tag == 30 && r[4].status == 200 && r[4].changeset == -1, "the lone GET: 200");
        CHECK(!r[0].changeset_failed && r[0].changeset == 0 && r[2].changeset == 1, "changeset indexes");
    }
    syncrt_batch_results_free(r, n);

    /* the same answer with bare LF line ends and a quoted boundary */
    lf = malloc(strlen(answer_ok) + 1);
    for (i = 0, q = lf; answer_ok[i]; i++)
        if (answer_ok[i] != '\r')
            *q++ = answer_ok[i];
    *q = '\0';
    CHECK_INT(syncrt_batch_parse(&r, &n, b, "multipart/mixed;boundary=\"batchresponse_77\"", lf, strlen(lf), &err),
              SYNCRT_OK, "LF line ends and a quoted boundary");
    CHECK(n == 5 && r[0].status == 201 && r[2].status == 400 && r[4].status == 200 &&
          strcmp(r[4].body, "{\"CustomerAccount\":\"US-001\"}") == 0, "same outcomes");
    syncrt_batch_results_free(r, n);
    free(lf);

    /* an answer that stops after the first changeset: the rest have no outcome */
    {
        const char *cut = strstr(answer_ok, "--batchresponse_77\r\nContent-Type: application/http");
        char *shortened = malloc((size_t)(cut - answer_ok) + 32);
        memcpy(shortened, answer_ok, (size_t)(cut - answer_ok));
        strcpy(shortened + (cut - answer_ok), "--batchresponse_77--\r\n");
        CHECK_INT(syncrt_batch_parse(&r, &n, b, "multipart/mixed; boundary=batchresponse_77", shortened,
                                     strlen(shortened), &err), SYNCRT_OK, "a short answer parses");
        CHECK(n == 5 && r[0].status == 201 && r[2].status == 0 && r[3].status == 0 && r[4].status == 0,
              "operations without an answer get status 0 (unknown outcome)");
        syncrt_batch_results_free(r, n);
        free(shortened);
    }
    CHECK_INT(syncrt_batch_parse(&r, &n, b, "multipart/mixed; boundary=batchresponse_77", answer_ok, 200, &err),
              SYNCRT_EPARSE, "a truncated answer (no closing boundary) is an error");
    CHECK_INT(syncrt_batch_parse(&r, &n, b, "application/json", "{}", 2, &err), SYNCRT_EPARSE,
              "a JSON error instead of multipart is an error");
    syncrt_batch_free(b);
}

/* ---- paging against httpd.py ---- */

typedef struct {
    long next_id, bad, rows, stop_at;
    int unicode_ok, tricky_ok;
} rows_state;

static int on_row(void *ctx, json_t *row)
{
    rows_state *s = ctx;
    long id = (long)json_integer_value(json_object_get(row, "ID"));
    if (id != s->next_id)
        s->bad++;
    s->next_id = id + 1;
    s->rows++;
    if (id == 3) {
        const char *u = json_string_value(json_object_get(row, "Unicode"));
        const char *name = json_string_value(json_object_get(row, "Name"));
        json_t *nested = json_array_get(json_object_get(json_object_get(row, "Nested"), "a"), 2);
        s->unicode_ok = u && strcmp(u, "caf\xC3\xA9 \xE2\x98\x83") == 0;
        s->tricky_ok = name && strcmp(name, "row 3 \"quoted\" \\ {brace} [bracket], comma") == 0 &&
                       strcmp(json_string_value(json_object_get(nested, "b")), "]}") == 0;
    }
    return s->stop_at && s->rows >= s->stop_at;
}

typedef struct { int count; int64_t delays[16]; } sleeps;

static void fake_sleep(void *ctx, int64_t ms)
{
    sleeps *s = ctx;
    if (s->count < 16)
        s->delays[s->count] = ms;
    s->count++;
}

static char *rows_url(const char *query)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/odata/Rows?%s", base, query);
    return buf;
}

static void test_paging(syncrt_http *h)
{
    syncrt_odata_pager p;
    syncrt_odata_page_stats st;
    syncrt_error err = { SYNCRT_OK, "" };
    rows_state rs;
    sleeps sl;
    syncrt_status s;

    memset(&p, 0, sizeof p);
    p.http = h;
    p.sleep = fake_sleep;
    p.sleep_ctx = &sl;
    p.jitter_seed = 1;

    memset(&rs, 0, sizeof rs);
    memset(&sl, 0, sizeof sl);
    s = syncrt_odata_stream(&st, &p, rows_url("total=95&size=10"), on_row, &rs, &err);
    CHECK_INT(s, SYNCRT_OK, "95 rows in pages of 10 (%s)", err.message);
    CHECK_INT(rs.rows, 95, "every row delivered");
    CHECK_INT(rs.bad, 0, "once each, in order");
    CHECK_INT(st.pages, 10, "10 pages followed by nextLink");
    CHECK(rs.tricky_ok, "quotes, backslashes, braces and brackets inside strings survive the scanner");
    CHECK(rs.unicode_ok, "\\u escapes decoded");
    syncrt_odata_page_stats_clear(&st);

    memset(&rs, 0, sizeof rs);
    s = syncrt_odata_stream(&st, &p, rows_url("total=30&size=7&next_first=1"), on_row, &rs, &err);
    CHECK(s == SYNCRT_OK && rs.rows == 30 && rs.bad == 0, "nextLink before value works too");
    syncrt_odata_page_stats_clear(&st);

    memset(&rs, 0, sizeof rs);
    s = syncrt_odata_stream(&st, &p, rows_url("total=0&size=7"), on_row, &rs, &err);
    CHECK(s == SYNCRT_OK && rs.rows == 0 && st.pages == 1, "an empty set is one empty page");
    syncrt_odata_page_stats_clear(&st);

    memset(&rs, 0, sizeof rs);
    memset(&sl, 0, sizeof sl);
    s = syncrt_odata_stream(&st, &p, rows_url("total=50&size=10&run=a429&fault=429&fault_skip=20"), on_row, &rs, &err);
    CHECK(s == SYNCRT_OK && rs.rows == 50 && rs.bad == 0, "a 429 on page 3 is retried, nothing lost or doubled");
    CHECK_INT(st.retries, 1, "one retry");
    CHECK_INT(sl.count, 1, "one wait");
    CHECK_INT(sl.delays[0], 3000, "the wait is the Retry-After, exactly");
    syncrt_odata_page_stats_clear(&st);

    memset(&rs, 0, sizeof rs);
    memset(&sl, 0, sizeof sl);
    s = syncrt_odata_stream(&st, &p, rows_url("total=50&size=10&run=a503&fault=503&fault_skip=0"), on_row, &rs, &err);
    CHECK(s == SYNCRT_OK && rs.rows == 50 && rs.bad == 0, "a 503 is retried");
    CHECK(sl.count == 1 && sl.delays[0] >= 0 && sl.delays[0] <= 1000, "with a jittered backoff (%lld ms)",
          (long long)sl.delays[0]);
    syncrt_odata_page_stats_clear(&st);

    memset(&rs, 0, sizeof rs);
    memset(&sl, 0, sizeof sl);
    s = syncrt_odata_stream(&st, &p, rows_url("total=300&size=100&run=drop&fault=drop&fault_skip=100"), on_row, &rs,
                            &err);
    CHECK_INT(s, SYNCRT_OK, "a page cut in the middle is fetched again (%s)", err.message);
    CHECK_INT(rs.rows, 300, "rows of the cut page are not delivered twice");
    CHECK_INT(rs.bad, 0, "and stay in order");
    CHECK_INT(st.retries, 1, "one retry for the cut page");
    syncrt_odata_page_stats_clear(&st);

    memset(&rs, 0, sizeof rs);
    s = syncrt_odata_stream(&st, &p, rows_url("total=50&size=10&run=e400&fault=400&fault_skip=10"), on_row, &rs, &err);
    CHECK_INT(s, SYNCRT_EHTTP, "a 400 stops paging");
    CHECK_INT(st.last_status, 400, "with its status");
    CHECK_STR(syncrt_odata_error_text(&st.error), "Field 'Foo' in $filter is not valid.", "and F&O's innererror text");
    CHECK(st.resume_url && strstr(st.resume_url, "skip=10") != NULL, "resume URL is the failed page");
    CHECK_INT(rs.rows, 10, "rows before the failure were delivered");
    syncrt_odata_page_stats_clear(&st);

    memset(&rs, 0, sizeof rs);
    memset(&sl, 0, sizeof sl);
    p.policy.max_attempts = 3;
    p.policy.base_ms = 100;
    p.policy.cap_ms = 1000;
    s = syncrt_odata_stream(&st, &p, rows_url("total=50&size=10&run=e500&fault=500always&fault_skip=10"), on_row, &rs,
                            &err);
    CHECK_INT(s, SYNCRT_EHTTP, "a page failing every time gives up");
    CHECK_INT(st.retries, 2, "after max attempts (3)");
    CHECK(st.resume_url && strstr(st.resume_url, "skip=10") != NULL, "with the page to resume from");
    syncrt_odata_page_stats_clear(&st);
    memset(&p.policy, 0, sizeof p.policy);

    memset(&rs, 0, sizeof rs);
    rs.stop_at = 15;
    s = syncrt_odata_stream(&st, &p, rows_url("total=100&size=10"), on_row, &rs, &err);
    CHECK(s == SYNCRT_OK && st.stopped && rs.rows == 15, "the row callback can stop paging");
    syncrt_odata_page_stats_clear(&st);
}

typedef struct { int rows; char text[3][256]; } text_rows;

static int on_text_row(void *ctx, const char *text, size_t len)
{
    text_rows *t = ctx;
    if (t->rows < 3)
        snprintf(t->text[t->rows], sizeof t->text[0], "%.*s", (int)len, text);
    t->rows++;
    return 0;
}

/* Rows handed over as text keep every digit of their numbers (a double would not). */
static void test_text_rows(syncrt_http *h)
{
    syncrt_odata_pager p;
    syncrt_odata_page_stats st;
    syncrt_error err = { SYNCRT_OK, "" };
    text_rows t;
    char u[512];

    memset(&p, 0, sizeof p);
    p.http = h;
    memset(&t, 0, sizeof t);
    snprintf(u, sizeof u, "%s/json?file=decimal_page.json", base);
    CHECK_INT(syncrt_odata_stream_text(&st, &p, u, on_text_row, &t, &err), SYNCRT_OK, "text rows (%s)", err.message);
    CHECK_INT(t.rows, 3, "three rows");
    CHECK_STR(t.text[0], "{\"InventoryLotId\":\"000001\",\"LineAmount\":1234567890123456789012345678.99,"
              "\"SalesPrice\":12.50,\"OrderedSalesQuantity\":3}", "a row's text is exactly the server's");
    CHECK(strstr(t.text[1], "\"SalesPrice\":-0.000000000000000000000000000001") != NULL, "a tiny decimal intact");
    CHECK(strstr(t.text[2], "79228162514264337593543950335") != NULL, ".NET's decimal max intact");
    syncrt_odata_page_stats_clear(&st);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_paging_memory(syncrt_http *h)
{
    syncrt_odata_pager p;
    syncrt_odata_page_stats st;
    syncrt_error err = { SYNCRT_OK, "" };
    rows_state rs;
    long total = getenv("SYNCRT_PAGING_ROWS") ? atol(getenv("SYNCRT_PAGING_ROWS")) : 200000;
    long rss_small, rss_big;
    char q[128];

    memset(&p, 0, sizeof p);
    p.http = h;
    memset(&rs, 0, sizeof rs);
    snprintf(q, sizeof q, "total=%ld&size=2000", total / 10);
    syncrt_odata_stream(&st, &p, rows_url(q), on_row, &rs, &err);
    syncrt_odata_page_stats_clear(&st);
    rss_small = max_rss_kb();
    memset(&rs, 0, sizeof rs);
    snprintf(q, sizeof q, "total=%ld&size=2000", total);
    CHECK_INT(syncrt_odata_stream(&st, &p, rows_url(q), on_row, &rs, &err), SYNCRT_OK, "%ld rows streamed", total);
    CHECK(rs.rows == total && rs.bad == 0, "all %ld rows once, in order (%zu pages)", total, st.pages);
    syncrt_odata_page_stats_clear(&st);
    rss_big = max_rss_kb();
    printf("# peak RSS after %ld rows: %ld kB; after %ld rows: %ld kB\n", total / 10, rss_small, total, rss_big);
#if defined(__SANITIZE_ADDRESS__)
    printf("# RSS flatness not checked under AddressSanitizer (its quarantine holds freed memory)\n");
#else
    if (getenv("SYNCRT_NO_RSS_CHECK"))
        printf("# RSS flatness not checked (SYNCRT_NO_RSS_CHECK: valgrind measures its own heap)\n");
    else
        CHECK(rss_big - rss_small < 2048, "peak RSS flat: 10x the rows grew it by %ld kB (< 2 MB)",
              rss_big - rss_small);
#endif
}

int main(void)
{
    syncrt_http *h = NULL;
    syncrt_error err = { SYNCRT_OK, "" };

    test_literals();
    test_key_paths();
    test_urls();
    test_errors();
    test_batch_build();
    test_batch_parse();
    base = getenv("SYNCRT_TEST_HTTP");
    if (!base) {
        CHECK(0, "SYNCRT_TEST_HTTP is set (run through suite.sh)");
        return test_done();
    }
    if (syncrt_http_new(&h, NULL, &err) != SYNCRT_OK) {
        CHECK(0, "http_new: %s", err.message);
        return test_done();
    }
    test_paging(h);
    test_text_rows(h);
    test_paging_memory(h);
    syncrt_http_free(h);
    return test_done();
}
