package main

import (
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/obhost/obhosttest"
)

// TestClusterStepDownCommand runs `onionbalance cluster step-down` against a running single host: the
// only candidate steps down and is elected again, and the command says so.
func TestClusterStepDownCommand(t *testing.T) {
	h := startSingleHost(t, 0)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "step-down", "-c", h.config, "--timeout", "20s")
		if code == exitOK {
			if !strings.Contains(out, "obhost1 (epoch") || !strings.Contains(out, "elected again") {
				t.Fatalf("cluster step-down: stdout %q", out)
			}
			break
		}
		if !strings.Contains(errOut, "nobody leads") || time.Now().After(deadline) {
			t.Fatalf("cluster step-down: code %d, stdout %q, stderr %q", code, out, errOut)
		}
		time.Sleep(50 * time.Millisecond) // the daemon has not won its election yet
	}
	if code := h.stop(); code != exitOK {
		t.Errorf("daemon exit code %d; log:\n%s", code, h.log)
	}
}
