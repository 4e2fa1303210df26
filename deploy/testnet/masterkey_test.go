package testnet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/edwards25519"
)

type onionAddressVectors struct {
	Valid []struct {
		Pubkey  string `json:"pubkey"`
		Address string `json:"address"`
	} `json:"valid"`
	Invalid []struct {
		Address string `json:"address"`
		Why     string `json:"why"`
	} `json:"invalid"`
}

func loadOnionAddressVectors(t *testing.T) onionAddressVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), "key-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		OnionAddresses onionAddressVectors `json:"onion_addresses"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	if len(all.OnionAddresses.Valid) == 0 || len(all.OnionAddresses.Invalid) == 0 {
		t.Fatal("key-vectors.json: no onion_addresses vectors")
	}
	return all.OnionAddresses
}

func TestOnionAddressVectors(t *testing.T) {
	v := loadOnionAddressVectors(t)
	for _, c := range v.Valid {
		want := c.Address + ".onion"
		if c.Pubkey != "" {
			pub, err := hex.DecodeString(c.Pubkey)
			if err != nil {
				t.Fatal(err)
			}
			if got := OnionAddress(pub); got != want {
				t.Errorf("OnionAddress(%s) = %s, want %s", c.Pubkey, got, want)
			}
		}
		for _, in := range []string{c.Address, want, strings.ToUpper(c.Address)} {
			if got, err := NormalizeOnionAddress(in); err != nil || got != want {
				t.Errorf("NormalizeOnionAddress(%q) = %q, %v; want %q", in, got, err, want)
			}
		}
	}
	for _, c := range v.Invalid {
		if got, err := NormalizeOnionAddress(c.Address); !errors.Is(err, ErrBadOnionAddress) {
			t.Errorf("NormalizeOnionAddress(%q) (%s) = %q, %v; want ErrBadOnionAddress", c.Address, c.Why, got, err)
		}
	}
}

// publicFromExpanded derives the public key the way tor does from its
// expanded secret key file: the clamped scalar times the base point.
func publicFromExpanded(t *testing.T, expanded []byte) []byte {
	t.Helper()
	s, err := edwards25519.NewScalar().SetBytesWithClamping(expanded[:32])
	if err != nil {
		t.Fatal(err)
	}
	return new(edwards25519.Point).ScalarBaseMult(s).Bytes()
}

func TestGenerateMasterKeyWritesTorKeyFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	addr, err := GenerateMasterKey(dir, nil) // nil: crypto/rand
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NormalizeOnionAddress(addr); err != nil {
		t.Fatalf("generated address %q: %v", addr, err)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "hs_ed25519_secret_key"))
	if err != nil {
		t.Fatal(err)
	}
	public, err := os.ReadFile(filepath.Join(dir, "hs_ed25519_public_key"))
	if err != nil {
		t.Fatal(err)
	}
	hostname, err := os.ReadFile(filepath.Join(dir, "hostname"))
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 96 || len(public) != 64 {
		t.Fatalf("file sizes %d and %d, want 96 and 64", len(secret), len(public))
	}
	// The header must be byte-identical to a real tor key file's.
	torFile, err := os.ReadFile(filepath.Join(vectorsDir(t), "keys", "arti_tor-service_hs_ed25519_secret_key"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(secret[:32], torFile[:32]) {
		t.Errorf("secret key header %q, tor writes %q", secret[:32], torFile[:32])
	}
	pub := publicFromExpanded(t, secret[32:])
	if !bytes.Equal(pub, public[32:]) {
		t.Errorf("public key file %x, derived from the secret %x", public[32:], pub)
	}
	if got := OnionAddress(pub); got != addr || string(hostname) != addr+"\n" {
		t.Errorf("address from secret %s, returned %s, hostname %q", got, addr, hostname)
	}
	if st, err := os.Stat(filepath.Join(dir, "hs_ed25519_secret_key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secret key mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
}

// The expansion matches the one tor applied to the arti test key: deriving
// the public key from tor's own file gives its published address.
func TestExpandedKeyMatchesTorVector(t *testing.T) {
	dir := filepath.Join(vectorsDir(t), "keys")
	secret, err := os.ReadFile(filepath.Join(dir, "arti_tor-service_hs_ed25519_secret_key"))
	if err != nil {
		t.Fatal(err)
	}
	hostname, err := os.ReadFile(filepath.Join(dir, "arti_tor-service_hostname"))
	if err != nil {
		t.Fatal(err)
	}
	if got := OnionAddress(publicFromExpanded(t, secret[32:])); got+"\n" != string(hostname) {
		t.Fatalf("address %s, tor's hostname file %q", got, hostname)
	}

}
