# Shared by the bench scripts (sourced, not run): free loopback ports and
# redis-server processes, a Redis Cluster among them. The caller defines
# `pids` and `redis_ports` (arrays) and `work` (a scratch directory), and
# may set `redis_prefix` (an array, e.g. a taskset command) to pin Redis.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts redis-server on PORT with ARGS and waits until it answers.
start_redis() { # PORT [ARGS…]
  local port=$1; shift
  "${redis_prefix[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no "$@" >/dev/null &
  pids+=($!) redis_ports+=("$port")
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# Forms a Redis Cluster of MASTERS masters with REPLICAS replicas each
# (extra redis-server ARGS for every node), waits until every node agrees
# and every replica has synced, and sets `redis_url` to reach it.
form_redis_cluster() { # MASTERS REPLICAS [ARGS…]
  local masters=$1 replicas=$2; shift 2
  local seeds=() port bus ok
  for i in $(seq $((masters * (replicas + 1)))); do
    port=$(free_port) bus=$(free_port)
    mkdir -p "$work/redis-$i"
    start_redis "$port" --cluster-enabled yes --cluster-port "$bus" --dir "$work/redis-$i" "$@"
    seeds+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${seeds[@]}" --cluster-replicas "$replicas" --cluster-yes >/dev/null
  for _ in $(seq 300); do
    ok=1
    for seed in "${seeds[@]}"; do
      redis-cli -p "${seed#*:}" cluster info | grep -q cluster_state:ok || ok=
      # A replica that has not synced could not take over.
      redis-cli -p "${seed#*:}" info replication | grep -Eq 'role:master|master_link_status:up' || ok=
    done
    [ -n "$ok" ] && break; sleep 0.2
  done
  [ -n "$ok" ] || { echo "the Redis Cluster did not form" >&2; return 1; }
  redis_url="redis-cluster://${seeds[0]}?node=${seeds[1]}&node=${seeds[2]}"
}
