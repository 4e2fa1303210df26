package publisher

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/publishertest"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// Passive staleness: a backend whose descriptor keeps being served by the HSDirs but never gets a new
// revision counter is dead (a live tor re-uploads with a new counter at least every 120 minutes).

// backendStatus returns the status of backend addr (no ".onion") in the first service.
func (h *harness) backendStatus(addr string) BackendStatus {
	h.t.Helper()
	for _, b := range h.m.Status().Services[0].Backends {
		if b.Address == addr+".onion" {
			return b
		}
	}
	h.t.Fatalf("no status for backend %s", addr)
	return BackendStatus{}
}

// TestMaxRevisionAgeFitsTor: the default threshold leaves a live tor (a new revision at most every 120
// minutes, seen at the next fetch) in, and drops a dead one before its last descriptor expires on the
// HSDirs (3 hours after its last upload).
func TestMaxRevisionAgeFitsTor(t *testing.T) {
	cfg := DefaultConfig()
	if age := cfg.Liveness.MaxRevisionAge; age <= torReuploadMax+cfg.FetchInterval || age >= 180*time.Minute-cfg.FetchInterval {
		t.Errorf("MaxRevisionAge %s: want above %s and below %s", age, torReuploadMax+cfg.FetchInterval, 180*time.Minute-cfg.FetchInterval)
	}
}

// TestManagerDropsBackendWhoseRevisionNeverChanges: the dead backend's descriptor is fetched fine
// every round, with the same revision counter; the live one gets a new counter every 120 minutes, the
// longest a live tor waits. The dead one leaves the next descriptor once MaxRevisionAge has passed
// since its revision was first seen, not before; the live one stays.
func TestManagerDropsBackendWhoseRevisionNeverChanges(t *testing.T) {
	h := newHarness(t, 2, 10)
	dead, live := h.bes[0], h.bes[1]
	maxAge := h.m.cfg.Liveness.MaxRevisionAge
	h.lead.Set(true, 1)
	t0 := h.now
	h.run()
	lastBump := h.now
	var droppedAt time.Time
	for h.now.Before(t0.Add(maxAge + 30*time.Minute)) {
		if h.now.Sub(lastBump) >= torReuploadMax-h.m.cfg.FetchInterval {
			live.Rev++ // the live backend's tor re-uploads (same intro points, a new counter)
			lastBump = h.now
		}
		h.advance(h.m.cfg.FetchInterval)
		for hsdir, got := range h.decodePosts(h.tor.TakePosts()) {
			if got[live.Key.Address()] == 0 {
				t.Fatalf("%s after start: HSDir %s lost the live backend: %v", h.now.Sub(t0), hsdir, got)
			}
			switch {
			case got[dead.Key.Address()] > 0 && h.now.Sub(t0) > maxAge+h.m.cfg.FetchInterval:
				t.Fatalf("%s after start: the stale backend is still published to %s", h.now.Sub(t0), hsdir)
			case got[dead.Key.Address()] == 0 && droppedAt.IsZero():
				droppedAt = h.now
			}
		}
	}
	if droppedAt.IsZero() {
		t.Fatal("the backend whose revision never changed was never dropped")
	}
	if droppedAt.Sub(t0) <= maxAge {
		t.Errorf("dropped %s after its revision was first seen, before MaxRevisionAge %s", droppedAt.Sub(t0), maxAge)
	}
	st := h.backendStatus(dead.Key.Address())
	if st.Live || !strings.HasPrefix(st.Why, "descriptor not renewed for ") || !st.RevisionSince.Equal(t0) {
		t.Errorf("status of the stale backend: live %v, why %q, revision since %s (want %s)", st.Live, st.Why, st.RevisionSince, t0)
	}
	if st := h.backendStatus(live.Key.Address()); !st.Live {
		t.Errorf("the live backend is not live: %q", st.Why)
	}
}

// TestManagerNewLeaderKeepsRevisionSince: the leader fails over while a dead backend's stale copy is
// still served. The new leader, loading the instance records from etcd, must know since when that
// revision has been seen, not restart the clock at the record's received_at.
func TestManagerNewLeaderKeepsRevisionSince(t *testing.T) {
	h := newHarness(t, 2, 10)
	keys, err := store.NewKeys(store.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	cli := storetest.NewClient(t, storetest.Single(t)...)
	state := etcdState{st: store.New(cli, keys, nil, 5*time.Second)}
	dead, live := h.bes[0], h.bes[1]
	maxAge := h.m.cfg.Liveness.MaxRevisionAge

	h.m = h.managerWith(state)
	h.lead.Set(true, 7)
	t0 := h.now
	h.run()
	for h.now.Before(t0.Add(100 * time.Minute)) {
		h.advance(h.m.cfg.FetchInterval)
	}
	live.Rev++
	h.advance(h.m.cfg.FetchInterval)
	resp, err := cli.Get(context.Background(), keys.Instance(h.master.Address(), dead.Key.Address()))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading the instance record: %v", err)
	}
	var stored map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &stored); err != nil {
		t.Fatal(err)
	}
	if stored["revision_since"] != t0.Format(time.RFC3339) {
		t.Errorf("stored revision_since %v, want %s (received_at %v)", stored["revision_since"], t0.Format(time.RFC3339), stored["received_at"])
	}

	// Failover: a new leader (a new process) starts from etcd.
	h.lead.Set(false, 7)
	h.run()
	h.m = h.managerWith(state)
	h.lead.Set(true, 8)
	h.run()
	if st := h.backendStatus(dead.Key.Address()); !st.RevisionSince.Equal(t0) {
		t.Fatalf("new leader: revision since %s, want %s (first seen by the old leader)", st.RevisionSince, t0)
	}
	if st := h.backendStatus(live.Key.Address()); st.RevisionSince.Before(t0.Add(100 * time.Minute)) {
		t.Errorf("new leader: the live backend's revision since %s, want its last change", st.RevisionSince)
	}
	h.tor.TakePosts()
	for h.now.Before(t0.Add(maxAge + 2*h.m.cfg.FetchInterval)) {
		h.advance(h.m.cfg.FetchInterval)
	}
	posts := h.tor.TakePosts()
	if len(posts) == 0 {
		t.Fatal("the new leader did not republish without the stale backend")
	}
	for hsdir, got := range h.decodePosts(posts) {
		if got[dead.Key.Address()] != 0 || got[live.Key.Address()] == 0 {
			t.Errorf("HSDir %s: backends %v, want the live one only", hsdir, got)
		}
	}
}

// descFor returns backend b's descriptor for period (of the client time period's length) with revision
// rev and its current intro points, as a DescReceived event from HSDir hsdir.
func (h *harness) descFor(b *publishertest.Backend, period, rev uint64, hsdir string) torctl.DescReceived {
	h.t.Helper()
	tp, _, _ := h.clientSlot()
	tp.Period = period
	saved := b.Rev
	b.Rev = rev
	desc := b.Descriptor(h.t, tp, h.now)
	b.Rev = saved
	blinded, err := hsv3.BlindPublicKey(b.Key.PublicKey(), tp.Period, tp.PeriodLength)
	if err != nil {
		h.t.Fatal(err)
	}
	return torctl.DescReceived{Address: b.Key.Address(), HSDir: hsdir, Blinded: b64.EncodeToString(blinded), Descriptor: desc}
}

// TestManagerIgnoresOlderCopies: HSDirs that lag behind serve an older descriptor of the backend after a
// newer one arrived, for the same blinded key, and copies for the other time period (another blinded
// key, with its own revision counters) arrive in between. Neither may replace the newer intro points
// or restart the revision clock: a dead backend whose copies keep alternating still goes stale.
func TestManagerIgnoresOlderCopies(t *testing.T) {
	h := newHarness(t, 2, 10)
	b := h.bes[0]
	addr := b.Key.Address()
	tp, _, _ := h.clientSlot()
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	h.tor.TakePosts()
	oldCopy := h.descFor(b, tp.Period, b.Rev, "LAGGING")
	nextOld := h.descFor(b, tp.Period+1, 50, "NEXT")

	b.NewIntros(t, 3, h.now) // a new descriptor, new intro points
	h.advance(h.m.cfg.FetchInterval)
	h.advance(3 * time.Second)
	if len(h.tor.TakePosts()) == 0 {
		t.Fatal("no upload after the backend's intro points changed")
	}
	seen := h.now
	before := h.backendStatus(addr)
	if before.Revision != b.Rev || !before.RevisionSince.After(seen.Add(-h.m.cfg.FetchInterval)) {
		t.Fatalf("status after the new descriptor: %+v", before)
	}
	h.tor.SetSilent(map[string]bool{addr: true}) // from now on only the copies below arrive

	for i := 0; h.now.Before(seen.Add(h.m.cfg.Liveness.MaxRevisionAge + 5*time.Minute)); i++ {
		h.now = h.now.Add(h.m.cfg.FetchInterval)
		cur := h.descFor(b, tp.Period, b.Rev, "CURRENT")
		next := h.descFor(b, tp.Period+1, 50, "NEXT") // the same revision, signed again
		switch i % 3 {
		case 0:
			h.deliver(oldCopy, cur, nextOld)
		case 1:
			h.deliver(cur, next, oldCopy)
		default:
			h.deliver(next, cur, nextOld, oldCopy)
		}
		h.advance(3 * time.Second)
		st := h.backendStatus(addr)
		if st.Revision != b.Rev || st.IntroSetModified != before.IntroSetModified {
			t.Fatalf("round %d: an older or other-period copy replaced the record: revision %d (want %d), intro set modified %s (want %s)",
				i, st.Revision, b.Rev, st.IntroSetModified, before.IntroSetModified)
		}
		posts := h.tor.TakePosts()
		for hsdir, got := range h.decodePosts(posts) {
			if st.Live && got[addr] != 2 {
				t.Fatalf("round %d: HSDir %s got backends %v: republished with another intro set", i, hsdir, got)
			}
		}
	}
	st := h.backendStatus(addr)
	if st.Live || !strings.HasPrefix(st.Why, "descriptor not renewed for ") {
		t.Errorf("a backend whose copies only alternate is still live (%q, revision since %s)", st.Why, st.RevisionSince)
	}
}

// TestManagerFetchesFromEveryHSDirOfTheFetchSet: each fetch asks every HSDir a client could fetch the
// backend's descriptor from, so the newest copy any of them holds is seen in every round.
func TestManagerFetchesFromEveryHSDirOfTheFetchSet(t *testing.T) {
	h := newHarness(t, 3, 20)
	cons, err := hashring.ParseConsensus(h.net.Consensus)
	if err != nil {
		t.Fatal(err)
	}
	cons.AttachMicrodescs(mustMDs(t, h.net.Microdescs))
	tp := cons.ClientTimePeriod()
	ring := hashring.NewRing(cons, tp)
	for round := 0; round < 2; round++ {
		h.lead.Set(true, 1)
		evs := h.stepHolding(h.m.cfg.FetchInterval)
		asked := map[string][]string{}
		for _, ev := range evs {
			if e, ok := ev.(torctl.DescReceived); ok {
				asked[e.Address] = append(asked[e.Address], e.HSDir)
			}
		}
		for _, b := range h.bes {
			blinded, err := hsv3.BlindPublicKey(b.Key.PublicKey(), tp.Period, tp.PeriodLength)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, d := range ring.FetchSet([32]byte(blinded)) {
				want = append(want, d.Fingerprint)
			}
			got := asked[b.Key.Address()]
			slices.Sort(want)
			slices.Sort(got)
			if len(want) != 6 || !slices.Equal(got, want) {
				t.Errorf("round %d: fetched %s from %v, want its whole fetch set %v", round, b.Key.Address(), got, want)
			}
		}
		h.deliver(evs...)
	}
}

// TestNoteRevisionAcrossPeriods: the rules for a copy of a time period not seen before (the client
// time period moves on once a day, and the two periods' revision counters are unrelated).
func TestNoteRevisionAcrossPeriods(t *testing.T) {
	const maxAge = 135 * time.Minute
	credit := maxAge - torReuploadMax - 2*time.Minute
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	seen := func(b *Backend, period, rev uint64, at time.Time) bool {
		t.Helper()
		ok := b.noteRevision(period, rev, at, maxAge, credit)
		if ok && (b.Record.ReceivedAt.IsZero() || period == b.Record.PeriodNum) {
			b.Record.ReceivedAt, b.Record.PeriodNum, b.Record.DescriptorRevision = at, period, rev
		}
		return ok
	}

	// Live: period 7's last new revision at t0; two hours later the client period moves to 8, whose copy
	// the backend uploaded earlier. The clock moves to at most credit ago, so the live tor's next upload
	// for period 8 (within 120 min of its last, seen at the next fetch) comes before maxAge.
	live := &Backend{}
	seen(live, 7, 500, t0)
	seen(live, 7, 500, t0.Add(2*time.Hour))
	switchAt := t0.Add(2*time.Hour + time.Minute)
	if !seen(live, 8, 20, switchAt) || !live.RevisionSince.Equal(switchAt.Add(-credit)) {
		t.Errorf("live backend at the period switch: revision since %s, want %s", live.RevisionSince, switchAt.Add(-credit))
	}
	if !seen(live, 8, 21, switchAt.Add(2*time.Hour)) || !live.RevisionSince.Equal(switchAt.Add(2*time.Hour)) {
		t.Errorf("a new revision of period 8: revision since %s", live.RevisionSince)
	}
	// A lagging copy of either period changes nothing.
	if seen(live, 8, 20, switchAt.Add(3*time.Hour)) || seen(live, 7, 499, switchAt.Add(3*time.Hour)) ||
		!live.RevisionSince.Equal(switchAt.Add(2*time.Hour)) {
		t.Errorf("an older copy was taken: revision since %s", live.RevisionSince)
	}

	// Dead: its unchanged copy of period 7 was still served past maxAge; period 8's old copy must not
	// bring it back.
	dead := &Backend{}
	seen(dead, 7, 500, t0)
	seen(dead, 7, 500, t0.Add(maxAge+time.Minute))
	if !seen(dead, 8, 20, t0.Add(maxAge+2*time.Minute)) || !dead.RevisionSince.Equal(t0) {
		t.Errorf("stale backend at the period switch: revision since %s, want %s", dead.RevisionSince, t0)
	}

	// Not watched: no copy at all for hours (our fetches failed); a copy of the new period gets the
	// credit, since nothing showed the backend stale.
	blind := &Backend{}
	seen(blind, 7, 500, t0)
	late := t0.Add(5 * time.Hour)
	if !seen(blind, 8, 20, late) || !blind.RevisionSince.Equal(late.Add(-credit)) {
		t.Errorf("backend not watched for hours: revision since %s, want %s", blind.RevisionSince, late.Add(-credit))
	}
}
