package hashring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var artiMicrodescNicks = []string{"lisdex", "moria1", "Ukko", "d2d4", "Akka"}

func artiMicrodesc(t *testing.T, nick string) []byte {
	return readVector(t, "consensus/arti-live_microdesc_"+nick+".txt")
}

func TestParseMicrodescsArtiLive(t *testing.T) {
	kv := loadKeyVectors(t)
	for _, want := range kv.SmallRing.Relays {
		mds, err := ParseMicrodescs(artiMicrodesc(t, want.Nickname))
		if err != nil {
			t.Fatalf("%s: %v", want.Nickname, err)
		}
		if len(mds) != 1 {
			t.Fatalf("%s: %d microdescs, want 1", want.Nickname, len(mds))
		}
		md := mds[0]
		if got := md.DigestBase64(); got != want.MDDigest {
			t.Errorf("%s: digest %s, want %s", want.Nickname, got, want.MDDigest)
		}
		if !md.HasEd25519 || md.Ed25519 != hex32(t, want.Ed25519Hex) {
			t.Errorf("%s: ed25519 %x (set %v), want %s", want.Nickname, md.Ed25519, md.HasEd25519, want.Ed25519Hex)
		}
	}
	mds, err := ParseMicrodescs(artiMicrodesc(t, "Ukko"))
	if err != nil {
		t.Fatal(err)
	}
	if got := mds[0].DigestBase64(); got != "PSFWDSIK+sMS6+fkLrc7PSZ6L0Rkscbz2WcmKCDIdOQ" {
		t.Errorf("Ukko digest = %s", got)
	}
}

// mdAll concatenates the arti microdescs the way GETINFO md/all does.
func mdAll(t *testing.T) []byte {
	var all []byte
	for _, nick := range artiMicrodescNicks {
		all = append(all, artiMicrodesc(t, nick)...)
	}
	return all
}

func TestParseMicrodescsConcatenated(t *testing.T) {
	kv := loadKeyVectors(t)
	all := mdAll(t)
	variants := map[string][]byte{
		"md/all":                   all,
		"control-port CRLF":        []byte("\r\n" + strings.ReplaceAll(string(all), "\n", "\r\n")),
		"final newline trimmed":    bytes.TrimSuffix(all, []byte("\n")),
		"annotated cache":          annotate(all),
		"leading blank lines (LF)": append([]byte("\n\n"), all...),
	}
	for name, text := range variants {
		t.Run(name, func(t *testing.T) {
			mds, err := ParseMicrodescs(text)
			if err != nil {
				t.Fatalf("ParseMicrodescs: %v", err)
			}
			if len(mds) != len(kv.SmallRing.Relays) {
				t.Fatalf("%d microdescs, want %d", len(mds), len(kv.SmallRing.Relays))
			}
			for i, want := range kv.SmallRing.Relays {
				if got := mds[i].DigestBase64(); got != want.MDDigest {
					t.Errorf("%s: digest %s, want %s", want.Nickname, got, want.MDDigest)
				}
			}
		})
	}
}

// annotate puts a cached-microdescs style annotation before each microdesc.
func annotate(all []byte) []byte {
	return bytes.ReplaceAll(all, []byte("onion-key\n"), []byte("@last-listed 2026-07-27 10:00:00\nonion-key\n"))
}

func TestAttachMicrodescs(t *testing.T) {
	kv := loadKeyVectors(t)
	c, err := ParseConsensus(readVector(t, artiConsensus))
	if err != nil {
		t.Fatal(err)
	}
	mds, err := ParseMicrodescs(mdAll(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := c.AttachMicrodescs(mds); n != 5 {
		t.Errorf("AttachMicrodescs matched %d relays, want 5", n)
	}
	for i, want := range kv.SmallRing.Relays {
		r := c.Relays[i]
		if !r.HasEd25519 || r.Ed25519 != hex32(t, want.Ed25519Hex) {
			t.Errorf("%s: ed25519 %x, want %s", r.Nickname, r.Ed25519, want.Ed25519Hex)
		}
	}

	// A fresh set without Ukko clears Ukko's identity.
	var withoutUkko []Microdesc
	for i, md := range mds {
		if kv.SmallRing.Relays[i].Nickname != "Ukko" {
			withoutUkko = append(withoutUkko, md)
		}
	}
	if n := c.AttachMicrodescs(withoutUkko); n != 4 {
		t.Errorf("AttachMicrodescs matched %d relays, want 4", n)
	}
	for _, r := range c.Relays {
		if r.HasEd25519 == (r.Nickname == "Ukko") {
			t.Errorf("%s: HasEd25519 = %v after attaching a set without Ukko", r.Nickname, r.HasEd25519)
		}
	}
}

func TestParseMicrodescsIDVariants(t *testing.T) {
	text := "onion-key\nntor-onion-key AAAA\nid rsa1024 AAAAAAAAAAAAAAAAAAAAAAAAAAA\nid ed25519 none\n" +
		"onion-key\nid ed25519 ZvqpuklQLcKavDEtXqanT2qZow3ShBA9bRjj3wODzrQ=\nfuture-line 1 2 3\n"
	mds, err := ParseMicrodescs([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(mds) != 2 {
		t.Fatalf("%d microdescs, want 2", len(mds))
	}
	if mds[0].HasEd25519 {
		t.Error("id ed25519 none must leave the identity unset")
	}
	if !mds[1].HasEd25519 || mds[1].Ed25519[0] != 0x66 || mds[1].Ed25519[31] != 0xb4 {
		t.Errorf("padded id: %x", mds[1].Ed25519)
	}
	if mds[0].Digest == mds[1].Digest {
		t.Error("distinct microdescs share a digest")
	}
}

func TestParseMicrodescsErrors(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		line    int
		keyword string
	}{
		{"junk before first", "ntor-onion-key AAAA\nonion-key\n", 1, "ntor-onion-key"},
		{"line after annotation", "onion-key\n@last-listed x\nid ed25519 none\n", 3, "id"},
		{"two ed25519 ids", "onion-key\nid ed25519 none\nid ed25519 none\n", 3, "id"},
		{"short id", "onion-key\nid ed25519\n", 2, "id"},
		{"bad id", "onion-key\nid ed25519 ZvqpuklQLcKav\n", 2, "id"},
		{"unterminated key", "onion-key\n-----BEGIN RSA PUBLIC KEY-----\nAAAA\n", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMicrodescs([]byte(tt.text))
			var pe *ParseError
			if !errors.Is(err, ErrMalformed) || !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError wrapping ErrMalformed", err)
			}
			if pe.Line != tt.line || pe.Keyword != tt.keyword {
				t.Errorf("error at line %d keyword %q, want line %d keyword %q: %v", pe.Line, pe.Keyword, tt.line, tt.keyword, err)
			}
		})
	}
	if mds, err := ParseMicrodescs(nil); err != nil || len(mds) != 0 {
		t.Errorf("empty input: %v, %d microdescs", err, len(mds))
	}
}
