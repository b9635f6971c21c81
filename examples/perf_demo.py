"""A tiny CPU-bound program for trying perf support (make demo).

baz calls bar calls foo, which spins in a loop.  Under
`perf record -g ... python -X perf perf_demo.py`, `perf report` shows the
chain py::baz -> py::bar -> py::foo, each with this file's path; without
-X perf it shows only the interpreter's C functions.

    python -X perf perf_demo.py [COUNT]

COUNT is foo's number of loop turns (default 1,000,000).
"""
import sys


def foo(n):
    result = 0
    for _ in range(n):
        result += 1
    return result


def bar(n):
    foo(n)


def baz(n):
    bar(n)


if __name__ == "__main__":
    baz(int(sys.argv[1]) if len(sys.argv) > 1 else 1000000)
