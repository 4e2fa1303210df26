package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// Bounds of the backend-health tests (issue 16, "Done when").
const (
	// hGoneBound: a killed backend's intro points are gone from the master descriptor on every
	// responsible HSDir within this.
	hGoneBound = 120 * time.Second
	// hBackSlack is added to two fetch intervals for "the restarted backend is back in the master
	// descriptor": the upload to the HSDirs and the test's own poll (fetching every backend's and
	// the master's descriptors from the HSDirs takes a few seconds).
	hBackSlack = 15 * time.Second
	// hAfterRemoval is how long the client goes on requesting the master address once the dead
	// backend is gone.
	hAfterRemoval = time.Minute
)

// hKillsEnv sets how many kill-and-restart cycles TestHealthBackendKilled runs (default 1; 3 for
// the median and maximum that issue 16 asks for).
const hKillsEnv = "OB_E2E_HEALTH_KILLS"

// TestHealthBackendKilled is issue 16's end-to-end proof on one obhost with three backends and
// probes on (healthYAML): a backend's tor killed with SIGKILL leaves the master descriptor on every
// responsible HSDir within hGoneBound while a client requesting the master address every 5 s keeps
// getting answers; etcd holds the down verdict and the status socket and `onionbalance status` show
// it with its reason; the backend started again (same keys) is back in the master descriptor
// within two fetch intervals of its new descriptor. $OB_E2E_HEALTH_KILLS repeats the kill and the
// restart (figures: median and maximum). Last, with all backends but one killed, then all, the
// descriptor on the HSDirs never becomes empty and loses at most MaxDownFraction of the backends.
func TestHealthBackendKilled(t *testing.T) {
	t.Parallel()
	kills := 1
	if v := os.Getenv(hKillsEnv); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 {
			t.Fatalf("$%s=%q: want a number of kills, at least 1", hKillsEnv, v)
		}
		kills = k
	}
	n := shared.Network(t)
	ctx := t.Context()
	d := deploy(ctx, t, n, deployConfig{Name: "obk", Backends: 3, DaemonConfig: healthYAML()})
	if _, err := d.firstUpload(ctx); err != nil {
		t.Fatal(err)
	}
	h := &healthRun{d: d, socks: n.Client().Socks, tc: dialTorControl(t, n.Client().Control), keys: healthKeys(t)}
	if _, err := d.waitMasterCovers(ctx, h.tc, 3*time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	h.cli = d.etcdClient(ctx, t)
	h.verdicts = watchVerdicts(t, h.cli, h.keys)
	var addrs []string
	for _, b := range d.backends {
		addrs = append(addrs, onion56(b.onion))
	}
	if err := waitProbedAlive(ctx, h.cli, h.keys, addrs, 3*time.Minute); err != nil {
		t.Fatal(err)
	}

	victim := d.backends[len(d.backends)-1]
	var goneTimes, backTimes []time.Duration
	for i := 1; i <= kills; i++ {
		owners, err := d.introOwners(ctx, h.tc, nil)
		if err != nil {
			t.Fatal(err)
		}
		var gone []string
		for a, owner := range owners {
			if owner == victim.name {
				gone = append(gone, a)
			}
		}
		if len(gone) == 0 {
			t.Fatalf("no intro points known for %s", victim.name)
		}
		if !t.Run(fmt.Sprintf("killed-%d", i), func(t *testing.T) {
			goneTimes = append(goneTimes, h.killed(ctx, t, victim, gone))
		}) {
			t.FailNow()
		}
		if !t.Run(fmt.Sprintf("restarted-%d", i), func(t *testing.T) {
			backTimes = append(backTimes, h.restarted(ctx, t, victim, gone))
		}) {
			t.FailNow()
		}
	}
	gm, gx := clMedianMax(goneTimes)
	bm, bx := clMedianMax(backTimes)
	t.Logf("HEALTH over %d kills: kill -> gone from every responsible HSDir %v (median %v, max %v); its new descriptor on the HSDirs -> back in the master's %v (median %v, max %v)",
		kills, roundAll(goneTimes), gm, gx, roundAll(backTimes), bm, bx)

	t.Run("all-killed", func(t *testing.T) {
		testAllKilled(ctx, t, d, h.tc, h.verdicts)
	})
	d.logUsage(t)
}

// healthRun is what the steps of TestHealthBackendKilled share.
type healthRun struct {
	d        *deployment
	socks    string // the client's, to request the master address
	tc       *torControl
	keys     store.Keys
	cli      *clientv3.Client
	verdicts *verdictWatch
}

// killed kills victim's tor (whose intro points are gone), waits until they are gone from the master
// descriptor on every responsible HSDir while a client requests the master address, checks the
// verdict in etcd and the status, and returns the time from the kill to gone.
func (h *healthRun) killed(ctx context.Context, t *testing.T, victim *backend, gone []string) time.Duration {
	d, addr := h.d, onion56(victim.onion)
	answers := &splitAnswers{}
	stopPolling := d.pollInBackground(ctx, h.socks, 5*time.Second, answers)
	killedAt := time.Now()
	if !victim.tor.p.signal(syscall.SIGKILL, 10*time.Second) {
		stopPolling()
		t.Fatalf("%s's tor did not die on SIGKILL", victim.name)
	}
	// Wait beyond the bound, so that a slow removal is measured too.
	goneAt, last, err := d.waitIntroPointsGone(ctx, h.tc, victim, gone, killedAt.Add(2*hGoneBound), 5*time.Second, "")
	if err != nil {
		stopPolling()
		t.Fatal(err)
	}
	if goneAt.IsZero() {
		stopPolling()
		t.Fatalf("%s's intro points still on the HSDirs %s after the kill: %s", victim.name,
			time.Since(killedAt).Round(time.Second), last)
	}
	answers.switchAt(goneAt)
	took := goneAt.Sub(killedAt)
	t.Logf("HEALTH backend killed -> its intro points gone from the master descriptor on every responsible HSDir: %s (polls every 5 s; bound %s)",
		took.Round(time.Second), hGoneBound)
	if took > hGoneBound {
		t.Errorf("the killed backend's intro points left the HSDirs %s after the kill, more than %s", took.Round(time.Second), hGoneBound)
	}
	if ev, ok := h.verdicts.firstState(addr, record.HealthDown, killedAt); ok {
		t.Logf("kill -> down verdict in etcd: %s (%q); down verdict -> gone from every HSDir: %s",
			ev.At.Sub(killedAt).Round(time.Second), ev.V.Reason, goneAt.Sub(ev.At).Round(time.Second))
	}

	// The client goes on after the removal.
	time.Sleep(hAfterRemoval)
	stopPolling()
	t.Logf("master address every 5 s, kill to removal: %s; after the removal (%s): %s", &answers.before, hAfterRemoval, &answers.after)
	for _, c := range []*answerCounter{&answers.before, &answers.after} {
		if c.byName[victim.answer] > 0 {
			t.Errorf("the killed backend %s answered %d times", victim.name, c.byName[victim.answer])
		}
	}
	if answers.before.failed > 0 {
		t.Logf("failed requests before the removal: %q", answers.before.errs)
	}
	after := answers.after.ok + answers.after.failed
	if after == 0 || 2*answers.after.failed >= after {
		t.Errorf("after the removal %d of %d requests failed, want most to succeed: %q", answers.after.failed, after, answers.after.errs)
	} else if answers.after.failed > 0 {
		t.Logf("failed requests after the removal: %q", answers.after.errs)
	}

	// etcd holds the verdict; the status socket and the status command show it with its reason.
	v, ok := h.verdicts.current()[addr]
	if !ok || v.State != record.HealthDown || v.Reason == "" {
		t.Errorf("etcd %s: %+v (present %v), want state %q with a reason", h.keys.BackendHealth(addr), v, ok, record.HealthDown)
	} else {
		t.Logf("etcd %s: state %s since %s: %s", h.keys.BackendHealth(addr), v.State, v.Since.Format(time.TimeOnly), v.Reason)
	}
	found := false
	for _, in := range d.serviceStatus(ctx, t).Instances {
		if a, _ := in["onionAddress"].(string); onion56(a) != addr {
			continue
		}
		found = true
		if reason, _ := in["healthReason"].(string); in["health"] != record.HealthDown || in["excluded"] != true || reason == "" {
			t.Errorf("status socket: instance %v, want health %q, excluded and a healthReason", in, record.HealthDown)
		}
	}
	if !found {
		t.Errorf("status socket lists no instance %s", addr)
	}
	text := runOB(ctx, t, d.n, "status", "-c", d.configPath(t))
	line, probes := statusLine(text, addr, "down: "), statusLine(text, "last probes of "+victim.name+":")
	if line == "" || probes == "" {
		t.Errorf("onionbalance status shows no line with %s and \"down: <reason>\", or no last probes of %s:\n%s", addr, victim.name, text)
	} else {
		t.Logf("onionbalance status:\n%s\n%s", line, probes)
	}
	return took
}

// restarted starts victim's tor again (same keys), waits until its own new descriptor (none of
// the intro points gone) is on the HSDirs and the master descriptor on every responsible HSDir
// carries it, and returns the time between the two.
func (h *healthRun) restarted(ctx context.Context, t *testing.T, victim *backend, gone []string) time.Duration {
	d, addr := h.d, onion56(victim.onion)
	startAt := time.Now()
	if err := victim.tor.start(ctx); err != nil {
		t.Fatal(err)
	}
	bootstrapped := time.Now()
	var ownAt time.Time
	err := waitFor(ctx, 3*time.Minute, func() bool {
		keys, err := backendAuthKeys(ctx, h.tc, victim.onion)
		if err != nil || len(keys) == 0 {
			return false
		}
		for _, k := range keys {
			if slices.Contains(gone, k) {
				return false
			}
		}
		ownAt = time.Now()
		return true
	})
	if err != nil {
		t.Fatalf("%s's new descriptor never reached the HSDirs: %v", victim.name, err)
	}
	var last error
	err = waitFor(ctx, 3*time.Minute, func() bool {
		last = d.checkMasterCarriesNew(ctx, h.tc, victim, gone, "")
		return last == nil
	})
	if err != nil {
		t.Fatalf("the master descriptor never carried %s again: %v (last check: %v)", victim.name, err, last)
	}
	backAt := time.Now()
	took := backAt.Sub(ownAt)
	t.Logf("HEALTH backend restarted: start -> bootstrapped %s -> its own new descriptor on the HSDirs %s -> back in the master descriptor on every responsible HSDir %s (start to back: %s)",
		bootstrapped.Sub(startAt).Round(time.Second), ownAt.Sub(bootstrapped).Round(time.Second),
		took.Round(time.Second), backAt.Sub(startAt).Round(time.Second))
	if ev, ok := h.verdicts.firstState(addr, record.HealthUp, startAt); ok {
		t.Logf("up verdict in etcd %s after the start (%q)", ev.At.Sub(startAt).Round(time.Second), ev.V.Reason)
	}
	if took > 2*fetchInterval+hBackSlack {
		t.Errorf("back in the master descriptor %s after its new descriptor was on the HSDirs, more than two fetch intervals (%s) + %s",
			took.Round(time.Second), 2*fetchInterval, hBackSlack)
	}
	if _, err := d.waitAnswer(ctx, h.socks, 2*time.Minute); err != nil {
		t.Error(err)
	}
	return took
}

// roundAll rounds durations to the second, for logs.
func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Second)
	}
	return out
}

// testAllKilled kills every backend's tor but one, then the last one too, and checks each time, over
// longer than it takes to judge a backend down and republish, that the master descriptor on every
// responsible HSDir stays non-empty and keeps intro points of all but at most MaxDownFraction of the
// backends. With one backend alive the dead ones are judged down and the cap keeps one in; with
// none alive no round counts (fail open).
func testAllKilled(ctx context.Context, t *testing.T, d *deployment, tc *torControl, verdicts *verdictWatch) {
	owners, err := d.introOwners(ctx, tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	capped := hRules().MaxDown(len(d.backends))
	window := hFailures*hInterval + hMinDown + 3*fetchInterval + time.Minute
	for stage, kill := range [][]*backend{d.backends[:len(d.backends)-1], d.backends[len(d.backends)-1:]} {
		killedAt := time.Now()
		for _, b := range kill {
			if !b.tor.p.signal(syscall.SIGKILL, 10*time.Second) {
				t.Fatalf("%s's tor did not die on SIGKILL", b.name)
			}
		}
		what := fmt.Sprintf("%d of %d backends killed", len(kill), len(d.backends))
		if stage == 1 {
			what = "every backend killed"
		}
		polls, minCovered := 0, len(d.backends)
		for time.Since(killedAt) < window {
			// The dead backends' descriptors stay on the HSDirs: learn their intro points afresh,
			// as the master's descriptor for a new time period is made from their other one.
			if fresh, err := d.introOwners(ctx, tc, nil); err == nil {
				maps.Copy(owners, fresh)
			}
			mc, err := d.masterIntroCount(ctx, tc, owners)
			switch {
			case mc.empty > 0:
				t.Errorf("%s, +%s: %d HSDirs serve a master descriptor without intro points", what,
					time.Since(killedAt).Round(time.Second), mc.empty)
			case err != nil:
				t.Logf("%s, +%s: %v", what, time.Since(killedAt).Round(time.Second), err)
			default:
				polls++
				minCovered = min(minCovered, mc.covered)
				if mc.covered < len(d.backends)-capped {
					t.Errorf("%s, +%s: some HSDir serves intro points of %d backends only; at most %d of %d may leave (max-down-fraction %v)",
						what, time.Since(killedAt).Round(time.Second), mc.covered, capped, len(d.backends), hMaxDownFraction)
				}
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(10 * time.Second):
			}
		}
		downs := 0
		for _, v := range verdicts.current() {
			if v.State == record.HealthDown {
				downs++
			}
		}
		t.Logf("HEALTH %s: over %s, %d fetches of the master from every responsible HSDir, never empty; fewest backends in one HSDir's descriptor %d of %d (cap: %d may leave); down verdicts in etcd: %d",
			what, window, polls, minCovered, len(d.backends), capped, downs)
		if polls == 0 {
			t.Errorf("%s: no fetch of the master descriptor succeeded in %s", what, window)
		}
		if stage == 0 && (downs != len(kill) || minCovered != len(d.backends)-capped) {
			t.Errorf("%s with one alive: %d down verdicts and at least %d backends in every descriptor, want %d and %d (the cap keeps the others in)",
				what, downs, minCovered, len(kill), len(d.backends)-capped)
		}
	}
}

// introCount is what masterIntroCount found.
type introCount struct {
	hsdirs  int
	empty   int // HSDirs serving a descriptor without intro points
	covered int // fewest backends with an intro point in one HSDir's descriptor
}

// masterIntroCount fetches the master descriptor from every responsible HSDir (our decoder) and
// counts, per HSDir, the backends (owners) its intro points belong to.
func (d *deployment) masterIntroCount(ctx context.Context, tc *torControl, owners map[string]string) (introCount, error) {
	ic := introCount{covered: len(d.backends)}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := tc.fetchFromResponsible(fctx, onion56(d.master))
	if err != nil {
		return ic, err
	}
	var errs []error
	for hsdir, raw := range res.Descriptors {
		dec, err := decodeOurs(raw, d.master, time.Now())
		if err != nil {
			errs = append(errs, fmt.Errorf("descriptor from %s: %w", hsdir, err))
			continue
		}
		ic.hsdirs++
		if len(dec.auth) == 0 {
			ic.empty++
		}
		backends := map[string]bool{}
		for _, a := range dec.auth {
			o, ok := owners[a]
			if !ok {
				errs = append(errs, fmt.Errorf("descriptor from %s: intro point %s is no backend's", hsdir, a))
				continue
			}
			backends[o] = true
		}
		ic.covered = min(ic.covered, len(backends))
	}
	if ic.hsdirs == 0 {
		errs = append(errs, errors.New("no HSDir served the master descriptor"))
	}
	return ic, errors.Join(errs...)
}
