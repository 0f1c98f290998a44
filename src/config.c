/*
 * config.c - table-driven configuration; see config.h.
 *
 * Every key lives in one table row: its name in the file, its environment
 * variable, its type and bounds, and a one-line description that `loopgate
 * serve --help` prints. Adding a key means adding a row and a struct field.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_CONFIG_PATH "/etc/loopgate/loopgate.conf"

enum key_type {
    K_STR,
    K_INT,
    K_BOOL,
    K_AUTH,
    K_LEVEL,
    K_LOGFMT,
    K_ADAPTER,
    K_URL,
    K_MODE,
    K_SECRET,
    K_PATH,
    K_IDLIST
};

struct key {
    const char *name;
    const char *env;
    enum key_type type;
    size_t offset;
    long min, max;
    const char *def;
    const char *help;
};

/*
 * Keys read once when a worker starts (sockets, process and thread counts,
 * connections, the bot's identity): a changed value takes effect only when
 * the workers restart. Every other key applies on SIGHUP.
 */
static const char *const restart_keys[] = {
    "server_port",
    "socket",
    "socket_mode",
    "workers",
    "threads",
    "busy_threads",
    "db_adapter",
    "db_uri",
    "db_pool_size",
    "db_listen_uri",
    "db_transaction_pooling",
    "telegram_bot_token",
    "telegram_api_url",
    "delivery_threads",
    "webhook_threads",
};

static bool needs_restart(const char *name)
{
    for (size_t i = 0; i < sizeof(restart_keys) / sizeof(restart_keys[0]); i++)
        if (!strcmp(restart_keys[i], name))
            return true;
    return false;
}

#define OFF(f) offsetof(struct config, f)

static const struct key keys[] = {
    {"server_port", "SERVER_PORT", K_INT, OFF(server_port), 1, 65535, "8080",
     "TCP port nginx listens on in the local stack"},
    {"socket", "LOOPGATE_SOCKET", K_STR, OFF(socket), 0, 0, "/run/loopgate/loopgate.sock",
     "FastCGI socket: a unix socket path (with a '/'), or host:port for TCP (\":port\" every IPv4 "
     "address, \"[::1]:port\" IPv6; the host must name one address); ignored under socket "
     "activation"},
    {"socket_mode", "LOOPGATE_SOCKET_MODE", K_MODE, OFF(socket_mode), 0, 0777, "0660",
     "permissions of the unix socket, octal (a TCP socket has none: firewall its port)"},
    {"workers", "LOOPGATE_WORKERS", K_INT, OFF(workers), 1, 256, "2",
     "worker processes forked by the master"},
    {"threads", "LOOPGATE_THREADS", K_INT, OFF(threads), 1, 16384, "256",
     "request threads per worker process; each long-poll holds one while it waits"},
    {"busy_threads", "LOOPGATE_BUSY_THREADS", K_INT, OFF(busy_threads), 1, 16384, "16",
     "request threads per worker that work at once (at most threads); a long-poll asleep does not "
     "count, further connections wait in the socket's listen queue"},
    {"shutdown_timeout", "LOOPGATE_SHUTDOWN_TIMEOUT", K_INT, OFF(shutdown_timeout), 1, 600, "10",
     "seconds in-flight requests get to finish on SIGTERM"},
    {"request_read_timeout", "LOOPGATE_REQUEST_READ_TIMEOUT", K_INT, OFF(request_read_timeout), 1,
     300, "5",
     "seconds a FastCGI connection gets from its accept to send its request's parameters, and as "
     "long again for its body and for the rest of its input after the answer, however slowly; "
     "then it is closed (meanwhile it holds a thread, never a busy one); a write of its answer "
     "that finds no room for as long fails"},
    {"log_level", "LOG_LEVEL", K_LEVEL, OFF(log_level), 0, 0, "info", "debug, info, warn or error"},
    {"log_format", "LOOPGATE_LOG_FORMAT", K_LOGFMT, OFF(log_format), 0, 0, "logfmt",
     "logfmt (key=value) or json (one JSON object a line)"},
    {"ready_outbox_max_age", "LOOPGATE_READY_OUTBOX_MAX_AGE", K_INT, OFF(ready_outbox_max_age), 10,
     86400, "300",
     "seconds a due delivery may wait (or keep failing) before /readyz reports delivery stuck"},
    {"auth", "LOOPGATE_AUTH", K_AUTH, OFF(auth_required), 0, 0, "required",
     "required: every API call needs a key; off: keys optional (loopback development only)"},
    {"request_timeout", "REQUEST_TIMEOUT", K_INT, OFF(request_timeout), 1, 86400, "300",
     "default timeout_seconds of a request"},
    {"max_concurrent_requests", "MAX_CONCURRENT_REQUESTS", K_INT, OFF(max_concurrent_requests), 1,
     10000000, "100", "pending requests allowed per tenant; more is answered 429"},
    {"poll_wait_max", "LOOPGATE_POLL_WAIT_MAX", K_INT, OFF(poll_wait_max), 1, 3600, "120",
     "longest wait= of GET /hitl/poll, in seconds (keep nginx's fastcgi_read_timeout above it)"},
    {"events_streams", "LOOPGATE_EVENTS_STREAMS", K_INT, OFF(events_streams), 0, 16384, "32",
     "event streams (GET /hitl/events, the console's) one worker process serves at once; each "
     "holds a request thread, and they share the threads long-polls may take"},
    {"events_keepalive", "LOOPGATE_EVENTS_KEEPALIVE", K_INT, OFF(events_keepalive), 1, 120, "15",
     "seconds between keepalive comments on a quiet event stream (below nginx's "
     "fastcgi_read_timeout)"},
    {"events_lifetime", "LOOPGATE_EVENTS_LIFETIME", K_INT, OFF(events_lifetime), 5, 3600, "600",
     "seconds an event stream lasts before it ends (the client reconnects with Last-Event-ID); "
     "keep nginx's fastcgi_read_timeout for /hitl/events above it"},
    {"webhook_allow_private", "LOOPGATE_WEBHOOK_ALLOW_PRIVATE", K_BOOL, OFF(webhook_allow_private),
     0, 0, "false", "allow callback_url targets on loopback, private or link-local addresses"},
    {"webhook_retry_seconds", "LOOPGATE_WEBHOOK_RETRY_SECONDS", K_INT, OFF(webhook_retry_seconds),
     1, 604800, "86400", "how long an undeliverable agent webhook is retried before it fails"},
    {"webhook_threads", "LOOPGATE_WEBHOOK_THREADS", K_INT, OFF(webhook_threads), 0, 64, "4",
     "agent webhook delivery threads per worker process (a lane apart from Telegram's)"},
    {"webhook_tenant_concurrency", "LOOPGATE_WEBHOOK_TENANT_CONCURRENCY", K_INT,
     OFF(webhook_tenant_concurrency), 1, 1024, "2",
     "agent webhooks of one tenant in flight at once, across all workers"},
    {"webhook_host_concurrency", "LOOPGATE_WEBHOOK_HOST_CONCURRENCY", K_INT,
     OFF(webhook_host_concurrency), 1, 1024, "4",
     "agent webhooks to one callback_url host in flight at once, across all workers"},
    {"mcp_default_session", "LOOPGATE_MCP_DEFAULT_SESSION", K_STR, OFF(mcp_default_session), 0, 0,
     "mcp", "session request_human_input uses when an MCP client gives no session_id"},
    {"hooks_default_session", "LOOPGATE_HOOKS_DEFAULT_SESSION", K_STR, OFF(hooks_default_session),
     0, 0, "",
     "session a coding agent's hook call goes to without X-Loopgate-Session (none: a 400)"},
    {"hooks_wait_max", "LOOPGATE_HOOKS_WAIT_MAX", K_INT, OFF(hooks_wait_max), 1, 86400, "900",
     "longest wait of a hook call, in seconds: a larger X-Loopgate-Wait is lowered to it (keep "
     "it above the agents' hook timeouts, 600 s, and nginx's fastcgi_read_timeout above it)"},
    {"mcp_allowed_origins", "LOOPGATE_MCP_ALLOWED_ORIGINS", K_STR, OFF(mcp_allowed_origins), 0, 0,
     "", "browser Origins allowed to call /mcp, comma-separated (none: any Origin is refused)"},
    {"cors_allowed_origins", "LOOPGATE_CORS_ALLOWED_ORIGINS", K_STR, OFF(cors_allowed_origins), 0,
     0, "",
     "browser Origins (https://app.example.com) whose pages may call the agent API, "
     "comma-separated; * allows any and needs auth = required (none: no CORS headers)"},
    {"mcp_sessions_max", "LOOPGATE_MCP_SESSIONS_MAX", K_INT, OFF(mcp_sessions_max), 1, 10000000,
     "1000", "live MCP sessions allowed per tenant; initialize beyond it is answered 429"},
    {"mcp_session_idle", "LOOPGATE_MCP_SESSION_IDLE", K_INT, OFF(mcp_session_idle), 300, 2592000,
     "86400", "seconds an MCP session lives without a request; then it ends and is pruned"},
    {"max_body_bytes", "LOOPGATE_MAX_BODY_BYTES", K_INT, OFF(max_body_bytes), 1024, 1048576,
     "65536", "largest accepted request body"},
    {"db_adapter", "DB_ADAPTER", K_ADAPTER, OFF(db_adapter), 0, 0, "postgres",
     "storage adapter; only postgres is supported"},
    {"db_uri", "DB_URI", K_STR, OFF(db_uri), 0, 0, "dbname=loopgate",
     "libpq connection string or postgresql:// URI"},
    {"db_listen_uri", "LOOPGATE_DB_LISTEN_URI", K_STR, OFF(db_listen_uri), 0, 0, "",
     "connection to PostgreSQL itself (no pooler) for LISTEN and the janitor's session lock; "
     "required with db_transaction_pooling; when set, /readyz fails 'listener' and the janitor "
     "does not run if it goes through a pooler; empty: db_uri"},
    {"db_transaction_pooling", "LOOPGATE_DB_TRANSACTION_POOLING", K_BOOL,
     OFF(db_transaction_pooling), 0, 0, "false",
     "db_uri is a pooler in transaction mode (pgbouncer pool_mode = transaction): statements are "
     "sent unnamed, each transaction sets synchronous_commit = on itself, no other session "
     "settings; needs db_listen_uri"},
    {"db_pool_size", "LOOPGATE_DB_POOL_SIZE", K_INT, OFF(db_pool_size), 1, 256, "4",
     "database connections per worker process"},
    {"telegram_bot_token", "TELEGRAM_BOT_TOKEN", K_STR, OFF(telegram_bot_token), 0, 0, "",
     "bot token from @BotFather (secret; never logged)"},
    {"secrets_file", "LOOPGATE_SECRETS_FILE", K_STR, OFF(secrets_file), 0, 0,
     "/etc/loopgate/secrets.env",
     "KEY=VALUE file the systemd units read as EnvironmentFile=; every command but serve and "
     "telegram poll (which systemd gives it) reads it too, so doctor and set-webhook see the "
     "service's token; the shell's environment wins (empty: none)"},
    {"telegram_api_url", "TELEGRAM_API_URL", K_URL, OFF(telegram_api_url), 0, 0,
     "https://api.telegram.org", "Bot API base URL"},
    {"telegram_webhook_secret", "TELEGRAM_WEBHOOK_SECRET", K_SECRET, OFF(telegram_webhook_secret),
     0, 0, "", "secret Telegram sends in X-Telegram-Bot-Api-Secret-Token (secret)"},
    {"public_url", "PUBLIC_URL", K_URL, OFF(public_url), 0, 0, "",
     "public HTTPS origin Telegram reaches, e.g. https://hitl.example.com"},
    {"telegram_webhook_path", "LOOPGATE_TELEGRAM_WEBHOOK_PATH", K_PATH, OFF(telegram_webhook_path),
     0, 0, "/telegram/webhook", "path Telegram posts updates to"},
    {"telegram_group_any_member", "LOOPGATE_TELEGRAM_GROUP_ANY_MEMBER", K_BOOL,
     OFF(telegram_group_any_member), 0, 0, "false",
     "in a group chat whose session lists no approvers, any member may decide"},
    {"telegram_allowed_users", "LOOPGATE_TELEGRAM_ALLOWED_USERS", K_IDLIST,
     OFF(telegram_allowed_users), 0, 0, "",
     "global allow-list of Telegram user ids who may decide, applied on top (empty: no limit)"},
    {"delivery_threads", "LOOPGATE_DELIVERY_THREADS", K_INT, OFF(delivery_threads), 0, 64, "2",
     "Telegram delivery threads per worker process (0: this process sends nothing to Telegram)"},
    {"telegram_chat_gap_ms", "LOOPGATE_TELEGRAM_CHAT_GAP_MS", K_INT, OFF(telegram_chat_gap_ms), 0,
     60000, "1000", "least time between two messages to one private chat"},
    {"telegram_group_gap_ms", "LOOPGATE_TELEGRAM_GROUP_GAP_MS", K_INT, OFF(telegram_group_gap_ms),
     0, 600000, "3050",
     "least time between two messages to one group (Telegram allows 20 a minute)"},
    {"telegram_bot_gap_ms", "LOOPGATE_TELEGRAM_BOT_GAP_MS", K_INT, OFF(telegram_bot_gap_ms), 0,
     10000, "0", "least time between two messages from the bot (0: only the rate below)"},
    {"telegram_bot_rate", "LOOPGATE_TELEGRAM_BOT_RATE", K_INT, OFF(telegram_bot_rate), 1, 1000,
     "30", "most messages from the bot in any one second (Telegram allows about 30)"},
    {"telegram_update_window_hours", "LOOPGATE_TELEGRAM_UPDATE_WINDOW_HOURS", K_INT,
     OFF(telegram_update_window_hours), 48, 8760, "48",
     "how long a processed update_id is remembered (per bot) to ignore repeats"},
    {"retention_days", "LOOPGATE_RETENTION_DAYS", K_INT, OFF(retention_days), 0, 36500, "90",
     "days a finished request (with its votes and deliveries) is kept after it was submitted; "
     "0 keeps requests forever"},
    {"audit_retention_days", "LOOPGATE_AUDIT_RETENTION_DAYS", K_INT, OFF(audit_retention_days), 0,
     36500, "0",
     "days an audit row is kept once `loopgate audit export --mark` wrote it out; 0 keeps the "
     "audit trail forever (unexported rows are always kept)"},
    {"janitor_interval", "LOOPGATE_JANITOR_INTERVAL", K_INT, OFF(janitor_interval), 0, 86400, "300",
     "seconds between retention runs (one host at a time deletes old rows); 0: no retention runs"},
    {"janitor_batch", "LOOPGATE_JANITOR_BATCH", K_INT, OFF(janitor_batch), 1, 100000, "1000",
     "rows a retention run deletes per statement (each its own short transaction)"},
    {"console_login_button", "LOOPGATE_CONSOLE_LOGIN_BUTTON", K_BOOL, OFF(console_login_button), 0,
     0, "false",
     "an \"Open in console\" Telegram login button on every request message (needs an https:// "
     "public_url linked to the bot with BotFather's /setdomain)"},
    {"console_admins", "LOOPGATE_CONSOLE_ADMINS", K_IDLIST, OFF(console_admins), 0, 0, "",
     "Telegram user ids who sign in to the console by Telegram as admins of "
     "console_admins_tenant (others, and elsewhere: approvers)"},
    {"console_admins_tenant", "LOOPGATE_CONSOLE_ADMINS_TENANT", K_STR, OFF(console_admins_tenant),
     0, 0, "default",
     "the one tenant whose admins console_admins are (a login's tenant is that of the request it "
     "opens; in any other tenant they sign in as approvers)"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= CONFIG_KEYS_MAX, "config.h: raise CONFIG_KEYS_MAX");

static const struct key *key_find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

static int set_value(struct config *cfg, const struct key *k, const char *v, const char *where,
                     char *errbuf, size_t errlen)
{
    char *base = (char *)cfg + k->offset;
    long n;
    char *end;
    int lvl;

    switch (k->type) {
    case K_STR:
    case K_URL:
    case K_ADAPTER:
    case K_SECRET:
    case K_PATH:
        if (k->type == K_SECRET && *v &&
            (strlen(v) > 256 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789_-") != strlen(v))) {
            /* Never echo a secret, not even a malformed one. */
            snprintf(errbuf, errlen, "%s: %s: must be 1-256 characters of A-Z a-z 0-9 _ -", where,
                     k->name);
            return -1;
        }
        if (k->type == K_PATH && (v[0] != '/' || strchr(v, '?') || strchr(v, ' '))) {
            snprintf(errbuf, errlen, "%s: %s: '%s' must be a URL path starting with /", where,
                     k->name, v);
            return -1;
        }
        if (k->type == K_ADAPTER && strcmp(v, "postgres") != 0) {
            snprintf(errbuf, errlen,
                     "%s: %s: unsupported value '%s' (only 'postgres' is supported)", where,
                     k->name, v);
            return -1;
        }
        if (k->type == K_URL && *v && strncmp(v, "https://", 8) && strncmp(v, "http://", 7)) {
            snprintf(errbuf, errlen, "%s: %s: '%s' is not an http:// or https:// URL", where,
                     k->name, v);
            return -1;
        }
        free(*(char **)base);
        *(char **)base = xstrdup(v);
        return 0;
    case K_INT:
    case K_MODE:
        errno = 0;
        n = strtol(v, &end, k->type == K_MODE ? 8 : 10);
        if (!*v || *end || errno || n < k->min || n > k->max) {
            if (k->type == K_MODE)
                snprintf(errbuf, errlen, "%s: %s: invalid value '%s' (expected octal 0-0777)",
                         where, k->name, v);
            else
                snprintf(errbuf, errlen, "%s: %s: invalid value '%s' (expected an integer %ld-%ld)",
                         where, k->name, v, k->min, k->max);
            return -1;
        }
        *(int *)base = (int)n;
        return 0;
    case K_BOOL:
    case K_AUTH:
        if (!strcasecmp(v, "required") && k->type == K_AUTH)
            *(bool *)base = true;
        else if (!strcasecmp(v, "off") && k->type == K_AUTH)
            *(bool *)base = false;
        else if (k->type == K_BOOL && (!strcasecmp(v, "true") || !strcmp(v, "1") ||
                                       !strcasecmp(v, "yes") || !strcasecmp(v, "on")))
            *(bool *)base = true;
        else if (k->type == K_BOOL && (!strcasecmp(v, "false") || !strcmp(v, "0") ||
                                       !strcasecmp(v, "no") || !strcasecmp(v, "off")))
            *(bool *)base = false;
        else {
            snprintf(errbuf, errlen, "%s: %s: invalid value '%s' (expected %s)", where, k->name, v,
                     k->type == K_AUTH ? "required or off" : "true or false");
            return -1;
        }
        return 0;
    case K_IDLIST: {
        struct id_list *l = (struct id_list *)base;
        const char *p = v;
        l->n = 0;
        while (*p) {
            long long id;
            while (*p == ' ' || *p == ',')
                p++;
            if (!*p)
                break;
            errno = 0;
            id = strtoll(p, &end, 10);
            if (end == p || errno || id <= 0 || l->n >= ID_LIST_MAX ||
                (*end && *end != ',' && *end != ' ')) {
                snprintf(errbuf, errlen,
                         "%s: %s: invalid value '%s' (expected up to %d comma-separated "
                         "Telegram user ids)",
                         where, k->name, v, ID_LIST_MAX);
                return -1;
            }
            l->ids[l->n++] = id;
            p = end;
        }
        return 0;
    }
    case K_LEVEL:
        lvl = log_level_parse(v);
        if (lvl < 0) {
            snprintf(errbuf, errlen,
                     "%s: %s: invalid value '%s' (expected debug, info, warn or error)", where,
                     k->name, v);
            return -1;
        }
        *(int *)base = lvl;
        return 0;
    case K_LOGFMT:
        lvl = log_format_parse(v);
        if (lvl < 0) {
            snprintf(errbuf, errlen, "%s: %s: invalid value '%s' (expected logfmt or json)", where,
                     k->name, v);
            return -1;
        }
        *(int *)base = lvl;
        return 0;
    }
    return -1;
}

int config_set(struct config *cfg, const char *key, const char *value, const char *where,
               char *errbuf, size_t errlen)
{
    const struct key *k = key_find(key);

    if (!k) {
        /*
         * Keys are lowercase words of letters and `_`: anything else may be
         * a pasted secret (a webhook secret, a token, a hex key, a URI) and is
         * not shown, in errors that reach terminals and logs.
         */
        size_t n = strlen(key);

        if (n > 0 && n <= 40 && key[0] != '_' && strspn(key, "abcdefghijklmnopqrstuvwxyz_") == n)
            snprintf(errbuf, errlen, "%s: unknown key '%s'", where, key);
        else
            snprintf(errbuf, errlen,
                     "%s: unknown key (not shown: it is not a word of lowercase letters and _; a "
                     "line is key = value)",
                     where);
        return -1;
    }
    return set_value(cfg, k, value, where, errbuf, errlen);
}

#define OVERRIDES_MAX 8

static struct {
    char *key, *value;
} overrides[OVERRIDES_MAX];
static int noverrides;

int config_set_override(struct config *cfg, const char *key, const char *value, char *errbuf,
                        size_t errlen)
{
    if (config_set(cfg, key, value, "command line", errbuf, errlen) < 0)
        return -1;
    for (int i = 0; i < noverrides; i++)
        if (!strcmp(overrides[i].key, key)) {
            free(overrides[i].value);
            overrides[i].value = xstrdup(value);
            return 0;
        }
    if (noverrides == OVERRIDES_MAX) {
        snprintf(errbuf, errlen, "command line: too many settings");
        return -1;
    }
    overrides[noverrides].key = xstrdup(key);
    overrides[noverrides].value = xstrdup(value);
    noverrides++;
    return 0;
}

void config_defaults(struct config *cfg)
{
    char err[64];

    memset(cfg, 0, sizeof(*cfg));
    cfg->source = xstrdup("(defaults)");
    for (size_t i = 0; i < NKEYS; i++)
        if (set_value(cfg, &keys[i], keys[i].def, "default", err, sizeof(err)) < 0)
            abort();
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

int config_parse_text(struct config *cfg, const char *text, const char *name, char *errbuf,
                      size_t errlen)
{
    char *copy = xstrdup(text), *line;
    int lineno = 0, rc = 0;
    const char *p = copy;

    /* Walk line by line; strtok_r would merge empty lines and break numbering. */
    for (line = copy; p && rc == 0; line = (char *)p) {
        char *nl = strchr(line, '\n'), *eq, *key, *val, where[600];

        p = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        if (!utf8_valid(line, strlen(line))) {
            snprintf(errbuf, errlen, "%s:%d: line is not valid UTF-8", name, lineno);
            rc = -1;
            break;
        }
        line = trim(line);
        if (*line == '\0' || *line == '#')
            continue;
        eq = strchr(line, '=');
        if (!eq) {
            snprintf(errbuf, errlen, "%s:%d: expected 'key = value'", name, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        key = trim(line);
        val = trim(eq + 1);
        if (*val == '"') {
            /* A quoted value ends at the next '"'; only a comment may follow it. */
            char *close = strchr(val + 1, '"'), *rest;
            if (!close) {
                snprintf(errbuf, errlen, "%s:%d: %s: unterminated quoted value", name, lineno, key);
                rc = -1;
                break;
            }
            rest = trim(close + 1);
            if (*rest && *rest != '#') {
                snprintf(errbuf, errlen, "%s:%d: %s: unexpected text after quoted value", name,
                         lineno, key);
                rc = -1;
                break;
            }
            *close = '\0';
            val++;
        } else {
            /* An unquoted value ends at a ' #' comment. */
            char *hash = strstr(val, " #");
            if (hash) {
                *hash = '\0';
                val = trim(val);
            }
        }
        snprintf(where, sizeof(where), "%s:%d", name, lineno);
        rc = config_set(cfg, key, val, where, errbuf, errlen);
        if (rc == 0) {
            /* FNV-1a of the value's text, never 0: what a reload compares (config_env_shadowed) */
            uint64_t h = UINT64_C(14695981039346656037);

            for (const char *c = val; *c; c++)
                h = (h ^ (unsigned char)*c) * UINT64_C(1099511628211);
            cfg->file_fp[key_find(key) - keys] = h ? h : 1;
        }
    }
    free(copy);
    return rc;
}

/*
 * Open `path` for reading when it is a regular file (or /dev/null, an empty
 * one): O_NONBLOCK so that a FIFO or a device never blocks the open, then
 * fstat. NULL with errno set when it cannot be opened; NULL with *special set
 * when it is anything else.
 */
static FILE *open_regular(const char *path, bool *special, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), flags, e;
    FILE *f = NULL;

    *special = false;
    if (fd < 0)
        return NULL;
    if (fstat(fd, st) < 0)
        goto out;
    if (!S_ISREG(st->st_mode) && !(S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3))) {
        *special = true;
        goto out;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        goto out;
    f = fdopen(fd, "r");
out:
    if (!f) {
        e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

static int read_file(const char *path, char **out, char *errbuf, size_t errlen)
{
    struct stat st;
    bool special;
    FILE *f = open_regular(path, &special, &st);
    char *buf;
    size_t n;

    if (!f) {
        snprintf(errbuf, errlen, "could not open config file %s: %s", path,
                 special ? "not a regular file" : strerror(errno));
        return -1;
    }
    buf = xmalloc(1 << 20);
    n = fread(buf, 1, (1 << 20) - 1, f);
    if (ferror(f) || !feof(f)) {
        snprintf(errbuf, errlen, "could not read config file %s: %s", path,
                 ferror(f) ? strerror(errno) : "larger than 1 MiB");
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    if (memchr(buf, '\0', n)) {
        snprintf(errbuf, errlen, "%s: file contains a NUL byte", path);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

bool config_list_has(const char *list, const char *item)
{
    size_t n = strlen(item);

    for (const char *p = list; p && *p;) {
        size_t len;
        p += strspn(p, ", ");
        len = strcspn(p, ", ");
        if (len && len == n && !strncmp(p, item, n))
            return true;
        p += len;
    }
    return false;
}

/*
 * One entry of cors_allowed_origins: an origin as a browser sends it,
 * scheme://host[:port] in lower case (http or https), no path, no slash at
 * the end; or `*` alone.
 */
static bool origin_valid(const char *p, size_t len)
{
    size_t skip;

    if (len > 200)
        return false;
    if (len > 8 && !strncmp(p, "https://", 8))
        skip = 8;
    else if (len > 7 && !strncmp(p, "http://", 7))
        skip = 7;
    else
        return false;
    for (size_t i = skip; i < len; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789.-:[]", p[i]))
            return false;
    return p[skip] != ':' && p[len - 1] != ':';
}

static int check_cors(const struct config *cfg, char *errbuf, size_t errlen)
{
    const char *list = cfg->cors_allowed_origins;
    bool star = false;
    int n = 0;

    for (const char *p = list; p && *p;) {
        size_t len;
        p += strspn(p, ", ");
        len = strcspn(p, ", ");
        if (!len)
            break;
        n++;
        if (len == 1 && *p == '*') {
            star = true;
        } else if (!origin_valid(p, len)) {
            snprintf(errbuf, errlen,
                     "cors_allowed_origins: '%.*s' is not an origin: write scheme://host[:port] "
                     "in lower case (http or https, no path, no slash at the end), or * alone",
                     (int)(len > 100 ? 100 : len), p);
            return -1;
        }
        p += len;
    }
    if (star && n > 1) {
        snprintf(errbuf, errlen, "cors_allowed_origins: * stands alone (it allows every origin)");
        return -1;
    }
    if (star && !cfg->auth_required) {
        snprintf(errbuf, errlen,
                 "cors_allowed_origins: * needs auth = required: with auth off any web page "
                 "could read the default tenant's requests; list the origins instead");
        return -1;
    }
    return 0;
}

/* Keys whose value needs another's; checked once every source is read. */
static int check_combinations(const struct config *cfg, char *errbuf, size_t errlen)
{
    if (check_cors(cfg, errbuf, errlen) < 0)
        return -1;
    if (cfg->db_transaction_pooling && !*cfg->db_listen_uri) {
        snprintf(errbuf, errlen,
                 "db_transaction_pooling = true needs db_listen_uri (LOOPGATE_DB_LISTEN_URI): a "
                 "connection to PostgreSQL itself, not through the pooler, for LISTEN and the "
                 "janitor's session lock (through a pooler in transaction mode notifications go "
                 "to other clients and the lock stays on a shared server connection)");
        return -1;
    }
    if (cfg->console_login_button && strncmp(cfg->public_url, "https://", 8) != 0) {
        snprintf(errbuf, errlen,
                 "console_login_button: on needs public_url (PUBLIC_URL) to be the https:// "
                 "origin linked to the bot: Telegram opens login URLs over HTTPS only");
        return -1;
    }
    return 0;
}

bool config_is_local_stack(const char *path)
{
    char first[sizeof(CONFIG_LOCAL_MARK) + 1];
    struct stat st;
    bool ok = false;
    FILE *f;

    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
        (st.st_uid != geteuid() && st.st_uid != 0))
        return false;
    f = fopen(path, "r");
    if (!f)
        return false;
    if (fgets(first, sizeof(first), f))
        ok = !strncmp(first, CONFIG_LOCAL_MARK, strlen(CONFIG_LOCAL_MARK)) &&
             (first[strlen(CONFIG_LOCAL_MARK)] == '\n' || first[strlen(CONFIG_LOCAL_MARK)] == '\0');
    fclose(f);
    return ok;
}

int config_local_stack(char *out, size_t outlen)
{
    const char *var = getenv("LOOPGATE_VAR");
    char dir[4096];
    int n;

    if (var && *var) {
        n = snprintf(out, outlen, "%s/loopgate.conf", var);
        return n > 0 && (size_t)n < outlen && config_is_local_stack(out) ? 0 : -1;
    }
    if (!getcwd(dir, sizeof(dir)))
        return -1;
    for (;;) {
        char *slash;
        n = snprintf(out, outlen, "%s/var/loopgate.conf", strcmp(dir, "/") ? dir : "");
        if (n > 0 && (size_t)n < outlen && config_is_local_stack(out))
            return 0;
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            break;
        *slash = '\0';
    }
    if (strcmp(dir, "/") != 0) {
        n = snprintf(out, outlen, "/var/loopgate.conf");
        if (n > 0 && (size_t)n < outlen && config_is_local_stack(out))
            return 0;
    }
    return -1;
}

int config_read_file(const char *path, char **text, char **source, char *errbuf, size_t errlen)
{
    char local[4096 + 32];

    *text = *source = NULL;
    if (!path || !*path)
        path = getenv("LOOPGATE_CONFIG");
    if ((!path || !*path) && access(DEFAULT_CONFIG_PATH, F_OK) == 0)
        path = DEFAULT_CONFIG_PATH;
    if ((!path || !*path) && config_local_stack(local, sizeof(local)) == 0)
        path = local;
    if (!path || !*path)
        return 0;
    if (read_file(path, text, errbuf, errlen) < 0)
        return -1;
    *source = xstrdup(path);
    return 0;
}

/* ---------------------------------------------------------------- secrets file */

#define SECRETS_FILE_MAX (64 * 1024)
#define SECRETS_NAMES_MAX 64

static bool secrets_on;
/* The variables this process took from the secrets file: their errors name the file. */
static char *secrets_taken[SECRETS_NAMES_MAX];
static int secrets_ntaken;

void config_use_secrets_file(bool on)
{
    secrets_on = on;
}

/* The name of a variable the secrets file may set: a key's variable, or libpq's PG*. */
static bool secret_name_allowed(const char *name)
{
    if (!strncmp(name, "PG", 2))
        return true;
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].env, name) && strcmp(name, "LOOPGATE_SECRETS_FILE") != 0)
            return true;
    return false;
}

static bool secret_taken(const char *name)
{
    for (int i = 0; i < secrets_ntaken; i++)
        if (!strcmp(secrets_taken[i], name))
            return true;
    return false;
}

static void names_add(char *names, size_t len, const char *name);

/*
 * Parse the secrets file's `text` (see config_secrets_parse in config.h);
 * each allowed variable not already in the environment is set there.
 * Values are never copied into messages.
 */
int config_secrets_parse(struct config *cfg, const char *text, const char *path, char *errbuf,
                         size_t errlen)
{
    char *copy = xstrdup(text), *line, *next;
    int lineno = 0, rc = 0;

    for (line = copy; line && rc == 0; line = next) {
        char *nl = strchr(line, '\n'), *eq, *name, *val;
        size_t n, vlen;
        bool shown;

        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        line = trim(line);
        if (*line == '\0' || *line == '#' || *line == ';')
            continue;
        eq = strchr(line, '=');
        name = line;
        n = eq ? (size_t)(eq - line) : 0;
        while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
            n--;
        if (!eq || n == 0 || n > 64 || (name[0] >= '0' && name[0] <= '9') ||
            strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != n) {
            snprintf(errbuf, errlen,
                     "%s:%d: expected NAME=VALUE (line not shown: it may hold a "
                     "secret)",
                     path, lineno);
            rc = -1;
            break;
        }
        name[n] = '\0';
        val = trim(eq + 1);
        vlen = strlen(val);
        if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && val[vlen - 1] == val[0]) {
            val[vlen - 1] = '\0';
            val++;
            vlen -= 2;
        }
        shown = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
        if (strpbrk(val, "\"'\\`") || !utf8_valid(val, vlen)) {
            snprintf(errbuf, errlen,
                     "%s:%d: %s: the value holds a quote, a backslash or a backquote, or is not "
                     "UTF-8: write it plain, or whole in one pair of quotes (nothing is expanded "
                     "or unescaped here)",
                     path, lineno, shown ? name : "(name not shown: not a variable name)");
            rc = -1;
            break;
        }
        if (!secret_name_allowed(name)) {
            /* Only an upper-case variable name is shown: else it may be a pasted secret. */
            if (shown) {
                names_add(cfg->secrets_ignored, sizeof(cfg->secrets_ignored), name);
            } else {
                char what[64];

                snprintf(what, sizeof(what), "line %d: not a variable name (not shown)", lineno);
                names_add(cfg->secrets_ignored, sizeof(cfg->secrets_ignored), what);
            }
            continue;
        }
        if (secret_taken(name) || !getenv(name)) {
            if (!secret_taken(name) && secrets_ntaken < SECRETS_NAMES_MAX)
                secrets_taken[secrets_ntaken++] = xstrdup(name);
            if (setenv(name, val, 1) < 0) {
                snprintf(errbuf, errlen, "%s:%d: %s: could not set it: %s", path, lineno, name,
                         strerror(errno));
                rc = -1;
                break;
            }
            names_add(cfg->secrets_names, sizeof(cfg->secrets_names), name);
        } else {
            names_add(cfg->secrets_shadowed, sizeof(cfg->secrets_shadowed), name);
        }
    }
    free(copy);
    return rc;
}

/* Read the secrets file when this command uses one (config_use_secrets_file). */
static int secrets_read(struct config *cfg, char *errbuf, size_t errlen)
{
    const char *path = getenv("LOOPGATE_SECRETS_FILE");
    char *buf = NULL;
    struct stat st;
    bool special;
    size_t n;
    FILE *f;
    int rc = -1;

    cfg->secrets_state = SECRETS_OFF;
    if (!secrets_on)
        return 0;
    if (!path)
        path = cfg->secrets_file;
    if (!*path)
        return 0;
    lg_strlcpy(cfg->secrets_path, path, sizeof(cfg->secrets_path));
    if (path[0] != '/') {
        snprintf(errbuf, errlen, "secrets_file: '%s' is not an absolute path", path);
        return -1;
    }
    f = open_regular(path, &special, &st);
    if (!f && special) {
        snprintf(errbuf, errlen, "secrets file %s: not a regular file", path);
        return -1;
    }
    if (!f) {
        cfg->secrets_state = errno == ENOENT ? SECRETS_NONE : SECRETS_UNREADABLE;
        cfg->secrets_errno = errno;
        return 0;
    }
    cfg->secrets_mode = st.st_mode & 07777;
    cfg->secrets_uid = st.st_uid;
    cfg->secrets_gid = st.st_gid;
    buf = xmalloc(SECRETS_FILE_MAX + 1);
    n = fread(buf, 1, SECRETS_FILE_MAX, f);
    if (ferror(f) || !feof(f)) {
        snprintf(errbuf, errlen, "could not read secrets file %s: %s", path,
                 ferror(f) ? strerror(errno) : "larger than 64 KiB");
        goto out;
    }
    if (memchr(buf, '\0', n)) {
        snprintf(errbuf, errlen, "%s: file contains a NUL byte", path);
        goto out;
    }
    buf[n] = '\0';
    if (config_secrets_parse(cfg, buf, path, errbuf, errlen) < 0)
        goto out;
    cfg->secrets_state = SECRETS_READ;
    rc = 0;
out:
    fclose(f);
    free(buf);
    return rc;
}

int config_load_text(struct config *cfg, const char *text, const char *source, char *errbuf,
                     size_t errlen)
{
    config_defaults(cfg);
    if (text) {
        if (config_parse_text(cfg, text, source, errbuf, errlen) < 0)
            return -1;
        free(cfg->source);
        cfg->source = xstrdup(source);
    }
    if (secrets_read(cfg, errbuf, errlen) < 0)
        return -1;
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = getenv(keys[i].env);
        char where[4200];
        if (!v)
            continue;
        if (secret_taken(keys[i].env))
            snprintf(where, sizeof(where), "secrets file %s (%s)", cfg->secrets_path, keys[i].env);
        else
            snprintf(where, sizeof(where), "environment %s", keys[i].env);
        if (set_value(cfg, &keys[i], v, where, errbuf, errlen) < 0)
            return -1;
    }
    for (int i = 0; i < noverrides; i++)
        if (config_set(cfg, overrides[i].key, overrides[i].value, "command line", errbuf, errlen) <
            0)
            return -1;
    return check_combinations(cfg, errbuf, errlen);
}

int config_load(struct config *cfg, const char *path, char *errbuf, size_t errlen)
{
    char *text, *source;
    int rc;

    if (config_read_file(path, &text, &source, errbuf, errlen) < 0) {
        config_defaults(cfg);
        return -1;
    }
    rc = config_load_text(cfg, text, source, errbuf, errlen);
    free(text);
    free(source);
    return rc;
}

void config_describe(void)
{
    printf("Configuration keys (file key / environment variable, default):\n");
    for (size_t i = 0; i < NKEYS; i++)
        printf("  %-24s %-26s %s\n      %s%s\n", keys[i].name, keys[i].env,
               *keys[i].def ? keys[i].def : "(empty)", keys[i].help,
               needs_restart(keys[i].name) ? " (restart to change)" : "");
    printf("\nSIGHUP re-reads the config file and the environment: every key applies at once\n"
           "except those marked (restart to change), which keep their running value until\n"
           "the workers restart.\n");
}

/* Whether key `k` has the same value in `a` and `b`. */
static bool key_same(const struct key *k, const struct config *a, const struct config *b)
{
    const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;

    switch (k->type) {
    case K_STR:
    case K_URL:
    case K_ADAPTER:
    case K_SECRET:
    case K_PATH:
        return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
    case K_INT:
    case K_MODE:
    case K_LEVEL:
    case K_LOGFMT:
        return *(const int *)pa == *(const int *)pb;
    case K_BOOL:
    case K_AUTH:
        return *(const bool *)pa == *(const bool *)pb;
    case K_IDLIST: {
        const struct id_list *la = (const struct id_list *)pa, *lb = (const struct id_list *)pb;
        return la->n == lb->n && memcmp(la->ids, lb->ids, sizeof(la->ids[0]) * (size_t)la->n) == 0;
    }
    }
    return false;
}

static void names_add(char *names, size_t len, const char *name)
{
    size_t n = strlen(names);

    if (n + 3 + strlen(name) >= len)
        return;
    snprintf(names + n, len - n, "%s%s", n ? ", " : "", name);
}

int config_reload_diff(struct config *next, const struct config *cur, char *live, size_t live_len,
                       char *restart, size_t restart_len)
{
    int n = 0;

    live[0] = restart[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];

        if (key_same(k, next, cur))
            continue;
        if (!needs_restart(k->name)) {
            names_add(live, live_len, k->name);
            continue;
        }
        names_add(restart, restart_len, k->name);
        n++;
        if (k->type == K_INT || k->type == K_MODE) {
            *(int *)((char *)next + k->offset) = *(const int *)((const char *)cur + k->offset);
        } else {
            char **p = (char **)((char *)next + k->offset);
            free(*p);
            *p = xstrdup(*(char *const *)((const char *)cur + k->offset));
        }
    }
    return n;
}

void config_env_shadowed(const struct config *next, const struct config *cur, char *out, size_t len)
{
    size_t n;

    out[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        if (next->file_fp[i] == cur->file_fp[i] || !getenv(keys[i].env))
            continue;
        n = strlen(out);
        if (n + 1 < len)
            snprintf(out + n, len - n, "%s%s: the file's value is overridden by %s", n ? "; " : "",
                     keys[i].name, keys[i].env);
    }
}

/*
 * Every configuration ever published, so that none is freed while a thread
 * may still read it (a long-poll keeps the one it started with); one per
 * reload, never freed, reachable from here.
 */
struct published {
    const struct config *cfg;
    struct published *next;
};
static struct published *published;
static const struct config *current;

void config_publish(const struct config *cfg)
{
    struct published *p = xmalloc(sizeof(*p));

    p->cfg = cfg;
    p->next = published;
    published = p;
    __atomic_store_n(&current, cfg, __ATOMIC_RELEASE);
}

const struct config *config_current(void)
{
    return __atomic_load_n(&current, __ATOMIC_ACQUIRE);
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == K_STR || keys[i].type == K_URL || keys[i].type == K_ADAPTER ||
            keys[i].type == K_SECRET || keys[i].type == K_PATH) {
            char **p = (char **)((char *)cfg + keys[i].offset);
            free(*p);
            *p = NULL;
        }
    free(cfg->source);
    cfg->source = NULL;
}
