package obhost

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// fakeProber answers every probe with the outcome set for the backend (Connected by default).
type fakeProber struct {
	mu    sync.Mutex
	out   map[string]health.Outcome
	calls map[string]int
	socks []string
}

func newFakeProber() *fakeProber {
	return &fakeProber{out: map[string]health.Outcome{}, calls: map[string]int{}}
}

func (f *fakeProber) set(backend string, o health.Outcome) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out[backend] = o
}

func (f *fakeProber) Probe(_ context.Context, socks, backend string, _ int) (health.Outcome, time.Duration, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[backend]++
	f.socks = append(f.socks, socks)
	o := f.out[backend]
	if o == "" {
		o = health.Connected
	}
	return o, 1500 * time.Millisecond, "fake " + string(o)
}

func (f *fakeProber) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// healthFixture is a real etcd with node heartbeats, a publisher (never leading: only its health
// state matters here) with one service, and the probers and the judge of the nodes.
type healthFixture struct {
	t        *testing.T
	eps      []string
	cli      *clientv3.Client
	st       *store.Store
	cfg      health.Config
	svc      string   // the service's address
	backends []string // its backends
	sc       publisher.ServiceConfig
	m        *publisher.Manager
	probe    *fakeProber
}

func newHealthFixture(t *testing.T, rules health.Rules, nodes ...string) *healthFixture {
	t.Helper()
	f := &healthFixture{t: t, eps: storetest.Single(t), cfg: health.DefaultConfig(), probe: newFakeProber()}
	f.cfg.Rules = rules
	f.cli = storetest.NewClient(t, f.eps...)
	f.st = store.New(f.cli, obhosttest.DefaultKeys(t), nil, 5*time.Second)
	ctx := context.Background()
	lease, err := f.cli.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		op, err := f.st.PutNodeOp(record.Node{Name: n, TorBootstrap: 100, TorState: "done"}, lease.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.Commit(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	master, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = master.Address()
	sc := publisher.ServiceConfig{Key: master, Health: rules}
	for range 2 {
		b := obhosttest.OnionAddress(t)
		f.backends = append(f.backends, b)
		sc.Backends = append(sc.Backends, publisher.BackendConfig{Address: b})
	}
	f.sc = sc
	f.m = f.startPublisher(sc)
	return f
}

// startPublisher runs a publisher that never leads with sc until the test ends.
func (f *healthFixture) startPublisher(sc publisher.ServiceConfig) *publisher.Manager {
	f.t.Helper()
	pcfg := publisher.DefaultConfig()
	pcfg.Services = []publisher.ServiceConfig{sc}
	m, err := publisher.New(pcfg, fakeTor{}, emptyState{}, follower{})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx, nil); close(done) }()
	f.t.Cleanup(func() { cancel(); <-done })
	return m
}

func (f *healthFixture) prober(node string) *healthProber {
	return (&healthProber{cfg: f.cfg, node: node, st: f.st, lease: f.cli, pub: f.m, probe: f.probe,
		socks: func(context.Context) (string, error) { return "127.0.0.1:9", nil }, reset: func() {},
		log: hclog.NewNullLogger()}).init()
}

func (f *healthFixture) judge(c *obhosttest.Candidate, pub healthPublisher) *healthJudge {
	return &healthJudge{cfg: f.cfg, node: c.Name, st: f.st, lead: c.Election,
		writer: &fencedRecords{st: f.st, el: c.Election, latency: newEtcdLatency()}, pub: pub, log: hclog.NewNullLogger()}
}

func (f *healthFixture) status(backend string) publisher.BackendStatus {
	f.t.Helper()
	for _, b := range f.m.Status().Services[0].Backends {
		if b.Address == backend+".onion" {
			return b
		}
	}
	f.t.Fatalf("no status for %s", backend)
	return publisher.BackendStatus{}
}

// settled waits until the publisher's status shows what the judge handed it last (SetHealth returns
// once applied; the status snapshot follows at the publisher's next step).
func (f *healthFixture) settled(backend string, excluded bool) publisher.BackendStatus {
	f.t.Helper()
	var b publisher.BackendStatus
	obhosttest.WaitFor(f.t, "the publisher's status", 5*time.Second, func() bool {
		b = f.status(backend)
		return b.Excluded == excluded
	})
	return b
}

// roundsAndJudgements runs n probe rounds of p, one interval apart from t0, each followed a second later
// by a judgement of j.
func (f *healthFixture) roundsAndJudgements(p *healthProber, j *healthJudge, t0 time.Time, n int) {
	f.t.Helper()
	ctx := context.Background()
	for r := range n {
		now := t0.Add(time.Duration(r) * f.cfg.Interval)
		p.round(ctx, now, nil)
		if err := j.judge(ctx, now.Add(time.Second)); err != nil {
			f.t.Fatal(err)
		}
	}
}

// A backend whose probes fail from both nodes goes down after the configured failures over the
// minimum time, is written down in etcd (fenced, by the leader), leaves the publisher's plan
// (excluded: not live, "down: ..."), and comes back after the configured successes.
func TestHealthDeadBackendLeavesAndComesBack(t *testing.T) {
	f := newHealthFixture(t, health.DefaultRules(), "n1", "n2")
	leader := obhosttest.StartCandidate(t, f.eps, "n1")
	epoch := leader.WaitLeader(t)
	p1, p2 := f.prober("n1"), f.prober("n2")
	j := f.judge(leader, f.m)
	ctx := context.Background()
	dead, alive := f.backends[0], f.backends[1]
	f.probe.set(dead, health.IntroFailed)

	t0 := time.Unix(0, 1000*int64(f.cfg.Interval)).Add(time.Second)
	at := func(r int) time.Time { return t0.Add(time.Duration(r) * f.cfg.Interval) }
	round := func(r int) {
		t.Helper()
		p1.round(ctx, at(r), nil)
		p2.round(ctx, at(r), nil)
		if err := j.judge(ctx, at(r).Add(time.Second)); err != nil {
			t.Fatalf("judge, round %d: %v", r, err)
		}
	}
	// Two rounds of failures (30 s apart) are not enough: 3 failures over at least 60 s are.
	round(0)
	round(1)
	if b := f.settled(dead, false); b.Health != record.HealthUp || !b.Live && strings.HasPrefix(b.Why, "down") {
		t.Fatalf("after 2 rounds of failures: %+v, want still up", b)
	}
	round(2)
	b := f.settled(dead, true)
	// (Live and Why say "no descriptor yet" first here: this publisher never fetched; its own tests
	// show an excluded backend's "down: <reason>".)
	if b.Health != record.HealthDown || b.Live || !strings.Contains(b.HealthReason, "intro-failed") {
		t.Fatalf("after 3 rounds of failures: %+v, want down and excluded", b)
	}
	if b := f.status(alive); b.Health != record.HealthUp || b.Excluded {
		t.Errorf("the live backend: %+v", b)
	}
	verdicts, err := f.st.BackendHealths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := verdicts[dead]; v.State != record.HealthDown || v.Epoch != epoch || v.Node != "n1" {
		t.Errorf("verdict in etcd: %+v, want down written by n1 in epoch %d", v, epoch)
	}
	reports, err := f.st.ProbeReports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 || !reports[0].TorReady || len(reports[0].Results) != 6 || reports[1].Node != "n2" {
		t.Errorf("probe reports: %+v, want one per node with 3 rounds of 2 results", reports)
	}

	// The backend is back: two successes in a row bring it back, one is not enough (in round 3 only
	// n1 probes).
	f.probe.set(dead, health.Answered)
	p1.round(ctx, at(3), nil)
	if err := j.judge(ctx, at(3).Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if b := f.settled(dead, true); b.Health != record.HealthDown {
		t.Fatalf("after one success: %+v, want still down", b)
	}
	round(4)
	if b := f.settled(dead, false); b.Health != record.HealthUp || !strings.Contains(b.HealthReason, "successful") {
		t.Fatalf("after two successes: %+v, want up and in the descriptor", b)
	}
	verdicts, _ = f.st.BackendHealths(ctx)
	if v := verdicts[dead]; v.State != record.HealthUp {
		t.Errorf("verdict in etcd after the recovery: %+v", v)
	}
}

// A new leader starts from the verdicts in etcd: a backend the previous leader found dead stays out
// of its descriptor although no probe result says so any more.
func TestHealthNewLeaderKeepsDeadBackendOut(t *testing.T) {
	f := newHealthFixture(t, health.DefaultRules(), "n1", "n2")
	first := obhosttest.StartCandidate(t, f.eps, "n1")
	first.WaitLeader(t)
	p1 := f.prober("n1")
	j := f.judge(first, f.m)
	ctx := context.Background()
	dead := f.backends[0]
	f.probe.set(dead, health.IntroFailed)
	t0 := time.Unix(0, 2000*int64(f.cfg.Interval))
	f.roundsAndJudgements(p1, j, t0, 3)
	f.settled(dead, true)

	first.Stop()
	second := obhosttest.StartCandidate(t, f.eps, "n2")
	second.WaitLeader(t)
	if _, err := f.cli.Delete(ctx, f.st.Keys().ProbeReports(), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	m2 := f.startPublisher(f.sc)
	j2 := f.judge(second, m2)
	if err := j2.judge(ctx, t0.Add(4*f.cfg.Interval)); err != nil {
		t.Fatal(err)
	}
	obhosttest.WaitFor(t, "the new leader's publisher", 5*time.Second, func() bool {
		for _, b := range m2.Status().Services[0].Backends {
			if b.Address == dead+".onion" {
				return b.Excluded && b.Health == record.HealthDown
			}
		}
		return false
	})
	// The old leader's judge, once it sees the leadership gone, clears its judgement from its
	// publisher (a follower shows no verdicts) and can no longer write.
	oldEpoch := j.epoch
	j.stepDown(ctx)
	obhosttest.WaitFor(t, "the old leader's publisher forgetting the verdicts", 5*time.Second, func() bool {
		b := f.status(dead)
		return !b.Excluded && b.Health == ""
	})
	j.epoch = oldEpoch
	if err := j.writer.PutBackendHealths(ctx, j.epoch, []record.BackendHealth{{Address: dead, State: record.HealthUp}}); !errors.Is(err, cluster.ErrNotLeader) {
		t.Errorf("the old leader's write: %v, want %v", err, cluster.ErrNotLeader)
	}
}

// With probing off for the service, nothing is probed and nothing is excluded, however the probes
// would fail.
func TestHealthDisabledProbesNothing(t *testing.T) {
	rules := health.DefaultRules()
	rules.Enabled = false
	f := newHealthFixture(t, rules, "n1")
	leader := obhosttest.StartCandidate(t, f.eps, "n1")
	leader.WaitLeader(t)
	p := f.prober("n1")
	j := f.judge(leader, f.m)
	ctx := context.Background()
	f.probe.set(f.backends[0], health.IntroFailed)
	t0 := time.Unix(0, 3000*int64(f.cfg.Interval))
	for r := range 5 {
		now := t0.Add(time.Duration(r) * f.cfg.Interval)
		p.round(ctx, now, nil)
		if err := j.judge(ctx, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.probe.total(); n != 0 {
		t.Errorf("%d probes with probing off", n)
	}
	if b := f.status(f.backends[0]); b.Excluded || b.Health != "" {
		t.Errorf("status with probing off: %+v", b)
	}
}

// A node whose SOCKS listener cannot be set up probes nothing, says so in its report (its results
// would not count), and keeps going; once it has a listener it probes through it.
func TestHealthNoSocksListener(t *testing.T) {
	f := newHealthFixture(t, health.DefaultRules(), "n1")
	p := f.prober("n1")
	socksErr := errors.New("tor refused SETCONF SocksPort")
	p.socks = func(context.Context) (string, error) { return "", socksErr }
	ctx := context.Background()
	t0 := time.Unix(0, 4000*int64(f.cfg.Interval))
	p.round(ctx, t0, nil)
	if n := f.probe.total(); n != 0 {
		t.Errorf("%d probes without a SOCKS listener", n)
	}
	reps, err := f.st.ProbeReports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].TorReady || len(reps[0].Results) != 0 {
		t.Fatalf("report without a SOCKS listener: %+v, want tor_ready false and no results", reps)
	}
	p.socks = func(context.Context) (string, error) { return "127.0.0.1:9150", nil }
	p.round(ctx, t0.Add(f.cfg.Interval), nil)
	if n := f.probe.total(); n != 2 || f.probe.socks[0] != "127.0.0.1:9150" {
		t.Errorf("%d probes through %v once the listener is there, want 2 through 127.0.0.1:9150", n, f.probe.socks)
	}
	reps, _ = f.st.ProbeReports(ctx)
	if len(reps) != 1 || !reps[0].TorReady || len(reps[0].Results) != 2 {
		t.Errorf("report with a listener: %+v", reps)
	}
}

// The report is bound to a lease of the prober's own: when the lease is gone (the node was cut off
// longer than its TTL), the next round grants a new one and the report is back.
func TestHealthReportLeaseRegranted(t *testing.T) {
	f := newHealthFixture(t, health.DefaultRules(), "n1")
	p := f.prober("n1")
	ctx := context.Background()
	t0 := time.Unix(0, 5000*int64(f.cfg.Interval))
	p.round(ctx, t0, nil)
	first := p.leaseID
	if first == 0 {
		t.Fatal("no lease after the first round")
	}
	if _, err := f.cli.Revoke(ctx, first); err != nil {
		t.Fatal(err)
	}
	if reps, _ := f.st.ProbeReports(ctx); len(reps) != 0 {
		t.Fatalf("report outlived its lease: %+v", reps)
	}
	p.round(ctx, t0.Add(f.cfg.Interval), nil)
	if p.leaseID == first || p.leaseID == 0 {
		t.Errorf("lease %x after the old one was revoked", p.leaseID)
	}
	if reps, _ := f.st.ProbeReports(ctx); len(reps) != 1 {
		t.Errorf("reports after the new lease: %+v", reps)
	}
}

// fakeStatusPublisher serves a fixed status (with descriptor revisions, which a publisher that
// never fetched has not) and records the judgements handed to it.
type fakeStatusPublisher struct {
	mu   sync.Mutex
	st   *publisher.Status
	last publisher.Health
}

func (f *fakeStatusPublisher) Status() *publisher.Status { return f.st }
func (f *fakeStatusPublisher) SetHealth(_ context.Context, h publisher.Health) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = h
	return nil
}

// A down backend whose descriptor has a newer revision than when it went down is probed at once by
// the leader's prober (once per round), and one success brings it back.
func TestHealthProbesNewRevisionAtOnce(t *testing.T) {
	f := newHealthFixture(t, health.DefaultRules(), "n1")
	leader := obhosttest.StartCandidate(t, f.eps, "n1")
	epoch := leader.WaitLeader(t)
	ctx := context.Background()
	dead, other := f.backends[0], f.backends[1]
	t0 := time.Unix(0, 6000*int64(f.cfg.Interval))
	op, err := f.st.PutBackendHealthOp(record.BackendHealth{Address: dead, State: record.HealthDown, Since: t0.Add(-time.Hour),
		DownRevision: 5, Epoch: epoch - 1, Node: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Commit(ctx, op); err != nil {
		t.Fatal(err)
	}
	pub := &fakeStatusPublisher{st: &publisher.Status{Services: []publisher.ServiceStatus{{
		Address: f.svc + ".onion", HealthRules: health.DefaultRules(),
		Backends: []publisher.BackendStatus{{Address: dead + ".onion", Revision: 6}, {Address: other + ".onion", Revision: 9}},
	}}}}
	p := f.prober("n1")
	p.pub = pub
	j := f.judge(leader, pub)
	j.prober = p
	if err := j.judge(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if ex := pub.last.Excluded[f.svc]; ex[dead] == "" {
		t.Fatalf("excluded %v: the down backend should stay out until probed", pub.last.Excluded)
	}
	p.mu.Lock()
	queued := p.probeNowQ
	p.probeNowQ = nil
	p.mu.Unlock()
	if len(queued) != 1 || queued[0] != dead {
		t.Fatalf("probe-now queue %v, want [%s]", queued, dead)
	}
	p.round(ctx, t0.Add(time.Second), queued)
	p.round(ctx, t0.Add(2*time.Second), queued) // same round: not again
	f.probe.mu.Lock()
	calls := f.probe.calls[dead]
	f.probe.mu.Unlock()
	if calls != 1 {
		t.Fatalf("%d immediate probes of the backend in one round, want 1", calls)
	}
	// One success after the new descriptor brings it back.
	if err := j.judge(ctx, t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ex := pub.last.Excluded[f.svc]; ex[dead] != "" {
		t.Errorf("still excluded after a success on a new descriptor: %v", pub.last.Excluded)
	}
	if v := pub.last.Verdicts[dead]; v.State != record.HealthUp || !strings.Contains(v.Reason, "new descriptor") {
		t.Errorf("verdict %+v, want up on the new descriptor", v)
	}
}

// A reload (SIGHUP) of a node that balances the services of its file applies the services' health
// rules: the prober and the judge read them from the publisher each round.
func TestHealthRulesFollowReload(t *testing.T) {
	eps, net, backends, _, masterFile := daemonFixture(t)
	h := newTestHost(t, "a", eps, masterFile, net, backends, &lockedBuffer{})
	h.start(t)
	defer h.d.Stop()
	if got := h.d.Status().Services[0].HealthRules; got != health.DefaultRules() {
		t.Fatalf("rules at start: %+v", got)
	}
	file := *h.cfg.File
	file.Services = slices.Clone(file.Services)
	port, off := 8080, false
	file.Services[0].Health = config.ServiceHealth{Port: &port, Enabled: &off}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.d.Reload(ctx, &file); err != nil {
		t.Fatal(err)
	}
	want := health.DefaultRules()
	want.Port, want.Enabled = 8080, false
	obhosttest.WaitFor(t, "the reloaded rules", 5*time.Second, func() bool {
		return h.d.Status().Services[0].HealthRules == want
	})
}

// The prober's loop probes at once, then at the start of every round of the clock, and stamps a
// round's results with the round's start even when its timer fires late, so that failures three
// rounds apart span exactly two intervals (the judge's min-down-time is compared with that span).
func TestHealthProberRoundsOnTheClock(t *testing.T) {
	f := newHealthFixture(t, health.DefaultRules(), "n1")
	boundary := time.Unix(0, 7000*int64(f.cfg.Interval))
	fake := clock.NewFake(boundary.Add(10 * time.Second))
	done := make(chan struct{}, 1)
	p := f.prober("n1")
	p.clock, p.done = fake, done
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { p.run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	report := func() record.ProbeReport {
		t.Helper()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("no probe report")
		}
		reps, err := f.st.ProbeReports(ctx)
		if err != nil || len(reps) != 1 {
			t.Fatalf("reports %+v, %v", reps, err)
		}
		return reps[0]
	}
	if r := report(); !r.Results[len(r.Results)-1].At.Equal(boundary.Add(10 * time.Second)) {
		t.Errorf("first round at %v, want at once (%v)", r.Results[len(r.Results)-1].At, boundary.Add(10*time.Second))
	}
	for i := 1; i <= 2; i++ {
		obhosttest.WaitFor(t, "the prober waiting for the next round", 5*time.Second, func() bool { return fake.Waiters() > 0 })
		next := boundary.Add(time.Duration(i) * f.cfg.Interval)
		fake.Set(next.Add(7 * time.Millisecond)) // the timer fires late
		r := report()
		if got := r.Results[len(r.Results)-1].At; !got.Equal(next) {
			t.Errorf("round %d stamped %v, want the round's start %v", i, got, next)
		}
	}
}

// The verdict of a backend that left the configuration is deleted from etcd (fenced) at the leader's
// next judgement, and a verdict loaded from etcd by a new leader for a backend it no longer has too.
func TestHealthVerdictsOfRemovedBackendsArePruned(t *testing.T) {
	f := newHealthFixture(t, health.DefaultRules(), "n1")
	c := obhosttest.StartCandidate(t, f.eps, "n1")
	c.WaitLeader(t)
	p := f.prober("n1")
	j := f.judge(c, f.m)
	ctx := context.Background()
	gone := f.backends[0]
	f.probe.set(gone, health.IntroFailed)
	t0 := time.Unix(0, 2000*int64(f.cfg.Interval))
	f.roundsAndJudgements(p, j, t0, 3)
	verdicts := func() map[string]record.BackendHealth {
		t.Helper()
		v, err := f.st.BackendHealths(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verdicts(); v[gone].State != record.HealthDown {
		t.Fatalf("verdicts before the removal: %+v, want %s down", v, gone)
	}

	// The operator removes the backend: the publisher no longer has it.
	sc := f.sc
	sc.Backends = sc.Backends[1:]
	j.pub = f.startPublisher(sc)
	if err := j.judge(ctx, t0.Add(3*f.cfg.Interval)); err != nil {
		t.Fatal(err)
	}
	if v := verdicts(); len(v) != 0 {
		t.Fatalf("verdicts after the removal of %s: %+v, want none", gone, v)
	}

	// A verdict left in etcd (e.g. by an older version) is pruned by a new leader too.
	op, err := f.st.PutBackendHealthOp(record.BackendHealth{Address: gone, State: record.HealthDown, Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Commit(ctx, op); err != nil {
		t.Fatal(err)
	}
	j.epoch = 0 // as at the start of a leadership: the verdicts are loaded from etcd
	if err := j.judge(ctx, t0.Add(4*f.cfg.Interval)); err != nil {
		t.Fatal(err)
	}
	if v := verdicts(); len(v) != 0 {
		t.Fatalf("verdicts after a new leadership: %+v, want none", v)
	}
}
