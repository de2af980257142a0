#!/usr/bin/env bash
# Load test of GET /sessions/ for an agent with 20 sessions: this crate's server in memory,
# this crate's server on Redis (the reference's own Redis server, under our own key prefix)
# and the reference (AgentScope 2.0.0 on Redis, ../shared/reference/agentscope-ref) in one
# run, with the same wrk settings. Prints a markdown table for BENCHMARKS.md, and the ratio
# of each of ours to the reference's requests per second.
#
#   scripts/http-load.sh            # 10 s per server, 2 wrk threads, 32 connections
#   DURATION=30s CONNECTIONS=64 scripts/http-load.sh
#   WITH_REDIS=0 scripts/http-load.sh   # only ours in memory and the reference, as before
#
# Ours on Redis: `serve --redis redis://127.0.0.1:$REF_REDIS_PORT/ --redis-prefix load`, the
# Redis that agentscope-ref starts (REF_REDIS_PORT, default 6391), so both Redis-backed
# servers run on the same Redis server.
#
# Needs wrk (Debian's package: apt-get install wrk) and, for the reference, what
# agentscope-ref installs itself (Redis, Python packages). Every process it starts (our
# servers, the reference and its Redis) is stopped on exit.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
OURS_ADDR=${OURS_ADDR:-127.0.0.1:8711}
OURS_REDIS_ADDR=${OURS_REDIS_ADDR:-127.0.0.1:8712}
WITH_REDIS=${WITH_REDIS:-1}
REF_REDIS_PORT=${REF_REDIS_PORT:-6391}
export REF_REDIS_PORT
REF=../shared/reference/agentscope-ref

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
if [[ $WITH_REDIS == 1 ]]; then
  cargo build --release --features server,redis --quiet
else
  cargo build --release --features server --quiet
fi

ours_pid="" ours_redis_pid="" ref_started=""
cleanup() {
  local pid
  for pid in $ours_pid $ours_redis_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $ref_started ]]; then
    # agentscope-ref stop signals the app and its Redis by their recorded PIDs; wait for them.
    local home=${REF_HOME:-/tmp/agentscope-ref} pids="" f
    for f in app redis; do [[ -s $home/$f.pid ]] && pids+=" $(cat "$home/$f.pid")"; done
    "$REF" stop >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do
      local alive=""
      for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [[ -z $alive ]] && break
      sleep 0.1
    done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits until our server at $1 answers /healthz with 200.
wait_healthy() {
  for _ in $(seq 1 100); do
    curl -sf "http://$1/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "our server at $1 did not become healthy" >&2
  return 1
}

./target/release/agent-sessions serve --addr "$OURS_ADDR" >/tmp/agent-sessions-load.log 2>&1 &
ours_pid=$!
wait_healthy "$OURS_ADDR"
ref_started=1
ref_url=$("$REF" start | tail -n 1)
if [[ $WITH_REDIS == 1 ]]; then
  # On the reference's Redis (started just above), under our own prefix.
  ./target/release/agent-sessions serve --addr "$OURS_REDIS_ADDR" \
    --redis "redis://127.0.0.1:$REF_REDIS_PORT/" --redis-prefix load \
    >/tmp/agent-sessions-load-redis.log 2>&1 &
  ours_redis_pid=$!
  wait_healthy "$OURS_REDIS_ADDR"
fi

# An agent with 20 sessions on a server; prints the agent id.
seed() {
  local base=$1 user=$2 agent
  # A server just started may answer its first requests with an error: retry for a while.
  for _ in $(seq 1 50); do
    agent=$(curl -sf -H "x-user-id: $user" -H 'content-type: application/json' \
      -X POST "$base/agent/" -d '{"name":"load"}' || true)
    [[ -n $agent ]] && break
    sleep 0.2
  done
  agent=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["agent_id"])' <<<"$agent")
  for i in $(seq 1 20); do
    curl -sf -o /dev/null -H "x-user-id: $user" -H 'content-type: application/json' \
      -X POST "$base/sessions/" -d "{\"agent_id\":\"$agent\",\"name\":\"session $i\",\"workspace_id\":\"ws-1\"}"
  done
  echo "$agent"
}

# Requests per second of each server, by name, for the ratios.
declare -A RPS

# wrk against one server; prints a table row.
load() {
  local name=$1 base=$2 user=$3 agent=$4 out
  curl -sf -H "x-user-id: $user" "$base/sessions/?agent_id=$agent" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["total"] == 20 == len(d["sessions"]), d["total"]'
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "x-user-id: $user" \
    "$base/sessions/?agent_id=$agent")
  echo "$out" >&2
  RPS[$name]=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' <<<"$out")
  python3 - "$name" <<PY
import re, sys
out = """$out"""
def lat(p):
    m = re.search(r"^\s+%s%%\s+(\S+)" % p, out, re.M)
    return m.group(1) if m else "?"
rps = re.search(r"Requests/sec:\s+(\S+)", out).group(1)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
errors = re.search(r"Socket errors:.*", out)
print(f"| {sys.argv[1]} | {float(rps):,.0f} | {lat(50)} | {lat(90)} | {lat(99)} | "
      f"{non2xx.group(1) if non2xx else 0} | {errors.group(0) if errors else 'none'} |")
PY
}

user="load-$(date +%s)"
ours_agent=$(seed "http://$OURS_ADDR" "$user")
[[ $WITH_REDIS == 1 ]] && ours_redis_agent=$(seed "http://$OURS_REDIS_ADDR" "$user")
ref_agent=$(seed "$ref_url" "$user")
echo "| server | req/s | p50 | p90 | p99 | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|"
load "agent-sessions (release)" "http://$OURS_ADDR" "$user" "$ours_agent"
if [[ $WITH_REDIS == 1 ]]; then
  load "agent-sessions (release) on Redis" "http://$OURS_REDIS_ADDR" "$user" "$ours_redis_agent"
fi
load "AgentScope 2.0.0 on Redis" "$ref_url" "$user" "$ref_agent"
echo
for name in "agent-sessions (release)" "agent-sessions (release) on Redis"; do
  [[ -n ${RPS[$name]:-} ]] || continue
  python3 -c 'import sys; print(f"{sys.argv[1]}: {float(sys.argv[2]) / float(sys.argv[3]):.1f}x the reference'"'"'s requests per second")' \
    "$name" "${RPS[$name]}" "${RPS[AgentScope 2.0.0 on Redis]}"
done
