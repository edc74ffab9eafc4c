/* cmd_reconcile.c - `sync reconcile`: reads Clarity orders (with their payments), the F&O
 * sales orders, lines, invoices and payment journal lines, and the store's idempotency map
 * and dead letters; hands them to the reconcile module (syncrt/reconcile.h), which compares
 * them exactly; prints one row per day and account, every mismatch, and a summary. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncrt/auth.h"
#include "syncrt/clarity.h"
#include "syncrt/isotime.h"
#include "syncrt/odata.h"
#include "syncrt/reconcile.h"
#include "syncrt/store.h"
#include "sync.h"

static const char help[] =
    "usage: sync reconcile [--from DATE] [--to DATE] [--format text|json] [--tolerance AMOUNT]\n"
    "                      [--prefix P] [--config FILE] [--profile P]\n"
    "Order to cash, per day (UTC, the Clarity order's CreatedDate) and customer account:\n"
    "Clarity orders (count, total = sum of quantity x unit sold price) vs the F&O sales orders\n"
    "made from them (the store's idempotency map; total = sum of quantity x sales price of\n"
    "their lines) vs F&O invoices (TotalInvoiceAmount; its merchandise part, total - tax -\n"
    "charges + discount, is compared with the lines) vs payments (the Clarity orders'\n"
    "authorised SalesOrderPayments and the F&O CustomerPaymentJournalLines of the\n"
    "WEBPAY-<id> journals) and the declined (not authorised) Clarity payments, which are not\n"
    "money received: each is listed on a declined_payment line.\n"
    "Then every mismatch on its own line: not_synced, dead_letter (with its reason),\n"
    "fo_missing, fo_only (an F&O sales order numbered P... (default WEB-) that no Clarity order\n"
    "became), order_amount, invoice_amount, payment_journal (also when a journal line carries\n"
    "a declined payment), payment_invoice (paid vs invoice total); then a summary.\n"
    "Amounts are compared exactly (decimals, never floating point) unless --tolerance allows\n"
    "a difference (e.g. 0.01).  DATE is YYYY-MM-DD, both ends included.\n"
    "Exit 0 when everything matches, 1 when there is a mismatch, 2 on usage, configuration or\n"
    "connection errors.\n";

#define FLOW "OrderToCash"
/* The engine keys a record by "<the flow's webhook event>:<source ID>" (engine.c, poll_row
 * and the webhook intake), OrderToCash's event being SalesOrder.Created (order_to_cash.map). */
#define SOURCE_KEY_PREFIX "SalesOrder.Created:"

typedef struct {
    syncrt_recon *r;
    syncrt_store *store;
    syncrt_dead_letter *dl;
    size_t ndl;
    const char *from, *to, *prefix;
    char **linked;              /* F&O numbers claimed by orders in the window */
    size_t nlinked, clinked;
    syncrt_status st;
    syncrt_error *err;
    size_t rows;
} rctx;

static int in_window(const rctx *c, const char *day)
{
    return (!c->from || strcmp(day, c->from) >= 0) && (!c->to || strcmp(day, c->to) <= 0);
}

static int fail(rctx *c, syncrt_status st)
{
    c->st = st;
    return 1;
}

static syncrt_status day_of(char *out, const char *iso)
{
    int64_t ms;
    char t[SYNCRT_ISO_LENGTH];
    if (!iso || syncrt_iso_parse(&ms, iso) != SYNCRT_OK)
        return SYNCRT_EPARSE;
    syncrt_iso_format(t, ms);
    memcpy(out, t, 10);
    out[10] = 0;
    return SYNCRT_OK;
}

static const char *dead_reason(const rctx *c, const char *key)
{
    for (size_t i = 0; i < c->ndl; i++)
        if (c->dl[i].source_key && !strcmp(c->dl[i].source_key, key))
            return c->dl[i].reason;
    return NULL;
}

/* One Clarity order: its total from its items, its payments, what the store says. */
static int clarity_row(void *ctx, const char *text, size_t len)
{
    rctx *c = ctx;
    char *id = syncrt_recon_json_string(text, len, "ID");
    char *account = syncrt_recon_json_string(text, len, "AccountKey");
    char *created = syncrt_recon_json_string(text, len, "CreatedDate");
    char day[11], *target = NULL;
    syncrt_decimal total = syncrt_decimal_from_int(0);
    const char *v;
    size_t vn, pos = 0;
    int stop = 0;
    c->rows++;
    if (!id || day_of(day, created) != SYNCRT_OK) {
        syncrt_error_set(c->err, SYNCRT_EPARSE, "Clarity order without ID or CreatedDate: %.120s", text);
        stop = fail(c, SYNCRT_EPARSE);
        goto out;
    }
    if (!in_window(c, day))
        goto out;
    if (syncrt_recon_json_member(&v, &vn, text, len, "SalesItems") == SYNCRT_OK && vn != 4) {
        const char *e;
        size_t en;
        syncrt_status s;
        while ((s = syncrt_recon_json_next(&e, &en, v, vn, &pos)) == SYNCRT_OK) {
            syncrt_decimal q = syncrt_decimal_from_int(1), p = syncrt_decimal_from_int(0), a;
            syncrt_status qs = syncrt_recon_json_decimal(&q, e, en, "Quantity");
            syncrt_status ps = syncrt_recon_json_decimal(&p, e, en, "UnitSoldPrice");
            if ((qs != SYNCRT_OK && qs != SYNCRT_ENOTFOUND) || (ps != SYNCRT_OK && ps != SYNCRT_ENOTFOUND) ||
                syncrt_decimal_mul(&a, &q, &p) != SYNCRT_OK ||
                syncrt_decimal_add(&total, &total, &a) != SYNCRT_OK) {
                syncrt_error_set(c->err, SYNCRT_EPARSE, "Clarity order %s: an item's Quantity or "
                                 "UnitSoldPrice is not a number", id);
                stop = fail(c, SYNCRT_EPARSE);
                goto out;
            }
        }
    }
    char key[160];
    snprintf(key, sizeof key, "%s%s", SOURCE_KEY_PREFIX, id);
    if (syncrt_store_target_key(c->store, &target, FLOW, key, c->err) != SYNCRT_OK) {
        stop = fail(c, SYNCRT_ESTORE);
        goto out;
    }
    syncrt_status st = syncrt_recon_add_clarity_order(c->r, id, account ? account : "(none)", day, &total,
                                                      target, target ? NULL : dead_reason(c, key), c->err);
    if (st != SYNCRT_OK) {
        stop = fail(c, st);
        goto out;
    }
    if (target) {
        char **p = c->linked;
        if (c->nlinked == c->clinked) {
            size_t n = c->clinked ? c->clinked * 2 : 64;
            p = realloc(c->linked, n * sizeof *p);
            if (!p) {
                stop = fail(c, syncrt_error_set(c->err, SYNCRT_ENOMEM, "out of memory"));
                goto out;
            }
            c->linked = p;
            c->clinked = n;
        }
        c->linked[c->nlinked++] = target;
        target = NULL;
    }
    pos = 0;
    if (syncrt_recon_json_member(&v, &vn, text, len, "SalesOrderPayments") == SYNCRT_OK && vn != 4) {
        const char *e, *sl;
        size_t en, sn;
        while (syncrt_recon_json_next(&e, &en, v, vn, &pos) == SYNCRT_OK) {
            syncrt_decimal a;
            const char *au;
            size_t aun;
            if (syncrt_recon_json_member(&sl, &sn, e, en, "Slave") != SYNCRT_OK ||
                syncrt_recon_json_decimal(&a, sl, sn, "Amount") != SYNCRT_OK)
                continue;
            /* as PaymentJournalLine's check (payments.map): Authorized absent is not authorised */
            int authorized = syncrt_recon_json_member(&au, &aun, sl, sn, "Authorized") == SYNCRT_OK &&
                             ((aun == 4 && !memcmp(au, "true", 4)) || (aun == 1 && au[0] == '1'));
            char *pid = syncrt_recon_json_string(e, en, "SlaveID");
            st = syncrt_recon_add_clarity_payment(c->r, id, pid, &a, authorized, c->err);
            free(pid);
            if (st != SYNCRT_OK) {
                stop = fail(c, st);
                goto out;
            }
        }
    }
out:
    free(target);
    free(id);
    free(account);
    free(created);
    return stop;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* c->linked is sorted once the Clarity pass is over. */
static int is_linked(const rctx *c, const char *number)
{
    return c->nlinked && bsearch(&number, c->linked, c->nlinked, sizeof *c->linked, str_cmp);
}

static int fo_header(void *ctx, const char *text, size_t len)
{
    rctx *c = ctx;
    char *num = syncrt_recon_json_string(text, len, "SalesOrderNumber");
    char *acc = syncrt_recon_json_string(text, len, "OrderingCustomerAccountNumber");
    char *created = syncrt_recon_json_string(text, len, "OrderCreationDateTime");
    char day[11] = "1970-01-01";
    int stop = 0;
    if (num && !strncmp(num, c->prefix, strlen(c->prefix))) {
        int known = day_of(day, created) == SYNCRT_OK;
        if (is_linked(c, num) || (known && in_window(c, day)) || (!known && !c->from && !c->to)) {
            syncrt_status st = syncrt_recon_add_fo_order(c->r, num, acc ? acc : "(none)", day, c->err);
            if (st != SYNCRT_OK)
                stop = fail(c, st);
        }
    }
    free(num);
    free(acc);
    free(created);
    return stop;
}

static int fo_line(void *ctx, const char *text, size_t len)
{
    rctx *c = ctx;
    char *num = syncrt_recon_json_string(text, len, "SalesOrderNumber");
    syncrt_decimal q, p;
    int stop = 0;
    if (num && !strncmp(num, c->prefix, strlen(c->prefix))) {
        if (syncrt_recon_json_decimal(&q, text, len, "OrderedSalesQuantity") != SYNCRT_OK ||
            syncrt_recon_json_decimal(&p, text, len, "SalesPrice") != SYNCRT_OK) {
            syncrt_error_set(c->err, SYNCRT_EPARSE, "sales order line of %s without quantity or price", num);
            stop = fail(c, SYNCRT_EPARSE);
        } else {
            syncrt_status st = syncrt_recon_add_fo_line(c->r, num, &q, &p, c->err);
            if (st != SYNCRT_OK)
                stop = fail(c, st);
        }
    }
    free(num);
    return stop;
}

static int fo_invoice(void *ctx, const char *text, size_t len)
{
    rctx *c = ctx;
    char *num = syncrt_recon_json_string(text, len, "SalesOrderNumber");
    char *inv = syncrt_recon_json_string(text, len, "InvoiceNumber");
    syncrt_decimal a, part[3], m;
    static const char *const parts[3] = { "TotalTaxAmount", "TotalChargeAmount", "TotalDiscountAmount" };
    int stop = 0;
    if (num && !strncmp(num, c->prefix, strlen(c->prefix))) {
        if (syncrt_recon_json_decimal(&a, text, len, "TotalInvoiceAmount") != SYNCRT_OK) {
            syncrt_error_set(c->err, SYNCRT_EPARSE, "invoice %s of %s: TotalInvoiceAmount is missing or not "
                             "a number", inv ? inv : "?", num);
            stop = fail(c, SYNCRT_EPARSE);
            goto out;
        }
        for (int i = 0; i < 3; i++) {
            syncrt_status ps = syncrt_recon_json_decimal(&part[i], text, len, parts[i]);
            if (ps == SYNCRT_ENOTFOUND)
                part[i] = syncrt_decimal_from_int(0);
            else if (ps != SYNCRT_OK) {
                syncrt_error_set(c->err, SYNCRT_EPARSE, "invoice %s of %s: %s is not a number", inv ? inv : "?",
                                 num, parts[i]);
                stop = fail(c, SYNCRT_EPARSE);
                goto out;
            }
        }
        /* the merchandise: total - tax - charges + discount (invoices.map's SubTotal) */
        syncrt_status st = syncrt_decimal_sub(&m, &a, &part[0]);
        if (st == SYNCRT_OK)
            st = syncrt_decimal_sub(&m, &m, &part[1]);
        if (st == SYNCRT_OK)
            st = syncrt_decimal_add(&m, &m, &part[2]);
        if (st != SYNCRT_OK)
            st = syncrt_error_set(c->err, SYNCRT_ERANGE, "invoice %s of %s: amounts out of range",
                                  inv ? inv : "?", num);
        else
            st = syncrt_recon_add_invoice(c->r, inv, num, &a, &m, c->err);
        if (st != SYNCRT_OK)
            stop = fail(c, st);
    }
out:
    free(num);
    free(inv);
    return stop;
}

/* A payment journal line of a WEBPAY-<order id> journal: credit minus debit. */
static int fo_payment(void *ctx, const char *text, size_t len)
{
    rctx *c = ctx;
    char *jb = syncrt_recon_json_string(text, len, "JournalBatchNumber");
    syncrt_decimal cr = syncrt_decimal_from_int(0), db = syncrt_decimal_from_int(0), a;
    int stop = 0;
    if (jb && !strncmp(jb, "WEBPAY-", 7) && jb[7]) {
        char *line = syncrt_recon_json_string(text, len, "LineNumber");
        syncrt_recon_json_decimal(&cr, text, len, "CreditAmount");
        syncrt_recon_json_decimal(&db, text, len, "DebitAmount");
        syncrt_status st = syncrt_decimal_sub(&a, &cr, &db);
        if (st == SYNCRT_OK)
            st = syncrt_recon_add_fo_payment(c->r, jb + 7, line, &a, c->err);
        if (st != SYNCRT_OK)
            stop = fail(c, st);
        free(line);
    }
    free(jb);
    return stop;
}

static syncrt_status fo_read(rctx *c, const syncrt_odata_pager *pg, const char *root, const char *set,
                             const char *select, syncrt_odata_row_text_fn fn)
{
    syncrt_odata_query q = { 0 };
    q.select = select;
    char *url = NULL;
    syncrt_odata_page_stats ps;
    memset(&ps, 0, sizeof ps);
    syncrt_status st = syncrt_odata_url(&url, root, set, &q, c->err);
    if (st == SYNCRT_OK)
        st = syncrt_odata_stream_text(&ps, pg, url, fn, c, c->err);
    if (st == SYNCRT_OK && c->st != SYNCRT_OK)
        st = c->st;
    if (st != SYNCRT_OK && ps.last_status >= 400 && ps.error.message[0])
        syncrt_error_set(c->err, st, "%s: HTTP %ld: %s", set, ps.last_status,
                         syncrt_odata_error_text(&ps.error));
    syncrt_odata_page_stats_clear(&ps);
    free(url);
    return st;
}

static syncrt_status make_auth(syncrt_auth **out, syncrt_http *http, const syncrt_config *cfg, int d365,
                               syncrt_error *err)
{
    syncrt_auth_config ac = { 0 };
    char *secret = NULL, login[1024];
    syncrt_status st = SYNCRT_OK;
    if (d365 && cfg->d365_token_url) {
        st = syncrt_config_secret(&secret, cfg->d365_secret, err);
        ac.kind = SYNCRT_AUTH_OAUTH2;
        ac.token_url = cfg->d365_token_url;
        ac.client_id = cfg->d365_client_id;
        ac.client_secret = secret;
        ac.scope = cfg->d365_scope;
        ac.resource = cfg->d365_resource;
    } else if (!d365 && (!strcmp(cfg->clarity_auth, "session") || !strcmp(cfg->clarity_auth, "basic"))) {
        st = syncrt_config_secret(&secret, cfg->clarity_password, err);
        ac.kind = cfg->clarity_auth[0] == 's' ? SYNCRT_AUTH_SESSION : SYNCRT_AUTH_BASIC;
        snprintf(login, sizeof login, "%s/auth/identity", cfg->clarity_root);
        ac.login_url = login;
        ac.username = cfg->clarity_user;
        ac.password = secret;
    } else if (!d365 && !strcmp(cfg->clarity_auth, "api_key")) {
        st = syncrt_config_secret(&secret, cfg->clarity_api_key, err);
        ac.kind = SYNCRT_AUTH_API_KEY;
        ac.api_key_header = "X-Clarity-Api-Key";
        ac.api_key = secret;
    }
    if (st == SYNCRT_OK)
        st = syncrt_auth_new(out, http, &ac, err);
    if (secret) {
        memset(secret, 0, strlen(secret));
        free(secret);
    }
    return st;
}

static const char *dec(char *buf, const syncrt_decimal *d)
{
    syncrt_decimal_format(d, buf, SYNCRT_DECIMAL_TEXT);
    return buf;
}

static void print_text(const syncrt_recon *r, const rctx *c, const char *tol)
{
    size_t nr, nm, nd;
    const syncrt_recon_row *rows = syncrt_recon_rows(r, &nr);
    const syncrt_recon_mismatch *mm = syncrt_recon_mismatches(r, &nm);
    const syncrt_recon_declined *dp = syncrt_recon_declined_payments(r, &nd);
    char a[SYNCRT_DECIMAL_TEXT], b[SYNCRT_DECIMAL_TEXT], d[SYNCRT_DECIMAL_TEXT], e[SYNCRT_DECIMAL_TEXT],
        f[SYNCRT_DECIMAL_TEXT], g[SYNCRT_DECIMAL_TEXT];
    size_t tot[5] = { 0 };
    printf("reconcile: from %s to %s, tolerance %s\n", c->from ? c->from : "(first)",
           c->to ? c->to : "(last)", tol);
    printf("day\taccount\tclarity_orders\tclarity_total\tfo_orders\tfo_total\tinvoices\tinvoiced\t"
           "clarity_payments\tclarity_paid\tfo_payments\tfo_paid\tdeclined_payments\tdeclined\n");
    for (size_t i = 0; i < nr; i++) {
        const syncrt_recon_row *w = &rows[i];
        printf("%s\t%s\t%zu\t%s\t%zu\t%s\t%zu\t%s\t%zu\t%s\t%zu\t%s\t%zu\t%s\n", w->day, w->account,
               w->clarity_orders, dec(a, &w->clarity_total), w->fo_orders, dec(b, &w->fo_total),
               w->invoices, dec(d, &w->invoiced), w->clarity_payments, dec(e, &w->clarity_paid),
               w->fo_payments, dec(f, &w->fo_paid), w->declined_payments, dec(g, &w->declined));
        tot[0] += w->clarity_orders;
        tot[1] += w->fo_orders;
        tot[2] += w->invoices;
        tot[3] += w->clarity_payments;
        tot[4] += w->fo_payments;
    }
    for (size_t i = 0; i < nd; i++)
        printf("declined_payment day=%s account=%s clarity_order=%s fo_order=%s payment=%s amount=%s%s\n",
               dp[i].day, dp[i].account, dp[i].clarity_key, dp[i].fo_key ? dp[i].fo_key : "-",
               dp[i].payment_id ? dp[i].payment_id : "-", dec(a, &dp[i].amount),
               dp[i].journaled ? " journaled" : "");
    for (size_t i = 0; i < nm; i++) {
        const syncrt_recon_mismatch *m = &mm[i];
        printf("mismatch %s day=%s account=%s clarity_order=%s fo_order=%s", syncrt_recon_kind_name(m->kind),
               m->day, m->account, m->clarity_key ? m->clarity_key : "-", m->fo_key ? m->fo_key : "-");
        if (m->has_amounts)
            printf(" expected=%s actual=%s", dec(a, &m->expected), dec(b, &m->actual));
        if (m->detail)
            printf(" detail=\"%s\"", m->detail);
        printf("\n");
    }
    printf("summary: %s days_accounts=%zu clarity_orders=%zu fo_orders=%zu invoices=%zu "
           "clarity_payments=%zu fo_payments=%zu declined_payments=%zu mismatches=%zu\n",
           nm ? "MISMATCH" : "OK", nr, tot[0], tot[1], tot[2], tot[3], tot[4], nd, nm);
}

static int print_json(const syncrt_recon *r, const rctx *c, const char *tol)
{
    size_t nr, nm, nd;
    const syncrt_recon_row *rows = syncrt_recon_rows(r, &nr);
    const syncrt_recon_mismatch *mm = syncrt_recon_mismatches(r, &nm);
    const syncrt_recon_declined *dp = syncrt_recon_declined_payments(r, &nd);
    char a[SYNCRT_DECIMAL_TEXT];
    json_t *out = json_object(), *jr = json_array(), *jm = json_array(), *jd = json_array();
    if (!out || !jr || !jm || !jd) {
        json_decref(out);
        json_decref(jr);
        json_decref(jm);
        json_decref(jd);
        return -1;
    }
    json_object_set_new(out, "from", c->from ? json_string(c->from) : json_null());
    json_object_set_new(out, "to", c->to ? json_string(c->to) : json_null());
    json_object_set_new(out, "tolerance", json_string(tol));
    for (size_t i = 0; i < nr; i++) {
        const syncrt_recon_row *w = &rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "day", json_string(w->day));
        json_object_set_new(o, "account", json_string(w->account));
        json_object_set_new(o, "clarity_orders", json_integer((json_int_t)w->clarity_orders));
        json_object_set_new(o, "clarity_total", json_string(dec(a, &w->clarity_total)));
        json_object_set_new(o, "fo_orders", json_integer((json_int_t)w->fo_orders));
        json_object_set_new(o, "fo_total", json_string(dec(a, &w->fo_total)));
        json_object_set_new(o, "invoices", json_integer((json_int_t)w->invoices));
        json_object_set_new(o, "invoiced", json_string(dec(a, &w->invoiced)));
        json_object_set_new(o, "clarity_payments", json_integer((json_int_t)w->clarity_payments));
        json_object_set_new(o, "clarity_paid", json_string(dec(a, &w->clarity_paid)));
        json_object_set_new(o, "fo_payments", json_integer((json_int_t)w->fo_payments));
        json_object_set_new(o, "fo_paid", json_string(dec(a, &w->fo_paid)));
        json_object_set_new(o, "declined_payments", json_integer((json_int_t)w->declined_payments));
        json_object_set_new(o, "declined", json_string(dec(a, &w->declined)));
        json_array_append_new(jr, o);
    }
    for (size_t i = 0; i < nm; i++) {
        const syncrt_recon_mismatch *m = &mm[i];
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(syncrt_recon_kind_name(m->kind)));
        json_object_set_new(o, "day", json_string(m->day));
        json_object_set_new(o, "account", json_string(m->account));
        json_object_set_new(o, "clarity_order", m->clarity_key ? json_string(m->clarity_key) : json_null());
        json_object_set_new(o, "fo_order", m->fo_key ? json_string(m->fo_key) : json_null());
        if (m->has_amounts) {
            json_object_set_new(o, "expected", json_string(dec(a, &m->expected)));
            json_object_set_new(o, "actual", json_string(dec(a, &m->actual)));
        }
        if (m->detail)
            json_object_set_new(o, "detail", json_string(m->detail));
        json_array_append_new(jm, o);
    }
    for (size_t i = 0; i < nd; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "day", json_string(dp[i].day));
        json_object_set_new(o, "account", json_string(dp[i].account));
        json_object_set_new(o, "clarity_order", json_string(dp[i].clarity_key));
        json_object_set_new(o, "fo_order", dp[i].fo_key ? json_string(dp[i].fo_key) : json_null());
        json_object_set_new(o, "payment", dp[i].payment_id ? json_string(dp[i].payment_id) : json_null());
        json_object_set_new(o, "amount", json_string(dec(a, &dp[i].amount)));
        json_object_set_new(o, "journaled", json_boolean(dp[i].journaled));
        json_array_append_new(jd, o);
    }
    json_object_set_new(out, "rows", jr);
    json_object_set_new(out, "declined_payments", jd);
    json_object_set_new(out, "mismatches", jm);
    json_object_set_new(out, "ok", json_boolean(nm == 0));
    int rc = json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(out);
    return rc;
}

static int valid_date(const char *s)
{
    int64_t ms;
    return strlen(s) == 10 && syncrt_iso_parse(&ms, s) == SYNCRT_OK;
}

int sync_cmd_reconcile(int argc, char **argv)
{
    if (sync_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    syncrt_config *cfg = sync_config_from_args(&argc, argv);
    if (!cfg)
        return 2;
    rctx c;
    memset(&c, 0, sizeof c);
    c.prefix = "WEB-";
    const char *format = "text", *tol_text = "0";
    syncrt_decimal tol = syncrt_decimal_from_int(0);
    int usage = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage = 1;
            break;
        }
        i++;
        if (!strcmp(o, "--from") && valid_date(v))
            c.from = v;
        else if (!strcmp(o, "--to") && valid_date(v))
            c.to = v;
        else if (!strcmp(o, "--format") && (!strcmp(v, "text") || !strcmp(v, "json")))
            format = v;
        else if (!strcmp(o, "--tolerance") && syncrt_decimal_parse(&tol, v, strlen(v)) == SYNCRT_OK &&
                 !tol.neg)
            tol_text = v;
        else if (!strcmp(o, "--prefix"))
            c.prefix = v;
        else {
            usage = 1;
            break;
        }
    }
    if (usage) {
        fputs(help, stderr);
        syncrt_config_free(cfg);
        return 2;
    }
    if (!cfg->d365_url || !cfg->clarity_root) {
        fprintf(stderr, "sync reconcile: d365.url and clarity.root must be configured\n");
        syncrt_config_free(cfg);
        return 2;
    }
    if (sync_check_secrets(cfg) < 0) {
        syncrt_config_free(cfg);
        return 2;
    }
    syncrt_error err;
    syncrt_error_clear(&err);
    c.err = &err;
    syncrt_http *http = NULL;
    syncrt_auth *d365 = NULL, *clar = NULL;
    char root[1024];
    int rc = 2;
    snprintf(root, sizeof root, "%s/data", cfg->d365_url);
    syncrt_http_options ho = { 0 };
    ho.connect_timeout_ms = cfg->connect_timeout_ms;
    ho.total_timeout_ms = cfg->total_timeout_ms;
    ho.ca_file = cfg->ca_file;
    const char *stage = "store";
    if (access(cfg->store, R_OK) != 0) {
        /* opening would create an empty store, and every order would look unsynced */
        snprintf(err.message, sizeof err.message, "%s: %s", cfg->store, strerror(errno));
        goto out;
    }
    if (syncrt_store_open(&c.store, cfg->store, NULL, &err) != SYNCRT_OK ||
        syncrt_store_dlq_list(c.store, &c.dl, &c.ndl, FLOW, 0, &err) != SYNCRT_OK)
        goto out;
    stage = "setup";
    if (syncrt_recon_new(&c.r, &err) != SYNCRT_OK || syncrt_http_new(&http, &ho, &err) != SYNCRT_OK ||
        make_auth(&d365, http, cfg, 1, &err) != SYNCRT_OK || make_auth(&clar, http, cfg, 0, &err) != SYNCRT_OK)
        goto out;

    stage = "Clarity";
    syncrt_clarity cl = { 0 };
    cl.http = http;
    cl.auth = clar;
    cl.root = cfg->clarity_root;
    cl.policy.max_attempts = 3;
    cl.policy.base_ms = 500;
    cl.policy.cap_ms = 5000;
    syncrt_clarity_search_opts so = { 0 };
    so.page_size = cfg->clarity_page_size;
    so.no_cache = 1;
    char since[32];
    if (c.from) {
        snprintf(since, sizeof since, "%sT00:00:00Z", c.from);
        so.modified_since = since;
    }
    syncrt_clarity_search_stats ss;
    memset(&ss, 0, sizeof ss);
    syncrt_status st = syncrt_clarity_search_text(&ss, &cl, "Ordering/SalesOrders", &so, clarity_row, &c, &err);
    if (st == SYNCRT_OK && c.st != SYNCRT_OK)
        st = c.st;
    if (st != SYNCRT_OK) {
        if (ss.last_status >= 400 && ss.error.message[0])
            syncrt_error_set(&err, st, "Ordering/SalesOrders: HTTP %ld: %s", ss.last_status, ss.error.message);
        goto out;
    }
    if (c.nlinked)
        qsort(c.linked, c.nlinked, sizeof *c.linked, str_cmp);
    stage = "F&O";
    syncrt_odata_pager pg = { 0 };
    pg.http = http;
    pg.auth = d365;
    pg.max_page_size = 5000;
    pg.policy.max_attempts = 3;
    pg.policy.base_ms = 500;
    pg.policy.cap_ms = 5000;
    if (fo_read(&c, &pg, root, "SalesOrderHeadersV2",
                "SalesOrderNumber,OrderingCustomerAccountNumber,OrderCreationDateTime", fo_header) != SYNCRT_OK ||
        fo_read(&c, &pg, root, "SalesOrderLines", "SalesOrderNumber,OrderedSalesQuantity,SalesPrice",
                fo_line) != SYNCRT_OK ||
        fo_read(&c, &pg, root, "SalesInvoiceHeadersV2",
                "InvoiceNumber,SalesOrderNumber,TotalInvoiceAmount,TotalTaxAmount,TotalChargeAmount,"
                "TotalDiscountAmount",
                fo_invoice) != SYNCRT_OK ||
        fo_read(&c, &pg, root, "CustomerPaymentJournalLines",
                "JournalBatchNumber,LineNumber,CreditAmount,DebitAmount",
                fo_payment) != SYNCRT_OK)
        goto out;
    stage = "compare";
    if (syncrt_recon_run(c.r, &tol, &err) != SYNCRT_OK)
        goto out;
    size_t nm;
    syncrt_recon_mismatches(c.r, &nm);
    if (!strcmp(format, "json")) {
        if (print_json(c.r, &c, tol_text) < 0) {
            snprintf(err.message, sizeof err.message, "cannot write the JSON report");
            goto out;
        }
    } else {
        print_text(c.r, &c, tol_text);
    }
    fflush(stdout);
    rc = nm ? 1 : 0;
    sync_logf(SYNCRT_LOG_INFO, "reconcile_done", "clarity_rows=%zu mismatches=%zu", c.rows, nm);
out:
    if (rc == 2)
        fprintf(stderr, "sync reconcile: %s: %s\n", stage, err.message[0] ? err.message : "failed");
    for (size_t i = 0; i < c.nlinked; i++)
        free(c.linked[i]);
    free(c.linked);
    syncrt_recon_free(c.r);
    syncrt_store_dead_letters_free(c.dl, c.ndl);
    syncrt_store_close(c.store);
    syncrt_auth_free(d365);
    syncrt_auth_free(clar);
    syncrt_http_free(http);
    syncrt_config_free(cfg);
    return rc;
}
