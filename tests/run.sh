#!/usr/bin/env bash
# Runs the project-level tests: every tests/test_*.sh (with bash) and
# tests/test_*.py (with the built interpreter, build/python), in name order,
# from the repository root, each as one step.  See tests/README.md.
. "$(dirname "$0")/../tools/lib.sh"
. "$TOOLS/steps.sh"

PYTHON=$REPO/build/python
export REPO PYTHON

steps_begin
cd "$REPO"
found=0
for t in $(cd tests && ls test_*.sh test_*.py 2>/dev/null | LC_ALL=C sort); do
    found=1
    case $t in
        *.sh) step "tests/$t" bash "tests/$t" ;;
        *.py) step "tests/$t" "$PYTHON" "tests/$t" ;;
    esac
done
[ "$found" = 1 ] || say "no project tests in tests/ yet"
steps_end
