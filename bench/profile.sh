#!/usr/bin/env bash
# Where a warm connector's CPU goes, by library: starts m2m-connector (fresh SQLite ledger, the
# compare.sh topology), warms it up with the load generator, then samples it with `perf record`
# (all threads, user + kernel) while the load generator sends --packets more, and prints the share
# of samples per DSO (kernel, libcoreclr = runtime/GC/thread pool, JIT'd code = our code and the
# BCL's, libe_sqlite3, libssl/libcrypto, …) and the top symbols. Needs `perf` and the Release
# builds (bench/compare.sh builds them). W^X is off in the profiled process so perf can name JIT'd code. Bounded: packet counts and a time cap; loopback only.
# usage: bench/profile.sh [--dll path/to/m2m-connector.dll] [--packets N] [--warmup N] [--env NAME=VALUE]...
#   --env: set for the connector, e.g. EXPLORER_ENABLED=false or M2M_BENCH_NULL_LEDGER=1 (repeatable)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DLL="$ROOT/src/M2M.Cli/bin/Release/net10.0/m2m-connector.dll"
PACKETS=40000
WARMUP=20000
ENVS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dll) DLL="$2"; shift 2 ;;
    --packets) PACKETS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --env) case "$2" in *=*) ENVS+=("$2") ;; *) echo "profile.sh: --env needs NAME=VALUE, got '$2'" >&2; exit 1 ;; esac; shift 2 ;;
    *) echo "profile.sh: unknown option $1 (use --dll PATH, --packets N, --warmup N, --env NAME=VALUE)" >&2; exit 1 ;;
  esac
done
command -v perf >/dev/null || { echo "profile.sh: perf is not installed" >&2; exit 1; }
LOADGEN=(dotnet "$ROOT/bench/M2M.LoadGen/bin/Release/net10.0/m2m-loadgen.dll")
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_workdir profile
write_connector_config "$WORK/config.yaml"
start_connector "$DLL" "$WORK/ledger.db" "$WORK/connector.log" ${ENVS[@]+"${ENVS[@]}"} DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
PEERS=(--connector "ws://alice:alice-secret@127.0.0.1:$BTP" --receiver-auth bob:bob-secret --destination g.bob.receiver --concurrency 64 --duration-cap 300 --pid "$PID")
"${LOADGEN[@]}" "${PEERS[@]}" --packets "$WARMUP" --warmup 0 --label warmup > "$WORK/warmup.out"
batch_sizes() { curl -s "http://127.0.0.1:$HTTP/metrics" | grep '^ledger_batch_size_' || true; }
batch_sizes > "$WORK/batch-before.txt"
perf record -F 999 -g -p "$PID" -o "$WORK/perf.data" 2> "$WORK/perf.log" &
PERF=$!
sleep 1
# A capped run (exit 2) is still worth its profile: say so and go on.
rc=0
"${LOADGEN[@]}" "${PEERS[@]}" --packets "$PACKETS" --warmup 0 --label profiled > "$WORK/profiled.out" || rc=$?
grep -v '^{' "$WORK/profiled.out" >&2 || true
[ "$rc" = 0 ] || echo "profile.sh: the profiled load ended with exit $rc (2: the time cap cut it short)" >&2
kill -INT "$PERF"; wait "$PERF" 2>/dev/null || true
batch_sizes > "$WORK/batch-after.txt"
# The group commit's batch sizes during the profiled run (ledger_batch_size, calls per commit: after minus before).
python3 - "$WORK/batch-before.txt" "$WORK/batch-after.txt" <<'PY' || true
import re, sys
def read(path):
    out = {}
    for line in open(path):
        m = re.match(r'ledger_batch_size_(bucket\{le="([^"]+)"\}|sum|count) ([0-9.e+]+)', line)
        if m: out[m.group(2) or m.group(1)] = float(m.group(3))
    return out
before, after = read(sys.argv[1]), read(sys.argv[2])
d = {k: after[k] - before.get(k, 0) for k in after}
commits = d.get("count", 0)
if commits:
    print(f"ledger commits during the profiled run: {commits:.0f}, calls per commit: mean {d['sum'] / commits:.1f}")
    prev = 0
    for k in [k for k in d if k not in ("sum", "count")]:
        print(f"  calls <= {k}: {d[k] - prev:.0f} commits ({(d[k] - prev) / commits:.1%})")
        prev = d[k]
PY
# The reports go to files and awk prints the first lines: `| head` under pipefail made the script exit
# on the writer's SIGPIPE before its last line.
perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none > "$WORK/dso.txt" 2>/dev/null || true
perf report -i "$WORK/perf.data" --no-children --sort dso,sym --stdio -g none > "$WORK/sym.txt" 2>/dev/null || true
top() { awk -v n="$1" '!/^#/ && NF { print; if (++shown == n) exit }' "$2"; }
top 15 "$WORK/dso.txt"
echo
top 40 "$WORK/sym.txt"
echo "perf data and logs: $WORK"
