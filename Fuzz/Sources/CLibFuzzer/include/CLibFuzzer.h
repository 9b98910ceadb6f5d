#ifndef C_LIBFUZZER_H
#define C_LIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's entry point for programs with a main of their own
// (SwiftPM renames an executable's main, so libFuzzer's main is not used).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));

#endif
