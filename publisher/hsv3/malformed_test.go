package hsv3

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestOuterMalformed mutates a real descriptor; every mutation must give an
// ErrMalformed error that mentions what is wrong.
func TestOuterMalformed(t *testing.T) {
	raw := string(readVector(t, "arti_hsdesc1.txt"))
	replace := func(old, new string) string {
		if !strings.Contains(raw, old) {
			t.Fatalf("vector lacks %q", old)
		}
		return strings.Replace(raw, old, new, 1)
	}
	cases := []struct{ name, doc, want string }{
		{"not first", "descriptor-lifetime 180\n" + raw, "must start"},
		{"after signature", raw + "extra 1\n", "must end"},
		{"version", replace("hs-descriptor 3", "hs-descriptor 4"), "version"},
		{"no version", replace("hs-descriptor 3", "hs-descriptor"), "arguments"},
		{"lifetime", replace("descriptor-lifetime 180", "descriptor-lifetime 721"), "descriptor-lifetime"},
		{"revision", replace("revision-counter 19655750", "revision-counter -1"), "revision-counter"},
		{"duplicate", replace("revision-counter", "revision-counter 1\nrevision-counter"), "appears 2 times"},
		{"missing", replace("superencrypted\n", "superencrypted-x\n"), "superencrypted"},
		{"leading space", replace("revision-counter", " revision-counter"), "whitespace"},
		{"empty line", replace("revision-counter", "\nrevision-counter"), "empty"},
		{"object tag", strings.ReplaceAll(raw, "MESSAGE-----", "MESSAGX-----"), `object is "MESSAGX", want "MESSAGE"`},
		{"unterminated", replace("-----END MESSAGE-----", "-----END MESSAGX-----"), "END MESSAGE"},
		{"bad base64", replace("-----BEGIN ED25519 CERT-----\n", "-----BEGIN ED25519 CERT-----\n!!!!\n"), "base64"},
		{"bad cert", replace("-----BEGIN ED25519 CERT-----\n", "-----BEGIN ED25519 CERT-----\nAAAA\n"), "certificate"},
		{"short signature", replace("signature ", "signature AAAA"), "signature"},
		{"keyword", replace("revision-counter", "revision_counter"), "keyword"},
		{"stray object", replace("revision-counter", "-----BEGIN X-----\n-----END X-----\nrevision-counter"), "object"},
		{"empty", "", "must start"},
	}
	for _, c := range cases {
		_, err := parseOuter([]byte(c.doc))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrMalformed mentioning %q", c.name, err, c.want)
		}
	}
	// Unknown keywords are ignored, and the final newline is optional.
	if _, err := parseOuter([]byte(replace("revision-counter", "x-unknown a b\nrevision-counter"))); err != nil {
		t.Errorf("unknown keyword: %v", err)
	}
	if _, err := parseOuter([]byte(strings.TrimSuffix(raw, "\n"))); err != nil {
		t.Errorf("no final newline: %v", err)
	}
}

func TestMiddleAndInnerMalformed(t *testing.T) {
	middle, err := layerText(readVector(t, "arti_hsdesc1_middle.derived.bin"), "middle")
	if err != nil {
		t.Fatal(err)
	}
	m := string(middle)
	firstClient := m[strings.Index(m, "auth-client"):]
	firstClient = firstClient[:strings.Index(firstClient, "\n")+1]
	middleCases := []struct{ name, doc, want string }{
		{"no auth-client", strings.ReplaceAll(m, "auth-client", "x-client"), "auth-client"},
		{"short auth-client", strings.Replace(m, firstClient, "auth-client AAAA AAAA\n", 1), "arguments"},
		{"bad client id", strings.Replace(m, firstClient, "auth-client AAAA AAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAA\n", 1), "client-id"},
		{"ephemeral key", strings.Replace(m, "desc-auth-ephemeral-key ", "desc-auth-ephemeral-key AAAA", 1), "desc-auth-ephemeral-key"},
		{"first keyword", "x 1\n" + m, "desc-auth-type"},
	}
	for _, c := range middleCases {
		if _, err := parseMiddle([]byte(c.doc)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("middle %s: err = %v, want ErrMalformed mentioning %q", c.name, err, c.want)
		}
	}

	inner := string(readVector(t, "arti_hsdesc1_inner.derived.txt"))
	innerCases := []struct{ name, doc, want string }{
		{"no ntor", strings.Replace(inner, "create2-formats 2", "create2-formats 1", 1), "ntor"},
		{"not first", "single-onion-service\n" + inner, "create2-formats"},
		{"flow-control", strings.Replace(inner, "create2-formats 2\n", "create2-formats 2\nflow-control 1-2 300\n", 1), "flow-control"},
	}
	for _, c := range innerCases {
		if _, _, err := parseInner([]byte(c.doc), nil); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("inner %s: err = %v, want ErrMalformed mentioning %q", c.name, err, c.want)
		}
	}

	// A bad intro point is skipped, not fatal.
	firstIntro := strings.Index(inner, "introduction-point ")
	secondIntro := firstIntro + 1 + strings.Index(inner[firstIntro+1:], "introduction-point ")
	broken := inner[:secondIntro] + "introduction-point AAAA\n" + inner[strings.Index(inner[secondIntro:], "\n")+secondIntro+1:]
	l, skipped, err := parseInner([]byte(broken), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.IntroPoints) != 2 || len(skipped) != 1 || skipped[0].Index != 1 || !strings.Contains(skipped[0].Err.Error(), "link specifier") {
		t.Errorf("broken intro point: %d parsed, skipped %v", len(l.IntroPoints), skipped)
	}
	noOnionKey := strings.Replace(inner, "onion-key ntor", "onion-key tap", 1)
	if _, skipped, _ := parseInner([]byte(noOnionKey), nil); len(skipped) != 1 || !strings.Contains(skipped[0].Err.Error(), "onion-key") {
		t.Errorf("intro point without ntor onion key: skipped %v", skipped)
	}
}

func TestLinkSpecifiersMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":      {},
		"truncated":  {1, 0},
		"short data": {1, 0, 6, 1, 2, 3},
		"ipv4 size":  {1, 0, 5, 1, 2, 3, 4, 5},
		"trailing":   {1, 0, 6, 1, 2, 3, 4, 5, 6, 7},
	} {
		if _, err := ParseLinkSpecifiers(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	specs, err := ParseLinkSpecifiers([]byte{2, 9, 2, 0xab, 0xcd, 1, 18, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(specs); got != "[type9:abcd [2001:db8::1]:8080]" {
		t.Errorf("specs = %s", got)
	}
}

// TestDecodeRejectsTooManyIntroPoints builds descriptors whose inner layer
// holds 21 intro points, bypassing Encode's limit.
func TestDecodeRejectsTooManyIntroPoints(t *testing.T) {
	arti, _ := vectorIntroPoints(t)
	identity := testIdentity(t)
	p := EncodeParams{Identity: identity, PeriodNum: 3, PeriodLength: 1440, RevisionCounter: 1, Now: hsdesc1Now, Rand: testRand(13)}
	signing, _ := generateExpandedKey(p.Rand)
	inner, err := recertifyIntroPoints(cycleIntroPoints(arti, MaxIntroPoints), signing)
	if err != nil {
		t.Fatal(err)
	}
	inner.IntroPoints = append(inner.IntroPoints, inner.IntroPoints[0])
	text := inner.marshal()
	raw, err := seal(p, signing, text)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(raw, identity.PublicKey(), 3, 1440, DecodeOptions{Now: hsdesc1Now})
	if !errors.Is(err, ErrTooManyIntroPoints) {
		t.Fatalf("21 intro points: err = %v, want ErrTooManyIntroPoints", err)
	}

	// With one of the 21 unparseable, 20 remain and the descriptor is kept.
	broken := bytes.Replace(text, []byte("introduction-point "), []byte("introduction-point AAAA\nx "), 1)
	raw, err = seal(p, signing, broken)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(raw, identity.PublicKey(), 3, 1440, DecodeOptions{Now: hsdesc1Now})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.IntroPoints()) != 20 || len(d.SkippedIntroPoints) != 1 || d.SkippedIntroPoints[0].Index != 0 {
		t.Errorf("%d intro points, skipped %v", len(d.IntroPoints()), d.SkippedIntroPoints)
	}
}
