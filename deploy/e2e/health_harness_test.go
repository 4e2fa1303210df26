package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// This file is the harness of health_test.go (backend health, issue 16): the health settings of the
// test network, the leader's verdicts and the nodes' probe reports read from etcd, the answers of the
// master address split at a moment, and SIGKILL of a network node.

// Health settings for the test network: each backend probed every 10 s; a dead one goes down after 3
// failures spanning at least 20 s.
const (
	hInterval        = 10 * time.Second
	hTimeout         = 20 * time.Second
	hMinDown         = 20 * time.Second
	hFailures        = 3
	hSuccesses       = 2
	hMaxDownFraction = 0.5
)

// healthYAML is the health section of the daemons' config files.
func healthYAML() string {
	return fmt.Sprintf(`health:
  enabled: true
  interval: %s
  timeout: %s
  min-down-time: %s
  failures: %d
  successes: %d
  max-down-fraction: %v
`, hInterval, hTimeout, hMinDown, hFailures, hSuccesses, hMaxDownFraction)
}

// hRules are the per-service rules healthYAML gives.
func hRules() health.Rules {
	r := health.DefaultRules()
	r.FailuresToDown, r.SuccessesToUp, r.MaxDownFraction = hFailures, hSuccesses, hMaxDownFraction
	return r
}

// etcdClient connects to the single host's embedded etcd (through the unix socket its daemon names
// in the data directory) until the test ends.
func (d *deployment) etcdClient(ctx context.Context, t *testing.T) *clientv3.Client {
	t.Helper()
	path := filepath.Join(d.dir, "daemon-data", obhost.EndpointsFile)
	var eps []string
	err := waitFor(ctx, time.Minute, func() bool {
		b, err := os.ReadFile(path)
		eps = strings.Fields(string(b))
		return err == nil && len(eps) > 0
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return storetest.NewClient(t, eps...)
}

// healthKeys are the keys of the default prefix, which every daemon of these tests uses.
func healthKeys(t testing.TB) store.Keys {
	t.Helper()
	k, err := store.NewKeys(store.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verdictEvent is one write of a verdict, as the watch saw it.
type verdictEvent struct {
	At time.Time
	V  record.BackendHealth
}

// verdictWatch follows the leader's verdicts (<prefix>/health/backends/) in etcd.
type verdictWatch struct {
	mu     sync.Mutex
	cur    map[string]record.BackendHealth // by backend address
	events []verdictEvent                  // every write seen, in order (the initial ones included)
	errs   []string                        // values that did not decode
}

// watchVerdicts reads the verdicts and watches them until the test ends.
func watchVerdicts(t *testing.T, cli *clientv3.Client, keys store.Keys) *verdictWatch {
	t.Helper()
	w := &verdictWatch{cur: map[string]record.BackendHealth{}}
	ctx, cancel := context.WithCancel(context.Background())
	gctx, gcancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := cli.Get(gctx, keys.BackendHealths(), clientv3.WithPrefix())
	gcancel()
	if err != nil {
		cancel()
		t.Fatalf("etcd get %s: %v", keys.BackendHealths(), err)
	}
	for _, kv := range resp.Kvs {
		w.put(kv.Key, kv.Value)
	}
	wch := cli.Watch(ctx, keys.BackendHealths(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wr := range wch {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					w.mu.Lock()
					delete(w.cur, strings.TrimPrefix(string(ev.Kv.Key), keys.BackendHealths()))
					w.mu.Unlock()
					continue
				}
				w.put(ev.Kv.Key, ev.Kv.Value)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *verdictWatch) put(key, value []byte) {
	var v record.BackendHealth
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := json.Unmarshal(value, &v); err != nil {
		w.errs = append(w.errs, fmt.Sprintf("%s: %v: %q", key, err, value))
		return
	}
	w.cur[v.Address] = v
	w.events = append(w.events, verdictEvent{At: time.Now(), V: v})
}

// current returns the verdicts now, by backend address.
func (w *verdictWatch) current() map[string]record.BackendHealth {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]record.BackendHealth, len(w.cur))
	for k, v := range w.cur {
		out[k] = v
	}
	return out
}

// firstState returns the first write after t0 that put addr in state.
func (w *verdictWatch) firstState(addr, state string, t0 time.Time) (verdictEvent, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.V.Address == addr && e.V.State == state && !e.At.Before(t0) {
			return e, true
		}
	}
	return verdictEvent{}, false
}

// downs returns every write of a down verdict seen, and the values that did not decode.
func (w *verdictWatch) downs() ([]verdictEvent, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []verdictEvent
	for _, e := range w.events {
		if e.V.State == record.HealthDown {
			out = append(out, e)
		}
	}
	return out, slices.Clone(w.errs)
}

// probeReports reads every node's probe report, by node name.
func probeReports(ctx context.Context, cli *clientv3.Client, keys store.Keys) (map[string]record.ProbeReport, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, keys.ProbeReports(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", keys.ProbeReports(), err)
	}
	out := map[string]record.ProbeReport{}
	for _, kv := range resp.Kvs {
		var r record.ProbeReport
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("%s: %w: %q", kv.Key, err, kv.Value)
		}
		out[r.Node] = r
	}
	return out, nil
}

// waitProbedAlive waits until the probe reports show every one of backends (addresses without
// ".onion") alive at least once: the probing works before a test relies on it.
func waitProbedAlive(ctx context.Context, cli *clientv3.Client, keys store.Keys, backends []string, within time.Duration) error {
	var last string
	err := waitFor(ctx, within, func() bool {
		reports, err := probeReports(ctx, cli, keys)
		if err != nil {
			last = err.Error()
			return false
		}
		alive := map[string]bool{}
		seen := map[string]string{}
		for _, r := range reports {
			for _, res := range r.Results {
				seen[res.Backend] = res.Outcome + " " + res.Detail
				if health.Outcome(res.Outcome).Evidence() == health.Alive {
					alive[res.Backend] = true
				}
			}
		}
		var missing []string
		for _, b := range backends {
			if !alive[b] {
				missing = append(missing, fmt.Sprintf("%s (last: %q)", b, seen[b]))
			}
		}
		last = fmt.Sprintf("%d reports; never probed alive: %v", len(reports), missing)
		return len(missing) == 0
	})
	if err != nil {
		return fmt.Errorf("the probe reports in etcd: %s: %w", last, err)
	}
	return nil
}

// probeCounts counts the results in the reports per node and backend, and the outcomes.
func probeCounts(reports map[string]record.ProbeReport) (perNode map[string]map[string]int, outcomes map[string]int) {
	perNode, outcomes = map[string]map[string]int{}, map[string]int{}
	for node, r := range reports {
		perNode[node] = map[string]int{}
		for _, res := range r.Results {
			perNode[node][res.Backend]++
			outcomes[res.Outcome]++
		}
	}
	return perNode, outcomes
}

// splitAnswers counts the answers of the master address before and after a moment (split).
type splitAnswers struct {
	mu      sync.Mutex
	split   bool
	before  answerCounter
	after   answerCounter
	splitAt time.Time
}

func (s *splitAnswers) add(body string, err error) {
	s.mu.Lock()
	c := &s.before
	if s.split {
		c = &s.after
	}
	s.mu.Unlock()
	c.add(body, err)
}

// switchAt sends the answers from now on to after.
func (s *splitAnswers) switchAt(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.split, s.splitAt = true, at
}

// pollInBackground runs d.pollAnswers every interval until the returned stop is called.
func (d *deployment) pollInBackground(ctx context.Context, socks string, interval time.Duration, c answerSink) (stop func()) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.pollAnswers(pctx, socks, interval, c)
	}()
	return func() { cancel(); <-done }
}

// runOB runs the onionbalance binary with args (an operator command) and returns its stdout.
func runOB(ctx context.Context, t *testing.T, n *testnet.Network, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(buildBinaries(t, n), "onionbalance"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onionbalance %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// killNetworkNode kills a node of the network (e.g. an onion service's tor) with SIGKILL and records
// it as stopped, so that StartNode can bring it back with the same keys.
func killNetworkNode(ctx context.Context, n *testnet.Network, name string) error {
	nd, ok := n.Node(name)
	if !ok || nd.PID == 0 {
		return fmt.Errorf("network node %s: not running", name)
	}
	if err := syscall.Kill(nd.PID, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %s (pid %d): %w", name, nd.PID, err)
	}
	return n.StopNode(ctx, name) // reaps it and records it as stopped
}

// statusLine returns the first line of text that contains every one of subs, or "".
func statusLine(text string, subs ...string) string {
	for line := range strings.Lines(text) {
		if containsAll(line, subs) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
