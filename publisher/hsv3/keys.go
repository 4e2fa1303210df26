package hsv3

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha3"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
)

// Headers of tor's key files; each is NUL-padded to torKeyHeaderSize bytes.
const (
	torSecretKeyHeader = "== ed25519v1-secret: type0 =="
	torPublicKeyHeader = "== ed25519v1-public: type0 =="
	torKeyHeaderSize   = 32
)

// IdentityKey is an onion service's long-term identity key. It always holds
// the expanded secret key; it also holds the seed when it was generated here
// or loaded from a PKCS#8 PEM file (tor's own key file stores no seed).
type IdentityKey struct {
	key  *ExpandedKey
	seed []byte // nil when unknown
}

// NewIdentityKeyFromSeed returns the identity key for a 32-byte Ed25519 seed.
func NewIdentityKeyFromSeed(seed []byte) (*IdentityKey, error) {
	k, err := newExpandedKeyFromSeed(seed)
	if err != nil {
		return nil, err
	}
	return &IdentityKey{key: k, seed: append([]byte(nil), seed...)}, nil
}

// NewIdentityKeyFromExpanded returns the identity key for a 64-byte expanded
// secret key (tor's on-disk form). The key has no seed.
func NewIdentityKeyFromExpanded(expanded []byte) (*IdentityKey, error) {
	k, err := NewExpandedKey(expanded)
	if err != nil {
		return nil, err
	}
	return &IdentityKey{key: k}, nil
}

// GenerateIdentityKey makes a new identity key from 32 bytes of rand.
func GenerateIdentityKey(rand io.Reader) (*IdentityKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("generating identity key: %w", err)
	}
	return NewIdentityKeyFromSeed(seed)
}

// ParseIdentityKey parses tor's hs_ed25519_secret_key file format or an
// unencrypted PKCS#8 PEM Ed25519 key ("-----BEGIN PRIVATE KEY-----", as
// written by the Python OnionBalance tools), detecting which one data is.
func ParseIdentityKey(data []byte) (*IdentityKey, error) {
	switch {
	case bytes.HasPrefix(data, []byte(torSecretKeyHeader)):
		return parseTorSecretKey(data)
	case bytes.HasPrefix(data, []byte(torPublicKeyHeader)):
		return nil, fmt.Errorf("%w: this is tor's public key file (hs_ed25519_public_key), not the secret key", ErrInvalidKey)
	case bytes.Contains(data, []byte("-----BEGIN ")):
		return parsePEMKey(data)
	default:
		return nil, fmt.Errorf("%w: unrecognised format (want tor's hs_ed25519_secret_key or a PKCS#8 PEM Ed25519 key)", ErrInvalidKey)
	}
}

func parseTorSecretKey(data []byte) (*IdentityKey, error) {
	if len(data) != torKeyHeaderSize+ExpandedKeySize {
		return nil, fmt.Errorf("%w: tor secret key file is %d bytes, want %d", ErrInvalidKey, len(data), torKeyHeaderSize+ExpandedKeySize)
	}
	for _, b := range data[len(torSecretKeyHeader):torKeyHeaderSize] {
		if b != 0 {
			return nil, fmt.Errorf("%w: tor secret key header is not NUL-padded", ErrInvalidKey)
		}
	}
	return NewIdentityKeyFromExpanded(data[torKeyHeaderSize:])
}

func parsePEMKey(data []byte) (*IdentityKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrInvalidKey)
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: PEM block is %q, want \"PRIVATE KEY\" (unencrypted PKCS#8)", ErrInvalidKey, block.Type)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#8: %v", ErrInvalidKey, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: PKCS#8 key is %T, want Ed25519", ErrInvalidKey, parsed)
	}
	return NewIdentityKeyFromSeed(priv.Seed())
}

// PublicKey returns the identity public key (the key in the onion address).
func (k *IdentityKey) PublicKey() ed25519.PublicKey { return k.key.PublicKey() }

// Address returns the 56-character onion address, without ".onion".
func (k *IdentityKey) Address() string { return EncodeAddress(k.PublicKey()) }

// String names the key by its onion address; it never prints the secret.
func (k IdentityKey) String() string {
	if k.key == nil {
		return "hsv3.IdentityKey(empty)"
	}
	return "hsv3.IdentityKey(" + EncodeAddress(k.key.PublicKey()) + ", secret redacted)"
}

// GoString returns the same as String, so that %#v does not print the secret.
func (k IdentityKey) GoString() string { return k.String() }

// Format prints String for every verb (%v %+v %#v %s %q %x %d ...): the
// secret never reaches a log line, whatever the format.
func (k IdentityKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// Expanded returns the expanded secret key.
func (k *IdentityKey) Expanded() *ExpandedKey { return k.key }

// Seed returns a copy of the 32-byte seed and true, or nil and false when the
// key was loaded from tor's expanded format.
func (k *IdentityKey) Seed() ([]byte, bool) {
	if k.seed == nil {
		return nil, false
	}
	return append([]byte(nil), k.seed...), true
}

// Sign signs msg with the identity key.
func (k *IdentityKey) Sign(msg []byte) []byte { return k.key.Sign(msg) }

// MarshalTorSecretKey returns the contents of tor's hs_ed25519_secret_key file.
func (k *IdentityKey) MarshalTorSecretKey() []byte {
	out := make([]byte, torKeyHeaderSize, torKeyHeaderSize+ExpandedKeySize)
	copy(out, torSecretKeyHeader)
	return append(out, k.key.raw[:]...)
}

// MarshalTorPublicKey returns the contents of tor's hs_ed25519_public_key file.
func (k *IdentityKey) MarshalTorPublicKey() []byte {
	out := make([]byte, torKeyHeaderSize, torKeyHeaderSize+ed25519.PublicKeySize)
	copy(out, torPublicKeyHeader)
	return append(out, k.key.public[:]...)
}

// Hostname returns the contents of tor's hostname file: "<address>.onion\n".
func (k *IdentityKey) Hostname() []byte {
	return []byte(k.Address() + ".onion\n")
}

// MarshalPEM returns the key as unencrypted PKCS#8 PEM. It fails with
// ErrNoSeed when the seed is unknown: PKCS#8 Ed25519 keys hold a seed.
func (k *IdentityKey) MarshalPEM() ([]byte, error) {
	if k.seed == nil {
		return nil, ErrNoSeed
	}
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(k.seed))
	if err != nil {
		return nil, fmt.Errorf("marshalling PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// OnionBalanceRevisionKey returns the OPE key the Python OnionBalance uses for
// revision counters: SHA3-256("rev-counter-generation" | private bytes), where
// the private bytes are the seed when known and the expanded key otherwise.
// Using it keeps counters comparable with a Python OnionBalance running the
// same key.
func (k *IdentityKey) OnionBalanceRevisionKey() [32]byte {
	h := sha3.New256()
	h.Write([]byte("rev-counter-generation"))
	if k.seed != nil {
		h.Write(k.seed)
	} else {
		h.Write(k.key.raw[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
