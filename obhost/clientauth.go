package obhost

import (
	"crypto/ecdh"
	"fmt"
	"strings"

	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// Restricted discovery in the cluster configuration: the authorized clients' public keys are stored
// as they are (they are public; the configuration's MAC keeps them from being changed without the
// key-encryption key), and a private backend's client key is stored sealed with the key-encryption
// key, bound to record.ClientAuthKeyPath. Only cluster init and set-config seal (sealClientAuthKeys);
// a node opens (openClientAuth).

// addClientAuth copies a service's authorized clients and its backends' client keys (unsealed, in
// ClientAuthSecret, to be sealed by the push) into cs.
func addClientAuth(cs *record.ClusterService, sc publisher.ServiceConfig) {
	for _, c := range sc.AuthorizedClients {
		cs.AuthorizedClients = append(cs.AuthorizedClients, record.ClusterClient{Name: c.Name, X25519: hsv3.EncodeX25519(c.Key.Bytes())})
	}
	for j, b := range sc.Backends {
		if b.ClientKey != nil && j < len(cs.Instances) {
			cs.Instances[j].ClientAuthSecret = b.ClientKey.Bytes()
		}
	}
}

// validateClientAuth checks the authorized clients and the form of the sealed client keys of
// services[i].
func validateClientAuth(i int, s record.ClusterService) error {
	if n := len(s.AuthorizedClients); n > hsv3.MaxAuthorizedClients {
		return fmt.Errorf("cluster config: services[%d].authorized_clients: %d clients, at most %d fit in a descriptor", i, n, hsv3.MaxAuthorizedClients)
	}
	seen := map[string]int{}
	for j, c := range s.AuthorizedClients {
		if _, err := hsv3.ParseAuthorizedClientLine("descriptor:x25519:" + c.X25519); err != nil {
			return fmt.Errorf("cluster config: services[%d].authorized_clients[%d]: %w", i, j, err)
		}
		k := strings.ToUpper(c.X25519)
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("cluster config: services[%d].authorized_clients[%d]: the same key as authorized_clients[%d]", i, j, prev)
		}
		seen[k] = j
	}
	for j, in := range s.Instances {
		if in.ClientAuthKey == "" {
			continue
		}
		if _, err := store.SealedKEKID([]byte(in.ClientAuthKey)); err != nil {
			return fmt.Errorf("cluster config: services[%d].instances[%d].client_auth_key: %w", i, j, err)
		}
	}
	return nil
}

// sealClientAuthKeys returns cc with every backend client key sealed for configKey (the caller's cc is
// not changed). A sealer without a key-encryption key (the plaintext opt-in) stores it in plaintext,
// as it does the master keys.
func sealClientAuthKeys(cc record.ClusterConfig, sealer *store.Sealer, configKey string) (record.ClusterConfig, error) {
	services := make([]record.ClusterService, len(cc.Services))
	for i, s := range cc.Services {
		s.Instances = append([]record.ClusterInstance(nil), s.Instances...)
		for j, in := range s.Instances {
			if in.ClientAuthSecret == nil {
				continue
			}
			sealed, err := sealer.Seal(record.ClientAuthKeyPath(configKey, s.Address, in.Address), in.ClientAuthSecret)
			if err != nil {
				return record.ClusterConfig{}, fmt.Errorf("client key of backend %s: %w", in.Address, err)
			}
			s.Instances[j].ClientAuthKey, s.Instances[j].ClientAuthSecret = string(sealed), nil
		}
		services[i] = s
	}
	cc.Services = services
	return cc, nil
}

// checkSealed refuses a configuration holding a client key that was not sealed: encoding would drop
// it silently.
func checkSealed(cc record.ClusterConfig) error {
	for _, s := range cc.Services {
		for _, in := range s.Instances {
			if in.ClientAuthSecret != nil {
				return fmt.Errorf("cluster config: the client key of backend %s is not sealed", in.Address)
			}
		}
	}
	return nil
}

// openClientAuth sets the authorized clients and the backends' opened client keys of services, built
// from cc by serviceConfigs (same order).
func openClientAuth(services []publisher.ServiceConfig, cc record.ClusterConfig, sealer *store.Sealer, configKey string) error {
	for i, s := range cc.Services {
		sc := &services[i]
		for _, c := range s.AuthorizedClients {
			k, err := hsv3.ParseAuthorizedClientLine("descriptor:x25519:" + c.X25519)
			if err != nil {
				return fmt.Errorf("service %s: authorized client %q: %w", s.Address, c.Name, err)
			}
			sc.AuthorizedClients = append(sc.AuthorizedClients, hsv3.AuthorizedClient{Name: c.Name, Key: k})
		}
		for j, in := range s.Instances {
			if in.ClientAuthKey == "" {
				continue
			}
			if sealer == nil {
				return fmt.Errorf("client key of backend %s: no key-encryption key to open it with", in.Address)
			}
			secret, err := sealer.Open(record.ClientAuthKeyPath(configKey, s.Address, in.Address), []byte(in.ClientAuthKey))
			if err != nil {
				return fmt.Errorf("client key of backend %s: %w", in.Address, err)
			}
			k, err := ecdh.X25519().NewPrivateKey(secret)
			clear(secret)
			if err != nil {
				return fmt.Errorf("client key of backend %s: %w", in.Address, err)
			}
			sc.Backends[j].ClientKey = k
		}
	}
	return nil
}
