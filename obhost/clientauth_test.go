package obhost

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
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

// writeClientAuthClusterConfig rewrites f's config.yaml for one service with the authorized clients
// of folder clients and backend 0 private (its .auth_private written with key).
func writeClientAuthClusterConfig(t *testing.T, f *obhosttest.Cluster, key *ecdh.PrivateKey) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.Dir, "b1.auth_private"), hsv3.MarshalAuthPrivate(f.Backends[0], key), 0o600); err != nil {
		t.Fatal(err)
	}
	text := "services:\n  - key: master.key\n    authorized-clients-dir: clients\n    instances:\n" +
		"      - address: " + f.Backends[0] + ".onion\n        auth-private-file: b1.auth_private\n" +
		"      - address: " + f.Backends[1] + ".onion\n" +
		"cluster:\n  node-name: op\n  key-encryption-key-file: key-encryption-key\n  etcd:\n    endpoints: [" + strings.Join(f.Endpoints, ", ") + "]\n"
	if err := os.WriteFile(f.Config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeAuthFile(t *testing.T, dir, name string, k *ecdh.PrivateKey) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".auth"), hsv3.MarshalAuthorizedClient(k.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestClusterConfigClientAuth: cluster init stores the authorized clients' public keys in the
// configuration and the private backend's client key sealed, never in plaintext; a node opens it;
// set-config changes the client list live.
func TestClusterConfigClientAuth(t *testing.T) {
	f := obhosttest.NewCluster(t, 2)
	alice, bob, backKey := newX25519(t), newX25519(t), newX25519(t)
	writeAuthFile(t, filepath.Join(f.Dir, "clients"), "alice", alice)
	writeClientAuthClusterConfig(t, f, backKey)
	if err := push(t, f, PushInit, false); err != nil {
		t.Fatalf("init: %v", err)
	}
	keys := obhosttest.DefaultKeys(t)
	stored := f.Get(t, keys.Config())
	if !strings.Contains(stored, hsv3.EncodeX25519(alice.PublicKey().Bytes())) {
		t.Errorf("the stored configuration lacks alice's public key:\n%s", stored)
	}
	if !strings.Contains(stored, `"client_auth_key": "obseal:v1:`) {
		t.Errorf("the backend's client key is not stored sealed:\n%s", stored)
	}
	// The secret is nowhere in etcd, in any encoding.
	cli := storetest.NewClient(t, f.Endpoints...)
	resp, err := cli.Get(context.Background(), keys.All(), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	secret := backKey.Bytes()
	for _, kv := range resp.Kvs {
		for _, enc := range []string{hsv3.EncodeX25519(secret), strings.ToLower(hsv3.EncodeX25519(secret)),
			base64.StdEncoding.EncodeToString(secret), base64.RawStdEncoding.EncodeToString(secret), hex.EncodeToString(secret)} {
			if strings.Contains(string(kv.Value), enc) || bytes.Contains(kv.Value, secret) {
				t.Fatalf("%s holds the backend's client secret key unsealed", kv.Key)
			}
		}
	}

	_, sealer := f.Sealer(t)
	es := newEtcdServices(store.New(cli, keys, sealer, time.Second), hclog.NewNullLogger(), time.Second)
	services, err := es.load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc := services[0]
	if len(sc.AuthorizedClients) != 1 || !sc.AuthorizedClients[0].Key.Equal(alice.PublicKey()) || sc.AuthorizedClients[0].Name != "alice" {
		t.Fatalf("authorized clients %+v, want alice", sc.AuthorizedClients)
	}
	if k := sc.Backends[0].ClientKey; k == nil || !k.Equal(backKey) {
		t.Fatal("the node did not open the private backend's client key")
	}
	if sc.Backends[1].ClientKey != nil {
		t.Fatal("the public backend has a client key")
	}

	// Live: add bob with set-config.
	m, errs := followConfig(t, es, cli, services)
	writeAuthFile(t, filepath.Join(f.Dir, "clients"), "bob", bob)
	if err := push(t, f, PushSet, false); err != nil {
		t.Fatalf("set-config: %v", err)
	}
	obhosttest.WaitFor(t, "the new client list applied", 10*time.Second, func() bool {
		st := m.Status()
		return st != nil && len(st.Services) == 1 && st.Services[0].AuthorizedClients == 2
	})
	if err := <-errs; err != nil {
		t.Errorf("follow reported %v", err)
	}

	// onionbalance status counts the clients, and shows no key.
	cs, err := GatherStatus(context.Background(), cli, keys, time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Services) != 1 || cs.Services[0].AuthorizedClients != 2 {
		t.Errorf("status: %+v, want 2 authorized clients", cs.Services)
	}
	if js, _ := json.Marshal(cs); bytes.Contains(js, []byte(hsv3.EncodeX25519(bob.PublicKey().Bytes()))) || bytes.Contains(js, []byte("obseal")) {
		t.Error("status shows a key")
	}

	// The sealed key moved to the other backend does not open (its path is authenticated), even
	// with a valid MAC.
	var cc record.ClusterConfig
	if err := json.Unmarshal([]byte(f.Get(t, keys.Config())), &cc); err != nil {
		t.Fatal(err)
	}
	cc.Services[0].Instances[1].ClientAuthKey, cc.Services[0].Instances[0].ClientAuthKey = cc.Services[0].Instances[0].ClientAuthKey, ""
	data, err := EncodeClusterConfig(cc, sealer, keys.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es.build(context.Background(), data); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("a client key moved to another backend: err = %v, want it refused", err)
	}
}

func newX25519(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestServicesFromFileTooManyClients: more clients than fit in a descriptor with 20 intro points are
// refused when the config is loaded, naming the key, instead of failing every upload later.
func TestServicesFromFileTooManyClients(t *testing.T) {
	f := newClientAuthFixture(t)
	var b strings.Builder
	b.WriteString("  authorized-clients:\n")
	for range hsv3.MaxAuthorizedClients - 1 { // plus alice and bob in the folder: one too many
		b.WriteString("  - descriptor:x25519:" + hsv3.EncodeX25519(newX25519(t).PublicKey().Bytes()) + "\n")
	}
	_, err := ServicesFromFile(f.config(t, b.String()))
	if err == nil || !strings.Contains(err.Error(), "services[0].authorized-clients") || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("err = %v, want the number of clients refused", err)
	}
}
