package obhost

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

func noEnv(string) string { return "" }

func newOnionAddress(t *testing.T) string {
	t.Helper()
	k, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Address()
}

func defaultKeys(t *testing.T) store.Keys {
	t.Helper()
	k, err := store.NewKeys(store.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitFor polls cond until it holds, failing the test after d (a bound, not a timing assertion).
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clusterFixture is a config file with one service, its master key, a key-encryption key file and an
// embedded etcd, for the operations of cluster init and set-config.
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
	f.kekFile = filepath.Join(f.dir, "key-encryption-key")
	k, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.WriteKEKFile(f.kekFile, k); err != nil {
		t.Fatal(err)
	}
	f.writeConfig(t, f.backends, true)
	return f
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

// push does what cluster init (PushInit) or cluster set-config (PushSet) does with the fixture's
// config file.
func (f *clusterFixture) push(t *testing.T, mode PushMode, allowPlaintext bool) error {
	t.Helper()
	cfg, err := config.Load(f.config)
	if err != nil {
		t.Fatal(err)
	}
	cc, keys, err := ClusterConfigFromFile(cfg, time.Now(), "test")
	if err != nil {
		return err
	}
	st := store.New(storetest.NewClient(t, f.endpoints...), defaultKeys(t), nil, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = PushClusterConfig(ctx, st, cc, keys, PushOptions{Mode: mode, Cluster: cfg.Cluster, Getenv: noEnv,
		AllowPlaintext: allowPlaintext})
	return err
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

// fakeTor answers nothing: enough for a Manager that never leads.
type fakeTor struct{}

func (fakeTor) Consensus(context.Context) ([]byte, error)  { return nil, errors.New("no consensus") }
func (fakeTor) Microdescs(context.Context) ([]byte, error) { return nil, errors.New("no microdescs") }
func (fakeTor) FetchDescriptor(context.Context, string, []string) error {
	return errors.New("not connected")
}
func (fakeTor) PostDescriptor(context.Context, []byte, string, []string) error {
	return errors.New("not connected")
}

type emptyState struct{}

func (emptyState) Instances(context.Context, string) ([]record.Instance, error) { return nil, nil }
func (emptyState) PublishedAll(context.Context, string) (map[string]record.Publish, error) {
	return nil, nil
}
func (emptyState) PutInstance(context.Context, int64, string, record.Instance) error { return nil }
func (emptyState) PutPublished(context.Context, int64, string, string, record.Publish) error {
	return nil
}
func (emptyState) RecordKeys(context.Context) (map[string]record.ServiceKeys, error) {
	return nil, nil
}
func (emptyState) DeleteRecords(context.Context, int64, string, []string, []string) error {
	return nil
}

type follower struct{}

func (follower) IsLeader() (int64, bool) { return 0, false }
func (follower) MayPublish(context.Context, int64) (time.Time, error) {
	return time.Time{}, cluster.ErrNotLeader
}
