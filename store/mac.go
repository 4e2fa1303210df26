package store

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Values that are stored readable in etcd but must not be changed by anyone
// without the KEK (the services configuration) carry a MAC:
//
//	obmac:v1:<kek-id>:<base64(HMAC-SHA256(mac key, input))>
//
// The MAC key is derived from the KEK with HKDF-SHA256 under macLabel, so it
// is never the key that seals secrets. The input is the header
// ("obmac:v1:<kek-id>:"), the length of the etcd key path (8 bytes, big
// endian), the key path and the value's bytes: a MAC is bound to its key
// path and to the KEK it names.
const (
	macPrefix = "obmac:v1:"
	macLabel  = "obcluster etcd value mac v1"
)

// Errors returned by Sealer.CheckMAC.
var (
	// ErrMACMissing: the value carries no MAC and the sealer was not told
	// to accept unauthenticated values.
	ErrMACMissing = errors.New("value is not authenticated (no MAC)")
	// ErrMACBroken: the MAC does not verify (the value, its key path or
	// the MAC was changed without the KEK) or is malformed.
	ErrMACBroken = errors.New("MAC does not verify")
)

func macKey(k *KEK) ([]byte, error) {
	return hkdf.Key(sha256.New, k.key[:], nil, macLabel, sha256.Size)
}

func macOf(k *KEK, keyPath string, data []byte) ([]byte, error) {
	key, err := macKey(k)
	if err != nil {
		return nil, fmt.Errorf("mac %s: %w", keyPath, err)
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte(macPrefix + k.ID() + ":"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(keyPath))))
	h.Write([]byte(keyPath))
	h.Write(data)
	return h.Sum(nil), nil
}

// MAC returns the MAC of data stored at keyPath, under the KEK s seals with,
// in the obmac:v1 format. A plaintext sealer (no KEK) has nothing to derive
// a key from and returns "".
func (s *Sealer) MAC(keyPath string, data []byte) (string, error) {
	if s.current == nil {
		return "", nil
	}
	sum, err := macOf(s.current, keyPath, data)
	if err != nil {
		return "", err
	}
	return macPrefix + s.current.ID() + ":" + base64.StdEncoding.EncodeToString(sum), nil
}

// CheckMAC verifies that tag is the MAC of data stored at keyPath under one
// of the KEKs s holds. An empty tag is accepted only by a sealer that
// accepts plaintext (the operator's explicit opt-in), and so is any tag when
// s holds no KEK at all: such a node cannot authenticate anything.
func (s *Sealer) CheckMAC(keyPath string, data []byte, tag string) error {
	if tag == "" {
		if s.allowPlaintext {
			return nil
		}
		return fmt.Errorf("%s: %w", keyPath, ErrMACMissing)
	}
	if len(s.keks) == 0 && s.allowPlaintext {
		return nil
	}
	rest, ok := strings.CutPrefix(tag, macPrefix)
	id, b64, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || id == "" {
		return fmt.Errorf("%s: %w: malformed", keyPath, ErrMACBroken)
	}
	kek, ok := s.keks[id]
	if !ok {
		return fmt.Errorf("%s: %w: made with an unknown key-encryption key (id %s)", keyPath, ErrMACBroken, id)
	}
	got, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("%s: %w: malformed", keyPath, ErrMACBroken)
	}
	want, err := macOf(&kek, keyPath, data)
	if err != nil {
		return err
	}
	if !hmac.Equal(got, want) {
		return fmt.Errorf("%s: %w", keyPath, ErrMACBroken)
	}
	return nil
}
