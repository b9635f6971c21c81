"""Child side of bench/interleave.py: one persistent interpreter per mode.

Usage: python [-X perf] harness.py WORKLOAD.py

Compiles the workload once, then serves requests on stdin, one per line:

    run    execute the workload once (its module code, which calls main())
           with stdout captured, and answer "<cpu seconds> <result line>"
    quit   exit

The CPU time is time.process_time() around the run, so start-up, imports
and the parent's bookkeeping are not in it.  The workload's functions are
re-created by every run from the same code objects: their trampolines are
made by the first run (the warm-up) and reused by the others.  Works with
any python3 >= 3.8.
"""
import io
import os
import sys
import time


def main():
    path = os.path.abspath(sys.argv[1])
    sys.path.insert(0, os.path.dirname(path))
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    out = sys.stdout
    for line in sys.stdin:
        request = line.strip()
        if request == "quit":
            break
        if request != "run":
            out.write("error unknown request %r\n" % request)
            out.flush()
            continue
        captured = io.StringIO()
        sys.stdout = captured
        try:
            start = time.process_time()
            exec(code, {"__name__": "__bench__", "__file__": path})
            cpu = time.process_time() - start
        finally:
            sys.stdout = out
        result = captured.getvalue().strip().replace("\n", " | ")
        out.write("%.9f %s\n" % (cpu, result))
        out.flush()


if __name__ == "__main__":
    main()
