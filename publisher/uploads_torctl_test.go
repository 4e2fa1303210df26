package publisher

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher/publishertest"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
	"github.com/obcluster/obcluster/store/record"
)

// TestManagerRetriesAfterTorDropsTheControlConnection is TestManagerRetriesUploadsLostWithTheControlConnection
// through the real control-port client and the fake tor: the fake tor accepts the HSPOSTs but never
// answers, then drops the control connections (as a tor restart does). The client reconnects, the
// uploads are recorded failed with "tor reconnected", and after the retry backoff (fake clock) they are
// posted again and answered.
func TestManagerRetriesAfterTorDropsTheControlConnection(t *testing.T) {
	h := newHarness(t, 2, 8)
	srv := torctltest.Start(t, torctltest.Options{})
	publishertest.Serve(t, srv, h.net, h.now, h.bes...)
	tcfg := torctl.DefaultConfig()
	tcfg.Address, tcfg.Auth, tcfg.ReconnectMin = srv.Addr(), torctl.AuthNone, 10*time.Millisecond
	client, err := torctl.New(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = client.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	cfg := DefaultConfig()
	cfg.Clock = nowClock{now: func() time.Time { return h.now }}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	sc := ServiceConfig{Key: h.master, IntroPointsPerBackend: 2}
	for _, b := range h.bes {
		sc.Backends = append(sc.Backends, BackendConfig{Address: b.Key.Address()})
	}
	cfg.Services = []ServiceConfig{sc}
	// The fake tor names every fetched descriptor with one made-up blinded key, so it never answers the
	// revision probe of a first upload (probe.go): do not let the probe hold the upload back.
	cfg.RevisionProbeTimeout = time.Second
	m, err := New(cfg, client, h.state, h.lead)
	if err != nil {
		t.Fatal(err)
	}
	// until hands the client's events to the manager until cond holds (bounded in real time only so that
	// a broken client cannot hang the test).
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !cond() {
			select {
			case ev := <-client.Events():
				m.handleEvent(ctx, ev)
			case <-deadline:
				t.Fatalf("still waiting for %s", what)
			}
		}
	}
	allStatus := func(status, reason string) func() bool {
		return func() bool {
			recs, _ := h.state.PublishedAll(ctx, h.master.Address())
			if len(recs) != 2 {
				return false
			}
			for _, r := range recs {
				for _, res := range r.HSDirs {
					if res.Status != status || res.Reason != reason {
						return false
					}
				}
			}
			return true
		}
	}
	reconnects := func() uint64 { return m.counters.TorReconnects }

	select {
	case ev := <-client.Events():
		if r, ok := ev.(torctl.Reconnected); !ok || !r.Initial {
			t.Fatalf("first event %#v, want the initial Reconnected", ev)
		}
		m.handleEvent(ctx, ev)
	case <-time.After(20 * time.Second):
		t.Fatal("the client did not connect to the fake tor")
	}
	h.lead.Set(true, 1)
	m.step(ctx)
	until("the backends' descriptors", func() bool {
		insts, _ := h.state.Instances(ctx, h.master.Address())
		return len(insts) == 2
	})
	srv.SetAutoEvents(false) // tor takes the uploads and says nothing
	h.now = h.now.Add(3 * time.Second)
	m.step(ctx)
	if n := len(srv.Posts()); n != 2 {
		t.Fatalf("%d HSPOSTs, want 2", n)
	}
	if !allStatus(record.UploadPending, "")() {
		t.Fatal("uploads not pending before tor answered")
	}

	srv.DropConnections()
	until("the reconnect", func() bool { return reconnects() == 1 })
	if !allStatus(record.UploadFailed, reasonReconnected)() {
		t.Fatalf("after the reconnect the records are not all failed: %s: %+v", reasonReconnected, h.records())
	}

	srv.SetAutoEvents(true)
	h.now = h.now.Add(16 * time.Second) // the retry backoff
	m.step(ctx)
	h.now = h.now.Add(cfg.CheckInterval) // the other descriptor, one upload at a time per HSDir
	until("the first retry's answers", func() bool { return len(srv.Posts()) >= 3 && len(m.pending) == 0 })
	m.step(ctx)
	until("every upload answered", allStatus(record.UploadUploaded, ""))
	if n := len(srv.Posts()); n != 4 {
		t.Errorf("%d HSPOSTs, want 4: two lost and one retry of each", n)
	}
}
