#!/usr/bin/env bash
# PostgreSQL ledger figures: packets/s and connector CPU per packet for 1 and then 2 connector
# processes on one database (a throwaway PostgreSQL cluster: initdb into a temp dir, fsync on,
# synchronous_commit on; as root the server runs through `runuser -u postgres`). Each connector
# gets the compare.sh topology and its own load generator; with 2, both load generators run at
# once and packets/s is their sum. Bounded: packet counts and a time cap; loopback only.
# usage: bench/postgres.sh [--packets N] [--warmup N] [--concurrency C] [--dll PATH]
#   defaults: 20,000 packets per connector after 10,000 warm-up, concurrency 64, the Release build
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DLL="$ROOT/src/M2M.Cli/bin/Release/net10.0/m2m-connector.dll"
PACKETS=20000
WARMUP=10000
CONCURRENCY=64
while [ $# -gt 0 ]; do
  case "$1" in
    --dll) DLL="$2"; shift 2 ;;
    --packets) PACKETS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    *) echo "postgres.sh: unknown option $1 (use --packets N, --warmup N, --concurrency C, --dll PATH)" >&2; exit 1 ;;
  esac
done
[ -f "$DLL" ] || { echo "postgres.sh: $DLL is missing: build it (bench/compare.sh builds it)" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/initdb" ] || { echo "postgres.sh: PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }
LOADGEN=(dotnet "$ROOT/bench/M2M.LoadGen/bin/Release/net10.0/m2m-loadgen.dll")
WORK="$(mktemp -d /tmp/m2m-pgbench.XXXXXX)"
AS_PG=()
if [ "$(id -u)" = 0 ]; then AS_PG=(runuser -u postgres --); chown postgres "$WORK"; fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast -w stop > /dev/null 2>&1 || true
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
PGPORT=$(free_port)
"${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 --no-sync --no-instructions > "$WORK/initdb.log"
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $WORK -c fsync=on -c synchronous_commit=on -c max_connections=300" start > /dev/null
write_connector_config "$WORK/config.yaml"

run() { # n: n connector processes on a fresh database, each driven by its own load generator
  local n="$1" db="ledger$1" i
  "${AS_PG[@]}" "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres "$db"
  local url="Host=127.0.0.1;Port=$PGPORT;Username=postgres;Database=$db"
  local pids=() btps=()
  for i in $(seq "$n"); do
    local btp http
    btp=$(free_port); http=$(free_port)
    BTP_SERVER_PORT=$btp HEALTH_CHECK_PORT=$http BIND_ADDRESS=127.0.0.1 LEDGER_BACKEND=postgres LEDGER_POSTGRES_URL="$url" \
      LOG_LEVEL=warn dotnet "$DLL" run --config "$WORK/config.yaml" > "$WORK/c$n-$i.log" 2>&1 &
    pids+=($!); PIDS+=($!); btps+=("$btp")
    wait_port 127.0.0.1 "$btp" 60 # one at a time: the first creates the schema
  done
  local gens=()
  for i in $(seq "$n"); do
    "${LOADGEN[@]}" --label "pg$n-$i" --pid "${pids[$((i-1))]}" --packets "$PACKETS" --warmup "$WARMUP" --concurrency "$CONCURRENCY" --duration-cap 300 \
      --connector "ws://alice:alice-secret@127.0.0.1:${btps[$((i-1))]}" --receiver-auth bob:bob-secret --destination g.bob.receiver > "$WORK/pg$n-$i.out" &
    gens+=($!)
  done
  for g in "${gens[@]}"; do wait "$g" || true; done
  for i in $(seq "$n"); do grep -v '^{' "$WORK/pg$n-$i.out" >&2; tail -n 1 "$WORK/pg$n-$i.out" > "$WORK/pg$n-$i.json"; done
  for p in "${pids[@]}"; do kill -TERM "$p"; wait "$p" 2>/dev/null || true; done
  LEDGER_BACKEND=postgres LEDGER_POSTGRES_URL="$url" dotnet "$DLL" ledger verify --config "$WORK/config.yaml" 2>&1 | tail -n 1 >&2 || true
}
run 1
run 2
python3 - "$WORK" <<'PY'
import json, sys, glob, os
work = sys.argv[1]
print("| connectors on one PostgreSQL database | packets/s (sum) | CPU µs/packet per connector | p99 ms | load generator µs/packet | load avg |")
print("|---|---:|---:|---:|---:|---|")
for n in (1, 2):
    rs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(work, f"pg{n}-*.json")))]
    pps = sum(r["packets_per_second"] for r in rs)
    cpu = ", ".join(f"{r['cpu_seconds_per_100k'] * 10:.1f}" for r in rs)
    p99 = ", ".join(f"{r['p99_ms']:.1f}" for r in rs)
    lg = ", ".join(f"{r.get('load_gen_cpu_micros_per_packet') or 0:.1f}" for r in rs)
    print(f"| {n} | {pps:,.0f} | {cpu} | {p99} | {lg} | {rs[0]['load_average_start']} |")
PY
echo "logs: $WORK" >&2
