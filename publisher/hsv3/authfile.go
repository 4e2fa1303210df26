package hsv3

import (
	"crypto/ecdh"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Client-authorization key files in tor's formats (tor's manual, "CLIENT AUTHORIZATION"):
//
//	HiddenServiceDir/authorized_clients/<name>.auth   descriptor:x25519:<base32 public key>
//	ClientOnionAuthDir/<name>.auth_private             <56-char address>:descriptor:x25519:<base32 secret key>
//
// Keys are 32 bytes in unpadded base32 (52 characters); either case is read, upper case is written.
// A file holds one line; a final newline is allowed, nothing else.

// Suffixes of the two kinds of files.
const (
	AuthFileSuffix        = ".auth"
	AuthPrivateFileSuffix = ".auth_private"
)

// ErrAuthFile is wrapped by every error about a client-authorization key file or line.
var ErrAuthFile = errors.New("invalid client authorization key")

// AuthorizedClient is one client allowed to read a descriptor with restricted discovery.
type AuthorizedClient struct {
	// Name is the file name without ".auth", or how the config names it.
	Name string
	Key  *ecdh.PublicKey
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func parseX25519Field(s string) ([]byte, error) {
	if len(s) != 52 {
		return nil, fmt.Errorf("%w: key is %d base32 characters, want 52", ErrAuthFile, len(s))
	}
	b, err := b32.DecodeString(strings.ToUpper(s))
	if err != nil {
		return nil, fmt.Errorf("%w: key is not base32: %v", ErrAuthFile, err)
	}
	return b, nil
}

// ParseAuthorizedClientLine parses "descriptor:x25519:<base32 public key>".
func ParseAuthorizedClientLine(line string) (*ecdh.PublicKey, error) {
	rest, ok := strings.CutPrefix(line, "descriptor:x25519:")
	if !ok {
		return nil, fmt.Errorf("%w: want descriptor:x25519:<base32 public key>", ErrAuthFile)
	}
	b, err := parseX25519Field(rest)
	if err != nil {
		return nil, err
	}
	k, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthFile, err)
	}
	return k, nil
}

// ParseAuthPrivateLine parses "<address>:descriptor:x25519:<base32 secret key>" and returns the
// address (56 characters, no ".onion") and the key.
func ParseAuthPrivateLine(line string) (string, *ecdh.PrivateKey, error) {
	addr, rest, ok := strings.Cut(line, ":")
	if !ok {
		return "", nil, fmt.Errorf("%w: want <onion address>:descriptor:x25519:<base32 secret key>", ErrAuthFile)
	}
	if _, err := DecodeAddress(addr); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrAuthFile, err)
	}
	rest, ok = strings.CutPrefix(rest, "descriptor:x25519:")
	if !ok {
		return "", nil, fmt.Errorf("%w: want <onion address>:descriptor:x25519:<base32 secret key>", ErrAuthFile)
	}
	b, err := parseX25519Field(rest)
	if err != nil {
		return "", nil, err
	}
	k, err := ecdh.X25519().NewPrivateKey(b)
	clear(b)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrAuthFile, err)
	}
	return strings.ToLower(strings.TrimSuffix(addr, ".onion")), k, nil
}

// oneLine returns the single line of a key file: a final "\n" is allowed, any other line break or an
// empty file is an error naming the line.
func oneLine(data []byte) (string, error) {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	switch {
	case len(lines) > 1:
		return "", fmt.Errorf("%w: line 2: the file must hold exactly one line", ErrAuthFile)
	case lines[0] == "":
		return "", fmt.Errorf("%w: line 1: the file is empty", ErrAuthFile)
	case strings.ContainsAny(lines[0], "\r\t "):
		return "", fmt.Errorf("%w: line 1: blank or carriage return in the line", ErrAuthFile)
	}
	return lines[0], nil
}

// ParseAuthorizedClient parses the content of a .auth file.
func ParseAuthorizedClient(data []byte) (*ecdh.PublicKey, error) {
	line, err := oneLine(data)
	if err != nil {
		return nil, err
	}
	k, err := ParseAuthorizedClientLine(line)
	if err != nil {
		return nil, fmt.Errorf("line 1: %w", err)
	}
	return k, nil
}

// ParseAuthPrivate parses the content of a .auth_private file.
func ParseAuthPrivate(data []byte) (string, *ecdh.PrivateKey, error) {
	line, err := oneLine(data)
	if err != nil {
		return "", nil, err
	}
	addr, k, err := ParseAuthPrivateLine(line)
	if err != nil {
		return "", nil, fmt.Errorf("line 1: %w", err)
	}
	return addr, k, nil
}

// LoadAuthPrivateFile reads a .auth_private file. Errors name the file (never the key).
func LoadAuthPrivateFile(path string) (string, *ecdh.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("client authorization key: %w", err)
	}
	defer clear(data)
	addr, k, err := ParseAuthPrivate(data)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	return addr, k, nil
}

// LoadAuthorizedClientsDir reads every *.auth file of dir, as tor reads
// HiddenServiceDir/authorized_clients/ (other files are ignored), sorted by name. Errors name the file.
// The same key twice is an error.
func LoadAuthorizedClientsDir(dir string) ([]AuthorizedClient, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("authorized clients: %w", err)
	}
	var out []AuthorizedClient
	seen := map[string]string{}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), AuthFileSuffix)
		if !ok || e.IsDir() || name == "" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("authorized clients: %w", err)
		}
		k, err := ParseAuthorizedClient(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if prev, dup := seen[string(k.Bytes())]; dup {
			return nil, fmt.Errorf("%s: %w: the same key as %s", path, ErrAuthFile, prev)
		}
		seen[string(k.Bytes())] = path
		out = append(out, AuthorizedClient{Name: name, Key: k})
	}
	return out, nil
}

// MarshalAuthorizedClient returns the .auth file content for a client's public key.
func MarshalAuthorizedClient(k *ecdh.PublicKey) []byte {
	return []byte("descriptor:x25519:" + b32.EncodeToString(k.Bytes()) + "\n")
}

// MarshalAuthPrivate returns the .auth_private file content giving a client the key k for address.
func MarshalAuthPrivate(address string, k *ecdh.PrivateKey) []byte {
	return []byte(strings.TrimSuffix(address, ".onion") + ":descriptor:x25519:" + b32.EncodeToString(k.Bytes()) + "\n")
}

// EncodeX25519 returns a key's bytes in unpadded upper-case base32, as the key files hold them.
func EncodeX25519(b []byte) string { return b32.EncodeToString(b) }
