package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/obcluster/obcluster/bench/internal/probe"
	"github.com/obcluster/obcluster/deploy/testnet"
)

// mgmtTor is a management tor for one balancer: the network's client torrc with its own data
// directory and control port, and no SOCKS port.
type mgmtTor struct {
	name    string
	control string // 127.0.0.1:PORT
	proc    *proc
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startMgmtTor starts a management tor and waits (bounded by ctx) until it is bootstrapped and holds
// a microdescriptor for every relay of its consensus.
func (b *bench) startMgmtTor(ctx context.Context, name string) (*mgmtTor, error) {
	client, ok := b.net.Node("client")
	if !ok || client.Torrc == "" {
		return nil, fmt.Errorf("%s: the network has no client torrc", name)
	}
	base, err := os.ReadFile(client.Torrc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dir := filepath.Join(b.work, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var lines []string
	for _, l := range strings.Split(string(base), "\n") {
		key, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		switch key {
		case "DataDirectory", "ControlPort", "SocksPort", "Log", "CookieAuthentication", "":
			continue
		}
		lines = append(lines, l)
	}
	lines = append(lines,
		"DataDirectory "+dir,
		fmt.Sprintf("ControlPort 127.0.0.1:%d", port),
		"CookieAuthentication 1",
		"SocksPort 0",
		"Log notice file "+filepath.Join(dir, "notice.log"))
	torrc := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	argv := []string{b.torPath, "-f", torrc, "--defaults-torrc", "/dev/null",
		"__OwningControllerProcess", fmt.Sprint(os.Getpid())}
	p, err := b.reg.start(name, argv, []string{"MALLOC_ARENA_MAX=2"}, filepath.Join(dir, "stdout.log"))
	if err != nil {
		return nil, err
	}
	m := &mgmtTor{name: name, control: fmt.Sprintf("127.0.0.1:%d", port), proc: p}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := waitTorReady(wctx, m.control, len(b.hsdirs)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// waitTorReady polls until tor reports 100% bootstrap, its consensus lists hsdirs HSDirs and it holds
// a microdescriptor for each of them.
func waitTorReady(ctx context.Context, control string, hsdirs int) error {
	c, err := probe.Dial(ctx, control, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	var last string
	for {
		bs, err := c.Tor().BootstrapPhase(ctx)
		switch {
		case err != nil:
			last = err.Error()
		case bs.Progress < 100:
			last = fmt.Sprintf("bootstrap %d%%", bs.Progress)
		default:
			fps, err := c.HSDirs(ctx)
			mds, err2 := c.Tor().Microdescs(ctx)
			switch {
			case err != nil || err2 != nil:
				last = fmt.Sprint(err, err2)
			case len(fps) < hsdirs:
				last = fmt.Sprintf("%d of %d HSDirs in the consensus", len(fps), hsdirs)
			case strings.Count(string(mds), "onion-key") < hsdirs:
				last = fmt.Sprintf("%d of %d microdescriptors", strings.Count(string(mds), "onion-key"), hsdirs)
			default:
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready (%s): %w", last, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// restartWithMasters rewrites the ob_config of the named backends to list every master address, and
// restarts them (concurrently) so that tor reads it.
func restartWithMasters(ctx context.Context, n *testnet.Network, backends, masters []string) error {
	var body strings.Builder
	for _, m := range masters {
		fmt.Fprintf(&body, "MasterOnionAddress %s\n", m)
	}
	errs := make(chan error, len(backends))
	for _, name := range backends {
		go func() {
			nd, ok := n.Node(name)
			if !ok || nd.ServiceDir == "" {
				errs <- fmt.Errorf("backend %s: not in the network", name)
				return
			}
			if err := os.WriteFile(filepath.Join(nd.ServiceDir, "ob_config"), []byte(body.String()), 0o600); err != nil {
				errs <- fmt.Errorf("backend %s: %w", name, err)
				return
			}
			if err := n.StopNode(ctx, name); err != nil {
				errs <- err
				return
			}
			errs <- n.StartNode(ctx, name)
		}()
	}
	var first error
	for range backends {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
