package testnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// AddManagementTors starts count management tors named obhostK (K counting on
// from the existing ones), concurrently, and waits until each has bootstrapped:
// what an obhost needs beside it, a tor with a control port (cookie auth) and
// no SocksPort (the daemon adds one for its probes). They are recorded in
// testnet.json, so that `testnet down` stops them too.
func (n *Network) AddManagementTors(ctx context.Context, count int) ([]Node, error) {
	n.mu.Lock()
	first := len(n.desc.NodesWithRole(RoleManagement)) + 1
	n.mu.Unlock()
	nodes := make([]Node, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			nodes[i], errs[i] = n.addManagementTor(ctx, fmt.Sprintf("obhost%d", first+i))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return nodes, nil
}

func (n *Network) addManagementTor(ctx context.Context, name string) (_ Node, err error) {
	nd := n.newNode(name, RoleManagement)
	n.mu.Lock()
	_, taken := n.desc.Node(name)
	n.mu.Unlock()
	if taken {
		return Node{}, fmt.Errorf("%w: %q is taken", ErrBadName, name)
	}
	ports, err := n.allocPorts(1)
	if err != nil {
		return Node{}, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.stopRecorded(context.WithoutCancel(ctx), name))
		}
	}()
	nd.Ports[PortControl] = ports[0]
	if err := makeNodeDir(nd); err != nil {
		return Node{}, err
	}
	if err := n.prepareTor(&nd, torrcConfig{}, n.authorityEntries()); err != nil {
		return Node{}, err
	}
	if err := n.startNode(nd); err != nil {
		return Node{}, err
	}
	if err := n.waitControl(ctx, name); err != nil {
		return Node{}, err
	}
	if err := n.waitBootstrap(ctx, name); err != nil {
		return Node{}, err
	}
	n.log.Info("management tor up", "node", name, "control", nd.ControlAddr())
	return cloneNode(nd), nil
}
