package cluster

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

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

// Leadership is what the publisher needs from the cluster. A single host
// is a cluster of one on its embedded etcd, with the same implementation.
//
// The publisher takes the epoch from IsLeader at the start of a round and
// passes it to every Write and MayPublish of that round, so that nothing
// decided under one leadership is committed under another.
type Leadership interface {
	// IsLeader returns the epoch of this node's leadership and whether it
	// is the leader now.
	IsLeader() (epoch int64, ok bool)
	// Changes returns a channel that delivers the current state at once
	// and then every change. A slow reader only misses intermediate
	// states, never the latest one. The channel closes when the election
	// stops.
	Changes() <-chan State
	// Write commits ops in one transaction if this node is still the
	// leader of epoch; otherwise it returns ErrNotLeader.
	Write(ctx context.Context, epoch int64, ops ...clientv3.Op) error
	// MayPublish returns nil if this node may start an upload to the Tor
	// network as leader of epoch, and the deadline after which the upload
	// must not start: bound its context with it (see Fence.MayPublish).
	MayPublish(ctx context.Context, epoch int64) (until time.Time, err error)
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
