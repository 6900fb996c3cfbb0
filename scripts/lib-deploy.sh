# Shared by scripts/backup.sh, scripts/rollback.sh, scripts/rolling-upgrade.sh and
# scripts/switch-traffic.sh (sourced, not run).

# The Docker Compose client on this host: "docker compose" (v2 plugin), else "docker-compose" (v1),
# else nothing. COMPOSE_CMD overrides it (e.g. COMPOSE_CMD=docker-compose).
compose_command() {
  if [ -n "${COMPOSE_CMD:-}" ]; then echo "$COMPOSE_CMD"; return; fi
  if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then echo "docker compose"; return; fi
  if command -v docker-compose >/dev/null 2>&1; then echo "docker-compose"; return; fi
}

# compose when DEPLOY_MODE=compose, or when DEPLOY_MODE is unset and the compose file is here and a
# compose client (v2 or v1) is installed; else bare.
deploy_mode() {
  if [ -n "${DEPLOY_MODE:-}" ]; then echo "$DEPLOY_MODE"; return; fi
  if [ -f "${COMPOSE_FILE:-docker-compose-production.yml}" ] && [ -n "$(compose_command)" ]; then echo compose; else echo bare; fi
}

# Sets the array COMPOSE (the client's words) and says which mode and client were picked, once.
# Exits 1 with one line when compose mode is asked for and no client is installed.
announce_mode() {
  local mode="$1" file="${COMPOSE_FILE:-docker-compose-production.yml}" client
  case "$mode" in
    compose)
      client="$(compose_command)"
      [ -n "$client" ] || { echo "error: compose mode, but neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed" >&2; exit 1; }
      read -r -a COMPOSE <<<"$client"
      if [ "$client" = "docker compose" ]; then echo "mode: compose (docker compose v2, $file)"; else echo "mode: compose ($client v1, $file)"; fi
      ;;
    bare)
      if [ -n "${DEPLOY_MODE:-}" ]; then echo "mode: bare process (DEPLOY_MODE=bare)"
      elif [ ! -f "$file" ]; then echo "mode: bare process (no $file in $(pwd))"
      else echo "mode: bare process (no docker compose or docker-compose installed)"
      fi
      ;;
    *) echo "error: DEPLOY_MODE must be compose or bare, not '$mode'" >&2; exit 2 ;;
  esac
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

# The HTTP status of GET $1 (000 when nothing answers).
http_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
}

# The guide's health wait: ${HEALTH_ATTEMPTS:-12} tries, $HEALTH_WAIT_SECONDS (5) apart.
wait_healthy() {
  local url="$1" i n="${HEALTH_ATTEMPTS:-12}"
  for i in $(seq 1 "$n"); do
    if http_ok "$url"; then echo "✓ healthy: $url"; return 0; fi
    echo "Waiting for health check... ($i/$n)"
    sleep "${HEALTH_WAIT_SECONDS:-5}"
  done
  echo "✗ health check failed: $url" >&2
  return 1
}
