package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// EmbedConfig configures a single-member etcd server run inside the obhost
// process. It is what a single host uses when no external etcd is configured:
// the rest of the program talks to it through an ordinary clientv3 client
// (one that calls the server in-process, see Embedded.Client), exactly as it
// would talk to a cluster.
type EmbedConfig struct {
	// DataDir is the obhost data directory; etcd keeps its files in
	// DataDir/etcd.
	DataDir string
	// Name is the etcd member name.
	Name string
	// ClientURL is where the server listens for clients. The default is the
	// unix socket DataDir/etcd.sock: etcd takes writes from any client that
	// can connect, and only the owner of the 0700 DataDir can connect to it.
	// "http://127.0.0.1:0" picks a free loopback port instead, which every
	// local user can reach (tests only).
	ClientURL string
	// PeerURL is where the server listens for peers. A single member never
	// talks to a peer; the default is the unix socket DataDir/etcd-peer.sock,
	// out of other users' reach for the same reason.
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

// The raft tick and the backend's commit interval of the embedded member (see StartEmbedded).
const (
	embedTickMs        = 500
	embedBatchInterval = time.Second
)

// Socket names of the default configuration, in the data directory.
const (
	ClientSocket = "etcd.sock"
	PeerSocket   = "etcd-peer.sock"
)

// maxUnixPath is the longest path a unix socket can have on Linux: sun_path
// holds 108 bytes including the terminating NUL.
const maxUnixPath = 107

// DefaultEmbedConfig returns the configuration of a single-member etcd kept
// under dataDir (an absolute path), reachable only through unix sockets in
// dataDir.
func DefaultEmbedConfig(dataDir string) EmbedConfig {
	return EmbedConfig{
		DataDir:             dataDir,
		Name:                "obhost",
		ClientURL:           "unix://" + filepath.Join(dataDir, ClientSocket),
		PeerURL:             "unix://" + filepath.Join(dataDir, PeerSocket),
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
	case "http":
		return *u, nil
	case "unix":
	default:
		return url.URL{}, fmt.Errorf("%q: scheme must be http or unix", s)
	}
	path := u.Host + u.Path
	switch {
	case path == "":
		return url.URL{}, fmt.Errorf("%q: no socket path", s)
	case !filepath.IsAbs(path):
		return url.URL{}, fmt.Errorf("%q: socket path %s is not absolute", s, path)
	case len(path) > maxUnixPath:
		return url.URL{}, fmt.Errorf("%q: socket path is %d bytes, longer than the %d a unix socket allows "+
			"(use a shorter data-dir)", s, len(path), maxUnixPath)
	}
	return *u, nil
}

// socketPath is the file of a unix URL ("" for others).
func socketPath(u url.URL) string {
	if u.Scheme != "unix" {
		return ""
	}
	return u.Host + u.Path
}

// ErrSocketInUse means that a running process answers on a unix socket this
// process was to listen on: most likely another daemon on the same data-dir.
var ErrSocketInUse = errors.New("another running process serves this socket")

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
	log := c.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	dir := filepath.Join(c.DataDir, "etcd")
	for _, d := range []string{c.DataDir, dir} {
		if err := privateDir(d, log); err != nil {
			return nil, err
		}
	}
	sockets := []string{socketPath(curl), socketPath(purl)}
	for _, p := range sockets {
		if p == "" {
			continue
		}
		// A stale socket is fine: etcd replaces it.
		if _, err := CheckSocket(ctx, p); err != nil {
			return nil, fmt.Errorf("embedded etcd socket: %w", err)
		}
	}

	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{curl}
	cfg.AdvertiseClientUrls = []url.URL{curl}
	cfg.ListenPeerUrls = []url.URL{peerListenURL(purl)}
	cfg.AdvertisePeerUrls = []url.URL{purl}
	cfg.InitialCluster = cfg.InitialClusterFromName(c.Name)
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = c.CompactionRetention.String()
	cfg.QuotaBackendBytes = c.QuotaBackendBytes
	cfg.UnsafeNoFsync = c.UnsafeNoFsync
	cfg.Metrics = "basic"
	// A single member has no peer to send heartbeats to or hear from, yet raft ticks and the backend
	// commits on their own timers: at etcd's defaults (100 ms each) they wake an idle process 20
	// times a second. Slower ones cost a single member nothing it uses: the election timeout only
	// delays its first self-election at start (by at most one tick), and every write is in the
	// fsynced WAL before it is acknowledged, whenever the backend commits. The election timeout of
	// 5 ticks keeps etcd's smallest lease TTL (1.5 election timeouts, rounded up) at 4 s, below
	// the 5 s smallest session TTL (cluster.MinTTL). With a batch limit of 1 every write reaches
	// the backend at once rather than at the next interval: the writes are few, and etcd's check
	// of the storage version at start needs the first term in the backend (without it, a daemon
	// stopped within its first second logged a warning).
	cfg.TickMs, cfg.ElectionMs = embedTickMs, 5*embedTickMs
	cfg.BackendBatchInterval, cfg.BackendBatchLimit = embedBatchInterval, 1
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(NewZapLogger(c.Logger))
	e, err := startEtcd(ctx, cfg, c.StartTimeout, []url.URL{curl})
	if err != nil {
		return nil, err
	}
	// The directory already keeps other users out; the sockets' own mode
	// (from the umask) should not invite them either.
	for _, p := range sockets {
		if p == "" {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			e.Close()
			return nil, fmt.Errorf("embedded etcd socket: %w", err)
		}
	}
	return e, nil
}

// peerListenURL is the URL to give etcd's ListenPeerUrls for u. etcd opens
// a peer listener at the URL's host alone (client listeners at host + path),
// so a unix socket's path goes into the host there.
func peerListenURL(u url.URL) url.URL {
	if u.Scheme != "unix" {
		return u
	}
	return url.URL{Scheme: "unix", Host: socketPath(u)}
}

// privateDir makes path a directory that only its owner can enter: whoever
// can enter the data directory can connect to the etcd sockets in it and
// write to etcd without credentials. It is created 0700; an existing one
// with other permissions is set to 0700, with a warning naming it.
func privateDir(path string, log hclog.Logger) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("embedded etcd: data-dir: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("embedded etcd: data-dir: %w", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		if err := os.Chmod(path, 0o700); err != nil {
			return fmt.Errorf("embedded etcd: data-dir %s has mode %04o, which lets other users reach etcd, "+
				"and cannot be set to 0700: %w", path, perm, err)
		}
		log.Warn("set the embedded etcd's directory to mode 0700: other users could reach etcd through it",
			"dir", path, "old_mode", fmt.Sprintf("%04o", perm))
	}
	return nil
}

// CheckSocket tells whether a unix socket may be listened on at path. It
// returns stale = true when a socket is there that nobody answers on (left by
// a process that died: the caller may remove it), ErrSocketInUse when a
// running process answers on it, and an error for anything else there (a file
// that is not a socket, a socket it cannot check). Nothing there is fine.
func CheckSocket(ctx context.Context, path string) (stale bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return false, fmt.Errorf("%s exists and is not a socket", path)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "unix", path)
	switch {
	case err == nil:
		conn.Close()
		return false, fmt.Errorf("%s: %w", path, ErrSocketInUse)
	case errors.Is(err, syscall.ECONNREFUSED): // nobody listens: stale
		return true, nil
	default: // e.g. another user's socket: not ours to judge
		return false, fmt.Errorf("%s exists and cannot be checked: %w", path, err)
	}
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

// Client returns a client that calls this server in the process: no socket, no HTTP/2 framing, no
// keepalive pings between two halves of one program. It is the daemon's own client; operator
// commands and etcdctl use the sockets (Endpoints). Close it before the server.
//
// Measured idle (bench/run -only-idle), the daemon spent about a sixth less CPU with it than with a
// client on the socket: each etcd request then cost a gRPC round trip through the kernel, with
// the goroutines of two HTTP/2 transports woken on both sides.
func (e *Embedded) Client() *clientv3.Client { return v3client.New(e.etcd.Server) }

// Close stops the server gracefully and waits until it has stopped.
func (e *Embedded) Close() error {
	e.etcd.Close()
	return nil
}
