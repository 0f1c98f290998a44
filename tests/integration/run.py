#!/usr/bin/env python3
"""run.py - run the integration tests against one build of loopgate.

    run.py [--bin build/loopgate] [--san [--skip-slow] | --tsan] [--drills | --ha]
           [-k SUBSTRING] [--slow] [--skip SUBSTRING] [--jobs N]

Starts one shared stack (src/stack.sh in a temp dir), runs every test_*
function of the test_*.py modules here in file order, stops the stack (also
when a test fails), and ends with `integration: N passed, N failed`.

--jobs N runs N such runs at once, each with its own stack, Bot API stand-in
and ports, handing out whole modules (a module's tests run in order on one
stack) in file order to whichever run is free first; one summary line for
all. The tests wait on people, timeouts and retries far more than they
compute, so two runs on two cores take little more than half the time of one.

A test marked `slow` (wait-bound, not memory-bound) is skipped with
--skip-slow, and --slow adds every one of them to what -k picks: `make check`
runs them against the normal build and the rest under AddressSanitizer. A test marked `drill` (a minute or
more of waiting, such as an MCP client's 60 s timeout) runs only with
--drills, which runs the drills alone: `make check-drills`, kept out of
`make check` so that it stays within its time. A test marked `ha` (several
worker hosts in network namespaces, a PostgreSQL that fails over) runs only
with --ha: `make check-ha`.
"""
import argparse
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lg  # noqa: E402
import tgstub  # noqa: E402

def collect(pattern, slow=False):
    """The tests whose name contains one of `pattern`'s comma-separated
    strings (all when it is empty), and with `slow` every test marked slow."""
    tests = []
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fns = [f for n, f in inspect.getmembers(mod, inspect.isfunction)
               if n.startswith("test_") and f.__module__ == mod.__name__]
        fns.sort(key=lambda f: f.__code__.co_firstlineno)
        for f in fns:
            full = "%s.%s" % (mod.__name__, f.__name__)
            if (not pattern or any(p in full for p in pattern.split(","))
                    or (slow and getattr(f, "slow", False))):
                tests.append((full, f))
    return tests


def claim(claims, module):
    """Take `module` for this run unless another run of the same --jobs took it first."""
    if not claims:
        return True
    try:
        os.close(os.open(os.path.join(claims, module), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def run_jobs(args, label):
    """Run args.jobs copies of this script at once, sharing out the modules
    through a directory of claims; relay their lines as they come and sum
    their counts into one summary line."""
    claims = tempfile.mkdtemp(prefix="lgclaims.")
    argv = [a for a in sys.argv[1:]]
    i = argv.index("--jobs") if "--jobs" in argv else None
    if i is not None:
        del argv[i:i + 2]
    argv = [x for x in argv if not x.startswith("--jobs=")]
    lock = threading.Lock()
    counts = []
    t0 = time.time()

    def relay(n, proc):
        got = None
        for line in proc.stdout:
            m = re.match(r"^run (\d+) of \d+: (\d+) passed, (\d+) failed", line)
            if m:
                got = (int(m.group(2)), int(m.group(3)))
            with lock:
                sys.stdout.write(line)
                sys.stdout.flush()
        proc.wait()
        with lock:
            counts.append(got if got else (0, 1))
            if not got:
                print("not ok - run %d of %d ended (%d) without its summary" % (n, args.jobs,
                                                                                proc.returncode))

    procs = []
    try:
        for n in range(1, args.jobs + 1):
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__)] + argv +
                                 ["--claims", claims, "--job", "%d/%d" % (n, args.jobs)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            t = threading.Thread(target=relay, args=(n, p))
            t.start()
            procs.append((p, t))
        for p, t in procs:
            t.join()
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(claims, ignore_errors=True)
    passed, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
    print("%s took %.1fs" % (label, time.time() - t0))
    print("%s: %d passed, %d failed" % (label, passed, failed))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(lg.ROOT, "build/loopgate"))
    ap.add_argument("--san", action="store_true", help="the binary is a sanitizer build")
    ap.add_argument("--skip-slow", action="store_true",
                    help="with --san: skip the tests marked slow (wait-bound, not memory-bound)")
    ap.add_argument("--slow", action="store_true",
                    help="also run every test marked slow, whatever -k says (make check runs"
                         " them against the normal build and skips them under ASan)")
    ap.add_argument("--tsan", action="store_true", help="the binary is a ThreadSanitizer build")
    ap.add_argument("--drills", action="store_true",
                    help="run the long drills (tests marked drill) and nothing else")
    ap.add_argument("--ha", action="store_true",
                    help="run the scale-out and fail-over tests (tests marked ha) and nothing else")
    ap.add_argument("-k", dest="pattern", default="",
                    help="run only tests whose name contains one of these comma-separated strings")
    ap.add_argument("--skip", default="",
                    help="skip tests whose name contains one of these comma-separated strings"
                         " (make check runs them against another build)")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once, each with its own stack")
    ap.add_argument("--claims", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args()
    label = "integration-tsan" if args.tsan else "integration-san" if args.san else "integration"
    args.san = args.san or args.tsan
    if args.drills:
        label += "-drills"
    if args.ha:
        label += "-ha"
    if args.jobs > 1:
        return run_jobs(args, label)
    if args.job:
        label = "run %s of %s" % tuple(args.job.split("/"))

    tests = [(n, f) for n, f in collect(args.pattern, args.slow)
             if bool(getattr(f, "drill", False)) == args.drills
             and bool(getattr(f, "ha", False)) == args.ha]
    passed = failed = 0
    tg = tgstub.TelegramStub().start()
    stack = lg.telegram_stack(args.bin, tg, san=args.san)
    t0 = time.time()
    try:
        claimed = {}
        for name, fn in tests:
            module = name.split(".")[0]
            if module not in claimed:
                claimed[module] = claim(args.claims, module)
            if not claimed[module]:
                continue
            if args.skip_slow and getattr(fn, "slow", False):
                print("ok - %s # skip: slow and not memory-bound (--skip-slow)" % name, flush=True)
                continue
            if args.skip and any(p in name for p in args.skip.split(",")):
                print("ok - %s # skip: runs against another build (--skip)" % name, flush=True)
                continue
            try:
                if not stack.running:
                    stack.start()
                t = time.time()
                fn(stack)
                passed += 1
                print("ok - %s (%.1fs)" % (name, time.time() - t), flush=True)
            except Exception as e:  # noqa: BLE001 - report every kind of failure
                failed += 1
                print("not ok - %s: %s" % (name, e), flush=True)
                if not isinstance(e, lg.Failure):
                    traceback.print_exc()
        if stack.running:
            stack.stop()
        if args.san:
            reports = stack.sanitizer_reports()
            if reports:
                failed += 1
                print("not ok - sanitizer reports:")
                for n, text in reports:
                    print("---- %s\n%s" % (n, text[:4000]))
            else:
                passed += 1
                print("ok - no sanitizer report")
    except Exception as e:  # noqa: BLE001
        failed += 1
        print("not ok - stack: %s" % e)
        traceback.print_exc()
    finally:
        if failed and os.environ.get("LOOPGATE_KEEP_LOGS"):
            import shutil
            dest = os.environ["LOOPGATE_KEEP_LOGS"]
            if args.job:
                dest += "-" + args.job.split("/")[0]
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(os.path.join(stack.var, "log"), dest)
            print("logs kept in %s" % dest)
        stack.cleanup()
        tg.stop()
    print("%s took %.1fs, %.1fs of it starting and stopping the stack (%d starts)"
          % (label, time.time() - t0, stack.lifecycle_s, stack.starts))
    print("%s: %d passed, %d failed" % (label, passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
