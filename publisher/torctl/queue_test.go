package torctl

import (
	"context"
	"testing"
	"time"
)

// TestEventQueueNeverBlocks pushes far more events than the limit with nobody reading: every push
// returns, the overflow is counted, and the survivors come out in order.
func TestEventQueueNeverBlocks(t *testing.T) {
	const limit, total = 50, 10000
	q := newEventQueue(limit)
	kept := 0
	for i := range total {
		if q.push(Uploaded{Address: "a", HSDir: string(rune('A' + i%26))}) {
			kept++
		}
	}
	if kept != limit {
		t.Errorf("kept %d events, want %d", kept, limit)
	}
	if got := q.droppedCount(); got != total-limit {
		t.Errorf("dropped %d, want %d", got, total-limit)
	}

	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Event)
	done := make(chan struct{})
	go func() {
		q.deliver(ctx, out)
		close(done)
	}()
	for i := range limit {
		select {
		case ev := <-out:
			if want := string(rune('A' + i%26)); ev.(Uploaded).HSDir != want {
				t.Fatalf("event %d has HSDir %q, want %q", i, ev.(Uploaded).HSDir, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d not delivered", i)
		}
	}
	// Space again: a new push is kept and delivered.
	if !q.push(Reconnected{}) {
		t.Fatal("push after draining was dropped")
	}
	select {
	case ev := <-out:
		if _, ok := ev.(Reconnected); !ok {
			t.Fatalf("got %#v, want Reconnected", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event pushed after draining not delivered")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deliver did not stop after cancel")
	}
}

func BenchmarkEventQueuePush(b *testing.B) {
	q := newEventQueue(1 << 30)
	ev := Uploaded{Address: testAddr, HSDir: fpA}
	for b.Loop() {
		q.push(ev)
	}
}
