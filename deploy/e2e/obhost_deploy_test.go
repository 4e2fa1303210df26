package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// generatedTarget is the --service-target given to onionbalance-config. Each
// backend tor of a test forwards to its own name server instead, so that an
// answer names the backend that served it; only that address is changed in
// the generated instance_torrc lines.
const generatedTarget = "127.0.0.1:9"

// Daemon timings of the test config (publish: section).
const (
	fetchInterval  = 10 * time.Second
	backendTimeout = 30 * time.Second
)

// deployConfig describes one OnionBalance host to deploy.
type deployConfig struct {
	Name     string // folder under the network directory, prefix of the answers
	Backends int
	Client   bool // also start a client tor of its own (SocksPort + ControlPort)
	// BeforeDaemon, when set, runs once the tors are up and before the daemon starts.
	BeforeDaemon func(d *deployment)
	// DaemonConfig, when set, is YAML appended to the daemon's config file (top-level sections the
	// test settings below do not have, e.g. health).
	DaemonConfig string
	// GenArgs are more onionbalance-config flags (e.g. --client-auth 2).
	GenArgs []string
}

// deployment is one OnionBalance host on the shared network, laid out by
// onionbalance-config: the backend tors (from the generated instance_torrc
// files) each in front of a name server, the management tor and the daemon.
type deployment struct {
	n        *testnet.Network
	name     string
	dir      string
	gen      string // onionbalance-config --output
	master   string // "<56 characters>.onion"
	backends []*backend
	mgmt     *torNode
	client   *torNode // nil unless deployConfig.Client
	daemon   *daemonProc
}

// backend is one generated backend folder and the tor serving it.
type backend struct {
	name   string // instance name in config.yaml (the folder name)
	onion  string // "<56 characters>.onion", from config.yaml
	answer string // body its name server answers
	tor    *torNode
}

// generatedConfig is the part of the generated config.yaml the tests read.
type generatedConfig struct {
	Services []struct {
		Key       string `yaml:"key"`
		Instances []struct {
			Address string `yaml:"address"`
			Name    string `yaml:"name"`
		} `yaml:"instances"`
	} `yaml:"services"`
	Tor struct {
		Control string `yaml:"control"`
	} `yaml:"tor"`
}

// deploy generates a layout with onionbalance-config, starts its backends and
// management tor, checks that tor accepted every generated backend, and
// starts the daemon. Everything is stopped on cleanup.
func deploy(ctx context.Context, t *testing.T, n *testnet.Network, cfg deployConfig) *deployment {
	t.Helper()
	bins := buildBinaries(t, n)
	d := &deployment{n: n, name: cfg.Name, dir: filepath.Join(n.Dir(), cfg.Name)}
	d.gen = filepath.Join(d.dir, "gen")
	if err := os.Mkdir(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, n, cfg.Backends+3)
	mgmtPort := ports[0]

	gen := exec.CommandContext(ctx, filepath.Join(bins, "onionbalance-config"), append([]string{
		"--output", d.gen, "-n", fmt.Sprint(cfg.Backends), "--no-interactive", "-t", "backend",
		"--tor-control", fmt.Sprintf("tcp:127.0.0.1:%d", mgmtPort), "--service-target", generatedTarget}, cfg.GenArgs...)...)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("onionbalance-config: %v\n%s", err, out)
	}
	gc := d.readGenerated(t, cfg.Backends, mgmtPort)

	// Backends: the generated instance_torrc lines, in a torrc with the network's options.
	for i, in := range gc.Services[0].Instances {
		b := &backend{name: in.Name, onion: in.Address, answer: cfg.Name + "-" + in.Name}
		extra := d.instanceLines(t, in.Name, nameServer(t, b.answer))
		b.tor = newTorNode(t, n, torNodeConfig{Name: cfg.Name + "-" + in.Name, Dir: filepath.Join(d.dir, in.Name+"-tor"),
			ControlPort: ports[i+1], Extra: extra})
		d.backends = append(d.backends, b)
	}
	d.mgmt = newTorNode(t, n, torNodeConfig{Name: cfg.Name + "-mgmt", Dir: filepath.Join(d.dir, "mgmt-tor"), ControlPort: mgmtPort})
	nodes := []*torNode{d.mgmt}
	for _, b := range d.backends {
		nodes = append(nodes, b.tor)
	}
	if cfg.Client {
		cp := freePorts(t, n, 2)
		d.client = newTorNode(t, n, torNodeConfig{Name: cfg.Name + "-client", Dir: filepath.Join(d.dir, "client-tor"),
			ControlPort: cp[0], SocksPort: cp[1]})
		nodes = append(nodes, d.client)
	}
	began := time.Now()
	if err := startAll(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d tors bootstrapped in %s", cfg.Name, len(nodes), time.Since(began).Round(100*time.Millisecond))
	for _, b := range d.backends {
		d.checkBackendAccepted(ctx, t, b)
	}

	if cfg.BeforeDaemon != nil {
		cfg.BeforeDaemon(d)
	}
	d.daemon = startDaemon(t, filepath.Join(bins, "onionbalance"), d.writeDaemonConfig(t, cfg.DaemonConfig), d.dir, cfg.Name)
	t.Cleanup(func() { // registered last, so it runs first, while the deployment still runs
		if t.Failed() {
			d.dumpLogs(t)
		}
	})
	return d
}

// startAll starts the tors concurrently and waits until all bootstrapped.
func startAll(ctx context.Context, nodes []*torNode) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, tn := range nodes {
		wg.Go(func() { errs[i] = tn.start(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readGenerated loads the generated config.yaml and checks what the
// generator was asked for: one service, the backends, the control address,
// and a master key whose address every backend's ob_config names.
func (d *deployment) readGenerated(t *testing.T, backends, mgmtPort int) generatedConfig {
	t.Helper()
	path := filepath.Join(d.gen, "master", "config.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gc generatedConfig
	if err := yaml.Unmarshal(raw, &gc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(gc.Services) != 1 || len(gc.Services[0].Instances) != backends {
		t.Fatalf("%s: %d services, want 1 with %d instances:\n%s", path, len(gc.Services), backends, raw)
	}
	if want := fmt.Sprintf("tcp:127.0.0.1:%d", mgmtPort); gc.Tor.Control != want {
		t.Errorf("%s: tor.control %q, want %q", path, gc.Tor.Control, want)
	}
	key := gc.Services[0].Key
	if !filepath.IsAbs(key) {
		key = filepath.Join(d.gen, "master", key)
	}
	master, err := hsv3.LoadIdentityKey(key)
	if err != nil {
		t.Fatalf("generated master key: %v", err)
	}
	d.master = master.Address() + ".onion"
	for _, in := range gc.Services[0].Instances {
		hs := filepath.Join(d.gen, in.Name, "hs")
		obConfig, err := os.ReadFile(filepath.Join(hs, "ob_config"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "MasterOnionAddress " + d.master; strings.TrimSpace(string(obConfig)) != want {
			t.Errorf("%s/ob_config: %q, want %q", hs, obConfig, want)
		}
		if got := readTrimmed(t, filepath.Join(hs, "hostname")); got != in.Address {
			t.Errorf("%s/hostname: %q, config.yaml says %q", hs, got, in.Address)
		}
	}
	return gc
}

// instanceLines returns the lines of the generated instance_torrc of backend
// name, with the HiddenServicePort target moved to target. It checks the
// lines tor needs for an OnionBalance instance.
func (d *deployment) instanceLines(t *testing.T, name, target string) []string {
	t.Helper()
	path := filepath.Join(d.gen, name, "instance_torrc")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	seen := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keyword, value, _ := strings.Cut(line, " ")
		seen[keyword] = value
		if keyword == "HiddenServicePort" {
			if value != "80 "+generatedTarget {
				t.Errorf("%s: HiddenServicePort %q, want %q", path, value, "80 "+generatedTarget)
			}
			line = "HiddenServicePort 80 " + target
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(d.gen, name, "hs"); seen["HiddenServiceDir"] != want {
		t.Errorf("%s: HiddenServiceDir %q, want %q", path, seen["HiddenServiceDir"], want)
	}
	if seen["HiddenServiceOnionBalanceInstance"] != "1" {
		t.Errorf("%s: no HiddenServiceOnionBalanceInstance 1", path)
	}
	return lines
}

// instanceRegisteredLine is what tor logs when it accepted an OnionBalance instance.
func instanceRegisteredLine(master string) string {
	return "OnionBalance: MasterOnionAddress " + master + " registered"
}

// checkBackendAccepted asserts tor took a generated backend as it is: the
// hostname it wrote is the generated address, and its log says the master
// was registered and shows no error.
func (d *deployment) checkBackendAccepted(ctx context.Context, t *testing.T, b *backend) {
	t.Helper()
	hs := filepath.Join(d.gen, b.name, "hs")
	if got := readTrimmed(t, filepath.Join(hs, "hostname")); got != b.onion {
		t.Errorf("%s: tor's hostname %q, generated %q", b.name, got, b.onion)
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return b.tor.logHas(instanceRegisteredLine(d.master)) }); err != nil {
		t.Errorf("%s: log lacks %q: %v", b.name, instanceRegisteredLine(d.master), err)
	}
	log, err := os.ReadFile(b.tor.log)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(log)) {
		if strings.Contains(line, "[err]") || strings.Contains(line, "OnionBalance") && strings.Contains(line, "[warn]") {
			t.Errorf("%s: log: %s", b.name, strings.TrimSpace(line))
		}
	}
}

// writeDaemonConfig writes the generated config.yaml plus the test settings
// (data dir, status socket, short timings, debug log) and more (YAML, may be
// empty) next to it, so the relative key path still resolves.
func (d *deployment) writeDaemonConfig(t *testing.T, more string) string {
	t.Helper()
	generated, err := os.ReadFile(filepath.Join(d.gen, "master", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`
# Added by the deploy/e2e obhost tests.
data-dir: %s
status-socket-location: %s
cluster:
  node-name: %s
publish:
  fetch-interval: %s
  backend-timeout: %s
log:
  level: debug
`, filepath.Join(d.dir, "daemon-data"), filepath.Join(d.dir, "status.sock"), d.name, fetchInterval, backendTimeout)
	extra += more
	path := filepath.Join(d.gen, "master", "e2e.yaml")
	if err := os.WriteFile(path, append(generated, extra...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitAnswer waits until the master address answers through socks with one
// of the backends' names, and returns it.
func (d *deployment) waitAnswer(ctx context.Context, socks string, within time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	body, err := testnet.GetRetry(ctx, socks, "http://"+d.master+"/", 30*time.Second)
	if err != nil {
		return "", err
	}
	if d.backendByAnswer(body) == nil {
		return body, fmt.Errorf("GET http://%s/ answered %q, no backend's name", d.master, body)
	}
	return body, nil
}

func (d *deployment) backendByAnswer(body string) *backend {
	for _, b := range d.backends {
		if b.answer == body {
			return b
		}
	}
	return nil
}

// dumpLogs logs the tails of the daemon's and the management tor's logs.
func (d *deployment) dumpLogs(t testing.TB) {
	t.Helper()
	t.Logf("%s: last lines of the daemon log:\n%s", d.name, fileTail(d.daemon.log, 60))
	t.Logf("%s: last lines of the management tor log:\n%s", d.name, fileTail(d.mgmt.log, 15))
}

// torUsage sums the resident memory of the running tors of the deployment.
func (d *deployment) torUsage() (int64, int) {
	var rss int64
	count := 0
	nodes := []*torNode{d.mgmt, d.client}
	for _, b := range d.backends {
		nodes = append(nodes, b.tor)
	}
	for _, tn := range nodes {
		if tn == nil || !tn.p.running() {
			continue
		}
		if u, err := procUsage(tn.p.pid()); err == nil {
			rss += u.RSS
			count++
		}
	}
	return rss, count
}

func readTrimmed(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// waitFor polls cond every 200 ms until it holds or within passes.
func waitFor(ctx context.Context, within time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met within %s: %w", within, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// onion56 strips ".onion".
func onion56(addr string) string {
	return strings.TrimSuffix(addr, ".onion")
}
