// Command obbench measures the Python OnionBalance and ours side by side on one private Tor network
// (deploy/testnet) and writes bench/RESULTS.md. bench/run builds it and runs it; see bench/README.md
// for what each figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/bench/internal/probe"
	"github.com/obcluster/obcluster/deploy/testnet"
)

// bench is one benchmark run.
type bench struct {
	work, bin, repo          string
	python, pythonInterp     string
	torPath, etcdPath        string
	log                      hclog.Logger
	reg                      *registry
	net                      *testnet.Network
	client                   *probe.Conn // the network's client tor, for the main goroutine
	socks                    string
	hsdirs                   []string
	mgmt                     map[string]*mgmtTor
	reachBound, restartBound time.Duration
}

type options struct {
	work, bin, repo, out, jsonOut, command string
	python, pythonInterp, etcd             string
	repeats, requests                      int
	window, killBound                      time.Duration
	idleSettle, idleWindow                 time.Duration
	skipCluster, onlyIdle                  bool
}

func main() {
	var o options
	flag.StringVar(&o.work, "work", "", "work directory (required; network, configs, logs)")
	flag.StringVar(&o.bin, "bin", "", "directory holding our onionbalance and onionbalance-config (required)")
	flag.StringVar(&o.repo, "repo", ".", "repository root (for go test and bench/stem_bench.py)")
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "results table to write")
	flag.StringVar(&o.jsonOut, "json", "", "raw results as JSON (default WORK/results.json)")
	flag.StringVar(&o.command, "command", "bench/run", "the command line to print as the way to reproduce")
	flag.StringVar(&o.python, "python", "/usr/sbin/onionbalance", "the Python OnionBalance")
	flag.StringVar(&o.pythonInterp, "python3", "/usr/bin/python3", "Python with stem, for stem_bench.py")
	flag.StringVar(&o.etcd, "etcd", "etcd", "etcd server binary for the cluster drill")
	flag.IntVar(&o.repeats, "repeats", 3, "repetitions of the start and restart timings")
	flag.IntVar(&o.requests, "requests", 20, "requests for the per-backend spread")
	flag.DurationVar(&o.window, "window", 120*time.Second, "RSS and CPU window from the balancer's start")
	flag.DurationVar(&o.killBound, "kill-bound", 10*time.Minute, "bound on the wait for a killed backend to leave the descriptor")
	flag.BoolVar(&o.skipCluster, "skip-cluster", false, "skip the 3-node failover drill")
	flag.DurationVar(&o.idleSettle, "idle-settle", 2*time.Minute, "steady state: time from the balancers' start to the window")
	flag.DurationVar(&o.idleWindow, "idle-window", 3*time.Minute, "steady state: the window measured")
	flag.BoolVar(&o.onlyIdle, "only-idle", false, "run only the steady-state measure and replace its section in -out")
	flag.Parse()
	if o.work == "" || o.bin == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "obbench:", err)
		os.Exit(1)
	}
}

var sequentialBackends = []string{"backend1", "backend2", "backend3"}

func run(ctx context.Context, o options) (err error) {
	began := time.Now()
	log := hclog.New(&hclog.LoggerOptions{Name: "obbench", Level: hclog.Info, Output: os.Stderr})
	if err := os.MkdirAll(filepath.Join(o.work, "runs"), 0o700); err != nil {
		return err
	}
	reg, err := newRegistry(filepath.Join(o.work, "pids"))
	if err != nil {
		return err
	}
	defer reg.stopAll(10 * time.Second)
	b := &bench{work: o.work, bin: o.bin, repo: o.repo, python: o.python, pythonInterp: o.pythonInterp,
		log: log, reg: reg, mgmt: map[string]*mgmtTor{}, reachBound: 2 * time.Minute, restartBound: 4 * time.Minute}
	if b.torPath, err = exec.LookPath("tor"); err != nil {
		return err
	}
	if b.etcdPath, err = exec.LookPath(o.etcd); err != nil && !o.skipCluster {
		return err
	}
	res := &results{Command: o.command, Repeats: o.repeats, Window: o.window, KillBound: o.killBound}
	res.fillMachine(ctx, b)

	// Master keys from our generator: R per balancer for the sequential runs, one for the cluster,
	// one per balancer for the kill phase and one per balancer of the steady-state measure.
	masters, err := b.generateMasters(ctx, 2*o.repeats+6)
	if err != nil {
		return err
	}
	pyMasters, oursMasters := masters[:o.repeats], masters[o.repeats:2*o.repeats]
	clusterMaster, killPy, killOurs := masters[2*o.repeats], masters[2*o.repeats+1], masters[2*o.repeats+2]
	idleSpecs := []idleSpec{
		{label: "Python OnionBalance", kind: kindPython, m: masters[2*o.repeats+3], tor: "mgmt-python"},
		{label: "ours", kind: kindOurs, m: masters[2*o.repeats+4], tor: "mgmt-ours"},
		{label: "ours at its defaults", kind: kindOurs, m: masters[2*o.repeats+5], tor: "mgmt-ours-kill", defaults: true},
	}

	log.Info("starting the network (3 authorities, 5 relays, client, 4 backends)")
	b.net, err = testnet.Up(ctx, testnet.Options{Dir: filepath.Join(o.work, "net"), Backends: 3,
		Master: masters[0].addr, Logger: log.Named("testnet")})
	if err != nil {
		return err
	}
	defer func() {
		if derr := b.net.Down(context.Background()); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	if _, err := b.net.AddOnionService(ctx, testnet.OnionServiceConfig{Name: victim, Master: masters[0].addr}); err != nil {
		return err
	}
	b.socks = b.net.Client().Socks
	if b.client, err = probe.Dial(ctx, b.net.Client().Control, nil); err != nil {
		return err
	}
	defer b.client.Close()
	if b.hsdirs, err = b.client.HSDirs(ctx); err != nil {
		return err
	}
	addrs := make([]string, len(masters))
	for i, m := range masters {
		addrs[i] = m.addr
	}
	log.Info("backends: serving every master; management tors: starting", "masters", len(masters), "hsdirs", len(b.hsdirs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := restartWithMasters(ctx, b.net, append(append([]string{}, sequentialBackends...), victim), addrs); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}()
	for _, name := range []string{"mgmt-python", "mgmt-ours", "mgmt-python-kill", "mgmt-ours-kill"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := b.startMgmtTor(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			b.mgmt[name] = m
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("network ready", "after", time.Since(began).Round(time.Second))

	if o.onlyIdle {
		log.Info("steady state only: three balancers at once", "settle", o.idleSettle, "window", o.idleWindow)
		res.Idle = b.idle(ctx, idleSpecs, o.idleSettle, o.idleWindow)
		if err := ctx.Err(); err != nil {
			return err
		}
		res.Elapsed = time.Since(began)
		if err := res.writeJSON(filepath.Join(o.work, "results-idle.json")); err != nil {
			return err
		}
		if err := replaceIdleSection(o.out, res); err != nil {
			return err
		}
		log.Info("done", "results", o.out, "elapsed", res.Elapsed.Round(time.Second))
		return nil
	}

	log.Info("kill phase: both balancers on their own masters over backend1, backend2, backend4")
	kp, err := b.startKill(ctx, killPy, killOurs, o.killBound)
	if err != nil {
		return err
	}

	res.Python = b.side(ctx, kindPython, pyMasters, b.mgmt["mgmt-python"], o)
	res.Ours = b.side(ctx, kindOurs, oursMasters, b.mgmt["mgmt-ours"], o)
	if err := ctx.Err(); err != nil {
		return err
	}

	if o.skipCluster {
		res.Failover.Note = "skipped (-skip-cluster)"
	} else {
		log.Info("cluster: 3 nodes on one etcd; kill -9 of the leader")
		res.Failover = b.cluster(ctx, clusterMaster)
	}
	log.Info("microbenchmarks: hsv3 Encode20/Decode20 vs stem")
	res.Micro = b.micro(ctx)

	log.Info("waiting for the kill phase", "bound", o.killBound)
	res.Kill = kp.wait(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	log.Info("steady state: three balancers at once", "settle", o.idleSettle, "window", o.idleWindow)
	res.Idle = b.idle(ctx, idleSpecs, o.idleSettle, o.idleWindow)
	if err := ctx.Err(); err != nil {
		return err
	}
	res.Elapsed = time.Since(began)
	jsonOut := o.jsonOut
	if jsonOut == "" {
		jsonOut = filepath.Join(o.work, "results.json")
	}
	if err := res.writeJSON(jsonOut); err != nil {
		return err
	}
	doc := res.markdown()
	if old, err := os.ReadFile(o.out); err == nil {
		if sc := section(string(old), scaleHeading); sc != "" {
			doc = spliceSection(doc, scaleHeading, "## Details", sc)
		}
	}
	if err := os.WriteFile(o.out, []byte(doc), 0o644); err != nil {
		return err
	}
	log.Info("done", "results", o.out, "json", jsonOut, "elapsed", res.Elapsed.Round(time.Second))
	return nil
}

// side runs the sequential measures of one balancer: repeats runs, each on a fresh master; the first
// also restarts each backend in turn, sends the spread requests and samples /proc over the window.
func (b *bench) side(ctx context.Context, k kind, masters []master, mg *mgmtTor, o options) sideResult {
	var sr sideResult
	for i, m := range masters {
		if ctx.Err() != nil {
			break
		}
		bl, err := b.startBalancer(k, fmt.Sprintf("%s-%d", k, i+1), m, sequentialBackends, mg.control, "")
		if err != nil {
			sr.Notes = append(sr.Notes, err.Error())
			continue
		}
		var wg sync.WaitGroup
		if i == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sr.Usage, sr.UsageOK = windowUsage(ctx, bl.proc, o.window)
			}()
		}
		d, ok := b.reach(ctx, bl, b.reachBound)
		sr.Reach = append(sr.Reach, optDuration{D: d, OK: ok})
		b.log.Info("start → master answers", "run", bl.name, "after", d.Round(100*time.Millisecond), "ok", ok)
		if i == 0 && !ok {
			sr.Notes = append(sr.Notes, fmt.Sprintf("%s: restarts and spread not measured: the master never answered", bl.name))
			wg.Wait()
		}
		if i == 0 && ok {
			for _, name := range sequentialBackends {
				r, err := b.restart(ctx, bl, name, b.restartBound)
				if err != nil {
					sr.Notes = append(sr.Notes, fmt.Sprintf("restart %s: %v", name, err))
					continue
				}
				b.log.Info("backend restart", "run", bl.name, "backend", name, "own", r.OwnAfter.Round(time.Second),
					"first", r.First.Round(time.Second), "all", r.All.Round(time.Second), "all_ok", r.AllOK)
				sr.Restarts = append(sr.Restarts, r)
			}
			sr.Spread = b.spread(ctx, m, o.requests)
			b.log.Info("spread", "run", bl.name, "answers", sr.Spread)
			wg.Wait()
		}
		if !bl.proc.alive() {
			sr.Notes = append(sr.Notes, fmt.Sprintf("%s exited early: %v (log %s)", bl.name, bl.proc.err, bl.log))
		}
		sr.StopClean = append(sr.StopClean, b.stopBalancer(bl))
		if t, ok := firstLogLine(bl.log, "lost the tor control connection", bl.started); ok {
			sr.Notes = append(sr.Notes, fmt.Sprintf("%s lost its tor control connection %s after start (see %s)",
				bl.name, secs(t.Sub(bl.started)), bl.log))
		}
	}
	return sr
}

// generateMasters makes n master keys with our onionbalance-config.
func (b *bench) generateMasters(ctx context.Context, n int) ([]master, error) {
	out := filepath.Join(b.work, "keys")
	cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "onionbalance-config"), "--output", out, "-s", fmt.Sprint(n),
		"-n", "1", "--no-interactive", "--force")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("onionbalance-config: %w: %s", err, msg)
	}
	files, err := filepath.Glob(filepath.Join(out, "master", "*.key"))
	if err != nil {
		return nil, err
	}
	if len(files) != n {
		return nil, fmt.Errorf("onionbalance-config wrote %d keys in %s, want %d", len(files), out, n)
	}
	ms := make([]master, n)
	for i, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		ms[i] = master{addr: strings.TrimSuffix(filepath.Base(f), ".key") + ".onion", key: abs}
	}
	return ms, nil
}
