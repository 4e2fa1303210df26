package hsv3

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestParseVectorCert(t *testing.T) {
	o, err := parseOuter(readVector(t, "stem_hidden_service_v3.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c := o.signingKeyCert
	if c.Type != CertTypeSigningKey || c.KeyType != KeyTypeEd25519 || c.ExpirationHours != 417407 {
		t.Errorf("cert = %+v", c)
	}
	if len(c.Extensions) != 1 || c.Extensions[0].Type != ExtSignedWithKey || c.Extensions[0].Flags != 0 {
		t.Errorf("extensions = %+v", c.Extensions)
	}
	if err := c.Verify(c.SigningKey); err != nil {
		t.Error(err)
	}
	if err := c.Verify(c.CertifiedKey); !errors.Is(err, ErrBadSignature) {
		t.Errorf("verify under the wrong key: %v", err)
	}
	if got := c.Expiry(); !got.Equal(time.Date(2017, 8, 13, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("expiry = %v", got)
	}
	if !bytes.Equal(c.Marshal(), o.signingKeyCert.raw) {
		t.Error("Marshal differs from the parsed bytes")
	}
}

func TestIssueCert(t *testing.T) {
	signer, err := generateExpandedKey(testRand(10))
	if err != nil {
		t.Fatal(err)
	}
	certified, _ := generateExpandedKey(testRand(11))
	c, err := IssueCert(CertTypeIntroEnc, certified.PublicKey(), 500000, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.check(CertTypeIntroEnc, signer.PublicKey(), time.Unix(500000*3600, 0), false); err != nil {
		t.Errorf("check at the expiry second: %v", err)
	}
	if err := c.check(CertTypeIntroEnc, signer.PublicKey(), time.Unix(500000*3600+1, 0), false); !errors.Is(err, ErrCertExpired) {
		t.Errorf("check one second after expiry: %v", err)
	}
	if err := c.check(CertTypeIntroAuth, nil, time.Time{}, true); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong type: %v", err)
	}
	if err := c.check(CertTypeIntroEnc, certified.PublicKey(), time.Time{}, true); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong signer: %v", err)
	}
	c2, err := ParseCert(c.Marshal())
	if err != nil || !c2.CertifiedKey.Equal(certified.PublicKey()) || !c2.SigningKey.Equal(signer.PublicKey()) {
		t.Errorf("parse(issue) = %+v, %v", c2, err)
	}
	if _, err := IssueCert(CertTypeIntroAuth, make([]byte, 31), 1, signer); err == nil {
		t.Error("31-byte certified key accepted")
	}
}

// buildCert assembles and signs a certificate with the given extensions.
func buildCert(t *testing.T, typ CertType, keyType byte, exts []Extension) []byte {
	t.Helper()
	signer, _ := generateExpandedKey(testRand(12))
	b := []byte{1, byte(typ), 0, 7, 0xa1, 0x20, keyType}
	b = append(b, make([]byte, 32)...)
	b = append(b, byte(len(exts)))
	for _, e := range exts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Data)))
		b = append(b, e.Type, e.Flags)
		b = append(b, e.Data...)
	}
	return append(b, signer.Sign(b)...)
}

func TestCertExtensions(t *testing.T) {
	signer, _ := generateExpandedKey(testRand(12))
	signedWith := Extension{Type: ExtSignedWithKey, Data: signer.PublicKey()}
	unknown := Extension{Type: 0x77, Data: []byte("xy")}

	c, err := ParseCert(buildCert(t, CertTypeIntroAuth, KeyTypeEd25519, []Extension{unknown, signedWith}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Extensions) != 2 || c.Extensions[0].Type != 0x77 || string(c.Extensions[0].Data) != "xy" {
		t.Errorf("unknown extension not kept: %+v", c.Extensions)
	}
	if err := c.check(CertTypeIntroAuth, signer.PublicKey(), time.Time{}, true); err != nil {
		t.Errorf("check: %v", err)
	}

	// Key type 01 is accepted whatever the certificate type.
	c, err = ParseCert(buildCert(t, CertTypeIntroEnc, KeyTypeEd25519, []Extension{signedWith}))
	if err != nil || c.check(CertTypeIntroEnc, nil, time.Time{}, true) != nil {
		t.Errorf("type 0B with key type 01: %v", err)
	}
	c, _ = ParseCert(buildCert(t, CertTypeIntroEnc, 3, []Extension{signedWith}))
	if err := c.check(CertTypeIntroEnc, nil, time.Time{}, true); !errors.Is(err, ErrMalformed) {
		t.Errorf("key type 3: %v", err)
	}
	c, _ = ParseCert(buildCert(t, CertTypeIntroEnc, KeyTypeEd25519, nil))
	if err := c.check(CertTypeIntroEnc, nil, time.Time{}, true); !errors.Is(err, ErrMalformed) {
		t.Errorf("no signing-key extension: %v", err)
	}

	critical := Extension{Type: 0x77, Flags: ExtFlagAffectsValidation, Data: []byte("xy")}
	bad := map[string][]byte{
		"critical unknown extension": buildCert(t, CertTypeIntroAuth, 1, []Extension{critical, signedWith}),
		"short signing key":          buildCert(t, CertTypeIntroAuth, 1, []Extension{{Type: ExtSignedWithKey, Data: make([]byte, 31)}}),
		"two signing keys":           buildCert(t, CertTypeIntroAuth, 1, []Extension{signedWith, signedWith}),
		"too short":                  make([]byte, 100),
	}
	good := buildCert(t, CertTypeIntroAuth, 1, []Extension{signedWith})
	bad["version 2"] = append([]byte{2}, good[1:]...)
	extra := append([]byte(nil), good...)
	extra[39] = 0 // claims no extensions: 36 bytes left before the signature
	bad["bytes before signature"] = extra
	truncated := append([]byte(nil), good...)
	truncated[39] = 2 // claims two extensions, holds one
	bad["missing extension"] = truncated
	for name, b := range bad {
		if _, err := ParseCert(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestHandBuiltCert(t *testing.T) {
	c := &Cert{Type: CertTypeIntroAuth, CertifiedKey: make([]byte, 32), ExpirationHours: 1}
	if err := c.Verify(make([]byte, 32)); !errors.Is(err, ErrMalformed) {
		t.Errorf("Verify of a hand-built cert: %v", err)
	}
	if c.Marshal() != nil {
		t.Error("Marshal of a hand-built cert is not nil")
	}
}
