package procs

import (
	"runtime"
	"sync"
	"testing"
)

// recorder stands in for runtime.GOMAXPROCS.
type recorder struct {
	mu  sync.Mutex
	n   int
	log []int
}

func (r *recorder) set(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.n
	r.n = n
	r.log = append(r.log, n)
	return prev
}

func (r *recorder) now() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func TestGovernorHoldsNest(t *testing.T) {
	r := &recorder{n: 4}
	g := newGovernor(4, r.set)
	if r.now() != 1 {
		t.Fatalf("a new governor left GOMAXPROCS at %d, want 1", r.now())
	}
	a := g.Busy()
	if r.now() != 4 {
		t.Fatalf("busy: GOMAXPROCS %d, want 4", r.now())
	}
	b := g.Busy()
	a()
	a() // a second release of the same hold changes nothing
	if r.now() != 4 {
		t.Fatalf("one of two holds released: GOMAXPROCS %d, want 4", r.now())
	}
	b()
	if r.now() != 1 {
		t.Fatalf("every hold released: GOMAXPROCS %d, want 1", r.now())
	}
	// Only the changes were made: down at start, up at the first hold, down at the last release.
	if want := []int{1, 4, 1}; len(r.log) != len(want) || r.log[0] != 1 || r.log[1] != 4 || r.log[2] != 1 {
		t.Fatalf("GOMAXPROCS set to %v, want %v", r.log, want)
	}
}

func TestGovernorConcurrentHolds(t *testing.T) {
	r := &recorder{n: 2}
	g := newGovernor(2, r.set)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release := g.Busy()
			if n := r.now(); n != 2 {
				t.Errorf("inside a hold: GOMAXPROCS %d, want 2", n)
			}
			release()
		}()
	}
	wg.Wait()
	if r.now() != 1 {
		t.Fatalf("after every hold: GOMAXPROCS %d, want 1", r.now())
	}
}

func TestGovernorOneProcOrNilChangesNothing(t *testing.T) {
	r := &recorder{n: 1}
	newGovernor(1, r.set).Busy()()
	var nilGov *Governor
	nilGov.Busy()()
	if len(r.log) != 0 {
		t.Fatalf("GOMAXPROCS set to %v by a governor of one P", r.log)
	}
}

// The real runtime setting follows the holds.
func TestGovernorSetsRuntime(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	g := New(3)
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("idle: GOMAXPROCS %d, want 1", n)
	}
	release := g.Busy()
	if n := runtime.GOMAXPROCS(0); n != 3 {
		t.Fatalf("busy: GOMAXPROCS %d, want 3", n)
	}
	release()
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("released: GOMAXPROCS %d, want 1", n)
	}
}
