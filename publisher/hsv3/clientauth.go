package hsv3

import (
	"crypto/ecdh"
	"crypto/sha3"
	"crypto/subtle"
	"fmt"
)

// Client authorization ("restricted discovery", rend-spec-v3 §2.5.1.2).
// For each authorized client the service writes an auth-client line:
//
//	SECRET_SEED = X25519(ephemeral secret, client public) = X25519(client secret, ephemeral public)
//	KEYS        = SHAKE-256(subcredential | SECRET_SEED), 40 bytes
//	client-id   = KEYS[0:8], COOKIE-KEY = KEYS[8:40]
//	encrypted-cookie = AES-256-CTR(COOKIE-KEY, iv) XOR descriptor cookie

// DescriptorCookieSize is the size of the descriptor cookie in C tor (the
// spec says 32; tor uses 16).
const DescriptorCookieSize = 16

// AuthClient is one auth-client line of the middle layer.
type AuthClient struct {
	ID              [8]byte
	IV              [16]byte
	EncryptedCookie [DescriptorCookieSize]byte
}

func clientAuthKeys(subcredential [32]byte, secretSeed []byte) (id [8]byte, cookieKey []byte) {
	h := sha3.NewSHAKE256()
	h.Write(subcredential[:])
	h.Write(secretSeed)
	out := make([]byte, 40)
	h.Read(out)
	copy(id[:], out[:8])
	return id, out[8:]
}

// newAuthClient encrypts cookie for the client with public key client, as
// the service does.
func newAuthClient(ephemeral *ecdh.PrivateKey, client *ecdh.PublicKey, subcredential [32]byte, cookie [DescriptorCookieSize]byte, iv [16]byte) (AuthClient, error) {
	seed, err := ephemeral.ECDH(client)
	if err != nil {
		return AuthClient{}, fmt.Errorf("%w: client x25519 key: %v", ErrInvalidKey, err)
	}
	id, key := clientAuthKeys(subcredential, seed)
	ac := AuthClient{ID: id, IV: iv}
	copy(ac.EncryptedCookie[:], aesCTR(key, iv[:], cookie[:]))
	return ac, nil
}

// decryptDescriptorCookie finds the auth-client line for the client key and
// returns the decrypted descriptor cookie.
func decryptDescriptorCookie(client *ecdh.PrivateKey, ephemeral [32]byte, subcredential [32]byte, clients []AuthClient) ([]byte, error) {
	eph, err := ecdh.X25519().NewPublicKey(ephemeral[:])
	if err != nil {
		return nil, fmt.Errorf("%w: desc-auth-ephemeral-key: %v", ErrMalformed, err)
	}
	seed, err := client.ECDH(eph)
	if err != nil {
		return nil, fmt.Errorf("%w: desc-auth-ephemeral-key: %v", ErrMalformed, err)
	}
	id, key := clientAuthKeys(subcredential, seed)
	for _, c := range clients {
		if subtle.ConstantTimeCompare(c.ID[:], id[:]) == 1 {
			return aesCTR(key, c.IV[:], c.EncryptedCookie[:]), nil
		}
	}
	return nil, fmt.Errorf("%w: no auth-client line for this client key", ErrNotAuthorized)
}
