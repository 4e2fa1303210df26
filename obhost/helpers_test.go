package obhost

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// push does what cluster init (PushInit) or cluster set-config (PushSet) does with the fixture's
// config file.
func push(t *testing.T, f *obhosttest.Cluster, mode PushMode, allowPlaintext bool) error {
	t.Helper()
	cfg, err := config.Load(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	cc, keys, err := ClusterConfigFromFile(cfg, time.Now(), "test")
	if err != nil {
		return err
	}
	st := store.New(storetest.NewClient(t, f.Endpoints...), obhosttest.DefaultKeys(t), nil, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = PushClusterConfig(ctx, st, cc, keys, PushOptions{Mode: mode, Cluster: cfg.Cluster, Getenv: obhosttest.NoEnv,
		AllowPlaintext: allowPlaintext})
	return err
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

// initCluster runs cluster init on a new fixture with n backends and returns the fixture, a client of
// its etcd, its key-encryption key, and the services of <prefix>/config as a node with that key reads
// them.
func initCluster(t *testing.T, n int) (*obhosttest.Cluster, *clientv3.Client, store.KEK, *etcdServices) {
	t.Helper()
	f := obhosttest.NewCluster(t, n)
	if err := push(t, f, PushInit, false); err != nil {
		t.Fatalf("init: %v", err)
	}
	cli := storetest.NewClient(t, f.Endpoints...)
	kek, sealer := f.Sealer(t)
	es := newEtcdServices(store.New(cli, obhosttest.DefaultKeys(t), sealer, time.Second), hclog.NewNullLogger(), time.Second)
	return f, cli, kek, es
}

// followConfig runs, until the test ends, a publisher that never leads with services, and es
// following <prefix>/config into it. Each change applied (nil) or refused is sent on the channel.
func followConfig(t *testing.T, es *etcdServices, cli *clientv3.Client, services []publisher.ServiceConfig) (*publisher.Manager, <-chan error) {
	t.Helper()
	pcfg := publisher.DefaultConfig()
	pcfg.Services = services
	m, err := publisher.New(pcfg, fakeTor{}, emptyState{}, follower{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { m.Run(ctx, nil); done <- struct{}{} }()
	errs := make(chan error, 10)
	go func() {
		es.follow(ctx, cli, time.Second, m, func(err error) { errs <- err })
		done <- struct{}{}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return m, errs
}

// backendAddresses lists the backends m balances (addresses without .onion), service by service.
func backendAddresses(m *publisher.Manager) []string {
	var out []string
	for _, s := range m.Status().Services {
		for _, b := range s.Backends {
			out = append(out, strings.TrimSuffix(b.Address, ".onion"))
		}
	}
	return out
}
