package store_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/store"
)

func startDefaultEmbedded(t *testing.T, dir string, log hclog.Logger) (*store.Embedded, error) {
	t.Helper()
	cfg := store.DefaultEmbedConfig(dir)
	cfg.UnsafeNoFsync = true
	cfg.Logger = log
	e, err := store.StartEmbedded(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { e.Close() })
	}
	return e, err
}

func putThrough(t *testing.T, endpoints []string) error {
	t.Helper()
	cli, err := store.Connect(context.Background(), clientConfig(endpoints), nil)
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.Put(context.Background(), "/k", "v")
	return err
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The defaults keep the embedded etcd out of other local users' reach: unix sockets only, in a data
// directory of mode 0700 (tightened, with a warning, when it existed with looser permissions).
func TestEmbeddedDefaultsPrivateSockets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	e, err := startDefaultEmbedded(t, dir, hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}))
	if err != nil {
		t.Fatal(err)
	}
	want := "unix://" + filepath.Join(dir, store.ClientSocket)
	if eps := e.Endpoints(); len(eps) != 1 || eps[0] != want {
		t.Fatalf("endpoints %v, want [%s]", eps, want)
	}
	if err := putThrough(t, e.Endpoints()); err != nil {
		t.Fatalf("put through %v: %v", e.Endpoints(), err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "etcd")} {
		if m := mode(t, d); m != 0o700 {
			t.Errorf("%s: mode %04o, want 0700", d, m)
		}
	}
	for _, s := range []string{store.ClientSocket, store.PeerSocket} {
		p := filepath.Join(dir, s)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a socket of mode 0600", p, fi.Mode())
		}
	}
	if !strings.Contains(logs.String(), "[WARN]") || !strings.Contains(logs.String(), dir) ||
		!strings.Contains(logs.String(), "old_mode=0755") {
		t.Errorf("no warning naming the tightened %s:\n%s", dir, logs.String())
	}
}

// A second server on the same data directory is refused before it touches the sockets of the first,
// which keeps serving.
func TestEmbeddedRefusesSocketInUse(t *testing.T) {
	dir := t.TempDir()
	first, err := startDefaultEmbedded(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = startDefaultEmbedded(t, dir, nil)
	sock := filepath.Join(dir, store.ClientSocket)
	if !errors.Is(err, store.ErrSocketInUse) || !strings.Contains(err.Error(), sock) {
		t.Fatalf("second server on %s: %v, want ErrSocketInUse naming %s", dir, err, sock)
	}
	if err := putThrough(t, first.Endpoints()); err != nil {
		t.Fatalf("the first server after the refused second: %v", err)
	}
}

// A socket left behind by a process that died does not stop a restart.
func TestEmbeddedReplacesStaleSocket(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []string{store.ClientSocket, store.PeerSocket} {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, s), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
	}
	e, err := startDefaultEmbedded(t, dir, nil)
	if err != nil {
		t.Fatalf("start over stale sockets: %v", err)
	}
	if err := putThrough(t, e.Endpoints()); err != nil {
		t.Fatal(err)
	}
}

func TestEmbedConfigUnixSocketPaths(t *testing.T) {
	long := "/" + strings.Repeat("d", 100)
	err := store.DefaultEmbedConfig(long).Validate()
	if err == nil || !strings.Contains(err.Error(), "data-dir") || !strings.Contains(err.Error(), long) {
		t.Errorf("data-dir of %d bytes: %v, want an error naming it and data-dir", len(long), err)
	}
	c := store.DefaultEmbedConfig("/tmp/x")
	c.ClientURL = "unix://relative/etcd.sock"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "not absolute") {
		t.Errorf("relative socket path: %v", err)
	}
}

// A data directory written by a version that listened on loopback TCP restarts on the sockets with its
// data.
func TestEmbeddedTCPDataDirRestartsOnSockets(t *testing.T) {
	dir := t.TempDir()
	cfg := store.DefaultEmbedConfig(dir)
	cfg.ClientURL, cfg.PeerURL = "http://127.0.0.1:0", "http://127.0.0.1:0"
	cfg.UnsafeNoFsync = true
	old, err := store.StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := putThrough(t, old.Endpoints()); err != nil {
		t.Fatal(err)
	}
	old.Close()
	e, err := startDefaultEmbedded(t, dir, nil)
	if err != nil {
		t.Fatalf("restart on sockets: %v", err)
	}
	cli, err := store.Connect(context.Background(), clientConfig(e.Endpoints()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	r, err := cli.Get(context.Background(), "/k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("data after the restart: %v, %v", r, err)
	}
}
