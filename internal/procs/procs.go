// Package procs runs an idle daemon on one P (GOMAXPROCS 1) and gives it back every P it started
// with while it spreads work over goroutines.
//
// Idle, the daemon and its embedded etcd do nothing but wake on timers, about twenty times a second
// (etcd's watch sync alone every 100 ms). With two Ps or more, the Go scheduler answers many of
// those wakeups by waking a second thread to look for work, which finds none and parks again: a
// profile of the idle daemon shows most of its CPU in those thread switches. Measured here
// (bench/run -only-idle, same run): the idle daemon cost 0.320 CPU-s a minute with the governor
// against 0.357 pinned to two Ps, with 5154 context switches a minute against 7365. A leader with
// many services, though, builds and signs descriptors on several goroutines, work that two or more
// Ps share. A Governor gives both.
package procs

import (
	"runtime"
	"sync"
	"time"
)

// DefaultIdleAfter is how long after the last hold is released the count drops to 1. A busy
// publisher takes and releases holds many times a second (each batch of tor events, each round of
// writes); its sequential work between them, and etcd's, keeps every P meanwhile.
const DefaultIdleAfter = 2 * time.Second

// Governor switches the process between one P and its full count. A nil Governor does nothing.
type Governor struct {
	full      int // Ps while busy; at most 1: never change anything
	idleAfter time.Duration
	set       func(n int) int

	mu      sync.Mutex
	busy    int         // holds not yet released
	raised  bool        // the count is full
	stopped bool        // Stop was called: the count stays full
	drop    *time.Timer // runs dropIfIdle idleAfter after the last release
}

// New returns a governor that lowers GOMAXPROCS to 1 now and raises it to full while Busy holds
// are out, and until DefaultIdleAfter after the last one. With full <= 1 it changes nothing.
// Calling runtime.GOMAXPROCS turns off the runtime's own updates of the count (Go follows a
// container's CPU limit otherwise): pass the count the process should have when busy, e.g.
// runtime.GOMAXPROCS(0) at start.
func New(full int) *Governor { return newGovernor(full, DefaultIdleAfter, runtime.GOMAXPROCS) }

func newGovernor(full int, idleAfter time.Duration, set func(int) int) *Governor {
	g := &Governor{full: full, idleAfter: idleAfter, set: set}
	if full > 1 {
		set(1)
	}
	return g
}

// Busy gives the process its full count of Ps until release is called, and for the governor's
// idle time after the last release. Holds nest. release may be called more than once.
func (g *Governor) Busy() (release func()) {
	if g == nil || g.full <= 1 {
		return func() {}
	}
	g.mu.Lock()
	g.busy++
	if !g.raised {
		g.set(g.full)
		g.raised = true
	}
	g.mu.Unlock()
	var once sync.Once
	return func() { once.Do(g.release) }
}

func (g *Governor) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy--
	if g.busy > 0 || g.stopped {
		return
	}
	if g.drop == nil {
		g.drop = time.AfterFunc(g.idleAfter, g.dropIfIdle)
	} else {
		g.drop.Reset(g.idleAfter)
	}
}

// dropIfIdle lowers the count to 1 unless a hold is out.
func (g *Governor) dropIfIdle() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy == 0 && g.raised && !g.stopped {
		g.set(1)
		g.raised = false
	}
}

// Stop gives the process its full count back for good and cancels a pending drop to 1, so that no
// timer of the governor changes the count afterwards. Call it when the daemon it served is done.
func (g *Governor) Stop() {
	if g == nil || g.full <= 1 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	if g.drop != nil {
		g.drop.Stop()
	}
	if !g.raised {
		g.set(g.full)
		g.raised = true
	}
}
