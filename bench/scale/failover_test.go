package scale

import (
	"os"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
)

// failoverResult is one measured failover.
type failoverResult struct {
	Failover    bool    `json:"failover"`
	Services    int     `json:"services"`
	Backends    int     `json:"backends_per_service"`
	TTLS        float64 `json:"session_ttl_s"`
	TakeoverS   float64 `json:"takeover_s"`      // kill -> the other node leads
	PublishedS  float64 `json:"all_published_s"` // kill -> it has published every service
	FirstCycleS float64 `json:"first_cycle_s"`   // the first leader's full cycle, for reference
}

// TestScaleFailover runs two nodes (each with its own fake tor) on one etcd with OB_SCALE_FAILOVER
// services (default 100) of OB_SCALE_BACKENDS backends, waits until the first leader has published
// every service, kills it (its etcd connection first: no resignation, the lease runs out) and measures
// how long the other node takes to lead and to publish every service again (target: session TTL + 10 s).
func TestScaleFailover(t *testing.T) {
	if os.Getenv("OB_SCALE") == "" {
		t.Skip("set OB_SCALE=1 (bench/run -scale runs this)")
	}
	nsvc := envInts(t, "OB_SCALE_FAILOVER", []int{100})[0]
	nbe := envInts(t, "OB_SCALE_BACKENDS", []int{10})[0]
	if nsvc == 0 {
		t.Skip("OB_SCALE_FAILOVER=0")
	}
	w := newWorld(t, nsvc, nbe, 50)
	start := time.Now()
	a := w.startNode("obhost1", 0)
	first, err := a.waitPublished(nsvc, 2*nbe, start, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b := w.startNode("obhost2", 0)
	deadline := time.Now().Add(time.Minute)
	for st := b.m.Status(); st == nil || st.ConsensusValidAfter.IsZero(); st = b.m.Status() {
		if time.Now().After(deadline) {
			t.Fatal("the second node has no consensus after a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a follower that has been running for a moment

	kill := time.Now()
	a.kill()
	var takeover time.Duration
	for {
		if _, ok := b.el.IsLeader(); ok {
			takeover = time.Since(kill)
			break
		}
		if time.Since(kill) > 2*time.Minute {
			t.Fatal("the second node did not take over within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	all, err := b.waitPublished(nsvc, 2*nbe, kill, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ttl := cluster.DefaultConfig("x").TTL
	r := failoverResult{Failover: true, Services: nsvc, Backends: nbe, TTLS: ttl.Seconds(), TakeoverS: takeover.Seconds(),
		PublishedS: all.Seconds(), FirstCycleS: first.Seconds()}
	t.Logf("failover with %d services x %d backends: the other node leads %.1f s after the kill and has published every service %.1f s after it (target %.0f s = TTL + 10 s); the first leader's cycle took %.1f s",
		nsvc, nbe, r.TakeoverS, r.PublishedS, (ttl + 10*time.Second).Seconds(), r.FirstCycleS)
	if all > ttl+10*time.Second {
		t.Errorf("all services published %.1f s after the kill, more than TTL + 10 s", all.Seconds())
	}
	writeResult(t, r)
}
