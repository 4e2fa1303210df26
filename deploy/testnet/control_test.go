package testnet

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTorControl is a control port that accepts one cookie and answers
// GETINFO from a table; keys it does not know get 551.
type fakeTorControl struct {
	addr   string
	cookie string // path
	info   map[string]string
	conns  atomic.Int32 // connections accepted
}

func startFakeControl(t *testing.T, info map[string]string) *fakeTorControl {
	t.Helper()
	cookie := make([]byte, 32)
	for i := range cookie {
		cookie[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "control_auth_cookie")
	if err := os.WriteFile(path, cookie, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeTorControl{addr: ln.Addr().String(), cookie: path, info: info}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			go serveFakeControl(conn, hex.EncodeToString(cookie), info)
		}
	}()
	return f
}

func serveFakeControl(conn net.Conn, cookieHex string, info map[string]string) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	authed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch {
		case verb == "AUTHENTICATE" && arg == cookieHex:
			authed = true
			conn.Write([]byte("250 OK\r\n"))
		case verb == "AUTHENTICATE":
			conn.Write([]byte("515 Authentication failed: Wrong length on authentication cookie.\r\n"))
			return
		case !authed:
			conn.Write([]byte("514 Authentication required.\r\n"))
			return
		case verb == "GETINFO":
			v, ok := info[arg]
			switch {
			case !ok:
				conn.Write([]byte("551 Could not get " + arg + "\r\n"))
			case strings.Contains(v, "\n"):
				var b strings.Builder
				b.WriteString("250+" + arg + "=\r\n")
				for l := range strings.SplitSeq(v, "\n") {
					if strings.HasPrefix(l, ".") {
						l = "." + l // dot-stuffing
					}
					b.WriteString(l + "\r\n")
				}
				b.WriteString(".\r\n250 OK\r\n")
				conn.Write([]byte(b.String()))
			default:
				conn.Write([]byte("250-" + arg + "=" + v + "\r\n250 OK\r\n"))
			}
		case verb == "SETCONF" && strings.Contains(arg, "="):
			conn.Write([]byte("250 OK\r\n"))
		case verb == "SETCONF":
			conn.Write([]byte("552 Unrecognized option: Unknown option '" + arg + "'.  Failing.\r\n"))
		default:
			conn.Write([]byte("510 Unrecognized command\r\n"))
		}
	}
}

func TestControlGetInfo(t *testing.T) {
	f := startFakeControl(t, map[string]string{
		"version":          "0.4.9.11",
		"config-text":      "SocksPort 0\n.hidden line\nControlPort 1",
		"net/listeners/or": "",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialControl(ctx, f.addr, f.cookie)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.getInfo(ctx, "version"); err != nil || v != "0.4.9.11" {
		t.Errorf("version = %q, %v", v, err)
	}
	if v, err := c.getInfo(ctx, "config-text"); err != nil || v != "SocksPort 0\n.hidden line\nControlPort 1" {
		t.Errorf("config-text = %q, %v", v, err)
	}
	if v, err := c.getInfo(ctx, "net/listeners/or"); err != nil || v != "" {
		t.Errorf("empty value = %q, %v", v, err)
	}
	if _, err := c.getInfo(ctx, "no/such/key"); !errors.Is(err, ErrControl) {
		t.Errorf("unknown key: err = %v, want ErrControl", err)
	}
	// The connection stays usable after an error reply.
	if v, err := c.getInfo(ctx, "version"); err != nil || v != "0.4.9.11" {
		t.Errorf("version after error = %q, %v", v, err)
	}
}

func TestSetConf(t *testing.T) {
	f := startFakeControl(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := SetConf(ctx, f.addr, f.cookie, "DisableNetwork=1"); err != nil {
		t.Fatalf("SetConf DisableNetwork=1: %v", err)
	}
	err := SetConf(ctx, f.addr, f.cookie, "NoSuchOption")
	if !errors.Is(err, ErrControl) || !strings.Contains(err.Error(), "NoSuchOption") {
		t.Fatalf("SetConf of an unknown option: err = %v, want ErrControl naming the setting", err)
	}
}

func TestControlWrongCookie(t *testing.T) {
	f := startFakeControl(t, nil)
	wrong := filepath.Join(t.TempDir(), "cookie")
	if err := os.WriteFile(wrong, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := dialControl(ctx, f.addr, wrong)
	if !errors.Is(err, ErrControl) {
		t.Fatalf("err = %v, want ErrControl", err)
	}
	if strings.Contains(err.Error(), strings.Repeat("00", 32)) {
		t.Fatalf("error leaks the cookie: %v", err)
	}
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dialControl(ctx, f.addr, short); err == nil {
		t.Fatal("3-byte cookie accepted")
	}
}

func TestParseReplyLine(t *testing.T) {
	l, sep, err := parseReplyLine("250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100")
	if err != nil || l.Code != 250 || sep != '-' || l.Text != "status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100" {
		t.Errorf("got %+v %q %v", l, sep, err)
	}
	for _, bad := range []string{"", "250", "25x OK", "250*OK"} {
		if _, _, err := parseReplyLine(bad); err == nil {
			t.Errorf("parseReplyLine(%q) accepted", bad)
		}
	}
}
