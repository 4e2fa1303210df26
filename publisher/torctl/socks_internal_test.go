package torctl

import (
	"slices"
	"testing"
)

func TestSplitQuoted(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{``, nil},
		{`"127.0.0.1:9050"`, []string{"127.0.0.1:9050"}},
		{`"127.0.0.1:9999" "[::1]:41535" "unix:/run/a\"b"`, []string{"127.0.0.1:9999", "[::1]:41535", `unix:/run/a"b`}},
		{`127.0.0.1:1 "x y"`, []string{"127.0.0.1:1", "x y"}},
	} {
		got, err := splitQuoted(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := splitQuoted(`"127.0.0.1:1`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestPickProbeSocks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		conf      []string
		listeners []string
		want      string // "" = none
	}{
		{"socksport 0", []string{"0"}, nil, ""},
		{"default", nil, []string{"127.0.0.1:9050"}, ""},
		{"numbered", []string{"127.0.0.1:9050 ExtendedErrors"}, []string{"127.0.0.1:9050"}, "127.0.0.1:9050"},
		{"port only", []string{"9050 ExtendedErrors"}, []string{"127.0.0.1:9050"}, "127.0.0.1:9050"},
		{"localhost", []string{"localhost:9050 ExtendedErrors"}, []string{"127.0.0.1:9050"}, "127.0.0.1:9050"},
		{"ipv6", []string{"[::1]:9050 ExtendedErrors"}, []string{"[::1]:9050"}, "[::1]:9050"},
		{"not listening", []string{"127.0.0.1:9050 ExtendedErrors"}, nil, ""},
		{"no flag", []string{"127.0.0.1:9050"}, []string{"127.0.0.1:9050"}, ""},
		{"not loopback", []string{"0.0.0.0:9050 ExtendedErrors"}, []string{"0.0.0.0:9050"}, ""},
		{"no isolation", []string{"9050 ExtendedErrors NoIsolateSOCKSAuth"}, []string{"127.0.0.1:9050"}, ""},
		{"no onion", []string{"9050 ExtendedErrors NoOnionTraffic"}, []string{"127.0.0.1:9050"}, ""},
		{"ours", []string{"127.0.0.1:auto ExtendedErrors"}, []string{"127.0.0.1:41000"}, "127.0.0.1:41000"},
		{"ours after numbered", []string{"9050", "127.0.0.1:auto ExtendedErrors"},
			[]string{"127.0.0.1:9050", "127.0.0.1:41000"}, "127.0.0.1:41000"},
		{"ours after numbered, listed first", []string{"9050", "127.0.0.1:auto ExtendedErrors"},
			[]string{"127.0.0.1:41000", "127.0.0.1:9050"}, "127.0.0.1:41000"},
		{"auto only for unix", []string{"unix:/x ExtendedErrors", "auto ExtendedErrors"},
			[]string{"unix:/x", "127.0.0.1:41000"}, "127.0.0.1:41000"},
		// Two auto ports, one without ExtendedErrors: tor does not say which listener is which.
		{"ambiguous", []string{"auto", "127.0.0.1:auto ExtendedErrors"},
			[]string{"127.0.0.1:41000", "127.0.0.1:41001"}, ""},
		// An auto port on another address does not take this address's listener.
		{"auto elsewhere", []string{"[::1]:auto", "127.0.0.1:auto ExtendedErrors"},
			[]string{"[::1]:41000", "127.0.0.1:41001"}, "127.0.0.1:41001"},
	} {
		got, ok := pickProbeSocks(tc.conf, tc.listeners)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
}
