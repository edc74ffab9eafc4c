/* jscan.h - internal to libsyncrt: a streaming scanner over one JSON object as it arrives in
 * chunks (a page of OData or CEF results).  It cuts each element of one top-level array
 * ("value", "Results") out as text and hands it over, and reports the top-level scalars
 * ("@odata.nextLink", "TotalPages") as raw JSON tokens.  Only one element's text is held at a
 * time, so memory does not grow with the page; the elements stay text, so numbers keep their
 * exact digits for the decimal-exact decoders downstream. */
#ifndef SYNCRT_JSCAN_H
#define SYNCRT_JSCAN_H

#include <stddef.h>

#include "buf.h"

/* One element of the array: its JSON text.  Return non-zero to stop. */
typedef int (*jscan_row_fn)(void *ctx, const char *text, size_t len);
/* A top-level member whose value is not an object or array: the key (unescaped only if it
 * had no escapes) and the raw token ("\"http://...\"", "12", "true"). */
typedef void (*jscan_scalar_fn)(void *ctx, const char *key, const char *text, size_t len);

typedef struct {
    /* configuration */
    const char *array_key;
    jscan_row_fn row;
    jscan_scalar_fn scalar;
    void *ctx;
    size_t max_row;             /* bytes of one element; larger ones are an error */
    size_t skip;                /* elements to pass over silently (already delivered) */
    /* results of the current document */
    size_t seen;                /* elements scanned */
    size_t delivered;           /* elements handed to row() */
    int stop;                   /* row() asked to stop */
    int bad;                    /* malformed, oversized or out of memory: bad_text says */
    char bad_text[128];
    syncrt_buf raw;             /* the first JSCAN_RAW_MAX bytes, for error answers */
    /* scanner state */
    int depth, in_string, escape, expect_key, started, finished;
    int key_capture, in_array, scalar_capture, scalar_string;
    syncrt_buf key, cur_key, elem, scalar_text;
} jscan;

#define JSCAN_RAW_MAX 65536

void jscan_init(jscan *s, const char *array_key, jscan_row_fn row, jscan_scalar_fn scalar, void *ctx,
                size_t max_row);
/* Ready for a new document; keeps configuration and skip. */
void jscan_reset(jscan *s);
void jscan_free(jscan *s);
/* Feeds bytes; returns non-zero when the transfer should stop (stop or bad). */
int jscan_feed(jscan *s, const char *data, size_t len);

#endif
