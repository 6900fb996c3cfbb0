#!/usr/bin/env bash
# Roll the connector back to the previous release.
#
#   IMAGE_NAME=ghcr.io/your-org/m2m-connector ./scripts/rollback.sh [TAG] [--dry-run] [--backup DIR]
#
# TAG defaults to the content of .previous-tag (written by the upgrade procedure).
#
# Docker Compose (DEPLOY_MODE=compose, or docker-compose-production.yml here and docker installed):
#   stops the connector service, sets IMAGE_TAG=TAG (the compose file's image is
#   ${IMAGE_NAME}:${IMAGE_TAG}), starts it again and waits for /health (the guide's 12 x 5 s).
# Bare-process install (DEPLOY_MODE=bare): the previous release's executable is
#   $RELEASES_DIR/TAG/m2m-connector (RELEASES_DIR defaults to ./releases). The script stops the
#   running connector (SIGTERM to the pid in $PID_FILE, default ./m2m-connector.pid; it drains and
#   exits), restores the data backup made before the upgrade migrated the data (--backup DIR, else
#   the newest $DATA_DIR/backups/pre-migration-*, DATA_DIR defaults to ./data) with the previous
#   release's own `restore --force`, starts that release in the background (log ./m2m-connector.log,
#   pid in $PID_FILE) and waits for /health.
# Other settings: HEALTH_URL (http://localhost:8080/health), CONFIG_FILE (passed to the connector).
# --dry-run prints every step and changes nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib-deploy.sh"

tag="" dry_run=0 backup=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --backup) backup="${2:?--backup needs a directory}"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; exit 2 ;;
    *) tag="$1" ;;
  esac
  shift
done
if [ -z "$tag" ]; then
  [ -f .previous-tag ] || { echo "error: no TAG given and no .previous-tag file in $(pwd)" >&2; exit 2; }
  tag="$(tr -d '[:space:]' < .previous-tag)"
fi
[ -n "$tag" ] || { echo "error: .previous-tag is empty" >&2; exit 2; }
health_url="${HEALTH_URL:-http://localhost:8080/health}"
echo "Rolling back to: $tag"

run() {
  if [ "$dry_run" = 1 ]; then echo "dry run: $*"; else "$@"; fi
}

rollback_compose() {
  local file="${COMPOSE_FILE:-docker-compose-production.yml}"
  : "${IMAGE_NAME:?set IMAGE_NAME (e.g. ghcr.io/your-org/m2m-connector)}"
  run docker compose -f "$file" stop connector
  if [ "$dry_run" = 1 ]; then echo "dry run: IMAGE_NAME=$IMAGE_NAME IMAGE_TAG=$tag docker compose -f $file up -d connector"; return 0; fi
  IMAGE_NAME="$IMAGE_NAME" IMAGE_TAG="$tag" docker compose -f "$file" up -d connector
  wait_healthy "$health_url"
}

stop_bare() {
  local pid_file="$1" pid i
  [ -f "$pid_file" ] || { echo "no pid file $pid_file: assuming the connector is stopped"; return 0; }
  pid="$(cat "$pid_file")"
  if ! kill -0 "$pid" 2>/dev/null; then echo "connector pid $pid is not running"; return 0; fi
  run kill -TERM "$pid"
  [ "$dry_run" = 1 ] && return 0
  for i in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || { echo "stopped connector pid $pid"; return 0; }; sleep 0.5; done
  echo "error: connector pid $pid did not stop within 40 s" >&2
  exit 1
}

rollback_bare() {
  local exe="${RELEASES_DIR:-./releases}/$tag/m2m-connector" pid_file="${PID_FILE:-./m2m-connector.pid}" data="${DATA_DIR:-./data}"
  local config=() pid
  [ -x "$exe" ] || { echo "error: previous release not found: $exe is not an executable" >&2; exit 1; }
  [ -n "${CONFIG_FILE:-}" ] && config=(--config "$CONFIG_FILE")
  if [ -z "$backup" ]; then
    backup="$(ls -d "$data"/backups/pre-migration-* 2>/dev/null | sort | tail -n 1 || true)"
    [ -n "$backup" ] || { echo "error: no --backup DIR given and no $data/backups/pre-migration-* found" >&2; exit 1; }
  fi
  echo "Data backup to restore: $backup"
  stop_bare "$pid_file"
  run "$exe" restore --from "$backup" --force "${config[@]}"
  if [ "$dry_run" = 1 ]; then echo "dry run: nohup $exe run ${config[*]} >> m2m-connector.log 2>&1 &  (pid to $pid_file)"; return 0; fi
  nohup "$exe" run "${config[@]}" >> m2m-connector.log 2>&1 &
  pid=$!
  echo "$pid" > "$pid_file"
  echo "started $tag as pid $pid"
  wait_healthy "$health_url"
}

case "$(deploy_mode)" in
  compose) rollback_compose ;;
  bare) rollback_bare ;;
  *) echo "error: DEPLOY_MODE must be compose or bare" >&2; exit 2 ;;
esac
