/*
 * auth/auth_cli.c — `arc token …`: token management from the command line,
 * on the same store the server uses (auth.db_path).
 *
 *   arc token create --name NAME [--permissions read,write] [--description TEXT]
 *                    [--expires-in 24h]
 *   arc token list
 *   arc token revoke <id|name>
 *
 * `create` prints the new token alone on one line of stdout (so that
 * TOKEN=$(arc token create --name x) works) and a summary on stderr; the
 * value is never shown again. A running server notices changes made here
 * within about a second (auth.c watches the table) and drops its cache.
 *
 * Runs on the main thread of a short-lived process; opens the store without
 * the background thread. If the store has no token yet and auth is enabled,
 * opening it bootstraps the admin token exactly as the server would (the
 * generated value is printed to stderr once).
 */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/timeutil.h"

static void cli_usage(FILE *f)
{
    fprintf(f, "Usage:\n"
               "  arc token create --name NAME [--permissions read,write,delete,admin]\n"
               "                   [--description TEXT] [--expires-in DURATION]\n"
               "  arc token list\n"
               "  arc token revoke <id|name>\n"
               "\n"
               "DURATION is e.g. 90m, 24h, 1h30m or 30d. Default permissions: read,write.\n"
               "The created token is printed once to stdout; store it safely.\n");
}

static bool is_global_opt(const char *a, size_t *nl)
{
    static const char *globals[] = {"--config", "--set", "--host", "--port", "--log-level"};
    for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
        size_t n = strlen(globals[i]);
        if (strncmp(a, globals[i], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
            *nl = n;
            return true;
        }
    }
    return false;
}

/* Copies argv without the global options (and their values). */
static int strip_globals(int argc, char **argv, char **out)
{
    int n = 0;
    for (int i = 0; i < argc; i++) {
        size_t nl;
        if (is_global_opt(argv[i], &nl)) {
            if (argv[i][nl] == '\0')
                i++; /* the value is the next argument */
            continue;
        }
        out[n++] = argv[i];
    }
    return n;
}

static void print_time(char *buf, size_t cap, bool has, int64_t us)
{
    if (has) /* whole seconds keep the table aligned */
        time_format_rfc3339_us(us - ((us % US_PER_SEC) + US_PER_SEC) % US_PER_SEC, buf, cap);
    else
        snprintf(buf, cap, "-");
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int cmd_create(struct auth *a, int argc, char **argv)
{
    struct auth_token_spec spec = {0};
    const char *expires_in = NULL;
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = NULL;
        const char *eq = strchr(opt, '=');
        char name[32];
        size_t nl = eq ? (size_t)(eq - opt) : strlen(opt);
        if (nl >= sizeof(name))
            nl = sizeof(name) - 1;
        memcpy(name, opt, nl);
        name[nl] = '\0';
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "arc token create: %s needs a value\n", name);
            return 2;
        }
        if (!strcmp(name, "--name")) {
            spec.name = val;
        } else if (!strcmp(name, "--description")) {
            spec.description = val;
        } else if (!strcmp(name, "--permissions")) {
            struct errbuf eb;
            errbuf_clear(&eb);
            spec.perms = 0;
            if (auth_perms_parse(val, strlen(val), &spec.perms, &eb) != RC_OK) {
                fprintf(stderr, "arc token create: %s\n", eb.msg);
                return 2;
            }
            spec.set_perms = true;
        } else if (!strcmp(name, "--expires-in")) {
            expires_in = val;
        } else {
            fprintf(stderr, "arc token create: unknown option '%s'\n\n", name);
            cli_usage(stderr);
            return 2;
        }
    }
    if (!spec.name) {
        fprintf(stderr, "arc token create: --name is required\n\n");
        cli_usage(stderr);
        return 2;
    }
    struct errbuf eb;
    errbuf_clear(&eb);
    if (expires_in) {
        int64_t d = 0;
        if (auth_parse_duration(expires_in, &d, &eb) != RC_OK) {
            fprintf(stderr, "arc token create: %s\n", eb.msg);
            return 2;
        }
        spec.set_expiry = spec.has_expiry = true;
        spec.expires_at_us = time_now_us() + d;
    }
    char *secret = NULL;
    struct auth_token_info info = {0};
    int rc = auth_token_create(a, &spec, &secret, &info, &eb);
    if (rc != RC_OK) {
        fprintf(stderr, "arc token create: %s\n", eb.msg);
        return rc == RC_INVALID || rc == RC_EXISTS ? 2 : 1;
    }
    char perms[64], exp[64];
    auth_perms_format(info.perms, perms, sizeof(perms));
    print_time(exp, sizeof(exp), info.has_expiry, info.expires_at_us);
    fprintf(stderr,
            "Created token id=%lld name=%s permissions=%s expires_at=%s\n"
            "The token is printed below once; it cannot be shown again.\n",
            (long long)info.id, info.name, perms[0] ? perms : "(none)", exp);
    fflush(stderr);
    printf("%s\n", secret);
    fflush(stdout);
    memset(secret, 0, strlen(secret));
    xfree(secret);
    auth_token_info_cleanup(&info);
    return 0;
}

static int cmd_list(struct auth *a)
{
    struct auth_token_info *list = NULL;
    size_t n = 0;
    struct errbuf eb;
    errbuf_clear(&eb);
    if (auth_token_list(a, &list, &n, &eb) != RC_OK) {
        fprintf(stderr, "arc token list: %s\n", eb.msg);
        return 1;
    }
    printf("%-6s %-24s %-24s %-8s %-22s %-22s %s\n", "ID", "NAME", "PERMISSIONS", "ENABLED",
           "CREATED", "EXPIRES", "LAST USED");
    for (size_t i = 0; i < n; i++) {
        char perms[64], created[64], exp[64], used[64];
        auth_perms_format(list[i].perms, perms, sizeof(perms));
        print_time(created, sizeof(created), true, list[i].created_at_us);
        print_time(exp, sizeof(exp), list[i].has_expiry, list[i].expires_at_us);
        print_time(used, sizeof(used), list[i].has_last_used, list[i].last_used_at_us);
        printf("%-6lld %-24s %-24s %-8s %-22s %-22s %s\n", (long long)list[i].id, list[i].name,
               perms[0] ? perms : "-", list[i].enabled ? "yes" : "no", created, exp, used);
    }
    auth_token_list_free(&list, n);
    return 0;
}

static int cmd_revoke(struct auth *a, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "arc token revoke: expected one <id|name>\n\n");
        cli_usage(stderr);
        return 2;
    }
    const char *who = argv[0];
    struct auth_token_info info = {0};
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = RC_NOT_FOUND;
    /* An all-digit argument is an id first, then a name. */
    if (all_digits(who) && strlen(who) < 19)
        rc = auth_token_get(a, strtoll(who, NULL, 10), &info, &eb);
    if (rc == RC_NOT_FOUND) {
        errbuf_clear(&eb);
        rc = auth_token_get_by_name(a, who, &info, &eb);
    }
    if (rc != RC_OK) {
        fprintf(stderr, "arc token revoke: %s\n",
                rc == RC_NOT_FOUND ? "no token with that id or name" : eb.msg);
        return 1;
    }
    rc = auth_token_revoke(a, info.id, &eb);
    if (rc != RC_OK) {
        fprintf(stderr, "arc token revoke: %s\n", eb.msg);
        auth_token_info_cleanup(&info);
        return 1;
    }
    printf("Revoked token id=%lld name=%s\n", (long long)info.id, info.name);
    auth_token_info_cleanup(&info);
    return 0;
}

int auth_cli_main(int argc, char **argv, const struct config *cfg)
{
    char **args = xcalloc((size_t)argc + 1, sizeof(char *));
    int n = strip_globals(argc, argv, args);
    int rc = 2;
    struct auth *a = NULL;
    /* args[0] is "token". */
    if (n < 2 || !strcmp(args[1], "--help") || !strcmp(args[1], "-h") || !strcmp(args[1], "help")) {
        cli_usage(n < 2 ? stderr : stdout);
        rc = n < 2 ? 2 : 0;
        goto out;
    }
    const char *action = args[1];
    if (strcmp(action, "create") && strcmp(action, "list") && strcmp(action, "revoke")) {
        fprintf(stderr, "arc token: unknown action '%s'\n\n", action);
        cli_usage(stderr);
        goto out;
    }
    if (!strcmp(action, "list") && n != 2) {
        fprintf(stderr, "arc token list: unexpected argument '%s'\n", args[2]);
        goto out;
    }
    struct auth_options opts = {0};
    opts.no_background = true;
    struct errbuf eb;
    errbuf_clear(&eb);
    if (auth_open_opts(&cfg->auth, &opts, &a, &eb) != RC_OK) {
        fprintf(stderr, "arc token: cannot open the token store %s: %s\n", cfg->auth.db_path,
                eb.msg);
        rc = 1;
        goto out;
    }
    if (!strcmp(action, "create"))
        rc = cmd_create(a, n - 2, args + 2);
    else if (!strcmp(action, "list"))
        rc = cmd_list(a);
    else
        rc = cmd_revoke(a, n - 2, args + 2);
out:
    auth_close(&a);
    xfree(args);
    return rc;
}
