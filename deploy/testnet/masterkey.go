package testnet

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/obcluster/obcluster/publisher/hsv3"
)

// ErrBadOnionAddress is returned for a string that is not a v3 onion address.
var ErrBadOnionAddress = errors.New("testnet: not a v3 onion address")

// OnionAddress returns the v3 onion address of an ed25519 identity key, "<56 chars>.onion".
func OnionAddress(pub ed25519.PublicKey) string { return hsv3.EncodeAddress(pub) + ".onion" }

// NormalizeOnionAddress checks a v3 address, with or without ".onion", and returns it lower-case with
// the ".onion" suffix.
func NormalizeOnionAddress(addr string) (string, error) {
	pub, err := hsv3.DecodeAddress(addr)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadOnionAddress, addr, err)
	}
	return OnionAddress(pub), nil
}

// GenerateMasterKey creates an identity key with the project's key code (publisher/hsv3, as
// onionbalance-config does) from random (nil: crypto/rand), writes it in tor's format to dir
// (hs_ed25519_secret_key, hs_ed25519_public_key, hostname; dir is created with mode 0700) and returns
// the onion address.
func GenerateMasterKey(dir string, random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	k, err := hsv3.GenerateIdentityKey(random)
	if err != nil {
		return "", fmt.Errorf("testnet: generate master key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	if err := k.WriteTorKeyFiles(dir); err != nil {
		return "", fmt.Errorf("testnet: write master key: %w", err)
	}
	return k.Address() + ".onion", nil
}
