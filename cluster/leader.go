package cluster

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/store"
)

// Candidate is one node campaigning in the election: its name (the value of its election key) and
// the create revision of that key, which is the epoch of its leadership when it leads.
type Candidate struct {
	Name  string `json:"name"`
	Epoch int64  `json:"epoch"`
}

// Candidates lists the election's candidates, oldest (the leader) first. It is the one leader lookup:
// Election.Leader, the election's own view (observe) and the operator commands all pick the leader as
// the candidate with the lowest create revision.
func Candidates(ctx context.Context, kv clientv3.KV, keys store.Keys) ([]Candidate, error) {
	prefix := keys.Election() + "/"
	resp, err := kv.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", prefix, err)
	}
	out := []Candidate{}
	for _, item := range resp.Kvs {
		out = append(out, Candidate{Name: string(item.Value), Epoch: item.CreateRevision})
	}
	return out, nil
}

// Leader returns the current leader, or ErrNoLeader.
func Leader(ctx context.Context, kv clientv3.KV, keys store.Keys) (Candidate, error) {
	cands, err := Candidates(ctx, kv, keys)
	if err != nil {
		return Candidate{}, err
	}
	return leaderOf(cands)
}

// leaderOf returns the candidate with the lowest epoch (create revision), or ErrNoLeader.
func leaderOf(cands []Candidate) (Candidate, error) {
	var lead Candidate
	for _, c := range cands {
		if lead.Epoch == 0 || c.Epoch < lead.Epoch {
			lead = c
		}
	}
	if lead.Epoch == 0 {
		return Candidate{}, ErrNoLeader
	}
	return lead, nil
}
