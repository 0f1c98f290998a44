/*
 * cli.c - see cli.h.
 */
#include "cli.h"

#include <string.h>

#include "db.h"

int cli_dispatch(const char *prog, const struct cli_verb *verbs, size_t n, void (*usage)(FILE *),
                 const char *db_uri, int argc, char **argv)
{
    const struct cli_verb *verb = NULL;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < n && !verb; i++)
        if (!strcmp(argv[1], verbs[i].name))
            verb = &verbs[i];
    if (!verb) {
        fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
        usage(stderr);
        return 2;
    }
    db_pool_init(db_uri, 1);
    rc = verb->run(argc - 1, argv + 1);
    db_pool_shutdown();
    return rc;
}
