/*
 * hook_cli.h - `loopgate hook claude-code|codex|gemini`: a command hook.
 *
 * The agent runs it with the hook's JSON on stdin; it POSTs that body to
 * <url>/v1/hooks/<agent> (url: --url, else $LOOPGATE_URL, else
 * http://127.0.0.1:8080) with the key $LOOPGATE_API_KEY and the session
 * $LOOPGATE_SESSION (X-Loopgate-Session; $LOOPGATE_WAIT becomes
 * X-Loopgate-Wait), and prints the server's answer, which is already in the
 * agent's own format, exit 0. It needs no configuration file and no
 * database.
 *
 * When no Loopgate host answers (the connection fails or breaks, a 502,
 * 503 or 504, or the shipped nginx's deny for those: the host holding the
 * call died or is restarting), it sends the same call again, after 0.25 s,
 * then twice as long each time up to 4 s, for up to 30 s ($LOOPGATE_RETRY
 * seconds, 0-600; 0: never): the server keys a
 * call by its body, so it waits on the request its first arrival made while
 * that is pending, and the person is asked once.
 *
 * When no answer comes (the server unreachable, an error status, a body
 * that is not JSON), it says why on stderr and exits 1, which every one of
 * these agents reads as "the hook failed, carry on" (its own prompt asks);
 * with --fail-closed it exits 2, which Codex and Gemini CLI read as deny
 * (blocked), the stderr text being the reason; Claude Code ignores exit 2
 * from a PermissionRequest hook, so for it a deny of the event its input
 * names (PermissionRequest or PreToolUse) is printed on stdout as well.
 */
#ifndef LG_HOOK_CLI_H
#define LG_HOOK_CLI_H

/* Run the command; argv[0] is "hook". Returns the exit status. */
int hookcli_main(int argc, char **argv);

#endif
