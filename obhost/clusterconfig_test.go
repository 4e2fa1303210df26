package obhost

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

func TestParseClusterConfigRejects(t *testing.T) {
	svc, b := obhosttest.OnionAddress(t), obhosttest.OnionAddress(t)
	good := record.ClusterConfig{Version: 1, Services: []record.ClusterService{{Address: svc, IntroPointsPerBackend: 2,
		Instances: []record.ClusterInstance{{Address: b}}}}}
	data, err := good.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseClusterConfig(data); err != nil {
		t.Fatalf("good config: %v", err)
	}
	mutate := func(f func(*record.ClusterConfig)) []byte {
		var c record.ClusterConfig
		json.Unmarshal(data, &c)
		f(&c)
		out, _ := json.Marshal(c)
		return out
	}
	for name, in := range map[string][]byte{
		"unknown field": []byte(strings.Replace(string(data), `"version"`, `"key": "x", "version"`, 1)),
		"version":       mutate(func(c *record.ClusterConfig) { c.Version = 2 }),
		"no services":   mutate(func(c *record.ClusterConfig) { c.Services = nil }),
		"duplicate":     mutate(func(c *record.ClusterConfig) { c.Services = append(c.Services, c.Services[0]) }),
		"bad address":   mutate(func(c *record.ClusterConfig) { c.Services[0].Address = "nope" }),
		"own address":   mutate(func(c *record.ClusterConfig) { c.Services[0].Instances[0].Address = svc }),
		// The same address written otherwise is still the service's own.
		"own address with .onion": mutate(func(c *record.ClusterConfig) { c.Services[0].Instances[0].Address = svc + ".onion" }),
		"own address upper case":  mutate(func(c *record.ClusterConfig) { c.Services[0].Instances[0].Address = strings.ToUpper(svc) }),
		"no instances":            mutate(func(c *record.ClusterConfig) { c.Services[0].Instances = nil }),
		"intro points":            mutate(func(c *record.ClusterConfig) { c.Services[0].IntroPointsPerBackend = 21 }),
		"not json":                []byte("services: []"),
	} {
		if _, err := ParseClusterConfig(in); err == nil {
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
	if _, err := NewSealer(config.Cluster{}, obhosttest.NoEnv, false); err == nil {
		t.Error("no KEK and no opt-in: accepted")
	}
	s, err := NewSealer(config.Cluster{KeyEncryptionKeyFile: kekFile}, obhosttest.NoEnv, false)
	if err != nil || s.KEKID() != k.ID() {
		t.Errorf("file: %v, id %q", err, s.KEKID())
	}
	s, err = NewSealer(config.Cluster{}, obhosttest.NoEnv, true)
	if err != nil || !s.Plaintext() {
		t.Errorf("opt-in: %v", err)
	}
	// With a KEK, the opt-in only lets existing plaintext keys be read.
	s, err = NewSealer(config.Cluster{KeyEncryptionKeyFile: kekFile, AllowPlaintextKeys: true}, obhosttest.NoEnv, false)
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
	if _, err := NewSealer(config.Cluster{KeyEncryptionKeyFile: kekFile}, obhosttest.NoEnv, false); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Errorf("world-readable KEK file: %v", err)
	}
	bad := func(string) string { return "short" }
	if _, err := NewSealer(config.Cluster{}, bad, false); err == nil || !strings.Contains(err.Error(), EnvKEK) {
		t.Errorf("bad $%s: %v", EnvKEK, err)
	}
}
