/* Unit tests for jobs/partlock.c: exclusivity between owners, parent/child
 * conflicts at '/' boundaries only, re-entry by the same owner, release by
 * the owner only, TTL expiry, and many threads racing for one partition. */
#include "test_helpers.h"

#include <pthread.h>
#include <stdatomic.h>

#include "jobs/scheduler.h"
#include "util/timeutil.h"

#define HOUR "db/cpu/2025/01/15/14"
#define DAY "db/cpu/2025/01/15"

static void test_exclusive(void **state)
{
    (void)state;
    assert_true(partlock_try(HOUR, "a", 60000));
    assert_false(partlock_try(HOUR, "b", 60000));
    assert_true(partlock_is_held(HOUR, NULL));
    assert_true(partlock_is_held(HOUR, "b"));
    assert_false(partlock_is_held(HOUR, "a")); /* only held by a */
    /* Same owner again: allowed (renews). */
    assert_true(partlock_try(HOUR, "a", 60000));
    /* Release by someone else does nothing. */
    partlock_release(HOUR, "b");
    assert_false(partlock_try(HOUR, "b", 60000));
    partlock_release(HOUR, "a");
    assert_false(partlock_is_held(HOUR, NULL));
    assert_true(partlock_try(HOUR, "b", 60000));
    partlock_release(HOUR, "b");
    /* Bad arguments. */
    assert_false(partlock_try("", "a", 1000));
    assert_false(partlock_try(NULL, "a", 1000));
    assert_false(partlock_try(HOUR, NULL, 1000));
}

static void test_hierarchy(void **state)
{
    (void)state;
    assert_true(partlock_try(DAY, "daily", 60000));
    /* Hours of the day, and the measurement, conflict. */
    assert_false(partlock_try(HOUR, "retention", 60000));
    assert_false(partlock_try("db/cpu", "delete", 60000));
    assert_true(partlock_is_held("db/cpu/2025/01/15/03", NULL));
    /* Siblings and look-alike prefixes do not. */
    assert_true(partlock_try("db/cpu/2025/01/16/00", "retention", 60000));
    assert_true(partlock_try("db/cpu/2025/01/1", "x", 60000));
    assert_true(partlock_try("db/cpu2/2025/01/15", "y", 60000));
    assert_true(partlock_try("db/cp", "z", 60000));
    partlock_release("db/cpu/2025/01/16/00", "retention");
    partlock_release("db/cpu/2025/01/1", "x");
    partlock_release("db/cpu2/2025/01/15", "y");
    partlock_release("db/cp", "z");
    partlock_release(DAY, "daily");
    /* A measurement-wide lock excludes every partition of it. */
    assert_true(partlock_try("db/cpu", "delete", 60000));
    assert_false(partlock_try(DAY, "daily", 60000));
    assert_false(partlock_try(HOUR, "hourly", 60000));
    partlock_release("db/cpu", "delete");
    assert_true(partlock_try(HOUR, "hourly", 60000));
    partlock_release(HOUR, "hourly");
}

static void test_ttl(void **state)
{
    (void)state;
    assert_true(partlock_try(HOUR, "crashed", 50));
    assert_false(partlock_try(HOUR, "other", 60000));
    time_sleep_ms(80);
    /* The crashed owner's lock expired. */
    assert_false(partlock_is_held(HOUR, NULL));
    assert_true(partlock_try(HOUR, "other", 60000));
    partlock_release(HOUR, "other");
    /* ttl <= 0: never expires. */
    assert_true(partlock_try(HOUR, "forever", 0));
    time_sleep_ms(20);
    assert_false(partlock_try(HOUR, "other", 60000));
    partlock_release(HOUR, "forever");
}

static atomic_int winners;
static atomic_int inside;
static atomic_int violations;

static void *racer(void *arg)
{
    char owner[32];
    snprintf(owner, sizeof(owner), "t%ld", (long)(intptr_t)arg);
    for (int i = 0; i < 2000; i++) {
        const char *part = (i % 2) ? HOUR : DAY;
        if (partlock_try(part, owner, 60000)) {
            if (atomic_fetch_add(&inside, 1) != 0)
                atomic_fetch_add(&violations, 1);
            atomic_fetch_add(&winners, 1);
            atomic_fetch_sub(&inside, 1);
            partlock_release(part, owner);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t th[8];
    for (long i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&violations), 0);
    assert_true(atomic_load(&winners) > 0);
    assert_false(partlock_is_held(DAY, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exclusive),
        cmocka_unit_test(test_hierarchy),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
