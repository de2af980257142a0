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
export REF_VERSION=2.0.11
export REF_HOME=${REF_HOME:-/tmp/agentscope-ref-2011}
export REF_PORT=${REF_PORT:-8771}
export REF_REDIS_PORT=${REF_REDIS_PORT:-6471}

# shellcheck source=scripts/agentscope-ref-lib.sh
. scripts/agentscope-ref-lib.sh
ref_start_fresh

export AGENT_SESSIONS_AGENTSCOPE_2011_URL=$ref_url
export AGENT_SESSIONS_REQUIRE_REF=1
cargo test --all-features --test agentscope_2011_diff -- \
  the_real_2011_server_answers_alike --exact --nocapture
