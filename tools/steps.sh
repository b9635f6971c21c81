# shellcheck shell=bash
# Step bookkeeping for tools/test.sh and tests/run.sh.  Source after lib.sh.
#
# Each step is a command; exit 0 = passed, 77 = skipped (the automake
# convention), anything else = failed.  Results are appended to $STEPS_LOG,
# which nested runners inherit through the environment, so the outermost
# runner's summary covers every step, wherever it ran.

# steps_begin: become the owner of a new results log, unless a parent
# runner already owns one.
steps_begin() {
    if [ -z "${STEPS_LOG:-}" ]; then
        STEPS_LOG=$(mktemp "${TMPDIR:-/tmp}/perf311-steps.XXXXXX")
        export STEPS_LOG
        STEPS_OWNER=1
    else
        STEPS_OWNER=0
    fi
}

# step NAME COMMAND...: run one step, show and record its result.
step() {
    local name=$1 start=$SECONDS st result
    shift
    printf '\n[step] %s\n' "$name"
    set +e
    "$@"
    st=$?
    set -e
    case $st in
        0) result=PASS ;;
        77) result=SKIP ;;
        *) result=FAIL ;;
    esac
    printf '[step] %s: %s (%ss)\n' "$result" "$name" "$((SECONDS - start))"
    printf '%s %s %s\n' "$result" "$((SECONDS - start))" "$name" >>"$STEPS_LOG"
}

# steps_end: the owner prints the summary, ending with the plain line
# "N passed, N failed" (also written to $STEPS_SUMMARY when that is set),
# and returns 1 if any step failed.  A nested runner returns 0.
steps_end() {
    [ "$STEPS_OWNER" = 1 ] || return 0
    local passed failed skipped line
    passed=$(grep -c '^PASS ' "$STEPS_LOG" || true)
    failed=$(grep -c '^FAIL ' "$STEPS_LOG" || true)
    skipped=$(grep -c '^SKIP ' "$STEPS_LOG" || true)
    printf '\n[step] summary\n'
    while read -r result secs name; do
        printf '%-4s %5ss  %s\n' "$result" "$secs" "$name"
    done <"$STEPS_LOG"
    [ "$skipped" = 0 ] || printf '(%s step(s) skipped)\n' "$skipped"
    rm -f "$STEPS_LOG"
    line="$passed passed, $failed failed"
    [ -z "${STEPS_SUMMARY:-}" ] || echo "$line" >"$STEPS_SUMMARY"
    echo "$line"
    [ "$failed" = 0 ]
}
