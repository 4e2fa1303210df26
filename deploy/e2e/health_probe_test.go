package e2e

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/publisher/health/socksprobe"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// probeBound bounds one probe here: longer than the default health.timeout (30 s), so that the
// test measures how long tor really takes for each outcome.
const probeBound = 2 * time.Minute

// TestHealthProbeThroughTor: a management tor started with the docs' "SocksPort 0" gets a SOCKS
// listener with ExtendedErrors through its control port, and probes through it classify a live
// backend (Connected, and Answered on a port it does not serve), an address nobody publishes
// (DescNotFound) and a backend whose tor was killed (a Dead outcome). Latencies are logged.
func TestHealthProbeThroughTor(t *testing.T) {
	n := shared.Network(t)
	dir := t.TempDir()
	mgmt := clStartTor(t, n, filepath.Join(dir, "mgmt"))
	c := clControl(t, mgmt.control)
	clWaitBootstrapped(t, c, "management tor")

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if conf, err := c.GetConf(ctx, "SocksPort"); err != nil || !slices.Equal(conf, []string{"0"}) {
		t.Fatalf("management tor's SocksPort before: %q, %v; want the docs' 0", conf, err)
	}
	addr, opened, err := c.SocksForProbes(ctx)
	if err != nil || !opened {
		t.Fatalf("SocksForProbes: %q opened=%v: %v", addr, opened, err)
	}
	conf, err := c.GetConf(ctx, "SocksPort")
	if err != nil || !slices.Equal(conf, []string{"127.0.0.1:auto ExtendedErrors"}) {
		t.Fatalf("SocksPort after SocksForProbes: %q, %v", conf, err)
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s does not listen: %v", addr, err)
	}
	conn.Close()
	t.Logf("management tor: SocksPort %q listening on %s", conf, addr)
	if again, opened, err := c.SocksForProbes(ctx); err != nil || opened || again != addr {
		t.Fatalf("second SocksForProbes: %q opened=%v %v; want %q again", again, opened, err, addr)
	}

	p := &socksprobe.Prober{Addr: addr}
	probeWithin := func(bound time.Duration, what, backend string, port int) socksprobe.Result {
		pctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		r := p.Probe(pctx, backend, port)
		t.Logf("probe %-28s %s:%d -> %-20s %-8s (%s)", what, backend[:8], port, r.Outcome, r.Latency.Round(time.Millisecond), r.Detail)
		return r
	}
	probe := func(what, backend string, port int) socksprobe.Result {
		return probeWithin(probeBound, what, backend, port)
	}

	// A live backend (an OnionBalance instance, as in production): Connected once its descriptor
	// is on the HSDirs.
	master, err := testnet.GenerateMasterKey(filepath.Join(dir, "master"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	live := testnet.StartOnionService(t, n, testnet.OnionServiceConfig{Name: "hprobe-live", Master: master})
	liveAddr := strings.TrimSuffix(live.Onion, ".onion")
	first := time.Now()
	for {
		r := probe("live (until connected)", liveAddr, 80)
		if r.Outcome == health.Connected {
			break
		}
		if time.Since(first) > 3*time.Minute {
			t.Fatalf("the live backend was not Connected within 3 minutes (last: %s, %s)", r.Outcome, r.Detail)
		}
		time.Sleep(2 * time.Second)
	}
	for i := range 3 {
		if r := probe("live, fresh circuits", liveAddr, 80); r.Outcome != health.Connected {
			t.Errorf("live probe %d: %s (%s), want %s", i, r.Outcome, r.Detail, health.Connected)
		}
	}
	for i := range 2 {
		r := probe("live, port not served", liveAddr, 81)
		if r.Outcome.Evidence() != health.Alive {
			t.Errorf("live backend, port 81 (not served), probe %d: %s (%s): evidence %s, want alive", i, r.Outcome, r.Detail, r.Outcome.Evidence())
		}
	}

	// An address nobody publishes: no HSDir has its descriptor.
	nobody, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if r := probe("unpublished", nobody.Address(), 80); r.Outcome != health.DescNotFound {
			t.Errorf("unpublished address, probe %d: %s (%s), want %s", i, r.Outcome, r.Detail, health.DescNotFound)
		}
	}

	// A backend whose tor dies by SIGKILL: its descriptor stays on the HSDirs (and in the
	// management tor's cache), its intro points lose their circuits to it.
	dead := startProbeBackend(t, n, filepath.Join(dir, "dead"), "hprobe-dead", master)
	first = time.Now()
	for {
		r := probe("doomed (until connected)", dead.onion, 80)
		if r.Outcome == health.Connected {
			break
		}
		if time.Since(first) > 3*time.Minute {
			t.Fatalf("the doomed backend was not Connected within 3 minutes (last: %s, %s)", r.Outcome, r.Detail)
		}
		time.Sleep(2 * time.Second)
	}
	if !dead.tor.p.signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatal("the doomed backend's tor did not die on SIGKILL")
	}
	killed := time.Now()
	t.Logf("killed the backend's tor (SIGKILL)")
	// Probed as the daemon does, within health.timeout. A probe that starts while the intro points
	// still hold the dead backend's circuits may get an INTRODUCE_ACK and then wait for a
	// rendezvous that never comes: tor itself gives up only at its SocksTimeout (2 min, reply 0x06
	// "TTL expired"), so such a probe ends as Timeout. Later ones fail fast (intro-failed).
	timeout := health.DefaultConfig().Timeout
	for i := range 4 {
		r := probeWithin(timeout, "killed", dead.onion, 80)
		if r.Outcome.Evidence() != health.Dead {
			t.Errorf("killed backend, probe %d (%v after the kill): %s (%s): evidence %s, want dead",
				i, time.Since(killed).Round(time.Second), r.Outcome, r.Detail, r.Outcome.Evidence())
		}
	}
}

// probeBackend is an onion service (OnionBalance instance of master) run by a tor of the test's
// own, so that the test can kill it with SIGKILL.
type probeBackend struct {
	tor   *torNode
	onion string // without ".onion"
}

func startProbeBackend(t *testing.T, n *testnet.Network, dir, name, master string) *probeBackend {
	t.Helper()
	hs := filepath.Join(dir, "hs")
	if err := os.MkdirAll(hs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hs, "ob_config"), []byte("MasterOnionAddress "+master+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	web := nameServer(t, name)
	tor := newTorNode(t, n, torNodeConfig{Name: name, Dir: dir, ControlPort: freePorts(t, n, 1)[0], Extra: []string{
		"HiddenServiceDir " + hs,
		"HiddenServicePort 80 " + web,
		"HiddenServiceOnionBalanceInstance 1",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := tor.start(ctx); err != nil {
		t.Fatal(err)
	}
	host, err := os.ReadFile(filepath.Join(hs, "hostname"))
	if err != nil {
		t.Fatal(err)
	}
	return &probeBackend{tor: tor, onion: strings.TrimSuffix(strings.TrimSpace(string(host)), ".onion")}
}
