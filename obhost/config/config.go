// Package config loads and validates the onionbalance configuration file.
//
// The Python OnionBalance v3 config.yaml is accepted unchanged (services, key, instances, address, name,
// status-socket-location). Settings the Python tool never had live in their own sections: tor, cluster,
// publish, log, metrics, health. Unlike the Python tool, unknown keys are errors that name the key and its line.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/store"
)

// Config is the whole configuration file after defaults were applied.
type Config struct {
	// Services are the public (master) onion services to balance. Required unless the cluster holds them.
	Services []Service `yaml:"services"`
	// StatusSocketLocation is the unix socket that serves the Python-compatible JSON status.
	StatusSocketLocation string `yaml:"status-socket-location"`
	// DataDir holds the embedded etcd and other local state.
	DataDir string `yaml:"data-dir"`

	Tor     Tor     `yaml:"tor"`
	Cluster Cluster `yaml:"cluster"`
	Publish Publish `yaml:"publish"`
	Log     Log     `yaml:"log"`
	Metrics Metrics `yaml:"metrics"`
	// Health configures the backend health probes (health.go).
	Health Health `yaml:"health"`

	// Path is the file the config was loaded from (empty when built in code).
	Path string `yaml:"-"`
}

// Service is one public onion address and its backends.
type Service struct {
	// Key is the master key file (tor's hs_ed25519_secret_key or PKCS#8 PEM). Relative paths are resolved
	// against the folder of the config file.
	Key string `yaml:"key"`
	// Instances are the backend onion services.
	Instances []Instance `yaml:"instances"`
	// IntroPointsPerBackend overrides publish.intro-points-per-backend for this service.
	IntroPointsPerBackend int `yaml:"intro-points-per-backend"`
	// AuthorizedClientsDir is a folder of tor's *.auth files (descriptor:x25519:<base32 public
	// key>), as HiddenServiceDir/authorized_clients/: with any client, the descriptors are readable by
	// the authorized clients only (restricted discovery).
	AuthorizedClientsDir string `yaml:"authorized-clients-dir"`
	// AuthorizedClients lists more clients, each "descriptor:x25519:<base32 public key>".
	AuthorizedClients []string `yaml:"authorized-clients"`
	// Health overrides the health section's rules for this service.
	Health ServiceHealth `yaml:"health"`
}

// Instance is one backend onion service.
type Instance struct {
	Address string `yaml:"address"`
	Name    string `yaml:"name"`
	// AuthPrivateFile is the backend's client key in tor's .auth_private format, for a backend with
	// restricted discovery: the balancer decrypts the backend's descriptor with it.
	AuthPrivateFile string `yaml:"auth-private-file"`
}

// Tor says how to reach the local tor's control port.
type Tor struct {
	// Control is "tcp:HOST:PORT", "HOST:PORT", "unix:/path" or an absolute socket path. When empty, the
	// Python tool's order is kept: the unix socket (-s), then TCP (-i/-p).
	Control string `yaml:"control"`
	// PasswordFile holds the control port password (HashedControlPassword auth). Empty: cookie or none.
	PasswordFile string `yaml:"password-file"`
}

// Cluster configures etcd access and leader election.
type Cluster struct {
	NodeName string `yaml:"node-name"`
	Etcd     Etcd   `yaml:"etcd"`
	// SessionTTL is the etcd lease TTL of the leader election (default 10s, minimum 5s).
	SessionTTL Duration `yaml:"session-ttl"`
	// KeyEncryptionKeyFile seals the master keys stored in etcd (mode 0600).
	KeyEncryptionKeyFile string `yaml:"key-encryption-key-file"`
	// AllowPlaintextKeys stores master keys in etcd unsealed. Off by default; never recommended.
	AllowPlaintextKeys bool `yaml:"allow-plaintext-keys"`
}

// Etcd says how to reach an external etcd. With no endpoints, an embedded single-member etcd runs in DataDir.
type Etcd struct {
	Endpoints    []string `yaml:"endpoints"`
	Prefix       string   `yaml:"prefix"`
	CAFile       string   `yaml:"ca-file"`
	CertFile     string   `yaml:"cert-file"`
	KeyFile      string   `yaml:"key-file"`
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password-file"`
	// AllowInsecurePassword lets the password go to http:// (or bare host:port without TLS) endpoints.
	AllowInsecurePassword bool `yaml:"allow-insecure-password"`
	// RequestTimeout bounds every etcd request (default 5s).
	RequestTimeout Duration `yaml:"request-timeout"`
}

// Publish holds the balancing timings and limits.
type Publish struct {
	// FetchInterval is how often every backend descriptor is fetched (default 2m).
	FetchInterval Duration `yaml:"fetch-interval"`
	// RefreshInterval republishes an unchanged descriptor after this long (default 1h).
	RefreshInterval Duration `yaml:"refresh-interval"`
	// BackendTimeout drops a backend whose descriptor was not received for this long (default 1h).
	BackendTimeout Duration `yaml:"backend-timeout"`
	// IntroPointsPerBackend is the fair share of intro points per live backend (default 2).
	IntroPointsPerBackend int `yaml:"intro-points-per-backend"`
	// MaxBackends is a sanity limit per service (default 60).
	MaxBackends int `yaml:"max-backends"`
	// Concurrency is how many services the leader builds, uploads and records at once, and how many
	// fetches, decodes and etcd writes it has going at once (default publisher.DefaultConcurrency).
	Concurrency int `yaml:"concurrency"`
}

// Log configures logging.
type Log struct {
	// Level is trace, debug, info, warn or error (default info). -v overrides it.
	Level string `yaml:"level"`
	// JSON switches to JSON log lines.
	JSON bool `yaml:"json"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the address of /metrics, e.g. 127.0.0.1:9180. Empty: off.
	Listen string `yaml:"listen"`
}

// Defaults of the settings that belong to no other package. The timings and limits of the parts
// (election, etcd client, publisher) default to their packages' DefaultConfig: see applyDefaults.
const (
	DefaultDataDir    = "/var/lib/onionbalance"
	DefaultEtcdPrefix = store.DefaultPrefix
	MinSessionTTL     = cluster.MinTTL
	DefaultLogLevel   = "info"
	// MaxConcurrency bounds publish.concurrency: more workers than this only add contention.
	MaxConcurrency = 256
)

// Default returns a Config with every default filled in and no services.
func Default() *Config {
	c := &Config{Health: defaultHealth()}
	c.applyDefaults()
	return c
}

// applyDefaults fills in what the file left empty: the parts' settings from their packages'
// DefaultConfig, one source for the file and for code that runs the parts without a file.
func (c *Config) applyDefaults() {
	pub, el, etcd := publisher.DefaultConfig(), cluster.DefaultConfig(""), store.DefaultClientConfig()
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Cluster.Etcd.Prefix == "" {
		c.Cluster.Etcd.Prefix = DefaultEtcdPrefix
	}
	if c.Cluster.SessionTTL == 0 {
		c.Cluster.SessionTTL = Duration(el.TTL)
	}
	if c.Cluster.Etcd.RequestTimeout == 0 {
		c.Cluster.Etcd.RequestTimeout = Duration(etcd.RequestTimeout)
	}
	if c.Publish.FetchInterval == 0 {
		c.Publish.FetchInterval = Duration(pub.FetchInterval)
	}
	if c.Publish.RefreshInterval == 0 {
		c.Publish.RefreshInterval = Duration(pub.Timing.Refresh)
	}
	if c.Publish.BackendTimeout == 0 {
		c.Publish.BackendTimeout = Duration(pub.Liveness.Timeout)
	}
	if c.Publish.IntroPointsPerBackend == 0 {
		c.Publish.IntroPointsPerBackend = publisher.DefaultIntroPointsPerBackend
	}
	if c.Publish.MaxBackends == 0 {
		c.Publish.MaxBackends = pub.MaxBackends
	}
	if c.Publish.Concurrency == 0 {
		c.Publish.Concurrency = pub.Concurrency
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Cluster.NodeName == "" {
		if h, err := os.Hostname(); err == nil {
			c.Cluster.NodeName = h
		}
	}
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

// Validate checks values that do not need the network or key files. requireServices is false for
// cluster nodes that read the services from etcd.
func (c *Config) Validate(requireServices bool) error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	if requireServices && len(c.Services) == 0 {
		bad("no services: add a services: list with key and instances")
	}
	for i, s := range c.Services {
		if s.Key == "" {
			bad("services[%d].key is empty", i)
		}
		if len(s.Instances) == 0 {
			bad("services[%d].instances is empty", i)
		}
		for j, in := range s.Instances {
			if strings.TrimSpace(in.Address) == "" {
				bad("services[%d].instances[%d].address is empty", i, j)
			}
		}
		if s.IntroPointsPerBackend < 0 || s.IntroPointsPerBackend > 20 {
			bad("services[%d].intro-points-per-backend = %d, want 1..20", i, s.IntroPointsPerBackend)
		}
		if n := len(s.Instances); n > c.Publish.MaxBackends {
			bad("services[%d] has %d instances, more than publish.max-backends (%d)", i, n, c.Publish.MaxBackends)
		}
	}
	if err := cluster.CheckTTL(c.Cluster.SessionTTL.D()); err != nil {
		bad("cluster.session-ttl: %v", err)
	}
	if c.Cluster.Etcd.RequestTimeout.D() <= 0 {
		bad("cluster.etcd.request-timeout must be positive")
	}
	if !strings.HasPrefix(c.Cluster.Etcd.Prefix, "/") {
		bad("cluster.etcd.prefix %q must start with /", c.Cluster.Etcd.Prefix)
	}
	if (c.Cluster.Etcd.CertFile == "") != (c.Cluster.Etcd.KeyFile == "") {
		bad("cluster.etcd.cert-file and cluster.etcd.key-file must be set together")
	}
	if c.Cluster.Etcd.PasswordFile != "" && c.Cluster.Etcd.Username == "" {
		bad("cluster.etcd.password-file is set but cluster.etcd.username is empty")
	}
	c.validateEtcdTransport(bad)
	if c.Cluster.NodeName == "" {
		bad("cluster.node-name is empty and the host name is unknown")
	}
	if c.Publish.FetchInterval.D() < time.Second {
		bad("publish.fetch-interval = %s, want at least 1s", c.Publish.FetchInterval.D())
	}
	if c.Publish.RefreshInterval.D() < time.Second {
		bad("publish.refresh-interval = %s, want at least 1s", c.Publish.RefreshInterval.D())
	}
	if c.Publish.BackendTimeout.D() < time.Second {
		bad("publish.backend-timeout = %s, want at least 1s", c.Publish.BackendTimeout.D())
	}
	if n := c.Publish.IntroPointsPerBackend; n < 1 || n > 20 {
		bad("publish.intro-points-per-backend = %d, want 1..20", n)
	}
	if c.Publish.MaxBackends < 1 {
		bad("publish.max-backends = %d, want at least 1", c.Publish.MaxBackends)
	}
	if n := c.Publish.Concurrency; n < 1 || n > MaxConcurrency {
		bad("publish.concurrency = %d, want 1..%d", n, MaxConcurrency)
	}
	switch strings.ToLower(c.Log.Level) {
	case "trace", "debug", "info", "warn", "warning", "error", "critical":
	default:
		bad("log.level %q: want trace, debug, info, warn or error", c.Log.Level)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen %q: %v", c.Metrics.Listen, err)
		}
	}
	c.validateHealth(bad)
	return errors.Join(errs...)
}

// validateEtcdTransport refuses TLS settings that the etcd client would silently drop (http://
// endpoints) and a password that would cross the network in clear without the explicit opt-in: the
// etcd client's own rule (store.ClientConfig.CheckTransport), checked before the client is made.
func (c *Config) validateEtcdTransport(bad func(format string, a ...any)) {
	e := c.Cluster.Etcd
	cc := store.ClientConfig{Endpoints: e.Endpoints, CAFile: e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile,
		Username: e.Username, AllowInsecurePassword: e.AllowInsecurePassword}
	if err := cc.CheckTransport("cluster.etcd."); err != nil {
		bad("%v", err)
	}
}

// IntroPointsPerBackend is the effective per-backend share for service i.
func (c *Config) IntroPointsPerBackend(i int) int {
	if n := c.Services[i].IntroPointsPerBackend; n > 0 {
		return n
	}
	return c.Publish.IntroPointsPerBackend
}

// resolvePaths makes relative file paths relative to the config file's folder, as the Python tool does
// for service keys.
func (c *Config) resolvePaths() {
	if c.Path == "" {
		return
	}
	dir := filepath.Dir(c.Path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range c.Services {
		abs(&c.Services[i].Key)
		abs(&c.Services[i].AuthorizedClientsDir)
		for j := range c.Services[i].Instances {
			abs(&c.Services[i].Instances[j].AuthPrivateFile)
		}
	}
	abs(&c.Tor.PasswordFile)
	abs(&c.Cluster.KeyEncryptionKeyFile)
	abs(&c.Cluster.Etcd.CAFile)
	abs(&c.Cluster.Etcd.CertFile)
	abs(&c.Cluster.Etcd.KeyFile)
	abs(&c.Cluster.Etcd.PasswordFile)
}
