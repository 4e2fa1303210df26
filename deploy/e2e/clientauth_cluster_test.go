package e2e

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// TestClusterClientAuth: a cluster of two obhosts balances an address for authorized clients only;
// cluster set-config adds a client to the running cluster, and after the leader's re-upload that
// client reaches every backend, with no node restarted. The list lives in etcd with the service.
func TestClusterClientAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	built := make(chan string, 1)
	buildErr := make(chan error, 1)
	go func() { // build while the network starts
		bin, err := clBuild(dir)
		built <- bin
		buildErr <- err
	}()
	n := shared.Network(t)
	ctx := t.Context()
	bin := <-built
	if err := <-buildErr; err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		c := &clCluster{t: t, bin: bin}
		return c.run(args...)
	}

	masterAddr, err := testnet.GenerateMasterKey(filepath.Join(dir, "master"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	master := onion56(masterAddr)
	answers := map[string]bool{}
	var backends []testnet.Node
	for _, name := range []string{"cab1", "cab2"} {
		backends = append(backends, testnet.StartOnionService(t, n, testnet.OnionServiceConfig{Name: name, Master: masterAddr}))
		answers[name] = true
	}

	// Keys: alice is authorized from the start, bob is added later.
	authDir := filepath.Join(dir, "authorized_clients")
	keys := map[string]*ecdh.PrivateKey{}
	for _, name := range []string{"alice", "bob"} {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
		cdir := filepath.Join(dir, "clients", name)
		if err := os.MkdirAll(cdir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cdir, master+".auth_private"), hsv3.MarshalAuthPrivate(master, k), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeAuth := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(authDir, name+".auth"), hsv3.MarshalAuthorizedClient(keys[name].PublicKey()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeAuth("alice")

	eps := storetest.Single(t)
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	kekFile := filepath.Join(dir, "key-encryption-key")
	if err := store.WriteKEKFile(kekFile, kek); err != nil {
		t.Fatal(err)
	}
	var op strings.Builder
	fmt.Fprintf(&op, "services:\n  - key: %s\n    authorized-clients-dir: %s\n    instances:\n",
		filepath.Join(dir, "master", "hs_ed25519_secret_key"), authDir)
	for _, b := range backends {
		fmt.Fprintf(&op, "      - address: %s\n        name: %s\n", b.Onion, b.Name)
	}
	fmt.Fprintf(&op, "cluster:\n  key-encryption-key-file: %s\n  etcd:\n    endpoints: [%s]\n", kekFile, strings.Join(eps, ", "))
	opConfig := filepath.Join(dir, "operator.yaml")
	if err := os.WriteFile(opConfig, []byte(op.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster init: %s", strings.TrimSpace(run("cluster", "init", "-c", opConfig)))

	var hosts []*clHost
	for i := 1; i <= 2; i++ {
		name := fmt.Sprintf("caob%d", i)
		h := &clHost{name: name, dir: filepath.Join(dir, name), bin: bin, logPath: filepath.Join(dir, name, "onionbalance.log")}
		h.tor = clStartTor(t, n, filepath.Join(h.dir, "tor"))
		h.config = filepath.Join(h.dir, "config.yaml")
		cfg := fmt.Sprintf("data-dir: %s\ntor:\n  control: tcp:%s\ncluster:\n  node-name: %s\n  session-ttl: %s\n"+
			"  key-encryption-key-file: %s\n  etcd:\n    endpoints: [%s]\npublish:\n  fetch-interval: 15s\nlog:\n  level: debug\n",
			filepath.Join(h.dir, "data"), h.tor.control, name, clTTL, kekFile, strings.Join(eps, ", "))
		if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range hosts {
				t.Logf("last lines of %s's log:\n%s", h.name, h.logTail(40))
			}
		}
	})
	for _, h := range hosts {
		clWaitBootstrapped(t, clControl(t, h.tor.control), h.name+"'s tor")
		h.start(t)
		t.Cleanup(h.stop)
	}
	alice := clientAuthTor(ctx, t, n, dir, "ca-alice", filepath.Join(dir, "clients", "alice"))
	bob := clientAuthTor(ctx, t, n, dir, "ca-bob", filepath.Join(dir, "clients", "bob"))
	if err := startAll(ctx, []*torNode{alice, bob}); err != nil {
		t.Fatal(err)
	}
	reach := func(tn *torNode, within time.Duration) error {
		tc := dialTorControl(t, tn.control)
		seen := map[string]bool{}
		return waitFor(ctx, within, func() bool {
			if err := tc.newnym(ctx); err != nil {
				return false
			}
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			body, err := testnet.Get(actx, tn.socks, "http://"+masterAddr+"/")
			cancel()
			if err == nil && answers[body] {
				seen[body] = true
			}
			return len(seen) == len(answers)
		})
	}
	began := time.Now()
	if err := reach(alice, 4*time.Minute); err != nil {
		t.Fatalf("alice (authorized) did not reach every backend: %v", err)
	}
	t.Logf("alice reached every backend %s after her tor was up", time.Since(began).Round(time.Second))
	if code, err := waitSocksCode(ctx, bob.socks, masterAddr, time.Minute, nil, socksOnionBadClientAuth, socksOnionMissingAuth); err != nil {
		t.Fatalf("bob (not yet authorized): %v", err)
	} else {
		t.Logf("bob (not yet authorized): SOCKS reply 0x%02X", code)
	}

	pids := map[string]int{}
	for _, h := range hosts {
		pids[h.name] = h.pid()
	}
	writeAuth("bob")
	t.Logf("cluster set-config: %s", strings.TrimSpace(run("cluster", "set-config", "-c", opConfig)))
	changed := time.Now()
	tc := dialTorControl(t, n.Client().Control)
	if err := waitFor(ctx, 2*time.Minute, func() bool { _, err := masterDecodesWith(ctx, tc, master, keys["bob"]); return err == nil }); err != nil {
		t.Fatalf("the HSDirs never served a descriptor for bob: %v", err)
	}
	t.Logf("set-config to a descriptor for bob on every responsible HSDir: %s", time.Since(changed).Round(time.Second))
	if err := reach(bob, 3*time.Minute); err != nil {
		t.Fatalf("bob (added) did not reach every backend: %v", err)
	}
	if err := reach(alice, 2*time.Minute); err != nil {
		t.Errorf("alice after the change: %v", err)
	}
	for _, h := range hosts {
		if h.pid() != pids[h.name] || h.pid() == 0 {
			t.Errorf("%s restarted or exited (pid %d, was %d)", h.name, h.pid(), pids[h.name])
		}
	}
	status := run("status", "-c", opConfig)
	if !strings.Contains(status, "Restricted discovery: 2 authorized clients") {
		t.Errorf("onionbalance status does not count 2 authorized clients:\n%s", status)
	}
	if strings.Contains(status, hsv3.EncodeX25519(keys["bob"].PublicKey().Bytes())) {
		t.Error("onionbalance status shows a key")
	}
}
