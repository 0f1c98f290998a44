"""`make run`: the stack in the foreground stops on Ctrl-C and leaves no process."""
import os
import signal
import subprocess
import threading
import time

from lg import ROOT, eq, ok, wait_for


def test_run_foreground_ctrl_c(s):
    s.stop()
    proc = subprocess.Popen([os.path.join(ROOT, "src/stack.sh"), "run"], env=s.stack_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("press Ctrl-C" in ln for ln in lines), 60, "the stack to be up")
        eq(s.get("/hitl/pending").status, 200)
        # Ctrl-C reaches the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(5)
        out = "".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    eq(proc.returncode, 0, out)
    ok("Loopgate is running at http://127.0.0.1:%d" % s.port in out, out)
    ok("curl -X POST http://localhost:%d/hitl/register" % s.port in out, "banner shows a curl line")
    ok("Authentication is off" in out, "banner says auth is off")
    time.sleep(0.2)
    left = subprocess.run(["pgrep", "-af", s.var], capture_output=True, text=True).stdout
    eq(left, "", "processes left behind")
    s.start()


# Wait-bound, not memory-bound: the AddressSanitizer run skips them (run.py).
test_run_foreground_ctrl_c.slow = True
