// Package torctltest is an in-process fake of tor's control port for unit tests of code built on
// publisher/torctl.
//
// The fake speaks enough of the protocol for torctl: PROTOCOLINFO, AUTHCHALLENGE, AUTHENTICATE
// (none, password, SAFECOOKIE or COOKIE), GETINFO, GETCONF, SETCONF, SETEVENTS, SIGNAL, HSFETCH,
// +HSPOST and QUIT, and it sends asynchronous 650 events to the connections that subscribed to them. By default it
// also plays tor's part after HSFETCH and HSPOST: descriptors set with SetDescriptor are "served"
// as HS_DESC RECEIVED + HS_DESC_CONTENT, unknown ones as HS_DESC FAILED NOT_FOUND, and every post
// is acknowledged per HSDir with HS_DESC UPLOADED (or FAILED, see FailUploadsTo). Like tor, it never
// answers an HSPOST without HSADDRESS=.
//
// Its configuration (GETCONF, SETCONF, SetConf) starts as the management torrc's "SocksPort 0", and
// SocksPort values become SOCKS listeners that GETINFO net/listeners/socks lists: a numbered port
// is listed as it is (not bound), a port tor would pick ("auto") is a real loopback listener that
// closes every connection, kept across SETCONFs as tor keeps its listeners.
package torctltest

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Auth selects what the fake requires before other commands.
type Auth string

const (
	AuthNone       Auth = "none"       // PROTOCOLINFO offers NULL
	AuthPassword   Auth = "password"   // HASHEDPASSWORD; Options.Password
	AuthSafeCookie Auth = "safecookie" // COOKIE,SAFECOOKIE with a cookie file the fake writes
	AuthCookie     Auth = "cookie"     // COOKIE only
)

// Options configures a Server.
type Options struct {
	// Auth is the required authentication (default AuthNone).
	Auth Auth
	// Password for AuthPassword.
	Password string
	// Dir receives the cookie file for the cookie methods (default: a new temporary directory,
	// removed by Close).
	Dir string
	// Version is reported by PROTOCOLINFO and GETINFO version (default "0.4.9.11-fake").
	Version string
}

// Fetch is one HSFETCH the fake accepted.
type Fetch struct {
	Address string
	Servers []string
}

// Post is one HSPOST the fake accepted.
type Post struct {
	Address string
	Servers []string
	// FirstLine is the command line as received, e.g. "+HSPOST SERVER=... HSADDRESS=...".
	FirstLine string
	// Descriptor is the body after dot-decoding, with LF line endings.
	Descriptor []byte
}

// Server is a fake tor control port listening on 127.0.0.1.
type Server struct {
	opts       Options
	ln         net.Listener
	cookie     []byte
	cookieFile string
	tempDir    string
	wg         sync.WaitGroup

	mu          sync.Mutex
	conns       map[*conn]struct{}
	info        map[string]string
	known       map[string]bool // nil: every relay is known
	failUploads map[string]string
	descs       map[string][]byte
	hang        map[string]bool
	holds       map[string]*hold // pending Hold, by verb
	held        []*hold          // every Hold, released by Close
	autoEvents  bool
	fetches     []Fetch
	posts       []Post
	signals     []string
	authFails   int
	closed      bool

	conf       map[string][]string // by option name; an empty list is the default
	socks      []socksListener     // in the order of SocksPort
	netOff     bool                // DisableNetwork 1: no SOCKS listener open
	setConfs   []string            // SETCONF arguments accepted
	setConfErr string              // non-empty: SETCONF answers 553 with it

	latencyLo, latencyHi time.Duration // SetEventLatency
	stop                 chan struct{} // closed by Close: delayed events are dropped
}

// NewServer starts a fake control port on 127.0.0.1 with a free port.
func NewServer(opts Options) (*Server, error) {
	if opts.Auth == "" {
		opts.Auth = AuthNone
	}
	if opts.Version == "" {
		opts.Version = "0.4.9.11-fake"
	}
	s := &Server{
		opts:        opts,
		conns:       map[*conn]struct{}{},
		info:        map[string]string{"version": opts.Version},
		failUploads: map[string]string{},
		descs:       map[string][]byte{},
		hang:        map[string]bool{},
		autoEvents:  true,
		stop:        make(chan struct{}),
		conf:        map[string][]string{"SocksPort": {"0"}, "DisableNetwork": {"0"}},
	}
	s.info["net/listeners/socks"] = ""
	if opts.Auth == AuthSafeCookie || opts.Auth == AuthCookie {
		dir := opts.Dir
		if dir == "" {
			d, err := os.MkdirTemp("", "torctltest-")
			if err != nil {
				return nil, err
			}
			dir, s.tempDir = d, d
		}
		s.cookie = make([]byte, 32)
		if _, err := rand.Read(s.cookie); err != nil {
			return nil, err
		}
		s.cookieFile = filepath.Join(dir, "control_auth_cookie")
		if err := os.WriteFile(s.cookieFile, s.cookie, 0o600); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Start is NewServer for tests: it fails t on error and closes the server at cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("torctltest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr returns the control address in torctl.Config form, "tcp:127.0.0.1:PORT".
func (s *Server) Addr() string { return "tcp:" + s.ln.Addr().String() }

// CookieFile returns the path of the cookie file ("" without cookie auth).
func (s *Server) CookieFile() string { return s.cookieFile }

// Close stops listening, drops every connection and waits for the fake's goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	for _, h := range s.held {
		h.free()
	}
	for _, l := range s.socks {
		l.close()
	}
	s.socks = nil
	s.mu.Unlock()
	s.ln.Close()
	s.DropConnections()
	s.wg.Wait()
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
}

// DropConnections closes every open control connection, as a tor restart would. The server keeps
// listening, so clients can reconnect.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
}

// SetInfo sets the value GETINFO key returns; a value containing "\n" is sent as a data block.
func (s *Server) SetInfo(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info[key] = value
}

// SetKnownRelays restricts the relays HSFETCH and HSPOST accept (40-hex fingerprints); others get
// 552. With no call every relay is known.
func (s *Server) SetKnownRelays(fps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known = map[string]bool{}
	for _, fp := range fps {
		s.known[strings.ToUpper(strings.TrimPrefix(fp, "$"))] = true
	}
}

// SetDescriptor makes HSFETCH of addr succeed with desc on every server.
func (s *Server) SetDescriptor(addr string, desc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.descs[strings.ToLower(addr)] = slices.Clone(desc)
}

// FailUploadsTo makes uploads to these HSDirs report HS_DESC FAILED ... REASON=UPLOAD_REJECTED.
func (s *Server) FailUploadsTo(fps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fp := range fps {
		s.failUploads[strings.ToUpper(fp)] = "UPLOAD_REJECTED"
	}
}

// SetAutoEvents turns the HS_DESC events that follow HSFETCH and HSPOST on (default) or off.
func (s *Server) SetAutoEvents(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.autoEvents = on
}

// HangOn makes the fake read but never answer commands with this verb (e.g. "GETINFO").
func (s *Server) HangOn(verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang[strings.ToUpper(verb)] = true
}

// hold is one Hold: a command answered only once released.
type hold struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *hold) free() { h.once.Do(func() { close(h.release) }) }

// Hold makes the fake read the next command with this verb and answer it only once release is
// called (or the server closes), like a tor slow to answer: the client's command connection stays
// busy meanwhile. arrived is closed when the command has been read.
func (s *Server) Hold(verb string) (arrived <-chan struct{}, release func()) {
	h := &hold{arrived: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds == nil {
		s.holds = map[string]*hold{}
	}
	s.holds[strings.ToUpper(verb)] = h
	s.held = append(s.held, h)
	if s.closed {
		h.free()
	}
	return h.arrived, h.free
}

// Fetches returns the HSFETCH commands accepted so far.
func (s *Server) Fetches() []Fetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fetches)
}

// Posts returns the HSPOST commands accepted so far.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

// Signals returns the SIGNAL names received so far.
func (s *Server) Signals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.signals)
}

// AuthFailures returns how many AUTHENTICATE commands were refused.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFails
}

// Subscribers returns how many connections are subscribed to event.
func (s *Server) Subscribers(event string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.subscribed(event) {
			n++
		}
	}
	return n
}

// WaitSubscribers waits until n connections are subscribed to event, or ctx ends.
func (s *Server) WaitSubscribers(ctx context.Context, event string, n int) error {
	for s.Subscribers(event) != n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("torctltest: %d subscribers to %s, want %d: %w", s.Subscribers(event), event, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// Emit sends "650 <line>" to every connection subscribed to the line's first word and returns
// how many received it. A write that does not complete within 5 s is an error: a real tor would
// eventually drop such a controller.
func (s *Server) Emit(line string) (int, error) {
	return s.emit(strings.SplitN(line, " ", 2)[0], func(w *textproto.Writer) error {
		return w.PrintfLine("650 %s", line)
	})
}

// EmitData sends a multi-line event, "650+<head>", the dot-encoded body and "650 OK".
func (s *Server) EmitData(head string, body []byte) (int, error) {
	return s.emit(strings.SplitN(head, " ", 2)[0], func(w *textproto.Writer) error {
		if err := w.PrintfLine("650+%s", head); err != nil {
			return err
		}
		if err := writeDot(w, body); err != nil {
			return err
		}
		return w.PrintfLine("650 OK")
	})
}

func (s *Server) emit(event string, write func(*textproto.Writer) error) (int, error) {
	s.mu.Lock()
	var targets []*conn
	for c := range s.conns {
		if c.subscribed(event) {
			targets = append(targets, c)
		}
	}
	s.mu.Unlock()
	n := 0
	var errs []error
	for _, c := range targets {
		if err := c.write(write); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func writeDot(w *textproto.Writer, body []byte) error {
	dw := w.DotWriter()
	if _, err := dw.Write(body); err != nil {
		return err
	}
	return dw.Close()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{srv: s, nc: nc, w: textproto.NewWriter(bufio.NewWriter(nc))}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			nc.Close()
		}()
	}
}

// conn is one client connection.
type conn struct {
	srv *Server
	nc  net.Conn

	wmu sync.Mutex
	w   *textproto.Writer

	// Guarded by srv.mu.
	events map[string]bool

	// Owned by serve.
	authed     bool
	clientHash []byte
}

func (c *conn) subscribed(event string) bool { return c.events[event] }

// write runs fn with exclusive use of the writer and a 5 s write deadline.
func (c *conn) write(fn func(*textproto.Writer) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	defer c.nc.SetWriteDeadline(time.Time{})
	return fn(c.w)
}

func (c *conn) reply(lines ...string) error {
	return c.write(func(w *textproto.Writer) error {
		for _, l := range lines {
			if err := w.PrintfLine("%s", l); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *conn) serve() {
	r := textproto.NewReader(bufio.NewReader(c.nc))
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		var body []byte
		if strings.HasPrefix(line, "+") {
			if body, err = r.ReadDotBytes(); err != nil {
				return
			}
		}
		verb, args, _ := strings.Cut(strings.TrimPrefix(line, "+"), " ")
		verb = strings.ToUpper(verb)
		c.srv.mu.Lock()
		hang := c.srv.hang[verb]
		h := c.srv.holds[verb]
		delete(c.srv.holds, verb)
		c.srv.mu.Unlock()
		if h != nil {
			close(h.arrived)
			<-h.release
		}
		if hang {
			continue
		}
		if !c.handle(verb, args, line, body) {
			return
		}
	}
}

// handle answers one command and reports whether to keep the connection open.
func (c *conn) handle(verb, args, line string, body []byte) bool {
	switch verb {
	case "PROTOCOLINFO":
		return c.protocolInfo() == nil
	case "AUTHCHALLENGE":
		return c.authChallenge(args) == nil
	case "AUTHENTICATE":
		return c.authenticate(args)
	case "QUIT":
		c.reply("250 closing connection")
		return false
	}
	if !c.authed {
		c.reply("514 Authentication required.")
		return false
	}
	var err error
	switch verb {
	case "GETINFO":
		err = c.getInfo(args)
	case "GETCONF":
		err = c.getConf(args)
	case "SETCONF":
		err = c.setConf(args)
	case "SETEVENTS":
		err = c.setEvents(args)
	case "SIGNAL":
		c.srv.mu.Lock()
		c.srv.signals = append(c.srv.signals, args)
		c.srv.mu.Unlock()
		err = c.reply("250 OK")
	case "HSFETCH":
		err = c.hsFetch(args)
	case "HSPOST":
		err = c.hsPost(args, line, body)
	default:
		err = c.reply(fmt.Sprintf("510 Unrecognized command %q", verb))
	}
	return err == nil
}

func (c *conn) protocolInfo() error {
	var auth string
	switch c.srv.opts.Auth {
	case AuthNone:
		auth = "AUTH METHODS=NULL"
	case AuthPassword:
		auth = "AUTH METHODS=HASHEDPASSWORD"
	case AuthSafeCookie:
		auth = fmt.Sprintf("AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=%q", c.srv.cookieFile)
	case AuthCookie:
		auth = fmt.Sprintf("AUTH METHODS=COOKIE COOKIEFILE=%q", c.srv.cookieFile)
	}
	return c.reply("250-PROTOCOLINFO 1", "250-"+auth,
		fmt.Sprintf("250-VERSION Tor=%q", c.srv.opts.Version), "250 OK")
}

func (c *conn) authChallenge(args string) error {
	f := strings.Fields(args)
	if c.srv.opts.Auth != AuthSafeCookie || len(f) != 2 || f[0] != "SAFECOOKIE" {
		return c.reply("513 Invalid AUTHCHALLENGE")
	}
	clientNonce, err := hex.DecodeString(f[1])
	if err != nil || len(clientNonce) != 32 {
		return c.reply("513 Invalid client nonce")
	}
	serverNonce := make([]byte, 32)
	rand.Read(serverNonce)
	mac := func(key string) []byte {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(c.srv.cookie)
		m.Write(clientNonce)
		m.Write(serverNonce)
		return m.Sum(nil)
	}
	c.clientHash = mac("Tor safe cookie authentication controller-to-server hash")
	serverHash := mac("Tor safe cookie authentication server-to-controller hash")
	return c.reply(fmt.Sprintf("250 AUTHCHALLENGE SERVERHASH=%X SERVERNONCE=%X", serverHash, serverNonce))
}

func (c *conn) authenticate(args string) bool {
	var secret []byte
	args = strings.TrimSpace(args)
	if strings.HasPrefix(args, `"`) {
		secret = []byte(strings.Trim(args, `"`))
	} else if args != "" {
		b, err := hex.DecodeString(args)
		if err != nil {
			return c.authFailed()
		}
		secret = b
	}
	ok := false
	switch c.srv.opts.Auth {
	case AuthNone:
		ok = true
	case AuthPassword:
		ok = string(secret) == c.srv.opts.Password
	case AuthSafeCookie:
		ok = (c.clientHash != nil && hmac.Equal(secret, c.clientHash)) || hmac.Equal(secret, c.srv.cookie)
	case AuthCookie:
		ok = hmac.Equal(secret, c.srv.cookie)
	}
	if !ok {
		return c.authFailed()
	}
	c.authed = true
	return c.reply("250 OK") == nil
}

func (c *conn) authFailed() bool {
	c.srv.mu.Lock()
	c.srv.authFails++
	c.srv.mu.Unlock()
	c.reply("515 Authentication failed: Password did not match HashedControlPassword value from configuration")
	return false
}

func (c *conn) getInfo(args string) error {
	keys := strings.Fields(args)
	c.srv.mu.Lock()
	vals := make([]string, len(keys))
	for i, k := range keys {
		v, ok := c.srv.info[k]
		if !ok {
			c.srv.mu.Unlock()
			return c.reply(fmt.Sprintf("552 Unrecognized key %q", k))
		}
		vals[i] = v
	}
	c.srv.mu.Unlock()
	return c.write(func(w *textproto.Writer) error {
		for i, k := range keys {
			if !strings.Contains(vals[i], "\n") {
				if err := w.PrintfLine("250-%s=%s", k, vals[i]); err != nil {
					return err
				}
				continue
			}
			if err := w.PrintfLine("250+%s=", k); err != nil {
				return err
			}
			if err := writeDot(w, []byte(vals[i])); err != nil {
				return err
			}
		}
		return w.PrintfLine("250 OK")
	})
}

var knownEvents = map[string]bool{
	"HS_DESC": true, "HS_DESC_CONTENT": true, "STATUS_CLIENT": true, "STATUS_GENERAL": true,
	"NEWCONSENSUS": true, "CIRC": true, "STREAM": true, "NOTICE": true, "WARN": true,
}

func (c *conn) setEvents(args string) error {
	events := map[string]bool{}
	for _, e := range strings.Fields(args) {
		if !knownEvents[e] {
			return c.reply(fmt.Sprintf("552 Unrecognized event %q", e))
		}
		events[e] = true
	}
	c.srv.mu.Lock()
	c.events = events
	c.srv.mu.Unlock()
	return c.reply("250 OK")
}

// serverList splits SERVER= arguments off args; it returns the first unknown server, if any.
func (c *conn) serverList(f []string) (servers []string, rest []string, unknown string) {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	for _, a := range f {
		v, ok := strings.CutPrefix(a, "SERVER=")
		if !ok {
			rest = append(rest, a)
			continue
		}
		fp := strings.ToUpper(strings.TrimPrefix(v, "$"))
		if unknown == "" && (len(fp) != 40 || c.srv.known != nil && !c.srv.known[fp]) {
			unknown = v
		}
		servers = append(servers, fp)
	}
	return servers, rest, unknown
}

func validAddress(a string) bool {
	if len(a) != 56 {
		return false
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

func (c *conn) hsFetch(args string) error {
	f := strings.Fields(args)
	if len(f) == 0 || !validAddress(f[0]) {
		return c.reply(fmt.Sprintf("513 Invalid argument %q", args))
	}
	servers, _, unknown := c.serverList(f[1:])
	if unknown != "" {
		return c.reply(fmt.Sprintf("552 Server %q not found", unknown))
	}
	fetch := Fetch{Address: f[0], Servers: servers}
	c.srv.mu.Lock()
	c.srv.fetches = append(c.srv.fetches, fetch)
	auto := c.srv.autoEvents
	desc, have := c.srv.descs[fetch.Address]
	c.srv.mu.Unlock()
	if err := c.reply("250 OK"); err != nil {
		return err
	}
	if !auto {
		return nil
	}
	if len(servers) == 0 {
		servers = []string{strings.Repeat("AB", 20)}
	}
	blinded := strings.Repeat("B", 43)
	for _, fp := range servers {
		hsdir := "$" + fp + "~fake"
		c.srv.later(func() {
			if have {
				c.srv.Emit(fmt.Sprintf("HS_DESC RECEIVED %s NO_AUTH %s %s", fetch.Address, hsdir, blinded))
				c.srv.EmitData(fmt.Sprintf("HS_DESC_CONTENT %s %s %s", fetch.Address, blinded, hsdir), desc)
			} else {
				c.srv.Emit(fmt.Sprintf("HS_DESC FAILED %s NO_AUTH %s %s REASON=NOT_FOUND", fetch.Address, hsdir, blinded))
				c.srv.EmitData(fmt.Sprintf("HS_DESC_CONTENT %s %s %s", fetch.Address, blinded, hsdir), nil)
			}
		})
	}
	return nil
}

func (c *conn) hsPost(args, line string, body []byte) error {
	servers, rest, unknown := c.serverList(strings.Fields(args))
	var addr string
	for _, a := range rest {
		if v, ok := strings.CutPrefix(a, "HSADDRESS="); ok {
			addr = v
		} else {
			return c.reply(fmt.Sprintf("512 Unexpected argument %q", a))
		}
	}
	if addr == "" {
		return nil // tor >= 0.4.5 never answers: the controller hangs
	}
	if !validAddress(addr) {
		return c.reply(fmt.Sprintf("512 Invalid HS address %q", addr))
	}
	if unknown != "" {
		return c.reply(fmt.Sprintf("552 Server %q not found", unknown))
	}
	if !strings.HasPrefix(string(body), "hs-descriptor 3\n") {
		return c.reply("554 Invalid descriptor")
	}
	c.srv.mu.Lock()
	c.srv.posts = append(c.srv.posts, Post{Address: addr, Servers: servers, FirstLine: line, Descriptor: body})
	auto := c.srv.autoEvents
	fails := map[string]string{}
	for _, fp := range servers {
		if r, ok := c.srv.failUploads[fp]; ok {
			fails[fp] = r
		}
	}
	c.srv.mu.Unlock()
	if err := c.reply("250 OK"); err != nil {
		return err
	}
	if !auto {
		return nil
	}
	// Worded as tor 0.4.9 does: a refusal names the auth type NO_AUTH (like a failed fetch) and the
	// descriptor's blinded key, which the fake does not decode: it names a made-up one.
	blinded := strings.Repeat("B", 43)
	for _, fp := range servers {
		reason, failed := fails[fp]
		c.srv.later(func() {
			if failed {
				c.srv.Emit(fmt.Sprintf("HS_DESC FAILED %s NO_AUTH $%s~fake %s REASON=%s", addr, fp, blinded, reason))
			} else {
				c.srv.Emit(fmt.Sprintf("HS_DESC UPLOADED %s UNKNOWN $%s~fake", addr, fp))
			}
		})
	}
	return nil
}
