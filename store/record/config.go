package record

import (
	"encoding/json"
	"time"
)

// ClusterConfigVersion is the format version of the JSON at <prefix>/config.
const ClusterConfigVersion = 1

// ClusterConfig is the services configuration a cluster keeps in etcd at
// <prefix>/config: the source of truth for every node whose config file has
// no services. Services are named by their onion address; their master keys
// are stored sealed beside it (<prefix>/services/<addr>/key), never in it.
type ClusterConfig struct {
	Version   int              `json:"version"`
	Services  []ClusterService `json:"services"`
	UpdatedAt time.Time        `json:"updated_at"`
	UpdatedBy string           `json:"updated_by,omitempty"`
	// MAC authenticates the rest (see MACInput): "obmac:v1:<kek-id>:...",
	// empty only when written without a key-encryption key (the plaintext
	// opt-in) or by an older version.
	MAC string `json:"mac,omitempty"`
}

// ClusterService is one public address and its backends.
type ClusterService struct {
	// Address is the service's onion address without ".onion".
	Address string `json:"address"`
	// IntroPointsPerBackend is the fair share of intro points per live backend.
	IntroPointsPerBackend int               `json:"intro_points_per_backend"`
	Instances             []ClusterInstance `json:"instances"`
	// AuthorizedClients, when any, restrict discovery to these clients (their public keys: no
	// secret).
	AuthorizedClients []ClusterClient `json:"authorized_clients,omitempty"`
	// Health overrides the nodes' health rules (their files' health
	// section) for this service; absent in configurations written before
	// backend health existed.
	Health *ServiceHealth `json:"health,omitempty"`
}

// ClusterClient is one authorized client of restricted discovery.
type ClusterClient struct {
	Name string `json:"name,omitempty"`
	// X25519 is the client's public key in unpadded base32, as in tor's .auth files.
	X25519 string `json:"x25519"`
}

// ServiceHealth is a service's override of the health rules: the keys of
// services[].health in the config file, each optional.
type ServiceHealth struct {
	Enabled         *bool    `json:"enabled,omitempty"`
	Port            *int     `json:"port,omitempty"`
	Failures        *int     `json:"failures,omitempty"`
	Successes       *int     `json:"successes,omitempty"`
	MaxDownFraction *float64 `json:"max_down_fraction,omitempty"`
}

// ClusterInstance is one backend.
type ClusterInstance struct {
	Address string `json:"address"` // without ".onion"
	Name    string `json:"name,omitempty"`
	// ClientAuthKey is, for a backend with restricted discovery, the x25519 client key that decrypts
	// its descriptor, sealed with the key-encryption key ("obseal:v1:...", see ClientAuthKeyPath);
	// "obplain:v1:..." only under the plaintext opt-in.
	ClientAuthKey string `json:"client_auth_key,omitempty"`
	// ClientAuthSecret is that key unsealed, while cluster init or set-config prepares the
	// configuration; it is never encoded.
	ClientAuthSecret []byte `json:"-"`
}

// ClientAuthKeyPath is the path a backend's sealed client key is bound to (the sealing's associated
// data): the configuration's etcd key, the service and the backend. A sealed key copied to another
// backend, service or cluster prefix does not open.
func ClientAuthKeyPath(configKey, svc, inst string) string {
	return configKey + "/services/" + svc + "/instances/" + inst + "/client_auth_key"
}

// Encode returns the JSON stored in etcd: indented, so that etcdctl shows it
// readably.
func (cc ClusterConfig) Encode() ([]byte, error) {
	return json.MarshalIndent(cc, "", "  ")
}

// MACInput returns the bytes the MAC covers: the configuration as Encode
// writes it, without the MAC. A node re-encodes what it parsed, so the MAC
// covers exactly what it applies.
func (cc ClusterConfig) MACInput() ([]byte, error) {
	cc.MAC = ""
	return cc.Encode()
}

// Counts returns the number of services and of instances.
func (cc ClusterConfig) Counts() (services, instances int) {
	for _, s := range cc.Services {
		instances += len(s.Instances)
	}
	return len(cc.Services), instances
}
