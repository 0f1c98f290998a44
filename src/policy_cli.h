/*
 * policy_cli.h - `loopgate policy add|list|rm`: the operator's view of the
 * rules for coding agents' tool calls (policy.h), on the database named by
 * db_uri / DB_URI. Changes are audited with the actor "cli".
 */
#ifndef LG_POLICY_CLI_H
#define LG_POLICY_CLI_H

#include "config.h"

/* Run the subcommand in argv[1]; the process exit status. */
int policy_main(struct config *cfg, int argc, char **argv);

#endif
