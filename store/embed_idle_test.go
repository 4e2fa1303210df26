package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The single member ticks raft every 500 ms and commits its backend every second (etcd's defaults,
// 100 ms each, woke an idle daemon 20 times a second for nothing), and still grants a lease of the
// smallest session TTL (5 s) as asked: etcd raises a TTL below 1.5 election timeouts.
func TestEmbeddedSlowTicksKeepShortLeases(t *testing.T) {
	cfg := DefaultEmbedConfig(filepath.Join(t.TempDir(), "data"))
	cfg.UnsafeNoFsync = true
	e, err := StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	sc := e.etcd.Server.Cfg
	if sc.TickMs < 500 || sc.BackendBatchInterval < time.Second || sc.BackendBatchLimit != 1 {
		t.Errorf("embedded etcd ticks every %d ms and commits every %v or %d writes, want >= 500 ms, >= 1s, 1 write",
			sc.TickMs, sc.BackendBatchInterval, sc.BackendBatchLimit)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := cli.Grant(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if g.TTL != 5 {
		t.Errorf("a 5 s lease was granted with TTL %d s", g.TTL)
	}
}
