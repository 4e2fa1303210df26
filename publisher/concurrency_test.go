package publisher

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
)

// stallTor is the control-port client of a fake tor, except that the uploads of one address hang until
// released (or their context ends), as with a tor slow to take them.
type stallTor struct {
	Tor
	addr    string
	release chan struct{}
	stalled chan struct{} // closed when the first hanging upload arrives
	once    sync.Once
}

func (s *stallTor) PostDescriptor(ctx context.Context, desc []byte, addr string, servers []string) error {
	if addr == s.addr {
		s.once.Do(func() { close(s.stalled) })
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Tor.PostDescriptor(ctx, desc, addr, servers)
}

// holdCounter is a Config.Procs that counts the holds taken and not yet released.
type holdCounter struct {
	mu         sync.Mutex
	out, taken int
}

func (h *holdCounter) Busy() func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.out++
	h.taken++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.out--
		})
	}
}

func (h *holdCounter) counts() (out, taken int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out, h.taken
}

// TestManagerSlowUploadDoesNotHoldOtherServices: three services on one fake tor (through the real
// control-port client); the uploads of the first one hang. The other two are uploaded meanwhile, and
// the first one once its uploads go through. While the services are worked on at once, the process
// holds its Ps (Config.Procs), and gives them back when the work is done.
func TestManagerSlowUploadDoesNotHoldOtherServices(t *testing.T) {
	h := newHarness(t, 2, 8)
	srv := torctltest.Start(t, torctltest.Options{})
	r := startTorctlRig(t, h, srv)
	stall := &stallTor{Tor: r.client, addr: h.master.Address(), release: make(chan struct{}), stalled: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(stall.release) }) }
	t.Cleanup(release)

	masters := []*hsv3.IdentityKey{h.master}
	for i := 0; i < 2; i++ {
		k, err := hsv3.GenerateIdentityKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		masters = append(masters, k)
	}
	cfg := r.cfg
	cfg.Services = nil
	for _, k := range masters {
		sc := ServiceConfig{Key: k, IntroPointsPerBackend: 2}
		for _, b := range h.bes {
			sc.Backends = append(sc.Backends, BackendConfig{Address: b.Key.Address()})
		}
		cfg.Services = append(cfg.Services, sc)
	}
	procs := &holdCounter{}
	cfg.Procs = procs
	m, err := New(cfg, stall, h.state, h.lead)
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	r.lead()

	h.now = h.now.Add(3 * time.Second) // past the revision probe of the first uploads
	stepped := make(chan struct{})
	go func() { m.step(r.ctx); close(stepped) }()
	select {
	case <-stall.stalled:
	case <-time.After(20 * time.Second):
		t.Fatal("the first service's upload never started")
	}
	posted := func() map[string]int {
		out := map[string]int{}
		for _, p := range srv.Posts() {
			out[p.Address]++
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for posted()[masters[1].Address()] < 2 || posted()[masters[2].Address()] < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("while the first service's upload hangs, the others were not uploaded: HSPOSTs per address %v", posted())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := posted()[h.master.Address()]; n != 0 {
		t.Fatalf("%d HSPOSTs of the hanging service got through before the release", n)
	}
	if out, _ := procs.counts(); out == 0 {
		t.Error("the services are worked on at once without a hold on the Ps")
	}
	release()
	select {
	case <-stepped:
	case <-time.After(20 * time.Second):
		t.Fatal("the publish check did not end once the upload went through")
	}
	if out, taken := procs.counts(); out != 0 || taken == 0 {
		t.Errorf("after the publish check: %d holds on the Ps still out (%d taken), want 0 out", out, taken)
	}
	if n := posted()[h.master.Address()]; n != 2 {
		t.Errorf("the first service has %d HSPOSTs after the release, want 2", n)
	}
}

// TestManagerBoundsFetchesInFlight: with more backends than maxFetchesInFlight, a fetch round asks for
// that many at first and for the next ones as tor's answers come in, until every backend was asked.
func TestManagerBoundsFetchesInFlight(t *testing.T) {
	h := newHarness(t, 20, 8)
	cfg := h.m.cfg
	cfg.Concurrency = 1 // at most 16 backend fetches waiting for tor's answers
	m, err := New(cfg, h.tor, h.state, h.lead)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	limit := m.maxFetchesInFlight()
	if limit >= len(h.bes) {
		t.Fatalf("the bound (%d) is not below the %d backends: the test proves nothing", limit, len(h.bes))
	}
	h.lead.Set(true, 1)
	m.step(h.ctx)
	if n := h.tor.Fetches(); n != limit {
		t.Fatalf("%d backends asked for at once, want the bound %d", n, limit)
	}
	h.run() // tor's answers make room for the rest
	if n := h.tor.Fetches(); n != len(h.bes) {
		t.Fatalf("%d backends asked for after the first answers, want all %d", n, len(h.bes))
	}
	h.run()
	if len(m.fetching) != 0 || len(m.fetchQueue) != 0 {
		t.Errorf("after every answer: %d fetches in flight, %d queued", len(m.fetching), len(m.fetchQueue))
	}
}

// TestManagerFetchesServiceByService: a fetch round asks for the backends service by service, so that
// with more backends than fit in flight a service's backends arrive together (one upload with all of
// them, not one per part).
func TestManagerFetchesServiceByService(t *testing.T) {
	h := newHarness(t, 32, 8)
	other, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.m.cfg
	cfg.Concurrency = 1 // 16 backend fetches in flight
	cfg.Services = nil
	for i, k := range []*hsv3.IdentityKey{h.master, other} {
		sc := ServiceConfig{Key: k}
		for _, b := range h.bes[16*i : 16*(i+1)] {
			sc.Backends = append(sc.Backends, BackendConfig{Address: b.Key.Address()})
		}
		cfg.Services = append(cfg.Services, sc)
	}
	m, err := New(cfg, h.tor, h.state, h.lead)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	h.lead.Set(true, 1)
	m.step(h.ctx)
	first := map[string]bool{}
	for _, b := range h.bes[:16] {
		first[b.Key.Address()] = true
	}
	if len(m.fetching) != 16 {
		t.Fatalf("%d backend fetches in flight, want 16", len(m.fetching))
	}
	for addr := range m.fetching {
		if !first[addr] {
			t.Errorf("backend %s of the second service was asked for before all of the first service's", addr)
		}
	}
}
