package hashring

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/internal/torvectors"
)

// vectorsDir returns the vectors folder; it skips the test when there is none, or fails it under CI.
func vectorsDir(tb testing.TB) string {
	tb.Helper()
	return torvectors.Dir(tb)
}

func readVector(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir(tb), name))
	if err != nil {
		tb.Fatalf("read vector: %v", err)
	}
	return b
}

// keyVectors is the part of key-vectors.json this package checks.
type keyVectors struct {
	TimePeriods struct {
		Cases []struct {
			Time              string  `json:"time"`
			Unix              *int64  `json:"unix"`
			TimePeriodNum     uint64  `json:"time_period_num"`
			NextTimePeriodNum *uint64 `json:"next_time_period_num"`
			NextTPStart       string  `json:"next_tp_start"`
		} `json:"cases"`
		TestnetNote string `json:"testnet_note"`
	} `json:"time_periods"`
	HSIndexes struct {
		Key          string `json:"blinded_or_identity_key"`
		SRV          string `json:"srv"`
		PeriodNum    uint64 `json:"period_num"`
		PeriodLength uint64 `json:"period_length"`
		Replica      uint64 `json:"replica"`
		HSIndex      string `json:"hs_index"`
		HSDirIndex   string `json:"hsdir_index"`
	} `json:"hs_indexes"`
	DisasterSRV struct {
		PeriodLength uint64            `json:"period_length"`
		ByTimePeriod map[string]string `json:"by_time_period"`
	} `json:"disaster_srv"`
	OnionbalanceHashring struct {
		ValidAfterUnix       int64  `json:"valid_after_unix"`
		PeriodLength         uint64 `json:"period_length"`
		CurrentTimePeriodNum uint64 `json:"current_time_period_num"`
		BetweenTPAndSRV      bool   `json:"between_tp_and_srv"`
		CurrentSRV           string `json:"current_srv"`
		PreviousSRV          string `json:"previous_srv"`
		NReplicas            int    `json:"hsdir_n_replicas"`
		SpreadStore          int    `json:"hsdir_spread_store"`
		First                obDesc `json:"first_descriptor"`
		Second               obDesc `json:"second_descriptor"`
	} `json:"onionbalance_hashring"`
	SmallRing struct {
		ValidAfterUnix  int64  `json:"valid_after_unix"`
		VotingIntervalS int64  `json:"voting_interval_s"`
		TimePeriodNum   uint64 `json:"time_period_num"`
		BetweenTPAndSRV bool   `json:"between_tp_and_srv"`
		FirstTP         uint64 `json:"first_descriptor_tp"`
		SecondTP        uint64 `json:"second_descriptor_tp"`
		SRVPrevious     string `json:"srv_previous"`
		SRVCurrent      string `json:"srv_current"`
		Relays          []struct {
			Nickname    string `json:"nickname"`
			Fingerprint string `json:"fingerprint"`
			MDDigest    string `json:"md_digest"`
			Ed25519Hex  string `json:"ed25519_id_hex"`
			HSDirFlag   bool   `json:"hsdir_flag"`
			PrHSDir     string `json:"pr_HSDir"`
			IndexFirst  string `json:"hsdir_index_first_desc"`
			IndexSecond string `json:"hsdir_index_second_desc"`
		} `json:"relays"`
	} `json:"derived_small_consensus_ring"`
}

type obDesc struct {
	TimePeriodNum uint64   `json:"time_period_num"`
	SRV           string   `json:"srv"`
	BlindedKey    string   `json:"blinded_key"`
	Responsible   []string `json:"responsible_hsdirs_in_order"`
}

func loadKeyVectors(tb testing.TB) *keyVectors {
	tb.Helper()
	var kv keyVectors
	if err := json.Unmarshal(readVector(tb, "key-vectors.json"), &kv); err != nil {
		tb.Fatalf("key-vectors.json: %v", err)
	}
	return &kv
}

// hex32 decodes 64 hex characters (either case).
func hex32(tb testing.TB, s string) [32]byte {
	tb.Helper()
	var out [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		tb.Fatalf("bad 32-byte hex %q: %v", s, err)
	}
	copy(out[:], b)
	return out
}

// parseVectorTime reads the time formats used in key-vectors.json.
func parseVectorTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	for _, layout := range []string{"2006-01-02 15:04:05 MST", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	tb.Fatalf("unparsable vector time %q", s)
	return time.Time{}
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
