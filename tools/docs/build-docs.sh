#!/usr/bin/env bash
# Check that the documentation pages touched by the perf support patch set
# build with Sphinx without a single warning.
#
# usage: build-docs.sh CPYTHON_SRC [OUTDIR]
#
# CPYTHON_SRC is a patched CPython 3.11.2 source tree.  The touched pages
# (and every NEWS entry under Misc/NEWS.d/next) are copied into a temporary
# Sphinx project that uses the conf.py next to this script, and built with
# `sphinx-build -W --keep-going -b html`: any warning fails the build, and
# so does an unresolved reference in the new pages or to the patch set's
# own names (see conf.py), or a line longer than 80 columns in the pages
# written for the patch set.  The HTML goes to OUTDIR if given, else into
# the temporary directory, which is removed afterwards.  Needs sphinx-build
# (Debian: python3-sphinx).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# Pages of Doc/ that the patch set adds or changes.
PAGES="
howto/index.rst
howto/perf_profiling.rst
library/sys.rst
using/cmdline.rst
c-api/utilities.rst
c-api/perfmaps.rst
"

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 CPYTHON_SRC [OUTDIR]" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
if [ ! -d "$src/Doc" ]; then
    echo "$0: $src/Doc: no such directory" >&2
    exit 2
fi
command -v sphinx-build >/dev/null || {
    echo "$0: sphinx-build not found (apt-get install python3-sphinx)" >&2
    exit 2
}

work=$(mktemp -d "${TMPDIR:-/tmp}/perf-docs.XXXXXX")
trap 'rm -rf "$work"' EXIT
proj=$work/src
mkdir -p "$proj"
cp "$here/conf.py" "$proj/conf.py"

for page in $PAGES; do
    if [ ! -f "$src/Doc/$page" ]; then
        echo "$0: missing page Doc/$page" >&2
        exit 1
    fi
    mkdir -p "$proj/$(dirname "$page")"
    cp "$src/Doc/$page" "$proj/$page"
done

# NEWS entries are fragments without a title: include them, renamed so
# that Sphinx does not also read them as documents of their own.
news=$proj/news.rst
{
    echo "NEWS entries of the patch set"
    echo "============================="
} > "$news"
n=0
while IFS= read -r -d '' entry; do
    n=$((n + 1))
    section=$(basename "$(dirname "$entry")")
    cp "$entry" "$proj/news-$n.inc"
    title="$section: $(basename "$entry")"
    printf '\n%s\n%s\n\n.. include:: news-%d.inc\n' \
        "$title" "${title//?/-}" "$n" >> "$news"
done < <(find "$src/Misc/NEWS.d/next" -type f -name '*.rst' -print0 \
             2>/dev/null | sort -z)
if [ "$n" -eq 0 ]; then
    echo "$0: no NEWS entry under Misc/NEWS.d/next" >&2
    exit 1
fi

# Pages written for the patch set keep to 80 columns.
long=$(awk 'length > 80 { print FILENAME ":" FNR ": " length " columns" }' \
           "$src/Doc/howto/perf_profiling.rst" "$src/Doc/c-api/perfmaps.rst" \
           "$proj"/news-*.inc)
if [ -n "$long" ]; then
    echo "$0: lines longer than 80 columns:" >&2
    echo "$long" >&2
    exit 1
fi

cat > "$proj/index.rst" <<'EOF'
Pages touched by the perf support patch set
===========================================

.. toctree::
   :maxdepth: 1

   howto/index
   library/sys
   using/cmdline
   c-api/utilities
   news
EOF

out=${2:-$work/html}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$work/warnings.log
status=0
# -q: only warnings and errors reach stderr; they are also kept in $log.
cd "$work"
PERFDOCS_FULL_DOC="$src/Doc" \
    sphinx-build -W --keep-going -q -b html -d "$work/doctrees" -w "$log" \
    "$proj" "$out" || status=$?
if [ "$status" -ne 0 ] || [ -s "$log" ]; then
    echo "$0: FAILED: Sphinx reported $(wc -l < "$log") warning(s)" \
         "or error(s), exit status $status" >&2
    exit 1
fi
echo "$0: Sphinx build passed without warnings ($n NEWS entries)"
