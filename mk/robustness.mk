# Robustness and security checks (issue 6).
#
#   make check-robustness  tests/test_robustness.py with
#                     build/python: hostile names and /tmp, rlimits, full
#                     file systems, threads, subinterpreters, fork storms
#                     (about 30 s; root for the throwaway user and the
#                     mount namespaces).  Also a step of make test.
#   make check-asan   build the patched tree with ASan + UBSan in build-asan/
#                     (tools/check-asan.sh) and run test_perf_profiler and
#                     test_robustness.py on it; any report fails.  In make
#                     test through tests/test_asan.sh.
#   make check-full   CPython's whole test suite on pristine 3.11.2
#                     (build-full/pristine/) and on the patched build
#                     (build-full/patchset/), same flags; fails on any
#                     difference (tools/check-full.sh).  30 to 50 minutes
#                     on 2 cores, more on a loaded machine: not part of
#                     make test.  Results in dist/check-full/report.md.
#
# tests/test_robustness.py, tests/test_memcheck.sh (valgrind) and
# tests/test_asan.sh run in make test.

.PHONY: check-robustness check-asan check-full

check-robustness: all
	PYTHON=$(CURDIR)/build/python REPO=$(CURDIR) build/python tests/test_robustness.py

check-asan:
	tools/check-asan.sh

check-full:
	tools/check-full.sh
