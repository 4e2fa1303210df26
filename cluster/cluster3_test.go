package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store/storetest"
	"github.com/obcluster/obcluster/store/storetest/tcpproxy"
)

// TestThreeMemberCluster runs the multi-member scenarios on one 3-member
// embedded etcd cluster, each under its own prefix. Every candidate talks
// to a different member.
func TestThreeMemberCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("3-member cluster scenarios take ~20 s")
	}
	etcd := storetest.StartCluster(t, 3)

	t.Run("OneLeader", func(t *testing.T) {
		keys := testKeys(t, "/one")
		var cs []*candidate
		for i := range 3 {
			cli := storetest.NewClient(t, etcd.Endpoint(i))
			cs = append(cs, startCandidate(t, cli, keys, testConfig(fmt.Sprintf("n%d", i))))
		}
		leader := waitAnyLeader(t, cs, 15*time.Second)
		epoch, _ := leader.el.IsLeader()
		for _, c := range cs {
			if c == leader {
				continue
			}
			c.waitState(t, 10*time.Second, "the common leader", func(s cluster.State) bool {
				return !s.Leader && s.LeaderName == leader.name && s.Epoch == epoch
			})
		}
		n := 0
		for _, c := range cs {
			if _, ok := c.el.IsLeader(); ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d leaders, want 1", n)
		}
	})

	t.Run("CrashFailover", func(t *testing.T) {
		keys := testKeys(t, "/crash")
		a := startCandidate(t, storetest.NewClient(t, etcd.Endpoint(0)), keys, testConfig("a"))
		ea := a.waitLeader(t, 10*time.Second).Epoch
		b := startCandidate(t, storetest.NewClient(t, etcd.Endpoint(1)), keys, testConfig("b"))
		c := startCandidate(t, storetest.NewClient(t, etcd.Endpoint(2)), keys, testConfig("c"))
		for _, f := range []*candidate{b, c} {
			f.waitState(t, 10*time.Second, "a as leader", func(s cluster.State) bool { return s.LeaderName == "a" })
		}
		// Crash: the leader's connection goes away without a resign; its
		// lease must run out.
		closed := time.Now()
		a.cli.Close()
		next := waitAnyLeader(t, []*candidate{b, c}, testTTL+10*time.Second)
		t.Logf("failover after client close (TTL %v): %v", testTTL, time.Since(closed))
		if en, _ := next.el.IsLeader(); en <= ea {
			t.Fatalf("new epoch %d not above %d", en, ea)
		}
	})

	t.Run("ConnectionLostFailover", func(t *testing.T) {
		// A crash as the network sees it: the leader's connections drop
		// and new ones are refused, so nothing can revoke its lease.
		keys := testKeys(t, "/lost")
		proxy, err := tcpproxy.Start(strings.TrimPrefix(etcd.Endpoint(0), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		a := startCandidate(t, storetest.NewClient(t, "http://"+proxy.Addr()), keys, testConfig("a"))
		ea := a.waitLeader(t, 10*time.Second).Epoch
		b := startCandidate(t, storetest.NewClient(t, etcd.Endpoint(1)), keys, testConfig("b"))
		b.waitState(t, 10*time.Second, "a as leader", func(s cluster.State) bool { return s.LeaderName == "a" })
		lost := time.Now()
		proxy.Close()
		b.waitLeader(t, testTTL+10*time.Second)
		t.Logf("failover after connection loss (TTL %v): %v", testTTL, time.Since(lost))
		if eb, _ := b.el.IsLeader(); eb <= ea {
			t.Fatalf("new epoch %d not above %d", eb, ea)
		}
		a.waitState(t, 15*time.Second, "step-down", func(s cluster.State) bool { return !s.Leader })
	})

	t.Run("PartitionedLeaderSelfFencesFirst", func(t *testing.T) {
		keys := testKeys(t, "/part")
		proxy, err := tcpproxy.Start(strings.TrimPrefix(etcd.Endpoint(0), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		a := startCandidate(t, storetest.NewClient(t, "http://"+proxy.Addr()), keys, testConfig("a"))
		ea := a.waitLeader(t, 10*time.Second).Epoch
		b := startCandidate(t, storetest.NewClient(t, etcd.Endpoint(1)), keys, testConfig("b"))
		c := startCandidate(t, storetest.NewClient(t, etcd.Endpoint(2)), keys, testConfig("c"))
		for _, f := range []*candidate{b, c} {
			f.waitState(t, 10*time.Second, "a as leader", func(s cluster.State) bool { return s.LeaderName == "a" })
		}
		if _, err := a.el.MayPublish(context.Background(), ea); err != nil {
			t.Fatalf("MayPublish before the partition: %v", err)
		}
		fa, err := a.el.Fence(ea)
		if err != nil {
			t.Fatal(err)
		}

		// Poll the old leader's MayPublish and record when it first fails.
		failedAt := make(chan time.Time, 1)
		pollCtx, stopPoll := context.WithCancel(context.Background())
		defer stopPoll()
		go func() {
			for pollCtx.Err() == nil {
				ctx, cancel := context.WithTimeout(pollCtx, 10*time.Second)
				_, err := a.el.MayPublish(ctx, ea)
				cancel()
				if err != nil {
					failedAt <- time.Now()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()

		cut := time.Now()
		proxy.Blackhole()
		next := waitAnyLeader(t, []*candidate{b, c}, testTTL+15*time.Second)
		wonAt := time.Now()
		var failed time.Time
		select {
		case failed = <-failedAt:
		case <-time.After(10 * time.Second):
			t.Fatal("the partitioned leader's MayPublish never failed")
		}
		t.Logf("partition at 0; old leader stops publishing at %v; %s wins at %v",
			failed.Sub(cut), next.name, wonAt.Sub(cut))
		if !failed.Before(wonAt) {
			t.Fatalf("old leader could publish until %v after the cut, new leader won at %v",
				failed.Sub(cut), wonAt.Sub(cut))
		}
		// Even without the guard check, the self-fencing deadline alone
		// (no keepalive ack arrives during the partition) has passed
		// before the new leader won.
		t.Logf("self-fencing deadline at %v after the cut: %v before the new leader won",
			fa.ValidUntil().Sub(cut), wonAt.Sub(fa.ValidUntil()))
		if until := fa.ValidUntil(); !until.Before(wonAt) {
			t.Fatalf("self-fencing deadline %v after the cut is not before the new leader's win at %v",
				until.Sub(cut), wonAt.Sub(cut))
		}
		// The old leader learns it lost, and after the partition heals it
		// follows the new leader.
		a.waitState(t, 15*time.Second, "step-down", func(s cluster.State) bool { return !s.Leader })
		proxy.Restore()
		a.waitState(t, 20*time.Second, "the new leader", func(s cluster.State) bool {
			return !s.Leader && s.LeaderName == next.name
		})
	})
}

// waitAnyLeader waits until one of cs leads and returns it.
func waitAnyLeader(t *testing.T, cs []*candidate, timeout time.Duration) *candidate {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, c := range cs {
			if _, ok := c.el.IsLeader(); ok {
				return c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no leader among %d candidates within %v", len(cs), timeout)
	return nil
}
