package publishertest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

var b64 = base64.RawStdEncoding

// Network is a synthetic Tor network: a microdesc consensus with n HSDirs and their microdescriptors.
type Network struct {
	Consensus, Microdescs []byte
	ValidAfter            time.Time
}

// NewNetwork returns a network of n HSDirs whose consensus is valid from validAfter, with voting
// interval vi, hsdir_spread_store=4, an all-zero previous SRV and an all-7 current SRV.
func NewNetwork(t testing.TB, n int, validAfter time.Time, vi time.Duration) *Network {
	t.Helper()
	var cons, mds strings.Builder
	f := func(format string, a ...any) { fmt.Fprintf(&cons, format+"\n", a...) }
	f("network-status-version 3 microdesc")
	f("vote-status consensus")
	f("consensus-method 35")
	f("valid-after %s", validAfter.UTC().Format("2006-01-02 15:04:05"))
	f("fresh-until %s", validAfter.Add(vi).UTC().Format("2006-01-02 15:04:05"))
	f("valid-until %s", validAfter.Add(3*vi).UTC().Format("2006-01-02 15:04:05"))
	f("voting-delay 4 4")
	f("known-flags Authority Exit Fast Guard HSDir Running Stable V2Dir Valid")
	f("params hsdir_spread_store=4")
	f("shared-rand-previous-value 9 %s", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f("shared-rand-current-value 9 %s", base64.StdEncoding.EncodeToString(bytesOf(7, 32)))
	for i := 0; i < n; i++ {
		var ed [32]byte
		rand.Read(ed[:])
		var ntor [32]byte
		rand.Read(ntor[:])
		md := fmt.Sprintf("onion-key\nntor-onion-key %s\nid ed25519 %s\n", b64.EncodeToString(ntor[:]), b64.EncodeToString(ed[:]))
		mds.WriteString(md)
		digest := sha256.Sum256([]byte(md))
		id := make([]byte, 20)
		rand.Read(id)
		f("r relay%d %s 2038-01-01 00:00:00 127.0.0.1 %d 0", i, b64.EncodeToString(id), 5000+i)
		f("m %s", b64.EncodeToString(digest[:]))
		f("s Fast Guard HSDir Running Stable V2Dir Valid")
		f("v Tor 0.4.9.11")
		f("pr Cons=1-2 Desc=1-4 DirCache=2 FlowCtrl=1-2 HSDir=2 HSIntro=4-5 HSRend=1-2 Link=3-5 Microdesc=1-3 Relay=2-4")
		f("w Bandwidth=100")
	}
	f("directory-footer")
	return &Network{Consensus: []byte(cons.String()), Microdescs: []byte(mds.String()), ValidAfter: validAfter}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
