package publisher

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store/record"
)

var b64 = base64.RawStdEncoding

// testNetwork is a synthetic Tor network: a consensus with n HSDirs and their microdescriptors.
type testNetwork struct {
	consensus, mds []byte
	validAfter     time.Time
}

func newTestNetwork(t *testing.T, n int, validAfter time.Time, vi time.Duration) *testNetwork {
	t.Helper()
	var cons, mds strings.Builder
	f := func(format string, a ...any) { fmt.Fprintf(&cons, format+"\n", a...) }
	f("network-status-version 3 microdesc")
	f("vote-status consensus")
	f("consensus-method 35")
	f("valid-after %s", validAfter.UTC().Format("2006-01-02 15:04:05"))
	f("fresh-until %s", validAfter.Add(vi).UTC().Format("2006-01-02 15:04:05"))
	f("valid-until %s", validAfter.Add(3*vi).UTC().Format("2006-01-02 15:04:05"))
	f("voting-delay 4 4")
	f("known-flags Authority Exit Fast Guard HSDir Running Stable V2Dir Valid")
	f("params hsdir_spread_store=4")
	f("shared-rand-previous-value 9 %s", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f("shared-rand-current-value 9 %s", base64.StdEncoding.EncodeToString(bytesOf(7, 32)))
	for i := 0; i < n; i++ {
		var ed [32]byte
		rand.Read(ed[:])
		var ntor [32]byte
		rand.Read(ntor[:])
		md := fmt.Sprintf("onion-key\nntor-onion-key %s\nid ed25519 %s\n", b64.EncodeToString(ntor[:]), b64.EncodeToString(ed[:]))
		mds.WriteString(md)
		digest := sha256.Sum256([]byte(md))
		id := make([]byte, 20)
		rand.Read(id)
		f("r relay%d %s 2038-01-01 00:00:00 127.0.0.1 %d 0", i, b64.EncodeToString(id), 5000+i)
		f("m %s", b64.EncodeToString(digest[:]))
		f("s Fast Guard HSDir Running Stable V2Dir Valid")
		f("v Tor 0.4.9.11")
		f("pr Cons=1-2 Desc=1-4 DirCache=2 FlowCtrl=1-2 HSDir=2 HSIntro=4-5 HSRend=1-2 Link=3-5 Microdesc=1-3 Relay=2-4")
		f("w Bandwidth=100")
	}
	f("directory-footer")
	return &testNetwork{consensus: []byte(cons.String()), mds: []byte(mds.String()), validAfter: validAfter}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// testBackend is a backend onion service whose descriptor the fake tor serves.
type testBackend struct {
	key    *hsv3.IdentityKey
	intros []hsv3.IntroPoint
	rev    uint64
}

func newTestBackend(t *testing.T, nIntros int, now time.Time) *testBackend {
	t.Helper()
	k, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{key: k, rev: 100}
	b.newIntros(t, nIntros, now)
	return b
}

// newIntros gives the backend fresh intro points, as tor does when it rotates them.
func (b *testBackend) newIntros(t *testing.T, n int, now time.Time) {
	t.Helper()
	b.intros = nil
	exp := uint32(now.Add(54*time.Hour).Unix()/3600) + 1
	for i := 0; i < n; i++ {
		authPub, _, _ := ed25519.GenerateKey(rand.Reader)
		encPub, _, _ := ed25519.GenerateKey(rand.Reader)
		// Two link specifiers, as tor writes them: 127.0.0.1:5000+i and a random relay identity, so
		// that no two intro points share a relay.
		lspecs := []byte{2, 0, 6, 127, 0, 0, 1, 0x13, byte(0x88 + i), 2, 20}
		lspecs = append(lspecs, make([]byte, 20)...)
		rand.Read(lspecs[len(lspecs)-20:])
		ip := hsv3.IntroPoint{
			LinkSpecifiersRaw: lspecs,
			AuthKeyCert:       &hsv3.Cert{Type: hsv3.CertTypeIntroAuth, CertifiedKey: authPub, ExpirationHours: exp},
			EncKeyCert:        &hsv3.Cert{Type: hsv3.CertTypeIntroEnc, CertifiedKey: encPub, ExpirationHours: exp},
		}
		rand.Read(ip.OnionKey[:])
		rand.Read(ip.EncKey[:])
		ls, err := hsv3.ParseLinkSpecifiers(ip.LinkSpecifiersRaw)
		if err != nil {
			t.Fatal(err)
		}
		ip.LinkSpecifiers = ls
		b.intros = append(b.intros, ip)
	}
	b.rev++
}

func (b *testBackend) descriptor(t *testing.T, slot hashring.TimePeriod, now time.Time) []byte {
	t.Helper()
	d, err := hsv3.Encode(hsv3.EncodeParams{Identity: b.key, PeriodNum: slot.Period, PeriodLength: slot.PeriodLength,
		RevisionCounter: b.rev, IntroPoints: b.intros, Now: now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type fetchCall struct {
	addr    string
	servers []string
}

type post struct {
	addr     string
	servers  []string
	desc     []byte
	deadline time.Time // of the context PostDescriptor got; zero: none
}

// fakeTor serves the synthetic network and the backends' descriptors, and records uploads.
type fakeTor struct {
	t        *testing.T
	net      *testNetwork
	now      func() time.Time
	mu       sync.Mutex
	backends map[string]*testBackend // by address
	down     map[string]bool         // backends whose descriptor is not found
	events   chan torctl.Event
	fetches  int
	posts    []post
	postErr  error
	rejects  map[string]bool // HSDirs that answer UPLOAD_REJECTED

	// held are the descriptors HSDirs hold for addresses that are not backends (the master's), by
	// address and HSDir fingerprint; other HSDirs answer NOT_FOUND.
	held map[string]map[string]torctl.DescReceived
	// silent are addresses whose fetches tor never answers.
	silent map[string]bool
	// otherFetches are the HSFETCHes of addresses that are not backends; fetches counts the others.
	otherFetches []fetchCall
}

func newFakeTor(t *testing.T, n *testNetwork, now func() time.Time) *fakeTor {
	return &fakeTor{t: t, net: n, now: now, backends: map[string]*testBackend{}, down: map[string]bool{},
		events: make(chan torctl.Event, 10000)}
}

func (f *fakeTor) add(b *testBackend) { f.backends[b.key.Address()] = b }

func (f *fakeTor) Consensus(context.Context) ([]byte, error)  { return f.net.consensus, nil }
func (f *fakeTor) Microdescs(context.Context) ([]byte, error) { return f.net.mds, nil }

func (f *fakeTor) FetchDescriptor(_ context.Context, addr string, servers []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.backends[addr]
	if b == nil {
		f.otherFetches = append(f.otherFetches, fetchCall{addr: addr, servers: servers})
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
	cons, err := hashring.ParseConsensus(f.net.consensus)
	if err != nil {
		return err
	}
	slot := cons.ClientTimePeriod()
	blinded, _ := hsv3.BlindPublicKey(b.key.PublicKey(), slot.Period, slot.PeriodLength)
	desc := b.descriptor(f.t, slot, f.now())
	for _, s := range servers {
		f.events <- torctl.DescReceived{Address: addr, HSDir: s, Blinded: b64.EncodeToString(blinded), Descriptor: desc}
	}
	return nil
}

func (f *fakeTor) PostDescriptor(ctx context.Context, desc []byte, addr string, servers []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.postErr != nil {
		return f.postErr
	}
	deadline, _ := ctx.Deadline()
	f.posts = append(f.posts, post{addr: addr, servers: servers, desc: desc, deadline: deadline})
	for _, s := range servers {
		if f.rejects[s] {
			f.events <- torctl.UploadFailed{Address: addr, HSDir: s, Reason: "UPLOAD_REJECTED"}
		} else {
			f.events <- torctl.Uploaded{Address: addr, HSDir: s}
		}
	}
	return nil
}

func (f *fakeTor) takePosts() []post {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.posts
	f.posts = nil
	return p
}

// memState is an in-memory Records.
type memState struct {
	mu        sync.Mutex
	instances map[string]map[string]record.Instance
	published map[string]map[string]record.Publish
	writes    int
}

func newMemState() *memState {
	return &memState{instances: map[string]map[string]record.Instance{}, published: map[string]map[string]record.Publish{}}
}

func (s *memState) Instances(_ context.Context, svc string) ([]record.Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []record.Instance
	for _, r := range s.instances[svc] {
		out = append(out, r)
	}
	return out, nil
}

func (s *memState) PublishedAll(_ context.Context, svc string) (map[string]record.Publish, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]record.Publish{}
	for k, v := range s.published[svc] {
		v.HSDirs = cloneMap(v.HSDirs)
		out[k] = v
	}
	return out, nil
}

func (s *memState) PutInstance(_ context.Context, _ int64, svc string, rec record.Instance) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instances[svc] == nil {
		s.instances[svc] = map[string]record.Instance{}
	}
	s.instances[svc][rec.Address] = rec
	s.writes++
	return nil
}

func (s *memState) PutPublished(_ context.Context, _ int64, svc, slot string, rec record.Publish) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.published[svc] == nil {
		s.published[svc] = map[string]record.Publish{}
	}
	rec.HSDirs = cloneMap(rec.HSDirs)
	s.published[svc][slot] = rec
	s.writes++
	return nil
}

func (s *memState) RecordKeys(context.Context) (map[string]record.ServiceKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]record.ServiceKeys{}
	for svc, m := range s.instances {
		r := out[svc]
		for inst := range m {
			r.Instances = append(r.Instances, inst)
		}
		out[svc] = r
	}
	for svc, m := range s.published {
		r := out[svc]
		for slot := range m {
			r.Published = append(r.Published, slot)
		}
		out[svc] = r
	}
	return out, nil
}

func (s *memState) DeleteRecords(_ context.Context, _ int64, svc string, insts, slots []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range insts {
		delete(s.instances[svc], inst)
	}
	for _, slot := range slots {
		delete(s.published[svc], slot)
	}
	s.writes++
	return nil
}

// fakeLeader is a Leadership the test switches.
type fakeLeader struct {
	mu      sync.Mutex
	epoch   int64
	leading bool
	fenced  bool
	until   time.Time // the self-fencing deadline MayPublish returns (real time); zero: an hour from now
}

func (l *fakeLeader) set(leading bool, epoch int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leading, l.epoch = leading, epoch
}

func (l *fakeLeader) IsLeader() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.leading
}

func (l *fakeLeader) MayPublish(_ context.Context, epoch int64) (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leading || l.fenced || epoch != l.epoch {
		return time.Time{}, errors.New("fenced: not leader")
	}
	if l.until.IsZero() {
		return time.Now().Add(time.Hour), nil
	}
	return l.until, nil
}

// nowClock is the harness's clock: Now reads the time the test moves step by step; timers and
// tickers are real (Run's one-second tick only makes it look again).
type nowClock struct {
	clock.Real
	now func() time.Time
}

func (c nowClock) Now() time.Time { return c.now() }
