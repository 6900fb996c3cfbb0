# Shared by bench/compare.sh and bench/profile.sh (sourced, not run).

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
