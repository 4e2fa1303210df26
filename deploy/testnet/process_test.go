package testnet

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// sleeper returns a node running `sh -c SCRIPT` in a temporary directory.
func sleeper(t *testing.T, script string) Node {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	return Node{Name: "sleeper", Dir: t.TempDir(), Args: []string{sh, "-c", script}}
}

// sleep60 returns a node running `sleep 60` in a temporary directory.
func sleep60(t *testing.T) Node {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	return Node{Name: "sleep", Dir: t.TempDir(), Args: []string{sleep, "60"}}
}

func TestStartAndStopProcess(t *testing.T) {
	nd := sleep60(t)
	c, err := startProcess(nd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(context.Background(), c.pid, nil, c.done, time.Second) })
	if !c.alive() {
		t.Fatal("child not alive right after start")
	}
	// /proc/PID/cmdline shows the new argv only once exec has finished.
	waitFor(t, func() bool { return processAlive(c.pid, nd.Args) })
	if processAlive(c.pid, []string{nd.Args[0], "61"}) || processAlive(c.pid, nd.Args[:1]) {
		t.Errorf("pid %d matched a wrong argv", c.pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := stopProcess(ctx, c.pid, nd.Args, c.done, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.alive() {
		t.Fatal("stopProcess returned before the process was reaped")
	}
	if processAlive(c.pid, nil) {
		t.Fatalf("pid %d still alive", c.pid)
	}
}

func TestStopProcessEscalatesToSIGKILL(t *testing.T) {
	nd := sleeper(t, `trap "" TERM; echo ready; while :; do sleep 1; done`)
	c, err := startProcess(nd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(context.Background(), c.pid, nil, c.done, time.Second) })
	// Wait (bounded) until the trap is set, i.e. "ready" was printed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(stdoutFile(nd))
		if string(b) == "ready\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("script not ready; stdout %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := stopProcess(ctx, c.pid, nd.Args, c.done, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if processAlive(c.pid, nil) {
		t.Fatalf("pid %d survived SIGKILL", c.pid)
	}
}

func TestStopProcessLeavesOtherCommandsAlone(t *testing.T) {
	nd := sleep60(t)
	c, err := startProcess(nd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(context.Background(), c.pid, nil, c.done, time.Second) })
	waitFor(t, func() bool { return processAlive(c.pid, nd.Args) })
	// A record whose argv does not match (a recycled pid) must not be signalled.
	if err := stopProcess(context.Background(), c.pid, []string{"tor", "-f", "x"}, nil, time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if !processAlive(c.pid, nd.Args) {
		t.Fatal("a process with another command line was stopped")
	}
}

func TestProcessRSS(t *testing.T) {
	rss, err := processRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<40 {
		t.Fatalf("own RSS %d bytes is implausible", rss)
	}
	if _, err := processRSS(-1); err == nil {
		t.Fatal("RSS of pid -1")
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
