package hashring

import (
	"crypto/sha3"
	"encoding/binary"
)

// HSDirIndex returns a relay's position on the hash ring
// (hs_build_hsdir_index):
//
//	SHA3-256("node-idx" | ed25519_id | SRV | INT_8(period) | INT_8(period_length))
func HSDirIndex(ed25519ID, srv [32]byte, period, periodLength uint64) [32]byte {
	var buf [len("node-idx") + 32 + 32 + 8 + 8]byte
	b := append(buf[:0], "node-idx"...)
	b = append(b, ed25519ID[:]...)
	b = append(b, srv[:]...)
	b = binary.BigEndian.AppendUint64(b, period)
	b = binary.BigEndian.AppendUint64(b, periodLength)
	return sha3.Sum256(b)
}

// HSIndex returns where replica number replica (1-based) of a descriptor
// is stored on the hash ring (hs_build_hs_index). Note the field order
// differs from HSDirIndex: replica, then length, then period.
//
//	SHA3-256("store-at-idx" | blinded_key | INT_8(replica) | INT_8(period_length) | INT_8(period))
func HSIndex(blinded [32]byte, replica, period, periodLength uint64) [32]byte {
	var buf [len("store-at-idx") + 32 + 8 + 8 + 8]byte
	b := append(buf[:0], "store-at-idx"...)
	b = append(b, blinded[:]...)
	b = binary.BigEndian.AppendUint64(b, replica)
	b = binary.BigEndian.AppendUint64(b, periodLength)
	b = binary.BigEndian.AppendUint64(b, period)
	return sha3.Sum256(b)
}

// DisasterSRV is the shared random value used for time period period when
// the consensus carries none (get_disaster_srv):
//
//	SHA3-256("shared-random-disaster" | INT_8(period_length) | INT_8(period))
func DisasterSRV(periodLength, period uint64) [32]byte {
	var buf [len("shared-random-disaster") + 8 + 8]byte
	b := append(buf[:0], "shared-random-disaster"...)
	b = binary.BigEndian.AppendUint64(b, periodLength)
	b = binary.BigEndian.AppendUint64(b, period)
	return sha3.Sum256(b)
}
