package cluster

import (
	"context"
	"maps"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/store"
)

// observe follows the election prefix and records who leads: the candidate
// with the lowest create revision. Unlike concurrency.Election.Observe it
// also sees "no leader", and it survives closed watches and compactions.
// While this node's etcd member is cut off from its cluster the view can
// lag; the fence, not this view, decides what a leader may do.
func (e *Election) observe(ctx context.Context) {
	cands := map[string]Candidate{}
	for u := range store.Watch(ctx, e.cli, e.keys.Election()+"/", e.cfg.requestTimeout(), e.log.Named("observe")) {
		if u.Reset {
			clear(cands)
			for _, kv := range u.KVs {
				cands[string(kv.Key)] = Candidate{Name: string(kv.Value), Epoch: kv.CreateRevision}
			}
		}
		for _, ev := range u.Events {
			key := string(ev.Kv.Key)
			if ev.Type == clientv3.EventTypeDelete {
				delete(cands, key)
				continue
			}
			cands[key] = Candidate{Name: string(ev.Kv.Value), Epoch: ev.Kv.CreateRevision}
		}
		lead, _ := leaderOf(slices.Collect(maps.Values(cands))) // zero when nobody leads
		e.mu.Lock()
		e.observed = State{Epoch: lead.Epoch, LeaderName: lead.Name}
		e.mu.Unlock()
		e.publish()
	}
}
