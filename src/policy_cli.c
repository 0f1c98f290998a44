/*
 * policy_cli.c - see policy_cli.h.
 */
#include "policy_cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "cli.h"
#include "db.h"
#include "policy.h"
#include "store_policy.h"
#include "util.h"
#include "validate.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: loopgate policy add [--tenant T] [--session S] [--agent-session A]\n"
               "                           --tool NAME --match REGEX --action allow|deny|ask\n"
               "                           [--position N] [--expires SECONDS]\n"
               "       loopgate policy list [--tenant T] [--json]\n"
               "       loopgate policy rm [--tenant T] ID\n"
               "\n"
               "Rules decide a coding agent's tool call (a request with \"tool\") without\n"
               "asking, by a POSIX ERE over the tool's input: a shell tool's command, a file\n"
               "tool's path (with ., .. and // resolved), else its JSON. An allow rule must\n"
               "match the whole text; deny and ask rules match anywhere. A matching deny\n"
               "rule of any scope decides, else a matching ask rule, and only then an allow\n"
               "rule; within one action session rules come first, then position, then id.\n"
               "An allow rule never allows a command with a line break, a relative file\n"
               "path or one climbing with .., or an input over 4096 bytes: those are asked.\n"
               "The tenant defaults to \"default\" (the tenant when auth is off); another\n"
               "is one that has API keys, or a name by the rule of `loopgate apikey create`.\n");
}

static int fail(const char *what, const struct lg_error *err)
{
    fprintf(stderr, "loopgate policy %s: %s\n", what, err->message);
    return 1;
}

/* A refused tenant name: exit 2 (usage); a database error: 1. */
static int bad_tenant(const char *what, const struct lg_error *err)
{
    fprintf(stderr, "loopgate policy %s: %s\n", what, err->message);
    return err->status == 400 ? 2 : 1;
}

/* A whole number in lo..hi from option `name`; -1 (said) otherwise. */
static int number(const char *name, const char *s, long lo, long hi, int *out)
{
    int64_t v;

    if (parse_int64(s, &v) < 0 || v < lo || v > hi) {
        fprintf(stderr, "loopgate policy add: %s takes a whole number from %ld to %ld\n", name, lo,
                hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int add(int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"session", required_argument, NULL, 's'},
                                         {"agent-session", required_argument, NULL, 'g'},
                                         {"tool", required_argument, NULL, 'T'},
                                         {"match", required_argument, NULL, 'm'},
                                         {"action", required_argument, NULL, 'a'},
                                         {"position", required_argument, NULL, 'p'},
                                         {"expires", required_argument, NULL, 'e'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct policy_new pn = {.tenant = "default", .created_by = "cli"};
    const char *action = NULL;
    struct lg_error err;
    json_t *out = NULL;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            pn.tenant = optarg;
            break;
        case 's':
            pn.session_id = optarg;
            break;
        case 'g':
            pn.agent_session = optarg;
            break;
        case 'T':
            pn.tool = optarg;
            break;
        case 'm':
            pn.match = optarg;
            break;
        case 'a':
            action = optarg;
            break;
        case 'p':
            if (number("--position", optarg, -POLICY_POSITION_MAX, POLICY_POSITION_MAX,
                       &pn.position) < 0)
                return 2;
            break;
        case 'e':
            if (number("--expires", optarg, 1, POLICY_EXPIRES_MAX, &pn.expires_s) < 0)
                return 2;
            break;
        default:
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (apikey_tenant_check(pn.tenant, "--tenant", &err) < 0)
        return bad_tenant("add", &err);
    if ((pn.session_id && validate_id_text(pn.session_id, "--session", "field", &err) < 0) ||
        (pn.agent_session &&
         validate_id_text(pn.agent_session, "--agent-session", "field", &err) < 0) ||
        validate_id_text(pn.tool, "--tool", "field", &err) < 0) {
        fprintf(stderr, "loopgate policy add: %s\n", err.message);
        return 2;
    }
    if (!pn.match || policy_check_match(pn.match, &err) < 0) {
        fprintf(stderr, "loopgate policy add: --%s\n",
                pn.match ? err.message : "match REGEX is required");
        return 2;
    }
    if (policy_action_parse(action, &pn.action) < 0) {
        fprintf(stderr, "loopgate policy add: --action must be allow, deny or ask\n");
        return 2;
    }
    if (store_policy_add(&pn, &out, &err) < 0)
        return fail("add", &err);
    printf("%lld\n", (long long)json_integer_value(json_object_get(out, "id")));
    json_decref(out);
    return 0;
}

static int list(int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *tenant = "default";
    struct lg_error err;
    json_t *out, *p;
    bool as_json = false;
    size_t i;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 't')
            tenant = optarg;
        else if (c == 'j')
            as_json = true;
        else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (apikey_tenant_check(tenant, "--tenant", &err) < 0)
        return bad_tenant("list", &err);
    if (store_policy_list(tenant, NULL, &out, &err) < 0)
        return fail("list", &err);
    if (as_json) {
        char *s = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
    } else {
        printf("%-6s %-6s %-16s %-12s %-16s %-6s %-27s %s\n", "ID", "ACTION", "SESSION", "AGENT",
               "TOOL", "POS", "EXPIRES", "MATCH");
        json_array_foreach(json_object_get(out, "policies"), i, p)
        {
            const char *sid = json_string_value(json_object_get(p, "session_id"));
            const char *ag = json_string_value(json_object_get(p, "agent_session"));
            const char *exp = json_string_value(json_object_get(p, "expires_at"));

            printf("%-6lld %-6s %-16s %-12s %-16s %-6d %-27s %s\n",
                   (long long)json_integer_value(json_object_get(p, "id")),
                   json_string_value(json_object_get(p, "action")), sid ? sid : "*", ag ? ag : "*",
                   json_string_value(json_object_get(p, "tool")),
                   (int)json_integer_value(json_object_get(p, "position")), exp ? exp : "-",
                   json_string_value(json_object_get(p, "match")));
        }
    }
    json_decref(out);
    return 0;
}

static int rm(int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *tenant = "default";
    struct lg_error err;
    int64_t id;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        if (c == 't')
            tenant = optarg;
        else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind + 1 != argc || parse_int64(argv[optind], &id) < 0 || id < 1) {
        fprintf(stderr, "loopgate policy rm: give one policy ID (see loopgate policy list)\n");
        return 2;
    }
    if (apikey_tenant_check(tenant, "--tenant", &err) < 0)
        return bad_tenant("rm", &err);
    if (store_policy_revoke(tenant, id, "cli", &err) < 0)
        return fail("rm", &err);
    printf("revoked %lld\n", (long long)id);
    return 0;
}

int policy_main(struct config *cfg, int argc, char **argv)
{
    static const struct cli_verb verbs[] = {
        {"add", add},
        {"list", list},
        {"rm", rm},
    };

    return cli_dispatch("loopgate policy", verbs, sizeof(verbs) / sizeof(verbs[0]), usage,
                        cfg->db_uri, argc, argv);
}
