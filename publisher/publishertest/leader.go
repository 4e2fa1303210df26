package publishertest

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrNotLeader is what Leader.MayPublish returns when it refuses.
var ErrNotLeader = errors.New("fenced: not leader")

// Leader is a publisher.Leadership the test switches. The zero value does not lead.
type Leader struct {
	mu      sync.Mutex
	epoch   int64
	leading bool
	fenced  bool
	until   time.Time
}

// Set makes this node lead in epoch, or not lead.
func (l *Leader) Set(leading bool, epoch int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leading, l.epoch = leading, epoch
}

// SetFenced makes MayPublish refuse (self-fencing: the lease is too old) while fenced.
func (l *Leader) SetFenced(fenced bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fenced = fenced
}

// SetUntil sets the self-fencing deadline MayPublish returns; zero means an hour after the real now.
func (l *Leader) SetUntil(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until = until
}

// IsLeader returns the epoch and whether this node leads.
func (l *Leader) IsLeader() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.leading
}

// MayPublish returns the self-fencing deadline, or ErrNotLeader when not leading in epoch or fenced.
func (l *Leader) MayPublish(_ context.Context, epoch int64) (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leading || l.fenced || epoch != l.epoch {
		return time.Time{}, ErrNotLeader
	}
	if l.until.IsZero() {
		return time.Now().Add(time.Hour), nil
	}
	return l.until, nil
}
