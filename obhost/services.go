package obhost

import (
	"fmt"

	"github.com/obcluster/obcluster/obhost/config"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// ServicesFromFile loads the master keys and turns the config into the publisher's services.
// Errors name the service, the key file or the backend address at fault.
func ServicesFromFile(cfg *config.Config) ([]publisher.ServiceConfig, error) {
	var out []publisher.ServiceConfig
	seen := map[string]int{}
	for i, s := range cfg.Services {
		key, err := hsv3.LoadIdentityKey(s.Key)
		if err != nil {
			return nil, fmt.Errorf("services[%d].key: %w", i, err)
		}
		if j, dup := seen[key.Address()]; dup {
			return nil, fmt.Errorf("services[%d] and services[%d] use the same key (%s.onion)", j, i, key.Address())
		}
		seen[key.Address()] = i
		sc := publisher.ServiceConfig{Key: key, IntroPointsPerBackend: cfg.IntroPointsPerBackend(i), Health: cfg.HealthRules(i)}
		for j, in := range s.Instances {
			if _, err := publisher.CheckBackend(key.PublicKey(), in.Address); err != nil {
				return nil, fmt.Errorf("services[%d].instances[%d].address %q (service key %s): %w", i, j, in.Address, s.Key, err)
			}
			sc.Backends = append(sc.Backends, publisher.BackendConfig{Address: in.Address, Name: in.Name})
		}
		out = append(out, sc)
	}
	return out, nil
}
