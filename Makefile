# perf support for CPython 3.11: build, round trip and checks.
# Every target is a thin wrapper around a script in tools/; see README.md.

VERSION        := 3.11.2
# Extra ./configure arguments for build/ (part of the build's identity:
# changing them rebuilds from scratch).
CONFIGURE_FLAGS ?=
# A local Python-3.11.2.tgz to use instead of downloading (sha256-checked).
CPYTHON_TARBALL ?=
JOBS           ?= $(shell nproc)
# CPython regression tests that make test runs with build/python.
PYTESTS        ?= test_perf_profiler test_sys
PYTEST_FLAGS   ?= -v --timeout=1200
# Where make patch writes the combined patch.
PATCH_FILE     ?= dist/perf-support-$(VERSION).patch

export CONFIGURE_FLAGS CPYTHON_TARBALL JOBS PYTESTS PYTEST_FLAGS

.DEFAULT_GOAL := all
.PHONY: all prepare export check-roundtrip check-configure patch check-patch \
        demo test clean distclean deps

all:
	tools/build.sh

prepare:
	tools/prepare.sh . src

export:
	tools/export.sh src .

check-roundtrip:
	tools/check-roundtrip.sh

check-configure:
	tools/check-configure.sh

patch:
	@tools/make-patch.sh $(PATCH_FILE)

check-patch: patch
	tools/check-patch.sh $(PATCH_FILE)

demo: all
	tools/demo.sh
	tools/demo-flamegraph.sh dist/flamegraph.html examples/perf_demo.py

test:
	tools/test.sh

clean:
	rm -rf build dist

# Also drops the tarball cache.  src/ is kept: it may hold unexported work.
distclean: clean
	rm -rf cache
	@if [ -d src ]; then echo "note: src/ kept (your work tree); remove it by hand if it is exported"; fi

deps:
	tools/deps.sh

# Further targets, one file per area (benchmarks, cross-architecture and
# sanitizer checks, ...): see mk/README.
-include mk/*.mk
