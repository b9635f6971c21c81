# Robustness and security checks (issue 6).
#
#   make check-full   CPython's whole test suite on pristine 3.11.2
#                     (build-full/pristine/) and on the patched build
#                     (build-full/patchset/), same flags; fails on any
#                     difference (tools/check-full.sh).  About 30 minutes
#                     on 2 cores, more on a loaded machine: not part of
#                     make test.  Results in dist/check-full/report.md.

.PHONY: check-full

check-full:
	tools/check-full.sh
