package torctl

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// UploadOutcome is what became of a descriptor upload to one HSDir.
type UploadOutcome int

const (
	// OutcomePending: no UPLOADED or FAILED event yet and the deadline has not passed.
	OutcomePending UploadOutcome = iota
	// OutcomeUploaded: tor reported HS_DESC UPLOADED.
	OutcomeUploaded
	// OutcomeFailed: tor reported HS_DESC FAILED (see UploadResult.Reason).
	OutcomeFailed
	// OutcomeTimedOut: the deadline passed with no event for this HSDir.
	OutcomeTimedOut
)

func (o UploadOutcome) String() string {
	switch o {
	case OutcomePending:
		return "pending"
	case OutcomeUploaded:
		return "uploaded"
	case OutcomeFailed:
		return "failed"
	case OutcomeTimedOut:
		return "timed-out"
	}
	return fmt.Sprintf("UploadOutcome(%d)", int(o))
}

// UploadResult is the outcome of one upload to one HSDir.
type UploadResult struct {
	// HSDir is the 40-hex upper-case fingerprint.
	HSDir   string
	Outcome UploadOutcome
	// Reason is tor's REASON= for OutcomeFailed.
	Reason string
}

// UploadTracker collects the per-HSDir results of one HSPOST from Uploaded and UploadFailed
// events. It is plain state with no clock and no locking: feed it with Observe, ask it with Done
// and Results.
//
// Tor's upload events name only the address and the HSDir, not the descriptor, so two posts of
// the same address to the same HSDir in flight at once cannot be told apart.
type UploadTracker struct {
	address  string
	deadline time.Time
	servers  []string // normalized, in the order given, without duplicates
	results  map[string]UploadResult
	pending  int
}

// NewUploadTracker starts tracking a post of addr's descriptor to servers, giving up on the
// missing results at deadline.
func NewUploadTracker(addr string, servers []string, deadline time.Time) (*UploadTracker, error) {
	if err := checkOnionAddress(addr); err != nil {
		return nil, err
	}
	t := &UploadTracker{
		address:  strings.ToLower(addr),
		deadline: deadline,
		results:  make(map[string]UploadResult, len(servers)),
	}
	for _, s := range servers {
		fp, err := normalizeFingerprint(s)
		if err != nil {
			return nil, err
		}
		if _, dup := t.results[fp]; dup {
			continue
		}
		t.servers = append(t.servers, fp)
		t.results[fp] = UploadResult{HSDir: fp, Outcome: OutcomePending}
		t.pending++
	}
	return t, nil
}

// Observe records ev if it is an Uploaded or UploadFailed event for this address and an HSDir
// still pending, and reports whether it did. The first result for an HSDir wins.
func (t *UploadTracker) Observe(ev Event) bool {
	var addr, hsdir, reason string
	outcome := OutcomeUploaded
	switch e := ev.(type) {
	case Uploaded:
		addr, hsdir = e.Address, e.HSDir
	case UploadFailed:
		addr, hsdir, reason, outcome = e.Address, e.HSDir, e.Reason, OutcomeFailed
	default:
		return false
	}
	if !strings.EqualFold(addr, t.address) {
		return false
	}
	r, ok := t.results[strings.ToUpper(hsdir)]
	if !ok || r.Outcome != OutcomePending {
		return false
	}
	r.Outcome, r.Reason = outcome, reason
	t.results[r.HSDir] = r
	t.pending--
	return true
}

// Complete reports whether every HSDir has reported.
func (t *UploadTracker) Complete() bool { return t.pending == 0 }

// Done reports whether there is nothing left to wait for at now: all results are in or the
// deadline has passed.
func (t *UploadTracker) Done(now time.Time) bool {
	return t.Complete() || !now.Before(t.deadline)
}

// Deadline returns the time after which missing results count as timed out.
func (t *UploadTracker) Deadline() time.Time { return t.deadline }

// Results returns one result per HSDir, in the order the servers were given. HSDirs still
// pending at now are OutcomeTimedOut if the deadline has passed.
func (t *UploadTracker) Results(now time.Time) []UploadResult {
	out := make([]UploadResult, 0, len(t.servers))
	for _, fp := range t.servers {
		r := t.results[fp]
		if r.Outcome == OutcomePending && !now.Before(t.deadline) {
			r.Outcome = OutcomeTimedOut
		}
		out = append(out, r)
	}
	return out
}

// uploadRegistry routes upload events from the event reader to the trackers of
// PostDescriptorAndWait calls in flight.
type uploadRegistry struct {
	mu       sync.Mutex
	watchers []*uploadWatch // oldest first
}

type uploadWatch struct {
	tracker *UploadTracker // guarded by uploadRegistry.mu
	err     error          // set by abort; guarded by uploadRegistry.mu
	notify  chan struct{}  // capacity 1
}

func newUploadRegistry() *uploadRegistry { return &uploadRegistry{} }

func (r *uploadRegistry) add(t *UploadTracker) *uploadWatch {
	w := &uploadWatch{tracker: t, notify: make(chan struct{}, 1)}
	r.mu.Lock()
	r.watchers = append(r.watchers, w)
	r.mu.Unlock()
	return w
}

func (r *uploadRegistry) remove(w *uploadWatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.watchers {
		if x == w {
			r.watchers = append(r.watchers[:i], r.watchers[i+1:]...)
			return
		}
	}
}

// observe gives ev to the oldest watcher still waiting for it.
func (r *uploadRegistry) observe(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.watchers {
		if w.tracker.Observe(ev) {
			wake(w.notify)
			return
		}
	}
}

// abort ends every wait in flight with err: after a reconnect their events will never come.
func (r *uploadRegistry) abort(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.watchers {
		if w.err == nil {
			w.err = err
		}
		wake(w.notify)
	}
}

// state returns the watch's results at now, whether it is done, and its abort error.
func (r *uploadRegistry) state(w *uploadWatch, now time.Time) ([]UploadResult, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return w.tracker.Results(now), w.tracker.Done(now) || w.err != nil, w.err
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// PostDescriptorAndWait posts desc like PostDescriptor, then waits until every server has
// reported UPLOADED or FAILED, or wait has passed, and returns one result per server (in the
// given order; missing ones OutcomeTimedOut). If tor rejects the command the error is the
// ReplyError and there are no results. If ctx ends or the connection is lost while waiting, the
// results so far come back with the error.
func (c *Client) PostDescriptorAndWait(ctx context.Context, desc []byte, addr string, servers []string, wait time.Duration) ([]UploadResult, error) {
	tr, err := NewUploadTracker(addr, servers, time.Now().Add(wait))
	if err != nil {
		return nil, err
	}
	// Register before posting: tor may report the first upload before HSPOST's reply is read.
	w := c.uploads.add(tr)
	defer c.uploads.remove(w)
	if err := c.PostDescriptor(ctx, desc, addr, servers); err != nil {
		return nil, err
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		results, done, err := c.uploads.state(w, time.Now())
		if err != nil {
			return results, fmt.Errorf("torctl: HSPOST %s: waiting for uploads: %w", addr, err)
		}
		if done {
			return results, nil
		}
		select {
		case <-w.notify:
		case <-timer.C:
		case <-ctx.Done():
			return results, fmt.Errorf("torctl: HSPOST %s: waiting for uploads: %w", addr, ctx.Err())
		}
	}
}
