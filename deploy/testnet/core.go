package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// newNode returns a node with its directory and log path under the network's
// directory. It does not create the directory.
func (n *Network) newNode(name string, role Role) Node {
	dir := filepath.Join(n.opts.Dir, name)
	return Node{
		Name:  name,
		Role:  role,
		Ports: make(map[string]int),
		Dir:   dir,
		Log:   filepath.Join(dir, "notice.log"),
	}
}

// makeNodeDir creates a node's directory; it must not exist yet, so that a
// node never starts on another network's keys.
func makeNodeDir(nd Node) error {
	if err := os.Mkdir(nd.Dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("testnet: node %s: %s already exists (remove it or choose another directory)", nd.Name, nd.Dir)
		}
		return fmt.Errorf("testnet: node %s: %w", nd.Name, err)
	}
	return nil
}

// prepareTor writes the node's torrc from c (filling in the fields common to
// the network) and sets the node's command, environment and cookie path.
func (n *Network) prepareTor(nd *Node, c torrcConfig, auths []authorityEntry) error {
	c.Role = nd.Role
	c.DataDir = nd.Dir
	c.LogFile = nd.Log
	c.ControlPort = nd.Ports[PortControl]
	c.Authorities = auths
	if !n.opts.Detach {
		c.OwnerPID = os.Getpid()
	}
	if !n.opts.NoMemoryTuning {
		c.NumCPUs = 1
		nd.Env = []string{"MALLOC_ARENA_MAX=2"}
	}
	nd.Torrc = filepath.Join(nd.Dir, "torrc")
	if err := os.WriteFile(nd.Torrc, []byte(renderTorrc(c)), 0o644); err != nil {
		return fmt.Errorf("testnet: node %s: %w", nd.Name, err)
	}
	nd.Args = []string{n.desc.Tor, "-f", nd.Torrc, "--defaults-torrc", os.DevNull}
	nd.ControlCookie = filepath.Join(nd.Dir, "control_auth_cookie")
	return nil
}

// authorityEntries returns the DirAuthority lines of the recorded authorities.
func (n *Network) authorityEntries() []authorityEntry {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []authorityEntry
	for _, a := range n.desc.NodesWithRole(RoleAuthority) {
		out = append(out, authorityEntry{
			Nickname:    a.Name,
			ORPort:      a.Ports[PortOR],
			DirPort:     a.Ports[PortDir],
			V3Ident:     a.V3Ident,
			Fingerprint: a.Fingerprint,
		})
	}
	return out
}

// startCore creates keys and torrcs for the authorities, relays and client,
// starts them all and waits until each answers on its control port.
func (n *Network) startCore(ctx context.Context, bins Binaries) error {
	o := n.opts
	ports, err := n.allocPorts(3*(o.Authorities+o.Relays) + 2)
	if err != nil {
		return err
	}
	next := func() int {
		p := ports[0]
		ports = ports[1:]
		return p
	}

	// Keys first, concurrently: tor-gencert's RSA key takes seconds of CPU.
	nodes := make([]Node, o.Authorities+o.Relays)
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i := range nodes {
		role, name := RoleAuthority, fmt.Sprintf("auth%d", i+1)
		if i >= o.Authorities {
			role, name = RoleRelay, fmt.Sprintf("relay%d", i+1-o.Authorities)
		}
		nd := n.newNode(name, role)
		nd.Ports[PortOR], nd.Ports[PortDir], nd.Ports[PortControl] = next(), next(), next()
		wg.Go(func() {
			errs[i] = makeRelayKeys(ctx, bins, &nd)
			nodes[i] = nd
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n.mu.Lock()
	for _, nd := range nodes {
		n.desc.put(nd) // recorded before start, so authorityEntries sees it
	}
	n.mu.Unlock()

	client := n.newNode("client", RoleClient)
	client.Ports[PortSocks], client.Ports[PortControl] = next(), next()
	if err := makeNodeDir(client); err != nil {
		return err
	}
	nodes = append(nodes, client)

	auths := n.authorityEntries()
	for i := range nodes {
		c := torrcConfig{Nickname: nodes[i].Name, ORPort: nodes[i].Ports[PortOR], DirPort: nodes[i].Ports[PortDir], SocksPort: nodes[i].Ports[PortSocks]}
		if err := n.prepareTor(&nodes[i], c, auths); err != nil {
			return err
		}
	}
	client = nodes[len(nodes)-1]
	n.mu.Lock()
	n.desc.Client = ClientInfo{
		Socks:         loopback(client.Ports[PortSocks]),
		Control:       client.ControlAddr(),
		ControlCookie: client.ControlCookie,
	}
	n.mu.Unlock()
	for _, nd := range nodes {
		if err := n.startNode(nd); err != nil {
			return err
		}
	}
	for _, nd := range nodes {
		if err := n.waitControl(ctx, nd.Name); err != nil {
			return err
		}
	}
	return nil
}

// makeRelayKeys creates a relay's directory and identity keys, and an
// authority's certificate, and records the fingerprints in nd.
func makeRelayKeys(ctx context.Context, bins Binaries, nd *Node) error {
	if err := makeNodeDir(*nd); err != nil {
		return err
	}
	var err error
	if nd.Role == RoleAuthority {
		if nd.V3Ident, err = makeAuthorityKeys(ctx, bins, nd.Dir, nd.Ports[PortDir]); err != nil {
			return err
		}
	}
	nd.Fingerprint, err = relayFingerprint(ctx, bins, nd.Dir, nd.Name, nd.Ports[PortOR])
	return err
}

// WaitReady waits, at most Options.ReadyTimeout, until the client reports
// bootstrap 100% and its consensus lists every authority and relay as HSDir.
func (n *Network) WaitReady(ctx context.Context) error {
	n.mu.Lock()
	want := len(n.desc.NodesWithRole(RoleAuthority)) + len(n.desc.NodesWithRole(RoleRelay))
	n.mu.Unlock()
	client, ok := n.Node("client")
	if !ok {
		return fmt.Errorf("%w: client", ErrNoNode)
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.ReadyTimeout)
	defer cancel()
	p := &prober{addr: client.ControlAddr(), cookie: client.ControlCookie}
	defer p.Close()
	var last Readiness
	var lastErr error
	for {
		r, err := p.probe(ctx)
		if err == nil && r != last {
			n.log.Info("client progress", "bootstrap", r.Bootstrap, "relays", r.Relays, "hsdirs", r.HSDirs, "want_hsdirs", want)
			last = r
		}
		lastErr = err
		if err == nil && r.Bootstrap == 100 && r.HSDirs >= want {
			return nil
		}
		if err := n.checkAlive(client.Name); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			tail, _ := n.LogTail(client.Name, 15)
			return fmt.Errorf("%w (%v, timeout %s): client bootstrap %d%%, %d of %d HSDirs (last probe error: %v); client log:\n%s",
				ErrNotReady, context.Cause(ctx), n.opts.ReadyTimeout, last.Bootstrap, last.HSDirs, want, lastErr, tail)
		case <-time.After(time.Second):
		}
	}
}
