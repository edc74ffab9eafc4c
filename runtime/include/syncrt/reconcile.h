/* reconcile.h - order-to-cash reconciliation: Clarity orders vs the F&O sales orders made
 * from them vs F&O invoices vs payments (Clarity and F&O payment journal lines), per day
 * (UTC) and customer account, with every mismatch found.  The caller fetches the records
 * and adds them; this module links and compares them, exactly, with decimals (never double).
 *
 * Linking: a Clarity order names the F&O sales order it became (the store's idempotency map)
 * or the dead-letter reason it stopped at; F&O lines and invoices point at their sales order
 * number; payments point at their Clarity order id.  Grouping: every record linked to a
 * Clarity order counts on that order's day and account; an F&O order no Clarity order claims
 * counts on its own day and account.  Payments of unknown orders are ignored (they belong to
 * orders outside the window).
 *
 * Money received is the authorised Clarity payments only: a declined (not authorised) payment
 * is listed on its own (syncrt_recon_declined_payments), never in an order's paid amount, and
 * is a mismatch only when an F&O payment journal line carries it (payment_journal).  An
 * invoice's total (TotalInvoiceAmount: merchandise - discount + charges + tax) is what the
 * payments must equal; its merchandise part (the total - tax - charges + discount, the SubTotal
 * of examples/invoices.map) is what the F&O lines must equal.
 *
 * Also: a tiny reader of JSON text that hands out members and array elements as raw text, so
 * numbers reach syncrt_decimal_parse with every digit (jansson would make them doubles). */
#ifndef SYNCRT_RECONCILE_H
#define SYNCRT_RECONCILE_H

#include <stddef.h>

#include "syncrt/decimal.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SYNCRT_RECON_NOT_SYNCED,      /* Clarity order with no F&O sales order, not dead-lettered */
    SYNCRT_RECON_DEAD_LETTER,     /* Clarity order in the dead-letter queue (detail: reason) */
    SYNCRT_RECON_FO_MISSING,      /* the store says delivered as SO, but F&O has no such SO */
    SYNCRT_RECON_FO_ONLY,         /* F&O sales order that no Clarity order became */
    SYNCRT_RECON_ORDER_AMOUNT,    /* Clarity order total != F&O lines total */
    SYNCRT_RECON_INVOICE_AMOUNT,  /* invoiced merchandise != F&O ordered amount (lines) */
    SYNCRT_RECON_PAYMENT_JOURNAL, /* authorised Clarity payments != F&O payment journal lines, or
                                     a journal line carries a declined payment */
    SYNCRT_RECON_PAYMENT_INVOICE, /* paid amount != invoice total (invoiced, paid orders) */
    SYNCRT_RECON_KIND_LAST
} syncrt_recon_kind;

/* "not_synced", "dead_letter", ... */
const char *syncrt_recon_kind_name(syncrt_recon_kind k);

typedef struct {
    char day[11];                  /* YYYY-MM-DD */
    char *account;
    size_t clarity_orders;
    syncrt_decimal clarity_total;
    size_t fo_orders;
    syncrt_decimal fo_total;
    size_t invoices;
    syncrt_decimal invoiced;       /* invoice totals (TotalInvoiceAmount) */
    size_t clarity_payments;       /* authorised ones only */
    syncrt_decimal clarity_paid;
    size_t fo_payments;
    syncrt_decimal fo_paid;
    size_t declined_payments;      /* Clarity payments not authorised: not money received */
    syncrt_decimal declined;
} syncrt_recon_row;

typedef struct {
    syncrt_recon_kind kind;
    char day[11];
    char *account;
    char *clarity_key;             /* Clarity order id, or NULL */
    char *fo_key;                  /* F&O sales order number, or NULL */
    char *detail;                  /* reason / invoice numbers, or NULL */
    int has_amounts;
    syncrt_decimal expected, actual;   /* left side, right side of the comparison */
} syncrt_recon_mismatch;

/* A Clarity payment that was not authorised (declined). */
typedef struct {
    char day[11];                  /* its order's day and account */
    char *account;
    char *clarity_key;             /* Clarity order id */
    char *fo_key;                  /* the F&O sales order the order became, or NULL */
    char *payment_id;              /* Clarity payment id, or NULL */
    syncrt_decimal amount;
    int journaled;                 /* an F&O journal line of the order carries its id */
} syncrt_recon_declined;

typedef struct syncrt_recon syncrt_recon;

syncrt_status syncrt_recon_new(syncrt_recon **out, syncrt_error *err);
void syncrt_recon_free(syncrt_recon *r);

/* day: YYYY-MM-DD (or an ISO timestamp: its UTC day is taken).  fo_number: the sales order it
 * became (NULL: none); dead_reason: its dead letter's reason (NULL: none). */
syncrt_status syncrt_recon_add_clarity_order(syncrt_recon *r, const char *id, const char *account,
                                             const char *day, const syncrt_decimal *total,
                                             const char *fo_number, const char *dead_reason,
                                             syncrt_error *err);
syncrt_status syncrt_recon_add_fo_order(syncrt_recon *r, const char *number, const char *account,
                                        const char *day, syncrt_error *err);
/* Adds quantity x price to the sales order's total (lines of unknown orders are ignored). */
syncrt_status syncrt_recon_add_fo_line(syncrt_recon *r, const char *number,
                                       const syncrt_decimal *quantity, const syncrt_decimal *price,
                                       syncrt_error *err);
/* total: TotalInvoiceAmount; merchandise: what of it the lines make (total - tax - charges +
 * discount), compared with the F&O lines (NULL: the total). */
syncrt_status syncrt_recon_add_invoice(syncrt_recon *r, const char *invoice, const char *order_number,
                                       const syncrt_decimal *total, const syncrt_decimal *merchandise,
                                       syncrt_error *err);
/* A Clarity payment of order order_id; payment_id: its ID (NULL: unknown); authorized 0: a
 * declined payment, counted apart and never as money received. */
syncrt_status syncrt_recon_add_clarity_payment(syncrt_recon *r, const char *order_id,
                                               const char *payment_id, const syncrt_decimal *amount,
                                               int authorized, syncrt_error *err);
/* A line of the F&O payment journal of order order_id (WEBPAY-<order_id>); line: its
 * LineNumber, the Clarity payment ID it carries (NULL: unknown; 17.0 is 17); amount: credit -
 * debit. */
syncrt_status syncrt_recon_add_fo_payment(syncrt_recon *r, const char *order_id, const char *line,
                                          const syncrt_decimal *amount, syncrt_error *err);

/* Links and compares everything added; amounts differing by no more than tolerance (NULL:
 * 0, exact) are equal.  Rows come sorted by day then account.  Once per object (a second
 * call is SYNCRT_EINVAL). */
syncrt_status syncrt_recon_run(syncrt_recon *r, const syncrt_decimal *tolerance, syncrt_error *err);
const syncrt_recon_row *syncrt_recon_rows(const syncrt_recon *r, size_t *n);
const syncrt_recon_mismatch *syncrt_recon_mismatches(const syncrt_recon *r, size_t *n);
/* The declined payments of the orders added, in order id order (after run). */
const syncrt_recon_declined *syncrt_recon_declined_payments(const syncrt_recon *r, size_t *n);

/* ---- raw JSON text ---- */

/* The raw text of member key of the object in json (top level only).  SYNCRT_ENOTFOUND
 * when absent, SYNCRT_EPARSE when json is not an object. */
syncrt_status syncrt_recon_json_member(const char **val, size_t *vlen, const char *json, size_t len,
                                       const char *key);
/* Iterates the elements of the array in json: *pos starts at 0; SYNCRT_OK with the next
 * element, SYNCRT_EEMPTY at the end, SYNCRT_EPARSE when json is not an array. */
syncrt_status syncrt_recon_json_next(const char **elem, size_t *elen, const char *json, size_t len,
                                     size_t *pos);
/* Member key as a decimal (SYNCRT_ENOTFOUND when absent or null). */
syncrt_status syncrt_recon_json_decimal(syncrt_decimal *out, const char *json, size_t len,
                                        const char *key);
/* Member key as a malloc'd string (numbers as their text); NULL when absent or null. */
char *syncrt_recon_json_string(const char *json, size_t len, const char *key);

#ifdef __cplusplus
}
#endif
#endif
