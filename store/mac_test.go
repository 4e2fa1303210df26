package store

import (
	"errors"
	"strings"
	"testing"
)

func TestMAC(t *testing.T) {
	k1, _ := GenerateKEK()
	k2, _ := GenerateKEK()
	s1, _ := NewSealer(k1)
	const path = "/onionbalance/config"
	data := []byte(`{"version": 1}`)
	tag, err := s1.MAC(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tag, "obmac:v1:"+k1.ID()+":") {
		t.Fatalf("tag %q", tag)
	}
	if err := s1.CheckMAC(path, data, tag); err != nil {
		t.Fatalf("own MAC: %v", err)
	}
	// A sealer that knows k1 as a previous KEK (rotation) checks it too.
	if s, _ := NewSealer(k2, k1); s.CheckMAC(path, data, tag) != nil {
		t.Error("previous KEK: MAC refused")
	}
	// Anything changed without the KEK fails, naming the key path.
	other, _ := NewSealer(k2)
	for name, err := range map[string]error{
		"other data":     s1.CheckMAC(path, []byte(`{"version": 2}`), tag),
		"other key path": s1.CheckMAC("/other/config", data, tag),
		"unknown KEK":    other.CheckMAC(path, data, tag),
		"relabelled":     other.CheckMAC(path, data, strings.Replace(tag, k1.ID(), k2.ID(), 1)),
		"malformed":      s1.CheckMAC(path, data, "obmac:v1:"+k1.ID()+":!!"),
		"not a MAC":      s1.CheckMAC(path, data, "hello"),
	} {
		if !errors.Is(err, ErrMACBroken) || !strings.Contains(err.Error(), path) && name != "other key path" {
			t.Errorf("%s: %v, want ErrMACBroken naming the key", name, err)
		}
	}
	if err := s1.CheckMAC(path, data, ""); !errors.Is(err, ErrMACMissing) {
		t.Errorf("no MAC: %v, want ErrMACMissing", err)
	}
	// The plaintext opt-in accepts a missing MAC; a node without any KEK cannot check one.
	s1.AllowPlaintext()
	if err := s1.CheckMAC(path, data, ""); err != nil {
		t.Errorf("opt-in, no MAC: %v", err)
	}
	if err := s1.CheckMAC(path, []byte("x"), tag); !errors.Is(err, ErrMACBroken) {
		t.Errorf("opt-in, wrong MAC: %v, want ErrMACBroken", err)
	}
	plain := NewPlaintextSealer()
	if tag, err := plain.MAC(path, data); tag != "" || err != nil {
		t.Errorf("plaintext MAC = %q, %v", tag, err)
	}
	if err := plain.CheckMAC(path, data, tag); err != nil {
		t.Errorf("plaintext sealer: %v", err)
	}
}
