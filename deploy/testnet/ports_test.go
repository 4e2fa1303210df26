package testnet

import (
	"sync"
	"testing"
)

func TestAllocPortsNeverRepeats(t *testing.T) {
	n := newNetwork(Options{}.withDefaults(), &Description{})
	seen := make(map[int]bool)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ports, err := n.allocPorts(4)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ports {
				if seen[p] {
					t.Errorf("port %d handed out twice", p)
				}
				seen[p] = true
			}
		})
	}
	wg.Wait()
	if len(seen) != 32 {
		t.Fatalf("%d distinct ports, want 32", len(seen))
	}
}

func TestFreePortsBelowEphemeralRange(t *testing.T) {
	hi := ephemeralStart()
	if hi-lowestPort < 1000 {
		t.Skipf("ephemeral range starts at %d: free ports come from the kernel", hi)
	}
	ports, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[int]bool)
	for _, p := range ports {
		if p < lowestPort || p >= hi || seen[p] {
			t.Errorf("port %d: outside [%d, %d) or repeated", p, lowestPort, hi)
		}
		seen[p] = true
	}
}
