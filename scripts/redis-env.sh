# shellcheck shell=bash
# Redis servers for the tests: one standalone server and a 3-master Redis Cluster, all on
# 127.0.0.1, on free ports, in a temporary directory. Meant to be sourced:
#
#   . scripts/redis-env.sh
#   redis_env_install          # apt-get installs redis-server and redis-tools if missing
#   trap redis_env_stop EXIT   # stops the servers and removes the directory; safe to repeat
#   redis_env_start            # starts the servers, then exports:
#
#   AGENT_SESSIONS_REDIS_URL           redis://127.0.0.1:PORT/ (the standalone server)
#   AGENT_SESSIONS_REDIS_CLUSTER_URLS  redis://127.0.0.1:P1,redis://127.0.0.1:P2,redis://127.0.0.1:P3
#   AGENT_SESSIONS_REDIS_SERVER_BIN    the redis-server to start further servers with
#   REDIS_ENV_DIR                      the temporary directory (a subdirectory per server,
#                                      each with its redis.log)
#
# scripts/with-redis.sh runs one command between start and stop. REDIS_ENV_TIMEOUT (seconds,
# default 30) bounds each wait. The functions report errors by their return status and leave
# the caller's shell options alone.

# The directory redis_env_start created; redis_env_stop removes only this one.
_REDIS_ENV_STARTED_DIR=${_REDIS_ENV_STARTED_DIR:-}

_redis_env_say() { echo "redis-env: $*" >&2; }

# Installs Debian's redis-server and redis-tools unless both commands are already there.
redis_env_install() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    return 0
  fi
  _redis_env_say "redis-server or redis-cli is missing: installing Debian's redis-server and redis-tools"
  if ! command -v apt-get >/dev/null; then
    _redis_env_say "cannot install: apt-get not found; install redis-server and redis-cli (Redis 7) yourself"
    return 1
  fi
  if [[ $(id -u) -ne 0 ]]; then
    _redis_env_say "cannot install: apt-get needs root; run as root or: sudo apt-get install -y redis-server redis-tools"
    return 1
  fi
  _redis_env_say "running: apt-get update"
  if ! DEBIAN_FRONTEND=noninteractive apt-get update; then
    _redis_env_say "apt-get update failed (see above)"
    return 1
  fi
  _redis_env_say "running: apt-get install -y redis-server redis-tools"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-tools; then
    _redis_env_say "apt-get install failed (see above)"
    return 1
  fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    _redis_env_say "installed redis-server and redis-tools, yet redis-server or redis-cli is not on PATH"
    return 1
  fi
}

# redis-cli against 127.0.0.1, never hanging for long.
_redis_env_cli() { timeout 5 redis-cli -h 127.0.0.1 "$@" 2>/dev/null; }

# Succeeds when every given TCP port on 127.0.0.1 can be bound (with SO_REUSEADDR, as
# redis-server does). Without python3, only checks that nothing is listening there.
_redis_env_ports_free() {
  if command -v python3 >/dev/null && python3 -c '' 2>/dev/null; then
    python3 - "$@" <<'EOF' 2>/dev/null
import socket, sys
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(port)))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
    return
  fi
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 1; fi
  done
}

# Prints a port in 10000..21999 that is free, as is port+10000 (a cluster node's bus port);
# both stay below Linux's usual range of outgoing ports (32768 and up).
_redis_env_free_port() {
  local port _
  for _ in $(seq 1 200); do
    port=$((10000 + RANDOM % 12000))
    if _redis_env_ports_free "$port" $((port + 10000)); then
      echo "$port"
      return 0
    fi
  done
  _redis_env_say "found no free port pair (P, P+10000) on 127.0.0.1 in 200 tries"
  return 1
}

# Succeeds when the server on this port is the one whose data directory is $2.
_redis_env_is_ours() {
  local reply
  reply=$(_redis_env_cli -p "$1" config get dir) || return 1
  [[ $reply == "dir"$'\n'"$2" ]]
}

# Prints an error, the last lines of a log file (if any), stops everything, returns 1.
_redis_env_fail() {
  _redis_env_say "$1"
  if [[ -n ${2:-} && -s $2 ]]; then
    echo "--- last lines of $2:" >&2
    tail -n 25 "$2" >&2
    echo "---" >&2
  fi
  redis_env_stop
  return 1
}

# Starts a daemonized redis-server in $REDIS_ENV_DIR/NAME on a free port, with the given
# extra arguments; prints the port once the server answers. A port lost to someone else
# between the check and the bind is retried with another.
_redis_env_launch() {
  local name=$1 dir port attempt deadline out
  shift
  dir=$_REDIS_ENV_STARTED_DIR/$name
  mkdir -p "$dir" || return 1
  for attempt in 1 2 3 4 5; do
    port=$(_redis_env_free_port) || return 1
    echo "$port" >"$dir/port"
    rm -f "$dir/redis.log"
    if ! out=$(redis-server --bind 127.0.0.1 --port "$port" --protected-mode no \
      --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
      --save "" --appendonly yes "$@" 2>&1); then
      _redis_env_say "redis-server ($name) did not start: $out"
      return 1
    fi
    deadline=$((SECONDS + ${REDIS_ENV_TIMEOUT:-30}))
    until [[ -s $dir/redis.pid ]] && _redis_env_is_ours "$port" "$dir"; do
      if grep -qs 'Failed listening on port' "$dir/redis.log"; then
        _redis_env_say "port $port (or its bus port) was taken meanwhile; retrying ($attempt)"
        continue 2
      fi
      if grep -qs 'aborting' "$dir/redis.log"; then
        _redis_env_say "redis-server ($name, port $port) exited at start"
        return 1
      fi
      if ((SECONDS >= deadline)); then
        _redis_env_say "redis-server ($name, port $port) did not answer within ${REDIS_ENV_TIMEOUT:-30} s"
        return 1
      fi
      sleep 0.1
    done
    echo "$port"
    return 0
  done
  _redis_env_say "redis-server ($name) could not bind a port in 5 attempts"
  return 1
}

# Starts the standalone server and the cluster, waits until they answer, exports the
# variables listed at the top. On failure, stops what it started and returns 1.
redis_env_start() {
  local port ports=() urls=() p i deadline info create_log
  if [[ -n $_REDIS_ENV_STARTED_DIR ]]; then
    _redis_env_say "already started (in $_REDIS_ENV_STARTED_DIR); call redis_env_stop first"
    return 1
  fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    _redis_env_say "redis-server or redis-cli is missing: call redis_env_install first"
    return 1
  fi
  _REDIS_ENV_STARTED_DIR=$(mktemp -d -t agent-sessions-redis.XXXXXX) || return 1
  # Physical path: what the servers report as their dir.
  _REDIS_ENV_STARTED_DIR=$(cd "$_REDIS_ENV_STARTED_DIR" && pwd -P) || return 1
  export REDIS_ENV_DIR=$_REDIS_ENV_STARTED_DIR

  if ! port=$(_redis_env_launch standalone --appendfsync always); then
    _redis_env_fail "standalone server did not come up" "$REDIS_ENV_DIR/standalone/redis.log"
    return 1
  fi

  for i in 1 2 3; do
    if ! p=$(_redis_env_launch "cluster-$i" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 2000); then
      _redis_env_fail "cluster node $i did not come up" "$REDIS_ENV_DIR/cluster-$i/redis.log"
      return 1
    fi
    ports+=("$p")
    urls+=("redis://127.0.0.1:$p")
  done

  create_log=$REDIS_ENV_DIR/cluster-create.log
  if ! timeout "${REDIS_ENV_TIMEOUT:-30}" redis-cli --cluster create \
    "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:${ports[2]}" \
    --cluster-replicas 0 --cluster-yes >"$create_log" 2>&1; then
    _redis_env_fail "redis-cli --cluster create failed or timed out" "$create_log"
    return 1
  fi

  deadline=$((SECONDS + ${REDIS_ENV_TIMEOUT:-30}))
  for i in 0 1 2; do
    while :; do
      info=$(_redis_env_cli -p "${ports[i]}" cluster info) || info=
      if [[ $info == *cluster_state:ok* && $(_redis_env_cli -p "${ports[i]}" ping) == PONG ]]; then
        break
      fi
      if ((SECONDS >= deadline)); then
        _redis_env_fail "cluster node 127.0.0.1:${ports[i]} not ready (cluster_state:ok and PING) within ${REDIS_ENV_TIMEOUT:-30} s" \
          "$REDIS_ENV_DIR/cluster-$((i + 1))/redis.log"
        return 1
      fi
      sleep 0.2
    done
  done

  export AGENT_SESSIONS_REDIS_URL="redis://127.0.0.1:$port/"
  export AGENT_SESSIONS_REDIS_CLUSTER_URLS="${urls[0]},${urls[1]},${urls[2]}"
  AGENT_SESSIONS_REDIS_SERVER_BIN=$(command -v redis-server)
  export AGENT_SESSIONS_REDIS_SERVER_BIN
}

# Succeeds while the process is alive. A zombie counts as gone: a daemonized server's parent
# is PID 1, which may reap late (some container inits never do).
_redis_env_alive() {
  local stat
  if stat=$(cat "/proc/$1/stat" 2>/dev/null); then
    stat=${stat##*) } # the fields after "pid (comm) ", the first being the state
    [[ ${stat:0:1} != Z ]]
  else
    kill -0 "$1" 2>/dev/null
  fi
}

# Waits up to $2 seconds for process $1 to end; succeeds if it did.
_redis_env_wait_gone() {
  local deadline=$((SECONDS + $2))
  while _redis_env_alive "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Stops one server of ours: SHUTDOWN NOSAVE, then SIGTERM and SIGKILL if it lingers or does
# not answer.
_redis_env_stop_one() {
  local dir=$1 port pid="" asked=""
  port=$(cat "$dir/port" 2>/dev/null) || return 0
  [[ -s $dir/redis.pid ]] && pid=$(cat "$dir/redis.pid")
  if _redis_env_is_ours "$port" "$dir"; then
    if [[ -z $pid ]]; then
      pid=$(_redis_env_cli -p "$port" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p') || pid=
    fi
    _redis_env_cli -p "$port" shutdown nosave >/dev/null || true
    asked=1
  fi
  [[ -n $pid ]] || return 0
  # Signal only a redis-server: the pid file may be stale.
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-* ]] || return 0
  if [[ -n $asked ]] && _redis_env_wait_gone "$pid" 10; then return 0; fi
  _redis_env_alive "$pid" || return 0
  _redis_env_say "redis-server $pid (port $port) did not stop on SHUTDOWN NOSAVE: SIGTERM"
  kill -TERM "$pid" 2>/dev/null || true
  _redis_env_wait_gone "$pid" 5 && return 0
  _redis_env_say "redis-server $pid (port $port) still running: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  _redis_env_wait_gone "$pid" 5 || _redis_env_say "redis-server $pid (port $port) survived SIGKILL"
}

# Stops every server redis_env_start started and removes its directory. Safe to call twice,
# or after a start that failed half way.
redis_env_stop() {
  local dir=$_REDIS_ENV_STARTED_DIR server
  [[ -n $dir ]] || return 0
  if [[ -d $dir ]]; then
    for server in "$dir"/*/; do
      if [[ -d $server ]]; then _redis_env_stop_one "${server%/}" || true; fi
    done
    rm -rf "$dir"
  fi
  _REDIS_ENV_STARTED_DIR=
  unset REDIS_ENV_DIR AGENT_SESSIONS_REDIS_URL AGENT_SESSIONS_REDIS_CLUSTER_URLS \
    AGENT_SESSIONS_REDIS_SERVER_BIN
  return 0
}
