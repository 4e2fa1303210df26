package obhost

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/obhosttest"
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
	keys := obhosttest.DefaultKeys(t)
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

func TestStepDownHandsOver(t *testing.T) {
	eps := storetest.Single(t)
	a := startLiveNode(t, eps, "a")
	ea := a.waitLeader(t)
	b := startLiveNode(t, eps, "b")
	cli := storetest.NewClient(t, eps...)
	keys := obhosttest.DefaultKeys(t)
	obhosttest.WaitFor(t, "b campaigning", 10*time.Second, func() bool {
		c, _ := cluster.Candidates(context.Background(), cli, keys)
		return len(c) == 2
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := StepDown(ctx, cli, keys, "b", time.Second, "test"); err == nil || !strings.Contains(err.Error(), "not the leader") {
		t.Fatalf("step-down of a follower: %v", err)
	}
	res, err := StepDown(ctx, cli, keys, "", time.Second, "test")
	if err != nil {
		t.Fatal(err)
	}
	if res.Old.Name != "a" || res.Old.Epoch != ea || res.Next.Name != "b" || res.Next.Epoch <= ea {
		t.Fatalf("step-down result %+v, want a (epoch %d) -> b", res, ea)
	}
	t.Logf("hand-over took %v", res.Took)
	if eb := b.waitLeader(t); eb != res.Next.Epoch {
		t.Errorf("b leads in epoch %d, etcd says %d", eb, res.Next.Epoch)
	}
	if _, ok := a.el.IsLeader(); ok {
		t.Error("a still thinks it leads")
	}
	obhosttest.WaitFor(t, "the served request deleted", 5*time.Second, func() bool {
		resp, err := cli.Get(context.Background(), keys.StepDowns(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	})

}

func TestStepDownRequestForOldEpochIgnored(t *testing.T) {
	eps := storetest.Single(t)
	a := startLiveNode(t, eps, "a")
	ea := a.waitLeader(t)
	cli := storetest.NewClient(t, eps...)
	keys := obhosttest.DefaultKeys(t)
	op, err := store.OpPutJSON(keys.StepDown("a"), record.StepDown{Epoch: ea - 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Txn(context.Background()).Then(op).Commit(); err != nil {
		t.Fatal(err)
	}
	obhosttest.WaitFor(t, "the moot request deleted", 5*time.Second, func() bool {
		resp, err := cli.Get(context.Background(), keys.StepDown("a"), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	})
	if epoch, ok := a.el.IsLeader(); !ok || epoch != ea {
		t.Fatalf("a request for epoch %d ended leadership %d (now %d, %v)", ea-1, ea, epoch, ok)
	}
}
