#!/usr/bin/env bash
# Packs m2m-connector as a .NET tool and installs it, so `m2m-connector` is on PATH.
#   ./scripts/install-tool.sh                 # dotnet tool install --global (~/.dotnet/tools)
#   ./scripts/install-tool.sh --tool-path DIR # into DIR instead
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
target=(--global)
if [ "${1:-}" = "--tool-path" ]; then
  [ -n "${2:-}" ] || { echo "usage: $0 [--tool-path DIR]" >&2; exit 2; }
  target=(--tool-path "$2")
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [--tool-path DIR]" >&2; exit 2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "packing m2m-connector as a .NET tool (about a minute)..."
dotnet pack src/M2M.Cli -c Release --nologo -v quiet -clp:ErrorsOnly -o "$out"
version=$(ls "$out" | sed -n 's/^M2M\.Connector\.\(.*\)\.nupkg$/\1/p')
[ -n "$version" ] || { echo "no M2M.Connector package was produced in $out" >&2; exit 1; }
# Update if already installed (same command either way).
dotnet tool update "${target[@]}" --add-source "$out" --version "$version" M2M.Connector >/dev/null 2>&1 \
  || dotnet tool install "${target[@]}" --add-source "$out" --version "$version" M2M.Connector
echo "installed m2m-connector $version (${target[*]}); try: m2m-connector --help, m2m-connector completion bash"
