package obhost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// EnvKEK names the environment variable that may hold the key-encryption key (64 hex digits or
// base64) when cluster.key-encryption-key-file is not set.
const EnvKEK = "ONIONBALANCE_KEK"

// ErrNoClusterConfig is returned when etcd holds no services configuration.
var ErrNoClusterConfig = errors.New("the cluster has no services configuration (run onionbalance cluster init)")

// ClusterConfigFromFile turns a config file's services into the cluster configuration and the
// master keys it needs, loading and checking every key file.
func ClusterConfigFromFile(cfg *config.Config, now time.Time, by string) (record.ClusterConfig, map[string]*hsv3.IdentityKey, error) {
	services, err := ServicesFromFile(cfg)
	if err != nil {
		return record.ClusterConfig{}, nil, err
	}
	cc := record.ClusterConfig{Version: record.ClusterConfigVersion, UpdatedAt: now.UTC(), UpdatedBy: by}
	keys := map[string]*hsv3.IdentityKey{}
	for i, s := range services { // in the file's order
		addr := s.Key.Address()
		cs := record.ClusterService{Address: addr, IntroPointsPerBackend: s.IntroPointsPerBackend, Instances: []record.ClusterInstance{},
			Health: recordHealth(cfg.Services[i].Health)}
		for _, b := range s.Backends {
			cs.Instances = append(cs.Instances, record.ClusterInstance{Address: bareOnion(b.Address), Name: b.Name})
		}
		addClientAuth(&cs, s)
		cc.Services = append(cc.Services, cs)
		keys[addr] = s.Key
	}
	if err := validateClusterConfig(cc); err != nil {
		return record.ClusterConfig{}, nil, err
	}
	return cc, keys, nil
}

// bareOnion returns a lower-case onion address without ".onion".
func bareOnion(addr string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(addr)), ".onion")
}

// ParseClusterConfig decodes and checks the JSON stored at <prefix>/config. Unknown fields are
// errors, so a config written by a newer version is not half understood.
func ParseClusterConfig(data []byte) (record.ClusterConfig, error) {
	var cc record.ClusterConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cc); err != nil {
		return record.ClusterConfig{}, fmt.Errorf("cluster config: %w", err)
	}
	if cc.Version != record.ClusterConfigVersion {
		return record.ClusterConfig{}, fmt.Errorf("cluster config: version %d, this onionbalance reads version %d", cc.Version, record.ClusterConfigVersion)
	}
	if err := validateClusterConfig(cc); err != nil {
		return record.ClusterConfig{}, err
	}
	return cc, nil
}

// validateClusterConfig checks what the publisher will need: addresses that decode, backends, sane
// limits.
func validateClusterConfig(cc record.ClusterConfig) error {
	if len(cc.Services) == 0 {
		return errors.New("cluster config: no services")
	}
	seen := map[string]bool{}
	for i, s := range cc.Services {
		svc, err := hsv3.DecodeAddress(s.Address)
		if err != nil {
			return fmt.Errorf("cluster config: services[%d].address %q: %w", i, s.Address, err)
		}
		if seen[s.Address] {
			return fmt.Errorf("cluster config: services[%d]: %s is listed twice", i, s.Address)
		}
		seen[s.Address] = true
		if n := s.IntroPointsPerBackend; n < 1 || n > 20 {
			return fmt.Errorf("cluster config: services[%d].intro_points_per_backend = %d, want 1..20", i, n)
		}
		if len(s.Instances) == 0 {
			return fmt.Errorf("cluster config: services[%d] (%s) has no instances", i, s.Address)
		}
		for j, in := range s.Instances {
			if _, err := publisher.CheckBackend(svc, in.Address); err != nil {
				return fmt.Errorf("cluster config: services[%d].instances[%d].address %q: %w", i, j, in.Address, err)
			}
		}
		if err := validateClientAuth(i, s); err != nil {
			return err
		}
		if err := config.CheckServiceHealth(fileHealth(s.Health), fmt.Sprintf("services[%d].health.", i)); err != nil {
			return fmt.Errorf("cluster config: %w", err)
		}
	}
	return nil
}

// recordHealth is a service's health override as the cluster configuration stores it (nil: none).
func recordHealth(h config.ServiceHealth) *record.ServiceHealth {
	if h.IsZero() {
		return nil
	}
	return &record.ServiceHealth{Enabled: h.Enabled, Port: h.Port, Failures: h.Failures, Successes: h.Successes,
		MaxDownFraction: h.MaxDownFraction}
}

// fileHealth is the stored override as the config file has it.
func fileHealth(h *record.ServiceHealth) config.ServiceHealth {
	if h == nil {
		return config.ServiceHealth{}
	}
	return config.ServiceHealth{Enabled: h.Enabled, Port: h.Port, Failures: h.Failures, Successes: h.Successes,
		MaxDownFraction: h.MaxDownFraction}
}

// EncodeClusterConfig returns the JSON of cc to store at keyPath, with a MAC made by sealer (none
// when the sealer has no key-encryption key, under the plaintext opt-in).
func EncodeClusterConfig(cc record.ClusterConfig, sealer *store.Sealer, keyPath string) ([]byte, error) {
	if err := checkSealed(cc); err != nil {
		return nil, err
	}
	in, err := cc.MACInput()
	if err != nil {
		return nil, err
	}
	if cc.MAC, err = sealer.MAC(keyPath, in); err != nil {
		return nil, err
	}
	return cc.Encode()
}

// ErrConfigUnauthenticated explains a refused configuration without a MAC.
var ErrConfigUnauthenticated = errors.New("the cluster configuration is not authenticated (written by an older onionbalance " +
	"or without a key-encryption key): run onionbalance cluster set-config with the key-encryption key to store it again " +
	"(or set cluster.allow-plaintext-keys to accept it unauthenticated)")

// authenticateClusterConfig checks cc's MAC for keyPath with sealer, so that nobody without the
// key-encryption key can change the services or backends a node balances.
func authenticateClusterConfig(cc record.ClusterConfig, sealer *store.Sealer, keyPath string) error {
	if sealer == nil {
		return errors.New("cluster config: no key-encryption key to authenticate it with")
	}
	in, err := cc.MACInput()
	if err != nil {
		return err
	}
	err = sealer.CheckMAC(keyPath, in, cc.MAC)
	switch {
	case errors.Is(err, store.ErrMACMissing):
		return ErrConfigUnauthenticated
	case err != nil:
		return fmt.Errorf("cluster config: %w (changed without the key-encryption key, or authenticated with another one)", err)
	}
	return nil
}

// serviceConfigs builds the publisher's services from cc and the opened master keys; each service's
// health rules are its override over rules (the node's file's health section).
func serviceConfigs(cc record.ClusterConfig, keys map[string]*hsv3.IdentityKey, rules health.Rules) ([]publisher.ServiceConfig, error) {
	out := make([]publisher.ServiceConfig, 0, len(cc.Services))
	for _, s := range cc.Services {
		k := keys[s.Address]
		if k == nil {
			return nil, fmt.Errorf("service %s: master key not loaded", s.Address)
		}
		sc := publisher.ServiceConfig{Key: k, IntroPointsPerBackend: s.IntroPointsPerBackend,
			Health: fileHealth(s.Health).Apply(rules)}
		if !rules.Enabled { // health.enabled false in the node's file: off for every service
			sc.Health.Enabled = false
		}
		for _, in := range s.Instances {
			sc.Backends = append(sc.Backends, publisher.BackendConfig{Address: in.Address, Name: in.Name})
		}
		out = append(out, sc)
	}
	return out, nil
}

// parseServiceKey opens the bytes of a master key read from etcd and checks that it is the key of
// addr, so a key stored under the wrong service is refused.
func parseServiceKey(addr string, secret []byte) (*hsv3.IdentityKey, error) {
	k, err := hsv3.ParseIdentityKey(secret)
	if err != nil {
		return nil, fmt.Errorf("master key of %s in etcd: %w", addr, err)
	}
	if k.Address() != addr {
		return nil, fmt.Errorf("master key stored for %s is the key of %s", addr, k.Address())
	}
	return k, nil
}

// NewSealer returns the sealer for the master keys in etcd. The key-encryption key comes from
// cluster.key-encryption-key-file, else from $ONIONBALANCE_KEK. Without a KEK, keys are stored and
// read in plaintext only when the operator opted in (cluster.allow-plaintext-keys or the command's
// --allow-plaintext-keys); with a KEK, that opt-in only lets plaintext keys already in etcd be read.
func NewSealer(c config.Cluster, getenv func(string) string, allowPlaintext bool) (*store.Sealer, error) {
	allowPlaintext = allowPlaintext || c.AllowPlaintextKeys
	var kek store.KEK
	switch {
	case c.KeyEncryptionKeyFile != "":
		k, err := store.LoadKEKFile(c.KeyEncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("cluster.key-encryption-key-file: %w", err)
		}
		kek = k
	case getenv(EnvKEK) != "":
		k, err := store.ParseKEK(getenv(EnvKEK))
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", EnvKEK, err)
		}
		kek = k
	case allowPlaintext:
		return store.NewPlaintextSealer(), nil
	default:
		return nil, fmt.Errorf("no key-encryption key: set cluster.key-encryption-key-file or $%s "+
			"(plaintext master keys in etcd need the explicit --allow-plaintext-keys opt-in)", EnvKEK)
	}
	s, err := store.NewSealer(kek)
	if err != nil {
		return nil, err
	}
	if allowPlaintext {
		s.AllowPlaintext()
	}
	return s, nil
}
