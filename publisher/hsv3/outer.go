package hsv3

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strconv"
	"time"
)

const (
	// signaturePrefix is prepended to the signed part of the outer layer.
	signaturePrefix = "Tor onion service descriptor sig v3"
	// maxLifetimeMinutes is the largest descriptor-lifetime tor accepts.
	maxLifetimeMinutes = 720
	// DefaultLifetimeMinutes is the descriptor-lifetime C tor writes.
	DefaultLifetimeMinutes = 180
	// SigningCertLifetime is how long C tor's descriptor-signing-key-cert
	// is valid after the descriptor is built (HS_DESC_CERT_LIFETIME).
	SigningCertLifetime = 54 * time.Hour
)

// outerLayer is the plaintext layer of a descriptor.
type outerLayer struct {
	lifetime       int
	signingKeyCert *Cert
	revision       uint64
	superencrypted []byte
	signature      []byte
	signedBody     []byte // every byte before the signature line
}

func outerRules() map[string]rule {
	return map[string]rule{
		"hs-descriptor":               {min: 1, max: 1, minArgs: 1},
		"descriptor-lifetime":         {min: 1, max: 1, minArgs: 1},
		"descriptor-signing-key-cert": {min: 1, max: 1, objectTag: "ED25519 CERT"},
		"revision-counter":            {min: 1, max: 1, minArgs: 1},
		"superencrypted":              {min: 1, max: 1, objectTag: "MESSAGE"},
		"signature":                   {min: 1, max: 1, minArgs: 1},
	}
}

// parseOuter parses the outer layer. It checks syntax only: no signature,
// certificate signature or expiry.
func parseOuter(raw []byte) (*outerLayer, error) {
	items, err := tokenize(raw)
	if err != nil {
		return nil, fmt.Errorf("outer layer: %w", err)
	}
	if len(items) == 0 || items[0].keyword != "hs-descriptor" {
		return nil, fmt.Errorf("outer layer: %w: must start with \"hs-descriptor\"", ErrMalformed)
	}
	last := items[len(items)-1]
	if last.keyword != "signature" {
		return nil, fmt.Errorf("outer layer: %w: must end with \"signature\"", ErrMalformed)
	}
	m, err := checkRules(items, outerRules())
	if err != nil {
		return nil, fmt.Errorf("outer layer: %w", err)
	}
	if v := items[0].args[0]; v != "3" {
		return nil, fmt.Errorf("outer layer: %w: hs-descriptor version %q, want 3", ErrMalformed, v)
	}
	o := &outerLayer{signedBody: raw[:last.offset]}

	arg := m["descriptor-lifetime"][0].args[0]
	lifetime, err := strconv.ParseUint(arg, 10, 16)
	if err != nil || lifetime > maxLifetimeMinutes {
		return nil, fmt.Errorf("outer layer: %w: descriptor-lifetime %q is not an integer in [0, %d]", ErrMalformed, arg, maxLifetimeMinutes)
	}
	o.lifetime = int(lifetime)

	arg = m["revision-counter"][0].args[0]
	if o.revision, err = strconv.ParseUint(arg, 10, 64); err != nil {
		return nil, fmt.Errorf("outer layer: %w: revision-counter %q is not a 64-bit unsigned integer", ErrMalformed, arg)
	}

	if o.signingKeyCert, err = ParseCert(m["descriptor-signing-key-cert"][0].object.data); err != nil {
		return nil, fmt.Errorf("outer layer: descriptor-signing-key-cert: %w", err)
	}
	o.superencrypted = m["superencrypted"][0].object.data

	if o.signature, err = decodeBase64Size(last.args[0], ed25519.SignatureSize); err != nil {
		return nil, fmt.Errorf("outer layer: %w: signature: %v", ErrMalformed, err)
	}
	return o, nil
}

// verify checks the signing-key certificate (type 08, signed by the blinded
// key it names, not expired) and the descriptor signature by the signing key.
func (o *outerLayer) verify(now time.Time, skipExpiry bool) error {
	if err := o.signingKeyCert.check(CertTypeSigningKey, nil, now, skipExpiry); err != nil {
		return fmt.Errorf("descriptor-signing-key-cert: %w", err)
	}
	msg := append([]byte(signaturePrefix), o.signedBody...)
	if !verify(o.signingKeyCert.CertifiedKey, msg, o.signature) {
		return fmt.Errorf("%w: descriptor signature does not verify under the signing key", ErrBadSignature)
	}
	return nil
}

// outerBody returns the outer layer up to (not including) its signature line.
func outerBody(lifetime int, cert *Cert, revision uint64, superencrypted []byte) []byte {
	var b bytes.Buffer
	b.WriteString("hs-descriptor 3\n")
	fmt.Fprintf(&b, "descriptor-lifetime %d\n", lifetime)
	b.WriteString("descriptor-signing-key-cert\n")
	writeObject(&b, "ED25519 CERT", cert.raw)
	fmt.Fprintf(&b, "revision-counter %d\n", revision)
	b.WriteString("superencrypted\n")
	writeObject(&b, "MESSAGE", superencrypted)
	return b.Bytes()
}
