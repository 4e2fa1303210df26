package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// TestGenerateClientAuth: --client-auth N writes N key pairs per service: the .auth files the config
// names (authorized-clients-dir) and, per client, a ClientOnionAuthDir with the matching .auth_private.
func TestGenerateClientAuth(t *testing.T) {
	out := filepath.Join(t.TempDir(), "conf")
	o := defaults(out)
	o.Services, o.ClientAuth = 2, 3
	res, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(out, "master", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	services, err := obhost.ServicesFromFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for s, sc := range services {
		addr := sc.Key.Address()
		if len(sc.AuthorizedClients) != 3 {
			t.Fatalf("service %d: %d authorized clients, want 3", s, len(sc.AuthorizedClients))
		}
		for i, c := range sc.AuthorizedClients {
			dir := filepath.Join(out, "clients", c.Name)
			path := filepath.Join(dir, addr+hsv3.AuthPrivateFileSuffix)
			gotAddr, key, err := hsv3.LoadAuthPrivateFile(path)
			if err != nil {
				t.Fatalf("service %d client %d: %v", s, i, err)
			}
			if gotAddr != addr || !key.PublicKey().Equal(c.Key) {
				t.Errorf("service %d: %s does not match the authorized key of %s", s, path, c.Name)
			}
			if m := mode(t, path); m != 0o600 {
				t.Errorf("%s: mode %o", path, m)
			}
			if m := mode(t, dir); m != 0o700 {
				t.Errorf("%s: mode %o", dir, m)
			}
		}
		if len(res.Services[s].Clients) != 3 {
			t.Errorf("result lists %d clients", len(res.Services[s].Clients))
		}
	}
	// Without --client-auth nothing changes.
	o = defaults(filepath.Join(t.TempDir(), "plain"))
	if _, err := Generate(o); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(filepath.Join(o.Output, "master", "config.yaml"))
	if strings.Contains(string(text), "authorized") {
		t.Errorf("config without --client-auth mentions authorized clients:\n%s", text)
	}
	if _, err := os.Stat(filepath.Join(o.Output, "clients")); !os.IsNotExist(err) {
		t.Errorf("clients folder without --client-auth: %v", err)
	}
}

func TestCLIClientAuth(t *testing.T) {
	out := filepath.Join(t.TempDir(), "c")
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	if code := run(context.Background(), []string{"--output", out, "-n", "1", "--client-auth", "2", "--no-interactive"}, e); code != 0 {
		t.Fatalf("code %d stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ClientOnionAuthDir") || !strings.Contains(stdout.String(), "client2") {
		t.Errorf("summary does not say how to use the client keys:\n%s", stdout.String())
	}
	if strings.Contains(stdout.String(), "descriptor:x25519:") {
		t.Error("key material printed")
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"--output", out + "x", "--client-auth", "-1", "--no-interactive"}, e); code == 0 {
		t.Error("--client-auth -1 accepted")
	}
	// Interactive: the question per service.
	out = filepath.Join(t.TempDir(), "i")
	answers := strings.Join([]string{out, "1", "", "2", "web", "4"}, "\n") + "\n"
	e.stdin = strings.NewReader(answers)
	if code := run(context.Background(), nil, e); code != 0 {
		t.Fatalf("interactive: code %d, stderr %s", code, stderr.String())
	}
	entries, err := os.ReadDir(filepath.Join(out, "clients"))
	if err != nil || len(entries) != 4 {
		t.Fatalf("interactive: %d client folders (%v), want 4", len(entries), err)
	}
}
