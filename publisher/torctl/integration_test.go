package torctl_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha3"
	"encoding/base32"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/torctl"
)

// realTor is a tor process with networking disabled, for exercising the control port only.
type realTor struct {
	t       *testing.T
	dir     string
	torrc   string
	control string // "127.0.0.1:PORT" once started
	cmd     *exec.Cmd
	exited  chan struct{}
}

// startRealTor starts tor with the given extra torrc lines and a control port on 127.0.0.1
// (chosen by tor unless port is set). It skips the test when there is no tor binary and stops tor
// when the test ends, whatever happens.
func startRealTor(t *testing.T, extra ...string) *realTor {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real tor; skipped with -short")
	}
	if _, err := exec.LookPath("tor"); err != nil {
		t.Skip("no tor binary in PATH")
	}
	r := &realTor{t: t, dir: t.TempDir()}
	socks := "SocksPort 0" // unless extra has SocksPort lines (tor refuses 0 with other ports)
	for _, l := range extra {
		if strings.HasPrefix(l, "SocksPort ") {
			socks = "# SocksPort in the lines below"
		}
	}
	r.torrc = strings.Join(append([]string{
		"DataDirectory " + filepath.Join(r.dir, "data"),
		socks,
		"DisableNetwork 1",
		"AvoidDiskWrites 1",
		"Log notice file " + filepath.Join(r.dir, "tor.log"),
		"ControlPortWriteToFile " + filepath.Join(r.dir, "control-port"),
	}, extra...), "\n") + "\n"
	t.Cleanup(r.stop)
	r.start("auto")
	return r
}

// start launches tor with ControlPort port ("auto" or a number) and waits for the control port.
func (r *realTor) start(port string) {
	t := r.t
	t.Helper()
	portFile := filepath.Join(r.dir, "control-port")
	os.Remove(portFile)
	torrc := filepath.Join(r.dir, "torrc")
	if port != "auto" {
		port = "127.0.0.1:" + port
	}
	if err := os.WriteFile(torrc, []byte(r.torrc+"ControlPort "+port+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command("tor", "-f", torrc)
	var out bytes.Buffer
	r.cmd.Stdout, r.cmd.Stderr = &out, &out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start tor: %v", err)
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(r.cmd, r.exited)

	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(portFile)
		if err == nil && strings.HasPrefix(string(b), "PORT=") && strings.HasSuffix(string(b), "\n") {
			r.control = strings.TrimSpace(strings.TrimPrefix(string(b), "PORT="))
			return
		}
		select {
		case <-r.exited:
			log, _ := os.ReadFile(filepath.Join(r.dir, "tor.log"))
			t.Fatalf("tor exited before opening its control port:\n%s\n%s", out.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tor did not write %s within 60s", portFile)
		}
	}
}

// kill stops tor with SIGKILL, as a crash would, and waits for it to exit.
func (r *realTor) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Kill()
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		r.t.Errorf("tor pid %d did not exit after SIGKILL", r.cmd.Process.Pid)
	}
}

func (r *realTor) stop() { r.kill() }

// v3Address derives a valid onion address (with checksum) from a fresh key.
func v3Address(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{3})
	sum := h.Sum(nil)
	raw := append(append(append([]byte{}, pub...), sum[:2]...), 3)
	return strings.ToLower(base32.StdEncoding.EncodeToString(raw))
}

func realConfig(address string) torctl.Config {
	cfg := torctl.DefaultConfig()
	cfg.Address = address
	cfg.ReconnectMin = 50 * time.Millisecond
	cfg.ReconnectMax = 500 * time.Millisecond
	cfg.RequestTimeout = 15 * time.Second
	return cfg
}

func TestRealTorCookie(t *testing.T) {
	tor := startRealTor(t, "CookieAuthentication 1")
	cfg := realConfig("tcp:" + tor.control)
	cfg.Auth = torctl.AuthCookie
	c := start(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := c.GetInfo(ctx, "version")
	if err != nil || !strings.HasPrefix(v, "0.") {
		t.Fatalf("GetInfo(version) = %q, %v", v, err)
	}
	if b, err := c.BootstrapPhase(ctx); err != nil || b.Progress < 0 || b.Progress > 100 {
		t.Errorf("BootstrapPhase = %+v, %v", b, err)
	}
	if err := c.Signal(ctx, "ACTIVE"); err != nil {
		t.Errorf("SIGNAL ACTIVE: %v", err)
	}

	onion := v3Address(t)
	desc := []byte("hs-descriptor 3\ndescriptor-lifetime 180\n.not really\n")
	err = c.PostDescriptor(ctx, desc, onion, []string{fpA})
	var re *torctl.ReplyError
	if !errors.Is(err, torctl.ErrUnknownServer) || !errors.As(err, &re) || re.Code != 552 {
		t.Errorf("HSPOST to an unknown HSDir: error = %v, want a 552 ErrUnknownServer", err)
	} else {
		t.Logf("HSPOST: %v", err)
	}
	err = c.FetchDescriptor(ctx, onion, []string{fpB})
	if !errors.Is(err, torctl.ErrUnknownServer) {
		t.Errorf("HSFETCH from an unknown HSDir: error = %v, want ErrUnknownServer", err)
	} else {
		t.Logf("HSFETCH: %v", err)
	}
	badSum := onion[:50] + map[bool]string{true: "bbbbbb", false: "aaaaaa"}[onion[50:] == "aaaaaa"]
	if err := c.FetchDescriptor(ctx, badSum, nil); !errors.As(err, &re) || re.Code/100 != 5 {
		t.Errorf("HSFETCH of an address with a bad checksum: error = %v, want a 5xx reply", err)
	}
	if _, err := c.Consensus(ctx); err == nil {
		t.Error("Consensus succeeded on a tor with networking disabled")
	} else {
		t.Logf("Consensus without network: %v", err)
	}

	// Crash tor and start it again on the same port: the client must notice, reconnect with the
	// new cookie and say so.
	_, port, _ := strings.Cut(tor.control, ":")
	tor.kill()
	next[torctl.Disconnected](t, c)
	restarted := time.Now()
	tor.start(port)
	if ev := next[torctl.Reconnected](t, c); ev.Initial {
		t.Error("Reconnected after a restart has Initial set")
	}
	t.Logf("Reconnected %v after starting tor again (tor startup included)", time.Since(restarted))
	if v2, err := c.GetInfo(ctx, "version"); err != nil || v2 != v {
		t.Errorf("GetInfo(version) after restart = %q, %v", v2, err)
	}
}

func TestRealTorHashedPassword(t *testing.T) {
	if _, err := exec.LookPath("tor"); err != nil {
		t.Skip("no tor binary in PATH")
	}
	const password = "correct horse battery staple"
	out, err := exec.Command("tor", "--quiet", "--hash-password", password).Output()
	if err != nil {
		t.Fatalf("tor --hash-password: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "16:") {
		t.Fatalf("tor --hash-password printed %q", out)
	}
	tor := startRealTor(t, "CookieAuthentication 0", "HashedControlPassword "+lines[len(lines)-1])

	pwFile := filepath.Join(t.TempDir(), "control-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := realConfig("tcp:" + tor.control)
	cfg.PasswordFile = pwFile // auto: tor offers HASHEDPASSWORD only
	c := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := c.GetInfo(ctx, "version"); err != nil || v == "" {
		t.Fatalf("GetInfo(version) = %q, %v", v, err)
	}

	bad := realConfig("tcp:" + tor.control)
	bad.Auth, bad.Password = torctl.AuthPassword, "wrong"
	wrong, err := torctl.New(bad)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go wrong.Run(runCtx)
	short, cancelShort := context.WithTimeout(context.Background(), time.Second)
	defer cancelShort()
	if err := wrong.WaitReady(short); err == nil {
		t.Error("connected with a wrong password")
	}
}

// TestRealTorUnixSocket checks the unix-socket address form against tor's ControlSocket.
func TestRealTorUnixSocket(t *testing.T) {
	sockDir := t.TempDir()
	if err := os.Chmod(sockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sockDir, "control.sock")
	if len(sock) > 100 {
		t.Skipf("socket path %s too long for a unix socket", sock)
	}
	startRealTor(t, "CookieAuthentication 1", "ControlSocket "+sock)
	cfg := realConfig(sock)
	c := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := c.GetInfo(ctx, "version"); err != nil || v == "" {
		t.Fatalf("GetInfo(version) over %s = %q, %v", sock, v, err)
	}
}
