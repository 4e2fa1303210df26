package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/internal/clock"
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

// leaseClock tracks the send time of the last keepalive (or grant) etcd
// answered, from which the self-fencing deadline follows: etcd renewed the
// lease after that moment, so sent + ttl is no later than the lease's expiry
// (up to the rate difference of the two clocks).
type leaseClock struct {
	mu   sync.Mutex
	sent time.Time
	ttl  time.Duration
}

// renewed records that the request sent at sent renewed the lease for ttl.
func (c *leaseClock) renewed(sent time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sent.After(c.sent) {
		c.sent = sent
		c.ttl = ttl
	}
}

func (c *leaseClock) get() (time.Time, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent, c.ttl
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
	clock    clock.Clock
	lease    *leaseClock
	stepDown func()
}

// NewFence returns a fence for the leadership held through election key
// key with create revision epoch. sent and ttl seed the self-fencing
// deadline (sent + ttl - margin); later keepalives are not seen by a
// fence made this way, so it is meant for tests and tools. stepDown, if not
// nil, is called when the guard fails.
func NewFence(kv clientv3.KV, key string, epoch int64, sent time.Time, ttl, margin, requestTimeout time.Duration, stepDown func()) *Fence {
	lc := &leaseClock{}
	lc.renewed(sent, ttl)
	return newFence(kv, key, epoch, lc, margin, requestTimeout, clock.Real{}, stepDown)
}

func newFence(kv clientv3.KV, key string, epoch int64, lease *leaseClock, margin, timeout time.Duration, clk clock.Clock, stepDown func()) *Fence {
	if stepDown == nil {
		stepDown = func() {}
	}
	return &Fence{kv: kv, key: key, epoch: epoch, timeout: timeout, margin: margin, clock: clk, lease: lease, stepDown: stepDown}
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

// ValidUntil returns the self-fencing deadline: the send time of the last
// keepalive etcd answered, plus the lease TTL, minus the margin.
func (f *Fence) ValidUntil() time.Time {
	sent, ttl := f.lease.get()
	return sent.Add(ttl - f.margin)
}

// CheckDeadline returns ErrLeaseExpiring if now is past ValidUntil.
func (f *Fence) CheckDeadline(now time.Time) error {
	_, err := f.checkDeadline(now)
	return err
}

// checkDeadline returns the deadline it checked now against.
func (f *Fence) checkDeadline(now time.Time) (time.Time, error) {
	sent, ttl := f.lease.get()
	until := sent.Add(ttl - f.margin)
	if !now.Before(until) {
		return until, fmt.Errorf("%w: last answered keepalive sent at %s, ttl %v, margin %v (epoch %d)",
			ErrLeaseExpiring, sent.Format(time.RFC3339Nano), ttl, f.margin, f.epoch)
	}
	return until, nil
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
// deadline. until is the deadline of the final check: the publication must
// not start after it, so bound its context with it
// (context.WithDeadline(ctx, until)). It is read from the fence's clock,
// which is the real clock outside tests.
func (f *Fence) MayPublish(ctx context.Context) (until time.Time, err error) {
	now := f.clock.Now()
	until, err = f.checkDeadline(now)
	if err != nil {
		return time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, until.Sub(now))
	defer cancel()
	if err := f.Check(ctx); err != nil {
		if errors.Is(err, ErrNotLeader) {
			return time.Time{}, err
		}
		if _, cerr := f.checkDeadline(f.clock.Now()); cerr != nil {
			return time.Time{}, cerr
		}
		return time.Time{}, err
	}
	until, err = f.checkDeadline(f.clock.Now())
	if err != nil {
		return time.Time{}, err
	}
	return until, nil
}
