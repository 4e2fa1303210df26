package store

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/internal/clock"
)

// WatchClient is what Watch needs from an etcd client.
type WatchClient interface {
	clientv3.KV
	clientv3.Watcher
}

// Update is one step in the life of a watched prefix.
type Update struct {
	// Reset means KVs is the complete content of the prefix at Revision:
	// forget everything known before. The first update is always a reset,
	// and so is the first one after the watch fell behind a compaction.
	Reset bool
	KVs   []*mvccpb.KeyValue
	// Events are the changes since the previous update, in order (only
	// when Reset is false). Deletes carry the previous value.
	Events []*clientv3.Event
	// Revision is the etcd revision the view is now current to.
	Revision int64
}

const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// Watch follows every key under prefix and delivers the changes on the
// returned channel until ctx is done, when the channel closes. It lists the
// prefix first, then watches from the next revision. A watch that closes is
// restarted from the revision after the last one delivered, so nothing is
// lost or repeated; a watch that falls behind a compaction lists the prefix
// again and delivers a reset. Watches require an etcd leader, so a member cut
// off from its cluster does not leave the view silently stale. Each list is
// bounded by requestTimeout; failures are logged and retried with backoff.
func Watch(ctx context.Context, c WatchClient, prefix string, requestTimeout time.Duration, logger hclog.Logger) <-chan Update {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	w := &watcher{c: c, prefix: prefix, timeout: requestTimeout, log: logger, out: make(chan Update)}
	go w.run(ctx)
	return w.out
}

type watcher struct {
	c       WatchClient
	prefix  string
	timeout time.Duration
	log     hclog.Logger
	out     chan Update
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	var rev int64 // last revision delivered; 0 means "list first"
	retry := watchRetryMin
	for ctx.Err() == nil {
		if rev == 0 {
			r, err := w.list(ctx)
			if err != nil {
				w.log.Warn("list failed", "prefix", w.prefix, "error", err)
				if !clock.Sleep(ctx, clock.Real{}, retry) {
					return
				}
				retry = min(2*retry, watchRetryMax)
				continue
			}
			rev = r
		}
		progressed, compacted, err := w.watch(ctx, &rev)
		if ctx.Err() != nil {
			return
		}
		if compacted {
			w.log.Info("watch fell behind compaction; listing again", "prefix", w.prefix, "revision", rev)
			rev = 0
			continue
		}
		if progressed {
			retry = watchRetryMin
		}
		w.log.Debug("watch closed; restarting", "prefix", w.prefix, "revision", rev, "error", err)
		if !clock.Sleep(ctx, clock.Real{}, retry) {
			return
		}
		retry = min(2*retry, watchRetryMax)
	}
}

// list delivers a reset update and returns its revision.
func (w *watcher) list(ctx context.Context) (int64, error) {
	lctx, cancel := context.WithTimeout(ctx, w.timeout)
	resp, err := w.c.Get(lctx, w.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return 0, err
	}
	u := Update{Reset: true, KVs: resp.Kvs, Revision: resp.Header.GetRevision()}
	if !w.send(ctx, u) {
		return 0, ctx.Err()
	}
	return u.Revision, nil
}

// watch runs one watch from *rev+1 until it closes, advancing *rev as
// updates are delivered.
func (w *watcher) watch(ctx context.Context, rev *int64) (progressed, compacted bool, err error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := w.c.Watch(wctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(*rev+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	for resp := range wch {
		if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
			return progressed, true, resp.Err()
		}
		if err := resp.Err(); err != nil {
			return progressed, false, err
		}
		progressed = true
		if len(resp.Events) == 0 {
			// Progress notification: nothing under the prefix changed
			// up to the header revision.
			if resp.IsProgressNotify() && resp.Header.GetRevision() > *rev {
				*rev = resp.Header.GetRevision()
			}
			continue
		}
		last := resp.Events[len(resp.Events)-1].Kv.ModRevision
		if !w.send(ctx, Update{Events: resp.Events, Revision: last}) {
			return progressed, false, ctx.Err()
		}
		*rev = last
	}
	return progressed, false, nil
}

func (w *watcher) send(ctx context.Context, u Update) bool {
	select {
	case w.out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}
