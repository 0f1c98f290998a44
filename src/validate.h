/*
 * validate.h - turn untrusted agent bodies into checked structs.
 *
 * Pure functions: no database, no I/O. Each fills a caller-owned lg_error
 * with the HTTP status, a stable code and a message naming the field, which
 * the API answers as {"error":{"code":…,"message":…}}. Pointers in the output
 * structs are borrowed from the json_t the caller passed in.
 */
#ifndef LG_VALIDATE_H
#define LG_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

#define ID_MAX_BYTES 128
#define MESSAGE_MAX_CHARS 16384
#define OPTIONS_MAX 10
#define OPTION_MAX_CHARS 64
#define METADATA_MAX_BYTES 8192
#define TIMEOUT_MAX_SECONDS 86400
#define APPROVERS_MAX 50
#define URL_MAX_BYTES 2048
#define APPROVALS_MAX 10
#define NUDGE_MAX_SECONDS 86400 /* remind_after_seconds, escalate_after_seconds: 1 s to a day */
#define TOOL_MAX_BYTES 128      /* tool, agent_session */
#define TOOL_INPUT_MAX_BYTES (64 * 1024) /* tool_input as compact JSON */

struct register_in {
    const char *session_id;
    const char *client_id;
    int64_t telegram_id;       /* 0: none given, a console-only session (an extension) */
    json_t *approvers;         /* array of integers, or NULL */
    json_t *console_approvers; /* array of console names (validate_console_name), or NULL */
    /*
     * Defaults for the session's requests (021): -1 absent (kept as they
     * are), 0 cleared, else seconds; escalate_to NULL absent, "" cleared.
     */
    int remind_after_seconds;
    int escalate_after_seconds;
    const char *escalate_to;
};

struct submit_in {
    const char *session_id;
    const char *client_id;
    const char *message;
    const char *request_type;  /* confirmation | choice | input, defaulted */
    json_t *options;           /* non-empty array of labels (strings), or NULL */
    bool approve[OPTIONS_MAX]; /* what each option means: true approves */
    json_t *metadata;          /* object, or NULL */
    int timeout_seconds;       /* defaulted */
    const char *on_timeout;    /* deny | approve */
    const char *callback_url;  /* or NULL */
    int approvals_required;    /* distinct approvals that approve, 1-APPROVALS_MAX; default 1 */
    bool deny_vetoes;          /* one denial denies (default); else approvals_required denials */
    json_t *params;            /* the proposed parameters (params.h), or NULL: none */
    json_t *params_schema;     /* the schema edits must meet, or NULL: none */
    /*
     * Reminder and escalation (021): -1 / NULL absent (the session's
     * defaults apply), 0 / "" none (not even the session's), else seconds
     * (1-NUDGE_MAX_SECONDS, below timeout_seconds) and, for the escalation,
     * a session id of the tenant that is not the request's own.
     */
    int remind_after_seconds;
    int escalate_after_seconds;
    const char *escalate_to;
    /*
     * The tool call a coding agent asks about (an extension, 025): the
     * tool's name (1-TOOL_MAX_BYTES, printable), its input (an object of at
     * most TOOL_INPUT_MAX_BYTES as compact JSON) and the agent's own session
     * id (1-TOOL_MAX_BYTES, printable); each NULL when absent. tool_input and
     * agent_session need a tool. Rules (policy.h) match requests with a tool.
     */
    const char *tool;
    json_t *tool_input;
    const char *agent_session;
    /*
     * Set by the caller, never from the body: a coding agent's hook call's
     * key (hooks.c, 029), or NULL. A call that arrives again while its
     * request is pending waits on that request (store_request_submit).
     */
    const char *hook_key;
};

/*
 * Check and parse a request body: valid UTF-8, nested at most
 * LG_JSON_DEPTH_MAX levels (checked before parsing), well-formed JSON, an
 * object. On success *out is a new reference.
 */
int parse_json_object(const char *body, size_t len, json_t **out,
                      struct lg_error *err) LG_MUST_CHECK;

/* The longest console user name (console:<name>). */
#define CONSOLE_NAME_MAX 64

/* True when `s` is a console user name: 1-CONSOLE_NAME_MAX of [A-Za-z0-9._@-]. */
bool validate_console_name(const char *s);

/* The longest tenant name (validate_tenant_name). */
#define TENANT_NAME_MAX 63

/*
 * The tenant-name rule, for every tenant name an operator types (the CLI's
 * --tenant): 1-TENANT_NAME_MAX characters of lower-case ASCII letters,
 * digits, '.', '_' and '-', the first a letter or a digit. So no two
 * tenants differ only by case, spaces or letters of other scripts that
 * look the same. `name` (the option) starts the message; when the name
 * fits the rule once lower-cased and stripped of surrounding spaces, the
 * message gives that form. 400 invalid_tenant (missing_field when empty).
 * Names made before the rule stay usable: see apikey_tenant_check.
 */
int validate_tenant_name(const char *s, const char *name, struct lg_error *err) LG_MUST_CHECK;

/*
 * The body of /hitl/register. telegram_id is required unless the key is
 * absent altogether (a console-only session; null is still refused), and
 * "console_approvers" (an extension) lists console names.
 */
int validate_register(json_t *body, struct register_in *out, struct lg_error *err) LG_MUST_CHECK;

int validate_submit(json_t *body, int default_timeout, struct submit_in *out,
                    struct lg_error *err) LG_MUST_CHECK;

/*
 * What each button of a validated submit means, as the submit answer lists
 * it: [{"label", "approve"}] for its options, Approve / Deny for a
 * confirmation without options, [] for none (new reference).
 */
json_t *validate_options_answer(const struct submit_in *in);

/*
 * An identifier's text, from a body field or a query parameter (`where` is
 * "field" or "parameter"): 1-ID_MAX_BYTES bytes of valid UTF-8 without
 * controls, bidi formatting or invisible characters (utf8_has_unsafe).
 */
int validate_id_text(const char *s, const char *name, const char *where,
                     struct lg_error *err) LG_MUST_CHECK;

/* A required identifier string field (session_id, client_id ...): see validate_id_text. */
int validate_id(json_t *body, const char *field, const char **out,
                struct lg_error *err) LG_MUST_CHECK;

/* A callback_url: an http(s) URL of at most 2048 bytes; *out NULL when absent. */
int validate_callback_url(json_t *v, bool required, const char **out,
                          struct lg_error *err) LG_MUST_CHECK;

/* A request id: a UUID in text form. `where` is "field" or "parameter". */
int validate_request_id(const char *value, const char *name, const char *where,
                        struct lg_error *err) LG_MUST_CHECK;

#endif
