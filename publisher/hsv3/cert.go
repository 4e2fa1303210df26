package hsv3

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"
)

// CertType is the CERT_TYPE of a tor Ed25519 certificate (cert-spec §A.1).
type CertType uint8

// Certificate types used by v3 onion-service descriptors.
const (
	CertTypeSigningKey CertType = 0x08 // descriptor signing key, signed by the blinded key
	CertTypeIntroAuth  CertType = 0x09 // intro point auth key, signed by the descriptor signing key
	CertTypeIntroEnc   CertType = 0x0B // intro point encryption key (ed25519 form), signed by the descriptor signing key
)

func (t CertType) String() string {
	switch t {
	case CertTypeSigningKey:
		return "signing-key (0x08)"
	case CertTypeIntroAuth:
		return "intro-auth (0x09)"
	case CertTypeIntroEnc:
		return "intro-enc (0x0b)"
	}
	return fmt.Sprintf("0x%02x", uint8(t))
}

const (
	certVersion = 1
	// KeyTypeEd25519 is the CERT_KEY_TYPE of an Ed25519 certified key.
	KeyTypeEd25519 = 0x01
	// ExtSignedWithKey is the extension carrying the signing key.
	ExtSignedWithKey = 0x04
	// ExtFlagAffectsValidation marks an extension that must be understood.
	ExtFlagAffectsValidation = 0x01

	certHeaderSize = 1 + 1 + 4 + 1 + 32 + 1
)

// Extension is one certificate extension.
type Extension struct {
	Type  uint8
	Flags uint8
	Data  []byte
}

// Cert is a tor Ed25519 certificate (cert-spec §2.1).
type Cert struct {
	Type CertType
	// ExpirationHours is the expiration time in hours since the Unix epoch.
	ExpirationHours uint32
	KeyType         uint8
	CertifiedKey    ed25519.PublicKey
	// SigningKey is the key from the signed-with-ed25519-key extension, or
	// nil when the certificate has none.
	SigningKey ed25519.PublicKey
	// Extensions holds every extension in order, the signing-key one included.
	Extensions []Extension
	Signature  []byte

	raw []byte
}

// ParseCert parses an encoded certificate. It keeps unknown extensions and
// rejects unknown ones flagged "affects validation". It checks no signature.
func ParseCert(b []byte) (*Cert, error) {
	if len(b) < certHeaderSize+ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: certificate is %d bytes, too short", ErrMalformed, len(b))
	}
	if b[0] != certVersion {
		return nil, fmt.Errorf("%w: certificate version %d, want %d", ErrMalformed, b[0], certVersion)
	}
	c := &Cert{
		Type:            CertType(b[1]),
		ExpirationHours: binary.BigEndian.Uint32(b[2:6]),
		KeyType:         b[6],
		CertifiedKey:    ed25519.PublicKey(bytes.Clone(b[7:39])),
		raw:             bytes.Clone(b),
	}
	n := int(b[39])
	rest := b[certHeaderSize : len(b)-ed25519.SignatureSize]
	for i := 0; i < n; i++ {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: certificate extension %d is truncated", ErrMalformed, i)
		}
		ext := Extension{Type: rest[2], Flags: rest[3]}
		size := int(binary.BigEndian.Uint16(rest[:2]))
		rest = rest[4:]
		if len(rest) < size {
			return nil, fmt.Errorf("%w: certificate extension %d is %d bytes, only %d left", ErrMalformed, i, size, len(rest))
		}
		ext.Data, rest = bytes.Clone(rest[:size]), rest[size:]
		switch {
		case ext.Type == ExtSignedWithKey:
			if size != ed25519.PublicKeySize {
				return nil, fmt.Errorf("%w: signed-with-ed25519-key extension is %d bytes, want 32", ErrMalformed, size)
			}
			if c.SigningKey != nil {
				return nil, fmt.Errorf("%w: certificate has two signed-with-ed25519-key extensions", ErrMalformed)
			}
			c.SigningKey = ed25519.PublicKey(ext.Data)
		case ext.Flags&ExtFlagAffectsValidation != 0:
			return nil, fmt.Errorf("%w: certificate has unknown extension 0x%02x that affects validation", ErrMalformed, ext.Type)
		}
		c.Extensions = append(c.Extensions, ext)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: certificate has %d bytes between its extensions and signature", ErrMalformed, len(rest))
	}
	c.Signature = bytes.Clone(b[len(b)-ed25519.SignatureSize:])
	return c, nil
}

// IssueCert makes a certificate of type typ for certified (an Ed25519 key),
// expiring at expirationHours, with a signed-with-ed25519-key extension
// naming signer, signed by signer.
func IssueCert(typ CertType, certified ed25519.PublicKey, expirationHours uint32, signer *ExpandedKey) (*Cert, error) {
	if len(certified) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: certified key is %d bytes, want 32", ErrInvalidKey, len(certified))
	}
	signing := signer.PublicKey()
	b := make([]byte, 0, certHeaderSize+4+32+ed25519.SignatureSize)
	b = append(b, certVersion, byte(typ))
	b = binary.BigEndian.AppendUint32(b, expirationHours)
	b = append(b, KeyTypeEd25519)
	b = append(b, certified...)
	b = append(b, 1)                                           // N_EXTENSIONS
	b = binary.BigEndian.AppendUint16(b, uint16(len(signing))) // ExtLength
	b = append(b, ExtSignedWithKey, 0)
	b = append(b, signing...)
	b = append(b, signer.Sign(b)...)
	return ParseCert(b)
}

// Marshal returns the encoded certificate, or nil for a Cert that was not
// parsed or issued (such as an Encode input built by hand).
func (c *Cert) Marshal() []byte { return bytes.Clone(c.raw) }

// Expiry returns the expiration time.
func (c *Cert) Expiry() time.Time {
	return time.Unix(int64(c.ExpirationHours)*3600, 0).UTC()
}

// Expired reports whether the certificate has expired at now. As in tor, a
// certificate is still valid at its exact expiration second.
func (c *Cert) Expired(now time.Time) bool {
	return now.Unix() > int64(c.ExpirationHours)*3600
}

// Verify checks the signature under key.
func (c *Cert) Verify(key ed25519.PublicKey) error {
	if len(c.raw) < certHeaderSize+ed25519.SignatureSize {
		return fmt.Errorf("%w: %s certificate has no encoding to verify", ErrMalformed, c.Type)
	}
	if !verify(key, c.raw[:len(c.raw)-ed25519.SignatureSize], c.Signature) {
		return fmt.Errorf("%w: %s certificate", ErrBadSignature, c.Type)
	}
	return nil
}

// check validates a certificate found in a descriptor: its type, key type,
// that it names its signer, optionally that the signer is want, the
// signature, and (unless skipExpiry) that it has not expired at now.
func (c *Cert) check(typ CertType, want ed25519.PublicKey, now time.Time, skipExpiry bool) error {
	if c.Type != typ {
		return fmt.Errorf("%w: certificate type %s, want %s", ErrMalformed, c.Type, typ)
	}
	if c.KeyType != KeyTypeEd25519 {
		return fmt.Errorf("%w: %s certificate key type %d, want %d (ed25519)", ErrMalformed, typ, c.KeyType, KeyTypeEd25519)
	}
	if c.SigningKey == nil {
		return fmt.Errorf("%w: %s certificate has no signed-with-ed25519-key extension", ErrMalformed, typ)
	}
	if want != nil && !bytes.Equal(c.SigningKey, want) {
		return fmt.Errorf("%w: %s certificate is signed by %x, want %x", ErrBadSignature, typ, []byte(c.SigningKey), []byte(want))
	}
	if err := c.Verify(c.SigningKey); err != nil {
		return err
	}
	if !skipExpiry && c.Expired(now) {
		return fmt.Errorf("%w: %s certificate expired at %s", ErrCertExpired, typ, c.Expiry().Format(time.RFC3339))
	}
	return nil
}
