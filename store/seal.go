package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sealed values are ASCII so that etcdctl shows them readably:
//
//	obseal:v1:<kek-id>:<base64(nonce || ciphertext)>   XChaCha20-Poly1305
//	obplain:v1:<base64(plaintext)>                      explicit plaintext
//
// The associated data of a sealed value is its header ("obseal:v1:<kek-id>:")
// followed by the etcd key path, so a value cannot be moved to another key or
// relabelled with another KEK id.
const (
	sealedPrefix = "obseal:v1:"
	plainPrefix  = "obplain:v1:"
)

// Errors returned by Sealer.Open.
var (
	// ErrUnknownKEK: the value was sealed with a KEK the sealer does not
	// hold.
	ErrUnknownKEK = errors.New("sealed with an unknown key-encryption key")
	// ErrSealBroken: the value does not authenticate (wrong key, wrong
	// key path or tampered with) or is malformed.
	ErrSealBroken = errors.New("sealed value does not open")
	// ErrPlaintextRefused: the value is stored in plaintext and the sealer
	// was not told to accept that.
	ErrPlaintextRefused = errors.New("secret is stored in plaintext, which is not allowed")
	// ErrNotSealed: the value has neither a sealed nor a plaintext header.
	ErrNotSealed = errors.New("value is not a sealed secret")
)

// Sealer seals secrets for storage in etcd and opens them again.
type Sealer struct {
	current        *KEK
	keks           map[string]KEK
	allowPlaintext bool
}

// NewSealer returns a sealer that seals with current and opens values sealed
// with current or any of previous (keep old KEKs there while rotating).
func NewSealer(current KEK, previous ...KEK) (*Sealer, error) {
	if current.IsZero() {
		return nil, errors.New("sealer: no key-encryption key")
	}
	s := &Sealer{current: &current, keks: map[string]KEK{current.ID(): current}}
	for _, k := range previous {
		if k.IsZero() {
			return nil, errors.New("sealer: zero previous key-encryption key")
		}
		s.keks[k.ID()] = k
	}
	return s, nil
}

// NewPlaintextSealer returns a sealer that stores secrets unencrypted, under
// a header that can never be mistaken for a sealed value. It still opens
// values sealed with any of keks. Use it only when the operator has
// explicitly opted out of encryption.
func NewPlaintextSealer(keks ...KEK) *Sealer {
	s := &Sealer{keks: map[string]KEK{}, allowPlaintext: true}
	for _, k := range keks {
		if !k.IsZero() {
			s.keks[k.ID()] = k
		}
	}
	return s
}

// AllowPlaintext makes s open plaintext values too, for migrating a cluster
// from plaintext to sealed secrets. Seal is unaffected.
func (s *Sealer) AllowPlaintext() { s.allowPlaintext = true }

// Plaintext reports whether s seals in plaintext.
func (s *Sealer) Plaintext() bool { return s.current == nil }

// KEKID returns the id of the KEK s seals with, or "" in plaintext mode.
func (s *Sealer) KEKID() string {
	if s.current == nil {
		return ""
	}
	return s.current.ID()
}

// String names the current KEK and counts the others; it never prints a key.
func (s Sealer) String() string {
	if s.current == nil {
		return fmt.Sprintf("sealer(plaintext, %d keks)", len(s.keks))
	}
	return fmt.Sprintf("sealer(%s, %d keks)", s.current, len(s.keks))
}

// GoString returns the same as String, so that %#v does not print the keys.
func (s Sealer) GoString() string { return s.String() }

// Format prints String for every verb: the KEKs never reach a log line.
func (s Sealer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

func sealedHeader(kekID string) string { return sealedPrefix + kekID + ":" }

func sealAAD(header, keyPath string) []byte {
	return []byte(header + keyPath)
}

// Seal returns secret sealed for storage at keyPath.
func (s *Sealer) Seal(keyPath string, secret []byte) ([]byte, error) {
	if s.current == nil {
		return append([]byte(plainPrefix), base64.StdEncoding.EncodeToString(secret)...), nil
	}
	aead, err := chacha20poly1305.NewX(s.current.key[:])
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", keyPath, err)
	}
	header := sealedHeader(s.current.ID())
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s: %w", keyPath, err)
	}
	box := aead.Seal(nonce, nonce, secret, sealAAD(header, keyPath))
	return append([]byte(header), base64.StdEncoding.EncodeToString(box)...), nil
}

// SealedKEKID returns the KEK id in the header of a sealed value, "" for a
// plaintext value, and ErrNotSealed for anything else.
func SealedKEKID(value []byte) (string, error) {
	switch {
	case bytes.HasPrefix(value, []byte(plainPrefix)):
		return "", nil
	case bytes.HasPrefix(value, []byte(sealedPrefix)):
		id, _, ok := bytes.Cut(value[len(sealedPrefix):], []byte(":"))
		if !ok || len(id) == 0 {
			return "", ErrSealBroken
		}
		return string(id), nil
	default:
		return "", ErrNotSealed
	}
}

// Open returns the secret in value, which must have been sealed for keyPath.
func (s *Sealer) Open(keyPath string, value []byte) ([]byte, error) {
	id, err := SealedKEKID(value)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", keyPath, err)
	}
	if id == "" {
		if !s.allowPlaintext {
			return nil, fmt.Errorf("open %s: %w", keyPath, ErrPlaintextRefused)
		}
		secret, err := base64.StdEncoding.DecodeString(string(value[len(plainPrefix):]))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w: %v", keyPath, ErrSealBroken, err)
		}
		return secret, nil
	}
	kek, ok := s.keks[id]
	if !ok {
		return nil, fmt.Errorf("open %s: %w (id %s)", keyPath, ErrUnknownKEK, id)
	}
	header := sealedHeader(id)
	box, err := base64.StdEncoding.DecodeString(string(value[len(header):]))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w: %v", keyPath, ErrSealBroken, err)
	}
	aead, err := chacha20poly1305.NewX(kek.key[:])
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", keyPath, err)
	}
	if len(box) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("open %s: %w: too short", keyPath, ErrSealBroken)
	}
	nonce, ct := box[:aead.NonceSize()], box[aead.NonceSize():]
	secret, err := aead.Open(nil, nonce, ct, sealAAD(header, keyPath))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", keyPath, ErrSealBroken)
	}
	return secret, nil
}
