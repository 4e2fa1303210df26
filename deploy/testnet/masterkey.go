package testnet

// This file is a stand-in for the project's key generator: it exists so that
// the harness can run OnionBalance-instance backends before that generator
// exists. Replace GenerateMasterKey's callers with it once it lands.

import (
	"crypto/ed25519"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrBadOnionAddress is returned for a string that is not a v3 onion address.
var ErrBadOnionAddress = errors.New("testnet: not a v3 onion address")

var onionBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// OnionAddress returns the v3 onion address of an ed25519 identity key,
// "<56 chars>.onion": base32(pub | checksum | 0x03) with
// checksum = SHA3-256(".onion checksum" | pub | 0x03)[:2].
func OnionAddress(pub ed25519.PublicKey) string {
	sum := onionChecksum(pub)
	raw := make([]byte, 0, 35)
	raw = append(raw, pub...)
	raw = append(raw, sum[0], sum[1], 3)
	return strings.ToLower(onionBase32.EncodeToString(raw)) + ".onion"
}

func onionChecksum(pub []byte) [32]byte {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{3})
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// NormalizeOnionAddress checks a v3 address, with or without ".onion", and
// returns it lower-case with the ".onion" suffix.
func NormalizeOnionAddress(addr string) (string, error) {
	label := strings.TrimSuffix(strings.ToLower(addr), ".onion")
	if len(label) != 56 {
		return "", fmt.Errorf("%w: %q: %d characters before .onion, want 56", ErrBadOnionAddress, addr, len(label))
	}
	raw, err := onionBase32.DecodeString(strings.ToUpper(label))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadOnionAddress, addr, err)
	}
	if raw[34] != 3 {
		return "", fmt.Errorf("%w: %q: version %d", ErrBadOnionAddress, addr, raw[34])
	}
	sum := onionChecksum(raw[:32])
	if raw[32] != sum[0] || raw[33] != sum[1] {
		return "", fmt.Errorf("%w: %q: bad checksum", ErrBadOnionAddress, addr)
	}
	return label + ".onion", nil
}

// Tor's key-file headers: 29 characters NUL-padded to 32 bytes.
const (
	secretKeyHeader = "== ed25519v1-secret: type0 =="
	publicKeyHeader = "== ed25519v1-public: type0 =="
)

// expandedSecretKey returns tor's 64-byte expanded form of an ed25519 seed:
// SHA-512(seed) with the first half clamped.
func expandedSecretKey(seed []byte) [64]byte {
	h := sha512.Sum512(seed)
	h[0] &= 248
	h[31] &= 63
	h[31] |= 64
	return h
}

func keyFile(header string, body []byte) []byte {
	b := make([]byte, 32, 32+len(body))
	copy(b, header)
	return append(b, body...)
}

// GenerateMasterKey creates an ed25519 identity key from random (nil: a secure
// source), writes it in
// tor's format to dir (hs_ed25519_secret_key, hs_ed25519_public_key, hostname;
// dir is created with mode 0700) and returns the onion address.
func GenerateMasterKey(dir string, random io.Reader) (string, error) {
	pub, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return "", fmt.Errorf("testnet: generate master key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	addr := OnionAddress(pub)
	expanded := expandedSecretKey(priv.Seed())
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{"hs_ed25519_secret_key", keyFile(secretKeyHeader, expanded[:]), 0o600},
		{"hs_ed25519_public_key", keyFile(publicKeyHeader, pub), 0o644},
		{"hostname", []byte(addr + "\n"), 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return "", fmt.Errorf("testnet: write master key: %w", err)
		}
	}
	return addr, nil
}
