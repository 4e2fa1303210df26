#!/usr/bin/env bash
# Makes the base images docker-compose.yml and deploy/docker/*Dockerfile name, where they cannot be
# pulled (no registry reachable), from Debian packages, so that the Dockerfiles stay what a user with a
# registry builds:
#   debian:bookworm-slim          debootstrap --variant=minbase bookworm, `docker import`
#   golang:1.26-bookworm          deploy/docker/standin/golang.Dockerfile (this machine's GOROOT)
#   quay.io/coreos/etcd:v3.5.17   deploy/docker/standin/etcd.Dockerfile (Debian's etcd 3.4)
# An image that exists (pulled or made before) is left alone; with OB_DOCKER_PULL=1 a pull is tried
# first. The debootstrap tree is cached as a tarball in OB_DOCKER_CACHE (default
# /var/cache/obcluster-docker). Needs root (debootstrap) and a running docker engine.
set -euo pipefail
cd "$(dirname "$0")/../.."

cache=${OB_DOCKER_CACHE:-/var/cache/obcluster-docker}
mirror=${OB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "base-images: $*" >&2; }

have() { docker image inspect "$1" >/dev/null 2>&1; }
pull() { [ "${OB_DOCKER_PULL:-0}" = 1 ] && timeout 300 docker pull "$1" >&2; }

if ! have debian:bookworm-slim && ! pull debian:bookworm-slim; then
  tarball=$cache/debian-bookworm-minbase.tar
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
    mkdir -p "$cache"
    root=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    log "debootstrap --variant=minbase bookworm from $mirror into $root"
    timeout 900 debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
      { log "debootstrap failed; see $cache/debootstrap.log"; tail -5 "$cache/debootstrap.log" >&2; exit 1; }
    # What the official image also leaves out: apt lists and caches.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    trap - EXIT
  fi
  log "docker import $tarball as debian:bookworm-slim"
  docker import -c 'CMD ["bash"]' "$tarball" debian:bookworm-slim >/dev/null
fi

if ! have golang:1.26-bookworm && ! pull golang:1.26-bookworm; then
  goroot=$(go env GOROOT)
  case "$(go env GOVERSION)" in
  go1.26*) ;;
  *) log "golang:1.26-bookworm stand-in: $goroot is $(go env GOVERSION), not Go 1.26"; exit 1 ;;
  esac
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp -a "$goroot" "$ctx/go"
  cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$ctx/ca-certificates.crt"
  log "building the golang:1.26-bookworm stand-in from $goroot"
  timeout 900 docker build -q -f deploy/docker/standin/golang.Dockerfile -t golang:1.26-bookworm "$ctx" >/dev/null
  rm -rf "$ctx"
  trap - EXIT
fi

if ! have quay.io/coreos/etcd:v3.5.17 && ! pull quay.io/coreos/etcd:v3.5.17; then
  log "building the quay.io/coreos/etcd:v3.5.17 stand-in from Debian's etcd-server"
  timeout 900 docker build -q -f deploy/docker/standin/etcd.Dockerfile -t quay.io/coreos/etcd:v3.5.17 deploy/docker/standin >/dev/null
fi
