package hsv3

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"
)

// DecodeOptions control descriptor validation.
type DecodeOptions struct {
	// Now is the time certificates are checked against. It is required
	// unless SkipExpiryCheck is set.
	Now time.Time
	// SkipExpiryCheck accepts expired certificates (for old test vectors).
	SkipExpiryCheck bool
	// ClientKey is an optional x25519 client-authorization secret key,
	// needed to decrypt descriptors of services with restricted discovery.
	ClientKey *ecdh.PrivateKey
}

// String describes the options without the client key's secret.
func (o DecodeOptions) String() string {
	key := "none"
	if o.ClientKey != nil {
		key = "redacted"
	}
	return fmt.Sprintf("hsv3.DecodeOptions(now %s, skip expiry check %t, client key %s)",
		o.Now.Format(time.RFC3339Nano), o.SkipExpiryCheck, key)
}

// GoString returns the same as String, so that %#v does not print the key.
func (o DecodeOptions) GoString() string { return o.String() }

// Format prints String for every verb: the x25519 secret (a standard library
// type that would print its bytes under %s) never reaches a log line.
func (o DecodeOptions) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, o.String()) }

// Descriptor is a verified and decrypted v3 onion-service descriptor.
type Descriptor struct {
	LifetimeMinutes int
	RevisionCounter uint64
	// SigningKeyCert is the descriptor-signing-key-cert (type 08).
	SigningKeyCert *Cert
	// SigningKey is the descriptor signing key (certified by SigningKeyCert).
	SigningKey ed25519.PublicKey
	// BlindedKey is the blinded public key that signed SigningKeyCert.
	BlindedKey ed25519.PublicKey
	Signature  []byte

	// Identity is the service's identity key; nil from DecodeBlinded.
	Identity ed25519.PublicKey
	// PeriodNum and PeriodLength (minutes) identify the time period the
	// descriptor is for; PeriodLength is 0 when unknown.
	PeriodNum     uint64
	PeriodLength  uint64
	Subcredential [32]byte

	// MiddlePlaintext is the decrypted first layer, NUL padding included.
	MiddlePlaintext []byte
	Middle          *MiddleLayer
	// DescriptorCookie is the client-authorization cookie, when one was used.
	DescriptorCookie []byte
	// InnerPlaintext is the decrypted second layer.
	InnerPlaintext []byte
	Inner          *InnerLayer
	// SkippedIntroPoints lists intro points left out of Inner.IntroPoints
	// because they did not parse or their certificates did not validate.
	SkippedIntroPoints []SkippedIntroPoint
}

// IntroPoints returns the usable intro points.
func (d *Descriptor) IntroPoints() []IntroPoint { return d.Inner.IntroPoints }

// Decode verifies and decrypts a descriptor of the service with the given
// identity key for time period periodNum of periodLength minutes. It fails
// with ErrWrongService unless the descriptor's signing-key certificate is
// signed by the blinded key derived for that period.
func Decode(raw []byte, identity ed25519.PublicKey, periodNum, periodLength uint64, opts DecodeOptions) (*Descriptor, error) {
	blinded, err := BlindPublicKey(identity, periodNum, periodLength)
	if err != nil {
		return nil, err
	}
	d, blob, err := decodeOuter(raw, opts)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(d.BlindedKey, blinded) {
		return nil, fmt.Errorf("descriptor does not belong to %s.onion in time period %d (length %d): blinded key %s, want %s: %w",
			EncodeAddress(identity), periodNum, periodLength, BlindedKeyID(d.BlindedKey), BlindedKeyID(blinded), ErrWrongService)
	}
	d.Identity, d.PeriodNum, d.PeriodLength = identity, periodNum, periodLength
	if err := d.decrypt(blob, Subcredential(identity, blinded), opts); err != nil {
		return nil, err
	}
	return d, nil
}

// DecodeBlinded verifies and decrypts a descriptor given only its blinded
// key and subcredential (no identity key or time period).
func DecodeBlinded(raw []byte, blinded ed25519.PublicKey, subcredential [32]byte, opts DecodeOptions) (*Descriptor, error) {
	d, blob, err := decodeOuter(raw, opts)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(d.BlindedKey, blinded) {
		return nil, fmt.Errorf("descriptor is signed by blinded key %s, want %s: %w", BlindedKeyID(d.BlindedKey), BlindedKeyID(blinded), ErrWrongService)
	}
	if err := d.decrypt(blob, subcredential, opts); err != nil {
		return nil, err
	}
	return d, nil
}

// DecodeOuter verifies the outer (plaintext) layer of a descriptor signed
// through blinded and returns it without decrypting anything: the revision
// counter, lifetime and signing key are set, the layers below are not. It
// fails with ErrWrongService when the signing-key certificate is signed by
// another blinded key, and with ErrBadSignature when a signature does not
// verify. Use it to learn what an HSDir holds for a blinded key.
func DecodeOuter(raw []byte, blinded ed25519.PublicKey, opts DecodeOptions) (*Descriptor, error) {
	d, _, err := decodeOuter(raw, opts)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(d.BlindedKey, blinded) {
		return nil, fmt.Errorf("descriptor is signed by blinded key %s, want %s: %w", BlindedKeyID(d.BlindedKey), BlindedKeyID(blinded), ErrWrongService)
	}
	return d, nil
}

// DecodeForAddress verifies and decrypts a descriptor knowing only the
// onion address, for inspection tools. It finds the time period from the
// signing-key certificate's expiry (see findPeriod) and fails with
// ErrWrongService when no period near it gives the descriptor's blinded key.
func DecodeForAddress(raw []byte, address string, opts DecodeOptions) (*Descriptor, error) {
	identity, err := DecodeAddress(address)
	if err != nil {
		return nil, err
	}
	d, blob, err := decodeOuter(raw, opts)
	if err != nil {
		return nil, err
	}
	d.Identity = identity
	num, length, ok := findPeriod(identity, d.BlindedKey, d.SigningKeyCert.ExpirationHours)
	if !ok {
		return nil, fmt.Errorf("descriptor does not belong to %s.onion: its blinded key %s matches no time period around its creation: %w",
			EncodeAddress(identity), BlindedKeyID(d.BlindedKey), ErrWrongService)
	}
	d.PeriodNum, d.PeriodLength = num, length
	if err := d.decrypt(blob, Subcredential(identity, d.BlindedKey), opts); err != nil {
		return nil, err
	}
	return d, nil
}

// decodeOuter parses and verifies the outer layer. It returns the
// descriptor so far and the first-layer blob.
func decodeOuter(raw []byte, opts DecodeOptions) (*Descriptor, []byte, error) {
	if opts.Now.IsZero() && !opts.SkipExpiryCheck {
		return nil, nil, errors.New("hsv3: DecodeOptions.Now is required unless SkipExpiryCheck is set")
	}
	o, err := parseOuter(raw)
	if err != nil {
		return nil, nil, err
	}
	if err := o.verify(opts.Now, opts.SkipExpiryCheck); err != nil {
		return nil, nil, err
	}
	d := &Descriptor{
		LifetimeMinutes: o.lifetime,
		RevisionCounter: o.revision,
		SigningKeyCert:  o.signingKeyCert,
		SigningKey:      o.signingKeyCert.CertifiedKey,
		BlindedKey:      o.signingKeyCert.SigningKey,
		Signature:       o.signature,
	}
	return d, o.superencrypted, nil
}

// decrypt decrypts and parses both encrypted layers, then validates the
// intro points, leaving out (and listing) those that fail.
func (d *Descriptor) decrypt(superencrypted []byte, subcredential [32]byte, opts DecodeOptions) error {
	d.Subcredential = subcredential
	first := layerParams{secretData: d.BlindedKey, subcredential: subcredential, revision: d.RevisionCounter, constant: constSuperencrypted}
	plain, err := decryptLayer(first, superencrypted)
	if err != nil {
		return fmt.Errorf("first layer: %w", err)
	}
	d.MiddlePlaintext = plain
	text, err := layerText(plain, "middle")
	if err != nil {
		return err
	}
	if d.Middle, err = parseMiddle(text); err != nil {
		return err
	}

	secret := []byte(d.BlindedKey)
	if opts.ClientKey != nil {
		cookie, err := decryptDescriptorCookie(opts.ClientKey, d.Middle.EphemeralKey, subcredential, d.Middle.AuthClients)
		switch {
		case err == nil:
			d.DescriptorCookie = cookie
			secret = append(append([]byte(nil), d.BlindedKey...), cookie...)
		case !errors.Is(err, ErrNotAuthorized):
			return err
		}
	}
	second := layerParams{secretData: secret, subcredential: subcredential, revision: d.RevisionCounter, constant: constEncrypted}
	plain, err = decryptLayer(second, d.Middle.Encrypted)
	switch {
	case errors.Is(err, ErrDecrypt) && d.DescriptorCookie == nil && opts.ClientKey != nil:
		return fmt.Errorf("second layer: %w: the client key has no auth-client entry and the layer needs one (%w)", ErrNotAuthorized, err)
	case errors.Is(err, ErrDecrypt) && d.DescriptorCookie == nil:
		return fmt.Errorf("second layer: %w (the service may require client authorization)", err)
	case err != nil:
		return fmt.Errorf("second layer: %w", err)
	}
	d.InnerPlaintext = plain
	if text, err = layerText(plain, "inner"); err != nil {
		return err
	}
	inner, skipped, err := parseInner(text, func(ip *IntroPoint) error {
		return ip.check(d.SigningKey, opts.Now, opts.SkipExpiryCheck)
	})
	if err != nil {
		return err
	}
	d.Inner, d.SkippedIntroPoints = inner, skipped
	if n := len(inner.IntroPoints); n > MaxIntroPoints {
		return fmt.Errorf("inner layer: %w: %d usable, at most %d allowed", ErrTooManyIntroPoints, n, MaxIntroPoints)
	}
	return nil
}
