# Shared by scripts/backup.sh and scripts/rollback.sh (sourced, not run).

# compose when DEPLOY_MODE=compose, or when DEPLOY_MODE is unset and a compose file plus docker are here; else bare.
deploy_mode() {
  if [ -n "${DEPLOY_MODE:-}" ]; then echo "$DEPLOY_MODE"; return; fi
  if [ -f "${COMPOSE_FILE:-docker-compose-production.yml}" ] && command -v docker >/dev/null 2>&1; then echo compose; else echo bare; fi
}

# The m2m-connector command: $M2M_CONNECTOR, m2m-connector on PATH, or this repository's build output.
connector_command() {
  if [ -n "${M2M_CONNECTOR:-}" ]; then echo "$M2M_CONNECTOR"; return; fi
  if command -v m2m-connector >/dev/null 2>&1; then echo m2m-connector; return; fi
  local root dll
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  for dll in "$root"/src/M2M.Cli/bin/Release/net*/m2m-connector.dll "$root"/src/M2M.Cli/bin/Debug/net*/m2m-connector.dll; do
    if [ -f "$dll" ]; then echo "dotnet $dll"; return; fi
  done
  echo "error: m2m-connector not found: set M2M_CONNECTOR or put it on PATH" >&2
  exit 1
}

# 0 when GET $1 answers 2xx.
http_ok() {
  if command -v curl >/dev/null 2>&1; then curl -sf -o /dev/null --max-time 3 "$1"; return; fi
  python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$1" >/dev/null 2>&1
}

# The guide's health wait: 12 tries, $HEALTH_WAIT_SECONDS (5) apart.
wait_healthy() {
  local url="$1" i
  for i in $(seq 1 12); do
    if http_ok "$url"; then echo "✓ healthy: $url"; return 0; fi
    echo "Waiting for health check... ($i/12)"
    sleep "${HEALTH_WAIT_SECONDS:-5}"
  done
  echo "✗ health check failed: $url" >&2
  return 1
}
