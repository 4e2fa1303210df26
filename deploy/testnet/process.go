package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a process this harness started and reaps.
type child struct {
	pid  int
	done chan struct{} // closed once the process has exited and been reaped
}

// stdoutFile is where a node's stdout and stderr go (tor writes its early
// errors there, before its log file is open).
func stdoutFile(n Node) string {
	return filepath.Join(n.Dir, "stdout.log")
}

// startProcess runs n.Args in its own session (so a terminal's Ctrl-C does not
// reach it) with n.Env added, and reaps it in the background.
func startProcess(n Node) (*child, error) {
	if len(n.Args) == 0 {
		return nil, fmt.Errorf("testnet: node %s: no command", n.Name)
	}
	out, err := os.OpenFile(stdoutFile(n), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testnet: node %s: %w", n.Name, err)
	}
	defer out.Close() // the child keeps its own descriptor
	cmd := exec.Command(n.Args[0], n.Args[1:]...)
	cmd.Dir = n.Dir
	cmd.Env = append(os.Environ(), n.Env...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testnet: node %s: start %s: %w", n.Name, n.Args[0], err)
	}
	c := &child{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		cmd.Wait() // the exit status is not needed: callers look at the logs
		close(c.done)
	}()
	return c, nil
}

// exited reports whether done is closed.
func exited(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// alive reports whether a process runs: for a child of this process, until
// it has been reaped (its /proc/PID/cmdline is not reliable until exec has
// finished); for any other, by processAlive.
func (c *child) alive() bool {
	return !exited(c.done)
}

// processAlive reports whether pid runs the command args: the process exists,
// is not a zombie, and its /proc/PID/cmdline equals args. The cmdline check
// keeps a recycled pid from being mistaken for (and signalled as) a node.
func processAlive(pid int, args []string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may hold spaces.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	if len(args) == 0 {
		return true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return string(cmdline) == strings.Join(args, "\x00")+"\x00"
}

// stopProcess sends SIGTERM to pid if it still runs args, waits up to grace,
// then sends SIGKILL and waits again. done, when not nil, is closed when the
// process has been reaped (processes this harness started).
func stopProcess(ctx context.Context, pid int, args []string, done <-chan struct{}, grace time.Duration) error {
	if done != nil {
		if exited(done) {
			return nil
		}
	} else if !processAlive(pid, args) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("testnet: SIGTERM pid %d: %w", pid, err)
	}
	if waitExit(ctx, pid, args, done, grace) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("testnet: SIGKILL pid %d: %w", pid, err)
	}
	if waitExit(ctx, pid, args, done, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("testnet: pid %d still runs after SIGKILL", pid)
}

// waitExit waits up to d for pid to exit; it reports whether it did.
func waitExit(ctx context.Context, pid int, args []string, done <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if done == nil && !processAlive(pid, args) {
			return true
		}
		select {
		case <-done:
			return true
		case <-tick.C:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// processRSS returns the resident set size of pid in bytes (VmRSS).
func processRSS(pid int) (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("testnet: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("testnet: %s: unexpected VmRSS line %q", path, line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("testnet: %s: VmRSS: %w", path, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("testnet: %s: no VmRSS line", path)
}
