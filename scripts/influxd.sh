#!/usr/bin/env bash
# scripts/influxd.sh start|stop DIR: a private influxd on a free loopback port (used by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m vibration.telemetry.stores.influxd_process "$@"
