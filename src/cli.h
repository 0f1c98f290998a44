/*
 * cli.h - the shape the `loopgate NOUN VERB ...` commands share.
 *
 * `loopgate apikey`, `loopgate policy` and `loopgate audit` each have a table
 * of verbs; cli_dispatch() answers help, finds the verb and runs it inside a
 * one-connection database pool, so that every such command says the same
 * thing for a missing or unknown verb and exits with the same codes.
 */
#ifndef LG_CLI_H
#define LG_CLI_H

#include <stddef.h>
#include <stdio.h>

struct cli_verb {
    const char *name;
    /* argv[0] is the verb; returns the command's exit code */
    int (*run)(int argc, char **argv);
};

/*
 * Runs the verb argv[1] of `prog` (for example "loopgate apikey") from
 * verbs[0..n) with argc/argv shifted by one, with the database pool opened
 * on `db_uri` (one connection) around it. "help", "-h" or "--help": usage
 * to stdout, 0. No verb: usage to stderr, 2. An unknown verb: a line naming
 * it and usage to stderr, 2; the database is not touched for any of these.
 */
int cli_dispatch(const char *prog, const struct cli_verb *verbs, size_t n, void (*usage)(FILE *),
                 const char *db_uri, int argc, char **argv);

#endif
