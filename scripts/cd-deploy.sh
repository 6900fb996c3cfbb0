#!/usr/bin/env bash
# The CD pipeline's deploy step (.github/workflows/cd.yml), also usable by hand:
# deploy release TAG, pass the health gate, or roll back automatically.
#
#   ./scripts/cd-deploy.sh --tag v2.0.1
#
# 1. Deploy with scripts/upgrade.sh: Docker Compose (IMAGE_NAME:TAG, the current tag saved to
#    .previous-tag) or, for a bare-process install, the release's executable
#    $RELEASES_DIR/TAG/m2m-connector (RELEASES_DIR: ./releases; pid in $PID_FILE, default
#    ./m2m-connector.pid; CONFIG_FILE passed on). The mode is picked as by backup.sh/rollback.sh
#    (DEPLOY_MODE=compose|bare overrides) and said on the first line.
# 2. The health gate of the upgrade guide: /health answers within 12 tries, $HEALTH_WAIT_SECONDS
#    (5) apart, then scripts/smoke-test.sh (health, readiness, metrics, and a real packet when
#    SMOKE_PEER_SECRET is set) against HEALTH_URL's host and port.
# 3. When the gate fails: scripts/rollback.sh to the tag in .previous-tag (which only restores data
#    when the older release cannot open it, and then needs ROLLBACK_FORCE=1), and exit 1.
# Settings: HEALTH_URL (http://localhost:8080/health), HEALTH_WAIT_SECONDS, SMOKE_PEER_SECRET.
# Exit 0: TAG deployed and healthy; 1: the gate failed (rolled back, or the rollback failed too: said); 2: bad usage.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib-deploy.sh"

tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (usage: cd-deploy.sh --tag TAG)" >&2; exit 2 ;;
  esac
done
[ -n "$tag" ] || { echo "error: --tag TAG is required" >&2; exit 2; }
health_url="${HEALTH_URL:-http://localhost:8080/health}"
[[ "$health_url" =~ ^https?://([^/:]+):([0-9]+) ]] || { echo "error: HEALTH_URL '$health_url' must name a host and a port" >&2; exit 2; }
host="${BASH_REMATCH[1]}" port="${BASH_REMATCH[2]}"
mode="$(deploy_mode)"
announce_mode "$mode"
echo "deploying $tag"

if [ "$mode" = compose ]; then
  "$here/upgrade.sh" --tag "$tag" --url "$health_url" --attempts 12 --interval "${HEALTH_WAIT_SECONDS:-5}"
else
  exe="${RELEASES_DIR:-./releases}/$tag/m2m-connector"
  [ -x "$exe" ] || { echo "error: release $tag not found: $exe is not an executable" >&2; exit 2; }
  start="$exe run${CONFIG_FILE:+ --config $CONFIG_FILE}"
  "$here/upgrade.sh" --mode process --pid-file "${PID_FILE:-./m2m-connector.pid}" --start "$start" \
    --log "m2m-connector-$tag.log" --url "$health_url" --attempts 12 --interval "${HEALTH_WAIT_SECONDS:-5}"
fi
deployed=$?
if [ "$deployed" = 2 ]; then exit 2; fi
if [ "$deployed" = 0 ]; then
  echo "health gate: smoke test against $host:$port"
  if "$here/smoke-test.sh" --host "$host" --port "$port"; then
    echo "✓ deployed $tag: health gate passed"
    exit 0
  fi
fi

previous="$(tr -d '[:space:]' < .previous-tag 2>/dev/null || true)"
[ -n "$previous" ] || { echo "✗ $tag failed the health gate and there is no .previous-tag to roll back to" >&2; exit 1; }
echo "✗ $tag failed the health gate: rolling back to $previous"
force=()
[ "${ROLLBACK_FORCE:-0}" = 1 ] && force=(--force)
if "$here/rollback.sh" "$previous" "${force[@]}"; then
  echo "✗ deploy of $tag failed; rolled back to $previous, which is healthy" >&2
else
  echo "✗ deploy of $tag failed and the rollback to $previous failed too: act now" >&2
fi
exit 1
