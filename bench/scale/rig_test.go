package scale

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/internal/procs"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/publishertest"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// Reply latencies of the fake tor: each HSDir's answer to an HSFETCH (the descriptor, or NOT_FOUND)
// and to an HSPOST (UPLOADED or FAILED) arrives after a delay drawn uniformly from this range. A tor
// client builds (or reuses) a circuit to the HSDir and does one directory request over it: a few
// hundred ms on a warm tor, about a second with a new circuit (see bench/README.md).
const (
	latencyLo = 300 * time.Millisecond
	latencyHi = 1000 * time.Millisecond
)

// world is what every node of one run shares: the network, the services and their backends, etcd.
type world struct {
	t         testing.TB
	now       time.Time
	net       *publishertest.Network
	masters   []*hsv3.IdentityKey
	backends  [][]*publishertest.Backend // per service
	endpoints []string
	keys      store.Keys
}

// newWorld makes nsvc services of nbe backends each (3 intro points per backend, as tor has) on a
// synthetic network of nrelays HSDirs, and starts a real embedded etcd that syncs its writes to disk
// like a production one (storetest's skips fsync).
func newWorld(t testing.TB, nsvc, nbe, nrelays int) *world {
	t.Helper()
	now := time.Now()
	w := &world{t: t, now: now, net: publishertest.NewNetwork(t, nrelays, now.Add(-10*time.Minute).Truncate(time.Hour), time.Hour)}
	// The synthetic consensus must be live now: valid-after within the hour before now.
	for i := 0; i < nsvc; i++ {
		k, err := hsv3.GenerateIdentityKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w.masters = append(w.masters, k)
		var bes []*publishertest.Backend
		for j := 0; j < nbe; j++ {
			bes = append(bes, publishertest.NewBackend(t, 3, now))
		}
		w.backends = append(w.backends, bes)
	}
	cfg := store.DefaultEmbedConfig(t.TempDir())
	cfg.ClientURL, cfg.PeerURL = "http://127.0.0.1:0", "http://127.0.0.1:0"
	e, err := store.StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	w.endpoints = e.Endpoints()
	if w.keys, err = store.NewKeys("/onionbalance"); err != nil {
		t.Fatal(err)
	}
	return w
}

// serve makes a new fake tor that serves the world's network and every backend's descriptor, with
// the reply latencies above.
func (w *world) serve(srvOpts torctltest.Options) *torctltest.Server {
	w.t.Helper()
	srv := torctltest.Start(w.t, srvOpts)
	var all []*publishertest.Backend
	for _, bes := range w.backends {
		all = append(all, bes...)
	}
	publishertest.Serve(w.t, srv, w.net, w.now, all...)
	srv.SetEventLatency(latencyLo, latencyHi)
	return srv
}

// countingRecords are the publisher's records in etcd, every write fenced by the election as the
// daemon's (obhost/state.go), counting the writes and the bytes of their values.
type countingRecords struct {
	st     *store.Store
	el     *cluster.Election
	writes atomic.Int64
	bytes  atomic.Int64
}

func (r *countingRecords) write(ctx context.Context, epoch int64, ops ...clientv3.Op) error {
	r.writes.Add(1)
	for _, op := range ops {
		r.bytes.Add(int64(len(op.KeyBytes()) + len(op.ValueBytes())))
	}
	return r.el.Write(ctx, epoch, ops...)
}

func (r *countingRecords) Instances(ctx context.Context, svc string) ([]record.Instance, error) {
	return r.st.Instances(ctx, svc)
}

func (r *countingRecords) PublishedAll(ctx context.Context, svc string) (map[string]record.Publish, error) {
	return r.st.PublishedAll(ctx, svc)
}

func (r *countingRecords) PutInstance(ctx context.Context, epoch int64, svc string, rec record.Instance) error {
	op, err := r.st.PutInstanceOp(svc, rec)
	if err != nil {
		return err
	}
	return r.write(ctx, epoch, op)
}

func (r *countingRecords) PutPublished(ctx context.Context, epoch int64, svc, blindedHex string, rec record.Publish) error {
	op, err := r.st.PutPublishedOp(svc, blindedHex, rec)
	if err != nil {
		return err
	}
	return r.write(ctx, epoch, op)
}

func (r *countingRecords) RecordKeys(ctx context.Context) (map[string]record.ServiceKeys, error) {
	return r.st.RecordKeys(ctx)
}

func (r *countingRecords) DeleteRecords(ctx context.Context, epoch int64, svc string, insts, published []string) error {
	ops, err := r.st.DeleteRecordsOps(svc, insts, published)
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	return r.write(ctx, epoch, ops...)
}

// node is one obhost: its own fake tor, control-port client, election and manager.
type node struct {
	name    string
	srv     *torctltest.Server
	cli     *clientv3.Client
	el      *cluster.Election
	recs    *countingRecords
	m       *publisher.Manager
	cancel  context.CancelFunc
	stopped chan struct{}
}

// startNode starts a node with the publisher's defaults and concurrency workers (0: the default).
// The revision probe of a first upload is bounded by 1 s: the fake tor names every fetched
// descriptor with one made-up blinded key, so it never answers the probe (a real tor does, at once).
func (w *world) startNode(name string, concurrency int) *node {
	w.t.Helper()
	n := &node{name: name, srv: w.serve(torctltest.Options{}), stopped: make(chan struct{})}
	n.cli = storetest.NewClient(w.t, w.endpoints...)
	var err error
	n.el, err = cluster.NewElection(n.cli, w.keys, cluster.DefaultConfig(name))
	if err != nil {
		w.t.Fatal(err)
	}
	n.recs = &countingRecords{st: store.New(n.cli, w.keys, nil, 5*time.Second), el: n.el}

	tcfg := torctl.DefaultConfig()
	tcfg.Address, tcfg.Auth = n.srv.Addr(), torctl.AuthNone
	tcfg.Logger = logger(name + ".torctl")
	client, err := torctl.New(tcfg)
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := publisher.DefaultConfig()
	cfg.Node, cfg.Clock = name, clock.Real{}
	cfg.Logger = logger(name)
	cfg.RevisionProbeTimeout = time.Second
	setConcurrency(&cfg, concurrency)
	if os.Getenv("OB_SCALE_GOVERNOR") != "" {
		// The daemon's idle P governor (internal/procs), for the whole process: outside the
		// publisher's parallel work the fake tor and etcd get one P too, so the figures are a
		// pessimistic bound of the daemon's. One node per process (TestScaleCycle) only.
		gov := procs.New(runtime.GOMAXPROCS(0))
		cfg.Procs = gov
		w.t.Cleanup(gov.Stop)
	}
	for i, k := range w.masters {
		sc := publisher.ServiceConfig{Key: k}
		for j, b := range w.backends[i] {
			sc.Backends = append(sc.Backends, publisher.BackendConfig{Address: b.Key.Address(), Name: fmt.Sprintf("s%db%d", i, j)})
		}
		cfg.Services = append(cfg.Services, sc)
	}
	if n.m, err = publisher.New(cfg, client, n.recs, n.el); err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	done := make(chan struct{}, 3)
	go func() { _ = client.Run(ctx); done <- struct{}{} }()
	go func() { _ = n.el.Run(ctx); done <- struct{}{} }()
	go func() { _ = n.m.Run(ctx, client.Events()); done <- struct{}{} }()
	go func() {
		for i := 0; i < 3; i++ {
			<-done
		}
		close(n.stopped)
	}()
	w.t.Cleanup(n.stop)
	return n
}

// stop ends the node gracefully and waits for it (bounded).
func (n *node) stop() {
	n.cancel()
	select {
	case <-n.stopped:
	case <-time.After(30 * time.Second):
	}
}

// kill ends the node as kill -9 would for the cluster: its etcd connection goes first, so that it
// neither resigns nor revokes its lease; the others take over when the lease expires.
func (n *node) kill() {
	n.cli.Close()
	n.cancel()
	select {
	case <-n.stopped:
	case <-time.After(30 * time.Second):
	}
}

// published reports how many services this node has published completely since since: both current
// descriptors with introPoints intro points each, uploaded in its leadership and every upload
// acknowledged (and so recorded in etcd).
func (n *node) published(introPoints int, since time.Time) int {
	st := n.m.Status()
	if st == nil || !st.Leading {
		return 0
	}
	done := 0
	for _, ss := range st.Services {
		ok := 0
		for _, d := range ss.Descriptors {
			if d.Current == "" || len(d.IntroPoints) != introPoints || d.UploadedAt.Before(since) || len(d.HSDirs) == 0 {
				continue
			}
			all := true
			for _, u := range d.HSDirs {
				if u.Status != record.UploadUploaded {
					all = false
					break
				}
			}
			if all {
				ok++
			}
		}
		if ok == 2 {
			done++
		}
	}
	return done
}

// waitPublished waits until n has published every one of nsvc services, or bound passes.
func (n *node) waitPublished(nsvc, introPoints int, since time.Time, bound time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(bound)
	for {
		got := n.published(introPoints, since)
		if got == nsvc {
			return time.Since(since), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s published %d of %d services within %v", n.name, got, nsvc, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// usage is the process's CPU time (user + system) and peak RSS.
type usage struct {
	cpu    time.Duration
	maxRSS int64 // bytes
}

func getUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), maxRSS: ru.Maxrss * 1024}
}

// currentRSS reads VmRSS from /proc/self/status (bytes).
func currentRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			return kb * 1024
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// logger logs errors to stderr, or at the level OB_SCALE_LOG names (e.g. info).
func logger(name string) hclog.Logger {
	level := hclog.Error
	if v := os.Getenv("OB_SCALE_LOG"); v != "" {
		level = hclog.LevelFromString(v)
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: os.Stderr})
}
