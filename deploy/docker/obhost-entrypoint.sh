#!/bin/bash
# Entrypoint of the obhost image: the management tor, then onionbalance, stopped together.
#
#   obhost-entrypoint [run] [onionbalance flags...]   tor + the daemon (the default)
#   obhost-entrypoint <command> [args...]             onionbalance <command> alone, e.g. cluster init
#   obhost-entrypoint sh|bash|/path [args...]         that program, for debugging
#
# Environment read here and turned into daemon flags (the daemon itself also reads
# ONIONBALANCE_CONFIG, ONIONBALANCE_TOR_CONTROL_SOCKET and ONIONBALANCE_STATUS_SOCKET_LOCATION):
#   ONIONBALANCE_NODE_NAME        --node-name
#   ONIONBALANCE_ETCD_ENDPOINTS   --etcd-endpoints (comma-separated URLs)
#   ONIONBALANCE_LOG_LEVEL        -v
#   ONIONBALANCE_LOG_JSON=1       --log-json
#   ONIONBALANCE_METRICS_LISTEN   --metrics-listen
# and for the container itself:
#   OB_KEK_SECRET   key-encryption key to hand to the daemon (default /run/secrets/onionbalance-kek);
#                   copied, if present, to $OB_RUN_DIR/key-encryption-key, owned by $OB_USER, mode 0600
#   OB_TORRC        torrc of the management tor (default /etc/tor/torrc)
#   OB_TOR_WAIT     seconds to wait for tor's control socket (default 120)
#   OB_USER, OB_TOR_USER  users the daemon and tor run as when started as root (default onionbalance,
#                   debian-tor; empty: stay as the current user)
#   OB_RUN_DIR, OB_TOR_RUN_DIR, OB_DATA_DIR  default /run/onionbalance, /run/tor, /var/lib/onionbalance
set -euo pipefail

: "${OB_KEK_SECRET:=/run/secrets/onionbalance-kek}"
: "${OB_TORRC:=/etc/tor/torrc}"
: "${OB_TOR_WAIT:=120}"
: "${OB_USER=onionbalance}"
: "${OB_TOR_USER=debian-tor}"
: "${OB_RUN_DIR:=/run/onionbalance}"
: "${OB_TOR_RUN_DIR:=/run/tor}"
: "${OB_DATA_DIR:=/var/lib/onionbalance}"
: "${ONIONBALANCE_TOR_CONTROL_SOCKET:=$OB_TOR_RUN_DIR/control}"
export ONIONBALANCE_TOR_CONTROL_SOCKET

log() { echo "obhost-entrypoint: $*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }

# as USER CMD...: runs CMD as USER when we are root and USER is set, else as ourselves.
as() {
	local user=$1
	shift
	if [ -n "$user" ] && is_root; then
		exec setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
	fi
	exec "$@"
}

# dir PATH MODE USER: creates PATH with MODE, owned by USER when we are root.
dir() {
	install -d -m "$2" "$1"
	if [ -n "$3" ] && is_root; then
		chown "$3:$3" "$1"
	fi
}

case "${1:-run}" in
-* | run) ;;
sh | bash | /*) exec "$@" ;;
*)
	# An operator command: no tor needed.
	as "$OB_USER" onionbalance "$@"
	;;
esac

dir "$OB_TOR_RUN_DIR" 2750 "$OB_TOR_USER"
dir "$OB_RUN_DIR" 0750 "$OB_USER"
dir "$OB_DATA_DIR" 0700 "$OB_USER"

if [ -f "$OB_KEK_SECRET" ]; then
	install -m 0600 "$OB_KEK_SECRET" "$OB_RUN_DIR/key-encryption-key"
	if [ -n "$OB_USER" ] && is_root; then
		chown "$OB_USER:$OB_USER" "$OB_RUN_DIR/key-encryption-key"
	fi
fi

flags=()
[ -n "${ONIONBALANCE_NODE_NAME:-}" ] && flags+=(--node-name "$ONIONBALANCE_NODE_NAME")
[ -n "${ONIONBALANCE_ETCD_ENDPOINTS:-}" ] && flags+=(--etcd-endpoints "$ONIONBALANCE_ETCD_ENDPOINTS")
[ -n "${ONIONBALANCE_LOG_LEVEL:-}" ] && flags+=(-v "$ONIONBALANCE_LOG_LEVEL")
[ "${ONIONBALANCE_LOG_JSON:-}" = 1 ] && flags+=(--log-json)
[ -n "${ONIONBALANCE_METRICS_LISTEN:-}" ] && flags+=(--metrics-listen "$ONIONBALANCE_METRICS_LISTEN")
# "run" must stay the first argument when it was given.
args=("$@")
if [ "${args[0]:-}" = run ]; then
	args=(run "${flags[@]}" "${args[@]:1}")
else
	args=("${flags[@]}" "${args[@]}")
fi

stop() {
	local pid
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null || true
	done
}

# Signals: SIGHUP reloads the daemon; SIGTERM/SIGINT stop it gracefully (a leader resigns), then tor.
# Before the daemon runs, they just stop tor.
tor_pid=
ob_pid=
stopping=0
on_term() {
	stopping=1
	if [ -z "$ob_pid" ]; then
		log "stopping"
		[ -n "$tor_pid" ] && stop "$tor_pid"
		exit 143
	fi
	kill -TERM "$ob_pid" 2>/dev/null || true
}
trap on_term TERM INT
trap '[ -n "$ob_pid" ] && kill -HUP "$ob_pid" 2>/dev/null || true' HUP

# A socket left by an earlier run of this container would look ready before tor is.
rm -f "$ONIONBALANCE_TOR_CONTROL_SOCKET"
(as "$OB_TOR_USER" tor -f "$OB_TORRC") &
tor_pid=$!

waited=0
until [ -S "$ONIONBALANCE_TOR_CONTROL_SOCKET" ]; do
	if ! kill -0 "$tor_pid" 2>/dev/null; then
		wait "$tor_pid" && rc=0 || rc=$?
		log "tor exited (status $rc) before opening its control socket $ONIONBALANCE_TOR_CONTROL_SOCKET"
		exit 1
	fi
	if [ "$waited" -ge "$((OB_TOR_WAIT * 10))" ]; then
		log "tor did not open its control socket $ONIONBALANCE_TOR_CONTROL_SOCKET within ${OB_TOR_WAIT}s"
		stop "$tor_pid"
		exit 1
	fi
	sleep 0.1
	waited=$((waited + 1))
done

(as "$OB_USER" onionbalance "${args[@]}") &
ob_pid=$!

# Wait for either process. A trapped signal interrupts wait without a pid: wait again.
while :; do
	done_pid=
	wait -n -p done_pid "$tor_pid" "$ob_pid" && rc=0 || rc=$?
	[ -n "${done_pid:-}" ] && break
done

if [ "$done_pid" = "$ob_pid" ]; then
	if [ "$stopping" = 0 ]; then
		log "onionbalance exited (status $rc); stopping tor"
	fi
	stop "$tor_pid"
	exit "$rc"
fi
log "tor exited (status $rc); stopping onionbalance"
stop "$ob_pid"
exit 1
