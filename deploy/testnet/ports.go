package testnet

import (
	"fmt"
	"net"
	"slices"
)

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment
// ago. All listeners are held until every port is chosen, so the ports differ;
// another program may still take one before tor binds it, which shows up as a
// tor start failure naming the port.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testnet: pick a free port on 127.0.0.1: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// allocPorts returns k free ports that this Network has not handed out
// before, so that two nodes started concurrently never get the same port.
func (n *Network) allocPorts(k int) ([]int, error) {
	for range 10 {
		ports, err := freePorts(k)
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		clash := slices.ContainsFunc(ports, func(p int) bool { return n.usedPorts[p] })
		if !clash {
			for _, p := range ports {
				n.usedPorts[p] = true
			}
		}
		n.mu.Unlock()
		if !clash {
			return ports, nil
		}
	}
	return nil, fmt.Errorf("testnet: no %d unused ports on 127.0.0.1 after 10 tries", k)
}

func loopback(port int) string {
	return fmt.Sprintf("127.0.0.1:%d", port)
}
