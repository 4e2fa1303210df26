package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/obcluster/obcluster/bench/internal/probe"
	"github.com/obcluster/obcluster/internal/clock"
)

// killResult is how long a killed backend's intro points stayed in one balancer's master descriptor.
type killResult struct {
	Kind kind `json:"kind"`
	// Gone is from the kill to the first poll where every HSDir serving the master descriptor served
	// one without the dead backend's intro points. OK false: not within the bound.
	Gone  time.Duration `json:"gone"`
	OK    bool          `json:"ok"`
	Bound time.Duration `json:"bound"`
	Note  string        `json:"note,omitempty"`
}

// killPhase runs both balancers at once, each with its own management tor and master, over backends
// 1, 2 and 4; backend4 serves no other master, so killing it disturbs no other measure.
type killPhase struct {
	mu      sync.Mutex
	results []killResult
	done    chan struct{}
}

func (k *killPhase) wait(ctx context.Context) []killResult {
	select {
	case <-k.done:
	case <-ctx.Done():
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]killResult(nil), k.results...)
}

const victim = "backend4"

var killBackends = []string{"backend1", "backend2", victim}

// startKill starts the two balancers, waits until both master descriptors carry the victim's intro
// points, kills the victim and returns; the polling goes on in the background for up to bound.
func (b *bench) startKill(ctx context.Context, py, ours master, bound time.Duration) (*killPhase, error) {
	conn, err := probe.Dial(ctx, b.net.Client().Control, nil)
	if err != nil {
		return nil, err
	}
	k := &killPhase{done: make(chan struct{})}
	var bls []*balancer
	for _, spec := range []struct {
		kind kind
		m    master
		tor  string
	}{{kindPython, py, "mgmt-python-kill"}, {kindOurs, ours, "mgmt-ours-kill"}} {
		bl, err := b.startBalancer(spec.kind, "kill-"+string(spec.kind), spec.m, killBackends, b.mgmt[spec.tor].control, "")
		if err != nil {
			conn.Close()
			return nil, err
		}
		bls = append(bls, bl)
	}
	stopAll := func() {
		for _, bl := range bls {
			b.stopBalancer(bl)
		}
		conn.Close()
	}

	// live holds every intro point seen in the descriptors of the backends that stay up; anything
	// else in a master descriptor is the victim's (whose next-period intro points we cannot list).
	// A service's tor has one descriptor (with its own intro points) per time period, and the one it
	// calls current is not always the one clients fetch now (nor the one the master fetched now is
	// built from): so the live backends' descriptors are also fetched from the HSDirs as the
	// master's are.
	live := map[string]bool{}
	victimKeys := map[string]bool{}
	refresh := func() {
		for _, name := range killBackends {
			nd, _ := b.net.Node(name)
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			keys, err := b.ownKeys(cctx, nd.ControlAddr(), nd.Onion)
			cancel()
			if err == nil {
				for key := range keys {
					if name == victim {
						victimKeys[key] = true
					} else {
						live[key] = true
					}
				}
			}
			if name == victim {
				continue
			}
			copies, err := conn.Fetch(ctx, nd.Onion, b.hsdirs, 6*time.Second, time.Now)
			if err != nil {
				continue
			}
			for _, c := range copies {
				for _, key := range c.AuthKeys {
					live[key] = true
				}
			}
		}
	}

	// Wait until both masters carry the victim.
	carried := map[kind]bool{}
	deadline := time.Now().Add(4 * time.Minute)
	for len(carried) < len(bls) && time.Now().Before(deadline) && ctx.Err() == nil {
		tick := time.Now()
		refresh()
		for _, bl := range bls {
			if carried[bl.kind] || len(victimKeys) == 0 {
				continue
			}
			copies, err := conn.Fetch(ctx, bl.master.addr, b.hsdirs, 6*time.Second, time.Now)
			if err != nil {
				continue
			}
			if _, with := countWith(copies, victimKeys); with > 0 {
				carried[bl.kind] = true
				b.log.Info("kill phase: master carries the victim", "kind", bl.kind, "after", time.Since(bl.started).Round(time.Second))
			}
		}
		clock.Sleep(ctx, clock.Real{}, time.Until(tick.Add(3*time.Second)))
	}
	if err := ctx.Err(); err != nil {
		stopAll()
		return nil, err
	}

	killed := time.Now()
	if err := b.killNode(ctx, victim); err != nil {
		stopAll()
		return nil, err
	}
	b.log.Info("kill phase: backend killed; polling in the background", "backend", victim, "bound", bound)
	go func() {
		defer close(k.done)
		defer stopAll()
		res := map[kind]*killResult{}
		for _, bl := range bls {
			r := &killResult{Kind: bl.kind, Bound: bound}
			if !carried[bl.kind] {
				r.Note = "the master never carried the victim's intro points before the kill"
			}
			res[bl.kind] = r
		}
		for ctx.Err() == nil && time.Since(killed) < bound {
			tick := time.Now()
			refresh()
			pending := 0
			for _, bl := range bls {
				r := res[bl.kind]
				if r.OK {
					continue
				}
				pending++
				copies, err := conn.Fetch(ctx, bl.master.addr, b.hsdirs, 6*time.Second, time.Now)
				if err != nil {
					continue
				}
				serving, foreign := 0, 0
				for _, c := range copies {
					if c.Err != "" {
						continue
					}
					serving++
					for _, key := range c.AuthKeys {
						if !live[key] {
							foreign++
							break
						}
					}
				}
				if serving > 0 && foreign == 0 {
					r.Gone, r.OK = tick.Sub(killed), true
					pending--
					b.log.Info("kill phase: victim gone from the master", "kind", bl.kind, "after", r.Gone.Round(time.Second))
				}
			}
			if pending == 0 {
				break
			}
			clock.Sleep(ctx, clock.Real{}, time.Until(tick.Add(10*time.Second)))
		}
		k.mu.Lock()
		for _, bl := range bls {
			r := res[bl.kind]
			if t, ok := firstLogLine(bl.log, "lost the tor control connection", bl.started); ok {
				r.Note = strings.TrimPrefix(r.Note+"; ", "; ") + fmt.Sprintf("lost its tor control connection %ss after start", secs(t.Sub(bl.started)))
			}
			k.results = append(k.results, *r)
		}
		k.mu.Unlock()
	}()
	return k, nil
}

// killNode kills a node of the network with SIGKILL (no clean shutdown, as when a backend's host
// dies) and records it as stopped.
func (b *bench) killNode(ctx context.Context, name string) error {
	nd, ok := b.net.Node(name)
	if !ok || nd.PID == 0 {
		return fmt.Errorf("kill %s: not running", name)
	}
	if err := syscall.Kill(nd.PID, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %s (pid %d): %w", name, nd.PID, err)
	}
	if err := b.net.StopNode(ctx, name); err != nil {
		return fmt.Errorf("kill %s: %w", name, err)
	}
	return nil
}
