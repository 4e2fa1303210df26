package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// NodeConfig configures a node's heartbeat.
type NodeConfig struct {
	// Name is the node name, as in Config.
	Name string
	// Version is the obhost version reported.
	Version string
	// Interval is how often the record's lease is renewed (the record itself is written only when
	// it changes).
	Interval time.Duration
	// TTL is the lease TTL of the record: it disappears this long after
	// the node stops. At least 2*Interval.
	TTL time.Duration
	// RequestTimeout bounds every etcd request; zero means Interval.
	RequestTimeout time.Duration
	// Logger receives log lines; nil discards them.
	Logger hclog.Logger
	// Clock tells the time and ticks the heartbeat; nil means clock.Real{}.
	Clock clock.Clock
}

// DefaultNodeConfig returns the default heartbeat configuration of node
// name.
func DefaultNodeConfig(name, version string) NodeConfig {
	return NodeConfig{Name: name, Version: version, Interval: 5 * time.Second, TTL: 15 * time.Second}
}

// Validate reports the first field of c that cannot work.
func (c NodeConfig) Validate() error {
	if err := store.CheckName(c.Name); err != nil {
		return fmt.Errorf("node heartbeat: name: %w", err)
	}
	if c.Interval <= 0 {
		return fmt.Errorf("node heartbeat: interval %v must be positive", c.Interval)
	}
	if c.TTL < 2*c.Interval || c.TTL%time.Second != 0 {
		return fmt.Errorf("node heartbeat: ttl %v must be whole seconds and at least twice the interval %v", c.TTL, c.Interval)
	}
	if c.RequestTimeout < 0 {
		return fmt.Errorf("node heartbeat: request-timeout %v is negative", c.RequestTimeout)
	}
	return nil
}

// Node publishes this node's heartbeat record at <prefix>/nodes/<name>,
// bound to a lease of its own so that it vanishes when the node dies.
// The record is written when a Set method changes it (Heartbeat is the time
// of that write); between changes only its lease is renewed.
type Node struct {
	cli   *clientv3.Client
	st    *store.Store
	cfg   NodeConfig
	log   hclog.Logger
	clock clock.Clock

	mu      sync.Mutex
	rec     record.Node
	changed chan struct{}
}

// NewNode returns a heartbeat publisher; call Run to start it.
func NewNode(cli *clientv3.Client, st *store.Store, cfg NodeConfig) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	clk := clock.Or(cfg.Clock)
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Node{
		cli: cli, st: st, cfg: cfg, log: log, clock: clk,
		rec:     record.Node{Name: cfg.Name, Version: cfg.Version, Role: record.RoleFollower, StartedAt: clk.Now()},
		changed: make(chan struct{}, 1),
	}, nil
}

// update applies f to the record and has it written when that changed it (the tor watch reports
// the same state every few seconds).
func (n *Node) update(f func(*record.Node)) {
	n.mu.Lock()
	before := n.rec
	f(&n.rec)
	same := n.rec == before
	n.mu.Unlock()
	if same {
		return
	}
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// SetTor records tor's bootstrap progress (percent) and state.
func (n *Node) SetTor(bootstrap int, state string) {
	n.update(func(r *record.Node) { r.TorBootstrap, r.TorState = bootstrap, state })
}

// SetLeadership records the node's role from an election state.
func (n *Node) SetLeadership(s State) {
	n.update(func(r *record.Node) {
		r.Role, r.Epoch = record.RoleFollower, 0
		if s.Leader {
			r.Role, r.Epoch = record.RoleLeader, s.Epoch
		}
	})
}

// SetError records the last error worth showing in `status`; nil clears it.
func (n *Node) SetError(err error) {
	n.update(func(r *record.Node) {
		r.LastError = ""
		if err != nil {
			r.LastError = err.Error()
		}
	})
}

// Record returns the record the next heartbeat will write.
func (n *Node) Record() record.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rec
}

func (n *Node) timeout() time.Duration {
	if n.cfg.RequestTimeout > 0 {
		return n.cfg.RequestTimeout
	}
	return n.cfg.Interval
}

// Run writes the record at start and whenever a Set method changes it, and renews its lease every
// Interval, until ctx ends; then it revokes the lease so the record goes at once. Renewing a lease
// is no write in etcd: an idle node leaves etcd's revision alone. Failures are logged and retried on
// the next beat, with a new lease (and the record written again) when the old one is gone.
func (n *Node) Run(ctx context.Context) error {
	var lease clientv3.LeaseID
	defer func() {
		if lease != 0 {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.timeout())
			n.cli.Revoke(rctx, lease)
			cancel()
		}
	}()
	tick := n.clock.NewTicker(n.cfg.Interval)
	defer tick.Stop()
	written := false // etcd holds the current record under lease
	for {
		var err error
		lease, written, err = n.beat(ctx, lease, written)
		if err != nil && ctx.Err() == nil {
			n.log.Warn("heartbeat failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C():
		case <-n.changed:
			written = false
		}
	}
}

// beat renews lease (granting a new one if it is 0 or gone) and writes the record under it unless
// written says etcd holds it already under that lease. It returns the lease to use next time and
// whether the record is written.
func (n *Node) beat(ctx context.Context, lease clientv3.LeaseID, written bool) (clientv3.LeaseID, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout())
	defer cancel()
	if lease != 0 {
		if _, err := n.cli.KeepAliveOnce(ctx, lease); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				n.log.Debug("heartbeat lease gone; granting a new one", "error", err)
			}
			lease = 0
		}
	}
	if lease == 0 {
		g, err := n.cli.Grant(ctx, int64(n.cfg.TTL/time.Second))
		if err != nil {
			return 0, false, fmt.Errorf("grant heartbeat lease: %w", err)
		}
		lease, written = g.ID, false
	}
	if written {
		return lease, true, nil
	}
	rec := n.Record()
	rec.Heartbeat = n.clock.Now()
	op, err := n.st.PutNodeOp(rec, lease)
	if err != nil {
		return lease, false, err
	}
	if _, err := n.cli.Txn(ctx).Then(op).Commit(); err != nil {
		return lease, false, fmt.Errorf("write heartbeat %s: %w", n.st.Keys().Node(n.cfg.Name), err)
	}
	return lease, true, nil
}
