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

redis_ports=() redis_prefix=()
source bench/redis.sh
form_redis_cluster 3 1 --cluster-config-file nodes.conf --cluster-node-timeout 2000

target/release/sockgate-bench soak --redis-url "$redis_url" \
  --sockgate-bin target/release/sockgate --js-dir tests/js "$@"
