/*
 * doctor.c - see doctor.h.
 *
 * The checks, in order; a check that needs an earlier one that failed is
 * skipped and says so:
 *
 *   config            the config file and environment parse, every value
 *                     is in bounds (config_load), and the Telegram
 *                     settings fit together (a webhook needs an https
 *                     public_url and a secret)
 *   secrets           the secrets file (secrets_file, the services'
 *                     EnvironmentFile) was read, or is absent; one that is
 *                     there but unreadable fails (the checks would not see
 *                     what the service sees). Names only, never values
 *   database          db_uri reaches PostgreSQL, within 5 seconds
 *   migrations        the database holds every migration and SQL object of
 *                     this binary (migrate_check, as `loopgate serve` does)
 *   privileges        the role may read and write every table, use every
 *                     sequence, run every function, and LISTEN (not a
 *                     standby)
 *   clock             this host's clock against the database's: more than
 *                     CLOCK_SKEW_MAX_S apart fails (timeouts and webhook
 *                     timestamps are read against both)
 *   database.listen   only when db_listen_uri is set: it reaches PostgreSQL
 *                     itself, not a pooler (db_identity), as LISTEN and the
 *                     janitor's session lock need, and the database db_uri
 *                     reaches (cluster, database, migration 030's id)
 *   telegram.token    getMe at telegram_api_url; without a token it fails
 *                     when the set-up expects Telegram (public_url, a
 *                     webhook secret, an allow-list, the login button, an
 *                     unreadable secrets file, active sessions with a chat),
 *                     else it is skipped
 *   telegram.webhook  getWebhookInfo: with public_url, Telegram posts to
 *                     public_url + telegram_webhook_path; without, no webhook
 *                     is set (it would keep getUpdates polling out)
 *   nginx             nginx's configuration passes FastCGI to our socket:
 *                     --nginx-conf PATH, else the local stack's
 *                     var/nginx/nginx.conf beside its config file, else
 *                     the output of `nginx -T`
 *   socket            something accepts connections on the unix socket
 *
 * The last line says everything is fine only when nothing failed and
 * nothing was skipped.
 *
 * Secrets stay out of the output: the token is only inside the Bot API URL
 * (tg.c never prints it), the database is named by what the server says
 * (database, user, version), never by db_uri.
 */
#include "doctor.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "migrate.h"
#include "tg.h"
#include "util.h"

#define CLOCK_SKEW_MAX_S 2.0
#define NGINX_TEXT_MAX (8 << 20) /* the most of nginx's configuration read */
#define NGINX_TARGETS_MAX 64

enum status { ST_OK, ST_FAIL, ST_SKIP };

struct doctor {
    int failed;
    int skipped;
};

/* One line: status, name, what was found, and for a failure its fix. */
LG_PRINTF(5, 6)
static void report(struct doctor *d, enum status st, const char *name, const char *fix,
                   const char *fmt, ...)
{
    static const char *const words[] = {"ok", "FAIL", "skip"};
    char detail[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    for (char *p = detail; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    if (st == ST_SKIP)
        d->skipped++;
    if (st == ST_FAIL) {
        d->failed++;
        printf("%-4s  %-16s  %s  -> fix: %s\n", words[st], name, detail, fix);
    } else {
        printf("%-4s  %-16s  %s\n", words[st], name, detail);
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------- config */

/*
 * The secrets file holds the bot token and the database password: others may
 * neither read nor write it, its group may not write it and may read it only
 * when that group is `loopgate` (0640 root:loopgate lets the service's user
 * run these commands), and run as root it must be root's. Reports a failure
 * and returns true when it is not so.
 */
static bool secrets_exposed(struct doctor *d, const struct config *cfg)
{
    unsigned mode = cfg->secrets_mode;
    const struct group *gr = (mode & 0040) ? getgrgid((gid_t)cfg->secrets_gid) : NULL;
    bool group_ok = !(mode & 0040) || (gr && !strcmp(gr->gr_name, "loopgate"));
    bool perm_bad = (mode & 0027) || !group_ok;
    bool owner_bad = geteuid() == 0 && cfg->secrets_uid != 0;
    char fix[2300];

    if (!perm_bad && !owner_bad)
        return false;
    snprintf(fix, sizeof(fix), "%s%s%s%s%s (group read is allowed only for group loopgate)",
             perm_bad ? "chmod 0600 " : "", perm_bad ? cfg->secrets_path : "",
             perm_bad && owner_bad ? "; " : "", owner_bad ? "chown root: " : "",
             owner_bad ? cfg->secrets_path : "");
    report(d, ST_FAIL, "secrets", fix,
           "%s is mode %04o, owner uid %u, group %s: %s; it holds the bot token and the database "
           "password",
           cfg->secrets_path, mode, cfg->secrets_uid, gr ? gr->gr_name : "-",
           perm_bad ? "users other than root may read or change it"
                    : "run as root, it must be root's (another owner may change it)");
    return true;
}

/* What the secrets file gave: names only, never values. */
static void check_secrets(struct doctor *d, const struct config *cfg)
{
    switch (cfg->secrets_state) {
    case SECRETS_OFF:
        report(d, ST_OK, "secrets", "", "secrets_file is empty: none read");
        break;
    case SECRETS_NONE:
        report(d, ST_OK, "secrets", "",
               "no %s (optional): secrets come from the config file and "
               "the environment",
               cfg->secrets_path);
        break;
    case SECRETS_UNREADABLE:
        report(d, ST_FAIL, "secrets",
               "run 'loopgate doctor' as root (systemd reads the file as root for the service; "
               "it is mode 0600), or point secrets_file / LOOPGATE_SECRETS_FILE at a copy you "
               "may read",
               "could not read %s: %s; the checks below do not see the service's secrets",
               cfg->secrets_path, strerror(cfg->secrets_errno));
        break;
    default:
        if (secrets_exposed(d, cfg))
            break;
        report(d, ST_OK, "secrets", "", "%s gave %s%s%s%s%s", cfg->secrets_path,
               *cfg->secrets_names ? cfg->secrets_names : "nothing",
               *cfg->secrets_shadowed ? "; the environment overrides " : "", cfg->secrets_shadowed,
               *cfg->secrets_ignored ? "; ignored (not loopgate's) " : "", cfg->secrets_ignored);
        break;
    }
}

static bool check_config(struct doctor *d, struct config *cfg, const char *path)
{
    char err[512];

    if (config_load(cfg, path, err, sizeof(err)) < 0) {
        report(d, ST_FAIL, "config",
               "correct the key named there (in that file or that "
               "environment variable); 'loopgate serve --help' lists "
               "every key and its bounds",
               "%s", err);
        return false;
    }
    report(d, ST_OK, "config", "", "%s parses, every value valid (auth %s)", cfg->source,
           cfg->auth_required ? "required" : "off");
    check_secrets(d, cfg);
    if (!*cfg->public_url)
        return true;
    if (strncmp(cfg->public_url, "https://", 8) != 0)
        report(d, ST_FAIL, "config.webhook",
               "set public_url / PUBLIC_URL to the https:// origin nginx serves (Telegram "
               "calls webhooks over HTTPS only)",
               "public_url '%s' is not an https:// URL", cfg->public_url);
    else if (!*cfg->telegram_webhook_secret)
        report(d, ST_FAIL, "config.webhook",
               "set telegram_webhook_secret / TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -), "
               "then run 'loopgate telegram set-webhook'",
               "public_url is set but telegram_webhook_secret is empty: the webhook refuses "
               "every update");
    else
        report(d, ST_OK, "config.webhook", "", "public_url is https and a webhook secret is set");
    return true;
}

/* ---------------------------------------------------------------- database */

static PGconn *connect_db(const struct config *cfg)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {cfg->db_uri, "5", "loopgate doctor", NULL};

    return PQconnectdbParams(keys, vals, 1);
}

/* The first line of libpq's message, for one report line. */
static const char *first_line(const char *msg, char *buf, size_t len)
{
    size_t n = strcspn(msg, "\n");

    if (n >= len)
        n = len - 1;
    memcpy(buf, msg, n);
    buf[n] = '\0';
    return buf;
}

/* One row of text columns, or NULL (the error in `why`); PQclear it. */
static PGresult *query(PGconn *c, const char *sql, char *why, size_t len)
{
    PGresult *res = PQexec(c, sql);

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        return res;
    first_line(PQresultErrorMessage(res), why, len);
    PQclear(res);
    return NULL;
}

static bool check_database(struct doctor *d, PGconn *c)
{
    char why[512];
    PGresult *res;

    if (PQstatus(c) != CONNECTION_OK) {
        report(d, ST_FAIL, "database",
               "start PostgreSQL, or point db_uri / DB_URI at it (and check pg_hba.conf lets "
               "this role in)",
               "could not connect: %s", first_line(PQerrorMessage(c), why, sizeof(why)));
        return false;
    }
    res = query(c, "SELECT current_database(), current_user, current_setting('server_version')",
                why, sizeof(why));
    if (!res) {
        report(d, ST_FAIL, "database", "see PostgreSQL's log", "connected, but: %s", why);
        return false;
    }
    report(d, ST_OK, "database", "", "PostgreSQL %s, database %s as role %s", PQgetvalue(res, 0, 2),
           PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    PQclear(res);
    return true;
}

static void check_migrations(struct doctor *d, const struct config *cfg)
{
    char why[512];
    int rc = migrate_check(cfg->db_uri, why, sizeof(why));

    if (rc == 0)
        report(d, ST_OK, "migrations", "", "all %d migrations and %d SQL objects applied",
               migrations_count, sql_objects_count);
    else if (rc > 0)
        report(d, ST_FAIL, "migrations",
               "run 'loopgate migrate' (with this configuration) before the workers start",
               "the schema is older than this binary: %s", why);
    else
        report(d, ST_FAIL, "migrations", "run 'loopgate migrate --status' to see why",
               "could not read the schema: %s", why);
}

/*
 * What the workers do: read and write every table of the schema (the two
 * schema_ tables only read), use its sequences, run its functions, and
 * LISTEN, which a standby refuses.
 */
static void check_privileges(struct doctor *d, PGconn *c)
{
    static const char sql[] =
        "SELECT pg_is_in_recovery(), current_user,"
        " (SELECT coalesce(string_agg(c.relname, ' ' ORDER BY c.relname), '')"
        "    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT ("
        "     has_table_privilege(c.oid, 'SELECT') AND (c.relname LIKE 'schema\\_%' OR ("
        "     has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE')"
        "     AND has_table_privilege(c.oid, 'DELETE'))))),"
        " (SELECT coalesce(string_agg(c.relname, ' ' ORDER BY c.relname), '')"
        "    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "   WHERE n.nspname = 'public' AND c.relkind = 'S'"
        "     AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(c.oid, 'USAGE') END),"
        " (SELECT coalesce(string_agg(DISTINCT p.proname, ' '), '')"
        "    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        "   WHERE n.nspname = 'public' AND NOT has_function_privilege(p.oid, 'EXECUTE')),"
        " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p'))";
    char why[512];
    const char *tables, *seqs, *funcs;
    PGresult *res = query(c, sql, why, sizeof(why));
    PGresult *listen;

    if (!res) {
        report(d, ST_FAIL, "privileges", "see PostgreSQL's log", "could not read them: %s", why);
        return;
    }
    tables = PQgetvalue(res, 0, 2);
    seqs = PQgetvalue(res, 0, 3);
    funcs = PQgetvalue(res, 0, 4);
    if (!strcmp(PQgetvalue(res, 0, 0), "t")) {
        report(d, ST_FAIL, "privileges",
               "point db_uri / DB_URI at the primary: a standby takes no writes and no LISTEN",
               "the database is a standby (in recovery)");
    } else if (*tables || *seqs || *funcs) {
        report(d, ST_FAIL, "privileges",
               "as the tables' owner: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN "
               "SCHEMA public TO the role; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO it; "
               "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO it",
               "role %s lacks rights on: %s%s%s%s%s%s", PQgetvalue(res, 0, 1),
               *tables ? "tables " : "", tables, *seqs ? "; sequences " : "", seqs,
               *funcs ? "; functions " : "", funcs);
    } else {
        listen = PQexec(c, "LISTEN lg_request; UNLISTEN lg_request");
        if (PQresultStatus(listen) != PGRES_COMMAND_OK)
            report(d, ST_FAIL, "privileges",
                   "point db_uri / DB_URI at a primary that allows LISTEN", "LISTEN refused: %s",
                   first_line(PQresultErrorMessage(listen), why, sizeof(why)));
        else
            report(d, ST_OK, "privileges", "",
                   "role %s may read and write all %s tables, use the sequences, run the "
                   "functions, LISTEN",
                   PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 5));
        PQclear(listen);
    }
    PQclear(res);
}

/*
 * db_listen_uri, when set, reaches PostgreSQL itself: LISTEN and the
 * janitor's lock are a session's, which a pooler in transaction mode hands
 * to other clients (notify.h point 6); and it reaches the database db_uri
 * reaches (`uri`, NULL when db_uri's could not be read, with `uri_why`),
 * or notifications go where nobody listens and the janitor prunes the
 * other database. No line when it is not set.
 */
static void check_listen(struct doctor *d, const struct config *cfg, const struct db_identity *uri,
                         const char *uri_why)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {cfg->db_listen_uri, "5", "loopgate doctor", NULL};
    struct db_identity mine;
    char why[512];
    PGconn *c;
    int direct = 0;

    if (!*cfg->db_listen_uri)
        return;
    c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK)
        report(d, ST_FAIL, "database.listen",
               "point db_listen_uri / LOOPGATE_DB_LISTEN_URI at PostgreSQL itself (and check "
               "pg_hba.conf lets this role in)",
               "could not connect: %s", first_line(PQerrorMessage(c), why, sizeof(why)));
    else if (db_identity(c, &mine, &direct, why, sizeof(why)) < 0)
        report(d, ST_FAIL, "database.listen",
               "point db_listen_uri at db_uri's database on PostgreSQL itself (a Loopgate "
               "database: 'loopgate migrate' made it)",
               "connected, but could not read which database it is: %s", why);
    else if (!direct)
        report(d, ST_FAIL, "database.listen",
               "point db_listen_uri at PostgreSQL itself (the primary, or every node with "
               "target_session_attrs=read-write), never at pgbouncer",
               "db_listen_uri goes through a connection pooler: LISTEN and the janitor's lock "
               "would land on server connections other clients get");
    else if (!uri)
        report(d, ST_SKIP, "database.listen", "",
               "db_listen_uri reaches PostgreSQL itself (database %s), not compared with "
               "db_uri's: %s",
               mine.database, uri_why);
    else if (!db_identity_same(&mine, uri))
        report(d, ST_FAIL, "database.listen",
               "point db_listen_uri at the database db_uri reaches (the same cluster and "
               "database, on PostgreSQL itself)",
               "db_listen_uri reaches database %s (system identifier %s, id %s), not db_uri's %s "
               "(system identifier %s, id %s): notifications would go where nobody listens and "
               "the janitor would prune the other database",
               mine.database, mine.system, mine.id, uri->database, uri->system, uri->id);
    else
        report(d, ST_OK, "database.listen", "",
               "db_listen_uri reaches PostgreSQL itself (a session of its own for LISTEN and "
               "the janitor's lock) and db_uri's database %s",
               mine.database);
    PQfinish(c);
}

static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The database's clock against the middle of the round trip that read it. */
static void check_clock(struct doctor *d, PGconn *c)
{
    char why[512];
    double before = wall_now(), after, db, skew;
    PGresult *res =
        query(c, "SELECT extract(epoch FROM clock_timestamp())::float8", why, sizeof(why));

    after = wall_now();
    if (!res) {
        report(d, ST_FAIL, "clock", "see PostgreSQL's log", "could not read its clock: %s", why);
        return;
    }
    db = strtod(PQgetvalue(res, 0, 0), NULL);
    PQclear(res);
    skew = db - (before + after) / 2;
    if (skew > CLOCK_SKEW_MAX_S || skew < -CLOCK_SKEW_MAX_S)
        report(d, ST_FAIL, "clock",
               "synchronise both hosts' clocks (chrony or systemd-timesyncd: timedatectl "
               "set-ntp true)",
               "this host's clock is %.1f s %s the database's (more than %.0f s)",
               skew < 0 ? -skew : skew, skew < 0 ? "ahead of" : "behind", CLOCK_SKEW_MAX_S);
    else
        report(d, ST_OK, "clock", "", "within %.3f s of the database's (round trip %.0f ms)",
               skew < 0 ? -skew : skew, (after - before) * 1000);
}

/* ---------------------------------------------------------------- Telegram */

/* Active sessions with a Telegram chat: people expect messages there. 0 when unknown. */
static long long count_telegram_sessions(PGconn *c)
{
    char why[512];
    PGresult *res = query(c,
                          "SELECT count(*) FROM sessions WHERE active AND telegram_chat_id IS NOT "
                          "NULL",
                          why, sizeof(why));
    long long n = res ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;

    PQclear(res);
    return n;
}

/*
 * Why this set-up expects a bot token (a static string), or NULL when it
 * runs without Telegram: then a missing token is no failure.
 */
static const char *telegram_expected(const struct config *cfg, long long chats)
{
    if (cfg->secrets_state == SECRETS_UNREADABLE)
        return "the secrets file, where the service's token may be, could not be read";
    if (*cfg->public_url)
        return "public_url is set (a Telegram webhook)";
    if (*cfg->telegram_webhook_secret)
        return "telegram_webhook_secret is set";
    if (cfg->telegram_allowed_users.n > 0)
        return "telegram_allowed_users is set";
    if (cfg->console_login_button)
        return "console_login_button is on (Telegram login)";
    if (chats > 0)
        return "active sessions in the database send their requests to Telegram chats";
    return NULL;
}

/* The URL Telegram should post to: public_url (no trailing '/') + the path. */
static void expected_webhook(const struct config *cfg, struct sbuf *out)
{
    size_t n = strlen(cfg->public_url);

    sb_append(out, cfg->public_url, n && cfg->public_url[n - 1] == '/' ? n - 1 : n);
    sb_puts(out, cfg->telegram_webhook_path);
}

static bool check_token(struct doctor *d, const struct config *cfg, struct tg_client *tg)
{
    struct tg_result res;
    json_t *none = json_object();
    const char *user;

    tg_call(tg, "getMe", none, &res);
    json_decref(none);
    if (res.outcome == TG_OK) {
        user = json_string_value(json_object_get(res.result, "username"));
        report(d, ST_OK, "telegram.token", "", "getMe: the bot is @%s (id %lld)", user ? user : "?",
               (long long)json_integer_value(json_object_get(res.result, "id")));
    } else if (res.outcome == TG_TOKEN_REFUSED) {
        report(d, ST_FAIL, "telegram.token",
               "copy the bot's token from @BotFather (/mybots, API Token) into "
               "TELEGRAM_BOT_TOKEN or telegram_bot_token",
               "Telegram refused the bot token (getMe: %s)", res.error);
    } else {
        report(d, ST_FAIL, "telegram.token",
               "check that this host reaches telegram_api_url (firewall, proxy, DNS) and that "
               "TELEGRAM_API_URL is right",
               "could not ask %s: %s", cfg->telegram_api_url, res.error);
    }
    json_decref(res.result);
    return res.outcome == TG_OK;
}

static void check_webhook(struct doctor *d, const struct config *cfg, struct tg_client *tg)
{
    struct tg_result res;
    struct sbuf want = {0};
    json_t *none = json_object();
    const char *url, *last;
    json_int_t last_at;

    tg_call(tg, "getWebhookInfo", none, &res);
    json_decref(none);
    if (res.outcome != TG_OK) {
        report(d, ST_FAIL, "telegram.webhook", "see the telegram.token line",
               "getWebhookInfo failed: %s", res.error);
        json_decref(res.result);
        return;
    }
    url = json_string_value(json_object_get(res.result, "url"));
    url = url ? url : "";
    last = json_string_value(json_object_get(res.result, "last_error_message"));
    last_at = json_integer_value(json_object_get(res.result, "last_error_date"));
    if (!*cfg->public_url) {
        if (*url)
            report(d, ST_FAIL, "telegram.webhook",
                   "run 'loopgate telegram delete-webhook' to poll with getUpdates, or set "
                   "PUBLIC_URL to the origin of that webhook",
                   "Telegram posts updates to %s, but public_url is empty (this host polls; "
                   "Telegram refuses getUpdates while a webhook is set)",
                   url);
        else
            report(d, ST_OK, "telegram.webhook", "",
                   "no webhook set and no public_url: updates are fetched with getUpdates");
    } else {
        expected_webhook(cfg, &want);
        if (!*url)
            report(d, ST_FAIL, "telegram.webhook", "run 'loopgate telegram set-webhook'",
                   "Telegram has no webhook; expected %s", want.p);
        else if (strcmp(url, want.p) != 0)
            report(d, ST_FAIL, "telegram.webhook",
                   "run 'loopgate telegram set-webhook' (or correct PUBLIC_URL / "
                   "telegram_webhook_path)",
                   "Telegram posts updates to %s; expected %s", url, want.p);
        else if (!*cfg->telegram_webhook_secret)
            report(d, ST_FAIL, "telegram.webhook",
                   "set TELEGRAM_WEBHOOK_SECRET, then run 'loopgate telegram set-webhook'",
                   "Telegram posts to %s, but no webhook secret is configured here", url);
        else if (last && *last)
            report(d, ST_OK, "telegram.webhook", "",
                   "Telegram posts to %s (its last delivery error, %lld s ago: %s)", url,
                   (long long)(time(NULL) - (time_t)last_at), last);
        else
            report(d, ST_OK, "telegram.webhook", "", "Telegram posts to %s, with a secret", url);
    }
    sb_free(&want);
    json_decref(res.result);
}

/* ---------------------------------------------------------------- nginx */

/* Read at most NGINX_TEXT_MAX bytes of `f`; a new string. */
static char *slurp(FILE *f)
{
    struct sbuf b = {0};
    char chunk[8192];
    size_t n;

    while (b.len < NGINX_TEXT_MAX && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sb_append(&b, chunk, n);
    sb_puts(&b, "");
    return b.p;
}

/* The next token of nginx's syntax at *p (a word, or one of "{};"); false at the end. */
static bool next_token(const char **p, char *tok, size_t len)
{
    const char *s = *p;
    size_t n = 0;

    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        if (*s != '#')
            break;
        s += strcspn(s, "\n");
    }
    if (!*s)
        return false;
    if (*s == '{' || *s == '}' || *s == ';') {
        tok[n++] = *s++;
    } else if (*s == '"' || *s == '\'') {
        char q = *s++;
        while (*s && *s != q) {
            if (n + 1 < len)
                tok[n++] = *s;
            s++;
        }
        if (*s)
            s++;
    } else {
        while (*s && !strchr(" \t\r\n{};#", *s)) {
            if (n + 1 < len)
                tok[n++] = *s;
            s++;
        }
    }
    tok[n] = '\0';
    *p = s;
    return true;
}

struct targets {
    char addr[NGINX_TARGETS_MAX][256];
    int n;
};

static void add_target(struct targets *t, const char *addr)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->addr[i], addr))
            return;
    if (t->n < NGINX_TARGETS_MAX)
        lg_strlcpy(t->addr[t->n++], addr, sizeof(t->addr[0]));
}

/* The servers of the upstream blocks: (upstream name, address) pairs. */
struct upstreams {
    struct {
        char name[128];
        char addr[256];
    } s[NGINX_TARGETS_MAX];
    int n;
};

/*
 * Where nginx's `text` sends FastCGI, into `out`: every fastcgi_pass value,
 * an upstream's name replaced by its servers' addresses.
 */
static void fastcgi_targets(const char *text, struct targets *out)
{
    struct targets passes = {.n = 0};
    struct upstreams ups = {.n = 0};
    char tok[256], upstream[128] = "";
    const char *p = text;
    int depth = 0, up_depth = -1;

    while (next_token(&p, tok, sizeof(tok))) {
        if (!strcmp(tok, "{")) {
            depth++;
        } else if (!strcmp(tok, "}")) {
            if (depth-- == up_depth)
                up_depth = -1;
        } else if (!strcmp(tok, "upstream") && next_token(&p, upstream, sizeof(upstream))) {
            up_depth = depth + 1;
        } else if (!strcmp(tok, "server") && up_depth == depth) {
            if (next_token(&p, tok, sizeof(tok)) && ups.n < NGINX_TARGETS_MAX) {
                lg_strlcpy(ups.s[ups.n].name, upstream, sizeof(ups.s[0].name));
                lg_strlcpy(ups.s[ups.n].addr, tok, sizeof(ups.s[0].addr));
                ups.n++;
            }
        } else if (!strcmp(tok, "fastcgi_pass")) {
            if (next_token(&p, tok, sizeof(tok)))
                add_target(&passes, tok);
        }
    }
    for (int i = 0; i < passes.n; i++) {
        bool named = false;
        for (int j = 0; j < ups.n; j++)
            if (!strcmp(ups.s[j].name, passes.addr[i])) {
                add_target(out, ups.s[j].addr);
                named = true;
            }
        if (!named)
            add_target(out, passes.addr[i]);
    }
}

/*
 * nginx's configuration as text, and where it came from: `path`, else the
 * local stack's (nginx/nginx.conf beside its config file), else `nginx -T`.
 * NULL when none is at hand (`from` says why).
 */
static char *nginx_text(const struct config *cfg, const char *path, char *from, size_t len)
{
    char local[4096];
    const char *slash;
    FILE *f;
    char *text;
    int rc;

    if (!path && config_is_local_stack(cfg->source)) {
        slash = strrchr(cfg->source, '/');
        lg_snprintf(local, sizeof(local), "%.*s/nginx/nginx.conf",
                    slash ? (int)(slash - cfg->source) : 1, slash ? cfg->source : ".");
        if (access(local, R_OK) == 0)
            path = local;
    }
    if (path) {
        f = fopen(path, "r");
        if (!f) {
            lg_snprintf(from, len, "could not read %s: %s", path, strerror(errno));
            return NULL;
        }
        text = slurp(f);
        fclose(f);
        lg_snprintf(from, len, "%s", path);
        return text;
    }
    f = popen("nginx -T 2>/dev/null", "r");
    if (!f) {
        lg_snprintf(from, len, "could not run nginx -T: %s", strerror(errno));
        return NULL;
    }
    text = slurp(f);
    rc = pclose(f);
    if (rc != 0 || !*text) {
        lg_snprintf(from, len,
                    "nginx -T printed no configuration (nginx missing, or not "
                    "allowed to read it)");
        free(text);
        return NULL;
    }
    lg_snprintf(from, len, "nginx -T");
    return text;
}

static void check_nginx(struct doctor *d, const struct config *cfg, const char *path)
{
    struct targets t = {.n = 0};
    struct sbuf seen = {0}, ours = {0};
    char from[4200];
    char *text = nginx_text(cfg, path, from, sizeof(from));
    bool match = false;

    if (!text) {
        if (path)
            report(d, ST_FAIL, "nginx", "give the path of nginx's configuration", "%s", from);
        else
            report(d, ST_SKIP, "nginx", "", "%s; give --nginx-conf PATH to check it", from);
        return;
    }
    if (cfg->socket[0] == '/')
        sb_printf(&ours, "unix:%s", cfg->socket);
    else
        sb_puts(&ours, cfg->socket);
    fastcgi_targets(text, &t);
    for (int i = 0; i < t.n; i++) {
        sb_printf(&seen, "%s%s", i ? ", " : "", t.addr[i]);
        if (!strcmp(t.addr[i], ours.p))
            match = true;
    }
    if (t.n == 0)
        report(d, ST_FAIL, "nginx",
               "install the site (nginx/loopgate.conf, see its head) and reload nginx",
               "no fastcgi_pass in %s: nginx does not pass anything to loopgate", from);
    else if (!match)
        report(d, ST_FAIL, "nginx",
               "make nginx's upstream server (or fastcgi_pass) match the socket, or set "
               "socket / LOOPGATE_SOCKET to what nginx uses; then nginx -s reload",
               "nginx passes FastCGI to %s (%s); loopgate's socket is %s", seen.p, from, ours.p);
    else
        report(d, ST_OK, "nginx", "", "passes FastCGI to %s (%s)", ours.p, from);
    sb_free(&seen);
    sb_free(&ours);
    free(text);
}

/* Does anything accept on the unix socket? */
static void check_socket(struct doctor *d, const struct config *cfg)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, rc, e;

    if (cfg->socket[0] != '/') {
        report(d, ST_SKIP, "socket", "", "%s is a TCP address; not checked", cfg->socket);
        return;
    }
    if (strlen(cfg->socket) >= sizeof(sa.sun_path)) {
        report(d, ST_FAIL, "socket", "choose a shorter socket path",
               "%s is too long for a "
               "unix socket",
               cfg->socket);
        return;
    }
    lg_strlcpy(sa.sun_path, cfg->socket, sizeof(sa.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        report(d, ST_FAIL, "socket", "see the error", "socket(): %s", strerror(errno));
        return;
    }
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    e = errno;
    close(fd);
    if (rc == 0)
        report(d, ST_OK, "socket", "", "loopgate accepts connections on %s", cfg->socket);
    else
        report(d, ST_FAIL, "socket",
               "start the workers (systemctl start loopgate.socket loopgate.service, or make "
               "run), or correct socket / LOOPGATE_SOCKET",
               "nothing accepts connections on %s: %s", cfg->socket, strerror(e));
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: loopgate doctor [--config PATH] [--nginx-conf PATH]\n\n"
            "Checks this host's set-up and prints one line per check:\n"
            "  ok|FAIL|skip  NAME  what it found  [-> fix: what to do]\n\n"
            "  config            the config file and environment parse; values valid;\n"
            "                    a webhook's public_url is https and has a secret\n"
            "  secrets           secrets_file (/etc/loopgate/secrets.env, the services'\n"
            "                    EnvironmentFile) read when present; unreadable fails\n"
            "  database          db_uri reaches PostgreSQL (5 s)\n"
            "  migrations        every migration and SQL object of this binary applied\n"
            "  privileges        the role reads and writes every table, uses the\n"
            "                    sequences, runs the functions, may LISTEN (no standby)\n"
            "  clock             this host's clock within %.0f s of the database's\n"
            "  database.listen   db_listen_uri, when set, reaches PostgreSQL itself, not a\n"
            "                    pooler (LISTEN and the janitor's lock need a session),\n"
            "                    and the database db_uri reaches\n"
            "  telegram.token    getMe at telegram_api_url accepts the token; no token\n"
            "                    fails when the set-up expects Telegram, else is skipped\n"
            "  telegram.webhook  getWebhookInfo: Telegram posts to public_url +\n"
            "                    telegram_webhook_path (or, without public_url, nowhere)\n"
            "  nginx             nginx passes FastCGI to our socket (--nginx-conf PATH,\n"
            "                    the local stack's nginx.conf, or 'nginx -T')\n"
            "  socket            something accepts connections on the socket\n\n"
            "Secrets (the bot token, the webhook secret, a database password) are never\n"
            "printed. Exit status: 0 when nothing failed, 1 when a check failed, 2 for a\n"
            "usage error. 'everything checked is fine' only when nothing was skipped either.\n",
            CLOCK_SKEW_MAX_S);
}

int doctor_main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"nginx-conf", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *nginx_path = NULL;
    struct doctor d = {0};
    struct config cfg;
    struct tg_client tg;
    PGconn *conn;
    struct db_identity uri;
    char uri_why[256];
    bool have_uri = false;
    long long telegram_chats = 0;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'c') {
            config_path = optarg;
        } else if (c == 'n') {
            nginx_path = optarg;
        } else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loopgate doctor: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!check_config(&d, &cfg, config_path)) {
        config_free(&cfg);
        report(&d, ST_SKIP, "the rest", "", "every other check needs a valid configuration");
        return 1;
    }
    conn = connect_db(&cfg);
    lg_strlcpy(uri_why, "db_uri is unreachable", sizeof(uri_why));
    if (check_database(&d, conn)) {
        telegram_chats = count_telegram_sessions(conn);
        check_migrations(&d, &cfg);
        check_privileges(&d, conn);
        check_clock(&d, conn);
        if (*cfg.db_listen_uri)
            have_uri = db_identity(conn, &uri, NULL, uri_why, sizeof(uri_why)) == 0;
    } else {
        report(&d, ST_SKIP, "migrations", "", "the database is unreachable");
        report(&d, ST_SKIP, "privileges", "", "the database is unreachable");
        report(&d, ST_SKIP, "clock", "", "the database is unreachable");
    }
    PQfinish(conn);
    check_listen(&d, &cfg, have_uri ? &uri : NULL, uri_why);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!*cfg.telegram_bot_token) {
        const char *why = telegram_expected(&cfg, telegram_chats);

        if (why)
            report(&d, ST_FAIL, "telegram.token",
                   "put TELEGRAM_BOT_TOKEN=... in the secrets file (secrets_file, "
                   "/etc/loopgate/secrets.env: systemd gives it to the service and loopgate's "
                   "commands read it), or set telegram_bot_token",
                   "no bot token here, but %s", why);
        else
            report(&d, ST_SKIP, "telegram.token", "",
                   "no telegram_bot_token and nothing set up for Telegram: requests wait in the "
                   "console");
        report(&d, ST_SKIP, "telegram.webhook", "", "no telegram_bot_token");
    } else if (tg_client_init(&tg, &cfg) < 0) {
        report(&d, ST_FAIL, "telegram.token", "see the error", "could not make an HTTP client");
    } else {
        if (check_token(&d, &cfg, &tg))
            check_webhook(&d, &cfg, &tg);
        else
            report(&d, ST_SKIP, "telegram.webhook", "", "the token does not work");
        tg_client_free(&tg);
    }
    curl_global_cleanup();
    check_nginx(&d, &cfg, nginx_path);
    check_socket(&d, &cfg);
    config_free(&cfg);
    if (d.failed)
        printf("doctor: something failed; each FAIL line says how to fix it\n");
    else if (d.skipped)
        printf("doctor: nothing failed; %d check%s skipped (each skip line says why)\n", d.skipped,
               d.skipped == 1 ? " was" : "s were");
    else
        printf("doctor: everything checked is fine\n");
    return d.failed ? 1 : 0;
}
