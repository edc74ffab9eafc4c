/* d365_batch.c - OData $batch for the D365 emulator: a multipart/mixed request of operations and
 * changesets.  Each changeset runs in one SQLite transaction (all or nothing: when one of its
 * operations fails, the changeset is rolled back and answered by that failure alone); the outer
 * response is 200 whatever the parts' statuses; Content-ID values name earlier results so a
 * later URL may start with $<id>.  CRLF and bare LF line ends are both accepted. */
#include "d365_int.h"
#include "sb_http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

typedef struct span {
    const char *p;
    size_t n;
} span;

/* Split body into the parts between --boundary delimiters.  Returns the count, -1 on a
 * malformed body; at most max parts. */
static int split_parts(const char *body, size_t len, const char *boundary, span *parts, int max)
{
    size_t bl = strlen(boundary);
    char delim[300];
    if (bl + 3 > sizeof delim)
        return -1;
    snprintf(delim, sizeof delim, "--%s", boundary);
    size_t dl = bl + 2;
    const char *end = body + len;
    const char *p = body;
    /* first delimiter: at the start or after a line end */
    const char *d = NULL;
    for (const char *q = p; q + dl <= end; q++) {
        if ((q == body || q[-1] == '\n') && memcmp(q, delim, dl) == 0) {
            d = q;
            break;
        }
    }
    if (!d)
        return -1;
    int n = 0;
    for (;;) {
        const char *after = d + dl;
        if (after + 2 <= end && after[0] == '-' && after[1] == '-')
            return n; /* closing delimiter */
        /* skip transport padding and the line end */
        while (after < end && (*after == ' ' || *after == '\t'))
            after++;
        if (after < end && *after == '\r')
            after++;
        if (after < end && *after == '\n')
            after++;
        else
            return -1;
        const char *next = NULL;
        for (const char *q = after; q + dl <= end; q++) {
            if (q[-1] == '\n' && memcmp(q, delim, dl) == 0) {
                next = q;
                break;
            }
        }
        if (!next)
            return -1;
        const char *pe = next;
        /* the line end before the delimiter belongs to it */
        if (pe > after && pe[-1] == '\n')
            pe--;
        if (pe > after && pe[-1] == '\r')
            pe--;
        if (n >= max)
            return -2;
        parts[n].p = after;
        parts[n].n = (size_t)(pe - after);
        n++;
        d = next;
    }
}

/* Read "Name: value" lines up to the blank line.  Returns the offset of the content, or -1. */
static long read_headers(span s, char names[][64], char values[][512], int *nh, int max)
{
    size_t i = 0;
    *nh = 0;
    while (i < s.n) {
        size_t le = i;
        while (le < s.n && s.p[le] != '\n')
            le++;
        size_t lend = le;
        if (lend > i && s.p[lend - 1] == '\r')
            lend--;
        if (lend == i)
            return (long)(le < s.n ? le + 1 : le);
        const char *colon = memchr(s.p + i, ':', lend - i);
        if (colon && *nh < max) {
            size_t kn = (size_t)(colon - (s.p + i));
            const char *v = colon + 1;
            while (v < s.p + lend && (*v == ' ' || *v == '\t'))
                v++;
            size_t vn = (size_t)(s.p + lend - v);
            snprintf(names[*nh], 64, "%.*s", (int)(kn < 63 ? kn : 63), s.p + i);
            snprintf(values[*nh], 512, "%.*s", (int)(vn < 511 ? vn : 511), v);
            (*nh)++;
        }
        i = le + 1;
    }
    return (long)s.n;
}

static const char *hget(char names[][64], char values[][512], int nh, const char *name)
{
    for (int i = 0; i < nh; i++)
        if (strcasecmp(names[i], name) == 0)
            return values[i];
    return NULL;
}

static const char *status_text(unsigned s)
{
    switch (s) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    default: return "Status";
    }
}

typedef struct cid_map {
    char id[64];
    char path[1024];   /* e.g. SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='X') */
} cid_map;

typedef struct batch_op {
    char method[16];
    char *url;          /* decoded path after /data/ with $n resolved, malloc'd */
    char *query;        /* raw query string, malloc'd (may be NULL) */
    char content_id[64];
    char if_match[256];
    char content_type[256];
    char prefer[128];
    const char *body;
    size_t len;
    bool bad;
    char bad_msg[256];
} batch_op;

static void batch_op_free(batch_op *o)
{
    free(o->url);
    free(o->query);
}

static void parse_op(span part, batch_op *o, const char *base_url)
{
    memset(o, 0, sizeof *o);
    char names[24][64], values[24][512];
    int nh;
    long off = read_headers(part, names, values, &nh, 24);
    const char *cid = hget(names, values, nh, "Content-ID");
    if (cid)
        snprintf(o->content_id, sizeof o->content_id, "%s", cid);
    const char *ct = hget(names, values, nh, "Content-Type");
    char mt[128];
    sb_media_type(ct, mt, sizeof mt);
    if (off < 0 || strcmp(mt, "application/http") != 0) {
        o->bad = true;
        snprintf(o->bad_msg, sizeof o->bad_msg, "A batch part must have Content-Type "
                 "application/http (got '%s').", ct ? ct : "");
        return;
    }
    span inner = { part.p + off, part.n - (size_t)off };
    /* request line */
    size_t le = 0;
    while (le < inner.n && inner.p[le] != '\n')
        le++;
    char line[2048];
    size_t ll = le;
    if (ll > 0 && inner.p[ll - 1] == '\r')
        ll--;
    snprintf(line, sizeof line, "%.*s", (int)(ll < sizeof line - 1 ? ll : sizeof line - 1), inner.p);
    char url[2048] = "", proto[32] = "";
    if (sscanf(line, "%15s %2047s %31s", o->method, url, proto) < 2) {
        o->bad = true;
        snprintf(o->bad_msg, sizeof o->bad_msg, "Malformed request line in a batch part.");
        return;
    }
    span rest = { inner.p + (le < inner.n ? le + 1 : le), inner.n - (le < inner.n ? le + 1 : le) };
    long boff = read_headers(rest, names, values, &nh, 24);
    const char *h;
    if ((h = hget(names, values, nh, "If-Match")))
        snprintf(o->if_match, sizeof o->if_match, "%s", h);
    if ((h = hget(names, values, nh, "Content-Type")))
        snprintf(o->content_type, sizeof o->content_type, "%s", h);
    if ((h = hget(names, values, nh, "Prefer")))
        snprintf(o->prefer, sizeof o->prefer, "%s", h);
    if ((h = hget(names, values, nh, "Content-ID")) && !o->content_id[0])
        snprintf(o->content_id, sizeof o->content_id, "%s", h);
    o->body = rest.p + (boff < 0 ? 0 : boff);
    o->len = rest.n - (size_t)(boff < 0 ? 0 : boff);
    /* URL: absolute, /data/..., or relative to /data/ */
    const char *u = url;
    size_t bl = strlen(base_url);
    if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) {
        const char *slash = strchr(u + (u[4] == 's' ? 8 : 7), '/');
        u = slash ? slash : "/";
        (void)bl;
    }
    if (strncmp(u, "/data/", 6) == 0)
        u += 6;
    else if (*u == '/')
        u++;
    const char *q = strchr(u, '?');
    size_t pl = q ? (size_t)(q - u) : strlen(u);
    o->url = strndup(u, pl);
    if (q)
        o->query = strdup(q + 1);
    if (o->url)
        sb_url_decode(o->url, false);
}

static void parse_query(const char *q, d365_op *op)
{
    if (!q || !*q)
        return;
    char *copy = strdup(q), *save = NULL;
    if (!copy)
        return;
    size_t cap = 0;
    for (char *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        char *val = eq ? eq + 1 : tok + strlen(tok);
        if (eq)
            *eq = '\0';
        sb_url_decode(tok, true);
        sb_url_decode(val, true);
        if (op->nargs == cap) {
            size_t nc = cap ? cap * 2 : 8;
            d365_arg *na = realloc(op->args, nc * sizeof *na);
            if (!na)
                break;
            op->args = na;
            cap = nc;
        }
        op->args[op->nargs].name = strdup(tok);
        op->args[op->nargs].value = strdup(val);
        if (!op->args[op->nargs].name || !op->args[op->nargs].value) {
            free(op->args[op->nargs].name);
            free(op->args[op->nargs].value);
            break;
        }
        op->nargs++;
    }
    free(copy);
}

static void free_op_args(d365_op *op)
{
    for (size_t i = 0; i < op->nargs; i++) {
        free(op->args[i].name);
        free(op->args[i].value);
    }
    free(op->args);
}

/* Run one batch operation (srv->mu held). */
static void run_op(d365_server *srv, batch_op *bo, cid_map *cids, int ncids, d365_resp *r)
{
    if (bo->bad || !bo->url) {
        d365_error(r, 400, D365_T_ODATA, "%s", bo->bad ? bo->bad_msg : "out of memory");
        return;
    }
    /* $<content-id> reference */
    char *path = bo->url;
    char *resolved = NULL;
    if (path[0] == '$' && isdigit((unsigned char)path[1])) {
        size_t il = 1;
        while (isalnum((unsigned char)path[il]) || path[il] == '-' || path[il] == '_')
            il++;
        const char *found = NULL;
        for (int i = 0; i < ncids; i++)
            if (strlen(cids[i].id) == il - 1 && strncmp(cids[i].id, path + 1, il - 1) == 0)
                found = cids[i].path;
        if (!found) {
            d365_error(r, 400, D365_T_ODATA, "The Content-ID reference '%.*s' does not name an "
                       "earlier operation of this changeset.", (int)il, path);
            return;
        }
        size_t n = strlen(found) + strlen(path + il) + 1;
        resolved = malloc(n);
        if (!resolved) {
            d365_error(r, 500, D365_T_ODATA, "out of memory");
            return;
        }
        snprintf(resolved, n, "%s%s", found, path + il);
        path = resolved;
    }
    d365_op op = { 0 };
    op.method = bo->method;
    op.path = path;
    parse_query(bo->query, &op);
    op.if_match = bo->if_match[0] ? bo->if_match : NULL;
    op.content_type = bo->content_type[0] ? bo->content_type : NULL;
    op.prefer = bo->prefer[0] ? bo->prefer : NULL;
    op.body = bo->body;
    op.len = bo->len;
    if (strcmp(path, "$batch") == 0 || strcmp(path, "$metadata") == 0)
        d365_error(r, 400, D365_T_ODATA, "'%s' cannot be used inside a $batch.", path);
    else
        d365_data_exec(srv, &op, r);
    free_op_args(&op);
    free(resolved);
}

static void emit_response(sbuf *out, const char *boundary, const char *content_id,
                          const d365_resp *r)
{
    sb_printf(out, "--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n",
              boundary);
    if (content_id && *content_id)
        sb_printf(out, "Content-ID: %s\r\n", content_id);
    sb_printf(out, "\r\nHTTP/1.1 %u %s\r\n", r->status, status_text(r->status));
    if (r->etag[0])
        sb_printf(out, "ETag: %s\r\n", r->etag);
    if (r->location[0])
        sb_printf(out, "Location: %s\r\n", r->location);
    sb_printf(out, "OData-Version: 4.0\r\n");
    char *body = r->json ? json_dumps(r->json, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    if (body || r->text)
        sb_printf(out, "Content-Type: %s\r\n", body || r->text_is_json
                                                    ? "application/json; odata.metadata=minimal"
                                                    : "text/plain");
    sb_put(out, "\r\n", 2);
    if (body) {
        sb_put(out, body, strlen(body));
        free(body);
    } else if (r->text) {
        sb_put(out, r->text, strlen(r->text));
    }
    sb_put(out, "\r\n", 2);
}

#define MAX_PARTS 10000

void d365_batch_exec(d365_server *srv, const char *content_type, const char *body, size_t len,
                     d365_resp *r, char **ctype_out)
{
    char mt[128], boundary[256];
    span *parts = NULL, *cparts = NULL;
    batch_op *ops = NULL;
    d365_resp *resps = NULL;
    cid_map *cids = NULL;
    sbuf out = { 0 };
    *ctype_out = NULL;
    sb_media_type(content_type, mt, sizeof mt);
    if (strcmp(mt, "multipart/mixed") != 0 ||
        !sb_header_param(content_type, "boundary", boundary, sizeof boundary)) {
        d365_error(r, 400, D365_T_ODATA, "The content type '%s' is not valid for $batch: send "
                   "multipart/mixed with a boundary.", content_type ? content_type : "(none)");
        return;
    }
    unsigned max_ops = srv->opt.max_batch_ops ? srv->opt.max_batch_ops : 100;
    parts = calloc(max_ops + 1, sizeof *parts);
    cparts = calloc(max_ops + 1, sizeof *cparts);
    ops = calloc(max_ops + 1, sizeof *ops);
    resps = calloc(max_ops + 1, sizeof *resps);
    cids = calloc(max_ops + 1, sizeof *cids);
    if (!parts || !cparts || !ops || !resps || !cids) {
        d365_error(r, 500, D365_T_ODATA, "out of memory");
        goto out;
    }
    int np = split_parts(body, len, boundary, parts, (int)max_ops);
    if (np == -2) {
        d365_error(r, 400, D365_T_ODATA, "The $batch holds more than the %u operations allowed.",
                   max_ops);
        goto out;
    }
    if (np < 0) {
        d365_error(r, 400, D365_T_ODATA, "The $batch body is not a valid multipart/mixed "
                   "document for boundary '%s'.", boundary);
        goto out;
    }
    /* count operations first so the limit holds across changesets */
    unsigned total_ops = 0;
    for (int i = 0; i < np; i++) {
        char names[8][64], values[8][512];
        int nh;
        read_headers(parts[i], names, values, &nh, 8);
        const char *ct = hget(names, values, nh, "Content-Type");
        char pm[128], cb[256];
        sb_media_type(ct, pm, sizeof pm);
        if (strcmp(pm, "multipart/mixed") == 0 && sb_header_param(ct, "boundary", cb, sizeof cb)) {
            long off = read_headers(parts[i], names, values, &nh, 8);
            span inner = { parts[i].p + off, parts[i].n - (size_t)off };
            int nc = split_parts(inner.p, inner.n, cb, cparts, (int)max_ops);
            total_ops += nc > 0 ? (unsigned)nc : 1;
        } else {
            total_ops++;
        }
    }
    if (total_ops > max_ops) {
        d365_error(r, 400, D365_T_ODATA, "The $batch holds %u operations; at most %u are allowed.",
                   total_ops, max_ops);
        goto out;
    }

    char rb[96];
    snprintf(rb, sizeof rb, "batchresponse_%08llx", (unsigned long long)(sb_now() * 1e6) & 0xffffffffull);
    pthread_mutex_lock(&srv->mu);
    int ncids = 0;
    for (int i = 0; i < np; i++) {
        char names[8][64], values[8][512];
        int nh;
        long off = read_headers(parts[i], names, values, &nh, 8);
        const char *ct = hget(names, values, nh, "Content-Type");
        char pm[128], cb[256];
        sb_media_type(ct, pm, sizeof pm);
        if (strcmp(pm, "multipart/mixed") == 0 && sb_header_param(ct, "boundary", cb, sizeof cb)) {
            span inner = { parts[i].p + off, parts[i].n - (size_t)off };
            int nc = split_parts(inner.p, inner.n, cb, cparts, (int)max_ops);
            if (nc < 0) {
                d365_resp er = { 0 };
                d365_error(&er, 400, D365_T_ODATA, "The changeset is not a valid multipart/mixed "
                           "document for boundary '%s'.", cb);
                emit_response(&out, rb, NULL, &er);
                d365_resp_clear(&er);
                continue;
            }
            /* one transaction for the changeset */
            int failed = -1;
            bool began = d365_store_begin(srv) == 0;
            int first_cid = ncids;
            for (int k = 0; k < nc; k++) {
                parse_op(cparts[k], &ops[k], srv->base_url);
                memset(&resps[k], 0, sizeof resps[k]);
                if (!began) {
                    d365_error(&resps[k], 503, D365_T_ODATA, "The store is busy.");
                } else {
                    run_op(srv, &ops[k], cids, ncids, &resps[k]);
                }
                if (resps[k].status >= 400) {
                    failed = k;
                    break;
                }
                if (ops[k].content_id[0] && resps[k].location[0] && ncids < (int)max_ops) {
                    snprintf(cids[ncids].id, sizeof cids[ncids].id, "%s", ops[k].content_id);
                    const char *loc = resps[k].location;
                    const char *d = strstr(loc, "/data/");
                    snprintf(cids[ncids].path, sizeof cids[ncids].path, "%s", d ? d + 6 : loc);
                    sb_url_decode(cids[ncids].path, false);
                    ncids++;
                }
            }
            if (failed >= 0 || !began) {
                if (began)
                    d365_store_rollback(srv);
                ncids = first_cid;
                int k = failed >= 0 ? failed : 0;
                emit_response(&out, rb, ops[k].content_id, &resps[k]);
            } else if (d365_store_commit(srv) != 0) {
                d365_store_rollback(srv);
                ncids = first_cid;
                d365_resp er = { 0 };
                d365_error(&er, 500, D365_T_WRITE, "The changeset could not be committed.");
                emit_response(&out, rb, NULL, &er);
                d365_resp_clear(&er);
            } else {
                char csb[200];
                snprintf(csb, sizeof csb, "changesetresponse_%d_%s", i, rb + 14);
                sb_printf(&out, "--%s\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", rb, csb);
                for (int k = 0; k < nc; k++)
                    emit_response(&out, csb, ops[k].content_id, &resps[k]);
                sb_printf(&out, "--%s--\r\n", csb);
            }
            int upto = failed >= 0 ? failed + 1 : nc;
            for (int k = 0; k < upto && k < nc; k++) {
                batch_op_free(&ops[k]);
                d365_resp_clear(&resps[k]);
            }
        } else {
            batch_op bo;
            d365_resp pr = { 0 };
            parse_op(parts[i], &bo, srv->base_url);
            bool write = d365_is_write(bo.method);
            if (write && d365_store_begin(srv) != 0) {
                d365_error(&pr, 503, D365_T_ODATA, "The store is busy.");
            } else {
                run_op(srv, &bo, cids, ncids, &pr);
                if (write) {
                    if (pr.status < 400 && d365_store_commit(srv) == 0) {
                    } else {
                        d365_store_rollback(srv);
                    }
                }
            }
            emit_response(&out, rb, bo.content_id, &pr);
            batch_op_free(&bo);
            d365_resp_clear(&pr);
        }
    }
    pthread_mutex_unlock(&srv->mu);
    sb_printf(&out, "--%s--\r\n", rb);
    if (out.oom) {
        d365_error(r, 500, D365_T_ODATA, "out of memory");
        goto out;
    }
    r->status = 200;
    r->text = out.p ? out.p : strdup("");
    out.p = NULL;
    size_t cl = strlen(rb) + 40;
    *ctype_out = malloc(cl);
    if (*ctype_out)
        snprintf(*ctype_out, cl, "multipart/mixed; boundary=%s", rb);
out:
    free(out.p);
    free(parts);
    free(cparts);
    free(ops);
    free(resps);
    free(cids);
}
