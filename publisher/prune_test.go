package publisher

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/publishertest"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store/record"
)

func (h *harness) recordKeys() map[string]record.ServiceKeys {
	h.t.Helper()
	keys, err := h.state.RecordKeys(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for svc, r := range keys {
		sort.Strings(r.Instances)
		sort.Strings(r.Published)
		if len(r.Instances)+len(r.Published) == 0 {
			delete(keys, svc)
		} else {
			keys[svc] = r
		}
	}
	return keys
}

func (h *harness) slotOfPeriod(period uint64) string {
	h.t.Helper()
	bl, err := hsv3.BlindPublicKey(h.master.PublicKey(), period, 1440)
	if err != nil {
		h.t.Fatal(err)
	}
	return record.BlindedKeyHex(bl)
}

// TestManagerPrunesRecords: the leader deletes the publish records of time periods older than both it
// publishes for (keeping a later one), the instance records of backends no longer configured, and
// every record of a service no longer configured; it does so again when the period moves on and when
// the configuration drops a backend.
func TestManagerPrunesRecords(t *testing.T) {
	h := newHarness(t, 2, 8)
	cons, err := hashring.ParseConsensus(h.net.Consensus)
	if err != nil {
		t.Fatal(err)
	}
	slots := cons.TimePeriods() // 13:00 UTC: periods tp-1 and tp
	svc := h.master.Address()
	gone := strings.Repeat("g", 56)
	removed := publishertest.NewBackend(t, 3, h.now).Key.Address()
	old, later := h.slotOfPeriod(slots[0].Period-2), h.slotOfPeriod(slots[1].Period+3)
	// What earlier leaders left: a past and a later period, a backend and a service since removed.
	for _, r := range []struct {
		svc, slot string
		period    uint64
	}{{svc, old, slots[0].Period - 2}, {svc, later, slots[1].Period + 3}, {gone, "00aa", 5}} {
		if err := h.state.PutPublished(h.ctx, 1, r.svc, r.slot, record.Publish{PeriodNum: r.period, PeriodLength: 1440,
			RevisionCounter: 10, UploadedAt: h.now.Add(-72 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct{ svc, inst string }{{svc, removed}, {gone, removed}} {
		if err := h.state.PutInstance(h.ctx, 1, r.svc, record.Instance{Address: r.inst, ReceivedAt: h.now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}

	h.lead.Set(true, 2)
	h.run()
	h.advance(3 * time.Second)
	configured := []string{h.bes[0].Key.Address(), h.bes[1].Key.Address()}
	sort.Strings(configured)
	want := []string{h.slotOfPeriod(slots[0].Period), h.slotOfPeriod(slots[1].Period), later}
	sort.Strings(want)
	got := h.recordKeys()
	if len(got) != 1 || strings.Join(got[svc].Instances, ",") != strings.Join(configured, ",") ||
		strings.Join(got[svc].Published, ",") != strings.Join(want, ",") {
		t.Fatalf("records after the first publish:\n%+v\nwant only service %s with instances %v and slots %v", got, svc, configured, want)
	}

	// A day later (13:00 UTC, periods tp and tp+1): the record of tp-1 goes.
	next := publishertest.NewNetwork(t, 8, h.net.ValidAfter.Add(24*time.Hour), time.Hour)
	h.tor.SetNetwork(next)
	h.now = h.now.Add(24 * time.Hour)
	for _, b := range h.bes {
		b.NewIntros(t, 3, h.now) // backends republish (a counter unchanged for hours means a dead backend)
	}
	h.tor.Events() <- torctl.ConsensusArrived{Source: "STATUS_CLIENT"}
	h.run()                    // a refresh with the old consensus, which reloads a second later
	h.advance(3 * time.Second) // the new consensus: fetch the backends' descriptors for it
	h.advance(3 * time.Second) // the debounce: publish for the new period
	want = []string{h.slotOfPeriod(slots[1].Period), h.slotOfPeriod(slots[1].Period + 1), later}
	sort.Strings(want)
	if got := h.recordKeys()[svc].Published; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("slots a period later: %v, want %v", got, want)
	}

	// A backend leaves the configuration: its instance record goes at the next check.
	sc := h.m.cfg.Services[0]
	sc.Backends = sc.Backends[:1]
	built, err := newService(sc, h.m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.m.applyReconfig(reconfig{services: []*service{built}, done: make(chan struct{})})
	h.advance(3 * time.Second)
	if got := h.recordKeys()[svc].Instances; len(got) != 1 || got[0] != h.bes[0].Key.Address() {
		t.Fatalf("instances after %s left the configuration: %v", h.bes[1].Key.Address(), got)
	}
}

// TestManagerBoundsPerHSDirFailureCounts: the per-HSDir upload failure counts (the hsdir label of
// onionbalance_hsdir_upload_failures_total) keep only HSDirs responsible for a current descriptor, so
// they do not grow as HSDirs come and go.
func TestManagerBoundsPerHSDirFailureCounts(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	for round := 0; round < 5; round++ {
		// A new set of 8 HSDirs, all refusing uploads.
		next := publishertest.NewNetwork(t, 8, h.net.ValidAfter, time.Hour)
		cons, err := hashring.ParseConsensus(next.Consensus)
		if err != nil {
			t.Fatal(err)
		}
		current := map[string]bool{}
		for _, r := range cons.Relays {
			current[fmt.Sprintf("%X", r.Identity[:])] = true
		}
		h.tor.SetNetwork(next)
		h.tor.SetRejects(current)
		h.tor.Events() <- torctl.ConsensusArrived{Source: "NEWCONSENSUS"}
		h.advance(2 * time.Second)
		if len(h.tor.TakePosts()) == 0 {
			t.Fatalf("round %d: no upload to the new HSDirs", round)
		}
		h.advance(DefaultConfig().CheckInterval)
		failures := h.m.Status().Counters.UploadFailures
		if len(failures) == 0 || len(failures) > len(current) {
			t.Fatalf("round %d: failure counts for %d HSDirs, want 1 to %d", round, len(failures), len(current))
		}
		for fp := range failures {
			if !current[fp] {
				t.Fatalf("round %d: failure count kept for %s, no longer in the consensus", round, fp)
			}
		}
	}
}

// TestManagerRemovedServiceStaysPruned: tor's answers to uploads of a service that leaves the
// configuration while they are in flight must not write its publish records back after the leader
// deleted them.
func TestManagerRemovedServiceStaysPruned(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.run()
	held := h.stepHolding(3 * time.Second) // uploads made, tor's answers still in flight
	if len(held) == 0 {
		t.Fatal("no upload answers held")
	}
	if len(h.recordKeys()[h.master.Address()].Published) == 0 {
		t.Fatal("no publish record after the upload")
	}
	h.m.applyReconfig(reconfig{services: nil, done: make(chan struct{})})
	h.advance(3 * time.Second) // the leader prunes the removed service
	if got := h.recordKeys(); len(got) != 0 {
		t.Fatalf("records after the service was removed: %+v", got)
	}
	h.deliver(held...)
	if got := h.recordKeys(); len(got) != 0 {
		t.Fatalf("tor's late answers wrote records of a removed service back: %+v", got)
	}
}
