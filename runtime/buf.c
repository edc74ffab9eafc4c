/* buf.c - the growing byte buffer of buf.h (internal to libsyncrt). */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(syncrt_buf *b, size_t extra)
{
    size_t cap;
    char *bigger;
    if (b->oom)
        return 0;
    if (b->len + extra + 1 <= b->cap)
        return 1;
    cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1) {
        if (cap > (size_t)-1 / 2) {
            b->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    bigger = realloc(b->p, cap);
    if (!bigger) {
        b->oom = 1;
        return 0;
    }
    b->p = bigger;
    b->cap = cap;
    return 1;
}

void syncrt_buf_add(syncrt_buf *b, const void *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void syncrt_buf_adds(syncrt_buf *b, const char *s)
{
    syncrt_buf_add(b, s, strlen(s));
}

void syncrt_buf_printf(syncrt_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void syncrt_buf_reset(syncrt_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

char *syncrt_buf_take(syncrt_buf *b)
{
    char *p;
    if (b->oom) {
        syncrt_buf_free(b);
        return NULL;
    }
    p = b->p ? b->p : calloc(1, 1);
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void syncrt_buf_free(syncrt_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
