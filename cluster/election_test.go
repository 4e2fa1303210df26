package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store/storetest"
)

func TestConfigValidate(t *testing.T) {
	if err := cluster.DefaultConfig("n1").Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	cases := map[string]func(*cluster.Config){
		"empty name":       func(c *cluster.Config) { c.Name = "" },
		"slash in name":    func(c *cluster.Config) { c.Name = "a/b" },
		"ttl below min":    func(c *cluster.Config) { c.TTL = 4 * time.Second },
		"fractional ttl":   func(c *cluster.Config) { c.TTL = 5500 * time.Millisecond },
		"margin too large": func(c *cluster.Config) { c.Margin = 6 * time.Second },
		"negative margin":  func(c *cluster.Config) { c.Margin = -time.Second },
		"request >= ttl":   func(c *cluster.Config) { c.RequestTimeout = 10 * time.Second },
		"bad retry":        func(c *cluster.Config) { c.RetryMax = c.RetryMin / 2 },
	}
	for name, mutate := range cases {
		c := cluster.DefaultConfig("n1")
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSingleMemberCampaignAndFencedWrites(t *testing.T) {
	forEachSingleMember(t, testCampaignAndFencedWrites)
}

func testCampaignAndFencedWrites(t *testing.T, cli *clientv3.Client) {
	keys := testKeys(t, "/ob")
	a := startCandidate(t, cli, keys, testConfig("a"))
	st := a.waitLeader(t, 10*time.Second)
	if st.Epoch <= 0 || st.LeaderName != "a" {
		t.Fatalf("leader state %+v", st)
	}
	epoch, ok := a.el.IsLeader()
	if !ok || epoch != st.Epoch {
		t.Fatalf("IsLeader = %d, %v; state %+v", epoch, ok, st)
	}
	ctx := context.Background()
	name, lepoch, err := a.el.Leader(ctx)
	if err != nil || name != "a" || lepoch != epoch {
		t.Fatalf("Leader = %q, %d, %v", name, lepoch, err)
	}
	resp, err := cli.Get(ctx, keys.Election()+"/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].CreateRevision != epoch {
		t.Fatalf("election key: %+v, %v; want create revision %d", resp, err, epoch)
	}

	if err := a.el.Write(ctx, epoch, clientv3.OpPut("/ob/x", "1")); err != nil {
		t.Fatalf("fenced write: %v", err)
	}
	if got, _ := cli.Get(ctx, "/ob/x"); len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "1" {
		t.Fatalf("fenced write not stored: %+v", got.Kvs)
	}
	for _, stale := range []int64{epoch - 1, epoch + 1} {
		if err := a.el.Write(ctx, stale, clientv3.OpPut("/ob/x", "stale")); !errors.Is(err, cluster.ErrNotLeader) {
			t.Fatalf("write with epoch %d (leader epoch %d): %v, want ErrNotLeader", stale, epoch, err)
		}
	}
	until, err := a.el.MayPublish(ctx, epoch)
	if err != nil {
		t.Fatalf("MayPublish: %v", err)
	}
	// The deadline to bound an upload with: in the future, no later than a lease from now.
	if now := time.Now(); !until.After(now) || until.After(now.Add(testTTL)) {
		t.Fatalf("MayPublish deadline %v, want within (now, now + ttl]", until)
	}
	if _, err := a.el.MayPublish(ctx, epoch-1); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("MayPublish with stale epoch: %v", err)
	}

	// A fence whose epoch is not the election key's create revision is
	// refused by etcd itself.
	f, err := a.el.Fence(epoch)
	if err != nil {
		t.Fatal(err)
	}
	stepped := false
	stale := cluster.NewFence(cli, f.Key(), epoch-1, time.Now(), testTTL, 2*time.Second, time.Second, func() { stepped = true })
	if err := stale.Write(ctx, clientv3.OpPut("/ob/x", "stale")); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("stale fence write: %v, want ErrNotLeader", err)
	}
	if !stepped {
		t.Fatal("failed guard did not call step-down")
	}
	if got, _ := cli.Get(ctx, "/ob/x"); string(got.Kvs[0].Value) != "1" {
		t.Fatalf("stale write changed the value to %q", got.Kvs[0].Value)
	}

	// The transaction's own comparisons are told apart from the guard.
	_, err = f.Txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.Value("/ob/x"), "=", "other")}, clientv3.OpPut("/ob/x", "2"))
	if !errors.Is(err, cluster.ErrCompareFailed) {
		t.Fatalf("failing compare: %v, want ErrCompareFailed", err)
	}
	if _, ok := a.el.IsLeader(); !ok {
		t.Fatal("a failed user compare made the leader step down")
	}
}

func TestLostGuardStepsDownAndReelects(t *testing.T) {
	forEachSingleMember(t, testLostGuardStepsDownAndReelects)
}

func testLostGuardStepsDownAndReelects(t *testing.T, cli *clientv3.Client) {
	keys := testKeys(t, "/ob")
	a := startCandidate(t, cli, keys, testConfig("a"))
	epoch := a.waitLeader(t, 10*time.Second).Epoch
	f, err := a.el.Fence(epoch)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Someone deletes the election key behind the leader's back, as a
	// lease expiry at etcd would.
	if _, err := cli.Delete(ctx, f.Key()); err != nil {
		t.Fatal(err)
	}
	if err := a.el.Write(ctx, epoch, clientv3.OpPut("/ob/x", "1")); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("write after losing the key: %v, want ErrNotLeader", err)
	}
	if _, ok := a.el.IsLeader(); ok {
		t.Fatal("still leader right after a failed guard")
	}
	if _, err := a.el.MayPublish(ctx, epoch); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("MayPublish after a failed guard: %v", err)
	}
	again := a.waitState(t, 10*time.Second, "new leadership", func(s cluster.State) bool { return s.Leader && s.Epoch != epoch })
	if again.Epoch <= epoch {
		t.Fatalf("new epoch %d is not above the old %d", again.Epoch, epoch)
	}
}

func TestSelfFenceDeadline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := cluster.NewFence(nil, "/k", 7, t0, 5*time.Second, 2*time.Second, time.Second, nil)
	if want := t0.Add(3 * time.Second); !f.ValidUntil().Equal(want) {
		t.Fatalf("ValidUntil = %v, want %v", f.ValidUntil(), want)
	}
	if err := f.CheckDeadline(t0.Add(2999 * time.Millisecond)); err != nil {
		t.Fatalf("before the deadline: %v", err)
	}
	for _, at := range []time.Duration{3 * time.Second, 10 * time.Second} {
		if err := f.CheckDeadline(t0.Add(at)); !errors.Is(err, cluster.ErrLeaseExpiring) {
			t.Fatalf("at +%v: %v, want ErrLeaseExpiring", at, err)
		}
	}
	// MayPublish refuses on the deadline alone, without asking etcd (the
	// fence has no client: asking would panic).
	old := cluster.NewFence(nil, "/k", 7, time.Now().Add(-time.Minute), 5*time.Second, 2*time.Second, time.Second, nil)
	if _, err := old.MayPublish(context.Background()); !errors.Is(err, cluster.ErrLeaseExpiring) {
		t.Fatalf("MayPublish past the deadline: %v", err)
	}
}

func TestResignHandsOver(t *testing.T) {
	cli := storetest.NewClient(t, storetest.Single(t)...)
	keys := testKeys(t, "/ob")
	a := startCandidate(t, cli, keys, testConfig("a"))
	ea := a.waitLeader(t, 10*time.Second).Epoch
	b := startCandidate(t, cli, keys, testConfig("b"))
	b.waitState(t, 10*time.Second, "a as leader", func(s cluster.State) bool { return !s.Leader && s.LeaderName == "a" && s.Epoch == ea })
	b.waitCampaigning(t, keys, 10*time.Second)

	if err := b.el.Resign(context.Background()); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("follower Resign: %v, want ErrNotLeader", err)
	}
	if err := a.el.Resign(context.Background()); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	sb := b.waitLeader(t, 10*time.Second)
	if sb.Epoch <= ea {
		t.Fatalf("new epoch %d not above %d", sb.Epoch, ea)
	}
	a.waitState(t, 10*time.Second, "b as leader", func(s cluster.State) bool { return !s.Leader && s.LeaderName == "b" && s.Epoch == sb.Epoch })
	a.waitCampaigning(t, keys, 10*time.Second)
	if err := a.el.Write(context.Background(), ea, clientv3.OpPut("/ob/x", "1")); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("write by resigned leader: %v", err)
	}

	// Shutting down the leader hands over too.
	if err := b.shutdown(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if sa := a.waitLeader(t, 10*time.Second); sa.Epoch <= sb.Epoch {
		t.Fatalf("epoch after shutdown hand-over %d not above %d", sa.Epoch, sb.Epoch)
	}
}

// A lease revoked behind the leader's back (as an operator's etcdctl lease revoke would) ends its
// term: the session and the keepalives both learn that the lease is gone, and a new term starts.
func TestRevokedLeaseEndsLeadership(t *testing.T) {
	forEachSingleMember(t, func(t *testing.T, cli *clientv3.Client) {
		keys := testKeys(t, "/ob")
		a := startCandidate(t, cli, keys, testConfig("a"))
		epoch := a.waitLeader(t, 10*time.Second).Epoch
		ctx := context.Background()
		resp, err := cli.Get(ctx, keys.Election()+"/", clientv3.WithPrefix())
		if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
			t.Fatalf("election key: %+v, %v", resp, err)
		}
		if _, err := cli.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
			t.Fatal(err)
		}
		a.waitState(t, 10*time.Second, "the term to end", func(s cluster.State) bool { return !s.Leader })
		if _, err := a.el.MayPublish(ctx, epoch); !errors.Is(err, cluster.ErrNotLeader) && !errors.Is(err, cluster.ErrLeaseExpiring) {
			t.Fatalf("MayPublish after the revoke: %v", err)
		}
		again := a.waitLeader(t, 15*time.Second)
		if again.Epoch <= epoch {
			t.Fatalf("new epoch %d is not above the old %d", again.Epoch, epoch)
		}
	})
}
