/* frontend.h - mapc's front end as a library: read and parse a set of .map files, load the
 * schemas and lookup tables they name, type-check everything, and hand back the checked AST
 * (types resolved on every expression node, schema properties on every assignment and path
 * step, maps and flows linked) for code generation and preview.
 *
 *     diag_ctx d;  diag_init(&d, my_sink, my_data, 20);
 *     mapc_program *p = mapc_program_new(&d);
 *     for each file: mapc_program_add_file(p, path);     // parse
 *     if (mapc_program_check(p) == 0) ... use p ...      // resolve + type-check
 *     mapc_program_free(p);  diag_cleanup(&d);
 *
 * Nothing here prints: every problem is a diagnostic delivered to the diag context's sink. */
#ifndef MAPC_FRONTEND_H
#define MAPC_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>

#include "ast.h"
#include "diag.h"
#include "schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One schema file, shared by every `schema` declaration naming the same file and format. */
typedef struct mapc_schema_slot {
    char *path;              /* resolved against the declaring .map file's directory */
    schema_format format;
    schema *s;               /* NULL when loading failed or the program is offline */
    bool failed;             /* a load error was reported */
    char **want;             /* type and set names the maps and flows use */
    size_t nwant, capwant;
} mapc_schema_slot;

/* How schemas are read; schema_load() unless a test or fuzzer supplies its own. */
typedef int (*mapc_schema_loader)(void *user, schema **out, const char *path,
                                  schema_format fmt, const char *const *want, size_t nwant,
                                  schema_error *err);

typedef struct mapc_program {
    diag_ctx *diag;
    mapc_schema_loader loader;  /* NULL: schema_load() */
    void *loader_data;
    ast_vec files;           /* ast_file*, in the order added */
    mapc_schema_slot **slots;
    size_t nslots, capslots;
    bool offline;            /* read no CSV file, and no schema unless loader is set (fuzzing):
                                check what can be */
    bool checked;
} mapc_program;

mapc_program *mapc_program_new(diag_ctx *d);
void mapc_program_free(mapc_program *p);

/* Read and parse a file.  Returns 0 when it parsed cleanly, -1 after syntax errors, -2 when
 * the file could not be read or memory ran out (an error without location is reported). */
int mapc_program_add_file(mapc_program *p, const char *path);
/* The same for text in memory; name is what diagnostics call the file (relative paths in the
 * file resolve against its directory). */
int mapc_program_add_source(mapc_program *p, const char *name, const char *text, size_t len);

/* Load schemas and tables, resolve names and type-check every file added.  Call once.
 * Returns 0 when clean, -1 when errors were reported. */
int mapc_program_check(mapc_program *p);

/* Lookups over the checked program (maps and flows are global, schemas and tables belong to
 * the file that declares them). */
const ast_decl *mapc_program_find_map(const mapc_program *p, const char *name);
const ast_decl *mapc_program_find_flow(const mapc_program *p, const char *name);
const ast_decl *mapc_program_find_decl(const mapc_program *p, int file_id, ast_decl_kind kind,
                                       const char *name);

#ifdef __cplusplus
}
#endif
#endif
