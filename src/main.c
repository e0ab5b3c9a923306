/*
 * main.c — the `arc` command line, startup and shutdown, signals.
 *
 *   arc [serve] [--config PATH] [--set key=value]... [--port N] [--host ADDR]
 *   arc version
 *   arc config [--config PATH]     print the effective configuration (secrets redacted)
 *   arc --help
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken by one
 * signal thread. The first starts a graceful shutdown (stop accepting, finish
 * in-flight requests, flush every buffer, stop modules in reverse order, exit
 * 0); a second one exits at once with status 1.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/app.h"
#include "auth/auth.h"
#include "metrics/metrics.h"
#include "util/config.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "Arc %s — time-series database server\n"
        "\n"
        "Usage:\n"
        "  arc [serve] [options]     start the server (default command)\n"
        "  arc config [options]      print the effective configuration (secrets redacted)\n"
        "  arc version               print the version\n"
        "  arc --help                this text\n"
        "\n"
        "Options:\n"
        "  --config PATH             configuration file (default: ARC_CONFIG_FILE, ./arc.toml,\n"
        "                            ./arc.conf, /etc/arc/arc.toml; none = built-in defaults)\n"
        "  --set KEY=VALUE           override one key, e.g. --set ingestion.buffer_size=10000\n"
        "  --port N                  same as --set server.port=N\n"
        "  --host ADDR               same as --set server.host=ADDR\n"
        "  --log-level LEVEL         same as --set logging.level=LEVEL\n"
        "\n"
        "Environment: ARC_<SECTION>_<KEY> overrides a key (ARC_SERVER_PORT=8001).\n"
        "See arc.toml for every key and its default.\n",
        ARC_VERSION);
}

struct cli {
    const char *command;
    const char *config_path;
    const char *sets[64][2];
    size_t nsets;
};

/* Returns 0 on success, 2 on a usage error (message printed). */
static int parse_args(int argc, char **argv, struct cli *cli)
{
    memset(cli, 0, sizeof(*cli));
    cli->command = "serve";
    int i = 1;
    if (i < argc && argv[i][0] != '-') {
        cli->command = argv[i++];
        if (strcmp(cli->command, "serve") && strcmp(cli->command, "version") &&
            strcmp(cli->command, "config") && strcmp(cli->command, "help") &&
            strcmp(cli->command, "token")) {
            fprintf(stderr, "arc: unknown command '%s'\n\n", cli->command);
            usage(stderr);
            return 2;
        }
    }
    static char setbuf[64][512];
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        const char *key = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli->command = "help";
            return 0;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
            cli->command = "version";
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "arc: unexpected argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        /* --opt=value or --opt value */
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof(name))
            nl = sizeof(name) - 1;
        memcpy(name, a, nl);
        name[nl] = '\0';
        if (eq)
            val = eq + 1;
        bool known = !strcmp(name, "--config") || !strcmp(name, "--set") ||
                     !strcmp(name, "--port") || !strcmp(name, "--host") ||
                     !strcmp(name, "--log-level");
        if (!known) {
            fprintf(stderr, "arc: unknown option '%s'\n\n", name);
            usage(stderr);
            return 2;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "arc: option %s needs a value\n", name);
                return 2;
            }
            val = argv[++i];
        }
        if (!strcmp(name, "--config")) {
            cli->config_path = val;
            continue;
        }
        if (cli->nsets >= 64) {
            fprintf(stderr, "arc: too many --set options\n");
            return 2;
        }
        if (!strcmp(name, "--set")) {
            const char *e = strchr(val, '=');
            if (!e) {
                fprintf(stderr, "arc: --set needs KEY=VALUE, got '%s'\n", val);
                return 2;
            }
            snprintf(setbuf[cli->nsets], sizeof(setbuf[0]), "%.*s", (int)(e - val), val);
            key = setbuf[cli->nsets];
            val = e + 1;
        } else if (!strcmp(name, "--port")) {
            key = "server.port";
        } else if (!strcmp(name, "--host")) {
            key = "server.host";
        } else {
            key = "logging.level";
        }
        cli->sets[cli->nsets][0] = key;
        cli->sets[cli->nsets][1] = val;
        cli->nsets++;
    }
    return 0;
}

static int load_config(const struct cli *cli, struct config **out)
{
    struct errbuf eb;
    errbuf_clear(&eb);
    if (config_load(out, cli->config_path, &eb) != RC_OK) {
        fprintf(stderr, "arc: configuration error: %s\n", eb.msg);
        return 1;
    }
    for (size_t i = 0; i < cli->nsets; i++) {
        if (config_set(*out, cli->sets[i][0], cli->sets[i][1], &eb) != RC_OK) {
            fprintf(stderr, "arc: configuration error: %s\n", eb.msg);
            config_free(out);
            return 1;
        }
    }
    return 0;
}

static void configure_logging(const struct config *cfg)
{
    int level = log_level_parse(cfg->logging.level);
    enum log_format fmt =
        strcmp(cfg->logging.format, "text") == 0 ? LOG_FORMAT_TEXT : LOG_FORMAT_STRUCTURED;
    log_configure(level < 0 ? LOG_INFO : (enum log_level)level, fmt,
                  (size_t)cfg->logging.buffer_entries);
}

/* --- signals ----------------------------------------------------------- */

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sig_cond = PTHREAD_COND_INITIALIZER;
static int stop_requested; /* guarded by sig_lock */

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int count = 0;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        if (++count == 1) {
            log_info("server", "signal received, shutting down gracefully sig=%s",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
            pthread_mutex_lock(&sig_lock);
            stop_requested = 1;
            pthread_cond_signal(&sig_cond);
            pthread_mutex_unlock(&sig_lock);
        } else {
            log_warn("server", "second signal received, exiting immediately");
            _exit(1);
        }
    }
    return NULL;
}

static int serve(struct config *cfg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Block before any thread exists so every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_t st;
    pthread_create(&st, NULL, signal_thread, &set);
    pthread_detach(st);

    if (!cfg->auth.enabled)
        log_warn("auth", "authentication is disabled: every endpoint is open");
    const char *src = config_source_path(cfg);
    log_info("server", "starting version=%s config=%s", ARC_VERSION, src ? src : "(defaults)");

    struct app app;
    struct errbuf eb;
    errbuf_clear(&eb);
    if (app_start(&app, cfg, &eb) != RC_OK) {
        log_error("server", "startup failed: %s", eb.msg);
        fprintf(stderr, "arc: startup failed: %s\n", eb.msg);
        return 1;
    }

    pthread_mutex_lock(&sig_lock);
    while (!stop_requested)
        pthread_cond_wait(&sig_cond, &sig_lock);
    pthread_mutex_unlock(&sig_lock);

    int rc = app_stop(&app);
    if (rc != RC_OK)
        log_error("server", "shutdown finished with unflushed data rc=%s", rc_name(rc));
    else
        log_info("server", "shutdown complete");
    return 0;
}

/* `arc token ...`: global options (--config, --set, ...) are taken from
 * anywhere on the line; the rest goes to auth_cli_main. */
static int token_main(int argc, char **argv)
{
    struct cli cli;
    memset(&cli, 0, sizeof(cli));
    static char setbuf[64][512];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const char *key = NULL;
        if (nl == 8 && !strncmp(a, "--config", 8))
            key = "";
        else if (nl == 5 && !strncmp(a, "--set", 5))
            key = "set";
        else if (nl == 11 && !strncmp(a, "--log-level", 11))
            key = "logging.level";
        else
            continue;
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "arc: option %.*s needs a value\n", (int)nl, a);
            return 2;
        }
        if (!*key) {
            cli.config_path = val;
        } else if (cli.nsets < 64) {
            if (!strcmp(key, "set")) {
                const char *e = strchr(val, '=');
                if (!e) {
                    fprintf(stderr, "arc: --set needs KEY=VALUE\n");
                    return 2;
                }
                snprintf(setbuf[cli.nsets], sizeof(setbuf[0]), "%.*s", (int)(e - val), val);
                key = setbuf[cli.nsets];
                val = e + 1;
            }
            cli.sets[cli.nsets][0] = key;
            cli.sets[cli.nsets][1] = val;
            cli.nsets++;
        }
    }
    struct config *cfg = NULL;
    if (load_config(&cli, &cfg))
        return 1;
    configure_logging(cfg);
    int rc = auth_cli_main(argc - 1, argv + 1, cfg);
    config_free(&cfg);
    metrics_shutdown();
    log_shutdown();
    return rc;
}

int main(int argc, char **argv)
{
    /* Write batches grow and die by the megabyte; returning them to the
     * kernel each time costs more in page zeroing than the parsing itself
     * (measured with bench_msgpack). Keep up to 256 MiB of freed memory. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (argc > 1 && !strcmp(argv[1], "token"))
        return token_main(argc, argv);
    struct cli cli;
    int rc = parse_args(argc, argv, &cli);
    if (rc)
        return rc;
    if (!strcmp(cli.command, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cli.command, "version")) {
        printf("arc %s\n", ARC_VERSION);
        return 0;
    }
    struct config *cfg = NULL;
    if (load_config(&cli, &cfg))
        return 1;
    configure_logging(cfg);
    if (!strcmp(cli.command, "config")) {
        struct strbuf sb;
        strbuf_init(&sb, 0);
        if (config_dump_toml(cfg, &sb, true) == RC_OK)
            fputs(sb.data ? sb.data : "", stdout);
        strbuf_cleanup(&sb);
        config_free(&cfg);
        return 0;
    }
    rc = serve(cfg);
    config_free(&cfg);
    metrics_shutdown();
    log_shutdown();
    return rc;
}
