package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a Clock for tests that moves only when Advance or Set is called.
// Timers and tickers fire, in deadline order, as the fake time passes their
// deadlines; like the real ones they never block: a tick nobody read is
// dropped. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake time forward by d and fires what fell due.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the fake time to t (never backwards: an earlier t only fires
// nothing) and fires every timer and tick due at or before it.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
		if len(f.waiters) == 0 || f.waiters[0].at.After(t) {
			break
		}
		w := f.waiters[0]
		if w.at.After(f.now) {
			f.now = w.at
		}
		select {
		case w.c <- f.now:
		default:
		}
		if w.period > 0 {
			w.at = w.at.Add(w.period)
		} else {
			f.waiters = f.waiters[1:]
		}
	}
	if t.After(f.now) {
		f.now = t
	}
}

// Waiters returns how many timers and tickers are armed: a test can wait
// for the code under test to be blocked on the clock before advancing it.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// NewTimer returns a timer that fires once the fake time reaches now + d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	w := &fakeWaiter{f: f, c: make(chan time.Time, 1)}
	f.arm(w, d, 0)
	return w
}

// NewTicker returns a ticker that fires every d of fake time; d must be
// positive.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	w := &fakeWaiter{f: f, c: make(chan time.Time, 1)}
	f.arm(w, d, d)
	return fakeTicker{w}
}

// arm (re)schedules w at now + d and reports whether it was armed before.
func (f *Fake) arm(w *fakeWaiter, d, period time.Duration) bool {
	f.mu.Lock()
	was := f.removeLocked(w)
	w.at, w.period = f.now.Add(d), period
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	if d <= 0 {
		f.Set(f.Now()) // due at once
	}
	return was
}

func (f *Fake) disarm(w *fakeWaiter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removeLocked(w)
}

func (f *Fake) removeLocked(w *fakeWaiter) bool {
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// fakeWaiter is a fake timer, or the state of a fake ticker (period > 0).
type fakeWaiter struct {
	f      *Fake
	c      chan time.Time
	at     time.Time
	period time.Duration
}

func (w *fakeWaiter) C() <-chan time.Time        { return w.c }
func (w *fakeWaiter) Stop() bool                 { return w.f.disarm(w) }
func (w *fakeWaiter) Reset(d time.Duration) bool { return w.f.arm(w, d, 0) }

type fakeTicker struct{ w *fakeWaiter }

func (t fakeTicker) C() <-chan time.Time { return t.w.c }
func (t fakeTicker) Stop()               { t.w.f.disarm(t.w) }
func (t fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	t.w.f.arm(t.w, d, d)
}
