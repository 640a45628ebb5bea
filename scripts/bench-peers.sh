#!/usr/bin/env bash
# redisq and BullMQ side by side: the same modes, payload (100 bytes) and private Redis,
# runs interleaved (redisq, BullMQ, redisq, BullMQ, ...), three of each; prints the medians
# and the ratio. BullMQ comes from the npm registry into a temporary folder (needs node and
# npm; `apt-get install nodejs npm` on Debian). Usage: bash scripts/bench-peers.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=3
SCALE=1
if [[ "${1:-}" == "--quick" ]]; then RUNS=1; SCALE=10; fi
command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install redis-server)" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are missing (apt-get install nodejs npm)" >&2; exit 1; }

cargo build --release -q -p redisq-cli
B=$ROOT/target/release/redisq

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
trap 'kill $REDIS_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
URL="redis://127.0.0.1:$PORT"

echo "installing bullmq from the npm registry into $WORK/peer ..." >&2
mkdir -p "$WORK/peer"
cp scripts/peers/bullmq-bench.mjs "$WORK/peer/"
(cd "$WORK/peer" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund bullmq@5 >/dev/null)
BULLMQ_VERSION=$(node -p "require('$WORK/peer/node_modules/bullmq/package.json').version")

# label | arguments shared by both | figures to compare
MODES=(
  "drain c=100|process -n $((100000 / SCALE)) --concurrency 100|tasks_per_second redis.redis_cpu_us_per_task redis.redis_commands_per_task"
  "drain c=10|process -n $((100000 / SCALE)) --concurrency 10|tasks_per_second redis.redis_cpu_us_per_task redis.redis_commands_per_task"
  "enqueue, 1 producer|enqueue -n $((50000 / SCALE)) --concurrency 1|tasks_per_second redis.redis_cpu_us_per_task redis.redis_commands_per_task"
  "enqueue, 8 producers|enqueue -n $((200000 / SCALE)) --concurrency 8|tasks_per_second redis.redis_cpu_us_per_task redis.redis_commands_per_task"
  "bulk enqueue, batches of 100|enqueue -n $((500000 / SCALE)) --concurrency 1 --batch 100|tasks_per_second redis.redis_cpu_us_per_task redis.redis_commands_per_task"
  "pickup at 1000/s|e2e -n $((10000 / SCALE)) --rate 1000 --concurrency 10|latency_ms.p50 latency_ms.p99 redis.redis_cpu_us_per_task redis.redis_commands_per_task"
)

RESULTS=$WORK/results.jsonl
for entry in "${MODES[@]}"; do
  IFS='|' read -r label cmdline _ <<<"$entry"
  for run in $(seq "$RUNS"); do
    redis-cli -p "$PORT" flushall >/dev/null
    # shellcheck disable=SC2086
    "$B" bench $cmdline --redis "$URL" --json | python3 -c 'import json,sys; r=json.load(sys.stdin); r["peer"]="redisq"; r["label"]=sys.argv[1]; print(json.dumps(r))' "$label" >>"$RESULTS"
    # shellcheck disable=SC2086
    node "$WORK/peer/bullmq-bench.mjs" $cmdline --redis "$URL" | python3 -c 'import json,sys; r=json.load(sys.stdin); r["label"]=sys.argv[1]; print(json.dumps(r))' "$label" >>"$RESULTS"
    echo "  $label: run $run done" >&2
  done
done

python3 - "$RESULTS" "$BULLMQ_VERSION" "${MODES[@]}" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
version = sys.argv[2]
def get(r, path):
    for p in path.split("."):
        r = r[p]
    return r
print(f"redisq vs BullMQ {version}, same private Redis, medians of {len([r for r in rows if r['label']==rows[0]['label'] and r['peer']=='redisq'])} interleaved runs")
print(f"| {'mode':<30} | {'figure':<32} | {'redisq':>12} | {'BullMQ':>12} | {'ratio':>8} |")
print(f"|{'-'*32}|{'-'*34}|{'-'*14}|{'-'*14}|{'-'*10}|")
for entry in sys.argv[3:]:
    label, _, figures = entry.split("|")
    for fig in figures.split():
        med = {}
        for peer in ("redisq", "bullmq"):
            vals = [get(r, fig) for r in rows if r["label"] == label and r["peer"] == peer]
            med[peer] = statistics.median(vals)
        # Ratio is always "how many times better redisq is": higher throughput, lower cost.
        better_high = fig == "tasks_per_second"
        ratio = (med["redisq"] / med["bullmq"]) if better_high else (med["bullmq"] / med["redisq"] if med["redisq"] else float("inf"))
        print(f"| {label:<30} | {fig:<32} | {med['redisq']:>12.3f} | {med['bullmq']:>12.3f} | {ratio:>7.2f}x |")
PY
