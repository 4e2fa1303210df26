package hsv3

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/internal/torvectors"
)

// vectorsDir returns the vectors folder; it skips the test when there is none, or fails it under CI.
func vectorsDir(t testing.TB) string {
	t.Helper()
	return torvectors.Dir(t)
}

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ToLower(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func unhex32(t testing.TB, s string) [32]byte {
	t.Helper()
	b := unhex(t, s)
	if len(b) != 32 {
		t.Fatalf("hex %q is %d bytes, want 32", s, len(b))
	}
	return [32]byte(b)
}

// keyVectors is the part of key-vectors.json this package uses.
type keyVectors struct {
	Ed25519Blinding struct {
		SecretSeeds         []string `json:"secret_seeds"`
		ExpandedSecretKeys  []string `json:"expanded_secret_keys"`
		PublicKeys          []string `json:"public_keys"`
		BlindingParams      []string `json:"blinding_params"`
		BlindedSecretKeys   []string `json:"blinded_secret_keys"`
		BlindedPublicKeys   []string `json:"blinded_public_keys"`
		SelfSignatures      []string `json:"self_signatures"`
		Curve25519PublicKey []string `json:"curve25519_public_keys"`
	} `json:"ed25519_blinding_tor_vectors"`
	BlindingBasics struct {
		PeriodLength      uint64 `json:"period_length_minutes"`
		PeriodNum         uint64 `json:"time_period_num"`
		IdentityPublic    string `json:"identity_public_key"`
		IdentityExpanded  string `json:"identity_expanded_secret_key"`
		BlindingParam     string `json:"blinding_param_h"`
		BlindedPublic     string `json:"blinded_public_key"`
		Subcredential     string `json:"subcredential"`
		BlindedExpandedSK string `json:"blinded_expanded_secret_key"`
	} `json:"blinding_full_tor_test_blinding_basics"`
	ArtiHsdesc2 struct {
		OnionAddress   string `json:"onion_address"`
		IdentityPublic string `json:"identity_public_key"`
		PeriodNum      uint64 `json:"time_period_num"`
		PeriodLength   uint64 `json:"period_length_minutes"`
		BlindedPublic  string `json:"blinded_public_key"`
		Subcredential  string `json:"subcredential"`
	} `json:"blinding_full_arti_hsdesc2"`
	StemBlinding struct {
		IdentitySeed  string `json:"identity_seed_ascii"`
		BlindingParam string `json:"blinding_param_ascii"`
		BlindedPublic string `json:"blinded_public_key"`
	} `json:"stem_blinding"`
	OnionAddresses struct {
		Valid []struct {
			Pubkey  string `json:"pubkey"`
			Address string `json:"address"`
		} `json:"valid"`
		Invalid []struct {
			Address string `json:"address"`
			Why     string `json:"why"`
		} `json:"invalid"`
	} `json:"onion_addresses"`
	OPE struct {
		Key   string      `json:"key"`
		Cases [][2]uint64 `json:"cases"`
	} `json:"ope_revision_counter"`
	ClientAuth struct {
		Subcredential     string `json:"subcredential"`
		EphemeralSecret   string `json:"ephemeral_x25519_secret"`
		DescriptorCookie  string `json:"descriptor_cookie"`
		ClientPublic      string `json:"client_x25519_public"`
		IV                string `json:"iv"`
		ExpectedClientID  string `json:"expected_client_id"`
		ExpectedEncCookie string `json:"expected_encrypted_cookie"`
	} `json:"client_auth_tor"`
}

func loadKeyVectors(t testing.TB) *keyVectors {
	t.Helper()
	var kv keyVectors
	if err := json.Unmarshal(readVector(t, "key-vectors.json"), &kv); err != nil {
		t.Fatalf("key-vectors.json: %v", err)
	}
	return &kv
}
