/* config.h - the sync process's configuration file (JSON; reference in docs/operator.md).
 *
 * One file holds every setting plus optional profiles ("dev", "qa", "prod", any name): the
 * chosen profile's object is merged over the top level (objects member by member, anything
 * else replaced) before the settings are read.  Secrets are never written in the file: a
 * secret setting holds a reference, "env:NAME" or "file:PATH", resolved when it is used
 * (syncrt_config_secret), so fixing a secret file takes effect without a restart; a secret
 * file readable by group or others is refused.
 *
 * Every problem is reported as SYNCRT_EINVAL with the setting's path in err
 * ("flows.OrderToCash.retry.max_attempts: expected an integer >= 1"). */
#ifndef SYNCRT_CONFIG_H
#define SYNCRT_CONFIG_H

#include "syncrt/retry.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *name;
    int enabled;
    int webhook;                    /* take webhook events */
    int poll;                       /* poll the source */
    int64_t poll_every_ms;          /* 0: the flow's own interval */
    int64_t overlap_ms;             /* ModifiedSince overlap */
    char *poll_initial;             /* ModifiedSince of the first poll (ISO); NULL: start time */
    char *schedule;                 /* cron expression (scheduler.h) overriding the flow's; NULL */
    int has_retry;                  /* 1: retry overrides the flow's policy */
    syncrt_retry_policy retry;
    int batch_records;              /* records claimed per step */
} syncrt_config_flow;

typedef struct {
    char *profile;                  /* the profile applied, or NULL */
    char *store;                    /* SQLite file */
    /* D365 F&O */
    char *d365_url;                 /* "https://env.operations.dynamics.com" */
    char *d365_token_url;
    char *d365_client_id;
    char *d365_secret;              /* reference */
    char *d365_scope;               /* v2 form, or NULL */
    char *d365_resource;            /* v1 form, or NULL */
    int d365_max_batch_ops;         /* operations per $batch */
    int d365_concurrency;           /* adaptive concurrency ceiling */
    int d365_max_rate;              /* requests/s ceiling of the adaptive pacer; 0 = adaptive only */
    /* Clarity */
    char *clarity_root;             /* ".../DesktopModules/ClarityEcommerce/API-Admin" */
    char *clarity_auth;             /* "session", "basic", "api_key", "none" */
    char *clarity_user;
    char *clarity_password;         /* reference */
    char *clarity_api_key;          /* reference */
    long clarity_page_size;
    /* HTTP */
    char *ca_file;
    long connect_timeout_ms, total_timeout_ms;
    /* webhook receiver */
    int webhook_enabled;
    char *webhook_bind;
    unsigned webhook_port;
    char *webhook_path;
    char *webhook_secret;           /* reference */
    size_t webhook_max_body;
    /* metrics and status page (metrics.h) */
    int metrics_enabled;            /* default on */
    char *metrics_bind;             /* IPv4 address; default 127.0.0.1 */
    unsigned metrics_port;          /* default 9464; 0: the kernel picks */
    /* workers */
    int workers;
    int64_t lease_ms;
    int64_t auth_pause_ms;          /* how long a flow waits after an auth failure */
    char *log_level;                /* "debug", "info", "warn" */
    syncrt_config_flow *flows;
    size_t nflows;
} syncrt_config;

/* Reads path (JSON), applies profile (NULL: the file's "profile" member, if any). */
syncrt_status syncrt_config_load(syncrt_config **out, const char *path, const char *profile,
                                 syncrt_error *err);
/* The same from text (for tests); name is used in messages. */
syncrt_status syncrt_config_parse(syncrt_config **out, const char *text, const char *name,
                                  const char *profile, syncrt_error *err);
void syncrt_config_free(syncrt_config *c);

/* The flow's settings, or NULL when the file does not name it (then it is off). */
const syncrt_config_flow *syncrt_config_flow_get(const syncrt_config *c, const char *name);

/* Resolves a secret reference ("env:NAME", "file:PATH"); *out is malloc'd.  SYNCRT_EINVAL for
 * anything else (a secret written in the file), SYNCRT_EPERM for a file others can read,
 * SYNCRT_EAUTH for a missing or empty secret. */
syncrt_status syncrt_config_secret(char **out, const char *ref, syncrt_error *err);

#ifdef __cplusplus
}
#endif
#endif
