package publishertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
)

// FetchCall is one HSFETCH.
type FetchCall struct {
	Addr    string
	Servers []string
}

// Post is one HSPOST.
type Post struct {
	Addr     string
	Servers  []string
	Desc     []byte
	Deadline time.Time // of the context PostDescriptor got; zero: none
}

// Tor is a publisher.Tor that serves a Network and the descriptors of its Backends, and records
// uploads. Its answers arrive on Events, as tor's would: a fetch of a backend answers with the
// backend's descriptor from every HSDir asked, a fetch of any other address with the descriptors set
// by SetHeld (NOT_FOUND elsewhere), and an upload with UPLOADED (UPLOAD_REJECTED, naming the
// descriptor's blinded key, from HSDirs set by SetRejects). Safe for concurrent use.
type Tor struct {
	t      testing.TB
	now    func() time.Time
	events chan torctl.Event

	mu       sync.Mutex
	net      *Network
	backends map[string]*Backend // by address
	down     map[string]bool     // backends whose descriptor is not found
	fetches  int
	posts    []Post
	postErr  error
	rejects  map[string]bool
	held     map[string]map[string]torctl.DescReceived
	silent   map[string]bool
	others   []FetchCall
}

// NewTor returns a fake tor serving n; now is the time its backends sign their descriptors at.
func NewTor(t testing.TB, n *Network, now func() time.Time) *Tor {
	return &Tor{t: t, net: n, now: now, backends: map[string]*Backend{}, down: map[string]bool{},
		events: make(chan torctl.Event, 10000)}
}

// Add serves b's descriptor.
func (f *Tor) Add(b *Backend) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backends[b.Key.Address()] = b
}

// Events is the event feed (buffered; a test may also send its own events into it).
func (f *Tor) Events() chan torctl.Event { return f.events }

// SetNetwork serves the consensus and microdescriptors of n from now on. They are copied into the
// Network given to NewTor, so whoever holds that one sees them too.
func (f *Tor) SetNetwork(n *Network) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.net.Consensus, f.net.Microdescs = n.Consensus, n.Microdescs
}

// SetDown makes fetches of backend addr fail (NOT_FOUND), or serve it again.
func (f *Tor) SetDown(addr string, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[addr] = down
}

// SetRejects makes the HSDirs in fps (fingerprint -> true) answer uploads with UPLOAD_REJECTED;
// nil accepts everywhere.
func (f *Tor) SetRejects(fps map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejects = fps
}

// SetPostErr makes PostDescriptor fail with err (nil: succeed).
func (f *Tor) SetPostErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.postErr = err
}

// SetHeld sets the descriptors HSDirs hold for addresses that are not backends (the master's), by
// address and HSDir fingerprint; other HSDirs answer NOT_FOUND.
func (f *Tor) SetHeld(held map[string]map[string]torctl.DescReceived) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = held
}

// SetSilent sets the addresses whose fetches tor never answers.
func (f *Tor) SetSilent(addrs map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.silent = addrs
}

// Fetches is how many fetches of backends were made.
func (f *Tor) Fetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches
}

// ResetFetches sets the count of Fetches to 0.
func (f *Tor) ResetFetches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches = 0
}

// OtherFetches returns the fetches of addresses that are not backends.
func (f *Tor) OtherFetches() []FetchCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FetchCall(nil), f.others...)
}

// TakePosts returns the uploads since the last call.
func (f *Tor) TakePosts() []Post {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.posts
	f.posts = nil
	return p
}

// Consensus returns the network's consensus.
func (f *Tor) Consensus(context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.net.Consensus, nil
}

// Microdescs returns the network's microdescriptors.
func (f *Tor) Microdescs(context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.net.Microdescs, nil
}

// FetchDescriptor answers on Events for each of servers.
func (f *Tor) FetchDescriptor(_ context.Context, addr string, servers []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.backends[addr]
	if b == nil {
		f.others = append(f.others, FetchCall{Addr: addr, Servers: servers})
	} else {
		f.fetches++
	}
	if f.silent[addr] {
		return nil
	}
	if b == nil || f.down[addr] {
		for _, s := range servers { // tor answers for each HSDir asked
			if ev, ok := f.held[addr][s]; ok {
				f.events <- ev
			} else {
				f.events <- torctl.DescFailed{Address: addr, HSDir: s, Reason: "NOT_FOUND"}
			}
		}
		return nil
	}
	cons, err := hashring.ParseConsensus(f.net.Consensus)
	if err != nil {
		return err
	}
	tp := cons.ClientTimePeriod()
	blinded, _ := hsv3.BlindPublicKey(b.Key.PublicKey(), tp.Period, tp.PeriodLength)
	desc := b.Descriptor(f.t, tp, f.now())
	for _, s := range servers {
		f.events <- torctl.DescReceived{Address: addr, HSDir: s, Blinded: b64.EncodeToString(blinded), Descriptor: desc}
	}
	return nil
}

// PostDescriptor records the upload and answers on Events for each of servers.
func (f *Tor) PostDescriptor(ctx context.Context, desc []byte, addr string, servers []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.postErr != nil {
		return f.postErr
	}
	deadline, _ := ctx.Deadline()
	f.posts = append(f.posts, Post{Addr: addr, Servers: servers, Desc: desc, Deadline: deadline})
	for _, s := range servers {
		if f.rejects[s] {
			// Like tor, the refusal names the descriptor's blinded key.
			f.events <- torctl.UploadFailed{Address: addr, HSDir: s, Blinded: f.blindedOf(desc, addr), Reason: "UPLOAD_REJECTED"}
		} else {
			f.events <- torctl.Uploaded{Address: addr, HSDir: s}
		}
	}
	return nil
}

// blindedOf returns the blinded key of desc (a descriptor of addr) as tor names it in events, or "" when
// desc does not decode.
func (f *Tor) blindedOf(desc []byte, addr string) string {
	d, err := hsv3.DecodeForAddress(desc, addr, hsv3.DecodeOptions{SkipExpiryCheck: true})
	if err != nil {
		return ""
	}
	return b64.EncodeToString(d.BlindedKey)
}
