package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store/storetest/tcpproxy"
)

// This file is the harness of cluster_test.go: the onionbalance binary, one management tor per
// obhost, obhost processes, a cuttable TCP proxy in front of etcd, and observers (upload events of
// each obhost's tor, a client polling the master address, descriptors fetched back from the HSDirs).
// Names start with "cl" to stay clear of the other e2e files of this package.

// clTor is a management tor of one obhost: SocksPort 0, a ControlPort with cookie auth, joined to
// the test network, owned by the test process (it exits when the test binary dies).
type clTor struct {
	dir     string
	control string // 127.0.0.1:port
	cmd     *exec.Cmd
	done    chan struct{}
}

func clStartTor(t *testing.T, n *testnet.Network, dir string) *clTor {
	t.Helper()
	desc := n.Description()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	portFile := filepath.Join(dir, "control-port")
	var b strings.Builder
	for _, line := range []string{
		"TestingTorNetwork 1", "PathsNeededToBuildCircuits 0.67", "UseDefaultFallbackDirs 0", "ClientUseIPv6 0",
		"SocksPort 0", "ControlPort auto", "ControlPortWriteToFile " + portFile, "CookieAuthentication 1",
		"DataDirectory " + dir, "Log notice file " + filepath.Join(dir, "notice.log"), "NumCPUs 1",
		"__OwningControllerProcess " + strconv.Itoa(os.Getpid()),
	} {
		b.WriteString(line + "\n")
	}
	for _, a := range desc.NodesWithRole(testnet.RoleAuthority) {
		fmt.Fprintf(&b, "DirAuthority %s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s\n",
			a.Name, a.Ports[testnet.PortOR], a.V3Ident, a.Ports[testnet.PortDir], a.Fingerprint)
	}
	torrc := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrc, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(desc.Tor, "-f", torrc, "--defaults-torrc", "/dev/null")
	cmd.Env = append(os.Environ(), "MALLOC_ARENA_MAX=2")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tor: %v", err)
	}
	tor := &clTor{dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(tor.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-tor.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-tor.done
		}
	})
	clPoll(t, 30*time.Second, "tor's control port file "+portFile, func() bool {
		data, err := os.ReadFile(portFile)
		if err != nil {
			return false
		}
		addr, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "PORT=")
		tor.control = addr
		return ok
	})
	return tor
}

// clControl connects a torctl client (cookie auth) to addr for the duration of the test.
func clControl(t *testing.T, addr string) *torctl.Client {
	t.Helper()
	cfg := torctl.DefaultConfig()
	cfg.Address = "tcp:" + addr
	cfg.RequestTimeout = 20 * time.Second
	c, err := torctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatalf("tor control %s: %v", addr, err)
	}
	return c
}

// clWaitBootstrapped waits until the tor behind c has bootstrapped to 100%.
func clWaitBootstrapped(t *testing.T, c *torctl.Client, what string) {
	t.Helper()
	clPoll(t, 2*time.Minute, what+" bootstrapped", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b, err := c.BootstrapPhase(ctx)
		return err == nil && b.Progress == 100
	})
}

// clUpload is one HS_DESC UPLOADED or FAILED event of the master address seen on an obhost's tor.
type clUpload struct {
	Node   string
	HSDir  string
	Failed bool
	At     time.Time
}

// clUploads collects the upload events of every obhost's tor.
type clUploads struct {
	mu     sync.Mutex
	events []clUpload
}

// watch records the master's upload events from c (an obhost's tor) until the test ends.
func (u *clUploads) watch(t *testing.T, c *torctl.Client, node, master string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-c.Events():
				var rec clUpload
				switch e := ev.(type) {
				case torctl.Uploaded:
					if e.Address != master {
						continue
					}
					rec = clUpload{Node: node, HSDir: e.HSDir}
				case torctl.UploadFailed:
					if e.Address != master {
						continue
					}
					rec = clUpload{Node: node, HSDir: e.HSDir, Failed: true}
				default:
					continue
				}
				rec.At = time.Now()
				u.mu.Lock()
				u.events = append(u.events, rec)
				u.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// since returns the events after t0, in order.
func (u *clUploads) since(t0 time.Time) []clUpload {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []clUpload
	for _, e := range u.events {
		if e.At.After(t0) {
			out = append(out, e)
		}
	}
	return out
}

// first returns the first event after t0 from node ("" for any node).
func (u *clUploads) first(t0 time.Time, node string) (clUpload, bool) {
	for _, e := range u.since(t0) {
		if node == "" || e.Node == node {
			return e, true
		}
	}
	return clUpload{}, false
}

// clHost is one obhost: its management tor, its etcd proxies and its onionbalance process.
type clHost struct {
	name    string
	dir     string
	bin     string
	config  string
	logPath string
	tor     *clTor
	proxies []*tcpproxy.Proxy

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// start runs the daemon; its stderr is appended to logPath.
func (h *clHost) start(t *testing.T) {
	t.Helper()
	out, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	fmt.Fprintf(out, "==== test harness: starting %s at %s\n", h.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(h.bin, "-c", h.config)
	cmd.Stdout, cmd.Stderr = out, out
	// The daemon dies with the test process (best effort: Pdeathsig follows the starting thread).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", h.name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	h.mu.Lock()
	h.cmd, h.exited = cmd, exited
	h.mu.Unlock()
}

// pid returns the daemon's pid, 0 when it is not running.
func (h *clHost) pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil {
		return 0
	}
	select {
	case <-h.exited:
		return 0
	default:
		return h.cmd.Process.Pid
	}
}

// waitExit waits (bounded) until the daemon process has exited.
func (h *clHost) waitExit(t *testing.T, d time.Duration) {
	t.Helper()
	h.mu.Lock()
	exited := h.exited
	h.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v", h.name, d)
	}
}

// stop ends the daemon gracefully (SIGTERM), or kills it after 15 s.
func (h *clHost) stop() {
	h.mu.Lock()
	cmd, exited := h.cmd, h.exited
	h.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// logSize is the current size of the daemon's log, to read only what comes after.
func (h *clHost) logSize() int64 {
	fi, err := os.Stat(h.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns the log from offset on.
func (h *clHost) logSince(t *testing.T, offset int64) string {
	t.Helper()
	f, err := os.Open(h.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logTail returns the last n lines of the daemon's log.
func (h *clHost) logTail(n int) string {
	f, err := os.Open(h.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func (h *clHost) blackhole() {
	for _, p := range h.proxies {
		p.Blackhole()
	}
}

func (h *clHost) restore() {
	for _, p := range h.proxies {
		p.Restore()
	}
}

// clStartProxy starts a cuttable TCP proxy to target (see tcpproxy), closed at the end of the test.
func clStartProxy(t *testing.T, target string) *tcpproxy.Proxy {
	t.Helper()
	p, err := tcpproxy.Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// clPoller fetches the master address through the client every second and records the outcomes.
type clPoller struct {
	mu       sync.Mutex
	ok       int
	failures []string
	stop     context.CancelFunc
	done     chan struct{}
}

func clStartPoller(t *testing.T, socks, url string, answers map[string]bool) *clPoller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &clPoller{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			start := time.Now()
			gctx, gcancel := context.WithTimeout(ctx, 30*time.Second)
			body, err := testnet.Get(gctx, socks, url)
			gcancel()
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			switch {
			case err != nil:
				p.failures = append(p.failures, fmt.Sprintf("%s (+%v): %v", start.Format("15:04:05.000"), time.Since(start).Round(time.Millisecond), err))
			case !answers[body]:
				p.failures = append(p.failures, fmt.Sprintf("%s: unexpected answer %q", start.Format("15:04:05.000"), body))
			default:
				p.ok++
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	t.Cleanup(func() { p.stop(); <-p.done })
	return p
}

func (p *clPoller) results() (ok int, failures []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok, append([]string(nil), p.failures...)
}

// clFetchRevisions asks every HSDir for the master's current descriptor, under the blinded key the
// client's tor fetches it by now, and returns that key and the revision counter each HSDir serves.
// Answers under another key (the client tor's own fetches for the poller, at a time-period boundary)
// are left out by fetchDescriptors.
func clFetchRevisions(t *testing.T, tc *torControl, master string, hsdirs []string) (blinded string, revs map[string]uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	v, err := tc.view(ctx)
	if err != nil {
		t.Fatalf("the client tor's consensus: %v", err)
	}
	blinded, _, err = v.clientHSDirs(master)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tc.fetchDescriptors(ctx, master, blinded, hsdirs)
	if err != nil {
		t.Fatal(err)
	}
	revs = map[string]uint64{}
	for fp, raw := range res.Descriptors {
		rev, err := clRevisionCounter(raw)
		if err != nil {
			t.Errorf("descriptor from %s: %v", fp, err)
			continue
		}
		revs[fp] = rev
	}
	if len(revs) == 0 {
		t.Logf("fetch-back: no HSDir served the descriptor under %s…: %v", blinded[:8], res.Failures)
	}
	return blinded, revs
}

// clRevisionCounter reads the revision-counter line of a descriptor's outer (plaintext) layer.
func clRevisionCounter(desc []byte) (uint64, error) {
	for line := range strings.Lines(string(desc)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "revision-counter "); ok {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, errors.New("no revision-counter line")
}

// clPoll calls cond every 200 ms until it holds, failing the test after d.
func clPoll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !clWait(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// clWait calls cond every 200 ms until it holds or d has passed, and reports whether it held.
func clWait(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// clWriteJSON writes v as JSON to path.
func clWriteJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
