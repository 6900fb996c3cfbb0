#!/usr/bin/env bash
# Full, verified, online backup of every connector store (ledger, settlements, EVM channel stores,
# wallet store) with a manifest (versions, sizes, sha256). Safe while the connector runs.
#
#   ./scripts/backup.sh --full --verify [--out DIR] [--config FILE] [--dry-run]
#
# Bare-process install (default): runs `m2m-connector backup` from $M2M_CONNECTOR (a command, e.g.
#   "/opt/m2m/releases/v2.0.0/m2m-connector"), else m2m-connector on PATH, else this repo's build.
# Docker Compose (DEPLOY_MODE=compose, or docker-compose-production.yml here and a compose client
#   installed: `docker compose` v2, else `docker-compose` v1; COMPOSE_CMD overrides): runs it inside
#   the connector container; the backup lands in the data volume (data/backups/...).
# The first line of output says which mode and client were picked.
# --dry-run prints the command instead of running it. Exit code: that of `m2m-connector backup`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib-deploy.sh"

dry_run=0
args=()
for a in "$@"; do
  case "$a" in
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

mode="$(deploy_mode)"
announce_mode "$mode"
if [ "$mode" = compose ]; then
  cmd=("${COMPOSE[@]}" -f "${COMPOSE_FILE:-docker-compose-production.yml}" exec -T connector m2m-connector backup "${args[@]}")
else
  read -r -a bin <<<"$(connector_command)"
  cmd=("${bin[@]}" backup "${args[@]}")
fi
if [ "$dry_run" = 1 ]; then
  echo "dry run: would run: ${cmd[*]}"
  exit 0
fi
exec "${cmd[@]}"
