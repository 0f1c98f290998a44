/*
 * apikey.c - see apikey.h.
 */
#include "apikey.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "hook.h"
#include "store_keys.h"
#include "util.h"
#include "validate.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: loopgate apikey create --name NAME [--tenant TENANT] [--admin] [--replace]\n"
            "       loopgate apikey list [--json]\n"
            "       loopgate apikey revoke ID|PREFIX\n"
            "       loopgate apikey webhook-secret --tenant TENANT [--rotate]\n"
            "\n"
            "create  makes a key for TENANT (default: \"default\", the tenant of calls\n"
            "        without a key while auth is off) and prints it once; only its\n"
            "        SHA-256 is stored. NAME labels the key (who or what uses it): 1-100\n"
            "        bytes of printable UTF-8. A new TENANT is 1-%d characters of a-z,\n"
            "        0-9, '.', '_' and '-', starting with a letter or digit; a tenant\n"
            "        that already has keys is taken as it is (also a name from before\n"
            "        this rule), and a new name that differs from an existing one only\n"
            "        by case or spaces is refused.\n"
            "        --replace first revokes the tenant's keys of that NAME.\n"
            "        The key is an agent key: it may ask, list policy rules and add deny\n"
            "        and ask rules. --admin makes an admin key, which may also add allow\n"
            "        rules and revoke rules; never give one to an agent (it could approve\n"
            "        itself).\n"
            "list    shows every key: id, tenant, name, scope, prefix, created, last used,\n"
            "        revoked.\n"
            "revoke  disables a key at once, by id or by the prefix shown in list.\n"
            "webhook-secret  prints the tenant's secret for verifying webhook signatures\n"
            "        (whsec_..., for Standard Webhooks libraries: webhook-signature, and\n"
            "        X-Loopgate-Signature), creating it on first use; --rotate replaces it.\n"
            "\n"
            "The database is the one of --config, $LOOPGATE_CONFIG, /etc/loopgate/loopgate.conf,\n"
            "or inside a checkout the local stack's (var/loopgate.conf), with DB_URI over it.\n",
            TENANT_NAME_MAX);
}

static int fail(const struct lg_error *err)
{
    fprintf(stderr, "loopgate apikey: %s\n", err->message);
    return 1;
}

/* A refused tenant name: exit 2 (usage); a database error: 1. */
static int bad_tenant(const char *cmd, const struct lg_error *err)
{
    fprintf(stderr, "loopgate apikey %s: %s\n", cmd, err->message);
    return err->status == 400 ? 2 : 1;
}

int apikey_tenant_check(const char *tenant, const char *option, struct lg_error *err)
{
    char alike[ID_MAX_BYTES + 1];
    struct lg_error rule;
    int known;

    if (validate_id_text(tenant, option, "field", err) < 0)
        return -1;
    /* the tenant of calls without a key while auth is off, keys or not */
    if (!strcmp(tenant, "default"))
        return 0;
    known = store_tenant_known(tenant, alike, sizeof(alike), err);
    if (known < 0)
        return -1;
    if (known == 0)
        return 0;
    if (known == 1)
        return lg_fail(err, 400, "invalid_tenant",
                       "%s '%s' would be a new tenant that looks like the existing tenant "
                       "'%s'; to use that one, give its name exactly",
                       option, tenant, alike);
    if (validate_tenant_name(tenant, option, &rule) < 0) {
        *err = rule;
        return -1;
    }
    return 0;
}

static int create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'}, {"tenant", required_argument, NULL, 't'},
        {"replace", no_argument, NULL, 'r'},    {"admin", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *name = NULL, *tenant = NULL;
    bool replace = false, admin = false;
    unsigned char raw[20];
    char key[3 + 41], hash[65], prefix[APIKEY_PREFIX_LEN + 1];
    struct lg_error err;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "n:t:rah", opts, NULL)) != -1) {
        if (c == 'n')
            name = optarg;
        else if (c == 't')
            tenant = optarg;
        else if (c == 'r')
            replace = true;
        else if (c == 'a')
            admin = true;
        else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (!name || !*name) {
        fprintf(stderr, "loopgate apikey create: --name is required\n");
        return 2;
    }
    if (!tenant)
        tenant = "default";
    if (strlen(name) > 100 || validate_id_text(name, "--name", "option", &err) < 0) {
        fprintf(stderr, "loopgate apikey create: --name must be 1-100 bytes of printable UTF-8 "
                        "(no controls or invisible characters)\n");
        return 2;
    }
    if (apikey_tenant_check(tenant, "--tenant", &err) < 0)
        return bad_tenant("create", &err);
    if (random_bytes(raw, sizeof(raw)) < 0) {
        fprintf(stderr, "loopgate apikey create: no randomness available\n");
        return 1;
    }
    memcpy(key, "lg_", 3);
    hex_encode(raw, sizeof(raw), key + 3);
    sha256_hex(key, strlen(key), hash);
    memcpy(prefix, key, APIKEY_PREFIX_LEN);
    prefix[APIKEY_PREFIX_LEN] = '\0';
    if (replace && store_key_revoke_named(tenant, name, &err) < 0)
        return fail(&err);
    if (store_key_create(tenant, name, hash, prefix, admin, &err) < 0)
        return fail(&err);
    printf("%s\n", key);
    fprintf(stderr, "created %s key %s for tenant '%s'; it is shown only this once\n",
            admin ? "admin" : "agent", prefix, tenant);
    return 0;
}

static int list(int argc, char **argv)
{
    struct lg_error err;
    json_t *keys, *k;
    size_t i;
    int as_json = argc > 1 && !strcmp(argv[1], "--json");

    if (store_key_list(&keys, &err) < 0)
        return fail(&err);
    if (as_json) {
        char *s = json_dumps(keys, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
    } else {
        printf("%-5s %-16s %-20s %-6s %-12s %-27s %-27s %s\n", "ID", "TENANT", "NAME", "SCOPE",
               "PREFIX", "CREATED", "LAST USED", "REVOKED");
        json_array_foreach(keys, i, k)
        {
            const char *used = json_string_value(json_object_get(k, "last_used_at"));
            const char *rev = json_string_value(json_object_get(k, "revoked_at"));
            printf("%-5lld %-16s %-20s %-6s %-12s %-27s %-27s %s\n",
                   (long long)json_integer_value(json_object_get(k, "id")),
                   json_string_value(json_object_get(k, "tenant")),
                   json_string_value(json_object_get(k, "name")),
                   json_string_value(json_object_get(k, "scope")),
                   json_string_value(json_object_get(k, "prefix")),
                   json_string_value(json_object_get(k, "created_at")), used ? used : "-",
                   rev ? rev : "-");
        }
    }
    json_decref(keys);
    return 0;
}

static int revoke(int argc, char **argv)
{
    struct lg_error err;
    int rc;

    if (argc != 2 || !strcmp(argv[1], "--help")) {
        usage(argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    rc = store_key_revoke(argv[1], &err);
    if (rc < 0)
        return fail(&err);
    if (rc == 1) {
        fprintf(stderr, "loopgate apikey revoke: no active key with id or prefix '%s'\n", argv[1]);
        return 1;
    }
    printf("revoked %s\n", argv[1]);
    return 0;
}

static int webhook_secret(int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"rotate", no_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *tenant = NULL;
    bool rotate = false;
    char secret[HOOK_SECRET_SHOWN_MAX + 16], fresh[HOOK_SECRET_SHOWN_MAX],
        shown[HOOK_SECRET_SHOWN_MAX];
    struct lg_error err;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:rh", opts, NULL)) != -1) {
        if (c == 't')
            tenant = optarg;
        else if (c == 'r')
            rotate = true;
        else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (!tenant || !*tenant) {
        fprintf(stderr, "loopgate apikey webhook-secret: --tenant is required "
                        "(\"default\" when auth is off)\n");
        return 2;
    }
    if (apikey_tenant_check(tenant, "--tenant", &err) < 0)
        return bad_tenant("webhook-secret", &err);
    if (hook_secret_new(fresh) < 0) {
        fprintf(stderr, "loopgate apikey webhook-secret: no randomness available\n");
        return 1;
    }
    if (store_webhook_secret(tenant, rotate, fresh, secret, sizeof(secret), &err) < 0)
        return fail(&err);
    if (hook_secret_shown(secret, shown) < 0) {
        fprintf(stderr,
                "loopgate apikey webhook-secret: the stored secret of tenant '%s' is not "
                "usable; replace it with --rotate\n",
                tenant);
        return 1;
    }
    printf("%s\n", shown);
    if (rotate)
        fprintf(stderr,
                "rotated the webhook secret of tenant '%s'; webhooks sent from now on "
                "are signed with it\n",
                tenant);
    return 0;
}

int apikey_main(struct config *cfg, int argc, char **argv)
{
    static const struct cli_verb verbs[] = {
        {"create", create},
        {"list", list},
        {"revoke", revoke},
        {"webhook-secret", webhook_secret},
    };

    return cli_dispatch("loopgate apikey", verbs, sizeof(verbs) / sizeof(verbs[0]), usage,
                        cfg->db_uri, argc, argv);
}
