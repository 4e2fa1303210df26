package obhosttest

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store/storetest"
)

// Candidate is a running election candidate (a cluster.Election over the default key prefix) with
// whatever else the test runs beside it, as a daemon would.
type Candidate struct {
	Name     string
	Election *cluster.Election

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// StartCandidate starts a candidate named name over the etcd at endpoints: a session TTL of 5 s (the
// minimum) and quick retries. Each of beside runs in its own goroutine with the candidate's context,
// client and election until the candidate stops. Stop, or the end of the test, ends them all.
func StartCandidate(t testing.TB, endpoints []string, name string,
	beside ...func(ctx context.Context, cli *clientv3.Client, el *cluster.Election)) *Candidate {
	t.Helper()
	cli := storetest.NewClient(t, endpoints...)
	cfg := cluster.DefaultConfig(name)
	cfg.TTL, cfg.RetryMin, cfg.RetryMax = 5*time.Second, 100*time.Millisecond, time.Second
	el, err := cluster.NewElection(cli, DefaultKeys(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Candidate{Name: name, Election: el, stop: cancel}
	for _, f := range beside {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			f(ctx, cli, el)
		}()
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		el.Run(ctx)
	}()
	t.Cleanup(c.Stop)
	return c
}

// Stop ends the candidacy and what runs beside it, and waits for them to return. It may be called
// more than once.
func (c *Candidate) Stop() {
	c.stop()
	c.wg.Wait()
}

// WaitLeader waits (at most 15 s) until the candidate leads and returns its epoch.
func (c *Candidate) WaitLeader(t testing.TB) int64 {
	t.Helper()
	var epoch int64
	WaitFor(t, c.Name+" leading", 15*time.Second, func() bool {
		e, ok := c.Election.IsLeader()
		epoch = e
		return ok
	})
	return epoch
}
