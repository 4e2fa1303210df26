package torctl

import (
	"context"
	"sync"
)

// eventQueue sits between the event reader and the consumer. push never blocks: when limit events
// are already waiting, the new one is dropped and counted, so a slow consumer can never stall the
// reader of the control connection (and with it tor's view of us as a live controller).
type eventQueue struct {
	limit  int
	notify chan struct{} // capacity 1: "the queue may be non-empty"

	mu      sync.Mutex
	items   []Event
	dropped uint64
}

func newEventQueue(limit int) *eventQueue {
	return &eventQueue{limit: limit, notify: make(chan struct{}, 1)}
}

// push appends ev, or drops it when the queue is full. It reports whether ev was kept.
func (q *eventQueue) push(ev Event) bool {
	q.mu.Lock()
	kept := len(q.items) < q.limit
	if kept {
		q.items = append(q.items, ev)
	} else {
		q.dropped++
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return kept
}

// pop removes and returns the oldest event, if any.
func (q *eventQueue) pop() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false
	}
	ev := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go once drained
	}
	return ev, true
}

// droppedCount returns how many events push has dropped so far.
func (q *eventQueue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// deliver moves events to out, in order, until ctx is done.
func (q *eventQueue) deliver(ctx context.Context, out chan<- Event) {
	for {
		ev, ok := q.pop()
		if !ok {
			select {
			case <-q.notify:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return
		}
	}
}
