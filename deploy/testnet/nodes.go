package testnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// startNode starts nd's process and records it.
func (n *Network) startNode(nd Node) error {
	c, err := startProcess(nd)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	nd.PID = c.pid
	n.children[nd.Name] = c
	n.started = append(n.started, startRecord{name: nd.Name, pid: c.pid, done: c.done})
	n.desc.put(nd)
	n.log.Debug("started", "node", nd.Name, "pid", c.pid)
	return n.save()
}

// checkAlive returns an error with the node's log tail if its process is gone.
func (n *Network) checkAlive(name string) error {
	n.mu.Lock()
	nd, ok := n.desc.Node(name)
	alive := ok && n.aliveLocked(nd)
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoNode, name)
	}
	if alive {
		return nil
	}
	tail, _ := n.LogTail(name, 15)
	out, _ := fileTail(stdoutFile(nd), 5)
	return fmt.Errorf("testnet: node %s (pid %d) exited; log %s:\n%s\nstdout:\n%s", name, nd.PID, nd.Log, tail, out)
}

// waitControl waits, at most Options.NodeStartTimeout, until a tor node
// accepts an authenticated control connection.
func (n *Network) waitControl(ctx context.Context, name string) error {
	nd, _ := n.Node(name)
	return n.poll(ctx, name, n.opts.NodeStartTimeout, "control port "+nd.ControlAddr(), func(ctx context.Context) error {
		c, err := dialControl(ctx, nd.ControlAddr(), nd.ControlCookie)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// waitBootstrap waits, at most Options.ReadyTimeout, until a tor node reports
// bootstrap 100%.
func (n *Network) waitBootstrap(ctx context.Context, name string) error {
	nd, _ := n.Node(name)
	p := &prober{addr: nd.ControlAddr(), cookie: nd.ControlCookie}
	defer p.Close()
	return n.poll(ctx, name, n.opts.ReadyTimeout, "bootstrap 100%", func(ctx context.Context) error {
		r, err := p.probe(ctx)
		if err != nil {
			return err
		}
		if r.Bootstrap < 100 {
			return fmt.Errorf("bootstrap at %d%%", r.Bootstrap)
		}
		return nil
	})
}

// poll calls probe every 200 ms until it succeeds, the node's process exits,
// or timeout passes.
func (n *Network) poll(ctx context.Context, name string, timeout time.Duration, what string, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := probe(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		if aerr := n.checkAlive(name); aerr != nil {
			return aerr
		}
		select {
		case <-ctx.Done():
			tail, _ := n.LogTail(name, 15)
			return fmt.Errorf("testnet: node %s: no %s within %s: %w (%v); log:\n%s", name, what, timeout, err, context.Cause(ctx), tail)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StopNode stops one node's process and records it as stopped. Its files
// (keys included) stay, so StartNode brings it back with the same identity.
func (n *Network) StopNode(ctx context.Context, name string) error {
	n.mu.Lock()
	nd, ok := n.desc.Node(name)
	c := n.children[name]
	srv := n.servers[name]
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoNode, name)
	}
	switch {
	case srv != nil:
		if err := srv.Close(); err != nil {
			return fmt.Errorf("testnet: node %s: %w", name, err)
		}
	case nd.InProcess:
		n.log.Info("leaving in-process node to its own process", "node", name, "pid", nd.PID)
		return nil
	case nd.PID != 0:
		var done <-chan struct{}
		if c != nil {
			done = c.done
		}
		if err := stopProcess(ctx, nd.PID, nd.Args, done, n.opts.StopTimeout); err != nil {
			return fmt.Errorf("testnet: node %s: %w", name, err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.children, name)
	delete(n.servers, name)
	if i := n.desc.index(name); i >= 0 {
		n.desc.Nodes[i].PID = 0
	}
	n.log.Debug("stopped", "node", name, "pid", nd.PID)
	return n.save()
}

// StartNode starts a stopped node again with its recorded command and waits
// until it is ready: tor nodes answer on their control port (onion services
// also bootstrap), HTTP servers answer with their name.
func (n *Network) StartNode(ctx context.Context, name string) error {
	n.mu.Lock()
	nd, ok := n.desc.Node(name)
	alive := ok && nd.PID != 0 && n.aliveLocked(nd)
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoNode, name)
	}
	if alive {
		return fmt.Errorf("%w: node %s (pid %d)", ErrRunning, name, nd.PID)
	}
	if nd.InProcess {
		return n.serveInProcess(nd)
	}
	if err := n.startNode(nd); err != nil {
		return err
	}
	switch nd.Role {
	case RoleHTTP:
		return n.waitHTTP(ctx, nd)
	case RoleOnionService:
		if err := n.waitControl(ctx, name); err != nil {
			return err
		}
		return n.waitBootstrap(ctx, name)
	default:
		if nd.Torrc != "" {
			return n.waitControl(ctx, name)
		}
		return nil
	}
}

// waitHTTP waits until an HTTP node answers GET / with its name.
func (n *Network) waitHTTP(ctx context.Context, nd Node) error {
	return n.poll(ctx, nd.Name, n.opts.NodeStartTimeout, "HTTP answer on "+nd.Listen, func(ctx context.Context) error {
		return checkName(ctx, nd.Listen, nd.Answer)
	})
}

// readHostname reads the onion address tor wrote to dir/hostname.
func readHostname(dir string) (string, error) {
	path := filepath.Join(dir, "hostname")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	addr, err := NormalizeOnionAddress(string(trimNewline(b)))
	if err != nil {
		return "", fmt.Errorf("testnet: %s: %w", path, err)
	}
	return addr, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
