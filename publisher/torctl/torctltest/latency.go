package torctltest

import (
	"math/rand/v2"
	"time"
)

// SetEventLatency delays tor's part after HSFETCH and HSPOST: each HSDir's HS_DESC events (the
// descriptor served or the fetch failed, the upload acknowledged or refused) are sent after a delay
// drawn uniformly from [lo, hi], independently per HSDir, as a real tor reports them once its circuit
// to that HSDir has done its work. The command itself is answered at once, as tor does. Zero (the
// default) sends the events right after the reply. Close waits for the delayed events.
func (s *Server) SetEventLatency(lo, hi time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencyLo, s.latencyHi = lo, max(lo, hi)
}

// later runs emit after the event latency, on its own goroutine when there is one.
func (s *Server) later(emit func()) {
	s.mu.Lock()
	lo, hi, closed := s.latencyLo, s.latencyHi, s.closed
	if hi <= 0 || closed {
		s.mu.Unlock()
		emit()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	d := lo
	if hi > lo {
		d += rand.N(hi - lo + 1)
	}
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			emit()
		case <-s.stop:
		}
	}()
}
