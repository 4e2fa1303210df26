package hashring

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"
)

// synthRelay is one relay of a generated network.
type synthRelay struct {
	nickname string
	identity [20]byte
	ed25519  [32]byte
	hsdir    bool   // HSDir flag
	pr       string // HSDir entry of the pr line, e.g. "HSDir=2"
}

// synthNetwork describes a generated consensus.
type synthNetwork struct {
	validAfter     time.Time
	votingInterval time.Duration
	previousSRV    *[32]byte
	currentSRV     *[32]byte
	params         string // params line arguments, may be empty
	relays         []synthRelay
}

// microdesc returns the microdescriptor text of relay r, shaped like the
// ones tor writes (the RSA object is present on every other relay).
func (r synthRelay) microdesc(i int) []byte {
	var b bytes.Buffer
	b.WriteString("onion-key\n")
	if i%2 == 0 {
		b.WriteString("-----BEGIN RSA PUBLIC KEY-----\n")
		b.WriteString("MIGJAoGBAOqDuiB7MpqHMbln9e6HybPqHgIW1Nen5txvFBNhvCq6G+iO/yJTU9jE\n")
		b.WriteString("-----END RSA PUBLIC KEY-----\n")
	}
	ntor := sha256.Sum256(r.ed25519[:])
	fmt.Fprintf(&b, "ntor-onion-key %s\n", base64.RawStdEncoding.EncodeToString(ntor[:]))
	fmt.Fprintf(&b, "id ed25519 %s\n", base64.RawStdEncoding.EncodeToString(r.ed25519[:]))
	return b.Bytes()
}

// build returns the consensus text and the concatenated microdescriptors
// (GETINFO md/all style).
func (n synthNetwork) build() (consensus, mds []byte) {
	const layout = "2006-01-02 15:04:05"
	var c, m bytes.Buffer
	c.WriteString("network-status-version 3 microdesc\n")
	c.WriteString("vote-status consensus\nconsensus-method 35\n")
	fmt.Fprintf(&c, "valid-after %s\n", n.validAfter.UTC().Format(layout))
	fmt.Fprintf(&c, "fresh-until %s\n", n.validAfter.Add(n.votingInterval).UTC().Format(layout))
	fmt.Fprintf(&c, "valid-until %s\n", n.validAfter.Add(3*n.votingInterval).UTC().Format(layout))
	c.WriteString("known-flags Fast Guard HSDir Running Stable V2Dir Valid\n")
	if n.params != "" {
		fmt.Fprintf(&c, "params %s\n", n.params)
	}
	if n.previousSRV != nil {
		fmt.Fprintf(&c, "shared-rand-previous-value 9 %s\n", base64.StdEncoding.EncodeToString(n.previousSRV[:]))
	}
	if n.currentSRV != nil {
		fmt.Fprintf(&c, "shared-rand-current-value 9 %s\n", base64.StdEncoding.EncodeToString(n.currentSRV[:]))
	}
	for i, r := range n.relays {
		md := r.microdesc(i)
		m.Write(md)
		digest := sha256.Sum256(md)
		fmt.Fprintf(&c, "r %s %s 2038-01-01 00:00:00 10.%d.%d.%d 443 0\n",
			r.nickname, base64.RawStdEncoding.EncodeToString(r.identity[:]), i>>16&0xff, i>>8&0xff, i&0xff)
		fmt.Fprintf(&c, "m %s\n", base64.RawStdEncoding.EncodeToString(digest[:]))
		flags := "Fast Running Stable V2Dir Valid"
		if r.hsdir {
			flags = "Fast HSDir Running Stable V2Dir Valid"
		}
		fmt.Fprintf(&c, "s %s\nv Tor 0.4.9.5\n", flags)
		fmt.Fprintf(&c, "pr Cons=1-2 Desc=1-4 DirCache=2 FlowCtrl=1-2 %s HSIntro=4-5 Link=3-5\nw Bandwidth=1000\n", r.pr)
	}
	c.WriteString("directory-footer\nbandwidth-weights Wbd=0\n")
	c.WriteString("directory-signature sha256 0232AF901C31A04EE9848595AF9BB7620D4C5B2E 0232AF901C31A04EE9848595AF9BB7620D4C5B2E\n")
	c.WriteString("-----BEGIN SIGNATURE-----\nAAAA\n-----END SIGNATURE-----\n")
	return c.Bytes(), m.Bytes()
}

// onionbalanceNetwork is the 255-relay network of OnionBalance's hash-ring
// test: relay i has fingerprint byte(i)x20 and ed25519 id byte(i)x32.
func onionbalanceNetwork(validAfter time.Time, prev, cur [32]byte) synthNetwork {
	n := synthNetwork{validAfter: validAfter, votingInterval: time.Hour, previousSRV: &prev, currentSRV: &cur}
	for i := 1; i <= 255; i++ {
		var r synthRelay
		r.nickname = fmt.Sprintf("node%d", i)
		for j := range r.identity {
			r.identity[j] = byte(i)
		}
		for j := range r.ed25519 {
			r.ed25519[j] = byte(i)
		}
		r.hsdir, r.pr = true, "HSDir=2"
		n.relays = append(n.relays, r)
	}
	return n
}

// largeNetwork is a network of n relays with pseudo-random keys; two in
// three are v3 HSDirs.
func largeNetwork(n int) synthNetwork {
	prev, cur := sha256.Sum256([]byte("previous")), sha256.Sum256([]byte("current"))
	net := synthNetwork{
		validAfter:     time.Date(2026, 7, 27, 15, 0, 0, 0, time.UTC),
		votingInterval: time.Hour,
		previousSRV:    &prev,
		currentSRV:     &cur,
		params:         "hsdir_spread_store=4 sendme_accept_min_version=1",
	}
	for i := range n {
		seed := sha256.Sum256(fmt.Appendf(nil, "relay %d", i))
		var r synthRelay
		r.nickname = fmt.Sprintf("relay%d", i)
		copy(r.identity[:], seed[:20])
		r.ed25519 = sha256.Sum256(seed[:])
		r.hsdir = i%3 != 0
		r.pr = "HSDir=1-2"
		net.relays = append(net.relays, r)
	}
	return net
}
