/* check.h - the type checker of the .map language (check.c): name resolution against the
 * schemas and tables, expression types, and every rule of DESIGN.md's "Type rules" (see
 * specs/language.md, "Type rules").  Entry point: mapc_program_check() in frontend.h; the
 * helpers below describe types for messages and for code generation. */
#ifndef MAPC_CHECK_H
#define MAPC_CHECK_H

#include <stddef.h>

#include "ast.h"
#include "schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The expression type of a schema type reference. */
mapc_type mapc_type_of_ref(const schema_typeref *r, bool optional);
/* A source property may be absent unless the schema requires it (or it is a key). */
bool mapc_prop_optional(const schema_prop *p);
/* "string", "decimal", "enum SalesStatus", "list of SalesItem", "object Contact" ... */
const char *mapc_type_str(mapc_type t, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
