// Package procs runs an idle daemon on one P (GOMAXPROCS 1) and gives it back every P it started
// with while it spreads work over goroutines.
//
// Idle, the daemon and its embedded etcd do nothing but wake on timers, about twenty times a second
// (etcd's watch sync alone every 100 ms). With two Ps or more, the Go scheduler answers many of
// those wakeups by waking a second thread to look for work, which finds none and parks again: a
// profile of the idle daemon shows most of its CPU in those thread switches. Measured here
// (bench/run -only-idle, same run): the idle daemon cost 0.233 CPU-s a minute on one P against 0.257
// on two, with a third fewer context switches. A leader with many services, though, builds and
// signs descriptors on several goroutines, work that two or more Ps share. A Governor gives both.
package procs

import (
	"runtime"
	"sync"
)

// Governor switches the process between one P and its full count. The zero value and nil do
// nothing.
type Governor struct {
	mu   sync.Mutex
	full int // Ps while busy; at most 1: never change anything
	busy int // holds not yet released
	set  func(n int) int
}

// New returns a governor that lowers GOMAXPROCS to 1 now and raises it to full while Busy holds
// are out. With full <= 1 it changes nothing. Calling runtime.GOMAXPROCS turns off the runtime's
// own updates of the count (Go follows a container's CPU limit otherwise): pass the count the
// process should have when busy, e.g. runtime.GOMAXPROCS(0) at start.
func New(full int) *Governor { return newGovernor(full, runtime.GOMAXPROCS) }

func newGovernor(full int, set func(int) int) *Governor {
	g := &Governor{full: full, set: set}
	if full > 1 {
		set(1)
	}
	return g
}

// Busy gives the process its full count of Ps until release is called. Holds nest: the count
// drops to 1 when the last one is released. release may be called more than once.
func (g *Governor) Busy() (release func()) {
	if g == nil || g.full <= 1 {
		return func() {}
	}
	g.mu.Lock()
	g.busy++
	if g.busy == 1 {
		g.set(g.full)
	}
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.busy--
			if g.busy == 0 {
				g.set(1)
			}
			g.mu.Unlock()
		})
	}
}
