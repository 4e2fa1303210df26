package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cmd/internal/config"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
)

// errConfigExists is returned by cluster init when the cluster already has a configuration.
var errConfigExists = errors.New("the cluster already has a services configuration (use --force to replace it, or cluster set-config to change it)")

// errConfigChanged is returned when the configuration changed in etcd while a command replaced it.
var errConfigChanged = errors.New("the cluster configuration changed meanwhile; run the command again")

// runClusterInit stores the services configuration of a config file and the sealed master keys in
// etcd, for nodes whose own config file has no services.
func runClusterInit(ctx context.Context, args []string, e env) int {
	var o opFlags
	var force, allowPlain bool
	fs := newFlagSet("onionbalance cluster init", e,
		"onionbalance cluster init -c config.yaml [--force] [--etcd-endpoints URL,...] [--allow-plaintext-keys]")
	o.register(fs, e.getenv)
	fs.BoolVar(&force, "force", false, "replace an existing configuration and re-store every master key")
	fs.BoolVar(&allowPlain, "allow-plaintext-keys", false, "store master keys unencrypted when no key-encryption key is given (not recommended)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	return pushConfig(ctx, e, &o, pushInit, force, allowPlain)
}

// runClusterSetConfig replaces the services configuration in etcd; running nodes apply it live. Master
// keys of services new to the cluster are sealed and stored too.
func runClusterSetConfig(ctx context.Context, args []string, e env) int {
	var o opFlags
	var allowPlain bool
	fs := newFlagSet("onionbalance cluster set-config", e,
		"onionbalance cluster set-config -c config.yaml [--etcd-endpoints URL,...]")
	o.register(fs, e.getenv)
	fs.BoolVar(&allowPlain, "allow-plaintext-keys", false, "store new master keys unencrypted when no key-encryption key is given (not recommended)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	return pushConfig(ctx, e, &o, pushSet, false, allowPlain)
}

type pushMode int

const (
	pushInit pushMode = iota // create; with force, replace and re-store every key
	pushSet                  // replace an existing configuration; store missing keys only
)

func pushConfig(ctx context.Context, e env, o *opFlags, mode pushMode, force, allowPlain bool) int {
	cmd := "cluster init"
	if mode == pushSet {
		cmd = "cluster set-config"
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cfg, err := o.load(true)
	if err != nil {
		return fail(e, cmd, err)
	}
	cc, keys, err := clusterConfigFromFile(cfg, time.Now(), operatorName())
	if err != nil {
		return fail(e, cmd, fmt.Errorf("config %s: %w", o.configPath, err))
	}
	cli, ek, err := o.connect(ctx, cfg)
	if err != nil {
		return fail(e, cmd, err)
	}
	defer cli.Close()
	p := pusher{st: store.New(cli, ek, nil, cfg.Cluster.Etcd.RequestTimeout.D()), cluster: cfg.Cluster, getenv: e.getenv, allowPlain: allowPlain}
	res, err := p.push(ctx, cc, keys, mode, force)
	if err != nil {
		return fail(e, cmd, err)
	}
	nsvc, ninst := cc.counts()
	fmt.Fprintf(e.stdout, "stored the configuration of %d service(s) with %d instance(s) at %s (revision %d)\n",
		nsvc, ninst, ek.Config(), res.revision)
	switch {
	case res.sealedKeys > 0 && res.kekID != "":
		fmt.Fprintf(e.stdout, "stored %d master key(s) sealed with key-encryption key %s\n", res.sealedKeys, res.kekID)
	case res.sealedKeys > 0:
		fmt.Fprintf(e.stdout, "stored %d master key(s) IN PLAINTEXT (--allow-plaintext-keys)\n", res.sealedKeys)
	}
	return exitOK
}

// pusher writes a cluster configuration and its keys.
type pusher struct {
	st         *store.Store // without a sealer: keys are sealed by the sealer made when needed
	cluster    config.Cluster
	getenv     func(string) string
	allowPlain bool
}

type pushResult struct {
	revision   int64
	sealedKeys int
	kekID      string
}

// push writes cc and the keys it needs in one transaction, guarded so that a concurrent change is
// never overwritten unnoticed: init requires that no configuration exists (unless force), set-config
// that the one it read is still there.
func (p pusher) push(ctx context.Context, cc clusterConfig, keys map[string]*hsv3.IdentityKey, mode pushMode, force bool) (pushResult, error) {
	ek := p.st.Keys()
	_, rev, err := p.st.Config(ctx)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return pushResult{}, err
	}
	switch {
	case mode == pushInit && exists && !force:
		return pushResult{}, fmt.Errorf("%s: %w", ek.Config(), errConfigExists)
	case mode == pushSet && !exists:
		return pushResult{}, fmt.Errorf("%s: %w", ek.Config(), errNoClusterConfig)
	}

	// Which keys to store: all of them for init, the missing ones for set-config.
	var toStore []string
	for _, s := range cc.Services {
		if mode == pushSet {
			present, err := p.keyPresent(ctx, s.Address)
			if err != nil {
				return pushResult{}, err
			}
			if present {
				continue
			}
		}
		toStore = append(toStore, s.Address)
	}
	// The sealer seals the keys and authenticates the configuration: without a key-encryption key
	// (and without the plaintext opt-in) nothing is written.
	sealer, err := newSealer(p.cluster, p.getenv, p.allowPlain)
	if err != nil {
		return pushResult{}, fmt.Errorf("%s is authenticated with the key-encryption key: %w", ek.Config(), err)
	}
	var res pushResult
	var ops []clientv3.Op
	if len(toStore) > 0 {
		sst := store.New(p.st.KV(), ek, sealer, p.requestTimeout())
		for _, addr := range toStore {
			secret := keys[addr].MarshalTorSecretKey()
			op, err := sst.ServiceKeyOp(addr, secret)
			clear(secret)
			if err != nil {
				return pushResult{}, err
			}
			ops = append(ops, op)
		}
		res.sealedKeys, res.kekID = len(toStore), sealer.KEKID()
	}
	data, err := cc.encodeAuthenticated(sealer, ek.Config())
	if err != nil {
		return pushResult{}, err
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
		return pushResult{}, fmt.Errorf("etcd txn writing %s: %w", ek.Config(), err)
	}
	if !resp.Succeeded {
		return pushResult{}, errConfigChanged
	}
	res.revision = resp.Header.GetRevision()
	return res, nil
}

func (p pusher) requestTimeout() time.Duration {
	if d := p.cluster.Etcd.RequestTimeout.D(); d > 0 {
		return d
	}
	return config.DefaultRequestTimeout
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
