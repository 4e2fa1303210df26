package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store/storetest"
)

// The one leader lookup: Candidates, Leader, Election.Leader and the election's own view (State)
// name the same leader, before and after a hand-over, and nobody once every candidate left.
func TestLeaderLookupAgrees(t *testing.T) {
	cli := storetest.NewClient(t, storetest.Single(t)...)
	keys := testKeys(t, "/ob")
	ctx := context.Background()
	if _, err := cluster.Leader(ctx, cli, keys); !errors.Is(err, cluster.ErrNoLeader) {
		t.Fatalf("Leader with no candidate: %v, want ErrNoLeader", err)
	}
	a := startCandidate(t, cli, keys, testConfig("a"))
	ea := a.waitLeader(t, 10*time.Second).Epoch
	b := startCandidate(t, cli, keys, testConfig("b"))
	b.waitState(t, 10*time.Second, "a as leader", func(s cluster.State) bool { return s.LeaderName == "a" && s.Epoch == ea })

	check := func(name string, epoch int64) {
		t.Helper()
		a.waitCampaigning(t, keys, 10*time.Second)
		b.waitCampaigning(t, keys, 10*time.Second)
		cands, err := cluster.Candidates(ctx, cli, keys)
		if err != nil || len(cands) != 2 || cands[0] != (cluster.Candidate{Name: name, Epoch: epoch}) {
			t.Fatalf("Candidates: %+v, %v; want %s (epoch %d) first of 2", cands, err, name, epoch)
		}
		if l, err := cluster.Leader(ctx, cli, keys); err != nil || l.Name != name || l.Epoch != epoch {
			t.Errorf("Leader: %+v, %v", l, err)
		}
		for _, c := range []*candidate{a, b} {
			if n, e, err := c.el.Leader(ctx); err != nil || n != name || e != epoch {
				t.Errorf("%s: Election.Leader: %s %d %v", c.name, n, e, err)
			}
		}
	}
	check("a", ea)
	if err := a.el.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	eb := b.waitLeader(t, 10*time.Second).Epoch
	a.waitState(t, 10*time.Second, "b as leader", func(s cluster.State) bool { return s.LeaderName == "b" && s.Epoch == eb })
	check("b", eb)

	a.shutdown(t)
	b.shutdown(t)
	if _, _, err := a.el.Leader(ctx); !errors.Is(err, cluster.ErrNoLeader) {
		t.Errorf("Election.Leader after everyone left: %v, want ErrNoLeader", err)
	}
}
