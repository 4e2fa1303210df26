package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrConcurrentUpdate is returned by Reseal when a key changed between being
// read and being rewritten. Running Reseal again finishes the job.
var ErrConcurrentUpdate = errors.New("key changed concurrently")

// Reseal rewrites every sealed or plaintext secret under prefix that is not
// already sealed the way s seals (with its current KEK, or in plaintext for
// a plaintext sealer). s must be able to open the old values: build it with
// NewSealer(newKEK, oldKEKs...), and call AllowPlaintext to migrate
// plaintext secrets. Values that are not secrets (the JSON records) are left
// alone. Each key is rewritten only if it has not changed since it was read.
// Reseal returns how many keys it rewrote; it is safe to run again.
func (s *Sealer) Reseal(ctx context.Context, kv clientv3.KV, prefix string, requestTimeout time.Duration) (int, error) {
	gctx, cancel := context.WithTimeout(ctx, requestTimeout)
	resp, err := kv.Get(gctx, prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return 0, fmt.Errorf("reseal: list %s: %w", prefix, err)
	}
	n := 0
	for _, item := range resp.Kvs {
		key := string(item.Key)
		id, err := SealedKEKID(item.Value)
		if errors.Is(err, ErrNotSealed) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("reseal %s: %w", key, err)
		}
		if id == s.KEKID() {
			continue
		}
		secret, err := s.Open(key, item.Value)
		if err != nil {
			return n, fmt.Errorf("reseal: %w", err)
		}
		sealed, err := s.Seal(key, secret)
		if err != nil {
			return n, fmt.Errorf("reseal: %w", err)
		}
		tctx, cancel := context.WithTimeout(ctx, requestTimeout)
		tresp, err := kv.Txn(tctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", item.ModRevision)).
			Then(clientv3.OpPut(key, string(sealed))).
			Commit()
		cancel()
		if err != nil {
			return n, fmt.Errorf("reseal %s: %w", key, err)
		}
		if !tresp.Succeeded {
			return n, fmt.Errorf("reseal %s: %w", key, ErrConcurrentUpdate)
		}
		n++
	}
	return n, nil
}
