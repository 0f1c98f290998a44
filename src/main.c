/*
 * main.c - the `loopgate` command: one table of subcommands.
 *
 *   loopgate serve     run the FastCGI master and its workers
 *   loopgate migrate   apply the embedded SQL migrations and objects (--status)
 *   loopgate apikey    create, list and revoke API keys
 *   loopgate audit     export the audit trail, verify its hash chain
 *   loopgate console   print a one-time sign-in link to the approval console
 *   loopgate doctor    check the set-up: config, database, Telegram, nginx, clock
 *   loopgate hook      a coding agent's command hook (hook_cli.h)
 *   loopgate policy    add, list and remove rules for coding agents' tool calls
 *   loopgate version   print the version
 *
 * Every subcommand takes --config PATH and --help. Configuration errors stop
 * here, before anything starts, with a message naming the key. Every
 * command but serve and telegram poll (services, which systemd hands the
 * file) also reads the secrets file (config_use_secrets_file).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "apikey.h"
#include "audit.h"
#include "config.h"
#include "db.h"
#include "console.h"
#include "doctor.h"
#include "hook_cli.h"
#include "log.h"
#include "mcpstdio.h"
#include "migrate.h"
#include "policy_cli.h"
#include "server.h"
#include "telegram.h"
#include "version.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/*
 * Strip a leading `--config PATH` (or --config=PATH) from argv, load the
 * configuration, and leave the rest for the subcommand.
 */
static int load_config(struct config *cfg, int *argc, char **argv)
{
    const char *path = NULL;
    char err[512];
    int out = 1;

    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < *argc) {
            path = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            path = argv[i] + 9;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    if (config_load(cfg, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "loopgate: configuration error: %s\n", err);
        config_free(cfg);
        return -1;
    }
    if (cfg->secrets_state == SECRETS_UNREADABLE)
        fprintf(stderr,
                "loopgate: could not read the secrets file %s: %s; going on without it (systemd "
                "reads it as root for the service: run this as root, or set secrets_file)\n",
                cfg->secrets_path, strerror(cfg->secrets_errno));
    log_threshold = cfg->log_level;
    log_format = cfg->log_format;
    db_set_transaction_pooling(cfg->db_transaction_pooling);
    return 0;
}

/*
 * A process that writes to the database (a worker, the getUpdates poller)
 * never runs on a schema older than its own (docs/MIGRATIONS.md): false,
 * logged, when a migration or object is missing. A database that cannot be
 * reached now is not a reason to stop: the pool waits for it.
 */
static bool schema_ok(const struct config *cfg)
{
    char err[512];
    int rc = migrate_check(cfg->db_uri, err, sizeof(err));

    if (rc > 0)
        log_error("the database schema is older than this binary; run 'loopgate migrate' first",
                  "%s", err);
    else if (rc < 0)
        log_warn("could not check the database schema; starting anyway", "error=\"%s\"", err);
    return rc <= 0;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct config cfg;
    char err[512];
    int c, rc;

    server_hold_sighup();
    if (load_config(&cfg, &argc, argv) < 0)
        return 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:w:t:h", opts, NULL)) != -1) {
        const char *key = c == 's' ? "socket" : c == 'w' ? "workers" : "threads";
        if (c == 'h') {
            printf("Usage: loopgate serve [--config PATH] [--socket PATH|HOST:PORT]\n"
                   "                      [--workers N] [--threads N]\n\n"
                   "Runs the FastCGI master: binds the socket (or takes it from systemd socket\n"
                   "activation), forks N worker processes of T request threads each, restarts\n"
                   "a worker that dies, and on SIGTERM lets in-flight requests finish.\n\n");
            config_describe();
            config_free(&cfg);
            return 0;
        }
        if (c == '?') {
            config_free(&cfg);
            return 2;
        }
        if (config_set_override(&cfg, key, optarg, err, sizeof(err)) < 0) {
            fprintf(stderr, "loopgate: %s\n", err);
            config_free(&cfg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loopgate serve: unexpected argument '%s'\n", argv[optind]);
        config_free(&cfg);
        return 2;
    }
    if (!cfg.auth_required)
        log_warn("authentication is off: requests without an API key act as tenant 'default'",
                 "config=%s", cfg.source);
    if (!schema_ok(&cfg)) {
        config_free(&cfg);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = server_run(&cfg);
    curl_global_cleanup();
    config_free(&cfg);
    return rc;
}

static int cmd_migrate(int argc, char **argv)
{
    static const struct option opts[] = {{"status", no_argument, NULL, 's'},
                                         {"lock-timeout", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct config cfg;
    int c, rc, status = 0;
    const char *uri;
    long lock_timeout = 2;
    char *end;

    if (load_config(&cfg, &argc, argv) < 0)
        return 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            printf(
                "Usage: loopgate migrate [--config PATH] [--lock-timeout SECONDS]\n"
                "       loopgate migrate [--config PATH] --status\n\n"
                "Brings the database named by db_uri / DB_URI (db_listen_uri when\n"
                "db_transaction_pooling is on: PostgreSQL itself, never a pooler) to the\n"
                "schema built into this binary, under an advisory lock (several hosts may\n"
                "run it at once: the others wait, trying again every second, and say which\n"
                "run holds it every 30 s; then they find nothing left to do):\n"
                "  1. the migrations of sql/migrations it has not seen (%d here), in order,\n"
                "     each in one transaction, recorded in schema_migrations;\n"
                "  2. the functions, triggers and views of sql/functions (%d here) whose\n"
                "     content changed or that the database lacks, each in one transaction,\n"
                "     recorded by SHA-256 in schema_objects. Unchanged files are not run again.\n"
                "Running it again changes nothing. A database newer than this binary (a\n"
                "migration it does not know, objects a newer release applied) is left as\n"
                "it is: that is a rolling upgrade, and this binary still runs on it.\n\n"
                "  --lock-timeout SECONDS  how long any statement may wait for a lock\n"
                "                          (default 2; the workers' statements on that table\n"
                "                          wait as long); a file whose lock is not granted in\n"
                "                          time fails, is not applied, and is named\n"
                "  --status                print each migration and object: applied (and when),\n"
                "                          pending, changed, missing from the database, or\n"
                "                          newer; change nothing. Exits 0\n"
                "                          when the database is up to date, 1 when something is\n"
                "                          pending or changed, 2 when it cannot be read\n\n"
                "Exit status without --status: 0 when done, 1 when a file failed (named, with\n"
                "PostgreSQL's message), 2 for a usage error. docs/MIGRATIONS.md has the rules.\n",
                migrations_count, sql_objects_count);
            config_free(&cfg);
            return 0;
        }
        if (c == 's') {
            status = 1;
        } else if (c == 'l') {
            lock_timeout = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || lock_timeout < 1 || lock_timeout > 3600) {
                fprintf(stderr,
                        "loopgate migrate: --lock-timeout takes 1 to 3600 seconds, not "
                        "'%s'\n",
                        optarg);
                config_free(&cfg);
                return 2;
            }
        } else {
            config_free(&cfg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loopgate migrate: unexpected argument '%s'\n", argv[optind]);
        config_free(&cfg);
        return 2;
    }
    /* Under transaction pooling db_uri is the pooler: migrate through
     * db_listen_uri, PostgreSQL itself (the configuration requires it). */
    uri = cfg.db_transaction_pooling ? cfg.db_listen_uri : cfg.db_uri;
    rc = status
             ? migrate_status(uri, cfg.db_transaction_pooling ? cfg.db_uri : NULL)
             : migrate_run(uri, (int)lock_timeout, cfg.db_transaction_pooling ? cfg.db_uri : NULL);
    config_free(&cfg);
    return rc;
}

static int cmd_apikey(int argc, char **argv)
{
    struct config cfg;
    int rc;

    if (load_config(&cfg, &argc, argv) < 0)
        return 2;
    rc = apikey_main(&cfg, argc, argv);
    config_free(&cfg);
    return rc;
}

static int cmd_audit(int argc, char **argv)
{
    struct config cfg;
    int rc;

    if (load_config(&cfg, &argc, argv) < 0)
        return 2;
    rc = audit_main(&cfg, argc, argv);
    config_free(&cfg);
    return rc;
}

static int cmd_console(int argc, char **argv)
{
    struct config cfg;
    int rc;

    if (load_config(&cfg, &argc, argv) < 0)
        return 2;
    rc = console_main(&cfg, argc, argv);
    config_free(&cfg);
    return rc;
}

static int cmd_policy(int argc, char **argv)
{
    struct config cfg;
    int rc;

    if (load_config(&cfg, &argc, argv) < 0)
        return 2;
    rc = policy_main(&cfg, argc, argv);
    config_free(&cfg);
    return rc;
}

static int cmd_telegram(int argc, char **argv)
{
    struct config cfg;
    int rc;

    if (load_config(&cfg, &argc, argv) < 0)
        return 2;
    if (argc > 1 && !strcmp(argv[1], "poll") && !schema_ok(&cfg)) {
        config_free(&cfg);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = telegram_main(&cfg, argc, argv);
    curl_global_cleanup();
    config_free(&cfg);
    return rc;
}

static int cmd_mcp(int argc, char **argv)
{
    return mcpstdio_main(argc, argv);
}

static int cmd_hook(int argc, char **argv)
{
    return hookcli_main(argc, argv);
}

static int cmd_doctor(int argc, char **argv)
{
    return doctor_main(argc, argv);
}

static int cmd_version(int argc, char **argv)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: loopgate version\n\nPrints the version of loopgate and its libraries.\n");
        return 0;
    }
    printf("loopgate %s (libpq %d, jansson %s, libcurl %s, migrations %d, sql objects %d)\n",
           LOOPGATE_VERSION, PQlibVersion(), JANSSON_VERSION, cv->version, migrations_count,
           sql_objects_count);
    return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    {"serve", cmd_serve, "run the FastCGI master and its workers"},
    {"migrate", cmd_migrate, "apply the SQL migrations and functions (--status: what is applied)"},
    {"apikey", cmd_apikey, "create, list or revoke API keys"},
    {"audit", cmd_audit, "export the audit trail or verify its hash chain"},
    {"console", cmd_console, "print a one-time sign-in link to the approval console"},
    {"doctor", cmd_doctor, "check config, database, Telegram, nginx and clock; say how to fix"},
    {"policy", cmd_policy, "add, list or remove rules that decide agents' tool calls"},
    {"mcp", cmd_mcp, "serve MCP on stdin/stdout for desktop clients, bridged to a server"},
    {"hook", cmd_hook, "a coding agent's command hook: ask the server about a tool call"},
    {"telegram", cmd_telegram, "set or inspect the Telegram webhook, or poll for updates"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show this help"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("Usage: loopgate COMMAND [--config PATH] [OPTIONS]\n\n"
           "Loopgate: a human-in-the-loop gateway for AI agents.\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        printf("  %-10s %s\n", commands[i].name, commands[i].summary);
    printf("\nRun 'loopgate COMMAND --help' for the options of one command.\n"
           "Configuration: --config PATH, $LOOPGATE_CONFIG, /etc/loopgate/loopgate.conf, or\n"
           "inside a checkout the local stack's var/loopgate.conf (written by make run),\n"
           "then environment variables; 'loopgate serve --help' lists every key.\n"
           "Every command but serve and telegram poll also reads secrets_file\n"
           "(/etc/loopgate/secrets.env), the services' EnvironmentFile, as environment\n"
           "variables the shell's own win over: doctor and set-webhook see the service's token.\n");
    return 0;
}

/* `loopgate telegram ... poll`: the poller, a service like serve. */
static bool telegram_poll(int argc, char **argv)
{
    if (strcmp(argv[1], "telegram") != 0)
        return false;
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "poll") && strcmp(argv[i - 1], "--config") != 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(argc, argv);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return cmd_help(argc, argv);
    if (!strcmp(argv[1], "--version"))
        return cmd_version(1, argv);
    /* The services get the secrets file from systemd; commands run from a shell read it. */
    config_use_secrets_file(strcmp(argv[1], "serve") != 0 && !telegram_poll(argc, argv));
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "loopgate: unknown command '%s'; run 'loopgate help'\n", argv[1]);
    return 2;
}
