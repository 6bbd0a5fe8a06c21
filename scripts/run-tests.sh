#!/usr/bin/env bash
# The README's test command runs this: the whole pytest suite. pytest's exit 5
# (no tests collected) is turned into a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "tinypdm: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
exit "$rc"
