package hsv3

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// Layer encryption (rend-spec-v3 §2.5.3, tor's build_secret_key_iv_mac):
//
//	keys = SHAKE-256(SECRET_DATA | subcredential | INT_8(revision) | salt | constant)
//	blob = salt | AES-256-CTR(keys[0:32], iv = keys[32:48]) | MAC(keys[48:80], salt, ciphertext)
const (
	constSuperencrypted = "hsdir-superencrypted-data" // first layer: outer → middle
	constEncrypted      = "hsdir-encrypted-data"      // second layer: middle → inner

	saltSize     = 16
	macSize      = 32
	layerKeySize = 32 + aes.BlockSize + macSize

	// superencryptedPadMultiple is what the first layer's plaintext is
	// NUL-padded to a multiple of (HS_DESC_SUPERENC_PLAINTEXT_PAD_MULTIPLE).
	superencryptedPadMultiple = 10000
)

// layerParams are the inputs shared by encryption and decryption of a layer.
type layerParams struct {
	secretData    []byte // blinded key, or blinded key | descriptor cookie
	subcredential [32]byte
	revision      uint64
	constant      string
}

func (p layerParams) keys(salt []byte) (key, iv, macKey []byte) {
	h := sha3.NewSHAKE256()
	h.Write(p.secretData)
	h.Write(p.subcredential[:])
	var rev [8]byte
	binary.BigEndian.PutUint64(rev[:], p.revision)
	h.Write(rev[:])
	h.Write(salt)
	h.Write([]byte(p.constant))
	out := make([]byte, layerKeySize)
	h.Read(out)
	return out[:32], out[32 : 32+aes.BlockSize], out[32+aes.BlockSize:]
}

// layerMAC is SHA3-256(INT_8(len key) | key | INT_8(len salt) | salt | ciphertext).
func layerMAC(macKey, salt, ciphertext []byte) []byte {
	h := sha3.New256()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(macKey)))
	h.Write(n[:])
	h.Write(macKey)
	binary.BigEndian.PutUint64(n[:], uint64(len(salt)))
	h.Write(n[:])
	h.Write(salt)
	h.Write(ciphertext)
	return h.Sum(nil)
}

func aesCTR(key, iv, in []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		// Unreachable: key is always 32 bytes.
		panic("hsv3: " + err.Error())
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out
}

// encryptLayer returns salt | ciphertext | MAC.
func encryptLayer(p layerParams, plaintext, salt []byte) []byte {
	key, iv, macKey := p.keys(salt)
	ct := aesCTR(key, iv, plaintext)
	blob := make([]byte, 0, len(salt)+len(ct)+macSize)
	blob = append(blob, salt...)
	blob = append(blob, ct...)
	return append(blob, layerMAC(macKey, salt, ct)...)
}

// decryptLayer verifies the MAC (in constant time) and then decrypts. It
// returns the whole plaintext, padding included.
func decryptLayer(p layerParams, blob []byte) ([]byte, error) {
	if len(blob) <= saltSize+macSize {
		return nil, fmt.Errorf("%w: %s blob is %d bytes, want more than %d", ErrMalformed, p.constant, len(blob), saltSize+macSize)
	}
	salt, ct, mac := blob[:saltSize], blob[saltSize:len(blob)-macSize], blob[len(blob)-macSize:]
	key, iv, macKey := p.keys(salt)
	if subtle.ConstantTimeCompare(mac, layerMAC(macKey, salt, ct)) != 1 {
		return nil, fmt.Errorf("%w: %s MAC mismatch", ErrDecrypt, p.constant)
	}
	return aesCTR(key, iv, ct), nil
}

// layerText returns the plaintext up to its first NUL; it must not be empty.
func layerText(plaintext []byte, layer string) ([]byte, error) {
	if i := bytes.IndexByte(plaintext, 0); i >= 0 {
		plaintext = plaintext[:i]
	}
	if len(plaintext) == 0 {
		return nil, fmt.Errorf("%w: %s layer is empty", ErrMalformed, layer)
	}
	return plaintext, nil
}

// padSuperencrypted NUL-pads to the next multiple of 10000 bytes, as C tor
// does (a text of exactly 10000 bytes stays 10000).
func padSuperencrypted(text []byte) []byte {
	n := (len(text) + superencryptedPadMultiple - 1) / superencryptedPadMultiple * superencryptedPadMultiple
	if n == 0 {
		n = superencryptedPadMultiple
	}
	out := make([]byte, n)
	copy(out, text)
	return out
}
