/* sb_http.c - request body accumulation, replies and small HTTP text helpers for the sandbox's
 * emulators (see sb_http.h). */
#include "sb_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double sb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sb_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int sb_request_begin(void **con_cls, const char *upload_data, size_t *upload_data_size,
                     size_t limit, sb_request **out)
{
    sb_request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return SB_BODY_MORE; /* MHD calls again; nothing else we can do */
        rq->limit = limit;
        rq->t_start = sb_now();
        *con_cls = rq;
        *out = rq;
        return SB_BODY_MORE;
    }
    *out = rq;
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_large)
            return SB_BODY_MORE;
        if (rq->len + n > rq->limit) {
            rq->too_large = true;
            return SB_BODY_MORE;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 1024;
            while (cap < rq->len + n + 1)
                cap *= 2;
            char *b = realloc(rq->body, cap);
            if (!b) {
                rq->too_large = true;
                return SB_BODY_MORE;
            }
            rq->body = b;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return SB_BODY_MORE;
    }
    if (!rq->body) {
        rq->body = malloc(1);
        if (!rq->body) {
            rq->too_large = true;
            static char empty[1];
            rq->body = empty;
            rq->cap = 0; /* marks the static buffer: never freed */
            return SB_BODY_DONE;
        }
        rq->body[0] = '\0';
        rq->cap = 1;
    }
    rq->started = true;
    return SB_BODY_DONE;
}

void sb_request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    sb_request *rq = *con_cls;
    if (!rq)
        return;
    if (rq->user && rq->user_free)
        rq->user_free(rq->user);
    if (rq->cap)
        free(rq->body);
    free(rq);
    *con_cls = NULL;
}

enum MHD_Result sb_reply(struct MHD_Connection *c, unsigned status, const char *content_type,
                         const char *body, size_t len, const char *const *headers)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result sb_reply_take(struct MHD_Connection *c, unsigned status, const char *content_type,
                              char *body, size_t len, const char *const *headers)
{
    struct MHD_Response *r = body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
                                  : MHD_create_response_from_buffer(0, (void *)"",
                                                                    MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result sb_reply_json(struct MHD_Connection *c, unsigned status, json_t *doc,
                              const char *content_type, const char *const *headers)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(doc);
    if (!content_type)
        content_type = "application/json; charset=utf-8";
    struct MHD_Response *r = MHD_create_response_from_buffer(
        text ? strlen(text) : 0, text ? text : (void *)"", text ? MHD_RESPMEM_MUST_FREE
                                                               : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result sb_reply_file(struct MHD_Connection *c, unsigned status, const char *path,
                              const char *content_type)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        static const char msg[] = "cannot read file\n";
        return sb_reply(c, 500, "text/plain", msg, sizeof msg - 1, NULL);
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (len + n > cap) {
            size_t nc = cap ? cap * 2 : 131072;
            while (nc < len + n)
                nc *= 2;
            char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return sb_reply(c, 500, "text/plain", "out of memory\n", 14, NULL);
            }
            buf = nb;
            cap = nc;
        }
        memcpy(buf + len, tmp, n);
        len += n;
    }
    fclose(f);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, buf ? (void *)buf : (void *)"", buf ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

const char *sb_header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

const char *sb_arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

void sb_media_type(const char *ct, char *out, size_t outlen)
{
    size_t n = 0;
    if (!outlen)
        return;
    if (ct) {
        while (*ct == ' ' || *ct == '\t')
            ct++;
        while (*ct && *ct != ';' && *ct != ' ' && n + 1 < outlen)
            out[n++] = (char)tolower((unsigned char)*ct++);
    }
    out[n] = '\0';
}

bool sb_header_param(const char *value, const char *name, char *out, size_t outlen)
{
    if (!value || !outlen)
        return false;
    size_t nl = strlen(name);
    const char *p = strchr(value, ';');
    while (p) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == '=') {
            p += nl + 1;
            size_t n = 0;
            if (*p == '"') {
                p++;
                while (*p && *p != '"' && n + 1 < outlen)
                    out[n++] = *p++;
            } else {
                while (*p && *p != ';' && *p != ' ' && n + 1 < outlen)
                    out[n++] = *p++;
            }
            out[n] = '\0';
            return n > 0;
        }
        p = strchr(p, ';');
    }
    return false;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

size_t sb_url_decode(char *s, bool plus_is_space)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '%' && hexval((unsigned char)r[1]) >= 0 && hexval((unsigned char)r[2]) >= 0) {
            *w++ = (char)(hexval((unsigned char)r[1]) * 16 + hexval((unsigned char)r[2]));
            r += 2;
        } else if (*r == '+' && plus_is_space) {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

char *sb_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *w = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == '$') {
            *w++ = (char)*p;
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return out;
}

json_t *sb_form_decode(const char *body, size_t len)
{
    json_t *o = json_object();
    char *copy = malloc(len + 1);
    if (!o || !copy) {
        json_decref(o);
        free(copy);
        return NULL;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        const char *val = "";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
            sb_url_decode(eq + 1, true);
        }
        sb_url_decode(tok, true);
        if (*tok)
            json_object_set_new(o, tok, json_string(val));
    }
    free(copy);
    return o;
}
