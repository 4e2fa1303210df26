package main

import (
	"context"
	"strings"
	"time"

	"github.com/obcluster/obcluster/bench/internal/probe"
	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/internal/clock"
)

// reach polls the master address through the client every second (fresh circuit per request) until
// it answers with a backend's name, and returns the time since the balancer started. Before each
// request the client is asked to fetch the master descriptor from every HSDir (HSFETCH SERVER=...),
// because tor does not ask the same HSDir again for 15 minutes after a failed fetch. ok is false
// when it did not answer within bound.
func (b *bench) reach(ctx context.Context, bl *balancer, bound time.Duration) (time.Duration, bool) {
	deadline := bl.started.Add(bound)
	url := "http://" + bl.master.addr + "/"
	for time.Now().Before(deadline) && ctx.Err() == nil {
		tick := time.Now()
		_ = b.client.Trigger(ctx, bl.master.addr, b.hsdirs)
		gctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		body, err := testnet.Get(gctx, b.socks, url)
		cancel()
		if err == nil && strings.HasPrefix(strings.TrimSpace(body), "backend") {
			return time.Since(bl.started), true
		}
		clock.Sleep(ctx, clock.Real{}, time.Until(tick.Add(time.Second)))
	}
	return 0, false
}

// restartResult is one backend restart as seen on the HSDirs.
type restartResult struct {
	Backend string `json:"backend"`
	// OwnAfter is from the backend's start to its own descriptor showing new intro points.
	OwnAfter time.Duration `json:"own_after"`
	// First and All are from that moment to the first HSDir, and to every HSDir serving the master
	// descriptor, serving one with at least one of the new intro points. Zero with OK false: not
	// within the bound.
	First   time.Duration `json:"first"`
	All     time.Duration `json:"all"`
	FirstOK bool          `json:"first_ok"`
	AllOK   bool          `json:"all_ok"`
	Serving int           `json:"serving"` // HSDirs that served a master descriptor at the end
}

// restart stops and starts backend name and measures how long the master descriptor on the HSDirs
// takes to carry the backend's new intro points.
func (b *bench) restart(ctx context.Context, bl *balancer, name string, bound time.Duration) (restartResult, error) {
	res := restartResult{Backend: name}
	nd, _ := b.net.Node(name)
	old, err := b.ownKeys(ctx, nd.ControlAddr(), nd.Onion)
	if err != nil {
		return res, err
	}
	// A service's tor has one descriptor (with its own intro points) per time period, and the one
	// it calls current is not always the one clients fetch now, from which the master fetched now
	// is built: the backend's descriptor as the HSDirs serve it counts too, before and after.
	for k := range b.hsdirKeys(ctx, nd.Onion) {
		old[k] = true
	}
	if err := b.net.StopNode(ctx, name); err != nil {
		return res, err
	}
	started := time.Now()
	if err := b.net.StartNode(ctx, name); err != nil {
		return res, err
	}
	fresh := map[string]bool{}
	var ownAt time.Time
	for time.Since(started) < bound && ctx.Err() == nil {
		tick := time.Now()
		keys, err := b.ownKeys(ctx, nd.ControlAddr(), nd.Onion)
		if err == nil {
			for k := range keys {
				if !old[k] {
					fresh[k] = true
				}
			}
		}
		if len(fresh) > 0 && ownAt.IsZero() {
			ownAt = tick
			res.OwnAfter = ownAt.Sub(started)
		}
		if len(fresh) > 0 {
			for k := range b.hsdirKeys(ctx, nd.Onion) {
				if !old[k] {
					fresh[k] = true
				}
			}
			copies, err := b.client.Fetch(ctx, bl.master.addr, b.hsdirs, 6*time.Second, time.Now)
			if err == nil {
				serving, with := countWith(copies, fresh)
				res.Serving = serving
				if with > 0 && !res.FirstOK {
					res.First, res.FirstOK = tick.Sub(ownAt), true
				}
				if serving > 0 && with == serving {
					res.All, res.AllOK = tick.Sub(ownAt), true
					return res, nil
				}
			}
		}
		clock.Sleep(ctx, clock.Real{}, time.Until(tick.Add(2*time.Second)))
	}
	return res, nil
}

// countWith counts the copies that decoded, and those among them holding any of keys.
func countWith(copies []probe.Copy, keys map[string]bool) (serving, with int) {
	for _, c := range copies {
		if c.Err != "" {
			continue
		}
		serving++
		for _, k := range c.AuthKeys {
			if keys[k] {
				with++
				break
			}
		}
	}
	return serving, with
}

// hsdirKeys returns the intro-point auth keys of the descriptors of addr the HSDirs serve to the
// client now, as a set (empty when none answered).
func (b *bench) hsdirKeys(ctx context.Context, addr string) map[string]bool {
	set := map[string]bool{}
	copies, err := b.client.Fetch(ctx, addr, b.hsdirs, 6*time.Second, time.Now)
	if err != nil {
		return set
	}
	for _, c := range copies {
		for _, k := range c.AuthKeys {
			set[k] = true
		}
	}
	return set
}

// ownKeys returns the intro-point auth keys of a service's own current descriptor, as a set.
func (b *bench) ownKeys(ctx context.Context, control, addr string) (map[string]bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := probe.Dial(cctx, control, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	keys, err := c.Own(cctx, addr, time.Now())
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, k := range keys {
		set[k] = true
	}
	return set, nil
}

// spread sends n requests to the master, each on a fresh circuit, and counts the answers by body. It
// gives up after 3 failures in a row.
func (b *bench) spread(ctx context.Context, m master, n int) map[string]int {
	counts := map[string]int{}
	failedInARow := 0
	for i := 0; i < n && ctx.Err() == nil && failedInARow < 3; i++ {
		gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		body, err := testnet.Get(gctx, b.socks, "http://"+m.addr+"/")
		cancel()
		if err != nil {
			counts["failed"]++
			failedInARow++
			continue
		}
		failedInARow = 0
		counts[strings.TrimSpace(body)]++
	}
	return counts
}

// window samples a process's /proc usage at the end of the window that began when it started.
// It returns early (ok false) if the process exits first.
func windowUsage(ctx context.Context, p *proc, window time.Duration) (usage, bool) {
	var last usage
	for {
		u, err := readUsage(p.pid())
		if err != nil || !p.alive() {
			return last, false
		}
		last = u
		if time.Since(p.started) >= window {
			return u, true
		}
		select {
		case <-ctx.Done():
			return last, false
		case <-p.done:
			return last, false
		case <-time.After(min(time.Second, time.Until(p.started.Add(window)))):
		}
	}
}
