/* clarity.h - the Clarity eCommerce (CEF, ServiceStack) client pieces: paged searches (the
 * page number in Paging.StartIndex is 1-based), ModifiedSince windows with an overlap, Upsert
 * by CustomKey, Digest routes, and the {ActionSucceeded, Messages, Result} and ResponseStatus
 * answers (../shared/reference/clarity-facts.md).
 *
 * Every request goes to {root}/{route}, root being the portal's API root
 * (".../DesktopModules/ClarityEcommerce/API-Admin"), through syncrt_auth_do (one re-login on
 * a 401) with transient failures of reads retried per the policy. */
#ifndef SYNCRT_CLARITY_H
#define SYNCRT_CLARITY_H

#include <jansson.h>

#include "syncrt/auth.h"
#include "syncrt/http.h"
#include "syncrt/odata.h"
#include "syncrt/retry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    syncrt_http *http;            /* required */
    syncrt_auth *auth;            /* required (SYNCRT_AUTH_NONE is allowed) */
    const char *root;             /* the API root URL, no trailing slash needed */
    syncrt_retry_policy policy;   /* max_attempts 0: 5 attempts, 1 s..60 s */
    uint64_t jitter_seed;
    syncrt_sleep_fn sleep;        /* NULL: nanosleep */
    void *sleep_ctx;
} syncrt_clarity;

/* ServiceStack's error: {ResponseStatus: {ErrorCode, Message, Errors: [{ErrorCode, FieldName,
 * Message}]}}; messages may start with "Log ID: N." which goes to log_id. */
typedef struct {
    char code[64];
    char message[512];            /* without the "Log ID: N." prefix */
    char log_id[32];
    char fields[512];             /* "FieldName: Message; ..." of Errors[] */
} syncrt_clarity_error;

/* SYNCRT_EPARSE when body holds no ResponseStatus with an ErrorCode or Message. */
syncrt_status syncrt_clarity_error_parse(syncrt_clarity_error *out, const char *body, size_t len);

/* The answer of a write (Create, Upsert, Update, state actions). */
typedef struct {
    long status;                  /* HTTP status */
    int succeeded;                /* ActionSucceeded, and a 2xx */
    long long id;                 /* Result when it is an ID, else 0 */
    char messages[512];           /* Messages[] joined with "; " */
    syncrt_clarity_error error;   /* when the answer carried a ResponseStatus */
} syncrt_clarity_action;

/* Fills out from an answer.  SYNCRT_EPARSE when the body is not a CEF action answer. */
syncrt_status syncrt_clarity_action_parse(syncrt_clarity_action *out, long status, const char *body,
                                          size_t len);

typedef int (*syncrt_clarity_row_fn)(void *ctx, json_t *row);

typedef struct {
    long page_size;               /* Paging.Size; 0: 100 (never unpaged: CEF would return all) */
    const char *modified_since;   /* ISO 8601, or NULL */
    const char *const *params;    /* more "Name=value" filters, values URL-encoded here */
    int no_cache;                 /* 1: noCache=true (bypass CEF's GET cache) */
} syncrt_clarity_search_opts;

typedef struct {
    size_t rows, pages, retries;
    long total_count, total_pages;
    long last_status;
    long resume_page;             /* on failure: the 1-based page to start again from */
    int stopped;
    syncrt_clarity_error error;
} syncrt_clarity_search_stats;

/* GET {root}/{route}?Paging.Size=K&Paging.StartIndex=1,2,... (plus ModifiedSince and params)
 * until TotalPages (or a short page), handing each row of Results to row().  One page is held
 * in memory at a time.  row() returns non-zero to stop.  Rows are parsed by jansson, whose
 * reals are doubles: use syncrt_clarity_search_text where decimals matter. */
syncrt_status syncrt_clarity_search(syncrt_clarity_search_stats *stats, const syncrt_clarity *c,
                                    const char *route, const syncrt_clarity_search_opts *o,
                                    syncrt_clarity_row_fn row, void *ctx, syncrt_error *err);

/* The same with each row handed over as the server's JSON text (numbers keep every digit:
 * the form map.h's decoder takes); valid during the call only. */
typedef int (*syncrt_clarity_row_text_fn)(void *ctx, const char *text, size_t len);
syncrt_status syncrt_clarity_search_text(syncrt_clarity_search_stats *stats, const syncrt_clarity *c,
                                         const char *route, const syncrt_clarity_search_opts *o,
                                         syncrt_clarity_row_text_fn row, void *ctx, syncrt_error *err);

/* POST {root}/{entity_route}/Upsert with record, which must carry a non-empty CustomKey:
 * CEF matches an active row by CustomKey, so sending it twice is safe (the request is marked
 * resend_safe).  Returns SYNCRT_OK when an answer arrived; out says whether it succeeded. */
syncrt_status syncrt_clarity_upsert(syncrt_clarity_action *out, const syncrt_clarity *c,
                                    const char *entity_route, const json_t *record, syncrt_error *err);

typedef int (*syncrt_clarity_digest_fn)(void *ctx, long long id, const char *key, const json_t *hash);

/* GET {root}/{route} (e.g. "Accounts/AccountsDigest"): [{ID, Key, Hash}], one call per entry;
 * *count gets the number of entries. */
syncrt_status syncrt_clarity_digest(size_t *count, const syncrt_clarity *c, const char *route,
                                    syncrt_clarity_digest_fn fn, void *ctx, syncrt_error *err);

/* The ModifiedSince of the next poll: checkpoint (the start time of the last complete poll,
 * ISO 8601) minus overlap_ms, or initial when there is no checkpoint yet.  The overlap covers
 * clock skew and transactions that commit late with an earlier UpdatedDate; the duplicates
 * it brings are absorbed by the inbox's dedup key.  Writes ISO text into out
 * (SYNCRT_ISO_LENGTH bytes). */
syncrt_status syncrt_clarity_window_start(char *out, const char *checkpoint, int64_t overlap_ms,
                                          const char *initial, syncrt_error *err);

#ifdef __cplusplus
}
#endif
#endif
