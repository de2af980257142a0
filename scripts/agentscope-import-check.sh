#!/usr/bin/env bash
# Imports the real AgentScope 2.0.0 server's Redis and compares list answers: starts the
# reference (../shared/reference/agentscope-ref: AgentScope's FastAPI app on a Redis of its
# own) on ports of its own, points the gated test `reference_redis_imports_to_the_same_list_answer`
# (tests/import_agentscope.rs) at it, and stops the reference on exit, whatever happens.
#
#   scripts/agentscope-import-check.sh
#   REF_PORT=8751 REF_REDIS_PORT=6451 scripts/agentscope-import-check.sh
#
# The first run installs agentscope==2.0.0 into $REF_HOME/venv (pip: minutes); later runs
# reuse it. Needs redis-server (agentscope-ref installs it with apt if missing) and python3.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
REF=${AGENTSCOPE_REF:-../shared/reference/agentscope-ref}
export REF_VERSION=2.0.0
export REF_HOME=${REF_HOME:-/tmp/agentscope-ref-import}
export REF_PORT=${REF_PORT:-8741}
export REF_REDIS_PORT=${REF_REDIS_PORT:-6441}

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
ref_url=$("$REF" start | tail -n 1)
app_pid=$(cat "$REF_HOME/app.pid")
for _ in $(seq 1 50); do
  kill -0 "$app_pid" 2>/dev/null || { echo "the reference app exited: see $REF_HOME/app.log" >&2; exit 1; }
  curl -sf -o /dev/null -H 'x-user-id: probe' "$ref_url/agent/" && break
  sleep 0.2
done
echo "reference AgentScope $REF_VERSION at $ref_url, its Redis on port $REF_REDIS_PORT" \
  "(ready after $(($(date +%s) - started)) s, install included)" >&2

export AGENT_SESSIONS_AGENTSCOPE_REF_URL=$ref_url
export AGENT_SESSIONS_AGENTSCOPE_REF_REDIS_URL=redis://127.0.0.1:$REF_REDIS_PORT
export AGENT_SESSIONS_REQUIRE_REF=1
cargo test --all-features --test import_agentscope -- \
  reference_redis_imports_to_the_same_list_answer --exact --nocapture
