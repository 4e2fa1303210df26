package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
)

// syncBuffer is a bytes.Buffer safe for the daemon's log writer and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// singleHost is a daemon started as README.md's quick start does (`onionbalance -c config.yaml`, no
// etcd configured), next to a fake tor.
type singleHost struct {
	dir, dataDir, config string
	tor                  *torctltest.Server
	log                  *syncBuffer
	stop                 func() int
}

// writeSingleHostConfig writes a config with one service and two backends, the embedded etcd under
// dataDir and the tor control port of tor.
func writeSingleHostConfig(t *testing.T, dir, dataDir string, tor *torctltest.Server) string {
	t.Helper()
	master, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "master.key"), master.MarshalTorSecretKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`services:
  - key: master.key
    instances:
      - {address: %s.onion, name: b1}
      - {address: %s.onion, name: b2}
data-dir: %s
tor: {control: %q}
cluster: {node-name: obhost1}
log: {level: info}
`, obhosttest.OnionAddress(t), obhosttest.OnionAddress(t), dataDir, tor.Addr())
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startSingleHost runs the daemon until stop is called or the test ends, and waits until its embedded
// etcd serves (the endpoints file the operator commands read exists).
func startSingleHost(t *testing.T, dataDirMode os.FileMode) *singleHost {
	t.Helper()
	tor := torctltest.Start(t, torctltest.Options{})
	h := &singleHost{dir: t.TempDir(), tor: tor, log: &syncBuffer{}}
	h.dataDir = filepath.Join(h.dir, "data")
	if dataDirMode != 0 {
		if err := os.Mkdir(h.dataDir, dataDirMode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(h.dataDir, dataDirMode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	h.config = writeSingleHostConfig(t, h.dir, h.dataDir, tor)
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-c", h.config}, env{stdout: h.log, stderr: h.log, getenv: obhosttest.NoEnv})
	}()
	var once sync.Once
	result := -1
	h.stop = func() int {
		once.Do(func() { cancel(); result = <-code })
		return result
	}
	t.Cleanup(func() { h.stop() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(h.dataDir, obhost.EndpointsFile)); err == nil {
			return h
		}
		select {
		case c := <-code:
			t.Fatalf("daemon exited with %d:\n%s", c, h.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30s; log:\n%s", obhost.EndpointsFile, h.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSingleHostEtcdRefusesUnauthenticatedTCP is issue 14's check: a single host started as in
// README.md has no TCP port that takes an etcd write without credentials, and its data dir is 0700
// even where it existed with looser permissions; the operator commands still reach its etcd.
func TestSingleHostEtcdRefusesUnauthenticatedTCP(t *testing.T) {
	h := startSingleHost(t, 0o755)

	ports := tcpListeners(t)
	// The fake tor's control port is one of them: the listing does find this process's listeners.
	if torAddr := strings.TrimPrefix(h.tor.Addr(), "tcp:"); !slices.Contains(ports, torAddr) {
		t.Fatalf("TCP listeners %v lack the fake tor's %s", ports, torAddr)
	}
	for _, addr := range ports {
		if err := tryEtcdPut(addr); err == nil {
			t.Errorf("an etcd Put without credentials through tcp %s succeeded", addr)
		} else {
			t.Logf("tcp %s: no etcd write: %v", addr, err)
		}
	}
	for _, d := range []string{h.dataDir, filepath.Join(h.dataDir, "etcd")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %04o, want 0700", d, fi.Mode().Perm())
		}
	}
	if !strings.Contains(h.log.String(), h.dataDir) || !strings.Contains(h.log.String(), "0755") {
		t.Errorf("the tightened data dir is not logged with its path and old mode:\n%s", h.log)
	}

	code, out, errOut := runCLIEnv(t, obhosttest.NoEnv, "status", "--json", "-c", h.config)
	if code != exitOK || !strings.Contains(out, "obhost1") {
		t.Errorf("status through the data dir's endpoints: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code := h.stop(); code != exitOK {
		t.Errorf("daemon exit code %d; log:\n%s", code, h.log)
	}
}

// tryEtcdPut writes a key through addr as an etcd client without credentials would.
func tryEtcdPut(addr string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + addr}, DialTimeout: 2 * time.Second,
		Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, "/onionbalance/election/intruder", "intruder")
	return err
}

// tcpListeners returns the local addresses of the TCP sockets this process listens on, from the socket
// inodes of /proc/self/fd and the LISTEN entries of /proc/self/net/tcp and tcp6.
func tcpListeners(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			addr, err := procNetAddr(fields[1])
			if err != nil {
				t.Fatalf("%s: %q: %v", table, fields[1], err)
			}
			out = append(out, addr)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// procNetAddr decodes /proc/net/tcp's "0100007F:1F90" (the IP in host byte order, 4-byte words) into
// "127.0.0.1:8080"; an unspecified address becomes loopback, which is where a local attacker connects.
func procNetAddr(s string) (string, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("no port")
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", fmt.Errorf("bad address %q", h)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return "", err
	}
	ip := net.IP(raw)
	if ip.IsUnspecified() {
		if len(raw) == 4 {
			ip = net.IPv4(127, 0, 0, 1)
		} else {
			ip = net.IPv6loopback
		}
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10)), nil
}

// A normal start and stop of a single host logs nothing from etcd at INFO or above but the line that
// says where the embedded etcd runs.
func TestSingleHostQuietEtcdLogs(t *testing.T) {
	h := startSingleHost(t, 0)
	if code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "status", "-c", h.config); code != exitOK {
		t.Fatalf("status: %q", errOut)
	}
	if code := h.stop(); code != exitOK {
		t.Fatalf("daemon exit code %d", code)
	}
	for line := range strings.Lines(h.log.String()) {
		if strings.Contains(line, "onionbalance.etcd:") && !strings.Contains(line, "embedded etcd started") {
			t.Errorf("etcd noise: %s", strings.TrimSpace(line))
		}
	}
}
