/*
 * config.h - Loopgate configuration.
 *
 * Sources, later wins:
 *   1. built-in defaults;
 *   2. the config file: --config PATH, else $LOOPGATE_CONFIG, else
 *      /etc/loopgate/loopgate.conf when it exists, else the local stack's
 *      (config_local_stack: inside a checkout whose `make run` is or was
 *      up). Lines are `key = value`, `#` starts a comment, values may be
 *      double-quoted; a key given twice takes its last value;
 *   3. environment variables: the Go original's names where they exist
 *      (TELEGRAM_BOT_TOKEN, SERVER_PORT, LOG_LEVEL, REQUEST_TIMEOUT,
 *      MAX_CONCURRENT_REQUESTS, DB_ADAPTER, DB_URI), LOOPGATE_<KEY> for the
 *      rest.
 *
 * An unknown key or a bad value is an error that names the key and where it
 * came from (file:line or the environment variable); start-up stops there.
 * So is a key whose value needs another's (console_login_button = on needs
 * an https:// public_url), checked once every source is read.
 */
#ifndef LG_CONFIG_H
#define LG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define ID_LIST_MAX 64

struct id_list {
    long long ids[ID_LIST_MAX];
    int n;
};

/* At least the number of configuration keys (config.c checks). */
#define CONFIG_KEYS_MAX 96

struct config {
    char *source; /* the file read, or "(defaults)" */

    /* [server] */
    int server_port;
    char *socket;
    int socket_mode;
    int workers;
    int threads;
    int busy_threads;
    int shutdown_timeout;
    int log_level;
    int log_format;           /* enum log_format */
    int ready_outbox_max_age; /* seconds; /readyz */

    /* [api] */
    bool auth_required;
    int request_timeout;
    int max_concurrent_requests;
    int max_body_bytes;

    /* [database] */
    char *db_adapter;
    char *db_uri;
    char *db_listen_uri; /* LISTEN and the janitor; empty: db_uri */
    bool db_transaction_pooling;
    int db_pool_size;

    /* [telegram] */
    char *telegram_bot_token;
    char *telegram_api_url;
    char *telegram_webhook_secret;
    char *public_url;
    char *telegram_webhook_path;
    bool telegram_group_any_member;
    struct id_list telegram_allowed_users;
    int delivery_threads;
    int telegram_chat_gap_ms;
    int telegram_group_gap_ms;
    int telegram_bot_gap_ms;
    int telegram_bot_rate;
    int telegram_update_window_hours;

    /* [retention] */
    int retention_days;
    int audit_retention_days;
    int janitor_interval;
    int janitor_batch;

    /* [console] */
    bool console_login_button;
    struct id_list console_admins;
    char *console_admins_tenant;
    int poll_wait_max;
    int events_streams;
    int events_keepalive;
    int events_lifetime;
    bool webhook_allow_private;
    int webhook_retry_seconds;
    int webhook_threads;
    int webhook_tenant_concurrency;
    int webhook_host_concurrency;
    char *mcp_default_session;
    char *hooks_default_session;
    int hooks_wait_max;
    char *mcp_allowed_origins;
    char *cors_allowed_origins;
    int mcp_sessions_max;
    int mcp_session_idle;

    /* A fingerprint of each key's text in the file (0: not in the file), by key table index. */
    uint64_t file_fp[CONFIG_KEYS_MAX];
};

/* The first line of the config file src/stack.sh writes for the local stack. */
#define CONFIG_LOCAL_MARK "# loopgate local stack (written by src/stack.sh)"

/*
 * The local stack's config file into `out`: $LOOPGATE_VAR/loopgate.conf
 * when LOOPGATE_VAR is set, else var/loopgate.conf in the current
 * directory or the nearest one above it that has one. Taken only when it
 * is a regular file, owned by this user or root, writable by nobody else,
 * whose first line is CONFIG_LOCAL_MARK; 0, or -1 when there is none.
 */
int config_local_stack(char *out, size_t outlen) LG_MUST_CHECK;

/* Is `path` a local stack's config file that may be trusted (as above)? */
bool config_is_local_stack(const char *path);

/* Fill `cfg` with defaults only. */
void config_defaults(struct config *cfg);

/*
 * Load defaults, then `path` (NULL: $LOOPGATE_CONFIG or the default file if it
 * exists), then the environment. On error fills `errbuf` and returns -1.
 */
int config_load(struct config *cfg, const char *path, char *errbuf, size_t errlen) LG_MUST_CHECK;

/* Apply one `key = value` setting; `where` names its origin for errors. */
int config_set(struct config *cfg, const char *key, const char *value, const char *where,
               char *errbuf, size_t errlen) LG_MUST_CHECK;

/*
 * Apply a command-line setting (`loopgate serve --workers N`) and remember
 * it, so that every later config_load (a reload) applies it again, last: the
 * command line wins over the file and the environment. At most a few.
 */
int config_set_override(struct config *cfg, const char *key, const char *value, char *errbuf,
                        size_t errlen) LG_MUST_CHECK;

/* Parse the text of a config file. `name` is used in error messages. */
int config_parse_text(struct config *cfg, const char *text, const char *name, char *errbuf,
                      size_t errlen) LG_MUST_CHECK;

/*
 * Whether the comma- (or space-) separated `list` holds `item` exactly
 * (byte for byte: Origins are compared as browsers send them).
 */
bool config_list_has(const char *list, const char *item);

/* Print every key, its environment name, default and description (for --help). */
void config_describe(void);

void config_free(struct config *cfg);

/*
 * Reloading (SIGHUP, server.c). The configuration in force is one pointer,
 * swapped atomically: a reader takes config_current() when it starts a piece
 * of work (a request, a delivery claim, a retention run) and uses that
 * `const struct config *` to its end. A published configuration is never
 * changed and never freed (one per reload, kept for the process's life), so
 * a long-poll that began under the old one finishes with it, unharmed.
 */

/* The configuration in force; NULL before the first config_publish(). */
const struct config *config_current(void);

/* Make `cfg` (never changed or freed afterwards) the one config_current() returns. */
void config_publish(const struct config *cfg);

/*
 * Compare a freshly loaded `next` with the running `cur`. Names of changed
 * keys that apply live go to `live`, those that need a restart to `restart`
 * (", "-separated, cut at the buffer's end); the latter get their running
 * value back in `next`, so that `next` describes what actually runs.
 * Returns the number of restart keys that changed.
 */
int config_reload_diff(struct config *next, const struct config *cur, char *live, size_t live_len,
                       char *restart, size_t restart_len);

/*
 * The keys whose text in the file changed between `cur` and `next` but whose
 * environment variable is set, so the change does not apply: into `out`, as
 * "KEY: the file's value is overridden by ENV" joined by "; " ("" when none).
 */
void config_env_shadowed(const struct config *next, const struct config *cur, char *out,
                         size_t len);

#endif
