package obhost

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/obhost/obhosttest"
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
