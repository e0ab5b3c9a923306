/*
 * auth/auth.c — the auth instance: bootstrap, verification with the cache,
 * request decisions, token management, the creation rate limit and the
 * background thread (see auth.h for the contract, docs/auth.md for the
 * model).
 *
 * Owns: the store (store.c), the verification cache (cache.c), the table of
 * not-yet-persisted last-use times, the rate-limit table and one background
 * thread "arc-auth".
 *
 * Threads: HTTP I/O threads call auth_authorize_cached (cache only); HTTP
 * worker threads call auth_authorize (which may read the store), auth_check
 * and the token functions; the main thread opens and closes; the background
 * thread persists last-use times every opts.last_used_flush_ms and, once a
 * second, checks whether another process changed the table (`arc token
 * revoke` on a running server) to invalidate the cache.
 *
 * Locks (never nested; none is held while calling the store, whose own
 * db_lock is innermost and taken alone):
 *   cache_lock  the cache and its counters
 *   uses_lock   uses[] (pending last-use times)
 *   rate_lock   rate[] (creation attempts per client)
 *   bg_lock     bg_stop, with bg_cond to wake the thread
 *
 * Cache coherence: every mutation writes the store, then clears the cache
 * (bumping its generation) before returning. A verification that missed the
 * cache notes the generation before reading the store and inserts its result
 * only if the generation is unchanged, so a read that raced a revocation
 * can never re-insert the revoked token.
 */
#include "auth/auth_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define USES_MAX 4096  /* distinct tokens with a pending last-use time */
#define RATE_SLOTS 256 /* client addresses remembered by the rate limit */
#define RATE_WINDOW_MS 60000
#define BG_TICK_MS 1000

struct rate_slot {
    char addr[64];                          /* "" = free */
    int64_t t_ms[AUTH_CREATE_RATE_PER_MIN]; /* ring of recent attempt times */
    size_t n;                               /* attempts recorded (<= ring size) */
    size_t next;                            /* ring write position */
    int64_t last_ms;
};

struct auth {
    /* Set by auth_open, read-only afterwards. */
    bool enabled;
    struct config_list allowlist; /* own copy */
    int64_t cache_ttl_ms;
    struct auth_options opts; /* defaults filled in */
    struct auth__store *store;
    struct metric *m_requests, *m_failures, *m_hits, *m_misses;

    /* cache_lock guards cache. */
    pthread_mutex_t cache_lock;
    struct auth__cache cache;

    /* uses_lock guards uses, nuses, uses_dropped. */
    pthread_mutex_t uses_lock;
    struct auth__use *uses; /* USES_MAX slots */
    size_t nuses;
    uint64_t uses_dropped;

    /* rate_lock guards rate. */
    pthread_mutex_t rate_lock;
    struct rate_slot rate[RATE_SLOTS];

    /* bg_lock guards bg_stop. */
    pthread_mutex_t bg_lock;
    pthread_cond_t bg_cond;
    bool bg_stop;
    bool bg_started; /* main thread only */
    pthread_t bg;

    atomic_bool url_warned; /* one-time deprecation warning given */
};

/* --- small helpers ---------------------------------------------------------------- */

static void list_copy(struct config_list *dst, const struct config_list *src)
{
    dst->count = src ? src->count : 0;
    dst->items = dst->count ? xcalloc(dst->count, sizeof(char *)) : NULL;
    for (size_t i = 0; i < dst->count; i++)
        dst->items[i] = xstrdup(src->items[i] ? src->items[i] : "");
}

static void list_free(struct config_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        xfree(l->items[i]);
    xfree(l->items);
    l->items = NULL;
    l->count = 0;
}

bool auth_is_enabled(const struct auth *a)
{
    return a && a->enabled;
}

bool auth_path_is_public(const struct auth *a, const char *path)
{
    return a && auth_allowlist_match(&a->allowlist, path);
}

static void invalidate(struct auth *a)
{
    pthread_mutex_lock(&a->cache_lock);
    auth__cache_clear(&a->cache);
    pthread_mutex_unlock(&a->cache_lock);
}

void auth_cache_invalidate(struct auth *a)
{
    invalidate(a);
}

/* --- last-use times ---------------------------------------------------------------- */

static void note_use(struct auth *a, int64_t id, int64_t ts_us)
{
    pthread_mutex_lock(&a->uses_lock);
    size_t i = 0;
    for (; i < a->nuses; i++)
        if (a->uses[i].id == id)
            break;
    if (i < a->nuses) {
        if (a->uses[i].ts_us < ts_us)
            a->uses[i].ts_us = ts_us;
    } else if (a->nuses < USES_MAX) {
        a->uses[a->nuses].id = id;
        a->uses[a->nuses].ts_us = ts_us;
        a->nuses++;
    } else {
        a->uses_dropped++; /* best effort: the next flush makes room */
    }
    pthread_mutex_unlock(&a->uses_lock);
}

/* Newer pending last-use time of token id, if any. */
static void overlay_use(struct auth *a, struct auth_token_info *t)
{
    pthread_mutex_lock(&a->uses_lock);
    for (size_t i = 0; i < a->nuses; i++) {
        if (a->uses[i].id == t->id) {
            if (!t->has_last_used || t->last_used_at_us < a->uses[i].ts_us) {
                t->has_last_used = true;
                t->last_used_at_us = a->uses[i].ts_us;
            }
            break;
        }
    }
    pthread_mutex_unlock(&a->uses_lock);
}

void auth_flush_last_used(struct auth *a)
{
    if (!a)
        return;
    /* Swap the pending times out under the lock, write them without it. */
    struct auth__use *batch = xmalloc(USES_MAX * sizeof(*batch));
    pthread_mutex_lock(&a->uses_lock);
    size_t n = a->nuses;
    memcpy(batch, a->uses, n * sizeof(*batch));
    a->nuses = 0;
    pthread_mutex_unlock(&a->uses_lock);
    struct errbuf eb;
    errbuf_clear(&eb);
    if (n && auth__store_touch(a->store, batch, n, &eb) != RC_OK)
        log_warn("auth", "could not persist last_used_at tokens=%zu err=%s", n, eb.msg);
    xfree(batch);
}

static void *bg_main(void *arg)
{
    struct auth *a = arg;
    pthread_setname_np(pthread_self(), "arc-auth");
    int64_t last_flush = a->opts.mono_ms();
    int64_t version = 0;
    bool have_version = auth__store_data_version(a->store, &version) == RC_OK;
    for (;;) {
        pthread_mutex_lock(&a->bg_lock);
        if (!a->bg_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += BG_TICK_MS / 1000;
            pthread_cond_timedwait(&a->bg_cond, &a->bg_lock, &ts);
        }
        bool stop = a->bg_stop;
        pthread_mutex_unlock(&a->bg_lock);
        if (stop)
            break;
        int64_t v = 0;
        if (auth__store_data_version(a->store, &v) == RC_OK) {
            if (have_version && v != version) {
                log_info("auth", "token table changed by another process; cache invalidated");
                invalidate(a);
            }
            version = v;
            have_version = true;
        }
        if (a->opts.mono_ms() - last_flush >= a->opts.last_used_flush_ms) {
            auth_flush_last_used(a);
            last_flush = a->opts.mono_ms();
        }
    }
    return NULL;
}

/* --- open / bootstrap ----------------------------------------------------------- */

static void print_bootstrap(FILE *f, const char *token)
{
    fprintf(f,
            "\n"
            "==========================================================================\n"
            " Arc created the initial admin API token. It is shown only this once:\n"
            " store it somewhere safe now.\n"
            "\n"
            "     %s\n"
            "\n"
            " Send it with every request as the header 'Authorization: Bearer <token>'\n"
            " (or 'x-api-key: <token>'); create more tokens with\n"
            " POST /api/v1/auth/tokens or `arc token create --name NAME`.\n"
            "==========================================================================\n"
            "\n",
            token);
    fflush(f);
}

static int bootstrap(struct auth *a, const struct config_auth *cfg, struct errbuf *eb)
{
    int rc = RC_OK;
    char *verifier = NULL;
    const char *bt = cfg->bootstrap_token ? cfg->bootstrap_token : "";
    size_t btlen = strlen(bt);
    if (btlen && btlen < AUTH_BOOTSTRAP_MIN_CHARS)
        return errbuf_set(eb, RC_INVALID, "auth.bootstrap_token must be at least %d characters",
                          AUTH_BOOTSTRAP_MIN_CHARS);
    int64_t count = 0;
    if ((rc = auth__store_count(a->store, &count, eb)) != RC_OK)
        return rc;

    struct auth_token_spec spec = {0};
    spec.set_perms = true;
    spec.perms = AUTH_PERM_ALL;
    spec.description = "";
    char lookup[AUTH__LOOKUP_HEX + 1];
    int64_t id = 0;

    if (count > 0) {
        if (!cfg->force_bootstrap)
            return RC_OK;
        if (!btlen) {
            log_warn("auth", "auth.force_bootstrap is set without auth.bootstrap_token; ignored");
            return RC_OK;
        }
        spec.name = "arc-recovery";
        spec.description = "recovery token from auth.force_bootstrap";
        if (!(verifier = auth__verifier_pbkdf2(bt, a->opts.pbkdf2_iterations)))
            return errbuf_set(eb, RC_INTERNAL, "auth: cannot hash the bootstrap token");
        auth__lookup_key(bt, lookup);
        rc = auth__store_insert(a->store, &spec, a->opts.now_us(), lookup, verifier,
                                AUTH__INS_REPLACE, &id, eb);
        if (rc == RC_OK)
            log_warn("auth",
                     "force_bootstrap: admin token 'arc-recovery' id=%lld set from "
                     "auth.bootstrap_token (existing tokens kept); turn force_bootstrap off "
                     "once access is restored",
                     (long long)id);
        goto out;
    }

    spec.name = "admin";
    spec.description = "bootstrap admin token";
    if (btlen) {
        if (!(verifier = auth__verifier_pbkdf2(bt, a->opts.pbkdf2_iterations)))
            return errbuf_set(eb, RC_INTERNAL, "auth: cannot hash the bootstrap token");
        auth__lookup_key(bt, lookup);
        rc = auth__store_insert(a->store, &spec, a->opts.now_us(), lookup, verifier,
                                AUTH__INS_IF_EMPTY, &id, eb);
        if (rc == RC_EXISTS) { /* another process bootstrapped first */
            errbuf_clear(eb);
            rc = RC_OK;
        } else if (rc == RC_OK) {
            log_info("auth",
                     "bootstrap: created admin token 'admin' id=%lld from "
                     "auth.bootstrap_token",
                     (long long)id);
        }
        goto out;
    }

    char secret[AUTH_TOKEN_GEN_CHARS + 1];
    if (auth__generate_secret(secret) != RC_OK)
        return errbuf_set(eb, RC_INTERNAL, "auth: CSPRNG failure");
    verifier = auth__verifier_sha256(secret);
    auth__lookup_key(secret, lookup);
    rc = auth__store_insert(a->store, &spec, a->opts.now_us(), lookup, verifier, AUTH__INS_IF_EMPTY,
                            &id, eb);
    if (rc == RC_EXISTS) {
        errbuf_clear(eb);
        rc = RC_OK;
    } else if (rc == RC_OK) {
        /* The value goes to stderr only, never through log_*. */
        print_bootstrap(a->opts.bootstrap_out ? a->opts.bootstrap_out : stderr, secret);
        log_info("auth",
                 "bootstrap: generated admin token 'admin' id=%lld; its value was "
                 "printed once to stderr",
                 (long long)id);
    }
    memset(secret, 0, sizeof(secret));
out:
    if (verifier) {
        memset(verifier, 0, strlen(verifier));
        xfree(verifier);
    }
    return rc;
}

int auth_open(const struct config_auth *cfg, struct auth **out, struct errbuf *eb)
{
    return auth_open_opts(cfg, NULL, out, eb);
}

int auth_open_opts(const struct config_auth *cfg, const struct auth_options *opts,
                   struct auth **out, struct errbuf *eb)
{
    int rc = RC_OK;
    if (!cfg || !cfg->db_path || !*cfg->db_path)
        return errbuf_set(eb, RC_INVALID, "auth.db_path must not be empty");
    struct auth *a = xcalloc(1, sizeof(*a));
    if (opts)
        a->opts = *opts;
    if (!a->opts.now_us)
        a->opts.now_us = time_now_us;
    if (!a->opts.mono_ms)
        a->opts.mono_ms = time_mono_ms;
    if (a->opts.pbkdf2_iterations <= 0)
        a->opts.pbkdf2_iterations = AUTH_PBKDF2_ITERATIONS;
    if (a->opts.last_used_flush_ms <= 0)
        a->opts.last_used_flush_ms = 5000;
    a->enabled = cfg->enabled;
    list_copy(&a->allowlist, &cfg->allowlist);
    a->cache_ttl_ms = a->opts.cache_ttl_ms > 0 ? a->opts.cache_ttl_ms
                      : cfg->cache_ttl > 0     ? cfg->cache_ttl * 1000
                                               : 0;
    pthread_mutex_init(&a->cache_lock, NULL);
    pthread_mutex_init(&a->uses_lock, NULL);
    pthread_mutex_init(&a->rate_lock, NULL);
    pthread_mutex_init(&a->bg_lock, NULL);
    pthread_cond_init(&a->bg_cond, NULL);
    auth__cache_init(&a->cache, cfg->max_cache_size > 0 ? (size_t)cfg->max_cache_size : 0,
                     a->cache_ttl_ms);
    a->uses = xmalloc(USES_MAX * sizeof(*a->uses));
    a->m_requests =
        metrics_counter("arc_auth_requests_total", "Requests that needed authentication", NULL);
    a->m_failures =
        metrics_counter("arc_auth_failures_total", "Requests rejected with 401 or 403", NULL);
    a->m_hits = metrics_counter("arc_auth_cache_hits_total", "Token verification cache hits", NULL);
    a->m_misses =
        metrics_counter("arc_auth_cache_misses_total", "Token verification cache misses", NULL);

    if ((rc = auth__store_open(cfg->db_path, &a->store, eb)) != RC_OK)
        goto fail;
    if (cfg->enabled && (rc = bootstrap(a, cfg, eb)) != RC_OK)
        goto fail;
    if (!a->opts.no_background) {
        if (pthread_create(&a->bg, NULL, bg_main, a) != 0) {
            rc = errbuf_set(eb, RC_INTERNAL, "auth: cannot start the background thread");
            goto fail;
        }
        a->bg_started = true;
    }
    log_info("auth", "token store opened path=%s enabled=%s cache_ttl_ms=%lld max_cache=%zu",
             cfg->db_path, cfg->enabled ? "true" : "false", (long long)a->cache_ttl_ms,
             a->cache.max_size);
    *out = a;
    return RC_OK;
fail:
    auth_close(&a);
    return rc;
}

void auth_close(struct auth **ap)
{
    if (!ap || !*ap)
        return;
    struct auth *a = *ap;
    if (a->bg_started) {
        pthread_mutex_lock(&a->bg_lock);
        a->bg_stop = true;
        pthread_cond_signal(&a->bg_cond);
        pthread_mutex_unlock(&a->bg_lock);
        pthread_join(a->bg, NULL);
    }
    if (a->store)
        auth_flush_last_used(a);
    auth__store_close(&a->store);
    auth__cache_cleanup(&a->cache);
    list_free(&a->allowlist);
    xfree(a->uses);
    pthread_mutex_destroy(&a->cache_lock);
    pthread_mutex_destroy(&a->uses_lock);
    pthread_mutex_destroy(&a->rate_lock);
    pthread_mutex_destroy(&a->bg_lock);
    pthread_cond_destroy(&a->bg_cond);
    xfree(a);
    *ap = NULL;
}

/* --- verification ---------------------------------------------------------------- */

static int check_token(struct auth *a, const char *token, unsigned needed, bool cache_only,
                       struct auth_principal *out)
{
    if (!token || !*token) {
        metric_inc(a->m_requests);
        metric_inc(a->m_failures);
        return RC_UNAUTH;
    }
    unsigned char key[AUTH__SHA256_LEN];
    auth__sha256(token, strlen(token), key);
    int64_t now_us = a->opts.now_us();
    struct auth_principal p;

    pthread_mutex_lock(&a->cache_lock);
    bool hit = auth__cache_get(&a->cache, key, a->opts.mono_ms(), &p);
    uint64_t gen = a->cache.generation;
    pthread_mutex_unlock(&a->cache_lock);
    if (!hit && cache_only)
        return RC_AGAIN; /* counted when asked again */
    metric_inc(a->m_requests);
    metric_inc(hit ? a->m_hits : a->m_misses);

    if (!hit) {
        char lookup[AUTH__LOOKUP_HEX + 1];
        auth__lookup_key(token, lookup);
        struct auth__cand *c = NULL;
        size_t n = 0;
        struct errbuf eb;
        errbuf_clear(&eb);
        if (auth__store_find(a->store, lookup, &c, &n, &eb) != RC_OK) {
            log_error("auth", "token lookup failed: %s", eb.msg);
            return RC_DB;
        }
        /* No row with this lookup key: rejected without further hashing. */
        /* Several rows can share a value (force_bootstrap's arc-recovery may
         * reuse the bootstrap token): the first usable one wins. Rows that
         * cannot be used are skipped before paying for their verifier. */
        struct auth__cand *found = NULL;
        for (size_t i = 0; i < n && !found; i++) {
            bool usable = c[i].enabled && !(c[i].p.has_expiry && now_us >= c[i].p.expires_at_us);
            if (usable && auth__verifier_check(c[i].verifier, token))
                found = &c[i];
        }
        bool ok = found != NULL;
        if (ok)
            p = found->p;
        auth__cands_free(c, n);
        if (!ok) {
            metric_inc(a->m_failures);
            return RC_UNAUTH;
        }
        pthread_mutex_lock(&a->cache_lock);
        if (a->cache.generation == gen)
            auth__cache_put(&a->cache, key, &p, a->opts.mono_ms());
        pthread_mutex_unlock(&a->cache_lock);
    }
    /* A cached entry may have expired since it was cached. */
    if (p.has_expiry && now_us >= p.expires_at_us) {
        metric_inc(a->m_failures);
        return RC_UNAUTH;
    }
    note_use(a, p.id, now_us);
    if (out)
        *out = p;
    if (!auth_perms_allow(p.perms, needed)) {
        metric_inc(a->m_failures);
        return RC_DENIED;
    }
    return RC_OK;
}

int auth_check(struct auth *a, const char *token, unsigned needed, struct auth_principal *out)
{
    return check_token(a, token, needed, false, out);
}

void auth_note_url_token(struct auth *a, const char *token_name)
{
    if (!a || atomic_exchange(&a->url_warned, true))
        return;
    log_warn("auth",
             "a token was passed in the URL query parameter 'p' (InfluxDB 1.x style); this is "
             "deprecated because URLs end up in logs: use the Authorization header "
             "token_name=%s",
             token_name ? token_name : "(invalid)");
}

static void decide(struct auth *a, const char *path, unsigned needed,
                   const struct auth_creds *creds, bool cache_only, struct auth_decision *out)
{
    memset(out, 0, sizeof(*out));
    if (auth_path_is_public(a, path)) {
        out->is_public = true;
        return;
    }
    if (!a || !a->enabled)
        return;
    char token[AUTH_TOKEN_MAX_BYTES + 1];
    enum auth_extract_result r = auth_extract_token(creds, token, sizeof(token), &out->source);
    if (r != AUTH_CREDS_OK) {
        metric_inc(a->m_requests);
        metric_inc(a->m_failures);
        out->status = 401;
        snprintf(out->message, sizeof(out->message), "%s",
                 r == AUTH_CREDS_NONE ? "Authentication required" : "Invalid or expired token");
        return;
    }
    int rc = check_token(a, token, needed, cache_only, &out->principal);
    memset(token, 0, sizeof(token));
    if (rc == RC_AGAIN) {
        out->needs_store = true;
        return;
    }
    if (out->source == AUTH_SRC_QUERY)
        auth_note_url_token(a, rc == RC_OK || rc == RC_DENIED ? out->principal.name : NULL);
    switch (rc) {
    case RC_OK: out->authenticated = true; return;
    case RC_DENIED:
        out->authenticated = true;
        out->status = 403;
        snprintf(out->message, sizeof(out->message), "Permission denied: %s required",
                 auth_perm_name(needed));
        return;
    case RC_UNAUTH:
        out->status = 401;
        snprintf(out->message, sizeof(out->message), "Invalid or expired token");
        return;
    default:
        out->status = 500;
        snprintf(out->message, sizeof(out->message), "Authentication store error");
        return;
    }
}

void auth_authorize(struct auth *a, const char *path, unsigned needed,
                    const struct auth_creds *creds, struct auth_decision *out)
{
    decide(a, path, needed, creds, false, out);
}

void auth_authorize_cached(struct auth *a, const char *path, unsigned needed,
                           const struct auth_creds *creds, struct auth_decision *out)
{
    decide(a, path, needed, creds, true, out);
}

/* --- token management ------------------------------------------------------------ */

static int check_spec(const struct auth_token_spec *spec, bool for_create, struct errbuf *eb)
{
    int rc;
    if (for_create && !spec->name)
        return errbuf_set(eb, RC_INVALID, "name is required");
    if (spec->name && (rc = auth_validate_name(spec->name, strlen(spec->name), eb)) != RC_OK)
        return rc;
    if (spec->description &&
        (rc = auth_validate_description(spec->description, strlen(spec->description), eb)) != RC_OK)
        return rc;
    if (spec->set_perms && (spec->perms & ~AUTH_PERM_ALL))
        return errbuf_set(eb, RC_INVALID, "unknown permission bits");
    return RC_OK;
}

static int get_info(struct auth *a, int64_t id, struct auth_token_info *out, struct errbuf *eb)
{
    int rc = auth__store_get(a->store, id, NULL, out, eb);
    if (rc == RC_OK)
        overlay_use(a, out);
    return rc;
}

static int new_secret(char **out_secret, char lookup[AUTH__LOOKUP_HEX + 1], char **verifier,
                      struct errbuf *eb)
{
    char secret[AUTH_TOKEN_GEN_CHARS + 1];
    if (auth__generate_secret(secret) != RC_OK)
        return errbuf_set(eb, RC_INTERNAL, "auth: CSPRNG failure");
    auth__lookup_key(secret, lookup);
    *verifier = auth__verifier_sha256(secret);
    *out_secret = xstrdup(secret);
    memset(secret, 0, sizeof(secret));
    return RC_OK;
}

static void free_secret(char **s)
{
    if (*s) {
        memset(*s, 0, strlen(*s));
        xfree(*s);
        *s = NULL;
    }
}

int auth_token_create(struct auth *a, const struct auth_token_spec *spec, char **out_secret,
                      struct auth_token_info *out_info, struct errbuf *eb)
{
    int rc = check_spec(spec, true, eb);
    if (rc != RC_OK)
        return rc;
    char lookup[AUTH__LOOKUP_HEX + 1];
    char *verifier = NULL, *secret = NULL;
    int64_t id = 0;
    if ((rc = new_secret(&secret, lookup, &verifier, eb)) != RC_OK)
        return rc;
    rc = auth__store_insert(a->store, spec, a->opts.now_us(), lookup, verifier, 0, &id, eb);
    xfree(verifier);
    invalidate(a);
    if (rc == RC_OK && out_info)
        rc = get_info(a, id, out_info, eb);
    if (rc != RC_OK) {
        free_secret(&secret);
        return rc;
    }
    log_info("auth", "token created id=%lld name=%s", (long long)id, spec->name);
    *out_secret = secret;
    return RC_OK;
}

int auth_token_list(struct auth *a, struct auth_token_info **out, size_t *n, struct errbuf *eb)
{
    int rc = auth__store_list(a->store, out, n, eb);
    for (size_t i = 0; rc == RC_OK && i < *n; i++)
        overlay_use(a, &(*out)[i]);
    return rc;
}

int auth_token_get(struct auth *a, int64_t id, struct auth_token_info *out, struct errbuf *eb)
{
    return get_info(a, id, out, eb);
}

int auth_token_get_by_name(struct auth *a, const char *name, struct auth_token_info *out,
                           struct errbuf *eb)
{
    int rc = auth__store_get(a->store, 0, name, out, eb);
    if (rc == RC_OK)
        overlay_use(a, out);
    return rc;
}

int auth_token_update(struct auth *a, int64_t id, const struct auth_token_spec *spec,
                      struct auth_token_info *out_info, struct errbuf *eb)
{
    int rc = check_spec(spec, false, eb);
    if (rc != RC_OK)
        return rc;
    rc = auth__store_update(a->store, id, spec, eb);
    invalidate(a);
    if (rc == RC_OK) {
        log_info("auth", "token updated id=%lld", (long long)id);
        if (out_info)
            rc = get_info(a, id, out_info, eb);
    }
    return rc;
}

int auth_token_delete(struct auth *a, int64_t id, struct errbuf *eb)
{
    int rc = auth__store_delete(a->store, id, eb);
    invalidate(a);
    if (rc == RC_OK)
        log_info("auth", "token deleted id=%lld", (long long)id);
    return rc;
}

int auth_token_rotate(struct auth *a, int64_t id, char **out_secret,
                      struct auth_token_info *out_info, struct errbuf *eb)
{
    char lookup[AUTH__LOOKUP_HEX + 1];
    char *verifier = NULL, *secret = NULL;
    int rc = new_secret(&secret, lookup, &verifier, eb);
    if (rc != RC_OK)
        return rc;
    rc = auth__store_set_secret(a->store, id, lookup, verifier, eb);
    xfree(verifier);
    invalidate(a);
    if (rc == RC_OK && out_info)
        rc = get_info(a, id, out_info, eb);
    if (rc != RC_OK) {
        free_secret(&secret);
        return rc;
    }
    log_info("auth", "token rotated id=%lld", (long long)id);
    *out_secret = secret;
    return RC_OK;
}

int auth_token_revoke(struct auth *a, int64_t id, struct errbuf *eb)
{
    struct auth_token_spec spec = {0};
    spec.set_enabled = true;
    spec.enabled = false;
    int rc = auth__store_update(a->store, id, &spec, eb);
    invalidate(a);
    if (rc == RC_OK)
        log_info("auth", "token revoked id=%lld", (long long)id);
    return rc;
}

/* --- rate limit ------------------------------------------------------------------- */

bool auth_create_rate_ok(struct auth *a, const char *client_addr)
{
    const char *addr = client_addr && *client_addr ? client_addr : "?";
    int64_t now = a->opts.mono_ms();
    bool ok;
    pthread_mutex_lock(&a->rate_lock);
    struct rate_slot *slot = NULL, *victim = &a->rate[0];
    for (size_t i = 0; i < RATE_SLOTS; i++) {
        struct rate_slot *s = &a->rate[i];
        if (s->addr[0] && strncmp(s->addr, addr, sizeof(s->addr) - 1) == 0) {
            slot = s;
            break;
        }
        /* Prefer a free slot, else the least recently used one. */
        if (victim->addr[0] && (!s->addr[0] || s->last_ms < victim->last_ms))
            victim = s;
    }
    if (!slot) {
        slot = victim;
        memset(slot, 0, sizeof(*slot));
        snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
    }
    slot->last_ms = now;
    /* The ring holds the last N attempt times; the oldest is at `next` once
     * full. N attempts inside the window -> refuse (not recorded). */
    if (slot->n == AUTH_CREATE_RATE_PER_MIN && now - slot->t_ms[slot->next] < RATE_WINDOW_MS) {
        ok = false;
    } else {
        slot->t_ms[slot->next] = now;
        slot->next = (slot->next + 1) % AUTH_CREATE_RATE_PER_MIN;
        if (slot->n < AUTH_CREATE_RATE_PER_MIN)
            slot->n++;
        ok = true;
    }
    pthread_mutex_unlock(&a->rate_lock);
    return ok;
}

/* --- cache stats ------------------------------------------------------------------ */

void auth_cache_get_stats(struct auth *a, struct auth_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&a->cache_lock);
    out->cache_size = a->cache.size;
    out->max_cache_size = a->cache.max_size;
    out->cache_hits = a->cache.hits;
    out->cache_misses = a->cache.misses;
    out->cache_evictions = a->cache.evictions;
    pthread_mutex_unlock(&a->cache_lock);
    out->cache_ttl_seconds = a->cache_ttl_ms / 1000;
    out->total_requests = out->cache_hits + out->cache_misses;
    out->utilization_percent =
        out->max_cache_size ? 100.0 * (double)out->cache_size / (double)out->max_cache_size : 0;
    out->hit_rate_percent =
        out->total_requests ? 100.0 * (double)out->cache_hits / (double)out->total_requests : 0;
}
