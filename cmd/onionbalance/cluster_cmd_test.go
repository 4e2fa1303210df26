package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/cmd/internal/config"
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

	cc, err := parseClusterConfig([]byte(f.get(t, keys.Config())))
	if err != nil {
		t.Fatalf("stored config: %v", err)
	}
	if len(cc.Services) != 1 || cc.Services[0].Address != f.master.Address() || len(cc.Services[0].Instances) != 2 ||
		cc.Services[0].Instances[0].Address != f.backends[0] || cc.Services[0].IntroPointsPerBackend != config.DefaultIntroPointsPerBackend {
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
	k, err := parseServiceKey(f.master.Address(), opened)
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
	cc, err := parseClusterConfig([]byte(f.get(t, keys.Config())))
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
		if k == envKEK {
			return string(kekText)
		}
		return ""
	}
	if code, _, errOut := runCLIEnv(t, getenv, "cluster", "init", "-c", f.config); code != exitOK {
		t.Fatalf("init with $%s: %q", envKEK, errOut)
	}
	kek, _ := store.ParseKEK(string(kekText))
	id, err := store.SealedKEKID([]byte(f.get(t, keys.ServiceKey(f.master.Address()))))
	if err != nil || id != kek.ID() {
		t.Errorf("sealed with %q (%v), want %q", id, err, kek.ID())
	}
}

func TestParseClusterConfigRejects(t *testing.T) {
	svc, b := newOnionAddress(t), newOnionAddress(t)
	good := clusterConfig{Version: 1, Services: []clusterService{{Address: svc, IntroPointsPerBackend: 2,
		Instances: []clusterInstance{{Address: b}}}}}
	data, err := good.encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseClusterConfig(data); err != nil {
		t.Fatalf("good config: %v", err)
	}
	mutate := func(f func(*clusterConfig)) []byte {
		var c clusterConfig
		json.Unmarshal(data, &c)
		f(&c)
		out, _ := json.Marshal(c)
		return out
	}
	for name, in := range map[string][]byte{
		"unknown field": []byte(strings.Replace(string(data), `"version"`, `"key": "x", "version"`, 1)),
		"version":       mutate(func(c *clusterConfig) { c.Version = 2 }),
		"no services":   mutate(func(c *clusterConfig) { c.Services = nil }),
		"duplicate":     mutate(func(c *clusterConfig) { c.Services = append(c.Services, c.Services[0]) }),
		"bad address":   mutate(func(c *clusterConfig) { c.Services[0].Address = "nope" }),
		"own address":   mutate(func(c *clusterConfig) { c.Services[0].Instances[0].Address = svc }),
		"no instances":  mutate(func(c *clusterConfig) { c.Services[0].Instances = nil }),
		"intro points":  mutate(func(c *clusterConfig) { c.Services[0].IntroPointsPerBackend = 21 }),
		"not json":      []byte("services: []"),
	} {
		if _, err := parseClusterConfig(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNewSealerSources(t *testing.T) {
	dir := t.TempDir()
	kekFile := filepath.Join(dir, "kek")
	k, _ := store.GenerateKEK()
	if err := store.WriteKEKFile(kekFile, k); err != nil {
		t.Fatal(err)
	}
	if _, err := newSealer(config.Cluster{}, noEnv, false); err == nil {
		t.Error("no KEK and no opt-in: accepted")
	}
	s, err := newSealer(config.Cluster{KeyEncryptionKeyFile: kekFile}, noEnv, false)
	if err != nil || s.KEKID() != k.ID() {
		t.Errorf("file: %v, id %q", err, s.KEKID())
	}
	s, err = newSealer(config.Cluster{}, noEnv, true)
	if err != nil || !s.Plaintext() {
		t.Errorf("opt-in: %v", err)
	}
	// With a KEK, the opt-in only lets existing plaintext keys be read.
	s, err = newSealer(config.Cluster{KeyEncryptionKeyFile: kekFile, AllowPlaintextKeys: true}, noEnv, false)
	if err != nil || s.Plaintext() {
		t.Fatalf("KEK with opt-in: %v", err)
	}
	secret, err := s.Open("/k", []byte("obplain:v1:aGk="))
	if err != nil || string(secret) != "hi" {
		t.Errorf("open plaintext: %q %v", secret, err)
	}
	if err := os.Chmod(kekFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newSealer(config.Cluster{KeyEncryptionKeyFile: kekFile}, noEnv, false); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Errorf("world-readable KEK file: %v", err)
	}
	bad := func(string) string { return "short" }
	if _, err := newSealer(config.Cluster{}, bad, false); err == nil || !strings.Contains(err.Error(), envKEK) {
		t.Errorf("bad $%s: %v", envKEK, err)
	}
}
