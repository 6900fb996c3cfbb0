#!/usr/bin/env bash
# Side by side, in one run: the JavaScript reference connector (npm ilp-connector 23.0.2, in-memory,
# persists nothing) and ours (Release build, durable SQLite ledger), same topology (sender peer
# alice → connector → receiver peer bob, both peers connecting in over BTP, zero fees, rate 1:1),
# driven by the same load generator (bench/M2M.LoadGen). Then ours again at half its measured peak
# rate, for the p99 target. Bounded: every load run has a packet count and a time cap; loopback only.
#
# usage: bench/compare.sh [--packets N] [--concurrency C] [--cap SECONDS] [--no-build]
#   defaults: 20000 packets, concurrency 64, 120 s cap per load run (whole script < 5 min on a quiet
#   2-core machine; --no-build skips the two Release builds, which take minutes on a busy one).
set -euo pipefail

PACKETS=20000
CONCURRENCY=64
CAP=120
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --packets) PACKETS="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --cap) CAP="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "compare.sh: unknown option $1 (use --packets N, --concurrency C, --cap SECONDS, --no-build)" >&2; exit 1 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/m2m-compare.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

step() { echo "== $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { # host port seconds
  for _ in $(seq $(( $3 * 10 ))); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "compare.sh: nothing listens on $1:$2 after $3 s" >&2; return 1
}

LOADGEN=(dotnet "$ROOT/bench/M2M.LoadGen/bin/Release/net10.0/m2m-loadgen.dll")
CONNECTOR="$ROOT/src/M2M.Cli/bin/Release/net10.0/m2m-connector.dll"
if [ "$BUILD" = 1 ]; then
  step "build (Release): connector and load generator"
  dotnet build -c Release "$ROOT/src/M2M.Cli" -v q -nologo >&2
  dotnet build -c Release "$ROOT/bench/M2M.LoadGen" -v q -nologo >&2
fi
for f in "$CONNECTOR" "${LOADGEN[1]}"; do
  [ -f "$f" ] || { echo "compare.sh: $f is missing: run without --no-build" >&2; exit 1; }
done

step "install the JavaScript reference connector (npm ci, bench/js-connector/package-lock.json)"
if [ ! -d "$ROOT/bench/js-connector/node_modules/ilp-connector" ]; then
  (cd "$ROOT/bench/js-connector" && npm ci --no-audit --no-fund >&2)
fi

run_load() { # label pid loadgen-args... (PACKETS may be overridden per call)
  local label="$1" pid="$2"; shift 2
  "${LOADGEN[@]}" --label "$label" --pid "$pid" --packets "$PACKETS" --concurrency "$CONCURRENCY" \
    --warmup 1000 --duration-cap "$CAP" "$@" > "$WORK/$label.out"
  grep -v '^{' "$WORK/$label.out" >&2
  tail -n 1 "$WORK/$label.out" > "$WORK/$label.json"
}

# ---- JavaScript ilp-connector ----
JS_A=$(free_port); JS_B=$(free_port)
step "start ilp-connector (alice :$JS_A, bob :$JS_B)"
node "$ROOT/bench/js-connector/start.js" "$JS_A" "$JS_B" > "$WORK/js-connector.log" 2>&1 &
JS_PID=$!; PIDS+=("$JS_PID")
wait_port 127.0.0.1 "$JS_A" 30; wait_port 127.0.0.1 "$JS_B" 30
step "load: ilp-connector"
run_load js "$JS_PID" --connector "ws://alice:alice-secret@127.0.0.1:$JS_A" --receiver "ws://bob:bob-secret@127.0.0.1:$JS_B" --destination g.bob.receiver
kill "$JS_PID"; wait "$JS_PID" 2>/dev/null || true

# ---- ours ----
BTP=$(free_port); HTTP=$(free_port)
cat > "$WORK/config.yaml" <<YAML
nodeId: bench
ilpAddress: g.bench
peers:
  - { id: alice, authToken: alice-secret }
  - { id: bob, authToken: bob-secret }
routes:
  - { prefix: g.bob, nextHop: bob }
YAML
step "start m2m-connector (BTP :$BTP, SQLite ledger $WORK/ledger.db)"
BTP_SERVER_PORT=$BTP HEALTH_CHECK_PORT=$HTTP BIND_ADDRESS=127.0.0.1 LEDGER_BACKEND=sqlite LEDGER_PATH="$WORK/ledger.db" LOG_LEVEL=warn \
  dotnet "$CONNECTOR" run --config "$WORK/config.yaml" > "$WORK/m2m-connector.log" 2>&1 &
M2M_PID=$!; PIDS+=("$M2M_PID")
wait_port 127.0.0.1 "$BTP" 60
step "load: m2m-connector at full speed"
run_load m2m "$M2M_PID" --connector "ws://alice:alice-secret@127.0.0.1:$BTP" --receiver-auth bob:bob-secret --destination g.bob.receiver
HALF=$(python3 -c "import json; print(max(1, round(json.load(open('$WORK/m2m.json'))['packets_per_second'] / 2)))")
step "load: m2m-connector at half its peak ($HALF packets/s)"
PACKETS=$(( PACKETS / 2 )) run_load m2m-half "$M2M_PID" --connector "ws://alice:alice-secret@127.0.0.1:$BTP" --receiver-auth bob:bob-secret --destination g.bob.receiver --rate "$HALF"
kill -TERM "$M2M_PID"; wait "$M2M_PID" 2>/dev/null || true
step "ledger check: m2m-connector ledger verify"
LEDGER_PATH="$WORK/ledger.db" dotnet "$CONNECTOR" ledger verify --config "$WORK/config.yaml" 2>&1 | tail -n 2 >&2 || true

python3 - "$WORK" <<'PY'
import json, sys, os
work = sys.argv[1]
rows = [("JS ilp-connector 23.0.2 (memory only, persists nothing)", "js"),
        ("m2m-connector (durable SQLite ledger)", "m2m"),
        ("m2m-connector at half its peak rate", "m2m-half")]
r = {k: json.load(open(os.path.join(work, k + ".json"))) for _, k in rows}
print()
print(f"| connector | packets/s | p50 ms | p99 ms | CPU s per 100k packets | peak RSS MiB | fulfilled / sent | load avg (1/5/15 min) |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
for name, k in rows:
    x = r[k]
    print(f"| {name} | {x['packets_per_second']:,.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x.get('cpu_seconds_per_100k', 0):.1f} | {x.get('peak_rss_kb', 0)/1024:.0f} | {x['fulfilled']:,} / {x['sent']:,} | {x['load_average_start']} |")
js, ours = r["js"]["packets_per_second"], r["m2m"]["packets_per_second"]
print()
print(f"ratio m2m / JS packets/s: {ours / js:.2f}x (target >= 10x); p99 at half peak: {r['m2m-half']['p99_ms']:.2f} ms (target < 10 ms)")
print(f"cores: {r['m2m']['cores']}; the JS connector keeps balances in memory only (store: memory), ours commits every packet's reserve and post to SQLite (WAL, synchronous=FULL) before replying.")
print(f"raw JSON lines and logs: {work}")
PY
