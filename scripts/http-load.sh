#!/usr/bin/env bash
# Load test of GET /sessions/ for an agent with 20 sessions: this crate's server and the
# reference (AgentScope 2.0.0 on Redis, ../shared/reference/agentscope-ref) in one run, with
# the same wrk settings. Prints a markdown table for BENCHMARKS.md.
#
#   scripts/http-load.sh            # 10 s per server, 2 wrk threads, 32 connections
#   DURATION=30s CONNECTIONS=64 scripts/http-load.sh
#
# Needs wrk (Debian's package: apt-get install wrk) and, for the reference, what
# agentscope-ref installs itself (Redis, Python packages).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
OURS_ADDR=${OURS_ADDR:-127.0.0.1:8711}
REF=../shared/reference/agentscope-ref

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release --features server --quiet
./target/release/agent-sessions serve --addr "$OURS_ADDR" >/tmp/agent-sessions-load.log 2>&1 &
ours_pid=$!
trap 'kill $ours_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://$OURS_ADDR/healthz" >/dev/null && break; sleep 0.1; done
ref_url=$("$REF" start | tail -n 1)

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

# wrk against one server; prints a table row.
load() {
  local name=$1 base=$2 user=$3 agent=$4 out
  curl -sf -H "x-user-id: $user" "$base/sessions/?agent_id=$agent" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["total"] == 20 == len(d["sessions"]), d["total"]'
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "x-user-id: $user" \
    "$base/sessions/?agent_id=$agent")
  echo "$out" >&2
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
ref_agent=$(seed "$ref_url" "$user")
echo "| server | req/s | p50 | p90 | p99 | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|"
load "agent-sessions (release)" "http://$OURS_ADDR" "$user" "$ours_agent"
load "AgentScope 2.0.0 on Redis" "$ref_url" "$user" "$ref_agent"
