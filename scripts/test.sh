#!/usr/bin/env bash
# Runs every test tier: unit, integration (real WebSockets on 127.0.0.1), CLI processes, and
# interop with the npm ilp-plugin-btp peers. Prints a closing "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

for dir in tests/*/; do
  if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules" ]; then
    echo "installing npm test peers in $dir (from package-lock.json)"
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
done

# The connectors the tests start, directly or through the operator scripts, skip the start-up warm-up
# (STARTUP_WARMUP_PACKETS, 20,000 by default: 1-5 s of every start, which no test here measures); the
# warm-up's own tests set it (StartupWarmupTests, LoadGenSmokeTests), and tests/M2M.TestKit/CliProcess.cs does too.
export STARTUP_WARMUP_PACKETS="${STARTUP_WARMUP_PACKETS:-0}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# A test that hangs ends its run after 10 minutes with the test's name (no dump), well inside CI's 30; the
# longest single test took 122 s in a full run here (ToolPackagingTests: it packs and installs the tool).
dotnet test M2M.Connector.slnx --nologo --blame-hang-timeout 10m --blame-hang-dump-type none "$@" 2>&1 | tee "$log" || status=$?

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
echo "tests: ${passed} passed, ${failed} failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
