package hsv3

import (
	"crypto/ed25519"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"filippo.io/edwards25519"
)

// Constants of the key-blinding scheme (rend-spec-v3 appendix A.2).
const (
	// blindString carries a trailing NUL: tor hashes sizeof("...").
	blindString       = "Derive temporary signing key\x00"
	blindPrefixString = "Derive temporary signing key hash input"
	blindNonceString  = "key-blind"
	basepointString   = "(15112221349535400772501151409588531511454012693041857206046113283949847762202, 46316835694926478169428394003475163141307993866256225615783033603165251855960)"
)

// BlindingParam returns the blinding factor h (before clamping) for an
// identity key in time period periodNum of periodLength minutes.
func BlindingParam(identity ed25519.PublicKey, periodNum, periodLength uint64) [32]byte {
	h := sha3.New256()
	h.Write([]byte(blindString))
	h.Write(identity)
	h.Write([]byte(basepointString))
	h.Write([]byte(blindNonceString))
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], periodNum)
	binary.BigEndian.PutUint64(n[8:], periodLength)
	h.Write(n[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// BlindPublicKey returns the blinded public key A' = clamp(h)·A of an
// identity key for a time period.
func BlindPublicKey(identity ed25519.PublicKey, periodNum, periodLength uint64) (ed25519.PublicKey, error) {
	return blindPublicKeyWithParam(identity, BlindingParam(identity, periodNum, periodLength))
}

func blindPublicKeyWithParam(identity ed25519.PublicKey, param [32]byte) (ed25519.PublicKey, error) {
	if len(identity) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: identity public key is %d bytes, want %d", ErrInvalidKey, len(identity), ed25519.PublicKeySize)
	}
	a, err := new(edwards25519.Point).SetBytes(identity)
	if err != nil {
		return nil, fmt.Errorf("%w: identity public key is not a valid ed25519 point", ErrInvalidKey)
	}
	hc, _ := new(edwards25519.Scalar).SetBytesWithClamping(param[:])
	return ed25519.PublicKey(new(edwards25519.Point).ScalarMult(hc, a).Bytes()), nil
}

// BlindedKey returns the blinded expanded secret key for a time period. Its
// public key equals BlindPublicKey(k.PublicKey(), periodNum, periodLength).
func (k *IdentityKey) BlindedKey(periodNum, periodLength uint64) *ExpandedKey {
	return blindExpandedKey(k.key, BlindingParam(k.PublicKey(), periodNum, periodLength))
}

// blindExpandedKey returns (a·clamp(h) mod ℓ) || SHA-512(prefix string | prefix)[:32].
// The blinded scalar is reduced and deliberately not clamped.
func blindExpandedKey(k *ExpandedKey, param [32]byte) *ExpandedKey {
	hc, _ := new(edwards25519.Scalar).SetBytesWithClamping(param[:])
	scalar := new(edwards25519.Scalar).Multiply(&k.scalar, hc)

	h := sha512.New()
	h.Write([]byte(blindPrefixString))
	h.Write(k.raw[32:])
	prefix := h.Sum(nil)

	var raw [ExpandedKeySize]byte
	copy(raw[:32], scalar.Bytes())
	copy(raw[32:], prefix[:32])
	return newExpandedKeyFromScalar(raw, scalar)
}

// Credential returns SHA3-256("credential" | identity).
func Credential(identity ed25519.PublicKey) [32]byte {
	h := sha3.New256()
	h.Write([]byte("credential"))
	h.Write(identity)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Subcredential returns SHA3-256("subcredential" | credential | blinded), the
// per-period secret both descriptor layers are keyed with.
func Subcredential(identity, blinded ed25519.PublicKey) [32]byte {
	cred := Credential(identity)
	h := sha3.New256()
	h.Write([]byte("subcredential"))
	h.Write(cred[:])
	h.Write(blinded)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// BlindedKeyID returns the blinded key as tor's control port names a
// descriptor in HS_DESC events: unpadded base64, 43 characters.
func BlindedKeyID(blinded ed25519.PublicKey) string {
	return base64.RawStdEncoding.EncodeToString(blinded)
}
