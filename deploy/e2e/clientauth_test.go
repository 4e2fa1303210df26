package e2e

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// SOCKS5 reply codes of tor's extended errors (tor's manual, SocksPort ExtendedErrors).
const (
	socksOnionMissingAuth   = 0xF4 // the descriptor needs client authorization
	socksOnionBadClientAuth = 0xF5 // the client's key is not authorized
)

// socksConnect asks the tor SocksPort at socksAddr to connect to host:port (fresh SOCKS credentials, so
// a fresh circuit) and returns tor's reply code.
func socksConnect(ctx context.Context, socksAddr, host string, port int) (byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", socksAddr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	user, pass := rand.Text(), rand.Text()
	msgs := [][]byte{{5, 1, 2}}
	auth := append([]byte{1, byte(len(user))}, user...)
	auth = append(append(auth, byte(len(pass))), pass...)
	msgs = append(msgs, auth)
	req := append([]byte{5, 1, 0, 3, byte(len(host))}, host...)
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	msgs = append(msgs, req)
	want := []int{2, 2, 10}
	for i, m := range msgs {
		if _, err := conn.Write(m); err != nil {
			return 0, err
		}
		resp := make([]byte, want[i])
		if _, err := io.ReadFull(conn, resp); err != nil {
			return 0, fmt.Errorf("socks step %d: %w", i, err)
		}
		switch {
		case i == 0 && resp[1] != 2:
			return 0, fmt.Errorf("socks: method %d, want username/password", resp[1])
		case i == 1 && resp[1] != 0:
			return 0, fmt.Errorf("socks: authentication refused (%d)", resp[1])
		case i == 2:
			return resp[1], nil
		}
	}
	return 0, errors.New("unreachable")
}

// clientAuthTor starts a client tor whose SocksPort gives extended errors, with ClientOnionAuthDir
// authDir ("" for none).
func clientAuthTor(ctx context.Context, t *testing.T, n *testnet.Network, dir, name, authDir string) *torNode {
	t.Helper()
	ports := freePorts(t, n, 2)
	var extra []string
	if authDir != "" {
		extra = append(extra, "ClientOnionAuthDir "+authDir)
	}
	return newTorNode(t, n, torNodeConfig{Name: name, Dir: filepath.Join(dir, name), ControlPort: ports[0],
		SocksPort: ports[1], SocksFlags: "ExtendedErrors", Extra: extra})
}

// waitSocksCode asks for host:80 through socks (after renew, if any) until tor answers one of want, or
// within passes; it returns the last code seen.
func waitSocksCode(ctx context.Context, socks, host string, within time.Duration, renew func(context.Context) error, want ...byte) (byte, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last byte
	var lastErr error
	for {
		if renew != nil {
			if err := renew(ctx); err != nil {
				return last, err
			}
		}
		actx, acancel := context.WithTimeout(ctx, 45*time.Second)
		code, err := socksConnect(actx, socks, host, 80)
		acancel()
		if err == nil {
			last = code
			for _, w := range want {
				if code == w {
					return code, nil
				}
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("within %s tor answered 0x%02X (last error %v), want one of % X", within, last, lastErr, want)
		case <-time.After(3 * time.Second):
		}
	}
}

// stemAuth decrypts a descriptor with stem and the base32 client secret (or none) through
// publisher/hsv3/testdata/stem_decode_auth.py; ok is false when the inner layer does not decrypt.
func stemAuth(ctx context.Context, raw []byte, addr, secret, tmpDir string) (authClients, introPoints int, ok bool, err error) {
	if _, err := os.Stat(systemPython); err != nil {
		return 0, 0, false, errNoStem
	}
	root, err := repoRoot()
	if err != nil {
		return 0, 0, false, err
	}
	path := filepath.Join(tmpDir, "descriptor-"+rand.Text())
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return 0, 0, false, err
	}
	defer os.Remove(path)
	args := []string{filepath.Join(root, "publisher", "hsv3", "testdata", "stem_decode_auth.py"), path, addr}
	if secret != "" {
		args = append(args, secret)
	}
	out, err := exec.CommandContext(ctx, systemPython, args...).Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		return 0, 0, false, errNoStem
	case errors.As(err, &exit) && exit.ExitCode() == 4:
		return 0, 0, false, nil
	case err != nil:
		return 0, 0, false, fmt.Errorf("stem_decode_auth.py: %w", err)
	}
	var s struct {
		AuthClients int `json:"auth_clients"`
		IntroPoints int `json:"intro_points"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return 0, 0, false, fmt.Errorf("stem_decode_auth.py output %q: %w", out, err)
	}
	return s.AuthClients, s.IntroPoints, true, nil
}

// loadClientKey reads a generated .auth_private.
func loadClientKey(t *testing.T, path string) *ecdh.PrivateKey {
	t.Helper()
	_, k, err := hsv3.LoadAuthPrivateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// masterDecodesWith fetches the current descriptor of master (56 characters) from its responsible
// HSDirs and fails unless every copy decodes with key (our decoder).
func masterDecodesWith(ctx context.Context, tc *torControl, master string, key *ecdh.PrivateKey) (map[string][]byte, error) {
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := tc.fetchFromResponsible(fctx, master)
	if err != nil {
		return nil, err
	}
	for fp, raw := range res.Descriptors {
		if _, err := hsv3.DecodeForAddress(raw, master, hsv3.DecodeOptions{Now: time.Now(), ClientKey: key}); err != nil {
			return res.Descriptors, fmt.Errorf("the descriptor on HSDir %s: %w", fp, err)
		}
	}
	return res.Descriptors, nil
}

// TestOBHostClientAuth: restricted discovery end to end on one host. onionbalance-config --client-auth
// writes the keys; backend1 is private too (its descriptor needs the balancer's client key); a client tor with its .auth_private reaches every backend, one without gets F4; our
// descriptor is padded as C tor pads it and stem decrypts it with a client key only; on SIGHUP a removed
// client loses access and an added one gains it, without a restart.
func TestOBHostClientAuth(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	ctx := t.Context()
	d := deploy(ctx, t, n, deployConfig{Name: "obauth", Backends: 2, GenArgs: []string{"--client-auth", "2"},
		BeforeDaemon: func(d *deployment) { makeBackendPrivate(ctx, t, d, d.backends[0]) }})
	addr := onion56(d.master)
	clients := filepath.Join(d.gen, "clients")
	authDir := filepath.Join(d.gen, "master", "authorized_clients", addr)

	// client3 is not authorized yet: its .auth goes in later.
	c3dir := filepath.Join(d.dir, "client3-keys")
	if err := os.Mkdir(c3dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c3, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c3dir, addr+".auth_private"), hsv3.MarshalAuthPrivate(addr, c3), 0o600); err != nil {
		t.Fatal(err)
	}
	torA := clientAuthTor(ctx, t, n, d.dir, "obauth-client1", filepath.Join(clients, "client1"))
	torB := clientAuthTor(ctx, t, n, d.dir, "obauth-client2", filepath.Join(clients, "client2"))
	torC := clientAuthTor(ctx, t, n, d.dir, "obauth-client3", c3dir)
	torN := clientAuthTor(ctx, t, n, d.dir, "obauth-nokey", "")
	if err := startAll(ctx, []*torNode{torA, torB, torC, torN}); err != nil {
		t.Fatal(err)
	}
	newnym := func(tn *torNode) func(context.Context) error {
		tc := dialTorControl(t, tn.control)
		return tc.newnym
	}
	if _, err := d.firstUpload(ctx); err != nil {
		t.Fatal(err)
	}

	// The authorized client reaches every backend.
	began := time.Now()
	c, err := d.reachAll(ctx, torA.socks, 3*time.Minute, newnym(torA))
	if err != nil {
		t.Fatalf("client1 (authorized): %v", err)
	}
	t.Logf("client1 reached every backend in %s: %s", time.Since(began).Round(time.Second), c)

	// Without a key: SOCKS extended error F4. With a key that is not listed: not connected (F5).
	if code, err := waitSocksCode(ctx, torN.socks, d.master, time.Minute, nil, socksOnionMissingAuth); err != nil {
		t.Errorf("client without a key: %v", err)
	} else {
		t.Logf("client without a key: SOCKS reply 0x%02X", code)
	}
	if code, err := waitSocksCode(ctx, torC.socks, d.master, time.Minute, nil, socksOnionBadClientAuth, socksOnionMissingAuth); err != nil {
		t.Errorf("client3 (not yet authorized): %v", err)
	} else {
		t.Logf("client3 (not yet authorized): SOCKS reply 0x%02X", code)
	}

	// The descriptor on the HSDirs: 16 auth-client lines for 2 clients (C tor's padding, compared with
	// C tor's own descriptors in TestTorClientAuthPadding), readable with client1's key by our decoder
	// and by stem, by neither without.
	tc := dialTorControl(t, n.Client().Control)
	key1 := loadClientKey(t, filepath.Join(clients, "client1", addr+".auth_private"))
	descs, err := masterDecodesWith(ctx, tc, addr, key1)
	if err != nil {
		t.Fatal(err)
	}
	for fp, raw := range descs {
		dd, err := hsv3.DecodeForAddress(raw, addr, hsv3.DecodeOptions{Now: time.Now(), ClientKey: key1})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(dd.Middle.AuthClients); got != hsv3.AuthClientLines(2) || got != 16 {
			t.Errorf("HSDir %s: %d auth-client lines for 2 clients, want 16", fp, got)
		}
		if _, err := hsv3.DecodeForAddress(raw, addr, hsv3.DecodeOptions{Now: time.Now()}); err == nil {
			t.Errorf("HSDir %s: the descriptor decrypts without a client key", fp)
		}
		n1, ips, ok, err := stemAuth(ctx, raw, d.master, hsv3.EncodeX25519(key1.Bytes()), t.TempDir())
		if errors.Is(err, errNoStem) {
			t.Log("stem not available: not cross-checked")
			break
		}
		if err != nil || !ok || n1 != 16 || ips != len(dd.IntroPoints()) {
			t.Errorf("HSDir %s: stem with client1's key: ok %v, %d auth-client lines, %d intro points (ours %d), %v",
				fp, ok, n1, ips, len(dd.IntroPoints()), err)
		}
		if _, _, ok, err := stemAuth(ctx, raw, d.master, "", t.TempDir()); ok || err != nil {
			t.Errorf("HSDir %s: stem without a key: decrypted %v, error %v", fp, ok, err)
		}
		if _, _, ok, err := stemAuth(ctx, raw, d.master, hsv3.EncodeX25519(c3.Bytes()), t.TempDir()); ok || err != nil {
			t.Errorf("HSDir %s: stem with an unauthorized key: decrypted %v, error %v", fp, ok, err)
		}
	}
	var st struct {
		Services []struct {
			OnionAddress      string `json:"onionAddress"`
			AuthorizedClients int    `json:"authorizedClients"`
		} `json:"services"`
	}
	if err := readStatusSocket(ctx, d.daemon.statusSock, &st); err != nil || len(st.Services) != 1 || st.Services[0].AuthorizedClients != 2 {
		t.Errorf("status socket: %+v (%v), want 2 authorized clients", st, err)
	}

	// Live: remove client2, add client3, SIGHUP.
	if err := os.Remove(filepath.Join(authDir, "client2.auth")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(authDir, "client3.auth"), hsv3.MarshalAuthorizedClient(c3.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := d.configPath(t)
	original, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	pid := d.daemon.p.pid()
	from := d.sighup(t, cfgPath, original, func(map[string]any) {})
	changedAt := time.Now()
	if _, _, err := d.daemon.waitLine(ctx, time.Minute, from, "uploaded descriptor", "authorized clients changed"); err != nil {
		t.Fatalf("no upload for the new client list: %v", err)
	}
	key3 := c3
	if err := waitFor(ctx, 2*time.Minute, func() bool { _, err := masterDecodesWith(ctx, tc, addr, key3); return err == nil }); err != nil {
		t.Fatalf("the HSDirs do not serve a descriptor for client3: %v", err)
	}
	t.Logf("SIGHUP to a descriptor for the new client list on every responsible HSDir: %s", time.Since(changedAt).Round(time.Second))
	if d.daemon.p.pid() != pid {
		t.Error("the daemon restarted")
	}
	if c, err := d.reachAll(ctx, torC.socks, 3*time.Minute, newnym(torC)); err != nil {
		t.Errorf("client3 (added): %v", err)
	} else {
		t.Logf("client3 (added) reached every backend: %s", c)
	}
	if code, err := waitSocksCode(ctx, torB.socks, d.master, 2*time.Minute, newnym(torB), socksOnionBadClientAuth, socksOnionMissingAuth); err != nil {
		t.Errorf("client2 (removed): %v", err)
	} else {
		t.Logf("client2 (removed) after the upload: SOCKS reply 0x%02X", code)
	}
	if _, err := d.reachAll(ctx, torA.socks, 2*time.Minute, newnym(torA)); err != nil {
		t.Errorf("client1 (kept): %v", err)
	}
}

// makeBackendPrivate gives backend b restricted discovery: a new client key's .auth goes into its
// HiddenServiceDir/authorized_clients (tor reloads it), the .auth_private beside config.yaml, named by
// the instance's auth-private-file. It returns once the HSDirs serve b's descriptor that needs the key.
func makeBackendPrivate(ctx context.Context, t *testing.T, d *deployment, b *backend) {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ac := filepath.Join(d.gen, b.name, "hs", "authorized_clients")
	if err := os.MkdirAll(ac, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ac, "balancer.auth"), hsv3.MarshalAuthorizedClient(k.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	privName := b.name + ".auth_private"
	if err := os.WriteFile(filepath.Join(d.gen, "master", privName), hsv3.MarshalAuthPrivate(onion56(b.onion), k), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(d.gen, "master", "config.yaml")
	base, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rewriteConfig(t, cfgPath, base, func(cfg map[string]any) {
		for _, in := range firstService(t, cfg)["instances"].([]any) {
			if m := in.(map[string]any); m["name"] == b.name {
				m["auth-private-file"] = privName
			}
		}
	})
	btc := dialTorControl(t, b.tor.control)
	if err := btc.c.Signal(ctx, "RELOAD"); err != nil {
		t.Fatal(err)
	}
	tc := dialTorControl(t, d.n.Client().Control)
	began := time.Now()
	err = waitFor(ctx, 2*time.Minute, func() bool {
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		res, err := tc.fetchFromResponsible(fctx, onion56(b.onion))
		if err != nil || len(res.Descriptors) == 0 {
			return false
		}
		for _, raw := range res.Descriptors {
			if _, err := hsv3.DecodeForAddress(raw, onion56(b.onion), hsv3.DecodeOptions{Now: time.Now()}); err == nil {
				return false // still the public descriptor
			}
			if _, err := hsv3.DecodeForAddress(raw, onion56(b.onion), hsv3.DecodeOptions{Now: time.Now(), ClientKey: k}); err != nil {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("backend %s: the HSDirs never served a descriptor with restricted discovery: %v", b.name, err)
	}
	t.Logf("backend %s is private (restricted discovery) %s after tor reloaded", b.name, time.Since(began).Round(time.Second))
}

// TestTorClientAuthPadding compares our auth-client padding with C tor's: one tor hosts onion services
// with 1, 16 and 17 authorized clients; the descriptors it uploads are fetched back and their
// auth-client lines counted, then compared with what hsv3.Encode writes for as many clients.
func TestTorClientAuthPadding(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	ctx := t.Context()
	dir := filepath.Join(n.Dir(), "authpad")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	web := nameServer(t, "authpad")
	counts := []int{1, 16, 17}
	var extra []string
	keys := map[int]*ecdh.PrivateKey{} // one authorized client's key per service
	for _, cnt := range counts {
		hs := filepath.Join(dir, fmt.Sprintf("hs%d", cnt))
		ac := filepath.Join(hs, "authorized_clients")
		if err := os.MkdirAll(ac, 0o700); err != nil {
			t.Fatal(err)
		}
		for i := range cnt {
			k, err := ecdh.X25519().GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				keys[cnt] = k
			}
			if err := os.WriteFile(filepath.Join(ac, fmt.Sprintf("c%d.auth", i)), hsv3.MarshalAuthorizedClient(k.PublicKey()), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		extra = append(extra, "HiddenServiceDir "+hs, "HiddenServicePort 80 "+web)
	}
	ports := freePorts(t, n, 1)
	svc := newTorNode(t, n, torNodeConfig{Name: "authpad", Dir: filepath.Join(dir, "tor"), ControlPort: ports[0], Extra: extra})
	if err := svc.start(ctx); err != nil {
		t.Fatal(err)
	}
	tc := dialTorControl(t, n.Client().Control)
	for _, cnt := range counts {
		addr := readTrimmed(t, filepath.Join(dir, fmt.Sprintf("hs%d", cnt), "hostname"))
		fctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		var res fetchResult
		err := waitFor(fctx, 3*time.Minute, func() bool {
			var err error
			res, err = tc.fetchFromResponsible(fctx, onion56(addr))
			return err == nil && len(res.Descriptors) > 0
		})
		cancel()
		if err != nil {
			t.Fatalf("%d clients: tor's descriptor of %s not on the HSDirs: %v (%v)", cnt, addr, err, res.Failures)
		}
		for fp, raw := range res.Descriptors {
			dd, err := hsv3.DecodeForAddress(raw, onion56(addr), hsv3.DecodeOptions{Now: time.Now(), ClientKey: keys[cnt]})
			if err != nil {
				t.Fatalf("%d clients: C tor's descriptor from %s: %v", cnt, fp, err)
			}
			torLines := len(dd.Middle.AuthClients)
			ours := ourAuthClientLines(t, cnt)
			t.Logf("%d authorized clients: C tor wrote %d auth-client lines, we write %d", cnt, torLines, ours)
			if torLines != ours {
				t.Errorf("%d authorized clients: C tor wrote %d auth-client lines, we write %d", cnt, torLines, ours)
			}
			break
		}
	}
}

// ourAuthClientLines encodes a descriptor for cnt clients and counts its auth-client lines.
func ourAuthClientLines(t *testing.T, cnt int) int {
	t.Helper()
	id, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var pubs []*ecdh.PublicKey
	var first *ecdh.PrivateKey
	for i := range cnt {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = k
		}
		pubs = append(pubs, k.PublicKey())
	}
	now := time.Now()
	raw, err := hsv3.Encode(hsv3.EncodeParams{Identity: id, PeriodNum: 100, PeriodLength: 1440, RevisionCounter: 1,
		Now: now, Rand: rand.Reader, AuthorizedClients: pubs})
	if err != nil {
		t.Fatal(err)
	}
	dd, err := hsv3.Decode(raw, id.PublicKey(), 100, 1440, hsv3.DecodeOptions{Now: now, ClientKey: first})
	if err != nil {
		t.Fatal(err)
	}
	return len(dd.Middle.AuthClients)
}
