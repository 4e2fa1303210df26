package obhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/store"
)

// connectEtcd connects to the configured etcd, or starts the embedded single member in the data dir.
func connectEtcd(ctx context.Context, d *Daemon, cfg *config.Config, log hclog.Logger) (*clientv3.Client, error) {
	cc := EtcdClientConfig(cfg)
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
		eps := e.Endpoints()
		log.Info("embedded etcd started", "dir", filepath.Join(dataDir, "etcd"), "endpoints", eps)
		// Operator commands on this host (status, step-down) find the embedded etcd here.
		epFile := filepath.Join(dataDir, EndpointsFile)
		if err := writeFileAtomic(epFile, []byte(strings.Join(eps, "\n")+"\n"), 0o600); err != nil {
			log.Warn("cannot record the embedded etcd endpoints for operator commands", "file", epFile, "error", err)
		} else {
			d.closers = append(d.closers, func() { _ = os.Remove(epFile) })
		}
		// The daemon's own requests skip the socket (see Embedded.Client).
		cli := e.Client()
		d.closers = append(d.closers, func() { _ = cli.Close() })
		return cli, nil
	}
	cli, err := store.Connect(ctx, cc, log)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { _ = cli.Close() })
	return cli, nil
}

// writeFileAtomic writes data to path through a temporary file and a rename, so that a reader sees the
// whole file or none (an operator command started with the daemon must never read it half written).
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// EndpointsFile is written in the data directory by a daemon running the embedded etcd, so that the
// operator commands of the same host find it.
const EndpointsFile = "etcd-endpoints"

// EtcdClientConfig is the client side of the cluster section.
func EtcdClientConfig(cfg *config.Config) store.ClientConfig {
	cc := store.DefaultClientConfig()
	cc.Endpoints = cfg.Cluster.Etcd.Endpoints
	cc.CAFile, cc.CertFile, cc.KeyFile = cfg.Cluster.Etcd.CAFile, cfg.Cluster.Etcd.CertFile, cfg.Cluster.Etcd.KeyFile
	cc.Username, cc.PasswordFile = cfg.Cluster.Etcd.Username, cfg.Cluster.Etcd.PasswordFile
	cc.AllowInsecurePassword = cfg.Cluster.Etcd.AllowInsecurePassword
	cc.RequestTimeout = cfg.Cluster.Etcd.RequestTimeout.D()
	return cc
}
