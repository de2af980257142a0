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
export REF_VERSION=2.0.0
export REF_HOME=${REF_HOME:-/tmp/agentscope-ref-import}
export REF_PORT=${REF_PORT:-8741}
export REF_REDIS_PORT=${REF_REDIS_PORT:-6441}

# shellcheck source=scripts/agentscope-ref-lib.sh
. scripts/agentscope-ref-lib.sh
ref_start_fresh

export AGENT_SESSIONS_AGENTSCOPE_REF_URL=$ref_url
export AGENT_SESSIONS_AGENTSCOPE_REF_REDIS_URL=redis://127.0.0.1:$REF_REDIS_PORT
export AGENT_SESSIONS_REQUIRE_REF=1
cargo test --all-features --test import_agentscope -- \
  reference_redis_imports_to_the_same_list_answer --exact --nocapture
