package torctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"
	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/internal/clock"
)

// Client is a self-healing connection to one tor control port. Its methods are safe for
// concurrent use. Create it with New and drive it with Run.
type Client struct {
	cfg    Config
	log    hclog.Logger
	queue  *eventQueue
	events chan Event
	// socksLock serializes SocksForProbes (a buffered channel of one, so waiting honours ctx).
	socksLock chan struct{}

	mu      sync.Mutex
	sess    *session      // nil while disconnected
	ready   chan struct{} // closed while sess != nil
	started bool
}

// New checks cfg and returns a client that is not connected yet; call Run.
func New(cfg Config) (*Client, error) {
	if cfg.Auth == "" {
		cfg.Auth = AuthAuto
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Client{
		cfg:       cfg,
		log:       log,
		queue:     newEventQueue(cfg.EventQueue),
		events:    make(chan Event),
		ready:     make(chan struct{}),
		socksLock: make(chan struct{}, 1),
	}, nil
}

// Events returns the channel of events. It is closed when Run returns. Events that find
// Config.EventQueue events already waiting are dropped; see DroppedEvents.
func (c *Client) Events() <-chan Event {
	return c.events
}

// DroppedEvents returns how many events were dropped because the consumer fell behind.
func (c *Client) DroppedEvents() uint64 {
	return c.queue.droppedCount()
}

// Connected reports whether both control connections are currently up.
func (c *Client) Connected() bool {
	return c.current() != nil
}

// WaitReady blocks until both control connections are up or ctx ends.
func (c *Client) WaitReady(ctx context.Context) error {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("torctl: waiting for the control port %s: %w", c.cfg.Address, ctx.Err())
	}
}

// Run connects, keeps both connections up until ctx ends, and then closes them and the Events
// channel. A lost connection is re-established with exponential backoff between ReconnectMin and
// ReconnectMax; each success sends Reconnected. Run returns nil when ctx ends, and an error only
// when called a second time.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("torctl: Run called twice")
	}
	c.started = true
	c.mu.Unlock()

	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(c.events)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.queue.deliver(ctx, c.events)
	}()

	wait := c.cfg.ReconnectMin
	initial := true
	for {
		s, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("cannot connect to the tor control port", "address", c.cfg.Address, "error", err, "retry_in", wait)
			if !clock.Sleep(ctx, clock.Real{}, wait) {
				return nil
			}
			wait = min(2*wait, c.cfg.ReconnectMax)
			continue
		}
		up := time.Now()
		c.log.Info("connected to the tor control port", "address", c.cfg.Address, "initial", initial)
		c.setSession(s)
		// Reconnected goes first; events tor sends meanwhile wait in the socket.
		c.queue.push(Reconnected{Initial: initial})
		initial = false
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.readEvents(s)
		}()

		select {
		case <-s.done:
		case <-ctx.Done():
			s.fail(fmt.Errorf("torctl: shutting down: %w", ctx.Err()))
		}
		c.clearSession(s)
		if ctx.Err() != nil {
			return nil
		}
		err = s.cause()
		c.log.Warn("lost the tor control connection", "address", c.cfg.Address, "error", err)
		c.queue.push(Disconnected{Err: err})
		if time.Since(up) >= c.cfg.ReconnectMax {
			wait = c.cfg.ReconnectMin // it was stable: start over
		}
		if !clock.Sleep(ctx, clock.Real{}, wait) {
			return nil
		}
		wait = min(2*wait, c.cfg.ReconnectMax)
	}
}

func (c *Client) current() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

func (c *Client) setSession(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess = s
	close(c.ready)
}

func (c *Client) clearSession(s *session) {
	c.mu.Lock()
	if c.sess == s {
		c.sess = nil
		c.ready = make(chan struct{})
	}
	c.mu.Unlock()
}

// connect opens, authenticates and subscribes both connections within RequestTimeout.
func (c *Client) connect(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	s := newSession()
	// Closing the sockets when ctx ends unblocks any read or write of the handshake.
	stop := context.AfterFunc(ctx, func() { s.fail(ctx.Err()) })
	defer stop()

	cmd, err := c.dial(ctx, s)
	if err != nil {
		return nil, c.connectErr(ctx, s, "command connection", err)
	}
	ev, err := c.dial(ctx, s)
	if err != nil {
		return nil, c.connectErr(ctx, s, "event connection", err)
	}
	if _, err := ev.SendRequest("SETEVENTS %s", strings.Join(subscribedEvents, " ")); err != nil {
		return nil, c.connectErr(ctx, s, "SETEVENTS", err)
	}
	if !stop() {
		return nil, c.connectErr(ctx, s, "handshake", ctx.Err())
	}
	s.cmd, s.ev = cmd, ev
	return s, nil
}

func (c *Client) connectErr(ctx context.Context, s *session, step string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	err = fmt.Errorf("torctl: %s %s: %w", c.cfg.Address, step, err)
	s.fail(err)
	return err
}

// dial opens one socket, registers it with s and authenticates on it.
func (c *Client) dial(ctx context.Context, s *session) (*control.Conn, error) {
	network, address, err := parseAddress(c.cfg.Address)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if err := s.add(raw); err != nil {
		return nil, err
	}
	conn := control.NewConn(textproto.NewConn(raw))
	if err := authenticate(conn, c.cfg); err != nil {
		return nil, err
	}
	return conn, nil
}

// readEvents is the only reader of the event connection. It never blocks on the consumer: events
// go to the queue, which drops when full. It returns when the connection fails.
func (c *Client) readEvents(s *session) {
	for {
		resp, err := s.ev.ReadResponse()
		if err != nil {
			s.fail(fmt.Errorf("event connection: %w", err))
			return
		}
		if !resp.IsAsync() {
			c.log.Warn("unexpected reply on the event connection", "reply", resp.Reply)
			continue
		}
		text := resp.Reply
		if len(resp.Data) > 0 {
			text = resp.Data[0]
		}
		ev := parseEvent(text)
		if ev == nil {
			continue
		}
		if !c.queue.push(ev) {
			if n := c.queue.droppedCount(); n == 1 || n%1000 == 0 {
				c.log.Warn("event consumer is behind: dropping events", "dropped_total", n)
			}
		}
	}
}

// request sends one command on the command connection and waits for its reply or ctx. A command
// tor leaves unanswered for RequestTimeout fails the session (the connection is then useless: every
// later reply would queue behind it), whether or not the caller is still waiting.
//
// The command is written only if ctx is still live once the command connection is free: a caller
// whose context ends while it waits behind another command returns, and its command is never sent
// (an upload bounded by the leader's self-fencing deadline does not reach tor after it). Once written,
// a command cannot be taken back: tor may act on it even if ctx ends before the reply.
func (c *Client) request(ctx context.Context, verb, format string, args ...any) (*control.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("torctl: %s: %w", verb, err)
	}
	s := c.current()
	if s == nil {
		return nil, fmt.Errorf("torctl: %s: %w", verb, ErrNotConnected)
	}
	select {
	case s.cmdLock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("torctl: %s: %w", verb, ctx.Err())
	case <-s.done:
		return nil, fmt.Errorf("torctl: %s: %w: %v", verb, ErrConnectionLost, s.cause())
	}
	// select picks at random among ready cases: check again now that the connection is ours.
	if err := ctx.Err(); err != nil {
		<-s.cmdLock
		return nil, fmt.Errorf("torctl: %s: %w", verb, err)
	}
	type result struct {
		resp *control.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		watchdog := time.AfterFunc(c.cfg.RequestTimeout, func() {
			s.fail(fmt.Errorf("%s: no reply within %v", verb, c.cfg.RequestTimeout))
		})
		resp, err := s.cmd.SendRequest(format, args...)
		<-s.cmdLock
		watchdog.Stop()
		var te *textproto.Error
		switch {
		case err == nil:
		case errors.As(err, &te):
			msg := te.Msg
			if resp != nil {
				msg = resp.Reply // bine prefixes its own text to te.Msg
			}
			err = &ReplyError{Command: verb, Code: te.Code, Message: msg}
		default:
			// Broken socket or garbled reply: the connection is unusable, even if the caller left.
			s.fail(fmt.Errorf("command connection: %w", err))
			resp, err = nil, fmt.Errorf("torctl: %s: %w: %w", verb, ErrConnectionLost, err)
		}
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("torctl: %s: %w", verb, ctx.Err())
	case <-s.done:
		return nil, fmt.Errorf("torctl: %s: %w: %v", verb, ErrConnectionLost, s.cause())
	}
}
