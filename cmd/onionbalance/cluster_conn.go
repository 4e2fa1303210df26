package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/store"
)

// opFlags are the flags every operator command shares: where the config is and how to reach etcd.
type opFlags struct {
	configPath string
	endpoints  string
	prefix     string
	timeout    time.Duration
}

func (o *opFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&o.configPath, "c", getenv(config.EnvConfig), "config file (env "+config.EnvConfig+"); its cluster section says how to reach etcd")
	fs.StringVar(&o.configPath, "config", getenv(config.EnvConfig), "same as -c")
	fs.StringVar(&o.endpoints, "etcd-endpoints", "", "comma-separated etcd endpoints (overrides cluster.etcd.endpoints)")
	fs.StringVar(&o.prefix, "etcd-prefix", "", "etcd key prefix (overrides cluster.etcd.prefix, default "+config.DefaultEtcdPrefix+")")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long")
}

// load returns the config file's settings with the flags applied, or the defaults when no file was
// given. requireServices demands a services list (init, set-config).
func (o *opFlags) load(requireServices bool) (*config.Config, error) {
	var cfg *config.Config
	if o.configPath != "" {
		c, err := config.Load(o.configPath)
		if err != nil {
			return nil, err
		}
		cfg = c
	} else {
		if requireServices {
			return nil, errors.New("-c config.yaml is required: it lists the services and their key files")
		}
		cfg = config.Default()
	}
	if o.endpoints != "" {
		cfg.Cluster.Etcd.Endpoints = strings.Split(o.endpoints, ",")
	}
	if o.prefix != "" {
		cfg.Cluster.Etcd.Prefix = o.prefix
	}
	if err := cfg.Validate(requireServices); err != nil {
		return nil, fmt.Errorf("config %s: %w", o.configPath, err)
	}
	return cfg, nil
}

// open loads the configuration (services optional) and connects to the cluster's etcd: what the
// commands that only read or nudge the cluster (status, step-down, drill) start with.
func (o *opFlags) open(ctx context.Context) (*config.Config, *clientv3.Client, store.Keys, error) {
	cfg, err := o.load(false)
	if err != nil {
		return nil, nil, store.Keys{}, err
	}
	cli, keys, err := o.connect(ctx, cfg)
	if err != nil {
		return nil, nil, store.Keys{}, err
	}
	return cfg, cli, keys, nil
}

// connect reaches the cluster's etcd: the configured endpoints, else the embedded etcd of a daemon
// running on this host (its data directory names the endpoints).
func (o *opFlags) connect(ctx context.Context, cfg *config.Config) (*clientv3.Client, store.Keys, error) {
	keys, err := store.NewKeys(cfg.Cluster.Etcd.Prefix)
	if err != nil {
		return nil, store.Keys{}, fmt.Errorf("cluster.etcd.prefix: %w", err)
	}
	cc := obhost.EtcdClientConfig(cfg)
	if len(cc.Endpoints) == 0 {
		path := filepath.Join(cfg.DataDir, obhost.EndpointsFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, store.Keys{}, fmt.Errorf("no etcd endpoints: give --etcd-endpoints or cluster.etcd.endpoints "+
				"(or run on the host of a single-node daemon, which writes %s): %w", path, err)
		}
		cc.Endpoints = strings.Fields(string(b))
	}
	cli, err := store.Connect(ctx, cc, nil)
	if err != nil {
		return nil, store.Keys{}, err
	}
	return cli, keys, nil
}

// operatorName says who ran a command (user@host), for records and logs.
func operatorName() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

// fail prints an error of a command and returns exitError.
func fail(e env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "onionbalance %s: %v\n", cmd, err)
	return exitError
}
