package health

import (
	"strings"
	"testing"
)

func TestFromSOCKS(t *testing.T) {
	cases := []struct {
		code byte
		want Outcome
		ev   Evidence
	}{
		{0x00, Connected, Alive},
		{0x02, Answered, Alive},
		{0x05, Answered, Alive},
		{0x01, Failed, Inconclusive},
		{0x06, Timeout, Dead},
		{0xF0, DescNotFound, Dead},
		{0xF1, DescInvalid, Dead},
		{0xF2, IntroFailed, Dead},
		{0xF3, RendFailed, Dead},
		{0xF4, AuthMissing, Inconclusive},
		{0xF5, AuthBad, Inconclusive},
		{0xF6, BadAddress, Inconclusive},
		{0xF7, IntroTimeout, Dead},
		{0xF8, Failed, Inconclusive},
	}
	for _, c := range cases {
		got := FromSOCKS(c.code)
		if got != c.want || got.Evidence() != c.ev {
			t.Errorf("FromSOCKS(%#x) = %s (%s), want %s (%s)", c.code, got, got.Evidence(), c.want, c.ev)
		}
	}
	if Timeout.Evidence() != Dead || ProberError.Evidence() != Inconclusive || Outcome("new-thing").Evidence() != Inconclusive {
		t.Error("Timeout must be Dead evidence; ProberError and unknown outcomes Inconclusive")
	}
	if d := SOCKSDetail(0xF2); !strings.Contains(d, "0xf2") || !strings.Contains(d, "introduction failed") {
		t.Errorf("SOCKSDetail(0xf2) = %q", d)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	c := DefaultConfig()
	c.Interval, c.Rules.MaxDownFraction, c.Rules.Port = 0, 1, 0
	err := c.Validate()
	for _, key := range []string{"health.interval", "health.max-down-fraction", "health.port"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want it to name %s", err, key)
		}
	}
}
