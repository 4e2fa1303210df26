package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/server/v3/embed"
)

// EmbedConfig configures a single-member etcd server run inside the obhost
// process. It is what a single host uses when no external etcd is configured:
// the rest of the program talks to it through an ordinary client, exactly as
// it would talk to a cluster.
type EmbedConfig struct {
	// DataDir is the obhost data directory; etcd keeps its files in
	// DataDir/etcd.
	DataDir string
	// Name is the etcd member name.
	Name string
	// ClientURL is where the server listens for clients. The default,
	// "http://127.0.0.1:0", picks a free loopback port; "unix:///path/sock"
	// listens on a unix socket instead.
	ClientURL string
	// PeerURL is where the server listens for peers. A single member never
	// talks to a peer, so the default is a free loopback port.
	PeerURL string
	// CompactionRetention is how much history periodic auto-compaction keeps.
	CompactionRetention time.Duration
	// QuotaBackendBytes caps the size of the database.
	QuotaBackendBytes int64
	// StartTimeout bounds how long Start waits for the server to be ready.
	StartTimeout time.Duration
	// Logger receives etcd's own log lines, one level quieter than etcd
	// reports them (see NewZapLogger). Nil discards them.
	Logger hclog.Logger

	// UnsafeNoFsync disables fsync. It loses data on a crash: tests only.
	UnsafeNoFsync bool
}

// DefaultEmbedConfig returns the configuration of a single-member etcd kept
// under dataDir.
func DefaultEmbedConfig(dataDir string) EmbedConfig {
	return EmbedConfig{
		DataDir:             dataDir,
		Name:                "obhost",
		ClientURL:           "http://127.0.0.1:0",
		PeerURL:             "http://127.0.0.1:0",
		CompactionRetention: time.Hour,
		QuotaBackendBytes:   256 << 20,
		StartTimeout:        30 * time.Second,
	}
}

// Validate reports the first field of c that cannot work.
func (c EmbedConfig) Validate() error {
	if c.DataDir == "" {
		return errors.New("embedded etcd: data-dir is empty")
	}
	if c.Name == "" {
		return errors.New("embedded etcd: name is empty")
	}
	if _, err := parseListenURL(c.ClientURL); err != nil {
		return fmt.Errorf("embedded etcd: client-url: %w", err)
	}
	if _, err := parseListenURL(c.PeerURL); err != nil {
		return fmt.Errorf("embedded etcd: peer-url: %w", err)
	}
	if c.CompactionRetention < time.Minute {
		return fmt.Errorf("embedded etcd: compaction-retention %v is below 1m", c.CompactionRetention)
	}
	if c.QuotaBackendBytes < 16<<20 {
		return fmt.Errorf("embedded etcd: quota-backend-bytes %d is below 16 MiB", c.QuotaBackendBytes)
	}
	if c.StartTimeout <= 0 {
		return fmt.Errorf("embedded etcd: start-timeout %v must be positive", c.StartTimeout)
	}
	return nil
}

func parseListenURL(s string) (url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return url.URL{}, err
	}
	switch u.Scheme {
	case "http", "unix":
	default:
		return url.URL{}, fmt.Errorf("%q: scheme must be http or unix", s)
	}
	if u.Scheme == "unix" && u.Host+u.Path == "" {
		return url.URL{}, fmt.Errorf("%q: no socket path", s)
	}
	return *u, nil
}

// Embedded is a running embedded etcd server.
type Embedded struct {
	etcd      *embed.Etcd
	endpoints []string
}

// StartEmbedded starts an embedded etcd and waits until it serves clients.
// An existing data directory is reopened with its data.
func StartEmbedded(ctx context.Context, c EmbedConfig) (*Embedded, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	curl, _ := parseListenURL(c.ClientURL)
	purl, _ := parseListenURL(c.PeerURL)

	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = filepath.Join(c.DataDir, "etcd")
	cfg.ListenClientUrls = []url.URL{curl}
	cfg.AdvertiseClientUrls = []url.URL{curl}
	cfg.ListenPeerUrls = []url.URL{purl}
	cfg.AdvertisePeerUrls = []url.URL{purl}
	cfg.InitialCluster = cfg.InitialClusterFromName(c.Name)
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = c.CompactionRetention.String()
	cfg.QuotaBackendBytes = c.QuotaBackendBytes
	cfg.UnsafeNoFsync = c.UnsafeNoFsync
	cfg.Metrics = "basic"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(NewZapLogger(c.Logger))
	return startEtcd(ctx, cfg, c.StartTimeout, []url.URL{curl})
}

// startEtcd starts cfg and waits for it to be ready or to fail.
func startEtcd(ctx context.Context, cfg *embed.Config, timeout time.Duration, client []url.URL) (*Embedded, error) {
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, err)
	case <-timer.C:
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: not ready after %v", cfg.Dir, timeout)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, ctx.Err())
	}
	return &Embedded{etcd: e, endpoints: clientEndpoints(e, client)}, nil
}

// clientEndpoints turns the listeners into URLs a client can dial (a port
// of 0 has become a real port by now).
func clientEndpoints(e *embed.Etcd, urls []url.URL) []string {
	var eps []string
	for i, u := range urls {
		switch {
		case u.Scheme == "unix":
			eps = append(eps, "unix://"+u.Host+u.Path)
		case i < len(e.Clients):
			eps = append(eps, "http://"+e.Clients[i].Addr().String())
		}
	}
	return eps
}

// Endpoints returns the client URLs of the server.
func (e *Embedded) Endpoints() []string {
	return append([]string(nil), e.endpoints...)
}

// Err delivers a fatal server error, if one happens while it runs.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the server gracefully and waits until it has stopped.
func (e *Embedded) Close() error {
	e.etcd.Close()
	return nil
}
