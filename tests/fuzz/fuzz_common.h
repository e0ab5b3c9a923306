/*
 * tests/fuzz/fuzz_common.h — what the libFuzzer targets share: an invariant
 * check that aborts (so libFuzzer records the input) and an initialiser
 * that keeps the logs quiet.
 */
#ifndef FUZZ_FUZZ_COMMON_H
#define FUZZ_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s: check failed: %s (line %d)\n", __FILE__, #cond, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Defines LLVMFuzzerInitialize: only errors are logged while fuzzing. */
#define FUZZ_QUIET_LOGS                                                                            \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                              \
    {                                                                                              \
        (void)argc;                                                                                \
        (void)argv;                                                                                \
        log_configure(LOG_ERROR, LOG_FORMAT_TEXT, 0);                                              \
        return 0;                                                                                  \
    }

#endif
