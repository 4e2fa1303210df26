#!/usr/bin/env bash
# Installs the system packages the tests and the demo need, if they are missing:
# tor (>= 0.4.4.1), python3-stem (cross-checks), etcd-server and etcd-client (multi-member tests, etcdctl),
# curl (the demo), systemd (systemd-analyze, systemd-sysusers: unit checks), docker-compose (compose file
# check and the compose drills), docker.io (dockerd: deploy/docker/engine.sh starts it for the compose
# drills) and debootstrap (deploy/docker/base-images.sh makes the base images from Debian packages).
# Never leaves a system tor running: service starts are blocked during the install (policy-rc.d)
# and any tor service the package started is stopped afterwards.
set -euo pipefail

need=()
command -v tor >/dev/null 2>&1 || need+=(tor)
command -v tor-gencert >/dev/null 2>&1 || need+=(tor)
/usr/bin/python3 -c 'import stem' >/dev/null 2>&1 || need+=(python3-stem)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v systemd-sysusers >/dev/null 2>&1 || need+=(systemd)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
# de-duplicate
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${need[*]}" >&2
  echo "install-deps: run as root, or install them yourself: sudo apt-get install -y ${need[*]}" >&2
  echo "install-deps: (then stop any system tor the package started: sudo systemctl disable --now tor)" >&2
  exit 1
fi

echo "install-deps: installing ${need[*]}" >&2
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
  saved=$(mktemp)
  cp -p "$policy" "$saved"
fi
restore() {
  if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 0755 "$policy"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2

# Belt and braces: no system tor, etcd or docker may keep running (deploy/docker/engine.sh starts and
# stops its own dockerd).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now tor tor@default etcd docker docker.socket containerd >/dev/null 2>&1 || true
fi
for svc in tor etcd; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
