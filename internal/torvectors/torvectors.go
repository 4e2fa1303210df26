// Package torvectors finds the shared Tor test vectors (tor-vectors/, beside
// the repository in shared/) for the tests that check obcluster's crypto and
// parsers against them.
//
// Without the vectors a test is skipped on a developer's machine, but fails
// when CI or OB_E2E is set: there a missing folder is a broken set-up, and a
// skip would hide that the vector tests did not run.
package torvectors

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Env names the environment variable that points at the vectors folder.
const Env = "OB_TOR_VECTORS"

// Dir returns the vectors folder: $OB_TOR_VECTORS, or the first
// "shared/tor-vectors" folder found beside the working directory or any of
// its parents. When there is none it skips tb, or fails it under CI or
// OB_E2E (see Required).
func Dir(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("torvectors: %v", err)
	}
	dir, err := find(os.Getenv, wd)
	if err == nil {
		return dir
	}
	if Required(os.Getenv) {
		tb.Fatalf("%v (required because CI or OB_E2E is set)", err)
	}
	tb.Skip(err.Error())
	return ""
}

// Find returns the vectors folder, as Dir looks for it, and whether there is
// one: for optional uses such as fuzz seeds.
func Find() (string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	dir, err := find(os.Getenv, wd)
	return dir, err == nil
}

// Required reports whether the vectors must be present: when the CI or
// OB_E2E environment variable is set (non-empty).
func Required(getenv func(string) string) bool {
	return getenv("CI") != "" || getenv("OB_E2E") != ""
}

// errNotFound says where the vectors were looked for.
var errNotFound = errors.New("tor test vectors not found: set " + Env + " or put shared/tor-vectors beside the repository")

func find(getenv func(string) string, wd string) (string, error) {
	if d := getenv(Env); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("%s=%s is not a folder: %w", Env, d, errNotFound)
		}
		return d, nil
	}
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "tor-vectors")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w (looked above %s)", errNotFound, wd)
		}
	}
}
