package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// scaleEnv set to "0" skips TestOBHostTwentyServices (7 more tors, 100 onion services).
const scaleEnv = "OB_E2E_SCALE"

// TestOBHostTwentyServices is issue 19's scale case on the private network: one daemon balances 20
// master addresses, each over 5 backends, laid out by onionbalance-config -s 20 -n 5. A tor hosts
// many onion services, so 5 backend tors serve them all: tor k hosts instance k of every service
// (20 onion services each, in OnionBalance-instance mode, behind one name server). Every master
// address must answer through a client with a backend's name. The test logs the time from the
// daemon's start to every service's first upload and to every master answering, and the daemon's
// CPU time and RSS (figures for bench/RESULTS.md; nothing here asserts a time).
func TestOBHostTwentyServices(t *testing.T) {
	if os.Getenv(scaleEnv) == "0" {
		t.Skipf("%s=0: skipping the 20-service test", scaleEnv)
	}
	t.Parallel()
	const services, perService = 20, 5
	n := shared.Network(t)
	ctx := t.Context()
	bins := buildBinaries(t, n)
	d := &deployment{n: n, name: "ob20", dir: filepath.Join(n.Dir(), "ob20")}
	d.gen = filepath.Join(d.dir, "gen")
	if err := os.Mkdir(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, n, perService+3)
	mgmtPort := ports[0]
	gen := exec.CommandContext(ctx, filepath.Join(bins, "onionbalance-config"), "--output", d.gen,
		"-s", fmt.Sprint(services), "-n", fmt.Sprint(perService), "--no-interactive", "-t", "backend",
		"--tor-control", fmt.Sprintf("tcp:127.0.0.1:%d", mgmtPort), "--service-target", generatedTarget)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("onionbalance-config: %v\n%s", err, out)
	}
	masters := readScaleConfig(t, d.gen, services, perService)

	// Backend tor k: instance k of every service, all in front of one name server.
	answers := map[string]bool{}
	for k := 1; k <= perService; k++ {
		answer := fmt.Sprintf("%s-b%d", d.name, k)
		answers[answer] = true
		target := nameServer(t, answer)
		var extra []string
		for s := 1; s <= services; s++ {
			extra = append(extra, d.instanceLines(t, fmt.Sprintf("backend%d-%d", s, k), target)...)
		}
		d.backends = append(d.backends, &backend{name: fmt.Sprintf("b%d", k), answer: answer,
			tor: newTorNode(t, n, torNodeConfig{Name: d.name + "-" + answer, Dir: filepath.Join(d.dir, fmt.Sprintf("b%d-tor", k)),
				ControlPort: ports[k], Extra: extra})})
	}
	d.mgmt = newTorNode(t, n, torNodeConfig{Name: d.name + "-mgmt", Dir: filepath.Join(d.dir, "mgmt-tor"), ControlPort: mgmtPort})
	cp := freePorts(t, n, 2)
	d.client = newTorNode(t, n, torNodeConfig{Name: d.name + "-client", Dir: filepath.Join(d.dir, "client-tor"),
		ControlPort: cp[0], SocksPort: cp[1]})
	nodes := []*torNode{d.mgmt, d.client}
	for _, b := range d.backends {
		nodes = append(nodes, b.tor)
	}
	began := time.Now()
	if err := startAll(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tors bootstrapped in %s", len(nodes), time.Since(began).Round(100*time.Millisecond))
	for _, b := range d.backends {
		for _, m := range masters {
			if err := waitFor(ctx, time.Minute, func() bool { return b.tor.logHas(instanceRegisteredLine(m)) }); err != nil {
				t.Fatalf("%s: log lacks %q: %v", b.name, instanceRegisteredLine(m), err)
			}
		}
	}

	d.daemon = startDaemon(t, filepath.Join(bins, "onionbalance"), scaleDaemonConfig(t, d), d.dir, d.name)
	t.Cleanup(func() {
		if t.Failed() {
			d.dumpLogs(t)
		}
	})
	started := d.daemon.started

	// Every service's first accepted upload, from the daemon's log.
	uploaded := func() []string {
		var done []string
		for _, l := range d.daemon.lines() {
			if !strings.Contains(l, "uploaded descriptor") {
				continue
			}
			for _, m := range masters {
				if strings.Contains(l, "service="+onion56(m)) && !slices.Contains(done, m) {
					done = append(done, m)
				}
			}
		}
		return done
	}
	if err := waitFor(ctx, 5*time.Minute, func() bool { return len(uploaded()) == services }); err != nil {
		t.Fatalf("%d of %d services uploaded a descriptor: %v", len(uploaded()), services, err)
	}
	allPublished := time.Since(started)
	t.Logf("daemon start → every one of the %d services uploaded a descriptor: %s", services, allPublished.Round(100*time.Millisecond))

	// Every master answers through the client, all asked at once.
	type answer struct {
		body string
		took time.Duration
		err  error
	}
	got := make([]answer, len(masters))
	asked := time.Now()
	var wg sync.WaitGroup
	for i, m := range masters {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			body, err := testnet.GetRetry(actx, d.client.socks, "http://"+m+"/", 45*time.Second)
			got[i] = answer{strings.TrimSpace(body), time.Since(asked), err}
		})
	}
	wg.Wait()
	var slowest time.Duration
	for i, a := range got {
		switch {
		case a.err != nil:
			t.Errorf("%s does not answer: %v", masters[i], a.err)
		case !answers[a.body]:
			t.Errorf("%s answered %q, no backend's name", masters[i], a.body)
		}
		slowest = max(slowest, a.took)
	}
	all := time.Since(started)
	t.Logf("every master answered %s after they were asked (all at once), %s after the daemon's start",
		slowest.Round(100*time.Millisecond), all.Round(100*time.Millisecond))

	u, err := d.daemon.usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("daemon after %s: %s RSS, %.2f CPU seconds; %d services x %d backends",
		time.Since(started).Round(time.Second), mib(u.RSS), u.CPU.Seconds(), services, perService)
}

// readScaleConfig loads the generated config.yaml, checks it lists services with perService
// instances each, named backend<s>-<k>, and returns the master addresses in its order.
func readScaleConfig(t *testing.T, gen string, services, perService int) []string {
	t.Helper()
	path := filepath.Join(gen, "master", "config.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gc generatedConfig
	if err := yaml.Unmarshal(raw, &gc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(gc.Services) != services {
		t.Fatalf("%s: %d services, want %d", path, len(gc.Services), services)
	}
	var masters []string
	for s, svc := range gc.Services {
		if len(svc.Instances) != perService {
			t.Fatalf("%s: service %d has %d instances, want %d", path, s+1, len(svc.Instances), perService)
		}
		for k, in := range svc.Instances {
			if want := fmt.Sprintf("backend%d-%d", s+1, k+1); in.Name != want {
				t.Fatalf("%s: service %d instance %d is %q, want %q", path, s+1, k+1, in.Name, want)
			}
		}
		key := svc.Key
		if !filepath.IsAbs(key) {
			key = filepath.Join(gen, "master", key)
		}
		master, err := hsv3.LoadIdentityKey(key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		masters = append(masters, master.Address()+".onion")
	}
	return masters
}

// scaleDaemonConfig writes the generated config.yaml plus the test settings, as writeDaemonConfig
// does, but with the default fetch interval (2 minutes; the other tests' 10 s would have the daemon
// fetch 100 backends without a pause) and info logs.
func scaleDaemonConfig(t *testing.T, d *deployment) string {
	t.Helper()
	generated, err := os.ReadFile(filepath.Join(d.gen, "master", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`
# Added by TestOBHostTwentyServices.
data-dir: %s
status-socket-location: %s
cluster:
  node-name: %s
log:
  level: info
`, filepath.Join(d.dir, "daemon-data"), filepath.Join(d.dir, "status.sock"), d.name)
	path := filepath.Join(d.gen, "master", "e2e.yaml")
	if err := os.WriteFile(path, append(generated, extra...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
