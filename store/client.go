package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrUnreachable is returned by Connect when no endpoint answers.
var ErrUnreachable = errors.New("etcd unreachable")

// ClientConfig says how to reach an etcd cluster.
type ClientConfig struct {
	// Endpoints are the client URLs of the etcd members.
	Endpoints []string
	// CAFile, CertFile and KeyFile enable TLS. CAFile alone verifies the
	// server; CertFile and KeyFile (both or neither) add a client
	// certificate.
	CAFile   string
	CertFile string
	KeyFile  string
	// Username and PasswordFile enable etcd authentication. The password is
	// the first line of the file, which must not be world-readable.
	Username     string
	PasswordFile string
	// AllowInsecurePassword lets the password cross the network in clear:
	// to an http:// endpoint, or to a bare host:port without TLS. Off by
	// default; unix:// sockets never need it.
	AllowInsecurePassword bool
	// DialTimeout bounds connecting, and the start-up reachability check.
	DialTimeout time.Duration
	// RequestTimeout bounds every single request.
	RequestTimeout time.Duration
}

// DefaultClientConfig returns a configuration for an etcd on the local host.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Endpoints:      []string{"http://127.0.0.1:2379"},
		DialTimeout:    5 * time.Second,
		RequestTimeout: 5 * time.Second,
	}
}

// Validate reports the first field of c that cannot work. It does not touch
// the files it names.
func (c ClientConfig) Validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("etcd client: no endpoints")
	}
	for _, ep := range c.Endpoints {
		if strings.TrimSpace(ep) == "" {
			return errors.New("etcd client: empty endpoint")
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("etcd client: cert-file and key-file must be given together")
	}
	if c.CertFile != "" && c.CAFile == "" {
		return errors.New("etcd client: cert-file needs ca-file")
	}
	if (c.Username == "") != (c.PasswordFile == "") {
		return errors.New("etcd client: username and password-file must be given together")
	}
	if err := c.CheckTransport(""); err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("etcd client: dial-timeout %v must be positive", c.DialTimeout)
	}
	if c.RequestTimeout <= 0 {
		return fmt.Errorf("etcd client: request-timeout %v must be positive", c.RequestTimeout)
	}
	return nil
}

// CheckTransport refuses a transport that would betray the credentials: TLS
// files with an endpoint the client reaches in plaintext (it drops them
// silently), and a password over an unencrypted network connection unless
// AllowInsecurePassword is set. Its errors name the settings as prefix +
// the config file's key ("cluster.etcd." for the config file, "" here).
func (c ClientConfig) CheckTransport(prefix string) error {
	tlsKey := ""
	switch {
	case c.CAFile != "":
		tlsKey = "ca-file"
	case c.CertFile != "":
		tlsKey = "cert-file"
	case c.KeyFile != "":
		tlsKey = "key-file"
	}
	for _, ep := range c.Endpoints {
		if tlsKey != "" && TLSDropped(ep) {
			return fmt.Errorf("%s%s is set but endpoint %q is not https:// (TLS would be silently dropped): "+
				"use https:// endpoints", prefix, tlsKey, ep)
		}
		if c.Username != "" && !c.AllowInsecurePassword && PlaintextOverNetwork(ep, c.CAFile != "") {
			return fmt.Errorf("%susername is set but endpoint %q is not encrypted (the password would cross the "+
				"network in clear): use https:// endpoints or a unix:// socket, or set %sallow-insecure-password: true",
				prefix, ep, prefix)
		}
	}
	return nil
}

// endpointScheme returns the lower-case scheme of an etcd endpoint: "http",
// "https", "unix", "unixs", or "" for a bare host:port.
func endpointScheme(ep string) string {
	ep = strings.ToLower(strings.TrimSpace(ep))
	for _, local := range []string{"unixs:", "unix:"} { // also the unix:path form
		if strings.HasPrefix(ep, local) {
			return strings.TrimSuffix(local, ":")
		}
	}
	scheme, _, ok := strings.Cut(ep, "://")
	if !ok {
		return ""
	}
	return scheme
}

// TLSDropped reports whether the etcd client connects to ep in plaintext
// even when TLS is configured: it drops the TLS credentials of http://
// endpoints without a word.
func TLSDropped(ep string) bool {
	return endpointScheme(ep) == "http"
}

// PlaintextOverNetwork reports whether a connection to ep crosses the
// network unencrypted: an http:// endpoint, or a bare host:port when no TLS
// is configured (withTLS false). unix:// sockets are local: never.
func PlaintextOverNetwork(ep string, withTLS bool) bool {
	switch endpointScheme(ep) {
	case "http":
		return true
	case "https", "unix", "unixs":
		return false
	default:
		return !withTLS
	}
}

// Connect dials etcd and checks that at least one endpoint answers within
// DialTimeout, so that a wrong address fails at start-up with an error that
// names the endpoints instead of hanging. Logs of the etcd client go to
// logger (see NewZapLogger); nil discards them.
func Connect(ctx context.Context, c ClientConfig, logger hclog.Logger) (*clientv3.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cfg := clientv3.Config{
		Endpoints:            c.Endpoints,
		DialTimeout:          c.DialTimeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Username:             c.Username,
		Context:              context.WithoutCancel(ctx),
		Logger:               NewZapLogger(logger),
	}
	if c.CAFile != "" {
		info := transport.TLSInfo{TrustedCAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}
		tlsCfg, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd client TLS (ca-file %s): %w", c.CAFile, err)
		}
		cfg.TLS = tlsCfg
	}
	if c.PasswordFile != "" {
		pw, err := readPasswordFile(c.PasswordFile)
		if err != nil {
			return nil, err
		}
		cfg.Password = pw
	}
	eps := strings.Join(c.Endpoints, ",")
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, eps, err)
	}
	if err := checkReachable(ctx, cli, c.Endpoints, c.DialTimeout); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, eps, err)
	}
	return cli, nil
}

// checkReachable asks every endpoint for its status at once and succeeds at
// the first answer. The whole check is bounded by timeout.
func checkReachable(ctx context.Context, cli *clientv3.Client, endpoints []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errc := make(chan error, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			_, err := cli.Status(ctx, ep)
			if err != nil {
				err = fmt.Errorf("%s: %w", ep, err)
			}
			errc <- err
		}()
	}
	var errs []error
	for range endpoints {
		err := <-errc
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func readPasswordFile(path string) (string, error) {
	if err := checkFileMode(path, 0o007); err != nil {
		return "", fmt.Errorf("etcd password-file: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("etcd password-file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("etcd password-file %s: empty", path)
	}
	return pw, nil
}

// checkFileMode refuses a file whose permission bits intersect forbidden
// (0o077: any group or other access; 0o007: any other access).
func checkFileMode(path string, forbidden os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&forbidden != 0 {
		return fmt.Errorf("%s: mode %04o is too open (must not have any of %04o; chmod 600)", path, perm, forbidden)
	}
	return nil
}
