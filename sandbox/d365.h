/* d365.h - the Dynamics 365 Finance & Operations emulator of the sandbox.
 *
 * One HTTP server on 127.0.0.1 (libmicrohttpd, a thread per connection) that behaves like an
 * F&O environment's OData endpoint as described in ../shared/reference/d365-facts.md:
 *   POST /{tenant}/oauth2/v2.0/token   client credentials, scope=<audience>/.default
 *   POST /{tenant}/oauth2/token        client credentials, resource=<audience>
 *   GET  /data/$metadata               the --metadata file
 *   /data/{EntitySet}[(key)]           every entity set of the metadata, generically (GET with
 *                                      $filter $select $top $skip $orderby $count $expand,
 *                                      POST, PATCH, PUT, DELETE), stored in SQLite
 *   GET  /data/{EntitySet}/$count      the count as text
 *   POST /data/$batch                  multipart/mixed with atomic changesets
 * plus the control routes (no token needed):
 *   GET  /_sandbox/health              {"status":"ok", ...}
 *   GET|DELETE /_sandbox/stats         requests per route, method and status; DELETE resets
 *   GET|PUT|DELETE /_sandbox/faults    fault settings (sb_faults.h); DELETE clears
 *   POST /_sandbox/revoke[?token=T]    revoke one token or every token issued so far
 *   POST /_sandbox/expire              make every issued token expired
 *   POST /_sandbox/ship?order=SO[&company=usmf]     deliver an order (packing slip, tracking)
 *   POST /_sandbox/invoice?order=SO[&company=usmf]  invoice a delivered order
 *   POST /_sandbox/return?order=SO[&company=usmf]   create a return order for an order
 *
 * The --config FILE is a JSON object: {"faults": {... sb_faults.h ...}, "token_lifetime": 3599,
 * "page_size": 10000, "max_body": 4194304, "max_batch_ops": 100, "credit_check": true}.
 *
 * Status convention: 0 success, -1 failure with a message in err; nothing prints. */
#ifndef SANDBOX_D365_H
#define SANDBOX_D365_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define D365_DEFAULT_PORT 7365

typedef struct d365_options {
    unsigned port;              /* 7365; 0 = let the kernel choose (see d365_server_port) */
    const char *metadata;       /* "specs/d365/metadata.xml" */
    const char *data_dir;       /* NULL: a temporary directory removed on stop */
    const char *config;         /* NULL: no config file */
    unsigned page_size;         /* 10000 */
    uint64_t seed;              /* 1: the seed.h catalog the data starts from */
    const char *tenant;         /* "sandbox" */
    const char *client_id;      /* "sync-client" */
    const char *client_secret;  /* "sync-secret" */
    const char *audience;       /* NULL: http://127.0.0.1:PORT (and localhost) */
    unsigned token_lifetime;    /* 3599 seconds */
    size_t max_body;            /* 4 MiB; larger bodies get 413 */
    unsigned max_batch_ops;     /* 100 operations per $batch */
    bool credit_check;          /* true: refuse orders over the customer's credit limit */
    unsigned extra_skus;        /* 0: extra released products "X000001".. in usmf, one on-hand
                                 * row each (warehouse 11), for the inventory benchmark */
    bool orderby;               /* true: collections are sorted by $orderby; false: it is
                                 * accepted and ignored (rows in insertion order), as a server
                                 * that does not sort, for tests of clients that rely on it */
} d365_options;

typedef struct d365_server d365_server;

void d365_options_init(d365_options *o);
/* Map one command-line option (e.g. "--d365-port", "--page-size") and its value onto *o;
 * value is kept by pointer.  Returns 0 when applied, 1 when not a D365 option, -1 when the
 * value is invalid (message in err). */
int d365_options_set(d365_options *o, const char *name, const char *value, char *err,
                     size_t errlen);
const char *d365_options_help(void);

int d365_server_start(d365_server **out, const d365_options *opt, char *err, size_t errlen);
unsigned d365_server_port(const d365_server *s);
void d365_server_stop(d365_server *s);

#endif
