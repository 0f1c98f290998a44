/*
 * doctor.h - `loopgate doctor`: checks a host's set-up the way an operator
 * would, one line per check, with the fix for each failure.
 */
#ifndef LG_DOCTOR_H
#define LG_DOCTOR_H

/*
 * The `doctor` subcommand (argv[0] is "doctor"). It loads the configuration
 * itself (--config PATH, else as every command does), so that a bad one is
 * a failed check rather than an error before it. Prints `ok|FAIL|skip`,
 * the check's name and what it found, one line per check, each FAIL with a
 * fix; never prints the bot token, the webhook secret or a database
 * password. Returns 0 when nothing failed, 1 when a check failed, 2 for a
 * usage error.
 */
int doctor_main(int argc, char **argv);

#endif
