#!/usr/bin/env bash
# Runs the same load against sockgate and its peers (bench/peers) in one go
# and writes the comparison into docs/benchmarks.md (between the
# "compare:begin" and "compare:end" markers), with the machine and the
# exact commands. Each server is pinned to core 0, the load tool to core 1.
#
#   bash bench/compare.sh            # full run (about 5 minutes)
#   QUICK=1 bash bench/compare.sh    # fewer messages and connections, for a smoke test
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=${QUICK:-}
subscribers=1000
messages=$([ -n "$quick" ] && echo 300 || echo 2000)
idle=$([ -n "$quick" ] && echo 2000 || echo 10000)
big_idle=$([ -n "$quick" ] && echo 3000 || echo 19000)
cycles=$([ -n "$quick" ] && echo 500 || echo 3000)

echo "building (release)…" >&2
cargo build --release --quiet -p sockgate -p sockgate-bench
export CARGO_TARGET_DIR=$root/target/peers
(cd bench/peers/tungstenite && cargo build --release --quiet)
(cd bench/peers/socketioxide && cargo build --release --quiet)
unset CARGO_TARGET_DIR
(cd bench/peers/node && npm ci --silent --no-audit --no-fund)

work=$(mktemp -d)
results=$work/results.jsonl
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Commands run through taskset directly (it execs them), so that $! is the
# server itself: its pid is what the load tool measures.
core0=() core1=()
if command -v taskset >/dev/null; then core0=(taskset -c 0) core1=(taskset -c 1); fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ulimit -n "$(ulimit -Hn)"

cat >"$work/sockgate.toml" <<'TOML'
# Defaults, but for the per-address and per-connection limits that a load
# tool on one address would trip.
[limits]
connects_per_second_per_ip = 0
max_connections_per_ip = 0
messages_per_second = 1000000
message_burst = 1000000
TOML

# start NAME: starts one server on core 0 and waits for its port.
start() {
  local name=$1 port
  port=$(free_port)
  case $name in
    sockgate) RUST_LOG=warn "${core0[@]}" target/release/sockgate --config "$work/sockgate.toml" --listen "127.0.0.1:$port" >/dev/null 2>&1 & ;;
    tungstenite) "${core0[@]}" target/peers/release/peer-tungstenite --port "$port" >/dev/null & ;;
    socketioxide) "${core0[@]}" target/peers/release/peer-socketioxide --port "$port" >/dev/null & ;;
    node-ws) "${core0[@]}" node bench/peers/node/ws-server.js --port "$port" >/dev/null & ;;
    node-socketio) "${core0[@]}" node bench/peers/node/socketio-server.js --port "$port" >/dev/null & ;;
  esac
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  url=ws://127.0.0.1:$port
}
stop() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; }

# run SERVER LABEL SCENARIO ARGS…: one fresh server, one scenario, one result line.
run() {
  local server=$1 label=$2 scenario=$3
  shift 3
  start "$server"
  local line
  line=$("${core1[@]}" target/release/sockgate-bench "$scenario" --url "$url" --server-pid "$server_pid" "$@" | tail -n 1)
  stop
  echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["server"]=sys.argv[1]; d["label"]=sys.argv[2]; print(json.dumps(d))' "$server" "$label" >>"$results"
  echo "$server $label $scenario: $line" >&2
}

fanout=(--subscribers "$subscribers" --messages "$messages" --payload 100 --window 64)
run sockgate "raw subscribers" fanout "${fanout[@]}" --sub-protocol raw
run tungstenite "raw subscribers" fanout "${fanout[@]}" --sub-protocol raw
run node-ws "raw subscribers" fanout "${fanout[@]}" --sub-protocol raw
run sockgate "socket.io subscribers" fanout "${fanout[@]}" --sub-protocol sio --pub-protocol sio
run socketioxide "socket.io subscribers" fanout "${fanout[@]}" --sub-protocol sio --pub-protocol sio
run node-socketio "socket.io subscribers" fanout "${fanout[@]}" --sub-protocol sio --pub-protocol sio
run sockgate "mixed subscribers" fanout "${fanout[@]}" --sub-protocol mixed

latency=(--subscribers "$subscribers" --messages $([ -n "$quick" ] && echo 60 || echo 300) --payload 100 --rate 20)
run sockgate "raw, 20,000 deliveries/s" fanout "${latency[@]}" --sub-protocol raw
run tungstenite "raw, 20,000 deliveries/s" fanout "${latency[@]}" --sub-protocol raw

for server in sockgate tungstenite node-ws; do
  run "$server" raw idle --connections "$idle" --protocol raw --concurrency 128
  run "$server" raw churn --cycles "$cycles" --protocol raw --concurrency 16
done
for server in sockgate socketioxide node-socketio; do
  run "$server" socket.io idle --connections "$idle" --protocol sio --concurrency 128
  run "$server" socket.io churn --cycles "$cycles" --protocol sio --concurrency 16
done
# Long-polling sessions: two keep-alive HTTP connections each (so half as
# many sessions, for as many connections), a GET always pending.
for server in sockgate node-socketio; do
  run "$server" "socket.io polling" idle --connections "$((idle / 2))" --protocol sio --transport polling --concurrency 128
done
run sockgate "raw, at the fd limit" idle --connections "$big_idle" --protocol raw --concurrency 256 --sources 2 --timeout 300

python3 bench/report.py "$results" "$(nproc)" "$(uname -sr)" "$messages" "$idle" "$big_idle" "$cycles" \
  "$(node --version)" docs/benchmarks.md
echo "wrote docs/benchmarks.md" >&2
