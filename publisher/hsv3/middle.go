package hsv3

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// MiddleLayer is the first-layer plaintext ("superencrypted" section).
type MiddleLayer struct {
	AuthType string
	// EphemeralKey is the service's x25519 key for client authorization.
	EphemeralKey [32]byte
	AuthClients  []AuthClient
	// Encrypted is the second-layer blob (salt | ciphertext | MAC).
	Encrypted []byte
}

func middleRules() map[string]rule {
	return map[string]rule{
		"desc-auth-type":          {min: 1, max: 1, minArgs: 1},
		"desc-auth-ephemeral-key": {min: 1, max: 1, minArgs: 1},
		"auth-client":             {min: 1, minArgs: 3},
		"encrypted":               {min: 1, max: 1, objectTag: "MESSAGE"},
	}
}

// parseMiddle parses the middle layer text (NUL padding already removed).
func parseMiddle(text []byte) (*MiddleLayer, error) {
	items, err := tokenize(text)
	if err != nil {
		return nil, fmt.Errorf("middle layer: %w", err)
	}
	if len(items) == 0 || items[0].keyword != "desc-auth-type" {
		return nil, fmt.Errorf("middle layer: %w: must start with \"desc-auth-type\"", ErrMalformed)
	}
	m, err := checkRules(items, middleRules())
	if err != nil {
		return nil, fmt.Errorf("middle layer: %w", err)
	}
	l := &MiddleLayer{AuthType: m["desc-auth-type"][0].args[0]}

	eph, err := decodeBase64Size(m["desc-auth-ephemeral-key"][0].args[0], 32)
	if err != nil {
		return nil, fmt.Errorf("middle layer: %w: desc-auth-ephemeral-key: %v", ErrMalformed, err)
	}
	copy(l.EphemeralKey[:], eph)

	for _, it := range m["auth-client"] {
		var c AuthClient
		fields := []struct {
			name string
			dst  []byte
		}{{"client-id", c.ID[:]}, {"iv", c.IV[:]}, {"encrypted-cookie", c.EncryptedCookie[:]}}
		for i, f := range fields {
			b, err := decodeBase64Size(it.args[i], len(f.dst))
			if err != nil {
				return nil, fmt.Errorf("middle layer: %w: line %d: auth-client %s: %v", ErrMalformed, it.line, f.name, err)
			}
			copy(f.dst, b)
		}
		l.AuthClients = append(l.AuthClients, c)
	}
	l.Encrypted = m["encrypted"][0].object.data
	return l, nil
}

// marshal writes the layer as C tor does: no newline after the final
// "-----END MESSAGE-----".
func (l *MiddleLayer) marshal() []byte {
	var b bytes.Buffer
	b.WriteString("desc-auth-type " + l.AuthType + "\n")
	b.WriteString("desc-auth-ephemeral-key " + base64.StdEncoding.EncodeToString(l.EphemeralKey[:]) + "\n")
	for _, c := range l.AuthClients {
		fmt.Fprintf(&b, "auth-client %s %s %s\n",
			base64.RawStdEncoding.EncodeToString(c.ID[:]),
			base64.RawStdEncoding.EncodeToString(c.IV[:]),
			base64.RawStdEncoding.EncodeToString(c.EncryptedCookie[:]))
	}
	b.WriteString("encrypted\n")
	writeObject(&b, "MESSAGE", l.Encrypted)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
