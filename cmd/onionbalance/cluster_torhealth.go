package main

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/publisher/torctl"
)

// torWatch reports tor's bootstrap progress in the node heartbeat, and makes a leader whose tor
// stopped answering hand over: a leader that cannot reach tor keeps its etcd lease but publishes
// nothing, while a follower with a working tor could.
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
	log         hclog.Logger
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
	w.log.Warn("tor does not answer: handing the leadership over", "epoch", epoch, "failed_checks", *failures, "error", err)
	rctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if err := w.lead.Resign(rctx); err != nil && !errors.Is(err, cluster.ErrNotLeader) {
		w.log.Error("resign failed", "epoch", epoch, "error", err)
	}
	*failures = 0 // campaign again behind the others; resign again only after as many failures
}
