/* parse.h - running the flex lexer and bison parser over one registered source file.
 *
 * mapc_parse_state is the only state the reentrant lexer (lexer.l, through yyextra) and the
 * pure parser (parser.y, through %parse-param) share: no globals.  Syntax and lexical errors
 * go to the diag context; the parser recovers at map items, flow items and declarations, so
 * one run reports several errors. */
#ifndef MAPC_PARSE_H
#define MAPC_PARSE_H

#include "ast.h"
#include "diag.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MAPC_MAX_OPEN_BLOCKS 64

typedef struct mapc_parse_state {
    diag_ctx *diag;
    int file_id;
    ast_file *file;           /* declarations are appended here */
    unsigned offset;          /* lexer: byte offset of the next token */
    /* '{' not yet closed, with the keyword that opened the block, for the
     * "unterminated map block?" hint at end of file */
    mapc_loc open[MAPC_MAX_OPEN_BLOCKS];
    const char *open_kind[MAPC_MAX_OPEN_BLOCKS];
    int nopen;
    const char *pending_kind; /* last of map/flow/table/match seen, for the next '{' */
    bool nomem;               /* the lexer ran out of memory: stop quietly */
    bool lex_error;           /* a lexical error was reported at lex_error_at ... */
    unsigned lex_error_at;    /* ... so a syntax error on that token is not reported again */
} mapc_parse_state;

/* Parse the source registered in d as file_id.  Always sets *out to a file holding every
 * declaration that parsed (possibly none); returns 0 when no error was reported, -1 after
 * syntax errors, -2 when out of memory. */
int mapc_parse(diag_ctx *d, int file_id, ast_file **out);

#ifdef __cplusplus
}
#endif
#endif
