package hsv3

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"testing"
)

func testClientKeys(t *testing.T, n int) []*ecdh.PrivateKey {
	t.Helper()
	r := testRand(byte(n))
	out := make([]*ecdh.PrivateKey, n)
	for i := range out {
		k, err := ecdh.X25519().GenerateKey(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = k
	}
	return out
}

// TestEncodeAuthorizedClients checks restricted discovery end to end in the engine: the padded
// number of auth-client lines (C tor's rule, see AuthClientLines), that every authorized client
// decrypts the descriptor and that anyone else cannot.
func TestEncodeAuthorizedClients(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	identity := testIdentity(t)
	outsider := testClientKeys(t, 40)[39]
	for _, tc := range []struct{ clients, lines int }{{0, 16}, {1, 16}, {15, 16}, {16, 16}, {17, 32}, {32, 32}, {33, 48}} {
		keys := testClientKeys(t, tc.clients)
		var pubs []*ecdh.PublicKey
		for _, k := range keys {
			pubs = append(pubs, k.PublicKey())
		}
		raw, err := Encode(EncodeParams{Identity: identity, PeriodNum: 19382, PeriodLength: 1440, RevisionCounter: 7,
			IntroPoints: arti[:3], Now: hsdesc1Now, Rand: testRand(3), AuthorizedClients: pubs})
		if err != nil {
			t.Fatalf("%d clients: %v", tc.clients, err)
		}
		opts := DecodeOptions{Now: hsdesc1Now}
		d, err := Decode(raw, identity.PublicKey(), 19382, 1440, opts)
		if tc.clients == 0 {
			if err != nil {
				t.Fatalf("no clients: decode without a client key: %v", err)
			}
		} else if err == nil || errors.Is(err, ErrNotAuthorized) {
			t.Fatalf("%d clients: decode without a client key: err = %v, want a decryption failure", tc.clients, err)
		}
		// The middle layer is readable by anyone who knows the address.
		d, err = Decode(raw, identity.PublicKey(), 19382, 1440, DecodeOptions{Now: hsdesc1Now, ClientKey: outsider})
		if tc.clients > 0 {
			if !errors.Is(err, ErrNotAuthorized) {
				t.Fatalf("%d clients: outsider: err = %v, want ErrNotAuthorized", tc.clients, err)
			}
		} else if err != nil {
			t.Fatalf("no clients: outsider key: %v", err)
		}
		if tc.clients == 0 && len(d.Middle.AuthClients) != tc.lines {
			t.Errorf("no clients: %d auth-client lines, want %d", len(d.Middle.AuthClients), tc.lines)
		}
		for i, k := range keys {
			d, err := Decode(raw, identity.PublicKey(), 19382, 1440, DecodeOptions{Now: hsdesc1Now, ClientKey: k})
			if err != nil {
				t.Fatalf("%d clients: client %d: %v", tc.clients, i, err)
			}
			if len(d.IntroPoints()) != 3 || len(d.DescriptorCookie) != DescriptorCookieSize {
				t.Fatalf("%d clients: client %d: %d intro points, cookie %d bytes", tc.clients, i, len(d.IntroPoints()), len(d.DescriptorCookie))
			}
			if got := len(d.Middle.AuthClients); got != tc.lines {
				t.Errorf("%d clients: %d auth-client lines, want %d", tc.clients, got, tc.lines)
			}
			if got := bytes.Count(d.MiddlePlaintext, []byte("\nauth-client ")); got != tc.lines {
				t.Errorf("%d clients: middle layer text has %d auth-client lines, want %d", tc.clients, got, tc.lines)
			}
		}
	}
}

// TestAuthClientLines is C tor's padding rule.
func TestAuthClientLines(t *testing.T) {
	for n, want := range map[int]int{0: 16, 1: 16, 16: 16, 17: 32, 31: 32, 32: 32, 100: 112} {
		if got := AuthClientLines(n); got != want {
			t.Errorf("AuthClientLines(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestEncodeMaxAuthorizedClientsFits: MaxAuthorizedClients clients and 20 intro points stay below the
// default maximum descriptor size; the next multiple of 16 does not.
func TestEncodeMaxAuthorizedClientsFits(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	identity := testIdentity(t)
	keys := testClientKeys(t, MaxAuthorizedClients+authClientMultiple)
	var pubs []*ecdh.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.PublicKey())
	}
	p := EncodeParams{Identity: identity, PeriodNum: 19382, PeriodLength: 1440, RevisionCounter: 7,
		IntroPoints: cycleIntroPoints(arti, MaxIntroPoints), Now: hsdesc1Now, Rand: testRand(3)}
	p.AuthorizedClients = pubs[:MaxAuthorizedClients]
	raw, err := Encode(p)
	if err != nil {
		t.Fatalf("%d clients: %v", MaxAuthorizedClients, err)
	}
	t.Logf("%d clients, %d intro points: %d bytes", MaxAuthorizedClients, MaxIntroPoints, len(raw))
	p.AuthorizedClients = pubs
	if _, err := Encode(p); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d clients: err = %v, want ErrTooLarge", len(pubs), err)
	}
}
