package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/obhost/config"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := runCLI(t, args...)
		if code != 0 || !strings.HasPrefix(out, "onionbalance ") {
			t.Errorf("%v: code %d, out %q", args, code, out)
		}
	}
	code, out, _ := runCLI(t, "--help")
	if code != 0 || !strings.Contains(out, "Commands:") || !strings.Contains(out, "run the balancer daemon") {
		t.Errorf("--help: code %d, out %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCLI(t, "frobnicate")
	if code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestDaemonMissingConfigNamesFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	code, _, errOut := runCLI(t, "-c", missing)
	if code != exitError || !strings.Contains(errOut, missing) {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestDaemonBadConfigNamesKeyAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("services:\n  - key: k\n    instancez: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "--config", path)
	if code != exitError || !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, `"instancez"`) {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestDaemonRejectsV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("services: [{key: k, instances: [{address: a}]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "-c", path, "--hs-version", "v2")
	if code != exitUsage || !strings.Contains(errOut, "only v3") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestLogLevelPrecedence(t *testing.T) {
	for _, tc := range []struct {
		flag, env, file, want string
	}{
		{"", "", "warn", "warn"},
		{"", "debug", "warn", "debug"},
		{"error", "debug", "warn", "error"},
	} {
		f := daemonFlags{verbosity: tc.flag, hsVersion: "v3", getenv: func(k string) string {
			if k == "ONIONBALANCE_LOG_LEVEL" {
				return tc.env
			}
			return ""
		}}
		c := config.Default()
		c.Log.Level = tc.file
		if err := f.apply(c, map[string]bool{}); err != nil {
			t.Fatal(err)
		}
		if c.Log.Level != tc.want {
			t.Errorf("flag %q env %q file %q: level %q, want %q", tc.flag, tc.env, tc.file, c.Log.Level, tc.want)
		}
	}
}
