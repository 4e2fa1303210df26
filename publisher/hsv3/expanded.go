package hsv3

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"

	"filippo.io/edwards25519"
)

// ExpandedKeySize is the size of an expanded Ed25519 secret key: the 32-byte
// little-endian scalar followed by the 32-byte nonce prefix.
const ExpandedKeySize = 64

// ExpandedKey is an Ed25519 secret key in tor's expanded form
// (scalar || prefix). It signs with both halves, so it also works for blinded
// keys, whose scalar is not clamped and which have no seed.
type ExpandedKey struct {
	raw    [ExpandedKeySize]byte
	scalar edwards25519.Scalar
	public [32]byte
}

// NewExpandedKey returns the key for the 64-byte expanded secret b.
// The scalar half is used as given (reduced modulo the group order, never
// re-clamped).
func NewExpandedKey(b []byte) (*ExpandedKey, error) {
	if len(b) != ExpandedKeySize {
		return nil, fmt.Errorf("%w: expanded ed25519 key is %d bytes, want %d", ErrInvalidKey, len(b), ExpandedKeySize)
	}
	k := &ExpandedKey{}
	copy(k.raw[:], b)
	var wide [64]byte
	copy(wide[:32], b[:32])
	if _, err := k.scalar.SetUniformBytes(wide[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	if k.scalar.Equal(edwards25519.NewScalar()) == 1 {
		return nil, fmt.Errorf("%w: expanded ed25519 key has a zero scalar", ErrInvalidKey)
	}
	copy(k.public[:], new(edwards25519.Point).ScalarBaseMult(&k.scalar).Bytes())
	return k, nil
}

// newExpandedKeyFromScalar builds a key whose scalar is already known.
func newExpandedKeyFromScalar(raw [ExpandedKeySize]byte, scalar *edwards25519.Scalar) *ExpandedKey {
	k := &ExpandedKey{raw: raw}
	k.scalar.Set(scalar)
	copy(k.public[:], new(edwards25519.Point).ScalarBaseMult(&k.scalar).Bytes())
	return k
}

// expandSeed returns SHA-512(seed) with the scalar half clamped, as Ed25519
// and tor do.
func expandSeed(seed []byte) [ExpandedKeySize]byte {
	h := sha512.Sum512(seed)
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	return h
}

// newExpandedKeyFromSeed returns the expanded form of a 32-byte seed.
func newExpandedKeyFromSeed(seed []byte) (*ExpandedKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: ed25519 seed is %d bytes, want %d", ErrInvalidKey, len(seed), ed25519.SeedSize)
	}
	h := expandSeed(seed)
	return NewExpandedKey(h[:])
}

// generateExpandedKey makes a fresh key from a 32-byte seed read from rand.
func generateExpandedKey(rand io.Reader) (*ExpandedKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("reading random seed: %w", err)
	}
	return newExpandedKeyFromSeed(seed)
}

// PublicKey returns the Ed25519 public key.
func (k *ExpandedKey) PublicKey() ed25519.PublicKey {
	return ed25519.PublicKey(append([]byte(nil), k.public[:]...))
}

// String names the key by the start of its public key; it never prints the
// secret.
func (k ExpandedKey) String() string {
	return "hsv3.ExpandedKey(public " + hex.EncodeToString(k.public[:8]) + ", secret redacted)"
}

// GoString returns the same as String, so that %#v does not print the secret.
func (k ExpandedKey) GoString() string { return k.String() }

// Format prints String for every verb (%v %+v %#v %s %q %x %d ...): the
// secret never reaches a log line, whatever the format.
func (k ExpandedKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// Bytes returns a copy of the 64-byte expanded secret key.
func (k *ExpandedKey) Bytes() []byte {
	return append([]byte(nil), k.raw[:]...)
}

// Sign returns the Ed25519 signature of msg. It is deterministic:
// r = SHA-512(prefix | msg), as in RFC 8032 but with the given prefix.
func (k *ExpandedKey) Sign(msg []byte) []byte {
	h := sha512.New()
	h.Write(k.raw[32:])
	h.Write(msg)
	var digest [64]byte
	r, _ := new(edwards25519.Scalar).SetUniformBytes(h.Sum(digest[:0]))
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()

	h.Reset()
	h.Write(R)
	h.Write(k.public[:])
	h.Write(msg)
	c, _ := new(edwards25519.Scalar).SetUniformBytes(h.Sum(digest[:0]))
	s := new(edwards25519.Scalar).MultiplyAdd(c, &k.scalar, r)

	sig := make([]byte, 0, ed25519.SignatureSize)
	sig = append(sig, R...)
	return append(sig, s.Bytes()...)
}

// verify reports whether sig is a valid signature of msg by pub. Unlike
// ed25519.Verify it does not panic on a wrong-sized key.
func verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}
