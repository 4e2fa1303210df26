#!/usr/bin/env bash
# Makes sure a docker engine answers, as deploy/install-deps.sh makes sure tor and etcd are installed:
#   deploy/docker/engine.sh start   starts dockerd (Debian's docker.io) in the background when
#                                   `docker info` fails, and waits (at most 60 s) until it answers;
#                                   records its pid in $OB_DOCKERD_PID (default /run/obcluster-dockerd.pid)
#   deploy/docker/engine.sh stop    stops the dockerd that `start` started (by that pid), nothing else
# An engine that already answers is left alone and is not stopped by `stop`.
set -euo pipefail

pidfile=${OB_DOCKERD_PID:-/run/obcluster-dockerd.pid}
log() { echo "engine: $*" >&2; }

case "${1:-}" in
start)
	if docker info >/dev/null 2>&1; then
		exit 0
	fi
	command -v dockerd >/dev/null || { log "no docker engine answers and dockerd is missing (apt-get install docker.io)"; exit 1; }
	[ "$(id -u)" = 0 ] || { log "no docker engine answers; starting dockerd needs root"; exit 1; }
	logfile=${OB_DOCKERD_LOG:-/var/log/obcluster-dockerd.log}
	log "starting dockerd (log: $logfile)"
	setsid dockerd >"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"
	for _ in $(seq 1 120); do
		if docker info >/dev/null 2>&1; then
			exit 0
		fi
		if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			log "dockerd exited; last lines of $logfile:"
			tail -20 "$logfile" >&2
			rm -f "$pidfile"
			exit 1
		fi
		sleep 0.5
	done
	log "dockerd did not answer within 60 s; stopping it"
	kill "$(cat "$pidfile")" 2>/dev/null || true
	rm -f "$pidfile"
	exit 1
	;;
stop)
	[ -f "$pidfile" ] || exit 0
	pid=$(cat "$pidfile")
	rm -f "$pidfile"
	# Only the dockerd we started: the pid must still be a dockerd.
	if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
		log "stopping dockerd (pid $pid)"
		kill -TERM "$pid"
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || exit 0
			sleep 0.5
		done
		log "dockerd (pid $pid) did not stop within 30 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
