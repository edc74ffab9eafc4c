/*
 * clarity_int.h - internals shared by the Clarity emulator's files: the server structure, the
 * entity registry and the record operations (clarity_entity.c) that both the HTTP routes
 * (clarity.c) and the traffic generator use.  Not part of the sandbox's interface.
 *
 * Record operations return an HTTP status and fill *reply with the JSON body to send (a
 * {ActionSucceeded, Messages, Result} reply, a record, or a ServiceStack error).  They take the
 * store lock themselves.
 */
#ifndef SANDBOX_CLARITY_INT_H
#define SANDBOX_CLARITY_INT_H

#include <pthread.h>
#include <jansson.h>
#include <microhttpd.h>

#include "clarity.h"
#include "clarity_store.h"
#include "sb_faults.h"
#include "sb_stats.h"
#include "seed.h"
#include "traffic.h"
#include "webhook.h"

enum {
    CE_SALES = 1,   /* SalesItems / Totals / contacts: orders, invoices, returns */
    CE_ORDER = 2,   /* the sales order (state actions, payments) */
};

typedef struct centity {
    const char *module;   /* "Ordering" */
    const char *name;     /* "SalesOrder" */
    const char *plural;   /* "SalesOrders" */
    unsigned flags;
    const char *default_status; /* StatusKey of a new record, or NULL */
} centity;

extern const centity clarity_entities[];
extern const size_t clarity_n_entities;
const centity *clarity_entity_by_name(const char *name);

enum { CL_ROLE_NONE = 0, CL_ROLE_READ = 1, CL_ROLE_ADMIN = 2 };

#define CL_MAX_SESSIONS 1024

typedef struct cl_session {
    char id[24];
    char pid[24];
    char user[64];
    int role;
    int64_t last_ms;
} cl_session;

struct clarity_server {
    clarity_options opt;
    char *strings[16];        /* copies of the option strings */
    struct MHD_Daemon *daemon;
    unsigned port;
    clarity_store *store;
    webhook *wh;
    traffic *tr;
    sb_stats *stats;
    sb_faults *faults;
    seed_catalog *cat;
    char data_dir[512];
    int temp_dir;
    pthread_mutex_t sess_mu;
    cl_session sessions[CL_MAX_SESSIONS];
    seed_rng sess_rng;
    int stopping;             /* set (atomically) by clarity_server_stop: cut fault delays */
};

enum { CL_CREATE, CL_UPDATE, CL_UPSERT };

/* ServiceStack error body: {ResponseStatus:{ErrorCode, Message, Errors}} (errors stolen, may be
 * NULL).  With action != 0 the body also carries ActionSucceeded:false and Messages. */
json_t *cl_error(const char *code, const char *message, json_t *errors, int action);
/* {ActionSucceeded:true, Result:result(stolen, may be NULL)} */
json_t *cl_ok(json_t *result);
/* Remove nulls, "" and [] recursively (CEF replies omit them). */
void cl_omit_empty(json_t *v);

/* Create / Update / Upsert one record from a request body (body is not modified). */
unsigned cl_write(clarity_server *s, const centity *e, const json_t *body, int mode,
                  json_t **reply);
/* GET by ID (key == NULL) or by CustomKey. */
unsigned cl_get(clarity_server *s, const centity *e, int64_t id, const char *key, json_t **reply);
unsigned cl_exists(clarity_server *s, const centity *e, int64_t id, const char *key,
                   json_t **reply);
/* Deactivate (active 0) / Reactivate (1) / Delete (-1). */
unsigned cl_set_active(clarity_server *s, const centity *e, int64_t id, const char *key,
                       int active, json_t **reply);
/* Paged search; args is an object of lowercased parameter names -> string or JSON values. */
unsigned cl_search(clarity_server *s, const centity *e, const json_t *args, json_t **reply);
unsigned cl_digest(clarity_server *s, const centity *e, json_t **reply);
/* PATCH /Ordering/SalesOrder/{Action}/{ID} (body may be NULL). */
unsigned cl_order_action(clarity_server *s, const char *action, int64_t id, const json_t *body,
                         json_t **reply);
int cl_is_order_action(const char *action);
unsigned cl_add_payment(clarity_server *s, const json_t *body, json_t **reply);
/* Inventory provider routes. */
unsigned cl_inventory_update(clarity_server *s, const json_t *body, int bulk, json_t **reply);
unsigned cl_inventory_calculate(clarity_server *s, int64_t product_id, json_t **reply);

/* Fill an empty store from the seed catalog (no events). */
int cl_seed_store(clarity_server *s, char *err, size_t errlen);

/* traffic_submit_fn: create an order through cl_write, then pay it through cl_add_payment. */
unsigned cl_traffic_submit(void *ctx, const json_t *order, const json_t *payment, int64_t *id,
                           int *paid, char *msg, size_t msglen);

#endif
