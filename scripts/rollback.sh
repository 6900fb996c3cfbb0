#!/usr/bin/env bash
# Roll the connector back to the previous release.
#
#   IMAGE_NAME=ghcr.io/your-org/m2m-connector ./scripts/rollback.sh [TAG] [--dry-run] [--force] [--backup DIR]
#
# TAG defaults to the content of .previous-tag (written by the upgrade procedure). The first line
# after the tag says which mode was picked: Docker Compose v2 (`docker compose`), v1
# (`docker-compose`), or a bare process.
#
# Docker Compose (DEPLOY_MODE=compose, or docker-compose-production.yml here and a compose client
#   installed; COMPOSE_CMD overrides the client): stops the connector service, sets IMAGE_TAG=TAG
#   (the compose file's image is ${IMAGE_NAME}:${IMAGE_TAG}), starts it again and waits for /health
#   (the guide's 12 x 5 s).
# Bare-process install (DEPLOY_MODE=bare, or no compose file/client): the previous release's
#   executable is $RELEASES_DIR/TAG/m2m-connector (RELEASES_DIR defaults to ./releases). The script
#   first asks that release whether it can open the data as it is (`m2m-connector data check`):
#   - it can (the upgrade only added to the schema): nothing is restored and nothing is lost;
#   - it cannot (the newer release applied a contract migration): the data backup made before the
#     upgrade (--backup DIR, else the newest $DATA_DIR/backups/pre-migration-*; DATA_DIR defaults to
#     ./data) must be restored. The script lists exactly what that discards (ledger transfers written
#     after the backup, and each account's posted balance now and in the backup) and does it only
#     with --force (the listing is made again after the connector stopped, just before restoring).
#   Then it stops the running connector (SIGTERM to the pid in $PID_FILE, default
#   ./m2m-connector.pid; it drains and exits), restores when needed (the previous release's own
#   `restore --force`), starts that release in the background (log ./m2m-connector.log, pid in
#   $PID_FILE) and waits for /health. The loss is listed with the running release's CLI
#   ($M2M_CONNECTOR, else m2m-connector on PATH, else this repository's build).
# Other settings: HEALTH_URL (http://localhost:8080/health), CONFIG_FILE (passed to the connector).
# --dry-run prints every step (and the loss list when a restore is needed) and changes nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib-deploy.sh"

tag="" dry_run=0 backup="" force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --force) force=1 ;;
    --backup) backup="${2:?--backup needs a directory}"; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
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
mode="$(deploy_mode)"
announce_mode "$mode"

run() {
  if [ "$dry_run" = 1 ]; then echo "dry run: $*"; else "$@"; fi
}

rollback_compose() {
  local file="${COMPOSE_FILE:-docker-compose-production.yml}"
  : "${IMAGE_NAME:?set IMAGE_NAME (e.g. ghcr.io/your-org/m2m-connector)}"
  run "${COMPOSE[@]}" -f "$file" stop connector
  if [ "$dry_run" = 1 ]; then echo "dry run: IMAGE_NAME=$IMAGE_NAME IMAGE_TAG=$tag ${COMPOSE[*]} -f $file up -d connector"; return 0; fi
  IMAGE_NAME="$IMAGE_NAME" IMAGE_TAG="$tag" "${COMPOSE[@]}" -f "$file" up -d connector
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

# Prints the loss lines of restoring $backup over the current data (read-only, with the running release's CLI).
list_loss() {
  local current
  read -r -a current <<<"$(connector_command)"
  "${current[@]}" restore --from "$backup" --dry-run "${config[@]}" | grep '^loss:' || {
    echo "error: could not list what restoring $backup would discard (see: ${current[*]} restore --from $backup --dry-run)" >&2
    exit 1
  }
}

rollback_bare() {
  local exe="${RELEASES_DIR:-./releases}/$tag/m2m-connector" pid_file="${PID_FILE:-./m2m-connector.pid}" data="${DATA_DIR:-./data}"
  local pid check code restore=0
  config=()
  [ -x "$exe" ] || { echo "error: previous release not found: $exe is not an executable" >&2; exit 1; }
  [ -n "${CONFIG_FILE:-}" ] && config=(--config "$CONFIG_FILE")
  set +e
  check="$("$exe" data check "${config[@]}" 2>&1)"
  code=$?
  set -e
  case "$code" in
    0) echo "release $tag can open the data as it is: no restore, nothing is lost" ;;
    3) restore=1; echo "release $tag cannot open the data: ${check#data check: }" ;;
    *) echo "error: cannot tell whether release $tag can open the data ('$exe data check' exit $code): $(tail -n1 <<<"$check")" >&2; exit 1 ;;
  esac
  if [ "$restore" = 1 ]; then
    if [ -z "$backup" ]; then
      backup="$(ls -d "$data"/backups/pre-migration-* 2>/dev/null | sort | tail -n 1 || true)"
      [ -n "$backup" ] || { echo "error: no --backup DIR given and no $data/backups/pre-migration-* found" >&2; exit 1; }
    fi
    echo "Data backup to restore: $backup"
    echo "Restoring it discards (as of now):"
    list_loss
    if [ "$dry_run" = 0 ] && [ "$force" = 0 ]; then
      echo "error: restoring $backup discards what is listed above; rerun with --force to accept that (or --dry-run to see the steps)" >&2
      exit 1
    fi
  fi
  stop_bare "$pid_file"
  if [ "$restore" = 1 ]; then
    if [ "$dry_run" = 0 ]; then echo "Discarded by the restore (final, connector stopped):"; list_loss; fi
    run "$exe" restore --from "$backup" --force "${config[@]}"
  fi
  if [ "$dry_run" = 1 ]; then echo "dry run: nohup $exe run ${config[*]} >> m2m-connector.log 2>&1 &  (pid to $pid_file)"; return 0; fi
  nohup "$exe" run "${config[@]}" >> m2m-connector.log 2>&1 &
  pid=$!
  echo "$pid" > "$pid_file"
  echo "started $tag as pid $pid"
  wait_healthy "$health_url"
}

case "$mode" in
  compose) rollback_compose ;;
  bare) rollback_bare ;;
esac
