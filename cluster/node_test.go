package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

func TestNodeHeartbeat(t *testing.T) {
	cli := storetest.NewClient(t, storetest.Single(t)...)
	st := store.New(cli, testKeys(t, "/ob"), nil, 5*time.Second)
	cfg := cluster.DefaultNodeConfig("n1", "0.1.0")
	cfg.Interval = 200 * time.Millisecond
	cfg.TTL = 2 * time.Second
	n, err := cluster.NewNode(cli, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer cancel()

	// waitRecord polls the stored record until ok accepts it.
	waitRecord := func(what string, ok func(record.Node, error) bool) record.Node {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			rec, err := st.Node(context.Background(), "n1")
			if ok(rec, err) {
				return rec
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no heartbeat record with %s within 10s", what)
		return record.Node{}
	}
	first := waitRecord("version", func(r record.Node, err error) bool { return err == nil && r.Version == "0.1.0" })
	if first.Role != record.RoleFollower || first.Heartbeat.IsZero() || first.StartedAt.IsZero() {
		t.Fatalf("first record %+v", first)
	}
	// Idle, with the same tor state reported again and again (as the tor watch does): no write, and
	// the record outlives its 2 s lease because the lease is renewed.
	key := st.Keys().Node("n1")
	before, err := cli.Get(context.Background(), key)
	if err != nil || len(before.Kvs) != 1 {
		t.Fatalf("record: %+v, %v", before, err)
	}
	for range 15 {
		n.SetTor(0, "")
		time.Sleep(200 * time.Millisecond)
	}
	after, err := cli.Get(context.Background(), key)
	if err != nil || len(after.Kvs) != 1 {
		t.Fatalf("the record is gone after 3s idle (lease TTL 2s): %+v, %v", after, err)
	}
	if b, a := before.Kvs[0], after.Kvs[0]; a.ModRevision != b.ModRevision || a.Lease != b.Lease {
		t.Errorf("idle for 15 heartbeat intervals, the record was rewritten: mod revision %d -> %d, lease %x -> %x",
			b.ModRevision, a.ModRevision, b.Lease, a.Lease)
	}

	n.SetTor(100, "done")
	n.SetLeadership(cluster.State{Leader: true, Epoch: 12, LeaderName: "n1"})
	n.SetError(errors.New("hsdir upload failed"))
	waitRecord("tor, role and error", func(r record.Node, err error) bool {
		return err == nil && r.TorBootstrap == 100 && r.TorState == "done" && r.Role == record.RoleLeader &&
			r.Epoch == 12 && r.LastError == "hsdir upload failed"
	})

	resp, err := cli.Get(context.Background(), st.Keys().Node("n1"))
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("heartbeat record is not lease-bound: %+v, %v", resp, err)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := st.Node(context.Background(), "n1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record after stop: %v, want ErrNotFound", err)
	}
}

func TestNodeConfigValidate(t *testing.T) {
	if err := cluster.DefaultNodeConfig("n", "v").Validate(); err != nil {
		t.Fatal(err)
	}
	c := cluster.DefaultNodeConfig("n", "v")
	c.TTL = c.Interval
	if err := c.Validate(); err == nil {
		t.Fatal("ttl below 2*interval accepted")
	}
}
