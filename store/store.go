package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/store/record"
)

// ErrNotFound is returned when a key does not exist.
var ErrNotFound = errors.New("key not found")

// Store is typed access to the schema in Keys. Reads go straight to etcd.
// Writes that only the leader may do are returned as operations (the ...Op
// methods) for the caller to commit through its fence; the few writes that
// are not the leader's (operator set-up) are methods that commit directly.
type Store struct {
	kv      clientv3.KV
	keys    Keys
	sealer  *Sealer
	timeout time.Duration
}

// New returns a Store over kv (usually a *clientv3.Client). sealer seals and
// opens the service master keys; it may be nil when they are not used.
// Every request is bounded by requestTimeout.
func New(kv clientv3.KV, keys Keys, sealer *Sealer, requestTimeout time.Duration) *Store {
	return &Store{kv: kv, keys: keys, sealer: sealer, timeout: requestTimeout}
}

// Keys returns the key schema of the store.
func (s *Store) Keys() Keys { return s.keys }

// Sealer returns the sealer the store opens secrets and checks MACs with
// (nil when it has none).
func (s *Store) Sealer() *Sealer { return s.sealer }

// KV returns the etcd KV the store reads from.
func (s *Store) KV() clientv3.KV { return s.kv }

func (s *Store) get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.kv.Get(ctx, key, opts...)
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", key, err)
	}
	return resp, nil
}

// GetJSON decodes the JSON value of key into v and returns the key's
// modification revision.
func (s *Store) GetJSON(ctx context.Context, key string, v any) (modRev int64, err error) {
	resp, err := s.get(ctx, key)
	if err != nil {
		return 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return resp.Kvs[0].ModRevision, nil
}

// OpPutJSON returns an operation that stores v as JSON at key.
func OpPutJSON(key string, v any, opts ...clientv3.OpOption) (clientv3.Op, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return clientv3.OpPut(key, string(b), opts...), nil
}

// Commit applies ops in one unguarded transaction. Leader writes go through
// the cluster fence instead.
func (s *Store) Commit(ctx context.Context, ops ...clientv3.Op) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.kv.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("etcd txn: %w", err)
	}
	return nil
}

// list decodes every value under prefix with decode, in key order.
func list[T any](ctx context.Context, s *Store, prefix string) ([]T, error) {
	resp, err := s.get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Config returns the raw cluster configuration and its modification
// revision.
func (s *Store) Config(ctx context.Context) ([]byte, int64, error) {
	key := s.keys.Config()
	resp, err := s.get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// PutConfig stores the raw cluster configuration.
func (s *Store) PutConfig(ctx context.Context, config []byte) error {
	return s.Commit(ctx, clientv3.OpPut(s.keys.Config(), string(config)))
}

// Instance returns the record of instance inst of service svc.
func (s *Store) Instance(ctx context.Context, svc, inst string) (record.Instance, error) {
	var rec record.Instance
	_, err := s.GetJSON(ctx, s.keys.Instance(svc, inst), &rec)
	return rec, err
}

// Instances returns the records of every instance of service svc, ordered by
// address, each with the Key it was read from. Records that do not decode are
// left out and reported in an error wrapping record.ErrBad.
func (s *Store) Instances(ctx context.Context, svc string) ([]record.Instance, error) {
	resp, err := s.get(ctx, s.keys.Instances(svc), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	out := make([]record.Instance, 0, len(resp.Kvs))
	var bad []error
	for _, kv := range resp.Kvs {
		var rec record.Instance
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			bad = append(bad, fmt.Errorf("%w: %s: %v", record.ErrBad, kv.Key, err))
			continue
		}
		rec.Key = string(kv.Key)
		out = append(out, rec)
	}
	return out, errors.Join(bad...)
}

// PutInstanceOp returns the operation that stores rec for service svc.
func (s *Store) PutInstanceOp(svc string, rec record.Instance) (clientv3.Op, error) {
	if err := CheckName(svc); err != nil {
		return clientv3.Op{}, fmt.Errorf("instance record: service: %w", err)
	}
	if err := CheckName(rec.Address); err != nil {
		return clientv3.Op{}, fmt.Errorf("instance record of %s: address: %w", svc, err)
	}
	return OpPutJSON(s.keys.Instance(svc, rec.Address), rec)
}

// DeleteInstanceOp returns the operation that removes instance inst of
// service svc.
func (s *Store) DeleteInstanceOp(svc, inst string) clientv3.Op {
	return clientv3.OpDelete(s.keys.Instance(svc, inst))
}

// Published returns the publish record of service svc in slot.
func (s *Store) Published(ctx context.Context, svc, slot string) (record.Publish, error) {
	var rec record.Publish
	_, err := s.GetJSON(ctx, s.keys.Published(svc, slot), &rec)
	return rec, err
}

// PublishedAll returns every publish record of service svc by slot. Records
// that do not decode are left out and reported in an error wrapping
// record.ErrBad.
func (s *Store) PublishedAll(ctx context.Context, svc string) (map[string]record.Publish, error) {
	prefix := s.keys.PublishedPrefix(svc)
	resp, err := s.get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make(map[string]record.Publish, len(resp.Kvs))
	var bad []error
	for _, kv := range resp.Kvs {
		_, slot, ok := s.keys.ParsePublished(string(kv.Key))
		if !ok {
			continue
		}
		var rec record.Publish
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			bad = append(bad, fmt.Errorf("%w: %s: %v", record.ErrBad, kv.Key, err))
			continue
		}
		out[slot] = rec
	}
	return out, errors.Join(bad...)
}

// PutPublishedOp returns the operation that stores rec for service svc in
// slot.
func (s *Store) PutPublishedOp(svc, slot string, rec record.Publish) (clientv3.Op, error) {
	if err := CheckName(svc); err != nil {
		return clientv3.Op{}, fmt.Errorf("publish record: service: %w", err)
	}
	if err := CheckName(slot); err != nil {
		return clientv3.Op{}, fmt.Errorf("publish record of %s: slot: %w", svc, err)
	}
	return OpPutJSON(s.keys.Published(svc, slot), rec)
}

// DeletePublishedOp returns the operation that removes the publish record of
// service svc in slot.
func (s *Store) DeletePublishedOp(svc, slot string) clientv3.Op {
	return clientv3.OpDelete(s.keys.Published(svc, slot))
}

// RecordKeys lists, per service address, the instance and publish records
// under the prefix, from their keys alone (a record that does not decode is
// listed too). Services with only a key are not listed.
func (s *Store) RecordKeys(ctx context.Context) (map[string]record.ServiceKeys, error) {
	resp, err := s.get(ctx, s.keys.Services(), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	out := map[string]record.ServiceKeys{}
	for _, kv := range resp.Kvs {
		if svc, inst, ok := s.keys.ParseInstance(string(kv.Key)); ok {
			r := out[svc]
			r.Instances = append(r.Instances, inst)
			out[svc] = r
		} else if svc, slot, ok := s.keys.ParsePublished(string(kv.Key)); ok {
			r := out[svc]
			r.Published = append(r.Published, slot)
			out[svc] = r
		}
	}
	return out, nil
}

// DeleteRecordsOps returns the operations that remove the instance records
// of insts and the publish records of slots of service svc. The service's
// sealed key is never among them.
func (s *Store) DeleteRecordsOps(svc string, insts, slots []string) ([]clientv3.Op, error) {
	if err := CheckName(svc); err != nil {
		return nil, fmt.Errorf("deleting records: service: %w", err)
	}
	ops := make([]clientv3.Op, 0, len(insts)+len(slots))
	for _, inst := range insts {
		if err := CheckName(inst); err != nil {
			return nil, fmt.Errorf("deleting instance records of %s: %w", svc, err)
		}
		ops = append(ops, s.DeleteInstanceOp(svc, inst))
	}
	for _, slot := range slots {
		if err := CheckName(slot); err != nil {
			return nil, fmt.Errorf("deleting publish records of %s: %w", svc, err)
		}
		ops = append(ops, s.DeletePublishedOp(svc, slot))
	}
	return ops, nil
}

// Node returns the heartbeat record of node name.
func (s *Store) Node(ctx context.Context, name string) (record.Node, error) {
	var rec record.Node
	_, err := s.GetJSON(ctx, s.keys.Node(name), &rec)
	return rec, err
}

// Nodes returns the heartbeat records of every live node, ordered by name.
func (s *Store) Nodes(ctx context.Context) ([]record.Node, error) {
	return list[record.Node](ctx, s, s.keys.Nodes())
}

// PutNodeOp returns the operation that stores rec bound to lease.
func (s *Store) PutNodeOp(rec record.Node, lease clientv3.LeaseID) (clientv3.Op, error) {
	if err := CheckName(rec.Name); err != nil {
		return clientv3.Op{}, fmt.Errorf("node record: name: %w", err)
	}
	return OpPutJSON(s.keys.Node(rec.Name), rec, clientv3.WithLease(lease))
}

// ServiceKey returns the opened master key of service svc.
func (s *Store) ServiceKey(ctx context.Context, svc string) ([]byte, error) {
	if s.sealer == nil {
		return nil, errors.New("service key: store has no sealer")
	}
	key := s.keys.ServiceKey(svc)
	resp, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return s.sealer.Open(key, resp.Kvs[0].Value)
}

// ServiceKeyOp returns the operation that stores the master key of service
// svc, sealed.
func (s *Store) ServiceKeyOp(svc string, masterKey []byte) (clientv3.Op, error) {
	if s.sealer == nil {
		return clientv3.Op{}, errors.New("service key: store has no sealer")
	}
	if err := CheckName(svc); err != nil {
		return clientv3.Op{}, fmt.Errorf("service key: %w", err)
	}
	key := s.keys.ServiceKey(svc)
	sealed, err := s.sealer.Seal(key, masterKey)
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpPut(key, string(sealed)), nil
}

// PutServiceKey seals and stores the master key of service svc.
func (s *Store) PutServiceKey(ctx context.Context, svc string, masterKey []byte) error {
	op, err := s.ServiceKeyOp(svc, masterKey)
	if err != nil {
		return err
	}
	return s.Commit(ctx, op)
}
