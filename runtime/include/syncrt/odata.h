/* odata.h - the D365 F&O OData client pieces: literals and key URLs, query URLs, nextLink
 * paging streamed row by row in constant memory, $batch requests with changesets and the
 * parser that maps every part of the answer back to its record, and F&O error bodies.
 *
 * Facts this follows (../shared/reference/d365-facts.md): key URLs name every key field and
 * double quotes inside string literals; enums in $filter are `Namespace.Type'Member'`;
 * DateTimeOffset literals are unquoted ISO 8601; date-only values are noon UTC; the server
 * pages with an absolute `@odata.nextLink`; a $batch answer is 200 even when parts failed,
 * and a failed changeset is answered by one error response in its place; error bodies carry
 * the useful text in `error.innererror.message`. */
#ifndef SYNCRT_ODATA_H
#define SYNCRT_ODATA_H

#include <jansson.h>

#include "syncrt/auth.h"
#include "syncrt/http.h"
#include "syncrt/retry.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- literals, keys and URLs ---- */

typedef enum {
    SYNCRT_ODATA_STRING,     /* 'O''Brien' */
    SYNCRT_ODATA_NUMBER,     /* JSON number text, as is (never through a double) */
    SYNCRT_ODATA_ENUM,       /* Microsoft.Dynamics.DataEntities.NoYes'Yes' (needs enum_type) */
    SYNCRT_ODATA_DATETIME,   /* 2026-07-30T12:00:00Z, offsets and fractions allowed */
    SYNCRT_ODATA_DATE,       /* 2026-07-30 -> 2026-07-30T12:00:00Z (F&O date-only convention) */
    SYNCRT_ODATA_GUID,       /* 8-4-4-4-12 hex, unquoted */
    SYNCRT_ODATA_BOOL        /* true / false */
} syncrt_odata_kind;

/* The OData literal for value (malloc'd).  SYNCRT_EINVAL when value is not of the kind. */
syncrt_status syncrt_odata_literal(char **out, syncrt_odata_kind kind, const char *value,
                                   const char *enum_type, syncrt_error *err);

typedef struct {
    const char *name;
    const char *value;
    syncrt_odata_kind kind;
    const char *enum_type;   /* for SYNCRT_ODATA_ENUM */
} syncrt_odata_key;

/* "CustomersV3(dataAreaId='usmf',CustomerAccount='US%20001')": every key named, literals
 * percent-encoded for a path segment.  One key may be given unnamed by setting its name to
 * NULL (single-key entities). */
syncrt_status syncrt_odata_key_path(char **out, const char *entity_set, const syncrt_odata_key *keys,
                                    size_t n, syncrt_error *err);

typedef struct {
    const char *filter;      /* $filter expression, built with syncrt_odata_literal */
    const char *select;
    const char *orderby;
    const char *expand;
    long top;                /* 0: none */
    long skip;               /* 0: none */
    int count;               /* 1: $count=true */
    int cross_company;       /* 1: cross-company=true */
} syncrt_odata_query;

/* service_root (".../data") + "/" + path + "?" + the encoded options (malloc'd). */
syncrt_status syncrt_odata_url(char **out, const char *service_root, const char *path,
                               const syncrt_odata_query *q, syncrt_error *err);

/* ---- errors ---- */

typedef struct {
    char code[64];
    char message[512];       /* error.message ("An error has occurred.") */
    char inner[1024];        /* error.innererror.message: the useful text on F&O */
    char type[192];          /* error.innererror.type */
} syncrt_odata_error_info;

/* Parses an OData / F&O error body.  SYNCRT_EPARSE when it is not one (out then holds the
 * start of the raw text in message). */
syncrt_status syncrt_odata_error_parse(syncrt_odata_error_info *out, const char *body, size_t len);
/* The best text of a parsed error: inner when present, else message, else code. */
const char *syncrt_odata_error_text(const syncrt_odata_error_info *e);

/* ---- paging ---- */

/* Called once per row of `value`; the row is released after the call (json_incref to keep
 * it).  Return non-zero to stop paging (syncrt_odata_stream then returns SYNCRT_OK with
 * stats->stopped set). */
typedef int (*syncrt_odata_row_fn)(void *ctx, json_t *row);

typedef void (*syncrt_sleep_fn)(void *ctx, int64_t ms);

typedef struct {
    syncrt_http *http;                  /* required */
    syncrt_auth *auth;                  /* NULL: no credential header */
    const char *const *headers;         /* extra request headers, NULL-terminated */
    long max_page_size;                 /* > 0: Prefer: odata.maxpagesize=N */
    size_t max_row_bytes;               /* one row's text; 0: 16 MiB */
    syncrt_retry_policy policy;         /* page retries; max_attempts 0: 5 attempts, 1 s..60 s */
    uint64_t jitter_seed;
    syncrt_sleep_fn sleep;              /* NULL: nanosleep */
    void *sleep_ctx;
} syncrt_odata_pager;

typedef struct {
    size_t rows, pages, retries;
    int stopped;                        /* the row callback asked to stop */
    long last_status;                   /* HTTP status of the last page request */
    char *resume_url;                   /* on failure: the page to start again from (malloc'd) */
    syncrt_odata_error_info error;      /* on an HTTP error answer */
} syncrt_odata_page_stats;

/* GETs url and every @odata.nextLink after it, handing each row to row() as it arrives: only
 * one row's text is held at a time, whatever the page size.  Transient failures of a page
 * (GET is idempotent) are retried per the policy, honouring Retry-After exactly; a 401 gets
 * one credential refresh.  On failure stats->resume_url says where to resume.  Rows are parsed
 * by jansson, whose reals are doubles: where decimals matter use syncrt_odata_stream_text. */
syncrt_status syncrt_odata_stream(syncrt_odata_page_stats *stats, const syncrt_odata_pager *p,
                                  const char *url, syncrt_odata_row_fn row, void *ctx,
                                  syncrt_error *err);
void syncrt_odata_page_stats_clear(syncrt_odata_page_stats *stats);

/* The same, handing each row over as its JSON text (exactly as the server sent it, so
 * numbers keep every digit: the form syncrt_mrun / syncrt_mdecode of map.h take).  The text
 * is valid during the call only. */
typedef int (*syncrt_odata_row_text_fn)(void *ctx, const char *text, size_t len);
syncrt_status syncrt_odata_stream_text(syncrt_odata_page_stats *stats, const syncrt_odata_pager *p,
                                       const char *url, syncrt_odata_row_text_fn row, void *ctx,
                                       syncrt_error *err);

/* ---- $batch ---- */

typedef struct syncrt_batch syncrt_batch;

/* service_root is the absolute ".../data" URL the request lines are made absolute with. */
syncrt_status syncrt_batch_new(syncrt_batch **out, const char *service_root, syncrt_error *err);
void syncrt_batch_free(syncrt_batch *b);

/* Operations added between begin and end form one atomic changeset (writes only). */
syncrt_status syncrt_batch_changeset_begin(syncrt_batch *b, syncrt_error *err);
syncrt_status syncrt_batch_changeset_end(syncrt_batch *b, syncrt_error *err);

/* Adds one operation.  tag identifies the caller's record (e.g. the inbox id); path is
 * relative to the service root ("SalesOrderHeadersV2", or a key path), or "$<content-id>"
 * references inside a changeset; json_body may be NULL (GET, DELETE); if_match may be NULL.
 * *content_id (when not NULL) receives the operation's Content-ID (1, 2, ... in the batch). */
syncrt_status syncrt_batch_add(syncrt_batch *b, int *content_id, int64_t tag, const char *method,
                               const char *path, const char *json_body, const char *if_match,
                               syncrt_error *err);
size_t syncrt_batch_count(const syncrt_batch *b);

/* The request body and its Content-Type header value (both malloc'd). */
syncrt_status syncrt_batch_body(char **body, size_t *len, char **content_type,
                                const syncrt_batch *b, syncrt_error *err);

typedef struct {
    int64_t tag;
    int content_id;
    int changeset;           /* index of its changeset, -1 when alone */
    long status;             /* 0: no answer for this operation (treat as unknown outcome) */
    char *body;              /* the part's body, NUL-terminated ("" when none) */
    char *etag;              /* ETag header, or NULL */
    char *location;          /* Location header, or NULL */
    int changeset_failed;    /* 1: its changeset was answered by one error for all */
} syncrt_batch_result;

/* Parses the answer (content_type is the response's Content-Type header) and returns one
 * result per operation, in the order they were added.  SYNCRT_EPARSE for a body that is not
 * a multipart answer to this batch; operations the answer does not cover get status 0. */
syncrt_status syncrt_batch_parse(syncrt_batch_result **out, size_t *n, const syncrt_batch *b,
                                 const char *content_type, const char *body, size_t len,
                                 syncrt_error *err);
void syncrt_batch_results_free(syncrt_batch_result *r, size_t n);

#ifdef __cplusplus
}
#endif
#endif
