package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// liveNode is an election candidate with the daemon's step-down handler.
type liveNode struct {
	name string
	el   *cluster.Election
	stop context.CancelFunc
	done chan struct{}
}

func startLiveNode(t *testing.T, endpoints []string, name string) *liveNode {
	t.Helper()
	cli := storetest.NewClient(t, endpoints...)
	keys := defaultKeys(t)
	cfg := cluster.DefaultConfig(name)
	cfg.TTL, cfg.RetryMin, cfg.RetryMax = 5*time.Second, 100*time.Millisecond, time.Second
	el, err := cluster.NewElection(cli, keys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &liveNode{name: name, el: el, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		stepDone := make(chan struct{})
		go func() { serveStepDown(ctx, cli, keys, name, el, 2*time.Second, hclog.NewNullLogger()); close(stepDone) }()
		el.Run(ctx)
		<-stepDone
	}()
	t.Cleanup(func() { n.stop(); <-n.done })
	return n
}

func (n *liveNode) waitLeader(t *testing.T) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if epoch, ok := n.el.IsLeader(); ok {
			return epoch
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not become leader", n.name)
	return 0
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStepDownHandsOver(t *testing.T) {
	eps := storetest.Single(t)
	a := startLiveNode(t, eps, "a")
	ea := a.waitLeader(t)
	b := startLiveNode(t, eps, "b")
	cli := storetest.NewClient(t, eps...)
	keys := defaultKeys(t)
	waitFor(t, "b campaigning", 10*time.Second, func() bool {
		c, _ := electionCandidates(context.Background(), cli, keys, time.Second)
		return len(c) == 2
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := stepDown(ctx, cli, keys, "b", time.Second, "test"); err == nil || !strings.Contains(err.Error(), "not the leader") {
		t.Fatalf("step-down of a follower: %v", err)
	}
	res, err := stepDown(ctx, cli, keys, "", time.Second, "test")
	if err != nil {
		t.Fatal(err)
	}
	if res.old.Name != "a" || res.old.Epoch != ea || res.next.Name != "b" || res.next.Epoch <= ea {
		t.Fatalf("step-down result %+v, want a (epoch %d) -> b", res, ea)
	}
	t.Logf("hand-over took %v", res.took)
	if eb := b.waitLeader(t); eb != res.next.Epoch {
		t.Errorf("b leads in epoch %d, etcd says %d", eb, res.next.Epoch)
	}
	if _, ok := a.el.IsLeader(); ok {
		t.Error("a still thinks it leads")
	}
	waitFor(t, "the served request deleted", 5*time.Second, func() bool {
		resp, err := cli.Get(context.Background(), keys.StepDowns(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	})

	// The command line, against b now.
	code, out, errOut := runCLIEnv(t, noEnv, "cluster", "step-down", "--etcd-endpoints", strings.Join(eps, ","), "--timeout", "20s")
	if code != exitOK || !strings.Contains(out, "b (epoch") || !strings.Contains(out, "a leads now") {
		t.Fatalf("cluster step-down: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestStepDownRequestForOldEpochIgnored(t *testing.T) {
	eps := storetest.Single(t)
	a := startLiveNode(t, eps, "a")
	ea := a.waitLeader(t)
	cli := storetest.NewClient(t, eps...)
	keys := defaultKeys(t)
	op, err := store.OpPutJSON(keys.StepDown("a"), record.StepDown{Epoch: ea - 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Txn(context.Background()).Then(op).Commit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the moot request deleted", 5*time.Second, func() bool {
		resp, err := cli.Get(context.Background(), keys.StepDown("a"), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	})
	if epoch, ok := a.el.IsLeader(); !ok || epoch != ea {
		t.Fatalf("a request for epoch %d ended leadership %d (now %d, %v)", ea-1, ea, epoch, ok)
	}
}

func TestDrillKillMeasuresTakeover(t *testing.T) {
	eps := storetest.Single(t)
	a := startLiveNode(t, eps, "a")
	ea := a.waitLeader(t)
	b := startLiveNode(t, eps, "b")
	cli := storetest.NewClient(t, eps...)
	keys := defaultKeys(t)
	st := store.New(cli, keys, nil, time.Second)
	svc := newOnionAddress(t)

	// b publishes once it leads, as a new leader does.
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if eb, ok := b.el.IsLeader(); ok {
				op, _ := st.PutPublishedOp(svc, "00ff", record.Publish{RevisionCounter: 42, Epoch: eb, Node: "b", UploadedAt: time.Now()})
				b.el.Write(context.Background(), eb, op)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	var signals []syscall.Signal
	d := drill{kv: cli, keys: keys, timeout: time.Second, poll: 10 * time.Millisecond,
		pids: map[string]int{"a": os.Getpid(), "b": os.Getpid()}, // the test binary's name contains "onionbalance"
		signal: func(pid int, sig syscall.Signal) error {
			signals = append(signals, sig)
			a.stop() // the fake kill: a's candidacy ends
			return nil
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := d.run(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(signals) != 1 || signals[0] != syscall.SIGKILL {
		t.Errorf("signals %v, want [SIGKILL]", signals)
	}
	if rep.OldLeader.Name != "a" || rep.OldLeader.Epoch != ea || rep.NewLeader.Name != "b" || rep.PublishedBy != "b" ||
		rep.RevisionCounter != 42 || rep.ElectedAfter <= 0 || rep.PublishedAfter < rep.ElectedAfter {
		t.Fatalf("report %+v", rep)
	}
	js, _ := json.Marshal(rep)
	t.Logf("drill report: %s", js)
}

func TestDrillRefusesStrangerPID(t *testing.T) {
	if err := checkOnionbalancePID(1); err == nil {
		t.Error("pid 1 accepted as onionbalance")
	}
	if err := checkOnionbalancePID(os.Getpid()); err != nil {
		t.Errorf("own pid: %v", err)
	}
}

// fakeTor answers nothing: enough for a Manager that never leads.
type fakeTor struct{}

func (fakeTor) Consensus(context.Context) ([]byte, error)  { return nil, errors.New("no consensus") }
func (fakeTor) Microdescs(context.Context) ([]byte, error) { return nil, errors.New("no microdescs") }
func (fakeTor) FetchDescriptor(context.Context, string, []string) error {
	return errors.New("not connected")
}
func (fakeTor) PostDescriptor(context.Context, []byte, string, []string) error {
	return errors.New("not connected")
}

type emptyState struct{}

func (emptyState) Instances(context.Context, string) ([]record.Instance, error) { return nil, nil }
func (emptyState) PublishedAll(context.Context, string) (map[string]record.Publish, error) {
	return nil, nil
}
func (emptyState) PutInstance(context.Context, int64, string, record.Instance) error { return nil }
func (emptyState) PutPublished(context.Context, int64, string, string, record.Publish) error {
	return nil
}
func (emptyState) RecordKeys(context.Context) (map[string]record.ServiceKeys, error) {
	return nil, nil
}
func (emptyState) DeleteRecords(context.Context, int64, string, []string, []string) error {
	return nil
}

type follower struct{}

func (follower) IsLeader() (int64, bool) { return 0, false }
func (follower) MayPublish(context.Context, int64) (time.Time, error) {
	return time.Time{}, cluster.ErrNotLeader
}

func TestNodeFollowsClusterConfig(t *testing.T) {
	f := newClusterFixture(t, 2)
	if code, _, errOut := runCLIEnv(t, noEnv, "cluster", "init", "-c", f.config); code != exitOK {
		t.Fatalf("init: %q", errOut)
	}
	cli := storetest.NewClient(t, f.endpoints...)
	kek, err := store.LoadKEKFile(f.kekFile)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := store.NewSealer(kek)
	es := newEtcdServices(store.New(cli, defaultKeys(t), sealer, time.Second), hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	services, err := es.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(services) != 1 || services[0].Key.Address() != f.master.Address() || len(services[0].Backends) != 2 {
		t.Fatalf("loaded services %+v", services)
	}

	pcfg := publisher.DefaultConfig()
	pcfg.Services = services
	m, err := publisher.New(pcfg, fakeTor{}, emptyState{}, follower{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { m.Run(ctx, nil); done <- struct{}{} }()
	errs := make(chan error, 10)
	go func() {
		es.follow(ctx, cli, time.Second, m, func(err error) { errs <- err })
		done <- struct{}{}
	}()
	defer func() { cancel(); <-done; <-done }()

	backends := func() []string {
		var out []string
		for _, s := range m.Status().Services {
			for _, b := range s.Backends {
				out = append(out, strings.TrimSuffix(b.Address, ".onion"))
			}
		}
		return out
	}
	third := newOnionAddress(t)
	f.writeConfig(t, []string{f.backends[0], third}, true)
	if code, _, errOut := runCLIEnv(t, noEnv, "cluster", "set-config", "-c", f.config); code != exitOK {
		t.Fatalf("set-config: %q", errOut)
	}
	waitFor(t, "the new backend set applied", 10*time.Second, func() bool {
		got := backends()
		return len(got) == 2 && got[0] == f.backends[0] && got[1] == third
	})
	if err := <-errs; err != nil {
		t.Errorf("follow reported %v", err)
	}

	// A broken configuration is reported and the running one kept.
	if _, err := cli.Put(ctx, defaultKeys(t).Config(), `{"version": 1, "services": []}`); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "no services") {
			t.Errorf("bad config reported as %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bad config not reported")
	}
	if got := backends(); len(got) != 2 || got[1] != third {
		t.Errorf("backends after a bad config: %v", got)
	}
}
