#!/usr/bin/env bash
# The upgrade guide's "Method 2": stop the running connector gracefully (it drains: no new
# Prepares, in-flight packets and pending settlements finish), start the new version, then poll
# /health until it answers 200 or the attempts run out. The version that was running is saved to
# .previous-tag first, so scripts/rollback.sh can go back to it.
#
# Docker Compose (default when docker-compose-production.yml is here):
#   IMAGE_NAME=ghcr.io/your-org/m2m-connector ./scripts/upgrade.sh --tag v2.0.1
# Bare process (the connector runs as `m2m-connector run`, its pid in a file):
#   ./scripts/upgrade.sh --mode process --pid-file /run/m2m/connector.pid \
#     --start '/opt/m2m/v2.0.1/m2m-connector run --config /etc/m2m/config.yaml' [--log /var/log/m2m/connector.log]
# Common: --url http://localhost:8080/health  --attempts 12  --interval 5  --dir /opt/m2m
# Exit 0: the new version is healthy; 1: it is not ("consider rollback"); 2: bad usage.
set -uo pipefail

mode=""
tag=""
pid_file=""
start_cmd=""
log_file=""
url="http://localhost:${HEALTH_CHECK_PORT:-8080}/health"
attempts=12
interval=5
stop_timeout=60
dir="."
compose_file="docker-compose-production.yml"

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --mode) mode="${2:?}"; shift 2 ;;
    --tag) tag="${2:?}"; shift 2 ;;
    --pid-file) pid_file="${2:?}"; shift 2 ;;
    --start) start_cmd="${2:?}"; shift 2 ;;
    --log) log_file="${2:?}"; shift 2 ;;
    --url) url="${2:?}"; shift 2 ;;
    --attempts) attempts="${2:?}"; shift 2 ;;
    --interval) interval="${2:?}"; shift 2 ;;
    --stop-timeout) stop_timeout="${2:?}"; shift 2 ;;
    --dir) dir="${2:?}"; shift 2 ;;
    -f|--compose-file) compose_file="${2:?}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
for n in "$attempts" "$interval" "$stop_timeout"; do
  case "$n" in ''|*[!0-9]*) echo "--attempts, --interval and --stop-timeout take whole numbers" >&2; exit 2 ;; esac
done
cd "$dir" || { echo "✗ cannot enter $dir" >&2; exit 2; }
if [ -z "$mode" ]; then
  if [ -n "$pid_file" ]; then mode=process; else mode=compose; fi
fi
command -v curl >/dev/null || { echo "✗ curl is required" >&2; exit 1; }

# The version serving now, from /health (both modes), else from the image (compose).
current_version() {
  curl -s --max-time 5 "$url" 2>/dev/null | grep -o '"version":"[^"]*"' | head -n1 | cut -d'"' -f4
}

wait_healthy() {
  for ((i = 1; i <= attempts; i++)); do
    if curl -sf --max-time 5 "$url" >/dev/null 2>&1; then
      echo "✓ Upgrade successful! $(current_version) is healthy at $url"
      return 0
    fi
    if [ -n "${new_pid:-}" ] && ! kill -0 "$new_pid" 2>/dev/null; then
      echo "✗ the new connector exited (see ${log_file}: $(tail -n1 "$log_file" 2>/dev/null))" >&2
      echo "✗ Health check failed - consider rollback" >&2
      return 1
    fi
    echo "Waiting for health check... ($i/$attempts)"
    sleep "$interval"
  done
  echo "✗ Health check failed - consider rollback (./scripts/rollback.sh $(cat .previous-tag 2>/dev/null))" >&2
  return 1
}

upgrade_compose() {
  [ -n "$tag" ] || { echo "--tag is required in compose mode" >&2; exit 2; }
  : "${IMAGE_NAME:=m2m-connector}"
  [ -f "$compose_file" ] || { echo "✗ $compose_file not found in $(pwd)" >&2; exit 2; }
  compose=(docker compose); docker compose version >/dev/null 2>&1 || compose=(docker-compose)
  # Save current version for rollback.
  docker inspect m2m-connector --format='{{.Config.Image}}' 2>/dev/null | awk -F: '{print $NF}' > .previous-tag.new
  if [ -s .previous-tag.new ]; then mv .previous-tag.new .previous-tag; else rm -f .previous-tag.new; fi
  echo "previous: $(cat .previous-tag 2>/dev/null || echo unknown), new: $IMAGE_NAME:$tag"
  # Stop current connector (gracefully: SIGTERM, then it drains; see stop_grace_period).
  "${compose[@]}" -f "$compose_file" stop connector || exit 1
  docker pull "$IMAGE_NAME:$tag" || exit 1
  export IMAGE_NAME IMAGE_TAG="$tag"
  "${compose[@]}" -f "$compose_file" up -d connector || exit 1
  wait_healthy
}

upgrade_process() {
  [ -n "$pid_file" ] && [ -n "$start_cmd" ] || { echo "--pid-file and --start are required in process mode" >&2; exit 2; }
  local old="" version
  [ -f "$pid_file" ] && old=$(cat "$pid_file")
  version=$(current_version)
  if [ -n "$version" ]; then echo "$version" > .previous-tag; fi
  echo "previous: ${version:-unknown} (pid ${old:-none}), starting: $start_cmd"
  if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
    # SIGTERM drains (T03 for new Prepares, waits for in-flight packets and pending settlements), then exits 0.
    kill -TERM "$old"
    for ((i = 0; i < stop_timeout * 10; i++)); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$old" 2>/dev/null; then echo "✗ pid $old did not stop within ${stop_timeout}s; not starting the new version" >&2; exit 1; fi
    echo "stopped pid $old"
  fi
  : "${log_file:=connector-$(date +%Y%m%d%H%M%S).log}"
  # The new connector outlives this script: its own session, output to the log.
  setsid bash -c "exec $start_cmd" >>"$log_file" 2>&1 < /dev/null &
  new_pid=$!
  echo "$new_pid" > "$pid_file"
  echo "started pid $(cat "$pid_file"), log $log_file"
  wait_healthy
}

case "$mode" in
  compose) upgrade_compose ;;
  process) upgrade_process ;;
  *) echo "--mode must be compose or process" >&2; exit 2 ;;
esac
