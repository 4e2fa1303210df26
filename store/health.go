package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/store/record"
)

// PutProbeReportOp returns the operation that stores a node's probe report
// bound to lease.
func (s *Store) PutProbeReportOp(rec record.ProbeReport, lease clientv3.LeaseID) (clientv3.Op, error) {
	if err := CheckName(rec.Node); err != nil {
		return clientv3.Op{}, fmt.Errorf("probe report: node: %w", err)
	}
	return OpPutJSON(s.keys.ProbeReport(rec.Node), rec, clientv3.WithLease(lease))
}

// PutProbeReport stores a node's probe report bound to lease. It is the
// node's own record, not a leader write, so it is not fenced.
func (s *Store) PutProbeReport(ctx context.Context, rec record.ProbeReport, lease clientv3.LeaseID) error {
	op, err := s.PutProbeReportOp(rec, lease)
	if err != nil {
		return err
	}
	return s.Commit(ctx, op)
}

// ProbeReports returns the probe reports of every node that has one, ordered
// by node name.
func (s *Store) ProbeReports(ctx context.Context) ([]record.ProbeReport, error) {
	return list[record.ProbeReport](ctx, s, s.keys.ProbeReports())
}

// BackendHealths returns the leader's health verdicts by backend address.
// Records that do not decode are left out and reported in an error wrapping
// record.ErrBad.
func (s *Store) BackendHealths(ctx context.Context) (map[string]record.BackendHealth, error) {
	prefix := s.keys.BackendHealths()
	resp, err := s.get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make(map[string]record.BackendHealth, len(resp.Kvs))
	var bad []error
	for _, kv := range resp.Kvs {
		var rec record.BackendHealth
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			bad = append(bad, fmt.Errorf("%w: %s: %v", record.ErrBad, kv.Key, err))
			continue
		}
		out[string(kv.Key[len(prefix):])] = rec
	}
	return out, errors.Join(bad...)
}

// PutBackendHealthOp returns the operation that stores the leader's verdict
// rec (for the caller to commit through its fence).
func (s *Store) PutBackendHealthOp(rec record.BackendHealth) (clientv3.Op, error) {
	if err := CheckName(rec.Address); err != nil {
		return clientv3.Op{}, fmt.Errorf("health verdict: address: %w", err)
	}
	return OpPutJSON(s.keys.BackendHealth(rec.Address), rec)
}

// DeleteBackendHealthOp returns the operation that deletes the verdict on the backend addr (for the
// caller to commit through its fence).
func (s *Store) DeleteBackendHealthOp(addr string) (clientv3.Op, error) {
	if err := CheckName(addr); err != nil {
		return clientv3.Op{}, fmt.Errorf("health verdict: address: %w", err)
	}
	return clientv3.OpDelete(s.keys.BackendHealth(addr)), nil
}
