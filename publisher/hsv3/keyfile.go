package hsv3

import (
	"fmt"
	"os"
	"path/filepath"
)

// Names of the files tor keeps in a HiddenServiceDir.
const (
	TorSecretKeyFile = "hs_ed25519_secret_key"
	TorPublicKeyFile = "hs_ed25519_public_key"
	TorHostnameFile  = "hostname"
)

// LoadIdentityKey reads an identity key file in either format accepted by
// ParseIdentityKey. Errors name the file.
func LoadIdentityKey(path string) (*IdentityKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading identity key: %w", err)
	}
	k, err := ParseIdentityKey(data)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	return k, nil
}

// WriteTorKeyFiles writes hs_ed25519_secret_key, hs_ed25519_public_key and
// hostname into dir (which must exist), mode 0600, as tor would.
func (k *IdentityKey) WriteTorKeyFiles(dir string) error {
	files := []struct {
		name string
		data []byte
	}{
		{TorSecretKeyFile, k.MarshalTorSecretKey()},
		{TorPublicKeyFile, k.MarshalTorPublicKey()},
		{TorHostnameFile, k.Hostname()},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
