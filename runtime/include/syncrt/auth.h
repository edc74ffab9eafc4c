/* auth.h - credentials for the two systems: OAuth2 client credentials against Entra ID for
 * D365 F&O (v1 `resource=` and v2 `scope=.../.default` forms) with a token cache that
 * refreshes ahead of expiry and once on a 401; Clarity's ServiceStack session login
 * (POST {root}/auth/identity) with re-login on a 401; HTTP Basic; a static API-key header.
 * Secrets come from environment variables or from files that only their owner can read.
 *
 * Use: before each request ask syncrt_auth_header() for the header line to send; after a
 * 401, call syncrt_auth_unauthorized() with the line that was sent: SYNCRT_OK means "a fresh
 * credential is ready, send the request once more"; SYNCRT_EAUTH means the credentials
 * themselves are refused (pause the flow, alert).  Token and login calls go through the
 * syncrt_http client given at creation (blocking).  One auth object per thread. */
#ifndef SYNCRT_AUTH_H
#define SYNCRT_AUTH_H

#include "syncrt/http.h"
#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SYNCRT_AUTH_NONE = 0,
    SYNCRT_AUTH_OAUTH2,        /* client credentials: token_url, client_id, client_secret,
                                  resource (v1) or scope (v2) */
    SYNCRT_AUTH_SESSION,       /* Clarity: login_url, username, password -> X-ss-id */
    SYNCRT_AUTH_BASIC,         /* username, password */
    SYNCRT_AUTH_API_KEY        /* api_key_header, api_key */
} syncrt_auth_kind;

typedef struct {
    syncrt_auth_kind kind;
    const char *token_url;       /* https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token */
    const char *client_id;
    const char *client_secret;
    const char *resource;        /* v1 form: resource=https://{env}.operations.dynamics.com */
    const char *scope;           /* v2 form: scope=https://{env}.operations.dynamics.com/.default */
    int64_t refresh_ahead_ms;    /* 0: 5 minutes (at most a quarter of the token's life) */
    const char *login_url;       /* {root}/auth/identity */
    const char *username;
    const char *password;
    const char *api_key_header;  /* NULL: "X-Api-Key" */
    const char *api_key;
    syncrt_clock_fn clock;       /* NULL: real time */
    void *clock_ctx;
} syncrt_auth_config;

typedef struct syncrt_auth syncrt_auth;

/* Copies every string of cfg.  http is borrowed and must outlive the auth object. */
syncrt_status syncrt_auth_new(syncrt_auth **out, syncrt_http *http, const syncrt_auth_config *cfg,
                              syncrt_error *err);
void syncrt_auth_free(syncrt_auth *a);

/* The header line to send ("Authorization: Bearer ...", "X-ss-id: ...", ...), fetching or
 * refreshing a token / logging in when needed.  *line is owned by the auth object and valid
 * until the next call on it.  NULL line with SYNCRT_OK for SYNCRT_AUTH_NONE.
 * SYNCRT_EAUTH when the server refuses the credentials; a transport status (ECONNECT,
 * ETIMEOUT, EHTTP for a 5xx/429 from the token endpoint) when it could not say. */
syncrt_status syncrt_auth_header(syncrt_auth *a, const char **line, syncrt_error *err);

/* After a 401 to a request sent with sent_line: drops the cached credential and gets a new
 * one.  SYNCRT_OK: retry the request once.  SYNCRT_EAUTH: the credential obtained after the
 * previous 401 was refused too, or the kind has nothing to refresh (Basic, API key). */
syncrt_status syncrt_auth_unauthorized(syncrt_auth *a, const char *sent_line, syncrt_error *err);

/* Sends req with the credential header added; after a 401 gets a fresh credential and sends
 * it once more (never more).  SYNCRT_OK when a response arrived (resp->status tells: a
 * second 401 is left for the caller to classify as an auth failure), SYNCRT_EAUTH when no
 * credential could be obtained, a transport status otherwise.  Release resp with
 * syncrt_http_response_clear. */
syncrt_status syncrt_auth_do(syncrt_auth *a, syncrt_http_response *resp,
                             const syncrt_http_request *req, syncrt_error *err);

/* Number of token requests / logins made so far (for tests and metrics). */
unsigned syncrt_auth_fetch_count(const syncrt_auth *a);

/* Loads a secret by reference: "env:NAME" (the variable's value) or "file:PATH" (the file's
 * content without trailing newlines).  A file readable or writable by group or others is
 * refused with SYNCRT_EPERM, as ssh does for keys; so is a missing or empty secret
 * (SYNCRT_EAUTH).  *out is malloc'd. */
syncrt_status syncrt_auth_secret_load(char **out, const char *ref, syncrt_error *err);

/* application/x-www-form-urlencoded / URL component encoding (RFC 3986 unreserved kept);
 * malloc'd, NULL on allocation failure. */
char *syncrt_url_encode(const char *s);

#ifdef __cplusplus
}
#endif
#endif
