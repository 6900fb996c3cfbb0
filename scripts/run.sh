#!/usr/bin/env bash
# Runs m2m-connector from this checkout: builds it first (about two minutes on a fresh clone,
# seconds afterwards) and says so, then passes every argument on.
#   ./scripts/run.sh run --config examples/single-node.yaml
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)  # arguments and ./data stay relative to where you run it
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command -v dotnet >/dev/null || { echo "the .NET 10 SDK is required (dotnet not on PATH): https://dot.net" >&2; exit 1; }
if [ ! -f "$root/src/M2M.Cli/bin/Release/net10.0/m2m-connector.dll" ]; then
  echo "building m2m-connector (Release); the first build takes about two minutes..." >&2
else
  echo "building m2m-connector (Release; up to date in a few seconds)..." >&2
fi
# Quiet unless it fails: then the whole build output, so the error is visible.
if ! out=$(dotnet build "$root/src/M2M.Cli" -c Release --nologo -v quiet 2>&1); then
  echo "$out" >&2
  echo "the build failed (above); nothing was started" >&2
  exit 1
fi
exec dotnet "$root/src/M2M.Cli/bin/Release/net10.0/m2m-connector.dll" "$@"
