package hsv3

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTorKeyFiles(t *testing.T) {
	cases := []struct {
		file, address, publicFile, hostnameFile string
	}{
		{"keys/arti_tor-service_hs_ed25519_secret_key", "zvhlds7ttyx5bvffeiy3elw37gdlyoyojima6sux6urzifpmw334cpid",
			"keys/arti_tor-service_hs_ed25519_public_key", "keys/arti_tor-service_hostname"},
		{"keys/onionbalance_test_hs_ed25519_secret_key", "4a2zwxetkje5lwvahfv75arzrctn6bznkwmosvfyobmyv2fc3idbpwyd", "", ""},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			path := filepath.Join(vectorsDir(t), c.file)
			k, err := LoadIdentityKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Address(); got != c.address {
				t.Errorf("address = %s, want %s", got, c.address)
			}
			if _, ok := k.Seed(); ok {
				t.Error("tor key file should have no seed")
			}
			raw, _ := os.ReadFile(path)
			if !bytes.Equal(k.MarshalTorSecretKey(), raw) {
				t.Error("MarshalTorSecretKey differs from the file")
			}
			if _, err := k.MarshalPEM(); !errors.Is(err, ErrNoSeed) {
				t.Errorf("MarshalPEM without seed: err = %v, want ErrNoSeed", err)
			}
			if c.publicFile != "" {
				if got, want := k.MarshalTorPublicKey(), readVector(t, c.publicFile); !bytes.Equal(got, want) {
					t.Errorf("public key file = %x, want %x", got, want)
				}
				if got, want := k.Hostname(), readVector(t, c.hostnameFile); !bytes.Equal(got, want) {
					t.Errorf("hostname = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestOnionBalanceRevisionKey(t *testing.T) {
	// Values from shared/research/onionbalance-study.md (OnionBalance's
	// formulas for its tor-format test key).
	k, err := LoadIdentityKey(filepath.Join(vectorsDir(t), "keys/onionbalance_test_hs_ed25519_secret_key"))
	if err != nil {
		t.Fatal(err)
	}
	key := k.OnionBalanceRevisionKey()
	if want := unhex32(t, "e5a7df00e12a253826ae233969415544e14712d68b61b61a75cd6f3c8ebc00e6"); key != want {
		t.Fatalf("key = %x, want %x", key, want)
	}
	for _, c := range []struct{ n, want uint64 }{{1, 46257}, {2, 108056}, {3, 143324}, {3600, 118046422}, {86400, 2834540534}, {172800, 5664966338}} {
		got, err := OPERevisionCounter(key, c.n-1)
		if err != nil || got != c.want {
			t.Errorf("N=%d: got %d, %v; want %d", c.n, got, err, c.want)
		}
	}
}

func TestPEMRoundTrip(t *testing.T) {
	k, err := GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pemBytes, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Fatalf("PEM = %q", pemBytes)
	}
	k2, err := ParseIdentityKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !k2.PublicKey().Equal(k.PublicKey()) {
		t.Fatal("PEM round trip changed the public key")
	}
	seed, ok := k2.Seed()
	if !ok || !bytes.Equal(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey), k.PublicKey()) {
		t.Fatal("PEM key lost its seed")
	}
	// The identity key signs like a standard Ed25519 key of the same seed.
	msg := []byte("hello")
	if got, want := k2.Sign(msg), ed25519.Sign(ed25519.NewKeyFromSeed(seed), msg); !bytes.Equal(got, want) {
		t.Fatal("signature differs from crypto/ed25519")
	}
	// Tor format round trip.
	k3, err := ParseIdentityKey(k.MarshalTorSecretKey())
	if err != nil || !k3.PublicKey().Equal(k.PublicKey()) {
		t.Fatalf("tor-format round trip: %v", err)
	}

	dir := t.TempDir()
	if err := k.WriteTorKeyFiles(dir); err != nil {
		t.Fatal(err)
	}
	k4, err := LoadIdentityKey(filepath.Join(dir, TorSecretKeyFile))
	if err != nil || !k4.PublicKey().Equal(k.PublicKey()) {
		t.Fatalf("WriteTorKeyFiles round trip: %v", err)
	}
	host, _ := os.ReadFile(filepath.Join(dir, TorHostnameFile))
	if string(host) != k.Address()+".onion\n" {
		t.Fatalf("hostname file = %q", host)
	}
}

func TestParseIdentityKeyErrors(t *testing.T) {
	good := make([]byte, 96)
	copy(good, torSecretKeyHeader)
	good[40] = 1
	cases := map[string][]byte{
		"short tor file":  good[:95],
		"bad padding":     append(append([]byte(torSecretKeyHeader), 'x', 0, 0), good[32:]...),
		"public key file": append([]byte(torPublicKeyHeader+"\x00\x00\x00"), make([]byte, 32)...),
		"garbage":         []byte("hello"),
		"wrong PEM type":  []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"),
		"bad PKCS8":       []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		"zero scalar":     append([]byte(torSecretKeyHeader+"\x00\x00\x00"), make([]byte, 64)...),
	}
	if _, err := ParseIdentityKey(good); err != nil {
		t.Fatalf("control case: %v", err)
	}
	for name, data := range cases {
		if _, err := ParseIdentityKey(data); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: err = %v, want ErrInvalidKey", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentityKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadIdentityKey error %v does not name the file", err)
	}
}

// Secret key types print a redacted form for every verb: a String method alone would still let %#v
// (and %d) print the fields.
func TestKeyTypesRedactThemselves(t *testing.T) {
	id, err := GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := id.Seed()
	blinded := id.BlindedKey(20000, 1440)
	clientKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{seed, id.Expanded().Bytes(), blinded.Bytes(), clientKey.Bytes()}
	wantID := "hsv3.IdentityKey(" + id.Address() + ", secret redacted)"
	wantBlinded := "hsv3.ExpandedKey(public " + hex.EncodeToString(blinded.PublicKey()[:8]) + ", secret redacted)"
	cases := []struct {
		name    string
		operand any
		want    string // the whole output for every verb; "" to check only for leaks
	}{
		{"*IdentityKey", id, wantID},
		{"IdentityKey", *id, wantID},
		{"*ExpandedKey", blinded, wantBlinded},
		{"ExpandedKey", *blinded, wantBlinded},
		{"EncodeParams", EncodeParams{Identity: id}, ""},
		{"struct with an ExpandedKey", struct{ K ExpandedKey }{*blinded}, ""},
		// The x25519 client key is the standard library's type: the options holding it redact it.
		{"DecodeOptions", DecodeOptions{ClientKey: clientKey}, "hsv3.DecodeOptions(now 0001-01-01T00:00:00Z, skip expiry check false, client key redacted)"},
	}
	for _, tc := range cases {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, tc.operand)
			if tc.want != "" && out != tc.want {
				t.Errorf("%s with %s = %q, want %q", tc.name, verb, out, tc.want)
			}
			for _, sec := range secrets {
				head := sec[:8]
				for _, r := range []string{hex.EncodeToString(head), strings.ToUpper(hex.EncodeToString(head)),
					strings.TrimSuffix(fmt.Sprint(head), "]"), string(head)} {
					if strings.Contains(out, r) {
						t.Errorf("%s with %s leaks a secret (%q) in %q", tc.name, verb, r, out)
					}
				}
			}
		}
	}
}
