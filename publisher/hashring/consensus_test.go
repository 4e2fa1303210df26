package hashring

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

const artiConsensus = "consensus/arti-live_consensus-microdesc.txt"

func TestParseConsensusArtiLive(t *testing.T) {
	kv := loadKeyVectors(t)
	c, err := ParseConsensus(readVector(t, artiConsensus))
	if err != nil {
		t.Fatalf("ParseConsensus: %v", err)
	}
	wantVA := time.Date(2026, 7, 27, 10, 0, 0, 0, time.UTC)
	if !c.ValidAfter.Equal(wantVA) || c.ValidAfter.Unix() != kv.SmallRing.ValidAfterUnix {
		t.Errorf("valid-after = %v, want %v", c.ValidAfter, wantVA)
	}
	if !c.FreshUntil.Equal(wantVA.Add(time.Hour)) || !c.ValidUntil.Equal(wantVA.Add(3*time.Hour)) {
		t.Errorf("fresh-until %v valid-until %v", c.FreshUntil, c.ValidUntil)
	}
	if got := c.VotingInterval(); got != time.Duration(kv.SmallRing.VotingIntervalS)*time.Second {
		t.Errorf("voting interval = %v", got)
	}
	if c.TestNetwork {
		t.Error("an hourly consensus is not a test network")
	}
	if got := c.Params["hsdir_spread_store"]; got != 4 {
		t.Errorf("params hsdir_spread_store = %d, want 4", got)
	}
	if got := c.Params["cc_sscap_onion"]; got != 475 {
		t.Errorf("params cc_sscap_onion = %d, want 475", got)
	}
	if c.PreviousSRV == nil || *c.PreviousSRV != hex32(t, kv.SmallRing.SRVPrevious) {
		t.Errorf("previous SRV = %x", c.PreviousSRV)
	}
	if c.CurrentSRV == nil || *c.CurrentSRV != hex32(t, kv.SmallRing.SRVCurrent) {
		t.Errorf("current SRV = %x", c.CurrentSRV)
	}
	if len(c.Relays) != len(kv.SmallRing.Relays) {
		t.Fatalf("%d relays, want %d", len(c.Relays), len(kv.SmallRing.Relays))
	}
	for i, want := range kv.SmallRing.Relays {
		r := c.Relays[i]
		if r.Nickname != want.Nickname || r.Fingerprint() != want.Fingerprint {
			t.Errorf("relay %d = %s %s, want %s %s", i, r.Nickname, r.Fingerprint(), want.Nickname, want.Fingerprint)
		}
		if got := base64.RawStdEncoding.EncodeToString(r.MicrodescDigest[:]); got != want.MDDigest {
			t.Errorf("%s: m = %s, want %s", want.Nickname, got, want.MDDigest)
		}
		if r.HSDir != want.HSDirFlag {
			t.Errorf("%s: HSDir flag = %v, want %v", want.Nickname, r.HSDir, want.HSDirFlag)
		}
		if r.HSDirV3 != (want.PrHSDir == "2") {
			t.Errorf("%s: HSDirV3 = %v, pr HSDir=%s", want.Nickname, r.HSDirV3, want.PrHSDir)
		}
		if r.HasEd25519 {
			t.Errorf("%s: ed25519 identity set before microdescs were attached", want.Nickname)
		}
	}
}

func TestParseConsensusCRLF(t *testing.T) {
	raw := readVector(t, artiConsensus)
	want, err := ParseConsensus(raw)
	if err != nil {
		t.Fatal(err)
	}
	crlf := "\r\n" + strings.ReplaceAll(string(raw), "\n", "\r\n")
	got, err := ParseConsensus([]byte(crlf))
	if err != nil {
		t.Fatalf("CRLF consensus: %v", err)
	}
	if !got.ValidAfter.Equal(want.ValidAfter) || len(got.Relays) != len(want.Relays) || *got.CurrentSRV != *want.CurrentSRV {
		t.Errorf("CRLF parse differs: %+v", got)
	}
	for i := range want.Relays {
		if got.Relays[i] != want.Relays[i] {
			t.Errorf("relay %d differs: %+v vs %+v", i, got.Relays[i], want.Relays[i])
		}
	}
}

// minimalConsensus is a small valid consensus for edit-based tests.
const minimalConsensus = `network-status-version 3 microdesc
valid-after 2026-07-27 10:00:00
fresh-until 2026-07-27 11:00:00
valid-until 2026-07-27 13:00:00
params hsdir_spread_store=4
shared-rand-previous-value 9 B7WEEFCA6Jb1/tqV05207vqC/eJUlBPr7QemYm5FCCU=
shared-rand-current-value 9 zwbAmnMGie00x5rmWGk+lP2rTXK2n0OmkF/1Ih4LcAI=
r Ukko MDUJq5EO8ge3Q4wnQ1xKL9V58bE 2038-01-01 00:00:00 95.216.33.30 443 0
m PSFWDSIK+sMS6+fkLrc7PSZ6L0Rkscbz2WcmKCDIdOQ
s Fast Guard HSDir Running Stable V2Dir Valid
pr HSDir=1-2 Link=3-5
directory-footer
`

func TestParseConsensusTolerant(t *testing.T) {
	text := strings.Replace(minimalConsensus, "params", "some-future-keyword a b c\nparams", 1)
	text = strings.Replace(text, "m PSF", "future-entry-line x\n-----BEGIN FUTURE-----\nAAAA\n-----END FUTURE-----\nm PSF", 1)
	text += "unknown-footer-line\ndirectory-signature x y\n-----BEGIN SIGNATURE-----\nAAAA\n-----END SIGNATURE-----\n"
	c, err := ParseConsensus([]byte(text))
	if err != nil {
		t.Fatalf("ParseConsensus: %v", err)
	}
	if len(c.Relays) != 1 || c.Relays[0].Nickname != "Ukko" || !c.Relays[0].HSDir || !c.Relays[0].HSDirV3 {
		t.Errorf("relays = %+v", c.Relays)
	}
}

func TestParseConsensusErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		line    int
		keyword string
	}{
		{"not a consensus", func(s string) string { return "hello\n" + s }, 1, "hello"},
		{"ns flavour", func(s string) string {
			return strings.Replace(s, "3 microdesc", "3", 1)
		}, 1, "network-status-version"},
		{"bad time", func(s string) string {
			return strings.Replace(s, "valid-after 2026-07-27 10:00:00", "valid-after 2026-13-27 10:00:00", 1)
		}, 2, "valid-after"},
		{"time missing a field", func(s string) string {
			return strings.Replace(s, "fresh-until 2026-07-27 11:00:00", "fresh-until 2026-07-27", 1)
		}, 3, "fresh-until"},
		{"twice", func(s string) string {
			return strings.Replace(s, "params", "valid-until 2026-07-27 13:00:00\nparams", 1)
		}, 5, "valid-until"},
		{"bad param", func(s string) string { return strings.Replace(s, "hsdir_spread_store=4", "hsdir_spread_store=four", 1) }, 5, "params"},
		{"param overflow", func(s string) string {
			return strings.Replace(s, "hsdir_spread_store=4", "hsdir_spread_store=4294967296", 1)
		}, 5, "params"},
		{"param without =", func(s string) string { return strings.Replace(s, "hsdir_spread_store=4", "hsdir_spread_store", 1) }, 5, "params"},
		{"short SRV", func(s string) string {
			return strings.Replace(s, "zwbAmnMGie00x5rmWGk+lP2rTXK2n0OmkF/1Ih4LcAI=", "zwbAmnMG", 1)
		}, 7, "shared-rand-current-value"},
		{"SRV bad reveals", func(s string) string {
			return strings.Replace(s, "previous-value 9", "previous-value x", 1)
		}, 6, "shared-rand-previous-value"},
		{"short r", func(s string) string {
			return strings.Replace(s, "r Ukko MDUJq5EO8ge3Q4wnQ1xKL9V58bE 2038-01-01 00:00:00 95.216.33.30 443 0", "r Ukko MDUJq5EO8ge3Q4wnQ1xKL9V58bE", 1)
		}, 8, "r"},
		{"bad identity", func(s string) string {
			return strings.Replace(s, "MDUJq5EO8ge3Q4wnQ1xKL9V58bE", "MDUJq5EO8ge3Q4wnQ1x!L9V58bE", 1)
		}, 8, "r"},
		{"r without m", func(s string) string {
			return strings.Replace(s, "m PSFWDSIK+sMS6+fkLrc7PSZ6L0Rkscbz2WcmKCDIdOQ\n", "", 1)
		}, 8, "r"},
		{"m twice", func(s string) string {
			return strings.Replace(s, "s Fast", "m PSFWDSIK+sMS6+fkLrc7PSZ6L0Rkscbz2WcmKCDIdOQ\ns Fast", 1)
		}, 10, "m"},
		{"bad m", func(s string) string {
			return strings.Replace(s, "m PSFWDSIK+sMS6+fkLrc7PSZ6L0Rkscbz2WcmKCDIdOQ", "m PSFWDSIK", 1)
		}, 9, "m"},
		{"duplicate relay", func(s string) string {
			entry := s[strings.Index(s, "r Ukko"):strings.Index(s, "directory-footer")]
			return strings.Replace(s, "directory-footer", entry+"directory-footer", 1)
		}, 12, "r"},
		{"relay after footer", func(s string) string {
			entry := s[strings.Index(s, "r Ukko"):strings.Index(s, "directory-footer")]
			return s + entry
		}, 13, "r"},
		{"unterminated object", func(s string) string { return s + "-----BEGIN SIGNATURE-----\nAAAA\n" }, 13, ""},
		{"missing valid-until", func(s string) string {
			return strings.Replace(s, "valid-until 2026-07-27 13:00:00\n", "", 1)
		}, 11, "valid-until"},
		{"fresh-until not after valid-after", func(s string) string {
			return strings.Replace(s, "fresh-until 2026-07-27 11:00:00", "fresh-until 2026-07-27 10:00:00", 1)
		}, 12, "fresh-until"},
		{"before 1970", func(s string) string {
			s = strings.Replace(s, "valid-after 2026-07-27 10:00:00", "valid-after 1969-07-27 10:00:00", 1)
			return strings.Replace(s, "fresh-until 2026-07-27 11:00:00", "fresh-until 1969-07-27 11:00:00", 1)
		}, 12, "valid-after"},
		{"empty", func(string) string { return "\r\n\n" }, 1, ""},
	}
	if _, err := ParseConsensus([]byte(minimalConsensus)); err != nil {
		t.Fatalf("base document: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConsensus([]byte(tt.edit(minimalConsensus)))
			if err == nil {
				t.Fatalf("no error; parsed %+v", c)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Line != tt.line || pe.Keyword != tt.keyword {
				t.Errorf("error at line %d keyword %q, want line %d keyword %q: %v", pe.Line, pe.Keyword, tt.line, tt.keyword, err)
			}
		})
	}
}

func TestParams(t *testing.T) {
	c, err := ParseConsensus([]byte(minimalConsensus))
	if err != nil {
		t.Fatal(err)
	}
	c.Params = map[string]int32{}
	if c.HSDirNReplicas() != 2 || c.HSDirSpreadStore() != 4 || c.HSDirSpreadFetch() != 3 ||
		c.HSDirInterval() != 1440 || c.MaxDescriptorSize() != 50000 {
		t.Errorf("defaults: replicas %d store %d fetch %d interval %d max %d", c.HSDirNReplicas(),
			c.HSDirSpreadStore(), c.HSDirSpreadFetch(), c.HSDirInterval(), c.MaxDescriptorSize())
	}

	text := strings.Replace(minimalConsensus, "params hsdir_spread_store=4",
		"params HSV3MaxDescriptorSize=0 hsdir_interval=20 hsdir_n_replicas=17 hsdir_spread_fetch=-5 hsdir_spread_store=129", 1)
	c, err = ParseConsensus([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if c.HSDirNReplicas() != 16 || c.HSDirSpreadStore() != 128 || c.HSDirSpreadFetch() != 1 ||
		c.HSDirInterval() != 30 || c.MaxDescriptorSize() != 1 {
		t.Errorf("clamped: replicas %d store %d fetch %d interval %d max %d", c.HSDirNReplicas(),
			c.HSDirSpreadStore(), c.HSDirSpreadFetch(), c.HSDirInterval(), c.MaxDescriptorSize())
	}

	text = strings.Replace(minimalConsensus, "params hsdir_spread_store=4",
		"params HSV3MaxDescriptorSize=60000 hsdir_interval=120 hsdir_n_replicas=3 hsdir_spread_fetch=2 hsdir_spread_store=6", 1)
	c, err = ParseConsensus([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if c.HSDirNReplicas() != 3 || c.HSDirSpreadStore() != 6 || c.HSDirSpreadFetch() != 2 ||
		c.HSDirInterval() != 120 || c.MaxDescriptorSize() != 60000 {
		t.Errorf("in range: replicas %d store %d fetch %d interval %d max %d", c.HSDirNReplicas(),
			c.HSDirSpreadStore(), c.HSDirSpreadFetch(), c.HSDirInterval(), c.MaxDescriptorSize())
	}
}

func TestReasonablyLive(t *testing.T) {
	c, err := ParseConsensus([]byte(minimalConsensus))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{c.ValidAfter, true},
		{c.ValidAfter.Add(-24 * time.Hour), true},
		{c.ValidAfter.Add(-24*time.Hour - time.Second), false},
		{c.ValidUntil.Add(24 * time.Hour), true},
		{c.ValidUntil.Add(24*time.Hour + time.Second), false},
	} {
		if got := c.ReasonablyLive(tt.now); got != tt.want {
			t.Errorf("ReasonablyLive(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
}

func TestSupportsProtocol(t *testing.T) {
	for _, tt := range []struct {
		pr   string
		want bool
	}{
		{"HSDir=2", true},
		{"HSDir=1-2", true},
		{"HSDir=1,2", true},
		{"HSDir=1,3-4", false},
		{"HSDir=1", false},
		{"HSDir=2-1", false},
		{"HSDir=x", false},
		{"HSDir=", false},
		{"HSDir", false},
		{"Link=2 HSDir=1", false},
		{"HSIntro=2 HSDir=1-3", true},
		{"HSDirX=2", false},
	} {
		if got := supportsProtocol(strings.Fields(tt.pr), "HSDir", 2); got != tt.want {
			t.Errorf("supportsProtocol(%q) = %v, want %v", tt.pr, got, tt.want)
		}
	}
}
