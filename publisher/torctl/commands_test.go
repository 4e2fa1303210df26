package torctl

import (
	"testing"

	"github.com/cretz/bine/control"
)

func TestParseBootstrap(t *testing.T) {
	got, err := parseBootstrap(`NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn_done SUMMARY="Connected to a relay to build circuits"`)
	if err != nil {
		t.Fatal(err)
	}
	if got.Progress != 85 || got.Tag != "ap_conn_done" || got.Summary != "Connected to a relay to build circuits" {
		t.Errorf("parseBootstrap = %+v", got)
	}
	got, err = parseBootstrap(`WARN BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting" WARNING="Network is \"unreachable\"" REASON=NOROUTE`)
	if err != nil || got.Warning != `Network is "unreachable"` || got.Progress != 0 {
		t.Errorf("parseBootstrap with warning = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "NOTICE BOOTSTRAP TAG=done", "NOTICE BOOTSTRAP PROGRESS=101", "PROGRESS=x"} {
		if _, err := parseBootstrap(bad); err == nil {
			t.Errorf("parseBootstrap(%q) succeeded", bad)
		}
	}
}

func FuzzParseKeywords(f *testing.F) {
	f.Add(`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`)
	f.Add(`A="unterminated \`)
	f.Add(`=x "" == a=b=c`)
	f.Fuzz(func(t *testing.T, s string) {
		parseKeywords(s) // must terminate without panicking
	})
}

func TestInfoValue(t *testing.T) {
	resp := &control.Response{Data: []string{
		"version=0.4.9.11",
		"md/all=\r\nonion-key\nntor-onion-key x",
		"empty=\r\n",
	}}
	tests := map[string]string{
		"version": "0.4.9.11",
		"md/all":  "onion-key\nntor-onion-key x\n",
		"empty":   "",
	}
	for key, want := range tests {
		got, err := infoValue(resp, key)
		if err != nil || got != want {
			t.Errorf("infoValue(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	if _, err := infoValue(resp, "missing"); err == nil {
		t.Error("infoValue of a missing key succeeded")
	}
	if !isInfoKey("dir/status-vote/current/consensus-microdesc") || isInfoKey("a b") || isInfoKey("a\r\nQUIT") {
		t.Error("isInfoKey accepts or rejects the wrong keys")
	}
}
