package torvectors

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// recorder is a testing.TB that records how Dir ended instead of ending the test (only the
// methods Dir calls are implemented).
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(...any)           { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

func run(r *recorder) string {
	var dir string
	done := make(chan struct{})
	go func() { defer close(done); dir = Dir(r) }()
	<-done
	return dir
}

func TestMissingVectorsSkipLocallyAndFailUnderCI(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	t.Setenv(Env, missing)
	for _, c := range []struct {
		ci, e2e    string
		wantFailed bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
	} {
		t.Setenv("CI", c.ci)
		t.Setenv("OB_E2E", c.e2e)
		r := &recorder{}
		run(r)
		if r.failed != c.wantFailed || r.skipped == c.wantFailed {
			t.Errorf("CI=%q OB_E2E=%q: failed %v skipped %v, want failed %v", c.ci, c.e2e, r.failed, r.skipped, c.wantFailed)
		}
	}
}

func TestFindsVectorsBesideAParent(t *testing.T) {
	root := t.TempDir()
	want := filepath.Join(root, "shared", "tor-vectors")
	deep := filepath.Join(root, "repo", "publisher", "hsv3")
	for _, d := range []string{want, deep} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	noEnv := func(string) string { return "" }
	if got, err := find(noEnv, deep); err != nil || got != want {
		t.Errorf("find = %q, %v; want %q", got, err, want)
	}
	env := func(k string) string {
		if k == Env {
			return deep
		}
		return ""
	}
	if got, err := find(env, root); err != nil || got != deep {
		t.Errorf("find with %s = %q, %v; want %q", Env, got, err, deep)
	}
}
