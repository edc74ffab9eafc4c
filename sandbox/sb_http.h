/* sb_http.h - HTTP plumbing shared by the sandbox's two emulators (D365 F&O and Clarity), on top
 * of libmicrohttpd.
 *
 * Request bodies: libmicrohttpd hands a request body to the access handler in pieces.  Start
 * every access handler with
 *
 *     sb_request *rq;
 *     int st = sb_request_begin(con_cls, upload_data, upload_data_size, limit, &rq);
 *     if (st == SB_BODY_MORE) return MHD_YES;      // first call, or a body piece consumed
 *     // st == SB_BODY_DONE: rq->body (NUL-terminated, rq->len bytes) is the whole body;
 *     // rq->too_large says it went over `limit` (the excess was read and thrown away).
 *
 * and register sb_request_completed as MHD_OPTION_NOTIFY_COMPLETED so the request is freed.
 * rq->user / rq->user_free hold handler state that lives as long as the request.
 *
 * Replies: sb_reply() (bytes), sb_reply_json() (a jansson value, stolen), with extra headers as
 * a NULL-terminated list of name, value pairs.  Helpers return libmicrohttpd's MHD_Result so the
 * access handler can `return sb_reply_json(...)`.
 *
 * Every function here is thread-safe (per-request state only). */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SB_BODY_MORE = 0, SB_BODY_DONE = 1 };

typedef struct sb_request {
    char *body;            /* NUL-terminated; never NULL once DONE ("" when no body) */
    size_t len;
    size_t cap;
    size_t limit;          /* bytes kept at most */
    bool too_large;        /* the body went over limit: refuse with 413 */
    bool started;          /* the first access-handler call has happened */
    double t_start;        /* sb_now() when the request arrived */
    void *user;            /* handler state ... */
    void (*user_free)(void *user);   /* ... and how to free it (may be NULL) */
} sb_request;

/* Accumulate the body (see the top of this file).  Returns SB_BODY_MORE or SB_BODY_DONE; on
 * allocation failure the body is marked too_large (the handler answers 413/500). */
int sb_request_begin(void **con_cls, const char *upload_data, size_t *upload_data_size,
                     size_t limit, sb_request **out);

/* MHD_OPTION_NOTIFY_COMPLETED callback: frees the sb_request in *con_cls. */
void sb_request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe);

/* Reply with `len` bytes of `body` (copied), status and content type; `headers` is NULL or a
 * NULL-terminated array of name, value, name, value ... */
enum MHD_Result sb_reply(struct MHD_Connection *c, unsigned status, const char *content_type,
                         const char *body, size_t len, const char *const *headers);
/* The same, taking ownership of a malloc'd body (freed by libmicrohttpd after sending, or here
 * on failure): large responses are not copied. */
enum MHD_Result sb_reply_take(struct MHD_Connection *c, unsigned status, const char *content_type,
                              char *body, size_t len, const char *const *headers);
/* Reply with a JSON document (reference stolen; NULL gives an empty body; reals are printed
 * with 15 significant digits, so 0.3 stays 0.3). */
enum MHD_Result sb_reply_json(struct MHD_Connection *c, unsigned status, json_t *doc,
                              const char *content_type, const char *const *headers);
/* Reply with a file's contents; 500 text when it cannot be read. */
enum MHD_Result sb_reply_file(struct MHD_Connection *c, unsigned status, const char *path,
                              const char *content_type);

/* Request header / query argument (decoded by libmicrohttpd), or NULL. */
const char *sb_header(struct MHD_Connection *c, const char *name);
const char *sb_arg(struct MHD_Connection *c, const char *name);

/* Media type of a Content-Type header without parameters, lowercased into out ("" if none). */
void sb_media_type(const char *content_type, char *out, size_t outlen);
/* Value of parameter `name` (e.g. "boundary") in a header value, unquoted, into out; returns
 * false when absent. */
bool sb_header_param(const char *value, const char *name, char *out, size_t outlen);

/* Percent-decode in place ('+' is left alone unless plus_is_space); returns the new length. */
size_t sb_url_decode(char *s, bool plus_is_space);
/* Percent-encode everything but unreserved characters; malloc'd, NULL on OOM. */
char *sb_url_encode(const char *s);

/* Decode an application/x-www-form-urlencoded body into a JSON object of strings (new ref);
 * NULL on OOM.  Repeated names keep the last value. */
json_t *sb_form_decode(const char *body, size_t len);

/* Monotonic seconds, and sleeping for ms milliseconds. */
double sb_now(void);
void sb_sleep_ms(long ms);

#ifdef __cplusplus
}
#endif
#endif
