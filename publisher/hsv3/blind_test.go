package hsv3

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"testing"
)

// TestTorEd25519Table checks tor's ed25519_vectors.inc: seed → expanded →
// public key, self-signature, and blinding with a given parameter.
func TestTorEd25519Table(t *testing.T) {
	v := loadKeyVectors(t).Ed25519Blinding
	if len(v.SecretSeeds) != 10 {
		t.Fatalf("%d rows, want 10", len(v.SecretSeeds))
	}
	for i := range v.SecretSeeds {
		k, err := NewIdentityKeyFromSeed(unhex(t, v.SecretSeeds[i]))
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(k.Expanded().Bytes()); got != v.ExpandedSecretKeys[i] {
			t.Errorf("row %d: expanded = %s, want %s", i, got, v.ExpandedSecretKeys[i])
		}
		if got := hex.EncodeToString(k.PublicKey()); got != v.PublicKeys[i] {
			t.Errorf("row %d: public = %s, want %s", i, got, v.PublicKeys[i])
		}
		sig := k.Sign(k.PublicKey())
		if got := hex.EncodeToString(sig); got != v.SelfSignatures[i] {
			t.Errorf("row %d: self signature = %s, want %s", i, got, v.SelfSignatures[i])
		}
		param := unhex32(t, v.BlindingParams[i])
		blinded := blindExpandedKey(k.Expanded(), param)
		if got := hex.EncodeToString(blinded.Bytes()); got != v.BlindedSecretKeys[i] {
			t.Errorf("row %d: blinded secret = %s, want %s", i, got, v.BlindedSecretKeys[i])
		}
		pub, err := blindPublicKeyWithParam(k.PublicKey(), param)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(pub); got != v.BlindedPublicKeys[i] {
			t.Errorf("row %d: blinded public = %s, want %s", i, got, v.BlindedPublicKeys[i])
		}
		if !bytes.Equal(blinded.PublicKey(), pub) {
			t.Errorf("row %d: a'·B != A'", i)
		}
		// Signatures by the (unclamped) blinded key verify as plain Ed25519.
		msg := []byte("blinded message")
		if !ed25519.Verify(pub, msg, blinded.Sign(msg)) {
			t.Errorf("row %d: blinded signature does not verify", i)
		}
	}
}

func TestBlindingBasics(t *testing.T) {
	v := loadKeyVectors(t).BlindingBasics
	k, err := NewIdentityKeyFromExpanded(unhex(t, v.IdentityExpanded))
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.PublicKey(unhex(t, v.IdentityPublic))
	if !k.PublicKey().Equal(pub) {
		t.Fatalf("public = %x, want %x", k.PublicKey(), pub)
	}
	if got := BlindingParam(pub, v.PeriodNum, v.PeriodLength); got != unhex32(t, v.BlindingParam) {
		t.Errorf("h = %x, want %s", got, v.BlindingParam)
	}
	blinded, err := BlindPublicKey(pub, v.PeriodNum, v.PeriodLength)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blinded, unhex(t, v.BlindedPublic)) {
		t.Errorf("A' = %x, want %s", blinded, v.BlindedPublic)
	}
	if got := Subcredential(pub, blinded); got != unhex32(t, v.Subcredential) {
		t.Errorf("subcredential = %x, want %s", got, v.Subcredential)
	}
	bk := k.BlindedKey(v.PeriodNum, v.PeriodLength)
	if !bytes.Equal(bk.Bytes(), unhex(t, v.BlindedExpandedSK)) {
		t.Errorf("blinded sk = %x, want %s", bk.Bytes(), v.BlindedExpandedSK)
	}
	if !bytes.Equal(bk.PublicKey(), blinded) {
		t.Error("blinded secret key does not match blinded public key")
	}
}

func TestBlindingArtiHsdesc2(t *testing.T) {
	v := loadKeyVectors(t).ArtiHsdesc2
	pub, err := DecodeAddress(v.OnionAddress)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, unhex(t, v.IdentityPublic)) {
		t.Fatalf("identity = %x, want %s", pub, v.IdentityPublic)
	}
	blinded, err := BlindPublicKey(pub, v.PeriodNum, v.PeriodLength)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blinded, unhex(t, v.BlindedPublic)) {
		t.Errorf("A' = %x, want %s", blinded, v.BlindedPublic)
	}
	if got := Subcredential(pub, blinded); got != unhex32(t, v.Subcredential) {
		t.Errorf("subcredential = %x, want %s", got, v.Subcredential)
	}
}

func TestBlindingStem(t *testing.T) {
	v := loadKeyVectors(t).StemBlinding
	k, err := NewIdentityKeyFromSeed([]byte(v.IdentitySeed))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := blindPublicKeyWithParam(k.PublicKey(), [32]byte([]byte(v.BlindingParam)))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(pub); got != v.BlindedPublic {
		t.Errorf("A' = %s, want %s", got, v.BlindedPublic)
	}
}

func TestBlindPublicKeyRejectsBadKeys(t *testing.T) {
	if _, err := BlindPublicKey(make([]byte, 31), 1, 1440); err == nil {
		t.Error("31-byte key accepted")
	}
	bad := make([]byte, 32) // y = 2 is on no point of the curve
	bad[0] = 2
	if _, err := BlindPublicKey(bad, 1, 1440); err == nil {
		t.Error("invalid point accepted")
	}
}

func TestBlindedKeyID(t *testing.T) {
	id := BlindedKeyID(make([]byte, 32))
	if len(id) != 43 || id != "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" {
		t.Errorf("BlindedKeyID = %q", id)
	}
}
