/*
 * tests/fuzz/fuzz_qcheck.c — libFuzzer target for the query lexer
 * (query/check.c), which reads client SQL before DuckDB does.
 *
 * Feeds arbitrary bytes to qcheck_special, qcheck_shape and the tokenizer
 * and checks their invariants: tokens are in order, non-empty (except END)
 * and inside the text; the shape's offsets are inside the text and
 * inner_start <= body_end; a recognised special command carries valid
 * names (SPEC §0.4). ASan catches overreads.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "query/query_internal.h"
#include "util/mem.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* qcheck_special wants a C string: the engine passes NUL-free SQL. */
    char *s = xmalloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    size_t n = strlen(s);

    struct qlex lx;
    struct qlex_tok t;
    qlex_init(&lx, s, n);
    size_t prev_end = 0;
    for (int i = 0; i < 100000; i++) {
        qlex_next(&lx, &t);
        CHECK(t.start <= t.end && t.end <= n);
        CHECK(t.start >= prev_end);
        if (t.kind == QTOK_END || t.kind == QTOK_ERROR)
            break;
        CHECK(t.end > t.start);
        prev_end = t.end;
        char id[64];
        (void)qlex_ident(&lx, &t, id, sizeof(id));
    }

    struct qshape sh;
    qcheck_shape(s, n, &sh);
    CHECK(sh.body_end <= n);
    if (sh.explain)
        CHECK(sh.inner_start <= sh.body_end);
    CHECK(memchr(sh.kind, '\0', sizeof(sh.kind)) != NULL);

    struct qspecial sp;
    struct errbuf eb = {0};
    if (qcheck_special(s, n, &sp, &eb) == RC_OK) {
        if (sp.kind == QUERY_DESCRIBE)
            CHECK(name_is_valid_measurement(sp.table, strlen(sp.table)));
        if (sp.has_db)
            CHECK(name_is_valid_database(sp.db, strlen(sp.db)));
    } else {
        CHECK(eb.msg[0] != '\0');
    }
    xfree(s);
    return 0;
}
