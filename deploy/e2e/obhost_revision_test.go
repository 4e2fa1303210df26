package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// TestOBHostRevisionAboveHeld: the HSDirs already hold a master descriptor with a revision counter
// above anything the time-based counter reaches (as after "stop the Python tool, start this", or a
// wiped data dir), and the obhost starts with a fresh data dir, so etcd has no publish record. Its
// first upload for that blinded key must be accepted: above the planted counter on every responsible
// HSDir, and the master address answers.
func TestOBHostRevisionAboveHeld(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	ctx := t.Context()
	var p planted
	d := deploy(ctx, t, n, deployConfig{Name: "obrev", Backends: 2, Client: true, BeforeDaemon: func(d *deployment) {
		p = plantMasterDescriptor(ctx, t, d)
	}})

	_, line, err := d.daemon.waitLine(ctx, 2*time.Minute, 0, "publishing above its revision counter",
		fmt.Sprintf("held_revision=%d", p.revision))
	if err != nil {
		t.Fatalf("the daemon did not see the planted counter: %v", err)
	}
	t.Logf("daemon: %s", line)
	took, err := d.firstUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("daemon start to the first descriptor accepted by an HSDir: %s", took.Round(100*time.Millisecond))

	// Every responsible HSDir of the planted blinded key now serves our descriptor, above the planted
	// counter: an HSDir that refused the upload would still serve the planted one.
	tc := dialTorControl(t, n.Client().Control)
	var res fetchResult
	err = waitFor(ctx, 2*time.Minute, func() bool {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		res, err = tc.fetchDescriptors(fctx, onion56(d.master), p.blinded, p.hsdirs)
		if err != nil {
			return false
		}
		for _, raw := range res.Descriptors {
			if rev, err := outerRevision(raw, p.key, p.period, p.periodLength); err != nil || rev <= p.revision {
				return false
			}
		}
		return len(res.Descriptors) == len(p.hsdirs)
	})
	if err != nil {
		t.Fatalf("the HSDirs of period %d do not all serve a counter above the planted %d: served %d, failures %v (%v)",
			p.period, p.revision, len(res.Descriptors), res.Failures, err)
	}
	if d.daemon.logHas("UPLOAD_REJECTED") {
		t.Errorf("an HSDir refused an upload:\n%s", fileTail(d.daemon.log, 40))
	}
	body, err := d.waitAnswer(ctx, d.client.socks, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the master answers (%q)", body)
}

// planted is the master descriptor put on the HSDirs before the daemon starts.
type planted struct {
	key                  *hsv3.IdentityKey
	period, periodLength uint64
	blinded              string // tor's unpadded base64
	hsdirs               []string
	revision             uint64
}

// plantMasterDescriptor signs a master descriptor (no intro points) with a revision counter above any
// time-based one for the blinded key clients use now, posts it to that key's responsible HSDirs
// through the network's client, and checks that every one serves it. It first waits, if needed, for a
// time period with enough of it left that the daemon publishes under the same blinded key.
func plantMasterDescriptor(ctx context.Context, t *testing.T, d *deployment) planted {
	t.Helper()
	key := generatedMasterKey(t, d)
	tc := dialTorControl(t, d.n.Client().Control)
	var p planted
	for {
		v, err := tc.view(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sched := v.cons.Schedule()
		slot := v.cons.ClientTimePeriod()
		left := time.Until(sched.PeriodStart(slot.Period + 1))
		if left < 150*time.Second {
			t.Logf("time period %d ends in %s: waiting for the next one", slot.Period, left.Round(time.Second))
			clock.Sleep(ctx, clock.Real{}, left+30*time.Second) // and for a consensus of the new period
			continue
		}
		blinded, hsdirs, err := v.clientHSDirs(key.Address())
		if err != nil {
			t.Fatal(err)
		}
		p = planted{key: key, period: slot.Period, periodLength: slot.PeriodLength, blinded: blinded, hsdirs: hsdirs}
		break
	}
	ope, err := hsv3.OPERevisionCounter(hsv3.RevisionCounterKey(key.BlindedKey(p.period, p.periodLength)), hsv3.OPEMaxInput-1)
	if err != nil {
		t.Fatal(err)
	}
	p.revision = ope + 1_000_000
	desc, err := hsv3.Encode(hsv3.EncodeParams{Identity: key, PeriodNum: p.period, PeriodLength: p.periodLength,
		RevisionCounter: p.revision, Now: time.Now(), Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.c.PostDescriptor(ctx, desc, key.Address(), p.hsdirs); err != nil {
		t.Fatalf("HSPOST of the planted descriptor: %v", err)
	}
	var res fetchResult
	err = waitFor(ctx, time.Minute, func() bool {
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		res, err = tc.fetchDescriptors(fctx, key.Address(), p.blinded, p.hsdirs)
		if err != nil || len(res.Descriptors) != len(p.hsdirs) {
			return false
		}
		for _, raw := range res.Descriptors {
			if rev, err := outerRevision(raw, key, p.period, p.periodLength); err != nil || rev != p.revision {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("the planted descriptor is not on all %d HSDirs: served %d, failures %v", len(p.hsdirs), len(res.Descriptors), res.Failures)
	}
	t.Logf("planted revision %d for period %d on %d HSDirs", p.revision, p.period, len(p.hsdirs))
	return p
}

// outerRevision verifies a descriptor of key's address for a time period and returns its counter.
func outerRevision(raw []byte, key *hsv3.IdentityKey, period, length uint64) (uint64, error) {
	blinded, err := hsv3.BlindPublicKey(key.PublicKey(), period, length)
	if err != nil {
		return 0, err
	}
	desc, err := hsv3.DecodeOuter(raw, blinded, hsv3.DecodeOptions{Now: time.Now()})
	if err != nil {
		return 0, err
	}
	return desc.RevisionCounter, nil
}

// generatedMasterKey loads the master key onionbalance-config generated for d.
func generatedMasterKey(t *testing.T, d *deployment) *hsv3.IdentityKey {
	t.Helper()
	path := filepath.Join(d.gen, "master", "config.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gc generatedConfig
	if err := yaml.Unmarshal(raw, &gc); err != nil || len(gc.Services) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	file := gc.Services[0].Key
	if !filepath.IsAbs(file) {
		file = filepath.Join(d.gen, "master", file)
	}
	key, err := hsv3.LoadIdentityKey(file)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
