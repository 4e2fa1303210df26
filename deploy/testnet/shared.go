package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// E2EEnv is the environment variable that turns a missing tor from a skip
// into a failure (CI sets OB_E2E=1: it always has tor).
const E2EEnv = "OB_E2E"

// Shared gives the tests of one test binary a single network: started on
// first use, stopped when the tests end (also on SIGINT or SIGTERM). Declare
// one in the test package and hand it TestMain:
//
//	var shared = testnet.NewShared(testnet.Options{})
//
//	func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }
//
//	func TestX(t *testing.T) { n := shared.Network(t); ... }
type Shared struct {
	opts Options

	once    sync.Once
	net     *Network
	err     error
	tempDir string // set when Shared made the directory

	stopOnce sync.Once
	stopErr  error
}

// NewShared returns a Shared that starts its network with opts. An empty
// opts.Dir means a fresh temporary directory, removed after a passing run.
func NewShared(opts Options) *Shared {
	return &Shared{opts: opts}
}

// Main runs the tests, then stops the network and checks that no process it
// started is left; it returns the exit code for os.Exit.
func (s *Shared) Main(m *testing.M) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "testnet: %v: stopping the network\n", sig)
			if err := s.stop(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			os.Exit(1)
		case <-done:
		}
	}()
	code := m.Run()
	close(done)
	signal.Stop(sigs)

	if err := s.stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if s.net != nil {
		if left := s.net.Leftovers(); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "testnet: processes still running after stop: %s\n", strings.Join(left, ", "))
			code = 1
		}
	}
	switch {
	case s.tempDir == "":
	case code == 0:
		os.RemoveAll(s.tempDir)
	default:
		fmt.Fprintf(os.Stderr, "testnet: kept %s for inspection\n", s.tempDir)
	}
	return code
}

// Network returns the shared network, starting it on first use. It skips t
// when tor is missing or too old (fails it instead when OB_E2E=1) and fails t
// when the network cannot start. If t fails, the client's log tail is printed.
func (s *Shared) Network(t testing.TB) *Network {
	t.Helper()
	s.once.Do(s.start)
	if errors.Is(s.err, ErrTorMissing) || errors.Is(s.err, ErrTorTooOld) {
		if os.Getenv(E2EEnv) == "1" {
			t.Fatalf("%s=1 but: %v", E2EEnv, s.err)
		}
		t.Skipf("skipping end-to-end test: %v (set %s=1 to make this a failure)", s.err, E2EEnv)
	}
	if s.err != nil {
		t.Fatalf("testnet: %v", s.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.net.DumpLogs(t, 20, "client")
		}
	})
	return s.net
}

func (s *Shared) start() {
	opts := s.opts
	if _, err := FindBinaries(context.Background(), opts.TorPath, opts.TorGencertPath); err != nil {
		s.err = err
		return
	}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "testnet-")
		if err != nil {
			s.err = fmt.Errorf("testnet: %w", err)
			return
		}
		s.tempDir, opts.Dir = dir, dir
	}
	began := time.Now()
	s.net, s.err = Up(context.Background(), opts)
	if s.err == nil {
		fmt.Fprintf(os.Stderr, "testnet: network ready in %s (%s)\n", time.Since(began).Round(time.Second), opts.Dir)
	}
}

// stop stops the network once; later calls return the first result.
func (s *Shared) stop() error {
	s.stopOnce.Do(func() {
		if s.net == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.stopErr = s.net.Down(ctx)
	})
	return s.stopErr
}

// DumpLogs logs the last lines of each named node's log to t.
func (n *Network) DumpLogs(t testing.TB, lines int, names ...string) {
	t.Helper()
	for _, name := range names {
		tail, err := n.LogTail(name, lines)
		if err != nil {
			t.Logf("testnet: log of %s: %v", name, err)
			continue
		}
		t.Logf("testnet: last %d lines of %s's log:\n%s", lines, name, tail)
	}
}

// StartOnionService adds an onion service for a test (see
// Network.AddOnionService). On cleanup it prints the service's log tail if t
// failed, then stops the service and its HTTP server.
func StartOnionService(t testing.TB, n *Network, cfg OnionServiceConfig) Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.ReadyTimeout+2*n.opts.NodeStartTimeout)
	defer cancel()
	svc, err := n.AddOnionService(ctx, cfg)
	if err != nil {
		t.Fatalf("testnet: add onion service %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			n.DumpLogs(t, 30, svc.Name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*n.opts.StopTimeout+10*time.Second)
		defer cancel()
		if err := errors.Join(n.StopNode(ctx, svc.Name), n.StopNode(ctx, svc.Target)); err != nil {
			t.Errorf("testnet: stop %s: %v", svc.Name, err)
		}
	})
	return svc
}
