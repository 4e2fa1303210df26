package obhost

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

func startStatusSocket(t *testing.T, path string) (*Daemon, error) {
	t.Helper()
	key, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := publisher.DefaultConfig()
	pcfg.Services = []publisher.ServiceConfig{{Key: key, IntroPointsPerBackend: 2,
		Backends: []publisher.BackendConfig{{Address: obhosttest.OnionAddress(t), Name: "b1"}}}}
	m, err := publisher.New(pcfg, fakeTor{}, emptyState{}, follower{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{log: hclog.NewNullLogger(), cancel: cancel, failed: make(chan error, 1)}
	t.Cleanup(d.Stop)
	return d, serveStatus(ctx, d, path, m, hclog.NewNullLogger())
}

func readStatus(t *testing.T, path string) string {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("status socket %s: %v", path, err)
	}
	defer conn.Close()
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A second daemon with the same status socket refuses to start, naming it, and the first keeps it.
func TestStatusSocketInUseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	if _, err := startStatusSocket(t, path); err != nil {
		t.Fatal(err)
	}
	_, err := startStatusSocket(t, path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "status-socket-location") {
		t.Fatalf("second status socket on %s: %v, want an error naming it", path, err)
	}
	if got := readStatus(t, path); !strings.Contains(got, "services") {
		t.Errorf("the first daemon's status socket answers %q", got)
	}
}

// A socket file left by a daemon that died is replaced; a file that is not a socket is never removed.
func TestStatusSocketStaleReplacedOtherFileKept(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := startStatusSocket(t, stale); err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	if got := readStatus(t, stale); !strings.Contains(got, "services") {
		t.Errorf("status socket answers %q", got)
	}

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := startStatusSocket(t, file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("over a regular file: %v, want an error naming it", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Errorf("the regular file was touched: %q, %v", b, err)
	}
}
