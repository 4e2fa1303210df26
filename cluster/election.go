package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/store"
)

// ErrNoLeader is returned by Election.Leader when nobody holds the
// leadership.
var ErrNoLeader = errors.New("no leader")

// Election runs this node's candidacy and follows who leads. It implements
// the publisher's Leadership (IsLeader, MayPublish).
//
// Each term is one lease: grant it (TTL), keep it alive, campaign under the
// session's context, and lead until the lease is lost, a fenced write finds
// the leadership gone, Resign is called or Run's context ends. Any failure
// ends the term: the lease is revoked when possible and a new term starts
// after a backoff. The epoch of a leadership is the create revision of its
// election key.
type Election struct {
	cli   *clientv3.Client
	keys  store.Keys
	cfg   Config
	log   hclog.Logger
	clock clock.Clock

	running atomic.Bool
	states  broadcaster

	mu       sync.Mutex
	leading  *term // non-nil while leader
	observed State // the leader as seen in etcd
}

// term is one leadership.
type term struct {
	fence  *Fence
	resign chan chan error
	done   chan struct{} // closed when the leadership ends
}

// NewElection returns an election for this node among those using keys.
// Call Run to take part.
func NewElection(cli *clientv3.Client, keys store.Keys, cfg Config) (*Election, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Election{cli: cli, keys: keys, cfg: cfg, log: cfg.logger(), clock: cfg.clock()}, nil
}

// Run campaigns and leads until ctx ends, then resigns if leader and
// returns nil. It returns an error only if it cannot go on: the etcd client
// was closed. Run may be called once.
func (e *Election) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("cluster: election already running")
	}
	defer e.states.close()

	obsCtx, stopObserve := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.observe(obsCtx)
	}()
	defer wg.Wait()
	defer stopObserve()

	retry := e.cfg.RetryMin
	for {
		led, err := e.runTerm(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if cerr := e.cli.Ctx().Err(); cerr != nil {
			return fmt.Errorf("cluster: etcd client closed: %w", cerr)
		}
		if led {
			retry = e.cfg.RetryMin
		}
		if err == nil {
			continue
		}
		e.log.Warn("election term ended", "error", err, "retry_in", retry)
		if !clock.Sleep(ctx, e.clock, retry) {
			return nil
		}
		retry = min(2*retry, e.cfg.RetryMax)
	}
}

// runTerm runs one lease: campaign, then lead until the leadership ends.
// led reports whether it became leader.
func (e *Election) runTerm(ctx context.Context) (led bool, err error) {
	timeout := e.cfg.requestTimeout()
	start := e.clock.Now()
	gctx, cancel := context.WithTimeout(ctx, timeout)
	grant, err := e.cli.Grant(gctx, int64(e.cfg.TTL/time.Second))
	cancel()
	if err != nil {
		return false, fmt.Errorf("grant lease: %w", err)
	}
	// The lease was granted after start: its expiry is no earlier than
	// start + TTL.
	lease := &leaseClock{}
	lease.renewed(start, time.Duration(grant.TTL)*time.Second)

	termCtx, endTerm := context.WithCancel(ctx)
	var keepers sync.WaitGroup
	defer func() {
		endTerm()
		keepers.Wait()
		e.revoke(ctx, grant.ID)
	}()

	// Our own keepalives, timestamped when sent, keep the lease alive and move the self-fencing
	// deadline on. The session takes no keepalives of its own (see sessionClient): it ends when
	// ours stop, because the lease is gone or ran out.
	alive := make(chan *clientv3.LeaseKeepAliveResponse)
	keepers.Add(1)
	go func() {
		defer keepers.Done()
		defer close(alive)
		e.keepAlive(termCtx, grant.ID, lease)
	}()

	session, err := concurrency.NewSession(sessionClient(termCtx, e.cli, alive), concurrency.WithLease(grant.ID),
		concurrency.WithContext(termCtx))
	if err != nil {
		return false, fmt.Errorf("session: %w", err)
	}
	el := concurrency.NewElection(session, e.keys.Election())
	// Campaign under the session's context: a campaign whose lease dies
	// while it waits must fail, not "win" later without a key.
	if err := el.Campaign(session.Ctx(), e.cfg.Name); err != nil {
		return false, fmt.Errorf("campaign: %w", err)
	}
	select {
	case <-session.Done():
		return false, errors.New("campaign: lease lost while campaigning")
	default:
	}

	t := &term{resign: make(chan chan error), done: make(chan struct{})}
	lost := make(chan struct{})
	var lostOnce sync.Once
	t.fence = newFence(e.cli, el.Key(), el.Rev(), lease, e.cfg.Margin, timeout, e.clock, func() {
		e.endLeading(t)
		lostOnce.Do(func() { close(lost) })
	})
	if err := t.fence.Check(ctx); err != nil {
		return false, fmt.Errorf("campaign: %w", err)
	}
	e.startLeading(t)
	defer e.endLeading(t)
	e.log.Info("became leader", "epoch", t.fence.Epoch(), "key", t.fence.Key())

	select {
	case <-ctx.Done():
		e.endLeading(t)
		err := e.resign(ctx, el)
		e.log.Info("resigned on shutdown", "epoch", t.fence.Epoch(), "error", err)
		return true, nil
	case done := <-t.resign:
		e.endLeading(t)
		err := e.resign(ctx, el)
		e.log.Info("resigned", "epoch", t.fence.Epoch(), "error", err)
		done <- err
		return true, nil
	case <-session.Done():
		e.endLeading(t)
		return true, fmt.Errorf("leadership (epoch %d) lost: lease %x gone, ran out or unreachable", t.fence.Epoch(), int64(grant.ID))
	case <-lost:
		return true, fmt.Errorf("leadership (epoch %d) lost: %w", t.fence.Epoch(), ErrNotLeader)
	}
}

// sessionClient is cli for a concurrency.Session whose lease the election keeps alive itself: its
// KeepAlive hands the session alive, which the election closes when its keepalives stop. With cli's
// own KeepAlive the lease had two renewals per TTL/3, and the etcd client ran its keepalive loops
// (woken every 500 ms and every second) for as long as it lived, idle or not. The client's context
// ends with ctx; it must not be closed (that would close cli's watcher and lease).
func sessionClient(ctx context.Context, cli *clientv3.Client, alive <-chan *clientv3.LeaseKeepAliveResponse) *clientv3.Client {
	sc := clientv3.NewCtxClient(ctx, clientv3.WithZapLogger(cli.GetLogger()))
	sc.KV, sc.Watcher = cli.KV, cli.Watcher
	sc.Lease = ownKeepAlives{Lease: cli.Lease, alive: alive}
	return sc
}

// ownKeepAlives is a Lease whose KeepAlive sends nothing: see sessionClient.
type ownKeepAlives struct {
	clientv3.Lease
	alive <-chan *clientv3.LeaseKeepAliveResponse
}

func (l ownKeepAlives) KeepAlive(context.Context, clientv3.LeaseID) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	return l.alive, nil
}

// keepAlive renews the lease every TTL/3 with one keepalive request at a
// time and records, for each renewal etcd answered, the time read just
// before that request was sent. etcd renewed the lease after it received the
// request, so send time + TTL never lies past the lease's real expiry,
// however late the reply arrives (a reply's receive time + TTL can). It
// returns when ctx ends, the lease is gone, no renewal was answered for a
// TTL (the lease ran out: as far as this node can tell, it is gone) or the
// client was closed.
func (e *Election) keepAlive(ctx context.Context, id clientv3.LeaseID, lease *leaseClock) {
	interval := e.cfg.TTL / 3
	failures := 0 // in a row
	for {
		sent := e.clock.Now()
		kctx, cancel := context.WithTimeout(ctx, e.cfg.requestTimeout())
		resp, err := e.cli.KeepAliveOnce(kctx, id)
		cancel()
		wait := interval
		switch {
		case err == nil:
			lease.renewed(sent, time.Duration(resp.TTL)*time.Second)
			if failures >= 2 {
				e.log.Info("lease keepalive works again", "lease", fmt.Sprintf("%x", int64(id)), "failures", failures)
			}
			failures = 0
		case ctx.Err() != nil:
			return
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			e.log.Debug("lease keepalive: the lease is gone", "lease", fmt.Sprintf("%x", int64(id)))
			return // closing alive ends the session, and the term
		case e.cli.Ctx().Err() != nil:
			return
		default:
			if sent, ttl := lease.get(); !e.clock.Now().Before(sent.Add(ttl)) {
				e.log.Warn("lease ran out: no keepalive answered for a ttl", "lease", fmt.Sprintf("%x", int64(id)),
					"ttl", ttl, "error", err)
				return
			}
			failures++
			// One failure is routine; the second in a row is what an operator must see before
			// self-fencing stops the uploads.
			level := hclog.Debug
			if failures == 2 {
				level = hclog.Warn
			}
			e.log.Log(level, "lease keepalive failed", "lease", fmt.Sprintf("%x", int64(id)), "error", err,
				"failures", failures)
			wait = min(interval, e.cfg.RetryMin)
		}
		if !clock.Sleep(ctx, e.clock, wait) {
			return
		}
	}
}

// resign deletes the election key, bounded by the request timeout even when
// ctx has ended.
func (e *Election) resign(ctx context.Context, el *concurrency.Election) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.requestTimeout())
	defer cancel()
	return el.Resign(rctx)
}

// revoke revokes the lease of a finished term, deleting anything bound to
// it. It fails harmlessly when the lease is already gone.
func (e *Election) revoke(ctx context.Context, id clientv3.LeaseID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.requestTimeout())
	defer cancel()
	if _, err := e.cli.Revoke(rctx, id); err != nil {
		e.log.Debug("revoke lease", "lease", fmt.Sprintf("%x", int64(id)), "error", err)
	}
}

func (e *Election) startLeading(t *term) {
	e.mu.Lock()
	e.leading = t
	e.mu.Unlock()
	e.publish()
}

// endLeading marks term t as over, at once, so that no further write or
// publication is allowed under it. It is idempotent.
func (e *Election) endLeading(t *term) {
	e.mu.Lock()
	if e.leading == t {
		e.leading = nil
		close(t.done)
	}
	e.mu.Unlock()
	e.publish()
}

func (e *Election) publish() {
	e.states.set(e.State())
}

// State returns the node's current view of the leadership.
func (e *Election) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading != nil {
		return State{Leader: true, Epoch: e.leading.fence.Epoch(), LeaderName: e.cfg.Name}
	}
	return e.observed
}

// IsLeader returns the epoch of this node's leadership and whether it leads.
func (e *Election) IsLeader() (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading == nil {
		return 0, false
	}
	return e.leading.fence.Epoch(), true
}

// Changes returns a channel that delivers the current state at once and then
// every change. A slow reader only misses intermediate states, never the
// latest one. The channel closes when the election stops.
func (e *Election) Changes() <-chan State { return e.states.subscribe() }

// Fence returns the fence of the leadership of epoch, or ErrNotLeader.
func (e *Election) Fence(epoch int64) (*Fence, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading == nil || e.leading.fence.Epoch() != epoch {
		return nil, fmt.Errorf("%w (epoch %d)", ErrNotLeader, epoch)
	}
	return e.leading.fence, nil
}

// Write commits ops through the fence of the leadership of epoch.
func (e *Election) Write(ctx context.Context, epoch int64, ops ...clientv3.Op) error {
	f, err := e.Fence(epoch)
	if err != nil {
		return err
	}
	return f.Write(ctx, ops...)
}

// MayPublish checks the fence of the leadership of epoch and returns the
// deadline the publication must not start after (see Fence.MayPublish).
func (e *Election) MayPublish(ctx context.Context, epoch int64) (until time.Time, err error) {
	f, err := e.Fence(epoch)
	if err != nil {
		return time.Time{}, err
	}
	return f.MayPublish(ctx)
}

// Resign steps down gracefully: the election key is deleted, so the next
// candidate takes over at once, and this node campaigns again behind the
// others. It returns ErrNotLeader if this node is not the leader.
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	t := e.leading
	e.mu.Unlock()
	if t == nil {
		return ErrNotLeader
	}
	done := make(chan error, 1)
	select {
	case t.resign <- done:
	case <-t.done:
		return ErrNotLeader
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Leader asks etcd who leads now and returns the leader's name and epoch,
// or ErrNoLeader.
func (e *Election) Leader(ctx context.Context) (name string, epoch int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.requestTimeout())
	defer cancel()
	lead, err := Leader(ctx, e.cli, e.keys)
	if errors.Is(err, ErrNoLeader) {
		return "", 0, err
	}
	if err != nil {
		return "", 0, fmt.Errorf("leader: %w", err)
	}
	return lead.Name, lead.Epoch, nil
}
