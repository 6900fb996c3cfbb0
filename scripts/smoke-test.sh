#!/usr/bin/env bash
# Smoke test of a running connector (bare process or Docker Compose), as the upgrade guide runs it:
#   ./scripts/smoke-test.sh --host localhost --port 8081
# Checks /health (200, healthy or degraded, contract fields), /health/ready, /metrics (the metric
# names the guide and the dashboards use) and sends a real ILP packet through the connector:
# `m2m-connector ping` connects over BTP as a configured child peer and sends the ILDCP
# peer.config Prepare (RFC 31), which the connector fulfills without moving money.
# The packet check needs that peer's secret: SMOKE_PEER_SECRET (or BTP_PEER_<ID>_SECRET) and
# SMOKE_PEER_ID (default smoke-test, the child peer of examples/production-single-node.yaml).
# Without a secret the packet check is reported as SKIPPED (or fails with --require-packet).
# Exit 0: every check passed; 1: a check failed (one line says which); 2: bad usage.
set -uo pipefail

host=localhost
port=8080
btp_port="${SMOKE_BTP_PORT:-}"
peer="${SMOKE_PEER_ID:-smoke-test}"
timeout=5
require_packet=0

usage() {
  echo "usage: $0 [--host H] [--port HTTP_PORT] [--btp-port BTP_PORT] [--peer ID] [--timeout S] [--require-packet]" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --host) host="${2:?}"; shift 2 ;;
    --port) port="${2:?}"; shift 2 ;;
    --btp-port) btp_port="${2:?}"; shift 2 ;;
    --peer) peer="${2:?}"; shift 2 ;;
    --timeout) timeout="${2:?}"; shift 2 ;;
    --require-packet) require_packet=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
case "$port" in ''|*[!0-9]*) echo "--port must be a number" >&2; exit 2 ;; esac
# The BTP port defaults to the HTTP port's pair in our compose files: 8080 → 3000, 8081 → 3002
# (3001 is the Explorer's default port, so green's BTP skips it).
if [ -z "$btp_port" ]; then btp_port=$((3000 + 2 * (port - 8080))); [ "$port" -ge 8080 ] && [ "$port" -le 8099 ] || btp_port=3000; fi
command -v curl >/dev/null || { echo "✗ curl is required" >&2; exit 1; }

base="http://${host}:${port}"
failures=0
pass() { echo "✓ $*"; }
fail() { echo "✗ $*" >&2; failures=$((failures + 1)); }

# 1. /health: 200 (healthy or degraded) with the contract's fields.
health=$(curl -s --max-time "$timeout" -w '\n%{http_code}' "$base/health" 2>/dev/null)
if [ $? -ne 0 ] || [ -z "$health" ]; then
  echo "✗ $base/health: no answer (is the connector running on ${host}:${port}?)" >&2
  exit 1
fi
code=$(tail -n1 <<<"$health"); body=$(sed '$d' <<<"$health")
status=$(grep -o '"status":"[a-z_]*"' <<<"$body" | head -n1 | cut -d'"' -f4)
if [ "$code" = 200 ] && { [ "$status" = healthy ] || [ "$status" = degraded ]; }; then
  pass "health: $status (HTTP $code)"
else
  fail "health: HTTP $code, status '${status:-none}'"
fi
for field in uptime peersConnected totalPeers peers nodeId version dependencies sla; do
  grep -q "\"$field\":" <<<"$body" || fail "health: field '$field' missing"
done

# 2. /health/ready: 200 unless draining or the ledger is down.
ready=$(curl -s --max-time "$timeout" -o /dev/null -w '%{http_code}' "$base/health/ready")
if [ "$ready" = 200 ]; then pass "ready"; else fail "ready: HTTP $ready (draining or ledger down?)"; fi

# 3. /metrics: the series the guide greps and the dashboards/alerts query.
# Ask for the Prometheus format (with # TYPE lines): a bare curl (Accept: */*) gets the samples only.
metrics=$(curl -s --max-time "$timeout" -H 'Accept: text/plain; version=0.0.4' "$base/metrics")
missing=""
# Each family is declared (# TYPE) even before its first labelled sample exists.
for name in ilp_packets_processed_total ilp_packet_latency_seconds ilp_packets_in_flight settlements_pending \
  settlements_executed_total connector_errors_total ledger_fulfill_post_failed_total process_cpu_seconds_total; do
  grep -q "^# TYPE ${name} " <<<"$metrics" || missing="$missing $name"
done
grep -q '^settlements_pending [0-9]' <<<"$metrics" || missing="$missing settlements_pending(value)"
if [ -z "$missing" ]; then pass "metrics: all expected series present"; else fail "metrics: missing$missing"; fi

# 4. A real packet through the connector: ILDCP peer.config as a child peer, over BTP.
secret_var="BTP_PEER_$(tr 'a-z~-' 'A-Z__' <<<"$peer")_SECRET"
if [ -z "${SMOKE_PEER_SECRET:-}" ] && [ -z "${!secret_var:-}" ]; then
  if [ "$require_packet" = 1 ]; then
    fail "packet: no secret for peer '$peer' (set SMOKE_PEER_SECRET or $secret_var)"
  else
    echo "- packet: SKIPPED (set SMOKE_PEER_SECRET or $secret_var to send a test packet as peer '$peer')"
  fi
else
  # M2M_CONNECTOR: how to run the CLI, e.g. "docker run --rm --network host -e SMOKE_PEER_SECRET m2m-connector:v2.0.0".
  if [ -n "${M2M_CONNECTOR:-}" ]; then read -r -a cli <<<"$M2M_CONNECTOR"
  elif command -v m2m-connector >/dev/null; then cli=(m2m-connector)
  else echo "✗ packet: m2m-connector is not on PATH (set M2M_CONNECTOR to the command that runs it)" >&2; exit 1
  fi
  # One attempt only: ping exits 4 on the first refused login instead of retrying a wrong secret
  # until the connector's auth limiter locks the peer out.
  if out=$("${cli[@]}" ping --url "ws://${host}:${btp_port}/" --peer "$peer" --timeout "$timeout" 2>&1); then
    pass "packet: $out"
  elif [ $? -eq 4 ]; then
    fail "packet: authentication as peer '$peer' refused; stopped after one attempt (not retried, so the peer is not locked out): check SMOKE_PEER_SECRET / $secret_var"
  else
    fail "packet: $(tail -n1 <<<"$out")"
  fi
fi

if [ "$failures" -gt 0 ]; then
  echo "✗ smoke test FAILED against ${host}:${port}: $failures check(s) failed" >&2
  exit 1
fi
echo "✓ smoke test passed against ${host}:${port}"
