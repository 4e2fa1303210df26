package obhosttest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// Cluster is what cluster init and cluster set-config work on: a config file (config.yaml) with one
// service and its backends, the service's master key (master.key), a key-encryption key file, all in
// a temporary directory, and a running single-member embedded etcd that the config file names.
type Cluster struct {
	Dir       string            // the temporary directory holding the files
	Endpoints []string          // of the embedded etcd
	Master    *hsv3.IdentityKey // the service's master key, in Dir/master.key
	Backends  []string          // the backends' addresses, without .onion
	KEKFile   string            // the key-encryption key file, in the generator's format (hex), mode 0600
	Config    string            // the path of config.yaml
}

// NewCluster starts an embedded etcd and writes the files for one service with n new backends; the
// config file names the key-encryption key file. All of it ends with the test.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{Dir: t.TempDir(), Endpoints: storetest.Single(t)}
	var err error
	if c.Master, err = hsv3.GenerateIdentityKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "master.key"), c.Master.MarshalTorSecretKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	for range n {
		c.Backends = append(c.Backends, OnionAddress(t))
	}
	// The generator's format (cmd/onionbalance-config): 64 hex digits and a newline, mode 0600.
	c.KEKFile = filepath.Join(c.Dir, "key-encryption-key")
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KEKFile, fmt.Appendf(nil, "%x\n", kek), 0o600); err != nil {
		t.Fatal(err)
	}
	c.WriteConfig(t, c.Backends, true)
	return c
}

// WriteConfig (re)writes config.yaml listing backends (addresses without .onion, named b1, b2, ...),
// with or without the key-encryption key file.
func (c *Cluster) WriteConfig(t testing.TB, backends []string, withKEK bool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("services:\n  - key: master.key\n    instances:\n")
	for i, a := range backends {
		fmt.Fprintf(&b, "      - address: %s.onion\n        name: b%d\n", a, i+1)
	}
	fmt.Fprintf(&b, "cluster:\n  node-name: op\n  etcd:\n    endpoints: [%s]\n", strings.Join(c.Endpoints, ", "))
	if withKEK {
		b.WriteString("  key-encryption-key-file: key-encryption-key\n")
	}
	c.Config = filepath.Join(c.Dir, "config.yaml")
	if err := os.WriteFile(c.Config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Sealer returns the key-encryption key of KEKFile and a sealer with it.
func (c *Cluster) Sealer(t testing.TB) (store.KEK, *store.Sealer) {
	t.Helper()
	kek, err := store.LoadKEKFile(c.KEKFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	return kek, s
}

// Get returns the value at key in the embedded etcd ("" when absent).
func (c *Cluster) Get(t testing.TB, key string) string {
	t.Helper()
	cli := storetest.NewClient(t, c.Endpoints...)
	resp, err := cli.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}
