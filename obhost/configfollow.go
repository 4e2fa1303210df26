package obhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
)

// etcdServices is the services configuration of a node whose config file has none: it is read from
// <prefix>/config, with the master keys opened from their sealed copies, and followed for changes.
type etcdServices struct {
	st      *store.Store // with the sealer of the master keys
	log     hclog.Logger
	timeout time.Duration // bounds one reconfiguration
	// rules are the health rules of this node's file, under each service's override.
	rules health.Rules

	keys map[string]*hsv3.IdentityKey // opened master keys, by address
	rev  int64                        // mod revision of the configuration applied last
}

func newEtcdServices(st *store.Store, log hclog.Logger, timeout time.Duration) *etcdServices {
	return &etcdServices{st: st, log: log, timeout: timeout, keys: map[string]*hsv3.IdentityKey{}, rules: health.DefaultRules()}
}

// load reads the configuration and the keys it names, for the start of the daemon.
func (s *etcdServices) load(ctx context.Context) ([]publisher.ServiceConfig, error) {
	data, rev, err := s.st.Config(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", s.st.Keys().Config(), ErrNoClusterConfig)
	}
	if err != nil {
		return nil, err
	}
	services, err := s.build(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("%s (revision %d): %w", s.st.Keys().Config(), rev, err)
	}
	s.rev = rev
	return services, nil
}

// build parses and authenticates a configuration and opens the master keys it needs that are not open
// yet.
func (s *etcdServices) build(ctx context.Context, data []byte) ([]publisher.ServiceConfig, error) {
	cc, err := ParseClusterConfig(data)
	if err != nil {
		return nil, err
	}
	if err := authenticateClusterConfig(cc, s.st.Sealer(), s.st.Keys().Config()); err != nil {
		return nil, err
	}
	switch {
	case cc.MAC == "":
		s.log.Warn("the cluster configuration is not authenticated; accepted only because of the plaintext opt-in",
			"key", s.st.Keys().Config())
	case s.st.Sealer().Plaintext():
		s.log.Warn("this node has no key-encryption key and cannot check the cluster configuration's MAC; accepted "+
			"because of the plaintext opt-in", "key", s.st.Keys().Config())
	}
	opened := map[string]*hsv3.IdentityKey{}
	for _, svc := range cc.Services {
		if k := s.keys[svc.Address]; k != nil {
			opened[svc.Address] = k
			continue
		}
		secret, err := s.st.ServiceKey(ctx, svc.Address)
		if err != nil {
			return nil, fmt.Errorf("master key of %s: %w", svc.Address, err)
		}
		k, err := parseServiceKey(svc.Address, secret)
		clear(secret)
		if err != nil {
			return nil, err
		}
		opened[svc.Address] = k
	}
	services, err := serviceConfigs(cc, opened, s.rules)
	if err != nil {
		return nil, err
	}
	if err := openClientAuth(services, cc, s.st.Sealer(), s.st.Keys().Config()); err != nil {
		return nil, err
	}
	s.keys = opened // keys of services that left the configuration are forgotten
	return services, nil
}

// follow watches <prefix>/config and applies every newer revision to m, live, until ctx ends. A
// configuration that cannot be applied is logged and reported through onError; the running one is
// kept. onError(nil) reports a successful change.
func (s *etcdServices) follow(ctx context.Context, w store.WatchClient, requestTimeout time.Duration,
	m *publisher.Manager, onError func(error)) {
	key := s.st.Keys().Config()
	for u := range store.Watch(ctx, w, key, requestTimeout, s.log.Named("watch")) {
		kv, deleted := keyUpdate(u, key)
		switch {
		case deleted:
			s.log.Warn("the cluster configuration was deleted from etcd; keeping the running services", "key", key)
		case kv == nil || kv.ModRevision <= s.rev:
		default:
			err := s.apply(ctx, kv.Value, kv.ModRevision, m)
			if err != nil && ctx.Err() == nil {
				s.log.Error("cluster configuration not applied; keeping the running services",
					"key", key, "revision", kv.ModRevision, "error", err)
				onError(fmt.Errorf("cluster configuration revision %d: %w", kv.ModRevision, err))
				continue
			}
			onError(nil)
		}
	}
}

func (s *etcdServices) apply(ctx context.Context, data []byte, rev int64, m *publisher.Manager) error {
	services, err := s.build(ctx, data)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := m.Reconfigure(cctx, services); err != nil {
		return err
	}
	s.rev = rev
	backends := 0
	for _, sc := range services {
		backends += len(sc.Backends)
	}
	s.log.Info("applied the cluster configuration from etcd", "revision", rev, "services", len(services), "backends", backends)
	return nil
}

// keyUpdate extracts the state of key from a watch update: its latest value, or deleted when the
// update says it is gone. Both are zero when the update does not concern key.
func keyUpdate(u store.Update, key string) (kv *mvccpb.KeyValue, deleted bool) {
	if u.Reset {
		for _, item := range u.KVs {
			if string(item.Key) == key {
				return item, false
			}
		}
		return nil, true
	}
	for _, ev := range u.Events {
		if string(ev.Kv.Key) != key {
			continue
		}
		if ev.Type == clientv3.EventTypeDelete {
			kv, deleted = nil, true
		} else {
			kv, deleted = ev.Kv, false
		}
	}
	return kv, deleted
}
