/* diag.c - source registry, line maps and gcc-style diagnostics for mapc (see diag.h). */
#include "diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void diag_init(diag_ctx *d, diag_sink sink, void *user, int max_errors)
{
    memset(d, 0, sizeof *d);
    d->sink = sink;
    d->user = user;
    d->max_errors = max_errors;
}

void diag_cleanup(diag_ctx *d)
{
    for (size_t i = 0; i < d->nsrcs; i++) {
        free(d->srcs[i]->path);
        free(d->srcs[i]->text);
        free(d->srcs[i]->line_starts);
        free(d->srcs[i]);
    }
    free(d->srcs);
    d->srcs = NULL;
    d->nsrcs = d->srcs_cap = 0;
}

int diag_add_source(diag_ctx *d, const char *path, char *text, size_t len)
{
    if (d->nsrcs == d->srcs_cap) {
        size_t cap = d->srcs_cap ? 2 * d->srcs_cap : 8;
        diag_source **n = realloc(d->srcs, cap * sizeof *n);
        if (!n) {
            free(text);
            return -1;
        }
        d->srcs = n;
        d->srcs_cap = cap;
    }
    diag_source *s = calloc(1, sizeof *s);
    char *p = strdup(path);
    if (!s || !p) {
        free(s);
        free(p);
        free(text);
        return -1;
    }
    s->path = p;
    s->text = text;
    s->len = len;
    d->srcs[d->nsrcs] = s;
    return (int)d->nsrcs++;
}

const diag_source *diag_get_source(const diag_ctx *d, int file)
{
    if (file < 0 || (size_t)file >= d->nsrcs)
        return NULL;
    return d->srcs[file];
}

static bool build_lines(diag_source *s)
{
    if (s->line_starts)
        return true;
    size_t n = 1;
    for (size_t i = 0; i < s->len; i++)
        if (s->text[i] == '\n')
            n++;
    s->line_starts = malloc(n * sizeof *s->line_starts);
    if (!s->line_starts)
        return false;
    s->line_starts[0] = 0;
    size_t k = 1;
    for (size_t i = 0; i < s->len; i++)
        if (s->text[i] == '\n')
            s->line_starts[k++] = (unsigned)(i + 1);
    s->nlines = n;
    return true;
}

/* Number of UTF-8 characters in text[a, b). */
static int utf8_chars(const char *text, size_t a, size_t b)
{
    int n = 0;
    for (size_t i = a; i < b; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* Index of the line holding offset (binary search over the line map). */
static size_t line_index(const diag_source *s, unsigned offset)
{
    size_t lo = 0, hi = s->nlines;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->line_starts[mid] <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void diag_line_col(const diag_ctx *d, int file, unsigned offset, int *line, int *column)
{
    *line = *column = 0;
    if (file < 0 || (size_t)file >= d->nsrcs)
        return;
    diag_source *s = d->srcs[file];
    if (!build_lines(s))
        return;
    if (offset > s->len)
        offset = (unsigned)s->len;
    size_t li = line_index(s, offset);
    *line = (int)li + 1;
    *column = utf8_chars(s->text, s->line_starts[li], offset) + 1;
}

static void deliver(diag_ctx *d, diag_level level, mapc_loc loc, const char *text)
{
    diag_message m;
    memset(&m, 0, sizeof m);
    m.level = level;
    m.text = text;
    m.loc = loc;
    m.caret_len = 1;
    if (loc.file >= 0 && (size_t)loc.file < d->nsrcs) {
        diag_source *s = d->srcs[loc.file];
        m.path = s->path;
        if (build_lines(s)) {
            unsigned off = loc.start > s->len ? (unsigned)s->len : loc.start;
            size_t li = line_index(s, off);
            size_t ls = s->line_starts[li];
            size_t le = ls;
            while (le < s->len && s->text[le] != '\n')
                le++;
            size_t lend = le;
            if (lend > ls && s->text[lend - 1] == '\r')
                lend--;
            m.line = (int)li + 1;
            m.column = utf8_chars(s->text, ls, off) + 1;
            m.src_line = s->text + ls;
            m.src_line_len = lend - ls;
            size_t end = loc.end < off ? off : loc.end;
            if (end > lend)
                end = lend;
            int n = end > off ? utf8_chars(s->text, off, end) : 0;
            m.caret_len = n > 0 ? n : 1;
        }
    }
    if (d->sink)
        d->sink(d->user, &m);
}

void diag_vreport(diag_ctx *d, diag_level level, mapc_loc loc, const char *fmt, va_list ap)
{
    if (d->stopped)
        return;
    if (level == DIAG_NOTE && d->last_dropped)
        return;
    if (level == DIAG_ERROR && d->max_errors > 0 && d->nerrors >= d->max_errors) {
        d->stopped = true;
        d->last_dropped = true;
        deliver(d, DIAG_FATAL, MAPC_NOLOC, "too many errors, stopping");
        return;
    }
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (level == DIAG_ERROR)
        d->nerrors++;
    else if (level == DIAG_WARNING)
        d->nwarnings++;
    if (level != DIAG_NOTE)
        d->last_dropped = false;
    deliver(d, level, loc, buf);
}

void diag_error(diag_ctx *d, mapc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(d, DIAG_ERROR, loc, fmt, ap);
    va_end(ap);
}

void diag_warning(diag_ctx *d, mapc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(d, DIAG_WARNING, loc, fmt, ap);
    va_end(ap);
}

void diag_note(diag_ctx *d, mapc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(d, DIAG_NOTE, loc, fmt, ap);
    va_end(ap);
}

/* A growing string for diag_format. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[1200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static const char *level_name(diag_level l)
{
    switch (l) {
    case DIAG_ERROR: return "error";
    case DIAG_WARNING: return "warning";
    case DIAG_NOTE: return "note";
    case DIAG_FATAL: return "fatal";
    }
    return "error";
}

char *diag_format(const diag_message *m)
{
    sbuf b = {0};
    if (m->level == DIAG_FATAL || !m->path) {
        sb_printf(&b, "mapc: %s%s%s\n", m->level == DIAG_FATAL ? "" : level_name(m->level),
                  m->level == DIAG_FATAL ? "" : ": ", m->text);
    } else if (!m->src_line) {
        sb_printf(&b, "%s: %s: %s\n", m->path, level_name(m->level), m->text);
    } else {
        sb_printf(&b, "%s:%d:%d: %s: %s\n", m->path, m->line, m->column, level_name(m->level),
                  m->text);
        char gutter[32];
        int gw = snprintf(gutter, sizeof gutter, "%5d", m->line);
        sb_printf(&b, "%s | ", gutter);
        sb_add(&b, m->src_line, m->src_line_len);
        sb_puts(&b, "\n");
        for (int i = 0; i < gw; i++)
            sb_puts(&b, " ");
        sb_puts(&b, " | ");
        /* Reproduce tabs so the caret lines up whatever the tab width. */
        int col = 1;
        for (size_t i = 0; i < m->src_line_len && col < m->column; i++) {
            unsigned char c = (unsigned char)m->src_line[i];
            if ((c & 0xC0) == 0x80)
                continue;
            sb_puts(&b, c == '\t' ? "\t" : " ");
            col++;
        }
        sb_puts(&b, "^");
        for (int i = 1; i < m->caret_len; i++)
            sb_puts(&b, "~");
        sb_puts(&b, "\n");
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

const char *diag_summary(const diag_ctx *d, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%d error%s", d->nerrors, d->nerrors == 1 ? "" : "s");
    if (d->nwarnings && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", %d warning%s", d->nwarnings,
                 d->nwarnings == 1 ? "" : "s");
    return buf;
}
