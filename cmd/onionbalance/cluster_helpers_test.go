package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// clusterFixture is a config file with one service and its key files, next to a running etcd.
type clusterFixture struct {
	dir       string
	endpoints []string
	master    *hsv3.IdentityKey
	backends  []string // addresses without .onion
	kekFile   string
	config    string // path of config.yaml
}

func newClusterFixture(t *testing.T, backends int) *clusterFixture {
	t.Helper()
	f := &clusterFixture{dir: t.TempDir(), endpoints: storetest.Single(t)}
	var err error
	if f.master, err = hsv3.GenerateIdentityKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "master.key"), f.master.MarshalTorSecretKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	for range backends {
		f.backends = append(f.backends, newOnionAddress(t))
	}
	// The generator's format: 64 hex digits and a newline, mode 0600.
	f.kekFile = filepath.Join(f.dir, "key-encryption-key")
	kek := make([]byte, 32)
	rand.Read(kek)
	if err := os.WriteFile(f.kekFile, fmt.Appendf(nil, "%x\n", kek), 0o600); err != nil {
		t.Fatal(err)
	}
	f.writeConfig(t, f.backends, true)
	return f
}

func newOnionAddress(t *testing.T) string {
	t.Helper()
	k, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Address()
}

// writeConfig writes config.yaml listing backends, with or without the key-encryption key file.
func (f *clusterFixture) writeConfig(t *testing.T, backends []string, withKEK bool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("services:\n  - key: master.key\n    instances:\n")
	for i, a := range backends {
		fmt.Fprintf(&b, "      - address: %s.onion\n        name: b%d\n", a, i+1)
	}
	fmt.Fprintf(&b, "cluster:\n  node-name: op\n  etcd:\n    endpoints: [%s]\n", strings.Join(f.endpoints, ", "))
	if withKEK {
		b.WriteString("  key-encryption-key-file: key-encryption-key\n")
	}
	f.config = filepath.Join(f.dir, "config.yaml")
	if err := os.WriteFile(f.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// get returns the value at key in the fixture's etcd ("" when absent).
func (f *clusterFixture) get(t *testing.T, key string) string {
	t.Helper()
	cli := storetest.NewClient(t, f.endpoints...)
	resp, err := cli.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

func defaultKeys(t *testing.T) store.Keys {
	t.Helper()
	k, err := store.NewKeys(store.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertNoKeyMaterial fails if out contains the master key in any usual encoding.
func assertNoKeyMaterial(t *testing.T, what, out string, k *hsv3.IdentityKey) {
	t.Helper()
	raw := k.MarshalTorSecretKey()[32:]
	for _, enc := range []string{string(raw), fmt.Sprintf("%x", raw), base64.StdEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(k.MarshalTorSecretKey())} {
		if strings.Contains(out, enc) {
			t.Fatalf("%s contains the master key", what)
		}
	}
	if bytes.Contains([]byte(out), raw[:16]) {
		t.Fatalf("%s contains master key bytes", what)
	}
}

func runCLIEnv(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, env{stdout: &out, stderr: &errb, getenv: getenv})
	return code, out.String(), errb.String()
}
