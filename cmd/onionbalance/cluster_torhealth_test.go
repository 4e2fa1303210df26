package main

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher/torctl"
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
