package hsv3

import (
	"crypto/ecdh"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
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

// authClientMultiple is what the number of auth-client lines is padded to a
// multiple of.
const authClientMultiple = 16

// MaxAuthorizedClients is the most clients a service may authorize: with 20 intro points the
// descriptor then stays below the default maximum size of 50000 bytes (144 lines do not; measured
// by TestEncodeMaxAuthorizedClientsFits).
const MaxAuthorizedClients = 128

// AuthClientLines is how many auth-client lines a descriptor for n authorized
// clients carries. The rule is C tor's (tor's src/feature/hs/hs_service.c,
// build_service_desc_superencrypted, with HS_DESC_AUTH_CLIENT_MULTIPLE = 16
// from hs_descriptor.h): the real lines are padded with random ("fake") ones
// up to the next multiple of 16, and no clients at all gives 16 fake lines;
// the list is then shuffled, so that a client's position says nothing. A
// reader learns only the number of clients rounded up to a multiple of 16.
func AuthClientLines(n int) int {
	if n <= 0 {
		return authClientMultiple
	}
	return (n + authClientMultiple - 1) / authClientMultiple * authClientMultiple
}

// authMiddle returns the middle layer for the authorized clients (none: only
// fake lines): a fresh ephemeral x25519 key, one auth-client line per client
// carrying cookie, random lines up to AuthClientLines, shuffled.
func authMiddle(rand io.Reader, clients []*ecdh.PublicKey, subcredential [32]byte, cookie [DescriptorCookieSize]byte) (*MiddleLayer, error) {
	m := &MiddleLayer{AuthType: "x25519"}
	seed, err := readRandom(rand, 32)
	if err != nil {
		return nil, err
	}
	eph, err := ecdh.X25519().NewPrivateKey(seed)
	clear(seed)
	if err != nil {
		return nil, fmt.Errorf("ephemeral x25519 key: %w", err)
	}
	copy(m.EphemeralKey[:], eph.PublicKey().Bytes())
	m.AuthClients = make([]AuthClient, AuthClientLines(len(clients)))
	for i := range m.AuthClients {
		c := &m.AuthClients[i]
		if i < len(clients) {
			var iv [16]byte
			if _, err := io.ReadFull(rand, iv[:]); err != nil {
				return nil, fmt.Errorf("reading random auth-client iv: %w", err)
			}
			if *c, err = newAuthClient(eph, clients[i], subcredential, cookie, iv); err != nil {
				return nil, fmt.Errorf("authorized client %d: %w", i, err)
			}
			continue
		}
		for _, f := range [][]byte{c.ID[:], c.IV[:], c.EncryptedCookie[:]} {
			if _, err := io.ReadFull(rand, f); err != nil {
				return nil, fmt.Errorf("reading random auth-client: %w", err)
			}
		}
	}
	// Fisher-Yates with unbiased draws from rand.
	for i := len(m.AuthClients) - 1; i > 0; i-- {
		j, err := randIntn(rand, i+1)
		if err != nil {
			return nil, err
		}
		m.AuthClients[i], m.AuthClients[j] = m.AuthClients[j], m.AuthClients[i]
	}
	return m, nil
}

// randIntn returns a uniform integer in [0, n) read from rand (rejection sampling).
func randIntn(rand io.Reader, n int) (int, error) {
	limit := ^uint32(0) - ^uint32(0)%uint32(n)
	var b [4]byte
	for {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return 0, fmt.Errorf("reading random bytes: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return int(v % uint32(n)), nil
		}
	}
}
