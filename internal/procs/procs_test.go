package procs

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
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

// never is an idle time no test waits for: the tests call dropIfIdle where the timer would.
const never = time.Hour

func TestGovernorHoldsNestAndDropWhenIdle(t *testing.T) {
	r := &recorder{n: 4}
	g := newGovernor(4, never, r.set)
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
	g.dropIfIdle()
	if r.now() != 4 {
		t.Fatalf("one of two holds released: GOMAXPROCS %d, want 4", r.now())
	}
	b()
	if r.now() != 4 {
		t.Fatalf("right after the last release: GOMAXPROCS %d, want 4 until the idle time has passed", r.now())
	}
	// A hold taken again before the idle time passed keeps the count, without setting it again.
	c := g.Busy()
	g.dropIfIdle()
	if r.now() != 4 {
		t.Fatalf("a hold out when the idle time passed: GOMAXPROCS %d, want 4", r.now())
	}
	c()
	g.dropIfIdle()
	if r.now() != 1 {
		t.Fatalf("idle after every hold: GOMAXPROCS %d, want 1", r.now())
	}
	// Only the changes were made: down at start, up at the first hold, down when idle.
	if want := []int{1, 4, 1}; !slices.Equal(r.log, want) {
		t.Fatalf("GOMAXPROCS set to %v, want %v", r.log, want)
	}
}

func TestGovernorConcurrentHolds(t *testing.T) {
	r := &recorder{n: 2}
	g := newGovernor(2, never, r.set)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release := g.Busy()
			if n := r.now(); n != 2 {
				t.Errorf("inside a hold: GOMAXPROCS %d, want 2", n)
			}
			g.dropIfIdle() // as if the timer of an earlier release fired now
			if n := r.now(); n != 2 {
				t.Errorf("inside a hold, after an idle timer: GOMAXPROCS %d, want 2", n)
			}
			release()
		}()
	}
	wg.Wait()
	g.dropIfIdle()
	if r.now() != 1 {
		t.Fatalf("idle after every hold: GOMAXPROCS %d, want 1", r.now())
	}
}

func TestGovernorOneProcOrNilChangesNothing(t *testing.T) {
	r := &recorder{n: 1}
	newGovernor(1, never, r.set).Busy()()
	var nilGov *Governor
	nilGov.Busy()()
	if len(r.log) != 0 {
		t.Fatalf("GOMAXPROCS set to %v by a governor of one P", r.log)
	}
}

// The real runtime setting follows the holds, and drops on its own once the idle time has passed.
func TestGovernorSetsRuntime(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	g := newGovernor(3, 20*time.Millisecond, runtime.GOMAXPROCS)
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("idle: GOMAXPROCS %d, want 1", n)
	}
	release := g.Busy()
	if n := runtime.GOMAXPROCS(0); n != 3 {
		t.Fatalf("busy: GOMAXPROCS %d, want 3", n)
	}
	release()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the last release: GOMAXPROCS %d, want 1", runtime.GOMAXPROCS(0))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// After Stop the count is full for good: neither a late idle timer nor a hold released afterwards
// lowers it.
func TestGovernorStopRestoresForGood(t *testing.T) {
	r := &recorder{n: 2}
	g := newGovernor(2, never, r.set)
	hold := g.Busy()
	hold()
	g.dropIfIdle()
	if r.now() != 1 {
		t.Fatalf("idle before Stop: GOMAXPROCS %d, want 1", r.now())
	}
	g.Stop()
	if r.now() != 2 {
		t.Fatalf("after Stop: GOMAXPROCS %d, want 2", r.now())
	}
	late := g.Busy()
	late()
	g.dropIfIdle()
	if r.now() != 2 {
		t.Fatalf("a hold released and an idle timer after Stop: GOMAXPROCS %d, want 2", r.now())
	}
	g.Stop() // twice is fine
	var nilGov *Governor
	nilGov.Stop()
}
