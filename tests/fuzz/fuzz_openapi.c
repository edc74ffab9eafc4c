/* fuzz_openapi.c - libFuzzer target: arbitrary bytes as an OpenAPI 2.0 / 3.x JSON document
 * through schema_load_mem (the jansson loader), the model walked, then loaded again with a
 * want list.  Seeds: tests/fuzz/corpus/openapi; dictionary: tests/fuzz/openapi.dict. */
#include "fuzz_schema_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_schema(data, size, SCHEMA_OPENAPI, "fuzz.json");
}
