/*
 * test_config.c - unit tests for config.c: defaults, the file format, the
 * bounds of every kind of key, environment overrides, and the shipped
 * conf/loopgate.conf (read relative to the repository root, where
 * tests/unit/run.sh runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "t.h"

/* Every environment variable config_load reads, so the host cannot leak in. */
static const char *const env_names[] = {
    "LOOPGATE_CONFIG",
    "SERVER_PORT",
    "LOOPGATE_SOCKET",
    "LOOPGATE_SOCKET_MODE",
    "LOOPGATE_WORKERS",
    "LOOPGATE_THREADS",
    "LOOPGATE_SHUTDOWN_TIMEOUT",
    "LOG_LEVEL",
    "LOOPGATE_AUTH",
    "REQUEST_TIMEOUT",
    "MAX_CONCURRENT_REQUESTS",
    "LOOPGATE_MAX_BODY_BYTES",
    "DB_ADAPTER",
    "DB_URI",
    "LOOPGATE_DB_POOL_SIZE",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "PUBLIC_URL",
    "LOOPGATE_CONSOLE_LOGIN_BUTTON",
    "LOOPGATE_CONSOLE_ADMINS",
    "LOOPGATE_MCP_SESSIONS_MAX",
    "LOOPGATE_MCP_SESSION_IDLE",
    "LOOPGATE_RETENTION_DAYS",
    "LOOPGATE_AUDIT_RETENTION_DAYS",
    "LOOPGATE_JANITOR_INTERVAL",
    "LOOPGATE_JANITOR_BATCH",
    "LOOPGATE_CORS_ALLOWED_ORIGINS",
    "LOOPGATE_MCP_ALLOWED_ORIGINS",
    "LOOPGATE_SECRETS_FILE",
    "PGPASSWORD",
};

/* ... and no local stack's config file (config_local_stack) either. */
static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    setenv("LOOPGATE_VAR", "/nonexistent/loopgate-test-var", 1);
}

/* Write `text` to a new temporary file; its path goes into `path`. */
static int write_temp(char *path, size_t pathlen, const char *text)
{
    const char *dir = getenv("TMPDIR");
    FILE *f;
    int fd;

    if (!dir || !*dir)
        dir = "/tmp";
    if (lg_snprintf(path, pathlen, "%s/loopgate-test-XXXXXX", dir) < 0)
        return -1;
    fd = mkstemp(path);
    if (fd < 0)
        return -1;
    f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        return -1;
    }
    fputs(text, f);
    if (fclose(f) != 0) {
        unlink(path);
        return -1;
    }
    return 0;
}

/* Parse `text` as file "test.conf" on top of defaults; fills err. */
static int parse(struct config *cfg, const char *text, char *err, size_t errlen)
{
    config_defaults(cfg);
    err[0] = '\0';
    return config_parse_text(cfg, text, "test.conf", err, errlen);
}

TEST(defaults)
{
    struct config cfg;

    config_defaults(&cfg);
    CHECK_EQ_STR(cfg.source, "(defaults)");
    CHECK_EQ_INT(cfg.server_port, 8080);
    CHECK_EQ_STR(cfg.socket, "/run/loopgate/loopgate.sock");
    CHECK_EQ_INT(cfg.socket_mode, 0660);
    CHECK_EQ_INT(cfg.workers, 2);
    CHECK_EQ_INT(cfg.threads, 256);
    CHECK_EQ_INT(cfg.shutdown_timeout, 10);
    CHECK_EQ_INT(cfg.log_level, LOG_INFO);
    CHECK(cfg.auth_required);
    CHECK_EQ_INT(cfg.request_timeout, 300);
    CHECK_EQ_INT(cfg.max_concurrent_requests, 100);
    CHECK_EQ_INT(cfg.max_body_bytes, 65536);
    CHECK_EQ_STR(cfg.db_adapter, "postgres");
    CHECK_EQ_STR(cfg.db_uri, "dbname=loopgate");
    CHECK_EQ_INT(cfg.db_pool_size, 4);
    CHECK_EQ_STR(cfg.telegram_webhook_secret, "");
    CHECK_EQ_STR(cfg.telegram_api_url, "https://api.telegram.org");
    CHECK_EQ_STR(cfg.telegram_webhook_secret, "");
    CHECK_EQ_STR(cfg.public_url, "");
    config_free(&cfg);
    CHECK(cfg.db_uri == NULL);
    CHECK(cfg.source == NULL);
}

TEST(parse_format)
{
    struct config cfg;
    char err[512];
    const char *text = "# a comment line\n"
                       "\n"
                       "   # an indented comment\n"
                       "request_timeout = 120\n"
                       "max_concurrent_requests=7 # trailing comment\n"
                       "\tworkers\t=\t3\t\n"
                       "threads = 8\r\n"
                       "db_uri = \"host=/run/postgresql dbname=loopgate user=loopgate\"\n"
                       "telegram_bot_token = \"keep # this\"\n"
                       "public_url = https://hitl.example.com/#frag\n"
                       "telegram_webhook_secret = \"\"\n"
                       "socket_mode = 0600\n"
                       "shutdown_timeout = 5\n"
                       "shutdown_timeout = 6\n"   /* later wins */
                       "socket = 127.0.0.1:9000"; /* no final newline */

    CHECK_EQ_INT(parse(&cfg, text, err, sizeof(err)), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(cfg.request_timeout, 120);
    CHECK_EQ_INT(cfg.max_concurrent_requests, 7);
    CHECK_EQ_INT(cfg.workers, 3);
    CHECK_EQ_INT(cfg.threads, 8);
    CHECK_EQ_STR(cfg.db_uri, "host=/run/postgresql dbname=loopgate user=loopgate");
    CHECK_EQ_STR(cfg.telegram_bot_token, "keep # this");
    CHECK_EQ_STR(cfg.public_url, "https://hitl.example.com/#frag");
    CHECK_EQ_STR(cfg.telegram_webhook_secret, "");
    CHECK_EQ_INT(cfg.socket_mode, 0600);
    CHECK_EQ_INT(cfg.shutdown_timeout, 6);
    CHECK_EQ_STR(cfg.socket, "127.0.0.1:9000");
    /* untouched keys keep their defaults */
    CHECK_EQ_INT(cfg.server_port, 8080);
    CHECK_EQ_STR(cfg.db_adapter, "postgres");
    config_free(&cfg);

    CHECK_EQ_INT(parse(&cfg, "", err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.request_timeout, 300);
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, "\n\n# only comments\n\n", err, sizeof(err)), 0);
    config_free(&cfg);
}

/* `#` starts a comment after a quoted value too. */
TEST(quoted_then_comment)
{
    struct config cfg;
    char err[512];

    CHECK_EQ_INT(parse(&cfg,
                       "telegram_bot_token = \"\" # set TELEGRAM_BOT_TOKEN instead\n"
                       "db_uri = \"dbname=x user=y\"   # the database\n"
                       "public_url = \"https://a.example\"\n",
                       err, sizeof(err)),
                 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_STR(cfg.telegram_webhook_secret, "");
    CHECK_EQ_STR(cfg.db_uri, "dbname=x user=y");
    CHECK_EQ_STR(cfg.public_url, "https://a.example");
    config_free(&cfg);

    /* Text after the closing quote that is not a comment is an error. */
    CHECK_EQ_INT(parse(&cfg, "\ndb_uri = \"a\" b\n", err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "test.conf:2");
    CHECK_CONTAINS(err, "db_uri");
    config_free(&cfg);
}

struct bad_case {
    const char *text;
    const char *want[3]; /* substrings the error must contain */
};

static const struct bad_case bad_cases[] = {
    {"request_timeout = 60\n\nbogus_key = 1\n", {"test.conf:3", "unknown key", "bogus_key"}},
    {"request_timeout = abc\n", {"test.conf:1", "request_timeout", "abc"}},
    {"request_timeout = 12x\n", {"test.conf:1", "request_timeout", NULL}},
    {"request_timeout = \n", {"test.conf:1", "request_timeout", NULL}},
    {"request_timeout = 0\n", {"request_timeout", "1-86400", NULL}},
    {"request_timeout = 86401\n", {"request_timeout", "1-86400", NULL}},
    {"request_timeout = -5\n", {"request_timeout", NULL, NULL}},
    {"request_timeout = 99999999999999999999\n", {"request_timeout", NULL, NULL}},
    {"server_port = 65536\n", {"server_port", "1-65535", NULL}},
    {"server_port = 0\n", {"server_port", NULL, NULL}},
    {"max_concurrent_requests = 0\n", {"max_concurrent_requests", NULL, NULL}},
    {"max_body_bytes = 1023\n", {"max_body_bytes", "1024-1048576", NULL}},
    {"workers = 257\n", {"workers", NULL, NULL}},
    {"db_pool_size = 0\n", {"db_pool_size", NULL, NULL}},
    {"socket_mode = 0999\n", {"socket_mode", "octal", NULL}},
    {"socket_mode = 01000\n", {"socket_mode", "octal", NULL}},
    {"db_adapter = mysql\n", {"test.conf:1", "db_adapter", "mysql"}},
    {"auth = maybe\n", {"auth", "required or off", NULL}},
    {"log_level = verbose\n", {"log_level", "verbose", NULL}},
    {"telegram_api_url = ftp://api.telegram.org\n", {"telegram_api_url", "http", NULL}},
    {"public_url = hitl.example.com\n", {"public_url", NULL, NULL}},
    {"# ok\nthis line has no equals sign\n", {"test.conf:2", "key = value", NULL}},
    {"db_uri = \"unterminated\n", {"test.conf:1", "db_uri", "unterminated"}},
    {"db_uri = \"\n", {"db_uri", "unterminated", NULL}},
    {"db_uri = caf\xC3\n", {"test.conf:1", "UTF-8", NULL}},
    {" = 5\n", {"test.conf:1", "unknown key", NULL}},
};

/* An unknown "key" that may be a pasted secret is never echoed. */
TEST(unknown_key_not_echoed_unless_a_word)
{
    static const char *const lines[] = {
        "log_level = debug\nwhsec_ZZBH8VsyCGmB06pFJsOp/CAfWp4qPqsV4cG4avt89PI=\n",
        "postgresql://u:PASSWORD@h/db?sslmode=require\n",
        "telegram_bot_token: 987654:SECRETabc=\n",
        "Whsec_ABCDEFsecret = 1\n",
        "8b1783ed8239d56fbba79a6a12e166b3c501638219bb3832b7bb7a5509bebc96=\n",
        "abcdef0123456789abcdef0123secret=\n",
    };
    struct config cfg;
    char err[512];

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        CHECK_EQ_INT(parse(&cfg, lines[i], err, sizeof(err)), -1);
        CHECK_CONTAINS(err, "unknown key");
        CHECK_CONTAINS(err, "test.conf:");
        CHECK(strstr(err, "PASSWORD") == NULL && strstr(err, "SECRET") == NULL &&
              strstr(err, "secret") == NULL && strstr(err, "ZZBH8") == NULL &&
              strstr(err, "8b1783ed") == NULL);
        config_free(&cfg);
    }
}

TEST(parse_errors)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct config cfg;
        char err[512];
        int rc = parse(&cfg, c->text, err, sizeof(err));

        CHECKF(rc == -1, "case %zu: %s: rc %d, expected -1", i, c->text, rc);
        for (int k = 0; k < 3 && c->want[k]; k++)
            CHECKF(strstr(err, c->want[k]) != NULL, "case %zu: error \"%s\" lacks \"%s\"", i, err,
                   c->want[k]);
        config_free(&cfg);
    }
}

TEST(values)
{
    static const struct {
        const char *text;
        int level;
    } levels[] = {
        {"log_level = debug", LOG_DEBUG},     {"log_level = info", LOG_INFO},
        {"log_level = warn", LOG_WARN},       {"log_level = warning", LOG_WARN},
        {"log_level = error", LOG_ERROR},     {"log_level = ERROR", LOG_ERROR},
        {"log_level = \"Debug\"", LOG_DEBUG},
    };
    struct config cfg;
    char err[512];

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        int rc = parse(&cfg, levels[i].text, err, sizeof(err));
        CHECKF(rc == 0 && cfg.log_level == levels[i].level, "%s: rc %d level %d (%s)",
               levels[i].text, rc, cfg.log_level, err);
        config_free(&cfg);
    }

    CHECK_EQ_INT(parse(&cfg, "auth = off\n", err, sizeof(err)), 0);
    CHECK(!cfg.auth_required);
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, "auth = off\nauth = required\n", err, sizeof(err)), 0);
    CHECK(cfg.auth_required);
    config_free(&cfg);

    /* Both ends of every range are accepted. */
    CHECK_EQ_INT(parse(&cfg, "request_timeout = 1\nserver_port = 65535\nmax_body_bytes = 1024\n",
                       err, sizeof(err)),
                 0);
    CHECK_EQ_INT(cfg.request_timeout, 1);
    CHECK_EQ_INT(cfg.server_port, 65535);
    CHECK_EQ_INT(cfg.max_body_bytes, 1024);
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, "request_timeout = 86400\nmax_concurrent_requests = 10000000\n", err,
                       sizeof(err)),
                 0);
    CHECK_EQ_INT(cfg.request_timeout, 86400);
    CHECK_EQ_INT(cfg.max_concurrent_requests, 10000000);
    config_free(&cfg);

    CHECK_EQ_INT(parse(&cfg, "db_adapter = postgres\npublic_url = http://localhost:8080\n", err,
                       sizeof(err)),
                 0);
    CHECK_EQ_STR(cfg.db_adapter, "postgres");
    CHECK_EQ_STR(cfg.public_url, "http://localhost:8080");
    config_free(&cfg);
}

TEST(config_set)
{
    struct config cfg;
    char err[256];

    config_defaults(&cfg);
    CHECK_EQ_INT(config_set(&cfg, "workers", "4", "cli", err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.workers, 4);
    CHECK_EQ_INT(config_set(&cfg, "nope", "4", "cli", err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "cli");
    CHECK_CONTAINS(err, "'nope'");
    CHECK_EQ_INT(config_set(&cfg, "workers", "four", "cli", err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "cli: workers");
    CHECK_EQ_INT(cfg.workers, 4); /* a bad value leaves the old one */

    /* Telegram-side keys: the secret's alphabet (never echoed), paths, id lists. */
    CHECK_EQ_INT(
        config_set(&cfg, "telegram_webhook_secret", "s3cr3t hunter2", "cli", err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "telegram_webhook_secret");
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK_EQ_INT(
        config_set(&cfg, "telegram_webhook_secret", "Ok_secret-1", "cli", err, sizeof(err)), 0);
    CHECK_EQ_STR(cfg.telegram_webhook_secret, "Ok_secret-1");
    CHECK_EQ_INT(config_set(&cfg, "telegram_webhook_path", "hook", "cli", err, sizeof(err)), -1);
    CHECK_EQ_INT(config_set(&cfg, "telegram_webhook_path", "/tg/hook", "cli", err, sizeof(err)), 0);
    CHECK_EQ_INT(
        config_set(&cfg, "telegram_allowed_users", "12, 34,5000000000", "cli", err, sizeof(err)),
        0);
    CHECK_EQ_INT(cfg.telegram_allowed_users.n, 3);
    CHECK(cfg.telegram_allowed_users.ids[2] == 5000000000LL);
    CHECK_EQ_INT(config_set(&cfg, "telegram_allowed_users", "12,abc", "cli", err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "telegram_allowed_users");
    CHECK_EQ_INT(config_set(&cfg, "telegram_group_any_member", "yes", "cli", err, sizeof(err)), 0);
    CHECK(cfg.telegram_group_any_member);

    /* A short error buffer truncates, never overflows. */
    CHECK_EQ_INT(config_set(&cfg, "nope", "4", "somewhere", err, 8), -1);
    CHECK_EQ_INT(strlen(err), 7);
    config_free(&cfg);
}

TEST(load_env)
{
    struct config cfg;
    char path[256], other[256], err[512];
    const char *text = "request_timeout = 100\n"
                       "max_concurrent_requests = 5\n"
                       "db_uri = \"dbname=fromfile\"\n"
                       "workers = 3\n";

    clear_env();
    if (!CHECK(write_temp(path, sizeof(path), text) == 0))
        return;
    if (!CHECK(write_temp(other, sizeof(other), "request_timeout = 50\n") == 0)) {
        unlink(path);
        return;
    }

    /* $LOOPGATE_CONFIG names the file when no path is given. */
    setenv("LOOPGATE_CONFIG", path, 1);
    err[0] = '\0';
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_STR(cfg.source, path);
    CHECK_EQ_INT(cfg.request_timeout, 100);
    CHECK_EQ_INT(cfg.max_concurrent_requests, 5);
    CHECK_EQ_STR(cfg.db_uri, "dbname=fromfile");
    CHECK_EQ_INT(cfg.workers, 3);
    config_free(&cfg);

    /* An explicit path wins over $LOOPGATE_CONFIG. */
    CHECK_EQ_INT(config_load(&cfg, other, err, sizeof(err)), 0);
    CHECK_EQ_STR(cfg.source, other);
    CHECK_EQ_INT(cfg.request_timeout, 50);
    CHECK_EQ_INT(cfg.max_concurrent_requests, 100);
    config_free(&cfg);

    /* The environment wins over the file. */
    setenv("REQUEST_TIMEOUT", "200", 1);
    setenv("MAX_CONCURRENT_REQUESTS", "9", 1);
    setenv("DB_URI", "dbname=fromenv", 1);
    setenv("LOOPGATE_AUTH", "off", 1);
    setenv("LOG_LEVEL", "debug", 1);
    setenv("LOOPGATE_WORKERS", "6", 1);
    setenv("TELEGRAM_BOT_TOKEN", "123:abc", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.request_timeout, 200);
    CHECK_EQ_INT(cfg.max_concurrent_requests, 9);
    CHECK_EQ_STR(cfg.db_uri, "dbname=fromenv");
    CHECK(!cfg.auth_required);
    CHECK_EQ_INT(cfg.log_level, LOG_DEBUG);
    CHECK_EQ_INT(cfg.workers, 6);
    CHECK_EQ_STR(cfg.telegram_bot_token, "123:abc");
    CHECK_EQ_STR(cfg.source, path);
    config_free(&cfg);

    /* A bad environment value names the variable and the key. */
    setenv("REQUEST_TIMEOUT", "soon", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "REQUEST_TIMEOUT");
    CHECK_CONTAINS(err, "request_timeout");
    CHECK_CONTAINS(err, "soon");
    config_free(&cfg);
    setenv("REQUEST_TIMEOUT", "86401", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "environment REQUEST_TIMEOUT");
    config_free(&cfg);
    unsetenv("REQUEST_TIMEOUT");

    setenv("DB_ADAPTER", "mysql", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "DB_ADAPTER");
    CHECK_CONTAINS(err, "db_adapter");
    CHECK_CONTAINS(err, "mysql");
    config_free(&cfg);
    unsetenv("DB_ADAPTER");

    setenv("SERVER_PORT", "http", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "environment SERVER_PORT");
    config_free(&cfg);
    unsetenv("SERVER_PORT");

    /* The login button needs an https:// public_url: start-up stops naming the key. */
    setenv("LOOPGATE_CONSOLE_LOGIN_BUTTON", "on", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "console_login_button");
    CHECK_CONTAINS(err, "public_url");
    config_free(&cfg);
    setenv("PUBLIC_URL", "http://hitl.example.com", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "console_login_button");
    config_free(&cfg);
    setenv("PUBLIC_URL", "https://hitl.example.com", 1);
    setenv("LOOPGATE_CONSOLE_ADMINS", "42, 43", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
    CHECK(cfg.console_login_button);
    CHECK_EQ_INT(cfg.console_admins.n, 2);
    CHECK_EQ_INT(cfg.console_admins.ids[1], 43);
    config_free(&cfg);
    setenv("LOOPGATE_CONSOLE_LOGIN_BUTTON", "off", 1);
    unsetenv("PUBLIC_URL");
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
    CHECK(!cfg.console_login_button);
    config_free(&cfg);

    clear_env();
    unlink(path);
    unlink(other);
}

TEST(load_file_errors)
{
    struct config cfg;
    char path[256], err[512];

    clear_env();
    CHECK_EQ_INT(config_load(&cfg, "/nonexistent/loopgate.conf", err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "/nonexistent/loopgate.conf");
    config_free(&cfg);

    if (!CHECK(write_temp(path, sizeof(path), "workers = 2\nworkers = lots\n") == 0))
        return;
    CHECK_EQ_INT(config_load(&cfg, path, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, ":2:");
    CHECK_CONTAINS(err, "workers");
    config_free(&cfg);
    unlink(path);

    /* No path, no $LOOPGATE_CONFIG, no system file: defaults only. */
    if (access("/etc/loopgate/loopgate.conf", F_OK) != 0) {
        CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
        CHECK_EQ_STR(cfg.source, "(defaults)");
        CHECK_EQ_INT(cfg.request_timeout, 300);
        config_free(&cfg);
    }
}

TEST(shipped_conf)
{
    struct config cfg;
    char err[512] = "";

    clear_env();
    CHECK_EQ_INT(config_load(&cfg, "conf/loopgate.conf", err, sizeof(err)), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_STR(cfg.source, "conf/loopgate.conf");
    CHECK(cfg.auth_required);
    CHECK_EQ_INT(cfg.request_timeout, 300);
    CHECK_EQ_INT(cfg.max_concurrent_requests, 100);
    CHECK_EQ_INT(cfg.socket_mode, 0660);
    CHECK_EQ_STR(cfg.db_adapter, "postgres");
    CHECK_EQ_STR(cfg.db_uri, "host=/run/postgresql dbname=loopgate user=loopgate");
    CHECK_EQ_STR(cfg.telegram_webhook_secret, "");
    CHECK_EQ_STR(cfg.telegram_api_url, "https://api.telegram.org");
    CHECK(!cfg.console_login_button);
    CHECK_EQ_INT(cfg.console_admins.n, 0);
    config_free(&cfg);
}

/* A reload: live keys are named; restart keys are named and keep the running value. */
TEST(reload_diff)
{
    struct config cur, next;
    char err[512], live[256], restart[256];

    CHECK_EQ_INT(parse(&cur, "workers = 2\nlog_level = info\n", err, sizeof(err)), 0);
    CHECK_EQ_INT(parse(&next,
                       "workers = 5\nlog_level = debug\ndb_uri = \"dbname=other\"\n"
                       "telegram_allowed_users = 7, 8\nretention_days = 30\n",
                       err, sizeof(err)),
                 0);
    CHECK_EQ_INT(config_reload_diff(&next, &cur, live, sizeof(live), restart, sizeof(restart)), 2);
    CHECK_EQ_STR(live, "log_level, telegram_allowed_users, retention_days");
    CHECK_EQ_STR(restart, "workers, db_uri");
    CHECK_EQ_INT(next.workers, 2);
    CHECK_EQ_STR(next.db_uri, "dbname=loopgate");
    CHECK_EQ_INT(next.log_level, LOG_DEBUG);
    CHECK_EQ_INT(next.telegram_allowed_users.n, 2);
    CHECK_EQ_INT(next.retention_days, 30);
    /* Nothing changed: both lists empty. */
    CHECK_EQ_INT(config_reload_diff(&next, &next, live, sizeof(live), restart, sizeof(restart)), 0);
    CHECK_EQ_STR(live, "");
    CHECK_EQ_STR(restart, "");
    /* Retention keys: defaults and bounds. */
    CHECK_EQ_INT(cur.retention_days, 90);
    CHECK_EQ_INT(cur.audit_retention_days, 0);
    CHECK_EQ_INT(cur.janitor_interval, 300);
    CHECK_EQ_INT(cur.janitor_batch, 1000);
    config_free(&next);
    CHECK(parse(&next, "janitor_batch = 0\n", err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "janitor_batch");
    config_free(&next);
    config_free(&cur);
}

/* The published configuration is the one config_current() returns, each in turn. */
TEST(publish)
{
    static struct config a, b;

    config_defaults(&a);
    config_defaults(&b);
    config_publish(&a);
    CHECK(config_current() == &a);
    config_publish(&b);
    CHECK(config_current() == &b);
    CHECK_EQ_INT(a.workers, 2); /* the earlier one is untouched */
}

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    if (f) {
        fputs(text, f);
        fclose(f);
    }
    chmod(path, mode);
}

/* The local stack's var/loopgate.conf, found from a directory inside the checkout. */
TEST(local_stack)
{
    char top[256], path[512], deep[512], found[4096 + 32], was[4096], err[512];
    const char *tmp = getenv("TMPDIR");
    struct config cfg;

    clear_env();
    if (!getcwd(was, sizeof(was)))
        return;
    lg_snprintf(top, sizeof(top), "%s/loopgate-local-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(top) != NULL);
    lg_snprintf(path, sizeof(path), "%s/var", top);
    CHECK(mkdir(path, 0755) == 0);
    lg_snprintf(deep, sizeof(deep), "%s/a", top);
    CHECK(mkdir(deep, 0755) == 0);
    lg_snprintf(deep, sizeof(deep), "%s/a/b", top);
    CHECK(mkdir(deep, 0755) == 0);
    lg_snprintf(path, sizeof(path), "%s/var/loopgate.conf", top);
    put(path, CONFIG_LOCAL_MARK "\ndb_uri = \"dbname=local\"\nauth = off\n", 0600);
    CHECK(chdir(deep) == 0);

    unsetenv("LOOPGATE_VAR");
    CHECK_EQ_INT(config_local_stack(found, sizeof(found)), 0);
    CHECK_EQ_STR(found, path);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
    CHECK_EQ_STR(cfg.db_uri, "dbname=local");
    CHECK_EQ_STR(cfg.source, path);
    config_free(&cfg);
    /* The environment still wins over it; a named file wins over it. */
    setenv("DB_URI", "dbname=env", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
    CHECK_EQ_STR(cfg.db_uri, "dbname=env");
    config_free(&cfg);
    unsetenv("DB_URI");

    /* Writable by others, or without the mark: not taken. */
    chmod(path, 0620);
    CHECK_EQ_INT(config_local_stack(found, sizeof(found)), -1);
    put(path, "db_uri = \"dbname=local\"\n", 0600);
    CHECK_EQ_INT(config_local_stack(found, sizeof(found)), -1);
    put(path, CONFIG_LOCAL_MARK " and more\n", 0600);
    CHECK_EQ_INT(config_local_stack(found, sizeof(found)), -1);

    /* LOOPGATE_VAR names the directory itself. */
    put(path, CONFIG_LOCAL_MARK "\n", 0600);
    lg_snprintf(deep, sizeof(deep), "%s/var", top);
    setenv("LOOPGATE_VAR", deep, 1);
    CHECK_EQ_INT(config_local_stack(found, sizeof(found)), 0);
    CHECK_EQ_STR(found, path);

    CHECK(chdir(was) == 0);
    unlink(path);
    rmdir(deep);
    lg_snprintf(deep, sizeof(deep), "%s/a/b", top);
    rmdir(deep);
    lg_snprintf(deep, sizeof(deep), "%s/a", top);
    rmdir(deep);
    rmdir(top);
    clear_env();
}

/* Load `text` as a config file (every check, the combinations too): 0 or -1. */
static int load_text(const char *text, char *err, size_t errlen)
{
    struct config cfg;
    char path[512];
    int rc;

    if (write_temp(path, sizeof(path), text) < 0)
        return -2;
    err[0] = '\0';
    rc = config_load(&cfg, path, err, errlen);
    if (rc == 0)
        config_free(&cfg);
    unlink(path);
    return rc;
}

TEST(pooling_needs_listen_uri)
{
    char err[512];

    clear_env();
    /* Through a pooler in transaction mode LISTEN and the janitor's lock need a direct URI. */
    CHECK_EQ_INT(load_text("db_transaction_pooling = true\n", err, sizeof(err)), -1);
    CHECK(strstr(err, "db_transaction_pooling") && strstr(err, "db_listen_uri"));
    CHECK_EQ_INT(load_text("db_transaction_pooling = true\ndb_listen_uri = \"dbname=loopgate\"\n",
                           err, sizeof(err)),
                 0);
    CHECK_EQ_INT(load_text("db_transaction_pooling = false\n", err, sizeof(err)), 0);
}

TEST(cors_origins)
{
    char err[512];

    clear_env();
    CHECK_EQ_INT(load_text("cors_allowed_origins = \"https://app.example.com, "
                           "http://localhost:5173,http://[::1]:8080\"\n",
                           err, sizeof(err)),
                 0);
    CHECK_EQ_INT(load_text("auth = required\ncors_allowed_origins = *\n", err, sizeof(err)), 0);
    /* `*` needs keys; the message names the key. */
    CHECK_EQ_INT(load_text("auth = off\ncors_allowed_origins = *\n", err, sizeof(err)), -1);
    CHECK(strstr(err, "cors_allowed_origins") && strstr(err, "auth = required"));
    static const char *const bad[] = {
        "https://app.example.com/",
        "https://app.example.com/path",
        "app.example.com",
        "ftp://app.example.com",
        "https://App.example.com",
        "https://",
        "https://:443",
        "null",
        "*, https://a.example.com",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        lg_snprintf(text, sizeof(text), "auth = required\ncors_allowed_origins = \"%s\"\n", bad[i]);
        CHECK_EQ_INT(load_text(text, err, sizeof(err)), -1);
        CHECK(strstr(err, "cors_allowed_origins") != NULL);
    }

    CHECK(config_list_has("https://a.example, https://b.example", "https://b.example"));
    CHECK(config_list_has(" https://a.example ,https://b.example", "https://a.example"));
    CHECK(!config_list_has("https://a.example", "https://a.exampl"));
    CHECK(!config_list_has("https://a.example", "https://a.example.evil"));
    CHECK(!config_list_has("https://a.example", ""));
    CHECK(!config_list_has("", "https://a.example"));
    CHECK(!config_list_has(NULL, "https://a.example"));
    clear_env();
}

/*
 * The secrets file: read only when switched on, strictly NAME=VALUE, the
 * environment winning, values never in messages.
 */
TEST(secrets_file)
{
    struct config cfg;
    char err[512], path[256], conf[256];

    clear_env();
    CHECK_EQ_INT(write_temp(path, sizeof(path),
                            "# secrets\n\nTELEGRAM_BOT_TOKEN = 123:tok-from-file\n"
                            "TELEGRAM_WEBHOOK_SECRET='sec_from_file'\nPGPASSWORD=pg$word\n"
                            "OTHER=x\n; comment\n"),
                 0);
    CHECK_EQ_INT(write_temp(conf, sizeof(conf), "secrets_file = /nonexistent/secrets.env\n"), 0);
    setenv("LOOPGATE_SECRETS_FILE", path, 1);

    /* Off (serve): nothing read. */
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.secrets_state, SECRETS_OFF);
    CHECK_EQ_STR(cfg.telegram_bot_token, "");
    config_free(&cfg);

    config_use_secrets_file(true);
    setenv("TELEGRAM_WEBHOOK_SECRET", "sec_from_shell", 1);
    CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.secrets_state, SECRETS_READ);
    CHECK_EQ_STR(cfg.telegram_bot_token, "123:tok-from-file");
    CHECK_EQ_STR(cfg.telegram_webhook_secret, "sec_from_shell");
    CHECK_EQ_STR(getenv("PGPASSWORD"), "pg$word");
    CHECK_EQ_STR(cfg.secrets_names, "TELEGRAM_BOT_TOKEN, PGPASSWORD");
    CHECK_EQ_STR(cfg.secrets_shadowed, "TELEGRAM_WEBHOOK_SECRET");
    CHECK_EQ_STR(cfg.secrets_ignored, "OTHER");
    config_free(&cfg);

    /* An ignored name that is not an upper-case variable name (a pasted secret) is not shown. */
    {
        char p2[256];

        CHECK_EQ_INT(write_temp(p2, sizeof(p2),
                                "ZZBH8VsyCGmB06pFJsOpxCAfWp4qPqsV4cG4avt89PI=\nOTHER_VAR=1\n"
                                "deadbeef0123=\nZZBH8Vsy=it's\n"),
                     0);
        setenv("LOOPGATE_SECRETS_FILE", p2, 1);
        CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
        CHECK_CONTAINS(err, ":4");
        CHECKF(!strstr(err, "ZZBH8"), "name echoed: %s", err);
        config_free(&cfg);
        unlink(p2);
        CHECK_EQ_INT(write_temp(p2, sizeof(p2),
                                "ZZBH8VsyCGmB06pFJsOpxCAfWp4qPqsV4cG4avt89PI=\nOTHER_VAR=1\n"
                                "deadbeef0123=\n"),
                     0);
        setenv("LOOPGATE_SECRETS_FILE", p2, 1);
        CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), 0);
        CHECK_EQ_STR(cfg.secrets_ignored, "line 1: not a variable name (not shown), OTHER_VAR, "
                                          "line 3: not a variable name (not shown)");
        CHECK_EQ_INT(cfg.secrets_mode, 0600);
        config_free(&cfg);
        unlink(p2);
    }

    /* A FIFO (or any file that is not a regular file) is refused without blocking. */
    {
        char fifo[] = "/tmp/lgtest-secrets-fifo-XXXXXX";
        int fd = mkstemp(fifo);

        CHECK(fd >= 0);
        close(fd);
        unlink(fifo);
        CHECK_EQ_INT(mkfifo(fifo, 0600), 0);
        setenv("LOOPGATE_SECRETS_FILE", fifo, 1);
        CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
        CHECK_CONTAINS(err, fifo);
        CHECK_CONTAINS(err, "not a regular file");
        config_free(&cfg);
        unsetenv("LOOPGATE_SECRETS_FILE");
        CHECK_EQ_INT(config_load(&cfg, fifo, err, sizeof(err)), -1);
        CHECK_CONTAINS(err, "config file");
        CHECK_CONTAINS(err, "not a regular file");
        config_free(&cfg);
        unlink(fifo);
        setenv("LOOPGATE_SECRETS_FILE", path, 1);
    }

    /* A bad value names the file, line and variable, never the value. */
    const char *bad[] = {"export TELEGRAM_BOT_TOKEN=123:leak\n", "TELEGRAM_BOT_TOKEN=\"123:leak\n",
                         "TELEGRAM_BOT_TOKEN=123:le\\ak\n", "123:leak\n", "=123:leak\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char p2[256];
        CHECK_EQ_INT(write_temp(p2, sizeof(p2), bad[i]), 0);
        setenv("LOOPGATE_SECRETS_FILE", p2, 1);
        CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof(err)), -1);
        CHECK_CONTAINS(err, p2);
        CHECK_CONTAINS(err, ":1");
        CHECKF(!strstr(err, "leak"), "value echoed: %s", err);
        config_free(&cfg);
        unlink(p2);
    }

    /* The config file names the file; absent is no error. */
    unsetenv("LOOPGATE_SECRETS_FILE");
    CHECK_EQ_INT(config_load(&cfg, conf, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.secrets_state, SECRETS_NONE);
    CHECK_EQ_STR(cfg.secrets_path, "/nonexistent/secrets.env");
    config_free(&cfg);

    config_use_secrets_file(false);
    unsetenv("TELEGRAM_BOT_TOKEN");
    unlink(path);
    unlink(conf);
    clear_env();
}

/* config_load_text gives what config_load gives for the same text. */
TEST(load_text)
{
    struct config a, b;
    char err[256], path[256];
    char *text, *source;

    clear_env();
    CHECK_EQ_INT(write_temp(path, sizeof(path), "log_level = debug\nworkers = 3\n"), 0);
    CHECK_EQ_INT(config_read_file(path, &text, &source, err, sizeof(err)), 0);
    CHECK_EQ_STR(source, path);
    CHECK_EQ_INT(config_load(&a, path, err, sizeof(err)), 0);
    unlink(path); /* the text, not the file, is what counts now */
    CHECK_EQ_INT(config_load_text(&b, text, source, err, sizeof(err)), 0);
    CHECK_EQ_INT(b.workers, 3);
    CHECK_EQ_INT(a.log_level, b.log_level);
    CHECK_EQ_STR(a.source, b.source);
    config_free(&a);
    config_free(&b);
    free(text);
    free(source);
    if (access("/etc/loopgate/loopgate.conf", F_OK) != 0) {
        CHECK_EQ_INT(config_read_file(NULL, &text, &source, err, sizeof(err)), 0);
        CHECK(text == NULL && source == NULL);
    }
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(defaults);
    RUN(parse_format);
    RUN(quoted_then_comment);
    RUN(unknown_key_not_echoed_unless_a_word);
    RUN(parse_errors);
    RUN(values);
    RUN(config_set);
    RUN(load_env);
    RUN(load_file_errors);
    RUN(shipped_conf);
    RUN(reload_diff);
    RUN(publish);
    RUN(local_stack);
    RUN(pooling_needs_listen_uri);
    RUN(cors_origins);
    RUN(secrets_file);
    RUN(load_text);
    return t_end();
}
