package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// breakableClient wraps a real client so a test can close the current
// watch channel (as a network failure would) and hold back the next Watch
// call until it is released.
type breakableClient struct {
	*clientv3.Client

	mu      sync.Mutex
	cancel  context.CancelFunc
	gate    chan struct{} // Watch waits for it to close; nil: no wait
	watches int
}

func (b *breakableClient) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	b.mu.Lock()
	b.cancel = cancel
	b.watches++
	b.mu.Unlock()
	return b.Client.Watch(ctx, key, opts...)
}

// breakWatch closes the current watch and holds the next one back until
// the returned function is called.
func (b *breakableClient) breakWatch() (release func()) {
	gate := make(chan struct{})
	b.mu.Lock()
	b.gate = gate
	cancel := b.cancel
	b.mu.Unlock()
	cancel()
	return func() {
		b.mu.Lock()
		b.gate = nil
		b.mu.Unlock()
		close(gate)
	}
}

func (b *breakableClient) watchCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.watches
}

// view applies updates to a map of key -> value, as a consumer would.
type view map[string]string

func (v view) apply(u store.Update) {
	if u.Reset {
		clear(v)
		for _, kv := range u.KVs {
			v[string(kv.Key)] = string(kv.Value)
		}
		return
	}
	for _, ev := range u.Events {
		if ev.Type == clientv3.EventTypeDelete {
			delete(v, string(ev.Kv.Key))
		} else {
			v[string(ev.Kv.Key)] = string(ev.Kv.Value)
		}
	}
}

func next(t *testing.T, ch <-chan store.Update) store.Update {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no watch update within 10s")
	}
	return store.Update{}
}

// waitFor applies updates until the view holds want.
func waitFor(t *testing.T, ch <-chan store.Update, v view, want view) (resets int) {
	t.Helper()
	for !sameView(v, want) {
		u := next(t, ch)
		if u.Reset {
			resets++
		}
		v.apply(u)
	}
	return resets
}

func sameView(a, b view) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		if y, ok := b[k]; !ok || x != y {
			return false
		}
	}
	return true
}

func TestWatchRestartsWithoutLoss(t *testing.T) {
	cli := &breakableClient{Client: storetest.NewClient(t, storetest.Single(t)...)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := cli.Put(ctx, "/w/a", "1"); err != nil {
		t.Fatal(err)
	}
	ch := store.Watch(ctx, cli, "/w/", 5*time.Second, nil)
	first := next(t, ch)
	if !first.Reset || len(first.KVs) != 1 {
		t.Fatalf("first update %+v is not a reset with one key", first)
	}
	v := view{}
	v.apply(first)

	if _, err := cli.Put(ctx, "/w/b", "2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, v, view{"/w/a": "1", "/w/b": "2"})

	// Break the watch, change things while no watch runs, then let it
	// restart: the changes arrive as events, not as a reset.
	release := cli.breakWatch()
	if _, err := cli.Put(ctx, "/w/c", "3"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "/w/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/other", "x"); err != nil {
		t.Fatal(err)
	}
	release()
	if resets := waitFor(t, ch, v, view{"/w/b": "2", "/w/c": "3"}); resets != 0 {
		t.Fatalf("restart delivered %d resets, want events only", resets)
	}
	if n := cli.watchCount(); n < 2 {
		t.Fatalf("watch was started %d times, want a restart", n)
	}
	cancel()
	for range ch {
	}
}

func TestWatchRelistsAfterCompaction(t *testing.T) {
	cli := &breakableClient{Client: storetest.NewClient(t, storetest.Single(t)...)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := store.Watch(ctx, cli, "/w/", 5*time.Second, nil)
	v := view{}
	v.apply(next(t, ch))
	if _, err := cli.Put(ctx, "/w/a", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, v, view{"/w/a": "1"})

	release := cli.breakWatch()
	if _, err := cli.Put(ctx, "/w/b", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "/w/a"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Put(ctx, "/w/c", "3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	release()
	if resets := waitFor(t, ch, v, view{"/w/b": "2", "/w/c": "3"}); resets != 1 {
		t.Fatalf("after compaction got %d resets, want 1", resets)
	}
}
