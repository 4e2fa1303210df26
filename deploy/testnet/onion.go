package testnet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
)

// ErrBadName is wrapped when a node name is not usable.
var ErrBadName = errors.New("testnet: bad node name")

var nodeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// OnionServiceConfig describes an onion service to add.
type OnionServiceConfig struct {
	// Name names the node (and its directory); the HTTP server behind the
	// service answers GET / with it. Lower-case letters, digits and '-'.
	Name string
	// Master, when set, runs the service as an OnionBalance instance of this
	// master address (HiddenServiceOnionBalanceInstance 1 and an ob_config).
	Master string
}

// AddOnionService starts an HTTP server answering cfg.Name and a tor (SocksPort
// 0, ControlPort, cookie auth) serving it on port 80 of a new onion address.
// It returns once tor has written the address and bootstrapped. The HTTP node
// is called cfg.Name+"-http". On error it stops what it started.
func (n *Network) AddOnionService(ctx context.Context, cfg OnionServiceConfig) (_ Node, err error) {
	if !nodeNameRE.MatchString(cfg.Name) {
		return Node{}, fmt.Errorf("%w: %q (want %s)", ErrBadName, cfg.Name, nodeNameRE)
	}
	var master string
	if cfg.Master != "" {
		if master, err = NormalizeOnionAddress(cfg.Master); err != nil {
			return Node{}, err
		}
	}
	svc := n.newNode(cfg.Name, RoleOnionService)
	web := n.newNode(cfg.Name+"-http", RoleHTTP)
	n.mu.Lock()
	_, taken1 := n.desc.Node(svc.Name)
	_, taken2 := n.desc.Node(web.Name)
	n.mu.Unlock()
	if taken1 || taken2 {
		return Node{}, fmt.Errorf("%w: %q is taken", ErrBadName, cfg.Name)
	}
	ports, err := n.allocPorts(2)
	if err != nil {
		return Node{}, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.stopRecorded(context.WithoutCancel(ctx), svc.Name, web.Name))
		}
	}()

	web.Ports[PortHTTP] = ports[0]
	web.Listen = loopback(ports[0])
	web.Answer = cfg.Name
	if err := n.startHTTP(ctx, web); err != nil {
		return Node{}, err
	}

	svc.Ports[PortControl] = ports[1]
	svc.ServiceDir = filepath.Join(svc.Dir, "hs")
	svc.Target = web.Name
	svc.OBInstance = master != ""
	svc.Master = master
	if err := makeNodeDir(svc); err != nil {
		return Node{}, err
	}
	if err := os.Mkdir(svc.ServiceDir, 0o700); err != nil {
		return Node{}, fmt.Errorf("testnet: node %s: %w", svc.Name, err)
	}
	if svc.OBInstance {
		obConfig := filepath.Join(svc.ServiceDir, "ob_config")
		if err := os.WriteFile(obConfig, []byte("MasterOnionAddress "+master+"\n"), 0o600); err != nil {
			return Node{}, fmt.Errorf("testnet: node %s: %w", svc.Name, err)
		}
	}
	hs := &hiddenService{Dir: svc.ServiceDir, VirtPort: 80, Target: web.Listen, OBInstance: svc.OBInstance}
	if err := n.prepareTor(&svc, torrcConfig{Service: hs}, n.authorityEntries()); err != nil {
		return Node{}, err
	}
	if err := n.startNode(svc); err != nil {
		return Node{}, err
	}
	if err := n.waitControl(ctx, svc.Name); err != nil {
		return Node{}, err
	}
	hostname := func(context.Context) error {
		addr, err := readHostname(svc.ServiceDir)
		svc.Onion = addr
		return err
	}
	if err := n.poll(ctx, svc.Name, n.opts.NodeStartTimeout, "hostname file", hostname); err != nil {
		return Node{}, err
	}
	n.mu.Lock()
	if i := n.desc.index(svc.Name); i >= 0 {
		n.desc.Nodes[i].Onion = svc.Onion
		svc = n.desc.Nodes[i]
	}
	err = n.save()
	n.mu.Unlock()
	if err != nil {
		return Node{}, err
	}
	if err := n.waitBootstrap(ctx, svc.Name); err != nil {
		return Node{}, err
	}
	n.log.Info("onion service up", "node", svc.Name, "onion", svc.Onion, "ob_instance_of", master)
	return cloneNode(svc), nil
}

// AddBackends starts count OnionBalance-instance onion services for master,
// named backendK (K counting on from the existing backends), concurrently.
// When master is empty and the network has no master yet, a master key is
// generated in Dir/master (see GenerateMasterKey).
func (n *Network) AddBackends(ctx context.Context, count int, master string) ([]Node, error) {
	n.mu.Lock()
	cur := n.desc.Master
	first := len(n.desc.Backends) + 1
	n.mu.Unlock()
	switch {
	case master != "":
		addr, err := NormalizeOnionAddress(master)
		if err != nil {
			return nil, err
		}
		if cur != nil && cur.Address != addr {
			return nil, fmt.Errorf("testnet: backends already serve master %s, not %s", cur.Address, addr)
		}
		cur = &MasterInfo{Address: addr}
	case cur == nil:
		keyDir := filepath.Join(n.opts.Dir, "master")
		addr, err := GenerateMasterKey(keyDir, rand.Reader)
		if err != nil {
			return nil, err
		}
		cur = &MasterInfo{Address: addr, KeyDir: keyDir}
	}
	n.mu.Lock()
	n.desc.Master = cur
	err := n.save()
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}

	nodes := make([]Node, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			cfg := OnionServiceConfig{Name: fmt.Sprintf("backend%d", first+i), Master: cur.Address}
			nodes[i], errs[i] = n.AddOnionService(ctx, cfg)
		})
	}
	wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	var ok []Node
	for i, nd := range nodes {
		if errs[i] == nil {
			ok = append(ok, nd)
			n.desc.Backends = append(n.desc.Backends, nd.Name)
		}
	}
	if err := n.save(); err != nil {
		errs = append(errs, err)
	}
	return slices.Clip(ok), errors.Join(errs...)
}

// stopRecorded stops those of the named nodes that were recorded.
func (n *Network) stopRecorded(ctx context.Context, names ...string) error {
	var errs []error
	for _, name := range names {
		if err := n.StopNode(ctx, name); err != nil && !errors.Is(err, ErrNoNode) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startHTTP starts an HTTP node: a child process when Options.HTTPCommand is
// set, otherwise a server inside this process.
func (n *Network) startHTTP(ctx context.Context, web Node) error {
	if err := makeNodeDir(web); err != nil {
		return err
	}
	web.Log = filepath.Join(web.Dir, "stdout.log")
	if len(n.opts.HTTPCommand) == 0 {
		return n.serveInProcess(web)
	}
	web.Args = append(slices.Clone(n.opts.HTTPCommand), "-name", web.Answer, "-listen", web.Listen)
	if err := n.startNode(web); err != nil {
		return err
	}
	return n.waitHTTP(ctx, web)
}

// serveInProcess runs an HTTP node's server inside this process.
func (n *Network) serveInProcess(web Node) error {
	ln, err := net.Listen("tcp", web.Listen)
	if err != nil {
		return fmt.Errorf("testnet: node %s: %w", web.Name, err)
	}
	srv := newNameServer(web.Answer)
	go srv.Serve(ln) // returns when StopNode closes srv
	n.mu.Lock()
	defer n.mu.Unlock()
	web.InProcess = true
	web.PID = os.Getpid()
	n.servers[web.Name] = srv
	n.desc.put(web)
	return n.save()
}
