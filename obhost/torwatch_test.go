package obhost

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

type fakeBootstrap struct{ err error }

func (f *fakeBootstrap) BootstrapPhase(context.Context) (torctl.Bootstrap, error) {
	return torctl.Bootstrap{Progress: 100, Tag: "done"}, f.err
}

type torState struct {
	progress int
	state    string
}

func (s *torState) SetTor(p int, st string) { s.progress, s.state = p, st }

type fakeLead struct {
	leading bool
	resigns int
}

func (l *fakeLead) IsLeader() (int64, bool) { return 7, l.leading }
func (l *fakeLead) Resign(context.Context) error {
	l.resigns++
	l.leading = false
	return nil
}

func TestTorWatchResignsLeaderWithDeadTor(t *testing.T) {
	tor, node, lead := &fakeBootstrap{}, &torState{}, &fakeLead{leading: true}
	w := torWatch{tor: tor, node: node, lead: lead, timeout: 1e9, resignAfter: 3, log: hclog.NewNullLogger()}
	failures := 0
	ctx := context.Background()

	w.check(ctx, &failures)
	if node.progress != 100 || node.state != "done" || failures != 0 {
		t.Fatalf("healthy tor: node %+v, failures %d", node, failures)
	}
	tor.err = errors.New("no reply")
	for i := 1; i < 3; i++ {
		w.check(ctx, &failures)
		if lead.resigns != 0 {
			t.Fatalf("resigned after %d failed checks, want 3", i)
		}
	}
	if node.progress != 0 || node.state != "unreachable: no reply" {
		t.Errorf("dead tor reported as %+v", node)
	}
	w.check(ctx, &failures)
	if lead.resigns != 1 || failures != 0 {
		t.Fatalf("after 3 failed checks: %d resigns, failures %d", lead.resigns, failures)
	}
	// A follower never resigns; a tor that answers again resets the count.
	for range 5 {
		w.check(ctx, &failures)
	}
	if lead.resigns != 1 {
		t.Errorf("a follower resigned: %d", lead.resigns)
	}
	tor.err = nil
	w.check(ctx, &failures)
	if failures != 0 || node.progress != 100 {
		t.Errorf("recovered tor: failures %d, node %+v", failures, node)
	}
}

func TestTorWatchStaysLeaderWithNobodyToTakeOver(t *testing.T) {
	tor, node, lead := &fakeBootstrap{err: errors.New("no reply")}, &torState{}, &fakeLead{leading: true}
	peers := 0
	w := torWatch{tor: tor, node: node, lead: lead, timeout: 1e9, resignAfter: 3, log: hclog.NewNullLogger(),
		standby: func(context.Context) (int, error) { return peers, nil }}
	failures := 0
	ctx := context.Background()
	for range 6 {
		w.check(ctx, &failures)
	}
	if lead.resigns != 0 {
		t.Fatalf("a single host resigned %d times with nobody to take over", lead.resigns)
	}
	peers = 1 // another obhost with a working tor joins
	w.check(ctx, &failures)
	if lead.resigns != 1 {
		t.Fatalf("with a ready peer: %d resigns, want 1", lead.resigns)
	}
	// When the peers cannot be counted (etcd trouble), hand over as before.
	lead.leading, failures = true, 0
	w.standby = func(context.Context) (int, error) { return 0, errors.New("etcd down") }
	for range 3 {
		w.check(ctx, &failures)
	}
	if lead.resigns != 2 {
		t.Fatalf("peers unknown: %d resigns, want 2", lead.resigns)
	}
}

func TestReadyPeersCountsOtherBootstrappedNodes(t *testing.T) {
	cli := storetest.NewClient(t, storetest.Single(t)...)
	st := store.New(cli, obhosttest.DefaultKeys(t), nil, 5*time.Second)
	var ops []clientv3.Op
	for _, nr := range []record.Node{
		{Name: "self", TorBootstrap: 100}, {Name: "ready", TorBootstrap: 100}, {Name: "starting", TorBootstrap: 45},
		{Name: "torless", TorBootstrap: 0, TorState: "unreachable: connection refused"},
	} {
		op, err := st.PutNodeOp(nr, 0)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if err := st.Commit(t.Context(), ops...); err != nil {
		t.Fatal(err)
	}
	n, err := readyPeers(st, "self")(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("readyPeers = %d, %v; want 1 (only \"ready\")", n, err)
	}
}
