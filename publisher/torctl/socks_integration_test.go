package torctl_test

import (
	"context"
	"net"
	"slices"
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

// An operator's SocksPorts without ExtendedErrors (one numbered, one "auto") stay open; ours is
// added with a number (an "auto" one could not be told from the operator's later) and found again.
func TestRealTorSocksForProbesKeepsOperatorPorts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	numbered := ln.Addr().String()
	ln.Close()
	tor := startRealTor(t, "DisableNetwork 0", "TestingTorNetwork 1",
		"DirAuthority nowhere orport=1 no-v2 v3ident="+fpA+" 127.0.0.1:2 "+fpB,
		"SocksPort "+numbered, "SocksPort 127.0.0.1:auto")
	c := start(t, realConfig("tcp:"+tor.control))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before, err := c.GetInfo(ctx, "net/listeners/socks")
	if err != nil {
		t.Fatal(err)
	}
	addr, opened, err := c.SocksForProbes(ctx)
	if err != nil || !opened {
		t.Fatalf("SocksForProbes: %q opened=%v %v", addr, opened, err)
	}
	conf, err := c.GetConf(ctx, "SocksPort")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{numbered, addr + " ExtendedErrors", "127.0.0.1:auto"} // auto ports last
	if !slices.Equal(conf, want) {
		t.Fatalf("SocksPort after: %q, want %q", conf, want)
	}
	after, err := c.GetInfo(ctx, "net/listeners/socks")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Fields(before) {
		if !strings.Contains(after, l) {
			t.Errorf("listener %s closed: before %s, after %s", l, before, after)
		}
		conn, err := net.Dial("tcp", strings.Trim(l, `"`))
		if err != nil {
			t.Errorf("operator's listener %s: %v", l, err)
		} else {
			conn.Close()
		}
	}
	t.Logf("listeners before %s, after %s; ours %s; numbered %s", before, after, addr, numbered)
	checkExtendedErrors(ctx, t, addr)

	again, opened, err := start(t, realConfig("tcp:"+tor.control)).SocksForProbes(ctx)
	if err != nil || opened || again != addr {
		t.Fatalf("restarted daemon: %q opened=%v %v; want %q, not opened", again, opened, err, addr)
	}
}
