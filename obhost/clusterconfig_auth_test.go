package obhost

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// TestClusterConfigTamperingRefused: someone with write access to etcd but without the key-encryption
// key rewrites <prefix>/config. No node may take the changed backend list, at start or live.
func TestClusterConfigTamperingRefused(t *testing.T) {
	f, cli, kek, es := initCluster(t, 2)
	keys := obhosttest.DefaultKeys(t)
	st := es.st
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	services, err := es.load(ctx)
	if err != nil {
		t.Fatalf("the config cluster init wrote does not load: %v", err)
	}
	good := f.Get(t, keys.Config())

	// The attacker's versions of the stored config.
	attacker := obhosttest.OnionAddress(t)
	tamper := func(change func(cfg map[string]any, insts []any) []any) string {
		t.Helper()
		var cfg map[string]any
		if err := json.Unmarshal([]byte(good), &cfg); err != nil {
			t.Fatal(err)
		}
		svc := cfg["services"].([]any)[0].(map[string]any)
		svc["instances"] = change(cfg, svc["instances"].([]any))
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	forgedMAC := "obmac:v1:" + kek.ID() + ":" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	attacks := map[string]string{
		"backend added": tamper(func(_ map[string]any, insts []any) []any {
			return append(insts, map[string]any{"address": attacker, "name": "evil"})
		}),
		"backend removed": tamper(func(_ map[string]any, insts []any) []any { return insts[:1] }),
		"backend replaced, MAC replaced": tamper(func(cfg map[string]any, insts []any) []any {
			cfg["mac"] = forgedMAC
			return []any{map[string]any{"address": attacker}, insts[1]}
		}),
		"backend replaced, MAC removed": tamper(func(cfg map[string]any, insts []any) []any {
			delete(cfg, "mac")
			return []any{map[string]any{"address": attacker}, insts[1]}
		}),
	}

	// At start: a node refuses the config, naming the key.
	for name, value := range attacks {
		if _, err := cli.Put(ctx, keys.Config(), value); err != nil {
			t.Fatal(err)
		}
		fresh := newEtcdServices(st, hclog.NewNullLogger(), time.Second)
		if got, err := fresh.load(ctx); err == nil {
			t.Errorf("%s: a starting node accepted the config: %d backends", name, len(got[0].Backends))
		} else if !strings.Contains(err.Error(), keys.Config()) {
			t.Errorf("%s: error does not name %s: %v", name, keys.Config(), err)
		} else if strings.Contains(name, "MAC removed") && !strings.Contains(err.Error(), "cluster set-config") {
			t.Errorf("%s: error does not tell the operator what to do: %v", name, err)
		}
	}
	if _, err := cli.Put(ctx, keys.Config(), good); err != nil {
		t.Fatal(err)
	}
	if services, err = es.load(ctx); err != nil {
		t.Fatalf("the original config, stored again: %v", err)
	}

	// Live: a running node refuses every change and keeps its backend list.
	m, errs := followConfig(t, es, cli, services)
	for name, value := range attacks {
		if _, err := cli.Put(ctx, keys.Config(), value); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if err == nil {
				t.Errorf("%s: the running node applied the config", name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the change was neither applied nor refused", name)
		}
		if got := backendAddresses(m); len(got) != 2 || got[0] != f.Backends[0] || got[1] != f.Backends[1] {
			t.Errorf("%s: backends now %v, want %v", name, got, f.Backends)
		}
	}
}

// TestClusterConfigPlaintextOptIn: without a key-encryption key there is nothing to authenticate the
// config with; it is stored and accepted unauthenticated only under the explicit opt-in, and a node
// with a KEK refuses it (as it refuses a config written by a version without MACs), saying what to do.
func TestClusterConfigPlaintextOptIn(t *testing.T) {
	f := obhosttest.NewCluster(t, 1)
	keys := obhosttest.DefaultKeys(t)
	f.WriteConfig(t, f.Backends, false)
	if err := push(t, f, PushInit, true); err != nil {
		t.Fatalf("init --allow-plaintext-keys: %v", err)
	}
	if v := f.Get(t, keys.Config()); strings.Contains(v, `"mac"`) {
		t.Fatalf("a config stored without a KEK has a MAC: %s", v)
	}
	if err := push(t, f, PushSet, false); err == nil || !strings.Contains(err.Error(), "no key-encryption key") {
		t.Errorf("set-config without KEK or opt-in: %v", err)
	}
	cli := storetest.NewClient(t, f.Endpoints...)
	ctx := context.Background()
	plain := newEtcdServices(store.New(cli, keys, store.NewPlaintextSealer(), time.Second), hclog.NewNullLogger(), time.Second)
	if _, err := plain.load(ctx); err != nil {
		t.Errorf("plaintext node: %v", err)
	}
	kek, sealer := f.Sealer(t)
	withKEK := newEtcdServices(store.New(cli, keys, sealer, time.Second), hclog.NewNullLogger(), time.Second)
	if _, err := withKEK.load(ctx); err == nil || !strings.Contains(err.Error(), "cluster set-config") {
		t.Errorf("node with a KEK loaded an unauthenticated config: %v", err)
	}
	// set-config with the KEK stores it authenticated (the master key stays in plaintext, so the node
	// still needs the opt-in to read that).
	f.WriteConfig(t, f.Backends, true)
	if err := push(t, f, PushSet, false); err != nil {
		t.Fatalf("set-config with the KEK: %v", err)
	}
	if v := f.Get(t, keys.Config()); !strings.Contains(v, `"mac": "obmac:v1:`+kek.ID()+":") {
		t.Errorf("set-config with the KEK stored no MAC: %s", v)
	}
	sealer.AllowPlaintext()
	if _, err := withKEK.load(ctx); err != nil {
		t.Errorf("after set-config with the KEK: %v", err)
	}
}
