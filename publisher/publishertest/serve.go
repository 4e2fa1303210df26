package publishertest

import (
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
)

// ClientTimePeriod returns the time period a tor client of n fetches descriptors for.
func (n *Network) ClientTimePeriod(t testing.TB) hashring.TimePeriod {
	t.Helper()
	c, err := hashring.ParseConsensus(n.Consensus)
	if err != nil {
		t.Fatalf("the synthetic consensus does not parse: %v", err)
	}
	return c.ClientTimePeriod()
}

// Serve makes srv answer as a bootstrapped tor of n: the consensus, the microdescriptors, a finished
// bootstrap, and the descriptors of backends for n's client time period, signed at now. For code
// that speaks the real control protocol (torctl) rather than a publisher.Tor.
func Serve(t testing.TB, srv *torctltest.Server, n *Network, now time.Time, backends ...*Backend) {
	t.Helper()
	srv.SetInfo("dir/status-vote/current/consensus-microdesc", string(n.Consensus))
	srv.SetInfo("md/all", string(n.Microdescs))
	srv.SetInfo("status/bootstrap-phase", `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`)
	tp := n.ClientTimePeriod(t)
	for _, b := range backends {
		srv.SetDescriptor(b.Key.Address(), b.Descriptor(t, tp, now))
	}
}
