package cluster_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// testTTL is the session TTL of the tests: the minimum, to keep them short.
const testTTL = 5 * time.Second

func testConfig(name string) cluster.Config {
	cfg := cluster.DefaultConfig(name)
	cfg.TTL = testTTL
	cfg.Margin = 2 * time.Second
	cfg.RetryMin = 100 * time.Millisecond
	cfg.RetryMax = time.Second
	return cfg
}

func testKeys(t testing.TB, prefix string) store.Keys {
	t.Helper()
	k, err := store.NewKeys(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// forEachSingleMember runs test against a single etcd member twice: through a client on its
// socket, and through the in-process client of an embedded member, which is what a single host
// runs (store.Embedded.Client).
func forEachSingleMember(t *testing.T, test func(t *testing.T, cli *clientv3.Client)) {
	t.Run("socket", func(t *testing.T) { test(t, storetest.NewClient(t, storetest.Single(t)...)) })
	t.Run("in-process", func(t *testing.T) {
		cfg := store.DefaultEmbedConfig(filepath.Join(t.TempDir(), "data"))
		cfg.UnsafeNoFsync = true
		e, err := store.StartEmbedded(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		cli := e.Client()
		t.Cleanup(func() { cli.Close() })
		test(t, cli)
	})
}

// candidate is a running Election.
type candidate struct {
	name    string
	el      *cluster.Election
	cli     *clientv3.Client
	changes <-chan cluster.State
	stop    context.CancelFunc
	done    chan error
}

func startCandidate(t testing.TB, cli *clientv3.Client, keys store.Keys, cfg cluster.Config) *candidate {
	t.Helper()
	el, err := cluster.NewElection(cli, keys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{name: cfg.Name, el: el, cli: cli, changes: el.Changes(), stop: cancel, done: make(chan error, 1)}
	go func() { c.done <- el.Run(ctx) }()
	t.Cleanup(func() { c.shutdown(t) })
	return c
}

// shutdown stops the candidate and waits for Run to return.
func (c *candidate) shutdown(t testing.TB) error {
	t.Helper()
	c.stop()
	select {
	case err, ok := <-c.done:
		if ok {
			close(c.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: Run did not return within 20s of cancel", c.name)
		return nil
	}
}

// waitState reads c's state changes until ok accepts one, for at most
// timeout.
func (c *candidate) waitState(t testing.TB, timeout time.Duration, what string, ok func(cluster.State) bool) cluster.State {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case s, open := <-c.changes:
			if !open {
				t.Fatalf("%s: state channel closed while waiting for %s", c.name, what)
			}
			if ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("%s: no %s within %v (state %+v)", c.name, what, timeout, c.el.State())
		}
	}
}

func (c *candidate) waitLeader(t testing.TB, timeout time.Duration) cluster.State {
	t.Helper()
	return c.waitState(t, timeout, "leadership", func(s cluster.State) bool { return s.Leader })
}

// waitCampaigning waits (bounded) until c's election key exists. A follower's view may show the leader
// before its own key does: a leader that resigns before then can win again.
func (c *candidate) waitCampaigning(t testing.TB, keys store.Keys, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		cands, err := cluster.Candidates(context.Background(), c.cli, keys)
		if err == nil && slices.ContainsFunc(cands, func(cd cluster.Candidate) bool { return cd.Name == c.name }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no election key within %v (candidates %+v, %v)", c.name, timeout, cands, err)
		}
	}
}
