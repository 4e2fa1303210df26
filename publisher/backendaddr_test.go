package publisher

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/publisher/hsv3"
)

func TestCheckBackend(t *testing.T) {
	svc, _ := hsv3.GenerateIdentityKey(rand.Reader)
	b, _ := hsv3.GenerateIdentityKey(rand.Reader)
	for _, addr := range []string{b.Address(), b.Address() + ".onion", strings.ToUpper(b.Address())} {
		if pub, err := CheckBackend(svc.PublicKey(), addr); err != nil || !pub.Equal(b.PublicKey()) {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{svc.Address(), svc.Address() + ".onion", strings.ToUpper(svc.Address()) + ".ONION"} {
		if _, err := CheckBackend(svc.PublicKey(), addr); !errors.Is(err, ErrOwnAddress) {
			t.Errorf("own address %s: %v, want ErrOwnAddress", addr, err)
		}
	}
	if _, err := CheckBackend(svc.PublicKey(), "nope.onion"); !errors.Is(err, hsv3.ErrInvalidAddress) {
		t.Errorf("bad address: %v", err)
	}
}
