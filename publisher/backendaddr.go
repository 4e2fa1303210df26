package publisher

import (
	"crypto/ed25519"
	"errors"

	"github.com/obcluster/obcluster/publisher/hsv3"
)

// ErrOwnAddress means that a backend address is the service's own address.
var ErrOwnAddress = errors.New("is the service's own address: a backend must be another onion service")

// CheckBackend decodes a backend's onion address (with or without ".onion", in any case) and checks
// that it is not the address of service, the service's identity public key (nil: not checked). It is
// the one check of a backend address: the config file's services, the cluster configuration in etcd
// and the publisher's Config all go through it. Errors wrap hsv3.ErrInvalidAddress or ErrOwnAddress;
// callers add which entry is at fault.
func CheckBackend(service ed25519.PublicKey, backend string) (ed25519.PublicKey, error) {
	pub, err := hsv3.DecodeAddress(backend)
	if err != nil {
		return nil, err
	}
	if service != nil && pub.Equal(service) {
		return nil, ErrOwnAddress
	}
	return pub, nil
}
