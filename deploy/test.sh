#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run call it:
#   1. installs the system packages the tests need if they are missing (deploy/install-deps.sh),
#   2. fails on unformatted Go files (gofmt -l) and on go vet findings,
#   3. runs every test with the race detector (the end-to-end tests start one private Tor network),
#   4. runs each fuzz target for FUZZTIME (default 20s),
# and, in the background from step 3 on, the compose drills (deploy/dockertest, OB_DOCKER=1): it starts a
# docker engine if none answers (deploy/docker/engine.sh; stopped again at the end), builds the images
# (base images from Debian packages where none can be pulled), runs docker-compose.yml on a private Tor
# network in containers, drills it and removes every container, network and volume it made.
# OB_DOCKER=0 skips the compose drills.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

docker_pid=
docker_log=$(mktemp)
docker_tmp=$(mktemp -d) # TMPDIR of the drills: the private network's files, gone even after a kill
cleanup() {
  local rc=$?
  if [ -n "$docker_pid" ] && kill -0 "$docker_pid" 2>/dev/null; then
    # Only on an early exit: the drills' own cleanup did not run, so remove what they started.
    kill -TERM -- "-$docker_pid" 2>/dev/null || true
    wait "$docker_pid" 2>/dev/null || true
    COMPOSE_FILE=docker-compose.yml:deploy/docker/compose.testnet.yaml COMPOSE_PROJECT_NAME=obtest \
      OB_TESTNET_DIR=/nonexistent timeout 180 docker-compose --profile init down -v --remove-orphans -t 5 >&2 || true
    rm -rf obconfig
  fi
  [ "${OB_DOCKER:-1}" = 0 ] || bash deploy/docker/engine.sh stop || true
  rm -rf "$docker_log" "$docker_tmp" "${fuzzlog:-}"
  exit "$rc"
}
trap cleanup EXIT

echo "== gofmt" >&2
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files are not formatted (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet" >&2
go vet ./...

if [ "${OB_DOCKER:-1}" != 0 ]; then
  echo "== compose drills (deploy/dockertest), in the background; their log follows the other tests" >&2
  bash deploy/docker/engine.sh start
  # In a process group of its own, so that an early exit stops the test binary too.
  OB_DOCKER=1 TMPDIR=$docker_tmp setsid go test -count=1 -v -timeout 40m ./deploy/dockertest/ >"$docker_log" 2>&1 &
  docker_pid=$!
fi

echo "== go test -race" >&2
# OB_E2E=1: the end-to-end tests fail (instead of skipping) when tor is missing.
OB_E2E=1 go test -race -count=1 -timeout 40m ./...

echo "== fuzz (${FUZZTIME:-20s} each)" >&2
fuzzlog=$(mktemp)
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "-- $pkg $target" >&2
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-20s}" "$pkg" 2>&1 | tee "$fuzzlog"; then
      continue
    fi
    # Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" right at the
    # -fuzztime boundary when a worker is slow to stop (golang/go#75804, fixed in Go 1.27). That is no
    # finding: a real one writes a failing input or panics. Accept it only if the target's seed corpus
    # still passes.
    if grep -q 'context deadline exceeded' "$fuzzlog" && ! grep -qE 'Failing input written to|panic:' "$fuzzlog" &&
      go test -count=1 -run "^${target}\$" "$pkg"; then
      echo "fuzz: $target stopped by Go's -fuzztime race (golang/go#75804), no failing input; its corpus passes" >&2
      continue
    fi
    exit 1
  done
done
if [ -n "$docker_pid" ]; then
  echo "== compose drills (deploy/dockertest)" >&2
  docker_rc=0
  wait "$docker_pid" || docker_rc=$?
  docker_pid=
  grep -E '^(=== RUN|--- |    compose_test.go|ok|FAIL|PASS)' "$docker_log" >&2 || cat "$docker_log" >&2
  if [ "$docker_rc" != 0 ]; then
    echo "compose drills failed (status $docker_rc); full log:" >&2
    cat "$docker_log" >&2
    exit 1
  fi
fi
echo "== all tests passed" >&2
