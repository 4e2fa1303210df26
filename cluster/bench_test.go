package cluster_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store/storetest"
	"github.com/obcluster/obcluster/store/storetest/tcpproxy"
)

// BenchmarkFailoverAfterCrash measures how long a follower takes to lead
// after the leader vanishes without resigning, with TTL 5 s on a
// single-member etcd. The crash is simulated by closing the proxy between
// the leader and etcd (its connections drop, new ones are refused), at a
// random point of the keepalive cycle. Closing the leader's client instead
// is not a faithful crash: the election may still revoke its lease through
// the closing connection and hand over at once. Each iteration takes about
// one TTL; run with -benchtime=5x for several samples.
func BenchmarkFailoverAfterCrash(b *testing.B) {
	eps := storetest.Single(b)
	target := strings.TrimPrefix(eps[0], "http://")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		keys := testKeys(b, fmt.Sprintf("/bench%d", i))
		proxy, err := tcpproxy.Start(target)
		if err != nil {
			b.Fatal(err)
		}
		lead := startCandidate(b, storetest.NewClient(b, "http://"+proxy.Addr()), keys, testConfig("a"))
		lead.waitLeader(b, 10*time.Second)
		next := startCandidate(b, storetest.NewClient(b, eps...), keys, testConfig("b"))
		next.waitState(b, 10*time.Second, "a as leader", func(s cluster.State) bool { return s.LeaderName == "a" })
		time.Sleep(rand.N(testTTL / 3))
		b.StartTimer()
		start := time.Now()
		proxy.Close()
		next.waitLeader(b, 20*time.Second)
		b.StopTimer()
		b.Logf("failover %d: %v", i, time.Since(start))
		lead.shutdown(b)
		next.shutdown(b)
	}
}
