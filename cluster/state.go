package cluster

import "sync"

// State is a node's view of the leadership.
type State struct {
	// Leader is true while this node is the leader.
	Leader bool
	// Epoch is the epoch of the current leadership (this node's own while
	// Leader), 0 when no leader is known.
	Epoch int64
	// LeaderName is the name of the current leader, "" when none is known.
	LeaderName string
}

// broadcaster keeps the latest State and hands it to every subscriber.
type broadcaster struct {
	mu     sync.Mutex
	cur    State
	subs   []chan State
	closed bool
}

func (b *broadcaster) subscribe() <-chan State {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan State, 1)
	if b.closed {
		close(ch)
		return ch
	}
	ch <- b.cur
	b.subs = append(b.subs, ch)
	return ch
}

// set records s and, if it differs from the current state, delivers it.
func (b *broadcaster) set(s State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s == b.cur || b.closed {
		return
	}
	b.cur = s
	for _, ch := range b.subs {
		select { // drop the undelivered older state
		case <-ch:
		default:
		}
		ch <- s // cannot block: only set sends, under mu
	}
}

func (b *broadcaster) get() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for _, ch := range b.subs {
		close(ch)
	}
	b.subs = nil
}
