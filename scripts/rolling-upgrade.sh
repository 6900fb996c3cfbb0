#!/usr/bin/env bash
# Rolling upgrade of a connector cluster (several nodes on one PostgreSQL ledger behind HAProxy),
# one node at a time: drain it (SIGTERM: new Prepares get T03, /health/ready answers 503 so
# HAProxy sends it no new connections, in-flight packets finish, it exits 0 and its peers
# reconnect through HAProxy to another node), start the new release, wait until it is ready and
# HAProxy has it UP again, then the next node. Stops at the first node that does not come back.
#
# Docker Compose (docker-compose-cluster.yml; the guide's Method 3 loop, done for you):
#   IMAGE_TAG=v2.0.1 ./scripts/rolling-upgrade.sh [--nodes "connector-1 connector-2 connector-3"]
# Bare processes (each node: NAME=HTTP_URL=PID_FILE; {node} in --start is replaced by NAME):
#   ./scripts/rolling-upgrade.sh --mode bare \
#     --node n1=http://10.0.0.1:8080=/run/m2m/n1.pid --node n2=… --node n3=… \
#     --start '/opt/m2m/releases/v2.0.1/m2m-connector run --config /etc/m2m/{node}.yaml' [--log-dir /var/log/m2m]
# Common: HAPROXY_ADMIN=host:port (runtime API; with it the script waits until HAProxy reports the
#   node UP in HAPROXY_BACKEND, default be_btp; the HAProxy server names are the node names),
#   --timeout S (per node: stop and ready, default 120), --dry-run.
# Exit 0: every node upgraded and ready; 1: a node failed (named; the nodes after it untouched); 2: bad usage.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib-deploy.sh"

mode="" nodes="" start_cmd="" log_dir="." timeout=120 dry_run=0
bare_nodes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) mode="${2:?}"; shift 2 ;;
    --nodes) nodes="${2:?}"; shift 2 ;;
    --node) bare_nodes+=("${2:?}"); shift 2 ;;
    --start) start_cmd="${2:?}"; shift 2 ;;
    --log-dir) log_dir="${2:?}"; shift 2 ;;
    --timeout) timeout="${2:?}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$timeout" in ''|*[!0-9]*) echo "error: --timeout takes whole seconds" >&2; exit 2 ;; esac
export COMPOSE_FILE="${COMPOSE_FILE:-docker-compose-cluster.yml}"
[ -n "$mode" ] || mode="$(deploy_mode)"
announce_mode "$mode"

run() { if [ "$dry_run" = 1 ]; then echo "dry run: $*"; else "$@"; fi; }

# UP/DOWN/MAINT of server $1 in HAProxy's backend (empty without HAPROXY_ADMIN).
haproxy_status() {
  local admin="${HAPROXY_ADMIN:-}" out
  [ -n "$admin" ] || return 0
  exec 3<>"/dev/tcp/${admin%:*}/${admin##*:}" 2>/dev/null || return 0
  printf 'show stat\n' >&3
  out="$(cat <&3)"
  exec 3<&-
  awk -F, -v b="${HAPROXY_BACKEND:-be_btp}" -v s="$1" '$1 == b && $2 == s { print $18 }' <<<"$out"
}

wait_haproxy_up() {
  local node="$1" i
  [ -n "${HAPROXY_ADMIN:-}" ] && [ "$dry_run" = 0 ] || return 0
  for ((i = 0; i < timeout * 5; i++)); do
    [ "$(haproxy_status "$node")" = UP ] && { echo "✓ HAProxy: $node is UP"; return 0; }
    sleep 0.2
  done
  echo "✗ HAProxy did not mark $node UP within ${timeout}s" >&2
  return 1
}

upgrade_compose() {
  local node="$1" i code
  : "${IMAGE_TAG:?set IMAGE_TAG to the release to roll out}"
  run "${COMPOSE[@]}" -f "$COMPOSE_FILE" stop -t "$timeout" "$node" || return 1
  run env IMAGE_TAG="$IMAGE_TAG" "${COMPOSE[@]}" -f "$COMPOSE_FILE" up -d --no-deps "$node" || return 1
  [ "$dry_run" = 1 ] && return 0
  for ((i = 0; i < timeout; i++)); do
    "${COMPOSE[@]}" -f "$COMPOSE_FILE" exec -T "$node" m2m-connector health --url http://127.0.0.1:8080/health >/dev/null 2>&1
    code=$?
    if [ "$code" = 0 ] || [ "$code" = 2 ]; then echo "✓ $node is up ($IMAGE_TAG)"; return 0; fi
    sleep 1
  done
  echo "✗ $node did not become healthy within ${timeout}s" >&2
  return 1
}

upgrade_bare() {
  local spec="$1" node url pid_file pid i log
  node="${spec%%=*}"; url="${spec#*=}"; pid_file="${url#*=}"; url="${url%%=*}"
  [ -n "$node" ] && [ -n "$url" ] && [ -n "$pid_file" ] && [ "$pid_file" != "$url" ] || { echo "error: --node takes NAME=HTTP_URL=PID_FILE, not '$spec'" >&2; exit 2; }
  pid="$(cat "$pid_file" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    run kill -TERM "$pid"
    if [ "$dry_run" = 0 ]; then
      for ((i = 0; i < timeout * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then echo "✗ $node (pid $pid) did not stop within ${timeout}s" >&2; return 1; fi
      echo "✓ $node drained and stopped (pid $pid)"
    fi
  else
    echo "- $node was not running"
  fi
  log="$log_dir/$node.log"
  if [ "$dry_run" = 1 ]; then echo "dry run: ${start_cmd//\{node\}/$node} >> $log (pid to $pid_file)"; return 0; fi
  setsid bash -c "exec ${start_cmd//\{node\}/$node}" >>"$log" 2>&1 </dev/null &
  echo $! > "$pid_file"
  for ((i = 0; i < timeout * 5; i++)); do
    [ "$(http_status "$url/health/ready")" = 200 ] && { echo "✓ $node is ready (pid $(cat "$pid_file"))"; return 0; }
    kill -0 "$(cat "$pid_file")" 2>/dev/null || { echo "✗ $node exited: $(tail -n1 "$log")" >&2; return 1; }
    sleep 0.2
  done
  echo "✗ $node was not ready within ${timeout}s (log $log)" >&2
  return 1
}

if [ "$mode" = compose ]; then
  list=(${nodes:-connector-1 connector-2 connector-3})
else
  [ ${#bare_nodes[@]} -gt 0 ] && [ -n "$start_cmd" ] || { echo "error: bare mode needs --node NAME=HTTP_URL=PID_FILE (one per node) and --start CMD" >&2; exit 2; }
  list=("${bare_nodes[@]}")
fi
n=0
for item in "${list[@]}"; do
  n=$((n + 1))
  name="${item%%=*}"
  echo "== [$n/${#list[@]}] $name"
  started=$(date +%s.%N)
  if [ "$mode" = compose ]; then upgrade_compose "$item" || exit 1; else upgrade_bare "$item" || exit 1; fi
  wait_haproxy_up "$name" || exit 1
  echo "   $name switched in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
done
echo "✓ rolling upgrade done: ${#list[@]} nodes"
