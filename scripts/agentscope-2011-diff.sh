#!/usr/bin/env bash
# Runs `agent-sessions serve --agentscope 2.0.11` and the real AgentScope 2.0.11 server side
# by side: starts the reference (../shared/reference/agentscope-ref with REF_VERSION=2.0.11:
# AgentScope's FastAPI app on a Redis of its own) on ports of its own, points the gated test
# `the_real_2011_server_answers_alike` (tests/agentscope_2011_diff.rs) at it, which sends the
# same requests to both and compares the answers, and stops the reference on exit, whatever
# happens.
#
#   scripts/agentscope-2011-diff.sh
#   REF_PORT=8781 REF_REDIS_PORT=6481 scripts/agentscope-2011-diff.sh
#
# The first run installs agentscope==2.0.11 into $REF_HOME/venv (pip: minutes); later runs
# reuse it. Needs redis-server (agentscope-ref installs it with apt if missing) and python3.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
REF=${AGENTSCOPE_REF:-../shared/reference/agentscope-ref}
export REF_VERSION=2.0.11
export REF_HOME=${REF_HOME:-/tmp/agentscope-ref-2011}
export REF_PORT=${REF_PORT:-8771}
export REF_REDIS_PORT=${REF_REDIS_PORT:-6471}

[[ -x $REF ]] || { echo "agentscope-ref not found at $REF (set AGENTSCOPE_REF)" >&2; exit 1; }
trap '"$REF" stop >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM

# Whether something listens on 127.0.0.1:$1.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# agentscope-ref start stops a previous run and probes the new one at once, so its probe can
# be answered by the old app still shutting down: stop first and wait for the ports to free.
"$REF" stop >/dev/null 2>&1 || true
for _ in $(seq 1 100); do
  listening "$REF_PORT" || listening "$REF_REDIS_PORT" || break
  sleep 0.1
done
if listening "$REF_PORT" || listening "$REF_REDIS_PORT"; then
  echo "port $REF_PORT or $REF_REDIS_PORT is taken by another process: set REF_PORT/REF_REDIS_PORT" >&2
  exit 1
fi

started=$(date +%s)
# 2.0.11's app takes longer to import than agentscope-ref's own probe waits (20 s): a failed
# probe is not the end, the app's pid and the wait below decide.
"$REF" start >/dev/null || true
ref_url=$("$REF" url)
[[ -f $REF_HOME/app.pid ]] || { echo "the reference did not start: see $REF_HOME/app.log" >&2; exit 1; }
app_pid=$(cat "$REF_HOME/app.pid")
ready=""
for _ in $(seq 1 600); do
  kill -0 "$app_pid" 2>/dev/null || { echo "the reference app exited: see $REF_HOME/app.log" >&2; exit 1; }
  if curl -sf -o /dev/null -H 'x-user-id: probe' "$ref_url/agent/"; then ready=1; break; fi
  sleep 0.2
done
[[ -n $ready ]] || { echo "the reference did not answer within 2 minutes: see $REF_HOME/app.log" >&2; exit 1; }
echo "reference AgentScope $REF_VERSION at $ref_url, its Redis on port $REF_REDIS_PORT" \
  "(ready after $(($(date +%s) - started)) s, install included)" >&2

export AGENT_SESSIONS_AGENTSCOPE_2011_URL=$ref_url
export AGENT_SESSIONS_REQUIRE_REF=1
cargo test --all-features --test agentscope_2011_diff -- \
  the_real_2011_server_answers_alike --exact --nocapture
