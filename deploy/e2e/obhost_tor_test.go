package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/publisher/torctl"
)

// nodeSpecificOptions are the torrc options of the client's torrc that belong
// to that one tor; every other line (TestingTorNetwork, DirAuthority, ...)
// describes the network and is copied into the torrcs of the tors these tests
// start themselves.
var nodeSpecificOptions = map[string]bool{
	"datadirectory":        true,
	"controlport":          true,
	"cookieauthentication": true,
	"log":                  true,
	"socksport":            true,
}

// networkOptions returns the network-wide lines of the client's torrc and the
// environment the harness gives its tors.
func networkOptions(n *testnet.Network) ([]string, []string, error) {
	client, ok := n.Node("client")
	if !ok || client.Torrc == "" {
		return nil, nil, fmt.Errorf("the network records no client torrc")
	}
	f, err := os.Open(client.Torrc)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keyword, _, _ := strings.Cut(line, " ")
		if !nodeSpecificOptions[strings.ToLower(keyword)] {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", client.Torrc, err)
	}
	if !containsPrefix(lines, "DirAuthority ") {
		return nil, nil, fmt.Errorf("%s: no DirAuthority lines", client.Torrc)
	}
	return lines, client.Env, nil
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// torNode is a tor these tests start on the shared network: a backend, a
// management tor or an extra client.
type torNode struct {
	name    string
	dir     string // DataDirectory
	log     string // notice log
	control string // 127.0.0.1:PORT
	socks   string // 127.0.0.1:PORT, or "" for SocksPort 0
	p       *proc
}

// torNodeConfig describes a tor to start.
type torNodeConfig struct {
	Name        string
	Dir         string // created; holds torrc, the data directory and the logs
	ControlPort int
	SocksPort   int      // 0: SocksPort 0
	SocksFlags  string   // appended to the SocksPort line (e.g. ExtendedErrors)
	Extra       []string // more torrc lines (e.g. an onion service block)
}

// newTorNode writes the torrc of a tor (the network's options plus cfg);
// start runs it. It is stopped on cleanup.
func newTorNode(t testing.TB, n *testnet.Network, cfg torNodeConfig) *torNode {
	t.Helper()
	opts, env, err := networkOptions(n)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(cfg.Dir, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	tn := &torNode{
		name:    cfg.Name,
		dir:     dataDir,
		log:     filepath.Join(cfg.Dir, "notice.log"),
		control: fmt.Sprintf("127.0.0.1:%d", cfg.ControlPort),
	}
	lines := append([]string{"# Written by the deploy/e2e obhost tests: " + cfg.Name}, opts...)
	lines = append(lines,
		"DataDirectory "+dataDir,
		"ControlPort "+tn.control,
		"CookieAuthentication 1",
		"Log notice file "+tn.log,
	)
	if cfg.SocksPort > 0 {
		tn.socks = fmt.Sprintf("127.0.0.1:%d", cfg.SocksPort)
		lines = append(lines, strings.TrimSpace("SocksPort "+tn.socks+" "+cfg.SocksFlags))
	} else {
		lines = append(lines, "SocksPort 0")
	}
	lines = append(lines, cfg.Extra...)
	torrc := filepath.Join(cfg.Dir, "torrc")
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tor := n.Description().Tor
	tn.p = newProc(cfg.Name, []string{tor, "-f", torrc, "--defaults-torrc", os.DevNull}, env, filepath.Join(cfg.Dir, "stdout.log"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of %s's log:\n%s", tn.name, fileTail(tn.log, 15))
		}
		if err := tn.p.stop(10 * time.Second); err != nil {
			t.Errorf("stop %s: %v", tn.name, err)
		}
	})
	return tn
}

// start starts the tor (again) and waits until it reports bootstrap 100%.
func (tn *torNode) start(ctx context.Context) error {
	if err := tn.p.start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tc, err := torctl.New(torctl.Config{Address: "tcp:" + tn.control, ReconnectMin: 200 * time.Millisecond,
		ReconnectMax: time.Second, RequestTimeout: 10 * time.Second, EventQueue: 16})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go tc.Run(runCtx)
	go func() { // Run stops when runCtx ends; drain its events until then
		for range tc.Events() {
		}
	}()
	var last torctl.Bootstrap
	for {
		if !tn.p.running() {
			return fmt.Errorf("%s exited during start-up; log:\n%s\n%s", tn.name, fileTail(tn.log, 15), fileTail(tn.p.out, 5))
		}
		if tc.Connected() {
			b, err := tc.BootstrapPhase(ctx)
			if err == nil && b.Progress == 100 {
				return nil
			}
			last = b
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not bootstrapped (at %d%%): %w; log:\n%s", tn.name, last.Progress, ctx.Err(), fileTail(tn.log, 15))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// logHas reports whether the notice log contains s.
func (tn *torNode) logHas(s string) bool {
	b, err := os.ReadFile(tn.log)
	return err == nil && strings.Contains(string(b), s)
}

// nameServer serves testnet.NameHandler(name) on a free loopback port until
// cleanup and returns its address.
func nameServer(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: testnet.NameHandler(name), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) // returns when Close is called
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
