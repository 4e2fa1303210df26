package publisher

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher/hashring"
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
	r := startTorctlRig(t, h, srv)
	m, ctx, until, cfg := r.m, r.ctx, r.until, r.cfg
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

	r.lead()
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

// TestManagerRecordsRefusedUploadsAtOnce: HSDirs that refuse an upload (a revision counter below the one
// they hold) are recorded failed with tor's reason as soon as tor reports it, through the real
// control-port client and a fake tor that words the refusal as tor 0.4.9 does (HS_DESC FAILED ... NO_AUTH
// ... REASON=UPLOAD_REJECTED), not after the upload timeout. The fake clock does not move after the
// upload, so nothing can time out.
func TestManagerRecordsRefusedUploadsAtOnce(t *testing.T) {
	h := newHarness(t, 2, 8)
	srv := torctltest.Start(t, torctltest.Options{})
	cons, err := hashring.ParseConsensus(h.net.Consensus)
	if err != nil {
		t.Fatal(err)
	}
	refusing := map[string]bool{}
	for i, rel := range cons.Relays {
		if i%2 == 0 {
			refusing[rel.Fingerprint()] = true
			srv.FailUploadsTo(rel.Fingerprint())
		}
	}
	r := startTorctlRig(t, h, srv)
	r.lead()
	h.now = h.now.Add(3 * time.Second)
	r.m.step(r.ctx)
	if n := len(srv.Posts()); n != 2 {
		t.Fatalf("%d HSPOSTs, want 2", n)
	}
	settled := func() bool {
		recs, _ := h.state.PublishedAll(r.ctx, h.master.Address())
		if len(recs) != 2 {
			return false
		}
		for _, rec := range recs {
			for _, res := range rec.HSDirs {
				if res.Status == record.UploadPending {
					return false
				}
			}
		}
		return true
	}
	r.until("tor's answer to every upload", settled)
	refused := 0
	for slot, rec := range h.records() {
		for fp, res := range rec.HSDirs {
			want := record.UploadResult{Status: record.UploadUploaded, At: h.now}
			if refusing[fp] {
				want = record.UploadResult{Status: record.UploadFailed, Reason: "UPLOAD_REJECTED", At: h.now}
				refused++
			}
			if !res.At.Equal(want.At) || res.Status != want.Status || res.Reason != want.Reason {
				t.Errorf("%s at %s: recorded %+v, want %+v", slot, fp, res, want)
			}
		}
	}
	if refused == 0 {
		t.Fatal("no upload went to a refusing HSDir: the test proves nothing")
	}
	if n := len(r.m.pending); n != 0 {
		t.Errorf("%d HSDirs still have uploads waiting for tor", n)
	}
}

// torctlRig is a Manager of h's master service talking to a fake tor through the real control-port
// client.
type torctlRig struct {
	t      *testing.T
	h      *harness
	m      *Manager
	client *torctl.Client
	cfg    Config
	ctx    context.Context
}

// startTorctlRig serves h's network and backends on srv and starts a client and a Manager on it; the
// client's events reach the Manager only through until.
func startTorctlRig(t *testing.T, h *harness, srv *torctltest.Server) *torctlRig {
	t.Helper()
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
	return &torctlRig{t: t, h: h, m: m, client: client, cfg: cfg, ctx: ctx}
}

// until hands the client's events to the manager until cond holds (bounded in real time only so that a
// broken client cannot hang the test).
func (r *torctlRig) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case ev := <-r.client.Events():
			r.m.handleEvent(r.ctx, ev)
		case <-deadline:
			r.t.Fatalf("still waiting for %s", what)
		}
	}
}

// lead waits for the client's first connect, makes the manager leader and waits until it stored both
// backends' descriptors.
func (r *torctlRig) lead() {
	r.t.Helper()
	select {
	case ev := <-r.client.Events():
		if rc, ok := ev.(torctl.Reconnected); !ok || !rc.Initial {
			r.t.Fatalf("first event %#v, want the initial Reconnected", ev)
		}
		r.m.handleEvent(r.ctx, ev)
	case <-time.After(20 * time.Second):
		r.t.Fatal("the client did not connect to the fake tor")
	}
	r.h.lead.Set(true, 1)
	r.m.step(r.ctx)
	r.until("the backends' descriptors", func() bool {
		insts, _ := r.h.state.Instances(r.ctx, r.h.master.Address())
		return len(insts) == len(r.h.bes)
	})
}
