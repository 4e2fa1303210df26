package main

import (
	"context"
	"fmt"
	"time"

	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/store"
)

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
	return pushConfig(ctx, e, &o, obhost.PushInit, force, allowPlain)
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
	return pushConfig(ctx, e, &o, obhost.PushSet, false, allowPlain)
}

func pushConfig(ctx context.Context, e env, o *opFlags, mode obhost.PushMode, force, allowPlain bool) int {
	cmd := "cluster init"
	if mode == obhost.PushSet {
		cmd = "cluster set-config"
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cfg, err := o.load(true)
	if err != nil {
		return fail(e, cmd, err)
	}
	cc, keys, err := obhost.ClusterConfigFromFile(cfg, time.Now(), operatorName())
	if err != nil {
		return fail(e, cmd, fmt.Errorf("config %s: %w", o.configPath, err))
	}
	cli, ek, err := o.connect(ctx, cfg)
	if err != nil {
		return fail(e, cmd, err)
	}
	defer cli.Close()
	st := store.New(cli, ek, nil, cfg.Cluster.Etcd.RequestTimeout.D())
	res, err := obhost.PushClusterConfig(ctx, st, cc, keys, obhost.PushOptions{Mode: mode, Force: force,
		Cluster: cfg.Cluster, Getenv: e.getenv, AllowPlaintext: allowPlain})
	if err != nil {
		return fail(e, cmd, err)
	}
	nsvc, ninst := cc.Counts()
	fmt.Fprintf(e.stdout, "stored the configuration of %d service(s) with %d instance(s) at %s (revision %d)\n",
		nsvc, ninst, ek.Config(), res.Revision)
	switch {
	case res.SealedKeys > 0 && res.KEKID != "":
		fmt.Fprintf(e.stdout, "stored %d master key(s) sealed with key-encryption key %s\n", res.SealedKeys, res.KEKID)
	case res.SealedKeys > 0:
		fmt.Fprintf(e.stdout, "stored %d master key(s) IN PLAINTEXT (--allow-plaintext-keys)\n", res.SealedKeys)
	}
	return exitOK
}
