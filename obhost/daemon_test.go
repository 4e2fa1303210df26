package obhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/publishertest"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// lockedBuffer collects the daemons' logs, to print them when a test fails.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testHost is one obhost of an in-process cluster, with its own fake tor.
type testHost struct {
	name string
	tor  *torctltest.Server
	cfg  Config
	d    *Daemon
}

// newTestHost configures an obhost named name that balances the master key in masterFile over the
// backends of the network, with its election in etcd at endpoints.
func newTestHost(t *testing.T, name string, endpoints []string, masterFile string, net *publishertest.Network,
	backends []*publishertest.Backend, log *lockedBuffer) *testHost {
	t.Helper()
	tor := torctltest.Start(t, torctltest.Options{})
	publishertest.Serve(t, tor, net, time.Now(), backends...)
	file := config.Default()
	svc := config.Service{Key: masterFile}
	for i, b := range backends {
		svc.Instances = append(svc.Instances, config.Instance{Address: b.Key.Address() + ".onion", Name: "b" + string(rune('1'+i))})
	}
	file.Services = []config.Service{svc}
	file.DataDir = t.TempDir()
	file.Cluster.NodeName = name
	file.Cluster.Etcd.Endpoints = endpoints
	file.Cluster.SessionTTL = config.Duration(5 * time.Second)
	file.StatusSocketLocation = filepath.Join(t.TempDir(), "status.sock")

	cfg := DefaultConfig()
	cfg.File, cfg.TorControls, cfg.Getenv = file, []string{tor.Addr()}, obhosttest.NoEnv
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Info, Output: log})
	cfg.Election.RetryMin, cfg.Election.RetryMax = 100*time.Millisecond, time.Second
	// The fake tor never answers the revision probe of a first upload (it names every fetched
	// descriptor with one made-up blinded key): do not let the probe hold the upload back long.
	cfg.Publisher.RevisionProbeTimeout = time.Second
	return &testHost{name: name, tor: tor, cfg: cfg}
}

func (h *testHost) start(t *testing.T) {
	t.Helper()
	d, err := Start(context.Background(), h.cfg)
	if err != nil {
		t.Fatalf("%s: start: %v", h.name, err)
	}
	h.d = d
}

func (h *testHost) leading() bool {
	st := h.d.Status()
	return st != nil && st.Leading
}

// masterPosts returns the descriptors this host's tor was asked to upload for the master address
// that verify and decrypt as the master's.
func (h *testHost) masterPosts(t *testing.T, master *hsv3.IdentityKey) []*hsv3.Descriptor {
	t.Helper()
	var out []*hsv3.Descriptor
	for _, p := range h.tor.Posts() {
		if p.Address != master.Address() {
			t.Errorf("%s: HSPOST for %q, want only the master %s", h.name, p.Address, master.Address())
			continue
		}
		d, err := hsv3.DecodeForAddress(p.Descriptor, master.Address(), hsv3.DecodeOptions{Now: time.Now()})
		if err != nil {
			t.Errorf("%s: the uploaded descriptor is not the master's: %v", h.name, err)
			continue
		}
		out = append(out, d)
	}
	return out
}

// daemonFixture is the world of an in-process daemon test: one real embedded etcd (its endpoints),
// a synthetic network with two backends of 3 intro points, and a master key with its key file.
func daemonFixture(t *testing.T) (eps []string, net *publishertest.Network, backends []*publishertest.Backend,
	master *hsv3.IdentityKey, masterFile string) {
	t.Helper()
	eps = storetest.Single(t)
	net = publishertest.NewNetwork(t, 8, time.Now().UTC().Truncate(time.Hour), time.Hour)
	backends = []*publishertest.Backend{publishertest.NewBackend(t, 3, time.Now()), publishertest.NewBackend(t, 3, time.Now())}
	master, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	masterFile = filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(masterFile, master.MarshalTorSecretKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	return eps, net, backends, master, masterFile
}

// TestDaemonLeadsPublishesHandsOverAndStops runs two obhosts in-process, each on its own fake tor,
// over one real embedded etcd: the first leads and uploads descriptors of the master (signed by its
// blinded key, with the backends' intro points); a step-down hands over to the second, which
// uploads at once; stopping the second hands back to the first; and stopping both leaves no
// goroutine behind.
func TestDaemonLeadsPublishesHandsOverAndStops(t *testing.T) {
	eps, net, backends, master, masterFile := daemonFixture(t)
	log := &lockedBuffer{}
	a := newTestHost(t, "a", eps, masterFile, net, backends, log)
	b := newTestHost(t, "b", eps, masterFile, net, backends, log)
	cli := storetest.NewClient(t, eps...)
	if _, err := cli.Get(context.Background(), "/"); err != nil { // connect now, before the baseline
		t.Fatal(err)
	}
	baseline := runtime.NumGoroutine()
	defer func() {
		if t.Failed() {
			t.Logf("daemon logs:\n%s", log)
		}
	}()

	a.start(t)
	defer func() { a.d.Stop() }()
	obhosttest.WaitFor(t, "a leads", 15*time.Second, a.leading)
	b.start(t)
	defer func() { b.d.Stop() }()

	// a publishes: descriptors of the master with 2 intro points (the default share) of each backend.
	obhosttest.WaitFor(t, "a uploads the master's descriptors", 30*time.Second, func() bool { return len(a.tor.Posts()) > 0 })
	for _, d := range a.masterPosts(t, master) {
		if n := len(d.IntroPoints()); n != 4 {
			t.Errorf("a uploaded a descriptor with %d intro points, want 4 (2 backends x 2)", n)
		}
	}
	if b.leading() || len(b.tor.Posts()) != 0 {
		t.Fatalf("the follower b leads (%v) or uploaded (%d HSPOSTs)", b.leading(), len(b.tor.Posts()))
	}
	if v := gaugeValue(t, a.cfg.Metrics, "onionbalance_leader"); v != 1 {
		t.Errorf("a's injected metrics registry: onionbalance_leader = %v, want 1", v)
	}
	if v := gaugeValue(t, b.cfg.Metrics, "onionbalance_leader"); v != 0 {
		t.Errorf("b's injected metrics registry: onionbalance_leader = %v, want 0", v)
	}
	if js := readStatus(t, a.cfg.File.StatusSocketLocation); !bytes.Contains([]byte(js), []byte(master.Address())) {
		t.Errorf("a's status socket does not name the master: %s", js)
	}
	// Backend health runs (on by default): each node opened a SOCKS listener on its tor through the
	// control port and wrote a probe report; the leader judged (the status socket has the verdicts).
	st := store.New(cli, obhosttest.DefaultKeys(t), nil, 5*time.Second)
	obhosttest.WaitFor(t, "both nodes' probe reports", 30*time.Second, func() bool {
		reps, err := st.ProbeReports(context.Background())
		return err == nil && len(reps) == 2 && len(a.tor.SocksListeners()) > 0 && len(b.tor.SocksListeners()) > 0
	})
	obhosttest.WaitFor(t, "the leader's verdicts in its status socket", 15*time.Second, func() bool {
		return strings.Count(readStatus(t, a.cfg.File.StatusSocketLocation), `"health":"up"`) == 2
	})

	// A step-down hands over to b, which publishes at once (a new leadership republishes). b must
	// campaign first: a leader that resigns before b's election key exists wins again.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	obhosttest.WaitFor(t, "b campaigning", 10*time.Second, func() bool {
		c, _ := cluster.Candidates(ctx, cli, obhosttest.DefaultKeys(t))
		return len(c) == 2
	})
	res, err := StepDown(ctx, cli, obhosttest.DefaultKeys(t), "a", time.Second, "test")
	if err != nil {
		t.Fatal(err)
	}
	if res.Old.Name != "a" || res.Next.Name != "b" {
		t.Fatalf("step-down: %+v, want a -> b", res)
	}
	obhosttest.WaitFor(t, "b leads", 15*time.Second, b.leading)
	obhosttest.WaitFor(t, "b uploads", 30*time.Second, func() bool { return len(b.tor.Posts()) > 0 })
	if len(b.masterPosts(t, master)) == 0 {
		t.Fatal("b's uploads are not the master's descriptors")
	}
	if epoch := b.d.Status().Epoch; epoch != res.Next.Epoch {
		t.Errorf("b publishes in epoch %d, the election says %d", epoch, res.Next.Epoch)
	}

	// Stopping the leader hands back to a.
	posted := len(a.tor.Posts())
	b.d.Stop()
	obhosttest.WaitFor(t, "a leads again", 15*time.Second, a.leading)
	obhosttest.WaitFor(t, "a uploads again", 30*time.Second, func() bool { return len(a.tor.Posts()) > posted })
	a.d.Stop()

	// Nothing of either daemon keeps running (the etcd server and the fake tors were there before;
	// the SOCKS listeners the daemons opened on their tors for the health probes are the tors').
	baseline += len(a.tor.SocksListeners()) + len(b.tor.SocksListeners())
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after both daemons stopped, %d before they started:\n%s",
				runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gaugeValue returns the value of the unlabelled gauge name in reg (-1 when absent).
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
