package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKEK(t *testing.T) KEK {
	t.Helper()
	k, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSealer(t *testing.T, cur KEK, prev ...KEK) *Sealer {
	t.Helper()
	s, err := NewSealer(cur, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testKeyPath = "/onionbalance/services/abc/key"

func TestSealRoundTrip(t *testing.T) {
	k := mustKEK(t)
	s := mustSealer(t, k)
	secret := []byte("master key bytes \x00\xff")
	sealed, err := s.Seal(testKeyPath, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatalf("sealed value contains the secret: %q", sealed)
	}
	got, err := s.Open(testKeyPath, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, secret) {
		t.Fatalf("opened %q, want %q", got, secret)
	}
	again, _ := s.Seal(testKeyPath, secret)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of the same secret are identical: nonce not random")
	}
}

func TestSealHeaderNamesKEK(t *testing.T) {
	k := mustKEK(t)
	sum := sha256.Sum256(k.key[:])
	wantID := hex.EncodeToString(sum[:8])
	if k.ID() != wantID {
		t.Fatalf("KEK id %s, want %s", k.ID(), wantID)
	}
	sealed, err := mustSealer(t, k).Seal(testKeyPath, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "obseal:v1:" + wantID + ":"; !bytes.HasPrefix(sealed, []byte(want)) {
		t.Fatalf("sealed value %q does not start with %q", sealed, want)
	}
	id, err := SealedKEKID(sealed)
	if err != nil || id != wantID {
		t.Fatalf("SealedKEKID = %q, %v; want %q", id, err, wantID)
	}
	if strings.Contains(k.String(), k.Encode()) || !strings.Contains(k.String(), wantID) {
		t.Fatalf("KEK.String() = %q: must name the id and hide the key", k.String())
	}
}

func TestSealWrongKEK(t *testing.T) {
	a, b := mustKEK(t), mustKEK(t)
	sealed, err := mustSealer(t, a).Seal(testKeyPath, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustSealer(t, b).Open(testKeyPath, sealed); !errors.Is(err, ErrUnknownKEK) {
		t.Fatalf("open with another KEK: %v, want ErrUnknownKEK", err)
	}
	// Relabel the value with b's id: the header is authenticated, and b
	// cannot open a's ciphertext anyway.
	forged := bytes.Replace(sealed, []byte(a.ID()), []byte(b.ID()), 1)
	if _, err := mustSealer(t, b).Open(testKeyPath, forged); !errors.Is(err, ErrSealBroken) {
		t.Fatalf("open relabelled value: %v, want ErrSealBroken", err)
	}
	// A sealer holding a as a previous KEK opens it.
	if _, err := mustSealer(t, b, a).Open(testKeyPath, sealed); err != nil {
		t.Fatalf("open with previous KEK: %v", err)
	}
}

func TestSealWrongPath(t *testing.T) {
	s := mustSealer(t, mustKEK(t))
	sealed, err := s.Seal(testKeyPath, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Open("/onionbalance/services/other/key", sealed)
	if !errors.Is(err, ErrSealBroken) {
		t.Fatalf("open under another key path: %v, want ErrSealBroken", err)
	}
	if !strings.Contains(err.Error(), "/onionbalance/services/other/key") {
		t.Fatalf("error %q does not name the key", err)
	}
}

func TestSealTampered(t *testing.T) {
	s := mustSealer(t, mustKEK(t))
	sealed, _ := s.Seal(testKeyPath, []byte("secret"))
	for _, v := range [][]byte{
		sealed[:len(sealed)-4],
		append(bytes.Clone(sealed[:len(sealed)-2]), 'A', 'A'),
		[]byte("obseal:v1:"),
		[]byte("obseal:v1:0011:!!!"),
	} {
		if _, err := s.Open(testKeyPath, v); err == nil {
			t.Errorf("opened tampered value %q", v)
		}
	}
	if _, err := s.Open(testKeyPath, []byte(`{"json":1}`)); !errors.Is(err, ErrNotSealed) {
		t.Errorf("open JSON: %v, want ErrNotSealed", err)
	}
}

func TestPlaintextModeIsDistinct(t *testing.T) {
	k := mustKEK(t)
	plain := NewPlaintextSealer()
	if !plain.Plaintext() || plain.KEKID() != "" {
		t.Fatal("plaintext sealer does not report plaintext mode")
	}
	v, err := plain.Seal(testKeyPath, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(v, []byte("obplain:v1:")) {
		t.Fatalf("plaintext value %q lacks its header", v)
	}
	if id, err := SealedKEKID(v); err != nil || id != "" {
		t.Fatalf("SealedKEKID(plaintext) = %q, %v", id, err)
	}
	sealer := mustSealer(t, k)
	if _, err := sealer.Open(testKeyPath, v); !errors.Is(err, ErrPlaintextRefused) {
		t.Fatalf("sealing sealer opened plaintext: %v, want ErrPlaintextRefused", err)
	}
	sealer.AllowPlaintext()
	got, err := sealer.Open(testKeyPath, v)
	if err != nil || string(got) != "secret" {
		t.Fatalf("open plaintext after AllowPlaintext: %q, %v", got, err)
	}
	got, err = plain.Open(testKeyPath, v)
	if err != nil || string(got) != "secret" {
		t.Fatalf("plaintext sealer open: %q, %v", got, err)
	}
	sealed, _ := sealer.Seal(testKeyPath, []byte("secret"))
	if _, err := plain.Open(testKeyPath, sealed); !errors.Is(err, ErrUnknownKEK) {
		t.Fatalf("plaintext sealer without KEKs opened sealed value: %v", err)
	}
	if _, err := NewPlaintextSealer(k).Open(testKeyPath, sealed); err != nil {
		t.Fatalf("plaintext sealer with the KEK: %v", err)
	}
}

func TestLoadKEKFile(t *testing.T) {
	k := mustKEK(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	if err := WriteKEKFile(path, k); err != nil {
		t.Fatal(err)
	}
	if err := WriteKEKFile(path, k); err == nil {
		t.Fatal("WriteKEKFile overwrote an existing file")
	}
	got, err := LoadKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != k.ID() {
		t.Fatalf("loaded KEK %s, want %s", got, k)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKEKFile(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("group-readable KEK file: %v, want an error naming %s", err, path)
	}

	hexPath := filepath.Join(dir, "kek.hex")
	if err := os.WriteFile(hexPath, []byte(hex.EncodeToString(k.key[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadKEKFile(hexPath); err != nil || got.ID() != k.ID() {
		t.Fatalf("hex KEK file: %v, %v", got, err)
	}
	shortPath := filepath.Join(dir, "kek.short")
	if err := os.WriteFile(shortPath, []byte("c2hvcnQ="), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKEKFile(shortPath); err == nil || !strings.Contains(err.Error(), shortPath) {
		t.Fatalf("short KEK: %v", err)
	}
}

func TestKEKFromEnv(t *testing.T) {
	k := mustKEK(t)
	t.Setenv("OB_TEST_KEK", k.Encode())
	if got, err := KEKFromEnv("OB_TEST_KEK"); err != nil || got.ID() != k.ID() {
		t.Fatalf("base64 env KEK: %v, %v", got, err)
	}
	t.Setenv("OB_TEST_KEK", hex.EncodeToString(k.key[:]))
	if got, err := KEKFromEnv("OB_TEST_KEK"); err != nil || got.ID() != k.ID() {
		t.Fatalf("hex env KEK: %v, %v", got, err)
	}
	t.Setenv("OB_TEST_KEK", "nonsense")
	if _, err := KEKFromEnv("OB_TEST_KEK"); err == nil || !strings.Contains(err.Error(), "OB_TEST_KEK") {
		t.Fatalf("bad env KEK: %v", err)
	}
	if _, err := KEKFromEnv("OB_TEST_KEK_UNSET"); err == nil {
		t.Fatal("unset env KEK accepted")
	}
}

// redactionVerbs are the fmt verbs a key type must answer with its redacted form: a type with only
// a String method still prints its fields under %#v (and %d).
var redactionVerbs = []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"}

// leaks reports the first rendering of secret's leading bytes found in out: hex, decimal (as fmt
// prints a byte array or slice), base64 or raw.
func leaks(out string, secret []byte) string {
	head := secret[:8]
	dec := strings.TrimSuffix(fmt.Sprint(head), "]")
	for _, r := range []string{hex.EncodeToString(head), strings.ToUpper(hex.EncodeToString(head)), dec,
		base64.StdEncoding.EncodeToString(secret)[:10], string(head)} {
		if strings.Contains(out, r) {
			return r
		}
	}
	return ""
}

func TestKeyTypesRedactThemselves(t *testing.T) {
	k := mustKEK(t)
	s := mustSealer(t, k, mustKEK(t))
	secrets := [][]byte{k.key[:]}
	for _, prev := range s.keks {
		secrets = append(secrets, prev.key[:])
	}
	cases := []struct {
		name    string
		operand any
		want    string // the whole output for every verb; "" to check only for leaks
	}{
		{"KEK", k, "kek:" + k.ID()},
		{"*KEK", &k, "kek:" + k.ID()},
		{"*Sealer", s, "sealer(kek:" + k.ID() + ", 2 keks)"},
		{"Sealer", *s, "sealer(kek:" + k.ID() + ", 2 keks)"},
		{"struct with a KEK", struct{ KEK KEK }{k}, ""},
		{"struct with a Sealer", struct{ S *Sealer }{s}, ""},
		{"slice of KEKs", []KEK{k}, ""},
	}
	for _, tc := range cases {
		for _, verb := range redactionVerbs {
			out := fmt.Sprintf(verb, tc.operand)
			if tc.want != "" && out != tc.want {
				t.Errorf("%s with %s = %q, want %q", tc.name, verb, out, tc.want)
			}
			for _, sec := range secrets {
				if r := leaks(out, sec); r != "" {
					t.Errorf("%s with %s leaks the key (%q) in %q", tc.name, verb, r, out)
				}
			}
		}
	}
}
