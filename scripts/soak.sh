#!/usr/bin/env bash
# Soak run of the server on a durable directory, on loopback only, bounded in time: mixed
# writes and reads from 4 clients, the server SIGKILLed and restarted at random moments (in
# the first 60% of the run), RSS and open fds sampled every 0.5 s; at the end every
# acknowledged write is checked after a clean restart, each list's total against its length
# and its order, and RSS and fds for an upward trend over the steady part. See
# examples/soak.rs.
#
#   scripts/soak.sh                    # 10 minutes
#   SOAK_SECONDS=30 scripts/soak.sh    # the CI mode
#   SOAK_PROFILE=release scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_PROFILE=${SOAK_PROFILE:-dev}
dir=debug
flags=()
if [[ $SOAK_PROFILE == release ]]; then dir=release; flags=(--release); fi
cargo build "${flags[@]}" --quiet --all-features --bin agent-sessions --example soak
exec "target/$dir/examples/soak" "target/$dir/agent-sessions" "$SOAK_SECONDS"
