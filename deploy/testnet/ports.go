package testnet

import (
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Ports are picked at random below the kernel's ephemeral range, which
// outgoing connections (tor makes many) and listen(":0") draw from: a port
// chosen there could be taken by such a connection before tor binds it.
const lowestPort = 10000

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment
// ago, from [lowestPort, start of the ephemeral range). All listeners are held
// until every port is chosen, so the ports differ. When that range is too
// small it falls back to ports the kernel picks.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	hi := ephemeralStart()
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if hi-lowestPort >= 1000 && tries < 100*n {
			addr = loopback(lowestPort + mathrand.IntN(hi-lowestPort))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				return nil, fmt.Errorf("testnet: pick a free port on 127.0.0.1: %w", err)
			}
			continue // taken: try another
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralStart returns the first port of the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), or 0 if it cannot be read.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return lo
}

// Ports returns k loopback ports for processes a test starts beside the
// network (their own tors, servers): free a moment ago, below the kernel's
// ephemeral range (so no outgoing connection takes one before it is bound),
// and never handed out by this Network before.
func (n *Network) Ports(k int) ([]int, error) { return n.allocPorts(k) }

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
