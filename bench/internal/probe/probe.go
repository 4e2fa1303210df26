// Package probe looks at onion-service descriptors through tor control ports, for the benchmarks: the
// copies a set of HSDirs serve (HSFETCH with SERVER=) and a service's own current descriptor (GETINFO
// hs/service/desc/id/ADDR). Descriptors are verified and decrypted with package hsv3 and reduced to the
// intro points' auth keys, which survive the balancer's re-certification unchanged.
package probe

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
)

// Copy is what one HSDir answered for one address.
type Copy struct {
	HSDir string `json:"hsdir"`
	// Revision is the descriptor's revision counter (0 when Err is set).
	Revision uint64 `json:"revision,omitempty"`
	// AuthKeys are the intro points' auth keys (standard base64), sorted.
	AuthKeys []string `json:"intro_auth_keys,omitempty"`
	// Err is tor's failure reason (NOT_FOUND, ...) or why the descriptor did not decode.
	Err string `json:"error,omitempty"`
}

// Conn is one authenticated control connection to a tor, with its event stream.
type Conn struct {
	tor    *torctl.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	addr string
	ch   chan torctl.Event
}

// Dial connects to the control port at addr ("127.0.0.1:PORT", "tcp:..." or "unix:...") with cookie
// or no authentication, and waits (bounded by ctx) until the connection is up.
func Dial(ctx context.Context, addr string, log hclog.Logger) (*Conn, error) {
	cfg := torctl.DefaultConfig()
	cfg.Address = addr
	cfg.RequestTimeout = 20 * time.Second
	cfg.ReconnectMax = 2 * time.Second
	cfg.Logger = log
	tor, err := torctl.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("probe: control %s: %w", addr, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	c := &Conn{tor: tor, cancel: cancel, done: make(chan struct{}), subs: map[*subscription]struct{}{}}
	go func() {
		defer close(c.done)
		_ = tor.Run(rctx)
	}()
	go c.dispatch(rctx)
	if err := tor.WaitReady(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("probe: control %s: %w", addr, err)
	}
	return c, nil
}

// Close ends the connection and waits for its goroutines.
func (c *Conn) Close() {
	c.cancel()
	<-c.done
}

// Tor returns the underlying control client.
func (c *Conn) Tor() *torctl.Client { return c.tor }

func (c *Conn) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-c.tor.Events():
			if !ok {
				return
			}
			var addr string
			switch e := ev.(type) {
			case torctl.DescReceived:
				addr = e.Address
			case torctl.DescFailed:
				addr = e.Address
			default:
				continue
			}
			c.mu.Lock()
			for s := range c.subs {
				if s.addr == addr {
					select {
					case s.ch <- ev:
					default: // a slow reader loses copies; Fetch reports them missing
					}
				}
			}
			c.mu.Unlock()
		}
	}
}

func (c *Conn) subscribe(addr string) *subscription {
	s := &subscription{addr: addr, ch: make(chan torctl.Event, 256)}
	c.mu.Lock()
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	return s
}

func (c *Conn) unsubscribe(s *subscription) {
	c.mu.Lock()
	delete(c.subs, s)
	c.mu.Unlock()
}

// HSDirs returns the fingerprints of every relay with the HSDir flag in tor's consensus, sorted.
func (c *Conn) HSDirs(ctx context.Context) ([]string, error) {
	text, err := c.tor.Consensus(ctx)
	if err != nil {
		return nil, err
	}
	cons, err := hashring.ParseConsensus(text)
	if err != nil {
		return nil, fmt.Errorf("probe: consensus: %w", err)
	}
	var out []string
	for i := range cons.Relays {
		if cons.Relays[i].HSDir {
			out = append(out, cons.Relays[i].Fingerprint())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Trigger asks tor to fetch addr's descriptor from servers and returns at once; a successful fetch
// lands in tor's client cache.
func (c *Conn) Trigger(ctx context.Context, addr string, servers []string) error {
	return c.tor.FetchDescriptor(ctx, trimOnion(addr), servers)
}

// Fetch asks every one of servers for addr's descriptor and returns one Copy per server that
// answered within wait (a server that did not answer is absent). Copies are sorted by HSDir.
func (c *Conn) Fetch(ctx context.Context, addr string, servers []string, wait time.Duration, now func() time.Time) ([]Copy, error) {
	addr = trimOnion(addr)
	s := c.subscribe(addr)
	defer c.unsubscribe(s)
	if err := c.tor.FetchDescriptor(ctx, addr, servers); err != nil {
		return nil, fmt.Errorf("probe: HSFETCH %s: %w", addr, err)
	}
	want := map[string]bool{}
	for _, fp := range servers {
		want[strings.ToUpper(fp)] = true
	}
	got := map[string]Copy{}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(got) < len(want) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return sortCopies(got), nil
		case ev := <-s.ch:
			switch e := ev.(type) {
			case torctl.DescReceived:
				if want[e.HSDir] {
					got[e.HSDir] = decodeCopy(e.HSDir, e.Descriptor, addr, now())
				}
			case torctl.DescFailed:
				if want[e.HSDir] {
					if _, seen := got[e.HSDir]; !seen {
						got[e.HSDir] = Copy{HSDir: e.HSDir, Err: e.Reason}
					}
				}
			}
		}
	}
	return sortCopies(got), nil
}

func sortCopies(m map[string]Copy) []Copy {
	out := make([]Copy, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HSDir < out[j].HSDir })
	return out
}

func decodeCopy(hsdir string, raw []byte, addr string, now time.Time) Copy {
	keys, rev, err := IntroAuthKeys(raw, addr, now)
	if err != nil {
		return Copy{HSDir: hsdir, Err: err.Error()}
	}
	return Copy{HSDir: hsdir, Revision: rev, AuthKeys: keys}
}

// ErrNoDescriptor is returned by Own when tor has no current descriptor for the service yet.
var ErrNoDescriptor = errors.New("probe: no current descriptor")

// Own returns the intro-point auth keys of the current descriptor of addr, an onion service run by the
// tor behind this connection.
func (c *Conn) Own(ctx context.Context, addr string, now time.Time) ([]string, error) {
	addr = trimOnion(addr)
	v, err := c.tor.GetInfo(ctx, "hs/service/desc/id/"+addr)
	if err != nil {
		var re *torctl.ReplyError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w for %s: %w", ErrNoDescriptor, addr, err)
		}
		return nil, err
	}
	keys, _, err := IntroAuthKeys([]byte(v), addr, now)
	return keys, err
}

// IntroAuthKeys verifies and decrypts a descriptor of addr and returns its intro points' auth keys
// (sorted, standard base64) and its revision counter.
func IntroAuthKeys(raw []byte, addr string, now time.Time) ([]string, uint64, error) {
	d, err := hsv3.DecodeForAddress(raw, trimOnion(addr), hsv3.DecodeOptions{Now: now})
	if err != nil {
		return nil, 0, err
	}
	keys := make([]string, 0, len(d.IntroPoints()))
	for i := range d.IntroPoints() {
		ip := &d.IntroPoints()[i]
		keys = append(keys, base64.StdEncoding.EncodeToString(ip.AuthKey()))
	}
	sort.Strings(keys)
	return keys, d.RevisionCounter, nil
}

func trimOnion(addr string) string { return strings.TrimSuffix(addr, ".onion") }
