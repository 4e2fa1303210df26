package obhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// ErrConfigExists is returned by cluster init when the cluster already has a configuration.
var ErrConfigExists = errors.New("the cluster already has a services configuration (use --force to replace it, or cluster set-config to change it)")

// ErrConfigChanged is returned when the configuration changed in etcd while a command replaced it.
var ErrConfigChanged = errors.New("the cluster configuration changed meanwhile; run the command again")

// PushMode says what PushClusterConfig may replace.
type PushMode int

const (
	PushInit PushMode = iota // create; with force, replace and re-store every key
	PushSet                  // replace an existing configuration; store missing keys only
)

// PushOptions say how PushClusterConfig writes.
type PushOptions struct {
	Mode PushMode
	// Force lets PushInit replace an existing configuration (and re-store every key).
	Force bool
	// Cluster is the cluster section of the config file: the key-encryption key and the timeouts.
	Cluster config.Cluster
	// Getenv reads the environment ($ONIONBALANCE_KEK).
	Getenv func(string) string
	// AllowPlaintext stores master keys unsealed when there is no key-encryption key.
	AllowPlaintext bool
}

// PushResult is what PushClusterConfig wrote.
type PushResult struct {
	// Revision is the etcd revision of the write.
	Revision int64
	// SealedKeys is the number of master keys stored, sealed with KEKID ("" when stored in plaintext).
	SealedKeys int
	KEKID      string
}

// pusher writes a cluster configuration and its keys.
type pusher struct {
	st         *store.Store // without a sealer: keys are sealed by the sealer made when needed
	cluster    config.Cluster
	getenv     func(string) string
	allowPlain bool
}

// PushClusterConfig stores cc at <prefix>/config and the master keys it needs, sealed, in one
// transaction (the logic of cluster init and cluster set-config). st needs no sealer.
func PushClusterConfig(ctx context.Context, st *store.Store, cc record.ClusterConfig, keys map[string]*hsv3.IdentityKey, o PushOptions) (PushResult, error) {
	p := pusher{st: st, cluster: o.Cluster, getenv: o.Getenv, allowPlain: o.AllowPlaintext}
	return p.push(ctx, cc, keys, o.Mode, o.Force)
}

// push writes cc and the keys it needs in one transaction, guarded so that a concurrent change is
// never overwritten unnoticed: init requires that no configuration exists (unless force), set-config
// that the one it read is still there.
func (p pusher) push(ctx context.Context, cc record.ClusterConfig, keys map[string]*hsv3.IdentityKey, mode PushMode, force bool) (PushResult, error) {
	ek := p.st.Keys()
	_, rev, err := p.st.Config(ctx)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return PushResult{}, err
	}
	switch {
	case mode == PushInit && exists && !force:
		return PushResult{}, fmt.Errorf("%s: %w", ek.Config(), ErrConfigExists)
	case mode == PushSet && !exists:
		return PushResult{}, fmt.Errorf("%s: %w", ek.Config(), ErrNoClusterConfig)
	}

	// Which keys to store: all of them for init, the missing ones for set-config.
	var toStore []string
	for _, s := range cc.Services {
		if mode == PushSet {
			present, err := p.keyPresent(ctx, s.Address)
			if err != nil {
				return PushResult{}, err
			}
			if present {
				continue
			}
		}
		toStore = append(toStore, s.Address)
	}
	// The sealer seals the keys and authenticates the configuration: without a key-encryption key
	// (and without the plaintext opt-in) nothing is written.
	sealer, err := NewSealer(p.cluster, p.getenv, p.allowPlain)
	if err != nil {
		return PushResult{}, fmt.Errorf("%s is authenticated with the key-encryption key: %w", ek.Config(), err)
	}
	var res PushResult
	var ops []clientv3.Op
	if len(toStore) > 0 {
		sst := store.New(p.st.KV(), ek, sealer, p.requestTimeout())
		for _, addr := range toStore {
			secret := keys[addr].MarshalTorSecretKey()
			op, err := sst.ServiceKeyOp(addr, secret)
			clear(secret)
			if err != nil {
				return PushResult{}, err
			}
			ops = append(ops, op)
		}
		res.SealedKeys, res.KEKID = len(toStore), sealer.KEKID()
	}
	if cc, err = sealClientAuthKeys(cc, sealer, ek.Config()); err != nil {
		return PushResult{}, err
	}
	data, err := EncodeClusterConfig(cc, sealer, ek.Config())
	if err != nil {
		return PushResult{}, err
	}
	ops = append(ops, clientv3.OpPut(ek.Config(), string(data)))

	guard := clientv3.Compare(clientv3.Version(ek.Config()), "=", 0)
	if exists {
		guard = clientv3.Compare(clientv3.ModRevision(ek.Config()), "=", rev)
	}
	tctx, cancel := context.WithTimeout(ctx, p.requestTimeout())
	defer cancel()
	resp, err := p.st.KV().Txn(tctx).If(guard).Then(ops...).Commit()
	if err != nil {
		return PushResult{}, fmt.Errorf("etcd txn writing %s: %w", ek.Config(), err)
	}
	if !resp.Succeeded {
		return PushResult{}, ErrConfigChanged
	}
	res.Revision = resp.Header.GetRevision()
	return res, nil
}

func (p pusher) requestTimeout() time.Duration {
	if d := p.cluster.Etcd.RequestTimeout.D(); d > 0 {
		return d
	}
	return store.DefaultClientConfig().RequestTimeout
}

// keyPresent reports whether the master key of addr is stored, without reading it.
func (p pusher) keyPresent(ctx context.Context, addr string) (bool, error) {
	key := p.st.Keys().ServiceKey(addr)
	ctx, cancel := context.WithTimeout(ctx, p.requestTimeout())
	defer cancel()
	resp, err := p.st.KV().Get(ctx, key, clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("etcd get %s: %w", key, err)
	}
	return resp.Count > 0, nil
}
