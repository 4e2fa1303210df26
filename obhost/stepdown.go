package obhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// Graceful hand-over goes through etcd, so it works from any host that reaches the cluster:
//
//  1. `onionbalance cluster step-down` reads the leader (name, epoch) and writes a
//     record.StepDown for that epoch at <prefix>/step-down/<leader>, bound to a lease of
//     --timeout so that an unserved request disappears by itself.
//  2. Every daemon watches its own <prefix>/step-down/<name>. The leader, when the request names its
//     current epoch, calls Election.Resign: its election key is deleted, the next candidate wins at
//     once, and it campaigns again behind the others. It then deletes the request. A request for
//     another epoch (an older leadership) is ignored, so it can never end a later leadership.
//  3. The command waits until the leader key has another epoch and reports the hand-over time.

// serveStepDown runs the daemon's side until ctx ends.
func serveStepDown(ctx context.Context, cli *clientv3.Client, keys store.Keys, name string, el *cluster.Election,
	timeout time.Duration, log hclog.Logger) {
	key := keys.StepDown(name)
	for u := range store.Watch(ctx, cli, key, timeout, log.Named("watch")) {
		kv, _ := keyUpdate(u, key)
		if kv == nil {
			continue
		}
		var req record.StepDown
		if err := json.Unmarshal(kv.Value, &req); err != nil {
			log.Warn("ignoring a malformed step-down request", "key", key, "error", err)
			continue
		}
		epoch, leading := el.IsLeader()
		if !leading || req.Epoch != epoch {
			log.Info("ignoring a step-down request for another leadership", "requested_epoch", req.Epoch,
				"leading", leading, "epoch", epoch, "by", req.By)
		} else {
			log.Info("stepping down as requested", "epoch", epoch, "by", req.By)
			rctx, cancel := context.WithTimeout(ctx, timeout)
			err := el.Resign(rctx)
			cancel()
			if err != nil {
				log.Error("step-down failed", "epoch", epoch, "error", err)
			}
		}
		// Served (or moot): remove it, unless a newer request replaced it meanwhile.
		dctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := cli.Txn(dctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(key)).Commit()
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Debug("could not delete the served step-down request", "key", key, "error", err)
		}
	}
}

// StepDownResult is the outcome of a graceful hand-over: the old and the new leadership and how long
// the hand-over took, from the request to the new leader's election key.
type StepDownResult struct {
	Old, Next cluster.Candidate
	Took      time.Duration
}

// StepDown writes the request for the current leader (which must be node, when given) and waits,
// until ctx ends, for a leader of another epoch. timeout bounds each etcd request; by names who asks.
func StepDown(ctx context.Context, cli *clientv3.Client, keys store.Keys, node string, timeout time.Duration, by string) (StepDownResult, error) {
	old, err := currentLeader(ctx, cli, keys, timeout)
	if errors.Is(err, cluster.ErrNoLeader) {
		return StepDownResult{}, fmt.Errorf("nobody leads the cluster under %s", keys.Prefix())
	}
	if err != nil {
		return StepDownResult{}, err
	}
	if node != "" && old.Name != node {
		return StepDownResult{}, fmt.Errorf("%s is not the leader (%s is, epoch %d)", node, old.Name, old.Epoch)
	}
	// The request lives as long as the command waits, at least a few seconds.
	ttl := int64(10)
	if dl, ok := ctx.Deadline(); ok {
		ttl = max(ttl, int64(time.Until(dl)/time.Second)+1)
	}
	gctx, cancel := context.WithTimeout(ctx, timeout)
	grant, err := cli.Grant(gctx, ttl)
	cancel()
	if err != nil {
		return StepDownResult{}, fmt.Errorf("etcd lease for the step-down request: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		cli.Revoke(rctx, grant.ID)
		cancel()
	}()
	op, err := store.OpPutJSON(keys.StepDown(old.Name),
		record.StepDown{Epoch: old.Epoch, RequestedAt: time.Now().UTC(), By: by}, clientv3.WithLease(grant.ID))
	if err != nil {
		return StepDownResult{}, err
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	_, err = cli.Txn(pctx).Then(op).Commit()
	cancel()
	if err != nil {
		return StepDownResult{}, fmt.Errorf("etcd put %s: %w", keys.StepDown(old.Name), err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		cur, err := currentLeader(ctx, cli, keys, timeout)
		if err == nil && cur.Epoch != old.Epoch {
			return StepDownResult{Old: old, Next: cur, Took: time.Since(start)}, nil
		}
		select {
		case <-ctx.Done():
			return StepDownResult{}, fmt.Errorf("%s (epoch %d) did not step down in time (is it running a version with step-down?): %w",
				old.Name, old.Epoch, ctx.Err())
		case <-tick.C:
		}
	}
}

// currentLeader asks etcd who leads, within timeout.
func currentLeader(ctx context.Context, kv clientv3.KV, keys store.Keys, timeout time.Duration) (cluster.Candidate, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cluster.Leader(ctx, kv, keys)
}
