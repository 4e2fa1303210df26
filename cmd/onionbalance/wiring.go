package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/cmd/internal/buildinfo"
	"github.com/obcluster/obcluster/cmd/internal/config"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// daemon is the running set of components. stop tears them down in reverse order.
type daemon struct {
	log     hclog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	failed  chan error
	manager *publisher.Manager
	closers []func()
	// fromEtcd is set when the services come from the cluster configuration in etcd, not the file.
	fromEtcd bool
}

func (d *daemon) goRun(name string, fn func(ctx context.Context) error, ctx context.Context) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			select {
			case d.failed <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

func (d *daemon) stop() {
	d.cancel()
	d.wg.Wait()
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// servicesFromConfig loads the master keys and turns the config into the publisher's services.
// Errors name the service, the key file or the backend address at fault.
func servicesFromConfig(cfg *config.Config) ([]publisher.ServiceConfig, error) {
	var out []publisher.ServiceConfig
	seen := map[string]int{}
	for i, s := range cfg.Services {
		key, err := hsv3.LoadIdentityKey(s.Key)
		if err != nil {
			return nil, fmt.Errorf("services[%d].key: %w", i, err)
		}
		if j, dup := seen[key.Address()]; dup {
			return nil, fmt.Errorf("services[%d] and services[%d] use the same key (%s.onion)", j, i, key.Address())
		}
		seen[key.Address()] = i
		sc := publisher.ServiceConfig{Key: key, IntroPointsPerBackend: cfg.IntroPointsPerBackend(i)}
		for j, in := range s.Instances {
			pub, err := hsv3.DecodeAddress(in.Address)
			if err != nil {
				return nil, fmt.Errorf("services[%d].instances[%d].address %q: %w", i, j, in.Address, err)
			}
			if pub.Equal(key.PublicKey()) {
				return nil, fmt.Errorf("services[%d].instances[%d].address %q is the service's own address (%s): a backend must be another onion service",
					i, j, in.Address, s.Key)
			}
			sc.Backends = append(sc.Backends, publisher.BackendConfig{Address: in.Address, Name: in.Name})
		}
		out = append(out, sc)
	}
	return out, nil
}

// startDaemon connects tor and etcd and starts the election, the heartbeat and the publisher. The
// services come from the config file or, for a cluster node whose file lists none, from etcd
// (<prefix>/config and the sealed master keys), followed live.
func startDaemon(parent context.Context, cfg *config.Config, controls []string, log hclog.Logger, getenv func(string) string) (*daemon, error) {
	fromEtcd := len(cfg.Services) == 0
	var services []publisher.ServiceConfig
	if !fromEtcd {
		var err error
		if services, err = servicesFromConfig(cfg); err != nil {
			return nil, err
		}
	}
	var sealer *store.Sealer
	if fromEtcd {
		var err error
		if sealer, err = newSealer(cfg.Cluster, getenv, false); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(parent)
	d := &daemon{log: log, cancel: cancel, failed: make(chan error, 1), fromEtcd: fromEtcd}
	ok := false
	defer func() {
		if !ok {
			d.stop()
		}
	}()

	// Tor first: a wrong control port is the most common start-up mistake.
	tor, err := connectTor(ctx, d, cfg, controls, log.Named("tor"))
	if err != nil {
		return nil, err
	}

	cli, err := connectEtcd(ctx, d, cfg, log.Named("etcd"))
	if err != nil {
		return nil, err
	}
	keys, err := store.NewKeys(cfg.Cluster.Etcd.Prefix)
	if err != nil {
		return nil, fmt.Errorf("cluster.etcd.prefix: %w", err)
	}
	timeout := cfg.Cluster.Etcd.RequestTimeout.D()
	st := store.New(cli, keys, sealer, timeout)
	var fromCluster *etcdServices
	if fromEtcd {
		fromCluster = newEtcdServices(st, log.Named("cluster-config"))
		if services, err = fromCluster.load(ctx); err != nil {
			return nil, err
		}
	}
	for _, s := range services {
		log.Info("balancing", "service", s.Key.Address()+".onion", "backends", len(s.Backends), "from_etcd", fromEtcd)
	}

	ecfg := cluster.DefaultConfig(cfg.Cluster.NodeName)
	ecfg.TTL = cfg.Cluster.SessionTTL.D()
	ecfg.Logger = log.Named("cluster")
	el, err := cluster.NewElection(cli, keys, ecfg)
	if err != nil {
		return nil, err
	}
	d.goRun("election", el.Run, ctx)

	node, err := cluster.NewNode(cli, st, cluster.NodeConfig{Name: cfg.Cluster.NodeName, Version: buildinfo.Version(),
		Interval: 5 * time.Second, TTL: 15 * time.Second, Logger: log.Named("node")})
	if err != nil {
		return nil, err
	}
	d.goRun("heartbeat", node.Run, ctx)
	d.goRun("leadership", func(ctx context.Context) error {
		for s := range el.Changes() {
			node.SetLeadership(s)
			if ctx.Err() != nil {
				return nil
			}
		}
		return nil
	}, ctx)
	d.goRun("tor-state", func(ctx context.Context) error {
		w := torWatch{tor: tor, node: node, lead: el, every: 10 * time.Second, timeout: 5 * time.Second,
			resignAfter: 3, standby: readyPeers(st, cfg.Cluster.NodeName), log: log.Named("tor-state")}
		w.run(ctx)
		return nil
	}, ctx)
	d.goRun("step-down", func(ctx context.Context) error {
		serveStepDown(ctx, cli, keys, cfg.Cluster.NodeName, el, timeout, log.Named("step-down"))
		return nil
	}, ctx)

	latency := newEtcdLatency()
	pcfg := publisherConfig(cfg, services, log.Named("publisher"))
	m, err := publisher.New(pcfg, tor, &storeState{st: st, el: el, latency: latency, log: log.Named("state")}, el)
	if err != nil {
		return nil, err
	}
	d.manager = m
	d.goRun("publisher", func(ctx context.Context) error { return m.Run(ctx, tor.Events()) }, ctx)
	if fromCluster != nil {
		d.goRun("cluster-config", func(ctx context.Context) error {
			fromCluster.follow(ctx, cli, timeout, m, node.SetError)
			return nil
		}, ctx)
	}

	if cfg.Metrics.Listen != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(newStatusCollector(m.Status, time.Now), latency)
		if err := serveMetrics(ctx, d, cfg.Metrics.Listen, reg, log.Named("metrics")); err != nil {
			return nil, err
		}
	}
	if cfg.StatusSocketLocation != "" {
		if err := serveStatus(ctx, d, cfg.StatusSocketLocation, m, log.Named("status")); err != nil {
			return nil, err
		}
	}
	ok = true
	return d, nil
}

func publisherConfig(cfg *config.Config, services []publisher.ServiceConfig, log hclog.Logger) publisher.Config {
	p := publisher.DefaultConfig()
	p.Services = services
	p.FetchInterval = cfg.Publish.FetchInterval.D()
	p.Timing.Refresh = cfg.Publish.RefreshInterval.D()
	p.Liveness.Timeout = cfg.Publish.BackendTimeout.D()
	p.MaxBackends = cfg.Publish.MaxBackends
	p.Node = cfg.Cluster.NodeName
	p.Logger = log
	return p
}

func (d *daemon) reload(ctx context.Context, cfg *config.Config) error {
	if d.fromEtcd {
		if len(cfg.Services) > 0 {
			return errors.New("the services come from etcd: restart to use the services of the config file, " +
				"or push them with onionbalance cluster set-config")
		}
		return nil // etcd changes are applied as they happen
	}
	services, err := servicesFromConfig(cfg)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return d.manager.Reconfigure(cctx, services)
}

// connectTor tries the control addresses in order (the Python tool's: unix socket, then TCP) and keeps
// the first that answers and authenticates.
func connectTor(ctx context.Context, d *daemon, cfg *config.Config, controls []string, log hclog.Logger) (*torctl.Client, error) {
	var errs []string
	for _, addr := range controls {
		if p, isUnix := strings.CutPrefix(addr, "unix:"); isUnix && len(controls) > 1 {
			if _, err := os.Stat(p); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
				continue
			}
		}
		tc := torctl.DefaultConfig()
		tc.Address = addr
		tc.PasswordFile = cfg.Tor.PasswordFile
		tc.Logger = log
		c, err := torctl.New(tc)
		if err != nil {
			return nil, fmt.Errorf("tor control %s: %w", addr, err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = c.Run(cctx); close(done) }()
		wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
		err = c.WaitReady(wctx)
		wcancel()
		if err == nil {
			d.closers = append(d.closers, func() { cancel(); <-done })
			log.Info("connected to tor", "control", addr)
			return c, nil
		}
		cancel()
		<-done
		errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
	}
	return nil, fmt.Errorf("cannot use the tor control port (%s); set tor.control, --tor-control, -s or -i/-p",
		strings.Join(errs, "; "))
}

// connectEtcd connects to the configured etcd, or starts the embedded single member in the data dir.
func connectEtcd(ctx context.Context, d *daemon, cfg *config.Config, log hclog.Logger) (*clientv3.Client, error) {
	cc := etcdClientConfig(cfg)
	if len(cc.Endpoints) == 0 {
		// The etcd takes writes from whoever can connect: it listens only on unix sockets in the
		// data dir, which StartEmbedded keeps at 0700.
		dataDir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data-dir %s: %w", cfg.DataDir, err)
		}
		ec := store.DefaultEmbedConfig(dataDir)
		ec.Logger = log
		e, err := store.StartEmbedded(ctx, ec)
		if err != nil {
			return nil, fmt.Errorf("embedded etcd in %s: %w", filepath.Join(dataDir, "etcd"), err)
		}
		d.closers = append(d.closers, func() { _ = e.Close() })
		cc.Endpoints = e.Endpoints()
		log.Info("embedded etcd started", "dir", filepath.Join(dataDir, "etcd"), "endpoints", cc.Endpoints)
		// Operator commands on this host (status, step-down) find the embedded etcd here.
		epFile := filepath.Join(dataDir, endpointsFile)
		if err := os.WriteFile(epFile, []byte(strings.Join(cc.Endpoints, "\n")+"\n"), 0o600); err != nil {
			log.Warn("cannot record the embedded etcd endpoints for operator commands", "file", epFile, "error", err)
		} else {
			d.closers = append(d.closers, func() { _ = os.Remove(epFile) })
		}
	}
	cli, err := store.Connect(ctx, cc, log)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { _ = cli.Close() })
	return cli, nil
}

// storeState binds the publisher's State to etcd, every write fenced by the election.
type storeState struct {
	st      *store.Store
	el      *cluster.Election
	latency *prometheus.HistogramVec
	log     hclog.Logger
}

func (s *storeState) observe(op string, start time.Time) {
	s.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *storeState) Instances(ctx context.Context, svc string) ([]record.Instance, error) {
	defer s.observe("get_instances", time.Now())
	return s.st.Instances(ctx, svc)
}

func (s *storeState) PublishedAll(ctx context.Context, svc string) (map[string]record.Publish, error) {
	defer s.observe("get_published", time.Now())
	return s.st.PublishedAll(ctx, svc)
}

func (s *storeState) PutInstance(ctx context.Context, epoch int64, svc string, rec record.Instance) error {
	defer s.observe("put_instance", time.Now())
	op, err := s.st.PutInstanceOp(svc, rec)
	if err != nil {
		return err
	}
	return s.el.Write(ctx, epoch, op)
}

func (s *storeState) PutPublished(ctx context.Context, epoch int64, svc, slot string, rec record.Publish) error {
	defer s.observe("put_published", time.Now())
	op, err := s.st.PutPublishedOp(svc, slot, rec)
	if err != nil {
		return err
	}
	return s.el.Write(ctx, epoch, op)
}

func (s *storeState) RecordKeys(ctx context.Context) (map[string]record.ServiceKeys, error) {
	defer s.observe("get_record_keys", time.Now())
	return s.st.RecordKeys(ctx)
}

// deleteBatch keeps each fenced delete well below etcd's limit of operations per transaction (128).
const deleteBatch = 100

func (s *storeState) DeleteRecords(ctx context.Context, epoch int64, svc string, insts, slots []string) error {
	defer s.observe("delete_records", time.Now())
	ops, err := s.st.DeleteRecordsOps(svc, insts, slots)
	if err != nil {
		return err
	}
	for len(ops) > 0 {
		n := min(len(ops), deleteBatch)
		if err := s.el.Write(ctx, epoch, ops[:n]...); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// serveStatus answers every connection on the unix socket with the status JSON, as the Python tool.
func serveStatus(ctx context.Context, d *daemon, path string, m *publisher.Manager, log hclog.Logger) error {
	if err := removeStaleSocket(ctx, path); err != nil {
		return fmt.Errorf("status-socket-location %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("status-socket-location %s: %w", path, err)
	}
	d.closers = append(d.closers, func() { _ = ln.Close(); _ = os.Remove(path) })
	go func() { <-ctx.Done(); _ = ln.Close() }()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				if ctx.Err() == nil {
					log.Error("status socket stopped", "error", err)
				}
				return
			}
			js, err := m.Status().PythonJSON()
			if err == nil {
				_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = conn.Write(js)
			}
			_ = conn.Close()
		}
	}()
	log.Info("status socket listening", "path", path)
	return nil
}

// errSocketServed means that a live process answers on a socket this daemon was to listen on.
var errSocketServed = errors.New("another running process serves this socket (another onionbalance?)")

// removeStaleSocket removes the socket at path if it is left over from a process that died, and fails
// with errSocketServed if a process still answers on it. Anything that is not a socket is left alone.
func removeStaleSocket(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil // absent, or not a socket: Listen reports it
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(dctx, "unix", path)
	switch {
	case err == nil:
		_ = conn.Close()
		return errSocketServed
	case errors.Is(err, syscall.ECONNREFUSED): // nobody listens: stale
		return os.Remove(path)
	default: // e.g. another user's socket, or a busy one: not ours to remove
		return fmt.Errorf("socket exists and cannot be checked: %w", err)
	}
}
