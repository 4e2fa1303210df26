package hsv3

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha3"
	"encoding/binary"
	"fmt"
)

// Revision counters as C tor makes them since 0.3.5 (rend-spec-v3 F.2,
// crypto_ope.c): an order-preserving encryption of the seconds elapsed
// since the start of the shared-random run. OPE(n) is the sum of the first
// n 16-bit little-endian words of an AES-256-CTR keystream (IV 0), each
// plus one, so it strictly increases with n.

// OPEMaxInput is the largest OPE input tor accepts (OPE_INPUT_MAX, ~72 h).
const OPEMaxInput = 1 << 18

// RevisionCounterKey returns tor's OPE key for a blinded key:
// SHA3-256("rev-counter-generation\0" | blinded expanded secret key).
func RevisionCounterKey(blinded *ExpandedKey) [32]byte {
	h := sha3.New256()
	h.Write([]byte("rev-counter-generation\x00"))
	h.Write(blinded.raw[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// OPEEncrypt returns tor's crypto_ope_encrypt(key, plaintext) for
// plaintext in [1, OPEMaxInput].
func OPEEncrypt(key [32]byte, plaintext uint32) (uint64, error) {
	if plaintext == 0 || plaintext > OPEMaxInput {
		return 0, fmt.Errorf("OPE input %d out of range [1, %d]", plaintext, OPEMaxInput)
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return 0, err
	}
	stream := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	buf := make([]byte, 8192)
	var sum uint64
	for left := int(plaintext); left > 0; {
		n := min(left, len(buf)/2)
		chunk := buf[:2*n]
		clear(chunk)
		stream.XORKeyStream(chunk, chunk)
		for i := 0; i < len(chunk); i += 2 {
			sum += uint64(binary.LittleEndian.Uint16(chunk[i:])) + 1
		}
		left -= n
	}
	return sum, nil
}

// OPERevisionCounter returns the revision counter for a descriptor built
// secondsSinceSRVStart seconds after the start of its shared-random run
// (the previous run for the first descriptor, the current run for the
// second), as tor computes it: OPE(seconds + 1).
func OPERevisionCounter(key [32]byte, secondsSinceSRVStart uint64) (uint64, error) {
	if secondsSinceSRVStart >= OPEMaxInput {
		return 0, fmt.Errorf("%d seconds since the SRV run start is beyond the OPE range (%d)", secondsSinceSRVStart, OPEMaxInput-1)
	}
	return OPEEncrypt(key, uint32(secondsSinceSRVStart)+1)
}
