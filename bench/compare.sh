#!/usr/bin/env bash
# Side by side, in one run: the JavaScript reference connector (npm ilp-connector 23.0.2, in-memory,
# persists nothing) and ours (Release build, durable SQLite ledger), same topology (sender peer
# alice → connector → receiver peer bob, both peers connecting in over BTP, zero fees, rate 1:1),
# driven by the same load generator (bench/M2M.LoadGen). Each connector is measured twice from one
# start: COLD (the first --cold packets after start, while .NET's JIT tiering still runs) and WARM
# (--packets after --warmup more). Then ours at half its warm peak rate, for the p99 target.
# Optional rows: --baseline DLL (another build of m2m-connector.dll, e.g. main, measured the same
# way in the same run), --build NAME=DLL[,VAR=VALUE...] (the same for any other build, e.g. a ReadyToRun
# publish, optionally with runtime settings for that row only; repeatable) and --env NAME=VALUE (ours again, cold and warm, with that runtime setting,
# e.g. DOTNET_TieredPGO=0 or DOTNET_TieredCompilation=0; repeatable); --env-all NAME=VALUE sets a variable for
# every one of our connector rows (e.g. EXPLORER_ENABLED=false, so each row measures what it names).
# A no-ledger row (same build, M2M_BENCH_NULL_LEDGER=1: a bench-only ledger that books nothing, refused in
# production) follows ours (and the --baseline build's), ours also at half its warm peak, and the summary
# says what the durable ledger adds per packet warm and to the p99 at half peak (--no-ledger-row 0 skips them).
# CPU per packet is the target process's utime+stime over the measured phase divided by the
# packets answered, and is reported as a ratio to the JS connector's in the same run (cold to cold,
# warm to warm): on a shared machine that ratio is steadier than any absolute figure. The load
# generator reports its own CPU per packet too. Bounded: every load run has a packet count and a
# time cap; loopback only.
#
# usage: bench/compare.sh [--packets N] [--warmup N] [--cold N] [--concurrency C] [--cap SECONDS]
#                         [--baseline DLL] [--build NAME=DLL[,VAR=VALUE...]]... [--env NAME=VALUE]... [--env-all NAME=VALUE]...
#                         [--no-ledger-row 0|1] [--no-build]
#   defaults: 100000 packets, 40000 warm-up, 20000 cold, concurrency 64, 120 s cap per load run (20,000 measured
#   packets last about a second at our rate and moved CPU per packet by ±15 % between two runs of one build)
set -euo pipefail

PACKETS=100000
WARMUP=40000
COLD=20000
CONCURRENCY=64
CAP=120
BUILD=1
BASELINE=""
ENVS=()
ENV_ALL=()
NO_LEDGER_ROW=1
BUILDS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --packets) PACKETS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --cold) COLD="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --cap) CAP="$2"; shift 2 ;;
    --baseline) BASELINE="$2"; shift 2 ;;
    --build) case "$2" in *=*) BUILDS+=("$2") ;; *) echo "compare.sh: --build needs NAME=DLL, got '$2'" >&2; exit 1 ;; esac; shift 2 ;;
    --env) case "$2" in *=*) ENVS+=("$2") ;; *) echo "compare.sh: --env needs NAME=VALUE, got '$2'" >&2; exit 1 ;; esac; shift 2 ;;
    --env-all) case "$2" in *=*) ENV_ALL+=("$2") ;; *) echo "compare.sh: --env-all needs NAME=VALUE, got '$2'" >&2; exit 1 ;; esac; shift 2 ;;
    --no-ledger-row) case "$2" in 0|1) NO_LEDGER_ROW="$2" ;; *) echo "compare.sh: --no-ledger-row needs 0 or 1, got '$2'" >&2; exit 1 ;; esac; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "compare.sh: unknown option $1 (use --packets N, --warmup N, --cold N, --concurrency C, --cap SECONDS, --baseline DLL, --build NAME=DLL, --env NAME=VALUE, --env-all NAME=VALUE, --no-ledger-row 0|1, --no-build)" >&2; exit 1 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_workdir compare
BUILD_DLLS=(); for kv in ${BUILDS[@]+"${BUILDS[@]}"}; do v="${kv#*=}"; BUILD_DLLS+=("${v%%,*}"); done
release_builds ${BASELINE:+"$BASELINE"} ${BUILD_DLLS[@]+"${BUILD_DLLS[@]}"}

step "install the JavaScript reference connector (npm ci, bench/js-connector/package-lock.json)"
if [ ! -d "$ROOT/bench/js-connector/node_modules/ilp-connector" ]; then
  (cd "$ROOT/bench/js-connector" && npm ci --no-audit --no-fund >&2)
fi

run_load() { # label pid packets warmup loadgen-args...
  local label="$1" pid="$2" packets="$3" warmup="$4" rc=0; shift 4
  # Exit 2 is the load generator's "the time cap cut the run short" (or a peer did not connect): report
  # the row as capped, or leave it out when there is no result line, and go on with the next row.
  "${LOADGEN[@]}" --label "$label" --pid "$pid" --packets "$packets" --concurrency "$CONCURRENCY" \
    --warmup "$warmup" --duration-cap "$CAP" "$@" > "$WORK/$label.out" || rc=$?
  grep -v '^{' "$WORK/$label.out" >&2 || true
  if ! tail -n 1 "$WORK/$label.out" | grep -q '^{'; then
    echo "compare.sh: $label: no result (load generator exit $rc); row left out" >&2
    return 0
  fi
  [ "$rc" = 0 ] || echo "compare.sh: $label: capped at $CAP s (load generator exit $rc); reported as capped" >&2
  tail -n 1 "$WORK/$label.out" > "$WORK/$label.json"
  echo "$label" >> "$WORK/rows"
}

# ---- JavaScript ilp-connector ----
JS_A=$(free_port); JS_B=$(free_port)
step "start ilp-connector (alice :$JS_A, bob :$JS_B)"
node "$ROOT/bench/js-connector/start.js" "$JS_A" "$JS_B" > "$WORK/js-connector.log" 2>&1 &
JS_PID=$!; PIDS+=("$JS_PID")
wait_port 127.0.0.1 "$JS_A" 30; wait_port 127.0.0.1 "$JS_B" 30
JS_PEERS=(--connector "ws://alice:alice-secret@127.0.0.1:$JS_A" --receiver "ws://bob:bob-secret@127.0.0.1:$JS_B" --destination g.bob.receiver)
step "load: ilp-connector, cold then warm"
run_load js-cold "$JS_PID" "$COLD" 0 "${JS_PEERS[@]}"
run_load js "$JS_PID" "$PACKETS" "$WARMUP" "${JS_PEERS[@]}"
kill "$JS_PID"; wait "$JS_PID" 2>/dev/null || true

# ---- the floor: our BTP/WebSocket stack relaying bytes, nothing else ----
RELAY=$(free_port)
step "start the null relay (m2m-loadgen relay, :$RELAY)"
"${LOADGEN[@]}" relay "$RELAY" alice:alice-secret bob:bob-secret > "$WORK/relay.log" 2>&1 &
RELAY_PID=$!; PIDS+=("$RELAY_PID")
# Wait for its "listening" line, not by connecting: HttpListener can fail (ArgumentNullException in
# HttpEndPointListener.ProcessAccept) when a connection arrives while Start() is still running.
for _ in $(seq 300); do grep -q '^null relay on' "$WORK/relay.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^null relay on' "$WORK/relay.log" || { echo "compare.sh: the null relay did not start:" >&2; cat "$WORK/relay.log" >&2; exit 1; }
RELAY_PEERS=(--connector "ws://alice:alice-secret@127.0.0.1:$RELAY" --receiver-auth bob:bob-secret --destination g.bob.receiver)
step "load: null relay, cold then warm"
run_load null-relay-cold "$RELAY_PID" "$COLD" 0 "${RELAY_PEERS[@]}"
run_load null-relay "$RELAY_PID" "$PACKETS" "$WARMUP" "${RELAY_PEERS[@]}"
kill "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null || true

# ---- ours ----
write_connector_config "$WORK/config.yaml"

run_m2m() { # label dll half(0|1) [NAME=VALUE...]: a fresh ledger, cold then warm (then half rate)
  local label="$1" dll="$2" half="$3"; shift 3
  local btp http pid
  step "start $label (SQLite ledger $WORK/$label.db${*:+, $*})"
  start_connector "$dll" "$WORK/$label.db" "$WORK/$label.log" ${ENV_ALL[@]+"${ENV_ALL[@]}"} "$@"
  btp=$BTP; http=$HTTP; pid=$PID
  local peers=(--connector "ws://alice:alice-secret@127.0.0.1:$btp" --receiver-auth bob:bob-secret --destination g.bob.receiver)
  step "load: $label, cold then warm"
  run_load "$label-cold" "$pid" "$COLD" 0 "${peers[@]}"
  local batches_before
  batches_before=$(ledger_batch_counts "$http")
  run_load "$label" "$pid" "$PACKETS" "$WARMUP" "${peers[@]}"
  echo "$label $(( PACKETS + WARMUP )) $batches_before $(ledger_batch_counts "$http")" >> "$WORK/batches"
  if [ "$half" = 1 ]; then
    local rate
    if [ -f "$WORK/$label.json" ]; then
      rate=$(python3 -c "import json; print(max(1, round(json.load(open('$WORK/$label.json'))['packets_per_second'] / 2)))")
      step "load: $label at half its warm peak ($rate packets/s)"
      run_load "$label-half" "$pid" $(( PACKETS / 2 )) 0 "${peers[@]}" --rate "$rate"
    fi
  fi
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  if [ -f "$WORK/$label.db" ]; then # the no-ledger row writes no file
    step "ledger check: $label ledger verify"
    LEDGER_PATH="$WORK/$label.db" dotnet "$dll" ledger verify --config "$WORK/config.yaml" 2>&1 | tail -n 2 >&2 || true
  fi
}

run_m2m m2m "$CONNECTOR" 1
if [ "$NO_LEDGER_ROW" = 1 ]; then run_m2m m2m-no-ledger "$CONNECTOR" 1 M2M_BENCH_NULL_LEDGER=1; fi
if [ -n "$BASELINE" ]; then run_m2m baseline "$BASELINE" 0; fi
if [ -n "$BASELINE" ] && [ "$NO_LEDGER_ROW" = 1 ]; then run_m2m baseline-no-ledger "$BASELINE" 0 M2M_BENCH_NULL_LEDGER=1; fi
for kv in ${BUILDS[@]+"${BUILDS[@]}"}; do # NAME=DLL[,VAR=VALUE...]
  IFS=, read -r -a parts <<< "${kv#*=}"
  run_m2m "m2m-${kv%%=*}" "${parts[@]:0:1}" 0 ${parts[@]:1}
done
for kv in ${ENVS[@]+"${ENVS[@]}"}; do run_m2m "m2m-${kv%%=*}=${kv#*=}" "$CONNECTOR" 0 "$kv"; done

python3 - "$WORK" ${ENV_ALL[@]+"${ENV_ALL[@]}"} <<'PY'
import json, sys, os
work = sys.argv[1]
env_all = sys.argv[2:]
rows_file = os.path.join(work, "rows")
rows = [l.strip() for l in open(rows_file) if l.strip()] if os.path.exists(rows_file) else []
r = {k: json.load(open(os.path.join(work, k + ".json"))) for k in rows}
names = {"js": "JS ilp-connector 23.0.2 (memory only, persists nothing)", "m2m": "m2m-connector, durable SQLite ledger",
         "baseline": "m2m-connector baseline build, durable SQLite",
         "m2m-no-ledger": "m2m-connector, no ledger (bench only: M2M_BENCH_NULL_LEDGER=1 books nothing)",
         "baseline-no-ledger": "m2m-connector baseline build, no ledger (M2M_BENCH_NULL_LEDGER=1)",
         "null-relay": "null relay (our BTP/WebSocket stack relaying bytes: the floor)"}
def name(k):
    base = k.removesuffix("-cold").removesuffix("-half")
    n = names.get(base, base.replace("m2m-", "m2m-connector, "))
    n += " — COLD (first packets after start)" if k.endswith("-cold") else " — at half its warm peak" if k.endswith("-half") else " — warm"
    return n + (" — CAPPED (the time cap cut it short)" if r[k].get("hit_time_cap") else "")
def us(x): return x.get("cpu_seconds_per_100k") and x["cpu_seconds_per_100k"] * 10
print()
print("| connector | packets/s | p50 ms | p99 ms | CPU µs/packet | × JS CPU | load generator µs/packet | peak RSS MiB | fulfilled / sent | load avg (1/5/15 min) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for k in rows:
    x = r[k]
    js = r.get("js-cold" if k.endswith("-cold") else "js", {})
    ratio = f"{us(x) / us(js):.2f}" if us(x) and us(js) else "–"
    print(f"| {name(k)} | {x['packets_per_second']:,.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {us(x) or 0:.1f} | {ratio} | {x.get('load_gen_cpu_micros_per_packet') or 0:.1f} | {x.get('peak_rss_kb', 0)/1024:.0f} | {x['fulfilled']:,} / {x['sent']:,} | {x['load_average_start']} |")
js, ours = r.get("js", {}), r.get("m2m", {})
print()
if js and ours and us(js) and us(ours):
    print(f"warm: m2m / JS packets/s {ours['packets_per_second'] / js['packets_per_second']:.2f}x (target >= 2x); CPU per packet {us(ours) / us(js):.2f}x JS (target <= 0.3x)")
if ours and us(ours) and "m2m-cold" in r and us(r["m2m-cold"]) and "m2m-half" in r:
    print(f"cold: first packets cost {us(r['m2m-cold']) / us(ours):.2f}x the warm CPU per packet (target <= 1.5x); p99 at half peak: {r['m2m-half']['p99_ms']:.2f} ms (target < 10 ms)")
missing = [k for k in ("js", "m2m", "m2m-cold", "m2m-half") if k not in r]
if missing:
    print(f"rows without a result (see the log above): {', '.join(missing)}")
if "m2m-no-ledger" in r and ours and us(ours) and us(r["m2m-no-ledger"]):
    print(f"ledger: the durable SQLite ledger adds {us(ours) - us(r['m2m-no-ledger']):.1f} µs per packet warm over the no-ledger row of the same build (target <= 10 µs)")
    if "m2m-no-ledger-half" in r and "m2m-half" in r:
        print(f"p99 at half peak without the ledger (same build): {r['m2m-no-ledger-half']['p99_ms']:.2f} ms, with it {r['m2m-half']['p99_ms']:.2f} ms")
if os.path.exists(os.path.join(work, "batches")):
    for line in open(os.path.join(work, "batches")):
        label, packets, c0, s0, c1, s1 = line.split()
        commits, calls = int(c1) - int(c0), int(s1) - int(s0)
        if commits > 0:
            print(f"group commit, {label} warm phase (warm-up included): {commits:,} commits, {calls / commits:.1f} calls per commit, {commits / int(packets):.3f} commits per packet")
if "baseline" in r and "baseline-no-ledger" in r and ours and us(ours) and us(r["baseline"]) and us(r["baseline-no-ledger"]):
    print(f"baseline: this build / the baseline's CPU per packet warm {us(ours) / us(r['baseline']):.2f}x with the ledger"
          + (f", {us(r['m2m-no-ledger']) / us(r['baseline-no-ledger']):.2f}x without" if "m2m-no-ledger" in r else ""))
# Every row of ours started cold: its own cold/warm ratio (the cold target), to compare builds and settings.
cold = [f"{k.removesuffix('-cold')} {us(r[k]) / us(r[k.removesuffix('-cold')]):.2f}x" for k in rows
        if k.endswith("-cold") and k.startswith(("m2m", "baseline")) and us(r[k]) and us(r.get(k.removesuffix("-cold"), {}))]
if cold:
    print("cold / warm CPU per packet, each row of ours: " + ", ".join(cold))
if env_all:
    print(f"every m2m-connector row ran with: {' '.join(env_all)}")
print(f"cores: {ours.get('cores', os.cpu_count())}; JS keeps balances in memory only; ours commits every packet's reserve and post to SQLite (WAL, synchronous=FULL), the post before the Fulfill goes upstream.")
print(f"raw JSON lines and logs: {work}")
PY
