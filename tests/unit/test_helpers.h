/*
 * tests/unit/test_helpers.h — shared includes for cmocka unit tests.
 *
 * cmocka needs these system headers before <cmocka.h>. assert_string_equal
 * and friends already print both sides on failure.
 */
#ifndef TESTS_UNIT_TEST_HELPERS_H
#define TESTS_UNIT_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Writes `content` to a fresh file under a temporary directory and returns
 * its path in a static buffer (one per call site is enough for tests). */
static inline const char *test_write_tmp(const char *name, const char *content)
{
    static char path[512];
    char dir[] = "/tmp/arc-test-XXXXXX";
    if (!mkdtemp(dir))
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(content, f);
    fclose(f);
    return path;
}

#endif
