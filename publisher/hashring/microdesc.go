package hashring

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Microdesc is the part of a microdescriptor the hash ring needs.
type Microdesc struct {
	// Digest is SHA-256 of the microdescriptor's exact text, from its
	// "onion-key" line through the newline ending its last line: the value
	// of the consensus "m" line.
	Digest [32]byte

	// Ed25519 is the relay's ed25519 identity ("id ed25519"), valid when
	// HasEd25519 is set. "id ed25519 none" leaves it unset.
	Ed25519    [32]byte
	HasEd25519 bool
}

// DigestBase64 returns the digest as the consensus writes it: base64
// without padding.
func (m *Microdesc) DigestBase64() string {
	return base64.RawStdEncoding.EncodeToString(m.Digest[:])
}

// ParseMicrodescs parses concatenated microdescriptors, as returned by
// GETINFO md/all or stored in tor's cached-microdescs.
//
// Each microdescriptor starts at an "onion-key" line (its RSA key object is
// optional) and runs to the next "onion-key" line, annotation line ("@...")
// or the end of the text. The digest covers exactly those bytes after
// CRLF line endings are turned into LF. Tor ends every microdescriptor with
// a newline; if the last one of the text lacks it (a transport trimmed it),
// the newline is put back before hashing.
//
// Lines before the first "onion-key" may only be blank or annotations.
// Unknown lines are ignored. Errors are *ParseError values wrapping
// ErrMalformed.
func ParseMicrodescs(text []byte) ([]Microdesc, error) {
	norm := normalize(text)
	s := newScanner("microdescriptor", string(norm))
	var (
		mds   []Microdesc
		cur   *Microdesc
		begin int  // offset of cur's onion-key line
		hasID bool // cur had an "id ed25519" line
	)
	finish := func(end int) {
		if cur != nil {
			cur.Digest = digestMicrodesc(norm[begin:end])
			cur = nil
		}
	}
	for s.scan() {
		switch {
		case s.keyword == "onion-key":
			finish(s.start)
			mds = append(mds, Microdesc{})
			cur, begin, hasID = &mds[len(mds)-1], s.start, false
		case strings.HasPrefix(s.keyword, "@"):
			finish(s.start)
		case cur == nil:
			return nil, s.errorf("line outside a microdescriptor (want onion-key first)")
		case s.keyword == "id":
			if err := s.needArgs(2); err != nil {
				return nil, err
			}
			if s.args[0] != "ed25519" {
				continue // other identity types: ignore
			}
			if hasID {
				return nil, s.errorf("two ed25519 identities in one microdescriptor")
			}
			hasID = true
			if s.args[1] == "none" {
				continue
			}
			if err := decodeBase64(cur.Ed25519[:], s.args[1]); err != nil {
				return nil, s.errorf("bad ed25519 identity: %w", err)
			}
			cur.HasEd25519 = true
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	finish(len(norm))
	return mds, nil
}

// digestMicrodesc hashes one microdescriptor's text, restoring a missing
// final newline.
func digestMicrodesc(body []byte) [32]byte {
	if len(body) > 0 && body[len(body)-1] == '\n' {
		return sha256.Sum256(body)
	}
	h := sha256.New()
	h.Write(body)
	h.Write([]byte{'\n'})
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// AttachMicrodescs sets each relay's ed25519 identity from the
// microdescriptor whose digest its "m" line names, and clears it for relays
// without one. It returns how many relays found their microdescriptor.
// Call it again with a fresh set whenever tor has learned more.
func (c *Consensus) AttachMicrodescs(mds []Microdesc) int {
	byDigest := make(map[[32]byte]*Microdesc, len(mds))
	for i := range mds {
		byDigest[mds[i].Digest] = &mds[i]
	}
	matched := 0
	for i := range c.Relays {
		r := &c.Relays[i]
		md, ok := byDigest[r.MicrodescDigest]
		if ok {
			matched++
		}
		r.HasEd25519 = ok && md.HasEd25519
		r.Ed25519 = [32]byte{}
		if r.HasEd25519 {
			r.Ed25519 = md.Ed25519
		}
	}
	return matched
}
