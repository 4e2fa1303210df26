package socksprobe

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/health"
)

// A valid-looking v3 address (the checksum is tor's business).
const backend = "ypjyhjq2c3vl552q22nrw4p33pra3eyfx3w3intj6fpmjqcwmjq4wiqd"

// stage is where the fake SOCKS server stops following the protocol.
type stage int

const (
	full           stage = iota // answer everything, reply with code
	closeOnGreet                // close after reading the greeting
	closeOnAuth                 // close after reading the username/password
	closeOnRequest              // close after reading CONNECT, without a reply
	halfReply                   // send 6 bytes of the reply, then close
	hangOnGreet                 // read the greeting, never answer
	hangOnRequest               // read CONNECT, never answer
	refuseMethod                // answer the greeting with 0xFF
	refuseAuth                  // answer the username/password with status 1
)

// request is what the fake server read from one client.
type request struct {
	User, Pass string
	Host       string
	Port       int
}

// fakeSOCKS is an in-process SOCKS5 server (RFC 1928 + 1929) that answers every CONNECT with a
// fixed reply code, or misbehaves at a chosen stage.
type fakeSOCKS struct {
	t     *testing.T
	ln    net.Listener
	stage stage
	code  byte
	atyp  byte // reply address type (default IPv4)

	mu       sync.Mutex
	requests []request
	accepted int
	hungUp   chan struct{} // one value per connection the client closed after a full reply
	conns    []net.Conn
	wg       sync.WaitGroup
}

func startFake(t *testing.T, st stage, code byte) *fakeSOCKS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSOCKS{t: t, ln: ln, stage: st, code: code, atyp: atypIPv4, hungUp: make(chan struct{}, 100)}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeSOCKS) addr() string { return f.ln.Addr().String() }

func (f *fakeSOCKS) seen() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

func (f *fakeSOCKS) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.accepted++
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			f.serve(c)
		}()
	}
}

// serve plays the server's side; a client that does not follow the protocol fails the test.
func (f *fakeSOCKS) serve(c net.Conn) {
	hang := func() { io.Copy(io.Discard, c) } // until the client closes
	var greet [3]byte
	if _, err := io.ReadFull(c, greet[:]); err != nil {
		return
	}
	if greet != [3]byte{5, 1, 2} {
		f.t.Errorf("greeting % x: want 05 01 02 (username/password only)", greet)
		return
	}
	switch f.stage {
	case closeOnGreet:
		return
	case hangOnGreet:
		hang()
		return
	case refuseMethod:
		c.Write([]byte{5, 0xFF})
		return
	}
	c.Write([]byte{5, 2})
	var rq request
	var err error
	if rq.User, rq.Pass, err = readAuth(c); err != nil {
		f.t.Errorf("username/password request: %v", err)
		return
	}
	switch f.stage {
	case closeOnAuth:
		return
	case refuseAuth:
		c.Write([]byte{1, 1})
		return
	}
	c.Write([]byte{1, 0})
	if rq.Host, rq.Port, err = readConnect(c); err != nil {
		f.t.Errorf("CONNECT request: %v", err)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, rq)
	f.mu.Unlock()
	switch f.stage {
	case closeOnRequest:
		return
	case hangOnRequest:
		hang()
		return
	}
	rep := []byte{5, f.code, 0, f.atyp}
	switch f.atyp {
	case atypIPv4:
		rep = append(rep, 127, 0, 0, 1)
	case atypIPv6:
		rep = append(rep, net.IPv6loopback...)
	case atypDomain:
		rep = append(rep, 9)
		rep = append(rep, "localhost"...)
	}
	rep = binary.BigEndian.AppendUint16(rep, 9050)
	if f.stage == halfReply {
		rep = rep[:6]
	}
	c.Write(rep)
	if f.stage == full {
		// tor keeps an open stream; the client must close it.
		hang()
		f.hungUp <- struct{}{}
	}
}

func readAuth(r io.Reader) (user, pass string, err error) {
	b := make([]byte, 2)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", "", err
	}
	if b[0] != 1 {
		return "", "", io.ErrUnexpectedEOF
	}
	u := make([]byte, int(b[1])+1)
	if _, err := io.ReadFull(r, u); err != nil {
		return "", "", err
	}
	p := make([]byte, int(u[len(u)-1]))
	if _, err := io.ReadFull(r, p); err != nil {
		return "", "", err
	}
	return string(u[:len(u)-1]), string(p), nil
}

func readConnect(r io.Reader) (string, int, error) {
	h := make([]byte, 5)
	if _, err := io.ReadFull(r, h); err != nil {
		return "", 0, err
	}
	if !bytes.Equal(h[:4], []byte{5, 1, 0, 3}) {
		return "", 0, io.ErrUnexpectedEOF
	}
	rest := make([]byte, int(h[4])+2)
	if _, err := io.ReadFull(r, rest); err != nil {
		return "", 0, err
	}
	n := len(rest) - 2
	return string(rest[:n]), int(binary.BigEndian.Uint16(rest[n:])), nil
}

func probe(t *testing.T, addr string, ctxTimeout time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctxTimeout)
	defer cancel()
	p := &Prober{Addr: addr}
	return p.Probe(ctx, backend, 80)
}

func TestProbeReplyCodes(t *testing.T) {
	cases := []struct {
		code byte
		want health.Outcome
	}{
		{0x00, health.Connected},
		{0x01, health.Failed},
		{0x02, health.Answered},
		{0x04, health.Answered},
		{0x05, health.Answered},
		{0x06, health.Timeout},
		{0xF0, health.DescNotFound},
		{0xF1, health.DescInvalid},
		{0xF2, health.IntroFailed},
		{0xF3, health.RendFailed},
		{0xF4, health.AuthMissing},
		{0xF5, health.AuthBad},
		{0xF6, health.BadAddress},
		{0xF7, health.IntroTimeout},
	}
	for _, tc := range cases {
		f := startFake(t, full, tc.code)
		r := probe(t, f.addr(), 10*time.Second)
		if r.Outcome != tc.want {
			t.Errorf("reply %#02x: outcome %q (%s), want %q", tc.code, r.Outcome, r.Detail, tc.want)
		}
		if r.Detail != health.SOCKSDetail(tc.code) {
			t.Errorf("reply %#02x: detail %q, want %q", tc.code, r.Detail, health.SOCKSDetail(tc.code))
		}
		if r.Latency <= 0 {
			t.Errorf("reply %#02x: latency %v", tc.code, r.Latency)
		}
		reqs := f.seen()
		if len(reqs) != 1 || reqs[0].Host != backend+".onion" || reqs[0].Port != 80 {
			t.Errorf("reply %#02x: the server saw %+v, want one CONNECT to %s.onion:80", tc.code, reqs, backend)
		}
	}
}

// Replies whose BND.ADDR is a domain name or an IPv6 address are read to the end too.
func TestProbeReplyAddressTypes(t *testing.T) {
	for _, atyp := range []byte{atypIPv4, atypIPv6, atypDomain} {
		f := startFake(t, full, 0xF2)
		f.atyp = atyp
		if r := probe(t, f.addr(), 10*time.Second); r.Outcome != health.IntroFailed {
			t.Errorf("reply address type %d: %q (%s), want %q", atyp, r.Outcome, r.Detail, health.IntroFailed)
		}
	}
}

// The backend's address goes to tor in lower case, whatever the caller's case.
func TestProbeLowerCasesTheAddress(t *testing.T) {
	f := startFake(t, full, 0)
	p := &Prober{Addr: f.addr()}
	if r := p.Probe(context.Background(), strings.ToUpper(backend), 443); r.Outcome != health.Connected {
		t.Fatalf("%q (%s)", r.Outcome, r.Detail)
	}
	if reqs := f.seen(); len(reqs) != 1 || reqs[0].Host != backend+".onion" || reqs[0].Port != 443 {
		t.Fatalf("the server saw %+v", reqs)
	}
}

// Every probe sends its own username and password (tor's IsolateSOCKSAuth then gives it fresh
// circuits), drawn from Rand.
func TestProbeFreshCredentials(t *testing.T) {
	f := startFake(t, full, 0)
	random := bytes.Repeat([]byte{0xAB}, 16)
	random = append(random, bytes.Repeat([]byte{0xCD}, 16)...)
	p := &Prober{Addr: f.addr(), Rand: bytes.NewReader(random)}
	if r := p.Probe(context.Background(), backend, 80); r.Outcome != health.Connected {
		t.Fatalf("probe with Rand: %q (%s)", r.Outcome, r.Detail)
	}
	p.Rand = nil // crypto/rand from here
	for range 2 {
		if r := p.Probe(context.Background(), backend, 80); r.Outcome != health.Connected {
			t.Fatalf("probe: %q (%s)", r.Outcome, r.Detail)
		}
	}
	reqs := f.seen()
	if len(reqs) != 3 {
		t.Fatalf("the server saw %d requests, want 3", len(reqs))
	}
	if reqs[0].User != hex.EncodeToString(random[:16]) || reqs[0].Pass != hex.EncodeToString(random[16:]) {
		t.Errorf("first probe sent %q/%q: not from Rand", reqs[0].User, reqs[0].Pass)
	}
	users := map[string]bool{}
	for _, rq := range reqs {
		if len(rq.User) != 32 || len(rq.Pass) != 32 || rq.User == rq.Pass {
			t.Errorf("credentials %q/%q: want two different 32-character strings", rq.User, rq.Pass)
		}
		users[rq.User] = true
	}
	if len(users) != 3 {
		t.Errorf("usernames %+v: want 3 different ones", reqs)
	}

	// A Rand that runs dry makes no probe at all.
	p.Rand = bytes.NewReader(nil)
	if r := p.Probe(context.Background(), backend, 80); r.Outcome != health.ProberError {
		t.Errorf("empty Rand: %q (%s), want %q", r.Outcome, r.Detail, health.ProberError)
	}
}

// tor accepted the request and said nothing before the deadline: Timeout (evidence).
func TestProbeTimeoutAfterRequest(t *testing.T) {
	f := startFake(t, hangOnRequest, 0)
	r := probe(t, f.addr(), 300*time.Millisecond)
	if r.Outcome != health.Timeout {
		t.Fatalf("%q (%s), want %q", r.Outcome, r.Detail, health.Timeout)
	}
	if len(f.seen()) != 1 {
		t.Fatalf("the server saw %d requests", len(f.seen()))
	}
}

// A deadline that ends before tor took the request is this side's problem: ProberError.
func TestProbeTimeoutBeforeRequest(t *testing.T) {
	f := startFake(t, hangOnGreet, 0)
	r := probe(t, f.addr(), 300*time.Millisecond)
	if r.Outcome != health.ProberError {
		t.Fatalf("%q (%s), want %q", r.Outcome, r.Detail, health.ProberError)
	}
	if !strings.Contains(r.Detail, "deadline") {
		t.Errorf("detail %q does not say the deadline passed", r.Detail)
	}
}

// A caller that cancels (the daemon stops) learns nothing about the backend.
func TestProbeCancelledAfterRequest(t *testing.T) {
	f := startFake(t, hangOnRequest, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() { done <- (&Prober{Addr: f.addr()}).Probe(ctx, backend, 80) }()
	for len(f.seen()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if r := <-done; r.Outcome != health.ProberError {
		t.Fatalf("%q (%s), want %q", r.Outcome, r.Detail, health.ProberError)
	}
}

// A server that hangs up at any point of the exchange, or does not follow it, gives ProberError.
func TestProbeBrokenExchange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stage stage
		in    string // in Detail
	}{
		{"close on greeting", closeOnGreet, "method choice"},
		{"close on auth", closeOnAuth, "username/password status"},
		{"close on request", closeOnRequest, "closed the connection before replying"},
		{"half a reply", halfReply, "closed the connection before replying"},
		{"no acceptable method", refuseMethod, "no username/password"},
		{"auth refused", refuseAuth, "refused"},
	} {
		f := startFake(t, tc.stage, 0)
		r := probe(t, f.addr(), 10*time.Second)
		if r.Outcome != health.ProberError || !strings.Contains(r.Detail, tc.in) {
			t.Errorf("%s: %q (%s), want %q saying %q", tc.name, r.Outcome, r.Detail, health.ProberError, tc.in)
		}
	}
}

func TestProbeDialFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := probe(t, addr, 10*time.Second)
	if r.Outcome != health.ProberError || !strings.Contains(r.Detail, addr) {
		t.Fatalf("%q (%s), want %q naming %s", r.Outcome, r.Detail, health.ProberError, addr)
	}
}

// Addresses that are not a v3 onion address (and ports out of range) are refused before any
// connection.
func TestProbeRefusesBadArguments(t *testing.T) {
	f := startFake(t, full, 0)
	p := &Prober{Addr: f.addr()}
	for _, tc := range []struct {
		addr string
		port int
	}{
		{backend[:55], 80},
		{backend + "a", 80},
		{backend + ".onion", 80},
		{backend[:55] + "1", 80},
		{backend[:55] + ".", 80},
		{"", 80},
		{backend, 0},
		{backend, 65536},
	} {
		r := p.Probe(context.Background(), tc.addr, tc.port)
		if r.Outcome != health.ProberError {
			t.Errorf("%q port %d: %q (%s), want %q", tc.addr, tc.port, r.Outcome, r.Detail, health.ProberError)
		}
	}
	f.mu.Lock()
	n := f.accepted
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("the server got %d connections, want none", n)
	}
	if r := (&Prober{}).Probe(context.Background(), backend, 80); r.Outcome != health.ProberError {
		t.Errorf("no Addr: %q (%s)", r.Outcome, r.Detail)
	}
}

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want reply
	}{
		{[]byte{5, 0xF2, 0, 1, 127, 0, 0, 1, 0x23, 0x5a}, reply{Code: 0xF2, Atyp: 1, BindAddr: "127.0.0.1", BindPort: 9050}},
		{append(append([]byte{5, 0, 0, 4}, net.IPv6loopback...), 0, 80), reply{Code: 0, Atyp: 4, BindAddr: "::1", BindPort: 80}},
		{[]byte{5, 4, 0, 3, 3, 'a', 'b', 'c', 0, 1}, reply{Code: 4, Atyp: 3, BindAddr: "abc", BindPort: 1}},
		{[]byte{5, 1, 0, 3, 0, 0, 0}, reply{Code: 1, Atyp: 3}},
	} {
		r := bytes.NewReader(append(tc.in, 0xEE)) // one byte of the stream after the reply
		got, err := readReply(r)
		if err != nil || got != tc.want {
			t.Errorf("% x: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if r.Len() != 1 {
			t.Errorf("% x: read %d bytes past the reply", tc.in, 1-r.Len())
		}
	}
	for _, in := range [][]byte{
		{}, {5}, {5, 0, 0}, {4, 0, 0, 1, 0, 0, 0, 0, 0, 0}, {5, 0, 0, 9, 0, 0, 0, 0, 0, 0},
		{5, 0, 0, 1, 0, 0, 0, 0, 0}, {5, 0, 0, 3, 4, 'a', 0, 0},
	} {
		if got, err := readReply(bytes.NewReader(in)); err == nil {
			t.Errorf("% x: accepted as %+v", in, got)
		}
	}
}

// FuzzReadReply: readReply never panics, never reads past the reply it returns, and what it
// returns re-encodes to exactly the bytes it consumed.
func FuzzReadReply(f *testing.F) {
	f.Add([]byte{5, 0xF2, 0, 1, 127, 0, 0, 1, 0x23, 0x5a})
	f.Add(append(append([]byte{5, 0, 0, 4}, net.IPv6loopback...), 0, 80))
	f.Add([]byte{5, 4, 0, 3, 3, 'a', 'b', 'c', 0, 1, 9})
	f.Add([]byte{5, 1, 0, 3, 255})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		got, err := readReply(r)
		if err != nil {
			return
		}
		used := in[:len(in)-r.Len()]
		enc := []byte{5, got.Code, used[2], got.Atyp}
		switch got.Atyp {
		case atypIPv4:
			enc = append(enc, net.ParseIP(got.BindAddr).To4()...)
		case atypIPv6:
			enc = append(enc, net.ParseIP(got.BindAddr).To16()...)
		case atypDomain:
			enc = append(enc, byte(len(got.BindAddr)))
			enc = append(enc, got.BindAddr...)
		default:
			t.Fatalf("accepted address type %d", got.Atyp)
		}
		enc = binary.BigEndian.AppendUint16(enc, got.BindPort)
		if !bytes.Equal(enc, used) {
			t.Fatalf("consumed % x, returned %+v (re-encodes to % x)", used, got, enc)
		}
	})
}

// The prober closes the stream as soon as tor replied: nothing is sent to the backend's service.
func TestProbeClosesAfterTheReply(t *testing.T) {
	f := startFake(t, full, 0)
	if r := probe(t, f.addr(), 10*time.Second); r.Outcome != health.Connected {
		t.Fatalf("%q (%s)", r.Outcome, r.Detail)
	}
	select {
	case <-f.hungUp:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection is still open 10 s after Probe returned")
	}
}

// One Prober serves concurrent probes (run with -race).
func TestProbeConcurrent(t *testing.T) {
	f := startFake(t, full, 0xF2)
	p := &Prober{Addr: f.addr()}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if r := p.Probe(context.Background(), backend, 80); r.Outcome != health.IntroFailed {
				t.Errorf("%q (%s)", r.Outcome, r.Detail)
			}
		})
	}
	wg.Wait()
	users := map[string]bool{}
	for _, rq := range f.seen() {
		users[rq.User] = true
	}
	if len(users) != 8 {
		t.Errorf("%d different usernames for 8 probes", len(users))
	}
}
