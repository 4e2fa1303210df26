package hsv3

import (
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	// DefaultMaxDescriptorSize is the default of the consensus parameter
	// HSV3MaxDescriptorSize.
	DefaultMaxDescriptorSize = 50000
)

// EncodeParams are the inputs of Encode.
type EncodeParams struct {
	Identity *IdentityKey
	// PeriodNum and PeriodLength (minutes) select the blinded key.
	PeriodNum    uint64
	PeriodLength uint64
	// RevisionCounter must exceed the one of any descriptor already
	// uploaded for this blinded key.
	RevisionCounter uint64
	// IntroPoints are copied from backend descriptors (as decoded): link
	// specifiers, onion key and enc key verbatim; both certificates are
	// re-issued with the same certified key and expiry, signed by the new
	// descriptor signing key. Only CertifiedKey and ExpirationHours of the
	// certificates are read, so Certs built by hand will do. Intro points
	// with a legacy key are dropped.
	IntroPoints []IntroPoint
	// FlowControl is the flow-control line's arguments ("1-2 31"), or "".
	FlowControl string
	// Now is the build time; the signing-key certificate expires
	// SigningCertLifetime later, rounded up to the hour.
	Now time.Time
	// Rand supplies the signing key, salts, ephemeral key and fake
	// auth-client lines.
	Rand io.Reader
	// MaxSize is the size the descriptor must stay below; 0 means
	// DefaultMaxDescriptorSize.
	MaxSize int
	// AuthorizedClients turns on client authorization ("restricted
	// discovery", rend-spec-v3 §2.5.1.2): only these x25519 client keys can
	// decrypt the inner layer. Empty: the descriptor is readable by anyone
	// who knows the address.
	AuthorizedClients []*ecdh.PublicKey
}

// Encode builds, signs and encrypts a descriptor and returns the exact
// bytes to upload. The format is C tor's: a fresh random descriptor signing
// key, auth-client lines for AuthorizedClients padded with fake ones to a
// multiple of 16 (16 fake ones without clients), the first layer NUL-padded to the next
// multiple of 10000 bytes, descriptor-lifetime 180.
func Encode(p EncodeParams) ([]byte, error) {
	if p.Identity == nil || p.Rand == nil {
		return nil, errors.New("hsv3: EncodeParams.Identity and Rand are required")
	}
	if p.Now.IsZero() {
		return nil, errors.New("hsv3: EncodeParams.Now is required")
	}
	if p.PeriodLength == 0 {
		return nil, errors.New("hsv3: EncodeParams.PeriodLength is required")
	}
	if p.FlowControl != "" {
		if strings.ContainsAny(p.FlowControl, "\r\n") {
			return nil, fmt.Errorf("%w: flow-control %q contains a line break", ErrMalformed, p.FlowControl)
		}
		if err := checkFlowControl(splitArgs(p.FlowControl)); err != nil {
			return nil, err
		}
	}
	signing, err := generateExpandedKey(p.Rand)
	if err != nil {
		return nil, fmt.Errorf("descriptor signing key: %w", err)
	}
	inner, err := recertifyIntroPoints(p.IntroPoints, signing)
	if err != nil {
		return nil, err
	}
	inner.FlowControl = p.FlowControl
	desc, err := seal(p, signing, inner.marshal())
	if err != nil {
		return nil, err
	}
	maxSize := p.MaxSize
	if maxSize == 0 {
		maxSize = DefaultMaxDescriptorSize
	}
	if len(desc) >= maxSize {
		return nil, fmt.Errorf("%w: %d bytes with %d intro points, must be below %d", ErrTooLarge, len(desc), len(inner.IntroPoints), maxSize)
	}
	return desc, nil
}

// seal certifies the signing key with the blinded key, encrypts the inner
// layer text into the middle layer and that into the outer layer, and signs.
func seal(p EncodeParams, signing *ExpandedKey, innerText []byte) ([]byte, error) {
	blinded := p.Identity.BlindedKey(p.PeriodNum, p.PeriodLength)
	blindedPub := blinded.PublicKey()
	subcredential := Subcredential(p.Identity.PublicKey(), blindedPub)

	expiry := p.Now.Add(SigningCertLifetime).Unix()
	hours := uint32((expiry + 3599) / 3600)
	signingCert, err := IssueCert(CertTypeSigningKey, signing.PublicKey(), hours, blinded)
	if err != nil {
		return nil, err
	}

	layer := layerParams{secretData: blindedPub, subcredential: subcredential, revision: p.RevisionCounter, constant: constEncrypted}
	salt, err := readRandom(p.Rand, saltSize)
	if err != nil {
		return nil, err
	}
	var cookie [DescriptorCookieSize]byte
	if len(p.AuthorizedClients) > 0 {
		// rend-spec-v3 §2.5.3: with client authorization the second layer's
		// SECRET_DATA is the blinded key followed by the descriptor cookie.
		if _, err := io.ReadFull(p.Rand, cookie[:]); err != nil {
			return nil, fmt.Errorf("reading the descriptor cookie: %w", err)
		}
		layer.secretData = append(append([]byte(nil), blindedPub...), cookie[:]...)
	}
	middle, err := authMiddle(p.Rand, p.AuthorizedClients, subcredential, cookie)
	clear(cookie[:])
	if err != nil {
		return nil, err
	}
	middle.Encrypted = encryptLayer(layer, innerText, salt)
	layer.secretData = blindedPub

	layer.constant = constSuperencrypted
	if salt, err = readRandom(p.Rand, saltSize); err != nil {
		return nil, err
	}
	superencrypted := encryptLayer(layer, padSuperencrypted(middle.marshal()), salt)

	body := outerBody(DefaultLifetimeMinutes, signingCert, p.RevisionCounter, superencrypted)
	sig := signing.Sign(append([]byte(signaturePrefix), body...))
	return append(body, "signature "+base64.RawStdEncoding.EncodeToString(sig)+"\n"...), nil
}

// recertifyIntroPoints builds the inner layer: create2-formats 2 and each
// intro point without a legacy key, with both certificates re-issued by
// signing.
func recertifyIntroPoints(ips []IntroPoint, signing *ExpandedKey) (*InnerLayer, error) {
	inner := &InnerLayer{Create2Formats: []int{2}}
	for i := range ips {
		ip := &ips[i]
		if ip.HasLegacyKey() {
			continue
		}
		if ip.AuthKeyCert == nil || ip.EncKeyCert == nil {
			return nil, fmt.Errorf("intro point %d: %w: missing auth-key or enc-key-cert", i, ErrMalformed)
		}
		if _, err := ParseLinkSpecifiers(ip.LinkSpecifiersRaw); err != nil {
			return nil, fmt.Errorf("intro point %d: %w", i, err)
		}
		auth, err := IssueCert(CertTypeIntroAuth, ip.AuthKeyCert.CertifiedKey, ip.AuthKeyCert.ExpirationHours, signing)
		if err != nil {
			return nil, fmt.Errorf("intro point %d: auth-key: %w", i, err)
		}
		enc, err := IssueCert(CertTypeIntroEnc, ip.EncKeyCert.CertifiedKey, ip.EncKeyCert.ExpirationHours, signing)
		if err != nil {
			return nil, fmt.Errorf("intro point %d: enc-key-cert: %w", i, err)
		}
		inner.IntroPoints = append(inner.IntroPoints, IntroPoint{
			LinkSpecifiersRaw: ip.LinkSpecifiersRaw,
			LinkSpecifiers:    ip.LinkSpecifiers,
			OnionKey:          ip.OnionKey,
			AuthKeyCert:       auth,
			EncKey:            ip.EncKey,
			EncKeyCert:        enc,
		})
	}
	if n := len(inner.IntroPoints); n > MaxIntroPoints {
		return nil, fmt.Errorf("%w: %d, at most %d allowed", ErrTooManyIntroPoints, n, MaxIntroPoints)
	}
	return inner, nil
}

func readRandom(rand io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	return b, nil
}
