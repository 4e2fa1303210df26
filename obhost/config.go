package obhost

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher"
)

// Config is what one obhost runs with: the configuration file's settings, where its tor is, and the
// parts' settings the file does not cover.
type Config struct {
	// File is the configuration file, defaults applied (config.Load or config.Default). Its services,
	// tor, cluster, publish, metrics and status-socket-location settings override the parts' below.
	File *config.Config
	// TorControls are the tor control addresses to try, in order; the first that answers is used.
	TorControls []string
	// Version is this program's version, reported in the node heartbeat.
	Version string
	// Getenv reads the environment (the key-encryption key may come from $ONIONBALANCE_KEK).
	Getenv func(string) string
	// Logger is the root logger; every part logs through a named sub-logger of it.
	Logger hclog.Logger
	// Metrics receives the daemon's collectors; they are served at File.Metrics.Listen when set.
	Metrics *prometheus.Registry

	// Publisher, Election and Node are the parts' own settings (their packages' DefaultConfig); the
	// file's values are applied over them.
	Publisher publisher.Config
	Election  cluster.Config
	Node      cluster.NodeConfig
	// TorWatch says how often tor is asked whether it works, and when a leader hands over.
	TorWatch TorWatchConfig
	// ConnectTimeout bounds the wait for the tor control port to answer at start.
	ConnectTimeout time.Duration
	// ReconfigureTimeout bounds one change of the services (SIGHUP or the cluster configuration).
	ReconfigureTimeout time.Duration
}

// TorWatchConfig configures the tor watch (torwatch.go).
type TorWatchConfig struct {
	// Every is the time between two checks; Timeout bounds one.
	Every, Timeout time.Duration
	// ResignAfter is how many failed checks in a row make a leader hand over.
	ResignAfter int
}

// DefaultConfig returns the settings of an obhost with the default configuration file and no services.
func DefaultConfig() Config {
	file := config.Default()
	return Config{
		File:               file,
		Version:            "(devel)",
		Getenv:             os.Getenv,
		Logger:             hclog.NewNullLogger(),
		Metrics:            prometheus.NewRegistry(),
		Publisher:          publisher.DefaultConfig(),
		Election:           cluster.DefaultConfig(file.Cluster.NodeName),
		Node:               cluster.DefaultNodeConfig(file.Cluster.NodeName, ""),
		TorWatch:           TorWatchConfig{Every: 10 * time.Second, Timeout: 5 * time.Second, ResignAfter: 3},
		ConnectTimeout:     15 * time.Second,
		ReconfigureTimeout: 30 * time.Second,
	}
}

// Validate checks what Start needs before it connects anywhere. Errors name the setting at fault.
func (c Config) Validate() error {
	var errs []error
	if c.File == nil {
		return errors.New("obhost: no configuration file settings (Config.File)")
	}
	path := c.File.Path
	if path == "" {
		path = "(built in code)"
	}
	if err := c.File.Validate(len(c.File.Cluster.Etcd.Endpoints) == 0); err != nil {
		errs = append(errs, fmt.Errorf("config %s: %w", path, err))
	}
	if len(c.TorControls) == 0 {
		errs = append(errs, errors.New("obhost: no tor control address: set tor.control, --tor-control, -s or -i/-p"))
	}
	if c.Getenv == nil || c.Logger == nil || c.Metrics == nil {
		errs = append(errs, errors.New("obhost: Getenv, Logger and Metrics must be set (start from DefaultConfig)"))
	}
	if c.TorWatch.Every <= 0 || c.TorWatch.Timeout <= 0 || c.TorWatch.ResignAfter < 1 {
		errs = append(errs, fmt.Errorf("obhost: tor watch every %v, timeout %v, resign after %d: want positive values",
			c.TorWatch.Every, c.TorWatch.Timeout, c.TorWatch.ResignAfter))
	}
	if c.ConnectTimeout <= 0 || c.ReconfigureTimeout <= 0 {
		errs = append(errs, errors.New("obhost: ConnectTimeout and ReconfigureTimeout must be positive"))
	}
	return errors.Join(errs...)
}

// election returns the election settings with the file's applied.
func (c Config) election() cluster.Config {
	e := c.Election
	e.Name = c.File.Cluster.NodeName
	e.TTL = c.File.Cluster.SessionTTL.D()
	e.Logger = c.Logger.Named("cluster")
	return e
}

// node returns the heartbeat settings with the file's applied.
func (c Config) node() cluster.NodeConfig {
	n := c.Node
	n.Name = c.File.Cluster.NodeName
	n.Version = c.Version
	n.Logger = c.Logger.Named("node")
	return n
}

// publisher returns the publisher's settings with the file's and the services applied.
func (c Config) publisher(services []publisher.ServiceConfig) publisher.Config {
	p := c.Publisher
	p.Services = services
	p.FetchInterval = c.File.Publish.FetchInterval.D()
	p.Timing.Refresh = c.File.Publish.RefreshInterval.D()
	p.Liveness.Timeout = c.File.Publish.BackendTimeout.D()
	p.MaxBackends = c.File.Publish.MaxBackends
	p.Concurrency = c.File.Publish.Concurrency
	p.Node = c.File.Cluster.NodeName
	p.Logger = c.Logger.Named("publisher")
	if c.File.Health.Enabled {
		p.HealthWait = healthWait
	}
	return p
}
