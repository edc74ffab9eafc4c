/* emit.h - mapc's C code generator: turns a checked program (frontend.h) into C source that
 * links with libsyncrt's map engine (runtime/include/syncrt/map.h).
 *
 * Output, per .map file BASE.map: BASE.h and BASE.c (structs of the schema types its maps
 * read or write, with only the fields they use; descriptor tables; mapper functions; typed
 * wrappers per map and per flow).  Types used by maps or flows of more than one file go to
 * mapc_types.h / mapc_types.c, included by each file's header.  Each flow also gets a
 * descriptor `const syncrt_flow_desc <Flow>_flow` (syncrt/flow.h; emit_flow.c), and
 * mapc_flows.h / mapc_flows.c list every flow and map of the run (mapc_flows[], mapc_maps[]).  The text is deterministic:
 * no dates, no absolute paths; inputs are named by base name.
 *
 * Nothing is printed: files come back in memory; problems as a message in err. */
#ifndef MAPC_EMIT_H
#define MAPC_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "frontend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct emit_file {
    char *name;       /* "order_to_cash.c" (no directory) */
    char *text;
    size_t len;
} emit_file;

typedef struct emit_output {
    emit_file *files;
    size_t n;
} emit_output;

/* Generate C for every file of a checked program.  Returns 0, or -1 with err filled. */
int emit_program(const mapc_program *p, emit_output *out, char *err, size_t errsize);
void emit_output_free(emit_output *out);

/* Write the files into dir (which must exist); files whose content is unchanged are left
 * untouched.  Returns 0, or -1 with err filled. */
int emit_write_dir(const emit_output *out, const char *dir, char *err, size_t errsize);

/* The C identifier prefix of a .map file ("lookups/order-to-cash.map" -> "order_to_cash"). */
void emit_base_name(const char *path, char *buf, size_t size);

/* ---- flow descriptors (emit_flow.c), used by emit.c ---- */
#define EMIT_FLOWS_BASE "mapc_flows"
/* Does the flow get a <Flow>_run (a write whose map has a source type)? */
bool emit_flow_runnable(const ast_decl *fl);
/* The route a Clarity set is listed and searched at ("Products/Products", from the OpenAPI
 * document's paths); an F&O set (or a set no path serves) is its own route. */
const char *emit_list_route(const schema *s, const char *set, char *buf, size_t size);
/* Into a file's header: the descriptors' extern declarations (with syncrt/flow.h). */
void emit_flow_decls(FILE *h, const ast_file *f);
/* Into a file's .c: the descriptors of its runnable flows. */
void emit_flow_descs(const mapc_program *p, FILE *c, const ast_file *f);
/* The registry mapc_flows.h / .c over every file (bases: their C base names). */
void emit_flow_registry(const mapc_program *p, char *const *bases, FILE *h, FILE *c);

#ifdef __cplusplus
}
#endif
#endif
