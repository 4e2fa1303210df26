package obhost

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// fencedRecords is the publisher's Records on top of the store: the one path of the leader's writes.
// Reads go straight to the store; every write is built as store operations and committed by fenced,
// in a transaction that the election guards (Election.Write -> Fence.Txn): it fails, and the node
// steps down, unless the leadership of the given epoch still holds.
type fencedRecords struct {
	st      *store.Store
	el      *cluster.Election
	latency *prometheus.HistogramVec
}

// fenced commits ops for the leadership of epoch, in batches that stay well below etcd's limit of
// operations per transaction (128).
func (s *fencedRecords) fenced(ctx context.Context, epoch int64, ops ...clientv3.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), maxFencedOps)
		if err := s.el.Write(ctx, epoch, ops[:n]...); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// maxFencedOps is the most operations fenced puts in one transaction.
const maxFencedOps = 100

func (s *fencedRecords) observe(op string, start time.Time) {
	s.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *fencedRecords) Instances(ctx context.Context, svc string) ([]record.Instance, error) {
	defer s.observe("get_instances", time.Now())
	return s.st.Instances(ctx, svc)
}

func (s *fencedRecords) PublishedAll(ctx context.Context, svc string) (map[string]record.Publish, error) {
	defer s.observe("get_published", time.Now())
	return s.st.PublishedAll(ctx, svc)
}

func (s *fencedRecords) PutInstance(ctx context.Context, epoch int64, svc string, rec record.Instance) error {
	defer s.observe("put_instance", time.Now())
	op, err := s.st.PutInstanceOp(svc, rec)
	if err != nil {
		return err
	}
	return s.fenced(ctx, epoch, op)
}

func (s *fencedRecords) PutPublished(ctx context.Context, epoch int64, svc, blindedHex string, rec record.Publish) error {
	defer s.observe("put_published", time.Now())
	op, err := s.st.PutPublishedOp(svc, blindedHex, rec)
	if err != nil {
		return err
	}
	return s.fenced(ctx, epoch, op)
}

func (s *fencedRecords) RecordKeys(ctx context.Context) (map[string]record.ServiceKeys, error) {
	defer s.observe("get_record_keys", time.Now())
	return s.st.RecordKeys(ctx)
}

func (s *fencedRecords) DeleteRecords(ctx context.Context, epoch int64, svc string, insts, published []string) error {
	defer s.observe("delete_records", time.Now())
	ops, err := s.st.DeleteRecordsOps(svc, insts, published)
	if err != nil {
		return err
	}
	return s.fenced(ctx, epoch, ops...)
}

// PutBackendHealths writes the leader's changed health verdicts, fenced by epoch.
func (s *fencedRecords) PutBackendHealths(ctx context.Context, epoch int64, recs []record.BackendHealth) error {
	defer s.observe("put_backend_health", time.Now())
	ops := make([]clientv3.Op, 0, len(recs))
	for _, r := range recs {
		op, err := s.st.PutBackendHealthOp(r)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	return s.fenced(ctx, epoch, ops...)
}

// DeleteBackendHealths deletes the verdicts on backends no longer balanced, fenced by epoch.
func (s *fencedRecords) DeleteBackendHealths(ctx context.Context, epoch int64, addrs []string) error {
	defer s.observe("delete_backend_health", time.Now())
	ops := make([]clientv3.Op, 0, len(addrs))
	for _, a := range addrs {
		op, err := s.st.DeleteBackendHealthOp(a)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	return s.fenced(ctx, epoch, ops...)
}
