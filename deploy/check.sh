#!/usr/bin/env bash
# Validates the shipped deployment files without a Docker engine (run by .ci/run):
# every docker-compose-*.yml with docker-compose's `config` (with .env.example as the .env),
# the Prometheus alert rules and scrape config with promtool, the dashboard as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp docker-compose-*.yml "$tmp/"
cp .env.example "$tmp/.env"
for file in docker-compose-*.yml; do
  (cd "$tmp" && docker-compose -f "$file" config -q)
  echo "✓ $file"
done
promtool check rules deploy/prometheus/alerts.yml
promtool check config deploy/prometheus/prometheus.yml
promtool test rules deploy/prometheus/alerts.test.yml
if command -v node >/dev/null; then
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' deploy/grafana/m2m-connector-dashboard.json
  echo "✓ deploy/grafana/m2m-connector-dashboard.json"
fi
# HAProxy configs of the blue-green and cluster setups (service names may not resolve here: init-addr none).
if command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ]; then
  for cfg in deploy/haproxy/*.cfg; do "$(command -v haproxy || echo /usr/sbin/haproxy)" -c -q -f "$cfg"; echo "✓ $cfg"; done
fi
for s in scripts/*.sh; do bash -n "$s"; done
