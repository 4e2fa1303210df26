#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run call it:
#   1. installs the system packages the tests need if they are missing (deploy/install-deps.sh),
#   2. fails on unformatted Go files (gofmt -l) and on go vet findings,
#   3. runs every test with the race detector (the end-to-end tests start one private Tor network),
#   4. runs each fuzz target for FUZZTIME (default 20s).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

echo "== gofmt" >&2
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files are not formatted (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet" >&2
go vet ./...

echo "== go test -race" >&2
# OB_E2E=1: the end-to-end tests fail (instead of skipping) when tor is missing.
OB_E2E=1 go test -race -count=1 -timeout 40m ./...

echo "== fuzz (${FUZZTIME:-20s} each)" >&2
fuzzlog=$(mktemp)
trap 'rm -f "$fuzzlog"' EXIT
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
echo "== all tests passed" >&2
