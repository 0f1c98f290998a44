/*
 * hooks.c - see hooks.h.
 *
 * A call's body is read here (read_body: every refusal, an oversized or
 * non-JSON body included, is a deny the agent reads), parsed with bounds
 * (hooks_parse), rendered for reading on a phone (the tool; a shell tool's
 * command, an input's file path with a diff for each edit, or the whole
 * input; every field no diff or command shows; the agent's description on
 * one line last; the working directory and the agent session as metadata;
 * long blank runs and hidden line breaks marked), submitted like any request
 * (validate_submit, store_request_submit), waited for (wait_poll), and
 * answered (hooks_decide, hooks_answer). Edits go through the request's
 * params: Bash {command}, Write {file_path, content}, Edit {file_path,
 * old_string, new_string}, each with a schema that keeps the person to
 * those fields; a tool input too large for params, or whose params would
 * cut a Telegram message that fits whole without them, is asked without
 * them.
 */
#include "hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "params.h"
#include "policy.h"
#include "store_requests.h"
#include "validate.h"
#include "wait.h"

#define TOOL_NAME_MAX 128
#define CWD_MAX 4096
#define INPUT_MAX_BYTES 65536
#define SUGGESTIONS_MAX 32
/* Bytes of the rendered call kept; Telegram cuts further and links the rest. */
#define MESSAGE_CAP 12000
#define META_CAP 1024     /* bytes of each metadata value */
#define WHY_MAX_CHARS 200 /* code points of the agent's description shown */
#define BLANK_RUN_MAX 8   /* blank characters in a row shown as they are; more: "⟨N spaces⟩" */
#define SESSION_LABEL "Allow this exact call for this session"
#define SESSION_RULE_EXPIRES (7 * 86400) /* an agent session's rule outlives no session */
/* Bytes of a hook's body read at most (max_body_bytes' own ceiling): one over max_body_bytes is
 * still read, to answer a deny in its event's shape. */
#define HOOKS_BODY_READ_MAX 1048576
#define ABANDON_RETRY_MS 1000      /* a cancel the database did not take is tried again this soon */
#define ABANDON_WARN_EVERY_MS 5000 /* and warned about at most this often */

static const char *agent_label(enum hooks_agent a)
{
    switch (a) {
    case HOOKS_CLAUDE_CODE:
    case HOOKS_CLAUDE_MCP:
        return "Claude Code";
    case HOOKS_CODEX:
        return "Codex";
    case HOOKS_GEMINI:
        return "Gemini CLI";
    }
    return "An agent";
}

static const char *agent_client(enum hooks_agent a)
{
    switch (a) {
    case HOOKS_CLAUDE_CODE:
        return "claude-code";
    case HOOKS_CLAUDE_MCP:
        return "claude-code-mcp";
    case HOOKS_CODEX:
        return "codex";
    case HOOKS_GEMINI:
        return "gemini-cli";
    }
    return "agent";
}

/* ---------------------------------------------------------------- parsing */

/*
 * An optional string field: an id (validate_id_text) when `id`, else at
 * most `max` bytes; *out NULL when absent or null.
 */
static int opt_string(json_t *body, const char *field, size_t max, bool id, const char **out,
                      struct lg_error *err)
{
    json_t *v = json_object_get(body, field);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return lg_fail(err, 400, "invalid_field", "%s must be a string", field);
    if (id && validate_id_text(json_string_value(v), field, "field", err) < 0)
        return -1;
    if (!id && json_string_length(v) > max)
        return lg_fail(err, 400, "invalid_field", "%s must be at most %zu bytes", field, max);
    *out = json_string_value(v);
    return 0;
}

static bool tool_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > TOOL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* The event an agent's body must name: NULL when the agent sends none. */
static int check_event(enum hooks_agent agent, json_t *body, struct hooks_call *hc,
                       struct lg_error *err)
{
    json_t *v = json_object_get(body, "hook_event_name");
    const char *e = json_string_value(v);

    if (agent == HOOKS_CLAUDE_MCP)
        return 0;
    if (agent == HOOKS_CLAUDE_CODE) {
        if (!v)
            return lg_fail(err, 400, "missing_field",
                           "hook_event_name is required: PermissionRequest or PreToolUse");
        if (e && !strcmp(e, "PreToolUse"))
            hc->pre_tool_use = true;
        else if (!e || strcmp(e, "PermissionRequest"))
            return lg_fail(err, 400, "invalid_field",
                           "hook_event_name must be PermissionRequest or PreToolUse (configure "
                           "this hook for those events only)");
        return 0;
    }
    if (v && (!e || strcmp(e, agent == HOOKS_CODEX ? "PermissionRequest" : "BeforeTool")))
        return lg_fail(err, 400, "invalid_field", "hook_event_name must be %s",
                       agent == HOOKS_CODEX ? "PermissionRequest" : "BeforeTool");
    return 0;
}

int hooks_parse(enum hooks_agent agent, json_t *body, struct hooks_call *hc, struct lg_error *err)
{
    bool mcp = agent == HOOKS_CLAUDE_MCP;
    const char *input_field = mcp ? "input" : "tool_input";
    const char *dummy;
    json_t *v;
    char *dump;
    size_t n;

    memset(hc, 0, sizeof(*hc));
    hc->agent = agent;
    if (check_event(agent, body, hc, err) < 0)
        return -1;
    v = json_object_get(body, "tool_name");
    if (!v)
        return lg_fail(err, 400, "missing_field", "tool_name is required");
    if (!json_is_string(v) || !tool_name_ok(json_string_value(v)))
        return lg_fail(err, 400, "invalid_field",
                       "tool_name must be 1-%d printable ASCII characters without spaces",
                       TOOL_NAME_MAX);
    hc->tool = json_string_value(v);
    hc->input = json_object_get(body, input_field);
    if (!hc->input)
        return lg_fail(err, 400, "missing_field", "%s is required", input_field);
    if (!json_is_object(hc->input))
        return lg_fail(err, 400, "invalid_field", "%s must be an object", input_field);
    dump = json_dumps(hc->input, JSON_COMPACT);
    n = dump ? strlen(dump) : INPUT_MAX_BYTES + 1;
    free(dump);
    if (n > INPUT_MAX_BYTES)
        return lg_fail(err, 400, "invalid_field", "%s must be at most %d bytes as JSON",
                       input_field, INPUT_MAX_BYTES);
    if (mcp)
        return opt_string(body, "tool_use_id", ID_MAX_BYTES, false, &dummy, err);
    if (opt_string(body, "session_id", ID_MAX_BYTES, true, &hc->agent_session, err) < 0 ||
        opt_string(body, "cwd", CWD_MAX, false, &hc->cwd, err) < 0)
        return -1;
    v = json_object_get(body, "permission_suggestions");
    if (agent == HOOKS_CLAUDE_CODE && v && !json_is_null(v)) {
        size_t i;
        json_t *s;

        if (!json_is_array(v) || json_array_size(v) > SUGGESTIONS_MAX)
            return lg_fail(err, 400, "invalid_field",
                           "permission_suggestions must be an array of at most %d objects",
                           SUGGESTIONS_MAX);
        json_array_foreach(v, i, s)
        {
            if (!json_is_object(s))
                return lg_fail(err, 400, "invalid_field",
                               "permission_suggestions[%zu] must be an object", i);
        }
        if (json_array_size(v) > 0)
            hc->suggestions = v;
    }
    return 0;
}

/* ---------------------------------------------------------------- the request */

static const char *input_str(const struct hooks_call *hc, const char *key)
{
    return json_string_value(json_object_get(hc->input, key));
}

/* Each line of `s` prefixed with `mark` (a diff's side). */
static void diff_lines(struct sbuf *b, const char *mark, const char *s)
{
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);

        sb_puts(b, mark);
        sb_append(b, s, n);
        sb_puts(b, "\n");
        s += n + (nl ? 1 : 0);
    }
}

/* Whether `s` holds an ASCII control character (so it would not stay on one line). */
static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* `s` on one line: as it is, or as a JSON string when it holds a control character. */
static void one_line(struct sbuf *b, const char *s)
{
    json_t *j;
    char *d;

    if (!has_control(s)) {
        sb_puts(b, s);
        return;
    }
    j = json_string(s);
    d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    sb_puts(b, d ? d : "\"?\"");
    free(d);
    json_decref(j);
}

/*
 * The agent's description on one line after everything else: control
 * characters become spaces, at most WHY_MAX_CHARS code points (then "…").
 */
static void why_line(struct sbuf *b, const char *why)
{
    size_t chars = 0;

    if (!why || !*why)
        return;
    sb_puts(b, "Why: ");
    for (const unsigned char *p = (const unsigned char *)why; *p;) {
        size_t n = 1;

        if (*p >= 0xc0)
            while ((p[n] & 0xc0) == 0x80)
                n++;
        if (chars++ == WHY_MAX_CHARS) {
            sb_puts(b, "\xE2\x80\xA6");
            break;
        }
        if (*p < 0x20 || *p == 0x7f)
            sb_puts(b, " ");
        else
            sb_append(b, (const char *)p, n);
        p += n;
    }
    sb_puts(b, "\n");
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool listed_key(const char *const *keys, const char *k)
{
    for (; *keys; keys++)
        if (!strcmp(*keys, k))
            return true;
    return false;
}

/*
 * Every field of the input not in `shown` (NULL-terminated), one line each
 * in key order: the key and its value as JSON (the key quoted, so that it
 * cannot draw a line of its own such as "$ ..." or "cwd: ...").
 */
static void other_fields(struct sbuf *b, json_t *input, const char *const *shown)
{
    size_t n = 0, i = 0;
    const char **keys, *k;
    json_t *v;

    json_object_foreach(input, k, v)
    {
        if (!listed_key(shown, k))
            n++;
    }
    if (!n)
        return;
    keys = xmalloc(n * sizeof(*keys));
    json_object_foreach(input, k, v)
    {
        if (!listed_key(shown, k))
            keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), key_cmp);
    for (i = 0; i < n; i++) {
        char *d = json_dumps(json_object_get(input, keys[i]), JSON_ENCODE_ANY | JSON_COMPACT);
        json_t *key = json_string(keys[i]);
        char *q = key ? json_dumps(key, JSON_ENCODE_ANY) : NULL;

        sb_puts(b, q ? q : "\"?\"");
        free(q);
        json_decref(key);
        sb_puts(b, ": ");
        sb_puts(b, d ? d : "?");
        sb_puts(b, "\n");
        free(d);
    }
    free(keys);
}

/* Whether `e` is one edit: {old_string, new_string, replace_all?} and nothing else. */
static bool edit_ok(json_t *e)
{
    const char *k;
    json_t *v;

    if (!json_is_object(e) || !json_is_string(json_object_get(e, "old_string")) ||
        !json_is_string(json_object_get(e, "new_string")))
        return false;
    json_object_foreach(e, k, v)
    {
        if (strcmp(k, "old_string") && strcmp(k, "new_string") &&
            (strcmp(k, "replace_all") || !json_is_boolean(v)))
            return false;
    }
    return true;
}

/* One edit as a diff, headed by its number of `n` and whether it replaces every occurrence. */
static void edit_diff(struct sbuf *b, json_t *e, size_t i, size_t n)
{
    bool every = json_is_true(json_object_get(e, "replace_all"));

    if (n > 1)
        sb_printf(b, "Edit %zu of %zu%s:\n", i + 1, n, every ? " (every occurrence)" : "");
    else if (every)
        sb_puts(b, "Replace every occurrence:\n");
    diff_lines(b, "- ", json_string_value(json_object_get(e, "old_string")));
    diff_lines(b, "+ ", json_string_value(json_object_get(e, "new_string")));
}

/* Whether `edits` is a non-empty array of edits (edit_ok). */
static bool edits_ok(json_t *edits)
{
    size_t i;
    json_t *e;

    if (!json_is_array(edits) || !json_array_size(edits))
        return false;
    json_array_foreach(edits, i, e)
    {
        if (!edit_ok(e))
            return false;
    }
    return true;
}

/*
 * A file tool's input: the path, then a diff per edit (Edit's own fields,
 * MultiEdit's `edits`) or the new content, then every other field.
 */
static void render_file(struct sbuf *b, const struct hooks_call *hc, const char *key)
{
    const char *path = input_str(hc, key);
    const char *shown[8];
    json_t *edits = json_object_get(hc->input, "edits");
    const char *content = input_str(hc, "content");
    int n = 0;

    shown[n++] = key;
    shown[n++] = "description";
    sb_puts(b, "File: ");
    one_line(b, path);
    sb_puts(b, "\n");
    if (json_is_string(json_object_get(hc->input, "old_string")) &&
        json_is_string(json_object_get(hc->input, "new_string"))) {
        edit_diff(b, hc->input, 0, 1);
        shown[n++] = "old_string";
        shown[n++] = "new_string";
        if (json_is_boolean(json_object_get(hc->input, "replace_all")))
            shown[n++] = "replace_all";
    }
    if (edits_ok(edits)) {
        size_t i, count = json_array_size(edits);
        json_t *e;

        json_array_foreach(edits, i, e)
        {
            edit_diff(b, e, i, count);
        }
        shown[n++] = "edits";
    }
    if (content) {
        sb_puts(b, "New content:\n");
        diff_lines(b, "+ ", content);
        shown[n++] = "content";
    }
    shown[n] = NULL;
    other_fields(b, hc->input, shown);
}

/*
 * The field a file tool's headline names: NotebookEdit's notebook_path
 * (the notebook it edits), else file_path; NULL when the input has no
 * such string field.
 */
static const char *path_field(const struct hooks_call *hc)
{
    if (!strcmp(hc->tool, "NotebookEdit") && input_str(hc, "notebook_path"))
        return "notebook_path";
    return input_str(hc, "file_path") ? "file_path" : NULL;
}

/* The length of the blank character at `p` (a space, a tab, a Unicode space), or 0. */
static size_t blank_at(const unsigned char *p)
{
    if (*p == ' ' || *p == '\t')
        return 1;
    if (p[0] == 0xC2 && p[1] == 0xA0) /* U+00A0 */
        return 2;
    if ((p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80) ||                   /* U+1680 */
        (p[0] == 0xE2 && p[1] == 0x80 && (p[2] <= 0x8A || p[2] == 0xAF)) || /* U+2000-200A, 202F */
        (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F) ||                   /* U+205F */
        (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80))                     /* U+3000 */
        return 3;
    return 0;
}

/* The code point of a line-breaking or control character at `p` to show as ⟨U+XXXX⟩, or -1. */
static long shown_control(const unsigned char *p, size_t *len)
{
    *len = 1;
    if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
        return *p;
    *len = 2;
    if (p[0] == 0xC2 && p[1] == 0x85) /* NEL */
        return 0x85;
    *len = 3;
    if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) /* LS, PS */
        return 0x2000 + (p[2] - 0x80);
    return -1;
}

/*
 * `s` with nothing that hides what follows it: a run of more than
 * BLANK_RUN_MAX blank characters inside a line (one at its start is the
 * JSON's own indentation) becomes "⟨N spaces⟩", and a carriage return, a
 * NEL, a line or paragraph separator or another control but the line
 * break and the tab becomes "⟨U+XXXX⟩": a long blank run would push the
 * rest of a command out of sight, and those characters would show as a
 * space or a line break that is not there.
 */
static void mark_hidden(struct sbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    bool line_start = true;

    while (*p) {
        size_t n, len, run = 0, bytes = 0;
        long cp = shown_control(p, &len);

        if (cp >= 0) {
            sb_printf(b, "\xE2\x9F\xA8U+%04lX\xE2\x9F\xA9", (unsigned long)cp);
            p += len;
            line_start = false;
            continue;
        }
        while ((n = blank_at(p + bytes)) > 0) {
            bytes += n;
            run++;
        }
        if (run > BLANK_RUN_MAX && !line_start) {
            sb_printf(b, "\xE2\x9F\xA8%zu spaces\xE2\x9F\xA9", run);
            p += bytes;
        } else if (run) {
            sb_append(b, (const char *)p, bytes);
            p += bytes;
        } else {
            line_start = *p == '\n';
            sb_append(b, (const char *)p, 1);
            p++;
            continue;
        }
        line_start = false;
    }
}

/*
 * The call as a person reads it on a phone, cut to MESSAGE_CAP bytes (new
 * string). Everything the agent wrote is either marked line by line (the
 * command's lines begin "$ " then "> ", a diff's "- " and "+ "), or on one
 * line (the path, each other field as JSON, the description last), so it
 * cannot draw a line that looks like a request of its own.
 */
static char *render(const struct hooks_call *hc)
{
    static const char *const shell_shown[] = {"command", "description", NULL};
    const char *cmd = input_str(hc, "command"), *path = path_field(hc);
    struct sbuf b = {0}, shown = {0};
    size_t keep;
    char *out;

    sb_printf(&b, "%s wants to use %s\n", agent_label(hc->agent), hc->tool);
    if (cmd && policy_is_shell_tool(hc->tool)) {
        sb_puts(&b, "$ ");
        for (const char *s = cmd;;) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);

            sb_append(&b, s, n);
            sb_puts(&b, "\n");
            if (!nl)
                break;
            s = nl + 1;
            sb_puts(&b, "> ");
        }
        other_fields(&b, hc->input, shell_shown);
        why_line(&b, input_str(hc, "description"));
    } else if (path) {
        render_file(&b, hc, path);
        why_line(&b, input_str(hc, "description"));
    } else {
        /* the whole input: JSON keeps every string on one line */
        char *j = json_dumps(hc->input, JSON_INDENT(1) | JSON_SORT_KEYS);
        sb_puts(&b, j ? j : "{}");
        sb_puts(&b, "\n");
        free(j);
    }
    mark_hidden(&shown, b.p ? b.p : "");
    sb_free(&b);
    b = shown;
    keep = utf8_cut(b.p, b.len, MESSAGE_CAP);
    if (keep < b.len) {
        out = xmalloc(keep + sizeof(HOOKS_CUT_MARK));
        memcpy(out, b.p, keep);
        memcpy(out + keep, HOOKS_CUT_MARK, sizeof(HOOKS_CUT_MARK));
    } else {
        out = xstrdup(b.p);
    }
    sb_free(&b);
    return out;
}

static json_t *meta_value(const char *s)
{
    size_t n = strlen(s), keep = utf8_cut(s, n, META_CAP);

    return json_stringn(s, keep);
}

/*
 * The params a person may edit and their schema, for the tools whose input
 * Loopgate knows; NULL for other tools, for agents that take no edited
 * input, and when the params would be too large.
 */
static json_t *edit_params(const struct hooks_call *hc, json_t **schema)
{
    static const char *const bash[] = {"command", NULL};
    static const char *const write[] = {"file_path", "content", NULL};
    static const char *const edit[] = {"file_path", "old_string", "new_string", NULL};
    const char *const *keys = NULL;
    json_t *p, *props, *req;
    char *dump;
    size_t n;

    *schema = NULL;
    if (hc->agent != HOOKS_CLAUDE_CODE && hc->agent != HOOKS_CLAUDE_MCP)
        return NULL;
    if (!strcmp(hc->tool, "Bash"))
        keys = bash;
    else if (!strcmp(hc->tool, "Write"))
        keys = write;
    else if (!strcmp(hc->tool, "Edit"))
        keys = edit;
    else
        return NULL;
    p = json_object();
    props = json_object();
    req = json_array();
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(hc->input, keys[i]);
        if (!json_is_string(v)) {
            json_decref(p);
            json_decref(props);
            json_decref(req);
            return NULL;
        }
        json_object_set(p, keys[i], v);
        json_object_set_new(props, keys[i], json_pack("{s:s}", "type", "string"));
        json_array_append_new(req, json_string(keys[i]));
    }
    dump = json_dumps(p, JSON_COMPACT);
    n = dump ? strlen(dump) : PARAMS_MAX_BYTES + 1;
    free(dump);
    if (n > PARAMS_MAX_BYTES) {
        json_decref(p);
        json_decref(props);
        json_decref(req);
        return NULL;
    }
    *schema = json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props, "required",
                        req, "additionalProperties", 0);
    return p;
}

/* Whether every field of the input but the `ok` ones (NULL-terminated) and "description" is absent.
 */
static bool only_fields(json_t *input, const char *const *ok)
{
    const char *k;
    json_t *v;

    json_object_foreach(input, k, v)
    {
        if (strcmp(k, "description") && !listed_key(ok, k))
            return false;
    }
    return true;
}

/*
 * Whether a key names a path or a file: a tool that takes one may write
 * there, and its rule would be the path (policy_text), not the call.
 */
static bool path_key(const char *k)
{
    static const char *const parts[] = {"path", "file", "dir", "folder", "cwd", NULL};
    char low[TOOL_NAME_MAX + 1];
    size_t i;

    for (i = 0; i < TOOL_NAME_MAX && k[i]; i++)
        low[i] = (char)((k[i] >= 'A' && k[i] <= 'Z') ? k[i] + 32 : k[i]);
    low[i] = '\0';
    if (k[i])
        return true; /* a key that long is no plain field name */
    for (i = 0; parts[i]; i++)
        if (strstr(low, parts[i]))
            return true;
    return false;
}

/* Whether `v` holds, at any depth, a key that names a path (path_key). */
static bool has_path_key(json_t *v, int depth)
{
    const char *k;
    json_t *e;
    size_t i;

    if (depth > LG_JSON_DEPTH_MAX)
        return true;
    if (json_is_object(v)) {
        json_object_foreach(v, k, e)
        {
            if (path_key(k) || has_path_key(e, depth + 1))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (has_path_key(e, depth + 1))
                return true;
        }
    }
    return false;
}

/*
 * Whether the session rule (policy_text's exact text) would let through
 * only the call the person saw: a shell tool's command with no other field
 * but its description and timeout; another tool's whole input, when no
 * field names a path or a file (path_key, at any depth) and the tool is no
 * file tool. A tool that takes a path may write there, and a rule on a
 * path would allow any later content: such a call is never offered the
 * session button, whatever its name or fields.
 */
static bool session_rule_exact(const struct hooks_call *hc)
{
    static const char *const shell_ok[] = {"command", "timeout", NULL};
    char *text, *whole;
    bool exact;

    if (policy_is_shell_tool(hc->tool) && input_str(hc, "command"))
        return only_fields(hc->input, shell_ok);
    if (policy_is_file_tool(hc->tool) || has_path_key(hc->input, 0))
        return false;
    text = policy_text(hc->tool, hc->input);
    whole = json_dumps(hc->input, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    exact = text && whole && !strcmp(text, whole);
    free(text);
    free(whole);
    return exact;
}

/*
 * Whether "Allow this exact call for this session" is offered for `hc`:
 * only for a call that names its agent session (a rule for any session
 * would be too broad) and whose session rule lets through only this call
 * (session_rule_exact); by Claude Code when it suggested permissions,
 * always by Codex and Gemini CLI.
 */
static bool offers_session(const struct hooks_call *hc)
{
    if (!hc->agent_session || !session_rule_exact(hc))
        return false;
    if (hc->agent == HOOKS_CLAUDE_CODE)
        return !hc->pre_tool_use && hc->suggestions;
    return hc->agent == HOOKS_CODEX || hc->agent == HOOKS_GEMINI;
}

json_t *hooks_request_body(const struct hooks_call *hc, const char *session, int wait_s,
                           bool with_params)
{
    char *msg = render(hc);
    json_t *opts = json_pack("[{s:s, s:b}, {s:s, s:b}]", "label", "Approve", "approve", 1, "label",
                             "Deny", "approve", 0);
    json_t *meta = json_object(), *schema = NULL, *params;
    json_t *body;

    if (offers_session(hc))
        json_array_append_new(opts, json_pack("{s:s, s:b}", "label", SESSION_LABEL, "approve", 1));
    if (hc->cwd && *hc->cwd)
        json_object_set_new(meta, "cwd", meta_value(hc->cwd));
    if (hc->agent_session)
        json_object_set_new(meta, "agent_session", meta_value(hc->agent_session));
    body = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:i, s:s, s:s, s:O}", "session_id", session,
                     "client_id", agent_client(hc->agent), "message", msg, "request_type",
                     "confirmation", "options", opts, "metadata", meta, "timeout_seconds", wait_s,
                     "on_timeout", "deny", "tool", hc->tool, "tool_input", hc->input);
    free(msg);
    if (hc->agent_session)
        json_object_set_new(body, "agent_session", json_string(hc->agent_session));
    if (with_params && (params = edit_params(hc, &schema)) != NULL) {
        json_object_set_new(body, "params", params);
        json_object_set_new(body, "params_schema", schema);
    }
    return body;
}

/*
 * hooks_submit with the call's `key` (NULL: none): a call whose request with
 * that key is pending waits on it; *attach is 0 for a new request, else the
 * arrivals of the call after the first (store_request_submit).
 */
static int submit_call(const struct config *cfg, const struct actor *who,
                       const struct hooks_call *hc, const char *session, int wait_s,
                       const char *key, char id[64], int *attach, struct lg_error *err)
{
    struct submit_in in;
    json_t *body = hooks_request_body(hc, session, wait_s, true), *out = NULL;
    bool queued = false;
    int rc;

    if (!body)
        return lg_fail(err, 500, "internal", "could not build the request");
    rc = validate_submit(body, cfg->request_timeout, &in, err);
    if (rc < 0 && json_object_get(body, "params")) {
        /* params a person could not edit safely (validate.c's limits): ask without them */
        json_decref(body);
        body = hooks_request_body(hc, session, wait_s, false);
        rc = validate_submit(body, cfg->request_timeout, &in, err);
    }
    if (rc == 0 && json_object_get(body, "params") && policy_message_cut(&in)) {
        /*
         * The params (the command or text again, for /edit) would cut a
         * message that fits whole without them: ask without them, so that
         * the call can be approved in Telegram, unedited.
         */
        json_t *bare = hooks_request_body(hc, session, wait_s, false);
        struct submit_in in2;
        struct lg_error e2;

        if (bare && validate_submit(bare, cfg->request_timeout, &in2, &e2) == 0 &&
            !policy_message_cut(&in2)) {
            json_decref(body);
            body = bare;
            in = in2;
        } else {
            json_decref(bare);
        }
    }
    if (rc == 0) {
        in.hook_key = key;
        rc = store_request_submit(who, &in, NULL, NULL, cfg->max_concurrent_requests, &queued, &out,
                                  err);
    }
    if (queued)
        notify_outbox_kick_paced();
    *attach = 0;
    if (rc == 0) {
        lg_strlcpy(id, json_string_value(json_object_get(out, "request_id")), 64);
        *attach = (int)json_integer_value(json_object_get(out, "hook_attach"));
        if (json_is_true(json_object_get(out, "reattached")))
            log_info("hook call arrived again: waiting on its request",
                     "tenant=%s session=%s request=%s via=%s tool=%s arrival=%d", who->tenant,
                     session, id, agent_client(hc->agent), hc->tool, *attach + 1);
        else
            log_info("request submitted", "tenant=%s session=%s request=%s via=%s tool=%s",
                     who->tenant, session, id, agent_client(hc->agent), hc->tool);
    }
    json_decref(out);
    json_decref(body);
    return rc;
}

int hooks_submit(const struct config *cfg, const struct actor *who, const struct hooks_call *hc,
                 const char *session, int wait_s, char id[64], struct lg_error *err)
{
    int attach;

    return submit_call(cfg, who, hc, session, wait_s, NULL, id, &attach, err);
}

void hooks_call_key(enum hooks_agent agent, const char *session, json_t *body, char out[65])
{
    struct sbuf b = {0};
    char *canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

    sb_printf(&b, "loopgate-hook-1\n%s\n%s\n", agent_client(agent), session);
    sb_puts(&b, canon ? canon : "");
    sha256_hex(b.p, b.len, out);
    free(canon);
    sb_free(&b);
}

/* Whether `err` says the database is away or swamped for now (db.h): a try later may succeed. */
static bool database_away(const struct lg_error *err)
{
    return !strcmp(err->code, "database_unavailable") || !strcmp(err->code, "database_busy");
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

/*
 * Cancel request `id` of a hook call whose caller has gone: any pending
 * request (`attach` < 0), or only while `attach` is still its arrival count
 * (store_request_abandon). A request left pending would take an answer for
 * a call nobody runs, so while the database is away the cancel is tried
 * again every ABANDON_RETRY_MS (warned at the first failure and every
 * ABANDON_WARN_EVERY_MS), up to `until_ms` (now_ms clock: the call's own
 * end, when the request times out by itself). It ends once the request is
 * canceled or no longer pending.
 */
static void abandon(const struct actor *who, const char *id, int attach, int64_t until_ms)
{
    struct lg_error err;
    int64_t t0 = now_ms(), warned = 0;
    json_t *gone = NULL;
    int rc;

    for (;;) {
        rc = attach < 0 ? store_request_cancel(who, id, METRICS_CH_HOOK, &gone, &err)
                        : store_request_abandon(who, id, attach, &gone, &err);
        json_decref(gone);
        gone = NULL;
        if (rc == 0 || !database_away(&err) || now_ms() + ABANDON_RETRY_MS > until_ms)
            break;
        if (!warned || now_ms() - warned >= ABANDON_WARN_EVERY_MS) {
            log_warn("hook call abandoned: its request could not be canceled; retrying",
                     "tenant=%s request=%s error=%s retried_s=%lld", who->tenant, id, err.code,
                     (long long)((now_ms() - t0) / 1000));
            warned = now_ms();
        }
        sleep_ms(ABANDON_RETRY_MS);
    }
    if (rc == 0) {
        notify_outbox_kick(); /* its message says so */
        if (warned)
            log_info("hook call abandoned: its request canceled once the database was back",
                     "tenant=%s request=%s retried_s=%lld", who->tenant, id,
                     (long long)((now_ms() - t0) / 1000));
    } else if (!strcmp(err.code, "taken_over")) {
        log_info("hook call left to its later arrival", "tenant=%s request=%s", who->tenant, id);
    } else if (!strcmp(err.code, "request_not_pending") || err.status == 404) {
        if (warned)
            log_info("hook call abandoned: its request ended meanwhile", "tenant=%s request=%s",
                     who->tenant, id);
    } else {
        log_warn("hook call abandoned: its request could not be canceled; left to its timeout",
                 "tenant=%s request=%s error=%s retried_s=%lld", who->tenant, id, err.code,
                 (long long)((now_ms() - t0) / 1000));
    }
}

void hooks_abandon(const struct actor *who, const char *id, int64_t until_ms)
{
    abandon(who, id, -1, until_ms);
}

/* ---------------------------------------------------------------- the verdict */

/*
 * The rule behind "Allow for this session": the same tool with exactly the
 * same input (policy_text), in this Loopgate session, for this agent
 * session. Whether it was added; the call itself is allowed either way.
 */
static bool allow_session(const struct actor *who, const struct hooks_call *hc, const char *session,
                          json_t *poll)
{
    struct lg_error err;
    char *text = policy_text(hc->tool, hc->input), *re = NULL, by[200], person[96];
    json_t *responder = json_object_get(poll, "responder");
    json_int_t tg = json_integer_value(json_object_get(responder, "id"));
    const char *name = json_string_value(json_object_get(responder, "name"));
    const char *rid = json_string_value(json_object_get(poll, "request_id"));
    int64_t rule = 0;
    int rc = -1;

    /* who, as a vote names them: a Telegram user by id (a display name is its owner's choice) */
    if (tg > 0)
        lg_snprintf(person, sizeof(person), "telegram:%lld", (long long)tg);
    else
        utf8_strlcpy(person, name && *name ? name : "a person", 64);
    lg_snprintf(by, sizeof(by), "%s (Allow this exact call for this session, request %.40s)",
                person, rid ? rid : "?");
    if (text && (re = policy_exact_regex(text, &err)) != NULL)
        rc = policy_allow_for_session(who->tenant, session, hc->agent_session, hc->tool, re,
                                      SESSION_RULE_EXPIRES, by, &rule, &err);
    if (rc == 0)
        log_info("session rule added", "tenant=%s session=%s rule=%lld tool=%s", who->tenant,
                 session, (long long)rule, hc->tool);
    else if (text)
        log_warn("session rule not added", "tenant=%s session=%s tool=%s error=\"%s\"", who->tenant,
                 session, hc->tool, err.message);
    free(text);
    free(re);
    return rc == 0;
}

void hooks_decide(const struct actor *who, const struct hooks_call *hc, const char *session,
                  json_t *poll, int wait_s, struct hooks_verdict *v)
{
    const char *status = json_string_value(json_object_get(poll, "status"));
    const char *reason = json_string_value(json_object_get(poll, "reason"));
    const char *response = json_string_value(json_object_get(poll, "response"));
    const char *name =
        json_string_value(json_object_get(json_object_get(poll, "responder"), "name"));

    memset(v, 0, sizeof(*v));
    if (!poll || !json_is_true(json_object_get(poll, "completed")) ||
        (status && !strcmp(status, "timeout"))) {
        snprintf(v->reason, sizeof(v->reason), "No one approved this in %d s (Loopgate)", wait_s);
        return;
    }
    if (status && !strcmp(status, "canceled")) {
        lg_strlcpy(v->reason, "The request was canceled in Loopgate", sizeof(v->reason));
        return;
    }
    v->allow = json_is_true(json_object_get(poll, "approved"));
    if (reason && *reason)
        utf8_strlcpy(v->reason, reason, sizeof(v->reason));
    else
        snprintf(v->reason, sizeof(v->reason), "%s by %s (Loopgate)",
                 v->allow ? "Approved" : "Denied", name && *name ? name : "a person");
    if (!v->allow)
        return;
    /* The person's choice stands even if the rule could not be added (logged). */
    if (response && !strcmp(response, SESSION_LABEL) && offers_session(hc)) {
        v->for_session = true;
        (void)allow_session(who, hc, session, poll);
    }
    if (json_is_true(json_object_get(poll, "edited")) &&
        json_is_object(json_object_get(poll, "params"))) {
        v->updated_input = json_deep_copy(hc->input);
        json_object_update(v->updated_input, json_object_get(poll, "params"));
    }
}

void hooks_verdict_free(struct hooks_verdict *v)
{
    json_decref(v->updated_input);
    v->updated_input = NULL;
}

/*
 * Whether Claude Code's suggestion `sug` grants exactly this call: an
 * allow rule (addRules) for this shell tool whose content is the very
 * command, with no wildcard Claude Code would read in it. Anything else
 * (setMode, addDirectories, a prefix rule such as "npm test:*", a rule
 * without content, which covers the whole tool) grants more than the
 * person saw.
 */
static bool suggestion_exact(const struct hooks_call *hc, json_t *sug)
{
    const char *type = json_string_value(json_object_get(sug, "type"));
    const char *beh = json_string_value(json_object_get(sug, "behavior"));
    const char *cmd = input_str(hc, "command");
    json_t *rules = json_object_get(sug, "rules"), *r;
    size_t i;

    if (!type || strcmp(type, "addRules") || !beh || strcmp(beh, "allow") || !cmd ||
        strchr(cmd, '*') || !policy_is_shell_tool(hc->tool) || !json_is_array(rules) ||
        !json_array_size(rules))
        return false;
    json_array_foreach(rules, i, r)
    {
        const char *tool = json_string_value(json_object_get(r, "toolName"));
        const char *content = json_string_value(json_object_get(r, "ruleContent"));

        if (!tool || strcmp(tool, hc->tool) || !content || strcmp(content, cmd))
            return false;
    }
    return true;
}

/*
 * The session permission handed back to Claude Code: one rule allowing
 * this very command, built by Loopgate, when Claude Code suggested exactly
 * that (suggestion_exact); NULL otherwise (Loopgate's own session rule
 * still lets the same call through).
 */
static json_t *session_permissions(const struct hooks_call *hc)
{
    json_t *s;
    size_t i;

    json_array_foreach(hc->suggestions, i, s)
    {
        if (suggestion_exact(hc, s))
            return json_pack("[{s:s, s:[{s:s, s:s}], s:s, s:s}]", "type", "addRules", "rules",
                             "toolName", hc->tool, "ruleContent", input_str(hc, "command"),
                             "behavior", "allow", "destination", "session");
    }
    return NULL;
}

json_t *hooks_answer(const struct hooks_call *hc, const struct hooks_verdict *v)
{
    json_t *d;

    switch (hc->agent) {
    case HOOKS_CLAUDE_MCP:
        if (!v->allow)
            return json_pack("{s:s, s:s}", "behavior", "deny", "message", v->reason);
        return json_pack("{s:s, s:O}", "behavior", "allow", "updatedInput",
                         v->updated_input ? v->updated_input : hc->input);
    case HOOKS_GEMINI:
        return json_pack("{s:s, s:s}", "decision", v->allow ? "allow" : "deny", "reason",
                         v->reason);
    case HOOKS_CODEX:
        d = v->allow ? json_pack("{s:s}", "behavior", "allow")
                     : json_pack("{s:s, s:s}", "behavior", "deny", "message", v->reason);
        return json_pack("{s:{s:s, s:o}}", "hookSpecificOutput", "hookEventName",
                         "PermissionRequest", "decision", d);
    case HOOKS_CLAUDE_CODE:
        break;
    }
    if (hc->pre_tool_use) {
        d = json_pack("{s:s, s:s, s:s}", "hookEventName", "PreToolUse", "permissionDecision",
                      v->allow ? "allow" : "deny", "permissionDecisionReason", v->reason);
        if (v->allow && v->updated_input)
            json_object_set(d, "updatedInput", v->updated_input);
        return json_pack("{s:o}", "hookSpecificOutput", d);
    }
    if (!v->allow)
        d = json_pack("{s:s, s:s, s:b}", "behavior", "deny", "message", v->reason, "interrupt", 0);
    else {
        d = json_pack("{s:s}", "behavior", "allow");
        if (v->updated_input)
            json_object_set(d, "updatedInput", v->updated_input);
        json_t *perms = v->for_session ? session_permissions(hc) : NULL;
        if (perms)
            json_object_set_new(d, "updatedPermissions", perms);
    }
    return json_pack("{s:{s:s, s:o}}", "hookSpecificOutput", "hookEventName", "PermissionRequest",
                     "decision", d);
}

/* ---------------------------------------------------------------- HTTP */

int hooks_call_session(struct http_req *r, enum hooks_agent agent, const char **session,
                       struct lg_error *err)
{
    const char *h = http_param(r, "HTTP_X_LOOPGATE_SESSION");

    if (h) {
        *session = h;
        return validate_id_text(h, "X-Loopgate-Session", "header", err);
    }
    if (r->cfg->hooks_default_session && *r->cfg->hooks_default_session) {
        *session = r->cfg->hooks_default_session;
        return 0;
    }
    if (agent == HOOKS_CLAUDE_MCP) {
        *session = r->cfg->mcp_default_session;
        return 0;
    }
    return lg_fail(err, 400, "missing_header",
                   "X-Loopgate-Session header is required (the Loopgate session to ask in; or set "
                   "hooks_default_session)");
}

int hooks_call_wait(struct http_req *r, enum hooks_agent agent, struct lg_error *err)
{
    const char *h = http_param(r, "HTTP_X_LOOPGATE_WAIT");
    int max = r->cfg->hooks_wait_max > 0 ? r->cfg->hooks_wait_max : HOOKS_WAIT_MAX_DEFAULT;
    int64_t s;

    if (!h)
        s = agent == HOOKS_GEMINI  ? HOOKS_WAIT_GEMINI
            : agent == HOOKS_CODEX ? HOOKS_WAIT_CODEX
                                   : HOOKS_WAIT_CLAUDE;
    else if (parse_int64(h, &s) < 0 || s < 1)
        return lg_fail(err, 400, "invalid_header",
                       "X-Loopgate-Wait must be a whole number of seconds, 1 or more (at most "
                       "hooks_wait_max, %d, is waited)",
                       max);
    return s > max ? max : (int)s;
}

/*
 * Wait up to `total` seconds for request `id` in slices of HOOKS_WAIT_SLICE
 * seconds, checking between them that the caller is still there. When it
 * has gone, -1 with a 499 (the caller cancels the request: nobody is left
 * to read a decision); when this worker is stopping, -1 with a 503
 * shutting_down (the request stays pending for the call's next arrival).
 */
static int wait_for_person(struct http_req *r, const char *id, int total, json_t **out,
                           struct lg_error *err)
{
    json_t *poll = NULL;
    int done = 0, rc;

    for (;;) {
        int slice = total - done > HOOKS_WAIT_SLICE ? HOOKS_WAIT_SLICE : total - done;
        rc = wait_poll(r->cfg, &r->who, id, slice, &poll, err);
        /*
         * The database away for the slice (a restart, a fail-over): the
         * request is still there, and ending the call now would deny it while
         * a person could still answer. Wait on, to the call's own end.
         */
        if (rc < 0 &&
            (!strcmp(err->code, "database_unavailable") || !strcmp(err->code, "database_busy"))) {
            if (done + slice < total)
                log_info("hook wait: database unavailable; waiting on",
                         "tenant=%s request=%s waited_s=%d", r->who.tenant, id, done + slice);
            else
                break;
        } else if (rc < 0) {
            break;
        }
        done += slice;
        if (rc == 0 && json_is_true(json_object_get(poll, "completed")))
            break;
        if (notify_stopping()) {
            /* The request stays pending: the call, sent again, waits on it elsewhere. */
            log_info("hook wait ended: this host is stopping", "tenant=%s request=%s waited_s=%d",
                     r->who.tenant, id, done);
            rc = lg_fail(err, 503, "shutting_down",
                         "this Loopgate host is stopping; send the call again (another host "
                         "waits on the same request)");
            break;
        }
        if (done >= total)
            break;
        json_decref(poll);
        poll = NULL;
        if (http_client_gone(r)) {
            log_info("hook wait ended: the client has gone", "tenant=%s request=%s waited_s=%d",
                     r->who.tenant, id, done);
            rc = lg_fail(err, 499, "client_gone", "the client closed the connection");
            break;
        }
    }
    if (rc < 0) {
        json_decref(poll);
        poll = NULL;
    }
    *out = poll;
    return rc;
}

/*
 * The deny an agent reads for a call Loopgate refused after authenticating
 * it (a malformed or oversized body, an unknown or inactive session, a
 * limit): a non-2xx answer is no decision to a hook, and Claude Code's
 * PreToolUse would then go on through its own permission mode. The event
 * of a body that could not be parsed is guessed from its text; when Claude
 * Code's event is not known (no body read, or one naming neither event),
 * the answer is the fields every event obeys: stop, with the reason shown.
 */
static json_t *refusal(struct http_req *r, enum hooks_agent agent, json_t *body,
                       const struct lg_error *err)
{
    struct hooks_verdict v;
    struct hooks_call hc;
    const char *event = json_string_value(json_object_get(body, "hook_event_name"));
    bool known = true;

    memset(&v, 0, sizeof(v));
    memset(&hc, 0, sizeof(hc));
    hc.agent = agent;
    snprintf(v.reason, sizeof(v.reason), "Loopgate refused this call (%d %s): %s", err->status,
             err->code, err->message);
    if (!utf8_valid(v.reason, strlen(v.reason)))
        lg_strlcpy(v.reason, "Loopgate refused this call", sizeof(v.reason));
    if (agent == HOOKS_CLAUDE_CODE && body)
        hc.pre_tool_use = event && !strcmp(event, "PreToolUse");
    else if (agent == HOOKS_CLAUDE_CODE) {
        hc.pre_tool_use = r->body && memmem(r->body, r->body_len, "\"PreToolUse\"", 12);
        known = hc.pre_tool_use ||
                (r->body && memmem(r->body, r->body_len, "\"PermissionRequest\"", 19));
    }
    if (!known)
        return json_pack("{s:b, s:s, s:b}", "continue", 0, "stopReason", v.reason, "suppressOutput",
                         0);
    return hooks_answer(&hc, &v);
}

/*
 * The body of a hook call, read here rather than before the handler so that
 * every refusal is a deny the agent reads: a Content-Type other than JSON,
 * or a body over max_body_bytes (read up to HOOKS_BODY_READ_MAX all the
 * same, so that the deny has the event's shape).
 */
static int read_body(struct http_req *r, struct lg_error *err)
{
    const char *ct = http_param(r, "CONTENT_TYPE");
    size_t max = (size_t)r->cfg->max_body_bytes;
    int rc = http_read_body(r, HOOKS_BODY_READ_MAX > max ? HOOKS_BODY_READ_MAX : max, err);

    if (rc < 0 && err->status == 413)
        return lg_fail(err, 413, "payload_too_large",
                       "the hook's body is over %zu bytes, the limit (max_body_bytes); the call "
                       "was not run",
                       max);
    if (rc < 0)
        return rc;
    if (!media_type_is_json(ct))
        return lg_fail(err, 415, "unsupported_media_type",
                       "Content-Type must be application/json (got '%.100s')",
                       ct && *ct ? ct : "none");
    if (r->body_len > max)
        return lg_fail(err, 413, "payload_too_large",
                       "the hook's body is %zu bytes; the limit is %zu (max_body_bytes)",
                       r->body_len, max);
    return 0;
}

static void handle(struct http_req *r, enum hooks_agent agent)
{
    struct lg_error err;
    struct hooks_call hc;
    struct hooks_verdict v;
    json_t *body = NULL, *poll = NULL, *out = NULL;
    const char *session = NULL;
    char id[64], key[65];
    int wait_s = 0, attach = 0, rc;
    int64_t until;

    rc = read_body(r, &err);
    if (rc == 0)
        rc = parse_json_object(r->body, r->body_len, &body, &err);
    if (rc == 0)
        rc = hooks_parse(agent, body, &hc, &err);
    if (rc == 0)
        rc = hooks_call_session(r, agent, &session, &err);
    if (rc == 0 && (wait_s = hooks_call_wait(r, agent, &err)) < 0)
        rc = -1;
    if (rc == 0) {
        hooks_call_key(agent, session, body, key);
        rc = submit_call(r->cfg, &r->who, &hc, session, wait_s, key, id, &attach, &err);
    }
    if (rc < 0)
        goto out;
    /* A second more than the request's own timeout, so that its expiry usually lands first. */
    until = now_ms() + (int64_t)(wait_s + 1) * 1000;
    if (wait_for_person(r, id, wait_s + 1, &poll, &err) < 0) {
        if (strcmp(err.code, "shutting_down"))
            abandon(&r->who, id, attach, until);
        rc = -1;
        goto out;
    }
    hooks_decide(&r->who, &hc, session, poll, wait_s, &v);
    out = hooks_answer(&hc, &v);
    log_info("hook answered", "tenant=%s session=%s request=%s via=%s allow=%d", r->who.tenant,
             session, id, agent_client(agent), v.allow);
    hooks_verdict_free(&v);
out:
    /* a stopping host's 503: nginx sends the call on to another host (or answers its deny) */
    if (rc < 0 && err.status != 499 && strcmp(err.code, "shutting_down")) {
        log_info("hook refused", "tenant=%s via=%s status=%d code=%s", r->who.tenant,
                 agent_client(agent), err.status, err.code);
        out = refusal(r, agent, body, &err);
        rc = 0;
    }
    if (rc < 0)
        http_send_error(r, &err);
    else
        http_send_json(r, 200, out);
    json_decref(poll);
    json_decref(body);
}

void hooks_claude_code(struct http_req *r)
{
    handle(r, HOOKS_CLAUDE_CODE);
}

void hooks_codex(struct http_req *r)
{
    handle(r, HOOKS_CODEX);
}

void hooks_gemini(struct http_req *r)
{
    handle(r, HOOKS_GEMINI);
}
