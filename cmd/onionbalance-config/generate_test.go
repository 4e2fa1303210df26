package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

func defaults(out string) Options {
	return Options{Output: out, Services: 1, Instances: 3, Tag: "srv", VirtualPort: 80, Target: "127.0.0.1:8080", Random: rand.Reader}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestGenerateLayout(t *testing.T) {
	out := filepath.Join(t.TempDir(), "conf")
	res, err := Generate(defaults(out))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(out, "master", "config.yaml"))
	if err != nil {
		t.Fatalf("generated config does not load: %v", err)
	}
	if err := cfg.Validate(true); err != nil {
		t.Fatalf("generated config is invalid: %v", err)
	}
	if len(cfg.Services) != 1 || len(cfg.Services[0].Instances) != 3 {
		t.Fatalf("config services = %+v", cfg.Services)
	}
	master, err := hsv3.LoadIdentityKey(cfg.Services[0].Key)
	if err != nil {
		t.Fatalf("master key: %v", err)
	}
	if got := master.Address() + ".onion"; got != res.Services[0].Address {
		t.Errorf("master key address %s, summary says %s", got, res.Services[0].Address)
	}
	if m := mode(t, cfg.Services[0].Key); m != 0o600 {
		t.Errorf("master key mode %o, want 600", m)
	}
	for i, in := range cfg.Services[0].Instances {
		name := "srv" + string(rune('1'+i))
		if in.Name != name {
			t.Errorf("instance %d name %q, want %q", i, in.Name, name)
		}
		hs := filepath.Join(out, name, "hs")
		if m := mode(t, hs); m != 0o700 {
			t.Errorf("%s mode %o, want 700 (tor refuses others)", hs, m)
		}
		key, err := hsv3.LoadIdentityKey(filepath.Join(hs, "hs_ed25519_secret_key"))
		if err != nil {
			t.Fatal(err)
		}
		hostname, err := os.ReadFile(filepath.Join(hs, "hostname"))
		if err != nil {
			t.Fatal(err)
		}
		if string(hostname) != key.Address()+".onion\n" || in.Address != key.Address()+".onion" {
			t.Errorf("%s: hostname %q, config address %q, key address %q", name, hostname, in.Address, key.Address())
		}
		pub, err := os.ReadFile(filepath.Join(hs, "hs_ed25519_public_key"))
		if err != nil || !bytes.Equal(pub, key.MarshalTorPublicKey()) {
			t.Errorf("%s: public key file does not match the secret key (%v)", name, err)
		}
		ob, err := os.ReadFile(filepath.Join(hs, "ob_config"))
		if err != nil || string(ob) != "MasterOnionAddress "+master.Address()+".onion\n" {
			t.Errorf("%s: ob_config = %q (%v)", name, ob, err)
		}
		torrc, err := os.ReadFile(filepath.Join(out, name, "instance_torrc"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"HiddenServiceDir " + hs + "\n", "HiddenServicePort 80 127.0.0.1:8080\n", "HiddenServiceOnionBalanceInstance 1\n"} {
			if !strings.Contains(string(torrc), want) {
				t.Errorf("%s/instance_torrc lacks %q:\n%s", name, want, torrc)
			}
		}
		if key.Address() == master.Address() {
			t.Error("backend key equals the master key")
		}
	}
	if torrc, _ := os.ReadFile(filepath.Join(out, "master", "torrc-server")); !bytes.Contains(torrc, []byte("CookieAuthentication 1")) {
		t.Errorf("torrc-server = %q", torrc)
	}
	// Nothing left beside the output.
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("temporary files left beside the output: %v", entries)
	}
}

func TestGenerateRefusesToOverwrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "conf")
	first, err := Generate(defaults(out))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(defaults(out)); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second run: %v, want a refusal that mentions --force", err)
	}
	// The first layout is untouched.
	if _, err := os.Stat(first.Services[0].KeyFile); err != nil {
		t.Fatalf("first layout damaged: %v", err)
	}
	o := defaults(out)
	o.Force = true
	second, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	if second.Services[0].Address == first.Services[0].Address {
		t.Error("--force did not generate a new key")
	}
	if _, err := os.Stat(first.Services[0].KeyFile); err == nil {
		t.Error("old key file still there after --force")
	}
}

func TestGenerateImportsKey(t *testing.T) {
	dir := t.TempDir()
	k, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := k.MarshalPEM()
	for name, data := range map[string][]byte{"tor": k.MarshalTorSecretKey(), "pem": pemKey} {
		path := filepath.Join(dir, name+".key")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		o := defaults(filepath.Join(dir, "out-"+name))
		o.KeyPath = path
		res, err := Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Services[0].Address != k.Address()+".onion" {
			t.Errorf("%s import: address %s, want %s", name, res.Services[0].Address, k.Address())
		}
		copied, _ := os.ReadFile(res.Services[0].KeyFile)
		if !bytes.Equal(copied, data) {
			t.Errorf("%s import: key not copied verbatim", name)
		}
	}
	o := defaults(filepath.Join(dir, "bad"))
	o.KeyPath = filepath.Join(dir, "missing.key")
	if _, err := Generate(o); err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Errorf("missing key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); err == nil {
		t.Error("a failed run left its output folder")
	}
}

func TestGenerateClusterAndServices(t *testing.T) {
	out := filepath.Join(t.TempDir(), "conf")
	o := defaults(out)
	o.Services, o.Instances, o.Cluster = 2, 2, true
	res, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Services) != 2 || res.Services[0].Address == res.Services[1].Address {
		t.Fatalf("services = %+v", res.Services)
	}
	cfg, err := config.Load(filepath.Join(out, "master", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.KeyEncryptionKeyFile != filepath.Join(out, "master", "key-encryption-key") {
		t.Errorf("kek file = %q", cfg.Cluster.KeyEncryptionKeyFile)
	}
	if m := mode(t, cfg.Cluster.KeyEncryptionKeyFile); m != 0o600 {
		t.Errorf("kek mode %o", m)
	}
	if _, err := os.Stat(filepath.Join(out, "srv2-2", "instance_torrc")); err != nil {
		t.Errorf("backend folder of service 2: %v", err)
	}
}

func TestValidateOptions(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"-n 0":       func(o *Options) { o.Instances = 0 },
		"-n 61":      func(o *Options) { o.Instances = 61 },
		"-s 0":       func(o *Options) { o.Services = 0 },
		"key + -s":   func(o *Options) { o.Services, o.KeyPath = 2, "k" },
		"bad tag":    func(o *Options) { o.Tag = "a/b" },
		"bad port":   func(o *Options) { o.VirtualPort = 0 },
		"bad target": func(o *Options) { o.Target = "nowhere" },
	} {
		o := defaults(filepath.Join(t.TempDir(), "x"))
		mod(&o)
		if _, err := Generate(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCLIInteractive(t *testing.T) {
	out := filepath.Join(t.TempDir(), "iconf")
	answers := strings.Join([]string{out, "1", "", "zero", "4", "web", ""}, "\n") + "\n"
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(answers), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	if code := run(context.Background(), nil, e); code != 0 {
		t.Fatalf("code %d, stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "Please enter a number") {
		t.Errorf("a bad number was not asked again:\n%s", stdout.String())
	}
	for i := 1; i <= 4; i++ {
		if _, err := os.Stat(filepath.Join(out, "web"+string(rune('0'+i)), "instance_torrc")); err != nil {
			t.Errorf("backend web%d: %v", i, err)
		}
	}
	if strings.Contains(stdout.String(), "PRIVATE KEY") {
		t.Error("key material printed")
	}
}

func TestCLINonInteractive(t *testing.T) {
	out := filepath.Join(t.TempDir(), "c")
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	code := run(context.Background(), []string{"--output", out, "-n", "1", "--no-interactive"}, e)
	if code != 0 || !strings.Contains(stdout.String(), "backend node1") {
		t.Fatalf("code %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"--output", out, "--no-interactive"}, e); code != exitError || !strings.Contains(stderr.String(), "--force") {
		t.Fatalf("rerun: code %d stderr %s", code, stderr.String())
	}
}
