#!/usr/bin/env bash
# Sums Boost.Test XML reports (--report_format=XML --report_sink=FILE) into one closing line,
#   LABEL: N passed, N failed, N skipped
# the plain form CI tools read. Usage: test-report.sh LABEL REPORT.xml...; an empty LABEL
# prints the bare "N passed, N failed, N skipped".
# A missing or unreadable report (a suite that crashed before writing it) counts as one failure.
set -u
label=$1
shift
passed=0 failed=0 skipped=0
attr() { sed -n "s/.*<TestSuite [^>]* $1=\"\([0-9]*\)\".*/\1/p" "$2" | head -n 1; }
for report in "$@"; do
    p=$(attr test_cases_passed "$report" 2>/dev/null)
    if [[ -z "$p" ]]; then
        echo "${label:-tests}: no report in $report (the suite did not finish)" >&2
        failed=$((failed + 1))
        continue
    fi
    f=$(attr test_cases_failed "$report")
    s=$(attr test_cases_skipped "$report")
    passed=$((passed + p))
    failed=$((failed + f))  # aborted and timed-out cases count as failed too
    skipped=$((skipped + s))
done
echo "${label:+$label: }$passed passed, $failed failed, $skipped skipped"
