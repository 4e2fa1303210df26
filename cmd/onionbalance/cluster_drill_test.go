package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/obhost/obhosttest"
)

// TestClusterDrillFlags: the command refuses a drill that is not exactly one of --kill and --pause
// with a --state file, and names a state file it cannot use. (The drill itself: obhost's TestDrill*.)
func TestClusterDrillFlags(t *testing.T) {
	for _, args := range [][]string{{"--kill"}, {"--state", "x.json"}, {"--state", "x.json", "--kill", "--pause", "10s"}} {
		code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, append([]string{"cluster", "drill"}, args...)...)
		if code != exitUsage || !strings.Contains(errOut, "exactly one of --kill and --pause") {
			t.Errorf("cluster drill %v: code %d, stderr %q", args, code, errOut)
		}
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"pids": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, state := range []string{missing, empty} {
		code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "drill", "--kill", "--state", state)
		if code != exitError || !strings.Contains(errOut, "drill state") {
			t.Errorf("state %s: code %d, stderr %q", state, code, errOut)
		}
	}
}
