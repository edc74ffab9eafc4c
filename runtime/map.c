/* map.c - the generic engine behind generated mappers (see syncrt/map.h): the per-record
 * arena and problem list, the output buffer, the JSON decoder (our own reader over the input
 * text, so numbers keep their exact text and strings without escapes are not copied), the
 * validator of mapped targets and the JSON encoder in F&O or Clarity style. */
#include "syncrt/map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena and problems */

struct syncrt_mchunk {
    syncrt_mchunk *next;
    size_t used, cap;
    max_align_t data[];
};

#define CHUNK_MIN 16384

void syncrt_mctx_init(syncrt_mctx *c)
{
    memset(c, 0, sizeof *c);
    c->max_errors = 100;
}

void syncrt_mctx_reset(syncrt_mctx *c)
{
    syncrt_mchunk *ch = c->chunks;
    if (ch) {
        syncrt_mchunk *n = ch->next;
        while (n) {
            syncrt_mchunk *nn = n->next;
            free(n);
            n = nn;
        }
        ch->next = NULL;
        ch->used = 0;
    }
    c->nerrors = 0;
    c->dropped = 0;
    c->oom = false;
    c->prefix = NULL;
    c->filtered = NULL;
    c->nnotes = 0;
}

void syncrt_mctx_free(syncrt_mctx *c)
{
    syncrt_mctx_reset(c);
    free(c->chunks);
    free(c->errors);
    free(c->notes);
    c->chunks = NULL;
    c->errors = NULL;
    c->caperrors = 0;
    c->notes = NULL;
    c->capnotes = 0;
}

void *syncrt_mctx_alloc(syncrt_mctx *c, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0)
        n = sizeof(max_align_t);
    syncrt_mchunk *ch = c->chunks;
    if (!ch || ch->cap - ch->used < n) {
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        syncrt_mchunk *nc = malloc(sizeof *nc + cap);
        if (!nc) {
            c->oom = true;
            return NULL;
        }
        nc->used = 0;
        nc->cap = cap;
        nc->next = ch;
        c->chunks = nc;
        ch = nc;
    }
    char *p = (char *)ch->data + ch->used;
    ch->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(syncrt_mctx *c, const char *s, size_t n)
{
    char *p = syncrt_mctx_alloc(c, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static void add_error(syncrt_mctx *c, const char *path0, const char *msg)
{
    char pbuf[600];
    const char *path = path0;
    if (c->prefix) {
        snprintf(pbuf, sizeof pbuf, "%s%s%s", c->prefix, *path0 ? ": " : "", path0);
        path = pbuf;
    }
    for (size_t i = 0; i < c->nerrors; i++)   /* the same problem twice is one problem */
        if (!strcmp(c->errors[i].path, path) && !strcmp(c->errors[i].message, msg))
            return;
    if (c->nerrors >= c->max_errors) {
        c->dropped++;
        return;
    }
    if (c->nerrors == c->caperrors) {
        size_t cap = c->caperrors ? c->caperrors * 2 : 8;
        syncrt_merror *e = realloc(c->errors, cap * sizeof *e);
        if (!e) {
            c->oom = true;
            return;
        }
        c->errors = e;
        c->caperrors = cap;
    }
    char *p = arena_strndup(c, path, strlen(path));
    char *m = arena_strndup(c, msg, strlen(msg));
    if (!p || !m)
        return;
    c->errors[c->nerrors].path = p;
    c->errors[c->nerrors].message = m;
    c->nerrors++;
}

void syncrt_mctx_error(syncrt_mctx *c, const char *path, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    add_error(c, path ? path : "", msg);
}

size_t syncrt_mctx_error_count(const syncrt_mctx *c) { return c->nerrors; }

static const char *merror_text(syncrt_mctx *c, const syncrt_merror *e);

const char *syncrt_mctx_error_text(syncrt_mctx *c, size_t i)
{
    return i < c->nerrors ? merror_text(c, &c->errors[i]) : NULL;
}

/* A note (what a where left out): "PREFIX: MAP", "filtered: TEXT"; at most max_errors. */
static void add_note(syncrt_mctx *c, const char *map, const char *text)
{
    char pbuf[600];
    snprintf(pbuf, sizeof pbuf, "%s%s%s", c->prefix ? c->prefix : "", c->prefix ? ": " : "", map);
    if (c->nnotes >= c->max_errors)
        return;
    if (c->nnotes == c->capnotes) {
        size_t cap = c->capnotes ? c->capnotes * 2 : 8;
        syncrt_merror *e = realloc(c->notes, cap * sizeof *e);
        if (!e) {
            c->oom = true;
            return;
        }
        c->notes = e;
        c->capnotes = cap;
    }
    size_t lt = strlen(text);
    char *p = arena_strndup(c, pbuf, strlen(pbuf));
    char *m = syncrt_mctx_alloc(c, lt + sizeof "filtered: ");
    if (!p || !m)
        return;
    memcpy(m, "filtered: ", 10);
    memcpy(m + 10, text, lt + 1);
    c->notes[c->nnotes].path = p;
    c->notes[c->nnotes].message = m;
    c->nnotes++;
}

size_t syncrt_mctx_note_count(const syncrt_mctx *c) { return c->nnotes; }

const char *syncrt_mctx_note_text(syncrt_mctx *c, size_t i)
{
    return i < c->nnotes ? merror_text(c, &c->notes[i]) : NULL;
}

int syncrt_fn_where(syncrt_mctx *c, syncrt_mv cond, const char *map, const char *text)
{
    if (syncrt_mv_true(cond))
        return 1;
    c->filtered = text;
    add_note(c, map, text);
    return 0;
}

static const char *merror_text(syncrt_mctx *c, const syncrt_merror *e)
{
    size_t lp = strlen(e->path), lm = strlen(e->message);
    if (!lp)
        return e->message;
    char *s = syncrt_mctx_alloc(c, lp + lm + 3);
    if (!s)
        return e->message;
    memcpy(s, e->path, lp);
    memcpy(s + lp, ": ", 2);
    memcpy(s + lp + 2, e->message, lm + 1);
    return s;
}

/* ---------------------------------------------------------------- output buffer */

void syncrt_mbuf_init(syncrt_mbuf *b) { memset(b, 0, sizeof *b); }

void syncrt_mbuf_free(syncrt_mbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void syncrt_mbuf_put(syncrt_mbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put_s(syncrt_mbuf *b, const char *s) { syncrt_mbuf_put(b, s, strlen(s)); }

/* ---------------------------------------------------------------- dates */

syncrt_date syncrt_date_from_ymd(int y, int m, int d)
{
    /* days from civil (Howard Hinnant's algorithm, public domain description) */
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (syncrt_date)(era * 146097 + (int)doe - 719468);
}

void syncrt_date_to_ymd(syncrt_date z0, int *y, int *m, int *d)
{
    long z = (long)z0 + 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = (long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

/* ---------------------------------------------------------------- JSON reader */

typedef struct reader {
    syncrt_mctx *c;
    const char *s, *p, *end;
    char path[512];
    size_t plen;
    bool fatal;          /* a syntax error: stop */
} reader;

static void rerr(reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rerr(reader *r, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    add_error(r->c, r->path, msg);
}

static void syntax(reader *r, const char *what)
{
    if (r->fatal)
        return;
    r->fatal = true;
    if (r->p >= r->end)
        rerr(r, "invalid JSON: %s, got end of input", what);
    else
        rerr(r, "invalid JSON at byte %zu: %s, got '%c'", (size_t)(r->p - r->s), what,
             (*r->p >= 32 && *r->p < 127) ? *r->p : '?');
}

static void ws(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r'))
        r->p++;
}

static size_t path_push_key(reader *r, const char *k, size_t n)
{
    size_t old = r->plen;
    if (n > sizeof r->path - r->plen - 2)
        n = sizeof r->path - r->plen - 2;
    r->path[r->plen] = '.';
    memcpy(r->path + r->plen + 1, k, n);
    r->plen += n + 1;
    r->path[r->plen] = 0;
    return old;
}

static size_t path_push_index(reader *r, size_t i)
{
    size_t old = r->plen;
    char digits[24];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    if ((size_t)nd + 3 > sizeof r->path - r->plen)
        return old;
    r->path[r->plen++] = '[';
    while (nd)
        r->path[r->plen++] = digits[--nd];
    r->path[r->plen++] = ']';
    r->path[r->plen] = 0;
    return old;
}

static void path_pop(reader *r, size_t old)
{
    r->plen = old;
    r->path[old] = 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* At '"': read a string; *out points into the input when it has no escapes. */
static bool read_string(reader *r, syncrt_str *out)
{
    const char *start = ++r->p;
    bool esc = false;
    while (r->p < r->end && *r->p != '"') {
        if (*r->p == '\\') {
            esc = true;
            r->p++;
            if (r->p >= r->end)
                break;
        } else if ((unsigned char)*r->p < 0x20) {
            syntax(r, "control character in a string");
            return false;
        }
        r->p++;
    }
    if (r->p >= r->end) {
        syntax(r, "unterminated string");
        return false;
    }
    const char *stop = r->p++;
    if (!esc) {
        out->p = start;
        out->n = (size_t)(stop - start);
        return true;
    }
    char *o = syncrt_mctx_alloc(r->c, (size_t)(stop - start) + 1);
    if (!o)
        return false;
    size_t n = 0;
    for (const char *q = start; q < stop; q++) {
        if (*q != '\\') {
            o[n++] = *q;
            continue;
        }
        q++;
        switch (*q) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp = 0;
            for (int k = 1; k <= 4; k++) {
                int h = q + k < stop ? hexval(q[k]) : -1;
                if (h < 0) {
                    r->p = q;
                    syntax(r, "bad \\u escape");
                    return false;
                }
                cp = cp * 16 + (unsigned)h;
            }
            q += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && q + 6 < stop + 0 + 1 && q[1] == '\\' && q[2] == 'u') {
                unsigned lo = 0;
                bool ok = true;
                for (int k = 3; k <= 6; k++) {
                    int h = q + k < stop ? hexval(q[k]) : -1;
                    if (h < 0) { ok = false; break; }
                    lo = lo * 16 + (unsigned)h;
                }
                if (ok && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    q += 6;
                }
            }
            n += (size_t)put_utf8(o + n, cp);
            break;
        }
        default:
            r->p = q;
            syntax(r, "bad escape");
            return false;
        }
    }
    out->p = o;
    out->n = n;
    return true;
}

/* At a number: its text span. */
static bool read_number(reader *r, const char **s, size_t *n)
{
    const char *q = r->p;
    if (q < r->end && *q == '-')
        q++;
    if (q >= r->end || *q < '0' || *q > '9') {
        syntax(r, "expected a value");
        return false;
    }
    if (*q == '0')
        q++;
    else
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    if (q < r->end && *q == '.') {
        q++;
        if (q >= r->end || *q < '0' || *q > '9') {
            r->p = q;
            syntax(r, "expected a digit");
            return false;
        }
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < r->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < r->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= r->end || *q < '0' || *q > '9') {
            r->p = q;
            syntax(r, "expected a digit");
            return false;
        }
        while (q < r->end && *q >= '0' && *q <= '9')
            q++;
    }
    *s = r->p;
    *n = (size_t)(q - r->p);
    r->p = q;
    return true;
}

static bool lit(reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) >= n && !memcmp(r->p, word, n)) {
        r->p += n;
        return true;
    }
    syntax(r, "expected a value");
    return false;
}

/* Validate and skip one value. */
static bool skip_value(reader *r, int depth)
{
    ws(r);
    if (r->p >= r->end) {
        syntax(r, "expected a value");
        return false;
    }
    if (depth > 200) {
        syntax(r, "nesting deeper than 200");
        return false;
    }
    syncrt_str s;
    const char *t;
    size_t n;
    switch (*r->p) {
    case '"': return read_string(r, &s);
    case 't': return lit(r, "true");
    case 'f': return lit(r, "false");
    case 'n': return lit(r, "null");
    case '{':
        r->p++;
        ws(r);
        if (r->p < r->end && *r->p == '}') { r->p++; return true; }
        for (;;) {
            ws(r);
            if (r->p >= r->end || *r->p != '"') { syntax(r, "expected a member name"); return false; }
            if (!read_string(r, &s)) return false;
            ws(r);
            if (r->p >= r->end || *r->p != ':') { syntax(r, "expected ':'"); return false; }
            r->p++;
            if (!skip_value(r, depth + 1)) return false;
            ws(r);
            if (r->p < r->end && *r->p == ',') { r->p++; continue; }
            if (r->p < r->end && *r->p == '}') { r->p++; return true; }
            syntax(r, "expected ',' or '}'");
            return false;
        }
    case '[':
        r->p++;
        ws(r);
        if (r->p < r->end && *r->p == ']') { r->p++; return true; }
        for (;;) {
            if (!skip_value(r, depth + 1)) return false;
            ws(r);
            if (r->p < r->end && *r->p == ',') { r->p++; continue; }
            if (r->p < r->end && *r->p == ']') { r->p++; return true; }
            syntax(r, "expected ',' or ']'");
            return false;
        }
    default:
        return read_number(r, &t, &n);
    }
}

static const char *kind_expect(const syncrt_mfield *f, int kind)
{
    switch (kind) {
    case SYNCRT_MK_STRING: return "string";
    case SYNCRT_MK_INT: return "integer";
    case SYNCRT_MK_DECIMAL: return "number";
    case SYNCRT_MK_BOOL: return "boolean";
    case SYNCRT_MK_DATE: return "date string (YYYY-MM-DD)";
    case SYNCRT_MK_DATETIME: return "date-time string (ISO-8601)";
    case SYNCRT_MK_ENUM: return "string";
    case SYNCRT_MK_OBJECT: return "object";
    case SYNCRT_MK_LIST: return "array";
    default: (void)f; return "value";
    }
}

/* Describe the value at r->p and skip it ("string \"abc\"", "number 12", "object"). */
static void got_value(reader *r, char *buf, size_t size)
{
    ws(r);
    const char *start = r->p;
    if (r->p >= r->end) {
        snprintf(buf, size, "end of input");
        return;
    }
    char c0 = *r->p;
    if (!skip_value(r, 0)) {
        snprintf(buf, size, "invalid JSON");
        return;
    }
    size_t n = (size_t)(r->p - start);
    switch (c0) {
    case '"': snprintf(buf, size, "string %.*s%s", (int)(n > 42 ? 41 : n), start, n > 42 ? "...\"" : ""); break;
    case '{': snprintf(buf, size, "object"); break;
    case '[': snprintf(buf, size, "array"); break;
    case 't': case 'f': snprintf(buf, size, "boolean %.*s", (int)n, start); break;
    case 'n': snprintf(buf, size, "null"); break;
    default: snprintf(buf, size, "number %.*s", (int)(n > 40 ? 40 : n), start); break;
    }
}

static void mismatch(reader *r, const syncrt_mfield *f, int kind)
{
    char got[80];
    got_value(r, got, sizeof got);
    if (!r->fatal)
        rerr(r, "expected %s, got %s", kind_expect(f, kind), got);
}

/* Parse "YYYY-MM-DD" into days; returns chars used or 0. */
static size_t parse_ymd(const char *s, size_t n, syncrt_date *out)
{
    if (n < 10 || s[4] != '-' || s[7] != '-')
        return 0;
    int v[8];
    static const int pos[8] = {0, 1, 2, 3, 5, 6, 8, 9};
    for (int i = 0; i < 8; i++) {
        char ch = s[pos[i]];
        if (ch < '0' || ch > '9')
            return 0;
        v[i] = ch - '0';
    }
    int y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3], m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    *out = syncrt_date_from_ymd(y, m, d);
    return 10;
}

static int two(const char *s) { return (s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9') ? (s[0] - '0') * 10 + s[1] - '0' : -1; }

/* ISO-8601: date, or date 'T'|' ' HH:MM[:SS[.fff]] [Z|+hh:mm|-hh:mm]; no zone means UTC.
 * *date_only tells a bare date.  Returns false when malformed. */
bool syncrt_parse_iso(const char *s, size_t n, syncrt_datetime *out, syncrt_date *local_date,
                      bool *date_only)
{
    syncrt_date d;
    if (parse_ymd(s, n, &d) != 10)
        return false;
    *local_date = d;
    if (n == 10) {
        *date_only = true;
        *out = (int64_t)d * 86400000;
        return true;
    }
    *date_only = false;
    if (n < 16 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':')
        return false;
    int hh = two(s + 11), mm = two(s + 14), ss = 0, ms = 0;
    size_t i = 16;
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
        return false;
    if (i < n && s[i] == ':') {
        if (i + 3 > n || (ss = two(s + i + 1)) < 0 || ss > 60)
            return false;
        i += 3;
        if (i < n && s[i] == '.') {
            i++;
            int digits = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                if (digits < 3)
                    ms = ms * 10 + (s[i] - '0');
                digits++;
                i++;
            }
            if (!digits)
                return false;
            for (; digits < 3; digits++)
                ms *= 10;
        }
    }
    int off = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        if (i + 6 > n || s[i + 3] != ':')
            return false;
        int oh = two(s + i + 1), om = two(s + i + 4);
        if (oh < 0 || om < 0 || oh > 23 || om > 59)
            return false;
        off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    }
    if (i != n)
        return false;
    *out = ((int64_t)d * 86400 + hh * 3600 + mm * 60 + ss - off * 60) * 1000 + ms;
    return true;
}

static bool enum_member(const syncrt_mfield *f, syncrt_str s)
{
    for (size_t i = 0; i < f->nmembers; i++)
        if (strlen(f->members[i]) == s.n && !memcmp(f->members[i], s.p, s.n))
            return true;
    return false;
}

static void enum_error(syncrt_mctx *c, const char *path, const syncrt_mfield *f, syncrt_str s)
{
    char list[300];
    size_t o = 0;
    list[0] = 0;
    for (size_t i = 0; i < f->nmembers && o < sizeof list - 40; i++) {
        int w = snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", f->members[i]);
        if (w > 0)
            o += (size_t)w;
    }
    if (o >= sizeof list - 40)
        snprintf(list + o, sizeof list - o, ", ...");
    syncrt_mctx_error(c, path, "\"%.*s\" is not a member of %s (%s)", (int)(s.n > 60 ? 60 : s.n),
                      s.p, f->enum_name ? f->enum_name : "the enum", list);
}

static bool decode_object(reader *r, const syncrt_mtype *t, void *obj, int depth);

/* Decode one value of kind into dst (value storage); true when stored. */
static bool decode_scalar(reader *r, const syncrt_mfield *f, int kind, void *dst, int depth)
{
    ws(r);
    if (r->p >= r->end) {
        syntax(r, "expected a value");
        return false;
    }
    char ch = *r->p;
    switch (kind) {
    case SYNCRT_MK_STRING:
    case SYNCRT_MK_ENUM:
    case SYNCRT_MK_DATE:
    case SYNCRT_MK_DATETIME: {
        if (ch != '"')
            break;
        syncrt_str s;
        if (!read_string(r, &s))
            return false;
        if (kind == SYNCRT_MK_STRING) {
            *(syncrt_str *)dst = s;
            return true;
        }
        if (kind == SYNCRT_MK_ENUM) {
            if (!enum_member(f, s)) {
                enum_error(r->c, r->path, f, s);
                return false;
            }
            *(syncrt_str *)dst = s;
            return true;
        }
        syncrt_datetime dt;
        syncrt_date dd;
        bool donly;
        if (!syncrt_parse_iso(s.p, s.n, &dt, &dd, &donly)) {
            rerr(r, "expected %s, got string \"%.*s\"", kind_expect(f, kind), (int)(s.n > 40 ? 40 : s.n), s.p);
            return false;
        }
        if (kind == SYNCRT_MK_DATE)
            *(syncrt_date *)dst = dd;
        else
            *(syncrt_datetime *)dst = dt;
        return true;
    }
    case SYNCRT_MK_INT:
    case SYNCRT_MK_DECIMAL: {
        if (ch != '-' && (ch < '0' || ch > '9'))
            break;
        const char *s;
        size_t n;
        if (!read_number(r, &s, &n))
            return false;
        if (kind == SYNCRT_MK_INT && n <= 18) {
            /* plain integers (the usual case) without the decimal detour */
            size_t k = s[0] == '-';
            int64_t v = 0;
            bool plain = k < n;
            for (; k < n && plain; k++) {
                if (s[k] < '0' || s[k] > '9')
                    plain = false;
                else
                    v = v * 10 + (s[k] - '0');
            }
            if (plain) {
                if (s[0] == '-')
                    v = -v;
                if ((f->flags & SYNCRT_MF_INT32) && (v > INT32_MAX || v < INT32_MIN)) {
                    rerr(r, "expected integer, got number %.*s", (int)n, s);
                    return false;
                }
                *(int64_t *)dst = v;
                return true;
            }
        }
        syncrt_decimal d;
        syncrt_status st = syncrt_decimal_parse(&d, s, n);
        if (st != SYNCRT_OK) {
            rerr(r, "number %.*s does not fit %d digits", (int)(n > 60 ? 60 : n), s, SYNCRT_DECIMAL_DIGITS);
            return false;
        }
        if (kind == SYNCRT_MK_DECIMAL) {
            *(syncrt_decimal *)dst = d;
            return true;
        }
        syncrt_decimal t;
        int64_t v;
        syncrt_decimal_round(&t, &d, 0, true);
        if (syncrt_decimal_cmp(&t, &d) != 0 || syncrt_decimal_to_int(&v, &d) != SYNCRT_OK ||
            ((f->flags & SYNCRT_MF_INT32) && (v > INT32_MAX || v < INT32_MIN))) {
            rerr(r, "expected integer, got number %.*s", (int)(n > 40 ? 40 : n), s);
            return false;
        }
        *(int64_t *)dst = v;
        return true;
    }
    case SYNCRT_MK_BOOL:
        if (ch == 't' && lit(r, "true")) { *(unsigned char *)dst = 1; return true; }
        if (ch == 'f' && lit(r, "false")) { *(unsigned char *)dst = 0; return true; }
        if (ch == 't' || ch == 'f') return false;
        break;
    case SYNCRT_MK_ANY: {
        const char *s = r->p;
        if (!skip_value(r, depth))
            return false;
        ((syncrt_str *)dst)->p = s;
        ((syncrt_str *)dst)->n = (size_t)(r->p - s);
        return true;
    }
    case SYNCRT_MK_OBJECT: {
        if (ch != '{')
            break;
        void *o = syncrt_mctx_alloc(r->c, f->object->size);
        if (!o)
            return false;
        *(void **)dst = o;
        decode_object(r, f->object, o, depth + 1);
        return true;
    }
    case SYNCRT_MK_LIST: {
        if (ch != '[')
            break;
        r->p++;
        size_t cap = 8, n = 0;
        size_t esize = f->elem_kind == SYNCRT_MK_OBJECT ? f->object->size : sizeof(syncrt_mv);
        char *items = syncrt_mctx_alloc(r->c, cap * esize);
        if (!items)
            return false;
        ws(r);
        if (r->p < r->end && *r->p == ']') {
            r->p++;
        } else {
            for (;;) {
                if (n == cap) {
                    char *ni = syncrt_mctx_alloc(r->c, cap * 2 * esize);
                    if (!ni)
                        return false;
                    memcpy(ni, items, cap * esize);
                    items = ni;
                    cap *= 2;
                }
                size_t old = path_push_index(r, n);
                ws(r);
                if (f->elem_kind == SYNCRT_MK_OBJECT) {
                    if (r->p < r->end && *r->p == '{')
                        decode_object(r, f->object, items + n * esize, depth + 1);
                    else if (r->p < r->end && *r->p == 'n')
                        lit(r, "null");
                    else
                        mismatch(r, f, SYNCRT_MK_OBJECT);
                } else {
                    syncrt_mv *mv = (syncrt_mv *)(void *)(items + n * esize);
                    union { syncrt_str s; int64_t i; syncrt_decimal d; unsigned char b; syncrt_date dd; syncrt_datetime dt; } u;
                    if (r->p < r->end && *r->p == 'n') {
                        lit(r, "null");
                        mv->kind = SYNCRT_MV_NULL;
                    } else if (decode_scalar(r, f, f->elem_kind, &u, depth + 1)) {
                        switch (f->elem_kind) {
                        case SYNCRT_MK_INT: mv->kind = SYNCRT_MV_INT; mv->u.i = u.i; break;
                        case SYNCRT_MK_DECIMAL: mv->kind = SYNCRT_MV_DECIMAL; mv->u.d = u.d; break;
                        case SYNCRT_MK_BOOL: mv->kind = SYNCRT_MV_BOOL; mv->u.b = u.b; break;
                        case SYNCRT_MK_DATE: mv->kind = SYNCRT_MV_DATE; mv->u.date = u.dd; break;
                        case SYNCRT_MK_DATETIME: mv->kind = SYNCRT_MV_DATETIME; mv->u.dt = u.dt; break;
                        default: mv->kind = SYNCRT_MV_STRING; mv->u.s = u.s; break;
                        }
                    }
                }
                path_pop(r, old);
                n++;
                if (r->fatal)
                    return false;
                ws(r);
                if (r->p < r->end && *r->p == ',') { r->p++; continue; }
                if (r->p < r->end && *r->p == ']') { r->p++; break; }
                syntax(r, "expected ',' or ']'");
                return false;
            }
        }
        ((syncrt_list *)dst)->items = items;
        ((syncrt_list *)dst)->n = n;
        return true;
    }
    }
    mismatch(r, f, kind);
    return false;
}

static bool decode_object(reader *r, const syncrt_mtype *t, void *obj, int depth)
{
    char *base = obj;
    if (depth > 200) {
        syntax(r, "nesting deeper than 200");
        return false;
    }
    r->p++;   /* '{' */
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
    } else {
        for (;;) {
            ws(r);
            if (r->p >= r->end || *r->p != '"') {
                syntax(r, "expected a member name");
                return false;
            }
            syncrt_str k;
            if (!read_string(r, &k))
                return false;
            ws(r);
            if (r->p >= r->end || *r->p != ':') {
                syntax(r, "expected ':'");
                return false;
            }
            r->p++;
            const syncrt_mfield *f = NULL;
            for (size_t i = 0; i < t->nfields; i++)
                if (t->fields[i].name[0] == k.p[0] && !strncmp(t->fields[i].name, k.p, k.n) &&
                    t->fields[i].name[k.n] == 0) {
                    f = &t->fields[i];
                    break;
                }
            if (!f) {
                if (!skip_value(r, depth + 1))
                    return false;
            } else {
                size_t old = path_push_key(r, k.p, k.n);
                ws(r);
                unsigned char *has = (unsigned char *)base + f->has_offset;
                if (r->p < r->end && *r->p == 'n') {
                    if (!lit(r, "null"))
                        return false;
                    if (f->flags & SYNCRT_MF_REQUIRED)
                        rerr(r, "expected %s, got null", kind_expect(f, f->kind));
                    *has = SYNCRT_NULL;
                } else if (decode_scalar(r, f, f->kind, base + f->offset, depth + 1)) {
                    *has = SYNCRT_PRESENT;
                } else {
                    *has = SYNCRT_NULL;   /* reported; keeps "missing" quiet */
                }
                path_pop(r, old);
                if (r->fatal)
                    return false;
            }
            ws(r);
            if (r->p < r->end && *r->p == ',') { r->p++; continue; }
            if (r->p < r->end && *r->p == '}') { r->p++; break; }
            syntax(r, "expected ',' or '}'");
            return false;
        }
    }
    for (size_t i = 0; i < t->nfields; i++) {
        const syncrt_mfield *f = &t->fields[i];
        if ((f->flags & SYNCRT_MF_REQUIRED) && base[f->has_offset] == SYNCRT_ABSENT) {
            size_t old = path_push_key(r, f->name, strlen(f->name));
            rerr(r, "required field is missing (%s)", kind_expect(f, f->kind));
            path_pop(r, old);
        }
    }
    return true;
}

syncrt_status syncrt_mdecode(syncrt_mctx *c, const syncrt_mtype *t, const char *json, size_t len,
                             void **out)
{
    reader r;
    r.c = c;
    r.s = r.p = json;
    r.end = json + len;
    r.path[0] = '$';
    r.path[1] = 0;
    r.plen = 1;
    r.fatal = false;
    size_t before = c->nerrors + c->dropped;
    *out = NULL;
    void *obj = syncrt_mctx_alloc(c, t->size);
    if (!obj)
        return SYNCRT_ENOMEM;
    ws(&r);
    if (r.p >= r.end || *r.p != '{') {
        char got[80];
        got_value(&r, got, sizeof got);
        if (!r.fatal)
            rerr(&r, "expected object, got %s", got);
        return SYNCRT_EPARSE;
    }
    decode_object(&r, t, obj, 0);
    if (!r.fatal) {
        ws(&r);
        if (r.p != r.end)
            syntax(&r, "expected end of input after the record");
    }
    if (c->oom)
        return SYNCRT_ENOMEM;
    if (c->nerrors + c->dropped != before)
        return SYNCRT_EPARSE;
    *out = obj;
    return SYNCRT_OK;
}

/* ---------------------------------------------------------------- validation */

static size_t utf8_chars(syncrt_str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++)
        if (((unsigned char)s.p[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static void validate_value(syncrt_mctx *c, const syncrt_mfield *f, int kind, const void *v,
                           const char *path)
{
    if (kind == SYNCRT_MK_ENUM) {
        const syncrt_str *s = v;
        if (!enum_member(f, *s))
            enum_error(c, path, f, *s);
    } else if (kind == SYNCRT_MK_STRING && f->max_length >= 0) {
        size_t n = utf8_chars(*(const syncrt_str *)v);
        if (n > (size_t)f->max_length)
            syncrt_mctx_error(c, path, "%zu characters, more than MaxLength %d", n, f->max_length);
    } else if (kind == SYNCRT_MK_DECIMAL) {
        const syncrt_decimal *d = v;
        if (f->scale >= 0 && d->scale > f->scale) {
            syncrt_decimal t;
            syncrt_decimal_round(&t, d, f->scale, true);
            if (syncrt_decimal_cmp(&t, d) != 0) {
                char txt[SYNCRT_DECIMAL_TEXT];
                syncrt_decimal_format(d, txt, sizeof txt);
                syncrt_mctx_error(c, path, "%s has more than Scale %d decimals", txt, f->scale);
            }
        }
        if (f->precision > 0) {
            int room = f->precision - (f->scale > 0 ? f->scale : 0);
            int digits = syncrt_decimal_int_digits(d);
            if (digits > room) {
                char txt[SYNCRT_DECIMAL_TEXT];
                syncrt_decimal_format(d, txt, sizeof txt);
                syncrt_mctx_error(c, path, "%s has %d integer digits, more than Precision %d "
                                  "with Scale %d allows", txt, digits, f->precision,
                                  f->scale > 0 ? f->scale : 0);
            }
        }
    } else if (kind == SYNCRT_MK_INT && (f->flags & SYNCRT_MF_INT32)) {
        int64_t i = *(const int64_t *)v;
        if (i > INT32_MAX || i < INT32_MIN)
            syncrt_mctx_error(c, path, "%lld does not fit a 32-bit integer", (long long)i);
    }
}

static void validate_obj(syncrt_mctx *c, const syncrt_mtype *t, const void *obj, char *path,
                         size_t plen, size_t cap)
{
    const char *base = obj;
    for (size_t i = 0; i < t->nfields; i++) {
        const syncrt_mfield *f = &t->fields[i];
        unsigned char has = (unsigned char)base[f->has_offset];
        if (has == SYNCRT_ABSENT || has == SYNCRT_REF)   /* a ref is checked when resolved */
            continue;
        snprintf(path + plen, cap - plen, ".%s", f->name);
        size_t l2 = strlen(path);
        if (has == SYNCRT_NULL) {
            /* F&O takes null dates as its empty date 1900-01-01 (see the encoder) */
            bool fo_date = t->flavor == SYNCRT_MFLAVOR_ODATA &&
                           (f->kind == SYNCRT_MK_DATE || f->kind == SYNCRT_MK_DATETIME);
            if (!(f->flags & SYNCRT_MF_NULLABLE) && !fo_date)
                syncrt_mctx_error(c, path, "null is not allowed (the field is not nullable)");
        } else if (f->kind == SYNCRT_MK_OBJECT) {
            validate_obj(c, f->object, *(void *const *)(base + f->offset), path, l2, cap);
        } else if (f->kind == SYNCRT_MK_LIST) {
            const syncrt_list *l = (const syncrt_list *)(base + f->offset);
            for (size_t k = 0; k < l->n; k++) {
                snprintf(path + l2, cap - l2, "[%zu]", k);
                if (f->elem_kind == SYNCRT_MK_OBJECT)
                    validate_obj(c, f->object, (const char *)l->items + k * f->object->size, path,
                                 strlen(path), cap);
            }
        } else {
            validate_value(c, f, f->kind, base + f->offset, path);
        }
        path[plen] = 0;
    }
}

syncrt_status syncrt_mvalidate(syncrt_mctx *c, const syncrt_mtype *t, const void *obj,
                               const char *root)
{
    char path[512];
    size_t before = c->nerrors + c->dropped;
    snprintf(path, sizeof path, "%s", root ? root : "$");
    validate_obj(c, t, obj, path, strlen(path), sizeof path);
    return c->nerrors + c->dropped == before ? SYNCRT_OK : SYNCRT_EINVAL;
}

/* ---------------------------------------------------------------- encoding */

static void put_json_string(syncrt_mbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    syncrt_mbuf_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        syncrt_mbuf_put(b, s + run, i - run);
        run = i + 1;
        char e[7] = {'\\', 0, 0, 0, 0, 0, 0};
        switch (ch) {
        case '"': e[1] = '"'; syncrt_mbuf_put(b, e, 2); break;
        case '\\': e[1] = '\\'; syncrt_mbuf_put(b, e, 2); break;
        case '\n': e[1] = 'n'; syncrt_mbuf_put(b, e, 2); break;
        case '\r': e[1] = 'r'; syncrt_mbuf_put(b, e, 2); break;
        case '\t': e[1] = 't'; syncrt_mbuf_put(b, e, 2); break;
        default:
            e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[ch >> 4]; e[5] = hex[ch & 15];
            syncrt_mbuf_put(b, e, 6);
        }
    }
    syncrt_mbuf_put(b, s + run, n - run);
    syncrt_mbuf_put(b, "\"", 1);
}

size_t syncrt_format_date(syncrt_date d, char *buf)
{
    int y, m, dd;
    syncrt_date_to_ymd(d, &y, &m, &dd);
    return (size_t)snprintf(buf, 16, "%04d-%02d-%02d", y, m, dd);
}

size_t syncrt_format_datetime(syncrt_datetime t, char *buf)
{
    int64_t days = t >= 0 ? t / 86400000 : -((-t + 86399999) / 86400000);
    int64_t rest = t - days * 86400000;
    size_t n = syncrt_format_date((syncrt_date)days, buf);
    int ms = (int)(rest % 1000), s = (int)(rest / 1000);
    if (ms)
        n += (size_t)snprintf(buf + n, 24, "T%02d:%02d:%02d.%03dZ", s / 3600, s / 60 % 60, s % 60, ms);
    else
        n += (size_t)snprintf(buf + n, 24, "T%02d:%02d:%02dZ", s / 3600, s / 60 % 60, s % 60);
    return n;
}

static bool empty_obj(const syncrt_mtype *t, const void *obj);

/* Is the field worth sending in Clarity style (not absent/null/""/empty)? */
static bool clarity_nonempty(const syncrt_mfield *f, const char *base)
{
    unsigned char has = (unsigned char)base[f->has_offset];
    if (has == SYNCRT_REF)
        return true;
    if (has != SYNCRT_PRESENT)
        return false;
    const void *v = base + f->offset;
    switch (f->kind) {
    case SYNCRT_MK_STRING:
    case SYNCRT_MK_ENUM: return ((const syncrt_str *)v)->n > 0;
    case SYNCRT_MK_OBJECT: return !empty_obj(f->object, *(void *const *)v);
    case SYNCRT_MK_LIST: return ((const syncrt_list *)v)->n > 0;
    default: return true;
    }
}

static bool empty_obj(const syncrt_mtype *t, const void *obj)
{
    for (size_t i = 0; i < t->nfields; i++)
        if (clarity_nonempty(&t->fields[i], obj))
            return false;
    return true;
}

static void encode_obj(syncrt_mbuf *b, const syncrt_mtype *t, const void *obj);

static void encode_value(syncrt_mbuf *b, const syncrt_mfield *f, int kind, int flavor,
                         const void *v)
{
    char txt[64];
    size_t n;
    switch (kind) {
    case SYNCRT_MK_STRING:
    case SYNCRT_MK_ENUM:
        put_json_string(b, ((const syncrt_str *)v)->p, ((const syncrt_str *)v)->n);
        break;
    case SYNCRT_MK_ANY:
        syncrt_mbuf_put(b, ((const syncrt_str *)v)->p, ((const syncrt_str *)v)->n);
        break;
    case SYNCRT_MK_INT:
        n = (size_t)snprintf(txt, sizeof txt, "%lld", (long long)*(const int64_t *)v);
        syncrt_mbuf_put(b, txt, n);
        break;
    case SYNCRT_MK_DECIMAL:
        n = syncrt_decimal_format(v, txt, sizeof txt);
        syncrt_mbuf_put(b, txt, n);
        break;
    case SYNCRT_MK_BOOL:
        put_s(b, *(const unsigned char *)v ? "true" : "false");
        break;
    case SYNCRT_MK_DATE:
        txt[0] = '"';
        n = 1 + syncrt_format_date(*(const syncrt_date *)v, txt + 1);
        if (flavor == SYNCRT_MFLAVOR_ODATA && (f->flags & SYNCRT_MF_AXDATE)) {
            memcpy(txt + n, "T12:00:00Z", 10);
            n += 10;
        }
        txt[n++] = '"';
        syncrt_mbuf_put(b, txt, n);
        break;
    case SYNCRT_MK_DATETIME:
        txt[0] = '"';
        n = 1 + syncrt_format_datetime(*(const syncrt_datetime *)v, txt + 1);
        txt[n++] = '"';
        syncrt_mbuf_put(b, txt, n);
        break;
    case SYNCRT_MK_OBJECT:
        encode_obj(b, f->object, *(void *const *)v);
        break;
    case SYNCRT_MK_LIST: {
        const syncrt_list *l = v;
        syncrt_mbuf_put(b, "[", 1);
        for (size_t k = 0; k < l->n; k++) {
            if (k)
                syncrt_mbuf_put(b, ",", 1);
            if (f->elem_kind == SYNCRT_MK_OBJECT) {
                encode_obj(b, f->object, (const char *)l->items + k * f->object->size);
            } else {
                const syncrt_mv *mv = (const syncrt_mv *)l->items + k;
                if (mv->kind == SYNCRT_MV_ABSENT || mv->kind == SYNCRT_MV_NULL)
                    put_s(b, "null");
                else
                    encode_value(b, f, f->elem_kind, flavor, &mv->u);
            }
        }
        syncrt_mbuf_put(b, "]", 1);
        break;
    }
    }
}

static void encode_obj(syncrt_mbuf *b, const syncrt_mtype *t, const void *obj)
{
    const char *base = obj;
    bool first = true;
    syncrt_mbuf_put(b, "{", 1);
    for (size_t i = 0; i < t->nfields; i++) {
        const syncrt_mfield *f = &t->fields[i];
        unsigned char has = (unsigned char)base[f->has_offset];
        if (has == SYNCRT_ABSENT)
            continue;
        if (t->flavor == SYNCRT_MFLAVOR_OPENAPI && !clarity_nonempty(f, base))
            continue;
        if (!first)
            syncrt_mbuf_put(b, ",", 1);
        first = false;
        put_json_string(b, f->name, strlen(f->name));
        syncrt_mbuf_put(b, ":", 1);
        if (has == SYNCRT_NULL) {
            if (f->kind == SYNCRT_MK_DATE || f->kind == SYNCRT_MK_DATETIME)
                put_s(b, "\"1900-01-01T12:00:00Z\"");   /* F&O's empty date */
            else
                put_s(b, "null");
        } else if (has == SYNCRT_REF) {
            const char *ref;
            memcpy(&ref, base + f->offset, sizeof ref);
            put_s(b, ref);
        } else {
            encode_value(b, f, f->kind, t->flavor, base + f->offset);
        }
    }
    syncrt_mbuf_put(b, "}", 1);
}

syncrt_status syncrt_mencode(syncrt_mbuf *out, const syncrt_mtype *t, const void *obj)
{
    encode_obj(out, t, obj);
    return out->oom ? SYNCRT_ENOMEM : SYNCRT_OK;
}

/* ---------------------------------------------------------------- one record */

syncrt_status syncrt_mapply(syncrt_mctx *c, const syncrt_mmap *m, const void *src, void **dst)
{
    size_t before = c->nerrors + c->dropped;
    *dst = syncrt_mctx_alloc(c, m->dst->size);
    if (!*dst)
        return SYNCRT_ENOMEM;
    c->filtered = NULL;
    m->map(c, src, *dst);   /* returns at once when a where is false (c->filtered) */
    if (c->oom)
        return SYNCRT_ENOMEM;
    if (c->filtered)        /* a problem evaluating the where is still a problem */
        return c->nerrors + c->dropped == before ? SYNCRT_EFILTERED : SYNCRT_EINVAL;
    syncrt_mvalidate(c, m->dst, *dst, m->name);
    if (c->oom)
        return SYNCRT_ENOMEM;
    return c->nerrors + c->dropped == before ? SYNCRT_OK : SYNCRT_EINVAL;
}

syncrt_status syncrt_mrun(syncrt_mctx *c, const syncrt_mmap *m, const char *json, size_t len,
                          syncrt_mbuf *out)
{
    void *src, *dst;
    syncrt_status st = syncrt_mdecode(c, m->src, json, len, &src);
    if (st != SYNCRT_OK)
        return st;
    st = syncrt_mapply(c, m, src, &dst);
    if (st != SYNCRT_OK)
        return st;
    return syncrt_mencode(out, m->dst, dst);
}
