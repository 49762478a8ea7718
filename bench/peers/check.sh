#!/usr/bin/env bash
# Starts each benchmark peer on a free 127.0.0.1 port, runs check-peer.js
# against it for its contract, stops it, and prints one PASS/FAIL line per
# peer. Exits non-zero when any peer failed.
#
#   bash bench/peers/check.sh [--no-build] [PEER...]
#
# PEER is any of: node-socketio node-ws tungstenite socketioxide (default: all).
# Without --no-build the Rust peers are built first (cargo build --release,
# CARGO_TARGET_DIR=target/peers at the repository root, one job).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/peers}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

build=1
peers=()
for arg in "$@"; do
  case $arg in
    --no-build) build=0 ;;
    node-socketio | node-ws | tungstenite | socketioxide) peers+=("$arg") ;;
    *) echo "usage: bash bench/peers/check.sh [--no-build] [node-socketio|node-ws|tungstenite|socketioxide ...]" >&2; exit 2 ;;
  esac
done
[ ${#peers[@]} -gt 0 ] || peers=(node-socketio node-ws tungstenite socketioxide)

if [ ! -d "$here/node/node_modules/ws" ] || [ ! -d "$here/node/node_modules/socket.io" ]; then
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed in bench/peers/node" >&2; exit 1; }
fi
if [ ! -d "$root/tests/js/node_modules/socket.io-client" ]; then
  echo "tests/js/node_modules/socket.io-client is missing: run 'npm ci' in tests/js" >&2
  exit 1
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

failed=0
for peer in "${peers[@]}"; do
  case $peer in
    node-socketio) contract=sio; cmd=(node "$here/node/socketio-server.js") ;;
    node-ws) contract=raw; cmd=(node "$here/node/ws-server.js") ;;
    tungstenite | socketioxide)
      if [ $peer = tungstenite ]; then contract=raw; else contract=sio; fi
      if [ $build = 1 ]; then
        if ! (cd "$here/$peer" && cargo build --release --quiet) >"$work/build.log" 2>&1; then
          echo "FAIL $peer ($contract contract): cargo build failed (log below, on stderr)"
          tail -20 "$work/build.log" | sed 's/^/    /' >&2
          failed=1
          continue
        fi
      fi
      cmd=("$CARGO_TARGET_DIR/release/peer-$peer")
      ;;
  esac

  out="$work/$peer.out"
  : >"$out"
  "${cmd[@]}" --port 0 >"$out" 2>"$work/$peer.err" &
  pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening \([0-9][0-9]*\)$/\1/p' "$out" | head -1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  problem=
  if [ -z "$port" ]; then
    problem="no 'listening <port>' line: $(tail -3 "$work/$peer.err" | tr '\n' ' ')"
  elif ! node "$here/check-peer.js" --contract "$contract" --port "$port" 2>"$work/check.err"; then
    problem=$(tr -s '\n' ' ' <"$work/check.err")
  elif [ "$(wc -l <"$out")" -ne 1 ]; then
    problem="printed $(wc -l <"$out") lines on stdout, want exactly 1"
  fi

  # SIGTERM must stop it promptly.
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    problem="${problem:+$problem; }still running 5 s after SIGTERM"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  pid=

  if [ -z "$problem" ]; then
    echo "PASS $peer ($contract contract)"
  else
    echo "FAIL $peer ($contract contract): $problem"
    failed=1
  fi
done
exit $failed
