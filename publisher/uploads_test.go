package publisher

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/publishertest"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store/record"
)

// stepHolding advances the clock by d and runs one step, but keeps tor's answers to the uploads it
// made (and anything else tor reported) from the manager: they are returned, still in flight.
func (h *harness) stepHolding(d time.Duration) []torctl.Event {
	h.now = h.now.Add(d)
	h.m.step(h.ctx)
	var held []torctl.Event
	for {
		select {
		case ev := <-h.tor.Events():
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

func (h *harness) records() map[string]record.Publish {
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
	h.lead.Set(true, 1)
	h.run()
	h.stepHolding(3 * time.Second) // the answers to these uploads never arrive
	posts := h.tor.TakePosts()
	if len(posts) != 2 {
		t.Fatalf("%d uploads, want 2", len(posts))
	}
	sent := map[string]int{} // HSDir -> uploads
	for _, p := range posts {
		for _, s := range p.Servers {
			sent[s]++
		}
	}
	for slot, r := range h.records() {
		for fp, res := range r.HSDirs {
			if res.Status != record.UploadPending {
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
			if res.Status != record.UploadFailed || res.Reason != "tor reconnected" {
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
	for _, p := range h.tor.TakePosts() {
		for _, s := range p.Servers {
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
			if res.Status != record.UploadUploaded {
				t.Errorf("after the retry, %s at %s is %+v, want uploaded", slot, fp, res)
			}
		}
	}
}

// bothOnOneHSDir makes the first upload round and holds tor's answers. It returns the blinded keys of
// the two descriptors in upload order, an HSDir x responsible for both, and the held answers of every
// other HSDir (all accepted), for a test to add x's own answers to.
func (h *harness) bothOnOneHSDir() (first, second ed25519.PublicKey, x string, others []torctl.Event) {
	h.t.Helper()
	h.lead.Set(true, 1)
	h.run()
	held := h.stepHolding(3 * time.Second)
	posts := h.tor.TakePosts()
	if len(posts) != 2 {
		h.t.Fatalf("%d uploads, want 2", len(posts))
	}
	d0, _ := h.decodeAny(posts[0].Desc)
	d1, _ := h.decodeAny(posts[1].Desc)
	x = posts[0].Servers[0]
	if !slices.Contains(posts[1].Servers, x) {
		h.t.Fatalf("HSDir %s is not responsible for both descriptors", x)
	}
	for _, ev := range held {
		if u, ok := ev.(torctl.Uploaded); !ok || u.HSDir != x {
			others = append(others, ev)
		}
	}
	return d0.BlindedKey, d1.BlindedKey, x, others
}

// TestManagerCreditsANamedRefusalToItsDescriptor: as in TestManagerCreditsUploadResultsToTheRightDescriptor,
// one HSDir holds both blinded keys, accepts one descriptor and refuses the other, and the acceptance
// arrives first. Tor's refusal names the refused descriptor's blinded key (HS_DESC FAILED ... NO_AUTH
// $fp~nick <blinded> REASON=UPLOAD_REJECTED), so each upload gets its own answer at once: the refused
// one is failed with tor's reason, the accepted one uploaded, and nothing is recorded as ambiguous.
func TestManagerCreditsANamedRefusalToItsDescriptor(t *testing.T) {
	h := newHarness(t, 2, 8)
	refusedKey, acceptedKey, x, answers := h.bothOnOneHSDir()
	refused, accepted := record.BlindedKeyHex(refusedKey), record.BlindedKeyHex(acceptedKey)
	answers = append(answers, torctl.Uploaded{Address: h.master.Address(), HSDir: x},
		torctl.UploadFailed{Address: h.master.Address(), HSDir: x, Reason: "UPLOAD_REJECTED",
			Blinded: base64.RawStdEncoding.EncodeToString(refusedKey)})
	h.deliver(answers...)
	recs := h.records()
	if r := recs[refused].HSDirs[x]; r.Status != record.UploadFailed || r.Reason != "UPLOAD_REJECTED" {
		t.Errorf("the refused descriptor at %s is recorded %+v, want failed: UPLOAD_REJECTED", x, r)
	}
	if r := recs[accepted].HSDirs[x]; r.Status != record.UploadUploaded {
		t.Errorf("the accepted descriptor at %s is recorded %+v, want uploaded", x, r)
	}
	if n := len(h.m.pending); n != 0 {
		t.Errorf("%d HSDirs still have uploads waiting for tor", n)
	}
}

// TestManagerCreditsUploadResultsToTheRightDescriptor: one HSDir holds both blinded keys (both
// descriptors of the service are uploaded to it) and accepts only one of them. Here neither answer names
// the descriptor (tor's UPLOADED never does; a FAILED without the blinded key neither), and the
// answers arrive in the opposite order of the uploads. The failure must not be credited to the
// descriptor that was accepted (nor the acceptance to the one that was refused): the refused one is
// retried until the HSDir has it, and the records end up saying which descriptor it holds.
func TestManagerCreditsUploadResultsToTheRightDescriptor(t *testing.T) {
	h := newHarness(t, 2, 8)
	first, second, x, answers := h.bothOnOneHSDir() // uploaded in this order
	refused, accepted := record.BlindedKeyHex(first), record.BlindedKeyHex(second)
	slotOf := func(p publishertest.Post) string {
		t.Helper()
		d, _ := h.decodeAny(p.Desc)
		return record.BlindedKeyHex(d.BlindedKey)
	}
	// Tor's answers: every other HSDir accepts both; x answers first for the second upload (accepted),
	// then for the first (refused).
	answers = append(answers, torctl.Uploaded{Address: h.master.Address(), HSDir: x},
		torctl.UploadFailed{Address: h.master.Address(), HSDir: x, Reason: "UPLOAD_REJECTED"})
	h.deliver(answers...)
	if r := h.records()[refused].HSDirs[x]; r.Status != record.UploadFailed {
		t.Fatalf("the refused descriptor at %s is recorded %+v, want failed", x, r)
	}

	// Retries: x keeps refusing that descriptor and accepts the other; tor answers each upload truly.
	for i := 0; i < 8; i++ {
		held := h.stepHolding(5 * time.Second)
		var answers []torctl.Event
		for _, ev := range held {
			if _, ok := ev.(torctl.Uploaded); !ok {
				answers = append(answers, ev)
			}
		}
		toX := 0
		for _, p := range h.tor.TakePosts() {
			for _, s := range p.Servers {
				if s == x {
					toX++
				}
				if s == x && slotOf(p) == refused {
					answers = append(answers, torctl.UploadFailed{Address: p.Addr, HSDir: s, Reason: "UPLOAD_REJECTED"})
				} else {
					answers = append(answers, torctl.Uploaded{Address: p.Addr, HSDir: s})
				}
			}
		}
		if toX > 1 {
			t.Fatalf("retry %d: %d uploads in flight to %s at once: tor's answers could not be told apart", i, toX, x)
		}
		h.deliver(answers...)
	}
	recs := h.records()
	if r := recs[refused].HSDirs[x]; r.Status != record.UploadFailed || r.Reason != "UPLOAD_REJECTED" {
		t.Errorf("the descriptor %s refuses is recorded %+v, want failed: UPLOAD_REJECTED", x, r)
	}
	if r := recs[accepted].HSDirs[x]; r.Status != record.UploadUploaded {
		t.Errorf("the descriptor %s accepts is recorded %+v, want uploaded", x, r)
	}
	for slot, r := range recs {
		for fp, res := range r.HSDirs {
			if fp != x && res.Status != record.UploadUploaded {
				t.Errorf("%s at %s is %+v, want uploaded", slot, fp, res)
			}
		}
	}
}

// TestManagerWritesUploadResultsOncePerRecord: tor answers every upload of a round; each publish
// record is written once with all its HSDirs' results, not once per answer (8 HSDirs, 2 descriptors:
// 16 etcd writes a round).
func TestManagerWritesUploadResultsOncePerRecord(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.lead.Set(true, 1)
	h.run()
	held := h.stepHolding(3 * time.Second)
	if posts := h.tor.TakePosts(); len(posts) != 2 {
		t.Fatalf("%d uploads, want 2", len(posts))
	}
	before := h.state.Writes()
	h.deliver(held...)
	recs := h.records()
	if got := h.state.Writes() - before; got != len(recs) {
		t.Errorf("tor's answers to one round made %d writes, want %d (one per publish record)", got, len(recs))
	}
	for slot, r := range recs {
		if len(r.HSDirs) == 0 {
			t.Errorf("record %s has no HSDir", slot)
		}
		for fp, res := range r.HSDirs {
			if res.Status != record.UploadUploaded {
				t.Errorf("record %s, HSDir %s: %q, want uploaded", slot, fp, res.Status)
			}
		}
	}
}
