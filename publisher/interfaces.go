package publisher

import (
	"context"

	"github.com/obcluster/obcluster/store"
)

// Tor is the local tor as the publisher uses it. *torctl.Client implements it.
type Tor interface {
	Consensus(ctx context.Context) ([]byte, error)
	Microdescs(ctx context.Context) ([]byte, error)
	FetchDescriptor(ctx context.Context, addr string, servers []string) error
	PostDescriptor(ctx context.Context, desc []byte, addr string, servers []string) error
}

// State is the state shared by the cluster. Writes fail (with an error wrapping the cluster's not-leader
// sentinel) when this node no longer leads.
type State interface {
	Instances(ctx context.Context, svc string) ([]store.InstanceRecord, error)
	PublishedAll(ctx context.Context, svc string) (map[string]store.PublishRecord, error)
	PutInstance(ctx context.Context, svc string, rec store.InstanceRecord) error
	PutPublished(ctx context.Context, svc, slot string, rec store.PublishRecord) error
}

// Leadership says whether this node may act as the leader.
type Leadership interface {
	// Leading returns the current epoch and true while this node leads.
	Leading() (epoch int64, ok bool)
	// MayPublish returns nil when an upload may start now: still leader, lease fresh (self-fencing).
	MayPublish(ctx context.Context) error
}
