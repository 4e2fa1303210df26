package main

import (
	"os"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
)

func noEnv(string) string { return "" }

func TestClusterInitStoresConfigAndSealedKey(t *testing.T) {
	f := newClusterFixture(t, 2)
	keys := defaultKeys(t)

	code, out, errOut := runCLIEnv(t, noEnv, "cluster", "init", "-c", f.config)
	if code != exitOK {
		t.Fatalf("cluster init: code %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "1 service(s) with 2 instance(s)") || !strings.Contains(out, "sealed with key-encryption key") {
		t.Errorf("stdout %q", out)
	}
	assertNoKeyMaterial(t, "cluster init output", out+errOut, f.master)

	cc, err := obhost.ParseClusterConfig([]byte(f.get(t, keys.Config())))
	if err != nil {
		t.Fatalf("stored config: %v", err)
	}
	if len(cc.Services) != 1 || cc.Services[0].Address != f.master.Address() || len(cc.Services[0].Instances) != 2 ||
		cc.Services[0].Instances[0].Address != f.backends[0] || cc.Services[0].IntroPointsPerBackend != publisher.DefaultIntroPointsPerBackend {
		t.Errorf("stored config = %+v", cc)
	}
	raw := f.get(t, keys.Config())
	if strings.Contains(raw, "master.key") || strings.Contains(raw, f.dir) {
		t.Errorf("stored config names a key path: %s", raw)
	}

	sealed := f.get(t, keys.ServiceKey(f.master.Address()))
	if !strings.HasPrefix(sealed, "obseal:v1:") {
		t.Fatalf("stored key is not sealed: %.20q", sealed)
	}
	assertNoKeyMaterial(t, "sealed value", sealed, f.master)
	kek, err := store.LoadKEKFile(f.kekFile)
	if err != nil {
		t.Fatalf("generator-format KEK file: %v", err)
	}
	s, _ := store.NewSealer(kek)
	opened, err := s.Open(keys.ServiceKey(f.master.Address()), []byte(sealed))
	if err != nil {
		t.Fatal(err)
	}
	k, err := hsv3.ParseIdentityKey(opened)
	if err != nil || k.Address() != f.master.Address() {
		t.Fatalf("opened key: %v", err)
	}

	// A second init refuses; --force replaces.
	code, _, errOut = runCLIEnv(t, noEnv, "cluster", "init", "-c", f.config)
	if code != exitError || !strings.Contains(errOut, "already has a services configuration") {
		t.Errorf("second init: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLIEnv(t, noEnv, "cluster", "init", "--force", "-c", f.config); code != exitOK {
		t.Errorf("init --force: code %d, stderr %q", code, errOut)
	}
}

func TestClusterSetConfig(t *testing.T) {
	f := newClusterFixture(t, 2)
	keys := defaultKeys(t)
	if code, _, errOut := runCLIEnv(t, noEnv, "cluster", "set-config", "-c", f.config); code != exitError ||
		!strings.Contains(errOut, "cluster init") {
		t.Fatalf("set-config before init: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLIEnv(t, noEnv, "cluster", "init", "-c", f.config); code != exitOK {
		t.Fatalf("init: %q", errOut)
	}
	sealedBefore := f.get(t, keys.ServiceKey(f.master.Address()))

	// Backend changes need the KEK (it authenticates the config) but do not store the key again.
	third := newOnionAddress(t)
	f.writeConfig(t, []string{f.backends[1], third}, false)
	if code, _, errOut := runCLIEnv(t, noEnv, "cluster", "set-config", "-c", f.config); code != exitError ||
		!strings.Contains(errOut, "no key-encryption key") {
		t.Errorf("set-config without a KEK: code %d, stderr %q", code, errOut)
	}
	f.writeConfig(t, []string{f.backends[1], third}, true)
	code, out, errOut := runCLIEnv(t, noEnv, "cluster", "set-config", "-c", f.config)
	if code != exitOK {
		t.Fatalf("set-config: code %d, stderr %q", code, errOut)
	}
	if strings.Contains(out, "master key") {
		t.Errorf("set-config stored a key again: %q", out)
	}
	cc, err := obhost.ParseClusterConfig([]byte(f.get(t, keys.Config())))
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.Services[0].Instances; len(got) != 2 || got[0].Address != f.backends[1] || got[1].Address != third {
		t.Errorf("instances after set-config = %+v", got)
	}
	if f.get(t, keys.ServiceKey(f.master.Address())) != sealedBefore {
		t.Error("set-config rewrote the stored key")
	}
}

func TestClusterInitPlaintextNeedsOptIn(t *testing.T) {
	f := newClusterFixture(t, 1)
	keys := defaultKeys(t)
	f.writeConfig(t, f.backends, false)
	code, _, errOut := runCLIEnv(t, noEnv, "cluster", "init", "-c", f.config)
	if code != exitError || !strings.Contains(errOut, "no key-encryption key") {
		t.Fatalf("init without KEK: code %d, stderr %q", code, errOut)
	}
	if v := f.get(t, keys.Config()); v != "" {
		t.Fatalf("a refused init stored the config: %s", v)
	}
	code, out, errOut := runCLIEnv(t, noEnv, "cluster", "init", "--allow-plaintext-keys", "-c", f.config)
	if code != exitOK || !strings.Contains(out, "IN PLAINTEXT") {
		t.Fatalf("init --allow-plaintext-keys: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if v := f.get(t, keys.ServiceKey(f.master.Address())); !strings.HasPrefix(v, "obplain:v1:") {
		t.Errorf("stored key %.12q, want the plaintext header", v)
	}
}

func TestClusterInitKEKFromEnv(t *testing.T) {
	f := newClusterFixture(t, 1)
	keys := defaultKeys(t)
	f.writeConfig(t, f.backends, false)
	kekText, err := os.ReadFile(f.kekFile)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == obhost.EnvKEK {
			return string(kekText)
		}
		return ""
	}
	if code, _, errOut := runCLIEnv(t, getenv, "cluster", "init", "-c", f.config); code != exitOK {
		t.Fatalf("init with $%s: %q", obhost.EnvKEK, errOut)
	}
	kek, _ := store.ParseKEK(string(kekText))
	id, err := store.SealedKEKID([]byte(f.get(t, keys.ServiceKey(f.master.Address()))))
	if err != nil || id != kek.ID() {
		t.Errorf("sealed with %q (%v), want %q", id, err, kek.ID())
	}
}
