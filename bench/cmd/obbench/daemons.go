package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// kind is which balancer runs.
type kind string

const (
	kindPython kind = "python"
	kindOurs   kind = "ours"
)

// master is a master onion address and its PEM key file.
type master struct {
	addr string // "<56 chars>.onion"
	key  string // absolute path
}

// Timings shared by both balancers: the Python tool's --is-testnet values (fetch every 20 s, descriptor
// refreshed after 20 s). Ours drops a backend after 60 s without a descriptor (3 fetch rounds): the
// Python tool's 20 s equals its fetch interval. Ours probes the backends (health) at its defaults,
// which are those of the public network.
const (
	fetchInterval   = "20s"
	refreshInterval = "20s"
	backendTimeout  = "60s"
)

// servicesYAML is the services section both tools read.
func (b *bench) servicesYAML(m master, backends []string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "services:\n  - key: %s\n    instances:\n", m.key)
	for _, name := range backends {
		nd, _ := b.net.Node(name)
		fmt.Fprintf(&s, "      - address: %s\n        name: %s\n", nd.Onion, name)
	}
	return s.String()
}

// balancer is one running balancer process.
type balancer struct {
	kind    kind
	name    string
	dir     string
	log     string
	master  master
	proc    *proc
	started time.Time
}

// balancerOpts are the less common choices of a balancer run.
type balancerOpts struct {
	cluster        string // ours: an extra YAML section (empty for a single node)
	defaultTimings bool   // ours: its default publish timings, not the bench's shared ones
}

// startBalancer writes the run's config and starts the balancer against the management tor at
// control. cluster, for ours, is an extra YAML section (empty for a single node).
func (b *bench) startBalancer(k kind, name string, m master, backends []string, control, cluster string) (*balancer, error) {
	return b.startBalancerOpts(k, name, m, backends, control, balancerOpts{cluster: cluster})
}

// startBalancerOpts is startBalancer with every option.
func (b *bench) startBalancerOpts(k kind, name string, m master, backends []string, control string, o balancerOpts) (*balancer, error) {
	dir := filepath.Join(b.work, "runs", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := b.servicesYAML(m, backends)
	var argv []string
	switch k {
	case kindPython:
		_, port, _ := strings.Cut(control, ":")
		argv = []string{b.python, "-c", filepath.Join(dir, "config.yaml"), "--ip", "127.0.0.1", "--port", port,
			"-s", filepath.Join(dir, "no-such-control.sock"), "--is-testnet", "-v", "info"}
	case kindOurs:
		cfg += fmt.Sprintf("data-dir: %s\ntor:\n  control: tcp:%s\nhealth:\n  enabled: true\nlog:\n  level: info\n",
			filepath.Join(dir, "data"), control)
		if !o.defaultTimings {
			cfg += fmt.Sprintf("publish:\n  fetch-interval: %s\n  refresh-interval: %s\n  backend-timeout: %s\n",
				fetchInterval, refreshInterval, backendTimeout)
		}
		cfg += o.cluster
		argv = []string{filepath.Join(b.bin, "onionbalance"), "-c", filepath.Join(dir, "config.yaml")}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	bl := &balancer{kind: k, name: name, dir: dir, log: filepath.Join(dir, "daemon.log"), master: m}
	p, err := b.reg.start(name, argv, nil, bl.log)
	if err != nil {
		return nil, err
	}
	bl.proc, bl.started = p, p.started
	b.log.Info("balancer started", "run", name, "kind", k, "pid", p.pid(), "master", m.addr)
	return bl, nil
}

// stop ends the balancer: SIGTERM, SIGKILL after 10 s. It reports whether SIGTERM was enough.
func (b *bench) stopBalancer(bl *balancer) bool {
	return !b.reg.stop(bl.proc, 10*time.Second)
}
