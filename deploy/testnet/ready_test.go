package testnet

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseBootstrapProgress(t *testing.T) {
	cases := map[string]int{
		`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`:                                     100,
		`NOTICE BOOTSTRAP PROGRESS=30 TAG=loading_status SUMMARY="Loading networkstatus consensus"`: 30,
		`WARN BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting" WARNING="x" REASON=MISC`:         0,
	}
	for in, want := range cases {
		if got, err := parseBootstrapProgress(in); err != nil || got != want {
			t.Errorf("parseBootstrapProgress(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "NOTICE BOOTSTRAP TAG=done", "PROGRESS=101", "PROGRESS=x"} {
		if got, err := parseBootstrapProgress(bad); err == nil {
			t.Errorf("parseBootstrapProgress(%q) = %d, want an error", bad, got)
		}
	}
}

// The arti live consensus has 5 relays, of which Ukko and Akka are HSDirs
// (tor-vectors/README.md).
func TestCountConsensusFlagsVector(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), "consensus", "arti-live_consensus-microdesc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	relays, hsdirs := countConsensusFlags(string(b))
	if relays != 5 || hsdirs != 2 {
		t.Fatalf("relays, hsdirs = %d, %d; want 5, 2", relays, hsdirs)
	}
}

func TestCountConsensusFlagsIgnoresLookalikes(t *testing.T) {
	doc := "r a x 2026-01-01 00:00:00 127.0.0.1 1 0\ns Fast HSDirX Running\n" +
		"r b y 2026-01-01 00:00:00 127.0.0.1 2 0\ns HSDir\n" +
		"params HSDir=2\n"
	if relays, hsdirs := countConsensusFlags(doc); relays != 2 || hsdirs != 1 {
		t.Fatalf("relays, hsdirs = %d, %d; want 2, 1", relays, hsdirs)
	}
}

func TestProbeReadiness(t *testing.T) {
	consensus := "network-status-version 3 microdesc\n" +
		"r auth1 AAAA 2026-11-23 13:00:00 127.0.0.1 5001 0\nm xyz\ns Authority Exit Fast Guard HSDir Running V2Dir Valid\n" +
		"r relay1 BBBB 2026-11-23 13:00:00 127.0.0.1 5101 0\nm xyz\ns Exit Fast Guard Running V2Dir Valid\n" +
		"r relay2 CCCC 2026-11-23 13:00:00 127.0.0.1 5201 0\nm xyz\ns Exit Fast Guard HSDir Running V2Dir Valid\n" +
		"directory-footer"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ready := startFakeControl(t, map[string]string{
		"status/bootstrap-phase":                      `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`,
		"dir/status-vote/current/consensus-microdesc": consensus,
	})
	p := &prober{addr: ready.addr, cookie: ready.cookie}
	defer p.Close()
	for i := range 2 { // the second probe reuses the connection
		r, err := p.probe(ctx)
		if err != nil || r != (Readiness{Bootstrap: 100, HSDirs: 2, Relays: 3}) {
			t.Errorf("ready tor, probe %d: %+v, %v", i, r, err)
		}
	}
	if got := ready.conns.Load(); got != 1 {
		t.Errorf("two probes opened %d control connections, want 1", got)
	}

	// No consensus yet: tor answers 551, which is zero HSDirs, not an error.
	early := startFakeControl(t, map[string]string{
		"status/bootstrap-phase": `NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay"`,
	})
	pe := &prober{addr: early.addr, cookie: early.cookie}
	defer pe.Close()
	r, err := pe.probe(ctx)
	if err != nil || r != (Readiness{Bootstrap: 5}) {
		t.Errorf("early tor: %+v, %v", r, err)
	}
}
