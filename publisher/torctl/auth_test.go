package torctl

import (
	"errors"
	"strings"
	"testing"
)

func TestChooseAuth(t *testing.T) {
	withPw := Config{Auth: AuthAuto, Password: "pw"}
	auto := Config{Auth: AuthAuto}
	tests := []struct {
		name    string
		cfg     Config
		offered []string
		want    AuthMethod
	}{
		{"auto null", auto, []string{"NULL"}, AuthNone},
		{"auto cookie", auto, []string{"COOKIE", "SAFECOOKIE"}, AuthCookie},
		{"auto plain cookie", auto, []string{"COOKIE"}, AuthCookie},
		{"auto password preferred when configured", withPw, []string{"COOKIE", "SAFECOOKIE", "HASHEDPASSWORD"}, AuthPassword},
		{"auto password configured but tor open", withPw, []string{"NULL"}, AuthNone},
		{"explicit cookie", Config{Auth: AuthCookie}, []string{"SAFECOOKIE", "HASHEDPASSWORD"}, AuthCookie},
		{"explicit password", Config{Auth: AuthPassword, Password: "x"}, []string{"HASHEDPASSWORD"}, AuthPassword},
	}
	for _, tt := range tests {
		got, err := chooseAuth(tt.cfg, tt.offered)
		if err != nil || got != tt.want {
			t.Errorf("%s: chooseAuth = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	fails := []struct {
		name    string
		cfg     Config
		offered []string
	}{
		{"auto needs a password", auto, []string{"HASHEDPASSWORD"}},
		{"nothing usable", auto, []string{"KERBEROS"}},
		{"cookie not offered", Config{Auth: AuthCookie}, []string{"HASHEDPASSWORD"}},
	}
	for _, tt := range fails {
		if _, err := chooseAuth(tt.cfg, tt.offered); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: error = %v, want ErrAuth", tt.name, err)
		}
	}
}

func TestParseAuthChallenge(t *testing.T) {
	h, n := strings.Repeat("AB", 32), strings.Repeat("0c", 32)
	hash, nonce, err := parseAuthChallenge("AUTHCHALLENGE SERVERHASH=" + h + " SERVERNONCE=" + n)
	if err != nil {
		t.Fatal(err)
	}
	if hash[0] != 0xab || nonce[31] != 0x0c || len(hash) != 32 || len(nonce) != 32 {
		t.Errorf("parseAuthChallenge = %x, %x", hash, nonce)
	}
	for _, bad := range []string{
		"AUTHCHALLENGE SERVERHASH=" + h,
		"AUTHCHALLENGE SERVERHASH=" + h[:62] + " SERVERNONCE=" + n,
		"AUTHCHALLENGE SERVERHASH=" + h + " SERVERHASH=" + n,
		"OTHER SERVERHASH=" + h + " SERVERNONCE=" + n,
	} {
		if _, _, err := parseAuthChallenge(bad); !errors.Is(err, ErrAuth) {
			t.Errorf("parseAuthChallenge(%q) error = %v, want ErrAuth", bad, err)
		}
	}
}
