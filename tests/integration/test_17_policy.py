"""Rules for coding agents' tool calls (issue 17): a submit may say which tool
call it asks about ("tool", "tool_input", "agent_session"), and the tenant's
rules (/v1/policies, `loopgate policy`) allow or deny such calls at once,
audited as the rule's decision, without asking anyone."""
import json

from lg import chat, eq, error_is, ok
from test_07_telegram import register, submit


def test_tool_fields_stored_and_checked(s):
    register(s, "pol-fields", chat())
    rid = submit(s, "pol-fields", "Run git status?", tool="Bash",
                 tool_input={"command": "git status", "description": "x" * 10},
                 agent_session="cc-1")
    row = s.sql("SELECT tool, tool_input::text, agent_session FROM requests WHERE id = :'p1'",
                rid)[0]
    eq((row[0], json.loads(row[1])["command"], row[2]), ("Bash", "git status", "cc-1"))
    # Without them nothing is stored.
    rid = submit(s, "pol-fields", "Plain request")
    eq(s.sql("SELECT tool IS NULL AND tool_input IS NULL AND agent_session IS NULL"
             " FROM requests WHERE id = :'p1'", rid), [["t"]])
    base = {"session_id": "pol-fields", "client_id": "agent", "message": "m"}
    for extra, mention in [({"tool": ""}, "tool"), ({"tool": "x" * 129}, "tool"),
                           ({"tool": "Ba\u0007sh"}, "tool"), ({"tool": 5}, "tool"),
                           ({"tool": "Bash", "tool_input": "ls"}, "tool_input"),
                           ({"tool": "Bash", "tool_input": [1]}, "tool_input"),
                           ({"tool_input": {"command": "ls"}}, "tool"),
                           ({"tool": "Bash", "agent_session": ""}, "agent_session"),
                           ({"agent_session": "cc"}, "tool")]:
        body = dict(base, **extra)
        r = s.post("/hitl/request", body)
        ok(r.status == 400 and mention in r.json["error"]["message"], (extra, r))
