package publisher

import (
	"errors"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store"
)

// stepHolding advances the clock by d and runs one step, but keeps tor's answers to the uploads it
// made (and anything else tor reported) from the manager: they are returned, still in flight.
func (h *harness) stepHolding(d time.Duration) []torctl.Event {
	h.now = h.now.Add(d)
	h.m.step(h.ctx)
	var held []torctl.Event
	for {
		select {
		case ev := <-h.tor.events:
			held = append(held, ev)
			continue
		default:
		}
		return held
	}
}

// deliver hands events to the manager as tor would, then runs a step.
func (h *harness) deliver(evs ...torctl.Event) {
	for _, ev := range evs {
		h.m.handleEvent(h.ctx, ev)
	}
	h.m.step(h.ctx)
}

func (h *harness) records() map[string]store.PublishRecord {
	h.t.Helper()
	pubs, err := h.state.PublishedAll(h.ctx, h.master.Address())
	if err != nil {
		h.t.Fatal(err)
	}
	return pubs
}

// TestManagerRetriesUploadsLostWithTheControlConnection: tor's control connection drops while uploads
// wait for tor's verdict. Tor's answers are lost with the connection, so the uploads are settled as
// failed ("tor reconnected"), in the publish records too, and uploaded again after the retry backoff
// rather than at the hourly refresh.
func TestManagerRetriesUploadsLostWithTheControlConnection(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.set(true, 1)
	h.run()
	h.stepHolding(3 * time.Second) // the answers to these uploads never arrive
	posts := h.tor.takePosts()
	if len(posts) != 2 {
		t.Fatalf("%d uploads, want 2", len(posts))
	}
	sent := map[string]int{} // HSDir -> uploads
	for _, p := range posts {
		for _, s := range p.servers {
			sent[s]++
		}
	}
	for slot, r := range h.records() {
		for fp, res := range r.HSDirs {
			if res.Status != store.UploadPending {
				t.Fatalf("before tor answered, %s at %s is %q, want pending", slot, fp, res.Status)
			}
		}
	}

	h.deliver(torctl.Disconnected{Err: errors.New("connection reset by peer")}, torctl.Reconnected{})
	for slot, r := range h.records() {
		if len(r.HSDirs) != 8 {
			t.Fatalf("record %s has %d HSDirs, want 8", slot, len(r.HSDirs))
		}
		for fp, res := range r.HSDirs {
			if res.Status != store.UploadFailed || res.Reason != "tor reconnected" {
				t.Errorf("after the reconnect, %s at %s is %+v, want failed: tor reconnected", slot, fp, res)
			}
		}
	}
	if c := h.m.Status().Counters.UploadFailures; len(c) != 0 {
		t.Errorf("upload failures %v counted against HSDirs for a loss of tor's control connection", c)
	}

	// Retried with the backoff of failed uploads (15 s, then the next check), not at the refresh.
	h.advance(16 * time.Second)
	h.advance(DefaultConfig().CheckInterval)
	again := map[string]int{}
	for _, p := range h.tor.takePosts() {
		for _, s := range p.servers {
			again[s]++
		}
	}
	for fp, n := range sent {
		if again[fp] != n {
			t.Errorf("HSDir %s: %d uploads after the reconnect, want %d (one per descriptor lost)", fp, again[fp], n)
		}
	}
	for slot, r := range h.records() {
		for fp, res := range r.HSDirs {
			if res.Status != store.UploadUploaded {
				t.Errorf("after the retry, %s at %s is %+v, want uploaded", slot, fp, res)
			}
		}
	}
}
