package obhost

import (
	"crypto/ecdh"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// clientAuthFixture writes a master key, a private backend's .auth_private and two .auth files, and
// returns the folder and what it wrote.
type clientAuthFixture struct {
	dir              string
	master, back     *hsv3.IdentityKey
	public           *hsv3.IdentityKey
	alice, bob, carl *ecdh.PrivateKey
	backKey          *ecdh.PrivateKey
}

func newClientAuthFixture(t *testing.T) *clientAuthFixture {
	t.Helper()
	f := &clientAuthFixture{dir: t.TempDir()}
	var err error
	for _, k := range []**hsv3.IdentityKey{&f.master, &f.back, &f.public} {
		if *k, err = hsv3.GenerateIdentityKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []**ecdh.PrivateKey{&f.alice, &f.bob, &f.carl, &f.backKey} {
		if *k, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, data []byte) {
		t.Helper()
		path := filepath.Join(f.dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("master.key", f.master.MarshalTorSecretKey())
	write("clients/alice.auth", hsv3.MarshalAuthorizedClient(f.alice.PublicKey()))
	write("clients/bob.auth", hsv3.MarshalAuthorizedClient(f.bob.PublicKey()))
	write("back.auth_private", hsv3.MarshalAuthPrivate(f.back.Address(), f.backKey))
	return f
}

func (f *clientAuthFixture) config(t *testing.T, extra string) *config.Config {
	t.Helper()
	text := "services:\n- key: master.key\n  authorized-clients-dir: clients\n" + extra +
		"  instances:\n  - address: " + f.back.Address() + ".onion\n    auth-private-file: back.auth_private\n" +
		"  - address: " + f.public.Address() + "\n"
	path := filepath.Join(f.dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestServicesFromFileClientAuth(t *testing.T) {
	f := newClientAuthFixture(t)
	cfg := f.config(t, "  authorized-clients:\n  - descriptor:x25519:"+hsv3.EncodeX25519(f.carl.PublicKey().Bytes())+"\n")
	services, err := ServicesFromFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc := services[0]
	if len(sc.AuthorizedClients) != 3 {
		t.Fatalf("%d authorized clients, want 3 (2 files + 1 listed)", len(sc.AuthorizedClients))
	}
	names := []string{}
	for _, c := range sc.AuthorizedClients {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "alice,bob,authorized-clients[0]" {
		t.Errorf("client names %s", got)
	}
	if !sc.AuthorizedClients[2].Key.Equal(f.carl.PublicKey()) {
		t.Error("listed client key differs")
	}
	if k := sc.Backends[0].ClientKey; k == nil || !k.Equal(f.backKey) {
		t.Error("the private backend's client key was not loaded")
	}
	if sc.Backends[1].ClientKey != nil {
		t.Error("the public backend has a client key")
	}
}

func TestServicesFromFileClientAuthErrors(t *testing.T) {
	f := newClientAuthFixture(t)
	// The same key listed and in the folder.
	dup := "  authorized-clients:\n  - descriptor:x25519:" + hsv3.EncodeX25519(f.alice.PublicKey().Bytes()) + "\n"
	if _, err := ServicesFromFile(f.config(t, dup)); err == nil || !strings.Contains(err.Error(), "services[0].authorized-clients[0]") {
		t.Errorf("duplicate client: err = %v", err)
	}
	bad := "  authorized-clients:\n  - descriptor:x25519:AAAA\n"
	if _, err := ServicesFromFile(f.config(t, bad)); err == nil || !strings.Contains(err.Error(), "services[0].authorized-clients[0]") {
		t.Errorf("bad listed client: err = %v", err)
	}
	// A .auth file that does not parse: the error names the file and line.
	if err := os.WriteFile(filepath.Join(f.dir, "clients", "eve.auth"), []byte("descriptor:x25519:xyz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ServicesFromFile(f.config(t, ""))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(f.dir, "clients", "eve.auth")+": line 1") {
		t.Errorf("bad .auth file: err = %v", err)
	}
	os.Remove(filepath.Join(f.dir, "clients", "eve.auth"))
	// An .auth_private for another address.
	if err := os.WriteFile(filepath.Join(f.dir, "back.auth_private"), hsv3.MarshalAuthPrivate(f.public.Address(), f.backKey), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ServicesFromFile(f.config(t, ""))
	if err == nil || !strings.Contains(err.Error(), "services[0].instances[0].auth-private-file") || !strings.Contains(err.Error(), "back.auth_private") {
		t.Errorf(".auth_private of another address: err = %v", err)
	}
}
