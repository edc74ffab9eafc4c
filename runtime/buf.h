/* buf.h - internal to libsyncrt: a growing byte buffer for building texts (request bodies,
 * redacted copies, URLs).  Allocation failure is sticky: the first one sets oom, later adds
 * are ignored, and syncrt_buf_take returns NULL, so builders check once at the end. */
#ifndef SYNCRT_BUF_H
#define SYNCRT_BUF_H

#include <stddef.h>

typedef struct {
    char *p;        /* NUL-terminated when not NULL */
    size_t len, cap;
    int oom;
} syncrt_buf;

void syncrt_buf_add(syncrt_buf *b, const void *s, size_t n);
void syncrt_buf_adds(syncrt_buf *b, const char *s);
void syncrt_buf_printf(syncrt_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Empties the buffer, keeping its memory. */
void syncrt_buf_reset(syncrt_buf *b);
/* Hands the text over (an empty buffer gives ""), or NULL after an allocation failure; the
 * buffer is empty afterwards. */
char *syncrt_buf_take(syncrt_buf *b);
void syncrt_buf_free(syncrt_buf *b);

#endif
