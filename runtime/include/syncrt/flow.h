/* flow.h - the facts about one business flow that the engine needs to run it: which system
 * its records come from and how (webhook event type, polled Clarity route or F&O entity set,
 * interval or cron schedule), the generated function that turns one source record into the
 * target's JSON ({"<Set>":{...},"<ChildSet>":[...]}, see docs/codegen.md), where that JSON
 * goes (an F&O entity set with its children in one $batch changeset, or a Clarity entity
 * route written by Create/Upsert/Update), which target fields form the key, the idempotency
 * field, the retry policy and the version of the .map file it was generated from.
 *
 * mapc gen writes one `const syncrt_flow_desc <Flow>_flow` per flow of a .map file and a
 * registry of them all (generated/mapc_flows.h: mapc_flows[], mapc_maps[]); see
 * docs/codegen.md.  Changing this struct changes the generated code's contract: bump
 * SYNCRT_ABI (syncrt.h) with it, unless the change only appends members that descriptors
 * generated before may leave zero (designated initializers), as bulk_member did. */
#ifndef SYNCRT_FLOW_H
#define SYNCRT_FLOW_H

#include "syncrt/map.h"
#include "syncrt/retry.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A generated <Map>_run or <Flow>_run function. */
typedef syncrt_status (*syncrt_flow_run_fn)(syncrt_mctx *ctx, const char *json, size_t len,
                                            syncrt_mbuf *out);

/* One map compiled into the binary (for `sync preview`). */
typedef struct {
    const char *name;
    const char *file;              /* the .map file it comes from */
    syncrt_flow_run_fn run;
} syncrt_flow_map;

#define SYNCRT_FLOW_MAX_KEYS 4

/* The two systems a flow connects. */
typedef enum {
    SYNCRT_SYS_NONE = 0,
    SYNCRT_SYS_CLARITY,             /* Clarity eCommerce (OpenAPI, routes "Module/Entity") */
    SYNCRT_SYS_D365                 /* Dynamics 365 F&O (OData entity sets) */
} syncrt_flow_system;

/* How the first write of a flow reaches its target: the written map's mode. */
typedef enum {
    SYNCRT_WRITE_CREATE = 0,        /* F&O POST to the set / Clarity Create */
    SYNCRT_WRITE_UPDATE,            /* F&O PATCH by key / Clarity Update */
    SYNCRT_WRITE_UPSERT             /* Clarity Upsert by CustomKey / F&O PATCH-or-POST */
} syncrt_flow_write;

typedef struct {
    const char *name;               /* "OrderToCash" */
    /* where it comes from: the .map file, recorded in the audit log with each outcome */
    const char *map_version;        /* "order_to_cash.map@<hash> (mapc 0.1.0)" */
    const char *map_file;           /* "order_to_cash.map" (base name) */
    const char *map_hash;           /* FNV-1a 64 of the file's bytes, 16 hex digits */
    /* triggers */
    syncrt_flow_system source;      /* the system records are read from */
    const char *webhook_event;      /* "SalesOrder.Created", or NULL */
    const char *poll_route;         /* Clarity: the search route ("Ordering/SalesOrders");
                                       F&O: the entity set ("ReleasedProductsV2"); or NULL */
    const char *poll_since;         /* `since FIELD` ("ModifiedSince"); NULL: full scan */
    int64_t poll_every_ms;          /* the poll's `every` */
    const char *schedule;           /* `trigger schedule "m h dom mon dow"` (scheduler.h): a
                                       pass (poll, then work what is due) at each fire time,
                                       instead of every poll_every_ms; NULL: none */
    int64_t schedule_every_ms;      /* `trigger schedule every D`, 0: none */
    const char *source_id_field;    /* Clarity: the source record's id member ("ID"); NULL
                                       for F&O sources (see source_key_fields) */
    const char *source_key_fields[SYNCRT_FLOW_MAX_KEYS];  /* F&O: the polled set's key,
                                                             NULL-terminated */
    /* mapping */
    syncrt_flow_run_fn run;         /* <Flow>_run */
    /* target (the first write) */
    syncrt_flow_system target;      /* the system written to */
    syncrt_flow_write write;        /* create / update / upsert */
    const char *target_set;         /* "SalesOrderHeadersV2", "Products": the member of
                                       run's output */
    const char *target_route;       /* F&O: the entity set; Clarity: the entity route the
                                       Create/Upsert/Update actions hang off ("Products/Product") */
    const char *child_set;          /* "SalesOrderLines", or NULL */
    int one_changeset;              /* 1: the record and its children in one changeset */
    const char *key_fields[SYNCRT_FLOW_MAX_KEYS];   /* the target key (F&O: the entity key,
                                                       probed after an unknown outcome;
                                                       Clarity upsert: CustomKey);
                                                       NULL-terminated */
    const char *idempotency_field;  /* the deterministic key field ("SalesOrderNumber") */
    syncrt_retry_policy retry;      /* `retry N backoff A..B`: N attempts, A first, B cap */
    /* ABI 3: customer 360 and aggregated polls */
    const char *dedup_fields[SYNCRT_FLOW_MAX_KEYS];  /* `dedup by P, Q`: the probes the target
                                                       is queried by, in this order, before a
                                                       record is created; a probe is one target
                                                       field ("PrimaryContactEmail") or several
                                                       joined by '+' that must all match
                                                       ("OrganizationName+AddressZipCode"); a
                                                       single hit is updated instead of a new
                                                       record being created (docs/flows.md);
                                                       NULL-terminated */
    const char *const *update_fields; /* what an update of an existing target record may send:
                                         the map's fields minus its `on create` items, its key
                                         fields and, for F&O, the fields its metadata makes
                                         not editable (AllowEdit false); NULL-terminated; NULL
                                         when the flow never updates (create) */
    const char *group_by[SYNCRT_FLOW_MAX_KEYS];   /* `group by F, ...` on an F&O poll: the rows
                                                    equal on these source fields are mapped
                                                    together as one record {"value":[row,...]}
                                                    (the map is `from group of T`); the poll
                                                    is ordered by them; NULL-terminated */
    /* appended in ABI 3 (zero in descriptors generated before: no bulk write): `write OP as
     * bulk MEMBER by MAP` sends many records in one request, {"<MEMBER>":[record, ...]}, by
     * bulk_method to target_route ("Providers/Inventory/BulkUpdateInventoryForProducts");
     * run's output member is target_set (the operation's name); docs/flows.md section 2 */
    const char *bulk_member;        /* "InventoryToPush", or NULL: one request per record */
    const char *bulk_method;        /* "PUT", "POST" or "PATCH" */
} syncrt_flow_desc;

#ifdef __cplusplus
}
#endif
#endif
