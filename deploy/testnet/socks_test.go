package testnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSOCKS is a SOCKS5 proxy (username/password auth, domain-name CONNECT)
// that answers the tunnelled HTTP request itself with "host path". The first
// failFirst connections are dropped after the handshake.
type fakeSOCKS struct {
	addr string

	mu        sync.Mutex
	users     []string
	hosts     []string
	failFirst int
}

func startFakeSOCKS(t *testing.T, failFirst int) *fakeSOCKS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeSOCKS{addr: ln.Addr().String(), failFirst: failFirst}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn)
		}
	}()
	return f
}

func (f *fakeSOCKS) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	user, host, port, err := socksHandshake(r, conn)
	if err != nil {
		return
	}
	f.mu.Lock()
	f.users = append(f.users, user)
	f.hosts = append(f.hosts, host)
	drop := f.failFirst > 0
	f.failFirst--
	f.mu.Unlock()
	if drop {
		return
	}
	req, err := http.ReadRequest(r)
	if err != nil {
		return
	}
	status := http.StatusOK
	if req.URL.Path == "/missing" {
		status = http.StatusNotFound
	}
	body := fmt.Sprintf("%s:%d %s", host, port, req.URL.Path)
	fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// socksHandshake does the server side of RFC 1928/1929 and returns the
// username and the requested domain name and port.
func socksHandshake(r *bufio.Reader, w io.Writer) (user, host string, port int, err error) {
	hdr := make([]byte, 2)
	if _, err = io.ReadFull(r, hdr); err != nil || hdr[0] != 5 {
		return "", "", 0, errors.New("bad greeting")
	}
	methods := make([]byte, hdr[1])
	if _, err = io.ReadFull(r, methods); err != nil {
		return
	}
	w.Write([]byte{5, 2}) // username/password
	readField := func() (string, error) {
		n, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return string(b), err
	}
	if v, err := r.ReadByte(); err != nil || v != 1 {
		return "", "", 0, errors.New("bad auth version")
	}
	if user, err = readField(); err != nil {
		return
	}
	if _, err = readField(); err != nil {
		return
	}
	w.Write([]byte{1, 0})
	req := make([]byte, 4)
	if _, err = io.ReadFull(r, req); err != nil || req[1] != 1 || req[3] != 3 {
		return "", "", 0, errors.New("want CONNECT to a domain name")
	}
	if host, err = readField(); err != nil {
		return
	}
	p := make([]byte, 2)
	if _, err = io.ReadFull(r, p); err != nil {
		return
	}
	w.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	return user, host, int(binary.BigEndian.Uint16(p)), nil
}

const testOnion = "sltib6sxkuxh2scmtuvd5w2g7pahnzkovefxpo4e4ptnkzl5kkq5h2ad.onion"

func TestGetThroughSOCKSFreshCredentials(t *testing.T) {
	f := startFakeSOCKS(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		body, err := Get(ctx, f.addr, "http://"+testOnion+"/")
		if err != nil {
			t.Fatal(err)
		}
		if want := testOnion + ":80 /"; body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.users) != 2 || f.users[0] == "" || f.users[0] == f.users[1] {
		t.Fatalf("SOCKS usernames %q: want two different non-empty ones", f.users)
	}
	if f.hosts[0] != testOnion {
		t.Fatalf("proxy asked for %q, want the onion name unresolved", f.hosts[0])
	}
}

func TestGetStatusError(t *testing.T) {
	f := startFakeSOCKS(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Get(ctx, f.addr, "http://"+testOnion+"/missing"); !errors.Is(err, ErrHTTPStatus) {
		t.Fatalf("err = %v, want ErrHTTPStatus", err)
	}
}

func TestGetRetryRecovers(t *testing.T) {
	f := startFakeSOCKS(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	body, err := GetRetry(ctx, f.addr, "http://"+testOnion+"/", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body, testOnion) {
		t.Fatalf("body %q", body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.users) != 2 {
		t.Fatalf("%d attempts, want 2", len(f.users))
	}
}

func TestGetRetryGivesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every attempt fails
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := GetRetry(ctx, addr, "http://"+testOnion+"/", time.Second); err == nil || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("err = %v, want a give-up error", err)
	}
}
