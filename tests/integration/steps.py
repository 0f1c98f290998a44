"""steps.py - a test peer run as a subprocess that prints one JSON object per step.

The MCP peers under tests/mcp (sdk_client.mjs, sdk2_client.mjs) print a line
{"step": NAME, ...} as each thing happens; StepProcess collects them as they
come, so a test can wait for a step while the peer is still running.
"""
import json
import subprocess
import threading


class StepProcess:
    """argv as a subprocess; its JSON step lines collected as they come."""

    def __init__(self, argv, cwd, env=None):
        self.steps = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=cwd, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.steps.append(json.loads(line))
            except ValueError:
                pass

    def step(self, name):
        return [x for x in self.steps if x.get("step") == name]

    def finish(self, timeout):
        """Wait up to `timeout` s (then kill); (exit status, stderr)."""
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.reader.join(5)
        return self.proc.returncode, self.proc.stderr.read()
