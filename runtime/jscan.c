/* jscan.c - the streaming page scanner of jscan.h (internal to libsyncrt).  A byte-level
 * state machine: nesting depth, strings and their escapes, the current top-level key; bytes
 * inside the chosen array are copied into the element buffer, which is handed over at each
 * top-level comma or the closing bracket of the array. */
#include "jscan.h"

#include <stdio.h>
#include <string.h>

void jscan_init(jscan *s, const char *array_key, jscan_row_fn row, jscan_scalar_fn scalar, void *ctx,
                size_t max_row)
{
    memset(s, 0, sizeof *s);
    s->array_key = array_key;
    s->row = row;
    s->scalar = scalar;
    s->ctx = ctx;
    s->max_row = max_row ? max_row : (size_t)16 << 20;
}

void jscan_reset(jscan *s)
{
    s->depth = s->in_string = s->escape = s->expect_key = s->started = s->finished = 0;
    s->key_capture = s->in_array = s->scalar_capture = s->scalar_string = 0;
    syncrt_buf_reset(&s->key);
    syncrt_buf_reset(&s->cur_key);
    syncrt_buf_reset(&s->elem);
    syncrt_buf_reset(&s->scalar_text);
    syncrt_buf_reset(&s->raw);
    s->seen = s->delivered = 0;
    s->stop = s->bad = 0;
    s->bad_text[0] = '\0';
}

void jscan_free(jscan *s)
{
    syncrt_buf_free(&s->key);
    syncrt_buf_free(&s->cur_key);
    syncrt_buf_free(&s->elem);
    syncrt_buf_free(&s->scalar_text);
    syncrt_buf_free(&s->raw);
}

static void fail(jscan *s, const char *what)
{
    s->bad = 1;
    snprintf(s->bad_text, sizeof s->bad_text, "%s", what);
}

static void emit(jscan *s)
{
    /* whitespace between the element and its ',' or ']' is not part of it */
    while (s->elem.len && (s->elem.p[s->elem.len - 1] == ' ' || s->elem.p[s->elem.len - 1] == '\n' ||
                           s->elem.p[s->elem.len - 1] == '\r' || s->elem.p[s->elem.len - 1] == '\t'))
        s->elem.p[--s->elem.len] = '\0';
    if (s->elem.len == 0)
        return;
    s->seen++;
    if (s->seen > s->skip) {
        s->delivered++;
        if (s->row(s->ctx, s->elem.p, s->elem.len) != 0)
            s->stop = 1;
    }
    syncrt_buf_reset(&s->elem);
}

static void scalar_done(jscan *s)
{
    s->scalar_capture = 0;
    if (s->scalar)
        s->scalar(s->ctx, s->cur_key.p ? s->cur_key.p : "", s->scalar_text.p ? s->scalar_text.p : "",
                  s->scalar_text.len);
    syncrt_buf_reset(&s->scalar_text);
}

static int key_is(const jscan *s, const char *k)
{
    return s->cur_key.p && strcmp(s->cur_key.p, k) == 0;
}

int jscan_feed(jscan *s, const char *data, size_t len)
{
    size_t i;

    if (s->raw.len < JSCAN_RAW_MAX)
        syncrt_buf_add(&s->raw, data, len < JSCAN_RAW_MAX - s->raw.len ? len : JSCAN_RAW_MAX - s->raw.len);
    for (i = 0; i < len && !s->stop && !s->bad; i++) {
        char c = data[i];
        int in_elem = s->in_array && s->depth >= 2;
        if (s->in_string) {
            if (in_elem)
                syncrt_buf_add(&s->elem, &c, 1);
            if (s->key_capture && !(c == '"' && !s->escape))
                syncrt_buf_add(&s->key, &c, 1);
            if (s->scalar_capture)
                syncrt_buf_add(&s->scalar_text, &c, 1);
            if (s->escape) {
                s->escape = 0;
            } else if (c == '\\') {
                s->escape = 1;
            } else if (c == '"') {
                s->in_string = 0;
                if (s->key_capture) {
                    s->key_capture = 0;
                    syncrt_buf_reset(&s->cur_key);
                    syncrt_buf_add(&s->cur_key, s->key.p ? s->key.p : "", s->key.len);
                }
                if (s->scalar_capture)
                    scalar_done(s);
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (in_elem && s->elem.len)
                syncrt_buf_add(&s->elem, &c, 1);
            if (s->scalar_capture)
                scalar_done(s);
            continue;
        }
        if (s->scalar_capture && (c == ',' || c == '}'))
            scalar_done(s);
        if (c == '"') {
            s->in_string = 1;
            if (in_elem) {
                syncrt_buf_add(&s->elem, &c, 1);
            } else if (s->depth == 1 && s->expect_key) {
                s->key_capture = 1;
                syncrt_buf_reset(&s->key);
            } else if (s->depth == 1) {
                s->scalar_capture = 1;
                s->scalar_string = 1;
                syncrt_buf_reset(&s->scalar_text);
                syncrt_buf_add(&s->scalar_text, &c, 1);
            }
        } else if (c == '{' || c == '[') {
            if (s->depth == 0) {
                if (c != '{' || s->started) {
                    fail(s, "the page is not one JSON object");
                    break;
                }
                s->started = 1;
                s->expect_key = 1;
            } else if (s->depth == 1 && c == '[' && key_is(s, s->array_key)) {
                s->in_array = 1;
                s->depth++;
                continue;
            } else if (in_elem) {
                syncrt_buf_add(&s->elem, &c, 1);
            }
            s->depth++;
        } else if (c == '}' || c == ']') {
            s->depth--;
            if (s->depth < 0) {
                fail(s, "unbalanced JSON");
                break;
            }
            if (s->in_array && s->depth == 1) {
                emit(s);
                s->in_array = 0;
            } else if (in_elem) {
                syncrt_buf_add(&s->elem, &c, 1);
            }
            if (s->depth == 0)
                s->finished = 1;
        } else if (c == ':' && s->depth == 1) {
            s->expect_key = 0;
        } else if (c == ',' && s->depth == 1) {
            s->expect_key = 1;
            syncrt_buf_reset(&s->cur_key);
        } else if (c == ',' && s->in_array && s->depth == 2) {
            emit(s);
        } else if (in_elem) {
            syncrt_buf_add(&s->elem, &c, 1);
        } else if (s->depth == 1 && !s->expect_key) {
            if (!s->scalar_capture) {
                s->scalar_capture = 1;
                s->scalar_string = 0;
                syncrt_buf_reset(&s->scalar_text);
            }
            syncrt_buf_add(&s->scalar_text, &c, 1);
        } else if (s->depth == 0 && s->started) {
            fail(s, "text after the page object");
        }
        if (s->elem.len > s->max_row)
            fail(s, "an element is over the row size limit");
        if (s->elem.oom || s->key.oom || s->cur_key.oom || s->scalar_text.oom)
            fail(s, "out of memory");
    }
    return s->stop || s->bad;
}
