package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obcluster/obcluster/deploy/testnet"
)

// raceEnv, when "1", builds the daemon with -race for the end-to-end tests
// and fails a test whose daemon log reports a data race.
const raceEnv = "OB_E2E_DAEMON_RACE"

// obBinaries are the onionbalance and onionbalance-config binaries, built
// once per test binary into the shared network's directory (removed with it
// after a passing run).
var obBinaries struct {
	once   sync.Once
	dir    string
	err    error
	took   time.Duration
	output string
}

// buildBinaries builds cmd/onionbalance and cmd/onionbalance-config from the
// repository root, once, and returns the folder holding them.
func buildBinaries(t testing.TB, n *testnet.Network) string {
	t.Helper()
	obBinaries.once.Do(func() {
		began := time.Now()
		dir := filepath.Join(n.Dir(), "obhost-bin")
		root, err := repoRoot()
		if err != nil {
			obBinaries.err = err
			return
		}
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		if os.Getenv(raceEnv) == "1" {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/onionbalance", "./cmd/onionbalance-config")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goCommand(), args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		obBinaries.dir, obBinaries.took, obBinaries.output = dir, time.Since(began), string(out)
		if err != nil {
			obBinaries.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if obBinaries.err != nil {
		t.Fatal(obBinaries.err)
	}
	return obBinaries.dir
}

// goCommand returns the go tool: the one in PATH, else the one of this toolchain.
func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// repoRoot walks up from the package directory to the folder holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// freePorts returns k distinct loopback ports from the network's allocator:
// below the ephemeral range, where the many outgoing connections of the tors
// cannot take one before its tor binds it, and never given to another test.
func freePorts(t testing.TB, n *testnet.Network, k int) []int {
	t.Helper()
	ports, err := n.Ports(k)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// proc is a child process of the test, in its own session, with stdout and
// stderr appended to a file.
type proc struct {
	name string
	args []string
	env  []string
	out  string // stdout and stderr

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once the current process was reaped
}

func newProc(name string, args, env []string, out string) *proc {
	return &proc{name: name, args: args, env: env, out: out}
}

// start runs the process; it fails if the previous run has not exited.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s: already running (pid %d)", p.name, p.cmd.Process.Pid)
		}
	}
	f, err := os.OpenFile(p.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig: a test binary killed by a timeout takes the process with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", p.name, p.args[0], err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() // the exit status is in the log; callers check liveness
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// pid returns the pid of the current run, 0 if never started.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// running reports whether the current run has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the current run and waits up to wait for it to exit; it
// reports whether the process exited.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
	}
	_ = cmd.Process.Signal(sig) // an exited process is seen below
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) error {
	if p.signal(syscall.SIGTERM, grace) {
		return nil
	}
	if p.signal(syscall.SIGKILL, 10*time.Second) {
		return fmt.Errorf("%s: did not stop within %s of SIGTERM; killed", p.name, grace)
	}
	return fmt.Errorf("%s: pid %d still runs after SIGKILL", p.name, p.pid())
}

// usage is a process's resident memory and CPU time.
type usage struct {
	RSS int64         // bytes (VmRSS)
	CPU time.Duration // user + system
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTick = 100

// procUsage reads /proc/PID/status and /proc/PID/stat.
func procUsage(pid int) (usage, error) {
	var u usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return u, fmt.Errorf("pid %d: unexpected VmRSS line %q", pid, line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return u, fmt.Errorf("pid %d: VmRSS: %w", pid, err)
			}
			u.RSS = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return u, fmt.Errorf("pid %d: malformed stat %q", pid, stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return u, fmt.Errorf("pid %d: short stat %q", pid, stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, fmt.Errorf("pid %d: stat times: %w", pid, err)
	}
	u.CPU = time.Duration(utime+stime) * time.Second / clockTick
	return u, nil
}

// fileTail returns the last n lines of a file, or a note saying why not.
func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// mib formats bytes as MiB.
func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
