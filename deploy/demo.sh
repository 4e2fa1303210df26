#!/usr/bin/env bash
# The README's demo: a private Tor network on 127.0.0.1 (3 directory authorities, 5 relays, a client),
# 3 backend onion services in OnionBalance-instance mode, and the balancer publishing one public address
# for them. Then it fetches the public address through the client a few times and shows which backend
# answered each request.
#   bash deploy/demo.sh          bring everything up (into ./demo, or $OB_DEMO_DIR)
#   bash deploy/demo.sh down     stop everything the demo started
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${OB_DEMO_DIR:-$root/demo}
backends=${OB_DEMO_BACKENDS:-3}

down() {
  if [ -f "$dir/onionbalance.pid" ]; then
    pid=$(cat "$dir/onionbalance.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/onionbalance.pid"
  fi
  if [ -f "$dir/net/testnet.json" ]; then
    go run ./deploy/testnet/cmd/testnet down -dir "$dir/net"
  fi
}

if [ "${1:-up}" = "down" ]; then
  down
  exit 0
fi

bash deploy/install-deps.sh
if [ -f "$dir/net/testnet.json" ] || [ -f "$dir/onionbalance.pid" ]; then
  echo "demo: an earlier demo is still in $dir; stopping it first" >&2
  down
fi
rm -rf "$dir"
mkdir -p "$dir/bin"

echo "== building onionbalance and onionbalance-config" >&2
go build -o "$dir/bin/" ./cmd/onionbalance ./cmd/onionbalance-config

echo "== generating the master key and config with onionbalance-config" >&2
"$dir/bin/onionbalance-config" --output "$dir/config" -n "$backends" --no-interactive >"$dir/generate.log"
key=$(ls "$dir"/config/master/*.key)
master=$(basename "$key" .key)
echo "public address: $master.onion" >&2

echo "== starting the private Tor network and $backends backends (about a minute)" >&2
go run ./deploy/testnet/cmd/testnet up -dir "$dir/net" -backends "$backends" -master "$master.onion"
# shellcheck disable=SC1091
. "$dir/net/env"

# The balancer's config: the Python tool's format, the generated master key, the running backends.
{
  echo "services:"
  echo "  - key: $key"
  echo "    instances:"
  i=0
  for b in $OB_BACKENDS; do
    i=$((i + 1))
    echo "      - address: $b"
    echo "        name: backend$i"
  done
  echo "status-socket-location: $dir/status.sock"
  echo "data-dir: $dir/data"
  echo "tor:"
  echo "  control: tcp:$OB_CONTROL"
  echo "publish:"
  echo "  fetch-interval: 20s"
  echo "metrics:"
  echo "  listen: 127.0.0.1:0"
} >"$dir/onionbalance.yaml"

echo "== starting onionbalance (log: $dir/onionbalance.log)" >&2
"$dir/bin/onionbalance" -c "$dir/onionbalance.yaml" >"$dir/onionbalance.log" 2>&1 &
echo $! >"$dir/onionbalance.pid"

deadline=$((SECONDS + 180))
# Ready once every backend's descriptor was received and a master descriptor was uploaded after the
# last of them (a backend's tor publishes its first descriptor some seconds after it starts).
fetched() { grep 'backend intro points changed' "$dir/onionbalance.log" | grep -o 'backend=[a-z2-7]*' | sort -u | wc -l; }
ready() {
  [ "$(fetched)" -ge "$backends" ] || return 1
  last=$(grep -n 'backend intro points changed' "$dir/onionbalance.log" | tail -1 | cut -d: -f1)
  tail -n +"$last" "$dir/onionbalance.log" | grep -q 'uploaded descriptor'
}
until ready; do
  if ! kill -0 "$(cat "$dir/onionbalance.pid")" 2>/dev/null; then
    echo "demo: onionbalance exited:" >&2
    tail -20 "$dir/onionbalance.log" >&2
    exit 1
  fi
  if [ $SECONDS -gt $deadline ]; then
    if grep -q 'uploaded descriptor' "$dir/onionbalance.log"; then
      echo "demo: after 180 s only $(fetched) of $backends backends' descriptors were received; going on" >&2
      break
    fi
    echo "demo: no descriptor uploaded after 180 s" >&2
    tail -20 "$dir/onionbalance.log" >&2
    exit 1
  fi
  sleep 1
done
echo "== $(fetched) backends in the master descriptor; requests through the test network's client (fresh circuit each):" >&2

ok=0
for n in $(seq 1 10); do
  # A new SOCKS username per request makes tor use a fresh circuit (IsolateSOCKSAuth).
  if body=$(curl -s -m 60 --socks5-hostname "$OB_SOCKS" -U "demo$n$RANDOM:x" "http://$master.onion/"); then
    echo "  request $n -> $body"
    ok=$((ok + 1))
  else
    echo "  request $n -> failed (curl exit $?)"
  fi
done
echo
echo "$ok of 10 requests answered by http://$master.onion/"
echo "status:  nc -U $dir/status.sock   (or: python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(1<<20).decode())' $dir/status.sock)"
echo "stop:    make demo-down"
[ "$ok" -gt 0 ]
