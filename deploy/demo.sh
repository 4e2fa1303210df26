#!/usr/bin/env bash
# The README's demo: a private Tor network on 127.0.0.1 (3 directory authorities, 5 relays, a client),
# 3 backend onion services in OnionBalance-instance mode, and the balancer publishing one public address
# for them: by default a cluster of 3 obhosts (each with its own management tor) on a 3-member etcd
# cluster, of which it kills the leader with SIGKILL to show another one take over; with
# OB_DEMO_NODES=1, one obhost with its embedded etcd. It fetches the public address through the
# client a few times and shows which backend answered each request.
#   bash deploy/demo.sh          bring everything up (into ./demo, or $OB_DEMO_DIR)
#   bash deploy/demo.sh down     stop everything the demo started
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${OB_DEMO_DIR:-$root/demo}
backends=${OB_DEMO_BACKENDS:-3}
nodes=${OB_DEMO_NODES:-3}

case "$nodes" in
1 | 2 | 3 | 4 | 5) ;;
*)
  echo "demo: OB_DEMO_NODES=$nodes: want 1 to 5 obhosts" >&2
  exit 2
  ;;
esac

# stop_pidfile FILE: SIGTERM the process in FILE (if it still runs), SIGKILL after 10 s.
stop_pidfile() {
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

down() {
  local f
  for f in "$dir"/onionbalance.pid "$dir"/obhost*/onionbalance.pid "$dir"/etcd*/etcd.pid; do
    stop_pidfile "$f"
  done
  if [ -f "$dir/net/testnet.json" ]; then
    go run ./deploy/testnet/cmd/testnet down -dir "$dir/net"
  fi
}

if [ "${1:-up}" = "down" ]; then
  down
  exit 0
fi

bash deploy/install-deps.sh
if [ -f "$dir/net/testnet.json" ] || compgen -G "$dir/*.pid" >/dev/null || compgen -G "$dir/*/*.pid" >/dev/null; then
  echo "demo: an earlier demo is still in $dir; stopping it first" >&2
  down
fi
rm -rf "$dir"
mkdir -p "$dir/bin"

echo "== building onionbalance and onionbalance-config" >&2
go build -o "$dir/bin/" ./cmd/onionbalance ./cmd/onionbalance-config

echo "== generating the master key and config with onionbalance-config" >&2
cluster_flag=()
[ "$nodes" -gt 1 ] && cluster_flag=(--cluster)
"$dir/bin/onionbalance-config" --output "$dir/config" -n "$backends" --no-interactive "${cluster_flag[@]}" >"$dir/generate.log"
key=$(ls "$dir"/config/master/*.key)
master=$(basename "$key" .key)
echo "public address: $master.onion" >&2

management=0
[ "$nodes" -gt 1 ] && management=$nodes
echo "== starting the private Tor network, $backends backends and $nodes management tors (about a minute)" >&2
go run ./deploy/testnet/cmd/testnet up -dir "$dir/net" -backends "$backends" -master "$master.onion" -management "$management"
# shellcheck disable=SC1091
. "$dir/net/env"

# The services section of the balancer's config: the Python tool's format, the generated master key,
# the running backends.
services() {
  echo "services:"
  echo "  - key: $key"
  echo "    instances:"
  local i=0 b
  for b in $OB_BACKENDS; do
    i=$((i + 1))
    echo "      - address: $b"
    echo "        name: backend$i"
  done
}

# ready LOG: every backend's descriptor was received and a master descriptor was uploaded after the
# last of them (a backend's tor publishes its first descriptor some seconds after it starts).
fetched() { grep 'backend intro points changed' "$1" | grep -o 'backend=[a-z2-7]*' | sort -u | wc -l; }
ready() {
  [ -f "$1" ] || return 1
  [ "$(fetched "$1")" -ge "$backends" ] || return 1
  last=$(grep -n 'backend intro points changed' "$1" | tail -1 | cut -d: -f1)
  tail -n +"$last" "$1" | grep -q 'uploaded descriptor'
}

# requests N: N requests to the public address through the test network's client, each on a fresh
# circuit (a new SOCKS username: IsolateSOCKSAuth). Sets ok to the number answered.
requests() {
  local n body
  ok=0
  for n in $(seq 1 "$1"); do
    if body=$(curl -s -m 60 --socks5-hostname "$OB_SOCKS" -U "demo$n$RANDOM:x" "http://$master.onion/"); then
      echo "  request $n -> $body"
      ok=$((ok + 1))
    else
      echo "  request $n -> failed (curl exit $?)"
    fi
  done
}

# answers: waits (at most 2 minutes, backing off to 8 s) until the public address answers once: the
# HSDirs may still be storing the descriptor just uploaded.
answers() {
  local t0=$SECONDS wait=1
  until curl -s -o /dev/null -m 30 --socks5-hostname "$OB_SOCKS" -U "wait$RANDOM:x" "http://$master.onion/"; do
    if [ $((SECONDS - t0)) -gt 120 ]; then
      echo "demo: http://$master.onion/ did not answer within 2 minutes" >&2
      return 1
    fi
    sleep "$wait"
    wait=$((wait < 8 ? 2 * wait : 8))
  done
  echo "== the public address answered $((SECONDS - t0)) s after the upload" >&2
}

# alive PIDFILE LOG: fails, with the log's tail, if the process of PIDFILE has exited.
alive() {
  if ! kill -0 "$(cat "$1")" 2>/dev/null; then
    echo "demo: $(dirname "$1") exited:" >&2
    tail -20 "$2" >&2
    exit 1
  fi
}

single() {
  {
    services
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

  local deadline=$((SECONDS + 180))
  until ready "$dir/onionbalance.log"; do
    alive "$dir/onionbalance.pid" "$dir/onionbalance.log"
    if [ $SECONDS -gt $deadline ]; then
      if grep -q 'uploaded descriptor' "$dir/onionbalance.log"; then
        echo "demo: after 180 s only $(fetched "$dir/onionbalance.log") of $backends backends' descriptors were received; going on" >&2
        break
      fi
      echo "demo: no descriptor uploaded after 180 s" >&2
      tail -20 "$dir/onionbalance.log" >&2
      exit 1
    fi
    sleep 1
  done
  answers
  echo "== $(fetched "$dir/onionbalance.log") backends in the master descriptor; requests through the test network's client (fresh circuit each):" >&2
  requests 10
  echo
  echo "$ok of 10 requests answered by http://$master.onion/"
  echo "status:  nc -U $dir/status.sock   (or: python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(1<<20).decode())' $dir/status.sock)"
  echo "stop:    make demo-down"
  [ "$ok" -gt 0 ]
}

# leader: the name of the node etcd shows as leader, or "none".
leader() {
  "$dir/bin/onionbalance" status -c "$dir/obhost1/config.yaml" --timeout 5s 2>/dev/null |
    sed -n 's/^Leader: *\([^ ]*\).*/\1/p'
}

cluster() {
  # etcd: one member per obhost, each on its own loopback address (127.0.1.K, the standard ports).
  local i peers="" endpoints="" etcd_bin
  etcd_bin=$(command -v etcd || echo /usr/bin/etcd)
  for i in $(seq 1 "$nodes"); do
    peers+="${peers:+,}etcd$i=http://127.0.1.$i:2380"
    endpoints+="${endpoints:+,}http://127.0.1.$i:2379"
  done
  echo "== starting $nodes etcd members ($endpoints)" >&2
  for i in $(seq 1 "$nodes"); do
    mkdir -p "$dir/etcd$i"
    setsid "$etcd_bin" --name "etcd$i" --data-dir "$dir/etcd$i/data" \
      --listen-client-urls "http://127.0.1.$i:2379" --advertise-client-urls "http://127.0.1.$i:2379" \
      --listen-peer-urls "http://127.0.1.$i:2380" --initial-advertise-peer-urls "http://127.0.1.$i:2380" \
      --initial-cluster "$peers" --initial-cluster-state new --initial-cluster-token obcluster-demo \
      >"$dir/etcd$i/etcd.log" 2>&1 </dev/null &
    echo $! >"$dir/etcd$i/etcd.pid"
  done
  local deadline=$((SECONDS + 60))
  until curl -sf -m 2 "http://127.0.1.1:2379/health" | grep -q '"health":"true"'; do
    alive "$dir/etcd1/etcd.pid" "$dir/etcd1/etcd.log"
    if [ $SECONDS -gt $deadline ]; then
      echo "demo: etcd not healthy after 60 s" >&2
      tail -20 "$dir/etcd1/etcd.log" >&2
      exit 1
    fi
    sleep 0.5
  done

  # The services and the sealed master key go into etcd once (cluster init); each obhost's own config
  # says only how to reach its tor and etcd.
  local kek="$dir/config/master/key-encryption-key"
  {
    services
    echo "cluster:"
    echo "  key-encryption-key-file: $kek"
    echo "  etcd:"
    echo "    endpoints: [$endpoints]"
  } >"$dir/operator.yaml"
  echo "== storing the service and its sealed master key in etcd: onionbalance cluster init" >&2
  "$dir/bin/onionbalance" cluster init -c "$dir/operator.yaml" >&2

  local controls=($OB_MANAGEMENT_CONTROLS) state="" h
  for i in $(seq 1 "$nodes"); do
    h="$dir/obhost$i"
    mkdir -p "$h"
    {
      echo "data-dir: $h/data"
      echo "status-socket-location: $h/status.sock"
      echo "tor:"
      echo "  control: tcp:${controls[$((i - 1))]}"
      echo "cluster:"
      echo "  node-name: obhost$i"
      echo "  session-ttl: 10s"
      echo "  key-encryption-key-file: $kek"
      echo "  etcd:"
      echo "    endpoints: [$endpoints]"
      echo "publish:"
      echo "  fetch-interval: 20s"
      echo "metrics:"
      echo "  listen: 127.0.0.1:0"
    } >"$h/config.yaml"
    "$dir/bin/onionbalance" -c "$h/config.yaml" >"$h/onionbalance.log" 2>&1 &
    echo $! >"$h/onionbalance.pid"
    disown
    state+="${state:+, }\"obhost$i\": $(cat "$h/onionbalance.pid")"
  done
  echo "{\"pids\": {$state}}" >"$dir/obhosts.json"
  echo "== started $nodes obhosts (logs: $dir/obhostK/onionbalance.log)" >&2

  deadline=$((SECONDS + 180))
  local lead=""
  while :; do
    lead=$(leader)
    if [ -n "$lead" ] && [ "$lead" != none ] && ready "$dir/$lead/onionbalance.log"; then
      break
    fi
    for i in $(seq 1 "$nodes"); do alive "$dir/obhost$i/onionbalance.pid" "$dir/obhost$i/onionbalance.log"; done
    if [ $SECONDS -gt $deadline ]; then
      echo "demo: the leader (${lead:-none}) did not publish every backend within 180 s" >&2
      exit 1
    fi
    sleep 1
  done
  "$dir/bin/onionbalance" status -c "$dir/obhost1/config.yaml" | sed -n '1,/^$/p'
  answers
  echo "== $lead leads and published the master descriptor; requests through the test network's client:" >&2
  requests 5
  local before=$ok

  echo "== killing the leader $lead with SIGKILL: onionbalance cluster drill --kill" >&2
  "$dir/bin/onionbalance" cluster drill --state "$dir/obhosts.json" --kill -c "$dir/obhost1/config.yaml"
  rm -f "$dir/$lead/onionbalance.pid"
  echo "== $(leader) leads now; requests to the same address:" >&2
  requests 5
  echo
  echo "$before of 5 requests answered before the leader was killed, $ok of 5 after, by http://$master.onion/"
  echo "status:  $dir/bin/onionbalance status -c $dir/obhost1/config.yaml"
  echo "stop:    make demo-down"
  [ "$before" -gt 0 ] && [ "$ok" -gt 0 ]
}

if [ "$nodes" -eq 1 ]; then
  single
else
  cluster
fi
