#!/usr/bin/env bash
# A soak under faults: starts a Redis Cluster of three masters and three
# replicas on free loopback ports, then `sockgate-bench soak`, which starts
# three sockgate nodes (release build) over it, runs a mixed fleet (raw
# WebSocket, socket.io v4 over websocket and polling, socket.io v2) in
# recoverable rooms, SIGKILLs a Redis master at 30 % of the run and a
# sockgate node at 55 % (restarted 5 s later), and prints its JSON result
# as the last line. See docs/clustering.md#a-soak-under-faults.
#
#   bash bench/soak.sh                      10 minutes, the default fleet
#   bash bench/soak.sh --duration 60 --raw 6 --v4-websocket 3 --v4-polling 2 --v2 2
#   (any `sockgate-bench soak` flag; `--help` lists them)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p sockgate -p sockgate-bench
(cd tests/js && npm ls socket.io-client socket.io-client-v2 >/dev/null 2>&1) \
  || (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

seeds=()
for i in 1 2 3 4 5 6; do
  port=$(free_port) bus=$(free_port)
  mkdir -p "$work/redis-$i"
  redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 --save "" --appendonly no \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --dir "$work/redis-$i" >/dev/null &
  pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  seeds+=("127.0.0.1:$port")
done
redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
# Every node agrees, and every replica has synced (or it could not take over).
for _ in $(seq 300); do
  ok=1
  for seed in "${seeds[@]}"; do
    redis-cli -p "${seed#*:}" cluster info | grep -q cluster_state:ok || ok=
    redis-cli -p "${seed#*:}" info replication | grep -Eq 'role:master|master_link_status:up' || ok=
  done
  [ -n "$ok" ] && break; sleep 0.2
done
[ -n "$ok" ] || { echo "the Redis Cluster did not form" >&2; exit 1; }
redis_url="redis-cluster://${seeds[0]}?node=${seeds[1]}&node=${seeds[2]}"

target/release/sockgate-bench soak --redis-url "$redis_url" \
  --sockgate-bin target/release/sockgate --js-dir tests/js "$@"
