/*
 * fuzz_config.c - the config file parser (config_parse_text on top of the
 * defaults), then every setting it accepted must be freed cleanly; and the
 * same bytes as a secrets file (config_secrets_parse). An error must say
 * what is wrong (it is printed and logged).
 */
#include "check.h"
#include "config.h"
#include "fuzz.h"

static void fuzz_one(const char *data, size_t len)
{
    struct config cfg;
    char errbuf[512] = "";

    (void)len;
    config_defaults(&cfg);
    if (config_parse_text(&cfg, data, "fuzz.conf", errbuf, sizeof(errbuf)) < 0)
        FUZZ_REQUIRE(errbuf[0] != '\0');
    config_free(&cfg);
    config_defaults(&cfg);
    errbuf[0] = '\0';
    if (config_secrets_parse(&cfg, data, "fuzz.env", errbuf, sizeof(errbuf)) < 0)
        FUZZ_REQUIRE(errbuf[0] != '\0');
    config_free(&cfg);
}

FUZZ_MAIN
