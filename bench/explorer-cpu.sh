#!/usr/bin/env bash
# The Explorer's cost on the packet path, in one run: our connector (Release, durable SQLite ledger,
# the one-hop topology of bench/compare.sh) measured warm in three ways, each from a fresh start:
#   off        EXPLORER_ENABLED=false (no Explorer code in the packet path)
#   closed     the Explorer on (events captured and written to explorer.db), nobody watching
#   streaming  the Explorer on with a live client: an SSE stream (/api/events/stream) read for the whole run
# CPU per packet is the connector process's utime+stime over the measured phase divided by the packets
# answered (m2m-loadgen --pid); the streaming client's own CPU is not in it. The three are interleaved
# for --rounds rounds and the median of each is reported, with the ratio streaming / closed (target:
# at most 1.05) and streaming / off. Bounded: every load run has a packet count and a time cap; loopback only.
#
# The warm-up is 60,000 packets: with an SSE stream open the JIT has about 2,700 more methods to tier up
# (Kestrel's HTTP/1 path, the stream), and on a loaded 2-core machine its background thread was still at
# half the connector's CPU after 20,000 packets (perf), which read as +57 % "streaming" cost that was warm-up.
#
# usage: bench/explorer-cpu.sh [--packets N] [--warmup N] [--concurrency C] [--cap SECONDS] [--rounds R] [--no-build]
#   defaults: 20000 packets, 60000 warm-up, concurrency 64, 300 s cap per load run (warm-up included), 3 rounds
set -euo pipefail

PACKETS=20000
WARMUP=60000
CONCURRENCY=64
CAP=300
ROUNDS=3
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --packets) PACKETS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --cap) CAP="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "explorer-cpu.sh: unknown option $1 (use --packets N, --warmup N, --concurrency C, --cap SECONDS, --rounds R, --no-build)" >&2; exit 1 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_workdir explorer-cpu
release_builds
write_connector_config "$WORK/config.yaml"
TOKEN="bench-explorer-token-$RANDOM$RANDOM"

run_one() { # mode round
  local mode="$1" round="$2" label="$1-$2" btp http pid client=""
  local enabled=true; [ "$mode" = off ] && enabled=false
  step "start $label (EXPLORER_ENABLED=$enabled)"
  start_connector "$CONNECTOR" "$WORK/$label/ledger.db" "$WORK/$label.log" EXPLORER_ENABLED="$enabled" EXPLORER_PORT=off EXPLORER_TOKEN="$TOKEN"
  btp=$BTP; http=$HTTP; pid=$PID
  if [ "$mode" = streaming ]; then
    # The live client: reads every event for the whole run (curl's own CPU is not the connector's).
    curl -sN --max-time $(( CAP * 3 )) -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$http/api/events/stream" > "$WORK/$label.sse" &
    client=$!; PIDS+=("$client")
    sleep 1
  fi
  "${LOADGEN[@]}" --label "$label" --pid "$pid" --packets "$PACKETS" --concurrency "$CONCURRENCY" --warmup "$WARMUP" --duration-cap "$CAP" \
    --connector "ws://alice:alice-secret@127.0.0.1:$btp" --receiver-auth bob:bob-secret --destination g.bob.receiver > "$WORK/$label.out" \
    || echo "$label: the load generator exited non-zero (time cap hit? see its lines above); the row is kept and marked" >&2
  grep -v '^{' "$WORK/$label.out" >&2 || true
  tail -n 1 "$WORK/$label.out" > "$WORK/$label.json"
  if [ -n "$client" ]; then
    kill "$client" 2>/dev/null || true; wait "$client" 2>/dev/null || true
    echo "$(grep -c '^data: ' "$WORK/$label.sse") events streamed to the client" > "$WORK/$label.streamed"
  fi
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$label" >> "$WORK/rows"
}

for round in $(seq "$ROUNDS"); do
  for mode in off closed streaming; do run_one "$mode" "$round"; done
done

python3 - "$WORK" "$PACKETS" "$WARMUP" <<'PY'
import json, os, statistics, sys
work, packets, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [l.strip() for l in open(os.path.join(work, "rows")) if l.strip()]
r = {k: json.load(open(os.path.join(work, k + ".json"))) for k in rows}
def us(x): return x["cpu_seconds_per_100k"] * 10
print()
print("| run | packets/s | p99 ms | connector CPU µs/packet | fulfilled / sent | load avg (1/5/15 min) | SSE |")
print("|---|---:|---:|---:|---:|---|---|")
for k in rows:
    x = r[k]
    streamed = open(os.path.join(work, k + ".streamed")).read().strip() if os.path.exists(os.path.join(work, k + ".streamed")) else ""
    capped = " (time cap)" if x.get("hit_time_cap") else ""
    print(f"| {k}{capped} | {x['packets_per_second']:,.0f} | {x['p99_ms']:.2f} | {us(x):.1f} | {x['fulfilled']:,} / {x['sent']:,} | {x['load_average_start']} | {streamed} |")
med = {m: statistics.median(us(r[k]) for k in rows if k.rsplit("-", 1)[0] == m) for m in ("off", "closed", "streaming")}
print()
print(f"median CPU µs/packet: off {med['off']:.1f}, closed {med['closed']:.1f}, streaming {med['streaming']:.1f}")
print(f"streaming / closed: {med['streaming'] / med['closed']:.3f} (target <= 1.05); streaming / off: {med['streaming'] / med['off']:.3f}; "
      f"closed / off: {med['closed'] / med['off']:.3f}")
print(f"{packets} packets after {warmup} warm-up per run; cores: {r[rows[0]]['cores']}; raw JSON lines and logs: {work}")
PY
