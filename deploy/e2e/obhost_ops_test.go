package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/internal/clock"
)

// Daemon log messages of the operations tests (cmd/onionbalance, publisher).
const (
	logStatusListening = "status socket listening" // the last start-up step
	logServingMetrics  = "serving metrics"
	logTorHandOver     = "tor does not answer: handing the leadership over"
	logTorStayLeader   = "tor does not answer, but no other obhost has a working tor: staying leader"
	logReloaded        = "configuration reloaded"
	logReloadFailed    = "reload failed; keeping the running configuration"
)

// TestOBHostMetrics scrapes the daemon's /metrics (issue 9) while it runs on
// the private network: the leader gauge, the publish counter and the backend
// descriptor ages once it publishes; the ages refreshed every fetch
// interval; the ages growing, the leadership kept (no other obhost could
// take over) and the tor reconnect counted while the management tor is down; fresh ages and
// publishing again once it is back; and no endpoint after SIGTERM.
//
// The ages grow here because the daemon cannot fetch at all. A stopped
// backend's age would not grow within minutes: the HSDirs serve its last
// descriptor until its time period is over (8 to 16 minutes on this
// network), and every copy fetched counts as received.
func TestOBHostMetrics(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	ctx := t.Context()
	d := deploy(ctx, t, n, deployConfig{Name: "obm", Backends: 2})
	// deploy starts the daemon without metrics: start it again with them.
	from := d.restartDaemon(ctx, t, func(cfg map[string]any) {
		cfg["metrics"] = map[string]any{"listen": "127.0.0.1:0"}
	})
	_, line, err := d.daemon.waitLine(ctx, time.Minute, from, logServingMetrics)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(line, "address=")
	url := strings.Trim(strings.TrimSpace(rest), `"`)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("metrics address in %q: want http://127.0.0.1:PORT/metrics", line)
	}

	first, err := scrapeMetrics(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := first.value("onionbalance_leader"); !ok || (v != 0 && v != 1) {
		t.Fatalf("first scrape: onionbalance_leader = %v (present %v), want 0 or 1", v, ok)
	}
	if _, ok := first.value("onionbalance_publishes_total", "result", "uploaded"); !ok {
		t.Fatalf("first scrape: no onionbalance_publishes_total{result=\"uploaded\"}")
	}

	svc := d.master
	ageOf := func(m metricsView, b *backend) (float64, bool) {
		return m.value("onionbalance_backend_descriptor_age_seconds", "service", svc, "backend", b.onion)
	}
	publishing, err := pollMetrics(ctx, url, 2*time.Minute, func(m metricsView) error {
		if v, _ := m.value("onionbalance_leader"); v != 1 {
			return fmt.Errorf("onionbalance_leader = %v", v)
		}
		if v, _ := m.value("onionbalance_publishes_total", "result", "uploaded"); v == 0 {
			return errors.New("no descriptor uploaded yet")
		}
		for _, b := range d.backends {
			if _, ok := ageOf(m, b); !ok {
				return fmt.Errorf("no descriptor age for %s", b.name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("daemon start to publishing: %v", err)
	}
	t.Logf("daemon start to leader 1, an upload counted and both backend ages: %s (first scrape: leader %v)",
		time.Since(d.daemon.started).Round(100*time.Millisecond), first.need(t, "onionbalance_leader"))
	if v, _ := publishing.value("onionbalance_leader_epoch"); v <= 0 {
		t.Errorf("onionbalance_leader_epoch = %v while leading, want > 0", v)
	}
	for _, b := range d.backends {
		if v, _ := publishing.value("onionbalance_backend_live", "service", svc, "backend", b.onion); v != 1 {
			t.Errorf("onionbalance_backend_live for %s = %v, want 1", b.name, v)
		}
		if age, _ := ageOf(publishing, b); age < 0 || age >= (2*fetchInterval).Seconds() {
			t.Errorf("descriptor age of %s = %.1f s just after the first fetch, want 0 to %s", b.name, age, 2*fetchInterval)
		}
	}
	// Once the HSDirs acknowledged the uploads, every backend is in the descriptor of each of them (the
	// two backends fit in one descriptor).
	_, err = pollMetrics(ctx, url, time.Minute, func(m metricsView) error {
		for _, b := range d.backends {
			if v := m.sum("onionbalance_backend_hsdirs", "service", svc, "backend", b.onion); v < 1 {
				return fmt.Errorf("onionbalance_backend_hsdirs for %s sums to %v, want >= 1", b.name, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if got := publishing.sum("onionbalance_intro_points_published", "service", svc); got < 1 {
		t.Errorf("onionbalance_intro_points_published for %s sums to %v, want >= 1", svc, got)
	}
	if got := publishing.sum("onionbalance_revision_counter", "service", svc); got < 1 {
		t.Errorf("onionbalance_revision_counter for %s sums to %v, want >= 1", svc, got)
	}

	t.Run("ages-refreshed", func(t *testing.T) {
		// Over two and a half fetch intervals every age must fall back at
		// least once (a new copy received) and never reach two intervals.
		window := 5 * fetchInterval / 2
		prev := map[string]float64{}
		refreshed := map[string]int{}
		maxAge := map[string]float64{}
		for end := time.Now().Add(window); time.Now().Before(end); {
			m, err := scrapeMetrics(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range d.backends {
				age, ok := ageOf(m, b)
				if !ok {
					t.Fatalf("no descriptor age for %s", b.name)
				}
				if p, seen := prev[b.name]; seen && age < p {
					refreshed[b.name]++
				}
				prev[b.name], maxAge[b.name] = age, max(maxAge[b.name], age)
			}
			clock.Sleep(ctx, clock.Real{}, time.Second)
		}
		for _, b := range d.backends {
			if refreshed[b.name] == 0 {
				t.Errorf("the descriptor age of %s never fell within %s (max %.1f s)", b.name, window, maxAge[b.name])
			}
			if maxAge[b.name] >= (2 * fetchInterval).Seconds() {
				t.Errorf("the descriptor age of %s reached %.1f s, want below %s", b.name, maxAge[b.name], 2*fetchInterval)
			}
		}
		t.Logf("over %s: refreshes %v, max ages %v (fetch interval %s)", window, refreshed, maxAge, fetchInterval)
	})

	t.Run("tor-outage", func(t *testing.T) {
		testMetricsTorOutage(ctx, t, d, url, ageOf)
	})

	t.Run("gone-after-sigterm", func(t *testing.T) {
		if !d.daemon.p.signal(syscall.SIGTERM, 20*time.Second) {
			// The Go runtime answers SIGQUIT with every goroutine's stack.
			from := len(d.daemon.lines())
			d.daemon.p.signal(syscall.SIGQUIT, 10*time.Second)
			t.Fatalf("the daemon did not stop within 20 s of SIGTERM; its goroutines:\n%s",
				strings.Join(d.daemon.lines()[from:], "\n"))
		}
		if _, err := scrapeMetrics(ctx, url); err == nil {
			t.Errorf("%s still answers after the daemon exited", url)
		}
	})
}

// testMetricsTorOutage kills the daemon's management tor: the backend ages
// grow past two fetch intervals, the leader stays leader after its failed tor
// checks (no other obhost could take over); once tor is back the reconnect
// is counted, the ages are fresh and no publication fails.
func testMetricsTorOutage(ctx context.Context, t *testing.T, d *deployment, url string,
	ageOf func(metricsView, *backend) (float64, bool)) {
	before, err := scrapeMetrics(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	epoch0 := before.need(t, "onionbalance_leader_epoch")
	transitions0 := before.need(t, "onionbalance_leader_transitions_total")
	reconnects0 := before.need(t, "onionbalance_tor_control_reconnects_total")

	from := len(d.daemon.lines())
	killedAt := time.Now()
	if !d.mgmt.p.signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatalf("management tor did not die on SIGKILL")
	}
	if _, _, err := d.daemon.waitLine(ctx, time.Minute, from, logTorLost); err != nil {
		t.Fatal(err)
	}
	_, err = pollMetrics(ctx, url, time.Minute, func(m metricsView) error {
		for _, b := range d.backends {
			age, ok := ageOf(m, b)
			if !ok {
				return fmt.Errorf("no descriptor age for %s", b.name)
			}
			if age <= (2 * fetchInterval).Seconds() {
				return fmt.Errorf("descriptor age of %s is %.1f s", b.name, age)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the ages without tor never passed %s: %v", 2*fetchInterval, err)
	}
	t.Logf("management tor killed to both ages above %s: %s", 2*fetchInterval, time.Since(killedAt).Round(time.Second))

	if _, _, err := d.daemon.waitLine(ctx, 90*time.Second, from, logTorStayLeader); err != nil {
		t.Fatal(err)
	}
	// Alone, the leader keeps its leadership (nobody could publish in its
	// place): the same epoch, no transition, no hand-over.
	during, err := scrapeMetrics(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if v := during.need(t, "onionbalance_leader"); v != 1 {
		t.Errorf("onionbalance_leader = %v during the outage, want 1", v)
	}
	if v := during.need(t, "onionbalance_leader_epoch"); v != epoch0 {
		t.Errorf("onionbalance_leader_epoch %v during the outage, want still %v", v, epoch0)
	}
	if v := during.need(t, "onionbalance_leader_transitions_total"); v != transitions0 {
		t.Errorf("onionbalance_leader_transitions_total %v during the outage, want still %v", v, transitions0)
	}
	if n := countLines(d.daemon.lines(), from, logTorHandOver); n > 0 {
		t.Errorf("a single host handed its leadership over %d times with nobody to take it", n)
	}
	t.Logf("management tor killed to \"staying leader\": %s (epoch %v kept)", time.Since(killedAt).Round(time.Second), epoch0)

	if err := d.mgmt.start(ctx); err != nil {
		t.Fatal(err)
	}
	restartedAt := time.Now()
	if _, _, err := d.daemon.waitLine(ctx, 90*time.Second, from, logTorBack); err != nil {
		t.Fatal(err)
	}
	// Once tor is back the leader (still the same) fetches again; it uploads
	// only if something changed, but no publication may fail any more.
	back, err := scrapeMetrics(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	errors0 := back.need(t, "onionbalance_publishes_total", "result", "error")
	var reconnects1 float64
	_, err = pollMetrics(ctx, url, 2*time.Minute, func(m metricsView) error {
		leader, err1 := m.have("onionbalance_leader")
		r, err2 := m.have("onionbalance_tor_control_reconnects_total")
		e, err3 := m.have("onionbalance_publishes_total", "result", "error")
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		reconnects1 = r
		switch {
		case leader != 1:
			return fmt.Errorf("onionbalance_leader = %v", leader)
		case r <= reconnects0:
			return fmt.Errorf("onionbalance_tor_control_reconnects_total still %v", r)
		case e > errors0:
			return fmt.Errorf("onionbalance_publishes_total{result=\"error\"} rose from %v to %v with tor back", errors0, e)
		}
		for _, b := range d.backends {
			if age, ok := ageOf(m, b); !ok || age >= fetchInterval.Seconds() {
				return fmt.Errorf("descriptor age of %s is %.1f s (present %v)", b.name, age, ok)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the management tor came back: %v", err)
	}
	t.Logf("management tor restarted to leader 1 and fresh ages: %s (reconnects %v -> %v, publish errors %v)",
		time.Since(restartedAt).Round(time.Second), reconnects0, reconnects1, errors0)
}

// TestOBHostReload adds a backend to a running daemon with SIGHUP (issue 9).
// A third backend of the master runs from the start but is not in the
// config, and the published descriptor holds only the two listed ones. A
// config with an unknown key is refused on SIGHUP and changes nothing. The
// corrected config adds the backend: the daemon keeps the two others' state
// (their intro set times, the published descriptors and their revision
// counters), the descriptor on the HSDirs soon covers all three, and the
// revision counters went on rising.
func TestOBHostReload(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	ctx := t.Context()
	d := deploy(ctx, t, n, deployConfig{Name: "obh", Backends: 2})
	extraNode := testnet.StartOnionService(t, n, testnet.OnionServiceConfig{Name: "obh-extra", Master: d.master})
	extra := &backend{name: extraNode.Name, onion: extraNode.Onion, answer: extraNode.Name}

	if _, err := d.firstUpload(ctx); err != nil {
		t.Fatal(err)
	}
	tc := dialTorControl(t, n.Client().Control)
	// Every intro point on the HSDirs must be one of the two listed backends'.
	if _, err := d.waitMasterCovers(ctx, tc, 2*time.Minute, t.TempDir()); err != nil {
		t.Fatalf("before the reload: %v", err)
	}

	cfgPath := d.configPath(t)
	original, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	addExtra := func(cfg map[string]any) {
		svc := firstService(t, cfg)
		instances, _ := svc["instances"].([]any)
		svc["instances"] = append(instances, map[string]any{"address": extra.onion, "name": extra.name})
	}

	t.Run("bad-config-refused", func(t *testing.T) {
		from := d.sighup(t, cfgPath, original, func(cfg map[string]any) {
			addExtra(cfg)
			publish, _ := cfg["publish"].(map[string]any)
			if publish == nil {
				t.Fatalf("%s: no publish section", cfgPath)
			}
			publish["fetch-intervall"] = "5s" // a typo: unknown keys are errors
		})
		_, line, err := d.daemon.waitLine(ctx, 30*time.Second, from, logReloadFailed)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(line, "fetch-intervall") {
			t.Errorf("the reload error does not name the unknown key: %s", line)
		}
		if n := countLines(d.daemon.lines(), from, logReloaded); n > 0 {
			t.Errorf("%d %q lines after a refused config", n, logReloaded)
		}
		if s := d.serviceStatus(ctx, t); len(s.Instances) != len(d.backends) {
			t.Fatalf("status after a refused reload: %+v, want %d instances", s, len(d.backends))
		}
	})

	// State before the good reload, read as late as possible: a backend's
	// intro points rarely change within the second the reload takes.
	before := d.snapshot(ctx, t)
	if len(before.revs) == 0 {
		t.Fatalf("status before the reload: %+v, want published descriptors", before.svc)
	}
	from := d.sighup(t, cfgPath, original, addExtra)
	reloadedAt := time.Now()
	_, line, err := d.daemon.waitLine(ctx, 30*time.Second, from, logReloaded)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"backends_added=1", "backends_kept=2", "backends_removed=0"} {
		if !strings.Contains(line, want) {
			t.Errorf("reload log line lacks %s: %s", want, line)
		}
	}
	checkStateKept(t, before, d.snapshot(ctx, t), d.backends, extra)

	d.backends = append(d.backends, extra)
	mc, err := d.waitMasterCovers(ctx, tc, 3*time.Minute, t.TempDir())
	if err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	t.Logf("SIGHUP to a descriptor covering all %d backends on all %d responsible HSDirs: %s",
		len(d.backends), mc.hsdirs, time.Since(reloadedAt).Round(time.Second))

	final := d.snapshot(ctx, t)
	common, err := revisionsContinue(before.revs, final.revs, true)
	if err != nil {
		t.Error(err)
	}
	t.Logf("revision counters by time period before the reload %v, now %v (%d periods in common)",
		before.revs, final.revs, common)
	if !d.daemon.p.running() {
		t.Errorf("the daemon exited")
	}
	d.logUsage(t)
}

// checkStateKept compares the status right before and right after the
// reload: the kept backends still have their descriptor and the same intro
// set time, the new one is listed, and every published descriptor is still
// known with a revision counter no lower.
func checkStateKept(t *testing.T, before, after statusSnapshot, kept []*backend, added *backend) {
	t.Helper()
	byAddr := func(s *obServiceStatus) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, in := range s.Instances {
			addr, _ := in["onionAddress"].(string)
			out[addr] = in
		}
		return out
	}
	was, now := byAddr(before.svc), byAddr(after.svc)
	if len(now) != len(kept)+1 {
		t.Errorf("status after the reload: %d instances, want %d", len(now), len(kept)+1)
	}
	if _, ok := now[added.onion]; !ok {
		t.Errorf("status after the reload lacks the new backend %s", added.onion)
	}
	for _, b := range kept {
		w, n := was[b.onion], now[b.onion]
		if n == nil {
			t.Errorf("status after the reload lacks %s", b.name)
			continue
		}
		if n["descriptorReceived"] == nil || n["introSetModified"] == nil {
			t.Errorf("%s: its descriptor was forgotten in the reload: %v", b.name, n)
			continue
		}
		if w["introSetModified"] != n["introSetModified"] {
			t.Errorf("%s: introSetModified %v before the reload, %v after: its state was reset", b.name,
				w["introSetModified"], n["introSetModified"])
		}
	}
	if common, err := revisionsContinue(before.revs, after.revs, false); err != nil {
		t.Errorf("just after the reload: %v", err)
	} else if common < len(before.revs) {
		t.Errorf("just after the reload: published descriptors by time period %v, before %v", after.revs, before.revs)
	}
}

// revisions are the revision counters of a service's published
// descriptors by time period.
type revisions map[uint64]uint64

// revisionsContinue checks that no descriptor's revision counter went down
// between two reads (matched by time period) and, with wantRise (the second
// read follows an upload of a changed descriptor), that one rose. It
// returns how many periods the reads have in common: none when a new time
// period began in between, and then nothing can be compared.
func revisionsContinue(before, after revisions, wantRise bool) (int, error) {
	var errs []error
	var common, rose int
	for period, rev := range after {
		prev, ok := before[period]
		if !ok {
			continue // a period that began meanwhile
		}
		common++
		switch {
		case rev < prev:
			errs = append(errs, fmt.Errorf("period %d: revision counter went down from %d to %d", period, prev, rev))
		case rev > prev:
			rose++
		}
	}
	if wantRise && common > 0 && rose == 0 {
		errs = append(errs, fmt.Errorf("no revision counter rose: before %v, after %v", before, after))
	}
	return common, errors.Join(errs...)
}

// statusSnapshot is the status of the deployment's service: the socket's
// JSON (instances) and the revision counters of its published descriptors.
type statusSnapshot struct {
	svc  *obServiceStatus
	revs revisions
}

// snapshot reads the status socket twice: once for the instances, once for
// the descriptors' time periods, which obStatus does not decode.
func (d *deployment) snapshot(ctx context.Context, t *testing.T) statusSnapshot {
	t.Helper()
	svc := d.serviceStatus(ctx, t)
	revs, err := publishedRevisions(ctx, d.daemon.statusSock, d.master)
	if err != nil {
		t.Fatal(err)
	}
	return statusSnapshot{svc: svc, revs: revs}
}

// publishedRevisions reads the status socket at path and returns the
// revision counters of service addr's published descriptors by time period.
func publishedRevisions(ctx context.Context, path, addr string) (revisions, error) {
	var st struct {
		Services []struct {
			OnionAddress string `json:"onionAddress"`
			Descriptors  []struct {
				Period   uint64 `json:"period"`
				Revision uint64 `json:"revision_counter"`
			} `json:"descriptors"`
		} `json:"services"`
	}
	if err := readStatusSocket(ctx, path, &st); err != nil {
		return nil, err
	}
	for _, s := range st.Services {
		if s.OnionAddress != addr {
			continue
		}
		revs := revisions{}
		for _, d := range s.Descriptors {
			revs[d.Period] = d.Revision
		}
		return revs, nil
	}
	return nil, fmt.Errorf("status socket %s lists no service %s", path, addr)
}

// configPath returns the config file the daemon runs with (its -c argument).
func (d *deployment) configPath(t *testing.T) string {
	t.Helper()
	args := d.daemon.p.args
	i := slices.Index(args, "-c")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("daemon command %q has no -c", args)
	}
	return args[i+1]
}

// restartDaemon waits until the daemon deploy started is up, stops it,
// applies edit to its config file and starts it again (same data dir and
// log). It returns the index of the first log line of the new run.
func (d *deployment) restartDaemon(ctx context.Context, t *testing.T, edit func(map[string]any)) int {
	t.Helper()
	if _, _, err := d.daemon.waitLine(ctx, time.Minute, 0, logStatusListening); err != nil {
		t.Fatal(err)
	}
	if err := d.daemon.p.stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	path := d.configPath(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rewriteConfig(t, path, raw, edit)
	from := len(d.daemon.lines())
	d.daemon.started = time.Now()
	if err := d.daemon.p.start(); err != nil {
		t.Fatal(err)
	}
	return from
}

// sighup writes base with edit applied to the daemon's config file and
// sends SIGHUP. It fails if the daemon exits within a second. It returns
// the index of the first log line after the signal.
func (d *deployment) sighup(t *testing.T, path string, base []byte, edit func(map[string]any)) int {
	t.Helper()
	rewriteConfig(t, path, base, edit)
	from := len(d.daemon.lines())
	if d.daemon.p.signal(syscall.SIGHUP, time.Second) {
		t.Fatalf("the daemon exited on SIGHUP; log:\n%s", fileTail(d.daemon.log, 30))
	}
	return from
}

// rewriteConfig writes the YAML config base with edit applied to path.
func rewriteConfig(t *testing.T, path string, base []byte, edit func(map[string]any)) {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal(base, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	edit(cfg)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// firstService returns services[0] of a decoded config.
func firstService(t *testing.T, cfg map[string]any) map[string]any {
	t.Helper()
	services, _ := cfg["services"].([]any)
	if len(services) == 0 {
		t.Fatalf("config has no services: %v", cfg)
	}
	svc, ok := services[0].(map[string]any)
	if !ok {
		t.Fatalf("config services[0] is %T, want a mapping", services[0])
	}
	return svc
}

// metricsView is one scrape of /metrics, by metric family name.
type metricsView map[string]*dto.MetricFamily

// scrapeMetrics GETs url and parses the Prometheus text format.
func scrapeMetrics(ctx context.Context, url string) (metricsView, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return families, nil
}

// pollMetrics scrapes url every second until cond accepts a scrape, and
// returns it; after within it returns cond's last complaint.
func pollMetrics(ctx context.Context, url string, within time.Duration, cond func(metricsView) error) (metricsView, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		m, err := scrapeMetrics(ctx, url)
		if err == nil {
			if err = cond(m); err == nil {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("within %s: %w", within, err)
		case <-time.After(time.Second):
		}
	}
}

// values returns the values of the samples of name whose labels include
// every name/value pair of labels.
func (m metricsView) values(name string, labels ...string) []float64 {
	f := m[name]
	if f == nil {
		return nil
	}
	var out []float64
	for _, s := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case s.Gauge != nil:
			out = append(out, s.GetGauge().GetValue())
		case s.Counter != nil:
			out = append(out, s.GetCounter().GetValue())
		case s.Untyped != nil:
			out = append(out, s.GetUntyped().GetValue())
		}
	}
	return out
}

// value returns the value of the one sample of name matching labels.
func (m metricsView) value(name string, labels ...string) (float64, bool) {
	v := m.values(name, labels...)
	if len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

// need returns the value of the one sample of name matching labels, and
// fails the test if there is none.
func (m metricsView) need(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := m.value(name, labels...)
	if !ok {
		t.Fatalf("no single sample of %s%q in the scrape", name, labels)
	}
	return v
}

// have returns the value of the one sample of name matching labels, or an
// error naming the missing metric.
func (m metricsView) have(name string, labels ...string) (float64, error) {
	v, ok := m.value(name, labels...)
	if !ok {
		return 0, fmt.Errorf("no single sample of %s%q", name, labels)
	}
	return v, nil
}

// sum adds up the samples of name matching labels.
func (m metricsView) sum(name string, labels ...string) float64 {
	var total float64
	for _, v := range m.values(name, labels...) {
		total += v
	}
	return total
}
