package torctl_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/publisher/torctl/torctltest"
)

const (
	addr = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd"
	fpA  = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	fpB  = "0123456789ABCDEF0123456789ABCDEF01234567"
	fpC  = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
)

// waitBound bounds every wait in these tests.
const waitBound = 20 * time.Second

func testConfig(srv *torctltest.Server) torctl.Config {
	cfg := torctl.DefaultConfig()
	cfg.Address = srv.Addr()
	cfg.ReconnectMin = 20 * time.Millisecond
	cfg.ReconnectMax = 200 * time.Millisecond
	cfg.RequestTimeout = 10 * time.Second
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "torctl", Level: hclog.Warn, Output: os.Stderr})
	return cfg
}

// start runs a client until the test ends and waits for its first Reconnected event.
func start(t *testing.T, cfg torctl.Config) *torctl.Client {
	t.Helper()
	c, err := torctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitBound):
			t.Error("Run did not return after cancel")
		}
	})
	if ev := next[torctl.Reconnected](t, c); !ev.Initial {
		t.Fatalf("first Reconnected has Initial = false")
	}
	return c
}

// next returns the next event of type T, skipping others, within waitBound.
func next[T torctl.Event](t *testing.T, c *torctl.Client) T {
	t.Helper()
	timeout := time.After(waitBound)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("Events closed")
			}
			if e, ok := ev.(T); ok {
				return e
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T event within %v", zero, waitBound)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	t.Cleanup(cancel)
	return ctx
}

func TestAuthMethods(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts torctltest.Options
		edit func(*torctl.Config, *torctltest.Server)
	}{
		{"none", torctltest.Options{}, func(*torctl.Config, *torctltest.Server) {}},
		{"safecookie auto", torctltest.Options{Auth: torctltest.AuthSafeCookie}, func(*torctl.Config, *torctltest.Server) {}},
		{"plain cookie", torctltest.Options{Auth: torctltest.AuthCookie}, func(c *torctl.Config, _ *torctltest.Server) {
			c.Auth = torctl.AuthCookie
		}},
		{"cookie file override", torctltest.Options{Auth: torctltest.AuthSafeCookie}, func(c *torctl.Config, s *torctltest.Server) {
			copyPath := filepath.Join(t.TempDir(), "cookie")
			b, err := os.ReadFile(s.CookieFile())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(copyPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			c.Auth, c.CookieFile = torctl.AuthCookie, copyPath
		}},
		{"password", torctltest.Options{Auth: torctltest.AuthPassword, Password: "s3cret pass"}, func(c *torctl.Config, _ *torctltest.Server) {
			c.Auth, c.Password = torctl.AuthPassword, "s3cret pass"
		}},
		{"password file auto", torctltest.Options{Auth: torctltest.AuthPassword, Password: "s3cret pass"}, func(c *torctl.Config, _ *torctltest.Server) {
			c.PasswordFile = pwFile
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := torctltest.Start(t, tt.opts)
			cfg := testConfig(srv)
			tt.edit(&cfg, srv)
			c := start(t, cfg)
			v, err := c.GetInfo(ctxT(t), "version")
			if err != nil || v != "0.4.9.11-fake" {
				t.Errorf("GetInfo(version) = %q, %v", v, err)
			}
			if n := srv.AuthFailures(); n != 0 {
				t.Errorf("%d authentication failures", n)
			}
		})
	}
}

func TestWrongPasswordNeverConnects(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{Auth: torctltest.AuthPassword, Password: "right"})
	cfg := testConfig(srv)
	cfg.Auth, cfg.Password = torctl.AuthPassword, "wrong"
	c, err := torctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	// Retries are paced by the backoff: wait for a few, then check the client never got through.
	deadline := time.Now().Add(waitBound)
	for srv.AuthFailures() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.AuthFailures() < 3 {
		t.Fatalf("only %d authentication attempts", srv.AuthFailures())
	}
	if c.Connected() {
		t.Error("Connected() with a wrong password")
	}
	if _, err := c.GetInfo(ctxT(t), "version"); !errors.Is(err, torctl.ErrNotConnected) {
		t.Errorf("GetInfo error = %v, want ErrNotConnected", err)
	}
}

func TestGetInfoDocuments(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	consensus := "network-status-version 3 microdesc\nvote-status consensus\n.dotted line\ndirectory-footer\n"
	srv.SetInfo("dir/status-vote/current/consensus-microdesc", consensus)
	srv.SetInfo("md/all", "onion-key\nid ed25519 x\n")
	srv.SetInfo("status/bootstrap-phase", `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`)
	c := start(t, testConfig(srv))
	ctx := ctxT(t)

	got, err := c.Consensus(ctx)
	if err != nil || string(got) != consensus {
		t.Errorf("Consensus = %q, %v; want %q", got, err, consensus)
	}
	md, err := c.Microdescs(ctx)
	if err != nil || string(md) != "onion-key\nid ed25519 x\n" {
		t.Errorf("Microdescs = %q, %v", md, err)
	}
	b, err := c.BootstrapPhase(ctx)
	if err != nil || b.Progress != 100 || b.Tag != "done" {
		t.Errorf("BootstrapPhase = %+v, %v", b, err)
	}
	var re *torctl.ReplyError
	if _, err := c.GetInfo(ctx, "no/such/key"); !errors.As(err, &re) || re.Code != 552 {
		t.Errorf("GetInfo of an unknown key: error = %v, want a 552 ReplyError", err)
	}
	if err := c.Signal(ctx, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(ctx, "ACTIVE\r\nQUIT"); !errors.Is(err, torctl.ErrInvalidArgument) {
		t.Errorf("Signal with CRLF: error = %v, want ErrInvalidArgument", err)
	}
	if got := srv.Signals(); !reflect.DeepEqual(got, []string{"ACTIVE"}) {
		t.Errorf("signals seen = %q", got)
	}
}

func TestFetchDescriptor(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	srv.SetKnownRelays(fpA, fpB)
	desc := "hs-descriptor 3\ndescriptor-lifetime 180\n.leading dot\nsignature abc\n"
	srv.SetDescriptor(addr, []byte(desc))
	c := start(t, testConfig(srv))
	ctx := ctxT(t)

	if err := c.FetchDescriptor(ctx, addr, []string{fpA, "$" + fpB + "~nick"}); err != nil {
		t.Fatal(err)
	}
	want := []torctltest.Fetch{{Address: addr, Servers: []string{fpA, fpB}}}
	if got := srv.Fetches(); !reflect.DeepEqual(got, want) {
		t.Errorf("fetches = %+v, want %+v", got, want)
	}
	seen := map[string]bool{}
	for range 2 {
		ev := next[torctl.DescReceived](t, c)
		if ev.Address != addr || string(ev.Descriptor) != desc || len(ev.Blinded) != 43 {
			t.Errorf("DescReceived = %+v", ev)
		}
		seen[ev.HSDir] = true
	}
	if !seen[fpA] || !seen[fpB] {
		t.Errorf("descriptors from %v, want %s and %s", seen, fpA, fpB)
	}

	other := "q" + addr[1:]
	if err := c.FetchDescriptor(ctx, other, []string{fpA}); err != nil {
		t.Fatal(err)
	}
	if ev := next[torctl.DescFailed](t, c); ev.Address != other || ev.HSDir != fpA || ev.Reason != "NOT_FOUND" {
		t.Errorf("DescFailed = %+v", ev)
	}

	err := c.FetchDescriptor(ctx, addr, []string{fpC})
	if !errors.Is(err, torctl.ErrUnknownServer) {
		t.Errorf("fetch from an unknown relay: error = %v, want ErrUnknownServer", err)
	}
}

func TestPostDescriptor(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	srv.SetKnownRelays(fpA, fpB, fpC)
	srv.FailUploadsTo(fpB)
	c := start(t, testConfig(srv))
	ctx := ctxT(t)

	// Lines starting with "." and printf verbs must reach tor unchanged.
	desc := "hs-descriptor 3\n.\n..two\n.x %s %d %!v\nsignature 100%\n"
	if err := c.PostDescriptor(ctx, []byte(desc), addr, []string{fpA, fpB, fpC}); err != nil {
		t.Fatal(err)
	}
	// Each HSDir's outcome arrives as an event.
	got := map[string]string{}
	timeout := time.After(waitBound)
	for len(got) < 3 {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("Events closed")
			}
			switch e := ev.(type) {
			case torctl.Uploaded:
				if e.Address == addr {
					got[e.HSDir] = "uploaded"
				}
			case torctl.UploadFailed:
				if e.Address == addr {
					got[e.HSDir] = "failed " + e.Reason
				}
			}
		case <-timeout:
			t.Fatalf("upload events within %v: %v", waitBound, got)
		}
	}
	if want := map[string]string{fpA: "uploaded", fpB: "failed UPLOAD_REJECTED", fpC: "uploaded"}; !reflect.DeepEqual(got, want) {
		t.Errorf("upload events = %v, want %v", got, want)
	}
	posts := srv.Posts()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	if got := string(posts[0].Descriptor); got != desc {
		t.Errorf("tor received %q, want %q", got, desc)
	}
	if want := "+HSPOST SERVER=" + fpA + " SERVER=" + fpB + " SERVER=" + fpC + " HSADDRESS=" + addr; posts[0].FirstLine != want {
		t.Errorf("command line %q, want %q", posts[0].FirstLine, want)
	}

	if err := c.PostDescriptor(ctx, []byte(desc), addr, []string{"DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"}); !errors.Is(err, torctl.ErrUnknownServer) {
		t.Errorf("post to an unknown relay: error = %v, want ErrUnknownServer", err)
	}
	var re *torctl.ReplyError
	err := c.PostDescriptor(ctx, []byte("not a descriptor\n"), addr, []string{fpA})
	if !errors.Is(err, torctl.ErrInvalidDescriptor) || !errors.As(err, &re) || re.Code != 554 {
		t.Errorf("post of garbage: error = %v, want a 554 ReplyError", err)
	}
}

func TestEventsAndConsensus(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	c := start(t, testConfig(srv))
	if _, err := srv.Emit("STATUS_CLIENT NOTICE CONSENSUS_ARRIVED"); err != nil {
		t.Fatal(err)
	}
	if ev := next[torctl.ConsensusArrived](t, c); ev.Source != "STATUS_CLIENT" {
		t.Errorf("ConsensusArrived = %+v", ev)
	}
	if _, err := srv.EmitData("NEWCONSENSUS", []byte("r relay AAAA BBBB 2026-01-01 00:00:00 1.2.3.4 9001 0\ns Fast\n")); err != nil {
		t.Fatal(err)
	}
	if ev := next[torctl.ConsensusArrived](t, c); ev.Source != "NEWCONSENSUS" {
		t.Errorf("ConsensusArrived = %+v", ev)
	}
}

// TestSlowConsumerNeverBlocksReader emits many events while nobody reads Events: the reader keeps
// consuming (it drops the overflow instead of blocking), commands keep working, and the consumer
// later gets the kept events in order and exactly total - dropped of them.
func TestSlowConsumerNeverBlocksReader(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	cfg := testConfig(srv)
	cfg.EventQueue = 100
	c := start(t, cfg)
	if err := srv.WaitSubscribers(ctxT(t), "HS_DESC_CONTENT", 1); err != nil {
		t.Fatal(err)
	}
	const total = 600
	pad := strings.Repeat("x", 4<<10)
	for i := range total {
		body := fmt.Sprintf("hs-descriptor 3\n%06d\n%s\n", i, pad)
		if n, err := srv.EmitData("HS_DESC_CONTENT "+addr+" "+strings.Repeat("b", 43)+" $"+fpA+"~n", []byte(body)); err != nil || n != 1 {
			t.Fatalf("event %d: delivered to %d connections, %v", i, n, err)
		}
	}
	if _, err := c.GetInfo(ctxT(t), "version"); err != nil {
		t.Fatalf("command while the consumer is stalled: %v", err)
	}
	// At most queue+1 events can be kept (one may sit in the delivery goroutine): the reader
	// must have gone through all the others without the consumer reading anything.
	deadline := time.Now().Add(waitBound)
	for c.DroppedEvents() < total-101 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := c.DroppedEvents(); got < total-101 {
		t.Fatalf("dropped %d events, want at least %d: the reader stalled", got, total-101)
	}
	last, received := -1, 0
	for received+int(c.DroppedEvents()) < total {
		ev := next[torctl.DescReceived](t, c)
		var idx int
		if _, err := fmt.Sscanf(strings.Split(string(ev.Descriptor), "\n")[1], "%d", &idx); err != nil || idx <= last {
			t.Fatalf("event out of order: index %d after %d (%v)", idx, last, err)
		}
		last = idx
		received++
	}
	if received > 101 {
		t.Errorf("received %d events, more than the queue could hold", received)
	}
}

func TestReconnectAfterDrop(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{Auth: torctltest.AuthSafeCookie})
	c := start(t, testConfig(srv))
	ctx := ctxT(t)
	if err := srv.WaitSubscribers(ctx, "HS_DESC", 1); err != nil {
		t.Fatal(err)
	}

	srv.DropConnections()
	if ev := next[torctl.Disconnected](t, c); ev.Err == nil {
		t.Error("Disconnected without an error")
	}
	if ev := next[torctl.Reconnected](t, c); ev.Initial {
		t.Error("second Reconnected has Initial set")
	}
	// Re-subscribed on exactly one (new) connection, and commands work again.
	if err := srv.WaitSubscribers(ctx, "HS_DESC", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInfo(ctx, "version"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Emit("HS_DESC UPLOADED " + addr + " UNKNOWN $" + fpA + "~n"); err != nil {
		t.Fatal(err)
	}
	if ev := next[torctl.Uploaded](t, c); ev.HSDir != fpA {
		t.Errorf("Uploaded after reconnect = %+v", ev)
	}
}

// TestUnansweredCommandReconnects: a command tor never answers fails the connection after
// RequestTimeout instead of wedging every later command.
func TestUnansweredCommandReconnects(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	cfg := testConfig(srv)
	cfg.RequestTimeout = 300 * time.Millisecond
	c := start(t, cfg)
	srv.HangOn("SIGNAL")

	err := c.Signal(ctxT(t), "ACTIVE")
	if !errors.Is(err, torctl.ErrConnectionLost) {
		t.Fatalf("unanswered SIGNAL: error = %v, want ErrConnectionLost", err)
	}
	next[torctl.Disconnected](t, c)
	next[torctl.Reconnected](t, c)
	if _, err := c.GetInfo(ctxT(t), "version"); err != nil {
		t.Fatalf("GetInfo after reconnect: %v", err)
	}

	// A caller's own deadline returns early, independent of RequestTimeout.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Signal(short, "ACTIVE"); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, torctl.ErrConnectionLost) {
		t.Errorf("SIGNAL with a short deadline: error = %v", err)
	}
}

func TestNotConnected(t *testing.T) {
	cfg := torctl.DefaultConfig()
	cfg.Address = "unix:" + filepath.Join(t.TempDir(), "nothing-here")
	c, err := torctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PostDescriptor(ctxT(t), []byte("hs-descriptor 3\n"), addr, []string{fpA}); !errors.Is(err, torctl.ErrNotConnected) {
		t.Errorf("error = %v, want ErrNotConnected", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.WaitReady(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady error = %v, want DeadlineExceeded", err)
	}
	if _, err := torctl.New(torctl.Config{Address: "x"}); !errors.Is(err, torctl.ErrInvalidConfig) {
		t.Errorf("New with a bad config: error = %v, want ErrInvalidConfig", err)
	}
}

// Concurrent commands from several goroutines (the publisher, the heartbeat's bootstrap probe) must all
// get their own replies: bine's SendRequest alone can deadlock when two callers interleave.
func TestConcurrentRequests(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	srv.SetInfo("status/bootstrap-phase", `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`)
	srv.SetInfo("md/all", "onion-key\nid ed25519 x\n")
	c := start(t, testConfig(srv))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if g%2 == 0 {
					if b, err := c.BootstrapPhase(ctx); err != nil || b.Progress != 100 {
						errs <- fmt.Errorf("BootstrapPhase = %+v, %v", b, err)
					}
				} else if md, err := c.Microdescs(ctx); err != nil || string(md) != "onion-key\nid ed25519 x\n" {
					errs <- fmt.Errorf("Microdescs = %q, %v", md, err)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// doneSpy is a context that reports when a caller first waits on it: then the caller has passed any
// check of the context made before it starts waiting.
type doneSpy struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func (d *doneSpy) Done() <-chan struct{} {
	d.once.Do(func() { close(d.waiting) })
	return d.Context.Done()
}

// A command whose context ends while it waits for the command connection (another command is in
// flight) is never sent, not even once the connection is free: an HSPOST bounded by the leader's
// self-fencing deadline must not reach tor after that deadline.
func TestCommandNotSentAfterItsContextEndedInTheQueue(t *testing.T) {
	srv := torctltest.Start(t, torctltest.Options{})
	c := start(t, testConfig(srv))
	arrived, release := srv.Hold("SIGNAL")
	defer release()
	sigErr := make(chan error, 1)
	go func() { sigErr <- c.Signal(ctxT(t), "ACTIVE") }()
	select {
	case <-arrived:
	case <-time.After(waitBound):
		t.Fatal("the SIGNAL never reached the fake")
	}

	// The SIGNAL occupies the command connection; the HSPOST queues behind it.
	postCtx, cancel := context.WithCancel(ctxT(t))
	spy := &doneSpy{Context: postCtx, waiting: make(chan struct{})}
	postErr := make(chan error, 1)
	go func() { postErr <- c.PostDescriptor(spy, []byte("hs-descriptor 3\n"), addr, []string{fpA}) }()
	select {
	case <-spy.waiting:
	case <-time.After(waitBound):
		t.Fatal("PostDescriptor never waited")
	}
	cancel() // the deadline passes while the HSPOST waits
	select {
	case err := <-postErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("PostDescriptor = %v, want context.Canceled", err)
		}
	case <-time.After(waitBound):
		t.Fatal("PostDescriptor did not return when its context ended")
	}

	// A later command queues too; once the connection is free it is sent, the expired HSPOST is not.
	infoSpy := &doneSpy{Context: ctxT(t), waiting: make(chan struct{})}
	infoErr := make(chan error, 1)
	go func() {
		_, err := c.GetInfo(infoSpy, "version")
		infoErr <- err
	}()
	select {
	case <-infoSpy.waiting:
	case <-time.After(waitBound):
		t.Fatal("GetInfo never waited")
	}
	release()
	if err := <-sigErr; err != nil {
		t.Fatalf("SIGNAL: %v", err)
	}
	// Commands on one connection reach the fake in order: an HSPOST sent before the GETINFO has
	// been seen by the time the GETINFO is answered.
	if err := <-infoErr; err != nil {
		t.Fatalf("GETINFO: %v", err)
	}
	if posts := srv.Posts(); len(posts) != 0 {
		t.Fatalf("tor got %d HSPOST(s) whose context had ended before they were sent", len(posts))
	}
}
