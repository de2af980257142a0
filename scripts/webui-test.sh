#!/usr/bin/env bash
# AgentScope's own web UI (v2.0.0, built: ../shared/reference/agentscope-webui-2.0.0, or
# $WEBUI_DIR) against `agent-sessions serve`, in headless Chromium (tests/webui/walk.py):
#
#   1. same origin: the UI and the API behind one origin (tests/webui/serve_ui.py serves the
#      UI's files and page loads, and passes the UI's API calls to the server);
#   2. cross origin, without CORS: the UI must fail to reach the server (a negative control);
#   3. cross origin with `serve --cors-origin <the UI's origin>`: the whole walk again.
#
# Installs what it needs: Debian's chromium and chromium-driver if missing, selenium into a
# venv under target/. Prints a SKIPPED line and exits 0 when the UI or the browser cannot be
# had; exits non-zero when a walk fails (screenshots in the temp dir it prints). Stops every
# process it started on exit. Run from anywhere: bash scripts/webui-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
UI_DIR=${WEBUI_DIR:-../shared/reference/agentscope-webui-2.0.0}
VENV=target/webui-venv
pids=()
tmp=$(mktemp -d -t agent-sessions-webui.XXXXXX)

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

skip() {
  echo "webui-test: SKIPPED: $*"
  exit 0
}

[[ -f $UI_DIR/index.html ]] || skip "the built web UI is not at $UI_DIR (set WEBUI_DIR)"

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver"
  { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } \
    || skip "cannot install Debian's chromium and chromium-driver"
fi
if ! "$VENV/bin/python" -c 'import selenium' 2>/dev/null; then
  echo "== installing selenium into $VENV"
  { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q selenium; } \
    || skip "cannot install selenium from PyPI"
fi

# All features, as `cargo test --all-features` builds the binary: after the tests (in CI) this
# is no new build.
echo "== building agent-sessions"
cargo build -q --all-features --bin agent-sessions
BIN=target/debug/agent-sessions

# Starts a command in the background, logging to $tmp/NAME.log; waits for its first line
# "<prefix>URL" and sets $url to URL.
start() {
  local name=$1 prefix=$2
  shift 2
  : >"$tmp/$name.log"
  "$@" >>"$tmp/$name.log" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 1 300); do
    url=$(sed -n "s|^$prefix||p" "$tmp/$name.log" | head -1)
    [[ -n $url ]] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "webui-test: $name did not start:" >&2
  cat "$tmp/$name.log" "$tmp/$name.err" >&2
  exit 1
}

walk() {
  local name=$1
  shift
  echo "== $name"
  "$VENV/bin/python" tests/webui/walk.py --shots "$tmp" --name "$name" "$@"
}

start plain-api "listening on " "$BIN" serve --addr 127.0.0.1:0
plain_api=$url
start ui "serving on " python3 tests/webui/serve_ui.py "$UI_DIR" --api "$plain_api"
ui=$url
start cors-api "listening on " "$BIN" serve --addr 127.0.0.1:0 --cors-origin "$ui"
cors_api=$url
echo "== UI on $ui; servers: $plain_api (no CORS), $cors_api (--cors-origin $ui); files in $tmp"

failed=0
walk same-origin --ui "$ui" --server-url "$ui" --api "$plain_api" \
  --screenshot "$tmp/same-origin.png" || failed=1
walk cross-origin-without-cors --ui "$ui" --server-url "$plain_api" --api "$plain_api" \
  --expect-blocked || failed=1
walk cross-origin-with-cors --ui "$ui" --server-url "$cors_api" --api "$cors_api" \
  --screenshot "$tmp/cross-origin.png" || failed=1

took=$(($(date +%s) - started))
if ((failed)); then
  echo "webui-test: FAILED in ${took}s (screenshots and logs in $tmp)"
  exit 1
fi
rm -rf "$tmp"
echo "webui-test: took ${took}s"
echo "webui-test: 3 passed, 0 failed"
