package store_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// deadEndpoint returns the URL of a loopback port nobody listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestConnectUnreachableNamesEndpoint(t *testing.T) {
	cfg := store.DefaultClientConfig()
	cfg.Endpoints = []string{deadEndpoint(t), deadEndpoint(t)}
	cfg.DialTimeout = 500 * time.Millisecond
	// The outer context is far longer than DialTimeout: Connect must give
	// up on its own.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := store.Connect(ctx, cfg, nil)
	if err == nil {
		cli.Close()
		t.Fatal("Connect to dead endpoints succeeded")
	}
	if ctx.Err() != nil {
		t.Fatal("Connect waited for the outer context instead of DialTimeout")
	}
	if !errors.Is(err, store.ErrUnreachable) {
		t.Fatalf("error %v is not ErrUnreachable", err)
	}
	for _, ep := range cfg.Endpoints {
		if !strings.Contains(err.Error(), ep) {
			t.Fatalf("error %q does not name endpoint %s", err, ep)
		}
	}
}

func TestConnectOneLiveEndpointIsEnough(t *testing.T) {
	cfg := store.DefaultClientConfig()
	cfg.Endpoints = append([]string{deadEndpoint(t)}, storetest.Single(t)...)
	cfg.DialTimeout = 5 * time.Second
	cli, err := store.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
}

func TestClientConfigValidate(t *testing.T) {
	ok := store.DefaultClientConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := map[string]func(*store.ClientConfig){
		"no endpoints":        func(c *store.ClientConfig) { c.Endpoints = nil },
		"empty endpoint":      func(c *store.ClientConfig) { c.Endpoints = []string{" "} },
		"cert without key":    func(c *store.ClientConfig) { c.CAFile, c.CertFile = "ca", "cert" },
		"cert without ca":     func(c *store.ClientConfig) { c.CertFile, c.KeyFile = "cert", "key" },
		"user without pwfile": func(c *store.ClientConfig) { c.Username = "u" },
		"zero dial timeout":   func(c *store.ClientConfig) { c.DialTimeout = 0 },
		"zero req timeout":    func(c *store.ClientConfig) { c.RequestTimeout = 0 },
	}
	for name, mutate := range cases {
		c := store.DefaultClientConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TLS settings with an http:// endpoint would be dropped by clientv3 (plaintext connection), and a
// password over plaintext TCP crosses the network in clear: both are refused, the password only
// without the explicit opt-in. unix:// sockets are local and carry a password fine.
func TestClientConfigRefusesPlaintextWithSecrets(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*store.ClientConfig)
		wantErr string // "" means accepted
	}{
		{"ca-file with http", func(c *store.ClientConfig) {
			c.Endpoints = []string{"https://a:2379", "http://b:2379"}
			c.CAFile = "ca"
		}, `ca-file is set but endpoint "http://b:2379" is not https://`},
		{"client cert with http", func(c *store.ClientConfig) {
			c.Endpoints = []string{"HTTP://b:2379"}
			c.CAFile, c.CertFile, c.KeyFile = "ca", "cert", "key"
		}, `is not https://`},
		{"ca-file with https", func(c *store.ClientConfig) {
			c.Endpoints = []string{"https://a:2379", "b:2379"}
			c.CAFile = "ca"
		}, ""},
		{"password with http", func(c *store.ClientConfig) {
			c.Endpoints = []string{"http://a:2379"}
			c.Username, c.PasswordFile = "u", "pw"
		}, `endpoint "http://a:2379" is not encrypted`},
		{"password with bare host:port and no TLS", func(c *store.ClientConfig) {
			c.Endpoints = []string{"a:2379"}
			c.Username, c.PasswordFile = "u", "pw"
		}, `endpoint "a:2379" is not encrypted`},
		{"password with http and the opt-in", func(c *store.ClientConfig) {
			c.Endpoints = []string{"http://a:2379"}
			c.Username, c.PasswordFile = "u", "pw"
			c.AllowInsecurePassword = true
		}, ""},
		{"password with https", func(c *store.ClientConfig) {
			c.Endpoints = []string{"https://a:2379"}
			c.Username, c.PasswordFile = "u", "pw"
		}, ""},
		{"password with TLS and bare host:port", func(c *store.ClientConfig) {
			c.Endpoints = []string{"a:2379"}
			c.CAFile = "ca"
			c.Username, c.PasswordFile = "u", "pw"
		}, ""},
		{"password over a unix socket", func(c *store.ClientConfig) {
			c.Endpoints = []string{"unix:///var/lib/onionbalance/etcd.sock", "unix:rel.sock"}
			c.Username, c.PasswordFile = "u", "pw"
		}, ""},
	}
	for _, tc := range cases {
		c := store.DefaultClientConfig()
		tc.mutate(&c)
		err := c.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: error %q lacks %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestConnectRefusesWorldReadablePasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := store.DefaultClientConfig()
	cfg.Endpoints = []string{"https://127.0.0.1:2379"}
	cfg.Username, cfg.PasswordFile = "obhost", path
	_, err := store.Connect(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("world-readable password file: %v, want an error naming %s", err, path)
	}
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	cfg := store.DefaultEmbedConfig(t.TempDir())
	cfg.UnsafeNoFsync = true
	e, err := store.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := store.Connect(ctx, clientConfig(e.Endpoints()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/kept", "yes"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "etcd", "member")); err != nil {
		t.Fatalf("etcd data not under <data-dir>/etcd: %v", err)
	}

	e, err = store.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatalf("restart on existing data: %v", err)
	}
	defer e.Close()
	cli, err = store.Connect(ctx, clientConfig(e.Endpoints()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/kept")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "yes" {
		t.Fatalf("after restart: %v, %v", resp, err)
	}
}

func TestEmbeddedUnixSocket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := store.DefaultEmbedConfig(dir)
	cfg.UnsafeNoFsync = true
	cfg.ClientURL = "unix://" + filepath.Join(dir, "etcd.sock")
	e, err := store.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cli, err := store.Connect(ctx, clientConfig(e.Endpoints()), nil)
	if err != nil {
		t.Fatalf("connect to %v: %v", e.Endpoints(), err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
}

func TestEmbedConfigValidate(t *testing.T) {
	if err := store.DefaultEmbedConfig("/tmp/x").Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	cases := map[string]func(*store.EmbedConfig){
		"no data dir":     func(c *store.EmbedConfig) { c.DataDir = "" },
		"https client":    func(c *store.EmbedConfig) { c.ClientURL = "https://127.0.0.1:0" },
		"unix no path":    func(c *store.EmbedConfig) { c.ClientURL = "unix://" },
		"tiny quota":      func(c *store.EmbedConfig) { c.QuotaBackendBytes = 1 },
		"short retention": func(c *store.EmbedConfig) { c.CompactionRetention = time.Second },
	}
	for name, mutate := range cases {
		c := store.DefaultEmbedConfig("/tmp/x")
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func clientConfig(endpoints []string) store.ClientConfig {
	c := store.DefaultClientConfig()
	c.Endpoints = endpoints
	return c
}
