/*
 * util/faults.c — ARC_TEST_FAULTS parser (see faults.h).
 *
 * The table is parsed once (pthread_once) into a fixed array of entries;
 * afterwards it is only read, so lookups take no lock. faults_reload (tests)
 * parses again and must not race with readers.
 */
#include "util/faults.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef ARC_TEST_HOOKS

#define FAULTS_MAX 32
#define FAULT_NAME_MAX 64
#define FAULT_VALUE_MAX 64

struct fault_entry {
    char name[FAULT_NAME_MAX];
    char value[FAULT_VALUE_MAX]; /* "" if given without '=' */
    bool has_value;
};

/* Written only by parse_env (once, or by faults_reload in tests). */
static struct fault_entry table[FAULTS_MAX];
static int table_n;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void parse_env(void)
{
    table_n = 0;
    const char *s = getenv("ARC_TEST_FAULTS");
    if (!s)
        return;
    while (*s && table_n < FAULTS_MAX) {
        while (*s == ',' || *s == ' ')
            s++;
        if (!*s)
            break;
        const char *end = s + strcspn(s, ",");
        const char *eq = memchr(s, '=', (size_t)(end - s));
        const char *name_end = eq ? eq : end;
        while (name_end > s && name_end[-1] == ' ')
            name_end--;
        size_t nlen = (size_t)(name_end - s);
        if (nlen > 0 && nlen < FAULT_NAME_MAX) {
            struct fault_entry *e = &table[table_n++];
            memcpy(e->name, s, nlen);
            e->name[nlen] = '\0';
            e->has_value = eq != NULL;
            e->value[0] = '\0';
            if (eq) {
                const char *v = eq + 1;
                while (v < end && *v == ' ')
                    v++;
                const char *vend = end;
                while (vend > v && vend[-1] == ' ')
                    vend--;
                size_t vlen = (size_t)(vend - v);
                if (vlen >= FAULT_VALUE_MAX)
                    vlen = FAULT_VALUE_MAX - 1;
                memcpy(e->value, v, vlen);
                e->value[vlen] = '\0';
            }
        }
        s = end;
    }
}

static const struct fault_entry *lookup(const char *name)
{
    pthread_once(&table_once, parse_env);
    for (int i = 0; i < table_n; i++)
        if (!strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}

bool faults_enabled(const char *name)
{
    const struct fault_entry *e = lookup(name);
    if (!e)
        return false;
    if (!e->has_value)
        return true;
    return strcmp(e->value, "0") && strcasecmp(e->value, "false") && strcasecmp(e->value, "off");
}

long faults_value(const char *name, long dflt)
{
    const struct fault_entry *e = lookup(name);
    if (!e || !e->has_value || !e->value[0])
        return dflt;
    char *end = NULL;
    errno = 0;
    long v = strtol(e->value, &end, 10);
    if (errno || !end || *end)
        return dflt;
    return v;
}

void faults_reload(void)
{
    pthread_once(&table_once, parse_env);
    parse_env();
}

#else /* !ARC_TEST_HOOKS */

bool faults_enabled(const char *name)
{
    (void)name;
    return false;
}

long faults_value(const char *name, long dflt)
{
    (void)name;
    return dflt;
}

void faults_reload(void)
{
}

#endif
