package publisher

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store/record"
)

// setHealth hands h to the manager through its Run goroutine, as the daemon does, then stops it, so
// that the test drives the rest by hand with the fake clock.
func (h *harness) setHealth(hl Health) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	stopped := make(chan struct{})
	go func() { _ = h.m.Run(ctx, nil); close(stopped) }()
	err := h.m.SetHealth(ctx, hl)
	cancel()
	<-stopped
	if err != nil {
		h.t.Fatal(err)
	}
}

// A backend the leader's judge excludes leaves the next uploaded descriptors at once (no fetch, no
// debounce), shows as not live with the reason, and comes back as soon as the exclusion is lifted.
func TestManagerHealthExclusion(t *testing.T) {
	h := newHarness(t, 3, 10)
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 2 {
		t.Fatalf("%d initial uploads", len(p))
	}
	dead := h.bes[0].Key.Address()
	svc := h.master.Address()
	h.setHealth(Health{Epoch: 1,
		Excluded: map[string]map[string]string{svc: {dead: "3 failures from 2 nodes over 1m0s"}},
		Verdicts: map[string]record.BackendHealth{dead: {Address: dead, State: record.HealthDown, Since: h.now,
			Reason: "3 failures from 2 nodes over 1m0s"}},
	})
	h.advance(0)
	posts := h.tor.TakePosts()
	if len(posts) != 2 {
		t.Fatalf("%d uploads right after the exclusion, want 2 (one per descriptor)", len(posts))
	}
	for hsdir, got := range h.decodePosts(posts) {
		if got[dead] != 0 || len(got) != 2 {
			t.Errorf("HSDir %s: backends %v, want the two others only", hsdir, got)
		}
	}
	for _, b := range h.m.Status().Services[0].Backends {
		if b.Address != dead+".onion" {
			if !b.Live || b.Health != "" {
				t.Errorf("status of a healthy backend: %+v", b)
			}
			continue
		}
		if b.Live || !strings.HasPrefix(b.Why, "down: 3 failures") || b.Health != record.HealthDown ||
			b.HealthReason != "3 failures from 2 nodes over 1m0s" {
			t.Errorf("status of the excluded backend: %+v", b)
		}
	}
	js, err := h.m.Status().PythonJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"health":"down"`, `"healthReason":"3 failures from 2 nodes over 1m0s"`, `"excluded":true`,
		`"introPointsNum":3`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("status JSON lacks %s:\n%s", want, js)
		}
	}
	if n := strings.Count(string(js), `"health":`); n != 1 {
		t.Errorf("status JSON has %d health fields, want 1 (backends without a verdict have none):\n%s", n, js)
	}

	h.setHealth(Health{Epoch: 1, Verdicts: map[string]record.BackendHealth{dead: {Address: dead, State: record.HealthUp}}})
	h.advance(0)
	posts = h.tor.TakePosts()
	if len(posts) != 2 {
		t.Fatalf("%d uploads right after the exclusion was lifted, want 2", len(posts))
	}
	for hsdir, got := range h.decodePosts(posts) {
		if got[dead] == 0 || len(got) != 3 {
			t.Errorf("HSDir %s: backends %v, want all three again", hsdir, got)
		}
	}
}

// With HealthWait, a new leader publishes only once the judge has handed in the health of its
// leadership (so that it does not re-add a backend the previous leader found dead), or once the wait
// has passed (health never stops publishing).
func TestManagerWaitsForHealthAtLeadershipStart(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.m.cfg.HealthWait = 10 * time.Second
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("%d uploads before the health of the leadership was known", len(p))
	}
	dead := h.bes[0].Key.Address()
	h.setHealth(Health{Epoch: 1, Excluded: map[string]map[string]string{h.master.Address(): {dead: "down"}}})
	h.advance(0)
	posts := h.tor.TakePosts()
	h.advance(3 * time.Second) // the first uploads of a blinded key may wait for the HSDirs' revisions
	posts = append(posts, h.tor.TakePosts()...)
	if len(posts) != 2 {
		t.Fatalf("%d uploads once the health was handed in, want 2", len(posts))
	}
	for hsdir, got := range h.decodePosts(posts) {
		if got[dead] != 0 {
			t.Errorf("HSDir %s lists the excluded backend: %v", hsdir, got)
		}
	}

	// A leader whose judge says nothing publishes after the wait.
	h2 := newHarness(t, 2, 8)
	h2.m.cfg.HealthWait = 10 * time.Second
	h2.lead.Set(true, 1)
	h2.run()
	h2.advance(3 * time.Second)
	if p := h2.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("%d uploads before the wait passed", len(p))
	}
	h2.advance(10 * time.Second)
	h2.advance(3 * time.Second)
	if p := h2.tor.TakePosts(); len(p) != 2 {
		t.Errorf("%d uploads after the health wait passed without a judgement, want 2", len(p))
	}
}

// A judgement handed in while a backend's descriptor has just arrived does not cut that arrival's
// debounce short: the first upload of a new leader waits for the other backends' descriptors of the
// same fetch, as it does without health (obhost TestDaemonLeadsPublishesHandsOverAndStops once saw a
// first upload with one backend of two when the judge answered just after the first descriptor).
func TestManagerFirstJudgementKeepsTheDebounce(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.m.cfg.HealthWait = 10 * time.Second
	h.lead.Set(true, 1)
	h.m.step(h.ctx) // leads and fetches; the health of the leadership is not known yet
	first := h.bes[0].Key.Address()
	var held []torctl.Event
	for delivered := false; !delivered; {
		select {
		case ev := <-h.tor.Events():
			if r, ok := ev.(torctl.DescReceived); ok && r.Address == first {
				h.m.handleEvent(h.ctx, ev)
				h.m.step(h.ctx)
				delivered = true
			} else {
				held = append(held, ev)
			}
		default:
			t.Fatal("no descriptor of the first backend was fetched")
		}
	}
	h.setHealth(Health{Epoch: 1})
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("%d uploads as the judgement arrived, within the debounce of the first backend's descriptor", len(p))
	}
	for _, ev := range held {
		h.m.handleEvent(h.ctx, ev)
	}
	h.advance(3 * time.Second)
	h.advance(3 * time.Second) // the first uploads of a blinded key may wait for the HSDirs' revisions
	posts := h.tor.TakePosts()
	if len(posts) == 0 {
		t.Fatal("no upload after the debounce")
	}
	for hsdir, got := range h.decodePosts(posts) {
		if len(got) != 2 {
			t.Errorf("HSDir %s got a descriptor with the intro points of %d backends, want both: %v", hsdir, len(got), got)
		}
	}
}
