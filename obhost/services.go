package obhost

import (
	"fmt"
	"path/filepath"
	"strings"

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
		if sc.AuthorizedClients, err = authorizedClientsFromFile(i, s); err != nil {
			return nil, err
		}
		for j, in := range s.Instances {
			pub, err := publisher.CheckBackend(key.PublicKey(), in.Address)
			if err != nil {
				return nil, fmt.Errorf("services[%d].instances[%d].address %q (service key %s): %w", i, j, in.Address, s.Key, err)
			}
			bc := publisher.BackendConfig{Address: in.Address, Name: in.Name}
			if in.AuthPrivateFile != "" {
				addr, k, err := hsv3.LoadAuthPrivateFile(in.AuthPrivateFile)
				if err != nil {
					return nil, fmt.Errorf("services[%d].instances[%d].auth-private-file: %w", i, j, err)
				}
				if want := hsv3.EncodeAddress(pub); addr != want {
					return nil, fmt.Errorf("services[%d].instances[%d].auth-private-file: %s is for %s.onion, not for this instance (%s.onion)",
						i, j, in.AuthPrivateFile, addr, want)
				}
				bc.ClientKey = k
			}
			sc.Backends = append(sc.Backends, bc)
		}
		out = append(out, sc)
	}
	return out, nil
}

// authorizedClientsFromFile loads the authorized clients of services[i]: the *.auth files of
// authorized-clients-dir (named after their files), then the authorized-clients list (named
// "authorized-clients[j]"). The same key twice is an error naming both.
func authorizedClientsFromFile(i int, s config.Service) ([]hsv3.AuthorizedClient, error) {
	var out []hsv3.AuthorizedClient
	if s.AuthorizedClientsDir != "" {
		clients, err := hsv3.LoadAuthorizedClientsDir(s.AuthorizedClientsDir)
		if err != nil {
			return nil, fmt.Errorf("services[%d].authorized-clients-dir: %w", i, err)
		}
		out = clients
	}
	seen := map[string]string{}
	for _, c := range out {
		seen[string(c.Key.Bytes())] = filepath.Join(s.AuthorizedClientsDir, c.Name+hsv3.AuthFileSuffix)
	}
	for j, line := range s.AuthorizedClients {
		k, err := hsv3.ParseAuthorizedClientLine(strings.TrimSpace(line))
		if err != nil {
			return nil, fmt.Errorf("services[%d].authorized-clients[%d]: %w", i, j, err)
		}
		if prev, dup := seen[string(k.Bytes())]; dup {
			return nil, fmt.Errorf("services[%d].authorized-clients[%d]: the same key as %s", i, j, prev)
		}
		name := fmt.Sprintf("authorized-clients[%d]", j)
		seen[string(k.Bytes())] = name
		out = append(out, hsv3.AuthorizedClient{Name: name, Key: k})
	}
	if len(out) > hsv3.MaxAuthorizedClients {
		return nil, fmt.Errorf("services[%d].authorized-clients-dir and authorized-clients: %d clients, at most %d fit in a descriptor",
			i, len(out), hsv3.MaxAuthorizedClients)
	}
	return out, nil
}
