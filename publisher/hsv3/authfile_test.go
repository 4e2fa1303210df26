package hsv3

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuthFilesRoundTrip(t *testing.T) {
	k := testClientKeys(t, 1)[0]
	addr := testIdentity(t).Address()
	pub, err := ParseAuthorizedClient(MarshalAuthorizedClient(k.PublicKey()))
	if err != nil || !pub.Equal(k.PublicKey()) {
		t.Fatalf(".auth round trip: %v", err)
	}
	gotAddr, sk, err := ParseAuthPrivate(MarshalAuthPrivate(addr, k))
	if err != nil || gotAddr != addr || !bytes.Equal(sk.Bytes(), k.Bytes()) {
		t.Fatalf(".auth_private round trip: %q %v", gotAddr, err)
	}
	// tor reads lower-case base32 too.
	lower := "descriptor:x25519:" + strings.ToLower(EncodeX25519(k.PublicKey().Bytes()))
	if _, err := ParseAuthorizedClient([]byte(lower)); err != nil {
		t.Fatalf("lower case: %v", err)
	}
}

func TestAuthFilesStrict(t *testing.T) {
	k := testClientKeys(t, 1)[0]
	addr := testIdentity(t).Address()
	good := strings.TrimSuffix(string(MarshalAuthorizedClient(k.PublicKey())), "\n")
	key := strings.TrimPrefix(good, "descriptor:x25519:")
	for _, tc := range []struct{ in, want string }{
		{"", "line 1: the file is empty"},
		{"\n", "line 1: the file is empty"},
		{good + "\n\n", "line 2"},
		{good + "\n" + good, "line 2"},
		{good + "\r\n", "line 1: blank or carriage return"},
		{good + " ", "line 1: blank"},
		{"descriptor:ed25519:" + key, "want descriptor:x25519:"},
		{"descriptor:x25519:" + key[:51], "52"},
		{"descriptor:x25519:" + key[:51] + "1", "not base32"},
		{addr + ":" + good, "want descriptor:x25519:"},
	} {
		_, err := ParseAuthorizedClient([]byte(tc.in))
		if !errors.Is(err, ErrAuthFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf(".auth %q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
	priv := strings.TrimSuffix(string(MarshalAuthPrivate(addr, k)), "\n")
	for _, tc := range []struct{ in, want string }{
		{good, "invalid onion address"},
		{"abc:" + good, "invalid onion address"},
		{addr + ":" + key, "want <onion address>"},
		{priv + "\nx", "line 2"},
		{addr, "want <onion address>"},
	} {
		_, _, err := ParseAuthPrivate([]byte(tc.in))
		if !errors.Is(err, ErrAuthFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf(".auth_private %q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestLoadAuthorizedClientsDir(t *testing.T) {
	dir := t.TempDir()
	keys := testClientKeys(t, 3)
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("bob.auth", MarshalAuthorizedClient(keys[1].PublicKey()))
	write("alice.auth", MarshalAuthorizedClient(keys[0].PublicKey()))
	write("README", []byte("not a key"))
	write("carol.auth_private", MarshalAuthPrivate(testIdentity(t).Address(), keys[2]))
	got, err := LoadAuthorizedClientsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "alice" || got[1].Name != "bob" || !got[0].Key.Equal(keys[0].PublicKey()) {
		t.Fatalf("clients = %+v", got)
	}
	write("dup.auth", MarshalAuthorizedClient(keys[1].PublicKey()))
	if _, err := LoadAuthorizedClientsDir(dir); err == nil || !strings.Contains(err.Error(), "dup.auth") || !strings.Contains(err.Error(), "bob.auth") {
		t.Fatalf("duplicate key: err = %v", err)
	}
	write("dup.auth", []byte("descriptor:x25519:AAAA\n"))
	if _, err := LoadAuthorizedClientsDir(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "dup.auth")+": line 1") {
		t.Fatalf("bad key: err = %v, want it to name the file and line", err)
	}
}

func FuzzParseAuthFiles(f *testing.F) {
	k, err := ecdh.X25519().GenerateKey(testRand(77))
	if err != nil {
		f.Fatal(err)
	}
	addr := "4k5ijfilqcjmuuzje6zwdnua5khnplj6jv4777sj3c6yd7ifembi7mad"
	f.Add(MarshalAuthorizedClient(k.PublicKey()))
	f.Add(MarshalAuthPrivate(addr, k))
	f.Add([]byte("descriptor:x25519:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if pub, err := ParseAuthorizedClient(data); err == nil {
			again, err := ParseAuthorizedClient(MarshalAuthorizedClient(pub))
			if err != nil || !again.Equal(pub) {
				t.Fatalf("re-encoded .auth does not parse back: %v", err)
			}
		}
		if a, sk, err := ParseAuthPrivate(data); err == nil {
			a2, sk2, err := ParseAuthPrivate(MarshalAuthPrivate(a, sk))
			if err != nil || a2 != a || !bytes.Equal(sk2.Bytes(), sk.Bytes()) {
				t.Fatalf("re-encoded .auth_private does not parse back: %v", err)
			}
		}
	})
}
