# shellcheck shell=bash
# Starting the real AgentScope server for a check, shared by the scripts that compare against
# it (scripts/agentscope-import-check.sh, scripts/agentscope-2011-diff.sh). Source it with
# REF_VERSION, REF_HOME, REF_PORT and REF_REDIS_PORT set, then call ref_start_fresh: it stops
# the reference on exit (a trap), and sets ref_url once the app answers.

REF=${AGENTSCOPE_REF:-../shared/reference/agentscope-ref}

# Whether something listens on 127.0.0.1:$1.
ref_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ref_start_fresh() {
  [[ -x $REF ]] || { echo "agentscope-ref not found at $REF (set AGENTSCOPE_REF)" >&2; return 1; }
  trap '"$REF" stop >/dev/null 2>&1 || true' EXIT
  trap 'exit 130' INT TERM
  # agentscope-ref start stops a previous run and probes the new one at once, so its probe can
  # be answered by the old app still shutting down: stop first and wait for the ports to free.
  "$REF" stop >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do
    ref_listening "$REF_PORT" || ref_listening "$REF_REDIS_PORT" || break
    sleep 0.1
  done
  if ref_listening "$REF_PORT" || ref_listening "$REF_REDIS_PORT"; then
    echo "port $REF_PORT or $REF_REDIS_PORT is taken by another process: set REF_PORT/REF_REDIS_PORT" >&2
    return 1
  fi
  local started app_pid ready=""
  started=$(date +%s)
  # Some versions' apps take longer to import than agentscope-ref's own probe waits (20 s): a
  # failed probe is not the end, the app's pid and the wait below decide.
  "$REF" start >/dev/null || true
  ref_url=$("$REF" url)
  [[ -f $REF_HOME/app.pid ]] || { echo "the reference did not start: see $REF_HOME/app.log" >&2; return 1; }
  app_pid=$(cat "$REF_HOME/app.pid")
  for _ in $(seq 1 600); do
    kill -0 "$app_pid" 2>/dev/null || { echo "the reference app exited: see $REF_HOME/app.log" >&2; return 1; }
    if curl -sf -o /dev/null -H 'x-user-id: probe' "$ref_url/agent/"; then ready=1; break; fi
    sleep 0.2
  done
  [[ -n $ready ]] || { echo "the reference did not answer within 2 minutes: see $REF_HOME/app.log" >&2; return 1; }
  echo "reference AgentScope $REF_VERSION at $ref_url, its Redis on port $REF_REDIS_PORT" \
    "(ready after $(($(date +%s) - started)) s, install included)" >&2
}
