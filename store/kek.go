package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// KEKSize is the size of a key-encryption key in bytes.
const KEKSize = 32

// KEK is a key-encryption key: the secret each obhost keeps outside etcd to
// seal and open the service master keys stored in etcd.
type KEK struct {
	key [KEKSize]byte
	id  string
}

// NewKEK returns the KEK made of the 32 bytes b.
func NewKEK(b []byte) (KEK, error) {
	if len(b) != KEKSize {
		return KEK{}, fmt.Errorf("key-encryption key is %d bytes, want %d", len(b), KEKSize)
	}
	var k KEK
	copy(k.key[:], b)
	sum := sha256.Sum256(k.key[:])
	k.id = hex.EncodeToString(sum[:8])
	return k, nil
}

// GenerateKEK returns a new random KEK.
func GenerateKEK() (KEK, error) {
	b := make([]byte, KEKSize)
	if _, err := rand.Read(b); err != nil {
		return KEK{}, fmt.Errorf("generate key-encryption key: %w", err)
	}
	return NewKEK(b)
}

// ParseKEK decodes a KEK written as 64 hex digits or as base64 (standard or
// URL alphabet, padded or not). Surrounding white space is ignored.
func ParseKEK(s string) (KEK, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KEKSize {
		if b, err := hex.DecodeString(s); err == nil {
			return NewKEK(b)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return NewKEK(b)
		}
	}
	return KEK{}, fmt.Errorf("key-encryption key is neither 64 hex digits nor base64 of %d bytes", KEKSize)
}

// LoadKEKFile reads a KEK (see ParseKEK) from path. The file must not be
// readable or writable by group or others.
func LoadKEKFile(path string) (KEK, error) {
	if err := checkFileMode(path, 0o077); err != nil {
		return KEK{}, fmt.Errorf("key-encryption key file: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return KEK{}, fmt.Errorf("key-encryption key file: %w", err)
	}
	k, err := ParseKEK(string(b))
	if err != nil {
		return KEK{}, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	return k, nil
}

// KEKFromEnv reads a KEK (see ParseKEK) from the environment variable name.
func KEKFromEnv(name string) (KEK, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return KEK{}, fmt.Errorf("key-encryption key: environment variable %s is not set", name)
	}
	k, err := ParseKEK(v)
	if err != nil {
		return KEK{}, fmt.Errorf("key-encryption key in $%s: %w", name, err)
	}
	return k, nil
}

// WriteKEKFile writes k to a new file at path with mode 0600. It refuses to
// overwrite an existing file.
func WriteKEKFile(path string, k KEK) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("key-encryption key file: %w", err)
	}
	if _, err := f.WriteString(k.Encode() + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	return nil
}

// ID returns the KEK id: the hex of the first 8 bytes of its SHA-256. It
// names the KEK in sealed values without revealing it.
func (k KEK) ID() string { return k.id }

// Encode returns the KEK in standard base64, as WriteKEKFile stores it.
func (k KEK) Encode() string { return base64.StdEncoding.EncodeToString(k.key[:]) }

// String names the KEK by its id only, so that logging a KEK never leaks it.
func (k KEK) String() string { return "kek:" + k.id }

// GoString returns the same as String, so that %#v does not print the key.
func (k KEK) GoString() string { return k.String() }

// Format prints String for every verb (%v %+v %#v %s %q %x %d ...): the key
// bytes never reach a log line, whatever the format.
func (k KEK) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// IsZero reports whether k is the zero KEK (never loaded).
func (k KEK) IsZero() bool { return k.id == "" }
