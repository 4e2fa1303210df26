package obhost

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
)

// testNetwork is a synthetic Tor network valid now: a microdesc consensus with HSDirs and their
// microdescriptors, and backend onion services whose descriptors a fake tor serves.
// TODO(issue 15): use the publisher's importable fakes once they exist, instead of this copy.
type testNetwork struct {
	consensus, mds []byte
	slot           hashring.TimePeriod
	backends       []*hsv3.IdentityKey
	descs          map[string][]byte // by backend address
}

func newTestNetwork(t *testing.T, hsdirs, backends int) *testNetwork {
	t.Helper()
	b64 := base64.RawStdEncoding
	validAfter := time.Now().UTC().Truncate(time.Hour)
	var cons, mds strings.Builder
	f := func(format string, a ...any) { fmt.Fprintf(&cons, format+"\n", a...) }
	f("network-status-version 3 microdesc")
	f("vote-status consensus")
	f("consensus-method 35")
	f("valid-after %s", validAfter.Format("2006-01-02 15:04:05"))
	f("fresh-until %s", validAfter.Add(time.Hour).Format("2006-01-02 15:04:05"))
	f("valid-until %s", validAfter.Add(3*time.Hour).Format("2006-01-02 15:04:05"))
	f("voting-delay 4 4")
	f("known-flags Authority Exit Fast Guard HSDir Running Stable V2Dir Valid")
	f("params hsdir_spread_store=4")
	f("shared-rand-previous-value 9 %s", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f("shared-rand-current-value 9 %s", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x07", 32))))
	for i := range hsdirs {
		ed, ntor, id := make([]byte, 32), make([]byte, 32), make([]byte, 20)
		rand.Read(ed)
		rand.Read(ntor)
		rand.Read(id)
		md := fmt.Sprintf("onion-key\nntor-onion-key %s\nid ed25519 %s\n", b64.EncodeToString(ntor), b64.EncodeToString(ed))
		mds.WriteString(md)
		digest := sha256.Sum256([]byte(md))
		f("r relay%d %s 2038-01-01 00:00:00 127.0.0.1 %d 0", i, b64.EncodeToString(id), 5000+i)
		f("m %s", b64.EncodeToString(digest[:]))
		f("s Fast Guard HSDir Running Stable V2Dir Valid")
		f("v Tor 0.4.9.11")
		f("pr Cons=1-2 Desc=1-4 DirCache=2 FlowCtrl=1-2 HSDir=2 HSIntro=4-5 HSRend=1-2 Link=3-5 Microdesc=1-3 Relay=2-4")
		f("w Bandwidth=100")
	}
	f("directory-footer")
	n := &testNetwork{consensus: []byte(cons.String()), mds: []byte(mds.String()), descs: map[string][]byte{}}
	c, err := hashring.ParseConsensus(n.consensus)
	if err != nil {
		t.Fatal(err)
	}
	n.slot = c.ClientTimePeriod()
	for range backends {
		k, err := hsv3.GenerateIdentityKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		n.backends = append(n.backends, k)
		n.descs[k.Address()] = backendDescriptor(t, k, n.slot, 3)
	}
	return n
}

// backendDescriptor is a backend's descriptor for slot with n fresh intro points.
func backendDescriptor(t *testing.T, k *hsv3.IdentityKey, slot hashring.TimePeriod, n int) []byte {
	t.Helper()
	now := time.Now()
	exp := uint32(now.Add(54*time.Hour).Unix()/3600) + 1
	var intros []hsv3.IntroPoint
	for i := range n {
		authPub, _, _ := ed25519.GenerateKey(rand.Reader)
		encPub, _, _ := ed25519.GenerateKey(rand.Reader)
		// 127.0.0.1:5000+i and a random relay identity, so that no two intro points share a relay.
		lspecs := []byte{2, 0, 6, 127, 0, 0, 1, 0x13, byte(0x88 + i), 2, 20}
		lspecs = append(lspecs, make([]byte, 20)...)
		rand.Read(lspecs[len(lspecs)-20:])
		ls, err := hsv3.ParseLinkSpecifiers(lspecs)
		if err != nil {
			t.Fatal(err)
		}
		ip := hsv3.IntroPoint{LinkSpecifiersRaw: lspecs, LinkSpecifiers: ls,
			AuthKeyCert: &hsv3.Cert{Type: hsv3.CertTypeIntroAuth, CertifiedKey: authPub, ExpirationHours: exp},
			EncKeyCert:  &hsv3.Cert{Type: hsv3.CertTypeIntroEnc, CertifiedKey: encPub, ExpirationHours: exp}}
		rand.Read(ip.OnionKey[:])
		rand.Read(ip.EncKey[:])
		intros = append(intros, ip)
	}
	d, err := hsv3.Encode(hsv3.EncodeParams{Identity: k, PeriodNum: slot.Period, PeriodLength: slot.PeriodLength,
		RevisionCounter: 100, IntroPoints: intros, Now: now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// serve makes tor answer as a bootstrapped tor of this network: consensus, microdescriptors and the
// backends' descriptors.
func (n *testNetwork) serve(tor *torctltest.Server) {
	tor.SetInfo("dir/status-vote/current/consensus-microdesc", string(n.consensus))
	tor.SetInfo("md/all", string(n.mds))
	tor.SetInfo("status/bootstrap-phase", `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`)
	for addr, d := range n.descs {
		tor.SetDescriptor(addr, d)
	}
}
