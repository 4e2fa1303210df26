package hsv3

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha3"
	"encoding/base32"
	"fmt"
	"strings"

	"filippo.io/edwards25519"
)

const (
	// AddressLength is the length of a v3 onion address without ".onion".
	AddressLength   = 56
	addressVersion  = 3
	addressChecksum = ".onion checksum"
)

var addressEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeAddress returns the 56-character v3 onion address of an identity
// public key, lower case, without ".onion".
func EncodeAddress(identity ed25519.PublicKey) string {
	var raw [35]byte
	copy(raw[:32], identity)
	sum := addressSum(raw[:32])
	raw[32], raw[33], raw[34] = sum[0], sum[1], addressVersion
	return strings.ToLower(addressEncoding.EncodeToString(raw[:]))
}

func addressSum(pub []byte) [32]byte {
	h := sha3.New256()
	h.Write([]byte(addressChecksum))
	h.Write(pub)
	h.Write([]byte{addressVersion})
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// DecodeAddress returns the identity public key of a v3 onion address. It
// accepts the address with or without ".onion", in any case, and checks the
// length, base32 alphabet, version, checksum and that the key is a valid
// point without a torsion component.
func DecodeAddress(addr string) (ed25519.PublicKey, error) {
	s := addr
	if len(s) > len(".onion") && strings.EqualFold(s[len(s)-len(".onion"):], ".onion") {
		s = s[:len(s)-len(".onion")]
	}
	if len(s) != AddressLength {
		return nil, fmt.Errorf("%w %q: length %d, want %d characters", ErrInvalidAddress, addr, len(s), AddressLength)
	}
	raw, err := addressEncoding.DecodeString(strings.ToUpper(s))
	if err != nil {
		return nil, fmt.Errorf("%w %q: not base32: %v", ErrInvalidAddress, addr, err)
	}
	pub, sum, version := raw[:32], raw[32:34], raw[34]
	if version != addressVersion {
		return nil, fmt.Errorf("%w %q: version %d, want %d", ErrInvalidAddress, addr, version, addressVersion)
	}
	want := addressSum(pub)
	if !bytes.Equal(sum, want[:2]) {
		return nil, fmt.Errorf("%w %q: bad checksum %x, want %x", ErrInvalidAddress, addr, sum, want[:2])
	}
	if err := checkTorsionFree(pub); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidAddress, addr, err)
	}
	return ed25519.PublicKey(pub), nil
}

// checkTorsionFree checks that pub decodes to a curve point P with [ℓ]P = 0,
// as tor clients do for onion addresses.
func checkTorsionFree(pub []byte) error {
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return fmt.Errorf("public key is not a valid ed25519 point")
	}
	// [ℓ]P computed as [ℓ-1]P + P, since ℓ itself is not a canonical scalar.
	one, _ := new(edwards25519.Scalar).SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
	lMinusOne := new(edwards25519.Scalar).Negate(one)
	q := new(edwards25519.Point).ScalarMult(lMinusOne, p)
	q.Add(q, p)
	if q.Equal(edwards25519.NewIdentityPoint()) != 1 {
		return fmt.Errorf("public key has a torsion component")
	}
	return nil
}
