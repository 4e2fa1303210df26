package torctl_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/publisher/health/socksprobe"
)

// A real tor started with the management torrc's "SocksPort 0" gets a SOCKS listener with
// ExtendedErrors through the control port; a restarted daemon finds it again, and a restarted tor
// (which forgot it) gets a new one. The network is on (listeners need it) but points at a
// directory authority that does not exist, so nothing leaves the host.
func TestRealTorSocksForProbes(t *testing.T) {
	tor := startRealTor(t, "DisableNetwork 0", "TestingTorNetwork 1",
		"DirAuthority nowhere orport=1 no-v2 v3ident="+fpA+" 127.0.0.1:2 "+fpB)
	c := start(t, realConfig("tcp:"+tor.control))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	addr, opened, err := c.SocksForProbes(ctx)
	if err != nil || !opened || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("SocksForProbes on SocksPort 0: %q opened=%v %v", addr, opened, err)
	}
	t.Logf("opened %s", addr)
	checkExtendedErrors(ctx, t, addr)

	restarted := start(t, realConfig("tcp:"+tor.control))
	again, opened, err := restarted.SocksForProbes(ctx)
	if err != nil || opened || again != addr {
		t.Fatalf("restarted daemon: %q opened=%v %v; want %q, not opened", again, opened, err, addr)
	}

	_, port, _ := strings.Cut(tor.control, ":")
	tor.kill()
	tor.start(port)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	if err := restarted.WaitReady(ctx2); err != nil {
		t.Fatal(err)
	}
	var after string
	for { // the client may not have noticed the restart yet: retry until a command goes through
		after, opened, err = restarted.SocksForProbes(ctx2)
		if err == nil || ctx2.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || !opened {
		t.Fatalf("after a tor restart: %q opened=%v %v; want a new listener", after, opened, err)
	}
	checkExtendedErrors(ctx2, t, after)
}

// checkExtendedErrors probes an address with a bad checksum through addr: tor answers 0xF6 only on
// a SocksPort with ExtendedErrors (general failure otherwise).
func checkExtendedErrors(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	onion := v3Address(t)
	badSum := onion[:50] + map[bool]string{true: "bbbbbb", false: "aaaaaa"}[onion[50:] == "aaaaaa"]
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := (&socksprobe.Prober{Addr: addr}).Probe(pctx, badSum, 80)
	if r.Outcome != health.BadAddress {
		t.Fatalf("probe of a bad address through %s: %q (%s), want %q (tor's 0xF6: ExtendedErrors)", addr, r.Outcome, r.Detail, health.BadAddress)
	}
	t.Logf("bad address through %s: %s in %v", addr, r.Detail, r.Latency)
}
