package publisher

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

func newClientKey(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// decodeFor decodes an uploaded master descriptor with a client key for whichever current slot it
// belongs to, and returns the error of the slot whose blinded key it carries.
func (h *harness) decodeFor(desc []byte, client *ecdh.PrivateKey) (*hsv3.Descriptor, error) {
	h.t.Helper()
	cons, err := hashring.ParseConsensus(h.net.Consensus)
	if err != nil {
		h.t.Fatal(err)
	}
	var last error
	for _, sl := range cons.TimePeriods() {
		d, err := hsv3.Decode(desc, h.master.PublicKey(), sl.Period, sl.PeriodLength, hsv3.DecodeOptions{Now: h.now, ClientKey: client})
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, hsv3.ErrWrongService) {
			last = err
		}
	}
	return nil, last
}

// TestManagerRestrictedDiscovery: a service with authorized clients publishes descriptors only they
// can read, balancing a private backend whose descriptor the balancer decrypts with its client key;
// a change of the client list alone re-uploads, and a removed client can no longer read.
func TestManagerRestrictedDiscovery(t *testing.T) {
	h := newHarness(t, 2, 8)
	alice, bob, balancer := newClientKey(t), newClientKey(t), newClientKey(t)
	// Backend 0 is private: only the balancer's key reads its descriptor.
	h.bes[0].AuthorizedClients = []*ecdh.PublicKey{balancer.PublicKey()}
	clients := []hsv3.AuthorizedClient{{Name: "alice", Key: alice.PublicKey()}}
	h.configure = func(sc *ServiceConfig) {
		sc.AuthorizedClients = clients
		sc.Backends[0].ClientKey = balancer
	}
	h.m = h.newManager()
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	posts := h.tor.TakePosts()
	if len(posts) != 2 {
		t.Fatalf("%d uploads, want 2", len(posts))
	}
	for _, p := range posts {
		d, err := h.decodeFor(p.Desc, alice)
		if err != nil {
			t.Fatalf("alice cannot read the master descriptor: %v", err)
		}
		if n := len(d.IntroPoints()); n != 4 {
			t.Errorf("%d intro points, want 4 (both backends, the private one too)", n)
		}
		if len(d.Middle.AuthClients) != 16 {
			t.Errorf("%d auth-client lines, want 16", len(d.Middle.AuthClients))
		}
		if _, err := h.decodeFor(p.Desc, nil); err == nil {
			t.Error("the master descriptor decrypts without a client key")
		}
		if _, err := h.decodeFor(p.Desc, bob); !errors.Is(err, hsv3.ErrNotAuthorized) {
			t.Errorf("bob (not yet authorized): err = %v, want ErrNotAuthorized", err)
		}
	}
	if st := h.m.Status(); st == nil || len(st.Services) != 1 || st.Services[0].AuthorizedClients != 1 {
		t.Error("status does not show 1 authorized client")
	}

	// Nothing changed: no upload.
	h.advance(10 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 0 {
		t.Fatalf("%d uploads with nothing changed", len(p))
	}

	// Replace alice with bob, live.
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() { _ = h.m.Run(ctx, h.tor.Events()); close(stopped) }()
	sc := h.m.cfg.Services[0]
	sc.AuthorizedClients = []hsv3.AuthorizedClient{{Name: "bob", Key: bob.PublicKey()}}
	if err := h.m.Reconfigure(ctx, []ServiceConfig{sc}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-stopped
	h.advance(0)
	h.advance(3 * time.Second)
	posts = h.tor.TakePosts()
	if len(posts) != 2 {
		t.Fatalf("%d uploads after the client list changed, want 2", len(posts))
	}
	for _, p := range posts {
		if d, err := h.decodeFor(p.Desc, bob); err != nil || len(d.IntroPoints()) != 4 {
			t.Fatalf("bob cannot read the new descriptor: %v", err)
		}
		if _, err := h.decodeFor(p.Desc, alice); !errors.Is(err, hsv3.ErrNotAuthorized) {
			t.Errorf("alice (removed): err = %v, want ErrNotAuthorized", err)
		}
	}
}

// TestManagerPrivateBackendWithoutKey: without the client key, a private backend's descriptor does
// not decrypt and the backend stays out of the master descriptor.
func TestManagerPrivateBackendWithoutKey(t *testing.T) {
	h := newHarness(t, 2, 8)
	h.bes[0].AuthorizedClients = []*ecdh.PublicKey{newClientKey(t).PublicKey()}
	h.m = h.newManager()
	h.lead.Set(true, 1)
	h.run()
	h.advance(3 * time.Second)
	for hsdir, got := range h.decodePosts(h.tor.TakePosts()) {
		if len(got) != 1 || got[h.bes[1].Key.Address()] == 0 {
			t.Errorf("HSDir %s: backends %v, want only the public one", hsdir, got)
		}
	}
}
