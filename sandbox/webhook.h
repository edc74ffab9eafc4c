/*
 * webhook.h - outbound webhooks of the Clarity emulator (DESIGN GUESS: CEF 2021.4 has none; see
 * clarity-facts.md "Events").  What a receiver sees:
 *
 *   POST <webhook url>
 *   Content-Type: application/json
 *   X-Clarity-Event: SalesOrder.Created
 *   X-Clarity-Event-ID: evt_<32 hex>           (the same on every redelivery: dedup on it)
 *   X-Clarity-Timestamp: 1795795200            (unix seconds of THIS attempt)
 *   X-Clarity-Signature: sha256=<64 hex>       HMAC-SHA256(secret, timestamp + "." + body)
 *   X-Clarity-Delivery-Attempt: 1
 *
 *   {"EventType":"SalesOrder.Created","EventID":"evt_...","OccurredAt":"2026-...Z",
 *    "Entity":{ the record as GET .../ID/{ID} returns it }}
 *
 * Event types: <Entity>.Created, <Entity>.Updated, <Entity>.Deleted for every entity
 * (SalesOrder, SalesInvoice, SalesReturn, Product, Account, User, Contact, Shipment, Payment,
 * Discount, DiscountCode, ProductInventoryLocationSection); an order state PATCH is a
 * SalesOrder.Updated whose Entity carries the new StatusKey.
 *
 * Durability: events are written to the SQLite table `outbox` in the same transaction as the
 * change that caused them; a background thread delivers them in order of due time with libcurl.
 * Any 2xx marks an event delivered; anything else (connection refused, timeout, 3xx/4xx/5xx)
 * reschedules it after backoff_ms * 2^(attempts-1) (capped at backoff_max_ms, +0..10% jitter)
 * until it is delivered, or until max_attempts (when > 0) marks it failed.  Events recorded
 * while no URL is configured wait in the outbox and go out once a URL is set.  The outbox
 * keeps every pending event and the last 10,000 finished ones.
 *
 * Locking: webhook_enqueue runs under the store lock (inside the writer's transaction); the
 * sender takes the store lock only around its outbox reads and writes, never during HTTP.
 * Status convention: 0 / -1.
 */
#ifndef SANDBOX_WEBHOOK_H
#define SANDBOX_WEBHOOK_H

#include <stddef.h>
#include <jansson.h>
#include "clarity_store.h"

typedef struct webhook_config {
    const char *url;            /* NULL or "": record only */
    const char *secret;
    unsigned backoff_ms;
    unsigned backoff_max_ms;
    unsigned max_attempts;      /* 0 = unlimited */
    unsigned timeout_ms;
} webhook_config;

typedef struct webhook webhook;

int webhook_start(webhook **out, clarity_store *store, const webhook_config *cfg, char *err,
                  size_t errlen);
void webhook_stop(webhook *w);

/* Record one event (store lock held, inside the caller's transaction). */
int webhook_enqueue(webhook *w, const char *event_type, const json_t *entity);
/* Wake the sender (after the caller committed; no lock needed). */
void webhook_kick(webhook *w);

/* Change url / secret at run time (members absent from cfg keep their value). */
int webhook_configure(webhook *w, const json_t *cfg, char *err, size_t errlen);

/* {url, pending, delivered, failed, attempts, events:[{Seq, EventID, EventType, State,
 * Attempts, LastStatus, LastError, NextAttemptAt, DeliveredAt}]} (the last `limit` events);
 * takes the store lock itself. */
json_t *webhook_status(webhook *w, int limit);

/* sha256=<hex> signature of timestamp "." body (out >= 72 bytes). */
void webhook_sign(const char *secret, const char *timestamp, const char *body, size_t len,
                  char *out, size_t outlen);

#endif
