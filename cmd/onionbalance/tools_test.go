package main

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/internal/torvectors"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// vectors returns the shared tor-vectors folder; it skips t when there is none, or fails it under CI.
func vectors(t *testing.T) string {
	t.Helper()
	return torvectors.Dir(t)
}

func TestKeyShowBothFormats(t *testing.T) {
	v := vectors(t)
	code, out, _ := runCLI(t, "key", "show", filepath.Join(v, "keys", "arti_tor-service_hs_ed25519_secret_key"))
	if code != 0 || out != "zvhlds7ttyx5bvffeiy3elw37gdlyoyojima6sux6urzifpmw334cpid.onion\n" {
		t.Fatalf("tor key: code %d out %q", code, out)
	}
	k, _ := hsv3.GenerateIdentityKey(rand.Reader)
	pemKey, _ := k.MarshalPEM()
	p := filepath.Join(t.TempDir(), "m.key")
	os.WriteFile(p, pemKey, 0o600)
	code, out, _ = runCLI(t, "key", "show", p)
	if code != 0 || out != k.Address()+".onion\n" || strings.Contains(out, "PRIVATE") {
		t.Fatalf("pem key: code %d out %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("nonsense"), 0o600)
	code, _, errOut := runCLI(t, "key", "show", bad)
	if code != exitError || !strings.Contains(errOut, "bad.key") {
		t.Fatalf("bad key: code %d stderr %q", code, errOut)
	}
}

func TestDescriptorShowStemVector(t *testing.T) {
	v := vectors(t)
	file := filepath.Join(v, "stem_hidden_service_v3.txt")
	code, out, errOut := runCLI(t, "descriptor", "show", "--address", "sltib6sxkuxh2scmtuvd5w2g7pahnzkovefxpo4e4ptnkzl5kkq5h2ad.onion", file)
	if code != 0 {
		t.Fatalf("code %d stderr %s", code, errOut)
	}
	var d descriptorJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.RevisionCounter != 42 || d.LifetimeMinutes != 180 || !d.SigningCertExpired || len(d.IntroPoints) != 4 || !d.SingleOnionService {
		t.Fatalf("decoded %+v", d)
	}
	if ls := strings.Join(d.IntroPoints[0].LinkSpecifiers, " "); ls != "$4343434343434343434343434343434343434343 1.2.3.4:9001" {
		t.Errorf("link specifiers %v", d.IntroPoints[0].LinkSpecifiers)
	}
	// Another address: an error, not a decode.
	code, _, errOut = runCLI(t, "descriptor", "show", "--address", "zvhlds7ttyx5bvffeiy3elw37gdlyoyojima6sux6urzifpmw334cpid", file)
	if code != exitError || !strings.Contains(errOut, "does not belong") {
		t.Fatalf("wrong address: code %d stderr %q", code, errOut)
	}
	// The bad-signature vector is refused.
	code, _, errOut = runCLI(t, "descriptor", "show", "--address", "sltib6sxkuxh2scmtuvd5w2g7pahnzkovefxpo4e4ptnkzl5kkq5h2ad", filepath.Join(v, "tor_HS_DESC_BAD_SIG.txt"))
	if code != exitError || errOut == "" {
		t.Fatalf("bad signature: code %d stderr %q", code, errOut)
	}
}

func TestDescriptorShowOwnEncoding(t *testing.T) {
	k, _ := hsv3.GenerateIdentityKey(rand.Reader)
	now := time.Now()
	desc, err := hsv3.Encode(hsv3.EncodeParams{Identity: k, PeriodNum: uint64((now.Unix()/60 - 720) / 1440), PeriodLength: 1440,
		RevisionCounter: 7, FlowControl: "1-2 31", Now: now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "d.txt")
	os.WriteFile(p, desc, 0o600)
	code, out, errOut := runCLI(t, "descriptor", "show", "--address", k.Address(), p)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	var d descriptorJSON
	json.Unmarshal([]byte(out), &d)
	if d.RevisionCounter != 7 || d.FlowControl != "1-2 31" || d.SigningCertExpired {
		t.Fatalf("decoded %+v", d)
	}
	code, _, errOut = runCLI(t, "descriptor", "show", "--address", k.Address(), filepath.Join(t.TempDir(), "none"))
	if code != exitError || !strings.Contains(errOut, "none") {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
}

// TestDescriptorShowClientAuth: a descriptor with restricted discovery is shown with --auth-private (the
// client's .auth_private), with its number of auth-client lines; without the key it is an error that
// says why.
func TestDescriptorShowClientAuth(t *testing.T) {
	k, _ := hsv3.GenerateIdentityKey(rand.Reader)
	client, _ := ecdh.X25519().GenerateKey(rand.Reader)
	now := time.Now()
	desc, err := hsv3.Encode(hsv3.EncodeParams{Identity: k, PeriodNum: uint64((now.Unix()/60 - 720) / 1440), PeriodLength: 1440,
		RevisionCounter: 7, Now: now, Rand: rand.Reader, AuthorizedClients: []*ecdh.PublicKey{client.PublicKey()}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "d.txt")
	os.WriteFile(p, desc, 0o600)
	keyFile := filepath.Join(dir, "c.auth_private")
	os.WriteFile(keyFile, hsv3.MarshalAuthPrivate(k.Address(), client), 0o600)
	code, out, errOut := runCLI(t, "descriptor", "show", "--address", k.Address(), "--auth-private", keyFile, p)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	var d descriptorJSON
	json.Unmarshal([]byte(out), &d)
	if d.RevisionCounter != 7 || d.AuthClientLines != 16 || !d.ClientAuth {
		t.Fatalf("decoded %+v", d)
	}
	if strings.Contains(out, hsv3.EncodeX25519(client.Bytes())) {
		t.Error("the key is printed")
	}
	code, _, errOut = runCLI(t, "descriptor", "show", "--address", k.Address(), p)
	if code != exitError || !strings.Contains(errOut, "client authorization") {
		t.Fatalf("without the key: code %d stderr %q", code, errOut)
	}
	other := filepath.Join(dir, "o.auth_private")
	k2, _ := hsv3.GenerateIdentityKey(rand.Reader)
	os.WriteFile(other, hsv3.MarshalAuthPrivate(k2.Address(), client), 0o600)
	code, _, errOut = runCLI(t, "descriptor", "show", "--address", k.Address(), "--auth-private", other, p)
	if code != exitError || !strings.Contains(errOut, "o.auth_private") {
		t.Fatalf("key of another address: code %d stderr %q", code, errOut)
	}
}
