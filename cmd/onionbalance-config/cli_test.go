package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestVersionAndHelp(t *testing.T) {
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if code := run(context.Background(), []string{"--version"}, e); code != 0 || !strings.HasPrefix(out.String(), "onionbalance-config ") {
		t.Errorf("--version: code %d, out %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"--help"}, e); code != 0 || !strings.Contains(out.String(), "Usage: onionbalance-config") {
		t.Errorf("--help: code %d, out %q", code, out.String())
	}
}
