/*
 * policy.c - see policy.h.
 */
#include "policy.h"

#include <pthread.h>
#include <regex.h>
#include <stdint.h>
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

/* Whether an unbounded repetition (*, + or {m,}) starts at c. */
static bool unbounded_at(const char *c)
{
    if (*c == '*' || *c == '+')
        return true;
    if (*c != '{')
        return false;
    for (c++; *c >= '0' && *c <= '9'; c++)
        ;
    return c[0] == ',' && c[1] == '}';
}

/*
 * Point 5's shape: balanced parentheses, and (when `nesting`) no unbounded
 * repetition of a group that itself holds an alternative or a repetition
 * ((a|aa)*, (a+)+). `match` is at most POLICY_MATCH_MAX_BYTES.
 */
static int match_shape(const char *match, bool nesting, struct lg_error *err)
{
    bool busy[POLICY_MATCH_MAX_BYTES + 2] = {false}; /* per open group: holds | or a repetition */
    int depth = 0;

    for (const char *c = match; *c;) {
        if (*c == '\\') {
            c += c[1] ? 2 : 1;
        } else if (*c == '[') {
            const char *e = params_bracket_end(c);
            c = e ? e : c + strlen(c);
        } else if (*c == '(') {
            if (depth > POLICY_MATCH_MAX_BYTES)
                return lg_fail(err, 400, "invalid_field", "match nests too deeply");
            busy[++depth] = false;
            c++;
        } else if (*c == ')') {
            if (depth == 0)
                return lg_fail(err, 400, "invalid_field",
                               "match has a ')' without its '(': write \\) for a parenthesis");
            c++;
            if (nesting && busy[depth] && unbounded_at(c))
                return lg_fail(err, 400, "invalid_field",
                               "match repeats a group that holds an alternative or a repetition "
                               "(like (a|aa)* or (a+)+), which can take very long to match: "
                               "write it without the outer repetition (e.g. [ab]* for (a|b)*)");
            if (busy[depth] || *c == '*' || *c == '+' || *c == '?' || *c == '{')
                busy[depth - 1] = true;
            depth--;
        } else {
            if (*c == '|' || *c == '*' || *c == '+' || *c == '?' || *c == '{')
                busy[depth] = true;
            c++;
        }
    }
    return 0;
}

int policy_check_match(const char *match, struct lg_error *err)
{
    if (!match || !*match)
        return lg_fail(err, 400, "invalid_field", "match must be a non-empty POSIX regex");
    if (params_pattern_check("match", match, POLICY_MATCH_MAX_BYTES, POLICY_MATCH_COST_MAX, err) <
        0)
        return -1;
    return match_shape(match, true, err);
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

/*
 * `path` with `.`, empty and `..` segments resolved lexically (point 1); a
 * `..` that would climb above the root, or above the start of a relative
 * path, stays. A trailing slash stays. malloc'd.
 */
static char *normal_path(const char *path)
{
    size_t n = strlen(path);
    char *out = xmalloc(n + 2), *o = out;
    bool abs = path[0] == '/';
    const char *c = path;

    if (abs)
        *o++ = '/';
    while (*c) {
        const char *seg = c;
        size_t len;

        while (*c && *c != '/')
            c++;
        len = (size_t)(c - seg);
        while (*c == '/')
            c++;
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            /* drop the last segment written, unless there is none or it is a ".." */
            char *start = o;
            while (start > out + abs && start[-1] != '/')
                start--;
            if (o > start && !(o - start == 2 && start[0] == '.' && start[1] == '.')) {
                o = start > out + abs ? start - 1 : start;
                continue;
            }
        }
        if (o > out + abs)
            *o++ = '/';
        memcpy(o, seg, len);
        o += len;
    }
    if (n > 1 && path[n - 1] == '/' && o > out + abs)
        *o++ = '/';
    if (o == out)
        *o++ = '.';
    *o = '\0';
    return out;
}

bool policy_is_shell_tool(const char *tool)
{
    return tool && listed(SHELL_TOOLS, tool);
}

bool policy_is_file_tool(const char *tool)
{
    return tool && listed(FILE_TOOLS, tool);
}

char *policy_text(const char *tool, json_t *tool_input)
{
    json_t *v;
    char *s;

    if (policy_is_shell_tool(tool) && json_is_string(v = json_object_get(tool_input, "command")))
        return xstrdup(json_string_value(v));
    if (policy_is_file_tool(tool)) {
        /* the path only when exactly one path field is given: else which one the tool uses is
         * not sure, and the whole input is matched (an allow rule never allows it) */
        static const char *const keys[] = {"file_path", "notebook_path", "absolute_path", "path"};
        json_t *path = NULL;
        int n = 0;

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if ((v = json_object_get(tool_input, keys[i])) != NULL && !json_is_null(v)) {
                path = v;
                n++;
            }
        if (n == 1 && json_is_string(path))
            return normal_path(json_string_value(path));
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

/*
 * Compiled rules, per process (point 5): RX_SETS sets of RX_WAYS entries,
 * a rule's set chosen by its id; in a full set the entry used longest ago
 * that no thread is matching with is replaced. An entry is a rule id, its
 * match and its anchoring; a rule whose match changed is another entry. A
 * thread matches outside the lock (glibc's regexec locks the pattern
 * itself); `refs` keeps the entry from being replaced meanwhile. When
 * every entry of the set is in use, the rule is compiled for this call only.
 */
#define RX_SETS 64 /* 256 rules: a worst-case compiled rule is about 0.22 MB */
#define RX_WAYS 4

struct rx_entry {
    int64_t id;
    bool whole;
    char *re; /* NULL: empty */
    regex_t rx;
    unsigned refs;
    uint64_t used;
};

static struct rx_entry rx_cache[RX_SETS][RX_WAYS];
static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rx_clock;

/* regcomp of rule `re` anchored (point 5); 0, or -1 when it does not compile. */
static int rx_compile(regex_t *rx, const char *re, bool whole)
{
    struct sbuf b = {0};
    int rc;

    sb_puts(&b, whole ? "^(" : "^.*(");
    sb_puts(&b, re);
    sb_puts(&b, whole ? ")$" : ")");
    rc = regcomp(rx, b.p, REG_EXTENDED | REG_NOSUB) == 0 ? 0 : -1;
    sb_free(&b);
    return rc;
}

/*
 * The compiled rule from the cache, compiled and added when missing, with
 * its entry held (*held; release with rx_release), or into `own` with
 * *held NULL when the set is busy. NULL when it does not compile.
 */
static regex_t *rx_get(int64_t id, const char *re, bool whole, regex_t *own, struct rx_entry **held)
{
    struct rx_entry *set = rx_cache[(uint64_t)id % RX_SETS], *e = NULL;
    regex_t *out = NULL;

    *held = NULL;
    pthread_mutex_lock(&rx_lock);
    for (int i = 0; i < RX_WAYS && !e; i++)
        if (set[i].re && set[i].id == id && set[i].whole == whole && !strcmp(set[i].re, re))
            e = &set[i];
    if (!e) {
        for (int i = 0; i < RX_WAYS; i++)
            if (set[i].refs == 0 && (!e || !set[i].re || (e->re && set[i].used < e->used)))
                e = &set[i];
        if (e && e->re) {
            regfree(&e->rx);
            free(e->re);
            e->re = NULL;
        }
        /* compiled under the lock: a rule is compiled once per process, not once per thread */
        if (e && rx_compile(&e->rx, re, whole) == 0) {
            e->re = xstrdup(re);
            e->id = id;
            e->whole = whole;
        } else if (e) {
            e = NULL;
            pthread_mutex_unlock(&rx_lock);
            return NULL;
        }
    }
    if (e) {
        e->refs++;
        e->used = ++rx_clock;
        *held = e;
        out = &e->rx;
    }
    pthread_mutex_unlock(&rx_lock);
    if (!out && rx_compile(own, re, whole) == 0)
        out = own;
    return out;
}

static void rx_release(struct rx_entry *e)
{
    pthread_mutex_lock(&rx_lock);
    e->refs--;
    pthread_mutex_unlock(&rx_lock);
}

/*
 * Whether rule `id`'s `re` matches `text` (point 5): 1, 0, or -1 when it
 * cannot be evaluated. The rule is anchored at the start of the text
 * (whole: at both ends; else after any prefix) and matched without
 * sub-matches, so that glibc decides it in one pass over the text.
 */
static int matches(int64_t id, const char *re, const char *text, bool whole)
{
    struct lg_error err;
    struct rx_entry *held;
    regex_t own, *rx;
    int hit;

    /* a rule stored before its checks: a lone ')' would end the group early; one costlier
     * than the budget now */
    if (strlen(re) > POLICY_MATCH_MAX_BYTES || match_shape(re, false, &err) < 0 ||
        params_pattern_bounded("match", re, POLICY_MATCH_MAX_BYTES, POLICY_MATCH_COST_MAX, &err) <
            0)
        return -1;
    rx = rx_get(id, re, whole, &own, &held);
    if (!rx)
        return -1;
    hit = regexec(rx, text, 0, NULL, 0) == 0;
    if (held)
        rx_release(held);
    else
        regfree(&own);
    return hit;
}

/* deny before ask before allow (point 3) */
static int rank(enum policy_action a)
{
    return a == POLICY_DENY ? 0 : a == POLICY_ASK ? 1 : 2;
}

/* Whether rule a comes before rule b (point 3). */
static bool before(const struct policy_rule *a, const struct policy_rule *b)
{
    if (rank(a->action) != rank(b->action))
        return rank(a->action) < rank(b->action);
    if ((a->session_id != NULL) != (b->session_id != NULL))
        return a->session_id != NULL;
    if (a->position != b->position)
        return a->position < b->position;
    return a->id < b->id;
}

bool policy_allowable(const char *tool, const char *text)
{
    if (strlen(text) > POLICY_TEXT_MAX_BYTES)
        return false;
    for (const char *c = text; *c; c++)
        if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
            return false;
    if (listed(FILE_TOOLS, tool)) {
        const char *c = text;

        if (*c != '/')
            return false;
        for (; (c = strstr(c, "..")) != NULL; c += 2)
            if (c[-1] == '/' && (c[2] == '/' || c[2] == '\0'))
                return false;
    }
    return true;
}

/* Fields of a shell tool's input an allow rule may leave unmatched (point 4): the command's
 * description and timeout; Claude Code's run_in_background and dangerouslyDisableSandbox only
 * as false, their default. */
static bool shell_input_plain(json_t *input)
{
    const char *k;
    json_t *v;

    json_object_foreach(input, k, v)
    {
        if (!strcmp(k, "command") || (!strcmp(k, "description") && json_is_string(v)) ||
            (!strcmp(k, "timeout") && json_is_number(v)) ||
            ((!strcmp(k, "run_in_background") || !strcmp(k, "dangerouslyDisableSandbox")) &&
             json_is_false(v)))
            continue;
        return false;
    }
    return true;
}

/* The fields a file tool's input may hold besides its path, which an operator's path rule allows
 * whatever they hold (point 4); NULL-terminated. */
static const char *const *file_fields(const char *tool)
{
    static const char *const read[] = {"offset", "limit", "pages", NULL};
    static const char *const write[] = {"content", NULL};
    static const char *const edit[] = {"old_string", "new_string", "replace_all",
                                       "expected_replacements", NULL};
    static const char *const multi[] = {"edits", NULL};
    static const char *const notebook[] = {"new_source", "cell_id", "cell_type", "edit_mode", NULL};
    static const char *const none[] = {NULL};

    if (!strcmp(tool, "Read") || !strcmp(tool, "read_file"))
        return read;
    if (!strcmp(tool, "Write") || !strcmp(tool, "write_file"))
        return write;
    if (!strcmp(tool, "Edit") || !strcmp(tool, "replace"))
        return edit;
    if (!strcmp(tool, "MultiEdit"))
        return multi;
    if (!strcmp(tool, "NotebookEdit"))
        return notebook;
    return none;
}

/* Whether every field of a file tool's input is its one path field, its description, or (when
 * `others`) a field of file_fields. */
static bool file_input_known(const char *tool, json_t *input, bool others)
{
    static const char *const paths[] = {"file_path", "notebook_path", "absolute_path", "path",
                                        NULL};
    const char *k;
    json_t *v;

    json_object_foreach(input, k, v)
    {
        if (listed(paths, k) || (!strcmp(k, "description") && json_is_string(v)) ||
            (others && listed(file_fields(tool), k)))
            continue;
        return false;
    }
    return true;
}

/*
 * The loop of policy_decide: `operator_ok` and `exact_ok` say whether the
 * input leaves nothing unmatched that an operator's rule, or a rule made
 * by "Allow this exact call for this session" (policy_rule.exact), would
 * have to see (point 4).
 */
static enum policy_action decide(const struct policy_rule *rules, int n, const char *session_id,
                                 const char *agent_session, const char *tool, const char *text,
                                 bool operator_ok, bool exact_ok, int64_t now, int64_t *rule_id)
{
    const struct policy_rule *best = NULL;
    bool may_allow;

    *rule_id = 0;
    may_allow = policy_allowable(tool, text) && (operator_ok || exact_ok);
    for (int i = 0; i < n; i++) {
        const struct policy_rule *r = &rules[i];
        int hit;

        if (r->revoked || (r->expires_at && r->expires_at <= now) || !r->tool ||
            strcmp(r->tool, tool) != 0)
            continue;
        if (r->session_id && (!session_id || strcmp(r->session_id, session_id) != 0))
            continue;
        if (r->agent_session && (!agent_session || strcmp(r->agent_session, agent_session) != 0))
            continue;
        if (r->action == POLICY_ALLOW && (!may_allow || !(r->exact ? exact_ok : operator_ok)))
            continue;
        if (best && !before(r, best))
            continue;
        hit = matches(r->id, r->match, text, r->action == POLICY_ALLOW);
        if (hit < 0)
            may_allow = false; /* a rule that cannot be evaluated: never allow past it */
        else if (hit)
            best = r;
    }
    if (!best || (best->action == POLICY_ALLOW && !may_allow))
        return POLICY_ASK;
    *rule_id = best->id;
    return best->action;
}

enum policy_action policy_decide(const struct policy_rule *rules, int n, const char *session_id,
                                 const char *agent_session, const char *tool, const char *text,
                                 int64_t now, int64_t *rule_id)
{
    return decide(rules, n, session_id, agent_session, tool, text, true, true, now, rule_id);
}

enum policy_action policy_decide_call(const struct policy_rule *rules, int n,
                                      const char *session_id, const char *agent_session,
                                      const char *tool, json_t *tool_input, int64_t now,
                                      int64_t *rule_id)
{
    char *text;
    bool operator_ok = true, exact_ok = true;
    enum policy_action a;

    *rule_id = 0;
    if (!tool)
        return POLICY_ASK;
    text = policy_text(tool, tool_input);
    if (tool_input && !json_is_object(tool_input)) {
        operator_ok = exact_ok = false;
    } else if (listed(SHELL_TOOLS, tool)) {
        operator_ok = exact_ok = shell_input_plain(tool_input);
    } else if (listed(FILE_TOOLS, tool)) {
        operator_ok = file_input_known(tool, tool_input, true);
        exact_ok = file_input_known(tool, tool_input, false);
    }
    a = decide(rules, n, session_id, agent_session, tool, text, operator_ok, exact_ok, now,
               rule_id);
    free(text);
    return a;
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
