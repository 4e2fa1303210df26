package hsv3

import (
	"bytes"
	"crypto/ed25519"
)

// periodScheme is a time-period length and offset, both in minutes.
type periodScheme struct {
	length, offset uint64
}

// periodSchemes lists the schemes findPeriod tries: the real network (1440
// minutes, offset 12 h) and TestingTorNetwork ones, where a voting interval
// of vi seconds gives periods of 24·vi/60 minutes offset by 12·vi seconds.
func periodSchemes() []periodScheme {
	schemes := []periodScheme{{length: 1440, offset: 720}}
	for _, vi := range []uint64{10, 15, 20, 30, 60, 300} {
		schemes = append(schemes, periodScheme{length: 24 * vi / 60, offset: 12 * vi / 60})
	}
	return schemes
}

// periodAt returns the number of the time period containing unix time t.
func (s periodScheme) periodAt(t int64) (uint64, bool) {
	if t < 0 {
		return 0, false
	}
	minutes := uint64(t) / 60
	if minutes < s.offset {
		return 0, false
	}
	return (minutes - s.offset) / s.length, true
}

// findPeriod finds the time period whose blinded identity key is blinded.
// The signing-key certificate expires SigningCertLifetime after the
// descriptor is built, rounded to the hour (up by C tor, down by stem); a
// descriptor is built for the current period or a neighbour, so periods
// within two of that hour's are tried for each scheme.
func findPeriod(identity, blinded ed25519.PublicKey, expirationHours uint32) (num, length uint64, ok bool) {
	created := int64(expirationHours)*3600 - int64(SigningCertLifetime.Seconds())
	for _, s := range periodSchemes() {
		lo, okLo := s.periodAt(created - 3600)
		hi, okHi := s.periodAt(created + 3600)
		if !okHi {
			continue
		}
		start := uint64(0)
		if okLo && lo >= 2 {
			start = lo - 2
		}
		for n := start; n <= hi+2; n++ {
			key, err := BlindPublicKey(identity, n, s.length)
			if err != nil {
				return 0, 0, false
			}
			if bytes.Equal(key, blinded) {
				return n, s.length, true
			}
		}
	}
	return 0, 0, false
}
