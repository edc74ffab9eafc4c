/*
 * traffic.h - the storefront traffic generator of the Clarity emulator: checkout orders of the
 * seed catalog's customers and products (1-20 lines, coupons, billing and shipping addresses in
 * the customers' countries, their currencies), at a chosen rate, deterministic for a seed, plus
 * bad orders on request.  Orders go through the same code path as POST .../SalesOrder/Create,
 * so they are stored, numbered and announced by webhooks like any API order.
 *
 * Control (on the Clarity port):
 *   POST /_sandbox/traffic {"count": 100, "rate_per_s": 20, "seed": 7,
 *                           "bad": {"string_quantity": 2, "missing_account": 1,
 *                                   "over_limit": 1, "unknown_sku": 1},
 *                           "payments": true, "wait": false}
 *        -> 202 {status} (200 when "wait": true: the run finished before the reply);
 *           409 while a run is active; 400 on a bad spec.  count <= 100000, rate 0 = as fast
 *           as possible.  seed defaults to the server's --seed.
 *   GET  /_sandbox/traffic -> {running, seed, requested, submitted, created, rejected,
 *        by_kind: {good|string_quantity|missing_account|over_limit|unknown_sku:
 *                  {submitted, created, rejected}}, fingerprint, order_ids[], errors[]}
 *   DELETE /_sandbox/traffic -> stops the active run.
 *
 * Payments ("payments", default true): each created order is paid at once, as a storefront's
 * payment step does, through the same code path as PATCH .../SalesOrder/AddPayment: one
 * authorized payment of the order's balance due (its total), by card (4 in 5) or PayPal, with
 * a TransactionNumber and ExternalCustomerID = the order's AccountKey, the F&O customer account
 * (a guest order, missing_account, has none).  The status counts them in "paid".
 *
 * Determinism: order n of a run (0-based) is generated from (seed, n) alone; the kinds are
 * interleaved by a seeded shuffle.  `fingerprint` is the SHA-256 of the generated request
 * bodies in order, so two runs with the same spec have the same fingerprint and the same
 * stored orders (up to ID and dates).
 *
 * What the bad kinds do (so they exercise the error paths downstream):
 *   string_quantity  a line's Quantity is a non-numeric string ("two"): the Clarity API refuses
 *                    it (400 SerializationException) - counted as rejected;
 *   missing_account  a guest order without AccountID/AccountKey: Clarity stores it; a mapping
 *                    with required(o.AccountKey) must dead-letter it;
 *   over_limit       a low-credit-limit customer (seed.h) ordering more than the limit: Clarity
 *                    stores it; D365 refuses it with a credit-limit business error;
 *   unknown_sku      one line names an item that is in neither system: Clarity stores it as a
 *                    non-catalog line (no ProductID); D365 refuses the unknown item.
 * Good orders only use catalog customers and items, so they are valid on the D365 side.
 *
 * Status convention: 0 / -1 with a message.
 */
#ifndef SANDBOX_TRAFFIC_H
#define SANDBOX_TRAFFIC_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "seed.h"

typedef enum traffic_kind {
    TRAFFIC_GOOD,
    TRAFFIC_STRING_QUANTITY,
    TRAFFIC_MISSING_ACCOUNT,
    TRAFFIC_OVER_LIMIT,
    TRAFFIC_UNKNOWN_SKU,
    TRAFFIC_KIND_COUNT
} traffic_kind;

const char *traffic_kind_name(traffic_kind k);

/* Submit one order body through the API code path; returns the HTTP status it got (200 when
 * created), the new ID in *id, a reason in msg otherwise.  payment (NULL: none) is added to
 * the created order, its Amount the order's balance due; *paid is 1 when it was. */
typedef unsigned (*traffic_submit_fn)(void *ctx, const json_t *order, const json_t *payment,
                                      int64_t *id, int *paid, char *msg, size_t msglen);

typedef struct traffic traffic;

int traffic_new(traffic **out, const seed_catalog *cat, uint64_t default_seed,
                traffic_submit_fn submit, void *ctx);
/* Stops an active run and frees. NULL accepted. */
void traffic_free(traffic *t);

/* Start a run (see the top of this file).  Returns 0 started (or finished when "wait"),
 * 1 a run is already active, -1 bad spec (message in err). */
int traffic_start(traffic *t, const json_t *spec, char *err, size_t errlen);
void traffic_stop(traffic *t);
json_t *traffic_status(traffic *t);

/* The request body of order n of a run with this seed and kind (new reference). */
json_t *traffic_make_order(const seed_catalog *cat, uint64_t seed, unsigned n, traffic_kind kind);
/* The payment of order n (see "Payments" above; no Amount: the balance due once created). */
json_t *traffic_make_payment(const json_t *order, uint64_t seed, unsigned n);

#endif
