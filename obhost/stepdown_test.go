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

// startStepDownNode starts an election candidate that serves step-down requests as the daemon does.
func startStepDownNode(t *testing.T, endpoints []string, name string) *obhosttest.Candidate {
	t.Helper()
	keys := obhosttest.DefaultKeys(t)
	return obhosttest.StartCandidate(t, endpoints, name, func(ctx context.Context, cli *clientv3.Client, el *cluster.Election) {
		serveStepDown(ctx, cli, keys, name, el, 2*time.Second, hclog.NewNullLogger())
	})
}

func TestStepDownHandsOver(t *testing.T) {
	eps := storetest.Single(t)
	a := startStepDownNode(t, eps, "a")
	ea := a.WaitLeader(t)
	b := startStepDownNode(t, eps, "b")
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
	if eb := b.WaitLeader(t); eb != res.Next.Epoch {
		t.Errorf("b leads in epoch %d, etcd says %d", eb, res.Next.Epoch)
	}
	if _, ok := a.Election.IsLeader(); ok {
		t.Error("a still thinks it leads")
	}
	obhosttest.WaitFor(t, "the served request deleted", 5*time.Second, func() bool {
		resp, err := cli.Get(context.Background(), keys.StepDowns(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	})

}

func TestStepDownRequestForOldEpochIgnored(t *testing.T) {
	eps := storetest.Single(t)
	a := startStepDownNode(t, eps, "a")
	ea := a.WaitLeader(t)
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
	if epoch, ok := a.Election.IsLeader(); !ok || epoch != ea {
		t.Fatalf("a request for epoch %d ended leadership %d (now %d, %v)", ea-1, ea, epoch, ok)
	}
}
