package hsv3

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const systemPython = "/usr/bin/python3"

type stemSummary struct {
	RevisionCounter uint64 `json:"revision_counter"`
	Lifetime        int    `json:"lifetime"`
	Create2Formats  []int  `json:"create2_formats"`
	IntroPoints     []struct {
		LinkSpecifiers []string `json:"link_specifiers"`
		OnionKey       string   `json:"onion_key"`
		EncKey         string   `json:"enc_key"`
		AuthExpiry     uint32   `json:"auth_key_cert_expiry_hours"`
		LegacyKey      bool     `json:"legacy_key"`
	} `json:"intro_points"`
}

// stemDecode decodes a descriptor with stem (an independent implementation)
// through testdata/stem_decode.py.
func stemDecode(t *testing.T, raw []byte, address string) *stemSummary {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		t.Skipf("%s not available", systemPython)
	}
	path := filepath.Join(t.TempDir(), "descriptor")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, filepath.Join("testdata", "stem_decode.py"), path, address)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		t.Skipf("%s has no stem module", systemPython)
	}
	if err != nil {
		t.Fatalf("stem_decode.py: %v\n%s", err, stderrOf(err))
	}
	var s stemSummary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("stem_decode.py output %q: %v", out, err)
	}
	return &s
}

func stderrOf(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(exit.Stderr)
	}
	return ""
}

func TestStemDecodesEncodedDescriptor(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	identity := testIdentity(t)
	ips := cycleIntroPoints(arti, MaxIntroPoints)
	raw, err := Encode(EncodeParams{
		Identity: identity, PeriodNum: 19382, PeriodLength: 1440, RevisionCounter: 987654321,
		IntroPoints: ips, FlowControl: "1-2 31", Now: hsdesc1Now, Rand: testRand(9),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := stemDecode(t, raw, identity.Address()+".onion")
	if s.RevisionCounter != 987654321 || s.Lifetime != 180 {
		t.Errorf("stem: rev %d lifetime %d", s.RevisionCounter, s.Lifetime)
	}
	if len(s.Create2Formats) != 1 || s.Create2Formats[0] != 2 {
		t.Errorf("stem: create2-formats %v", s.Create2Formats)
	}
	if len(s.IntroPoints) != len(ips) {
		t.Fatalf("stem: %d intro points, want %d", len(s.IntroPoints), len(ips))
	}
	for i, sip := range s.IntroPoints {
		ip := ips[i]
		var want []string
		for _, ls := range ip.LinkSpecifiers {
			want = append(want, fmt.Sprintf("%02x%02x%x", ls.Type, len(ls.Data), ls.Data))
		}
		if fmt.Sprint(sip.LinkSpecifiers) != fmt.Sprint(want) {
			t.Errorf("intro %d: stem link specifiers %v, want %v", i, sip.LinkSpecifiers, want)
		}
		if sip.OnionKey != base64.StdEncoding.EncodeToString(ip.OnionKey[:]) || sip.EncKey != base64.StdEncoding.EncodeToString(ip.EncKey[:]) {
			t.Errorf("intro %d: stem keys differ", i)
		}
		if sip.AuthExpiry != ip.AuthKeyCert.ExpirationHours || sip.LegacyKey {
			t.Errorf("intro %d: stem auth cert expiry %d (want %d), legacy %v", i, sip.AuthExpiry, ip.AuthKeyCert.ExpirationHours, sip.LegacyKey)
		}
	}
}

// stemDecodeAuth decrypts a descriptor with restricted discovery with stem (testdata/stem_decode_auth.py)
// and the base32 client secret (none: ""). It returns the JSON summary, or ok false when stem could not
// decrypt the inner layer.
func stemDecodeAuth(t *testing.T, raw []byte, address, secret string) (authClients, introPoints int, ok bool) {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		t.Skipf("%s not available", systemPython)
	}
	path := filepath.Join(t.TempDir(), "descriptor")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{filepath.Join("testdata", "stem_decode_auth.py"), path, address}
	if secret != "" {
		args = append(args, secret)
	}
	out, err := exec.CommandContext(ctx, systemPython, args...).Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		t.Skipf("%s has no stem module", systemPython)
	case errors.As(err, &exit) && exit.ExitCode() == 4:
		t.Logf("stem: %s", exit.Stderr)
		return 0, 0, false
	case err != nil:
		t.Fatalf("stem_decode_auth.py: %v\n%s", err, stderrOf(err))
	}
	var s struct {
		AuthClients int `json:"auth_clients"`
		IntroPoints int `json:"intro_points"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("stem_decode_auth.py output %q: %v", out, err)
	}
	return s.AuthClients, s.IntroPoints, true
}

func TestStemDecryptsWithAuthorizedClient(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	identity := testIdentity(t)
	keys := testClientKeys(t, 17)
	var pubs []*ecdh.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.PublicKey())
	}
	raw, err := Encode(EncodeParams{Identity: identity, PeriodNum: 19382, PeriodLength: 1440, RevisionCounter: 5,
		IntroPoints: arti[:4], Now: hsdesc1Now, Rand: testRand(4), AuthorizedClients: pubs})
	if err != nil {
		t.Fatal(err)
	}
	addr := identity.Address() + ".onion"
	for _, i := range []int{0, 16} {
		n, ips, ok := stemDecodeAuth(t, raw, addr, EncodeX25519(keys[i].Bytes()))
		if !ok || n != 32 || ips != 4 {
			t.Errorf("stem with client %d: ok %v, %d auth-client lines, %d intro points; want 32 and 4", i, ok, n, ips)
		}
	}
	if _, _, ok := stemDecodeAuth(t, raw, addr, ""); ok {
		t.Error("stem decrypted the inner layer without a client key")
	}
	outsider := testClientKeys(t, 20)[19]
	if _, _, ok := stemDecodeAuth(t, raw, addr, EncodeX25519(outsider.Bytes())); ok {
		t.Error("stem decrypted the inner layer with a key that is not authorized")
	}
}
