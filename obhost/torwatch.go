package obhost

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store"
)

// torWatch reports tor's bootstrap progress in the node heartbeat, and makes a leader whose tor
// stopped answering hand over: a leader that cannot reach tor keeps its etcd lease but publishes
// nothing, while a follower with a working tor could. With no such follower (a single host) it stays
// leader, so that it publishes as soon as its tor is back.
type torWatch struct {
	tor interface {
		BootstrapPhase(ctx context.Context) (torctl.Bootstrap, error)
	}
	node interface {
		SetTor(bootstrap int, state string)
	}
	lead interface {
		IsLeader() (int64, bool)
		Resign(ctx context.Context) error
	}
	every, timeout time.Duration
	// resignAfter is how many checks in a row must fail before a leader resigns.
	resignAfter int
	// standby counts the other obhosts whose tor works, which could take over (nil: assume some).
	standby func(ctx context.Context) (int, error)
	log     hclog.Logger
}

func (w torWatch) run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	failures := 0
	for {
		w.check(ctx, &failures)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check asks tor once and acts on the answer; failures counts the failed checks in a row.
func (w torWatch) check(ctx context.Context, failures *int) {
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	b, err := w.tor.BootstrapPhase(cctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		*failures = 0
		w.node.SetTor(b.Progress, b.Tag)
		return
	}
	*failures++
	w.node.SetTor(0, "unreachable: "+err.Error())
	epoch, leading := w.lead.IsLeader()
	if !leading || *failures < w.resignAfter {
		return
	}
	if w.standby != nil {
		sctx, cancel := context.WithTimeout(ctx, w.timeout)
		n, serr := w.standby(sctx)
		cancel()
		if serr == nil && n == 0 {
			if *failures == w.resignAfter { // once per outage
				w.log.Warn("tor does not answer, but no other obhost has a working tor: staying leader",
					"epoch", epoch, "failed_checks", *failures, "error", err)
			}
			return
		}
	}
	w.log.Warn("tor does not answer: handing the leadership over", "epoch", epoch, "failed_checks", *failures, "error", err)
	rctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if err := w.lead.Resign(rctx); err != nil && !errors.Is(err, cluster.ErrNotLeader) {
		w.log.Error("resign failed", "epoch", epoch, "error", err)
	}
	*failures = 0 // campaign again behind the others; resign again only after as many failures
}

// readyPeers counts, from the heartbeats in etcd, the other obhosts whose tor is bootstrapped.
func readyPeers(st *store.Store, self string) func(ctx context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		nodes, err := st.Nodes(ctx)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, nr := range nodes {
			if nr.Name != self && nr.TorBootstrap == 100 {
				n++
			}
		}
		return n, nil
	}
}
