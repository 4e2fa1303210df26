package main

import (
	"os"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
)

func TestClusterInitStoresConfigAndSealedKey(t *testing.T) {
	f := obhosttest.NewCluster(t, 2)
	keys := obhosttest.DefaultKeys(t)

	code, out, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "init", "-c", f.Config)
	if code != exitOK {
		t.Fatalf("cluster init: code %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "1 service(s) with 2 instance(s)") || !strings.Contains(out, "sealed with key-encryption key") {
		t.Errorf("stdout %q", out)
	}
	assertNoKeyMaterial(t, "cluster init output", out+errOut, f.Master)

	cc, err := obhost.ParseClusterConfig([]byte(f.Get(t, keys.Config())))
	if err != nil {
		t.Fatalf("stored config: %v", err)
	}
	if len(cc.Services) != 1 || cc.Services[0].Address != f.Master.Address() || len(cc.Services[0].Instances) != 2 ||
		cc.Services[0].Instances[0].Address != f.Backends[0] || cc.Services[0].IntroPointsPerBackend != publisher.DefaultIntroPointsPerBackend {
		t.Errorf("stored config = %+v", cc)
	}
	raw := f.Get(t, keys.Config())
	if strings.Contains(raw, "master.key") || strings.Contains(raw, f.Dir) {
		t.Errorf("stored config names a key path: %s", raw)
	}

	sealed := f.Get(t, keys.ServiceKey(f.Master.Address()))
	if !strings.HasPrefix(sealed, "obseal:v1:") {
		t.Fatalf("stored key is not sealed: %.20q", sealed)
	}
	assertNoKeyMaterial(t, "sealed value", sealed, f.Master)
	kek, err := store.LoadKEKFile(f.KEKFile)
	if err != nil {
		t.Fatalf("generator-format KEK file: %v", err)
	}
	s, _ := store.NewSealer(kek)
	opened, err := s.Open(keys.ServiceKey(f.Master.Address()), []byte(sealed))
	if err != nil {
		t.Fatal(err)
	}
	k, err := hsv3.ParseIdentityKey(opened)
	if err != nil || k.Address() != f.Master.Address() {
		t.Fatalf("opened key: %v", err)
	}

	// A second init refuses; --force replaces.
	code, _, errOut = runCLIEnv(t, obhosttest.NoEnv, "cluster", "init", "-c", f.Config)
	if code != exitError || !strings.Contains(errOut, "already has a services configuration") {
		t.Errorf("second init: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "init", "--force", "-c", f.Config); code != exitOK {
		t.Errorf("init --force: code %d, stderr %q", code, errOut)
	}
}

func TestClusterSetConfig(t *testing.T) {
	f := obhosttest.NewCluster(t, 2)
	keys := obhosttest.DefaultKeys(t)
	if code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "set-config", "-c", f.Config); code != exitError ||
		!strings.Contains(errOut, "cluster init") {
		t.Fatalf("set-config before init: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "init", "-c", f.Config); code != exitOK {
		t.Fatalf("init: %q", errOut)
	}
	sealedBefore := f.Get(t, keys.ServiceKey(f.Master.Address()))

	// Backend changes need the KEK (it authenticates the config) but do not store the key again.
	third := obhosttest.OnionAddress(t)
	f.WriteConfig(t, []string{f.Backends[1], third}, false)
	if code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "set-config", "-c", f.Config); code != exitError ||
		!strings.Contains(errOut, "no key-encryption key") {
		t.Errorf("set-config without a KEK: code %d, stderr %q", code, errOut)
	}
	f.WriteConfig(t, []string{f.Backends[1], third}, true)
	code, out, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "set-config", "-c", f.Config)
	if code != exitOK {
		t.Fatalf("set-config: code %d, stderr %q", code, errOut)
	}
	if strings.Contains(out, "master key") {
		t.Errorf("set-config stored a key again: %q", out)
	}
	cc, err := obhost.ParseClusterConfig([]byte(f.Get(t, keys.Config())))
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.Services[0].Instances; len(got) != 2 || got[0].Address != f.Backends[1] || got[1].Address != third {
		t.Errorf("instances after set-config = %+v", got)
	}
	if f.Get(t, keys.ServiceKey(f.Master.Address())) != sealedBefore {
		t.Error("set-config rewrote the stored key")
	}
}

func TestClusterInitPlaintextNeedsOptIn(t *testing.T) {
	f := obhosttest.NewCluster(t, 1)
	keys := obhosttest.DefaultKeys(t)
	f.WriteConfig(t, f.Backends, false)
	code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "init", "-c", f.Config)
	if code != exitError || !strings.Contains(errOut, "no key-encryption key") {
		t.Fatalf("init without KEK: code %d, stderr %q", code, errOut)
	}
	if v := f.Get(t, keys.Config()); v != "" {
		t.Fatalf("a refused init stored the config: %s", v)
	}
	code, out, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "init", "--allow-plaintext-keys", "-c", f.Config)
	if code != exitOK || !strings.Contains(out, "IN PLAINTEXT") {
		t.Fatalf("init --allow-plaintext-keys: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if v := f.Get(t, keys.ServiceKey(f.Master.Address())); !strings.HasPrefix(v, "obplain:v1:") {
		t.Errorf("stored key %.12q, want the plaintext header", v)
	}
}

func TestClusterInitKEKFromEnv(t *testing.T) {
	f := obhosttest.NewCluster(t, 1)
	keys := obhosttest.DefaultKeys(t)
	f.WriteConfig(t, f.Backends, false)
	kekText, err := os.ReadFile(f.KEKFile)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == obhost.EnvKEK {
			return string(kekText)
		}
		return ""
	}
	if code, _, errOut := runCLIEnv(t, getenv, "cluster", "init", "-c", f.Config); code != exitOK {
		t.Fatalf("init with $%s: %q", obhost.EnvKEK, errOut)
	}
	kek, _ := store.ParseKEK(string(kekText))
	id, err := store.SealedKEKID([]byte(f.Get(t, keys.ServiceKey(f.Master.Address()))))
	if err != nil || id != kek.ID() {
		t.Errorf("sealed with %q (%v), want %q", id, err, kek.ID())
	}
}
