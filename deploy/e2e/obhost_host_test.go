package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// TestOBHost deploys an OnionBalance host from onionbalance-config's output
// (three backends) and checks, in order: tor accepts the generated backends
// and the master address answers (issue 7); requests reach every backend and
// the status socket reports them (issue 5); the descriptor on the HSDirs
// decodes with our decoder and with stem and holds only backend intro points;
// a stopped backend leaves the descriptor while the address keeps answering
// (issue 5).
func TestOBHost(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	ctx := t.Context()
	d := deploy(ctx, t, n, deployConfig{Name: "ob3", Backends: 3, Client: true})
	socks := n.Client().Socks
	ok := t.Run("master-answers", func(t *testing.T) {
		took, err := d.firstUpload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("daemon start to the first descriptor accepted by an HSDir: %s", took.Round(100*time.Millisecond))
		body, err := d.waitAnswer(ctx, socks, 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("daemon start to the first answer through the client (%q): %s", body, time.Since(d.daemon.started).Round(100*time.Millisecond))
	})
	if !ok {
		t.FailNow()
	}

	t.Run("balancing", func(t *testing.T) {
		// The deployment's own client fetches the descriptor again (NEWNYM)
		// before every few requests: a cached descriptor from before every
		// backend was live would hide the late ones.
		tc := dialTorControl(t, d.client.control)
		c, err := d.reachAll(ctx, d.client.socks, 3*time.Minute, tc.newnym)
		t.Logf("requests on fresh circuits: %s", c)
		if err != nil {
			t.Fatal(err)
		}
		svc := d.serviceStatus(ctx, t)
		if svc.First == nil {
			t.Errorf("status: publishAttemptFirstDescriptor is null")
		}
		if len(svc.Instances) != len(d.backends) {
			t.Errorf("status: %d instances, want %d", len(svc.Instances), len(d.backends))
		}
		for _, in := range svc.Instances {
			if n, ok := in["introPointsNum"].(float64); !ok || n < 1 {
				t.Errorf("status: instance %v has no introPointsNum", in)
			}
		}
	})

	t.Run("descriptor-fetched-back", func(t *testing.T) {
		tc := dialTorControl(t, n.Client().Control)
		mc, err := d.waitMasterCovers(ctx, tc, 2*time.Minute, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if !mc.stem {
			t.Skipf("%v: only our decoder checked the descriptors", errNoStem)
		}
		t.Logf("%d HSDirs served the master descriptor; at most %d intro points; both decoders agree", mc.hsdirs, mc.maxIntro)
	})

	t.Run("backend-stop", func(t *testing.T) {
		testBackendStop(ctx, t, d, socks)
	})
	d.logUsage(t)
}

// testBackendStop stops the last backend's tor and waits until the master
// descriptor on every responsible HSDir lacks its intro points, requesting
// the master address every few seconds meanwhile.
func testBackendStop(ctx context.Context, t *testing.T, d *deployment, socks string) {
	tc := dialTorControl(t, d.n.Client().Control)
	stopped := d.backends[len(d.backends)-1]
	owners, err := d.introOwners(ctx, tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	for a, owner := range owners {
		if owner == stopped.name {
			gone = append(gone, a)
		}
	}
	if len(gone) == 0 {
		t.Fatalf("no intro points known for %s", stopped.name)
	}

	// The stopped tor's descriptors stay on the HSDirs. A client (and the
	// daemon) stops finding one once the time period it was made for is
	// over: tor keeps the current period's descriptor and, from the start of
	// the SRV run (the second half of a period), the next period's too.
	v, err := tc.view(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sched, va := v.cons.Schedule(), v.cons.ValidAfter
	tp := sched.PeriodNum(va)
	lastDesc := tp
	if !sched.BetweenTPAndSRV(va) {
		lastDesc = tp + 1
	}
	notFoundFrom := sched.PeriodStart(lastDesc + 1)
	deadline := notFoundFrom.Add(backendTimeout + 2*fetchInterval + 2*time.Minute)
	t.Logf("stopping %s; its last descriptor is for period %d, so it is NOT_FOUND from %s (in %s); waiting until %s",
		stopped.name, lastDesc, notFoundFrom.Format(time.TimeOnly), time.Until(notFoundFrom).Round(time.Second),
		deadline.Format(time.TimeOnly))

	from := len(d.daemon.lines())
	stopAt := time.Now()
	if err := stopped.tor.p.stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	answers := &answerCounter{}
	pollCtx, stopPolling := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		d.pollAnswers(pollCtx, socks, 5*time.Second, answers)
	}()

	droppedAt, last, err := d.waitIntroPointsGone(ctx, tc, stopped, gone, deadline, 10*time.Second, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopPolling()
	<-polled

	t.Logf("master address during the wait: %s", answers)
	if answers.byName[stopped.answer] > 0 {
		t.Errorf("the stopped backend %s answered %d times", stopped.name, answers.byName[stopped.answer])
	}
	if limit := max(2, (answers.ok+answers.failed)/10); answers.failed > limit {
		t.Errorf("%d requests failed (more than %d): %q", answers.failed, limit, answers.errs)
	} else if answers.failed > 0 {
		t.Logf("failed requests: %q", answers.errs)
	}
	if droppedAt.IsZero() {
		t.Fatalf("%s's intro points still on the HSDirs at %s (%s after the stop): %s",
			stopped.name, time.Now().Format(time.TimeOnly), time.Since(stopAt).Round(time.Second), last)
	}
	t.Logf("backend stop to a master descriptor without it on every responsible HSDir: %s (seen within 10 s polls)",
		droppedAt.Sub(stopAt).Round(time.Second))
	if line, at, ok := firstLineAfter(d.daemon.lines(), from, logUploaded, "intro points changed"); ok {
		t.Logf("backend stop to the daemon's upload without it: %s (%s)", at.Sub(stopAt).Round(time.Second), line)
	}
	// A client may still hold a master descriptor that lists the stopped backend's intro points; it
	// works through them (each fails fast) before it fetches the new one, so allow a few minutes.
	answeredFrom := time.Now()
	if body, err := d.waitAnswer(ctx, socks, 3*time.Minute); err != nil {
		t.Errorf("master address after the drop: %v", err)
	} else if body == stopped.answer {
		t.Errorf("the stopped backend answered")
	} else {
		t.Logf("master address after the drop: answered by %s after %s", body, time.Since(answeredFrom).Round(time.Second))
	}
}

// TestOBHostTorRestart kills the daemon's management tor mid-run and starts
// it again on the same control port: the daemon reconnects and publishes a
// changed descriptor through the new connection, and the address answers.
func TestOBHostTorRestart(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	ctx := t.Context()
	d := deploy(ctx, t, n, deployConfig{Name: "obr", Backends: 2})
	socks := n.Client().Socks
	if _, err := d.firstUpload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.waitAnswer(ctx, socks, 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	from := len(d.daemon.lines())
	killedAt := time.Now()
	if !d.mgmt.p.signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatalf("management tor did not die on SIGKILL")
	}
	if _, _, err := d.daemon.waitLine(ctx, time.Minute, from, logTorLost); err != nil {
		t.Fatal(err)
	}
	if err := d.mgmt.start(ctx); err != nil {
		t.Fatal(err)
	}
	back, line, err := d.daemon.waitLine(ctx, 90*time.Second, from, logTorBack)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := lineTime(line); err == nil {
		t.Logf("management tor killed to the daemon reconnected: %s", at.Sub(killedAt).Round(100*time.Millisecond))
	}

	// Force a change the daemon must publish: a restarted backend tor picks
	// new intro points.
	tc := dialTorControl(t, n.Client().Control)
	b := d.backends[0]
	before, err := backendAuthKeys(ctx, tc, b.onion)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.tor.p.stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.tor.start(ctx); err != nil {
		t.Fatal(err)
	}
	restartedAt := time.Now()
	var last error
	err = waitFor(ctx, 4*time.Minute, func() bool {
		last = d.checkMasterCarriesNew(ctx, tc, b, before, t.TempDir())
		return last == nil
	})
	if err != nil {
		t.Fatalf("the master descriptor never carried %s's new intro points: %v (last check: %v)", b.name, err, last)
	}
	t.Logf("backend restart to the master descriptor with its new intro points: %s", time.Since(restartedAt).Round(time.Second))
	if n := countLines(d.daemon.lines(), back, logUploaded); n == 0 {
		t.Errorf("no %q line after the reconnect", logUploaded)
	}
	if _, err := d.waitAnswer(ctx, socks, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	d.logUsage(t)
}
