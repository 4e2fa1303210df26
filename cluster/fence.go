package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	// ErrNotLeader means this node does not hold the leadership (of the
	// given epoch): the write was not made, nothing must be published.
	ErrNotLeader = errors.New("not the leader")
	// ErrLeaseExpiring means the leader has not heard a keepalive ack for
	// so long that its lease may have expired at etcd: it must not start a
	// publication it cannot take back.
	ErrLeaseExpiring = errors.New("leader lease may have expired")
	// ErrCompareFailed means a fenced transaction's own comparisons
	// failed while the leadership guard held.
	ErrCompareFailed = errors.New("transaction comparison failed")
)

// leaseClock tracks the last keepalive acknowledgement of a lease, from
// which the self-fencing deadline follows.
type leaseClock struct {
	mu      sync.Mutex
	lastAck time.Time
	ttl     time.Duration
}

func (c *leaseClock) ack(at time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.lastAck) {
		c.lastAck = at
	}
	c.ttl = ttl
}

func (c *leaseClock) get() (time.Time, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastAck, c.ttl
}

// Fence guards the writes and publications of one leadership term. Every
// write is a transaction that succeeds only while the election key of the
// term still exists with the create revision (the epoch) it had when the
// term began; a new leader always has a larger epoch. When the guard fails,
// the fence calls its step-down function at once.
type Fence struct {
	kv       clientv3.KV
	key      string
	epoch    int64
	timeout  time.Duration
	margin   time.Duration
	clock    func() time.Time
	lease    *leaseClock
	stepDown func()
}

// NewFence returns a fence for the leadership held through election key
// key with create revision epoch. lastAck and ttl seed the self-fencing
// deadline (lastAck + ttl - margin); later keepalive acks are not seen by a
// fence made this way, so it is meant for tests and tools. stepDown, if not
// nil, is called when the guard fails.
func NewFence(kv clientv3.KV, key string, epoch int64, lastAck time.Time, ttl, margin, requestTimeout time.Duration, stepDown func()) *Fence {
	lc := &leaseClock{}
	lc.ack(lastAck, ttl)
	return newFence(kv, key, epoch, lc, margin, requestTimeout, time.Now, stepDown)
}

func newFence(kv clientv3.KV, key string, epoch int64, lease *leaseClock, margin, timeout time.Duration, clock func() time.Time, stepDown func()) *Fence {
	if stepDown == nil {
		stepDown = func() {}
	}
	return &Fence{kv: kv, key: key, epoch: epoch, timeout: timeout, margin: margin, clock: clock, lease: lease, stepDown: stepDown}
}

// Epoch returns the epoch (fencing token) of the term.
func (f *Fence) Epoch() int64 { return f.epoch }

// Key returns the election key of the term.
func (f *Fence) Key() string { return f.key }

// Guard returns the comparison that holds while the term lasts.
func (f *Fence) Guard() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.epoch)
}

// Write commits ops in one transaction guarded by the term. It returns
// ErrNotLeader, and steps down, if the term is over.
func (f *Fence) Write(ctx context.Context, ops ...clientv3.Op) error {
	_, err := f.Txn(ctx, nil, ops...)
	return err
}

// Txn commits ops if both the term guard and cmps hold. It returns
// ErrNotLeader (and steps down) if the guard fails, ErrCompareFailed if only
// cmps fail. The response is that of the inner transaction.
func (f *Fence) Txn(ctx context.Context, cmps []clientv3.Cmp, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	resp, err := f.kv.Txn(ctx).
		If(f.Guard()).
		Then(clientv3.OpTxn(cmps, ops, nil)).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("fenced write (epoch %d): %w", f.epoch, err)
	}
	if !resp.Succeeded {
		f.stepDown()
		return nil, fmt.Errorf("fenced write: %w: election key %s no longer has create revision %d", ErrNotLeader, f.key, f.epoch)
	}
	inner := (*clientv3.TxnResponse)(resp.Responses[0].GetResponseTxn())
	if !inner.Succeeded {
		return inner, fmt.Errorf("fenced write (epoch %d): %w", f.epoch, ErrCompareFailed)
	}
	return inner, nil
}

// ValidUntil returns the self-fencing deadline: the last keepalive ack plus
// the lease TTL minus the margin.
func (f *Fence) ValidUntil() time.Time {
	lastAck, ttl := f.lease.get()
	return lastAck.Add(ttl - f.margin)
}

// CheckDeadline returns ErrLeaseExpiring if now is past ValidUntil.
func (f *Fence) CheckDeadline(now time.Time) error {
	lastAck, ttl := f.lease.get()
	if until := lastAck.Add(ttl - f.margin); !now.Before(until) {
		return fmt.Errorf("%w: last keepalive ack at %s, ttl %v, margin %v (epoch %d)",
			ErrLeaseExpiring, lastAck.Format(time.RFC3339Nano), ttl, f.margin, f.epoch)
	}
	return nil
}

// Check reads the election key and returns ErrNotLeader (and steps down)
// unless it still has the term's create revision.
func (f *Fence) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	resp, err := f.kv.Get(ctx, f.key)
	if err != nil {
		return fmt.Errorf("leadership check (epoch %d): %w", f.epoch, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != f.epoch {
		f.stepDown()
		return fmt.Errorf("leadership check: %w: election key %s no longer has create revision %d", ErrNotLeader, f.key, f.epoch)
	}
	return nil
}

// MayPublish returns nil if the leader may start a publication that etcd
// cannot fence (an upload to the Tor network): the self-fencing deadline has
// not passed, the election key still carries the epoch, and the deadline
// still holds once that check has returned. The check is bounded by the
// deadline.
func (f *Fence) MayPublish(ctx context.Context) error {
	now := f.clock()
	if err := f.CheckDeadline(now); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.ValidUntil().Sub(now))
	defer cancel()
	if err := f.Check(ctx); err != nil {
		if errors.Is(err, ErrNotLeader) {
			return err
		}
		if cerr := f.CheckDeadline(f.clock()); cerr != nil {
			return cerr
		}
		return err
	}
	return f.CheckDeadline(f.clock())
}
