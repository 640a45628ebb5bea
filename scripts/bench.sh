#!/usr/bin/env bash
# Runs every `redisq bench` figure of docs/benchmarks.md three times and prints the median of
# each (needs python3 for the arithmetic). Pass --redis URL to use an existing Redis; by
# default every run starts its own private redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p redisq-cli
B=target/release/redisq
median() { python3 -c 'import json,sys,statistics
runs=[json.loads(l) for l in sys.stdin if l.strip()]
def get(r,path):
    for p in path.split("."): r=r[p]
    return r
for path in sys.argv[1:]:
    print(f"  {path:<40} {statistics.median(get(r,path) for r in runs):>12.3f}   runs: " + ", ".join(f"{get(r,path):.3f}" for r in runs))' "$@"; }
run3() { local label=$1; shift; echo "$label: redisq bench $*"; for _ in 1 2 3; do "$B" bench "$@" --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))'; done; }
{ run3 "drain c=100" process -n 100000 --concurrency 100 "$@"; } | tee /dev/stderr | grep '^{' | median tasks_per_second redis.redis_commands_per_task redis.redis_cpu_us_per_task
{ run3 "drain c=10" process -n 100000 --concurrency 10 "$@"; } | tee /dev/stderr | grep '^{' | median tasks_per_second redis.redis_commands_per_task redis.redis_cpu_us_per_task
{ run3 "enqueue 1 producer" enqueue -n 50000 --concurrency 1 "$@"; } | tee /dev/stderr | grep '^{' | median tasks_per_second redis.redis_commands_per_task redis.redis_cpu_us_per_task
{ run3 "enqueue 8 producers" enqueue -n 200000 --concurrency 8 "$@"; } | tee /dev/stderr | grep '^{' | median tasks_per_second redis.redis_commands_per_task redis.redis_cpu_us_per_task
{ run3 "bulk enqueue, batches of 100" enqueue -n 500000 --concurrency 1 --batch 100 "$@"; } | tee /dev/stderr | grep '^{' | median tasks_per_second redis.redis_commands_per_task redis.redis_cpu_us_per_task
{ run3 "pickup at 1000/s" e2e -n 10000 --rate 1000 "$@"; } | tee /dev/stderr | grep '^{' | median latency_ms.p50 latency_ms.p99 latency_ms.max redis.redis_commands_per_task
{ run3 "scheduled tasks after their due second" scheduled -n 5000 --rate 500 "$@"; } | tee /dev/stderr | grep '^{' | median lateness_after_due_ms.p50 lateness_after_due_ms.p99 lateness_after_due_ms.max
{ run3 "idle server" idle --seconds 10 "$@"; } | tee /dev/stderr | grep '^{' | median redis_commands_per_second
