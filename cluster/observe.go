package cluster

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/store"
)

// candidate is one key under the election prefix.
type candidate struct {
	createRev int64
	name      string
}

// observe follows the election prefix and records who leads: the candidate
// with the lowest create revision. Unlike concurrency.Election.Observe it
// also sees "no leader", and it survives closed watches and compactions.
// While this node's etcd member is cut off from its cluster the view can
// lag; the fence, not this view, decides what a leader may do.
func (e *Election) observe(ctx context.Context) {
	cands := map[string]candidate{}
	for u := range store.Watch(ctx, e.cli, e.keys.Election()+"/", e.cfg.requestTimeout(), e.log.Named("observe")) {
		if u.Reset {
			clear(cands)
			for _, kv := range u.KVs {
				cands[string(kv.Key)] = candidate{createRev: kv.CreateRevision, name: string(kv.Value)}
			}
		}
		for _, ev := range u.Events {
			key := string(ev.Kv.Key)
			if ev.Type == clientv3.EventTypeDelete {
				delete(cands, key)
				continue
			}
			cands[key] = candidate{createRev: ev.Kv.CreateRevision, name: string(ev.Kv.Value)}
		}
		var lead candidate
		for _, c := range cands {
			if lead.createRev == 0 || c.createRev < lead.createRev {
				lead = c
			}
		}
		e.mu.Lock()
		e.observed = State{Epoch: lead.createRev, LeaderName: lead.name}
		e.mu.Unlock()
		e.publish()
	}
}
