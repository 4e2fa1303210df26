package publisher

import (
	"context"
	"time"

	"github.com/obcluster/obcluster/store/record"
)

// Tor is the local tor as the publisher uses it. *torctl.Client implements it.
type Tor interface {
	Consensus(ctx context.Context) ([]byte, error)
	Microdescs(ctx context.Context) ([]byte, error)
	FetchDescriptor(ctx context.Context, addr string, servers []string) error
	PostDescriptor(ctx context.Context, desc []byte, addr string, servers []string) error
}

// Records are the records the cluster shares (store/record), as the publisher reads and writes them.
// Writes carry the epoch of the leadership that decided them
// and fail (wrapping the cluster's not-leader sentinel) unless this node still leads in that epoch.
type Records interface {
	Instances(ctx context.Context, svc string) ([]record.Instance, error)
	PublishedAll(ctx context.Context, svc string) (map[string]record.Publish, error)
	PutInstance(ctx context.Context, epoch int64, svc string, rec record.Instance) error
	PutPublished(ctx context.Context, epoch int64, svc, blindedHex string, rec record.Publish) error
	// RecordKeys lists the instance and publish records of every service that has any.
	RecordKeys(ctx context.Context) (map[string]record.ServiceKeys, error)
	// DeleteRecords removes the instance records of insts and the publish records of published
	// (blinded-key hex) of svc,
	// fenced like the writes.
	DeleteRecords(ctx context.Context, epoch int64, svc string, insts, published []string) error
}

// Leadership says whether this node may act as the leader. *cluster.Election implements it.
type Leadership interface {
	// IsLeader returns the current epoch and true while this node leads.
	IsLeader() (epoch int64, ok bool)
	// MayPublish returns nil when an upload may start now as leader of epoch: the leadership is still
	// there and its lease is fresh enough (self-fencing). until is the self-fencing deadline: the
	// upload's context is bounded by it, so that no HSPOST is sent after it.
	MayPublish(ctx context.Context, epoch int64) (until time.Time, err error)
}
