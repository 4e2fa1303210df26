package testnet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ErrRunning is returned when a directory already holds a running network,
// or a node to start is already running.
var ErrRunning = errors.New("testnet: already running")

// ErrNotReady is wrapped when the network does not become ready in time.
var ErrNotReady = errors.New("testnet: network not ready")

// ErrNoNode is wrapped when a node name is unknown.
var ErrNoNode = errors.New("testnet: no such node")

// Network is a running (or recorded) private Tor network. Its methods are
// safe for concurrent use.
type Network struct {
	opts Options
	log  hclog.Logger

	mu        sync.Mutex
	desc      *Description
	children  map[string]*child       // processes this Network started, by node name
	servers   map[string]*http.Server // in-process HTTP servers, by node name
	started   []startRecord           // every process ever started, for Leftovers
	usedPorts map[int]bool            // ports handed out by allocPorts
}

type startRecord struct {
	name string
	pid  int
	done <-chan struct{}
}

// NodeStatus is a node and whether its process runs.
type NodeStatus struct {
	Node
	Alive bool
}

func newNetwork(opts Options, desc *Description) *Network {
	return &Network{
		opts:      opts,
		log:       opts.Logger,
		desc:      desc,
		children:  make(map[string]*child),
		servers:   make(map[string]*http.Server),
		usedPorts: make(map[int]bool),
	}
}

// Up starts a network in opts.Dir: authorities, relays and a client, waits
// until the client is bootstrapped and its consensus lists every HSDir, then
// starts opts.Backends OnionBalance-instance backends and opts.ManagementTors
// management tors. On error it stops
// everything it started.
func Up(ctx context.Context, opts Options) (_ *Network, err error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, errors.New("testnet: Options.Dir is empty")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	opts.Dir = dir
	bins, err := FindBinaries(ctx, opts.TorPath, opts.TorGencertPath)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, opts.Logger); err != nil {
		return nil, err
	}
	n := newNetwork(opts, &Description{
		Version:    DescriptionVersion,
		Dir:        dir,
		Tor:        bins.Tor,
		TorVersion: bins.Version.String(),
	})
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*opts.StopTimeout+10*time.Second)
			defer cancel()
			err = errors.Join(err, n.Down(stopCtx))
		}
	}()
	began := time.Now()
	if err := n.startCore(ctx, bins); err != nil {
		return nil, err
	}
	if err := n.WaitReady(ctx); err != nil {
		return nil, err
	}
	n.log.Info("network ready", "dir", dir, "elapsed", time.Since(began).Round(time.Second))
	if opts.Backends > 0 {
		if _, err := n.AddBackends(ctx, opts.Backends, opts.Master); err != nil {
			return nil, err
		}
	}
	if opts.ManagementTors > 0 {
		if _, err := n.AddManagementTors(ctx, opts.ManagementTors); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Open returns the network recorded in dir/testnet.json, to stop it, restart
// nodes or report status from another process.
func Open(dir string, opts Options) (*Network, error) {
	opts = opts.withDefaults()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	opts.Dir = abs
	desc, err := ReadDescription(abs)
	if err != nil {
		return nil, err
	}
	return newNetwork(opts, desc), nil
}

// prepareDir creates dir. If it holds a previous network whose processes all
// stopped, the directories that network recorded are removed; a running one
// is ErrRunning.
func prepareDir(dir string, log hclog.Logger) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	old, err := ReadDescription(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w (remove it or choose another directory)", err)
	}
	var remove []string
	for _, nd := range old.Nodes {
		if !nd.InProcess && processAlive(nd.PID, nd.Args) {
			return fmt.Errorf("%w: node %s (pid %d) of the network in %s; run down first", ErrRunning, nd.Name, nd.PID, dir)
		}
		remove = append(remove, nd.Dir)
	}
	if old.Master != nil && old.Master.KeyDir != "" {
		remove = append(remove, old.Master.KeyDir)
	}
	for _, p := range remove {
		if !within(dir, p) {
			continue // never remove outside dir, whatever the file says
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("testnet: remove previous network: %w", err)
		}
	}
	for _, name := range []string{DescriptionFile, EnvFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("testnet: %w", err)
		}
	}
	log.Info("removed the stopped network recorded in the directory", "dir", dir)
	return nil
}

// within reports whether path is strictly inside dir.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel)
}

// Dir is the network's directory.
func (n *Network) Dir() string {
	return n.opts.Dir
}

// Description returns a copy of the network's description.
func (n *Network) Description() Description {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := *n.desc
	d.Nodes = make([]Node, len(n.desc.Nodes))
	for i, nd := range n.desc.Nodes {
		d.Nodes[i] = cloneNode(nd)
	}
	d.Backends = slices.Clone(n.desc.Backends)
	if n.desc.Master != nil {
		m := *n.desc.Master
		d.Master = &m
	}
	return d
}

// Client returns the client tor's addresses.
func (n *Network) Client() ClientInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.desc.Client
}

// Node returns the node called name.
func (n *Network) Node(name string) (Node, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd, ok := n.desc.Node(name)
	return cloneNode(nd), ok
}

func cloneNode(nd Node) Node {
	nd.Ports = maps.Clone(nd.Ports)
	nd.Args = slices.Clone(nd.Args)
	nd.Env = slices.Clone(nd.Env)
	return nd
}

// Status reports every node and whether its process runs.
func (n *Network) Status() []NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]NodeStatus, 0, len(n.desc.Nodes))
	for _, nd := range n.desc.Nodes {
		alive := n.aliveLocked(nd)
		if nd.InProcess {
			_, alive = n.servers[nd.Name]
			alive = alive || (nd.PID != os.Getpid() && processAlive(nd.PID, nil))
		}
		out = append(out, NodeStatus{Node: cloneNode(nd), Alive: alive})
	}
	return out
}

// aliveLocked reports whether nd's process runs. Callers hold n.mu.
func (n *Network) aliveLocked(nd Node) bool {
	if c := n.children[nd.Name]; c != nil && c.pid == nd.PID {
		return c.alive()
	}
	return processAlive(nd.PID, nd.Args)
}

// TorRSS returns the summed resident memory (VmRSS) of the running tor nodes.
func (n *Network) TorRSS() (int64, error) {
	var total int64
	for _, st := range n.Status() {
		if !st.Alive || st.Torrc == "" || st.InProcess {
			continue
		}
		rss, err := processRSS(st.PID)
		if err != nil {
			return 0, err
		}
		total += rss
	}
	return total, nil
}

// Down stops every recorded process (SIGTERM, then SIGKILL after
// Options.StopTimeout), checking each pid's command line first. It removes no
// files. In-process nodes of another process are left alone: they end with it.
func (n *Network) Down(ctx context.Context) error {
	n.mu.Lock()
	names := make([]string, 0, len(n.desc.Nodes))
	for _, nd := range n.desc.Nodes {
		if nd.PID != 0 {
			names = append(names, nd.Name)
		}
	}
	n.mu.Unlock()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = n.StopNode(ctx, name) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Leftovers returns the processes this Network ever started that still run.
func (n *Network) Leftovers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, r := range n.started {
		if !exited(r.done) {
			out = append(out, fmt.Sprintf("%s (pid %d)", r.name, r.pid))
		}
	}
	return out
}

// LogTail returns the last lines of a node's log (its stdout when it has no
// log file yet).
func (n *Network) LogTail(name string, lines int) (string, error) {
	nd, ok := n.Node(name)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNoNode, name)
	}
	tail, err := fileTail(nd.Log, lines)
	if err != nil || tail == "" {
		return fileTail(stdoutFile(nd), lines)
	}
	return tail, nil
}

// save writes testnet.json and env. Callers hold n.mu.
func (n *Network) save() error {
	if err := writeDescription(n.desc); err != nil {
		return err
	}
	return writeEnv(n.desc)
}
