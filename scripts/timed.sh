#!/usr/bin/env bash
# timed.sh LABEL COMMAND...: runs COMMAND, then prints "== LABEL: N s" (and its exit code if
# not 0) and exits with COMMAND's code. make test uses it for each of its steps.
label=$1
shift
start=$SECONDS
"$@"
rc=$?
echo "== $label: $((SECONDS - start)) s$( ((rc == 0)) || echo ", failed (rc $rc)")"
exit $rc
