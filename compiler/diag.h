/* diag.h - mapc's diagnostics: source files with their line maps, locations as byte offsets,
 * and errors/notes delivered through a callback sink so the CLI prints them and tests capture
 * them.  Formatting is gcc's: "FILE:LINE:COL: error: MESSAGE", then the source line with a
 * caret underline spanning the offending token or expression (jq's locfile_locate), notes
 * with a second location ("previously defined here", as flatcc does), and a cap on the number
 * of errors after which one "too many errors, stopping" is reported and the rest dropped.
 *
 * The module never prints: diag_format() renders one message into a malloc'd string and the
 * sink decides where it goes. */
#ifndef MAPC_DIAG_H
#define MAPC_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A span of one source file: [start, end) byte offsets into the text registered with
 * diag_add_source(); file < 0 means "no location". */
typedef struct mapc_loc {
    int file;
    unsigned start;
    unsigned end;
} mapc_loc;

#define MAPC_NOLOC ((mapc_loc){-1, 0, 0})

typedef enum diag_level {
    DIAG_ERROR,
    DIAG_WARNING,
    DIAG_NOTE,
    DIAG_FATAL       /* no location: "too many errors, stopping" */
} diag_level;

/* One message as the sink sees it; every pointer is valid only during the callback. */
typedef struct diag_message {
    diag_level level;
    const char *text;         /* the message, one line */
    mapc_loc loc;
    const char *path;         /* NULL when the message has no location */
    int line, column;         /* 1-based; column counts UTF-8 characters */
    const char *src_line;     /* the whole source line (without its newline), or NULL */
    size_t src_line_len;
    int caret_len;            /* characters to underline on that line, >= 1 */
} diag_message;

typedef void (*diag_sink)(void *user, const diag_message *m);

typedef struct diag_source {
    char *path;               /* as given by the user */
    char *text;               /* owned, NUL-terminated */
    size_t len;
    unsigned *line_starts;    /* byte offset of each line; built on first use */
    size_t nlines;
} diag_source;

typedef struct diag_ctx {
    diag_source **srcs;
    size_t nsrcs, srcs_cap;
    diag_sink sink;
    void *user;
    int max_errors;           /* 0 = no limit */
    int nerrors;              /* errors delivered to the sink */
    int nwarnings;
    bool stopped;             /* the cap was hit: further messages are dropped */
    bool last_dropped;        /* the last error was dropped, so drop its notes too */
} diag_ctx;

/* Set up a context; sink may be NULL (messages are only counted). */
void diag_init(diag_ctx *d, diag_sink sink, void *user, int max_errors);
void diag_cleanup(diag_ctx *d);

/* Register a source file; the context takes ownership of text (malloc'd, NUL-terminated, len
 * bytes before the NUL).  Returns its file id, or -1 when out of memory (text is freed). */
int diag_add_source(diag_ctx *d, const char *path, char *text, size_t len);
const diag_source *diag_get_source(const diag_ctx *d, int file);

/* Line and column (1-based, column in UTF-8 characters) of a byte offset. */
void diag_line_col(const diag_ctx *d, int file, unsigned offset, int *line, int *column);

void diag_error(diag_ctx *d, mapc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warning(diag_ctx *d, mapc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A note belongs to the error or warning reported just before it. */
void diag_note(diag_ctx *d, mapc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_vreport(diag_ctx *d, diag_level level, mapc_loc loc, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static inline bool diag_stopped(const diag_ctx *d) { return d->stopped; }

/* gcc-style text of one message, every line ending in '\n':
 *   FILE:LINE:COL: error: TEXT
 *       3 |     Field = o.Nmae
 *         |             ^~~~~~
 * Returns a malloc'd string, or NULL when out of memory. */
char *diag_format(const diag_message *m);

/* "2 errors", "1 error, 1 warning" ... into buf; returns buf. */
const char *diag_summary(const diag_ctx *d, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
