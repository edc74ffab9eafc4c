/* fuzz.h - the libFuzzer entry points every tests/fuzz/fuzz_*.c target defines, declared so
 * the targets also build warning-free with gcc for the replay driver (replay.c). */
#ifndef MAPC_FUZZ_H
#define MAPC_FUZZ_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
