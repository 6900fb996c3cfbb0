#!/usr/bin/env bash
# Blue-green traffic switch behind HAProxy (the upgrade guide's "Switch traffic" step).
#
#   ADMIN_API_TOKEN=… ./scripts/switch-traffic.sh green [--dry-run]     # blue -> green
#   ADMIN_API_TOKEN=… ./scripts/switch-traffic.sh blue  [--dry-run]     # and back
#
# The new colour runs with `m2m-connector run --standby` (docker-compose-green.yml does): it serves
# its inbound peers but does not log in to its outgoing peers, so blue and green never fight over
# one upstream login. The switch, in this order:
#   1. the target answers /health/ready 200 (else nothing is changed);
#   2. the other colour is demoted (POST /admin/demote): it stops forwarding to its outgoing peers,
#      lets the packets already sent to them finish, and logs out; packets for them meanwhile get T01;
#   3. the target is promoted (POST /admin/promote): it logs in to its outgoing peers (waits ≤ 10 s);
#   4. HAProxy: in every backend the target's server goes to state ready and the other's to maint
#      (no new connections);
#   5. the other colour closes its inbound BTP sessions once each has its requests answered
#      (POST /admin/release-inbound, WebSocket close 1001), so connected peers reconnect through
#      HAProxy and land on the target without losing a reply; then HAProxy shuts whatever the other
#      colour still has open (HTTP keep-alive connections, a session that did not close).
# Settings: BLUE_URL (http://localhost:8080), GREEN_URL (http://localhost:8081): each colour's HTTP
#   port; ADMIN_API_TOKEN; HAPROXY_ADMIN: HAProxy's runtime API, host:port of
#   `stats socket ipv4@127.0.0.1:9999 level admin` (default 127.0.0.1:9999), or a unix socket path
#   (needs socat); HAPROXY_BACKENDS ("be_btp be_http"); the servers are named blue and green.
# Exit 0: switched; 1: a step failed (the line says which, and what was already done); 2: bad usage.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib-deploy.sh"

target="" dry_run=0
for a in "$@"; do
  case "$a" in
    blue|green) target="$a" ;;
    --dry-run) dry_run=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$a' (usage: switch-traffic.sh blue|green [--dry-run])" >&2; exit 2 ;;
  esac
done
[ -n "$target" ] || { echo "error: name the colour to switch to: switch-traffic.sh blue|green" >&2; exit 2; }
[ -n "${ADMIN_API_TOKEN:-}" ] || { echo "error: set ADMIN_API_TOKEN (both colours' admin token)" >&2; exit 2; }
command -v curl >/dev/null || { echo "error: curl is required" >&2; exit 1; }
if [ "$target" = green ]; then other=blue; else other=green; fi
url_of() { if [ "$1" = blue ]; then echo "${BLUE_URL:-http://localhost:8080}"; else echo "${GREEN_URL:-http://localhost:8081}"; fi; }
target_url="$(url_of "$target")" other_url="$(url_of "$other")"
backends="${HAPROXY_BACKENDS:-be_btp be_http}"

# One command on HAProxy's runtime API; fails on an answer that is an error.
haproxy_cmd() {
  local admin="${HAPROXY_ADMIN:-127.0.0.1:9999}" out
  if [ "$dry_run" = 1 ]; then echo "dry run: haproxy: $1"; return 0; fi
  if [[ "$admin" == /* ]]; then
    out="$(printf '%s\n' "$1" | socat stdio "unix-connect:$admin" 2>&1)" || { echo "✗ haproxy: cannot reach $admin: $out" >&2; return 1; }
  else
    exec 3<>"/dev/tcp/${admin%:*}/${admin##*:}" 2>/dev/null || { echo "✗ haproxy: cannot reach the runtime API at $admin" >&2; return 1; }
    printf '%s\n' "$1" >&3
    out="$(cat <&3)"
    exec 3<&-
  fi
  out="$(tr -d '\r' <<<"$out" | sed '/^$/d')"
  if [ -n "$out" ]; then echo "✗ haproxy: $1: $out" >&2; return 1; fi
  echo "✓ haproxy: $1"
}

# POST /admin/<action> on a colour; prints the answer.
admin_post() {
  local url="$1" action="$2" out
  if [ "$dry_run" = 1 ]; then echo "dry run: POST $url/admin/$action"; return 0; fi
  out="$(curl -sf --max-time 60 -X POST -H "Authorization: Bearer $ADMIN_API_TOKEN" "$url/admin/$action" 2>&1)" || return 1
  echo "✓ $action $url: $out"
}

echo "switching traffic: $other -> $target"
# 1. The target must be ready.
status="$(http_status "$target_url/health/ready")"
[ "$status" = 200 ] || { echo "✗ $target ($target_url) is not ready (HTTP $status): nothing changed" >&2; exit 1; }
echo "✓ $target is ready ($target_url)"
# 2. Demote the other colour (a stopped one is fine: nothing to demote).
if [ "$(http_status "$other_url/health/live")" = 200 ] || [ "$dry_run" = 1 ]; then
  admin_post "$other_url" demote || { echo "✗ demote $other ($other_url) failed: nothing changed" >&2; exit 1; }
else
  echo "- $other ($other_url) is not running: nothing to demote"
fi
# 3. Promote the target.
admin_post "$target_url" promote || { echo "✗ promote $target failed after $other was demoted: run switch-traffic.sh $other to go back" >&2; exit 1; }
# 4. HAProxy: new connections to the target, then close the other's sessions so peers reconnect there.
for b in $backends; do
  haproxy_cmd "set server $b/$target state ready" || { echo "✗ HAProxy backend $b not switched ($target promoted, $other demoted)" >&2; exit 1; }
  haproxy_cmd "set server $b/$other state maint" || exit 1
done
# 5. The other colour's peers: closed by the node itself once answered, then whatever is left by HAProxy.
if [ "$(http_status "$other_url/health/live")" = 200 ] || [ "$dry_run" = 1 ]; then
  admin_post "$other_url" release-inbound || echo "- release-inbound on $other ($other_url) failed: HAProxy shuts its sessions instead" >&2
fi
for b in $backends; do haproxy_cmd "shutdown sessions server $b/$other" || exit 1; done
echo "✓ traffic switched to $target"
