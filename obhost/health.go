package obhost

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/publisher/health/socksprobe"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// Backend health (issue #16), the daemon's side: every node runs a prober that probes its share of
// the backends once per round through its tor and writes its results to etcd under a lease of its
// own; the leader's judge reads every live node's results, decides each backend's health
// (health.Judge), writes the changed verdicts fenced, and hands the backends excluded per service
// (health.Exclude) to the publisher. The decisions are publisher/health's pure functions; this file
// is their I/O.

// prober makes one probe: a connection through the SOCKS listener socks of tor to
// backend.onion:port on fresh circuits. socksProber (socksprobe.Prober) implements it.
type prober interface {
	Probe(ctx context.Context, socks, backend string, port int) (health.Outcome, time.Duration, string)
}

// socksProber is the real prober: tor's SocksPort with ExtendedErrors.
type socksProber struct{}

func (socksProber) Probe(ctx context.Context, socks, backend string, port int) (health.Outcome, time.Duration, string) {
	r := (&socksprobe.Prober{Addr: socks}).Probe(ctx, backend, port)
	return r.Outcome, r.Latency, r.Detail
}

// healthPublisher is what the prober and the judge need of the publisher: the services and
// backends with their rules and current descriptor revisions, and where the judgement goes.
type healthPublisher interface {
	Status() *publisher.Status
	SetHealth(ctx context.Context, h publisher.Health) error
}

// leadership tells the judge whether this node leads (*cluster.Election).
type leadership interface {
	IsLeader() (epoch int64, ok bool)
}

// verdictWriter writes the leader's verdicts, fenced by its epoch (fencedRecords).
type verdictWriter interface {
	PutBackendHealths(ctx context.Context, epoch int64, recs []record.BackendHealth) error
	DeleteBackendHealths(ctx context.Context, epoch int64, addrs []string) error
}

// maxResultsPerBackend bounds the results a node keeps (and reports) per backend.
const maxResultsPerBackend = 8

// healthWait is how long a new leader's publisher waits for the first judgement before it uploads
// (publisher.Config.HealthWait).
const healthWait = 10 * time.Second

// probedBackend is one backend to probe, with the rules of the first service that lists it.
type probedBackend struct {
	addr     string // without ".onion"
	revision uint64
	rules    health.Rules
}

// probedBackends returns the backends whose service enables probing, sorted by address; a backend
// listed by several services has the rules of the first one (configuration order) that lists it.
func probedBackends(st *publisher.Status) []probedBackend {
	if st == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []probedBackend
	for _, svc := range st.Services {
		for _, b := range svc.Backends {
			addr := strings.TrimSuffix(b.Address, ".onion")
			if seen[addr] {
				continue
			}
			seen[addr] = true
			if svc.HealthRules.Enabled {
				out = append(out, probedBackend{addr: addr, revision: b.Revision, rules: svc.HealthRules})
			}
		}
	}
	slices.SortFunc(out, func(a, b probedBackend) int { return strings.Compare(a.addr, b.addr) })
	return out
}

// liveNodes returns the names of the nodes with a heartbeat whose tor is bootstrapped.
func liveNodes(nodes []record.Node) []string {
	var out []string
	for _, n := range nodes {
		if n.TorBootstrap == 100 {
			out = append(out, n.Name)
		}
	}
	return out
}

// healthProber is one node's prober.
type healthProber struct {
	cfg   health.Config
	node  string
	st    *store.Store
	lease clientv3.Lease
	pub   healthPublisher
	probe prober
	// socks returns the address of the SOCKS listener the probes go through, setting it up when
	// needed (fixed: health.socks; else found or opened through the control port). reset forgets a
	// listener found before (tor restarted), so that the next call looks again.
	socks   func(ctx context.Context) (string, error)
	reset   func()
	clock   clock.Clock
	log     hclog.Logger
	metrics *healthMetrics
	// done is told (without blocking) when a round's report is written: the leader's judge runs then.
	done chan<- struct{}

	leaseID    clientv3.LeaseID
	history    map[string][]record.ProbeResult // by backend, oldest first
	socksErr   string                          // the last SOCKS set-up error logged ("" : none)
	probedNow  map[string]int64                // backend -> round of its last out-of-round probe
	mu         sync.Mutex                      // guards probeNowQ
	probeNowQ  []string
	probeNowCh chan struct{}
}

// init prepares the prober's state; call it once before the first round.
func (p *healthProber) init() *healthProber {
	p.history = map[string][]record.ProbeResult{}
	p.probedNow = map[string]int64{}
	p.probeNowCh = make(chan struct{}, 1)
	p.clock = clock.Or(p.clock)
	return p
}

// ProbeNow asks the prober to probe backends at once (the judge's Verdict.ProbeNow), each at most
// once per round.
func (p *healthProber) ProbeNow(backends []string) {
	if len(backends) == 0 {
		return
	}
	p.mu.Lock()
	p.probeNowQ = append(p.probeNowQ, backends...)
	p.mu.Unlock()
	select {
	case p.probeNowCh <- struct{}{}:
	default:
	}
}

// run probes once per round, at the start of each round of the wall clock, until ctx ends. The
// results of a round are stamped with the round's start (not the moment the timer fired), so that
// failures n rounds apart span exactly n intervals: a timer's few milliseconds late must not leave
// three failures over 59.99 s short of a min-down-time of 60 s.
func (p *healthProber) run(ctx context.Context) {
	now := p.clock.Now() // the first round starts at once, mid-round
	for {
		p.round(ctx, now, nil)
		next := time.Unix(0, (health.Round(now, p.cfg.Interval)+1)*int64(p.cfg.Interval))
		t := p.clock.NewTimer(next.Sub(p.clock.Now()))
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
				now = next
				if late := p.clock.Now().Sub(next); late > p.cfg.Interval {
					now = p.clock.Now() // a round overran (or the clock jumped): start from now
				}
				break wait
			case <-p.probeNowCh:
				p.mu.Lock()
				q := p.probeNowQ
				p.probeNowQ = nil
				p.mu.Unlock()
				p.round(ctx, p.clock.Now(), q)
			}
		}
	}
}

// round runs one probe round at now: the node's share of the backends (only nil), or the backends
// in only (out-of-round probes the judge asked for, each at most once per round), then writes the
// node's report.
func (p *healthProber) round(ctx context.Context, now time.Time, only []string) {
	rnd := health.Round(now, p.cfg.Interval)
	backends := probedBackends(p.pub.Status())
	nodes, err := p.st.Nodes(ctx)
	if err != nil {
		p.log.Warn("probe round skipped: cannot read the nodes' heartbeats", "error", err)
		return
	}
	live := liveNodes(nodes)
	torReady := slices.Contains(live, p.node)
	ports := map[string]int{}
	var addrs []string
	for _, b := range backends {
		ports[b.addr] = b.rules.Port
		addrs = append(addrs, b.addr)
	}
	var todo []string
	if only == nil {
		todo = health.Assign(addrs, live, p.node, rnd)
	} else {
		for _, b := range only {
			if _, ok := ports[b]; ok && p.probedNow[b] != rnd+1 && !slices.Contains(todo, b) {
				p.probedNow[b] = rnd + 1 // +1: round 0 is a round too
				todo = append(todo, b)
			}
		}
		if len(todo) == 0 {
			return
		}
	}
	var addr string
	if torReady && len(todo) > 0 {
		if addr, err = p.socks(ctx); err != nil {
			if err.Error() != p.socksErr {
				p.log.Warn("no SOCKS listener for the health probes: this node probes nothing until it has one "+
					"(set health.socks, or let the daemon open one through the control port)", "error", err)
			}
			p.socksErr, torReady = err.Error(), false
		} else if p.socksErr != "" {
			p.log.Info("SOCKS listener for the health probes ready", "socks", addr)
			p.socksErr = ""
		}
	}
	if torReady {
		results := p.probeAll(ctx, addr, todo, ports, now)
		p.record(results)
		if len(results) > 0 && allProberErrors(results) {
			p.reset() // tor restarted? look for the listener again next round
		}
	}
	p.prune(addrs)
	p.writeReport(ctx, now, torReady)
}

func allProberErrors(rs []record.ProbeResult) bool {
	for _, r := range rs {
		if health.Outcome(r.Outcome) != health.ProberError {
			return false
		}
	}
	return true
}

// probeAll probes backends concurrently, at most Concurrency at once, each bounded by Timeout.
func (p *healthProber) probeAll(ctx context.Context, socks string, backends []string, ports map[string]int, now time.Time) []record.ProbeResult {
	out := make([]record.ProbeResult, len(backends))
	sem := make(chan struct{}, max(p.cfg.Concurrency, 1))
	var wg sync.WaitGroup
	for i, b := range backends {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
			o, lat, detail := p.probe.Probe(pctx, socks, b, ports[b])
			cancel()
			out[i] = record.ProbeResult{Backend: b, Port: ports[b], Round: health.Round(now, p.cfg.Interval), At: now,
				Outcome: string(o), LatencyMS: lat.Milliseconds(), Detail: detail}
			p.metrics.observeProbe(o, lat)
			p.log.Debug("probe", "backend", b, "port", ports[b], "outcome", o, "latency", lat, "detail", detail)
		}()
	}
	wg.Wait()
	return out
}

// record appends results to the history, keeping the latest maxResultsPerBackend per backend.
func (p *healthProber) record(results []record.ProbeResult) {
	for _, r := range results {
		h := append(p.history[r.Backend], r)
		if len(h) > maxResultsPerBackend {
			h = slices.Clone(h[len(h)-maxResultsPerBackend:])
		}
		p.history[r.Backend] = h
	}
}

// prune forgets the results of backends no longer probed.
func (p *healthProber) prune(backends []string) {
	for b := range p.history {
		if !slices.Contains(backends, b) {
			delete(p.history, b)
		}
	}
}

// writeReport writes the node's report under its lease, granting one when it has none or it
// expired.
func (p *healthProber) writeReport(ctx context.Context, now time.Time, torReady bool) {
	rep := record.ProbeReport{Node: p.node, At: now, IntervalMS: p.cfg.Interval.Milliseconds(), TorReady: torReady,
		Results: []record.ProbeResult{}}
	for _, b := range slices.Sorted(maps.Keys(p.history)) {
		rep.Results = append(rep.Results, p.history[b]...)
	}
	slices.SortStableFunc(rep.Results, func(a, b record.ProbeResult) int { return a.At.Compare(b.At) })
	if err := p.ensureLease(ctx); err != nil {
		p.log.Warn("cannot write the probe report: no lease", "key", p.st.Keys().ProbeReport(p.node), "error", err)
		return
	}
	err := p.st.PutProbeReport(ctx, rep, p.leaseID)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		p.leaseID = 0
		if err = p.ensureLease(ctx); err == nil {
			err = p.st.PutProbeReport(ctx, rep, p.leaseID)
		}
	}
	if err != nil {
		p.log.Warn("cannot write the probe report", "key", p.st.Keys().ProbeReport(p.node), "error", err)
		return
	}
	if p.done != nil {
		select {
		case p.done <- struct{}{}:
		default:
		}
	}
}

// reportTTL is the lease of a probe report: a few rounds, so that a node that stops probing
// drops out.
func (p *healthProber) reportTTL() int64 {
	return max(int64((3*p.cfg.Interval+p.cfg.Timeout)/time.Second), 10)
}

// ensureLease keeps the report's lease alive, granting a new one when there is none or it is gone.
func (p *healthProber) ensureLease(ctx context.Context) error {
	if p.leaseID != 0 {
		if _, err := p.lease.KeepAliveOnce(ctx, p.leaseID); err == nil {
			return nil
		}
		p.leaseID = 0
	}
	g, err := p.lease.Grant(ctx, p.reportTTL())
	if err != nil {
		return fmt.Errorf("granting the probe report's lease: %w", err)
	}
	p.leaseID = g.ID
	return nil
}

// revokeLease ends the report's lease at shutdown, so that the report disappears at once.
func (p *healthProber) revokeLease(ctx context.Context) {
	if p.leaseID != 0 {
		_, _ = p.lease.Revoke(ctx, p.leaseID)
	}
}

// healthJudge is the leader's judge.
type healthJudge struct {
	cfg    health.Config
	node   string
	st     *store.Store
	lead   leadership
	writer verdictWriter
	pub    healthPublisher
	prober interface{ ProbeNow(backends []string) }
	clock  clock.Clock
	log    hclog.Logger

	epoch    int64                           // the leadership judged for; 0: not leading
	previous map[string]record.BackendHealth // the verdicts in force
	stored   map[string]bool                 // the backends with a verdict in etcd
}

// run judges while this node leads: whenever the own prober finished a round (done), and half a
// round after the last judgement, so that the other nodes' reports of a round are judged before
// the next one; it checks the leadership every second so that a new leader judges at once.
func (j *healthJudge) run(ctx context.Context, done <-chan struct{}) {
	j.clock = clock.Or(j.clock)
	t := j.clock.NewTicker(time.Second)
	defer t.Stop()
	var next time.Time
	for {
		now := j.clock.Now()
		epoch, leading := j.lead.IsLeader()
		switch {
		case !leading:
			j.stepDown(ctx)
		case epoch != j.epoch || !now.Before(next):
			if j.judge(ctx, now) == nil {
				next = now.Add(j.cfg.Interval / 2)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-done:
			if _, leading := j.lead.IsLeader(); leading && j.epoch != 0 {
				if j.judge(ctx, j.clock.Now()) == nil {
					next = j.clock.Now().Add(j.cfg.Interval / 2)
				}
			}
		}
	}
}

// stepDown forgets the judgement of a leadership that ended, in the judge and in the publisher
// (whose status would otherwise go on showing it).
func (j *healthJudge) stepDown(ctx context.Context) {
	if j.epoch == 0 {
		return
	}
	j.epoch, j.previous = 0, nil
	sctx, cancel := context.WithTimeout(ctx, j.cfg.Interval)
	defer cancel()
	if err := j.pub.SetHealth(sctx, publisher.Health{}); err != nil {
		j.log.Debug("clearing the health judgement in the publisher", "error", err)
	}
}

// judge runs one judgement as the leader: at the start of a leadership it loads the verdicts in
// etcd, then judges from the live nodes' reports, writes the changed verdicts fenced, and hands the
// exclusions to the publisher.
func (j *healthJudge) judge(ctx context.Context, now time.Time) error {
	epoch, leading := j.lead.IsLeader()
	if !leading {
		j.stepDown(ctx)
		return cluster.ErrNotLeader
	}
	if epoch != j.epoch {
		prev, err := j.st.BackendHealths(ctx)
		if err != nil && !errors.Is(err, record.ErrBad) {
			j.log.Warn("cannot load the health verdicts at the start of the leadership; will retry", "error", err)
			return err
		}
		if err != nil {
			j.log.Warn("ignoring health verdicts that do not decode", "error", err)
		}
		j.previous, j.epoch = prev, epoch
		j.stored = map[string]bool{}
		for addr := range prev {
			j.stored[addr] = true
		}
		down := 0
		for _, h := range prev {
			if h.State == record.HealthDown {
				down++
			}
		}
		j.log.Info("leading: judging backend health", "epoch", epoch, "verdicts", len(prev), "down", down)
	}
	st := j.pub.Status()
	backends := probedBackends(st)
	in := health.Input{Now: now, Config: j.cfg, Previous: j.previous}
	for _, b := range backends {
		in.Backends = append(in.Backends, health.Backend{Address: b.addr, Revision: b.revision, Rules: b.rules})
	}
	nodes, err := j.st.Nodes(ctx)
	if err != nil {
		j.log.Warn("cannot read the nodes' heartbeats; judging later", "error", err)
		return err
	}
	reports, err := j.st.ProbeReports(ctx)
	if err != nil {
		j.log.Warn("cannot read the probe reports; judging later", "error", err)
		return err
	}
	alive := map[string]bool{}
	for _, n := range nodes {
		alive[n.Name] = true
	}
	for _, r := range reports {
		if alive[r.Node] {
			in.Reports = append(in.Reports, r)
		}
	}
	v := health.Judge(in)
	var changed []record.BackendHealth
	for _, addr := range v.Changed {
		h := v.Health[addr]
		h.Epoch, h.Node = epoch, j.node
		v.Health[addr] = h
		changed = append(changed, h)
		j.log.Info("backend health changed", "backend", addr, "state", h.State, "reason", h.Reason)
	}
	if len(changed) > 0 {
		if err := j.writer.PutBackendHealths(ctx, epoch, changed); err != nil {
			j.log.Warn("cannot write the changed health verdicts; judging again", "error", err)
			if errors.Is(err, cluster.ErrNotLeader) {
				j.stepDown(ctx)
			}
			return err
		}
	}
	for _, h := range changed {
		j.stored[h.Address] = true
	}
	j.previous = v.Health
	if st != nil && len(st.Services) > 0 { // a publisher with no services yet says nothing about removals
		j.pruneVerdicts(ctx, epoch, v.Health)
	}

	ph := publisher.Health{Epoch: epoch, Excluded: map[string]map[string]string{}, Verdicts: v.Health}
	if st != nil {
		for _, svc := range st.Services {
			addr := strings.TrimSuffix(svc.Address, ".onion")
			var bs []string
			for _, b := range svc.Backends {
				bs = append(bs, strings.TrimSuffix(b.Address, ".onion"))
			}
			if !svc.HealthRules.Enabled {
				continue
			}
			excluded, kept := health.Exclude(bs, v.Health, svc.HealthRules)
			if len(excluded) > 0 {
				ph.Excluded[addr] = excluded
			}
			for b, why := range kept {
				j.log.Debug("backend down but kept in the descriptor", "service", addr, "backend", b, "reason", why)
			}
		}
	}
	sctx, cancel := context.WithTimeout(ctx, j.cfg.Interval) // the publisher may be busy with tor
	defer cancel()
	if err := j.pub.SetHealth(sctx, ph); err != nil {
		j.log.Warn("cannot hand the health judgement to the publisher; judging again", "error", err)
		return err
	}
	if len(v.ProbeNow) > 0 && j.prober != nil {
		j.prober.ProbeNow(v.ProbeNow)
	}
	return nil
}

// pruneVerdicts deletes from etcd the verdicts on backends no longer probed (removed from the
// configuration, or their service's probes turned off): they would show in status and be loaded by
// every new leader. A failed delete is logged and tried again at the next judgement.
func (j *healthJudge) pruneVerdicts(ctx context.Context, epoch int64, current map[string]record.BackendHealth) {
	var stale []string
	for addr := range j.stored {
		if _, ok := current[addr]; !ok {
			stale = append(stale, addr)
		}
	}
	if len(stale) == 0 {
		return
	}
	slices.Sort(stale)
	if err := j.writer.DeleteBackendHealths(ctx, epoch, stale); err != nil {
		j.log.Warn("cannot delete the verdicts on backends no longer probed; trying again at the next judgement",
			"backends", stale, "error", err)
		return
	}
	for _, addr := range stale {
		delete(j.stored, addr)
	}
	j.log.Info("deleted the health verdicts on backends no longer probed", "backends", stale)
}

// startHealth starts the prober (every node) and the judge (acting while this node leads).
func startHealth(ctx context.Context, d *Daemon, cfg Config, tor *torctl.Client, cli *clientv3.Client, st *store.Store,
	el *cluster.Election, state *fencedRecords, m *publisher.Manager) error {
	file, log := cfg.File, cfg.Logger.Named("health")
	hcfg := file.HealthConfig()
	metrics := newHealthMetrics()
	if err := metrics.register(cfg.Metrics); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	// The SOCKS listener: the operator's (health.socks), else one found or opened through the
	// control port, looked for again when every probe of a round fails on this side (tor restarted).
	// Used by the prober's goroutine only.
	var found string
	socks := func(ctx context.Context) (string, error) {
		if file.Health.Socks != "" {
			return file.Health.Socks, nil
		}
		if found != "" {
			return found, nil
		}
		addr, opened, err := tor.SocksForProbes(ctx)
		if err != nil {
			return "", fmt.Errorf("finding or opening a SocksPort with ExtendedErrors through the control port: %w", err)
		}
		log.Info("health probes go through tor's SOCKS listener", "socks", addr, "opened", opened)
		found = addr
		return addr, nil
	}
	done := make(chan struct{}, 1)
	p := (&healthProber{cfg: hcfg, node: file.Cluster.NodeName, st: st, lease: cli, pub: m, probe: socksProber{},
		socks: socks, reset: func() { found = "" }, log: log, metrics: metrics, done: done}).init()
	j := &healthJudge{cfg: hcfg, node: file.Cluster.NodeName, st: st, lead: el, writer: state, pub: m, prober: p, log: log}
	log.Info("backend health probes on", "interval", hcfg.Interval, "timeout", hcfg.Timeout, "concurrency", hcfg.Concurrency,
		"socks", file.Health.Socks)
	d.goRun(ctx, "health-prober", func(ctx context.Context) error {
		p.run(ctx)
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.revokeLease(rctx)
		return nil
	})
	d.goRun(ctx, "health-judge", func(ctx context.Context) error {
		j.run(ctx, done)
		return nil
	})
	return nil
}
