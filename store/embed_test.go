package store_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

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

// The in-process client sees the same server as a client on the socket: writes, watches and
// leases, with etcd's errors as the socket gives them. It does not need the socket at all.
func TestEmbeddedInProcessClient(t *testing.T) {
	e, err := startDefaultEmbedded(t, filepath.Join(t.TempDir(), "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := e.Client()
	defer in.Close()
	sock, err := store.Connect(context.Background(), clientConfig(e.Endpoints()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	wch := in.Watch(ctx, "/w/", clientv3.WithPrefix())
	if _, err := sock.Put(ctx, "/w/a", "from the socket"); err != nil {
		t.Fatal(err)
	}
	select {
	case wr := <-wch:
		if err := wr.Err(); err != nil || len(wr.Events) != 1 || string(wr.Events[0].Kv.Value) != "from the socket" {
			t.Fatalf("watch through the in-process client: %+v, %v", wr.Events, err)
		}
	case <-ctx.Done():
		t.Fatal("no watch event through the in-process client")
	}

	g, err := in.Grant(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Put(ctx, "/k", "in-process", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	got, err := sock.Get(ctx, "/k")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "in-process" || got.Kvs[0].Lease != int64(g.ID) {
		t.Fatalf("the socket's view of an in-process write: %+v, %v", got.Kvs, err)
	}
	if _, err := in.KeepAliveOnce(ctx, g.ID); err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	if _, err := sock.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := in.KeepAliveOnce(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("keepalive of a revoked lease: %v, want ErrLeaseNotFound", err)
	}

	// Without the socket, only the in-process client still reaches the server.
	if err := os.Remove(strings.TrimPrefix(e.Endpoints()[0], "unix://")); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Put(ctx, "/after", "1"); err != nil {
		t.Fatalf("in-process put without the socket: %v", err)
	}
	cc := clientConfig(e.Endpoints())
	cc.DialTimeout = time.Second
	if _, err := store.Connect(ctx, cc, nil); err == nil {
		t.Fatal("a client on the removed socket connected")
	}
}
