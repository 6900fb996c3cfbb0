#!/usr/bin/env bash
# A bounded soak at a fixed rate: starts m2m-connector (fresh SQLite ledger), warms it up, then
# sends --rate packets/s for --seconds through the compare.sh topology while sampling the
# connector's RSS every 10 s. Prints the load generator's summary (p50/p99, CPU per packet) and
# the RSS samples with their growth from the first sample after warm-up to the last. Bounded: packet count = rate × seconds, time cap seconds + 60; loopback only.
# usage: bench/soak.sh [--dll PATH] [--rate N] [--seconds S] [--warmup N] [--concurrency C]
#   defaults: the Release build, 500 packets/s, 300 s, 20,000 warm-up packets, concurrency 64
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DLL="$ROOT/src/M2M.Cli/bin/Release/net10.0/m2m-connector.dll"
RATE=500
SECONDS_=300
WARMUP=20000
CONCURRENCY=64
while [ $# -gt 0 ]; do
  case "$1" in
    --dll) DLL="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --seconds) SECONDS_="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    *) echo "soak.sh: unknown option $1 (use --dll PATH, --rate N, --seconds S, --warmup N, --concurrency C)" >&2; exit 1 ;;
  esac
done
[ -f "$DLL" ] || { echo "soak.sh: $DLL is missing: build it (bench/compare.sh builds it)" >&2; exit 1; }
# LOADGEN_DLL: another build of the load generator (e.g. a copy, so a rebuild cannot change it mid-run).
LOADGEN=(dotnet "${LOADGEN_DLL:-$ROOT/bench/M2M.LoadGen/bin/Release/net10.0/m2m-loadgen.dll}")
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_workdir soak
write_connector_config "$WORK/config.yaml"
start_connector "$DLL" "$WORK/ledger.db" "$WORK/connector.log"
PEERS=(--connector "ws://alice:alice-secret@127.0.0.1:$BTP" --receiver-auth bob:bob-secret --destination g.bob.receiver --concurrency "$CONCURRENCY" --pid "$PID")
"${LOADGEN[@]}" "${PEERS[@]}" --packets "$WARMUP" --warmup 0 --duration-cap 300 --label warmup > "$WORK/warmup.out"
rss() { awk '/^VmRSS/ {print int($2/1024)}' "/proc/$PID/status"; }
(
  while kill -0 "$PID" 2>/dev/null; do echo "$(date -u +%H:%M:%S) $(rss) MiB load $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done
) > "$WORK/rss.log" &
SAMPLER=$!; PIDS+=("$SAMPLER")
"${LOADGEN[@]}" "${PEERS[@]}" --packets $(( RATE * SECONDS_ )) --warmup 0 --rate "$RATE" --duration-cap $(( SECONDS_ + 60 )) --label soak | grep -v '^{' >&2
kill "$SAMPLER" 2>/dev/null || true
echo "RSS every 10 s (MiB):" >&2
cat "$WORK/rss.log" >&2
python3 - "$WORK/rss.log" <<'PY'
import sys
s = [int(l.split()[1]) for l in open(sys.argv[1]) if l.split()[1].isdigit()]
if len(s) >= 2:
    print(f"RSS first {s[0]} MiB, last {s[-1]} MiB, max {max(s)} MiB: growth {100 * (s[-1] - s[0]) / s[0]:+.1f} % (target < 10 %)")
PY
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
LEDGER_PATH="$WORK/ledger.db" dotnet "$DLL" ledger verify --config "$WORK/config.yaml" 2>&1 | tail -n 1 >&2 || true
echo "logs: $WORK" >&2
