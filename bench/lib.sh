# Shared by the bench scripts (sourced, not run; ROOT set first).

# The one-hop topology both scripts measure: sender peer alice → connector → receiver peer bob.
write_connector_config() { # path
  cat > "$1" <<YAML
nodeId: bench
ilpAddress: g.bench
peers:
  - { id: alice, authToken: alice-secret }
  - { id: bob, authToken: bob-secret }
routes:
  - { prefix: g.bob, nextHop: bob }
YAML
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() { # host port seconds
  for _ in $(seq $(( $3 * 10 ))); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "${0##*/}: nothing listens on $1:$2 after $3 s" >&2; return 1
}

step() { echo "== $*" >&2; }

# Our connector on free loopback ports with a SQLite ledger at LEDGER, logging to LOG; sets BTP, HTTP
# and PID, adds PID to PIDS, and returns once the BTP port listens. Extra NAME=VALUE settings come
# first, so they cannot move the ports, the bind address or the ledger.
start_connector() { # dll ledger-path log-file [NAME=VALUE...]
  local dll="$1" ledger="$2" log="$3"; shift 3
  BTP=$(free_port); HTTP=$(free_port)
  env "$@" BTP_SERVER_PORT="$BTP" HEALTH_CHECK_PORT="$HTTP" BIND_ADDRESS=127.0.0.1 LEDGER_BACKEND=sqlite \
    LEDGER_PATH="$ledger" LOG_LEVEL=warn \
    dotnet "$dll" run --config "$WORK/config.yaml" > "$log" 2>&1 &
  PID=$!; PIDS+=("$PID")
  wait_port 127.0.0.1 "$BTP" 60
}

# The SQLite/PostgreSQL ledger's group commits so far, from the connector's /metrics: "commits calls"
# (ledger_batch_size _count and _sum; "0 0" when there is no ledger or no answer).
ledger_batch_counts() { # http-port
  { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" || true; } |
    awk '/^ledger_batch_size_count /{c=$2} /^ledger_batch_size_sum /{s=$2} END{printf "%d %d\n", c, s}'
}

# A scratch directory in WORK and the PIDS of what the script starts, ended on exit (only those).
bench_workdir() { # name
  WORK="$(mktemp -d "/tmp/m2m-$1.XXXXXX")"
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

# The Release connector and load generator in CONNECTOR and LOADGEN, built unless BUILD=0; every
# DLL given (the two, plus any extra builds named) must exist.
release_builds() { # extra-dll...
  LOADGEN=(dotnet "$ROOT/bench/M2M.LoadGen/bin/Release/net10.0/m2m-loadgen.dll")
  CONNECTOR="$ROOT/src/M2M.Cli/bin/Release/net10.0/m2m-connector.dll"
  if [ "$BUILD" = 1 ]; then
    step "build (Release): connector and load generator"
    dotnet build -c Release "$ROOT/src/M2M.Cli" -v q -nologo >&2
    dotnet build -c Release "$ROOT/bench/M2M.LoadGen" -v q -nologo >&2
  fi
  for f in "$CONNECTOR" "${LOADGEN[1]}" "$@"; do
    [ -f "$f" ] || { echo "${0##*/}: $f is missing: run without --no-build (or fix the DLL path given)" >&2; exit 1; }
  done
}
