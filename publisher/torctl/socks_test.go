package torctl_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
)

const ours = "127.0.0.1:auto ExtendedErrors"

func socksForProbes(t *testing.T, c *torctl.Client) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	addr, opened, err := c.SocksForProbes(ctx)
	if err != nil {
		t.Fatalf("SocksForProbes: %v", err)
	}
	return addr, opened
}

// The management torrc of the docs says "SocksPort 0": a listener is opened, and found again by
// later calls and by a restarted daemon instead of opening another.
func TestSocksForProbesOpensOneWithSocksPort0(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	c := start(t, testConfig(srv))
	addr, opened := socksForProbes(t, c)
	if !opened {
		t.Fatalf("SocksPort 0: opened = false (address %q)", addr)
	}
	if got := srv.Conf("SocksPort"); !slices.Equal(got, []string{ours}) {
		t.Fatalf("SocksPort after SocksForProbes: %q, want only %q (the 0 dropped)", got, ours)
	}
	if l := srv.SocksListeners(); !slices.Equal(l, []string{addr}) {
		t.Fatalf("listeners %q, SocksForProbes said %q", l, addr)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("the returned address does not listen: %v", err)
	}
	conn.Close()

	again, opened := socksForProbes(t, c)
	if opened || again != addr {
		t.Fatalf("second call: %q opened=%v, want %q and not opened", again, opened, addr)
	}
	restarted := start(t, testConfig(srv)) // a daemon restarted against the same tor
	if a, opened := socksForProbes(t, restarted); opened || a != addr {
		t.Fatalf("restarted daemon: %q opened=%v, want %q and not opened", a, opened, addr)
	}
	if n := len(srv.SetConfs()); n != 1 {
		t.Fatalf("%d SETCONFs, want 1: %q", n, srv.SetConfs())
	}
}

// An operator's loopback SocksPort with ExtendedErrors is used as it is.
func TestSocksForProbesUsesTheOperatorsPort(t *testing.T) {
	for _, tc := range []struct {
		conf []string
		want string
	}{
		{[]string{"127.0.0.1:9150 ExtendedErrors"}, "127.0.0.1:9150"},
		{[]string{"9050", "[::1]:9151 IsolateDestAddr extendederrors"}, "[::1]:9151"},
		{[]string{"unix:/run/tor/socks ExtendedErrors", "127.0.0.1:9152 ExtendedErrors OnionTrafficOnly"}, "127.0.0.1:9152"},
	} {
		conf, want := tc.conf, tc.want
		srv := torctltest.Start(t, torctltest.Options{})
		if err := srv.SetConf("SocksPort", conf...); err != nil {
			t.Fatal(err)
		}
		c := start(t, testConfig(srv))
		addr, opened := socksForProbes(t, c)
		if opened || addr != want {
			t.Errorf("SocksPort %q: %q opened=%v, want %q and not opened", conf, addr, opened, want)
		}
		if n := len(srv.SetConfs()); n != 0 {
			t.Errorf("SocksPort %q: SETCONF sent: %q", conf, srv.SetConfs())
		}
	}
}

// The operator's ports that do not qualify are kept, and ours is added.
func TestSocksForProbesKeepsTheOperatorsPorts(t *testing.T) {
	for _, conf := range [][]string{
		{"9050"},                        // no ExtendedErrors
		{"0.0.0.0:9050 ExtendedErrors"}, // not loopback
		{"127.0.0.1:9050 ExtendedErrors NoIsolateSOCKSAuth"}, // probes would share circuits
		{"127.0.0.1:9050 ExtendedErrors NoOnionTraffic"},
		{`unix:"/run/tor/a socks" ExtendedErrors`, "auto"},
	} {
		srv := torctltest.Start(t, torctltest.Options{})
		if err := srv.SetConf("SocksPort", conf...); err != nil {
			t.Fatal(err)
		}
		before := srv.SocksListeners()
		c := start(t, testConfig(srv))
		addr, opened := socksForProbes(t, c)
		if !opened {
			t.Errorf("SocksPort %q: used %q, want a new port", conf, addr)
			continue
		}
		entry := ours
		if slices.Contains(conf, "auto") {
			// tor would not tell an operator's auto port from ours: ours has a number.
			entry = addr + " ExtendedErrors"
		}
		want := append(slices.Clone(conf), entry)
		if slices.Contains(conf, "auto") {
			want = []string{conf[0], entry, "auto"} // auto ports last: see autoLast
		}
		if got := srv.Conf("SocksPort"); !slices.Equal(got, want) {
			t.Errorf("SocksPort %q: after SETCONF %q, want %q", conf, got, want)
		}
		after := srv.SocksListeners()
		for _, l := range before {
			if !slices.Contains(after, l) {
				t.Errorf("SocksPort %q: listener %s closed", conf, l)
			}
		}
		if slices.Contains(before, addr) || !slices.Contains(after, addr) {
			t.Errorf("SocksPort %q: %q is not the new listener (before %q, after %q)", conf, addr, before, after)
		}
		if a, opened := socksForProbes(t, c); opened || a != addr {
			t.Errorf("SocksPort %q: second call %q opened=%v, want %q", conf, a, opened, addr)
		}
	}
}

// tor's default (no SocksPort line: 127.0.0.1:9050) stays open.
func TestSocksForProbesKeepsTheDefaultPort(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	if err := srv.SetConf("SocksPort"); err != nil {
		t.Fatal(err)
	}
	c := start(t, testConfig(srv))
	if _, opened := socksForProbes(t, c); !opened {
		t.Fatal("default SocksPort: not opened")
	}
	if got, want := srv.Conf("SocksPort"), []string{"127.0.0.1:9050", ours}; !slices.Equal(got, want) {
		t.Fatalf("after SETCONF %q, want %q", got, want)
	}
}

// A refusal names the command and tor's reply.
func TestSocksForProbesSetConfRefused(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	srv.FailSetConf("Unable to set option: Failed to bind one of the listener ports.")
	c := start(t, testConfig(srv))
	_, _, err := c.SocksForProbes(context.Background())
	var re *torctl.ReplyError
	if !errors.As(err, &re) || re.Code != 553 {
		t.Fatalf("error %v: want a ReplyError 553", err)
	}
	for _, s := range []string{"SETCONF SocksPort=", "Failed to bind", "health probes"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func TestSocksForProbesNotConnected(t *testing.T) {
	cfg := torctl.DefaultConfig()
	cfg.Address = "tcp:127.0.0.1:1"
	c, err := torctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.SocksForProbes(context.Background()); !errors.Is(err, torctl.ErrNotConnected) {
		t.Fatalf("error %v: want ErrNotConnected", err)
	}
}

func TestGetConf(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	c := start(t, testConfig(srv))
	ctx := context.Background()
	if v, err := c.GetConf(ctx, "SocksPort"); err != nil || !slices.Equal(v, []string{"0"}) {
		t.Errorf("GETCONF SocksPort: %q, %v; want [0]", v, err)
	}
	if err := srv.SetConf("SocksPort"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetConf(ctx, "socksport"); err != nil || v != nil {
		t.Errorf("GETCONF of a default: %q, %v; want nil", v, err)
	}
	var re *torctl.ReplyError
	if _, err := c.GetConf(ctx, "NoSuchOption"); !errors.As(err, &re) || re.Code != 552 {
		t.Errorf("GETCONF NoSuchOption: %v, want a 552 reply", err)
	}
	if _, err := c.GetConf(ctx, "SocksPort\r\nSIGNAL HALT"); !errors.Is(err, torctl.ErrInvalidArgument) {
		t.Errorf("GETCONF with CRLF: %v, want ErrInvalidArgument", err)
	}
}

// While tor's network is disabled it has no SOCKS listener; a SocksPort for probes that is
// configured but not open is not added to again (once per round, it would leave tor with a
// listener per round when the network comes back).
func TestSocksForProbesWhileTheNetworkIsDisabled(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	c := start(t, testConfig(srv))
	addr, _ := socksForProbes(t, c)
	if err := srv.SetConf("DisableNetwork", "1"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, opened, err := c.SocksForProbes(ctx)
		cancel()
		if !errors.Is(err, torctl.ErrSocksNotListening) {
			t.Fatalf("call %d with the network disabled: %q opened=%v err=%v, want ErrSocksNotListening", i, got, opened, err)
		}
	}
	if got := srv.Conf("SocksPort"); !slices.Equal(got, []string{ours}) {
		t.Fatalf("SocksPort with the network disabled: %q, want only %q", got, ours)
	}
	if err := srv.SetConf("DisableNetwork", "0"); err != nil {
		t.Fatal(err)
	}
	again, opened := socksForProbes(t, c)
	if opened || again == "" {
		t.Fatalf("after the network is back: %q opened=%v, want the reopened listener", again, opened)
	}
	if l := srv.SocksListeners(); len(l) != 1 {
		t.Fatalf("listeners after the network is back: %q, want 1 (was %s)", l, addr)
	}
	if n := len(srv.SetConfs()); n != 1 {
		t.Fatalf("%d SETCONFs, want 1: %q", n, srv.SetConfs())
	}
}

// With the network disabled from the start, one port is added and no more.
func TestSocksForProbesOpensOneWhileTheNetworkIsDisabled(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	if err := srv.SetConf("DisableNetwork", "1"); err != nil {
		t.Fatal(err)
	}
	c := start(t, testConfig(srv))
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := c.SocksForProbes(ctx)
		cancel()
		if err == nil {
			t.Fatalf("call %d: no error with the network disabled", i)
		}
	}
	if got := srv.Conf("SocksPort"); !slices.Equal(got, []string{ours}) {
		t.Fatalf("SocksPort: %q, want only %q", got, ours)
	}
	if err := srv.SetConf("DisableNetwork", "0"); err != nil {
		t.Fatal(err)
	}
	if addr, opened := socksForProbes(t, c); opened || addr == "" {
		t.Fatalf("after the network is back: %q opened=%v", addr, opened)
	}
}
