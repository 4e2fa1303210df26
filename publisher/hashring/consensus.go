package hashring

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Consensus is the part of a microdesc-flavour consensus that onion
// services use. ParseConsensus fills everything except the relays' ed25519
// identities, which come from the microdescriptors (AttachMicrodescs).
//
// A Consensus is not safe for concurrent mutation; once the microdescs are
// attached it is only read, and any number of goroutines may use it.
type Consensus struct {
	ValidAfter time.Time
	FreshUntil time.Time
	ValidUntil time.Time

	// Params holds the "params" line as given, unclamped. Use Param or the
	// typed accessors, which apply tor's defaults and bounds.
	Params map[string]int32

	// PreviousSRV and CurrentSRV are the shared random values, nil when the
	// consensus does not carry them (the disaster SRV is used instead).
	PreviousSRV *[32]byte
	CurrentSRV  *[32]byte

	// Relays are the router entries in consensus order.
	Relays []Relay

	// TestNetwork selects tor's TestingTorNetwork rule for the time-period
	// length (24 voting intervals instead of the hsdir_interval param).
	// Tor decides with its own TestingTorNetwork option, which a controller
	// cannot see, so ParseConsensus guesses: it sets TestNetwork when the
	// voting interval is shorter than an hour (the real network always
	// votes hourly; test networks vote every few seconds). A caller that
	// knows better may overwrite it before computing time periods or rings.
	TestNetwork bool
}

// Relay is one router entry of the consensus.
type Relay struct {
	Nickname        string
	Identity        [20]byte // RSA identity digest: the relay fingerprint
	MicrodescDigest [32]byte // SHA-256 of its microdescriptor ("m" line)

	HSDir         bool // "s" line has the HSDir flag
	NoEdConsensus bool // "s" line has NoEdConsensus: its ed25519 id is not trusted
	HSDirV3       bool // "pr" line lists HSDir=2

	// Ed25519 is the relay's ed25519 identity from its microdescriptor,
	// valid when HasEd25519 is set (see AttachMicrodescs).
	Ed25519    [32]byte
	HasEd25519 bool
}

// Fingerprint returns the relay fingerprint as 40 uppercase hex characters,
// the form HSPOST and HSFETCH take in SERVER=.
func (r *Relay) Fingerprint() string {
	const digits = "0123456789ABCDEF"
	var b [2 * len(r.Identity)]byte
	for i, v := range r.Identity {
		b[2*i] = digits[v>>4]
		b[2*i+1] = digits[v&0x0f]
	}
	return string(b[:])
}

// hsdirV3 reports whether tor would place the relay on the v3 hash ring:
// HSDir flag, HSDir=2 protocol support and a known ed25519 identity.
func (r *Relay) hsdirV3() bool {
	return r.HSDir && r.HSDirV3 && r.HasEd25519 && !r.NoEdConsensus
}

// VotingInterval is fresh-until minus valid-after: one hour on the real
// network, a few seconds on test networks.
func (c *Consensus) VotingInterval() time.Duration {
	return c.FreshUntil.Sub(c.ValidAfter)
}

// ReasonablyLive reports whether tor would still use the consensus at now:
// from 24 hours before valid-after to 24 hours after valid-until
// (REASONABLY_LIVE_TIME).
func (c *Consensus) ReasonablyLive(now time.Time) bool {
	const slack = 24 * time.Hour
	return !now.Before(c.ValidAfter.Add(-slack)) && !now.After(c.ValidUntil.Add(slack))
}

const consensusTimeLayout = "2006-01-02 15:04:05"

// ParseConsensus parses a microdesc-flavour consensus, as returned by
// GETINFO dir/status-vote/current/consensus-microdesc. CRLF line endings
// and leading empty lines are accepted. Unknown lines are ignored;
// signatures are not checked (the local tor already did). Errors are
// *ParseError values wrapping ErrMalformed.
func ParseConsensus(text []byte) (*Consensus, error) {
	s := newScanner("consensus", string(normalize(text)))
	p := consensusParser{s: s, c: &Consensus{Params: map[string]int32{}}, seen: map[string]bool{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.c, nil
}

// consensusParser holds the state of one ParseConsensus call.
type consensusParser struct {
	s    *scanner
	c    *Consensus
	seen map[string]bool // header keywords already read

	relay      *Relay // entry being read, nil in the header and footer
	relayLine  int    // line of its "r"
	hasMD      bool   // it had an "m" line
	footer     bool   // "directory-footer" was read
	identities map[[20]byte]bool
}

func (p *consensusParser) parse() error {
	s := p.s
	if !s.scan() {
		if s.err != nil {
			return s.err
		}
		return &ParseError{Doc: s.doc, Line: 1, Err: errors.New("empty document")}
	}
	if s.keyword != "network-status-version" {
		return s.errorf("document must start with network-status-version")
	}
	if len(s.args) < 2 || s.args[0] != "3" || s.args[1] != "microdesc" {
		return s.errorf("want version 3 microdesc flavour, have %q", strings.Join(s.args, " "))
	}
	p.identities = map[[20]byte]bool{}
	for s.scan() {
		if err := p.line(); err != nil {
			return err
		}
	}
	if s.err != nil {
		return s.err
	}
	if err := p.endRelay(); err != nil {
		return err
	}
	return p.check()
}

// line handles the scanner's current line.
func (p *consensusParser) line() error {
	s := p.s
	switch s.keyword {
	case "r":
		return p.startRelay()
	case "directory-footer":
		p.footer = true
		return p.endRelay()
	}
	if p.relay != nil {
		return p.entryLine()
	}
	if p.footer {
		return nil
	}
	switch s.keyword {
	case "valid-after", "fresh-until", "valid-until", "params",
		"shared-rand-previous-value", "shared-rand-current-value":
		if p.seen[s.keyword] {
			return s.errorf("appears twice")
		}
		p.seen[s.keyword] = true
	}
	switch s.keyword {
	case "valid-after":
		return p.parseTime(&p.c.ValidAfter)
	case "fresh-until":
		return p.parseTime(&p.c.FreshUntil)
	case "valid-until":
		return p.parseTime(&p.c.ValidUntil)
	case "params":
		return p.params()
	case "shared-rand-previous-value":
		return p.srv(&p.c.PreviousSRV)
	case "shared-rand-current-value":
		return p.srv(&p.c.CurrentSRV)
	}
	return nil
}

func (p *consensusParser) parseTime(dst *time.Time) error {
	s := p.s
	if err := s.needArgs(2); err != nil {
		return err
	}
	t, err := time.Parse(consensusTimeLayout, s.args[0]+" "+s.args[1])
	if err != nil {
		return s.errorf("bad time %q: %w", s.args[0]+" "+s.args[1], err)
	}
	*dst = t
	return nil
}

func (p *consensusParser) params() error {
	s := p.s
	for _, kv := range s.args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return s.errorf("bad parameter %q", kv)
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return s.errorf("bad value for parameter %q: %w", k, err)
		}
		p.c.Params[k] = int32(n)
	}
	return nil
}

// srv parses "shared-rand-*-value NumReveals Value".
func (p *consensusParser) srv(dst **[32]byte) error {
	s := p.s
	if err := s.needArgs(2); err != nil {
		return err
	}
	if _, err := strconv.ParseUint(s.args[0], 10, 32); err != nil {
		return s.errorf("bad number of reveals %q", s.args[0])
	}
	v := new([32]byte)
	if err := decodeBase64(v[:], s.args[1]); err != nil {
		return s.errorf("bad value: %w", err)
	}
	*dst = v
	return nil
}

// startRelay parses "r nickname identity published-date published-time
// address orport dirport".
func (p *consensusParser) startRelay() error {
	if err := p.endRelay(); err != nil {
		return err
	}
	s := p.s
	if p.footer {
		return s.errorf("router entry after directory-footer")
	}
	if err := s.needArgs(7); err != nil {
		return err
	}
	var r Relay
	r.Nickname = strings.Clone(s.args[0])
	if err := decodeBase64(r.Identity[:], s.args[1]); err != nil {
		return s.errorf("bad identity: %w", err)
	}
	if p.identities[r.Identity] {
		return s.errorf("relay %s listed twice", r.Fingerprint())
	}
	p.identities[r.Identity] = true
	p.c.Relays = append(p.c.Relays, r)
	p.relay = &p.c.Relays[len(p.c.Relays)-1]
	p.relayLine = s.line
	p.hasMD = false
	return nil
}

// entryLine handles a line inside a router entry.
func (p *consensusParser) entryLine() error {
	s := p.s
	switch s.keyword {
	case "m":
		if p.hasMD {
			return s.errorf("appears twice in one entry")
		}
		if err := s.needArgs(1); err != nil {
			return err
		}
		if err := decodeBase64(p.relay.MicrodescDigest[:], s.args[0]); err != nil {
			return s.errorf("bad microdescriptor digest: %w", err)
		}
		p.hasMD = true
	case "s":
		for _, f := range s.args {
			switch f {
			case "HSDir":
				p.relay.HSDir = true
			case "NoEdConsensus":
				p.relay.NoEdConsensus = true
			}
		}
	case "pr":
		p.relay.HSDirV3 = supportsProtocol(s.args, "HSDir", 2)
	}
	return nil
}

// endRelay closes the entry being read, if any.
func (p *consensusParser) endRelay() error {
	if p.relay == nil {
		return nil
	}
	if !p.hasMD {
		return &ParseError{Doc: p.s.doc, Line: p.relayLine, Keyword: "r",
			Err: fmt.Errorf("entry for %s has no m line", p.relay.Nickname)}
	}
	p.relay = nil
	return nil
}

// check validates the header once the whole document is read.
func (p *consensusParser) check() error {
	for _, kw := range []string{"valid-after", "fresh-until", "valid-until"} {
		if !p.seen[kw] {
			return &ParseError{Doc: p.s.doc, Line: p.s.num, Keyword: kw, Err: errors.New("missing")}
		}
	}
	c := p.c
	if c.ValidAfter.Unix() < 0 {
		return &ParseError{Doc: p.s.doc, Line: p.s.num, Keyword: "valid-after", Err: errors.New("before 1970")}
	}
	if !c.FreshUntil.After(c.ValidAfter) || c.ValidUntil.Before(c.FreshUntil) {
		return &ParseError{Doc: p.s.doc, Line: p.s.num, Keyword: "fresh-until",
			Err: errors.New("times out of order: want valid-after < fresh-until <= valid-until")}
	}
	c.TestNetwork = c.VotingInterval() < time.Hour
	return nil
}
