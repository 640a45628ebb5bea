#!/usr/bin/env bash
# Runs the whole test suite. Each test starts its own Redis servers (standalone, Cluster,
# Sentinel) from the redis-server binary on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
  echo "error: redis-server is not installed. On Debian/Ubuntu: sudo apt-get install redis-server" >&2
  exit 1
fi
# Every feature on, so the tower, tracing and OpenTelemetry tests run too.
cargo test --workspace --all-features --locked "$@"
