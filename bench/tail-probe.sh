#!/usr/bin/env bash
# Where the p99 at a fixed rate comes from: one connector (fresh SQLite ledger), warmed at full speed, then
# PACKETS at RATE packets/s with /metrics scraped before and after that phase, so the connector's own
# histograms (packet latency, ledger reserve/post latency, group-commit batch size) count exactly those
# packets; plus the disk's own fsync latency on the ledger's filesystem. Bounded (packet counts, 120 s cap
# per load run); loopback only. Run it under the bench lock, one setting per call:
#   flock /tmp/m2m-bench.lock bench/tail-probe.sh --rate 1700 [--dll PATH] [--packets N] [--warmup N] [NAME=VALUE...]
# e.g. M2M_BENCH_NULL_LEDGER=1 (no ledger), EXPLORER_ENABLED=false, DOTNET_GCgen0size=0x4000000.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DLL="$ROOT/src/M2M.Cli/bin/Release/net10.0/m2m-connector.dll"
RATE="" PACKETS=10000 WARMUP=20000 ENVS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --dll) DLL="$2"; shift 2 ;;
    --packets) PACKETS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    *=*) ENVS+=("$1"); shift ;;
    *) echo "tail-probe.sh: unknown option $1 (use --rate N, --dll PATH, --packets N, --warmup N, NAME=VALUE)" >&2; exit 1 ;;
  esac
done
[ -n "$RATE" ] || { echo "tail-probe.sh: --rate N is required (e.g. half of compare.sh's warm packets/s)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD=0 release_builds "$DLL"
bench_workdir tail
write_connector_config "$WORK/config.yaml"
start_connector "$DLL" "$WORK/ledger.db" "$WORK/connector.log" ${ENVS[@]+"${ENVS[@]}"}
load() { "${LOADGEN[@]}" --connector "ws://alice:alice-secret@127.0.0.1:$BTP" --receiver-auth bob:bob-secret \
  --destination g.bob.receiver --concurrency 64 --duration-cap 120 --pid "$PID" "$@"; }
step "warm: $WARMUP + $WARMUP packets at full speed${ENVS[*]:+ (${ENVS[*]})}"
load --label warm --packets "$WARMUP" --warmup "$WARMUP" | grep -v '^{' >&2
curl -sf "http://127.0.0.1:$HTTP/metrics" > "$WORK/before.txt"
step "$PACKETS packets at $RATE/s"
load --label paced --packets "$PACKETS" --warmup 0 --rate "$RATE" > "$WORK/paced.out"
grep -v '^{' "$WORK/paced.out" >&2
tail -n 1 "$WORK/paced.out" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(f"load generator, paced phase: p50 {r['"'"'p50_ms'"'"']:.2f} ms  p99 {r['"'"'p99_ms'"'"']:.2f} ms  ({r['"'"'fulfilled'"'"']:,} fulfilled)")' || true
curl -sf "http://127.0.0.1:$HTTP/metrics" > "$WORK/after.txt"
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
step "the connector's histograms over the paced phase (bucket upper bounds)"
python3 - "$WORK/before.txt" "$WORK/after.txt" <<'PY'
import sys, re, collections
def parse(p):
    d = collections.defaultdict(dict)
    for line in open(p):
        m = re.match(r'(\w+)_bucket\{(.*)\} (\S+)', line)
        if not m: continue
        name, labels, v = m.groups()
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        le = lab.pop('le')
        key = name + '{' + ','.join(f'{k}={v}' for k, v in sorted(lab.items())) + '}'
        d[key][float('inf') if le == '+Inf' else float(le)] = float(v)
    return d
a, b = parse(sys.argv[1]), parse(sys.argv[2])
for key in sorted(b):
    if not key.startswith(('ilp_packet_latency', 'ledger_operation_latency', 'ledger_batch_size')): continue
    les = sorted(b[key]); cum = [b[key][le] - a.get(key, {}).get(le, 0) for le in les]; n = cum[-1]
    if n <= 0: continue
    q = lambda p: next(le for le, c in zip(les, cum) if c >= p * n)
    ms = 1000 if 'seconds' in key else 1
    over = ''.join(f'  >{t * 1000:g} ms {(n - c) / n * 100:.1f}%' for le, c in zip(les, cum) for t in (0.0064, 0.0128) if 'seconds' in key and abs(le - t) < 1e-9)
    print(f'{key}: n={n:.0f}  p50<={q(0.5) * ms:g}  p99<={q(0.99) * ms:g}  p99.9<={q(0.999) * ms:g}{over}')
PY
step "the disk: fsync of a 4 KiB append on the ledger's filesystem"
python3 - "$WORK" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], 'fsync-probe.bin'); n = 500
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600); lat = []
for _ in range(n):
    os.write(fd, b'x' * 4096); t = time.perf_counter(); os.fsync(fd); lat.append((time.perf_counter() - t) * 1000)
os.close(fd); os.unlink(path); lat.sort()
print(f'fsync, {n} times: p50 {lat[n // 2]:.2f} ms  p99 {lat[int(n * 0.99)]:.2f} ms  max {lat[-1]:.2f} ms')
PY
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); files: $WORK" >&2
