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
    int request_read_timeout; /* seconds to read a request's parameters, its body, the rest */
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

    /*
     * The secrets file as this command read it (config_use_secrets_file):
     * enum secrets_state, errno when unreadable, its path, and the names
     * (never the values) it set, left to the environment, or ignored.
     */
    char *secrets_file;
    int secrets_state;
    int secrets_errno;
    char secrets_path[1024];
    char secrets_names[512];
    char secrets_shadowed[512];
    char secrets_ignored[512];
    unsigned secrets_mode; /* permission bits, owner and group of the file read */
    unsigned secrets_uid;
    unsigned secrets_gid;

    /* A fingerprint of each key's text in the file (0: not in the file), by key table index. */
    uint64_t file_fp[CONFIG_KEYS_MAX];
};

enum secrets_state {
    SECRETS_OFF,       /* not read: this command does not, or secrets_file is empty */
    SECRETS_NONE,      /* no file at that path */
    SECRETS_READ,      /* read */
    SECRETS_UNREADABLE /* there, but could not be opened (secrets_errno) */
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

/*
 * The config file's text, as config_load finds it: `path`, else
 * $LOOPGATE_CONFIG, else the default file, else the local stack's. `*text`
 * and `*source` (its path) are new strings, both NULL when there is no file
 * (defaults and environment only). -1 with `errbuf` filled when the file
 * cannot be read.
 */
int config_read_file(const char *path, char **text, char **source, char *errbuf,
                     size_t errlen) LG_MUST_CHECK;

/*
 * Load defaults, then `text` (a config file's content read from `source`;
 * NULL: none), then the environment and the command line's settings, and
 * check the whole. What config_load does after reading the file, so the
 * same text gives the same configuration in every process that shares this
 * one's environment.
 */
int config_load_text(struct config *cfg, const char *text, const char *source, char *errbuf,
                     size_t errlen) LG_MUST_CHECK;

/*
 * The secrets file (secrets_file, LOOPGATE_SECRETS_FILE; default
 * /etc/loopgate/secrets.env): the file the systemd units name in
 * EnvironmentFile=, so a command run from a shell sees the secrets the
 * service sees. With `on`, every later config_load reads it, when it exists,
 * after the config file and before the environment: each variable it sets
 * that the environment does not already hold is put into the environment
 * (the shell's wins), so it counts as an environment setting, as it does in
 * the service. `serve` and `telegram poll` leave it off: systemd hands them
 * the file, which their user cannot read. Off by default. A path that is not
 * a regular file (a FIFO, a device) is an error, never opened blocking; so is
 * the config file itself.
 */
void config_use_secrets_file(bool on);

/*
 * Parse a secrets file's text, strictly: lines NAME=VALUE (spaces around
 * `=` allowed), blank lines and `#` or `;` comments. A value is taken as
 * written, or from inside one pair of quotes enclosing all of it; a value
 * holding any other quote, a backslash or a backquote is refused (systemd
 * would unescape it, a shell expand it), as is a line that is not NAME=VALUE;
 * nothing is expanded. Only configuration variables (`loopgate serve
 * --help`) and libpq's PG* are set; other names are listed in
 * cfg->secrets_ignored when they look like variable names ([A-Z_][A-Z0-9_]*),
 * else as "line N: not a variable name (not shown)": such a name may be a
 * pasted secret. Messages name the line and such a variable, never the
 * value. -1 with `errbuf` filled on a bad line.
 */
int config_secrets_parse(struct config *cfg, const char *text, const char *path, char *errbuf,
                         size_t errlen) LG_MUST_CHECK;

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
