#!/usr/bin/env bash
# Runs a command with a standalone Redis server and a 3-master Redis Cluster on 127.0.0.1
# (see scripts/redis-env.sh for the variables it gets), then stops them, whatever happens.
# Installs Debian's redis-server and redis-tools first if they are missing.
#
#   scripts/with-redis.sh cargo test --all-features
#   scripts/with-redis.sh bash     # a shell to poke at the servers in
#
# Exits with the command's status.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 CMD [ARG...]" >&2
  exit 2
fi

# shellcheck source=scripts/redis-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/redis-env.sh"

trap redis_env_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

redis_env_install
redis_env_start
echo "== redis: standalone on $AGENT_SESSIONS_REDIS_URL, cluster on $AGENT_SESSIONS_REDIS_CLUSTER_URLS" >&2

status=0
"$@" || status=$?
exit "$status"
