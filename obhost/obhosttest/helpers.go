package obhosttest

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
)

// OnionAddress returns the address (without .onion) of a new v3 onion service key.
func OnionAddress(t testing.TB) string {
	t.Helper()
	k, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Address()
}

// DefaultKeys returns the etcd key schema under store.DefaultPrefix.
func DefaultKeys(t testing.TB) store.Keys {
	t.Helper()
	k, err := store.NewKeys(store.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NoEnv is an empty environment: a Getenv that finds no variable.
func NoEnv(string) string { return "" }

// WaitFor polls cond until it holds, failing the test after d (a bound, not a timing assertion).
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
