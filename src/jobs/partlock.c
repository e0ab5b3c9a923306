/*
 * jobs/partlock.c — process-wide partition locks (scheduler.h, SPEC §7.2):
 * compaction, retention and deletes take the lock of a partition
 * ("db/measurement/YYYY/MM/DD[/HH]") before touching its files, so that no
 * two of them rewrite or remove the same files at once.
 *
 * A lock conflicts with a lock on the same partition or on an ancestor or
 * descendant (path prefix at a '/' boundary): the day lock of a daily
 * compaction excludes a retention run on one of its hours, and a lock on
 * "db/measurement" covers all of that measurement. The owner string names
 * the holder; the same owner may take a lock again (which renews its TTL).
 * Locks expire after their TTL (monotonic clock), so a job that died
 * without releasing never blocks a partition forever.
 *
 * State: a small array guarded by one mutex (never held across I/O; the
 * number of locks is bounded by the running jobs). Any thread.
 */
#include "jobs/scheduler.h"

#include <pthread.h>
#include <string.h>

#include "util/mem.h"
#include "util/timeutil.h"

struct plock {
    char *partition;
    char *owner;
    int64_t expires_mono_ms;
};

/* lock guards locks/nlocks/cap. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct plock *locks;
static size_t nlocks, cap;

/* True if a and b are the same partition or one contains the other. */
static bool overlap(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t n = la < lb ? la : lb;
    if (memcmp(a, b, n) != 0)
        return false;
    if (la == lb)
        return true;
    return (la < lb ? b[n] : a[n]) == '/';
}

static void drop(size_t i)
{
    xfree(locks[i].partition);
    xfree(locks[i].owner);
    locks[i] = locks[--nlocks];
}

/* Removes expired locks. lock held. */
static void expire(int64_t now)
{
    for (size_t i = 0; i < nlocks;) {
        if (locks[i].expires_mono_ms <= now)
            drop(i);
        else
            i++;
    }
}

bool partlock_try(const char *partition, const char *owner, int64_t ttl_ms)
{
    if (!partition || !partition[0] || !owner)
        return false;
    int64_t now = time_mono_ms();
    bool ok = true;
    pthread_mutex_lock(&lock);
    expire(now);
    struct plock *mine = NULL;
    for (size_t i = 0; i < nlocks; i++) {
        if (!overlap(locks[i].partition, partition))
            continue;
        if (strcmp(locks[i].owner, owner) != 0) {
            ok = false;
            break;
        }
        if (strcmp(locks[i].partition, partition) == 0)
            mine = &locks[i];
    }
    if (ok) {
        int64_t exp = ttl_ms > 0 && ttl_ms < INT64_MAX - now ? now + ttl_ms : INT64_MAX;
        if (mine) {
            mine->expires_mono_ms = exp;
        } else {
            if (nlocks == cap) {
                cap = cap ? cap * 2 : 16;
                locks = xrealloc(locks, cap * sizeof(*locks));
            }
            locks[nlocks++] = (struct plock){xstrdup(partition), xstrdup(owner), exp};
        }
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

void partlock_release(const char *partition, const char *owner)
{
    if (!partition || !owner)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nlocks; i++) {
        if (strcmp(locks[i].partition, partition) == 0 && strcmp(locks[i].owner, owner) == 0) {
            drop(i);
            break;
        }
    }
    if (nlocks == 0) {
        xfree(locks);
        locks = NULL;
        cap = 0;
    }
    pthread_mutex_unlock(&lock);
}

bool partlock_is_held(const char *partition, const char *except_owner)
{
    if (!partition)
        return false;
    int64_t now = time_mono_ms();
    bool held = false;
    pthread_mutex_lock(&lock);
    expire(now);
    for (size_t i = 0; i < nlocks && !held; i++)
        held = overlap(locks[i].partition, partition) &&
               (!except_owner || strcmp(locks[i].owner, except_owner) != 0);
    pthread_mutex_unlock(&lock);
    return held;
}
