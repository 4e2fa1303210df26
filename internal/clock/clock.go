// Package clock is obcluster's one clock: the current time, timers, tickers
// and a context-aware Sleep, behind a small interface so that code whose
// decisions depend on time can run on a fake clock in tests.
//
// Production code takes a Clock (nil meaning Real{}, see Or) and never calls
// time.Now, time.NewTimer or time.NewTicker itself. Tests use Fake, which
// moves only when told to, or embed Real and override Now when they need a
// controlled "now" but real waiting (for example against a real etcd).
//
// Files: clock.go (Clock, Real, Sleep), fake.go (Fake).
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers and tickers.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
	NewTicker(d time.Duration) Ticker
}

// Timer is a one-shot timer, like *time.Timer.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was
	// still armed.
	Stop() bool
	// Reset re-arms the timer to fire after d; it reports whether it was
	// still armed.
	Reset(d time.Duration) bool
}

// Ticker delivers the time every period, like *time.Ticker: a slow reader
// misses ticks rather than queueing them.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	Reset(d time.Duration)
}

// Or returns c, or Real{} when c is nil: the default of every Clock field.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Sleep waits d on c or until ctx ends, and reports whether the full wait
// passed (false: ctx ended first). A nil c is Real{}.
func Sleep(ctx context.Context, c Clock, d time.Duration) bool {
	if err := ctx.Err(); err != nil {
		return false
	}
	t := Or(c).NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer as a Timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker returns a time.Ticker as a Ticker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }
