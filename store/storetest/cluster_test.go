package storetest

import (
	"context"
	"testing"
	"time"
)

func TestClusterStopRestartMember(t *testing.T) {
	c := StartCluster(t, 3)
	if c.Size() != 3 || len(c.Endpoints()) != 3 {
		t.Fatalf("cluster of %d members, endpoints %v", c.Size(), c.Endpoints())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli0 := NewClient(t, c.Endpoint(0))
	if _, err := cli0.Put(ctx, "/a", "1"); err != nil {
		t.Fatal(err)
	}
	c.Stop(1)
	// Two of three members are a quorum: writes go on.
	if _, err := cli0.Put(ctx, "/b", "2"); err != nil {
		t.Fatalf("write with one member stopped: %v", err)
	}
	c.Restart(1)
	cli1 := NewClient(t, c.Endpoint(1))
	// A linearizable read on the restarted member sees the write it missed.
	resp, err := cli1.Get(ctx, "/b")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("read on restarted member: %+v, %v", resp, err)
	}
}
