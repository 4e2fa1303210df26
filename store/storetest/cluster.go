// Package storetest runs real etcd servers inside tests: a single embedded
// member (Single) or a cluster of several members on loopback (StartCluster)
// whose members can be stopped and restarted.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/obcluster/obcluster/store"
)

// startTimeout bounds how long a member may take to become ready.
const startTimeout = 30 * time.Second

// Single starts a single-member embedded etcd in a temporary directory and
// returns its client endpoints. It is stopped when the test ends. Unlike the
// daemon's, it listens on loopback TCP, so that tests can put a TCP proxy
// in front of it.
func Single(t testing.TB) []string {
	t.Helper()
	cfg := store.DefaultEmbedConfig(t.TempDir())
	cfg.ClientURL, cfg.PeerURL = "http://127.0.0.1:0", "http://127.0.0.1:0"
	cfg.UnsafeNoFsync = true
	e, err := store.StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e.Endpoints()
}

// NewClient returns a client of endpoints that is closed when the test
// ends. It does not wait for the endpoints to answer.
func NewClient(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client of %v: %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Cluster is a multi-member etcd cluster on loopback.
type Cluster struct {
	t       testing.TB
	members []*member
}

type member struct {
	name      string
	dir       string
	clientURL url.URL
	peerURL   url.URL
	initial   string
	etcd      *embed.Etcd
}

// StartCluster starts an n-member cluster in temporary directories and
// waits until every member serves clients. It is stopped when the test
// ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c, err := startCluster(t, n)
		if err == nil {
			t.Cleanup(c.Close)
			return c
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	t.Fatalf("start %d-member etcd cluster: %v", n, lastErr)
	return nil
}

func startCluster(t testing.TB, n int) (*Cluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{t: t}
	var initial []string
	root := t.TempDir()
	for i := 0; i < n; i++ {
		m := &member{
			name:      fmt.Sprintf("m%d", i),
			dir:       filepath.Join(root, fmt.Sprintf("m%d", i)),
			clientURL: url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])},
			peerURL:   url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])},
		}
		initial = append(initial, m.name+"="+m.peerURL.String())
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		m.initial = strings.Join(initial, ",")
		e, err := embed.StartEtcd(m.config())
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("member %s: %w", m.name, err)
		}
		m.etcd = e
	}
	for _, m := range c.members {
		if err := waitReady(m); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (m *member) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenClientUrls = []url.URL{m.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{m.clientURL}
	cfg.ListenPeerUrls = []url.URL{m.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{m.peerURL}
	cfg.InitialCluster = m.initial
	cfg.InitialClusterToken = "storetest"
	cfg.UnsafeNoFsync = true
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	return cfg
}

func waitReady(m *member) error {
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-m.etcd.Server.ReadyNotify():
		return nil
	case err := <-m.etcd.Err():
		return fmt.Errorf("member %s: %w", m.name, err)
	case <-timer.C:
		return fmt.Errorf("member %s: not ready after %v", m.name, startTimeout)
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Size returns the number of members.
func (c *Cluster) Size() int { return len(c.members) }

// Endpoint returns the client URL of member i.
func (c *Cluster) Endpoint(i int) string { return c.members[i].clientURL.String() }

// Endpoints returns the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for i := range c.members {
		eps = append(eps, c.Endpoint(i))
	}
	return eps
}

// Stop stops member i gracefully. Its data stays for Restart.
func (c *Cluster) Stop(i int) {
	m := c.members[i]
	if m.etcd != nil {
		m.etcd.Close()
		m.etcd = nil
	}
}

// Restart starts the stopped member i again on its data and ports, and
// waits until it serves clients.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.members[i]
	if m.etcd != nil {
		c.t.Fatalf("restart member %s: still running", m.name)
	}
	e, err := embed.StartEtcd(m.config())
	if err != nil {
		c.t.Fatalf("restart member %s: %v", m.name, err)
	}
	m.etcd = e
	if err := waitReady(m); err != nil {
		c.t.Fatalf("restart: %v", err)
	}
}

// Close stops every member.
func (c *Cluster) Close() {
	for i := range c.members {
		c.Stop(i)
	}
}
