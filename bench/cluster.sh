#!/usr/bin/env bash
# Measures fan-out on one node and across two nodes sharing one Redis (or,
# with CLUSTER=1, a Redis Cluster of three masters). Starts its own
# redis-server(s) and sockgate processes on free ports (all on 127.0.0.1),
# pins them to core 0 and the load tool to core 1 when taskset is there,
# and prints one JSON result line per run, each followed by the CPU time
# every redis-server spent on it (a cluster: per shard), then what each
# node published by kind of channel (room, node, broadcast), the events
# of recoverable rooms it caught up from Redis or lost, and the
# broadcast share. The last fan-out run spreads subscribers and messages
# over ROOMS rooms (default 64), which a cluster's shards share.
#
#   bash bench/cluster.sh [SUBSCRIBERS] [MESSAGES]
#   ROOMS=256 bash bench/cluster.sh …   rooms of the many-rooms run
#   MANY_MESSAGES=N …                    its messages (default 10 × MESSAGES)
#   RECOVER=1 bash bench/cluster.sh …   every room keeps a history (its cost)
#   CLUSTER=1 bash bench/cluster.sh …   a 3-master Redis Cluster, sharded pub/sub
set -euo pipefail
cd "$(dirname "$0")/.."
subscribers=${1:-200}
messages=${2:-2000}
rooms=${ROOMS:-64}
many_messages=${MANY_MESSAGES:-$((messages * 10))}

cargo build --release --quiet -p sockgate -p sockgate-bench
work=$(mktemp -d)
pids=()
redis_ports=() node_pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# taskset execs the command, so $! is the process itself (a shell function
# in the background would leave its child running when killed).
core0=() core1=()
if command -v taskset >/dev/null; then core0=(taskset -c 0) core1=(taskset -c 1); fi

redis_prefix=("${core0[@]}")
source bench/redis.sh
if [ -n "${CLUSTER:-}" ]; then
  form_redis_cluster 3 0
else
  redis_port=$(free_port)
  start_redis "$redis_port"
  redis_url="redis://127.0.0.1:$redis_port"
fi

start_node() {
  local port=$1 config=$work/node-$1.toml
  printf '[cluster]\nredis_url = "%s"\n[limits]\noutbound_queue = 4096\nmessages_per_second = 1000000\nmessage_burst = 1000000\nconnects_per_second_per_ip = 0\nmax_connections_per_ip = 0\n' "$redis_url" >"$config"
  # RECOVER=1: every room keeps a history (docs/recovery.md), to measure its cost.
  if [ -n "${RECOVER:-}" ]; then printf '[rooms]\nrecover = ["*"]\n' >>"$config"; fi
  RUST_LOG=warn "${core0[@]}" target/release/sockgate --config "$config" --listen "127.0.0.1:$port" &
  pids+=($!) node_pids+=(--server-pid "$!")
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
}
a=$(free_port); start_node "$a"
b=$(free_port); start_node "$b"

# CPU seconds (user + system) each redis-server has used so far, as Redis
# counts them (INFO cpu, microsecond precision).
redis_cpu() {
  for port in "${redis_ports[@]}"; do
    redis-cli -p "$port" info cpu | tr -d '\r' |
      awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.4f ", s}'
  done
}
# Runs a scenario and prints its result, then each Redis's CPU for it.
measured() { # LABEL COMMAND…
  local label=$1; shift
  local before after result
  before=($(redis_cpu))
  result=$("$@" | tail -n 1)
  after=($(redis_cpu))
  local spent=()
  for i in "${!before[@]}"; do spent+=("$(python3 -c "print(round(${after[$i]} - ${before[$i]}, 4))")"); done
  echo "$label $result"
  echo "  redis cpu seconds (per process): ${spent[*]}"
}
# Server CPU is both nodes' together.
bench() { "${core1[@]}" target/release/sockgate-bench fanout "${node_pids[@]}" --subscribers "$subscribers" "$@"; }
measured "one node:   " bench --messages "$messages" --pub-url "ws://127.0.0.1:$a" --url "ws://127.0.0.1:$a" --room one
measured "cross-node: " bench --messages "$messages" --pub-url "ws://127.0.0.1:$a" --url "ws://127.0.0.1:$b" --room cross
measured "both nodes: " bench --messages "$messages" --pub-url "ws://127.0.0.1:$a" --url "ws://127.0.0.1:$a" --url "ws://127.0.0.1:$b" --room both
# Many rooms, subscribers on both nodes, publishers on A: the traffic a
# cluster spreads over its shards (one room's channel lives on one shard).
measured "many rooms: " bench --pub-url "ws://127.0.0.1:$a" --url "ws://127.0.0.1:$a" --url "ws://127.0.0.1:$b" --room many --rooms "$rooms" --publishers 4 --messages "$many_messages"
# Connect, join, publish (acked), disconnect, over both nodes: every join is
# to a room its node has no member in, so its ack waits for the subscription.
measured "churn:      " "${core1[@]}" target/release/sockgate-bench churn "${node_pids[@]}" --url "ws://127.0.0.1:$a" --url "ws://127.0.0.1:$b" --cycles 3000 --protocol raw --concurrency 16
# What each node published, by kind of channel: the broadcast share is what
# every node must read whatever its clients. (The sender may still be
# draining what the last run queued: give it a moment.)
sleep 1
for node in "$a" "$b"; do
  curl -sSf "http://127.0.0.1:$node/metrics" | python3 -c '
import re, sys
counts = {k: 0 for k in ("room", "node", "broadcast")}
other = {}
for line in sys.stdin:
    m = re.match(r"sockgate_cluster_published_total\{channel=\"(\w+)\"\} (\S+)", line)
    if m:
        counts[m.group(1)] = int(float(m.group(2)))
    m = re.match(r"sockgate_cluster_(caught_up|lost)_total (\S+)", line)
    if m:
        other[m.group(1)] = int(float(m.group(2)))
total = sum(counts.values())
share = counts["broadcast"] / total if total else 0.0
print(f"published on node '"$node"': {counts} broadcast share {share:.2%}; caught up / lost: {other}")
'
done
