package hsv3

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxIntroPoints is the most intro points a client accepts in one
	// descriptor (HS_CONFIG_V3_MAX_INTRO_POINTS).
	MaxIntroPoints  = 20
	powExpiryLayout = "2006-01-02T15:04:05"
)

// InnerLayer is the second-layer plaintext ("encrypted" section).
type InnerLayer struct {
	Create2Formats     []int
	IntroAuthRequired  []string // obsolete; absent from current tor output
	SingleOnionService bool
	// FlowControl holds the arguments of the flow-control line, e.g.
	// "1-2 31", or "" when absent.
	FlowControl string
	PoWParams   []PoWParams
	// IntroPoints are the usable intro points: when decoding a descriptor,
	// intro points that fail to parse or validate are left out and listed
	// in Descriptor.SkippedIntroPoints instead.
	IntroPoints []IntroPoint
}

// PoWParams is a pow-params line (proposal 327).
type PoWParams struct {
	Type string // "v1"; other types keep their arguments in Args
	// Seed, SuggestedEffort and Expiration are set for Type "v1".
	Seed            [32]byte
	SuggestedEffort uint32
	Expiration      time.Time
	Args            []string // every argument after the type
}

// IntroPoint is one introduction point of the inner layer.
type IntroPoint struct {
	// LinkSpecifiersRaw is the decoded link-specifier blob, kept verbatim so
	// it can be copied into another descriptor unchanged.
	LinkSpecifiersRaw []byte
	LinkSpecifiers    []LinkSpecifier
	// OnionKey is the intro relay's ntor onion key (curve25519).
	OnionKey [32]byte
	// AuthKeyCert (type 09) certifies the intro point auth key.
	AuthKeyCert *Cert
	// EncKey is the service's ntor encryption key for this intro point.
	EncKey [32]byte
	// EncKeyCert (type 0B) certifies the ed25519 form of EncKey.
	EncKeyCert *Cert
	// LegacyKey and LegacyKeyCert are the obsolete legacy-key objects
	// (RSA PUBLIC KEY and CROSSCERT), nil when absent.
	LegacyKey     []byte
	LegacyKeyCert []byte
}

// AuthKey returns the intro point's auth key (the key certified by
// AuthKeyCert), or nil when there is no AuthKeyCert.
func (ip *IntroPoint) AuthKey() ed25519.PublicKey {
	if ip.AuthKeyCert == nil {
		return nil
	}
	return ip.AuthKeyCert.CertifiedKey
}

// HasLegacyKey reports whether the intro point carries a legacy-key.
func (ip *IntroPoint) HasLegacyKey() bool { return ip.LegacyKey != nil || ip.LegacyKeyCert != nil }

// SkippedIntroPoint is an intro point a decoder left out, as a tor client
// would: the descriptor is still usable without it.
type SkippedIntroPoint struct {
	Index      int         // position among the intro points of the inner layer
	IntroPoint *IntroPoint // nil when it did not parse
	Err        error
}

func innerRules() map[string]rule {
	return map[string]rule{
		"create2-formats":      {min: 1, max: 1, minArgs: 1},
		"intro-auth-required":  {max: 1, minArgs: 1},
		"single-onion-service": {max: 1},
		"flow-control":         {max: 1, minArgs: 2},
		"pow-params":           {minArgs: 1},
	}
}

func introPointRules() map[string]rule {
	return map[string]rule{
		"introduction-point": {min: 1, max: 1, minArgs: 1},
		"onion-key":          {min: 1, minArgs: 2},
		"auth-key":           {min: 1, max: 1, objectTag: "ED25519 CERT"},
		"enc-key":            {min: 1, max: 1, minArgs: 2},
		"enc-key-cert":       {min: 1, max: 1, objectTag: "ED25519 CERT"},
		"legacy-key":         {max: 1, objectTag: "RSA PUBLIC KEY"},
		"legacy-key-cert":    {max: 1, objectTag: "CROSSCERT"},
	}
}

// parseInner parses the inner layer text. Intro points that do not parse,
// or that check (when not nil) rejects, are returned as skipped rather
// than as an error, as tor does.
func parseInner(text []byte, check func(*IntroPoint) error) (*InnerLayer, []SkippedIntroPoint, error) {
	items, err := tokenize(text)
	if err != nil {
		return nil, nil, fmt.Errorf("inner layer: %w", err)
	}
	if len(items) == 0 || items[0].keyword != "create2-formats" {
		return nil, nil, fmt.Errorf("inner layer: %w: must start with \"create2-formats\"", ErrMalformed)
	}
	var starts []int
	for i, it := range items {
		if it.keyword == "introduction-point" {
			starts = append(starts, i)
		}
	}
	header := items
	if len(starts) > 0 {
		header = items[:starts[0]]
	}
	sections := make([][]item, len(starts))
	for k, start := range starts {
		end := len(items)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		sections[k] = items[start:end]
	}

	l, err := parseInnerHeader(header)
	if err != nil {
		return nil, nil, fmt.Errorf("inner layer: %w", err)
	}
	var skipped []SkippedIntroPoint
	for i, sec := range sections {
		ip, err := parseIntroPoint(sec)
		if err == nil && check != nil {
			err = check(ip)
		}
		if err != nil {
			skipped = append(skipped, SkippedIntroPoint{Index: i, IntroPoint: ip, Err: fmt.Errorf("intro point %d: %w", i, err)})
			continue
		}
		l.IntroPoints = append(l.IntroPoints, *ip)
	}
	return l, skipped, nil
}

func parseInnerHeader(items []item) (*InnerLayer, error) {
	m, err := checkRules(items, innerRules())
	if err != nil {
		return nil, err
	}
	l := &InnerLayer{}
	hasNtor := false
	for _, a := range m["create2-formats"][0].args {
		n, err := strconv.ParseUint(a, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%w: create2-formats %q is not a number", ErrMalformed, a)
		}
		l.Create2Formats = append(l.Create2Formats, int(n))
		hasNtor = hasNtor || n == 2
	}
	if !hasNtor {
		return nil, fmt.Errorf("%w: create2-formats lacks 2 (ntor)", ErrMalformed)
	}
	if it := m["intro-auth-required"]; len(it) > 0 {
		l.IntroAuthRequired = it[0].args
	}
	l.SingleOnionService = len(m["single-onion-service"]) > 0
	if it := m["flow-control"]; len(it) > 0 {
		if err := checkFlowControl(it[0].args); err != nil {
			return nil, err
		}
		l.FlowControl = strings.Join(it[0].args, " ")
	}
	for _, it := range m["pow-params"] {
		p, err := parsePoWParams(it)
		if err != nil {
			return nil, err
		}
		l.PoWParams = append(l.PoWParams, p)
	}
	return l, nil
}

// checkFlowControl checks "flow-control <versions> <sendme_inc>".
func checkFlowControl(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("%w: flow-control needs 2 arguments, has %d", ErrMalformed, len(args))
	}
	if _, err := strconv.ParseUint(args[1], 10, 8); err != nil {
		return fmt.Errorf("%w: flow-control sendme_inc %q is not an integer in [0, 255]", ErrMalformed, args[1])
	}
	return nil
}

func parsePoWParams(it item) (PoWParams, error) {
	p := PoWParams{Type: it.args[0], Args: it.args[1:]}
	if p.Type != "v1" {
		return p, nil
	}
	if len(p.Args) < 3 {
		return p, fmt.Errorf("%w: line %d: pow-params v1 needs seed, suggested effort and expiration, has %d arguments", ErrMalformed, it.line, len(p.Args))
	}
	seed, err := decodeBase64Size(p.Args[0], 32)
	if err != nil {
		return p, fmt.Errorf("%w: line %d: pow-params seed: %v", ErrMalformed, it.line, err)
	}
	copy(p.Seed[:], seed)
	effort, err := strconv.ParseUint(p.Args[1], 10, 32)
	if err != nil {
		return p, fmt.Errorf("%w: line %d: pow-params suggested effort %q is not a 32-bit unsigned integer", ErrMalformed, it.line, p.Args[1])
	}
	p.SuggestedEffort = uint32(effort)
	if p.Expiration, err = time.Parse(powExpiryLayout, p.Args[2]); err != nil {
		return p, fmt.Errorf("%w: line %d: pow-params expiration %q is not YYYY-MM-DDTHH:MM:SS", ErrMalformed, it.line, p.Args[2])
	}
	return p, nil
}

// parseIntroPoint parses one intro point section (starting with its
// introduction-point item).
func parseIntroPoint(items []item) (*IntroPoint, error) {
	m, err := checkRules(items, introPointRules())
	if err != nil {
		return nil, err
	}
	ip := &IntroPoint{}
	if ip.LinkSpecifiersRaw, err = decodeBase64(m["introduction-point"][0].args[0]); err != nil {
		return nil, fmt.Errorf("%w: introduction-point: %v", ErrMalformed, err)
	}
	if ip.LinkSpecifiers, err = ParseLinkSpecifiers(ip.LinkSpecifiersRaw); err != nil {
		return nil, fmt.Errorf("introduction-point: %w", err)
	}

	found := false
	for _, it := range m["onion-key"] {
		if it.args[0] != "ntor" {
			continue
		}
		key, err := decodeBase64Size(it.args[1], 32)
		if err != nil {
			return nil, fmt.Errorf("%w: onion-key ntor: %v", ErrMalformed, err)
		}
		copy(ip.OnionKey[:], key)
		found = true
		break
	}
	if !found {
		return nil, fmt.Errorf("%w: no \"onion-key ntor\"", ErrMalformed)
	}

	enc := m["enc-key"][0]
	if enc.args[0] != "ntor" {
		return nil, fmt.Errorf("%w: enc-key type %q, want ntor", ErrMalformed, enc.args[0])
	}
	key, err := decodeBase64Size(enc.args[1], 32)
	if err != nil {
		return nil, fmt.Errorf("%w: enc-key ntor: %v", ErrMalformed, err)
	}
	copy(ip.EncKey[:], key)

	if ip.AuthKeyCert, err = ParseCert(m["auth-key"][0].object.data); err != nil {
		return nil, fmt.Errorf("auth-key: %w", err)
	}
	if ip.EncKeyCert, err = ParseCert(m["enc-key-cert"][0].object.data); err != nil {
		return nil, fmt.Errorf("enc-key-cert: %w", err)
	}
	if it := m["legacy-key"]; len(it) > 0 {
		ip.LegacyKey = it[0].object.data
	}
	if it := m["legacy-key-cert"]; len(it) > 0 {
		ip.LegacyKeyCert = it[0].object.data
	}
	return ip, nil
}

// check validates both certificates against the descriptor signing key.
func (ip *IntroPoint) check(signingKey ed25519.PublicKey, now time.Time, skipExpiry bool) error {
	if err := ip.AuthKeyCert.check(CertTypeIntroAuth, signingKey, now, skipExpiry); err != nil {
		return fmt.Errorf("auth-key: %w", err)
	}
	if err := ip.EncKeyCert.check(CertTypeIntroEnc, signingKey, now, skipExpiry); err != nil {
		return fmt.Errorf("enc-key-cert: %w", err)
	}
	return nil
}

// marshal writes the layer in C tor's format.
func (l *InnerLayer) marshal() []byte {
	var b bytes.Buffer
	formats := make([]string, len(l.Create2Formats))
	for i, f := range l.Create2Formats {
		formats[i] = strconv.Itoa(f)
	}
	b.WriteString("create2-formats " + strings.Join(formats, " ") + "\n")
	if len(l.IntroAuthRequired) > 0 {
		b.WriteString("intro-auth-required " + strings.Join(l.IntroAuthRequired, " ") + "\n")
	}
	if l.SingleOnionService {
		b.WriteString("single-onion-service\n")
	}
	if l.FlowControl != "" {
		b.WriteString("flow-control " + l.FlowControl + "\n")
	}
	for _, p := range l.PoWParams {
		b.WriteString("pow-params " + p.Type)
		if p.Type == "v1" {
			fmt.Fprintf(&b, " %s %d %s", base64.StdEncoding.EncodeToString(p.Seed[:]), p.SuggestedEffort, p.Expiration.UTC().Format(powExpiryLayout))
		} else if len(p.Args) > 0 {
			b.WriteString(" " + strings.Join(p.Args, " "))
		}
		b.WriteString("\n")
	}
	for i := range l.IntroPoints {
		l.IntroPoints[i].marshal(&b)
	}
	return b.Bytes()
}

// marshal writes the intro point in C tor's format.
func (ip *IntroPoint) marshal(b *bytes.Buffer) {
	b.WriteString("introduction-point " + base64.StdEncoding.EncodeToString(ip.LinkSpecifiersRaw) + "\n")
	b.WriteString("onion-key ntor " + base64.StdEncoding.EncodeToString(ip.OnionKey[:]) + "\n")
	b.WriteString("auth-key\n")
	writeObject(b, "ED25519 CERT", ip.AuthKeyCert.raw)
	b.WriteString("enc-key ntor " + base64.StdEncoding.EncodeToString(ip.EncKey[:]) + "\n")
	b.WriteString("enc-key-cert\n")
	writeObject(b, "ED25519 CERT", ip.EncKeyCert.raw)
	if ip.LegacyKey != nil {
		b.WriteString("legacy-key\n")
		writeObject(b, "RSA PUBLIC KEY", ip.LegacyKey)
	}
	if ip.LegacyKeyCert != nil {
		b.WriteString("legacy-key-cert\n")
		writeObject(b, "CROSSCERT", ip.LegacyKeyCert)
	}
}
