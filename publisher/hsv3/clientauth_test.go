package hsv3

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestClientAuthTorVector is tor's test_build_authorized_client.
func TestClientAuthTorVector(t *testing.T) {
	v := loadKeyVectors(t).ClientAuth
	eph, err := ecdh.X25519().NewPrivateKey(unhex(t, v.EphemeralSecret))
	if err != nil {
		t.Fatal(err)
	}
	client, err := ecdh.X25519().NewPublicKey(unhex(t, v.ClientPublic))
	if err != nil {
		t.Fatal(err)
	}
	ac, err := newAuthClient(eph, client, unhex32(t, v.Subcredential), [16]byte(unhex(t, v.DescriptorCookie)), [16]byte(unhex(t, v.IV)))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ToUpper(hex.EncodeToString(ac.ID[:])); got != v.ExpectedClientID {
		t.Errorf("client id = %s, want %s", got, v.ExpectedClientID)
	}
	if got := strings.ToUpper(hex.EncodeToString(ac.EncryptedCookie[:])); got != v.ExpectedEncCookie {
		t.Errorf("encrypted cookie = %s, want %s", got, v.ExpectedEncCookie)
	}
}

func TestClientAuthRoundTrip(t *testing.T) {
	x := ecdh.X25519()
	eph, _ := x.NewPrivateKey(bytes.Repeat([]byte{1}, 32))
	clientSK, _ := x.NewPrivateKey(bytes.Repeat([]byte{2}, 32))
	otherSK, _ := x.NewPrivateKey(bytes.Repeat([]byte{3}, 32))
	subcred := [32]byte{9}
	cookie := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	ac, err := newAuthClient(eph, clientSK.PublicKey(), subcred, cookie, [16]byte{7})
	if err != nil {
		t.Fatal(err)
	}
	fake := AuthClient{ID: [8]byte{1}}
	var ephPub [32]byte
	copy(ephPub[:], eph.PublicKey().Bytes())
	got, err := decryptDescriptorCookie(clientSK, ephPub, subcred, []AuthClient{fake, ac})
	if err != nil || !bytes.Equal(got, cookie[:]) {
		t.Fatalf("cookie = %x, %v; want %x", got, err, cookie)
	}
	if _, err := decryptDescriptorCookie(otherSK, ephPub, subcred, []AuthClient{fake, ac}); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("other client: err = %v, want ErrNotAuthorized", err)
	}
}
