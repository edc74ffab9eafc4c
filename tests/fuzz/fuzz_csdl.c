/* fuzz_csdl.c - libFuzzer target: arbitrary bytes as a CSDL ($metadata) document through
 * schema_load_mem (the streaming libxml2 loader), the model walked, then loaded again with a
 * want list.  Seeds: tests/fuzz/corpus/csdl; dictionary: tests/fuzz/csdl.dict. */
#include "fuzz_schema_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_schema(data, size, SCHEMA_ODATA, "fuzz.xml");
}
