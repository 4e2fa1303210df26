package hsv3

import "testing"

func TestOPEVectors(t *testing.T) {
	v := loadKeyVectors(t).OPE
	if len(v.Cases) != 40 {
		t.Fatalf("%d OPE cases, want 40", len(v.Cases))
	}
	key := unhex32(t, v.Key)
	for _, c := range v.Cases {
		plaintext, want := c[0], c[1]
		got, err := OPEEncrypt(key, uint32(plaintext))
		if err != nil || got != want {
			t.Errorf("OPE(%d) = %d, %v; want %d", plaintext, got, err, want)
		}
		// The revision counter for s seconds is OPE(s+1).
		if got, err := OPERevisionCounter(key, plaintext-1); err != nil || got != want {
			t.Errorf("OPERevisionCounter(%d) = %d, %v; want %d", plaintext-1, got, err, want)
		}
	}
}

func TestOPERange(t *testing.T) {
	var key [32]byte
	if _, err := OPEEncrypt(key, 0); err == nil {
		t.Error("OPE(0) accepted")
	}
	if _, err := OPEEncrypt(key, OPEMaxInput+1); err == nil {
		t.Error("OPE(max+1) accepted")
	}
	if _, err := OPERevisionCounter(key, OPEMaxInput); err == nil {
		t.Error("OPERevisionCounter(max) accepted")
	}
	prev := uint64(0)
	for _, s := range []uint64{0, 1, 2, 100, 8191, 8192, 8193, 86400, OPEMaxInput - 1} {
		got, err := OPERevisionCounter(key, s)
		if err != nil {
			t.Fatal(err)
		}
		if got <= prev {
			t.Errorf("counter(%d) = %d, not above the previous %d", s, got, prev)
		}
		prev = got
	}
}

func TestRevisionCounterKey(t *testing.T) {
	// The key depends on the blinded key, so it differs between periods.
	k, err := NewIdentityKeyFromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	a := RevisionCounterKey(k.BlindedKey(1, 1440))
	b := RevisionCounterKey(k.BlindedKey(2, 1440))
	if a == b || a == ([32]byte{}) {
		t.Errorf("keys for two periods: %x, %x", a, b)
	}
}
