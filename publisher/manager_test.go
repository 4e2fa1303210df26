package publisher

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/publishertest"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store/record"
)

// harness drives a Manager step by step with a fake clock.
type harness struct {
	t      *testing.T
	now    time.Time
	net    *publishertest.Network
	tor    *publishertest.Tor
	state  *publishertest.Records
	lead   *publishertest.Leader
	master *hsv3.IdentityKey
	bes    []*publishertest.Backend
	m      *Manager
	ctx    context.Context
	// configure, when set, changes the service configuration newManager builds.
	configure func(*ServiceConfig)
}

func newHarness(t *testing.T, nBackends, nRelays int) *harness {
	t.Helper()
	va := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	h := &harness{t: t, now: va.Add(10 * time.Second), state: publishertest.NewRecords(), lead: &publishertest.Leader{}, ctx: context.Background()}
	h.net = publishertest.NewNetwork(t, nRelays, va, time.Hour)
	h.tor = publishertest.NewTor(t, h.net, func() time.Time { return h.now })
	var err error
	if h.master, err = hsv3.GenerateIdentityKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < nBackends; i++ {
		b := publishertest.NewBackend(t, 3, h.now)
		h.bes = append(h.bes, b)
		h.tor.Add(b)
	}
	h.m = h.newManager()
	return h
}

func (h *harness) newManager() *Manager {
	cfg := DefaultConfig()
	cfg.Clock = nowClock{now: func() time.Time { return h.now }}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{h.t}})
	cfg.Node = "test"
	sc := ServiceConfig{Key: h.master, IntroPointsPerBackend: 2}
	for i, b := range h.bes {
		sc.Backends = append(sc.Backends, BackendConfig{Address: b.Key.Address() + ".onion", Name: "node" + string(rune('a'+i))})
	}
	if h.configure != nil {
		h.configure(&sc)
	}
	cfg.Services = []ServiceConfig{sc}
	m, err := New(cfg, h.tor, h.state, h.lead)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// run does one step, then handles every queued event, then steps again.
func (h *harness) run() {
	h.m.step(h.ctx)
	for {
		select {
		case ev := <-h.tor.Events():
			h.m.handleEvent(h.ctx, ev)
			continue
		default:
		}
		break
	}
	h.m.step(h.ctx)
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.run()
}

// decodeAny decodes an uploaded master descriptor for whichever current slot it belongs to.
func (h *harness) decodeAny(desc []byte) (*hsv3.Descriptor, uint64) {
	h.t.Helper()
	cons, err := hashring.ParseConsensus(h.net.Consensus)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, sl := range cons.TimePeriods() {
		d, err := hsv3.Decode(desc, h.master.PublicKey(), sl.Period, sl.PeriodLength, hsv3.DecodeOptions{Now: h.now})
		if err == nil {
			return d, sl.Period
		}
	}
	h.t.Fatal("master descriptor does not decode for either slot")
	return nil, 0
}

// decodePosts decodes every uploaded master descriptor and returns, per HSDir, the backends whose intro
// points it lists.
func (h *harness) decodePosts(posts []publishertest.Post) map[string]map[string]int {
	h.t.Helper()
	owner := map[string]string{}
	for _, b := range h.bes {
		for _, ip := range b.Intros {
			owner[string(ip.AuthKeyCert.CertifiedKey)] = b.Key.Address()
		}
	}
	out := map[string]map[string]int{}
	for _, p := range posts {
		if p.Addr != h.master.Address() {
			h.t.Fatalf("posted for %s, want %s", p.Addr, h.master.Address())
		}
		d, _ := h.decodeAny(p.Desc)
		if n := len(d.IntroPoints()); n > MaxIntroPoints || n == 0 {
			h.t.Fatalf("descriptor has %d intro points", n)
		}
		got := map[string]int{}
		for _, ip := range d.IntroPoints() {
			o, ok := owner[string(ip.AuthKeyCert.CertifiedKey)]
			if !ok {
				h.t.Fatalf("intro point with auth key %x belongs to no backend", ip.AuthKeyCert.CertifiedKey)
			}
			got[o]++
		}
		for _, s := range p.Servers {
			out[s] = got
		}
	}
	return out
}

func TestManagerPublishesAndKeepsRecords(t *testing.T) {
	h := newHarness(t, 3, 10)
	h.run()
	if h.tor.Fetches() != 0 || len(h.tor.TakePosts()) != 0 {
		t.Fatal("a follower fetched or published")
	}

	h.lead.Set(true, 7)
	h.run() // becomes leader: fetch all; descriptors arrive
	if h.tor.Fetches() != 3 {
		t.Fatalf("fetches = %d, want one per backend", h.tor.Fetches())
	}
	h.advance(3 * time.Second) // debounce passed
	posts := h.tor.TakePosts()
	if len(posts) != 2 {
		t.Fatalf("%d uploads, want 2 (first and second descriptor to their 8 HSDirs each)", len(posts))
	}
	for _, p := range posts {
		if len(p.Servers) != 8 {
			t.Errorf("uploaded to %d HSDirs, want 8", len(p.Servers))
		}
	}
	for hsdir, got := range h.decodePosts(posts) {
		if len(got) != 3 {
			t.Errorf("HSDir %s gets intro points of %d backends, want 3", hsdir, len(got))
		}
		for be, n := range got {
			if n != 2 {
				t.Errorf("backend %s has %d intro points, want its share of 2", be, n)
			}
		}
	}
	// Records: revision counters and every HSDir uploaded, written under the leader's epoch.
	pubs, _ := h.state.PublishedAll(h.ctx, h.master.Address())
	if len(pubs) != 2 {
		t.Fatalf("%d publish records, want 2", len(pubs))
	}
	revs := map[string]uint64{}
	for k, r := range pubs {
		revs[k] = r.RevisionCounter
		if r.Epoch != 7 || r.RevisionCounter == 0 || len(r.HSDirs) != 8 || len(r.IntroPoints) != 6 {
			t.Errorf("record %s = epoch %d rev %d hsdirs %d intro points %d", k, r.Epoch, r.RevisionCounter, len(r.HSDirs), len(r.IntroPoints))
		}
		for fp, res := range r.HSDirs {
			if res.Status != record.UploadUploaded {
				t.Errorf("HSDir %s status %q, want uploaded", fp, res.Status)
			}
		}
	}
	insts, _ := h.state.Instances(h.ctx, h.master.Address())
	if len(insts) != 3 || len(insts[0].IntroPoints) != 3 {
		t.Fatalf("instance records = %+v", insts)
	}

	// Nothing changed: no upload.
	h.advance(10 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("re-uploaded without a reason: %d posts", len(p))
	}

	// A backend rotates its intro points: both descriptors are republished with higher counters.
	h.bes[1].NewIntros(t, 3, h.now)
	h.advance(DefaultConfig().FetchInterval)
	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 2 {
		t.Fatalf("%d uploads after an intro point change, want 2", len(p))
	}
	pubs, _ = h.state.PublishedAll(h.ctx, h.master.Address())
	for k, r := range pubs {
		if r.RevisionCounter <= revs[k] {
			t.Errorf("revision of %s went from %d to %d", k, revs[k], r.RevisionCounter)
		}
		revs[k] = r.RevisionCounter
	}

	// Status: Python fields present.
	js, err := h.m.Status().PythonJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"onionAddress":"` + h.master.Address() + `.onion"`, `"publishAttemptFirstDescriptor":"2026-11-23 `, `"introPointsNum":3`} {
		if !contains(string(js), want) {
			t.Errorf("status JSON lacks %s:\n%s", want, js)
		}
	}

	// A new leader (another node) starts from the shared state: nothing needs publishing yet, and
	// when something changes its counters continue above the old leader's.
	h.lead.Set(false, 7)
	h.run()
	h.m = h.newManager()
	h.lead.Set(true, 9)
	h.tor.ResetFetches()
	h.run()
	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 2 {
		t.Fatalf("new leader: %d uploads at takeover, want 2 (it re-publishes at once)", len(p))
	}
	h.advance(10 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("new leader re-uploaded an up-to-date descriptor (%d posts)", len(p))
	}
	pubs, _ = h.state.PublishedAll(h.ctx, h.master.Address())
	for k, r := range pubs {
		if r.RevisionCounter <= revs[k] || r.Epoch != 9 {
			t.Errorf("new leader: %s revision %d (before %d), epoch %d", k, r.RevisionCounter, revs[k], r.Epoch)
		}
	}
}

func contains(s, sub string) bool { return len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0) }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestManagerDropsDeadBackend(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 2 {
		t.Fatalf("%d initial uploads", len(p))
	}
	dead := h.bes[0].Key.Address()
	h.tor.SetDown(dead, true)
	// Fetches keep failing; after the backend timeout it leaves the descriptors.
	var posts []publishertest.Post
	for i := 0; i < 35 && len(posts) == 0; i++ {
		h.advance(DefaultConfig().FetchInterval)
		posts = h.tor.TakePosts()
	}
	if len(posts) != 2 {
		t.Fatalf("no republish after the backend died")
	}
	for hsdir, got := range h.decodePosts(posts) {
		if got[dead] != 0 || len(got) != 1 {
			t.Errorf("HSDir %s still lists the dead backend: %v", hsdir, got)
		}
	}
	st := h.m.Status()
	for _, b := range st.Services[0].Backends {
		if b.Address == dead+".onion" && (b.Live || b.LastFetchError == "") {
			t.Errorf("status of the dead backend: %+v", b)
		}
	}
}

func TestManagerDistinctDescriptors(t *testing.T) {
	h := newHarness(t, 12, 30) // 12 backends x 2 intro points = 24 > 20
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	posts := h.tor.TakePosts()
	if len(posts) < 4 {
		t.Fatalf("%d uploads, want several distinct descriptors per slot", len(posts))
	}
	seen := map[string]bool{}
	for _, got := range h.decodePosts(posts) {
		for be := range got {
			seen[be] = true
		}
	}
	if len(seen) != 12 {
		t.Fatalf("descriptors cover %d backends, want all 12", len(seen))
	}
	// Every responsible HSDir of each slot got exactly one descriptor.
	per := map[string]int{}
	for _, p := range posts {
		for _, s := range p.Servers {
			per[s]++
		}
	}
	cons, _ := hashring.ParseConsensus(h.net.Consensus)
	cons.AttachMicrodescs(mustMDs(t, h.net.Microdescs))
	want := map[string]int{}
	for _, sl := range cons.TimePeriods() {
		bl, _ := hsv3.BlindPublicKey(h.master.PublicKey(), sl.Period, sl.PeriodLength)
		for _, d := range hashring.NewRing(cons, sl).Responsible([32]byte(bl)) {
			want[d.Fingerprint]++
		}
	}
	if len(per) != len(want) {
		t.Fatalf("uploaded to %d HSDirs, want %d", len(per), len(want))
	}
	for fp, n := range want {
		if per[fp] != n {
			t.Errorf("HSDir %s got %d descriptors, want %d", fp, per[fp], n)
		}
	}
	// Nothing changed: later checks upload nothing (the split over HSDirs is as stable as the plan).
	h.advance(2 * time.Minute)
	if again := h.tor.TakePosts(); len(again) != 0 {
		t.Errorf("%d more uploads although nothing changed", len(again))
	}
}

func mustMDs(t *testing.T, b []byte) []hashring.Microdesc {
	mds, err := hashring.ParseMicrodescs(b)
	if err != nil {
		t.Fatal(err)
	}
	return mds
}

func TestManagerFencedLeaderDoesNotUpload(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.lead.SetFenced(true) // lease too old: self-fencing refuses
	h.run()
	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("a fenced leader uploaded %d descriptors", len(p))
	}
	h.lead.SetFenced(false)
	h.advance(6 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 2 {
		t.Fatalf("%d uploads once unfenced, want 2", len(p))
	}
}

// An HSPOST's context ends at the self-fencing deadline MayPublish returned: tor is not asked to upload
// after the lease may have expired, however long the command waits to be sent.
func TestManagerUploadContextEndsAtSelfFencingDeadline(t *testing.T) {
	h := newHarness(t, 2, 8)
	until := time.Now().Add(5 * time.Second) // sooner than the 30 s bound of a single HSPOST
	h.lead.SetUntil(until)
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	posts := h.tor.TakePosts()
	if len(posts) == 0 {
		t.Fatal("no upload")
	}
	for _, p := range posts {
		if !p.Deadline.Equal(until) {
			t.Errorf("HSPOST to %v: context deadline %v, want the self-fencing deadline %v", p.Servers, p.Deadline, until)
		}
	}
}

func TestManagerRetriesFailedHSDirs(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.run()
	cons, _ := hashring.ParseConsensus(h.net.Consensus)
	cons.AttachMicrodescs(mustMDs(t, h.net.Microdescs))
	first := cons.TimePeriods()[0]
	bl, _ := hsv3.BlindPublicKey(h.master.PublicKey(), first.Period, first.PeriodLength)
	failed := hashring.NewRing(cons, first).Responsible([32]byte(bl))[0].Fingerprint
	h.tor.SetRejects(map[string]bool{failed: true})

	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 2 {
		t.Fatalf("%d uploads", len(p))
	}
	rec := func() record.Publish {
		pubs, _ := h.state.PublishedAll(h.ctx, h.master.Address())
		return pubs[record.BlindedKeyHex(bl)]
	}
	if r := rec().HSDirs[failed]; r.Status != record.UploadFailed || r.Reason != "UPLOAD_REJECTED" {
		t.Fatalf("record for the rejecting HSDir: %+v", r)
	}
	h.advance(10 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("retried before the backoff (15s): %d posts", len(p))
	}
	h.advance(6 * time.Second)
	// With 8 relays the HSDir is responsible for both descriptors: one retry each, to it alone, one
	// after the other (tor's answers do not say which descriptor they are for).
	p := h.tor.TakePosts()
	h.advance(DefaultConfig().CheckInterval)
	p = append(p, h.tor.TakePosts()...)
	if len(p) != 2 {
		t.Fatalf("%d retries after the backoff, want one per descriptor", len(p))
	}
	for _, q := range p {
		if len(q.Servers) != 1 || q.Servers[0] != failed {
			t.Fatalf("retry went to %v, want %s only", q.Servers, failed)
		}
	}
	// Still rejected: the next retry waits twice as long.
	h.advance(20 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("second retry came before the doubled backoff")
	}
	h.tor.SetRejects(nil)
	h.advance(15 * time.Second)
	if p := h.tor.TakePosts(); len(p) == 0 {
		t.Fatalf("no second retry after 35s")
	}
	if r := rec().HSDirs[failed]; r.Status != record.UploadUploaded {
		t.Fatalf("after a successful retry the record says %+v", r)
	}
	h.advance(DefaultConfig().CheckInterval) // the other descriptor's retry
	if p := h.tor.TakePosts(); len(p) != 1 || len(p[0].Servers) != 1 || p[0].Servers[0] != failed {
		t.Fatalf("the other descriptor's retry: %d posts, want 1 to %s", len(p), failed)
	}
	// Settled: no more retries.
	h.advance(time.Minute)
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("retried a settled HSDir")
	}
}

// testWriter sends log lines to the test log, shown only for failing tests (or -v).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestManagerReconfigureKeepsState(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 2 {
		t.Fatalf("%d initial uploads", len(p))
	}
	pubs, _ := h.state.PublishedAll(h.ctx, h.master.Address())

	// Reload with the same backends: nothing to upload, nothing fetched needlessly lost.
	nb := publishertest.NewBackend(t, 3, h.now)
	h.tor.Add(nb)
	h.bes = append(h.bes, nb)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() { _ = h.m.Run(ctx, h.tor.Events()); close(stopped) }()
	same := h.m.cfg.Services
	if err := h.m.Reconfigure(ctx, same); err != nil {
		t.Fatal(err)
	}
	// Then add a third backend.
	more := []ServiceConfig{{Key: h.master, IntroPointsPerBackend: 2,
		Backends: append(append([]BackendConfig{}, same[0].Backends...), BackendConfig{Address: nb.Key.Address(), Name: "new"})}}
	if err := h.m.Reconfigure(ctx, more); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-stopped // drive the rest by hand with the fake clock
	h.advance(0)
	h.advance(3 * time.Second)
	posts := h.tor.TakePosts()
	if len(posts) != 2 {
		t.Fatalf("%d uploads after adding a backend, want 2", len(posts))
	}
	for hsdir, got := range h.decodePosts(posts) {
		if len(got) != 3 || got[nb.Key.Address()] != 2 {
			t.Errorf("HSDir %s: backends %v, want all 3 with the new one", hsdir, got)
		}
	}
	after, _ := h.state.PublishedAll(h.ctx, h.master.Address())
	for k, r := range after {
		if r.RevisionCounter <= pubs[k].RevisionCounter {
			t.Errorf("revision of %s did not continue: %d then %d", k, pubs[k].RevisionCounter, r.RevisionCounter)
		}
	}
	if err := h.m.Reconfigure(context.Background(), []ServiceConfig{{Key: h.master, Backends: []BackendConfig{{Address: h.master.Address()}}}}); err == nil {
		t.Error("accepted the master's own address as a backend")
	}
}

func TestManagerFetchesAtOnceWhenTheClientPeriodChanges(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	before := h.tor.Fetches()
	// Same period: a new consensus does not trigger a fetch before the fetch interval.
	h.tor.Events() <- torctl.ConsensusArrived{Source: "STATUS_CLIENT"}
	h.advance(2 * time.Second)
	if h.tor.Fetches() != before {
		t.Fatalf("fetched on a consensus of the same period (%d -> %d)", before, h.tor.Fetches())
	}
	// A consensus of the next time period (periods start at 12:00 UTC here; still "reasonably live"),
	// seconds later on our clock: the fetch must come from the period change, not the interval.
	next := publishertest.NewNetwork(t, 8, h.net.ValidAfter.Add(23*time.Hour), time.Hour)
	h.tor.SetNetwork(next)
	h.tor.Events() <- torctl.ConsensusArrived{Source: "STATUS_CLIENT"}
	h.advance(2 * time.Second)
	if h.tor.Fetches() != before+2 {
		t.Fatalf("fetches %d -> %d after the period changed, want one per backend at once", before, h.tor.Fetches())
	}
}

func TestManagerCountsRefusedUploadsAsErrors(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.tor.SetPostErr(errors.New(`552 Server "X" not found`))
	h.run()
	h.advance(3 * time.Second)
	c := h.m.Status().Counters
	if c.Publishes["uploaded"] != 0 || c.Publishes["error"] != 2 {
		t.Fatalf("publishes = %v, want 2 errors and no upload while tor refuses every HSPOST", c.Publishes)
	}
	h.tor.SetPostErr(nil)
	h.advance(20 * time.Second) // the failed HSDirs are retried after the backoff
	if c := h.m.Status().Counters; c.Publishes["uploaded"] == 0 {
		t.Fatalf("publishes = %v, want uploads once tor accepts them", c.Publishes)
	}
}

// TestManagerOneIntroPointPerRelay: backends whose intro points crowd onto 8 relays (as on the private
// test network). A tor client uses only the first intro point of a descriptor on each relay, so every
// descriptor must list each relay at most once; together the descriptors must still cover all backends,
// and the status must say which backends each HSDir got.
func TestManagerOneIntroPointPerRelay(t *testing.T) {
	h := newHarness(t, 12, 30)
	r := mathrand.New(mathrand.NewSource(12))
	pool := make([][]byte, 8)
	for i := range pool {
		pool[i] = make([]byte, 20)
		r.Read(pool[i])
	}
	for _, b := range h.bes {
		for k, j := range r.Perm(len(pool))[:len(b.Intros)] {
			ls := append([]byte{1, 2, 20}, pool[j]...)
			specs, err := hsv3.ParseLinkSpecifiers(ls)
			if err != nil {
				t.Fatal(err)
			}
			b.Intros[k].LinkSpecifiersRaw, b.Intros[k].LinkSpecifiers = ls, specs
		}
	}
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	posts := h.tor.TakePosts()
	owner := map[string]string{}
	for _, b := range h.bes {
		for _, ip := range b.Intros {
			owner[string(ip.AuthKeyCert.CertifiedKey)] = b.Key.Address()
		}
	}
	seen := map[string]bool{}
	inDesc := map[string]map[string]bool{} // period/HSDir -> backends
	for _, p := range posts {
		d, period := h.decodeAny(p.Desc)
		backends := map[string]bool{}
		for _, ip := range d.IntroPoints() {
			backends[owner[string(ip.AuthKeyCert.CertifiedKey)]] = true
			seen[owner[string(ip.AuthKeyCert.CertifiedKey)]] = true
		}
		for _, s := range p.Servers {
			inDesc[fmt.Sprint(period, "/", s)] = backends
		}
		relays := map[string]bool{}
		for _, ip := range d.IntroPoints() {
			var relay string
			for _, l := range ip.LinkSpecifiers {
				if l.Type == hsv3.LinkSpecLegacyID {
					relay = string(l.Data)
				}
			}
			if relays[relay] {
				t.Errorf("descriptor for %v lists two intro points on relay %x", p.Servers, relay)
			}
			relays[relay] = true
		}
	}
	if len(seen) != 12 {
		t.Fatalf("descriptors cover %d backends, want all 12", len(seen))
	}
	checked := 0
	for _, ds := range h.m.Status().Services[0].Descriptors {
		for fp, u := range ds.HSDirs {
			got := inDesc[fmt.Sprint(ds.Period, "/", fp)]
			if len(u.Backends) != len(got) {
				t.Errorf("status of HSDir %s (period %d) lists %d backends, its descriptor has %d", fp, ds.Period, len(u.Backends), len(got))
			}
			for _, b := range u.Backends {
				if !got[b] {
					t.Errorf("status of HSDir %s lists %s, which is not in its descriptor", fp, b)
				}
			}
			checked++
		}
	}
	if checked != len(inDesc) {
		t.Errorf("status describes %d HSDir uploads, %d were made", checked, len(inDesc))
	}
}

// clientSlot returns the slot tor clients fetch from now (the only one
// HSFETCH can ask for) and that slot's blinded key and responsible HSDirs.
func (h *harness) clientSlot() (hashring.TimePeriod, ed25519.PublicKey, []string) {
	h.t.Helper()
	cons, err := hashring.ParseConsensus(h.net.Consensus)
	if err != nil {
		h.t.Fatal(err)
	}
	cons.AttachMicrodescs(mustMDs(h.t, h.net.Microdescs))
	sl := cons.ClientTimePeriod()
	bl, err := hsv3.BlindPublicKey(h.master.PublicKey(), sl.Period, sl.PeriodLength)
	if err != nil {
		h.t.Fatal(err)
	}
	var fps []string
	for _, d := range hashring.NewRing(cons, sl).Responsible([32]byte(bl)) {
		fps = append(fps, d.Fingerprint)
	}
	return sl, bl, fps
}

// postsFor returns the uploads whose descriptor belongs to period, with their revision counters.
func (h *harness) postsFor(posts []publishertest.Post, period uint64) []uint64 {
	h.t.Helper()
	var revs []uint64
	for _, p := range posts {
		if d, per := h.decodeAny(p.Desc); per == period {
			revs = append(revs, d.RevisionCounter)
		}
	}
	return revs
}

// TestManagerRevisionAboveWhatHSDirsHold: a master descriptor with a revision counter far above the
// time-based one is on an HSDir (published by the Python tool, or before the data dir was wiped) and
// etcd has no publish record. The first upload must carry a higher counter, or every HSDir that holds
// it refuses the upload.
func TestManagerRevisionAboveWhatHSDirsHold(t *testing.T) {
	h := newHarness(t, 2, 8)
	sl, bl, resp := h.clientSlot()
	const planted = uint64(1) << 50
	desc, err := hsv3.Encode(hsv3.EncodeParams{Identity: h.master, PeriodNum: sl.Period, PeriodLength: sl.PeriodLength,
		RevisionCounter: planted, IntroPoints: h.bes[0].Intros, Now: h.now.Add(-time.Hour), Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	// One HSDir holds it; the others have nothing (NOT_FOUND) or an older copy.
	older, err := hsv3.Encode(hsv3.EncodeParams{Identity: h.master, PeriodNum: sl.Period, PeriodLength: sl.PeriodLength,
		RevisionCounter: planted - 100, IntroPoints: h.bes[0].Intros, Now: h.now.Add(-2 * time.Hour), Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	// A descriptor signed by another key is not believed, whatever counter it claims.
	other, _ := hsv3.GenerateIdentityKey(rand.Reader)
	forged, err := hsv3.Encode(hsv3.EncodeParams{Identity: other, PeriodNum: sl.Period, PeriodLength: sl.PeriodLength,
		RevisionCounter: planted * 4, IntroPoints: h.bes[0].Intros, Now: h.now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(fp string, d []byte) torctl.DescReceived {
		return torctl.DescReceived{Address: h.master.Address(), HSDir: fp, Blinded: b64.EncodeToString(bl), Descriptor: d}
	}
	h.tor.SetHeld(map[string]map[string]torctl.DescReceived{h.master.Address(): {
		resp[2]: ev(resp[2], desc), resp[0]: ev(resp[0], older), resp[5]: ev(resp[5], forged),
	}})

	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	posts := h.tor.TakePosts()
	revs := h.postsFor(posts, sl.Period)
	if len(revs) != 1 {
		t.Fatalf("%d uploads for the clients' blinded key (of %d), want 1", len(revs), len(posts))
	}
	if revs[0] <= planted || revs[0] >= planted*4 {
		t.Fatalf("first upload has revision counter %d, want just above %d (what an HSDir holds)", revs[0], planted)
	}
	if len(h.tor.OtherFetches()) != 1 || len(h.tor.OtherFetches()[0].Servers) != len(resp) {
		t.Errorf("master fetches = %+v, want one to its %d responsible HSDirs", h.tor.OtherFetches(), len(resp))
	}
	pubs, _ := h.state.PublishedAll(h.ctx, h.master.Address())
	if r := pubs[record.BlindedKeyHex(bl)]; r.RevisionCounter != revs[0] {
		t.Errorf("publish record has revision %d, uploaded %d", r.RevisionCounter, revs[0])
	}
	// Later uploads keep counting from there, and the HSDirs are not asked again.
	h.bes[1].NewIntros(t, 3, h.now)
	h.advance(DefaultConfig().FetchInterval)
	h.advance(3 * time.Second)
	again := h.postsFor(h.tor.TakePosts(), sl.Period)
	if len(again) != 1 || again[0] <= revs[0] {
		t.Errorf("next upload revisions %v, want one above %d", again, revs[0])
	}
	if len(h.tor.OtherFetches()) != 1 {
		t.Errorf("the master's descriptors were fetched %d times, want once", len(h.tor.OtherFetches()))
	}
}

// TestManagerRevisionProbeTimesOut: tor never answers the fetch of the master's descriptors. The
// upload waits for the probe's bound, not forever, then goes out with the time-based counter.
func TestManagerRevisionProbeTimesOut(t *testing.T) {
	h := newHarness(t, 2, 8)
	sl, _, _ := h.clientSlot()
	h.tor.SetSilent(map[string]bool{h.master.Address(): true})
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	posts := h.tor.TakePosts()
	if len(posts) != 1 || len(h.postsFor(posts, sl.Period)) != 0 {
		t.Fatalf("%d uploads before the probe's bound, want only the other blinded key's", len(posts))
	}
	h.advance(DefaultConfig().RevisionProbeTimeout)
	if revs := h.postsFor(h.tor.TakePosts(), sl.Period); len(revs) != 1 || revs[0] == 0 {
		t.Fatalf("after the probe's bound: uploads with revisions %v, want one", revs)
	}
	// A late answer still counts: the next upload goes above what that HSDir holds.
	_, bl, resp := h.clientSlot()
	const held = uint64(1) << 45
	desc, err := hsv3.Encode(hsv3.EncodeParams{Identity: h.master, PeriodNum: sl.Period, PeriodLength: sl.PeriodLength,
		RevisionCounter: held, IntroPoints: h.bes[0].Intros, Now: h.now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	h.tor.Events() <- torctl.DescReceived{Address: h.master.Address(), HSDir: resp[1], Blinded: b64.EncodeToString(bl), Descriptor: desc}
	h.bes[0].NewIntros(t, 3, h.now)
	h.advance(DefaultConfig().FetchInterval)
	h.advance(3 * time.Second)
	if revs := h.postsFor(h.tor.TakePosts(), sl.Period); len(revs) != 1 || revs[0] <= held {
		t.Fatalf("after a late answer (%d held): uploads with revisions %v, want one above", held, revs)
	}
}
