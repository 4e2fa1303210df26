package obhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/store"
)

// Daemon is one running obhost: its tor and etcd connections, the election, the heartbeat, the
// publisher and their helpers. Stop tears them down in reverse order.
type Daemon struct {
	cfg     Config
	log     hclog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	failed  chan error
	manager *publisher.Manager
	closers []func()
	// fromEtcd is set when the services come from the cluster configuration in etcd, not the file.
	fromEtcd bool
}

// goRun runs fn until ctx ends; its first error that is not the end of ctx is reported by Failed.
func (d *Daemon) goRun(ctx context.Context, name string, fn func(ctx context.Context) error) {
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

// Failed delivers the first fatal error of a part of the daemon; the caller should then Stop it.
func (d *Daemon) Failed() <-chan error { return d.failed }

// Status returns the publisher's current status (what the status socket and /metrics show).
func (d *Daemon) Status() *publisher.Status { return d.manager.Status() }

// Stop ends every part and waits for them: a leader resigns, so another node takes over at once.
func (d *Daemon) Stop() {
	d.cancel()
	d.wg.Wait()
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// Start connects tor and etcd and starts the election, the heartbeat and the publisher. The
// services come from the config file or, for a cluster node whose file lists none, from etcd
// (<prefix>/config and the sealed master keys), followed live. The daemon runs until ctx ends or
// Stop is called.
func Start(parent context.Context, cfg Config) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	file, log := cfg.File, cfg.Logger
	fromEtcd := len(file.Services) == 0
	var services []publisher.ServiceConfig
	var sealer *store.Sealer
	var err error
	if fromEtcd {
		if sealer, err = NewSealer(file.Cluster, cfg.Getenv, false); err != nil {
			return nil, err
		}
	} else if services, err = ServicesFromFile(file); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(parent)
	d := &Daemon{cfg: cfg, log: log, cancel: cancel, failed: make(chan error, 1), fromEtcd: fromEtcd}
	ok := false
	defer func() {
		if !ok {
			d.Stop()
		}
	}()

	// Tor first: a wrong control port is the most common start-up mistake.
	tor, err := connectTor(ctx, d, cfg, log.Named("tor"))
	if err != nil {
		return nil, err
	}
	cli, err := connectEtcd(ctx, d, file, log.Named("etcd"))
	if err != nil {
		return nil, err
	}
	keys, err := store.NewKeys(file.Cluster.Etcd.Prefix)
	if err != nil {
		return nil, fmt.Errorf("cluster.etcd.prefix: %w", err)
	}
	timeout := file.Cluster.Etcd.RequestTimeout.D()
	st := store.New(cli, keys, sealer, timeout)
	var fromCluster *etcdServices
	if fromEtcd {
		fromCluster = newEtcdServices(st, log.Named("cluster-config"), cfg.ReconfigureTimeout)
		fromCluster.rules = file.HealthConfig().Rules
		if services, err = fromCluster.load(ctx); err != nil {
			return nil, err
		}
	}
	for _, s := range services {
		log.Info("balancing", "service", s.Key.Address()+".onion", "backends", len(s.Backends), "from_etcd", fromEtcd)
	}

	el, err := cluster.NewElection(cli, keys, cfg.election())
	if err != nil {
		return nil, err
	}
	d.goRun(ctx, "election", el.Run)
	node, err := cluster.NewNode(cli, st, cfg.node())
	if err != nil {
		return nil, err
	}
	d.goRun(ctx, "heartbeat", node.Run)
	d.goRun(ctx, "leadership", func(ctx context.Context) error {
		for s := range el.Changes() {
			node.SetLeadership(s)
			if ctx.Err() != nil {
				return nil
			}
		}
		return nil
	})
	d.goRun(ctx, "tor-state", func(ctx context.Context) error {
		w := torWatch{tor: tor, node: node, lead: el, every: cfg.TorWatch.Every, timeout: cfg.TorWatch.Timeout,
			resignAfter: cfg.TorWatch.ResignAfter, standby: readyPeers(st, file.Cluster.NodeName), log: log.Named("tor-state")}
		w.run(ctx)
		return nil
	})
	d.goRun(ctx, "step-down", func(ctx context.Context) error {
		serveStepDown(ctx, cli, keys, file.Cluster.NodeName, el, timeout, log.Named("step-down"))
		return nil
	})

	latency := newEtcdLatency()
	state := &fencedRecords{st: st, el: el, latency: latency}
	m, err := publisher.New(cfg.publisher(services), tor, state, el)
	if err != nil {
		return nil, err
	}
	d.manager = m
	d.goRun(ctx, "publisher", func(ctx context.Context) error { return m.Run(ctx, tor.Events()) })
	if fromCluster != nil {
		d.goRun(ctx, "cluster-config", func(ctx context.Context) error {
			fromCluster.follow(ctx, cli, timeout, m, node.SetError)
			return nil
		})
	}

	if file.Health.Enabled {
		if err := startHealth(ctx, d, cfg, tor, cli, st, el, state, m); err != nil {
			return nil, err
		}
	} else {
		log.Info("backend health probes are off (health.enabled: false)")
	}

	if err := cfg.Metrics.Register(newStatusCollector(m.Status, time.Now)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := cfg.Metrics.Register(latency); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if file.Metrics.Listen != "" {
		if err := serveMetrics(ctx, d, file.Metrics.Listen, cfg.Metrics, log.Named("metrics")); err != nil {
			return nil, err
		}
	}
	if file.StatusSocketLocation != "" {
		if err := serveStatus(ctx, d, file.StatusSocketLocation, m, log.Named("status")); err != nil {
			return nil, err
		}
	}
	ok = true
	return d, nil
}

// Reload applies the services of a reloaded configuration file (SIGHUP). A node that follows the
// cluster configuration in etcd keeps doing so: its changes apply as they happen.
func (d *Daemon) Reload(ctx context.Context, file *config.Config) error {
	if d.fromEtcd {
		if len(file.Services) > 0 {
			return errors.New("the services come from etcd: restart to use the services of the config file, " +
				"or push them with onionbalance cluster set-config")
		}
		return nil
	}
	services, err := ServicesFromFile(file)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, d.cfg.ReconfigureTimeout)
	defer cancel()
	return d.manager.Reconfigure(cctx, services)
}
