#!/usr/bin/env python3
"""run.py - run the integration tests against one build of loopgate.

    run.py [--bin build/loopgate] [--san | --tsan] [--drills] [-k SUBSTRING]

A test marked `slow` (wait-bound, not memory-bound) is skipped by the
AddressSanitizer run. A test marked `drill` (a minute or more of waiting, such as
an MCP client's 60 s timeout) runs only with --drills, which runs the
drills alone: `make check-drills`, kept out of `make check` so that it stays
within its time.

Starts one shared stack (src/stack.sh in a temp dir), runs every test_*
function of the test_*.py modules here in file order, stops the stack (also
when a test fails), and ends with `integration: N passed, N failed`.
"""
import argparse
import importlib.util
import inspect
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lg  # noqa: E402
import tgstub  # noqa: E402

def collect(pattern):
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
            if not pattern or any(p in full for p in pattern.split(",")):
                tests.append((full, f))
    return tests


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(lg.ROOT, "build/loopgate"))
    ap.add_argument("--san", action="store_true", help="the binary is a sanitizer build")
    ap.add_argument("--tsan", action="store_true", help="the binary is a ThreadSanitizer build")
    ap.add_argument("--drills", action="store_true",
                    help="run the long drills (tests marked drill) and nothing else")
    ap.add_argument("-k", dest="pattern", default="",
                    help="run only tests whose name contains one of these comma-separated strings")
    args = ap.parse_args()
    label = "integration-tsan" if args.tsan else "integration-san" if args.san else "integration"
    args.san = args.san or args.tsan

    tests = [(n, f) for n, f in collect(args.pattern)
             if bool(getattr(f, "drill", False)) == args.drills]
    if args.drills:
        label += "-drills"
    passed = failed = 0
    tg = tgstub.TelegramStub().start()
    stack = lg.telegram_stack(args.bin, tg, san=args.san)
    t0 = time.time()
    try:
        stack.start()
        for name, fn in tests:
            t = time.time()
            # The ThreadSanitizer run names its tests (-k): it runs them all.
            if args.san and not args.tsan and getattr(fn, "slow", False):
                print("ok - %s # skip: slow and not memory-bound; the normal build's run covers it"
                      % name, flush=True)
                continue
            try:
                if not stack.running:
                    stack.start()
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
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(os.path.join(stack.var, "log"), dest)
            print("logs kept in %s" % dest)
        stack.cleanup()
        tg.stop()
    print("%s took %.1fs" % (label, time.time() - t0))
    print("%s: %d passed, %d failed" % (label, passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
