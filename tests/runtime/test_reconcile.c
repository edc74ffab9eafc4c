/* test_reconcile.c - the reconciliation module on constructed data: every mismatch kind,
 * grouping per day and account, exact decimal totals (0.1 + 0.2 == 0.3), tolerance, and the
 * raw JSON text reader the sync command feeds it with. */
#include <stdlib.h>
#include <string.h>

#include "syncrt/reconcile.h"
#include "testhelp.h"

static syncrt_decimal D(const char *s)
{
    syncrt_decimal d;
    if (syncrt_decimal_parse(&d, s, strlen(s)) != SYNCRT_OK)
        abort();
    return d;
}

static const char *fmt(const syncrt_decimal *d)
{
    static char buf[4][SYNCRT_DECIMAL_TEXT];
    static int k;
    k = (k + 1) % 4;
    syncrt_decimal_format(d, buf[k], sizeof buf[k]);
    return buf[k];
}

/* The one mismatch of kind for Clarity key ck (or F&O key fk), or NULL. */
static const syncrt_recon_mismatch *find(const syncrt_recon *r, syncrt_recon_kind kind, const char *ck,
                                         const char *fk)
{
    size_t n;
    const syncrt_recon_mismatch *m = syncrt_recon_mismatches(r, &n);
    for (size_t i = 0; i < n; i++)
        if (m[i].kind == kind && (!ck || (m[i].clarity_key && !strcmp(m[i].clarity_key, ck))) &&
            (!fk || (m[i].fo_key && !strcmp(m[i].fo_key, fk))))
            return &m[i];
    return NULL;
}

static void add_order(syncrt_recon *r, const char *id, const char *acc, const char *day, const char *total,
                      const char *fo, const char *dead)
{
    syncrt_decimal t = D(total);
    syncrt_error err;
    if (syncrt_recon_add_clarity_order(r, id, acc, day, &t, fo, dead, &err) != SYNCRT_OK)
        abort();
}

static void add_fo(syncrt_recon *r, const char *num, const char *acc, const char *day, const char *q,
                   const char *p)
{
    syncrt_error err;
    syncrt_decimal dq = D(q), dp = D(p);
    if (syncrt_recon_add_fo_order(r, num, acc, day, &err) != SYNCRT_OK ||
        syncrt_recon_add_fo_line(r, num, &dq, &dp, &err) != SYNCRT_OK)
        abort();
}

static void test_all_match(void)
{
    syncrt_recon *r = NULL;
    syncrt_error err;
    syncrt_recon_new(&r, &err);
    /* 0.1 + 0.2 as two lines: exactly 0.3 */
    add_order(r, "1", "US-001", "2026-07-30T23:59:59.999Z", "0.3", "WEB-1", NULL);
    add_fo(r, "WEB-1", "US-001", "2026-07-31", "1", "0.1");
    syncrt_decimal q = D("1"), fifth = D("0.2");
    syncrt_recon_add_fo_line(r, "WEB-1", &q, &fifth, &err);
    add_order(r, "2", "US-001", "2026-07-30", "12.50", "WEB-2", NULL);
    add_fo(r, "WEB-2", "US-001", "2026-07-30", "5", "2.5");
    syncrt_decimal inv = D("12.5"), pay = D("12.500");
    syncrt_recon_add_invoice(r, "INV-1", "WEB-2", &inv, NULL, &err);
    syncrt_recon_add_clarity_payment(r, "2", "201", &pay, 1, &err);
    syncrt_recon_add_fo_payment(r, "2", "201", &inv, &err);
    add_order(r, "3", "US-002", "2026-07-31T00:00:00+02:00", "7", "WEB-3", NULL);
    add_fo(r, "WEB-3", "US-002", "2026-07-30", "1", "7.00");
    /* a line and a payment of orders outside the input are ignored */
    syncrt_recon_add_fo_line(r, "WEB-99", &q, &fifth, &err);
    syncrt_recon_add_fo_payment(r, "99", NULL, &pay, &err);
    syncrt_status st = syncrt_recon_run(r, NULL, &err);
    CHECK(st == SYNCRT_OK, "run on matching data");
    size_t nr, nm;
    const syncrt_recon_row *w = syncrt_recon_rows(r, &nr);
    syncrt_recon_mismatches(r, &nm);
    CHECK_INT(nm, 0, "0.1 + 0.2 == 0.3, 12.50 == 12.5: no mismatch");
    CHECK_INT(nr, 2, "two (day, account) rows: the +02:00 order falls on 2026-07-30 UTC");
    if (nr == 2) {
        CHECK_STR(w[0].day, "2026-07-30", "row 1 day");
        CHECK_STR(w[0].account, "US-001", "row 1 account");
        CHECK_INT(w[0].clarity_orders, 2, "row 1: two Clarity orders");
        CHECK_STR(fmt(&w[0].clarity_total), "12.80", "row 1: Clarity total 0.3 + 12.50");
        CHECK_INT(w[0].fo_orders, 2, "row 1: two F&O orders (counted on the Clarity order's day)");
        CHECK_STR(fmt(&w[0].fo_total), "12.8", "row 1: F&O total from lines 1 x 0.1 + 1 x 0.2 + 5 x 2.5");
        CHECK_INT(w[0].invoices, 1, "row 1: one invoice");
        CHECK_STR(fmt(&w[0].invoiced), "12.5", "row 1: invoiced");
        CHECK_INT(w[0].clarity_payments, 1, "row 1: one Clarity payment");
        CHECK_INT(w[0].fo_payments, 1, "row 1: one F&O payment line");
        CHECK_STR(w[1].account, "US-002", "row 2 account");
        CHECK_STR(fmt(&w[1].fo_total), "7.00", "row 2 F&O total");
    }
    syncrt_recon_free(r);
}

static void test_every_kind(void)
{
    syncrt_recon *r = NULL;
    syncrt_error err;
    syncrt_recon_new(&r, &err);
    add_order(r, "10", "C1", "2026-08-01", "5", NULL, NULL);                      /* not synced */
    add_order(r, "11", "C1", "2026-08-01", "5", NULL, "F&O refused: credit limit"); /* DLQ */
    add_order(r, "12", "C1", "2026-08-01", "5", "WEB-12", NULL);                  /* fo missing */
    add_order(r, "13", "C2", "2026-08-01", "10.00", "WEB-13", NULL);              /* amount */
    add_fo(r, "WEB-13", "C2", "2026-08-01", "3", "3.33");
    add_order(r, "14", "C2", "2026-08-01", "10", "WEB-14", NULL);                 /* invoice */
    add_fo(r, "WEB-14", "C2", "2026-08-01", "1", "10");
    syncrt_decimal i14 = D("9.99"), p15c = D("20"), p15f = D("19.99"), p16 = D("29");
    syncrt_recon_add_invoice(r, "INV-14", "WEB-14", &i14, NULL, &err);
    add_order(r, "15", "C3", "2026-08-02", "20", "WEB-15", NULL);                 /* pay journal */
    add_fo(r, "WEB-15", "C3", "2026-08-02", "2", "10");
    syncrt_recon_add_clarity_payment(r, "15", NULL, &p15c, 1, &err);
    syncrt_recon_add_fo_payment(r, "15", NULL, &p15f, &err);
    add_order(r, "16", "C3", "2026-08-02", "30", "WEB-16", NULL);                 /* pay invoice */
    add_fo(r, "WEB-16", "C3", "2026-08-02", "3", "10");
    syncrt_decimal i16 = D("30");
    syncrt_recon_add_invoice(r, "INV-16", "WEB-16", &i16, NULL, &err);
    syncrt_recon_add_clarity_payment(r, "16", "1", &p16, 1, &err);
    syncrt_recon_add_fo_payment(r, "16", "1", &p16, &err);
    add_fo(r, "WEB-77", "C4", "2026-08-03", "1", "1");                            /* fo only */
    syncrt_status st = syncrt_recon_run(r, NULL, &err);
    CHECK(st == SYNCRT_OK, "run on data with every mismatch");
    CHECK(syncrt_recon_run(r, NULL, &err) == SYNCRT_EINVAL, "a second run is refused");
    size_t nm;
    syncrt_recon_mismatches(r, &nm);
    CHECK_INT(nm, 8, "eight mismatches");
    CHECK(find(r, SYNCRT_RECON_NOT_SYNCED, "10", NULL) != NULL, "order 10: not_synced");
    const syncrt_recon_mismatch *m = find(r, SYNCRT_RECON_DEAD_LETTER, "11", NULL);
    CHECK(m && m->detail && strstr(m->detail, "credit limit"), "order 11: dead_letter with its reason");
    CHECK(find(r, SYNCRT_RECON_FO_MISSING, "12", "WEB-12") != NULL, "order 12: fo_missing WEB-12");
    m = find(r, SYNCRT_RECON_ORDER_AMOUNT, "13", "WEB-13");
    CHECK(m && m->has_amounts, "order 13: order_amount");
    if (m) {
        CHECK_STR(fmt(&m->expected), "10.00", "order 13: Clarity side");
        CHECK_STR(fmt(&m->actual), "9.99", "order 13: F&O side 3 x 3.33");
    }
    m = find(r, SYNCRT_RECON_INVOICE_AMOUNT, "14", "WEB-14");
    CHECK(m && m->detail && !strcmp(m->detail, "INV-14"), "order 14: invoice_amount naming INV-14");
    m = find(r, SYNCRT_RECON_PAYMENT_JOURNAL, "15", "WEB-15");
    CHECK(m && !strcmp(fmt(&m->expected), "20") && !strcmp(fmt(&m->actual), "19.99"),
          "order 15: payment_journal 20 vs 19.99");
    m = find(r, SYNCRT_RECON_PAYMENT_INVOICE, "16", "WEB-16");
    CHECK(m && !strcmp(fmt(&m->expected), "29") && !strcmp(fmt(&m->actual), "30"),
          "order 16: payment_invoice paid 29 vs invoiced 30");
    m = find(r, SYNCRT_RECON_FO_ONLY, NULL, "WEB-77");
    CHECK(m && !strcmp(m->day, "2026-08-03") && !strcmp(m->account, "C4"), "WEB-77: fo_only on its own day");
    CHECK(find(r, SYNCRT_RECON_ORDER_AMOUNT, "15", NULL) == NULL, "order 15 amounts match");
    CHECK_STR(syncrt_recon_kind_name(SYNCRT_RECON_PAYMENT_INVOICE), "payment_invoice", "kind name");
    size_t nr;
    const syncrt_recon_row *w = syncrt_recon_rows(r, &nr);
    CHECK_INT(nr, 4, "rows: (08-01, C1), (08-01, C2), (08-02, C3), (08-03, C4)");
    if (nr == 4) {
        CHECK_INT(w[0].clarity_orders, 3, "C1: three Clarity orders");
        CHECK_INT(w[0].fo_orders, 0, "C1: no F&O order");
        CHECK_STR(fmt(&w[2].clarity_paid), "49", "C3: Clarity paid 20 + 29");
        CHECK_STR(fmt(&w[2].fo_paid), "48.99", "C3: F&O paid 19.99 + 29");
        CHECK_INT(w[3].clarity_orders, 0, "C4: no Clarity order");
        CHECK_INT(w[3].fo_orders, 1, "C4: one F&O order");
    }
    syncrt_recon_free(r);
}

static void test_tolerance_and_errors(void)
{
    syncrt_recon *r = NULL;
    syncrt_error err;
    syncrt_recon_new(&r, &err);
    add_order(r, "1", "C", "2026-08-01", "10.00", "WEB-1", NULL);
    add_fo(r, "WEB-1", "C", "2026-08-01", "3", "3.333");
    syncrt_decimal tol = D("0.001");
    syncrt_status st = syncrt_recon_run(r, &tol, &err);
    CHECK(st == SYNCRT_OK, "run with tolerance 0.001");
    size_t nm;
    syncrt_recon_mismatches(r, &nm);
    CHECK_INT(nm, 0, "9.999 vs 10.00 within 0.001");
    syncrt_recon_free(r);

    syncrt_recon_new(&r, &err);
    add_order(r, "1", "C", "2026-08-01", "10.00", "WEB-1", NULL);
    add_fo(r, "WEB-1", "C", "2026-08-01", "3", "3.333");
    tol = D("0.0009");
    syncrt_recon_run(r, &tol, &err);
    syncrt_recon_mismatches(r, &nm);
    CHECK_INT(nm, 1, "9.999 vs 10.00 not within 0.0009");
    syncrt_recon_free(r);

    syncrt_recon_new(&r, &err);
    syncrt_decimal t = D("1");
    st = syncrt_recon_add_clarity_order(r, "1", "C", "yesterday", &t, NULL, NULL, &err);
    CHECK(st == SYNCRT_EINVAL, "a bad day is EINVAL");
    add_order(r, "7", "C", "2026-08-01", "1", NULL, NULL);
    add_order(r, "7", "C", "2026-08-01", "1", NULL, NULL);
    st = syncrt_recon_run(r, NULL, &err);
    CHECK(st == SYNCRT_EINVAL && strstr(err.message, "twice"), "the same Clarity order twice is EINVAL");
    syncrt_recon_free(r);
}

static void test_json(void)
{
    const char *j = "{ \"ID\": 42, \"Name\": \"a \\\"b\\\" }\", \"Items\": [ {\"Q\": 0.1, \"P\": [1,2]}, "
                    "{\"Q\": 12345678901234567890.12345678} ], \"Pay\": null, \"Nested\": {\"Amount\": 3.30} }";
    size_t len = strlen(j);
    char *s = syncrt_recon_json_string(j, len, "Name");
    CHECK_STR(s, "a \"b\" }", "string member with escapes");
    free(s);
    s = syncrt_recon_json_string(j, len, "ID");
    CHECK_STR(s, "42", "number member as text");
    free(s);
    CHECK(syncrt_recon_json_string(j, len, "Pay") == NULL, "null member is NULL");
    CHECK(syncrt_recon_json_string(j, len, "Q") == NULL, "nested keys are not top-level members");
    const char *v, *e;
    size_t vn, en, pos = 0;
    CHECK(syncrt_recon_json_member(&v, &vn, j, len, "Items") == SYNCRT_OK, "array member");
    syncrt_decimal d;
    int k = 0;
    const char *want[] = { "0.1", "12345678901234567890.12345678" };
    while (syncrt_recon_json_next(&e, &en, v, vn, &pos) == SYNCRT_OK && k < 2) {
        CHECK(syncrt_recon_json_decimal(&d, e, en, "Q") == SYNCRT_OK, "element %d Q", k);
        CHECK_STR(fmt(&d), want[k], "element %d Q exact", k);
        k++;
    }
    CHECK_INT(k, 2, "two elements");
    CHECK(syncrt_recon_json_member(&v, &vn, j, len, "Nested") == SYNCRT_OK &&
          syncrt_recon_json_decimal(&d, v, vn, "Amount") == SYNCRT_OK && !strcmp(fmt(&d), "3.30"),
          "nested object member keeps 3.30");
    CHECK(syncrt_recon_json_decimal(&d, j, len, "Pay") == SYNCRT_ENOTFOUND, "null decimal is ENOTFOUND");
    CHECK(syncrt_recon_json_member(&v, &vn, "[1]", 3, "x") == SYNCRT_EPARSE, "not an object");
    CHECK(syncrt_recon_json_member(&v, &vn, "{\"a\": \"x", 8, "b") == SYNCRT_EPARSE, "truncated object");
    pos = 0;
    CHECK(syncrt_recon_json_next(&e, &en, "[]", 2, &pos) == SYNCRT_EEMPTY, "empty array");
}

static void test_empty(void)
{
    syncrt_recon *r = NULL;
    syncrt_error err;
    syncrt_recon_new(&r, &err);
    syncrt_decimal one = D("1");
    syncrt_recon_add_fo_line(r, "WEB-1", &one, &one, &err);
    syncrt_recon_add_invoice(r, "INV-1", "WEB-1", &one, NULL, &err);
    syncrt_recon_add_fo_payment(r, "1", "1", &one, &err);
    syncrt_recon_add_clarity_payment(r, "1", "2", &one, 0, &err);
    syncrt_status st = syncrt_recon_run(r, NULL, &err);
    size_t nr, nm;
    syncrt_recon_rows(r, &nr);
    syncrt_recon_mismatches(r, &nm);
    CHECK(st == SYNCRT_OK && nr == 0 && nm == 0, "no orders at all: no row, no mismatch (orphans ignored)");
    syncrt_recon_free(r);
}

/* Declined (not authorised) Clarity payments are not money received: listed apart, never in
 * the paid amount; a mismatch only when a journal line carries one.  An invoice with tax,
 * freight and a discount: its total against the payments, its merchandise against the lines. */
static void test_declined_and_invoice_parts(void)
{
    syncrt_recon *r = NULL;
    syncrt_error err;
    syncrt_recon_new(&r, &err);
    /* 20: paid 107.95 at checkout (100 of goods, 9.95 freight, 7 tax, 9 discount), one declined
     * attempt of 107.95 before it; journaled and invoiced: clean */
    add_order(r, "20", "C1", "2026-09-01", "100", "WEB-20", NULL);
    add_fo(r, "WEB-20", "C1", "2026-09-01", "4", "25");
    syncrt_decimal tot = D("107.95"), merch = D("100.00"), ok = D("107.95"), bad = D("107.95");
    syncrt_recon_add_invoice(r, "INV-20", "WEB-20", &tot, &merch, &err);
    syncrt_recon_add_clarity_payment(r, "20", "500", &bad, 0, &err);
    syncrt_recon_add_clarity_payment(r, "20", "501", &ok, 1, &err);
    syncrt_recon_add_fo_payment(r, "20", "501", &ok, &err);
    /* 21: only a declined payment, nothing journaled: listed, no mismatch */
    add_order(r, "21", "C1", "2026-09-01", "5", "WEB-21", NULL);
    add_fo(r, "WEB-21", "C1", "2026-09-01", "1", "5");
    syncrt_decimal five = D("5.35");
    syncrt_recon_add_clarity_payment(r, "21", "510", &five, 0, &err);
    /* 22: an authorised 10 not journaled, the declined 10 journaled instead: the sums agree,
     * the journal line names the declined payment */
    add_order(r, "22", "C2", "2026-09-01", "10", "WEB-22", NULL);
    add_fo(r, "WEB-22", "C2", "2026-09-01", "1", "10");
    syncrt_decimal ten = D("10.00");
    syncrt_recon_add_clarity_payment(r, "22", "520", &ten, 0, &err);
    syncrt_recon_add_clarity_payment(r, "22", "521", &ten, 1, &err);
    syncrt_recon_add_fo_payment(r, "22", "520.0", &ten, &err);
    /* 23: invoiced with tax, but the invoice's merchandise is not the lines' total */
    add_order(r, "23", "C2", "2026-09-01", "50", "WEB-23", NULL);
    add_fo(r, "WEB-23", "C2", "2026-09-01", "2", "25");
    syncrt_decimal t23 = D("53.50"), m23 = D("49.99");
    syncrt_recon_add_invoice(r, "INV-23", "WEB-23", &t23, &m23, &err);
    syncrt_status st = syncrt_recon_run(r, NULL, &err);
    CHECK(st == SYNCRT_OK, "run with declined payments");
    size_t nm, nd, nr;
    const syncrt_recon_declined *d = syncrt_recon_declined_payments(r, &nd);
    syncrt_recon_mismatches(r, &nm);
    CHECK_INT(nd, 3, "three declined payments listed");
    if (nd == 3) {
        CHECK(!strcmp(d[0].clarity_key, "20") && !strcmp(d[0].payment_id, "500") && !d[0].journaled &&
              !strcmp(fmt(&d[0].amount), "107.95") && !strcmp(d[0].fo_key, "WEB-20"),
              "order 20: declined payment 500 of 107.95, not journaled");
        CHECK(!strcmp(d[1].clarity_key, "21") && !d[1].journaled, "order 21: declined payment 510");
        CHECK(!strcmp(d[2].clarity_key, "22") && d[2].journaled, "order 22: declined payment 520 journaled");
    }
    CHECK(find(r, SYNCRT_RECON_PAYMENT_JOURNAL, "20", NULL) == NULL &&
          find(r, SYNCRT_RECON_PAYMENT_INVOICE, "20", NULL) == NULL &&
          find(r, SYNCRT_RECON_INVOICE_AMOUNT, "20", NULL) == NULL,
          "order 20: the declined attempt is not paid money; journal, invoice total and merchandise match");
    CHECK(find(r, SYNCRT_RECON_PAYMENT_JOURNAL, "21", NULL) == NULL, "order 21: a declined payment alone "
          "is no mismatch");
    const syncrt_recon_mismatch *m = find(r, SYNCRT_RECON_PAYMENT_JOURNAL, "22", "WEB-22");
    CHECK(m && m->detail && !strcmp(m->detail, "declined payment(s) 520 journaled") &&
          !strcmp(fmt(&m->expected), "10.00") && !strcmp(fmt(&m->actual), "10.00"),
          "order 22: payment_journal naming the journaled declined payment 520");
    m = find(r, SYNCRT_RECON_INVOICE_AMOUNT, "23", "WEB-23");
    CHECK(m && !strcmp(fmt(&m->expected), "50") && !strcmp(fmt(&m->actual), "49.99"),
          "order 23: invoice_amount compares the merchandise 49.99 (not the total 53.50) with the lines 50");
    CHECK_INT(nm, 2, "two mismatches (22, 23)");
    const syncrt_recon_row *w = syncrt_recon_rows(r, &nr);
    CHECK_INT(nr, 2, "rows C1, C2");
    if (nr == 2) {
        CHECK_INT(w[0].clarity_payments, 1, "C1: one authorised payment");
        CHECK_STR(fmt(&w[0].clarity_paid), "107.95", "C1: paid 107.95, the declined ones not counted");
        CHECK_INT(w[0].declined_payments, 2, "C1: two declined payments");
        CHECK_STR(fmt(&w[0].declined), "113.30", "C1: declined 107.95 + 5.35");
        CHECK_STR(fmt(&w[0].invoiced), "107.95", "C1: invoiced is the invoice total");
    }
    syncrt_recon_free(r);
}

int main(void)
{
    test_empty();
    test_all_match();
    test_every_kind();
    test_tolerance_and_errors();
    test_json();
    test_declined_and_invoice_parts();
    return test_done();
}
