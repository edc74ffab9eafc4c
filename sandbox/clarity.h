/*
 * clarity.h - the Clarity eCommerce (CEF 2021.4, ServiceStack) emulator of the sandbox.
 *
 * One HTTP server on 127.0.0.1 (libmicrohttpd) serving the API-Admin routes of
 * ../shared/reference/clarity/routes.txt under CLARITY_API_ROOT, backed by SQLite (one JSON
 * document per record, indexed ID / CustomKey / UpdatedDate), seeded from seed.h, plus the
 * sandbox control routes (no auth; bodies are JSON whatever the Content-Type):
 *   GET  /_sandbox/health            {"status":"ok","service":"clarity","seed":S}
 *   GET|DELETE /_sandbox/stats       requests per normalised route, method and status
 *                                    (sb_stats; /_sandbox calls are not counted); DELETE resets
 *   GET|PUT|DELETE /_sandbox/faults  fault injection of sb_faults.h (429/500/503, latency,
 *                                    hangs, connections dropped after a committed write)
 *   GET|PUT /_sandbox/webhooks       outbox status; PUT {"url","secret"} re-targets (webhook.h)
 *   POST|GET|DELETE /_sandbox/traffic  storefront traffic generator (traffic.h)
 *   POST /_sandbox/sessions/expire   expire every session now (tests of session expiry)
 *
 * Routes (module/entity as in routes.txt; names are case-insensitive like ServiceStack's):
 *   GET /M/Xs (Paging.Size, Paging.StartIndex = 1-based PAGE number, or flat Size/StartIndex;
 *   no paging = every row; ModifiedSince, IDs, CustomKeys, Active, StatusKeys, AccountKey,
 *   AccountID, MinDate/MaxDate on CreatedDate) -> {Results, TotalCount, TotalPages,
 *   CurrentPage, CurrentCount}; GET/POST /M/XsForConnect the same; GET /M/XsDigest ->
 *   [{ID, Key, Hash}]; GET /M/X/ID/{ID}, /M/X/Key/{Key}, /M/X/Exists/ID|Key/...; POST
 *   /M/X/Create, /M/X/Upsert; PUT /M/X/Update; PATCH /M/X/Deactivate|Reactivate/ID|Key/...;
 *   DELETE /M/X/Delete/ID|Key/...; PATCH /Ordering/SalesOrder/{Confirm|Hold|Pending|Backorder|
 *   Ship|Complete|Void|ReadyForPickup|DropShip|CreatePickTicket|CapturePayment}/{ID};
 *   PATCH /Ordering/SalesOrder/AddPayment; PUT /Providers/Inventory/
 *   BulkUpdateInventoryForProducts {InventoryToPush:[...]}; PATCH .../UpdateInventoryForProduct;
 *   GET .../CalculateInventory/{ID}.  Entities: Ordering/SalesOrder, Invoicing/SalesInvoice,
 *   Returning/SalesReturn, Products/Product (stock in ProductInventoryLocationSections),
 *   Accounts/Account, Contacts/User, Contacts/Contact, Shipping/Shipment, Payments/Payment,
 *   Discounts/Discount, Discounts/DiscountCode.  Record shapes follow specs/clarity/openapi.json
 *   (tests/clarity checks every reply name against it); the rules chosen where CEF's behaviour
 *   is not documented are listed at the top of clarity_entity.c.
 * Errors: ServiceStack's {ResponseStatus:{ErrorCode, Message, Errors:[{ErrorCode, FieldName,
 *   Message}]}}: 400 SerializationException (malformed JSON, a value of the wrong type),
 *   400 ArgumentException / DuplicateCustomKey / InvalidOperationException (business rules,
 *   with ActionSucceeded:false + Messages as well), 401, 403 "Invalid Permission: M.X.Op", 404,
 *   405, 413 (body over max_body), 415 (a body that is neither JSON nor a form).
 *   Replies omit nulls, empty strings and empty lists (error bodies keep Errors:[]).
 *
 * Auth (three providers, any of them admits a request):
 *   - session: POST {root}/auth/identity {"UserName","Password"} -> {SessionId, UserName, ...}
 *     plus Set-Cookie ss-id / ss-pid; later requests send the cookie or the X-ss-id header.
 *     Sessions expire after session_ttl_s of inactivity -> 401.
 *   - HTTP Basic with the same users.
 *   - DESIGN GUESS: a static API key in the header CLARITY_API_KEY_HEADER ("X-Clarity-Api-Key"),
 *     which acts as the admin user.
 * Users: admin_user/admin_password (every permission) and readonly_user/readonly_password
 * (only the ".View" permissions: any write answers 403).
 *
 * Defaults (clarity_options_init) and the sandbox command-line options that map onto them
 * (clarity_options_set, used by sandbox/main.c):
 *   --clarity-port N        port               7366 (0 = let the kernel choose; see
 *                                              clarity_server_port)
 *   --clarity-page-size K   page_size          0 = none: like CEF, a search without Paging
 *                                              returns every row; K > 0 caps such searches
 *                                              at K rows (page 1).  The sandbox's
 *                                              --page-size is D365's, not this one.
 *   --seed S                seed               1
 *   --data DIR              data_dir           NULL = a temporary directory removed on stop;
 *                                              DIR keeps DIR/clarity.db across runs
 *   --webhook-url URL       webhook_url        NULL = outbox records events, nothing is sent
 *   --webhook-secret S      webhook_secret     "sandbox-webhook-secret"
 *   --webhook-backoff-ms N  webhook_backoff_ms 500 (first retry delay; doubles, capped)
 *   --webhook-backoff-max-ms N                 30000
 *   --webhook-max-attempts N                   0 = until a 2xx
 *   --clarity-api-key K     api_key            "sandbox-api-key"
 *   --clarity-session-ttl N session_ttl_s      1200
 *   --clarity-max-body N    max_body           1048576 bytes (larger bodies: 413)
 *
 * Concurrency: a thread per connection (a hung request from fault injection blocks only its
 * own connection); records are serialised by one store lock.
 *
 * Status convention: 0 success, -1 failure with a message in err; nothing prints.
 */
#ifndef SANDBOX_CLARITY_H
#define SANDBOX_CLARITY_H

#include <stddef.h>
#include <stdint.h>

#define CLARITY_DEFAULT_PORT 7366
#define CLARITY_API_ROOT "/DesktopModules/ClarityEcommerce/API-Admin"
#define CLARITY_API_KEY_HEADER "X-Clarity-Api-Key"

typedef struct clarity_options {
    unsigned port;                 /* 7366; 0 = ephemeral */
    const char *bind_address;      /* "127.0.0.1" */
    unsigned page_size;            /* 0: no paging unless the client asks (CEF) */
    uint64_t seed;                 /* 1 */
    const char *data_dir;          /* NULL: temporary, removed on stop */
    const char *admin_user;        /* "admin" */
    const char *admin_password;    /* "admin" */
    const char *readonly_user;     /* "reader" */
    const char *readonly_password; /* "reader" */
    const char *api_key;           /* "sandbox-api-key"; NULL or "" disables the provider */
    unsigned session_ttl_s;        /* 1200 */
    size_t max_body;               /* 1 MiB */
    const char *webhook_url;       /* NULL: no delivery (events are still recorded) */
    const char *webhook_secret;    /* "sandbox-webhook-secret" */
    unsigned webhook_backoff_ms;   /* 500 */
    unsigned webhook_backoff_max_ms; /* 30000 */
    unsigned webhook_max_attempts; /* 0 = unlimited */
    unsigned webhook_timeout_ms;   /* 5000 per delivery attempt */
} clarity_options;

typedef struct clarity_server clarity_server;

/* Fill *o with the defaults above. */
void clarity_options_init(clarity_options *o);

/* Map one command-line option (name with its leading dashes, e.g. "--clarity-port") and its
 * value onto *o.  value is kept by pointer (argv lifetime).  Returns 0 when applied, 1 when
 * the name is not a Clarity option (the caller tries others), -1 when the value is invalid
 * (message in err). */
int clarity_options_set(clarity_options *o, const char *name, const char *value,
                        char *err, size_t errlen);

/* One line per option for a --help text (static string). */
const char *clarity_options_help(void);

/* Open the store (seeding it when empty), start the webhook sender and the HTTP server.
 * On success *out is the running server; on failure -1 and err says why. */
int clarity_server_start(clarity_server **out, const clarity_options *opt, char *err,
                         size_t errlen);

/* The port actually bound (useful with port 0). */
unsigned clarity_server_port(const clarity_server *s);

/* Stop serving, finish the current webhook attempt, stop the traffic generator, close the
 * store and remove the temporary data directory.  NULL is accepted. */
void clarity_server_stop(clarity_server *s);

#endif
