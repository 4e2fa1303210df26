package hsv3

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// testRand returns a deterministic random source.
func testRand(seed byte) *rand.ChaCha8 {
	return rand.NewChaCha8([32]byte{seed})
}

// vectorIntroPoints returns the six intro points of the arti descriptors
// (valid at hsdesc1Now) and stem's intro points, legacy ones included.
func vectorIntroPoints(t testing.TB) (arti, stem []IntroPoint) {
	t.Helper()
	d1, err := DecodeBlinded(readVector(t, "arti_hsdesc1.txt"), unhex(t, hsdesc1Blind), unhex32(t, hsdesc1Sub), DecodeOptions{Now: hsdesc1Now})
	if err != nil {
		t.Fatal(err)
	}
	inner2, _, err := parseInner(readVector(t, "arti_hsdesc2_inner.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	inner3, _, err := parseInner(readVector(t, "stem_hidden_service_v3_inner_layer.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return append(d1.IntroPoints(), inner2.IntroPoints...), inner3.IntroPoints
}

func cycleIntroPoints(ips []IntroPoint, n int) []IntroPoint {
	out := make([]IntroPoint, n)
	for i := range out {
		out[i] = ips[i%len(ips)]
	}
	return out
}

func testIdentity(t testing.TB) *IdentityKey {
	t.Helper()
	k, err := GenerateIdentityKey(testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	identity := testIdentity(t)
	ips := cycleIntroPoints(arti, MaxIntroPoints)
	now := hsdesc1Now
	const period, length = 19382, 1440
	params := EncodeParams{
		Identity:        identity,
		PeriodNum:       period,
		PeriodLength:    length,
		RevisionCounter: 123456789,
		IntroPoints:     ips,
		FlowControl:     "1-2 31",
		Now:             now,
		Rand:            testRand(2),
	}
	raw, err := Encode(params)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 intro points: %d bytes", len(raw))
	if len(raw) >= DefaultMaxDescriptorSize {
		t.Errorf("descriptor is %d bytes, not below %d", len(raw), DefaultMaxDescriptorSize)
	}
	if !bytes.HasSuffix(raw, []byte("\n")) || !bytes.HasPrefix(raw, []byte("hs-descriptor 3\ndescriptor-lifetime 180\n")) {
		t.Error("descriptor framing differs from C tor's")
	}

	d, err := Decode(raw, identity.PublicKey(), period, length, DecodeOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if d.RevisionCounter != params.RevisionCounter || d.LifetimeMinutes != 180 {
		t.Errorf("rev %d lifetime %d", d.RevisionCounter, d.LifetimeMinutes)
	}
	wantHours := uint32((now.Unix() + 54*3600 + 3599) / 3600)
	if d.SigningKeyCert.ExpirationHours != wantHours {
		t.Errorf("signing cert expiry %d, want %d", d.SigningKeyCert.ExpirationHours, wantHours)
	}
	blinded, _ := BlindPublicKey(identity.PublicKey(), period, length)
	if !bytes.Equal(d.BlindedKey, blinded) {
		t.Error("blinded key differs")
	}
	if n := len(d.MiddlePlaintext); n%10000 != 0 || n < 20000 {
		t.Errorf("first layer plaintext is %d bytes, want a multiple of 10000", n)
	}
	text, _ := layerText(d.MiddlePlaintext, "middle")
	if want := (len(text) + 9999) / 10000 * 10000; len(d.MiddlePlaintext) != want {
		t.Errorf("first layer padded to %d, want %d (text %d)", len(d.MiddlePlaintext), want, len(text))
	}
	if bytes.HasSuffix(text, []byte("\n")) {
		t.Error("middle layer ends with a newline; C tor writes none")
	}
	if d.Middle.AuthType != "x25519" || len(d.Middle.AuthClients) != 16 {
		t.Errorf("middle: %q, %d auth-client lines", d.Middle.AuthType, len(d.Middle.AuthClients))
	}
	if !bytes.HasPrefix(d.InnerPlaintext, []byte("create2-formats 2\nflow-control 1-2 31\nintroduction-point ")) {
		t.Errorf("inner layer starts %q", d.InnerPlaintext[:60])
	}
	if len(d.SkippedIntroPoints) != 0 {
		t.Fatalf("skipped: %v", d.SkippedIntroPoints)
	}
	got := d.IntroPoints()
	if len(got) != len(ips) {
		t.Fatalf("%d intro points, want %d", len(got), len(ips))
	}
	for i := range ips {
		assertSameIntroPoint(t, i, got[i], ips[i], d.SigningKey)
	}

	// The inner layer is exactly what the writer makes of the decoded one.
	if !bytes.Equal(d.Inner.marshal(), d.InnerPlaintext) {
		t.Error("inner layer is not in the writer's format")
	}
	// Deterministic for a given random source; fresh keys otherwise.
	params.Rand = testRand(2)
	again, _ := Encode(params)
	if !bytes.Equal(again, raw) {
		t.Error("same inputs and random source gave different descriptors")
	}
	params.Rand = testRand(3)
	other, _ := Encode(params)
	if bytes.Equal(other, raw) {
		t.Error("different random source gave the same descriptor")
	}
}

// assertSameIntroPoint checks a re-certified intro point against the
// original: copied fields equal, certificates re-issued by signingKey.
func assertSameIntroPoint(t *testing.T, i int, got, want IntroPoint, signingKey ed25519.PublicKey) {
	t.Helper()
	if !bytes.Equal(got.LinkSpecifiersRaw, want.LinkSpecifiersRaw) || got.OnionKey != want.OnionKey || got.EncKey != want.EncKey {
		t.Errorf("intro %d: copied fields differ", i)
	}
	for _, c := range []struct{ got, want *Cert }{{got.AuthKeyCert, want.AuthKeyCert}, {got.EncKeyCert, want.EncKeyCert}} {
		if c.got.Type != c.want.Type || !c.got.CertifiedKey.Equal(c.want.CertifiedKey) || c.got.ExpirationHours != c.want.ExpirationHours {
			t.Errorf("intro %d: %s cert: type/key/expiry differ", i, c.want.Type)
		}
		if !c.got.SigningKey.Equal(signingKey) || c.got.Verify(signingKey) != nil {
			t.Errorf("intro %d: %s cert not signed by the descriptor signing key", i, c.want.Type)
		}
	}
	if got.HasLegacyKey() {
		t.Errorf("intro %d has a legacy key", i)
	}
}

func TestEncodeLimits(t *testing.T) {
	arti, stem := vectorIntroPoints(t)
	identity := testIdentity(t)
	base := EncodeParams{Identity: identity, PeriodNum: 1, PeriodLength: 1440, RevisionCounter: 1, Now: hsdesc1Now}

	p := base
	p.Rand, p.IntroPoints = testRand(4), cycleIntroPoints(arti, MaxIntroPoints+1)
	if _, err := Encode(p); !errors.Is(err, ErrTooManyIntroPoints) {
		t.Errorf("21 intro points: err = %v, want ErrTooManyIntroPoints", err)
	}

	// Legacy intro points are dropped, so 20 + 2 legacy is fine.
	var legacy []IntroPoint
	for _, ip := range stem {
		if ip.HasLegacyKey() {
			legacy = append(legacy, ip)
		}
	}
	if len(legacy) != 2 {
		t.Fatalf("%d legacy intro points in stem's vector, want 2", len(legacy))
	}
	p.Rand, p.IntroPoints = testRand(4), append(cycleIntroPoints(arti, MaxIntroPoints), legacy...)
	raw, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(raw, identity.PublicKey(), 1, 1440, DecodeOptions{Now: hsdesc1Now})
	if err != nil || len(d.IntroPoints()) != MaxIntroPoints {
		t.Fatalf("legacy dropped: %v", err)
	}

	p.Rand, p.MaxSize = testRand(4), len(raw)
	if _, err := Encode(p); !errors.Is(err, ErrTooLarge) {
		t.Errorf("max size = length: err = %v, want ErrTooLarge", err)
	}
	p.Rand, p.MaxSize = testRand(4), len(raw)+1
	if _, err := Encode(p); err != nil {
		t.Errorf("max size = length+1: %v", err)
	}

	// Zero intro points still makes a valid descriptor.
	p = base
	p.Rand = testRand(5)
	raw, err = Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := Decode(raw, identity.PublicKey(), 1, 1440, DecodeOptions{Now: hsdesc1Now}); err != nil || len(d.IntroPoints()) != 0 || len(d.MiddlePlaintext) != 10000 {
		t.Fatalf("empty descriptor: %v", err)
	}

	for name, fc := range map[string]string{"one arg": "1-2", "bad sendme": "1-2 x", "newline": "1-2 31\nx y"} {
		p.Rand, p.FlowControl = testRand(6), fc
		if _, err := Encode(p); err == nil {
			t.Errorf("flow-control %s (%q) accepted", name, fc)
		}
	}
	p.FlowControl = ""
	p.Rand = nil
	if _, err := Encode(p); err == nil {
		t.Error("nil Rand accepted")
	}
}

func TestPadSuperencrypted(t *testing.T) {
	for _, c := range []struct{ in, want int }{{1, 10000}, {9999, 10000}, {10000, 10000}, {10001, 20000}, {29999, 30000}} {
		text := bytes.Repeat([]byte("a"), c.in)
		got := padSuperencrypted(text)
		if len(got) != c.want || !bytes.Equal(got[:c.in], text) || bytes.ContainsFunc(got[c.in:], func(r rune) bool { return r != 0 }) {
			t.Errorf("pad(%d) = %d bytes, want %d", c.in, len(got), c.want)
		}
	}
}

// TestDecodeForAddressFindsPeriod checks the period search on descriptors
// for the real network and for test networks.
func TestDecodeForAddressFindsPeriod(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	identity := testIdentity(t)
	now := hsdesc1Now
	cases := []struct {
		name           string
		length, offset uint64 // minutes
		delta          int64  // descriptor for the current period + delta
	}{
		{"real current", 1440, 720, 0},
		{"real next", 1440, 720, 1},
		{"real previous", 1440, 720, -1},
		{"testnet vi=20s next", 8, 4, 1},
		{"testnet vi=10s", 4, 2, 0},
		{"testnet vi=300s previous", 120, 60, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := (uint64(now.Unix())/60 - c.offset) / c.length
			period := uint64(int64(cur) + c.delta)
			raw, err := Encode(EncodeParams{Identity: identity, PeriodNum: period, PeriodLength: c.length, RevisionCounter: 7,
				IntroPoints: arti[:2], Now: now, Rand: testRand(7)})
			if err != nil {
				t.Fatal(err)
			}
			d, err := DecodeForAddress(raw, strings.ToUpper(identity.Address())+".onion", DecodeOptions{Now: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if d.PeriodNum != period || d.PeriodLength != c.length {
				t.Errorf("found period %d/%d, want %d/%d", d.PeriodNum, d.PeriodLength, period, c.length)
			}
		})
	}
	// A period far from the certificate's creation time is not found.
	raw, err := Encode(EncodeParams{Identity: identity, PeriodNum: 5, PeriodLength: 1440, Now: now, Rand: testRand(8)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeForAddress(raw, identity.Address(), DecodeOptions{Now: now}); !errors.Is(err, ErrWrongService) {
		t.Errorf("far period: err = %v, want ErrWrongService", err)
	}
}

// TestEncodeHandBuiltCerts encodes intro points whose certificates carry
// only the certified key and expiry, as the publisher stores them.
func TestEncodeHandBuiltCerts(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	var ips []IntroPoint
	for _, ip := range arti {
		ips = append(ips, IntroPoint{
			LinkSpecifiersRaw: ip.LinkSpecifiersRaw,
			OnionKey:          ip.OnionKey,
			EncKey:            ip.EncKey,
			AuthKeyCert:       &Cert{CertifiedKey: ip.AuthKeyCert.CertifiedKey, ExpirationHours: ip.AuthKeyCert.ExpirationHours},
			EncKeyCert:        &Cert{CertifiedKey: ip.EncKeyCert.CertifiedKey, ExpirationHours: ip.EncKeyCert.ExpirationHours},
		})
	}
	identity := testIdentity(t)
	raw, err := Encode(EncodeParams{Identity: identity, PeriodNum: 9, PeriodLength: 1440, Now: hsdesc1Now, Rand: testRand(14), IntroPoints: ips})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(raw, identity.PublicKey(), 9, 1440, DecodeOptions{Now: hsdesc1Now})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.IntroPoints()) != len(arti) {
		t.Fatalf("%d intro points, want %d", len(d.IntroPoints()), len(arti))
	}
	for i := range arti {
		assertSameIntroPoint(t, i, d.IntroPoints()[i], arti[i], d.SigningKey)
	}

	ips[0].EncKeyCert = &Cert{CertifiedKey: make([]byte, 5)}
	if _, err := Encode(EncodeParams{Identity: identity, PeriodNum: 9, PeriodLength: 1440, Now: hsdesc1Now, Rand: testRand(14), IntroPoints: ips}); err == nil {
		t.Error("5-byte certified key accepted")
	}
}

// TestDecodeOuter reads the revision counter of a descriptor without decrypting it, and only when the
// descriptor is signed through the blinded key asked for.
func TestDecodeOuter(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	identity := testIdentity(t)
	now := hsdesc1Now
	const rev = 1<<40 + 3
	raw, err := Encode(EncodeParams{Identity: identity, PeriodNum: 19382, PeriodLength: 1440, RevisionCounter: rev,
		IntroPoints: arti[:2], Now: now, Rand: testRand(9)})
	if err != nil {
		t.Fatal(err)
	}
	blinded, err := BlindPublicKey(identity.PublicKey(), 19382, 1440)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeOuter(raw, blinded, DecodeOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if d.RevisionCounter != rev || d.LifetimeMinutes != DefaultLifetimeMinutes || d.Inner != nil {
		t.Errorf("revision %d lifetime %d inner %v, want %d %d nil", d.RevisionCounter, d.LifetimeMinutes, d.Inner, uint64(rev), DefaultLifetimeMinutes)
	}
	other, _ := BlindPublicKey(identity.PublicKey(), 19383, 1440)
	if _, err := DecodeOuter(raw, other, DecodeOptions{Now: now}); !errors.Is(err, ErrWrongService) {
		t.Errorf("other period's blinded key: err = %v, want ErrWrongService", err)
	}
	forged := bytes.Replace(raw, []byte(fmt.Sprintf("revision-counter %d\n", uint64(rev))), []byte("revision-counter 99999999999999\n"), 1)
	if _, err := DecodeOuter(forged, blinded, DecodeOptions{Now: now}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed revision counter: err = %v, want ErrBadSignature", err)
	}
}
