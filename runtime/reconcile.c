/* reconcile.c - order-to-cash reconciliation (reconcile.h): links Clarity orders, F&O sales
 * orders with their lines, invoices and payments, groups them per day and account and lists
 * every mismatch.  Lookups go through sorted arrays (qsort + bsearch) built in run(). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncrt/isotime.h"
#include "syncrt/reconcile.h"

typedef struct {
    char *id, *account, *fo_number, *dead_reason;
    char day[11];
    syncrt_decimal total;
    size_t cpay_n, fpay_n, decl_n;
    syncrt_decimal cpay, fpay, decl;
} corder;

typedef struct {
    char *number, *account;
    char day[11];
    syncrt_decimal total, invoiced, merch;   /* lines; invoice totals; their merchandise */
    size_t invoices;
    char *inv_keys;             /* "INV-1,INV-2" */
    int linked;
} forder;

typedef struct {
    char *key;                  /* order number / order id */
    char *extra;                /* invoice number / payment id / journal line number */
    int fo;                     /* payments: an F&O journal line */
    int declined;               /* payments: a Clarity payment not authorised */
    syncrt_decimal amount;
    syncrt_decimal amount2;     /* invoices: the merchandise part */
} item;

struct syncrt_recon {
    corder *co;
    size_t nco, cco;
    forder *fo;
    size_t nfo, cfo;
    item *lines, *invs, *pays;
    size_t nlines, clines, ninvs, cinvs, npays, cpays;
    syncrt_recon_row *rows;
    size_t nrows, crows;
    syncrt_recon_mismatch *mm;
    size_t nmm, cmm;
    syncrt_recon_declined *decl;
    size_t ndecl, cdecl;
    item **jlines;              /* F&O journal lines with a line number, by (order, line) */
    size_t njlines;
    int ran;
};

const char *syncrt_recon_kind_name(syncrt_recon_kind k)
{
    switch (k) {
    case SYNCRT_RECON_NOT_SYNCED: return "not_synced";
    case SYNCRT_RECON_DEAD_LETTER: return "dead_letter";
    case SYNCRT_RECON_FO_MISSING: return "fo_missing";
    case SYNCRT_RECON_FO_ONLY: return "fo_only";
    case SYNCRT_RECON_ORDER_AMOUNT: return "order_amount";
    case SYNCRT_RECON_INVOICE_AMOUNT: return "invoice_amount";
    case SYNCRT_RECON_PAYMENT_JOURNAL: return "payment_journal";
    case SYNCRT_RECON_PAYMENT_INVOICE: return "payment_invoice";
    case SYNCRT_RECON_KIND_LAST: break;
    }
    return "unknown";
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(p, c * size);
    if (q)
        *cap = c;
    return q;
}

static char *dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static syncrt_status oom(syncrt_error *err)
{
    return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
}

static syncrt_status set_day(char *out, const char *day, syncrt_error *err)
{
    int64_t ms;
    char iso[SYNCRT_ISO_LENGTH];
    if (!day || syncrt_iso_parse(&ms, day) != SYNCRT_OK)
        return syncrt_error_set(err, SYNCRT_EINVAL, "not a date: '%s'", day ? day : "(null)");
    syncrt_iso_format(iso, ms);
    memcpy(out, iso, 10);
    out[10] = 0;
    return SYNCRT_OK;
}

syncrt_status syncrt_recon_new(syncrt_recon **out, syncrt_error *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? SYNCRT_OK : oom(err);
}

static void free_items(item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(it[i].key);
        free(it[i].extra);
    }
    free(it);
}

void syncrt_recon_free(syncrt_recon *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nco; i++) {
        free(r->co[i].id);
        free(r->co[i].account);
        free(r->co[i].fo_number);
        free(r->co[i].dead_reason);
    }
    free(r->co);
    for (size_t i = 0; i < r->nfo; i++) {
        free(r->fo[i].number);
        free(r->fo[i].account);
        free(r->fo[i].inv_keys);
    }
    free(r->fo);
    free_items(r->lines, r->nlines);
    free_items(r->invs, r->ninvs);
    free_items(r->pays, r->npays);
    for (size_t i = 0; i < r->nrows; i++)
        free(r->rows[i].account);
    free(r->rows);
    for (size_t i = 0; i < r->nmm; i++) {
        free(r->mm[i].account);
        free(r->mm[i].clarity_key);
        free(r->mm[i].fo_key);
        free(r->mm[i].detail);
    }
    free(r->mm);
    for (size_t i = 0; i < r->ndecl; i++) {
        free(r->decl[i].account);
        free(r->decl[i].clarity_key);
        free(r->decl[i].fo_key);
        free(r->decl[i].payment_id);
    }
    free(r->decl);
    free(r->jlines);
    free(r);
}

syncrt_status syncrt_recon_add_clarity_order(syncrt_recon *r, const char *id, const char *account,
                                             const char *day, const syncrt_decimal *total,
                                             const char *fo_number, const char *dead_reason,
                                             syncrt_error *err)
{
    if (!id || !account || !total)
        return syncrt_error_set(err, SYNCRT_EINVAL, "a Clarity order needs an id, account and total");
    corder *p = grow(r->co, &r->cco, r->nco, sizeof *p);
    if (!p)
        return oom(err);
    r->co = p;
    corder *o = &p[r->nco];
    memset(o, 0, sizeof *o);
    syncrt_status st = set_day(o->day, day, err);
    if (st != SYNCRT_OK)
        return st;
    o->total = *total;
    o->cpay = o->fpay = o->decl = syncrt_decimal_from_int(0);
    o->id = dup(id);
    o->account = dup(account);
    o->fo_number = dup(fo_number);
    o->dead_reason = dup(dead_reason);
    r->nco++;
    if (!o->id || !o->account || (fo_number && !o->fo_number) || (dead_reason && !o->dead_reason))
        return oom(err);
    return SYNCRT_OK;
}

syncrt_status syncrt_recon_add_fo_order(syncrt_recon *r, const char *number, const char *account,
                                        const char *day, syncrt_error *err)
{
    if (!number || !account)
        return syncrt_error_set(err, SYNCRT_EINVAL, "an F&O order needs a number and account");
    forder *p = grow(r->fo, &r->cfo, r->nfo, sizeof *p);
    if (!p)
        return oom(err);
    r->fo = p;
    forder *o = &p[r->nfo];
    memset(o, 0, sizeof *o);
    syncrt_status st = set_day(o->day, day, err);
    if (st != SYNCRT_OK)
        return st;
    o->total = o->invoiced = o->merch = syncrt_decimal_from_int(0);
    o->number = dup(number);
    o->account = dup(account);
    r->nfo++;
    if (!o->number || !o->account)
        return oom(err);
    return SYNCRT_OK;
}

static syncrt_status add_item(item **arr, size_t *n, size_t *cap, const char *key, const char *extra,
                              int fo, const syncrt_decimal *amount, syncrt_error *err)
{
    if (!key || !amount)
        return syncrt_error_set(err, SYNCRT_EINVAL, "a record without its key or amount");
    item *p = grow(*arr, cap, *n, sizeof *p);
    if (!p)
        return oom(err);
    *arr = p;
    item *it = &p[(*n)++];
    it->key = dup(key);
    it->extra = dup(extra);
    it->fo = fo;
    it->declined = 0;
    it->amount = *amount;
    it->amount2 = *amount;
    if (!it->key || (extra && !it->extra))
        return oom(err);
    return SYNCRT_OK;
}

syncrt_status syncrt_recon_add_fo_line(syncrt_recon *r, const char *number,
                                       const syncrt_decimal *quantity, const syncrt_decimal *price,
                                       syncrt_error *err)
{
    syncrt_decimal a;
    if (!quantity || !price)
        return syncrt_error_set(err, SYNCRT_EINVAL, "a line without quantity or price");
    if (syncrt_decimal_mul(&a, quantity, price) != SYNCRT_OK)
        return syncrt_error_set(err, SYNCRT_ERANGE, "line amount of %s out of range", number);
    return add_item(&r->lines, &r->nlines, &r->clines, number, NULL, 0, &a, err);
}

syncrt_status syncrt_recon_add_invoice(syncrt_recon *r, const char *invoice, const char *order_number,
                                       const syncrt_decimal *total, const syncrt_decimal *merchandise,
                                       syncrt_error *err)
{
    syncrt_status st = add_item(&r->invs, &r->ninvs, &r->cinvs, order_number, invoice, 0, total, err);
    if (st == SYNCRT_OK && merchandise)
        r->invs[r->ninvs - 1].amount2 = *merchandise;
    return st;
}

/* A numeric id as its digits: 17.0 (an F&O Edm.Decimal line number) is 17. */
static void id_digits(char *s)
{
    if (!s || !strchr(s, '.') || strspn(s, "0123456789.") != strlen(s))
        return;
    size_t n = strlen(s);
    while (n && s[n - 1] == '0')
        s[--n] = 0;
    if (n && s[n - 1] == '.')
        s[--n] = 0;
}

syncrt_status syncrt_recon_add_clarity_payment(syncrt_recon *r, const char *order_id,
                                               const char *payment_id, const syncrt_decimal *amount,
                                               int authorized, syncrt_error *err)
{
    syncrt_status st = add_item(&r->pays, &r->npays, &r->cpays, order_id, payment_id, 0, amount, err);
    if (st == SYNCRT_OK) {
        r->pays[r->npays - 1].declined = !authorized;
        id_digits(r->pays[r->npays - 1].extra);
    }
    return st;
}

syncrt_status syncrt_recon_add_fo_payment(syncrt_recon *r, const char *order_id, const char *line,
                                          const syncrt_decimal *amount, syncrt_error *err)
{
    syncrt_status st = add_item(&r->pays, &r->npays, &r->cpays, order_id, line, 1, amount, err);
    if (st == SYNCRT_OK)
        id_digits(r->pays[r->npays - 1].extra);
    return st;
}

/* Keys that are all digits sort numerically (shorter first), others by text. */
static int keycmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb && strspn(a, "0123456789") == la && strspn(b, "0123456789") == lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static int co_cmp(const void *a, const void *b)
{
    return keycmp(((const corder *)a)->id, ((const corder *)b)->id);
}

static int fo_cmp(const void *a, const void *b)
{
    return keycmp(((const forder *)a)->number, ((const forder *)b)->number);
}

static int fo_key_cmp(const void *k, const void *b)
{
    return keycmp(k, ((const forder *)b)->number);
}

static int co_key_cmp(const void *k, const void *b)
{
    return keycmp(k, ((const corder *)b)->id);
}

/* bsearch with n == 0 would get a NULL base, which it may not. */
static forder *find_fo(const syncrt_recon *r, const char *number)
{
    return r->nfo ? bsearch(number, r->fo, r->nfo, sizeof *r->fo, fo_key_cmp) : NULL;
}

static corder *find_co(const syncrt_recon *r, const char *id)
{
    return r->nco ? bsearch(id, r->co, r->nco, sizeof *r->co, co_key_cmp) : NULL;
}

/* Journal lines by (order id, line number). */
static int jline_cmp(const void *a, const void *b)
{
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    int c = keycmp(x->key, y->key);
    return c ? c : keycmp(x->extra, y->extra);
}

/* Is there an F&O journal line of order id numbered line? */
static int journaled(const syncrt_recon *r, const char *id, const char *line)
{
    item k = { 0 }, *kp = &k;
    k.key = (char *)id;
    k.extra = (char *)line;
    return r->njlines && bsearch(&kp, r->jlines, r->njlines, sizeof *r->jlines, jline_cmp);
}

static int row_cmp(const void *a, const void *b)
{
    const syncrt_recon_row *x = a, *y = b;
    int c = strcmp(x->day, y->day);
    return c ? c : strcmp(x->account, y->account);
}

static syncrt_status sum(syncrt_decimal *acc, const syncrt_decimal *v, syncrt_error *err)
{
    if (syncrt_decimal_add(acc, acc, v) != SYNCRT_OK)
        return syncrt_error_set(err, SYNCRT_ERANGE, "a total does not fit 38 digits");
    return SYNCRT_OK;
}

static syncrt_recon_row *row_of(syncrt_recon *r, const char *day, const char *account)
{
    for (size_t i = 0; i < r->nrows; i++)
        if (!strcmp(r->rows[i].day, day) && !strcmp(r->rows[i].account, account))
            return &r->rows[i];
    syncrt_recon_row *p = grow(r->rows, &r->crows, r->nrows, sizeof *p);
    if (!p)
        return NULL;
    r->rows = p;
    syncrt_recon_row *w = &p[r->nrows];
    memset(w, 0, sizeof *w);
    w->account = strdup(account);
    if (!w->account)
        return NULL;
    memcpy(w->day, day, sizeof w->day);
    w->clarity_total = w->fo_total = w->invoiced = w->clarity_paid = w->fo_paid = w->declined =
        syncrt_decimal_from_int(0);
    r->nrows++;
    return w;
}

static int differ(const syncrt_decimal *a, const syncrt_decimal *b, const syncrt_decimal *tol)
{
    syncrt_decimal d;
    if (syncrt_decimal_sub(&d, a, b) != SYNCRT_OK)
        return 1;
    d.neg = 0;
    return syncrt_decimal_cmp(&d, tol) > 0;
}

static syncrt_status mismatch(syncrt_recon *r, syncrt_recon_kind kind, const char *day,
                              const char *account, const char *ckey, const char *fkey,
                              const char *detail, const syncrt_decimal *expected,
                              const syncrt_decimal *actual, syncrt_error *err)
{
    syncrt_recon_mismatch *p = grow(r->mm, &r->cmm, r->nmm, sizeof *p);
    if (!p)
        return oom(err);
    r->mm = p;
    syncrt_recon_mismatch *m = &p[r->nmm++];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    memcpy(m->day, day, sizeof m->day);
    m->account = dup(account);
    m->clarity_key = dup(ckey);
    m->fo_key = dup(fkey);
    m->detail = dup(detail);
    if (expected && actual) {
        m->has_amounts = 1;
        m->expected = *expected;
        m->actual = *actual;
    }
    if (!m->account || (ckey && !m->clarity_key) || (fkey && !m->fo_key) || (detail && !m->detail))
        return oom(err);
    return SYNCRT_OK;
}

/* Adds an F&O order's own figures (orders, total, invoices) to a row. */
static syncrt_status count_fo(syncrt_recon_row *w, const forder *f, syncrt_error *err)
{
    w->fo_orders++;
    w->invoices += f->invoices;
    syncrt_status st = sum(&w->fo_total, &f->total, err);
    return st == SYNCRT_OK ? sum(&w->invoiced, &f->invoiced, err) : st;
}

/* The invoice check of one F&O order. */
static syncrt_status check_invoice(syncrt_recon *r, const forder *f, const char *day,
                                   const char *account, const char *ckey, const syncrt_decimal *tol,
                                   syncrt_error *err)
{
    if (f->invoices && differ(&f->total, &f->merch, tol))
        return mismatch(r, SYNCRT_RECON_INVOICE_AMOUNT, day, account, ckey, f->number, f->inv_keys,
                        &f->total, &f->merch, err);
    return SYNCRT_OK;
}

static syncrt_status link_items(syncrt_recon *r, syncrt_error *err)
{
    syncrt_status st = SYNCRT_OK;
    for (size_t i = 0; i < r->nlines && st == SYNCRT_OK; i++) {
        forder *f = find_fo(r, r->lines[i].key);
        if (f)
            st = sum(&f->total, &r->lines[i].amount, err);
    }
    for (size_t i = 0; i < r->ninvs && st == SYNCRT_OK; i++) {
        forder *f = find_fo(r, r->invs[i].key);
        if (!f)
            continue;
        f->invoices++;
        st = sum(&f->invoiced, &r->invs[i].amount, err);
        if (st == SYNCRT_OK)
            st = sum(&f->merch, &r->invs[i].amount2, err);
        const char *inv = r->invs[i].extra ? r->invs[i].extra : "?";
        size_t old = f->inv_keys ? strlen(f->inv_keys) : 0;
        char *k = realloc(f->inv_keys, old + strlen(inv) + 2);
        if (!k)
            return oom(err);
        if (old)
            k[old++] = ',';
        strcpy(k + old, inv);
        f->inv_keys = k;
    }
    for (size_t i = 0; i < r->npays && st == SYNCRT_OK; i++) {
        corder *o = find_co(r, r->pays[i].key);
        if (!o)
            continue;
        if (r->pays[i].fo) {
            o->fpay_n++;
            st = sum(&o->fpay, &r->pays[i].amount, err);
        } else if (r->pays[i].declined) {
            o->decl_n++;
            st = sum(&o->decl, &r->pays[i].amount, err);
        } else {
            o->cpay_n++;
            st = sum(&o->cpay, &r->pays[i].amount, err);
        }
    }
    if (st != SYNCRT_OK)
        return st;
    size_t nj = 0;
    for (size_t i = 0; i < r->npays; i++)
        nj += r->pays[i].fo && r->pays[i].extra;
    if (nj) {
        r->jlines = malloc(nj * sizeof *r->jlines);
        if (!r->jlines)
            return oom(err);
        for (size_t i = 0; i < r->npays; i++)
            if (r->pays[i].fo && r->pays[i].extra)
                r->jlines[r->njlines++] = &r->pays[i];
        qsort(r->jlines, r->njlines, sizeof *r->jlines, jline_cmp);
    }
    return SYNCRT_OK;
}

/* Lists the declined payments of order o; *named gets the ids of those an F&O journal line
 * carries ("7,9", malloc'd) or stays NULL. */
static syncrt_status list_declined(syncrt_recon *r, const corder *o, const char *fo_key, char **named,
                                   syncrt_error *err)
{
    for (size_t i = 0; i < r->npays; i++) {
        const item *p = &r->pays[i];
        if (p->fo || !p->declined || keycmp(p->key, o->id))
            continue;
        syncrt_recon_declined *q = grow(r->decl, &r->cdecl, r->ndecl, sizeof *q);
        if (!q)
            return oom(err);
        r->decl = q;
        syncrt_recon_declined *d = &q[r->ndecl++];
        memset(d, 0, sizeof *d);
        memcpy(d->day, o->day, sizeof d->day);
        d->account = dup(o->account);
        d->clarity_key = dup(o->id);
        d->fo_key = dup(fo_key);
        d->payment_id = dup(p->extra);
        d->amount = p->amount;
        d->journaled = p->extra && journaled(r, o->id, p->extra);
        if (!d->account || !d->clarity_key || (fo_key && !d->fo_key) || (p->extra && !d->payment_id))
            return oom(err);
        if (d->journaled) {
            size_t old = *named ? strlen(*named) : 0;
            char *s = realloc(*named, old + strlen(p->extra) + 2);
            if (!s)
                return oom(err);
            if (old)
                s[old++] = ',';
            strcpy(s + old, p->extra);
            *named = s;
        }
    }
    return SYNCRT_OK;
}

static syncrt_status check_order(syncrt_recon *r, corder *o, const syncrt_decimal *tol,
                                 syncrt_error *err)
{
    syncrt_recon_row *w = row_of(r, o->day, o->account);
    if (!w)
        return oom(err);
    w->clarity_orders++;
    syncrt_status st = sum(&w->clarity_total, &o->total, err);
    if (st != SYNCRT_OK)
        return st;
    w->clarity_payments += o->cpay_n;
    w->fo_payments += o->fpay_n;
    w->declined_payments += o->decl_n;
    if ((st = sum(&w->clarity_paid, &o->cpay, err)) != SYNCRT_OK ||
        (st = sum(&w->fo_paid, &o->fpay, err)) != SYNCRT_OK ||
        (st = sum(&w->declined, &o->decl, err)) != SYNCRT_OK)
        return st;
    forder *f = o->fo_number ? find_fo(r, o->fo_number) : NULL;
    if (f && !f->linked) {
        f->linked = 1;
        if ((st = count_fo(w, f, err)) != SYNCRT_OK)
            return st;
        if (differ(&o->total, &f->total, tol) &&
            (st = mismatch(r, SYNCRT_RECON_ORDER_AMOUNT, o->day, o->account, o->id, f->number, NULL,
                           &o->total, &f->total, err)) != SYNCRT_OK)
            return st;
        if ((st = check_invoice(r, f, o->day, o->account, o->id, tol, err)) != SYNCRT_OK)
            return st;
    } else if (o->fo_number) {
        if ((st = mismatch(r, SYNCRT_RECON_FO_MISSING, o->day, o->account, o->id, o->fo_number,
                           f ? "claimed by another Clarity order" : NULL, NULL, NULL, err)) != SYNCRT_OK)
            return st;
    } else if ((st = mismatch(r, o->dead_reason ? SYNCRT_RECON_DEAD_LETTER : SYNCRT_RECON_NOT_SYNCED,
                              o->day, o->account, o->id, NULL, o->dead_reason, NULL, NULL, err)) !=
               SYNCRT_OK) {
        return st;
    }
    char *named = NULL, *detail = NULL;
    if (o->decl_n && (st = list_declined(r, o, f ? f->number : o->fo_number, &named, err)) != SYNCRT_OK) {
        free(named);
        return st;
    }
    if (named) {
        const char *fmt = "declined payment(s) %s journaled";
        detail = malloc(strlen(fmt) + strlen(named) + 1);
        if (detail)
            sprintf(detail, fmt, named);
        free(named);
        if (!detail)
            return oom(err);
    }
    if ((o->cpay_n || o->fpay_n) && (detail || differ(&o->cpay, &o->fpay, tol)))
        st = mismatch(r, SYNCRT_RECON_PAYMENT_JOURNAL, o->day, o->account, o->id,
                      f ? f->number : o->fo_number, detail, &o->cpay, &o->fpay, err);
    free(detail);
    if (st != SYNCRT_OK)
        return st;
    if (f && f->invoices && (o->cpay_n || o->fpay_n)) {
        const syncrt_decimal *paid = o->fpay_n ? &o->fpay : &o->cpay;
        if (differ(paid, &f->invoiced, tol) &&
            (st = mismatch(r, SYNCRT_RECON_PAYMENT_INVOICE, o->day, o->account, o->id, f->number,
                           f->inv_keys, paid, &f->invoiced, err)) != SYNCRT_OK)
            return st;
    }
    return SYNCRT_OK;
}

syncrt_status syncrt_recon_run(syncrt_recon *r, const syncrt_decimal *tolerance, syncrt_error *err)
{
    syncrt_decimal tol = tolerance ? *tolerance : syncrt_decimal_from_int(0);
    tol.neg = 0;
    if (r->ran)
        return syncrt_error_set(err, SYNCRT_EINVAL, "reconciliation already run");
    r->ran = 1;
    if (r->co)
        qsort(r->co, r->nco, sizeof *r->co, co_cmp);
    if (r->fo)
        qsort(r->fo, r->nfo, sizeof *r->fo, fo_cmp);
    for (size_t i = 1; i < r->nco; i++)
        if (!keycmp(r->co[i - 1].id, r->co[i].id))
            return syncrt_error_set(err, SYNCRT_EINVAL, "Clarity order %s added twice", r->co[i].id);
    for (size_t i = 1; i < r->nfo; i++)
        if (!keycmp(r->fo[i - 1].number, r->fo[i].number))
            return syncrt_error_set(err, SYNCRT_EINVAL, "sales order %s added twice", r->fo[i].number);
    syncrt_status st = link_items(r, err);
    for (size_t i = 0; i < r->nco && st == SYNCRT_OK; i++)
        st = check_order(r, &r->co[i], &tol, err);
    for (size_t i = 0; i < r->nfo && st == SYNCRT_OK; i++) {
        forder *f = &r->fo[i];
        if (f->linked)
            continue;
        syncrt_recon_row *w = row_of(r, f->day, f->account);
        if (!w)
            return oom(err);
        st = count_fo(w, f, err);
        if (st == SYNCRT_OK)
            st = mismatch(r, SYNCRT_RECON_FO_ONLY, f->day, f->account, NULL, f->number, NULL,
                          NULL, NULL, err);
        if (st == SYNCRT_OK)
            st = check_invoice(r, f, f->day, f->account, NULL, &tol, err);
    }
    if (st == SYNCRT_OK && r->rows)
        qsort(r->rows, r->nrows, sizeof *r->rows, row_cmp);
    return st;
}

const syncrt_recon_row *syncrt_recon_rows(const syncrt_recon *r, size_t *n)
{
    *n = r->nrows;
    return r->rows;
}

const syncrt_recon_mismatch *syncrt_recon_mismatches(const syncrt_recon *r, size_t *n)
{
    *n = r->nmm;
    return r->mm;
}

const syncrt_recon_declined *syncrt_recon_declined_payments(const syncrt_recon *r, size_t *n)
{
    *n = r->ndecl;
    return r->decl;
}

/* ------------------------------------------------------------------ raw JSON text */

static size_t ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The end of the value starting at i (after whitespace), or 0 when malformed. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    if (s[i] == '"') {
        for (i++; i < len; i++) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                return i + 1;
        }
        return 0;
    }
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < len; i++) {
            if (s[i] == '"') {
                size_t e = skip_value(s, len, i);
                if (!e)
                    return 0;
                i = e - 1;
            } else if (s[i] == '{' || s[i] == '[') {
                depth++;
            } else if (s[i] == '}' || s[i] == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return 0;
    }
    size_t st = i;
    while (i < len && !strchr(",}] \t\r\n", s[i]))
        i++;
    return i > st ? i : 0;
}

syncrt_status syncrt_recon_json_member(const char **val, size_t *vlen, const char *json, size_t len,
                                       const char *key)
{
    size_t i = ws(json, len, 0), kl = strlen(key);
    if (i >= len || json[i] != '{')
        return SYNCRT_EPARSE;
    i = ws(json, len, i + 1);
    if (i < len && json[i] == '}')
        return SYNCRT_ENOTFOUND;
    while (i < len) {
        if (json[i] != '"')
            return SYNCRT_EPARSE;
        size_t ke = skip_value(json, len, i);
        if (!ke)
            return SYNCRT_EPARSE;
        int match = ke - i - 2 == kl && !memcmp(json + i + 1, key, kl);
        i = ws(json, len, ke);
        if (i >= len || json[i] != ':')
            return SYNCRT_EPARSE;
        i = ws(json, len, i + 1);
        size_t ve = skip_value(json, len, i);
        if (!ve)
            return SYNCRT_EPARSE;
        if (match) {
            *val = json + i;
            *vlen = ve - i;
            return SYNCRT_OK;
        }
        i = ws(json, len, ve);
        if (i < len && json[i] == '}')
            return SYNCRT_ENOTFOUND;
        if (i >= len || json[i] != ',')
            return SYNCRT_EPARSE;
        i = ws(json, len, i + 1);
    }
    return SYNCRT_EPARSE;
}

syncrt_status syncrt_recon_json_next(const char **elem, size_t *elen, const char *json, size_t len,
                                     size_t *pos)
{
    size_t i = *pos;
    if (i == 0) {
        i = ws(json, len, 0);
        if (i >= len || json[i] != '[')
            return SYNCRT_EPARSE;
        i++;
    }
    i = ws(json, len, i);
    if (i < len && json[i] == ',')
        i = ws(json, len, i + 1);
    if (i >= len)
        return SYNCRT_EPARSE;
    if (json[i] == ']') {
        *pos = i;
        return SYNCRT_EEMPTY;
    }
    size_t e = skip_value(json, len, i);
    if (!e)
        return SYNCRT_EPARSE;
    *elem = json + i;
    *elen = e - i;
    *pos = e;
    return SYNCRT_OK;
}

syncrt_status syncrt_recon_json_decimal(syncrt_decimal *out, const char *json, size_t len,
                                        const char *key)
{
    const char *v;
    size_t n;
    syncrt_status st = syncrt_recon_json_member(&v, &n, json, len, key);
    if (st != SYNCRT_OK)
        return st;
    if (n == 4 && !memcmp(v, "null", 4))
        return SYNCRT_ENOTFOUND;
    return syncrt_decimal_parse(out, v, n);
}

char *syncrt_recon_json_string(const char *json, size_t len, const char *key)
{
    const char *v;
    size_t n;
    if (syncrt_recon_json_member(&v, &n, json, len, key) != SYNCRT_OK ||
        (n == 4 && !memcmp(v, "null", 4)))
        return NULL;
    if (v[0] != '"') {
        char *s = malloc(n + 1);
        if (s) {
            memcpy(s, v, n);
            s[n] = 0;
        }
        return s;
    }
    json_t *j = json_loadb(v, n, JSON_DECODE_ANY, NULL);
    char *s = j && json_is_string(j) ? strdup(json_string_value(j)) : NULL;
    json_decref(j);
    return s;
}
