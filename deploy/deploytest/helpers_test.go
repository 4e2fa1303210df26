package deploytest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// repoRoot returns the folder holding go.mod, found by walking up from the package folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package folder")
		}
		dir = parent
	}
}

// repoFile returns the path of rel (slash-separated) in the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), filepath.FromSlash(rel))
}

// readRepoFile returns the content of rel in the repository.
func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lookTool returns the path of the first of names found in PATH, or skips the test.
func lookTool(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skipf("%v not installed (Debian: see deploy/install-deps.sh)", names)
	return ""
}

// result is the outcome of one command.
type result struct {
	stdout, stderr string
	err            error
}

// runTool runs name with args in dir, bounded by timeout.
func runTool(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: no result within %v", name, args, timeout)
	}
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

// binaries builds cmd/onionbalance and cmd/onionbalance-config once per test run.
var binaries struct {
	once sync.Once
	dir  string
	err  error
	out  string
}

// buildBinaries returns the folder holding the onionbalance and onionbalance-config binaries.
func buildBinaries(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "deploytest-bin-")
		if binaries.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binaries.dir+string(os.PathSeparator),
			"./cmd/onionbalance", "./cmd/onionbalance-config")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		binaries.err, binaries.out = err, string(out)
	})
	if binaries.err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", binaries.err, binaries.out)
	}
	return binaries.dir
}

func TestMain(m *testing.M) {
	if role := os.Getenv(fakeRoleEnv); role != "" {
		os.Exit(runFake(role))
	}
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}
