package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
)

// torControl is a control connection to a tor of the network, used to fetch
// descriptors back from the HSDirs. Fetches are serialised.
type torControl struct {
	c      *torctl.Client
	events chan torctl.Event
	fetch  sync.Mutex
}

// dialTorControl connects to the control port at addr (cookie
// authentication) until cleanup.
func dialTorControl(t testing.TB, addr string) *torControl {
	t.Helper()
	cfg := torctl.DefaultConfig()
	cfg.Address = "tcp:" + addr
	cfg.ReconnectMax = 2 * time.Second
	c, err := torctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tc := &torControl{c: c, events: make(chan torctl.Event, 256)}
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		c.Run(ctx)
	}()
	go func() {
		for ev := range c.Events() {
			switch ev.(type) {
			case torctl.DescReceived, torctl.DescFailed:
				select {
				case tc.events <- ev:
				default: // nobody is fetching: drop
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-runDone
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return tc
}

// fetchResult is the outcome of fetching one descriptor from several HSDirs.
type fetchResult struct {
	Descriptors map[string][]byte // by HSDir fingerprint
	Failures    map[string]string // HSDir fingerprint -> tor's reason
}

// fetchDescriptors fetches addr's descriptor (56 characters, no ".onion")
// stored under blinded (as tor writes it in events) from each of servers with
// one HSFETCH, and waits until every server answered or ctx ends. Servers that
// have not answered are in Failures with the reason "no answer". Answers for
// another blinded key are ignored: the tor also fetches on its own when a test
// uses it as a client, and at a time-period boundary for the other key.
func (tc *torControl) fetchDescriptors(ctx context.Context, addr, blinded string, servers []string) (fetchResult, error) {
	tc.fetch.Lock()
	defer tc.fetch.Unlock()
	res := fetchResult{Descriptors: map[string][]byte{}, Failures: map[string]string{}}
	for drained := false; !drained; { // results of an earlier, abandoned fetch
		select {
		case <-tc.events:
		default:
			drained = true
		}
	}
	if err := tc.c.FetchDescriptor(ctx, addr, servers); err != nil {
		return res, fmt.Errorf("HSFETCH %s: %w", addr, err)
	}
	pending := map[string]bool{}
	for _, s := range servers {
		pending[strings.ToUpper(s)] = true
	}
	for len(pending) > 0 {
		select {
		case ev := <-tc.events:
			switch e := ev.(type) {
			case torctl.DescReceived:
				if e.Address == addr && e.Blinded == blinded && pending[e.HSDir] {
					res.Descriptors[e.HSDir] = e.Descriptor
					delete(pending, e.HSDir)
				}
			case torctl.DescFailed:
				if e.Address == addr && (e.Blinded == "" || e.Blinded == blinded) && pending[e.HSDir] {
					res.Failures[e.HSDir] = e.Reason
					delete(pending, e.HSDir)
				}
			}
		case <-ctx.Done():
			for s := range pending {
				res.Failures[s] = "no answer"
			}
			return res, nil
		}
	}
	return res, nil
}

// netView is what the tor behind a torControl knows of the network now.
type netView struct {
	cons *hashring.Consensus
}

// view loads the consensus and microdescriptors of the tor.
func (tc *torControl) view(ctx context.Context) (*netView, error) {
	text, err := tc.c.Consensus(ctx)
	if err != nil {
		return nil, err
	}
	cons, err := hashring.ParseConsensus(text)
	if err != nil {
		return nil, err
	}
	mdText, err := tc.c.Microdescs(ctx)
	if err != nil {
		return nil, err
	}
	mds, err := hashring.ParseMicrodescs(mdText)
	if err != nil {
		return nil, err
	}
	cons.AttachMicrodescs(mds)
	return &netView{cons: cons}, nil
}

// clientHSDirs returns the blinded key a client fetches addr's descriptor
// under now (unpadded base64, as in tor's events) and the HSDirs holding it
// (the client slot's responsible HSDirs), sorted.
func (v *netView) clientHSDirs(addr string) (string, []string, error) {
	identity, err := hsv3.DecodeAddress(addr)
	if err != nil {
		return "", nil, err
	}
	slot := v.cons.ClientTimePeriod()
	blinded, err := hsv3.BlindPublicKey(identity, slot.Period, slot.PeriodLength)
	if err != nil {
		return "", nil, err
	}
	var out []string
	for _, h := range hashring.NewRing(v.cons, slot).Responsible([32]byte(blinded)) {
		out = append(out, h.Fingerprint)
	}
	if len(out) == 0 {
		return "", nil, fmt.Errorf("no HSDir on the hash ring of %s (consensus %s)", addr, v.cons.ValidAfter)
	}
	sort.Strings(out)
	return base64.RawStdEncoding.EncodeToString(blinded), out, nil
}

// fetchFromResponsible fetches addr's current descriptor from every HSDir
// responsible for it, retrying the ones that have not served it, until all
// served it or ctx ends.
func (tc *torControl) fetchFromResponsible(ctx context.Context, addr string) (fetchResult, error) {
	var res fetchResult
	for {
		v, err := tc.view(ctx)
		if err != nil {
			return res, err
		}
		blinded, servers, err := v.clientHSDirs(addr)
		if err != nil {
			return res, err
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err = tc.fetchDescriptors(fctx, addr, blinded, servers)
		cancel()
		if err != nil {
			return res, err
		}
		if len(res.Failures) == 0 {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%s.onion: %d of %d responsible HSDirs did not serve the descriptor: %v: %w",
				addr, len(res.Failures), len(servers), res.Failures, ctx.Err())
		case <-time.After(3 * time.Second):
		}
	}
}

// newnym sends SIGNAL NEWNYM: new circuits and an empty onion-service client
// cache, so the next request fetches the descriptor again.
func (tc *torControl) newnym(ctx context.Context) error {
	return tc.c.Signal(ctx, "NEWNYM")
}
