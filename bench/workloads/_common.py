"""Shared helper for the workloads: the size factor.

Every workload reads BENCH_SCALE (a float, default 1.0) and multiplies its
iteration counts by it.  1.0 is sized for roughly 0.3-1 s of CPU on the
patched interpreter with support off; the callgrind mode uses a small
factor.  Workloads print one deterministic result line (never a time) so
that the runner can check every interpreter computed the same thing.
"""
import os


def scale():
    return float(os.environ.get("BENCH_SCALE", "1"))


def count(n):
    """n scaled by BENCH_SCALE, at least 1."""
    return max(1, int(n * scale()))
