package publishertest

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// Backend is a backend onion service whose descriptor Tor serves.
type Backend struct {
	Key    *hsv3.IdentityKey
	Intros []hsv3.IntroPoint
	Rev    uint64 // the revision counter of its descriptor
	// AuthorizedClients, when set, gives the backend restricted discovery: only these client keys
	// decrypt its descriptor.
	AuthorizedClients []*ecdh.PublicKey
}

// NewBackend returns a backend with a new key and nIntros intro points.
func NewBackend(t testing.TB, nIntros int, now time.Time) *Backend {
	t.Helper()
	k, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := &Backend{Key: k, Rev: 100}
	b.NewIntros(t, nIntros, now)
	return b
}

// NewIntros gives the backend n fresh intro points (each on its own relay), as tor does when it
// rotates them, and raises its revision counter.
func (b *Backend) NewIntros(t testing.TB, n int, now time.Time) {
	t.Helper()
	b.Intros = nil
	exp := uint32(now.Add(54*time.Hour).Unix()/3600) + 1
	for i := 0; i < n; i++ {
		authPub, _, _ := ed25519.GenerateKey(rand.Reader)
		encPub, _, _ := ed25519.GenerateKey(rand.Reader)
		// Two link specifiers, as tor writes them: 127.0.0.1:5000+i and a random relay identity, so
		// that no two intro points share a relay.
		lspecs := []byte{2, 0, 6, 127, 0, 0, 1, 0x13, byte(0x88 + i), 2, 20}
		lspecs = append(lspecs, make([]byte, 20)...)
		rand.Read(lspecs[len(lspecs)-20:])
		ip := hsv3.IntroPoint{
			LinkSpecifiersRaw: lspecs,
			AuthKeyCert:       &hsv3.Cert{Type: hsv3.CertTypeIntroAuth, CertifiedKey: authPub, ExpirationHours: exp},
			EncKeyCert:        &hsv3.Cert{Type: hsv3.CertTypeIntroEnc, CertifiedKey: encPub, ExpirationHours: exp},
		}
		rand.Read(ip.OnionKey[:])
		rand.Read(ip.EncKey[:])
		ls, err := hsv3.ParseLinkSpecifiers(ip.LinkSpecifiersRaw)
		if err != nil {
			t.Fatal(err)
		}
		ip.LinkSpecifiers = ls
		b.Intros = append(b.Intros, ip)
	}
	b.Rev++
}

// Descriptor returns the backend's signed descriptor for time period tp.
func (b *Backend) Descriptor(t testing.TB, tp hashring.TimePeriod, now time.Time) []byte {
	t.Helper()
	d, err := hsv3.Encode(hsv3.EncodeParams{Identity: b.Key, PeriodNum: tp.Period, PeriodLength: tp.PeriodLength,
		RevisionCounter: b.Rev, IntroPoints: b.Intros, Now: now, Rand: rand.Reader, AuthorizedClients: b.AuthorizedClients})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
