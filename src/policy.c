/*
 * policy.c - see policy.h.
 */
#include "policy.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "tgmsg.h"

const char *policy_action_name(enum policy_action a)
{
    return a == POLICY_ALLOW ? "allow" : a == POLICY_DENY ? "deny" : "ask";
}

int policy_action_parse(const char *s, enum policy_action *out)
{
    if (!s)
        return -1;
    if (!strcmp(s, "allow"))
        *out = POLICY_ALLOW;
    else if (!strcmp(s, "deny"))
        *out = POLICY_DENY;
    else if (!strcmp(s, "ask"))
        *out = POLICY_ASK;
    else
        return -1;
    return 0;
}

int policy_check_match(const char *match, struct lg_error *err)
{
    if (!match || !*match)
        return lg_fail(err, 400, "invalid_field", "match must be a non-empty POSIX regex");
    return params_pattern_check("match", match, POLICY_MATCH_MAX_BYTES, err);
}

static bool listed(const char *const *list, const char *tool)
{
    for (; *list; list++)
        if (!strcmp(*list, tool))
            return true;
    return false;
}

/* An optional integer field `name` in lo..hi, else *out stays. */
static int int_field(json_t *body, const char *name, long lo, long hi, int *out,
                     struct lg_error *err)
{
    json_t *v = json_object_get(body, name);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return lg_fail(err, 400, "invalid_field", "%s must be an integer from %ld to %ld", name, lo,
                       hi);
    *out = (int)json_integer_value(v);
    return 0;
}

int policy_parse_new(json_t *body, struct policy_new *out, struct lg_error *err)
{
    static const char *const known[] = {"session_id", "agent_session",   "tool",     "match",
                                        "action",     "expires_seconds", "position", NULL};
    const char *k;
    json_t *v;

    memset(out, 0, sizeof(*out));
    json_object_foreach(body, k, v)
    {
        if (!listed(known, k))
            return lg_fail(err, 400, "invalid_field",
                           "unknown field '%.64s'; a policy has session_id, agent_session, tool, "
                           "match, action, expires_seconds and position",
                           k);
    }
    if ((v = json_object_get(body, "session_id")) && !json_is_null(v) &&
        validate_id(body, "session_id", &out->session_id, err) < 0)
        return -1;
    if ((v = json_object_get(body, "agent_session")) && !json_is_null(v) &&
        validate_id(body, "agent_session", &out->agent_session, err) < 0)
        return -1;
    if (validate_id(body, "tool", &out->tool, err) < 0)
        return -1;
    v = json_object_get(body, "match");
    if (!v || json_is_null(v))
        return lg_fail(err, 400, "missing_field", "match is required");
    if (!json_is_string(v))
        return lg_fail(err, 400, "invalid_field", "match must be a string");
    out->match = json_string_value(v);
    if (policy_check_match(out->match, err) < 0)
        return -1;
    v = json_object_get(body, "action");
    if (!v || json_is_null(v))
        return lg_fail(err, 400, "missing_field", "action is required");
    if (policy_action_parse(json_string_value(v), &out->action) < 0)
        return lg_fail(err, 400, "invalid_field", "action must be allow, deny or ask");
    if (int_field(body, "expires_seconds", 1, POLICY_EXPIRES_MAX, &out->expires_s, err) < 0 ||
        int_field(body, "position", -POLICY_POSITION_MAX, POLICY_POSITION_MAX, &out->position,
                  err) < 0)
        return -1;
    return 0;
}

/* Tools whose input is a shell command, and tools whose input names one file. */
static const char *const SHELL_TOOLS[] = {"Bash", "run_shell_command", "shell", "exec_command",
                                          NULL};
static const char *const FILE_TOOLS[] = {"Read",       "Write",        "Edit",
                                         "MultiEdit",  "NotebookEdit", "read_file",
                                         "write_file", "replace",      NULL};

char *policy_text(const char *tool, json_t *tool_input)
{
    json_t *v;
    char *s;

    if (tool && listed(SHELL_TOOLS, tool) &&
        json_is_string(v = json_object_get(tool_input, "command")))
        return xstrdup(json_string_value(v));
    if (tool && listed(FILE_TOOLS, tool)) {
        static const char *const keys[] = {"file_path", "notebook_path", "absolute_path", "path"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (json_is_string(v = json_object_get(tool_input, keys[i])))
                return xstrdup(json_string_value(v));
    }
    if (!json_is_object(tool_input))
        return xstrdup("{}");
    s = json_dumps(tool_input, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return s ? s : xstrdup("{}");
}

char *policy_exact_regex(const char *text, struct lg_error *err)
{
    struct sbuf b = {0};

    sb_puts(&b, "^");
    for (const char *c = text; *c; c++) {
        if (strchr(".[]\\()*+?{}|^$", *c)) {
            char esc[3] = {'\\', *c, 0};
            sb_puts(&b, esc);
        } else {
            char one[2] = {*c, 0};
            sb_puts(&b, one);
        }
    }
    sb_puts(&b, "$");
    if (policy_check_match(b.p, err) < 0) {
        sb_free(&b);
        return NULL;
    }
    return b.p;
}

/* Whether compiled rule `re` matches `text` (whole: the match spans all of it). */
static bool matches(const char *re, const char *text, bool whole)
{
    regex_t rx;
    regmatch_t m[1];
    bool hit;

    if (regcomp(&rx, re, REG_EXTENDED | (whole ? 0 : REG_NOSUB)) != 0)
        return false;
    if (whole)
        hit = regexec(&rx, text, 1, m, 0) == 0 && m[0].rm_so == 0 &&
              (size_t)m[0].rm_eo == strlen(text);
    else
        hit = regexec(&rx, text, 0, NULL, 0) == 0;
    regfree(&rx);
    return hit;
}

/* Whether rule a comes before rule b (point 3). */
static bool before(const struct policy_rule *a, const struct policy_rule *b)
{
    if ((a->session_id != NULL) != (b->session_id != NULL))
        return a->session_id != NULL;
    if (a->position != b->position)
        return a->position < b->position;
    return a->id < b->id;
}

enum policy_action policy_decide(const struct policy_rule *rules, int n, const char *session_id,
                                 const char *agent_session, const char *tool, const char *text,
                                 int64_t now, int64_t *rule_id)
{
    const struct policy_rule *best = NULL;

    *rule_id = 0;
    for (int i = 0; i < n; i++) {
        const struct policy_rule *r = &rules[i];

        if (r->revoked || (r->expires_at && r->expires_at <= now) || !r->tool ||
            strcmp(r->tool, tool) != 0)
            continue;
        if (r->session_id && (!session_id || strcmp(r->session_id, session_id) != 0))
            continue;
        if (r->agent_session && (!agent_session || strcmp(r->agent_session, agent_session) != 0))
            continue;
        if (best && !before(r, best))
            continue;
        if (matches(r->match, text, r->action == POLICY_ALLOW))
            best = r;
    }
    if (!best)
        return POLICY_ASK;
    *rule_id = best->id;
    return best->action;
}

bool policy_message_cut(const struct submit_in *in)
{
    struct lg_request r;
    struct sbuf ap = {0};
    char *options = in->options ? json_dumps(in->options, JSON_COMPACT) : NULL;
    char *metadata = in->metadata ? json_dumps(in->metadata, JSON_COMPACT) : NULL;
    char *params = in->params ? json_dumps(in->params, JSON_COMPACT) : NULL;
    char *schema = in->params_schema ? json_dumps(in->params_schema, JSON_COMPACT) : NULL;
    bool cut = true;
    json_t *msg;

    if (in->options) {
        sb_puts(&ap, "{");
        for (size_t i = 0; i < json_array_size(in->options) && i < OPTIONS_MAX; i++)
            sb_puts(&ap, i ? (in->approve[i] ? ",t" : ",f") : (in->approve[i] ? "t" : "f"));
        sb_puts(&ap, "}");
    }
    memset(&r, 0, sizeof(r));
    /* As long as the real ones: the id is a UUID, the time the longest the footer shows. */
    r.id = "00000000-0000-0000-0000-000000000000";
    r.session_id = in->session_id;
    r.client_id = in->client_id;
    r.message = in->message;
    r.request_type = in->request_type;
    r.options_json = options;
    r.option_approve = ap.p;
    r.metadata_json = metadata;
    r.timeout_seconds = in->timeout_seconds;
    r.on_timeout = in->on_timeout;
    r.status = "pending";
    r.created_at = "2000-12-31T23:59:59.999999Z";
    r.expires_at = "2000-12-31T23:59:59.999999Z";
    r.tg_state = "queued";
    r.approvals_required = in->approvals_required > 0 ? in->approvals_required : 1;
    r.deny_vetoes = in->deny_vetoes;
    r.params_json = params;
    r.params_schema_json = schema;
    msg = tgmsg_request(&r, &cut);
    if (!msg)
        cut = true;
    json_decref(msg);
    free(options);
    free(metadata);
    free(params);
    free(schema);
    sb_free(&ap);
    return cut;
}
