package torctl

import (
	"errors"
	"strings"
	"testing"
)

// testAddr is a syntactically valid v3 address (the fake does not check its checksum).
const testAddr = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd"

const (
	fpA = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	fpB = "0123456789ABCDEF0123456789ABCDEF01234567"
)

func TestDotEncode(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"LF lines", "a\nb\n", "a\r\nb\r\n"},
		{"no final newline", "a\nb", "a\r\nb\r\n"},
		{"CRLF input", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"leading dots doubled", ".a\n..b\n.\nc.\n", "..a\r\n...b\r\n..\r\nc.\r\n"},
		{"blank line kept", "a\n\nb\n", "a\r\n\r\nb\r\n"},
		{"percent kept verbatim", "x %s %d %!\n", "x %s %d %!\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dotEncode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("dotEncode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "a\x00b\n"} {
		if _, err := dotEncode([]byte(bad)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("dotEncode(%q) error = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestHSPostCommand(t *testing.T) {
	desc := "hs-descriptor 3\n.dotted\nsignature x\n"
	got, err := hsPostCommand([]byte(desc), strings.ToUpper(testAddr), []string{fpA, "$" + strings.ToLower(fpB) + "~nick"})
	if err != nil {
		t.Fatal(err)
	}
	want := "+HSPOST SERVER=" + fpA + " SERVER=" + fpB + " HSADDRESS=" + testAddr + "\r\n" +
		"hs-descriptor 3\r\n..dotted\r\nsignature x\r\n."
	if got != want {
		t.Errorf("hsPostCommand =\n%q\nwant\n%q", got, want)
	}

	bad := []struct {
		name    string
		addr    string
		servers []string
	}{
		{"no servers", testAddr, nil},
		{"onion suffix", testAddr + ".onion", []string{fpA}},
		{"short fingerprint", testAddr, []string{"ABCD"}},
		{"injection in fingerprint", testAddr, []string{fpA[:39] + " "}},
		{"injection in address", testAddr[:55] + "\n", []string{fpA}},
	}
	for _, tt := range bad {
		if _, err := hsPostCommand([]byte(desc), tt.addr, tt.servers); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", tt.name, err)
		}
	}
}

func TestHSFetchCommand(t *testing.T) {
	got, err := hsFetchCommand(testAddr, []string{fpA, "$" + fpB + "=old"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "HSFETCH " + testAddr + " SERVER=" + fpA + " SERVER=" + fpB; got != want {
		t.Errorf("hsFetchCommand = %q, want %q", got, want)
	}
	got, err = hsFetchCommand(testAddr, nil)
	if err != nil || got != "HSFETCH "+testAddr {
		t.Errorf("hsFetchCommand without servers = %q, %v", got, err)
	}
	if _, err := hsFetchCommand("1"+testAddr[1:], nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("non-base32 address: error = %v, want ErrInvalidArgument", err)
	}
}

// BenchmarkHSPostCommand encodes a descriptor of tor's typical size (about 50 kB with padding).
func BenchmarkHSPostCommand(b *testing.B) {
	line := strings.Repeat("A", 63) + "\n"
	desc := []byte("hs-descriptor 3\n" + strings.Repeat(line, 800))
	servers := []string{fpA, fpB}
	b.SetBytes(int64(len(desc)))
	for b.Loop() {
		if _, err := hsPostCommand(desc, testAddr, servers); err != nil {
			b.Fatal(err)
		}
	}
}
