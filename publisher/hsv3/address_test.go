package hsv3

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestAddressVectors(t *testing.T) {
	v := loadKeyVectors(t).OnionAddresses
	for _, c := range v.Valid {
		pub, err := DecodeAddress(c.Address)
		if err != nil {
			t.Errorf("%s: %v", c.Address, err)
			continue
		}
		if c.Pubkey != "" && !bytes.Equal(pub, unhex(t, c.Pubkey)) {
			t.Errorf("%s: key %x, want %s", c.Address, pub, c.Pubkey)
		}
		if got := EncodeAddress(pub); got != c.Address {
			t.Errorf("EncodeAddress(%x) = %s, want %s", pub, got, c.Address)
		}
		for _, variant := range []string{c.Address + ".onion", strings.ToUpper(c.Address), strings.ToUpper(c.Address) + ".ONION"} {
			if p2, err := DecodeAddress(variant); err != nil || !bytes.Equal(p2, pub) {
				t.Errorf("%s: %v", variant, err)
			}
		}
	}
	for _, c := range v.Invalid {
		if _, err := DecodeAddress(c.Address); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("%s (%s): err = %v, want ErrInvalidAddress", c.Address, c.Why, err)
		}
	}
}

func TestAddressErrorsSayWhat(t *testing.T) {
	good := "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid"
	pub, _ := DecodeAddress(good)
	var raw [35]byte
	copy(raw[:], pub)
	sum := addressSum(pub)
	raw[32], raw[33], raw[34] = sum[0], sum[1], 2
	version2 := strings.ToLower(addressEncoding.EncodeToString(raw[:]))

	// A key with a torsion component: the point (0, -1) of order 2, encoded
	// ec ff .. ff 7f. EncodeAddress gives it a valid checksum.
	torsion := make([]byte, 32)
	torsion[0] = 0xec
	for i := 1; i < 31; i++ {
		torsion[i] = 0xff
	}
	torsion[31] = 0x7f
	cases := []struct{ addr, want string }{
		{"blah", "length"},
		{good[:10] + "m" + good[11:], "checksum"},
		{"!" + good[1:], "base32"},
		{version2, "version 2"},
		{EncodeAddress(torsion), "torsion"},
	}
	for _, c := range cases {
		_, err := DecodeAddress(c.addr)
		if !errors.Is(err, ErrInvalidAddress) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.addr, err, c.want)
		}
	}
}
